"""Classify featbus's bundled sample (52 breast-ultrasound images) the way featbus's README and
docs show, as a project depending on featbus would: handcrafted features (HOG, LBP, intensity)
joined by :class:`featbus.FamilyUnion`, a scaling step and an SVC, tuned by scikit-learn's
``GridSearchCV`` with :class:`featbus.DuplicateGroupKFold` and near-duplicate groups
(:func:`featbus.duplicate_groups`), pandas output, and a pickle that predicts the same in a new
process.

Run ``python -m downstream_demo`` (about 10 s on one core).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import featbus
from featbus import DuplicateGroupKFold, FamilyUnion, HOGFeatures, IntensityStats, LBPFeatures

# What a new process runs on the pickle: load it, predict the images stored beside it.
_RELOAD = """
import pickle, sys
import numpy as np
with open(sys.argv[1], "rb") as f:
    model = pickle.load(f)
images = list(np.load(sys.argv[2], allow_pickle=False).values())
np.save(sys.argv[3], model.predict(images))
"""


def build_search(n_splits: int = 3, n_jobs: int | None = None) -> GridSearchCV:
    """The grid search: features + scaling + SVC, tuned over the scaling and ``C`` in folds
    that keep near-duplicate groups whole."""
    features = FamilyUnion([("hog", HOGFeatures(size=(64, 64), progress=False)),
                            ("lbp", LBPFeatures(progress=False)),
                            ("intensity", IntensityStats(progress=False))])
    pipe = Pipeline([("features", features), ("scale", StandardScaler()),
                     ("svc", SVC(class_weight="balanced"))])
    grid = {"scale": [StandardScaler(), "passthrough"], "svc__C": [1.0, 10.0]}
    return GridSearchCV(pipe, grid, cv=DuplicateGroupKFold(n_splits), scoring="balanced_accuracy", n_jobs=n_jobs)


def fit_sample(n_jobs: int | None = None):
    """Fit :func:`build_search` on featbus's sample; returns ``(search, images, target, groups)``."""
    data = featbus.load_sample()
    images, target = list(data.images), np.asarray(data.target)
    groups = featbus.duplicate_groups(images)
    search = build_search(n_jobs=n_jobs).fit(images, target, groups=groups)
    return search, images, target, groups


def predict_in_new_process(model, images, folder: Path) -> np.ndarray:
    """Pickle ``model``, load it in a new Python process and return its predictions of ``images``."""
    folder = Path(folder)
    with open(folder / "model.pkl", "wb") as f:
        pickle.dump(model, f)
    np.savez(folder / "images.npz", *images)
    subprocess.run([sys.executable, "-c", _RELOAD, str(folder / "model.pkl"), str(folder / "images.npz"),
                    str(folder / "predicted.npy")], check=True)
    return np.load(folder / "predicted.npy")


def main() -> int:
    search, images, target, groups = fit_sample()
    print(f"featbus {featbus.__version__}: {len(images)} images, {len(np.unique(groups))} duplicate groups")
    print(f"best {search.best_params_}: balanced accuracy {search.best_score_:.3f} (grouped CV)")
    # pandas output: set before fitting, so the SVC sees the named columns it later predicts from
    best = clone(search.best_estimator_).set_output(transform="pandas").fit(images, target)
    frame = best[:-1].transform(images[:3])
    print(f"features as a DataFrame: {frame.shape[0]} x {frame.shape[1]}, first columns {list(frame.columns[:2])}")
    with tempfile.TemporaryDirectory() as tmp:
        same = np.array_equal(predict_in_new_process(best, images, Path(tmp)), best.predict(images))
    print(f"pickled and reloaded in a new process: {'same' if same else 'DIFFERENT'} predictions")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
