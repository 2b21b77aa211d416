"""Adapting a trained model to a new site: its unlabelled images, and a few labelled ones.

A model trained at one hospital meets other scanners, gains and sonographers elsewhere; its
features shift and its probabilities no longer mean what they meant (:mod:`featbus.evaluation.validation`
measures how much). :func:`adapt` returns a *new* model adjusted to the site; the input model is
left untouched. Nothing is retrained: only statistics, and with labels a calibration and an
operating point, are re-estimated.

Without labels (``labels=None``), by ``method``:

``"adabn"`` (network models: :class:`~featbus.FineTunedCNN`, :class:`~featbus.FineTunedEnsemble`)
    Adaptive batch normalisation (AdaBN, Li et al. 2018): every ``BatchNormalization`` layer's
    moving mean and variance are re-estimated on the site's images, preprocessed exactly as the
    network sees them (lesion crop, resize, the backbone's preprocessing). The layers are taken
    in the network's order and each one's statistics are those of its input over *all* the
    site's images, computed through the layers before it with their already adapted statistics
    (what AdaBN prescribes, exactly, rather than averaged batch statistics). The network's
    embedding normaliser (the batch normalisation before its head) is re-estimated the same way
    on the embeddings. Weights (kernels, BN scale and shift, the head) are not changed. It helps
    when the site differs in acquisition (gain, contrast, speckle, resolution): those shift
    every layer's activations, which the BN statistics undo layer by layer.
``"standardise"`` (feature models; for a network model, its embedding normaliser only)
    Per-site z-scoring of the features (handcrafted or frozen CNN features): the head's first standardisation step
    (:class:`~featbus.pipelines.FamilyScaler` or :class:`~sklearn.preprocessing.StandardScaler`:
    per-column mean and scale) is re-estimated on the site's feature rows; the family weights,
    PCA projections and the classifier are kept. It helps when a scanner shifts features as a
    whole (brightness statistics, texture energy): the classifier then sees columns centred and
    scaled as in training.
``"none"``
    Features as they are (use it to adjust only the operating point with labels).
``"auto"``
    ``"adabn"`` for a network model, else ``"standardise"``.

Both assume that the site's images are a *similar mix of cases* to the training images: the
re-estimated mean of a site that sends only malignant lesions moves towards malignant, and the
model then calls fewer images malignant. Give the site's ordinary case mix (hundreds of images,
at least :data:`MIN_IMAGES`), never a selection by diagnosis.

With a few labelled images of the site (``labels``; images without a label may be mixed in as
``None``: they still count for the statistics above), additionally:

* **calibration**: a head calibrated by Platt scaling (the SVM recipes'
  :class:`~sklearn.calibration.CalibratedClassifierCV`, ``method="sigmoid"``) has its sigmoids
  refitted on the labelled images' decision values (Platt 1999), so ``p(class)`` means the
  site's frequencies; heads without (logistic regression, a network's softmax) keep theirs;
* **operating point**: the highest threshold on ``p(positive)`` whose sensitivity on the
  labelled images reaches ``target_sensitivity`` (0.9 unless given) is stored in the manifest's
  ``operating_point``; :meth:`featbus.model.FeatbusModel.predict` then calls an image ``positive`` when
  ``p(positive) >= threshold`` (else its most probable other class).

Both are chosen on the labelled images: their figures on those images are optimistic. Judge
the adapted model on other patients of the site (:func:`featbus.validate`).

**A two-decision model** (its stored operating point has ``presence``:
:meth:`featbus.metrics.OperatingPoint.choose_two`, ``train_model(two_decisions=True)``) first
asks "is there a lesion?" on ``p(lesion)``, then "malignant, given a lesion?" on
``p(malignant | lesion)``. At a new site "normal" does not travel (the segmenter draws a lesion in
most normal scans, while its lesion probability still separates them once a threshold fits the
site), and the malignancy point moves; so with labels both thresholds are refitted, by
:func:`site_points`, and nothing else: the presence threshold keeps :data:`PRESENCE_TARGET` of
the labelled lesion images called a lesion (chosen from lesion images alone; normal images
measure it), the malignancy threshold reaches the target sensitivity among the labelled lesion
images. A threshold with too few images to choose it on (:data:`MIN_LESION_IMAGES`,
:data:`MIN_MALIGNANT_IMAGES`) is kept as stored, and the record says so. The features, the
lesion classifier and its Platt sigmoids are kept as trained (``method`` ``"auto"`` means
``"none"`` there; a two-decision model needs labels): the classifier was standardised on lesion
images only, which a site's unlabelled mix is not, and refitted sigmoids would move
``p(malignant | lesion)`` of every image on the word of a few. The ``adaptation`` record's
``two_decisions`` entry holds, for each point, the images and patients it rests on, its figures at
the stored and at the refitted threshold with 95 % intervals over patients, and warnings when
they are too few.

**The out-of-domain reference** (:mod:`featbus.model.domain`; a model's ``domain``, behind
``predict_table``'s ``out_of_domain`` column). It describes the training images in the features
the classifier sees. Adaptation changes what the classifier sees: the site's rows are centred and
scaled as the training rows were. So that the score keeps meaning *unlike the images the classifier
learnt from, as it now sees this image*, the adapted model's reference is the training reference
re-standardised the same way: its per-column centre and scale (and family weights) re-estimated
on the site's feature rows (for AdaBN, on the adapted network's rows), its principal axes,
covariance and threshold kept. A site that differs from training by a shift of the features as a
whole is then in domain; images unlike the training images in another way (another
correlation of the features, a texture the training images never had) are still flagged. The
other two choices were rejected: the training reference left as it was flags the whole site for the
very shift that adaptation removed (98 % of 200 BUS-BRA images under a BUSI intensity + LBP model,
median ``out_of_domain`` 1.35; 34 % and 0.87 re-standardised), and a reference refitted on the
site's images says *unlike this site's images*, which says nothing about what the classifier
learnt from, and takes a threshold from a few dozen images. With ``method="none"`` the features
are unchanged and the reference is kept as it is. The manifest's ``domain`` entry gains
``adapted`` (what was re-estimated, on how many images), and the ``adaptation`` record the
site images' scores before and after.

**Another kind of image** (a mammogram given to an ultrasound model). Re-standardised on any
images, the reference would call them in domain, so the check comes first, against the training
reference as trained: when more than half the images lie beyond :data:`FAR_OUT_OF_DOMAIN` (2) times
the threshold (median ``out_of_domain`` above 2), :func:`adapt` refuses them as not the model's
kind of image unless ``force=True``; when most are merely beyond the threshold (median above 1, as
for another scanner, or for another modality under features that place it less far), it proceeds
with a warning, and records the scores either way. Measured by ``benchmarks/adaptation_gate.py``
(models trained on the 625 BUSI images; medians before adaptation, share beyond 2):

==============================  ==================  ========================
features                        200 BUS-BRA images  120 mini-MIAS mammograms
==============================  ==================  ========================
intensity + LBP                 1.35, 6 %           3.35, 99 % (refused)
HOG + LBP + GLCM + intensity    1.23, 2 %           2.48, 83 % (refused)
frozen EfficientNet-Lite0       0.97, 0 %           1.32, 0 % (warned)
==============================  ==================  ========================

Re-standardised on each set, the medians become 0.87 / 0.60 / 0.72 for BUS-BRA and 0.94 / 0.63 /
0.79 for the mammograms: after adaptation the score no longer tells the modality, which is why it
is checked before.

The adapted model's manifest gains an ``adaptation`` entry: the method and what it changed, the
number of images and a SHA-256 of their pixels (as the training data summary), whether and how
many were labelled (images, patients, per class), the operating point, the date and the source
model (its file's SHA-256 when it was given as a path, its pipeline digest otherwise).

References
----------
Li Y, Wang N, Shi J, Hou X, Liu J. Adaptive batch normalization for practical domain
adaptation. Pattern Recognition 80:109-117 (2018), doi:10.1016/j.patcog.2018.03.005.

Platt JC. Probabilistic outputs for support vector machines and comparisons to regularized
likelihood methods. Advances in Large Margin Classifiers 10(3):61-74 (1999).

Niculescu-Mizil A, Caruana R. Predicting good probabilities with supervised learning. ICML 2005,
doi:10.1145/1102351.1102430.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import math
import numbers
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.sites import site_figures  # the one per-site figures function (its old home was here)
from ..metrics import DEFAULT_TARGET_SENSITIVITY, OperatingPoint  # the one rule and its default target
from ..model.provenance import fingerprints

__all__ = ["adapt", "site_points", "site_figures", "MIN_IMAGES", "DEFAULT_TARGET_SENSITIVITY", "METHODS",
           "FAR_OUT_OF_DOMAIN", "PRESENCE_TARGET", "MIN_LESION_IMAGES", "MIN_MALIGNANT_IMAGES", "FEW_GROUPS",
           "FEW_IMAGES", "MIN_BOOTSTRAP_GROUPS"]

#: Fewest images :func:`adapt` estimates site statistics from.
MIN_IMAGES = 10
#: The values of ``method``.
METHODS = ("auto", "adabn", "standardise", "none")
#: ``out_of_domain`` (distance / threshold of the training reference) beyond which an image is far
#: from the training images; :func:`adapt` refuses images more than half of which are (without
#: ``force``): another kind of image, not another scanner (module docstring).
FAR_OUT_OF_DOMAIN = 2.0


# --------------------------------------------------------------------------- feature models

def _scalers(head) -> list[tuple[list, Any]]:
    """``(steps before it, scaler)`` of the first standardisation step of every fitted pipeline
    in the head (one, or one per calibrated copy)."""
    from sklearn.preprocessing import StandardScaler

    from ..pipelines.make import FamilyScaler

    fitted = [cc.estimator for cc in getattr(head, "calibrated_classifiers_", [])] or [head]
    out = []
    for est in fitted:
        steps = [s for _, s in getattr(est, "steps", [])]
        for i, step in enumerate(steps):
            if type(step) in (FamilyScaler, StandardScaler):
                out.append((steps[:i], step))
                break
    return out


def _restandardise(head, X: np.ndarray) -> list[str]:
    """Re-estimate every standardisation step's mean and scale on the site's rows ``X``."""
    from sklearn.preprocessing import StandardScaler

    found = _scalers(head)
    if not found:
        raise ValueError(f"the model's head ({type(head).__name__}) has no StandardScaler/FamilyScaler step to "
                         "re-estimate: method='standardise' needs one (method='none' keeps the features)")
    done = []
    for before, scaler in found:
        Z = np.asarray(X, dtype=np.float64)
        for step in before:
            Z = np.asarray(step.transform(Z), dtype=np.float64)
        mean, std = Z.mean(axis=0), Z.std(axis=0)
        scale = np.where(std > 0, std, 1.0)  # a column constant at the site is centred, not divided by 0
        if isinstance(scaler, StandardScaler):
            if scaler.with_mean:
                scaler.mean_ = mean
            if scaler.with_std:
                scaler.var_, scaler.scale_ = std ** 2, scale
        else:
            scaler.mean_, scaler.scale_ = mean, scale
        done.append(f"{type(scaler).__name__} ({Z.shape[1]} columns)")
    return done


# --------------------------------------------------------------------------- calibration

def _refit_platt(head, X: np.ndarray, y: np.ndarray) -> bool:
    """Refit the sigmoids of a Platt-calibrated head on labelled rows; False when it has none."""
    from sklearn.preprocessing import LabelEncoder

    if not hasattr(head, "calibrated_classifiers_") or getattr(head, "method", None) != "sigmoid":
        return False
    for cc in head.calibrated_classifiers_:
        est = cc.estimator
        fn = est.decision_function if hasattr(est, "decision_function") else est.predict_proba
        pred = np.asarray(fn(X), dtype=float)
        pred = pred.reshape(-1, 1) if pred.ndim == 1 else pred
        classes = np.asarray(cc.classes)
        index = LabelEncoder().fit(classes).transform(est.classes_)
        for k, col, cal in zip(index, pred.T, cc.calibrators):
            k = k + 1 if len(classes) == 2 else k  # binary: the one column is classes[1]'s
            before = (cal.a_, cal.b_)
            cal.fit(col, (y == str(classes[k])).astype(int))
            # p = 1 / (1 + exp(a f + b)) rises with the classifier's score f only while a < 0; a few
            # labelled patients can fit a >= 0, which would turn its ranking round: the old one stays
            if not cal.a_ < 0:
                cal.a_, cal.b_ = before
    return True


# --------------------------------------------------------------------------- out of domain

def _domain_scores(scores: np.ndarray) -> dict:
    """What the adaptation record keeps of the images' ``out_of_domain`` scores."""
    return {"median": float(np.median(scores)), "unlike_training": int(np.sum(scores > 1)),
            "far": int(np.sum(scores > FAR_OUT_OF_DOMAIN)), "n": int(scores.size)}


