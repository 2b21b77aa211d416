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
6. **beside the model's promise**: its own honest figure (the shipped ``breast-us``
   classifier's card's leave-one-site-out AUC, or the cross-validation a model file stores,
   with its intervals); a model that does much worse than it promises (the promise above the
   whole interval of the AUC here, :meth:`ExternalValidation.much_worse`) is at most "limited".

Every figure is a row of the one figure table (:mod:`featbus.evaluation.figures`), computed once
with its interval and written by :mod:`featbus.evaluation.render`.

**Images a trained part has seen.** When the model, its lesion segmenter or its backbone trained
on some of these images (or near-copies: :func:`featbus.model.provenance.overlap`), figures on them
describe the training images, not new ones. They are left out of every figure (verdict, "In
short", every block, the confusion matrix, the data-chosen threshold), the header naming them;
when every image was seen there is no verdict (``verdict: none``), and the figures, on them, say
so on every block (``(seen: ... optimistic)``).

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
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets._common import _natural_key
from ..io import data_notes
from ..metrics import (
    ECE_BINS,
    OperatingPoint,
    Predictions,
    check_n_bootstrap,
    decide,
    expected_calibration_error,
    format_interval,
    reliability_curve,
)
from ..model.provenance import overlap
from ..progress import stages
from .figures import LESION_OR_NORMAL, MACRO, FigureKey, estimate
from .sanity import AUC_MARGIN

__all__ = ["validate", "validate_table", "ExternalValidation", "reliability_curve", "expected_calibration_error",
           "ECE_BINS", "AUC_MARGIN", "promise_of", "PROMISE_KEYS"]

#: A subgroup column with more values than this is refused (an identifier, not a subgroup).
MAX_SUBGROUPS = 50


# --------------------------------------------------------------------------- the figures

def _keys(classes: Sequence[str], present: Sequence[int], absent: Sequence[int], chosen: bool,
          lesion_or_normal: bool = False) -> dict[str, FigureKey]:
    """The result's keys -> the figure table's keys (:mod:`featbus.evaluation.figures`): ``precision[i]``,
    ``recall[i]``, ``f1[i]`` per class present and ``called[i]`` per class absent (``i`` indexing
    ``classes``; the table's key holds the label itself, never parsed); ``*_at_threshold`` at the
    data-chosen point; the lesion-or-normal figures (:data:`~featbus.evaluation.figures.LESION_OR_NORMAL`,
    of the positive class for ``called_normal``) when asked."""
    keys = {"accuracy": FigureKey("accuracy"), "trivial_accuracy": FigureKey("trivial_accuracy"),
            "macro_f1": FigureKey("f1", MACRO)}
    for i in present:
        c = classes[i]
        keys.update({f"precision[{i}]": FigureKey("precision", c), f"recall[{i}]": FigureKey("sensitivity", c),
                     f"f1[{i}]": FigureKey("f1", c)})
    for i in absent:
        keys[f"called[{i}]"] = FigureKey("called", classes[i])
    keys.update({"auc": FigureKey("auc"), "sensitivity": FigureKey("sensitivity"),
                 "specificity": FigureKey("specificity")})
    if lesion_or_normal:
        keys.update({name: FigureKey(name) for name in LESION_OR_NORMAL})
    if chosen:
        keys.update({"sensitivity_at_threshold": FigureKey("sensitivity", None, "threshold"),
                     "specificity_at_threshold": FigureKey("specificity", None, "threshold")})
    keys.update({"brier": FigureKey("brier"), "ece": FigureKey("ece")})
    return keys


def _estimate(view: Predictions, keys: dict[str, FigureKey], n_bootstrap: int, random_state,
              chosen: OperatingPoint | None) -> tuple[dict, dict]:
    """(figures, intervals) of the table's figures ``keys``, intervals from one bootstrap of whole groups."""
    points = None if chosen is None else {"threshold": chosen}
    values, ci = estimate(view, list(keys.values()), view.groups, n_bootstrap, random_state=random_state,
                          points=points)
    return ({k: values[name] for k, name in keys.items()}, {k: tuple(ci[name]) for k, name in keys.items()})


def _chosen_point(point: OperatingPoint | None, y, P, classes, positive: str, target: float) -> OperatingPoint | None:
    """The second operating point: the one rule, chosen on the judged images (none without a positive
    image); of a two-decision model, its threshold on p(positive | lesion), the stored presence threshold kept."""
    if not np.any(y == positive):
        return None
    if point is not None and point.two_decisions and point.positive == positive:
        return OperatingPoint.choose_two(y, P, classes=classes, absent=point.absent, positive=positive, target=target,
                                         presence_threshold=point.presence.threshold)
    return OperatingPoint.choose(y, P, classes=classes, positive=positive, target=target)


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


# --------------------------------------------------------------------------- result

@dataclasses.dataclass
class ExternalValidation:
    """A model's figures on an external labelled data set, with intervals (made by :func:`validate`,
    or by :meth:`from_predictions` from probabilities already computed).

    The data (every image's label, probabilities and group) are kept; the figures are computed
    on the *judged* images: every image, or, when a trained part of the model saw some of them
    (:attr:`seen_images`) but not all, the others only. Its words, JSON and HTML come from
    :mod:`featbus.evaluation.render`.

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
        That threshold on ``p(positive)`` (``None`` without a positive image among the judged
        ones); for a model whose stored operating point takes two decisions (and whose
        ``positive`` is this one), the threshold on ``p(positive | lesion)``, the stored
        presence threshold kept (:attr:`chosen`).
    n_bootstrap : int
        Bootstrap resamples of groups behind the intervals (0: none).
    random_state : int or None
        Seed of the bootstrap.
    figures : dict
        Point values on the judged images, from the figure table
        (:data:`featbus.evaluation.figures.FIGURES`): ``accuracy``, ``trivial_accuracy``,
        ``auc``, ``sensitivity``, ``specificity`` (the model's own rule),
        ``sensitivity_at_threshold``, ``specificity_at_threshold``, ``brier``, ``ece``,
        ``macro_f1``, and ``precision[i]``, ``recall[i]``, ``f1[i]`` per class present and
        ``called[i]`` (share of images called class ``i``) per class absent, ``i`` indexing
        ``classes``.
    intervals : dict
        ``key -> (low, high)``, the bootstrap 95 % percentile interval of each figure.
    reliability : list of dict
        :func:`reliability_curve` of ``p(positive)`` on the judged images.
    subgroups : dict
        ``column -> list of rows`` (one per value: ``value``, ``n_images``, ``n_groups``,
        ``n_positive`` and figures with intervals), on the judged images.
    in_domain : dict
        The figures the model file stores from its own cross-validation (``cv``: accuracy,
        f1, auc... each ``{"value", "ci"}``) and hold-out, empty when it has none.
    operating_point : dict or None, default=None
        The model file's own decision rule when it holds one (an
        :class:`~featbus.metrics.OperatingPoint` record, :attr:`point`); ``None``: the most
        probable class.
    out_of_domain : ndarray of shape (n_images,) or None, default=None
        Each image's out-of-domain score against the model's training images
        (:class:`featbus.model.domain.DomainReference`; above 1: unlike them); ``None`` when the
        model holds no reference.
    seen : list of str, default=[]
        One sentence per source of the model's training (its own training or adaptation
        images, a shipped backbone such as ``breast-us``) that some of these images come from
        (:func:`featbus.model.provenance.overlap_notes`).
    notes : list of str, default=[]
        What was made of the data on the way: labels read as a model class whose case differs
        (``'Benign' read as 'benign'``), images skipped (``--on-error skip``, named), masks dropped.
    seen_images : ndarray of bool, shape (n_images,), or None, default=None
        Which images (or near-copies) the model or a trained part of it trained on
        (:func:`featbus.model.provenance.overlap`). When some but not all were seen, they are left
        out of every figure; every image seen: the figures are on them (optimistic, said on
        every block) and there is no verdict. ``None``: not checked (none known).
    chosen : OperatingPoint or None, default=None
        The data-chosen point behind :attr:`threshold`.
    promise : dict or None, default=None
        The model's own honest AUC of ``positive`` that the verdict compares with
        (:func:`promise_of`): ``auc``, ``ci``, ``what`` (in words) and ``judges`` (whether it is
        the same figure, so that doing much worse than it costs the verdict "useful").

    Attributes
    ----------
    y_pred : ndarray of str
        The model's decision per image (by its own rule).
    judged : ndarray of bool
        The images the figures are on.
    n_groups : int
        Number of bootstrap units (every image).
    data_classes : list of str
        The classes the judged images hold, in the model's order.
    absent_classes : list of str
        The model's classes the judged images do not hold.
    sanity : featbus.evaluation.sanity.Verdict or None
        The model-sanity verdict ("useful", "limited", "useless") on the judged images, against
        the model's promise; ``None`` when every image was seen (``verdict: none``).
    verdict : list of str
        The plain-words findings that follow it ("In short"), on the same images.
    n_seen : int
        How many images a trained part saw.

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
    chosen: OperatingPoint | None = None
    promise: dict | None = None

    @classmethod
    def from_predictions(cls, y_true, proba, *, classes: Sequence[str], positive: str = "malignant", groups=None,
                         operating_point: dict | OperatingPoint | None = None, seen_images=None,
                         target_sensitivity: float = 0.9, n_bootstrap: int = 1000, random_state: int | None = 0,
                         subgroups: dict | None = None, **about) -> ExternalValidation:
        """The validation of probabilities already computed (as scikit-learn's
        ``RocCurveDisplay.from_predictions``): the figures of the table on the judged images.

        Parameters
        ----------
        y_true : array-like of str, shape (n_images,)
        proba : array-like of shape (n_images, n_classes)
            Columns in ``classes`` order.
        classes : sequence of str
        positive : str, default="malignant"
        groups : array-like, optional
            Bootstrap units; default every image its own.
        operating_point : dict or OperatingPoint, optional
            The model's own decision rule (else the most probable class).
        seen_images : array-like of bool, optional
            Images a trained part of the model saw: left out of every figure (unless all were).
        target_sensitivity, n_bootstrap, random_state
            As :func:`validate`.
        subgroups : dict, optional
            ``column -> the value of every image``.
        **about
            The other fields (``model_name``, ``model_source``, ``groups_from``, ``paths``,
            ``data_description``, ``in_domain``, ``out_of_domain``, ``seen``, ``notes``,
            ``promise``).

        Returns
        -------
        result : ExternalValidation

        Examples
        --------
        >>> import numpy as np
        >>> from featbus.evaluation.validation import ExternalValidation
        >>> y = np.array(["benign", "malignant"] * 10)
        >>> P = np.where(y[:, None] == np.array(["benign", "malignant"]), 0.8, 0.2)
        >>> r = ExternalValidation.from_predictions(y, P, classes=["benign", "malignant"], n_bootstrap=0)
        >>> r.figures["auc"], r.figures["sensitivity"]
        (1.0, 1.0)
        """
        classes = [str(c) for c in classes]
        y_true = np.asarray(y_true).astype(str).astype(object)
        proba = np.asarray(proba, dtype=float)
        n = y_true.size
        groups = np.arange(n) if groups is None else np.asarray(groups)
        point = (operating_point if isinstance(operating_point, OperatingPoint) or operating_point is None
                 else OperatingPoint.from_record(operating_point))
        if point is not None and point.positive not in classes:
            point = None
        seen = None if seen_images is None else np.asarray(seen_images, dtype=bool)
        judged = np.ones(n, dtype=bool) if seen is None or seen.all() else ~seen
        yj, Pj = y_true[judged], proba[judged]
        index = {c: i for i, c in enumerate(classes)}
        held = {index[v] for v in yj.tolist()}
        present = [i for i in range(len(classes)) if i in held]
        absent = [i for i in range(len(classes)) if i not in held]
        chosen = _chosen_point(point, yj, Pj, classes, positive, float(target_sensitivity))
        rule = None if point is None else point.rule(classes)
        cls_arr = np.asarray(classes, dtype=object)

        def view(sel):
            return Predictions.from_scores(y_true[sel], proba[sel], cls_arr, rule=rule, groups=groups[sel],
                                           positive=positive, source="external validation", class_names=classes)

        # the lesion-or-normal decision: of a model that can call an image normal (two decisions, or a normal class)
        keys = _keys(classes, present, absent, chosen is not None,
                     (point is not None and point.two_decisions) or "normal" in classes)
        figures, intervals = _estimate(view(judged), keys, int(n_bootstrap), random_state, chosen)
        tables = {}
        for column, values in (subgroups or {}).items():
            values = np.asarray(values, dtype=object)
            rows = []
            for value in sorted(set(values[judged].tolist()), key=_natural_key):
                sel = judged & (values == value)
                f, ci = _estimate(view(sel), _keys(classes, present, [], chosen is not None), int(n_bootstrap),
                                  random_state, chosen)
                rows.append({"value": value, "n_images": int(sel.sum()), "n_groups": int(np.unique(groups[sel]).size),
                             "n_positive": int(np.sum(y_true[sel] == positive)), "figures": f, "intervals": ci})
            tables[column] = rows
        about.setdefault("paths", [f"image {i}" for i in range(n)])
        for key, default in (("model_name", "model"), ("model_source", None), ("groups_from", "groups given"),
                             ("data_description", f"{n} images"), ("in_domain", {})):
            about.setdefault(key, default)
        return cls(classes=classes, positive=positive, y_true=y_true, proba=proba, groups=groups,
                   target_sensitivity=float(target_sensitivity), threshold=None if chosen is None else chosen.threshold,
                   n_bootstrap=int(n_bootstrap), random_state=random_state, figures=figures, intervals=intervals,
                   reliability=reliability_curve(Pj[:, index[positive]], yj == positive), subgroups=tables,
                   operating_point=None if point is None else point.to_record(), seen_images=seen, chosen=chosen,
                   **about)

    # -- which images
    @property
    def n_seen(self) -> int:
        return 0 if self.seen_images is None else int(np.sum(np.asarray(self.seen_images, dtype=bool)))

    @property
    def judged(self) -> np.ndarray:
        """The images every figure is on: those no trained part saw, or every image when none or all were."""
        seen = self.seen_images
        if seen is None or not np.any(seen) or np.all(seen):
            return np.ones(len(self.y_true), dtype=bool)
        return ~np.asarray(seen, dtype=bool)

    @property
    def all_seen(self) -> bool:
        """Whether every image (or a near-copy) trained the model or a part of it: no verdict then."""
        return len(self.y_true) > 0 and self.n_seen == len(self.y_true)

    @property
    def point(self) -> OperatingPoint | None:
        """The model's own decision rule (``None``: the most probable class)."""
        return None if not self.operating_point else OperatingPoint.from_record(self.operating_point)

    @property
    def rule(self) -> tuple | None:
        """The model's own rule as :func:`featbus.metrics.decide` takes it (``None``: the most probable class)."""
        point = self.point
        return None if point is None else point.rule(self.classes)

    @property
    def y_pred(self) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[decide(self.proba, self.rule)]

    @property
    def n_groups(self) -> int:
        return int(np.unique(self.groups).size)

    @property
    def data_classes(self) -> list[str]:
        held = set(self.y_true[self.judged].tolist())
        return [c for c in self.classes if c in held]

    @property
    def absent_classes(self) -> list[str]:
        held = set(self.y_true[self.judged].tolist())
        return [c for c in self.classes if c not in held]

    def counts(self, sel: np.ndarray | None = None) -> dict[str, int]:
        """Images per class (of the images ``sel``; default every image), in the model's class order."""
        y = self.y_true if sel is None else self.y_true[sel]
        return {c: int(np.sum(y == c)) for c in self.classes if np.any(y == c)}

    @property
    def held_out(self) -> Predictions:
        """The model's predictions of the judged images as the one view (:class:`featbus.metrics.Predictions`)
        that verdicts, plots and site figures read, with the AUC interval this result prints."""
        sel = self.judged
        pos = list(self.classes).index(self.positive)
        return Predictions(y_true=self.y_true[sel], y_pred=self.y_pred[sel],
                           scores=np.asarray(self.proba, dtype=float)[sel],
                           classes=np.asarray(self.classes, dtype=object), class_names=list(self.classes),
                           groups=np.asarray(self.groups)[sel], rule=self.rule, positive=self.positive,
                           source="external validation", n_bootstrap=self.n_bootstrap, random_state=self.random_state,
                           auc_intervals={pos: self.intervals.get("auc", (math.nan, math.nan))}
                           if self.n_bootstrap else None)

    # -- the verdict
    def no_better_than_the_common_class(self) -> bool:
        """Whether its accuracy on the judged images is no better than calling every image the most
        common class there (what "In short" says), the data holding two classes or more."""
        acc, share = self.figures.get("accuracy"), self.figures.get("trivial_accuracy")
        return (int(self.judged.sum()) > 0 and len(self.data_classes) > 1 and acc is not None and share is not None
                and bool(np.isfinite(acc) and np.isfinite(share)) and acc <= share)

    def much_worse(self) -> bool:
        """Whether the model does much worse here than it promises (:attr:`promise`): the promise
        above the whole 95 % interval of the AUC here (without an interval: more than
        :data:`AUC_MARGIN` below the AUC)."""
        return self.against_promise() == "worse"

    def against_promise(self) -> str | None:
        """``"worse"``, ``"better"`` or ``"within"`` the promise; ``None`` without an AUC or a promise."""
        auc, (lo, hi) = self.figures.get("auc"), self.intervals.get("auc", (math.nan, math.nan))
        ref = (self.promise or {}).get("auc")
        if ref is None or auc is None or not np.isfinite(auc):
            return None
        if np.isfinite(lo) and np.isfinite(hi):
            return "worse" if hi < ref else "better" if lo > ref else "within"
        return "worse" if ref - auc > AUC_MARGIN else "better" if auc - ref > AUC_MARGIN else "within"

    @functools.cached_property
    def sanity(self):
        """The model-sanity verdict on the judged images (:func:`featbus.evaluation.sanity.assess`,
        computed once): better than always answering the data's most common class, every class
        found, the positive AUC above chance, and not much worse than the model's promise
        (:meth:`much_worse`: "useful" becomes "limited").

        Returns
        -------
        verdict : featbus.evaluation.sanity.Verdict or None
            ``None`` when every image was seen: nothing here can show how the model does on new
            images.
        """
        from .render import promise_reason, threshold_reason
        from .sanity import assess

        if self.all_seen:
            return None
        verdict = assess(self.held_out)
        if verdict.verdict == "useful" and self.no_better_than_the_common_class():
            # its decisions lose to calling every image the common class on accuracy: not "useful" beside that
            reason = threshold_reason(self)
            verdict = dataclasses.replace(verdict, verdict="limited", reasons=(reason, *verdict.reasons),
                                          problems=(verdict.problems or 0) + 1, headline=reason)
        if self.n_seen:
            verdict = dataclasses.replace(verdict, basis=f"external validation, on {self.judged_where()}; the other "
                                                         f"{self.n_seen} left out")
        if self.much_worse() and (self.promise or {}).get("judges"):
            reason = promise_reason(self)
            problems = (verdict.problems or 0) + 1
            verdict = dataclasses.replace(
                verdict, verdict="limited" if verdict.verdict == "useful" else verdict.verdict,
                reasons=(reason, *verdict.reasons), problems=problems,
                headline=f"it does much worse here than it promises; {verdict.headline}" if verdict.headline
                else verdict.headline)
        return verdict

    def judged_where(self) -> str:
        """The judged images in words: ``"the 40 images no part of the model trained on"``."""
        n = int(self.judged.sum())
        return f"the {n} images no part of the model trained on" if self.n_seen and not self.all_seen else \
            f"these {n} images"

    @property
    def verdict(self) -> list[str]:
        """The plain-words findings ("In short"), on the judged images."""
        from .render import short_lines

        return short_lines(self)

    # -- output (words, JSON, HTML: featbus.evaluation.render)
    def summary(self) -> str:
        """The findings as text: verdict first, then every figure with its 95 % interval.

        Returns
        -------
        text : str
        """
        from .render import validation_text

        return validation_text(self)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"ExternalValidation({self.model_name!r}, n={len(self.y_true)}, groups={self.n_groups}, "
                f"auc={self.figures.get('auc', math.nan):.3f})")

    def predictions(self):
        """One row per image: ``image``, ``group``, ``true``, ``predicted``, ``p_<class>`` and
        ``seen`` (a trained part of the model saw it: left out of the figures) columns.

        Returns
        -------
        table : pandas.DataFrame
        """
        import pandas as pd

        table = pd.DataFrame({"image": self.paths, "group": self.groups, "true": self.y_true,
                              "predicted": self.y_pred})
        for j, c in enumerate(self.classes):
            table[f"p_{c}"] = self.proba[:, j]
        table["seen"] = np.zeros(len(self.y_true), bool) if self.seen_images is None else self.seen_images
        return table

    def confusion_matrix(self) -> np.ndarray:
        """Counts over the model's classes on the judged images, rows true, columns predicted.

        Returns
        -------
        matrix : ndarray of shape (n_classes, n_classes)
        """
        return self.held_out.confusion_matrix()

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

    def to_dict(self) -> dict[str, Any]:
        """Every figure with its interval, as JSON-ready values (``None`` where undefined).

        Returns
        -------
        result : dict
        """
        from .render import validation_dict

        return validation_dict(self)

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
        from .render import validation_html

        return validation_html(self, folder)

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
        from .render import chosen_text
        from .reporting import plot_roc

        f = self.figures
        points = [(1 - f["specificity"], f["sensitivity"], "o",
                   {"ms": 9, "c": "tab:red", "label": "model's own operating point"})]
        if self.threshold is not None:
            points.append((1 - f["specificity_at_threshold"], f["sensitivity_at_threshold"], "s",
                           {"ms": 8, "c": "tab:green", "label": f"{chosen_text(self)} (chosen here)"}))
        return plot_roc(self, ax=ax, points=points, title=f"ROC of p({self.positive}), external data",
                        axis_labels=("1 - specificity", "sensitivity"), legend_below=True)

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

    def plot_confusion(self, ax=None):
        """The confusion matrix on the judged images (:func:`featbus.evaluation.reporting.plot_confusion_matrix`)."""
        from .reporting import plot_confusion_matrix

        return plot_confusion_matrix(self, ax=ax)


