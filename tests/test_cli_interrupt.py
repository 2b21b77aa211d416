"""Ctrl-C in any command: exit status 130, one line "interrupted: nothing written" on stderr, no traceback and no
output file (a half-written one neither: every output is written under a temporary name and
renamed into place)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import sigint_as_a_terminal_gives_it, stderr_lines
from PIL import Image

from featbus.cli import main
from featbus.datasets import make_phantoms


@pytest.fixture(autouse=True)
def own_trust_list(tmp_path, monkeypatch):
    """Never read or write the user's real trust list."""
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory):
    """A small model file (intensity + logistic regression on phantoms) and a folder of labelled
    phantoms (class folders) beside it."""
    from featbus.workflows.training import train_model

    root = tmp_path_factory.mktemp("interrupt")
    ph = make_phantoms(30, image_size=48, random_state=0)
    data = root / "data"
    for i, (im, t) in enumerate(zip(ph.images, ph.target)):
        (data / str(ph.target_names[t])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(data / str(ph.target_names[t]) / f"im{i}.png")
    model = train_model(ph, "intensity", classifier="logreg", n_splits=3, n_bootstrap=0, progress=False)
    path = root / "m.featbus"
    model.save(path, trust=False)
    return path, data


#: What Ctrl-C says when the command wrote nothing.
INTERRUPTED = "interrupted: nothing written"


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _only_interrupted(capsys):
    """stderr ends in the one line "interrupted: nothing written" (what the command said before it may
    stand above)."""
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[-1:] == [INTERRUPTED] and lines.count(INTERRUPTED) == 1, captured.err[-2000:]
    assert "Traceback" not in captured.err and "Error" not in captured.err
    return captured.out


def test_predict_interrupted_mid_run_exits_130_and_writes_nothing(model_and_data, tmp_path, monkeypatch, capsys):
    from featbus.model.loaded import FeatbusModel

    model, data = model_and_data
    monkeypatch.setattr(FeatbusModel, "predict_table", _interrupt)
    out = tmp_path / "out" / "p.csv"
    out.parent.mkdir()
    assert main(["predict", str(model), str(data), "-o", str(out), "-q"]) == 130
    assert _only_interrupted(capsys) == ""
    assert list(out.parent.iterdir()) == []


def test_an_interrupt_while_the_table_is_written_leaves_no_file(model_and_data, tmp_path, monkeypatch, capsys):
    model, data = model_and_data
    written = []

    def half_then_interrupted(self, path_or_buf=None, *args, **kwargs):
        Path(path_or_buf).write_text("image,predicted\nhalf")  # what a killed writer leaves
        written.append(path_or_buf)
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_interrupted)
    out = tmp_path / "out" / "p.csv"
    out.parent.mkdir()
    assert main(["predict", str(model), str(data), "-o", str(out), "-q"]) == 130
    _only_interrupted(capsys)
    assert written and list(out.parent.iterdir()) == []


@pytest.mark.parametrize("command", [
    ["validate", "{model}", "{data}"],
    ["compare", "{model}", "{model2}", "{data}", "-o", "{out}"],
    ["adapt", "{model}", "{data}", "--labels", "-o", "{out}/a.featbus"],
    ["evaluate", "{data}", "-f", "intensity", "--report", "{out}"],
    ["train", "{data}", "-f", "intensity", "-c", "logreg", "-o", "{out}/m.featbus"],
    ["extract", "{data}", "-f", "intensity", "-o", "{out}/x.csv"],
])
def test_every_command_reading_data_says_interrupted_in_one_line(command, model_and_data, tmp_path, monkeypatch,
                                                                  capsys):
    import featbus.datasets

    model, data = model_and_data
    model2 = tmp_path / "copy.featbus"
    model2.write_bytes(model.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(featbus.datasets, "load_data", _interrupt)
    words = [w.format(model=model, model2=model2, data=data, out=out) for w in command]
    assert main([*words, "-q"]) == 130
    _only_interrupted(capsys)
    assert list(out.iterdir()) == []


def test_an_interrupt_before_the_command_starts_is_one_line_too(monkeypatch, capsys):
    import featbus.cli

    monkeypatch.setattr(featbus.cli, "build_parser", _interrupt)
    assert main(["predict", "breast-us", "x.png"]) == 130
    _only_interrupted(capsys)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, preexec_fn=sigint_as_a_terminal_gives_it)


def test_ctrl_c_in_a_real_process_exits_130_with_one_line(model_and_data, tmp_path):
    """SIGINT itself (what Ctrl-C sends) while predict works."""
    model, data = model_and_data
    out = tmp_path / "p.csv"
    code = ("import os, signal, time\nfrom featbus.model.loaded import FeatbusModel\n"
            "def slow(self, *args, **kwargs):\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(30)\n"
            "    raise SystemExit('the interrupt was lost')\n"
            "FeatbusModel.predict_table = slow\nfrom featbus.cli import main\n"
            f"raise SystemExit(main(['predict', {str(model)!r}, {str(data)!r}, '-o', {str(out)!r}, '-q']))")
    run = _run(code)
    assert run.returncode == 130, run.stderr[-2000:]
    assert stderr_lines(run.stderr) == [INTERRUPTED] and run.stdout == ""  # after what it read
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_an_interrupt_inside_a_garbage_collection_callback_is_not_lost():
    """Python ignores an exception raised in a gc callback (JAX registers one), printing "Exception
    ignored in" and a traceback: the command's handler sends the interrupt again, outside it."""
    code = ("import gc, os, signal, time\nfrom featbus.cli import _interrupts\n"
            "fired = []\n"
            "def callback(phase, info):\n    if phase == 'start' and not fired:\n        fired.append(1)\n"
            "        os.kill(os.getpid(), signal.SIGINT)\n        time.sleep(0.2)\n"
            "with _interrupts():\n    gc.callbacks.append(callback)\n    try:\n        gc.collect()\n"
            "        time.sleep(5)\n        print('lost')\n"
            "    except KeyboardInterrupt:\n        print('interrupted')\n"
            "    finally:\n        gc.callbacks.remove(callback)\n")
    run = _run(code)
    assert run.stdout.strip() == "interrupted", run.stdout + run.stderr
    assert "Exception ignored" not in run.stderr and "Traceback" not in run.stderr


