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
:data:`MIN_MALIGNANT_IMAGES`) is kept as stored, and the record says so; so is one that does
harm: each refitted decision is judged on the labelled images against always answering one class
(balanced accuracy against :data:`TRIVIAL_BALANCED_ACCURACY`, its interval over patients), and one
no better is not stored. The presence threshold never calls more than :data:`MAX_LESIONS_NORMAL`
of the labelled lesion images normal. The model card's calibration curve (:func:`model_card`,
:func:`calibration_spread`) says what spread to expect from that many patients. Without labels,
the decision score is aligned to the site's images instead (:mod:`featbus.model.alignment`:
the site's ``p(malignant | lesion)`` quantiles mapped onto the training out-of-fold scores',
stored in the file and applied by predict). The features, the
lesion classifier and its Platt sigmoids are kept as trained (``method`` ``"auto"`` means
``"none"`` there): the classifier was standardised on lesion
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
from ..metrics import (  # the one rule and its default target
    DEFAULT_TARGET_SENSITIVITY,
    OperatingPoint,
    check_n_bootstrap,
)
from ..model.provenance import fingerprints

__all__ = ["adapt", "site_points", "align_points", "calibrate_scores", "patients_needed", "one_sided_bound",
           "site_figures", "group_unit", "model_card", "calibration_spread",
           "spread_lines", "score_reference", "MIN_IMAGES", "DEFAULT_TARGET_SENSITIVITY", "METHODS",
           "FAR_OUT_OF_DOMAIN", "PRESENCE_TARGET", "MAX_LESIONS_NORMAL", "MIN_LESION_IMAGES", "MIN_MALIGNANT_IMAGES",
           "FEW_GROUPS", "FEW_IMAGES", "MIN_BOOTSTRAP_GROUPS", "TRIVIAL_BALANCED_ACCURACY", "WIDE_SPREAD"]

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
            "far": int(np.sum(scores > FAR_OUT_OF_DOMAIN)), "far_beyond": FAR_OUT_OF_DOMAIN, "n": int(scores.size)}


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

#: The most of a site's labelled lesion images the presence threshold may call normal (its cap:
#: the threshold is chosen for at least ``1 - MAX_LESIONS_NORMAL`` of them called a lesion, and a
#: kept threshold that would call more of them normal is lowered to it).
MAX_LESIONS_NORMAL = 0.03
#: Share of a site's labelled lesion images the refitted presence threshold keeps calling a lesion
#: (the target of the first decision, "is there a lesion?", of a two-decision model).
PRESENCE_TARGET = 1 - MAX_LESIONS_NORMAL
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
#: Fewest patients (groups) behind an AUC for it to have an interval (a bootstrap of patients); a
#: share of images always has its exact one (Clopper-Pearson with as many trials as patients).
MIN_BOOTSTRAP_GROUPS = 10
#: Balanced accuracy of always answering one class (sensitivity 1 and specificity 0, or the
#: reverse): what a refitted decision must beat on the labelled images to be kept.
TRIVIAL_BALANCED_ACCURACY = 0.5
#: Width of the 5-95 % band (over draws of k patients, the card's calibration curve) of the
#: sensitivity or specificity above which the spread to expect from k patients is called wide.
WIDE_SPREAD = 0.2

#: The figures of each point: key -> (class counted, what is called) in words.
_FIGURES = {
    "presence": ("lesions_called_lesion", "lesions_called_normal", "malignant_called_normal", "normals_called_normal"),
    "malignancy": ("malignant_sensitivity", "benign_specificity", "malignant_called_malignant"),
}


def group_unit(groups_from: str | None, groups=None) -> str:
    """What a data set's groups are, in words (plural): ``"patients"`` for a patient column,
    ``"near-duplicate groups"`` for groups featbus formed (``"images"`` when each holds one image),
    else ``"groups"``.

    Examples
    --------
    >>> from featbus.workflows.adaptation import group_unit
    >>> group_unit("patients: the 'Case' column of bus_data.csv"), group_unit(None, [1, 2, 3])
    ('patients', 'images')
    """
    if not groups_from:
        one_each = groups is not None and np.unique(np.asarray(groups)).size == len(groups)
        return "images" if one_each else "near-duplicate groups"
    return "patients" if str(groups_from).strip().lower().startswith("patients") else "groups"


def _site_figures_at(p_lesion, given, y, t_presence, t_malignancy, *, absent, positive) -> dict:
    """Every figure of the two points at these thresholds: ``key -> (value, successes, images)``
    (value NaN without an image of the class), each from the figure table
    (:mod:`featbus.evaluation.figures`) on the decisions of the point it judges."""
    from ..evaluation.figures import figures
    from ..metrics import Predictions, decide

    y = np.asarray(y, dtype=str)
    p_lesion, given = np.asarray(p_lesion, dtype=float), np.asarray(given, dtype=float)
    lesion, mal = y != absent, y == positive

    def view(labels, classes, scores=None, rule=None, y_pred=None):
        classes = np.asarray(classes, dtype=object)
        if y_pred is None:
            y_pred = classes[decide(scores, rule)]
        return Predictions(y_true=np.asarray(labels, dtype=object), y_pred=y_pred, scores=scores, classes=classes,
                           class_names=[str(c) for c in classes], groups=None, rule=rule)

    # the first point alone: is there a lesion (p(lesion) >= its threshold)?
    presence = view(np.where(lesion, "lesion", absent), [absent, "lesion"], np.column_stack([1 - p_lesion, p_lesion]),
                    (1, t_presence))
    # the second alone, on the lesion images: malignant when p(malignant | lesion) >= its threshold
    q = given[lesion]
    malignancy = view(np.where(mal[lesion], positive, "other"), ["other", positive], np.column_stack([1 - q, q]),
                      (1, t_malignancy))
    # both: what the model answers (no lesion first); decided on the two scores themselves (a product and a
    # quotient could move a score off a threshold chosen at it); the rule only names the no-lesion class
    called_lesion = decide(presence.scores, presence.rule) == 1
    called_mal = decide(np.column_stack([1 - given, given]), (1, t_malignancy)) == 1
    truth = np.where(lesion, np.where(mal, positive, "other"), absent)
    answer = np.where(called_lesion, np.where(called_mal, positive, "other"), absent).astype(object)
    both = dataclasses.replace(view(truth, [absent, "other", positive], y_pred=answer),
                               rule=(2, t_malignancy, 0, t_presence))
    mal_key, mcn_key = f"sensitivity[{positive}]", f"called_normal[{positive}]"
    both_figs = figures(both, [mal_key, "lesions_called_normal", mcn_key])
    values = {**dict(zip(("lesions_called_lesion", "normals_called_normal"),
                         figures(presence, ["sensitivity[lesion]", f"sensitivity[{absent}]"]).values())),
              **dict(zip(("malignant_sensitivity", "benign_specificity"),
                         figures(malignancy, [f"sensitivity[{positive}]", f"specificity[{positive}]"]).values())),
              "malignant_called_malignant": both_figs[mal_key],
              "lesions_called_normal": both_figs["lesions_called_normal"],
              "malignant_called_normal": both_figs[mcn_key]}
    sizes = {"lesions_called_lesion": int(lesion.sum()), "normals_called_normal": int((~lesion).sum()),
             "malignant_sensitivity": int(mal.sum()), "benign_specificity": int((lesion & ~mal).sum()),
             "malignant_called_malignant": int(mal.sum()), "lesions_called_normal": int(lesion.sum()),
             "malignant_called_normal": int(mal.sum())}
    return {key: (values[key], int(round(values[key] * n)) if n else 0, n) for key, n in sizes.items()}


def _aucs(p_lesion, given, y, *, absent, positive) -> dict:
    """The two decisions' AUCs from the figure table: ``p(lesion)`` lesion vs ``absent``, and
    ``p(positive | lesion)`` of the lesion images, ``positive`` vs the other lesions (NaN with one class)."""
    from ..evaluation.figures import figures
    from ..metrics import Predictions

    y = np.asarray(y, dtype=str)
    lesion = y != absent

    def auc(is_pos, score) -> float:
        classes = np.array(["other", "positive"], dtype=object)
        truth = classes[np.asarray(is_pos, bool).astype(int)]
        view = Predictions(y_true=truth, y_pred=truth, scores=np.column_stack([1 - score, score]), classes=classes,
                           class_names=list(classes), groups=None)
        return figures(view, ["auc[positive]"])["auc[positive]"]  # fixed labels: no user's

    return {"presence": auc(lesion, np.asarray(p_lesion, float)),
            "malignancy": auc(y[lesion] == positive, np.asarray(given, float)[lesion]) if lesion.any() else math.nan}


@dataclasses.dataclass
class _Labelled:
    """A site's labelled images as :func:`site_points` reads them: both scores, the labels, the
    groups (patients) and the words for them."""

    p_lesion: np.ndarray
    given: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    unit: str
    site: str
    absent: str
    positive: str

    @classmethod
    def checked(cls, p_lesion, given, y, groups, unit, site, stored) -> _Labelled:
        p_l = np.asarray(p_lesion, dtype=float).ravel()
        q = np.asarray(given, dtype=float).ravel()
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
        return cls(p_l, q, y, groups, unit, site or "the adaptation site", stored.absent, stored.positive)

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def lesion(self) -> np.ndarray:
        return self.y != self.absent

    @property
    def mal(self) -> np.ndarray:
        return self.y == self.positive

    @property
    def per_image(self) -> bool:
        return self.unit == "images"

    def n_groups(self, mask=None) -> int:
        return int(np.unique(self.groups if mask is None else self.groups[mask]).size)

    def of(self, k_images: int, mask=None) -> str:
        """``"13 labelled images of 8 patients of SITE"`` (``mask``: lesion images)."""
        return f"{k_images} labelled{' lesion' if mask is not None else ''} images" + (
            "" if self.per_image else f" of {self.n_groups(mask)} {self.unit}") + f" of {self.site}"


