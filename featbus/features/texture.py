"""Texture features: HOG, multi-radius LBP and GLCM (Haralick) statistics.

Each family is a plain function (one ``float`` image in ``[0, 1]`` -> 1-D vector) with a
``*_feature_names`` helper, and a transformer that wraps it for batches
(:class:`~featbus._base.BaseFeatureExtractor`: input checks, ``region``, ``n_jobs``,
feature names, ``set_output``). HOG and LBP call scikit-image and give exactly what a
direct call on the same (resized / integer-coded) array gives. GLCM counts its matrices with
:func:`skimage.feature.graycomatrix`, but with the diagonal offsets ``(d, d)`` of Haralick and
IBSI (it passes ``d * sqrt(2)`` on the diagonals; scikit-image's own rounding makes the
diagonal at ``d=2`` the offset ``(1, 1)``), and computes the properties with IBSI's definitions
(grey levels counted from 1, entropy in bits): at ``d=1`` they equal
:func:`skimage.feature.graycoprops` up to those two documented conventions.
``tests/test_ibsi.py`` checks GLCM against the IBSI consensus values.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import cv2
import numpy as np
from skimage.feature import graycomatrix, hog, local_binary_pattern

from .._base import BaseFeatureExtractor, ImageRecord, _PathLike, load_item

__all__ = [
    "hog_features", "hog_feature_names", "hog_length", "HOGFeatures",
    "lbp_features", "lbp_feature_names", "lbp_n_bins", "LBPFeatures",
    "glcm_features", "glcm_matrices", "glcm_feature_names", "GLCMFeatures", "GLCM_PROPS",
]


def _pair(value, name: str) -> tuple[int, int]:
    """Validate an ``int`` or ``(int, int)`` parameter; return a pair of positive ints."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _bbox(mask: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.nonzero(mask)
    return slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)


# --------------------------------------------------------------------------- HOG
_BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")


