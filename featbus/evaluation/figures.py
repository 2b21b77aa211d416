"""The one table of named figures: every figure a judge prints is one row here.

A row (:class:`Figure`) says what the figure is computed from (the true labels, the model's
decisions, its scores), its statistic, what an undefined ratio is (``zero_division``, as
scikit-learn's) and its words (a short label and a long description). :func:`figures` computes
named figures of one set of held-out predictions (a :class:`featbus.metrics.Predictions` view),
:func:`estimate` the same with 95 % intervals from a bootstrap of whole groups
(:func:`featbus.metrics.bootstrap`, the one bootstrap). Cross-validation's report
(:mod:`featbus.evaluation.report`), external validation (:mod:`featbus.evaluation.validation`),
the per-site lines (:mod:`featbus.evaluation.sites`), the model-sanity verdict and adaptation's
site figures ask this table; none computes a share by hand. As scikit-learn's scorers
(``get_scorer_names``), every name is checked against the table, and a near miss gets a
suggestion.

A name is a row's name, optionally with a class in brackets and an extra decision rule after
``@``:

- ``"auc"``, ``"sensitivity"``: a per-class row without a class is of the view's ``positive``
  class (``"accuracy"``: the overall fraction correct);
- ``"sensitivity[benign]"``: of the class ``benign`` (a label, or a column index);
  ``"f1[macro]"``: the mean over the classes whose figure is defined (those the labels hold);
- ``"sensitivity@threshold"``: at the decisions of another rule, passed in ``points``.

The decisions are the view's rule (:func:`featbus.metrics.decide` of its scores, the rule an
:class:`~featbus.metrics.OperatingPoint` gives) where it has one, else its ``y_pred``.

Adding a figure is one row in :data:`FIGURES` and a test of it against a value computed by hand
(``tests/test_figure_table.py``); every judge that lists it then prints it with its words.

Examples
--------
>>> import numpy as np
>>> from featbus.metrics import Predictions
>>> from featbus.evaluation.figures import figures
>>> view = Predictions(y_true=np.array(["b", "b", "m", "m"]), y_pred=np.array(["b", "m", "m", "m"]),
...                    scores=np.array([[.9, .1], [.4, .6], [.3, .7], [.2, .8]]), classes=np.array(["b", "m"]),
...                    class_names=["b", "m"], groups=None, positive="m")
>>> figures(view, ["accuracy", "sensitivity", "specificity", "auc", "trivial_accuracy"])
{'accuracy': 0.75, 'sensitivity': 1.0, 'specificity': 0.5, 'auc': 1.0, 'trivial_accuracy': 0.5}
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..metrics import (
    ECE_BINS,
    BootstrapResult,
    Predictions,
    bootstrap,
    brier_score,
    confusion_matrix,
    decide,
    expected_calibration_error,
    rank_auc,
    ratio,
)

__all__ = ["Figure", "FIGURES", "figures", "estimate", "get_figure_names", "get_figure", "figure_key",
           "Coded", "coded_figure"]

_NAN = math.nan


class Coded:
    """One set of predictions as class indices, the form a statistic reads (and a bootstrap
    resample is taken from): ``yt`` the truth, ``yp`` the decisions (-1: a decision outside the
    classes), ``scores`` (or ``None``), ``k`` classes, ``pos`` the positive class's index (or
    ``None``), ``absent`` the "no lesion" class's index (or ``None``)."""

    def __init__(self, yt: np.ndarray, yp: np.ndarray, scores: np.ndarray | None, k: int, pos: int | None,
                 absent: int | None = None):
        self.yt, self.yp, self.scores, self.k, self.pos, self.absent = yt, yp, scores, k, pos, absent

    def take(self, idx: np.ndarray, yp: np.ndarray | None = None) -> Coded:
        """The resample ``idx`` (with other decisions ``yp`` of the same images, already indexed)."""
        return Coded(self.yt[idx], self.yp[idx] if yp is None else yp, None if self.scores is None else
                     self.scores[idx], self.k, self.pos, self.absent)

    @functools.cached_property
    def cm(self) -> np.ndarray:
        keep = self.yp >= 0  # a decision outside the classes counts in no column
        return confusion_matrix(self.yt[keep], self.yp[keep], self.k)

    @property
    def n(self) -> int:
        return int(self.yt.size)

    @functools.cached_property
    def n_true(self) -> np.ndarray:
        return np.bincount(self.yt, minlength=self.k)