def _judged(called, is_pos, groups, *, n_bootstrap: int, random_state, confidence: float) -> dict:
    """A decision against always answering one class, as validate judges it: better only when its
    balanced accuracy (the mean of the two sensitivities, whose trivial value is
    :data:`TRIVIAL_BALANCED_ACCURACY`) has its 95 % interval over ``groups`` above that (the point
    value without a bootstrap), and it finds at least validate's floor
    (:data:`featbus.evaluation.sanity.SENSITIVITY_FLOOR`) of each side (else it answers one class
    in practice). Every figure from the figure table (:func:`~featbus.evaluation.figures.estimate`:
    95 % intervals; ``confidence`` is that)."""
    from ..evaluation.figures import estimate, figures
    from ..evaluation.sanity import SENSITIVITY_FLOOR
    from ..metrics import Predictions

    called, is_pos = np.asarray(called, bool), np.asarray(is_pos, bool)
    classes = np.array(["other", "positive"], dtype=object)
    view = Predictions(y_true=classes[is_pos.astype(int)], y_pred=classes[called.astype(int)], scores=None,
                       classes=classes, class_names=list(classes), groups=groups)
    names = ["balanced_accuracy", "sensitivity[positive]", "sensitivity[other]"]  # fixed labels: no user's
    if is_pos.all() or not is_pos.any():  # one side only: a balanced accuracy is not measurable
        point, interval, sides = math.nan, (math.nan, math.nan), [math.nan, math.nan]
    else:
        if n_bootstrap:
            values, intervals = estimate(view, names, groups, int(n_bootstrap), random_state=random_state)
            interval = intervals[names[0]]
        else:
            values, interval = figures(view, names), (math.nan, math.nan)
        point, sides = values[names[0]], [values[names[1]], values[names[2]]]
    has = bool(np.all(np.isfinite(interval)))
    better = bool(interval[0] > TRIVIAL_BALANCED_ACCURACY) if has else bool(point > TRIVIAL_BALANCED_ACCURACY)
    floor = min(sides) < SENSITIVITY_FLOOR  # NaN compares False: a missing side is not under the floor
    return {"balanced_accuracy": None if math.isnan(point) else float(point),
            "interval": [float(b) for b in interval] if has else None, "trivial": TRIVIAL_BALANCED_ACCURACY,
            "under_floor": float(SENSITIVITY_FLOOR) if floor else None,
            "better": better and not floor and not math.isnan(point)}


def _no_better_text(name: str, judged: dict, chosen: str, kept: str) -> str:
    """Why a refitted threshold was not kept, with the figures that say so."""
    from ..metrics import format_interval

    value = judged["balanced_accuracy"]
    got = "not measurable" if value is None else format_interval(value, judged["interval"], missing=None)
    floor = (f"; one side is found under validate's {judged['under_floor']:g} floor: in practice it answers one "
             "class" if judged.get("under_floor") else "")
    return (f"the {name} threshold chosen on the labelled images ({chosen}) is no better than always answering one "
            f"class there: balanced accuracy {got} against {judged['trivial']:g}"
            + ("" if judged["interval"] else " (point value: no bootstrap)") + f"{floor}; the stored threshold "
            f"({kept}) is kept")


# --------------------------------------------------------------------------- the safe-move rule

def one_sided_bound(count: int, n: int, *, confidence: float = 0.95, side: str = "upper") -> float:
    """The one-sided Clopper-Pearson bound of a share of ``count`` in ``n`` (the limit of the
    two-sided interval at ``2 confidence - 1``; :func:`featbus.metrics.clopper_pearson`).

    Examples
    --------
    >>> from featbus.workflows.adaptation import one_sided_bound
    >>> round(one_sided_bound(0, 99), 4), round(one_sided_bound(0, 98), 4)   # 95 % upper, no miss
    (0.0298, 0.0301)
    """
    from ..metrics import clopper_pearson

    if n <= 0:
        return 1.0 if side == "upper" else 0.0
    lo, hi = clopper_pearson(count, n, confidence=2 * confidence - 1)
    return float(hi if side == "upper" else lo)


def patients_needed(share: float, *, confidence: float = 0.95) -> int | None:
    """Fewest patients, none of them missed, whose one-sided ``confidence`` Clopper-Pearson bound
    keeps the share missed at most ``share`` (``1 - (1 - confidence) ** (1 / n) <= share``);
    ``None`` for a share of 0, which no number of patients shows.

    Examples
    --------
    >>> from featbus.workflows.adaptation import patients_needed
    >>> patients_needed(0.03), patients_needed(1 - 0.9)   # lesions called normal <= 3 %; sensitivity >= 0.9
    (99, 29)
    """
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1), got {share!r}")
    if share == 0:
        return None
    n = max(1, math.ceil(math.log(1 - confidence) / math.log(1 - share)))
    while one_sided_bound(0, n, confidence=confidence) > share:
        n += 1
    while n > 1 and one_sided_bound(0, n - 1, confidence=confidence) <= share:
        n -= 1
    return n