def _check_kind(scores: np.ndarray, force: bool) -> None:
    """Refuse images most of which are far from the training images (another modality), unless
    forced; warn when most are merely unlike them."""
    far = int(np.sum(scores > FAR_OUT_OF_DOMAIN))
    unlike = int(np.sum(scores > 1))
    if far * 2 <= scores.size and unlike * 2 > scores.size:
        warnings.warn(f"{unlike} of the {scores.size} images look unlike the model's training images (median "
                      f"out_of_domain {np.median(scores):.2f}): expected of another scanner, which adaptation is "
                      "for; if they are another kind of image, the adapted model's answers mean nothing",
                      UserWarning, stacklevel=3)
    if far * 2 > scores.size and not force:
        raise ValueError(f"{far} of the {scores.size} images lie more than {FAR_OUT_OF_DOMAIN:g} times the "
                         f"out-of-domain threshold from the model's training images (median out_of_domain "
                         f"{np.median(scores):.2f}): they look like another kind of image (another modality), not "
                         "another scanner, and the model cannot read them; pass force=True (featbus adapt --force) "
                         "to adapt anyway")


def _restandardised_reference(reference, X: np.ndarray):
    """A copy of a DomainReference whose column centre and scale (and family weights) are those
    of the site's rows ``X``: the training images' reference as the adapted classifier sees it.
    Axes, covariance, residual unit and threshold are kept."""
    from ..compute.scaling import family_space

    ref = copy.deepcopy(reference)
    ref.mean_, ref.scale_ = family_space(np.asarray(X, dtype=np.float64), reference.blocks)
    ref._check_state()
    return ref


