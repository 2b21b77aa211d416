"""Images as featbus holds them: the record, the input checks, the conversions, the per-image map.

Every featbus transformer takes ``X`` as a sequence of images, in any of these forms:

* a list (or tuple) of 2-D ``numpy`` arrays of any sizes, or a 3-D array ``(n, h, w)``;
* a list of :class:`ImageRecord` (pixels plus an optional lesion mask, path and metadata),
  which is what ``Bunch.data`` of the featbus data sets holds, so that masks travel beside
  the images through a :class:`~sklearn.pipeline.Pipeline`;
* a list of file paths (``str`` or :class:`os.PathLike`), read one at a time where the work is
  done, so memory stays bounded on any number of files; a 1-D NumPy array of paths (``str``,
  ``object`` or :class:`~pathlib.Path` items) too;
* a pandas Series of any of these, or a DataFrame with one column of them. A DataFrame of
  several columns is refused, naming them: select the column (``X["path"]``), or let
  scikit-learn's :class:`~sklearn.compose.ColumnTransformer` pass it
  (``ColumnTransformer([("hog", HOGFeatures(), "path")])``). The pandas index travels with the
  rows through scikit-learn's cross-validation, so an image's error names its index label in
  the caller's ``X`` even inside a fold (:func:`caller_positions`).

One colour image, an ``(h, w, 3)`` or ``(h, w, 4)`` array, is refused with both readings named
(one image, or ``h`` gray images ``w`` pixels tall and 3 or 4 wide, below the smallest size):
pass ``[image]`` or ``image[None]``.

Images are 2-D grayscale inside featbus. Colour input is converted at the door: RGB with
luminance weights (ITU-R BT.601, the weights of PIL's ``"L"`` mode), exactly when the three
channels are equal; RGBA is composited over black first (transparent pixels are background).
Integer images keep their dtype (``uint8``, ``uint16``); float images must be finite. Feature
functions see ``float32`` in ``[0, 1]`` (:func:`to_float`): integers are divided by their dtype's
maximum, floats must already lie in ``[0, 1]``.

Errors about one image name it by index and, where known, path (:class:`ImageError`).

This module reads no files (:mod:`featbus.io` does), so every other module can import it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils import InputTags

__all__ = [
    "ImageRecord",
    "LeftOut",
    "ImageInputTags",
    "ImageError",
    "MIN_SIDE",
    "check_images",
    "caller_positions",
    "names_caller_positions",
    "check_image",
    "check_mask",
    "to_gray",
    "to_float",
    "mask_bbox",
    "map_images",
    "PIXEL_SIZE_KEY",
    "DICOM_VIEW_KEY",
    "pixel_size",
]


class LeftOut(NamedTuple):
    """A file or row left out of a release: ``item`` (its path relative to the release, or ``row N of
    TABLE``), ``reason`` (one of :data:`~featbus.datasets.release.LEFT_OUT_REASONS`) and ``detail``
    (the particulars, maybe empty); worded only when printed (:meth:`text`)."""

    item: str
    reason: str
    detail: str = ""

    def text(self) -> str:
        """``reason: detail``; the reason alone without a detail, ``reason detail`` where the detail goes
        on with the reason's words (``no row in t.csv``)."""
        if not self.detail:
            return self.reason
        return f"{self.reason} {self.detail}" if self.detail.startswith(("in ", "of ")) else \
            f"{self.reason}: {self.detail}"

#: Smallest image side featbus accepts for feature extraction: below it no texture exists.
MIN_SIDE = 8

#: The :attr:`ImageRecord.meta` key of an image's physical pixel size, where its data gives one (a
#: release table's pixel-size column, a DICOM header's spacing): ``{"size": float > 0, "unit": "mm" or
#: None, "source": str}``: ``unit`` ``None`` is a column whose name states no unit (the size is in the
#: source's own unit, ``source`` naming the column). Written by :mod:`featbus.datasets`' reader, kept up
#: to date where an image is resized (:func:`featbus.model.scale.to_scale`), read by a model that records
#: a physical scale (issue 82).
PIXEL_SIZE_KEY = "physical_pixel"

