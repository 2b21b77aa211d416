"""Training a featbus model: :func:`train_model`, the training room of a model.

:func:`train_model` extracts features from a labelled data set, cross-validates the recipe on
duplicate-grouped folds (the numbers it was chosen by), fits it on all images and returns a
:class:`~featbus.model.FeatbusModel`; :meth:`~featbus.model.FeatbusModel.save` writes it
(the file: :mod:`featbus.model.format`) and :func:`~featbus.model.load_model` reads it back.
Predicting never imports this module (:mod:`featbus.model`).

Models with a lesion segmenter
------------------------------
``train_model(..., segmenter=...)`` puts a fitted :class:`~featbus.ROICropper`
(``source="segmenter"``, ``on_empty="image"``, ``pass_mask=True``) in front of the features:
every image, in training and in prediction, is cropped to the box of the lesion the segmenter
predicts (plus ``roi_margin``), and the predicted mask travels with the crop, so mask-based
features (``shape``, ``region="mask"``/``"bbox"``) are allowed; without a segmenter they are
refused (a new image comes without a mask). Training images are cropped by the segmenter's
predictions, not by their ground truth, so that training sees what prediction sees. The
manifest's ``segmenter`` entry records the segmenter's class, parameters, how it was obtained
(trained inside :func:`train_model`, read from a file with its SHA-256, or passed fitted) and
whether it was trained on the training images, in which case the cross-validation numbers are
optimistic for the crops (the segmenter has seen every test fold's masks); ``notes`` and
:meth:`~featbus.model.FeatbusModel.describe` say so. (Format 2 introduced the cropper: a featbus that reads only
format 1 refuses such a file instead of silently predicting on uncropped images.)

Probabilities
-------------
Every model has ``predict_proba``. A classifier without one (the default RBF
:class:`~sklearn.svm.SVC`) is wrapped, with the scaler and sampler before it, in
:class:`~sklearn.calibration.CalibratedClassifierCV` (``method="sigmoid"``, i.e. Platt scaling,
``ensemble=False``): the sigmoid is fitted on *out-of-fold* decision values of duplicate-grouped
folds, then the SVC is refitted on all images. Sigmoid rather than isotonic because a few hundred
images per class are too few for isotonic regression (it overfits below ~1000 samples,
Niculescu-Mizil & Caruana 2005, doi:10.1145/1102351.1102430); grouped folds so near-duplicates
cannot make the calibration over-confident; not ``SVC(probability=True)``, which calibrates on
its own ungrouped internal folds and whose probabilities may disagree with its predictions.

Grid search
-----------
``train_model(..., search=True)`` (``featbus train --search``) tunes the classifier's main
parameters with :class:`~sklearn.model_selection.GridSearchCV` over
:func:`featbus.pipelines.param_grid`'s small grid of the classifier (SVM ``C`` x ``gamma``,
random forest depth x features per split, KNN neighbours x weighting, logistic regression ``C``,
XGBoost depth x learning rate; a sampler's neighbour count too). Its inner folds are
:class:`~sklearn.model_selection.StratifiedGroupKFold` over the same groups as the outer folds
(patients, or near-duplicate groups), passed through to every search, so two views of one
lesion never straddle an inner split either; candidates are scored by the malignant AUC
(the figure table's AUC, :mod:`featbus.evaluation.figures`, of the classifier's score; the mean
one-vs-rest AUC without a malignant class). The search is part of what each fit does: every outer fold of the
cross-validation, every out-of-fold prediction behind the operating point and every site left
out runs its own search on its own training images (nested cross-validation), so the figures
stored never come from parameters chosen on the images they judge. The model itself is then
fitted, with the Platt calibration above where needed, with the parameters the search chooses on
every image; the manifest's ``recipe["search"]`` records the grid, the inner folds, that choice,
its inner score and each outer fold's own choice.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._registry import EXECUTION_PARAMS, is_cnn, reads_masks
from ..evaluation.sanity import verdict_to_manifest
from ..evaluation.sites import (
    SITE_BALANCE_ABOUT,
    leave_one_site_out,
    site_balance_shares,
    site_balance_weights,
    sites_of,
)
from ..io import file_sha256, load_item
from ..metrics import DEFAULT_TARGET_SENSITIVITY, OperatingPoint
from ..model.format import FORMAT_VERSION, MAGIC, data_sha256, json_safe, package_versions
from ..model.loaded import FeatbusModel
from ..model.provenance import overlap_notes
from ..model.scale import parse_input_scale

__all__ = ["train_model", "train_on_table", "site_balance_weights", "SEARCH_INNER_SPLITS"]

#: Inner folds of ``train_model(..., search=True)``'s grid search (as ``featbus evaluate --search``).
SEARCH_INNER_SPLITS = 3


def _intensity_profile(records, y_names, classes) -> dict:
    """Per-class distribution of each image's mean and standard deviation (0..1 scale)."""
    from .._records import to_float

    stats = np.array([[float(np.mean(im)), float(np.std(im))]
                      for im in (to_float(r.image) for r in records)])
    out = {}
    for c in classes:
        sel = stats[np.asarray(y_names) == c]
        out[str(c)] = {name: {"values": np.round(sel[:, j], 5).tolist(),
                              "quantiles": np.round(np.quantile(sel[:, j], [0.05, 0.25, 0.5, 0.75, 0.95]),
                                                    5).tolist()}
                       for j, name in enumerate(("mean", "std"))}
    return out


def _forget_run_settings(union) -> None:
    """Give the saved extractors their default cache and progress bar: a cache folder of the
    training machine means nothing where the model predicts."""
    for _, est in union.transformer_list:
        own = est.get_params(deep=False)
        run = {k: v for k, v in type(est)().get_params(deep=False).items() if k in ("cache", "progress") and k in own}
        if run:
            est.set_params(**run)


def _extractor_settings(union) -> dict:
    out = {}
    for name, est in union.transformer_list:
        params = {k: v for k, v in est.get_params(deep=False).items() if k not in EXECUTION_PARAMS}
        out[name] = {"class": type(est).__name__, "params": json_safe(params)}
    return out


def _cv_summary(report) -> dict:
    out = {"cv": report.cv, "n_splits": len(report.splits), "n_bootstrap": report.n_bootstrap,
           "score_kind": report.score_kind}
    for metric in ("accuracy", "f1", "auc", "sensitivity", "specificity"):
        try:
            value = report.value(metric)
        except (KeyError, ValueError):
            continue
        lo, hi = report.interval(metric) if report.n_bootstrap else (np.nan, np.nan)
        out[metric] = {"value": value, "ci": [lo, hi]}
    # each class's share found (its sensitivity, the figure table's): the name the file has always used
    out["per_class_accuracy"] = {str(n): float(report.value("sensitivity", c))
                                 for c, n in zip(report.classes.tolist(), report.class_names)}
    # each class's one-vs-rest AUC: what an external validation of one class compares with
    per_class_auc = {}
    for n in report.class_names:
        try:
            value = report.value("auc", str(n))
        except (KeyError, ValueError):
            continue
        lo, hi = report.interval("auc", str(n)) if report.n_bootstrap else (np.nan, np.nan)
        per_class_auc[str(n)] = {"value": value, "ci": [lo, hi]}
    if per_class_auc:
        out["per_class_auc"] = per_class_auc
    # the model-sanity verdict of these figures (featbus.evaluation.sanity), for inspect and the app
    out["sanity"] = verdict_to_manifest(report.sanity)
    return out


def _fitted_segmenter(segmenter, records, groups) -> tuple[Any, dict]:
    """The segmenter a model holds, and what its manifest says about it.

    A path is loaded (:meth:`UNetSegmenter.load`, no code from the file runs), a fitted
    segmenter is kept, an unfitted one is cloned and trained on ``records``' masks.
    """
    from sklearn.base import clone

    from ..segmentation.roi import ROICropper

    info: dict[str, Any] = {}
    if isinstance(segmenter, (str, os.PathLike)):
        from ..networks.pretrained import find_pretrained
        from ..segmentation.unet import UNetSegmenter, segmenter_file

        path = str(segmenter_file(segmenter))  # a file, or the name of one featbus ships
        seg = UNetSegmenter.load(path)
        shipped = find_pretrained(segmenter, "segmenter") is not None and not os.path.isfile(segmenter)
        info.update(obtained=f"featbus's shipped segmenter {segmenter}" if shipped
                    else f"loaded from the file {os.path.basename(path)}",
                    file=str(segmenter) if shipped else os.path.abspath(path),
                    sha256=file_sha256(path), trained_on_training_images="unknown")
    elif not hasattr(segmenter, "predict_masks"):
        raise TypeError(f"segmenter must be a UNetSegmenter (fitted or not), a path to a saved .keras segmenter "
                        f"or an object with predict_masks; got {type(segmenter).__name__}")
    elif ROICropper._is_fitted(segmenter):
        seg = segmenter
        info.update(obtained="passed already trained", trained_on_training_images="unknown")
    else:
        missing = [i for i, rec in enumerate(records) if getattr(rec, "mask", None) is None]
        if missing:
            i = missing[0]
            raise ValueError(f"an unfitted segmenter is trained on the images' lesion masks, but image {i} "
                             f"({getattr(records[i], 'path', None) or 'an array'}) has none ({len(missing)} "
                             "image(s) without): give masks (a normal image's is all zero) or a trained segmenter")
        seg = clone(segmenter)
        if "groups" in _fit_params(seg):  # its validation split keeps near-duplicates together
            seg.fit(records, groups=groups)
        else:
            seg.fit(records)
        info.update(obtained="trained by train_model on the training images' masks",
                    trained_on_training_images=True)
    prints = getattr(seg, "fingerprints_", None)
    if info.get("trained_on_training_images") == "unknown" and isinstance(prints, (list, tuple)) and prints:
        from ..model.provenance import count_seen  # the segmenter's file says which images trained it

        n_seen = int(count_seen(records, prints).sum())
        info.update(trained_on_training_images=n_seen > 0, n_training_images_seen=n_seen)
    params = seg.get_params(deep=False) if hasattr(seg, "get_params") else {}
    info.update({"class": type(seg).__name__, "params": json_safe(params)})
    for attr in ("n_train_", "n_val_", "n_epochs_", "best_epoch_", "training_time_"):
        if hasattr(seg, attr):
            info[attr] = json_safe(getattr(seg, attr))
    return seg, info


def _fit_params(est) -> set[str]:
    import inspect

    return set(inspect.signature(est.fit).parameters)


