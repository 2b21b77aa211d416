"""Overlap metrics for binary lesion masks: Dice coefficient and intersection over union.

Both compare a predicted mask with a ground-truth mask of the same shape. By convention two
empty masks agree perfectly (score 1.0): a normal image with no predicted lesion is a correct
segmentation. Batch versions take lists of masks of any sizes and return one score per image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["dice_score", "iou_score", "dice_scores", "iou_scores"]


def _pair(y_true, y_pred, index: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape:
        where = f"mask pair {index}: " if index is not None else ""
        raise ValueError(f"{where}true mask has shape {t.shape} but predicted mask has shape {p.shape}")
    return t > 0 if t.dtype != bool else t, p > 0 if p.dtype != bool else p


def dice_score(y_true, y_pred) -> float:
    """Dice coefficient ``2 |A ∩ B| / (|A| + |B|)`` of two binary masks.

    Parameters
    ----------
    y_true, y_pred : array-like of the same shape
        Masks; nonzero pixels are lesion.

    Returns
    -------
    dice : float
        In ``[0, 1]``; 1.0 when both masks are empty.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[:1] = True
    >>> round(dice_score(a, b), 3)
    0.667
    """
    t, p = _pair(y_true, y_pred)
    denom = int(t.sum()) + int(p.sum())
    return 1.0 if denom == 0 else 2.0 * int(np.logical_and(t, p).sum()) / denom


def iou_score(y_true, y_pred) -> float:
    """Intersection over union (Jaccard index) ``|A ∩ B| / |A ∪ B|`` of two binary masks.

    Related to Dice by ``IoU = Dice / (2 - Dice)``.

    Parameters
    ----------
    y_true, y_pred : array-like of the same shape
        Masks; nonzero pixels are lesion.

    Returns
    -------
    iou : float
        In ``[0, 1]``; 1.0 when both masks are empty.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[:1] = True
    >>> iou_score(a, b)
    0.5
    """
    t, p = _pair(y_true, y_pred)
    union = int(np.logical_or(t, p).sum())
    return 1.0 if union == 0 else int(np.logical_and(t, p).sum()) / union


def _batch(func, masks_true: Sequence, masks_pred: Sequence) -> np.ndarray:
    if len(masks_true) != len(masks_pred):
        raise ValueError(f"got {len(masks_true)} true masks but {len(masks_pred)} predicted masks")
    out = np.empty(len(masks_true))
    for i, (t, p) in enumerate(zip(masks_true, masks_pred)):
        out[i] = func(*_pair(t, p, i))
    return out


def dice_scores(masks_true: Sequence, masks_pred: Sequence) -> np.ndarray:
    """Dice coefficient of each pair of masks (masks may differ in size between pairs).

    Returns
    -------
    scores : ndarray of shape (n_images,)

    Examples
    --------
    >>> import numpy as np
    >>> m = np.ones((3, 3), bool)
    >>> dice_scores([m, m], [m, ~m]).tolist()
    [1.0, 0.0]
    """
    return _batch(dice_score, masks_true, masks_pred)


def iou_scores(masks_true: Sequence, masks_pred: Sequence) -> np.ndarray:
    """Intersection over union of each pair of masks.

    Returns
    -------
    scores : ndarray of shape (n_images,)

    Examples
    --------
    >>> import numpy as np
    >>> m = np.ones((3, 3), bool)
    >>> iou_scores([m], [m]).tolist()
    [1.0]
    """
    return _batch(iou_score, masks_true, masks_pred)
