"""Lesion segmentation: a Keras U-Net (:class:`UNetSegmenter`) and overlap metrics.

Keras is imported only when a segmenter is built, trained or loaded, never at import time.
"""

from .metrics import dice_score, dice_scores, iou_score, iou_scores


def __getattr__(name):
    if name in ("UNetSegmenter", "build_unet"):
        from . import unet

        return getattr(unet, name)
    raise AttributeError(f"module 'featbus.segmentation' has no attribute {name!r}")


__all__ = ["UNetSegmenter", "build_unet", "dice_score", "dice_scores", "iou_score", "iou_scores"]
