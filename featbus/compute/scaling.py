"""Joining feature families on equal terms: :class:`FamilyScaler`, :class:`FamilyUnion` and
:func:`family_blocks`.

This module imports no feature family: the loaded model's out-of-domain score
(:mod:`featbus.model.domain`) reads the scaled space through :func:`family_space` without pulling in
the extractors, and :mod:`featbus.pipelines` builds its ``"features"`` step from
:class:`FamilyUnion`.

Joining feature families
------------------------
Families differ wildly in width: HOG gives 8100 columns by default, EfficientNet-Lite0 192,
LBP 54, GLCM 54, intensity statistics 23. Standardised and concatenated as they are, every
column weighs the same in an RBF kernel or a distance, so HOG carries 96% of the variance and
the union scores below its best member. :class:`FamilyUnion` (the ``"features"`` step of
:func:`make_classification_pipeline`) therefore standardises every column and weights each family's block
so that every family carries the same total variance (``family_scaling="equal"``, weight
``1/sqrt(n_columns)`` up to one global factor), fitted on the training data only. Measured by
``benchmarks/feature_families.py`` (duplicate-grouped 5-fold CV on BUSI, SMOTE + RBF SVC;
accuracy / malignant AUC with group-bootstrap 95% intervals), EfficientNet-Lite0 + HOG + LBP +
intensity + GLCM joined plainly score 0.661 / 0.815, joined with ``"equal"`` 0.746 / 0.851,
the best family alone (EfficientNet-Lite0) 0.763 / 0.843: the paired difference of ``"equal"``
and that family is -0.018 [-0.052, +0.016] in accuracy and +0.009 [-0.022, +0.037] in AUC
(noise), that of plain joining -0.102 [-0.147, -0.059]. Per-family PCA to 64 components scored
no better than ``"equal"`` (0.739 / 0.860) with an extra fitted step; a smaller HOG (16-pixel
cells) with plain joining was no better either (0.734 / 0.849).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import FeatureUnion
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import Interval, StrOptions, validate_parameters
from .._records import names_caller_positions

__all__ = ["FamilyScaler", "FamilyUnion", "FAMILY_SCALINGS", "NONE_VALUES", "family_blocks", "family_space"]

#: The spellings of "no such step" that featbus's builders take (``family_scaling``, ``balance``,
#: ``select``, ``preprocessing``).
NONE_VALUES = (None, "none", "None", "no", False)

FAMILY_SCALINGS = ("equal", "standard", "pca", None)


class FamilyScaler(TransformerMixin, BaseEstimator):
    """Standardise a matrix made of feature families and give every family the same weight.

    The columns are split into consecutive blocks (one per family, widths ``blocks``). Every
    column is standardised (mean 0, variance 1, as :class:`~sklearn.preprocessing.StandardScaler`;
    a constant column becomes 0). Then, with ``method="equal"``, each block is multiplied by
    ``sqrt(D / (K * V_b))`` where ``V_b`` is the block's total variance on the training data
    (its number of non-constant columns), ``K`` the number of blocks and ``D`` the total
    variance of all blocks: every family carries ``D / K``, whatever its width, and the matrix
    keeps the total variance of plain standardisation (so ``gamma="scale"`` and ``C`` mean
    what they meant). With one block it is exactly a StandardScaler. ``method="pca"`` first
    reduces each standardised block to at most ``n_components`` principal components (fitted
    on the training data), then weights like ``"equal"``. ``method="standard"`` is plain
    per-column standardisation (every column weighs the same, so a wide family dominates).

    Parameters
    ----------
    blocks : sequence of int or None, default=None
        Widths of the consecutive families; ``None``: one block (all columns).
    method : {"equal", "standard", "pca"}, default="equal"
    n_components : int, default=64
        Components kept per family with ``method="pca"`` (fewer if the family or the training
        set is smaller).

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features_in_,)
        Per-column standardisation.
    block_weights_ : ndarray of shape (n_blocks,)
    components_ : list of (ndarray or None)
        Per block, the PCA projection (``method="pca"``) or ``None``.
    n_features_out_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.compute.scaling import FamilyScaler
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 101))       # a 100-column family and a 1-column family
    >>> Xt = FamilyScaler(blocks=[100, 1]).fit_transform(X)
    >>> np.round([Xt[:, :100].var(axis=0).sum(), Xt[:, 100:].var(axis=0).sum()], 6).tolist()
    [50.5, 50.5]
    """

    _parameter_constraints: dict = {
        "blocks": ["array-like", None],
        "method": [StrOptions({"equal", "standard", "pca"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, blocks=None, *, method: str = "equal", n_components: int = 64):
        self.blocks = blocks
        self.method = method
        self.n_components = n_components

    def _bounds(self, n_features: int) -> np.ndarray:
        blocks = [n_features] if self.blocks is None else [int(b) for b in self.blocks]
        if not blocks or any(b < 1 for b in blocks) or sum(blocks) != n_features:
            raise ValueError(f"blocks must be positive widths summing to the {n_features} input "
                             f"columns, got {self.blocks!r}")
        return np.cumsum([0] + blocks)

    def fit(self, X, y=None):
        """Learn the per-column standardisation, projections and block weights. Returns ``self``."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit on ``X`` and return it transformed."""
        validate_parameters(self)
        X = validate_data(self, X, dtype=np.float64, reset=True)
        bounds = self._bounds(X.shape[1])
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)  # a constant column becomes 0, not NaN
        Z = (X - self.mean_) / self.scale_
        self.components_, parts = [], []
        for a, b in zip(bounds[:-1], bounds[1:]):
            block = Z[:, a:b]
            comp = None
            if self.method == "pca" and b - a > self.n_components:
                k = min(int(self.n_components), X.shape[0])
                # right singular vectors of the centred block: the principal axes
                _, _, vt = np.linalg.svd(block, full_matrices=False)
                comp = vt[:k].T
                block = block @ comp
            self.components_.append(comp)
            parts.append(block)
        variances = np.array([p.var(axis=0).sum() for p in parts])
        if self.method == "standard":
            weights = np.ones(len(parts))
        else:
            total = variances.sum()
            weights = np.sqrt(np.divide(total, len(parts) * variances, out=np.ones(len(parts)),
                                        where=variances > 0))
        self.block_weights_ = weights
        self.n_features_out_ = int(sum(p.shape[1] for p in parts))
        return np.hstack([p * w for p, w in zip(parts, weights)])

    def transform(self, X):
        """Standardise, project (``"pca"``) and weight ``X`` as learnt in ``fit``."""
        check_is_fitted(self, "block_weights_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Z = (X - self.mean_) / self.scale_
        bounds = self._bounds(X.shape[1])
        out = []
        for (a, b), comp, w in zip(zip(bounds[:-1], bounds[1:]), self.components_, self.block_weights_):
            block = Z[:, a:b]
            out.append((block if comp is None else block @ comp) * w)
        return np.hstack(out)

    def column_map(self) -> tuple[np.ndarray, np.ndarray]:
        """The fitted scaling as one map per column: ``(center, scale)`` such that
        ``(X - center) / scale`` is :meth:`transform`'s output (the standardisation and the
        block weights folded into one scale).

        Returns
        -------
        center, scale : ndarray of shape (n_features_in_,)

        Raises
        ------
        ValueError
            When a block was reduced by PCA (``method="pca"``): its output is not a map per column.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(30, 5))
        >>> scaler = FamilyScaler(blocks=[3, 2]).fit(X)
        >>> center, scale = scaler.column_map()
        >>> bool(np.allclose((X - center) / scale, scaler.transform(X)))
        True
        """
        check_is_fitted(self, "block_weights_")
        if any(c is not None for c in self.components_):
            raise ValueError("a block reduced by PCA is not a map per column; column_map needs method 'equal' or "
                             "'standard' (or blocks no wider than n_components)")
        widths = np.diff(self._bounds(self.n_features_in_))
        return self.mean_, self.scale_ / np.repeat(self.block_weights_, widths)

    def get_feature_names_out(self, input_features=None):
        """Input names (``"pca"``: ``"<first column of the block>.pc<i>"`` per reduced block)."""
        check_is_fitted(self, "block_weights_")
        if input_features is None:
            input_features = getattr(self, "feature_names_in_",
                                     np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object))
        input_features = np.asarray(input_features, dtype=object)
        bounds = self._bounds(self.n_features_in_)
        names = []
        for (a, b), comp in zip(zip(bounds[:-1], bounds[1:]), self.components_):
            names += (list(input_features[a:b]) if comp is None
                      else [f"{input_features[a]}.pc{i}" for i in range(comp.shape[1])])
        return np.asarray(names, dtype=object)


