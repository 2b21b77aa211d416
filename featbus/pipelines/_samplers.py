"""imbalanced-learn's neighbour-based samplers, fitted on a class smaller than their neighbour count.

SMOTE, Borderline-SMOTE and ADASYN look for each minority sample's ``k`` nearest neighbours of its
own class; on a training fold where that class has ``k`` samples or fewer, imbalanced-learn stops
with scikit-learn's ``Expected n_neighbors <= n_samples_fit`` error, which names neither the class
nor what to do. These subclasses (same names, parameters and results otherwise) fit with the
neighbour count lowered to what the smallest resampled class allows, say so in one warning, and
refuse a class of one sample (nothing to interpolate between) in one line.

Lowering rather than refusing: a fold's class sizes vary with the fold and, inside a search, with
the inner folds, so no neighbour count a user could choose up front is safe; interpolating between
the neighbours that exist is still SMOTE. Imported only when a sampler is built or loaded.
"""

from __future__ import annotations

import warnings

import numpy as np
from imblearn.over_sampling import ADASYN as _ADASYN
from imblearn.over_sampling import SMOTE as _SMOTE
from imblearn.over_sampling import BorderlineSMOTE as _BorderlineSMOTE

from ..progress import find_stack_level

__all__ = ["ADASYN", "SMOTE", "BorderlineSMOTE", "adapt_sampler"]


class _SmallClasses:
    """Fit with ``k_neighbors``/``n_neighbors`` (and ``m_neighbors``, over all samples) lowered to
    what the data allow; a resampled class of one sample is a one-line ``ValueError``."""

    #: the parameter counting same-class neighbours
    _class_neighbours = "k_neighbors"

    def _fit_resample(self, X, y, *args, **kwargs):
        labels, counts = np.unique(y, return_counts=True)
        size = dict(zip(labels.tolist(), counts.tolist()))
        resampled = [c for c, n in getattr(self, "sampling_strategy_", {}).items() if n > 0]
        lowered = {}
        if resampled:
            name = type(self).__name__
            smallest = min(resampled, key=lambda c: size.get(c, 0))
            n = size.get(smallest, 0)
            smallest = smallest.item() if isinstance(smallest, np.generic) else smallest  # 1, not np.int64(1)
            if n < 2:
                raise ValueError(
                    f"{name} cannot resample class {smallest!r}: it has {n} sample here (a training fold), and "
                    "synthetic samples are drawn between a sample and its neighbours of the same class; use "
                    "balance 'oversample' or 'class-weight', fewer folds, or more images of that class")
            k = getattr(self, self._class_neighbours)
            if isinstance(k, (int, np.integer)) and k > n - 1:
                warnings.warn(f"{name}: class {smallest!r} has {n} samples here (a training fold), too few for "
                              f"{self._class_neighbours}={k}; using {n - 1} neighbour{'s' if n > 2 else ''}",
                              UserWarning, stacklevel=find_stack_level())
                lowered[self._class_neighbours] = n - 1
            m = getattr(self, "m_neighbors", None)
            if isinstance(m, (int, np.integer)) and m > len(y) - 1:
                lowered["m_neighbors"] = len(y) - 1  # Borderline-SMOTE's danger test looks among all samples
        saved = {key: getattr(self, key) for key in lowered}
        try:
            for key, value in lowered.items():
                setattr(self, key, value)
            return super()._fit_resample(X, y, *args, **kwargs)
        finally:
            for key, value in saved.items():  # the parameters stay what the user gave
                setattr(self, key, value)


class SMOTE(_SmallClasses, _SMOTE):
    """:class:`imblearn.over_sampling.SMOTE`, fitted with fewer neighbours on a small class.

    Examples
    --------
    >>> import numpy as np, warnings
    >>> X, y = np.arange(24.0).reshape(12, 2), np.array([0] * 9 + [1] * 3)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     X_res, y_res = SMOTE(random_state=0).fit_resample(X, y)
    >>> np.bincount(y_res).tolist(), str(caught[0].message)
    ([9, 9], 'SMOTE: class 1 has 3 samples here (a training fold), too few for k_neighbors=5; using 2 neighbours')
    """


class BorderlineSMOTE(_SmallClasses, _BorderlineSMOTE):
    """:class:`imblearn.over_sampling.BorderlineSMOTE`, fitted with fewer neighbours on a small class."""


class ADASYN(_SmallClasses, _ADASYN):
    """:class:`imblearn.over_sampling.ADASYN`, fitted with fewer neighbours on a small class."""

    _class_neighbours = "n_neighbors"


_OURS = {_SMOTE: SMOTE, _BorderlineSMOTE: BorderlineSMOTE, _ADASYN: ADASYN}


def adapt_sampler(sampler):
    """``sampler`` as its small-class-aware twin above (the same parameters), or as it is; a
    SMOTEENN gets the twin as its inner SMOTE."""
    ours = _OURS.get(type(sampler))
    if ours is not None:
        return ours(**sampler.get_params(deep=False))
    inner = getattr(sampler, "smote", None)
    if type(inner) in _OURS:
        sampler.set_params(smote=adapt_sampler(inner))
    return sampler
