"""Ready-made pipelines: preprocessing, features, scaling, balancing, classifier; and their grids.

:func:`make_classification_pipeline` assembles an :class:`imblearn.pipeline.Pipeline` from short names::

    [preprocessing...] -> features (FamilyUnion: extract, scale, join) -> [balance] -> classifier

An :mod:`imblearn` pipeline is used because a sampler inside a scikit-learn pipeline would
resample at prediction time too; imbalanced-learn calls a sampler's ``fit_resample`` only
while fitting, so synthetic samples are made from the training folds alone and validation
folds are never touched. :func:`param_grid` gives a small, sensible grid for the chosen
classifier and sampler, ready for :class:`~sklearn.model_selection.GridSearchCV`.

Step names are fixed so grids are predictable: ``"features"`` (its parts are named after the
feature names, e.g. ``features__hog__orientations``), ``"scale"`` (only for a feature-matrix
input, ``features=None``), ``"balance"`` and ``"classifier"``; preprocessing steps are named
after their short names (``"resize"``, ``"clahe"``...).

Joining feature families
------------------------
The ``"features"`` step is a :class:`~featbus.compute.scaling.FamilyUnion`: every column standardised and
every family given the same total variance, so a wide family (HOG's 8100 columns) does not drown
the others. :mod:`featbus.compute.scaling` holds it, :class:`~featbus.compute.scaling.FamilyScaler` and
:func:`~featbus.compute.scaling.family_blocks`, and the measurements behind the default
(``benchmarks/feature_families.py``); they are importable from here too.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from importlib import import_module
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.preprocessing import StandardScaler

from .._registry import FEATURES, PREPROCESSORS, did_you_mean, entry_of, feature_key, is_cnn
from ..compute.scaling import FAMILY_SCALINGS, NONE_VALUES, FamilyScaler, FamilyUnion, family_blocks
from ..features import deep, filters, glcm, hog, intensity, lbp, shape, texture_matrices
from ..networks import BACKBONES
from ..preprocessing import intensity as image_intensity
from ..preprocessing import mammography
from ..segmentation import roi
from .encoded_labels import EncodedLabelClassifier
from .ingredients import (
    CLASSIFIER_TABLE,
    CLASSIFIERS,
    SAMPLER_TABLE,
    SAMPLERS,
    SELECTOR_TABLE,
    SELECTORS,
    build,
    find,
    grid_of,
)

# the feature and preprocessing modules above are what the registry's FEATURES and PREPROCESSORS
# names build (TensorFlow is imported by DeepFeatures only when it runs); a test checks that every
# registered module is among them

__all__ = [
    "extract_features",
    "make_classification_pipeline",
    "make_pipeline",
    "family_blocks",
    "make_features",
    "make_preprocessing",
    "FamilyScaler",
    "FamilyUnion",
    "FAMILY_SCALINGS",
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

#: the modules this module builds from (above), by name
_BUILDS = {m.__name__: m for m in (deep, filters, glcm, hog, intensity, lbp, shape, texture_matrices,
                                   image_intensity, mammography, roi)}


def _class(module: str, name: str) -> type:
    """The class a registry row names: from the modules imported above, or, for an estimator
    registered at run time (:func:`featbus._registry.register`, a plug-in), its own module."""
    found = _BUILDS.get(module) or sys.modules.get(module)
    if found is None:
        try:
            found = import_module(module)
        except ImportError as exc:
            raise ImportError(f"{name} is not available ({module}: {exc})") from exc
    return getattr(found, name)


# --------------------------------------------------------------------------- features

def _one_feature(spec: Any, *, region: str | None, n_jobs: int | None, cache: Any = None,
                 progress: Any = None) -> tuple[str, Any]:
    """Turn one feature spec (name, (name, transformer) or transformer) into a union part.

    The settings given (not ``None``) reach every part that takes them, a transformer given as
    an instance too (on a clone: the caller's object is not changed). A ``region`` that a part
    cannot honour is an error rather than silently computing on the whole image.
    """
    settings = {"region": region, "n_jobs": n_jobs, "cache": cache, "progress": progress}
    settings = {k: v for k, v in settings.items() if v is not None}
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return spec[0], _with_settings(spec[1], spec[0], settings)
    if not isinstance(spec, str):
        if not hasattr(spec, "fit") or not hasattr(spec, "transform"):
            raise ValueError(f"feature {spec!r} is neither a name nor a transformer")
        name = type(spec).__name__.lower()
        return name, _with_settings(spec, name, settings)
    name = feature_key(spec)  # aliases: "NGLDM" is gldm, "efficientnet-lite0" efficientnet_lite0
    if not name:
        raise ValueError("empty feature name")
    if name in FEATURES:
        cls = _class(*FEATURES[name])
    else:  # any other name is an ImageNet backbone; TensorFlow is imported only when it runs
        if name not in BACKBONES:
            raise ValueError(f"unknown feature {spec!r}{did_you_mean(name, [*FEATURES, *BACKBONES])}; "
                             f"choose from {', '.join(FEATURES)} or a "
                             f"DeepFeatures backbone: {', '.join(sorted(BACKBONES))}")
        cls = deep.DeepFeatures
        settings = {"backbone": name, **settings}
    accepted = cls().get_params()  # shape has no region: it always measures the mask
    return name, cls(**{k: v for k, v in settings.items() if k in accepted})


def _with_settings(transformer: Any, name: str, settings: dict[str, Any]) -> Any:
    """A clone of ``transformer`` with the union-wide ``settings`` it takes.

    A part whose own ``region`` was set to something else, or that has no ``region`` while
    one was asked for, raises: either would compute on another region than the one asked.
    ``n_jobs``, ``cache`` and ``progress`` only change how a part runs, so a part without them
    keeps its own way.
    """
    if not settings:
        return transformer
    own = transformer.get_params(deep=False) if hasattr(transformer, "get_params") else {}
    wanted = {k: v for k, v in settings.items() if k in own}
    if "region" in settings and "region" not in own and not getattr(entry_of(transformer), "needs_mask", False):
        raise ValueError(f"feature {name!r} ({type(transformer).__name__}) takes no region, so "
                         f"region={settings['region']!r} cannot apply to it; leave region=None or give "
                         "an extractor with a region parameter")
    if "region" in wanted:
        try:
            default = type(transformer)().get_params(deep=False).get("region")
        except TypeError:  # a class with required arguments: any region of its own is its choice
            default = None
        if own["region"] not in (default, wanted["region"]):
            raise ValueError(f"feature {name!r} was given region={own['region']!r} but the union "
                             f"asks region={wanted['region']!r}; set one of them")
    if not wanted:
        return transformer
    return clone(transformer).set_params(**wanted)


def make_features(features: Sequence[Any] | str, *, region: str | None = None,
                  n_jobs: int | None = None, family_scaling: str | None = None, cache: Any = None,
                  progress: Any = None) -> FamilyUnion:
    """A :class:`FamilyUnion` (a :class:`~sklearn.pipeline.FeatureUnion`) of feature extractors
    named by short names.

    Parameters
    ----------
    features : str or sequence of (str, transformer or (str, transformer) pair)
        Names: ``"hog"``, ``"lbp"``, ``"glcm"``, ``"intensity"``, ``"shape"``, the IBSI texture
        matrices ``"glrlm"``, ``"glszm"``, ``"gldzm"``, ``"ngtdm"``, ``"gldm"`` and the filter
        families ``"gabor"``, ``"laws"``, ``"wavelet"``, ``"log"``, ``"fractal"``; any other name
        (``"efficientnet_lite0"``...) is a :class:`featbus.DeepFeatures` backbone. A single
        string may list names separated by commas: ``"hog,lbp"``.
    region : {"image", "mask", "bbox"}, optional
        Region given to every extractor that takes one, extractors given as instances included
        (on a clone). ``shape`` always measures the mask. A part without a ``region``
        parameter, or an instance set to another region, raises rather than compute elsewhere
        than asked. ``None`` keeps each extractor's own region.
    n_jobs : int, optional
        Passed to every extractor that takes it, instances included (on a clone).
    family_scaling : {"equal", "standard", "pca"} or None, default=None
        How the union joins its parts (see :class:`FamilyScaler`); ``None``: unscaled
        concatenation, as a plain FeatureUnion. :func:`make_classification_pipeline` uses ``"equal"``.
    cache : None, False, str, path or joblib.Memory, optional
        ``cache`` of every extractor (:mod:`featbus.compute.extraction`): a folder keeps the rows on
        disk between runs and shares them between processes; ``False`` turns reuse off.
    progress : bool or "auto", optional
        ``progress`` of every extractor.

    Returns
    -------
    union : FamilyUnion
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
    cnns = [n for n, t in parts if is_cnn(t)]
    if cnns:  # said now, in one line, rather than by every fit of a grid search
        from ..networks.backend import require_keras

        require_keras(f"feature {cnns[0]!r} (a CNN)")
    names = [n for n, _ in parts]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"feature names must be unique, got {dup} more than once")
    return FamilyUnion(parts, family_scaling=family_scaling)


