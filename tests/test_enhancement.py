"""Enhancement steps of published pipeline (d): global histogram equalisation and adaptive
thresholding, as functions and registered, named preprocessors."""

from __future__ import annotations

import numpy as np
import pytest

from featbus import AdaptiveThreshold, HistogramEqualizer, ImageRecord
from featbus._registry import PREPROCESSORS
from featbus.pipelines import make_preprocessing
from featbus.preprocessing import adaptive_threshold, equalize_hist


def _image(dtype=np.uint8):
    rng = np.random.default_rng(0)
    img = rng.integers(80, 140, (48, 64)).astype(np.float64) / 255
    img[10:30, 20:40] *= 0.4
    if dtype == np.uint8:
        return np.rint(img * 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.rint(img * 65535).astype(np.uint16)
    return img.astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_equalize_keeps_dtype_and_spreads_the_range(dtype):
    img = _image(dtype)
    out = equalize_hist(img)
    assert out.dtype == img.dtype and out.shape == img.shape
    white = 1.0 if img.dtype.kind == "f" else np.iinfo(img.dtype).max
    assert float(out.max()) == pytest.approx(white) and float(out.min()) < 0.1 * white
    # monotone: brighter in, not darker out
    order = np.argsort(img.ravel(), kind="stable")
    assert np.all(np.diff(out.ravel()[order].astype(float)) >= 0)


def test_equalize_ignore_zeros_keeps_background():
    img = _image()
    img[:, :8] = 0
    out = equalize_hist(img, ignore_zeros=True)
    assert not out[:, :8].any() and out[:, 8:].min() > 0
    assert not equalize_hist(np.zeros((8, 8), np.uint8), ignore_zeros=True).any()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
def test_adaptive_threshold_outputs(dtype):
    img = _image(dtype)
    white = 1.0 if img.dtype.kind == "f" else np.iinfo(img.dtype).max
    binary = adaptive_threshold(img, block_size=15)
    assert binary.dtype == img.dtype and set(np.unique(binary).tolist()) <= {0, white}
    masked = adaptive_threshold(img, block_size=15, output="masked")
    fg = binary > 0
    np.testing.assert_array_equal(masked[fg], img[fg])
    assert not masked[~fg].any()
    dark = adaptive_threshold(img, block_size=15, invert=True) > 0
    assert not (dark & fg).any()


def test_transformers_carry_masks_and_check_params():
    img = _image()
    mask = np.zeros(img.shape, bool)
    mask[10:30, 20:40] = True
    for step in (HistogramEqualizer(), AdaptiveThreshold(block_size=11)):
        out = step.fit_transform([ImageRecord(img, mask)])
        assert isinstance(out[0], ImageRecord) and out[0].image.shape == img.shape
        np.testing.assert_array_equal(out[0].mask, mask)
    with pytest.raises(ValueError, match="odd"):
        AdaptiveThreshold(block_size=10).fit([img])
    with pytest.raises(ValueError, match="output"):
        AdaptiveThreshold(output="gray").fit([img])
    with pytest.raises(ValueError, match="nbins"):
        HistogramEqualizer(nbins=1).fit([img])
    with pytest.raises(ValueError, match="Normalize|\\[0, 1\\]"):
        HistogramEqualizer().fit_transform([np.full((16, 16), 3.0)])


def test_named_steps():
    assert PREPROCESSORS["equalize"][1] == "HistogramEqualizer"
    assert PREPROCESSORS["adaptive-threshold"][1] == "AdaptiveThreshold"
    steps = make_preprocessing("equalize,adaptive-threshold")
    assert [type(s).__name__ for _, s in steps] == ["HistogramEqualizer", "AdaptiveThreshold"]


def test_busi_image(busi_root):
    from featbus.io import read_image

    path = sorted((busi_root / "malignant").glob("*).png"))[0]
    img = read_image(path)
    eq = HistogramEqualizer().fit_transform([img])[0]
    assert eq.dtype == np.uint8 and int(eq.max()) == 255 and eq.std() > img.std()
    binary = AdaptiveThreshold().fit_transform([img])[0]
    assert 0.2 < (binary > 0).mean() < 0.8  # about half above the local mean