def train_model(data, features: Sequence[Any] | str = ("hog", "lbp", "intensity"), *,
                classifier: str | Any = "svm", recipe: str | None = None, recipe_overrides: dict | None = None,
                network: Any = None, balance: str | None = None, region: str | None = None,
                segmenter: Any = None, roi_margin: float = 0.15, preprocessing: Any = None,
                n_splits: int = 5, n_bootstrap: int = 1000, random_state: int = 0,
                cross_validate: bool = True, cache: str | os.PathLike | None = None,
                n_jobs: int | None = None, progress: bool = True, command: str | None = None,
                source: str | None = None, site_cv: bool | str = "auto",
                site_balance: bool = False, operating_point: str | dict | None = None,
                two_decisions: bool = False, search: bool = False, input_scale: int | str | None = "auto"
                ) -> FeatbusModel:
    """Cross-validate a recipe on duplicate-grouped folds, then fit it on every image.

    Parameters
    ----------
    data : Bunch
        From :func:`featbus.load_image_folder`, :func:`featbus.load_busi`,
        :func:`featbus.make_phantoms` (``data``, ``target``, ``target_names``, ``groups``).
    features : str or sequence
        Extractor names (:func:`featbus.pipelines.make_features`). Mask-based features
        (``shape``, ``region="mask"``/``"bbox"``) need a ``segmenter``: a new image comes
        without a mask, so without one they are refused.
    classifier, balance : str
        As in :func:`featbus.make_classification_pipeline`. A classifier without ``predict_proba`` is
        calibrated (see the module docstring).
    recipe : str, optional
        A named recipe of :mod:`featbus.pipelines.recipes` (``"handcrafted"``, ``"frozen-cnn"``,
        ``"finetuned-lite0"``, ``"best"``): replaces ``features`` and ``classifier``, or
        trains ``network``.
    recipe_overrides : dict, optional
        Settings of a network recipe (:data:`featbus.pipelines.recipes.OVERRIDES`: ``backbone``,
        ``image_size``, ``epochs``, ``members``, ``batch_size``, ``weights``).
    network : FineTunedCNN or FineTunedEnsemble, optional
        Train this network with the labels instead of features + classifier. It is judged on
        its own duplicate-grouped validation split (``validation_fraction`` of the images,
        never trained on, used for early stopping): the manifest's ``cv`` says so. The model
        keeps the networks' embeddings as features and their own softmax heads
        (:class:`~featbus.features.finetune.NetworkHead`); the per-epoch history goes into the
        manifest's ``training`` entry.
    region : {"image", "mask", "bbox"} or None
        ``"mask"``/``"bbox"`` only with a ``segmenter`` (the region of the predicted lesion).
    segmenter : UNetSegmenter, str or path, optional
        Crop every image to the lesion this segmenter predicts before the features (see "Models
        with a segmenter" in the module docstring): a trained
        :class:`~featbus.UNetSegmenter`, the path of one saved by :meth:`UNetSegmenter.save`,
        or an *unfitted* one, then trained here on ``data``'s masks (only these images: a
        held-out set stays unseen). The cross-validation then reuses the crops of this one
        segmenter: when it was trained on these images, its numbers are optimistic (recorded
        in the manifest's ``notes``).
    roi_margin : float, default=0.15
        Growth of the lesion box on each side, as a share of the lesion's height and width.
    preprocessing : str, sequence or None
        Image -> image steps applied to every image first, in training and prediction alike:
        names or transformers as in :func:`featbus.make_classification_pipeline` (for
        mammograms ``"pectoral,flip,crop-breast"``). They must learn nothing from the
        images (featbus's preprocessing steps are stateless), since the cross-validation
        reuses the preprocessed images in every fold. Recorded in the manifest's recipe.
    n_splits : int, default=5
        Folds of the cross-validation and of the calibration.
    n_bootstrap : int, default=1000
        Bootstrap resamples of the CV intervals (0: none).
    random_state : int, default=0
    cross_validate : bool, default=True
        Run the CV whose results go into the manifest (False: the manifest says none was run).
    cache : path, optional
        Feature cache folder (as ``featbus extract --cache``).
    n_jobs : int, optional
    progress : bool, default=True
    command, source : str, optional
        The command line and the data's location(s), comma-separated; the manifest records the
        locations' base names (``"busi, busbra"``), not the paths of this machine.
    site_cv : bool or "auto", default="auto"
        When the images come from several sites (:func:`featbus.combine_sites`' ``sites``, or
        every record's ``meta["site"]``), also train on all sites but one and test on that one,
        for each site (:func:`featbus.evaluation.sites.leave_one_site_out`: accuracy, balanced
        accuracy, malignant AUC and sensitivity at the model's decision, 95 % intervals over the
        site's groups), stored as the manifest's ``site_cv`` beside the pooled ``cv``. One more
        fit per site: ``"auto"`` runs it for feature recipes (cheap) when ``cross_validate``,
        not for networks (a fine-tuning per site); ``True`` runs it for either (an error with a
        single site).
    site_balance : bool, default=False
        Weigh every (site, class) cell so that each site contributes the same total weight and
        the classes stay balanced (:func:`featbus.evaluation.sites.site_balance_weights`), through the classifier's
        ``sample_weight``, in the cross-validation (weights of each training fold), the
        leave-one-site-out figure (weights of the other sites) and the final fit. Needs several
        sites and a classifier whose ``fit`` takes ``sample_weight`` (svm, logreg, rf...); it
        replaces ``balance`` (which must then be None). Not for network recipes:
        :class:`~featbus.features.finetune.FineTunedCNN` takes class weights, not sample weights.
    operating_point : str, dict or None, default=None
        ``"sensitivity=0.9"`` (or ``{"sensitivity": 0.9}``): store an operating point, the
        highest threshold on p(malignant) that calls at least that share of the malignant images
        malignant, chosen on held-out predictions of the training images and never on test
        images: a network's validation split (images of every training site), or a feature
        recipe's out-of-fold probabilities over duplicate-grouped folds. The model then decides
        by it (:meth:`FeatbusModel.decide`), and the manifest records the threshold with the
        sensitivity and specificity it gave there. ``None``: the most probable class.
    two_decisions : bool, default=False
        Two decisions, each with its own operating point (see "Two decisions" in the module
        docstring): "is there a lesion?" by the segmenter's lesion probability (one more feature
        column, :class:`~featbus.segmentation.roi.LesionProbability`), then "benign or malignant, given
        a lesion" by the classifier trained on the lesion images only
        (:class:`~featbus.pipelines.LesionThenMalignancy`). Needs a ``segmenter``, an
        ``operating_point`` (default ``"sensitivity=0.9"`` here), a ``"normal"`` class among
        the labels or not, and a feature recipe without ``site_balance``.
    search : bool, default=False
        Tune the classifier's main parameters by grid search (see "Grid search" in the module
        docstring): :func:`featbus.pipelines.param_grid`'s small grid of the classifier (and of
        the sampler, if any), :data:`SEARCH_INNER_SPLITS` inner folds of
        :class:`~sklearn.model_selection.StratifiedGroupKFold` over the same groups as the outer
        folds, scored by the malignant AUC (macro one-vs-rest AUC without a malignant class).
        The cross-validation is nested (each outer fold searches its own training images), the
        model is fitted with the parameters the search chooses on every image, and the
        manifest's ``recipe["search"]`` records the grid, the choice and the outer folds'
        choices. Feature recipes only, not with ``two_decisions``.
    input_scale : "auto", int, "native" or None, default="auto"
        The pixel scale the parts are trained at, recorded in the manifest (``input_scale``) and
        brought to every image the model later sees (:mod:`featbus.model.scale`): the
        training images are brought to it first. ``"auto"``: the training images' median longer
        side (images all of one size are left as they are); a number: that longer side in pixels;
        ``"native"`` (or ``None``): no resize, in training or prediction.

    Returns
    -------
    model : FeatbusModel

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.workflows.training import train_model
    >>> model = train_model(make_phantoms(24, image_size=48, random_state=0), "intensity",
    ...                     classifier="logreg", cross_validate=False, progress=False)
    >>> model.classes_.tolist()
    ['benign', 'malignant', 'normal']
    >>> model.predict_proba(make_phantoms(2, image_size=48, random_state=1).data).shape
    (2, 3)
    """
    recipe_name, network, features, classifier, segmenter, two_decisions = _resolve_recipe(
        recipe, recipe_overrides, network=network, features=features, classifier=classifier, segmenter=segmenter,
        two_decisions=two_decisions, random_state=random_state, progress=progress, cache=cache)
    names = [f.strip().lower() for f in features.split(",")] if isinstance(features, str) else list(features)
    if reads_masks(names, region) and segmenter is None:
        raise ValueError("a model predicts on new images, which come without lesion masks: drop 'shape' and "
                         "region='mask'/'bbox', or pass a segmenter (its predicted lesion then travels with "
                         "the crop)")
    target_sensitivity = _check_choices(network=network, segmenter=segmenter, roi_margin=roi_margin, site_cv=site_cv,
                                        site_balance=site_balance, two_decisions=two_decisions, search=search,
                                        operating_point=operating_point)
    sites, n_sites = _check_sites(data, network=network, site_cv=site_cv, site_balance=site_balance, balance=balance)
    run = _Run(data=data, names=names, classifier=classifier, network=network, recipe_name=recipe_name,
               balance=balance, region=region, segmenter=segmenter, roi_margin=roi_margin,
               preprocessing=preprocessing, n_splits=n_splits, n_bootstrap=n_bootstrap, random_state=random_state,
               cross_validate=cross_validate, cache=cache, n_jobs=n_jobs, progress=progress, command=command,
               source=source, site_cv=site_cv, site_balance=site_balance, target=target_sensitivity, sites=sites,
               n_sites=n_sites, two_decisions=bool(two_decisions), search=bool(search),
               input_scale=parse_input_scale(input_scale))
    return _run_steps(run)


