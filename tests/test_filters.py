"""Filter-based texture (Gabor, Laws, wavelet, LoG, fractal): references, invariances,
documented special cases, errors and the scikit-learn API."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.base import clone

import featbus
from featbus import ImageRecord
from featbus.features import filters as fl
from featbus.testing import parametrize_with_image_checks

TRANSFORMERS = [fl.GaborFeatures(frequencies=(0.1, 0.3), orientations=2), fl.LawsFeatures(window=7),
                fl.WaveletFeatures(wavelet="haar", level=1), fl.LoGFeatures(sigmas=(1.0, 2.0)),
                fl.FractalFeatures()]
IDS = ["gabor", "laws", "wavelet", "log", "fractal"]


@parametrize_with_image_checks(TRANSFORMERS + [fl.LawsFeatures(region="mask"),
                                               fl.WaveletFeatures(region="bbox")])
def test_image_estimator(estimator, check):
    check()


def test_gabor_fft_equals_spatial_convolution():
    from skimage.filters import gabor_kernel

    img = np.random.default_rng(0).random((40, 52))
    f = fl.gabor_features(img, frequencies=(0.15, 0.3), orientations=3)
    ref = []
    x = img - img.mean()
    for freq in (0.15, 0.3):
        for k in range(3):
            kern = gabor_kernel(freq, theta=np.pi * k / 3)
            # 'mirror' in scipy.ndimage is numpy's 'reflect' padding
            resp = (ndimage.convolve(x, kern.real, mode="mirror")
                    + 1j * ndimage.convolve(x, kern.imag, mode="mirror"))
            ref += [np.abs(resp).mean(), np.abs(resp).std()]
    np.testing.assert_allclose(f, ref, rtol=1e-8, atol=1e-12)
    # the documented mean subtraction: brightness alone changes nothing
    np.testing.assert_allclose(fl.gabor_features(np.clip(img * 0.5 + 0.4, 0, 1), frequencies=(0.15, 0.3),
                                                 orientations=3),
                               fl.gabor_features(img * 0.5, frequencies=(0.15, 0.3), orientations=3), atol=1e-10)


def test_gabor_picks_the_grating_orientation_and_frequency():
    xx = np.mgrid[:64, :64][1]
    grating = 0.5 + 0.5 * np.sin(2 * np.pi * 0.2 * xx)  # varies along x: theta = 0
    f = fl.gabor_features(grating, frequencies=(0.05, 0.2), orientations=4)
    means = f[0::2].reshape(2, 4)
    assert np.unravel_index(means.argmax(), means.shape) == (1, 0)
    assert fl.gabor_feature_names((0.2,), 4)[::2] == ["gabor.f0.2.o0.mean", "gabor.f0.2.o45.mean",
                                                      "gabor.f0.2.o90.mean", "gabor.f0.2.o135.mean"]


def test_laws_constant_image_and_transpose_invariance():
    assert np.all(fl.laws_features(np.full((20, 20), 0.3)) == 0)
    img = np.random.default_rng(1).random((30, 30))
    np.testing.assert_allclose(fl.laws_features(img.T.copy()), fl.laws_features(img), rtol=1e-10)
    assert len(fl.laws_feature_names()) == 28 and "laws.L5L5.mean" not in fl.laws_feature_names()


def test_wavelet_borders_are_mirrored_not_wrapped():
    import pywt

    # the definition: the sub-bands of the image inside its own mirror image, far from any border
    img = np.random.default_rng(2).random((32, 48))
    big = np.pad(img, 64, mode="symmetric")
    coeffs = pywt.swt2(big, "db2", 2, trim_approx=True, norm=True)
    reference = [coeffs[0]] + [b for details in coeffs[1:] for b in details]
    for ref, band in zip(reference, fl._wavelet_bands(img, "db2", 2)):
        np.testing.assert_allclose(band, ref[64:96, 64:112], atol=1e-12)
    # a bright left half: a mirror sees no edge at the left border (a wrap-around would)
    step = np.zeros((32, 32))
    step[:, :16] = 1.0
    assert max(np.abs(b[:, :3]).max() for b in fl._wavelet_bands(step, "coif1", 2)[1:]) < 1e-12
    # the sub-bands keep the image's energy (norm=True), up to what the borders change
    f = fl.wavelet_features(img, wavelet="db2", level=2).reshape(-1, len(fl.RESPONSE_STATS))
    energy = f[:, fl.RESPONSE_STATS.index("energy")]
    assert energy.sum() == pytest.approx(np.mean(img ** 2), rel=0.02)
    assert len(fl.wavelet_feature_names(2)) == f.size
    # odd sizes: still one value per statistic and band
    assert fl.wavelet_features(img[:31, :45], level=2).shape == (42,)


def test_log_definition_and_scale_selection():
    img = np.random.default_rng(3).random((33, 33))
    ref = np.concatenate([fl.response_statistics(s * s * ndimage.gaussian_laplace(img, s))
                          for s in (1.0, 3.0)])
    np.testing.assert_allclose(fl.log_features(img, sigmas=(1, 3)), ref, rtol=1e-12)
    # a bright disk of radius 6 responds most (most negative centre) near sigma = 6 / sqrt(2)
    yy, xx = np.mgrid[:64, :64]
    disk = ((yy - 32) ** 2 + (xx - 32) ** 2 <= 36).astype(float)
    centre = [s * s * ndimage.gaussian_laplace(disk, s)[32, 32] for s in (1.0, 2.0, 4.2, 8.0)]
    assert int(np.argmin(centre)) == 2


def test_fractal_dimensions_of_known_sets():
    line = np.zeros((64, 64))
    line[30, :] = 1.0
    box = fl.fractal_features(line, thresholds=(0.9,))[0]
    assert box == pytest.approx(1.0, abs=0.02)
    filled = fl.fractal_features(np.random.default_rng(0).random((64, 64)), thresholds=(0.01,))
    assert filled[0] == pytest.approx(2.0, abs=0.02)
    assert 2.5 < filled[1] <= 3.0  # white noise: a rough surface
    # a flat surface: exactly 2 in exact arithmetic; the least-squares slope may differ in the last bits
    flat = fl.fractal_features(np.full((32, 32), 0.5), thresholds=())
    assert flat.shape == (1,) and flat[0] == pytest.approx(2.0, abs=1e-12)
    with pytest.raises(ValueError, match="too small for box counting"):
        mask = np.zeros((32, 32), bool)
        mask[3:6, 3:20] = True
        fl.fractal_features(np.random.default_rng(0).random((32, 32)), mask)


@pytest.mark.parametrize("est", TRANSFORMERS, ids=IDS)
def test_transformer_matches_function(est):
    rng = np.random.default_rng(0)
    imgs = [np.rint(rng.random((24, 30)) * 255).astype(np.uint8) for _ in range(2)]
    mask = np.zeros((24, 30), bool)
    mask[4:20, 6:26] = True
    prefix = est._prefix
    func = getattr(fl, f"{prefix}_features")
    kw = {k: v for k, v in est.get_params().items() if k not in ("region", "empty_mask", "n_jobs", "cache", "progress")}
    X = clone(est).fit_transform(imgs)
    np.testing.assert_allclose(X[1], func(imgs[1].astype(np.float32) / 255, **kw), rtol=1e-10)
    masked = clone(est).set_params(region="mask").fit_transform([ImageRecord(imgs[0], mask)])[0]
    np.testing.assert_allclose(masked, func(imgs[0].astype(np.float32) / 255, mask, **kw), rtol=1e-10)
    names = est.fit(imgs).get_feature_names_out()
    assert len(names) == X.shape[1] and all(n.startswith(prefix + ".") for n in names)


def test_parameter_errors():
    img = [np.zeros((16, 16))]
    for est, match in [(fl.GaborFeatures(frequencies=(0.7,)), "frequencies"),
                       (fl.GaborFeatures(orientations=0), "orientations"),
                       (fl.LawsFeatures(window=4), "window"),
                       (fl.WaveletFeatures(wavelet="nope"), "wavelet"),
                       (fl.WaveletFeatures(level=0), "level"),
                       (fl.LoGFeatures(sigmas=(-1,)), "sigmas"),
                       (fl.FractalFeatures(thresholds=(1.5,)), "thresholds")]:
        with pytest.raises(ValueError, match=match):
            est.fit(img)


def test_public_exports():
    for name in ("GaborFeatures", "LawsFeatures", "WaveletFeatures", "LoGFeatures", "FractalFeatures"):
        assert getattr(featbus, name) is getattr(fl, name)
        assert getattr(featbus.features, name) is getattr(fl, name)
