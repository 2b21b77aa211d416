"""Handcrafted feature extractors: sizes, names, equality with scikit-image, regions, errors, sklearn API."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image
from scipy import stats
from skimage.feature import graycomatrix, graycoprops, hog, local_binary_pattern
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from featbus import ImageError, ImageRecord
from featbus.features.glcm import GLCMFeatures, glcm_feature_names, glcm_features, glcm_matrices, quantize
from featbus.features.hog import HOGFeatures, hog_features, hog_length
from featbus.features.intensity import IntensityStats, intensity_feature_names, intensity_features
from featbus.features.lbp import LBPFeatures, lbp_feature_names, lbp_features, lbp_n_bins
from featbus.features.shape import SHAPE_FEATURES, ShapeFeatures, shape_feature_names, shape_features

ANGLES = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]
GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "ASM", "energy", "correlation", "mean",
              "variance", "entropy")


def _blob_image(seed: int, shape=(48, 56), dtype=np.uint8):
    """Speckled background with a darker oval lesion and its mask."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    cy, cx = h / 2 + rng.integers(-4, 5), w / 2 + rng.integers(-4, 5)
    ry, rx = rng.integers(6, h // 3), rng.integers(6, w // 3)
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    img = rng.gamma(2.0, 0.2, shape) * np.where(mask, 0.4, 1.0)
    img = np.clip(img / 1.5, 0, 1)
    if dtype == np.uint8:
        img = np.rint(img * 255).astype(np.uint8)
    elif dtype == np.uint16:
        img = np.rint(img * 65535).astype(np.uint16)
    return img, mask


@pytest.fixture(scope="module")
def records():
    out = []
    for i in range(8):
        img, mask = _blob_image(i)
        out.append(ImageRecord(img, mask, meta={"label": i % 2}))
    return out


@pytest.fixture(scope="module")
def busi_records(busi_root):
    """Three BUSI images with the union of their masks (benign, malignant, normal)."""
    out = []
    for cls in ("benign", "malignant", "normal"):
        path = sorted((busi_root / cls).glob(f"{cls} (1*).png"))
        path = next(p for p in path if "_mask" not in p.name)
        img = np.array(Image.open(path).convert("L"))
        mask = np.zeros(img.shape, bool)
        for mp in busi_root.glob(f"{cls}/{path.stem}_mask*.png"):
            mask |= np.array(Image.open(mp).convert("L")) > 0
        out.append(ImageRecord(img, mask, str(path)))
    return out


ALL = [HOGFeatures(size=(32, 32)), LBPFeatures(), GLCMFeatures(), IntensityStats(), ShapeFeatures()]
IDS = ["hog", "lbp", "glcm", "intensity", "shape"]


# ----------------------------------------------------------------------- equality with skimage
def test_hog_matches_skimage():
    img = _blob_image(0, (64, 48))[0] / 255.0
    ours = hog_features(img, size=None, orientations=8, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
    ref = hog(img.astype(np.float32), orientations=8, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
              block_norm="L2-Hys", feature_vector=True)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)
    assert ours.shape == (hog_length((64, 48), 8),) == ((7 * 5 * 4 * 8),)


def test_hog_transformer_resizes_then_matches_skimage(records):
    import cv2

    Z = HOGFeatures(size=(40, 32)).fit_transform(records[:2])
    img = records[1].image.astype(np.float32) / 255
    ref = hog(cv2.resize(img, (32, 40), interpolation=cv2.INTER_AREA), orientations=9,
              pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")
    np.testing.assert_allclose(Z[1], ref, rtol=1e-6, atol=1e-7)
    assert Z.shape[1] == hog_length((40, 32)) == 4 * 3 * 4 * 9


def test_hog_default_length_and_names(records):
    est = HOGFeatures().fit(records[:2])
    assert est.n_features_out_ == 8100 == len(est.get_feature_names_out())
    assert est.get_feature_names_out()[123] == "hog.123"


def test_hog_size_none_requires_common_size(records):
    same = [np.zeros((32, 32)), np.ones((32, 32)) * 0.5]
    assert HOGFeatures(size=None).fit_transform(same).shape == (2, hog_length((32, 32)))
    with pytest.raises(ValueError, match="image 1 is 40x32"):
        HOGFeatures(size=None).fit([np.zeros((32, 32)), np.zeros((40, 32))])
    est = HOGFeatures(size=None).fit(same)
    with pytest.raises(ImageError, match="image 0.*fitted on 32x32"):
        est.transform([np.zeros((40, 32))])
    with pytest.raises(ValueError, match="region='image'"):
        HOGFeatures(size=None, region="bbox").fit(same)


@pytest.mark.parametrize("method", ["uniform", "nri_uniform", "ror"])
def test_lbp_matches_skimage(method):
    img = _blob_image(3, dtype=np.uint16)[0]
    ours = lbp_features(img / 65535.0, radii=(1, 2), method=method)
    parts = []
    for R in (1, 2):
        P = 8 if method == "ror" else 8 * R
        codes = local_binary_pattern(img, P, R, method=method).astype(int).ravel()
        if method == "ror":  # map rotation-class codes to consecutive bins
            classes = np.unique([min(((c >> k) | (c << (P - k))) & (2 ** P - 1) for k in range(P))
                                 for c in range(2 ** P)])
            codes = np.searchsorted(classes, codes)
        hist = np.bincount(codes, minlength=lbp_n_bins(P, method))
        parts.append(hist / hist.sum())
    np.testing.assert_allclose(ours, np.concatenate(parts))


def test_lbp_bins_and_names():
    assert [lbp_n_bins(p) for p in (8, 16, 24)] == [10, 18, 26]  # P + 2
    assert lbp_n_bins(8, "nri_uniform") == 59 and lbp_n_bins(8, "ror") == 36
    names = lbp_feature_names()
    assert len(names) == 54 and "lbp.r1.p8.u3" in names and names[-1] == "lbp.r3.p24.u25"
    assert len(lbp_feature_names(radii=(1, 2), points=8, method="nri_uniform")) == 2 * 59
    with pytest.raises(ValueError, match="points <= 16"):
        lbp_feature_names(radii=(1,), points=24, method="ror")


def test_lbp_mask_counts_only_masked_pixels(records):
    rec = records[0]
    ours = LBPFeatures(radii=(1,), region="mask").fit_transform([rec])[0]
    codes = local_binary_pattern(rec.image, 8, 1, method="uniform")[rec.mask]
    ref = np.bincount(codes.astype(int), minlength=10) / rec.mask.sum()
    np.testing.assert_allclose(ours, ref)
    full = LBPFeatures(radii=(1,)).fit_transform([rec])[0]
    assert not np.allclose(ours, full)
    # masks touching the border and far from it: same codes as coding the whole image
    img = rec.image
    for sl in [(slice(0, 6), slice(0, 9)), (slice(20, 30), slice(40, 56)), (slice(10, 30), slice(10, 40))]:
        m = np.zeros(img.shape, bool)
        m[sl] = True
        parts = []
        for R in (1, 2, 3):
            c = local_binary_pattern(img, 8 * R, R, method="uniform")[m].astype(int)
            parts.append(np.bincount(c, minlength=8 * R + 2) / m.sum())
        np.testing.assert_allclose(lbp_features(img / 255.0, m), np.concatenate(parts))


def _plateau_image():
    """uint8 image of 3x3 flat blocks: many interpolated neighbours equal their centre, the
    ties that scikit-image breaks by float rounding (which depends on scale and position)."""
    rng = np.random.default_rng(0)
    blocks = (rng.integers(0, 4, (20, 24)) * 60).astype(np.uint8)
    return np.kron(blocks, np.ones((3, 3), np.uint8))[:60, :70]


def _skimage_lbp_hist(img, mask=None, radii=(1, 2, 3)):
    parts = []
    for R in radii:
        codes = local_binary_pattern(img, 8 * R, R, method="uniform")
        codes = (codes if mask is None else codes[mask]).astype(int).ravel()
        parts.append(np.bincount(codes, minlength=8 * R + 2) / codes.size)
    return np.concatenate(parts)


def test_lbp_uint8_codes_equal_skimage_through_function_and_transformer():
    img = _plateau_image()
    ref = _skimage_lbp_hist(img)
    # the ties are real: the same picture at 16 bits gives other skimage codes
    assert not np.allclose(_skimage_lbp_hist(img.astype(np.uint16) * 257), ref)
    np.testing.assert_array_equal(lbp_features(img), ref)
    np.testing.assert_array_equal(LBPFeatures().fit_transform([img])[0], ref)
    # 8-bit data as [0, 1] floats or stored at 16 bits: coded as the same uint8 image
    np.testing.assert_array_equal(lbp_features(img / 255.0), ref)
    np.testing.assert_array_equal(lbp_features(img.astype(np.uint16) * 257), ref)
    np.testing.assert_array_equal(LBPFeatures().fit_transform([img.astype(np.uint16) * 257])[0], ref)


def test_lbp_mask_window_gives_the_full_image_codes():
    img = _plateau_image()
    m = np.zeros(img.shape, bool)
    m[10:50, 13:60] = True  # away from the top-left corner: a cropped window would shift coordinates
    ref = _skimage_lbp_hist(img, m)
    np.testing.assert_array_equal(lbp_features(img, m), ref)
    np.testing.assert_array_equal(LBPFeatures(region="mask").fit_transform([ImageRecord(img, m)])[0], ref)


def _in_skimage(props) -> tuple:
    """The properties the installed scikit-image's graycoprops computes (mean, variance, std and
    entropy came in 0.24; featbus supports 0.22)."""
    P = graycomatrix(np.array([[0, 1], [1, 0]], np.uint8), [1], [0], levels=2, symmetric=True)
    known = []
    for prop in props:
        try:
            graycoprops(P, prop)
            known.append(prop)
        except ValueError:
            pass
    return tuple(known)


def test_glcm_matches_skimage_at_distance_1():
    img = _blob_image(5)[0] / 255.0
    props = _in_skimage(GLCM_PROPS + ("std",))
    ours = glcm_features(img, levels=16, distances=(1,), props=props)
    P = graycomatrix(quantize(img, 16), [1], ANGLES, levels=16, symmetric=True)
    counts, grey = glcm_matrices(img, levels=16, distances=(1,))
    np.testing.assert_array_equal(counts, P[np.ix_(grey - 1, grey - 1)])  # levels present
    assert P[np.setdiff1d(np.arange(16), grey - 1)].sum() == 0
    ref = []
    for prop in props:
        v = graycoprops(P, prop)[0]
        if prop == "mean":  # featbus counts grey levels from 1 (IBSI), skimage from 0
            v = v + 1
        if prop == "entropy":  # featbus: bits (IBSI), skimage: natural log
            v = v / np.log(2)
        ref += [v.mean(), v.max() - v.min()]
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    assert np.array_equal(quantize(img, 16), np.minimum((img * 16).astype(int), 15))


def _hand_glcm(q, offset, levels):
    """Symmetric co-occurrence counts of the pairs (r, c), (r + dr, c + dc), by loops."""
    dr, dc = offset
    P = np.zeros((levels, levels), int)
    h, w = q.shape
    for r in range(h):
        for c in range(w):
            if 0 <= r + dr < h and 0 <= c + dc < w:
                P[q[r, c], q[r + dr, c + dc]] += 1
                P[q[r + dr, c + dc], q[r, c]] += 1
    return P


def test_glcm_diagonals_at_distance_2_use_offset_d_d():
    img = _blob_image(6, (24, 28))[0] / 255.0
    q = quantize(img, 8)
    props = _in_skimage(("contrast", "dissimilarity", "homogeneity", "ASM", "correlation", "variance"))
    hand = np.stack([_hand_glcm(q, (2 * sr, 2 * sc), 8) for sr, sc in [(0, 1), (1, 1), (1, 0), (1, -1)]],
                    axis=-1)[:, :, None, :]
    counts, grey = glcm_matrices(img, levels=8, distances=(2,))
    np.testing.assert_array_equal(counts, hand[np.ix_(grey - 1, grey - 1)])
    ref = []
    for prop in props:  # definitions that do not depend on where grey levels start
        v = graycoprops(hand, prop)[0]
        ref += [v.mean(), v.max() - v.min()]
    np.testing.assert_allclose(glcm_features(img, levels=8, distances=(2,), props=props), ref, rtol=1e-10)
    # skimage's graycomatrix rounds 2 sin(45 deg): its d=2 diagonal is the d=1 one; ours is not
    sk = graycomatrix(q, [1, 2], ANGLES, levels=8, symmetric=True)
    assert np.array_equal(sk[:, :, 0, 1], sk[:, :, 1, 1])
    d1, _ = glcm_matrices(img, levels=8, distances=(1,))
    assert not np.array_equal(d1[:, :, 0, 1], counts[:, :, 0, 1])


def test_glcm_levels_none_and_256_take_grey_levels_as_they_are():
    img8 = _blob_image(7, (24, 28))[0]
    np.testing.assert_array_equal(quantize(img8 / 255.0, 256), img8)  # 256 bins of [0, 1]: k / 255 -> k
    # levels=None: grey level = value k; levels=256: bin k, numbered k + 1. Only the mean moves.
    names = glcm_feature_names()
    as_is = glcm_features(img8, levels=None)
    shift = np.array([1.0 if n.startswith("glcm.d") and n.endswith(".mean.mean") else 0.0 for n in names])
    np.testing.assert_allclose(glcm_features(img8, levels=256), as_is + shift, rtol=1e-12, atol=1e-12)
    # an integer image with levels=int is scaled like the transformers scale it
    np.testing.assert_allclose(glcm_features(img8), GLCMFeatures().fit_transform([img8])[0], rtol=1e-12)
    with pytest.raises(ValueError, match="integer image"):
        glcm_features(img8 / 255.0, levels=None)
    with pytest.raises(ValueError, match="'levels' parameter of GLCMFeatures must be an int in the range"):
        GLCMFeatures(levels=None).fit([img8])


def test_glcm_mask_counts_inside_pairs_only():
    rng = np.random.default_rng(0)
    img = rng.random((30, 30))
    mask = np.zeros((30, 30), bool)
    mask[5:20, 8:25] = True
    # The masked GLCM of a rectangle equals the plain GLCM of the cropped rectangle.
    np.testing.assert_allclose(glcm_features(img, mask), glcm_features(img[5:20, 8:25]), rtol=1e-10)
    # Outside pixels do not matter at all.
    img2 = np.where(mask, img, 1.0 - img)
    np.testing.assert_allclose(glcm_features(img2, mask), glcm_features(img, mask))
    tiny = np.zeros((30, 30), bool)
    tiny[3:6, 3:6] = True  # 3x3 pixels: no pair 4 pixels apart
    with pytest.raises(ValueError, match="distance 4 and angle 0"):
        glcm_features(img, tiny)


def test_glcm_names():
    names = glcm_feature_names()
    assert len(names) == 54 and names[0] == "glcm.d1.contrast.mean" and names[1] == "glcm.d1.contrast.range"
    assert GLCMFeatures(distances=(1,), props=("energy",)).fit([np.zeros((9, 9))]).n_features_out_ == 2
    with pytest.raises(ValueError, match="unknown GLCM props"):
        GLCMFeatures(props=("contrst",)).fit([np.zeros((9, 9))])


def test_intensity_matches_numpy_scipy():
    img = _blob_image(2)[0]
    x = (img / 255.0).ravel()
    f = dict(zip(intensity_feature_names(), intensity_features(img / 255.0)))
    p10, p25, med, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90])
    assert f["intensity.mean"] == pytest.approx(x.mean())
    assert f["intensity.std"] == pytest.approx(x.std())
    assert f["intensity.p90"] == pytest.approx(p90)
    assert f["intensity.iqr"] == pytest.approx(p75 - p25)
    assert f["intensity.qcod"] == pytest.approx((p75 - p25) / (p75 + p25))
    assert f["intensity.mean_abs_dev"] == pytest.approx(np.mean(np.abs(x - x.mean())))
    inner = x[(x >= p10) & (x <= p90)]
    assert f["intensity.robust_mean_abs_dev"] == pytest.approx(np.mean(np.abs(inner - inner.mean())))
    assert f["intensity.median_abs_dev"] == pytest.approx(np.mean(np.abs(x - med)))  # IBSI N72L
    assert f["intensity.median_of_abs_dev"] == pytest.approx(stats.median_abs_deviation(x))
    assert f["intensity.cov"] == pytest.approx(x.std() / x.mean())
    assert f["intensity.skewness"] == pytest.approx(stats.skew(x))
    assert f["intensity.kurtosis"] == pytest.approx(stats.kurtosis(x))
    hist = np.histogram(x, bins=64, range=(0, 1))[0] / x.size
    assert f["intensity.entropy"] == pytest.approx(stats.entropy(hist, base=2))
    assert f["intensity.uniformity"] == pytest.approx((hist ** 2).sum())
    assert f["intensity.mean_square"] == pytest.approx(np.mean(x * x))
    assert f["intensity.rms"] == pytest.approx(np.sqrt(np.mean(x * x)))
    assert len(intensity_feature_names()) == 23 and "intensity.mad" not in intensity_feature_names()


