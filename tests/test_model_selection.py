"""Tests of featbus.model_selection: perceptual hashes, duplicate groups, DuplicateGroupKFold."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold, cross_validate

from featbus import DuplicateGroupKFold, ImageRecord, duplicate_groups, make_phantoms
from featbus.model_selection import hash_pairs, image_hashes


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(24, image_size=128, random_state=0)


def _variants(im: np.ndarray, rng: np.random.RandomState) -> list[np.ndarray]:
    # shifts and crops of about 4 % of the side need the crop comparison (max_shift)
    h, w = im.shape
    shifted = np.pad(im[5:, 4:], ((0, 5), (0, 4)), mode="edge")  # moved 5 px up, 4 px left
    noisy = np.clip(im.astype(float) + rng.normal(0, 20, im.shape), 0, 255).astype(np.uint8)
    rescaled = cv2.resize(im, (int(w * 0.6), int(h * 0.6)), interpolation=cv2.INTER_AREA)
    cropped = im[4:-4, 4:-4]  # 3 % per side
    brighter = np.clip(im.astype(int) * 1.1 + 5, 0, 255).astype(np.uint8)
    return [shifted, noisy, rescaled, cropped, brighter]


class TestDuplicateGroups:
    def test_copies_grouped_others_not(self, phantoms):
        rng = np.random.RandomState(0)
        originals = phantoms.images[:8]
        images = list(originals)
        owner = list(range(8))
        for k in range(8):
            for v in _variants(originals[k], rng):
                images.append(v)
                owner.append(k)
        g = duplicate_groups(images)
        owner = np.array(owner)
        for k in range(8):
            assert len(np.unique(g[owner == k])) == 1, f"copies of image {k} split: {g[owner == k]}"
        assert len(np.unique(g)) == 8  # different phantoms stay apart
        assert g[:8].tolist() == list(range(8))  # numbered by first appearance

    def test_whole_image_hash_alone_misses_large_shifts(self, phantoms):
        im = phantoms.images[0]
        shifted = np.pad(im[8:, 8:], ((0, 8), (0, 8)), mode="edge")  # 6 % of the side
        assert duplicate_groups([im, shifted], max_shift=0).tolist() == [0, 1]
        assert duplicate_groups([im, shifted]).tolist() == [0, 0]
        with pytest.raises(ValueError, match="max_shift"):
            duplicate_groups([im, shifted], max_shift=0.5)

    def test_independent_images_apart(self, phantoms):
        g = duplicate_groups(phantoms.data)
        assert len(np.unique(g)) == len(phantoms.images)

    def test_float_images_any_range(self, phantoms):
        im = phantoms.images[0].astype(np.float32)
        g = duplicate_groups([im * 16.0 - 1000.0, im / 255.0, phantoms.images[1]])
        assert g.tolist() == [0, 0, 1]

    def test_exact_mode(self):
        rng = np.random.RandomState(1)
        a = (rng.rand(32, 32) * 255).astype(np.uint8)
        b = a.copy()
        b[0, 0] ^= 1  # one pixel differs
        c = (rng.rand(32, 32) * 255).astype(np.uint8)
        g = duplicate_groups([a, b, a.copy(), c, ImageRecord(c.copy())], mode="exact")
        assert g.tolist() == [0, 1, 0, 2, 2]
        # a 16-bit image with the same values is not identical pixels
        assert duplicate_groups([a, a.astype(np.uint16)], mode="exact").tolist() == [0, 1]
        assert duplicate_groups([a, b], mode="near").tolist() == [0, 0]

    def test_threshold_zero_and_chain(self):
        rng = np.random.RandomState(2)
        base = rng.rand(64, 64)
        hashes = image_hashes([base], hash_size=8)
        assert hashes.shape == (1, 63) and hashes.dtype == bool
        # chain: a~b and b~c link a and c even if a and c are far apart
        h = np.zeros((3, 10), bool)
        h[1, :2] = True
        h[2, :4] = True
        r, c, d = hash_pairs(h, 2)
        assert sorted(zip(r.tolist(), c.tolist(), d.tolist())) == [(0, 1, 2), (1, 2, 2)]

    def test_paths_and_hash_size(self, tmp_path, phantoms):
        from PIL import Image

        paths = []
        for i, im in enumerate(phantoms.images[:3]):
            Image.fromarray(im).save(tmp_path / f"im {i}.png")
            paths.append(str(tmp_path / f"im {i}.png"))
        g = duplicate_groups(paths + [phantoms.images[0]], hash_size=16)
        assert g.tolist() == [0, 1, 2, 0]
        assert image_hashes(paths, hash_size=4).shape == (3, 15)

    @pytest.mark.parametrize("kwargs", [{"mode": "fuzzy"}, {"threshold": -1}, {"threshold": 2.5},
                                        {"shift_threshold": -2},
                                        {"hash_size": 1}])
    def test_bad_parameters(self, kwargs, phantoms):
        with pytest.raises(ValueError):
            duplicate_groups(phantoms.images[:2], **kwargs)

    def test_bad_image_named(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="missing.png"):
            duplicate_groups([np.zeros((16, 16)), str(tmp_path / "missing.png")])


class TestDuplicateGroupKFold:
    def _dup_data(self, n=30, copies=2, seed=0):
        ph = make_phantoms(n, image_size=64, random_state=seed)
        rng = np.random.RandomState(seed)
        X, y, owner = [], [], []
        for i, rec in enumerate(ph.data):
            for c in range(copies):
                im = rec.image if c == 0 else np.clip(rec.image + rng.randint(0, 3, rec.image.shape),
                                                      0, 255).astype(np.uint8)
                X.append(ImageRecord(im, rec.mask, f"{rec.path}-{c}"))
                y.append(ph.target[i])
                owner.append(i)
        return X, np.array(y), np.array(owner)

    def test_no_group_on_both_sides(self):
        X, y, owner = self._dup_data()
        cv = DuplicateGroupKFold(n_splits=3)
        folds = list(cv.split(X, y))
        assert len(folds) == 3 == cv.get_n_splits(X, y)
        seen = np.zeros(len(X), int)
        for tr, te in folds:
            assert not set(owner[tr]) & set(owner[te])
            seen[te] += 1
        assert np.all(seen == 1)

    def test_stratified(self):
        X, y, owner = self._dup_data(n=45)
        for _tr, te in DuplicateGroupKFold(n_splits=3).split(X, y):
            props = np.bincount(y[te], minlength=3) / len(te)
            assert np.all(np.abs(props - 1 / 3) < 0.12)

    def test_given_groups_used_and_same_as_sklearn(self):
        X, y, owner = self._dup_data()
        ours = list(DuplicateGroupKFold(n_splits=3, shuffle=True, random_state=0).split(X, y, owner))
        ref = list(StratifiedGroupKFold(3, shuffle=True, random_state=0).split(np.zeros(len(y)), y, owner))
        for (a, b), (c, d) in zip(ours, ref):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, d)
        # with groups given, X is not read: any placeholder of the right length works
        assert len(list(DuplicateGroupKFold(3).split([None] * len(y), y, owner))) == 3

    def test_unstratified_and_errors(self):
        X, y, owner = self._dup_data(n=12)
        folds = list(DuplicateGroupKFold(n_splits=4, stratify=False).split(X))
        assert len(folds) == 4
        with pytest.raises(ValueError, match="needs y"):
            next(DuplicateGroupKFold().split(X))
        with pytest.raises(ValueError, match="n_splits"):
            next(DuplicateGroupKFold(n_splits=1).split(X, y))
        with pytest.raises(ValueError, match="distinct group"):
            next(DuplicateGroupKFold(n_splits=5).split(X[:6], y[:6]))
        with pytest.raises(ValueError, match="labels"):
            next(DuplicateGroupKFold(n_splits=2).split(X, y[:-1]))

    def test_clone_pickle_repr(self):
        cv = DuplicateGroupKFold(3, threshold=6, shuffle=True, random_state=1)
        copy = pickle.loads(pickle.dumps(cv))
        assert copy.threshold == 6 and copy.random_state == 1
        assert repr(cv).startswith("DuplicateGroupKFold(") and "threshold=6" in repr(cv)
        X, y, owner = self._dup_data(n=12)
        a = [te for _, te in cv.split(X, y)]
        b = [te for _, te in copy.split(X, y)]
        assert all(np.array_equal(p, q) for p, q in zip(a, b))  # deterministic with random_state

    def test_cross_validate_no_glue(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        X, y, owner = self._dup_data(n=18)
        feats = FunctionTransformer(lambda recs: np.array([[r.image.mean(), r.image.std()] for r in recs]))
        pipe = make_pipeline(feats, StandardScaler(), LogisticRegression())
        res = cross_validate(pipe, X, y, cv=DuplicateGroupKFold(n_splits=3), error_score="raise")
        assert len(res["test_score"]) == 3


def test_busi_groups_and_splits(busi):
    data = busi
    g = data.groups
    # calibrated thresholds: 475 groups on this BUSI copy, no chains (see duplicate_groups' docstring)
    assert 440 <= len(np.unique(g)) <= 500
    assert np.bincount(g).max() <= 8
    for tr, te in DuplicateGroupKFold(n_splits=5).split(data.images, data.target, g):
        assert not set(g[tr]) & set(g[te])
        props = np.bincount(data.target[te], minlength=3) / len(te)
        assert np.all(np.abs(props - np.bincount(data.target) / len(g)) < 0.05)
    # computed from X when groups are not given: same folds
    a = [te for _, te in DuplicateGroupKFold(n_splits=5).split(data.data, data.target)]
    b = [te for _, te in DuplicateGroupKFold(n_splits=5).split(data.data, data.target, g)]
    assert all(np.array_equal(x, z) for x, z in zip(a, b))
