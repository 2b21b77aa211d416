"""Two decisions in one classifier: "is there a lesion?", then "benign or malignant, given a lesion".

A model learnt from one hospital's "normal" scans does not recognise another hospital's normal
scans (issue 61: 4 % to 33 % called normal at a new site), while the segmenter's lesion
probability still separates normal from lesion scans once a threshold fits the site. So the
presence of a lesion is not learnt by the classifier: it is the segmenter's probability, one
feature column (:class:`~featbus.segmentation.roi.LesionProbability`), with a threshold of its
own that a site can refit from a few labelled patients (``featbus adapt``). The classifier is
trained on lesion images only and answers the second question.

:class:`LesionThenMalignancy` composes the two into ordinary class probabilities,
``p(absent) = 1 - p(lesion)`` and ``p(c) = p(lesion) * p(c | lesion)``, so that every featbus
figure, file and command reads it like any classifier; its decisions are taken by the two
points of :class:`featbus.metrics.OperatingPoint` (``presence`` and the malignancy threshold on
``p(malignant | lesion)``).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["LesionThenMalignancy"]


class LesionThenMalignancy(ClassifierMixin, BaseEstimator):
    """Lesion presence from one feature column, benign-vs-malignant from a classifier of lesion images.

    Parameters
    ----------
    classifier : estimator, default=None
        Fitted on the lesion images (labels other than ``absent``), on every column but the
        presence column. Without ``predict_proba`` (an SVC) it is wrapped in a sigmoid
        :class:`~sklearn.calibration.CalibratedClassifierCV` over ``calibration_splits``
        stratified folds (in the images' order, not shuffled). ``None``: an RBF :class:`~sklearn.svm.SVC`.
    presence_column : int, default=-1
        The column holding ``p(lesion)`` in [0, 1] (values outside are clipped).
    absent : str or number, default="normal"
        The class meaning "no lesion"; always one of :attr:`classes_`, even when no training
        image has it. Of the labels' kind (a number when the labels are numbers).
    calibration_splits : int, default=5

    Attributes
    ----------
    classifier_ : estimator
        The fitted lesion classifier (with probabilities).
    lesion_classes_ : ndarray
        The classes of the lesion images, in the order of ``classifier_``'s probabilities.
    classes_ : ndarray
        The lesion classes and ``absent``, sorted.
    n_features_in_ : int
        Every column, the presence column included.
    feature_names_in_ : ndarray of str
        The columns' names, when ``X`` was a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.pipelines.two_decisions import LesionThenMalignancy
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.normal(size=60), rng.uniform(size=60)])
    >>> y = np.where(X[:, 1] < 0.2, "normal", np.where(X[:, 0] > 0, "malignant", "benign"))
    >>> clf = LesionThenMalignancy(LogisticRegression(), presence_column=1).fit(X, y)
    >>> clf.classes_.tolist()
    ['benign', 'malignant', 'normal']
    >>> P = clf.predict_proba([[2.0, 0.9], [2.0, 0.05]])
    >>> P.round(2)[:, 2].tolist()  # p(normal) = 1 - p(lesion)
    [0.1, 0.95]
    """

    def __init__(self, classifier: Any = None, *, presence_column: int = -1, absent: str = "normal",
                 calibration_splits: int = 5):
        self.classifier = classifier
        self.presence_column = presence_column
        self.absent = absent
        self.calibration_splits = calibration_splits

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.classifier is not None:  # NaN in the other columns: as the lesion classifier takes them
            tags.input_tags.allow_nan = get_tags(self.classifier).input_tags.allow_nan
        return tags

    def _column(self, n_features: int) -> int:
        k = self.presence_column
        if isinstance(k, bool) or not isinstance(k, Integral) or not -n_features <= k < n_features:
            raise ValueError(f"presence_column must be a column index of the {n_features} features, got {k!r}")
        return int(k) % n_features

    def _split(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(p(lesion) clipped to [0, 1], the other columns)`` of a validated ``X``."""
        k = self._column(X.shape[1])
        p = X[:, k]
        if np.isnan(p).any():
            i = int(np.flatnonzero(np.isnan(p))[0])
            raise ValueError(f"the presence column ({k}) holds NaN (row {i}): p(lesion) must be a number in [0, 1]")
        return np.clip(p, 0.0, 1.0), np.delete(X, k, axis=1)

    def _absent_fits(self, labels: np.ndarray) -> bool:
        """Whether ``absent`` is of the labels' kind (a number for numeric labels, a string for strings)."""
        numeric_absent = isinstance(self.absent, (Real, np.number)) and not isinstance(self.absent, bool)
        if labels.dtype.kind in "iuf":
            return numeric_absent
        return isinstance(self.absent, str) and all(isinstance(c, str) for c in labels.tolist())

    def fit(self, X, y):
        """Fit the lesion classifier on the lesion images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The presence column (``presence_column``) and at least one other.
        y : array-like of shape (n_samples,)

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Fewer than two lesion classes, or a bad ``presence_column`` / ``absent`` /
            ``calibration_splits``.
        """
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        if isinstance(self.absent, bool) or not isinstance(self.absent, (str, Real, np.number)) or \
                (isinstance(self.absent, str) and not self.absent):
            raise ValueError(f"absent must be a class name (or a number, for numeric labels), got {self.absent!r}")
        if (isinstance(self.calibration_splits, bool) or not isinstance(self.calibration_splits, Integral)
                or self.calibration_splits < 2):
            raise ValueError(f"calibration_splits must be an integer >= 2, got {self.calibration_splits!r}")
        allow_nan = get_tags(self).input_tags.allow_nan
        X, y = validate_data(self, X, y, ensure_min_features=2, dtype=np.float64,
                             ensure_all_finite="allow-nan" if allow_nan else True)
        check_classification_targets(y)
        _, rest = self._split(X)
        kinds, counts = np.unique(y, return_counts=True)
        if not self._absent_fits(kinds):
            raise ValueError(f"absent={self.absent!r} is not of the labels' kind ({', '.join(map(str, kinds[:5]))}"
                             f"{' ...' if kinds.size > 5 else ''}): give the label that means 'no lesion'")
        lesion = y != self.absent
        keep = kinds != self.absent
        kinds, counts = kinds[keep], counts[keep]
        if kinds.size < 2:
            have = f"{kinds.size} class{'' if kinds.size == 1 else 'es'}" + (
                f": {', '.join(map(str, kinds.tolist()))}" if kinds.size else "")
            raise ValueError(f"the lesion classifier needs two lesion classes (labels other than {self.absent!r}); "
                             f"the images have {have}")
        clf = SVC() if self.classifier is None else clone(self.classifier)
        if not hasattr(clf, "predict_proba"):
            folds = int(min(self.calibration_splits, counts.min()))
            if folds < 2:
                raise ValueError(f"calibrating the lesion classifier needs 2 images of every lesion class; "
                                 f"{dict(zip(map(str, kinds.tolist()), counts.tolist()))}")
            # cv an int: stratified folds in the images' order (no fold object in a model file, which
            # loads only the types featbus trusts)
            clf = CalibratedClassifierCV(clf, method="sigmoid", ensemble=False, cv=folds)
        self.classifier_ = clf.fit(rest[lesion], y[lesion])
        self.lesion_classes_ = np.asarray(self.classifier_.classes_)
        self.classes_ = np.unique(np.concatenate([kinds, np.asarray([self.absent], dtype=kinds.dtype)]
                                                 if kinds.dtype.kind != "O" else
                                                 [kinds, np.asarray([self.absent], dtype=object)]))
        return self

    def predict_proba(self, X) -> np.ndarray:
        """``p(absent) = 1 - p(lesion)``, ``p(c) = p(lesion) * p(c | lesion)``; columns in :attr:`classes_` order.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Each row sums to 1.
        """
        check_is_fitted(self)
        allow_nan = get_tags(self).input_tags.allow_nan
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan" if allow_nan else True)
        p_lesion, rest = self._split(X)
        given = np.asarray(self.classifier_.predict_proba(rest), dtype=float)
        classes = self.classes_.tolist()
        out = np.zeros((X.shape[0], len(classes)))
        out[:, classes.index(self.absent)] = 1.0 - p_lesion
        for j, c in enumerate(self.lesion_classes_.tolist()):
            out[:, classes.index(c)] = p_lesion * given[:, j]
        return out

    def predict(self, X) -> np.ndarray:
        """The most probable class (a model file decides by its operating point instead).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
