"""Each feature family alone and their union, by duplicate-grouped 5-fold CV on BUSI.

This script is the one source of the BUSI classification numbers quoted in ``README.md`` and
the user guide, and the measurement behind :func:`featbus.pipelines.make_pipeline`'s way of
joining feature families (``family_scaling``).

What it does
------------
1. Loads BUSI with :func:`featbus.load_busi` (its near-duplicate ``groups`` keep every copy of
   a lesion in one fold).
2. Extracts each family's features ONCE for all images, with the extractor exactly as
   :func:`featbus.pipelines.make_features` builds it, and caches the matrix
   (``--cache-dir``). Feature extraction is label-free and fits nothing on the data (HOG, LBP,
   GLCM, intensity statistics, frozen ImageNet CNN), so extracting before splitting is exact:
   the cross-validated numbers equal those of the full image pipeline.
3. Cross-validates only the part that learns (joining / scaling, SMOTE, RBF SVC with its
   default ``C=1, gamma="scale"``, i.e. ``make_pipeline(..., balance="smote",
   classifier="svm")``) with :class:`featbus.DuplicateGroupKFold` (5 folds, stratified,
   the folds of :func:`featbus.evaluation.evaluate`). A union is rebuilt from the cached
   blocks with a :class:`~featbus.pipelines.FamilyUnion` of column selectors, so its joining
   step is the library's own code, fitted on training folds only.
4. Prints accuracy and malignant-vs-rest AUC with 95% intervals from a bootstrap over the
   near-duplicate groups (1000 resamples of the out-of-fold predictions; whole groups are
   resampled, so copies of a lesion count once), and the paired bootstrap difference of each
   union against its best single family.

Candidates for joining families (``--unions``):

* ``concat``: plain concatenation then one StandardScaler over all columns (featbus <= 0.x
  default, "before");
* ``equal``: every column standardised, every family's block weighted so that each family
  carries the same total variance (``1/sqrt(n_columns)``, rescaled so the whole matrix keeps
  the total variance of plain standardisation) -- the new default;
* ``pca``: every family standardised and reduced to at most 64 principal components
  (fitted on the training fold), then weighted like ``equal``;
* ``small-hog``: ``concat`` with a smaller HOG (``pixels_per_cell=(16, 16)``: 1764 columns
  instead of 8100).

Run from the repository root (TensorFlow only for the CNN family)::

    python benchmarks/feature_families.py                  # all families, all candidates
    python benchmarks/feature_families.py --families hog,lbp,intensity --unions concat,equal

Data: BUSI (Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images.
Data in Brief 28:104863, 2020. https://doi.org/10.1016/j.dib.2019.104863) at
``../shared/data/busi``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "busi"
FAMILIES = ("efficientnet_lite0", "hog", "lbp", "intensity", "glcm")
UNIONS = ("concat", "equal", "pca", "small-hog")
SMALL_HOG = {"pixels_per_cell": (16, 16)}


def extractor(family: str):
    """The extractor exactly as make_features builds it (``hog16``: the smaller HOG)."""
    from featbus.pipelines import make_features

    if family == "hog16":
        est = make_features(["hog"]).transformer_list[0][1]
        return est.set_params(**SMALL_HOG)
    return make_features([family]).transformer_list[0][1]


def cached_features(family: str, data, cache_dir: Path) -> np.ndarray:
    """One family's features for every image, computed once and kept in ``cache_dir``."""
    import featbus

    est = extractor(family)
    params = {k: repr(v) for k, v in sorted(est.get_params().items()) if k not in ("n_jobs", "progress")}
    files = "|".join(str(getattr(r, "path", i)) for i, r in enumerate(data.data))
    key = hashlib.sha256(json.dumps([family, type(est).__name__, params, featbus.__version__,
                                     files]).encode()).hexdigest()[:16]
    path = cache_dir / f"{family}-{key}.npy"
    if path.is_file():
        return np.load(path)
    t0 = time.perf_counter()
    if "n_jobs" in est.get_params():
        est.set_params(n_jobs=2)
    X = np.asarray(est.fit_transform(data.data), dtype=np.float64)
    print(f"  extracted {family}: {X.shape[1]} columns in {time.perf_counter() - t0:.0f} s", flush=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    return X


def _columns(start: int, stop: int):
    from sklearn.preprocessing import FunctionTransformer

    # a picklable column slice: the block of one family in the cached matrix
    return FunctionTransformer(_take, kw_args={"start": start, "stop": stop})


def _take(X, start, stop):
    return X[:, start:stop]


def tail(union: str, blocks: dict[str, np.ndarray]):
    """(matrix, pipeline) for one candidate: the learning part of make_pipeline."""
    from featbus.pipelines import FamilyUnion, make_pipeline

    names = list(blocks)
    X = np.hstack([blocks[n] for n in names])
    if len(names) == 1 or union in ("concat", "small-hog"):
        return X, make_pipeline(None, balance="smote", classifier="svm")  # one StandardScaler
    bounds = np.cumsum([0] + [blocks[n].shape[1] for n in names])
    parts = [(n, _columns(int(a), int(b))) for n, a, b in zip(names, bounds[:-1], bounds[1:])]
    joined = FamilyUnion(parts, family_scaling=union)
    pipe = make_pipeline(None, balance="smote", classifier="svm", scale=False)
    pipe.steps.insert(0, ("features", joined))
    return X, pipe


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--unions", default=",".join(UNIONS))
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "featbus" / "feature_families"))
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--extract-only", action="store_true")
    args = ap.parse_args(argv)

    from featbus import load_busi
    from featbus.evaluation import compare, evaluate

    data = load_busi(args.data)
    y, groups = np.asarray(data.target), np.asarray(data.groups)
    print(f"BUSI: {len(y)} images, {np.unique(groups).size} near-duplicate groups, "
          f"classes {list(data.target_names)}", flush=True)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unions = [u.strip() for u in args.unions.split(",") if u.strip()]
    cache = Path(args.cache_dir)
    feats = {f: cached_features(f, data, cache) for f in families}
    if "small-hog" in unions and "hog" in families:
        feats["hog16"] = cached_features("hog16", data, cache)
    if args.extract_only:
        return

    def run(name, blocks, union):
        X, pipe = tail(union, blocks)
        t0 = time.perf_counter()
        rep = evaluate(pipe, X, y, groups=groups, cv="duplicate-grouped", n_splits=5,
                       n_bootstrap=args.n_bootstrap, random_state=0, name=name,
                       target_names=data.target_names)
        return rep, X.shape[1], time.perf_counter() - t0

    rows = []
    singles = {}
    for f in families + (["hog16"] if "hog16" in feats else []):
        rep, ncol, secs = run(f, {f: feats[f]}, "concat")
        singles[f] = rep
        rows.append((f, "-", ncol, rep, secs))
    for u in unions:
        blocks = {("hog16" if (f == "hog" and u == "small-hog") else f): feats[f if not (f == "hog" and u == "small-hog") else "hog16"]
                  for f in families}
        if len(blocks) < 2:
            continue
        rep, ncol, secs = run("+".join(families), blocks, u)
        rows.append(("+".join(families), u, ncol, rep, secs))

    def fmt(rep, metric, cls):
        lo, hi = rep.interval(metric, cls)
        return f"{rep.value(metric, cls):.3f} [{lo:.3f}, {hi:.3f}]"

    print("\nduplicate-grouped 5-fold CV, SMOTE + RBF SVC (C=1, gamma='scale'); "
          f"95% intervals: bootstrap over near-duplicate groups ({args.n_bootstrap} resamples)")
    print(f"{'features':45} {'joining':9} {'columns':>7}  {'accuracy':>22}  {'malignant AUC':>22}  {'CV s':>5}")
    for name, u, ncol, rep, secs in rows:
        print(f"{name:45} {u:9} {ncol:7d}  {fmt(rep, 'accuracy', 'macro'):>22}  "
              f"{fmt(rep, 'auc', 'malignant'):>22}  {secs:5.1f}")

    best = max(singles, key=lambda f: singles[f].value("accuracy"))
    print(f"\nunion minus its best single family ({best}), paired bootstrap over groups:")
    for name, u, ncol, rep, secs in rows:
        if u == "-":
            continue
        for metric, cls in (("accuracy", "macro"), ("auc", "malignant")):
            row = compare([rep, singles[best]], metric=metric, cls=cls).iloc[0]
            print(f"  {u:9} {metric:8} {row['difference']:+.3f} [{row['diff_low']:+.3f}, {row['diff_high']:+.3f}]"
                  f"  p={row['p_bootstrap']:.3f}")


if __name__ == "__main__":
    main()
