"""Image augmentation, with or without masks: the one augmentation module of featbus's networks.

* :class:`ImageAugmenter` / :func:`augment_image` (and ``ImageAugmenter.augment01``, what
  :class:`~featbus.FineTunedCNN` draws every epoch): images, with their masks when they have one;
* :func:`augment_pair`: an image and its mask warped together, what
  :class:`~featbus.UNetSegmenter` trains on (formerly ``featbus.networks.augmentation``,
  which still imports for one release with a ``DeprecationWarning``).

:class:`ImageAugmenter` is an imbalanced-learn-style sampler: it acts only in ``fit`` (through
``fit_resample``), so inside an :class:`imblearn.pipeline.Pipeline` the augmented copies are
made from the training fold only and never reach a validation fold, a test fold or
``predict``. :func:`augment_image` is the function twin for one image (and its mask).

What one augmented copy is
--------------------------
One affine warp (a single interpolation, so the image is not blurred twice) combining, each
drawn independently and uniformly:

* a horizontal flip with probability 0.5 (``horizontal_flip``); a vertical flip only if
  ``vertical_flip`` (off by default: an ultrasound probe is always at the top of the image);
* a rotation by up to ``rotation`` degrees, a shear by up to ``shear`` degrees, a zoom by a
  factor in ``zoom`` and a shift by up to ``shift`` of each side, about the image centre;
  pixels that come from outside the image are filled per ``fill_mode``: ``"constant"``
  (``fill_value``, default 0: black, the ultrasound background), ``"nearest"`` (the edge pixel
  repeated: ``aaaa|abcd|dddd``), ``"reflect"`` (``dcba|abcd|dcba``, Keras' and SciPy's
  ``"reflect"``), ``"mirror"`` (``dcb|abcd|cba``) or ``"wrap"`` (``abcd|abcd|abcd``), the
  modes of Keras' ``ImageDataGenerator`` and ``scipy.ndimage``;

then, on intensities in ``[0, 1]``, in this order:

1. a brightness offset ``x + b`` with ``b`` up to ``brightness`` (additive);
2. opt-in, a brightness factor ``x * f`` with ``f`` uniform in ``brightness_range`` (multiplicative,
   Keras' ``ImageDataGenerator(brightness_range=(1, 1.4))``; an ultrasound scanner's overall gain);
3. a contrast factor around the mean (in ``contrast``);
4. a gamma (in ``gamma``, drawn log-uniformly);
5. opt-in, depth-dependent gain (``tgc``, time-gain compensation): every row multiplied by a
   smooth curve of depth through four factors drawn in ``[1 - tgc, 1 + tgc]`` at the top,
   1/3, 2/3 and bottom of the image (cosine-interpolated between them), as a sonographer's TGC
   sliders shape it;
6. opt-in, resolution loss (``resolution``): the image shrunk by a factor drawn in
   ``[1 - resolution, 1]`` (area averaging) and brought back to its size (bilinear), as a
   coarser probe or a lower-resolution export;
7. opt-in, a Gaussian blur of standard deviation drawn in ``[0, blur]`` pixels;
8. multiplicative speckle noise ``x * (1 + s * n)`` with ``n`` standard normal and ``s`` up to
   ``speckle``;
9. opt-in, burnt-in marks (``marks``): up to that many small bright crosses (caliper marks) and
   one- to three-character labels drawn at random positions, as scanners burn them in. With a
   mask, a mark whose footprint would touch the lesion is drawn elsewhere (or dropped after 20
   tries): the lesion's pixels are never covered.

The result is clipped to ``[0, 1]`` and returned in the input's dtype (integers rounded). A
lesion mask is warped with the same matrix (nearest neighbour, outside pixels filled by the same
mode, 0 for ``"constant"``), never with the intensity changes. Every opt-in step draws nothing
when it is off, so the presets that do not use it give the same images as before it existed.

Acquisition shift
-----------------
Steps 2 and 5-9 are what changes between ultrasound scanners, settings and hospitals (gain, TGC,
probe resolution, speckle, burnt-in text and calipers): the ``"scanner-shift"`` preset turns them
all on over the ``"ultrasound"`` geometry, for a model meant to work on other scanners.
:func:`augment_pair` (the U-Net's) takes the same steps through ``acquisition=``.

Augmented copies are new pixel arrays: the extraction engine (:mod:`featbus.compute.extraction`) keys
rows by pixel content, so a copy never reuses an original's features (and two equal copies
share one row, which is exact).

References
----------
Shorten, C. & Khoshgoftaar, T. M. (2019). A survey on image data augmentation for deep
learning. *Journal of Big Data*, 6, 60. https://doi.org/10.1186/s40537-019-0197-0

Examples
--------
>>> import numpy as np
>>> from featbus.networks.augmentation import ImageAugmenter
>>> X = [np.full((32, 40), 100, np.uint8), np.full((32, 40), 200, np.uint8)]
>>> X_res, y_res = ImageAugmenter(n_copies=2, random_state=0).fit_resample(X, [0, 1])
>>> len(X_res), y_res.tolist()
(6, [0, 1, 0, 1, 0, 1])
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .._compat import Interval, StrOptions, validate_parameters
from .._records import ImageInputTags, ImageRecord, check_images, to_float
from ..io import load_item

__all__ = ["ImageAugmenter", "augment_image", "augment_pair", "AUGMENT_PRESETS", "ACQUISITION_PARAMS",
           "FILL_MODES", "draw_marks", "tgc_curve"]

#: Named settings of :class:`ImageAugmenter` (``FineTunedCNN(augment=...)`` takes these names).
AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    # ultrasound: no vertical flip (the probe is at the top), mild geometry, speckle
    "ultrasound": dict(horizontal_flip=True, vertical_flip=False, rotation=10.0, shift=0.05,
                       zoom=(0.9, 1.1), shear=5.0, brightness=0.08, contrast=(0.85, 1.15),
                       gamma=(0.8, 1.25), speckle=0.05),
    # mammograms: either breast side and orientation occur, so both flips
    "mammography": dict(horizontal_flip=True, vertical_flip=True, rotation=10.0, shift=0.05,
                        zoom=(0.9, 1.1), shear=5.0, brightness=0.05, contrast=(0.9, 1.1),
                        gamma=(0.85, 1.2), speckle=0.0),
    # flips only
    "flip": dict(horizontal_flip=True, vertical_flip=False, rotation=0.0, shift=0.0, zoom=(1.0, 1.0),
                 shear=0.0, brightness=0.0, contrast=(1.0, 1.0), gamma=(1.0, 1.0), speckle=0.0),
    # acquisition shift (another scanner, its settings, its burnt-in text): the ultrasound
    # geometry with overall and depth-dependent gain, wider contrast and gamma, resolution loss,
    # blur, stronger speckle and caliper marks / labels. Ranges chosen to cover what separates
    # BUSI from BUS-BRA's scanners by eye; not yet measured against "ultrasound" (issue 42)
    "scanner-shift": dict(horizontal_flip=True, vertical_flip=False, rotation=10.0, shift=0.05,
                          zoom=(0.9, 1.1), shear=5.0, brightness=0.05, contrast=(0.75, 1.3),
                          gamma=(0.7, 1.4), speckle=0.1, brightness_range=(0.7, 1.3), tgc=0.3,
                          resolution=0.5, blur=1.0, marks=4),
}

#: Parameters added after the first presets, with the values that turn them off (a preset or a
#: call that does not name them gets these, and so the images it always gave).
_OPT_IN: dict[str, Any] = dict(brightness_range=None, fill_mode="constant", fill_value=0.0, tgc=0.0,
                               resolution=0.0, blur=0.0, marks=0)
#: ``fill_mode`` -> OpenCV border mode.
FILL_MODES = {"constant": 0, "nearest": 1, "reflect": 2, "wrap": 3, "mirror": 4}
#: The intensity steps of acquisition shift that :func:`augment_pair` can add (``acquisition=``).
ACQUISITION_PARAMS = ("brightness_range", "tgc", "resolution", "blur", "speckle", "marks")


def _check_range(name: str, value, low: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair, got {value!r}") from None
    if not (low < a <= b) or not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"{name} must be a pair low <= high with low > {low:g}, got {value!r}")
    return a, b


def _affine(rng: np.random.Generator, shape: tuple[int, int], p: dict) -> np.ndarray:
    """The 2x3 matrix (output -> input pixel coordinates are inverted by cv2) of one draw:
    ``zoom * rotation @ shear @ flips`` about the image centre, then the shift (written out on
    floats: a few microseconds instead of NumPy's small-matrix overhead)."""
    h, w = shape
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    fx = -1.0 if p["horizontal_flip"] and rng.random() < 0.5 else 1.0
    fy = -1.0 if p["vertical_flip"] and rng.random() < 0.5 else 1.0
    angle = math.radians(rng.uniform(-p["rotation"], p["rotation"])) if p["rotation"] else 0.0
    shear = math.radians(rng.uniform(-p["shear"], p["shear"])) if p["shear"] else 0.0
    z0, z1 = p["zoom"]
    zoom = rng.uniform(z0, z1) if z1 > z0 else z0
    tx = rng.uniform(-p["shift"], p["shift"]) * w if p["shift"] else 0.0
    ty = rng.uniform(-p["shift"], p["shift"]) * h if p["shift"] else 0.0
    c, s, t = math.cos(angle), math.sin(angle), math.tan(shear)
    a, b = zoom * c * fx, zoom * (c * t - s) * fy  # zoom * [[c, -s], [s, c]] @ [[1, t], [0, 1]] @ diag(fx, fy)
    d, e = zoom * s * fx, zoom * (s * t + c) * fy
    return np.array([[a, b, cx + tx - (a * cx + b * cy)], [d, e, cy + ty - (d * cx + e * cy)]], np.float64)


def _near_identity(m: np.ndarray) -> bool:
    """Whether a 2x3 warp leaves the image as it is (``np.allclose`` to the identity, on six floats)."""
    return all(abs(float(v) - i) <= 1e-8 + 1e-5 * abs(i) for v, i in zip(m.ravel().tolist(), (1, 0, 0, 0, 1, 0)))


def _standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal float32 draws by the Box-Muller transform of float32 uniforms.

    The same distribution as ``rng.standard_normal(shape, dtype=np.float32)`` (cut at
    ``|z| < 5.77``, where ``1 - u`` reaches its smallest float32 value, ``2**-24``: a share of
    1e-8 of draws), about 1.6 times faster on one core (vectorised logarithm, square root, sine
    and cosine): the speckle noise is most of an augmented image's cost.
    """
    n = math.prod(shape)
    half = (n + 1) // 2
    u = rng.random(2 * half, dtype=np.float32)
    radius, angle = u[:half], u[half:]
    np.subtract(np.float32(1.0), radius, out=radius)  # (0, 1]: the logarithm is finite
    np.log(radius, out=radius)
    radius *= np.float32(-2.0)
    np.sqrt(radius, out=radius)
    angle *= np.float32(2.0 * math.pi)
    out = np.empty(2 * half, np.float32)
    np.cos(angle, out=out[:half])
    np.sin(angle, out=out[half:])
    out[:half] *= radius
    out[half:] *= radius
    return out[:n].reshape(shape)


def _augment01(image: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator,
               p: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """One augmented copy of a float32 image in [0, 1] (and its mask). The intensity steps work in
    place on the warped copy (no temporary image per step)."""
    import cv2

    h, w = image.shape
    m = _affine(rng, (h, w), p)
    if not _near_identity(m):
        border = FILL_MODES[p.get("fill_mode", "constant")]
        image = cv2.warpAffine(np.ascontiguousarray(image, np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=border, borderValue=float(p.get("fill_value", 0.0)))
        if mask is not None:
            mask = cv2.warpAffine(np.asarray(mask, np.uint8), m, (w, h), flags=cv2.INTER_NEAREST,
                                  borderMode=border, borderValue=0).astype(bool)
    else:
        image = np.array(image, np.float32)
        mask = None if mask is None else np.array(mask, bool)
    # ``image`` is this copy's own float32 array from here on
    if p["brightness"]:
        image += np.float32(rng.uniform(-p["brightness"], p["brightness"]))
    if p.get("brightness_range") is not None:
        image *= np.float32(rng.uniform(*p["brightness_range"]))
    c0, c1 = p["contrast"]
    if c1 > c0 or c0 != 1.0:
        mean = np.float32(image.mean())
        image -= mean
        image *= np.float32(rng.uniform(c0, c1))
        image += mean
    g0, g1 = p["gamma"]
    if g1 > g0 or g0 != 1.0:
        gamma = math.exp(rng.uniform(math.log(g0), math.log(g1)))
        np.clip(image, 0.0, 1.0, out=image)
        np.power(image, np.float32(gamma), out=image)
    image = _acquisition(image, mask, rng, p)
    return np.clip(image, 0.0, 1.0, out=image), mask


def _acquisition(image: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator, p: dict) -> np.ndarray:
    """Steps 5-9 of the module's list (TGC, resolution, blur, speckle, marks) on a float32
    image; each draws from ``rng`` only when it is on."""
    import cv2

    h, w = image.shape
    if p.get("tgc"):
        image = image * tgc_curve(h, rng.uniform(1.0 - p["tgc"], 1.0 + p["tgc"], size=4))[:, None]
    if p.get("resolution"):
        f = rng.uniform(1.0 - p["resolution"], 1.0)
        small = (max(1, int(round(w * f))), max(1, int(round(h * f))))
        if small != (w, h):
            image = cv2.resize(cv2.resize(np.ascontiguousarray(image, np.float32), small, interpolation=cv2.INTER_AREA),
                               (w, h), interpolation=cv2.INTER_LINEAR)
    if p.get("blur"):
        sigma = rng.uniform(0.0, p["blur"])
        if sigma > 0.05:
            image = cv2.GaussianBlur(np.ascontiguousarray(image, np.float32), (0, 0), sigmaX=sigma,
                                     borderType=cv2.BORDER_REFLECT_101)
    if p["speckle"]:
        sigma = rng.uniform(0.0, p["speckle"])
        noise = _standard_normal(rng, image.shape)  # becomes 1 + sigma * n, then the image times it
        noise *= np.float32(sigma)
        noise += np.float32(1.0)
        image = np.multiply(image, noise, out=noise)
    if p.get("marks"):
        image = draw_marks(image, int(rng.integers(1, int(p["marks"]) + 1)), rng, avoid=mask)
    return image.astype(np.float32, copy=False)


def tgc_curve(height: int, factors) -> np.ndarray:
    """A smooth depth-gain curve: ``factors`` (gains at equally spaced depths from the top row
    to the bottom one) joined by cosine interpolation; one factor per row, shape ``(height,)``.

    Examples
    --------
    >>> tgc_curve(5, [1.0, 2.0]).round(3).tolist()
    [1.0, 1.146, 1.5, 1.854, 2.0]
    """
    f = np.asarray(factors, np.float64)
    t = np.linspace(0.0, len(f) - 1.0, int(height))
    i = np.minimum(np.floor(t).astype(int), len(f) - 2) if len(f) > 1 else np.zeros(int(height), int)
    if len(f) == 1:
        return np.full(int(height), f[0], np.float32)
    u = t - i
    s = 0.5 - 0.5 * np.cos(np.pi * u)
    return (f[i] * (1.0 - s) + f[i + 1] * s).astype(np.float32)


_GLYPHS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+.:"


def draw_marks(image: np.ndarray, n: int, rng: np.random.Generator, avoid: np.ndarray | None = None) -> np.ndarray:
    """Burn ``n`` marks into a float ``[0, 1]`` image (a copy): caliper crosses (``+`` or ``x``)
    and short labels (one to three characters), bright (0.8-1.0), sized to the image.

    With ``avoid`` (a boolean mask), a mark whose footprint (its bounding box, one pixel wider)
    touches a ``True`` pixel is tried elsewhere, up to 20 times, then dropped.
    """
    import cv2

    out = np.array(image, np.float32)
    h, w = out.shape
    side = min(h, w)
    for _ in range(int(n)):
        kind = int(rng.integers(0, 3))  # 0: "+", 1: "x", 2: text
        value = float(rng.uniform(0.8, 1.0))
        if kind < 2:
            half = max(1, int(round(side * rng.uniform(0.015, 0.035))))
            bw, bh = 2 * half + 1, 2 * half + 1
        else:
            text = "".join(_GLYPHS[int(k)] for k in rng.integers(0, len(_GLYPHS), size=int(rng.integers(1, 4))))
            scale = max(0.2, side / 400.0) * float(rng.uniform(0.8, 1.2))
            (bw, bh), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            bh += base
        if bw >= w or bh >= h:
            continue
        for _try in range(20):
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            if avoid is None or not avoid[max(0, y0 - 1):y0 + bh + 1, max(0, x0 - 1):x0 + bw + 1].any():
                break
        else:
            continue
        if kind == 0:
            cx, cy = x0 + half, y0 + half
            cv2.line(out, (cx - half, cy), (cx + half, cy), value, 1)
            cv2.line(out, (cx, cy - half), (cx, cy + half), value, 1)
        elif kind == 1:
            cv2.line(out, (x0, y0), (x0 + bw - 1, y0 + bh - 1), value, 1)
            cv2.line(out, (x0, y0 + bh - 1), (x0 + bw - 1, y0), value, 1)
        else:
            ink = np.zeros((h, w), np.uint8)  # OpenCV 5 draws text on 8-bit images only
            cv2.putText(ink, text, (x0, y0 + bh - base), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_8)
            out[ink > 0] = value
    return out


def _from01(image01: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "ui":
        top = np.iinfo(dtype).max
        return np.rint(image01 * top).astype(dtype)
    return image01.astype(dtype if dtype.kind == "f" else np.float32)


def augment_image(image: np.ndarray, mask: np.ndarray | None = None, *, random_state=None,
                  preset: str = "ultrasound", **params) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """One random augmented copy of a gray image (and of its mask), as :class:`ImageAugmenter` makes.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Integer images use their dtype's range; float images must lie in ``[0, 1]``.
    mask : ndarray of bool, optional
        Lesion mask of the same shape, warped with the image (nearest neighbour).
    random_state : int, numpy Generator or None
        The draw.
    preset : str, default="ultrasound"
        Base settings from :data:`AUGMENT_PRESETS`.
    **params
        Overrides of the preset: any parameter of :class:`ImageAugmenter` except ``n_copies``
        and ``random_state`` (``rotation=20``, ``speckle=0`` ...).

    Returns
    -------
    image : ndarray, same shape and dtype
    mask : ndarray of bool (only when ``mask`` is given)

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.networks.augmentation import augment_image
    >>> img = np.tile(np.arange(64, dtype=np.uint8), (48, 1))
    >>> out = augment_image(img, random_state=0)
    >>> out.shape, out.dtype
    ((48, 64), dtype('uint8'))
    >>> bool(np.array_equal(augment_image(img, random_state=0), out))
    True
    """
    if preset not in AUGMENT_PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; choose one of {sorted(AUGMENT_PRESETS)}")
    p = _checked({**AUGMENT_PRESETS[preset], **params})
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"image must be a 2-D gray array, got shape {arr.shape}")
    if mask is not None and np.shape(mask) != arr.shape:
        raise ValueError(f"mask shape {np.shape(mask)} differs from image shape {arr.shape}")
    out, m = _augment01(to_float(arr), mask, rng, p)
    out = _from01(out, arr.dtype)
    return out if mask is None else (out, m)


_PARAMS = ("horizontal_flip", "vertical_flip", "rotation", "shift", "zoom", "shear", "brightness",
           "contrast", "gamma", "speckle", *_OPT_IN)


def _checked(p: dict) -> dict:
    unknown = set(p) - set(_PARAMS)
    if unknown:
        raise TypeError(f"unknown augmentation parameter(s) {sorted(unknown)}; known: {list(_PARAMS)}")
    p = {**_OPT_IN, **p}
    if p["fill_mode"] not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {list(FILL_MODES)}, got {p['fill_mode']!r}")
    if not 0 <= float(p["fill_value"]) <= 1:
        raise ValueError(f"fill_value must be in [0, 1] (the [0, 1] intensity scale), got {p['fill_value']!r}")
    if p["brightness_range"] is not None:
        p["brightness_range"] = _check_range("brightness_range", p["brightness_range"], 0.0)
    for name, top in (("tgc", 0.9), ("resolution", 0.9), ("blur", 10.0)):
        if not 0 <= float(p[name]) <= top:
            raise ValueError(f"{name} must be in [0, {top:g}], got {p[name]!r}")
    if isinstance(p["marks"], bool) or not isinstance(p["marks"], (Integral,)) or not 0 <= p["marks"] <= 50:
        raise ValueError(f"marks must be an integer in [0, 50], got {p['marks']!r}")
    for name in ("rotation", "shear"):
        if not 0 <= float(p[name]) <= 90:
            raise ValueError(f"{name} must be in [0, 90] degrees, got {p[name]!r}")
    for name in ("shift", "brightness", "speckle"):
        if not 0 <= float(p[name]) <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {p[name]!r}")
    p["zoom"] = _check_range("zoom", p["zoom"], 0.0)
    p["contrast"] = _check_range("contrast", p["contrast"], 0.0)
    p["gamma"] = _check_range("gamma", p["gamma"], 0.0)
    return p


class ImageAugmenter(BaseEstimator):
    """Add random augmented copies of the training images: a sampler acting only in ``fit``.

    Use it inside :class:`imblearn.pipeline.Pipeline` (like SMOTE): ``fit`` of the pipeline
    calls :meth:`fit_resample`, which returns the original items followed by ``n_copies``
    augmented copies of each, with their labels; ``predict`` and ``transform`` of the pipeline
    skip this step, so validation and test images are never augmented. It works ahead of any
    featbus feature extractor (frozen CNN features, texture) and of :class:`~featbus.FineTunedCNN`.

    Parameters
    ----------
    n_copies : int, default=1
        Augmented copies per training image.
    horizontal_flip, vertical_flip : bool, default=True, False
        Flip left-right / up-down with probability 0.5.
    rotation : float, default=10
        Largest rotation, degrees.
    shift : float, default=0.05
        Largest shift, as a fraction of the image side.
    zoom : (float, float), default=(0.9, 1.1)
        Range of the zoom factor (> 1 enlarges).
    shear : float, default=5
        Largest shear angle, degrees.
    brightness : float, default=0.08
        Largest brightness offset on the ``[0, 1]`` scale.
    contrast : (float, float), default=(0.85, 1.15)
        Range of the contrast factor (around the image mean).
    gamma : (float, float), default=(0.8, 1.25)
        Range of the gamma (drawn log-uniformly).
    speckle : float, default=0.05
        Largest standard deviation of multiplicative speckle noise.
    brightness_range : (float, float) or None, default=None
        Range of a multiplicative brightness factor (an overall gain), as Keras'
        ``ImageDataGenerator(brightness_range=(1, 1.4))``; applied after the additive
        ``brightness`` (set ``brightness=0`` for the multiplicative one only). ``None``: off.
    fill_mode : {"constant", "nearest", "reflect", "mirror", "wrap"}, default="constant"
        How pixels that the warp brings in from outside the image are filled (see the module
        docstring); the mask is filled alike (with 0 for ``"constant"``).
    fill_value : float, default=0
        Their value with ``fill_mode="constant"``, on the ``[0, 1]`` scale.
    tgc : float, default=0
        Depth-dependent gain (time-gain compensation): row factors on a smooth curve through
        four draws in ``[1 - tgc, 1 + tgc]``; at most 0.9. 0: off.
    resolution : float, default=0
        Resolution loss: shrink by a factor in ``[1 - resolution, 1]`` and enlarge back; at
        most 0.9. 0: off.
    blur : float, default=0
        Largest standard deviation of a Gaussian blur, in pixels (of the image augmented:
        :class:`~featbus.FineTunedCNN` augments at the network's input size). 0: off.
    marks : int, default=0
        Largest number of burnt-in marks (caliper crosses, short labels) per copy, at least
        one when on; never over a mask's lesion (:func:`draw_marks`). 0: off.
    random_state : int or None, default=None
        Seed: copy ``k`` of item ``i`` is drawn from ``(random_state, i, k)``, so the result
        does not depend on threads or on the other items.

    Notes
    -----
    Items come back as given (arrays, paths, records); copies are :class:`~featbus.ImageRecord`
    objects holding new pixels (in the source dtype), the source mask warped alike (if any),
    the source ``path`` (for error messages) and ``meta["augmented"] = k`` (1-based).

    Examples
    --------
    >>> import numpy as np
    >>> from imblearn.pipeline import Pipeline
    >>> from sklearn.svm import SVC
    >>> from featbus import IntensityStats, make_phantoms
    >>> from featbus.networks.augmentation import ImageAugmenter
    >>> data = make_phantoms(12, image_size=48, random_state=0)
    >>> pipe = Pipeline([("aug", ImageAugmenter(n_copies=1, random_state=0)),
    ...                  ("feat", IntensityStats(progress=False)), ("svm", SVC())])
    >>> pipe.fit(data.data, data.target).predict(data.data).shape
    (12,)
    """

    _parameter_constraints = {
        "n_copies": [Interval(Integral, 0, None, closed="left")],
        "horizontal_flip": ["boolean"],
        "vertical_flip": ["boolean"],
        "rotation": [Interval(Real, 0, 90, closed="both")],
        "shift": [Interval(Real, 0, 1, closed="both")],
        "zoom": [tuple, list],
        "shear": [Interval(Real, 0, 90, closed="both")],
        "brightness": [Interval(Real, 0, 1, closed="both")],
        "contrast": [tuple, list],
        "gamma": [tuple, list],
        "speckle": [Interval(Real, 0, 1, closed="both")],
        "brightness_range": [None, tuple, list],
        "fill_mode": [StrOptions(set(FILL_MODES))],
        "fill_value": [Interval(Real, 0, 1, closed="both")],
        "tgc": [Interval(Real, 0, 0.9, closed="both")],
        "resolution": [Interval(Real, 0, 0.9, closed="both")],
        "blur": [Interval(Real, 0, 10, closed="both")],
        "marks": [Interval(Integral, 0, 50, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_copies: int = 1, *, horizontal_flip: bool = True, vertical_flip: bool = False,
                 rotation: float = 10.0, shift: float = 0.05, zoom=(0.9, 1.1), shear: float = 5.0,
                 brightness: float = 0.08, contrast=(0.85, 1.15), gamma=(0.8, 1.25), speckle: float = 0.05,
                 brightness_range=None, fill_mode: str = "constant", fill_value: float = 0.0, tgc: float = 0.0,
                 resolution: float = 0.0, blur: float = 0.0, marks: int = 0, random_state=None):
        self.n_copies = n_copies
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rotation = rotation
        self.shift = shift
        self.zoom = zoom
        self.shear = shear
        self.brightness = brightness
        self.contrast = contrast
        self.gamma = gamma
        self.speckle = speckle
        self.brightness_range = brightness_range
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.tgc = tgc
        self.resolution = resolution
        self.blur = blur
        self.marks = marks
        self.random_state = random_state

    def _settings(self) -> dict:
        validate_parameters(self)
        return _checked({k: getattr(self, k) for k in _PARAMS})

    def _seed(self) -> int:
        if self.random_state is None:
            return int(np.random.SeedSequence().entropy % (2**63))
        if isinstance(self.random_state, (int, np.integer)):
            return int(self.random_state)
        return int(self.random_state.randint(0, 2**31 - 1))  # a RandomState instance

    def augment01(self, image01: np.ndarray, mask=None, *, rng: np.random.Generator):
        """One copy of an image already in float ``[0, 1]`` (used by :class:`~featbus.FineTunedCNN`
        on network-sized images every epoch); returns ``(image, mask)``."""
        return _augment01(image01, mask, rng, self._settings())

    def augment_batch(self, images: np.ndarray, *, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """One copy of each image of a stack on the ``[0, scale]`` scale (what
        :class:`~featbus.FineTunedCNN` draws for a training batch, with ``scale=255``).

        The images are drawn in turn from ``rng``, each as :meth:`augment01` draws it (divided
        by ``scale``, augmented, multiplied back): the same arrays as that loop, with the
        settings checked once per batch instead of once per image (a subclass that draws its
        own way in ``augment01`` is called image by image).

        Parameters
        ----------
        images : ndarray of shape (n, h, w)
            Gray images on the ``[0, scale]`` scale.
        rng : numpy.random.Generator
            The draws, in order of the images.
        scale : float, default=1
            The images' top value.

        Returns
        -------
        ndarray of float32, shape (n, h, w)

        Examples
        --------
        >>> import numpy as np
        >>> from featbus.networks.augmentation import ImageAugmenter
        >>> batch = np.full((3, 32, 32), 100.0, np.float32)
        >>> out = ImageAugmenter().augment_batch(batch, rng=np.random.default_rng(0), scale=255.0)
        >>> out.shape, out.dtype, bool(0 <= out.min() and out.max() <= 255)
        ((3, 32, 32), dtype('float32'), True)
        """
        images = np.asarray(images)
        if images.ndim != 3:
            raise ValueError(f"images must be a stack of gray images (n, h, w), got shape {images.shape}")
        s = np.float32(scale)
        out = np.empty(images.shape, np.float32)
        if type(self).augment01 is not ImageAugmenter.augment01:  # a subclass's own draw, image by image
            for j, image in enumerate(images):
                out[j] = self.augment01(image / s, rng=rng)[0]
        else:
            p = self._settings()
            for j, image in enumerate(images):
                out[j] = _augment01(image / s, None, rng, p)[0]
        out *= s
        return out

    def fit(self, X, y=None):
        """Check parameters and input; returns ``self`` (nothing is learnt)."""
        self._settings()
        check_images(X)
        return self

    def fit_resample(self, X, y, **params):
        """The items of ``X`` followed by ``n_copies`` augmented copies of each.

        Parameters
        ----------
        X : sequence of images, ImageRecord or paths
        y : array-like of shape (n_samples,)

        Returns
        -------
        X_resampled : list
            ``len(X) * (1 + n_copies)`` items: the originals in order, then copy 1 of every
            item, copy 2 of every item...
        y_resampled : ndarray
        """
        p = self._settings()
        items = check_images(X)
        y = np.asarray(y)
        if y.shape[0] != len(items):
            raise ValueError(f"X has {len(items)} images but y has {y.shape[0]} labels")
        seed = self._seed()
        copies: list = []
        for k in range(1, int(self.n_copies) + 1):
            for i, item in enumerate(items):
                rec = load_item(item, i)
                rng = np.random.default_rng([seed, i, k])
                img01, mask = _augment01(to_float(rec.image, index=i, path=rec.path), rec.mask, rng, p)
                copies.append(ImageRecord(_from01(img01, np.asarray(rec.image).dtype), mask=mask,
                                          path=rec.path, meta={**rec.meta, "augmented": k}))
        return list(items) + copies, np.concatenate([y] * (1 + int(self.n_copies)))

    def __sklearn_tags__(self):
        # imbalanced-learn's sampler tags (what its is_sampler and common checks read), with
        # featbus's image input tags: it takes images, not a 2-D array
        from sklearn.utils import TargetTags

        from .._compat import ImblearnTags as Tags
        from .._compat import SamplerTags

        base = super().__sklearn_tags__()
        tags = Tags(estimator_type="sampler", target_tags=TargetTags(required=True), transformer_tags=None,
                    regressor_tags=None, classifier_tags=None, sampler_tags=SamplerTags(),
                    non_deterministic=self.random_state is None)
        tags.input_tags = ImageInputTags(**{k: getattr(base.input_tags, k) for k in ("allow_nan", "pairwise")},
                                         two_d_array=False)
        return tags


# ----------------------------------------------------------------------------- image + mask pairs
def augment_pair(image: np.ndarray, mask: np.ndarray, random_state=None, *, rotation: float = 15.0,
                 shift: float = 0.1, zoom: float = 0.1, flip: bool = True,
                 brightness: float = 0.2, gamma: float = 0.2,
                 border: str = "reflect", acquisition=None) -> tuple[np.ndarray, np.ndarray]:
    """Randomly rotate, shift, zoom, flip, brighten and re-contrast an image and its mask together
    (what :class:`~featbus.UNetSegmenter` trains on; formerly
    ``featbus.networks.augmentation.augment_pair``).

    The default ranges are those of common breast-ultrasound U-Net papers: rotation in
    ``[-15, 15]`` degrees, shift up to 10 % of the side, zoom in ``[0.9, 1.1]``, horizontal flip
    with probability 0.5, brightness factor in ``[0.8, 1.2]``, and a gamma (contrast) change
    ``image ** g`` with ``log g`` uniform in ``[log 0.8, log 1.2]``, since scanners and gain settings
    differ mostly in contrast. Pixels moved in from outside the frame mirror the image (and the
    mask) at its edge by default; filling them with 0 instead (``border="constant"``) teaches the
    network that dark regions touching the frame are outside the image, which is wrong for the
    dark lesions that reach an edge. Vertical flips are not used: depth has a direction.
    (This ``"reflect"`` does not repeat the edge pixel, ``dcb|abcd|cba``: what
    :class:`ImageAugmenter` calls ``fill_mode="mirror"``.)

    With ``acquisition``, the acquisition-shift steps of :class:`ImageAugmenter` (overall gain,
    TGC, resolution loss, blur, speckle, burnt-in marks: :data:`ACQUISITION_PARAMS`) follow, on
    the image only: the mask never changes with them, and marks are never drawn over the lesion.

    Parameters
    ----------
    image : ndarray of shape (h, w), float in [0, 1]
    mask : ndarray of shape (h, w)
        Values in ``[0, 1]``; returned as ``float32`` 0/1.
    random_state : int, RandomState or None
    rotation, shift, zoom, brightness, gamma : float
        Ranges as above; 0 turns one off.
    flip : bool
        Random horizontal flips.
    border : {"reflect", "constant"}
        How pixels moved in from outside are filled: mirrored, or 0.
    acquisition : str, dict or None, default=None
        A preset of :data:`AUGMENT_PRESETS` whose acquisition-shift settings are used (e.g.
        ``"scanner-shift"``), or a dict of some of :data:`ACQUISITION_PARAMS` (the others off).
        Drawn from ``random_state`` after the warp (one extra draw, only when set). ``None``: none.

    Returns
    -------
    image, mask : ndarray of float32, same shape

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.RandomState(0).rand(32, 32).astype("float32")
    >>> m = np.zeros((32, 32), "float32"); m[8:24, 8:24] = 1
    >>> a, b = augment_pair(img, m, 0)
    >>> a.shape, b.shape, set(np.unique(b)) <= {0.0, 1.0}
    ((32, 32), (32, 32), True)
    """
    import cv2
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    h, w = image.shape
    angle = rng.uniform(-rotation, rotation)
    scale = rng.uniform(1 - zoom, 1 + zoom)
    tx, ty = rng.uniform(-shift, shift) * w, rng.uniform(-shift, shift) * h
    mat = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    mat[:, 2] += (tx, ty)
    if border not in ("reflect", "constant"):
        raise ValueError(f"border must be 'reflect' or 'constant', got {border!r}")
    flags = dict(borderMode=cv2.BORDER_REFLECT_101 if border == "reflect" else cv2.BORDER_CONSTANT, borderValue=0)
    out = cv2.warpAffine(np.ascontiguousarray(image, np.float32), mat, (w, h), flags=cv2.INTER_LINEAR, **flags)
    m = cv2.warpAffine(np.ascontiguousarray(mask, np.float32), mat, (w, h), flags=cv2.INTER_LINEAR, **flags)
    m = (m > 0.5).astype(np.float32)
    if flip and rng.rand() < 0.5:
        out, m = out[:, ::-1], m[:, ::-1]
    out = np.clip(out * rng.uniform(1 - brightness, 1 + brightness), 0.0, 1.0)
    if gamma:
        out = out ** np.exp(rng.uniform(np.log(1 - gamma), np.log(1 + gamma)))
    if acquisition is not None:
        q = _acquisition_params(acquisition)
        gen = np.random.default_rng(int(rng.randint(0, 2**31 - 1)))
        out = np.asarray(out, np.float32)
        if q["brightness_range"] is not None:
            out = out * np.float32(gen.uniform(*q["brightness_range"]))
        out = np.clip(_acquisition(out, m > 0.5, gen, q), 0.0, 1.0)
    return np.ascontiguousarray(out, np.float32), np.ascontiguousarray(m, np.float32)


def _acquisition_params(acquisition) -> dict:
    """``augment_pair``'s ``acquisition`` as checked settings (the other steps off)."""
    if isinstance(acquisition, str):
        if acquisition not in AUGMENT_PRESETS:
            raise ValueError(f"unknown augmentation preset {acquisition!r}; choose one of {sorted(AUGMENT_PRESETS)}")
        acquisition = {k: v for k, v in AUGMENT_PRESETS[acquisition].items() if k in ACQUISITION_PARAMS}
    if not isinstance(acquisition, dict):
        raise TypeError(f"acquisition must be a preset name, a dict or None, got {type(acquisition).__name__}")
    unknown = set(acquisition) - set(ACQUISITION_PARAMS)
    if unknown:
        raise TypeError(f"acquisition: unknown parameter(s) {sorted(unknown)}; known: {list(ACQUISITION_PARAMS)}")
    off = dict(AUGMENT_PRESETS["flip"], horizontal_flip=False)
    return _checked({**off, **acquisition})


def resize_to(a: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """Resize an array to ``size`` = (height, width) with OpenCV (which takes (width, height)).

    Unlike :func:`featbus.preprocessing.intensity.resize` it keeps no dtype rule of its own: the
    networks resize float images and masks with it, by the interpolation they choose.

    Parameters
    ----------
    a : ndarray of shape (h, w)
        The image or mask.
    size : (int, int)
        The height and width wanted.
    interpolation : int
        An OpenCV flag (``cv2.INTER_AREA``, ``cv2.INTER_LINEAR``, ...).

    Returns
    -------
    ndarray of shape size

    Examples
    --------
    >>> import cv2
    >>> import numpy as np
    >>> from featbus.networks.augmentation import resize_to
    >>> resize_to(np.ones((4, 6), np.float32), (2, 3), cv2.INTER_AREA).shape
    (2, 3)
    """
    import cv2

    return cv2.resize(np.ascontiguousarray(a), (int(size[1]), int(size[0])), interpolation=interpolation)