_JOINED = "joined"  # FamilyUnion._fitting_scaler once _hstack has seen the parts' outputs


class FamilyUnion(FeatureUnion):
    """A :class:`~sklearn.pipeline.FeatureUnion` that joins feature families on equal terms.

    Each part is one feature family; with ``family_scaling`` set, the concatenated output goes
    through a :class:`FamilyScaler` whose blocks are the parts' widths, fitted in
    ``fit`` / ``fit_transform`` (so on training folds only inside a cross-validation or grid
    search) and applied in ``transform``. Parameters of the parts keep their usual names
    (``hog__orientations``).

    Parameters
    ----------
    transformer_list : list of (str, transformer)
    family_scaling : {"equal", "standard", "pca"} or None, default="equal"
        See :class:`FamilyScaler`; ``None`` concatenates the parts unscaled, as FeatureUnion.
    n_components : int, default=64
        Components per family with ``family_scaling="pca"``.
    n_jobs, transformer_weights, verbose, verbose_feature_names_out
        As in :class:`~sklearn.pipeline.FeatureUnion` (weights apply before the scaling).

    Attributes
    ----------
    scaler_ : FamilyScaler or None
        The fitted scaling of the joined output.
    family_widths_ : list of int
        Columns of each part, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from featbus.compute.scaling import FamilyUnion
    >>> wide = FunctionTransformer(lambda X: np.repeat(X[:, :1], 100, axis=1))
    >>> narrow = FunctionTransformer(lambda X: X[:, 1:2])
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> union = FamilyUnion([("wide", wide), ("narrow", narrow)]).fit(X)
    >>> union.family_widths_, union.transform(X).shape
    ([100, 1], (50, 101))
    """

    def __init__(self, transformer_list, *, family_scaling: str | None = "equal", n_components: int = 64,
                 n_jobs=None, transformer_weights=None, verbose=False, verbose_feature_names_out=True):
        self.family_scaling = family_scaling
        self.n_components = n_components
        super().__init__(transformer_list, n_jobs=n_jobs, transformer_weights=transformer_weights,
                         verbose=verbose, verbose_feature_names_out=verbose_feature_names_out)

    def _scaling(self) -> str | None:
        if self.family_scaling in NONE_VALUES:
            return None
        if self.family_scaling not in FAMILY_SCALINGS:
            raise ValueError(f"family_scaling must be one of {FAMILY_SCALINGS}, got {self.family_scaling!r}")
        return self.family_scaling

    def fit(self, X, y=None, **params):
        """Fit every part and the scaling of their joined output. Returns ``self``."""
        self.fit_transform(X, y, **params)
        return self

    @names_caller_positions
    def fit_transform(self, X, y=None, **params):
        """Fit every part and the scaling; return the joined, scaled features."""
        self._scaling()  # a bad value fails before any feature is computed
        self._fitting_scaler = True  # read by _hstack, the one place that sees every part's output
        try:
            with self._pooled(X, fit=True):
                out = super().fit_transform(X, y, **params)
            if self._fitting_scaler is not _JOINED and any(t not in ("drop", None) for _, t in self.transformer_list):
                # FeatureUnion._hstack is a private hook (tests/test_compat.py checks it): never unscaled silently
                raise RuntimeError("this scikit-learn's FeatureUnion no longer joins its parts through "
                                   "_hstack(self, Xs), where FamilyUnion scales them; use a scikit-learn "
                                   "featbus supports")
            return out
        finally:
            del self._fitting_scaler

    def _pooled(self, X, *, fit: bool):
        """One pool over the images for every part that computes image by image, when the parts
        ask for more than one job (:func:`featbus.compute.extraction.pooled_rows`); else nothing."""
        import contextlib

        from joblib import effective_n_jobs

        from .._records import check_images
        from .extraction import pooled_rows

        parts = [e for _, e in self.transformer_list if hasattr(e, "_one_record") and hasattr(e, "_compute")]
        jobs = [effective_n_jobs(e.n_jobs) for e in parts if getattr(e, "n_jobs", None) not in (None, 1)]
        if len(parts) < 2 or not jobs or max(jobs) < 2:
            return contextlib.nullcontext()
        if fit:
            for part in parts:  # the rows' keys need fitted parts (FeatureUnion refits them: cheap)
                part.fit(X)
        return pooled_rows(parts, check_images(X), max(jobs))

    def _hstack(self, Xs):
        method = self._scaling()
        widths = [int(x.shape[1]) for x in Xs]
        joined = super()._hstack(Xs)
        if getattr(self, "_fitting_scaler", False):
            self._fitting_scaler = _JOINED
            self.family_widths_ = widths
            self.scaler_ = (None if method is None
                            else FamilyScaler(widths, method=method, n_components=self.n_components))
        if self.scaler_ is None:
            return joined
        values = joined.toarray() if hasattr(joined, "toarray") else np.asarray(joined)
        if getattr(self, "_fitting_scaler", False):
            out = self.scaler_.fit_transform(values)
        else:
            if widths != self.family_widths_:
                raise ValueError(f"the parts returned {widths} columns, {self.family_widths_} when fitted")
            out = self.scaler_.transform(values)
        if hasattr(joined, "columns"):  # pandas output: keep the index, name the columns
            import pandas as pd

            return pd.DataFrame(out, index=joined.index, columns=self.get_feature_names_out())
        return out

    @names_caller_positions
    def transform(self, X, **params):
        """Joined, scaled features of ``X``."""
        check_is_fitted(self, "family_widths_")
        with self._pooled(X, fit=False):
            return super().transform(X, **params)

    def get_feature_names_out(self, input_features=None):
        """Names as FeatureUnion gives them (``"hog__hog.0"``); reduced blocks are renamed
        ``"<family>__pc<i>"``."""
        names = super().get_feature_names_out(input_features)
        scaler = getattr(self, "scaler_", None)
        if scaler is None or all(c is None for c in scaler.components_):
            return names
        out, start = [], 0
        parts = [name for name, part in self.transformer_list if part != "drop"]  # as FeatureUnion joins them
        for name, width, comp in zip(parts, self.family_widths_, scaler.components_):
            out += (list(names[start:start + width]) if comp is None
                    else [f"{name}__pc{i}" for i in range(comp.shape[1])])
            start += width
        return np.asarray(out, dtype=object)