def hog_length(shape: tuple[int, int], orientations: int = 9, pixels_per_cell=(8, 8),
               cells_per_block=(2, 2)) -> int:
    """Number of HOG values for an image of ``shape`` (height, width).

    ``n_cells = shape // pixels_per_cell`` (per axis, remainder pixels are ignored),
    ``n_blocks = n_cells - cells_per_block + 1`` (per axis, blocks overlap by all but one
    cell), and the length is ``prod(n_blocks) * prod(cells_per_block) * orientations``.

    Examples
    --------
    >>> hog_length((128, 128))
    8100
    """
    ppc, cpb = _pair(pixels_per_cell, "pixels_per_cell"), _pair(cells_per_block, "cells_per_block")
    n_blocks = [shape[k] // ppc[k] - cpb[k] + 1 for k in range(2)]
    if min(n_blocks) < 1:
        raise ValueError(
            f"an image of {shape[0]}x{shape[1]} pixels holds no HOG block of {cpb[0]}x{cpb[1]} cells "
            f"of {ppc[0]}x{ppc[1]} pixels; use a larger image/size or smaller cells")
    return int(n_blocks[0] * n_blocks[1] * cpb[0] * cpb[1] * orientations)


def _resize_float(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape == tuple(size):
        return image
    # Area interpolation averages the source pixels a target pixel covers: no aliasing when
    # shrinking (the usual case), plain bilinear-like when enlarging.
    return cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (size[1], size[0]),
                      interpolation=cv2.INTER_AREA)


def hog_features(image: np.ndarray, *, size: tuple[int, int] | None = (128, 128),
                 orientations: int = 9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                 block_norm: str = "L2-Hys") -> np.ndarray:
    """Histogram of oriented gradients of one gray image.

    The image is first resized to ``size`` (OpenCV area interpolation), then passed to
    :func:`skimage.feature.hog` with ``feature_vector=True``.

    Why the length depends on the image size: HOG tiles the image into cells of
    ``pixels_per_cell`` and concatenates one normalised histogram per overlapping *block*
    of cells, keeping the spatial layout, so a larger image has more blocks. Resizing every
    image to one ``size`` is what makes the vectors of different images comparable columns.
    The length is ``hog_length(size, orientations, pixels_per_cell, cells_per_block)``:
    ``((H//ph - bh + 1) * (W//pw - bw + 1)) * bh * bw * orientations``, 8100 by default.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Gray image, float in ``[0, 1]``.
    size : (int, int) or None
        ``(height, width)`` to resize to; ``None`` uses the image as it is.
    orientations, pixels_per_cell, cells_per_block, block_norm
        As in :func:`skimage.feature.hog`.

    Returns
    -------
    features : ndarray of shape (hog_length(size, ...),)

    References
    ----------
    Dalal N, Triggs B. Histograms of oriented gradients for human detection. CVPR 2005.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).random((100, 80))
    >>> hog_features(img, size=(64, 64)).shape
    (1764,)
    """
    image = np.asarray(image, dtype=np.float32)
    if size is not None:
        image = _resize_float(image, _pair(size, "size"))
    hog_length(image.shape, orientations, pixels_per_cell, cells_per_block)  # clear error if too small
    return hog(image, orientations=orientations, pixels_per_cell=_pair(pixels_per_cell, "pixels_per_cell"),
               cells_per_block=_pair(cells_per_block, "cells_per_block"), block_norm=block_norm,
               feature_vector=True)


def hog_feature_names(shape: tuple[int, int], orientations: int = 9, pixels_per_cell=(8, 8),
                      cells_per_block=(2, 2)) -> list[str]:
    """Names ``hog.0`` ... ``hog.{n-1}`` for images of (resized) ``shape``.

    Examples
    --------
    >>> hog_feature_names((16, 16))[:2]
    ['hog.0', 'hog.1']
    """
    return [f"hog.{i}" for i in range(hog_length(shape, orientations, pixels_per_cell, cells_per_block))]


def _item_shape(item, index: int) -> tuple[int, int]:
    """Shape of one item, reading the file only when the pixels are not in memory."""
    image = item.image if isinstance(item, ImageRecord) else item
    if isinstance(image, np.ndarray) and image.ndim == 2:
        return image.shape
    return load_item(item, index).image.shape


class HOGFeatures(BaseFeatureExtractor):
    """Histogram of oriented gradients (Dalal & Triggs 2005) as a transformer.

    Every image is resized to ``size`` first (OpenCV area interpolation) because the HOG
    length grows with the image size (one histogram per block of cells, spatial layout
    kept): with a common size every image gives the same columns. The output has
    ``((H//ph - bh + 1) * (W//pw - bw + 1)) * bh * bw * orientations`` columns, 8100 with
    the defaults (128x128, 8x8-pixel cells, 2x2-cell blocks, 9 orientations), named
    ``hog.0`` ... ``hog.8099``.

    Parameters
    ----------
    size : (int, int) or None, default=(128, 128)
        ``(height, width)`` every image (or region) is resized to. ``None`` keeps images as
        they are; then all images must have the size of the first image seen in ``fit``
        (an error names any that differs), and ``region`` must be ``"image"``.
    orientations : int, default=9
    pixels_per_cell : (int, int), default=(8, 8)
    cells_per_block : (int, int), default=(2, 2)
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}, default="L2-Hys"
        As in :func:`skimage.feature.hog`.
    region : {"image", "bbox", "mask"}, default="image"
        HOG needs a rectangle: ``"mask"`` behaves like ``"bbox"`` (the mask's bounding box,
        resized to ``size``).
    empty_mask : {"image", "raise"}, default="image"
        What an empty mask means with ``region != "image"``: use the whole image, or raise.
    n_jobs : int or None, default=None
        Images processed in parallel (joblib).

    Attributes
    ----------
    n_features_out_ : int
    feature_names_out_ : ndarray of str
    size_ : (int, int)
        The size HOG is computed at (``size`` or the fitted image size).

    See Also
    --------
    hog_features : the function for one image.

    Examples
    --------
    >>> import numpy as np
    >>> X = [np.random.default_rng(i).random((60, 50)) for i in range(3)]
    >>> HOGFeatures(size=(32, 32)).fit_transform(X).shape
    (3, 324)
    """

    _prefix = "hog"

    def __init__(self, size=(128, 128), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                 block_norm="L2-Hys", region="image", empty_mask="image", n_jobs=None):
        self.size = size
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs

    def _fit_features(self, items: list) -> list[str]:
        if not isinstance(self.orientations, (int, np.integer)) or self.orientations < 1:
            raise ValueError(f"orientations must be a positive int, got {self.orientations!r}")
        if self.block_norm not in _BLOCK_NORMS:
            raise ValueError(f"block_norm must be one of {_BLOCK_NORMS}, got {self.block_norm!r}")
        _pair(self.pixels_per_cell, "pixels_per_cell")
        _pair(self.cells_per_block, "cells_per_block")
        if self.size is None:
            if self.region != "image":
                raise ValueError("size=None needs region='image': regions differ in size, so HOG "
                                 "lengths would differ; give a size such as (128, 128)")
            self.size_ = tuple(int(s) for s in _item_shape(items[0], 0))
            for i, item in enumerate(items):
                if not isinstance(item, _PathLike):  # in-memory sizes are free to check now
                    shape = _item_shape(item, i)
                    if shape != self.size_:
                        raise ValueError(
                            f"image {i} is {shape[0]}x{shape[1]} but image 0 is "
                            f"{self.size_[0]}x{self.size_[1]}; with size=None all images must "
                            "share one size (or set size=(h, w) to resize them)")
        else:
            self.size_ = _pair(self.size, "size")
        return hog_feature_names(self.size_, self.orientations, self.pixels_per_cell, self.cells_per_block)

    def _features(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        if mask is not None:  # region="mask": HOG needs a rectangle, use the bounding box
            image = image[_bbox(mask)]
        if self.size is None and image.shape != self.size_:
            raise ValueError(
                f"is {image.shape[0]}x{image.shape[1]} but HOGFeatures(size=None) was fitted on "
                f"{self.size_[0]}x{self.size_[1]} images; set size=(h, w) to resize")
        return hog_features(image, size=self.size_, orientations=self.orientations,
                            pixels_per_cell=self.pixels_per_cell, cells_per_block=self.cells_per_block,
                            block_norm=self.block_norm)


# --------------------------------------------------------------------------- LBP
_LBP_METHODS = ("uniform", "ror", "nri_uniform")
_LBP_TAG = {"uniform": "u", "ror": "ror", "nri_uniform": "n"}
_ROR_MAX_POINTS = 16


@lru_cache(maxsize=None)
def _ror_codes(P: int) -> np.ndarray:
    """Sorted codes that skimage's ``method="ror"`` can output for ``P`` points: the smallest
    rotation of every ``P``-bit pattern (binary necklaces; 36 for P=8)."""
    codes = np.arange(2 ** P, dtype=np.int64)
    best = codes.copy()
    mask = (1 << P) - 1
    rot = codes
    for _ in range(P - 1):
        rot = ((rot >> 1) | ((rot & 1) << (P - 1))) & mask
        np.minimum(best, rot, out=best)
    return np.unique(best)


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


def _lbp_config(radii, points, method) -> list[tuple[int, int]]:
    if method not in _LBP_METHODS:
        raise ValueError(f"method must be one of {_LBP_METHODS}, got {method!r}")
    radii = (radii,) if np.isscalar(radii) else tuple(radii)
    if not radii or not all(isinstance(r, (int, np.integer)) and r > 0 for r in radii):
        raise ValueError(f"radii must be positive ints, got {radii!r}")
    if points is None:
        # 8 neighbours per unit of radius samples the circle at about one pixel spacing;
        # "ror" keeps P=8 since its histogram has one bin per rotation class (~2**P / P).
        pts = tuple(8 if method == "ror" else 8 * int(r) for r in radii)
    else:
        pts = (points,) * len(radii) if np.isscalar(points) else tuple(points)
        if len(pts) != len(radii) or not all(isinstance(p, (int, np.integer)) and p >= 2 for p in pts):
            raise ValueError(f"points must be an int >= 2 or one per radius, got {points!r}")
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

    For each radius ``R`` with ``P`` sampling points, :func:`skimage.feature.local_binary_pattern`
    codes every pixel; the histogram of the codes (over ``mask`` pixels only, if a mask is
    given; the codes themselves still see neighbours outside it, and are exactly the codes
    of the whole image) is normalised to sum to 1. Histograms of all radii are concatenated.

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
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != coded.shape:
            raise ValueError(f"mask has shape {mask.shape} but the image has shape {coded.shape}")
        if not mask.any():
            raise ValueError("mask is empty: no pixel to build an LBP histogram from")
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
        codes = local_binary_pattern(coded, P, R, method=method)
        if mask is not None:
            codes = codes[mask]
        codes = codes.astype(np.int64).ravel()
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
    points : int, sequence of int or None, default=None
        Sampling points per radius; ``None`` means ``8 * R`` (8 for ``"ror"``).
    method : {"uniform", "nri_uniform", "ror"}, default="uniform"
    region : {"image", "bbox", "mask"}, default="image"
        ``"mask"``: the codes are those of the whole image (neighbours outside the lesion are
        real pixels) and only the codes of masked pixels are counted.
    empty_mask : {"image", "raise"}, default="image"
    n_jobs : int or None, default=None

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

    def __init__(self, radii=(1, 2, 3), points=None, method="uniform", region="image",
                 empty_mask="image", n_jobs=None):
        self.radii = radii
        self.points = points
        self.method = method
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs

    def _fit_features(self, items: list) -> list[str]:
        return lbp_feature_names(self.radii, self.points, self.method)

    def _features(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return lbp_features(image, mask, radii=self.radii, points=self.points, method=self.method)


# --------------------------------------------------------------------------- GLCM
#: Properties computed by default, in output order.
GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "ASM", "energy", "correlation",
              "mean", "variance", "entropy")
_ALL_GLCM_PROPS = GLCM_PROPS + ("std",)
#: The four directions, as (row, column) steps of one pixel, and their angles in degrees
#: (scikit-image's convention: rows grow downwards). At distance d the offset is d times the
#: step: the diagonal neighbours at d=2 are 2 rows and 2 columns away (Chebyshev distance d).
_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))
_ANGLE_DEGREES = (0, 45, 90, 135)
_MAX_LEVELS = 256
_MAX_PRESENT_LEVELS = 4096  # levels=None: beyond this the matrices (n^2 per angle) get huge


