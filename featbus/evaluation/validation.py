"""External validation of a saved model: how it does on labelled images from somewhere else.

A model that scores well inside its own data set may miss most cancers at another hospital
(other scanners, sonographers, burnt-in text). :func:`validate` predicts every image of a
labelled data set once with a trained model (nothing is refitted) and reports what a reader
deciding whether to use the model there needs, every value with a 95 % interval:

1. **discrimination**: the AUC of ``p(positive)`` (``"malignant"`` by default) against every
   other true class;
2. **the model's own decisions** (the most probable class, or the operating point the file holds,
   set by :func:`featbus.adapt`): accuracy, precision, recall and F1
   of every class the data hold, and the confusion matrix over the model's classes;
3. **operating points** of the positive class: sensitivity and specificity at the model's own
   rule, and at the threshold on ``p(positive)`` that reaches ``target_sensitivity`` on these
   data. That threshold is chosen on the very images it is then measured on, so its
   specificity is optimistic; it says which threshold the model *would need* at this site;
4. **calibration** of ``p(positive)``: the reliability diagram's data, the expected calibration
   error (ECE, :data:`ECE_BINS` equal-width bins of ``p(positive)``; Naeini et al. 2015) and the
   Brier score;
5. **subgroups**: the same figures per value of a metadata column (a manifest's ``site`` or
   ``device`` column, BUS-BRA's ``Device``, ``Side`` or ``BIRADS``);
6. **beside the in-domain figures** stored in the model file (its manifest's ``cv``, with
   their intervals), and a verdict in plain words when the external AUC falls below them
   (:data:`AUC_MARGIN`).

**Images a trained part has seen.** When the model, its lesion segmenter or its backbone trained
on some of these images (or near-copies: :func:`featbus.model.provenance.overlap`), figures on them
describe the training images, not new ones. They never feed the verdict: the model-sanity verdict
and the "In short" comparison are computed on the other images only, saying how many; when every
image was seen there is no verdict (``verdict: none``). Every figure is still printed, each block
saying on its own line that it includes seen images (``(seen: ... optimistic)``).

Intervals are percentile intervals of a bootstrap that resamples the data's *groups* whole
(patients: a manifest's ``group`` column, BUS-BRA's ``Case``; near-duplicate groups
otherwise), as :func:`featbus.evaluate` does: two views of one lesion are not two pieces of
evidence. The groups come from :func:`featbus.model_selection.resolve_groups`, featbus's one
grouping policy. The threshold of item 3 is fixed at its value on all images; the bootstrap
shows how sensitivity and specificity vary at it.

Classes: the data may hold fewer classes than the model (BUS-BRA has no ``normal`` while a
BUSI model has three). The positive AUC then still compares ``p(positive)`` with every other
true class; images called a class the data do not have are counted and said ("17 % of the
images, every one showing a lesion, were called normal"). A class of the data that the model
does not know is an error naming it. Data holding a single class are measured, and the
output says that the AUC cannot be computed.

References
----------
Naeini MP, Cooper GF, Hauskrecht M. Obtaining well calibrated probabilities using Bayesian
binning. Proc. AAAI Conference on Artificial Intelligence 29:2901-2907 (2015).

Guo C, Pleiss G, Sun Y, Weinberger KQ. On calibration of modern neural networks. ICML 2017,
doi:10.48550/arXiv.1706.04599.

Brier GW. Verification of forecasts expressed in terms of probability. Monthly Weather Review
78(1):1-3 (1950), doi:10.1175/1520-0493(1950)078<0001:VOFEIT>2.0.CO;2.

Gómez-Flores W, Gregorio-Calas MJ, de Albuquerque Pereira WC. BUS-BRA: a breast ultrasound
dataset for assessing computer-aided diagnosis systems. Medical Physics 51(4):3110-3123 (2024),
doi:10.1002/mp.16812.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import math
import numbers
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import data_notes
from ..metrics import (
    ECE_BINS,
    OperatingPoint,
    Predictions,
    bootstrap,
    brier_score,
    confusion_matrix,
    decide,
    expected_calibration_error,
    format_interval,
    interval_text,
    rank_auc,
    ratio,
    reliability_curve,
    sensitivity_specificity,
)
from ..model.format import json_safe
from ..model.provenance import overlap

__all__ = ["validate", "ExternalValidation", "reliability_curve", "expected_calibration_error",
           "ECE_BINS", "AUC_MARGIN"]

#: How far the external AUC may fall below the model file's in-domain AUC before the summary
#: says the model "does much worse" here (also said when the external AUC's whole interval lies
#: below the in-domain AUC): the one rule, stated so in docs/guide/external_validation.rst.
AUC_MARGIN = 0.05
#: A subgroup column with more values than this is refused (an identifier, not a subgroup).
MAX_SUBGROUPS = 50


# --------------------------------------------------------------------------- the figures

def _ratio(a, b) -> float:
    return ratio(a, b, zero_division=math.nan)  # undefined: nan, so a resample without a class is left out


def _figures(yt: np.ndarray, P: np.ndarray, pos: int, present: Sequence[int], absent: Sequence[int],
             second: tuple | None, n_bins: int, rule: tuple | None = None) -> dict[str, float]:
    """Every figure of one set of predictions, flat (the bootstrap recomputes this dict).

    ``yt``: true class indices into the model's classes; ``P``: probabilities; ``pos``: the
    positive class's index; ``rule``: the model's own (:func:`featbus.metrics.decide`);
    ``second``: the data-chosen point as a rule of the same kind (``(pos, t)``: ``p(positive) >=
    t``; of a two-decision model, the stored presence threshold and a threshold on ``p(positive
    | lesion)``). Undefined ratios are ``nan`` (not 0), so that a resample without a class
    leaves the interval alone."""
    k = P.shape[1]
    yp = decide(P, rule)
    n = yt.size
    cm = confusion_matrix(yt, yp, k)
    out = {"accuracy": _ratio(np.trace(cm), n)}
    f1s = []
    for c in present:
        tp, n_true, n_called = cm[c, c], cm[c].sum(), cm[:, c].sum()
        prec, rec = _ratio(tp, n_called), _ratio(tp, n_true)
        # F1 = 2 tp / (2 tp + fp + fn): 0 for a class never found (even if never called), undefined
        # only in a resample without the class
        f1 = _ratio(2 * tp, n_true + n_called) if n_true else math.nan
        out[f"precision[{c}]"], out[f"recall[{c}]"], out[f"f1[{c}]"] = prec, rec, f1
        f1s.append(f1)
    out["macro_f1"] = float(np.nanmean(f1s)) if np.isfinite(f1s).any() else math.nan
    for c in absent:
        out[f"called[{c}]"] = _ratio(cm[:, c].sum(), n)
    is_pos = yt == pos
    p_pos = P[:, pos]
    out["auc"] = rank_auc(is_pos, p_pos)
    out["sensitivity"], out["specificity"] = sensitivity_specificity(is_pos, yp == pos, zero_division=math.nan)
    if second is not None:  # (pos, t): p_pos >= t
        out["sensitivity_at_threshold"], out["specificity_at_threshold"] = sensitivity_specificity(
            is_pos, decide(P, second) == pos, zero_division=math.nan)
    out["brier"] = brier_score(p_pos, is_pos)
    out["ece"] = expected_calibration_error(p_pos, is_pos, n_bins)
    return out


def _estimate(yt, P, groups, pos, present, absent, second, n_bootstrap, random_state, n_bins, rule=None):
    """(figures, intervals) of one set of predictions; intervals from a bootstrap of whole groups."""
    return bootstrap(lambda t, p: _figures(t, p, pos, present, absent, second, n_bins, rule), yt, P,
                     groups=groups, n_bootstrap=n_bootstrap, random_state=random_state)


# --------------------------------------------------------------------------- result

def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _vci(value, ci, digits: int = 3) -> str:
    return format_interval(value, ci, digits=digits)


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %" if x >= 0.01 or x == 0 else f"{100 * x:.1f} %"


@dataclasses.dataclass
class ExternalValidation:
    """A model's figures on an external labelled data set, with intervals (made by :func:`validate`).

    Parameters
    ----------
    model_name : str
        The model's recipe in a few words.
    model_source : str or None
        Its file, when it was given as one.
    classes : list of str
        The model's classes (the columns of ``proba``).
    positive : str
        The class whose AUC, operating points and calibration are measured.
    y_true : ndarray of str
        True class of every image.
    proba : ndarray of shape (n_images, n_classes)
        The model's probabilities.
    groups : ndarray
        The bootstrap units (patients, or near-duplicate groups).
    groups_from : str
        What the groups are.
    paths : list of str
        Where each image came from.
    data_description : str
        The data set in a sentence.
    target_sensitivity : float
        The sensitivity the data-chosen threshold reaches.
    threshold : float or None
        That threshold on ``p(positive)`` (``None`` without a positive image); for a model whose
        stored operating point takes two decisions (and whose ``positive`` is this one), the
        threshold on ``p(positive | lesion)``, the stored presence threshold kept.
    n_bootstrap : int
        Bootstrap resamples of groups behind the intervals (0: none).
    random_state : int or None
        Seed of the bootstrap.
    figures : dict
        Point values: ``accuracy``, ``auc``, ``sensitivity``, ``specificity`` (the model's own
        rule), ``sensitivity_at_threshold``, ``specificity_at_threshold``, ``brier``, ``ece``,
        ``macro_f1``, and ``precision[i]``, ``recall[i]``, ``f1[i]`` per class present and
        ``called[i]`` (share of images called class ``i``) per class absent, ``i`` indexing
        ``classes``.
    intervals : dict
        ``key -> (low, high)``, the bootstrap 95 % percentile interval of each figure.
    reliability : list of dict
        :func:`reliability_curve` of ``p(positive)``.
    subgroups : dict
        ``column -> list of rows`` (one per value: ``value``, ``n_images``, ``n_groups``,
        ``n_positive`` and figures with intervals).
    in_domain : dict
        The figures the model file stores from its own cross-validation (``cv``: accuracy,
        f1, auc... each ``{"value", "ci"}``) and hold-out, empty when it has none.
    operating_point : dict or None, default=None
        The model file's own decision rule when it holds one (``{"positive": class,
        "threshold": t}``, set by :func:`featbus.adapt`): the model's own decisions call an
        image ``positive`` when ``p(positive) >= t``; with ``absent`` and ``presence`` (two
        decisions, :class:`~featbus.metrics.OperatingPoint`), ``absent`` first when ``p(lesion)``
        is below the presence threshold; ``None``: the most probable class.
    out_of_domain : ndarray of shape (n_images,) or None, default=None
        Each image's out-of-domain score against the model's training images
        (:class:`featbus.model.domain.DomainReference`; above 1: unlike them); ``None`` when the
        model holds no reference.
    seen : list of str, default=[]
        One sentence per source of the model's training (its own training or adaptation
        images, a shipped backbone such as ``breast-us``) that some of these images come from
        (:func:`featbus.model.provenance.overlap_notes`): its figures on them are optimistic.
    notes : list of str, default=[]
        What was made of the data on the way: labels read as a model class whose case differs
        (``'Benign' read as 'benign'``), images skipped (``--on-error skip``, named), masks dropped.
    seen_images : ndarray of bool, shape (n_images,), or None, default=None
        Which images (or near-copies) the model or a trained part of it trained on
        (:func:`featbus.model.provenance.overlap`). They are left out of :attr:`sanity` and
        :attr:`verdict`; every image seen: no verdict. ``None``: not checked (none known).

    Attributes
    ----------
    y_pred : ndarray of str
        The model's decision (most probable class) per image.
    n_groups : int
        Number of bootstrap units.
    data_classes : list of str
        The classes the data hold, in the model's order.
    absent_classes : list of str
        The model's classes the data do not hold.
    sanity : featbus.evaluation.sanity.Verdict or None
        The model-sanity verdict ("useful", "limited", "useless") the summary opens with, on the
        images no trained part saw; ``None`` when every image was seen (``verdict: none``).
    verdict : list of str
        The plain-words findings that follow it ("In short"), on the same images.
    n_seen : int
        How many images a trained part saw (left out of the verdict).

    Examples
    --------
    >>> from featbus import make_phantoms, validate
    >>> from featbus.workflows.training import train_model
    >>> model = train_model(make_phantoms(30, image_size=48, random_state=0), "intensity",
    ...                     classifier="logreg", cross_validate=False, progress=False)
    >>> result = validate(model, make_phantoms(20, image_size=48, random_state=1), n_bootstrap=50)
    >>> result.n_groups, sorted(result.to_dict()["auc"])
    (20, ['ci', 'value'])
    """

    model_name: str
    model_source: str | None
    classes: list
    positive: str
    y_true: np.ndarray
    proba: np.ndarray
    groups: np.ndarray
    groups_from: str
    paths: list
    data_description: str
    target_sensitivity: float
    threshold: float | None
    n_bootstrap: int
    random_state: int | None
    figures: dict
    intervals: dict
    reliability: list
    subgroups: dict
    in_domain: dict
    operating_point: dict | None = None
    out_of_domain: np.ndarray | None = None
    seen: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    seen_images: np.ndarray | None = None

    # -- derived
    @property
    def n_seen(self) -> int:
        return 0 if self.seen_images is None else int(np.sum(np.asarray(self.seen_images, dtype=bool)))

    def _unseen(self) -> np.ndarray:
        """The images the verdict reads: those no trained part of the model saw."""
        if self.seen_images is None:
            return np.ones(len(self.y_true), dtype=bool)
        return ~np.asarray(self.seen_images, dtype=bool)

    def _all_seen(self) -> bool:
        return len(self.y_true) > 0 and self.n_seen == len(self.y_true)

    def _seen_fact(self) -> str:
        """The seen images in a clause: every one, or how many (``""``: none)."""
        n, k = len(self.y_true), self.n_seen
        if not k:
            return ""
        if k == n:
            return f"every one of these {n} images (or a near-copy) trained this model or a part of it"
        return f"{k} of these {n} images (or near-copies) trained this model or a part of it"

    def _seen_tag(self) -> str:
        """What a block of figures on every image says on its own line when some were seen."""
        n, k = len(self.y_true), self.n_seen
        if not k:
            return ""
        if k == n:
            return f" (seen: all {n} images trained the model or a part of it: optimistic)"
        return f" (seen: includes {k} of the {n} images, which trained the model or a part of it: optimistic)"

    def _none_line(self) -> str:
        """The verdict line when every image was seen."""
        return (f"verdict: none -- {self._seen_fact()}: they cannot show how it does on new images; validate it on "
                "images from elsewhere")

    def _unseen_where(self) -> str:
        return f"the {int(self._unseen().sum())} images no part of the model trained on"

    @property
    def y_pred(self) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[decide(self.proba, self._rule())]

    @property
    def n_groups(self) -> int:
        return int(np.unique(self.groups).size)

    @property
    def data_classes(self) -> list[str]:
        held = set(self.y_true.tolist())
        return [c for c in self.classes if c in held]

    @property
    def absent_classes(self) -> list[str]:
        held = set(self.y_true.tolist())
        return [c for c in self.classes if c not in held]

    def _ci(self, key: str):
        return self.intervals.get(key, (math.nan, math.nan))

    def _text(self, key: str, digits: int = 3) -> str:
        return _vci(self.figures.get(key), self._ci(key), digits)

    def _counts(self, sel: np.ndarray | None = None) -> dict[str, int]:
        y = self.y_true if sel is None else self.y_true[sel]
        return {c: int(np.sum(y == c)) for c in self.classes if np.any(y == c)}

    def _in_domain_auc(self) -> tuple[float | None, str]:
        """The stored AUC and what it is (macro over the classes, or the two-class AUC)."""
        cv = self.in_domain.get("cv") or {}
        own = (cv.get("per_class_auc") or {}).get(str(self.positive))  # files since the per-class AUCs are stored
        if isinstance(own, dict) and isinstance(own.get("value"), (int, float)):
            return _num(own["value"]), f"its {self.positive}-vs-rest AUC"
        auc = cv.get("auc") or {}
        value = _num(auc.get("value")) if isinstance(auc.get("value"), (int, float)) else None
        kind = ("its AUC" if len(self.classes) == 2 else
                f"its macro one-vs-rest AUC over {len(self.classes)} classes; the file stores no {self.positive}-only "
                "AUC")
        return value, kind

    def _caveat(self) -> str:
        """The stored in-domain figure's caveat (``cv["caveat"]``: e.g. a shipped backbone trained on
        these training images), for the same line as the figure; ``""`` when it has none."""
        from ..model._trust import printable  # text from the file: escaped

        caveat = (self.in_domain.get("cv") or {}).get("caveat")
        return f"; caveat: {printable(caveat)}" if caveat else ""

    def _where(self) -> str:
        cv = self.in_domain.get("cv") or {}
        return "its own validation split" if "validation split" in str(cv.get("cv", "")) else "its own cross-validation"

    @property
    def held_out(self) -> Predictions:
        """The model's predictions of these images as the one view (:class:`featbus.metrics.Predictions`)
        that verdicts, plots and site figures read, with the AUC interval this result prints."""
        pos = list(self.classes).index(self.positive)
        return Predictions(y_true=self.y_true, y_pred=self.y_pred, scores=np.asarray(self.proba, dtype=float),
                           classes=np.asarray(self.classes, dtype=object), class_names=list(self.classes),
                           groups=self.groups, rule=self._rule(), positive=self.positive, source="external validation",
                           n_bootstrap=self.n_bootstrap, random_state=self.random_state,
                           auc_intervals={pos: self.intervals.get("auc", (math.nan, math.nan))}
                           if self.n_bootstrap else None)

    def _unseen_view(self) -> Predictions:
        """:attr:`held_out` restricted to the images no trained part saw (its own intervals)."""
        sel = self._unseen()
        return Predictions(y_true=self.y_true[sel], y_pred=self.y_pred[sel],
                           scores=np.asarray(self.proba, dtype=float)[sel],
                           classes=np.asarray(self.classes, dtype=object), class_names=list(self.classes),
                           groups=np.asarray(self.groups)[sel], rule=self._rule(), positive=self.positive,
                           source="external validation", n_bootstrap=self.n_bootstrap,
                           random_state=self.random_state)

    @functools.cached_property
    def _unseen_estimate(self) -> tuple[dict, dict]:
        """(figures, intervals) on the images no trained part saw (as :attr:`figures`, without the
        data-chosen threshold)."""
        sel = self._unseen()
        index = {c: i for i, c in enumerate(self.classes)}
        yt = np.array([index[v] for v in self.y_true[sel].tolist()], dtype=int)
        held = set(yt.tolist())
        present = [i for i in range(len(self.classes)) if i in held]
        absent = [i for i in range(len(self.classes)) if i not in held]
        return _estimate(yt, np.asarray(self.proba, dtype=float)[sel], np.asarray(self.groups)[sel],
                         index[self.positive], present, absent, None, self.n_bootstrap, self.random_state, ECE_BINS,
                         self._rule())

    @functools.cached_property
    def sanity(self):
        """The model-sanity verdict on these images (:func:`featbus.evaluation.sanity.assess`, computed
        once): better than always answering the data's most common class, every class found,
        the positive AUC above chance. Images the model or a trained part of it saw
        (:attr:`seen_images`) do not feed it: it is computed on the others, its ``basis`` saying
        how many.

        Returns
        -------
        verdict : featbus.evaluation.sanity.Verdict or None
            ``None`` when every image was seen: nothing here can show how the model does on new
            images.
        """
        from .sanity import assess

        k = self.n_seen
        if not k:
            return assess(self)
        if self._all_seen():
            return None
        verdict = assess(self._unseen_view())
        return dataclasses.replace(verdict, basis=f"external validation, on {self._unseen_where()}; the other {k} "
                                                  "left out")

    @property
    def verdict(self) -> list[str]:
        """The plain-words findings ("In short"), on the images no trained part of the model saw."""
        k = self.n_seen
        if not k:
            return self._short(self.figures, self._ci, None)
        if self._all_seen():
            return [f"{self._seen_fact()}: these images cannot show how it does on new images, so nothing here is "
                    f"compared with {self._where()}; validate it on images from elsewhere (the figures below are on "
                    "seen images: optimistic)"]
        figures, intervals = self._unseen_estimate
        return ([f"{self._seen_fact()}: left out of what follows, which is on {self._unseen_where()}"]
                + self._short(figures, lambda key: intervals.get(key, (math.nan, math.nan)), self._unseen()))

    def _short(self, figures: dict, ci, sel: np.ndarray | None) -> list[str]:
        """The findings of ``figures`` (intervals ``ci(key)``), on every image (``sel`` None) or on
        the unseen ones ``sel``."""
        subset = sel is not None
        y_true = self.y_true if sel is None else self.y_true[sel]
        m = len(y_true)
        where = f"on {self._unseen_where()}" if subset else "on these images"
        here = f"on these {m} images" if subset else "here"
        held = [c for c in self.classes if c in set(y_true.tolist())]
        lines = []
        auc, (lo, hi) = figures.get("auc"), ci("auc")
        if auc is None or not np.isfinite(auc):
            they = "they" if subset else "these data"
            why = (f"{they} hold only one class ({held[0]})" if len(held) == 1 else
                   f"{they} hold no {self.positive} image" if self.positive not in held else
                   f"{they} hold only {self.positive} images")
            lines.append(f"the {self.positive} AUC {where + ' ' if subset else ''}cannot be computed: "
                         f"{why}, so it cannot be compared with the model's own figures")
        else:
            ref, kind = self._in_domain_auc()
            kind += self._caveat()  # an optimistic in-domain figure says so beside the external one
            ext = _vci(auc, (lo, hi), 2)
            if ref is None:
                lines.append(f"the model file holds no in-domain AUC to compare with: {self.positive} AUC "
                             f"{where if subset else 'here'} {ext}")
            else:
                drop = ref - auc
                if (np.isfinite(hi) and hi < ref) or drop > AUC_MARGIN:
                    # one rule, as the guide states it: the interval below, or more than AUC_MARGIN below
                    lines.append(f"this model does much worse {where} than in {self._where()}: AUC {ext} "
                                 f"against {ref:.2f} ({kind})")
                elif -drop > AUC_MARGIN:
                    lines.append(f"this model does better {where} than in {self._where()}: AUC {ext} against "
                                 f"{ref:.2f} ({kind}); make sure none of {'them' if subset else 'these images'} was "
                                 "among its training images")
                else:
                    lines.append(f"{where}{',' if subset else ''} the model's AUC, {ext}, is within {AUC_MARGIN} of "
                                 f"{self._where()}'s {ref:.2f} ({kind}): no sign of a drop beyond that margin")
        from .sanity import _decisive  # the decimals that decide each comparison ("0.898, short of 0.9")

        acc = figures.get("accuracy")
        if m:
            counts = self._counts(sel)
            common = max(counts, key=counts.get)
            share = counts[common] / m
            if acc is not None and len(held) > 1 and acc <= share:
                lines.append(f"its accuracy {here}, {_decisive(acc, share)}, is no better than calling every image "
                             f"{common} ({_decisive(share, acc)} of {'them' if subset else 'these images'} are "
                             f"{common})")
        sens = figures.get("sensitivity")
        if sens is not None and np.isfinite(sens) and sens < self.target_sensitivity:
            lines.append(f"at its own operating point it finds {_pct(sens)} of the {self.positive} images"
                         f"{' among them' if subset else ''} (sensitivity "
                         f"{_decisive(sens, self.target_sensitivity)}{interval_text(ci('sensitivity'))}), short of "
                         f"the target {self.target_sensitivity:g}")
        lines += self._absent_lines(sel)
        return lines

    def _majority(self) -> tuple[str, float]:
        """The most common class here and its share: the accuracy of calling every image it."""
        counts = self._counts()
        common = max(counts, key=counts.get)
        return common, counts[common] / len(self.y_true)

    def _absent_lines(self, among: np.ndarray | None = None) -> list[str]:
        """Images called a class the data lack, among every image or the images ``among``."""
        lines = []
        among = np.ones(len(self.y_true), dtype=bool) if among is None else np.asarray(among, dtype=bool)
        y_pred, n = self.y_pred, int(among.sum())
        what = "the images" if n == len(self.y_true) else "these unseen images"
        for c in self.absent_classes:
            sel = (y_pred == c) & among
            k = int(sel.sum())
            if not k:
                continue
            truth = ", ".join(f"{t} {m}" for t, m in self._counts(sel).items())
            who = (f"every one showing a lesion ({truth})" if c.lower() == "normal" else f"truly {truth}")
            lines.append(f"{_pct(k / n)} of {what} ({k} of {n}), {who}, were called {c}, a class these data do "
                         "not have")
        return lines

    # -- output
    def summary(self) -> str:
        """The findings as text: verdict first, then every figure with its 95 % interval.

        Returns
        -------
        text : str
        """
        c = self.classes
        pos = self.positive
        n = len(self.y_true)
        counts = ", ".join(f"{k} {v}" for k, v in self._counts().items())
        lines = [f"External validation of {self.model_name}"
                 + (f" ({self.model_source})" if self.model_source else ""),
                 f"data: {self.data_description}",
                 f"{n} images of {self.n_groups} groups ({self.groups_from}); {counts}",
                 (f"95 % intervals: {self.n_bootstrap} bootstrap resamples of the {self.n_groups} groups (each group "
                  "drawn whole)" if self.n_bootstrap else "no intervals (n_bootstrap=0)"),
                 *[f"caution: {note}" for note in self.seen],
                 *[f"note: {note}" for note in self.notes],
                 ""]
        lines += [self._none_line() if self.sanity is None else self.sanity.summary(), ""]
        if self.out_of_domain is not None:
            from ..model.domain import flag_summary

            lines += [flag_summary(self.out_of_domain > 1)
                      + f" (median out_of_domain {np.median(self.out_of_domain):.2f}; above 1: unlike them)", ""]
        lines += ["In short:"] + [f"  * {v}" for v in self.verdict] + [""]
        tag = self._seen_tag()  # every block below reports figures on every image, seen ones included
        lines.append(f"classes: the model knows {', '.join(c)}; these data hold {', '.join(self.data_classes)}"
                     + (f" (no {', '.join(self.absent_classes)})" if self.absent_classes else ""))
        for i, name in enumerate(c):
            if name in self.absent_classes:
                lines.append(f"  called {name}: {self._text(f'called[{i}]', 3)} of the images{tag}")
        lines += ["", f"{pos} vs rest (p({pos}) against every other true class){tag}:",
                  f"  AUC {self._text('auc')}"]
        lines.append(f"  at the model's own operating point ({self._rule_text()}): sensitivity "
                     f"{self._text('sensitivity')}, specificity {self._text('specificity')}")
        if self.threshold is not None:
            lines.append(f"  at {self._threshold_text()}, the threshold the model would need to reach "
                         f"sensitivity {self.target_sensitivity:g} here: sensitivity "
                         f"{self._text('sensitivity_at_threshold')}, specificity "
                         f"{self._text('specificity_at_threshold')}")
            lines.append("    (that threshold is chosen on these same images, so these two figures are "
                         "optimistic; confirm it on other images of this site)")
        else:
            lines.append(f"  no threshold for sensitivity {self.target_sensitivity:g}: no {pos} image here")
        lines += ["", f"per class (the classes these data hold; recall is sensitivity){tag}:"]
        width = max(9, *(len(x) for x in self.data_classes))
        lines.append(f"  {'':{width}} {'n':>5}  {'precision':<19} {'recall':<19} F1")
        for i, name in enumerate(c):
            if name in self.data_classes:
                cells = "".join(f"{self._text(f'{m}[{i}]'):<20}" for m in ("precision", "recall", "f1"))
                lines.append(f"  {name:{width}} {int(np.sum(self.y_true == name)):>5}  {cells.rstrip()}")
        lines.append(f"  accuracy {self._text('accuracy')}, macro F1 over these classes {self._text('macro_f1')}")
        lines += ["", f"confusion matrix (rows true, columns predicted){tag}:"]
        cm = self.confusion_matrix()
        width = max(9, *(len(x) for x in c))
        lines.append("  " + " " * width + "".join(f"{x:>{max(len(x), 6) + 2}}" for x in c))
        for name, row in zip(c, cm):
            lines.append(f"  {name:{width}}" + "".join(f"{v:>{max(len(x), 6) + 2}}" for x, v in zip(c, row))
                         + ("   (not in these data)" if name in self.absent_classes else ""))
        from .reporting import counts_text

        lines += ["", f"per class at the model's own operating point ({self._rule_text()}){tag}:"]
        lines += counts_text(self.confusion_counts(), width, indent="  ")
        lines += ["", f"calibration of p({pos}): ECE {self._text('ece')} ({ECE_BINS} equal-width bins), "
                      f"Brier score {self._text('brier')}{tag}",
                  "  reliability (bin: mean p -> observed fraction, images): "
                  + "; ".join(f"{b['lower']:.1f}-{b['upper']:.1f}: {b['mean_predicted']:.2f} -> {b['observed']:.2f} "
                              f"({b['n']})" for b in self.reliability if b["n"])]
        lines += [""] + self._in_domain_lines()
        for column, rows in self.subgroups.items():
            lines += ["", f"subgroups by {column}{tag}:"]
            w = max(8, *(len(str(r["value"])) for r in rows))
            lines.append(f"  {'':{w}} {'images':>6} {'groups':>6} {pos:>9}  {'AUC':<19} {'sensitivity':<19} "
                         f"{'specificity':<19} accuracy")
            for r in rows:
                f, ci = r["figures"], r["intervals"]
                lines.append(f"  {str(r['value']):{w}} {r['n_images']:>6} {r['n_groups']:>6} {r['n_positive']:>9}  "
                             f"{_vci(f['auc'], ci['auc'], 3):<19} {_vci(f['sensitivity'], ci['sensitivity'], 3):<19} "
                             f"{_vci(f['specificity'], ci['specificity'], 3):<19} "
                             f"{_vci(f['accuracy'], ci['accuracy'], 3)}")
        return "\n".join(lines)

    def _in_domain_lines(self) -> list[str]:
        from ..model._trust import printable  # text from the file: escaped
        from ..model.describe import data_name

        cv = self.in_domain.get("cv") or {}
        if not cv:
            return ["in-domain figures: the model file stores none (trained without cross-validation)"]
        parts = []
        for metric, label in (("accuracy", "accuracy"), ("f1", "macro F1"), ("auc", "macro AUC"),
                              ("sensitivity", "macro sensitivity")):
            v = cv.get(metric)
            if isinstance(v, dict) and isinstance(v.get("value"), (int, float)):
                ci = v.get("ci") or [None, None]
                ci = tuple(math.nan if x is None else float(x) for x in ci[:2]) if len(ci) >= 2 else None
                parts.append(f"{label if len(self.classes) > 2 or metric != 'auc' else 'AUC'} "
                             f"{_vci(float(v['value']), ci, 3)}")
        data = self.in_domain.get("data") or {}
        where = printable(cv.get("cv", "cross-validation"))
        if "validation" not in where:
            where += " cross-validation"
        out = [f"in-domain figures stored in the model file ({where}"
               + (f", {data.get('n_images')} images" + (f" of {printable(data_name(data.get('source')))}"
                                                       if data.get("source") else " given in Python")
                  if data.get("n_images") else "")
               + "):", "  " + ", ".join(parts) + (" (optimistic: see the caveat below)" if cv.get("caveat") else "")]
        if cv.get("caveat"):
            out.append(f"  caveat: {printable(cv['caveat'])}")
        hold = self.in_domain.get("holdout") or {}
        if isinstance(hold.get("accuracy"), (int, float)):
            ci = hold.get("accuracy_ci")
            out.append(f"  held-out images at training ({hold.get('n_images')}): accuracy "
                       f"{_vci(float(hold['accuracy']), tuple(ci) if ci else None, 3)}")
        common, share = self._majority()
        out.append(f"  here: accuracy {self._text('accuracy')} (calling every image {common} would score {share:.3f}), "
                   f"AUC ({self.positive} vs rest) {self._text('auc')}{self._seen_tag()}")
        return out

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"ExternalValidation({self.model_name!r}, n={len(self.y_true)}, groups={self.n_groups}, "
                f"auc={self.figures.get('auc', math.nan):.3f})")

    def predictions(self):
        """One row per image: ``image``, ``group``, ``true``, ``predicted`` and ``p_<class>``
        columns (to look at the images the model gets wrong).

        Returns
        -------
        table : pandas.DataFrame
        """
        import pandas as pd

        table = pd.DataFrame({"image": self.paths, "group": self.groups, "true": self.y_true,
                              "predicted": self.y_pred})
        for j, c in enumerate(self.classes):
            table[f"p_{c}"] = self.proba[:, j]
        return table

    def confusion_matrix(self) -> np.ndarray:
        """Counts over the model's classes, rows true, columns predicted.

        Returns
        -------
        matrix : ndarray of shape (n_classes, n_classes)
        """
        k = len(self.classes)
        index = {c: i for i, c in enumerate(self.classes)}
        yt = np.array([index[v] for v in self.y_true.tolist()], dtype=int)
        return confusion_matrix(yt, decide(self.proba, self._rule()), k)

    def confusion_counts(self):
        """TP, FN, FP and TN of each of the model's classes, one class against the rest, at the
        model's own decisions (:func:`featbus.evaluation.reporting.confusion_counts` of
        :meth:`confusion_matrix`). A class these data do not hold has TP = FN = 0, and its FP
        counts the images called it.

        Returns
        -------
        counts : pandas.DataFrame
            One row per class (index ``"class"``), integer columns ``TP, FN, FP, TN``.
        """
        from .reporting import confusion_counts

        return confusion_counts(self.confusion_matrix(), self.classes)

    def _rule(self) -> tuple[int, float] | None:
        op = self.operating_point
        return None if not op else OperatingPoint.from_record(op).rule(self.classes)

    def _rule_text(self) -> str:
        """The model's own rule, as predict's 'rule' column writes it (both thresholds of two decisions)."""
        from ..model._trust import printable  # class names from the file: escaped

        op = self.operating_point
        if op:
            return f"the file's operating point: {printable(OperatingPoint.from_record(op).rule_text())}"
        return "p >= 0.5" if len(self.classes) == 2 else "the most probable class"

    def _two(self) -> OperatingPoint | None:
        """The stored two-decision point when the data-chosen point keeps its presence threshold
        (its ``positive`` is this validation's), else ``None``."""
        op = self.operating_point
        point = OperatingPoint.from_record(op) if op else None
        return point if point is not None and point.two_decisions and point.positive == self.positive else None

    def _threshold_text(self) -> str:
        """The data-chosen point in words: ``p(malignant) >= 0.123``, or of a two-decision model
        ``p(malignant | lesion) >= 0.123 (normal when p(lesion) < 0.4 kept from the file)``."""
        pos, two = self.positive, self._two()
        if two is None:
            return f"p({pos}) >= {self.threshold:.3f}"
        from ..model._trust import printable

        return (f"p({pos} | lesion) >= {self.threshold:.3f} ({printable(two.absent)} when p(lesion) < "
                f"{two.presence.threshold:.4g} kept from the file)")

    def to_dict(self) -> dict[str, Any]:
        """Every figure with its interval, as JSON-ready values (``None`` where undefined).

        Returns
        -------
        result : dict
        """
        from .sanity import verdict_to_manifest

        def fig(key):
            lo, hi = self._ci(key)
            return {"value": _num(self.figures.get(key)), "ci": [_num(lo), _num(hi)]}

        per_class = {}
        for i, c in enumerate(self.classes):
            if c in self.data_classes:
                per_class[c] = {"n": int(np.sum(self.y_true == c)),
                                **{m: fig(f"{m}[{i}]") for m in ("precision", "recall", "f1")}}
        absent = {c: {"called": fig(f"called[{i}]"), "true_classes_of_those": self._counts(self.y_pred == c)}
                  for i, c in enumerate(self.classes) if c in self.absent_classes}
        n, k = len(self.y_true), self.n_seen
        if self.sanity is None:  # every image seen: no verdict
            sanity = {"version": 1, "verdict": "none", "headline": self._none_line().split(" -- ", 1)[1],
                      "reasons": [self._none_line().split(" -- ", 1)[1]], "basis": f"external validation, {n} images, "
                      "every one seen by the model or a trained part of it", "n_bootstrap": self.n_bootstrap}
        else:
            sanity = verdict_to_manifest(self.sanity)
        verdict_on = {"n_images": n - k, "n_seen_left_out": k,
                      "images": ("every image" if not k else "none: every image trained the model or a part of it"
                                 if k == n else self._unseen_where())}
        unseen = None
        if k and k < n:  # the figures the verdict reads, on the unseen images
            f, ci = self._unseen_estimate
            sel = self._unseen()
            unseen = {"n_images": n - k, "n_groups": int(np.unique(np.asarray(self.groups)[sel]).size),
                      "counts": self._counts(sel),
                      **{key: {"value": _num(f.get(key)), "ci": [_num(x) for x in ci.get(key, (None, None))]}
                         for key in ("auc", "accuracy", "macro_f1", "sensitivity", "specificity", "brier", "ece")}}
        subgroups = {col: [{"value": r["value"], "n_images": r["n_images"], "n_groups": r["n_groups"],
                            "n_positive": r["n_positive"],
                            **{k: {"value": _num(v), "ci": [_num(x) for x in r["intervals"][k]]}
                               for k, v in r["figures"].items()}} for r in rows]
                     for col, rows in self.subgroups.items()}
        return json_safe({
            "model": {"name": self.model_name, "source": self.model_source, "classes": list(self.classes)},
            "data": {"description": self.data_description, "n_images": len(self.y_true), "n_groups": self.n_groups,
                     "groups_from": self.groups_from, "counts": self._counts(), "absent_classes": self.absent_classes},
            "positive": self.positive, "n_bootstrap": self.n_bootstrap, "random_state": self.random_state,
            "interval": "95 % bootstrap percentile interval, groups resampled whole",
            "verdict": self.verdict, "seen": list(self.seen), "n_seen": k, "verdict_on": verdict_on,
            "figures_include_seen": self._seen_tag().strip(" ()") or None, "unseen": unseen,
            "notes": list(self.notes),
            "out_of_domain": None if self.out_of_domain is None else {
                "flagged": int(np.sum(self.out_of_domain > 1)), "n": len(self.out_of_domain),
                "median": _num(np.median(self.out_of_domain))},
            "sanity": sanity,
            "auc": fig("auc"), "accuracy": fig("accuracy"), "macro_f1": fig("macro_f1"), "per_class": per_class,
            "absent_classes": absent,
            "operating_points": {
                "model": {"rule": self._rule_text(), "sensitivity": fig("sensitivity"),
                          "specificity": fig("specificity")},
                "target": {"target_sensitivity": self.target_sensitivity, "threshold": self.threshold,
                           "rule": None if self.threshold is None else self._threshold_text(),
                           "chosen_on": "these external images (optimistic: measured where it was chosen)",
                           "sensitivity": fig("sensitivity_at_threshold"),
                           "specificity": fig("specificity_at_threshold")}},
            "calibration": {"of": f"p({self.positive})", "n_bins": ECE_BINS, "ece": fig("ece"), "brier": fig("brier"),
                            "reliability": self.reliability},
            "confusion_matrix": {"classes": list(self.classes), "rows": "true", "columns": "predicted",
                                 "counts": self.confusion_matrix().tolist()},
            "confusion_counts": {name: {k: int(v) for k, v in row.items()}
                                 for name, row in self.confusion_counts().to_dict(orient="index").items()},
            "subgroups": subgroups, "in_domain": self.in_domain, "auc_margin": AUC_MARGIN,
        })

    def to_html(self, folder: str | os.PathLike) -> Path:
        """Write a self-contained report into ``folder``: ``index.html`` (figures embedded),
        ``roc.png``, ``reliability.png``, ``confusion.png`` and ``validation.json``.

        Parameters
        ----------
        folder : path
            Created if needed; files of an earlier report there are replaced.

        Returns
        -------
        page : Path
            The ``index.html`` written.
        """
        from .._version import __version__
        from .reporting import _CSS, _figure, _img, counts_html, header_html, verdict_html

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        pos = self.positive

        def save(name: str, draw, size, alt: str) -> str:
            data = _figure(draw, size)
            (folder / name).write_bytes(data)
            return _img(data, alt)

        figs = [save("confusion.png", self._plot_confusion, (5.2, 4.6), "confusion matrix")]
        if np.isfinite(self.figures.get("auc", math.nan)):
            figs.insert(0, save("roc.png", self.plot_roc, (5.4, 5.2), f"ROC curve of p({pos})"))
        figs.insert(1, save("reliability.png", self.plot_reliability, (5.4, 5.2), "reliability diagram"))
        (folder / "validation.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        esc = html.escape
        tag = esc(self._seen_tag())  # every figure block on every image, seen ones included
        rows = [("AUC", "auc"), ("accuracy", "accuracy"), ("macro F1 (classes present)", "macro_f1"),
                ("sensitivity, model's own rule", "sensitivity"), ("specificity, model's own rule", "specificity")]
        if self.threshold is not None:
            at = esc(self._threshold_text())
            rows += [(f"sensitivity at {at} (chosen here: optimistic)", "sensitivity_at_threshold"),
                     (f"specificity at {at} (chosen here: optimistic)", "specificity_at_threshold")]
        rows += [(f"ECE ({ECE_BINS} bins)", "ece"), ("Brier score", "brier")]
        table = "<table><tr><th>figure</th><th>value [95 % interval]</th></tr>" + "".join(
            f"<tr><td>{label}</td><td>{esc(self._text(key))}</td></tr>" for label, key in rows) + "</table>"
        cells = ("precision", "recall", "f1")
        per_class = ("<table><tr><th>class</th><th>images</th><th>precision</th><th>recall</th><th>F1</th></tr>"
                     + "".join(f"<tr><td>{esc(c)}</td><td>{int(np.sum(self.y_true == c))}</td>"
                               + "".join(f"<td>{esc(self._text(f'{m}[{i}]'))}</td>" for m in cells)
                               + "</tr>" for i, c in enumerate(self.classes) if c in self.data_classes)
                     + "</table>")
        sub_html = []
        for column, srows in self.subgroups.items():
            sub_html.append(f"<h3>by {esc(column)}</h3><table><tr><th>{esc(column)}</th><th>images</th><th>groups</th>"
                            f"<th>{esc(pos)}</th><th>AUC</th><th>sensitivity</th><th>specificity</th>"
                            "<th>accuracy</th></tr>" + "".join(
                                f"<tr><td>{esc(str(r['value']))}</td><td>{r['n_images']}</td><td>{r['n_groups']}</td>"
                                f"<td>{r['n_positive']}</td>" + "".join(
                                    f"<td>{esc(_vci(r['figures'][k], r['intervals'][k]))}</td>"
                                    for k in ("auc", "sensitivity", "specificity", "accuracy")) + "</tr>"
                                for r in srows) + "</table>")
        title = f"External validation: {self.model_name}"
        parts = [f"<h1>{esc(title)}</h1>",
                 f'<p class="note">{esc(self.data_description.rstrip("."))}; {len(self.y_true)} images of '
                 f"{self.n_groups} groups "
                 f"({esc(self.groups_from)}). Every interval is a 95 % bootstrap percentile interval over "
                 f"{self.n_bootstrap} resamples of whole groups. The model predicted every image once; nothing was "
                 "refitted.</p>",
                 *[f'<p class="note">caution: {esc(note)}</p>' for note in self.seen],
                 *[f'<p class="note">{esc(note)}</p>' for note in self.notes],
                 ('<div class="verdict verdict-none"><b>Verdict: none</b> -- '
                  f"{esc(self._none_line().split(' -- ', 1)[1])}</div>" if self.sanity is None
                  else verdict_html(self.sanity)),
                 "<h2>In short</h2><ul>" + "".join(f"<li><b>{esc(v)}</b></li>" for v in self.verdict) + "</ul>",
                 f"<h2>{esc(pos)} vs rest{tag}</h2>", table,
                 f'<div class="plots">{"".join(figs)}</div>',
                 f"<h2>Per class{tag}</h2>", per_class,
                 f"<p>At the model's own operating point ({esc(self._rule_text())}):</p>",
                 counts_html(self.confusion_counts()),
                 *([f"<h2>Subgroups{tag}</h2>", *sub_html] if sub_html else []),
                 "<h2>Beside the model's own figures</h2>",
                 "<pre>" + esc("\n".join(self._in_domain_lines())) + "</pre>",
                 "<h2>Summary (as printed)</h2><pre>" + esc(self.summary()) + "</pre>",
                 header_html({"featbus": __version__, "model": self.model_source or self.model_name,
                              "data": self.data_description, "positive class": pos,
                              "target sensitivity": self.target_sensitivity, "bootstrap resamples": self.n_bootstrap,
                              "seed": self.random_state, "ECE bins": ECE_BINS, "AUC margin": AUC_MARGIN})]
        page = folder / "index.html"
        page.write_text(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
                        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>", encoding="utf-8")
        return page

    # -- plots (matplotlib imported only here)
    def plot_roc(self, ax=None):
        """ROC curve of ``p(positive)`` with the model's own operating point and the data-chosen one
        (:func:`featbus.evaluation.reporting.plot_roc` of :attr:`held_out`).

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        ax : matplotlib Axes
        """
        from .reporting import plot_roc

        f = self.figures
        points = [(1 - f["specificity"], f["sensitivity"], "o",
                   {"ms": 9, "c": "tab:red", "label": "model's own operating point"})]
        if self.threshold is not None:
            points.append((1 - f["specificity_at_threshold"], f["sensitivity_at_threshold"], "s",
                           {"ms": 8, "c": "tab:green", "label": f"{self._threshold_text()} (chosen here)"}))
        return plot_roc(self, ax=ax, points=points, title=f"ROC of p({self.positive}), external data",
                        axis_labels=("1 - specificity", "sensitivity"))

    def plot_reliability(self, ax=None):
        """Reliability diagram of ``p(positive)`` (:func:`featbus.evaluation.reporting.plot_reliability`).

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        ax : matplotlib Axes
        """
        from .reporting import plot_reliability

        return plot_reliability(self, ax=ax)

    def _plot_confusion(self, ax=None):
        from .reporting import plot_confusion_matrix

        return plot_confusion_matrix(self, ax=ax)


# --------------------------------------------------------------------------- validate

def _natural_key(text: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


def _model_name(model, manifest: dict) -> str:
    recipe = manifest.get("recipe") or {}
    if recipe:
        from ..model._trust import printable

        name = recipe.get("name")
        what = f"{recipe.get('features') or 'network'} -> {recipe.get('classifier')}"
        return printable(f"recipe {name} ({what})" if name else what)
    return type(model).__name__


def _groups_from(data) -> str:
    told = getattr(data, "groups_from", None)
    if told:
        return str(told)
    descr = str(getattr(data, "DESCR", ""))  # a manifest's group column says so in groups_from
    if "mini-MIAS" in descr:
        return "women (the two breasts of one woman)"
    if getattr(data, "groups", None) is None:
        return "near-duplicate groups (featbus.duplicate_groups)"
    return "the data set's groups (near-duplicate groups for a folder of images)"


def _subgroup_values(records, column: str) -> list[str]:
    metas = [{str(k).lower(): v for k, v in (getattr(r, "meta", None) or {}).items()} for r in records]
    key = column.strip().lower()
    if not any(key in m for m in metas):
        columns = sorted({k for m in metas for k in m if not isinstance(m[k], (list, dict, tuple))})
        raise ValueError(f"subgroup column {column!r} is not in these data; their columns: "
                         f"{', '.join(columns) or 'none'}")
    values = ["(missing)" if m.get(key) in (None, "") else str(m[key]) for m in metas]
    distinct = set(values)
    if len(distinct) > MAX_SUBGROUPS:
        raise ValueError(f"subgroup column {column!r} has {len(distinct)} values (at most {MAX_SUBGROUPS}): it "
                         "identifies images rather than subgroups")
    return values


def validate(model, data, *, target_sensitivity: float = 0.9, n_bootstrap: int = 1000,
             positive: str = "malignant", subgroup: str | Sequence[str] | None = None,
             random_state: int | None = 0) -> ExternalValidation:
    """External validation: score a trained model on labelled images from another site.

    The model predicts every image once (nothing is refitted). See :mod:`featbus.evaluation.validation`
    for what is measured, how the intervals are made and how classes the data lack are handled.

    Parameters
    ----------
    model : FeatbusModel or path
        A trained model (:func:`featbus.train_model`, :func:`featbus.load_model`) or a
        ``.featbus`` file, loaded with :func:`featbus.load_model`'s defaults (a file that needs
        trust: load it yourself with ``trusted=``).
    data : path or Bunch
        Anything :func:`featbus.load_data` reads (class folders, BUS-BRA, a CSV manifest, a
        mini-MIAS folder), or a data set Bunch (``data``, ``target``, ``target_names``,
        optional ``groups``). Its class names must be among the model's.
    target_sensitivity : float, default=0.9
        The sensitivity for the positive class that the second operating point reaches: the
        highest threshold on ``p(positive)`` with at least this sensitivity *on these data*
        (chosen on them, hence optimistic). Of a model whose stored point takes two decisions,
        the threshold is on ``p(positive | lesion)`` and the stored presence threshold is kept:
        the point the model could be moved to.
    n_bootstrap : int, default=1000
        Bootstrap resamples of the data's groups behind every interval (0: none).
    positive : str, default="malignant"
        The class of the AUC, the operating points and the calibration; one of the model's.
    subgroup : str or sequence of str, optional
        Metadata column(s) (a record's ``meta``: a manifest's extra columns, BUS-BRA's
        ``Device``, ``Side``, ``BIRADS``...; case-insensitive) to tabulate the figures by.
    random_state : int or None, default=0
        Seed of the bootstrap.

    Returns
    -------
    result : ExternalValidation
        ``.summary()`` (text), ``.to_dict()``, ``.to_html(folder)``.

    Raises
    ------
    ValueError
        A class of the data that the model does not know, a positive class the model does not
        have, a subgroup column the data lack, or bad parameter values: one line naming it.
    FileNotFoundError
        ``model`` or ``data`` is a path that does not exist.

    Examples
    --------
    >>> from featbus import make_phantoms, validate
    >>> from featbus.workflows.training import train_model
    >>> model = train_model(make_phantoms(30, image_size=48, random_state=0), "intensity",
    ...                     classifier="logreg", cross_validate=False, progress=False)
    >>> other = make_phantoms(20, image_size=48, weights=[0.5, 0.5, 0.0], random_state=1)  # no normal
    >>> result = validate(model, other, n_bootstrap=100)
    >>> result.data_classes, result.absent_classes
    (['benign', 'malignant'], ['normal'])
    >>> 0 <= result.figures["auc"] <= 1, result.n_groups
    (True, 20)
    """
    if isinstance(target_sensitivity, bool) or not isinstance(target_sensitivity, numbers.Real) \
            or not 0 < target_sensitivity <= 1:
        raise ValueError(f"target_sensitivity must be a number in (0, 1], got {target_sensitivity!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, numbers.Integral) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    columns = [] if subgroup is None else [subgroup] if isinstance(subgroup, str) else list(subgroup)
    source = None
    if isinstance(model, (str, os.PathLike)):
        from ..model.loaded import load_model

        source = str(model)
        if not Path(source).is_file():
            raise FileNotFoundError(f"model {source!r}: no such file")
        model = load_model(source)
    if not (hasattr(model, "predict_proba") and hasattr(model, "classes_")):
        raise TypeError(f"model must be a FeatbusModel or a .featbus path, got {type(model).__name__}")
    if isinstance(data, (str, os.PathLike)):
        from ..datasets import load_data

        if not Path(data).exists():
            raise FileNotFoundError(f"data {str(data)!r} does not exist")
        data = load_data(data)
    if not (hasattr(data, "target") and hasattr(data, "target_names") and (hasattr(data, "data")
                                                                           or hasattr(data, "images"))):
        raise TypeError(f"data must be a path or a data set Bunch, got {type(data).__name__}")
    manifest = getattr(model, "manifest", None) or {}
    classes = [str(c) for c in model.classes_]
    if positive not in classes:
        raise ValueError(f"the positive class {positive!r} is not one of the model's classes ({', '.join(classes)})")
    y_true = np.asarray(data.target_names, dtype=str)[np.asarray(data.target, dtype=int)]
    if y_true.size == 0:
        raise ValueError("the data set holds no image")
    y_true, notes = _case_folded(y_true, classes)
    unknown = sorted(set(y_true.tolist()) - set(classes), key=_natural_key)
    if unknown:
        raise ValueError(f"the data set has class{'es' if len(unknown) > 1 else ''} "
                         f"{', '.join(repr(u) for u in unknown)}, which the model does not know (its classes: "
                         f"{', '.join(classes)})")
    records = list(data.data) if hasattr(data, "data") else list(data.images)
    from ..model_selection import resolve_groups

    groups = resolve_groups(records, getattr(data, "groups", None))  # featbus's one grouping policy
    reference = getattr(model, "domain", None)
    if reference is not None and hasattr(model, "head"):
        # the features once: the head's probabilities and the out-of-domain scores both read them
        features = model.transform(records)
        proba = np.asarray(model.head.predict_proba(features), dtype=float)
        out_of_domain = reference.transform(features)[:, 0]
    else:
        proba = np.asarray(model.predict_proba(records), dtype=float)
        out_of_domain = None
    if proba.shape != (len(records), len(classes)):
        raise ValueError(f"the model returned probabilities of shape {proba.shape}; expected "
                         f"{(len(records), len(classes))}")
    index = {c: i for i, c in enumerate(classes)}
    yt = np.array([index[v] for v in y_true.tolist()], dtype=int)
    held = set(yt.tolist())
    present = [i for i in range(len(classes)) if i in held]
    absent = [i for i in range(len(classes)) if i not in held]
    pos = index[positive]
    op = manifest.get("operating_point") if isinstance(manifest.get("operating_point"), dict) else None
    point = OperatingPoint.from_record(op) if op and op.get("positive") in index else None
    rule = point.rule(classes) if point is not None else None
    # the second operating point: the one rule, chosen on these images (none without a positive image); of a
    # two-decision model, its threshold on p(positive | lesion), the stored presence threshold kept
    threshold = second = None
    if (yt == pos).any():
        if point is not None and point.two_decisions and point.positive == positive:
            chosen = OperatingPoint.choose_two(y_true, proba, classes=classes, absent=point.absent, positive=positive,
                                               target=float(target_sensitivity),
                                               presence_threshold=point.presence.threshold)
        else:
            chosen = OperatingPoint.choose(y_true, proba, classes=classes, positive=positive,
                                           target=float(target_sensitivity))
        threshold, second = chosen.threshold, chosen.rule(classes)
    figures, intervals = _estimate(yt, proba, groups, pos, present, absent, second, int(n_bootstrap),
                                   random_state, ECE_BINS, rule)
    tables = {}
    for column in columns:
        values = np.asarray(_subgroup_values(records, column), dtype=object)
        rows = []
        for value in sorted(set(values.tolist()), key=_natural_key):
            sel = values == value
            f, ci = _estimate(yt[sel], proba[sel], groups[sel], pos, present, [], second, int(n_bootstrap),
                              random_state, ECE_BINS, rule)
            rows.append({"value": value, "n_images": int(sel.sum()), "n_groups": int(np.unique(groups[sel]).size),
                         "n_positive": int(np.sum(yt[sel] == pos)), "figures": f, "intervals": ci})
        tables[column] = rows
    in_domain = {key: manifest[key] for key in ("cv", "holdout") if isinstance(manifest.get(key), dict)}
    if isinstance(manifest.get("data"), dict):
        in_domain["data"] = {k: manifest["data"].get(k) for k in ("n_images", "counts", "source")}
    # which images the model or a trained part of it saw: they never feed the verdict
    seen_notes, seen_images = overlap(model, records)
    paths = list(getattr(data, "paths", None) or [getattr(r, "path", None) or f"image {i}"
                                                    for i, r in enumerate(records)])
    return ExternalValidation(
        model_name=_model_name(model, manifest), model_source=source, classes=classes, positive=positive,
        y_true=y_true.astype(object), proba=proba, groups=np.asarray(groups), groups_from=_groups_from(data),
        paths=[str(p) for p in paths], data_description=str(getattr(data, "DESCR", "") or f"{len(records)} images"),
        target_sensitivity=float(target_sensitivity), threshold=threshold, n_bootstrap=int(n_bootstrap),
        random_state=random_state, figures=figures, intervals=intervals,
        reliability=reliability_curve(proba[:, pos], yt == pos), subgroups=tables, in_domain=in_domain,
        operating_point=op if rule is not None else None, out_of_domain=out_of_domain,
        seen=seen_notes, notes=notes + data_notes(data), seen_images=seen_images)


def _case_folded(y_true: np.ndarray, classes: list[str]) -> tuple[np.ndarray, list[str]]:
    """The data's labels, a label that differs from one model class in case only read as it
    (``'Benign'`` as ``'benign'``), with one note per label so read."""
    notes, mapping = [], {}
    for label in sorted(set(y_true.tolist()) - set(classes), key=_natural_key):
        same = [c for c in classes if c.casefold() == label.casefold()]
        if len(same) == 1:
            mapping[label] = same[0]
            notes.append(f"{label!r} read as {same[0]!r} (case differs)")
    if not mapping:
        return y_true, []
    return np.array([mapping.get(v, v) for v in y_true.tolist()], dtype=str), notes
