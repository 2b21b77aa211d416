"""``featbus segment evaluate`` on another site's layout: BUS-BRA (``bus_data.csv``, class folders,
``<ID>_mask.png``), with a tiny U-Net trained here (scratch encoder, 32 px, one epoch; a low
threshold so that every image gets a predicted region and the Dice varies with the drawn mask).

Real data: 7 BUS-BRA patients (4 benign, 3 malignant) with their masks, copied to a temporary
folder by ``make_bus_bra_subset``; skipped cleanly without ``../shared/data``.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import stderr_lines
from PIL import Image

from featbus.cli import main

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)


@pytest.fixture(scope="module")
def site(tmp_path_factory, make_bus_bra_subset):
    return make_bus_bra_subset(tmp_path_factory.mktemp("bus-bra-masks"), 4, 3, masks=True)[0]


@pytest.fixture(scope="module")
def segmenter(site, tmp_path_factory):
    pytest.importorskip("tensorflow")
    from featbus import UNetSegmenter, load_data

    data = load_data(site)
    seg = UNetSegmenter(backbone="scratch", input_size=32, width=0.25, epochs=1, batch_size=8, threshold=0.05,
                        tta=False, progress=False, random_state=0).fit(list(data.data), groups=data.groups)
    path = tmp_path_factory.mktemp("seg") / "tiny.keras"
    seg.save(path)
    return path, seg


def _dice(truth: np.ndarray, pred: np.ndarray) -> float:
    total = truth.sum() + pred.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(truth, pred).sum() / total


def test_evaluate_reads_the_bus_bra_masks_and_reports_per_image_dice(site, segmenter, tmp_path, capsys):
    from featbus import load_data

    path, seg = segmenter
    report = tmp_path / "report"
    assert main(["segment", "evaluate", str(path), str(site), "--per-image", "--n-bootstrap", "50",
                 "--report", str(report)]) == 0
    out = capsys.readouterr().out
    # the Dice of every image against its mask read here, independently of featbus's reader
    records = list(load_data(site).data)
    predicted = seg.predict_masks(records)
    truth = {r.path: np.asarray(Image.open(r.path.replace(".png", "_mask.png"))) > 0 for r in records}
    expected = {r.path: _dice(truth[r.path], p) for r, p in zip(records, predicted)}
    table = pd.read_csv(report / "metrics.csv")
    assert len(table) == len(records) == sum(1 for _ in site.rglob("*_mask.png"))
    assert table["lesion"].all()  # BUS-BRA: every image shows a lesion
    got = dict(zip(table["image"], table["dice"]))
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-4)  # metrics.csv keeps 4 decimals
    assert len(set(np.round(list(expected.values()), 4))) > 1  # the Dice follows each image's own mask
    # printed: one line per image with its Dice, the mean, and the patients as bootstrap groups
    lines = out.splitlines()
    for name, value in expected.items():
        row = next(line for line in lines if line.startswith(name[-57:]) or line.startswith("..." + name[-57:]))
        assert float(row.split()[2]) == pytest.approx(value, abs=5e-4)
    mean = float(np.mean(list(expected.values())))
    assert f"mean Dice over the {len(records)} lesion images: {mean:.3f}" in out
    assert f"dice            mean {mean:.3f}" in out
    assert "intervals: 95% bootstrap over patients: the 'Case' column of bus_data.csv" in out


def _copy(site, where):
    shutil.copytree(site, where)
    return where


def test_bad_layouts_are_one_line_errors(site, segmenter, tmp_path, capsys):
    path, _ = segmenter
    # no masks beside the images
    bare = _copy(site, tmp_path / "bare")
    for mask in bare.rglob("*_mask.png"):
        mask.unlink()
    assert main(["segment", "evaluate", str(path), str(bare)]) == 2
    err = capsys.readouterr().err.strip()
    said = [ln for ln in stderr_lines(err) if ": warning: " not in ln]  # the label column's note aside
    assert len(said) == 1 and "has no lesion masks" in err and "evaluate compares" in err
    # a mask of another size than its image: named
    odd = _copy(site, tmp_path / "odd")
    victim = sorted(odd.rglob("*_mask.png"))[0]
    Image.new("L", (10, 10)).save(victim)
    assert main(["segment", "evaluate", str(path), str(odd)]) == 2
    err = capsys.readouterr().err.strip()
    said = [ln for ln in stderr_lines(err) if ": warning: " not in ln]  # the label column's note aside
    assert len(said) == 1 and victim.name in err and "(10, 10)" in err
    # a table without the patient column: read, the patients taken from elsewhere and said where (issue 81)
    nocase = _copy(site, tmp_path / "nocase")
    pd.read_csv(nocase / "bus_data.csv").drop(columns=["Case"]).to_csv(nocase / "bus_data.csv", index=False)
    assert main(["segment", "evaluate", str(path), str(nocase)]) == 0
    paragraph = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("read '")]
    assert len(paragraph) == 1 and "patients (" in paragraph[0] and "'Case'" not in paragraph[0], paragraph
    # a folder holding no images at all
    (tmp_path / "empty").mkdir()
    assert main(["segment", "evaluate", str(path), str(tmp_path / "empty")]) == 2
    assert len(stderr_lines(capsys.readouterr().err)) == 1
