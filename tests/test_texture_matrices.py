"""Texture matrices (GLRLM, GLSZM, GLDZM, NGTDM, GLDM): brute-force references, invariances,
regions, discretisation, errors and the scikit-learn API. IBSI phantom values are in
``test_ibsi_texture.py``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import ndimage
from sklearn.base import clone

import featbus
from featbus import ImageError, ImageRecord
from featbus.features import texture_matrices as tm
from featbus.testing import parametrize_with_image_checks

TRANSFORMERS = [tm.GLRLMFeatures(bins=8), tm.GLSZMFeatures(bins=8), tm.GLDZMFeatures(bins=8),
                tm.NGTDMFeatures(bins=8), tm.GLDMFeatures(bins=8)]
SIZES = {"glrlm": 16, "glszm": 16, "gldzm": 16, "ngtdm": 5, "gldm": 17}


@parametrize_with_image_checks(TRANSFORMERS + [tm.GLSZMFeatures(region="mask"),
                                               tm.GLRLMFeatures(region="bbox", aggregation="merge")])
def test_image_estimator(estimator, check):
    check()


def _levels(seed, shape=(13, 17), n=4):
    return np.random.default_rng(seed).integers(1, n + 1, shape)


def _loop_runs(levels, region, direction):
    """Reference: walk every line pixel by pixel (slow, obviously right)."""
    dy, dx = direction
    h, w = levels.shape
    runs = []
    for y in range(h):
        for x in range(w):
            if not region[y, x]:
                continue
            py, px = y - dy, x - dx  # a run starts where the previous pixel is not the same
            if 0 <= py < h and 0 <= px < w and region[py, px] and levels[py, px] == levels[y, x]:
                continue
            n, cy, cx = 0, y, x
            while 0 <= cy < h and 0 <= cx < w and region[cy, cx] and levels[cy, cx] == levels[y, x]:
                n, cy, cx = n + 1, cy + dy, cx + dx
            runs.append((levels[y, x], n))
    return sorted(runs)


@pytest.mark.parametrize("seed", range(4))
def test_glrlm_matches_pixel_loop(seed):
    levels = _levels(seed)
    region = np.random.default_rng(seed + 10).random(levels.shape) < 0.8
    M, n_v = tm.glrlm_matrices(levels, region, bins=None)
    assert n_v == region.sum()
    for d, direction in enumerate(tm.DIRECTIONS):
        ref = _loop_runs(levels, region, direction)
        ours = sorted((i + 1, j + 1) for i, j in zip(*np.nonzero(M[d])) for _ in range(int(M[d][i, j])))
        assert ours == ref, direction


@pytest.mark.parametrize("seed", range(3))
def test_ngtdm_and_gldm_match_pixel_loop(seed):
    levels = _levels(seed, (9, 11), 5)
    region = np.random.default_rng(seed + 20).random(levels.shape) < 0.75
    s_ref, n_ref = np.zeros(5), np.zeros(5)
    dep = []
    h, w = levels.shape
    for y in range(h):
        for x in range(w):
            if not region[y, x]:
                continue
            nb = [levels[y + a, x + b] for a in (-1, 0, 1) for b in (-1, 0, 1)
                  if (a, b) != (0, 0) and 0 <= y + a < h and 0 <= x + b < w and region[y + a, x + b]]
            g = levels[y, x]
            dep.append((g, 1 + sum(v == g for v in nb)))
            if nb:
                s_ref[g - 1] += abs(g - np.mean(nb))
                n_ref[g - 1] += 1
    s, n = tm.ngtdm_matrix(levels, region, bins=None)
    np.testing.assert_allclose(s[:5], s_ref, rtol=1e-12)
    np.testing.assert_array_equal(n[:5], n_ref)
    M, _ = tm.gldm_matrix(levels, region, bins=None)
    ref = np.zeros_like(M)
    for g, j in dep:
        ref[g - 1, j - 1] += 1
    np.testing.assert_array_equal(M, ref)


def test_glszm_and_gldzm_match_labelling_reference():
    levels = _levels(5, (12, 12), 3)
    M, _ = tm.glszm_matrix(levels, bins=None)
    D, _ = tm.gldzm_matrix(levels, bins=None)
    # distance to the border of a full-image region: min(y+1, x+1, h-y, w-x)
    yy, xx = np.mgrid[:12, :12]
    dist = np.minimum(np.minimum(yy + 1, xx + 1), np.minimum(12 - yy, 12 - xx))
    for g in (1, 2, 3):
        lab, n = ndimage.label(levels == g, structure=np.ones((3, 3)))
        sizes = np.bincount(lab.ravel())[1:]
        assert M[g - 1].sum() == n and sorted(np.repeat(np.arange(1, M.shape[1] + 1),
                                                        M[g - 1].astype(int))) == sorted(sizes)
        dmin = [dist[lab == k].min() for k in range(1, n + 1)]
        assert sorted(np.repeat(np.arange(1, D.shape[1] + 1), D[g - 1].astype(int))) == sorted(dmin)


@pytest.mark.parametrize("func", [tm.glrlm_features, tm.glszm_features, tm.gldzm_features,
                                  tm.ngtdm_features, tm.gldm_features])
def test_rotation_and_flip_invariance(func):
    # Each family is invariant under 90-degree rotation and mirroring (GLRLM thanks to averaging
    # over its four directions, which a rotation permutes).
    img = np.random.default_rng(0).random((20, 26))
    ref = func(img, bins=8)
    for t in (np.rot90(img), img[::-1], img[:, ::-1].T):
        np.testing.assert_allclose(func(np.ascontiguousarray(t), bins=8), ref, rtol=1e-10)


@pytest.mark.parametrize("func", [tm.glrlm_features, tm.glszm_features, tm.gldzm_features,
                                  tm.ngtdm_features, tm.gldm_features])
def test_mask_ignores_outside_pixels_and_equals_crop(func):
    img = np.random.default_rng(1).random((30, 30))
    mask = np.zeros(img.shape, bool)
    mask[6:20, 8:25] = True
    other = np.where(mask, img, np.random.default_rng(2).random(img.shape))
    np.testing.assert_allclose(func(other, mask, bins=8), func(img, mask, bins=8), rtol=1e-12)
    # a rectangular mask is the cropped image (its edge is the crop's border)
    np.testing.assert_allclose(func(img, mask, bins=8), func(img[6:20, 8:25], bins=8), rtol=1e-12)


def test_discretisation():
    x = np.array([[0.0, 0.1, 0.5], [0.9, 1.0, 0.3]])
    levels, n = tm.discretise(x, bins=4)
    assert n == 4 and levels.min() == 1 and levels.max() == 4
    assert levels[0, 0] == 1 and levels[1, 1] == 4
    # fixed bin number uses the region's own range
    mask = np.array([[False, True, True], [False, False, True]])
    levels, _ = tm.discretise(x, mask, bins=2)
    assert levels.tolist() == [[0, 1, 2], [0, 0, 1]]
    # fixed bin width is absolute: the same intensity, the same level in any image
    assert tm.discretise(x, bin_width=0.25)[0].tolist() == [[1, 1, 3], [4, 5, 2]]
    assert tm.discretise(np.full((3, 3), 0.4), bins=8)[0].max() == 1  # constant region: level 1
    with pytest.raises(ValueError, match="integer grey levels"):
        tm.discretise(x, bins=None)
    with pytest.raises(ValueError, match="bins must be"):
        tm.discretise(x, bins=1)
    with pytest.raises(ValueError, match="bin_width"):
        tm.discretise(x, bin_width=2.0)
    with pytest.raises(ValueError, match="mask is empty"):
        tm.discretise(x, np.zeros(x.shape, bool))


def test_uniform_region_documented_values():
    flat = np.full((10, 10), 0.5)
    f = dict(zip(tm.NGTDM_FEATURES, tm.ngtdm_features(flat)))
    assert f == {"coarseness": tm.UNIFORM_COARSENESS, "contrast": 0.0, "busyness": 0.0,
                 "complexity": 0.0, "strength": 0.0}
    g = dict(zip(tm.GLSZM_FEATURES, tm.glszm_features(flat)))  # one zone of 100 pixels
    assert g["zone_size_entropy"] == 0.0 and g["grey_level_variance"] == 0.0
    assert g["large_zone_emphasis"] == 100.0 ** 2 and g["zone_percentage"] == 0.01
    with pytest.raises(ValueError, match="no pixel of the region has a neighbour"):
        mask = np.zeros((10, 10), bool)
        mask[2, 2] = mask[5, 5] = True
        tm.ngtdm_features(np.random.default_rng(0).random((10, 10)), mask)


def test_merge_aggregation_is_features_of_summed_matrix():
    img = np.random.default_rng(3).random((16, 16))
    M, n_v = tm.glrlm_matrices(img, bins=8)
    merged = tm.glrlm_features(img, bins=8, aggregation="merge")
    assert merged[tm.GLRLM_FEATURES.index("run_percentage")] == pytest.approx(M.sum() / (4 * n_v))
    assert tm.glrlm_feature_names("merge")[0] == "glrlm.short_runs_emphasis.merged"
    with pytest.raises(ValueError, match="aggregation"):
        tm.glrlm_features(img, aggregation="max")


@pytest.mark.parametrize("est", TRANSFORMERS, ids=list(SIZES))
def test_transformer_matches_function_and_names(est):
    rng = np.random.default_rng(0)
    imgs = [np.rint(rng.random((24, 30)) * 255).astype(np.uint8) for _ in range(3)]
    prefix = est._prefix
    func = getattr(tm, f"{prefix}_features")
    X = clone(est).fit_transform(imgs)
    assert X.shape == (3, SIZES[prefix])
    np.testing.assert_allclose(X[1], func(imgs[1].astype(np.float32) / 255, bins=8), rtol=1e-12)
    names = est.fit(imgs).get_feature_names_out()
    assert len(names) == SIZES[prefix] and all(n.startswith(prefix + ".") for n in names)
    assert pickle.loads(pickle.dumps(est)).transform(imgs[:1]).shape == (1, SIZES[prefix])


def test_regions_and_errors():
    rng = np.random.default_rng(0)
    img = rng.random((32, 32)).astype(np.float32)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 4:20] = True
    rec = ImageRecord(img, mask)
    masked = tm.GLSZMFeatures(region="mask").fit_transform([rec])[0]
    np.testing.assert_allclose(masked, tm.glszm_features(img, mask), rtol=1e-12)
    boxed = tm.GLSZMFeatures(region="bbox").fit_transform([rec])[0]
    np.testing.assert_allclose(boxed, tm.glszm_features(img[8:24, 4:20]), rtol=1e-12)
    with pytest.raises(ImageError, match="needs a lesion mask"):
        tm.GLRLMFeatures(region="mask").fit_transform([img])
    with pytest.raises(ValueError, match="set bins"):
        tm.GLRLMFeatures(bins=None).fit([img])
    with pytest.raises(ValueError, match="alpha"):
        tm.GLDMFeatures(alpha=-1).fit([img])
    with pytest.raises(ValueError, match="distance"):
        tm.NGTDMFeatures(distance=0).fit([img])


def test_public_exports():
    for name in ("GLRLMFeatures", "GLSZMFeatures", "GLDZMFeatures", "NGTDMFeatures", "GLDMFeatures"):
        assert getattr(featbus, name) is getattr(tm, name)
        assert getattr(featbus.features, name) is getattr(tm, name)


def test_busi_mask_region(busi_root):
    from PIL import Image

    path = busi_root / "benign" / "benign (1).png"
    img = np.array(Image.open(path).convert("L"))
    mask = np.array(Image.open(path.with_name("benign (1)_mask.png")).convert("L")) > 0
    from featbus.pipelines import make_features

    rows = make_features(["glrlm", "glszm", "gldzm", "ngtdm", "gldm"],
                         region="mask").fit_transform([ImageRecord(img, mask)])
    assert rows.shape == (1, 16 + 16 + 16 + 5 + 17) and np.all(np.isfinite(rows))