def train_on_table(table, *, classifier: str | Any = "svm", balance: str | None = None, n_splits: int = 5,
                   n_bootstrap: int = 1000, random_state: int = 0, cross_validate: bool = True,
                   n_jobs: int | None = None, progress: bool = True, command: str | None = None,
                   source: str | None = None, operating_point: str | dict | None = None,
                   search: bool = False) -> FeatbusModel:
    """:func:`train_model` on a feature table's rows (:func:`featbus.pipelines.tables.read_feature_table`):
    the same steps -- grouped cross-validation, calibration, operating point, manifest, verdict -- on the
    rows ``featbus extract`` computed, wherever that ran.

    Where the table records its recipe (the extractors with every parameter, the region, the
    preprocessing), the model holds those extractors, built again from it: it predicts on images as a
    model trained on them would (the table's features are its extractors' columns, checked name by name).
    Without one (a table made elsewhere, a CSV without its sidecar, a segmenter's crops) its feature part is
    a :class:`~featbus.pipelines.tables.TableColumns`: it predicts on tables with those columns, and refuses
    images saying why.

    Parameters
    ----------
    table : FeatureTable
        Every row labelled, no NaN (:func:`~featbus.pipelines.tables.read_feature_table` refuses NaN); its
        ``groups`` are kept whole by every fold (each row its own group where it has none).
    classifier, balance, n_splits, n_bootstrap, random_state, cross_validate, n_jobs, progress, command, \
source, operating_point, search
        As in :func:`train_model`.

    Returns
    -------
    model : FeatbusModel

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from featbus.pipelines.tables import read_feature_table
    >>> rng = np.random.default_rng(0)
    >>> p = os.path.join(tempfile.mkdtemp(), "t.npz")
    >>> X = rng.normal(size=(40, 3)) + np.repeat([0, 2], 20)[:, None]
    >>> np.savez(p, X=X, feature_names=np.array(["a", "b", "c"]),
    ...          target=np.repeat([0, 1], 20), target_names=np.array(["benign", "malignant"]), groups=np.arange(40))
    >>> model = train_on_table(read_feature_table(p), classifier="logreg", n_bootstrap=0, progress=False)
    >>> model.classes_.tolist(), model.manifest["data"]["table"]["recipe"]
    (['benign', 'malignant'], None)
    """
    from ..pipelines.tables import TableError

    labels = np.asarray(table.labels, dtype=str)
    if (labels == "").any():
        i = int(np.flatnonzero(labels == "")[0])
        raise TableError(f"{str(table.path)!r}: row {i + 1} ({table.paths[i]}) has no label; training needs every "
                         "row labelled")
    target = _check_choices(network=None, segmenter=None, roi_margin=0.15, site_cv=False, site_balance=False,
                            two_decisions=False, search=search, operating_point=operating_point)
    run = _Run(data=None, names=[], classifier=classifier, network=None, recipe_name=None, balance=balance,
               region=None, segmenter=None, roi_margin=0.15, preprocessing=None, n_splits=n_splits,
               n_bootstrap=n_bootstrap, random_state=random_state, cross_validate=cross_validate, cache=None,
               n_jobs=n_jobs, progress=progress, command=command, source=source, site_cv=False, site_balance=False,
               target=target, sites=None, n_sites=0, two_decisions=False, search=bool(search), input_scale=None,
               table=table)
    _table_parts(run)
    run.y = labels
    run.classes = np.unique(labels)
    run.groups = np.asarray(table.groups) if table.groups is not None else np.arange(len(labels))
    from ..model_selection import grouping_name
    from ..pipelines.tables import ROWS_ALONE

    run.groups_from = table.groups_from if table.groups is not None else ROWS_ALONE
    run.fold_word = grouping_name(run.groups_from).split(" (")[0]
    _check_point_class(run)
    return _fit_and_judge(run)


def _fit_and_judge(run):
    """The steps training shares whether its rows came from images or from a feature table: the tail made,
    cross-validated, fitted, its out-of-fold figures, description, provenance and operating point."""
    _make_tail(run)
    _cross_validate(run)
    _fit_head(run)
    _out_of_fold(run)
    _describe(run)
    _figures(run)
    _provenance(run)
    _operating_point(run)
    return run.model


#: The image the extractors rebuilt from a table's recipe are fitted on: their fit learns the feature
#: layout from their parameters (BaseFeatureExtractor.fit), which is then checked against the table's columns.
_LAYOUT_SIDE = 64


def _table_parts(run: _Run) -> None:
    """A table's parts: the extractors and preprocessing its recipe names, fitted (their layout checked
    against the table's columns), or the table's columns alone; the rows in the order of the part's columns."""
    from sklearn.pipeline import FeatureUnion, Pipeline

    from ..model import scale as rule
    from ..pipelines.make import make_features, make_preprocessing
    from ..pipelines.tables import TableColumns, TableError, recipe_extractors

    table = run.table
    if table.recipe is not None:
        pairs, region, preprocess = recipe_extractors(table.recipe, f"{str(table.path)!r}'s recipe")
        run.region = region
        run.names = [name for name, _ in pairs]
        run.union = make_features(pairs, region=region, n_jobs=run.n_jobs)
        image = (np.arange(_LAYOUT_SIDE * _LAYOUT_SIDE).reshape(_LAYOUT_SIDE, _LAYOUT_SIDE) % 251).astype(np.uint8)
        run.steps = make_preprocessing(",".join(preprocess) if preprocess else None)
        if run.steps:
            run.preprocess = Pipeline(run.steps).fit([image])
        run.union.fit([image])
        columns = [str(n) for n in run.union.get_feature_names_out()]
        if sorted(columns) != sorted(table.feature_names):
            odd = sorted(set(columns) ^ set(table.feature_names))
            raise TableError(f"{str(table.path)!r}: its recipe's extractors give other columns than the table's "
                             f"(first: {odd[0]!r}); the table was changed after featbus extract wrote it")
        how = "the images as featbus extract read them for the table, at their own size"
    else:
        columns = list(table.feature_names)
        run.names = sorted({c.split("__")[0] for c in columns}) if all("__" in c for c in columns) else ["table"]
        run.union = FeatureUnion([("table", TableColumns(columns, table.no_recipe))],
                                 verbose_feature_names_out=False).fit(np.zeros((1, len(columns))))
        how = "no image: a model of a feature table without its recipe reads tables only"
    run.columns = columns
    run.X = table.columns(columns)
    run.scale = rule.scale_record(None, how)


def _manifest_table(run: _Run) -> dict:
    """The manifest's training-data summary of a feature table: its counts and groups, a digest of its
    rows and labels, the table's file and whether the model rebuilds its features from images."""
    import hashlib

    table, y = run.table, run.y
    digest = hashlib.sha256(np.ascontiguousarray(run.X, dtype=np.float64).tobytes())
    digest.update("\n".join(y.tolist()).encode())
    data = {"source": table.path.name, "n_images": len(y), "counts": {str(c): int(np.sum(y == c)) for c in run.classes},
            "n_groups": int(np.unique(run.groups).size), "sha256": digest.hexdigest(), "fingerprints": [],
            "table": {"file": table.path.name, "format": table.path.suffix.lower().lstrip("."),
                      "n_features": len(run.columns),
                      "recipe": "rebuilt: the model computes the same features from images" if table.recipe
                      else None, **({"no_recipe": table.no_recipe} if table.recipe is None else {}),
                      **({"columns": list(run.columns)} if table.recipe is None else {})}}
    return {"data": data}


def _resolve_recipe(recipe, overrides, *, network, features, classifier, segmenter, two_decisions, random_state,
                    progress, cache):
    """A named recipe's parts in place of the given ones: its network (built here), or its features,
    classifier, segmenter and decisions. Returns ``(recipe_name, network, features, classifier, segmenter,
    two_decisions)``."""
    recipe_name = None
    if recipe is not None:
        from ..pipelines.recipes import build_network, get_recipe

        chosen = get_recipe(recipe)
        recipe_name = chosen.name
        if chosen.is_network:
            network = build_network(chosen, overrides=overrides, random_state=random_state,
                                    progress=progress, cache=cache)
        else:
            if any(v is not None for v in (overrides or {}).values()):
                raise ValueError(f"recipe {chosen.name!r} has no network: backbone, image size, epochs, members, "
                                 "batch size and weights do not apply")
            features, classifier = chosen.features, chosen.classifier
            if chosen.segmenter is not None and segmenter is None:
                segmenter = chosen.segmenter
            two_decisions = two_decisions or chosen.two_decisions
    if network is not None:
        features, classifier = (), "network"
    return recipe_name, network, features, classifier, segmenter, two_decisions


def _run_steps(run: _Run) -> FeatbusModel:
    """The steps of :func:`train_model` over its run record, in the order the manifest keeps."""
    _build_parts(run)
    _read_labels(run)
    if run.segmenter is not None:
        _crop_to_lesions(run)
    _check_point_class(run)
    if run.network is not None:  # a network fits, judges and describes itself
        return _network_model(run)
    return _fit_and_judge(run)


def _check_choices(*, network, segmenter, roi_margin, site_cv, site_balance, two_decisions, search,
                   operating_point):
    """:func:`train_model`'s checks of how its choices combine; returns the operating point's target
    sensitivity (a two-decision model's default when none is given; None for the most probable class)."""
    if not (isinstance(roi_margin, (int, float, np.number)) and np.isfinite(roi_margin) and roi_margin >= 0):
        raise ValueError(f"roi_margin must be a number >= 0, got {roi_margin!r}")
    if not (site_cv is True or site_cv is False or site_cv == "auto"):
        raise ValueError(f"site_cv must be True, False or 'auto', got {site_cv!r}")
    if not isinstance(site_balance, (bool, np.bool_)):
        raise ValueError(f"site_balance must be True or False, got {site_balance!r}")
    if not isinstance(two_decisions, (bool, np.bool_)):
        raise ValueError(f"two_decisions must be True or False, got {two_decisions!r}")
    if two_decisions:
        if network is not None:
            raise ValueError("two_decisions needs a feature recipe (features + classifier), not a network")
        if segmenter is None:
            raise ValueError("two_decisions takes the lesion probability from a segmenter: pass segmenter= "
                             "(for example 'breast-us')")
        if site_balance:
            raise ValueError("two_decisions and site_balance do not combine: the lesion classifier's sample "
                             "weights are not passed through")
        if operating_point is None:
            operating_point = f"sensitivity={DEFAULT_TARGET_SENSITIVITY}"
    if not isinstance(search, (bool, np.bool_)):
        raise ValueError(f"search must be True or False, got {search!r}")
    if search and network is not None:
        raise ValueError("search tunes a classifier's parameters by grid search: a network recipe has no classifier "
                         "grid (use features + a classifier, or a feature recipe)")
    if search and two_decisions:
        raise ValueError("search and two_decisions do not combine (the lesion classifier is not searched): drop one")
    target = parse_operating_point(operating_point)
    if two_decisions and target is None:
        raise ValueError(f"two_decisions decides by two operating points: give operating_point='sensitivity=S' "
                         f"(or leave it unset for {DEFAULT_TARGET_SENSITIVITY}), not {operating_point!r}")
    return target


