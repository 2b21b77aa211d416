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
reference as trained, by the one rule of the image kind (:func:`featbus.model.domain.refuse_other_kind`,
which ``featbus adapt`` runs too): when more than half the images are not the kind of image the
model learnt from (:func:`featbus.model.domain.kind_reasons`: unlike its training images both in
image statistics and in the model's features, or colour pictures for a grey model), :func:`adapt`
refuses them unless ``force=True``; when most are merely beyond the out-of-domain threshold (median
``out_of_domain`` above 1, as for another scanner), it proceeds with a warning, and records the
scores either way. The out-of-domain score alone, measured by ``benchmarks/adaptation_gate.py``
(models trained on the 625 BUSI images; medians before adaptation, share beyond 2):

==============================  ==================  ========================
features                        200 BUS-BRA images  120 mini-MIAS mammograms
==============================  ==================  ========================
intensity + LBP                 1.35, 6 %           3.35, 99 %
HOG + LBP + GLCM + intensity    1.23, 2 %           2.48, 83 %
frozen EfficientNet-Lite0       0.97, 0 %           1.32, 0 %
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

# the statistics and the threshold rule have their own rooms; their public names are read from here too
from ..evaluation.site_calibration import (  # noqa: F401 (re-exported)
    FEW_GROUPS,
    FEW_IMAGES,
    MAX_LESIONS_NORMAL,
    MIN_BOOTSTRAP_GROUPS,
    MIN_LESION_IMAGES,
    MIN_MALIGNANT_IMAGES,
    PRESENCE_TARGET,
    TRIVIAL_BALANCED_ACCURACY,
    WIDE_SPREAD,
    _site_figures_at,
    calibration_spread,
    group_unit,
    model_card,
    one_sided_bound,
    patients_needed,
    score_reference,
    spread_lines,
)
from ..evaluation.sites import site_figures  # the one per-site figures function (its old home was here)
from ..metrics import DEFAULT_TARGET_SENSITIVITY, OperatingPoint  # the one rule and its default target
from ..model.provenance import count_seen, fingerprints, seen_counts, trained_on
from .site_points import align_points, calibrate_scores, site_points

__all__ = ["adapt", "site_points", "align_points", "calibrate_scores", "patients_needed", "one_sided_bound",
           "site_figures", "group_unit", "model_card", "calibration_spread",
           "spread_lines", "score_reference", "MIN_IMAGES", "DEFAULT_TARGET_SENSITIVITY", "METHODS",
           "PRESENCE_TARGET", "MAX_LESIONS_NORMAL", "MIN_LESION_IMAGES", "MIN_MALIGNANT_IMAGES",
           "FEW_GROUPS", "FEW_IMAGES", "MIN_BOOTSTRAP_GROUPS", "TRIVIAL_BALANCED_ACCURACY", "WIDE_SPREAD"]

#: Fewest images :func:`adapt` estimates site statistics from.
MIN_IMAGES = 10
#: The values of ``method``.
METHODS = ("auto", "adabn", "standardise", "none")


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

def _domain_scores(scores: np.ndarray, other_kind: int | None = None, forced: bool = False) -> dict:
    """What the adaptation record keeps of the images' ``out_of_domain`` scores, and (before
    adapting) how many the one rule of the image kind calls another kind, and whether ``force``
    went past its refusal."""
    out = {"median": float(np.median(scores)), "unlike_training": int(np.sum(scores > 1)), "n": int(scores.size)}
    if other_kind is not None:
        out["other_kind"], out["forced"] = int(other_kind), bool(forced)
    return out


def _check_kind(look, force: bool) -> int | None:
    """The one refusal of another kind of image, read from the model's look at the images
    (:func:`featbus.model.domain.refuse_other_kind`), and a warning when most images are merely
    unlike the training images (another scanner, which adaptation is for); returns how many images
    the rule calls another kind (``None``: the model stores no training-image profile)."""
    from ..model.domain import refuse_other_kind

    refuse_other_kind(look, force=force)
    other = None if look.kind is None else sum(bool(r) for r in look.kind["reasons"])
    scores, n = look.out_of_domain, len(look)
    unlike = 0 if scores is None else int(np.sum(scores > 1))
    if (other or 0) * 2 <= n and unlike * 2 > n:
        warnings.warn(f"{unlike} of the {n} images look unlike the model's training images (median "
                      f"out_of_domain {np.median(scores):.2f}): expected of another scanner, which adaptation is "
                      "for; if they are another kind of image, the adapted model's answers mean nothing",
                      UserWarning, stacklevel=3)
    return other


def _restandardised_reference(reference, X: np.ndarray):
    """A copy of a DomainReference whose column centre and scale (and family weights) are those
    of the site's rows ``X``: the training images' reference as the adapted classifier sees it.
    Axes, covariance, residual unit and threshold are kept."""
    from ..compute.scaling import family_space

    ref = copy.deepcopy(reference)
    ref.mean_, ref.scale_ = family_space(np.asarray(X, dtype=np.float64), reference.blocks)
    ref._check_state()
    return ref


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
    stored = model.operating_point  # a point kept from it keeps the parts that saw its figures' images
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


def _adapt_domain(model, new, crops, method: str, before: dict, record: dict, manifest: dict) -> None:
    """The out-of-domain reference of the adapted model and what the record says of it (``before``:
    :func:`_domain_scores` of the images against the reference as trained)."""
    n = len(crops)
    record["out_of_domain_before"] = before
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
                        manifest: dict, X=None, seen=((), ())) -> dict:
    """A two-decision model adapted on scores (:func:`calibrate_scores`, the one core): the site's
    images align both decisions, the labelled ones move a threshold as far as shown safe; the point
    and the score alignment into the manifest; returned, what the record says. ``X``: the crops'
    features, when computed already (a two-decision model keeps its features as trained);
    ``seen``: :func:`_site_seen` (:func:`_seen_on_site`)."""
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
    point = _seen_on_site(point, stored, seen, labelled, None if y is None else y != stored.absent)
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