#: The keys of a promise (:func:`promise_of`), as a model file's manifest may carry it under
#: ``manifest["promise"]`` (``featbus adapt`` copies its parent's there).
PROMISE_KEYS = ("positive", "auc", "ci", "what", "where", "card", "judges", "caveat")


def _carried_promise(manifest: dict, positive: str) -> dict | None:
    """The promise a model file carries (``manifest["promise"]``, its parent's, copied by ``featbus
    adapt``), when it is one of ``positive``'s AUC; ``None`` otherwise."""
    carried = manifest.get("promise")
    if not isinstance(carried, dict) or not isinstance(carried.get("auc"), (int, float)) \
            or isinstance(carried.get("auc"), bool) or not math.isfinite(carried["auc"]):
        return None
    if str(carried.get("positive", positive)) != str(positive):
        return None
    out = {key: carried.get(key) for key in PROMISE_KEYS}
    out.update(positive=str(positive), auc=float(carried["auc"]), judges=bool(carried.get("judges", True)),
               card=bool(carried.get("card", False)), what=str(carried.get("what") or f"its {positive} AUC"),
               where=str(carried.get("where") or "its parent's figures"))
    return out


def _parents(manifest: dict) -> list[dict]:
    """The manifests' keys naming the files an adapted file was made from: its ``parent``
    (``featbus adapt`` records it), then each adaptation record's ``source`` (``pipeline_sha256``),
    nearest first, through ``previous`` adaptations."""
    parent = manifest.get("parent")
    out = [{"pipeline_sha256": parent["pipeline_sha256"]}] if isinstance(parent, dict) \
        and isinstance(parent.get("pipeline_sha256"), str) else []
    record = manifest.get("adaptation")
    while isinstance(record, dict):
        source = record.get("source")
        if isinstance(source, dict) and isinstance(source.get("pipeline_sha256"), str):
            out.append({"pipeline_sha256": source["pipeline_sha256"]})
        record = record.get("previous")
    return out