def make_preprocessing(preprocessing) -> list[tuple[str, Any]]:
    """The image -> image steps of a pipeline, named: ``preprocessing`` as
    :func:`make_classification_pipeline` takes it (short names, comma-separated or in a list,
    transformer instances, or ``(name, transformer)`` pairs; ``None``: none).

    Parameters
    ----------
    preprocessing : str, sequence or None
        See :func:`make_classification_pipeline`.

    Returns
    -------
    steps : list of (str, transformer)

    Examples
    --------
    >>> [name for name, _ in make_preprocessing("resize,clahe")]
    ['resize', 'clahe']
    """
    if preprocessing in NONE_VALUES:
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
                raise ValueError(f"unknown preprocessing {spec!r}{did_you_mean(spec, PREPROCESSORS)}; "
                                 f"choose from {sorted(PREPROCESSORS)}")
            module, cls, kwargs = PREPROCESSORS[key]
            steps.append((key, _class(module, cls)(**kwargs)))
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
        classifier instead) give ``None``. The SMOTE family is imbalanced-learn's classes from
        ``featbus.pipelines._samplers``: a resampled class with fewer samples than the neighbour count (a
        small class in a training fold) is fitted with fewer neighbours and a warning naming it.
    random_state : int
        Seed of the sampler.

    Examples
    --------
    >>> from featbus.pipelines import make_sampler
    >>> make_sampler("smote")
    SMOTE(random_state=0)
    """
    if balance in NONE_VALUES:
        return None
    if not isinstance(balance, str):
        if hasattr(balance, "fit_resample"):
            return balance
        raise ValueError(f"balance must be a name or an imblearn sampler, got {balance!r}")
    entry = find(SAMPLER_TABLE, balance, "balance", also=("none",))
    if entry.estimator is None:  # class weights: no step, the classifier is reweighted
        return None
    sampler = build(entry, random_state=random_state)
    if "neighbors" in " ".join(sampler.get_params()):
        # the SMOTE family: a class smaller than the neighbour count is fitted with fewer
        # neighbours and a warning, not imbalanced-learn's bare n_neighbors error
        from ._samplers import adapt_sampler

        sampler = adapt_sampler(sampler)
    return sampler


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
    entry = find(CLASSIFIER_TABLE, classifier, "classifier")
    if class_weight is not None and "class_weight" not in entry.takes:
        raise ValueError(f"classifier {classifier!r} takes no class weights; use a sampler "
                         "(balance='smote', 'oversample', ...) instead")
    return build(entry, class_weight=class_weight, random_state=random_state, n_jobs=n_jobs)


def make_selector(select: str | None, *, random_state=0):
    """A feature selection or reduction step from a short name, or ``None``.

    In a :func:`make_classification_pipeline` pipeline the step (named ``"select"``) comes after scaling and
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
    if select in NONE_VALUES:
        return None
    if not isinstance(select, str):
        if hasattr(select, "fit") and hasattr(select, "transform"):
            return select
        raise ValueError(f"select must be a name or a transformer, got {select!r}")
    return build(find(SELECTOR_TABLE, select, "select", also=("none",)), random_state=random_state)


