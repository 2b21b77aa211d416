"""Is this model any use? A verdict in plain words wherever a model is judged.

A cross-validated accuracy of 0.675 looks like a result until one notices that 0.675 of the
images are ``normal`` and the model calls every image ``normal``. :func:`assess` reads the
held-out predictions of a :class:`featbus.evaluation.Report` (cross-validation, a validation
split, an external test set) or of an :class:`featbus.evaluation.validation.ExternalValidation` and runs
three checks:

1. **against the trivial classifier on the same images**: the classifier that always answers
   the most common class of the judged images (scikit-learn's
   ``DummyClassifier(strategy="prior")``: its decisions are the majority class, its scores
   the class shares, which rank nothing). Its accuracy and balanced accuracy (the mean of the
   per-class sensitivities; ``1/K`` for it) are compared with the model's by a *paired*
   bootstrap: the same resampled groups (near-duplicate clusters, patients) score both, as
   :func:`featbus.evaluation.compare` does. The model beats the trivial answer when the 95 %
   interval of the difference lies above 0 for accuracy or for balanced accuracy (a screening
   model may trade accuracy for sensitivity on a rare class: its balanced accuracy then
   shows it). The sentence names the figure that carries the win ("on balanced accuracy, not
   on accuracy"), and when the balanced win rests on classes of fewer than
   :data:`SMALL_CLASS` images alone (BrEaST-Lesions-USG's 4 normal images) it says so and the
   verdict is at most "limited";
2. **a class almost never found**: a class whose sensitivity (recall: the share of its images
   that the model calls by its name) is under :data:`SENSITIVITY_FLOOR`;
3. **AUC no better than chance**: the macro one-vs-rest AUC (external validation: the
   positive class's AUC) whose 95 % interval reaches down to 0.5 (:data:`AUC_CHANCE`) or
   below: the scores do not rank the classes better than a coin.

The verdict is one of :data:`VERDICTS`:

``"useless"``
    It does not beat the trivial answer (check 1 fails), its AUC is no better than chance
    (check 3 fails), or it recognises at most one class (check 2 fails for every class but
    one: whatever its figures, it then answers one class, as the trivial classifier does):
    nothing shows that it learnt anything usable. The mammogram example of the README
    (mini-MIAS, normal vs abnormal, intensity + LBP) is such a model.
``"limited"``
    It beats the trivial answer, ranks better than chance and recognises at least two
    classes, but some class is almost never found (check 2), or, with three or more classes,
    one class's own AUC interval reaches 0.5, or its win over the trivial answer rests on
    classes of under :data:`SMALL_CLASS` images, or (several sites) it fails at a held-out
    site. It is useful for the other classes (or sites) only: the handcrafted BUSI recipe finds
    few normal images yet tells benign from malignant well.
``"useful"``
    Every check passed. Unless it was trained on several sites (:func:`with_sites`), it says
    nothing about other hospitals (:func:`featbus.validate` measures that), nor about a figure
    chosen on the folds that score it.

The sentences keep two questions apart: how the model *decides* (its decisions at its operating
point, checks 1 and 2) and how its *scores rank* (check 3). Decisions no better than the trivial
answer from scores that rank better than chance mean the threshold is what fails: the verdict
says that a new operating point may help (``featbus adapt MODEL DATA --labels``, or ``featbus
train --operating-point``). A number beside a threshold is shown with the decimals that decide
the rule ("sensitivity 0.198, under the 0.2 floor").

**Several sites.** A model trained on several sites carries a leave-one-site-out figure (each
site predicted by the recipe trained on the others: :class:`featbus.evaluation.sites.SiteReport`, a model
file's ``manifest["site_cv"]``). :func:`with_sites` reads it: a held-out site where the model
finds under :data:`SENSITIVITY_FLOOR` of the malignant images, or whose malignant AUC interval
reaches :data:`AUC_CHANCE`, is named, and the verdict is at most "limited" (it may work at the
sites it trained on, not at a hospital it never saw). ``featbus train`` and ``featbus
inspect`` (:func:`verdict_from_manifest`) apply it.

The checks are statistical: with few images the intervals are wide and a weak model is called
``"useless"`` because nothing shows that it is not; that is the intended reading ("no
evidence it beats always answering X"), not proof that it cannot.

``featbus train``, ``evaluate`` and ``validate`` print the verdict; with ``--strict`` any
verdict but ``"useful"`` ends the command with exit status :data:`STRICT_EXIT_CODE` (3), for
scripts and CI. The verdict of a trained model goes into its file (the manifest's
``cv["sanity"]``, :func:`verdict_to_manifest`); ``featbus inspect`` and the app show it, and
:func:`verdict_from_manifest` reads it back (or recomputes an approximate one from the stored
cross-validation figures of an older file).

Why these thresholds
--------------------
:data:`SENSITIVITY_FLOOR` = 0.2: a model that finds fewer than one image in five of a class
does worse on it than guessing the labels at random would for any problem of up to four
classes (a uniform random guess finds ``1/K`` of every class: 0.5, 0.33, 0.25), so "it
recognises that class" cannot be claimed. The floor is on the point value (the sentence gives
the counts, "it finds 9 of 111 normal images"); a class with so few images that this is noise
shows it in those counts.

:data:`AUC_CHANCE` = 0.5 and the 95 % level (:data:`CONFIDENCE`): the interval must exclude
chance, the usual reading of "the model discriminates"; an interval entirely below 0.5 (scores
ranked backwards) fails too.

:data:`N_BOOTSTRAP` = 200 resamples are drawn when the report holds no bootstrap of its own
(``n_bootstrap=0``): enough for the 2.5 % and 97.5 % percentiles to be stable to about 0.01 on
a few hundred images, and fast (a fraction of a second). Otherwise the report's own number of
resamples and seed are used, so the AUC interval is the one the report prints.

References
----------
Nadeau C, Bengio Y. Inference for the generalization error. Machine Learning 52:239-281 (2003),
doi:10.1023/A:1024068626366 (why folds' training sets overlap and what a paired test must do).

Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall (1993) (percentile
intervals; resampling clusters whole).

Examples
--------
>>> import numpy as np
>>> from sklearn.dummy import DummyClassifier
>>> from featbus.evaluation import evaluate
>>> from featbus.evaluation.sanity import assess
>>> rng = np.random.RandomState(0)
>>> y = np.array([0] * 60 + [1] * 30)
>>> X = rng.normal(size=(90, 3))                  # nothing to learn
>>> report = evaluate(DummyClassifier(), X, y, cv="stratified", n_bootstrap=100,
...                   target_names=["normal", "abnormal"])
>>> v = assess(report)
>>> v.verdict
'useless'
>>> print(v.reasons[0])  # doctest: +ELLIPSIS
its decisions are no better than always answering 'normal': accuracy 0.667 against 0.667 for that answer ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..metrics import CONFIDENCE, Predictions, bootstrap, check_n_bootstrap, interval_text, percentile_interval
from .figures import Coded, coded_figure

__all__ = ["Verdict", "assess", "with_sites", "verdict_to_manifest", "verdict_from_manifest", "verdict_prefix",
           "VERDICTS",
           "SENSITIVITY_FLOOR", "SMALL_CLASS", "AUC_CHANCE", "CONFIDENCE", "N_BOOTSTRAP", "STRICT_EXIT_CODE",
           "STRICT_HELP", "decisive", "strict_status"]

#: The verdicts, best first.
VERDICTS = ("useful", "limited", "useless")
#: A class whose sensitivity (share of its images called by its name) is under this is "almost
#: never found"; below the ``1/K`` a random guess reaches for up to four classes.
SENSITIVITY_FLOOR = 0.2
#: The AUC of scores that rank nothing; an AUC whose interval reaches it is "no better than chance".
AUC_CHANCE = 0.5
#: How far an AUC may fall below the model's own honest figure (its promise) before external
#: validation says it "does much worse", when the AUC has no interval; with one, "much worse" is
#: the promise above its whole 95 % interval (docs/guide/external_validation.rst).
AUC_MARGIN = 0.05
#: Bootstrap resamples drawn when the judged report has none of its own.
N_BOOTSTRAP = 200
#: Exit status of ``featbus train / evaluate / validate --strict`` when the verdict is not "useful".
STRICT_EXIT_CODE = 3
#: The help of ``--strict`` (one text for the three commands).
STRICT_HELP = ("exit with status 3 when the model-sanity verdict is not 'useful' (no better than always answering "
               "the most common class, a class almost never found, or an AUC no better than chance): for scripts "
               "and CI")
#: A class with fewer images than this is too small for its sensitivity to be evidence (one image
#: moves it by more than 0.1); a verdict whose win over the trivial answer rests on such classes
#: alone says so and is at most "limited".
SMALL_CLASS = 10
_MANIFEST_VERSION = 1
# the headline of a verdict stored without one (files written before the headline was stored)
_GENERIC_HEADLINES = {
    "useful": "its decisions beat always answering the most common class and find every class; its scores rank "
              "better than chance",
    "limited": "its decisions beat always answering the most common class, but not for every class",
    "useless": "its decisions do not beat always answering the most common class, or its scores rank no better "
               "than chance (the reasons say which)"}


@dataclass(frozen=True)
class Verdict:
    """Whether a model is any use, with the reasons in plain sentences (made by :func:`assess`).

    Parameters
    ----------
    verdict : {"useful", "limited", "useless"}
        See :mod:`featbus.evaluation.sanity`.
    reasons : tuple of str
        The findings, problems first, each a sentence a reader can act on ("its decisions are
        no better than always answering 'normal': ...", "it finds 9 of 111 normal images
        (sensitivity 0.08, under the 0.2 floor)").
    basis : str
        What was judged (``"duplicate-grouped 5-fold cross-validation, 625 images"``).
    trivial_class : str or None
        What the trivial classifier answers (the most common class of the judged images; its
        accuracy is that class's share of them: 0.500 on balanced two-class data).
    accuracy, trivial_accuracy : float
        Overall fraction correct of the model and of the trivial classifier.
    accuracy_gain : tuple of float
        Paired bootstrap 95 % interval of ``accuracy - trivial_accuracy`` (``nan`` without one).
    balanced_accuracy, trivial_balanced_accuracy : float
        Mean per-class sensitivity of each (the trivial one's is ``1/K``).
    balanced_gain : tuple of float
        Paired interval of their difference.
    found : dict
        Class -> ``(found, n)`` (images called by their class's name, images of the class;
        either may be ``None`` when only a sensitivity is known).
    sensitivity : dict
        Class -> sensitivity.
    ignored : tuple of str
        Classes under :data:`SENSITIVITY_FLOOR`.
    auc : float
        The AUC checked (``nan`` without scores).
    auc_interval : tuple of float
        Its 95 % interval.
    auc_of : str
        Which AUC (``"macro one-vs-rest AUC"``, ``"malignant-vs-rest AUC"``).
    n_bootstrap : int
        Resamples behind the intervals (0: point values only).
    sensitivity_floor : float, default=SENSITIVITY_FLOOR
    headline : str, default=""
        The verdict in one phrase: how it decides, then how its scores rank (and, with several
        sites, how it does at each held-out site); empty for a verdict stored before it existed.
    problems : int or None, default=None
        How many of the first ``reasons`` are problems (``None``: not known).
    small_classes : tuple of str, default=()
        Classes of under :data:`SMALL_CLASS` images that the whole win over the trivial answer
        rests on.
    sites_checked : bool, default=False
        Whether leave-one-site-out figures were taken into account (:func:`with_sites`).
    failing_sites : tuple of str, default=()
        The held-out sites where it found under the floor of the positive class, or ranked it
        no better than chance.

    Examples
    --------
    >>> from featbus.evaluation.sanity import Verdict
    >>> v = Verdict("useless", ("its decisions are no better than always answering 'normal'",), "an example")
    >>> v.useful, v.line()
    (False, "useless: its decisions are no better than always answering 'normal'")
    """

    verdict: str
    reasons: tuple = ()
    basis: str = ""
    trivial_class: str | None = None
    accuracy: float = math.nan
    trivial_accuracy: float = math.nan
    accuracy_gain: tuple = (math.nan, math.nan)
    balanced_accuracy: float = math.nan
    trivial_balanced_accuracy: float = math.nan
    balanced_gain: tuple = (math.nan, math.nan)
    found: dict = field(default_factory=dict)
    sensitivity: dict = field(default_factory=dict)
    ignored: tuple = ()
    auc: float = math.nan
    auc_interval: tuple = (math.nan, math.nan)
    auc_of: str = ""
    n_bootstrap: int = 0
    sensitivity_floor: float = SENSITIVITY_FLOOR
    headline: str = ""
    problems: int | None = None
    small_classes: tuple = ()
    sites_checked: bool = False
    failing_sites: tuple = ()

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def useful(self) -> bool:
        """``True`` only for the verdict ``"useful"`` (what ``--strict`` requires)."""
        return self.verdict == "useful"

    def line(self) -> str:
        """The verdict and its first reason on one line."""
        return self.verdict + (f": {self.reasons[0]}" if self.reasons else "")

    def summary(self, prefix: str = "verdict") -> str:
        """The verdict in plain words: a headline, then one bullet per reason.

        Parameters
        ----------
        prefix : str, default="verdict"
            What the headline starts with (``"verdict (held-out images)"``).

        Returns
        -------
        text : str
        """
        head = self.headline or _GENERIC_HEADLINES[self.verdict]
        lines = [f"{prefix}: {self.verdict} -- {head}" + (f" ({self.basis})" if self.basis else "")]
        lines += [f"  * {r}" for r in self.reasons]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------- the computation

def _majority(yt: np.ndarray, k: int) -> int:
    """The most common class index (the first on a tie), as DummyClassifier(strategy="prior")."""
    return int(np.argmax(np.bincount(yt, minlength=k)))


def _accuracies(yt: np.ndarray, yp: np.ndarray, k: int) -> tuple[float, float]:
    """(accuracy, balanced accuracy over the classes present in ``yt``), from the figure table."""
    if yt.size == 0:
        return math.nan, math.nan
    coded = Coded(yt, yp, None, k, None)
    # a class absent from yt is undefined (nan) and left out of the mean, not counted as 0
    return coded_figure(coded, "accuracy"), coded_figure(coded, "balanced_accuracy")


def _balanced_over(yt: np.ndarray, yp: np.ndarray, classes: list[int]) -> float:
    """Balanced accuracy over ``classes`` only (the mean of their sensitivities present in ``yt``)."""
    coded = Coded(yt, yp, None, max([*classes, *yt.tolist(), *yp.tolist(), 0]) + 1, None)
    sens = [coded_figure(coded, "sensitivity", c) for c in classes]
    sens = [s for s in sens if not math.isnan(s)]  # a class absent from yt is left out, not counted as 0
    return float(np.mean(sens)) if sens else math.nan


def _auc_columns(yt: np.ndarray, scores: np.ndarray, columns: list[int]) -> np.ndarray:
    coded = Coded(yt, yt, scores, scores.shape[1], None)
    return np.array([coded_figure(coded, "auc", c) for c in columns], dtype=float)


def _judge(*, yt: np.ndarray, yp: np.ndarray, trivial: np.ndarray, names: list[str], scores: np.ndarray | None,
           auc_columns: list[int], macro_auc: bool, auc_intervals: dict | None, groups, n_bootstrap: int,
           random_state, basis: str, auc_label: str, present: list[int]) -> Verdict:
    """The three checks on class indices ``yt`` / ``yp`` and the trivial predictions ``trivial``.

    ``auc_columns``: the score columns whose one-vs-rest AUC is checked (their mean when
    ``macro_auc``, the one column otherwise); ``auc_intervals``: column (or ``"macro"``) ->
    interval already computed by the report (then not recomputed)."""
    k = len(names)
    acc, bal = _accuracies(yt, yp, k)
    t_acc, t_bal = _accuracies(yt, trivial, k)
    have_scores = scores is not None and len(auc_columns) > 0
    aucs = _auc_columns(yt, scores, auc_columns) if have_scores else np.array([])
    need_auc = have_scores and not auc_intervals
    n_true = np.bincount(yt, minlength=k)
    # classes too small for their sensitivity to be evidence: does the balanced win hold without them?
    small = [c for c in present if n_true[c] < SMALL_CLASS]
    large = [c for c in present if c not in small]
    check_small = bool(small) and len(large) >= 1
    draws = np.empty((0, 3))
    if n_bootstrap:
        def gains(idx):  # paired: the model and the trivial answer on the same resample
            a, b = _accuracies(yt[idx], yp[idx], k)
            ta, tb = _accuracies(yt[idx], trivial[idx], k)
            big = (_balanced_over(yt[idx], yp[idx], large) - _balanced_over(yt[idx], trivial[idx], large)
                   if check_small else math.nan)
            aucs = _auc_columns(yt[idx], scores[idx], auc_columns) if need_auc else []
            return np.array([a - ta, b - tb, big, *aucs], dtype=float)

        draws = bootstrap(gains, np.arange(yt.size), groups=groups, n_bootstrap=n_bootstrap,
                          random_state=random_state).draws
    acc_gain = percentile_interval(draws[:, 0]) if n_bootstrap else (math.nan, math.nan)
    bal_gain = percentile_interval(draws[:, 1]) if n_bootstrap else (math.nan, math.nan)
    without_small = None
    if check_small:
        point = _balanced_over(yt, yp, large) - _balanced_over(yt, trivial, large)
        without_small = {"classes": {names[c]: (int(np.sum((yt == c) & (yp == c))), int(n_true[c])) for c in small},
                         "balanced": _balanced_over(yt, yp, large), "trivial": _balanced_over(yt, trivial, large),
                         "gain": (percentile_interval(draws[:, 2]) if n_bootstrap else (math.nan, math.nan)),
                         "point": point}
    boot_auc = draws[:, 3:]
    per_auc: dict[int, tuple[float, float]] = {}
    if have_scores:
        if auc_intervals:
            per_auc = {c: tuple(auc_intervals.get(c, (math.nan, math.nan))) for c in auc_columns}
            macro_ci = tuple(auc_intervals.get("macro", (math.nan, math.nan)))
        elif n_bootstrap:
            boot = np.asarray(boot_auc, dtype=float)
            per_auc = {c: percentile_interval(boot[:, j]) for j, c in enumerate(auc_columns)}
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(boot)
                macro_draws = np.where(ok.any(1), np.nansum(np.where(ok, boot, 0), 1) / np.maximum(ok.sum(1), 1),
                                       np.nan)
            macro_ci = percentile_interval(macro_draws)
        else:
            per_auc = {c: (math.nan, math.nan) for c in auc_columns}
            macro_ci = (math.nan, math.nan)
        finite = aucs[np.isfinite(aucs)]
        auc = float(finite.mean()) if macro_auc and finite.size else (float(aucs[0]) if aucs.size else math.nan)
        auc_ci = macro_ci if macro_auc else per_auc.get(auc_columns[0], (math.nan, math.nan))
    else:
        auc, auc_ci = math.nan, (math.nan, math.nan)

    hits = np.bincount(yt[yp == yt], minlength=k)
    found = {names[c]: (int(hits[c]), int(n_true[c])) for c in present}
    coded = Coded(yt, yp, None, k, None)
    sens = {names[c]: coded_figure(coded, "sensitivity", c) for c in present if n_true[c]}
    common = names[_majority(trivial, k)] if trivial.size else None
    return _decide(basis=basis, trivial_class=common, acc=acc, t_acc=t_acc, acc_gain=acc_gain, bal=bal, t_bal=t_bal,
                   bal_gain=bal_gain, found=found, sens=sens, auc=auc, auc_ci=auc_ci, auc_label=auc_label,
                   class_aucs=({names[c]: (float(aucs[j]), per_auc.get(c, (math.nan, math.nan)))
                                for j, c in enumerate(auc_columns)} if have_scores and macro_auc and k > 2 else {}),
                   n_bootstrap=n_bootstrap, paired=True, without_small=without_small)


def _below_chance(value: float, ci: tuple) -> bool | None:
    """Whether an AUC is no better than chance: its interval reaches 0.5 (point value without
    one); ``None`` when it is undefined."""
    if value is None or not np.isfinite(value):
        return None
    lo = ci[0] if ci is not None and len(ci) == 2 and ci[0] is not None and np.isfinite(ci[0]) else None
    return bool((lo if lo is not None else value) <= AUC_CHANCE)


def decisive(x: float, ref: float, digits: int = 2, *, signed: bool = False) -> str:
    """``x`` with the fewest decimals (``digits`` to 4) that show on which side of ``ref`` it lies:
    a sensitivity of 0.198 beside the 0.2 floor is "0.198", never "0.20"."""
    d = digits
    while d < 4 and x != ref and round(x, d) == round(ref, d):
        d += 1
    return f"{x:{'+' if signed else ''}.{d}f}"


def _interval(ci: tuple, ref: float | None = None, *, signed: bool = False, bound: int = 0) -> str:
    """``" [low, high]"`` (:func:`featbus.metrics.interval_text`); the bound a rule compares with
    ``ref`` (``bound``: 0 the low one, 1 the high one) with the decimals that decide it."""
    text = interval_text(ci, signed=signed)
    if not text or ref is None:
        return text
    parts = [f"{c:{'+' if signed else ''}.2f}" for c in ci]
    parts[bound] = decisive(float(ci[bound]), ref, signed=signed)
    return f" [{parts[0]}, {parts[1]}]"


def _quoted(names) -> str:
    names = [f"'{n}'" for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


#: What the verdict advises when the scores rank but the decisions do not beat the trivial answer
#: (the operating point does not suit the images), including what to change for a model that
#: itself came from ``featbus adapt``.
OPERATING_POINT_ADVICE = ("what would help: its scores rank better than chance although its decisions do not beat "
                          "that answer, so the rule it decides by (its operating point) does not suit these images; "
                          "a new operating point may: featbus adapt MODEL DATA --labels -o ADAPTED chooses one on "
                          "labelled images of a site, featbus train --operating-point sensitivity=S at training; "
                          "if MODEL itself came from featbus adapt (featbus inspect MODEL says so), adapting it again "
                          "on the same few patients gives the same point: adapt the model it came from on more "
                          "labelled patients (adapt prints the spread to expect from their number), or on the site's "
                          "unlabelled images without --labels (score alignment)")


def _ranking_reasons(auc, auc_ci, auc_label, class_aucs, reasons_bad: list, reasons_ok: list) -> tuple:
    """How the scores rank, against chance (the AUC, and each class's own): its sentences appended to
    ``reasons_bad`` / ``reasons_ok``; returns ``(chance, weak_classes)``."""
    chance = _below_chance(auc, auc_ci)
    has_ci = auc_ci[0] is not None and np.isfinite(auc_ci[0])
    if chance is True:
        if has_ci:
            below = auc_ci[1] < AUC_CHANCE
            how = f"lies below {AUC_CHANCE:g}" if below else f"covers {AUC_CHANCE:g}"
            ci_text = _interval(auc_ci, AUC_CHANCE, bound=1 if below else 0)
        else:
            how, ci_text = f"is at or below {AUC_CHANCE:g} (point value: no bootstrap)", ""
        reasons_bad.append(f"its scores rank no better than chance: {auc_label} {auc:.3f}{ci_text} {how}")
    elif chance is False:
        how = f"lies above {AUC_CHANCE:g}" if has_ci else f"is above {AUC_CHANCE:g} (point value: no bootstrap)"
        reasons_ok.append(f"its scores rank better than chance: {auc_label} {auc:.3f}"
                          f"{_interval(auc_ci, AUC_CHANCE)} {how}")
    weak_classes = []
    for name, (value, ci) in class_aucs.items():
        if _below_chance(value, ci) is True:
            weak_classes.append(name)
            reasons_bad.append(f"its scores do not tell '{name}' from the other classes better than chance: "
                               f"{name}-vs-rest AUC {value:.3f}{_interval(ci, AUC_CHANCE)}")

    return chance, weak_classes


def _beats(gain_ci, point) -> bool:
    """Whether a gain is above 0: the lower bound of its interval, or its point value without one."""
    if gain_ci[0] is not None and np.isfinite(gain_ci[0]):
        return bool(gain_ci[0] > 0)
    return bool(np.isfinite(point) and point > 0)


def _decision_reasons(c, *, acc, t_acc, acc_gain, bal, t_bal, bal_gain, paired: bool, without_small: dict | None,
                      reasons_bad: list, reasons_ok: list) -> tuple[bool, bool, dict | None]:
    """How the decisions do against always answering ``c``, on accuracy and on balanced accuracy: its
    sentence appended to ``reasons_bad`` / ``reasons_ok``; returns ``(acc_win, bal_win, carried)``,
    ``carried`` the small classes the whole win rests on (None if none)."""
    with_ci = acc_gain[0] is not None and np.isfinite(acc_gain[0])
    acc_win, bal_win = _beats(acc_gain, acc - t_acc), _beats(bal_gain, bal - t_bal)
    better = acc_win or bal_win
    what = "difference" if paired else "unpaired difference"

    def against(value, ref, gain_ci, answer=""):  # "0.555 against 0.602 [for that answer] (difference -0.047 [..])"
        return (f"{value:.3f} against {ref:.3f}{answer} ({what} {decisive(value - ref, 0.0, 3, signed=True)}"
                f"{_interval(gain_ci, 0.0, signed=True)})")

    acc_text = f"accuracy {against(acc, t_acc, acc_gain, ' for that answer')}"
    bal_text = f"balanced accuracy {against(bal, t_bal, bal_gain)}"
    bal_first = ("balanced accuracy (the mean of the classes' sensitivities) "
                 f"{against(bal, t_bal, bal_gain, ' for that answer')}")
    acc_second = f"accuracy {against(acc, t_acc, acc_gain)}"
    note = "" if with_ci else " (point values: no bootstrap)"
    carried = None  # the small classes the whole win rests on
    if better and not acc_win and without_small and not _beats(without_small["gain"], without_small["point"]):
        carried = without_small["classes"]
    if c is not None and np.isfinite(acc):
        if carried:
            small = " and ".join(f"{n} {name}" for name, (_, n) in carried.items())
            got = ", ".join(f"{k} of {n}" for k, n in carried.values())
            ws = without_small
            reasons_bad.append(
                f"its decisions beat always answering '{c}' only on balanced accuracy, and only through its {small} "
                f"images (it finds {got}; a class of under {SMALL_CLASS} images is too few to be evidence): without "
                f"them, balanced accuracy {against(ws['balanced'], ws['trivial'], ws['gain'], ' for that answer')}; "
                f"with them, {bal_text}; {acc_second}{note}")
        elif acc_win and bal_win:
            reasons_ok.append(f"its decisions beat always answering '{c}' on accuracy and on balanced accuracy: "
                              f"{acc_text}, {bal_text}{note}")
        elif bal_win:
            reasons_ok.append(f"its decisions beat always answering '{c}' on balanced accuracy, not on accuracy: "
                              f"{bal_first}; {acc_second}{note}")
        elif acc_win:
            reasons_ok.append(f"its decisions beat always answering '{c}' on accuracy, not on balanced accuracy: "
                              f"{acc_text}; {bal_text}{note}")
        else:
            reasons_bad.append(f"its decisions are no better than always answering '{c}': {acc_text}, {bal_text}"
                               f"{note}")
    return acc_win, bal_win, carried


def _sensitivity_reasons(sens: dict, found: dict, reasons_bad: list, reasons_ok: list) -> tuple[list, list, bool]:
    """The classes the decisions almost never find (sensitivity under :data:`SENSITIVITY_FLOOR`): the
    sentences appended to ``reasons_bad`` / ``reasons_ok``; returns ``(ignored, recognised, alone)``,
    ``alone`` true where the decisions recognise at most one class of several."""
    floor = SENSITIVITY_FLOOR
    ignored = []
    at = len(reasons_bad)  # "it recognises only ..." goes before the classes it sums up
    for name, s in sens.items():
        if s < floor:
            ignored.append(name)
            k, n = found.get(name, (None, None))
            counts = f"{k} of {n}" if k is not None and n is not None else f"{100 * s:.0f} % of the"
            reasons_bad.append(f"it finds {counts} {name} images (sensitivity {decisive(s, floor)}, under the "
                               f"{floor:g} floor): it {'never' if s == 0 else 'almost never'} recognises '{name}'")
    if sens and not ignored:
        low = min(sens, key=sens.get)
        reasons_ok.append(f"it finds at least {floor:g} of every class's images (lowest sensitivity "
                          f"{decisive(sens[low], floor)}, {low})")
    recognised = [name for name in sens if name not in ignored]
    alone = len(sens) >= 2 and len(recognised) <= 1  # in practice the trivial answer
    if alone:
        reasons_bad.insert(at, f"it recognises only '{recognised[0]}' (every other class under the {floor:g} floor): "
                              f"in practice it answers '{recognised[0]}' whatever the image"
                           if recognised else f"it recognises no class (every sensitivity under the {floor:g} floor)")
    return ignored, recognised, alone


def _decide(*, basis, trivial_class, acc, t_acc, acc_gain, bal, t_bal, bal_gain, found, sens, auc, auc_ci,
            auc_label, class_aucs, n_bootstrap, paired: bool, without_small: dict | None = None) -> Verdict:
    """The verdict and its sentences from the figures (shared by :func:`assess` and the
    manifest's stored figures).

    Two things are judged apart and said apart: how the model *decides* (its decisions at its
    operating point, against always answering the most common class) and how its *scores rank*
    (the AUC against chance). Every sentence names the figure that carries it, with the decimals
    that decide its rule. ``without_small``: the balanced-accuracy comparison over the classes of
    at least :data:`SMALL_CLASS` images (:func:`_judge`), to say when a few images carry the win."""
    reasons_bad, reasons_ok = [], []
    c = trivial_class
    acc_win, bal_win, carried = _decision_reasons(
        c, acc=acc, t_acc=t_acc, acc_gain=acc_gain, bal=bal, t_bal=t_bal, bal_gain=bal_gain, paired=paired,
        without_small=without_small, reasons_bad=reasons_bad, reasons_ok=reasons_ok)
    better = acc_win or bal_win
    at = len(reasons_bad)  # "it recognises only ..." goes before the classes it sums up
    ignored, recognised, alone = _sensitivity_reasons(sens, found, reasons_bad, reasons_ok)

    chance, weak_classes = _ranking_reasons(auc, auc_ci, auc_label, class_aucs, reasons_bad, reasons_ok)
    useless_decisions = not better or alone
    if useless_decisions and chance is False:  # the ranking is there; the threshold is what fails
        reasons_bad.insert(at + 1 if alone else at,
                           OPERATING_POINT_ADVICE)
    if useless_decisions or chance is True:
        verdict = "useless"
    elif ignored or weak_classes or carried:
        verdict = "limited"
    else:
        verdict = "useful"

    # the headline: how it decides, then how its scores rank
    if c is None or not np.isfinite(acc):
        decides = ""
    elif alone:
        decides = (f"in practice its decisions answer '{recognised[0]}' whatever the image" if recognised else
                   "its decisions recognise no class")
    elif not better:
        decides = f"its decisions are no better than always answering '{c}'"
    elif carried:
        decides = (f"its decisions beat always answering '{c}' only through its "
                   + " and ".join(f"{n} {name}" for name, (_, n) in carried.items()) + " images")
    else:
        on = ("accuracy and balanced accuracy" if acc_win and bal_win else
              "balanced accuracy, not accuracy" if bal_win else "accuracy, not balanced accuracy")
        decides = f"its decisions beat always answering '{c}' on {on}"
        if ignored:
            decides += f", but almost never find {_quoted(ignored)}"
        elif sens:
            decides += ", and find every class"
    if chance is None:
        ranks = ""
    elif chance:
        ranks = f"its scores rank no better than chance: {auc_label} {auc:.3f}"
    else:
        ranks = f"its scores rank better than chance: {auc_label} {auc:.3f}" + (
            f", not for {_quoted(weak_classes)}" if weak_classes else "")
        if useless_decisions:
            ranks += "; a new operating point may help"
    headline = "; ".join(x for x in (decides, ranks) if x)
    return Verdict(verdict=verdict, reasons=tuple(reasons_bad + reasons_ok), basis=basis,
                   trivial_class=trivial_class, accuracy=acc, trivial_accuracy=t_acc, accuracy_gain=tuple(acc_gain),
                   balanced_accuracy=bal, trivial_balanced_accuracy=t_bal, balanced_gain=tuple(bal_gain),
                   found=dict(found), sensitivity=dict(sens), ignored=tuple(ignored), auc=auc,
                   auc_interval=tuple(auc_ci), auc_of=auc_label, n_bootstrap=int(n_bootstrap), headline=headline,
                   problems=len(reasons_bad), small_classes=tuple(carried or ()))


def _basis(view: Predictions) -> str:
    cv = str(view.source)
    n = len(view.y_true)
    if view.positive is not None:
        return f"{cv}, {n} images"
    if "external" in cv or cv.startswith("held-out"):
        return f"{cv}, {n} images"
    if "validation split" in cv:
        return cv
    head, _, origin = cv.partition(" (")  # "patient-grouped 5-fold (from the 'Case' column of ...)"
    return f"{head} cross-validation" + (f" ({origin}" if origin else "") + f", {n} images"


def _assess_view(view: Predictions, n_bootstrap: int | None, random_state) -> Verdict:
    """The verdict of one view of held-out predictions: cross-validation folds or one test set
    (the trivial answer: the judged images' own most common class), and with a
    ``positive`` class (external validation) that class's AUC alone."""
    yt, yp = view.codes()
    k = len(view.classes)
    # the trivial answer: the most common class of the judged images themselves. A training
    # fold's majority is, on balanced data, the class its held-out fold lacks (held out of one
    # class leaves the other the majority), which scores far under 1/K on the folds it answers
    # (0.141 on 50/50 data); always answering one class scores its share of the judged images.
    trivial = np.full_like(yt, _majority(yt, k)) if yt.size else np.empty_like(yt)
    names = [str(n) for n in view.class_names]
    B = (view.n_bootstrap if view.n_bootstrap else N_BOOTSTRAP) if n_bootstrap is None else int(n_bootstrap)
    auc_ci = view.auc_intervals if n_bootstrap is None and view.n_bootstrap > 0 else None
    present = [c for c in range(k) if np.any(yt == c)]
    if view.positive is not None:
        pos = view.classes.tolist().index(view.positive)
        columns, macro, label = ([pos] if pos in present and len(present) > 1 else []), False, \
            f"{view.positive}-vs-rest AUC"
    else:
        # a two-class AUC is the same for both classes: check one; with more, the macro AUC and each class's
        columns = present if k > 2 else [present[-1]] if len(present) == 2 else []
        macro, label = k > 2, "AUC" if k == 2 else "macro one-vs-rest AUC"
    return _judge(yt=yt, yp=yp, trivial=trivial, names=names, scores=view.scores, auc_columns=columns,
                  macro_auc=macro, auc_intervals=auc_ci, groups=view.groups, n_bootstrap=B,
                  random_state=view.random_state if random_state is None else random_state,
                  basis=_basis(view), auc_label=label, present=present)


def assess(result: Any, *, n_bootstrap: int | None = None, random_state: int | None = None) -> Verdict:
    """The model-sanity verdict of a judged model: trivial baseline, classes never found, AUC ~ 0.5.

    See :mod:`featbus.evaluation.sanity` for the checks, the verdicts and why the thresholds are what
    they are.

    Parameters
    ----------
    result : Report, ExternalValidation or Predictions
        Held-out predictions, read through their ``held_out`` view
        (:class:`featbus.metrics.Predictions`): :func:`featbus.evaluate` (cross-validation; the trivial
        classifier answers the most common class of each fold's training images),
        :func:`featbus.evaluation.evaluate_external` or a network's validation split (one
        test set: its own most common class), or :func:`featbus.validate` (the model's own
        decisions, its operating point included; the AUC checked is the positive class's).
    n_bootstrap : int, optional
        Resamples of the paired bootstrap (0: point values only). Default: the result's own
        number (its seed too, so the AUC interval is the one it prints), or
        :data:`N_BOOTSTRAP` when it has none.
    random_state : int, optional
        Seed of the bootstrap; default the result's.

    Returns
    -------
    verdict : Verdict

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.evaluation import evaluate
    >>> from featbus.evaluation.sanity import assess
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 2], 30)
    >>> X = rng.normal(size=(90, 2)) + 3 * np.eye(3)[y, :2]
    >>> v = assess(evaluate(LogisticRegression(), X, y, cv="stratified", n_bootstrap=100))
    >>> v.verdict, v.trivial_class
    ('useful', '0')
    >>> print(v.summary())  # doctest: +ELLIPSIS
    verdict: useful -- its decisions beat always answering '0' on accuracy and balanced accuracy, and find every ...
      * its decisions beat always answering '0' on accuracy and on balanced accuracy: accuracy 0.889 against 0.333 ...
      * it finds at least 0.2 of every class's images (lowest sensitivity 0.87, 2)
      * its scores rank better than chance: macro one-vs-rest AUC 0.981 [0.96, 0.99] lies above 0.5
    """
    check_n_bootstrap(n_bootstrap, allow_none=True)
    view = result if isinstance(result, Predictions) else getattr(result, "held_out", None)
    if not isinstance(view, Predictions):
        raise TypeError("assess needs a featbus Report (featbus.evaluate) or an ExternalValidation (featbus.validate), "
                        f"got {type(result).__name__}")
    return _assess_view(view, n_bootstrap, random_state)


# --------------------------------------------------------------------------- the model file

def _num(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _pair(ci) -> list:
    ci = list(ci) if isinstance(ci, (list, tuple)) and len(ci) == 2 else [None, None]
    return [_num(ci[0]), _num(ci[1])]


def verdict_to_manifest(verdict: Verdict) -> dict:
    """The verdict as JSON-ready values for a model file's manifest (``manifest["cv"]["sanity"]``).

    Parameters
    ----------
    verdict : Verdict

    Returns
    -------
    entry : dict
        ``version`` (int, 1), ``verdict`` (one of :data:`VERDICTS`), ``reasons`` (list of
        str), ``basis`` (str), ``trivial_class`` (str or null), ``sensitivity_floor``,
        ``accuracy``, ``trivial_accuracy``, ``balanced_accuracy``,
        ``trivial_balanced_accuracy``, ``auc`` (number or null), ``accuracy_gain``,
        ``balanced_gain``, ``auc_interval`` (``[low, high]``, numbers or null), ``auc_of``
        (str), ``found`` (class -> ``[found, n]``), ``ignored`` (list of str), ``n_bootstrap``
        (int).

    Examples
    --------
    >>> from featbus.evaluation.sanity import Verdict, verdict_from_manifest, verdict_to_manifest
    >>> entry = verdict_to_manifest(Verdict("limited", ("it finds 9 of 111 normal images",), "an example"))
    >>> entry["verdict"], entry["reasons"]
    ('limited', ['it finds 9 of 111 normal images'])
    >>> verdict_from_manifest({"cv": {"sanity": entry}}).verdict
    'limited'
    """
    v = verdict
    return {"version": _MANIFEST_VERSION, "verdict": v.verdict, "reasons": [str(r) for r in v.reasons],
            "basis": str(v.basis), "trivial_class": None if v.trivial_class is None else str(v.trivial_class),
            "sensitivity_floor": float(v.sensitivity_floor),
            "accuracy": _num(v.accuracy), "trivial_accuracy": _num(v.trivial_accuracy),
            "balanced_accuracy": _num(v.balanced_accuracy),
            "trivial_balanced_accuracy": _num(v.trivial_balanced_accuracy),
            "accuracy_gain": _pair(v.accuracy_gain), "balanced_gain": _pair(v.balanced_gain),
            "auc": _num(v.auc), "auc_interval": _pair(v.auc_interval), "auc_of": str(v.auc_of),
            "found": {str(c): [None if x is None else int(x) for x in kn] for c, kn in v.found.items()},
            "ignored": [str(c) for c in v.ignored], "n_bootstrap": int(v.n_bootstrap),
            "headline": str(v.headline), "problems": v.problems, "small_classes": [str(c) for c in v.small_classes],
            "sites_checked": bool(v.sites_checked), "failing_sites": [str(c) for c in v.failing_sites]}


def _from_entry(entry: dict) -> Verdict | None:
    """A stored verdict read back; ``None`` when it is not one this version can read."""
    if not isinstance(entry, dict) or entry.get("verdict") not in VERDICTS:
        return None
    reasons = entry.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        return None

    def nan(x):
        x = _num(x)
        return math.nan if x is None else x

    found = entry.get("found") if isinstance(entry.get("found"), dict) else {}
    found = {str(c): tuple(int(x) if isinstance(x, int) and not isinstance(x, bool) else None for x in kn)
             for c, kn in found.items() if isinstance(kn, list) and len(kn) == 2}
    sens = {c: k / n for c, (k, n) in found.items() if k is not None and n}
    ignored = entry.get("ignored") if isinstance(entry.get("ignored"), list) else []
    floor = _num(entry.get("sensitivity_floor"))
    problems = entry.get("problems")

    def strings(key):
        value = entry.get(key)
        return tuple(str(x) for x in value if isinstance(x, str)) if isinstance(value, list) else ()

    return Verdict(
        verdict=entry["verdict"], reasons=tuple(reasons), basis=str(entry.get("basis") or ""),
        trivial_class=entry.get("trivial_class") if isinstance(entry.get("trivial_class"), str) else None,
        accuracy=nan(entry.get("accuracy")), trivial_accuracy=nan(entry.get("trivial_accuracy")),
        accuracy_gain=tuple(nan(x) for x in _pair(entry.get("accuracy_gain"))),
        balanced_accuracy=nan(entry.get("balanced_accuracy")),
        trivial_balanced_accuracy=nan(entry.get("trivial_balanced_accuracy")),
        balanced_gain=tuple(nan(x) for x in _pair(entry.get("balanced_gain"))),
        found=found, sensitivity=sens, ignored=tuple(str(c) for c in ignored if isinstance(c, str)),
        auc=nan(entry.get("auc")), auc_interval=tuple(nan(x) for x in _pair(entry.get("auc_interval"))),
        auc_of=str(entry.get("auc_of") or ""),
        n_bootstrap=entry["n_bootstrap"] if isinstance(entry.get("n_bootstrap"), int) else 0,
        sensitivity_floor=SENSITIVITY_FLOOR if floor is None else floor,
        headline=entry["headline"] if isinstance(entry.get("headline"), str) else "",
        problems=problems if isinstance(problems, int) and not isinstance(problems, bool) else None,
        small_classes=strings("small_classes"), sites_checked=entry.get("sites_checked") is True,
        failing_sites=strings("failing_sites"))


#: What a verdict's line says when a trained part of the model (a shipped backbone, a segmenter)
#: saw the images its figures are on.
SEEN_PREFIX = "verdict (optimistic: on images a trained part of the model saw, not evidence that it works on new ones)"


def verdict_prefix(manifest: dict) -> str:
    """How a model file's verdict line starts: ``"verdict"``, or :data:`SEEN_PREFIX` when its
    cross-validation caveat says a trained part saw the images its figures are on (a figure on
    seen images says so on the same line).

    Examples
    --------
    >>> from featbus.evaluation.sanity import verdict_prefix
    >>> verdict_prefix({"cv": {"caveat": None}})
    'verdict'
    >>> verdict_prefix({"cv": {"caveat": "optimistic: 9 of these 9 images trained the backbone breast-us"}})[:21]
    'verdict (optimistic: '
    """
    caveat = str(((manifest or {}).get("cv") or {}).get("caveat") or "")
    return SEEN_PREFIX if "optimistic" in caveat else "verdict"


def verdict_from_manifest(manifest: dict) -> Verdict | None:
    """The verdict a model file holds, or one recomputed from the figures an older file stores.

    A file written since the verdict exists holds it in ``manifest["cv"]["sanity"]``
    (:func:`verdict_to_manifest`); it is returned as stored. An older file's ``cv`` section
    holds the accuracy and the macro sensitivity with their intervals, each class's
    sensitivity (``per_class_accuracy``) and AUCs, and ``data`` the class counts: the verdict
    is then recomputed from those, comparing the accuracy's interval with the majority class's
    share and the macro sensitivity's with ``1/K`` (unpaired, so a little less sharp than
    :func:`assess`; the basis says so).

    Parameters
    ----------
    manifest : dict
        A model file's manifest (:func:`featbus.model.read_manifest`, ``model.manifest``).

    Returns
    -------
    verdict : Verdict or None
        ``None`` when the file holds neither a verdict nor cross-validation figures (a model
        trained without cross-validation).

    Examples
    --------
    >>> from featbus.evaluation.sanity import verdict_from_manifest
    >>> old = {"classes": ["normal", "abnormal"], "data": {"counts": {"normal": 81, "abnormal": 39}},
    ...        "cv": {"cv": "duplicate-grouped 5-fold", "accuracy": {"value": 0.675, "ci": [0.6, 0.75]},
    ...               "sensitivity": {"value": 0.5, "ci": [0.5, 0.5]}, "auc": {"value": 0.45, "ci": [0.35, 0.56]},
    ...               "per_class_accuracy": {"normal": 1.0, "abnormal": 0.0}}}
    >>> v = verdict_from_manifest(old)
    >>> v.verdict, v.ignored
    ('useless', ('abnormal',))
    >>> verdict_from_manifest({"classes": ["a", "b"]}) is None
    True
    """
    if not isinstance(manifest, dict):
        return None
    cv = manifest.get("cv")
    if not isinstance(cv, dict):
        return None
    verdict = _from_entry(cv.get("sanity"))
    if verdict is None:
        verdict = _from_figures(manifest, cv)
    return None if verdict is None else with_sites(verdict, manifest.get("site_cv"))


def with_sites(verdict: Verdict, site_cv: Any) -> Verdict:
    """The verdict of a model trained on several sites, its leave-one-site-out figures taken into account.

    The pooled figures (cross-validation across every site's images, or a validation split) say
    how the model does on images like its training images; leaving each site out (each site
    predicted by the recipe trained on the other sites, :func:`featbus.evaluation.sites.leave_one_site_out`)
    says how it does at a hospital it never saw. A held-out site where the model finds under
    :data:`SENSITIVITY_FLOOR` of the positive class's images (malignant), or where its AUC
    interval for that class reaches :data:`AUC_CHANCE`, is named in a sentence, and the verdict
    is then at most "limited": useful, if at all, at the sites it trained on.

    Parameters
    ----------
    verdict : Verdict
        The pooled verdict (:func:`assess`, :func:`verdict_from_manifest`).
    site_cv : SiteReport, dict or None
        :class:`featbus.evaluation.sites.SiteReport` or its :meth:`~featbus.evaluation.sites.SiteReport.to_dict` (a
        model file's ``manifest["site_cv"]``). ``None``, or figures without the positive class:
        the verdict is returned unchanged.

    Returns
    -------
    verdict : Verdict
        With ``sites_checked`` true, ``failing_sites`` the held-out sites named, the sentences
        and the headline extended and ``basis`` naming the leave-one-site-out figure. A verdict
        that took them into account already is returned as it is.

    Examples
    --------
    >>> from featbus.evaluation.sanity import Verdict, with_sites
    >>> pooled = Verdict("useful", ("its decisions beat always answering 'benign' ...",), "5-fold cross-validation",
    ...                  headline="its decisions beat always answering 'benign'", problems=0)
    >>> site = {"site": "b", "n_images": 98, "trained_on": ["a"], "auc": {"value": 0.52, "ci": [0.44, 0.61]},
    ...         "sensitivity": {"value": 0.0, "ci": [0.0, 0.0]}}
    >>> v = with_sites(pooled, {"name": "svm", "positive": "malignant", "n_bootstrap": 200, "sites": [site]})
    >>> v.verdict, v.failing_sites
    ('limited', ('b',))
    >>> print(v.reasons[0])  # doctest: +ELLIPSIS
    with site 'b' held out (trained on a only, tested on its 98 images): it finds 0 % of its malignant images ...
    """
    if site_cv is None or verdict.sites_checked:
        return verdict
    entry = site_cv.to_dict() if hasattr(site_cv, "to_dict") else site_cv
    if not isinstance(entry, dict) or not isinstance(entry.get("sites"), list) or not entry.get("positive"):
        return verdict
    positive, floor = str(entry["positive"]), verdict.sensitivity_floor
    judged, failing, bad, lowest, seen = _held_out_sites(entry["sites"], positive, floor)
    left_out = ("; ".join(f"'{n}': {why}" for n, why in seen.items())) if seen else ""
    if not judged and seen:
        why = (f"a trained part of the model saw every held-out site ({left_out}), so no leave-one-site-out "
               "figure comes from a site it never saw")
        return replace(verdict, reasons=verdict.reasons + (f"featbus cannot tell whether the model works at a "
                                                           f"hospital it did not train on: {why}",),
                       sites_checked=True,
                       headline="; ".join(x for x in (verdict.headline or _GENERIC_HEADLINES[verdict.verdict],
                                                      "featbus cannot tell whether it travels: a trained part saw "
                                                      "every held-out site") if x),
                       basis="; ".join(x for x in (verdict.basis, f"its {len(entry['sites'])} held-out sites all "
                                                                  "seen by a trained part") if x))
    if not judged:
        return verdict
    ok = []
    if not failing:
        parts = []
        if "sensitivity" in lowest:
            parts.append(f"lowest sensitivity {decisive(lowest['sensitivity'][1], floor)} at "
                         f"'{lowest['sensitivity'][0]}'")
        if "auc" in lowest:
            parts.append(f"lowest AUC {lowest['auc'][1]:.3f} at '{lowest['auc'][0]}'")
        ok.append(f"with each site held out in turn (trained on the others), it finds at least {floor:g} of the "
                  f"{positive} images and ranks them better than chance at every one of the {len(judged)} "
                  + ("unseen " if seen else "") + "sites (" + ", ".join(parts) + ")")
    if seen:
        bad_or_ok = (f"left out of the leave-one-site-out check, not unseen sites (their figures are optimistic): "
                     f"{left_out}")
        ok.append(bad_or_ok)
    n_bad = verdict.problems if verdict.problems is not None else (0 if verdict.verdict == "useful" else 1)
    n_bad = min(n_bad, len(verdict.reasons))
    reasons = verdict.reasons[:n_bad] + tuple(bad) + verdict.reasons[n_bad:] + tuple(ok)
    sites = _sites_phrase(judged, failing, seen)
    return replace(verdict, verdict="limited" if failing and verdict.verdict == "useful" else verdict.verdict,
                   reasons=reasons, problems=n_bad + len(bad), sites_checked=True, failing_sites=tuple(failing),
                   headline="; ".join(x for x in (verdict.headline or _GENERIC_HEADLINES[verdict.verdict], sites) if x),
                   basis="; ".join(x for x in (verdict.basis, f"and leaving each of {len(entry['sites'])} sites out")
                                   if x))


def _held_out_sites(sites: list, positive: str, floor: float) -> tuple[list, list, list, dict, dict]:
    """Judge each held-out site's figures: returns ``(judged, failing, sentences, lowest, seen)``."""
    judged, failing, bad, lowest, seen = [], [], [], {}, {}
    for s in sites:
        if not isinstance(s, dict):
            continue
        name = str(s.get("site"))
        if s.get("seen_by"):  # a trained part saw its images: not an unseen site, left out
            seen[name] = " and ".join(f"{m.get('part')} trained on its images" for m in s["seen_by"]
                                   if isinstance(m, dict))
            continue
        sens, sens_ci = _figure(s, "sensitivity")
        auc, auc_ci = _figure(s, "auc")
        if sens is None and auc is None:  # a site without the positive class (its notes say so)
            continue
        judged.append(name)
        problems = []
        if sens is not None and sens < floor:
            problems.append(f"it finds {100 * sens:.0f} % of its {positive} images (sensitivity "
                            f"{decisive(sens, floor)}{_interval(sens_ci)}, under the {floor:g} floor)")
        chance = _below_chance(auc, auc_ci)
        if chance:
            below = np.isfinite(auc_ci[1]) and auc_ci[1] < AUC_CHANCE
            how = (f"lies below {AUC_CHANCE:g}" if below else f"covers {AUC_CHANCE:g}") if np.isfinite(auc_ci[0]) \
                else f"is at or below {AUC_CHANCE:g} (point value)"
            problems.append(f"its {positive}-vs-rest AUC {auc:.3f}"
                            f"{_interval(auc_ci, AUC_CHANCE, bound=1 if below else 0)} {how}")
        for key, value in (("sensitivity", sens), ("auc", auc)):
            if value is not None and (key not in lowest or value < lowest[key][1]):
                lowest[key] = (name, value)
        if problems:
            failing.append(name)
            trained_on = ", ".join(str(t) for t in s.get("trained_on") or []) or "the other sites"
            risk = (f"it may miss most of the {positive} cases" if sens is not None and sens < floor else
                    f"its {positive} scores may rank no better than a coin")
            bad.append(f"with site '{name}' held out (trained on {trained_on} only, tested on its "
                       f"{s.get('n_images')} images): " + " and ".join(problems)
                       + f": at a hospital it did not train on, {risk}")
    return judged, failing, bad, lowest, seen


def _sites_phrase(judged: list, failing: list, seen: dict) -> str:
    """The headline's words on the held-out sites: where the model holds up or fails."""
    if not failing:
        sites = f"with each site held out, it holds up at all {len(judged)}"
        if seen:
            sites = (f"with each site held out, it holds up at the {len(judged)} no trained part saw ("
                     f"{_quoted(judged)}; {_quoted(list(seen))} left out: a trained part saw their images)")
    elif len(failing) == len(judged):
        sites = (f"with each site held out, it fails at every one ({_quoted(failing)}): do not expect it to work at "
                 "a hospital it did not train on")
        if seen:
            sites = (f"with each unseen site held out, it fails at every one ({_quoted(failing)}; "
                     f"{_quoted(list(seen))} left out: a trained part saw their images): do not expect it to work at "
                     "a hospital it did not train on")
    else:
        sites = f"with each site held out, it fails at {_quoted(failing)}"
        if seen:
            sites += f" ({_quoted(list(seen))} left out: a trained part saw their images)"
    return sites


def _figure(cv: dict, key: str) -> tuple[float | None, tuple]:
    v = cv.get(key)
    if not isinstance(v, dict):
        return None, (math.nan, math.nan)
    ci = _pair(v.get("ci"))
    return _num(v.get("value")), tuple(math.nan if x is None else x for x in ci)


def _from_figures(manifest: dict, cv: dict) -> Verdict | None:
    """An older file's verdict, from its stored cross-validation figures (unpaired)."""
    acc, acc_ci = _figure(cv, "accuracy")
    per_class = cv.get("per_class_accuracy")
    data = manifest.get("data") if isinstance(manifest.get("data"), dict) else {}
    counts = data.get("counts") if isinstance(data.get("counts"), dict) else {}
    counts = {str(c): n for c, n in counts.items() if isinstance(n, int) and not isinstance(n, bool) and n > 0}
    if acc is None or not isinstance(per_class, dict) or not counts:
        return None
    total = sum(counts.values())
    common = max(counts, key=counts.get)
    t_acc = counts[common] / total
    k = len(counts)
    sens = {str(c): float(s) for c, s in per_class.items() if _num(s) is not None and str(c) in counts}
    bal, bal_ci = _figure(cv, "sensitivity")
    if bal is None:
        bal = float(np.mean(list(sens.values()))) if sens else math.nan
    validation = "validation split" in str(cv.get("cv", ""))
    found = {c: ((round(s * counts[c]), counts[c]) if not validation else (None, None)) for c, s in sens.items()}
    auc, auc_ci = _figure(cv, "auc")
    class_aucs = {}
    if k > 2 and isinstance(cv.get("per_class_auc"), dict):
        for c in cv["per_class_auc"]:
            value, ci = _figure(cv["per_class_auc"], c)
            if value is not None:
                class_aucs[str(c)] = (value, ci)
    label = "AUC" if k == 2 else "macro one-vs-rest AUC"
    return _decide(basis=f"recomputed from the {cv.get('cv', 'cross-validation')} figures an older model file stores; "
                         "unpaired, so less sharp than featbus.evaluation.sanity.assess",
                   trivial_class=common, acc=acc, t_acc=t_acc,
                   acc_gain=(acc_ci[0] - t_acc, acc_ci[1] - t_acc), bal=bal, t_bal=1.0 / k,
                   bal_gain=(bal_ci[0] - 1.0 / k, bal_ci[1] - 1.0 / k), found=found, sens=sens,
                   auc=math.nan if auc is None else auc, auc_ci=auc_ci, auc_label=label, class_aucs=class_aucs,
                   n_bootstrap=int(cv.get("n_bootstrap") or 0) if isinstance(cv.get("n_bootstrap"), int) else 0,
                   paired=False)


# --------------------------------------------------------------------------- the command line

def strict_status(verdicts: dict, strict: bool, command: str,
                   none_why: str = "nothing was held out to judge it") -> int:
    """What ``featbus COMMAND --strict`` returns: :data:`STRICT_EXIT_CODE` when a verdict of
    ``verdicts`` (what was judged -> Verdict, or ``None`` when nothing could be judged, ``none_why``
    saying why) is not "useful", saying which on standard error; 0 otherwise or without ``strict``."""
    import sys

    if not strict:
        return 0
    failing = {what: v for what, v in verdicts.items() if v is None or not v.useful}
    if not failing:
        return 0
    why = "; ".join(f"{what}: {f'no verdict ({none_why})' if v is None else v.verdict}"
                    for what, v in failing.items())
    print(f"featbus {command}: --strict: the verdict is not 'useful' ({why}): exit status {STRICT_EXIT_CODE}",
          file=sys.stderr)
    return STRICT_EXIT_CODE


_strict_status = strict_status  # the name the command modules import
