"""HOG: histograms of oriented gradients (Dalal and Triggs, 2005), a function and a transformer.

:func:`hog_features` resizes a ``float`` image in ``[0, 1]`` and computes what
:func:`skimage.feature.hog` computes on the same resized array -- the same gradients, the same
orientation bins (a pixel's bin decided by the same float64 comparisons), the same block
normalisations -- with the cells' histograms and the blocks' normalisation done as whole-array
NumPy operations instead of skimage's Python loop over blocks (about 10x faster on a 128 x 128
image; ``benchmarks/deep_throughput.py`` measures it beside the plain call). The values agree
with skimage's within :data:`HOG_ATOL` (only the order of float64 sums differs; the output is
float32, as skimage's for a float32 image); ``tests/test_hog.py`` checks it on every ``block_norm``.
:class:`HOGFeatures` wraps it for batches (:class:`~featbus._base.BaseFeatureExtractor`:
input checks, ``region``, ``n_jobs``, feature names, ``set_output``, the extraction cache).
"""

from __future__ import annotations

from numbers import Integral

import cv2
import numpy as np

from .._base import BaseFeatureExtractor
from .._compat import Interval, StrOptions
from .._docs import fill_doc
from .._records import ImageRecord, _PathLike, mask_bbox
from ..io import load_item

__all__ = ["hog_features", "hog_feature_names", "hog_length", "HOGFeatures", "HOG_ATOL"]

#: Largest difference of a :func:`hog_features` value from :func:`skimage.feature.hog`'s on the
#: same array (values in [0, 1]; float32 output: its rounding, one unit in the last place near 1).
HOG_ATOL = 1e-6
_BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")


#: Bounds of the parameters: ``size`` per side, ``pixels_per_cell`` per side, ``cells_per_block``
#: per side, ``orientations``, and the values per image (:func:`hog_length`; 2 MiB as float64),
#: so that no setting asks for unbounded memory.
_MAX_SIZE = 4096
_MAX_CELL = 1024
_MAX_BLOCK = 64
_MAX_ORIENTATIONS = 360
_MAX_LENGTH = 1 << 18
_PAIR_BOUNDS = {"size": _MAX_SIZE, "pixels_per_cell": _MAX_CELL, "cells_per_block": _MAX_BLOCK}


