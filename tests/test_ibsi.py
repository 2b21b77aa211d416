"""featbus against the IBSI-1 consensus values of the digital phantom.

The phantom (5 x 4 x 4 voxels, integer grey levels 1..6 inside its region of interest, one
excluded voxel of value 9) and the consensus values come from ``../shared/reference/
ibsi_phantom.json`` (IBSI, Zwanenburg et al., Radiology 295(2):328-338, 2020,
doi:10.1148/radiol.2020191145); the tests skip when the file is absent.

IBSI configuration for the phantom: no resampling and no discretisation (the phantom's values
are the grey levels), intensity and morphological masks identical.

* First-order statistics are "3-D, all ROI voxels": a set of values, so featbus computes them on
  the 74 ROI voxels (the slices stacked into one 2-D array: geometry plays no part). The
  intensity histogram features use one bin per grey level (``bins`` = edges at half-integers).
* GLCM features are IBSI's "2D, averaged" (BTW3 ... aggregation of the manual, Chebyshev
  distance 1, symmetric matrices): one matrix per slice and per direction (4 x 4 = 16), the
  features of each matrix averaged. featbus's ``glcm.d1.<prop>.mean`` is the average over the
  four directions of one slice (``levels=None``: no discretisation); the mean over the four
  slices of those is the mean over all 16 matrices, since every slice has all four directions.

Tolerance: IBSI publishes three significant figures, so a featbus value matches when it lies
within half a unit of the third significant digit of the consensus value (a relative
difference of at most 5e-3; for -0.0121, 5e-5 absolute).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from featbus.features.glcm import glcm_feature_names, glcm_features
from featbus.features.intensity import intensity_feature_names, intensity_features

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("FEATBUS_REFERENCE", REPO.parent / "shared" / "reference"))
PHANTOM = REFERENCE / "ibsi_phantom.json"

#: IBSI first-order feature -> (featbus column, how the featbus value maps to IBSI's).
#: ``n`` is the number of ROI voxels (74).
INTENSITY_MAP = {
    "mean": ("intensity.mean", lambda v, n: v),
    "variance": ("intensity.std", lambda v, n: v ** 2),  # featbus keeps the std (ddof=0)
    "skewness": ("intensity.skewness", lambda v, n: v),
    "excess_kurtosis": ("intensity.kurtosis", lambda v, n: v),  # featbus kurtosis is excess
    "median": ("intensity.p50", lambda v, n: v),
    "min": ("intensity.min", lambda v, n: v),
    "p10": ("intensity.p10", lambda v, n: v),
    "p90": ("intensity.p90", lambda v, n: v),
    "max": ("intensity.max", lambda v, n: v),
    "iqr": ("intensity.iqr", lambda v, n: v),
    "range": ("intensity.range", lambda v, n: v),
    "mean_abs_dev": ("intensity.mean_abs_dev", lambda v, n: v),
    "median_abs_dev": ("intensity.median_abs_dev", lambda v, n: v),  # IBSI's: mean |x - median|
    "energy": ("intensity.mean_square", lambda v, n: v * n),  # IBSI energy is the sum of squares
    "rms": ("intensity.rms", lambda v, n: v),
    "ih_entropy": ("intensity.entropy", lambda v, n: v),  # bits
    "ih_uniformity": ("intensity.uniformity", lambda v, n: v),
}

#: IBSI GLCM feature -> featbus property (same definitions: grey levels counted from 1,
#: entropy in bits, see ``glcm_features``).
GLCM_MAP = {
    "joint_average": "mean",
    "joint_variance": "variance",
    "joint_entropy": "entropy",
    "angular_second_moment": "ASM",
    "contrast": "contrast",
    "dissimilarity": "dissimilarity",
    "inverse_difference_moment": "homogeneity",
    "correlation": "correlation",
}


def assert_matches_3_significant_figures(value: float, reference: float, name: str) -> None:
    """``value`` agrees with ``reference`` as published to three significant figures."""
    half_unit = 0.5 * 10.0 ** (math.floor(math.log10(abs(reference))) - 2)
    assert abs(value - reference) <= half_unit * (1 + 1e-9), (
        f"{name}: featbus {value:.6g}, IBSI consensus {reference:g} (tolerance {half_unit:g})")


@pytest.fixture(scope="module")
def phantom():
    if not PHANTOM.is_file():
        pytest.skip(f"IBSI phantom not found at {PHANTOM}")
    data = json.loads(PHANTOM.read_text())
    image = np.asarray(data["phantom"], dtype=np.int64)  # [z][y][x]
    mask = np.asarray(data["mask"], dtype=bool)
    assert image.shape == mask.shape == (4, 4, 5)
    return image, mask, data["consensus"]


def test_phantom_is_the_ibsi_one(phantom):
    image, mask, _ = phantom
    assert mask.sum() == 74 and set(np.unique(image[mask])) == {1, 3, 4, 6}
    assert image[2, 2, 2] == 9 and not mask[2, 2, 2]  # excluded on purpose


def test_first_order_statistics(phantom):
    image, mask, consensus = phantom
    ref = consensus["intensity_statistics_3d_all_roi_voxels"]
    assert set(ref) == set(INTENSITY_MAP)
    flat_image = image.reshape(-1, image.shape[-1]).astype(np.float64)  # raw grey levels
    flat_mask = mask.reshape(flat_image.shape)
    edges = np.arange(0.5, image[mask].max() + 1.0)  # one histogram bin per grey level 1..6
    f = dict(zip(intensity_feature_names(), intensity_features(flat_image, flat_mask, bins=edges)))
    n = int(mask.sum())
    for ibsi, (column, to_ibsi) in INTENSITY_MAP.items():
        assert_matches_3_significant_figures(to_ibsi(f[column], n), ref[ibsi], ibsi)


def test_first_order_features_without_consensus_in_file(phantom):
    """IBSI features whose phantom values the file lacks: checked against their definitions."""
    image, mask, _ = phantom
    x = image[mask].astype(np.float64)
    f = dict(zip(intensity_feature_names(), intensity_features(x[None, :], bins=np.arange(0.5, 7))))
    p10, p25, p75, p90 = np.percentile(x, [10, 25, 75, 90])
    inner = x[(x >= p10) & (x <= p90)]
    assert f["intensity.robust_mean_abs_dev"] == pytest.approx(np.mean(np.abs(inner - inner.mean())))
    assert f["intensity.cov"] == pytest.approx(x.std() / x.mean())
    assert f["intensity.qcod"] == pytest.approx((p75 - p25) / (p75 + p25))


def _glcm_2d_averaged(image, mask, props):
    per_slice = [glcm_features(image[z], mask[z], levels=None, distances=(1,), props=props)
                 for z in range(image.shape[0])]
    names = glcm_feature_names((1,), props)
    means = np.mean(per_slice, axis=0)
    return {p: means[names.index(f"glcm.d1.{p}.mean")] for p in props}


def test_glcm_2d_averaged(phantom):
    image, mask, consensus = phantom
    ref = consensus["glcm_2d_averaged_chebyshev1_symmetric"]
    assert set(ref) == set(GLCM_MAP)
    ours = _glcm_2d_averaged(image, mask, tuple(GLCM_MAP.values()))
    for ibsi, prop in GLCM_MAP.items():
        assert_matches_3_significant_figures(ours[prop], ref[ibsi], ibsi)


def test_glcm_quantised_phantom_gives_the_same_numbers(phantom):
    """The phantom scaled into [0, 1] and quantised to 8 levels keeps its grey levels 1..6
    (level k lands in bin k - 1, numbered k): the default path of the transformers."""
    image, mask, consensus = phantom
    scaled = (np.where(mask, image, 1) - 0.5) / 8.0  # the middle of bin k - 1 of 8
    props = tuple(GLCM_MAP.values())
    per_slice = [glcm_features(scaled[z], mask[z], levels=8, distances=(1,), props=props)
                 for z in range(image.shape[0])]
    direct = [glcm_features(image[z], mask[z], levels=None, distances=(1,), props=props)
              for z in range(image.shape[0])]
    np.testing.assert_allclose(per_slice, direct, rtol=1e-12)
    ref = consensus["glcm_2d_averaged_chebyshev1_symmetric"]
    means = dict(zip(glcm_feature_names((1,), props), np.mean(per_slice, axis=0)))
    assert_matches_3_significant_figures(means["glcm.d1.mean.mean"], ref["joint_average"], "joint_average")
