"""Synthetic breast-ultrasound-like phantoms with lesion masks."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from sklearn.utils import Bunch, check_random_state

from ._common import _bunch

PHANTOM_CLASSES = ("benign", "malignant", "normal")


def _class_counts(n_samples: int, weights) -> np.ndarray:
    k = len(PHANTOM_CLASSES)
    w = np.ones(k) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.size == k - 1:  # like make_classification: the last class takes the rest
        w = np.append(w, 1.0 - w.sum())
    if w.size != k or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(
            f"weights must be {k} non-negative proportions for {list(PHANTOM_CLASSES)} "
            f"(or {k - 1}, the last class taking the rest), got {weights!r}")
    w = w / w.sum()
    # largest-remainder rounding: counts sum to n_samples exactly and follow the proportions
    raw = w * n_samples
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: n_samples - counts.sum()]] += 1
    return counts


def _speckle(rng: np.random.RandomState, shape: tuple[int, int]) -> np.ndarray:
    """Fully developed speckle: magnitude of a smoothed complex Gaussian field (Rayleigh
    distributed, spatially correlated like a real point-spread function), mean 1."""
    amp = np.hypot(*(ndi.gaussian_filter(rng.standard_normal(shape), (0.7, 1.4)) for _ in "ri"))  # PSF wider laterally
    return amp / amp.mean()


def _background(rng: np.random.RandomState, h: int, w: int) -> np.ndarray:
    """Layered breast tissue: bright skin line, dark subcutaneous fat, bright fibroglandular
    layer, darker deep tissue, with wavy boundaries and depth attenuation."""
    rows = np.arange(h)[:, None] / h
    cols = np.arange(w)[None, :] / w

    def boundary(depth, amp):
        phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 3.0)
        return depth + amp * np.sin(2 * np.pi * freq * cols + phase)

    skin = boundary(rng.uniform(0.03, 0.07), 0.005)
    fat = boundary(rng.uniform(0.18, 0.32), 0.04)
    gland = boundary(rng.uniform(0.60, 0.80), 0.05)
    levels = rng.uniform([0.75, 0.30, 0.55, 0.30], [0.95, 0.45, 0.75, 0.45])
    tissue = np.select([rows < skin, rows < fat, rows < gland], levels[:3], levels[3])
    tissue = ndi.gaussian_filter(tissue, 1.5)
    # a few fat lobules (hypoechoic, unmasked) so that "dark blob" alone does not mean lesion
    for _ in range(rng.randint(0, 3)):
        cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0, 1) * w
        ry, rx = rng.uniform(0.03, 0.07) * h, rng.uniform(0.08, 0.15) * w
        blob = ((np.arange(h)[:, None] - cy) / ry) ** 2 + ((np.arange(w)[None, :] - cx) / rx) ** 2
        tissue = tissue * (1 - 0.3 * np.exp(-blob))
    return tissue * np.exp(-rng.uniform(0.2, 0.8) * rows)  # depth attenuation


def _lesion(rng: np.random.RandomState, h: int, w: int, malignant: bool):
    """The mask of one lesion drawn in polar coordinates r <= R(theta), and its centre's row."""
    size = rng.uniform(0.08, 0.20) * min(h, w)  # mean radius in pixels
    # height / width: malignant mostly taller than wide, benign wider than tall (parallel to the skin)
    aspect = rng.uniform(0.8, 1.5) if malignant else rng.uniform(0.5, 1.0)
    ry, rx = size * np.sqrt(aspect), size / np.sqrt(aspect)
    cy, cx = rng.uniform(0.30, 0.60) * h, rng.uniform(0.30, 0.70) * w
    dy, dx = np.arange(h)[:, None] - cy, np.arange(w)[None, :] - cx
    theta = np.arctan2(dy / ry, dx / rx)
    r = np.hypot(dy / ry, dx / rx)  # 1 on the ellipse
    radius = np.ones_like(theta)
    # gentle smooth wobble for every lesion
    for k in (2, 3):
        radius += rng.uniform(0, 0.05) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    if malignant:
        # microlobulation: higher harmonics
        for k in rng.choice(np.arange(5, 10), size=2, replace=False):
            radius += rng.uniform(0.04, 0.12) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        # spiculation: narrow spikes at random angles
        for _ in range(rng.randint(3, 9)):
            ang = rng.uniform(-np.pi, np.pi)
            d = np.angle(np.exp(1j * (theta - ang)))
            radius += rng.uniform(0.2, 0.6) * np.exp(-(d / rng.uniform(0.04, 0.09)) ** 2)
    return r <= radius, cy


