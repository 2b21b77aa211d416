"""HOG computed by featbus's whole-array code against :func:`skimage.feature.hog` on the same arrays.

Tolerance: :data:`featbus.features.hog.HOG_ATOL` (float32 output; only the order of float64 sums
differs from skimage's loop over cells and blocks).
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import hog

from featbus.features.hog import HOG_ATOL, hog_features

SETTINGS = [((8, 8), (2, 2), 9), ((7, 5), (3, 2), 8), ((4, 4), (1, 1), 12), ((16, 16), (2, 2), 6)]


def _images():
    rng = np.random.default_rng(0)
    noise = rng.random((131, 97)).astype(np.float32)
    flat = np.zeros((64, 80), np.float32)
    flat[10:40, 20:50] = 1.0  # axis-aligned edges: angles exactly 0 and 90 degrees, bin edges
    yy, xx = np.mgrid[0:96, 0:96]
    rings = (0.5 + 0.5 * np.sin(np.hypot(yy - 48, xx - 48) / 3.0)).astype(np.float32)
    return {"noise": noise, "flat": flat, "rings": rings, "float64": rng.random((70, 70))}


@pytest.mark.parametrize("block_norm", ["L1", "L1-sqrt", "L2", "L2-Hys"])
@pytest.mark.parametrize("cell, block, orientations", SETTINGS)
def test_same_values_as_skimage(block_norm, cell, block, orientations):
    for name, img in _images().items():
        want = hog(np.asarray(img, np.float32), orientations=orientations, pixels_per_cell=cell,
                   cells_per_block=block, block_norm=block_norm)
        got = hog_features(img, size=None, orientations=orientations, pixels_per_cell=cell,
                           cells_per_block=block, block_norm=block_norm)
        assert got.shape == want.shape and got.dtype == want.dtype == np.float32, name
        np.testing.assert_allclose(got, want, rtol=0, atol=HOG_ATOL, err_msg=name)


def test_unknown_block_norm_is_named():
    with pytest.raises(ValueError, match="block_norm"):
        hog_features(np.zeros((32, 32), np.float32), size=None, block_norm="L3")
