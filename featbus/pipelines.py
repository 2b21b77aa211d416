"""Ready-made pipelines: preprocessing, features, scaling, balancing, classifier; and their grids.

:func:`make_pipeline` assembles an :class:`imblearn.pipeline.Pipeline` from short names::

    [preprocessing...] -> features (FeatureUnion) -> scale -> [balance] -> classifier

An :mod:`imblearn` pipeline is used because a sampler inside a scikit-learn pipeline would
resample at prediction time too; imbalanced-learn calls a sampler's ``fit_resample`` only
while fitting, so synthetic samples are made from the training folds alone and validation
folds are never touched. :func:`param_grid` gives a small, sensible grid for the chosen
classifier and sampler, ready for :class:`~sklearn.model_selection.GridSearchCV`.

Step names are fixed so grids are predictable: ``"features"`` (its parts are named after the
feature names, e.g. ``features__hog__orientations``), ``"scale"``, ``"balance"`` and
``"classifier"``; preprocessing steps are named after their short names (``"resize"``,
``"clahe"``...).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "make_pipeline",
    "make_features",
    "make_sampler",
    "make_classifier",
    "make_selector",
    "param_grid",
    "EncodedLabelClassifier",
    "FEATURES",
    "SAMPLERS",
    "CLASSIFIERS",
    "SELECTORS",
]

#: Handcrafted feature names -> (module, class). Any other name is a DeepFeatures backbone.
FEATURES: dict[str, tuple[str, str]] = {
    "hog": ("featbus.features.hog", "HOGFeatures"),
    "lbp": ("featbus.features.lbp", "LBPFeatures"),
    "glcm": ("featbus.features.glcm", "GLCMFeatures"),
    "intensity": ("featbus.features.intensity", "IntensityStats"),
    "shape": ("featbus.features.shape", "ShapeFeatures"),
    "glrlm": ("featbus.features.texture_matrices", "GLRLMFeatures"),
    "glszm": ("featbus.features.texture_matrices", "GLSZMFeatures"),
    "gldzm": ("featbus.features.texture_matrices", "GLDZMFeatures"),
    "ngtdm": ("featbus.features.texture_matrices", "NGTDMFeatures"),
    "gldm": ("featbus.features.texture_matrices", "GLDMFeatures"),
    "gabor": ("featbus.features.filters", "GaborFeatures"),
    "laws": ("featbus.features.filters", "LawsFeatures"),
    "wavelet": ("featbus.features.filters", "WaveletFeatures"),
    "log": ("featbus.features.filters", "LoGFeatures"),
    "fractal": ("featbus.features.filters", "FractalFeatures"),
}

#: Preprocessing names -> (module, class).
PREPROCESSORS: dict[str, tuple[str, str]] = {
    "resize": ("featbus.preprocessing.intensity", "Resize"),
    "clahe": ("featbus.preprocessing.intensity", "CLAHE"),
    "denoise": ("featbus.preprocessing.intensity", "SpeckleDenoise"),
    "normalize": ("featbus.preprocessing.intensity", "Normalize"),
    "roi": ("featbus.preprocessing.roi", "ROICropper"),
}

#: Balancing names (aliases map to the same sampler).
SAMPLERS: dict[str, str] = {
    "smote": "SMOTE",
    "borderline-smote": "BorderlineSMOTE",
    "borderline_smote": "BorderlineSMOTE",
    "adasyn": "ADASYN",
    "smoteenn": "SMOTEENN",
    "smote-enn": "SMOTEENN",
    "oversample": "RandomOverSampler",
    "random-over": "RandomOverSampler",
    "undersample": "RandomUnderSampler",
    "random-under": "RandomUnderSampler",
    "class-weight": "class_weight",
    "class_weight": "class_weight",
    "balanced": "class_weight",
}

#: Classifier names (aliases map to the same model).
CLASSIFIERS: dict[str, str] = {
    "svm": "svm",
    "svc": "svm",
    "svm-calibrated": "svm-calibrated",
    "rf": "rf",
    "random-forest": "rf",
    "knn": "knn",
    "xgboost": "xgboost",
    "xgb": "xgboost",
    "logreg": "logreg",
    "lr": "logreg",
    "logistic": "logreg",
    "mlp": "mlp",
    "naive-bayes": "naive-bayes",
    "nb": "naive-bayes",
    "tree": "tree",
    "decision-tree": "tree",
    "balanced-rf": "balanced-rf",
    "balanced-random-forest": "balanced-rf",
    "easy-ensemble": "easy-ensemble",
}

#: Feature selection / reduction names (aliases map to the same step); see make_selector.
SELECTORS: dict[str, str] = {
    "variance": "variance",
    "kbest": "kbest-anova",
    "kbest-anova": "kbest-anova",
    "anova": "kbest-anova",
    "kbest-mi": "kbest-mi",
    "mutual-info": "kbest-mi",
    "l1": "l1",
    "pca": "pca",
}

_NONE = (None, "none", "None", "no", False)


def _load(module: str, name: str):
    try:
        return getattr(import_module(module), name)
    except ImportError as exc:
        raise ImportError(f"{name} is not available ({module}: {exc})") from exc


# --------------------------------------------------------------------------- features

def _one_feature(spec: Any, *, region: str | None, n_jobs: int | None, cache: Any = None,
                 progress: Any = None) -> tuple[str, Any]:
    """Turn one feature spec (name, (name, transformer) or transformer) into a union part."""
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return spec
    if not isinstance(spec, str):
        if not hasattr(spec, "fit") or not hasattr(spec, "transform"):
            raise ValueError(f"feature {spec!r} is neither a name nor a transformer")
        return type(spec).__name__.lower(), spec
    name = spec.strip().lower()
    if not name:
        raise ValueError("empty feature name")
    if name in FEATURES:
        cls = _load(*FEATURES[name])
        params: dict[str, Any] = {"region": region} if name != "shape" else {}
    else:  # any other name is an ImageNet backbone; TensorFlow is imported only when it runs
        backbones = _load("featbus.features.backbones", "BACKBONES")
        if name not in backbones:
            raise ValueError(f"unknown feature {spec!r}; choose from {', '.join(FEATURES)} or a "
                             f"DeepFeatures backbone: {', '.join(sorted(backbones))}")
        cls = _load("featbus.features.deep", "DeepFeatures")
        params = {"backbone": name, "region": region}
    params.update(n_jobs=n_jobs, cache=cache, progress=progress)
    accepted = cls().get_params()  # pass only what this extractor takes, and only when set
    params = {k: v for k, v in params.items() if k in accepted and v is not None}
    return name, cls(**params)


def make_features(features: Sequence[Any] | str, *, region: str | None = None,
                  n_jobs: int | None = None, cache: Any = None, progress: Any = None) -> FeatureUnion:
    """A :class:`~sklearn.pipeline.FeatureUnion` of feature extractors named by short names.

    Parameters
    ----------
    features : str or sequence of (str, transformer or (name, transformer))
        Names: ``"hog"``, ``"lbp"``, ``"glcm"``, ``"intensity"``, ``"shape"``, the IBSI texture
        matrices ``"glrlm"``, ``"glszm"``, ``"gldzm"``, ``"ngtdm"``, ``"gldm"`` and the filter
        families ``"gabor"``, ``"laws"``, ``"wavelet"``, ``"log"``, ``"fractal"``; any other name
        (``"efficientnet_lite0"``...) is a :class:`featbus.DeepFeatures` backbone. A single
        string may list names separated by commas: ``"hog,lbp"``.
    region : {"image", "mask", "bbox"}, optional
        Region given to every extractor that takes one (not ``shape``, which always uses the
        mask). ``None`` keeps each extractor's default.
    n_jobs : int, optional
        Passed to every extractor that takes it.
    cache : None, False, str, path or joblib.Memory, optional
        ``cache`` of every extractor (:mod:`featbus.extraction`): a folder keeps the rows on
        disk between runs and shares them between processes; ``False`` turns reuse off.
    progress : bool or "auto", optional
        ``progress`` of every extractor.

    Returns
    -------
    union : FeatureUnion
        Parts named after the features, so parameters read ``hog__orientations``.

    Examples
    --------
    >>> from featbus.pipelines import make_features
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> union = make_features([("first", FunctionTransformer()), ("second", FunctionTransformer())])
    >>> [name for name, _ in union.transformer_list]
    ['first', 'second']
    """
    if isinstance(features, str):
        features = [f for f in features.split(",") if f.strip()]
    features = list(features)
    if not features:
        raise ValueError("features is empty; name at least one, e.g. ['hog', 'lbp']")
    parts = [_one_feature(f, region=region, n_jobs=n_jobs, cache=cache, progress=progress) for f in features]
    names = [n for n, _ in parts]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"feature names must be unique, got {dup} more than once")
    return FeatureUnion(parts)


def _make_preprocessing(preprocessing) -> list[tuple[str, Any]]:
    if preprocessing in _NONE:
        return []
    if isinstance(preprocessing, str):
        preprocessing = [p for p in preprocessing.split(",") if p.strip()]
    steps = []
    for spec in preprocessing:
        if isinstance(spec, tuple) and len(spec) == 2:
            steps.append(spec)
        elif isinstance(spec, str):
            key = spec.strip().lower()
            if key not in PREPROCESSORS:
                raise ValueError(f"unknown preprocessing {spec!r}; choose from {sorted(PREPROCESSORS)}")
            steps.append((key, _load(*PREPROCESSORS[key])()))
        elif hasattr(spec, "transform"):
            steps.append((type(spec).__name__.lower(), spec))
        else:
            raise ValueError(f"preprocessing step {spec!r} is neither a name nor a transformer")
    return steps


# --------------------------------------------------------------------------- balance, classifier

def make_sampler(balance: str | None, *, random_state=0):
    """An imbalanced-learn sampler from a short name, or ``None``.

    Parameters
    ----------
    balance : str or None
        ``"smote"``, ``"borderline-smote"``, ``"adasyn"``, ``"smoteenn"``, ``"oversample"``,
        ``"undersample"``; ``None``/``"none"`` and ``"class-weight"`` (which reweights the
        classifier instead) give ``None``.
    random_state : int
        Seed of the sampler.

    Examples
    --------
    >>> from featbus.pipelines import make_sampler
    >>> make_sampler("smote")
    SMOTE(random_state=0)
    """
    if balance in _NONE:
        return None
    if not isinstance(balance, str):
        if hasattr(balance, "fit_resample"):
            return balance
        raise ValueError(f"balance must be a name or an imblearn sampler, got {balance!r}")
    key = SAMPLERS.get(balance.strip().lower())
    if key is None:
        raise ValueError(f"unknown balance {balance!r}; choose from none, {', '.join(sorted(SAMPLERS))}")
    if key == "class_weight":
        return None
    if key == "SMOTEENN":
        from imblearn.combine import SMOTEENN
        from imblearn.over_sampling import SMOTE

        return SMOTEENN(smote=SMOTE(random_state=random_state), random_state=random_state)
    module = "imblearn.under_sampling" if key == "RandomUnderSampler" else "imblearn.over_sampling"
    return getattr(import_module(module), key)(random_state=random_state)


class EncodedLabelClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Let a classifier that needs labels ``0..K-1`` (XGBoost) take any labels.

    Parameters
    ----------
    estimator : classifier
        The wrapped model; it is fitted on ``LabelEncoder``-encoded labels.

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone.
    classes_ : ndarray
        The original labels, in the order of ``predict_proba``'s columns.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.pipelines import EncodedLabelClassifier
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = EncodedLabelClassifier(LogisticRegression()).fit(X, ["a", "a", "b", "b"])
    >>> clf.predict([[0.0], [3.0]]).tolist()
    ['a', 'b']
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def __sklearn_tags__(self):
        # the input contract is the wrapped model's (sparse, NaN)
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags

    def fit(self, X, y, **fit_params):
        """Fit the wrapped model on encoded labels.

        Returns
        -------
        self
        """
        check_classification_targets(y)  # continuous y is an error, not 600 classes
        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        self.estimator_ = clone(self.estimator).fit(X, self.label_encoder_.transform(y), **fit_params)
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict(self, X):
        """Predicted labels, in the original label space."""
        check_is_fitted(self, "estimator_")
        return self.classes_[np.asarray(self.estimator_.predict(X)).astype(int).ravel()]

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)


def make_classifier(classifier: str, *, class_weight: str | None = None, random_state=0,
                    n_jobs: int | None = None):
    """A classifier from a short name.

    Parameters
    ----------
    classifier : str
        ``"svm"`` (RBF :class:`~sklearn.svm.SVC`; scores are its decision function, no
        deprecated ``probability=True``), ``"svm-calibrated"`` (the SVC inside a sigmoid
        :class:`~sklearn.calibration.CalibratedClassifierCV`, for real probabilities),
        ``"rf"``, ``"knn"``, ``"xgboost"``, ``"logreg"``, ``"mlp"`` (one hidden layer of 100,
        early stopping), ``"naive-bayes"`` (Gaussian), ``"tree"``, ``"balanced-rf"`` and
        ``"easy-ensemble"`` (imbalanced-learn's balanced random forest and easy ensemble,
        which undersample inside every tree / boosted member). A classifier instance is
        returned as is.
    class_weight : "balanced" or None
        Class reweighting, for the models that take it (not KNN, XGBoost, MLP, naive Bayes or
        easy ensemble).
    random_state : int
        Seed of the models that have one.
    n_jobs : int, optional
        Threads of the models that take them (RF, KNN, XGBoost).

    Examples
    --------
    >>> from featbus.pipelines import make_classifier
    >>> make_classifier("svm")
    SVC()
    """
    if not isinstance(classifier, str):
        if not hasattr(classifier, "fit"):
            raise ValueError(f"classifier must be a name or an estimator, got {classifier!r}")
        return classifier
    key = CLASSIFIERS.get(classifier.strip().lower())
    if key is None:
        raise ValueError(f"unknown classifier {classifier!r}; choose from {', '.join(sorted(CLASSIFIERS))}")
    if class_weight is not None and key in ("knn", "xgboost", "mlp", "naive-bayes", "easy-ensemble"):
        raise ValueError(f"classifier {classifier!r} takes no class weights; use a sampler "
                         "(balance='smote', 'oversample', ...) instead")
    cw = {"class_weight": class_weight} if class_weight is not None else {}
    if key == "svm":
        from sklearn.svm import SVC

        return SVC(**cw)
    if key == "svm-calibrated":
        from sklearn.svm import SVC

        # sigmoid (Platt) calibration on internal folds: what probability=True did, explicitly
        return CalibratedClassifierCV(SVC(**cw), method="sigmoid", cv=3)
    if key == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=300, random_state=random_state, n_jobs=n_jobs, **cw)
    if key == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=5, n_jobs=n_jobs)
    if key == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000, **cw)
    if key in ("mlp", "naive-bayes", "tree", "balanced-rf", "easy-ensemble"):
        return _more_classifiers(key, cw, random_state=random_state, n_jobs=n_jobs)
    try:
        from xgboost import XGBClassifier
    except ImportError as exc:  # pragma: no cover - xgboost is an optional extra
        raise ImportError("classifier='xgboost' needs xgboost: pip install 'featbus[xgboost]'") from exc
    xgb = XGBClassifier(n_estimators=300, max_depth=4, learning_rate=0.1, subsample=0.8,
                        colsample_bytree=0.5, tree_method="hist", random_state=random_state,
                        n_jobs=n_jobs if n_jobs is not None else 1, verbosity=0)
    return EncodedLabelClassifier(xgb)  # XGBoost wants labels 0..K-1; keep the user's labels


def _more_classifiers(key: str, cw: dict, *, random_state, n_jobs):
    """MLP, naive Bayes, decision tree and imbalanced-learn's balanced ensembles."""
    if key == "mlp":
        from sklearn.neural_network import MLPClassifier

        # early stopping holds out 10 % of the training fold, so no epoch count to tune
        return MLPClassifier(hidden_layer_sizes=(100,), max_iter=1000, early_stopping=True,
                             random_state=random_state)
    if key == "naive-bayes":
        from sklearn.naive_bayes import GaussianNB

        return GaussianNB()
    if key == "tree":
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(random_state=random_state, **cw)
    if key == "balanced-rf":
        from imblearn.ensemble import BalancedRandomForestClassifier

        # parameters spelled out: imbalanced-learn changed their defaults between versions
        return BalancedRandomForestClassifier(n_estimators=300, sampling_strategy="all", replacement=True,
                                              bootstrap=False, random_state=random_state, n_jobs=n_jobs, **cw)
    from imblearn.ensemble import EasyEnsembleClassifier

    return EasyEnsembleClassifier(n_estimators=10, random_state=random_state, n_jobs=n_jobs)