#: The :attr:`ImageRecord.meta` key of what a DICOM mammogram's header says of its view, where it says it:
#: ``{"laterality": "L" | "R" | None, "view": str | None, "chest_wall": "left" | "right" | None,
#: "chest_wall_from": str, "presentation": str | None}`` (``ImageLaterality`` or ``Laterality``,
#: ``ViewPosition``, the side the chest wall is on in the stored pixels, from ``PatientOrientation``'s row
#: direction or else from the laterality, and ``PresentationIntentType``). Written by
#: :func:`featbus.io.load_item` and the release reader for DICOM files; read by the mammography orientation
#: step (:class:`featbus.BreastMask`), which flips a breast by its tag rather than by its pixels.
DICOM_VIEW_KEY = "dicom_view"


def pixel_size(meta: dict | None) -> dict | None:
    """An image's physical pixel size from its ``meta`` (:data:`PIXEL_SIZE_KEY`), or ``None``.

    Examples
    --------
    >>> pixel_size({"physical_pixel": {"size": 0.1, "unit": "mm", "source": "DICOM PixelSpacing"}})["size"]
    0.1
    >>> pixel_size({}) is None, pixel_size({"physical_pixel": {"size": -1.0}}) is None
    (True, True)
    """
    value = (meta or {}).get(PIXEL_SIZE_KEY)
    if not isinstance(value, dict):
        return None
    size = value.get("size")
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not np.isfinite(size) or size <= 0:
        return None
    return value


class ImageError(ValueError):
    """A problem with one image of a batch; the message names its index and path.

    Parameters
    ----------
    message : str
        What is wrong with the image (kept as ``reason``).
    index : int or None
        Position of the image in ``X`` (kept as ``index``).
    path : str or None
        File the image came from, when known (kept as ``path``).

    Examples
    --------
    >>> from featbus import ImageError
    >>> str(ImageError("is 4x4 pixels", 3, "a.png"))
    "image 3 ('a.png'): is 4x4 pixels"
    """

    def __init__(self, message: str, index: int | None = None, path: str | None = None):
        self.index = index
        self.path = path
        self.reason = message
        super().__init__(f"{describe(index, path)}: {message}" if (index is not None or path) else message)

    def __reduce__(self):  # keep index/path when the error crosses a joblib worker boundary
        return (type(self), (self.reason, self.index, self.path))

    def at(self, positions: Sequence | None) -> ImageError:
        """This error with its index replaced by ``positions[index]`` (the image's position or
        label in the caller's ``X``); itself when there is nothing to map."""
        if positions is None or not isinstance(self.index, (int, np.integer)) or not 0 <= self.index < len(positions):
            return self
        return type(self)(self.reason, positions[self.index], self.path)


@dataclass(slots=True)
class ImageInputTags(InputTags):
    """scikit-learn input tags plus what featbus estimators take.

    Parameters
    ----------
    images : bool, default=True
        The estimator takes a sequence of images (arrays, :class:`~featbus.ImageRecord` or paths).
    masks : bool, default=False
        Every image must come with a lesion mask (an :class:`~featbus.ImageRecord` whose ``mask`` is
        set): shape features, ``region="mask"`` or ``"bbox"``, ROI crops from ground truth.
    records : bool, default=False
        Every image must be an :class:`~featbus.ImageRecord` carrying what an earlier step wrote in its
        ``meta`` (:class:`~featbus.segmentation.roi.RoiFoundFlag` reads an ``ROICropper``'s
        ``roi_found``): plain arrays are refused.
    """

    images: bool = True
    masks: bool = False
    records: bool = False