@dataclasses.dataclass(frozen=True)
class Figure:
    """One row of the table: a named figure of a set of predictions.

    Parameters
    ----------
    name : str
        The name judges and users ask for (``"sensitivity"``).
    statistic : callable
        ``statistic(coded, of, zero_division) -> float``: the figure of :class:`Coded`
        predictions, of the class index ``of`` (per-class rows; ``None`` otherwise).
    needs : {"labels", "decisions", "scores"}
        What besides the labels it reads: the model's decisions (through its rule), or its scores.
    zero_division : float or None
        What the figure is when its denominator is 0 (:func:`featbus.metrics.ratio`): ``nan``
        leaves it undefined (an interval then leaves out a resample without the class); ``None``:
        not a ratio (an AUC without both classes is undefined, ``nan``).
    label : str
        Its words in a table (``"sensitivity"``).
    description : str
        What it is, in a sentence.
    per_class : bool, default=False
        Whether it is the figure of one class (one against the rest).
    bare : {"positive", "macro"}, default="positive"
        What a per-class name without a class means: the view's positive class, or ``macro``.
    macro : {"mean", "overall"}, default="mean"
        ``[macro]`` of a per-class row: the mean over the classes where it is defined, or the
        row's own overall figure (accuracy: the fraction correct).
    """

    name: str
    statistic: Callable[..., float]
    needs: str
    zero_division: float | None
    label: str
    description: str
    per_class: bool = False
    bare: str = "positive"
    macro: str = "mean"


# --------------------------------------------------------------------------- the statistics

def _tp(c: Coded, j: int) -> int:
    return int(c.cm[j, j])


def _accuracy(c: Coded, j, zd):
    if j is None:
        return ratio(int(np.trace(c.cm)), c.n, zero_division=zd)
    return ratio(int(np.sum((c.yt == j) == (c.yp == j))), c.n, zero_division=zd)  # one against the rest


def _sensitivity(c: Coded, j, zd):
    return ratio(_tp(c, j), int(c.n_true[j]), zero_division=zd)


def _specificity(c: Coded, j, zd):
    others = c.yt != j
    return ratio(int(np.sum(others & (c.yp != j))), int(others.sum()), zero_division=zd)


def _precision(c: Coded, j, zd):
    return ratio(_tp(c, j), int(c.cm[:, j].sum()), zero_division=zd)


def _f1(c: Coded, j, zd):
    # F1 = 2 tp / (2 tp + fp + fn) = 2 tp / (images of j + images called j): 0 for a class never found
    # (even if never called), undefined without an image of the class
    n_true = int(c.n_true[j])
    return ratio(2 * _tp(c, j), n_true + int(c.cm[:, j].sum()), zero_division=zd) if n_true else _NAN


def _called(c: Coded, j, zd):
    return ratio(int(np.sum(c.yp == j)), c.n, zero_division=zd)


def _balanced(c: Coded, j, zd):
    return _mean_over(c, _sensitivity, zd)


def _lesions_called_normal(c: Coded, j, zd):
    if c.absent is None:
        return _NAN
    lesion = c.yt != c.absent
    return ratio(int(np.sum(lesion & (c.yp == c.absent))), int(lesion.sum()), zero_division=zd)


def _normals_called_normal(c: Coded, j, zd):
    return _NAN if c.absent is None else _sensitivity(c, c.absent, zd)


def _trivial(c: Coded, j, zd):
    return ratio(int(c.n_true.max()) if c.n else 0, c.n, zero_division=zd)


def _auc(c: Coded, j, zd):
    if c.scores is None:
        return _NAN
    return rank_auc(c.yt == j, c.scores[:, j])


