"""The one base for image transformers: the image record, input checks, the per-image map.

Every featbus transformer takes ``X`` as a sequence of images, in any of these forms:

* a list (or tuple) of 2-D ``numpy`` arrays of any sizes, or a 3-D array ``(n, h, w)``;
* a list of :class:`ImageRecord` (pixels plus an optional lesion mask, path and metadata),
  which is what ``Bunch.data`` of the featbus data sets holds, so that masks travel beside
  the images through a :class:`~sklearn.pipeline.Pipeline`;
* a list of file paths (``str`` or :class:`os.PathLike`), read one at a time where the work is
  done, so memory stays bounded on any number of files.

Images are 2-D grayscale inside featbus. Colour input is converted at the door: RGB with
luminance weights (ITU-R BT.601, the weights of PIL's ``"L"`` mode), exactly when the three
channels are equal; RGBA is composited over black first (transparent pixels are background).
Integer images keep their dtype (``uint8``, ``uint16``); float images must be finite. Feature
functions see ``float32`` in ``[0, 1]`` (:func:`to_float`): integers are divided by their dtype's
maximum, floats must already lie in ``[0, 1]``.

Errors about one image name it by index and, where known, path (:class:`ImageError`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from numbers import Integral
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import InputTags
from sklearn.utils._param_validation import HasMethods, Options, StrOptions
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "ImageRecord",
    "ImageError",
    "check_images",
    "load_item",
    "to_gray",
    "to_float",
    "map_images",
    "BaseFeatureExtractor",
    "BaseImagePreprocessor",
]

#: Smallest image side featbus accepts for feature extraction: below it no texture exists.
MIN_SIDE = 8


class ImageError(ValueError):
    """A problem with one image of a batch; the message names its index and path.

    Attributes
    ----------
    index : int or None
        Position of the image in ``X``.
    path : str or None
        File the image came from, when known.
    """

    def __init__(self, message: str, index: int | None = None, path: str | None = None):
        self.index = index
        self.path = path
        self.reason = message
        super().__init__(f"{describe(index, path)}: {message}" if (index is not None or path) else message)

    def __reduce__(self):  # keep index/path when the error crosses a joblib worker boundary
        return (type(self), (self.reason, self.index, self.path))


def describe(index: int | None, path: str | os.PathLike | None) -> str:
    """Name an item for an error message: ``image 3 ('a/b.png')``."""
    parts = []
    if index is not None:
        parts.append(f"image {index}")
    if path is not None:
        parts.append(f"({str(path)!r})" if parts else f"{str(path)!r}")
    return " ".join(parts) if parts else "image"


@dataclass
class ImageRecord:
    """One image with what travels beside it through a pipeline.

    Parameters
    ----------
    image : ndarray
        The pixels, a 2-D array (colour is converted to gray by :func:`check_images`).
    mask : ndarray of bool, optional
        Lesion mask of the same shape as ``image``; all ``False`` means "no lesion".
        ``None`` means "no mask known" (all a user has at prediction time).
    path : str, optional
        The file the image was read from.
    meta : dict
        Anything else (class name, patient id, ...). Transformers copy it along.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord
    >>> rec = ImageRecord(np.zeros((32, 32), np.uint8), mask=np.zeros((32, 32), bool))
    >>> rec.has_mask
    True
    """

    image: np.ndarray
    mask: np.ndarray | None = None
    path: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def has_mask(self) -> bool:
        return self.mask is not None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.image))

    def with_image(self, image: np.ndarray, mask: np.ndarray | None | str = "keep") -> ImageRecord:
        """Copy of this record with new pixels (and mask, unless ``mask="keep"``)."""
        return replace(self, image=image, mask=self.mask if isinstance(mask, str) else mask,
                       meta=dict(self.meta))


_PathLike = (str, os.PathLike)


def check_images(X: Any, *, name: str = "X") -> list:
    """Validate the container of a batch of images without reading any pixels.

    Parameters
    ----------
    X : sequence of arrays, ImageRecord or paths, or ndarray of shape (n, h, w) or (n, h, w, c)
        The batch.
    name : str
        Name used in error messages.

    Returns
    -------
    items : list
        One entry per image: ``ndarray``, :class:`ImageRecord` or path, unchanged.

    Raises
    ------
    ValueError
        If ``X`` is empty, is a single 2-D array (ambiguous: one image or a feature matrix?),
        or holds an entry that is none of the accepted kinds (the error names its index).
    """
    if isinstance(X, np.ndarray):
        if X.ndim == 2:
            raise ValueError(
                f"{name} is a single 2-D array of shape {X.shape}. featbus takes a sequence of "
                "images: pass [image] for one image, or a 3-D array (n_images, height, width)."
            )
        if X.ndim not in (3, 4) or X.dtype == object:
            if X.dtype == object and X.ndim == 1:
                X = list(X)
            else:
                raise ValueError(
                    f"{name} has shape {X.shape}; expected a list of images or an array of shape "
                    "(n_images, height, width[, channels])."
                )
        else:
            X = list(X)
    elif hasattr(X, "iloc") and hasattr(X, "to_list"):  # pandas Series of images / paths
        X = X.to_list()
    elif isinstance(X, (_PathLike)) or isinstance(X, ImageRecord):
        raise ValueError(f"{name} is a single {type(X).__name__}; pass a list of images, e.g. [{name}].")
    elif not isinstance(X, (list, tuple)):
        try:
            X = list(X)
        except TypeError:
            raise ValueError(f"{name} must be a sequence of images, got {type(X).__name__}.") from None
    else:
        X = list(X)
    if len(X) == 0:
        raise ValueError(f"{name} holds no images (0 samples); at least one is required.")
    for i, item in enumerate(X):
        if not isinstance(item, (np.ndarray, ImageRecord, *_PathLike)):
            if hasattr(item, "__array__") and not isinstance(item, (str, bytes)):
                continue  # array-likes (PIL images, nested lists) are converted in load_item
            raise ValueError(
                f"{name}[{i}] is a {type(item).__name__}; expected an image array, an ImageRecord "
                "or a file path."
            )
    return X


def to_gray(image: np.ndarray, *, index: int | None = None, path: str | None = None) -> np.ndarray:
    """Convert an image to 2-D grayscale, keeping its dtype.

    RGB uses BT.601 luminance weights (0.299, 0.587, 0.114) and is exact when the channels are
    equal; RGBA is composited over black; a single channel axis is dropped.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.dstack([np.full((4, 4), 100, np.uint8)] * 3)
    >>> int(to_gray(rgb)[0, 0])
    100
    """
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[-1] == 1:
        return image[..., 0]
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ImageError(
            f"has shape {image.shape}; expected (height, width) or (height, width, 3|4)", index, path
        )
    dtype = image.dtype
    if image.shape[-1] == 4:
        alpha = image[..., 3].astype(np.float32)
        amax = float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0
        rgb = image[..., :3].astype(np.float32) * (alpha[..., None] / amax)
    else:
        if np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2]):
            return np.ascontiguousarray(image[..., 0])
        rgb = image.astype(np.float32)
    gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(gray), info.min, info.max).astype(dtype)
    return gray.astype(dtype if dtype.kind == "f" else np.float32)


def check_image(image: Any, *, index: int | None = None, path: str | None = None,
                min_side: int = MIN_SIDE) -> np.ndarray:
    """Validate one image and return it as a 2-D array (gray, dtype kept).

    Raises :class:`ImageError` naming the image for: wrong number of dimensions, a side shorter
    than ``min_side``, a boolean or complex dtype, NaN or infinite values.
    """
    try:
        image = np.asarray(image)
    except Exception as exc:  # pragma: no cover - exotic array-likes
        raise ImageError(f"cannot be converted to an array ({exc})", index, path) from exc
    if image.dtype == bool or image.dtype.kind not in "uif":
        raise ImageError(f"has dtype {image.dtype}; expected an integer or float image", index, path)
    image = to_gray(image, index=index, path=path)
    if min(image.shape) < min_side:
        raise ImageError(
            f"is {image.shape[0]}x{image.shape[1]} pixels; featbus needs at least "
            f"{min_side}x{min_side}", index, path
        )
    if image.dtype.kind == "f" and not np.all(np.isfinite(image)):
        n_bad = int(np.size(image) - np.count_nonzero(np.isfinite(image)))
        raise ImageError(f"has {n_bad} NaN or infinite pixel(s)", index, path)
    return image


def check_mask(mask: Any, shape: tuple[int, int], *, index: int | None = None,
               path: str | None = None) -> np.ndarray:
    """Validate a lesion mask against its image's shape; return it as ``bool``."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.any(axis=-1) if mask.shape[-1] in (3, 4) else mask
    if mask.shape != tuple(shape):
        raise ImageError(f"mask has shape {mask.shape} but the image has shape {tuple(shape)}", index, path)
    if mask.dtype.kind == "f" and not np.all(np.isfinite(mask)):
        raise ImageError("mask has NaN values", index, path)
    return mask > 0 if mask.dtype != bool else mask


