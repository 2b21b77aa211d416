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

A figure is addressed by a :class:`FigureKey` ``(name, of, point)``: the row's name, the class
it is of, and another decision rule it is taken at. Code that holds a class label read from data
(a folder's name, a manifest's column) builds the key, ``FigureKey("sensitivity", label)``, so that
any label works (``a@b``, ``x]y``, ``BI-RADS 4(a)``, ``café``): nothing is parsed back from a
string holding it. A user asks for a figure by a name, read into a key once (:func:`parse_figure`):

- ``"auc"``, ``"sensitivity"``: a per-class row without a class is of the view's ``positive``
  class (``"accuracy"``: the overall fraction correct);
- ``"sensitivity[benign]"``: of the class ``benign`` (a label, or a column index; the class runs
  to the last ``]``); ``"f1[macro]"`` (:data:`MACRO`): the mean over the classes whose figure is
  defined (those the labels hold);
- ``"sensitivity@threshold"``: at the decisions of another rule, passed in ``points``.

:func:`figures` and :func:`estimate` take names and keys alike (as scikit-learn's ``scoring=``
takes names), and answer under what was asked.

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
import enum
import functools
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..metrics import (
    ECE_BINS,
    PER_CLASS_METRICS,
    BootstrapResult,
    Predictions,
    bootstrap,
    brier_score,
    confusion_matrix,
    decide,
    expected_calibration_error,
    rank_auc,
    ratio,
    share_interval,
)

__all__ = ["Figure", "FIGURES", "FigureKey", "MACRO", "POSITIVE_FIGURES", "LESION_OR_NORMAL", "figures", "estimate",
           "estimate_paired", "get_figure_names", "get_figure", "figure_key", "parse_figure", "Coded", "coded_figure",
           "classification_metrics", "metric_arrays"]

_NAN = math.nan


class _Over(enum.Enum):
    MACRO = "macro"

    def __repr__(self) -> str:
        return "MACRO"

    def __str__(self) -> str:
        return "macro"


#: The "class" of a per-class figure's mean over the classes (``f1[macro]``): never a label, so a
#: class named ``macro`` stays a class (``FigureKey("f1", "macro")``).
MACRO = _Over.MACRO


class FigureKey(NamedTuple):
    """The address of one figure: the row ``name``, the class it is ``of`` (a label as the view's
    classes hold it, a column index, :data:`MACRO`, or ``None``: the row's default), and the
    ``point`` (the name of another decision rule of ``points=``, or ``None``: the view's own).

    Built from a label, it is never parsed: any label works. ``str(key)`` writes it as a user
    would ask for it (``sensitivity[benign]``), for display only.

    Examples
    --------
    >>> from featbus.evaluation.figures import FigureKey, MACRO
    >>> str(FigureKey("sensitivity", "a@b")), str(FigureKey("f1", MACRO)), str(FigureKey("sensitivity", None, "t"))
    ('sensitivity[a@b]', 'f1[macro]', 'sensitivity@t')
    """

    name: str
    of: Hashable = None
    point: str | None = None

    def __str__(self) -> str:
        return f"{self.name}{'' if self.of is None else f'[{self.of}]'}{'' if self.point is None else f'@{self.point}'}"


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
    misses : {"lower", "higher"} or None, default=None
        Of a miss figure (sensitivity, lesions called normal): the direction in which it means
        more missed lesions or cancers, so that a judge can say when a model finds fewer cancers
        (:meth:`featbus.evaluation.comparison.ModelComparison.switch`); ``None``: not a miss figure.
    share : callable or None, default=None
        Of a share of images (a count over a count): ``share(coded, of) -> (hits, within)``, two
        boolean masks (or ``None`` where undefined); the figure is ``(hits & within).sum() /
        within.sum()`` and its interval is exact (:func:`featbus.metrics.share_interval`, over the
        groups of the ``within`` images), not a bootstrap. ``None``: not a share (an AUC, a mean).

    A ``label`` may hold ``{of}``: the class the figure is of (``"{of} called normal"``).
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
    misses: str | None = None
    share: Callable[..., tuple[np.ndarray, np.ndarray] | None] | None = None


