"""
Why near-duplicates must stay in one fold
=========================================

BUSI holds many near-copies of one lesion. Here each phantom is saved twice, the copy with a
little noise, and a 1-nearest-neighbour classifier is cross-validated on random folds and on
folds that keep the copies together (:class:`featbus.DuplicateGroupKFold`). Random folds
score the memory of the training set, not the features.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from featbus import DuplicateGroupKFold, ImageRecord, duplicate_groups, make_phantoms
from featbus.evaluation import evaluate
from featbus.pipelines import make_features

data = make_phantoms(60, image_size=64, random_state=0)
rng = np.random.default_rng(0)
records, y = [], []
for rec, label in zip(data.data, data.target):
    copy = np.clip(rec.image + rng.integers(-3, 4, rec.image.shape), 0, 255).astype(np.uint8)
    records += [rec, ImageRecord(copy, rec.mask, rec.path + "-copy")]
    y += [label, label]
y = np.array(y)
groups = duplicate_groups(records)
print(f"{len(records)} images in {len(set(groups))} near-duplicate groups")

# %%
# Features once (extractors learn nothing), then two cross-validations
scores = {}
for region in ["image", "mask"]:
    X = make_features(["lbp", "intensity"], region=region).fit_transform(records)
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(1))
    scores[f"{region}, random folds"] = cross_val_score(
        knn, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()
    scores[f"{region}, grouped folds"] = cross_val_score(
        knn, X, y, cv=DuplicateGroupKFold(5), groups=groups).mean()
for k, v in scores.items():
    print(f"{k:<22} accuracy {v:.2f}")

fig, ax = plt.subplots(figsize=(6, 2.8))
colors = ["tab:red" if "random" in k else "tab:blue" for k in scores]
ax.barh(list(scores), list(scores.values()), color=colors)
ax.axvline(1 / 3, color="gray", ls="--", lw=1, label="chance")
ax.set_xlim(0, 1)
ax.set_xlabel("cross-validated accuracy (1-NN)")
ax.legend(loc="lower right")
fig.tight_layout()

# %%
# The honest estimate, with bootstrap intervals over groups: :func:`featbus.evaluation.evaluate`
# uses duplicate-grouped folds by default
X = make_features(["lbp", "intensity", "shape"], region="mask").fit_transform(records)
report = evaluate(make_pipeline(StandardScaler(), KNeighborsClassifier(5)), X, y, groups=groups,
                  target_names=list(data.target_names), n_bootstrap=300, name="lesion 5-NN")
print(report.summary())
report.plot_confusion_matrix()
