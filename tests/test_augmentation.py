"""ImageAugmenter / augment_image: a sampler acting only on training folds; masks follow images."""

from __future__ import annotations

import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import cross_validate

from featbus import ImageRecord, IntensityStats, make_phantoms
from featbus.augmentation import AUGMENT_PRESETS, ImageAugmenter, augment_image
from featbus.extraction import extraction_counts, reset_extraction_counts
from featbus.model_selection import DuplicateGroupKFold


def _square(h=40, w=48):
    img = np.zeros((h, w), np.uint8)
    img[10:22, 8:20] = 200
    return img


def test_mask_is_warped_with_its_image():
    img = _square()
    mask = img > 0
    for seed in range(10):
        # geometry only: the warped image's bright region is exactly the warped mask (bar edges)
        out, m = augment_image(img, mask, random_state=seed, brightness=0, contrast=(1, 1), gamma=(1, 1),
                               speckle=0)
        assert m.dtype == bool and m.shape == img.shape
        inside = out[m].astype(float)
        outside = out[~m].astype(float)
        assert inside.mean() > 150 and outside.mean() < 20
    # a pure flip is exact
    out, m = augment_image(img, mask, random_state=0, preset="flip")
    flipped = np.array_equal(out, img[:, ::-1])
    assert flipped or np.array_equal(out, img)
    assert np.array_equal(m, out > 0)


def test_dtype_range_and_determinism():
    rng = np.random.default_rng(0)
    for img in (rng.integers(0, 256, (30, 30)).astype(np.uint8),
                rng.integers(0, 65536, (30, 30)).astype(np.uint16),
                rng.random((30, 30)).astype(np.float32)):
        a = augment_image(img, random_state=3)
        assert a.dtype == img.dtype and a.shape == img.shape
        assert np.array_equal(a, augment_image(img, random_state=3))
        assert not np.array_equal(a, augment_image(img, random_state=4))
    f = augment_image(rng.random((30, 30)), random_state=0)
    assert f.min() >= 0 and f.max() <= 1


def test_fit_resample_layout_and_records():
    X = [_square(), ImageRecord(_square(), mask=_square() > 0, path="a.png", meta={"label": "benign"})]
    aug = ImageAugmenter(n_copies=2, random_state=0)
    Xr, yr = aug.fit_resample(X, [0, 1])
    assert len(Xr) == 6 and yr.tolist() == [0, 1, 0, 1, 0, 1]
    assert Xr[0] is X[0] and Xr[1] is X[1]  # originals untouched
    assert Xr[3].mask is not None and Xr[3].path == "a.png" and Xr[3].meta == {"label": "benign", "augmented": 1}
    assert Xr[2].mask is None and Xr[4].meta["augmented"] == 2
    # the same seed gives the same copies; copy k of item i does not depend on the others
    Xs, _ = ImageAugmenter(n_copies=2, random_state=0).fit_resample(X[:1], [0])
    assert np.array_equal(Xs[1].image, Xr[2].image) and np.array_equal(Xs[2].image, Xr[4].image)
    assert ImageAugmenter(n_copies=0).fit_resample(X, [0, 1])[0] == X


def test_parameter_errors():
    X = [_square()]
    with pytest.raises(ValueError, match="rotation"):
        ImageAugmenter(rotation=120).fit_resample(X, [0])
    with pytest.raises(ValueError, match="zoom"):
        ImageAugmenter(zoom=(1.2, 0.8)).fit_resample(X, [0])
    with pytest.raises(ValueError, match="n_copies"):
        ImageAugmenter(n_copies=-1).fit_resample(X, [0])
    with pytest.raises(ValueError, match="labels"):
        ImageAugmenter().fit_resample(X, [0, 1])
    with pytest.raises(TypeError, match="unknown augmentation parameter"):
        augment_image(_square(), colour=3)
    with pytest.raises(ValueError, match="preset"):
        augment_image(_square(), preset="heavy")
    assert set(AUGMENT_PRESETS) >= {"ultrasound", "mammography", "flip"}
    assert clone(ImageAugmenter(n_copies=3)).n_copies == 3


# class-level logs: cross_validate clones the steps, and clone copies list parameters
class _Recorder(ImageAugmenter):
    """ImageAugmenter that records the ids (meta["id"]) of the items it resamples."""

    log: list = []

    def fit_resample(self, X, y, **params):
        type(self).log.append(sorted(r.meta["id"] for r in X))
        return super().fit_resample(X, y)


class _IdClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the majority class; records which ids reach fit and predict."""

    fitted: list = []
    seen: list = []

    def fit(self, X, y):
        type(self).fitted.append([("aug" if "augmented" in r.meta else r.meta["id"]) for r in X])
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X):
        type(self).seen.append([("aug" if "augmented" in r.meta else r.meta["id"]) for r in X])
        return np.full(len(X), self.majority_)


class _KeepRecords(BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def test_augmentation_never_touches_validation_folds():
    data = make_phantoms(30, image_size=32, random_state=0)
    X = [ImageRecord(r.image, mask=r.mask, meta={**r.meta, "id": i}) for i, r in enumerate(data.data)]
    y = np.asarray(data.target)
    _Recorder.log, _IdClassifier.fitted, _IdClassifier.seen = [], [], []
    cv = DuplicateGroupKFold(n_splits=3, shuffle=True, random_state=0)
    pipe = Pipeline([("aug", _Recorder(n_copies=1, random_state=0)), ("keep", _KeepRecords()),
                     ("clf", _IdClassifier())])
    out = cross_validate(pipe, X, y, cv=cv, return_indices=True)
    tests = [set(t.tolist()) for t in out["indices"]["test"]]
    trains = [set(t.tolist()) for t in out["indices"]["train"]]
    assert len(_Recorder.log) == 3
    for got, fitted, train, test in zip(_Recorder.log, _IdClassifier.fitted, trains, tests):
        assert set(got) == train and not set(got) & test
        # the classifier was fitted on the training fold and its copies only
        assert fitted.count("aug") == len(train) and set(fitted) - {"aug"} == train
    for ids, test in zip(_IdClassifier.seen, tests):  # predict saw exactly the test fold, no copies
        assert "aug" not in ids and set(ids) == test


def test_ahead_of_a_frozen_extractor_copies_get_their_own_rows():
    data = make_phantoms(8, image_size=32, random_state=1)
    y = np.asarray(data.target)
    ext = IntensityStats(progress=False)
    reset_extraction_counts()
    Xr, _ = ImageAugmenter(n_copies=1, random_state=0).fit_resample(data.data, y)
    F = ext.fit(Xr).transform(Xr)
    # every original and every copy computed once: copies never reuse an original's row
    assert sum(extraction_counts().values()) == len(set(_key(r) for r in Xr)) == 16
    assert not np.allclose(F[:8], F[8:])
    pipe = Pipeline([("aug", ImageAugmenter(random_state=0)), ("feat", IntensityStats(progress=False)),
                     ("clf", _MeanClassifier())])
    pipe.fit(data.data, y)
    assert pipe.predict(data.data).shape == (8,)


def _key(rec):
    return np.asarray(rec.image).tobytes()


class _MeanClassifier(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])
