"""The statistics floor: every interval featbus prints comes from here.

The statistics the figure table (:mod:`featbus.evaluation.figures`, where the figures of one set
of predictions are computed, per class and macro) is built on: the rank AUC, the confusion
matrix, the one ``zero_division`` rule (:func:`ratio`), the decision rule of a model's
probabilities (the most probable class, or an operating point), calibration (reliability curve, ECE, Brier
score), the group bootstrap behind every interval and the way an interval is written. The
modules that judge models (:mod:`featbus.evaluation`, :mod:`featbus.evaluation.validation`,
:mod:`featbus.evaluation.sites`, :mod:`featbus.evaluation.sanity`, :mod:`featbus.workflows.adaptation`, the segmentation
metrics) and those that show them (:mod:`featbus.evaluation.reporting`) use it; it imports nothing of
featbus.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["PER_CLASS_METRICS", "rank_auc", "confusion_matrix", "decide",
           "group_units", "bootstrap", "BootstrapResult", "percentile_interval", "interval_text",
           "format_interval", "reliability_curve", "expected_calibration_error", "brier_score", "ECE_BINS",
           "CONFIDENCE", "Predictions", "threshold_for_sensitivity", "ratio",
           "sensitivity_specificity", "OperatingPoint", "DEFAULT_TARGET_SENSITIVITY", "lesion_and_given",
           "threshold_text", "clopper_pearson", "share_interval", "check_n_bootstrap"]

#: The figures of the classic per-class table (one-vs-rest, and over the classes): rows of the figure
#: table (:func:`featbus.evaluation.figures.classification_metrics`).
PER_CLASS_METRICS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "auc")
#: Equal-width bins of ``p(positive)`` behind the reliability diagram and the ECE.
ECE_BINS = 10
#: Level of every bootstrap percentile interval featbus prints.
CONFIDENCE = 0.95


# --------------------------------------------------------------------------- one set of predictions

def rank_auc(positive, score) -> float:
    """Rank (Mann-Whitney) AUC of ``score`` for the boolean truth ``positive``, ties counted half.

    Parameters
    ----------
    positive : array-like of bool, shape (n_samples,)
        Which samples are positive.
    score : array-like of shape (n_samples,)
        Any score that ranks them (probability or decision value).

    Returns
    -------
    auc : float
        NaN without both a positive and a negative sample.

    Examples
    --------
    >>> from featbus.metrics import rank_auc
    >>> rank_auc([True, False, True, False], [0.9, 0.1, 0.4, 0.4])
    0.875
    """
    pos = np.asarray(positive, dtype=bool)
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts of class indices ``0..n_classes-1``: rows true, columns predicted.

    Examples
    --------
    >>> from featbus.metrics import confusion_matrix
    >>> confusion_matrix([0, 0, 1], [0, 1, 1], 2).tolist()
    [[1, 1], [0, 1]]
    """
    k = int(n_classes)
    yt, yp = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    return np.bincount(yt * k + yp, minlength=k * k).reshape(k, k)


def decide(proba, rule: tuple[int, float] | None = None) -> np.ndarray:
    """A model's decisions as class indices: the most probable class, or with an operating point.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
    rule : (int, float), (int, float, int, float) or None
        ``(j, t)``: class ``j`` when ``p_j >= t``, else the most probable other class (the
        operating point :func:`featbus.adapt` stores); ``(j, t, k, t_lesion)``: two decisions
        (:class:`OperatingPoint` with ``presence``): class ``k`` (no lesion) when
        ``1 - p_k < t_lesion``, otherwise ``j`` when ``p_j / (1 - p_k) >= t``, else the most
        probable class other than ``j`` and ``k``; ``None``: the most probable class.

    Returns
    -------
    indices : ndarray of int, shape (n_samples,)

    Examples
    --------
    >>> from featbus.metrics import decide
    >>> P = [[0.7, 0.3], [0.6, 0.4]]
    >>> decide(P).tolist(), decide(P, (1, 0.35)).tolist()
    ([0, 0], [0, 1])
    >>> decide([[0.2, 0.1, 0.7], [0.3, 0.3, 0.4], [0.5, 0.2, 0.3]], (1, 0.4, 2, 0.5)).tolist()
    [2, 1, 0]
    """
    P = np.asarray(proba, dtype=float)
    if rule is None:
        return P.argmax(axis=1)
    if len(rule) == 4:  # two decisions: first "is there a lesion?", then the point among lesions
        j, t, k, t_lesion = rule
        p_lesion = 1.0 - P[:, k]
        others = P.copy()
        others[:, [j, k]] = -np.inf
        out = others.argmax(axis=1) if P.shape[1] > 2 else np.full(len(P), j)
        with np.errstate(divide="ignore", invalid="ignore"):
            given = np.where(p_lesion > 0, P[:, j] / np.where(p_lesion > 0, p_lesion, 1), 0.0)
        out[given >= t] = j
        out[p_lesion < t_lesion] = k
        return out
    j, t = rule
    others = P.copy()
    others[:, j] = -np.inf
    out = others.argmax(axis=1)
    out[P[:, j] >= t] = j
    return out


def _check_zero_division(zero_division) -> float:
    if (isinstance(zero_division, bool) or not isinstance(zero_division, numbers.Real)
            or not (math.isnan(zero_division) or 0 <= zero_division <= 1)):
        raise ValueError(f"zero_division must be a number in [0, 1] or np.nan, got {zero_division!r}")
    return float(zero_division)


def ratio(numerator, denominator, *, zero_division: float):
    """``numerator / denominator``, and ``zero_division`` where the denominator is 0: the one rule for
    an undefined rate (sensitivity, specificity, precision, recall).

    Parameters
    ----------
    numerator, denominator : number or array-like of numbers
        Counts (arrays are divided element by element).
    zero_division : float
        What an undefined ratio is, as scikit-learn's ``zero_division``: a number in [0, 1], or
        ``np.nan`` to leave it undefined (an interval then leaves out a resample without the class).
        No default: every caller names its choice.

    Returns
    -------
    ratio : float, or ndarray of float for arrays

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.metrics import ratio
    >>> ratio(3, 4, zero_division=np.nan), ratio(0, 0, zero_division=0.0)
    (0.75, 0.0)
    >>> ratio(np.array([1, 0]), np.array([2, 0]), zero_division=np.nan).tolist()
    [0.5, nan]
    """
    zd = _check_zero_division(zero_division)
    if np.ndim(numerator) == 0 and np.ndim(denominator) == 0:
        return float(numerator) / float(denominator) if denominator else zd
    num, den = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    return np.where(den > 0, num / np.where(den > 0, den, 1), zd)


