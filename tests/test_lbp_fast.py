"""featbus's NumPy LBP (``lbp_codes``) gives exactly scikit-image's codes.

Codes are integers, so the comparison is exact equality, on real BUSI images and on synthetic
ones (phantoms, random integer and float images, flat and tiny images), for every method and
several (P, R). Float images with values on a coarse grid (``k / 255``) are the hard case:
interpolated neighbours there often equal the centre up to rounding, and only the same
arithmetic in the same order gives the same bits.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.feature import local_binary_pattern

from featbus import make_phantoms
from featbus.features.lbp import LBPFeatures, lbp_codes, lbp_features, lbp_n_bins

METHODS = ("uniform", "nri_uniform", "ror")
# the defaults (8 R points at radius R; 8 for ror) and others: fewer or more points than 8 R
SETTINGS = [(8, 1), (16, 2), (24, 3), (4, 1), (8, 2), (12, 3), (16, 5), (6, 4)]


def _settings(method):
    return [(P, R) for P, R in SETTINGS if method != "ror" or P <= 16]


def _assert_same(image, P, R, method):
    ours = lbp_codes(image, P, R, method)
    ref = local_binary_pattern(image, P, R, method=method)
    assert ours.shape == ref.shape
    differ = int(np.count_nonzero(ours != ref))
    assert differ == 0, f"{method} P={P} R={R} shape {image.shape} dtype {image.dtype}: {differ} codes differ"


def _synthetic():
    rng = np.random.default_rng(0)
    phantoms = [r.image for r in make_phantoms(3, image_size=(72, 88), random_state=1).data]
    return {
        "phantom": phantoms,
        "uint8": [rng.integers(0, 256, (45, 61)).astype(np.uint8)],
        "few_levels": [rng.integers(0, 3, (40, 40)).astype(np.uint8)],  # many ties with the centre
        "uint16": [rng.integers(0, 65536, (33, 29)).astype(np.uint16)],
        "float": [rng.random((31, 37))],
        "float_k_over_255": [rng.integers(0, 256, (31, 37)) / 255.0],  # ties decided by rounding
        "constant": [np.full((12, 15), 7, np.uint8), np.zeros((9, 9), np.uint8), np.full((10, 10), 0.6)],
        "tiny": [np.array([[5]], np.uint8), rng.integers(0, 256, (1, 9)).astype(np.uint8),
                 rng.integers(0, 256, (7, 1)).astype(np.uint8), rng.integers(0, 256, (2, 3)).astype(np.uint8)],
        "signed": [rng.integers(-300, 300, (20, 24)).astype(np.int16)],
    }


@pytest.mark.filterwarnings("ignore:Applying `local_binary_pattern` to floating-point images")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", list(_synthetic()))
def test_codes_equal_skimage_on_synthetic_images(kind, method):
    for image in _synthetic()[kind]:
        for P, R in _settings(method):
            _assert_same(image, P, R, method)


def test_codes_equal_skimage_across_blocks_of_rows(monkeypatch):
    """Images taller than a block (rows are coded in blocks; the row weights change inside
    some blocks, near powers of two): still the same codes."""
    from featbus.features import lbp

    monkeypatch.setattr(lbp, "_BLOCK_PIXELS", 64)  # 8 rows per block
    image = np.random.default_rng(3).integers(0, 4, (140, 20)).astype(np.uint8)
    for method in METHODS:
        for P, R in _settings(method):
            _assert_same(image, P, R, method)


def test_codes_equal_skimage_for_a_radius_beyond_the_block():
    """A radius larger than a block of rows (each point's rows taken on their own)."""
    image = np.random.default_rng(4).integers(0, 5, (30, 140)).astype(np.uint8)
    _assert_same(image, 16, 40, "uniform")
    _assert_same(image, 8, 25, "nri_uniform")


def _busi_images(root, per_class):
    out = []
    for cls in ("benign", "malignant", "normal"):
        files = sorted(p for p in (root / cls).glob("*.png") if "_mask" not in p.name)
        for f in files[::max(1, len(files) // per_class)][:per_class]:
            out.append(np.asarray(Image.open(f).convert("L")))
    return out


@pytest.mark.parametrize("method", METHODS)
def test_codes_equal_skimage_on_busi(busi_root, method):
    """Real ultrasound images (black borders, speckle, text): 4 per class, every setting."""
    for image in _busi_images(busi_root, 4):
        for P, R in _settings(method)[:4]:
            _assert_same(image, P, R, method)


def test_default_histograms_equal_skimage_on_busi(busi_root):
    """The default LBPFeatures row of a BUSI image is scikit-image's codes' histograms, exactly."""
    images = _busi_images(busi_root, 2)
    rows = LBPFeatures(progress=False).fit_transform(images)
    for image, row in zip(images, rows):
        ref = []
        for R in (1, 2, 3):
            codes = local_binary_pattern(image, 8 * R, R, method="uniform").astype(np.int64).ravel()
            hist = np.bincount(codes, minlength=lbp_n_bins(8 * R)).astype(np.float64)
            ref.append(hist / hist.sum())
        np.testing.assert_array_equal(row, np.concatenate(ref))
        np.testing.assert_array_equal(lbp_features(image), row)


def test_lbp_codes_rejects_what_it_does_not_code():
    image = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="method must be one of"):
        lbp_codes(image, 8, 1, "var")
    with pytest.raises(ValueError, match="ror.*at most 16"):
        lbp_codes(image, 24, 3, "ror")
    with pytest.raises(ValueError, match="2-D gray image"):
        lbp_codes(np.zeros((4, 4, 3)), 8, 1)
