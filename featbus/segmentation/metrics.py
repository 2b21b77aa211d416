"""Metrics of binary lesion masks, per image and over a data set, as segmentation papers report them.

Overlap: Dice coefficient and intersection over union (by convention two empty masks agree
perfectly, 1.0: a normal image with no predicted lesion is a correct segmentation); per-pixel
accuracy, sensitivity and precision. Boundary: the 95th percentile of the Hausdorff distance
(HD95) and the mean (average symmetric) surface distance, in pixels or in the units of
``spacing``. :func:`segmentation_metrics` gives every metric per image;
:func:`summarize_segmentation` aggregates lesion images and normal images (empty truth)
separately, with bootstrap intervals over near-duplicate groups.

Boundary distances follow the usual definitions (e.g. Maier-Hein et al., *Metrics reloaded*,
Nat Methods 21:195-212, 2024, doi:10.1038/s41592-023-02151-z): a mask's surface is its pixels
with a background 8-neighbour (or on the image border); every surface pixel of one mask is
matched to the nearest surface pixel of the other, both ways, and the pooled distances give HD95
(95th percentile) and the mean surface distance. Both are 0 for two empty masks and undefined
(NaN) when exactly one mask is empty -- a missed lesion or a lesion predicted on a normal image,
counted separately by :func:`summarize_segmentation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._records import ImageError, check_images
from ..io import load_item
from ..metrics import bootstrap

__all__ = ["mean_dice_score", "dice_score", "iou_score", "dice_scores", "iou_scores", "surface_distances",
           "hausdorff_95", "mean_surface_distance", "segmentation_metrics", "summarize_segmentation", "METRICS"]

#: The per-image metrics of :func:`segmentation_metrics`, in its columns' order.
METRICS = ("dice", "iou", "pixel_accuracy", "sensitivity", "precision", "hd95", "msd")


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


def _surface(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a background 8-neighbour (the image's outside counts as background)."""
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask, structure=np.ones((3, 3), bool), border_value=0)


