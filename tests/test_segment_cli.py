"""featbus segment train / predict / evaluate, and the segmentation metrics they report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import stderr_lines
from PIL import Image

from featbus.datasets import make_phantoms
from featbus.segmentation.metrics import (
    hausdorff_95,
    mean_surface_distance,
    segmentation_metrics,
    summarize_segmentation,
)

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)


def _disk(shape, centre, radius):
    rr, cc = np.ogrid[:shape[0], :shape[1]]
    return (rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= radius ** 2


def test_boundary_distances_match_their_definition():
    # two discs whose centres are 3 px apart: every boundary distance is at most 3 (+ rasterisation)
    a, b = _disk((64, 64), (32, 30), 10), _disk((64, 64), (32, 33), 10)
    assert 2.0 <= hausdorff_95(a, b) <= 3.0 + 1e-9
    assert 0.5 < mean_surface_distance(a, b) < hausdorff_95(a, b)
    assert hausdorff_95(a, a) == 0.0 and mean_surface_distance(a, a) == 0.0
    # pixel spacing scales the distances
    assert hausdorff_95(a, b, spacing=0.5) == pytest.approx(hausdorff_95(a, b) / 2)
    # one empty mask: undefined; two empty: perfect
    empty = np.zeros((64, 64), bool)
    assert np.isnan(hausdorff_95(a, empty)) and hausdorff_95(empty, empty) == 0.0


def test_metrics_table_and_summary_handle_missed_lesions_and_normal_images():
    a = _disk((40, 40), (20, 20), 8)
    empty = np.zeros((40, 40), bool)
    truth = [a, a, a, empty, empty]
    pred = [a, np.roll(a, 2, axis=1), empty, empty, _disk((40, 40), (5, 5), 2)]
    table = segmentation_metrics(truth, pred, names=list("abcde"))
    assert table["image"].tolist() == list("abcde")
    assert table.loc[0, "dice"] == 1.0 and table.loc[2, "dice"] == 0.0
    assert table.loc[2, "sensitivity"] == 0.0 and table.loc[2, "precision"] == 0.0 and np.isnan(table.loc[2, "hd95"])
    assert np.isnan(table.loc[3, "sensitivity"]) and table.loc[3, "dice"] == 1.0
    s = summarize_segmentation(table, groups=[0, 0, 1, 2, 3], n_bootstrap=200)
    les = s["lesion"]
    assert les["n"] == 3 and les["missed"] == 1 and les["boundary_undefined"] == 1
    assert les["dice"]["mean"] == pytest.approx(table["dice"][:3].mean())
    assert les["hd95"]["mean"] == pytest.approx(table["hd95"][:2].mean())  # over the defined ones
    lo, hi = les["dice"]["ci"]
    assert lo <= les["dice"]["mean"] <= hi
    assert s["normal"]["n"] == 2 and s["normal"]["empty"]["value"] == 0.5
    with pytest.raises(ValueError, match="mask pair 1"):
        segmentation_metrics([a, a], [a, np.zeros((3, 3))])


@pytest.fixture(scope="module")
def busi_like(tmp_path_factory) -> Path:
    """Phantoms in the BUSI layout: class folders, <image>_mask.png beside each lesion image."""
    root = tmp_path_factory.mktemp("seg")
    ph = make_phantoms(36, image_size=64, random_state=0)
    for i, (rec, t) in enumerate(zip(ph.data, ph.target)):
        folder = root / str(ph.target_names[t])
        folder.mkdir(exist_ok=True)
        Image.fromarray(rec.image).save(folder / f"case ({i}).png")
        Image.fromarray(np.where(rec.mask, 255, 0).astype(np.uint8)).save(folder / f"case ({i})_mask.png")
    return root


def test_train_predict_evaluate(busi_like, tmp_path, capsys):
    pytest.importorskip("keras")
    from featbus.cli import main

    seg = tmp_path / "seg.keras"
    assert main(["segment", "train", str(busi_like), "-o", str(seg), "--backbone", "scratch", "--input-size", "64",
                 "--epochs", "3", "--max-time", "60", "--empty-masks", "learn", "--no-tta", "-q"]) == 0
    captured = capsys.readouterr()
    # the default recipe has no validation split: all 36 images train, the schedule runs out
    assert seg.is_file() and "36 training images, 3 epochs in" in captured.out
    assert "(stopped by: epochs), last weights kept" in captured.out
    assert "(recipe default: scratch, 64 px) on 36 images, at most 60 s" in captured.err
    assert not list(tmp_path.glob(".*tmp*"))  # written under a temporary name, then renamed
    assert main(["segment", "train", str(busi_like), "-o", str(seg), "--encoder", "scratch"]) == 2  # exists
    assert "already exists" in capsys.readouterr().err
    assert main(["segment", "train", str(busi_like), "-o", str(tmp_path / "x.keras"), "--backbone", "resnet5O"]) == 2
    err = capsys.readouterr().err
    assert "--backbone: unknown backbone 'resnet5O' (did you mean 'resnet50'?): it is neither a featbus backbone" in err
    assert len(err.strip().splitlines()) == 1

    best = tmp_path / "best.keras"  # the GPU recipe, made small: its lesion-only training and mirror averaging
    assert main(["segment", "train", str(busi_like), "-o", str(best), "--recipe", "best", "--backbone", "scratch",
                 "--input-size", "64", "--epochs", "1", "--members", "2", "-q"]) == 0
    captured = capsys.readouterr()
    assert "2 U-Nets (averaged) (recipe best: scratch, 64 px, lesion images only) on 36 images, no time budget" \
        in captured.err
    from featbus import UNetSegmenter
    from featbus.pipelines.recipes import SEGMENTER_RECIPES

    kept = UNetSegmenter.load(best)
    assert (kept.empty_masks, kept.tta, kept.validation_fraction) == ("skip", True, 0.0)
    n_lesion = sum(1 for p in busi_like.glob("*/*_mask.png") if np.asarray(Image.open(p)).any())
    assert n_lesion < 36 and all(f"network {k}: {n_lesion} training images, 1 epoch in" in captured.out
                                 for k in (1, 2))
    assert kept.n_members == 2 and [layer.name for layer in kept.model_.layers][1:3] == ["member0", "member1"]
    trained = UNetSegmenter.load(seg)  # --empty-masks and --no-tta override the recipe
    assert (trained.empty_masks, trained.tta) == ("learn", False)
    assert SEGMENTER_RECIPES["default"].params["empty_masks"] == "skip"
    with pytest.raises(SystemExit) as exc:  # argparse's one-line usage error
        main(["segment", "train", str(busi_like), "-o", str(best), "--recipe", "fast"])
    assert exc.value.code == 2 and "invalid choice: 'fast'" in capsys.readouterr().err

    masks = tmp_path / "masks"
    images = sorted(busi_like.glob("benign/*.png"))
    images = [p for p in images if "_mask" not in p.name][:4]
    assert main(["segment", "predict", str(seg), *map(str, images), "-o", str(masks)]) == 0
    listing = pd.read_csv(masks / "masks.csv", keep_default_na=False)
    assert len(listing) == 4 and all(Path(m).is_file() for m in listing["mask"])
    first = np.asarray(Image.open(listing.loc[0, "mask"]))
    assert first.shape == np.asarray(Image.open(images[0])).shape and set(np.unique(first)) <= {0, 255}
    assert main(["segment", "predict", str(seg), *map(str, images), "-o", str(masks)]) == 2  # masks exist
    assert "--overwrite" in capsys.readouterr().err

    report = tmp_path / "report"
    assert main(["segment", "evaluate", str(seg), str(busi_like), "--report", str(report), "--n-bootstrap", "50",
                 "--n-show", "2"]) == 0
    out = capsys.readouterr().out
    assert "lesion images:" in out and "hd95" in out and "normal images:" in out
    table = pd.read_csv(report / "metrics.csv")
    assert len(table) == 36 and {"dice", "iou", "hd95", "msd", "lesion"} <= set(table.columns)
    summary = json.loads((report / "summary.json").read_text())
    assert summary["lesion"]["n"] + summary["normal"]["n"] == 36
    page = (report / "report.html").read_text()
    assert "worst_0.png" in page and "best_1.png" in page and (report / "worst_0.png").is_file()


def test_segment_errors_are_one_line(busi_like, tmp_path, capsys):
    from featbus.cli import main

    assert main(["segment", "train", str(busi_like), "-o", str(tmp_path / "seg.h5")]) == 2
    assert "must end in .keras" in capsys.readouterr().err
    assert main(["segment", "predict", str(tmp_path / "absent.keras"), str(busi_like), "-o", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    bare = tmp_path / "bare" / "benign"
    bare.mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(bare / "x.png")
    pytest.importorskip("keras")
    assert main(["segment", "train", str(bare.parent), "-o", str(tmp_path / "s.keras")]) == 2
    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1 and "has no lesion masks" in err[0]
