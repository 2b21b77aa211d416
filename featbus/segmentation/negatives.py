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

__all__ = ["lesion_free_boxes", "lesion_free_crops", "paint_calipers"]


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
    # summed-area table: the lesion pixels inside any box in O(1)
    table = np.zeros((h + 1, w + 1), np.int64)
    table[1:, 1:] = np.cumsum(np.cumsum(forbidden, axis=0), axis=1)
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
        if table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0] == 0:
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