def _patients_missed(missed: np.ndarray, groups: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    """``(patients with an image missed, patients)`` among the images of ``mask``: a patient counts
    once, missed when any of its images is."""
    units, inverse = np.unique(groups[mask], return_inverse=True)
    return int(np.sum(np.bincount(inverse, weights=missed[mask].astype(float)) > 0)), int(units.size)


def _safety(s: _Labelled, t_presence: float, t_malignancy: float, *, cap: float, target: float,
            confidence: float) -> dict:
    """The one-sided bounds over patients at a pair of thresholds: lesions called normal (upper)
    and sensitivity to ``positive`` by both decisions (lower), and whether each holds."""
    missed_lesion = s.p_lesion < t_presence
    missed_mal = missed_lesion | (s.given < t_malignancy)
    x_l, n_l = _patients_missed(missed_lesion, s.groups, s.lesion)
    x_m, n_m = _patients_missed(missed_mal, s.groups, s.mal)
    upper = one_sided_bound(x_l, n_l, confidence=confidence)
    lower = 1 - one_sided_bound(x_m, n_m, confidence=confidence)
    return {"presence_threshold": float(t_presence), "malignancy_threshold": float(t_malignancy),
            "lesion_patients": n_l, "lesion_patients_missed": x_l, "lesions_called_normal_bound": upper,
            "lesions_ok": bool(upper <= cap), "malignant_patients": n_m, "malignant_patients_missed": x_m,
            "sensitivity_bound": lower, "sensitivity_ok": bool(lower >= target)}


def _safe_raise(s: _Labelled, candidates, check) -> tuple[float | None, dict | None, dict | None]:
    """The highest candidate threshold (ascending) whose ``check`` holds, stopping at the first that
    fails (the bounds only worsen as a threshold rises): ``(threshold or None, its check, the
    failing check)``."""
    best = best_check = None
    for t in candidates:
        chk = check(float(t))
        if not chk["ok"]:
            return best, best_check, chk
        best, best_check = float(t), chk
    return best, best_check, None


def _move_record(name: str, base: float, fitted: float, adopted: float, failing: dict | None, *, cap: float,
                 target: float, confidence: float, unit: str) -> dict:
    """What the safe-move rule decided for a threshold the labelled images would raise, and the
    patients it would take to raise it further."""
    from ..metrics import threshold_text

    need = {"lesions_called_normal": patients_needed(cap, confidence=confidence),
            "sensitivity": patients_needed(1 - target, confidence=confidence)}
    rec = {"move": "raise", "base_threshold": float(base), "fitted_threshold": float(fitted),
           "adopted_threshold": float(adopted), "confidence": confidence, "max_lesions_normal": cap,
           "target_sensitivity": target, "patients_needed": need, "failing": failing}
    if failing is None:
        rec["text"] = (f"raised to {threshold_text(adopted)}, as far as the labelled images choose, shown safe over "
                       f"{unit}")
        return rec
    bounds = []
    if name == "presence" and not failing["lesions_ok"]:
        n_need = need["lesions_called_normal"]
        bounds.append(f"lesions called normal <= {failing['lesions_called_normal_bound']:.3f} over "
                      f"{failing['lesion_patients']} lesion {unit} ({failing['lesion_patients_missed']} missed), "
                      f"above {cap:g}: " + (f"with none missed, {n_need} lesion {unit} are needed" if n_need
                                             else "no number of them shows 0"))
    if not failing["sensitivity_ok"]:
        bounds.append(f"sensitivity >= {failing['sensitivity_bound']:.3f} over {failing['malignant_patients']} "
                      f"malignant {unit} ({failing['malignant_patients_missed']} missed), below {target:g}: with "
                      f"none missed, {need['sensitivity']} malignant {unit} are needed")
    what = "calls more lesions normal" if name == "presence" else "finds fewer cancers"
    where = (f"stays at {threshold_text(base)}" if adopted == base else f"raised only to {threshold_text(adopted)}")
    at = failing["presence_threshold" if name == "presence" else "malignancy_threshold"]
    rec["text"] = (f"the labelled images would raise the {name} threshold {threshold_text(base)} -> "
                   f"{threshold_text(fitted)}, which {what}; a one-sided {confidence * 100:g} % Clopper-Pearson "
                   f"bound over {unit} does not show it safe at {threshold_text(at)} ("
                   + "; ".join(bounds) + f"): it {where}")
    return rec


def _point_at(fit: OperatingPoint, t: float, called, is_pos) -> OperatingPoint:
    """``fit`` moved to threshold ``t``: its sensitivity and specificity there (the figure table's;
    ``None`` without an image of the side)."""
    from ..evaluation.figures import figures
    from ..metrics import Predictions

    called, is_pos = np.asarray(called, bool), np.asarray(is_pos, bool)
    classes = np.array(["other", "positive"], dtype=object)
    view = Predictions(y_true=classes[is_pos.astype(int)], y_pred=classes[called.astype(int)], scores=None,
                       classes=classes, class_names=list(classes), groups=None)
    got = figures(view, ["sensitivity[positive]", "specificity[positive]"])  # fixed labels: no user's
    sens, spec = got["sensitivity[positive]"], got["specificity[positive]"]
    return dataclasses.replace(fit, threshold=float(t), sensitivity=None if math.isnan(sens) else float(sens),
                               specificity=None if math.isnan(spec) else float(spec))


def _choose_presence(s: _Labelled, stored: OperatingPoint, presence_target: float, cap: float, target: float,
                     confidence: float, warn: list, kept_because: dict, moves: dict) -> OperatingPoint:
    """The presence point of :func:`site_points`: lowered as the labelled lesions ask, raised only as
    far as the safe-move rule shows it safe over patients, or the stored (aligned) one."""
    from ..metrics import threshold_text

    lesion, base = s.lesion, stored.presence
    if int(lesion.sum()) < MIN_LESION_IMAGES:
        warn.append(f"only {int(lesion.sum())} lesion images labelled (fewer than {MIN_LESION_IMAGES}): the model's "
                    f"stored presence threshold ({threshold_text(base.threshold)}) is kept")
        return base
    fit = OperatingPoint.choose_presence(s.p_lesion, s.y, absent=s.absent, target=max(presence_target, 1 - cap),
                                         chosen_on=s.of(s.n))
    if fit.threshold < base.threshold:  # the stored one calls too many labelled lesions normal: lowered
        moves["presence"] = {"move": "lower", "base_threshold": float(base.threshold),
                             "fitted_threshold": float(fit.threshold), "adopted_threshold": float(fit.threshold),
                             "text": f"lowered to {threshold_text(fit.threshold)}: the stored one calls more than "
                                     f"{1 - max(presence_target, 1 - cap):.2g} of the labelled lesion images "
                                     f"{s.absent} (a move that calls fewer lesions {s.absent} is always allowed)"}
        return fit
    if fit.threshold == base.threshold:
        kept_because["presence"] = "the labelled images choose the same threshold"
        return base
    if not (~lesion).any():  # a raise buys normal scans called normal, which no labelled image shows
        kept_because["presence"] = f"no {s.absent} scan labelled: a raise needs one to show what it gains"
        return base

    def check(t):
        chk = _safety(s, t, stored.threshold, cap=cap, target=target, confidence=confidence)
        return {**chk, "ok": chk["lesions_ok"] and chk["sensitivity_ok"]}

    best = _raise_shown_safe(s, "presence", base.threshold, fit.threshold, s.p_lesion[lesion], check, cap=cap,
                             target=target, confidence=confidence, warn=warn, kept_because=kept_because, moves=moves)
    if best is None:
        return base
    return _point_at(fit, best, s.p_lesion >= best, lesion)


def _raise_shown_safe(s: _Labelled, name: str, base: float, asked: float, scores: np.ndarray, check, *, cap: float,
                      target: float, confidence: float, warn: list, kept_because: dict, moves: dict) -> float | None:
    """The highest threshold among ``scores`` in ``(base, asked]`` that ``check`` shows safe over the
    labelled patients (:func:`_safe_raise`), the move recorded in ``moves[name]`` (its text also in
    ``warn`` when a raise failed); None, with ``kept_because[name]`` saying why, when none is."""
    candidates = np.unique(scores)
    candidates = candidates[(candidates > base) & (candidates <= asked)]
    best, _, failing = _safe_raise(s, candidates, check)
    adopted = base if best is None else best
    moves[name] = _move_record(name, base, asked, adopted, failing, cap=cap, target=target, confidence=confidence,
                               unit=s.unit)
    if failing is not None:
        warn.append(moves[name]["text"])
    if best is None:
        kept_because[name] = "a raise not shown safe over the labelled patients (the safe-move rule)"
    return best


def _choose_malignancy(s: _Labelled, point: OperatingPoint, stored: OperatingPoint, target: float, cap: float,
                       confidence: float, warn: list, kept_because: dict, moves: dict, judge) -> OperatingPoint:
    """The malignancy point of :func:`site_points` (``point`` holds the adopted presence): lowered when
    the labels ask and it beats the trivial answer, raised only as far as shown safe, or kept."""
    from ..metrics import threshold_text

    lesion, mal = s.lesion, s.mal
    if int(mal.sum()) < MIN_MALIGNANT_IMAGES:
        warn.append(f"only {int(mal.sum())} {s.positive} images labelled (fewer than {MIN_MALIGNANT_IMAGES}): the "
                    f"model's stored malignancy threshold ({threshold_text(stored.threshold)}) is kept")
        return point
    new = OperatingPoint.choose_given_lesion(s.given, s.y, absent=s.absent, positive=s.positive, target=target,
                                             chosen_on=s.of(int(lesion.sum()), lesion))
    if new.threshold == stored.threshold:
        kept_because["malignancy"] = "the labelled images choose the same threshold"
        return point
    if new.threshold > stored.threshold:  # finds fewer cancers: only as far as shown safe
        def check(t):
            chk = _safety(s, point.presence.threshold, t, cap=cap, target=target, confidence=confidence)
            return {**chk, "ok": chk["sensitivity_ok"]}

        best = _raise_shown_safe(s, "malignancy", stored.threshold, new.threshold, s.given[mal], check, cap=cap,
                                 target=target, confidence=confidence, warn=warn, kept_because=kept_because,
                                 moves=moves)
        if best is None:
            return point
        new = _point_at(new, best, s.given[lesion] >= best, mal[lesion])
    else:
        moves["malignancy"] = {"move": "lower", "base_threshold": float(stored.threshold),
                               "fitted_threshold": float(new.threshold), "adopted_threshold": float(new.threshold),
                               "text": f"lowered to {threshold_text(new.threshold)} to reach sensitivity {target:g} "
                                       "on the labelled images (a move that finds more cancers is always allowed "
                                       "when it beats the trivial answer)"}
    verdict = judge("malignancy", s.given[lesion] >= new.threshold, mal[lesion], lesion) \
        if (lesion & ~mal).any() else {"better": True}
    if not verdict["better"]:
        kept_because["malignancy"] = "no better than always answering one class on the labelled images"
        moves["malignancy"]["adopted_threshold"] = float(stored.threshold)
        moves["malignancy"]["text"] = (f"the labelled images would move it to {threshold_text(new.threshold)}; not "
                                       f"adopted: no better than always answering one class there")
        warn.append(_no_better_text("malignancy", verdict, f"p({s.positive} | lesion) >= "
                                    f"{threshold_text(new.threshold)}, there: sensitivity {new.sensitivity:.2f}, "
                                    f"specificity {new.specificity:.2f}", threshold_text(stored.threshold)))
        return point
    return dataclasses.replace(new, absent=s.absent, presence=point.presence)


def site_points(p_lesion, p_malignant_given_lesion, y, groups=None, *, stored: OperatingPoint,
                target: float | None = None, presence_target: float = PRESENCE_TARGET,
                max_lesions_normal: float = MAX_LESIONS_NORMAL, unit: str | None = None, site: str | None = None,
                n_bootstrap: int = 1000, random_state=0, confidence: float = 0.95) -> tuple[OperatingPoint, dict]:
    """Both thresholds of a two-decision model refitted on a site's labelled images, from their scores.

    What :func:`adapt` does with labels for a model whose stored operating point has two
    decisions (:class:`~featbus.metrics.OperatingPoint` with ``presence``), on scores computed
    beforehand, so that a benchmark can draw a few patients many times without reading an image:

    * **presence** ("is there a lesion?"): the highest threshold on ``p(lesion)`` that keeps
      ``max(presence_target, 1 - max_lesions_normal)`` of the labelled lesion images called a
      lesion (:meth:`OperatingPoint.choose_presence`), chosen from the lesion images alone. With
      fewer than :data:`MIN_LESION_IMAGES` lesion images the stored threshold is kept; without a
      normal image it is only ever lowered. A stored threshold kept for another reason that calls
      more than ``max_lesions_normal`` of the labelled lesions normal is lowered to the chosen one.
    * **malignancy** ("malignant, given a lesion?"): the highest threshold on ``p(malignant |
      lesion)`` reaching ``target`` sensitivity among the labelled malignant images (kept as
      stored with fewer than :data:`MIN_MALIGNANT_IMAGES`).
    * **no harm**: each refitted decision is judged on the labelled images as validate judges
      decisions, against always answering one class (balanced accuracy against
      :data:`TRIVIAL_BALANCED_ACCURACY`, its 95 % interval over ``groups``; the point value when
      ``n_bootstrap`` is 0). One no better than that is not stored: the stored threshold is kept
      and a warning says why, with the figures (the presence decision is judged only where
      normal images are labelled).

    The figures at the stored and the adopted thresholds are measured on the same images, with 95 %
    intervals over ``groups`` (Clopper-Pearson with as many trials as groups; the AUCs a bootstrap of
    whole groups). Adopted thresholds flatter their own images.

    Parameters
    ----------
    p_lesion, p_malignant_given_lesion : array-like of shape (n_images,)
        ``p(lesion)`` and ``p(positive | lesion)`` of the labelled images
        (:func:`featbus.metrics.lesion_and_given`).
    y : array-like of str, shape (n_images,)
        Their labels: ``stored.absent``, ``stored.positive`` or another lesion class.
    groups : array-like of shape (n_images,), optional
        Patient of every image; ``None``: every image its own (the texts then say "images").
    stored : OperatingPoint
        The model's stored two-decision point: what is kept, and compared.
    target : float in (0, 1], optional
        The malignancy point's sensitivity; default the stored point's target (else
        :data:`~featbus.metrics.DEFAULT_TARGET_SENSITIVITY`).
    presence_target : float in (0, 1], default=PRESENCE_TARGET
    max_lesions_normal : float in [0, 1), default=MAX_LESIONS_NORMAL
        The most of the labelled lesion images the presence threshold may call normal.
    unit, site : str, optional
        What the groups are, plural, and the site's name, for the texts.
    n_bootstrap : int, default=1000
        Resamples of whole groups behind the intervals and the no-harm judgement (0: point values).
    random_state : int, RandomState or None, default=0
    confidence : float, default=0.95

    Returns
    -------
    point : OperatingPoint
        The two-decision point to store (``to_record()`` is the manifest's ``operating_point``).
    report : dict
        JSON-ready: ``unit``, ``n_images``, ``n_groups``, ``counts``; per point (``"presence"``,
        ``"malignancy"``) ``refitted``, ``threshold``, ``stored_threshold``, ``kept_because``,
        ``figures``, ``stored_figures``, ``auc``; ``intervals``, ``optimistic``, ``judged`` (each
        refitted decision against the trivial answer), ``warnings`` (one line each).

    Raises
    ------
    ValueError
        ``stored`` without two decisions, arrays of different lengths, probabilities outside
        [0, 1], no labelled image, a bad target or cap: one line each.

    Examples
    --------
    >>> import dataclasses
    >>> import numpy as np
    >>> from featbus.metrics import OperatingPoint
    >>> from featbus.workflows.adaptation import site_points
    >>> stored = OperatingPoint(positive="malignant", threshold=0.2, target_sensitivity=0.9, absent="normal",
    ...                         presence=OperatingPoint(positive="lesion", threshold=0.4))
    >>> y = np.array(["normal"] * 4 + ["benign"] * 6 + ["malignant"] * 4)
    >>> p_lesion = np.array([.2, .3, .5, .6, .7, .8, .8, .9, .9, .95, .6, .9, .9, .99])
    >>> given = np.array([0, 0, 0, 0, .1, .2, .3, .35, .4, .6, .45, .5, .7, .9])
    >>> point, report = site_points(p_lesion, given, y, np.arange(14) // 2, stored=stored, site="site A",
    ...                             n_bootstrap=0)
    >>> point.presence.threshold, point.threshold   # raising either is not shown safe on 7 patients: kept
    (0.4, 0.2)
    >>> report["presence"]["move"]["patients_needed"]   # none missed: lesion patients, malignant patients
    {'lesions_called_normal': 99, 'sensitivity': 29}
    >>> report["warnings"][0]
    'only 7 patients labelled (fewer than 8): both thresholds move with every patient added or left out'

    Above what the labels ask, a threshold is lowered (fewer lesions called normal, more cancers found):

    >>> high = dataclasses.replace(stored, threshold=0.8, presence=dataclasses.replace(stored.presence, threshold=0.9))
    >>> point, report = site_points(p_lesion, given, y, np.arange(14) // 2, stored=high, n_bootstrap=0)
    >>> point.presence.threshold, point.threshold   # the lowest lesion's p(lesion); the 4th malignant's
    (0.6, 0.45)
    >>> round(report["judged"]["malignancy"]["balanced_accuracy"], 4)   # sensitivity 1, specificity 5/6
    0.9167

    A malignancy threshold that calls almost every lesion malignant is not stored:

    >>> flat = np.where(y == "normal", 0, 0.5)
    >>> kept, report = site_points(p_lesion, flat, y, stored=high, n_bootstrap=0)
    >>> kept.threshold == high.threshold, report["malignancy"]["kept_because"]
    (True, 'no better than always answering one class on the labelled images')
    """
    from ..metrics import _target

    if not isinstance(stored, OperatingPoint) or not stored.two_decisions:
        raise ValueError("stored must be the model's two-decision OperatingPoint (with presence), got "
                         f"{stored!r:.120}")
    target = _target(stored.target_sensitivity or DEFAULT_TARGET_SENSITIVITY if target is None else target,
                     "target")
    presence_target = _target(presence_target, "presence_target")
    if isinstance(max_lesions_normal, bool) or not isinstance(max_lesions_normal, numbers.Real) \
            or not 0 <= max_lesions_normal < 1:
        raise ValueError(f"max_lesions_normal must be a number in [0, 1), got {max_lesions_normal!r}")
    check_n_bootstrap(n_bootstrap)
    s = _Labelled.checked(p_lesion, p_malignant_given_lesion, y, groups, unit, site, stored)
    warn: list[str] = []
    if s.n_groups() < FEW_GROUPS:
        warn.append(f"only {s.n_groups()} {s.unit} labelled (fewer than {FEW_GROUPS}): both thresholds move with "
                    f"every {s.unit[:-1] if s.unit.endswith('s') else s.unit} added or left out")
    kept_because = {"presence": f"too few lesion images (fewer than {MIN_LESION_IMAGES})",
                    "malignancy": f"too few {s.positive} images (fewer than {MIN_MALIGNANT_IMAGES})"}
    judged: dict[str, dict] = {}

    def judge(name, called, is_pos, mask=None):
        judged[name] = _judged(called, is_pos, s.groups if mask is None else s.groups[mask], n_bootstrap=n_bootstrap,
                               random_state=random_state, confidence=confidence)
        return judged[name]

    cap, moves = float(max_lesions_normal), {}
    pres = _choose_presence(s, stored, presence_target, cap, target, confidence, warn, kept_because, moves)
    point = dataclasses.replace(stored, presence=pres)  # the malignancy threshold as stored, unless refitted
    point = _choose_malignancy(s, point, stored, target, cap, confidence, warn, kept_because, moves, judge)
    refitted = {"presence": pres is not stored.presence, "malignancy": point.threshold != stored.threshold}
    report = _points_report(s, stored, point, refitted, kept_because,
                           targets=(max(presence_target, 1 - max_lesions_normal), target), n_bootstrap=n_bootstrap,
                           random_state=random_state, confidence=confidence)
    for name, move in moves.items():
        report[name]["move"] = move
    report.update(judged=judged, max_lesions_normal=cap, warnings=warn + report.pop("figure_warnings"))
    return point, report


def _points_report(s: _Labelled, stored: OperatingPoint, point: OperatingPoint, refitted: dict, kept_because: dict,
                  *, targets: tuple[float, float], n_bootstrap: int, random_state, confidence: float) -> dict:
    """The figures of :func:`site_points`' report: each point's figures at the stored and the
    adopted thresholds on the labelled images, with their intervals over groups.

    Each figure (a share of images) has its exact interval, Clopper-Pearson with as many trials as
    groups (:func:`featbus.metrics.share_interval`: a patient's two views are not two pieces of
    evidence), as validate and compare print theirs. The AUCs have a bootstrap interval on at least
    :data:`MIN_BOOTSTRAP_GROUPS` groups strictly between 0 and 1, or none. A threshold at the ``m``-th
    highest of ``n`` scores keeps a new image exchangeable with these with probability ``m / (n + 1)``
    (``expected_new``).

    Returns the report without ``judged``; ``figure_warnings``: the figures resting on too few images.
    """
    from ..metrics import BootstrapResult, bootstrap, share_interval

    p_l, q, y, absent, positive, unit = s.p_lesion, s.given, s.y, s.absent, s.positive, s.unit
    lesion, mal = s.lesion, s.mal
    other = lesion & ~mal
    others = sorted(set(y[other].tolist())) or ["benign"]
    pres = point.presence
    whole = {"new": (pres.threshold, point.threshold), "stored": (stored.presence.threshold, stored.threshold)}

    def statistic(idx):
        return {f"auc:{k}": v for k, v in _aucs(p_l[idx], q[idx], y[idx], absent=absent, positive=positive).items()}

    boot = (bootstrap(statistic, np.arange(s.n), groups=s.groups, n_bootstrap=int(n_bootstrap),
                      random_state=random_state, confidence=confidence) if n_bootstrap
            else BootstrapResult(statistic(np.arange(s.n)), {}, {}))
    masks = {"lesions_called_lesion": lesion, "normals_called_normal": ~lesion, "malignant_sensitivity": mal,
             "benign_specificity": other, "malignant_called_malignant": mal, "lesions_called_normal": lesion,
             "malignant_called_normal": mal}
    words = {"lesions_called_lesion": "lesion images called a lesion",
             "normals_called_normal": f"{absent} images called {absent}",
             "malignant_sensitivity": f"{positive} images called {positive}, given a lesion",
             "benign_specificity": f"{'/'.join(others)} images not called {positive}, given a lesion",
             "malignant_called_malignant": f"{positive} images called {positive} by both decisions",
             "lesions_called_normal": f"lesion images called {absent}",
             "malignant_called_normal": f"{positive} images called {absent}"}
    chose = {"lesions_called_lesion": refitted["presence"], "malignant_sensitivity": refitted["malignancy"]}

    def figure(key, tag) -> dict:
        value, count, k = _site_figures_at(p_l, q, y, *whole[tag], absent=absent, positive=positive)[key]
        g = s.n_groups(masks[key])
        rec = {"what": words[key], "value": None, "interval": None, "method": None, "count": count,
               "n_images": k, "n_groups": g}
        if k == 0:
            rec["method"] = "not measurable: no such image"
            return rec
        rec["value"] = float(value)
        rec["interval"] = list(share_interval(count, k, trials=g, confidence=confidence))
        rec["method"] = f"Clopper-Pearson over {g} {unit}"
        if tag == "new" and chose.get(key):  # the share these images chose: what the next ones may expect
            rec["expected_new"] = count / (k + 1)
        return rec

    def auc(name, mask) -> dict:
        value = boot.point[f"auc:{name}"]
        g = s.n_groups(mask)
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

    def side(name, new_t, old_t, tgt, mask) -> dict:
        keys = _FIGURES[name]
        return {"refitted": bool(refitted[name]), "threshold": float(new_t), "stored_threshold": float(old_t),
                **({} if refitted[name] else {"kept_because": kept_because[name]}),
                "target": float(tgt) if refitted[name] else None, "n_images": int(mask.sum()),
                "n_groups": s.n_groups(mask), "figures": {k: figure(k, "new") for k in keys},
                "stored_figures": {k: figure(k, "stored") for k in keys}, "auc": auc(name, mask)}

    per_image = s.per_image
    report: dict[str, Any] = {
        "unit": unit, "site": s.site, "n_images": s.n, "n_groups": s.n_groups(),
        "counts": {c: int(np.sum(y == c)) for c in sorted(set(y.tolist()))},
        "presence": {**side("presence", pres.threshold, stored.presence.threshold, targets[0], np.ones(s.n, bool)),
                     "n_lesion_images": int(lesion.sum()), "n_lesion_groups": s.n_groups(lesion),
                     "n_normal_images": int((~lesion).sum()), "n_normal_groups": s.n_groups(~lesion)},
        "malignancy": {**side("malignancy", point.threshold, stored.threshold, targets[1], lesion),
                       "n_malignant_images": int(mal.sum()), "n_malignant_groups": s.n_groups(mal),
                       "n_benign_images": int(other.sum()), "n_benign_groups": s.n_groups(other)},
        "intervals": (f"{confidence * 100:g} % intervals over {unit}: Clopper-Pearson" + (
            "" if per_image else f" with as many trials as {unit} (the share of images carried onto the {unit})")
            + (f"; the AUCs' a percentile bootstrap of {'' if per_image else 'whole '}{unit} ({int(n_bootstrap)} "
               f"resamples) where they rest on at least {MIN_BOOTSTRAP_GROUPS} {unit}" if n_bootstrap else "")),
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
    warn = []
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
    report["figure_warnings"] = warn
    return report


# --------------------------------------------------------------------------- the core on scores: align, then labels

def align_points(p_lesion, p_malignant_given_lesion, *, stored: OperatingPoint, reference=None,
                 positive_share: float | None = None, estimate_share: bool = False, site: str | None = None,
                 required: bool = False):
    """Both decisions of a two-decision model aligned to a site's unlabelled scores.

    First the presence threshold (:class:`~featbus.model.alignment.PresenceAlignment`: a mixture of
    two groups of ``logit p(lesion)``, the share of lesion images unknown), then ``p(malignant |
    lesion)`` of the images the aligned presence threshold calls a lesion, mapped onto the training
    reference (:class:`~featbus.model.alignment.ScoreAlignment`). Either that cannot be estimated
    stays as stored, and the record says why.

    Parameters
    ----------
    p_lesion, p_malignant_given_lesion : array-like of shape (n_images,)
        The site's two scores, as the model gives them (no earlier alignment applied).
    stored : OperatingPoint
        The model's two-decision point.
    reference : ScoreReference, optional
        The training scores' reference (:func:`score_reference`); without it the malignancy decision
        is not aligned.
    positive_share, estimate_share
        As :meth:`ScoreAlignment.fit <featbus.model.alignment.ScoreAlignment.fit>`.
    site : str, optional
        The site's name, for the words.
    required : bool, default=False
        Raise when the malignancy decision cannot be aligned (an adaptation without labels, which
        has nothing else to do).

    Returns
    -------
    point : OperatingPoint
        ``stored`` with the aligned presence threshold (when estimated).
    alignment : ScoreAlignment or None
        The malignancy score's map (``None``: not aligned).
    info : dict
        JSON-ready: ``presence`` (:meth:`PresenceAlignment.to_record`), and of the malignancy score
        the alignment's figures (``score``, ``n_images``, ``called_positive_before`` / ``after`` /
        ``reference``, ``assumptions``...) or ``reason`` (why it is not aligned).
    """
    from ..model.alignment import FEW_ALIGN_IMAGES, MIN_ALIGN_IMAGES, PresenceAlignment, ScoreAlignment

    p_l = np.asarray(p_lesion, dtype=float).ravel()
    q = np.asarray(p_malignant_given_lesion, dtype=float).ravel()
    where = site or "the adaptation site"
    presence = PresenceAlignment.fit(p_l, stored_threshold=stored.presence.threshold,
                                     stored_sensitivity=stored.presence.sensitivity)
    point = stored
    if presence.estimated:
        point = dataclasses.replace(stored, presence=dataclasses.replace(
            stored.presence, threshold=presence.threshold, target_sensitivity=None, sensitivity=None,
            specificity=None, n_images=presence.n_images,
            chosen_on=f"aligned without labels to {presence.n_images} images of {where} (a mixture of two groups of "
                      f"logit p(lesion): {presence.aim:g} of the upper group below it)"))
    called = p_l >= point.presence.threshold
    scores = q[called]
    info: dict[str, Any] = {"presence": presence.to_record()}
    if reference is None:
        reason = "the model has no reference of its training scores"
    elif scores.size < MIN_ALIGN_IMAGES:
        reason = f"only {scores.size} images called a lesion (fewer than {MIN_ALIGN_IMAGES})"
    else:
        reason = None
    if reason is not None:
        if required and reference is None:
            raise ValueError(f"the {stored.positive} score cannot be aligned: {reason}")
        if required:
            ScoreAlignment.fit(scores, reference)  # raises with its own words
        info.update(reason=reason, threshold=float(stored.threshold), score=f"p({stored.positive} | lesion)")
        return point, None, info
    al = ScoreAlignment.fit(scores, reference, positive_share=positive_share, estimate_share=estimate_share)
    t = stored.threshold
    ref = np.asarray(reference.mixture_quantiles(al.positive_share))
    info.update({
        "method": "quantile", "score": al.score, "positive": al.positive, "n_images": al.n_images,
        "of_images": int(p_l.size), "positive_share": al.positive_share, "share_from": al.share_from,
        "em_share": al.em_share, "called_positive_before": float(np.mean(scores >= t)),
        "called_positive_after": float(np.mean(al.map(scores) >= t)),
        "called_positive_reference": float(np.mean(ref >= t)), "threshold": float(t), "reference": reference.source,
        "assumptions": al.assumptions(),
        "warning": (f"only {al.n_images} images to align on (fewer than {FEW_ALIGN_IMAGES}): the share called "
                    f"{stored.positive} may be off by {math.sqrt(0.25 / al.n_images):.2f}; give more of the site's "
                    "ordinary images" if al.n_images < FEW_ALIGN_IMAGES else None)})
    return point, al, info


def calibrate_scores(p_lesion, p_malignant_given_lesion, y, groups=None, *, stored: OperatingPoint, reference=None,
                     positive_share: float | None = None, estimate_share: bool = False, align: bool = True,
                     **labelled) -> tuple[OperatingPoint, Any, dict]:
    """What ``featbus adapt MODEL DATA --labels`` does to a two-decision model, on scores: every
    image (labelled or not) aligns both decisions (:func:`align_points`), then the labelled ones
    move a threshold only as far as their patients show it safe (:func:`site_points`, on the aligned
    scores, the aligned point its ``stored``).

    Parameters
    ----------
    p_lesion, p_malignant_given_lesion : array-like of shape (n_images,)
        The site's scores as the model gives them.
    y : array-like of shape (n_images,)
        Labels, ``None`` for an unlabelled image (it aligns, it does not move a threshold).
    groups : array-like, optional
        Patients (of every image).
    stored, reference, positive_share, estimate_share
        As :func:`align_points`.
    align : bool, default=True
        ``False``: no alignment (the thresholds move from the stored point).
    **labelled
        Passed to :func:`site_points` (``target``, ``max_lesions_normal``, ``unit``, ``site``,
        ``n_bootstrap``, ``random_state``...).

    Returns
    -------
    point : OperatingPoint
        The point to store.
    alignment : ScoreAlignment or None
        The malignancy score's map to store (``manifest["score_alignment"]``).
    record : dict
        ``alignment`` (:func:`align_points`' info, or ``None``) and ``two_decisions``
        (:func:`site_points`' report, or ``None`` without a labelled image).
    """
    p_l = np.asarray(p_lesion, dtype=float).ravel()
    q = np.asarray(p_malignant_given_lesion, dtype=float).ravel()
    labels = np.asarray([None if v is None else str(v) for v in y], dtype=object)
    point, al, info = stored, None, None
    if align:
        point, al, info = align_points(p_l, q, stored=stored, reference=reference, positive_share=positive_share,
                                       estimate_share=estimate_share, site=labelled.get("site"))
    sel = np.flatnonzero([v is not None for v in labels])
    report = None
    if sel.size:
        q_site = al.map(q) if al is not None else q
        point, report = site_points(p_l[sel], q_site[sel], labels[sel].astype(str),
                                    None if groups is None else np.asarray(groups)[sel], stored=point, **labelled)
    return point, al, {"alignment": info, "two_decisions": report}


# --------------------------------------------------------------------------- the card: k patients, the reference

def model_card(path: str | os.PathLike | None) -> dict | None:
    """The card data beside a model file: ``NAME.json`` next to ``NAME.featbus`` whose
    ``sha256`` is the file's (the shipped classifier's card, ``scripts/build_breast_us_classifier.py``);
    ``None`` when there is none, or it describes another file."""
    import json

    from ..io import file_sha256

    if path is None:
        return None
    card_path = Path(path).with_suffix(".json")
    if not card_path.is_file():
        return None
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) and card.get("sha256") == file_sha256(path) else None


def calibration_spread(card: dict | None, k: int) -> dict | None:
    """What a model's card says to expect from refitting its thresholds on ``k`` labelled patients.

    The card's calibration curve (its ``calibration`` part, ``sites``: per held-out site and k, the
    median and 5-95 % band over draws of k patients of sensitivity and specificity on the site's
    other patients, with the command's guards; ``about``: what was rebuilt without the held-out
    site, ``benchmarks/site_alignment.py``) read at the largest k measured that is
    at most ``k`` (the smallest measured when ``k`` is below it). The spread is *wide* when a
    band is wider than :data:`WIDE_SPREAD` at some site; ``narrow_from`` is the smallest measured k
    above it where no band is (``None``: none, up to the largest measured; a few patients may look
    narrow only because too few images leave the stored thresholds in place).

    Returns ``None`` when the card has no curve.

    Examples
    --------
    >>> from featbus.workflows.adaptation import calibration_spread
    >>> band = {"sensitivity": [0.9, 0.5, 0.95], "specificity": [0.6, 0.2, 0.9]}
    >>> card = {"calibration": {"about": "heads rebuilt without the held-out site", "sites": {"A": {"4": band, "16": {
    ...     "sensitivity": [0.9, 0.85, 0.95], "specificity": [0.65, 0.6, 0.7]}}}}}
    >>> s = calibration_spread(card, 8)
    >>> s["k"], s["wide"], s["narrow_from"]
    (4, True, 16)
    """
    part = (card or {}).get("calibration") or {}
    curve = part.get("sites")
    if not curve:
        return None
    from ..model.describe import calibration_k

    ks, at = calibration_k(curve, k)

    def width(k_) -> float:
        return max(float(cells[name][2] - cells[name][1]) for site in curve.values()
                   for cells in [site.get(str(k_)) or {}] for name in ("sensitivity", "specificity")
                   if cells.get(name))

    bands = {site: {name: [float(x) for x in cells[name]] for name in ("sensitivity", "specificity")
                    if cells.get(name)} for site, per_k in curve.items() for cells in [per_k.get(str(at)) or {}]}
    return {"k": at, "n_labelled": int(k), "sites": bands, "about": part.get("about"), "width": width(at),
            "wide": width(at) > WIDE_SPREAD, "wide_above": WIDE_SPREAD,
            "narrow_from": next((k_ for k_ in ks if k_ > at and width(k_) <= WIDE_SPREAD), None), "largest_k": ks[-1]}


def spread_lines(spread: dict, unit: str = "patients") -> list[str]:
    """:func:`calibration_spread` in words (written by the one renderer,
    :func:`featbus.evaluation.render.render_adaptation`): the bands at each held-out site, then the
    warning when wide."""
    from ..evaluation.render import _adaptation_spread_lines

    return _adaptation_spread_lines(spread, unit)


def score_reference(model, source: str | os.PathLike | None = None):
    """The training scores' reference of a model (:class:`~featbus.model.alignment.ScoreReference`):
    its manifest's ``score_reference`` (stored by training since featbus keeps one), else its card
    data's (:func:`model_card` of ``source``, the file it was loaded from); ``None`` without either."""
    from ..model.alignment import ScoreReference

    record = model.manifest.get("score_reference") or (model_card(source) or {}).get("score_reference")
    return ScoreReference.from_record(record) if record else None


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


#: What a two-decision model's adaptation record says of its calibration.
TWO_DECISIONS_KEPT = ("kept: a two-decision model has its two thresholds refitted and nothing else (its lesion "
                      "classifier's Platt sigmoids, refitted on a few lesion images, would move p(malignant | lesion) "
                      "of every image; its features stay as trained, as its lesion classifier was standardised on "
                      "lesion images only, which a site's mix of normal and lesion scans is not)")


def _loaded(model, source):
    """``(model, source)``: a path loaded (it becomes the source), a FeatbusModel as it is."""
    from ..model.loaded import FeatbusModel, load_model

    if isinstance(model, (str, os.PathLike)):
        source = str(model)
        if not Path(source).is_file():
            raise FileNotFoundError(f"model {source!r}: no such file")
        model = load_model(source)
    if not isinstance(model, FeatbusModel):
        raise TypeError(f"model must be a FeatbusModel or a .featbus path, got {type(model).__name__}")
    return model, source


def _checked_settings(model, *, labels, method, positive, target_sensitivity, align, positive_share):
    """The stored point, whether it takes two decisions, and the method to use; bad settings raise."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if target_sensitivity is not None and (isinstance(target_sensitivity, bool)
                                           or not isinstance(target_sensitivity, numbers.Real)
                                           or not 0 < target_sensitivity <= 1):
        raise ValueError(f"target_sensitivity must be a number in (0, 1], got {target_sensitivity!r}")
    if target_sensitivity is not None and labels is None:
        raise ValueError("target_sensitivity sets an operating point on labelled images: pass labels too")
    if align not in (None, True, False):
        raise ValueError(f"align must be None, True or False, got {align!r}")
    stored = model.manifest.get("operating_point")
    stored = OperatingPoint.from_record(stored) if stored else None
    two = stored is not None and stored.two_decisions
    if labels is not None and not two and (align or positive_share is not None):
        raise ValueError("align and positive_share align the scores from unlabelled images; a one-decision model "
                         "with labels has its operating point chosen on them instead (leave them out)")
    if positive_share is not None and positive_share != "estimate" and (
            isinstance(positive_share, bool) or not isinstance(positive_share, numbers.Real)
            or not 0 < positive_share < 1):
        raise ValueError(f"positive_share must be a number in (0, 1) or 'estimate', got {positive_share!r}")
    classes = [str(c) for c in model.classes_]
    if positive not in classes:
        raise ValueError(f"the positive class {positive!r} is not one of the model's classes ({', '.join(classes)})")
    if two:
        if positive != stored.positive:
            raise ValueError(f"positive={positive!r}: this two-decision model's second decision is on "
                             f"{stored.positive!r}")
        if labels is None and align is False:
            raise ValueError("a two-decision model is adapted by refitting its two thresholds on labelled images, or "
                             "by aligning its scores to the site's unlabelled images (align); align=False leaves "
                             "nothing to do")
        if method not in ("auto", "none"):
            raise ValueError(f"method={method!r}: a two-decision model keeps its features as trained (its lesion "
                             "classifier was standardised on lesion images only, which a site's mix of normal and "
                             "lesion scans is not) and refits its thresholds alone: use method='none'")
        method = "none"
    if method == "auto":
        method = "adabn" if model.networks else "standardise"
    if method == "adabn" and not model.networks:
        raise ValueError("method='adabn' re-estimates a fine-tuned network's BatchNormalization statistics; this "
                         "model has none (features + classifier): use method='standardise'")
    return stored, two, method


def _site_images(images, groups, unit):
    """``(images, groups, unit)``: a Bunch's images and groups taken out of it."""
    if groups is not None:
        unit = unit or "patients"
    if hasattr(images, "target") and (hasattr(images, "data") or hasattr(images, "images")):
        if groups is None and getattr(images, "groups", None) is not None:
            groups = images.groups
            unit = unit or group_unit(getattr(images, "groups_from", None), groups)
        images = list(images.data) if hasattr(images, "data") else list(images.images)
    return images, groups, unit


def _checked_labels(labels, n: int, classes: list, two: bool, positive: str):
    """``(labels, labelled mask, classes present)``, or Nones without labels; bad labels raise."""
    y = _labels_of(labels, n)
    if y is None:
        return None, None, None
    labelled = np.asarray([v is not None for v in y])
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
    return y, labelled, present


def _reestimate(new, crops, method: str) -> list[str]:
    """Re-estimate the statistics ``method`` names on the site's crops; what changed, in words."""
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
    return changed


def _adapt_domain(model, new, crops, method: str, before, record: dict, manifest: dict) -> None:
    """The out-of-domain reference of the adapted model and what the record says of it."""
    n = len(crops)
    record["out_of_domain_before"] = _domain_scores(before)
    if method in ("adabn", "standardise"):
        X = np.asarray(new.features.transform(crops))
        new.domain = _restandardised_reference(model.domain, X)
        record["out_of_domain_after"] = _domain_scores(new.domain.transform(X)[:, 0])
        how = (f"re-standardised on the {n} adaptation images' feature rows as the classifier's features were "
               f"({method}): out_of_domain is the distance from the training images with this site's shift removed")
    else:
        how = "kept as trained (method none: the classifier sees the features as in training)"
    record["domain"] = how
    manifest["domain"] = {**manifest.get("domain", {}), "adapted": {"how": how, "n_images": n}}
    # featbus inspect prints the notes: say there which reference out_of_domain is scored against
    notes = [x for x in manifest.get("notes", []) if not str(x).startswith("out-of-domain reference ")]
    manifest["notes"] = [*notes, f"out-of-domain reference {how}"]


def _two_decision_adapt(new, crops, y, labelled, groups, *, stored, reference, align, positive_share,
                        target_sensitivity, site, unit, max_lesions_normal, n_bootstrap, random_state,
                        manifest: dict, X=None) -> dict:
    """A two-decision model adapted on scores (:func:`calibrate_scores`, the one core): the site's
    images align both decisions, the labelled ones move a threshold as far as shown safe; the point
    and the score alignment into the manifest; returned, what the record says. ``X``: the crops'
    features, when computed already (a two-decision model keeps its features as trained)."""
    from ..metrics import lesion_and_given

    classes = [str(c) for c in new.classes_]
    X = np.asarray(new.features.transform(crops)) if X is None else X
    raw = np.asarray(new.head.predict_proba(X), dtype=float)
    p_lesion, given = lesion_and_given(raw, classes, absent=stored.absent, positive=stored.positive)
    share = None if positive_share in (None, "estimate") else float(positive_share)
    if y is None:
        point, al, info = align_points(p_lesion, given, stored=stored, reference=reference, positive_share=share,
                                       estimate_share=positive_share == "estimate", site=site, required=True)
        parts: dict[str, Any] = {"alignment": info, "two_decisions": None}
    else:
        labels = [v if ok else None for v, ok in zip(y, labelled)]
        point, al, parts = calibrate_scores(
            p_lesion, given, labels, groups, stored=stored, reference=reference, positive_share=share,
            estimate_share=positive_share == "estimate", align=align is not False, target=target_sensitivity,
            max_lesions_normal=max_lesions_normal, unit=unit, site=site, n_bootstrap=n_bootstrap,
            random_state=random_state)
    manifest["operating_point"] = point.to_record()
    manifest.pop("score_alignment", None)  # fitted on the raw scores again, or none
    notes = [x for x in manifest.get("notes", []) if not str(x).startswith("scores aligned to ")]
    if al is not None:
        manifest["score_alignment"] = al.to_record()
        how = "featbus adapt without labels" if y is None else "featbus adapt --labels, before the labels"
        notes.append(f"scores aligned to {al.n_images} images of {site or 'the adaptation site'} ({how}): "
                     f"{al.score} mapped onto the training scores' distribution, assuming a share of "
                     f"{stored.positive} lesions of {al.positive_share:.2f} ({al.share_from})")
    manifest["notes"] = notes
    record: dict[str, Any] = {"operating_point": manifest["operating_point"]}
    if parts["alignment"] is not None:
        record["alignment"] = parts["alignment"]
    if parts["two_decisions"] is not None:
        yl = np.asarray([v for v in y[labelled]], dtype=str)
        sel = np.flatnonzero(labelled)
        record.update(calibration=TWO_DECISIONS_KEPT, two_decisions=parts["two_decisions"],
                      labels={"n_images": int(sel.size), "counts": {c: int(np.sum(yl == c)) for c in sorted(set(yl))},
                              "n_groups": int(np.unique(groups[sel]).size) if groups is not None else None,
                              "unit": unit or "images",
                              "figures_on": "the calibration patients: these figures feed no verdict; judge the "
                                            "adapted model on other patients of the site (featbus validate)"})
    return record


def _labelled_point(new, crops, y, labelled, groups, *, positive, target_sensitivity, recalibrate, site,
                    unit) -> tuple[dict, dict]:
    """The operating point of a one-decision model chosen on the labelled images, and what the record
    says of it (a two-decision model: :func:`_two_decision_adapt`)."""
    classes = [str(c) for c in new.classes_]
    sel = np.flatnonzero(labelled)
    yl = np.asarray(y[sel], dtype=str)
    lab = [crops[i] for i in sel]
    record: dict[str, Any] = {}
    recalibrated = False
    if recalibrate and hasattr(new.head, "calibrated_classifiers_"):
        recalibrated = _refit_platt(new.head, np.asarray(new.features.transform(lab)), yl)
    target = DEFAULT_TARGET_SENSITIVITY if target_sensitivity is None else float(target_sensitivity)
    op = OperatingPoint.choose(yl, new._proba_of_crops(lab), classes=classes, positive=positive, target=target,
                               chosen_on=f"{sel.size} labelled images of {site or 'the adaptation site'} "
                                         "(optimistic there)").to_record()
    record["calibration"] = ("Platt sigmoids refitted on the labelled images" if recalibrated
                             else "kept (the head has no Platt calibration)" if recalibrate else "kept")
    record["labels"] = {"n_images": int(sel.size), "counts": {c: int(np.sum(yl == c)) for c in sorted(set(yl))},
                        "n_groups": int(np.unique(groups[sel]).size) if groups is not None else None,
                        "unit": unit or "images"}
    record["operating_point"] = op
    return op, record


def _reference_to_align(model, source, stored, two: bool, *, labelled: bool, align):
    """The reference an adaptation aligns onto, or ``None`` (a one-decision model with labels,
    ``align=False``, no stored point, or none to be had where alignment is optional: a two-decision
    model with labels aligns its presence threshold without one)."""
    if (labelled and not two) or align is False or stored is None:
        return None
    reference = score_reference(model, source)
    if reference is None and (align or two) and not labelled:
        raise ValueError(("a two-decision model is adapted by refitting its two thresholds on labelled images (featbus "
                          "adapt --labels), or by aligning its scores to the site's unlabelled images, which " if two
                          else "aligning the scores to the site ") + "needs the model's reference of its training "
                         "scores (manifest 'score_reference', stored by featbus train since it keeps one, or the card "
                         "data beside the shipped classifier): this model has none")
    return reference


def _base_record(model, records, method: str, changed: list, labelled: bool, groups, source) -> dict[str, Any]:
    """The adaptation record's head: what was re-estimated, on which images, from which model."""
    from ..io import file_sha256
    from ..model.format import data_sha256

    n = len(records)
    record: dict[str, Any] = {
        "method": method, "changed": changed, "n_images": n, "sha256": data_sha256(records, [""] * n),
        "fingerprints": fingerprints(records),  # validate says when it is given these images
        "labelled": labelled, "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"file": os.path.basename(source) if source else None,
                   "sha256": file_sha256(source) if source else None,
                   "pipeline_sha256": model.manifest.get("pipeline_sha256"), "created": model.manifest.get("created")},
    }
    if groups is not None:
        record["n_groups"] = int(np.unique(groups).size)
    return record


