"""make_classification_pipeline / param_grid: structure, grids, sampling only on training folds, real data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from featbus.datasets import make_phantoms
from featbus.evaluation import evaluate
from featbus.model_selection import DuplicateGroupKFold
from featbus.pipelines import (
    EncodedLabelClassifier,
    FamilyScaler,
    FamilyUnion,
    make_classification_pipeline,
    make_classifier,
    make_features,
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
    pipe = make_classification_pipeline(None, balance="smote", classifier=DummyClassifier(strategy="prior")).fit(X, y)
    # the classifier was fitted on balanced classes...
    np.testing.assert_allclose(pipe.named_steps["classifier"].class_prior_, 1 / 3)
    # ...but prediction uses the given rows only, one output per input
    assert pipe.predict_proba(X).shape == (len(X), 3)


# --------------------------------------------------------------------------- structure

def test_step_names_and_defaults():
    pipe = make_classification_pipeline(["intensity"], balance="smote", classifier="svm")
    assert isinstance(pipe, Pipeline)
    # the union standardises and weighs its families: no StandardScaler after it (it would
    # undo the family weights)
    assert [n for n, _ in pipe.steps] == ["features", "balance", "classifier"]
    assert isinstance(pipe.named_steps["features"], FamilyUnion)
    assert pipe.named_steps["features"].family_scaling == "equal"
    assert [n for n, _ in pipe.named_steps["features"].transformer_list] == ["intensity"]
    assert make_classification_pipeline(None).steps[0][0] == "scale"  # a feature matrix is scaled by a step
    no_balance = make_classification_pipeline(["intensity"], balance=None)
    assert "balance" not in no_balance.named_steps
    assert make_classification_pipeline(None, scale=False).steps[0][0] == "classifier"


def test_class_weight_reweights_classifier():
    pipe = make_classification_pipeline(None, balance="class-weight", classifier="rf")
    assert "balance" not in pipe.named_steps
    assert pipe.named_steps["classifier"].class_weight == "balanced"
    with pytest.raises(ValueError, match="no class weights"):
        make_classification_pipeline(None, balance="class-weight", classifier="knn")


@pytest.mark.parametrize("balance,cls", [("smote", "SMOTE"), ("borderline-smote", "BorderlineSMOTE"),
                                         ("adasyn", "ADASYN"), ("smoteenn", "SMOTEENN"),
                                         ("oversample", "RandomOverSampler"),
                                         ("undersample", "RandomUnderSampler")])
def test_samplers(balance, cls):
    assert type(make_sampler(balance)).__name__ == cls


def test_unknown_names_are_clear():
    with pytest.raises(ValueError, match="unknown classifier 'svn'"):
        make_classification_pipeline(None, classifier="svn")
    with pytest.raises(ValueError, match="unknown balance 'smot'"):
        make_classification_pipeline(None, balance="smot")
    with pytest.raises(ValueError, match="unknown preprocessing"):
        make_classification_pipeline(["intensity"], preprocessing=["sharpen"])
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


def test_settings_reach_extractors_given_as_instances():
    from sklearn.preprocessing import FunctionTransformer

    from featbus import HOGFeatures, LBPFeatures

    hog = HOGFeatures()
    union = make_features([hog, ("lbp", LBPFeatures())], region="mask", n_jobs=2, progress=False)
    parts = dict(union.transformer_list)
    assert (parts["hogfeatures"].region, parts["hogfeatures"].n_jobs) == ("mask", 2)
    assert (parts["lbp"].region, parts["lbp"].progress) == ("mask", False)
    assert hog.region == HOGFeatures().region  # the caller's object is cloned, not changed
    # a region the part cannot honour is an error, never a silent whole-image computation
    with pytest.raises(ValueError, match="takes no region"):
        make_features([FunctionTransformer()], region="mask")
    with pytest.raises(ValueError, match="region='bbox'.*region='mask'"):
        make_features([HOGFeatures(region="bbox")], region="mask")
    # settings that only change how a part runs leave a part without them as it is
    plain = FunctionTransformer()
    assert dict(make_features([plain], n_jobs=2).transformer_list)["functiontransformer"] is plain


def test_deep_names_are_lazy():
    pytest.importorskip("keras")  # a CNN's name needs featbus[deep] (or [torch] / [jax])
    union = make_features(["efficientnet_lite0"])
    est = union.transformer_list[0][1]
    assert type(est).__name__ == "DeepFeatures" and est.backbone == "efficientnet_lite0"


@pytest.mark.parametrize("classifier", ["svm", "svm-calibrated", "rf", "knn", "xgboost", "logreg"])
@pytest.mark.parametrize("balance", [None, "smote", "smoteenn"])
def test_param_grid_is_valid_and_fits(classifier, balance):
    if classifier == "xgboost":
        pytest.importorskip("xgboost")
    X, y, _ = _id_data(60)
    pipe = make_classification_pipeline(None, balance=balance, classifier=classifier)
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
    pipe = make_classification_pipeline(None, balance="smote", classifier="xgboost", n_jobs=1)
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
    proba = make_classification_pipeline(None, classifier=cal).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)


def test_image_pipeline_on_phantoms_with_search():
    ph = make_phantoms(30, image_size=64, random_state=1)
    pipe = make_classification_pipeline(["intensity", "shape"], balance="smote", classifier="svm")
    # the recipe: a search whose inner folds are duplicate-grouped too
    search = GridSearchCV(pipe, {"classifier__C": [1.0, 10.0], "balance__k_neighbors": [3]},
                          cv=DuplicateGroupKFold(n_splits=3))
    report = evaluate(search, ph, n_splits=3, n_bootstrap=50)
    assert report.value("accuracy") > 0.6  # shape separates the phantom classes well
    fitted = clone(pipe).fit(ph.data, ph.target)
    # prediction on masks is what ShapeFeatures needs; texture-only pipelines take bare images
    tex = make_classification_pipeline(["intensity"], classifier="svm").fit(ph.data, ph.target)
    assert tex.predict(ph.images[:3]).shape == (3,)
    assert fitted.predict(ph.data[:3]).shape == (3,)


def test_busi_handcrafted_pipeline_runs(busi):
    data = busi
    idx = np.concatenate([np.flatnonzero(data.target == c)[:8] for c in np.unique(data.target)])
    X = [data.data[i] for i in idx]
    pipe = make_classification_pipeline(["hog", "lbp", "intensity", "glcm", "shape"], balance="smote", classifier="svm")
    pipe.set_params(balance__k_neighbors=3).fit(X, data.target[idx])
    assert pipe.predict(X[:2]).shape == (2,)


# --------------------------------------------------------------------------- joining families

class _Columns(BaseEstimator):
    """A 'feature family' that is a slice of the columns of a matrix (stateless)."""

    def __init__(self, start=0, stop=1):
        self.start, self.stop = start, stop

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X)[:, self.start:self.stop]


def _narrow_and_wide(n=240, n_wide=2000, seed=0):
    # a 3-column family that separates the classes and a 2000-column family of pure noise
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    narrow = rng.normal(size=(n, 3)) + 1.5 * y[:, None]
    wide = rng.normal(size=(n, n_wide))
    return np.hstack([narrow, wide]), y


def test_a_wide_family_does_not_drown_a_narrow_one():
    X, y = _narrow_and_wide()
    families = [("narrow", _Columns(0, 3)), ("wide", _Columns(3, X.shape[1]))]
    cv = StratifiedKFold(4, shuffle=True, random_state=0)

    def accuracy(pipe):
        from sklearn.model_selection import cross_val_score

        return cross_val_score(pipe, X, y, cv=cv).mean()

    alone = accuracy(make_classification_pipeline([families[0]], classifier="svm"))
    joined = accuracy(make_classification_pipeline(families, classifier="svm"))  # the default joining
    plain = accuracy(make_classification_pipeline(families, classifier="svm", family_scaling="standard"))
    assert alone > 0.85
    assert joined > alone - 0.05  # adding a useless family costs (almost) nothing
    assert plain < alone - 0.15  # what plain standardisation did: the noise drowns the signal


def test_family_scaler_weights_and_single_block():
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    X = rng.normal(3.0, 2.0, size=(100, 60))
    X[:, 5] = 7.0  # a constant column becomes 0, not NaN
    one = FamilyScaler().fit_transform(X)
    np.testing.assert_allclose(one, StandardScaler().fit_transform(X), atol=1e-12)
    two = FamilyScaler(blocks=[50, 10]).fit(X)
    Xt = two.transform(X)
    var = [Xt[:, :50].var(axis=0).sum(), Xt[:, 50:].var(axis=0).sum()]
    np.testing.assert_allclose(var, [59 / 2, 59 / 2])  # 59 non-constant columns, shared equally
    assert np.isfinite(Xt).all() and np.all(Xt[:, 5] == 0)
    pca = FamilyScaler(blocks=[50, 10], method="pca", n_components=12).fit(X)
    assert pca.transform(X).shape == (100, 22) and pca.n_features_out_ == 22  # 12 components + 10 columns
    assert list(pca.get_feature_names_out()[:2]) == ["x0.pc0", "x0.pc1"]
    standard = FamilyScaler(blocks=[50, 10], method="standard").fit_transform(X)
    np.testing.assert_allclose(standard, one, atol=1e-12)
    with pytest.raises(ValueError, match="summing to the 60 input columns"):
        FamilyScaler(blocks=[50, 11]).fit(X)
    with pytest.raises(ValueError, match="'method' parameter"):
        FamilyScaler(method="sqrt").fit(X)
    with pytest.raises(ValueError, match="family_scaling must be"):
        make_classification_pipeline(["intensity"], family_scaling="sqrt")


def test_family_union_is_fitted_on_training_rows_only():
    X, y = _narrow_and_wide(n=40, n_wide=20)
    union = FamilyUnion([("narrow", _Columns(0, 3)), ("wide", _Columns(3, 23))]).fit(X[:20])
    assert union.family_widths_ == [3, 20]
    scaler = union.scaler_
    np.testing.assert_allclose(scaler.mean_, X[:20].mean(axis=0))
    # transform applies the training statistics: new rows are not re-standardised
    np.testing.assert_allclose(union.transform(X[20:]), scaler.transform(X[20:]))
    assert FamilyUnion([("narrow", _Columns(0, 3))], family_scaling=None).fit(X).scaler_ is None
    with pytest.raises(ValueError, match="family_scaling must be one of"):
        FamilyUnion([("narrow", _Columns(0, 3))], family_scaling="sqrt").fit(X)


def test_family_union_in_search_clone_pickle_and_pandas():
    ph = make_phantoms(24, image_size=48, random_state=3)
    pipe = make_classification_pipeline(["intensity", "lbp"], classifier="svm")
    search = GridSearchCV(pipe, {"classifier__C": [1.0, 10.0], "features__lbp__radii": [(1,), (1, 2)]},
                          cv=StratifiedKFold(3)).fit(ph.data, ph.target)
    best = search.best_estimator_
    again = pickle.loads(pickle.dumps(best))
    np.testing.assert_allclose(again.decision_function(ph.data), best.decision_function(ph.data))
    union = clone(best.named_steps["features"]).set_output(transform="pandas")
    df = union.fit_transform(ph.data)
    names = union.get_feature_names_out()
    assert list(df.columns) == list(names) and names[0].startswith("intensity__")
    np.testing.assert_allclose(df.to_numpy(), clone(union).set_output(transform="default").fit_transform(ph.data))
    # a feature matrix with known family widths is joined the same way
    full = clone(pipe).fit(ph.data, ph.target)
    X = make_features(["intensity", "lbp"]).fit_transform(ph.data)  # unscaled, as extract writes it
    tail = make_classification_pipeline(None, blocks=full.named_steps["features"].family_widths_, classifier="svm")
    assert isinstance(tail.named_steps["scale"], FamilyScaler)
    np.testing.assert_allclose(tail.fit(X, ph.target).decision_function(X),
                               full.decision_function(ph.data), atol=1e-8)


@parametrize_with_checks([FamilyScaler(), FamilyScaler(method="pca", n_components=2)])
def test_family_scaler_passes_sklearn_checks(estimator, check):
    check(estimator)
