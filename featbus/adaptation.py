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
import datetime as _dt
import math
import numbers
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .evaluation.sites import site_figures  # the one per-site figures function (its old home was here)
from .metrics import DEFAULT_TARGET_SENSITIVITY, OperatingPoint  # the one rule and its default target
from .provenance import fingerprints

__all__ = ["adapt", "site_figures", "MIN_IMAGES", "DEFAULT_TARGET_SENSITIVITY", "METHODS", "FAR_OUT_OF_DOMAIN"]

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

    from .pipelines.make import FamilyScaler

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
    from .scaling import family_space

    ref = copy.deepcopy(reference)
    ref.mean_, ref.scale_ = family_space(np.asarray(X, dtype=np.float64), reference.blocks)
    ref._check_state()
    return ref


# --------------------------------------------------------------------------- adapt

def _copy(model, *, keep_forwards: bool):
    """A deep copy of the model; its networks' inference-runtime forwards (a loaded file's LiteRT
    interpreters) are not copied, and given to the copy only when its networks stay as they are."""
    from .model.runtime import network_estimators

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
          force: bool = False):
    """Adapt a trained model to a new site: a new model, the input left untouched.

    Without labels the site's images re-estimate the model's normalisation statistics (AdaBN for
    a network, per-site standardisation of the features otherwise); with a few labelled images
    the Platt calibration is refitted and an operating point reaching ``target_sensitivity``
    is stored. See :mod:`featbus.adaptation` for what each does and when it helps.

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
        images must hold at least two classes.
    groups : array-like, optional
        Patient of every image (recorded: how many patients were labelled).
    method : {"auto", "adabn", "standardise", "none"}, default="auto"
        What the images re-estimate (module docstring); ``"auto"``: AdaBN for a network model,
        standardisation otherwise.
    target_sensitivity : float in (0, 1], optional
        Sensitivity for ``positive`` the stored operating point reaches on the labelled images
        (:data:`DEFAULT_TARGET_SENSITIVITY` when labels are given without it). Needs labels.
    positive : str, default="malignant"
        The class of the operating point; one of the model's.
    recalibrate : bool, default=True
        With labels, refit a Platt-calibrated head's sigmoids on them.
    force : bool, default=False
        Adapt even when more than half the images lie beyond :data:`FAR_OUT_OF_DOMAIN` times the
        out-of-domain threshold of the model's training images (another kind of image, such as
        mammograms for an ultrasound model: refused otherwise). Without an out-of-domain
        reference in the model, nothing is checked.

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
    >>> from featbus.model_training import train_model
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
                  target_sensitivity=target_sensitivity, positive=positive, recalibrate=recalibrate, force=force)


def _adapt(model, images, *, labels=None, groups=None, method="auto", target_sensitivity=None,
           positive="malignant", recalibrate=True, force=False, source: str | None = None,
           source_name: str | None = None):
    """:func:`adapt`; ``source``: the model's file when the caller loaded it (the command line)."""
    from .io import file_sha256
    from .model.format import data_sha256
    from .model.loaded import FeatbusModel, load_model, read_records

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
    if hasattr(images, "target") and (hasattr(images, "data") or hasattr(images, "images")):
        groups = getattr(images, "groups", None) if groups is None else groups
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
        if len(present) < 2:
            raise ValueError(f"the labelled images hold a single class ({', '.join(map(repr, present)) or 'none'}): "
                             "choosing an operating point and calibrating need images of at least two classes")
        if positive not in present:
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
        recalibrated = False
        if recalibrate and hasattr(new.head, "calibrated_classifiers_"):
            recalibrated = _refit_platt(new.head, np.asarray(new.features.transform(lab)), yl)
        proba = new._proba_of_crops(lab)
        op = OperatingPoint.choose(yl, proba, classes=classes, positive=positive, target=target,
                                   chosen_on=f"{sel.size} labelled images of the adaptation site (optimistic "
                                             "there)").to_record()
        manifest["operating_point"] = op
        record["labels"] = {"n_images": int(sel.size), "counts": {c: int(np.sum(yl == c)) for c in present},
                            "n_groups": int(np.unique(groups[sel]).size) if groups is not None else None}
        record["calibration"] = ("Platt sigmoids refitted on the labelled images" if recalibrated
                                 else "kept (the head has no Platt calibration)" if recalibrate else "kept")
        record["operating_point"] = op
    manifest["adaptation"] = record
    new.manifest = manifest
    return new