def _check_sites(data, *, network, site_cv, site_balance, balance) -> tuple[np.ndarray | None, int]:
    """The images' sites and how many there are, checked against what the site options need."""
    sites = sites_of(data)
    n_sites = 0 if sites is None else np.unique(sites).size
    if site_cv is True and n_sites < 2:
        raise ValueError(f"site_cv=True needs images from at least 2 sites, these come from {n_sites or 'one'} "
                         "(unite data sets with featbus.combine_sites, or give a manifest a 'site' column)")
    if site_balance:
        if n_sites < 2:
            raise ValueError(f"site_balance needs images from at least 2 sites, these come from {n_sites or 'one'} "
                             "(unite data sets with featbus.combine_sites, or give a manifest a 'site' column)")
        if network is not None:
            raise ValueError("site_balance works through the classifier's sample weights, and a fine-tuned network "
                             "(FineTunedCNN) takes class weights only: use it with a feature recipe "
                             "(handcrafted, frozen-cnn, or features + classifier)")
        if balance is not None:
            raise ValueError(f"site_balance balances the classes itself (within equal site weights): leave balance "
                             f"unset, not {balance!r}")
    return sites, n_sites


@dataclasses.dataclass
class _Run:
    """One run of :func:`train_model`: its checked settings, then what each step adds.

    The steps read and fill this record in order: the parts (:func:`_build_parts`), the
    labels and groups (:func:`_read_labels`), the lesion crop (:func:`_crop_to_lesions`), the
    classifier pipeline (:func:`_make_tail`), its figures (:func:`_cross_validate`), the head
    (:func:`_fit_head`), the operating point's held-out probabilities (:func:`_out_of_fold`), the
    manifest (:func:`_describe`, :func:`_figures`), the model (:func:`_provenance`) and its stored
    point (:func:`_operating_point`). A network run goes from the crop to :func:`_network_model`.
    """

    # the settings, as train_model checked them
    data: Any
    names: list
    classifier: Any
    network: Any
    recipe_name: str | None
    balance: str | None
    region: str | None
    segmenter: Any
    roi_margin: float
    preprocessing: Any
    n_splits: int
    n_bootstrap: int
    random_state: int
    cross_validate: bool
    cache: Any
    n_jobs: int | None
    progress: bool
    command: str | None
    source: str | None
    site_cv: bool | str
    site_balance: bool
    target: float | None  # the operating point's sensitivity
    sites: np.ndarray | None
    n_sites: int
    two_decisions: bool
    search: bool = False
    table: Any = None  # train_on_table's FeatureTable: the rows are given, no image is read
    input_scale: Any = "auto"  # train_model's input_scale: "auto", None (native) or a longer side in px
    # _build_parts: the feature union (None for a network), the preprocessing, the images as the
    # features see them (inputs) and as explanations and the app show them (seen)
    union: Any = None
    steps: list = dataclasses.field(default_factory=list)
    preprocess: Any = None
    originals: list = dataclasses.field(default_factory=list)  # the images as given (their fingerprints)
    records: list = dataclasses.field(default_factory=list)  # ... brought to the training scale
    scale: dict = dataclasses.field(default_factory=dict)  # the manifest's input_scale
    inputs: Any = None
    seen: Any = None
    # _read_labels
    y: np.ndarray | None = None
    classes: np.ndarray | None = None
    groups: np.ndarray | None = None
    groups_from: str | None = None
    fold_word: str = ""
    # _crop_to_lesions
    roi: Any = None
    seg_info: dict | None = None
    notes: list = dataclasses.field(default_factory=list)
    # _make_tail
    X: np.ndarray | None = None
    columns: list = dataclasses.field(default_factory=list)
    tail: Any = None
    weigh: Any = None  # a training fold's indices -> its fit parameters (site balance)
    weights: dict = dataclasses.field(default_factory=dict)
    shares: dict | None = None
    label: str = ""
    # _cross_validate, _fit_head, _out_of_fold
    report: Any = None
    site_report: Any = None
    head: Any = None
    calibration: str | None = None
    oof: np.ndarray | None = None
    # search: the pipeline the search tunes, and what it chose (the manifest's recipe["search"])
    searched: Any = None
    search_info: dict | None = None
    # _describe ... _operating_point
    deep: bool = False
    manifest: dict = dataclasses.field(default_factory=dict)
    model: FeatbusModel | None = None


def _build_parts(run: _Run) -> None:
    """The parts every image passes through: the feature union (none for a network) and the
    preprocessing steps, fitted; the images as the features will see them."""
    from ..pipelines.make import make_features, make_preprocessing

    # one union computes the training rows (with the run's cache and progress) and is the one saved
    run.union = (make_features(run.names, region=run.region, n_jobs=run.n_jobs, cache=run.cache,
                               progress=run.progress) if run.network is None else None)
    for _, est in run.union.transformer_list if run.union is not None else []:
        # the model brings every image to its scale first (FeatbusModel._crop): a part that would choose
        # its own ("auto") takes them as given, so --input-scale is the scale every part sees
        if est.get_params(deep=False).get("input_scale") == "auto":
            est.set_params(input_scale=None)
    if run.two_decisions:  # the first decision's score: the segmenter's lesion probability, one column
        from ..segmentation.roi import LesionProbability

        run.union.transformer_list.append(("lesion_probability", LesionProbability()))
    run.originals = list(run.data.data)
    run.records, run.scale = _training_scale(run.originals, run.input_scale, _shipped_parts(run))
    run.steps = make_preprocessing(run.preprocessing)
    if run.steps:
        from sklearn.pipeline import Pipeline

        run.preprocess = Pipeline(run.steps).fit(run.records)
    run.inputs = run.records if run.preprocess is None else run.preprocess.transform(run.records)
    run.seen = run.inputs  # what explanations and the app show: the images after preprocessing


def _shipped_parts(run: _Run) -> bool:
    """Whether the recipe holds a part featbus ships trained on its 320 px images (the breast-us
    backbone or segmenter)."""
    from ..networks.pretrained import find_pretrained

    seg = run.segmenter
    if isinstance(seg, (str, os.PathLike)) and not os.path.isfile(seg) and find_pretrained(str(seg), "segmenter"):
        return True
    parts = [run.network] if run.network is not None else [e for _, e in run.union.transformer_list]
    members = getattr(run.network, "members", None)
    parts += list(members) if isinstance(members, (list, tuple)) else []
    return any(isinstance(v, str) and v.replace("-", "_").lower() == "breast_us"
               for p in parts for v in (getattr(p, "backbone", None), getattr(p, "weights", None)))


def _training_scale(originals, choice, shipped: bool = False) -> tuple[list, dict]:
    """The training images brought to the scale ``choice`` names (:func:`train_model`'s ``input_scale``,
    parsed; ``"auto"`` with ``shipped`` parts: the scale they learnt), then to a pixel size near their
    coarsest where every one gives it (:func:`~featbus.model.scale.to_training_pixel_size`), and the manifest's
    ``input_scale`` record."""
    from ..model import scale as rule  # the one resize rule, and the physical scale where the data gives one

    if choice is None:
        return originals, rule.scale_record(None, "native size, chosen when it was trained (input_scale='native')")
    if choice == "auto" and shipped:
        records, side = originals, rule.SHIPPED_LONGER_SIDE
        how = "the scale featbus's shipped breast-us parts learnt"
    elif choice == "auto":
        records = [load_item(r, i) for i, r in enumerate(originals)]
        side = rule.median_longer_side(records)
        how = "the median longer side of its training images"
    else:
        records, side, how = originals, int(choice), "chosen when it was trained (input_scale)"
    # a physical scale too where every image gives its pixel size (issue 82); why not, where only some do
    records, pixel, why = rule.to_training_pixel_size(rule.bring_to_scale(records, side))
    return records, rule.scale_record(side, how + (f"; no physical scale: {why}" if why else ""), pixel)


def _read_labels(run: _Run) -> None:
    """The labels, the classes and the groups every fold keeps whole."""
    from ..model_selection import grouping_name, groups_origin, resolve_groups

    data = run.data
    run.y = np.asarray(data.target_names, dtype=object)[np.asarray(data.target)].astype(str)
    run.classes = np.unique(run.y)
    run.groups = resolve_groups(run.originals, getattr(data, "groups", None))  # featbus's one grouping policy
    # what the groups are, for the words: a table's patients, or near-duplicate groups featbus formed
    run.groups_from = groups_origin(data) if getattr(data, "groups", None) is not None else None
    run.fold_word = grouping_name(run.groups_from).split(" (")[0]  # "duplicate-grouped", "patient-grouped"


def _crop_to_lesions(run: _Run) -> None:
    """Crop every image to the lesion the segmenter predicts; the manifest's segmenter entry and
    the note on what the segmenter saw."""
    from ..segmentation.roi import ROICropper

    seg, run.seg_info = _fitted_segmenter(run.segmenter, run.inputs, run.groups)
    margin = float(run.roi_margin)
    # training images are cropped by the segmenter's predictions, not their ground truth:
    # training sees what prediction will see
    run.roi = ROICropper(segmenter=seg, source="segmenter", margin=margin, on_empty="image",
                         pass_mask=True, input_scale=None).fit(run.inputs)  # at the model's scale
    run.inputs = inputs = run.roi.transform(run.inputs)
    found = [bool(r.meta["roi_found"]) for r in inputs]
    seg_info = run.seg_info
    seg_info["roi"] = {"class": "ROICropper", "source": "segmenter", "margin": margin,
                       "on_empty": "image", "pass_mask": True, "min_area": run.roi.min_area,
                       "found_in_training_images": int(sum(found))}
    n_seen = seg_info.get("n_training_images_seen")
    if n_seen is not None:  # the segmenter's file lists its training images
        if n_seen:
            run.notes.append(f"{n_seen} of these {len(inputs)} images (or near-copies) trained the segmenter: its "
                             "masks of the cross-validation test folds are better than on new images, so the "
                             "cross-validation numbers are optimistic for the crops; judge the model on images the "
                             "segmenter never saw (featbus validate MODEL DATA from another site)")
    elif seg_info.get("trained_on_training_images") is True:
        run.notes.append("the segmenter was trained on these same images: its masks of the cross-validation test "
                         "folds are better than on new images, so the cross-validation numbers are optimistic for "
                         "the crops; judge the model on held-out images the segmenter never saw (featbus train "
                         "--test-fraction)")
    else:  # a file or a trained object: what it was trained on is unknown
        run.notes.append("the segmenter may have been trained on these images (featbus cannot tell): if so, its "
                         "masks of the cross-validation test folds are better than on new images and the "
                         "cross-validation numbers are optimistic for the crops; judge the model on held-out "
                         "images the segmenter never saw")


def _check_point_class(run: _Run) -> None:
    """An operating point sets a threshold on p(malignant): the labels must have that class."""
    if run.target is not None and "malignant" not in run.classes:
        raise ValueError(f"operating_point sets a threshold on p(malignant); these classes are "
                         f"{run.classes.tolist()}")