# --------------------------------------------------------------------------- pipeline

def make_classification_pipeline(features: Sequence[Any] | str | None = ("hog", "lbp", "intensity"), *,
                                 preprocessing: Sequence[Any] | str | None = None, balance: str | None = None,
                                 classifier: str | Any = "svm", region: str | None = None, scale: bool = True,
                                 family_scaling: str | None = "equal", blocks: Sequence[int] | None = None,
                                 random_state: int = 0, n_jobs: int | None = None, memory=None,
                                 cache: Any = None, select: str | Any | None = None):
    """An imbalanced-learn pipeline: preprocessing, features, scaling, sampler, classifier.

    Parameters
    ----------
    features : str, sequence or None, default=("hog", "lbp", "intensity")
        Feature extractors by name (see :func:`make_features`), joined in a FeatureUnion named
        ``"features"``. ``None`` builds the tail only (for input that is already a feature
        matrix, e.g. from ``featbus extract``).
    preprocessing : str, sequence or None
        Image -> image steps before the features: ``"resize"``, ``"clahe"``, ``"denoise"``,
        ``"normalize"``, ``"roi"``; for mammograms ``"breast-mask"``, ``"pectoral"``,
        ``"flip"`` (chest wall to the left), ``"crop-breast"`` (see :data:`PREPROCESSORS`);
        or transformer instances.
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
        Standardise the features (SVM, KNN, SMOTE and logistic regression all work on
        distances or need comparable scales). With ``features``, the ``"features"`` union does
        it (its ``family_scaling``) and there is no separate step; with ``features=None`` a
        ``"scale"`` step does it: a :class:`~sklearn.preprocessing.StandardScaler`, or a
        :class:`FamilyScaler` when ``blocks`` is given.
    family_scaling : {"equal", "standard", "pca"} or None, default="equal"
        How families are joined when ``scale`` (see :class:`FamilyScaler`). ``"equal"``: every
        column standardised and every family given the same total variance, so a wide family
        (HOG's 8100 columns) does not drown the others; ``"standard"``: every column
        standardised and weighted alike (featbus 0.1). Measured by
        ``benchmarks/feature_families.py``: see :mod:`featbus.compute.scaling`.
    blocks : sequence of int, optional
        With ``features=None``: the widths of the families in the input matrix (e.g. of the
        columns ``featbus extract`` wrote per family), so they are joined as ``family_scaling``
        says.
    random_state : int, default=0
        Seed for sampler and classifier.
    n_jobs : int, optional
        Parallel jobs for extractors and classifiers that take them.
    memory : str or joblib.Memory, optional
        scikit-learn's cache of fitted pipeline steps. Feature rows need no such cache: every
        extractor reuses the rows it computed before (see ``cache``).
    cache : None, False, str, path or joblib.Memory, optional
        ``cache`` of every feature extractor (:mod:`featbus.compute.extraction`): ``None`` keeps rows in
        this process (and in ``$FEATBUS_CACHE`` when set); a folder also keeps them on disk
        between runs and shares them between parallel workers; ``False`` recomputes.
    select : str, transformer or None, default=None
        Feature selection or reduction after scaling, fitted on the training folds only:
        ``"variance"``, ``"kbest"`` (ANOVA), ``"kbest-mi"``, ``"l1"``, ``"pca"`` (see
        :func:`make_selector`), as a step named ``"select"``.

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline

    Examples
    --------
    >>> from featbus.pipelines import make_classification_pipeline, param_grid
    >>> pipe = make_classification_pipeline(None, balance="smote", classifier="svm")
    >>> [name for name, _ in pipe.steps]
    ['scale', 'balance', 'classifier']
    >>> sorted(param_grid(pipe))
    ['balance__k_neighbors', 'classifier__C', 'classifier__gamma']
    """
    from imblearn.pipeline import Pipeline

    steps = make_preprocessing(preprocessing)
    if family_scaling not in FAMILY_SCALINGS and family_scaling not in NONE_VALUES:
        raise ValueError(f"family_scaling must be one of {FAMILY_SCALINGS}, got {family_scaling!r}")
    if features is not None:
        # the union standardises and weighs its families itself: a StandardScaler after it
        # would undo the family weights
        steps.append(("features", make_features(features, region=region, n_jobs=n_jobs, cache=cache,
                                                 family_scaling=family_scaling if scale else None)))
    elif scale and blocks is not None and family_scaling not in NONE_VALUES:
        steps.append(("scale", FamilyScaler(blocks=list(blocks), method=family_scaling)))
    elif scale:
        steps.append(("scale", StandardScaler()))
    selector = make_selector(select, random_state=random_state)
    if selector is not None:
        steps.append(("select", selector))
    sampler = make_sampler(balance, random_state=random_state)
    if sampler is not None:
        steps.append(("balance", sampler))
    # a named balance that adds no step is class reweighting (make_sampler refused unknown names)
    class_weight = "balanced" if isinstance(balance, str) and balance not in NONE_VALUES and sampler is None else None
    steps.append(("classifier", make_classifier(classifier, class_weight=class_weight,
                                                random_state=random_state, n_jobs=n_jobs)))
    return Pipeline(steps, memory=memory)


