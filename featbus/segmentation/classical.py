"""Classical lesion segmenters: thresholds (Otsu, adaptive) and edges (Canny) + fill.

The segmenters of published pipelines that segment without a network ("segmentation by edges,
thresholds or a U-Net"), with :class:`~featbus.UNetSegmenter`'s interface: ``fit(X)``,
``predict_masks(X)`` (= ``predict``), ``predict_proba_maps(X)``, ``score(X)``. They learn
nothing: ``fit`` only checks parameters and images, and an unfitted one counts as fitted
(scikit-learn's ``requires_fit=False`` tag), so :class:`~featbus.ROICropper` and
:func:`featbus.train_model` use it as given, without lesion masks to train on.

Every segmenter runs the same three stages on each image:

1. **Smoothing.** The image is scaled to ``[0, 1]`` and smoothed by a Gaussian of ``sigma``
   pixels (speckle would otherwise break every region into islands).
2. **Candidates.** A binary map of lesion-like pixels: darker than a global Otsu threshold or
   than a local (adaptive) threshold (:class:`ThresholdSegmenter`; breast ultrasound lesions
   are hypoechoic, i.e. dark, so ``polarity="dark"`` by default), or the regions enclosed by
   Canny edges (:class:`EdgeSegmenter`).
3. **One lesion.** The map is opened with a disk of ``opening`` pixels (detaches the lesion
   from dark tissue it touches through thin bridges), holes are filled, and 8-connected
   components smaller than ``min_area`` of the image are dropped, as are (``exclude_border``)
   those touching the image border: the dark frame outside an ultrasound fan, the acoustic
   shadow at the bottom, subcutaneous fat along the top. Of the rest one is kept
   (``select``): ``"central"`` (default) its area weighted by a Gaussian of its centroid's
   distance from the image centre (standard deviation 0.35 of the half-side: a lesion is
   usually scanned near the middle of the frame), ``"largest"`` the largest, ``"darkest"`` the
   lowest mean smoothed intensity. No candidate left: an empty mask (no lesion found; ROI
   cropping then keeps the whole image).

They are far below the U-Net on BUSI (``benchmarks/classical_segmentation.py``: mean lesion
Dice 0.09-0.29 against 0.78): use them to reproduce a published pipeline, or as a baseline,
not as the segmenter of a model that matters.

References
----------
Otsu N. A threshold selection method from gray-level histograms. IEEE Trans Syst Man Cybern
9(1):62-66, 1979. doi:10.1109/TSMC.1979.4310076.
Canny J. A computational approach to edge detection. IEEE Trans Pattern Anal Mach Intell
8(6):679-698, 1986. doi:10.1109/TPAMI.1986.4767851.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi
from sklearn.base import BaseEstimator

from .._base import _ImageInputMixin
from .._compat import Interval, StrOptions
from .._records import ImageError, check_images, to_float
from ..io import load_item
from .metrics import mean_dice_score

__all__ = ["ThresholdSegmenter", "EdgeSegmenter", "select_lesion"]

_SELECT = ("central", "largest", "darkest")
_CENTRE_SD = 0.35  # of the half-side, for select="central"


def _disk(radius: int) -> np.ndarray:
    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return xx * xx + yy * yy <= r * r


def select_lesion(candidates: np.ndarray, image: np.ndarray, *, select: str = "central", opening: int = 4,
                  min_area: float = 0.005, exclude_border: bool = True) -> np.ndarray:
    """Stage 3 of the classical segmenters: one lesion out of a binary map of candidates.

    Parameters
    ----------
    candidates : ndarray of bool, shape (h, w)
    image : ndarray of float, shape (h, w)
        The smoothed image (for ``select="darkest"``).
    select : {"central", "largest", "darkest"}, default="central"
    opening : int, default=4
        Radius in pixels of the disk the map is opened with (0: none).
    min_area : float, default=0.005
        Smallest component kept, as a share of the image.
    exclude_border : bool, default=True
        Drop components touching the image border.

    Returns
    -------
    mask : ndarray of bool, shape (h, w)
        One filled 8-connected component, or all ``False``.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((60, 60), bool); m[25:35, 25:35] = True; m[0:20, 0:20] = True; m[5:15, 40:55] = True
    >>> out = select_lesion(m, np.zeros((60, 60)), opening=0)
    >>> int(out.sum()), bool(out[30, 30])
    (100, True)
    """
    fg = np.asarray(candidates, bool)
    if opening:
        fg = ndi.binary_opening(fg, _disk(opening))
    fg = ndi.binary_fill_holes(fg)
    labels, n = ndi.label(fg, structure=np.ones((3, 3), bool))
    if n == 0:
        return fg
    h, w = fg.shape
    ids = np.arange(1, n + 1)
    area = np.asarray(ndi.sum(fg, labels, ids), float)
    ok = area >= min_area * h * w
    if exclude_border:
        border = np.zeros(n + 1, bool)
        for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
            border[edge] = True
        ok &= ~border[1:]
    if not ok.any():
        return np.zeros_like(fg)
    if select == "largest":
        score = area
    elif select == "darkest":
        score = -np.asarray(ndi.mean(image, labels, ids), float)
    else:
        cy, cx = np.asarray(ndi.center_of_mass(fg, labels, ids), float).reshape(n, 2).T
        d2 = ((cy + 0.5) / h * 2 - 1) ** 2 + ((cx + 0.5) / w * 2 - 1) ** 2
        score = area * np.exp(-d2 / (2 * _CENTRE_SD ** 2))
    score = np.where(ok, score, -np.inf)
    return labels == ids[int(np.argmax(score))]


_COMMON_PARAMS = {
    "sigma": [Interval(Real, 0, None, closed="left")],
    "select": [StrOptions(set(_SELECT))],
    "opening": [Interval(Integral, 0, None, closed="left")],
    "min_area": [Interval(Real, 0, 1, closed="left")],
    "exclude_border": ["boolean"],
}


class _ClassicalSegmenter(_ImageInputMixin, BaseEstimator):
    """Shared machinery: one ``_candidates(image, smoothed)`` hook per subclass."""

    _parameter_constraints: dict = {}

    def _check_params(self) -> None:
        self._validate_params()
        self._check_rules()

    def _check_rules(self) -> None:
        """Rules a per-parameter constraint cannot state; nothing by default."""

    def fit(self, X=None, y=None, groups=None):
        """Check parameters (and the images, when given); nothing is learned.

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord, optional
        y, groups : ignored
            Accepted for the U-Net's interface (masks, near-duplicate groups).

        Returns
        -------
        self
        """
        self._check_params()
        if X is not None:
            check_images(X)
        self.fitted_ = True
        return self

    def _candidates(self, image: np.ndarray, smoothed: np.ndarray) -> np.ndarray:  # pragma: no cover
        """Lesion-like pixels of one image (float in [0, 1]) and its smoothed version."""
        raise NotImplementedError

    def _segment(self, item, index: int) -> np.ndarray:
        rec = load_item(item, index)
        image = to_float(rec.image, index=index, path=rec.path).astype(np.float64)
        smoothed = ndi.gaussian_filter(image, float(self.sigma)) if self.sigma else image
        try:
            fg = self._candidates(image, smoothed)
        except ValueError as exc:
            raise ImageError(f"{type(self).__name__} failed: {exc}", index, rec.path) from exc
        return select_lesion(fg, smoothed, select=self.select, opening=int(self.opening),
                             min_area=float(self.min_area), exclude_border=bool(self.exclude_border))

    def predict_masks(self, X, threshold: float | None = None) -> list[np.ndarray]:
        """Binary lesion mask of each image, at the image's own size.

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord
        threshold : ignored
            Accepted for :meth:`UNetSegmenter.predict_masks`'s signature (the masks are hard).

        Returns
        -------
        masks : list of ndarray of bool
        """
        self._check_params()
        return [self._segment(item, i) for i, item in enumerate(check_images(X))]

    def predict(self, X) -> list[np.ndarray]:
        """Same as :meth:`predict_masks`."""
        return self.predict_masks(X)

    def predict_proba_maps(self, X, batch_size: int = 32) -> list[np.ndarray]:
        """The masks as ``float32`` maps of 0 and 1 (a classical segmenter has no probabilities);
        for code written against :meth:`UNetSegmenter.predict_proba_maps`."""
        return [m.astype(np.float32) for m in self.predict_masks(X)]

    def masks_from_maps(self, maps, threshold: float | None = None) -> list[np.ndarray]:
        """Masks back from :meth:`predict_proba_maps` (pixels above 0.5, or ``threshold``)."""
        t = 0.5 if threshold is None else float(threshold)
        return [np.asarray(p) > t for p in maps]

    def score(self, X, y=None) -> float:
        """Mean Dice of the predicted masks against the true ones (records' masks or ``y``)."""
        return mean_dice_score(self, X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False  # stateless: ROI cropping uses it as given
        return tags


_METHODS = ("otsu", "adaptive")


class ThresholdSegmenter(_ClassicalSegmenter):
    """Lesion segmentation by a global (Otsu) or local (adaptive) intensity threshold.

    Stage 2 of the module's three (smoothing, candidates, one lesion): with ``polarity="dark"``
    the candidates are the pixels darker than

    * ``"otsu"``: the Otsu threshold of the smoothed image (the split of its histogram into
      two classes of least within-class variance; ``skimage.filters.threshold_otsu``);
    * ``"adaptive"`` (default): the Gaussian-weighted mean of a ``block_size`` x
      ``block_size`` neighbourhood, less ``offset`` (``skimage.filters.threshold_local``):
      a region darker than its surroundings, whatever the gain of the scan.

    On BUSI's lesion images the adaptive threshold gives the better Dice (see the module
    docstring and ``benchmarks/classical_segmentation.py``). Nothing is learned.

    Parameters
    ----------
    method : {"otsu", "adaptive"}, default="adaptive"
    block_size : int, default=101
        Odd side in pixels of the adaptive threshold's neighbourhood (about a third of a BUSI
        image's 320 px side: larger than most lesions).
    offset : float, default=0.02
        Subtracted from the local mean, on the ``[0, 1]`` intensity scale (adaptive only);
        with ``polarity="bright"`` it is added.
    polarity : {"dark", "bright"}, default="dark"
        Lesions darker (ultrasound: hypoechoic) or brighter (mammography masses) than the rest.
    sigma : float, default=2.0
        Gaussian smoothing in pixels before thresholding (0: none).
    select : {"central", "largest", "darkest"}, default="central"
        Which component is the lesion (see the module docstring).
    opening : int, default=4
        Radius in pixels of the morphological opening.
    min_area : float, default=0.005
        Smallest lesion, as a share of the image.
    exclude_border : bool, default=True
        Components touching the image border are not lesions.

    See Also
    --------
    EdgeSegmenter, featbus.UNetSegmenter, featbus.AdaptiveThreshold

    References
    ----------
    Otsu N. A threshold selection method from gray-level histograms. IEEE Trans Syst Man
    Cybern 9(1):62-66, 1979. doi:10.1109/TSMC.1979.4310076.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((96, 96), 180, np.uint8); img[35:60, 30:65] = 40
    >>> seg = ThresholdSegmenter(method="otsu").fit([img])
    >>> mask = seg.predict_masks([img])[0]
    >>> mask.dtype, int(mask.sum()), bool(mask[45, 45])
    (dtype('bool'), 843, True)
    """

    _parameter_constraints = {
        "method": [StrOptions(set(_METHODS))],
        "block_size": [Interval(Integral, 3, None, closed="left")],
        "offset": [Real],
        "polarity": [StrOptions({"dark", "bright"})],
        **_COMMON_PARAMS,
    }

    def __init__(self, method="adaptive", *, block_size=101, offset=0.02, polarity="dark", sigma=2.0,
                 select="central", opening=4, min_area=0.005, exclude_border=True):
        self.method = method
        self.block_size = block_size
        self.offset = offset
        self.polarity = polarity
        self.sigma = sigma
        self.select = select
        self.opening = opening
        self.min_area = min_area
        self.exclude_border = exclude_border

    def _check_rules(self):
        if self.block_size % 2 == 0:
            raise ValueError(f"block_size must be an odd int >= 3, got {self.block_size!r}")

    def _candidates(self, image, smoothed):
        from skimage.filters import threshold_local, threshold_otsu

        if smoothed.max() <= smoothed.min():
            return np.zeros(smoothed.shape, bool)  # a flat image has nothing to separate
        if self.method == "otsu":
            t = threshold_otsu(smoothed)
            return smoothed < t if self.polarity == "dark" else smoothed > t
        local = threshold_local(smoothed, int(self.block_size), method="gaussian", offset=0, mode="reflect")
        off = float(self.offset)
        return smoothed < local - off if self.polarity == "dark" else smoothed > local + off


class EdgeSegmenter(_ClassicalSegmenter):
    """Lesion segmentation by edges: Canny edges, closed and filled.

    Stage 2 of the module's three (smoothing, candidates, one lesion): Canny edges of the
    image (``skimage.feature.canny`` with its own Gaussian of ``canny_sigma`` pixels, default
    hysteresis thresholds) are closed with a disk of ``closing`` pixels so that a lesion's
    broken outline becomes a closed curve, and the regions it encloses are filled: these are
    the candidates. Stage 3 keeps one of them (``select``; default the largest central one).
    Nothing is learned.

    Parameters
    ----------
    canny_sigma : float, default=3.0
        Smoothing of the Canny detector in pixels (larger: fewer, smoother edges).
    closing : int, default=3
        Radius in pixels of the disk that closes gaps in the edges.
    sigma : float, default=2.0
        Gaussian smoothing in pixels of the image the ``"darkest"`` rule reads (0: none).
    select : {"central", "largest", "darkest"}, default="central"
    opening : int, default=4
    min_area : float, default=0.005
    exclude_border : bool, default=True

    See Also
    --------
    ThresholdSegmenter, featbus.UNetSegmenter

    References
    ----------
    Canny J. A computational approach to edge detection. IEEE Trans Pattern Anal Mach Intell
    8(6):679-698, 1986. doi:10.1109/TPAMI.1986.4767851.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((96, 96), 180, np.uint8); img[35:60, 30:65] = 40
    >>> mask = EdgeSegmenter().fit([img]).predict_masks([img])[0]
    >>> mask.shape, bool(mask[45, 45]), bool(mask[5, 5])
    ((96, 96), True, False)
    """

    _parameter_constraints = {
        "canny_sigma": [Interval(Real, 0, None, closed="left")],
        "closing": [Interval(Integral, 0, None, closed="left")],
        **_COMMON_PARAMS,
    }

    def __init__(self, *, canny_sigma=3.0, closing=3, sigma=2.0, select="central", opening=4, min_area=0.005,
                 exclude_border=True):
        self.canny_sigma = canny_sigma
        self.closing = closing
        self.sigma = sigma
        self.select = select
        self.opening = opening
        self.min_area = min_area
        self.exclude_border = exclude_border

    def _candidates(self, image, smoothed):
        from skimage.feature import canny

        edges = canny(image, sigma=float(self.canny_sigma))
        if self.closing:
            edges = ndi.binary_closing(edges, _disk(self.closing))
        return ndi.binary_fill_holes(edges)