def test_intensity_integer_images_are_scaled_like_the_transformer():
    img = _blob_image(4)[0]
    np.testing.assert_allclose(intensity_features(img), intensity_features(img / 255.0), rtol=1e-12)
    np.testing.assert_allclose(IntensityStats().fit_transform([img])[0], intensity_features(img),
                               rtol=1e-5, atol=1e-7)  # the transformer sees float32


def test_intensity_histogram_edges_and_range():
    x = np.array([[1.0, 1.0, 3.0, 4.0], [4.0, 6.0, 1.0, 1.0]])  # raw grey levels
    f = dict(zip(intensity_feature_names(), intensity_features(x, bins=np.arange(0.5, 7))))
    p = np.array([4, 1, 2, 1]) / 8
    assert f["intensity.entropy"] == pytest.approx(-(p * np.log2(p)).sum())
    assert f["intensity.uniformity"] == pytest.approx((p * p).sum())
    with pytest.raises(ValueError, match=r"outside the histogram range \[0, 1\]"):
        intensity_features(x)
    with pytest.raises(ValueError, match="bin edges"):
        intensity_features(x, bins=[3.0, 1.0])
    Z = IntensityStats(bins=np.linspace(0, 1, 9)).fit_transform([_blob_image(1)[0]])
    assert Z[0, intensity_feature_names().index("intensity.entropy")] == pytest.approx(
        intensity_features(_blob_image(1)[0], bins=8)[intensity_feature_names().index("intensity.entropy")])