def _site_seen(model, prints) -> tuple[list, list]:
    """Which of the site's images (their fingerprints ``prints``) each trained part of ``model``
    saw (:func:`featbus.model.provenance.trained_on`), as ``(who, bool per image)``: its lesion
    segmenter's, then the others' (the head's training images, an earlier adaptation's, the
    backbones'); for the ``seen_by`` of a point chosen here. Images no part saw give none."""
    names = {"this model": "the head (the model's training images)",
             "this model's adaptation": "an earlier adaptation", "its lesion segmenter": "the segmenter"}
    parts = [(names.get(who, who), count_seen(prints, trained)) for who, trained in trained_on(model)]
    return [p for p in parts if "segmenter" in p[0]], [p for p in parts if "segmenter" not in p[0]]


def _seen_on_site(point: OperatingPoint, stored: OperatingPoint, seen, labelled, lesion) -> OperatingPoint:
    """A two-decision point after adaptation, each point chosen here given its ``seen_by`` on the
    site's images (a point kept from the model keeps its own): the presence point (the segmenter's
    score) aligned on every image or refitted on the labelled ones; the malignancy point refitted on
    the labelled lesion images."""
    pres = point.presence
    if pres is not stored.presence:  # aligned (every image) or refitted (the labelled ones) here
        on = None if str(pres.chosen_on).startswith("aligned without labels") else labelled
        pres = dataclasses.replace(pres, seen_by=seen_counts(seen[0], on))
    if point.chosen_on != stored.chosen_on and lesion is not None:  # refitted on the labelled lesion images
        point = dataclasses.replace(point, seen_by=seen_counts([*seen[0], *seen[1]],
                                                               np.asarray(labelled) & np.asarray(lesion)))
    return dataclasses.replace(point, presence=pres)


def _labelled_point(new, crops, y, labelled, groups, *, positive, target_sensitivity, recalibrate, site,
                    unit, seen=((), ())) -> tuple[dict, dict]:
    """The operating point of a one-decision model chosen on the labelled images, and what the record
    says of it (a two-decision model: :func:`_two_decision_adapt`); ``seen``: :func:`_site_seen`."""
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
                                         "(optimistic there)")
    op = dataclasses.replace(op, n_images=int(sel.size),
                             seen_by=seen_counts([*seen[0], *seen[1]], labelled)).to_record()
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
          n_bootstrap: int = 1000, random_state=0, look=None):
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
        Adapt even when most images are not the kind of image the model learnt from
        (:func:`featbus.model.domain.refuse_other_kind`: refused otherwise).
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
    look : featbus.model.loaded.Look, optional
        The model's look at these images (:meth:`featbus.FeatbusModel.look`, in their order; ``featbus
        adapt`` hands the one its check of the images computed): its crops, features, out-of-domain
        scores and image kind are read, not computed again. ``None``: adapt computes it.

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
    >>> adapt(model, brighter)  # phantoms vary so little that a 1.3x gain is another kind of image to them
    Traceback (most recent call last):
    ...
    ValueError: 30 of the 30 images are not the kind of image the model learnt from, so adapting to them ...
    >>> adapted = adapt(model, brighter, force=True)             # unlabelled: per-site standardisation
    >>> adapted.manifest["adaptation"]["method"], adapted.manifest["adaptation"]["n_images"]
    ('standardise', 30)
    >>> before = adapted.manifest["adaptation"]["out_of_domain_before"]
    >>> before["other_kind"], before["forced"]
    (30, True)
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
    if look is None:  # the crops, the features as trained (a two-decision model keeps them) and the image kind
        look = model.look(records)
    elif len(look) != len(records):
        raise ValueError(f"the look was computed from {len(look)} images, given {len(records)} images")
    crops, X, before = look.crops, look.features, look.out_of_domain  # before: against the reference as trained
    other_kind = _check_kind(look, force)  # another modality?
    record = _base_record(model, records, method, _reestimate(new, crops, method), y is not None, groups, source)
    manifest = dict(new.manifest)
    if before is not None:
        _adapt_domain(model, new, crops, method, _domain_scores(before, other_kind, force), record, manifest)
    if model.manifest.get("adaptation"):
        record["previous"] = model.manifest["adaptation"]
    if method != "none" and manifest.pop("score_alignment", None):  # fitted on the features as they were
        record["alignment_dropped"] = "an earlier score alignment, fitted on the features before this re-estimation"
    manifest["parent"], manifest["promise"] = _parent(model, source, positive)
    seen = _site_seen(model, record["fingerprints"])
    if two:
        record.update(_two_decision_adapt(
            new, crops, y, labelled, groups, stored=stored, reference=reference, align=align,
            positive_share=positive_share, target_sensitivity=target_sensitivity, site=site, unit=unit,
            max_lesions_normal=max_lesions_normal, n_bootstrap=n_bootstrap, random_state=random_state,
            manifest=manifest, X=X, seen=seen))
        spread = calibration_spread(model_card(source), record["labels"]["n_groups"] or int(labelled.sum())) \
            if y is not None else None
        if spread is not None:
            record["spread"] = spread
    elif y is not None:
        manifest.pop("operating_point", None)  # chosen on the probabilities before this adaptation
        new.manifest = manifest  # an earlier alignment, kept, applies to the probabilities the point is chosen on
        manifest["operating_point"], labelled_record = _labelled_point(
            new, crops, y, labelled, groups, positive=positive, target_sensitivity=target_sensitivity,
            recalibrate=recalibrate, site=site, unit=unit, seen=seen)
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
