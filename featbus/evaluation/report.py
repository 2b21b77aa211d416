"""Honest evaluation: cross-validated predictions on duplicate-grouped folds, metrics with
bootstrap confidence intervals, and paired comparisons of pipelines on the same folds.

:func:`evaluate` fits a clone of the estimator on each training fold and predicts the held-out
fold, so every image is predicted once by a model that never saw it (nor, with the default
``cv="duplicate-grouped"``, any near-duplicate of it). The :class:`Report` it returns keeps the
per-sample predictions, scores and fold numbers, computes the metrics the breast-imaging papers
report (accuracy, precision, recall/sensitivity, specificity, F1, one-vs-rest AUC, confusion
matrix) per class and macro-averaged, each with a bootstrap 95% confidence interval, and
writes text, pandas and HTML reports. :func:`compare` runs paired tests between reports made on
the same folds.

Bootstrap intervals resample *groups* (near-duplicate clusters) when groups are known, not
single images: copies of one lesion are not independent evidence, and resampling them one by
one would give intervals that are too narrow.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from scipy import stats
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import ParameterGrid, StratifiedGroupKFold, StratifiedKFold

from .._compat import BaseSearchCV, GroupsConsumerMixin
from .._compat import safe_indexing as _safe_indexing
from ..metrics import (
    PER_CLASS_METRICS,
    Predictions,
    bootstrap,
    check_n_bootstrap,
    confusion_matrix,
)
from ..model.provenance import overlap_notes
from ..model_selection import grouping_name, groups_origin, resolve_groups
from ..pipelines.encoded_labels import EncodedLabelClassifier
from ..progress import progress_bar, progress_mode
from .figures import MACRO, FigureKey, classification_metrics, estimate, figures
from .reporting import comparison_table

__all__ = [
    "evaluate", "Report", "compare", "comparison_table", "classification_metrics", "make_splits",
    "PER_CLASS_METRICS", "evaluate_external", "never_predicted",
]


def _is_bunch(obj) -> bool:
    return hasattr(obj, "target") and (hasattr(obj, "data") or hasattr(obj, "images"))


def _resolve(data_or_X, y, groups):
    """(X, y, groups, class display names or None) from a Bunch or from X, y."""
    target_names = None
    if _is_bunch(data_or_X):
        if y is not None:
            raise ValueError("pass either a data Bunch or X and y, not a Bunch and y")
        X = data_or_X.data if hasattr(data_or_X, "data") else data_or_X.images
        y = data_or_X.target
        if groups is None:
            groups = getattr(data_or_X, "groups", None)
        target_names = getattr(data_or_X, "target_names", None)
    else:
        X = data_or_X
        if y is None:
            raise ValueError("y is required when X is not a data Bunch (load_busi(), make_phantoms()...)")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    n = _num_samples(X)
    if n != y.size:
        raise ValueError(f"X holds {n} samples but y has {y.size} labels; they must match")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups has shape {groups.shape}; expected ({n},)")
    return X, y, groups, target_names


def _num_samples(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def make_splits(X, y, *, cv: Any = "duplicate-grouped", n_splits: int = 5, groups=None,
                random_state: int | None = 0, groups_from: str | None = None
                ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray | None, str]:
    """The cross-validation folds :func:`evaluate` uses.

    Parameters
    ----------
    X : images or feature matrix
    y : array-like of shape (n_samples,)
    cv : "duplicate-grouped", "stratified", a splitter or an iterable of (train, test)
        ``"duplicate-grouped"`` keeps each group of ``groups`` in one fold (stratified by
        class, :class:`~sklearn.model_selection.StratifiedGroupKFold`); without ``groups``
        the near-duplicate groups are computed from the images with
        :func:`featbus.duplicate_groups`. ``"stratified"`` is plain shuffled stratified
        k-fold, which lets near-duplicates straddle folds (the leaky comparison).
    n_splits : int
    groups : array-like, optional
    random_state : int or None
    groups_from : str, optional
        Where given ``groups`` came from (``Bunch.groups_from``: ``"patients: the 'Case' column
        of BUS_Data.csv"``): the description then names them ("patient-grouped 5-fold (from
        ...)") instead of "duplicate-grouped", which is kept for near-duplicate groups.

    Returns
    -------
    splits : list of (train_indices, test_indices)
    groups : ndarray or None
        The groups used (computed ones included).
    description : str

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.evaluation import make_splits
    >>> y = np.array([0, 1] * 10)
    >>> splits, g, how = make_splits(np.zeros((20, 3)), y, groups=np.arange(20) // 2, n_splits=5)
    >>> len(splits), how
    (5, 'duplicate-grouped 5-fold')
    """
    y = np.asarray(y)
    if isinstance(cv, str):
        key = cv.strip().lower().replace("_", "-")
        if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
        if key in ("duplicate-grouped", "grouped", "group"):
            groups = resolve_groups(X, groups, n_samples=y.size)
            n_groups = np.unique(groups).size
            if n_groups < n_splits:
                raise ValueError(f"only {n_groups} groups for {n_splits} folds")
            splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
            splits = list(splitter.split(np.zeros(y.size), y, groups))
            how = grouping_name(groups_from)  # "duplicate-grouped", or "patient-grouped (from ...)"
            head, _, origin = how.partition(" (")
            return splits, groups, f"{head} {n_splits}-fold" + (f" ({origin}" if origin else "")
        if key in ("stratified", "stratified-kfold"):
            splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
            return list(splitter.split(np.zeros(y.size), y)), groups, f"stratified {n_splits}-fold"
        raise ValueError(f"cv must be 'duplicate-grouped', 'stratified', a splitter or a list of "
                         f"(train, test) pairs; got {cv!r}")
    if hasattr(cv, "split"):
        splits = list(cv.split(X, y, groups))
        how = type(cv).__name__
    else:
        splits = [(np.asarray(tr), np.asarray(te)) for tr, te in cv]
        how = f"given {len(splits)} folds"
    if not splits:
        raise ValueError("cv gave no folds")
    return [(np.asarray(tr), np.asarray(te)) for tr, te in splits], groups, how


def _fit_fold(estimator, X, y, groups, train, test, classes, fold, fit_params=None):
    est = clone(estimator)
    X_tr, X_te = _safe_indexing(X, train), _safe_indexing(X, test)
    params = dict(fit_params or {})
    if groups is not None and isinstance(est, BaseSearchCV) and isinstance(est.cv, GroupsConsumerMixin):
        params["groups"] = groups[train]  # a search: its inner folds can keep duplicates together
    est.fit(X_tr, y[train], **params)
    y_pred = np.asarray(est.predict(X_te))
    scores, kind = _scores(est, X_te, classes)
    return fold, test, y_pred, scores, kind


def _scores(est, X, classes) -> tuple[np.ndarray | None, str]:
    """Class scores aligned on ``classes``: probabilities, else decision values."""
    est_classes = np.asarray(getattr(est, "classes_", classes))
    if hasattr(est, "predict_proba"):
        raw, kind = np.asarray(est.predict_proba(X), dtype=float), "probability"
    elif hasattr(est, "decision_function"):
        raw, kind = np.asarray(est.decision_function(X), dtype=float), "decision"
        if raw.ndim == 1:  # binary: the score of classes_[1]
            raw = np.column_stack([-raw, raw])
    else:
        return None, "none"
    out = np.full((raw.shape[0], len(classes)), -np.inf if kind == "decision" else 0.0)
    pos = {c: i for i, c in enumerate(classes.tolist())}
    for j, c in enumerate(est_classes.tolist()):
        out[:, pos[c]] = raw[:, j]
    return out, kind


# --------------------------------------------------------------------------- report

@dataclass
class Report:
    """Cross-validated predictions of one estimator, with metrics and confidence intervals.

    Made by :func:`evaluate`; keeps everything needed to recompute any metric, plot, or compare
    with another report made on the same folds. The fields are its parameters and attributes.

    Parameters
    ----------
    name : str
        Display name of the pipeline.
    classes : ndarray
        Labels as in ``y``, in column order of ``scores``.
    class_names : list of str
        Display names (``target_names`` of a Bunch, else ``str`` of the labels).
    y_true : ndarray of shape (n_samples,)
        True labels.
    y_pred : ndarray of shape (n_samples,)
        Held-out predictions.
    scores : ndarray of shape (n_samples, n_classes) or None
        Held-out probabilities (``score_kind="probability"``) or decision values
        (``"decision"``, e.g. an SVC: AUC and ROC need only a ranking).
    score_kind : str
        ``"probability"``, ``"decision"``, ``"none"`` or ``"mixed"``.
    fold : ndarray of shape (n_samples,)
        Fold that held each sample out.
    splits : list of (train, test)
        The folds' index arrays.
    groups : ndarray or None
        Near-duplicate groups the folds kept together (also the bootstrap's resampling units).
    cv : str
        How the folds were made.
    n_bootstrap : int
        Bootstrap resamples behind the intervals.
    random_state : int or None
        Seed of the folds and of the bootstrap.
    estimator : str
        ``repr`` of the evaluated estimator.
    metrics : dict
        :func:`classification_metrics` of the pooled held-out predictions (computed when empty).
    ci : dict
        ``(level, class or "macro", metric) -> (low, high)`` bootstrap percentile intervals
        (computed when empty).
    cm_ci : ndarray or None
        Bootstrap intervals of the row-normalised confusion matrix.
    notes : list of str
        What the figures do not show, printed under :meth:`summary`: :func:`evaluate` adds
        why the score is optimistic when the estimator reads the data set's ground-truth lesion
        masks (the command line's own wording).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.evaluation import evaluate
    >>> y = np.repeat([0, 1], 10)
    >>> X = np.random.RandomState(0).normal(size=(20, 2)) + 2 * y[:, None]
    >>> report = evaluate(LogisticRegression(), X, y, cv="stratified", n_splits=2, n_bootstrap=0)
    >>> report.y_pred.shape, report.cv
    ((20,), 'stratified 2-fold')
    """

    name: str
    classes: np.ndarray
    class_names: list
    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray | None
    score_kind: str
    fold: np.ndarray
    splits: list
    groups: np.ndarray | None
    cv: str
    n_bootstrap: int
    random_state: int | None
    estimator: str = ""
    metrics: dict = field(default_factory=dict)
    ci: dict = field(default_factory=dict)
    cm_ci: np.ndarray | None = None
    notes: list = field(default_factory=list)

    def __post_init__(self):
        if not self.metrics:
            self.metrics = _table_metrics(self)
        if not self.ci and self.n_bootstrap:
            self.ci, self.cm_ci = _bootstrap(self)

    # -- access
    def value(self, metric: str, cls: Any = "macro") -> float:
        """One metric: ``cls="macro"`` or a class (label or display name)."""
        if cls == "macro":
            return self.metrics["macro"][metric]
        return self.metrics["per_class"][self._label(cls)][metric]

    def interval(self, metric: str, cls: Any = "macro") -> tuple[float, float]:
        """Bootstrap 95% interval of one metric."""
        key = "macro" if cls == "macro" else self._label(cls)
        return self.ci.get((key, metric), (math.nan, math.nan))

    def _label(self, cls):
        if cls in self.class_names and cls not in self.classes.tolist():
            return self.classes[list(self.class_names).index(cls)].item()
        if cls in self.classes.tolist():
            return cls
        raise KeyError(f"unknown class {cls!r}; classes are {list(self.class_names)}")

    def fold_metrics(self):
        """Per-fold accuracy, macro F1, macro sensitivity and macro AUC (a DataFrame)."""
        import pandas as pd

        rows = []
        for f in np.unique(self.fold):
            sel = self.fold == f
            m = _table_metrics(self, sel)
            rows.append({"fold": int(f), "n": int(sel.sum()), "accuracy": m["macro"]["accuracy"],
                         "f1": m["macro"]["f1"], "sensitivity": m["macro"]["sensitivity"],
                         "auc": m["macro"]["auc"]})
        return pd.DataFrame(rows).set_index("fold")

    def to_frame(self):
        """Metrics with intervals: rows are classes then ``"macro"``, columns ``(metric, stat)``
        with ``stat`` in ``value, low, high``."""
        import pandas as pd

        rows, index = [], []
        for lab, disp in zip(self.classes.tolist(), self.class_names):
            index.append(disp)
            rows.append([x for m in PER_CLASS_METRICS for x in (self.metrics["per_class"][lab][m],
                                                                 *self.ci.get((lab, m), (np.nan, np.nan)))])
        index.append("macro")
        rows.append([x for m in PER_CLASS_METRICS for x in (self.metrics["macro"][m],
                                                             *self.ci.get(("macro", m), (np.nan, np.nan)))])
        cols = pd.MultiIndex.from_product([PER_CLASS_METRICS, ["value", "low", "high"]], names=["metric", "stat"])
        return pd.DataFrame(rows, index=pd.Index(index, name="class"), columns=cols)

    def confusion_matrix(self):
        """The pooled held-out confusion matrix as a labelled table of counts.

        Returns
        -------
        matrix : pandas.DataFrame
            Rows are the true classes (index ``"true"``), columns the predicted ones
            (``"predicted"``), in :attr:`class_names` order.
        """
        import pandas as pd

        names = [str(c) for c in self.class_names]
        cm = np.asarray(self.metrics["confusion_matrix"], dtype=int)
        return pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))

    def confusion_counts(self):
        """True and false positives and negatives of each class, one class against the rest.

        For class ``c``: TP are images of ``c`` predicted ``c``, FN images of ``c`` predicted
        as another class, FP images of another class predicted ``c`` and TN the images neither
        of ``c`` nor predicted ``c``. Each row sums to the number of images; sensitivity is
        TP / (TP + FN), specificity TN / (TN + FP), precision TP / (TP + FP).

        Returns
        -------
        counts : pandas.DataFrame
            One row per class (index ``"class"``, display names), integer columns ``TP, FN,
            FP, TN``.

        Examples
        --------
        >>> import numpy as np
        >>> from featbus.evaluation import evaluate_external
        >>> class Always0:
        ...     classes_ = np.array([0, 1])
        ...     def predict(self, X): return np.zeros(len(X), int)
        >>> r = evaluate_external(Always0(), np.zeros((3, 1)), [0, 0, 1], n_bootstrap=0)
        >>> r.confusion_counts().loc["1"].tolist()
        [0, 1, 0, 2]
        """
        from .reporting import confusion_counts

        return confusion_counts(self.metrics["confusion_matrix"], self.class_names)

    def headline(self) -> dict[str, float]:
        """Flat dict of the macro metrics and the per-class AUCs (one row of a comparison)."""
        out = {}
        for m in PER_CLASS_METRICS:
            out[m] = self.metrics["macro"][m]
            out[m + "_low"], out[m + "_high"] = self.ci.get(("macro", m), (np.nan, np.nan))
        for lab, disp in zip(self.classes.tolist(), self.class_names):
            out[f"auc[{disp}]"] = self.metrics["per_class"][lab]["auc"]
        return out

    @property
    def held_out(self) -> Predictions:
        """These held-out predictions as the one view (:class:`featbus.metrics.Predictions`) that
        verdicts, plots and site figures read, with the AUC intervals this report prints."""
        auc = None
        if self.n_bootstrap and self.ci and self.scores is not None:
            auc = {c: self.ci.get((lab, "auc"), (math.nan, math.nan)) for c, lab in enumerate(self.classes.tolist())}
            auc["macro"] = self.ci.get(("macro", "auc"), (math.nan, math.nan))
        return Predictions(y_true=self.y_true, y_pred=self.y_pred, scores=self.scores, classes=self.classes,
                           class_names=list(self.class_names), groups=self.groups, fold=self.fold, source=str(self.cv),
                           n_bootstrap=self.n_bootstrap, random_state=self.random_state, auc_intervals=auc)

    @functools.cached_property
    def sanity(self):
        """The model-sanity verdict of these predictions (:func:`featbus.evaluation.sanity.assess`,
        computed once): is the model better than always answering the most common class, does
        it find every class, does it rank better than chance.

        Returns
        -------
        verdict : featbus.evaluation.sanity.Verdict
        """
        from .sanity import assess

        return assess(self)

    def summary(self, verdict: bool = True) -> str:
        """A plain-text table: metrics per class and macro, each ``value [low, high]``, then
        the report's :attr:`notes` (e.g. "this score is OPTIMISTIC" when the evaluated pipeline
        read the data set's ground-truth lesion masks).

        Parameters
        ----------
        verdict : bool, default=True
            Open with the model-sanity verdict (:attr:`sanity`: "useful", "limited" or
            "useless", with its reasons), under the title line.
        """
        from .render import report_text

        return Text(report_text(self, verdict=verdict))

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return (f"Report({self.name!r}, {self.cv}, n={len(self.y_true)}, "
                f"accuracy={self.value('accuracy'):.3f}, macro_auc={self.value('auc'):.3f})")

    # -- plots and HTML (matplotlib is imported only here)
    def plot_roc(self, ax=None):
        """One-vs-rest ROC curves of every class, AUC with interval in the legend."""
        from .reporting import plot_roc

        return plot_roc(self, ax=ax)

    def plot_confusion_matrix(self, ax=None, normalize: bool = True):
        """Confusion matrix heat map (row-normalised by default, counts shown)."""
        from .reporting import plot_confusion_matrix

        return plot_confusion_matrix(self, ax=ax, normalize=normalize)

    def plot_per_class(self, ax=None):
        """Grouped bars of the per-class metrics with their intervals."""
        from .reporting import plot_per_class

        return plot_per_class(self, ax=ax)

    def to_html(self, path: str | Path, *, title: str | None = None) -> Path:
        """Write a self-contained HTML report: one file, every figure embedded in it once."""
        from .reporting import write_html

        return write_html([self], path, title=title)


def ground_truth_mask_note(features: Any, region: str | None, *, empty_masks: bool = True,
                            lead: str = "note: this score is OPTIMISTIC") -> str | None:
    """Why a figure computed from the data set's ground-truth lesion masks is not what a new
    image gets: the one text that the command line, :meth:`Report.summary` and the feature
    table's label-leak warning print.

    Parameters
    ----------
    features : sequence of str or (name, estimator)
        The feature families (names or ``make_features``' ``(name, estimator)`` pairs).
    region : {"image", "mask", "bbox"} or None
        Where the texture/intensity families look (``"mask"``/``"bbox"`` read the masks).
    empty_masks : bool, default=True
        Whether a class may have empty masks (BUSI's normal images), which alone give the class away.
    lead : str, default="note: this score is OPTIMISTIC"
        What the reasons explain (``featbus extract``: ``"18 of 41 columns (shape) encode the label,
        ..."``).

    Returns
    -------
    note : str or None
        One line, or ``None`` when nothing reads a mask.

    Examples
    --------
    >>> ground_truth_mask_note(["lbp", "intensity"], "image") is None
    True
    >>> print(ground_truth_mask_note(["lbp", "shape"], "image", empty_masks=False))  # doctest: +NORMALIZE_WHITESPACE
    note: this score is OPTIMISTIC: the pipeline reads the data set's ground-truth lesion masks (shape features
    from the lesion masks), which a new image does not come with; a segmenter's masks are worse. For an honest
    one, leave out shape.
    """
    from .._registry import reads_masks

    items = features.split(",") if isinstance(features, str) else list(features or ())
    names = [item[0] if isinstance(item, tuple) else str(item).strip().lower() for item in items]
    mask_families = [n for n, item in zip(names, items) if reads_masks([item], "image")]
    uses, fixes = [], []
    if mask_families:
        uses.append(f"{'/'.join(mask_families)} features from the lesion masks")
        fixes.append(f"leave out {'/'.join(mask_families)}")
    if region in ("mask", "bbox"):
        uses.append(f"texture/intensity inside the lesion {'box' if region == 'bbox' else 'mask'}")
        fixes.append("extract on the whole image (region image)")
    if not uses:
        return None
    why = ("the pipeline reads the data set's ground-truth lesion masks (" + ", ".join(uses) + "), which a "
           "new image does not come with; a segmenter's masks are worse")
    if empty_masks:
        why += (", and where a class has empty masks (BUSI's normal images) the empty mask alone "
                "gives the class away")
    return f"{lead}: {why}. For an honest one, {' and '.join(fixes)}."


def _mask_reading_steps(estimator: Any) -> tuple[list, str]:
    """(mask-describing families, region) of the featbus steps inside ``estimator`` (a pipeline,
    a search around one) that read the masks the images come with: the ground truth in
    :func:`evaluate`. A crop by a segmenter (``ROICropper(source="segmenter")``) replaces those
    masks by predicted ones, so then only the steps before it could read the ground truth: to
    stay simple, nothing is reported then."""
    from .._registry import entry_of, is_a, reads_masks

    if not hasattr(estimator, "get_params"):
        return [], "image"
    parts = [estimator, *(v for v in estimator.get_params(deep=True).values() if hasattr(v, "get_params"))]
    croppers = [p for p in parts if is_a(p, "ROICropper")]
    if any(c.source == "segmenter" for c in croppers):
        return [], "image"
    families, region = [], "bbox" if croppers else "image"  # a crop to the ground-truth lesion's box
    for part in parts:
        entry = entry_of(part)
        if entry is None or entry.kind != "features":
            continue
        if reads_masks([part], "image") and entry.name not in families:
            families.append(entry.name)
        if getattr(part, "region", None) in ("mask", "bbox"):
            region = "mask" if "mask" in (part.region, region) else "bbox"
    return families, region


def _evaluation_notes(estimator: Any, X: Any, y: np.ndarray) -> list[str]:
    """The notes :func:`evaluate` gives its report: why the score is optimistic when the
    estimator reads the ground-truth lesion masks that ``X``'s records carry, or starts from a
    shipped backbone that trained on some of ``X`` (:func:`featbus.model.provenance.overlap_notes`)."""
    # a shipped backbone (breast-us) that trained on some of these images: optimistic on them
    seen = [] if hasattr(X, "shape") else overlap_notes(estimator, X)
    families, region = _mask_reading_steps(estimator)
    if not families and region == "image":
        return seen
    masks = [] if hasattr(X, "shape") else [getattr(x, "mask", None) for x in X]
    if not any(m is not None for m in masks):
        return seen
    empty = np.array([m is None or not np.any(m) for m in masks])
    y = np.asarray(y)
    empty_class = any(empty[y == c].all() for c in np.unique(y)) and not empty.all()
    note = ground_truth_mask_note(families, region, empty_masks=bool(empty_class))
    return seen + ([note] if note else [])


class Text(str):
    """A string that shows as itself at the prompt (``report.summary()`` reads as a table)."""

    def __repr__(self) -> str:
        return str(self)


_Text = Text  # the name older code imports


def _view(report: Report, sel=None) -> Predictions:
    """The report's predictions (of the samples ``sel``) as the view the figure table reads."""
    sel = slice(None) if sel is None else sel
    return Predictions(y_true=np.asarray(report.y_true)[sel], y_pred=np.asarray(report.y_pred)[sel],
                       scores=None if report.scores is None else report.scores[sel], classes=report.classes,
                       class_names=list(report.class_names), groups=None)


def _table_names(report: Report, metrics: Sequence[str] = PER_CLASS_METRICS) -> dict[tuple, FigureKey]:
    """``(class label or "macro", metric) -> figure key`` of the table (:mod:`featbus.evaluation.figures`):
    each of :data:`PER_CLASS_METRICS` per class (accuracy one against the rest) and over the classes
    (accuracy: the overall fraction correct); no AUC without scores. A key, never a name holding the
    label: any label works."""
    out = {}
    for m in metrics:
        if m == "auc" and report.scores is None:
            continue
        for lab in report.classes.tolist():
            out[(lab, m)] = FigureKey(m, lab)
        out[("macro", m)] = FigureKey(m, MACRO)
    return out


def _table_metrics(report: Report, sel=None, metrics: Sequence[str] = PER_CLASS_METRICS) -> dict:
    """The pooled figures of the report (of the samples ``sel``), from the figure table:
    ``per_class``, ``macro``, ``confusion_matrix`` and ``labels`` (as :func:`classification_metrics`
    lays them out; an undefined ratio is NaN, the table's rule)."""
    view = _view(report, sel)
    names = _table_names(report, metrics)
    values = figures(view, list(names.values()))
    per_class = {lab: {m: values.get(names.get((lab, m)), math.nan) for m in metrics}
                 for lab in report.classes.tolist()}
    macro = {m: values.get(names.get(("macro", m)), math.nan) for m in metrics}
    return {"per_class": per_class, "macro": macro, "confusion_matrix": view.confusion_matrix(),
            "labels": report.classes}


def _bootstrap(report: Report) -> tuple[dict, np.ndarray]:
    """Intervals of every figure of the table the report prints (one group bootstrap), and of the
    row-normalised confusion matrix (the same resamples: the same seed)."""
    view = _view(report)
    names = _table_names(report)
    _, intervals = estimate(view, list(names.values()), report.groups, report.n_bootstrap,
                            random_state=report.random_state)
    ci = {key: (float(intervals[name][0]), float(intervals[name][1])) for key, name in names.items()}
    for lab in [*report.classes.tolist(), "macro"]:
        ci.setdefault((lab, "auc"), (math.nan, math.nan))
    yt, yp = view.codes()
    k = len(report.classes)

    def cells(idx):
        return confusion_matrix(yt[idx], yp[idx], k) / max(idx.size, 1)

    _, (lo, hi) = bootstrap(cells, np.arange(yt.size), groups=report.groups, n_bootstrap=report.n_bootstrap,
                            random_state=report.random_state)
    return ci, np.stack([lo, hi]) * yt.size


# --------------------------------------------------------------------------- evaluate

def evaluate(estimator, data_or_X, y=None, *, cv: Any = "duplicate-grouped", n_splits: int = 5,
             groups=None, n_bootstrap: int = 1000, random_state: int | None = 0,
             n_jobs: int | None = None, name: str | None = None, target_names=None,
             progress: bool | str = "auto", fit_params: Any = None, groups_from: str | None = None) -> Report:
    """Cross-validate an estimator and report metrics with bootstrap confidence intervals.

    Parameters
    ----------
    estimator : estimator
        A classifier or pipeline (e.g. from :func:`featbus.pipelines.make_classification_pipeline`), or a
        :class:`~sklearn.model_selection.GridSearchCV` around one (nested CV: the search runs
        inside each training fold and receives that fold's groups, so a grouped inner ``cv``
        keeps duplicates together too).
    data_or_X : Bunch or images or feature matrix
        A featbus data Bunch (``Bunch.data``, ``target``, ``groups`` and ``target_names`` are
        used), or ``X`` with ``y``.
    y : array-like, optional
        Labels when ``data_or_X`` is not a Bunch.
    cv : "duplicate-grouped", "stratified", splitter or iterable of (train, test)
        See :func:`make_splits`. The same data, ``cv``, ``n_splits`` and ``random_state`` give
        the same folds, so reports are comparable with :func:`compare`; or pass another
        report's ``splits``.
    n_splits : int, default=5
    groups : array-like, optional
        Near-duplicate (or patient) groups; default ``Bunch.groups``, or computed from images.
    groups_from : str, optional
        Where ``groups`` came from (default ``Bunch.groups_from`` when ``groups`` is a Bunch's):
        see :func:`make_splits`; None names them near-duplicate groups ("duplicate-grouped").
    n_bootstrap : int, default=1000
        Bootstrap resamples for the 95% intervals (0: none).
    random_state : int or None, default=0
        Seed of the folds and of the bootstrap.
    n_jobs : int, optional
        Folds fitted in parallel.
    name : str, optional
        Name of the report (default: a short description of the estimator).
    target_names : sequence of str, optional
        Display names of integer labels ``0..K-1`` (default ``Bunch.target_names``).
    progress : bool or "auto", default="auto"
        Show a progress bar over the folds, labelled with the fits each fold makes (candidates
        x inner folds + refit, when ``estimator`` is a search); ``"auto"``: a bar when standard
        error is a terminal, else a plain line every 30 s (:mod:`featbus.progress`). Feature
        extractors show their own progress the same way.
    fit_params : dict or callable, optional
        Parameters of each fold's ``fit``: a dict of arrays aligned on the samples (each
        subset to the training fold, e.g. ``{"classifier__sample_weight": w}`` for a
        pipeline), or a callable taking the training fold's indices and returning the dict
        (for weights that depend on what the fold holds, such as
        :func:`featbus.evaluation.sites.site_balance_weights`, or ``groups`` of a network's
        validation split).

    Returns
    -------
    report : Report

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.evaluation import evaluate
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20)
    >>> X = rng.normal(size=(40, 2)) + y[:, None] * 2
    >>> report = evaluate(LogisticRegression(), X, y, cv="stratified", n_bootstrap=200)
    >>> round(report.value("accuracy"), 2) >= 0.8
    True
    >>> bool(report.to_frame().loc["macro", ("auc", "value")] > 0.9)
    True
    """
    if groups_from is None and groups is None and _is_bunch(data_or_X):
        groups_from = groups_origin(data_or_X)
    X, y, groups, bunch_names = _resolve(data_or_X, y, groups)
    if groups is None:
        groups_from = None  # featbus forms near-duplicate groups
    target_names = bunch_names if target_names is None else list(target_names)
    check_n_bootstrap(n_bootstrap)
    splits, groups, how = make_splits(X, y, cv=cv, n_splits=n_splits, groups=groups, random_state=random_state,
                                      groups_from=groups_from)
    classes = np.unique(y)
    _check_held_out_once(splits, y.size)
    results = _fitted_folds(estimator, X, y, groups, splits, classes, fit_params, progress, n_jobs, name)
    y_pred, fold, scores, kinds = _gathered(results, y, classes)
    class_names = _class_names(classes, target_names)
    return Report(
        name=name or _short_name(estimator), classes=classes, class_names=class_names, y_true=y,
        y_pred=y_pred, scores=scores, score_kind=kinds.pop() if len(kinds) == 1 else "mixed",
        fold=fold, splits=splits, groups=groups, cv=how, n_bootstrap=int(n_bootstrap),
        random_state=random_state, estimator=repr(estimator), notes=_evaluation_notes(estimator, X, y))


def _check_held_out_once(splits, n: int) -> None:
    """Refuse folds that do not hold out each of the ``n`` samples exactly once."""
    covered = np.zeros(n, dtype=int)
    for _, te in splits:
        covered[te] += 1
    if np.any(covered != 1):
        raise ValueError("the folds must hold out every sample exactly once "
                         f"({int((covered == 0).sum())} never, {int((covered > 1).sum())} more than once)")


def _fitted_folds(estimator, X, y, groups, splits, classes, fit_params, progress, n_jobs, name) -> list:
    """Fit and predict every fold (:func:`_fit_fold`), with progress per fold when run in this process."""
    jobs = (delayed(_fit_fold)(estimator, X, y, groups, tr, te, classes, f, _fold_params(fit_params, tr, y.size))
            for f, (tr, te) in enumerate(splits))
    if progress_mode(progress) and n_jobs in (None, 1):  # in this process: progress per fold
        results = []
        with progress_bar(progress, len(splits), f"{name or 'folds'} ({_fits_per_fold(estimator)})", "fold") as bar:
            for job in jobs:
                results.append(job[0](*job[1], **job[2]))
                bar.update(1)
    else:
        results = Parallel(n_jobs=n_jobs)(jobs)
    return results


def _gathered(results, y: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, set]:
    """The folds' predictions, fold numbers and scores put back in sample order, and the scores' kinds."""
    y_pred = np.empty(y.size, dtype=y.dtype if y.dtype.kind != "U" else object)
    fold = np.empty(y.size, dtype=int)
    scores = None
    kinds = set()
    for f, te, yp, sc, kind in results:
        y_pred[te] = yp
        fold[te] = f
        kinds.add(kind)
        if sc is not None:
            if scores is None:
                scores = np.zeros((y.size, classes.size))
            scores[te] = sc
    if "none" in kinds:
        scores = None
    if y_pred.dtype == object:
        y_pred = y_pred.astype(y.dtype)
    return y_pred, fold, scores, kinds


def _class_names(classes: np.ndarray, target_names) -> list[str]:
    """The display name of each class: its ``target_names`` entry for integer codes, else the label itself."""
    if target_names is not None and np.issubdtype(classes.dtype, np.integer) \
            and classes.min() >= 0 and classes.max() < len(target_names):
        return [str(target_names[c]) for c in classes]
    return [str(c) for c in classes]


def _fold_params(fit_params, train: np.ndarray, n: int) -> dict:
    """One training fold's ``fit`` parameters (see ``fit_params`` of :func:`evaluate`)."""
    if fit_params is None:
        return {}
    if callable(fit_params):
        return dict(fit_params(np.asarray(train)))
    out = {}
    for key, value in dict(fit_params).items():
        if _num_samples(value) != n:
            raise ValueError(f"fit_params[{key!r}] holds {_num_samples(value)} values for {n} samples: a dict's "
                             "values are aligned on the samples (pass a callable for anything else)")
        out[key] = _safe_indexing(value, train)
    return out


def _fits_per_fold(estimator) -> str:
    """What one outer fold fits: ``"1 fit"``, or candidates x inner folds + refit of a search."""
    if not isinstance(estimator, BaseSearchCV):
        return "1 fit per fold"
    if hasattr(estimator, "param_grid"):
        n_candidates = len(ParameterGrid(estimator.param_grid))
    else:
        n_candidates = int(getattr(estimator, "n_iter", 0)) or "?"
    cv = estimator.cv
    n_inner = cv if isinstance(cv, int) else (5 if cv is None else getattr(cv, "n_splits", "?"))
    refit = " + refit" if estimator.refit else ""
    return f"{n_candidates} candidates x {n_inner} inner folds{refit} per fold"


def _short_name(estimator) -> str:
    est = getattr(estimator, "estimator", estimator)  # a search: name its pipeline
    steps = getattr(est, "steps", None)
    if not steps:
        return type(est).__name__
    parts = []
    for name, step in steps:
        if name == "features" and hasattr(step, "transformer_list"):
            parts.append("+".join(n for n, _ in step.transformer_list))
        elif name == "scale":
            continue
        else:
            inner = step
            while isinstance(inner, (CalibratedClassifierCV, EncodedLabelClassifier)):
                inner = inner.estimator  # name the model, not its wrapper
            parts.append(type(inner).__name__)
    return " > ".join(parts)


# --------------------------------------------------------------------------- compare

def _pooled(report: Report, metric: str, idx: np.ndarray | None = None, cls="macro") -> float:
    m = _table_metrics(report, idx, (metric,))
    return m["macro"][metric] if cls == "macro" else m["per_class"][report._label(cls)][metric]


def compare(reports: Sequence[Report], *, metric: str = "accuracy", cls: Any = "macro",
            n_bootstrap: int | None = None, random_state: int | None = 0):
    """Paired comparison of reports made on the same samples and folds.

    For every pair ``(a, b)`` it gives the difference ``a - b`` of ``metric`` and three paired
    tests: a paired bootstrap (the same resampled groups for both; interval and two-sided
    p-value), the corrected resampled t-test of Nadeau and Bengio (2003) on the per-fold
    values (the plain t-test over folds is too liberal because training sets overlap), and,
    for accuracy, McNemar's exact test on the discordant predictions.

    Parameters
    ----------
    reports : sequence of Report
        At least two, from :func:`evaluate` on the same data and folds.
    metric : str, default="accuracy"
        One of ``accuracy, sensitivity, specificity, precision, f1, auc``.
    cls : "macro" or a class
        Macro average or one class's one-vs-rest value (e.g. ``"malignant"`` with ``"auc"``).
    n_bootstrap : int, optional
        Default: the first report's.
    random_state : int or None

    Returns
    -------
    table : pandas.DataFrame
        One row per pair.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.evaluation import evaluate, compare
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 30)
    >>> X = rng.normal(size=(60, 2)) + y[:, None] * 2
    >>> a = evaluate(LogisticRegression(), X, y, cv="stratified", n_bootstrap=100, name="logreg")
    >>> b = evaluate(DummyClassifier(), X, y, cv="stratified", n_bootstrap=100, name="dummy")
    >>> row = compare([a, b]).iloc[0]
    >>> row["a"], row["b"], bool(row["difference"] > 0.3), bool(row["p_mcnemar"] < 0.01)
    ('logreg', 'dummy', True, True)
    """
    import pandas as pd

    reports = list(reports)
    if len(reports) < 2:
        raise ValueError("compare needs at least two reports")
    if metric not in PER_CLASS_METRICS:
        raise ValueError(f"metric must be one of {PER_CLASS_METRICS}, got {metric!r}")
    ref = reports[0]
    for r in reports[1:]:
        if r.y_true.shape != ref.y_true.shape or not np.array_equal(r.y_true, ref.y_true):
            raise ValueError(f"reports {ref.name!r} and {r.name!r} are on different samples; "
                             "evaluate them on the same data")
        if not np.array_equal(r.fold, ref.fold):
            raise ValueError(f"reports {ref.name!r} and {r.name!r} used different folds; evaluate "
                             "with the same cv, n_splits and random_state, or cv=report.splits")
    B = ref.n_bootstrap if n_bootstrap is None else int(n_bootstrap)
    # paired: the same resamples score every report
    draws = bootstrap(lambda idx: np.array([_pooled(r, metric, idx, cls) for r in reports]),
                      np.arange(ref.y_true.size), groups=ref.groups, n_bootstrap=B, random_state=random_state).draws
    boots = {id(r): draws[:, i] for i, r in enumerate(reports)}
    folds = np.unique(ref.fold)
    fold_vals = {id(r): np.array([_pooled(r, metric, np.flatnonzero(r.fold == f), cls) for f in folds])
                 for r in reports}
    n_test = np.mean([len(te) for _, te in ref.splits])
    n_train = np.mean([len(tr) for tr, _ in ref.splits])
    rows = []
    for a, b in itertools.combinations(reports, 2):
        diff = _pooled(a, metric, None, cls) - _pooled(b, metric, None, cls)
        d_boot = boots[id(a)] - boots[id(b)]
        d_boot = d_boot[np.isfinite(d_boot)]
        lo, hi = (np.percentile(d_boot, [2.5, 97.5]) if d_boot.size else (np.nan, np.nan))
        # (count + 1) / (B + 1): a bootstrap p-value is never exactly 0 with finitely many resamples
        nb = d_boot.size
        p_boot = (min(1.0, 2 * (min(np.sum(d_boot <= 0), np.sum(d_boot >= 0)) + 1) / (nb + 1))
                  if nb else np.nan)
        d_fold = fold_vals[id(a)] - fold_vals[id(b)]
        p_t = _corrected_t(d_fold, n_train, n_test)
        p_mc = _mcnemar(a, b) if metric == "accuracy" and cls == "macro" else np.nan
        rows.append({"a": a.name, "b": b.name, "metric": metric if cls == "macro" else f"{metric}[{cls}]",
                     "a_value": _pooled(a, metric, None, cls), "b_value": _pooled(b, metric, None, cls),
                     "difference": diff, "diff_low": float(lo), "diff_high": float(hi),
                     "p_bootstrap": float(p_boot), "p_corrected_t": p_t, "p_mcnemar": p_mc})
    return pd.DataFrame(rows)


def _corrected_t(d: np.ndarray, n_train: float, n_test: float) -> float:
    """Nadeau-Bengio corrected resampled t-test, two-sided p-value."""
    d = d[np.isfinite(d)]
    k = d.size
    if k < 2:
        return math.nan
    var = np.var(d, ddof=1)
    if var == 0:
        return 1.0 if np.mean(d) == 0 else 0.0
    t = np.mean(d) / math.sqrt((1.0 / k + n_test / n_train) * var)
    return float(2 * stats.t.sf(abs(t), df=k - 1))


def _mcnemar(a: Report, b: Report) -> float:
    """Exact McNemar test on the images one model gets right and the other wrong."""
    ra = a.y_pred == a.y_true
    rb = b.y_pred == b.y_true
    n01 = int(np.sum(ra & ~rb))
    n10 = int(np.sum(~ra & rb))
    if n01 + n10 == 0:
        return 1.0
    return float(stats.binomtest(n01, n01 + n10, 0.5).pvalue)


# --------------------------------------------------------------------------- external test set

def evaluate_external(fitted, X_test, y_test, *, groups=None, n_bootstrap: int = 1000,
                      random_state: int | None = 0, name: str | None = None, target_names=None,
                      source: str = "external test set") -> Report:
    """Score an already fitted model on a fixed test set (external data or held-out images).

    Nothing is refitted: the model predicts ``X_test`` once. The :class:`Report` has one "fold"
    (``cv="external test set"``); its bootstrap intervals resample ``groups`` (near-duplicate
    clusters of the test images) when given, so copies of one lesion count once.

    Parameters
    ----------
    fitted : classifier or pipeline
        Fitted; ``predict`` and, if it has them, ``predict_proba`` / ``decision_function`` are used.
    X_test : images or feature matrix
    y_test : array-like
        Labels in the model's label space (``fitted.classes_``).
    groups : array-like, optional
        Duplicate groups of the test images (e.g. :func:`featbus.duplicate_groups`).
    n_bootstrap, random_state, name, target_names
        As in :func:`evaluate`.
    source : str, default="external test set"
        What the test images are (the report's ``cv``): images held out of the same data set
        (``featbus train --test-fraction``) are no external test set, and say so.

    Returns
    -------
    report : Report

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.evaluation import evaluate_external
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20)
    >>> X = rng.normal(size=(40, 2)) + y[:, None] * 3
    >>> model = LogisticRegression().fit(X[::2], y[::2])
    >>> r = evaluate_external(model, X[1::2], y[1::2], n_bootstrap=200)
    >>> r.cv, r.value("accuracy") > 0.8
    ('external test set', True)
    """
    y = np.asarray(y_test)
    classes = np.asarray(getattr(fitted, "classes_", np.unique(y)))
    if y.dtype.kind in "OU":
        y = y.astype(str)
        classes = classes.astype(str)
    unknown = sorted(set(np.unique(y).tolist()) - set(classes.tolist()))
    if unknown:
        raise ValueError(f"the test set has labels {unknown} that the model does not know "
                         f"(it predicts {classes.tolist()}); the class folders must match")
    n = y.size
    y_pred = np.asarray(fitted.predict(X_test))
    if y.dtype.kind == "U":
        y_pred = y_pred.astype(str)
    scores, kind = _scores(fitted, X_test, classes)
    groups = None if groups is None else np.asarray(groups)
    if target_names is not None and np.issubdtype(classes.dtype, np.integer):
        class_names = [str(target_names[c]) for c in classes]
    else:
        class_names = [str(c) for c in classes]
    check_n_bootstrap(n_bootstrap)
    return Report(name=name or _short_name(fitted), classes=classes, class_names=class_names, y_true=y,
                  y_pred=y_pred, scores=scores, score_kind=kind, fold=np.zeros(n, dtype=int),
                  splits=[(np.array([], dtype=int), np.arange(n))], groups=groups, cv=str(source),
                  n_bootstrap=int(n_bootstrap), random_state=random_state, estimator=repr(fitted),
                  # a shipped part (the breast-us backbone) that trained on some of these images: optimistic
                  notes=[] if hasattr(X_test, "shape") else overlap_notes(fitted, X_test))


def never_predicted(report: Report) -> list[str]:
    """Display names of the classes that the report's predictions never contain.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.evaluation import evaluate_external
    >>> class Always0:
    ...     classes_ = np.array([0, 1])
    ...     def predict(self, X): return np.zeros(len(X), int)
    >>> never_predicted(evaluate_external(Always0(), np.zeros((4, 1)), [0, 1, 0, 1], n_bootstrap=0))
    ['1']
    """
    seen = set(np.asarray(report.y_pred).tolist())
    return [n for c, n in zip(report.classes.tolist(), report.class_names) if c not in seen]


def write_study_report(reports: dict[str, list], data, path: str | Path, *, feature_label: str, n_features: int,
                       region: str | None = None, preprocessing: Sequence[str] | None = None,
                       masks_used: bool = False, header: dict | None = None, source: str | None = None,
                       external: list | None = None, test_data=None, test_label: str = "test set",
                       images: bool = True) -> Path:
    """The HTML report of a study (what ``featbus evaluate --report`` writes), for scripts too.

    The first cross-validation of ``reports`` is the main page (``path``): every pipeline with
    its plots, the best one's comparison with the others, notes on the data and the features,
    the best pipeline's gallery of right and wrong images and the intensities by class. Each
    further cross-validation gets ``<cv>.html`` beside it, an external test set ``test.html``,
    and every figure goes into ``summary.csv``.

    Parameters
    ----------
    reports : dict of str -> list of Report
        Reports by cross-validation name (``"duplicate-grouped"`` first), the same pipelines in
        the same order in each (:func:`featbus.evaluate`).
    data : Bunch
        The study (``images``, ``paths``, ``target``, ``target_names``, ``skipped``); without ``images`` (a feature
        table's rows) the page has no gallery and no intensities, and says why.
    path : str or path
        The main page.
    feature_label : str
        The features, as the reader should see them (``"hog,lbp"``).
    n_features : int
        Columns of the feature matrix.
    region : str, optional
    preprocessing : sequence of str, optional
        Names of the image steps applied before the features.
    masks_used : bool, default=False
        The features read the ground-truth masks (shape, ``region="mask"``/``"bbox"``): the
        report says the numbers assume perfect segmentation.
    header : dict, optional
        Run details shown first (:func:`header_html`).
    source : str, optional
        Where the data came from (for the notes).
    external : list of Report, optional
        The same pipelines scored once on ``test_data``.
    test_data : Bunch, optional
    test_label : str, default="test set"
    images : bool, default=True
        Embed thumbnails of the misclassified images (patients' images: the page is then shared
        as the images are); ``False`` leaves them out. Paths are shown relative to ``source``.

    Returns
    -------
    path : Path
        The main page.
    """
    import html as _html

    import pandas as pd

    from .reporting import (
        comparison_table,
        comparison_with_intervals,
        gallery_html,
        header_html,
        intensity_html,
        write_html,
    )

    path = Path(path)
    cvs = list(reports)
    main_cv = cvs[0]
    best = max(reports[main_cv], key=lambda r: r.value("accuracy"))
    table = None
    if len(reports[main_cv]) > 1:
        table = compare([best, *[r for r in reports[main_cv] if r is not best]])
        table = table[table["a"] == best.name]
    notes = _study_notes(reports, data, best, source=source, preprocessing=preprocessing,
                         feature_label=feature_label, n_features=n_features, region=region,
                         masks_used=masks_used, external=bool(external), test_label=test_label)
    sections = [header_html(header)] if header else []
    if external:
        best_ext = next(r for r in external if r.name == best.name)
        sections.append(f"<h2>{_html.escape(test_label)}</h2><p class='note'>{len(test_data.target)} images, every "
                        "pipeline fitted on all of the training data; group-bootstrap 95% intervals.</p>"
                        + comparison_with_intervals(external).to_html())
    root = None if source is None else (Path(source) if Path(source).is_dir() else Path(source).parent)
    pixels = data.get("images") is not None  # a feature table's rows (featbus evaluate TABLE): no image read
    if images and pixels:
        notes.append("This page embeds thumbnails of misclassified images (patients' images): share it as you would "
                     "share them, or leave them out (featbus evaluate --no-images).")
        if external:
            sections.append(gallery_html(best_ext, test_data.images, test_data.paths, root=root))
        sections.append(gallery_html(best, data.images, data.paths, root=root))
    if pixels:
        sections.append(intensity_html(data.images, data.target, list(data.target_names)))
    else:
        notes.append("No gallery of misclassified images and no intensities by class: the study's rows are a feature "
                     "table's, whose images were not read here.")
    out = write_html(reports[main_cv], path, title=f"featbus evaluate: {main_cv} CV", comparison=table,
                     notes=notes, sections=sections)
    if external:
        write_html(external, path.with_name("test.html"), title=f"featbus evaluate: {test_label}", notes=notes[:2])
    for cv in cvs[1:]:
        write_html(reports[cv], path.with_name(f"{cv}.html"), title=f"featbus evaluate: {cv} CV", notes=notes[:2])
    from ..io import write_file

    summary = pd.concat({cv: comparison_table(reports[cv]) for cv in cvs}, names=["cv"])
    write_file(path.with_name("summary.csv"), summary.to_csv())
    return out


def _study_notes(reports: dict[str, list], data, best, *, source, preprocessing, feature_label: str, n_features: int,
                 region, masks_used: bool, external: bool, test_label: str) -> list[str]:
    """The study page's notes: the data, the features, skipped images, masks, other CVs and the best's choice."""
    cvs = list(reports)
    main_cv = cvs[0]
    counts = {str(n): int(np.sum(np.asarray(data.target) == i)) for i, n in enumerate(data.target_names)}
    notes = [f"Data: {source or 'the study'} ({len(data.target)} images, {counts})."
             + (f" Preprocessing: {' -> '.join(preprocessing)}, applied to every image before the features (the "
                "steps learn nothing from the images)." if preprocessing else ""),
             f"Features: {feature_label} ({n_features} columns" + (f", region={region}" if region else "") + "). "
             "Extractors learn nothing from labels or statistics, so they are computed once; "
             "scaling, sampling and the classifier are fitted on the training folds only."]
    from ..io import data_notes

    notes += [n[0].upper() + n[1:] + "." for n in data_notes(data)]  # the skipped images named, masks dropped
    if masks_used:
        notes.append("Masks: the ground-truth lesion masks of the data set are used (at prediction "
                     "time a segmenter must provide them), so these numbers assume perfect segmentation.")
    for cv in cvs[1:]:
        notes.append(f"A {cv} run of the same pipelines is in {cv}.html beside this file "
                     "(near-duplicates may straddle its folds: optimistic).")
    if len(reports[main_cv]) > 1:
        notes.append(f"Best by {main_cv} CV accuracy: {best.name}. It is chosen on the same folds that score "
                     "it, so its score is optimistic" + (f"; the {test_label} score is not." if external else "."))
    return notes
