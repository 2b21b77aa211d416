"""First-order intensity statistics of an image or of the lesion inside its mask."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .._base import BaseFeatureExtractor

__all__ = ["intensity_features", "intensity_feature_names", "IntensityStats"]

_BASE_STATS = ("mean", "std", "min", "max", "range")
_TAIL_STATS = ("iqr", "mad", "skewness", "kurtosis", "entropy", "uniformity", "energy", "rms")


def _check(percentiles, bins):
    percentiles = (percentiles,) if np.isscalar(percentiles) else tuple(percentiles)
    if not all(np.isscalar(p) and 0 <= p <= 100 for p in percentiles):
        raise ValueError(f"percentiles must lie in [0, 100], got {percentiles!r}")
    if not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins must be an int >= 2, got {bins!r}")
    return percentiles, int(bins)


def _pname(p) -> str:
    return f"p{p:g}".replace(".", "_")


def intensity_feature_names(percentiles: Sequence[float] = (10, 25, 50, 75, 90), bins: int = 64) -> list[str]:
    """Names ``intensity.<stat>`` in output order.

    Examples
    --------
    >>> intensity_feature_names(percentiles=(50,))
    ... # doctest: +NORMALIZE_WHITESPACE
    ['intensity.mean', 'intensity.std', 'intensity.min', 'intensity.max', 'intensity.range',
     'intensity.p50', 'intensity.iqr', 'intensity.mad', 'intensity.skewness',
     'intensity.kurtosis', 'intensity.entropy', 'intensity.uniformity', 'intensity.energy',
     'intensity.rms']
    """
    percentiles, _ = _check(percentiles, bins)
    stats = [*_BASE_STATS, *map(_pname, percentiles), *_TAIL_STATS]
    return [f"intensity.{s}" for s in stats]


def intensity_features(image: np.ndarray, mask: np.ndarray | None = None, *,
                       percentiles: Sequence[float] = (10, 25, 50, 75, 90), bins: int = 64) -> np.ndarray:
    """First-order statistics of the gray values of one image (or of the pixels in ``mask``).

    In output order: mean, std (population, ``ddof=0``), min, max, range, the
    ``percentiles`` (linear interpolation), IQR (p75 - p25), MAD (median absolute deviation
    from the median, unscaled), skewness and excess kurtosis (Fisher, biased moments as
    :func:`scipy.stats.skew` / :func:`scipy.stats.kurtosis`), entropy (bits) and uniformity
    (sum of squared probabilities) of a ``bins``-bin histogram over ``[0, 1]``, energy (mean
    of squared values) and RMS.

    A constant image (e.g. all black) has std, range, IQR, MAD, skewness, kurtosis and
    entropy 0 and uniformity 1, never NaN (skewness and kurtosis are undefined for zero
    variance; 0 is the value of a symmetric, normal-tailed distribution).

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Float image in ``[0, 1]``.
    mask : ndarray of bool, optional
        Only these pixels are used.
    percentiles : sequence of float, default=(10, 25, 50, 75, 90)
    bins : int, default=64
        Histogram bins for entropy and uniformity.

    Returns
    -------
    features : ndarray of shape (5 + len(percentiles) + 8,)
        18 values with the defaults.

    References
    ----------
    Zwanenburg A et al. The Image Biomarker Standardization Initiative (IBSI): standardized
    quantitative radiomics for high-throughput image-based phenotyping. Radiology
    295(2):328-338, 2020 (section "intensity-based statistical features").

    Examples
    --------
    >>> import numpy as np
    >>> v = intensity_features(np.full((8, 8), 0.5))
    >>> v[:2].tolist(), v[-6:-4].tolist()
    ([0.5, 0.0], [0.0, 0.0])
    """
    percentiles, bins = _check(percentiles, bins)
    x = np.asarray(image, dtype=np.float64)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != x.shape:
            raise ValueError(f"mask has shape {mask.shape} but the image has shape {x.shape}")
        x = x[mask]
    x = x.ravel()
    if x.size == 0:
        raise ValueError("no pixel to compute intensity statistics on (empty mask)")
    mean = x.mean()
    dev = x - mean
    dev2 = dev * dev  # products, not ** 3 / ** 4: float powers are ~10x slower in NumPy
    var = np.mean(dev2)
    std = np.sqrt(var)
    # one partition for every needed quantile; repeated kth values would slow it down
    wanted = np.array([*percentiles, 25, 50, 75], dtype=np.float64)
    levels, where = np.unique(wanted, return_inverse=True)
    qs = np.percentile(x, levels)[where]
    p25, med, p75 = qs[-3:]
    mad = np.median(np.abs(x - med))
    # Relative threshold: float rounding leaves var ~1e-33 on a constant image, not exactly 0.
    if var > 1e-12 * max(mean * mean, 1e-12):
        skew = np.mean(dev2 * dev) / var ** 1.5
        kurt = np.mean(dev2 * dev2) / var ** 2 - 3.0
    else:
        skew = kurt = 0.0
    idx = (x * bins).astype(np.int64)
    hist = np.bincount(np.clip(idx, 0, bins - 1, out=idx), minlength=bins)
    p = hist[hist > 0] / x.size
    entropy = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0
    energy = np.mean(x * x)
    return np.array([mean, std, x.min(), x.max(), x.max() - x.min(), *qs[:-3], p75 - p25, mad, skew,
                     kurt, entropy, float((p * p).sum()), energy, np.sqrt(energy)])


class IntensityStats(BaseFeatureExtractor):
    """First-order intensity statistics as a transformer.

    Columns (``intensity.<stat>``): mean, std, min, max, range, ``p10, p25, p50, p75, p90``
    (one per percentile), iqr, mad, skewness, kurtosis (excess), entropy (bits, ``bins``-bin
    histogram over ``[0, 1]``), uniformity, energy (mean square), rms: ``13 +
    len(percentiles)`` columns, 18 by default. Values are on the ``[0, 1]`` scale featbus
    gives every image (integers divided by their dtype's maximum): 12-bit data stored as
    ``uint16`` only reach 1/16 of that scale, so put :class:`~featbus.Normalize` first for
    them (the histogram features would otherwise see few bins). A constant image gives
    std, skewness, kurtosis and entropy 0 and uniformity 1 (never NaN).

    Parameters
    ----------
    percentiles : sequence of float, default=(10, 25, 50, 75, 90)
    bins : int, default=64
    region : {"image", "bbox", "mask"}, default="image"
        ``"mask"``: statistics of the lesion pixels only.
    empty_mask : {"image", "raise"}, default="image"
    n_jobs : int or None, default=None

    See Also
    --------
    intensity_features : the function for one image.

    References
    ----------
    Zwanenburg A et al. The Image Biomarker Standardization Initiative (IBSI). Radiology
    295(2):328-338, 2020.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    >>> IntensityStats().fit_transform(X).shape
    (3, 18)
    """

    _prefix = "intensity"

    def __init__(self, percentiles=(10, 25, 50, 75, 90), bins=64, region="image", empty_mask="image",
                 n_jobs=None):
        self.percentiles = percentiles
        self.bins = bins
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs

    def _fit_features(self, items: list) -> list[str]:
        return intensity_feature_names(self.percentiles, self.bins)

    def _features(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return intensity_features(image, mask, percentiles=self.percentiles, bins=self.bins)
