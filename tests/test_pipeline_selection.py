"""Feature selection inside pipelines (``select=``), the new classifiers by name, and the new
feature names in the pipeline registry."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

from featbus.datasets import make_phantoms
from featbus.pipelines import (
    CLASSIFIERS,
    FEATURES,
    SELECTORS,
    make_classification_pipeline,
    make_classifier,
    make_selector,
    param_grid,
)


def _tabular(n=60, p=30, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["benign", "malignant"] * (n // 2))
    X = rng.normal(size=(n, p))
    X[:, :3] += (y == "malignant")[:, None] * 1.5  # three informative columns
    return X, y


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_every_selector_fits_and_has_a_grid(name):
    X, y = _tabular()
    pipe = make_classification_pipeline(None, select=name, classifier="logreg")
    assert [n for n, _ in pipe.steps] == ["scale", "select", "classifier"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # k=50 > 30 columns keeps all, with a warning
        pipe.fit(X, y)
    assert pipe.predict(X[:2]).tolist()[0] in ("benign", "malignant")
    grid = param_grid(pipe)
    sel_keys = [k for k in grid if k.startswith("select__")]
    assert sel_keys or name == "variance"
    for k in sel_keys:  # every grid entry is a real parameter of the step
        pipe.set_params(**{k: grid[k][0]})


def test_select_sits_after_scale_and_before_balance():
    pipe = make_classification_pipeline(None, select="pca", balance="smote", classifier="svm")
    assert [n for n, _ in pipe.steps] == ["scale", "select", "balance", "classifier"]
    assert make_classification_pipeline(None, select=None).steps[0][0] == "scale"
    assert make_classification_pipeline(None, select=SelectKBest(k=3)).named_steps["select"].k == 3
    with pytest.raises(ValueError, match="unknown select"):
        make_classification_pipeline(None, select="boruta")
    assert make_selector("none") is None


def test_selection_inside_folds_does_not_leak():
    # Pure noise with many columns: choosing the "best" columns on all the data before CV finds
    # spurious signal; the same selection inside the pipeline, fitted per training fold, stays
    # near chance. This is why select= lives in the pipeline.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2000))
    y = np.repeat([0, 1], 30)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    inside = cross_val_score(make_classification_pipeline(None, select="kbest", classifier="logreg")
                             .set_params(select__k=20), X, y, cv=cv).mean()
    X_leaky = SelectKBest(f_classif, k=20).fit_transform(X, y)
    leaky = cross_val_score(make_classification_pipeline(None, classifier="logreg"), X_leaky, y, cv=cv).mean()
    assert inside < 0.7 < leaky


@pytest.mark.parametrize("name", ["mlp", "naive-bayes", "nb", "tree", "decision-tree",
                                  "balanced-rf", "easy-ensemble"])
def test_new_classifiers(name):
    X, y = _tabular(n=300, p=10)
    clf = make_classifier(name, random_state=0, n_jobs=1)
    pipe = make_classification_pipeline(None, classifier=clf)
    acc = pipe.fit(X[:200], y[:200]).score(X[200:], y[200:])
    assert acc > 0.7  # three of ten columns shifted by 1.5 sd (Bayes accuracy about 0.9)
    grid = param_grid(pipe)
    assert grid and all(k.startswith("classifier__") for k in grid)
    clone(pipe).set_params(**{k: v[-1] for k, v in grid.items()})
    assert CLASSIFIERS[name] in ("mlp", "naive-bayes", "tree", "balanced-rf", "easy-ensemble")


def test_class_weight_rules_for_new_classifiers():
    assert make_classifier("tree", class_weight="balanced").class_weight == "balanced"
    assert make_classifier("balanced-rf", class_weight="balanced").class_weight == "balanced"
    for name in ("mlp", "naive-bayes", "easy-ensemble"):
        with pytest.raises(ValueError, match="takes no class weights"):
            make_classifier(name, class_weight="balanced")


def test_new_feature_names_in_grid_search():
    for name in ("glrlm", "glszm", "gldzm", "ngtdm", "gldm", "gabor", "laws", "wavelet", "log", "fractal"):
        assert name in FEATURES
    data = make_phantoms(24, image_size=48, random_state=0)
    pipe = make_classification_pipeline(["glcm", "glrlm", "glszm", "wavelet"], select="kbest", classifier="svm")
    grid = {"select__k": [5, 10], "classifier__C": [1.0]}
    search = GridSearchCV(pipe, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(
        data.data, data.target)
    assert search.best_params_["select__k"] in (5, 10)
    names = search.best_estimator_[:-1].get_feature_names_out()
    assert len(names) == search.best_params_["select__k"]
    assert all(n.split("__")[0] in ("glcm", "glrlm", "glszm", "wavelet") for n in names)