def make_selector(select: str | None, *, random_state=0):
    """A feature selection or reduction step from a short name, or ``None``.

    In a :func:`make_pipeline` pipeline the step (named ``"select"``) comes after scaling and
    before balancing, so it is fitted on the training folds only, like every other step.

    Parameters
    ----------
    select : str or None
        * ``"variance"``: :class:`~sklearn.feature_selection.VarianceThreshold` (drops constant
          columns);
        * ``"kbest"`` / ``"kbest-anova"`` / ``"anova"``: :class:`~sklearn.feature_selection.SelectKBest`
          by the ANOVA F-value, ``k=50`` (all columns, with a warning, when there are fewer);
        * ``"kbest-mi"`` / ``"mutual-info"``: ``SelectKBest`` by mutual information, ``k=50``;
        * ``"l1"``: :class:`~sklearn.feature_selection.SelectFromModel` of an L1-penalised
          linear SVM (``C=0.1``): the columns with a non-zero weight;
        * ``"pca"``: :class:`~sklearn.decomposition.PCA` keeping 95 % of the variance.

        A transformer instance is returned as is.
    random_state : int
        Seed of the mutual-information estimate.

    Examples
    --------
    >>> from featbus.pipelines import make_selector
    >>> make_selector("pca")
    PCA(n_components=0.95, svd_solver='full')
    """
    if select in _NONE:
        return None
    if not isinstance(select, str):
        if hasattr(select, "fit") and hasattr(select, "transform"):
            return select
        raise ValueError(f"select must be a name or a transformer, got {select!r}")
    key = SELECTORS.get(select.strip().lower())
    if key is None:
        raise ValueError(f"unknown select {select!r}; choose from none, {', '.join(sorted(SELECTORS))}")
    from sklearn import feature_selection as fs

    if key == "variance":
        return fs.VarianceThreshold()
    if key == "kbest-anova":
        return fs.SelectKBest(fs.f_classif, k=50)
    if key == "kbest-mi":
        from functools import partial

        return fs.SelectKBest(partial(fs.mutual_info_classif, random_state=random_state), k=50)
    if key == "l1":
        from sklearn.svm import LinearSVC

        return fs.SelectFromModel(LinearSVC(C=0.1, penalty="l1", dual=False, max_iter=5000))
    from sklearn.decomposition import PCA

    return PCA(n_components=0.95, svd_solver="full")