def _ece(c: Coded, j, zd):
    return _NAN if c.scores is None else expected_calibration_error(c.scores[:, j], c.yt == j, ECE_BINS)


def _brier(c: Coded, j, zd):
    return _NAN if c.scores is None else brier_score(c.scores[:, j], c.yt == j)


def _mean_over(c: Coded, fn, zd) -> float:
    values = np.array([fn(c, j, zd) for j in range(c.k)], dtype=float)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else _NAN


#: The table: name -> :class:`Figure`. A new figure is one row here and a test.
FIGURES: dict[str, Figure] = {f.name: f for f in [
    Figure("accuracy", _accuracy, "decisions", _NAN, "accuracy",
           "the share of images whose decision is their true class (of a class: one against the rest, the share "
           "decided right about being that class)", per_class=True, bare="macro", macro="overall"),
    Figure("balanced_accuracy", _balanced, "decisions", _NAN, "balanced accuracy",
           "the mean sensitivity over the classes the images hold"),
    Figure("sensitivity", _sensitivity, "decisions", _NAN, "sensitivity",
           "the share of the class's images decided as the class (recall)", per_class=True),
    Figure("specificity", _specificity, "decisions", _NAN, "specificity",
           "the share of the other images not decided as the class", per_class=True),
    Figure("precision", _precision, "decisions", 0.0, "precision",
           "the share of the images decided as the class that are of the class; 0 for a class the model never "
           "decides (as scikit-learn's default: a macro mean must not rise by leaving that class out)",
           per_class=True),
    Figure("f1", _f1, "decisions", _NAN, "F1",
           "the harmonic mean of precision and sensitivity, 2 TP / (images of the class + images decided as it); "
           "undefined without an image of the class", per_class=True),
    Figure("called", _called, "decisions", _NAN, "called",
           "the share of all images decided as the class", per_class=True),
    Figure("lesions_called_normal", _lesions_called_normal, "decisions", _NAN, "lesions called normal",
           "the share of the lesion images (every class but the one meaning no lesion) decided as no lesion"),
    Figure("normals_called_normal", _normals_called_normal, "decisions", _NAN, "normal scans called normal",
           "the share of the images without a lesion decided as no lesion"),
    Figure("trivial_accuracy", _trivial, "labels", _NAN, "always the most common class",
           "the accuracy of always answering the most common class of these images (the trivial answer)"),
    Figure("auc", _auc, "scores", None, "AUC",
           "the rank (Mann-Whitney) AUC of the class's score against every other true class; undefined without "
           "both", per_class=True),
    Figure("ece", _ece, "scores", None, f"ECE ({ECE_BINS} bins)",
           f"the expected calibration error of p(class), {ECE_BINS} equal-width bins", per_class=True),
    Figure("brier", _brier, "scores", None, "Brier score",
           "the mean squared difference between p(class) and whether the image is of the class", per_class=True),
]}


def get_figure_names() -> list[str]:
    """The names of every figure of the table, sorted (as scikit-learn's ``get_scorer_names``).

    Examples
    --------
    >>> from featbus.evaluation.figures import get_figure_names
    >>> "sensitivity" in get_figure_names(), "auc" in get_figure_names()
    (True, True)
    """
    return sorted(FIGURES)


def get_figure(name: str) -> Figure:
    """The row of ``name`` (a row's name alone; ``[class]`` and ``@point`` are stripped).

    Raises
    ------
    ValueError
        An unknown name, with the nearest names of the table.

    Examples
    --------
    >>> from featbus.evaluation.figures import get_figure
    >>> get_figure("sensitivity[benign]").label
    'sensitivity'
    >>> get_figure("sensitivty")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown figure 'sensitivty': did you mean 'sensitivity'? ...
    """
    base = str(name).split("@", 1)[0].split("[", 1)[0].strip()
    row = FIGURES.get(base)
    if row is None:
        near = difflib.get_close_matches(base, FIGURES, n=2, cutoff=0.6)
        hint = (f"did you mean {' or '.join(repr(n) for n in near)}? " if near else "")
        raise ValueError(f"unknown figure {base!r}: {hint}(featbus.evaluation.figures.get_figure_names() lists them)")
    return row