def _network_model(run: _Run) -> FeatbusModel:
    """A network recipe's run after the crop, on the same record: the network fits
    (:func:`_fit_network`), is judged on its validation split (:func:`_network_validation`),
    described (:func:`_describe_network`) and made a model (:func:`_network_provenance`); the
    operating point is chosen on its validation split."""
    _fit_network(run)
    _describe_network(run, _network_validation(run))
    _network_provenance(run)
    model = run.model
    if run.target is None:
        return model
    net = model.features.transformer_list[0][1]  # the network (or ensemble) as trained
    val = np.asarray(getattr(net, "validation_indices_", []), dtype=int)
    if not val.size:
        raise ValueError("operating_point is chosen on held-out predictions: this network trained without a "
                         "validation split (validation_fraction=0)")
    where = f"{val.size} validation images of the training data" + (
        f" ({', '.join(f'{k} {v}' for k, v in _site_counts(run.sites[val]).items())})" if run.n_sites >= 2 else "")
    val_proba = np.asarray(net.validation_proba_, dtype=float)
    _store_operating_point(model, val_proba, run.y[val], run.target, f"{where}, never trained on",
                           seen=_seen_parts(run, net, val))
    _validation_at_operating_point(model, val_proba)
    _note_classes_turned_off(model, val_proba, run.y[val], "its validation images")
    return model


def _make_tail(run: _Run) -> None:
    """The feature rows, and the classifier pipeline after the features (with the site-balance
    weights of what each fit trains on)."""
    from ..compute.scaling import family_blocks
    from ..pipelines.make import make_classification_pipeline

    if run.table is None:  # a feature table's rows are given (train_on_table)
        run.X = np.asarray(run.union.fit_transform(run.inputs))
        run.columns = [str(n) for n in run.union.get_feature_names_out()]
    _forget_run_settings(run.union)
    presence = [j for j, c in enumerate(run.columns) if c.split("__")[-1] == "lesion_probability"]
    columns = [c for j, c in enumerate(run.columns) if j not in presence[:1]] if run.two_decisions else run.columns
    # the families joined as the library's pipelines join them (each the same total variance)
    tail = make_classification_pipeline(None, balance=run.balance, classifier=run.classifier,
                                        blocks=family_blocks(columns), random_state=run.random_state,
                                        n_jobs=run.n_jobs)
    if not any(hasattr(step, "fit_resample") for _, step in tail.steps):
        # no sampler: a scikit-learn Pipeline predicts the same, and loading it does not import
        # imbalanced-learn (about 0.5 s of a cold start)
        from sklearn.pipeline import Pipeline

        tail = Pipeline(tail.steps)
    if run.two_decisions:  # presence by the segmenter's column, the classifier on lesion images only
        from ..pipelines.two_decisions import LesionThenMalignancy

        tail = LesionThenMalignancy(tail, presence_column=presence[0], absent=ABSENT)
    run.tail = tail
    if run.site_balance:
        _weigh_sites(run)
    run.label = (f"{'+'.join(run.union.named_transformers)} | {run.classifier} | "
                 + ("site balance" if run.site_balance else run.balance or "none"))
    if run.search:
        _make_search(run)


class _AUCScore:
    """The grid search's score: the positive class's AUC of the classifier's score (its
    ``predict_proba`` column, else its decision value), or the macro one-vs-rest AUC when the
    classes lack ``positive``. A plain class (not a closure) so that parallel workers can take it."""

    def __init__(self, positive: str = "malignant") -> None:
        self.positive = positive

    def __call__(self, estimator, X, y) -> float:
        from ..evaluation.figures import FigureKey, figures
        from ..metrics import Predictions

        classes = np.asarray([str(c) for c in estimator.classes_], dtype=object)
        if hasattr(estimator, "predict_proba"):
            scores = np.asarray(estimator.predict_proba(X), dtype=float)
        else:
            scores = np.asarray(estimator.decision_function(X), dtype=float)
            if scores.ndim == 1:  # two classes: the score of classes_[1]
                scores = np.column_stack([-scores, scores])
        y = np.asarray(y).astype(str).astype(object)
        wanted = [self.positive] if self.positive in classes.tolist() else classes.tolist()
        extra = sorted(set(y.tolist()) - set(classes.tolist()))  # a class this fold's training lacked: "other"
        if extra:
            classes = np.asarray([*classes.tolist(), *extra], dtype=object)
            scores = np.column_stack([scores, np.zeros((scores.shape[0], len(extra)))])
        view = Predictions.from_scores(y, scores, classes)
        # the figure table's AUC: of the positive class, else its mean over the classes where defined
        values = np.array(list(figures(view, [FigureKey("auc", c) for c in wanted]).values()), dtype=float)
        finite = values[np.isfinite(values)]
        return float(finite.mean()) if finite.size else float("nan")

    def __repr__(self) -> str:
        return f"{self.positive} AUC (macro one-vs-rest AUC without that class)"


def _make_search(run: _Run) -> None:
    """``search``: the classifier pipeline inside a grid search whose inner folds are grouped like
    the outer ones (the groups are passed to every fit: :func:`_fold_params`, and evaluate passes
    them to a search itself)."""
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    from ..pipelines.make import param_grid

    grid = param_grid(run.tail)
    if not grid:
        raise ValueError(f"search: the classifier {run.classifier!r} has no parameter grid "
                         "(featbus.pipelines.param_grid); train it without search")
    positive = "malignant" if "malignant" in run.classes else None
    scoring = _AUCScore(positive or "")
    run.searched = run.tail
    run.tail = GridSearchCV(run.tail, grid, scoring=scoring, refit=True, n_jobs=run.n_jobs, error_score="raise",
                            cv=StratifiedGroupKFold(SEARCH_INNER_SPLITS, shuffle=True, random_state=run.random_state))
    from sklearn.model_selection import ParameterGrid

    run.search_info = {
        "grid": json_safe(grid), "n_candidates": len(ParameterGrid(grid)),
        "inner_cv": f"{SEARCH_INNER_SPLITS} {run.fold_word} inner folds (StratifiedGroupKFold over the same groups as "
                    "the outer folds, passed through)",
        "scoring": "malignant AUC" if positive else "macro one-vs-rest AUC",
        "nested": ("every outer fold of the cross-validation (and every out-of-fold prediction behind the operating "
                   "point) ran its own search on its own training images: the stored figures never come from "
                   "parameters chosen on the images they judge")}
    run.label += " | grid search"


def _fold_params(run: _Run):
    """The fit parameters of a fit on the images ``train`` outside :func:`evaluate` (which passes a
    search its groups itself): the site-balance weights, and a search's groups."""
    if not run.search:
        return run.weigh
    weigh, groups = run.weigh, np.asarray(run.groups)

    def params(train):
        return {**(weigh(train) if weigh else {}), "groups": groups[np.asarray(train)]}

    return params


def _chosen_tail(run: _Run):
    """The search on every image: the pipeline with the parameters it chooses (what the model is
    fitted with), recorded in ``run.search_info``."""
    from sklearn.base import clone

    search = clone(run.tail).fit(run.X, run.y, groups=np.asarray(run.groups), **run.weights)
    run.search_info.update(chosen=json_safe(search.best_params_), inner_score=float(search.best_score_),
                           chosen_on=f"all {len(run.y)} training images")
    return clone(run.searched).set_params(**search.best_params_)


def _weigh_sites(run: _Run) -> None:
    """Site balance: every fit's sample weights, from the sites and classes it trains on."""
    from sklearn.utils.validation import has_fit_parameter

    clf = run.tail.steps[-1][1]
    if not has_fit_parameter(clf, "sample_weight"):
        raise ValueError(f"site_balance needs a classifier whose fit takes sample_weight; {run.classifier!r} "
                         f"({type(clf).__name__}) does not: use svm, logreg or rf")
    last, y, sites = run.tail.steps[-1][0], run.y, run.sites

    def weigh(train):  # the weights of what a fold trains on: its own sites and classes
        return {f"{last}__sample_weight": site_balance_weights(y[train], sites[train])}

    run.weigh = weigh
    run.weights = weigh(np.arange(len(y)))
    run.shares = site_balance_shares(y, sites, run.weights[f"{last}__sample_weight"])


def _cross_validate(run: _Run) -> None:
    """The pooled cross-validation over grouped folds, and leave-one-site-out when the images
    come from several sites."""
    from sklearn.base import clone

    from ..evaluation.report import evaluate

    if run.cross_validate:
        # with an operating point the figures are redone at it (_out_of_fold): bootstrap them once, there
        run.report = evaluate(clone(run.tail), run.X, run.y, cv="duplicate-grouped", n_splits=run.n_splits,
                              groups=run.groups, n_bootstrap=0 if run.target is not None else run.n_bootstrap,
                              random_state=run.random_state,
                              progress=run.progress, name=run.label, fit_params=run.weigh,
                              groups_from=run.groups_from)
    if run.n_sites >= 2 and (run.site_cv is True or (run.site_cv == "auto" and run.cross_validate)):
        run.site_report = leave_one_site_out(clone(run.tail), run.X, run.y, run.sites, groups=run.groups,
                                             n_bootstrap=run.n_bootstrap, random_state=run.random_state,
                                             name=run.label, fit_params=_fold_params(run), positive="malignant")


def _fit_head(run: _Run) -> None:
    """The pipeline fitted on every image; a classifier without probabilities inside a sigmoid
    calibration on grouped folds (see "Probabilities" in the module docstring)."""
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV

    from ..evaluation.report import make_splits

    X, y, n_splits = run.X, run.y, run.n_splits
    tail = run.tail
    if run.search:  # the search on every image chooses the parameters the model is fitted with
        tail = _chosen_tail(run)
    if run.two_decisions or hasattr(tail.steps[-1][1], "predict_proba"):
        run.head = clone(tail).fit(X, y, **run.weights)
        return
    splits, _, _ = make_splits(X, y, cv="duplicate-grouped", n_splits=n_splits, groups=run.groups,
                               random_state=run.random_state)
    head = CalibratedClassifierCV(clone(tail), method="sigmoid", cv=splits, ensemble=False).fit(X, y, **run.weights)
    head.cv = n_splits  # the fold indices are not needed after fitting; keep the pickle small
    run.head = head
    run.calibration = (f"sigmoid (Platt) on out-of-fold decision values of {n_splits} {run.fold_word} "
                       "folds, classifier refitted on all images")