def describe(index: int | None, path: str | os.PathLike | None) -> str:
    """Name an item for an error message: ``image 3 ('a/b.png')``."""
    parts = []
    if isinstance(index, (int, np.integer)):
        parts.append(f"image {index}")
    elif index is not None:  # a pandas index label
        parts.append(f"image {index!r}")
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
    X : sequence of arrays, ImageRecord or paths, ndarray, pandas Series or DataFrame
        The batch: a sequence, an ndarray of shape (n, h, w) or (n, h, w, c), a 1-D ndarray of
        paths, a pandas Series or a one-column DataFrame of any of these.
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
        is one ``(h, w, 3|4)`` colour image (both readings named), is a DataFrame of several
        columns (the image columns named), or holds an entry that is none of the accepted kinds
        (the error names its index).
    """
    X = _one_column(X, name)
    if isinstance(X, np.ndarray):
        if X.ndim == 2:
            raise ValueError(
                f"{name} is a single 2-D array of shape {X.shape}. featbus takes a sequence of "
                "images: pass [image] for one image, or a 3-D array (n_images, height, width)."
            )
        if X.ndim == 3 and X.shape[-1] in (3, 4) and X.dtype != object and min(X.shape[:2]) >= MIN_SIDE:
            h, w, c = X.shape
            raise ValueError(
                f"{name} is one array of shape {X.shape}: one colour image ({h}x{w} pixels, {c} channels), or "
                f"{h} gray images of {w}x{c} pixels? featbus takes a sequence of images: pass [image] (or "
                f"image[None], shape (1, {h}, {w}, {c})) for one colour image, or a list of gray images."
            )
        if X.ndim == 1 and X.dtype.kind in "UO":  # paths (str, Path) or images in an object array
            X = [str(x) if isinstance(x, np.str_) else x for x in X]
        elif X.ndim not in (3, 4) or X.dtype == object:
            raise ValueError(
                f"{name} has shape {X.shape} and dtype {X.dtype}; expected a list of images, an array of "
                "shape (n_images, height, width[, channels]) or a 1-D array of file paths."
            )
        else:
            X = list(X)
    elif hasattr(X, "iloc") and hasattr(X, "to_list"):  # pandas Series of images / paths
        X = X.to_list()
    elif isinstance(X, dict) and "data" in X and "target" in X:  # a loader's Bunch: its keys would be the "images"
        raise ValueError(f"{name} is a data set Bunch (what featbus.load_data returns): pass data.data, data.target "
                         "(fit(data.data, data.target)), or use featbus.evaluate(pipeline, data), which splits it "
                         "by its groups")
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


def _one_column(X: Any, name: str) -> Any:
    """A pandas DataFrame's one column (a Series); any other ``X`` as it is."""
    if not (hasattr(X, "iloc") and hasattr(X, "columns")):
        return X
    columns = list(X.columns)
    if len(columns) == 1:
        return X.iloc[:, 0]
    images = [c for c in columns if len(X) and _holds_images(X[c])]
    which = (f"the column(s) that hold images or paths: {', '.join(map(repr, images))}" if images
             else "none of them holds images or paths")
    pick = repr(images[0]) if images else "'path'"
    raise ValueError(
        f"{name} is a DataFrame of {len(columns)} columns ({', '.join(map(repr, columns[:10]))}"
        f"{', ...' if len(columns) > 10 else ''}); {which}. Pass one column, {name}[{pick}], or let "
        f"scikit-learn's ColumnTransformer pick it: ColumnTransformer([('features', extractor, {pick})])."
    )


def _holds_images(column) -> bool:
    """Whether a pandas column's first entry is an image, a record or a path."""
    first = column.iloc[0]
    return isinstance(first, (np.ndarray, ImageRecord, *_PathLike))


