"""Crop each image to its lesion: :func:`lesion_box`, :func:`crop_to_roi`, :class:`ROICropper`.

The region of interest (ROI) is the bounding box of the lesion mask grown by a margin on every
side. The mask comes from the ground truth the image carries (an :class:`~featbus.ImageRecord`
with a mask) or from a lesion segmenter such as :class:`featbus.UNetSegmenter`. Cropping before
feature extraction removes the surrounding tissue, which dominates whole-image texture
statistics, so that texture and shape features describe the lesion.

When no lesion is found (normal images, or a segmenter that predicts nothing) the behaviour is
chosen by ``on_empty`` and recorded in ``meta["roi_found"]``; :class:`RoiFoundFlag` turns the
flag into a feature column for a :class:`~sklearn.pipeline.FeatureUnion`, because "the segmenter
found no lesion" is itself informative.

A segmenter learnt the pixel size of its training images: :class:`ROICropper` brings every image
to the scale its segmenter was trained at (``input_scale="auto"``: featbus's shipped ``breast-us``
segmenter, 320 px on the longer side) before the segmenter and the crop see it, by the model's
one rule (:mod:`featbus.model.scale`), so a hospital's 960 px frame is cropped as its 320 px copy
is; the boxes it records are in the image as given.
"""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import Any

import cv2
import numpy as np
from scipy import ndimage as ndi
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .._base import BaseImagePreprocessor, _ImageInputMixin
from .._compat import HasMethods, Interval, StrOptions
from .._records import MIN_SIDE, ImageError, ImageRecord, check_images
from ..io import load_item
from ..model.runtime import RUNTIMES
from ..model.scale import box_as_given, part_longer_side, to_scale

__all__ = ["lesion_box", "center_box", "crop_to_roi", "largest_component", "predicted_lesion", "ROICropper",
           "RoiFoundFlag", "LesionProbability"]

_SOURCES = ("auto", "mask", "segmenter")
_ON_EMPTY = ("image", "center", "raise")

#: Share of each side kept by ``on_empty="center"`` (the middle half: lesions in ultrasound
#: frames sit near the centre far more often than at the edges).
CENTER_FRACTION = 0.5


def _grow(lo: int, hi: int, extra: float, min_len: int, n: int) -> tuple[int, int]:
    """Grow the half-open interval [lo, hi) by ``extra`` pixels per side, to ``min_len``, inside [0, n)."""
    length = min(n, max(int(np.ceil(hi - lo + 2 * extra)), min_len))
    start = int(np.floor((lo + hi - length) / 2))  # centred on the lesion
    start = min(max(start, 0), n - length)  # shift rather than shrink at an edge
    return start, start + length


def lesion_box(mask: np.ndarray, margin: float = 0.15, *, min_size: int = 32) -> tuple[int, int, int, int] | None:
    """Bounding box of a mask's nonzero pixels, grown by a margin, inside the image.

    Parameters
    ----------
    mask : ndarray of shape (h, w)
        Lesion mask; nonzero is lesion.
    margin : float
        Growth on each side as a fraction of the box's own height (rows) and width (columns):
        0.15 adds 15 % of the lesion's extent above, below, left and right.
    min_size : int
        Smallest side of the box in pixels (never larger than the image), so that a tiny lesion
        still gives a crop that texture features can use.

    Returns
    -------
    box : tuple (row0, row1, col0, col1) or None
        Half-open pixel bounds, ``image[row0:row1, col0:col1]``; ``None`` for an empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((100, 100), bool); m[40:60, 30:50] = True
    >>> lesion_box(m, 0.1, min_size=8)
    (38, 62, 28, 52)
    >>> lesion_box(np.zeros((10, 10), bool)) is None
    True
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    r0, r1 = _grow(r0, r1, margin * (r1 - r0), min_size, mask.shape[0])
    c0, c1 = _grow(c0, c1, margin * (c1 - c0), min_size, mask.shape[1])
    return int(r0), int(r1), int(c0), int(c1)


def center_box(shape: tuple[int, int], fraction: float = CENTER_FRACTION) -> tuple[int, int, int, int]:
    """The central box keeping ``fraction`` of each side.

    Examples
    --------
    >>> center_box((100, 80))
    (25, 75, 20, 60)
    """
    h, w = shape[:2]
    dh, dw = int(round(h * (1 - fraction) / 2)), int(round(w * (1 - fraction) / 2))
    return dh, h - dh, dw, w - dw


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep only the largest 8-connected component of a binary mask (empty stays empty).

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((8, 8), bool); m[0, 0] = True; m[4:7, 4:7] = True
    >>> int(largest_component(m).sum())
    9
    """
    mask = np.asarray(mask, bool)
    labels, n = ndi.label(mask, structure=np.ones((3, 3)))
    if n <= 1:
        return mask.copy()
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (int(np.argmax(sizes)) + 1)