# --------------------------------------------------------------------------- two decisions

#: Share of a site's labelled lesion images the refitted presence threshold keeps calling a lesion
#: (the target of the first decision, "is there a lesion?", of a two-decision model).
PRESENCE_TARGET = 0.95
#: Fewest labelled lesion images the presence threshold is refitted on; with fewer, the model's
#: stored one is kept (and a warning says so).
MIN_LESION_IMAGES = 3
#: Fewest labelled malignant images the malignancy threshold is refitted on; with fewer, the
#: model's stored one is kept (and a warning says so).
MIN_MALIGNANT_IMAGES = 3
#: Below this many labelled patients (groups), a warning: both thresholds rest on too few.
FEW_GROUPS = 8
#: Below this many images of the class a figure counts (malignant, benign, lesion, normal), a
#: warning: the figure rests on too few.
FEW_IMAGES = 5
#: Fewest patients (groups) behind a figure for its interval to be a bootstrap of patients;
#: with fewer (or a figure of 0 or 1, where a percentile bootstrap collapses to a point), a
#: Clopper-Pearson interval with as many trials as patients.
MIN_BOOTSTRAP_GROUPS = 10

#: The figures of each point: key -> (class counted, what is called) in words.
_FIGURES = {
    "presence": ("lesions_called_lesion", "normals_called_normal"),
    "malignancy": ("malignant_sensitivity", "benign_specificity", "malignant_called_malignant"),
}


def _group_unit(groups_from: str | None, groups=None) -> str:
    """What a data set's groups are, in words (plural): ``"patients"`` for a patient column,
    ``"near-duplicate groups"`` for groups featbus formed (``"images"`` when each holds one image),
    else ``"groups"``."""
    if not groups_from:
        one_each = groups is not None and np.unique(np.asarray(groups)).size == len(groups)
        return "images" if one_each else "near-duplicate groups"
    return "patients" if str(groups_from).strip().lower().startswith("patients") else "groups"


def _site_figures_at(p_lesion, given, y, t_presence, t_malignancy, *, absent, positive) -> dict:
    """Every figure of the two points at these thresholds: ``key -> (value, successes, images)``
    (value NaN without an image of the class)."""
    lesion, mal = y != absent, y == positive
    other = lesion & ~mal
    called_lesion = p_lesion >= t_presence
    called_mal = given >= t_malignancy

    def share(hit, of):
        n = int(of.sum())
        k = int((hit & of).sum())
        return (k / n if n else math.nan), k, n

    return {"lesions_called_lesion": share(called_lesion, lesion),
            "normals_called_normal": share(~called_lesion, ~lesion),
            "malignant_sensitivity": share(called_mal, mal),
            "benign_specificity": share(~called_mal, other),
            "malignant_called_malignant": share(called_lesion & called_mal, mal)}


def _aucs(p_lesion, given, y, *, absent, positive) -> dict:
    from ..metrics import rank_auc

    lesion = y != absent
    return {"presence": rank_auc(lesion, p_lesion),
            "malignancy": rank_auc(y[lesion] == positive, given[lesion]) if lesion.any() else math.nan}


