"""Grid searches over feature pipelines: how often is each image's feature row computed?

Feature extractors learn nothing from labels, so featbus's extraction path
(:mod:`featbus.compute.extraction`) keys every row by image content and extractor setting and computes
it once, whatever the number of fits. Three measurements, side by side with the plain way
(``cache=False``: every fit and every scoring recomputes its images' features):

1. ``GridSearchCV`` (5 folds x 6 candidates + refit) over an SVC on EfficientNet-Lite0
   features, ``n_jobs=1``: CNN forward passes per image;
2. the same search on handcrafted features (GLCM + LBP + intensity): wall time ours vs plain,
   and rows computed per image;
3. that handcrafted search with ``n_jobs=2`` (two worker processes) and a shared cache folder:
   every row computed by exactly one process, counted from the folder's journals.

Counts are taken where rows are computed (:func:`featbus.compute.extraction.extraction_counts` in this
process; :func:`featbus.compute.extraction.journal_counts` across processes).

Run from the repository root::

    python benchmarks/gridsearch_cache.py                 # 120 BUSI images
    python benchmarks/gridsearch_cache.py --n-images 300 --skip-deep
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

from featbus import get_data_home

DEFAULT_DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"
GRID = {"svc__C": [0.3, 1.0, 3.0], "svc__gamma": ["scale", 1e-3]}


def _search(features, n_jobs: int):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    pipe = Pipeline([("features", FeatureUnion(features)), ("scale", StandardScaler()), ("svc", SVC())])
    return GridSearchCV(pipe, GRID, cv=StratifiedKFold(5, shuffle=True, random_state=0), n_jobs=n_jobs)


def _per_image(counts: Counter, extractor: str) -> Counter:
    """Histogram: number of computations -> number of images, for one extractor class."""
    return Counter(n for (name, _, _), n in counts.items() if name == extractor)


def _fmt(hist: Counter) -> str:
    return ", ".join(f"{k}x: {v} images" for k, v in sorted(hist.items()))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--n-images", type=int, default=120)
    ap.add_argument("--skip-deep", action="store_true", help="skip the EfficientNet-Lite0 search")
    args = ap.parse_args(argv)

    from featbus import DeepFeatures, GLCMFeatures, IntensityStats, LBPFeatures
    from featbus.compute.extraction import clear_memory, extraction_counts, journal_counts, reset_extraction_counts

    files = sorted(p for p in args.data.glob("*/*.png") if "_mask" not in p.name)
    if not files:
        raise SystemExit(f"no BUSI images under {args.data}")
    idx = np.linspace(0, len(files) - 1, min(args.n_images, len(files))).astype(int)
    paths = [str(files[i]) for i in idx]
    y = np.array([Path(p).parent.name for p in paths])
    n_candidates = len(GRID["svc__C"]) * len(GRID["svc__gamma"])
    n_fits = 5 * n_candidates + 1
    print(f"{len(paths)} BUSI images, 5 folds x {n_candidates} candidates + refit = {n_fits} pipeline fits; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    if not args.skip_deep:
        clear_memory()
        reset_extraction_counts()
        t0 = time.perf_counter()
        _search([("cnn", DeepFeatures("efficientnet_lite0", pooling=("avg", "max"), progress=False))], 1
                ).fit(paths, y)
        hist = _per_image(extraction_counts(), "DeepFeatures")
        print(f"1. Lite0 + SVC, n_jobs=1: {time.perf_counter() - t0:.1f} s; CNN forward passes per image: "
              f"{_fmt(hist)} (plain way: {n_fits} fits x their images = about "
              f"{5 * n_candidates * len(paths) + len(paths)} passes)")

    def handcrafted(cache):
        return [("glcm", GLCMFeatures(cache=cache, progress=False)),
                ("lbp", LBPFeatures(cache=cache, progress=False)),
                ("intensity", IntensityStats(cache=cache, progress=False))]

    clear_memory()
    reset_extraction_counts()
    t0 = time.perf_counter()
    ours = _search(handcrafted(None), 1).fit(paths, y)
    t_ours = time.perf_counter() - t0
    hist = _per_image(extraction_counts(), "LBPFeatures")
    reset_extraction_counts()
    t0 = time.perf_counter()
    plain = _search(handcrafted(False), 1).fit(paths, y)
    t_plain = time.perf_counter() - t0
    plain_hist = _per_image(extraction_counts(), "LBPFeatures")
    same = np.allclose(ours.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"])
    print(f"2. GLCM+LBP+intensity + SVC, n_jobs=1: ours {t_ours:.1f} s, plain {t_plain:.1f} s, "
          f"ratio {t_plain / t_ours:.1f}x; LBP rows per image: ours {_fmt(hist)}; plain {_fmt(plain_hist)}; "
          f"same CV scores: {same}")

    with tempfile.TemporaryDirectory() as folder:
        clear_memory()
        t0 = time.perf_counter()
        _search(handcrafted(folder), 2).fit(paths, y)
        elapsed = time.perf_counter() - t0
        counts = journal_counts(folder)
        by_times = Counter(counts.values())
        n_rows = 3 * len(set(paths))
        print(f"3. the same search, n_jobs=2, cache folder: {elapsed:.1f} s; {sum(counts.values())} rows computed "
              f"for {len(counts)} distinct (image, extractor) rows of {n_rows}; rows by computations: "
              f"{dict(sorted(by_times.items()))}; no duplicate computation: {set(by_times) == {1}}")


if __name__ == "__main__":
    main()
