"""Filter-based texture: Gabor bank, Laws texture energy, wavelet sub-bands, Laplacian of
Gaussian and box-counting fractal dimension.

Each family filters the image and summarises every response by statistics of its pixels (all
of them, or those inside the mask with ``region="mask"``). The filters themselves see the whole
(cropped) image, so responses near a mask's edge include its surroundings, as in pyradiomics'
filtered images; statistics are taken inside the mask only. Borders are mirrored
(``reflect``) for every filter.

* :class:`GaborFeatures`: mean and std of each response magnitude, ``2 x frequencies x
  orientations`` values (32 by default);
* :class:`LawsFeatures`: mean and std of 14 rotation-invariant energy maps (28);
* :class:`WaveletFeatures`: 6 statistics (mean, std, skewness, excess kurtosis, mean absolute,
  energy) of each of the ``3 x level + 1`` sub-bands (42 at level 2);
* :class:`LoGFeatures`: the same 6 statistics at each sigma (18 for 3 sigmas);
* :class:`FractalFeatures`: box-counting dimensions of thresholded sets and of the grey-level
  surface (4).

Each family is a plain function (one ``float`` image in ``[0, 1]`` -> 1-D vector), a
``*_feature_names`` helper and a transformer built on
:class:`~featbus._base.BaseFeatureExtractor` (``region``, ``n_jobs``, names, ``set_output``).
Filtering is vectorised: Gabor by FFT (one transform of the image for the whole bank, the kernels' transforms cached per
image size), Laws by
separable 1-D filters, the wavelet by PyWavelets' undecimated transform.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage

from .._base import BaseFeatureExtractor
from .._compat import Interval
from .._docs import fill_doc
from .._records import region_mask

__all__ = [
    "gabor_features", "gabor_feature_names", "GaborFeatures",
    "laws_features", "laws_feature_names", "LawsFeatures", "LAWS_KERNELS",
    "wavelet_features", "wavelet_feature_names", "WaveletFeatures",
    "log_features", "log_feature_names", "LoGFeatures",
    "fractal_features", "fractal_feature_names", "FractalFeatures",
    "response_statistics", "RESPONSE_STATS",
]

#: Statistics of a filter response (wavelet, LoG), in output order.
RESPONSE_STATS = ("mean", "std", "skewness", "kurtosis", "mean_abs", "energy")


def _values(response: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return response.ravel() if mask is None else response[mask]


def _as_image(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {image.shape}")
    if mask is not None:
        mask = region_mask(mask, image.shape, empty="the mask is empty: no pixel to compute texture on")
    return image, mask


def response_statistics(values: np.ndarray) -> np.ndarray:
    """Mean, std, skewness, excess kurtosis, mean absolute value and energy (mean square).

    Population moments (``ddof=0``); skewness and kurtosis are 0 for a constant response (they
    are undefined there; 0 is the value of a symmetric, normal-tailed distribution).

    Examples
    --------
    >>> import numpy as np
    >>> response_statistics(np.array([-1.0, 1.0])).tolist()
    [0.0, 1.0, 0.0, -2.0, 1.0, 1.0]
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    mean = v.mean()
    d = v - mean
    d2 = d * d  # products, not d ** 3 / d ** 4: float powers are several times slower
    var = np.mean(d2)
    if var > 1e-24:
        skew = np.mean(d2 * d) / var ** 1.5
        kurt = np.mean(d2 * d2) / var ** 2 - 3.0
    else:
        skew = kurt = 0.0
    return np.array([mean, np.sqrt(var), skew, kurt, np.mean(np.abs(v)), np.mean(v * v)])


