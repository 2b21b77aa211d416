"""Image -> image transformers (geometry, contrast, denoising, normalisation).

Names are imported lazily: each lives in the module of its capability
(:mod:`~featbus.preprocessing.intensity`; mammography-specific steps in their own module), listed in
``featbus/preprocessing/__init__.pyi`` and attached by :func:`lazy_loader.attach_stub`. The steps
that crop to a segmenter's lesion moved to :mod:`featbus.segmentation.roi`; their old names here
still work, with a :class:`FutureWarning`.
"""

import warnings as _warnings

import lazy_loader as _lazy

_stub_getattr, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)

#: names that moved to another package -> the module they live in now
_MOVED_NAMES = {name: "featbus.segmentation.roi" for name in ("LesionProbability", "ROICropper", "RoiFoundFlag")}


def __getattr__(name):
    if name in _MOVED_NAMES:
        import importlib

        _warnings.warn(f"featbus.preprocessing.{name} moved to {_MOVED_NAMES[name]}; import it from there (or "
                       "from featbus)", FutureWarning, stacklevel=2)
        return getattr(importlib.import_module(_MOVED_NAMES[name]), name)
    return _stub_getattr(name)
