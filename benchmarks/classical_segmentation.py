"""Benchmark: classical lesion segmenters on BUSI beside the U-Net.

Runs :class:`featbus.ThresholdSegmenter` (Otsu and adaptive) and :class:`featbus.EdgeSegmenter`
(Canny + fill), with their defaults, on every BUSI lesion image (benign + malignant; Al-Dhabyani
et al., Data in Brief 28:104863, 2020) and prints the mean lesion Dice with a 95 % bootstrap
interval over near-duplicate groups (:func:`featbus.segmentation.metrics.summarize_segmentation`),
the median, the lesions missed (empty mask), and, on the normal images, the share predicted
empty. The classical segmenters learn nothing, so there are no folds: every image is scored
as it is.

The U-Net row is *quoted*, not re-run: the default segmenter recipe's 5-fold out-of-fold figure
from :data:`featbus.pipelines.recipes.SEGMENTER_RECIPES` (``benchmarks/segmentation_busi.py --cv 5``
measures it, about 15-20 min of training per fold on a CPU).

Run from the repository root (data at ../shared/data)::

    python benchmarks/classical_segmentation.py [--limit N] [--n-bootstrap 1000]
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np

import featbus
from featbus import get_data_home
from featbus.pipelines.recipes import SEGMENTER_RECIPES
from featbus.segmentation.classical import EdgeSegmenter, ThresholdSegmenter
from featbus.segmentation.metrics import segmentation_metrics, summarize_segmentation

SEGMENTERS = {
    "ThresholdSegmenter(method='otsu')": ThresholdSegmenter(method="otsu"),
    "ThresholdSegmenter(method='adaptive')": ThresholdSegmenter(method="adaptive"),
    "EdgeSegmenter()": EdgeSegmenter(),
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(get_data_home() / "busi"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N images (a quick look)")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    args = ap.parse_args(argv)

    busi = featbus.load_busi(args.data)
    records, groups = list(busi.data), np.asarray(busi.groups)
    if args.limit:
        records, groups = records[:args.limit], groups[:args.limit]
    truth = [r.mask for r in records]
    n_lesion = sum(bool(m.any()) for m in truth)
    print(f"BUSI: {len(records)} images ({n_lesion} with a lesion, {len(records) - n_lesion} normal), "
          f"{len(set(groups[[m.any() for m in truth]].tolist()))} near-duplicate groups among the lesion images")
    print(f"{'segmenter':40s} {'lesion Dice [95% CI]':>24s} {'median':>7s} {'missed':>7s} "
          f"{'normal empty':>13s} {'s/img':>6s}")
    for name, seg in SEGMENTERS.items():
        t0 = time.perf_counter()
        pred = seg.fit(records).predict_masks(records)
        per_image = (time.perf_counter() - t0) / len(records)
        table = segmentation_metrics(truth, pred)
        s = summarize_segmentation(table, groups, n_bootstrap=args.n_bootstrap)
        d = s["lesion"]["dice"]
        normal = s["normal"].get("empty", {}).get("value", float("nan"))
        print(f"{name:40s} {d['mean']:.3f} [{d['ci'][0]:.3f}, {d['ci'][1]:.3f}]    {d['median']:.3f} "
              f"{s['lesion']['missed']:4d}/{s['lesion']['n']:<3d} {normal:12.2f} {per_image:6.3f}")
    figure = SEGMENTER_RECIPES["default"].figure
    m = re.search(r"lesion Dice ([0-9.]+ \[[0-9.]+, [0-9.]+\])", figure)
    quoted = m.group(1) if m else figure
    print(f"{'UNetSegmenter, recipe default (quoted)':40s} {quoted:>24s}  -- 5-fold out-of-fold figure from "
          "featbus.pipelines.recipes.SEGMENTER_RECIPES['default'], not re-run here")


if __name__ == "__main__":
    main()
