"""The names featbus knows: feature families and preprocessing steps -> (module, class).

A plain table without imports, so that the command line can check and list names (its help,
its choice between handcrafted and deep extractors) without importing scikit-learn or
TensorFlow. :mod:`featbus.pipelines` builds the estimators from it.
"""

from __future__ import annotations

__all__ = ["FEATURES", "PREPROCESSORS"]

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
