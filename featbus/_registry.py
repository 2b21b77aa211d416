"""The names featbus knows: feature families and preprocessing steps -> (module, class).

A plain table without imports, so that the command line can check and list names (its help,
its choice between handcrafted and deep extractors) without importing scikit-learn or
TensorFlow. :mod:`featbus.pipelines` builds the estimators from it, ``featbus``'s lazy public
names and :func:`featbus.testing.estimator_checks.all_estimators` read :data:`ESTIMATORS`, and the
common test checks every entry with its ``check_params``: a new estimator is added here once.
The pipeline ingredients (classifiers, samplers, selectors) have their tables in
:mod:`featbus.pipelines.ingredients`.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

__all__ = ["ESTIMATORS", "EstimatorEntry", "FEATURES", "FEATURE_ALIASES", "PREPROCESSORS", "did_you_mean",
           "entry_of", "feature_key", "is_a", "is_cnn", "reads_masks", "register"]

#: Estimator parameters that change how the work runs, never the numbers (workers, caching,
#: progress bars, batch sizes): left out of cache keys, settings files and model manifests.
EXECUTION_PARAMS = frozenset({"n_jobs", "cache", "progress", "batch_size", "verbose"})


class EstimatorEntry(NamedTuple):
    """What featbus knows of one public estimator class without importing it."""

    #: module that defines it
    module: str
    #: ``"features"`` (images -> feature matrix), ``"preprocessor"`` (images -> images),
    #: ``"network"`` (a trainable CNN: classifier and feature transformer), ``"sampler"``
    #: (``fit_resample``), ``"segmenter"`` (images -> lesion masks)
    kind: str
    #: runs a neural network, so it needs a deep-learning backend (the ``[deep]`` extra)
    backend: bool = False
    #: constructor arguments for the common checks: small, offline and fast; a value
    #: ``(class name, arguments)`` stands for that registered estimator, built when checked
    check_params: tuple[dict[str, Any], ...] = ({},)
    #: ``(class name, arguments)`` of a registered step whose output the checks feed it
    #: (``None``: the check images as they are)
    check_input: tuple[str, dict[str, Any]] | None = None
    #: its short name as a feature family (``"hog"``), for ``make_features`` and the command line
    name: str | None = None
    #: describes the lesion mask itself, whatever the region: it needs a mask on every image
    #: (a model then needs a segmenter, a score is optimistic with ground-truth masks)
    needs_mask: bool = False


_FAST_NET = {"weights": None, "input_size": 32, "progress": False, "random_state": 0}

#: Every public estimator class -> its entry.
ESTIMATORS: dict[str, EstimatorEntry] = {
    "HOGFeatures": EstimatorEntry("featbus.features.hog", "features", name="hog", check_params=({"size": (32, 32)},)),
    "LBPFeatures": EstimatorEntry("featbus.features.lbp", "features", name="lbp",
                                  check_params=({}, {"region": "mask"})),
    "GLCMFeatures": EstimatorEntry("featbus.features.glcm", "features", name="glcm",
                                   check_params=({}, {"region": "bbox"})),
    "IntensityStats": EstimatorEntry("featbus.features.intensity", "features", name="intensity",
                                     check_params=({}, {"region": "mask"})),
    "ShapeFeatures": EstimatorEntry("featbus.features.shape", "features", name="shape", needs_mask=True),
    "GLRLMFeatures": EstimatorEntry("featbus.features.texture_matrices", "features", name="glrlm"),
    "GLSZMFeatures": EstimatorEntry("featbus.features.texture_matrices", "features", name="glszm"),
    "GLDZMFeatures": EstimatorEntry("featbus.features.texture_matrices", "features", name="gldzm",
                                    check_params=({"region": "mask"},)),
    "NGTDMFeatures": EstimatorEntry("featbus.features.texture_matrices", "features", name="ngtdm"),
    "GLDMFeatures": EstimatorEntry("featbus.features.texture_matrices", "features", name="gldm"),
    "GaborFeatures": EstimatorEntry("featbus.features.filters", "features", name="gabor"),
    "LawsFeatures": EstimatorEntry("featbus.features.filters", "features", name="laws"),
    "WaveletFeatures": EstimatorEntry("featbus.features.filters", "features", name="wavelet"),
    "LoGFeatures": EstimatorEntry("featbus.features.filters", "features", name="log"),
    "FractalFeatures": EstimatorEntry("featbus.features.filters", "features", name="fractal"),
    "DeepFeatures": EstimatorEntry("featbus.features.deep", "features", backend=True,
                                   check_params=({"backbone": "efficientnet_lite0", "weights": None,
                                                  "input_size": 32, "progress": False},)),
    "Resize": EstimatorEntry("featbus.preprocessing.intensity", "preprocessor", check_params=({"size": (32, 40)},)),
    "CLAHE": EstimatorEntry("featbus.preprocessing.intensity", "preprocessor"),
    "SpeckleDenoise": EstimatorEntry("featbus.preprocessing.intensity", "preprocessor"),
    "Normalize": EstimatorEntry("featbus.preprocessing.intensity", "preprocessor"),
    "HistogramEqualizer": EstimatorEntry("featbus.preprocessing.intensity", "preprocessor",
                                         check_params=({}, {"ignore_zeros": True})),
    "AdaptiveThreshold": EstimatorEntry("featbus.preprocessing.intensity", "preprocessor",
                                        check_params=({"block_size": 11}, {"output": "masked", "invert": True})),
    "BreastMask": EstimatorEntry("featbus.preprocessing.mammography", "preprocessor"),
    "PectoralMuscleRemover": EstimatorEntry("featbus.preprocessing.mammography", "preprocessor"),
    "ROICropper": EstimatorEntry("featbus.segmentation.roi", "preprocessor", check_params=({"source": "mask"},)),
    "RoiFoundFlag": EstimatorEntry("featbus.segmentation.roi", "features",
                                   check_input=("ROICropper", {"source": "mask", "margin": 0.1})),
    "LesionProbability": EstimatorEntry("featbus.segmentation.roi", "features",
                                        check_input=("ROICropper", {"source": "mask", "margin": 0.1})),
    "FineTunedCNN": EstimatorEntry("featbus.features.finetune", "network", backend=True,
                                   check_params=({**_FAST_NET, "epochs": 1, "warmup_epochs": 0, "batch_size": 4,
                                                  "validation_fraction": 0},)),
    "FineTunedEnsemble": EstimatorEntry("featbus.features.finetune", "network", backend=True,
                                        check_params=({"estimator": ("FineTunedCNN", {
                                            **_FAST_NET, "epochs": 1, "warmup_epochs": 0, "batch_size": 4}),
                                            "n_members": 2, "random_state": 0},)),
    "ImageAugmenter": EstimatorEntry("featbus.networks.augmentation", "sampler",
                                     check_params=({"n_copies": 2, "random_state": 0},)),
    "UNetSegmenter": EstimatorEntry("featbus.segmentation.unet", "segmenter", backend=True,
                                    check_params=({"backbone": "scratch", "input_size": 32, "width": 0.25,
                                                   "epochs": 1, "batch_size": 4, "validation_fraction": 0,
                                                   "random_state": 0},)),
    "ThresholdSegmenter": EstimatorEntry("featbus.segmentation.classical", "segmenter",
                                         check_params=({}, {"method": "otsu", "min_area": 0.0})),
    "EdgeSegmenter": EstimatorEntry("featbus.segmentation.classical", "segmenter"),
}

#: Handcrafted feature names -> (module, class), from the entries' ``name``. Any other name is a
#: DeepFeatures backbone.
FEATURES: dict[str, tuple[str, str]] = {e.name: (e.module, cls) for cls, e in ESTIMATORS.items() if e.name}

#: Preprocessing names -> (module, class, constructor arguments). The mammogram steps chain
#: in the order given, e.g. ``"pectoral,flip,crop-breast"``.
PREPROCESSORS: dict[str, tuple[str, str, dict]] = {
    "resize": ("featbus.preprocessing.intensity", "Resize", {}),
    "clahe": ("featbus.preprocessing.intensity", "CLAHE", {}),
    "denoise": ("featbus.preprocessing.intensity", "SpeckleDenoise", {}),
    "normalize": ("featbus.preprocessing.intensity", "Normalize", {}),
    "equalize": ("featbus.preprocessing.intensity", "HistogramEqualizer", {}),
    "adaptive-threshold": ("featbus.preprocessing.intensity", "AdaptiveThreshold", {}),
    "roi": ("featbus.segmentation.roi", "ROICropper", {}),
    # mammograms: film background (labels, markers) to 0; pectoral muscle removed (MLO views);
    # chest wall turned to the left; cropped to the breast's bounding box
    "breast-mask": ("featbus.preprocessing.mammography", "BreastMask", {}),
    "pectoral": ("featbus.preprocessing.mammography", "PectoralMuscleRemover", {}),
    "flip": ("featbus.preprocessing.mammography", "BreastMask", {"orientation": "left", "mask_background": False}),
    "crop-breast": ("featbus.preprocessing.mammography", "BreastMask", {"crop": True, "mask_background": False}),
}


#: Other spellings of feature names -> featbus's name: IBSI's "NGLDM" is the ``gldm`` family.
#: Hyphens read as underscores too (``efficientnet-lite0``: no feature or backbone name has one).
FEATURE_ALIASES: dict[str, str] = {"ngldm": "gldm"}


def feature_key(name: str) -> str:
    """A feature or backbone name as featbus spells it: lower case, aliases resolved.

    Examples
    --------
    >>> feature_key(" NGLDM "), feature_key("EfficientNet-Lite0"), feature_key("hog")
    ('gldm', 'efficientnet_lite0', 'hog')
    """
    key = str(name).strip().lower()
    return FEATURE_ALIASES.get(key, key).replace("-", "_")


def did_you_mean(name: Any, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to a misspelt name, else ``""``: what every
    "unknown name" message appends after the name (:func:`difflib.get_close_matches`).

    Examples
    --------
    >>> did_you_mean("lbpp", ["hog", "lbp", "glcm"]), did_you_mean("zzz", ["hog", "lbp"])
    (" (did you mean 'lbp'?)", '')
    """
    import difflib

    choices = [str(c) for c in choices]
    by_key = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(name).strip().lower(), list(by_key), n=1, cutoff=0.6)
    return f" (did you mean {by_key[close[0]]!r}?)" if close else ""


