"""Checks for estimators that plug into featbus (the common scikit-learn checks with image inputs)."""
