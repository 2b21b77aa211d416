"""GridSearchCV over an SVC on DeepFeatures: how many CNN forward passes does each image get?

A 5-fold x 6-candidate grid (C x gamma) refits the pipeline 31 times; without a feature cache
every fit would run the CNN on its training images and every scoring on its test images. With
``DeepFeatures(cache=...)`` features are keyed by image content (plus backbone, weights hash,
layers, pooling, geometry and featbus version), so the CNN should run exactly once per unique
image. The count is taken honestly, in the inference path of ``featbus.features.deep`` (every
image of every batch handed to the compiled network is counted by its content hash).

Run from the repository root::

    python benchmarks/gridsearch_cache.py                 # 120 BUSI images, efficientnet_lite0
    python benchmarks/gridsearch_cache.py --n-images 300 --backbone mobilenet_v2 --weights none
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "busi" / "Dataset_BUSI_with_GT"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--n-images", type=int, default=120)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--weights", default="imagenet", help="'imagenet' or 'none'")
    args = ap.parse_args(argv)

    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from featbus.features.deep import DeepFeatures, forward_pass_counts, reset_forward_pass_counts

    files = sorted(p for p in args.data.glob("*/*.png") if "_mask" not in p.name)
    if not files:
        raise SystemExit(f"no BUSI images under {args.data}")
    idx = np.linspace(0, len(files) - 1, min(args.n_images, len(files))).astype(int)
    paths = [str(files[i]) for i in idx]
    y = np.array([Path(p).parent.name for p in paths])
    weights = None if args.weights.lower() == "none" else args.weights

    with tempfile.TemporaryDirectory() as cache:
        deep = DeepFeatures(backbone=args.backbone, weights=weights, pooling=("avg", "max"), cache=cache)
        pipe = make_pipeline(deep, StandardScaler(), SVC())
        grid = {"svc__C": [0.3, 1.0, 3.0], "svc__gamma": ["scale", 1e-3]}
        search = GridSearchCV(pipe, grid, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                              scoring="accuracy", n_jobs=1)
        n_candidates = len(grid["svc__C"]) * len(grid["svc__gamma"])
        reset_forward_pass_counts()
        t0 = time.perf_counter()
        search.fit(paths, y)
        elapsed = time.perf_counter() - t0
        counts = forward_pass_counts()

    fitted = search.best_estimator_[0]
    hashes = [fitted._prepare(p, i)[1] for i, p in enumerate(paths)]  # content hash of each file
    per_image = Counter(counts[h] for h in hashes)
    n_unique = len(set(hashes))
    print(f"{len(paths)} BUSI images ({n_unique} unique by content), {args.backbone} weights={weights}, "
          f"5 folds x {n_candidates} candidates = {5 * n_candidates} fits + 1 refit, {elapsed:.1f} s")
    print(f"CNN forward passes: {sum(counts.values())} in total; images by number of passes received: "
          + ", ".join(f"{k} pass(es): {v}" for k, v in sorted(per_image.items())))
    print(f"exactly 1 per unique image: {set(counts.values()) == {1} and set(counts) == set(hashes)}")
    print(f"without the cache it would be {5 * n_candidates * len(paths) + len(paths)} "
          "(each fit: train + test images; refit: all)")
    print(f"best {search.best_params_}, CV accuracy {search.best_score_:.3f} "
          "(plain stratified CV on a subset, near-duplicates not grouped: optimistic; see examples/busi_deep.py)")


if __name__ == "__main__":
    main()
