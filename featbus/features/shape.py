"""Shape and margin features of the lesion mask (BI-RADS shape, orientation and margin)."""

from __future__ import annotations

from numbers import Real

import cv2
import numpy as np
from scipy import ndimage
from skimage.measure import perimeter as _perimeter
from skimage.measure import regionprops

from .._base import BaseFeatureExtractor
from .._compat import Interval, StrOptions, validate_params
from .._docs import fill_doc

__all__ = ["shape_features", "shape_feature_names", "ShapeFeatures", "SHAPE_FEATURES"]

#: Output order of :func:`shape_features` (names without the ``shape.`` prefix).
SHAPE_FEATURES = (
    "has_lesion", "n_components", "area", "area_fraction", "perimeter", "circularity", "solidity",
    "convexity", "eccentricity", "orientation", "major_axis", "minor_axis", "extent",
    "taller_than_wide", "nrl_mean", "nrl_std", "roughness", "n_concavities",
)
_EMPTY = ("zeros", "raise")
_N_RADIAL = 256  # contour resampled to this many points: roughness does not depend on resolution


def shape_feature_names() -> list[str]:
    """Names ``shape.<feature>`` in output order.

    Examples
    --------
    >>> shape_feature_names()[:3]
    ['shape.has_lesion', 'shape.n_components', 'shape.area']
    """
    return [f"shape.{n}" for n in SHAPE_FEATURES]


def _largest_contour(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(contours, key=lambda c: (cv2.contourArea(c), len(c)))


def _resample_closed(points: np.ndarray, n: int) -> np.ndarray:
    """``n`` points equally spaced by arc length along a closed polygon."""
    closed = np.vstack([points, points[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], n, endpoint=False)
    return np.column_stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])])


def _count_concavities(contour: np.ndarray, min_depth: float) -> int:
    if len(contour) < 4:
        return 0
    hull = cv2.convexHull(contour, returnPoints=False)
    if hull is None or len(hull) < 3:
        return 0
    try:
        defects = cv2.convexityDefects(contour, hull)
    except cv2.error:
        # OpenCV rejects hulls whose indices are not monotonic (rare, self-touching contours);
        # sorted indices describe the same hull.
        try:
            defects = cv2.convexityDefects(contour, np.sort(hull, axis=0)[::-1].copy())
        except cv2.error:
            return 0
    if defects is None:
        return 0
    # OpenCV stores the depth as fixed point, 8 fractional bits
    depth = np.asarray(defects).reshape(-1, 4)[:, 3] / 256.0
    return int(np.count_nonzero(depth >= min_depth))


@validate_params({"mask": ["array-like"], "empty": [StrOptions(set(_EMPTY))],
                  "concavity_depth": [Interval(Real, 0, None, closed="neither")]},
                 prefer_skip_nested_validation=True)