def _out_of_fold(run: _Run) -> None:
    """With an operating point: the held-out probabilities it is chosen on (the report's folds,
    refitted), and the cross-validation's decisions made at it, each fold's point nested."""
    if run.target is None:
        return
    from ..evaluation.report import make_splits

    splits = run.report.splits if run.report is not None else make_splits(
        run.X, run.y, cv="duplicate-grouped", n_splits=run.n_splits, groups=run.groups,
        random_state=run.random_state)[0]
    chosen = [] if run.search else None
    run.oof = _out_of_fold_proba(run.tail, run.head, run.X, run.y, splits, _fold_params(run), chosen=chosen)
    if run.search and run.search_info is not None:  # what each outer fold's own search chose
        run.search_info["outer_folds_chosen"] = chosen
    if run.report is not None:  # the figures judge the decisions the file makes
        run.report = _nested_operating_point(run.report, run.oof, run.target, run.n_bootstrap,
                                             presence=_presence_threshold(run) if run.two_decisions else None)


def _describe(run: _Run) -> None:
    """The manifest's head, recipe and training data: what was trained, and on what."""
    names, head = run.names, run.head
    run.deep = any(is_cnn(e) for _, e in run.union.transformer_list) or run.roi is not None
    run.manifest = {
        **_manifest_head(run.roi, run.preprocess, run.command, run.random_state, run.deep, run.classes),
        "recipe": {"name": run.recipe_name,
                   "features": ",".join(n if isinstance(n, str) else str(n[0]) for n in names),
                   "region": run.region, "classifier": str(run.classifier),
                   "preprocessing": [name for name, _ in run.steps] or None,
                   "balance": run.balance, "calibration": run.calibration,
                   "extractors": _extractor_settings(run.union), "head": repr(head),
                   **({"decisions": "two: is there a lesion (the segmenter's lesion probability), then benign or "
                                    "malignant given a lesion (a classifier of the lesion images)"}
                      if run.two_decisions else {}),
                   **({"site_balance": {**run.shares, "about": SITE_BALANCE_ABOUT}} if run.shares else {}),
                   **({"search": run.search_info} if run.search_info is not None else {})},
        **(_manifest_data(run.source, run.y, run.classes, run.groups, run.originals, run.seen, run.sites)
           if run.table is None else _manifest_table(run)),
        "input_scale": run.scale,
    }


def _figures(run: _Run) -> None:
    """The manifest's figures: the cross-validation (its verdict, the decisions it judges) and
    leave-one-site-out, with the sites a trained part saw marked."""
    manifest, report = run.manifest, run.report
    manifest["cv"] = _cv_summary(report) if report is not None else None
    if report is not None and run.oof is not None:
        manifest["cv"]["decisions"] = report.notes[-1][len("decisions: "):]
    if run.site_report is not None:
        _mark_seen_sites(run.site_report, run.union, run.roi, run.seg_info, manifest, run.sites)
        manifest["site_cv"] = _site_cv_entry(run.site_report)


def _provenance(run: _Run) -> None:
    """Where the networks ran, the segmenter, the images a shipped network saw, the out-of-domain
    reference; then the model."""
    manifest, seg_info = run.manifest, run.seg_info
    if run.deep:  # where the networks (CNN features, segmenter) ran
        from ..networks.backend import backend_name, device

        manifest["training"] = {"backend": backend_name(), "device": device(), "members": []}
    if seg_info is not None:
        manifest["segmenter"] = seg_info
        manifest["notes"] = run.notes
        if manifest["cv"] is not None and run.notes:
            manifest["cv"]["caveat"] = ("optimistic for the crops: the segmenter " + (
                "saw the test folds' masks" if seg_info["trained_on_training_images"] is True
                else "may have seen the test folds' masks"))
    if run.table is None:
        _note_seen_images(run.union, run.originals, manifest, run.report)
        _store_training_images(manifest, run.records, run.inputs if run.roi is not None else None, run.groups,
                               run.random_state)
    else:  # the images stayed where the table was made: their profile, where featbus extract recorded it
        profile, why = _table_profile(run.table)
        if profile is not None:
            manifest["training_images"] = profile
            manifest.setdefault("notes", []).append(
                f"trained on the feature table {run.table.path.name}, not on images: the model file holds no "
                "fingerprint of its training images, so validate and predict cannot say whether an image trained "
                f"it; it holds the profile featbus extract recorded of {why}, which predict and validate compare "
                "new images with")
        else:
            manifest.setdefault("notes", []).append(
                f"trained on the feature table {run.table.path.name}, not on images: the model file holds no "
                f"fingerprint or profile of its training images ({why}), so validate and predict cannot say whether "
                "an image trained it or looks like them (only the out-of-domain score of the features)")
    domain = _domain_reference(run.X, run.columns, run.groups, run.random_state, manifest)
    run.model = FeatbusModel(run.union, run.head, manifest, run.roi, run.preprocess, domain)
    run.model.cv_report, run.model.site_cv_report = run.report, run.site_report


def _operating_point(run: _Run) -> None:
    """With an operating point: chosen on the out-of-fold probabilities and stored in the
    model's manifest (what it decides by), with a note when it never answers some class."""
    if run.target is None:
        return
    y = run.y
    _store_operating_point(run.model, run.oof, y, run.target,
                           f"out-of-fold probabilities of {len(y)} training images ({run.n_splits} {run.fold_word} "
                           "folds)", presence=_presence_threshold(run) if run.two_decisions else None,
                           seen=_seen_parts(run, run.union))
    _note_classes_turned_off(run.model, run.oof, y, "its training images' out-of-fold predictions")


def parse_operating_point(spec: str | dict | None) -> float | None:
    """The target sensitivity of an ``operating_point`` setting (``"sensitivity=0.9"``,
    ``{"sensitivity": 0.9}``), or ``None`` for ``None`` / ``"none"``.

    Examples
    --------
    >>> from featbus.workflows.training import parse_operating_point
    >>> parse_operating_point("sensitivity=0.9"), parse_operating_point(None)
    (0.9, None)
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("none", "")):
        return None
    if isinstance(spec, str):
        key, _, value = spec.partition("=")
        spec = {key.strip().lower(): value.strip()}
    if not isinstance(spec, dict) or set(spec) != {"sensitivity"}:
        raise ValueError(f"operating_point must be 'sensitivity=<number in (0, 1]>' or None, got {spec!r}")
    try:
        target = float(spec["sensitivity"])
    except (TypeError, ValueError):
        target = float("nan")
    if not 0 < target <= 1:
        raise ValueError(f"operating_point's sensitivity must be a number in (0, 1], got {spec['sensitivity']!r}")
    return target


def _site_counts(sites) -> dict:
    return {str(s): int(np.sum(sites == s)) for s in dict.fromkeys(np.asarray(sites).tolist())}


def _out_of_fold_proba(tail, head, X, y, splits, weigh, chosen: list | None = None) -> np.ndarray:
    """Each image's probabilities from the recipe fitted without its fold, on the head's scale:
    the classifier's own ``predict_proba``, or its decision values through the head's fitted
    Platt sigmoids (fitted on these same out-of-fold values, as ``ensemble=False`` does).
    ``chosen``: a list that receives each fold's ``best_params_`` when ``tail`` is a search."""
    from sklearn.base import clone

    classes = np.asarray(head.classes_)
    proba = np.zeros((len(y), classes.size))
    platt = getattr(head, "calibrated_classifiers_", None)
    for train, test in splits:
        est = clone(tail).fit(X[train], y[train], **(weigh(train) if weigh else {}))
        if chosen is not None and hasattr(est, "best_params_"):
            chosen.append(json_safe(est.best_params_))
        if platt is None:
            p = est.predict_proba(X[test])
            cols = [list(classes).index(c) for c in est.classes_]
            proba[np.ix_(test, cols)] = p
            continue
        dv = np.asarray(est.decision_function(X[test]), dtype=float)
        dv = dv.reshape(-1, 1) if dv.ndim == 1 else dv
        cal = platt[0].calibrators
        if classes.size == 2:
            proba[test, 1] = cal[0].predict(dv[:, 0])
            proba[test, 0] = 1 - proba[test, 1]
        else:
            p = np.column_stack([c.predict(dv[:, k]) for k, c in enumerate(cal)])
            total = p.sum(axis=1, keepdims=True)
            proba[test] = np.where(total > 0, p / np.where(total > 0, total, 1), 1 / classes.size)
    return proba


#: The class that means "no lesion" in a two-decision model.
ABSENT = "normal"


def _presence_threshold(run: _Run) -> tuple[float, str]:
    """A two-decision model's presence threshold and where it comes from: the segmenter's own
    threshold (a lesion when a pixel's probability reaches it), since a threshold chosen on its lesion probabilities of
    images it trained on (the shipped segmenter saw the shared sites) would be optimistic for new
    images; ``featbus adapt`` refits it on a site's labelled images."""
    seg = run.roi.segmenter_
    fitted = getattr(seg, "_presence_fitted", None)
    if callable(fitted) and fitted():  # its calibrated presence decision draws a mask where p(lesion) >= 0.5
        return 0.5, ("set by the segmenter's own rule (its fitted presence decision: a lesion where its lesion "
                     "probability >= 0.5), not chosen on images")
    t = float(getattr(seg, "threshold", 0.5))
    return t, (f"the segmenter's own threshold (a lesion when a pixel's probability reaches {t:g}), "
               "not chosen on the training images")


def _seen_parts(run: _Run, extractors, rows=None) -> tuple[list, list]:
    """Which of the images ``rows`` (default: every training image) each trained part saw, as
    ``(who, bool per image)`` pairs (``None``: featbus cannot tell): the segmenter's (trained
    here: all of them; else its file's fingerprints), then the backbones' of ``extractors``
    (their cards' fingerprints). The head is none of them: the point is chosen on predictions
    of images it did not train on (out of fold, or a validation split)."""
    from ..model.provenance import count_seen, segmenter_name, trained_here, trained_on

    prints = list(run.manifest["data"]["fingerprints"])
    if rows is not None:
        prints = [prints[i] for i in rows]
    segmenter = []
    if run.seg_info is not None:
        info = run.seg_info
        own = getattr(getattr(run.roi, "segmenter_", None), "fingerprints_", None)
        if trained_here(info):
            seen = np.ones(len(prints), dtype=bool)  # trained here, on these images
        elif isinstance(own, (list, tuple)) and own:
            seen = count_seen(prints, own)
        else:
            seen = None if info.get("trained_on_training_images") == "unknown" else np.zeros(len(prints), bool)
        segmenter.append((segmenter_name(info), seen))
    backbones = [(who, count_seen(prints, trained)) for who, trained in trained_on(extractors)
                 if who.startswith("the backbone")]
    return segmenter, backbones