def _card(manifest: dict) -> dict | None:
    """The shipped classifier's card of this file, or of the file it was adapted from (an adapted
    copy keeps its parent's promise: only thresholds or statistics changed)."""
    from ..model.describe import shipped_card

    for candidate in (manifest, *_parents(manifest)):
        card = shipped_card(candidate)
        if card is not None:
            return card
    return None


def promise_of(model, manifest: dict, positive: str, classes: Sequence[str]) -> dict | None:
    """The model's own honest AUC of ``positive`` that validation compares with: ONE promise per
    model, whatever was adapted since.

    In order: the promise the file carries (``manifest["promise"]``: ``featbus adapt`` copies its
    parent's there, :data:`PROMISE_KEYS`); for the classifier featbus ships (``breast-us``) or a
    file adapted from it (its adaptation record names the parent's ``pipeline_sha256``), the
    card's leave-one-site-out (every trained part rebuilt without the held-out site): the lowest
    held-out site's AUC, the least it promises at a new site; for a trained model, the AUC its
    own cross-validation stored (the ``positive``-vs-rest AUC, or the AUC of two classes; a macro
    AUC over more classes is quoted, but it is another figure, so it does not judge). Two files
    of one parent (the shipped classifier and its adapted copy) are so judged against the same
    promise, and the same AUC on the same images gets the same sentence.

    Returns
    -------
    promise : dict or None
        ``positive``, ``auc``, ``ci`` (``[low, high]`` or ``None``), ``what`` (in words),
        ``where``, ``card`` (bool: a card's), ``judges`` (bool), ``caveat`` (str or ``None``);
        ``None`` when the file holds none.
    """
    carried = _carried_promise(manifest, positive)
    if carried is not None:
        return carried
    card = _card(manifest)
    if card is not None:
        before = (card.get("leave_one_site_out") or {}).get("before") or {}
        sites = {s: f["auc"] for s, f in before.items() if isinstance(f.get("auc"), list) and len(f["auc"]) == 3}
        if sites and positive == (card.get("operating_point") or {}).get("positive", "malignant"):
            low = min(sites, key=lambda s: sites[s][0])
            others = ", ".join(f"{s} {v[0]:.2f}" for s, v in sites.items() if s != low)
            return {"positive": str(positive), "auc": float(sites[low][0]), "ci": [float(x) for x in sites[low][1:]],
                    "judges": True, "caveat": None, "card": True, "where": "its card's leave-one-site-out",
                    "what": f"its card's leave-one-site-out benign-vs-malignant AUC, every trained part rebuilt "
                            f"without the held-out site: {low} "
                            f"{format_interval(sites[low][0], sites[low][1:], digits=2)}, the lowest of "
                            f"{len(sites)} sites it never saw ({others})"}
    cv = manifest.get("cv") if isinstance(manifest.get("cv"), dict) else {}
    own = (cv.get("per_class_auc") or {}).get(str(positive))
    where = "its own validation split" if "validation split" in str(cv.get("cv", "")) else "its own cross-validation"
    caveat = cv.get("caveat") or None
    if isinstance(own, dict) and isinstance(own.get("value"), (int, float)):
        return {"positive": str(positive), "auc": float(own["value"]), "ci": own.get("ci"), "judges": True,
                "caveat": caveat, "card": False, "where": where, "what": f"its {positive}-vs-rest AUC"}
    auc = cv.get("auc") or {}
    if isinstance(auc, dict) and isinstance(auc.get("value"), (int, float)):
        two = len(classes) == 2
        what = ("its AUC" if two else
                f"its macro one-vs-rest AUC over {len(classes)} classes; the file stores no {positive}-only AUC")
        return {"positive": str(positive), "auc": float(auc["value"]), "ci": auc.get("ci"), "judges": two,
                "caveat": caveat, "card": False, "where": where, "what": what}
    return None