def predicted_lesion(mask: np.ndarray, min_area: float = 0.001) -> np.ndarray:
    """The lesion a segmenter's mask stands for: its largest component, or nothing when that
    covers less than ``min_area`` of the image (speckle). What :class:`ROICropper` crops to.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((100, 100), bool); m[0, 0] = True; m[40:60, 40:60] = True
    >>> int(predicted_lesion(m).sum()), int(predicted_lesion(m, min_area=0.05).sum())
    (400, 0)
    """
    m = largest_component(np.asarray(mask) > 0)
    return np.zeros_like(m) if m.sum() < min_area * m.size else m


def _resize_pair(image: np.ndarray, mask: np.ndarray | None, size: tuple[int, int]):
    h, w = size
    shrink = image.shape[0] > h or image.shape[1] > w
    out = cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if mask is not None:
        mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return out.astype(image.dtype, copy=False), mask


def crop_to_roi(image: np.ndarray, mask: np.ndarray | None, *, margin: float = 0.15, on_empty: str = "image",
                output_size: int | tuple[int, int] | None = None, min_size: int = 32):
    """Crop one image to its lesion's box plus a margin.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    mask : ndarray of shape (h, w) or None
        Lesion mask; ``None`` or all-zero means "no lesion found".
    margin : float
        See :func:`lesion_box`.
    on_empty : {"image", "center", "raise"}
        Without a lesion: keep the whole image, keep the central box (:func:`center_box`, the
        middle half of each side), or raise ``ValueError``.
    output_size : int or (height, width), optional
        Resize the crop (area interpolation when shrinking, bilinear when enlarging; the mask
        nearest-neighbour). ``None`` keeps the crop's own size.
    min_size : int
        Smallest side of a lesion box in pixels.

    Returns
    -------
    crop : ndarray
        Same dtype as ``image``.
    crop_mask : ndarray of bool or None
        The mask cut the same way (``None`` when ``mask`` was ``None``).
    box : tuple (row0, row1, col0, col1)
        Where the crop came from, in the input image's pixels.
    found : bool
        Whether a lesion was found (False when ``on_empty`` decided the box).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.arange(100 * 100, dtype=np.uint16).reshape(100, 100)
    >>> m = np.zeros((100, 100), bool); m[40:60, 30:50] = True
    >>> crop, cm, box, found = crop_to_roi(img, m, margin=0.1, output_size=16, min_size=8)
    >>> crop.shape, crop.dtype.name, box, found
    ((16, 16), 'uint16', (38, 62, 28, 52), True)
    >>> crop_to_roi(img, None, on_empty="center")[2:]
    ((25, 75, 25, 75), False)
    """
    if on_empty not in _ON_EMPTY:
        raise ValueError(f"on_empty must be one of {_ON_EMPTY}, got {on_empty!r}")
    image = np.asarray(image)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask has shape {mask.shape} but the image has shape {image.shape[:2]}")
        mask = mask > 0 if mask.dtype != bool else mask
    box = None if mask is None else lesion_box(mask, margin, min_size=min_size)
    found = box is not None
    if not found:
        if on_empty == "raise":
            raise ValueError("no lesion found (empty mask) and on_empty='raise'")
        box = (0, image.shape[0], 0, image.shape[1]) if on_empty == "image" else center_box(image.shape)
    r0, r1, c0, c1 = box
    crop = image[r0:r1, c0:c1]
    crop_mask = None if mask is None else mask[r0:r1, c0:c1]
    if output_size is not None:
        size = (int(output_size), int(output_size)) if np.isscalar(output_size) else tuple(map(int, output_size))
        crop, crop_mask = _resize_pair(crop, crop_mask, size)
    return np.ascontiguousarray(crop), crop_mask, box, found


