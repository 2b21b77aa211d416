"""Lesion segmentation: a Keras U-Net (:class:`UNetSegmenter`) and overlap metrics.

Keras is imported only when a segmenter is built, trained or loaded, never at import time. The
public names are listed in ``featbus/segmentation/__init__.pyi`` and imported when first used
(:func:`lazy_loader.attach_stub`).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