# --------------------------------------------------------------------------- pipeline

def make_pipeline(features: Sequence[Any] | str | None = ("hog", "lbp", "intensity"), *,
                  preprocessing: Sequence[Any] | str | None = None, balance: str | None = None,
                  classifier: str | Any = "svm", region: str | None = None, scale: bool = True,
                  random_state: int = 0, n_jobs: int | None = None, memory=None,
                  select: str | Any | None = None):
    """An imbalanced-learn pipeline: preprocessing, features, scaling, sampler, classifier.

    Parameters
    ----------
    features : str, sequence or None, default=("hog", "lbp", "intensity")
        Feature extractors by name (see :func:`make_features`), joined in a FeatureUnion named
        ``"features"``. ``None`` builds the tail only (for input that is already a feature
        matrix, e.g. from ``featbus extract``).
    preprocessing : str, sequence or None
        Image -> image steps before the features: ``"resize"``, ``"clahe"``, ``"denoise"``,
        ``"normalize"``, ``"roi"``, or transformer instances.
    balance : str or None
        ``None``, ``"smote"``, ``"borderline-smote"``, ``"adasyn"``, ``"smoteenn"``,
        ``"oversample"``, ``"undersample"`` (a ``"balance"`` step, used only while fitting, so
        on training folds only), or ``"class-weight"`` (``class_weight="balanced"`` on the
        classifier).
    classifier : str or estimator, default="svm"
        See :func:`make_classifier`.
    region : {"image", "mask", "bbox"}, optional
        Region for every feature extractor that takes one.
    scale : bool, default=True
        Add a :class:`~sklearn.preprocessing.StandardScaler` named ``"scale"`` (SVM, KNN,
        SMOTE and logistic regression all work on distances or need comparable scales).
    random_state : int, default=0
        Seed for sampler and classifier.
    n_jobs : int, optional
        Parallel jobs for extractors and classifiers that take them.
    memory : str or joblib.Memory, optional
        Cache of fitted transformers (features are then computed once per training fold during
        a grid search).
    select : str, transformer or None, default=None
        Feature selection or reduction after scaling, fitted on the training folds only:
        ``"variance"``, ``"kbest"`` (ANOVA), ``"kbest-mi"``, ``"l1"``, ``"pca"`` (see
        :func:`make_selector`), as a step named ``"select"``.

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline

    Examples
    --------
    >>> from featbus.pipelines import make_pipeline, param_grid
    >>> pipe = make_pipeline(None, balance="smote", classifier="svm")
    >>> [name for name, _ in pipe.steps]
    ['scale', 'balance', 'classifier']
    >>> sorted(param_grid(pipe))
    ['balance__k_neighbors', 'classifier__C', 'classifier__gamma']
    """
    from imblearn.pipeline import Pipeline

    steps = _make_preprocessing(preprocessing)
    if features is not None:
        steps.append(("features", make_features(features, region=region, n_jobs=n_jobs)))
    if scale:
        steps.append(("scale", StandardScaler()))
    selector = make_selector(select, random_state=random_state)
    if selector is not None:
        steps.append(("select", selector))
    sampler = make_sampler(balance, random_state=random_state)
    if sampler is not None:
        steps.append(("balance", sampler))
    class_weight = ("balanced" if isinstance(balance, str)
                    and SAMPLERS.get(balance.strip().lower()) == "class_weight" else None)
    steps.append(("classifier", make_classifier(classifier, class_weight=class_weight,
                                                random_state=random_state, n_jobs=n_jobs)))
    return Pipeline(steps, memory=memory)


