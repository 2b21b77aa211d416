"""GLCM: grey-level co-occurrence (Haralick) statistics with IBSI definitions.

:func:`glcm_matrices` counts the symmetric co-occurrence matrices with
:func:`skimage.feature.graycomatrix`, but with the diagonal offsets ``(d, d)`` of Haralick and
IBSI (it passes ``d * sqrt(2)`` on the diagonals; scikit-image's own rounding makes the
diagonal at ``d=2`` the offset ``(1, 1)``); :func:`glcm_features` computes the properties with
IBSI's definitions (grey levels counted from 1, entropy in bits): at ``d=1`` they equal
:func:`skimage.feature.graycoprops` up to those two documented conventions.
``tests/test_ibsi.py`` checks them against the IBSI consensus values.
:class:`GLCMFeatures` wraps them for batches (:class:`~featbus._base.BaseFeatureExtractor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
from skimage.feature import graycomatrix

from .._base import BaseFeatureExtractor
from .._compat import Interval
from .._docs import fill_doc
from .._records import mask_bbox, region_mask

__all__ = ["glcm_features", "glcm_matrices", "glcm_feature_names", "quantize", "GLCMFeatures", "GLCM_PROPS"]


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
#: Bounds of ``distances`` (pixels; number of them): the matrices are levels x levels x
#: len(distances) x 4 angles, so at most 256 * 256 * 32 * 4 counts (67 MB) per image.
_MAX_DISTANCE = 1024
_MAX_DISTANCES = 32


def _check_glcm(levels, distances, props, *, allow_none=False):
    if levels is None and allow_none:
        pass
    elif not isinstance(levels, (int, np.integer)) or not 2 <= levels <= _MAX_LEVELS:
        what = "an int in [2, 256]" + (" or None" if allow_none else "")
        raise ValueError(f"levels must be {what}, got {levels!r}")
    distances = (distances,) if np.isscalar(distances) else tuple(distances)
    if not distances or len(distances) > _MAX_DISTANCES or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 < d <= _MAX_DISTANCE
            for d in distances):
        raise ValueError(f"distances must be 1 to {_MAX_DISTANCES} ints in [1, {_MAX_DISTANCE}] (pixels), "
                         f"got {distances!r}")
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
        mask = region_mask(mask, g.shape, empty="mask is empty: no pixel pair to build a co-occurrence matrix from")
        sl = mask_bbox(mask)  # the bounding box holds every inside pair
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


@fill_doc
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
        At most 32 distances, each in [1, 1024] pixels.
    props : sequence of str, default=GLCM_PROPS
        Any of ``contrast, dissimilarity, homogeneity, ASM, energy, correlation, mean,
        variance, std, entropy``. A constant region has correlation 1 (scikit-image's
        convention) and contrast 0.
    region : {"image", "bbox", "mask"}, default="image"
        ``"mask"``: only pixel pairs with both pixels inside the mask are counted. A mask
        with no pair at some distance raises an error naming the image.
    %(empty_mask)s
    %(n_jobs)s
    %(cache)s
    %(progress)s

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

    _parameter_constraints = {
        "levels": [Interval(Integral, 2, _MAX_LEVELS, closed="both")],
        "distances": [Interval(Integral, 1, _MAX_DISTANCE, closed="both"), tuple, list],
        "props": [tuple, list],
        **BaseFeatureExtractor._parameter_constraints,
    }

    def __init__(self, levels=32, *, distances=(1, 2, 4), props=GLCM_PROPS, region="image",
                 empty_mask="image", n_jobs=None, cache=None, progress="auto"):
        self.levels = levels
        self.distances = distances
        self.props = props
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _check_rules(self) -> None:
        _check_glcm(self.levels, self.distances, self.props)  # the elements of distances and props

    def _fit_features(self, items: list) -> list[str]:
        return glcm_feature_names(self.distances, self.props)

    def _features(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return glcm_features(image, mask, levels=self.levels, distances=self.distances, props=self.props)