#: The keywords of scikit-learn's ``make_pipeline`` (the steps form of :func:`make_pipeline`).
_STEPS_KEYWORDS = ("memory", "verbose", "transform_input")


def _is_step(obj) -> bool:
    """An estimator, ``"passthrough"`` or ``None``: what scikit-learn's ``make_pipeline`` chains."""
    return obj == "passthrough" if isinstance(obj, str) else obj is None or hasattr(obj, "fit")


def make_pipeline(*steps, memory=None, verbose: bool = False, **kwargs):
    """scikit-learn's :func:`~sklearn.pipeline.make_pipeline`: chain the given steps.

    ``featbus.make_pipeline(HOGFeatures(), StandardScaler(), SVC())`` returns the
    :class:`sklearn.pipeline.Pipeline` that scikit-learn's function returns, steps named after
    their lower-cased class names. A step with ``fit_resample`` (a sampler such as SMOTE)
    makes it imbalanced-learn's :func:`~imblearn.pipeline.make_pipeline` instead, a subclass of
    scikit-learn's Pipeline that resamples while fitting only (a sampler in scikit-learn's
    Pipeline would be an error).

    featbus 0.1 gave this name to the builder of a whole classification pipeline from short
    names, now :func:`make_classification_pipeline`. That call form (no argument; short names,
    a list of them or ``None`` as the first argument; or one of the builder's keywords such as
    ``classifier=``) is still recognised: it gives a ``FutureWarning`` and the builder's
    pipeline, until featbus 0.3. Estimators as arguments always mean steps.

    Parameters
    ----------
    *steps : estimators
        The steps, in order (``"passthrough"`` or ``None`` for an empty one).
    memory : str, joblib.Memory or None, default=None
        Caches the fitted transformers, as in scikit-learn.
    verbose : bool, default=False
        Print the time each step takes to fit.
    **kwargs
        ``transform_input`` (scikit-learn's, where the installed version has it), or the
        deprecated form's keywords (see above).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline (imblearn.pipeline.Pipeline with a sampler)

    Examples
    --------
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.svm import SVC
    >>> from featbus import HOGFeatures, make_pipeline
    >>> pipe = make_pipeline(HOGFeatures(), SVC())
    >>> type(pipe) is Pipeline, list(pipe.named_steps)
    (True, ['hogfeatures', 'svc'])
    """
    old_keywords = set(kwargs) - set(_STEPS_KEYWORDS)
    old_form = bool(old_keywords) or not steps or (len(steps) == 1 and (steps[0] is None or not _is_step(steps[0])))
    if old_form:
        if len(steps) > 1:
            raise TypeError(f"make_pipeline got {sorted(old_keywords)}: keywords of "
                            "featbus.make_classification_pipeline, which takes one positional argument (the "
                            f"features), not {len(steps)}")
        warnings.warn("featbus.make_pipeline now chains estimators as scikit-learn's make_pipeline does; "
                      "this call is the classification-pipeline builder's, renamed "
                      "featbus.make_classification_pipeline (same parameters). The old form goes in featbus 0.3.",
                      FutureWarning, stacklevel=2)
        if memory is not None:
            kwargs["memory"] = memory
        return make_classification_pipeline(*steps, **kwargs)
    bad = [(i, s) for i, s in enumerate(steps) if not _is_step(s)]
    if bad:
        i, s = bad[0]
        raise TypeError(f"make_pipeline chains estimators; argument {i} is a {type(s).__name__} ({s!r}). For a "
                        "classification pipeline from short names use featbus.make_classification_pipeline.")
    if any(hasattr(s, "fit_resample") for s in steps):
        from imblearn.pipeline import make_pipeline as imblearn_make_pipeline

        return imblearn_make_pipeline(*steps, memory=memory, verbose=verbose, **kwargs)
    from sklearn.pipeline import make_pipeline as sklearn_make_pipeline

    return sklearn_make_pipeline(*steps, memory=memory, verbose=verbose, **kwargs)


