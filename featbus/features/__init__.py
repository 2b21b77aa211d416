"""Image -> feature-vector transformers.

Handcrafted families live in :mod:`~featbus.features.hog`, :mod:`~featbus.features.lbp`,
:mod:`~featbus.features.glcm`,
:mod:`~featbus.features.texture_matrices` (IBSI GLRLM, GLSZM, GLDZM, NGTDM, GLDM),
:mod:`~featbus.features.filters` (Gabor, Laws, wavelet, LoG, fractal dimension),
:mod:`~featbus.features.intensity` (first-order statistics) and
:mod:`~featbus.features.shape` (lesion-mask shape). Names are imported lazily so that
``import featbus.features`` never pulls in heavy optional dependencies (TensorFlow for the
deep features): they are listed in ``featbus/features/__init__.pyi`` and attached by
:func:`lazy_loader.attach_stub`.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