def test_intensity_constant_images_are_documented_values():
    for value in (0.0, 0.7):
        f = dict(zip(intensity_feature_names(), intensity_features(np.full((16, 16), value))))
        assert f["intensity.skewness"] == f["intensity.kurtosis"] == f["intensity.entropy"] == 0
        assert f["intensity.uniformity"] == 1 and f["intensity.mean"] == pytest.approx(value)


def test_intensity_mask_region(records):
    rec = records[1]
    Z = IntensityStats(region="mask").fit_transform([rec])
    assert Z[0, 0] == pytest.approx((rec.image[rec.mask] / 255.0).mean())


# ----------------------------------------------------------------------- shape
def _disc(shape=(80, 80), center=(40, 40), r=15):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= r ** 2


def test_shape_disc_and_ellipses():
    f = dict(zip(SHAPE_FEATURES, shape_features(_disc())))
    assert f["has_lesion"] == 1 and f["n_components"] == 1
    assert f["area"] == _disc().sum() and f["area_fraction"] == pytest.approx(_disc().mean())
    assert f["circularity"] > 0.85 and f["solidity"] > 0.95 and f["eccentricity"] < 0.1
    assert f["taller_than_wide"] == pytest.approx(1.0) and f["n_concavities"] == 0
    yy, xx = np.mgrid[:80, :80]
    tall = ((yy - 40) / 30) ** 2 + ((xx - 40) / 10) ** 2 <= 1
    wide = tall.T
    ft, fw = (dict(zip(SHAPE_FEATURES, shape_features(m))) for m in (tall, wide))
    assert ft["taller_than_wide"] > 2 and fw["taller_than_wide"] < 0.5
    assert ft["major_axis"] == pytest.approx(fw["major_axis"]) and ft["eccentricity"] > 0.9


