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

from ..metrics import (
    CONFIDENCE,
    OperatingPoint,
    bootstrap,
    format_interval,
    interval_text,
    rank_auc,
    sensitivity_specificity,
)

__all__ = ["compare_models", "ModelComparison", "FIGURES"]

#: The figures compared, in the order of the table: the AUC of p(positive), then sensitivity and
#: specificity of the positive class at each model's own operating point.
FIGURES = ("auc", "sensitivity", "specificity")
_SHOWN = {"auc": "AUC", "sensitivity": "sensitivity", "specificity": "specificity"}


def _figures(is_pos: np.ndarray, scores: Sequence[np.ndarray], called: Sequence[np.ndarray]) -> dict[str, float]:
    """Every model's figures and every difference from the first, flat (the bootstrap recomputes this)."""
    out: dict[str, float] = {}
    for m, (s, c) in enumerate(zip(scores, called)):
        out[f"auc[{m}]"] = rank_auc(is_pos, s)
        out[f"sensitivity[{m}]"], out[f"specificity[{m}]"] = sensitivity_specificity(is_pos, c,
                                                                                      zero_division=math.nan)
    for m in range(1, len(scores)):
        for f in FIGURES:
            out[f"{f}[{m}-0]"] = out[f"{f}[{m}]"] - out[f"{f}[0]"]
    return out


def _estimate(sel: np.ndarray, is_pos, scores, called, groups, n_bootstrap: int, random_state) -> dict:
    """Figures and paired intervals on the images ``sel``: one bootstrap of their groups for every model."""
    idx = np.flatnonzero(sel)
    if idx.size == 0:
        return {"n_images": 0, "n_groups": 0, "figures": {}, "intervals": {}}
    g = np.asarray(groups)[idx]
    stat = lambda i: _figures(is_pos[i], [s[i] for s in scores], [c[i] for c in called])  # noqa: E731
    figures, intervals = bootstrap(stat, idx, groups=g, n_bootstrap=int(n_bootstrap), random_state=random_state)
    return {"n_images": int(idx.size), "n_groups": int(np.unique(g).size), "figures": figures,
            "intervals": intervals}


def _num(x) -> float | None:
    return None if x is None or not isinstance(x, numbers.Real) or not math.isfinite(x) else float(x)


def _direction(value, ci) -> str:
    """``"higher"``, ``"lower"`` or ``"no difference shown"``: what the interval of a difference says."""
    lo, hi = ci if ci is not None else (math.nan, math.nan)
    if _num(lo) is None or _num(hi) is None:
        if _num(value) is None:
            return "cannot be computed"
        return "no interval (--n-bootstrap 0): no difference shown"
    if lo > 0:
        return "higher"
    if hi < 0:
        return "lower"
    return "no difference shown (the interval covers 0)"