def _pair(value, name: str) -> tuple[int, int]:
    """Validate an ``int`` or ``(int, int)`` parameter; return a pair of positive ints."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    top = _PAIR_BOUNDS.get(name)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                                 and (top is None or v <= top) for v in pair):
        bound = "" if top is None else f" of at most {top}"
        raise ValueError(f"{name} must be a positive int or a pair of positive ints{bound}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_length(shape, orientations, pixels_per_cell, cells_per_block) -> int:
    n = hog_length(shape, orientations, pixels_per_cell, cells_per_block)
    if n > _MAX_LENGTH:
        raise ValueError(f"HOG of a {shape[0]}x{shape[1]} image with {orientations} orientations and cells of "
                         f"{pixels_per_cell} pixels has {n} values; at most {_MAX_LENGTH}: use a smaller size "
                         "or larger cells")
    return n


_BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")


def hog_length(shape: tuple[int, int], orientations: int = 9, pixels_per_cell=(8, 8),
               cells_per_block=(2, 2)) -> int:
    """Number of HOG values for an image of ``shape`` (height, width).

    ``n_cells = shape // pixels_per_cell`` (per axis, remainder pixels are ignored),
    ``n_blocks = n_cells - cells_per_block + 1`` (per axis, blocks overlap by all but one
    cell), and the length is ``prod(n_blocks) * prod(cells_per_block) * orientations``.

    Examples
    --------
    >>> hog_length((128, 128))
    8100
    """
    ppc, cpb = _pair(pixels_per_cell, "pixels_per_cell"), _pair(cells_per_block, "cells_per_block")
    n_blocks = [shape[k] // ppc[k] - cpb[k] + 1 for k in range(2)]
    if min(n_blocks) < 1:
        raise ValueError(
            f"an image of {shape[0]}x{shape[1]} pixels holds no HOG block of {cpb[0]}x{cpb[1]} cells "
            f"of {ppc[0]}x{ppc[1]} pixels; use a larger image/size or smaller cells")
    return int(n_blocks[0] * n_blocks[1] * cpb[0] * cpb[1] * orientations)


def _resize_float(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape == tuple(size):
        return image
    # Area interpolation averages the source pixels a target pixel covers: no aliasing when
    # shrinking (the usual case), plain bilinear-like when enlarging.
    return cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (size[1], size[0]),
                      interpolation=cv2.INTER_AREA)


def hog_features(image: np.ndarray, *, size: tuple[int, int] | None = (128, 128),
                 orientations: int = 9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                 block_norm: str = "L2-Hys") -> np.ndarray:
    """Histogram of oriented gradients of one gray image.

    The image is first resized to ``size`` (OpenCV area interpolation); then the values of
    :func:`skimage.feature.hog` with ``feature_vector=True`` are computed (within :data:`HOG_ATOL`;
    see the module docstring).

    Why the length depends on the image size: HOG tiles the image into cells of
    ``pixels_per_cell`` and concatenates one normalised histogram per overlapping *block*
    of cells, keeping the spatial layout, so a larger image has more blocks. Resizing every
    image to one ``size`` is what makes the vectors of different images comparable columns.
    The length is ``hog_length(size, orientations, pixels_per_cell, cells_per_block)``:
    ``((H//ph - bh + 1) * (W//pw - bw + 1)) * bh * bw * orientations``, 8100 by default.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        Gray image, float in ``[0, 1]``.
    size : (int, int) or None
        ``(height, width)`` to resize to; ``None`` uses the image as it is.
    orientations, pixels_per_cell, cells_per_block, block_norm
        As in :func:`skimage.feature.hog`.

    Returns
    -------
    features : ndarray of shape (hog_length(size, ...),)

    References
    ----------
    Dalal N, Triggs B. Histograms of oriented gradients for human detection. CVPR 2005.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).random((100, 80))
    >>> hog_features(img, size=(64, 64)).shape
    (1764,)
    """
    image = np.asarray(image, dtype=np.float32)
    if size is not None:
        image = _resize_float(image, _pair(size, "size"))
    hog_length(image.shape, orientations, pixels_per_cell, cells_per_block)  # clear error if too small
    if block_norm not in _BLOCK_NORMS:
        raise ValueError(f"block_norm must be one of {_BLOCK_NORMS}, got {block_norm!r}")
    hist = _cell_histograms(image, int(orientations), _pair(pixels_per_cell, "pixels_per_cell"))
    return _normalized_blocks(hist, _pair(cells_per_block, "cells_per_block"), block_norm).ravel()


def _cell_histograms(image: np.ndarray, orientations: int, cell: tuple[int, int]) -> np.ndarray:
    """Each cell's histogram of gradient orientations weighted by magnitude, ``(rows, cols,
    orientations)`` float64: skimage's gradients (central differences in the image's dtype, zero
    on the border), orientation ``rad2deg(arctan2(g_row, g_col)) % 180``, bin ``i`` holding
    ``[i, i + 1) * 180 / orientations`` (the same float64 edges), the mean magnitude over the cell."""
    g_row = np.zeros_like(image)
    g_row[1:-1, :] = image[2:, :] - image[:-2, :]
    g_col = np.zeros_like(image)
    g_col[:, 1:-1] = image[:, 2:] - image[:, :-2]
    c_row, c_col = cell
    n_row, n_col = image.shape[0] // c_row, image.shape[1] // c_col
    g_row = g_row[:n_row * c_row, :n_col * c_col].astype(np.float64)
    g_col = g_col[:n_row * c_row, :n_col * c_col].astype(np.float64)
    magnitude = np.hypot(g_col, g_row)
    orientation = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    edges = (180.0 / orientations) * np.arange(orientations + 1)
    bins = np.searchsorted(edges, orientation, side="right") - 1  # edges[i] <= o < edges[i + 1]
    cells = (np.arange(n_row * c_row) // c_row)[:, None] * n_col + (np.arange(n_col * c_col) // c_col)[None, :]
    keep = bins < orientations  # an angle that rounded up to 180 falls in no bin, as in skimage
    index = (cells * orientations + bins)[keep]
    hist = np.bincount(index, weights=magnitude[keep], minlength=n_row * n_col * orientations)
    return hist.reshape(n_row, n_col, orientations) / (c_row * c_col)


def _normalized_blocks(hist: np.ndarray, block: tuple[int, int], method: str, eps: float = 1e-5) -> np.ndarray:
    """Every block of ``block`` cells of ``hist``, normalised by ``method`` as skimage's
    ``_hog_normalize_block`` does: ``(blocks_row, blocks_col, block_row, block_col, orientations)``,
    float32."""
    from numpy.lib.stride_tricks import sliding_window_view

    blocks = sliding_window_view(hist, block, axis=(0, 1)).transpose(0, 1, 3, 4, 2)  # (.., b_r, b_c, n)
    axes = (2, 3, 4)
    if method == "L1":
        out = blocks / (np.abs(blocks).sum(axis=axes, keepdims=True) + eps)
    elif method == "L1-sqrt":
        out = np.sqrt(blocks / (np.abs(blocks).sum(axis=axes, keepdims=True) + eps))
    else:
        out = blocks / np.sqrt((blocks ** 2).sum(axis=axes, keepdims=True) + eps ** 2)
        if method == "L2-Hys":
            out = np.minimum(out, 0.2)
            out = out / np.sqrt((out ** 2).sum(axis=axes, keepdims=True) + eps ** 2)
    return out.astype(np.float32)


def hog_feature_names(shape: tuple[int, int], orientations: int = 9, pixels_per_cell=(8, 8),
                      cells_per_block=(2, 2)) -> list[str]:
    """Names ``hog.0`` ... ``hog.{n-1}`` for images of (resized) ``shape``.

    Examples
    --------
    >>> hog_feature_names((16, 16))[:2]
    ['hog.0', 'hog.1']
    """
    return [f"hog.{i}" for i in range(hog_length(shape, orientations, pixels_per_cell, cells_per_block))]


def _item_shape(item, index: int) -> tuple[int, int]:
    """Shape of one item, reading the file only when the pixels are not in memory."""
    image = item.image if isinstance(item, ImageRecord) else item
    if isinstance(image, np.ndarray) and image.ndim == 2:
        return image.shape
    return load_item(item, index).image.shape


@fill_doc
class HOGFeatures(BaseFeatureExtractor):
    """Histogram of oriented gradients (Dalal & Triggs 2005) as a transformer.

    Every image is resized to ``size`` first (OpenCV area interpolation) because the HOG
    length grows with the image size (one histogram per block of cells, spatial layout
    kept): with a common size every image gives the same columns. The output has
    ``((H//ph - bh + 1) * (W//pw - bw + 1)) * bh * bw * orientations`` columns, 8100 with
    the defaults (128x128, 8x8-pixel cells, 2x2-cell blocks, 9 orientations), named
    ``hog.0`` ... ``hog.8099``.

    Parameters
    ----------
    size : (int, int) or None, default=(128, 128)
        ``(height, width)`` every image (or region) is resized to. ``None`` keeps images as
        they are; then all images must have the size of the first image seen in ``fit``
        (an error names any that differs), and ``region`` must be ``"image"``.
    orientations : int, default=9
    pixels_per_cell : (int, int), default=(8, 8)
    cells_per_block : (int, int), default=(2, 2)
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}, default="L2-Hys"
        As in :func:`skimage.feature.hog`. Bounds, checked before any image is read: ``size``
        at most 4096 per side, ``orientations`` at most 360, ``pixels_per_cell`` at most
        1024, ``cells_per_block`` at most 64, and at most 262144 values per image.
    region : {"image", "bbox", "mask"}, default="image"
        HOG needs a rectangle: ``"mask"`` behaves like ``"bbox"`` (the mask's bounding box,
        resized to ``size``).
    %(empty_mask)s
    %(n_jobs)s
    %(cache)s
    %(progress)s

    Attributes
    ----------
    n_features_out_ : int
    feature_names_out_ : ndarray of str
    size_ : (int, int)
        The size HOG is computed at (``size`` or the fitted image size).

    See Also
    --------
    hog_features : the function for one image.

    Examples
    --------
    >>> import numpy as np
    >>> X = [np.random.default_rng(i).random((60, 50)) for i in range(3)]
    >>> HOGFeatures(size=(32, 32)).fit_transform(X).shape
    (3, 324)
    """

    _prefix = "hog"

    _parameter_constraints = {
        "size": [None, Interval(Integral, 1, _MAX_SIZE, closed="both"), tuple, list],
        "orientations": [Interval(Integral, 1, _MAX_ORIENTATIONS, closed="both")],
        "pixels_per_cell": [Interval(Integral, 1, _MAX_CELL, closed="both"), tuple, list],
        "cells_per_block": [Interval(Integral, 1, _MAX_BLOCK, closed="both"), tuple, list],
        "block_norm": [StrOptions(set(_BLOCK_NORMS))],
        **BaseFeatureExtractor._parameter_constraints,
    }

    def __init__(self, size=(128, 128), *, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                 block_norm="L2-Hys", region="image", empty_mask="image", n_jobs=None, cache=None,
                 progress="auto"):
        self.size = size
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _check_rules(self) -> None:
        _pair(self.pixels_per_cell, "pixels_per_cell")
        _pair(self.cells_per_block, "cells_per_block")
        if self.size is not None:  # the values per image, before any is read
            _check_length(_pair(self.size, "size"), self.orientations, self.pixels_per_cell, self.cells_per_block)

    def _fit_features(self, items: list) -> list[str]:
        if self.size is None:
            if self.region != "image":
                raise ValueError("size=None needs region='image': regions differ in size, so HOG "
                                 "lengths would differ; give a size such as (128, 128)")
            self.size_ = tuple(int(s) for s in _item_shape(items[0], 0))
            for i, item in enumerate(items):
                if not isinstance(item, _PathLike):  # in-memory sizes are free to check now
                    shape = _item_shape(item, i)
                    if shape != self.size_:
                        raise ValueError(
                            f"image {i} is {shape[0]}x{shape[1]} but image 0 is "
                            f"{self.size_[0]}x{self.size_[1]}; with size=None all images must "
                            "share one size (or set size=(h, w) to resize them)")
        else:
            self.size_ = _pair(self.size, "size")
        _check_length(self.size_, self.orientations, self.pixels_per_cell, self.cells_per_block)
        return hog_feature_names(self.size_, self.orientations, self.pixels_per_cell, self.cells_per_block)

    def _features(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        if mask is not None:  # region="mask": HOG needs a rectangle, use the bounding box
            image = image[mask_bbox(mask)]
        if self.size is None and image.shape != self.size_:
            raise ValueError(
                f"is {image.shape[0]}x{image.shape[1]} but HOGFeatures(size=None) was fitted on "
                f"{self.size_[0]}x{self.size_[1]} images; set size=(h, w) to resize")
        return hog_features(image, size=self.size_, orientations=self.orientations,
                            pixels_per_cell=self.pixels_per_cell, cells_per_block=self.cells_per_block,
                            block_norm=self.block_norm)
