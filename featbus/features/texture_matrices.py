"""IBSI texture matrices in 2-D: run length, size zone, distance zone, neighbourhood grey tone
difference and neighbouring grey level dependence.

Each family follows the definitions of the Image Biomarker Standardisation Initiative
(IBSI; Zwanenburg et al. 2020, doi:10.1148/radiol.2020191145) and is checked against IBSI's
consensus values on its digital phantom (``tests/test_ibsi_texture.py``). Each is a plain
function (one image and optional mask -> 1-D vector), a ``*_feature_names`` helper and a
transformer built on :class:`~featbus._base.BaseFeatureExtractor` (``region``, ``n_jobs``,
feature names, ``set_output``).

======================  =========  ==========================================================
family                  features   matrix
======================  =========  ==========================================================
:class:`GLRLMFeatures`  16         runs of equal grey level along 4 directions (Galloway 1975)
:class:`GLSZMFeatures`  16         8-connected zones of equal grey level (Thibault et al. 2013)
:class:`GLDZMFeatures`  16         zones by their distance to the region's edge (Thibault 2013)
:class:`NGTDMFeatures`  5          grey level vs. difference to the neighbours' mean
                                   (Amadasun & King 1989)
:class:`GLDMFeatures`   17         grey level vs. number of equal neighbours (NGLDM, Sun & Wee
                                   1983; "GLDM" in pyradiomics)
======================  =========  ==========================================================

Discretisation (IBSI chapter 2.7), shared by all families:

* ``bins=N`` (default 32), IBSI "fixed bin number": ``floor(N (x - min) / (max - min)) + 1``
  with ``min``/``max`` over the region, the maximum mapped to ``N``; a constant region is all
  level 1. Every image uses its own range, IBSI's advice for intensities without a physical
  unit (ultrasound, mammography).
* ``bin_width=w`` (``bins`` ignored), IBSI "fixed bin size" on featbus' ``[0, 1]`` scale:
  ``floor(x / w) + 1``: the same intensity gets the same level in every image.
* ``bins=None, bin_width=None`` (functions only): the image already holds integer grey levels
  ``>= 1`` and is used as is (the IBSI phantom, or a user's own discretisation).

The grey level ``i`` in the formulas is the discretised level ``1..N_g``. Only pixels inside the
region count: runs, zones and neighbourhoods stop at the mask's edge (IBSI's convention).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy import ndimage

from .._base import BaseFeatureExtractor
from .._compat import Interval, StrOptions
from .._docs import fill_doc
from .._records import region_mask

__all__ = [
    "discretise",
    "glrlm_matrices", "glrlm_features", "glrlm_feature_names", "GLRLMFeatures",
    "glszm_matrix", "glszm_features", "glszm_feature_names", "GLSZMFeatures",
    "gldzm_matrix", "gldzm_features", "gldzm_feature_names", "GLDZMFeatures",
    "ngtdm_matrix", "ngtdm_features", "ngtdm_feature_names", "NGTDMFeatures",
    "gldm_matrix", "gldm_features", "gldm_feature_names", "GLDMFeatures",
    "GLRLM_FEATURES", "GLSZM_FEATURES", "GLDZM_FEATURES", "NGTDM_FEATURES", "GLDM_FEATURES",
]

# IBSI feature names (reference manual, snake_case), in the manual's order.
GLRLM_FEATURES = (
    "short_runs_emphasis", "long_runs_emphasis", "low_grey_level_run_emphasis",
    "high_grey_level_run_emphasis", "short_run_low_grey_level_emphasis",
    "short_run_high_grey_level_emphasis", "long_run_low_grey_level_emphasis",
    "long_run_high_grey_level_emphasis", "grey_level_non_uniformity",
    "normalised_grey_level_non_uniformity", "run_length_non_uniformity",
    "normalised_run_length_non_uniformity", "run_percentage", "grey_level_variance",
    "run_length_variance", "run_entropy",
)
GLSZM_FEATURES = (
    "small_zone_emphasis", "large_zone_emphasis", "low_grey_level_zone_emphasis",
    "high_grey_level_zone_emphasis", "small_zone_low_grey_level_emphasis",
    "small_zone_high_grey_level_emphasis", "large_zone_low_grey_level_emphasis",
    "large_zone_high_grey_level_emphasis", "grey_level_non_uniformity",
    "normalised_grey_level_non_uniformity", "zone_size_non_uniformity",
    "normalised_zone_size_non_uniformity", "zone_percentage", "grey_level_variance",
    "zone_size_variance", "zone_size_entropy",
)
GLDZM_FEATURES = (
    "small_distance_emphasis", "large_distance_emphasis", "low_grey_level_zone_emphasis",
    "high_grey_level_zone_emphasis", "small_distance_low_grey_level_emphasis",
    "small_distance_high_grey_level_emphasis", "large_distance_low_grey_level_emphasis",
    "large_distance_high_grey_level_emphasis", "grey_level_non_uniformity",
    "normalised_grey_level_non_uniformity", "zone_distance_non_uniformity",
    "normalised_zone_distance_non_uniformity", "zone_percentage", "grey_level_variance",
    "zone_distance_variance", "zone_distance_entropy",
)
NGTDM_FEATURES = ("coarseness", "contrast", "busyness", "complexity", "strength")
GLDM_FEATURES = (
    "low_dependence_emphasis", "high_dependence_emphasis", "low_grey_level_count_emphasis",
    "high_grey_level_count_emphasis", "low_dependence_low_grey_level_emphasis",
    "low_dependence_high_grey_level_emphasis", "high_dependence_low_grey_level_emphasis",
    "high_dependence_high_grey_level_emphasis", "grey_level_non_uniformity",
    "normalised_grey_level_non_uniformity", "dependence_count_non_uniformity",
    "normalised_dependence_count_non_uniformity", "dependence_count_percentage",
    "grey_level_variance", "dependence_count_variance", "dependence_count_entropy",
    "dependence_count_energy",
)

#: The 4 in-plane directions of IBSI, (row step, column step): 0, 45, 90 and 135 degrees.
DIRECTIONS = ((0, 1), (-1, 1), (1, 0), (1, 1))
_AGGREGATIONS = ("average", "merge")
#: Coarseness of a region without any grey-tone difference (its formula divides by zero);
#: the value pyradiomics uses, so that the feature stays finite and orders such regions last.
UNIFORM_COARSENESS = 1e6


# --------------------------------------------------------------------------- discretisation
#: The most grey levels a discretisation gives: every matrix has one row per level, so
#: ``bins`` is at most this and ``bin_width`` (on the ``[0, 1]`` scale) at least its inverse.
_MAX_BINS = 1024
_MIN_BIN_WIDTH = 1 / _MAX_BINS


def _check_discretisation(bins, bin_width, *, allow_none: bool = True):
    if bin_width is not None:
        if isinstance(bin_width, bool) or not isinstance(bin_width, (int, float, np.floating)) \
                or not _MIN_BIN_WIDTH <= float(bin_width) <= 1:
            raise ValueError(f"bin_width must be a number in [1/{_MAX_BINS}, 1] (images are scaled to [0, 1], "
                             f"so at most {_MAX_BINS} grey levels), got {bin_width!r}")
        return None, float(bin_width)
    if bins is None:
        if not allow_none:
            raise ValueError("set bins (fixed bin number) or bin_width (fixed bin size); "
                             "bins=None and bin_width=None is only for already discretised images")
        return None, None
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or not 2 <= bins <= _MAX_BINS:
        raise ValueError(f"bins must be an int in [2, {_MAX_BINS}], got {bins!r}")
    return int(bins), None


def _region(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return np.ones(np.shape(image), dtype=bool)
    return region_mask(mask, np.shape(image), empty="the mask is empty: no pixel to compute texture on")


def discretise(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
               bin_width: float | None = None) -> tuple[np.ndarray, int]:
    """Discretise an image to grey levels ``1..n_levels`` inside the region, 0 outside.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Float image in ``[0, 1]``; with ``bins=None, bin_width=None``, integer grey levels >= 1.
    mask : ndarray of bool, optional
        Region; ``None`` is the whole image.
    bins : int or None, default=32
        Fixed bin number over the region's intensity range (IBSI "FBN"), at most 1024.
    bin_width : float, optional
        Fixed bin size on the ``[0, 1]`` scale (IBSI "FBS"), at least 1/1024 (so at most 1024
        grey levels, as ``bins``); overrides ``bins``.

    Returns
    -------
    levels : ndarray of int32, shape (h, w)
        Grey level of each region pixel, 0 outside the region.
    n_levels : int
        Number of grey levels ``N_g`` (``bins`` for FBN; the highest level present otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> levels, n = discretise(np.array([[0.0, 0.25], [0.5, 1.0]]), bins=4)
    >>> levels.tolist(), n
    ([[1, 2], [3, 4]], 4)
    >>> discretise(np.array([[0.0, 0.25], [0.5, 1.0]]), bin_width=0.3)[0].tolist()
    [[1, 1], [2, 4]]
    """
    bins, bin_width = _check_discretisation(bins, bin_width)
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {image.shape}")
    region = _region(image, mask)
    x = image.astype(np.float64)
    inside = x[region]
    if bin_width is not None:
        q = np.floor(x / bin_width).astype(np.int64) + 1
        q = np.maximum(q, 1)
    elif bins is not None:
        lo, hi = float(inside.min()), float(inside.max())
        if hi > lo:
            q = np.floor(bins * (x - lo) / (hi - lo)).astype(np.int64) + 1
            q = np.clip(q, 1, bins)
        else:
            q = np.ones(x.shape, np.int64)  # a constant region is one grey level
    else:
        if np.any(inside != np.round(inside)) or inside.min() < 1:
            raise ValueError("with bins=None and bin_width=None the image must hold integer grey "
                             "levels >= 1 inside the region; set bins or bin_width to discretise")
        q = np.round(x).astype(np.int64)
    levels = np.where(region, q, 0).astype(np.int32)
    n_levels = bins if bins is not None else int(levels.max())
    return levels, n_levels


def _levels(image, mask, bins, bin_width):
    levels, n_levels = discretise(image, mask, bins=bins, bin_width=bin_width)
    return levels, n_levels


def _count_matrix(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Histogram of (row, col) pairs, 1-based, as an (n_rows, n_cols) float matrix."""
    flat = (rows.astype(np.int64) - 1) * n_cols + (cols.astype(np.int64) - 1)
    return np.bincount(flat, minlength=n_rows * n_cols).astype(np.float64).reshape(n_rows, n_cols)


# --------------------------------------------------------------------------- shared statistics
def _size_matrix_features(M: np.ndarray, n_voxels: int, *, energy: bool = False) -> np.ndarray:
    """The 16 (17 with ``energy``) IBSI statistics shared by run, zone and dependence matrices.

    ``M[i-1, j-1]`` counts items (runs, zones, dependence centres) of grey level ``i`` and size
    ``j``; the order is IBSI's: small/large-size emphasis, low/high grey level emphasis, the four
    joint emphases, grey-level and size non-uniformity (plain and normalised), percentage,
    grey-level and size variance, entropy (base 2) [, energy].
    """
    n_s = M.sum()
    if n_s <= 0:
        raise ValueError("the texture matrix is empty")
    i = np.arange(1, M.shape[0] + 1, dtype=np.float64)[:, None]
    j = np.arange(1, M.shape[1] + 1, dtype=np.float64)[None, :]
    p = M / n_s
    r_i = M.sum(axis=1)
    r_j = M.sum(axis=0)
    i2, j2 = i * i, j * j
    mu_i = (i * p).sum()
    mu_j = (j * p).sum()
    nz = p[p > 0]
    out = [
        (p / j2).sum(), (p * j2).sum(), (p / i2).sum(), (p * i2).sum(),
        (p / (i2 * j2)).sum(), (p * i2 / j2).sum(), (p * j2 / i2).sum(), (p * i2 * j2).sum(),
        (r_i ** 2).sum() / n_s, (r_i ** 2).sum() / n_s ** 2,
        (r_j ** 2).sum() / n_s, (r_j ** 2).sum() / n_s ** 2,
        n_s / n_voxels,
        (p * (i - mu_i) ** 2).sum(), (p * (j - mu_j) ** 2).sum(),
        -(nz * np.log2(nz)).sum(),
    ]
    if energy:
        out.append((p * p).sum())
    return np.asarray(out)


# --------------------------------------------------------------------------- GLRLM
def _check_aggregation(aggregation: str) -> str:
    if aggregation not in _AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {_AGGREGATIONS}, got {aggregation!r}")
    return aggregation


def _lines(levels: np.ndarray, direction: tuple[int, int]) -> np.ndarray:
    """The image's lines along ``direction`` as one 1-D sequence, lines separated by zeros.

    Diagonals are made into columns by shifting row ``r`` by ``r`` (or ``h-1-r``) columns, so
    every direction becomes a column scan of a padded array: no per-pixel Python loop.
    """
    h, w = levels.shape
    if direction == (0, 1):
        grid = np.zeros((h, w + 1), levels.dtype)
        grid[:, :w] = levels
        return grid.ravel()
    if direction == (1, 0):
        grid = np.zeros((w, h + 1), levels.dtype)
        grid[:, :h] = levels.T
        return grid.ravel()
    skew = np.zeros((h + 1, w + h), levels.dtype)  # extra zero row ends each diagonal
    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    shift = rows if direction == (-1, 1) else (h - 1 - rows)  # anti-diagonal / main diagonal
    skew[rows, cols + shift] = levels
    return skew.T.ravel()


def _runs(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grey level, length) of every run of equal non-zero values in a 1-D sequence."""
    starts = np.flatnonzero(np.diff(seq, prepend=0) != 0)
    lengths = np.diff(np.append(starts, seq.size))
    lv = seq[starts]
    keep = lv > 0
    return lv[keep], lengths[keep]


def glrlm_matrices(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
                   bin_width: float | None = None) -> tuple[np.ndarray, int]:
    """Grey-level run-length matrices of one image, one per direction.

    Returns
    -------
    matrices : ndarray of shape (4, n_levels, max_run_length)
        ``matrices[d, i-1, j-1]`` = number of runs of grey level ``i`` and length ``j`` along
        direction ``d`` of :data:`DIRECTIONS` (0, 45, 90, 135 degrees). Runs stop at the
        region's edge.
    n_voxels : int
        Pixels in the region (``N_v``).

    Examples
    --------
    >>> import numpy as np
    >>> M, n_v = glrlm_matrices(np.array([[1, 1, 2], [2, 2, 2]]), bins=None)
    >>> M[0].tolist()  # horizontal: a run of two 1s, a 2, a run of three 2s
    [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    """
    levels, n_levels = _levels(image, mask, bins, bin_width)
    out = []
    for d in DIRECTIONS:
        lv, ln = _runs(_lines(levels, d))
        out.append((lv, ln))
    max_len = max(int(ln.max()) for _, ln in out)
    M = np.stack([_count_matrix(lv, ln, n_levels, max_len) for lv, ln in out])
    return M, int(np.count_nonzero(levels))


def glrlm_features(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
                   bin_width: float | None = None, aggregation: str = "average") -> np.ndarray:
    """Grey-level run-length (GLRLM) features of one image, IBSI definitions.

    A run is a maximal line of consecutive pixels with the same grey level along one of the four
    directions 0, 45, 90, 135 degrees, inside the region. One matrix per direction.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Float image in ``[0, 1]`` (integer grey levels >= 1 when ``bins=bin_width=None``).
    mask : ndarray of bool, optional
        Region; runs stop at its edge. ``None`` is the whole image.
    bins, bin_width
        Discretisation (see :func:`discretise`).
    aggregation : {"average", "merge"}, default="average"
        ``"average"``: features of each directional matrix, averaged (IBSI "2D, averaged",
        BTW3); ``"merge"``: features of the sum of the four matrices (IBSI "2D, merged", SUJT),
        with ``N_v`` counted four times for the run percentage.

    Returns
    -------
    features : ndarray of shape (16,)
        In the order of :data:`GLRLM_FEATURES`.

    References
    ----------
    Galloway MM. Texture analysis using gray level run lengths. Computer Graphics and Image
    Processing 4(2):172-179, 1975. doi:10.1016/S0146-664X(75)80008-6.
    Zwanenburg A et al. The Image Biomarker Standardization Initiative. Radiology
    295(2):328-338, 2020. doi:10.1148/radiol.2020191145.

    Examples
    --------
    >>> import numpy as np
    >>> f = glrlm_features(np.random.default_rng(0).random((32, 32)))
    >>> f.shape, bool(0 < f[0] <= 1)  # short runs emphasis lies in (0, 1]
    ((16,), True)
    """
    aggregation = _check_aggregation(aggregation)
    M, n_v = glrlm_matrices(image, mask, bins=bins, bin_width=bin_width)
    if aggregation == "merge":
        return _size_matrix_features(M.sum(axis=0), 4 * n_v)
    return np.mean([_size_matrix_features(m, n_v) for m in M], axis=0)


def glrlm_feature_names(aggregation: str = "average") -> list[str]:
    """Names ``glrlm.{ibsi_name}.{mean|merged}``.

    Examples
    --------
    >>> glrlm_feature_names()[:2]
    ['glrlm.short_runs_emphasis.mean', 'glrlm.long_runs_emphasis.mean']
    """
    suffix = {"average": "mean", "merge": "merged"}[_check_aggregation(aggregation)]
    return [f"glrlm.{name}.{suffix}" for name in GLRLM_FEATURES]


# --------------------------------------------------------------------------- zones: GLSZM, GLDZM
def _zones(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label the 8-connected zones of equal grey level, all levels in one pass.

    Returns the label image (0 outside the region) and, per zone ``1..n``, its grey level and
    size. :func:`skimage.measure.label` joins neighbours only when their values are equal, so a
    single call labels every grey level at once.
    """
    from skimage.measure import label

    labels = label(levels, background=0, connectivity=2)
    n = int(labels.max())
    zone_level = np.zeros(n + 1, np.int64)
    zone_level[labels.ravel()] = levels.ravel()  # every pixel of a zone has the zone's level
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    return labels, zone_level[1:], sizes[1:]


def glszm_matrix(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
                 bin_width: float | None = None) -> tuple[np.ndarray, int]:
    """Grey-level size-zone matrix: ``M[i-1, j-1]`` = zones of grey level ``i`` and ``j`` pixels.

    Zones are 8-connected (Chebyshev distance 1) groups of equal grey level inside the region.

    Returns
    -------
    matrix : ndarray of shape (n_levels, largest_zone)
    n_voxels : int

    Examples
    --------
    >>> import numpy as np
    >>> M, n_v = glszm_matrix(np.array([[1, 1, 2], [2, 1, 2]]), bins=None)
    >>> M.tolist()  # 1s: one zone of three (diagonal links count); 2s: a single and a pair
    [[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    levels, n_levels = _levels(image, mask, bins, bin_width)
    _, lv, sizes = _zones(levels)
    return _count_matrix(lv, sizes, n_levels, int(sizes.max())), int(np.count_nonzero(levels))


def glszm_features(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
                   bin_width: float | None = None) -> np.ndarray:
    """Grey-level size-zone (GLSZM) features of one image, IBSI definitions.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    mask : ndarray of bool, optional
    bins, bin_width
        Discretisation (see :func:`discretise`).

    Returns
    -------
    features : ndarray of shape (16,)
        In the order of :data:`GLSZM_FEATURES`. Zones are rotation invariant: one matrix per
        image (IBSI "2D", 8QNN).

    References
    ----------
    Thibault G, Angulo J, Meyer F. Advanced statistical matrices for texture characterization:
    application to cell classification. IEEE Trans. Biomedical Engineering 61(3):630-637, 2014
    (online 2013). doi:10.1109/TBME.2013.2284600.

    Examples
    --------
    >>> import numpy as np
    >>> glszm_features(np.random.default_rng(0).random((32, 32))).shape
    (16,)
    """
    M, n_v = glszm_matrix(image, mask, bins=bins, bin_width=bin_width)
    return _size_matrix_features(M, n_v)


def glszm_feature_names() -> list[str]:
    """Names ``glszm.{ibsi_name}``.

    Examples
    --------
    >>> glszm_feature_names()[0]
    'glszm.small_zone_emphasis'
    """
    return [f"glszm.{name}" for name in GLSZM_FEATURES]


def _edge_distance(region: np.ndarray) -> np.ndarray:
    """IBSI distance to the region's edge: 4-connected (Manhattan), edge pixels at 1.

    Equal to the number of erosions by a cross that a pixel survives, plus one; pixels outside
    the image count as outside the region.
    """
    padded = np.pad(region, 1, constant_values=False)
    return ndimage.distance_transform_cdt(padded, metric="taxicab")[1:-1, 1:-1]


def gldzm_matrix(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
                 bin_width: float | None = None) -> tuple[np.ndarray, int]:
    """Grey-level distance-zone matrix: ``M[i-1, j-1]`` = zones of grey level ``i`` whose
    smallest distance to the region's edge is ``j``.

    Zones as in :func:`glszm_matrix`; the distance of a pixel is its 4-connected (Manhattan)
    distance to the edge of the region (edge pixels 1), a zone's distance the minimum over its
    pixels (IBSI).

    Returns
    -------
    matrix : ndarray of shape (n_levels, largest_distance)
    n_voxels : int

    Examples
    --------
    >>> import numpy as np
    >>> img = np.ones((5, 5), int)
    >>> img[2, 2] = 2  # the centre is 3 steps from outside the image
    >>> gldzm_matrix(img, bins=None)[0].tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    levels, n_levels = _levels(image, mask, bins, bin_width)
    dist = _edge_distance(levels > 0).astype(np.int64)
    labels, lv, _ = _zones(levels)
    dz = np.full(lv.size + 1, np.iinfo(np.int64).max)
    np.minimum.at(dz, labels.ravel(), dist.ravel())  # a zone's distance: its smallest
    dz = dz[1:]
    return _count_matrix(lv, dz, n_levels, int(dz.max())), int(np.count_nonzero(levels))


def gldzm_features(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
                   bin_width: float | None = None) -> np.ndarray:
    """Grey-level distance-zone (GLDZM) features of one image, IBSI definitions.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    mask : ndarray of bool, optional
        With ``None`` distances are to the image border.
    bins, bin_width
        Discretisation (see :func:`discretise`).

    Returns
    -------
    features : ndarray of shape (16,)
        In the order of :data:`GLDZM_FEATURES`.

    References
    ----------
    Thibault G, Angulo J, Meyer F. Advanced statistical matrices for texture characterization:
    application to cell classification. IEEE Trans. Biomedical Engineering 61(3):630-637, 2014.
    doi:10.1109/TBME.2013.2284600.

    Examples
    --------
    >>> import numpy as np
    >>> gldzm_features(np.random.default_rng(0).random((32, 32))).shape
    (16,)
    """
    M, n_v = gldzm_matrix(image, mask, bins=bins, bin_width=bin_width)
    return _size_matrix_features(M, n_v)


def gldzm_feature_names() -> list[str]:
    """Names ``gldzm.{ibsi_name}``.

    Examples
    --------
    >>> gldzm_feature_names()[0]
    'gldzm.small_distance_emphasis'
    """
    return [f"gldzm.{name}" for name in GLDZM_FEATURES]


# --------------------------------------------------------------------------- neighbourhoods
def _check_distance(distance) -> int:
    if isinstance(distance, bool) or not isinstance(distance, (int, np.integer)) or not 1 <= distance <= 10:
        raise ValueError(f"distance must be an int in [1, 10], got {distance!r}")
    return int(distance)


def _offsets(distance: int):
    r = range(-distance, distance + 1)
    return [(dy, dx) for dy in r for dx in r if (dy, dx) != (0, 0)]


def _shifted(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[y, x] = a[y + dy, x + dx]``, 0 where that lies outside the image."""
    h, w = a.shape
    out = np.zeros_like(a)
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    out[yd, xd] = a[ys, xs]
    return out


def ngtdm_matrix(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
                 bin_width: float | None = None, distance: int = 1):
    """Neighbourhood grey-tone difference matrix (IBSI definition).

    For every region pixel with at least one neighbour in the region (Chebyshev distance
    ``<= distance``, centre excluded, only in-region neighbours count), ``A`` is the mean grey
    level of those neighbours; ``s_i`` sums ``|i - A|`` over the pixels of grey level ``i``.

    Returns
    -------
    s : ndarray of shape (n_levels,)
    n : ndarray of shape (n_levels,)
        Pixels of each grey level that have a neighbour.

    Examples
    --------
    >>> import numpy as np
    >>> s, n = ngtdm_matrix(np.array([[1, 1], [1, 3]]), bins=None)
    >>> s.tolist(), n.tolist()
    ([2.0, 0.0, 2.0], [3.0, 0.0, 1.0])
    """
    distance = _check_distance(distance)
    levels, n_levels = _levels(image, mask, bins, bin_width)
    inside = (levels > 0)
    lv = levels.astype(np.float64)
    total = np.zeros(lv.shape)
    count = np.zeros(lv.shape)
    for dy, dx in _offsets(distance):
        total += _shifted(lv, dy, dx)  # outside pixels are level 0: they add nothing
        count += _shifted(inside, dy, dx)
    valid = inside & (count > 0)
    if not valid.any():
        raise ValueError("no pixel of the region has a neighbour in the region")
    g = levels[valid]
    diff = np.abs(g - total[valid] / count[valid])
    s = np.bincount(g - 1, weights=diff, minlength=n_levels)[:n_levels]
    n = np.bincount(g - 1, minlength=n_levels)[:n_levels].astype(np.float64)
    return s, n


def ngtdm_features(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
                   bin_width: float | None = None, distance: int = 1) -> np.ndarray:
    """Neighbourhood grey-tone difference (NGTDM) features of one image, IBSI definitions.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    mask : ndarray of bool, optional
    bins, bin_width
        Discretisation (see :func:`discretise`).
    distance : int, default=1
        Chebyshev radius of the neighbourhood (1: the 8 neighbours).

    Returns
    -------
    features : ndarray of shape (5,)
        coarseness, contrast, busyness, complexity, strength. A region without any grey-tone
        difference (all ``s_i = 0``) has coarseness :data:`UNIFORM_COARSENESS` (``1e6``) and
        strength 0; a region with one grey level has contrast, busyness and complexity 0.

    References
    ----------
    Amadasun M, King R. Textural features corresponding to textural properties. IEEE Trans.
    Systems, Man, and Cybernetics 19(5):1264-1274, 1989. doi:10.1109/21.44046.

    Examples
    --------
    >>> import numpy as np
    >>> ngtdm_features(np.random.default_rng(0).random((32, 32))).shape
    (5,)
    """
    s, n = ngtdm_matrix(image, mask, bins=bins, bin_width=bin_width, distance=distance)
    n_vc = n.sum()
    p = n / n_vc
    present = p > 0
    i = np.arange(1, s.size + 1, dtype=np.float64)[present]
    p, s = p[present], s[present]
    n_gp = p.size
    ps = p * s
    sum_ps, sum_s = ps.sum(), s.sum()
    coarseness = 1.0 / sum_ps if sum_ps > 0 else UNIFORM_COARSENESS
    di = i[:, None] - i[None, :]
    if n_gp > 1:
        contrast = (p[:, None] * p[None, :] * di ** 2).sum() / (n_gp * (n_gp - 1)) * sum_s / n_vc
        ip = i * p
        busy_den = np.abs(ip[:, None] - ip[None, :]).sum()
        busyness = sum_ps / busy_den if busy_den > 0 else 0.0
        complexity = (np.abs(di) * (ps[:, None] + ps[None, :]) / (p[:, None] + p[None, :])).sum() / n_vc
    else:
        contrast = busyness = complexity = 0.0
    strength = ((p[:, None] + p[None, :]) * di ** 2).sum() / sum_s if sum_s > 0 else 0.0
    return np.array([coarseness, contrast, busyness, complexity, strength])


def ngtdm_feature_names() -> list[str]:
    """Names ``ngtdm.{ibsi_name}``.

    Examples
    --------
    >>> ngtdm_feature_names()
    ['ngtdm.coarseness', 'ngtdm.contrast', 'ngtdm.busyness', 'ngtdm.complexity', 'ngtdm.strength']
    """
    return [f"ngtdm.{name}" for name in NGTDM_FEATURES]


def _check_alpha(alpha) -> int:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, np.integer)) or not 0 <= alpha <= _MAX_BINS:
        raise ValueError(f"alpha must be an int in [0, {_MAX_BINS}] (grey levels), got {alpha!r}")
    return int(alpha)


def gldm_matrix(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
                bin_width: float | None = None, alpha: int = 0, distance: int = 1):
    """Neighbouring grey-level dependence matrix (NGLDM; IBSI definition).

    Every region pixel is a centre; its dependence count ``j`` is one (the centre itself) plus
    the number of in-region neighbours (Chebyshev distance ``<= distance``) whose grey level
    differs from the centre's by at most ``alpha``. ``M[i-1, j-1]`` counts centres of grey level
    ``i`` with count ``j``.

    Returns
    -------
    matrix : ndarray of shape (n_levels, largest_count)
    n_voxels : int

    Examples
    --------
    >>> import numpy as np
    >>> gldm_matrix(np.array([[1, 1], [1, 2]]), bins=None)[0].tolist()
    [[0.0, 0.0, 3.0], [1.0, 0.0, 0.0]]
    """
    alpha, distance = _check_alpha(alpha), _check_distance(distance)
    levels, n_levels = _levels(image, mask, bins, bin_width)
    inside = levels > 0
    count = np.ones(levels.shape, np.int64)
    for dy, dx in _offsets(distance):
        nb = _shifted(levels, dy, dx)
        count += (nb > 0) & (np.abs(nb - levels) <= alpha)
    g, j = levels[inside], count[inside]
    return _count_matrix(g, j, n_levels, int(j.max())), int(inside.sum())


def gldm_features(image: np.ndarray, mask: np.ndarray | None = None, *, bins: int | None = 32,
                  bin_width: float | None = None, alpha: int = 0, distance: int = 1) -> np.ndarray:
    """Grey-level dependence (GLDM / NGLDM) features of one image, IBSI definitions.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    mask : ndarray of bool, optional
    bins, bin_width
        Discretisation (see :func:`discretise`).
    alpha : int, default=0
        Coarseness: a neighbour depends on the centre when their grey levels differ by at most
        ``alpha`` (IBSI's phantom values use 0).
    distance : int, default=1
        Chebyshev radius of the neighbourhood.

    Returns
    -------
    features : ndarray of shape (17,)
        In the order of :data:`GLDM_FEATURES`. The dependence count includes the centre
        (minimum 1), as IBSI defines it; pyradiomics' GLDM counts the same way. Every region
        pixel is a centre, so ``dependence_count_percentage`` is 1 by construction (IBSI keeps
        it in the set; ``select="variance"`` drops such constant columns).

    References
    ----------
    Sun C, Wee WG. Neighboring gray level dependence matrix for texture classification.
    Computer Vision, Graphics, and Image Processing 23(3):341-352, 1983.
    doi:10.1016/0734-189X(83)90032-4.

    Examples
    --------
    >>> import numpy as np
    >>> gldm_features(np.random.default_rng(0).random((32, 32))).shape
    (17,)
    """
    M, n_v = gldm_matrix(image, mask, bins=bins, bin_width=bin_width, alpha=alpha, distance=distance)
    return _size_matrix_features(M, n_v, energy=True)


def gldm_feature_names() -> list[str]:
    """Names ``gldm.{ibsi_name}`` (IBSI's NGLDM names).

    Examples
    --------
    >>> gldm_feature_names()[0]
    'gldm.low_dependence_emphasis'
    """
    return [f"gldm.{name}" for name in GLDM_FEATURES]


# --------------------------------------------------------------------------- transformers
_COMMON_PARAMS = """
    bins : int, default=32
        Fixed bin number over each region's own intensity range (IBSI "FBN"), in [2, 1024].
    bin_width : float, optional
        Fixed bin size on the ``[0, 1]`` scale (IBSI "FBS"), in [1/1024, 1]: at most 1024 grey
        levels, as ``bins`` (every matrix has one row per level); overrides ``bins``.
    region : {"image", "bbox", "mask"}, default="image"
        ``"mask"``: only pixels inside the mask count (runs, zones and neighbourhoods stop at
        its edge, the intensity range for ``bins`` is the mask's).
    %(empty_mask)s
    %(n_jobs)s
    %(cache)s
    %(progress)s
"""


class _MatrixFeatures(BaseFeatureExtractor):
    """Shared parameter checks of the texture-matrix transformers."""

    _parameter_constraints = {
        **BaseFeatureExtractor._parameter_constraints,
        "bins": [None, Interval(Integral, 2, _MAX_BINS, closed="both")],
        "bin_width": [None, Interval(Real, _MIN_BIN_WIDTH, 1, closed="both")],
        "aggregation": [StrOptions({"average", "merge"})],
        "alpha": [Interval(Integral, 0, _MAX_BINS, closed="both")],
        "distance": [Interval(Integral, 1, 10, closed="both")],
    }

    def _check(self):
        _check_discretisation(self.bins, self.bin_width, allow_none=False)

    def _check_rules(self) -> None:
        # before any image is read (fit's parameter check, settings files): bins or bin_width
        # set, and within the bounds above
        self._check()


@fill_doc
class GLRLMFeatures(_MatrixFeatures):
    __doc__ = """Grey-level run-length (Galloway 1975) features, IBSI definitions, as a transformer.

    16 columns named like ``glrlm.short_runs_emphasis.mean`` (see :func:`glrlm_features`).

    Parameters
    ----------""" + _COMMON_PARAMS + """    aggregation : {"average", "merge"}, default="average"
        IBSI "2D, averaged" (features per direction, averaged) or "2D, merged".

    See Also
    --------
    glrlm_features : the function for one image.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((3, 32, 32))
    >>> GLRLMFeatures(bins=16).fit_transform(X).shape
    (3, 16)
    """

    _prefix = "glrlm"

    def __init__(self, bins=32, *, bin_width=None, aggregation="average", region="image",
                 empty_mask="image", n_jobs=None, cache=None, progress="auto"):
        self.bins = bins
        self.bin_width = bin_width
        self.aggregation = aggregation
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _fit_features(self, items: list) -> list[str]:
        self._check()
        return glrlm_feature_names(self.aggregation)

    def _features(self, image, mask):
        return glrlm_features(image, mask, bins=self.bins, bin_width=self.bin_width,
                              aggregation=self.aggregation)


@fill_doc
class GLSZMFeatures(_MatrixFeatures):
    __doc__ = """Grey-level size-zone (Thibault 2013) features, IBSI definitions, as a transformer.

    16 columns named like ``glszm.small_zone_emphasis`` (see :func:`glszm_features`).

    Parameters
    ----------""" + _COMMON_PARAMS + """
    See Also
    --------
    glszm_features : the function for one image.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((3, 32, 32))
    >>> GLSZMFeatures(bins=16).fit_transform(X).shape
    (3, 16)
    """

    _prefix = "glszm"

    def __init__(self, bins=32, *, bin_width=None, region="image", empty_mask="image", n_jobs=None, cache=None,
                 progress="auto"):
        self.bins = bins
        self.bin_width = bin_width
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _fit_features(self, items: list) -> list[str]:
        self._check()
        return glszm_feature_names()

    def _features(self, image, mask):
        return glszm_features(image, mask, bins=self.bins, bin_width=self.bin_width)


@fill_doc
class GLDZMFeatures(_MatrixFeatures):
    __doc__ = """Grey-level distance-zone (Thibault 2013) features, IBSI definitions, as a
    transformer.

    16 columns named like ``gldzm.small_distance_emphasis`` (see :func:`gldzm_features`).
    Distances are to the region's edge: the mask's with ``region="mask"``, the image border
    otherwise.

    Parameters
    ----------""" + _COMMON_PARAMS + """
    See Also
    --------
    gldzm_features : the function for one image.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((3, 32, 32))
    >>> GLDZMFeatures(bins=16).fit_transform(X).shape
    (3, 16)
    """

    _prefix = "gldzm"

    def __init__(self, bins=32, *, bin_width=None, region="image", empty_mask="image", n_jobs=None, cache=None,
                 progress="auto"):
        self.bins = bins
        self.bin_width = bin_width
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _fit_features(self, items: list) -> list[str]:
        self._check()
        return gldzm_feature_names()

    def _features(self, image, mask):
        return gldzm_features(image, mask, bins=self.bins, bin_width=self.bin_width)


@fill_doc
class NGTDMFeatures(_MatrixFeatures):
    __doc__ = """Neighbourhood grey-tone difference (Amadasun & King 1989) features, IBSI
    definitions, as a transformer.

    5 columns ``ngtdm.coarseness`` ... ``ngtdm.strength`` (see :func:`ngtdm_features`).

    Parameters
    ----------""" + _COMMON_PARAMS + """    distance : int, default=1
        Chebyshev radius of the neighbourhood, in [1, 10].

    See Also
    --------
    ngtdm_features : the function for one image.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((3, 32, 32))
    >>> NGTDMFeatures(bins=16).fit_transform(X).shape
    (3, 5)
    """

    _prefix = "ngtdm"

    def __init__(self, bins=32, *, bin_width=None, distance=1, region="image", empty_mask="image",
                 n_jobs=None, cache=None, progress="auto"):
        self.bins = bins
        self.bin_width = bin_width
        self.distance = distance
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _fit_features(self, items: list) -> list[str]:
        self._check()
        _check_distance(self.distance)
        return ngtdm_feature_names()

    def _features(self, image, mask):
        return ngtdm_features(image, mask, bins=self.bins, bin_width=self.bin_width,
                              distance=self.distance)


@fill_doc
class GLDMFeatures(_MatrixFeatures):
    __doc__ = """Grey-level dependence (NGLDM, Sun & Wee 1983) features, IBSI definitions, as a
    transformer.

    17 columns named like ``gldm.low_dependence_emphasis`` (see :func:`gldm_features`).

    Parameters
    ----------""" + _COMMON_PARAMS + """    alpha : int, default=0
        Coarseness: neighbours within ``alpha`` grey levels of the centre are dependent
        (at most 1024, the most grey levels).
    distance : int, default=1
        Chebyshev radius of the neighbourhood, in [1, 10].

    See Also
    --------
    gldm_features : the function for one image.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((3, 32, 32))
    >>> GLDMFeatures(bins=16).fit_transform(X).shape
    (3, 17)
    """

    _prefix = "gldm"

    def __init__(self, bins=32, *, bin_width=None, alpha=0, distance=1, region="image",
                 empty_mask="image", n_jobs=None, cache=None, progress="auto"):
        self.bins = bins
        self.bin_width = bin_width
        self.alpha = alpha
        self.distance = distance
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _fit_features(self, items: list) -> list[str]:
        self._check()
        _check_alpha(self.alpha)
        _check_distance(self.distance)
        return gldm_feature_names()

    def _features(self, image, mask):
        return gldm_features(image, mask, bins=self.bins, bin_width=self.bin_width,
                             alpha=self.alpha, distance=self.distance)