# --------------------------------------------------------------------------- the statistics

def _tp(c: Coded, j: int) -> int:
    return int(c.cm[j, j])


# A share's masks ``(hits, within)`` of coded predictions (None: undefined, no "normal" class);
# the figure is the share of ``within`` that is ``hits``, its interval exact over groups.

def _share_accuracy(c: Coded, j):
    if j is None:
        return c.yt == c.yp, np.ones(c.n, bool)
    return (c.yt == j) == (c.yp == j), np.ones(c.n, bool)  # one against the rest


def _share_sensitivity(c: Coded, j):
    return c.yp == j, c.yt == j


def _share_specificity(c: Coded, j):
    return c.yp != j, c.yt != j


def _share_precision(c: Coded, j):
    return c.yt == j, c.yp == j


def _share_called(c: Coded, j):
    return c.yp == j, np.ones(c.n, bool)


def _share_lesions_called_normal(c: Coded, j):
    return None if c.absent is None else (c.yp == c.absent, c.yt != c.absent)


def _share_called_normal(c: Coded, j):
    return None if c.absent is None else (c.yp == c.absent, c.yt == j)


def _share_normals_called_normal(c: Coded, j):
    return None if c.absent is None else _share_sensitivity(c, c.absent)


def _share_trivial(c: Coded, j):
    return c.yt == int(np.argmax(c.n_true)) if c.n else np.zeros(0, bool), np.ones(c.n, bool)


def _of_share(share: Callable) -> Callable[..., float]:
    """The statistic of a share row: ``(hits & within).sum() / within.sum()`` (:func:`ratio`)."""

    def statistic(c: Coded, j, zd):
        masks = share(c, j)
        if masks is None:
            return _NAN
        hits, within = masks
        return ratio(int(np.sum(hits & within)), int(np.sum(within)), zero_division=zd)

    return statistic


_accuracy = _of_share(_share_accuracy)
_sensitivity = _of_share(_share_sensitivity)


def _f1(c: Coded, j, zd):
    # F1 = 2 tp / (2 tp + fp + fn) = 2 tp / (images of j + images called j): 0 for a class never found
    # (even if never called), undefined without an image of the class
    n_true = int(c.n_true[j])
    return ratio(2 * _tp(c, j), n_true + int(c.cm[:, j].sum()), zero_division=zd) if n_true else _NAN


def _balanced(c: Coded, j, zd):
    return _mean_over(c, _sensitivity, zd)


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
           "decided right about being that class)", per_class=True, bare="macro", macro="overall",
           share=_share_accuracy),
    Figure("balanced_accuracy", _balanced, "decisions", _NAN, "balanced accuracy",
           "the mean sensitivity over the classes the images hold"),
    Figure("sensitivity", _sensitivity, "decisions", _NAN, "sensitivity",
           "the share of the class's images decided as the class (recall)", per_class=True, misses="lower",
           share=_share_sensitivity),
    Figure("specificity", _of_share(_share_specificity), "decisions", _NAN, "specificity",
           "the share of the other images not decided as the class", per_class=True, share=_share_specificity),
    Figure("precision", _of_share(_share_precision), "decisions", 0.0, "precision",
           "the share of the images decided as the class that are of the class; 0 for a class the model never "
           "decides (as scikit-learn's default: a macro mean must not rise by leaving that class out)",
           per_class=True, share=_share_precision),
    Figure("f1", _f1, "decisions", _NAN, "F1",
           "the harmonic mean of precision and sensitivity, 2 TP / (images of the class + images decided as it); "
           "undefined without an image of the class", per_class=True),
    Figure("called", _of_share(_share_called), "decisions", _NAN, "called",
           "the share of all images decided as the class", per_class=True, share=_share_called),
    Figure("lesions_called_normal", _of_share(_share_lesions_called_normal), "decisions", _NAN,
           "lesions called normal",
           "the share of the lesion images (every class but the one meaning no lesion) decided as no lesion",
           misses="higher", share=_share_lesions_called_normal),
    Figure("called_normal", _of_share(_share_called_normal), "decisions", _NAN, "{of} called normal",
           "the share of the class's images decided as no lesion (of the positive class, malignant: malignant "
           "called normal); undefined without a no-lesion class or an image of the class", per_class=True,
           misses="higher", share=_share_called_normal),
    Figure("normals_called_normal", _of_share(_share_normals_called_normal), "decisions", _NAN,
           "normal scans called normal", "the share of the images without a lesion decided as no lesion",
           share=_share_normals_called_normal),
    Figure("trivial_accuracy", _of_share(_share_trivial), "labels", _NAN, "always the most common class",
           "the accuracy of always answering the most common class of these images (the trivial answer)",
           share=_share_trivial),
    Figure("auc", _auc, "scores", None, "AUC",
           "the rank (Mann-Whitney) AUC of the class's score against every other true class; undefined without "
           "both", per_class=True),
    Figure("ece", _ece, "scores", None, f"ECE ({ECE_BINS} bins)",
           f"the expected calibration error of p(class), {ECE_BINS} equal-width bins", per_class=True),
    Figure("brier", _brier, "scores", None, "Brier score",
           "the mean squared difference between p(class) and whether the image is of the class", per_class=True),
]}