def _alignment(new, crops, stored: OperatingPoint, reference, positive_share, manifest: dict, site) -> dict:
    """The site's scores aligned onto the training reference (:mod:`featbus.model.alignment`): the
    alignment into the manifest (``score_alignment``, and a note that ``featbus inspect`` prints);
    returned, what the record says of it (the share called positive at the stored threshold before
    and after, and in training)."""
    from ..model.alignment import FEW_ALIGN_IMAGES, ScoreAlignment

    raw = np.asarray(new.head.predict_proba(np.asarray(new.features.transform(crops))), dtype=float)
    classes = [str(c) for c in new.classes_]
    scores = raw[:, classes.index(stored.positive)]  # one decision (two: _two_decision_adapt)
    share = None if positive_share in (None, "estimate") else float(positive_share)
    al = ScoreAlignment.fit(scores, reference, positive_share=share, estimate_share=positive_share == "estimate")
    t = stored.threshold
    ref = np.asarray(reference.mixture_quantiles(al.positive_share))
    info = {"method": "quantile", "score": al.score, "positive": al.positive, "n_images": al.n_images,
            "of_images": len(crops),
            "positive_share": al.positive_share, "share_from": al.share_from, "em_share": al.em_share,
            "called_positive_before": float(np.mean(scores >= t)),
            "called_positive_after": float(np.mean(al.map(scores) >= t)),
            "called_positive_reference": float(np.mean(ref >= t)), "threshold": float(t),
            "reference": reference.source, "assumptions": al.assumptions(),
            "warning": (f"only {al.n_images} images to align on (fewer than {FEW_ALIGN_IMAGES}): the share called "
                        f"{stored.positive} may be off by {math.sqrt(0.25 / al.n_images):.2f}; give more of the "
                        "site's ordinary images" if al.n_images < FEW_ALIGN_IMAGES else None)}
    manifest["score_alignment"] = al.to_record()
    notes = [x for x in manifest.get("notes", []) if not str(x).startswith("scores aligned to ")]
    manifest["notes"] = [*notes, f"scores aligned to {al.n_images} images of {site or 'the adaptation site'} (featbus "
                                 f"adapt without labels): {al.score} mapped onto the training scores' distribution, "
                                 f"assuming a share of {stored.positive} lesions of {al.positive_share:.2f} "
                                 f"({al.share_from})"]
    return info