def _check_glcm(levels, distances, props, *, allow_none=False):
    if levels is None and allow_none:
        pass
    elif not isinstance(levels, (int, np.integer)) or not 2 <= levels <= _MAX_LEVELS:
        what = "an int in [2, 256]" + (" or None" if allow_none else "")
        raise ValueError(f"levels must be {what}, got {levels!r}")
    distances = (distances,) if np.isscalar(distances) else tuple(distances)
    if not distances or not all(isinstance(d, (int, np.integer)) and d > 0 for d in distances):
        raise ValueError(f"distances must be positive ints, got {distances!r}")
    props = (props,) if isinstance(props, str) else tuple(props)
    bad = [p for p in props if p not in _ALL_GLCM_PROPS]
    if bad or not props:
        raise ValueError(f"unknown GLCM props {bad}; choose from {_ALL_GLCM_PROPS}")
    return (None if levels is None else int(levels)), tuple(int(d) for d in distances), props


def quantize(image: np.ndarray, levels: int) -> np.ndarray:
    """Quantise a ``[0, 1]`` float image to ``levels`` equal-width bins ``0..levels-1``.

    Bin ``k`` holds ``[k / levels, (k + 1) / levels)``; 1.0 goes to the last bin. With
    ``levels=256`` an 8-bit image scaled to ``[0, 1]`` (``k / 255``) gets back exactly ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> quantize(np.array([[0.0, 0.5, 1.0]]), 4).tolist()
    [[0, 2, 3]]
    """
    q = np.floor(np.clip(np.asarray(image, dtype=np.float64), 0, 1) * levels)
    return np.minimum(q, levels - 1).astype(np.uint8 if levels <= 256 else np.uint16)


