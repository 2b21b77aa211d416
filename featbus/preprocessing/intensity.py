"""Image -> image steps: resizing, contrast equalisation (CLAHE, global histogram equalisation),
speckle denoising, normalisation, adaptive thresholding.

Each step is a plain function for one image and a stateless transformer
(:class:`~featbus._base.BaseImagePreprocessor`) that maps it over a batch, carrying masks
along (resized with nearest-neighbour interpolation where the geometry changes). All steps
keep the image's dtype except :class:`Normalize`, which returns ``float32`` in ``[0, 1]``.
"""

from __future__ import annotations

from numbers import Integral, Real

import cv2
import numpy as np
from scipy import ndimage

from .._base import N_JOBS, BaseImagePreprocessor
from .._compat import Interval, Options, StrOptions, validate_params
from ..io import INTERPOLATIONS, resize_to

__all__ = ["resize", "Resize", "clahe", "CLAHE", "speckle_denoise", "SpeckleDenoise",
           "normalize", "Normalize", "equalize_hist", "HistogramEqualizer", "adaptive_threshold",
           "AdaptiveThreshold"]



def _size_pair(size) -> tuple[int, int]:
    pair = (size, size) if np.isscalar(size) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in pair):
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    return int(pair[0]), int(pair[1])


_SIZE = [Interval(Integral, 1, None, closed="left"), tuple, list]
_RESIZE_PARAMS = {"size": _SIZE, "keep_aspect": [Options(bool, {False}), StrOptions({"pad", "crop"})],
                  "interpolation": [StrOptions(set(INTERPOLATIONS))]}


