"""Image -> feature-vector transformers.

Handcrafted families live in :mod:`~featbus.features.hog`, :mod:`~featbus.features.lbp`,
:mod:`~featbus.features.glcm`,
:mod:`~featbus.features.texture_matrices` (IBSI GLRLM, GLSZM, GLDZM, NGTDM, GLDM),
:mod:`~featbus.features.filters` (Gabor, Laws, wavelet, LoG, fractal dimension),
:mod:`~featbus.features.intensity` (first-order statistics) and
:mod:`~featbus.features.shape` (lesion-mask shape). Names are imported lazily so that
``import featbus.features`` never pulls in heavy optional dependencies (TensorFlow for the
deep features).
"""

from importlib import import_module

_PUBLIC = {
    "HOGFeatures": ".hog",
    "hog_features": ".hog",
    "hog_feature_names": ".hog",
    "LBPFeatures": ".lbp",
    "lbp_features": ".lbp",
    "lbp_feature_names": ".lbp",
    "GLCMFeatures": ".glcm",
    "glcm_features": ".glcm",
    "glcm_feature_names": ".glcm",
    "GLRLMFeatures": ".texture_matrices",
    "glrlm_features": ".texture_matrices",
    "glrlm_feature_names": ".texture_matrices",
    "GLSZMFeatures": ".texture_matrices",
    "glszm_features": ".texture_matrices",
    "glszm_feature_names": ".texture_matrices",
    "GLDZMFeatures": ".texture_matrices",
    "gldzm_features": ".texture_matrices",
    "gldzm_feature_names": ".texture_matrices",
    "NGTDMFeatures": ".texture_matrices",
    "ngtdm_features": ".texture_matrices",
    "ngtdm_feature_names": ".texture_matrices",
    "GLDMFeatures": ".texture_matrices",
    "gldm_features": ".texture_matrices",
    "gldm_feature_names": ".texture_matrices",
    "GaborFeatures": ".filters",
    "gabor_features": ".filters",
    "gabor_feature_names": ".filters",
    "LawsFeatures": ".filters",
    "laws_features": ".filters",
    "laws_feature_names": ".filters",
    "WaveletFeatures": ".filters",
    "wavelet_features": ".filters",
    "wavelet_feature_names": ".filters",
    "LoGFeatures": ".filters",
    "log_features": ".filters",
    "log_feature_names": ".filters",
    "FractalFeatures": ".filters",
    "fractal_features": ".filters",
    "fractal_feature_names": ".filters",
    "IntensityStats": ".intensity",
    "intensity_features": ".intensity",
    "intensity_feature_names": ".intensity",
    "ShapeFeatures": ".shape",
    "shape_features": ".shape",
    "shape_feature_names": ".shape",
    "DeepFeatures": ".deep",  # written by another engineer; lazy, so TensorFlow loads only on use
    "FineTunedCNN": ".finetune",
    "FineTunedEnsemble": ".finetune",
    "fine_tuned_features": ".finetune",
}

__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name], __name__), name)
    raise AttributeError(f"module 'featbus.features' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