# --------------------------------------------------------------------------- validate

def _model_name(model, manifest: dict) -> str:
    recipe = manifest.get("recipe") or {}
    if recipe:
        from ..model.trust import printable

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
    return _subgroup_of([{str(k).lower(): v for k, v in (getattr(r, "meta", None) or {}).items()} for r in records],
                        column)


def _table_subgroup_values(table, column: str) -> list[str]:
    """A subgroup column of a feature table: one of the data set's columns ``featbus extract`` passed through
    (``table.extra``), or its ``label`` or ``group`` column."""
    columns = {"label": [str(v) for v in table.labels],
               **({"group": [str(v) for v in table.groups]} if table.groups is not None else {}),
               **{str(c).lower(): list(v) for c, v in table.extra.items()}}
    return _subgroup_of([{c: v[i] for c, v in columns.items()} for i in range(len(table.labels))], column)


def _subgroup_of(metas: list[dict], column: str) -> list[str]:
    """Each row's value of the subgroup column ``column`` (``metas``: each row's columns, lower-cased names);
    a column absent or with more than :data:`MAX_SUBGROUPS` values refused in one line."""
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
             random_state: int | None = 0, progress: Any = False, passes=None, look=None) -> ExternalValidation:
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
    progress : bool, "auto", None or Stages, default=False
        Show the work, a display per stage (:func:`featbus.progress.stages`): the model's pass over
        the images (:meth:`~featbus.FeatbusModel.crops_and_features`), then the image check.
    passes : featbus.model.runtime.SharedPasses, optional
        What the models of one run share, handed down by the caller (:func:`featbus.compare`
        hands one to each model's validate): a segmenter's map and the image check's description
        of an image are computed once per run. ``None``: every part computes its own.
    look : featbus.model.loaded.Look, optional
        What the model computed of these images already (:meth:`featbus.FeatbusModel.look`, in
        the data's order): its probabilities, out-of-domain scores and image check are read, not
        computed again. ``None``: validate computes it.

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
    _check_parameters(target_sensitivity, n_bootstrap)
    columns = [] if subgroup is None else [subgroup] if isinstance(subgroup, str) else list(subgroup)
    model, source = _loaded_model(model)
    data = _loaded_data(data)
    manifest = getattr(model, "manifest", None) or {}
    classes = [str(c) for c in model.classes_]
    if positive not in classes:
        raise ValueError(f"the positive class {positive!r} is not one of the model's classes ({', '.join(classes)})")
    y_true, notes = _true_labels(data, classes)
    records = list(data.data) if hasattr(data, "data") else list(data.images)
    from ..model_selection import resolve_groups

    groups = resolve_groups(records, getattr(data, "groups", None))  # featbus's one grouping policy
    paths = list(getattr(data, "paths", None) or [getattr(r, "path", None) or f"image {i}"
                                                    for i, r in enumerate(records)])
    proba, out_of_domain = _predicted(model, records, len(classes), paths, notes, progress, passes, look)
    op = manifest.get("operating_point") if isinstance(manifest.get("operating_point"), dict) else None
    subgroups = {column: _subgroup_values(records, column) for column in columns}
    # which images the model or a trained part of it saw: left out of every figure
    seen_notes, seen_images = overlap(model, records)
    return ExternalValidation.from_predictions(
        y_true, proba, classes=classes, positive=positive, groups=groups,
        operating_point=op if op and op.get("positive") in classes else None, seen_images=seen_images,
        target_sensitivity=float(target_sensitivity), n_bootstrap=int(n_bootstrap), random_state=random_state,
        subgroups=subgroups, model_name=_model_name(model, manifest), model_source=source,
        groups_from=_groups_from(data), paths=[str(p) for p in paths],
        data_description=str(getattr(data, "DESCR", "") or f"{len(records)} images"),
        in_domain=_in_domain(manifest),
        out_of_domain=out_of_domain, seen=seen_notes, notes=notes + data_notes(data),
        promise=promise_of(model, manifest, positive, classes))


def validate_table(model, table, *, target_sensitivity: float = 0.9, n_bootstrap: int = 1000,
                   positive: str = "malignant", random_state: int | None = 0,
                   subgroup: str | Sequence[str] | None = None) -> ExternalValidation:
    """:func:`validate` on a feature table's rows (``featbus extract``'s, read by
    :func:`featbus.pipelines.tables.read_feature_table`) instead of images: the model's classifier scores
    the table's columns it was trained on (a missing one refused, named), and the same figures,
    intervals over the table's groups and verdict follow. No image is read, so there is no image check
    and no fingerprint: whether a row trained the model cannot be told (said in the notes).

    Parameters
    ----------
    model : FeatbusModel
    table : FeatureTable
        Labelled rows (an unlabelled row is refused).
    target_sensitivity, n_bootstrap, positive, random_state
        As in :func:`validate`.
    subgroup : str or sequence of str, optional
        As in :func:`validate`, of the table's columns: a data set's column ``featbus extract`` passed through
        (``table.extra``: a manifest's ``site``, BUS-BRA's ``Device``), or ``label`` or ``group``.

    Returns
    -------
    result : ExternalValidation
    """
    from ..model.domain import score_columns
    from ..pipelines.tables import ROWS_ALONE, TableError

    _check_parameters(target_sensitivity, n_bootstrap)
    manifest = getattr(model, "manifest", None) or {}
    classes = [str(c) for c in model.classes_]
    if positive not in classes:
        raise ValueError(f"the positive class {positive!r} is not one of the model's classes ({', '.join(classes)})")
    if getattr(model, "roi", None) is not None:
        raise ValueError("this model crops its images to a segmenter's lesion before the features, which a table's "
                         "rows cannot go through: validate it on the images")
    labels = np.asarray(table.labels, dtype=str)
    if (labels == "").any():
        i = int(np.flatnonzero(labels == "")[0])
        raise TableError(f"{str(table.path)!r}: row {i + 1} ({table.paths[i]}) has no label")
    y_true, notes = _known_labels(labels, classes, "the table")
    columns = [] if subgroup is None else [subgroup] if isinstance(subgroup, str) else list(subgroup)
    subgroups = {column: _table_subgroup_values(table, column) for column in columns}  # a bad one: before scoring
    X = table.columns([str(n) for n in model.features.get_feature_names_out()])
    proba = np.asarray(model.aligned(model.head.predict_proba(X)), dtype=float)
    out_of_domain = score_columns(getattr(model, "domain", None), X, range(len(X)), len(X)).get("out_of_domain")
    groups = np.asarray(table.groups) if table.groups is not None else np.arange(len(y_true))
    op = manifest.get("operating_point") if isinstance(manifest.get("operating_point"), dict) else None
    notes = [*notes, f"scored on the feature table {table.path.name}: no image was read, so featbus cannot tell "
                     "whether a row's image trained the model, nor check what kind of image it is"]
    return ExternalValidation.from_predictions(
        y_true, proba, classes=classes, positive=positive, groups=groups,
        operating_point=op if op and op.get("positive") in classes else None, seen_images=None,
        target_sensitivity=float(target_sensitivity), n_bootstrap=int(n_bootstrap), random_state=random_state,
        subgroups=subgroups, model_name=_model_name(model, manifest), model_source=None,
        groups_from=(table.groups_from or "near-duplicate groups (featbus.duplicate_groups)")
        if table.groups is not None else ROWS_ALONE, paths=[str(p) for p in table.paths],
        data_description=f"{len(y_true)} rows of the feature table {table.path.name}", in_domain=_in_domain(manifest),
        out_of_domain=out_of_domain, seen=[], notes=notes, promise=promise_of(model, manifest, positive, classes))


def _check_parameters(target_sensitivity, n_bootstrap) -> None:
    """Refuse a target sensitivity outside (0, 1] or a negative or non-integer bootstrap count."""
    if isinstance(target_sensitivity, bool) or not isinstance(target_sensitivity, numbers.Real) \
            or not 0 < target_sensitivity <= 1:
        raise ValueError(f"target_sensitivity must be a number in (0, 1], got {target_sensitivity!r}")
    check_n_bootstrap(n_bootstrap)


def _loaded_model(model) -> tuple[Any, str | None]:
    """The model to validate and the file it was read from (None for a model object)."""
    source = None
    if isinstance(model, (str, os.PathLike)):
        from ..model.loaded import load_model

        source = str(model)
        if not Path(source).is_file():
            raise FileNotFoundError(f"model {source!r}: no such file")
        model = load_model(source)
    if not (hasattr(model, "predict_proba") and hasattr(model, "classes_")):
        raise TypeError(f"model must be a FeatbusModel or a .featbus path, got {type(model).__name__}")
    return model, source


def _loaded_data(data):
    """The data set to validate on: a path read with :func:`featbus.load_data`, or a Bunch checked."""
    if isinstance(data, (str, os.PathLike)):
        from ..datasets import load_data

        if not Path(data).exists():
            raise FileNotFoundError(f"data {str(data)!r} does not exist")
        data = load_data(data)
    if not (hasattr(data, "target") and hasattr(data, "target_names") and (hasattr(data, "data")
                                                                           or hasattr(data, "images"))):
        raise TypeError(f"data must be a path or a data set Bunch, got {type(data).__name__}")
    return data


def _true_labels(data, classes: list[str]) -> tuple[np.ndarray, list[str]]:
    """Each image's class as the model spells it, and the notes on case-folded names; unknown classes refused."""
    y_true = np.asarray(data.target_names, dtype=str)[np.asarray(data.target, dtype=int)]
    if y_true.size == 0:
        raise ValueError("the data set holds no image")
    return _known_labels(y_true, classes, "the data set")


def _known_labels(labels: np.ndarray, classes: list[str], holder: str) -> tuple[np.ndarray, list[str]]:
    """``labels`` spelt as the model's ``classes`` (:func:`_case_folded`) and the notes on it; a class the model
    does not know refused, naming ``holder`` (what holds the labels)."""
    y_true, notes = _case_folded(labels, classes)
    unknown = sorted(set(y_true.tolist()) - set(classes), key=_natural_key)
    if unknown:
        raise ValueError(f"{holder} has class{'es' if len(unknown) > 1 else ''} "
                         f"{', '.join(repr(u) for u in unknown)}, which the model does not know (its classes: "
                         f"{', '.join(classes)})")
    return y_true, notes


def _predicted(model, records, n_classes: int, paths, notes: list, progress, passes=None,
               look=None) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's probabilities for every image and their out-of-domain scores (None without a
    reference): a FeatbusModel's :meth:`~featbus.FeatbusModel.look` (given, or computed here: the
    crops and features once, the probabilities, the scores and the image check read them), whose
    image check's words join ``notes``."""
    if look is None and hasattr(model, "head"):  # a Stages handed on by compare keeps its name
        look = model.look(records, progress=stages(progress, "validate"), passes=passes)
    if look is None:
        proba, out_of_domain = np.asarray(model.predict_proba(records), dtype=float), None
    else:
        if len(look) != len(records):
            raise ValueError(f"the look was computed from {len(look)} images, the data hold {len(records)}")
        proba, out_of_domain = np.asarray(look.proba, dtype=float), look.out_of_domain
        _name_other_kinds(look.kind, paths, notes)  # named; they stay in the figures
    if proba.shape != (len(records), n_classes):
        raise ValueError(f"the model returned probabilities of shape {proba.shape}; expected "
                         f"{(len(records), n_classes)}")
    return proba, out_of_domain


