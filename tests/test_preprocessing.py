"""Intensity preprocessing: Resize, CLAHE, SpeckleDenoise, Normalize."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from featbus import ImageError, ImageRecord
from featbus.features.intensity import IntensityStats
from featbus.preprocessing.intensity import (
    CLAHE,
    Normalize,
    Resize,
    SpeckleDenoise,
    clahe,
    normalize,
    resize,
    speckle_denoise,
)


def _image(dtype=np.uint8, shape=(40, 60), seed=0):
    rng = np.random.default_rng(seed)
    x = np.clip(rng.gamma(2.0, 0.15, shape) + np.linspace(0, 0.3, shape[1]), 0, 1)
    if dtype == np.uint8:
        return np.rint(x * 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.rint(x * 4095).astype(np.uint16)  # 12-bit mammogram range
    return x.astype(dtype)


def _record(seed=0):
    img = _image(seed=seed)
    mask = np.zeros(img.shape, bool)
    mask[10:25, 20:45] = True
    return ImageRecord(img, mask, f"img{seed}.png", {"label": seed})


ALL = [Resize(size=(32, 32)), CLAHE(), SpeckleDenoise(), Normalize()]
IDS = ["resize", "clahe", "denoise", "normalize"]


# ----------------------------------------------------------------------- Resize
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, np.int32])
def test_resize_keeps_dtype(dtype):
    img = _image(dtype if dtype != np.int32 else np.uint8).astype(dtype)
    out = resize(img, (20, 30))
    assert out.shape == (20, 30) and out.dtype == dtype


def test_resize_matches_opencv():
    img = _image()
    np.testing.assert_array_equal(resize(img, (20, 30)), cv2.resize(img, (30, 20), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("keep", ["pad", "crop"])
def test_resize_keep_aspect(keep):
    img = np.full((40, 80), 200, np.uint8)  # 1:2 aspect
    out = resize(img, (40, 40), keep_aspect=keep)
    assert out.shape == (40, 40)
    if keep == "pad":  # 20x40 content centred, zero bands above and below
        assert out[:10].max() == 0 and out[-10:].max() == 0 and np.all(out[10:30] == 200)
    else:  # 40x80 content, centre 40 columns kept: no padding
        assert np.all(out == 200)


def test_resize_masks_travel_with_nearest():
    rec = _record()
    out = Resize(size=(20, 30)).fit_transform([rec])[0]
    assert isinstance(out, ImageRecord) and out.mask.dtype == bool and out.mask.shape == (20, 30)
    np.testing.assert_array_equal(out.mask, cv2.resize(rec.mask.astype(np.uint8), (30, 20),
                                                       interpolation=cv2.INTER_NEAREST) > 0)
    assert out.path == rec.path and out.meta == rec.meta
    padded = Resize(size=(60, 60), keep_aspect="pad").fit_transform([rec])[0]
    assert padded.mask.shape == padded.image.shape == (60, 60)
    assert padded.mask.sum() == pytest.approx(rec.mask.sum(), rel=0.1)  # same scale (1x)


def test_resize_bad_params():
    for params in ({"size": (0, 10)}, {"keep_aspect": "stretch"}, {"interpolation": "bicubic"}):
        with pytest.raises(ValueError):
            Resize(**params).fit([_image()])


# ----------------------------------------------------------------------- CLAHE
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_clahe_matches_opencv_and_keeps_dtype(dtype):
    img = _image(dtype)
    out = CLAHE(clip_limit=3.0, tile_grid_size=(4, 4)).fit_transform([img])[0]
    ref = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4)).apply(img)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, ref)


def test_clahe_float_roundtrip_and_range_error():
    img = _image(np.float32)
    out = clahe(img)
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    ref = cv2.createCLAHE(2.0, (8, 8)).apply(np.rint(img * 65535).astype(np.uint16)) / 65535
    np.testing.assert_allclose(out, ref, atol=1e-6)
    with pytest.raises(ImageError, match=r"image 1.*\[0, 1\]"):
        CLAHE().fit_transform([img, img * 3])


def test_clahe_increases_local_contrast():
    img = (_image(np.uint8) // 4 + 100).astype(np.uint8)  # low-contrast image
    assert clahe(img).std() > img.std()


# ----------------------------------------------------------------------- denoising
@pytest.mark.parametrize("method", ["median", "bilateral", "nlmeans"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_denoise_reduces_noise_and_keeps_dtype(method, dtype):
    img = _image(dtype)
    out = SpeckleDenoise(method=method).fit_transform([img])[0]
    assert out.dtype == dtype and out.shape == img.shape
    lap = lambda a: np.abs(np.diff(a.astype(np.float64), axis=1)).mean()  # noqa: E731
    assert lap(out) < lap(img)


def test_denoise_median_matches_opencv_and_scipy_border():
    img = _image()
    np.testing.assert_array_equal(speckle_denoise(img, size=3), cv2.medianBlur(img, 3))
    img16 = _image(np.uint16)
    # size 7 on 16 bits takes the scipy path; same replicate-border convention as OpenCV
    from scipy import ndimage

    np.testing.assert_array_equal(speckle_denoise(img16, size=7),
                                  ndimage.median_filter(img16, size=7, mode="nearest"))


def test_denoise_bad_params():
    for params in ({"method": "wiener"}, {"size": 4}, {"h": 0}):
        with pytest.raises(ValueError):
            SpeckleDenoise(**params).fit([_image()])


# ----------------------------------------------------------------------- Normalize
def test_normalize_methods():
    x = np.arange(100, dtype=np.float64).reshape(10, 10) * 10 - 300  # any range is accepted
    for method in ("minmax", "percentile", "zscore"):
        out = normalize(x, method=method)
        assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(normalize(x), (x - x.min()) / np.ptp(x), rtol=1e-6)
    lo, hi = np.percentile(x, (5, 95))
    np.testing.assert_allclose(normalize(x, method="percentile", percentiles=(5, 95)),
                               np.clip((x - lo) / (hi - lo), 0, 1), rtol=1e-6)
    z = np.clip((x - x.mean()) / x.std(), -2, 2)
    np.testing.assert_allclose(normalize(x, method="zscore", k=2), (z + 2) / 4, rtol=1e-6)
    assert normalize(x, method="zscore").mean() == pytest.approx(0.5, abs=1e-6)


def test_normalize_constant_images():
    c = np.full((9, 9), 7, np.uint16)
    assert np.all(normalize(c) == 0) and np.all(normalize(c, method="zscore") == 0.5)


def test_normalize_makes_out_of_range_floats_usable():
    x = _image(np.float64) * 1000
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        IntensityStats().fit_transform([x])
    pipe = Pipeline([("norm", Normalize()), ("stats", IntensityStats())])
    assert pipe.fit_transform([x, x + 5]).shape == (2, 23)


# ----------------------------------------------------------------------- common behaviour
@pytest.mark.parametrize("est", ALL, ids=IDS)
def test_kinds_kept_and_n_jobs(est):
    arrays = [_image(seed=i) for i in range(4)]
    out = clone(est).fit_transform(arrays)
    assert isinstance(out, list) and all(isinstance(o, np.ndarray) for o in out)
    out2 = clone(est).set_params(n_jobs=2).fit_transform(arrays)
    for a, b in zip(out, out2):
        np.testing.assert_array_equal(a, b)
    recs = clone(est).fit_transform([_record(0), _record(1)])
    assert all(isinstance(r, ImageRecord) and r.mask.shape == r.image.shape for r in recs)
    assert recs[1].meta == {"label": 1}
    stacked = clone(est).fit_transform(np.stack(arrays))  # (n, h, w) array input
    assert len(stacked) == 4


@pytest.mark.parametrize("est", ALL, ids=IDS)
def test_clone_pickle_and_set_output(est):
    arrays = [_image(seed=i) for i in range(2)]
    again = pickle.loads(pickle.dumps(clone(est).fit(arrays)))
    for a, b in zip(again.transform(arrays), clone(est).fit_transform(arrays)):
        np.testing.assert_array_equal(a, b)
    out = clone(est).set_output(transform="pandas").fit_transform(arrays)  # images stay images
    assert isinstance(out, list) and isinstance(out[0], np.ndarray) and out[0].ndim == 2


@pytest.mark.parametrize("est", ALL, ids=IDS)
def test_bad_inputs_name_the_image(est):
    good = _image()
    with pytest.raises(ImageError, match="image 1.*at least"):
        clone(est).fit_transform([good, np.zeros((1, 1), np.uint8)])
    nan = _image(np.float32)
    nan[0, 0] = np.nan
    with pytest.raises(ImageError, match="image 0.*NaN"):
        clone(est).fit_transform([nan])
    rgba = np.dstack([good] * 3 + [np.full_like(good, 255)])
    np.testing.assert_array_equal(clone(est).fit_transform([rgba])[0], clone(est).fit_transform([good])[0])
    assert clone(est).fit_transform([np.zeros((20, 20), np.uint8)])[0].shape  # all-black is fine


def test_busi_chain(busi_root):
    path = next(p for p in sorted((busi_root / "benign").glob("*.png")) if "_mask" not in p.name)
    img = np.array(Image.open(path).convert("L"))
    mask = np.array(Image.open(path.with_name(path.stem + "_mask.png")).convert("L")) > 0
    rec = ImageRecord(img, mask, str(path))
    pipe = Pipeline([("den", SpeckleDenoise()), ("clahe", CLAHE()), ("resize", Resize((128, 128))),
                     ("norm", Normalize(method="percentile"))])
    out = pipe.fit_transform([rec])[0]
    assert out.image.shape == out.mask.shape == (128, 128) and out.image.dtype == np.float32
    assert out.mask.any() and out.path == str(path)


# ----------------------------------------------------------------------- shared image checks
try:
    from featbus.testing import parametrize_with_image_checks
except ImportError:  # pragma: no cover - the common checks module is another engineer's
    parametrize_with_image_checks = None

if parametrize_with_image_checks is not None:

    @parametrize_with_image_checks(ALL)
    def test_common_image_checks(estimator, check):
        check()