def shape_features(mask: np.ndarray, *, empty: str = "zeros", concavity_depth: float = 0.1) -> np.ndarray:
    """Shape, orientation and margin descriptors of a lesion mask.

    Several lesions (several connected components) are taken as one lesion, their union:
    areas and the perimeter add up, the convex hull and the moments are those of the union.
    The radial profile and the concavities use the outer contour of the largest component.

    In output order (``SHAPE_FEATURES``):

    * ``has_lesion``: 1, or 0 for an empty mask;
    * ``n_components``: connected lesion regions (8-connectivity);
    * ``area`` (pixels), ``area_fraction`` (of the image);
    * ``perimeter``: :func:`skimage.measure.perimeter` (pixels);
    * ``circularity``: ``4 pi area / perimeter**2`` (1 for a disc; clipped to 1 because
      digital perimeters of tiny or thin regions are underestimated);
    * ``solidity``: area / convex-hull area; ``convexity``: hull perimeter / perimeter
      (both 1 for a convex shape, lower for lobulated or spiculated margins);
    * ``eccentricity``, ``orientation`` (radians in ``[-pi/2, pi/2]``, angle between the
      rows axis and the major axis, as :func:`skimage.measure.regionprops`), ``major_axis``,
      ``minor_axis`` (pixels, of the ellipse with the same second moments);
    * ``extent``: area / bounding-box area;
    * ``taller_than_wide``: bounding-box height / width, i.e. depth / width on an
      ultrasound image; above 1 is the BI-RADS "not parallel" orientation, a malignancy sign;
    * ``nrl_mean``, ``nrl_std``: mean and std of the normalised radial length (distance from
      the centroid to 256 contour points equally spaced by arc length, divided by its
      maximum); ``roughness``: mean absolute difference of successive normalised radial
      lengths (Chen et al. 2003), high for spiculated or microlobulated margins;
    * ``n_concavities``: convexity defects of the contour deeper than ``concavity_depth``
      times the equivalent-disc radius (lobulations).

    Parameters
    ----------
    mask : ndarray of shape (h, w)
        Lesion mask (nonzero = lesion).
    empty : {"zeros", "raise"}, default="zeros"
        An empty mask (a normal image) gives ``has_lesion = 0`` and every other feature 0, or
        raises ``ValueError``.
    concavity_depth : float, default=0.1
        Minimum depth of a counted concavity, as a fraction of the equivalent-disc radius.

    Returns
    -------
    features : ndarray of shape (18,)

    References
    ----------
    American College of Radiology. ACR BI-RADS Atlas, Ultrasound lexicon (shape, orientation,
    margin), 5th ed., 2013. Chen CM et al. Breast lesions on sonograms:
    computer-aided diagnosis with nearly setting-independent features and artificial neural
    networks. Radiology 226(2):504-514, 2003. Huang YL et al. Computer-aided diagnosis using
    morphological features for classifying breast lesions on ultrasound. Ultrasound Obstet
    Gynecol 32(4):565-572, 2008.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:64, :64]
    >>> disc = (yy - 32) ** 2 + (xx - 32) ** 2 <= 15 ** 2
    >>> f = dict(zip(shape_feature_names(), shape_features(disc)))
    >>> [round(float(f[k]), 2) for k in ("shape.solidity", "shape.taller_than_wide", "shape.n_concavities")]
    [0.96, 1.0, 0.0]
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    mask = mask > 0 if mask.dtype != bool else mask
    if not mask.any():
        if empty == "raise":
            raise ValueError("has an empty lesion mask (empty='raise'); normal images have no shape")
        return np.zeros(len(SHAPE_FEATURES))
    _, n_components = ndimage.label(mask, structure=np.ones((3, 3)))
    props = regionprops(mask.astype(np.uint8))[0]  # one label: the union of all lesions
    area = float(props.area)
    perim = float(_perimeter(mask))
    hull = props.image_convex
    hull_perim = float(_perimeter(hull))
    circularity = min(1.0, 4 * np.pi * area / perim ** 2) if perim > 0 else 1.0
    convexity = hull_perim / perim if perim > 0 else 1.0
    r0, c0, r1, c1 = props.bbox
    taller = (r1 - r0) / (c1 - c0)

    contour = _largest_contour(mask)
    pts = contour[:, 0, :].astype(np.float64)  # (x, y)
    m = cv2.moments(contour)
    if len(pts) >= 3 and m["m00"] > 0:
        center = np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]])
        radial = np.hypot(*(_resample_closed(pts, _N_RADIAL) - center).T)
    else:  # a line or a single pixel: no area inside the contour
        radial = np.zeros(1)
    nrl = radial / radial.max() if radial.max() > 0 else np.ones_like(radial)
    roughness = float(np.mean(np.abs(np.diff(np.append(nrl, nrl[0]))))) if nrl.size > 1 else 0.0
    eq_radius = np.sqrt(area / np.pi)
    n_conc = _count_concavities(contour, max(1.0, concavity_depth * eq_radius))

    return np.array([
        1.0, n_components, area, area / mask.size, perim, circularity, props.solidity, convexity,
        props.eccentricity, props.orientation, props.axis_major_length, props.axis_minor_length,
        props.extent, taller, nrl.mean(), nrl.std(), roughness, n_conc,
    ], dtype=np.float64)


@fill_doc
class ShapeFeatures(BaseFeatureExtractor):
    """Lesion-mask shape, orientation and margin descriptors as a transformer.

    Always uses the mask (every item must be an :class:`~featbus.ImageRecord` with a mask;
    an image without one raises an error naming it), never the pixels. 18 columns named
    ``shape.<feature>`` (see :func:`shape_features` for definitions): has_lesion,
    n_components, area, area_fraction, perimeter, circularity, solidity, convexity,
    eccentricity, orientation, major_axis, minor_axis, extent, taller_than_wide (depth/width;
    BI-RADS "not parallel" when > 1), nrl_mean, nrl_std, roughness, n_concavities. Several
    lesions in one mask are taken as their union.

    Parameters
    ----------
    empty : {"zeros", "raise"}, default="zeros"
        Empty mask (normal image): ``has_lesion = 0`` and all other columns 0, or an error.
    concavity_depth : float, default=0.1
        Minimum concavity depth counted by ``n_concavities`` (fraction of the
        equivalent-disc radius).
    %(n_jobs)s
    %(cache)s
    %(progress)s

    See Also
    --------
    shape_features : the function for one mask.

    Notes
    -----
    On a data set's own ground-truth masks these columns can encode the label: BUSI's normal
    images have empty masks, so ``has_lesion``, ``area`` and every other column is 0 exactly
    for them, and any one of them tells normal from lesion. A classifier scored on them is
    optimistic (a new image comes without a mask; give it a segmenter's). So ``featbus
    extract`` leaves this family out of its default table and, asked for it, marks its
    columns as ``label_leak`` in the table and its sidecar, with a warning, and
    :meth:`featbus.evaluation.Report.summary` says "OPTIMISTIC" when a pipeline with it was
    evaluated on the data set's masks.

    References
    ----------
    ACR BI-RADS Atlas, Ultrasound lexicon, 5th ed., 2013. Chen CM et al., Radiology
    226(2):504-514, 2003. Huang YL et al., Ultrasound Obstet Gynecol 32(4):565-572, 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord
    >>> img = np.zeros((32, 32), np.uint8)
    >>> mask = np.zeros((32, 32), bool); mask[8:20, 4:28] = True
    >>> X = [ImageRecord(img, mask), ImageRecord(img, np.zeros_like(mask))]
    >>> Z = ShapeFeatures().fit_transform(X)
    >>> Z[:, 0].tolist(), float(Z[0, 2])
    ([1.0, 0.0], 288.0)
    """

    _prefix = "shape"
    _uses_mask = True

    _parameter_constraints = {**BaseFeatureExtractor._parameter_constraints,
                              "empty": [StrOptions(set(_EMPTY))],
                              "concavity_depth": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, empty="zeros", *, concavity_depth=0.1, n_jobs=None, cache=None, progress="auto"):
        self.empty = empty
        self.concavity_depth = concavity_depth
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _fit_features(self, items: list) -> list[str]:
        return shape_feature_names()

    def _features(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return shape_features(mask, empty=self.empty, concavity_depth=self.concavity_depth)
