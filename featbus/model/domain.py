"""How unlike the training images an image is: an out-of-domain score in a model's feature space.

A classifier answers for every image it is given, a mammogram sent to an ultrasound model
included. :class:`DomainReference` remembers, compactly, where the training images lie in the
space the model's classifier sees, and scores new images by their distance from them:

1. **the model's space**: every column standardised and every feature family given the same
   total variance, as the classifier's first step (:class:`~featbus.compute.scaling.FamilyScaler`,
   ``method="equal"``) joins them; ``blocks`` names the families' widths;
2. **compact**: the ``n_components`` (at most 32 by default) principal axes of the training
   images in that space (a few hundred kilobytes for 8,000 HOG columns);
3. **a distance** (``method``): ``"mahalanobis"``, the Mahalanobis distance of an image's
   principal-component scores from the training mean, with a Ledoit-Wolf shrunk covariance
   (Lee et al. 2018 use the Mahalanobis distance in a network's feature space to detect
   out-of-distribution inputs; Ledoit & Wolf 2004 make the covariance of a few hundred images
   well conditioned), plus the image's distance *off* those axes (its residual, in units of the
   training images' cross-fitted residual): an image unlike every training image in a direction
   the training images never vary in is far too; or ``"knn"``, the distance to the
   ``n_neighbors``-th nearest training image in the whitened principal-component space (Sun et
   al. 2022), which keeps the training images' scores (``n_samples x n_components``);
4. **a threshold that is not optimistic**: the training images are split into ``n_splits``
   folds (whole groups, e.g. near-duplicate groups, when ``groups`` is given); each fold is
   scored by a reference fitted on the other folds, and the threshold is the ``quantile`` of
   these *cross-fitted* distances. A training image scored by a reference that holds it is
   closer than a new image from the same source would be: a threshold taken from those
   distances would flag many ordinary new images. When the *features* were learnt from the
   training images (a fine-tuned network's embeddings), cross-fitting the reference is not
   enough, since the network pulled those very images together: ``fit(X, X_val=...)`` then
   takes the threshold from rows the features never learnt from (the network's validation
   images), scored by the reference fitted on ``X``.

An image is *out of domain* when its distance exceeds the threshold, so about ``1 - quantile``
of new images from the training source are flagged (1 % with the default 0.99), and
:meth:`DomainReference.transform` gives distance / threshold (1 at the threshold).

What it measures is *unlike the training images in the model's features*, not *wrong*: an
image of the right kind from another scanner can look unlike them (it is then worth knowing),
and an image of another kind whose features happen to fall among the training images' is not
flagged. ``benchmarks/out_of_domain.py`` measures the rates on BUSI (held out, grouped),
mini-MIAS mammograms and BUS-BRA (another hospital's ultrasound).

**What the images are** (the second half of this module): the score above says *how far*, not
*what*. :func:`training_profile` describes the training images without the model (size, the
share of the frame the segmenter's lesion box covers, colour, seven :func:`image_statistics`
with a Mahalanobis reference of their own), stored in the model file's manifest
(``training_images``); :func:`kind_reasons` calls an image *out of domain* (no class) when it
is a colour picture of a grey model, or unlike the training images both in its statistics and
in the model's features; :func:`data_words` says in words how a set differs (lesion crops,
sizes). ``benchmarks/out_of_domain.py --shipped`` measures both on the shipped ``breast-us``.

References
----------
Lee K, Lee K, Lee H, Shin J. *A simple unified framework for detecting out-of-distribution
samples and adversarial attacks.* NeurIPS 2018. https://doi.org/10.48550/arXiv.1807.03888

Sun Y, Ming Y, Zhu X, Li Y. *Out-of-distribution detection with deep nearest neighbors.*
ICML 2022. https://doi.org/10.48550/arXiv.2204.06507

Ledoit O, Wolf M. *A well-conditioned estimator for large-dimensional covariance matrices.*
Journal of Multivariate Analysis 88(2):365-411 (2004). https://doi.org/10.1016/S0047-259X(03)00096-4
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import Interval, StrOptions, validate_parameters
from ..compute.scaling import family_space

__all__ = ["DomainReference", "manifest_entry", "score_columns", "flag_summary", "MAX_COMPONENTS", "MAX_NEIGHBORS",
           "MIN_HELD_OUT", "image_statistics", "colour_of", "describe_images", "training_profile", "profile_of",
           "LOOK_COLUMNS", "image_look", "described_from_looks",
           "statistics_score", "kind_reasons", "check_images", "refuse_other_kind", "data_words",
           "which_and_why", "STATISTICS",
           "COLOUR_LIMIT", "OUT_OF_DOMAIN"]

#: Largest ``n_components`` a reference may keep (a model file holding more is refused).
MAX_COMPONENTS = 256
#: Largest ``n_neighbors`` of ``method="knn"``.
MAX_NEIGHBORS = 1000
#: Fewest held-out rows (``X_val`` of :meth:`DomainReference.fit`) a threshold is taken from.
MIN_HELD_OUT = 20


class _State:
    """The fitted arrays of one reference (the estimator's, or a cross-fitting fold's)."""

    def __init__(self, X, blocks, n_components, method, n_neighbors):
        self.mean, self.scale = family_space(X, blocks)
        Z = (X - self.mean) / self.scale
        s, self.components = _principal_axes(Z, int(min(n_components, X.shape[0] - 1, X.shape[1])))
        k = len(s)
        scores = Z @ self.components.T
        self.method = method
        if method == "mahalanobis":
            from sklearn.covariance import LedoitWolf

            self.precision = LedoitWolf(assume_centered=True).fit(scores).precision_
            self.residual_scale = 1.0  # set by the caller from cross-fitted residuals
        else:
            self.whiten = np.where(s[:k] > 0, s[:k] / np.sqrt(max(X.shape[0] - 1, 1)), 1.0)
            self.bank = scores / self.whiten
            self.n_neighbors = int(min(n_neighbors, X.shape[0]))

    def parts(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(distance on the principal axes, residual norm off them) of each row."""
        Z = (np.asarray(X, dtype=np.float64) - self.mean) / self.scale
        scores = Z @ self.components.T
        residual = np.sqrt(np.maximum(np.einsum("ij,ij->i", Z, Z) - np.einsum("ij,ij->i", scores, scores), 0))
        if self.method == "mahalanobis":
            on = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", scores, self.precision, scores), 0))
        else:
            on = _kth_distance(scores / self.whiten, self.bank, self.n_neighbors)
        return on, residual


