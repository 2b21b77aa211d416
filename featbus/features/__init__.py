"""Image -> feature-vector transformers.

Handcrafted families live in :mod:`~featbus.features.hog`, :mod:`~featbus.features.lbp`,
:mod:`~featbus.features.glcm`,:mod:`~featbus.features.intensity` (first-order statistics) and
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
    "IntensityStats": ".intensity",
    "intensity_features": ".intensity",
    "intensity_feature_names": ".intensity",
    "ShapeFeatures": ".shape",
    "shape_features": ".shape",
    "shape_feature_names": ".shape",
    "DeepFeatures": ".deep",  # written by another engineer; lazy, so TensorFlow loads only on use
}

__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name], __name__), name)
    raise AttributeError(f"module 'featbus.features' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
