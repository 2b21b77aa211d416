"""Lesion segmentation: a Keras U-Net (:class:`UNetSegmenter`) and overlap metrics.

Keras is imported only when a segmenter is built, trained or loaded, never at import time.
"""

from .metrics import dice_score, dice_scores, iou_score, iou_scores

_LAZY = {"UNetSegmenter": ".unet", "build_unet": ".network", "augment_pair": ".augmentation"}


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'featbus.segmentation' has no attribute {name!r}")


__all__ = ["UNetSegmenter", "build_unet", "augment_pair", "dice_score", "dice_scores", "iou_score",
           "iou_scores"]