def _in_domain(manifest: dict) -> dict:
    """The model's own figures from its manifest (cross-validation, hold-out, training data) to compare with."""
    in_domain = {key: manifest[key] for key in ("cv", "holdout") if isinstance(manifest.get(key), dict)}
    if isinstance(manifest.get("data"), dict):
        in_domain["data"] = {k: manifest["data"].get(k) for k in ("n_images", "counts", "source")}
    return in_domain


def _name_other_kinds(check, paths, notes: list) -> None:
    """What kind of images these are against the model's training images (``check``:
    :func:`featbus.model.domain.check_images` of them): the words about the data join ``notes`` (lesion
    crops, sizes, unusual statistics) and the images not of the model's kind are named there. Labelled
    images stay in every figure (the figures then say how the model does on them)."""
    from ..model.domain import which_and_why

    if check is None:  # a model file made before featbus stored its training-image profile
        return
    words = list(check["words"])
    out = [bool(r) for r in check["reasons"]]
    if any(out):  # said once: the check's own line (naming them) gains where they stay
        stay = "they stay in every figure, as labelled images"
        said = next((i for i, w in enumerate(words) if w.startswith(f"{sum(out)} of {len(out)} images are not the "
                                                                     "kind")), None)
        if said is None:
            words.insert(0, f"{sum(out)} of these {len(out)} images are not the kind of image the model learnt from "
                            f"(predict gives them no class): {which_and_why(check['reasons'], paths)}; {stay}")
        else:
            words[said] += f"; {stay}"
    notes.extend(words)


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