def mask_bbox(mask: np.ndarray) -> tuple[slice, slice]:
    """Row and column slices of the bounding box of a non-empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((5, 6), bool); m[1:3, 2:5] = True
    >>> mask_bbox(m)
    (slice(1, 3, None), slice(2, 5, None))
    """
    rows, cols = np.nonzero(mask)
    return slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1)


def _read_indexed(path, index: int | None) -> np.ndarray:
    """Read a file; a read error gets the item's index added to its message."""
    from .io import read_image

    try:
        return read_image(path)
    except ImageError as exc:
        if exc.index is not None or index is None:
            raise
        raise ImageError(exc.reason, index, exc.path or str(path)) from exc
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{describe(index, None)}: {exc}") from exc


def load_item(item: Any, index: int | None = None, *, min_side: int = MIN_SIDE) -> ImageRecord:
    """Turn one entry of ``X`` into a validated :class:`ImageRecord` (reads files)."""
    if isinstance(item, ImageRecord):
        image = item.image
        path = item.path
        if isinstance(image, _PathLike):
            path = path or str(image)
            image = _read_indexed(image, index)
        image = check_image(image, index=index, path=path, min_side=min_side)
        mask = None if item.mask is None else check_mask(item.mask, image.shape, index=index, path=path)
        return ImageRecord(image, mask, path, dict(item.meta))
    if isinstance(item, _PathLike):
        image = _read_indexed(item, index)
        return ImageRecord(check_image(image, index=index, path=str(item), min_side=min_side), None, str(item))
    return ImageRecord(check_image(item, index=index, min_side=min_side))


