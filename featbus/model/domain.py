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

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..compute.scaling import family_space

__all__ = ["DomainReference", "manifest_entry", "score_columns", "flag_summary", "MAX_COMPONENTS", "MAX_NEIGHBORS",
           "MIN_HELD_OUT"]

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

    @_fit_context(prefer_skip_nested_validation=True)
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
        from ._trust import printable

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


def flag_summary(flags) -> str:
    """The one line ``featbus predict`` prints: how many images look unlike the training images.

    Parameters
    ----------
    flags : sequence of bool or None
        ``unlike_training`` of :meth:`featbus.model.FeatbusModel.predict_table` (``None``: an
        unreadable image, not counted).

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
    if k == 0:
        return f"none of the {n} image{'s' if n != 1 else ''} looks unlike the training images"
    return (f"{k} of {n} image{'s' if n != 1 else ''} look{'s' if k == 1 else ''} unlike the training images "
            "(out_of_domain above 1): their predictions are extrapolations")