def sensitivity_specificity(is_positive, called, *, zero_division: float) -> tuple[float, float]:
    """Sensitivity (the share of positive samples called positive) and specificity (the share of the
    others not called positive) of one set of yes/no decisions.

    Parameters
    ----------
    is_positive : array-like of bool, shape (n_samples,)
        The truth.
    called : array-like of bool, shape (n_samples,)
        The decisions (called positive).
    zero_division : float
        The figure without a positive (sensitivity) or a negative (specificity) sample: a number in
        [0, 1] or ``np.nan`` (:func:`ratio`). No default: every caller names its choice.

    Returns
    -------
    sensitivity, specificity : float

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.metrics import sensitivity_specificity
    >>> sensitivity_specificity([1, 1, 0, 0], [1, 0, 0, 1], zero_division=np.nan)
    (0.5, 0.5)
    >>> sensitivity_specificity([1, 1], [1, 0], zero_division=np.nan)  # no negative sample
    (0.5, nan)
    """
    pos, yes = np.asarray(is_positive, dtype=bool), np.asarray(called, dtype=bool)
    if pos.shape != yes.shape:
        raise ValueError(f"is_positive has shape {pos.shape} but called has shape {yes.shape}")
    n_pos = int(pos.sum())
    return (ratio(int((yes & pos).sum()), n_pos, zero_division=zero_division),
            ratio(int((~yes & ~pos).sum()), pos.size - n_pos, zero_division=zero_division))


# --------------------------------------------------------------------------- calibration

def reliability_curve(p, outcome, n_bins: int = ECE_BINS) -> list[dict]:
    """The reliability diagram's data: predicted probability against observed frequency, per bin.

    Parameters
    ----------
    p : array-like of shape (n_samples,)
        Predicted probabilities of the event (e.g. ``p(malignant)``), in [0, 1].
    outcome : array-like of shape (n_samples,)
        Whether the event happened (bool or 0/1).
    n_bins : int, default=ECE_BINS
        Equal-width bins of [0, 1]; a probability of exactly 1 falls in the last one.

    Returns
    -------
    bins : list of dict
        One per bin: ``lower``, ``upper``, ``n``, ``mean_predicted`` and ``observed`` (the
        fraction of events; both ``None`` for an empty bin).

    Examples
    --------
    >>> from featbus.metrics import reliability_curve
    >>> bins = reliability_curve([0.1, 0.15, 0.9, 0.95], [0, 0, 1, 1], n_bins=2)
    >>> [(b["n"], round(b["mean_predicted"], 3), b["observed"]) for b in bins]
    [(2, 0.125, 0.0), (2, 0.925, 1.0)]
    """
    p, y, idx = _binned(p, outcome, n_bins)
    out = []
    for b in range(n_bins):
        sel = idx == b
        n = int(sel.sum())
        out.append({"lower": b / n_bins, "upper": (b + 1) / n_bins, "n": n,
                    "mean_predicted": float(p[sel].mean()) if n else None,
                    "observed": float(y[sel].mean()) if n else None})
    return out