# --------------------------------------------------------------------------- grids

def _classifier_grid(clf) -> tuple[str, dict[str, list]]:
    """(prefix inside the classifier step, grid) for a classifier of the table, wrapped or not."""
    prefix = ""
    while isinstance(clf, (CalibratedClassifierCV, EncodedLabelClassifier)):
        clf, prefix = clf.estimator, prefix + "estimator__"
    return prefix, grid_of(clf, CLASSIFIER_TABLE)


def param_grid(pipe) -> dict[str, list]:
    """A small grid for the classifier and sampler of a :func:`make_classification_pipeline` pipeline.

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
    >>> from featbus.pipelines import make_classification_pipeline, param_grid
    >>> param_grid(make_classification_pipeline(None, classifier="knn"))
    {'classifier__n_neighbors': [3, 5, 9, 15], 'classifier__weights': ['uniform', 'distance']}
    """
    steps = dict(getattr(pipe, "steps", []))
    if "classifier" not in steps:
        raise ValueError("param_grid needs a pipeline with a 'classifier' step (see make_classification_pipeline)")
    grid: dict[str, list] = {}
    prefix, cgrid = _classifier_grid(steps["classifier"])
    grid.update({f"classifier__{prefix}{k}": v for k, v in cgrid.items()})
    if steps.get("select") not in (None, "passthrough"):
        grid.update({f"select__{k}": v for k, v in grid_of(steps["select"], SELECTOR_TABLE).items()})
    if steps.get("balance") not in (None, "passthrough"):
        grid.update({f"balance__{k}": v for k, v in grid_of(steps["balance"], SAMPLER_TABLE).items()})
    return grid