#: The figures of one positive class a judge shows first: its AUC, and sensitivity and specificity at
#: the model's own decisions.
POSITIVE_FIGURES = ("auc", "sensitivity", "specificity")
#: The lesion-or-normal decision of a model that can call an image normal (two decisions: presence,
#: then malignancy): lesions called normal, the positive class's images called normal (malignant
#: called normal), normal scans called normal.
LESION_OR_NORMAL = ("lesions_called_normal", "called_normal", "normals_called_normal")


def get_figure_names() -> list[str]:
    """The names of every figure of the table, sorted (as scikit-learn's ``get_scorer_names``).

    Examples
    --------
    >>> from featbus.evaluation.figures import get_figure_names
    >>> "sensitivity" in get_figure_names(), "auc" in get_figure_names()
    (True, True)
    """
    return sorted(FIGURES)


def _row(base: str) -> Figure:
    row = FIGURES.get(base)
    if row is None:
        near = difflib.get_close_matches(base, FIGURES, n=2, cutoff=0.6)
        hint = (f"did you mean {' or '.join(repr(n) for n in near)}? " if near else "")
        raise ValueError(f"unknown figure {base!r}: {hint}(featbus.evaluation.figures.get_figure_names() lists them)")
    return row


def get_figure(name: str | FigureKey) -> Figure:
    """The row of ``name`` (a :class:`FigureKey`, or a name whose ``[class]`` and ``@point`` are
    left aside).

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
    if isinstance(name, FigureKey):
        return _row(name.name)
    text = str(name)
    cut = min((i for i in (text.find("["), text.find("@")) if i >= 0), default=len(text))
    return _row(text[:cut].strip())


def parse_figure(name: str | FigureKey) -> FigureKey:
    """A user's name of a figure read into its :class:`FigureKey` (a key is returned as it is).

    ``row``, ``row[class]``, ``row@point`` or ``row[class]@point``: the class runs from the first
    ``[`` to the last ``]`` (so ``"sensitivity[x]y]"`` is of the class ``x]y`` and
    ``"accuracy[a@b]"`` of ``a@b``); ``[macro]`` is :data:`MACRO`. Code holding a label from data
    builds the key itself instead.

    Raises
    ------
    ValueError
        An unknown row (with a suggestion), a class not in brackets at the end, a class given to a
        row of no class.

    Examples
    --------
    >>> from featbus.evaluation.figures import parse_figure
    >>> parse_figure("sensitivity[BI-RADS 4(a)]@low")
    FigureKey(name='sensitivity', of='BI-RADS 4(a)', point='low')
    >>> parse_figure("f1[macro]").of
    MACRO
    """
    if isinstance(name, FigureKey):
        get_figure(name)
        return name
    if not isinstance(name, str):
        raise TypeError(f"a figure is a name (str) or a FigureKey, got {type(name).__name__}")
    row = get_figure(name)
    text, of, point = name.strip(), None, None
    rest = text[len(row.name):]
    if rest.startswith("["):
        close = rest.rfind("]")
        if close < 0 or (close + 1 < len(rest) and rest[close + 1] != "@"):
            raise ValueError(f"figure name {name!r}: a class goes in brackets at the end (sensitivity[benign])")
        of, rest = rest[1:close], rest[close + 1:]
        of = MACRO if of == "macro" else of
    if rest.startswith("@"):
        point = rest[1:] or None
    elif rest:
        raise ValueError(f"figure name {name!r}: a class goes in brackets at the end (sensitivity[benign])")
    if of is not None and not row.per_class:
        raise ValueError(f"figure {row.name!r} is not of one class: {name!r} names one")
    return FigureKey(row.name, of, point)


def figure_key(name: str, of: Any = None, point: str | None = None) -> FigureKey:
    """The key of the row ``name`` of the class ``of`` (a label, :data:`MACRO`) at ``point``:
    ``figure_key("f1", "benign")`` -> ``FigureKey("f1", "benign", None)``, whatever the label holds."""
    row = _row(str(name))
    if of is not None and not row.per_class:
        raise ValueError(f"figure {row.name!r} is not of one class: a class ({of!r}) was given")
    return FigureKey(row.name, of, point)


def _class_index(view: Predictions, key: FigureKey, row: Figure) -> int | str | None:
    """The class index a key is of (``"macro"``, or ``None`` for a row of no class)."""
    if not row.per_class:
        if key.of is not None:
            raise ValueError(f"figure {row.name!r} is not of one class: {str(key)!r} names one")
        return None
    of = key.of
    if of is None:
        if row.bare == "macro":
            return "macro"
        if view.positive is None:
            raise ValueError(f"figure {str(key)!r} of which class? The predictions have no positive class: name one "
                             f"({row.name}[class])")
        of = view.positive
    if of is MACRO:
        return "macro"
    labels = [str(c) for c in np.asarray(view.classes).tolist()]
    names = [str(c) for c in view.class_names]
    if str(of) in labels:
        return labels.index(str(of))
    if str(of) in names:
        return names.index(str(of))
    if isinstance(of, (int, np.integer)) and not isinstance(of, bool) and 0 <= int(of) < len(labels):
        return int(of)
    if isinstance(of, str) and of.isdigit() and int(of) < len(labels):
        return int(of)
    raise ValueError(f"figure {str(key)!r}: {str(of)!r} is not one of the classes ({', '.join(labels)})")


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


def _plan(view: Predictions, names: Sequence[str | FigureKey], points: Mapping[str, Any] | None):
    """Each name's ``(what was asked, row, class index, point)``, every name checked before anything is
    computed."""
    if isinstance(names, (str, FigureKey)):
        names = [names]
    plan = []
    for name in names:
        key = parse_figure(name)
        row = FIGURES[key.name]
        j = _class_index(view, key, row)
        point = key.point
        if point is not None:
            if row.needs != "decisions":
                raise ValueError(f"figure {str(key)!r}: only a figure of the decisions is taken at another rule "
                                 f"(@{point}); {row.name} reads the {row.needs}")
            if not points or point not in points:
                raise ValueError(f"figure {str(key)!r}: no rule named {point!r} was given (points=)")
        if row.needs == "scores" and view.scores is None:
            raise ValueError(f"figure {str(key)!r} needs scores, and these predictions have none")
        plan.append((name if isinstance(name, FigureKey) else str(name), row, j, point))
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


def _share_intervals(coded: Coded, plan, at: Mapping[str, Coded], groups) -> dict:
    """The exact interval of each share figure of ``plan`` (:func:`featbus.metrics.share_interval`),
    the share carried onto the groups of the images it is a share of (every image its own without
    groups); the figures that are not shares (AUC, F1, a mean over classes) are left out."""
    g = None if groups is None else np.asarray(groups)
    out = {}
    for key, row, j, point in plan:
        if row.share is None or (j == "macro" and row.macro != "overall"):
            continue
        masks = row.share(coded if point is None else at[point], None if j == "macro" else j)
        if masks is None:
            out[key] = (_NAN, _NAN)
            continue
        hits, within = masks
        trials = None if g is None else np.unique(g[within]).size
        out[key] = share_interval(int(np.sum(hits & within)), int(np.sum(within)), trials=trials)
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
    names : sequence of str or FigureKey
        Figure names (:func:`get_figure_names`, with ``[class]`` and ``@point`` as the module says),
        or keys (:class:`FigureKey`: a class label from data goes there).
    points : mapping, optional
        ``name -> rule``: other decision rules (a :func:`featbus.metrics.decide` rule or an
        :class:`~featbus.metrics.OperatingPoint`) that ``@name`` figures are taken at.

    Returns
    -------
    values : dict
        ``name -> float`` (NaN where undefined), in the order asked, keyed as asked (a name or a key).

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
    """Named figures with 95 % intervals: a share of images (sensitivity, lesions called normal...:
    a row with a ``share``) has its exact interval, Clopper-Pearson with as many trials as groups
    (:func:`featbus.metrics.share_interval`); any other figure (AUC, F1, a mean over classes) a
    bootstrap of whole groups (:func:`featbus.metrics.bootstrap`).

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
    >>> values["accuracy"], [round(v, 2) for v in intervals["sensitivity"]]   # 10 of 10: exact, not a point
    (1.0, [0.69, 1.0])
    """
    plan = _plan(view, names, points)
    coded = _coded(view)
    rules = {p: _rule_of(r, view.classes) for p, r in (points or {}).items()}
    at_yp = {p: decide(coded.scores, r) for p, r in rules.items()}
    groups = view.groups if groups is None else groups

    def statistic(idx):
        sub = coded.take(idx)
        return _compute(sub, plan, {p: coded.take(idx, yp[idx]) for p, yp in at_yp.items()})

    result = bootstrap(statistic, np.arange(coded.n), groups=groups, n_bootstrap=n_bootstrap,
                       random_state=random_state)
    if not n_bootstrap:  # no interval asked for
        return result
    at = {p: Coded(coded.yt, yp, coded.scores, coded.k, coded.pos, coded.absent) for p, yp in at_yp.items()}
    return BootstrapResult(result.point, {**result.interval, **_share_intervals(coded, plan, at, groups)},
                           result.draws)


def estimate_paired(views: Sequence[Predictions], names: Sequence[str | FigureKey], groups, n_bootstrap: int = 1000,
                    *, random_state=0) -> BootstrapResult:
    """Named figures of several models' predictions of the *same* images, and each model's difference
    from the first, with 95 % intervals from one bootstrap of whole groups: every model is scored on
    the same resamples, so the intervals of the differences are paired. A model's own share figure
    has its exact interval, as in :func:`estimate`.

    Parameters
    ----------
    views : sequence of featbus.metrics.Predictions
        One per model, of the same images in the same order (the same ``y_true``).
    names : sequence of str or FigureKey
        As :func:`figures`.
    groups : array-like of shape (n_samples,) or None
        The resampling units.
    n_bootstrap : int, default=1000
    random_state : int or None, default=0

    Returns
    -------
    result : featbus.metrics.BootstrapResult
        ``values, intervals = result``, keyed ``(m, name)`` (model ``m``'s figure) and
        ``(m, 0, name)`` (model ``m`` minus the first, ``m >= 1``), ``name`` as asked.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.metrics import Predictions
    >>> from featbus.evaluation.figures import estimate_paired
    >>> y = np.array(["b", "m"] * 4)
    >>> a = Predictions(y_true=y, y_pred=y, scores=None, classes=np.array(["b", "m"]), class_names=["b", "m"],
    ...                 groups=None, positive="m")
    >>> b = Predictions(y_true=y, y_pred=np.array(["b"] * 8), scores=None, classes=np.array(["b", "m"]),
    ...                 class_names=["b", "m"], groups=None, positive="m")
    >>> values, _ = estimate_paired([a, b], ["sensitivity"], None, 0)
    >>> values[(1, "sensitivity")], values[(1, 0, "sensitivity")]
    (0.0, -1.0)
    """
    views = list(views)
    plans = [_plan(view, names, None) for view in views]
    coded = [_coded(view) for view in views]
    n = coded[0].n
    truth = [np.asarray(v.y_true).astype(str) for v in views]
    if any(t.shape != truth[0].shape or not np.array_equal(t, truth[0]) for t in truth[1:]):
        raise ValueError("paired figures need every model's predictions of the same images (the same true labels)")

    def statistic(idx):
        out = {}
        for m, (c, plan) in enumerate(zip(coded, plans)):
            out.update({(m, key): v for key, v in _compute(c.take(idx), plan, {}).items()})
        for m in range(1, len(coded)):
            out.update({(m, 0, key): out[(m, key)] - out[(0, key)] for key, *_ in plans[m]})
        return out

    result = bootstrap(statistic, np.arange(n), groups=groups, n_bootstrap=int(n_bootstrap),
                       random_state=random_state)
    if not n_bootstrap:
        return result
    exact = {(m, key): ci for m, (c, plan) in enumerate(zip(coded, plans))
             for key, ci in _share_intervals(c, plan, {}, groups).items()}
    return BootstrapResult(result.point, {**result.interval, **exact}, result.draws)


# --------------------------------------------------------------------------- the classic table, as a view

def _overridden(values: np.ndarray, zero_division) -> np.ndarray:
    """A ratio's undefined values (NaN) set to ``zero_division`` (``None``: each row's own, kept)."""
    if zero_division is None:
        return values
    zd = float(zero_division)
    if not (math.isnan(zd) or 0 <= zd <= 1):
        raise ValueError(f"zero_division must be None, a number in [0, 1] or np.nan, got {zero_division!r}")
    return np.where(np.isnan(values), zd, values)


def metric_arrays(yt: np.ndarray, yp: np.ndarray, scores: np.ndarray | None, k: int, *,
                  zero_division: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The figures of :func:`classification_metrics` as arrays, for class codes ``0..k-1``: the
    table's rows :data:`~featbus.metrics.PER_CLASS_METRICS` of every class and over the classes.

    Parameters
    ----------
    yt, yp : ndarray of int, shape (n_samples,)
        True and predicted class codes.
    scores : ndarray of shape (n_samples, k) or None
        Scores of each class (the AUC column is NaN without them).
    k : int
        Number of classes.
    zero_division : float or None, default=None
        What an undefined ratio is: ``None``, each row's own (:data:`FIGURES`: NaN for
        accuracy, sensitivity, specificity and F1, 0 for precision); a number (or NaN) for every
        ratio, as scikit-learn's ``zero_division`` (``0.0``: the tables of scikit-learn's
        default). An AUC without both classes is NaN either way.

    Returns
    -------
    table : ndarray of shape (k, 6)
        Per class, the :data:`~featbus.metrics.PER_CLASS_METRICS` (accuracy one-vs-rest).
    macro : ndarray of shape (6,)
        Their means over the classes where defined, except accuracy: the overall fraction correct.
    cm : ndarray of shape (k, k)
        The confusion matrix (rows true, columns predicted), as floats.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.evaluation.figures import metric_arrays
    >>> table, macro, cm = metric_arrays(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), None, 2)
    >>> float(table[1, 1]), float(macro[0]), cm.tolist()
    (1.0, 0.75, [[1.0, 1.0], [0.0, 2.0]])
    >>> yt = yp = np.array([0, 0])  # no image of class 1: its sensitivity is undefined
    >>> table, zeros = metric_arrays(yt, yp, None, 2)[0], metric_arrays(yt, yp, None, 2, zero_division=0.0)[0]
    >>> float(table[1, 1]), float(zeros[1, 1])
    (nan, 0.0)
    """
    yt, yp = np.asarray(yt, dtype=int), np.asarray(yp, dtype=int)
    c = Coded(yt, yp, None if scores is None else np.asarray(scores, dtype=float), int(k), None)
    table = np.full((c.k, len(PER_CLASS_METRICS)), np.nan)
    macro = np.full(len(PER_CLASS_METRICS), np.nan)
    for i, row in enumerate(FIGURES[m] for m in PER_CLASS_METRICS):
        ratio_row = row.zero_division is not None and zero_division is not None
        zd = float(zero_division) if ratio_row else row.zero_division
        column = np.array([row.statistic(c, j, zd) for j in range(c.k)], dtype=float)
        table[:, i] = _overridden(column, zd) if ratio_row else column
        finite = table[:, i][np.isfinite(table[:, i])]
        overall = row.statistic(c, None, zd) if row.macro == "overall" else (float(finite.mean()) if finite.size
                                                                             else _NAN)
        macro[i] = _overridden(np.array([overall], dtype=float), zd)[0] if ratio_row else overall
    return table, macro, c.cm.astype(float)


