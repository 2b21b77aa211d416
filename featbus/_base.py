"""The base classes of featbus's image transformers, their input tags and shared constraints.

:class:`BaseFeatureExtractor` (image -> feature vector; its ``transform`` goes through the one
extraction path, :mod:`featbus.compute.extraction`) and :class:`BaseImagePreprocessor` (image ->
image). What they take as ``X`` and how images are checked is described in
:mod:`featbus._records`; files are read by :mod:`featbus.io`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import fields
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._compat import HasMethods, Options, StrOptions, image_estimator_validate_params
from ._records import (
    ImageError,
    ImageInputTags,
    ImageRecord,
    _PathLike,
    caller_positions,
    check_images,
    map_images,
    mask_bbox,
    names_caller_positions,
    process_backend,
    to_float,
)
from .compute.extraction import extract_rows
from .io import load_item

__all__ = ["BaseFeatureExtractor", "BaseImagePreprocessor", "ImageInputTags"]

class _ImageInputMixin:
    """Shared tags: these estimators take images, not a 2-D numeric array."""

    def _needs_mask(self) -> bool:
        return False

    # featbus._compat's validation (scikit-learn's while its private module serves, else
    # featbus's own), not BaseEstimator's private method of the same name
    _validate_params = image_estimator_validate_params

    def __getstate__(self):
        # a model file's inference runtime is attached by load_model, never saved with the estimator
        state = dict(super().__getstate__())
        state.pop("_inference", None)
        return state

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
#: ``cache`` of a feature extractor (see :mod:`featbus.compute.extraction`).
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

    Test a subclass with :func:`featbus.testing.check_image_estimator`: scikit-learn's
    ``check_estimator`` skips every data check of an estimator that takes images, and passes it
    after one (see :doc:`/guide/own_extractor`).
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

    @names_caller_positions
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

    def _region(self, rec: ImageRecord, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The pixels (``float32`` in ``[0, 1]``) and mask an extractor works on, per ``region``.

        ``"image"``: the whole image, no mask. ``"bbox"``: the crop to the mask's bounding box,
        no mask. ``"mask"``: the whole image and its mask. An empty mask (a normal image) gives
        the whole image, or raises with ``empty_mask="raise"``; a missing mask raises. Every
        extractor, batched ones included (:class:`featbus.DeepFeatures`), goes through here.
        """
        image = to_float(rec.image, index=index, path=rec.path)
        if not self._needs_mask():
            return image, None
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
            return image, None  # documented: an empty mask means "use the whole image"
        if getattr(self, "region", "image") == "bbox":
            return image[mask_bbox(mask)], None
        return image, mask

    def _one_record(self, rec: ImageRecord, index: int) -> np.ndarray:
        """The feature vector of one loaded image: :meth:`_region`, then ``_features``."""
        try:
            image, mask = self._region(rec, index)
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

    @names_caller_positions
    def transform(self, X) -> np.ndarray:
        """Compute the features of every image.

        Parameters
        ----------
        X : sequence of images, ImageRecord or paths

        Returns
        -------
        features : ndarray of shape (n_images, n_features_out_)
        """
        check_is_fitted(self, "feature_names_out_")
        items = check_images(X)
        return extract_rows(self, items, compute=self._compute, n_features=self.n_features_out_,
                            progress=getattr(self, "progress", "auto"))

    def _pair_row(self, pair: tuple[ImageRecord, int], _position: int) -> np.ndarray:
        return self._one_record(*pair)

    def _compute(self, records: list[ImageRecord], indices: list[int]) -> np.ndarray:
        """Rows of loaded records that no store holds (``n_jobs`` worker processes share the work: forked
        where that is safe, :func:`featbus._records.process_backend`)."""
        rows = map_images(self._pair_row, list(zip(records, indices)), getattr(self, "n_jobs", None),
                          backend=process_backend())
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
    paths. Preprocessors are stateless: ``fit`` only checks parameters. Test a subclass with
    :func:`featbus.testing.check_image_estimator`, not scikit-learn's ``check_estimator`` (which
    skips the data checks of an estimator that takes images).
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

    @names_caller_positions
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

    @names_caller_positions
    def transform(self, X) -> list:
        """Process every image.

        Returns
        -------
        images : list of ndarray or list of ImageRecord, or a pandas Series of them
            Same kind as the input (records when the input carried records or paths); a
            pandas Series for a pandas input, with its index, so the next step's errors name
            the caller's labels (inside cross-validation too).
        """
        self._check_params()  # stateless: transform may be called without fit
        items = check_images(X)
        out = map_images(self._one, items, getattr(self, "n_jobs", None))
        positions = caller_positions(X)
        if positions is None:
            return out
        import pandas as pd

        series = pd.Series([None] * len(out), index=X.index, dtype=object)
        for i, image in enumerate(out):  # one by one: pandas would broadcast arrays
            series.iat[i] = image
        return series

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