def site_points(p_lesion, p_malignant_given_lesion, y, groups=None, *, stored: OperatingPoint,
                target: float | None = None, presence_target: float = PRESENCE_TARGET, unit: str | None = None,
                site: str | None = None, n_bootstrap: int = 1000, random_state=0,
                confidence: float = 0.95) -> tuple[OperatingPoint, dict]:
    """Both thresholds of a two-decision model refitted on a site's labelled images, from their scores.

    What :func:`adapt` does with labels for a model whose stored operating point has two
    decisions (:class:`~featbus.metrics.OperatingPoint` with ``presence``), on scores computed
    beforehand, so that a benchmark can draw a few patients many times without reading an image:

    * **presence** ("is there a lesion?"): the highest threshold on ``p(lesion)`` that keeps
      ``presence_target`` (:data:`PRESENCE_TARGET`) of the labelled lesion images called a lesion
      (the one rule, :meth:`OperatingPoint.choose`, as :meth:`OperatingPoint.choose_two` applies
      it). It is chosen from the lesion images alone; normal images only measure it. With fewer
      than :data:`MIN_LESION_IMAGES` lesion images the stored threshold is kept, and without any
      normal image it is only ever lowered (raising it could then only call more lesions normal).
    * **malignancy** ("malignant, given a lesion?"): the highest threshold on
      ``p(malignant | lesion)`` of the labelled lesion images that reaches ``target``
      sensitivity among their malignant ones. With fewer than :data:`MIN_MALIGNANT_IMAGES`
      malignant images the stored threshold is kept.

    The figures at both the stored and the refitted thresholds are measured on the same images,
    each with a 95 % interval over ``groups`` (patients): a percentile bootstrap of whole groups
    (:func:`featbus.metrics.bootstrap`, ``n_bootstrap`` resamples, one seed: stored and refitted
    figures are paired) where a figure rests on at least :data:`MIN_BOOTSTRAP_GROUPS` groups and is
    neither 0 nor 1; otherwise Clopper-Pearson with as many trials as groups (the share of images
    carried onto the groups: a patient's two views are not two pieces of evidence; with one group
    per image, the exact binomial interval). The AUCs have a bootstrap interval (on at least
    :data:`MIN_BOOTSTRAP_GROUPS` groups, strictly between 0 and 1) or none.

    The refitted thresholds were chosen on these images, so the shares they were chosen to keep
    (lesions called a lesion, malignant images called malignant) are optimistic here: a threshold
    at the ``m``-th highest of ``n`` scores keeps a new image exchangeable with these with
    probability ``m / (n + 1)`` (recorded as ``expected_new``). The shares of normal and benign
    images did not choose the thresholds and measure them fairly; the stored thresholds were not
    chosen here at all.

    Parameters
    ----------
    p_lesion : array-like of shape (n_images,)
        ``p(lesion) = 1 - p(absent)`` of the labelled images
        (:func:`featbus.metrics.lesion_and_given`).
    p_malignant_given_lesion : array-like of shape (n_images,)
        ``p(positive | lesion)`` of the same images.
    y : array-like of str, shape (n_images,)
        Their labels: ``stored.absent`` (no lesion), ``stored.positive`` or another lesion class.
    groups : array-like of shape (n_images,), optional
        Patient of every image; ``None``: every image its own (the texts then say "images").
    stored : OperatingPoint
        The model's stored two-decision point: what is kept when too few images, and compared.
    target : float in (0, 1], optional
        The malignancy point's sensitivity; default the stored point's target (else
        :data:`~featbus.metrics.DEFAULT_TARGET_SENSITIVITY`).
    presence_target : float in (0, 1], default=PRESENCE_TARGET
        The share of lesion images to keep calling a lesion.
    unit : str, optional
        What the groups are, plural, for the texts: default ``"patients"`` with ``groups``,
        ``"images"`` without.
    site : str, optional
        The site's name, for ``chosen_on`` (default ``"the adaptation site"``).
    n_bootstrap : int, default=1000
        Resamples of whole groups behind the intervals (0: Clopper-Pearson throughout, no AUC
        interval; what a benchmark drawing many subsets wants).
    random_state : int, RandomState or None, default=0
    confidence : float, default=0.95

    Returns
    -------
    point : OperatingPoint
        The two-decision point to store (``to_record()`` is the manifest's ``operating_point``).
    report : dict
        JSON-ready: ``unit``, ``n_images``, ``n_groups``, ``counts``; for ``"presence"`` and
        ``"malignancy"``: ``refitted``, ``threshold``, ``stored_threshold``, ``target``, the images
        and groups it rests on, ``figures`` and ``stored_figures`` (each figure: ``what``,
        ``value``, ``interval``, ``method``, ``count``, ``n_images``, ``n_groups``; ``None`` where it
        cannot be measured; the refitted shares also ``expected_new``) and ``auc``; ``intervals`` (how
        they were computed), ``optimistic``
        (why the refitted figures flatter) and ``warnings`` (one line each).

    Raises
    ------
    ValueError
        ``stored`` without two decisions, arrays of different lengths, probabilities outside
        [0, 1], no labelled image, a bad target: one line each.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.metrics import OperatingPoint
    >>> from featbus.workflows.adaptation import site_points
    >>> stored = OperatingPoint(positive="malignant", threshold=0.2, target_sensitivity=0.9, absent="normal",
    ...                         presence=OperatingPoint(positive="lesion", threshold=0.4))
    >>> y = np.array(["normal"] * 4 + ["benign"] * 6 + ["malignant"] * 4)
    >>> p_lesion = np.array([.2, .3, .5, .6, .7, .8, .8, .9, .9, .95, .6, .9, .9, .99])
    >>> given = np.array([0, 0, 0, 0, .1, .2, .3, .35, .4, .6, .45, .5, .7, .9])
    >>> point, report = site_points(p_lesion, given, y, np.arange(14) // 2, stored=stored, site="site A")
    >>> point.presence.threshold, point.threshold   # the lowest lesion's p(lesion); the 4th malignant's
    (0.6, 0.45)
    >>> print(point.describe())  # doctest: +NORMALIZE_WHITESPACE
    normal when p(lesion) < 0.6, chosen for lesion sensitivity 0.95 on 14 labelled images of 7 patients of
    site A (there: lesion images called a lesion 1.00, normal images called normal 0.75); otherwise malignant
    when p(malignant | lesion) >= 0.45, chosen for sensitivity 0.9 on 10 labelled lesion images of 5 patients
    of site A (there: sensitivity 1.00, specificity 0.83)
    >>> f = report["presence"]["figures"]["normals_called_normal"]
    >>> f["value"], f["count"], f["n_images"], f["method"]
    (0.75, 3, 4, 'Clopper-Pearson over 2 patients')
    >>> report["warnings"][0]
    'only 7 patients labelled (fewer than 8): both thresholds move with every patient added or left out'
    """
    from ..metrics import BootstrapResult, _target, bootstrap, clopper_pearson, threshold_text

    if not isinstance(stored, OperatingPoint) or not stored.two_decisions:
        raise ValueError("stored must be the model's two-decision OperatingPoint (with presence), got "
                         f"{stored!r:.120}")
    absent, positive = stored.absent, stored.positive
    target = _target(stored.target_sensitivity or DEFAULT_TARGET_SENSITIVITY if target is None else target,
                     "target")
    presence_target = _target(presence_target, "presence_target")
    p_l = np.asarray(p_lesion, dtype=float).ravel()
    q = np.asarray(p_malignant_given_lesion, dtype=float).ravel()
    y = np.asarray(y).astype(str).ravel()
    n = y.size
    if n == 0:
        raise ValueError("no labelled image to fit the thresholds on")
    for name, arr in (("p_lesion", p_l), ("p_malignant_given_lesion", q)):
        if arr.size != n:
            raise ValueError(f"{name} has {arr.size} entries for {n} labels")
        if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"{name} must hold probabilities in [0, 1]")
    if groups is None:
        groups, unit = np.arange(n), unit or "images"
    else:
        groups = np.asarray(groups)
        if groups.shape[0] != n:
            raise ValueError(f"groups has {groups.shape[0]} entries for {n} labels")
        unit = unit or "patients"
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, numbers.Integral) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    site = site or "the adaptation site"
    per_image = unit == "images"

    def n_groups(mask) -> int:
        return int(np.unique(groups[mask]).size)

    def of(k_images: int, mask) -> str:  # "13 labelled images of 8 patients of SITE"
        return f"{k_images} labelled{' lesion' if mask is not None else ''} images" + (
            "" if per_image else f" of {n_groups(np.ones(n, bool) if mask is None else mask)} {unit}") + f" of {site}"

    lesion, mal = y != absent, y == positive
    other = lesion & ~mal
    others = sorted(set(y[other].tolist())) or ["benign"]
    warn: list[str] = []
    g_all = n_groups(np.ones(n, bool))
    if g_all < FEW_GROUPS:
        warn.append(f"only {g_all} {unit} labelled (fewer than {FEW_GROUPS}): both thresholds move with every "
                    f"{unit[:-1] if unit.endswith('s') else unit} added or left out")

    # the first decision: on p(lesion), the lesion images the positives (choose_two's rule)
    kept_because = {"presence": f"too few lesion images (fewer than {MIN_LESION_IMAGES})",
                    "malignancy": f"too few {positive} images (fewer than {MIN_MALIGNANT_IMAGES})"}
    if int(lesion.sum()) >= MIN_LESION_IMAGES:
        pres = OperatingPoint.choose_presence(p_l, y, absent=absent, target=presence_target, chosen_on=of(n, None))
        if not (~lesion).any() and pres.threshold > stored.presence.threshold:
            # no normal image to show what raising it buys: it could only call more lesions normal
            pres = stored.presence
            kept_because["presence"] = f"no {absent} image labelled to show what raising it buys"
            warn.append(f"no {absent} image labelled: the stored presence threshold "
                        f"({threshold_text(stored.presence.threshold)}) is kept, since raising it on lesion images "
                        f"alone could only call more lesions {absent} (it is lowered only to keep "
                        f"{presence_target:g} of the lesion images)")
    else:
        pres = stored.presence
        warn.append(f"only {int(lesion.sum())} lesion images labelled (fewer than {MIN_LESION_IMAGES}): the model's "
                    f"stored presence threshold ({threshold_text(stored.presence.threshold)}) is kept")
    # the second decision: on p(malignant | lesion) of the lesion images
    if int(mal.sum()) >= MIN_MALIGNANT_IMAGES:
        point = OperatingPoint.choose_given_lesion(q, y, absent=absent, positive=positive, target=target,
                                                   chosen_on=of(int(lesion.sum()), lesion))
        point = dataclasses.replace(point, absent=absent, presence=pres)
    else:
        point = dataclasses.replace(stored, presence=pres)
        warn.append(f"only {int(mal.sum())} {positive} images labelled (fewer than {MIN_MALIGNANT_IMAGES}): the "
                    f"model's stored malignancy threshold ({threshold_text(stored.threshold)}) is kept")

    # the figures, at the stored and the refitted thresholds, and their intervals over groups
    def statistic(idx):
        out = {}
        for tag, (tp, tm) in (("new", (pres.threshold, point.threshold)),
                              ("stored", (stored.presence.threshold, stored.threshold))):
            figs = _site_figures_at(p_l[idx], q[idx], y[idx], tp, tm, absent=absent, positive=positive)
            out.update({f"{tag}:{k}": v[0] for k, v in figs.items()})
        out.update({f"auc:{k}": v for k, v in _aucs(p_l[idx], q[idx], y[idx], absent=absent,
                                                      positive=positive).items()})
        return out

    boot = (bootstrap(statistic, np.arange(n), groups=groups, n_bootstrap=int(n_bootstrap),
                      random_state=random_state, confidence=confidence) if n_bootstrap
            else BootstrapResult(statistic(np.arange(n)), {}, {}))
    whole = {"new": (pres.threshold, point.threshold), "stored": (stored.presence.threshold, stored.threshold)}
    masks = {"lesions_called_lesion": lesion, "normals_called_normal": ~lesion, "malignant_sensitivity": mal,
             "benign_specificity": other, "malignant_called_malignant": mal}
    words = {"lesions_called_lesion": "lesion images called a lesion",
             "normals_called_normal": f"{absent} images called {absent}",
             "malignant_sensitivity": f"{positive} images called {positive}, given a lesion",
             "benign_specificity": f"{'/'.join(others)} images not called {positive}, given a lesion",
             "malignant_called_malignant": f"{positive} images called {positive} by both decisions"}

    chose = {"lesions_called_lesion": pres is not stored.presence,
             "malignant_sensitivity": int(mal.sum()) >= MIN_MALIGNANT_IMAGES}

    def figure(key, tag) -> dict:
        value, count, k = _site_figures_at(p_l, q, y, *whole[tag], absent=absent, positive=positive)[key]
        g = n_groups(masks[key])
        rec = {"what": words[key], "value": None, "interval": None, "method": None, "count": count,
               "n_images": k, "n_groups": g}
        if k == 0:
            rec["method"] = "not measurable: no such image"
            return rec
        rec["value"] = float(value)
        by = f"over {g} {unit}"
        if n_bootstrap and g >= MIN_BOOTSTRAP_GROUPS and 0 < count < k:
            lo, hi = boot.interval[f"{tag}:{key}"]
            rec["interval"], rec["method"] = [float(lo), float(hi)], f"bootstrap {by}"
        else:  # the share carried onto as many trials as groups
            rec["interval"] = list(clopper_pearson(value * g, g, confidence=confidence))
            rec["method"] = f"Clopper-Pearson {by}"
        if tag == "new" and chose.get(key):  # the share these images chose: what the next ones may expect
            rec["expected_new"] = count / (k + 1)
        return rec

    def auc(name, mask) -> dict:
        value = boot.point[f"auc:{name}"]
        g = n_groups(mask)
        rec = {"what": ("AUC of p(lesion), lesion vs " + absent if name == "presence"
                        else f"AUC of p({positive} | lesion), {positive} vs {'/'.join(others)}"),
               "value": None if math.isnan(value) else float(value), "interval": None, "n_images": int(mask.sum()),
               "n_groups": g}
        if math.isnan(value):
            rec["method"] = "not measurable: one class only"
        elif value in (0.0, 1.0):  # a percentile bootstrap collapses to the point there
            rec["method"] = f"no interval: the AUC is {value:g} on these images, where a bootstrap interval is a point"
        elif n_bootstrap and g >= MIN_BOOTSTRAP_GROUPS:
            rec["interval"] = [float(b) for b in boot.interval[f"auc:{name}"]]
            rec["method"] = f"bootstrap over {g} {unit}"
        else:
            rec["method"] = f"no interval: fewer than {MIN_BOOTSTRAP_GROUPS} {unit}"
        return rec

    def side(name, refitted, new_t, old_t, tgt, mask) -> dict:
        keys = _FIGURES[name]
        return {"refitted": bool(refitted), "threshold": float(new_t), "stored_threshold": float(old_t),
                **({} if refitted else {"kept_because": kept_because[name]}),
                "target": float(tgt) if refitted else None, "n_images": int(mask.sum()), "n_groups": n_groups(mask),
                "figures": {k: figure(k, "new") for k in keys},
                "stored_figures": {k: figure(k, "stored") for k in keys},
                "auc": auc(name, mask)}

    report: dict[str, Any] = {
        "unit": unit, "site": site, "n_images": int(n), "n_groups": g_all,
        "counts": {c: int(np.sum(y == c)) for c in sorted(set(y.tolist()))},
        "presence": {**side("presence", pres is not stored.presence, pres.threshold, stored.presence.threshold,
                            presence_target, np.ones(n, bool)),
                     "n_lesion_images": int(lesion.sum()), "n_lesion_groups": n_groups(lesion),
                     "n_normal_images": int((~lesion).sum()), "n_normal_groups": n_groups(~lesion)},
        "malignancy": {**side("malignancy", int(mal.sum()) >= MIN_MALIGNANT_IMAGES, point.threshold, stored.threshold,
                              target, lesion),
                       "n_malignant_images": int(mal.sum()), "n_malignant_groups": n_groups(mal),
                       "n_benign_images": int(other.sum()), "n_benign_groups": n_groups(other)},
        "intervals": (f"{confidence * 100:g} % intervals over {unit}: " + (
            f"a percentile bootstrap of {'' if per_image else 'whole '}{unit} ({int(n_bootstrap)} resamples) where a "
            "figure rests on at "
            f"least {MIN_BOOTSTRAP_GROUPS} {unit} and is neither 0 nor 1, otherwise " if n_bootstrap else "")
            + "Clopper-Pearson" + ("" if per_image else f" with as many trials as {unit} (the share of images "
                                                         f"carried onto the {unit})")),
        "n_bootstrap": int(n_bootstrap),
        "optimistic": ("the refitted thresholds were chosen on these labelled images: the shares of their lesion "
                       f"and {positive} images kept (lesions called lesion, {positive} called {positive}) are "
                       "optimistic there; a threshold at the m-th highest of n scores keeps about m/(n+1) of the next "
                       "such images (expected_new); the shares of normal and benign images, which did not choose "
                       "the thresholds, measure them fairly; the stored thresholds were not chosen here; judge the "
                       "adapted model on other patients of the site (featbus validate)"
                       if any(chose.values()) else
                       f"no threshold was refitted ({kept_because['presence']}; {kept_because['malignancy']}): "
                       "every figure here measures the stored thresholds, which were not chosen on these images"),
    }
    for key, cls in (("lesions_called_lesion", "lesion"), ("normals_called_normal", absent),
                     ("malignant_sensitivity", positive), ("benign_specificity", "/".join(others))):
        k = int(masks[key].sum())
        side_name = "presence" if key in _FIGURES["presence"] else "malignancy"
        what = words[key].split(",")[0]
        if k == 0:
            extra = (" (the presence threshold rests on lesion images alone)"
                     if key == "normals_called_normal" and chose["lesions_called_lesion"] else "")
            warn.append(f"no {cls} image labelled: the share of {what} cannot be measured{extra}")
        elif k < FEW_IMAGES:
            rec = report[side_name]["figures"][key]
            warn.append(f"only {k} {cls} images" + ("" if per_image else f" of {rec['n_groups']} {unit}")
                        + f" labelled (fewer than {FEW_IMAGES} images): the share of {what} ({rec['count']} of {k}) "
                        "rests on them alone")
    report["warnings"] = warn
    return point, report