def caller_positions(X: Any) -> list | None:
    """The labels under which the caller's ``X`` knows its images, where ``X`` carries them.

    A pandas Series or DataFrame keeps its index through scikit-learn's cross-validation
    (``_safe_indexing`` takes rows with their labels), so inside a fold the 18th image of the
    caller's ``X`` is still labelled 17. ``None`` for other inputs (and for an index
    ``0, 1, ..., n-1``, where position and label agree): a list or an array reaches a fold as
    a new list, and the image's position in it is all there is.

    Examples
    --------
    >>> import pandas as pd
    >>> caller_positions(pd.Series(["a.png", "b.png", "c.png"]).iloc[[2, 0]])
    [2, 0]
    >>> caller_positions(["a.png", "b.png"]) is None
    True
    """
    index = getattr(X, "index", None)
    if not (hasattr(X, "iloc") and index is not None):
        return None
    labels = index.tolist()
    if labels == list(range(len(labels))):
        return None
    return labels


def names_caller_positions(method: Callable) -> Callable:
    """Decorate an estimator method ``method(self, X, ...)``: an image error raised inside it
    names the image by its label in the caller's ``X`` (:func:`caller_positions`), not by its
    position in the list featbus made of it."""
    import functools

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        try:
            return method(self, X, *args, **kwargs)
        except ImageError as exc:
            renamed = exc if getattr(exc, "caller_named", False) else exc.at(caller_positions(X))
            if renamed is exc:
                raise
            renamed.caller_named = True  # an enclosing step (a union, a pipeline) maps it no further
            raise renamed from exc
        except FileNotFoundError as exc:
            index, reason = getattr(exc, "image_index", None), getattr(exc, "image_reason", None)
            positions = caller_positions(X)
            if (positions is None or getattr(exc, "caller_named", False) or not isinstance(index, int)
                    or reason is None or not 0 <= index < len(positions)):
                raise
            renamed = FileNotFoundError(f"{describe(positions[index], None)}: {reason}")
            renamed.image_index, renamed.image_reason, renamed.caller_named = positions[index], reason, True
            raise renamed from exc

    return wrapper


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


def region_mask(mask: Any, shape: tuple[int, ...], *, empty: str) -> np.ndarray:
    """A feature function's ``mask`` argument as ``bool``: the image's shape, not empty.

    Parameters
    ----------
    mask : array-like
        Nonzero is inside the region.
    shape : tuple
        The image's shape.
    empty : str
        The message of the ``ValueError`` raised for an all-zero mask (what cannot be computed).

    Examples
    --------
    >>> import numpy as np
    >>> region_mask(np.eye(2), (2, 2), empty="no pixel").tolist()
    [[True, False], [False, True]]
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask has shape {mask.shape} but the image has shape {tuple(shape)}")
    if not mask.any():
        raise ValueError(empty)
    return mask


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


#: The work of the forked workers running now, ``(func, chunks)``: set before they fork, so that they inherit it
#: and are sent only a chunk's number (nothing of the function or the items is pickled on the way in).
_FORKED_WORK: list = []


def _forked_chunk(k: int) -> list:
    func, chunks = _FORKED_WORK[-1]
    return _run_chunk(func, chunks[k])


def _run_forked(func: Callable, chunks: list, n_workers: int) -> list:
    """``_run_chunk`` of every chunk, in order, in ``n_workers`` processes forked from this one.

    A :class:`concurrent.futures.ProcessPoolExecutor` with the fork context (which forks every worker before
    its one manager thread starts), not :class:`multiprocessing.pool.Pool` (joblib's ``"multiprocessing"``
    backend), whose ``terminate``, run at the end of every call, kills workers wherever they are: with it
    ``featbus extract --n-jobs 2`` hung once in CI (300 s; the cause not found, not reproduced in some 400 runs
    here). This pool ends by sending each worker a sentinel and joining it. The first error in order is raised
    once the chunks already running have finished; the chunks not started are cancelled."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _FORKED_WORK.append((func, chunks))
    try:
        pool = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("fork"))
        try:
            futures = [pool.submit(_forked_chunk, k) for k in range(len(chunks))]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        _FORKED_WORK.pop()