def to_float(image: np.ndarray, *, index: int | None = None, path: str | None = None) -> np.ndarray:
    """Scale an image to ``float32`` in ``[0, 1]``.

    Integer images are divided by their dtype's maximum (255 for ``uint8``, 65535 for
    ``uint16``; ``int8``/``int16`` likewise, and must not be negative); float images must
    already lie in ``[0, 1]`` (small rounding is clipped), otherwise an :class:`ImageError`
    says so and points to :class:`featbus.Normalize`.

    Integers wider than 16 bits (``int32``, ``int64``, ``uint32``, ``uint64``) raise an
    :class:`ImageError` asking for a cast: their dtype says nothing about the white level
    (an ``int64`` copy of an 8-bit image divided by ``2**63 - 1`` would come out black), and
    guessing it from each image's values would scale two images of one data set differently.

    Examples
    --------
    >>> import numpy as np
    >>> to_float(np.array([[0, 255]], np.uint8)).tolist()
    [[0.0, 1.0]]
    """
    image = np.asarray(image)
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        if image.dtype.itemsize > 2:
            rng = f"values in [{image.min()}, {image.max()}]" if image.size else "no values"
            raise ImageError(
                f"has dtype {image.dtype} ({rng}), which says nothing about its white level; cast it: "
                "image.astype(np.uint8) for 8-bit values (0..255), image.astype(np.uint16) for "
                "16-bit ones (0..65535), or rescale each image with featbus.Normalize", index, path)
        if info.min < 0:
            if image.min() < 0:
                raise ImageError("has negative pixel values; rescale it with featbus.Normalize", index, path)
        return (image.astype(np.float32) / np.float32(info.max)).astype(np.float32)
    image = image.astype(np.float32, copy=False)
    lo, hi = float(image.min()), float(image.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ImageError(
            f"is a float image with values in [{lo:g}, {hi:g}]; float images must lie in [0, 1]. "
            "Divide by the maximum or use featbus.Normalize", index, path
        )
    return np.clip(image, 0.0, 1.0)


def _run_chunk(func: Callable, chunk: Sequence[tuple[int, Any]]) -> list:
    return [func(item, i) for i, item in chunk]


def map_images(func: Callable[[Any, int], Any], items: Sequence, n_jobs: int | None = None,
               *, backend: str | None = None) -> list:
    """Apply ``func(item, index)`` to every item, in order, optionally in parallel.

    Work is sent to joblib in a few chunks per worker rather than one task per image, so the
    parallel overhead stays small for cheap per-image functions.
    """
    indexed = list(enumerate(items))
    n_workers = effective_n_jobs(n_jobs) if n_jobs not in (None, 1) else 1
    if n_workers == 1 or len(indexed) < 2:
        return [func(item, i) for i, item in indexed]
    n_chunks = min(len(indexed), 4 * n_workers)
    bounds = np.linspace(0, len(indexed), n_chunks + 1).astype(int)
    chunks = [indexed[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    results = Parallel(n_jobs=n_workers, backend=backend)(delayed(_run_chunk)(func, c) for c in chunks)
    return [r for chunk in results for r in chunk]


@dataclass(slots=True)
class ImageInputTags(InputTags):
    """scikit-learn input tags plus what featbus estimators take.

    Parameters
    ----------
    images : bool, default=True
        The estimator takes a sequence of images (arrays, :class:`ImageRecord` or paths).
    masks : bool, default=False
        Every image must come with a lesion mask (an :class:`ImageRecord` whose ``mask`` is
        set): shape features, ``region="mask"`` or ``"bbox"``, ROI crops from ground truth.
    """

    images: bool = True
    masks: bool = False


class _ImageInputMixin:
    """Shared tags: these estimators take images, not a 2-D numeric array."""

    def _needs_mask(self) -> bool:
        return False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        base = tags.input_tags
        tags.input_tags = ImageInputTags(**{f.name: getattr(base, f.name) for f in fields(base)},
                                         masks=bool(self._needs_mask()))
        tags.input_tags.two_d_array = False
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


_REGIONS = ("image", "mask", "bbox")
_EMPTY = ("image", "raise")

# Declarative parameter constraints shared by the estimators (scikit-learn's
# ``_parameter_constraints``); a subclass lists exactly its own parameters.
#: ``n_jobs``: ``None`` or an integer (0 is refused separately: it has no meaning for joblib).
N_JOBS = [Integral, None]
#: ``region`` of a feature extractor.
REGION = [StrOptions(set(_REGIONS))]
#: ``empty_mask`` of a feature extractor.
EMPTY_MASK = [StrOptions(set(_EMPTY))]
#: ``cache`` of a feature extractor (see :mod:`featbus.extraction`).
CACHE = [None, Options(bool, {False}), str, os.PathLike, HasMethods(["cache"])]
#: ``progress`` of a feature extractor.
PROGRESS = ["boolean", StrOptions({"auto"})]


def check_n_jobs(n_jobs) -> None:
    """Refuse ``n_jobs=0`` (the one integer joblib gives no meaning to)."""
    if n_jobs == 0 and not isinstance(n_jobs, bool):
        raise ValueError("n_jobs must be None or a non-zero integer, got 0")


class BaseFeatureExtractor(_ImageInputMixin, TransformerMixin, BaseEstimator):
    """Base of the image -> feature-vector transformers.

    A subclass implements ``_fit_features(self, X_items)`` returning the list of feature names
    (called once in ``fit`` after parameter checks; it may look at the images' sizes) and
    ``_features(self, image, mask)`` returning the 1-D vector for one image given as
    ``float32`` in ``[0, 1]`` and, when ``region="mask"``, the boolean lesion mask
    (``None`` otherwise).

    Regions (the ``region`` parameter of every subclass):

    * ``"image"``: the whole image; a mask is never used, even when the record carries one;
    * ``"bbox"``: the image cropped to the bounding box of its mask;
    * ``"mask"``: only the pixels inside the mask (features that need a rectangle use the
      bounding box with outside pixels excluded where the method allows).

    With ``"bbox"`` or ``"mask"`` every image must come with a mask (an :class:`ImageRecord`);
    an empty mask (a normal image) is handled per ``empty_mask``: ``"image"`` (default) uses the
    whole image, ``"raise"`` raises an error naming the image.
    """

    _prefix = "feature"
    _uses_mask = False  # True for extractors that need a mask whatever the region (shape features)

    #: Declarative constraints of the parameters (scikit-learn's validation) that every extractor
    #: shares; a subclass extends them with its own (``{**BaseFeatureExtractor._parameter_constraints,
    #: ...}``). Only the parameters an estimator has are checked.
    _parameter_constraints: dict = {"region": REGION, "empty_mask": EMPTY_MASK, "n_jobs": N_JOBS,
                                    "cache": CACHE, "progress": PROGRESS}

    def _check_params(self) -> None:
        """Validate the parameters: the declarative constraints, then :meth:`_check_rules`."""
        self._validate_params()
        check_n_jobs(getattr(self, "n_jobs", None))
        self._check_rules()

    def _check_rules(self) -> None:
        """Rules a per-parameter constraint cannot state (several parameters at once, pairs
        of values); nothing by default."""

    def _fit_features(self, items: list) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _features(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def fit(self, X, y=None):
        """Check parameters and the input; learn the number of features. Reads no pixels of
        path inputs beyond what the feature layout needs.

        Parameters
        ----------
        X : sequence of images, ImageRecord or paths
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        items = check_images(X)
        _check_y_length(items, y)
        names = list(self._fit_features(items))
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        return self

    def _needs_mask(self) -> bool:
        return self._uses_mask or getattr(self, "region", "image") != "image"

    def _load(self, item: Any, index: int) -> ImageRecord:
        """Read and check one entry of ``X`` (the extraction path calls it once per image)."""
        return load_item(item, index)

    def _one(self, item: Any, index: int) -> np.ndarray:
        """The feature vector of one entry of ``X`` (read and checked here)."""
        return self._one_record(self._load(item, index), index)

    def _one_record(self, rec: ImageRecord, index: int) -> np.ndarray:
        """The feature vector of one loaded image: region handling, then ``_features``."""
        try:
            image = to_float(rec.image, index=index, path=rec.path)
            mask = None
            if self._needs_mask():
                if rec.mask is None:
                    what = (type(self).__name__ if self._uses_mask
                            else f"{type(self).__name__}(region={getattr(self, 'region', 'image')!r})")
                    hint = "" if self._uses_mask else " or use region='image'"
                    raise ImageError(
                        f"{what} needs a lesion mask, but this image has none: pass "
                        f"ImageRecord(image, mask) items (Bunch.data of the featbus data sets){hint}",
                        index, rec.path)
                mask = rec.mask
                if not mask.any() and not self._uses_mask:
                    if self.empty_mask == "raise":
                        raise ImageError("has an empty lesion mask (empty_mask='raise')", index, rec.path)
                    mask = None  # documented: an empty mask means "use the whole image"
                elif getattr(self, "region", "image") == "bbox":
                    image, mask = image[mask_bbox(mask)], None
            vec = np.asarray(self._features(image, mask), dtype=np.float64).ravel()
        except ImageError:
            raise
        except (ValueError, TypeError, IndexError) as exc:
            raise ImageError(f"{type(self).__name__} failed: {exc}", index, rec.path) from exc
        if vec.shape[0] != self.n_features_out_:
            raise ImageError(
                f"gave {vec.shape[0]} features, but the transformer was fitted for "
                f"{self.n_features_out_} (different image size?)", index, rec.path)
        if not np.all(np.isfinite(vec)):
            raise ImageError(f"{type(self).__name__} produced non-finite features", index, rec.path)
        return vec

    def transform(self, X) -> np.ndarray:
        """Compute the features of every image.

        Parameters
        ----------
        X : sequence of images, ImageRecord or paths

        Returns
        -------
        features : ndarray of shape (n_images, n_features_out_)
        """
        from .extraction import extract_rows

        check_is_fitted(self, "feature_names_out_")
        items = check_images(X)
        return extract_rows(self, items, compute=self._compute, n_features=self.n_features_out_,
                            progress=getattr(self, "progress", "auto"))

    def _pair_row(self, pair: tuple[ImageRecord, int], _position: int) -> np.ndarray:
        return self._one_record(*pair)

    def _compute(self, records: list[ImageRecord], indices: list[int]) -> np.ndarray:
        """Rows of loaded records that no store holds (``n_jobs`` workers share the work)."""
        rows = map_images(self._pair_row, list(zip(records, indices)), getattr(self, "n_jobs", None))
        return np.vstack(rows)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns, e.g. ``lbp.r1.u3``.

        Parameters
        ----------
        input_features : ignored
            Present for API compatibility; images have no input feature names.
        """
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()


class BaseImagePreprocessor(_ImageInputMixin, TransformerMixin, BaseEstimator):
    """Base of the image -> image transformers (resizing, contrast, denoising, mammography...).

    A subclass implements one hook:

    * ``_process(self, image, index, path)`` returning the new image, plus
      ``_process_mask(self, mask, image_shape)`` when it changes geometry
      (``_changes_geometry = True``); or
    * ``_process_record(self, record, index)`` returning ``(image, mask, meta)`` when the mask
      follows data-dependent geometry or the step reports per-image results in ``meta``
      (:class:`featbus.PectoralMuscleRemover`).

    The base reads and checks each item, runs the hook (``n_jobs`` workers), names the item in
    any error, and keeps the input's kind: a list of arrays for arrays, a list of
    :class:`ImageRecord` (masks transformed along, metadata copied and updated) for records or
    paths. Preprocessors are stateless: ``fit`` only checks parameters.
    """

    _changes_geometry = False
    #: Declarative constraints of the parameters; subclasses define theirs.
    _parameter_constraints: dict = {}

    def _check_params(self) -> None:
        """Validate the parameters: the declarative constraints, then :meth:`_check_rules`."""
        self._validate_params()
        check_n_jobs(getattr(self, "n_jobs", None))
        self._check_rules()

    def _check_rules(self) -> None:
        """Rules a per-parameter constraint cannot state; nothing by default."""

    def fit(self, X, y=None):
        """Check parameters; nothing is learned.

        Returns
        -------
        self
        """
        self._check_params()
        check_images(X)
        self.fitted_ = True
        return self

    def _process(self, image: np.ndarray, index: int, path: str | None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} implements neither _process nor _process_record")

    def _process_mask(self, mask: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} changes geometry but has no _process_mask")

    def _process_record(self, rec: ImageRecord, index: int) -> tuple[np.ndarray, np.ndarray | None, dict]:
        """(new image, its lesion mask, metadata to add) for one loaded record."""
        out = self._process(rec.image, index, rec.path)
        mask = rec.mask
        if mask is not None and self._changes_geometry:
            mask = self._process_mask(mask, out.shape)
        return out, mask, {}

    def _one(self, item: Any, index: int):
        rec = load_item(item, index)
        try:
            out, mask, meta = self._process_record(rec, index)
        except ImageError:
            raise
        except (ValueError, TypeError, IndexError) as exc:
            raise ImageError(f"{type(self).__name__} failed: {exc}", index, rec.path) from exc
        if isinstance(item, np.ndarray) or not isinstance(item, (ImageRecord, *_PathLike)):
            return out  # arrays in, arrays out (the function twins give the details)
        return ImageRecord(out, mask, rec.path, {**rec.meta, **meta})

    def transform(self, X) -> list:
        """Process every image.

        Returns
        -------
        images : list of ndarray or list of ImageRecord
            Same kind as the input (records when the input carried records or paths).
        """
        self._check_params()  # stateless: transform may be called without fit
        items = check_images(X)
        return map_images(self._one, items, getattr(self, "n_jobs", None))

    def set_output(self, *, transform=None):
        """Accepted for Pipeline compatibility: images are not tabular, so the output stays a
        list of images whatever ``transform`` says.

        Returns
        -------
        self
        """
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


def _check_y_length(items: Sequence, y) -> None:
    if y is not None and len(y) != len(items):
        raise ValueError(f"X holds {len(items)} images but y has {len(y)} labels; they must match.")
