"""Tests of featbus.datasets: phantoms, image folders, BUSI, mini-MIAS."""

from __future__ import annotations

import numpy as np
import pytest

from featbus import ImageRecord
from featbus.datasets import make_phantoms


def _check_bunch(b):
    n = len(b.images)
    assert len(b.masks) == len(b.paths) == len(b.data) == len(b.target) == len(b.groups) == n
    assert b.target.dtype.kind == "i" and b.groups.dtype.kind == "i"
    assert b.target_names.dtype.kind == "U"
    assert set(np.unique(b.target)) <= set(range(len(b.target_names)))
    for im, m, p, rec in zip(b.images, b.masks, b.paths, b.data):
        assert im.ndim == 2 and m.dtype == bool and m.shape == im.shape
        assert isinstance(p, str) and p
        assert isinstance(rec, ImageRecord) and rec.image is im and rec.mask is m and rec.path == p
    assert isinstance(b.DESCR, str) and b.DESCR


class TestPhantoms:
    def test_layout_and_classes(self):
        ph = make_phantoms(30, image_size=64, random_state=0)
        _check_bunch(ph)
        assert ph.target_names.tolist() == ["benign", "malignant", "normal"]
        assert np.bincount(ph.target).tolist() == [10, 10, 10]
        assert all(im.dtype == np.uint8 and im.shape == (64, 64) for im in ph.images)
        assert ph.paths[7] == "phantom-0007"
        np.testing.assert_array_equal(ph.groups, np.arange(30))
        for t, m, rec in zip(ph.target, ph.masks, ph.data):
            assert m.any() == (t != 2)  # lesion for benign/malignant, none for normal
            assert rec.meta["label"] == ph.target_names[t]

    def test_lesion_is_hypoechoic(self):
        ph = make_phantoms(20, image_size=96, weights=[0.5, 0.5, 0.0], random_state=1)
        for im, m in zip(ph.images, ph.masks):
            assert im[m].mean() < im[~m].mean()

    def test_shape_descriptors(self):
        # benign wider than tall, malignant mostly taller and less compact (spiculated)
        ph = make_phantoms(40, image_size=128, weights=[0.5, 0.5, 0.0], random_state=2)

        def aspect_and_solidity(m):
            rows, cols = np.nonzero(m)
            aspect = (np.ptp(rows) + 1) / (np.ptp(cols) + 1)
            return aspect, m.sum() / ((np.ptp(rows) + 1) * (np.ptp(cols) + 1))

        stats = {c: np.array([aspect_and_solidity(m) for m, t in zip(ph.masks, ph.target) if t == c])
                 for c in (0, 1)}
        assert np.all(stats[0][:, 0] <= 1.05)
        assert np.median(stats[1][:, 0]) > 1.0
        assert np.median(stats[1][:, 1]) < np.median(stats[0][:, 1])

    def test_deterministic_and_sizes(self):
        a = make_phantoms(5, image_size=(48, 80), random_state=3)
        b = make_phantoms(5, image_size=(48, 80), random_state=3)
        assert a.images[0].shape == (48, 80)
        for x, y in zip(a.images, b.images):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a.target, b.target)
        c = make_phantoms(5, image_size=(48, 80), random_state=4)
        assert not all(np.array_equal(x, y) for x, y in zip(a.images, c.images))

    def test_weights(self):
        ph = make_phantoms(10, image_size=32, weights=[0.6, 0.2, 0.2], random_state=0)
        assert np.bincount(ph.target, minlength=3).tolist() == [6, 2, 2]
        ph = make_phantoms(7, image_size=32, weights=[0.5, 0.5], random_state=0)
        assert np.bincount(ph.target, minlength=3).tolist()[2] == 0

    @pytest.mark.parametrize("kwargs", [
        {"n_samples": 0}, {"n_samples": 2.5}, {"image_size": 8}, {"image_size": "big"},
        {"weights": [1, 2, 3, 4]}, {"weights": [-1, 1, 1]},
    ])
    def test_bad_parameters(self, kwargs):
        with pytest.raises(ValueError):
            make_phantoms(**kwargs)

    def test_learnable(self):
        # a simple feature set separates the classes better than chance but not perfectly trivially
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_score

        ph = make_phantoms(90, image_size=64, random_state=5)
        X = np.array([[im.mean(), im.std(), im[16:48, 16:48].mean(), im[48:].mean()] for im in ph.images])
        score = cross_val_score(LogisticRegression(max_iter=1000), X, ph.target, cv=3).mean()
        assert score > 0.45