def _parse(name: str) -> tuple[Figure, str | None, str | None]:
    """``(row, class or None, point or None)`` of a name."""
    row = get_figure(name)
    text, _, point = str(name).partition("@")
    of = None
    if "[" in text:
        if not text.endswith("]"):
            raise ValueError(f"figure name {name!r}: a class goes in brackets at the end (sensitivity[benign])")
        of = text[text.index("[") + 1:-1]
        if not row.per_class:
            raise ValueError(f"figure {row.name!r} is not of one class: {name!r} names one")
    return row, of, (point or None)


def figure_key(name: str, of: Any = None, point: str | None = None) -> str:
    """A figure's name with its class and point: ``figure_key("f1", "benign")`` -> ``"f1[benign]"``."""
    get_figure(name)
    return f"{name}{'' if of is None else f'[{of}]'}{'' if point is None else f'@{point}'}"


def _class_index(view: Predictions, of: str | None, row: Figure, name: str) -> int | str | None:
    """The class index a name is of (``"macro"``, or ``None`` for a row of no class)."""
    if not row.per_class:
        return None
    if of is None:
        if row.bare == "macro":
            return "macro"
        if view.positive is None:
            raise ValueError(f"figure {name!r} of which class? The predictions have no positive class: name one "
                             f"({row.name}[class])")
        of = str(view.positive)
    if of == "macro":
        return "macro"
    labels = [str(c) for c in np.asarray(view.classes).tolist()]
    names = [str(c) for c in view.class_names]
    if of in labels:
        return labels.index(of)
    if of in names:
        return names.index(of)
    if of.isdigit() and int(of) < len(labels):
        return int(of)
    raise ValueError(f"figure {name!r}: {of!r} is not one of the classes ({', '.join(labels)})")


def _coded(view: Predictions) -> Coded:
    yt, yp = view.codes()
    scores = None if view.scores is None else np.asarray(view.scores, dtype=float)
    rule = view.rule
    if rule is not None and scores is not None:
        yp = decide(scores, rule)
    labels = [str(c) for c in np.asarray(view.classes).tolist()]
    pos = labels.index(str(view.positive)) if view.positive is not None and str(view.positive) in labels else None
    absent = int(rule[2]) if rule is not None and len(rule) == 4 else (labels.index("normal") if "normal" in labels
                                                                         else None)
    return Coded(yt, yp, scores, len(labels), pos, absent)


def _plan(view: Predictions, names: Sequence[str], points: Mapping[str, Any] | None):
    """Each name's ``(key, row, class index, point)``, every name checked before anything is computed."""
    if isinstance(names, str):
        names = [names]
    plan = []
    for name in names:
        row, of, point = _parse(name)
        j = _class_index(view, of, row, name)
        if point is not None:
            if row.needs != "decisions":
                raise ValueError(f"figure {name!r}: only a figure of the decisions is taken at another rule "
                                 f"(@{point}); {row.name} reads the {row.needs}")
            if not points or point not in points:
                raise ValueError(f"figure {name!r}: no rule named {point!r} was given (points=)")
        if row.needs == "scores" and view.scores is None:
            raise ValueError(f"figure {name!r} needs scores, and these predictions have none")
        plan.append((str(name), row, j, point))
    return plan


def _rule_of(point: Any, classes) -> tuple:
    rule = getattr(point, "rule", None)
    return point.rule(classes) if callable(rule) else tuple(point)


def _compute(coded: Coded, plan, at: Mapping[str, Coded]) -> dict[str, float]:
    out = {}
    for key, row, j, point in plan:
        c = coded if point is None else at[point]
        if j == "macro":
            out[key] = (float(row.statistic(c, None, row.zero_division)) if row.macro == "overall"
                        else _mean_over(c, row.statistic, row.zero_division))
        else:
            out[key] = float(row.statistic(c, j, row.zero_division))
    return out


