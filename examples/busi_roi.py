"""Lesion ROI cropping with a trained U-Net on BUSI: the figure, and the downstream gain.

Uses the segmenter trained by ``benchmarks/segmentation_busi.py`` (saved with the list of its
held-out images) and works on the held-out images only, which the segmenter never saw:

1. draws image, ground-truth contour, predicted contour and crop box for a few of them (PNG);
2. compares malignant-vs-rest classification (RBF SVM, AUC and accuracy, 5-fold CV with
   near-duplicate groups kept together) on texture features of the whole image versus the ROI
   crop of the predicted lesion (plus, in a third column, shape features of the predicted mask
   and the "lesion found" flag).

BUSI: Al-Dhabyani et al., Data in Brief 28:104863 (2020). Run from the repository root::

    OMP_NUM_THREADS=2 python examples/busi_roi.py [--model ~/.cache/featbus/busi_unet.keras] [--out busi_roi.png]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "busi"
DEFAULT_MODEL = Path.home() / ".cache" / "featbus" / "busi_unet.keras"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--out", type=Path, default=Path.home() / ".cache" / "featbus" / "busi_roi.png")
    p.add_argument("--margin", type=float, default=0.15)
    args = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from featbus import (DuplicateGroupKFold, GLCMFeatures, IntensityStats, LBPFeatures, ROICropper,
                         ShapeFeatures, UNetSegmenter, duplicate_groups, load_busi)
    from featbus.plotting import plot_segmentations
    from featbus.preprocessing.roi import RoiFoundFlag
    from featbus.segmentation import dice_scores

    t0 = time.perf_counter()
    seg = UNetSegmenter.load(args.model)
    heldout = json.loads(args.model.with_suffix(".heldout.json").read_text())
    data = load_busi(args.data)
    by_path = {str(Path(r.path).resolve()): k for k, r in enumerate(data.data)}
    idx = np.array([by_path[str(Path(q).resolve())] for q in heldout["paths"]])
    X = [data.data[k] for k in idx]
    classes = np.asarray(data.target_names)[data.target[idx]]
    y = (classes == "malignant").astype(int)
    groups = duplicate_groups([r.image for r in X])
    print(f"held-out BUSI images: {len(X)} ({', '.join(f'{c} {int((classes == c).sum())}' for c in np.unique(classes))}), "
          f"{len(np.unique(groups))} near-duplicate groups")

    # --- 1. the figure ----------------------------------------------------------------------
    cropper = ROICropper(segmenter=FrozenEstimator(seg), source="segmenter", margin=args.margin)
    pick = [k for c in ("benign", "malignant", "normal") for k in np.flatnonzero(classes == c)[:{"normal": 1}.get(c, 3)]]
    shown = [X[k] for k in pick]
    pred = seg.predict_masks(shown)
    crops = cropper.fit_transform(shown)
    titles = [f"{classes[k]} #{k}" for k in pick]
    fig = plot_segmentations(shown, [r.mask for r in shown], pred, [c.meta["roi_box"] for c in crops], titles, ncols=4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"figure saved to {args.out}")
    lesion = classes != "normal"
    all_pred = seg.predict_masks(X)
    d = dice_scores([r.mask for r in X], all_pred)
    print(f"held-out Dice (benign+malignant): {d[lesion].mean():.3f}; "
          f"normal images with no predicted lesion: {np.mean([not m.any() for m in np.array(all_pred, dtype=object)[~lesion]]):.2f}")

    # --- 2. downstream: whole image versus ROI crop ------------------------------------------
    def texture():
        return [("lbp", LBPFeatures()), ("glcm", GLCMFeatures()), ("stats", IntensityStats())]

    def clf():
        return [("scale", StandardScaler()), ("svc", SVC(class_weight="balanced"))]

    roi = ROICropper(segmenter=FrozenEstimator(seg), source="segmenter", margin=args.margin, output_size=128)
    pipes = {
        "whole image": Pipeline([("feat", FeatureUnion(texture())), *clf()]),
        "ROI crop": Pipeline([("roi", roi), ("feat", FeatureUnion(texture())), *clf()]),
        "ROI crop + shape + flag": Pipeline([("roi", roi), ("feat", FeatureUnion(
            texture() + [("shape", ShapeFeatures()), ("found", RoiFoundFlag())])), *clf()]),
    }
    cv = DuplicateGroupKFold(n_splits=5)
    print(f"\nmalignant vs rest, {cv.n_splits}-fold CV, near-duplicates grouped (mean +- sd over folds)")
    print(f"{'features':<26}{'AUC':>14}{'accuracy':>16}{'time s':>9}")
    for name, pipe in pipes.items():
        t = time.perf_counter()
        res = cross_validate(pipe, X, y, groups=groups, cv=cv, scoring=("roc_auc", "accuracy"))
        auc, acc = res["test_roc_auc"], res["test_accuracy"]
        print(f"{name:<26}{auc.mean():>8.3f} +-{auc.std():.3f}{acc.mean():>10.3f} +-{acc.std():.3f}"
              f"{time.perf_counter() - t:>9.0f}")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
