"""LBP: multi-radius local binary pattern histograms (Ojala et al., 2002), function and transformer.

:func:`lbp_features` codes an image on one integer scale (8-bit data as ``uint8``) and codes
each radius with :func:`lbp_codes`, a vectorised NumPy form of
:func:`skimage.feature.local_binary_pattern` that gives exactly its codes (the same bilinear
interpolation in the same floating-point order), several times faster
(``benchmarks/lbp_speed.py``). :class:`LBPFeatures` wraps it for batches
(:class:`~featbus._base.BaseFeatureExtractor`).
"""

from __future__ import annotations

import functools
from numbers import Integral

import numpy as np

from .._base import BaseFeatureExtractor
from .._compat import Interval, StrOptions
from .._docs import fill_doc
from .._records import region_mask

__all__ = ["lbp_features", "lbp_codes", "lbp_feature_names", "lbp_n_bins", "LBPFeatures"]


_LBP_METHODS = ("uniform", "ror", "nri_uniform")
_LBP_TAG = {"uniform": "u", "ror": "ror", "nri_uniform": "n"}
_ROR_MAX_POINTS = 16
#: Bounds of the parameters (the time per pixel grows with the points, the columns with
#: ``P (P - 1) + 3`` per radius for nri_uniform): radius in pixels, points per radius, radii.
_MAX_RADIUS = 1024
_MAX_POINTS = 128
_MAX_RADII = 16


@functools.cache
def _ror_codes(P: int) -> np.ndarray:
    """Sorted codes that skimage's ``method="ror"`` can output for ``P`` points: the smallest
    rotation of every ``P``-bit pattern (binary necklaces; 36 for P=8)."""
    return np.unique(_ror_lut(P)).astype(np.int64)


def lbp_n_bins(points: int, method: str = "uniform") -> int:
    """Histogram bins of one radius: ``P + 2`` (uniform), ``P (P - 1) + 3`` (nri_uniform),
    number of ``P``-bit rotation classes (ror; 36 for P=8).

    Examples
    --------
    >>> lbp_n_bins(8), lbp_n_bins(8, "nri_uniform"), lbp_n_bins(8, "ror")
    (10, 59, 36)
    """
    if method == "uniform":
        return points + 2
    if method == "nri_uniform":
        return points * (points - 1) + 3
    if method == "ror":
        return len(_ror_codes(points))
    raise ValueError(f"method must be one of {_LBP_METHODS}, got {method!r}")


# ----------------------------------------------------------------------------- the codes
# scikit-image's _local_binary_pattern (skimage/feature/_texture.pyx) visits every pixel and
# every sampling point in Cython. The same arithmetic over whole rows at once, in NumPy:
#   * sampling point i of P sits at (r + rp[i], c + cp[i]), rp/cp rounded to 5 decimals;
#   * its value is bilinear: top = (1 - dc) tl + dc tr, bottom = (1 - dc) bl + dc br,
#     value = (1 - dr) top + dr bottom, pixels outside the image being 0;
#   * its bit is value - centre >= 0 (which, in IEEE arithmetic, is value >= centre).
# dr = (r + rp) - floor(r + rp) depends on r through the rounding of r + rp (it is constant per
# binade of r + rp), so it is computed per row exactly as there (and dc per column). The
# horizontal step of a point only depends on the image row and on cp, so it is computed once
# per distinct cp (P/2 + 1 of them) for every row it is needed at, and each point then takes
# two of those rows. Each operation is one correctly rounded IEEE operation, in the order of
# the Cython code, so the values, and the ties between a neighbour and the centre, are the same.

#: Pixels per block of rows: the working arrays of one block stay in the processor's cache.
_BLOCK_PIXELS = 1 << 14