def _grey_levels(image: np.ndarray, levels: int | None) -> np.ndarray:
    """Grey levels ``i`` of the GLCM formulas: ``1..levels`` after quantisation, or the values."""
    image = np.asarray(image)
    if levels is None:
        if image.dtype.kind not in "ui":
            raise ValueError(f"levels=None takes the image's values as grey levels, so it needs "
                             f"an integer image; got dtype {image.dtype} (give levels=int to "
                             "quantise a [0, 1] image)")
        if image.size and image.min() < 0:
            raise ValueError("levels=None needs non-negative grey levels; the image has negative values")
        return image.astype(np.int64)
    if image.dtype.kind in "ui":  # as the transformers see it: divided by the dtype's maximum
        image = image / np.float64(np.iinfo(image.dtype).max)
    return quantize(image, levels).astype(np.int64) + 1


def glcm_matrices(image: np.ndarray, mask: np.ndarray | None = None, *, levels: int | None = 32,
                  distances=(1, 2, 4)) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric co-occurrence counts at each distance and direction (0, 45, 90, 135 degrees).

    For direction step ``(dr, dc)`` in ``(0, 1), (1, 1), (1, 0), (1, -1)`` (rows grow
    downwards, scikit-image's angle convention) and distance ``d``, every pair of pixels
    ``(r, c)`` and ``(r + d dr, c + d dc)`` is counted in both orders. The diagonal offsets
    are ``(d, d)`` and ``(d, -d)``: neighbours at Chebyshev distance ``d`` as in Haralick
    (1973), IBSI, pyradiomics and mahotas. The counting is
    :func:`skimage.feature.graycomatrix`'s, called with ``d * sqrt(2)`` on the diagonals: it
    rounds ``d sin(45)``, so a plain call's "d=2" diagonal is the offset ``(1, 1)``. With a
    ``mask``, only pairs whose two pixels are inside it count.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Float image in ``[0, 1]`` or integer image (divided by its dtype's maximum, as the
        transformers do) when ``levels`` is an int; integer grey levels when ``levels=None``.
    mask : ndarray of bool, optional
    levels : int in [2, 256] or None, default=32
        Equal-width bins over ``[0, 1]``, numbered ``1..levels`` (IBSI numbering); ``None``:
        no quantisation, the image's values are the grey levels (IBSI "no discretisation").
    distances : sequence of int, default=(1, 2, 4)

    Returns
    -------
    counts : ndarray of shape (n_grey, n_grey, len(distances), 4)
        Symmetric counts (each pair counted twice), over the grey levels present in the
        region (rows of absent levels would be all zero and change no property).
    grey : ndarray of int of shape (n_grey,)
        The grey level of each row.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.array([[1, 1, 2], [1, 2, 2], [2, 2, 2]], dtype=np.uint8)
    >>> counts, grey = glcm_matrices(img, levels=None, distances=(2,))
    >>> grey.tolist(), counts[:, :, 0, 1].tolist()  # 45 degrees: only (0, 0)-(2, 2), levels 1-2
    ([1, 2], [[0, 1], [1, 0]])
    """
    levels, distances, _ = _check_glcm(levels, distances, GLCM_PROPS, allow_none=True)
    g = _grey_levels(image, levels)
    if g.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {g.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != g.shape:
            raise ValueError(f"mask has shape {mask.shape} but the image has shape {g.shape}")
        if not mask.any():
            raise ValueError("mask is empty: no pixel pair to build a co-occurrence matrix from")
        sl = _bbox(mask)  # the bounding box holds every inside pair
        g, mask = g[sl], mask[sl]
    values = g if mask is None else g[mask]
    top = int(values.max())
    if top < 1 << 20:  # one counting pass and a look-up table: much faster than np.unique's sort
        grey = np.flatnonzero(np.bincount(values.ravel(), minlength=top + 1))
    else:
        grey = np.unique(values)
    n = len(grey)
    if n > _MAX_PRESENT_LEVELS:
        raise ValueError(f"the region holds {n} grey levels; a co-occurrence matrix over more than "
                         f"{_MAX_PRESENT_LEVELS} is mostly empty: quantise with levels=int")
    # Index image for graycomatrix: 0..n-1, or 1..n with 0 for outside pixels (their row and
    # column are dropped below, so only pairs with both pixels inside are counted).
    shift = 0 if mask is None else 1
    if top < 1 << 20:
        lut = np.zeros(top + 1, dtype=np.int64)
        lut[grey] = np.arange(shift, n + shift)
        index = lut[np.minimum(g, top)]  # outside pixels may exceed top; they are zeroed below
    else:
        index = np.searchsorted(grey, g) + shift
    if mask is not None:
        index[~mask] = 0
    n_index = n + shift
    index = index.astype(np.uint8 if n_index <= 256 else np.uint16)
    d = np.asarray(distances, dtype=np.float64)
    # graycomatrix offsets are (round(d sin a), round(d cos a)): d * sqrt(2) on the diagonals
    # makes them (d, d) and (d, -d) instead of (1, 1) at d=2 and (3, 3) at d=4.
    axial = graycomatrix(index, d, [0.0, np.pi / 2], levels=n_index, symmetric=True)
    diagonal = graycomatrix(index, d * np.sqrt(2), [np.pi / 4, 3 * np.pi / 4], levels=n_index,
                            symmetric=True)
    counts = np.stack([axial[..., 0], diagonal[..., 0], axial[..., 1], diagonal[..., 1]], axis=-1)
    counts = counts[shift:, shift:].astype(np.int64)
    return counts, grey


def _glcm_props(counts: np.ndarray, grey: np.ndarray, props: Sequence[str]) -> np.ndarray:
    """Properties of every matrix: (len(props), n_distances, n_angles)."""
    p = counts / counts.sum(axis=(0, 1), keepdims=True)
    grey = np.asarray(grey, dtype=np.float64)
    i = grey[:, None, None, None]
    j = grey[None, :, None, None]
    diff = i - j
    mean = np.sum(i * p, axis=(0, 1))  # = the mean of j: the matrices are symmetric
    var = np.sum((i - mean) ** 2 * p, axis=(0, 1))
    out = []
    for prop in props:
        if prop == "contrast":
            v = np.sum(diff ** 2 * p, axis=(0, 1))
        elif prop == "dissimilarity":
            v = np.sum(np.abs(diff) * p, axis=(0, 1))
        elif prop == "homogeneity":
            v = np.sum(p / (1.0 + diff ** 2), axis=(0, 1))
        elif prop in ("ASM", "energy"):
            v = np.sum(p * p, axis=(0, 1))
            v = np.sqrt(v) if prop == "energy" else v
        elif prop == "correlation":
            cov = np.sum((i - mean) * (j - mean) * p, axis=(0, 1))
            flat = var < 1e-30  # one grey level only: scikit-image's convention, correlation 1
            v = np.where(flat, 1.0, cov / np.where(flat, 1.0, var))
        elif prop == "mean":
            v = mean
        elif prop == "variance":
            v = var
        elif prop == "std":
            v = np.sqrt(var)
        else:  # entropy, in bits
            v = -np.sum(p * np.log2(p, where=p > 0, out=np.zeros_like(p)), axis=(0, 1)) + 0.0
        out.append(v)
    return np.stack(out)


def glcm_features(image: np.ndarray, mask: np.ndarray | None = None, *, levels: int | None = 32,
                  distances=(1, 2, 4), props: Sequence[str] = GLCM_PROPS) -> np.ndarray:
    """Gray-level co-occurrence (Haralick) texture statistics of one gray image.

    The image is quantised to ``levels`` equal-width grey levels over ``[0, 1]``, numbered
    ``1..levels`` (IBSI's numbering; ``levels=None`` takes an integer image's values as the
    grey levels, IBSI's "no discretisation"). A symmetric GLCM is counted for every distance
    ``d`` at 0, 45, 90 and 135 degrees (:func:`glcm_matrices`; the diagonal offsets are
    ``(d, d)`` and ``(d, -d)``, Chebyshev distance ``d``), each property is computed per
    matrix and summarised over the four angles by its mean and its range (max - min), as
    Haralick suggests for rotation-robust features.

    With a ``mask``, only pairs of pixels that are *both* inside the mask are counted.

    Properties, with ``p(i, j)`` the normalised matrix, ``i, j`` grey levels, ``mu`` and
    ``sigma^2`` the mean and variance of ``i`` under ``p`` (IBSI names and codes, Zwanenburg et
    al. 2020, in brackets):

    ========================= ========================================================
    ``contrast``              ``sum (i - j)^2 p`` (contrast, ACUI)
    ``dissimilarity``         ``sum |i - j| p`` (dissimilarity, 8S9J)
    ``homogeneity``           ``sum p / (1 + (i - j)^2)`` (inverse difference moment, WF0Z)
    ``ASM``                   ``sum p^2`` (angular second moment, 8ZQL)
    ``energy``                ``sqrt(ASM)`` (no IBSI feature)
    ``correlation``           ``sum (i - mu)(j - mu) p / sigma^2`` (correlation, NI2N);
                              1 for a region of one grey level (scikit-image's convention)
    ``mean``                  ``mu = sum i p`` (joint average, 60VM): grey levels counted
                              from 1, as IBSI does (:func:`skimage.feature.graycoprops`
                              counts from 0: its mean is 1 lower)
    ``variance``, ``std``     ``sigma^2`` (joint variance, UR99) and ``sigma``
    ``entropy``               ``-sum p log2 p``, in bits (joint entropy, TU9B;
                              :func:`~skimage.feature.graycoprops` uses the natural log)
    ========================= ========================================================

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Float image in ``[0, 1]`` (an integer image is divided by its dtype's maximum, as
        the transformers do); with ``levels=None``, an integer image of grey levels.
    mask : ndarray of bool, optional
    levels : int in [2, 256] or None, default=32
        Grey levels after quantisation. 256 keeps an 8-bit image's 256 values exactly.
    distances : sequence of int, default=(1, 2, 4)
        Chebyshev distances of the pixel pairs.
    props : sequence of str, default=GLCM_PROPS
        Any of the properties above.

    Returns
    -------
    features : ndarray of shape (len(distances) * len(props) * 2,)
        Ordered by distance, then property, then (mean, range): 54 values with the defaults.

    References
    ----------
    Haralick RM, Shanmugam K, Dinstein I. Textural features for image
    classification. IEEE Trans. Systems, Man, and Cybernetics SMC-3(6):610-621, 1973.
    doi:10.1109/TSMC.1973.4309314

    Zwanenburg A et al. The Image Biomarker Standardization Initiative: standardized
    quantitative radiomics for high-throughput image-based phenotyping. Radiology
    295(2):328-338, 2020. doi:10.1148/radiol.2020191145

    Examples
    --------
    >>> import numpy as np
    >>> glcm_features(np.random.default_rng(0).random((32, 32))).shape
    (54,)
    >>> img = np.array([[1, 1, 2], [1, 2, 2], [2, 2, 2]], dtype=np.uint8)
    >>> glcm_features(img, levels=None, distances=(1,), props=("mean",)).round(3).tolist()
    [1.677, 0.125]
    """
    levels, distances, props = _check_glcm(levels, distances, props, allow_none=True)
    counts, grey = glcm_matrices(image, mask, levels=levels, distances=distances)
    totals = counts.sum(axis=(0, 1))
    if np.any(totals == 0):
        k, a = np.argwhere(totals == 0)[0]
        raise ValueError(f"no pair of pixels at distance {distances[k]} and angle "
                         f"{_ANGLE_DEGREES[a]} degrees lies inside the region; "
                         "use smaller distances or a larger mask")
    values = _glcm_props(counts, grey, props)  # (n_props, n_distances, 4)
    out = np.stack([values.mean(axis=2), np.ptp(values, axis=2)], axis=-1)  # (props, dist, 2)
    return out.transpose(1, 0, 2).ravel()


def glcm_feature_names(distances=(1, 2, 4), props: Sequence[str] = GLCM_PROPS) -> list[str]:
    """Names ``glcm.d{d}.{prop}.{mean|range}`` in output order.

    Examples
    --------
    >>> glcm_feature_names((1,), ("contrast",))
    ['glcm.d1.contrast.mean', 'glcm.d1.contrast.range']
    """
    _, distances, props = _check_glcm(2, distances, props)
    return [f"glcm.d{d}.{p}.{s}" for d in distances for p in props for s in ("mean", "range")]


class GLCMFeatures(BaseFeatureExtractor):
    """Gray-level co-occurrence (Haralick 1973) texture statistics as a transformer.

    Quantise to ``levels`` gray levels (numbered ``1..levels``), count symmetric
    co-occurrence matrices at each distance ``d`` and at 0/45/90/135 degrees (diagonal
    offsets ``(d, d)``: Chebyshev distance ``d``, as Haralick and IBSI), compute each
    property and summarise it over the angles by mean and range (rotation-robust). Output:
    ``len(distances) * len(props) * 2`` columns (54 by default) named like
    ``glcm.d1.contrast.mean``. :func:`glcm_features` gives each property's formula and its
    IBSI name (``mean`` is IBSI's joint average, ``entropy`` its joint entropy in bits).

    Quantisation covers ``[0, 1]``, the scale featbus gives every image (integers divided by
    their dtype's maximum); 12-bit data stored as ``uint16`` would use only ``levels / 16``
    levels, so put :class:`~featbus.Normalize` before this step for them. ``levels=256``
    keeps the 256 values of 8-bit images exactly (no quantisation).

    Parameters
    ----------
    levels : int in [2, 256], default=32
    distances : sequence of int, default=(1, 2, 4)
    props : sequence of str, default=GLCM_PROPS
        Any of ``contrast, dissimilarity, homogeneity, ASM, energy, correlation, mean,
        variance, std, entropy``. A constant region has correlation 1 (scikit-image's
        convention) and contrast 0.
    region : {"image", "bbox", "mask"}, default="image"
        ``"mask"``: only pixel pairs with both pixels inside the mask are counted. A mask
        with no pair at some distance raises an error naming the image.
    empty_mask : {"image", "raise"}, default="image"
    n_jobs : int or None, default=None

    See Also
    --------
    glcm_features : the function for one image (it also takes ``levels=None`` for images that
        already hold integer grey levels).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((3, 32, 32))
    >>> GLCMFeatures(distances=(1,), props=("contrast", "energy")).fit_transform(X).shape
    (3, 4)
    """

    _prefix = "glcm"

    def __init__(self, levels=32, distances=(1, 2, 4), props=GLCM_PROPS, region="image",
                 empty_mask="image", n_jobs=None):
        self.levels = levels
        self.distances = distances
        self.props = props
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs

    def _fit_features(self, items: list) -> list[str]:
        _check_glcm(self.levels, self.distances, self.props)
        return glcm_feature_names(self.distances, self.props)

    def _features(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return glcm_features(image, mask, levels=self.levels, distances=self.distances, props=self.props)