def _phantom(seed: int, h: int, w: int, label: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    img = _background(rng, h, w)
    mask = np.zeros((h, w), bool)
    if label in (0, 1):
        malignant = label == 1
        mask, cy = _lesion(rng, h, w, malignant)
        # circumscribed (sharp) margin for benign, indistinct for malignant
        soft = ndi.gaussian_filter(mask.astype(float), 0.6 if not malignant else 1.6)
        contrast = rng.uniform(0.15, 0.55)  # hypoechoic: the lesion keeps this fraction of echo
        inside = contrast * (1 + 0.15 * ndi.gaussian_filter(rng.standard_normal((h, w)), 2))
        img = img * (1 - soft) + img * inside * soft
        # posterior acoustic feature below the lesion, across its width, fading with depth
        cols = ndi.gaussian_filter1d(mask.any(axis=0).astype(float), 1.0 if malignant else 2.0)
        bottom = np.max(np.nonzero(mask.any(axis=1))[0]) if mask.any() else int(cy)
        depth = np.clip((np.arange(h) - bottom) / h, 0, None)[:, None]
        below = (np.arange(h) > bottom)[:, None] * np.exp(-depth * rng.uniform(1, 4))
        # a shadow (malignant), or maybe an enhancement (benign)
        strength = -rng.uniform(0.25, 0.6) if malignant else rng.uniform(0.0, 0.4) if rng.rand() < 0.7 else 0.0
        img = img * (1 + strength * below * cols[None, :])
    img = img * _speckle(rng, (h, w))
    img = img * rng.uniform(0.8, 1.2)  # gain
    return np.clip(np.rint(img * 200), 0, 255).astype(np.uint8), mask


def make_phantoms(n_samples: int = 60, *, image_size: int | tuple[int, int] = 128,
                  weights: Sequence[float] | None = None, random_state=None) -> Bunch:
    """Synthetic breast-ultrasound-like images with lesion masks, for tests and examples.

    Each image is layered tissue (skin line, subcutaneous fat, fibroglandular layer, deep
    tissue, with depth attenuation and a few unmasked fat lobules) times fully developed speckle
    (Rayleigh amplitude of a correlated complex Gaussian field). Classes follow the BI-RADS
    ultrasound descriptors:

    * ``benign``: a smooth oval, wider than tall (parallel to the skin), circumscribed (sharp)
      margin, sometimes posterior acoustic enhancement;
    * ``malignant``: an irregular lesion with a microlobulated and spiculated, indistinct
      margin, mostly taller than wide, with a posterior acoustic shadow;
    * ``normal``: no lesion; its mask is all ``False``.

    Lesions are hypoechoic; their size, position, contrast and shape vary with overlapping
    ranges, so the task is learnable but not trivial.

    Parameters
    ----------
    n_samples : int, default=60
        Number of images.
    image_size : int or (int, int), default=128
        Side of square images, or ``(height, width)``; at least 16.
    weights : sequence of float, optional
        Class proportions for ``("benign", "malignant", "normal")`` (3 values, or 2 with the
        last class taking the rest). Counts are rounded so they sum to ``n_samples``.
        Default: balanced.
    random_state : int, RandomState or None
        Seed; the same seed gives the same images.

    Returns
    -------
    data : Bunch
        ``images`` (list of ``uint8`` arrays), ``masks`` (list of ``bool`` arrays), ``target``,
        ``target_names`` (``["benign", "malignant", "normal"]``), ``paths`` (names
        ``"phantom-0000"``, ``"phantom-0001"``, ...: there is no file, but every record gets a
        distinct non-empty name for error messages), ``groups`` (``arange(n_samples)``: every
        phantom is independent), ``data`` (:class:`featbus.ImageRecord` list, with
        ``meta={"label": name}``) and ``DESCR``.

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> ph = make_phantoms(6, image_size=64, random_state=0)
    >>> len(ph.images), ph.images[0].shape, ph.images[0].dtype
    (6, (64, 64), dtype('uint8'))
    >>> ph.target_names.tolist()
    ['benign', 'malignant', 'normal']
    >>> sorted(ph.target.tolist())
    [0, 0, 1, 1, 2, 2]
    >>> bool(ph.masks[list(ph.target).index(2)].any())  # normal: empty mask
    False
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        h = w = int(image_size)
    else:
        try:
            h, w = (int(s) for s in image_size)
        except (TypeError, ValueError):
            raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}") from None
    if min(h, w) < 16:
        raise ValueError(f"image_size must be at least 16 pixels per side, got {(h, w)}")
    counts = _class_counts(int(n_samples), weights)
    rs = check_random_state(random_state)
    target = np.repeat(np.arange(len(PHANTOM_CLASSES)), counts)
    rs.shuffle(target)
    seeds = rs.randint(0, 2**31 - 1, size=len(target))
    images, masks = zip(*(_phantom(int(seed), h, w, int(label)) for seed, label in zip(seeds, target)))
    paths = [f"phantom-{i:04d}" for i in range(len(target))]
    metas = [{"label": PHANTOM_CLASSES[t]} for t in target]
    descr = (f"featbus synthetic ultrasound phantoms: {len(target)} images of {h}x{w} pixels, "
             f"classes {dict(zip(PHANTOM_CLASSES, counts.tolist()))}.")
    return _bunch(images, masks, target, PHANTOM_CLASSES, paths, np.arange(len(target)), metas, descr)