def _takes(segmenter, name: str) -> bool:
    """Whether a segmenter's ``predict_proba_maps`` takes the keyword ``name`` (a run's store,
    ``passes=``; the runtime, ``runtime=``), as scikit-learn's ``has_fit_parameter`` asks of ``fit``."""
    import inspect

    try:
        return name in inspect.signature(segmenter.predict_proba_maps).parameters
    except (TypeError, ValueError):
        return False


def _load_segmenter(path: str | os.PathLike):
    from .unet import UNetSegmenter

    return UNetSegmenter.load(path)


class ROICropper(BaseImagePreprocessor):
    """Crop every image to its lesion's bounding box plus a margin.

    Where the lesion comes from (``source``):

    * ``"mask"``: the ground-truth mask each image carries (:class:`~featbus.ImageRecord`; for
      several lesions, the box of their union). An image without a mask is an error.
    * ``"segmenter"``: the mask predicted by ``segmenter`` (its largest connected component;
      components smaller than ``min_area`` of the image count as no lesion), whether or not the
      image carries a ground-truth mask. Use this to *evaluate* a pipeline: test images then go
      through exactly what new, unannotated images will.
    * ``"auto"`` (default): the ground truth when the image carries a mask, the segmenter
      otherwise. Convenient for training on annotated data and predicting on new images, but in
      cross-validation on annotated data the test folds are then cropped from ground truth too,
      which is optimistic.

    When no lesion is found, ``on_empty`` decides: ``"image"`` keeps the whole image (default),
    ``"center"`` keeps the middle half of each side, ``"raise"`` raises an :class:`ImageError`
    naming the image. Either way ``meta["roi_found"]`` is ``False`` (use :class:`RoiFoundFlag`).

    The segmenter is frozen: a fitted segmenter (or :class:`sklearn.frozen.FrozenEstimator`
    around one) or the path of a file written by :meth:`UNetSegmenter.save` is used as is. An
    *unfitted* segmenter is cloned and trained in :meth:`fit` on ``X``'s masks, which is what
    happens inside ``GridSearchCV``/``cross_validate`` to a plain fitted segmenter too, because
    ``clone`` drops fitted state: to keep one pre-trained segmenter across folds (no retraining),
    pass ``FrozenEstimator(seg)`` or the saved file's path.

    Parameters
    ----------
    segmenter : UNetSegmenter, FrozenEstimator, str or path, default=None
        Anything with ``predict_masks(images) -> list of masks``, or a saved segmenter file.
    margin : float, default=0.15
        Growth of the box on each side, as a fraction of the lesion's height and width.
    source : {"auto", "mask", "segmenter"}, default="auto"
    on_empty : {"image", "center", "raise"}, default="image"
    output_size : int or (height, width), default=None
        Resize every crop to this size; ``None`` keeps crop sizes (they then vary).
    pass_mask : bool, default=True
        Output records carry the mask cut to the crop (ground truth or predicted, as used), so
        ``ShapeFeatures`` and ``region="mask"`` features work after the crop. ``False`` drops it.
    min_size : int, default=32
        Smallest crop side in pixels (tiny lesions still give a usable crop).
    min_area : float, default=0.001
        Predicted lesions covering less than this share of the image are ignored (speckle).
    input_scale : "auto", "native", None or int, default="auto"
        The scale every image is brought to before the segmenter and the crop see it
        (:func:`featbus.model.scale.to_scale`: shrunk by area averaging to that longer side, its
        mask by nearest neighbour; a smaller image kept at its stored size). ``"auto"``: the scale
        the segmenter was trained at when it records one (its ``trained_longer_side``: featbus's
        shipped ``"breast-us"`` segmenter, 320 px), else as given (a segmenter you trained, or no
        segmenter: ``source="mask"``); an int: that longer side in pixels (at least 16);
        ``"native"`` or ``None``: as given. The crops (and ``min_size``) are at that scale;
        ``meta["roi_box"]`` is in the image as given.
    runtime : {"auto", "litert", "keras"}, default="auto"
        What runs a :class:`~featbus.UNetSegmenter`'s network (:func:`featbus.model.runtime.frozen_forward`):
        LiteRT with XNNPACK where ``ai-edge-litert`` is installed (``"auto"``), else or when asked
        (``"keras"``) the Keras forward; its maps agree within
        :data:`featbus.model.runtime.RUNTIME_RTOL`.

    Attributes
    ----------
    segmenter_ : object or None
        The segmenter used by :meth:`transform` (loaded, trained or passed through).
    input_scale_ : int or None
        The longer side, in pixels, images are brought to (``input_scale`` resolved); ``None``: as given.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord, ROICropper
    >>> img = np.zeros((64, 64), np.uint8); img[20:40, 10:30] = 200
    >>> mask = img > 0
    >>> out = ROICropper(source="mask", margin=0.1).fit_transform([ImageRecord(img, mask)])
    >>> out[0].image.shape, out[0].meta["roi_box"], out[0].meta["roi_found"]
    ((32, 32), (14, 46, 4, 36), True)

    The same frame stored at twice the size, cropped at the scale of the first
    (``input_scale=64``; ``"auto"`` does this for featbus's shipped segmenter): the same crop, its
    box in the stored frame's pixels.

    >>> big = np.kron(img, np.ones((2, 2), np.uint8))
    >>> crop = ROICropper(source="mask", margin=0.1, input_scale=64).fit_transform([ImageRecord(big, big > 0)])[0]
    >>> crop.image.shape, crop.meta["roi_box"], crop.meta["frame_shape"]
    ((32, 32), (28, 92, 8, 72), (64, 64))
    """

    _changes_geometry = True

    def __init__(self, segmenter: Any = None, *, margin: float = 0.15, source: str = "auto", on_empty: str = "image",
                 output_size: int | tuple[int, int] | None = None, pass_mask: bool = True, min_size: int = 32,
                 min_area: float = 0.001, input_scale: int | str | None = "auto", runtime: str = "auto"):
        self.segmenter = segmenter
        self.margin = margin
        self.source = source
        self.on_empty = on_empty
        self.output_size = output_size
        self.pass_mask = pass_mask
        self.min_size = min_size
        self.min_area = min_area
        self.input_scale = input_scale
        self.runtime = runtime

    _parameter_constraints = {
        "segmenter": [None, str, os.PathLike, HasMethods(["predict_masks"])],
        "margin": [Interval(Real, 0, None, closed="left")],
        "source": [StrOptions(set(_SOURCES))],
        "on_empty": [StrOptions(set(_ON_EMPTY))],
        "output_size": [None, Interval(Integral, MIN_SIDE, None, closed="left"), tuple, list],
        "pass_mask": ["boolean"],
        "min_size": [Interval(Integral, MIN_SIDE, None, closed="left")],
        "min_area": [Interval(Real, 0, 1, closed="left")],
        "input_scale": [None, StrOptions({"auto", "native"}), Interval(Integral, 16, None, closed="left")],
        "runtime": [StrOptions(set(RUNTIMES))],
    }

    def _check_rules(self):
        if self.output_size is not None and not np.isscalar(self.output_size):
            size = list(self.output_size)
            if len(size) not in (1, 2) or any(not isinstance(s, (int, np.integer)) or s < MIN_SIDE for s in size):
                raise ValueError(f"output_size must be None, an int or (height, width) of ints >= {MIN_SIDE}, "
                                 f"got {self.output_size!r}")
        if self.source == "segmenter" and self.segmenter is None:
            raise ValueError("source='segmenter' needs a segmenter")

    @staticmethod
    def _is_fitted(seg) -> bool:
        try:
            check_is_fitted(seg)
            return True
        except (NotFittedError, TypeError):
            return False

    def fit(self, X, y=None):
        """Check parameters and resolve the segmenter (load it, or train a clone of an unfitted one).

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord
            With an unfitted segmenter, records carrying masks to train it on.
        y : ignored

        Returns
        -------
        self
        """
        super().fit(X, y)
        seg = self.segmenter
        if seg is None:
            self.segmenter_ = None
        elif isinstance(seg, (str, os.PathLike)):
            self.segmenter_ = _load_segmenter(seg)
        elif self._is_fitted(seg):
            self.segmenter_ = seg  # frozen: shared, never refitted
        elif self.source == "mask":
            self.segmenter_ = None  # never used
        else:
            self.segmenter_ = clone(seg).fit(X)
        self.input_scale_ = self._longer_side()
        return self

    def _longer_side(self) -> int | None:
        """``input_scale`` resolved: ``"auto"`` asks the segmenter that draws the lesions (none with
        ``source="mask"``) for the scale it was trained at."""
        seg = getattr(self, "segmenter_", None) if self.source != "mask" else None
        return part_longer_side(self.input_scale, seg)

    def __setstate__(self, state):
        # a cropper pickled before featbus knew the scale saw its images as given: it still does
        state = dict(state)
        state.setdefault("input_scale", None)
        state.setdefault("runtime", "auto")  # pickled before the runtime choice: the fastest one present
        if "segmenter_" in state:
            state.setdefault("input_scale_", None)
        super().__setstate__(state)

    def _resolve_segmenter(self):
        if self.segmenter is None:
            return None
        if not hasattr(self, "segmenter_"):
            raise NotFittedError("This ROICropper has a segmenter and is not fitted yet: call fit() first "
                                 "(it loads a saved segmenter, keeps a fitted one, or trains a clone of an "
                                 "unfitted one on the images' masks)")
        return self.segmenter_

    def _needs_mask(self) -> bool:
        """Whether every image must carry a mask (no segmenter to fall back on)."""
        return self.source == "mask" or self.segmenter is None

    def transform(self, X, *, passes=None) -> list[ImageRecord]:
        """Crop every image.

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord
        passes : featbus.model.runtime.SharedPasses, optional
            A run's store, handed on to a segmenter whose ``predict_proba_maps`` takes one (a
            :class:`~featbus.UNetSegmenter`): an image's map is computed once per run.

        Returns
        -------
        records : list of ImageRecord
            Always records (also for array input), with ``meta["roi_found"]`` (bool),
            ``meta["roi_box"]`` ``(row0, row1, col0, col1)`` in the input image (as given, whatever
            ``input_scale`` resized), ``meta["frame_shape"]`` (the ``(height, width)`` of the frame
            whose pixels the crop holds, after ``input_scale``; ``None`` when ``output_size`` resized
            the crop), ``meta["roi_source"]`` (``"mask"``, ``"segmenter"`` or ``"none"``), the cropped
            mask when ``pass_mask`` and, where a :class:`~featbus.UNetSegmenter` drew the mask,
            ``meta["lesion_probability"]`` (its :meth:`~featbus.UNetSegmenter.presence_from_maps`
            from the same pass).
        """
        self._check_params()
        items = check_images(X)
        given = [load_item(item, i) for i, item in enumerate(items)]
        side = self.input_scale_ if hasattr(self, "input_scale_") else self._longer_side()
        records = []  # the images at the scale the segmenter learnt (the same objects when unchanged)
        for rec in given:  # load_item refused a mask of another shape than its image, naming it
            image, mask = to_scale(rec.image, rec.mask, side)
            records.append(rec if image is rec.image else rec.with_image(image, mask))
        use_gt = []
        for i, rec in enumerate(records):
            if self.source == "mask" or (self.source == "auto" and rec.mask is not None):
                if rec.mask is None:
                    raise ImageError("has no lesion mask but ROICropper(source='mask') needs one: pass "
                                     "ImageRecord(image, mask) items or use a segmenter", i, rec.path)
                use_gt.append(True)
            else:
                use_gt.append(False)
        need = [i for i, g in enumerate(use_gt) if not g]
        predicted: dict[int, np.ndarray] = {}
        presence: dict[int, float] = {}
        seg = self._resolve_segmenter()
        if need:
            if seg is None:
                i = need[0]
                raise ImageError("has no lesion mask and ROICropper has no segmenter: pass a segmenter or "
                                 "ImageRecord(image, mask) items", i, records[i].path)
            todo = [records[i] for i in need]
            if all(hasattr(seg, a) for a in ("predict_proba_maps", "masks_from_maps", "presence_from_maps")):
                # one network pass gives the masks and each image's lesion probability
                kw = {"passes": passes} if passes is not None and _takes(seg, "passes") else {}
                if _takes(seg, "runtime"):
                    kw["runtime"] = getattr(self, "runtime", "auto")
                maps = seg.predict_proba_maps(todo, **kw)
                masks = seg.masks_from_maps(maps)
                presence.update(zip(need, np.asarray(seg.presence_from_maps(maps), dtype=float).tolist()))
            else:
                masks = seg.predict_masks(todo)
            for i, m in zip(need, masks):
                predicted[i] = predicted_lesion(m, self.min_area)
        out = []
        size = self.output_size
        for i, rec in enumerate(records):
            mask = rec.mask if use_gt[i] else predicted[i]
            try:
                crop, crop_mask, box, found = crop_to_roi(rec.image, mask, margin=float(self.margin),
                                                          on_empty=self.on_empty, output_size=size,
                                                          min_size=int(self.min_size))
            except ValueError as exc:
                raise ImageError(str(exc), i, rec.path) from exc
            if rec is not given[i]:  # the box in the image as given
                box = box_as_given(box, rec.image.shape[:2], given[i].image.shape[:2])
            meta = dict(rec.meta)
            meta.update(roi_found=bool(found), roi_box=tuple(box),
                        frame_shape=None if size is not None else tuple(int(s) for s in rec.image.shape[:2]),
                        roi_source=("mask" if use_gt[i] else "segmenter") if found else "none")
            if i in presence:
                meta["lesion_probability"] = presence[i]
            out.append(ImageRecord(crop, crop_mask if self.pass_mask else None, rec.path, meta))
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = self.segmenter is not None
        return tags


