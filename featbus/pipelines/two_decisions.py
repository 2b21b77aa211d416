"""Two decisions in one classifier: "is there a lesion?", then "benign or malignant, given a lesion".

A model learnt from one hospital's "normal" scans does not recognise another hospital's normal
scans (issue 61: 4 % to 33 % called normal at a new site), while the segmenter's lesion
probability still separates normal from lesion scans once a threshold fits the site. So the
presence of a lesion is not learnt by the classifier: it is the segmenter's probability, one
feature column (:class:`~featbus.preprocessing.roi.LesionProbability`), with a threshold of its
own that a site can refit from a few labelled patients (``featbus adapt``). The classifier is
trained on lesion images only and answers the second question.

:class:`LesionThenMalignancy` composes the two into ordinary class probabilities,
``p(absent) = 1 - p(lesion)`` and ``p(c) = p(lesion) * p(c | lesion)``, so that every featbus
figure, file and command reads it like any classifier; its decisions are taken by the two
points of :class:`featbus.metrics.OperatingPoint` (``presence`` and the malignancy threshold on
``p(malignant | lesion)``).
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

__all__ = ["LesionThenMalignancy"]


class LesionThenMalignancy(ClassifierMixin, BaseEstimator):
    """Lesion presence from one feature column, benign-vs-malignant from a classifier of lesion images.

    Parameters
    ----------
    classifier : estimator, default=None
        Fitted on the lesion images (labels other than ``absent``), on every column but the
        presence column. Without ``predict_proba`` (an SVC) it is wrapped in a sigmoid
        :class:`~sklearn.calibration.CalibratedClassifierCV` over ``calibration_splits``
        stratified folds. ``None``: an RBF :class:`~sklearn.svm.SVC`.
    presence_column : int, default=-1
        The column holding ``p(lesion)`` in [0, 1] (values outside are clipped).
    absent : str, default="normal"
        The class meaning "no lesion"; always one of :attr:`classes_`, even when no training
        image has it.
    calibration_splits : int, default=5

    Attributes
    ----------
    classifier_ : estimator
        The fitted lesion classifier (with probabilities).
    lesion_classes_ : ndarray of str
    classes_ : ndarray of str
        The lesion classes and ``absent``, sorted.
    n_features_in_ : int

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

    def _column(self, n_features: int) -> int:
        k = self.presence_column
        if isinstance(k, bool) or not isinstance(k, Integral) or not -n_features <= k < n_features:
            raise ValueError(f"presence_column must be a column index of the {n_features} features, got {k!r}")
        return int(k) % n_features

    def _split(self, X) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] < 2:
            raise ValueError(f"expected a 2-D feature matrix with the presence column and at least one other, "
                             f"got shape {X.shape}")
        k = self._column(X.shape[1])
        return np.clip(X[:, k], 0.0, 1.0), np.delete(X, k, axis=1)

    def fit(self, X, y):
        """Fit the lesion classifier on the lesion images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
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
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import SVC

        if not isinstance(self.absent, str) or not self.absent:
            raise ValueError(f"absent must be a class name, got {self.absent!r}")
        if (isinstance(self.calibration_splits, bool) or not isinstance(self.calibration_splits, Integral)
                or self.calibration_splits < 2):
            raise ValueError(f"calibration_splits must be an integer >= 2, got {self.calibration_splits!r}")
        _, rest = self._split(X)
        y = np.asarray(y).astype(str)
        if y.shape != (rest.shape[0],):
            raise ValueError(f"y has shape {y.shape}; expected ({rest.shape[0]},)")
        lesion = y != self.absent
        kinds, counts = np.unique(y[lesion], return_counts=True)
        if kinds.size < 2:
            raise ValueError(f"the lesion classifier needs two lesion classes among the images not labelled "
                             f"{self.absent!r}; these have {kinds.tolist()}")
        clf = SVC() if self.classifier is None else clone(self.classifier)
        if not hasattr(clf, "predict_proba"):
            folds = int(min(self.calibration_splits, counts.min()))
            if folds < 2:
                raise ValueError(f"calibrating the lesion classifier needs 2 images of every lesion class; "
                                 f"{dict(zip(kinds.tolist(), counts.tolist()))}")
            clf = CalibratedClassifierCV(clf, method="sigmoid", ensemble=False,
                                         cv=StratifiedKFold(folds, shuffle=True, random_state=0))
        self.classifier_ = clf.fit(rest[lesion], y[lesion])
        if hasattr(self.classifier_, "calibrated_classifiers_"):
            self.classifier_.cv = folds  # the splitter is not needed after fitting: a model file holds no splitter
        self.lesion_classes_ = np.asarray([str(c) for c in self.classifier_.classes_], dtype=object)
        self.classes_ = np.asarray(sorted({*self.lesion_classes_.tolist(), self.absent}), dtype=object)
        self.n_features_in_ = rest.shape[1] + 1
        return self

    def predict_proba(self, X) -> np.ndarray:
        """``p(absent) = 1 - p(lesion)``, ``p(c) = p(lesion) * p(c | lesion)``; columns in :attr:`classes_` order.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "classifier_")
        p_lesion, rest = self._split(X)
        if rest.shape[1] + 1 != self.n_features_in_:
            raise ValueError(f"X has {rest.shape[1] + 1} features; this classifier was fitted on {self.n_features_in_}")
        given = np.asarray(self.classifier_.predict_proba(rest), dtype=float)
        classes = self.classes_.tolist()
        out = np.zeros((rest.shape[0], len(classes)))
        out[:, classes.index(self.absent)] = 1.0 - p_lesion
        for j, c in enumerate(self.lesion_classes_):
            out[:, classes.index(c)] = p_lesion * given[:, j]
        return out

    def predict(self, X) -> np.ndarray:
        """The most probable class (a model file decides by its operating point instead)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