def test_shape_irregular_margin_is_rougher():
    yy, xx = np.mgrid[:120, :120]
    ang = np.arctan2(yy - 60, xx - 60)
    rad = np.hypot(yy - 60, xx - 60)
    spiky = rad <= 30 + 10 * (np.cos(8 * ang) > 0.6)  # spiculated outline
    fs = dict(zip(SHAPE_FEATURES, shape_features(spiky)))
    fd = dict(zip(SHAPE_FEATURES, shape_features(_disc((120, 120), (60, 60), 32))))
    assert fs["roughness"] > 2 * fd["roughness"] and fs["nrl_std"] > fd["nrl_std"]
    assert fs["solidity"] < fd["solidity"] and fs["n_concavities"] >= 6


def test_shape_several_lesions_is_union():
    m = _disc((80, 80), (20, 20), 8) | _disc((80, 80), (60, 55), 10)
    f = dict(zip(SHAPE_FEATURES, shape_features(m)))
    assert f["n_components"] == 2 and f["area"] == m.sum()


def test_shape_empty_mask_and_missing_mask():
    z = shape_features(np.zeros((20, 20), bool))
    assert z.shape == (len(shape_feature_names()),) == (18,) and np.all(z == 0)  # has_lesion = 0 flags it
    with pytest.raises(ValueError, match="empty lesion mask"):
        shape_features(np.zeros((20, 20), bool), empty="raise")
    X = [ImageRecord(np.zeros((20, 20), np.uint8), np.zeros((20, 20), bool), "normal.png")]
    with pytest.raises(ImageError, match=r"image 0 \('normal.png'\).*empty"):
        ShapeFeatures(empty="raise").fit_transform(X)
    with pytest.raises(ImageError, match="image 1.*ShapeFeatures needs a lesion mask"):
        ShapeFeatures().fit_transform([X[0], np.zeros((20, 20), np.uint8)])


