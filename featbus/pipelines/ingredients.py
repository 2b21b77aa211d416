"""The pipeline ingredients featbus builds by name: classifiers, balancing and feature selection.

One table per ingredient. An entry holds all featbus knows of it: its names (the first is the
one help texts list), the estimator it builds and with which fixed arguments, the run settings
it takes (class weights, a seed, threads), the small grid :func:`featbus.pipelines.param_grid`
searches, and a one-line summary. :func:`featbus.pipelines.make_classifier`,
:func:`~featbus.pipelines.make_sampler`, :func:`~featbus.pipelines.make_selector`,
:func:`~featbus.pipelines.param_grid`, the command line's checks and its help all read these
tables, so a new classifier is one entry here.

The module imports nothing heavy (the command line reads it for its help): an estimator's
module is imported when the estimator is built.

Examples
--------
>>> from featbus.pipelines.ingredients import CLASSIFIER_TABLE, build
>>> entry = CLASSIFIER_TABLE["knn"]
>>> entry.names, entry.grid["n_neighbors"]
(('knn',), [3, 5, 9, 15])
>>> build(entry, random_state=0, n_jobs=2)
KNeighborsClassifier(n_jobs=2)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any, NamedTuple

from .._registry import did_you_mean

__all__ = ["CLASSIFIERS", "CLASSIFIER_TABLE", "Ingredient", "SAMPLERS", "SAMPLER_TABLE", "SELECTORS",
           "SELECTOR_TABLE", "aliases", "build", "find", "grid_of", "load_class"]

#: the run settings an ingredient may take, passed by the pipeline builders
RUN_SETTINGS = ("class_weight", "random_state", "n_jobs")


class Ingredient(NamedTuple):
    """One classifier, sampler or selector that pipelines build by name."""

    #: its names: the first is listed by help texts, the others are aliases
    names: tuple[str, ...]
    #: dotted path of the estimator class (inside any wrapper ``wrap`` adds); ``None`` for the
    #: sampler entry that adds no step (class reweighting)
    estimator: str | None
    #: one line for help texts and docs
    summary: str
    #: fixed constructor arguments
    params: dict[str, Any] = {}
    #: which of :data:`RUN_SETTINGS` its constructor takes
    takes: tuple[str, ...] = ()
    #: GridSearchCV grid of the estimator's own parameters (entries of one class share it)
    grid: dict[str, list] = {}
    #: builds the ingredient from the constructed estimator class and its arguments, when it is
    #: more than ``cls(**arguments)`` (a wrapper, a scoring function with a seed)
    wrap: Callable[[type, dict[str, Any]], Any] | None = None
    #: the pip extra that provides it, when optional
    extra: str | None = None
    #: types its fitted estimator holds that are not estimator classes (a booster, a tree, an
    #: optimiser: each one's state is data), which a model file may therefore create without the
    #: user's trust; :mod:`featbus.model.trust` lists them, and every row's package (``imblearn``,
    #: ``xgboost``), in a table of its own that a test holds equal to the rows
    holds: tuple[str, ...] = ()


def load_class(path: str) -> type:
    """The class at a dotted path.

    Examples
    --------
    >>> load_class("sklearn.svm.SVC").__name__
    'SVC'
    """
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def build(entry: Ingredient, **settings: Any) -> Any:
    """The estimator of ``entry``, with the run settings it takes (``None`` values left out).

    Parameters
    ----------
    entry : Ingredient
    **settings
        ``class_weight``, ``random_state``, ``n_jobs``; those ``entry.takes`` are passed on.

    Examples
    --------
    >>> build(CLASSIFIER_TABLE["logreg"], class_weight="balanced", n_jobs=4)
    LogisticRegression(class_weight='balanced', max_iter=2000)
    """
    unknown = set(settings) - set(RUN_SETTINGS)
    if unknown:
        raise TypeError(f"unknown run settings {sorted(unknown)}; known: {RUN_SETTINGS}")
    arguments = dict(entry.params)
    arguments.update({k: v for k, v in settings.items() if k in entry.takes and v is not None})
    try:
        cls = load_class(entry.estimator)
    except ImportError as exc:
        hint = f": pip install 'featbus[{entry.extra}]'" if entry.extra else ""
        raise ImportError(f"{entry.names[0]!r} needs {entry.estimator.split('.')[0]}{hint}") from exc
    return entry.wrap(cls, arguments) if entry.wrap is not None else cls(**arguments)


def _table(*entries: Ingredient) -> dict[str, Ingredient]:
    return {entry.names[0]: entry for entry in entries}


def aliases(table: dict[str, Ingredient]) -> dict[str, str]:
    """Every name and alias of a table -> the entry's first name.

    Examples
    --------
    >>> aliases(SELECTOR_TABLE)["anova"]
    'kbest-anova'
    """
    return {name: key for key, entry in table.items() for name in entry.names}


def find(table: dict[str, Ingredient], name: str, what: str, *, also: tuple[str, ...] = ()) -> Ingredient:
    """The entry a name or alias stands for; a ``ValueError`` listing the names otherwise
    (after ``also``: choices the caller handles itself, such as ``"none"``).

    Examples
    --------
    >>> find(CLASSIFIER_TABLE, "Random-Forest", "classifier").names
    ('rf', 'random-forest')
    """
    known = aliases(table)
    key = known.get(name.strip().lower())
    if key is None:
        raise ValueError(f"unknown {what} {name!r}{did_you_mean(name, [*also, *known])}; "
                         f"choose from {', '.join([*also, *sorted(known)])}")
    return table[key]


def grid_of(estimator: Any, table: dict[str, Ingredient]) -> dict[str, list]:
    """The grid of the table entry whose class ``estimator`` is an instance of (``{}`` if none).

    Keys the estimator does not have (e.g. a user's ``SMOTEENN()`` without an inner SMOTE) are
    left out, so the grid always applies.

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> grid_of(PCA(), SELECTOR_TABLE)
    {'n_components': [0.8, 0.95, 0.99]}
    """
    for entry in table.values():
        if entry.estimator is None or not entry.grid:
            continue
        module, _, name = entry.estimator.rpartition(".")
        # an instance of a class implies its module was imported: no import needed to test it
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(estimator, cls):
            params = estimator.get_params(deep=True)
            return {k: v for k, v in entry.grid.items() if k in params}
    return {}


# --------------------------------------------------------------------------- classifiers

def _calibrated(cls: type, arguments: dict) -> Any:
    from sklearn.calibration import CalibratedClassifierCV

    # sigmoid (Platt) calibration on internal folds: what probability=True did, explicitly
    return CalibratedClassifierCV(cls(**arguments), method="sigmoid", cv=3)


def _encoded_labels(cls: type, arguments: dict) -> Any:
    from .encoded_labels import EncodedLabelClassifier

    return EncodedLabelClassifier(cls(**arguments))  # XGBoost wants labels 0..K-1; keep the user's


_SVC_GRID = {"C": [0.1, 1.0, 10.0, 100.0], "gamma": ["scale", 1e-3, 1e-2]}
_FOREST_GRID = {"max_depth": [None, 12], "max_features": ["sqrt", 0.3]}
_TREE = "sklearn.tree._tree.Tree"  # the node table every decision tree holds

#: Classifiers: ``make_classifier(name)``.
CLASSIFIER_TABLE: dict[str, Ingredient] = _table(
    Ingredient(("svm", "svc"), "sklearn.svm.SVC",
               "RBF support vector machine; scores are its decision function",
               takes=("class_weight",), grid=_SVC_GRID),
    Ingredient(("svm-calibrated",), "sklearn.svm.SVC",
               "the SVM inside a sigmoid (Platt) calibration on 3 internal folds, for real probabilities",
               takes=("class_weight",), grid=_SVC_GRID, wrap=_calibrated),
    Ingredient(("rf", "random-forest"), "sklearn.ensemble.RandomForestClassifier", "random forest of 300 trees",
               params={"n_estimators": 300}, takes=("class_weight", "random_state", "n_jobs"), grid=_FOREST_GRID,
               holds=(_TREE,)),
    Ingredient(("knn",), "sklearn.neighbors.KNeighborsClassifier", "k nearest neighbours (5)",
               params={"n_neighbors": 5}, takes=("n_jobs",),
               grid={"n_neighbors": [3, 5, 9, 15], "weights": ["uniform", "distance"]}),
    Ingredient(("xgboost", "xgb"), "xgboost.XGBClassifier", "gradient-boosted trees (300, depth 4)",
               params={"n_estimators": 300, "max_depth": 4, "learning_rate": 0.1, "subsample": 0.8,
                       "colsample_bytree": 0.5, "tree_method": "hist", "n_jobs": 1, "verbosity": 0},
               takes=("random_state", "n_jobs"), grid={"max_depth": [3, 6], "learning_rate": [0.05, 0.2]},
               wrap=_encoded_labels, extra="xgboost", holds=("xgboost.core.Booster",)),
    Ingredient(("logreg", "lr", "logistic"), "sklearn.linear_model.LogisticRegression", "logistic regression",
               params={"max_iter": 2000}, takes=("class_weight",), grid={"C": [0.01, 0.1, 1.0, 10.0]}),
    # early stopping holds out 10 % of the training fold, so no epoch count to tune
    Ingredient(("mlp",), "sklearn.neural_network.MLPClassifier",
               "multilayer perceptron, one hidden layer of 100, early stopping",
               params={"hidden_layer_sizes": (100,), "max_iter": 1000, "early_stopping": True},
               takes=("random_state",), grid={"alpha": [1e-4, 1e-2, 1.0], "hidden_layer_sizes": [(100,), (64, 32)]},
               holds=("sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
                      "sklearn.neural_network._stochastic_optimizers.SGDOptimizer")),
    Ingredient(("naive-bayes", "nb"), "sklearn.naive_bayes.GaussianNB", "Gaussian naive Bayes",
               grid={"var_smoothing": [1e-9, 1e-6, 1e-3]}),
    Ingredient(("tree", "decision-tree"), "sklearn.tree.DecisionTreeClassifier", "one decision tree",
               takes=("class_weight", "random_state"), grid={"max_depth": [None, 5, 10], "min_samples_leaf": [1, 5]},
               holds=(_TREE,)),
    # parameters spelled out: imbalanced-learn changed their defaults between versions
    Ingredient(("balanced-rf", "balanced-random-forest"), "imblearn.ensemble.BalancedRandomForestClassifier",
               "imbalanced-learn's balanced random forest (each tree on an undersampled bootstrap)",
               params={"n_estimators": 300, "sampling_strategy": "all", "replacement": True, "bootstrap": False},
               takes=("class_weight", "random_state", "n_jobs"), grid=_FOREST_GRID, holds=(_TREE,)),
    Ingredient(("easy-ensemble",), "imblearn.ensemble.EasyEnsembleClassifier",
               "imbalanced-learn's easy ensemble (boosted members on undersampled subsets)",
               params={"n_estimators": 10}, takes=("random_state", "n_jobs"), grid={"n_estimators": [10, 30]},
               holds=(_TREE,)),  # boosted decision stumps
)

# --------------------------------------------------------------------------- samplers

def _smoteenn(cls: type, arguments: dict) -> Any:
    from imblearn.over_sampling import SMOTE

    return cls(smote=SMOTE(random_state=arguments.get("random_state")), **arguments)


#: Balancing (``make_sampler(name)``): a ``"balance"`` step used only while fitting.
SAMPLER_TABLE: dict[str, Ingredient] = _table(
    Ingredient(("smote",), "imblearn.over_sampling.SMOTE", "synthetic minority samples between neighbours",
               takes=("random_state",), grid={"k_neighbors": [3, 5]}),
    Ingredient(("borderline-smote", "borderline_smote"), "imblearn.over_sampling.BorderlineSMOTE",
               "SMOTE from the minority samples near the class border",
               takes=("random_state",), grid={"k_neighbors": [3, 5]}),
    Ingredient(("adasyn",), "imblearn.over_sampling.ADASYN", "synthetic samples where the minority is hardest",
               takes=("random_state",), grid={"n_neighbors": [3, 5]}),
    Ingredient(("smoteenn", "smote-enn"), "imblearn.combine.SMOTEENN",
               "SMOTE, then edited nearest neighbours cleaning", takes=("random_state",),
               grid={"smote__k_neighbors": [3, 5]}, wrap=_smoteenn),
    Ingredient(("oversample", "random-over"), "imblearn.over_sampling.RandomOverSampler",
               "repeat minority samples at random", takes=("random_state",)),
    Ingredient(("undersample", "random-under"), "imblearn.under_sampling.RandomUnderSampler",
               "drop majority samples at random", takes=("random_state",)),
    Ingredient(("class-weight", "class_weight", "balanced"), None,
               "no resampling: the classifier weighs classes by their inverse frequency"),
)

# --------------------------------------------------------------------------- selectors

def _mutual_info(cls: type, arguments: dict) -> Any:
    from functools import partial

    from sklearn.feature_selection import mutual_info_classif

    return cls(partial(mutual_info_classif, random_state=arguments.pop("random_state", None)), **arguments)


def _anova(cls: type, arguments: dict) -> Any:
    from sklearn.feature_selection import f_classif

    return cls(f_classif, **arguments)


def _l1_model(cls: type, arguments: dict) -> Any:
    from sklearn.svm import LinearSVC

    return cls(LinearSVC(C=0.1, penalty="l1", dual=False, max_iter=5000), **arguments)


#: Feature selection or reduction (``make_selector(name)``): a ``"select"`` step after scaling.
SELECTOR_TABLE: dict[str, Ingredient] = _table(
    Ingredient(("variance",), "sklearn.feature_selection.VarianceThreshold", "drop constant columns"),
    Ingredient(("kbest-anova", "kbest", "anova"), "sklearn.feature_selection.SelectKBest",
               "the 50 columns of highest ANOVA F-value", params={"k": 50}, grid={"k": [20, 50, 100]}, wrap=_anova),
    Ingredient(("kbest-mi", "mutual-info"), "sklearn.feature_selection.SelectKBest",
               "the 50 columns of highest mutual information", params={"k": 50}, takes=("random_state",),
               grid={"k": [20, 50, 100]}, wrap=_mutual_info),
    Ingredient(("l1",), "sklearn.feature_selection.SelectFromModel",
               "the columns an L1-penalised linear SVM (C=0.1) gives a non-zero weight",
               grid={"estimator__C": [0.01, 0.1, 1.0]}, wrap=_l1_model),
    Ingredient(("pca",), "sklearn.decomposition.PCA", "principal components keeping 95 % of the variance",
               params={"n_components": 0.95, "svd_solver": "full"}, grid={"n_components": [0.8, 0.95, 0.99]}),
)

#: every classifier name or alias -> its entry's first name
CLASSIFIERS: dict[str, str] = aliases(CLASSIFIER_TABLE)
#: every balancing name or alias -> its entry's first name
SAMPLERS: dict[str, str] = aliases(SAMPLER_TABLE)
#: every selector name or alias -> its entry's first name
SELECTORS: dict[str, str] = aliases(SELECTOR_TABLE)