def extract_features(data, features, *, region: str | None = None, n_jobs: int | None = None,
                     cache: Any = None, progress: Any = "auto") -> tuple[np.ndarray, list[str]]:
    """The feature matrix of a data set, through the extraction path (no labels are used).

    Feature extractors learn nothing from labels, so computing them once for all images before
    cross-validating a classifier on the matrix leaks nothing; it is what a
    :class:`~sklearn.model_selection.GridSearchCV` over a whole pipeline computes, too.

    Parameters
    ----------
    data : Bunch or sequence of images
        A featbus data set (its ``data`` records, with masks, are used), or images, records or
        paths.
    features : str or sequence
        Names as in :func:`featbus.pipelines.make_features` (``"lbp,glcm"``,
        ``["efficientnet_lite0", "hog"]``) or ``(name, transformer)`` pairs.
    region : {"image", "mask", "bbox"}, optional
        Region of every extractor that takes one.
    n_jobs : int, optional
        Workers of every extractor that takes them.
    cache : None, False, str, path or joblib.Memory, optional
        Where rows are kept (see the module docstring): a folder makes a second run (or one
        with another extractor added) compute only what is new.
    progress : bool or "auto", default="auto"
        A progress bar per extractor while it computes.

    Returns
    -------
    X : ndarray of shape (n_images, n_features)
    names : list of str
        Column names, prefixed by the extractor's name: ``lbp__lbp.r1.p8.u0``.

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.pipelines import extract_features
    >>> X, names = extract_features(make_phantoms(4, image_size=64, random_state=0), "intensity",
    ...                             progress=False)
    >>> X.shape[0], names[0]
    (4, 'intensity__intensity.mean')
    """
    items = list(data.data) if hasattr(data, "data") and hasattr(data, "target") else list(data)
    union = make_features(features, region=region, n_jobs=n_jobs, cache=cache, progress=progress)
    X = union.fit_transform(items)
    return np.asarray(X), [str(n) for n in union.get_feature_names_out()]