def test_an_interrupt_while_a_model_file_is_written_leaves_no_file(model_and_data, tmp_path, monkeypatch, capsys):
    import zipfile

    _, data = model_and_data
    real = zipfile.ZipFile.writestr
    calls = []

    def writes_one_member_then_interrupted(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", writes_one_member_then_interrupted)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["train", str(data), "-f", "intensity", "-c", "logreg", "--n-splits", "3", "--n-bootstrap", "0",
                 "-o", str(out / "m.featbus"), "-q"]) == 130
    _only_interrupted(capsys)
    assert len(calls) == 2 and list(out.iterdir()) == []


def test_an_interrupt_after_files_were_written_names_them(tmp_path, monkeypatch, capsys):
    """A command that had put files into place before Ctrl-C (segment's masks, one by one) does not
    say nothing was written."""
    import featbus.cli as cli
    from featbus.io import write_file

    def writes_then_stops(argv):
        write_file(tmp_path / "a.png", b"x")
        write_file(tmp_path / "b.png", b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_main", writes_then_stops)
    assert cli.main(["predict"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted: 2 files were written before it") and "b.png" in err
    assert INTERRUPTED not in err


def _half_written_then(signal_name: str) -> str:
    """Code that makes the next file a command puts into place stop half-written with ``signal_name`` sent to
    the process (a real signal: its handler, not a test's exception, must end the command)."""
    return ("import contextlib, os, signal, time\nimport featbus.io as fio\n"
            "real = fio.written_atomically\n"
            "@contextlib.contextmanager\n"
            "def stop(path, *args, **kwargs):\n"
            "    with real(path, *args, **kwargs) as tmp:\n"
            "        open(tmp, 'w').write('image,half')\n"
            f"        os.kill(os.getpid(), signal.{signal_name})\n        time.sleep(30)\n"
            "        raise SystemExit('the signal was lost')\n"
            "        yield tmp\n"
            "fio.written_atomically = stop\n")


def test_sigterm_while_the_table_is_written_leaves_no_temporary_file(model_and_data, tmp_path):
    """SIGTERM (kill, a scheduler's time limit) while extract writes its table: the command ends as Ctrl-C
    ends it, its handler raising where the command runs, so the clean-up runs: no table, no hidden
    ``.fb-<hex>.tmp`` beside it (a rerun neither), exit status 143, one line."""
    _, data = model_and_data
    out = tmp_path / "out" / "f.csv"
    out.parent.mkdir()
    command = f"from featbus.cli import main\nraise SystemExit(main(['extract', {str(data)!r}, '-f', 'intensity', " \
              f"'-o', {str(out)!r}, '-q']))"
    for _ in range(2):
        run = _run(_half_written_then("SIGTERM") + command)
        assert run.returncode == 143, run.stderr[-2000:]
        assert stderr_lines(run.stderr) == ["terminated: nothing written"] and "Traceback" not in run.stderr
        assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("signal_name, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_report_folder_is_written_whole_or_not_at_all(model_and_data, tmp_path, signal_name, status):
    """Ctrl-C or SIGTERM while validate writes its report (a figure half-written): no report folder, nothing
    beside it; the report is written beside, then moved in."""
    model, data = model_and_data
    rep = tmp_path / "rep"
    run = _run(_half_written_then(signal_name) + f"from featbus.cli import main\nraise SystemExit(main(['validate', "
               f"{str(model)!r}, {str(data)!r}, '--report', {str(rep)!r}, '--n-bootstrap', '0', '-q']))")
    assert run.returncode == status, run.stderr[-2000:]
    assert run.stderr.splitlines()[-1] == ("terminated" if status == 143 else "interrupted") + ": nothing written"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [
    ["validate", "{model}", "{data}", "--report", "{out}", "--n-bootstrap", "0"],
    ["evaluate", "{data}", "-f", "intensity", "--n-splits", "3", "--n-bootstrap", "0", "--report", "{out}",
     "--overwrite"],
    ["compare", "{model}", "{model2}", "{data}", "--n-bootstrap", "0", "-o", "{out}"],
    ["predict", "{model}", "{data}", "--explain", "{out}", "--explain-method", "occlusion"],
])
def test_an_interrupt_while_a_folder_is_written_leaves_it_as_it_was(command, model_and_data, tmp_path, monkeypatch,
                                                                    capsys):
    """Every command writing a folder: Ctrl-C after its first file leaves the folder as it was (here: one file
    of the user's), and no temporary folder beside it."""
    import featbus.io

    model, data = model_and_data
    model2 = tmp_path / "copy.featbus"
    model2.write_bytes(model.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("the user's")
    real, calls = featbus.io.written_atomically, []

    @contextlib.contextmanager
    def second_interrupted(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        with real(path, *args, **kwargs) as tmp:
            yield tmp

    monkeypatch.setattr(featbus.io, "written_atomically", second_interrupted)
    words = [w.format(model=model, model2=model2, data=data, out=out) for w in command]
    assert main([*words, "-q"]) == 130
    _only_interrupted(capsys)
    assert len(calls) == 2 and [p.name for p in out.iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.featbus", "out"]
