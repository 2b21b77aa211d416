"""The ``featbus`` logger: silent in a library (NullHandler), ``-v`` / ``-vv`` / ``--log-file`` on
every command, and a script's own logging configuration left as it was."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from featbus.cli import main
from featbus.datasets import make_phantoms


@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("phantoms")
    ph = make_phantoms(12, image_size=48, random_state=0)
    for i, (im, t) in enumerate(zip(ph.images, ph.target)):
        folder = root / str(ph.target_names[t])
        folder.mkdir(exist_ok=True)
        Image.fromarray(im).save(folder / f"case ({i}).png")
    return root


def test_package_adds_only_a_null_handler():
    import featbus  # noqa: F401

    handlers = logging.getLogger("featbus").handlers
    assert handlers and all(isinstance(h, logging.NullHandler) for h in handlers)


def test_quiet_by_default_and_info_with_v(phantom_dir, tmp_path, capsys):
    out = tmp_path / "a.csv"
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(out), "-q"]) == 0
    assert ": info:" not in capsys.readouterr().err
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(out), "-q", "--overwrite", "-v"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("featbus extract: info: ")]
    assert any("read 12 images from" in line for line in lines), err
    assert any("extracted 12 x" in line for line in lines), err
    assert any(line.endswith("(exit status 0)") for line in lines), err
    assert ": debug:" not in err
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(out), "-q", "--overwrite", "-vv"]) == 0
    assert "featbus extract: debug: options:" in capsys.readouterr().err


def test_log_file_gets_info_warnings_and_errors(phantom_dir, tmp_path, capsys):
    log_file = tmp_path / "run.log"
    out = tmp_path / "a.csv"
    args = ["extract", str(phantom_dir), "-f", "intensity", "-o", str(out), "-q", "--log-file", str(log_file)]
    assert main(args) == 0
    assert ": info:" not in capsys.readouterr().err  # the file only, without -v
    text = log_file.read_text()
    assert "featbus extract INFO featbus: read 12 images" in text and "done in" in text
    # a second run appends; its error line goes to stderr and into the file
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    text = log_file.read_text()
    assert text.count("featbus: featbus ") == 2 and "ERROR featbus:" in text and "already exists" in text


def test_log_file_that_cannot_be_written(tmp_path, capsys):
    bad = tmp_path / "no" / "such" / "folder" / "x.log"
    assert main(["inspect", str(tmp_path / "m.featbus"), "--log-file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("featbus inspect: error: --log-file") and len(err.strip().splitlines()) == 1


def test_main_restores_the_logger(phantom_dir, tmp_path, capsys):
    log = logging.getLogger("featbus")
    before = (log.level, log.propagate, list(log.handlers))
    main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(tmp_path / "a.csv"), "-q", "-vv",
          "--log-file", str(tmp_path / "x.log")])
    assert (log.level, log.propagate, list(log.handlers)) == before


def test_script_logging_config_is_kept(tmp_path):
    """A script that configures logging itself sees featbus's lines through its own handlers,
    formatted its way; importing and using featbus adds nothing to the root logger."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="MINE %(name)s %(message)s")
        root = list(logging.getLogger().handlers)
        import featbus
        from featbus.cli import main
        logging.getLogger("featbus").info("hello from the script")
        assert list(logging.getLogger().handlers) == root
        print("root kept", logging.getLogger().level == logging.INFO)
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "MINE featbus hello from the script" in done.stdout and "root kept True" in done.stdout


def test_every_command_takes_verbose_and_log_file():
    from featbus.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    missing = []
    for name in COMMANDS:
        p = sub.choices[name]
        if name == "segment":
            steps = next(a for a in p._actions if a.dest == "step")
            parsers = list(steps.choices.values())
        else:
            parsers = [p]
        for q in parsers:
            flags = {s for a in q._actions for s in a.option_strings}
            if not {"-v", "--verbose", "--log-file", "--debug"} <= flags:
                missing.append(q.prog)
    # featbus recipes (featbus/cli/recipes.py) has no common options yet
    assert set(missing) <= {"featbus recipes"}, missing
