"""
Handcrafted features -> SVM on BUSI: plain stratified vs duplicate-grouped 5-fold CV
====================================================================================

    python examples/busi_handcrafted.py [BUSI_DIR] [--cache examples/out/cache]

HOG + LBP + intensity statistics + GLCM + lesion shape, scaled, into an RBF SVM. BUSI holds
many near-duplicate images (the same lesion scanned twice); plain stratified folds put copies
on both sides of a split and inflate every score, duplicate-grouped folds do not. This prints
accuracy, macro F1 and malignant-vs-rest AUC for both, side by side.

Masks: ``ShapeFeatures`` describes the lesion outline, so it needs a mask. Here the
ground-truth masks of BUSI travel with the images (``Bunch.data`` records); at prediction time
a segmenter (``featbus.UNetSegmenter``) must provide them, and these numbers assume a perfect one.

Feature extractors learn nothing from labels or pixel statistics, so the features are computed
once for all images; the scaler and the SVM are fitted inside each training fold.

Data: Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images.
Data in Brief 28:104863 (2020).
"""

# a still drawn by docs/make_gallery_thumbnails.py (this example is not run by the docs build)
# sphinx_gallery_thumbnail_path = "_static/gallery/busi_handcrafted.png"

from __future__ import annotations

import argparse
import time

from featbus import get_data_home
from featbus.datasets import load_busi
from featbus.evaluation import evaluate
from featbus.pipelines import extract_features, make_classification_pipeline

FEATURES = ["hog", "lbp", "intensity", "glcm", "shape"]


def main() -> None:
    default = get_data_home() / "busi"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("busi", nargs="?", default=str(default), help="BUSI folder (default ../shared/data/busi)")
    ap.add_argument("--cache", default=None, help="feature cache folder (e.g. examples/out/cache)")
    ap.add_argument("--n-jobs", type=int, default=None)
    args = ap.parse_args()

    t0 = time.perf_counter()
    data = load_busi(args.busi)
    print(f"BUSI: {len(data.target)} images, {len(set(data.groups.tolist()))} near-duplicate groups")

    pipe = make_classification_pipeline(FEATURES, classifier="svm", n_jobs=args.n_jobs)
    print(pipe)
    # The "features" step is per-image and label-free: compute it once, cross-validate the rest.
    X, _ = extract_features(data, FEATURES, n_jobs=args.n_jobs, cache=args.cache)
    tail = pipe[1:]  # scale -> SVC

    rows = {}
    for cv in ("stratified", "duplicate-grouped"):
        rep = evaluate(tail, X, data.target, cv=cv, n_splits=5, groups=data.groups, n_bootstrap=1000,
                       target_names=data.target_names, name=cv)
        rows[cv] = rep
    print(f"\n{'':26}{'stratified 5-fold':>22}{'duplicate-grouped 5-fold':>28}")
    for label, metric, cls in (("accuracy", "accuracy", "macro"), ("macro F1", "f1", "macro"),
                               ("malignant-vs-rest AUC", "auc", "malignant")):
        cells = []
        for cv in ("stratified", "duplicate-grouped"):
            lo, hi = rows[cv].interval(metric, cls)
            cells.append(f"{rows[cv].value(metric, cls):.3f} [{lo:.3f}, {hi:.3f}]")
        print(f"{label:26}{cells[0]:>22}{cells[1]:>28}")
    print("(95% CIs: bootstrap over near-duplicate groups; shape features use ground-truth masks)")
    print(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
