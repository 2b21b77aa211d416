"""
BUSI: EfficientNet-Lite0 ImageNet features (+ handcrafted texture) -> SVM, duplicate-grouped CV
===============================================================================================

Data: Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. *Dataset of breast ultrasound images.*
Data in Brief 28:104863 (2020) (the featbus copy: 625 images, benign/malignant/normal).

BUSI holds many near-duplicate images, so folds keep near-duplicates together
(:class:`featbus.DuplicateGroupKFold` with the groups of :func:`featbus.load_busi`).

Part 1 compares feature layers of the frozen network (one CNN pass for all of them):
the last layer versus mid-level blocks; it is the measurement behind DeepFeatures' default
layer for ``efficientnet_lite0``. Part 2 adds handcrafted features (HOG, LBP, intensity
statistics, GLCM). All extractors are stateless per-image transformers, so features are computed
once and only the scaler and SVM are fitted per fold (identical to a FeatureUnion pipeline
inside each fold, and much faster).

Metrics: accuracy, macro-F1 and the malignant-vs-rest ROC AUC from the SVC's one-vs-rest
``decision_function`` (no ``probability=True``), pooled over the out-of-fold predictions
(:func:`featbus.evaluation.evaluate` with the data set's groups).

Run from the repository root (a few minutes on 2 CPUs)::

    python examples/busi_deep.py
    python examples/busi_deep.py --data ../shared/data/busi --no-handcrafted
"""

# a still drawn by docs/make_gallery_thumbnails.py (this example is not run by the docs build)
# sphinx_gallery_thumbnail_path = "_static/gallery/busi_deep.png"

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from featbus import get_data_home
from featbus.evaluation import evaluate

DEFAULT_DATA = get_data_home() / "busi"


def scores(model, X, data, name: str):
    """featbus's leak-free evaluation on a feature matrix: the data set's near-duplicate groups
    stay in one fold (the same folds for every call), metrics from the pooled held-out scores."""
    report = evaluate(model, X, data.target, groups=data.groups, cv="duplicate-grouped", n_splits=5,
                      n_bootstrap=0, name=name, target_names=data.target_names, progress=False)
    return dict(acc=report.value("accuracy"), f1=report.value("f1"), auc=report.value("auc", "malignant"))


def svm():
    return make_pipeline(StandardScaler(), SVC(C=1.0, class_weight="balanced"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--no-handcrafted", action="store_true", help="skip part 2's handcrafted features")
    args = ap.parse_args(argv)

    import featbus
    from featbus import DeepFeatures

    data = featbus.load_busi(args.data)
    X, y, groups = data.data, np.asarray(data.target), np.asarray(data.groups)
    print(f"BUSI: {len(X)} images, classes {dict(zip(data.target_names, np.bincount(y).tolist()))}, "
          f"{len(np.unique(groups))} near-duplicate groups; CV: duplicate-grouped 5-fold (featbus.evaluate)")

    # Part 1: which layer? One pass through the network gives every candidate layer.
    layers = {"top_activation": "stride 32, last layer", "block6d_add": "stride 32, 192 ch",
              "block5c_add": "stride 16, 112 ch", "block4c_add": "stride 16, 80 ch",
              "block3b_add": "stride 8, 40 ch"}
    t0 = time.perf_counter()
    deep_all = DeepFeatures(backbone="efficientnet_lite0", layers=list(layers), pooling=("avg", "max"),
                            progress=True)
    F = deep_all.fit_transform(X)
    names = deep_all.get_feature_names_out()
    layer_of = np.array([n.split(".")[1] for n in names])
    pool_of = np.array([n.split(".")[2] for n in names])
    print(f"\nPart 1: EfficientNet-Lite0 (ImageNet) features of {len(layers)} layers in one pass, "
          f"{time.perf_counter() - t0:.0f} s")
    print(f"{'layer':<26}{'':<22}{'pool':<9}{'n':>6}{'acc':>7}{'mF1':>7}{'mAUC':>7}")
    rows = [(layer, what, pools) for layer, what in layers.items() for pools in (("avg",), ("avg", "max"))]
    rows.append(("block5c_add+block6d_add", "stride 16 + 32", ("avg", "max")))
    for layer, what, pools in rows:
        cols = np.isin(layer_of, layer.split("+")) & np.isin(pool_of, pools)
        r = scores(svm(), F[:, cols], data, layer)
        print(f"{layer:<26}{what:<22}{'+'.join(pools):<9}{cols.sum():>6}"
              f"{r['acc']:>7.3f}{r['f1']:>7.3f}{r['auc']:>7.3f}", flush=True)

    # Part 2: DeepFeatures defaults for Lite0 (block6d_add) with avg+max, plus handcrafted features.
    # Every extractor here is stateless and per-image (fit learns nothing), so computing the
    # features once before CV is exactly what FeatureUnion inside each fold would compute.
    deep_cols = (layer_of == "block6d_add")
    blocks = {"deep (block6d_add avg+max)": F[:, deep_cols]}
    if not args.no_handcrafted:
        try:
            hand = [featbus.HOGFeatures(size=(64, 64)), featbus.LBPFeatures(), featbus.IntensityStats(),
                    featbus.GLCMFeatures()]
        except (ImportError, AttributeError) as exc:
            print(f"(handcrafted features unavailable: {exc})")
            hand = []
        t0 = time.perf_counter()
        for ext in hand:
            blocks[type(ext).__name__] = ext.fit_transform(X)
        if hand:
            print(f"\nPart 2: handcrafted features computed in {time.perf_counter() - t0:.0f} s")
            H = np.hstack([blocks[type(e).__name__] for e in hand])
            blocks = {"deep (block6d_add avg+max)": blocks["deep (block6d_add avg+max)"],
                      "handcrafted (HOG64+LBP+intensity+GLCM)": H,
                      "handcrafted without HOG": np.hstack([blocks[type(e).__name__] for e in hand[1:]]),
                      "deep + handcrafted without HOG": np.hstack([F[:, deep_cols]] + [blocks[type(e).__name__]
                                                                                      for e in hand[1:]]),
                      "deep + all handcrafted": np.hstack([F[:, deep_cols], H])}
    print(f"{'features -> StandardScaler -> SVC(balanced)':<46}{'n':>6}{'acc':>7}{'mF1':>7}{'mAUC':>7}")
    for label, M in blocks.items():
        r = scores(svm(), M, data, label)
        print(f"{label:<46}{M.shape[1]:>6}{r['acc']:>7.3f}{r['f1']:>7.3f}{r['auc']:>7.3f}", flush=True)


if __name__ == "__main__":
    main()
