"""Whether an image holds a lesion at all: the segmenter's calibrated lesion-presence decision.

A U-Net thresholded pixel by pixel finds *something* in most normal scans: a speck of shadow,
a cyst-like duct. Deciding "no lesion" is a question about the whole image, asked of the
probability map: how sure is the network's most confident pixel, and how much of the image
does it mark? :func:`fit_presence` learns that decision by logistic regression (Platt scaling,
Platt 1999) on two numbers of each map (:func:`presence_features`) of images the network did
not train on, some with a lesion and some without; :func:`presence_probability` then gives
every new image a probability of holding a lesion, and :class:`~featbus.UNetSegmenter` returns
an empty mask where it is under one half.

The two kinds of image are weighted equally (``class_weight="balanced"``): the probability is
the one for an image as likely to be normal as not, whatever mix the validation images had, so
that its one-half cut balances missed lesions against lesions found in normal scans. When the
validation images hold too few of either kind (:data:`MIN_IMAGES`), nothing is fitted and a
lesion is wherever the thresholded mask is non-empty, as without a presence decision; the
record says so (``method="mask"``).

Examples
--------
>>> import numpy as np
>>> from featbus.segmentation.presence import fit_presence, presence_probability
>>> rng = np.random.RandomState(0)
>>> lesion = [np.pad(np.full((20, 20), 0.9), 22) + 0.05 * rng.rand(64, 64) for _ in range(8)]
>>> normal = [0.2 * rng.rand(64, 64) for _ in range(8)]
>>> record = fit_presence(lesion + normal, np.r_[np.ones(8), np.zeros(8)].astype(bool), threshold=0.4)
>>> record["method"], record["n_lesion"], record["n_empty"]
('logistic', 8, 8)
>>> p = presence_probability([lesion[0], normal[0]], record, threshold=0.4)
>>> bool(p[0] > 0.5), bool(p[1] < 0.5)
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MIN_IMAGES", "FEATURES", "POOLINGS", "pool_map", "pooled_scores", "presence_features", "fit_presence",
           "presence_probability"]

#: Fewest validation images of each kind (with a lesion, without) to fit the decision on.
MIN_IMAGES = 5

#: What :func:`presence_features` computes, in order.
FEATURES = ("logit of the highest pixel probability", "log of the share of the image above the threshold")

_EPS = 1e-4  # keeps both logarithms finite (probabilities stored in steps of 1/255 reach 0 and 1)

#: The image-level scores :func:`pool_map` pools from a lesion-probability map: ``"max"`` the
#: highest pixel (the score of a segmenter without a fitted decision); ``"top1"`` / ``"top5"``
#: the mean of the highest 1 % / 5 % of the pixels; ``"blob_mean"`` the mean probability of the
#: lesion candidate (8-connected region at or above the pixel threshold) of the largest
#: probability mass; ``"blob_mass"`` that candidate's probability mass as a share of the image.
POOLINGS = ("max", "top1", "top5", "blob_mean", "blob_mass")

_TOP = {"top1": 0.01, "top5": 0.05}


def _largest_candidate(m: np.ndarray, threshold: float) -> np.ndarray | None:
    """The pixels of the 8-connected region of ``m >= threshold`` whose probabilities sum highest."""
    from scipy import ndimage as ndi

    labels, n = ndi.label(m >= threshold, structure=np.ones((3, 3), bool))
    if n == 0:
        return None
    mass = ndi.sum_labels(m, labels, index=np.arange(1, n + 1))
    return labels == int(np.argmax(mass)) + 1


def pool_map(prob_map: np.ndarray, pooling: str = "max", *, threshold: float = 0.5) -> float:
    """One image-level lesion score pooled from a lesion-probability map (:data:`POOLINGS`).

    A U-Net trained almost only on lesion images puts a confident pixel somewhere in most
    normal scans, so the highest pixel says little about whether the image holds a lesion;
    detection work pools over a region instead: the mean of the top pixels, or the score of
    the strongest lesion candidate, weighted by its size.

    Parameters
    ----------
    prob_map : ndarray
        Per-pixel lesion probabilities in ``[0, 1]`` (any size, at least one pixel).
    pooling : str, default="max"
        One of :data:`POOLINGS`.
    threshold : float, default=0.5
        The pixel threshold that makes a lesion candidate (``"blob_mean"``, ``"blob_mass"``);
        the segmenter's own ``threshold``.

    Returns
    -------
    score : float
        In ``[0, 1]``; higher means more likely a lesion. Without a candidate, ``"blob_mean"``
        is the highest pixel (below ``threshold``) and ``"blob_mass"`` the highest pixel's share
        of the image, so that images without one still rank among themselves.

    Examples
    --------
    >>> import numpy as np
    >>> speck = np.zeros((100, 100)); speck[50, 50] = 0.95           # one confident pixel
    >>> blob = np.zeros((100, 100)); blob[30:60, 30:60] = 0.8         # a lesion-sized region
    >>> [round(pool_map(m, "max"), 3) for m in (speck, blob)]
    [0.95, 0.8]
    >>> [round(pool_map(m, "top1"), 4) for m in (speck, blob)]
    [0.0095, 0.8]
    >>> [round(pool_map(m, "blob_mass", threshold=0.4), 4) for m in (speck, blob)]
    [0.0001, 0.072]
    """
    if pooling not in POOLINGS:
        from .._registry import did_you_mean

        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}"
                         f"{did_you_mean(str(pooling), POOLINGS)}")
    m = np.asarray(prob_map, dtype=np.float64)
    if m.size == 0:
        raise ValueError("pool_map: the probability map is empty")
    if pooling == "max":
        return float(m.max())
    if pooling in _TOP:
        flat = m.ravel()
        k = max(1, int(np.ceil(_TOP[pooling] * flat.size)))
        return float(np.mean(np.partition(flat, flat.size - k)[flat.size - k:]))
    region = _largest_candidate(m, float(threshold))
    if region is None:
        top = float(m.max())
        return top if pooling == "blob_mean" else top / m.size
    values = m[region]
    return float(values.mean()) if pooling == "blob_mean" else float(values.sum() / m.size)


def pooled_scores(maps: Sequence[np.ndarray], pooling: str = "max", *, threshold: float = 0.5) -> np.ndarray:
    """:func:`pool_map` of every map.

    Returns
    -------
    scores : ndarray of shape (n_images,)
    """
    return np.array([pool_map(m, pooling, threshold=threshold) for m in maps], dtype=float)


def presence_features(maps: Sequence[np.ndarray], threshold: float) -> np.ndarray:
    """The two numbers of each lesion-probability map the presence decision reads (:data:`FEATURES`).

    Parameters
    ----------
    maps : sequence of ndarray
        Per-pixel lesion probabilities in ``[0, 1]``, one map per image (any size).
    threshold : float
        The segmenter's pixel threshold.

    Returns
    -------
    features : ndarray of shape (n_images, 2)
    """
    out = np.empty((len(maps), 2))
    for i, m in enumerate(maps):
        m = np.asarray(m, dtype=np.float64)
        top = float(np.clip(m.max(), _EPS, 1 - _EPS)) if m.size else _EPS
        out[i] = np.log(top / (1 - top)), np.log(float(np.mean(m > threshold)) + _EPS)
    return out


def fit_presence(maps: Sequence[np.ndarray], has_lesion: np.ndarray, threshold: float, *,
                 what: str = "the validation images") -> dict:
    """Fit the lesion-presence decision on the maps of images the network did not train on.

    Parameters
    ----------
    maps : sequence of ndarray
        Lesion-probability maps of held-out images (a validation split).
    has_lesion : array-like of bool
        Whether each image's drawn mask holds a lesion.
    threshold : float
        The segmenter's pixel threshold.
    what : str, default="the validation images"
        What the images are, as the ``reason`` of a record without a decision names them.

    Returns
    -------
    record : dict
        JSON-ready: ``method`` (``"logistic"``, or ``"mask"`` when fewer than
        :data:`MIN_IMAGES` images of either kind were given), ``n_lesion``, ``n_empty``, and for
        ``"logistic"`` its ``coef``, ``intercept`` and ``features``; plus ``on_validation``, the
        decision's share of lesion images called empty and of empty images given a lesion on
        those same images (optimistic: the decision was fitted there).
    """
    from sklearn.linear_model import LogisticRegression

    has = np.asarray(has_lesion, dtype=bool)
    if len(has) != len(maps):
        raise ValueError(f"{len(maps)} maps but {len(has)} has_lesion values")
    record: dict = {"method": "mask", "n_lesion": int(has.sum()), "n_empty": int((~has).sum())}
    if min(record["n_lesion"], record["n_empty"]) < MIN_IMAGES:
        record["reason"] = (f"{what} held {record['n_lesion']} with a lesion and {record['n_empty']} "
                            f"without; the decision needs {MIN_IMAGES} of each")
        return record
    X = presence_features(maps, threshold)
    lr = LogisticRegression(class_weight="balanced", C=1.0).fit(X, has)
    record.update(method="logistic", coef=[float(c) for c in lr.coef_[0]], intercept=float(lr.intercept_[0]),
                  features=list(FEATURES))
    found = presence_probability(maps, record, threshold) >= 0.5
    record["on_validation"] = {"lesion_called_empty": float(np.mean(~found[has])),
                               "empty_given_lesion": float(np.mean(found[~has]))}
    return record


def presence_probability(maps: Sequence[np.ndarray], record: dict | None, threshold: float) -> np.ndarray:
    """The probability that each image holds a lesion, by the decision of :func:`fit_presence`.

    With ``record`` of method ``"mask"`` (or ``None``) the decision was not fitted: the result is
    then each map's highest pixel probability, uncalibrated, and a lesion is wherever the
    thresholded mask is non-empty.

    Returns
    -------
    probability : ndarray of shape (n_images,)
    """
    if not record or record.get("method") != "logistic":
        return np.array([float(np.max(m)) if np.size(m) else 0.0 for m in maps])
    z = presence_features(maps, threshold) @ np.asarray(record["coef"], dtype=float) + float(record["intercept"])
    return 1.0 / (1.0 + np.exp(-z))
