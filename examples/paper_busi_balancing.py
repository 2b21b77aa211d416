"""
Paper pipeline: class balancing before training, done right and done the leaky way
==================================================================================

    python examples/paper_busi_balancing.py

BUSI is imbalanced (345 benign, 169 malignant, 111 normal). Papers balance it with SMOTE and
variants; some oversample the whole data set before splitting it, which puts synthetic
neighbours of test images into training and inflates the scores. featbus pipelines put the
sampler inside the pipeline, so it only ever sees training folds. This compares, on
EfficientNet-Lite0 + LBP + intensity features, duplicate-grouped 5-fold CV:
no balancing, class weights, SMOTE, Borderline-SMOTE, ADASYN, random oversampling (all inside
the folds), and SMOTE applied to the whole set before a stratified split (the leaky way).
"""

# sphinx_gallery_thumbnail_path = "_static/gallery/paper_busi_balancing.png"

from __future__ import annotations

import numpy as np
from _paper_common import CACHE, DATA, deep_matrix, table
from imblearn.over_sampling import SMOTE

from featbus import load_busi
from featbus.evaluation import evaluate
from featbus.pipelines import extract_features, make_classification_pipeline

METRICS = (("accuracy", "accuracy", "macro"), ("macro F1", "f1", "macro"),
           ("malignant sensitivity", "sensitivity", "malignant"))


def main() -> None:
    data = load_busi(DATA / "busi")
    hand, _ = extract_features(data, ["lbp", "intensity"], cache=CACHE)
    X = np.hstack([deep_matrix(data, "efficientnet_lite0", pooling=("avg", "max")), hand])
    rows = []
    for balance in (None, "class-weight", "smote", "borderline-smote", "adasyn", "oversample"):
        pipe = make_classification_pipeline(None, balance=balance, classifier="svm")
        rep = evaluate(pipe, X, data.target, cv="duplicate-grouped", groups=data.groups,
                       target_names=data.target_names)
        rows.append((f"{balance or 'none'} (inside folds)", "duplicate-grouped", rep))
    # The leaky way: oversample everything, then split. Synthetic points interpolate between
    # real images, so every test fold holds near-copies of training points.
    Xs, ys = SMOTE(random_state=0).fit_resample(X, data.target)
    rep = evaluate(make_classification_pipeline(None, classifier="svm"), Xs, ys, cv="stratified",
                   target_names=data.target_names)
    rows.append(("SMOTE on all data, then split", "stratified", rep))
    table(rows, METRICS)


if __name__ == "__main__":
    main()
