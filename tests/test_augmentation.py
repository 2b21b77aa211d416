"""ImageAugmenter / augment_image: a sampler acting only on training folds; masks follow images."""

from __future__ import annotations

import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import cross_validate

from featbus import ImageRecord, IntensityStats, make_phantoms
from featbus.compute.extraction import extraction_counts, reset_extraction_counts
from featbus.model_selection import DuplicateGroupKFold
from featbus.networks.augmentation import AUGMENT_PRESETS, ImageAugmenter, augment_image


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


# ----------------------------------------------------------------------------- multiplicative
# brightness, fill modes, acquisition shift (issues 42 and 46)
_GEOMETRY_OFF = dict(horizontal_flip=False, rotation=0, shift=0, zoom=(1, 1), shear=0, brightness=0,
                     contrast=(1, 1), gamma=(1, 1), speckle=0)
_SHIFT_ONLY = dict(_GEOMETRY_OFF, shift=0.3)


def test_opt_in_parameters_left_off_give_the_images_of_before():
    from featbus.networks.augmentation import _OPT_IN

    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (40, 52)).astype(np.uint8)
    mask = np.zeros(img.shape, bool)
    mask[10:20, 12:30] = True
    for preset in ("ultrasound", "mammography", "flip"):
        assert not set(_OPT_IN) & set(AUGMENT_PRESETS[preset])
        for seed in range(4):
            a, ma = augment_image(img, mask, random_state=seed, preset=preset)
            b, mb = augment_image(img, mask, random_state=seed, preset=preset, **_OPT_IN)
            assert np.array_equal(a, b) and np.array_equal(ma, mb)
    assert ImageAugmenter().get_params()["fill_mode"] == "constant"
    assert ImageAugmenter().get_params()["brightness_range"] is None


def test_multiplicative_brightness_scales_intensities():
    img = np.linspace(0.1, 0.6, 30 * 30, dtype=np.float32).reshape(30, 30)
    for seed in range(3):
        out = augment_image(img, random_state=seed, preset="flip", **dict(_GEOMETRY_OFF, brightness_range=(1.2, 1.2)))
        assert np.allclose(out, np.clip(img * 1.2, 0, 1), atol=1e-6)
    outs = [augment_image(img, random_state=s, preset="flip", **dict(_GEOMETRY_OFF, brightness_range=(1, 1.4)))
            for s in range(20)]
    factors = [float(np.median(o / img)) for o in outs]
    assert all(1 - 1e-6 <= f <= 1.4 + 1e-6 for f in factors) and np.ptp(factors) > 0.1
    # additive and multiplicative together: the offset first, then the factor
    out = augment_image(img, random_state=0, preset="flip",
                        **dict(_GEOMETRY_OFF, brightness=0.1, brightness_range=(1.0, 1.0)))
    assert not np.allclose(out, img)


def test_fill_modes_fill_the_outside_and_the_mask_alike():
    flat = np.full((32, 32), 0.6, np.float32)
    mask = np.zeros((32, 32), bool)
    mask[:, :6] = True  # a lesion touching the left edge
    seeds = range(6)
    for seed in seeds:
        const, mc = augment_image(flat, mask, random_state=seed, preset="flip", **_SHIFT_ONLY)
        assert (const < 0.01).any()  # black outside, the default
        grey = augment_image(flat, random_state=seed, preset="flip", **dict(_SHIFT_ONLY, fill_value=0.3))
        assert np.isclose(grey, 0.3, atol=1e-6).any() and not (grey < 0.01).any()
        for mode in ("nearest", "reflect", "mirror", "wrap"):
            out, m = augment_image(flat, mask, random_state=seed, preset="flip", **dict(_SHIFT_ONLY, fill_mode=mode))
            assert np.allclose(out, 0.6, atol=1e-6), mode  # nothing from outside is black
            assert m.sum() >= mc.sum()
    # the lesion shifted right: "nearest" extends it to the edge, "constant" leaves a gap
    seed = next(s for s in range(50) if augment_image(mask.astype(np.float32), random_state=s, preset="flip",
                                                      **_SHIFT_ONLY)[:, 0].max() == 0)
    _, m_const = augment_image(flat, mask, random_state=seed, preset="flip", **_SHIFT_ONLY)
    _, m_near = augment_image(flat, mask, random_state=seed, preset="flip", **dict(_SHIFT_ONLY, fill_mode="nearest"))
    assert not m_const[:, 0].any() and m_near[:, 0].all()
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    outs = {mode: augment_image(ramp, random_state=seed, preset="flip", **dict(_SHIFT_ONLY, fill_mode=mode))
            for mode in ("nearest", "reflect", "mirror", "wrap")}
    assert all(not np.allclose(outs[a], outs[b]) for a in outs for b in outs if a < b)
    aug = ImageAugmenter(n_copies=1, random_state=0, fill_mode="reflect", shift=0.3)
    assert aug.fit_resample([ramp], [0])[0][1].image.shape == (32, 32)