def _store_operating_point(model, proba, y, target: float, chosen_on: str,
                           presence: tuple[float, str] | None = None, seen: tuple[list, list] = ([], [])) -> None:
    """Choose the threshold on p(malignant) reaching ``target`` sensitivity on held-out
    predictions (:meth:`OperatingPoint.choose`), and record it in the manifest (what
    :meth:`FeatbusModel.decide` reads). With ``presence`` ``(threshold, where from)``: a
    two-decision point (:meth:`OperatingPoint.choose_two`), the malignancy threshold on
    ``p(malignant | lesion)`` of the lesion images. ``seen``: :func:`_seen_parts` of these
    images, recorded as each point's ``seen_by`` (the presence point's score is the segmenter's:
    its part alone)."""
    from ..model.provenance import seen_counts

    if not (np.asarray(y, dtype=str) == "malignant").any():
        raise ValueError("operating_point: the held-out predictions hold no malignant image to choose it on")
    segmenter, backbones = seen
    if presence is not None:
        lesion = np.asarray(y, dtype=str) != ABSENT
        op = OperatingPoint.choose_two(y, proba, classes=model.classes_.tolist(), absent=ABSENT, target=target,
                                       presence_threshold=presence[0], presence_chosen_on=presence[1],
                                       chosen_on=f"{chosen_on}, its {int(lesion.sum())} lesion images")
        op = dataclasses.replace(op, seen_by=seen_counts(segmenter + backbones, lesion),
                                 presence=dataclasses.replace(op.presence, seen_by=seen_counts(segmenter)))
        model.manifest["operating_point"] = op.to_record()
        _store_score_reference(model, proba, y, chosen_on, ABSENT)
        return
    op = OperatingPoint.choose(y, proba, classes=model.classes_.tolist(), positive="malignant", target=target,
                               chosen_on=chosen_on, specificity_of=("benign",))
    model.manifest["operating_point"] = dataclasses.replace(op, n_images=int(len(y)),
                                                            seen_by=seen_counts(segmenter + backbones)).to_record()
    _store_score_reference(model, proba, y, chosen_on, None)


def _store_score_reference(model, proba, y, chosen_on: str, absent: str | None) -> None:
    """The quantiles of the held-out scores the point was chosen on (``manifest["score_reference"]``):
    what ``featbus adapt MODEL SITE_IMAGES`` aligns a site's scores onto (:mod:`featbus.model.alignment`)."""
    from ..metrics import lesion_and_given
    from ..model.alignment import ScoreReference

    classes = model.classes_.tolist()
    P = np.asarray(proba, dtype=float)
    score = (lesion_and_given(P, classes, absent=absent)[1] if absent is not None
             else P[:, classes.index("malignant")])
    what = "lesion images'" if absent is not None else "images'"
    try:
        ref = ScoreReference.from_scores(score, y, positive="malignant", absent=absent,
                                         source=f"the {what} scores in the {chosen_on}")
    except ValueError:  # no other (benign) image: nothing to align onto
        return
    model.manifest["score_reference"] = ref.to_record()


def _nested_operating_point(report, proba, target: float, n_bootstrap: int,
                            presence: tuple[float, str] | None = None):
    """``report`` with its decisions made at an operating point chosen without the fold judged.

    Each fold's images are decided by ``malignant when p(malignant) >= t_f``, where ``t_f``
    reaches ``target`` sensitivity on the *other* folds' out-of-fold probabilities
    (:meth:`OperatingPoint.choose`): the threshold never sees the images it is judged on. The
    scores (and so the AUC, which needs no threshold) stay as they were; every other figure,
    the confusion matrix and the verdict are recomputed on these decisions, and a note says so.

    Parameters
    ----------
    report : featbus.evaluation.Report
        Cross-validated at the most probable class.
    proba : ndarray of shape (n_samples, n_classes)
        The out-of-fold probabilities of the same folds, columns in ``report.classes`` order.
    target : float
        The sensitivity the stored point is chosen for.
    n_bootstrap : int
        Resamples behind the intervals of the figures at the point (``report`` was cross-validated
        without any: its figures at the most probable class are not kept).
    presence : (float, str), optional
        A two-decision model's presence threshold (set, not chosen): each fold's malignancy
        threshold is then chosen on ``p(malignant | lesion)`` of the other folds' lesion images.
    """
    classes = [str(c) for c in report.classes]
    y = np.asarray(report.y_true, dtype=str)
    y_pred = np.asarray(report.y_pred).copy()
    thresholds, argmax_folds = [], 0
    for _, test in report.splits:
        others = np.setdiff1d(np.arange(y.size), test)
        if not (y[others] == "malignant").any():  # no cancer elsewhere to choose on: the most probable class
            y_pred[test] = np.asarray(report.classes)[np.argmax(proba[test], axis=1)]
            argmax_folds += 1
            continue
        if presence is not None:
            op = OperatingPoint.choose_two(y[others], proba[others], classes=classes, absent=ABSENT, target=target,
                                           presence_threshold=presence[0])
        else:
            op = OperatingPoint.choose(y[others], proba[others], classes=classes, positive="malignant",
                                       target=target)
        y_pred[test] = op.decide(proba[test], report.classes)
        thresholds.append(op.threshold)
    span = (f"{min(thresholds):.3g}" if len(set(thresholds)) == 1 else
            f"{min(thresholds):.3g} to {max(thresholds):.3g}") if thresholds else "none"
    rule = (f"malignant when p(malignant) >= a threshold for sensitivity {target:g}" if presence is None else
            f"{ABSENT} when p(lesion) < {presence[0]:g}, the segmenter's own rule; otherwise malignant when "
            f"p(malignant | lesion) >= a threshold for sensitivity {target:g}")
    note = (f"decisions: at the operating point ({rule}), each fold's threshold ({span}) chosen on the other "
            "folds' out-of-fold predictions, "
            "never on the images it is judged on; AUC needs no threshold"
            + (f"; {argmax_folds} fold(s) without a malignant image elsewhere decided by the most probable class"
               if argmax_folds else ""))
    return dataclasses.replace(report, y_pred=y_pred, metrics={}, ci={}, cm_ci=None, n_bootstrap=int(n_bootstrap),
                               notes=[*report.notes, note])


def _validation_at_operating_point(model, proba) -> None:
    """A network's validation figures at the stored point, which was chosen on those same images (said)."""
    report = getattr(model, "cv_report", None)
    if report is None:
        return
    op = OperatingPoint.from_record(model.manifest["operating_point"])
    note = (f"decisions: at the stored operating point ({op.rule_text()}), its threshold "
            "chosen on these same validation images: the sensitivity, specificity and accuracy at it are "
            "optimistic; AUC needs no threshold")
    report = dataclasses.replace(report, y_pred=op.decide(proba, report.classes), metrics={}, ci={}, cm_ci=None,
                                 notes=[*report.notes, note])
    old = model.manifest["cv"]
    cv = _cv_summary(report)
    cv.update({k: v for k, v in old.items() if k in ("about", "caveat")})
    cv["decisions"] = note[len("decisions: "):]
    model.manifest["cv"], model.cv_report = cv, report


def _note_classes_turned_off(model, proba, y, where: str) -> None:
    """Say (manifest notes, the report's notes) when the stored point never answers some class
    on the held-out predictions it was chosen on."""
    op = OperatingPoint.from_record(model.manifest["operating_point"])
    classes = [str(c) for c in model.classes_]
    answered = set(np.asarray(op.decide(proba, model.classes_), dtype=str).tolist())
    off = [c for c in classes if c not in answered]
    if not off:
        return
    said = [c for c in classes if c in answered]
    rule = op.rule_text()
    note = (f"at the stored operating point ({rule}) the model never answers "
            + " or ".join(f"'{c}'" for c in off) + f" on {where}: every image is called "
            + " or ".join(said) + " (featbus predict --decision most-probable gives the most probable class)")
    model.manifest.setdefault("notes", []).append(note)
    report = getattr(model, "cv_report", None)
    if report is not None:
        report.notes.append(note)


def _note_seen_images(extractors, records, manifest, report) -> None:
    """A shipped backbone (``breast-us``) trained on some of these images: every figure measured
    on them is optimistic; the manifest's notes, its cv caveat and the report say so."""
    seen = overlap_notes(extractors, records)
    if not seen:
        return
    manifest.setdefault("notes", []).extend(seen)
    if manifest.get("cv") is not None:
        caveat = manifest["cv"].get("caveat")
        manifest["cv"]["caveat"] = (f"{caveat}; " if caveat else "") + "optimistic: " + "; ".join(seen)
    if report is not None:
        report.notes.extend(seen)


def _mark_seen_sites(site_report, extractors, roi, seg_info, manifest, sites) -> None:
    """A held-out site that a trained part saw (the shipped backbone or segmenter, a segmenter or
    backbone file listing its training images, a segmenter trained here) is no unseen site: its
    leave-one-site-out line says so and the verdict leaves it out; where a shipped network's card
    holds the recipe's honest figures, they are quoted (:func:`featbus.evaluation.sites.mark_seen_sites`)."""
    from ..evaluation.sites import mark_seen_sites
    from ..model.provenance import segmenter_name, trained_on
    from ..networks.pretrained import find_pretrained

    sources = [(who, prints) for who, prints in trained_on(extractors) if who.startswith("the backbone")]
    seg = getattr(roi, "segmenter_", None) or getattr(roi, "segmenter", None)
    shipped = None
    if seg_info is not None and seg is not None:
        prints = getattr(seg, "fingerprints_", None)
        if seg_info.get("obtained", "").startswith("featbus's shipped segmenter"):
            shipped = find_pretrained(seg_info.get("file"), "segmenter")
        if isinstance(prints, (list, tuple)) and prints:
            sources.append((segmenter_name(seg_info), list(prints)))
    r = manifest["recipe"]
    recipe = {"features": r.get("features"), "classifier": r.get("classifier"), "region": r.get("region"),
              "balance": r.get("balance"), "preprocessing": r.get("preprocessing"),
              "site_balance": "site_balance" in r, "segmenter": shipped.name if shipped else
              (None if seg_info is None else "other"), "decisions": "two" if r.get("decisions") else None}
    mark_seen_sites(site_report, sources, manifest["data"]["fingerprints"], sites, recipe)


def _site_cv_entry(site_report) -> dict:
    """The manifest's ``site_cv``: the leave-one-site-out figure and what it means."""
    return {**json_safe(site_report.to_dict()),
            "about": "each site predicted by the recipe trained on the other sites only (one fit per site); "
                     "intervals: bootstrap of that site's groups; the decision is the classifier's most probable "
                     "class"}


def _store_training_images(manifest, records, crops, groups, random_state) -> None:
    """The manifest's ``training_images``: what the training images looked like (size, the share
    of the frame the lesion box covers, image statistics: :func:`featbus.model.domain.training_profile`),
    which validate, predict and adapt compare new images with; a note when it cannot be made."""
    from ..model.domain import training_profile

    try:
        manifest["training_images"] = training_profile(records, crops, groups, random_state=random_state)
    except ValueError as exc:
        manifest.setdefault("notes", []).append(f"no training-image profile: {exc}")


