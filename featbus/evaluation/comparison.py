"""Saved models compared on the same images: paired differences with intervals over patients.

Which of two models is better cannot be read from their own figures: each was measured under
its own protocol (one cross-validated, one validated at another site, one on a hand-made
hold-out). :func:`compare_models` predicts the *same* labelled images with every model and
reports, for the positive class (``"malignant"`` by default):

1. each model's **AUC** of ``p(positive)`` against every other true class;
2. its **sensitivity and specificity at its own stored operating point**: the decisions the
   model makes (the operating point its file stores, of two decisions for a model such as
   ``breast-us``; the most probable class for a file without one), exactly as
   :func:`featbus.evaluation.validation.validate` makes them: the predictions come from
   ``validate`` itself (nothing is refitted), so a figure here is the figure ``featbus validate``
   prints for the same model and images;
3. the **paired differences**, each other model minus the first (``B - A``), with 95 %
   percentile intervals from one bootstrap that resamples the data's *groups* (patients: a
   manifest's ``group`` column, BUS-BRA's ``Case``; near-duplicate groups otherwise, as
   ``validate`` groups them). Every model is scored on the same resamples, so the intervals
   of the differences are paired: what two models share (the hard images of this set) cancels.

**Images a model has seen.** ``validate`` says which images (or near-copies) a model or one of
its trained parts (a shipped backbone, a segmenter) trained on
(:func:`featbus.model.provenance.overlap`). A figure on them describes training images, so: every
model's line and every difference on all images says so on the same line (``(seen: ...)``), the
differences are recomputed on the images *neither* model of the pair saw, and only those feed
the verdict. When every image was seen by one of the two, there is no verdict for the pair.

**Verdict words follow the intervals**: a difference whose interval lies above 0 is "higher",
below 0 "lower", and an interval that covers 0 is "no difference shown" (not "the same": a
wider data set may still show one). The intervals are per comparison, not adjusted for the
number of models and figures compared.

Examples
--------
>>> from featbus import make_phantoms
>>> from featbus.evaluation.comparison import compare_models
>>> from featbus.workflows.training import train_model
>>> train = make_phantoms(40, image_size=48, random_state=0)
>>> a = train_model(train, "intensity", classifier="logreg", cross_validate=False, progress=False)
>>> b = train_model(train, "intensity", classifier="knn", cross_validate=False, progress=False)
>>> result = compare_models([a, b], make_phantoms(30, image_size=48, random_state=1), names=["logreg", "knn"],
...                         n_bootstrap=50)
>>> result.names, sorted(result.to_dict()["differences"][0])[:3]
(['logreg', 'knn'], ['a', 'b', 'figures'])
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import OperatingPoint, Predictions, check_n_bootstrap, format_interval
from .figures import LESION_OR_NORMAL, POSITIVE_FIGURES, estimate_paired, get_figure, parse_figure
from .render import direction

__all__ = ["compare_models", "ModelComparison", "direction", "default_figures"]


def default_figures(two_decisions: bool) -> list[str]:
    """The figures compared when none are asked for: the table's figures of one positive class
    (:data:`featbus.evaluation.figures.POSITIVE_FIGURES`: the AUC of p(positive), sensitivity and
    specificity at each model's own operating point), and, when every model can call an image
    normal (two decisions: presence, then malignancy), the lesion-or-normal decision
    (:data:`featbus.evaluation.figures.LESION_OR_NORMAL`: lesions, the positive class's images and
    normal scans called normal)."""
    return [*POSITIVE_FIGURES, *(LESION_OR_NORMAL if two_decisions else ())]


def _estimate(sel: np.ndarray, views: Sequence[Predictions], names, groups, n_bootstrap: int, random_state) -> dict:
    """Figures and paired intervals on the images ``sel``: one bootstrap of their groups for every model
    (:func:`featbus.evaluation.figures.estimate_paired`)."""
    idx = np.flatnonzero(sel)
    if idx.size == 0:
        return {"n_images": 0, "n_groups": 0, "figures": {}, "intervals": {}}
    g = np.asarray(groups)[idx]
    sub = [dataclasses.replace(v, y_true=v.y_true[idx], y_pred=v.y_pred[idx], groups=g,
                               scores=None if v.scores is None else v.scores[idx]) for v in views]
    figures, intervals = estimate_paired(sub, names, g, int(n_bootstrap), random_state=random_state)
    return {"n_images": int(idx.size), "n_groups": int(np.unique(g).size), "figures": figures,
            "intervals": intervals}


def _num(x) -> float | None:
    return None if x is None or not isinstance(x, numbers.Real) or not math.isfinite(x) else float(x)


@dataclasses.dataclass
class ModelComparison:
    """Models compared on the same labelled images (made by :func:`compare_models`). Its words and
    JSON come from :mod:`featbus.evaluation.render` (:func:`~featbus.evaluation.render.comparison_text`,
    :func:`~featbus.evaluation.render.comparison_dict`), read from the attributes and methods below.

    Parameters
    ----------
    names : list of str
        How each model is named in the output (the first is the reference ``A``).
    sources : list of str or None
        Each model's file, where it was given as one.
    positive : str
        The class of the AUC, sensitivity and specificity.
    y_true : ndarray of str
        True class of every image.
    paths : list of str
        Where each image came from.
    groups : ndarray
        The bootstrap units (patients, or near-duplicate groups), as ``validate`` forms them.
    groups_from : str
        What the groups are.
    data_description : str
        The data set in a sentence.
    scores : list of ndarray
        Each model's ``p(positive)`` of every image.
    called : list of ndarray of bool
        Whether each model's own decision was ``positive`` for every image.
    rules : list of str
        Each model's decision rule in words (its stored operating point, or the most probable class).
    seen_images : list of ndarray of bool
        For each model, the images (or near-copies) it or a trained part of it trained on.
    seen_notes : list of list of str
        For each model, one sentence per trained part that saw some of the images, naming them.
    n_bootstrap : int
        Resamples of the groups (0: no intervals).
    random_state : int or None
        Seed of the bootstrap (the same resamples for every model).
    everything : dict
        ``n_images``, ``n_groups``, ``figures`` and ``intervals`` on every image, keyed ``(m, name)``
        (model ``m``'s figure ``name``) and ``(m, 0, name)`` (model ``m`` minus the first):
        :meth:`value` and :meth:`difference` read them.
    unseen : dict
        ``m -> the same dict on the images neither the first model nor model m saw``, for every
        model ``m >= 1`` whose pair saw some images; absent when the pair saw none (the figures
        on every image are then the ones the verdict reads).
    notes : list of str, default=[]
        How the data were read (labels folded to a model class's case, images skipped).
    figures : list, default=["auc", "sensitivity", "specificity"]
        The figures compared, as asked (names of the figure table, or
        :class:`~featbus.evaluation.figures.FigureKey`), in the order shown.

    Attributes
    ----------
    verdict : list of str
        One line per model ``m >= 1``: how it compares with the first, on the images neither saw.
    switching : list of str
        One plain sentence per model ``m >= 1`` on switching to it from the first (:meth:`switch`).
    """

    names: list
    sources: list
    positive: str
    y_true: np.ndarray
    paths: list
    groups: np.ndarray
    groups_from: str
    data_description: str
    scores: list
    called: list
    rules: list
    seen_images: list
    seen_notes: list
    n_bootstrap: int
    random_state: int | None
    everything: dict
    unseen: dict
    notes: list = dataclasses.field(default_factory=list)
    figures: list = dataclasses.field(default_factory=lambda: list(POSITIVE_FIGURES))

    # -- the figures
    def value(self, m: int, name, on: dict | None = None) -> tuple[float, tuple]:
        """Model ``m``'s figure ``name`` (as in :attr:`figures`) and its interval, on every image
        (or on the estimate ``on``, one of :attr:`unseen`)."""
        est = self.everything if on is None else on
        return est["figures"].get((m, name), math.nan), est["intervals"].get((m, name), (math.nan, math.nan))

    def difference(self, m: int, name, on: dict | None = None) -> tuple[float, tuple]:
        """Model ``m`` minus the first on the figure ``name``, with its paired interval, on every
        image (or on the estimate ``on``)."""
        est = self.everything if on is None else on
        return (est["figures"].get((m, 0, name), math.nan),
                est["intervals"].get((m, 0, name), (math.nan, math.nan)))

    # -- what was seen
    def n_seen(self, m: int) -> int:
        """How many images model ``m`` (or a trained part of it) saw."""
        return int(np.sum(self.seen_images[m]))

    def seen_tag(self, models: Sequence[int]) -> str:
        """The mark a figure on every image carries when some model of ``models`` saw some images."""
        n = len(self.y_true)
        parts = []
        for m in models:
            k = self.n_seen(m)
            if k:
                parts.append(f"{self.names[m]} trained on {'all ' + str(n) if k == n else f'{k} of the {n}'} "
                             "images (or near-copies)")
        if not parts:
            return ""
        return f" (seen: {'; '.join(parts)}: optimistic for {'it' if len(parts) == 1 else 'them'})"

    def basis(self, m: int) -> dict:
        """What the verdict of model ``m`` against the first reads: the images neither saw."""
        return self.unseen.get(m, self.everything)

    # -- the verdict
    def switch(self, m: int) -> dict[str, list]:
        """What the paired differences of model ``m`` against the first say about finding cancers,
        on the images neither saw: ``worse`` (the miss figures, rows of the table with ``misses``,
        whose interval lies wholly on the side of more missed cancers), ``better`` (those wholly on
        the side of fewer) and ``other`` (any other figure shown higher or lower, a specificity
        gain among them: never a reason to switch alone)."""
        basis = self.basis(m)
        out: dict[str, list] = {"worse": [], "better": [], "other": []}
        if not basis["n_images"]:
            return out
        for name in self.figures:
            word = direction(*self.difference(m, name, basis))
            if word not in ("higher", "lower"):
                continue
            misses = get_figure(name).misses
            if misses is None:
                out["other"].append(name)
            else:
                out["worse" if word == misses else "better"].append(name)
        return out

    @property
    def verdict(self) -> list[str]:
        """One line per model after the first: the paired differences on the images neither of the
        two saw, each with its word (higher, lower, no difference shown)."""
        from .render import comparison_verdict

        return comparison_verdict(self)

    @property
    def switching(self) -> list[str]:
        """One plain sentence per model after the first on switching to it
        (:func:`featbus.evaluation.render.switch_sentence`)."""
        from .render import switch_sentence

        return [switch_sentence(self, m) for m in range(1, len(self.names))]

    # -- output (words and JSON: featbus.evaluation.render)
    def summary(self) -> str:
        """The comparison as text: the models' figures, the paired differences, the verdict and
        the images a model has seen (:func:`featbus.evaluation.render.comparison_text`).

        Returns
        -------
        text : str
        """
        from .render import comparison_text

        return comparison_text(self)

    def to_dict(self) -> dict[str, Any]:
        """Everything printed, as JSON values (``compare.json``;
        :func:`featbus.evaluation.render.comparison_dict`).

        Returns
        -------
        out : dict
            ``models`` (each with its figures, rule and seen images), ``differences`` (each pair on
            every image and on the images neither saw, with the word of each interval),
            ``verdict``, ``switching``, and the data and bootstrap settings.
        """
        from .render import comparison_dict

        return comparison_dict(self)

    # -- the plot (matplotlib imported only here)
    def plot(self, fig=None):
        """ROC curves of every model on these images (each model's own operating point marked), and
        the paired differences from the first model with their intervals.

        Parameters
        ----------
        fig : matplotlib Figure, optional

        Returns
        -------
        fig : matplotlib Figure
        """
        from matplotlib.figure import Figure  # no pyplot: no display backend, nothing left open
        from sklearn.metrics import roc_curve

        from .render import figure_label

        if fig is None:
            fig = Figure(figsize=(12, 5.2), layout="constrained")
        ax_roc, ax_diff = fig.subplots(1, 2, width_ratios=[1, 1.25])
        is_pos = self.y_true == self.positive
        for m, name in enumerate(self.names):
            fpr, tpr, _ = roc_curve(is_pos, self.scores[m])
            auc = format_interval(*self.value(m, "auc"), digits=3)
            k, n = self.n_seen(m), len(self.y_true)
            tag = "" if not k else " (seen: every image, optimistic)" if k == n else f" (seen: {k} of {n} images)"
            line, = ax_roc.plot(fpr, tpr, lw=2, label=f"{name}: AUC {auc}{tag}")
            sens, spec = self.value(m, "sensitivity")[0], self.value(m, "specificity")[0]
            if _num(sens) is not None and _num(spec) is not None:
                ax_roc.plot(1 - spec, sens, "o", ms=8, c=line.get_color(), mec="k")
        ax_roc.plot([0, 1], [0, 1], ls="--", c="0.6", lw=1)
        ax_roc.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity",
                   title=f"ROC of p({self.positive}) on the same {len(self.y_true)} images\n(dots: each model's own "
                         "operating point)")
        ax_roc.set_title(ax_roc.get_title(), fontsize=10)
        ax_roc.set_aspect("equal")
        ax_roc.grid(alpha=0.3)
        ax_roc.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8)  # below: never over a curve
        rows, labels = [], []
        for m in range(1, len(self.names)):
            for f in self.figures:
                rows.append((*self.difference(m, f), bool(self.seen_tag([0, m])), "every image"))
                labels.append(f"{figure_label(f, self.positive)}: {self.names[m]} - {self.names[0]}")
                if m in self.unseen:
                    u = self.unseen[m]
                    rows.append((*self.difference(m, f, u), False, "neither trained on"))
                    labels.append(f"  same, {u['n_images']} images neither trained on" if u["n_images"] else
                                  "  no image neither trained on: no verdict")
        y = np.arange(len(rows))[::-1]
        for yi, (value, ci, seen, _) in zip(y, rows):
            if _num(value) is None:
                continue
            lo, hi = ci if ci is not None else (math.nan, math.nan)
            colour = "0.55" if seen else "k"
            if _num(lo) is not None and _num(hi) is not None:
                ax_diff.plot([lo, hi], [yi, yi], c=colour, lw=2)
            ax_diff.plot(value, yi, "o", c=colour, mfc="white" if seen else colour, ms=7)
        ax_diff.axvline(0, c="0.4", lw=1, ls="--")
        ax_diff.set_yticks(y, labels, fontsize=8)
        ax_diff.set(xlabel="difference (B - A)",
                    title="paired differences, 95 % intervals over groups\n(hollow grey: includes images a "
                          "model trained on, optimistic)")
        ax_diff.set_title(ax_diff.get_title(), fontsize=10)
        ax_diff.grid(alpha=0.3, axis="x")
        return fig

    def write(self, folder: str | os.PathLike, *, overwrite: bool = False) -> tuple[Path, Path]:
        """Write ``compare.json`` and ``compare.png`` into ``folder``, each under a temporary name
        renamed into place (a new folder is filled under a temporary name and renamed whole), so
        an interrupted run leaves no half-written output.

        Parameters
        ----------
        folder : path
        overwrite : bool, default=False
            Replace the two files when the folder already holds them.

        Returns
        -------
        json_path, png_path : Path
        """
        import json
        import shutil
        import tempfile

        from ..io import refuse_existing, written_atomically

        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{str(folder)!r} is a file; give a folder")
        names = ("compare.json", "compare.png")
        taken = [n for n in names if (folder / n).exists()]
        refuse_existing(folder, overwrite, taken=taken)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        fig = self.plot()

        def fill(where: Path) -> None:
            with written_atomically(where / names[1], suffix=".png") as tmp:
                fig.savefig(tmp, dpi=120, format="png")
            with written_atomically(where / names[0]) as tmp:
                tmp.write_text(text, encoding="utf-8")

        if folder.exists():
            fill(folder)
        else:  # a new folder: filled beside it, then renamed into place whole
            folder.parent.mkdir(parents=True, exist_ok=True)
            tmp_dir = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp_dir, 0o777 & ~mask)  # as a folder made by mkdir (mkdtemp makes it private)
            try:
                fill(tmp_dir)
                os.replace(tmp_dir, folder)
            finally:
                if tmp_dir.exists():
                    shutil.rmtree(tmp_dir, ignore_errors=True)
        return folder / names[0], folder / names[1]


def _model_label(model, source: str | None, index: int) -> str:
    if source:
        return Path(source).name
    recipe = (getattr(model, "manifest", None) or {}).get("recipe") or {}
    return str(recipe.get("name") or f"model {index + 1}")


def _rule_words(result) -> str:
    """A model's decision rule in words (its stored operating point, or the most probable class)."""
    from ..model.trust import printable  # class names from the files: escaped

    if result.operating_point:
        return printable(OperatingPoint.from_record(result.operating_point).rule_text())
    return f"{'p >= 0.5' if len(result.classes) == 2 else 'the most probable class'} (no stored operating point)"


def _shared_truth(results, rows, positive: str) -> np.ndarray:
    """The true class of the images every model judged, the same for every model, with positive images and others."""
    first = np.asarray(results[0].y_true, dtype=object)[rows[0]]
    for m, r in enumerate(results[1:], 1):
        if not np.array_equal(np.asarray(r.y_true, dtype=str)[rows[m]], first.astype(str)):
            raise ValueError(f"model {m + 1} reads the labels differently from model 1 (class names that differ in "
                             "case between the models): give models with the same class names")
    is_pos = first == positive
    if not is_pos.any() or is_pos.all():
        held = sorted(set(first.tolist()))
        raise ValueError(f"the data hold {'no ' + positive if not is_pos.any() else 'only ' + positive} images "
                         f"(classes: {', '.join(held)}): AUC, sensitivity and specificity of {positive} need "
                         f"{positive} images and others")
    return first


def _common_images(results) -> tuple[list, list]:
    """The images every model was judged on, in the first model's order: each result's rows of them, and
    a note naming the images one model left out (out of domain for it), which no figure then includes."""
    keys = [[str(p) for p in r.paths] for r in results]
    shared = set(keys[0]).intersection(*map(set, keys[1:]))
    order = [k for k in keys[0] if k in shared]
    rows = [np.array([dict(zip(ks, range(len(ks))))[k] for k in order], dtype=int) for ks in keys]
    dropped = sorted(set().union(*map(set, keys)) - shared)
    if not order:
        raise ValueError("the models share no image they could be judged on (each left out different images as "
                         "not of its kind)")
    note = [] if not dropped else [
        f"{len(dropped)} image(s) left out of every figure because a model did not judge them (not the kind of "
        f"image it learnt from): " + ", ".join(repr(Path(d).name) for d in dropped[:10])
        + (f" and {len(dropped) - 10} more" if len(dropped) > 10 else "")]
    return rows, note


def compare_models(models: Sequence[Any], data, *, names: Sequence[str] | None = None, positive: str = "malignant",
                   figures: Sequence[Any] | None = None, n_bootstrap: int = 1000, random_state: int | None = 0,
                   progress: Any = False) -> ModelComparison:
    """Compare saved models on the same labelled images, with paired intervals over patients.

    Every model predicts every image once through :func:`featbus.evaluation.validation.validate`
    (nothing is refitted; its decisions are those ``featbus validate`` judges: the model's own
    stored operating point). See :mod:`featbus.evaluation.comparison` for what is measured, how the
    intervals are paired and how images a model has seen are handled.

    Parameters
    ----------
    models : sequence of FeatbusModel or path
        At least two; the first is the reference ``A`` every other model is compared with
        (``B - A``). A path is loaded with :func:`featbus.load_model`'s defaults.
    data : path or Bunch
        Anything :func:`featbus.load_data` reads, or a data set Bunch; its classes must be among
        every model's, and it must hold ``positive`` images and others.
    names : sequence of str, optional
        How the models are named in the output (default: the file's name, else the recipe's).
    positive : str, default="malignant"
        The class of the AUC, sensitivity and specificity; one of every model's classes.
    figures : sequence of str or FigureKey, optional
        The figures compared, as scikit-learn's ``scoring=`` takes names: names of the figure table
        (:func:`featbus.evaluation.figures.get_figure_names`; ``"called_normal"``: the positive
        class's images called normal) or :class:`~featbus.evaluation.figures.FigureKey`. Default
        :func:`default_figures`: AUC, sensitivity and specificity, and the lesion-or-normal
        decision when every model takes two decisions. Every name is checked before a model
        predicts.
    n_bootstrap : int, default=1000
        Resamples of the data's groups behind every interval (0: none); the same resamples for
        every model.
    random_state : int or None, default=0
        Seed of the bootstrap.
    progress : bool or "auto", default=False
        Each model's stages as they run (its pass over the images, the image check; :class:`featbus.progress.Stages`
        named ``compare k/n``). What the models share is computed once: one
        :class:`featbus.model.runtime.SharedPasses` is handed to each model's validate.

    Returns
    -------
    result : ModelComparison
        ``.summary()`` (text), ``.to_dict()`` (JSON), ``.plot()``, ``.write(folder)``.

    Raises
    ------
    ValueError
        Fewer than two models, names of another length, data without a positive or a negative
        image, or what :func:`~featbus.evaluation.validation.validate` refuses (a class a model
        does not know): one line naming it.
    """
    models = list(models)
    _check_arguments(models, names, n_bootstrap, figures)
    results = _validated(models, data, names, positive, random_state, progress)
    rows, left_out = _common_images(results)
    first = results[0]
    y_true = _shared_truth(results, rows, positive)
    sources = [r.model_source for r in results]
    labels = list(names) if names is not None else [_model_label(mod, src, m)
                                                    for m, (mod, src) in enumerate(zip(models, sources))]
    two = all(r.point is not None and r.point.two_decisions for r in results)
    names_asked = list(figures) if figures is not None else default_figures(two)
    proba = [np.asarray(r.proba, dtype=float)[rows[m]] for m, r in enumerate(results)]
    scores = [p[:, list(r.classes).index(positive)] for p, r in zip(proba, results)]
    called = [np.asarray(r.y_pred == positive, dtype=bool)[rows[m]] for m, r in enumerate(results)]
    rules = [_rule_words(r) for r in results]
    seen = [np.zeros(len(y_true), dtype=bool) if r.seen_images is None
            else np.asarray(r.seen_images, dtype=bool)[rows[m]] for m, r in enumerate(results)]
    groups = np.asarray(first.groups)[rows[0]]
    # each model's decisions as the figure table reads them: its own rule of its own probabilities
    views = [Predictions(y_true=y_true, y_pred=np.asarray(r.y_pred, dtype=object)[rows[m]], scores=proba[m],
                         classes=np.asarray(r.classes, dtype=object), class_names=list(r.classes), groups=groups,
                         rule=r.rule, positive=positive) for m, r in enumerate(results)]
    every = np.ones(len(y_true), dtype=bool)
    everything = _estimate(every, views, names_asked, groups, n_bootstrap, random_state)
    unseen = {}
    for m in range(1, len(models)):
        sel = ~(seen[0] | seen[m])
        if not sel.all():
            unseen[m] = _estimate(sel, views, names_asked, groups, n_bootstrap, random_state)
    notes = list(dict.fromkeys(n for r in results for n in r.notes)) + left_out
    return ModelComparison(
        names=labels, sources=sources, positive=positive, y_true=y_true,
        paths=[first.paths[i] for i in rows[0]], groups=groups,
        groups_from=first.groups_from, data_description=first.data_description, scores=scores, called=called,
        rules=rules, seen_images=seen, seen_notes=[list(r.seen) for r in results], n_bootstrap=int(n_bootstrap),
        random_state=random_state, everything=everything, unseen=unseen, notes=notes, figures=list(names_asked))


def _check_arguments(models: list, names, n_bootstrap, figures) -> None:
    """Refuse fewer than two models, names of another length, a bad bootstrap count or an unknown figure."""
    if len(models) < 2:
        raise ValueError(f"compare needs at least two models, got {len(models)}")
    if names is not None and len(names) != len(models):
        raise ValueError(f"names has {len(names)} entries for {len(models)} models")
    check_n_bootstrap(n_bootstrap)
    for name in figures or ():
        parse_figure(name)  # an unknown name (with a suggestion) before any model predicts


def _validated(models: list, data, names, positive: str, random_state, progress) -> list:
    """Each model's :func:`~featbus.evaluation.validation.validate` result on the data (read once), no bootstrap."""
    from ..model.runtime import SharedPasses
    from ..progress import Stages
    from .validation import validate

    if isinstance(data, (str, os.PathLike)):
        from ..datasets import load_data

        if not Path(data).exists():
            raise FileNotFoundError(f"data {str(data)!r} does not exist")
        data = load_data(data)
    results = []
    passes = SharedPasses()  # a segmenter or image check the models share: once per image, for this call only
    for m, model in enumerate(models):
        # validate's own prediction path: the model's decisions at its stored point, its seen images, the groups
        shown = Stages(progress, f"compare {m + 1}/{len(models)}" + (f" {names[m]}" if names else ""))
        results.append(validate(model, data, n_bootstrap=0, positive=positive, random_state=random_state,
                                progress=shown, passes=passes))
    return results