def classification_metrics(y_true, y_pred, scores=None, *, labels=None,
                           zero_division: float | None = None) -> dict[str, Any]:
    """Per-class and macro figures of one set of predictions: a view of the figure table.

    Every value is the table's (:data:`FIGURES`, the rows of :data:`~featbus.metrics.PER_CLASS_METRICS`),
    so it equals what :func:`figures` and every judge print for the same predictions.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    scores : array-like of shape (n_samples, n_classes), optional
        Probabilities or decision scores, columns in the order of ``labels``; gives the
        one-vs-rest AUC (rank based, so uncalibrated decision scores are fine).
    labels : array-like, optional
        Class order; default the sorted union of ``y_true`` and ``y_pred``.
    zero_division : float or None, default=None
        What an undefined ratio is (a class without an image has no sensitivity): ``None``,
        the table's own rule (NaN, left out of the macro means; precision of a class never
        decided is 0); a number, or NaN, for every ratio (``0.0`` as scikit-learn's default).

    Returns
    -------
    metrics : dict
        ``"per_class"`` (dict label -> dict metric -> value; ``accuracy`` there is the
        one-vs-rest accuracy), ``"macro"`` (unweighted means over the classes where defined,
        except ``accuracy``, which is the overall fraction correct), ``"confusion_matrix"``
        (rows true, columns predicted) and ``"labels"``.

    Examples
    --------
    >>> from featbus.evaluation.figures import classification_metrics
    >>> m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], [[.9, .1], [.4, .6], [.2, .8], [.3, .7]])
    >>> m["macro"]["accuracy"], m["per_class"][1]["sensitivity"], m["per_class"][1]["auc"]
    (0.75, 1.0, 1.0)
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    index = {v: i for i, v in enumerate(labels.tolist())}
    try:
        yt = np.array([index[v] for v in y_true.tolist()], dtype=int)
        yp = np.array([index[v] for v in y_pred.tolist()], dtype=int)
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not in labels {labels.tolist()}") from None
    s = None if scores is None else np.asarray(scores, dtype=float)
    if s is not None and s.shape != (yt.size, labels.size):
        raise ValueError(f"scores has shape {s.shape}; expected {(yt.size, labels.size)}")
    table, macro, cm = metric_arrays(yt, yp, s, labels.size, zero_division=zero_division)
    per_class = {lab: dict(zip(PER_CLASS_METRICS, map(float, row))) for lab, row in zip(labels.tolist(), table)}
    macro = dict(zip(PER_CLASS_METRICS, map(float, macro)))
    return {"per_class": per_class, "macro": macro, "confusion_matrix": cm.astype(int), "labels": labels}
