"""Deprecated: joint image/mask augmentation moved to :mod:`featbus.augmentation` (the one
augmentation module of featbus's networks). ``featbus.segmentation.augmentation.augment_pair``
still works for one release and warns (``DeprecationWarning``); import
:func:`featbus.augmentation.augment_pair` instead.
"""

from __future__ import annotations

import warnings

__all__: list[str] = []  # augment_pair lives in featbus.augmentation


def __getattr__(name: str):
    if name in ("augment_pair", "_resize"):
        from .. import augmentation

        new = "resize_to" if name == "_resize" else name  # its public name in featbus.augmentation
        warnings.warn(f"featbus.segmentation.augmentation.{name} moved to featbus.augmentation.{new}; the old "
                      "import path goes in the next release", DeprecationWarning, stacklevel=2)
        return getattr(augmentation, new)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
