"""The paper examples (examples/paper_*.py) and their benchmark, at their smallest settings.

Each example runs on a handful of real images (skipped when the data are absent) with tiny
networks and two folds, and must print its three rows: the paper's reported figure, featbus's
figure under the paper's random split and featbus's leak-free figure, each a number in [0, 1]
inside its own 95 % interval. Offline (``FEATBUS_OFFLINE``): the rows of backbones without
weights here are named for the stand-in that ran.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # reads the real data sets (python -m pytest -m "not slow" leaves it out)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TINY = ["--limit", "12", "--size", "32", "--folds", "2", "--n-bootstrap", "20"]
ROW = r"\s+(-?\d\.\d{3}) \[(-?\d\.\d{3}), (-?\d\.\d{3})\]$"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("FEATBUS_OFFLINE", "1")  # no download attempt: the stand-ins, at once
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))


@pytest.fixture
def busi_once(busi, busi_root, monkeypatch):
    """The examples read BUSI as a user does (``load_busi`` on the data folder's ``busi``); the test
    run's one load of that folder (conftest.busi) answers them, so each example does not read and
    group the 625 images again."""
    import featbus

    real = featbus.load_busi

    def load_busi(root=None, *args, **kwargs):
        if root is not None and not args and not kwargs and \
                Path(root).resolve() in (busi_root.resolve(), busi_root.parent.resolve()):
            return busi
        return real(root, *args, **kwargs)

    monkeypatch.setattr(featbus, "load_busi", load_busi)
    return busi


def _example(name: str):
    return importlib.import_module(name)


def check_rows(text: str, reported: str, size: int = 32) -> list[tuple[float, float, float]]:
    """The printed table has the paper's figure and two featbus rows with value [low, high]."""
    lines = text.splitlines()
    paper = [ln for ln in lines if ln.startswith("paper (reported)")]
    assert len(paper) == 1 and paper[0].split()[-1] == reported, text
    rows = []
    for lead in ("featbus, paper's protocol (random split: leaky)", "featbus, leak-free (grouped CV, 95% CI)"):
        found = [re.search(ROW, ln) for ln in lines if ln.startswith(lead)]
        assert len(found) == 1 and found[0], f"no {lead!r} row with a value and interval in:\n{text}"
        v, lo, hi = map(float, found[0].groups())
        assert 0.0 <= lo <= v <= hi <= 1.0, found[0].group(0)
        rows.append((v, lo, hi))
    assert re.search(rf"^settings: {size} px", text, re.M), text
    assert re.search(r"^command: python examples/paper_\w+\.py", text, re.M), text
    return rows


def test_mias_cnn_svm_through_the_benchmark(mias_root, capsys):
    bench = _example("published_pipelines")
    results = bench.main(["--paper", "c", "--", *TINY[:2], "--size", "64", *TINY[4:]])
    out = capsys.readouterr().out
    check_rows(out, "0.9777", size=64)
    assert results[0].paper == "c" and "--quick" in results[0].command
    table = out.split("The published pipelines, reproduced")[1]
    assert re.search(r"^\(c\)\s+accuracy\s+0\.9777\s+\d\.\d{3} \[", table, re.M), table
    # VGG16 and InceptionV3 offline: one stand-in row for both, never the same numbers twice
    if "stand-in for vgg16, inception_v3" in out:
        assert results[0].extra == []  # the stand-in ran once: no second row under another name


def test_mobilenetv2_app(busi_once, capsys):
    result = _example("paper_busi_mobilenetv2_app").main([*TINY, "--epochs", "1", "--no-app"])
    out = capsys.readouterr().out
    check_rows(out, "0.82")
    assert result.paper == "b"
    # the intensity analysis: one line per class with its median and range
    for name in ("benign", "malignant", "normal"):
        assert re.search(rf"^  {name}\s+4\s+\d+ \[\d+, \d+\]\s+\d+ \[\d+, \d+\]$", out, re.M), out
    assert "most frequent confusions" in out


def test_resnet101_enhanced(busi_once, capsys):
    _example("paper_busi_resnet101_enhanced").main([*TINY, "--epochs", "1"])
    out = capsys.readouterr().out
    check_rows(out, "0.9986")
    for seg in ("ThresholdSegmenter(adaptive)", "EdgeSegmenter(canny)"):
        m = re.search(rf"{re.escape(seg)}: mean Dice (\d\.\d{{3}}) \[", out)
        assert m and 0.0 <= float(m.group(1)) <= 1.0, out
    assert re.search(r"^  macro\s+(\d\.\d{3}\s+){3}", out, re.M), out


def test_mobilenetv3_phone(busi_once, capsys):
    result = _example("paper_busi_mobilenetv3_phone").main([*TINY, "--epochs", "1", "--no-export"])
    out = capsys.readouterr().out
    check_rows(out, "0.9830")
    assert "stride-16 and stride-32 layers" in out
    assert re.search(r"\bTP\b", out) and re.search(r"\bFN\b", out), out
    assert result.title.startswith("MobileNetV3-Small")


def test_custom_cnn_and_unet(busi_once, capsys):
    result = _example("paper_busi_custom_cnn").main([*TINY, "--epochs", "1", "--seg-epochs", "1"])
    out = capsys.readouterr().out
    check_rows(out, "0.8959")
    assert re.search(r"^  custom CNN \(from scratch: featbus .scratch.\)\s+\d\.\d{3} \| \d\.\d{3} \[", out, re.M), out
    # every paper network ran under its own name or says it did not; one stand-in row at most
    for net in ("vgg16", "inception_v3", "mobilenet"):
        assert re.search(rf"^  {net}\s+(not run: weights unavailable|\d\.\d{{3}} \|)", out, re.M), out
    assert len(set(re.findall(r"^  \S+ ImageNet \(stand-in for .*$", out, re.M))) <= 1, out
    assert result.metric == "mean Dice"


def test_weights_option_errors(capsys):
    common = _example("_paper_common")
    ap = common.parser("x\n", size=32, epochs=1, folds=2, quick={"size": 16})
    with pytest.raises(SystemExit):
        common.parse(ap, ["--weights", "vgg16"])
    assert "expected NAME=PATH" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        common.parse(ap, ["--weights", "vgg16=/no/such/file.h5"])
    assert "no file /no/such/file.h5" in capsys.readouterr().err
    args = common.parse(ap, ["--quick", "--folds", "3"])
    assert (args.size, args.folds) == (16, 3)  # --quick fills what was left at its default only
