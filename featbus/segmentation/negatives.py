"""Lesion-free training images cut from lesion images, and caliper marks painted onto images.

A segmenter's "is there a lesion?" decision needs images without a lesion, and most sources
publish none (of the three shared breast-ultrasound sites, only BUSI has normal scans). Every
lesion image is nevertheless a source of lesion-free tissue: its mask says where the lesion is
not. :func:`lesion_free_boxes` draws boxes of a frame-like shape and size (a share of each side
of at least ``min_fraction``, anywhere in the frame) that stay clear of the lesion by a margin;
:func:`lesion_free_crops` cuts them out. Each crop is a negative example (an empty mask) for
training the decision, from every site that has lesion images.

Marks that sonographers burn in around a lesion (caliper crosses, measurement text) would then
become the cue "lesion here": a normal scan rarely carries them. :func:`paint_calipers` paints a
pair of caliper crosses bracketing an empty span, with a dotted line between them now and then
and short labels (:func:`featbus.networks.augmentation.draw_marks`), onto any image, so that
training can show such marks on lesion-free images too.

A crop is a frame zoomed in; a normal scan is a whole frame. :func:`lesion_free_frame` removes
the lesion from the whole frame instead: the lesion, grown by a margin and by the shadow it casts
below it, is filled with tissue copied from elsewhere in the same frame, from the same depth where
it fits (ultrasound texture and brightness change with depth, little across it), blended in over a
feathered edge, or with OpenCV's inpainting
(``method="telea"``, a smooth fill) where no such tissue is at hand. :func:`fill_statistics`
compares the fill with the tissue around it (brightness, contrast, fine texture), and
:data:`FILL_CHECK` is the rule a fill must pass to be kept as a normal scan of that scanner.

Examples
--------
>>> import numpy as np
>>> from featbus.segmentation.negatives import lesion_free_crops, paint_calipers
>>> image = np.random.RandomState(0).rand(120, 160).astype(np.float32)
>>> mask = np.zeros((120, 160), bool); mask[10:50, 100:150] = True
>>> crops = lesion_free_crops(image, mask, 3, random_state=0, min_fraction=0.4)
>>> len(crops), all(c.shape[0] >= 48 and c.shape[1] >= 64 for c in crops)
(3, True)
>>> painted = paint_calipers(crops[0], random_state=0)
>>> painted.shape == crops[0].shape, bool(painted.max() >= 0.8)
(True, True)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["FILL_CHECK", "fill_statistics", "lesion_free_boxes", "lesion_free_crops", "lesion_free_frame",
           "lesion_free_frames", "paint_calipers"]


def _summed_area(values: np.ndarray, dtype=np.int64) -> np.ndarray:
    """The summed-area table of a 2-D array, one row and column of zeros first: the sum over
    any box in O(1) (:func:`_box_sum`)."""
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype)
    table[1:, 1:] = np.cumsum(np.cumsum(values, axis=0, dtype=dtype), axis=1)
    return table


def _box_sum(table: np.ndarray, r0: int, r1: int, c0: int, c1: int):
    """The sum of ``values[r0:r1, c0:c1]`` from its :func:`_summed_area` table."""
    return table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]


def _check_fraction(name: str, value: float, low: float = 0.0) -> float:
    value = float(value)
    if not low < value <= 1:
        raise ValueError(f"{name} must be in ({low}, 1], got {value!r}")
    return value


def lesion_free_boxes(mask: np.ndarray, n: int, *, random_state=None, min_fraction: float = 0.5,
                      max_fraction: float = 0.9, margin: float = 0.05, aspect_jitter: float = 0.2,
                      tries: int = 400) -> list[tuple[int, int, int, int]]:
    """Boxes of a frame that keep clear of its lesion, each of a frame-like shape and size.

    Each box keeps a share ``f`` of the frame's height, drawn uniformly in
    ``[min_fraction, max_fraction]``, and a share ``f * a`` of its width, ``a`` within
    ``1 +/- aspect_jitter`` (so a box resized to the frame looks like a frame zoomed in by
    ``1 / f``), at a position drawn uniformly in the frame. A box is kept only when no pixel of
    the lesion, grown by ``margin`` of the frame's shorter side, lies in it.

    Parameters
    ----------
    mask : ndarray of shape (h, w)
        The lesion mask; nonzero is lesion. An all-zero mask (a normal scan) allows any box.
    n : int
        Boxes wanted.
    random_state : int, RandomState, Generator or None
    min_fraction, max_fraction : float in (0, 1]
        Range of the share of each side a box keeps.
    margin : float, default=0.05
        Clearance from the lesion, as a share of the frame's shorter side (at least one pixel
        when positive).
    aspect_jitter : float in [0, 1), default=0.2
    tries : int, default=400
        Random boxes drawn at most; fewer than ``n`` boxes come back when a lesion leaves too
        little room (none when it fills the frame).

    Returns
    -------
    boxes : list of (row0, row1, col0, col1)
        Half-open bounds, ``image[row0:row1, col0:col1]``.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((100, 100), bool); m[60:90, 60:90] = True
    >>> boxes = lesion_free_boxes(m, 2, random_state=0, min_fraction=0.5, max_fraction=0.55)
    >>> [bool(m[r0:r1, c0:c1].any()) for r0, r1, c0, c1 in boxes]
    [False, False]
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    lo = _check_fraction("min_fraction", min_fraction)
    hi = _check_fraction("max_fraction", max_fraction)
    if hi < lo:
        raise ValueError(f"max_fraction ({hi}) must be at least min_fraction ({lo})")
    if not 0 <= float(margin) < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    if not 0 <= float(aspect_jitter) < 1:
        raise ValueError(f"aspect_jitter must be in [0, 1), got {aspect_jitter!r}")
    if int(n) < 0 or int(tries) < 0:
        raise ValueError(f"n and tries must be >= 0, got {n!r} and {tries!r}")
    rng = np.random.default_rng(random_state) if not isinstance(random_state, np.random.RandomState) \
        else np.random.default_rng(random_state.randint(0, 2**31 - 1))
    h, w = mask.shape
    forbidden = mask > 0
    grow = int(np.ceil(float(margin) * min(h, w)))
    if grow and forbidden.any():
        forbidden = ndi.binary_dilation(forbidden, structure=np.ones((3, 3), bool), iterations=grow)
    table = _summed_area(forbidden)  # the lesion pixels inside any box in O(1)
    boxes: list[tuple[int, int, int, int]] = []
    for _ in range(int(tries)):
        if len(boxes) >= int(n):
            break
        f = float(rng.uniform(lo, hi))
        a = float(rng.uniform(1 - float(aspect_jitter), 1 + float(aspect_jitter)))
        bh = max(1, min(h, int(round(f * h))))
        bw = max(1, min(w, int(round(min(f * a, 1.0) * w))))
        r0, c0 = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        r1, c1 = r0 + bh, c0 + bw
        if _box_sum(table, r0, r1, c0, c1) == 0:
            boxes.append((r0, r1, c0, c1))
    return boxes


