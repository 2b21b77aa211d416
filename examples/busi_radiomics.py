"""
Radiomics texture families on BUSI: each alone, all together, all with feature selection
========================================================================================

    python examples/busi_radiomics.py [BUSI_DIR] [--size 192] [--n-jobs 1]

Every family of featbus' radiomics set (IBSI texture matrices GLRLM, GLSZM, GLDZM, NGTDM,
GLDM; filter families Gabor, Laws, wavelet, LoG, fractal) and GLCM as the established baseline,
computed on the whole image (no ground-truth mask is used, so the same features exist at
prediction time), scaled and classified by an RBF SVM. "all" joins the families; "all +
select" puts a selection step (``select=``) between scaling and the SVM, fitted inside every
training fold. Evaluation: duplicate-grouped 5-fold CV (BUSI's near-duplicate groups from
:func:`featbus.load_busi`), accuracy, macro F1 and malignant-vs-rest AUC with bootstrap 95%
intervals over groups.

To stay affordable on a shared 2-core machine: images are resized to ``--size`` x ``--size``
first (area interpolation), and the extractors, which learn nothing from labels or other
images, run once for all images (exactly what a pipeline would compute per fold); the scaler,
the selector and the SVM are fitted per training fold. Matrices are cached in
``examples/out/cache`` (git-ignored) so reruns skip extraction.

Data: Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images.
Data in Brief 28:104863 (2020).
"""

# a still drawn by docs/make_gallery_thumbnails.py (this example is not run by the docs build)
# sphinx_gallery_thumbnail_path = "_static/gallery/busi_radiomics.png"

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from featbus import Resize, get_data_home
from featbus.datasets import load_busi
from featbus.evaluation import evaluate
from featbus.pipelines import make_classification_pipeline, make_features

FAMILIES = ["glcm", "glrlm", "glszm", "gldzm", "ngtdm", "gldm", "gabor", "laws", "wavelet", "log",
            "fractal"]
SELECTIONS = ["kbest", "kbest-mi", "l1", "pca"]
CACHE = Path(__file__).resolve().parent / "out" / "cache"


def family_matrix(name: str, images, size: int, n_jobs) -> tuple[np.ndarray, float]:
    """One family's features for all images (cached); seconds spent extracting (0 if cached)."""
    path = CACHE / f"busi_radiomics_{name}_{size}.npy"
    if path.is_file():
        return np.load(path), 0.0
    t0 = time.perf_counter()
    X = make_features([name], n_jobs=n_jobs).fit_transform(images)
    seconds = time.perf_counter() - t0
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    return X, seconds


def main() -> None:
    default = get_data_home() / "busi"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("busi", nargs="?", default=str(default), help="BUSI folder (default ../shared/data/busi)")
    ap.add_argument("--size", type=int, default=192, help="resize images to SIZE x SIZE first")
    ap.add_argument("--n-jobs", type=int, default=1)
    args = ap.parse_args()

    t0 = time.perf_counter()
    data = load_busi(args.busi)
    n_groups = len(set(data.groups.tolist()))
    print(f"BUSI: {len(data.target)} images, {n_groups} near-duplicate groups; "
          f"resized to {args.size}x{args.size}; whole image (region='image'), no masks used")
    images = Resize(size=(args.size, args.size), n_jobs=args.n_jobs).fit_transform(data.data)

    matrices = {}
    for name in FAMILIES:
        X, seconds = family_matrix(name, images, args.size, args.n_jobs)
        matrices[name] = X
        took = f"{seconds:.0f} s ({len(images) / seconds:.1f} img/s)" if seconds else "cached"
        print(f"  {name:<8} {X.shape[1]:>3} features, extraction {took}")

    runs = [(name, matrices[name], None) for name in FAMILIES]
    X_all = np.hstack([matrices[n] for n in FAMILIES])
    runs.append(("all", X_all, None))
    runs += [(f"all + select={s}", X_all, s) for s in SELECTIONS]

    metrics = (("accuracy", "accuracy", "macro"), ("macro F1", "f1", "macro"),
               ("malignant AUC", "auc", "malignant"))
    print("\nduplicate-grouped 5-fold CV, scale -> [select] -> SVM (RBF, C=1); 95% bootstrap CIs over groups")
    print(f"{'features':<24}{'n':>5}" + "".join(f"{m[0]:>22}" for m in metrics))
    # gldm.dependence_count_percentage is 1 for every image by definition (IBSI keeps it):
    # the ANOVA F of a constant column is undefined, and SelectKBest ranks it last, with a warning
    warnings.filterwarnings("ignore", message="Features .* are constant", category=UserWarning)
    warnings.filterwarnings("ignore", message="invalid value encountered in divide", category=RuntimeWarning)
    for label, X, select in runs:
        pipe = make_classification_pipeline(None, select=select, classifier="svm")
        rep = evaluate(pipe, X, data.target, cv="duplicate-grouped", n_splits=5, groups=data.groups,
                       n_bootstrap=1000, target_names=data.target_names, name=label)
        cells = []
        for _, metric, cls in metrics:
            lo, hi = rep.interval(metric, cls)
            cells.append(f"{rep.value(metric, cls):.3f} [{lo:.2f}, {hi:.2f}]")
        print(f"{label:<24}{X.shape[1]:>5}" + "".join(f"{c:>22}" for c in cells))
    print("select: kbest = SelectKBest(ANOVA F, k=50); kbest-mi = mutual information, k=50; "
          "l1 = L1 linear SVM (C=0.1); pca = 95% variance")
    print(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