@functools.cache
def _circle(P: int, R: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets of the ``P`` sampling points, as scikit-image computes them."""
    angles = 2 * np.pi * np.arange(P, dtype=np.float64) / P
    return np.round(-float(R) * np.sin(angles), 5), np.round(float(R) * np.cos(angles), 5)


def _axis(n: int, offset: float) -> tuple[int, int, np.ndarray]:
    """For positions ``k + offset`` (k = 0..n-1): the floor and ceiling offsets, which are the
    same for every k, and the fractions ``(k + offset) - floor(k + offset)`` per k."""
    pos = np.arange(n, dtype=np.float64) + offset
    lo, hi = np.floor(pos), np.ceil(pos)
    base = np.arange(n, dtype=np.float64)
    # offset has 5 decimals: k + offset never rounds across an integer below 2**31
    if not (np.all(lo - base == lo[0]) and np.all(hi - base == hi[0])):
        raise ValueError(f"LBP: an image side of {n} pixels is too long to sample exactly")
    return int(lo[0]), int(hi[0]), pos - lo


def _run_ends(x: np.ndarray) -> np.ndarray:
    """``ends[k]``: the last index of the run of equal values of ``x`` that holds ``k``."""
    ends = np.append(np.flatnonzero(x[1:] != x[:-1]), len(x) - 1)
    return ends[np.searchsorted(ends, np.arange(len(x)))]


@functools.lru_cache(maxsize=8)  # the default radii use 3; each holds O(P x length) floats
def _sampling(P: int, R: int, length: int) -> list[tuple]:
    """Per distinct column offset of the ``P`` points: its column floor and ceiling offsets and
    weights ``1 - dc``, ``dc`` (per column), and its points, each with its row floor and ceiling
    offsets, weights ``1 - dr``, ``dr`` and runs of equal ``dr`` (per row); then the group's
    lowest and highest row offsets. For positions ``0..length-1``: an image's are a prefix."""
    rp, cp = _circle(P, R)
    groups = []
    for v in np.unique(cp):
        c_lo, c_hi, dc = _axis(length, v)
        points = []
        for i in np.flatnonzero(cp == v):
            r_lo, r_hi, dr = _axis(length, rp[i])
            points.append((int(i), r_lo, r_hi, 1 - dr, dr, _run_ends(dr)))
        groups.append((c_lo, c_hi, 1 - dc, dc, points, min(p[1] for p in points), max(p[2] for p in points)))
    return groups


@functools.cache
def _ror_lut(P: int) -> np.ndarray:
    """Smallest rotation of every ``P``-bit pattern (skimage's ``ror`` code of that pattern)."""
    codes = np.arange(2 ** P, dtype=np.int64)
    best, rot, mask = codes.copy(), codes, (1 << P) - 1
    for _ in range(P - 1):
        rot = ((rot >> 1) | ((rot & 1) << (P - 1))) & mask
        np.minimum(best, rot, out=best)
    return best.astype(np.uint16)


def _bits_to_codes(bits: np.ndarray, P: int, method: str) -> np.ndarray:
    """skimage's code of every pixel from its ``P`` bits (``bits[i]``: point ``i``)."""
    if method == "ror":  # P <= 16: the P-bit pattern, then its smallest rotation
        packed = np.packbits(bits, axis=0, bitorder="little")
        raw = packed[0].astype(np.int64)
        for k in range(1, packed.shape[0]):
            raw |= packed[k].astype(np.int64) << (8 * k)
        return _ror_lut(P)[raw]
    n_ones = bits.sum(axis=0, dtype=np.uint8)  # P <= 128
    # skimage counts the 0/1 changes along i = 0..P-1 without wrapping around: at most 2 of
    # them is the same as at most 2 around the circle (a circular count is even)
    changes = (bits[1:] != bits[:-1]).sum(axis=0, dtype=np.uint8)
    uniform = changes <= 2
    if method == "uniform":
        return np.where(uniform, n_ones, np.uint8(P + 1)).astype(np.uint16)
    # nri_uniform: a uniform pattern is one run of ones, coded by its length and rotation
    n = n_ones.astype(np.int64)
    first_one = bits.argmax(axis=0)
    first_zero = (~bits).argmax(axis=0)
    rotation = np.where(bits[0], n - first_zero, P - first_one)
    code = np.where(n == 0, 0, np.where(n == P, P * (P - 1) + 1, 1 + (n - 1) * P + rotation))
    return np.where(uniform, code, P * (P - 1) + 2).astype(np.uint16)


def lbp_codes(image: np.ndarray, P: int, R: int, method: str = "uniform") -> np.ndarray:
    """The LBP code of every pixel: exactly ``skimage.feature.local_binary_pattern(image, P, R,
    method)``, computed over blocks of rows with NumPy.

    The sampling points, the bilinear interpolation (pixels outside the image are 0) and the
    comparison with the centre are those of scikit-image's Cython loop, operation for operation
    in the same floating-point order, so interpolated neighbours that equal the centre (flat
    areas) give the same bits. Every method and parameter featbus offers is covered (``"uniform"``,
    ``"nri_uniform"``, ``"ror"`` with ``P <= 16``; integer ``R`` up to 1024, ``P`` up to 128);
    ``tests/test_lbp_fast.py`` checks the codes against scikit-image, which is no longer called
    here. Code integer images (see :func:`lbp_features`): scikit-image advises it, as float
    images give ties that depend on rounding.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Gray image (converted to float64, as scikit-image does).
    P : int
        Sampling points on the circle.
    R : int
        Radius in pixels.
    method : {"uniform", "nri_uniform", "ror"}

    Returns
    -------
    codes : ndarray of shape (h, w), dtype uint16
        ``0..P+1`` (uniform), ``0..P(P-1)+2`` (nri_uniform), the smallest rotation of the
        ``P``-bit pattern (ror).

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.feature import local_binary_pattern
    >>> img = np.random.default_rng(0).integers(0, 256, (20, 30)).astype(np.uint8)
    >>> bool(np.array_equal(lbp_codes(img, 16, 2), local_binary_pattern(img, 16, 2, "uniform")))
    True
    """
    if method not in _LBP_METHODS:
        raise ValueError(f"method must be one of {_LBP_METHODS}, got {method!r}")
    if method == "ror" and P > _ROR_MAX_POINTS:
        raise ValueError(f"method='ror' codes at most {_ROR_MAX_POINTS} points, got {P}")
    if P > _MAX_POINTS or P < 1:
        raise ValueError(f"P must be in [1, {_MAX_POINTS}], got {P}")
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"LBP needs a 2-D gray image, got shape {img.shape}")
    h, w = img.shape
    pad = int(np.ceil(R)) + 1
    padded = np.zeros((h + 2 * pad, w + 2 * pad))  # zeros outside: scikit-image's mode 'C', cval 0
    padded[pad:pad + h, pad:pad + w] = img
    rows = max(8, _BLOCK_PIXELS // max(w, 1))
    # weights computed for positions 0..length-1 serve every image up to that side
    groups = _sampling(int(P), int(R), 1 << max(8, (max(h, w) - 1).bit_length()))
    codes = np.empty((h, w), np.uint16)
    bits_buffer = np.empty((P, rows, w), bool)
    horizontal, product = np.empty((rows + 2 * pad, w)), np.empty((rows + 2 * pad, w))
    value, value2, centre_buffer = np.empty((rows, w)), np.empty((rows, w)), np.empty((rows, w))
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        n = r1 - r0
        centre = centre_buffer[:n]  # contiguous: compared P times
        centre[...] = padded[pad + r0:pad + r1, pad:pad + w]
        bits, val, val2 = bits_buffer[:, :n], value[:n], value2[:n]
        for c_lo, c_hi, one_minus_dc, dc, points, lo, hi in groups:
            one_minus_dc, dc = one_minus_dc[:w], dc[:w]
            windows = [(lo, hi, points)] if hi - lo <= n else [(p[1], p[2], [p]) for p in points]  # large R
            for lo, hi, pts in windows:
                # image rows r0 + lo .. r1 + hi - 1, horizontally interpolated (row k: r0 + lo + k)
                src = padded[pad + r0 + lo:pad + r1 + hi]
                if c_lo == c_hi:  # integer column offset: dc = 0, the pixels themselves
                    hz = src[:, pad + c_lo:pad + c_lo + w]
                else:
                    hz, tmp = horizontal[:len(src)], product[:len(src)]
                    np.multiply(src[:, pad + c_lo:pad + c_lo + w], one_minus_dc, out=hz)
                    np.multiply(src[:, pad + c_hi:pad + c_hi + w], dc, out=tmp)
                    hz += tmp
                for i, r_lo, r_hi, one_minus_dr, dr, run_ends in pts:
                    top = hz[r_lo - lo:r_lo - lo + n]
                    if r_lo == r_hi:  # integer row offset: dr = 0, the top row itself
                        np.greater_equal(top, centre, out=bits[i])
                        continue
                    if run_ends[r0] >= r1 - 1:  # one dr for the whole block: a scalar
                        a, b = one_minus_dr[r0], dr[r0]
                    else:
                        a, b = one_minus_dr[r0:r1, None], dr[r0:r1, None]
                    np.multiply(top, a, out=val)
                    np.multiply(hz[r_hi - lo:r_hi - lo + n], b, out=val2)
                    val += val2
                    np.greater_equal(val, centre, out=bits[i])
        codes[r0:r1] = _bits_to_codes(bits, P, method)
    return codes


def _lbp_config(radii, points, method) -> list[tuple[int, int]]:
    if method not in _LBP_METHODS:
        raise ValueError(f"method must be one of {_LBP_METHODS}, got {method!r}")
    radii = (radii,) if np.isscalar(radii) else tuple(radii)
    if not radii or len(radii) > _MAX_RADII or not all(
            isinstance(r, (int, np.integer)) and not isinstance(r, bool) and 0 < r <= _MAX_RADIUS for r in radii):
        raise ValueError(f"radii must be 1 to {_MAX_RADII} ints in [1, {_MAX_RADIUS}] (pixels), got {radii!r}")
    if points is None:
        # 8 neighbours per unit of radius samples the circle at about one pixel spacing;
        # "ror" keeps P=8 since its histogram has one bin per rotation class (~2**P / P).
        pts = tuple(8 if method == "ror" else 8 * int(r) for r in radii)
    else:
        pts = (points,) * len(radii) if np.isscalar(points) else tuple(points)
        if len(pts) != len(radii) or not all(
                isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 2 for p in pts):
            raise ValueError(f"points must be an int >= 2 or one per radius, got {points!r}")
    if max(pts) > _MAX_POINTS:
        default = " (8 per pixel of radius by default: give points)" if points is None else ""
        raise ValueError(f"points must be at most {_MAX_POINTS} per radius{default}, got {max(pts)}")
    if method == "ror" and max(pts) > _ROR_MAX_POINTS:
        raise ValueError(f"method='ror' has one bin per rotation class (about 2**P / P); "
                         f"use points <= {_ROR_MAX_POINTS}, got {max(pts)}")
    return [(int(r), int(p)) for r, p in zip(radii, pts)]


def _as_lbp_input(image: np.ndarray) -> np.ndarray:
    """The integer image LBP codes: 8-bit data on 0..255, anything else on its own integer scale.

    LBP compares interpolated neighbours with the centre. When a neighbour *equals* the
    centre (flat areas), scikit-image's bit depends on float rounding of the interpolation,
    and that rounding depends on the scale of the values: ``k`` and ``257 k`` can give
    different codes. So every image is coded on one canonical scale, whatever its dtype and
    whether it comes through :func:`lbp_features` or the transformer (which sees ``[0, 1]``
    floats): ``uint8`` images as they are; ``uint16`` images holding 8-bit data (every value a
    multiple of 257) and ``[0, 1]`` floats on the 8-bit grid ``k / 255`` as ``uint8`` ``k``;
    other ``uint16`` and integer images as they are; other floats as ``rint(x * 65535)``
    (``uint16``), which gives back exactly the values of a ``uint16`` image scaled to
    ``[0, 1]``.
    """
    image = np.asarray(image)
    if image.dtype.kind == "f":
        x = np.clip(image.astype(np.float64), 0, 1)
        k8 = np.rint(x * 255)
        # 8-bit data scaled to [0, 1] lies within float32 rounding (~1e-5) of the grid; any
        # other uint16 value is at least 1/257 of a step away from it.
        if np.all(np.abs(x * 255 - k8) < 1e-3):
            return k8.astype(np.uint8)
        return np.rint(x * 65535).astype(np.uint16)
    if image.dtype.kind not in "ui":
        raise ValueError(f"LBP needs a float or integer image, got dtype {image.dtype}")
    if image.dtype == np.uint16 and not np.any(image % 257):
        return (image // 257).astype(np.uint8)
    return image


def lbp_features(image: np.ndarray, mask: np.ndarray | None = None, *, radii=(1, 2, 3), points=None,
                 method: str = "uniform") -> np.ndarray:
    """Multi-radius local binary pattern histograms of one gray image.

    For each radius ``R`` with ``P`` sampling points, :func:`lbp_codes` codes every pixel
    (exactly as :func:`skimage.feature.local_binary_pattern` does); the histogram of the codes
    (over ``mask`` pixels only, if a mask is given; the codes themselves still see neighbours
    outside it, and are exactly the codes of the whole image) is normalised to sum to 1.
    Histograms of all radii are concatenated.

    The image is coded as integers (scikit-image's advice; see ``_as_lbp_input``): a
    ``uint8`` image as it is, so the codes are exactly
    ``local_binary_pattern(image, P, R, method)``; a ``[0, 1]`` float image holding 8-bit
    data (what :class:`LBPFeatures` sees for a ``uint8`` image) and a ``uint16`` image
    holding 8-bit data (values ``257 k``) as the same ``uint8`` ``k``, so that all three give
    the same codes; other ``uint16``/integer images as they are and other floats as
    ``rint(x * 65535)``. Interpolated neighbours that equal the centre are where the scale
    would otherwise matter.

    Why ``P + 2`` bins for ``method="uniform"``: a *uniform* pattern has at most two 0/1
    transitions around the circle, and rotation-invariant uniform patterns are identified by
    their number of ones, 0..P (``P + 1`` codes); every non-uniform pattern shares one extra
    code ``P + 1``. ``"nri_uniform"`` keeps the rotation of uniform patterns:
    ``P (P - 1) + 3`` bins (59 for P=8); ``"ror"`` has one bin per rotation class
    (36 for P=8).

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Gray image: float in ``[0, 1]``, or integer (non-negative).
    mask : ndarray of bool, optional
        Pixels whose codes are counted.
    radii : sequence of int, default=(1, 2, 3)
    points : int, sequence of int or None
        Points per radius; ``None``: ``8 * R`` (8 for ``"ror"``).
    method : {"uniform", "nri_uniform", "ror"}

    Returns
    -------
    features : ndarray of shape (sum(lbp_n_bins(P, method) for each radius),)
        54 values with the defaults (10 + 18 + 26).

    References
    ----------
    Ojala T, Pietikainen M, Maenpaa T. Multiresolution gray-scale and rotation invariant
    texture classification with local binary patterns. IEEE TPAMI 24(7):971-987, 2002.

    Examples
    --------
    >>> import numpy as np
    >>> v = lbp_features(np.random.default_rng(0).random((32, 32)))
    >>> v.shape, round(float(v[:10].sum()), 6)
    ((54,), 1.0)
    """
    config = _lbp_config(radii, points, method)
    coded = _as_lbp_input(image)
    if mask is not None:
        mask = region_mask(mask, coded.shape, empty="mask is empty: no pixel to build an LBP histogram from")
        # Codes of masked pixels only need neighbours within max(R) + 1 (bilinear sampling),
        # so the rows and columns beyond that are not coded. The window starts at (0, 0):
        # scikit-image samples at (r + dr, c + dc) and the float rounding of that sum, which
        # decides ties, depends on r and c, so shifting the origin could change codes.
        pad = max(r for r, _ in config) + 1
        rows, cols = np.nonzero(mask)
        sl = (slice(0, rows.max() + pad + 1), slice(0, cols.max() + pad + 1))
        coded, mask = coded[sl], mask[sl]
    out = []
    for R, P in config:
        codes = lbp_codes(coded, P, R, method)
        if mask is not None:
            codes = codes[mask]
        codes = codes.ravel()
        if method == "ror":
            codes = np.searchsorted(_ror_codes(P), codes)
        hist = np.bincount(codes, minlength=lbp_n_bins(P, method)).astype(np.float64)
        out.append(hist / hist.sum())
    return np.concatenate(out)


def lbp_feature_names(radii=(1, 2, 3), points=None, method: str = "uniform") -> list[str]:
    """Names ``lbp.r{R}.p{P}.{tag}{bin}``: tag ``u`` (uniform), ``n`` (nri_uniform), ``ror``.

    Examples
    --------
    >>> lbp_feature_names(radii=(1,))[:3]
    ['lbp.r1.p8.u0', 'lbp.r1.p8.u1', 'lbp.r1.p8.u2']
    """
    tag = _LBP_TAG.get(method, "")
    return [f"lbp.r{R}.p{P}.{tag}{b}" for R, P in _lbp_config(radii, points, method)
            for b in range(lbp_n_bins(P, method))]


@fill_doc
class LBPFeatures(BaseFeatureExtractor):
    """Multi-radius local binary pattern histograms (Ojala et al. 2002) as a transformer.

    One normalised histogram per radius, concatenated. With ``method="uniform"`` each radius
    gives ``P + 2`` bins: ``P + 1`` rotation-invariant uniform patterns (at most two 0/1
    transitions, identified by their number of ones) plus one shared bin for all non-uniform
    patterns; the defaults (radii 1, 2, 3 with 8, 16, 24 points) give 10 + 18 + 26 = 54
    columns named like ``lbp.r1.p8.u3``. ``"nri_uniform"`` gives ``P (P - 1) + 3`` bins per
    radius, ``"ror"`` one bin per rotation class (36 for P=8).

    Images are coded as integers on one scale whatever their dtype (8-bit data as ``0..255``,
    see :func:`lbp_features`), so a ``uint8`` image gives exactly the codes of
    ``skimage.feature.local_binary_pattern`` on it, through this transformer or the function.

    Parameters
    ----------
    radii : sequence of int, default=(1, 2, 3)
        At most 16 radii, each in [1, 1024] pixels.
    points : int, sequence of int or None, default=None
        Sampling points per radius, at most 128 (16 for ``"ror"``); ``None`` means ``8 * R``
        (8 for ``"ror"``).
    method : {"uniform", "nri_uniform", "ror"}, default="uniform"
    region : {"image", "bbox", "mask"}, default="image"
        ``"mask"``: the codes are those of the whole image (neighbours outside the lesion are
        real pixels) and only the codes of masked pixels are counted.
    %(empty_mask)s
    %(n_jobs)s
    %(cache)s
    %(progress)s

    See Also
    --------
    lbp_features : the function for one image.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((4, 32, 32))
    >>> LBPFeatures(radii=(1, 2)).fit_transform(X).shape
    (4, 28)
    """

    _prefix = "lbp"

    _parameter_constraints = {
        "radii": [Interval(Integral, 1, _MAX_RADIUS, closed="both"), tuple, list],
        "points": [None, Interval(Integral, 2, _MAX_POINTS, closed="both"), tuple, list],
        "method": [StrOptions(set(_LBP_METHODS))],
        **BaseFeatureExtractor._parameter_constraints,
    }

    def __init__(self, radii=(1, 2, 3), *, points=None, method="uniform", region="image",
                 empty_mask="image", n_jobs=None, cache=None, progress="auto"):
        self.radii = radii
        self.points = points
        self.method = method
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _check_rules(self) -> None:
        _lbp_config(self.radii, self.points, self.method)  # the elements of radii and points, bounds

    def _fit_features(self, items: list) -> list[str]:
        return lbp_feature_names(self.radii, self.points, self.method)

    def _features(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return lbp_features(image, mask, radii=self.radii, points=self.points, method=self.method)
