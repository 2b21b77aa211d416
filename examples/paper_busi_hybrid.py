"""
Paper pipeline: handcrafted HOG + LBP features, CNN features, and both, on BUSI
===============================================================================

    python examples/paper_busi_hybrid.py

Several papers concatenate HOG and LBP histograms with frozen CNN features before an SVM. This
runs the three variants (handcrafted only, CNN only, hybrid) with the same classifier, on plain
stratified and on near-duplicate-grouped 5-fold CV, side by side. The CNN is EfficientNet-Lite0
(ImageNet weights that install offline), mid-level block, average and max pooled.
"""

# sphinx_gallery_thumbnail_path = "_static/gallery/paper_busi_hybrid.png"

from __future__ import annotations

import numpy as np
from _paper_common import CACHE, DATA, deep_matrix, table

from featbus import load_busi
from featbus.evaluation import evaluate
from featbus.pipelines import extract_features, make_classification_pipeline


def main() -> None:
    data = load_busi(DATA / "busi")
    handcrafted, _ = extract_features(data, ["hog", "lbp"], cache=CACHE)
    cnn = deep_matrix(data, "efficientnet_lite0", pooling=("avg", "max"))
    variants = {"HOG + LBP": handcrafted, "EfficientNet-Lite0": cnn,
                "HOG + LBP + EfficientNet-Lite0": np.hstack([handcrafted, cnn])}
    rows = []
    for label, X in variants.items():
        for cv in ("stratified", "duplicate-grouped"):
            rep = evaluate(make_classification_pipeline(None, classifier="svm"), X, data.target, cv=cv,
                           groups=data.groups, target_names=data.target_names)
            rows.append((f"{label} ({X.shape[1]} feat.)", cv, rep))
    table(rows)


if __name__ == "__main__":
    main()