def _parent(model, source, positive: str) -> tuple[dict, dict | None]:
    """``(manifest["parent"], manifest["promise"])`` of an adapted file: the model it was adapted
    from (its name, file, SHA-256, and card: the shipped classifier's, or the card data beside its
    file) and that model's promise (:func:`featbus.evaluation.validation.promise_of`), which validate
    judges the adapted file against. A file adapted again keeps its first parent's."""
    if isinstance(model.manifest.get("parent"), dict):
        return model.manifest["parent"], model.manifest.get("promise")
    from ..evaluation.validation import promise_of
    from ..io import file_sha256
    from ..model.describe import shipped_card

    card = shipped_card(model.manifest) or model_card(source)
    name = (card or {}).get("name") or (Path(source).stem if source else None)
    parent = {"name": name, "file": os.path.basename(source) if source else None,
              "sha256": file_sha256(source) if source else None,
              "pipeline_sha256": model.manifest.get("pipeline_sha256"), "card": card}
    return parent, promise_of(model, model.manifest, positive, [str(c) for c in model.classes_])


def _site_records(model, images, labels, groups, unit: str | None, two: bool, positive: str):
    """The site's image records, its checked labels (``y``, ``labelled``) and groups, and what a group is."""
    from ..model.loaded import read_records

    images, groups, unit = _site_images(images, groups, unit)
    records, _, _ = read_records(images)
    n = len(records)
    if n < MIN_IMAGES:
        raise ValueError(f"adaptation estimates the site's statistics from its images: give at least {MIN_IMAGES} "
                         f"images, got {n}")
    y, labelled, _ = _checked_labels(labels, n, [str(c) for c in model.classes_], two, positive)
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape[0] != n:
            raise ValueError(f"groups has {groups.shape[0]} entries for {n} images")
    return records, y, labelled, groups, unit


