"""Each feature family alone and their union, by duplicate-grouped 5-fold CV on BUSI.

This script is the source of the BUSI classification numbers quoted in ``README.md`` and in
the pipelines and leak-free CV pages of the user guide, and the measurement behind
:func:`featbus.pipelines.make_classification_pipeline`'s way of joining feature families
(``family_scaling``). On a shared two-core machine the extraction took about 30 s (then it is
read from the cache) and the cross-validation of every candidate about 10 minutes.

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
   default ``C=1, gamma="scale"``, i.e. ``make_classification_pipeline(..., balance="smote",
   classifier="svm")``) with :class:`featbus.DuplicateGroupKFold` (5 folds, stratified,
   the folds of :func:`featbus.evaluation.evaluate`). A union is rebuilt from the cached
   blocks with ``make_classification_pipeline(None, blocks=<family widths>, family_scaling=...)``, whose
   :class:`~featbus.compute.scaling.FamilyScaler` is the very scaling the ``"features"`` step
   (:class:`~featbus.compute.scaling.FamilyUnion`) applies, fitted on training folds only.
4. Prints accuracy and malignant-vs-rest AUC with 95% intervals from a bootstrap over the
   near-duplicate groups (1000 resamples of the out-of-fold predictions; whole groups are
   resampled, so copies of a lesion count once), and the paired bootstrap difference of each
   union against its best single family.

Candidates for joining families (``--unions``):

* ``concat``: plain concatenation then one StandardScaler over all columns
  (``family_scaling="standard"``, the joining before this benchmark, "before");
* ``equal`` (``family_scaling="equal"``, the default it chose): every column standardised,
  every family's block weighted so that each family carries the same total variance
  (``1/sqrt(n_columns)``, rescaled so the whole matrix keeps the total variance of plain
  standardisation);
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

from featbus import get_data_home

DEFAULT_DATA = get_data_home() / "busi"
FAMILIES = ("efficientnet_lite0", "hog", "lbp", "intensity", "glcm")
UNIONS = ("concat", "equal", "pca", "small-hog")
DEFAULT_FEATURES = ("hog", "lbp", "intensity")  # make_classification_pipeline's default
SETS = (FAMILIES, ("efficientnet_lite0", "hog", "lbp", "intensity"), DEFAULT_FEATURES)
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


def tail(union: str, blocks: dict[str, np.ndarray]):
    """(matrix, pipeline) for one candidate: the learning part of ``make_classification_pipeline``.

    ``make_classification_pipeline(features, ...)`` joins its families in a FamilyUnion whose scaling is a
    FamilyScaler over the parts' widths; on the cached matrix ``make_classification_pipeline(None,
    blocks=widths, ...)`` runs that same FamilyScaler, fitted on the training fold only.
    """
    from featbus.pipelines import make_classification_pipeline

    X = np.hstack(list(blocks.values()))
    if union in ("concat", "small-hog"):  # one StandardScaler over all columns
        return X, make_classification_pipeline(None, balance="smote", classifier="svm", family_scaling="standard")
    widths = [b.shape[1] for b in blocks.values()]
    return X, make_classification_pipeline(None, balance="smote", classifier="svm", blocks=widths, family_scaling=union)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--families", default=",".join(FAMILIES), help="the single families")
    ap.add_argument("--sets", default=";".join(",".join(s) for s in SETS),
                    help="unions to join, ';' between unions, ',' between families")
    ap.add_argument("--unions", default=",".join(UNIONS), help="ways of joining, see above")
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "featbus" / "feature_families"))
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--extract-only", action="store_true")
    args = ap.parse_args(argv)

    from featbus import load_busi
    from featbus.evaluation import compare, evaluate

    data = load_busi(args.data)
    y, groups = np.asarray(data.target), np.asarray(data.groups)
    print(f"BUSI: {len(y)} images, {np.unique(groups).size} near-duplicate groups, "
          f"classes {[str(c) for c in data.target_names]}", flush=True)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    sets = [[f.strip() for f in u.split(",") if f.strip()] for u in args.sets.split(";") if u.strip()]
    unions = [u.strip() for u in args.unions.split(",") if u.strip()]
    needed = list(dict.fromkeys(families + [f for st in sets for f in st]
                                + (["hog16"] if "small-hog" in unions else [])))
    feats = {f: cached_features(f, data, Path(args.cache_dir)) for f in needed}
    if args.extract_only:
        return

    def run(blocks, union, cv="duplicate-grouped"):
        X, pipe = tail(union, blocks)
        t0 = time.perf_counter()
        rep = evaluate(pipe, X, y, groups=groups, cv=cv, n_splits=5, n_bootstrap=args.n_bootstrap,
                       random_state=0, name="+".join(blocks), target_names=data.target_names)
        return rep, time.perf_counter() - t0

    def fmt(rep, metric, cls="macro"):
        lo, hi = rep.interval(metric, cls)
        return f"{rep.value(metric, cls):.3f} [{lo:.3f}, {hi:.3f}]"

    def line(name, joining, ncol, rep, secs):
        print(f"{name:45} {joining:9} {ncol:7d}  {fmt(rep, 'accuracy'):>22}  "
              f"{fmt(rep, 'auc', 'malignant'):>22}  {secs:5.1f}", flush=True)

    print("\nduplicate-grouped 5-fold CV, SMOTE + RBF SVC (C=1, gamma='scale'); 95% intervals: "
          f"bootstrap over near-duplicate groups ({args.n_bootstrap} resamples)")
    print(f"{'features':45} {'joining':9} {'columns':>7}  {'accuracy':>22}  {'malignant AUC':>22}  {'CV s':>5}")
    singles = {}
    for f in families + (["hog16"] if "small-hog" in unions else []):
        singles[f], secs = run({f: feats[f]}, "concat")
        line(f, "-", feats[f].shape[1], singles[f], secs)
    diffs = []
    for st in sets:
        reports = {}
        for u in unions:
            use = [("hog16" if (f == "hog" and u == "small-hog") else f) for f in st]
            if u == "small-hog" and "hog" not in st:
                continue
            blocks = {f: feats[f] for f in use}
            reports[u], secs = run(blocks, u)
            line("+".join(st), u, sum(b.shape[1] for b in blocks.values()), reports[u], secs)
        members = [f for f in st if f in singles]
        if members:
            best = max(members, key=lambda f: singles[f].value("accuracy"))
            diffs.append(("+".join(st), best, reports))

    print("\nunion minus its best member (by accuracy), paired bootstrap over groups: "
          "difference [95% interval] p")
    for name, best, reports in diffs:
        print(f"{name} vs {best}:")
        for u, rep in reports.items():
            acc = compare([rep, singles[best]], metric="accuracy").iloc[0]
            auc = compare([rep, singles[best]], metric="auc", cls="malignant").iloc[0]
            print(f"  {u:9} accuracy {acc['difference']:+.3f} [{acc['diff_low']:+.3f}, {acc['diff_high']:+.3f}] "
                  f"p={acc['p_bootstrap']:.3f}   malignant AUC {auc['difference']:+.3f} "
                  f"[{auc['diff_low']:+.3f}, {auc['diff_high']:+.3f}] p={auc['p_bootstrap']:.3f}")

    # the leak the grouped folds remove: make_classification_pipeline's default features, stratified vs grouped
    default = list(DEFAULT_FEATURES)
    if all(f in feats for f in default):
        blocks = {f: feats[f] for f in default}
        print(f"\nmake_pipeline default ({'+'.join(default)}, family_scaling='equal'), "
              "same pipeline, two ways of splitting:")
        for cv in ("stratified", "duplicate-grouped"):
            rep, secs = run(blocks, "equal", cv=cv)
            print(f"  {cv:18} accuracy {fmt(rep, 'accuracy')}   malignant AUC {fmt(rep, 'auc', 'malignant')}")


if __name__ == "__main__":
    main()