class _CropMetaColumn(_ImageInputMixin, TransformerMixin, BaseEstimator):
    """One feature column read from the records an :class:`ROICropper` wrote (``_column``, each
    record's value from :meth:`_value`): nothing to learn, records in, one name out."""

    _column = ""

    def fit(self, X, y=None):
        """Nothing to learn; checks the input.

        Returns
        -------
        self
        """
        self.transform(X)
        self.n_features_out_ = 1
        return self

    def _value(self, meta: dict, i: int, rec) -> float:
        raise NotImplementedError

    def transform(self, X) -> np.ndarray:
        """Read every record's value (see the class).

        Returns
        -------
        column : ndarray of shape (n_images, 1)
        """
        items = check_images(X)
        out = np.empty((len(items), 1))
        for i, rec in enumerate(items):
            out[i, 0] = self._value(rec.meta if isinstance(rec, ImageRecord) else {}, i, rec)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The column's one name."""
        return np.asarray([self._column], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()  # images in (featbus's input tags), no mask needed
        tags.input_tags.records = True  # reads the crop's meta: records from an ROICropper
        tags.requires_fit = False
        return tags


class RoiFoundFlag(_CropMetaColumn):
    """One feature column: 1.0 when :class:`ROICropper` found a lesion in the image, else 0.0.

    Put it beside the image features in a :class:`~sklearn.pipeline.FeatureUnion` after an
    ``ROICropper``: an image in which the segmenter finds no lesion is most likely normal.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord
    >>> from featbus.segmentation.roi import RoiFoundFlag
    >>> recs = [ImageRecord(np.zeros((8, 8)), meta={"roi_found": True}),
    ...         ImageRecord(np.zeros((8, 8)), meta={"roi_found": False})]
    >>> RoiFoundFlag().fit_transform(recs).ravel().tolist()
    [1.0, 0.0]
    """

    _column = "roi_found"

    def _value(self, meta: dict, i: int, rec) -> float:
        if "roi_found" not in meta:
            raise ImageError("has no meta['roi_found']: put RoiFoundFlag after an ROICropper", i,
                             getattr(rec, "path", None))
        return float(bool(meta["roi_found"]))


class LesionProbability(_CropMetaColumn):
    """One feature column: the probability that the image holds a lesion, from :class:`ROICropper`.

    The segmenter's lesion probability of the whole image
    (:meth:`~featbus.UNetSegmenter.presence_from_maps`, from the pass that drew the crop's mask,
    ``meta["lesion_probability"]``). Where the crop came from a ground-truth mask instead, it is
    1.0 when that mask holds a lesion and 0.0 when it is empty (the truth is certain). This is the
    first score of a two-decision model (:class:`featbus.pipelines.LesionThenMalignancy`), which
    ``train_model(two_decisions=True)`` puts in the feature union.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord
    >>> from featbus.segmentation.roi import LesionProbability
    >>> recs = [ImageRecord(np.zeros((8, 8)), meta={"roi_found": True, "lesion_probability": 0.83}),
    ...         ImageRecord(np.zeros((8, 8)), meta={"roi_found": False, "roi_source": "none"})]
    >>> LesionProbability().fit_transform(recs).ravel().tolist()
    [0.83, 0.0]
    """

    _column = "lesion_probability"

    def _value(self, meta: dict, i: int, rec) -> float:
        if "lesion_probability" in meta:
            return float(meta["lesion_probability"])
        if "roi_found" in meta and meta.get("roi_source") != "segmenter":  # a ground-truth mask, or none
            return float(bool(meta["roi_found"]))
        raise ImageError("has no lesion probability: put LesionProbability after an ROICropper whose "
                         "segmenter gives probability maps (a UNetSegmenter)", i, getattr(rec, "path", None))