# --------------------------------------------------------------------------- grids

def _classifier_grid(clf) -> tuple[str, dict[str, list]]:
    """(prefix inside the classifier step, grid) for a known classifier."""
    prefix = ""
    while isinstance(clf, (CalibratedClassifierCV, EncodedLabelClassifier)):
        clf, prefix = clf.estimator, prefix + "estimator__"
    name = type(clf).__name__
    if name == "SVC":
        return prefix, {"C": [0.1, 1.0, 10.0, 100.0], "gamma": ["scale", 1e-3, 1e-2]}
    if name == "RandomForestClassifier":
        return prefix, {"max_depth": [None, 12], "max_features": ["sqrt", 0.3]}
    if name == "KNeighborsClassifier":
        return prefix, {"n_neighbors": [3, 5, 9, 15], "weights": ["uniform", "distance"]}
    if name == "XGBClassifier":
        return prefix, {"max_depth": [3, 6], "learning_rate": [0.05, 0.2]}
    if name == "LogisticRegression":
        return prefix, {"C": [0.01, 0.1, 1.0, 10.0]}
    if name == "MLPClassifier":
        return prefix, {"alpha": [1e-4, 1e-2, 1.0], "hidden_layer_sizes": [(100,), (64, 32)]}
    if name == "GaussianNB":
        return prefix, {"var_smoothing": [1e-9, 1e-6, 1e-3]}
    if name == "DecisionTreeClassifier":
        return prefix, {"max_depth": [None, 5, 10], "min_samples_leaf": [1, 5]}
    if name == "BalancedRandomForestClassifier":
        return prefix, {"max_depth": [None, 12], "max_features": ["sqrt", 0.3]}
    if name == "EasyEnsembleClassifier":
        return prefix, {"n_estimators": [10, 30]}
    return prefix, {}