#: Estimated serial seconds below which ``map_images`` does not start worker processes: a
#: worker imports featbus, NumPy and scikit-image before its first image (1-3 s each on a small
#: machine), which a short job never earns back.
MIN_PARALLEL_SECONDS = 3.0
#: The same for workers forked from this process (:func:`process_backend`), which import nothing: the
#: first item's time alone decides (an upper bound: it pays this process's lazy imports, which the workers
#: then inherit).
MIN_FORK_SECONDS = 0.5


#: Runtimes that run threads of their own from import on: with one of them loaded, a forked child may inherit a
#: lock one of those threads held, so workers are started fresh instead.
_FORK_UNSAFE = ("tensorflow", "torch", "jax")


def process_backend() -> str | None:
    """The backend ``map_images`` runs worker processes that read and describe images with: ``"fork"``,
    workers forked from this process (:func:`_run_forked`; each starts in milliseconds with what this process
    has imported, where a fresh loky worker imports featbus, NumPy and the decoders again, 1-3 s on a small
    machine, before its first image), where the system forks, this process runs no other thread, no runtime
    with threads of its own (:data:`_FORK_UNSAFE`) is loaded and the caller configured no joblib backend
    (``parallel_config``); else None: joblib's default (loky) or the caller's."""
    import multiprocessing
    import sys
    import threading

    from joblib.parallel import get_active_backend

    if ("fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1
            or any(name in sys.modules for name in _FORK_UNSAFE)):
        return None
    return "fork" if type(get_active_backend()[0]).__name__ == "LokyBackend" else None


def map_images(func: Callable[[Any, int], Any], items: Sequence, n_jobs: int | None = None,
               *, backend: str | None = None, max_chunk: int | None = None) -> list:
    """Apply ``func(item, index)`` to every item, in order, optionally in parallel.

    Work is sent to joblib in a few chunks per worker rather than one task per image, so the
    parallel overhead stays small for cheap per-image functions; ``max_chunk`` bounds the items of
    a chunk (what a worker process holds and sends back at once: a chunk of full-field mammograms
    read at their working size is 8 MB an image). With worker processes (the
    default backend), the first items are computed here first: if the rest would take less than
    :data:`MIN_PARALLEL_SECONDS` serially, it stays serial, since starting workers would cost more.
    The estimate leaves out the first item, which pays one-time costs (lazy imports, caches) that
    would otherwise make a short job look long. Forked workers (``backend="fork"``,
    :func:`process_backend`) cost little to start: the first item alone is timed, against
    :data:`MIN_FORK_SECONDS`.
    """
    indexed = list(enumerate(items))
    n_workers = effective_n_jobs(n_jobs) if n_jobs not in (None, 1) else 1
    if n_workers == 1 or len(indexed) < 2:
        return [func(item, i) for i, item in indexed]
    done: list = []
    if backend in (None, "loky", "fork"):
        def timed(i, item) -> float:
            start = time.perf_counter()
            done.append(func(item, i))
            return time.perf_counter() - start

        per_item = timed(*indexed.pop(0))  # an upper bound: the first item warms up
        if backend == "fork":  # forked workers start in milliseconds: no second look needed
            if per_item * len(indexed) < MIN_FORK_SECONDS:
                return done + [func(item, i) for i, item in indexed]
        else:
            if per_item * len(indexed) >= MIN_PARALLEL_SECONDS:
                # time the work itself on the next two items
                per_item = float(np.median([timed(*indexed.pop(0)) for _ in range(min(2, len(indexed)))]))
            if per_item * len(indexed) < MIN_PARALLEL_SECONDS:
                return done + [func(item, i) for i, item in indexed]
    n_chunks = min(len(indexed), max(4 * n_workers, -(-len(indexed) // max_chunk) if max_chunk else 0))
    bounds = np.linspace(0, len(indexed), n_chunks + 1).astype(int)
    chunks = [indexed[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    if backend == "fork":
        results = _run_forked(func, chunks, n_workers)
    else:
        results = Parallel(n_jobs=n_workers, backend=backend)(delayed(_run_chunk)(func, c) for c in chunks)
    return done + [r for chunk in results for r in chunk]
