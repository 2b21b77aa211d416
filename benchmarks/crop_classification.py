"""Does cropping to the predicted lesion help classification? Whole image against U-Net crop.

The three-class BUSI task (benign, malignant, normal), each feature set computed three ways:

* ``whole``: the whole frame;
* ``predicted``: cropped to the lesion a U-Net predicted (``ROICropper(source="mask")`` on the
  out-of-fold masks of ``benchmarks/segmentation_busi.py --cv 3``: each image's mask comes from
  a segmenter trained on the other folds, whole near-duplicate groups apart; an empty
  prediction keeps the whole frame);
* ``truth``: cropped to the ground-truth mask, an upper bound no new image comes with (normal
  images have empty masks, so their frame alone gives the class away: read it as a ceiling).

Each table is scored by duplicate-grouped 5-fold CV (the same folds for all), SVM on features
scaled per family; printed: accuracy and malignant AUC with group-bootstrap intervals, and the
paired difference of ``predicted`` minus ``whole`` (:func:`featbus.evaluation.compare`).

The segmenter's masks hold no class labels, but the segmenter behind a training image's crop may
have seen a test image's mask: mask information, never a label, crosses the folds.

Usage (from the repository root; the first step takes about an hour on two CPU cores)::

    python benchmarks/segmentation_busi.py --cv 3 --model ~/.cache/featbus/busi_unet.keras
    python benchmarks/crop_classification.py [--oof ~/.cache/featbus/busi_unet.oof.npz]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from featbus import get_data_home

REPO = Path(__file__).resolve().parents[1]
DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"
CACHE = REPO / "benchmarks" / "out" / "cache"


def _cell(report, metric, cls="macro") -> str:
    lo, hi = report.interval(metric, cls)
    return f"{report.value(metric, cls):.3f} [{lo:.3f}, {hi:.3f}]"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--oof", type=Path, default=Path.home() / ".cache" / "featbus" / "busi_unet.oof.npz")
    p.add_argument("--features", default="hog,lbp,intensity;efficientnet_lite0",
                   help="feature sets separated by ';' (default: the handcrafted and frozen-cnn recipes')")
    p.add_argument("--margin", type=float, default=0.15, help="ROICropper margin around the lesion box")
    args = p.parse_args(argv)
    if not args.oof.is_file():
        print(f"no out-of-fold masks at {args.oof}: run benchmarks/segmentation_busi.py --cv 3 first",
              file=sys.stderr)
        return 1

    from featbus import ImageRecord, ROICropper, load_busi
    from featbus.evaluation import compare, evaluate
    from featbus.pipelines import extract_features, family_blocks, make_classification_pipeline

    data = load_busi(args.data)
    saved = np.load(args.oof, allow_pickle=False)
    where = {Path(p).parent.name + "/" + Path(p).name: k for k, p in enumerate(saved["paths"])}
    predicted = []
    for rec in data.data:
        key = Path(rec.path).parent.name + "/" + Path(rec.path).name
        if key not in where:
            print(f"{rec.path} has no out-of-fold mask in {args.oof}", file=sys.stderr)
            return 1
        predicted.append(saved[f"mask_{where[key]}"])
    found = np.mean([m.any() for m in predicted])
    print(f"BUSI: {len(data.target)} images; out-of-fold masks from {args.oof} (a lesion predicted in "
          f"{found:.0%} of them)")

    def crop(masks):
        records = [ImageRecord(r.image, m, path=r.path) for r, m in zip(data.data, masks)]
        return list(ROICropper(source="mask", margin=args.margin).fit_transform(records))

    t0 = time.perf_counter()
    images = {"whole": [ImageRecord(r.image, None, path=r.path) for r in data.data],
              "predicted": crop(predicted), "truth": crop([r.mask for r in data.data])}
    print(f"cropped in {time.perf_counter() - t0:.0f} s")
    for features in args.features.split(";"):
        reports = {}
        for how, items in images.items():
            t0 = time.perf_counter()
            X, names = extract_features(items, features, cache=CACHE, progress=False)
            pipe = make_classification_pipeline(None, blocks=family_blocks(names), classifier="svm")
            reports[how] = evaluate(pipe, X, data.target, groups=data.groups, name=f"{features} {how}",
                                    target_names=data.target_names, progress=False)
            print(f"{features:<22}{how:<10} accuracy {_cell(reports[how], 'accuracy')}   malignant AUC "
                  f"{_cell(reports[how], 'auc', 'malignant')}   ({time.perf_counter() - t0:.0f} s)", flush=True)
        for metric, cls in (("accuracy", "macro"), ("auc", "malignant")):
            table = compare([reports["predicted"], reports["whole"]], metric=metric, cls=cls)
            row = table.iloc[0]
            print(f"{features:<22}predicted - whole, {metric}{'' if cls == 'macro' else ' ' + cls}: "
                  f"{row['difference']:+.3f} [{row['diff_low']:+.3f}, {row['diff_high']:+.3f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
