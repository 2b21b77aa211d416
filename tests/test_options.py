"""Per-command options (pip's way): each command's --help lists only the shared options that do
something for it."""

from __future__ import annotations

import re

import pytest

from featbus.cli import main

SHARED = {"--n-jobs", "--cache", "--quiet", "--random-state", "--on-error", "--dicom-raw"}

#: the shared options each command uses (what its run() reads)
USES = {
    "extract": {"--n-jobs", "--cache", "--quiet", "--on-error", "--dicom-raw"},
    "evaluate": SHARED,
    "train": SHARED,
    "inspect": set(),
    "upgrade": set(),
    "app": {"--dicom-raw"},  # the page's process reads DICOM uploads under it
    "export": {"--on-error", "--dicom-raw"},  # --check DATA reads images
    "segment train": {"--quiet", "--random-state", "--on-error", "--dicom-raw"},
    "segment predict": {"--on-error", "--dicom-raw"},
    "segment evaluate": {"--random-state", "--on-error", "--dicom-raw"},
    # --quiet: a loaded model's extractors keep their saved progress setting; it turns their bars off
    "predict": {"--quiet", "--on-error", "--dicom-raw"},
    "validate": {"--quiet", "--random-state", "--on-error", "--dicom-raw"},
    "adapt": {"--quiet", "--random-state", "--on-error", "--dicom-raw"},
    "demo": SHARED,
    "recipes": set(),
}


def _listed(command: str, capsys) -> set[str]:
    with pytest.raises(SystemExit):
        main(command.split() + ["--help"])
    text = capsys.readouterr().out
    return set(re.findall(r"(?m)^  (--[a-z-]+)", text)) | set(re.findall(r"(?m)^  -[a-z], (--[a-z-]+)", text))


@pytest.mark.parametrize("command", list(USES))
def test_help_lists_only_used_shared_options(command, capsys):
    listed = _listed(command, capsys)
    assert listed & SHARED == USES[command]
    assert {"--verbose", "--log-file", "--debug"} <= listed


@pytest.mark.parametrize("command,required", [("inspect", []), ("export", ["--tflite", "m.tflite"]), ("app", []),
                                              ("upgrade", ["-o", "new.featbus"])])
def test_model_commands_refuse_extraction_options(command, required, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "m.featbus", *required, "--n-jobs", "2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"featbus {command}" in err and "unrecognized arguments: --n-jobs" in err


def test_quiet_turns_off_progress_whatever_an_estimator_says(monkeypatch):
    """--quiet runs the command inside extraction.progress_off: even a loaded model's extractors,
    saved with progress=True, show no bar."""
    from featbus.compute.extraction import progress_off, show_progress

    assert show_progress(True)
    with progress_off():
        assert not show_progress(True) and not show_progress("auto")
    assert show_progress(True)