def surface_distances(y_true, y_pred, spacing=1.0) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each surface pixel of one mask to the nearest surface pixel of the other.

    Parameters
    ----------
    y_true, y_pred : array-like of the same 2-D shape
        Masks; nonzero pixels are lesion.
    spacing : float or (float, float), default=1.0
        Pixel size (rows, columns): distances in those units; 1.0: in pixels.

    Returns
    -------
    true_to_pred, pred_to_true : ndarray
        Empty arrays when either mask is empty.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2:5, 2:5] = True
    >>> b = np.roll(a, 2, axis=1)
    >>> [float(d.max()) for d in surface_distances(a, b)]
    [2.0, 2.0]
    """
    from scipy import ndimage

    t, p = _pair(y_true, y_pred)
    if not t.any() or not p.any():
        return np.empty(0), np.empty(0)
    st, sp = _surface(t), _surface(p)
    to_p = ndimage.distance_transform_edt(~sp, sampling=spacing)
    to_t = ndimage.distance_transform_edt(~st, sampling=spacing)
    return to_p[st], to_t[sp]


def _boundary(y_true, y_pred, spacing, reduce) -> float:
    t, p = _pair(y_true, y_pred)
    if not t.any() and not p.any():
        return 0.0
    if not t.any() or not p.any():
        return float("nan")
    return float(reduce(np.concatenate(surface_distances(t, p, spacing))))


def hausdorff_95(y_true, y_pred, spacing=1.0) -> float:
    """95th percentile of the symmetric surface distances (HD95) of two binary masks.

    0.0 for two empty masks, NaN when exactly one is empty (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2:5, 2:5] = True
    >>> hausdorff_95(a, np.roll(a, 2, axis=1))
    2.0
    """
    return _boundary(y_true, y_pred, spacing, lambda d: np.percentile(d, 95))


def mean_surface_distance(y_true, y_pred, spacing=1.0) -> float:
    """Mean of the symmetric surface distances (average symmetric surface distance).

    0.0 for two empty masks, NaN when exactly one is empty.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2:5, 2:5] = True
    >>> mean_surface_distance(a, a)
    0.0
    """
    return _boundary(y_true, y_pred, spacing, np.mean)


def segmentation_metrics(masks_true: Sequence, masks_pred: Sequence, *, spacing=1.0, names=None):
    """Every metric of :data:`METRICS` for each pair of masks, one row per image.

    Parameters
    ----------
    masks_true, masks_pred : sequences of 2-D arrays
        Pairs of the same shape (sizes may differ between pairs).
    spacing : float or (float, float), default=1.0
        Pixel size for the boundary distances.
    names : sequence of str, optional
        An ``image`` column (e.g. the file names).

    Returns
    -------
    table : pandas.DataFrame
        ``dice``, ``iou``, ``pixel_accuracy``, ``sensitivity`` (true positive pixels / lesion
        pixels; NaN on a normal image), ``precision`` (true positive / predicted pixels; 0 when
        a lesion was missed, NaN when nothing was predicted on a normal image), ``hd95``,
        ``msd``, and ``lesion`` (the truth is not empty), ``predicted`` (the prediction is not
        empty), ``true_area`` and ``predicted_area`` (pixels).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2:6, 2:6] = True
    >>> t = segmentation_metrics([a, np.zeros((8, 8))], [np.roll(a, 1, axis=0), np.zeros((8, 8))])
    >>> t[["dice", "sensitivity", "hd95", "lesion"]].round(2).to_dict("list")
    {'dice': [0.75, 1.0], 'sensitivity': [0.75, nan], 'hd95': [1.0, 0.0], 'lesion': [True, False]}
    """
    import pandas as pd

    if len(masks_true) != len(masks_pred):
        raise ValueError(f"got {len(masks_true)} true masks but {len(masks_pred)} predicted masks")
    rows = []
    for i, (yt, yp) in enumerate(zip(masks_true, masks_pred)):
        t, p = _pair(yt, yp, i)
        tp = int(np.logical_and(t, p).sum())
        nt, np_ = int(t.sum()), int(p.sum())
        rows.append({
            "dice": dice_score(t, p), "iou": iou_score(t, p),
            "pixel_accuracy": float(np.mean(t == p)),
            "sensitivity": tp / nt if nt else float("nan"),
            "precision": tp / np_ if np_ else (0.0 if nt else float("nan")),
            "hd95": hausdorff_95(t, p, spacing), "msd": mean_surface_distance(t, p, spacing),
            "lesion": bool(nt), "predicted": bool(np_), "true_area": nt, "predicted_area": np_})
    table = pd.DataFrame(rows)
    if names is not None:
        table.insert(0, "image", [str(n) for n in names])
    return table


def summarize_segmentation(table, groups=None, *, n_bootstrap: int = 1000, random_state: int = 0) -> dict:
    """Aggregate :func:`segmentation_metrics`: lesion images and normal images apart.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`segmentation_metrics`.
    groups : array-like, optional
        Near-duplicate (or patient) group of each row: the bootstrap resamples whole groups,
        so copies of one lesion do not narrow the intervals. Default: each image its own group.
    n_bootstrap : int, default=1000
        Resamples for the 95 % percentile intervals (0: none).
    random_state : int, default=0

    Returns
    -------
    summary : dict
        ``"lesion"``: for images with a lesion, ``n``, and per metric ``mean``, ``median`` and
        ``ci`` (of the mean); ``missed`` (nothing predicted) and ``boundary_undefined`` counts
        (HD95/MSD are averaged over the others); ``missed_share`` and ``dice_below_half`` (shares
        given no lesion and with Dice under 0.5, each ``value`` and ``ci``). ``"normal"``: for
        images without one, ``n``, ``empty`` (share predicted empty, with ``ci``), its complement
        ``given_lesion`` and ``false_area`` (mean predicted pixels).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2:6, 2:6] = True
    >>> t = segmentation_metrics([a, a, np.zeros((8, 8))], [a, np.roll(a, 1, 0), np.zeros((8, 8))])
    >>> s = summarize_segmentation(t, n_bootstrap=0)
    >>> s["lesion"]["n"], round(s["lesion"]["dice"]["mean"], 3), s["normal"]["empty"]["value"]
    (2, 0.875, 1.0)
    """
    n = len(table)
    groups = np.arange(n) if groups is None else np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups has {groups.size} entries for {n} images")
    rng = np.random.RandomState(random_state)  # one random sequence over every figure, in this order

    def with_ci(values: np.ndarray, subset: np.ndarray, stat) -> dict:
        vals, grp = values[subset], groups[subset]
        ok = np.isfinite(vals)
        out = {"mean": float(stat(vals[ok])) if ok.any() else float("nan"),
               "median": float(np.median(vals[ok])) if ok.any() else float("nan"), "ci": [float("nan")] * 2}
        if n_bootstrap and ok.sum() > 1:
            out["ci"] = list(bootstrap(stat, vals[ok], groups=grp[ok], n_bootstrap=n_bootstrap, random_state=rng)[1])
        return out

    lesion = table["lesion"].to_numpy(bool)
    undefined = lesion & ~np.isfinite(table["hd95"].to_numpy(float))
    summary: dict = {"lesion": {"n": int(lesion.sum()),
                                "missed": int((lesion & ~table["predicted"].to_numpy(bool)).sum()),
                                "boundary_undefined": int(undefined.sum())},
                     "normal": {"n": int((~lesion).sum())}}
    if lesion.any():
        for m in METRICS:
            summary["lesion"][m] = with_ci(table[m].to_numpy(float), lesion, np.mean)
    if (~lesion).any():
        empty = (~table["predicted"].to_numpy(bool)).astype(float)
        e = with_ci(empty, ~lesion, np.mean)
        summary["normal"]["empty"] = {"value": e["mean"], "ci": e["ci"]}
        summary["normal"]["false_area"] = float(table["predicted_area"].to_numpy(float)[~lesion].mean())
        summary["normal"]["given_lesion"] = {"value": 1 - e["mean"], "ci": [1 - e["ci"][1], 1 - e["ci"][0]]}
    if lesion.any():  # after the figures above, so that their intervals keep their random draws
        missed = (~table["predicted"].to_numpy(bool)).astype(float)
        low = (table["dice"].to_numpy(float) < 0.5).astype(float)
        for key, values in (("missed_share", missed), ("dice_below_half", low)):
            v = with_ci(values, lesion, np.mean)
            summary["lesion"][key] = {"value": v["mean"], "ci": v["ci"]}
    return summary


def mean_dice_score(segmenter, X, y=None) -> float:
    """Mean Dice of ``segmenter.predict_masks(X)`` against the true masks: ``y``, or the masks
    the records of ``X`` carry (an image without one is an error naming it). The ``score`` of
    every featbus segmenter (the U-Net and the classical ones).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord
    >>> top = np.arange(64).reshape(8, 8) < 32  # the upper half
    >>> class Half:
    ...     def predict_masks(self, X): return [top for _ in X]
    >>> rec = ImageRecord(np.zeros((8, 8)), top)
    >>> mean_dice_score(Half(), [rec])
    1.0
    """
    items = check_images(X)
    truth = []
    for i, item in enumerate(items):
        if y is not None:
            truth.append(np.asarray(y[i]) > 0)
        else:
            rec = load_item(item, i)
            if rec.mask is None:
                raise ImageError("has no mask to score against", i, rec.path)
            truth.append(rec.mask)
    return float(np.mean(dice_scores(truth, segmenter.predict_masks(items))))
