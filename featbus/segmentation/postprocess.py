"""Clean-up of predicted lesion masks: keep the largest lesion, fill holes.

A U-Net's thresholded output can hold speckle-sized islands away from the lesion and holes
inside a heterogeneous lesion; a breast ultrasound frame shows one lesion in almost every case
(BUSI: 17 of 514 lesion images have a second mask). ``UNetSegmenter(postprocess=...)`` applies
:func:`postprocess_mask` to every predicted mask; ``benchmarks/segmentation_busi.py
--rescore`` measures each choice on out-of-fold masks.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["POSTPROCESS", "postprocess_mask"]

#: the clean-ups :func:`postprocess_mask` knows
POSTPROCESS = ("none", "largest", "fill", "largest+fill")


def postprocess_mask(mask: np.ndarray, how: str = "largest+fill") -> np.ndarray:
    """Clean a binary mask.

    Parameters
    ----------
    mask : ndarray of bool, 2-D
    how : {"none", "largest", "fill", "largest+fill"}, default="largest+fill"
        ``"largest"`` keeps the largest 8-connected region (an empty mask stays empty);
        ``"fill"`` fills holes (background not connected to the frame's border); both: largest,
        then filled.

    Returns
    -------
    mask : ndarray of bool

    Examples
    --------
    >>> m = np.zeros((7, 7), bool); m[1:5, 1:5] = True; m[2, 2] = False; m[6, 6] = True
    >>> [int(postprocess_mask(m, how).sum()) for how in ("largest+fill", "largest", "none")]
    [16, 15, 16]
    """
    if how not in POSTPROCESS:
        raise ValueError(f"postprocess must be one of {POSTPROCESS}, got {how!r}")
    mask = np.asarray(mask, bool)
    if how == "none" or not mask.any():
        return mask
    if how in ("largest", "largest+fill"):
        labels, n = ndi.label(mask, structure=np.ones((3, 3), bool))
        if n > 1:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            mask = labels == int(np.argmax(sizes))
    if how in ("fill", "largest+fill"):
        mask = ndi.binary_fill_holes(mask)
    return mask