# --------------------------------------------------------------------------- adapt

def _copy(model, *, keep_forwards: bool):
    """A deep copy of the model; its networks' inference-runtime forwards (a loaded file's LiteRT
    interpreters) are not copied, and given to the copy only when its networks stay as they are."""
    from ..model.runtime import network_estimators

    nets = network_estimators(model)
    forwards = [est.__dict__.pop("_inference", None) for _, est in nets]
    try:
        new = copy.deepcopy(model)
    finally:
        for (_, est), fwd in zip(nets, forwards):
            if fwd is not None:
                est._inference = fwd
    if keep_forwards:
        for (_, est), fwd in zip(network_estimators(new), forwards):
            if fwd is not None:
                est._inference = fwd
    new.cv_report = None
    return new


def _labels_of(labels, n: int) -> np.ndarray | None:
    """Labels as an object array of str or None (no label), or None."""
    if labels is None:
        return None
    if isinstance(labels, str):
        raise TypeError("labels must be a sequence of class names (one per image), not a string")
    out = np.asarray([None if (v is None or (isinstance(v, float) and math.isnan(v)) or str(v) == "") else str(v)
                      for v in labels], dtype=object)
    if out.size != n:
        raise ValueError(f"labels has {out.size} entries for {n} images")
    return out


def adapt(model, images, *, labels: Sequence[str | None] | None = None, groups=None, method: str = "auto",
          target_sensitivity: float | None = None, positive: str = "malignant", recalibrate: bool = True,
          force: bool = False, site: str | None = None, n_bootstrap: int = 1000, random_state=0):
    """Adapt a trained model to a new site: a new model, the input left untouched.

    Without labels the site's images re-estimate the model's normalisation statistics (AdaBN for
    a network, per-site standardisation of the features otherwise); with a few labelled images
    the Platt calibration is refitted and an operating point reaching ``target_sensitivity``
    is stored. A two-decision model has its two thresholds refitted on the labelled images and
    nothing else (:func:`site_points`). See :mod:`featbus.workflows.adaptation` for what each does and when
    it helps.

    Parameters
    ----------
    model : FeatbusModel or path
        A trained model, or a ``.featbus`` file (loaded with :func:`featbus.load_model`'s
        defaults; its SHA-256 goes into the record).
    images : sequence of paths, arrays or ImageRecord, or a data set Bunch
        The site's images (its ordinary case mix; at least :data:`MIN_IMAGES`). A Bunch
        (:func:`featbus.load_data`) gives its images, and its groups when ``groups`` is None.
    labels : sequence of str or None, optional
        One class name per image; ``None`` entries are images without a label (they count for
        the statistics only). Every name must be one of the model's classes, and the labelled
        images must hold at least two classes (a two-decision model: at least one labelled
        image; a threshold with too few images for it is kept, and said).
    groups : array-like, optional
        Patient of every image (recorded: how many patients were labelled; the intervals of a
        two-decision model's figures resample them). Default: a Bunch's groups (named for what
        its ``groups_from`` says: patients, near-duplicate groups), else every image its own
        (the texts then say "images").
    method : {"auto", "adabn", "standardise", "none"}, default="auto"
        What the images re-estimate (module docstring); ``"auto"``: AdaBN for a network model,
        standardisation otherwise.
    target_sensitivity : float in (0, 1], optional
        Sensitivity for ``positive`` the stored operating point reaches on the labelled images
        (:data:`DEFAULT_TARGET_SENSITIVITY` when labels are given without it; a two-decision
        model: the stored point's target). Needs labels.
    positive : str, default="malignant"
        The class of the operating point; one of the model's.
    recalibrate : bool, default=True
        With labels, refit a Platt-calibrated head's sigmoids on them (never for a two-decision
        model).
    force : bool, default=False
        Adapt even when more than half the images lie beyond :data:`FAR_OUT_OF_DOMAIN` times the
        out-of-domain threshold of the model's training images (another kind of image, such as
        mammograms for an ultrasound model: refused otherwise). Without an out-of-domain
        reference in the model, nothing is checked.
    site : str, optional
        The site's name, for the operating point's ``chosen_on`` ("12 labelled images of 8
        patients of SITE"); default "the adaptation site".
    n_bootstrap : int, default=1000
        A two-decision model: resamples of patients behind its figures' intervals
        (:func:`site_points`).
    random_state : int or None, default=0
        Their seed.

    Returns
    -------
    adapted : FeatbusModel
        A copy with the re-estimated statistics, calibration and ``operating_point``, whose
        manifest's ``adaptation`` entry records what it was adapted on; save it with
        :meth:`~featbus.model.FeatbusModel.save`.

    Raises
    ------
    ValueError
        Labels the model does not know (named), labelled images of a single class, too few
        images, a method the model cannot use, bad parameter values: one line each.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import adapt, make_phantoms
    >>> from featbus.workflows.training import train_model
    >>> model = train_model(make_phantoms(40, image_size=48, random_state=0), "intensity,lbp",
    ...                     classifier="svm", cross_validate=False, progress=False)
    >>> site = make_phantoms(30, image_size=48, weights=[0.6, 0.4, 0.0], random_state=1)
    >>> brighter = [np.clip(im.astype(float) * 1.3 + 20, 0, 255).astype(np.uint8) for im in site.images]
    >>> adapt(model, brighter)  # phantoms vary so little that a 1.3x gain lies "far" from them
    Traceback (most recent call last):
    ...
    ValueError: 30 of the 30 images lie more than 2 times the out-of-domain threshold from the model's ...
    >>> adapted = adapt(model, brighter, force=True)             # unlabelled: per-site standardisation
    >>> adapted.manifest["adaptation"]["method"], adapted.manifest["adaptation"]["n_images"]
    ('standardise', 30)
    >>> adapted.manifest["adaptation"]["out_of_domain_before"]["far"]
    30
    >>> labels = site.target_names[site.target]
    >>> tuned = adapt(model, brighter, labels=labels, target_sensitivity=0.9, force=True)
    >>> op = tuned.manifest["operating_point"]
    >>> op["positive"], op["sensitivity"] >= 0.9, "operating_point" in model.manifest   # input untouched
    ('malignant', True, False)
    >>> adapt(model, brighter, labels=["benign"] * 29 + ["cyst"])
    Traceback (most recent call last):
    ...
    ValueError: the labels hold 'cyst', which the model does not know (its classes: benign, malignant, normal)
    """
    return _adapt(model, images, labels=labels, groups=groups, method=method,
                  target_sensitivity=target_sensitivity, positive=positive, recalibrate=recalibrate, force=force,
                  site=site, n_bootstrap=n_bootstrap, random_state=random_state)