def _selector_grid(selector) -> dict[str, list]:
    name = type(selector).__name__
    if name == "SelectKBest":
        return {"k": [20, 50, 100]}
    if name == "SelectFromModel":
        return {"estimator__C": [0.01, 0.1, 1.0]}
    if name == "PCA":
        return {"n_components": [0.8, 0.95, 0.99]}
    return {}


def _sampler_grid(sampler) -> dict[str, list]:
    name = type(sampler).__name__
    if name in ("SMOTE", "BorderlineSMOTE"):
        return {"k_neighbors": [3, 5]}
    if name == "ADASYN":
        return {"n_neighbors": [3, 5]}
    if name == "SMOTEENN" and sampler.smote is not None:
        return {"smote__k_neighbors": [3, 5]}
    return {}


def param_grid(pipe) -> dict[str, list]:
    """A small grid for the classifier and sampler of a :func:`make_pipeline` pipeline.

    SVC: ``C`` x ``gamma`` (12 points); random forest: depth x features per split (4); KNN:
    neighbours x weighting (8); XGBoost: depth x learning rate (4); logistic regression: ``C``
    (4); MLP: L2 penalty x layers (6); naive Bayes: variance smoothing (3); decision tree:
    depth x leaf size (6); balanced random forest: as RF (4); easy ensemble: size (2).
    A ``"select"`` step adds ``k`` (SelectKBest, 20/50/100), the L1 model's ``C`` or PCA's kept
    variance (x3). SMOTE-type samplers add their neighbour count (x2). Feature extractors are left alone:
    their defaults are what the feature modules measured.

    Parameters
    ----------
    pipe : Pipeline
        A pipeline with a ``"classifier"`` step and optionally a ``"balance"`` step.

    Returns
    -------
    grid : dict
        For :class:`~sklearn.model_selection.GridSearchCV`.

    Examples
    --------
    >>> from featbus.pipelines import make_pipeline, param_grid
    >>> param_grid(make_pipeline(None, classifier="knn"))
    {'classifier__n_neighbors': [3, 5, 9, 15], 'classifier__weights': ['uniform', 'distance']}
    """
    steps = dict(getattr(pipe, "steps", []))
    if "classifier" not in steps:
        raise ValueError("param_grid needs a pipeline with a 'classifier' step (see make_pipeline)")
    grid: dict[str, list] = {}
    prefix, cgrid = _classifier_grid(steps["classifier"])
    grid.update({f"classifier__{prefix}{k}": v for k, v in cgrid.items()})
    if steps.get("select") not in (None, "passthrough"):
        grid.update({f"select__{k}": v for k, v in _selector_grid(steps["select"]).items()})
    if steps.get("balance") not in (None, "passthrough"):
        grid.update({f"balance__{k}": v for k, v in _sampler_grid(steps["balance"]).items()})
    return grid
