"""Image -> feature-vector transformers.

Handcrafted families live in :mod:`~featbus.features.texture` (HOG, LBP, GLCM),
:mod:`~featbus.features.intensity` (first-order statistics) and
:mod:`~featbus.features.shape` (lesion-mask shape). Names are imported lazily so that
``import featbus.features`` never pulls in heavy optional dependencies (TensorFlow for the
deep features).
"""

from importlib import import_module

_PUBLIC = {
    "HOGFeatures": ".texture",
    "hog_features": ".texture",
    "hog_feature_names": ".texture",
    "LBPFeatures": ".texture",
    "lbp_features": ".texture",
    "lbp_feature_names": ".texture",
    "GLCMFeatures": ".texture",
    "glcm_features": ".texture",
    "glcm_feature_names": ".texture",
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
