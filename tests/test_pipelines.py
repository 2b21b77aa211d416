"""make_pipeline / param_grid: structure, grids, sampling only on training folds, real data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from featbus.datasets import make_phantoms
from featbus.evaluation import evaluate
from featbus.model_selection import DuplicateGroupKFold
from featbus.pipelines import (
    EncodedLabelClassifier,
    make_classifier,
    make_features,
    make_pipeline,
    make_sampler,
    param_grid,
)

# --------------------------------------------------------------------------- recording samplers

_SEEN: dict[str, list] = {}  # clones are deep copies, so the record lives outside the instances


class RecordingSMOTE(SMOTE):
    """SMOTE that records the sample ids (column 0) of every batch it resamples."""

    def __init__(self, record="default", k_neighbors=3, random_state=0):
        super().__init__(k_neighbors=k_neighbors, random_state=random_state)
        self.record = record

    def fit_resample(self, X, y, **params):
        _SEEN.setdefault(self.record, []).append(np.asarray(X)[:, 0].astype(int).copy())
        return super().fit_resample(X, y, **params)


class IdDropper(BaseEstimator):
    """Drop the id column before the classifier (an id must not be a feature)."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X)[:, 1:]


def _id_data(n=90, seed=0):
    rng = np.random.RandomState(seed)
    y = np.repeat([0, 1, 2], [n * 5 // 9, n * 5 // 18, n - n * 5 // 9 - n * 5 // 18])
    X = rng.normal(size=(n, 4)) + y[:, None]
    groups = np.arange(n) // 3  # triplets of "near-duplicates"
    return np.column_stack([np.arange(n), X]), y, groups


@pytest.mark.parametrize("cv", ["duplicate-grouped", "stratified"])
def test_sampler_sees_only_training_folds(cv):
    X, y, groups = _id_data()
    record = f"eval-{cv}"
    _SEEN.pop(record, None)
    # the recorder needs the ids, so it comes before the id dropper
    pipe = Pipeline([("balance", RecordingSMOTE(record)), ("ids", IdDropper()),
                     ("classifier", LogisticRegression())])
    report = evaluate(pipe, X, y, groups=groups, cv=cv, n_bootstrap=0)
    seen = _SEEN[record]
    assert len(seen) == len(report.splits)  # once per training fold, never at predict time
    for ids, (train, test) in zip(seen, report.splits):
        assert set(ids.tolist()) == set(train.tolist())
        assert not set(ids.tolist()) & set(test.tolist())


def test_sampler_inside_grid_search_sees_only_inner_training_folds():
    X, y, groups = _id_data()
    record = "search"
    _SEEN.pop(record, None)
    pipe = Pipeline([("balance", RecordingSMOTE(record)), ("ids", IdDropper()),
                     ("classifier", LogisticRegression())])
    search = GridSearchCV(pipe, {"classifier__C": [0.1, 1.0]}, cv=StratifiedKFold(3))
    report = evaluate(search, X, y, groups=groups, n_splits=3, n_bootstrap=0)
    seen = _SEEN[record]
    # 3 outer folds x (2 params x 3 inner folds + 1 refit)
    assert len(seen) == 3 * (2 * 3 + 1)
    per_outer = np.array_split(np.arange(len(seen)), 3)
    for (train, test), calls in zip(report.splits, per_outer):
        for c in calls:
            assert set(seen[c].tolist()) <= set(train.tolist())
            assert not set(seen[c].tolist()) & set(test.tolist())


def test_real_smote_balances_training_only():
    from sklearn.dummy import DummyClassifier

    X, y, _ = _id_data()
    pipe = make_pipeline(None, balance="smote", classifier=DummyClassifier(strategy="prior")).fit(X, y)
    # the classifier was fitted on balanced classes...
    np.testing.assert_allclose(pipe.named_steps["classifier"].class_prior_, 1 / 3)
    # ...but prediction uses the given rows only, one output per input
    assert pipe.predict_proba(X).shape == (len(X), 3)


# --------------------------------------------------------------------------- structure

def test_step_names_and_defaults():
    pipe = make_pipeline(["intensity"], balance="smote", classifier="svm")
    assert isinstance(pipe, Pipeline)
    assert [n for n, _ in pipe.steps] == ["features", "scale", "balance", "classifier"]
    assert [n for n, _ in pipe.named_steps["features"].transformer_list] == ["intensity"]
    no_balance = make_pipeline(["intensity"], balance=None)
    assert "balance" not in no_balance.named_steps
    assert make_pipeline(None, scale=False).steps[0][0] == "classifier"


def test_class_weight_reweights_classifier():
    pipe = make_pipeline(None, balance="class-weight", classifier="rf")
    assert "balance" not in pipe.named_steps
    assert pipe.named_steps["classifier"].class_weight == "balanced"
    with pytest.raises(ValueError, match="no class weights"):
        make_pipeline(None, balance="class-weight", classifier="knn")


@pytest.mark.parametrize("balance,cls", [("smote", "SMOTE"), ("borderline-smote", "BorderlineSMOTE"),
                                         ("adasyn", "ADASYN"), ("smoteenn", "SMOTEENN"),
                                         ("oversample", "RandomOverSampler"),
                                         ("undersample", "RandomUnderSampler")])
def test_samplers(balance, cls):
    assert type(make_sampler(balance)).__name__ == cls


def test_unknown_names_are_clear():
    with pytest.raises(ValueError, match="unknown classifier 'svn'"):
        make_pipeline(None, classifier="svn")
    with pytest.raises(ValueError, match="unknown balance 'smot'"):
        make_pipeline(None, balance="smot")
    with pytest.raises(ValueError, match="unknown preprocessing"):
        make_pipeline(["intensity"], preprocessing=["sharpen"])
    with pytest.raises(ValueError, match="empty"):
        make_features([])
    with pytest.raises(ValueError, match="unknown feature 'hgo'"):
        make_features(["hgo"])
    with pytest.raises(ValueError, match="unique"):
        make_features(["lbp", "lbp"])


def test_region_reaches_extractors_but_not_shape():
    union = make_features("lbp,intensity,shape", region="bbox")
    parts = dict(union.transformer_list)
    assert parts["lbp"].region == "bbox" and parts["intensity"].region == "bbox"
    assert "region" not in parts["shape"].get_params()


def test_deep_names_are_lazy():
    pytest.importorskip("featbus.features.deep")
    union = make_features(["efficientnet_lite0"])
    est = union.transformer_list[0][1]
    assert type(est).__name__ == "DeepFeatures" and est.backbone == "efficientnet_lite0"


@pytest.mark.parametrize("classifier", ["svm", "svm-calibrated", "rf", "knn", "xgboost", "logreg"])
@pytest.mark.parametrize("balance", [None, "smote", "smoteenn"])
def test_param_grid_is_valid_and_fits(classifier, balance):
    if classifier == "xgboost":
        pytest.importorskip("xgboost")
    X, y, _ = _id_data(60)
    pipe = make_pipeline(None, balance=balance, classifier=classifier)
    grid = param_grid(pipe)
    assert any(k.startswith("classifier__") for k in grid)
    if balance is not None:
        assert any(k.startswith("balance__") for k in grid)
    first = {k: v[0] for k, v in grid.items()}
    clone(pipe).set_params(**first).fit(X, y)  # every key is a real parameter


def test_clone_pickle_and_string_labels_with_xgboost():
    pytest.importorskip("xgboost")
    X, y, _ = _id_data(60)
    labels = np.array(["benign", "malignant", "normal"])[y]
    pipe = make_pipeline(None, balance="smote", classifier="xgboost", n_jobs=1)
    fitted = clone(pipe).fit(X, labels)
    assert set(fitted.predict(X)) <= set(labels)
    assert fitted.predict_proba(X).shape == (60, 3)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    assert isinstance(fitted.named_steps["classifier"], EncodedLabelClassifier)


def test_svm_has_scores_without_probability_true():
    svc = make_classifier("svm")
    assert svc.get_params()["probability"] in (False, "deprecated")
    assert not hasattr(svc, "predict_proba") and hasattr(svc, "decision_function")
    cal = make_classifier("svm-calibrated")
    X, y, _ = _id_data(60)
    proba = make_pipeline(None, classifier=cal).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)


def test_image_pipeline_on_phantoms_with_search():
    ph = make_phantoms(30, image_size=64, random_state=1)
    pipe = make_pipeline(["intensity", "shape"], balance="smote", classifier="svm")
    # the recipe: a search whose inner folds are duplicate-grouped too
    search = GridSearchCV(pipe, {"classifier__C": [1.0, 10.0], "balance__k_neighbors": [3]},
                          cv=DuplicateGroupKFold(n_splits=3))
    report = evaluate(search, ph, n_splits=3, n_bootstrap=50)
    assert report.value("accuracy") > 0.6  # shape separates the phantom classes well
    fitted = clone(pipe).fit(ph.data, ph.target)
    # prediction on masks is what ShapeFeatures needs; texture-only pipelines take bare images
    tex = make_pipeline(["intensity"], classifier="svm").fit(ph.data, ph.target)
    assert tex.predict(ph.images[:3]).shape == (3,)
    assert fitted.predict(ph.data[:3]).shape == (3,)


def test_busi_handcrafted_pipeline_runs(busi_root):
    from featbus.datasets import load_busi

    data = load_busi(busi_root.parent)
    idx = np.concatenate([np.flatnonzero(data.target == c)[:8] for c in np.unique(data.target)])
    X = [data.data[i] for i in idx]
    pipe = make_pipeline(["hog", "lbp", "intensity", "glcm", "shape"], balance="smote", classifier="svm")
    pipe.set_params(balance__k_neighbors=3).fit(X, data.target[idx])
    assert pipe.predict(X[:2]).shape == (2,)