def entry_of(obj: Any) -> EstimatorEntry | None:
    """The registry entry of an object's class, or of a subclass's registered base (``None``
    when the object is no registered estimator). Imports nothing: a class can only be an
    instance's base if its module is imported already."""
    for name in (cls.__name__ for cls in type(obj).__mro__):
        entry = ESTIMATORS.get(name)
        if entry is not None and is_a(obj, name):
            return entry
    return None


def is_a(obj: Any, *names: str) -> bool:
    """``isinstance(obj, <registered class named so>)`` for any of ``names``, without importing
    the class's module (a TensorFlow room stays unimported when nothing of it is used).

    Examples
    --------
    >>> from featbus.features.hog import HOGFeatures
    >>> is_a(HOGFeatures(), "HOGFeatures"), is_a(HOGFeatures(), "DeepFeatures")
    (True, False)
    """
    for name in names:
        cls = getattr(sys.modules.get(ESTIMATORS[name].module), name, None)
        if cls is not None and isinstance(obj, cls):
            return True
    return False


def is_cnn(obj: Any) -> bool:
    """A CNN that turns images into features: frozen (DeepFeatures) or fine-tuned networks."""
    entry = entry_of(obj)
    return entry is not None and entry.backend and entry.kind in ("features", "network")


def reads_masks(features: Any, region: str | None) -> bool:
    """Whether extracting ``features`` (names or instances) in ``region`` reads lesion masks.

    Examples
    --------
    >>> reads_masks(["hog", "shape"], "image"), reads_masks("hog,lbp", "image"), reads_masks(["hog"], "bbox")
    (True, False, True)
    """
    if region in ("mask", "bbox"):
        return True
    items = features.split(",") if isinstance(features, str) else list(features or ())
    for item in items:
        if isinstance(item, tuple) and len(item) == 2:
            item = item[1]
        if isinstance(item, str):
            family = FEATURES.get(item.strip().lower())
            entry = ESTIMATORS[family[1]] if family else None
        else:
            entry = entry_of(item)
        if entry is not None and entry.needs_mask:
            return True
    return False


def register(class_name: str, entry: EstimatorEntry) -> None:
    """Add an estimator to the registry (and its family name to :data:`FEATURES`): what a new
    family's entry in :data:`ESTIMATORS` does, at run time (a plug-in, a test)."""
    if class_name in ESTIMATORS:
        raise ValueError(f"{class_name!r} is registered already")
    if entry.name is not None and entry.name in FEATURES:
        raise ValueError(f"feature name {entry.name!r} is taken by {FEATURES[entry.name][1]}")
    ESTIMATORS[class_name] = entry
    if entry.name is not None:
        FEATURES[entry.name] = (entry.module, class_name)


def unregister(class_name: str) -> None:
    """Undo :func:`register`."""
    entry = ESTIMATORS.pop(class_name)
    if entry.name is not None:
        FEATURES.pop(entry.name, None)