def _fmt(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------- Gabor
#: Bounds of the Gabor bank (every kernel's spectrum is held at the padded image's size):
#: frequencies, orientations, kernels in all, bandwidth in octaves, and a kernel's radius in
#: pixels (``3 sigma``, sigma growing as the frequency and the bandwidth shrink).
_MAX_FREQUENCIES = 16
_MAX_ORIENTATIONS = 32
_MAX_KERNELS = 64
_MAX_BANDWIDTH = 8.0
_MAX_KERNEL_RADIUS = 256


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _check_gabor(frequencies, orientations, bandwidth):
    frequencies = (frequencies,) if np.isscalar(frequencies) else tuple(frequencies)
    if not frequencies or len(frequencies) > _MAX_FREQUENCIES or not all(
            _is_number(f) and 0 < f <= 0.5 for f in frequencies):
        raise ValueError(f"frequencies must be 1 to {_MAX_FREQUENCIES} numbers in (0, 0.5] cycles/pixel, "
                         f"got {frequencies!r}")
    if isinstance(orientations, bool) or not isinstance(orientations, (int, np.integer)) \
            or not 1 <= orientations <= _MAX_ORIENTATIONS:
        raise ValueError(f"orientations must be an int in [1, {_MAX_ORIENTATIONS}], got {orientations!r}")
    if len(frequencies) * orientations > _MAX_KERNELS:
        raise ValueError(f"len(frequencies) * orientations must be at most {_MAX_KERNELS} kernels, got "
                         f"{len(frequencies)} * {orientations}")
    if not _is_number(bandwidth) or not 0 < bandwidth <= _MAX_BANDWIDTH:
        raise ValueError(f"bandwidth must be a number in (0, {_MAX_BANDWIDTH:g}] (octaves), got {bandwidth!r}")
    # skimage.filters.gabor_kernel: sigma = prefactor(bandwidth) / frequency, radius 3 sigma
    b = 2.0 ** float(bandwidth)
    radius = 3 * np.sqrt(np.log(2) / 2) / np.pi * (b + 1) / (b - 1) / min(frequencies)
    if radius > _MAX_KERNEL_RADIUS:
        raise ValueError(f"frequencies: a Gabor kernel at {min(frequencies):g} cycles/pixel and bandwidth "
                         f"{bandwidth:g} is {2 * int(np.ceil(radius)) + 1} pixels wide; at most "
                         f"{2 * _MAX_KERNEL_RADIUS + 1}: raise the lowest frequency or the bandwidth")
    return tuple(float(f) for f in frequencies), int(orientations), float(bandwidth)


def _angles(orientations: int) -> list[float]:
    return [np.pi * k / orientations for k in range(orientations)]


@lru_cache(maxsize=8)
def _gabor_kernels(frequencies, orientations, bandwidth) -> tuple[np.ndarray, ...]:
    from skimage.filters import gabor_kernel

    return tuple(gabor_kernel(f, theta=t, bandwidth=bandwidth) for f in frequencies
                 for t in _angles(orientations))


def _gabor_radius(frequencies, orientations, bandwidth) -> int:
    return max(max(k.shape) for k in _gabor_kernels(frequencies, orientations, bandwidth)) // 2


@lru_cache(maxsize=2)
def _gabor_spectra(frequencies, orientations, bandwidth, shape) -> np.ndarray:
    """FFTs of the bank's kernels, centred at index 0, for one FFT shape (cached: a batch of
    equally sized images pays for them once)."""
    out = []
    for k in _gabor_kernels(frequencies, orientations, bandwidth):
        full = np.zeros(shape, np.complex128)
        rows = (np.arange(k.shape[0]) - k.shape[0] // 2) % shape[0]
        cols = (np.arange(k.shape[1]) - k.shape[1] // 2) % shape[1]
        full[np.ix_(rows, cols)] = k
        out.append(sp_fft.fft2(full))
    spectra = np.stack(out)
    spectra.flags.writeable = False  # shared by later calls
    return spectra


def gabor_features(image: np.ndarray, mask: np.ndarray | None = None, *,
                   frequencies: Sequence[float] = (0.05, 0.1, 0.2, 0.4), orientations: int = 4,
                   bandwidth: float = 1.0) -> np.ndarray:
    """Energies of a Gabor filter bank: mean and std of each response's magnitude.

    The bank holds complex Gabor kernels (:func:`skimage.filters.gabor_kernel`) at every
    frequency and at ``orientations`` angles evenly spread over ``[0, 180)`` degrees; the
    envelope's width follows from the frequency and the ``bandwidth`` in octaves (a fixed
    number of cycles per envelope, so low frequencies have wide kernels). Responses are computed
    by FFT on the image mirrored at its borders.

    The image's mean is subtracted first. A complex Gabor kernel's real part does not sum to
    zero (the less so the wider its band), so without this the responses would grow with the
    image's brightness, not only with its texture; with it, adding a constant to the image
    changes no feature (tested), as for the other filter families.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Float image in ``[0, 1]``.
    mask : ndarray of bool, optional
        Pixels whose responses are summarised.
    frequencies : sequence of float, default=(0.05, 0.1, 0.2, 0.4)
        Spatial frequencies in cycles per pixel, in ``(0, 0.5]``.
    orientations : int, default=4
        Number of angles (4: 0, 45, 90, 135 degrees).
    bandwidth : float, default=1.0
        Frequency bandwidth in octaves.

    Returns
    -------
    features : ndarray of shape (2 * len(frequencies) * orientations,)
        Ordered by frequency, then angle, then (mean, std): 32 values with the defaults.

    References
    ----------
    Daugman JG. Uncertainty relation for resolution in space, spatial frequency, and orientation
    optimized by two-dimensional visual cortical filters. J. Opt. Soc. Am. A 2(7):1160-1169,
    1985. doi:10.1364/JOSAA.2.001160.

    Examples
    --------
    >>> import numpy as np
    >>> gabor_features(np.random.default_rng(0).random((32, 32))).shape
    (32,)
    """
    frequencies, orientations, bandwidth = _check_gabor(frequencies, orientations, bandwidth)
    image, mask = _as_image(image, mask)
    h, w = image.shape
    r = _gabor_radius(frequencies, orientations, bandwidth)
    # mirror padding of the largest kernel's radius (capped so numpy's reflect stays valid)
    py, px = min(r, h - 1), min(r, w - 1)
    padded = np.pad(image - image.mean(), ((py, py), (px, px)), mode="reflect")
    # circular convolution of the kernels centred at index 0: exact 'same' output on the image
    # once the array extends r past the padded image's reach (zeros; only for tiny images)
    shape = (sp_fft.next_fast_len(h + py + max(py, r)), sp_fft.next_fast_len(w + px + max(px, r)))
    spectra = _gabor_spectra(frequencies, orientations, bandwidth, shape)
    responses = sp_fft.ifft2(sp_fft.fft2(padded, s=shape)[None] * spectra, axes=(1, 2))
    out = np.empty((len(spectra), 2))
    for n, resp in enumerate(responses):
        v = _values(np.abs(resp[py:py + h, px:px + w]), mask)
        out[n] = v.mean(), v.std()
    return out.ravel()


def gabor_feature_names(frequencies: Sequence[float] = (0.05, 0.1, 0.2, 0.4),
                        orientations: int = 4) -> list[str]:
    """Names ``gabor.f{frequency}.o{degrees}.{mean|std}``.

    Examples
    --------
    >>> gabor_feature_names((0.1,), 2)
    ['gabor.f0.1.o0.mean', 'gabor.f0.1.o0.std', 'gabor.f0.1.o90.mean', 'gabor.f0.1.o90.std']
    """
    frequencies, orientations, _ = _check_gabor(frequencies, orientations, 1.0)
    return [f"gabor.f{_fmt(f)}.o{_fmt(round(np.degrees(t), 2))}.{s}" for f in frequencies
            for t in _angles(orientations) for s in ("mean", "std")]


# --------------------------------------------------------------------------- Laws
#: Laws' 1-D kernels of length 5: level, edge, spot, wave, ripple.
LAWS_KERNELS = {
    "L5": np.array([1.0, 4.0, 6.0, 4.0, 1.0]),
    "E5": np.array([-1.0, -2.0, 0.0, 2.0, 1.0]),
    "S5": np.array([-1.0, 0.0, 2.0, 0.0, -1.0]),
    "W5": np.array([-1.0, 2.0, 0.0, -2.0, 1.0]),
    "R5": np.array([1.0, -4.0, 6.0, -4.0, 1.0]),
}


def _laws_pairs() -> list[tuple[str, str]]:
    """The 14 unordered kernel pairs other than L5L5 (whose energy is brightness, not texture)."""
    names = list(LAWS_KERNELS)
    return [(a, b) for i, a in enumerate(names) for b in names[i:] if (a, b) != ("L5", "L5")]


_MAX_WINDOW = 1023


def _check_window(window) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or not 3 <= window <= _MAX_WINDOW \
            or window % 2 == 0:
        raise ValueError(f"window must be an odd int in [3, {_MAX_WINDOW}] (pixels), got {window!r}")
    return int(window)


def laws_features(image: np.ndarray, mask: np.ndarray | None = None, *, window: int = 15) -> np.ndarray:
    """Laws texture energy: mean and std of 14 rotation-invariant energy maps.

    Following Laws (1980): the local mean (a ``window`` x ``window`` box) is subtracted from the
    image; the result is filtered with the 25 separable 5x5 masks made of the 1-D kernels
    L5 (level), E5 (edge), S5 (spot), W5 (wave), R5 (ripple); each response's energy map is the
    ``window`` x ``window`` mean of its absolute value; maps of transposed pairs (E5L5 and
    L5E5) are averaged, which makes them invariant to 90-degree rotation, and L5L5 is dropped.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    mask : ndarray of bool, optional
    window : int, default=15
        Odd size of the mean-removal and energy windows (Laws used 15).

    Returns
    -------
    features : ndarray of shape (28,)
        For each pair in the order of :func:`laws_feature_names` (L5E5, L5S5, ..., R5R5),
        mean and std.

    References
    ----------
    Laws KI. Rapid texture identification. Proc. SPIE 0238, Image Processing for Missile
    Guidance, 376-381, 1980. doi:10.1117/12.959169.

    Examples
    --------
    >>> import numpy as np
    >>> laws_features(np.random.default_rng(0).random((32, 32))).shape
    (28,)
    """
    window = _check_window(window)
    image, mask = _as_image(image, mask)
    x = image - ndimage.uniform_filter(image, window, mode="reflect")
    rows = {n: ndimage.correlate1d(x, k, axis=0, mode="reflect") for n, k in LAWS_KERNELS.items()}
    energy = {}
    for a in LAWS_KERNELS:
        for b, kb in LAWS_KERNELS.items():
            r = ndimage.correlate1d(rows[a], kb, axis=1, mode="reflect")  # vertical a, horizontal b
            energy[a, b] = ndimage.uniform_filter(np.abs(r), window, mode="reflect")
    out = []
    for a, b in _laws_pairs():
        e = 0.5 * (energy[a, b] + energy[b, a])
        v = _values(e, mask)
        out += [v.mean(), v.std()]
    return np.asarray(out)


def laws_feature_names() -> list[str]:
    """Names ``laws.{pair}.{mean|std}``, pairs sorted as in :data:`LAWS_KERNELS`.

    Examples
    --------
    >>> laws_feature_names()[:4]
    ['laws.L5E5.mean', 'laws.L5E5.std', 'laws.L5S5.mean', 'laws.L5S5.std']
    """
    return [f"laws.{a}{b}.{s}" for a, b in _laws_pairs() for s in ("mean", "std")]


# --------------------------------------------------------------------------- wavelet
def _check_wavelet(wavelet, level):
    import pywt

    if wavelet not in pywt.wavelist(kind="discrete"):
        raise ValueError(f"wavelet must be a discrete PyWavelets wavelet (pywt.wavelist(kind="
                         f"'discrete')), got {wavelet!r}")
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 1 <= level <= 6:
        raise ValueError(f"level must be an int in [1, 6], got {level!r}")
    return wavelet, int(level)


def wavelet_features(image: np.ndarray, mask: np.ndarray | None = None, *, wavelet: str = "coif1",
                     level: int = 2) -> np.ndarray:
    """First-order statistics of the sub-bands of an undecimated 2-D wavelet transform.

    The stationary (undecimated) transform :func:`pywt.swt2` keeps every sub-band at the image's
    size, so a mask applies to all of them unchanged (pyradiomics filters the same way). Borders
    are mirrored (``numpy.pad(mode="symmetric")``: the edge pixel repeated, then the image
    reflected): pywt's transform is circular, so the image is first mirrored by the filters'
    whole support and the sub-bands are cropped back, and no value wraps around from the
    opposite border.
    Each sub-band is summarised by :func:`response_statistics`.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    mask : ndarray of bool, optional
    wavelet : str, default="coif1"
        Any discrete PyWavelets wavelet (``"haar"``, ``"db2"``, ``"coif1"``...).
    level : int, default=2
        Decomposition levels.

    Returns
    -------
    features : ndarray of shape (6 * (3 * level + 1),)
        The approximation at the deepest level, then the horizontal, vertical and diagonal
        details of each level from the deepest to level 1; 6 statistics each (42 by default).

    References
    ----------
    Mallat SG. A theory for multiresolution signal decomposition: the wavelet representation.
    IEEE Trans. Pattern Analysis and Machine Intelligence 11(7):674-693, 1989.
    doi:10.1109/34.192463.

    Examples
    --------
    >>> import numpy as np
    >>> wavelet_features(np.random.default_rng(0).random((30, 30))).shape
    (42,)
    """

    wavelet, level = _check_wavelet(wavelet, level)
    image, mask = _as_image(image, mask)
    return np.concatenate([response_statistics(_values(b, mask)) for b in _wavelet_bands(image, wavelet, level)])


def _wavelet_bands(image: np.ndarray, wavelet: str, level: int) -> list[np.ndarray]:
    """The sub-bands of ``image``, each of its shape, with mirrored borders.

    :func:`pywt.swt2` convolves circularly (the image wraps around). The image is first
    mirrored by the whole support of the filters down to ``level`` (``(L - 1)(2**level - 1)``
    pixels for a filter of length ``L``) and up to a multiple of ``2**level``, so every value
    the wrap-around reads is a mirrored one; the transform commutes with shifts, so cropping
    the padding back leaves each band aligned with the image.
    """
    import pywt

    h, w = image.shape
    m = 2 ** level
    reach = (pywt.Wavelet(wavelet).dec_len - 1) * (m - 1)
    padded = np.pad(image, ((reach, reach + (-(h + 2 * reach)) % m), (reach, reach + (-(w + 2 * reach)) % m)),
                    mode="symmetric")
    coeffs = pywt.swt2(padded, wavelet, level, trim_approx=True, norm=True)
    bands = [coeffs[0]] + [b for details in coeffs[1:] for b in details]
    return [b[reach:reach + h, reach:reach + w] for b in bands]


def wavelet_feature_names(level: int = 2) -> list[str]:
    """Names ``wavelet.level{k}.{band}.{stat}``.

    Examples
    --------
    >>> wavelet_feature_names(1)[:2]
    ['wavelet.level1.approximation.mean', 'wavelet.level1.approximation.std']
    """
    _, level = _check_wavelet("haar", level)
    bands = [f"level{level}.approximation"] + [f"level{k}.{d}" for k in range(level, 0, -1)
                                               for d in ("horizontal", "vertical", "diagonal")]
    return [f"wavelet.{b}.{s}" for b in bands for s in RESPONSE_STATS]


# --------------------------------------------------------------------------- LoG
_MAX_SIGMAS = 16


def _check_sigmas(sigmas) -> tuple[float, ...]:
    sigmas = (sigmas,) if np.isscalar(sigmas) else tuple(sigmas)
    if not sigmas or len(sigmas) > _MAX_SIGMAS or not all(_is_number(s) and 0 < s <= 64 for s in sigmas):
        raise ValueError(f"sigmas must be 1 to {_MAX_SIGMAS} numbers in (0, 64] pixels, got {sigmas!r}")
    return tuple(float(s) for s in sigmas)


def log_features(image: np.ndarray, mask: np.ndarray | None = None, *,
                 sigmas: Sequence[float] = (1.0, 2.0, 4.0)) -> np.ndarray:
    """First-order statistics of scale-normalised Laplacian-of-Gaussian responses.

    Each response is ``sigma**2 * LoG_sigma(image)`` (:func:`scipy.ndimage.gaussian_laplace`,
    mirrored borders): the ``sigma**2`` factor (Lindeberg's scale normalisation) makes blobs of
    matching size give comparable responses at every sigma. Blobs brighter than their
    surroundings give negative responses. Summarised by :func:`response_statistics`.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    mask : ndarray of bool, optional
    sigmas : sequence of float, default=(1, 2, 4)
        Gaussian widths in pixels (a blob of radius ``sigma * sqrt(2)`` responds most).

    Returns
    -------
    features : ndarray of shape (6 * len(sigmas),)

    References
    ----------
    Marr D, Hildreth E. Theory of edge detection. Proc. R. Soc. Lond. B 207:187-217, 1980.
    doi:10.1098/rspb.1980.0020.

    Examples
    --------
    >>> import numpy as np
    >>> log_features(np.random.default_rng(0).random((32, 32))).shape
    (18,)
    """
    sigmas = _check_sigmas(sigmas)
    image, mask = _as_image(image, mask)
    return np.concatenate([
        response_statistics(_values(s * s * ndimage.gaussian_laplace(image, s, mode="reflect"), mask))
        for s in sigmas])


def log_feature_names(sigmas: Sequence[float] = (1.0, 2.0, 4.0)) -> list[str]:
    """Names ``log.s{sigma}.{stat}``.

    Examples
    --------
    >>> log_feature_names((1.5,))[:2]
    ['log.s1.5.mean', 'log.s1.5.std']
    """
    return [f"log.s{_fmt(s)}.{st}" for s in _check_sigmas(sigmas) for st in RESPONSE_STATS]


# --------------------------------------------------------------------------- fractal
_MAX_THRESHOLDS = 64


def _check_thresholds(thresholds) -> tuple[float, ...]:
    thresholds = (thresholds,) if np.isscalar(thresholds) else tuple(thresholds)
    if len(thresholds) > _MAX_THRESHOLDS or not all(_is_number(t) and 0 < t < 1 for t in thresholds):
        raise ValueError(f"thresholds must be at most {_MAX_THRESHOLDS} quantiles in (0, 1), got {thresholds!r}")
    return tuple(float(t) for t in thresholds)


def _box_sizes(shape) -> np.ndarray:
    sizes = 2 ** np.arange(1, int(np.log2(min(shape))) + 1)
    sizes = sizes[sizes <= min(shape) // 2]
    if sizes.size < 2:
        raise ValueError(f"a region of {shape[0]}x{shape[1]} pixels is too small for box counting "
                         "(at least 8x8 needed)")
    return sizes


def _blocks(a: np.ndarray, s: int) -> np.ndarray:
    """View of ``a`` (cropped to a multiple of ``s``) as (rows, cols, s*s) blocks."""
    h, w = (a.shape[0] // s) * s, (a.shape[1] // s) * s
    return a[:h, :w].reshape(h // s, s, w // s, s).swapaxes(1, 2).reshape(h // s, w // s, s * s)


def _slope(sizes: np.ndarray, counts: np.ndarray) -> float:
    """Dimension = -slope of log(count) against log(box size), least squares."""
    keep = counts > 0
    if keep.sum() < 2:
        return 0.0  # an (almost) empty set has dimension 0
    return float(-np.polyfit(np.log(sizes[keep]), np.log(counts[keep]), 1)[0])


def fractal_features(image: np.ndarray, mask: np.ndarray | None = None, *,
                     thresholds: Sequence[float] = (0.25, 0.5, 0.75)) -> np.ndarray:
    """Box-counting fractal dimensions: of thresholded sets and of the grey-level surface.

    * For each quantile ``t`` of ``thresholds``: the set of region pixels brighter than the
      region's ``t``-quantile; ``N(s)`` = boxes of side ``s`` holding a pixel of the set;
      dimension = ``-slope`` of ``log N(s)`` against ``log s`` (0 to 2).
    * Differential box counting (Sarkar & Chaudhuri 1994) of the grey-level surface: with grey
      levels on a 256-level scale, each ``s`` x ``s`` block needs ``ceil(max / h') -
      ceil(min / h') + 1`` boxes of height ``h' = s * 256 / M`` (``M`` the shorter side);
      the dimension (2 to 3) is the slope over box sizes. With a mask, blocks take only their
      pixels inside it.

    Box sides are 2, 4, 8, ... up to half the shorter side; the image is cropped to the mask's
    bounding box first.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    mask : ndarray of bool, optional
    thresholds : sequence of float, default=(0.25, 0.5, 0.75)
        Quantiles of the region's intensities that define the binary sets.

    Returns
    -------
    features : ndarray of shape (len(thresholds) + 1,)

    References
    ----------
    Sarkar N, Chaudhuri BB. An efficient differential box-counting approach to compute fractal
    dimension of image. IEEE Trans. Systems, Man, and Cybernetics 24(1):115-120, 1994.
    doi:10.1109/21.259692.
    Chen CC, DaPonte JS, Fox MD. Fractal feature analysis and classification in medical
    imaging. IEEE Trans. Medical Imaging 8(2):133-142, 1989. doi:10.1109/42.24861.

    Examples
    --------
    >>> import numpy as np
    >>> fractal_features(np.ones((32, 32)) * 0.5, thresholds=())  # a flat surface: dimension 2
    array([2.])
    """
    thresholds = _check_thresholds(thresholds)
    image, mask = _as_image(image, mask)
    if mask is not None:
        rows, cols = np.nonzero(mask)
        sl = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        image, mask = image[sl], mask[sl]
    region = np.ones(image.shape, bool) if mask is None else mask
    sizes = _box_sizes(image.shape)
    inside = image[region]
    out = []
    for t in thresholds:
        bright = region & (image > np.quantile(inside, t))
        counts = np.array([_blocks(bright, s).any(axis=2).sum() for s in sizes], dtype=np.float64)
        out.append(_slope(sizes, counts))
    grey = image * 255.0
    counts = []
    for s in sizes:
        height = s * 256.0 / min(image.shape)
        g, r = _blocks(grey, s), _blocks(region, s)
        hi = np.where(r, g, -np.inf).max(axis=2)
        lo = np.where(r, g, np.inf).min(axis=2)
        used = r.any(axis=2)
        n = np.ceil((hi[used] + 1e-9) / height) - np.ceil((lo[used] + 1e-9) / height) + 1
        counts.append(n.sum())
    out.append(_slope(sizes, np.asarray(counts, dtype=np.float64)))
    return np.asarray(out)


def fractal_feature_names(thresholds: Sequence[float] = (0.25, 0.5, 0.75)) -> list[str]:
    """Names ``fractal.box.q{quantile}`` and ``fractal.dbc``.

    Examples
    --------
    >>> fractal_feature_names((0.5,))
    ['fractal.box.q0.5', 'fractal.dbc']
    """
    return [f"fractal.box.q{_fmt(t)}" for t in _check_thresholds(thresholds)] + ["fractal.dbc"]


# --------------------------------------------------------------------------- transformers
_REGION_DOC = """    region : {"image", "bbox", "mask"}, default="image"
        ``"mask"``: the image is filtered whole, responses are summarised inside the mask.
    %(empty_mask)s
    %(n_jobs)s
    %(cache)s
    %(progress)s
"""

_FILTER_CONSTRAINTS = {
    **BaseFeatureExtractor._parameter_constraints,
    "frequencies": [tuple, list],
    "orientations": [Interval(Integral, 1, _MAX_ORIENTATIONS, closed="both")],
    "bandwidth": [Interval(Real, 0, _MAX_BANDWIDTH, closed="right")],
    "window": [Interval(Integral, 3, _MAX_WINDOW, closed="both")],
    "wavelet": [str],
    "level": [Interval(Integral, 1, 6, closed="both")],
    "sigmas": [tuple, list],
    "thresholds": [tuple, list],
}


@fill_doc
class GaborFeatures(BaseFeatureExtractor):
    __doc__ = """Gabor filter-bank energies as a transformer (see :func:`gabor_features`).

    ``2 * len(frequencies) * orientations`` columns (32 by default) named like
    ``gabor.f0.1.o45.mean``.

    Parameters
    ----------
    frequencies : sequence of float, default=(0.05, 0.1, 0.2, 0.4)
        Cycles per pixel, in ``(0, 0.5]``; at most 16.
    orientations : int, default=4
        At most 32, and at most 64 kernels (``len(frequencies) * orientations``).
    bandwidth : float, default=1.0
        Octaves, in ``(0, 8]``. A kernel is ``6 sigma`` wide, sigma growing as the frequency
        and the bandwidth shrink; kernels wider than 513 pixels are refused (with bandwidth 1,
        frequencies below about 0.0066).
""" + _REGION_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((2, 32, 32))
    >>> GaborFeatures(frequencies=(0.2,), orientations=2).fit_transform(X).shape
    (2, 4)
    """

    _prefix = "gabor"

    _parameter_constraints = _FILTER_CONSTRAINTS

    def __init__(self, frequencies=(0.05, 0.1, 0.2, 0.4), *, orientations=4, bandwidth=1.0,
                 region="image", empty_mask="image", n_jobs=None, cache=None, progress="auto"):
        self.frequencies = frequencies
        self.orientations = orientations
        self.bandwidth = bandwidth
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _check_rules(self) -> None:
        _check_gabor(self.frequencies, self.orientations, self.bandwidth)

    def _fit_features(self, items: list) -> list[str]:
        return gabor_feature_names(self.frequencies, self.orientations)

    def _features(self, image, mask):
        return gabor_features(image, mask, frequencies=self.frequencies,
                              orientations=self.orientations, bandwidth=self.bandwidth)


@fill_doc
class LawsFeatures(BaseFeatureExtractor):
    __doc__ = """Laws (1980) texture energy as a transformer (see :func:`laws_features`).

    28 columns named like ``laws.E5S5.mean``.

    Parameters
    ----------
    window : int, default=15
        Odd size of the mean-removal and energy windows, at most 1023 pixels.
""" + _REGION_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((2, 32, 32))
    >>> LawsFeatures().fit_transform(X).shape
    (2, 28)
    """

    _prefix = "laws"

    _parameter_constraints = _FILTER_CONSTRAINTS

    def __init__(self, window=15, *, region="image", empty_mask="image", n_jobs=None, cache=None,
                 progress="auto"):
        self.window = window
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _check_rules(self) -> None:
        _check_window(self.window)

    def _fit_features(self, items: list) -> list[str]:
        return laws_feature_names()

    def _features(self, image, mask):
        return laws_features(image, mask, window=self.window)


@fill_doc
class WaveletFeatures(BaseFeatureExtractor):
    __doc__ = """Wavelet sub-band statistics as a transformer (see :func:`wavelet_features`).

    ``6 * (3 * level + 1)`` columns (42 by default) named like
    ``wavelet.level1.diagonal.energy``.

    Parameters
    ----------
    wavelet : str, default="coif1"
        A discrete PyWavelets wavelet.
    level : int, default=2
        Decomposition levels, in [1, 6].
""" + _REGION_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((2, 32, 32))
    >>> WaveletFeatures(level=1).fit_transform(X).shape
    (2, 24)
    """

    _prefix = "wavelet"
    _revision = 1  # 1: mirrored borders (rows cached before wrapped around)

    _parameter_constraints = _FILTER_CONSTRAINTS

    def __init__(self, wavelet="coif1", *, level=2, region="image", empty_mask="image", n_jobs=None,
                 cache=None, progress="auto"):
        self.wavelet = wavelet
        self.level = level
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _check_rules(self) -> None:
        _check_wavelet(self.wavelet, self.level)

    def _fit_features(self, items: list) -> list[str]:
        return wavelet_feature_names(self.level)

    def _features(self, image, mask):
        return wavelet_features(image, mask, wavelet=self.wavelet, level=self.level)


@fill_doc
class LoGFeatures(BaseFeatureExtractor):
    __doc__ = """Laplacian-of-Gaussian statistics at several scales as a transformer (see
    :func:`log_features`).

    ``6 * len(sigmas)`` columns (18 by default) named like ``log.s2.std``.

    Parameters
    ----------
    sigmas : sequence of float, default=(1, 2, 4)
        Pixels, in ``(0, 64]``; at most 16 scales.
""" + _REGION_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((2, 32, 32))
    >>> LoGFeatures(sigmas=(1.0,)).fit_transform(X).shape
    (2, 6)
    """

    _prefix = "log"

    _parameter_constraints = _FILTER_CONSTRAINTS

    def __init__(self, sigmas=(1.0, 2.0, 4.0), *, region="image", empty_mask="image", n_jobs=None,
                 cache=None, progress="auto"):
        self.sigmas = sigmas
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _check_rules(self) -> None:
        _check_sigmas(self.sigmas)

    def _fit_features(self, items: list) -> list[str]:
        return log_feature_names(self.sigmas)

    def _features(self, image, mask):
        return log_features(image, mask, sigmas=self.sigmas)


@fill_doc
class FractalFeatures(BaseFeatureExtractor):
    __doc__ = """Box-counting fractal dimensions as a transformer (see :func:`fractal_features`).

    ``len(thresholds) + 1`` columns named like ``fractal.box.q0.5`` and ``fractal.dbc``.

    Parameters
    ----------
    thresholds : sequence of float, default=(0.25, 0.5, 0.75)
        Intensity quantiles of the region defining the binary sets.
    region : {"image", "bbox", "mask"}, default="image"
        ``"mask"``: boxes count only pixels inside the mask.
    %(empty_mask)s
    %(n_jobs)s
    %(cache)s
    %(progress)s

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((2, 32, 32))
    >>> FractalFeatures().fit_transform(X).shape
    (2, 4)
    """

    _prefix = "fractal"

    _parameter_constraints = _FILTER_CONSTRAINTS

    def __init__(self, thresholds=(0.25, 0.5, 0.75), *, region="image", empty_mask="image", n_jobs=None,
                 cache=None, progress="auto"):
        self.thresholds = thresholds
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _check_rules(self) -> None:
        _check_thresholds(self.thresholds)

    def _fit_features(self, items: list) -> list[str]:
        return fractal_feature_names(self.thresholds)

    def _features(self, image, mask):
        return fractal_features(image, mask, thresholds=self.thresholds)
