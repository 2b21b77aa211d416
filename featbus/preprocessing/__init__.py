"""Image -> image transformers (geometry, contrast, denoising, normalisation).

Names are imported lazily: each lives in the module of its capability
(:mod:`~featbus.preprocessing.intensity`; mammography- and ROI-specific steps in their own
modules), listed in ``featbus/preprocessing/__init__.pyi`` and attached by
:func:`lazy_loader.attach_stub`.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
