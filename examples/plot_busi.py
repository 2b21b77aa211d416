"""
BUSI: real ultrasound, grouped near-duplicates
==============================================

Runs on the BUSI data set (Al-Dhabyani et al., *Data in Brief* 28:104863, 2020) when a copy
lies beside the repository at ``../shared/data/busi`` (or under ``$FEATBUS_DATA``); featbus never
downloads it. Without the data this page only says so.

Whole-image HOG, LBP and intensity features are extracted once (the extractors learn nothing),
and one SVM pipeline is cross-validated twice: on stratified folds and on near-duplicate-grouped
folds. The grouped estimate is the lower, honest one. (Features from the ground-truth lesion
masks score far higher, but new images come without masks: see the segmentation guide.)
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from featbus import get_data_home, load_busi
from featbus.evaluation import evaluate
from featbus.pipelines import make_classification_pipeline, make_features

root = get_data_home() / "busi"  # $FEATBUS_DATA/busi, else ../shared/data/busi
root = root if root.is_dir() else None
print("BUSI found at", root if root else "nowhere: this example needs ../shared/data/busi")

# %%
# Images, masks and near-duplicate groups
if root is not None:
    busi = load_busi(root)
    sizes, counts = np.unique(busi.groups, return_counts=True)
    print(f"{len(busi.images)} images, classes {busi.target_names.tolist()}, "
          f"{len(sizes)} groups, {np.sum(counts > 1)} of them with near-duplicates")

    fig, axes = plt.subplots(2, 3, figsize=(8, 5))
    for col, name in enumerate(busi.target_names):
        for row, i in enumerate(np.flatnonzero(busi.target == col)[:2]):
            ax = axes[row, col]
            ax.imshow(busi.images[i], cmap="gray")
            if busi.masks[i].any():
                ax.contour(busi.masks[i], levels=[0.5], colors="tab:orange", linewidths=1)
            ax.set_title(name if row == 0 else "", fontsize=9)
            ax.axis("off")
    fig.tight_layout()

    # a group of near-duplicates: the same lesion saved more than once
    dup = sizes[np.argmax(counts)]
    members = np.flatnonzero(busi.groups == dup)[:3]
    fig, axes = plt.subplots(1, len(members), figsize=(3 * len(members), 2.8))
    for ax, i in zip(np.atleast_1d(axes), members):
        ax.imshow(busi.images[i], cmap="gray")
        ax.set_title(Path(busi.paths[i]).name, fontsize=8)
        ax.axis("off")
    fig.suptitle("one near-duplicate group", fontsize=10)
    fig.tight_layout()

# %%
# Whole-image texture and intensity; an SVM on stratified and on grouped folds
if root is not None:
    X = make_features(["hog", "lbp", "intensity"], n_jobs=2).fit_transform(busi.images)
    reports = [evaluate(make_classification_pipeline(None, classifier="svm"), X, busi.target, groups=busi.groups,
                        cv=cv, n_bootstrap=300, target_names=list(busi.target_names), name=cv)
               for cv in ["stratified", "duplicate-grouped"]]
    for r in reports:
        low, high = r.interval("accuracy")
        print(f"{r.name:<18} accuracy {r.value('accuracy'):.3f}  95% CI [{low:.3f}, {high:.3f}]")
    reports[1].plot_confusion_matrix()
