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

from .._registry import ESTIMATORS

# public name -> module, from the one registry: every class defined in featbus.features, and for
# each handcrafted family (an entry with a short name) its functions <name>_features and
# <name>_feature_names, which every family module defines (tests/test_common.py checks it)
_PUBLIC = {"fine_tuned_features": "featbus.features.finetune"}
for _cls, _entry in ESTIMATORS.items():
    if _entry.module.startswith(__name__ + "."):
        _PUBLIC[_cls] = _entry.module
        if _entry.name and not _entry.backend:
            _PUBLIC[f"{_entry.name}_features"] = _PUBLIC[f"{_entry.name}_feature_names"] = _entry.module

__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'featbus.features' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
