"""The command's start-up: ``featbus --version`` and ``featbus --help`` import no command module
and no scikit-learn (the parser is built for the command that runs, issue 45), and an unknown
option is reported under the command's own usage."""

from __future__ import annotations

import subprocess
import sys

import pytest

from featbus.cli import COMMANDS, build_parser, main

HEAVY = ("sklearn", "pandas", "scipy", "featbus.pipelines.make",
         *(f"featbus.cli.{c.module}" for c in COMMANDS.values()))


def _imported_after(argv: list[str]) -> list[str]:
    """The heavy modules a fresh process has imported after ``featbus ARGV``."""
    code = (f"import sys\nfrom featbus.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--version"], ["--help"], []])
def test_version_and_help_import_no_scikit_learn(argv):
    assert _imported_after(argv) == []


def test_a_command_imports_its_own_module_only():
    assert _imported_after(["inspect", "--help"]) == ["featbus.cli.inspect"]


def test_help_lists_every_command_with_its_summary(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name, info in COMMANDS.items():
        assert name in out and info.summary.split()[0] in out


def test_summaries_are_the_modules_help():
    """The static table's lines say what each command's own sub-parser says."""
    sub = build_parser()._subparsers._group_actions[0]
    assert {a.dest: a.help for a in sub._choices_actions} == {n: c.summary for n, c in COMMANDS.items()}


def test_the_parser_s_copies_of_the_library_s_choices_agree():
    """``--conflicting-labels``' choices are written in :mod:`featbus.cli._data` (the parser is built without
    scikit-learn, which :mod:`featbus.datasets.conflicts` imports): the same values, in the same order."""
    from featbus.cli._data import CONFLICT_CHOICES
    from featbus.datasets.conflicts import CONFLICT_RESOLUTIONS

    assert CONFLICT_CHOICES == CONFLICT_RESOLUTIONS


@pytest.mark.parametrize("argv, usage", [
    (["predict", "m.featbus", "x.png", "--bogus"], "usage: featbus predict"),
    (["segment", "train", "d", "-o", "u.keras", "--bogus"], "usage: featbus segment train"),
    (["demo", "--bogus", "1"], "usage: featbus demo"),
])
def test_unknown_option_shows_the_command_usage(argv, usage, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage), err
    assert "unrecognized arguments: --bogus" in err


def test_unknown_command_lists_the_commands(capsys):
    assert main(["nosuch"]) == 2  # one line, no usage: an unknown command lists the commands
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown command 'nosuch'" in err[0] and "validate" in err[0]


def test_a_model_file_s_manifest_is_read_once_per_command_and_model(tmp_path, monkeypatch, capsys):
    """The start-up reads each model's manifest once: the Keras decision and the load share it (it was
    read three times: the start-up's Keras check, the loader's, and load_model)."""
    from PIL import Image

    import featbus.model.format as fmt
    import featbus.model.loaded as loaded
    from featbus.datasets import make_phantoms
    from featbus.workflows.training import train_model

    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))
    ph = make_phantoms(30, image_size=48, random_state=0)
    model = train_model(ph, "intensity", classifier="logreg", n_splits=3, n_bootstrap=0, progress=False)
    path = model.save(tmp_path / "m.featbus", trust=False)
    images = tmp_path / "images"
    images.mkdir()
    for i, im in enumerate(ph.images[:4]):
        Image.fromarray(im).save(images / f"im{i}.png")
    read = []
    real = fmt.read_manifest

    def counted(p):
        read.append(str(p))
        return real(p)

    monkeypatch.setattr(fmt, "read_manifest", counted)
    monkeypatch.setattr(loaded, "read_manifest", counted)
    assert main(["predict", str(path), str(images), "-o", str(tmp_path / "p.csv"), "-q"]) == 0
    assert read == [str(path)], read