def _principal_axes(Z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` leading singular values and right singular vectors (rows) of the centred ``Z``,
    from the eigenvectors of the smaller of its two Gram matrices (8,000 HOG columns and 600
    images: a 600 x 600 eigenproblem, about 10 times faster than the SVD). Axes whose singular
    value is nil (fewer independent rows than ``k``) are dropped."""
    n, p = Z.shape
    if n < p:
        w, u = np.linalg.eigh(Z @ Z.T)
        order = np.argsort(w)[::-1][:k]
        s = np.sqrt(np.maximum(w[order], 0))
        keep = s > 1e-9 * max(s[0], 1e-300)
        s, u = s[keep], u[:, order[keep]]
        axes = (u.T @ Z) / s[:, None]
    else:
        w, v = np.linalg.eigh(Z.T @ Z)
        order = np.argsort(w)[::-1][:k]
        s = np.sqrt(np.maximum(w[order], 0))
        keep = s > 1e-9 * max(s[0], 1e-300)
        s, axes = s[keep], v[:, order[keep]].T
    if not len(s):
        raise ValueError("the training rows do not vary: there is no domain to learn")
    return s, axes


def _kth_distance(A: np.ndarray, bank: np.ndarray, k: int, *, block: int = 512) -> np.ndarray:
    """Euclidean distance of each row of ``A`` to its ``k``-th nearest row of ``bank``."""
    out = np.empty(len(A))
    bank_sq = np.einsum("ij,ij->i", bank, bank)
    for a in range(0, len(A), block):
        chunk = A[a:a + block]
        d2 = np.einsum("ij,ij->i", chunk, chunk)[:, None] - 2 * chunk @ bank.T + bank_sq[None, :]
        out[a:a + block] = np.sqrt(np.maximum(np.partition(d2, k - 1, axis=1)[:, k - 1], 0))
    return out


def _combine(on: np.ndarray, residual: np.ndarray, residual_scale: float, n_on: int) -> np.ndarray:
    """One distance from the on-axes distance and the residual in units of ``residual_scale``,
    both on the scale of a root of a chi-square of ``n_on`` degrees of freedom."""
    return np.sqrt(on ** 2 + n_on * (residual / residual_scale) ** 2)


class DomainReference(OutlierMixin, TransformerMixin, BaseEstimator):
    """Where the training images lie in a model's feature space, and how far a new image is.

    Fitted on the feature rows the model's classifier was trained on; scores any new row by its
    distance from them (see the module docstring :mod:`featbus.model.domain`): standardised and
    family-weighted columns, ``n_components`` principal axes, a Mahalanobis (Ledoit-Wolf) or
    k-nearest-neighbour distance, and a threshold at the ``quantile`` of cross-fitted training
    distances, so that about ``1 - quantile`` of new images like the training ones are flagged.

    Follows scikit-learn's novelty-detection API (:class:`~sklearn.neighbors.LocalOutlierFactor`
    with ``novelty=True``): :meth:`score_samples` (the higher, the more typical),
    :meth:`decision_function` (negative: out of domain), :meth:`predict` (``-1`` out of domain,
    ``1`` in), and, as a transformer, :meth:`transform`: one column ``out_of_domain``, the
    distance divided by the threshold (above 1: flagged).

    Parameters
    ----------
    blocks : sequence of int or None, default=None
        Widths of the consecutive feature families in ``X`` (as
        :func:`featbus.compute.scaling.family_blocks` gives them), each given the same total variance;
        ``None``: one block (every column standardised alike).
    n_components : int, default=32
        Principal axes kept (fewer when there are fewer training rows or columns); at most
        :data:`MAX_COMPONENTS`.
    method : {"mahalanobis", "knn"}, default="mahalanobis"
        ``"mahalanobis"``: Mahalanobis distance of the principal-component scores (Ledoit-Wolf
        covariance) combined with the residual off the axes; stores ``n_components`` axes and a
        ``n_components`` square precision. ``"knn"``: distance to the ``n_neighbors``-th nearest
        training row in the whitened principal-component space, combined with the residual
        likewise; also stores every training row's scores.
    n_neighbors : int, default=5
        The neighbour whose distance counts, with ``method="knn"``; at most :data:`MAX_NEIGHBORS`.
    quantile : float, default=0.99
        The threshold is this quantile of the cross-fitted training distances (in (0.5, 1)).
    n_splits : int, default=5
        Folds of the cross-fitting (fewer when there are fewer groups).
    random_state : int, RandomState instance or None, default=0
        Shuffles the rows (or groups) into folds.

    Attributes
    ----------
    n_features_in_ : int
    mean_, scale_ : ndarray of shape (n_features,)
        ``(X - mean_) / scale_`` is the standardised, family-weighted space.
    components_ : ndarray of shape (n_components, n_features)
        The principal axes (float32).
    n_components_ : int
    precision_ : ndarray of shape (n_components, n_components) or None
        Inverse Ledoit-Wolf covariance of the scores (``method="mahalanobis"``).
    bank_ : ndarray of shape (n_samples, n_components) or None
        Whitened scores of the training rows (``method="knn"``, float32).
    whiten_ : ndarray of shape (n_components,) or None
        Standard deviation of each score (``method="knn"``).
    residual_scale_ : float
        Median cross-fitted residual norm of the training rows: the residual's unit.
    threshold_ : float
        The ``quantile`` of the cross-fitted training distances.
    offset_ : float
        ``-threshold_`` (scikit-learn's convention: ``decision_function = score_samples - offset_``).
    training_distances_ : ndarray of shape (n_samples,) or (n_val,)
        The distances the threshold was taken from: the cross-fitted distance of every training
        row, or the distance of every ``X_val`` row.
    threshold_from_ : {"cross-fitted", "held-out"}
        Where the threshold (and the residual's unit) came from.
    n_samples_fit_ : int
        Rows in the reference (``X``'s).

    See Also
    --------
    sklearn.covariance.EllipticEnvelope : Mahalanobis outlier detection in the input space.

    References
    ----------
    Lee K, Lee K, Lee H, Shin J. *A simple unified framework for detecting out-of-distribution
    samples and adversarial attacks.* NeurIPS 2018. https://doi.org/10.48550/arXiv.1807.03888

    Sun Y, Ming Y, Zhu X, Li Y. *Out-of-distribution detection with deep nearest neighbors.*
    ICML 2022. https://doi.org/10.48550/arXiv.2204.06507

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import DomainReference
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 20))
    >>> ref = DomainReference(n_components=8).fit(X)
    >>> new = rng.normal(size=(200, 20))
    >>> far = rng.normal(size=(5, 20)) + 4.0
    >>> round(float(np.mean(ref.predict(new) == -1)), 2) <= 0.05, (ref.predict(far) == -1).all()
    (True, np.True_)
    >>> ref.transform(far[:2]).shape
    (2, 1)
    """

    _parameter_constraints: dict = {
        "blocks": ["array-like", None],
        "n_components": [Interval(Integral, 1, MAX_COMPONENTS, closed="both")],
        "method": [StrOptions({"mahalanobis", "knn"})],
        "n_neighbors": [Interval(Integral, 1, MAX_NEIGHBORS, closed="both")],
        "quantile": [Interval(Real, 0.5, 1, closed="neither")],
        "n_splits": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, blocks=None, *, n_components: int = 32, method: str = "mahalanobis", n_neighbors: int = 5,
                 quantile: float = 0.99, n_splits: int = 5, random_state=0):
        self.blocks = blocks
        self.n_components = n_components
        self.method = method
        self.n_neighbors = n_neighbors
        self.quantile = quantile
        self.n_splits = n_splits
        self.random_state = random_state

    # -- fitting
    def _folds(self, n: int, groups) -> list[tuple[np.ndarray, np.ndarray]]:
        from sklearn.model_selection import GroupKFold, KFold

        from ..model_selection import resolve_groups

        if groups is None:
            splits = min(int(self.n_splits), n)
            return list(KFold(splits, shuffle=True, random_state=self.random_state).split(np.zeros(n)))
        groups = resolve_groups(np.zeros((n, 1)), groups)
        splits = min(int(self.n_splits), np.unique(groups).size)
        if splits < 2:
            raise ValueError("cross-fitting the threshold needs at least 2 groups, got 1")
        return list(GroupKFold(splits, shuffle=True, random_state=self.random_state).split(np.zeros(n), groups=groups))

    def _state(self, X) -> _State:
        return _State(X, self.blocks, self.n_components, self.method, self.n_neighbors)

    def fit(self, X, y=None, groups=None, X_val=None):
        """Learn the space, the reference and the threshold (cross-fitted, or from ``X_val``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training images' feature rows (e.g. :meth:`featbus.model.FeatbusModel.transform`
            of the training images).
        y : None
            Ignored.
        groups : array-like of shape (n_samples,), optional
            Rows of one group (near-duplicates of one lesion, one patient's images) stay in one
            fold of the cross-fitting, so that no image is scored by a reference holding its copy.
            Ignored with ``X_val``.
        X_val : array-like of shape (n_val, n_features), optional
            Rows of images like the training ones that the *features* were not learnt from (a
            fine-tuned network's validation images, whose copies are not in ``X``), at least
            :data:`MIN_HELD_OUT`: the threshold is the ``quantile`` of their distances from
            the reference fitted on ``X``, instead of cross-fitted training distances (see the
            module docstring). As scikit-learn's ``X_val`` of
            :meth:`~sklearn.ensemble.HistGradientBoostingClassifier.fit`.

        Returns
        -------
        self : DomainReference
        """
        validate_parameters(self)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=4, reset=True)
        n = X.shape[0]
        state = self._state(X)
        k = state.components.shape[0]
        if X_val is not None:
            X_val = validate_data(self, X_val, dtype=np.float64, reset=False)
            if X_val.shape[0] < MIN_HELD_OUT:
                raise ValueError(f"X_val holds {X_val.shape[0]} rows: a threshold from held-out rows needs at least "
                                 f"{MIN_HELD_OUT} (leave X_val out to cross-fit it on X)")
            on_oof, res_oof = state.parts(X_val)
            self.threshold_from_ = "held-out"
        else:
            on_oof, res_oof = np.empty(n), np.empty(n)
            for train, test in self._folds(n, groups):
                fold = self._state(X[train])
                on_oof[test], res_oof[test] = fold.parts(X[test])
            self.threshold_from_ = "cross-fitted"
        self.n_samples_fit_ = int(n)
        self.residual_scale_ = float(np.median(res_oof)) if np.median(res_oof) > 0 else 1.0
        self.training_distances_ = _combine(on_oof, res_oof, self.residual_scale_, k)
        self.threshold_ = float(np.quantile(self.training_distances_, self.quantile))
        self.offset_ = -self.threshold_
        self.mean_, self.scale_ = state.mean, state.scale
        self.components_ = state.components.astype(np.float32)
        self.n_components_ = int(k)
        self.precision_ = getattr(state, "precision", None)
        self.bank_ = state.bank.astype(np.float32) if self.method == "knn" else None
        self.whiten_ = getattr(state, "whiten", None)
        return self

    # -- scoring
    def distance(self, X) -> np.ndarray:
        """Distance of each row from the training rows (the threshold's units).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        distance : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "threshold_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        self._check_state()
        state = _State.__new__(_State)
        state.mean, state.scale, state.method = self.mean_, self.scale_, self.method
        state.components = self.components_.astype(np.float64)
        if self.method == "mahalanobis":
            state.precision = self.precision_
        else:
            state.whiten, state.bank = self.whiten_, self.bank_.astype(np.float64)
            state.n_neighbors = int(min(self.n_neighbors, len(self.bank_)))
        on, residual = state.parts(X)
        return _combine(on, residual, self.residual_scale_, self.n_components_)

    def score_samples(self, X) -> np.ndarray:
        """Opposite of :meth:`distance` (scikit-learn's convention: the higher, the more typical).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        return -self.distance(X)

    def decision_function(self, X) -> np.ndarray:
        """``threshold_ - distance``: negative for an out-of-domain row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """``-1`` for an out-of-domain row (distance above the threshold), ``1`` otherwise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return np.where(self.decision_function(X) >= 0, 1, -1)

    def transform(self, X):
        """Out-of-domain score: distance / threshold (above 1: out of domain).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, 1)
            Column ``out_of_domain`` (a DataFrame with ``set_output(transform="pandas")``).
        """
        return (self.distance(X) / self.threshold_)[:, None]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``["out_of_domain"]``.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self, "threshold_")
        return np.asarray(["out_of_domain"], dtype=object)

    def _check_state(self) -> None:
        """The fitted arrays agree with each other (run by :meth:`__setstate__`, so on every loaded
        model file, and before every scoring).

        Raises
        ------
        ValueError
            Shapes, counts or values that :meth:`fit` never writes.
        """
        from .trust import printable

        try:
            p, k = int(self.n_features_in_), int(self.n_components_)
            method = self.method
        except (AttributeError, TypeError, ValueError) as exc:
            raise ValueError(f"a DomainReference's fitted state does not read ({type(exc).__name__})") from None
        if method not in ("mahalanobis", "knn"):
            raise ValueError(f"a DomainReference's method is {printable(repr(method))[:40]}")
        problems = [
            (np.shape(self.mean_) == (p,) and np.shape(self.scale_) == (p,), "a centre and a scale per column"),
            (0 < k <= min(MAX_COMPONENTS, p) and np.shape(self.components_) == (k, p), "n_components_ axes"),
            (np.all(np.isfinite(self.mean_)) and np.all(np.isfinite(self.scale_)) and np.all(self.scale_ > 0),
             "finite centres and positive scales"),
            (np.isfinite(self.threshold_) and self.threshold_ > 0 and np.isfinite(self.residual_scale_)
             and self.residual_scale_ > 0, "a positive threshold and residual unit"),
        ]
        if method == "mahalanobis":
            problems.append((np.shape(self.precision_) == (k, k), "a square precision of n_components_"))
        else:
            problems.append((np.ndim(self.bank_) == 2 and np.shape(self.bank_)[1] == k and len(self.bank_) >= 1
                             and np.shape(self.whiten_) == (k,), "a bank of n_components_ scores"))
        for ok, what in problems:
            if not ok:
                raise ValueError(f"a DomainReference's arrays disagree (it needs {what})")

    def __setstate__(self, state):
        """Restore a copy (clone, pickle, a model file's skops archive): a fitted one's arrays are
        checked against each other here, so that a model file holding arrays :meth:`fit` never
        writes is refused when it is loaded (:meth:`_check_state`), not met later."""
        super().__setstate__(state)
        if "threshold_" in state:
            self._check_state()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def manifest_entry(reference: DomainReference) -> dict:
    """What a model file's manifest says about its reference (JSON values).

    Parameters
    ----------
    reference : DomainReference
        Fitted.

    Returns
    -------
    entry : dict
        ``class``, ``method``, ``n_components``, ``quantile``, ``threshold``, ``n_features``,
        ``n_images`` (in the reference), ``threshold_from`` (``"cross-fitted"`` or
        ``"held-out"``), ``n_threshold_images`` (the distances the threshold is a quantile of)
        and ``about`` (one sentence).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import DomainReference, manifest_entry
    >>> ref = DomainReference(n_components=4).fit(np.random.default_rng(0).normal(size=(50, 6)))
    >>> manifest_entry(ref)["n_components"]
    4
    """
    check_is_fitted(reference, "threshold_")
    source = getattr(reference, "threshold_from_", "cross-fitted")
    n_ref = int(getattr(reference, "n_samples_fit_", len(reference.training_distances_)))
    n_thr = int(len(reference.training_distances_))
    of = ("the training images' cross-fitted distances" if source == "cross-fitted" else
          f"the distances of {n_thr} held-out images the features never learnt from")
    return {"class": "DomainReference", "method": reference.method, "n_components": int(reference.n_components_),
            "quantile": float(reference.quantile), "threshold": float(reference.threshold_),
            "n_features": int(reference.n_features_in_), "n_images": n_ref,
            "threshold_from": source, "n_threshold_images": n_thr,
            "about": (f"an image whose distance from the training images (in the classifier's features, "
                      f"{int(reference.n_components_)} principal axes and the residual) exceeds the "
                      f"{reference.quantile:g} quantile of {of} is called unlike the training images")}


def score_columns(reference, features, kept, n: int) -> dict[str, np.ndarray]:
    """The columns :meth:`featbus.model.FeatbusModel.predict_table` adds for a model's reference.

    Parameters
    ----------
    reference : DomainReference or None
        The model's; ``None``: no columns.
    features : ndarray of shape (len(kept), n_features) or None
        The feature rows of the images that were read (``None``: none was).
    kept : sequence of int
        Their rows in the table.
    n : int
        The table's length.

    Returns
    -------
    columns : dict
        ``out_of_domain`` (distance / threshold, NaN for images not read) and ``unlike_training``
        (``out_of_domain > 1``, ``None`` for images not read); empty without a reference.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import DomainReference, score_columns
    >>> ref = DomainReference(n_components=2).fit(np.random.default_rng(0).normal(size=(40, 3)))
    >>> cols = score_columns(ref, np.array([[0.0, 0.0, 0.0], [9.0, 9.0, 9.0]]), [0, 2], 3)
    >>> cols["unlike_training"].tolist()
    [False, None, True]
    >>> score_columns(None, None, [], 3)
    {}
    """
    if reference is None:
        return {}
    if not isinstance(reference, DomainReference):
        raise ValueError(f"the model's out-of-domain reference is a {type(reference).__name__}, not a DomainReference "
                         "(a damaged or crafted model file)")
    score = np.full(n, np.nan)
    unlike = np.full(n, None, dtype=object)
    if features is not None and len(kept):
        kept = np.asarray(kept, dtype=int)
        score[kept] = reference.transform(features)[:, 0]
        unlike[kept] = [bool(v > 1) for v in score[kept]]
    return {"out_of_domain": score, "unlike_training": unlike}


def flag_summary(flags, *, among: str = "") -> str:
    """The one line ``featbus predict`` prints: how many images look unlike the training images.

    Parameters
    ----------
    flags : sequence of bool or None
        ``unlike_training`` of :meth:`featbus.model.FeatbusModel.predict_table` (``None``: an
        unreadable image, not counted).
    among : str, default=""
        Words after "images" saying which images were counted (``"given a class"``).

    Returns
    -------
    line : str

    Examples
    --------
    >>> from featbus.model.domain import flag_summary
    >>> flag_summary([True, False, False, None])
    '1 of 3 images looks unlike the training images (out_of_domain above 1): their predictions are extrapolations'
    >>> flag_summary([False, False])
    'none of the 2 images looks unlike the training images'
    """
    seen = [bool(f) for f in flags if f is not None]
    n, k = len(seen), int(sum(seen))
    images = f"image{'s' if n != 1 else ''}" + (f" {among}" if among else "")
    if k == 0:
        return f"none of the {n} {images} looks unlike the training images"
    return (f"{k} of {n} {images} look{'s' if k == 1 else ''} unlike the training images "
            "(out_of_domain above 1): their predictions are extrapolations")


# --------------------------------------------------------------------------- what the images look like
#
# The reference above lives in the model's features. What follows describes the *images* the model
# learnt from with a few cheap statistics that need no model (their size, how much of the frame the
# segmenter's lesion box covers, and eight image statistics), stored in the model file's manifest
# (``training_images``), and compares new images with them in words: see "The data against what the
# model knows" in docs/guide/external_validation.rst.

#: The image statistics (:func:`image_statistics`), in their order.
STATISTICS = ("dark_share", "tissue_mean", "tissue_entropy", "tissue_skewness", "speckle", "smooth_share",
              "fine_texture")
#: Their words.
STATISTIC_WORDS = {"dark_share": "dark background", "tissue_mean": "mean brightness",
                   "tissue_entropy": "histogram entropy", "tissue_skewness": "brightness skewness",
                   "speckle": "speckle contrast", "smooth_share": "smooth regions",
                   "fine_texture": "fine texture", "colour": "colour"}
#: Longer side (pixels) every image is shrunk to before its statistics (never enlarged).
STATISTICS_SIDE = 256
#: Grey level (share of full scale) below which a pixel is background.
DARK_LEVEL = 0.06
#: Mean colour (``max - min`` of the RGB channels, share of full scale) from which an image is a
#: colour picture: grey ultrasound frames have 0 (every image of the three shared sites), a
#: coloured annotation or a Doppler box on a grey frame a few hundredths; the colour photographs
#: of scikit-image's bundled data 0.15 to 0.45.
COLOUR_LIMIT = 0.10
#: How a mammogram looks in the image statistics, beside ultrasound: the film around the breast
#: (a dark background of at least 0.35 of the image), smooth fat (at least 0.25 of the windows
#: smooth) and no speckle (median window contrast at most 0.09). Measured: the first 40 mini-MIAS
#: originals 0.47-0.85, 0.33-0.72 and 0.02-0.08; 140 frames of BUSI, BUS-BRA and breast-lesions-USG
#: at most 0.49, 0.48 and at least 0.06, none meeting all three. ``(low, high)`` bounds per statistic.
MAMMOGRAM_LOOK = {"dark_share": (0.35, None), "smooth_share": (0.25, None), "speckle": (None, 0.09)}
#: Quantiles of the training images kept for each statistic, size and box share.
PROFILE_QUANTILES = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
#: Quantile of the training images' cross-fitted statistics distances the statistics threshold is.
STATISTICS_QUANTILE = 0.99
#: Words of the out-of-domain verdict that replaces a class (``predict_table``'s ``predicted``).
OUT_OF_DOMAIN = "out of domain"


def _grey01(image: np.ndarray) -> np.ndarray:
    """A 2-D float image in [0, 1] whose longer side is at most :data:`STATISTICS_SIDE`."""
    import cv2

    g = np.asarray(image)
    if g.ndim == 3:
        g = g[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    g = g.astype(np.float64)
    if np.issubdtype(np.asarray(image).dtype, np.integer):
        top = 255.0 if np.asarray(image).dtype == np.uint8 else max(float(g.max()), 1.0)
    else:
        top = 1.0 if g.max() <= 1.0 else float(g.max())
    g = np.clip(g / top, 0, 1)
    h, w = g.shape
    s = STATISTICS_SIDE / max(h, w)
    if s < 1:
        g = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return g


def image_statistics(image: np.ndarray) -> dict[str, float]:
    """Seven cheap statistics of one grey image, which tell ultrasound from other pictures.

    The image is shrunk (area interpolation) so that its longer side is at most
    :data:`STATISTICS_SIDE` pixels and scaled to [0, 1] (8-bit by 255, deeper images by their
    maximum). Pixels below :data:`DARK_LEVEL` are background; the rest is *tissue*.

    * ``dark_share``: the background's share of the image (the black frame around an
      ultrasound sector, the film around a mammogram);
    * ``tissue_mean``, ``tissue_entropy`` (bits, 32 bins) and ``tissue_skewness``: the tissue's
      brightness histogram (speckle makes an ultrasound histogram right-skewed; a mammogram's
      dense tissue and a document's paper make it left-skewed);
    * ``speckle``: the median coefficient of variation (standard deviation / (mean + 0.02)) in
      9 x 9 windows inside the tissue: speckle keeps every ultrasound window grainy;
    * ``smooth_share``: the share of those windows whose coefficient is below 0.05 (smooth
      regions: a photograph's sky, a mammogram's fat, paper);
    * ``fine_texture``: the median absolute band-pass (Gaussian sigma 1 minus sigma 4) of the
      tissue over its median brightness.

    Parameters
    ----------
    image : ndarray of shape (h, w) or (h, w, 3)

    Returns
    -------
    statistics : dict
        :data:`STATISTICS` -> float.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import image_statistics
    >>> flat = np.full((64, 64), 128, np.uint8)
    >>> s = image_statistics(flat)
    >>> s["dark_share"], s["smooth_share"], round(s["tissue_mean"], 2)
    (0.0, 1.0, 0.5)
    """
    import cv2

    # OpenCV's filters with SciPy's borders ('reflect'), kernels and erosion border (outside: background):
    # the values of scipy.ndimage's uniform_filter, gaussian_filter and binary_erosion (to 1e-12), 3x faster
    g = _grey01(image)
    tissue = g >= DARK_LEVEL
    if tissue.sum() < 100:
        tissue = np.ones_like(tissue)
    t = g[tissue]
    mean = t.mean()
    d = t - mean
    hist = np.histogram(t, bins=32, range=(0, 1))[0] / t.size
    sd_t = float(np.sqrt(np.mean(d * d)))
    mu = cv2.blur(g, (9, 9), borderType=cv2.BORDER_REFLECT)
    sd = np.sqrt(np.maximum(cv2.blur(g * g, (9, 9), borderType=cv2.BORDER_REFLECT) - mu * mu, 0))
    cv = sd / (mu + 0.02)
    inner = cv2.erode(tissue.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), iterations=4,
                      borderType=cv2.BORDER_CONSTANT, borderValue=0).view(bool)
    if inner.sum() < 50:
        inner = tissue
    band = _gaussian(g, 1.0) - _gaussian(g, 4.0)
    windows = cv[inner]
    return {"dark_share": float(1 - tissue.mean()) if tissue.size else 0.0,
            "tissue_mean": float(mean),
            "tissue_entropy": float(-np.sum(hist[hist > 0] * np.log2(hist[hist > 0]))),
            "tissue_skewness": float((d * d * d).mean() / sd_t ** 3) if sd_t > 1e-9 else 0.0,
            "speckle": float(np.median(windows)),
            "smooth_share": float(np.mean(windows < 0.05)),
            "fine_texture": float(np.median(np.abs(band[tissue])) / (np.median(t) + 0.02))}


def _gaussian(g: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(g, sigma)``: its kernel (radius ``4 sigma``, rounded) and border."""
    import cv2

    x = np.arange(-int(4.0 * sigma + 0.5), int(4.0 * sigma + 0.5) + 1, dtype=np.float64)
    kernel = np.exp(-0.5 / (sigma * sigma) * x * x)
    kernel /= kernel.sum()
    return cv2.sepFilter2D(g, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT)


def colour_of(record) -> float:
    """Mean colour of an image (``max - min`` of its RGB channels, share of full scale): read
    again from the record's file, since featbus reads images as grey; 0 for a grey file, NaN
    when there is no file to read (an array).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord
    >>> from featbus.model.domain import colour_of
    >>> colour_of(ImageRecord(np.zeros((8, 8), np.uint8)))
    nan
    """
    path = getattr(record, "path", None)
    if not path or not os.path.isfile(str(path)):
        return float("nan")
    if _grey_file(str(path)):  # said by the file's header: no second decoding
        return 0.0
    from ..io import read_image

    try:
        image = read_image(path, mode="unchanged")
    except Exception:  # noqa: BLE001 - the image was read as grey before: colour unknown, not an error
        return float("nan")
    if image.ndim != 3 or image.shape[-1] < 3:
        return 0.0
    rgb = image[..., :3].astype(np.float64)
    top = 255.0 if image.dtype == np.uint8 else max(float(rgb.max()), 1.0)
    return float(np.mean(rgb.max(-1) - rgb.min(-1)) / top)


#: Pillow's modes of one grey channel (with or without alpha): a file in one has no colour.
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def _grey_file(path: str) -> bool:
    """Whether an image file's header says it holds grey pixels (Pillow reads only the header);
    ``False`` when it says otherwise or cannot tell (then the file is decoded)."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return im.mode in _GREY_MODES
    except Exception:  # noqa: BLE001 - not an image Pillow reads (DICOM...): its DICOM header, if it is one
        pass
    try:  # a DICOM file's header (no pixel data read): one sample a pixel is grey; a full-field frame decoded
        from ..io import _dcmread  # twice would double featbus extract's time

        ds = _dcmread(path, stop_before_pixels=True)
        return int(getattr(ds, "SamplesPerPixel", 0) or 0) == 1
    except Exception:  # noqa: BLE001 - not DICOM, or pydicom absent: decoded the usual way
        return False


def _transformed(S: np.ndarray) -> np.ndarray:
    """The statistics on the scale their Mahalanobis distance is taken on (shares as logits,
    contrasts as logarithms)."""
    S = np.asarray(S, dtype=np.float64)
    out = S.copy()
    for j, name in enumerate(STATISTICS):
        v = S[:, j]
        if name == "dark_share":
            out[:, j] = np.log((v + 0.01) / (1.01 - v))
        elif name == "smooth_share":
            out[:, j] = np.log((v + 0.02) / (1.02 - v))
        elif name in ("speckle", "fine_texture"):
            out[:, j] = np.log(v + 0.01)
    return out


def _mahalanobis(T: np.ndarray, location, precision) -> np.ndarray:
    D = T - np.asarray(location)
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", D, np.asarray(precision), D), 0))


def _quantiles(v) -> list[float] | None:
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    return [float(q) for q in np.quantile(v, PROFILE_QUANTILES)] if v.size else None


def _box_share(crop, image_shape) -> float:
    """The share of the image the lesion box covers (NaN when the segmenter found no lesion)."""
    meta = getattr(crop, "meta", None) or {}
    if not meta.get("roi_found") or "roi_box" not in meta:
        return float("nan")
    r0, r1, c0, c1 = (int(b) for b in meta["roi_box"])
    return float((r1 - r0) * (c1 - c0) / max(image_shape[0] * image_shape[1], 1))


def describe_images(records, crops=None, *, progress=False, passes=None,
                    longer_side: int | None = None) -> dict[str, np.ndarray]:
    """What :func:`training_profile` and :func:`check_images` read of each image: its height and
    width (as the model sees it, given ``longer_side``), the share of it the lesion box covers
    (``crops``: the model's lesion crops of these images, records with ``meta["roi_box"]``; NaN
    without a lesion or a segmenter), its colour
    (:func:`colour_of`) and its :func:`image_statistics` (``statistics``, columns
    :data:`STATISTICS`).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import describe_images
    >>> d = describe_images([np.full((40, 60), 90, np.uint8)])
    >>> d["height"].tolist(), d["width"].tolist(), d["statistics"].shape
    ([40.0], [60.0], (1, 7))

    ``progress`` (a setting or :class:`featbus.progress.Stages`) shows the images as they are
    described (a stage counting images). Given a run's ``passes``
    (:class:`featbus.model.runtime.SharedPasses`), an image described once in the run (same pixels,
    same file) is not described again.

    ``longer_side``, the scale a model brings every image to before its parts see it (its
    ``input_scale``): the height and width are then the image's at that scale
    (:func:`featbus.model.scale.seen_shape`), so a 960 px scan is compared with the training
    images of a model trained at 320 px as the 320 px image the model sees.

    >>> describe_images([np.full((606, 856), 90, np.uint8)], longer_side=320)["width"].tolist()
    [320.0]
    """
    from ..io import load_item
    from ..progress import stages
    from .scale import seen_shape

    recs = [load_item(r, i) for i, r in enumerate(records)]
    shapes = [r.image.shape[:2] for r in recs]
    seen = [seen_shape(s, longer_side) for s in shapes]
    shares = (np.full(len(recs), np.nan) if crops is None
              else np.array([_box_share(c, s) for c, s in zip(crops, shapes)], dtype=np.float64))
    looks = np.empty((len(recs), 1 + len(STATISTICS)), dtype=np.float64)  # colour, then the statistics
    with stages(progress, "describe").stage("image check", len(recs) or None) as bar:
        for i, rec in enumerate(recs):
            looks[i] = _look(rec, passes)
            bar.update(1)
    return {"height": np.array([s[0] for s in seen], dtype=np.float64),
            "width": np.array([s[1] for s in seen], dtype=np.float64),
            "box_share": shares,
            "colour": looks[:, 0].copy(),
            "statistics": looks[:, 1:].copy(),
            "modality": [_dicom_modality(r) for r in recs]}


def _dicom_modality(record) -> str | None:
    """The ``Modality`` a DICOM file's header gave its record (``"MG"``, ``"US"``), else ``None``."""
    from .._records import DICOM_VIEW_KEY

    view = (getattr(record, "meta", None) or {}).get(DICOM_VIEW_KEY)
    return view.get("modality") if isinstance(view, dict) else None


def _look(record, passes=None) -> np.ndarray:
    """One loaded image's colour (:func:`colour_of`) then its :data:`STATISTICS` (:func:`image_statistics`);
    kept in a run's ``passes`` when given (keyed by its pixels and file)."""
    from ..compute.extraction import content_key

    key = None
    if passes is not None:
        key = f"{content_key(record, with_mask=False)}|{getattr(record, 'path', None)}"
        kept = passes.get("image-look", "domain", key)
        if kept is not None:
            return kept
    stats = image_statistics(record.image)
    look = np.array([colour_of(record), *(stats[k] for k in STATISTICS)], dtype=np.float64)
    if passes is not None:
        passes.put("image-look", "domain", key, look)
    return look


#: What :func:`image_look` gives of one image, in order: what :func:`profile_of` reads of an image described
#: without a lesion crop.
LOOK_COLUMNS = ("height", "width", "colour", *STATISTICS)


def image_look(record) -> np.ndarray:
    """One image's row of :func:`describe_images` without crops, as :data:`LOOK_COLUMNS`: its height and
    width (at its own size), its :func:`colour_of` and its :func:`image_statistics`; a few numbers that
    ``featbus extract`` keeps of each image it describes and drops, so that the profile of a table's images
    (:func:`described_from_looks`, :func:`profile_of`) is that of the images.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import LOOK_COLUMNS, image_look
    >>> look = image_look(np.full((40, 60), 90, np.uint8))
    >>> dict(zip(LOOK_COLUMNS[:2], look[:2].tolist())), look.shape
    ({'height': 40.0, 'width': 60.0}, (10,))
    """
    from ..io import load_item

    rec = load_item(record, 0)
    return np.array([*rec.image.shape[:2], *_look(rec)], dtype=np.float64)


def described_from_looks(looks) -> dict[str, np.ndarray]:
    """:func:`describe_images`' dict of images described by :func:`image_look` (rows of :data:`LOOK_COLUMNS`):
    no lesion box (NaN) and no DICOM modality, as for images described without crops.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import describe_images, described_from_looks, image_look
    >>> images = [np.full((40, 60), 90, np.uint8), np.eye(30, dtype=np.uint8) * 200]
    >>> a = describe_images(images)
    >>> b = described_from_looks([image_look(i) for i in images])
    >>> all(np.array_equal(a[k], b[k], equal_nan=True) for k in ("height", "width", "box_share", "statistics"))
    True
    """
    L = np.asarray(looks, dtype=np.float64).reshape(-1, len(LOOK_COLUMNS))
    return {"height": L[:, 0].copy(), "width": L[:, 1].copy(), "box_share": np.full(len(L), np.nan),
            "colour": L[:, 2].copy(), "statistics": L[:, 3:].copy(), "modality": [None] * len(L)}


def training_profile(records, crops=None, groups=None, *, random_state=0, n_splits: int = 5) -> dict:
    """What a model's training images looked like, as a model file's manifest stores it
    (``training_images``; JSON values).

    Parameters
    ----------
    records : sequence of ImageRecord, arrays or paths
        The training images as read (before any preprocessing).
    crops : sequence of ImageRecord, optional
        The model's lesion crops of them (``meta["roi_box"]``, ``meta["roi_found"]``), boxes in
        the images as given to the segmenter.
    groups : array-like, optional
        Near-duplicate groups or patients: kept whole by the folds of the cross-fitted threshold.
    random_state : int, default=0
    n_splits : int, default=5

    Returns
    -------
    profile : dict
        ``n_images``; ``height``, ``width`` and ``box_share`` as the training images'
        :data:`PROFILE_QUANTILES` (``box_share`` among images where a lesion was found, with
        ``n_box``), ``colour`` (quantiles); ``statistics``: ``names``, each one's quantiles,
        and the reference of the statistics distance: the Ledoit-Wolf ``location`` and
        ``precision`` of the transformed statistics and the ``threshold``, the
        :data:`STATISTICS_QUANTILE` quantile of the training images' cross-fitted distances.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import training_profile
    >>> rng = np.random.default_rng(0)
    >>> images = [(rng.random((48, 64)) * 200).astype(np.uint8) for _ in range(20)]
    >>> p = training_profile(images)
    >>> p["n_images"], p["height"][3], len(p["statistics"]["location"])
    (20, 48.0, 7)
    """
    return profile_of(describe_images(records, crops), groups, random_state=random_state, n_splits=n_splits)


def profile_of(d: dict, groups=None, *, random_state=0, n_splits: int = 5) -> dict:
    """:func:`training_profile` of images already described (:func:`describe_images`)."""
    from sklearn.covariance import LedoitWolf
    from sklearn.model_selection import GroupKFold, KFold

    n = len(d["height"])
    if n < 10:
        raise ValueError(f"a training-image profile needs at least 10 images, got {n}")
    T = _transformed(d["statistics"])
    lw = LedoitWolf().fit(T)
    oof = np.empty(n)
    if groups is None or np.unique(np.asarray(groups)).size < 2:
        splits = KFold(min(n_splits, n), shuffle=True, random_state=random_state).split(T)
    else:
        g = np.asarray(groups)
        splits = GroupKFold(min(n_splits, np.unique(g).size), shuffle=True,
                            random_state=random_state).split(T, groups=g)
    for train, test in splits:
        fold = LedoitWolf().fit(T[train])
        oof[test] = _mahalanobis(T[test], fold.location_, fold.precision_)
    found = d["box_share"][np.isfinite(d["box_share"])]
    return {"n_images": int(n), "quantiles": list(PROFILE_QUANTILES),
            "height": _quantiles(d["height"]), "width": _quantiles(d["width"]),
            "box_share": _quantiles(found), "n_box": int(found.size), "colour": _quantiles(d["colour"]),
            "statistics": {"names": list(STATISTICS),
                           "quantiles": {k: _quantiles(d["statistics"][:, j]) for j, k in enumerate(STATISTICS)},
                           "location": [float(v) for v in lw.location_],
                           "precision": [[float(v) for v in row] for row in lw.precision_],
                           "threshold": float(np.quantile(oof, STATISTICS_QUANTILE)),
                           "about": (f"Mahalanobis distance (Ledoit-Wolf) of {len(STATISTICS)} image statistics; "
                                     f"threshold: the {STATISTICS_QUANTILE:g} quantile of the training images' "
                                     f"cross-fitted distances")}}


def statistics_score(profile: dict, statistics: np.ndarray) -> np.ndarray:
    """Distance of each image's statistics from the training images', over the profile's
    threshold (above 1: unlike them; see :func:`training_profile`).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import training_profile, statistics_score, describe_images
    >>> rng = np.random.default_rng(0)
    >>> p = training_profile([(rng.random((48, 64)) * 200).astype(np.uint8) for _ in range(30)])
    >>> far = describe_images([np.full((48, 64), 250, np.uint8)])["statistics"]
    >>> bool(statistics_score(p, far)[0] > 1)
    True
    """
    st = profile["statistics"]
    if list(st["names"]) != list(STATISTICS):
        raise ValueError(f"the profile's image statistics are {st['names']}, this featbus computes {list(STATISTICS)}")
    return _mahalanobis(_transformed(statistics), st["location"], st["precision"]) / float(st["threshold"])


def _format(name: str, v: float) -> str:
    return f"{100 * v:.0f} %" if name in ("dark_share", "smooth_share") else f"{v:.2f}"


def _unusual(profile: dict, row: np.ndarray, shown: int = 2, *, keys: bool = False) -> list[str]:
    """The statistics of one image outside the training images' 1st-99th percentiles, the
    farthest first (in interquartile ranges), as words (``keys``: their names)."""
    qs = profile["statistics"]["quantiles"]
    i01, i25, i75, i99 = (PROFILE_QUANTILES.index(q) for q in (0.01, 0.25, 0.75, 0.99))
    far = []
    for j, name in enumerate(STATISTICS):
        q = qs[name]
        lo, hi, iqr = q[i01], q[i99], max(q[i75] - q[i25], 1e-6)
        beyond = (lo - row[j]) / iqr if row[j] < lo else (row[j] - hi) / iqr if row[j] > hi else 0.0
        if beyond > 0:
            far.append((beyond, STATISTIC_WORDS[name] if keys else
                        f"{STATISTIC_WORDS[name]} {_format(name, row[j])}, training {_format(name, lo)} to "
                        f"{_format(name, hi)}"))
    return [w for _, w in sorted(far, reverse=True)[:shown]]


def looks_like_mammogram(row) -> bool:
    """Whether one image's statistics (:data:`STATISTICS`, in order) look like a mammogram's
    (:data:`MAMMOGRAM_LOOK`).

    Examples
    --------
    >>> from featbus.model.domain import looks_like_mammogram
    >>> film = [0.6, 0.5, 4.4, -0.7, 0.05, 0.5, 0.02]  # dark_share, ..., speckle, smooth_share, ...
    >>> sector = [0.1, 0.4, 4.4, 0.4, 0.15, 0.0, 0.06]
    >>> looks_like_mammogram(film), looks_like_mammogram(sector)
    (True, False)
    """
    value = dict(zip(STATISTICS, (float(v) for v in row)))
    return all((lo is None or value[k] >= lo) and (hi is None or value[k] <= hi)
               for k, (lo, hi) in MAMMOGRAM_LOOK.items())


def kind_reasons(profile: dict | None, described: dict, out_of_domain=None) -> tuple[np.ndarray, list[str]]:
    """Which images are not the kind of image the model learnt from, and why.

    An image is *out of domain* (it gets no class) when

    * it is a colour picture (mean colour at least :data:`COLOUR_LIMIT`) and the training
      images are grey (their 99th percentile below half of it), or
    * it is unlike the training images **both** in its image statistics
      (:func:`statistics_score` above 1) **and** in the model's own features
      (``out_of_domain`` above 1, :class:`DomainReference`); a model without a feature reference
      needs the statistics score above 2.

    Each test alone flags about 1 % of new images like the training ones (each threshold is the
    0.99 quantile of cross-fitted training distances) and more of another scanner's; both
    together are what another modality, a photograph or a document does
    (``benchmarks/out_of_domain.py --shipped`` measures the rates).

    Parameters
    ----------
    profile : dict or None
        The model's ``training_images`` (:func:`training_profile`); ``None``: nothing is flagged.
    described : dict
        :func:`describe_images` of the images.
    out_of_domain : array-like of shape (n_images,), optional
        The model's feature-space scores of the images.

    Returns
    -------
    score : ndarray of shape (n_images,)
        :func:`statistics_score` (NaN without a profile).
    reasons : list of str
        ``""`` for an image of the model's kind, else why not, in words.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import describe_images, kind_reasons, training_profile
    >>> rng = np.random.default_rng(0)
    >>> p = training_profile([(rng.random((48, 64)) * 200).astype(np.uint8) for _ in range(30)])
    >>> score, why = kind_reasons(p, describe_images([np.full((48, 64), 250, np.uint8)]), [3.0])
    >>> why[0].split(":")[0]
    'not the kind of image the model learnt from'
    """
    n = len(described["height"])
    if profile is None or not isinstance(profile.get("statistics"), dict):
        return np.full(n, np.nan), [""] * n
    score = statistics_score(profile, described["statistics"])
    ood = None if out_of_domain is None else np.asarray(out_of_domain, dtype=np.float64)
    grey = (profile.get("colour") or [0.0])[-1] < COLOUR_LIMIT / 2
    # a mammogram is named as one only for a model that did not learn from mammograms
    median = list(profile.get("quantiles") or PROFILE_QUANTILES).index(0.5)
    qs = profile["statistics"].get("quantiles") or {}
    mammograms_seen = not all(qs.get(k) for k in STATISTICS) or looks_like_mammogram(
        [qs[k][median] for k in STATISTICS])
    modality = described.get("modality") or [None] * n  # a DICOM header's Modality: names, never flags
    reasons = []
    for i in range(n):
        c = described["colour"][i]
        if grey and np.isfinite(c) and c >= COLOUR_LIMIT:
            reasons.append(f"a colour picture (mean colour {c:.2f}; the model's training images are grey)")
            continue
        f = None if ood is None or not np.isfinite(ood[i]) else float(ood[i])
        if score[i] > 1 and (f > 1 if f is not None else score[i] > 2):
            said = "".join(f"; {w}" for w in _unusual(profile, described["statistics"][i]))
            what = ""
            if not mammograms_seen and modality[i] == "MG":
                what = "a mammogram (its DICOM header: Modality MG), "
            elif not mammograms_seen and looks_like_mammogram(described["statistics"][i]):
                what = "a mammogram, "
            reasons.append(f"{what}not the kind of image the model learnt from: unlike its training images in image "
                           f"statistics ({score[i]:.1f} times the threshold{said})"
                           + (f" and in the model's features (out_of_domain {f:.2f})" if f is not None else ""))
        else:
            reasons.append("")
    return score, reasons


def check_images(model, records, crops=None, out_of_domain=None, *, progress=False,
                 passes=None) -> dict | None:
    """The images against the model's ``training_images`` profile: :func:`describe_images`,
    :func:`kind_reasons` and :func:`data_words` in one call (``None`` when the model file
    stores no profile: made before featbus stored one).

    Parameters
    ----------
    model : FeatbusModel
    records : sequence of ImageRecord
        The images as read (before the model's preprocessing).
    crops : sequence of ImageRecord, optional
        The model's lesion crops of them (a model with a segmenter).
    out_of_domain : array-like, optional
        The model's feature-space scores of them (:class:`DomainReference`).
    progress : bool, "auto", None or Stages, default=False
        Show the images as they are described (:func:`describe_images`).
    passes : featbus.model.runtime.SharedPasses, optional
        A run's store: an image described once in the run is not described again.

    Returns
    -------
    check : dict or None
        ``described``, ``statistics`` (score, above 1 unlike the training images), ``reasons``
        (``""`` or why the image is out of domain) and ``words`` (sentences about the set).
    """
    profile = (getattr(model, "manifest", None) or {}).get("training_images")
    if not isinstance(profile, dict):
        return None
    scale = getattr(model, "input_scale", None)  # the training images were profiled at it
    side = scale.get("longer_side_px") if isinstance(scale, dict) else None
    described = describe_images(records, crops if getattr(model, "roi", None) is not None else None,
                                progress=progress, passes=passes, longer_side=side)
    score, reasons = kind_reasons(profile, described, out_of_domain)
    return {"described": described, "statistics": score, "reasons": reasons,
            "words": data_words(profile, described, score, reasons,
                                [getattr(r, "path", None) or f"image {i}" for i, r in enumerate(records)],
                                longer_side=side)}


def refuse_other_kind(look, *, force: bool = False) -> None:
    """The one refusal of images that are not the kind a model learnt from (``featbus adapt`` and
    :func:`featbus.adapt`), read from the model's look at them: more than half the images out of
    domain by :func:`kind_reasons` (a mammogram for an ultrasound model, a photograph) are refused
    unless ``force``.

    Parameters
    ----------
    look : featbus.model.loaded.Look
        :meth:`featbus.FeatbusModel.look` of the images: its ``kind`` (:func:`check_images`; ``None``
        for a model file storing no training-image profile: nothing is refused, its out-of-domain
        score stands alone) and its ``records`` (named).
    force : bool, default=False
        Go on whatever the images are.

    Raises
    ------
    ValueError
        More than half the images are not the model's kind and ``force`` is false: one line naming
        them and the first one's reason.
    """
    check, records = look.kind, look.records
    if check is None:
        return
    out = sum(bool(r) for r in check["reasons"])
    if out * 2 > len(records) and not force:
        names = [getattr(r, "path", None) or f"image {i}" for i, r in enumerate(records)]
        raise ValueError(f"{out} of the {len(records)} images are not the kind of image the model learnt from, so "
                         f"adapting to them would mean nothing (--force, force=True, adapts anyway): "
                         f"{which_and_why(check['reasons'], names)}")


def which_and_why(reasons, names) -> str:
    """The out-of-domain images named (the first five) and the first one's reason, in words.

    Examples
    --------
    >>> from featbus.model.domain import which_and_why
    >>> which_and_why(["", "a colour picture (...)"], ["a/x.png", "a/cat.png"])
    'cat.png; the first: a colour picture (...)'
    """
    out = [i for i, r in enumerate(reasons) if r]
    if not out:
        return ""
    shown = ", ".join(os.path.basename(str(names[i])) for i in out[:5]) + (" ..." if len(out) > 5 else "")
    return f"{shown}; the first: {reasons[out[0]].removeprefix('not the kind of image the model learnt from: ')}"


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def data_words(profile: dict, described: dict, score, reasons, names=None, *,
               longer_side: int | None = None) -> list[str]:
    """Sentences on how a set of images differs from the model's training images.

    * **framing**: when the median share of the image that the segmenter's lesion box covers
      (images where it found a lesion) is above the training images' 90th percentile, the images
      are framed more tightly than nine in ten training images: *lesion crops* when that median
      is at least a half; below their 10th percentile, the lesions fill less of the frame;
    * **size**: a median height or width outside the training images' 1st-99th percentiles, both
      as the model sees them when it brings images to a scale (``longer_side``, which
      :func:`describe_images` was given): a scan stored larger than the training images is not
      unlike them for its size alone;
    * **image statistics**: when more than 10 % of the images score above 1 (about 1 % of images
      like the training ones do), with the statistics most often outside the training range;
    * **out of domain**: the images :func:`kind_reasons` gives no class, named.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.domain import data_words, describe_images, kind_reasons, training_profile
    >>> rng = np.random.default_rng(0)
    >>> p = training_profile([(rng.random((48, 64)) * 200).astype(np.uint8) for _ in range(30)])
    >>> d = describe_images([(rng.random((480, 640)) * 200).astype(np.uint8)])
    >>> s, why = kind_reasons(p, d, [0.5])  # like the training images in the model's features
    >>> data_words(p, d, s, why)[0]
    'these images are larger than the training images: 480 x 640 px on median (training: 48 x 64 px on median)'
    """
    qs = list(profile.get("quantiles") or PROFILE_QUANTILES)
    i10, i50, i90, i01, i99 = (qs.index(q) for q in (0.1, 0.5, 0.9, 0.01, 0.99))
    n = len(described["height"])
    names = names or [f"image {i}" for i in range(n)]
    words = []
    out = [i for i, r in enumerate(reasons) if r]
    if out:
        words.append(f"{len(out)} of {n} images are not the kind of image the model learnt from (out of domain, "
                     f"given no class): {which_and_why(reasons, names)}")
    keep = np.array([not r for r in reasons], dtype=bool)
    if not keep.any():
        return words
    # the rest of the words describe the images of the model's kind
    described = {k: np.asarray(v)[keep] for k, v in described.items()}
    score, n = np.asarray(score, dtype=np.float64)[keep], int(keep.sum())
    of = "" if keep.all() else f" (the {n} of the model's kind)"
    h, w = float(np.median(described["height"])), float(np.median(described["width"]))
    H, W = profile.get("height"), profile.get("width")
    if H and W:
        big = h > H[i99] or w > W[i99]
        small = h < H[i01] or w < W[i01]
        if big or small:
            seen = ("" if longer_side is None
                    else f" as the model sees them (brought to {longer_side} px on the longer side)")
            words.append(f"these images{of} are {'larger' if big else 'smaller'} than the training images{seen}: "
                         f"{h:.0f} x {w:.0f} px on median (training: {H[i50]:.0f} x {W[i50]:.0f} px on median)")
    share = described["box_share"][np.isfinite(described["box_share"])]
    B = profile.get("box_share")
    if B and share.size:
        med = float(np.median(share))
        tail = (f"the lesion box covers {_pct(med)} of the image on median ({share.size} of {n} images with a "
                f"lesion found), {_pct(B[i50])} in the model's training frames (9 in 10 of them below {_pct(B[i90])})")
        if med > B[i90] and med >= 0.5:
            words.append(f"these{of} look like lesion crops: {tail}; the model learnt whole frames, where the lesion "
                         "is a small part, so its figures here are not the ones it promises")
        elif med > B[i90]:
            words.append(f"these images are framed more tightly on the lesion than the model's training frames: {tail}")
        elif med < B[i10]:
            words.append(f"the lesions fill less of these images than of the model's training frames: {tail}")
    unusual = np.isfinite(score) & (score > 1)
    if n and unusual.mean() > 0.1:
        counts: dict[str, int] = {}
        for i in np.flatnonzero(unusual):
            for key in _unusual(profile, described["statistics"][i], shown=1, keys=True):
                counts[key] = counts.get(key, 0) + 1
        most = ", ".join(k for k, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:2])
        kind = " of the model's kind" if of else ""
        words.append(f"{int(unusual.sum())} of the {n} images{kind} differ from the training images in their image "
                     "statistics (score above 1; about 1 in 100 images like the training ones does)"
                     + (f", most often in {most}" if most else ""))
    return words
