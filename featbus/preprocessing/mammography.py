"""Mammogram preprocessing: breast mask, chest-wall orientation and pectoral-muscle removal.

Three image -> image steps for mammograms, each a plain function plus a scikit-learn
transformer that wraps it:

* :func:`breast_mask` / :class:`BreastMask`: breast versus background (threshold, largest
  connected component, hole filling), which drops film labels, tape and scanner markers;
* :func:`chest_wall_side`: which side of the image the chest wall is on, from the pixels;
  both transformers can flip every image so the chest wall is on one side
  (``orientation="left"|"right"``);
* :func:`remove_pectoral` / :class:`PectoralMuscleRemover`: finds the pectoral muscle in the
  chest-wall top corner of a medio-lateral oblique (MLO) view and removes it.

All functions accept ``uint8``, ``uint16`` or float images in ``[0, 1]`` and return images of
the input's dtype. The work is done on a downscaled copy (longer side :data:`WORK_SIZE`
pixels; the muscle edge is refined at twice that) and the masks are scaled back, so a
1024x1024 mammogram takes about 0.1 s on one core (20-30 ms when no muscle is found).

Per-image outputs that are not pixels travel in the output :class:`~featbus.ImageRecord`'s
``meta`` when the input is records or paths (``meta["breast_mask"]``, ``meta["chest_wall"]``,
``meta["flipped"]``, ``meta["pectoral_mask"]``, ``meta["pectoral_fraction"]``,
``meta["pectoral_found"]``, ``meta["pectoral_reason"]``); plain-array input gives plain arrays
back, so call the function twins to get those details for arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import cv2
import numpy as np
from scipy import ndimage as ndi
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._base import N_JOBS, BaseImagePreprocessor
from .._records import ImageRecord, to_float

__all__ = [
    "BreastMask",
    "PectoralMuscleRemover",
    "PectoralResult",
    "breast_mask",
    "chest_wall_side",
    "remove_pectoral",
    "make_mammogram_phantom",
]

#: Longer side, in pixels, of the downscaled copy the masks are computed on.
WORK_SIZE = 256

_SIDES = ("left", "right")
_FILLS = ("background", "local")


# --------------------------------------------------------------------------- helpers
def _as_float(image: Any) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
    if image.dtype == bool or image.dtype.kind not in "uif":
        raise ValueError(f"expected an integer or float image, got dtype {image.dtype}")
    return to_float(image)


def _work_copy(img01: np.ndarray, size: int = WORK_SIZE) -> tuple[np.ndarray, float]:
    """Area-downscaled copy with longer side ``size`` (never upscaled) and the scale used."""
    h, w = img01.shape
    scale = min(1.0, size / max(h, w))
    if scale == 1.0:
        return img01.astype(np.float32, copy=True), 1.0
    small = cv2.resize(img01, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    return small, scale


def _stretch(small: np.ndarray) -> float:
    """Intensity that maps to 1 for the work copies: a high percentile of the image.

    Thresholds and contrasts are then relative to the image's own range, so 12-bit data
    stored as ``uint16`` (which fill only 1/16 of the dtype's range) behave as 8-bit films
    do; a percentile, not the maximum, so a bright film label does not set the scale.
    """
    return max(float(np.percentile(small, 99.5)), 1e-6)


def _upscale_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == tuple(shape):
        return mask.copy()
    up = cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return up >= 0.5


def _downscale_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == tuple(shape):
        return mask.copy()
    return cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA) >= 0.5


def _largest_component(mask: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask, dtype=bool)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best


def _fill_value(image: np.ndarray, value: float) -> Any:
    """``value`` (in [0, 1] units) in the dtype of ``image``."""
    if image.dtype.kind in "ui":
        return np.asarray(np.rint(value * np.iinfo(image.dtype).max)).astype(image.dtype)
    return np.asarray(value).astype(image.dtype)


# --------------------------------------------------------------------------- breast mask
def _breast_mask_work(small: np.ndarray, threshold: float | None) -> np.ndarray:
    """Breast mask on the work copy (float image in [0, 1])."""
    smooth = cv2.medianBlur((small * 255).astype(np.uint8), 5)  # kills film grain and dust
    if threshold is None:
        # Automatic: a quarter of the way from the background level to Otsu's level. Otsu alone
        # separates dense tissue from fat and cuts the dark breast periphery off.
        low = float(np.percentile(smooth, 2))
        otsu, _ = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        level = low + 0.25 * (float(otsu) - low)
        level = max(level, low + 2.0)  # at least above the background's noise
    else:
        level = float(threshold) * 255
    fg = smooth > level
    # An opening cuts thin bridges between the breast and labels or tape touching it.
    k = max(3, int(round(max(small.shape) / 128)) | 1)
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN,
                          cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool)
    fg = _largest_component(fg)
    return ndi.binary_fill_holes(fg)


_THRESHOLD = [None, Interval(Real, 0, 1, closed="neither")]
_PECTORAL_PARAMS = {"fill": [StrOptions(set(_FILLS))], "min_contrast": [Interval(Real, 0, 1, closed="left")]}
_ORIENTATION = [None, StrOptions(set(_SIDES))]


@validate_params({"image": ["array-like"], "threshold": _THRESHOLD}, prefer_skip_nested_validation=True)
def breast_mask(image: Any, *, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Separate the breast from the background of a mammogram.

    The image is downscaled (longer side :data:`WORK_SIZE`), median-filtered and thresholded;
    the largest 8-connected component is kept (which drops film labels, tape and scanner
    markers, as they are not connected to the breast) and its holes are filled. The mask is
    scaled back to the full size.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Gray mammogram: ``uint8``, ``uint16`` or float in ``[0, 1]``.
    threshold : float in (0, 1) or None, default=None
        Intensity above which a pixel is breast, as a fraction of the image's 99.5th
        percentile (so it suits 8-, 12- and 16-bit data alike). ``None`` chooses it per
        image: a quarter of the way from the background level (2nd percentile) to Otsu's
        threshold, which keeps the dark skin-line region Otsu would cut off.

    Returns
    -------
    masked : ndarray of shape (h, w)
        The image with background pixels set to 0, same dtype as ``image``.
    mask : ndarray of bool, shape (h, w)
        ``True`` on the breast.

    Examples
    --------
    >>> from featbus.preprocessing.mammography import breast_mask, make_mammogram_phantom
    >>> image, truth = make_mammogram_phantom(seed=0)
    >>> masked, mask = breast_mask(image)
    >>> bool((mask & truth["breast"]).sum() / (mask | truth["breast"]).sum() > 0.9)
    True
    >>> int(masked[~mask].max())  # the film label is gone
    0
    """
    masked, mask, _ = _breast_and_side(image, threshold, side=False)
    return masked, mask


def _breast_and_side(image: Any, threshold: float | None, side: bool = True):
    image = np.asarray(image)
    small, _ = _work_copy(_as_float(image))
    small = np.minimum(small / _stretch(small), 1.0)
    small_mask = _breast_mask_work(small, threshold)
    if not small_mask.any():
        raise ValueError("no breast found: the image has no region above the background level")
    mask = _upscale_mask(small_mask, image.shape)
    masked = image.copy()
    masked[~mask] = 0
    return masked, mask, (_side_from_mask(small, small_mask) if side else None)


# --------------------------------------------------------------------------- orientation
def _side_from_mask(g: np.ndarray, mask: np.ndarray) -> str:
    """Chest-wall side from a (work-scale) image and its breast mask."""
    rows = np.nonzero(mask.any(axis=1))[0]
    if rows.size == 0:
        raise ValueError("no breast found (the image looks empty), cannot tell the chest-wall side")
    first = np.argmax(mask[rows], axis=1)
    last = mask.shape[1] - 1 - np.argmax(mask[rows, ::-1], axis=1)
    # At the skin line the breast thins out, so the intensity ramps up slowly from the
    # boundary; at the chest wall the film edge (or a cut) crosses full-thickness tissue, so
    # the pixels just inside the boundary are already bright. Compare the two sides, row by
    # row, a few pixels inside the boundary.
    k = max(2, mask.shape[1] // 85)
    left = float(np.median(g[rows, np.minimum(first + k, last)]))
    right = float(np.median(g[rows, np.maximum(last - k, first)]))
    return "left" if left >= right else "right"


def chest_wall_side(image: Any, *, mask: np.ndarray | None = None) -> str:
    """Detect which side of a mammogram the chest wall is on, from the pixels.

    At the skin line the breast thins out, so going inwards from the breast's outline the
    intensity rises slowly; at the chest wall the film edge crosses full-thickness tissue, so
    the pixels just inside the outline are already bright. The side whose row-wise boundary
    pixels (a few pixels inside the breast mask) are brighter, by the median over rows, is
    the chest-wall side. This also holds when the muscle was cut away or the chest-wall edge
    is short, where comparing breast areas fails. File names and DICOM tags are not used.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Gray mammogram (``uint8``, ``uint16`` or float in ``[0, 1]``).
    mask : ndarray of bool, optional
        A breast mask computed before (:func:`breast_mask`); computed when omitted.

    Returns
    -------
    side : {"left", "right"}

    Examples
    --------
    >>> from featbus.preprocessing.mammography import chest_wall_side, make_mammogram_phantom
    >>> chest_wall_side(make_mammogram_phantom(side="right", seed=1)[0])
    'right'
    """
    image = np.asarray(image)
    small, _ = _work_copy(_as_float(image))
    small = np.minimum(small / _stretch(small), 1.0)
    if mask is None:
        bm = _breast_mask_work(small, None)
    else:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != image.shape:
            raise ValueError(f"mask has shape {mask.shape} but the image has shape {image.shape}")
        bm = _downscale_mask(mask, small.shape)
    return _side_from_mask(small, bm)


# --------------------------------------------------------------------------- pectoral muscle
@dataclass
class PectoralResult:
    """What :func:`remove_pectoral` found and did for one image.

    Attributes
    ----------
    image : ndarray
        The image with the muscle removed (same dtype and orientation as the input).
    pectoral_mask : ndarray of bool
        Pixels removed (all ``False`` when no muscle was found).
    breast_mask : ndarray of bool
        Breast before removal.
    fraction : float
        Removed area as a fraction of the breast area (0 when not found).
    found : bool
        Whether a muscle was found and removed.
    side : {"left", "right"}
        Detected chest-wall side.
    reason : str
        Why nothing was removed when ``found`` is false (empty string otherwise).
    """

    image: np.ndarray
    pectoral_mask: np.ndarray
    breast_mask: np.ndarray
    fraction: float
    found: bool
    side: str
    reason: str = ""


def _row_span(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


def _fit_line(r: np.ndarray, c: np.ndarray, n_iter: int = 3) -> tuple[float, float]:
    """Least-squares line ``c = a + b r`` with a few rounds of outlier trimming."""
    keep = np.ones(r.size, bool)
    a = b = 0.0
    for _ in range(n_iter):
        if keep.sum() < 3:
            break
        b, a = np.polyfit(r[keep], c[keep], 1)
        res = np.abs(c - (a + b * r))
        cut = max(2.0, 2.5 * float(np.median(res[keep])))
        keep = res <= cut
    return float(a), float(b)


def _find_pectoral_work(g: np.ndarray, bm: np.ndarray, min_contrast: float, g_hi: np.ndarray,
                        bm_hi: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Pectoral mask, chest wall on the LEFT: the line is found on the work copy ``g`` and the
    boundary refined on the finer copy ``g_hi``. Returns (mask at ``g_hi``'s size or None, reason)."""
    r0, r1, c0, c1 = _row_span(bm)
    H, W = r1 - r0 + 1, c1 - c0 + 1
    if H < 16 or W < 16:
        return None, "breast too small"
    # 1. The muscle fills the chest-wall top corner: in an MLO view the breast mask reaches the
    #    top of the chest-wall edge there. If that corner is background (craniocaudal view, or
    #    the muscle was already cut away), there is nothing to remove.
    band = max(2, W // 20)
    corner_rows = np.nonzero(bm[:, c0:c0 + band].any(axis=1))[0]
    if corner_rows.size == 0 or corner_rows.min() - r0 > 0.08 * H:
        return None, "chest-wall top corner is background (no muscle visible)"
    # 2. Straight-line estimate (after Kwok et al. 2004): threshold the corner region at a
    #    series of levels, keep the bright component holding the corner, fit a line to its
    #    boundary and keep the best line that passes the validity checks.
    rr_end, cc_end = r0 + int(0.8 * H), c0 + int(0.9 * W)
    roi = g[r0:rr_end, c0:cc_end]
    roi_bm = bm[r0:rr_end, c0:cc_end]
    # thresholds act on a smoothed copy: film grain and muscle fibres otherwise break the
    # bright region into pieces
    roi_s = cv2.GaussianBlur(roi, (0, 0), max(1.0, W / 100))
    vals = roi_s[roi_bm]
    cands: list[tuple[float, float, float]] = []
    rows_idx = np.arange(roi.shape[0])
    cols_idx = np.arange(roi.shape[1])
    seed_rows = max(2, H // 25)
    for q in range(40, 98, 3):
        t = float(np.percentile(vals, q))
        reg = (roi_s >= t) & roi_bm
        n, lab = cv2.connectedComponents(reg.astype(np.uint8), connectivity=8)
        if n <= 1:
            continue
        seeds = lab[:seed_rows, :band]
        ids = np.bincount(seeds[seeds > 0].ravel(), minlength=n)
        if ids.sum() == 0:
            continue
        comp = lab == int(np.argmax(ids))
        comp = ndi.binary_fill_holes(comp)
        # boundary: per row, the end of the run that starts at the chest wall
        starts_at_wall = comp[:, :band].any(axis=1)
        first = np.argmax(comp, axis=1)
        # pixels before the run's start count as "in", so the running product stops at the
        # first gap after the run began: its sum is the run's end column
        ends = np.cumprod(comp | (cols_idx[None, :] < first[:, None]), axis=1).sum(axis=1)
        ok = starts_at_wall & (ends > band)
        if ok.sum() < max(5, H // 20):
            continue
        a, b = _fit_line(rows_idx[ok].astype(float), ends[ok].astype(float))
        if b >= -0.15:  # the boundary must run down towards the chest wall
            continue
        r_wall = -a / b  # row where the line meets the chest-wall edge (column 0 of the ROI)
        if not (0.06 * H <= r_wall <= 0.78 * H) or not (0.08 * W <= a <= 0.88 * W):
            continue
        tri = (cols_idx[None, :] < (a + b * rows_idx[:, None])) & roi_bm
        area = tri.sum()
        if area < 0.01 * bm.sum() or area > 0.45 * bm.sum():
            continue
        fill = (comp & tri).sum() / max(1, (comp | tri).sum())
        # tissue just outside the line, a band about as wide as a tenth of the breast
        width = max(3, W // 10)
        d = cols_idx[None, :] - (a + b * rows_idx[:, None])
        outside = (d >= 0) & (d < width) & roi_bm & (rows_idx[:, None] < r_wall)
        if outside.sum() < 10:
            continue
        contrast = float(np.median(roi[tri]) - np.median(roi[outside]))
        # a loose bar here: a line that is a little off mixes tissue into the triangle; the
        # strict contrast test is made on the refined boundary below
        if fill < 0.55 or contrast < 0.5 * min_contrast:
            continue
        cands.append((fill * contrast, a, b))
    if not cands:
        return None, "no bright corner region bounded by a straight edge (no muscle found)"
    # 3. Boundary refinement: the muscle edge is the strongest bright-to-dark step near the
    #    line; a minimum-cost path (dynamic programming, a few pixels of drift per row) follows
    #    it without jumping to tissue edges, then rows at the bottom whose step fades are cut.
    #    The refined region must be brighter than the tissue beside it by min_contrast.
    #    Refinement runs on the finer copy (twice the work size): the line found on the coarse
    #    copy is mapped onto it.
    fy, fx = g_hi.shape[0] / g.shape[0], g_hi.shape[1] / g.shape[1]
    R0, C0 = int(np.floor(r0 * fy)), int(np.floor(c0 * fx))
    R1, C1 = int(np.ceil(rr_end * fy)), int(np.ceil(cc_end * fx))
    hi = g_hi[R0:R1, C0:C1]
    hi_bm = bm_hi[R0:R1, C0:C1]
    W_hi = W * fx
    hi_s = cv2.GaussianBlur(hi, (0, 0), max(1.0, W_hi / 100))
    hcols = np.arange(hi.shape[1])
    width = max(3, int(W_hi // 10))
    for _, a, b in sorted(cands, reverse=True)[:3]:
        # col = c0 + a + b (row - r0) on the coarse copy, in the fine ROI's coordinates
        B = fx * b / fy
        A = fx * (c0 + a + b * (R0 / fy - r0)) - C0
        bound = _refine_boundary(hi_s, hi_bm, A, B, max(3, int(W_hi // 15)), max(3, int(W_hi // 12)),
                                 min_contrast)
        inside = (hcols[None, :] < bound[:, None]) & hi_bm
        d = hcols[None, :] - bound[:, None]
        beside = (d >= 0) & (d < width) & hi_bm & (bound[:, None] > 0)
        if inside.sum() < 0.01 * bm_hi.sum() or beside.sum() < 10:
            continue
        if float(np.median(hi[inside]) - np.median(hi[beside])) >= min_contrast:
            break
    else:
        return None, "corner region not brighter than the tissue beside it (no muscle found)"
    out = np.zeros_like(bm_hi)
    out[R0:R1, C0:C1] = (hcols[None, :] < bound[:, None]) & hi_bm
    return out, ""


def _refine_boundary(g: np.ndarray, bm: np.ndarray, a: float, b: float, win: int, band: int,
                     min_contrast: float) -> np.ndarray:
    """Per-row muscle boundary column (0 = no muscle in that row) near the line ``a + b*row``."""
    n_rows, n_cols = g.shape
    # the line is only an estimate of a slightly curved edge: follow it a little below the
    # row where it meets the chest wall, with the search window held inside the image
    r_end = int(min(n_rows - 1, np.ceil(-a / b) + 0.5 * win / abs(b) + 2))
    gx = np.zeros_like(g)
    gx[:, 1:-1] = g[:, 2:] - g[:, :-2]  # negative on a bright-to-dark step going right
    offs = np.arange(-win, win + 1)
    rows = np.arange(r_end + 1)
    cols = np.rint(np.maximum(a + b * rows, win))[:, None] + offs[None, :]
    valid = (cols >= 0) & (cols <= n_cols - 1)
    colc = np.clip(cols, 0, n_cols - 1).astype(int)
    cost = np.where(valid, gx[rows[:, None], colc], np.inf)
    cost[colc == 0] = 0.0  # "the muscle has ended" costs nothing
    step, lam = 2, 0.002
    acc = cost[0].copy()
    back = np.zeros(cost.shape, dtype=np.int64)
    idx = np.arange(offs.size)
    for i in range(1, rows.size):
        cands = np.full((2 * step + 1, offs.size), np.inf)
        for j, d in enumerate(range(-step, step + 1)):
            src = idx + d
            ok = (src >= 0) & (src < offs.size)
            cands[j, ok] = acc[src[ok]] + lam * abs(d)
        best = np.argmin(cands, axis=0)
        back[i] = idx + best - step
        acc = cost[i] + cands[best, idx]
    path = np.empty(rows.size, dtype=np.int64)
    path[-1] = int(np.argmin(acc))
    for i in range(rows.size - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    bound = np.zeros(n_rows)
    bound[: rows.size] = colc[rows, path]
    # trim the bottom rows where the boundary no longer separates bright from darker tissue
    contrast = np.full(rows.size, -1.0)
    for i in rows:
        x = int(bound[i])
        if x < 2:
            continue
        inside = g[i, max(0, x - band):x][bm[i, max(0, x - band):x]]
        outside = g[i, x:x + band][bm[i, x:x + band]]
        if inside.size and outside.size:
            contrast[i] = float(inside.mean() - outside.mean())
    contrast = ndi.median_filter(contrast, size=5, mode="nearest")
    weak = contrast < 0.1 * min_contrast
    last = rows.size - 1
    while last >= 0 and weak[last]:
        last -= 1
    bound[last + 1:] = 0
    # the muscle is one piece: once the boundary reaches the chest wall, nothing below is muscle
    ended = np.nonzero(bound[: rows.size] < 2)[0]
    if ended.size:
        bound[ended[0]:] = 0
    return bound


@validate_params({"image": ["array-like"], **_PECTORAL_PARAMS, "mask": [None, "array-like"]},
                 prefer_skip_nested_validation=True)
def remove_pectoral(image: Any, *, fill: str = "background", min_contrast: float = 0.04,
                    mask: np.ndarray | None = None) -> PectoralResult:
    """Find the pectoral muscle of a medio-lateral oblique (MLO) mammogram and remove it.

    Method: a straight-line estimate of the muscle edge followed by boundary refinement, after
    Kwok et al. (2004). The image is turned so the chest wall is on the left (detected with
    :func:`chest_wall_side`); in the chest-wall top corner of the breast it is thresholded at a
    series of levels; for each level the bright component holding the corner is kept and a
    line is fitted (least squares with outlier trimming) to the ends of its rows. A line is
    valid when it runs down towards the chest wall, meets the top and the chest wall inside
    the breast, encloses 1-45 % of the breast, agrees with the component (IoU >= 0.55) and the
    region it cuts off is brighter than the tissue just outside it by at least
    ``min_contrast / 2``. The best valid lines (at most three) are then refined, on a copy
    twice as fine, to the strongest bright-to-dark step within a narrow window of the line by
    a minimum-cost path that drifts at most two pixels per row (dynamic programming); rows
    at the bottom where the step fades are dropped. The first refined region that is brighter
    than the tissue beside it by ``min_contrast`` (difference of medians) is removed.

    No muscle is removed, and ``found`` is false with a ``reason``, when the chest-wall top
    corner is background (craniocaudal views, or images whose muscle was already cut away) or
    when no valid line exists: such images are passed through unchanged, never guessed at.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Gray MLO mammogram (``uint8``, ``uint16`` or float in ``[0, 1]``), either side.
    fill : {"background", "local"}, default="background"
        What the removed pixels become: ``"background"`` sets them to 0 (the value
        :func:`breast_mask` gives background, so the muscle is simply cut out of the breast);
        ``"local"`` sets them to the median of the breast tissue just outside the muscle
        edge, which avoids an artificial dark-to-bright edge for texture features.
    min_contrast : float, default=0.04
        Least difference of medians between the muscle and the tissue beside it, as a
        fraction of the image's intensity range (its 99.5th percentile; so 12-bit data in
        ``uint16`` need no rescaling). Raise it to remove less on low-contrast images.
    mask : ndarray of bool, optional
        Breast mask computed before; computed with :func:`breast_mask` when omitted.

    Returns
    -------
    result : PectoralResult
        ``image``, ``pectoral_mask``, ``breast_mask``, ``fraction`` (removed area / breast
        area), ``found``, ``side`` and ``reason``.

    References
    ----------
    .. [1] S. M. Kwok, R. Chandrasekhar, Y. Attikiouzel, M. T. Rickard, "Automatic pectoral
       muscle segmentation on mediolateral oblique view mammograms", IEEE Transactions on
       Medical Imaging 23(9):1129-1140, 2004.

    Examples
    --------
    >>> from featbus.preprocessing.mammography import make_mammogram_phantom, remove_pectoral
    >>> image, truth = make_mammogram_phantom(side="right", seed=0)
    >>> res = remove_pectoral(image)
    >>> res.found, res.side
    (True, 'right')
    >>> inter = (res.pectoral_mask & truth["muscle"]).sum()
    >>> bool(inter / (res.pectoral_mask | truth["muscle"]).sum() > 0.9)
    True
    """
    image = np.asarray(image)
    img01 = _as_float(image)
    small, _ = _work_copy(img01)
    scale = _stretch(small)
    small = np.minimum(small / scale, 1.0)
    if mask is None:
        bm_small = _breast_mask_work(small, None)
        bm = _upscale_mask(bm_small, image.shape)
    else:
        bm = np.asarray(mask, dtype=bool)
        if bm.shape != image.shape:
            raise ValueError(f"mask has shape {bm.shape} but the image has shape {image.shape}")
        bm_small = _downscale_mask(bm, small.shape)
    if not bm_small.any():
        raise ValueError("no breast found: the image has no region above the background level")
    side = _side_from_mask(small, bm_small)
    flip = side == "right"
    fine, _ = _work_copy(img01, 2 * WORK_SIZE)
    fine = np.minimum(fine / scale, 1.0)
    bm_fine = _upscale_mask(bm_small, fine.shape) if mask is None else _downscale_mask(bm, fine.shape)

    def orient(x):
        return np.ascontiguousarray(x[:, ::-1] if flip else x)

    found, reason = _find_pectoral_work(orient(small), orient(bm_small), float(min_contrast),
                                        orient(fine), orient(bm_fine))
    if found is None:
        return PectoralResult(image.copy(), np.zeros(image.shape, bool), bm, 0.0, False, side, reason)
    if flip:
        found = found[:, ::-1]
    pect = _upscale_mask(found, image.shape) & bm
    out = image.copy()
    if fill == "background":
        out[pect] = 0
    else:
        ring = cv2.dilate(pect.astype(np.uint8), cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (15, 15))).astype(bool) & bm & ~pect
        level = float(np.median(img01[ring])) if ring.any() else float(np.median(img01[bm & ~pect]))
        out[pect] = _fill_value(image, level)
    fraction = float(pect.sum() / max(1, bm.sum()))
    return PectoralResult(out, pect, bm, fraction, True, side, "")


# --------------------------------------------------------------------------- phantom
@validate_params({"shape": [tuple, list], "side": [StrOptions(set(_SIDES))], "muscle": ["boolean"],
                  "label": ["boolean"], "dtype": "no_validation", "seed": [None, Integral]},
                 prefer_skip_nested_validation=True)
def make_mammogram_phantom(shape: tuple[int, int] = (256, 256), *, side: str = "left",
                           muscle: bool = True, label: bool = True, dtype: Any = np.uint8,
                           seed: int | None = 0) -> tuple[np.ndarray, dict]:
    """Synthetic MLO mammogram with a known breast region and pectoral-muscle triangle.

    The breast is a half-ellipse against the chest-wall edge with smooth random texture and a
    darker periphery; the muscle is a bright triangle in the chest-wall top corner whose edge
    is slightly curved; a bright film label sits in the background's far corner and the
    background carries faint noise. Used by the tests and doctests.

    Parameters
    ----------
    shape : (int, int), default=(256, 256)
        Image size (height, width).
    side : {"left", "right"}, default="left"
        Side of the chest wall.
    muscle : bool, default=True
        Draw the pectoral muscle (``False`` gives a craniocaudal-like image).
    label : bool, default=True
        Draw a film label in the background.
    dtype : numpy dtype, default=np.uint8
        ``uint8``, ``uint16`` or ``float32`` (in ``[0, 1]``).
    seed : int or None, default=0
        Random seed of the texture and noise.

    Returns
    -------
    image : ndarray of shape ``shape``
    truth : dict
        ``"breast"`` (bool mask, muscle included), ``"muscle"`` (bool mask) and ``"label"``
        (bool mask).

    Examples
    --------
    >>> image, truth = make_mammogram_phantom((128, 128), side="right", dtype=np.uint16)
    >>> image.dtype, image.shape, bool(truth["muscle"].any())
    (dtype('uint16'), (128, 128), True)
    """
    h, w = int(shape[0]), int(shape[1])
    if h < 32 or w < 32:
        raise ValueError(f"shape must be at least 32x32, got {shape!r}")
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float32)
    # breast: half-ellipse centred on the chest-wall edge (left here; flipped at the end)
    cy, ry, rx = 0.5 * h, 0.47 * h, 0.62 * w
    ell = ((rr - cy) / ry) ** 2 + (cc / rx) ** 2
    breast = ell <= 1.0
    tex = ndi.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), sigma=max(1.0, w / 64))
    tex /= np.abs(tex).max() + 1e-6
    tissue = 0.42 + 0.12 * tex
    tissue *= np.clip(1.4 * (1.0 - ell), 0.25, 1.0) ** 0.4  # thinner, darker periphery
    img = np.where(breast, tissue, 0.0)
    muscle_mask = np.zeros((h, w), bool)
    if muscle:
        top_w = rng.uniform(0.35, 0.5) * w  # where the edge meets the top row
        wall_h = rng.uniform(0.45, 0.6) * h  # where it meets the chest wall
        # edge: slightly convex curve from (0, top_w) to (wall_h, 0)
        tt = np.clip(rr / wall_h, 0, 1)
        edge = top_w * (1 - tt) * (1 + 0.12 * np.sin(np.pi * tt))
        muscle_mask = (cc < edge) & (rr < wall_h) & breast
        img = np.where(muscle_mask, 0.78 + 0.05 * tex, img)
    img = img + rng.normal(0, 0.01, (h, w))
    img = np.where(breast, img, np.abs(rng.normal(0.01, 0.008, (h, w))))
    label_mask = np.zeros((h, w), bool)
    if label:
        label_mask[int(0.85 * h):int(0.93 * h), int(0.8 * w):int(0.94 * w)] = True
        img = np.where(label_mask, 0.95, img)
    img = np.clip(img, 0, 1).astype(np.float32)
    truth = {"breast": breast | muscle_mask, "muscle": muscle_mask, "label": label_mask}
    if side == "right":
        img = img[:, ::-1]
        truth = {k: np.ascontiguousarray(v[:, ::-1]) for k, v in truth.items()}
    img = np.ascontiguousarray(img)
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        img = np.rint(img * np.iinfo(dt).max).astype(dt)
    elif dt.kind == "f":
        img = img.astype(dt)
    else:
        raise ValueError(f"dtype must be an integer or float dtype, got {dt}")
    return img, truth


# --------------------------------------------------------------------------- transformers
class _MammoBase(BaseImagePreprocessor):
    """Shared per-item plumbing: keep records, carry lesion masks through flips, fill meta."""

    def _process_record(self, rec: ImageRecord, index: int):
        out, meta = self._process_full(rec.image)
        mask = rec.mask
        if mask is not None and meta.get("flipped"):
            mask = np.ascontiguousarray(mask[:, ::-1])  # the lesion mask follows the pixels
        return out, mask, meta

    def _orient(self, image: np.ndarray, side: str, *masks: np.ndarray):
        """Flip ``image`` and ``masks`` when the chest wall is not on ``self.orientation``."""
        flip = self.orientation is not None and side != self.orientation
        if not flip:
            return False, image, masks
        return True, np.ascontiguousarray(image[:, ::-1]), tuple(np.ascontiguousarray(m[:, ::-1]) for m in masks)


class BreastMask(_MammoBase):
    """Mask the background of mammograms (labels, tape, markers) and optionally orient them.

    Wraps :func:`breast_mask` (threshold, largest connected component, hole filling) and
    :func:`chest_wall_side`. Stateless: ``fit`` only checks the parameters.

    Parameters
    ----------
    threshold : float in (0, 1) or None, default=None
        Breast/background level as a fraction of the image's 99.5th percentile; ``None``
        picks it per image (see :func:`breast_mask`).
    orientation : {"left", "right"} or None, default=None
        Flip images (and their lesion masks) so the chest wall is on this side; ``None``
        keeps every image as it is.
    n_jobs : int or None, default=None
        Images processed in parallel (joblib).

    Notes
    -----
    The output has the input's kind and dtype, with background pixels set to 0. For
    :class:`~featbus.ImageRecord` or path input, each output record's ``meta`` holds
    ``"breast_mask"`` (bool array, in output orientation), ``"chest_wall"`` (the detected side
    in the input) and ``"flipped"`` (bool).

    Examples
    --------
    >>> from featbus import BreastMask, ImageRecord
    >>> from featbus.preprocessing.mammography import make_mammogram_phantom
    >>> image, truth = make_mammogram_phantom(side="right", seed=2)
    >>> out = BreastMask(orientation="left").fit_transform([ImageRecord(image)])
    >>> out[0].meta["chest_wall"], out[0].meta["flipped"]
    ('right', True)
    """

    _parameter_constraints = {"threshold": _THRESHOLD, "orientation": _ORIENTATION, "n_jobs": N_JOBS}

    def __init__(self, threshold: float | None = None, orientation: str | None = None,
                 n_jobs: int | None = None):
        self.threshold = threshold
        self.orientation = orientation
        self.n_jobs = n_jobs

    def _process_full(self, image: np.ndarray):
        masked, mask, side = _breast_and_side(image, self.threshold)
        flipped, masked, (mask,) = self._orient(masked, side, mask)
        return masked, {"breast_mask": mask, "chest_wall": side, "flipped": flipped}


class PectoralMuscleRemover(_MammoBase):
    """Remove the pectoral muscle from medio-lateral oblique (MLO) mammograms.

    Wraps :func:`remove_pectoral` (straight-line estimate plus boundary refinement, after
    Kwok et al. 2004; see there for the method and its checks). Images with no visible
    muscle (craniocaudal views, muscle already cut away, none found) are passed through
    unchanged and flagged with ``meta["pectoral_found"] = False``. Stateless.

    Parameters
    ----------
    fill : {"background", "local"}, default="background"
        Removed pixels become 0 (``"background"``) or the median of the breast tissue just
        outside the muscle edge (``"local"``).
    min_contrast : float, default=0.04
        Least brightness step (``[0, 1]`` units) between muscle and tissue for a detection.
    mask_background : bool, default=False
        Also set the background outside the breast to 0 (as :class:`BreastMask` does).
    orientation : {"left", "right"} or None, default=None
        Flip images (and lesion masks) so the chest wall is on this side.
    n_jobs : int or None, default=None
        Images processed in parallel (joblib).

    Notes
    -----
    For :class:`~featbus.ImageRecord` or path input, each output record's ``meta`` holds
    ``"pectoral_mask"`` (bool, output orientation), ``"pectoral_fraction"`` (removed area /
    breast area), ``"pectoral_found"``, ``"pectoral_reason"``, ``"breast_mask"``,
    ``"chest_wall"`` and ``"flipped"``.

    Examples
    --------
    >>> from featbus import ImageRecord, PectoralMuscleRemover
    >>> from featbus.preprocessing.mammography import make_mammogram_phantom
    >>> image, truth = make_mammogram_phantom(seed=3)
    >>> out = PectoralMuscleRemover().fit_transform([ImageRecord(image)])
    >>> out[0].meta["pectoral_found"], out[0].meta["chest_wall"]
    (True, 'left')
    >>> removed = out[0].meta["pectoral_mask"]
    >>> bool((removed & truth["muscle"]).sum() / (removed | truth["muscle"]).sum() > 0.9)
    True
    >>> int(out[0].image[removed].max())  # removed pixels set to background
    0
    """

    _parameter_constraints = {**_PECTORAL_PARAMS, "mask_background": ["boolean"], "orientation": _ORIENTATION,
                              "n_jobs": N_JOBS}

    def __init__(self, fill: str = "background", min_contrast: float = 0.04,
                 mask_background: bool = False, orientation: str | None = None,
                 n_jobs: int | None = None):
        self.fill = fill
        self.min_contrast = min_contrast
        self.mask_background = mask_background
        self.orientation = orientation
        self.n_jobs = n_jobs

    def _process_full(self, image: np.ndarray):
        res = remove_pectoral(image, fill=self.fill, min_contrast=self.min_contrast)
        out = res.image
        if self.mask_background:
            out = out.copy()
            out[~res.breast_mask] = 0
        flipped, out, (pm, bm) = self._orient(out, res.side, res.pectoral_mask, res.breast_mask)
        return out, {"pectoral_mask": pm, "pectoral_fraction": res.fraction,
                     "pectoral_found": res.found, "pectoral_reason": res.reason,
                     "breast_mask": bm, "chest_wall": res.side, "flipped": flipped}