def test_shape_tiny_masks_are_finite():
    for m in (np.pad(np.ones((1, 1), bool), 5), np.pad(np.ones((1, 6), bool), 5), np.pad(np.ones((2, 2), bool), 5)):
        v = shape_features(m)
        assert np.all(np.isfinite(v)) and v[0] == 1


# ----------------------------------------------------------------------- common behaviour
@pytest.mark.parametrize("est", ALL, ids=IDS)
def test_names_match_columns_and_pandas(est, records):
    est = clone(est)
    Z = est.fit_transform(records[:3])
    names = est.get_feature_names_out()
    assert Z.shape == (3, len(names)) and Z.dtype == np.float64 and np.all(np.isfinite(Z))
    assert len(set(names)) == len(names) and all(n.startswith(est._prefix + ".") for n in names)
    df = clone(est).set_output(transform="pandas").fit_transform(records[:3])
    assert list(df.columns) == list(names)
    np.testing.assert_allclose(df.to_numpy(), Z)


@pytest.mark.parametrize("est", ALL, ids=IDS)
def test_n_jobs_two_equals_one(est, records):
    Z1 = clone(est).set_params(n_jobs=1).fit_transform(records)
    Z2 = clone(est).set_params(n_jobs=2).fit_transform(records)
    np.testing.assert_array_equal(Z1, Z2)