def _table_profile(table) -> tuple[dict | None, str]:
    """The profile of a feature table's images that ``featbus extract`` recorded in its recipe (``images``:
    :func:`featbus.model.domain.profile_of` of every image it described, the rows held out by train's
    --test-fraction included), checked, and what it is of; or ``None`` and why there is none."""
    from ..model.domain import STATISTICS

    if table.recipe is None:
        return None, f"the table has no recipe: {table.no_recipe}"
    entry = table.recipe.get("images")
    if not isinstance(entry, dict):
        return None, "the table records none: written by an older featbus extract"
    profile = entry.get("profile")
    if not isinstance(profile, dict):
        return None, f"featbus extract made none: {entry.get('why') or 'none recorded'}"
    st = profile.get("statistics")
    k = len(STATISTICS)
    try:
        ok = (isinstance(st, dict) and list(st.get("names") or []) == list(STATISTICS)
              and np.asarray(st["location"], dtype=float).shape == (k,)
              and np.asarray(st["precision"], dtype=float).shape == (k, k)
              and np.isfinite(np.asarray(st["precision"], dtype=float)).all()
              and np.isfinite(np.asarray(st["location"], dtype=float)).all()
              and np.isfinite(float(st["threshold"])) and float(st["threshold"]) > 0)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        return None, (f"the profile {str(table.path)!r} records is not one of the {k} image statistics this featbus "
                      "computes (changed, or of another featbus version): extract the table again")
    return profile, str(entry.get("from") or f"the table's {profile.get('n_images')} images")


def _domain_reference(X, columns, groups, random_state, manifest):
    """The training images' out-of-domain reference in the classifier's feature space (families
    weighted as the head weighs them), described in the manifest's ``domain`` entry; ``None``
    with a note when the images are too few or too alike to learn one."""
    from ..compute.scaling import family_blocks
    from ..model.domain import DomainReference, manifest_entry

    try:
        domain = DomainReference(blocks=family_blocks(columns), random_state=random_state).fit(X, groups=groups)
    except ValueError as exc:
        manifest.setdefault("notes", []).append(f"no out-of-domain reference: {exc}")
        return None
    manifest["domain"] = manifest_entry(domain)
    return domain


def _manifest_head(roi, preprocess, command, random_state, deep: bool, classes) -> dict:
    """The manifest fields every model has before its recipe: format, date, command, versions."""
    return {"format": MAGIC, "format_version": FORMAT_VERSION,
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command or " ".join(sys.argv), "random_state": random_state,
            "versions": package_versions(deep), "classes": classes.tolist()}


def _manifest_data(source, y, classes, groups, records, seen, sites=None) -> dict:
    """The manifest's training-data summary (with each site's images and classes when there are
    several) and per-class intensity profile."""
    counts = {str(c): int(np.sum(y == c)) for c in classes}
    from ..model.describe import data_name
    from ..model.provenance import fingerprints

    # every training image's fingerprint: validate and evaluate say when they are given these images;
    # the data's name (each folder's base name), not the trainer's absolute paths
    data = {"source": data_name(source), "n_images": len(y), "counts": counts,
            "n_groups": int(np.unique(groups).size), "sha256": data_sha256(records, y),
            "fingerprints": fingerprints(records)}
    if sites is not None and np.unique(sites).size >= 2:
        data["sites"] = {str(s): {str(c): int(np.sum((sites == s) & (y == c))) for c in classes
                                  if np.any((sites == s) & (y == c))} for s in dict.fromkeys(sites.tolist())}
    return {"data": data, "intensity": _intensity_profile(seen, y, classes)}


def _fit_network(run: _Run) -> None:
    """A network recipe's fit: the network with the labels (and, given sites to judge, one
    fine-tuning per site, each validating on its own training sites' groups), its union and head."""
    from sklearn.base import clone
    from sklearn.pipeline import FeatureUnion

    from ..features.finetune import NetworkHead

    if run.site_cv is True and run.sites is not None:
        run.site_report = leave_one_site_out(
            run.network, run.inputs, run.y, run.sites, groups=run.groups, n_bootstrap=run.n_bootstrap,
            random_state=run.random_state, name=run.recipe_name or type(run.network).__name__,
            fit_params=lambda train: {"groups": run.groups[train]}, progress=run.progress, positive="malignant")
    net = clone(run.network)
    net.fit(run.inputs, run.y, groups=run.groups)
    run.union = FeatureUnion([("finetuned", net)])
    run.head = NetworkHead(net).fit()


def _network_validation(run: _Run) -> dict | None:
    """The fitted network judged on its validation split (``run.report``); the manifest's ``cv``
    entry, or ``None`` without a split."""
    from ..evaluation.report import Report
    from ..model_selection import grouping_name

    net, y, groups, groups_from = run.union.transformer_list[0][1], run.y, run.groups, run.groups_from
    val = np.asarray(net.validation_indices_, dtype=int)
    if not val.size:
        run.report = None
        return None
    proba = np.asarray(net.validation_proba_, dtype=float)
    run.report = Report(name=run.recipe_name or type(net).__name__, classes=np.asarray(net.classes_),
                        class_names=[str(c) for c in net.classes_], y_true=y[val],
                        y_pred=np.asarray(net.classes_)[np.argmax(proba, axis=1)], scores=proba,
                        score_kind="probability", fold=np.zeros(val.size, dtype=int),
                        splits=[(np.setdiff1d(np.arange(len(y)), val), np.arange(val.size))], groups=groups[val],
                        cv=f"{grouping_name(groups_from).split(' (')[0]} validation split ({val.size} of {len(y)} "
                           f"images)" + (f" ({grouping_name(groups_from).split(' (', 1)[1]}" if groups_from else ""),
                        n_bootstrap=int(run.n_bootstrap), random_state=run.random_state)
    return _cv_summary(run.report)


def _describe_network(run: _Run, cv: dict | None) -> None:
    """A network model's manifest: what was trained (its members' histories), on what, and how it
    was judged."""
    from ..networks import backbone_name
    from ..networks.backend import backend_name, device

    net = run.union.transformer_list[0][1]
    members = list(getattr(net, "members_", [net]))  # as FeatbusModel.networks reads them
    first = members[0]
    manifest = {
        **_manifest_head(run.roi, run.preprocess, run.command, run.random_state, True, run.classes),
        "recipe": {"name": run.recipe_name,
                   "features": f"fine-tuned {'+'.join(sorted({backbone_name(m.backbone) for m in members}))}"
                               + (f" x{len(members)}" if len(members) > 1 else ""),
                   "region": first.region, "classifier": "the networks' own softmax heads"
                   + (", probabilities averaged" if len(members) > 1 else ""),
                   "preprocessing": [name for name, _ in run.steps] or None, "balance": None, "calibration": None,
                   "extractors": _extractor_settings(run.union), "head": type(run.head).__name__},
        "training": {"backend": backend_name(), "device": device(),
                     "members": [json_safe(m.history_) for m in members]},
        **_manifest_data(run.source, run.y, run.classes, run.groups, run.originals, run.seen,
                         run.sites if run.site_report is not None else None),
        "input_scale": run.scale,
        "cv": cv,
    }
    if run.site_report is not None:
        _mark_seen_sites(run.site_report, net, run.roi, run.seg_info, manifest, run.sites)
        manifest["site_cv"] = _site_cv_entry(run.site_report)
    if run.seg_info is not None:
        manifest["segmenter"] = run.seg_info
        manifest["notes"] = run.notes
    if cv is None:
        manifest.setdefault("notes", []).append("trained without a validation split: no held-out figure")
    else:
        chose = any(m.patience is not None for m in members)
        cv["about"] = (f"the validation images (whole {'near-duplicate groups' if not run.groups_from else 'groups'}) "
                       "were never trained on; "
                       + ("they chose the kept epoch (early stopping), so the figure is slightly optimistic; "
                          if chose else "they chose nothing (the epochs decided), so the figure is a held-out one; ")
                       + "the final networks were trained on the other images only")
    run.manifest = manifest


def _network_provenance(run: _Run) -> None:
    """The network model: which images it saw, its training images' profile and its out-of-domain
    reference, then the model file's object (``run.model``)."""
    net = run.union.transformer_list[0][1]
    _note_seen_images(net, run.originals, run.manifest, run.report)
    _store_training_images(run.manifest, run.records, run.inputs if run.roi is not None else None, run.groups,
                           run.random_state)
    domain = _network_domain(net, run.inputs, run.groups, run.random_state, run.manifest)
    model = FeatbusModel(run.union, run.head, run.manifest, run.roi, run.preprocess, domain)
    model.cv_report, model.site_cv_report = run.report, run.site_report
    run.model = model


def _network_domain(net, inputs, groups, random_state, manifest):
    """A network model's out-of-domain reference, in the space its head sees: the fine-tuned
    embeddings (:meth:`FineTunedCNN.transform`, each member's a family of its own).

    The reference holds the images the network trained on, and its threshold comes from the
    validation images it never trained on (``X_val`` of :meth:`DomainReference.fit`): the
    network pulled its training images together, so their distances, even cross-fitted, are
    smaller than a new image's. Without a validation split large enough
    (:data:`featbus.model.domain.MIN_HELD_OUT`), the reference cross-fits its threshold on the
    training images and the manifest says that it is then likely to flag more than 1 % of
    new images like them."""
    from ..model.domain import MIN_HELD_OUT, DomainReference, manifest_entry

    members = list(getattr(net, "members_", [net]))
    E = np.asarray(net.transform(inputs), dtype=np.float64)
    blocks = [int(m.n_features_out_) for m in members] if len(members) > 1 else None
    val = np.asarray(getattr(net, "validation_indices_", []), dtype=int)
    train = np.setdiff1d(np.arange(len(E)), val)
    reference = DomainReference(blocks=blocks, random_state=random_state)
    try:
        if val.size >= MIN_HELD_OUT and train.size >= 4:
            reference.fit(E[train], groups=groups[train], X_val=E[val])
        else:
            reference.fit(E, groups=groups)
    except ValueError as exc:
        manifest.setdefault("notes", []).append(f"no out-of-domain reference: {exc}")
        return None
    manifest["domain"] = entry = manifest_entry(reference)
    entry["space"] = "the fine-tuned network's embeddings (before its head)"
    if reference.threshold_from_ == "cross-fitted":
        entry["caveat"] = ("the network trained on every image its threshold was taken from (no validation split of "
                           f"at least {MIN_HELD_OUT} images): their embeddings lie closer together than a new image's, "
                           "so more than 1 % of new images like the training ones may be flagged")
    return reference