def family_blocks(names: Sequence[str]) -> list[int]:
    """Widths of the feature families in a matrix whose columns are named ``family__feature``
    (what :func:`featbus.pipelines.extract_features` and ``featbus extract`` write), in order:
    the ``blocks`` of :class:`FamilyScaler`.

    Parameters
    ----------
    names : sequence of str
        Column names, each family's columns together.

    Returns
    -------
    blocks : list of int

    Examples
    --------
    >>> family_blocks(["lbp__a", "lbp__b", "glcm__c"])
    [2, 1]
    """
    families = [str(n).split("__", 1)[0] for n in names]
    return [families.count(f) for f in dict.fromkeys(families)]


def family_space(X: np.ndarray, blocks) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(center, scale)`` of the family-weighted standardised space of ``X``:
    :class:`FamilyScaler` with ``method="equal"`` fitted on ``X``, as one map per column
    (:meth:`FamilyScaler.column_map`). The space a model's classifier sees its features in, and
    the out-of-domain reference's (:mod:`featbus.model.domain`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    blocks : sequence of int or None
        Widths of the consecutive families; ``None``: one block.

    Returns
    -------
    center, scale : ndarray of shape (n_features,)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> center, scale = family_space(X, [2, 1])
    >>> np.round(((X - center) / scale).var(axis=0).sum(), 6)
    np.float64(3.0)
    """
    return FamilyScaler(blocks=blocks, method="equal").fit(X).column_map()
