"""featbus's one progress display (featbus.progress): a bar on a terminal, plain timestamped lines
otherwise, nothing when asked (or inside progress_off)."""

from __future__ import annotations

import io
import re
import sys
import time

import numpy as np
import pytest

from featbus import progress as P
from featbus.compute.extraction import progress_off, show_progress

pytestmark = pytest.mark.usefixtures("progress_shown")  # the display itself: "auto" as outside the tests

LINE = re.compile(r"^\d\d:\d\d:\d\d \S.*: \d+/\d+ \w+ \(\d+%\)")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_a_bar_on_a_terminal_and_lines_otherwise(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert P.progress_mode("auto") == "bar" and P.progress_mode(None) == "bar" and show_progress("auto")
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file, a pipe
    assert P.progress_mode("auto") == "lines" and not show_progress("auto")
    assert P.progress_mode(True) == "bar" and P.progress_mode(False) is None
    with progress_off():
        assert P.progress_mode("auto") is None and P.progress_mode(True) is None
    bar = P.progress_bar("auto", 3, "x", "img")
    try:
        assert isinstance(bar, P.LogProgress)
    finally:
        bar.close()


def test_featbus_progress_0_turns_auto_off_and_leaves_an_explicit_bar(monkeypatch):
    """FEATBUS_PROGRESS=0 (what the tests set): "auto" shows nothing, so a command's output does not
    depend on how long its work took; True still draws a bar."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    for value in ("0", "off", "False", " no "):
        monkeypatch.setenv(P.PROGRESS_ENV, value)
        assert P.progress_mode("auto") is None and P.progress_mode(None) is None
        assert P.progress_mode(True) == "bar"
    monkeypatch.setenv(P.PROGRESS_ENV, "1")
    assert P.progress_mode("auto") == "lines"


def test_lines_carry_count_values_time_and_eta():
    out = io.StringIO()
    bar = P.LogProgress(10, desc="FineTunedCNN", unit="batch", interval=0.05, file=out)
    bar.update(4)
    bar.set_postfix({"val_loss": "0.7000"}, epoch=2, loss="0.6931")
    time.sleep(0.3)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(LINE.match(ln) for ln in lines), lines
    assert "FineTunedCNN: 4/10 batch (40%), epoch 2, loss 0.6931, val_loss 0.7000" in lines[0]
    assert "spent, ETA " in lines[0]
    assert lines[-1].endswith(tuple(f"ended after {s}s" for s in range(3)))


def test_a_short_job_writes_nothing():
    out = io.StringIO()
    with P.LogProgress(3, desc="quick", interval=60, file=out) as bar:
        bar.update(3)
    assert out.getvalue() == ""


def test_training_off_a_terminal_logs_epoch_loss_and_eta(monkeypatch, capsys):
    """The training engine's progress with "auto" when standard error is a file: plain lines."""
    pytest.importorskip("keras")
    from test_training import _problem

    from featbus.networks.training import Phase, train

    model, loss_fn, batches, _ = _problem()

    def slow(phase, epoch):
        for b in batches(phase, epoch):
            time.sleep(0.03)
            yield b

    monkeypatch.setattr(P, "LOG_INTERVAL", 0.1)
    train(model, loss_fn, [Phase("all", 3, {"all": 1e-2})], slow, 4, progress="auto", desc="demo-net")
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "demo-net:" in ln]
    assert lines and all(LINE.match(ln) for ln in lines), err
    assert any("epoch" in ln and "loss" in ln and "ETA" in ln for ln in lines), err
    assert "\r" not in err  # no bar redraws in a log
    assert "ended after" in lines[-1]
    with progress_off():
        train(model, loss_fn, [Phase("all", 1, {"all": 1e-2})], slow, 4, progress="auto", desc="demo-net")
    assert "demo-net" not in capsys.readouterr().err


def test_extraction_and_evaluate_go_through_the_one_display(monkeypatch):
    """Every progress display is made by progress_bar: extraction's per-extractor display and
    evaluate's per-fold one become plain lines off a terminal."""
    from featbus import IntensityStats
    from featbus.evaluation import evaluate

    made = []

    class Recording(P.LogProgress):
        def __init__(self, total, desc="", unit="it", **kw):
            made.append((desc, unit, total))
            super().__init__(total, desc=desc, unit=unit, **kw)

    monkeypatch.setattr(P, "LogProgress", Recording)
    rng = np.random.default_rng(0)
    images = [rng.random((16, 16)) for _ in range(12)]
    IntensityStats(cache=False, progress="auto").fit_transform(images)
    assert ("IntensityStats", "img", 12) in made
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    made.clear()
    y = np.array([0, 1] * 6)
    evaluate(make_pipeline(IntensityStats(cache=False, progress=False), LogisticRegression()), images, y,
             cv="stratified", n_splits=3, n_bootstrap=0, progress="auto", name="demo")
    assert [(u, t) for d, u, t in made if d.startswith("demo")] == [("fold", 3)]
