"""Classification metrics of one set of predictions: per class (one-vs-rest) and macro.

The one place featbus computes accuracy, sensitivity, specificity, precision, F1 and the rank
AUC; :mod:`featbus.evaluation` (cross-validation, bootstrap intervals) and
:mod:`featbus.reporting` (tables, plots) use it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["classification_metrics", "PER_CLASS_METRICS"]

#: Metrics computed for each class (one-vs-rest) and macro-averaged.
PER_CLASS_METRICS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "auc")


def _auc_binary(pos: np.ndarray, score: np.ndarray) -> float:
    """Rank (Mann-Whitney) AUC with mid-ranks for ties; NaN without both classes."""
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _metrics_arrays(yt: np.ndarray, yp: np.ndarray, scores: np.ndarray | None, k: int):
    """Per-class metric table (k, 6), overall accuracy and confusion matrix, labels 0..k-1."""
    n = yt.size
    cm = np.bincount(yt * k + yp, minlength=k * k).reshape(k, k).astype(float)
    tp = np.diag(cm)
    fn = cm.sum(1) - tp
    fp = cm.sum(0) - tp
    tn = n - tp - fn - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        # undefined ratios are 0, as in scikit-learn's default zero_division, so tables match
        sens = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
        spec = np.where(tn + fp > 0, tn / np.maximum(tn + fp, 1), 0.0)
        prec = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        f1 = np.where(prec + sens > 0, 2 * prec * sens / np.where(prec + sens > 0, prec + sens, 1), 0.0)
    acc_k = (tp + tn) / max(n, 1)
    if scores is None:
        auc = np.full(k, math.nan)
    else:
        auc = np.array([_auc_binary(yt == c, scores[:, c]) for c in range(k)])
    table = np.column_stack([acc_k, sens, spec, prec, f1, auc])
    return table, float(tp.sum() / max(n, 1)), cm


def classification_metrics(y_true, y_pred, scores=None, *, labels=None) -> dict[str, Any]:
    """Per-class and macro metrics of one set of predictions.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    scores : array-like of shape (n_samples, n_classes), optional
        Probabilities or decision scores, columns in the order of ``labels``; gives the
        one-vs-rest AUC (rank based, so uncalibrated decision scores are fine).
    labels : array-like, optional
        Class order; default the sorted union of ``y_true`` and ``y_pred``.

    Returns
    -------
    metrics : dict
        ``"per_class"`` (dict label -> dict metric -> value; ``accuracy`` there is the
        one-vs-rest accuracy), ``"macro"`` (unweighted means over classes, except
        ``accuracy``, which is the overall fraction correct), ``"confusion_matrix"``
        (rows true, columns predicted) and ``"labels"``.

    Examples
    --------
    >>> from featbus.metrics import classification_metrics
    >>> m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], [[.9, .1], [.4, .6], [.2, .8], [.3, .7]])
    >>> m["macro"]["accuracy"], m["per_class"][1]["sensitivity"], m["per_class"][1]["auc"]
    (0.75, 1.0, 1.0)
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    index = {v: i for i, v in enumerate(labels.tolist())}
    try:
        yt = np.array([index[v] for v in y_true.tolist()], dtype=int)
        yp = np.array([index[v] for v in y_pred.tolist()], dtype=int)
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not in labels {labels.tolist()}") from None
    s = None if scores is None else np.asarray(scores, dtype=float)
    if s is not None and s.shape != (yt.size, labels.size):
        raise ValueError(f"scores has shape {s.shape}; expected {(yt.size, labels.size)}")
    table, acc, cm = _metrics_arrays(yt, yp, s, labels.size)
    per_class = {lab: dict(zip(PER_CLASS_METRICS, map(float, row))) for lab, row in zip(labels.tolist(), table)}
    macro = dict(zip(PER_CLASS_METRICS, map(float, _nanmean_cols(table))))
    macro["accuracy"] = acc
    return {"per_class": per_class, "macro": macro, "confusion_matrix": cm.astype(int), "labels": labels}


def _nanmean_cols(table: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        ok = ~np.isnan(table)
        return np.where(ok.any(0), np.nansum(table, 0) / np.maximum(ok.sum(0), 1), np.nan)


# --------------------------------------------------------------------------- folds