@pytest.mark.parametrize("est", ALL, ids=IDS)
def test_clone_pickle_deterministic(est, records):
    fitted = clone(est).fit(records[:2])
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(fitted.transform(records[2:4]), again.transform(records[2:4]))
    np.testing.assert_array_equal(fitted.transform(records[2:4]), fitted.transform(records[2:4]))
    assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize("est", ALL[:4], ids=IDS[:4])
def test_regions(est, records):
    rec = records[0]
    whole = clone(est).fit_transform([rec])
    inside = clone(est).set_params(region="mask").fit_transform([rec])
    box = clone(est).set_params(region="bbox").fit_transform([rec])
    assert not np.allclose(whole, inside) and not np.allclose(whole, box)
    r, c = np.nonzero(rec.mask)
    crop = rec.image[r.min(): r.max() + 1, c.min(): c.max() + 1]
    np.testing.assert_allclose(box, clone(est).fit_transform([crop]))
    # empty mask: documented fallback to the whole image, or an error naming the image
    empty = ImageRecord(rec.image, np.zeros_like(rec.mask), "n.png")
    np.testing.assert_allclose(clone(est).set_params(region="mask").fit_transform([empty]), whole)
    with pytest.raises(ImageError, match=r"image 0 \('n.png'\).*empty"):
        clone(est).set_params(region="mask", empty_mask="raise").fit_transform([empty])
    with pytest.raises(ImageError, match="image 1.*needs a lesion mask"):
        clone(est).set_params(region="mask").fit_transform([rec, rec.image])


@pytest.mark.parametrize("est", ALL[:4], ids=IDS[:4])
def test_bad_inputs_name_the_image(est, records):
    est = clone(est)
    good = records[0].image
    with pytest.raises(ImageError, match="image 1.*at least"):
        est.fit_transform([good, np.zeros((1, 1), np.uint8)])
    nan = good / 255.0
    nan[3, 3] = np.nan
    with pytest.raises(ImageError, match="image 1.*NaN"):
        est.fit_transform([good, nan])
    with pytest.raises(ImageError, match=r"image 0.*\[0, 1\]"):
        est.fit_transform([good * 2.0])
    with pytest.raises(ImageError, match="image 0.*mask has shape"):
        est.fit_transform([ImageRecord(good, np.ones((5, 5), bool))])
    with pytest.raises(ValueError, match="region"):
        clone(est).set_params(region="lesion").fit([good])