@dataclasses.dataclass
class ModelComparison:
    """Models compared on the same labelled images (made by :func:`compare_models`).

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
        ``n_images``, ``n_groups``, ``figures`` and ``intervals`` on every image: keys ``auc[m]``,
        ``sensitivity[m]``, ``specificity[m]`` of model ``m`` and ``auc[m-0]``... the difference
        of model ``m`` minus the first.
    unseen : dict
        ``m -> the same dict on the images neither the first model nor model m saw``, for every
        model ``m >= 1`` whose pair saw some images; absent when the pair saw none (the figures
        on every image are then the ones the verdict reads).
    notes : list of str, default=[]
        How the data were read (labels folded to a model class's case, images skipped).

    Attributes
    ----------
    verdict : list of str
        One line per model ``m >= 1``: how it compares with the first, on the images neither saw.
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

    # -- what was seen
    def n_seen(self, m: int) -> int:
        """How many images model ``m`` (or a trained part of it) saw."""
        return int(np.sum(self.seen_images[m]))

    def _seen_tag(self, models: Sequence[int]) -> str:
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

    def _basis(self, m: int) -> dict:
        """What the verdict of model ``m`` against the first reads: the images neither saw."""
        return self.unseen.get(m, self.everything)

    # -- the verdict
    def _pair_line(self, m: int) -> str:
        a, b = self.names[0], self.names[m]
        n = len(self.y_true)
        basis = self._basis(m)
        if basis["n_images"] == 0:
            who = [f"{self.names[k]} on {'all ' + str(n) if self.n_seen(k) == n else self.n_seen(k)}"
                   for k in (0, m) if self.n_seen(k)]
            return (f"{b} vs {a}: no verdict -- every one of these {n} images (or a near-copy) trained one of the "
                    f"two ({', '.join(who)}): figures on them are optimistic and say nothing of new images; compare "
                    "the models on images neither trained on")
        where = ("on every image (neither model trained on any)" if m not in self.unseen else
                 f"on the {basis['n_images']} images neither model trained on ({basis['n_groups']} groups; the "
                 f"other {n - basis['n_images']} left out)")
        parts = []
        for f in FIGURES:
            key = f"{f}[{m}-0]"
            value, ci = basis["figures"].get(key), basis["intervals"].get(key)
            text = format_interval(value, ci, digits=3, missing="n/a")
            if _num(value) is not None:
                text = f"{value:+.3f}" + interval_text(ci, 2, signed=True)
            word = _direction(value, ci)
            if word in ("higher", "lower"):
                word = f"{b} {word}"
            parts.append(f"{_SHOWN[f]} {text}: {word}")
        return f"{b} - {a}, {where}: " + "; ".join(parts)

    @property
    def verdict(self) -> list[str]:
        """One line per model after the first: the paired differences on the images neither of the
        two saw, each with its word (higher, lower, no difference shown)."""
        return [self._pair_line(m) for m in range(1, len(self.names))]

    # -- output
    def summary(self) -> str:
        """The comparison as text: the models' figures, the paired differences, the verdict and
        the images a model has seen.

        Returns
        -------
        text : str
        """
        n, e = len(self.y_true), self.everything
        counts = {c: int(np.sum(self.y_true == c)) for c in dict.fromkeys(self.y_true.tolist())}
        mix = ", ".join(f"{c} {k}" for c, k in counts.items())
        lines = [f"compare: {len(self.names)} models on the same {n} images ({mix}; "
                 f"{e['n_groups']} groups: {self.groups_from}); positive class {self.positive}",
                 (f"95 % intervals: {self.n_bootstrap} bootstrap resamples of the groups, the same resamples for "
                  "every model (paired)" if self.n_bootstrap else "no intervals (--n-bootstrap 0)")]
        width = max(len(s) for s in self.names + ["model"])
        head = f"  {'model':<{width}}  {'AUC':<19}  {'sensitivity':<19}  {'specificity'}"
        lines += ["", "each model at its own operating point:", head]
        for m, name in enumerate(self.names):
            cells = [format_interval(e["figures"].get(f"{f}[{m}]"), e["intervals"].get(f"{f}[{m}]"), digits=3)
                     for f in FIGURES]
            lines.append((f"  {name:<{width}}  " + "  ".join(f"{c:<19}" for c in cells)).rstrip()
                         + self._seen_tag([m]))
        for m, name in enumerate(self.names):
            lines.append(f"  {name} decides: {self.rules[m]}")
        lines += ["", f"paired differences, each model minus {self.names[0]} (B - A):"]
        for m in range(1, len(self.names)):
            lines.append(self._diff_line(m, e, "every image") + self._seen_tag([0, m]))
            if m in self.unseen:
                u = self.unseen[m]
                if u["n_images"]:
                    lines.append(self._diff_line(m, u, f"the {u['n_images']} images neither trained on"))
                else:
                    lines.append(f"  {self.names[m]} - {self.names[0]}, on images neither trained on: none left")
        lines += ["", "verdict:"] + [f"  {v}" for v in self.verdict]
        seen = [(m, note) for m in range(len(self.names)) for note in self.seen_notes[m]]
        if seen:
            lines += ["", "images a model has seen (figures on them are optimistic; they never feed the verdict):"]
            lines += [f"  {self.names[m]}: {note}" for m, note in seen]
        if self.notes:
            lines += [""] + [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _diff_line(self, m: int, est: dict, where: str) -> str:
        cells = []
        for f in FIGURES:
            key = f"{f}[{m}-0]"
            value = est["figures"].get(key)
            text = "n/a" if _num(value) is None else f"{value:+.3f}" + interval_text(est["intervals"].get(key), 2,
                                                                                     signed=True)
            cells.append(f"{_SHOWN[f]} {text}")
        return f"  {self.names[m]} - {self.names[0]}, on {where}: " + ", ".join(cells)

    def to_dict(self) -> dict[str, Any]:
        """Everything printed, as JSON values (``compare.json``).

        Returns
        -------
        out : dict
            ``models`` (each with its figures, rule and seen images), ``differences`` (each pair on
            every image and on the images neither saw, with the word of each interval),
            ``verdict``, and the data and bootstrap settings.
        """
        from .._version import __version__
        from ..model.format import json_safe

        def block(est: dict, key: str) -> dict:
            ci = est["intervals"].get(key)
            return {"value": _num(est["figures"].get(key)),
                    "ci": [_num(c) for c in ci] if ci is not None else [None, None]}

        n = len(self.y_true)
        models = []
        for m, name in enumerate(self.names):
            models.append({"name": name, "source": self.sources[m], "decided_by": self.rules[m],
                           **{f: block(self.everything, f"{f}[{m}]") for f in FIGURES},
                           "seen": {"n_images": self.n_seen(m), "notes": list(self.seen_notes[m]),
                                    "images": [p for p, s in zip(self.paths, self.seen_images[m]) if s]}})
        differences = []
        for m in range(1, len(self.names)):
            row = {"a": self.names[0], "b": self.names[m],
                   "figures": {f: {**block(self.everything, f"{f}[{m}-0]"),
                                   "word": _direction(self.everything["figures"].get(f"{f}[{m}-0]"),
                                                      self.everything["intervals"].get(f"{f}[{m}-0]"))}
                               for f in FIGURES},
                   "on": f"every image ({n})", "seen": self._seen_tag([0, m]).strip(" ()") or None}
            if m in self.unseen:
                u = self.unseen[m]
                row["unseen"] = {"n_images": u["n_images"], "n_groups": u["n_groups"],
                                 "figures": {f: {**block(u, f"{f}[{m}-0]"),
                                                 "word": _direction(u["figures"].get(f"{f}[{m}-0]"),
                                                                    u["intervals"].get(f"{f}[{m}-0]"))}
                                             for f in FIGURES} if u["n_images"] else {}}
            differences.append(row)
        counts = {c: int(np.sum(self.y_true == c)) for c in dict.fromkeys(self.y_true.tolist())}
        return json_safe({
            "featbus": __version__, "positive": self.positive,
            "data": {"description": self.data_description, "n_images": n, "counts": counts,
                     "n_groups": self.everything["n_groups"], "groups": self.groups_from},
            "bootstrap": {"resamples": self.n_bootstrap, "seed": self.random_state, "confidence": CONFIDENCE,
                          "paired": True, "unit": "groups"},
            "models": models, "differences": differences, "verdict": self.verdict, "notes": list(self.notes)})

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

        if fig is None:
            fig = Figure(figsize=(12, 5.2), layout="constrained")
        ax_roc, ax_diff = fig.subplots(1, 2, width_ratios=[1, 1.25])
        is_pos = self.y_true == self.positive
        e = self.everything
        for m, name in enumerate(self.names):
            fpr, tpr, _ = roc_curve(is_pos, self.scores[m])
            auc = format_interval(e["figures"].get(f"auc[{m}]"), e["intervals"].get(f"auc[{m}]"), digits=3)
            k, n = self.n_seen(m), len(self.y_true)
            tag = "" if not k else " (seen: every image, optimistic)" if k == n else f" (seen: {k} of {n} images)"
            line, = ax_roc.plot(fpr, tpr, lw=2, label=f"{name}: AUC {auc}{tag}")
            sens, spec = e["figures"].get(f"sensitivity[{m}]"), e["figures"].get(f"specificity[{m}]")
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
            for f in FIGURES:
                key = f"{f}[{m}-0]"
                rows.append((e["figures"].get(key), e["intervals"].get(key), True if self._seen_tag([0, m]) else False,
                             "every image"))
                labels.append(f"{_SHOWN[f]}: {self.names[m]} - {self.names[0]}")
                if m in self.unseen:
                    u = self.unseen[m]
                    rows.append((u["figures"].get(key), u["intervals"].get(key), False, "neither trained on"))
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

        from ..io import written_atomically

        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{str(folder)!r} is a file; give a folder")
        names = ("compare.json", "compare.png")
        taken = [n for n in names if (folder / n).exists()]
        if taken and not overwrite:
            raise ValueError(f"{str(folder)!r} already holds {', '.join(taken)}; pass --overwrite (overwrite=True) "
                             "to replace them")
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
                   n_bootstrap: int = 1000, random_state: int | None = 0, progress: Any = False) -> ModelComparison:
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
    n_bootstrap : int, default=1000
        Resamples of the data's groups behind every interval (0: none); the same resamples for
        every model.
    random_state : int or None, default=0
        Seed of the bootstrap.
    progress : bool or "auto", default=False
        A bar over the models (:func:`featbus.progress.progress_bar`).

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
    from ..progress import progress_bar
    from .validation import validate

    models = list(models)
    if len(models) < 2:
        raise ValueError(f"compare needs at least two models, got {len(models)}")
    if names is not None and len(names) != len(models):
        raise ValueError(f"names has {len(names)} entries for {len(models)} models")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, numbers.Integral) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    if isinstance(data, (str, os.PathLike)):
        from ..datasets import load_data

        if not Path(data).exists():
            raise FileNotFoundError(f"data {str(data)!r} does not exist")
        data = load_data(data)
    results = []
    with progress_bar(progress, total=len(models), desc="compare", unit="model") as bar:
        for model in models:
            # validate's own prediction path: the model's decisions at its stored point, its seen images, the groups
            results.append(validate(model, data, n_bootstrap=0, positive=positive, random_state=random_state))
            bar.update(1)
    rows, left_out = _common_images(results)
    first = results[0]
    for m, r in enumerate(results[1:], 1):
        if not np.array_equal(np.asarray(r.y_true, dtype=str)[rows[m]], np.asarray(first.y_true, dtype=str)[rows[0]]):
            raise ValueError(f"model {m + 1} reads the labels differently from model 1 (class names that differ in "
                             "case between the models): give models with the same class names")
    y_true = np.asarray(first.y_true, dtype=object)[rows[0]]
    is_pos = y_true == positive
    if not is_pos.any() or is_pos.all():
        held = sorted(set(y_true.tolist()))
        raise ValueError(f"the data hold {'no ' + positive if not is_pos.any() else 'only ' + positive} images "
                         f"(classes: {', '.join(held)}): AUC, sensitivity and specificity of {positive} need "
                         f"{positive} images and others")
    sources = [r.model_source for r in results]
    labels = list(names) if names is not None else [_model_label(mod, src, m)
                                                    for m, (mod, src) in enumerate(zip(models, sources))]
    scores = [np.asarray(r.proba, dtype=float)[rows[m], list(r.classes).index(positive)] for m, r in enumerate(results)]
    called = [np.asarray(r.y_pred == positive, dtype=bool)[rows[m]] for m, r in enumerate(results)]
    from ..model.trust import printable  # class names from the files: escaped

    rules = []
    for r in results:
        op = r.operating_point
        plain = "p >= 0.5" if len(r.classes) == 2 else "the most probable class"
        rules.append(printable(OperatingPoint.from_record(op).rule_text()) if op else
                     f"{plain} (no stored operating point)")
    seen = [np.zeros(len(y_true), dtype=bool) if r.seen_images is None
            else np.asarray(r.seen_images, dtype=bool)[rows[m]] for m, r in enumerate(results)]
    groups = np.asarray(first.groups)[rows[0]]
    every = np.ones(len(y_true), dtype=bool)
    everything = _estimate(every, is_pos, scores, called, groups, n_bootstrap, random_state)
    unseen = {}
    for m in range(1, len(models)):
        sel = ~(seen[0] | seen[m])
        if not sel.all():
            unseen[m] = _estimate(sel, is_pos, scores, called, groups, n_bootstrap, random_state)
    notes = list(dict.fromkeys(n for r in results for n in r.notes)) + left_out
    return ModelComparison(
        names=labels, sources=sources, positive=positive, y_true=y_true,
        paths=[first.paths[i] for i in rows[0]], groups=groups,
        groups_from=first.groups_from, data_description=first.data_description, scores=scores, called=called,
        rules=rules, seen_images=seen, seen_notes=[list(r.seen) for r in results], n_bootstrap=int(n_bootstrap),
        random_state=random_state, everything=everything, unseen=unseen, notes=notes)
