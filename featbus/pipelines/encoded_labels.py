"""A wrapper that lets a classifier wanting labels ``0..K-1`` (XGBoost) take any labels.

:func:`featbus.pipelines.make_classifier` wraps XGBoost in it; it is public as
``featbus.pipelines.EncodedLabelClassifier``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

__all__ = ["EncodedLabelClassifier"]


class EncodedLabelClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Let a classifier that needs labels ``0..K-1`` (XGBoost) take any labels.

    Parameters
    ----------
    estimator : classifier
        The wrapped model; it is fitted on ``LabelEncoder``-encoded labels.

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone.
    classes_ : ndarray
        The original labels, in the order of ``predict_proba``'s columns.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.pipelines import EncodedLabelClassifier
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = EncodedLabelClassifier(LogisticRegression()).fit(X, ["a", "a", "b", "b"])
    >>> clf.predict([[0.0], [3.0]]).tolist()
    ['a', 'b']
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def __sklearn_tags__(self):
        # the input contract is the wrapped model's (sparse, NaN)
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags

    def fit(self, X, y, **fit_params):
        """Fit the wrapped model on encoded labels.

        Returns
        -------
        self
        """
        check_classification_targets(y)  # continuous y is an error, not 600 classes
        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        self.estimator_ = clone(self.estimator).fit(X, self.label_encoder_.transform(y), **fit_params)
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict(self, X):
        """Predicted labels, in the original label space."""
        check_is_fitted(self, "estimator_")
        return self.classes_[np.asarray(self.estimator_.predict(X)).astype(int).ravel()]

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)