@pytest.mark.parametrize("est", ALL[:4], ids=IDS[:4])
def test_black_16bit_and_rgba_inputs(est, records):
    est = clone(est)
    black = np.zeros((40, 40), np.uint8)
    assert np.all(np.isfinite(est.fit_transform([black])))
    img8 = records[2].image
    img16 = img8.astype(np.uint16) * 257  # same picture at 16 bits: same features
    np.testing.assert_allclose(est.fit_transform([img16]), est.fit_transform([img8]), rtol=1e-5, atol=1e-6)
    rgba = np.dstack([img8] * 3 + [np.full_like(img8, 255)])  # opaque gray RGBA
    np.testing.assert_allclose(est.fit_transform([rgba]), est.fit_transform([img8]))


def test_feature_union_in_grid_search_pipeline(records):
    try:
        from featbus.datasets import make_phantoms

        bunch = make_phantoms(16, image_size=48, weights=(0.5, 0.5, 0.0), random_state=0)
        X, y = list(bunch.data), np.asarray(bunch.target)
    except Exception:  # the phantom generator is another module; fall back to our own images
        X = [ImageRecord(*_blob_image(i)) for i in range(16)]
        y = np.array([i % 2 for i in range(16)])
    union = FeatureUnion([
        ("hog", HOGFeatures(size=(32, 32))), ("lbp", LBPFeatures(radii=(1, 2))),
        ("glcm", GLCMFeatures(distances=(1,))), ("int", IntensityStats(region="mask")),
        ("shape", ShapeFeatures()),
    ])
    pipe = Pipeline([("features", union), ("scale", StandardScaler()), ("svc", SVC())])
    grid = GridSearchCV(pipe, {"svc__C": [0.1, 1.0], "features__lbp__method": ["uniform", "ror"]},
                        cv=StratifiedKFold(2, shuffle=True, random_state=0))
    grid.fit(X, y)
    assert grid.predict(X[:3]).shape == (3,)
    names = grid.best_estimator_[:-2].get_feature_names_out()
    assert any(n.endswith("shape.taller_than_wide") for n in names)


# ----------------------------------------------------------------------- real data
def test_busi_images(busi_records):
    n_lbp = sum(lbp_n_bins(8 * r) for r in (1, 2, 3))
    for est, width in [(HOGFeatures(), 8100), (LBPFeatures(region="mask"), n_lbp),
                       (GLCMFeatures(region="bbox"), 54), (IntensityStats(region="mask"), 23),
                       (ShapeFeatures(), 18)]:
        Z = est.fit_transform(busi_records)
        assert Z.shape == (3, width) and np.all(np.isfinite(Z))
    shape = ShapeFeatures().set_output(transform="pandas").fit_transform(busi_records)
    assert shape["shape.has_lesion"].tolist() == [1.0, 1.0, 0.0]  # the normal image has no lesion
    assert (shape["shape.area"].iloc[:2] > 50).all()
    # the same numbers as scikit-image on the resized image
    import cv2

    img = busi_records[0].image.astype(np.float32) / 255
    ref = hog(cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA), 9, (8, 8), (2, 2), "L2-Hys")
    np.testing.assert_allclose(HOGFeatures().fit_transform(busi_records[:1])[0], ref, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------- shared image checks
try:
    from featbus.testing import parametrize_with_image_checks
except ImportError:  # pragma: no cover - the common checks module is another engineer's
    parametrize_with_image_checks = None

if parametrize_with_image_checks is not None:

    @parametrize_with_image_checks([HOGFeatures(size=(32, 32)), LBPFeatures(radii=(1, 2)),
                                    GLCMFeatures(distances=(1, 2)), IntensityStats(region="mask"),
                                    ShapeFeatures()])
    def test_common_image_checks(estimator, check):
        check()


def test_hog_mask_region_is_bounding_box(records):
    rec = records[4]
    box = HOGFeatures(size=(32, 32), region="bbox").fit_transform([rec])
    np.testing.assert_array_equal(HOGFeatures(size=(32, 32), region="mask").fit_transform([rec]), box)