#: What a two-decision model's adaptation record says of its calibration.
TWO_DECISIONS_KEPT = ("kept: a two-decision model has its two thresholds refitted and nothing else (its lesion "
                      "classifier's Platt sigmoids, refitted on a few lesion images, would move p(malignant | lesion) "
                      "of every image; its features stay as trained, as its lesion classifier was standardised on "
                      "lesion images only, which a site's mix of normal and lesion scans is not)")


def _adapt(model, images, *, labels=None, groups=None, method="auto", target_sensitivity=None,
           positive="malignant", recalibrate=True, force=False, source: str | None = None,
           source_name: str | None = None, site: str | None = None, unit: str | None = None,
           n_bootstrap: int = 1000, random_state=0):
    """:func:`adapt`; ``source``: the model's file when the caller loaded it (the command line);
    ``unit``: what the groups are, plural (``"patients"``; default from a Bunch's ``groups_from``,
    ``"patients"`` for groups given, ``"images"`` without)."""
    from ..io import file_sha256
    from ..model.format import data_sha256
    from ..model.loaded import FeatbusModel, load_model, read_records

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if target_sensitivity is not None and (isinstance(target_sensitivity, bool)
                                           or not isinstance(target_sensitivity, numbers.Real)
                                           or not 0 < target_sensitivity <= 1):
        raise ValueError(f"target_sensitivity must be a number in (0, 1], got {target_sensitivity!r}")
    if isinstance(model, (str, os.PathLike)):
        source = str(model)
        if not Path(source).is_file():
            raise FileNotFoundError(f"model {source!r}: no such file")
        model = load_model(source)
    if not isinstance(model, FeatbusModel):
        raise TypeError(f"model must be a FeatbusModel or a .featbus path, got {type(model).__name__}")
    classes = [str(c) for c in model.classes_]
    if positive not in classes:
        raise ValueError(f"the positive class {positive!r} is not one of the model's classes ({', '.join(classes)})")
    stored = model.manifest.get("operating_point")
    stored = OperatingPoint.from_record(stored) if stored else None
    two = stored is not None and stored.two_decisions  # thresholds only (site_points)
    if two:
        if positive != stored.positive:
            raise ValueError(f"positive={positive!r}: this two-decision model's second decision is on "
                             f"{stored.positive!r}")
        if labels is None:
            raise ValueError("a two-decision model is adapted by refitting its two thresholds on labelled images, "
                             "and nothing else: pass labels (featbus adapt --labels)")
        if method not in ("auto", "none"):
            raise ValueError(f"method={method!r}: a two-decision model keeps its features as trained (its lesion "
                             "classifier was standardised on lesion images only, which a site's mix of normal and "
                             "lesion scans is not) and refits its thresholds alone: use method='none'")
        method = "none"
    if groups is not None:
        unit = unit or "patients"
    if hasattr(images, "target") and (hasattr(images, "data") or hasattr(images, "images")):
        if groups is None and getattr(images, "groups", None) is not None:
            groups = images.groups
            unit = unit or _group_unit(getattr(images, "groups_from", None), groups)
        images = list(images.data) if hasattr(images, "data") else list(images.images)
    records, _, _ = read_records(images)
    n = len(records)
    if n < MIN_IMAGES:
        raise ValueError(f"adaptation estimates the site's statistics from its images: give at least {MIN_IMAGES} "
                         f"images, got {n}")
    y = _labels_of(labels, n)
    labelled = None if y is None else np.asarray([v is not None for v in y])
    if y is not None:
        unknown = sorted(set(y[labelled].tolist()) - set(classes))
        if unknown:
            raise ValueError(f"the labels hold {', '.join(repr(u) for u in unknown)}, which the model does not know "
                             f"(its classes: {', '.join(classes)})")
        present = sorted(set(y[labelled].tolist()))
        if two:  # any labelled image will do: site_points keeps a threshold it has too few images for, and says so
            if not present:
                raise ValueError("labels are given but no image has one: the thresholds need labelled images")
        elif len(present) < 2:
            raise ValueError(f"the labelled images hold a single class ({', '.join(map(repr, present)) or 'none'}): "
                             "choosing an operating point and calibrating need images of at least two classes")
        elif positive not in present:
            raise ValueError(f"the labelled images hold no {positive!r} image: the operating point needs some")
        target = DEFAULT_TARGET_SENSITIVITY if target_sensitivity is None else float(target_sensitivity)
    elif target_sensitivity is not None:
        raise ValueError("target_sensitivity sets an operating point on labelled images: pass labels too")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape[0] != n:
            raise ValueError(f"groups has {groups.shape[0]} entries for {n} images")

    networks = model.networks
    if method == "auto":
        method = "adabn" if networks else "standardise"
    if method == "adabn" and not networks:
        raise ValueError("method='adabn' re-estimates a fine-tuned network's BatchNormalization statistics; this "
                         "model has none (features + classifier): use method='standardise'")

    new = _copy(model, keep_forwards=method == "none" or not networks)
    crops = new._crop(records)
    before = None
    if model.domain is not None:  # against the training images as the model was trained: another modality?
        before = model.domain.transform(np.asarray(model.features.transform(crops)))[:, 0]
        _check_kind(before, force)
    changed: list[str] = []
    if method in ("adabn", "standardise") and new.networks:
        for est in new.networks:
            done = est.adapt(crops, batch_norm=method == "adabn")
            changed.append((f"{done['batch_norm_layers']} BatchNormalization layers' moving mean/variance and "
                            if method == "adabn" else "")
                           + f"the embedding normaliser ({done['embedding_columns']} columns) of "
                           f"{type(est).__name__}({est.backbone})")
    elif method == "standardise":
        X = np.asarray(new.features.transform(crops))
        changed += [f"{s} mean and scale" for s in _restandardise(new.head, X)]

    record: dict[str, Any] = {
        "method": method, "changed": changed, "n_images": n,
        "sha256": data_sha256(records, [""] * n),
        "fingerprints": fingerprints(records),  # validate says when it is given these images
        "labelled": bool(y is not None),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"file": os.path.basename(source) if source else source_name,
                   "sha256": file_sha256(source) if source else None,
                   "pipeline_sha256": model.manifest.get("pipeline_sha256"),
                   "created": model.manifest.get("created")},
    }
    if groups is not None:
        record["n_groups"] = int(np.unique(groups).size)
    manifest = dict(new.manifest)
    if before is not None:
        record["out_of_domain_before"] = _domain_scores(before)
        if method in ("adabn", "standardise"):
            X = np.asarray(new.features.transform(crops))
            new.domain = _restandardised_reference(model.domain, X)
            record["out_of_domain_after"] = _domain_scores(new.domain.transform(X)[:, 0])
            how = (f"re-standardised on the {n} adaptation images' feature rows as the classifier's features were "
                   f"({method}): out_of_domain is the distance from the training images with this site's shift "
                   "removed")
        else:
            how = "kept as trained (method none: the classifier sees the features as in training)"
        record["domain"] = how
        manifest["domain"] = {**manifest.get("domain", {}), "adapted": {"how": how, "n_images": n}}
        # featbus inspect prints the notes: say there which reference out_of_domain is scored against
        notes = [x for x in manifest.get("notes", []) if not str(x).startswith("out-of-domain reference ")]
        manifest["notes"] = [*notes, f"out-of-domain reference {how}"]
    if model.manifest.get("adaptation"):
        record["previous"] = model.manifest["adaptation"]
    manifest.pop("operating_point", None)  # chosen on the probabilities before this adaptation
    if y is not None:
        sel = np.flatnonzero(labelled)
        yl = np.asarray(y[sel], dtype=str)
        lab = [crops[i] for i in sel]
        if two:  # the two thresholds on the labelled images' scores, the one path (site_points)
            from ..metrics import lesion_and_given

            p_lesion, given = lesion_and_given(new._proba_of_crops(lab), classes, absent=stored.absent,
                                               positive=stored.positive)
            point, report = site_points(p_lesion, given, yl, None if groups is None else groups[sel],
                                        stored=stored, target=target_sensitivity, unit=unit, site=site,
                                        n_bootstrap=n_bootstrap, random_state=random_state)
            op = point.to_record()
            record["calibration"] = TWO_DECISIONS_KEPT
            record["two_decisions"] = report
        else:
            recalibrated = False
            if recalibrate and hasattr(new.head, "calibrated_classifiers_"):
                recalibrated = _refit_platt(new.head, np.asarray(new.features.transform(lab)), yl)
            proba = new._proba_of_crops(lab)
            op = OperatingPoint.choose(yl, proba, classes=classes, positive=positive, target=target,
                                       chosen_on=f"{sel.size} labelled images of {site or 'the adaptation site'} "
                                                 "(optimistic there)").to_record()
            record["calibration"] = ("Platt sigmoids refitted on the labelled images" if recalibrated
                                     else "kept (the head has no Platt calibration)" if recalibrate else "kept")
        manifest["operating_point"] = op
        record["labels"] = {"n_images": int(sel.size), "counts": {c: int(np.sum(yl == c)) for c in present},
                            "n_groups": int(np.unique(groups[sel]).size) if groups is not None else None,
                            "unit": unit or "images"}
        record["operating_point"] = op
    manifest["adaptation"] = record
    new.manifest = manifest
    return new
