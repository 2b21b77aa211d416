"""First-order intensity statistics of an image or of the lesion inside its mask.

The statistics follow the IBSI definitions (Zwanenburg et al. 2020, "intensity-based
statistical features" and "intensity histogram features") where IBSI has the feature; the
names say which definition a column holds (``intensity_features`` lists them with their IBSI
codes). ``tests/test_ibsi.py`` checks them against the IBSI consensus values of the digital
phantom.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

from .._base import BaseFeatureExtractor
from .._compat import Interval
from .._docs import fill_doc
from .._records import region_mask

__all__ = ["intensity_features", "intensity_feature_names", "IntensityStats"]

_BASE_STATS = ("mean", "std", "min", "max", "range")
_TAIL_STATS = ("iqr", "qcod", "mean_abs_dev", "robust_mean_abs_dev", "median_abs_dev",
               "median_of_abs_dev", "cov", "skewness", "kurtosis", "entropy", "uniformity",
               "mean_square", "rms")


#: Bounds of the parameters: histogram bins (an int, or edges less one), percentiles.
_MAX_BINS = 4096
_MAX_PERCENTILES = 101


def _check(percentiles, bins):
    percentiles = (percentiles,) if np.isscalar(percentiles) else tuple(percentiles)
    if len(percentiles) > _MAX_PERCENTILES or not all(
            isinstance(p, (Real, np.number)) and not isinstance(p, bool) and 0 <= p <= 100 for p in percentiles):
        raise ValueError(f"percentiles must be at most {_MAX_PERCENTILES} numbers in [0, 100], got {percentiles!r}")
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if not 2 <= bins <= _MAX_BINS:
            raise ValueError(f"bins must be an int in [2, {_MAX_BINS}] or a sequence of bin edges, got {bins!r}")
        return percentiles, int(bins)
    try:
        edges = np.asarray(bins, dtype=np.float64)
    except (TypeError, ValueError):
        edges = np.empty(0)
    if edges.ndim != 1 or not 2 <= edges.size <= _MAX_BINS + 1 or not np.all(np.isfinite(edges)) \
            or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must be an int in [2, {_MAX_BINS}] or an increasing sequence of 2 to "
                         f"{_MAX_BINS + 1} finite bin edges, got {bins!r}")
    return percentiles, edges


def _pname(p) -> str:
    return f"p{p:g}".replace(".", "_")


def intensity_feature_names(percentiles: Sequence[float] = (10, 25, 50, 75, 90), bins=64) -> list[str]:
    """Names ``intensity.<stat>`` in output order.

    Examples
    --------
    >>> intensity_feature_names(percentiles=(50,))
    ... # doctest: +NORMALIZE_WHITESPACE
    ['intensity.mean', 'intensity.std', 'intensity.min', 'intensity.max', 'intensity.range',
     'intensity.p50', 'intensity.iqr', 'intensity.qcod', 'intensity.mean_abs_dev',
     'intensity.robust_mean_abs_dev', 'intensity.median_abs_dev', 'intensity.median_of_abs_dev',
     'intensity.cov', 'intensity.skewness', 'intensity.kurtosis', 'intensity.entropy',
     'intensity.uniformity', 'intensity.mean_square', 'intensity.rms']
    """
    percentiles, _ = _check(percentiles, bins)
    stats = [*_BASE_STATS, *map(_pname, percentiles), *_TAIL_STATS]
    return [f"intensity.{s}" for s in stats]


def _histogram(x: np.ndarray, bins) -> np.ndarray:
    """Counts of ``x`` in ``bins`` equal-width bins over ``[0, 1]``, or in the given edges."""
    lo, hi = (0.0, 1.0) if isinstance(bins, int) else (bins[0], bins[-1])
    xmin, xmax = x.min(), x.max()
    if xmin < lo or xmax > hi:
        raise ValueError(
            f"values in [{xmin:g}, {xmax:g}] fall outside the histogram range [{lo:g}, {hi:g}]; "
            "scale the image to [0, 1] (as the transformers do) or give bins as edges that cover "
            "the values")
    if isinstance(bins, int):
        idx = (x * bins).astype(np.int64)
        return np.bincount(np.minimum(idx, bins - 1, out=idx), minlength=bins)
    return np.histogram(x, bins)[0]


def intensity_features(image: np.ndarray, mask: np.ndarray | None = None, *,
                       percentiles: Sequence[float] = (10, 25, 50, 75, 90), bins=64) -> np.ndarray:
    """First-order statistics of the gray values of one image (or of the pixels in ``mask``).

    With ``x`` the ``N`` values, ``m`` their mean and ``P_q`` the ``q``-th percentile
    (linear interpolation, :func:`numpy.percentile`), in output order (IBSI name and code,
    Zwanenburg et al. 2020, in brackets; "not IBSI" where IBSI has no such feature):

    ======================== ===============================================================
    ``mean``                 ``m`` (mean, Q4LE)
    ``std``                  population standard deviation, ``ddof=0``: the square root of
                             IBSI's variance (ECT3)
    ``min``, ``max``         (minimum 1GSF, maximum 84IY)
    ``range``                ``max - min`` (range, 2OJQ)
    ``p10`` ... ``p90``      one per ``percentiles`` (10th percentile QG58, median Y12H =
                             ``p50``, 90th percentile 8DWT)
    ``iqr``                  ``P75 - P25`` (interquartile range, SALO)
    ``qcod``                 ``(P75 - P25) / (P75 + P25)`` (quartile coefficient of
                             dispersion, 9S40); 0 when ``P75 + P25 = 0``
    ``mean_abs_dev``         ``mean |x - m|`` (mean absolute deviation, 4FUA)
    ``robust_mean_abs_dev``  ``mean |y - mean(y)|`` over the values ``y`` with
                             ``P10 <= y <= P90`` (robust mean absolute deviation, 1128)
    ``median_abs_dev``       ``mean |x - P50|`` (IBSI's "median absolute deviation", N72L:
                             a *mean* of deviations from the median)
    ``median_of_abs_dev``    ``median |x - P50|``: the classical MAD of statistics
                             (:func:`scipy.stats.median_abs_deviation`, unscaled); not IBSI
    ``cov``                  ``std / m`` (coefficient of variation, 7TET); 0 when ``m = 0``
    ``skewness``             ``mean (x - m)^3 / std^3`` (skewness, KE2A)
    ``kurtosis``             ``mean (x - m)^4 / std^4 - 3``, excess kurtosis (IBSI's
                             kurtosis, IPH6)
    ``entropy``              ``-sum p log2 p`` of the ``bins`` histogram, in bits
                             (intensity histogram entropy, TLU2)
    ``uniformity``           ``sum p^2`` of that histogram (intensity histogram uniformity,
                             BJ5W)
    ``mean_square``          ``mean x^2``: IBSI's energy (N8CA) is the sum ``sum x^2 =
                             N mean_square``; the mean does not grow with the region's size
    ``rms``                  ``sqrt(mean x^2)`` (root mean square, 5ZWQ)
    ======================== ===============================================================

    Skewness and kurtosis are the biased moments of :func:`scipy.stats.skew` /
    :func:`scipy.stats.kurtosis`. IBSI computes its histogram features on the discretised
    intensities; here the histogram is ``bins`` equal-width bins over ``[0, 1]`` (the scale
    featbus gives every image), or the given bin edges (e.g. one bin per grey level of an
    already discretised image: ``bins=np.arange(0.5, n_levels + 1)``).

    A constant image (e.g. all black) has std, cov, range, IQR, qcod, the absolute
    deviations, skewness, kurtosis and entropy 0 and uniformity 1, never NaN (skewness and
    kurtosis are undefined for zero variance; 0 is the value of a symmetric, normal-tailed
    distribution). ``robust_mean_abs_dev`` is 0 if no value lies in ``[P10, P90]`` (possible
    for a handful of pixels only).

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Float image, normally in ``[0, 1]``; an integer image is divided by its dtype's
        maximum first, as the transformers do. Floats outside ``[0, 1]`` (raw values) are
        fine with ``bins`` given as edges that cover them.
    mask : ndarray of bool, optional
        Only these pixels are used.
    percentiles : sequence of float, default=(10, 25, 50, 75, 90)
    bins : int or sequence of float, default=64
        Histogram for entropy and uniformity: that many equal-width bins over ``[0, 1]``, or
        the bin edges (:func:`numpy.histogram`; the last bin includes its right edge). Values
        outside the histogram's range raise an error.

    Returns
    -------
    features : ndarray of shape (18 + len(percentiles),)
        23 values with the defaults.

    References
    ----------
    Zwanenburg A et al. The Image Biomarker Standardization Initiative: standardized
    quantitative radiomics for high-throughput image-based phenotyping. Radiology
    295(2):328-338, 2020. doi:10.1148/radiol.2020191145

    Examples
    --------
    >>> import numpy as np
    >>> v = intensity_features(np.full((8, 8), 0.5))
    >>> v[:2].tolist(), v[-6:-4].tolist()
    ([0.5, 0.0], [0.0, 0.0])
    >>> f = dict(zip(intensity_feature_names(), intensity_features(np.array([[0.0, 0.2], [0.2, 1.0]]))))
    >>> [round(float(f[f"intensity.{s}"]), 3)
    ...  for s in ("mean_abs_dev", "median_abs_dev", "median_of_abs_dev")]
    [0.325, 0.25, 0.1]
    """
    percentiles, bins = _check(percentiles, bins)
    x = np.asarray(image)
    if x.dtype.kind in "ui":
        x = x / np.float64(np.iinfo(x.dtype).max)
    x = np.asarray(x, dtype=np.float64)
    if mask is not None:
        x = x[region_mask(mask, x.shape, empty="no pixel to compute intensity statistics on (empty mask)")]
    x = x.ravel()
    if x.size == 0:
        raise ValueError("no pixel to compute intensity statistics on (empty mask)")
    hist = _histogram(x, bins)
    mean = x.mean()
    dev = x - mean
    dev2 = dev * dev  # products, not ** 3 / ** 4: float powers are ~10x slower in NumPy
    var = np.mean(dev2)
    std = np.sqrt(var)
    # one partition for every needed quantile; repeated kth values would slow it down
    wanted = np.array([*percentiles, 10, 25, 50, 75, 90], dtype=np.float64)
    levels, where = np.unique(wanted, return_inverse=True)
    qs = np.percentile(x, levels)[where]
    p10, p25, med, p75, p90 = qs[-5:]
    # the deviations below go through one scratch array, in place (a 4 MP working image is 34 MB a float64
    # array: the statistics of a full-field mammogram held seven of them at once); the same values
    scratch = np.empty_like(x)
    # Relative threshold: float rounding leaves var ~1e-33 on a constant image, not exactly 0.
    if var > 1e-12 * max(mean * mean, 1e-12):
        skew = np.mean(np.multiply(dev2, dev, out=scratch)) / var ** 1.5
        kurt = np.mean(np.multiply(dev2, dev2, out=scratch)) / var ** 2 - 3.0
    else:
        skew = kurt = 0.0
    mean_abs_dev = np.mean(np.abs(dev, out=scratch))
    del dev, dev2
    mean_square = np.mean(np.multiply(x, x, out=scratch))
    inner = x[(x >= p10) & (x <= p90)]
    if inner.size:
        inner -= inner.mean()
        robust = np.mean(np.abs(inner, out=inner))
    else:
        robust = 0.0
    del inner
    abs_med = np.abs(np.subtract(x, med, out=scratch), out=scratch)
    median_abs_dev = np.mean(abs_med)
    p = hist[hist > 0] / x.size
    entropy = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0
    qsum = p75 + p25
    return np.array([
        mean, std, x.min(), x.max(), x.max() - x.min(), *qs[:-5],
        p75 - p25, (p75 - p25) / qsum if qsum != 0 else 0.0,
        mean_abs_dev, robust, median_abs_dev, np.median(abs_med, overwrite_input=True),
        std / mean if mean != 0 else 0.0,
        skew, kurt, entropy, float((p * p).sum()), mean_square, np.sqrt(mean_square)])


@fill_doc
class IntensityStats(BaseFeatureExtractor):
    """First-order intensity statistics as a transformer.

    Columns (``intensity.<stat>``): mean, std, min, max, range, ``p10, p25, p50, p75, p90``
    (one per percentile), iqr, qcod, mean_abs_dev, robust_mean_abs_dev, median_abs_dev
    (IBSI's: mean of ``|x - median|``), median_of_abs_dev (the classical MAD), cov, skewness,
    kurtosis (excess), entropy (bits, ``bins``-bin histogram over ``[0, 1]``), uniformity,
    mean_square, rms: ``18 + len(percentiles)`` columns, 23 by default;
    :func:`intensity_features` gives each definition and its IBSI name. Values are on the
    ``[0, 1]`` scale featbus gives every image (integers divided by their dtype's maximum):
    12-bit data stored as ``uint16`` only reach 1/16 of that scale, so put
    :class:`~featbus.Normalize` first for them (the histogram features would otherwise see
    few bins). A constant image gives std, skewness, kurtosis and entropy 0 and uniformity 1
    (never NaN).

    Parameters
    ----------
    percentiles : sequence of float, default=(10, 25, 50, 75, 90)
        At most 101 values in [0, 100].
    bins : int or sequence of float, default=64
        Equal-width bins over ``[0, 1]``, or bin edges covering ``[0, 1]``; at most 4096 bins.
    region : {"image", "bbox", "mask"}, default="image"
        ``"mask"``: statistics of the lesion pixels only.
    %(empty_mask)s
    %(n_jobs)s
    %(cache)s
    %(progress)s

    See Also
    --------
    intensity_features : the function for one image.

    References
    ----------
    Zwanenburg A et al. The Image Biomarker Standardization Initiative (IBSI). Radiology
    295(2):328-338, 2020. doi:10.1148/radiol.2020191145

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    >>> IntensityStats().fit_transform(X).shape
    (3, 23)
    """

    _prefix = "intensity"

    _parameter_constraints = {
        "percentiles": [tuple, list, np.ndarray],
        "bins": [Interval(Integral, 2, _MAX_BINS, closed="both"), tuple, list, np.ndarray],
        **BaseFeatureExtractor._parameter_constraints,
    }

    def __init__(self, percentiles=(10, 25, 50, 75, 90), *, bins=64, region="image", empty_mask="image",
                 n_jobs=None, cache=None, progress="auto"):
        self.percentiles = percentiles
        self.bins = bins
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _check_rules(self) -> None:
        _check(self.percentiles, self.bins)  # the elements of percentiles and bins, bounds

    def _fit_features(self, items: list) -> list[str]:
        return intensity_feature_names(self.percentiles, self.bins)

    def _features(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return intensity_features(image, mask, percentiles=self.percentiles, bins=self.bins)
