"""Another project's image transformer, checked through featbus's public entry (featbus.testing),
as that project's own test module would: written with public names only (scikit-learn's base
classes, featbus.ImageRecord and featbus.read_image), no featbus base class."""

from __future__ import annotations

import os
from numbers import Real

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.estimator_checks import check_estimator
from sklearn.utils.validation import check_is_fitted

from featbus import ImageRecord, read_image
from featbus.testing import check_image_estimator, make_check_images, parametrize_with_image_checks


class EdgeDensity(TransformerMixin, BaseEstimator):
    """Share of pixels whose gradient magnitude exceeds ``threshold`` (of the image's range), and
    the mean magnitude: two columns per image. Takes a sequence of images: arrays, paths or
    featbus records."""

    def __init__(self, threshold=0.1):
        self.threshold = threshold

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # a sequence of images, not a feature matrix
        return tags

    @staticmethod
    def _pixels(item) -> np.ndarray:
        if isinstance(item, ImageRecord):
            item = item.image
        if isinstance(item, (str, os.PathLike)):
            item = read_image(item)
        image = np.asarray(item, dtype=np.float64)
        span = np.ptp(image)
        return (image - image.min()) / span if span > 0 else np.zeros_like(image)

    def fit(self, X, y=None):
        if not isinstance(self.threshold, Real) or not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be a number in (0, 1), got {self.threshold!r}")
        if len(X) == 0:
            raise ValueError("X holds no images")
        self.n_features_out_ = 2
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_out_")
        rows = []
        for item in X:
            gy, gx = np.gradient(self._pixels(item))
            magnitude = np.hypot(gx, gy)
            rows.append([np.mean(magnitude > self.threshold), magnitude.mean()])
        return np.asarray(rows)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(["edge_density.share", "edge_density.mean"], dtype=object)


class LeakyEdgeDensity(EdgeDensity):
    """A defect featbus's checks catch: a row depends on the rest of the batch."""

    def transform(self, X):
        rows = super().transform(X)
        return rows - rows.mean(axis=0)


@parametrize_with_image_checks([EdgeDensity(), EdgeDensity(threshold=0.3)])
def test_edge_density(estimator, check):
    check()


def test_check_image_estimator_runs_every_check():
    passed = check_image_estimator(EdgeDensity())
    assert {"check_per_image_independence", "check_in_grid_search", "check_clone_and_pickle",
            "check_input_kinds", "check_empty_input_error"} <= set(passed)
    assert len(passed) >= 20


def test_check_image_estimator_names_what_failed():
    with pytest.raises(AssertionError, match=r"(?s)LeakyEdgeDensity failed 1 of .*check_per_image_independence"):
        check_image_estimator(LeakyEdgeDensity())


def test_scikit_learns_check_estimator_would_pass_the_defect():
    """Why featbus.testing exists: scikit-learn skips the data checks of an image estimator."""
    results = check_estimator(LeakyEdgeDensity(), on_fail=None)
    assert all(r["status"] != "failed" for r in results)
    assert sum(r["status"] == "passed" for r in results) <= 2


def test_paths_are_read(tmp_path):
    from PIL import Image

    images = [r.image for r in make_check_images(2)]
    paths = []
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    est = EdgeDensity().fit(paths)
    np.testing.assert_allclose(est.transform(paths), est.transform(images))