def lesion_free_crops(image: np.ndarray, mask: np.ndarray, n: int, *, random_state=None,
                      **box_params) -> list[np.ndarray]:
    """Lesion-free crops of one frame (:func:`lesion_free_boxes`), each a negative example.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    mask : ndarray of shape (h, w)
        Its lesion mask (nonzero is lesion).
    n : int
        Crops wanted (fewer come back when the lesion leaves too little room).
    random_state : int, Generator or None
    **box_params
        ``min_fraction``, ``max_fraction``, ``margin``, ``aspect_jitter``, ``tries`` of
        :func:`lesion_free_boxes`.

    Returns
    -------
    crops : list of ndarray
        Copies of the image's pixels, same dtype.
    """
    image = np.asarray(image)
    if image.shape[:2] != np.shape(mask):
        raise ValueError(f"mask has shape {np.shape(mask)} but the image has shape {image.shape[:2]}")
    boxes = lesion_free_boxes(mask, n, random_state=random_state, **box_params)
    return [image[r0:r1, c0:c1].copy() for r0, r1, c0, c1 in boxes]


def paint_calipers(image: np.ndarray, *, random_state=None, pairs: int = 1, line: float = 0.5,
                   labels: int = 1) -> np.ndarray:
    """Paint caliper marks onto a float ``[0, 1]`` gray image (a copy): as sonographers mark a lesion.

    Each pair is two bright crosses (``+``, 1.5-3.5 % of the shorter side in half-width, value
    0.8-1.0) at the two ends of a span of 15-50 % of the shorter side in a random direction;
    with probability ``line`` a dotted line joins them. Then up to ``labels`` short labels
    (:func:`featbus.networks.augmentation.draw_marks`: crosses or one to three characters).

    Parameters
    ----------
    image : ndarray of shape (h, w), float in [0, 1]
    random_state : int, Generator or None
    pairs : int, default=1
        Caliper pairs painted.
    line : float in [0, 1], default=0.5
        Probability of a dotted line between the two crosses of a pair.
    labels : int, default=1
        Largest number of extra marks (0: none).

    Returns
    -------
    painted : ndarray of float32, same shape

    Examples
    --------
    >>> import numpy as np
    >>> out = paint_calipers(np.zeros((64, 80), np.float32), random_state=1, labels=0)
    >>> bool((out >= 0.8).sum() >= 4), out.dtype.name
    (True, 'float32')
    """
    import cv2

    from ..networks.augmentation import draw_marks

    out = np.array(image, np.float32)
    if out.ndim != 2:
        raise ValueError(f"image must be 2-D (gray), got shape {out.shape}")
    if not 0 <= float(line) <= 1:
        raise ValueError(f"line must be a probability in [0, 1], got {line!r}")
    if int(pairs) < 0 or int(labels) < 0:
        raise ValueError(f"pairs and labels must be >= 0, got {pairs!r} and {labels!r}")
    rng = np.random.default_rng(random_state)
    h, w = out.shape
    side = min(h, w)
    for _ in range(int(pairs)):
        half = max(1, int(round(side * rng.uniform(0.015, 0.035))))
        span = side * rng.uniform(0.15, 0.5)
        angle = rng.uniform(0, np.pi)
        dy, dx = span * np.sin(angle), span * np.cos(angle)
        cy = rng.uniform(half + abs(dy) / 2, max(half + abs(dy) / 2, h - half - abs(dy) / 2))
        cx = rng.uniform(half + abs(dx) / 2, max(half + abs(dx) / 2, w - half - abs(dx) / 2))
        value = float(rng.uniform(0.8, 1.0))
        ends = [(int(round(cx - dx / 2)), int(round(cy - dy / 2))), (int(round(cx + dx / 2)), int(round(cy + dy / 2)))]
        for x, y in ends:
            cv2.line(out, (x - half, y), (x + half, y), value, 1)
            cv2.line(out, (x, y - half), (x, y + half), value, 1)
        if rng.uniform() < float(line):
            n_dots = max(2, int(span // max(3, 2 * half)))
            for t in np.linspace(0, 1, n_dots + 2)[1:-1]:
                x = int(round(ends[0][0] + t * (ends[1][0] - ends[0][0])))
                y = int(round(ends[0][1] + t * (ends[1][1] - ends[0][1])))
                if 0 <= y < h and 0 <= x < w:
                    out[y, x] = value
    if int(labels):
        out = draw_marks(out, int(rng.integers(0, int(labels) + 1)), rng)
    return np.clip(out, 0, 1)


#: The rule a fill must pass to pass for tissue (:func:`fill_statistics`): its mean within
#: ``mean_z`` of the surrounding ring's standard deviations of the ring's mean, its standard
#: deviation and its fine-texture energy (mean absolute Laplacian) within the given ratios of
#: the ring's. A smooth inpainting fails the texture ratio; a patch from the dark sides of a
#: sector scan fails the mean.
FILL_CHECK = {"mean_z": 0.6, "std_ratio": (0.6, 1.6), "texture_ratio": (0.6, 1.6)}


def _grown(mask: np.ndarray, margin: float) -> np.ndarray:
    m = np.asarray(mask) > 0
    r = max(1, int(round(float(margin) * min(m.shape))))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return ndi.binary_dilation(m, structure=(yy ** 2 + xx ** 2) <= r * r)


def fill_statistics(frame: np.ndarray, filled: np.ndarray, *, ring: float = 0.06) -> dict:
    """How a filled region compares with the tissue around it.

    Parameters
    ----------
    frame : ndarray of shape (h, w), float
        The frame after filling.
    filled : ndarray of bool, same shape
        The region that was filled.
    ring : float, default=0.06
        Width of the surrounding ring, as a share of the frame's shorter side.

    Returns
    -------
    stats : dict
        ``mean_z`` (the fill's mean minus the ring's, in the ring's standard deviations),
        ``std_ratio`` and ``texture_ratio`` (fill over ring; texture is the mean absolute
        Laplacian), and ``passes``: whether all three keep within :data:`FILL_CHECK`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> frame = rng.random((80, 100)).astype(np.float32)
    >>> region = np.zeros((80, 100), bool); region[30:50, 40:60] = True
    >>> fill_statistics(frame, region)["passes"]
    True
    >>> smooth = frame.copy(); smooth[region] = 0.5
    >>> fill_statistics(smooth, region)["passes"]
    False
    """
    frame = np.asarray(frame, np.float32)
    filled = np.asarray(filled, bool)
    if frame.shape != filled.shape:
        raise ValueError(f"filled has shape {filled.shape} but the frame has shape {frame.shape}")
    if not filled.any():
        raise ValueError("filled is empty: there is no fill to check")
    around = _grown(filled, ring) & ~filled
    if around.sum() < 16:
        return {"mean_z": float("nan"), "std_ratio": float("nan"), "texture_ratio": float("nan"), "passes": False}
    lap = np.abs(ndi.laplace(frame))
    inner = filled & ~(_grown(~filled, 0.01))  # the Laplacian of the fill's own texture, not its seam
    inner = inner if inner.sum() >= 16 else filled
    eps = 1e-6
    stats = {"mean_z": float((frame[filled].mean() - frame[around].mean()) / (frame[around].std() + eps)),
             "std_ratio": float((frame[filled].std() + eps) / (frame[around].std() + eps)),
             "texture_ratio": float((lap[inner].mean() + eps) / (lap[around].mean() + eps))}
    lo_s, hi_s = FILL_CHECK["std_ratio"]
    lo_t, hi_t = FILL_CHECK["texture_ratio"]
    stats["passes"] = bool(abs(stats["mean_z"]) <= FILL_CHECK["mean_z"] and lo_s <= stats["std_ratio"] <= hi_s
                           and lo_t <= stats["texture_ratio"] <= hi_t)
    return stats


def _box_stats(table: np.ndarray, table2: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> tuple[float, float]:
    """Mean and standard deviation of a box from the summed-area tables of the values and their squares."""
    n = (r1 - r0) * (c1 - c0)
    mean = _box_sum(table, r0, r1, c0, c1) / n
    return float(mean), float(np.sqrt(max(_box_sum(table2, r0, r1, c0, c1) / n - mean * mean, 0.0)))


def _resample_fill(frame: np.ndarray, region: np.ndarray, feather: float, rng) -> np.ndarray | None:
    """The frame with ``region`` replaced by a copy of the frame shifted so that the copied box
    stays clear of the region's box and inside the frame; among such shifts, the one whose box
    matches the ring around the region best in brightness and contrast, preferring the same depth
    (a sideways shift). None when no shift fits."""
    h, w = frame.shape
    rows, cols = np.nonzero(region)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    ring = _grown(region, 0.04) & ~region
    t_mean, t_std = float(frame[ring].mean()), float(frame[ring].std()) + 1e-3
    values = frame.astype(np.float64)
    table, table2 = _summed_area(values, np.float64), _summed_area(values * values, np.float64)
    step = max(1, min(h, w) // 80)
    best = None
    for dy in range(-r0, h - r1 + 1, step):
        for dx in range(-c0, w - c1 + 1, step):
            if abs(dx) < c1 - c0 and abs(dy) < r1 - r0:  # the copied box would overlap the region's
                continue
            m, sd = _box_stats(table, table2, r0 + dy, r1 + dy, c0 + dx, c1 + dx)
            score = (abs(m - t_mean) / t_std + abs(np.log((sd + 1e-3) / t_std)) + 4.0 * abs(dy) / h
                     + 0.01 * rng.random())
            if best is None or score < best[0]:
                best = (score, dy, dx)
    if best is None:
        return None
    _, dy, dx = best
    shifted = np.roll(frame, (-dy, -dx), axis=(0, 1))  # pixel (r, c) now holds (r + dy, c + dx)
    sig = max(0.5, float(feather) * min(h, w))
    alpha = np.clip(ndi.gaussian_filter(_grown(region, feather).astype(np.float32), sig), 0, 1)
    alpha[region] = 1.0
    offset = t_mean - float(shifted[ring].mean())  # the copy's brightness matched to the ring
    return (1 - alpha) * frame + alpha * np.clip(shifted + offset, 0, 1)


def _with_posterior(region: np.ndarray, share: float) -> np.ndarray:
    """The region grown downwards (deeper) by ``share`` of its height under each of its columns:
    the acoustic shadow or enhancement a lesion casts goes with it."""
    if share <= 0:
        return region
    out = region.copy()
    h = region.shape[0]
    rows = np.nonzero(region.any(axis=1))[0]
    extra = int(round(share * (rows.max() - rows.min() + 1)))
    for c in np.nonzero(region.any(axis=0))[0]:
        bottom = np.nonzero(region[:, c])[0].max()
        out[bottom:min(h, bottom + extra + 1), c] = True
    return out


def lesion_free_frame(image: np.ndarray, mask: np.ndarray, *, method: str = "resample", margin: float = 0.04,
                      posterior: float = 0.3, feather: float = 0.02,
                      random_state=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """A whole frame with its lesion removed: a normal scan of the same scanner, if the fill passes.

    The lesion, grown by ``margin`` of the frame's shorter side (its edge) and downwards by
    ``posterior`` of its height (the shadow or enhancement it casts), is filled with ``method``:
    ``"resample"`` copies tissue from elsewhere in the frame (the shift, sideways preferred since
    texture changes with depth, whose tissue matches the ring around the lesion best in brightness
    and contrast; the copy's brightness matched to the ring), blended in over a feathered edge;
    ``"telea"`` is OpenCV's inpainting (smooth). A lesion that leaves no room for a copy falls
    back to ``"telea"`` (``stats["method"]`` says so).

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Gray, uint8 or float in [0, 1].
    mask : ndarray of shape (h, w)
        Its lesion mask (nonzero is lesion); must hold a lesion.
    method : {"resample", "telea"}, default="resample"
    margin : float, default=0.04
        How far the removed region reaches beyond the mask.
    posterior : float, default=0.3
        How far below the lesion the region reaches, as a share of the lesion's height.
    feather : float, default=0.02
        Width of the blend at the region's edge ("resample").
    random_state : int, Generator or None
        Breaks ties between equally good shifts.

    Returns
    -------
    frame : ndarray of float32 in [0, 1], shape (h, w)
    filled : ndarray of bool, shape (h, w)
        The region replaced.
    stats : dict
        :func:`fill_statistics` of the fill, and ``method`` (the one used).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> image = (0.4 + 0.1 * rng.standard_normal((96, 128))).clip(0, 1).astype(np.float32)
    >>> mask = np.zeros((96, 128), bool); mask[40:60, 20:44] = True
    >>> image[mask] = 0.05                                   # a dark lesion
    >>> frame, filled, stats = lesion_free_frame(image, mask, random_state=0)
    >>> bool(abs(frame[mask].mean() - 0.4) < 0.05), stats["method"], stats["passes"]
    (True, 'resample', True)
    """
    import cv2

    from .._records import to_float

    if method not in ("resample", "telea"):
        raise ValueError(f"method must be 'resample' or 'telea', got {method!r}")
    frame = np.asarray(to_float(np.asarray(image)), np.float32)
    if frame.ndim == 3:
        frame = frame.mean(axis=2)
    if frame.shape != np.shape(mask)[:2]:
        raise ValueError(f"mask has shape {np.shape(mask)} but the image has shape {frame.shape}")
    region = _grown(np.asarray(mask).reshape(frame.shape) > 0, margin)
    if not region.any():
        raise ValueError("the mask holds no lesion: there is nothing to remove")
    region = _with_posterior(region, float(posterior))
    if region.all():
        raise ValueError("the lesion fills the frame: there is no tissue to fill it with")
    rng = np.random.default_rng(random_state)
    out, used = None, method
    if method == "resample":
        out = _resample_fill(frame, region, feather, rng)
    if out is None:
        used = "telea"
        radius = max(3, int(round(0.02 * min(frame.shape))))
        out = cv2.inpaint(np.round(frame * 255).astype(np.uint8), region.astype(np.uint8), radius,
                          cv2.INPAINT_TELEA).astype(np.float32) / 255
    out = np.clip(out, 0, 1).astype(np.float32)
    stats = fill_statistics(out, region)
    stats["method"] = used
    return out, region, stats


def lesion_free_frames(images, masks, sites, per_site: int, *, labels=None, absent: str = "normal",
                       random_state=None, **frame_params) -> tuple[list[np.ndarray], np.ndarray, dict]:
    """Normal scans in each site's own style: up to ``per_site`` lesion-free whole frames per site.

    For each site, its lesion images are taken in a random order and their lesions removed
    (:func:`lesion_free_frame`, the ``"resample"`` fill); a frame is kept only when its fill
    passes the tissue check (:data:`FILL_CHECK`), until the site has ``per_site`` normal scans,
    its own real ones (``labels == absent``) counted first. Sites are thus balanced in their
    normal scans as far as their lesion images allow; ``counts`` says how far.

    Parameters
    ----------
    images : sequence of ndarray
        Gray frames (uint8 or float in [0, 1]).
    masks : sequence of ndarray or None
        Their lesion masks (None or all-zero: no lesion, never used as a source).
    sites : sequence of str
        The site of each image.
    per_site : int
        Normal scans wanted per site, made and real together.
    labels : sequence of str, optional
        The images' labels, to count each site's real normal scans (``absent``).
    absent : str, default="normal"
    random_state : int, Generator or None
    **frame_params
        ``margin``, ``posterior``, ``feather`` of :func:`lesion_free_frame`.

    Returns
    -------
    frames : list of ndarray of float32
        The kept frames (label them ``absent``; keep each in its source's group).
    source : ndarray of int
        The index of each frame's source image.
    counts : dict
        Per site: ``made``, ``tried`` (fills attempted) and ``own_normal``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = [(0.4 + 0.1 * rng.standard_normal((64, 96))).clip(0, 1) for _ in range(4)]
    >>> masks = [np.zeros((64, 96), bool) for _ in range(4)]
    >>> for m in masks: m[20:34, 10:30] = True
    >>> frames, source, counts = lesion_free_frames(images, masks, ["a", "a", "b", "b"], 1, random_state=0)
    >>> len(frames), sorted(counts), counts["a"]["made"]
    (2, ['a', 'b'], 1)
    """
    n = len(images)
    if len(masks) != n or len(sites) != n or (labels is not None and len(labels) != n):
        raise ValueError(f"images, masks, sites (and labels) must be of one length, got {n}, {len(masks)}, "
                         f"{len(sites)}" + ("" if labels is None else f", {len(labels)}"))
    if int(per_site) < 0:
        raise ValueError(f"per_site must be >= 0, got {per_site!r}")
    rng = np.random.default_rng(random_state)
    frames, source, counts = [], [], {}
    sites = [str(s) for s in sites]
    for site in dict.fromkeys(sites):
        idx = [i for i in range(n) if sites[i] == site]
        own = sum(str(labels[i]) == absent for i in idx) if labels is not None else 0
        want = max(0, int(per_site) - own)
        tried = kept = 0
        lesions = [i for i in idx if masks[i] is not None and np.any(masks[i])]
        for i in rng.permutation(lesions) if lesions else []:
            if kept >= want:
                break
            frame, _, stats = lesion_free_frame(images[i], masks[i], random_state=int(i), **frame_params)
            tried += 1
            if stats["passes"] and stats["method"] == "resample":
                frames.append(frame)
                source.append(int(i))
                kept += 1
        counts[site] = {"made": kept, "tried": tried, "own_normal": own}
    return frames, np.asarray(source, dtype=int), counts