def adapt(model, images, *, labels: Sequence[str | None] | None = None, groups=None, method: str = "auto",
          target_sensitivity: float | None = None, positive: str = "malignant", recalibrate: bool = True,
          force: bool = False, site: str | None = None, unit: str | None = None,
          source: str | os.PathLike | None = None, align: bool | None = None,
          positive_share: float | str | None = None, max_lesions_normal: float = MAX_LESIONS_NORMAL,
          n_bootstrap: int = 1000, random_state=0):
    """Adapt a trained model to a new site: a new model, the input left untouched.

    Without labels the site's images re-estimate the model's normalisation statistics (AdaBN,
    per-site standardisation) and, for a model with a stored operating point and a reference of
    its training scores, align its decision score to the site (:mod:`featbus.model.alignment`);
    with a few labelled images the Platt calibration is refitted and an operating point reaching
    ``target_sensitivity`` is stored. A two-decision model keeps its features and probabilities:
    aligned without labels, its two thresholds refitted with them (:func:`site_points`: one no
    better than always answering one class is not stored). See :mod:`featbus.workflows.adaptation`.

    Parameters
    ----------
    model : FeatbusModel or path
        A trained model, or a ``.featbus`` file (its SHA-256 goes into the record).
    images : sequence of paths, arrays or ImageRecord, or a data set Bunch
        The site's images (its ordinary case mix; at least :data:`MIN_IMAGES`); a Bunch gives
        its groups too.
    labels : sequence of str or None, optional
        One of the model's classes per image (``None``: unlabelled, counted for the statistics
        only); at least two classes (a two-decision model: one labelled image).
    groups : array-like, optional
        Patient of every image: counted in the record, resampled by the intervals.
    method : {"auto", "adabn", "standardise", "none"}, default="auto"
        What the images re-estimate; ``"auto"``: AdaBN for a network model, else standardise.
    target_sensitivity : float in (0, 1], optional
        The operating point's sensitivity on the labelled images (default 0.9, a two-decision
        model its stored target). Needs labels.
    positive : str, default="malignant"
    recalibrate : bool, default=True
        With labels, refit a Platt-calibrated head's sigmoids (never for two decisions).
    force : bool, default=False
        Adapt even when most images lie beyond :data:`FAR_OUT_OF_DOMAIN` times the out-of-domain
        threshold (another kind of image: refused otherwise).
    site, unit : str, optional
        The site's name and what the groups are, plural, for the texts.
    source : path, optional
        The file the model was loaded from (the command line): its SHA-256 and its card data
        (:func:`model_card`: the calibration curve, a reference of the training scores).
    align : bool, optional
        Without labels, align the decision score to the site (stored in the file, applied by
        predict). ``None``: when the model has a stored point and :func:`score_reference`;
        ``True``: required; ``False``: never.
    positive_share : float in (0, 1) or "estimate", optional
        The site's share of ``positive`` lesions the alignment assumes (default the training
        images' own; ``"estimate"``: EM on the site's scores).
    max_lesions_normal : float in [0, 1), default=MAX_LESIONS_NORMAL
        The most of the labelled lesions the presence threshold may call normal.
    n_bootstrap : int, default=1000
        A two-decision model: resamples of patients behind its intervals and judgements.
    random_state : int or None, default=0

    Returns
    -------
    adapted : FeatbusModel
        A copy whose manifest's ``adaptation`` entry records what it was adapted on.

    Raises
    ------
    ValueError
        Unknown labels (named), one class, too few images (to align: fewer than
        :data:`~featbus.model.alignment.MIN_ALIGN_IMAGES`), a method the model cannot use.

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
    model, source = _loaded(model, source)
    stored, two, method = _checked_settings(model, labels=labels, method=method, positive=positive,
                                            target_sensitivity=target_sensitivity, align=align,
                                            positive_share=positive_share)
    records, y, labelled, groups, unit = _site_records(model, images, labels, groups, unit, two, positive)
    reference = _reference_to_align(model, source, stored, two, labelled=y is not None, align=align)

    new = _copy(model, keep_forwards=method == "none" or not model.networks)
    crops = new._crop(records)
    before = X = None
    if model.domain is not None or two:  # the features as trained, computed once (a two-decision model keeps them)
        X = np.asarray(model.features.transform(crops))
    if model.domain is not None:  # against the training images as the model was trained: another modality?
        before = model.domain.transform(X)[:, 0]
        _check_kind(before, force)
    record = _base_record(model, records, method, _reestimate(new, crops, method), y is not None, groups, source)
    manifest = dict(new.manifest)
    if before is not None:
        _adapt_domain(model, new, crops, method, before, record, manifest)
    if model.manifest.get("adaptation"):
        record["previous"] = model.manifest["adaptation"]
    if method != "none" and manifest.pop("score_alignment", None):  # fitted on the features as they were
        record["alignment_dropped"] = "an earlier score alignment, fitted on the features before this re-estimation"
    manifest["parent"], manifest["promise"] = _parent(model, source, positive)
    if two:
        record.update(_two_decision_adapt(
            new, crops, y, labelled, groups, stored=stored, reference=reference, align=align,
            positive_share=positive_share, target_sensitivity=target_sensitivity, site=site, unit=unit,
            max_lesions_normal=max_lesions_normal, n_bootstrap=n_bootstrap, random_state=random_state,
            manifest=manifest, X=X))
        spread = calibration_spread(model_card(source), record["labels"]["n_groups"] or int(labelled.sum())) \
            if y is not None else None
        if spread is not None:
            record["spread"] = spread
    elif y is not None:
        manifest.pop("operating_point", None)  # chosen on the probabilities before this adaptation
        new.manifest = manifest  # an earlier alignment, kept, applies to the probabilities the point is chosen on
        manifest["operating_point"], labelled_record = _labelled_point(
            new, crops, y, labelled, groups, positive=positive, target_sensitivity=target_sensitivity,
            recalibrate=recalibrate, site=site, unit=unit)
        record.update(labelled_record)
    elif reference is not None:
        record["alignment"] = _alignment(new, crops, stored, reference, positive_share, manifest, site)
    else:
        manifest.pop("operating_point", None)  # chosen on the probabilities before this adaptation
    record["moved"] = _moved(stored, manifest.get("operating_point"), record["changed"],
                             "score_alignment" in manifest and "score_alignment" not in model.manifest)
    manifest["adaptation"] = record
    new.manifest = manifest
    return new


def _moved(stored: OperatingPoint | None, point: dict | None, changed: list, aligned: bool) -> dict:
    """What the adaptation moved, as numbers for the record (:func:`featbus.evaluation.render` words it):
    each threshold that differs from the parent's ``[before, after]`` (``None``: no such threshold), how
    many statistics were re-estimated, and whether a score alignment was added. Empty: nothing moved,
    the file is its parent plus a site record."""
    new = OperatingPoint.from_record(point) if point else None
    pairs = {"threshold": (None if stored is None else float(stored.threshold),
                           None if new is None else float(new.threshold))}
    old_p = getattr(stored, "presence", None)
    new_p = getattr(new, "presence", None)
    if old_p is not None or new_p is not None:
        pairs["presence_threshold"] = (None if old_p is None else float(old_p.threshold),
                                       None if new_p is None else float(new_p.threshold))
    moved: dict[str, Any] = {k: [a, b] for k, (a, b) in pairs.items() if a != b}
    if changed:
        moved["statistics"] = len(changed)
    if aligned:
        moved["score_alignment"] = True
    return moved
