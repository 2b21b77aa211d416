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

__all__ = ["MIN_IMAGES", "FEATURES", "presence_features", "fit_presence", "presence_probability"]

#: Fewest validation images of each kind (with a lesion, without) to fit the decision on.
MIN_IMAGES = 5

#: What :func:`presence_features` computes, in order.
FEATURES = ("logit of the highest pixel probability", "log of the share of the image above the threshold")

_EPS = 1e-4  # keeps both logarithms finite (probabilities stored in steps of 1/255 reach 0 and 1)


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