def coded_figure(coded: Coded, name: str, of: int | str | None = None) -> float:
    """One figure of predictions already coded (:class:`Coded`; a paired bootstrap's resample):
    the row ``name`` of class index ``of`` (``"macro"``: over the classes; ``None`` for a row of
    no class, or the coded positive class).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.evaluation.figures import Coded, coded_figure
    >>> c = Coded(np.array([0, 0, 1]), np.array([0, 1, 1]), None, 2, 1)
    >>> coded_figure(c, "accuracy"), coded_figure(c, "sensitivity", 0), coded_figure(c, "balanced_accuracy")
    (0.6666666666666666, 0.5, 0.75)
    """
    row = get_figure(name)
    if row.per_class and of is None:
        of = "macro" if row.bare == "macro" else coded.pos
    return _compute(coded, [(name, row, of, None)], {})[name]


def figures(view: Predictions, names: Sequence[str], *, points: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Named figures of one set of held-out predictions (point values).

    Parameters
    ----------
    view : featbus.metrics.Predictions
        The predictions (labels, decisions or a rule, scores).
    names : sequence of str
        Figure names (:func:`get_figure_names`, with ``[class]`` and ``@point`` as the module says).
    points : mapping, optional
        ``name -> rule``: other decision rules (a :func:`featbus.metrics.decide` rule or an
        :class:`~featbus.metrics.OperatingPoint`) that ``@name`` figures are taken at.

    Returns
    -------
    values : dict
        ``name -> float`` (NaN where undefined), in the order asked.

    Raises
    ------
    ValueError
        An unknown name (with a suggestion), an unknown class, a figure of scores without scores.
    """
    plan = _plan(view, names, points)
    coded = _coded(view)
    at = {p: Coded(coded.yt, decide(coded.scores, _rule_of(r, view.classes)), coded.scores, coded.k, coded.pos,
                   coded.absent) for p, r in (points or {}).items()}
    return _compute(coded, plan, at)


def estimate(view: Predictions, names: Sequence[str], groups=None, n_bootstrap: int = 1000, *,
             random_state=0, points: Mapping[str, Any] | None = None) -> BootstrapResult:
    """Named figures with 95 % intervals from a bootstrap of whole groups (:func:`featbus.metrics.bootstrap`).

    Parameters
    ----------
    view : featbus.metrics.Predictions
    names : sequence of str
        As :func:`figures`.
    groups : array-like of shape (n_samples,), optional
        The resampling units (patients, near-duplicate groups); default the view's ``groups``.
    n_bootstrap : int, default=1000
        Resamples (0: no interval, NaN).
    random_state : int, RandomState or None, default=0
        The bootstrap's seed: the same seed gives the same resamples in every judge.
    points : mapping, optional
        As :func:`figures`.

    Returns
    -------
    result : featbus.metrics.BootstrapResult
        ``values, intervals = result``: ``name -> float`` and ``name -> (low, high)``.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.metrics import Predictions
    >>> from featbus.evaluation.figures import estimate
    >>> y = np.array(["b", "m"] * 10)
    >>> view = Predictions(y_true=y, y_pred=y, scores=None, classes=np.array(["b", "m"]), class_names=["b", "m"],
    ...                    groups=None, positive="m")
    >>> values, intervals = estimate(view, ["accuracy", "sensitivity"], n_bootstrap=50)
    >>> values["accuracy"], intervals["sensitivity"]
    (1.0, (1.0, 1.0))
    """
    plan = _plan(view, names, points)
    coded = _coded(view)
    rules = {p: _rule_of(r, view.classes) for p, r in (points or {}).items()}
    at_yp = {p: decide(coded.scores, r) for p, r in rules.items()}
    groups = view.groups if groups is None else groups

    def statistic(idx):
        sub = coded.take(idx)
        return _compute(sub, plan, {p: coded.take(idx, yp[idx]) for p, yp in at_yp.items()})

    return bootstrap(statistic, np.arange(coded.n), groups=groups, n_bootstrap=n_bootstrap,
                     random_state=random_state)