def test_tgc_is_a_smooth_gain_along_depth_only():
    from featbus.networks.augmentation import tgc_curve

    flat = np.full((60, 40), 0.5, np.float32)
    mask = flat > 0.7
    mask[20:30, 10:20] = True
    for seed in range(5):
        out, m = augment_image(flat, mask, random_state=seed, preset="flip", **dict(_GEOMETRY_OFF, tgc=0.3))
        assert np.array_equal(m, mask)
        assert np.allclose(out, out[:, :1])  # the same factor along a row
        col = out[:, 0] / 0.5
        assert col.min() >= 0.7 - 1e-6 and col.max() <= 1.3 + 1e-6 and np.ptp(col) > 0.01
        assert np.abs(np.diff(col)).max() < 0.05  # smooth
    assert np.allclose(tgc_curve(4, [1.0, 2.0, 1.0, 3.0]), [1, 2, 1, 3])


def test_blur_and_resolution_loss_remove_fine_detail_not_the_mask():
    rng = np.random.default_rng(0)
    noise = (0.25 + 0.5 * rng.random((48, 48))).astype(np.float32)
    mask = np.zeros((48, 48), bool)
    mask[10:30, 10:30] = True

    def detail(a):
        return float(np.abs(np.diff(a, axis=1)).mean())

    for name, value in (("blur", 2.0), ("resolution", 0.6)):
        outs = [augment_image(noise, mask, random_state=s, preset="flip", **dict(_GEOMETRY_OFF, **{name: value}))
                for s in range(6)]
        assert all(np.array_equal(m, mask) for _, m in outs)
        assert min(detail(o) for o, _ in outs) < 0.5 * detail(noise), name
        assert all(abs(float(o.mean()) - float(noise.mean())) < 0.02 for o, _ in outs)


def test_marks_are_bright_and_never_on_the_lesion():
    from featbus.networks.augmentation import draw_marks

    black = np.zeros((96, 96), np.float32)
    mask = np.zeros((96, 96), bool)
    mask[30:70, 25:75] = True
    drawn = 0
    for seed in range(15):
        out, m = augment_image(black, mask, random_state=seed, preset="flip", **dict(_GEOMETRY_OFF, marks=5))
        assert np.array_equal(m, mask)
        assert not out[mask].any()  # nothing over the lesion
        assert out.max() <= 1.0 and (out == 0).mean() > 0.9
        drawn += int((out >= 0.8).any())
    assert drawn == 15  # at least one mark each time
    assert (draw_marks(black, 6, np.random.default_rng(0)) >= 0.8).sum() > 10


def test_scanner_shift_preset_deterministic_and_geometry_as_ultrasound():
    data = make_phantoms(4, image_size=64, random_state=0)
    assert "scanner-shift" in AUGMENT_PRESETS
    for rec in data.data:
        a, ma = augment_image(rec.image, rec.mask, random_state=7, preset="scanner-shift")
        b, mb = augment_image(rec.image, rec.mask, random_state=7, preset="scanner-shift")
        assert np.array_equal(a, b) and np.array_equal(ma, mb)
        u, mu = augment_image(rec.image, rec.mask, random_state=7, preset="ultrasound")
        assert np.array_equal(ma, mu)  # the same warp: the intensity steps never move the mask
        assert not np.array_equal(a, u)
    aug = ImageAugmenter(**AUGMENT_PRESETS["scanner-shift"], n_copies=1, random_state=0)
    X1, _ = aug.fit_resample(data.data, data.target)
    X2, _ = clone(aug).fit_resample(data.data, data.target)
    assert all(np.array_equal(p.image, q.image) for p, q in zip(X1[4:], X2[4:]))


def test_augment_pair_acquisition_changes_the_image_never_the_mask():
    from featbus.networks.augmentation import augment_pair

    rng = np.random.default_rng(1)
    img = (0.2 + 0.4 * rng.random((64, 64))).astype(np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[20:44, 16:40] = 1
    for seed in range(8):
        a0, m0 = augment_pair(img, mask, seed)
        a1, m1 = augment_pair(img, mask, seed, acquisition="scanner-shift")
        a2, m2 = augment_pair(img, mask, seed, acquisition="scanner-shift")
        assert np.array_equal(m0, m1) and np.array_equal(a1, a2) and np.array_equal(m1, m2)
        assert not np.allclose(a0, a1) and a1.dtype == np.float32 and 0 <= a1.min() and a1.max() <= 1
    # marks only: the lesion's pixels are those of the plain copy
    for seed in range(8):
        a0, m0 = augment_pair(img, mask, seed)
        a1, _ = augment_pair(img, mask, seed, acquisition={"marks": 6})
        assert np.array_equal(a0[m0 > 0], a1[m0 > 0])
    with pytest.raises(TypeError, match="acquisition"):
        augment_pair(img, mask, 0, acquisition={"rotation": 5})
    with pytest.raises(ValueError, match="preset"):
        augment_pair(img, mask, 0, acquisition="heavy")


def test_new_parameter_errors():
    X = [_square()]
    for bad, match in ((dict(fill_mode="edge"), "fill_mode"), (dict(brightness_range=(1.4, 1.0)), "brightness_range"),
                       (dict(tgc=2.0), "tgc"), (dict(marks=-1), "marks"), (dict(blur=-1), "blur"),
                       (dict(fill_value=3), "fill_value")):
        with pytest.raises(ValueError, match=match):
            ImageAugmenter(**bad).fit_resample(X, [0])
        with pytest.raises(ValueError, match=match):
            augment_image(_square(), **bad)