def _geometry(shape, size, keep_aspect):
    """Scaled size (h, w) and the (top, left) offset of the output window in it (negative: pad)."""
    h, w = shape
    H, W = size
    if keep_aspect is False:
        return (H, W), (0, 0)
    scale = (min if keep_aspect == "pad" else max)(H / h, W / w)
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    return (sh, sw), ((sh - H) // 2, (sw - W) // 2)


def _place(scaled: np.ndarray, size, offset) -> np.ndarray:
    """Center ``scaled`` in a zero canvas of ``size`` ("pad") or cut the window ("crop")."""
    H, W = size
    top, left = offset
    if (top, left) == (0, 0) and scaled.shape == (H, W):
        return scaled
    out = np.zeros((H, W), dtype=scaled.dtype)
    r0, c0 = max(0, -top), max(0, -left)  # position in the output
    sr, sc = max(0, top), max(0, left)  # position in the scaled image
    nh, nw = min(H - r0, scaled.shape[0] - sr), min(W - c0, scaled.shape[1] - sc)
    out[r0:r0 + nh, c0:c0 + nw] = scaled[sr:sr + nh, sc:sc + nw]
    return out


@validate_params({"image": ["array-like"], **_RESIZE_PARAMS}, prefer_skip_nested_validation=True)
def resize(image: np.ndarray, size=(224, 224), *, keep_aspect=False, interpolation: str = "area") -> np.ndarray:
    """Resize one image to ``size`` = ``(height, width)``, keeping its dtype.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    size : (int, int), default=(224, 224)
        Output ``(height, width)``.
    keep_aspect : {False, "pad", "crop"}, default=False
        ``False`` stretches; ``"pad"`` scales the whole image to fit inside ``size`` and pads
        the borders with 0 (centred); ``"crop"`` scales it to cover ``size`` and cuts the
        centre.
    interpolation : {"area", "linear", "cubic", "nearest", "lanczos"}, default="area"
        OpenCV interpolation. Area averaging is the right choice for shrinking (no aliasing);
        masks always use "nearest" (see :class:`Resize`).

    Returns
    -------
    resized : ndarray of shape size, same dtype

    Examples
    --------
    >>> import numpy as np
    >>> img = np.ones((100, 50), np.uint8)
    >>> resize(img, (64, 64)).shape, resize(img, (64, 64), keep_aspect="pad")[:, 0].max()
    ((64, 64), np.uint8(0))
    """
    size = _size_pair(size)
    image = np.asarray(image)
    hw, offset = _geometry(image.shape[:2], size, keep_aspect)
    return _place(resize_to(image, hw, interpolation), size, offset)


class Resize(BaseImagePreprocessor):
    """Resize images to one size; masks travel along (nearest-neighbour, so they stay binary).

    Parameters
    ----------
    size : (int, int), default=(224, 224)
        ``(height, width)``.
    keep_aspect : {False, "pad", "crop"}, default=False
        See :func:`resize`.
    interpolation : {"area", "linear", "cubic", "nearest", "lanczos"}, default="area"
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> out = Resize(size=(32, 48)).fit_transform([np.zeros((100, 80), np.uint16)])
    >>> out[0].shape, out[0].dtype
    ((32, 48), dtype('uint16'))
    """

    _changes_geometry = True

    _parameter_constraints = {**_RESIZE_PARAMS, "n_jobs": N_JOBS}

    def __init__(self, size=(224, 224), *, keep_aspect=False, interpolation="area", n_jobs=None):
        self.size = size
        self.keep_aspect = keep_aspect
        self.interpolation = interpolation
        self.n_jobs = n_jobs

    def _check_rules(self):
        _size_pair(self.size)

    def _process(self, image, index, path):
        return resize(image, self.size, keep_aspect=self.keep_aspect, interpolation=self.interpolation)

    def _process_mask(self, mask, image_shape):
        out = resize(mask.astype(np.uint8), self.size, keep_aspect=self.keep_aspect, interpolation="nearest")
        return out > 0


# --------------------------------------------------------------------------- CLAHE
def _float_to_u16(image: np.ndarray) -> np.ndarray:
    lo, hi = float(image.min()), float(image.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"float image has values in [{lo:g}, {hi:g}]; float images must lie in "
                         "[0, 1] (use Normalize first)")
    return np.rint(np.clip(image, 0, 1) * 65535).astype(np.uint16)


_CLAHE_PARAMS = {"clip_limit": [Interval(Real, 0, None, closed="neither")], "tile_grid_size": _SIZE}


@validate_params({"image": ["array-like"], **_CLAHE_PARAMS}, prefer_skip_nested_validation=True)
def clahe(image: np.ndarray, *, clip_limit: float = 2.0, tile_grid_size=(8, 8)) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (OpenCV) of one image, dtype kept.

    ``uint8`` and ``uint16`` images (e.g. 12-16-bit mammograms) are equalised directly,
    with 256 or 65536 histogram bins. Float images must lie in ``[0, 1]``: they are mapped to
    ``uint16``, equalised and mapped back (so the result is quantised to 1/65535).

    Parameters
    ----------
    image : ndarray of shape (h, w), uint8, uint16 or float in [0, 1]
    clip_limit : float, default=2.0
        Contrast limit, relative to a flat histogram (OpenCV's meaning).
    tile_grid_size : (int, int), default=(8, 8)
        Tiles per (row, column) direction.

    Returns
    -------
    equalised : ndarray, same shape and dtype

    References
    ----------
    Zuiderveld K. Contrast limited adaptive histogram equalization. Graphics Gems IV, 1994.

    Examples
    --------
    >>> import numpy as np
    >>> img = (np.arange(64 * 64).reshape(64, 64) % 50).astype(np.uint8)
    >>> clahe(img).dtype, clahe(img / 255.0).dtype
    (dtype('uint8'), dtype('float64'))
    """
    clip_limit, tiles = float(clip_limit), _size_pair(tile_grid_size)
    image = np.asarray(image)
    op = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles[1], tiles[0]))
    if image.dtype in (np.uint8, np.uint16):
        return op.apply(np.ascontiguousarray(image))
    if image.dtype.kind == "f":
        return (op.apply(_float_to_u16(image)) / 65535.0).astype(image.dtype)
    raise ValueError(f"CLAHE works on uint8, uint16 or float [0, 1] images, got {image.dtype}; "
                     "use Normalize first")


class CLAHE(BaseImagePreprocessor):
    """Contrast-limited adaptive histogram equalisation (OpenCV); see :func:`clahe`.

    Works on ``uint8`` and ``uint16`` images (mammograms) and on floats in ``[0, 1]``;
    the dtype is kept.

    Parameters
    ----------
    clip_limit : float, default=2.0
    tile_grid_size : (int, int), default=(8, 8)
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 4096, (64, 64), dtype=np.uint16)
    >>> CLAHE().fit_transform([img])[0].dtype
    dtype('uint16')
    """

    _parameter_constraints = {**_CLAHE_PARAMS, "n_jobs": N_JOBS}

    def __init__(self, clip_limit=2.0, *, tile_grid_size=(8, 8), n_jobs=None):
        self.clip_limit = clip_limit
        self.tile_grid_size = tile_grid_size
        self.n_jobs = n_jobs

    def _check_rules(self):
        _size_pair(self.tile_grid_size)

    def _process(self, image, index, path):
        return clahe(image, clip_limit=self.clip_limit, tile_grid_size=self.tile_grid_size)


# --------------------------------------------------------------------------- speckle
_DENOISE = ("median", "bilateral", "nlmeans")


_POSITIVE = [Interval(Real, 0, None, closed="neither")]
_DENOISE_PARAMS = {"method": [StrOptions(set(_DENOISE))], "size": [Interval(Integral, 3, None, closed="left")],
                   "sigma_color": _POSITIVE, "sigma_space": _POSITIVE, "h": _POSITIVE}


def _check_odd(size) -> None:
    if size % 2 == 0:
        raise ValueError(f"size must be an odd int >= 3, got {size!r}")


def _scale_of(image: np.ndarray) -> float:
    return float(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else 1.0


@validate_params({"image": ["array-like"], **_DENOISE_PARAMS}, prefer_skip_nested_validation=True)
def speckle_denoise(image: np.ndarray, *, method: str = "median", size: int = 5, sigma_color: float = 0.1,
                    sigma_space: float = 3.0, h: float = 0.05) -> np.ndarray:
    """Reduce ultrasound speckle in one image, keeping its dtype.

    * ``"median"``: median filter of ``size x size`` pixels (borders replicate the edge);
    * ``"bilateral"``: OpenCV bilateral filter, diameter ``size``, ``sigma_space`` pixels and
      ``sigma_color`` on the ``[0, 1]`` intensity scale (edge-preserving smoothing);
    * ``"nlmeans"``: OpenCV fast non-local means (L1 patch distance, the one OpenCV
      supports at 16 bits), filter strength ``h`` on the ``[0, 1]`` scale, template window 7,
      search window ``size * 4 + 1``.

    Intensity parameters are on the ``[0, 1]`` scale (multiplied by 255 for ``uint8``,
    65535 for ``uint16``) so one setting fits every bit depth. Float images must lie in
    ``[0, 1]`` for bilateral and nlmeans.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    method : {"median", "bilateral", "nlmeans"}, default="median"
    size : int, default=5
        Odd window size.
    sigma_color : float, default=0.1
    sigma_space : float, default=3.0
    h : float, default=0.05

    Returns
    -------
    denoised : ndarray, same shape and dtype

    References
    ----------
    Tomasi C, Manduchi R. Bilateral filtering for gray and color images. ICCV 1998.
    Buades A, Coll B, Morel JM. A non-local algorithm for image denoising. CVPR 2005.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16), np.uint8); img[8, 8] = 255
    >>> int(speckle_denoise(img).max())
    0
    """
    _check_odd(size)
    image = np.asarray(image)
    if method == "median":
        if image.dtype == np.uint8 or (image.dtype in (np.uint16, np.float32) and size <= 5):
            return cv2.medianBlur(np.ascontiguousarray(image), size)  # fast path, replicate border
        return ndimage.median_filter(image, size=size, mode="nearest")
    scale = _scale_of(image)
    if image.dtype.kind == "f":
        work, back = _float_to_u16(image), (lambda out: (out / 65535.0).astype(image.dtype))
        scale = 65535.0
    elif image.dtype in (np.uint8, np.uint16):
        work, back = np.ascontiguousarray(image), (lambda out: out)
    else:
        raise ValueError(f"{method} denoising works on uint8, uint16 or float [0, 1] images, got {image.dtype}")
    if method == "bilateral":
        if work.dtype == np.uint8:
            out = cv2.bilateralFilter(work, size, sigma_color * scale, sigma_space)
        else:  # OpenCV's bilateral filter takes 8-bit or float32 only
            f = cv2.bilateralFilter(work.astype(np.float32) / np.float32(scale), size, sigma_color, sigma_space)
            out = np.clip(np.rint(f * scale), 0, scale).astype(work.dtype)
        return back(out)
    # The L1 patch distance is the one OpenCV supports for 16-bit images; using it for 8-bit
    # too gives ``h`` one meaning at every bit depth.
    out = cv2.fastNlMeansDenoising(work, np.array([h * scale], np.float32), None, 7, size * 4 + 1,
                                   cv2.NORM_L1)
    return back(out)


class SpeckleDenoise(BaseImagePreprocessor):
    """Speckle reduction by median, bilateral or non-local-means filtering; see
    :func:`speckle_denoise`. The dtype is kept.

    Parameters
    ----------
    method : {"median", "bilateral", "nlmeans"}, default="median"
    size : int, default=5
    sigma_color : float, default=0.1
    sigma_space : float, default=3.0
    h : float, default=0.05
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    >>> out = SpeckleDenoise(method="bilateral").fit_transform([img])[0]
    >>> out.shape, out.dtype
    ((32, 32), dtype('uint8'))
    """

    _parameter_constraints = {**_DENOISE_PARAMS, "n_jobs": N_JOBS}

    def __init__(self, method="median", *, size=5, sigma_color=0.1, sigma_space=3.0, h=0.05, n_jobs=None):
        self.method = method
        self.size = size
        self.sigma_color = sigma_color
        self.sigma_space = sigma_space
        self.h = h
        self.n_jobs = n_jobs

    def _check_rules(self):
        _check_odd(self.size)

    def _process(self, image, index, path):
        return speckle_denoise(image, method=self.method, size=self.size, sigma_color=self.sigma_color,
                               sigma_space=self.sigma_space, h=self.h)


# --------------------------------------------------------------------------- normalisation
_NORM = ("minmax", "percentile", "zscore")


_NORMALIZE_PARAMS = {"method": [StrOptions(set(_NORM))], "percentiles": [tuple, list], "k": _POSITIVE}


def _check_percentiles(percentiles) -> None:
    p = tuple(percentiles)
    if len(p) != 2 or not 0 <= p[0] < p[1] <= 100:
        raise ValueError(f"percentiles must be (low, high) with 0 <= low < high <= 100, got {percentiles!r}")


@validate_params({"image": ["array-like"], **_NORMALIZE_PARAMS}, prefer_skip_nested_validation=True)
def normalize(image: np.ndarray, *, method: str = "minmax", percentiles=(1.0, 99.0), k: float = 3.0) -> np.ndarray:
    """Map one image's intensities to ``float32`` in ``[0, 1]``, per image.

    * ``"minmax"``: ``(x - min) / (max - min)``;
    * ``"percentile"``: clip to the ``percentiles`` (robust to a few very bright or dark
      pixels, e.g. labels burnt into a scan), then min-max;
    * ``"zscore"``: ``z = (x - mean) / std``, clipped to ``[-k, k]`` and mapped linearly to
      ``[0, 1]`` by ``(z + k) / (2 k)``, so the mean lands on 0.5.

    A constant image has no contrast to stretch: it maps to all 0 (``"zscore"``: all 0.5).

    Parameters
    ----------
    image : ndarray of shape (h, w), any real dtype (floats may have any range)
    method : {"minmax", "percentile", "zscore"}, default="minmax"
    percentiles : (float, float), default=(1, 99)
    k : float, default=3.0

    Returns
    -------
    normalised : ndarray of float32, same shape, values in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> normalize(np.array([[10, 20], [30, 50]], np.int16)).tolist()
    [[0.0, 0.25], [0.5, 1.0]]
    """
    _check_percentiles(percentiles)
    x = np.asarray(image, dtype=np.float64)
    if method == "zscore":
        std = x.std()
        if std == 0:
            return np.full(x.shape, 0.5, np.float32)
        z = np.clip((x - x.mean()) / std, -k, k)
        return ((z + k) / (2 * k)).astype(np.float32)
    if method == "percentile":
        lo, hi = np.percentile(x, percentiles)
        x = np.clip(x, lo, hi)
    else:
        lo, hi = x.min(), x.max()
    if hi <= lo:
        return np.zeros(x.shape, np.float32)
    return np.clip((x - lo) / (hi - lo), 0, 1).astype(np.float32)


class Normalize(BaseImagePreprocessor):
    """Per-image intensity normalisation to ``float32`` in ``[0, 1]``; see :func:`normalize`.

    Use it before feature extraction on images whose floats are not in ``[0, 1]`` (other
    featbus steps refuse them) or to make exposure comparable across scanners.

    Parameters
    ----------
    method : {"minmax", "percentile", "zscore"}, default="minmax"
        ``"zscore"`` clips z-scores to ``[-k, k]`` and maps them to ``[0, 1]``.
    percentiles : (float, float), default=(1, 99)
        Used by ``"percentile"``.
    k : float, default=3.0
        Used by ``"zscore"``.
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> out = Normalize(method="zscore").fit_transform([np.arange(64.0).reshape(8, 8) * 100])
    >>> out[0].dtype, float(out[0].min()) >= 0, float(out[0].max()) <= 1
    (dtype('float32'), True, True)
    """

    _parameter_constraints = {**_NORMALIZE_PARAMS, "n_jobs": N_JOBS}

    def __init__(self, method="minmax", *, percentiles=(1.0, 99.0), k=3.0, n_jobs=None):
        self.method = method
        self.percentiles = percentiles
        self.k = k
        self.n_jobs = n_jobs

    def _check_rules(self):
        _check_percentiles(self.percentiles)

    def _process(self, image, index, path):
        return normalize(image, method=self.method, percentiles=self.percentiles, k=self.k)


# --------------------------------------------------------------------------- global histogram equalisation
def _white(dtype) -> float:
    return float(np.iinfo(dtype).max) if np.dtype(dtype).kind in "ui" else 1.0


def _to_unit(image: np.ndarray) -> np.ndarray:
    """``[0, 1]`` float64 view of a uint8 / uint16 / float-in-[0, 1] image."""
    if image.dtype in (np.uint8, np.uint16):
        return image.astype(np.float64) / _white(image.dtype)
    if image.dtype.kind == "f":
        return _float_to_u16(image) / 65535.0  # checks the [0, 1] range
    raise ValueError(f"works on uint8, uint16 or float [0, 1] images, got {image.dtype}; use Normalize first")


def _from_unit(x: np.ndarray, dtype) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return x.astype(dtype)
    white = _white(dtype)
    return np.rint(np.clip(x, 0, 1) * white).astype(dtype)


_EQUALIZE_PARAMS = {"nbins": [Interval(Integral, 2, None, closed="left")], "ignore_zeros": ["boolean"]}


@validate_params({"image": ["array-like"], **_EQUALIZE_PARAMS}, prefer_skip_nested_validation=True)
def equalize_hist(image: np.ndarray, *, nbins: int = 256, ignore_zeros: bool = False) -> np.ndarray:
    """Global histogram equalisation of one image (``skimage.exposure.equalize_hist``), dtype kept.

    Every pixel is mapped through the image's cumulative histogram (``nbins`` bins), so the
    output's histogram is as flat as the input's levels allow. Unlike :func:`clahe` the mapping
    is one for the whole image: contrast grows where most pixels are, noise included.

    Parameters
    ----------
    image : ndarray of shape (h, w), uint8, uint16 or float in [0, 1]
    nbins : int, default=256
    ignore_zeros : bool, default=False
        Build the histogram from the non-zero pixels only and leave zeros at 0: the black
        background of a mammogram after :class:`~featbus.BreastMask`, or the frame outside an
        ultrasound fan, then neither takes half the output range nor lightens the tissue.

    Returns
    -------
    equalised : ndarray, same shape and dtype (integers: rounded to the dtype's range)

    References
    ----------
    Gonzalez RC, Woods RE. Digital Image Processing, 4th ed., section 3.3 (histogram
    equalisation). Pearson, 2018.
    Pizer SM et al. Adaptive histogram equalization and its variations. Comput Vis Graph Image
    Process 39(3):355-368, 1987. doi:10.1016/S0734-189X(87)80186-X.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.repeat(np.arange(60, 124, dtype=np.uint8)[None], 8, axis=0)  # levels 60..123
    >>> out = equalize_hist(img)
    >>> out.dtype, int(out.min()), int(out.max())
    (dtype('uint8'), 4, 255)
    """
    from skimage.exposure import equalize_hist as _equalize

    image = np.asarray(image)
    unit = _to_unit(image)
    mask = image != 0 if ignore_zeros else None
    if mask is not None and not mask.any():
        return image.copy()
    out = _equalize(unit, nbins=int(nbins), mask=mask)
    if mask is not None:
        out = np.where(mask, out, 0.0)
    return _from_unit(out, image.dtype)


class HistogramEqualizer(BaseImagePreprocessor):
    """Global histogram equalisation, per image; see :func:`equalize_hist`. The dtype is kept.

    The "global histogram equalisation" step of published ultrasound pipelines (for the
    local, contrast-limited variant use :class:`CLAHE`). Stateless: each image is equalised
    with its own histogram, so training and new images are treated alike.

    Parameters
    ----------
    nbins : int, default=256
    ignore_zeros : bool, default=False
        Histogram of the non-zero pixels only, zeros kept (a masked-out background).
    n_jobs : int or None, default=None

    References
    ----------
    Pizer SM et al. Adaptive histogram equalization and its variations. Comput Vis Graph Image
    Process 39(3):355-368, 1987. doi:10.1016/S0734-189X(87)80186-X.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(90, 140, (32, 32), dtype=np.uint8)
    >>> out = HistogramEqualizer().fit_transform([img])[0]
    >>> out.dtype, int(out.max()), int(out.min()) < 20
    (dtype('uint8'), 255, True)
    """

    _parameter_constraints = {**_EQUALIZE_PARAMS, "n_jobs": N_JOBS}

    def __init__(self, nbins=256, *, ignore_zeros=False, n_jobs=None):
        self.nbins = nbins
        self.ignore_zeros = ignore_zeros
        self.n_jobs = n_jobs

    def _process(self, image, index, path):
        return equalize_hist(image, nbins=self.nbins, ignore_zeros=self.ignore_zeros)


# --------------------------------------------------------------------------- adaptive threshold
_THRESHOLD_OUTPUT = ("binary", "masked")
_ADAPTIVE_PARAMS = {"block_size": [Interval(Integral, 3, None, closed="left")],
                    "method": [StrOptions({"gaussian", "mean", "median"})], "offset": [Real],
                    "output": [StrOptions(set(_THRESHOLD_OUTPUT))], "invert": ["boolean"]}


@validate_params({"image": ["array-like"], **_ADAPTIVE_PARAMS}, prefer_skip_nested_validation=True)
def adaptive_threshold(image: np.ndarray, *, block_size: int = 35, method: str = "gaussian", offset: float = 0.0,
                       output: str = "binary", invert: bool = False) -> np.ndarray:
    """Adaptive (local) thresholding of one image (``skimage.filters.threshold_local``), dtype kept.

    Each pixel is compared with its own threshold: the ``method``-weighted mean (or median)
    of its ``block_size`` x ``block_size`` neighbourhood less ``offset``. A pixel above it is
    foreground (``invert``: below it; ultrasound lesions are darker than their surroundings).

    * ``output="binary"`` (default): foreground at the dtype's white (255 for ``uint8``,
      65535 for ``uint16``, 1.0 for floats), the rest 0 -- OpenCV's ``adaptiveThreshold``, the
      black-and-white image that published "adaptive thresholding" enhancement steps feed to
      their CNN;
    * ``output="masked"``: foreground keeps its intensity, the rest 0 (OpenCV's
      ``THRESH_TOZERO`` against the local threshold): texture survives for feature extractors
      that need it.

    Parameters
    ----------
    image : ndarray of shape (h, w), uint8, uint16 or float in [0, 1]
    block_size : int, default=35
        Odd neighbourhood side in pixels.
    method : {"gaussian", "mean", "median"}, default="gaussian"
    offset : float, default=0.0
        On the ``[0, 1]`` intensity scale whatever the dtype (0.02 is about 5 grey levels of
        an 8-bit image).
    output : {"binary", "masked"}, default="binary"
    invert : bool, default=False
        Foreground = darker than the local threshold.

    Returns
    -------
    thresholded : ndarray, same shape and dtype

    References
    ----------
    Sauvola J, Pietikäinen M. Adaptive document image binarization. Pattern Recognit
    33(2):225-236, 2000. doi:10.1016/S0031-3203(99)00055-2.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((40, 40), 100, np.uint8); img[15:25, 15:25] = 160
    >>> out = adaptive_threshold(img, block_size=21)
    >>> sorted(np.unique(out).tolist()), int(out[20, 20]), int(out[2, 2])
    ([0, 255], 255, 0)
    >>> int(adaptive_threshold(img, block_size=21, output="masked")[20, 20])
    160
    """
    from skimage.filters import threshold_local

    _check_odd(block_size)
    image = np.asarray(image)
    unit = _to_unit(image)
    local = threshold_local(unit, int(block_size), method=method, offset=float(offset), mode="reflect")
    fg = unit < local if invert else unit > local
    if output == "binary":
        return _from_unit(fg.astype(np.float64), image.dtype)
    return np.where(fg, image, np.zeros((), image.dtype)).astype(image.dtype)


class AdaptiveThreshold(BaseImagePreprocessor):
    """Adaptive (local) thresholding, per image; see :func:`adaptive_threshold`. The dtype is kept.

    The "adaptive thresholding" enhancement of published pipelines. By default the output is
    the binary image those pipelines feed to their network (foreground white, the rest 0);
    ``output="masked"`` keeps the foreground's intensities instead. Masks travel unchanged.
    For a lesion *mask* from a threshold use :class:`~featbus.segmentation.ThresholdSegmenter`.

    Parameters
    ----------
    block_size : int, default=35
    method : {"gaussian", "mean", "median"}, default="gaussian"
    offset : float, default=0.0
        On the ``[0, 1]`` intensity scale.
    output : {"binary", "masked"}, default="binary"
    invert : bool, default=False
    n_jobs : int or None, default=None

    References
    ----------
    Sauvola J, Pietikäinen M. Adaptive document image binarization. Pattern Recognit
    33(2):225-236, 2000. doi:10.1016/S0031-3203(99)00055-2.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    >>> out = AdaptiveThreshold(block_size=11).fit_transform([img])[0]
    >>> out.dtype, sorted(np.unique(out).tolist())
    (dtype('uint8'), [0, 255])
    """

    _parameter_constraints = {**_ADAPTIVE_PARAMS, "n_jobs": N_JOBS}

    def __init__(self, block_size=35, *, method="gaussian", offset=0.0, output="binary", invert=False, n_jobs=None):
        self.block_size = block_size
        self.method = method
        self.offset = offset
        self.output = output
        self.invert = invert
        self.n_jobs = n_jobs

    def _check_rules(self):
        _check_odd(self.block_size)

    def _process(self, image, index, path):
        return adaptive_threshold(image, block_size=self.block_size, method=self.method, offset=self.offset,
                                  output=self.output, invert=self.invert)
