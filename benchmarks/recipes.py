"""Every named recipe of ``featbus train``, judged the same way: duplicate-grouped CV on BUSI.

For each recipe of :mod:`featbus.pipelines.recipes` this prints its duplicate-grouped cross-validated
accuracy and malignant AUC with 95 % bootstrap intervals (resampling near-duplicate groups) and
its training time per fold, all recipes on the *same* folds, then paired differences against
the baselines (``handcrafted`` and ``frozen-cnn``, the latter being ``featbus train -f
efficientnet_lite0``) with paired-bootstrap intervals.

This is the protocol to quote for a recipe (duplicate-grouped k-fold CV on BUSI, the settings
that ship): each run writes its recipes' figures to ``benchmarks/results/recipes.json`` (a
recipe not run keeps its earlier entry), and ``featbus recipes``, the README and the guides
quote that file; ``tests/test_docs.py`` checks every quoted figure against it.

* Feature recipes: features extracted once (cached in ``benchmarks/out/cache``), the pipeline
  ``featbus train`` builds refitted in every fold.
* Network recipes: a whole fine-tuning per fold (its early-stopping split is drawn inside the
  training fold, from whole duplicate groups), so no test image ever reaches a training step.

Usage (from the repository root)::

    python benchmarks/recipes.py [--recipes handcrafted,frozen-cnn,finetuned-lite0] [--n-splits 3]

On 2 CPU cores the fine-tuned Lite0 recipe takes about 6 to 10 minutes per fold of 3 (5.7 measured on
2026-11-26; 10.4 on 2026-11-27 beside other jobs, the figure recipes.json holds); the ``best``
recipe (three Lite2 networks) about 1.5 hours per fold, so run it where a GPU is available.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.utils.metaestimators import available_if

from featbus import get_data_home

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / "out" / "cache"
DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"
RESULTS = REPO / "benchmarks" / "results" / "recipes.json"


FIT_SECONDS: dict[str, list[float]] = {}  # recipe -> seconds of each fold's fit (clones share it)


class _Timed:
    """Wraps an estimator and records the seconds of every ``fit`` (one per fold)."""

    def __init__(self, estimator, name):
        self.estimator, self.name = estimator, name

    def get_params(self, deep=True):
        return {"estimator": self.estimator, "name": self.name}

    def set_params(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X, y):
        t = time.perf_counter()
        self.estimator.fit(X, y)
        FIT_SECONDS.setdefault(self.name, []).append(time.perf_counter() - t)
        self.classes_ = self.estimator.classes_
        return self

    def predict(self, X):
        return self.estimator.predict(X)

    @available_if(lambda self: hasattr(self.estimator, "predict_proba"))
    def predict_proba(self, X):
        return self.estimator.predict_proba(X)

    @available_if(lambda self: hasattr(self.estimator, "decision_function"))
    def decision_function(self, X):
        return self.estimator.decision_function(X)


def write_entry(path: Path, name: str, recipe, data, args, *, acc, auc, minutes_per_fold: float,
                default: bool) -> None:
    """Merge one recipe's figures into the results JSON (other recipes' entries are kept)."""
    import featbus

    results = json.loads(path.read_text()) if path.is_file() else {}
    results.setdefault("protocol", "duplicate-grouped k-fold CV on BUSI (the same folds for every recipe); "
                                   "95 % bootstrap intervals resampling near-duplicate groups")
    results.setdefault("recipes", {})
    settings = (dict(recipe.network, members=recipe.members) if recipe.is_network
                else {"features": list(recipe.features), "classifier": recipe.classifier})
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    results["recipes"][name] = {
        "accuracy": [float(v) for v in acc],
        "malignant_auc": [float(v) for v in auc],
        "n_splits": args.n_splits, "n_images": int(len(data.target)), "n_groups": int(len(np.unique(data.groups))),
        "n_bootstrap": args.n_bootstrap, "minutes_per_fold": round(minutes_per_fold, 1),
        "shipped_settings": default, "settings": settings,
        "featbus_version": featbus.__version__, "measured": time.strftime("%Y-%m-%d"),
        "command": f"python benchmarks/recipes.py --recipes {name} --n-splits {args.n_splits}"
                   + (f" --epochs {args.epochs}" if args.epochs is not None else ""),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def write_paired(path: Path, table, metric: str) -> None:
    """Merge paired differences (recipe minus baseline, on the same folds) into the results JSON."""
    results = json.loads(path.read_text())
    paired = results.setdefault("paired", {})
    for row in table.itertuples(index=False):
        paired.setdefault(f"{row.a} - {row.b}", {})[metric] = {
            "difference": float(row.difference), "ci": [float(row.diff_low), float(row.diff_high)],
            "p_bootstrap": float(row.p_bootstrap)}
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def main() -> None:
    from sklearn.base import clone

    from featbus import load_busi
    from featbus.evaluation import compare, evaluate
    from featbus.pipelines import extract_features, family_blocks, make_classification_pipeline
    from featbus.pipelines.recipes import RECIPES, build_network

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--recipes", default="handcrafted,frozen-cnn,finetuned-lite0")
    ap.add_argument("--n-splits", type=int, default=3)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=None, help="override the network recipes' epochs")
    ap.add_argument("--cache", default=str(CACHE), help="feature cache folder ('none': extract afresh, timed)")
    ap.add_argument("--out", default=str(RESULTS), help="JSON the figures are merged into ('none': not written)")
    args = ap.parse_args()

    data = load_busi(args.data)
    y = np.asarray(data.target_names)[data.target]
    print(f"BUSI: {len(y)} images, {len(np.unique(data.groups))} near-duplicate groups; duplicate-grouped "
          f"{args.n_splits}-fold CV, the same folds for every recipe; intervals: 95 % group bootstrap")
    reports, rows = {}, []
    for name in args.recipes.split(","):
        recipe = RECIPES[name]
        if recipe.segmenter is not None or recipe.two_decisions:
            raise SystemExit(f"{name}: this script measures whole-image recipes; a recipe with a segmenter is "
                             "judged leaving one site out (its card), its segmenter having seen BUSI")
        times = FIT_SECONDS.setdefault(name, [])
        t0 = time.perf_counter()
        if recipe.is_network:
            net = build_network(recipe, overrides={"epochs": args.epochs}, random_state=0, progress=False)
            report = evaluate(_Timed(net, name), data.data, y, groups=data.groups, n_splits=args.n_splits,
                              n_bootstrap=args.n_bootstrap, random_state=0, name=name, progress=False)
        else:
            cache = None if args.cache.lower() == "none" else args.cache
            X, columns = extract_features(data.data, list(recipe.features), cache=cache, progress=False)
            extract = time.perf_counter() - t0
            tail = make_classification_pipeline(None, classifier=recipe.classifier, blocks=family_blocks(columns),
                                                random_state=0)
            report = evaluate(_Timed(clone(tail), name), X, y, groups=data.groups, n_splits=args.n_splits,
                              n_bootstrap=args.n_bootstrap, random_state=0, name=name, progress=False)
            times = [t + extract * (1 - 1 / args.n_splits) for t in times]  # a fold extracts its own images
        reports[name] = report
        acc, auc = report.value("accuracy"), report.value("auc", "malignant")
        (alo, ahi), (ulo, uhi) = report.interval("accuracy"), report.interval("auc", "malignant")
        rows.append((name, acc, alo, ahi, auc, ulo, uhi, float(np.mean(times)), time.perf_counter() - t0))
        print(f"{name:16s} accuracy {acc:.3f} [{alo:.3f}, {ahi:.3f}]  malignant AUC {auc:.3f} [{ulo:.3f}, {uhi:.3f}]"
              f"  training {np.mean(times) / 60:.1f} min per fold  (all folds {rows[-1][-1] / 60:.1f} min)",
              flush=True)
        if args.out.lower() != "none":  # after each recipe, so a long run keeps what it finished
            write_entry(Path(args.out), name, recipe, data, args, acc=(acc, alo, ahi), auc=(auc, ulo, uhi),
                        minutes_per_fold=float(np.mean(times)) / 60, default=(args.epochs is None))

    print("\nrecipe           accuracy [95% CI]       malignant AUC [95% CI]  training per fold "
          "(feature extraction included; from cache when a run filled it)")
    for name, acc, alo, ahi, auc, ulo, uhi, per_fold, _ in rows:
        print(f"{name:16s} {acc:.3f} [{alo:.3f}, {ahi:.3f}]   {auc:.3f} [{ulo:.3f}, {uhi:.3f}]    "
              f"{per_fold / 60:.1f} min")
    names = list(reports)
    for base in ("handcrafted", "frozen-cnn"):
        others = [n for n in names if n not in ("handcrafted", "frozen-cnn")]
        if base not in reports or not others:
            continue
        for metric, cls in (("accuracy", "macro"), ("auc", "malignant")):
            table = compare([reports[n] for n in others] + [reports[base]], metric=metric, cls=cls)
            table = table[table["b"] == base][["a", "b", "a_value", "b_value", "difference", "diff_low",
                                               "diff_high", "p_bootstrap"]]
            print(f"\npaired differences in {metric if cls == 'macro' else 'malignant AUC'} against {base}:")
            print(table.to_string(index=False))
            if args.out.lower() != "none":
                write_paired(Path(args.out), table, "accuracy" if cls == "macro" else "malignant_auc")


if __name__ == "__main__":
    main()
