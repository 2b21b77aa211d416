"""The names featbus knows: feature families and preprocessing steps -> (module, class).

A plain table without imports, so that the command line can check and list names (its help,
its choice between handcrafted and deep extractors) without importing scikit-learn or
TensorFlow. :mod:`featbus.pipelines` builds the estimators from it, ``featbus``'s lazy public
names and :func:`featbus.estimator_checks.all_estimators` read :data:`ESTIMATORS`, and the
common test checks every entry with its ``check_params``: a new estimator is added here once.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["CLASSIFIERS", "ESTIMATORS", "EstimatorEntry", "FEATURES", "PREPROCESSORS", "SAMPLERS", "SELECTORS",
           "canonical_names"]


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


_FAST_NET = {"weights": None, "input_size": 32, "progress": False, "random_state": 0}

#: Every public estimator class -> its entry.
ESTIMATORS: dict[str, EstimatorEntry] = {
    "HOGFeatures": EstimatorEntry("featbus.features.hog", "features", check_params=({"size": (32, 32)},)),
    "LBPFeatures": EstimatorEntry("featbus.features.lbp", "features", check_params=({}, {"region": "mask"})),
    "GLCMFeatures": EstimatorEntry("featbus.features.glcm", "features", check_params=({}, {"region": "bbox"})),
    "IntensityStats": EstimatorEntry("featbus.features.intensity", "features",
                                     check_params=({}, {"region": "mask"})),
    "ShapeFeatures": EstimatorEntry("featbus.features.shape", "features"),
    "GLRLMFeatures": EstimatorEntry("featbus.features.texture_matrices", "features"),
    "GLSZMFeatures": EstimatorEntry("featbus.features.texture_matrices", "features"),
    "GLDZMFeatures": EstimatorEntry("featbus.features.texture_matrices", "features",
                                    check_params=({"region": "mask"},)),
    "NGTDMFeatures": EstimatorEntry("featbus.features.texture_matrices", "features"),
    "GLDMFeatures": EstimatorEntry("featbus.features.texture_matrices", "features"),
    "GaborFeatures": EstimatorEntry("featbus.features.filters", "features"),
    "LawsFeatures": EstimatorEntry("featbus.features.filters", "features"),
    "WaveletFeatures": EstimatorEntry("featbus.features.filters", "features"),
    "LoGFeatures": EstimatorEntry("featbus.features.filters", "features"),
    "FractalFeatures": EstimatorEntry("featbus.features.filters", "features"),
    "DeepFeatures": EstimatorEntry("featbus.features.deep", "features", backend=True,
                                   check_params=({"backbone": "efficientnet_lite0", "weights": None,
                                                  "input_size": 32, "progress": False},)),
    "Resize": EstimatorEntry("featbus.preprocessing.intensity", "preprocessor", check_params=({"size": (32, 40)},)),
    "CLAHE": EstimatorEntry("featbus.preprocessing.intensity", "preprocessor"),
    "SpeckleDenoise": EstimatorEntry("featbus.preprocessing.intensity", "preprocessor"),
    "Normalize": EstimatorEntry("featbus.preprocessing.intensity", "preprocessor"),
    "BreastMask": EstimatorEntry("featbus.preprocessing.mammography", "preprocessor"),
    "PectoralMuscleRemover": EstimatorEntry("featbus.preprocessing.mammography", "preprocessor"),
    "ROICropper": EstimatorEntry("featbus.preprocessing.roi", "preprocessor", check_params=({"source": "mask"},)),
    "RoiFoundFlag": EstimatorEntry("featbus.preprocessing.roi", "features",
                                   check_input=("ROICropper", {"source": "mask", "margin": 0.1})),
    "FineTunedCNN": EstimatorEntry("featbus.features.finetune", "network", backend=True,
                                   check_params=({**_FAST_NET, "epochs": 1, "warmup_epochs": 0, "batch_size": 4,
                                                  "validation_fraction": 0},)),
    "FineTunedEnsemble": EstimatorEntry("featbus.features.finetune", "network", backend=True,
                                        check_params=({"estimator": ("FineTunedCNN", {
                                            **_FAST_NET, "epochs": 1, "warmup_epochs": 0, "batch_size": 4}),
                                            "n_members": 2, "random_state": 0},)),
    "ImageAugmenter": EstimatorEntry("featbus.augmentation", "sampler",
                                     check_params=({"n_copies": 2, "random_state": 0},)),
    "UNetSegmenter": EstimatorEntry("featbus.segmentation.unet", "segmenter", backend=True,
                                    check_params=({"encoder": "scratch", "input_size": 32, "width": 0.25,
                                                   "epochs": 1, "batch_size": 4, "validation_fraction": 0,
                                                   "random_state": 0},)),
}

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

#: Preprocessing names -> (module, class, constructor arguments). The mammogram steps chain
#: in the order given, e.g. ``"pectoral,flip,crop-breast"``.
PREPROCESSORS: dict[str, tuple[str, str, dict]] = {
    "resize": ("featbus.preprocessing.intensity", "Resize", {}),
    "clahe": ("featbus.preprocessing.intensity", "CLAHE", {}),
    "denoise": ("featbus.preprocessing.intensity", "SpeckleDenoise", {}),
    "normalize": ("featbus.preprocessing.intensity", "Normalize", {}),
    "roi": ("featbus.preprocessing.roi", "ROICropper", {}),
    # mammograms: film background (labels, markers) to 0; pectoral muscle removed (MLO views);
    # chest wall turned to the left; cropped to the breast's bounding box
    "breast-mask": ("featbus.preprocessing.mammography", "BreastMask", {}),
    "pectoral": ("featbus.preprocessing.mammography", "PectoralMuscleRemover", {}),
    "flip": ("featbus.preprocessing.mammography", "BreastMask", {"orientation": "left", "mask_background": False}),
    "crop-breast": ("featbus.preprocessing.mammography", "BreastMask", {"crop": True, "mask_background": False}),
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


def canonical_names(table: dict[str, str]) -> list[str]:
    """The first name of each entry of an alias table, in table order (what help texts list).

    Examples
    --------
    >>> canonical_names({"svm": "svm", "svc": "svm", "rf": "rf"})
    ['svm', 'rf']
    """
    seen: dict[str, str] = {}
    for name, target in table.items():
        seen.setdefault(target, name)
    return list(seen.values())
