"""Checks for estimators that plug into featbus.

* :mod:`featbus.testing.estimator_checks`: scikit-learn's common checks with image inputs, for
  featbus's own estimators and yours.
"""