def expected_calibration_error(p, outcome, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of predicted probabilities of an event (Naeini et al. 2015).

    ``sum over bins b of (n_b / n) * |mean predicted probability in b - fraction of events in b|``
    with ``n_bins`` equal-width bins of [0, 1] (Guo et al. 2017 use 15 for the top-label
    probability; featbus bins ``p(positive)`` in :data:`ECE_BINS` = 10). 0 is perfectly
    calibrated; a model that says 0.9 where 60 % are events adds 0.3 times that bin's share.

    Parameters
    ----------
    p : array-like of shape (n_samples,)
        Predicted probabilities, in [0, 1].
    outcome : array-like of shape (n_samples,)
        Whether the event happened (bool or 0/1).
    n_bins : int, default=ECE_BINS

    Returns
    -------
    ece : float
        ``nan`` when there is no sample.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.metrics import expected_calibration_error
    >>> rng = np.random.RandomState(0)
    >>> p = rng.uniform(size=20000)
    >>> bool(expected_calibration_error(p, rng.uniform(size=20000) < p) < 0.02)  # calibrated: small
    True
    >>> expected_calibration_error([0.9, 0.9], [0, 0])  # says 0.9, never happens
    0.9
    """
    p, y, idx = _binned(p, outcome, n_bins)
    if p.size == 0:
        return math.nan
    n_b = np.bincount(idx, minlength=n_bins)
    gap = np.abs(np.bincount(idx, weights=p, minlength=n_bins) - np.bincount(idx, weights=y, minlength=n_bins))
    return float(round(gap.sum() / p.size, 12)) if n_b.sum() else math.nan


def brier_score(p, outcome) -> float:
    """Mean squared difference between predicted probabilities and outcomes (Brier 1950).

    Examples
    --------
    >>> from featbus.metrics import brier_score
    >>> brier_score([0.8, 0.4], [1, 0])
    0.1
    """
    p = np.asarray(p, dtype=float)
    return float(np.mean((p - np.asarray(outcome)) ** 2)) if p.size else math.nan


def _binned(p, outcome, n_bins: int):
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    p = np.asarray(p, dtype=float).ravel()
    y = np.asarray(outcome, dtype=float).ravel()
    if p.shape != y.shape:
        raise ValueError(f"p has {p.size} values but outcome has {y.size}")
    if p.size and (not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1):
        raise ValueError("p must hold probabilities in [0, 1]")
    return p, y, np.minimum((p * n_bins).astype(int), n_bins - 1)


# --------------------------------------------------------------------------- the bootstrap

def group_units(groups, n: int | None = None) -> list[np.ndarray]:
    """The bootstrap's resampling units: the indices of each group, groups in sorted order.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        Group of every sample (patients, near-duplicate groups).
    n : int, optional
        The number of samples, checked against ``groups``.

    Returns
    -------
    units : list of ndarray of int

    Examples
    --------
    >>> from featbus.metrics import group_units
    >>> [u.tolist() for u in group_units(["b", "a", "b"])]
    [[1], [0, 2]]
    """
    groups = np.asarray(groups)
    if n is not None and groups.shape[0] != n:
        raise ValueError(f"groups has {groups.shape[0]} entries for {n} samples")
    _, inv = np.unique(groups, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(inv[order])) + 1)


def clopper_pearson(count: float, n: float, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Clopper-Pearson (exact binomial) interval of ``count`` successes in ``n`` trials.

    Both may be fractional (a share of images carried onto as many trials as patients); used
    where a figure rests on too few groups for a bootstrap, or is 0 or 1, where a percentile
    bootstrap collapses to a point (Clopper and Pearson 1934, doi:10.1093/biomet/26.4.404).

    Examples
    --------
    >>> from featbus.metrics import clopper_pearson
    >>> [round(v, 3) for v in clopper_pearson(8, 8)]
    [0.631, 1.0]
    """
    from scipy import stats

    a = (1 - confidence) / 2
    lo = 0.0 if count <= 0 else float(stats.beta.ppf(a, count, n - count + 1))
    hi = 1.0 if count >= n else float(stats.beta.ppf(1 - a, count + 1, n - count))
    return lo, hi


def share_interval(count: float, n: float, *, trials: float | None = None,
                   confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The interval of a share (``count`` of ``n`` images) featbus prints: Clopper-Pearson
    (:func:`clopper_pearson`), the share carried onto ``trials`` (the patients, or groups, the ``n``
    images belong to: a patient's two views are not two pieces of evidence; default ``n``).

    The one interval of a proportion in validate, compare, adapt and the cross-validation report:
    exact, so it is never a point where a percentile bootstrap collapses to one (0 of 700, 11 of
    11); ``(nan, nan)`` without an image.

    Examples
    --------
    >>> from featbus.metrics import share_interval
    >>> [round(v, 4) for v in share_interval(1, 700)]
    [0.0, 0.0079]
    >>> [round(v, 2) for v in share_interval(11, 11, trials=8)]   # 11 images of 8 patients, all found
    [0.63, 1.0]
    """
    if n <= 0:
        return (math.nan, math.nan)
    g = float(n if trials is None else trials)
    if g <= 0:
        return (math.nan, math.nan)
    return clopper_pearson(float(count) / float(n) * g, g, confidence=confidence)


def percentile_interval(draws, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of bootstrap draws, non-finite draws left out (NaN when none is left).

    Examples
    --------
    >>> from featbus.metrics import percentile_interval
    >>> percentile_interval(range(101))
    (2.5, 97.5)
    """
    x = np.asarray(draws, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (math.nan, math.nan)
    tail = (100 - 100 * confidence) / 2  # exactly 2.5 at 95 %
    lo, hi = np.percentile(x, [tail, 100 - tail])
    return float(lo), float(hi)


class BootstrapResult(tuple):
    """What :func:`bootstrap` returns: the pair ``(point, interval)``, with the draws kept.

    Attributes
    ----------
    point : float, ndarray or dict
        The statistic on all the data.
    interval : tuple, or dict of tuples
        ``(low, high)``; for an array statistic, ``(low array, high array)``; for a dict
        statistic, a dict of ``(low, high)``.
    draws : ndarray or dict of ndarray
        The statistic on each resample (first axis: resamples).
    """

    def __new__(cls, point, interval, draws):
        self = super().__new__(cls, (point, interval))
        self.draws = draws
        return self

    @property
    def point(self):
        return self[0]

    @property
    def interval(self):
        return self[1]


def check_n_bootstrap(n_bootstrap, *, allow_none: bool = False) -> int | None:
    """``n_bootstrap`` as an int, refused unless a non-negative integer (``None`` too with ``allow_none``):
    the one check of every function that takes a count of bootstrap resamples.

    Examples
    --------
    >>> from featbus.metrics import check_n_bootstrap
    >>> check_n_bootstrap(200), check_n_bootstrap(None, allow_none=True)
    (200, None)
    >>> check_n_bootstrap(-1)
    Traceback (most recent call last):
    ...
    ValueError: n_bootstrap must be a non-negative integer, got -1
    """
    if n_bootstrap is None and allow_none:
        return None
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, numbers.Integral) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer{' or None' if allow_none else ''}, "
                         f"got {n_bootstrap!r}")
    return int(n_bootstrap)


def bootstrap(statistic: Callable, *arrays, groups=None, n_bootstrap: int = 1000, random_state=None,
              confidence: float = CONFIDENCE) -> BootstrapResult:
    """Percentile bootstrap of ``statistic(*arrays)``, resampling whole groups.

    In the spirit of :func:`scipy.stats.bootstrap`, with the one resampling featbus uses: each
    resample draws as many units as there are, with replacement, and takes every sample of each
    drawn unit (a group: two views of one lesion are one piece of evidence; without groups,
    every sample is its own unit). The same ``random_state`` gives the same resamples
    everywhere, so two figures bootstrapped with one seed are paired.

    Parameters
    ----------
    statistic : callable
        ``statistic(*resampled_arrays)`` -> a float, an array of floats or a dict of floats.
        Pass ``np.arange(n)`` as the array to receive the resample's indices instead.
    *arrays : array-like
        Indexed along their first axis, all of one length.
    groups : array-like of shape (n_samples,), optional
        Resampling units; default every sample its own.
    n_bootstrap : int, default=1000
        Resamples (0: no interval, NaN).
    random_state : int, RandomState or None
        Seed; a ``RandomState`` is drawn from (and advanced) as it is, to chain several
        bootstraps on one sequence.
    confidence : float, default=CONFIDENCE

    Returns
    -------
    result : BootstrapResult
        ``point, (low, high) = result``; ``result.draws`` the resampled values.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.metrics import bootstrap
    >>> x = np.arange(10.0)
    >>> mean, (lo, hi) = bootstrap(np.mean, x, n_bootstrap=200, random_state=0)
    >>> float(mean), bool(lo < 4.5 < hi)
    (4.5, True)
    >>> figures, ci = bootstrap(lambda v: {"max": v.max()}, x, groups=x // 2, n_bootstrap=50, random_state=0)
    >>> sorted(ci)
    ['max']
    """
    if not arrays:
        raise ValueError("bootstrap needs at least one array")
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    for a in arrays[1:]:
        if len(a) != n:
            raise ValueError(f"the arrays have different lengths ({n} and {len(a)})")
    n_bootstrap = check_n_bootstrap(n_bootstrap)
    units = None if groups is None else group_units(groups, n)
    point = statistic(*arrays)
    rng = random_state if isinstance(random_state, np.random.RandomState) else np.random.RandomState(random_state)
    values = []
    for _ in range(int(n_bootstrap)):
        if units is None:
            idx = rng.randint(0, n, n)
        else:
            idx = np.concatenate([units[j] for j in rng.randint(0, len(units), len(units))])
        values.append(statistic(*(a[idx] for a in arrays)))
    if isinstance(point, dict):
        draws = {k: np.array([v[k] for v in values], dtype=float) for k in point}
        return BootstrapResult(point, {k: percentile_interval(d, confidence) for k, d in draws.items()}, draws)
    shape = np.shape(point)
    draws = np.asarray(values, dtype=float).reshape((len(values), *shape))
    if not shape:
        return BootstrapResult(point, percentile_interval(draws, confidence), draws)
    columns = draws.reshape(len(values), -1)
    pairs = np.array([percentile_interval(columns[:, j], confidence) for j in range(columns.shape[1])])
    return BootstrapResult(point, (pairs[:, 0].reshape(shape), pairs[:, 1].reshape(shape)), draws)


# --------------------------------------------------------------------------- writing an interval

def _finite(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def interval_text(interval, digits: int = 2, *, signed: bool = False, sep: str = ", ",
                  missing: str | None = None) -> str:
    """``" [low, high]"``, or ``""`` when the interval is missing, not finite, or a point (every
    resample gave one value: an AUC of 1 on a few patients; never printed as ``[1.00, 1.00]``).

    Parameters
    ----------
    interval : (low, high) or None
    digits : int, default=2
    signed : bool, default=False
        Write ``+`` before a positive bound (a difference).
    sep : str, default=", "
        Between the bounds (a tight table: ``","``).
    missing : str or None, default=None
        Written for a non-finite bound, the interval kept (a table's fixed columns); ``None``:
        no interval at all.

    Examples
    --------
    >>> from featbus.metrics import interval_text
    >>> interval_text((0.61, 0.804)), interval_text((float("nan"),) * 2), interval_text((-0.1, 0.2), signed=True)
    (' [0.61, 0.80]', '', ' [-0.10, +0.20]')
    >>> interval_text((0.61, float("nan")), 3, missing="  nan"), interval_text((0.61, 0.804), sep=",")
    (' [0.610,   nan]', ' [0.61,0.80]')
    >>> interval_text((0.0, 0.0037))   # 0 of 1000: an interval with width is never printed as a point
    ' [0.000, 0.004]'
    >>> interval_text((1.0, 1.0))      # a point: no interval
    ''
    """
    if interval is None or len(interval) != 2:
        return ""
    sign = "+" if signed else ""
    if all(_finite(c) for c in interval):
        if interval[0] == interval[1]:  # every resample gave one value (an AUC of 1): a point is no interval
            return ""
        # an interval with width is never printed as a point: as many more decimals as it takes (up to 4)
        while digits < 4 and f"{interval[0]:.{digits}f}" == f"{interval[1]:.{digits}f}":
            digits += 1
    if not all(_finite(c) for c in interval):
        if missing is None:
            return ""
        bounds = [f"{c:{sign}.{digits}f}" if _finite(c) else missing for c in interval]
        return f" [{bounds[0]}{sep}{bounds[1]}]"
    return f" [{interval[0]:{sign}.{digits}f}{sep}{interval[1]:{sign}.{digits}f}]"


def format_interval(value, interval=None, *, digits: int = 3, interval_digits: int = 2,
                    missing: str | None = "n/a", sep: str = ", ", missing_bound: str | None = None) -> str:
    """A figure as featbus prints it: ``"0.812 [0.75, 0.87]"`` (the value alone without an interval).

    Every "value [low, high]" featbus prints is written here.

    Parameters
    ----------
    value : float
    interval : (low, high), optional
    digits, interval_digits : int
        Decimals of the value and of the interval.
    missing : str or None, default="n/a"
        Written for a missing or non-finite value; ``None``: format it as it is (``nan``).
    sep : str, default=", "
        Between the bounds (:func:`interval_text`).
    missing_bound : str or None, default=None
        Written for a non-finite bound, the interval kept; ``None``: the value alone.

    Examples
    --------
    >>> from featbus.metrics import format_interval
    >>> format_interval(0.8123, (0.75, 0.871)), format_interval(0.8123), format_interval(None)
    ('0.812 [0.75, 0.87]', '0.812', 'n/a')
    >>> format_interval(float("nan"), (0.75, 0.871), missing=None, interval_digits=3)
    'nan [0.750, 0.871]'
    """
    if missing is not None and (value is None or not np.isfinite(value)):
        return missing
    return f"{value:.{digits}f}" + interval_text(interval, interval_digits, sep=sep, missing=missing_bound)


# --------------------------------------------------------------------------- held-out predictions

@dataclasses.dataclass(frozen=True)
class Predictions:
    """Held-out predictions of one model, as every judge of a model reads them.

    :class:`featbus.evaluation.Report` (cross-validation, an external test set),
    :class:`featbus.evaluation.validation.ExternalValidation` and :func:`featbus.evaluation.sites.site_figures`
    expose their predictions as this one view (``held_out``): :func:`featbus.evaluation.sanity.assess`,
    the plots of :mod:`featbus.evaluation.reporting` and the per-site figures of :mod:`featbus.evaluation.sites`
    read it, whatever made it.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        True labels, as in ``classes``.
    y_pred : ndarray of shape (n_samples,)
        The model's decisions (labels).
    scores : ndarray of shape (n_samples, n_classes) or None
        Probabilities (or decision values) in ``classes`` order.
    classes : ndarray
        The labels, in column order.
    class_names : list of str
        Their display names.
    groups : ndarray or None
        The bootstrap's resampling units (patients, near-duplicate groups).
    fold : ndarray or None, default=None
        The fold that held each sample out; ``None``: one test set.
    rule : (int, float) or None, default=None
        The decision rule of ``scores`` behind ``y_pred`` (:func:`decide`): ``None`` for the
        most probable class or decisions made otherwise (a classifier's own ``predict``).
    positive : str or None, default=None
        The class of interest (external validation: the AUC checked is this class's), else
        every class.
    source : str, default=""
        How the predictions were made (``"stratified 5-fold"``, ``"external validation"``).
    n_bootstrap : int, default=0
        Resamples behind the intervals the maker printed.
    random_state : int or None, default=None
        Their seed.
    auc_intervals : dict or None, default=None
        The AUC intervals the maker printed: class index (or ``"macro"``) -> ``(low, high)``.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.metrics import Predictions
    >>> view = Predictions(y_true=np.array(["a", "b"]), y_pred=np.array(["a", "a"]),
    ...                    scores=np.array([[0.9, 0.1], [0.6, 0.4]]), classes=np.array(["a", "b"]),
    ...                    class_names=["a", "b"], groups=None)
    >>> view.codes()[0].tolist(), view.codes()[1].tolist()
    ([0, 1], [0, 0])
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray | None
    classes: np.ndarray
    class_names: list
    groups: np.ndarray | None
    fold: np.ndarray | None = None
    rule: tuple | None = None
    positive: str | None = None
    source: str = ""
    n_bootstrap: int = 0
    random_state: Any = None
    auc_intervals: dict | None = None

    @classmethod
    def from_scores(cls, y_true, scores, classes, *, rule: tuple | None = None, groups=None,
                    positive: str | None = None, source: str = "", class_names=None) -> Predictions:
        """A model's predictions from its scores: the decisions are :func:`decide` of ``scores`` by
        ``rule`` (``None``: the most probable class), as every judge reads them.

        Examples
        --------
        >>> import numpy as np
        >>> from featbus.metrics import Predictions
        >>> view = Predictions.from_scores(["a", "b"], [[0.9, 0.1], [0.3, 0.7]], ["a", "b"], rule=(1, 0.8))
        >>> view.y_pred.tolist(), view.rule
        (['a', 'a'], (1, 0.8))
        """
        classes = np.asarray(classes, dtype=object)
        scores = np.asarray(scores, dtype=float)
        return cls(y_true=np.asarray(y_true, dtype=object), y_pred=classes[decide(scores, rule)], scores=scores,
                   classes=classes, class_names=list(class_names) if class_names is not None
                   else [str(c) for c in classes], groups=None if groups is None else np.asarray(groups),
                   rule=rule, positive=positive, source=source)

    @classmethod
    def binary(cls, is_positive, called=None, score=None, *, labels: Sequence[str] = ("other", "positive"),
               groups=None, positive: str | None = None) -> Predictions:
        """Two classes from booleans: ``is_positive`` the truth, ``called`` the decisions (default: the
        truth, for a figure of ``score`` alone), ``score`` p(positive) of each sample (optional);
        ``labels``: the names of the two classes, negative first (fixed names: no user's label is
        parsed).

        Examples
        --------
        >>> from featbus.metrics import Predictions
        >>> view = Predictions.binary([True, False, True], called=[True, True, False])
        >>> view.y_true.tolist(), view.y_pred.tolist()
        (['positive', 'other', 'positive'], ['positive', 'positive', 'other'])
        """
        classes = np.array(list(labels), dtype=object)
        truth = classes[np.asarray(is_positive, dtype=bool).astype(int)]
        y_pred = truth.copy() if called is None else classes[np.asarray(called, dtype=bool).astype(int)]
        scores = None if score is None else np.column_stack([1 - np.asarray(score, float), np.asarray(score, float)])
        return cls(y_true=truth, y_pred=y_pred, scores=scores, classes=classes, class_names=list(classes),
                   groups=groups, positive=positive)

    def codes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(y_true, y_pred)`` as class indices (-1: a decision outside ``classes``)."""
        index = {c: i for i, c in enumerate(np.asarray(self.classes).tolist())}
        yt = np.array([index[v] for v in np.asarray(self.y_true).tolist()], dtype=int)
        yp = np.array([index.get(v, -1) for v in np.asarray(self.y_pred).tolist()], dtype=int)
        return yt, yp

    def confusion_matrix(self) -> np.ndarray:
        """Counts over ``classes``: rows true, columns predicted."""
        yt, yp = self.codes()
        return confusion_matrix(yt, yp, len(self.classes))


def threshold_for_sensitivity(p_pos, is_pos, target: float) -> float | None:
    """The highest threshold ``t`` on p(positive) whose sensitivity (``p >= t``) reaches ``target``;
    ``None`` without a positive sample: the one operating-point rule of training, validation and
    adaptation.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.metrics import threshold_for_sensitivity
    >>> threshold_for_sensitivity(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 1, 0], bool), 0.6)
    0.8
    """
    p_pos, is_pos = np.asarray(p_pos, dtype=float), np.asarray(is_pos, dtype=bool)
    s = np.sort(p_pos[is_pos])[::-1]
    if s.size == 0:
        return None
    m = max(1, int(math.ceil(target * s.size - 1e-9)))
    return float(s[m - 1])


# --------------------------------------------------------------------------- the operating point

#: The sensitivity an operating point is chosen for when none is named (train, adapt, validate).
DEFAULT_TARGET_SENSITIVITY = 0.9


def _target(value, name: str = "target") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def _optional_float(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _joined(names: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _seen_by_of_record(value) -> tuple[tuple[str, int | None], ...] | None:
    """A record's ``seen_by`` (:attr:`OperatingPoint.seen_by`): ``None`` when absent; refused
    unless a list of ``{"part": name, "n_seen": count >= 0 or null}``."""
    if value is None:
        return None
    ok = isinstance(value, list) and all(
        isinstance(e, Mapping) and isinstance(e.get("part"), str) and e.get("part")
        and (e.get("n_seen") is None or (isinstance(e.get("n_seen"), numbers.Integral)
                                         and not isinstance(e.get("n_seen"), bool) and e["n_seen"] >= 0))
        for e in value)
    if not ok:
        raise ValueError(f"operating_point's 'seen_by' must be a list of {{'part': name, 'n_seen': count or null}}, "
                         f"got {value!r:.200}")
    return tuple((str(e["part"]), None if e.get("n_seen") is None else int(e["n_seen"])) for e in value)


def threshold_text(threshold: float, digits: int = 3) -> str:
    """A threshold written with ``digits`` significant digits, or more where fewer would read as
    0 or 1 (``p(lesion) < 1`` would say every image is normal when the threshold is 0.99954).

    Examples
    --------
    >>> from featbus.metrics import threshold_text
    >>> threshold_text(0.20046), threshold_text(0.9995441), threshold_text(1.0), threshold_text(0.00004, 4)
    ('0.2', '0.9995', '1', '4e-05')
    """
    t = float(threshold)
    text = f"{t:.{digits}g}"
    while float(text) in (0.0, 1.0) and float(text) != t and digits < 17:
        digits += 1
        text = f"{t:.{digits}g}"
    return text


def lesion_and_given(proba, classes: Sequence, *, absent: str = "normal",
                     positive: str = "malignant") -> tuple[np.ndarray, np.ndarray]:
    """The two scores of a two-decision model: ``p(lesion) = 1 - p(absent)`` and
    ``p(positive | lesion) = p(positive) / p(lesion)`` (0 where ``p(lesion)`` is 0).

    Examples
    --------
    >>> from featbus.metrics import lesion_and_given
    >>> lesion_and_given([[0.3, 0.3, 0.4]], ["benign", "malignant", "normal"])
    (array([0.6]), array([0.5]))
    """
    P = np.asarray(proba, dtype=float)
    classes = [str(c) for c in classes]
    p_lesion = 1.0 - P[:, classes.index(absent)]
    safe = np.where(p_lesion > 0, p_lesion, 1.0)
    return p_lesion, np.where(p_lesion > 0, P[:, classes.index(positive)] / safe, 0.0)


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """A threshold on one class's probability: what decides ``positive``, and where it came from.

    The decision rule of scikit-learn's :class:`~sklearn.model_selection.FixedThresholdClassifier`
    (its ``decision_threshold_``) for a model with any number of classes: an image is ``positive``
    when ``p(positive) >= threshold``, otherwise the most probable of the other classes. Chosen
    once by :meth:`choose` (the one rule of ``featbus train --operating-point`` and
    :func:`featbus.adapt`), stored in a model file by :meth:`to_record` (its ``operating_point``),
    read back by :meth:`from_record` and applied by :meth:`decide` (predict, validation, the
    per-site figures).

    Parameters
    ----------
    positive : str
        The class whose probability is thresholded.
    threshold : float
        ``positive`` when ``p(positive) >= threshold``.
    target_sensitivity : float or None, default=None
        The sensitivity it was chosen for (``None``: set by hand, or read from a file that does not say).
    sensitivity, specificity : float or None, default=None
        What it gave where it was chosen (``None``: unknown, or no such image there).
    chosen_on : str or None, default=None
        What it was chosen on (``"out-of-fold probabilities of 480 training images ..."``).
    specificity_of : dict, default={}
        Class -> the specificity among that class's images alone (recorded as
        ``specificity_<class>``; training records its benign images').
    n_images : int or None, default=None
        The images it was chosen on, when recorded.
    extra : dict, default={}
        Other keys of the record it was read from, written back as they were.
    absent : str or None, default=None
        Two decisions (with ``presence``): the class that means "no lesion" (``"normal"``).
    presence : OperatingPoint or None, default=None
        The first decision, "is there a lesion?": an image is ``absent`` when
        ``p(lesion) = 1 - p(absent)`` is below ``presence.threshold`` (its ``positive`` is
        ``"lesion"``, its sensitivity the share of lesion images called a lesion, its specificity
        the share of ``absent`` images called ``absent``). The second decision is then taken
        among lesions on ``p(positive | lesion) = p(positive) / p(lesion)``: ``positive`` when
        it reaches ``threshold``, else the most probable other lesion class.
        :meth:`choose_two` chooses both.
    seen_by : tuple of (str, int or None), or None, default=None
        The trained parts (the segmenter, a backbone, the head itself) that saw the images its
        figures were measured on, each with how many of those images it saw (``None``: it may
        have, featbus cannot tell); ``()``: none did; ``None``: not recorded (a file from before,
        or a point made by hand). :meth:`describe` says it beside the figures (recorded as
        ``seen_by``; :func:`featbus.model.provenance.stored_operating_point` reads it into an
        older file's point from its manifest).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.metrics import OperatingPoint
    >>> y = np.array(["malignant", "malignant", "malignant", "benign", "normal"])
    >>> P = np.array([[.1, .8, .1], [.5, .4, .1], [.6, .3, .1], [.2, .5, .3], [.1, .1, .8]])
    >>> op = OperatingPoint.choose(y, P, classes=["benign", "malignant", "normal"], positive="malignant",
    ...                            target=0.6, chosen_on="five images")
    >>> op.threshold, round(op.sensitivity, 3), op.specificity
    (0.4, 0.667, 0.5)
    >>> op.decide(P, ["benign", "malignant", "normal"]).tolist()
    ['malignant', 'malignant', 'benign', 'malignant', 'normal']
    >>> print(op.describe())  # doctest: +NORMALIZE_WHITESPACE
    malignant when p(malignant) >= 0.4, chosen for sensitivity 0.6 on five images
    (there: sensitivity 0.67, specificity 0.50)
    >>> OperatingPoint.from_record(op.to_record()) == op
    True

    Two decisions, each with its own point:

    >>> two = OperatingPoint.choose_two(y, P, classes=["benign", "malignant", "normal"], absent="normal",
    ...                                 target=0.6, presence_target=1.0, chosen_on="five images")
    >>> two.decide(P, ["benign", "malignant", "normal"]).tolist()
    ['malignant', 'malignant', 'benign', 'malignant', 'normal']
    >>> print(two.describe())  # doctest: +NORMALIZE_WHITESPACE
    normal when p(lesion) < 0.7, chosen for lesion sensitivity 1 on five images (there: lesion images called a
    lesion 1.00, normal images called normal 1.00); otherwise malignant when p(malignant | lesion) >= 0.444,
    chosen for sensitivity 0.6 on five images (there: sensitivity 0.67, specificity 0.00)
    >>> OperatingPoint.from_record(two.to_record()) == two
    True
    """

    positive: str
    threshold: float
    target_sensitivity: float | None = None
    sensitivity: float | None = None
    specificity: float | None = None
    chosen_on: str | None = None
    specificity_of: Mapping[str, float | None] = dataclasses.field(default_factory=dict, hash=False)
    n_images: int | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    absent: str | None = None
    presence: OperatingPoint | None = None
    seen_by: tuple[tuple[str, int | None], ...] | None = None

    @property
    def two_decisions(self) -> bool:
        """Whether a lesion-presence decision comes first (``presence`` set)."""
        return self.presence is not None

    @classmethod
    def choose_two(cls, y_true, proba, *, classes: Sequence, absent: str, positive: str = "malignant",
                   target: float = DEFAULT_TARGET_SENSITIVITY, presence_target: float | None = None,
                   presence_threshold: float | None = None, chosen_on: str | None = None,
                   presence_chosen_on: str | None = None) -> OperatingPoint:
        """Both points of a two-decision model, each by the one rule (:meth:`choose`).

        The presence point is chosen on ``p(lesion) = 1 - p(absent)`` of every image, lesion
        images being the positives (for ``presence_target``), or set to ``presence_threshold``
        (its figures are still measured here). The malignancy point is chosen on
        ``p(positive | lesion)`` among the lesion images (``y_true != absent``).

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
        proba : array-like of shape (n_samples, n_classes)
        classes : sequence of str
            Must hold ``absent`` and ``positive``.
        absent : str
            The "no lesion" class.
        positive : str, default="malignant"
        target : float in (0, 1], default=DEFAULT_TARGET_SENSITIVITY
            The malignancy point's sensitivity.
        presence_target : float in (0, 1], optional
            The share of lesion images to call a lesion.
        presence_threshold : float in [0, 1], optional
            A presence threshold set beforehand (exactly one of the two presence settings).
        chosen_on, presence_chosen_on : str, optional
            What the labels are; ``presence_chosen_on`` defaults to ``chosen_on``. With
            ``presence_threshold``, ``presence_chosen_on`` says instead where that threshold comes
            from (:meth:`describe` writes it as given, then the figures it gave on these images),
            and does not default.

        Returns
        -------
        point : OperatingPoint

        Raises
        ------
        ValueError
            A class missing, no lesion image or no ``positive`` image, or not exactly one presence setting.
        """
        classes = [str(c) for c in classes]
        for c in (absent, positive):
            if c not in classes:
                raise ValueError(f"the class {c!r} is not one of the classes ({', '.join(classes)})")
        if (presence_target is None) == (presence_threshold is None):
            raise ValueError("give exactly one of presence_target and presence_threshold")
        P = np.asarray(proba, dtype=float)
        y = np.asarray(y_true, dtype=str)
        if P.shape != (y.size, len(classes)):
            raise ValueError(f"proba has shape {P.shape}; expected {(y.size, len(classes))}")
        p_lesion, q = lesion_and_given(P, classes, absent=absent, positive=positive)
        lesion = y != absent
        if not lesion.any():
            raise ValueError(f"no lesion image (every label is {absent!r}) to choose the points on")
        where = presence_chosen_on if presence_chosen_on is not None or presence_threshold is not None else chosen_on
        if presence_threshold is None:
            pres = cls.choose_presence(p_lesion, y, absent=absent, target=presence_target, chosen_on=where)
        else:
            t = float(presence_threshold)
            if not 0 <= t <= 1:
                raise ValueError(f"presence_threshold must be in [0, 1], got {presence_threshold!r}")
            sens, spec = sensitivity_specificity(lesion, p_lesion >= t, zero_division=np.nan)
            pres = cls(positive="lesion", threshold=t, sensitivity=_optional_float(sens),
                       specificity=_optional_float(spec), chosen_on=where, n_images=int(y.size))
        mal = cls.choose_given_lesion(q, y, absent=absent, positive=positive, target=target, chosen_on=chosen_on)
        return dataclasses.replace(mal, absent=absent, presence=pres)

    @classmethod
    def choose_presence(cls, p_lesion, y_true, *, absent: str, target: float,
                        chosen_on: str | None = None) -> OperatingPoint:
        """The presence point of :meth:`choose_two`, from scores: the one rule (:meth:`choose`) on
        ``p(lesion)``, the images not labelled ``absent`` its positives (``positive="lesion"``).

        Raises
        ------
        ValueError
            No lesion image.
        """
        p = np.asarray(p_lesion, dtype=float)
        y = np.asarray(y_true, dtype=str)
        point = cls.choose(np.where(y != absent, "lesion", absent), np.column_stack([1 - p, p]),
                           classes=[absent, "lesion"], positive="lesion", target=target, chosen_on=chosen_on)
        return dataclasses.replace(point, n_images=int(y.size))

    @classmethod
    def choose_given_lesion(cls, p_given, y_true, *, absent: str, positive: str = "malignant",
                            target: float = DEFAULT_TARGET_SENSITIVITY,
                            chosen_on: str | None = None) -> OperatingPoint:
        """The malignancy point of :meth:`choose_two`, from scores: the one rule (:meth:`choose`)
        on ``p(positive | lesion)`` of the lesion images (labels other than ``absent``); without
        its presence point (``dataclasses.replace(point, absent=..., presence=...)`` adds it).

        Raises
        ------
        ValueError
            No ``positive`` image among the lesion images.
        """
        q = np.asarray(p_given, dtype=float)
        y = np.asarray(y_true, dtype=str)
        lesion = y != absent
        point = cls.choose(np.where(y[lesion] == positive, positive, "other"),
                           np.column_stack([1 - q[lesion], q[lesion]]), classes=["other", positive],
                           positive=positive, target=target, chosen_on=chosen_on)
        return dataclasses.replace(point, n_images=int(lesion.sum()))

    @classmethod
    def choose(cls, y_true, proba, *, classes: Sequence, positive: str,
               target: float = DEFAULT_TARGET_SENSITIVITY, chosen_on: str | None = None,
               specificity_of: Sequence[str] = ()) -> OperatingPoint:
        """The highest threshold on ``p(positive)`` whose sensitivity reaches ``target`` on these labels.

        The one rule (:func:`threshold_for_sensitivity`): with ``m = ceil(target * n_positive)``,
        the ``m``-th highest ``p(positive)`` of the positive images.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True labels (held-out ones: a threshold chosen on the training fit is optimistic).
        proba : array-like of shape (n_samples, n_classes)
            Probabilities, columns in ``classes`` order.
        classes : sequence of str
        positive : str
        target : float in (0, 1], default=DEFAULT_TARGET_SENSITIVITY
            The sensitivity to reach.
        chosen_on : str, optional
            What these labels are, for the record.
        specificity_of : sequence of str, default=()
            Classes whose own specificity is recorded too.

        Returns
        -------
        point : OperatingPoint

        Raises
        ------
        ValueError
            No ``positive`` image, ``positive`` not a class, ``target`` outside (0, 1].
        """
        target = _target(target)
        classes = [str(c) for c in classes]
        if positive not in classes:
            raise ValueError(f"the positive class {positive!r} is not one of the classes ({', '.join(classes)})")
        P = np.asarray(proba, dtype=float)
        y = np.asarray(y_true, dtype=str)
        if P.shape != (y.size, len(classes)):
            raise ValueError(f"proba has shape {P.shape}; expected {(y.size, len(classes))}")
        p_pos, is_pos = P[:, classes.index(positive)], y == positive
        threshold = threshold_for_sensitivity(p_pos, is_pos, target)
        if threshold is None:
            raise ValueError(f"no {positive!r} image to choose an operating point on")
        called = p_pos >= threshold
        sens, spec = sensitivity_specificity(is_pos, called, zero_division=np.nan)
        of = {}
        for c in specificity_of:
            sel = is_pos | (y == str(c))
            of[str(c)] = _optional_float(sensitivity_specificity(is_pos[sel], called[sel], zero_division=np.nan)[1])
        return cls(positive=positive, threshold=float(threshold), target_sensitivity=target,
                   sensitivity=_optional_float(sens), specificity=_optional_float(spec), chosen_on=chosen_on,
                   specificity_of=of)

    def rule(self, classes: Sequence) -> tuple[int, float]:
        """``(index of positive in classes, threshold)``: the rule :func:`decide` and
        :class:`Predictions` take."""
        names = [str(c) for c in np.asarray(classes).tolist()]
        for c in (self.positive, self.absent):
            if c is not None and c not in names:
                raise ValueError(f"the operating point's class {c!r} is not one of the classes "
                                 f"({', '.join(names)})")
        if self.presence is not None:
            return names.index(self.positive), self.threshold, names.index(self.absent), self.presence.threshold
        return names.index(self.positive), self.threshold

    def decide(self, proba, classes) -> np.ndarray:
        """The decisions: ``positive`` when ``p(positive) >= threshold``, else the most probable other class.

        Parameters
        ----------
        proba : array-like of shape (n_samples, n_classes)
        classes : array-like of shape (n_classes,)
            The labels of ``proba``'s columns.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Elements of ``classes``.
        """
        classes = np.asarray(classes)
        return classes[decide(proba, self.rule(classes))]

    def rule_text(self) -> str:
        """The rule alone, as the ``rule`` column of predictions writes it:
        ``"malignant when p(malignant) >= 0.0431, else the most probable other class"``."""
        p = self.positive
        if self.presence is None:
            return f"{p} when p({p}) >= {threshold_text(self.threshold, 4)}, else the most probable other class"
        return (f"{self.absent} when p(lesion) < {threshold_text(self.presence.threshold, 4)}; otherwise {p} when "
                f"p({p} | lesion) >= {threshold_text(self.threshold, 4)}, else the most probable other lesion class")

    def describe(self) -> str:
        """The rule in words: ``"malignant when p(malignant) >= 0.043, chosen for sensitivity 0.9 on ..."``.

        Of two decisions, both points, each with where it came from. A presence threshold set
        beforehand (:meth:`choose_two`'s ``presence_threshold``) was not chosen on the images its
        figures were measured on: it is said to be *set by* its ``chosen_on``, and its figures
        are said as what they count, on how many images. Figures on images a trained part saw
        (:attr:`seen_by`) say so beside them: they are optimistic for new images.

        Examples
        --------
        >>> from featbus.metrics import OperatingPoint
        >>> pres = OperatingPoint("lesion", 0.4, sensitivity=0.99, specificity=0.55, n_images=90,
        ...                       chosen_on="the segmenter's own rule", seen_by=(("the segmenter", 90),))
        >>> print(OperatingPoint("malignant", 0.2, absent="normal", presence=pres).describe())
        ... # doctest: +NORMALIZE_WHITESPACE
        normal when p(lesion) < 0.4, set by the segmenter's own rule (measured on 90 images, all seen in training
        by the segmenter, so optimistic: lesion images called a lesion 0.99, normal images called normal 0.55);
        otherwise malignant when p(malignant | lesion) >= 0.2
        >>> print(OperatingPoint("malignant", 0.2, target_sensitivity=0.9, sensitivity=0.9, specificity=0.6,
        ...                      n_images=80, chosen_on="out-of-fold probabilities of 80 training images",
        ...                      seen_by=(("the backbone breast-us", 80), ("the segmenter", None))).describe())
        ... # doctest: +NORMALIZE_WHITESPACE
        malignant when p(malignant) >= 0.2, chosen for sensitivity 0.9 on out-of-fold probabilities of 80 training
        images (there, on 80 images, all seen in training by the backbone breast-us, perhaps by the segmenter
        (featbus cannot tell), so optimistic: sensitivity 0.90, specificity 0.60)
        """
        p = self.positive
        if self.presence is not None:
            pres = self.presence
            first = f"{self.absent} when p(lesion) < {threshold_text(pres.threshold)}"
            if pres.target_sensitivity is not None:
                first += f", chosen for lesion sensitivity {pres.target_sensitivity:g}"
                if pres.chosen_on:
                    first += f" on {pres.chosen_on}"
                where = pres._there()
            else:  # set beforehand: its figures were measured, not reached by choosing it
                first += f", set by {pres.chosen_on}" if pres.chosen_on else ", set beforehand"
                seen = pres._seen_clause()
                where = (f"measured on {pres.n_images} images" if pres.n_images is not None else "measured") + (
                    f", {seen}" if seen else "")
            there = [f"{k} {v:.2f}" for k, v in (("lesion images called a lesion", pres.sensitivity),
                                                 (f"{self.absent} images called {self.absent}",
                                                  pres.specificity)) if v is not None]
            first += f" ({where}: {', '.join(there)})" if there else ""
            second = dataclasses.replace(self, presence=None, absent=None).describe()
            return f"{first}; otherwise {second.replace(f'p({p})', f'p({p} | lesion)', 1)}"
        text = f"{p} when p({p}) >= {threshold_text(self.threshold)}"
        if self.target_sensitivity is not None:
            text += f", chosen for sensitivity {self.target_sensitivity:g}"
        if self.chosen_on:
            text += f"{'' if self.target_sensitivity is not None else ', chosen'} on {self.chosen_on}"
        there = [f"{k} {v:.2f}" for k, v in (("sensitivity", self.sensitivity), ("specificity", self.specificity))
                 if v is not None]
        return text + (f" ({self._there()}: {', '.join(there)})" if there else "")

    def _there(self) -> str:
        """Where the figures of a chosen point were measured: ``"there"``, with the trained parts
        that saw those images (``"there, on 1575 images, all seen in training by ..."``)."""
        seen = self._seen_clause()
        if not seen:
            return "there"
        return f"there, on {self.n_images} images, {seen}" if self.n_images is not None else f"there, {seen}"

    def _seen_clause(self) -> str:
        """The trained parts that saw the images of the figures (:attr:`seen_by`), in words
        (``""``: none did, or not recorded)."""
        known: dict[int, list[str]] = {}
        maybe = []
        for part, k in self.seen_by or ():
            if k is None:
                maybe.append(part)
            elif k > 0:
                known.setdefault(int(k), []).append(part)
        said = [f"{'all' if k == self.n_images else f'{k} of them'} {'' if i else 'seen in training '}by "
                f"{_joined(parts)}" for i, (k, parts) in enumerate(sorted(known.items(), key=lambda kv: -kv[0]))]
        if maybe:
            said.append(f"perhaps {'' if said else 'seen in training '}by {_joined(maybe)} (featbus cannot tell)")
        if not said:
            return ""
        return ", ".join(said) + (", so optimistic" if known else ", so perhaps optimistic")

    def to_record(self) -> dict[str, Any]:
        """The model file's ``operating_point`` (JSON-ready; the keys featbus has always written).

        ``positive`` and ``threshold``; with a target, ``target_sensitivity``, ``sensitivity`` and
        ``specificity``; then ``specificity_<class>``, ``n_images`` and ``chosen_on`` when known,
        ``seen_by`` when recorded (a list of ``{"part": name, "n_seen": count or null}``), and
        any other key of the record it was read from.
        """
        out: dict[str, Any] = {"positive": self.positive, "threshold": float(self.threshold)}
        if self.target_sensitivity is not None:
            out["target_sensitivity"] = float(self.target_sensitivity)
        for key in ("sensitivity", "specificity"):  # what it gave: always beside a target
            if self.target_sensitivity is not None or getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update({f"specificity_{c}": v for c, v in self.specificity_of.items()})
        if self.n_images is not None:
            out["n_images"] = int(self.n_images)
        if self.chosen_on is not None:
            out["chosen_on"] = self.chosen_on
        if self.seen_by is not None:
            out["seen_by"] = [{"part": part, "n_seen": k} for part, k in self.seen_by]
        if self.presence is not None:
            out["absent"] = self.absent
            out["presence"] = self.presence.to_record()
        out.update(self.extra)
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> OperatingPoint:
        """The operating point of a model file's ``operating_point`` (any featbus version's).

        Raises
        ------
        ValueError
            Not an object with a ``positive`` class name and a ``threshold`` in [0, 1], or a
            ``seen_by`` that is not a list of ``{"part": name, "n_seen": count or null}``.
        """
        t = record.get("threshold") if isinstance(record, Mapping) else None
        if (not isinstance(record, Mapping) or not isinstance(record.get("positive"), str) or isinstance(t, bool)
                or not isinstance(t, numbers.Real) or not 0 <= t <= 1):
            raise ValueError(f"operating_point must be an object with a 'positive' class and a 'threshold' in "
                             f"[0, 1], got {record!r}")
        known = {"positive", "threshold", "target_sensitivity", "sensitivity", "specificity", "n_images",
                 "chosen_on", "absent", "presence", "seen_by"}
        presence = record.get("presence")
        if presence is not None and not isinstance(record.get("absent"), str):
            raise ValueError(f"operating_point has a 'presence' point but no 'absent' class name, got {record!r}")
        of = {k[len("specificity_"):]: _optional_float(v) for k, v in record.items() if k.startswith("specificity_")}
        extra = {k: v for k, v in record.items() if k not in known and not k.startswith("specificity_")}
        ts = record.get("target_sensitivity")
        return cls(positive=record["positive"], threshold=float(t),
                   target_sensitivity=None if ts is None else float(ts),
                   sensitivity=_optional_float(record.get("sensitivity")),
                   specificity=_optional_float(record.get("specificity")),
                   chosen_on=None if record.get("chosen_on") is None else str(record["chosen_on"]),
                   specificity_of=of, n_images=None if record.get("n_images") is None else int(record["n_images"]),
                   extra=extra, absent=None if presence is None else record["absent"],
                   presence=None if presence is None else cls.from_record(presence),
                   seen_by=_seen_by_of_record(record.get("seen_by")))
