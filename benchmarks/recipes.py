"""Every named recipe of ``featbus train``, judged the same way: duplicate-grouped CV on BUSI.

For each recipe of :mod:`featbus.recipes` this prints its duplicate-grouped cross-validated
accuracy and malignant AUC with 95 % bootstrap intervals (resampling near-duplicate groups) and
its training time per fold, all recipes on the *same* folds, then paired differences against
the baselines (``handcrafted`` and ``frozen-cnn``, the latter being ``featbus train -f
efficientnet_lite0``) with paired-bootstrap intervals.

* Feature recipes: features extracted once (cached in ``benchmarks/out/cache``), the pipeline
  ``featbus train`` builds refitted in every fold.
* Network recipes: a whole fine-tuning per fold (its early-stopping split is drawn inside the
  training fold, from whole duplicate groups), so no test image ever reaches a training step.

Usage (from the repository root)::

    python benchmarks/recipes.py [--recipes handcrafted,frozen-cnn,finetuned-lite0] [--n-splits 3]

On 2 CPU cores the fine-tuned Lite0 recipe takes about 10 minutes per fold of 3; the ``best``
recipe (three Lite2 networks) about 1.5 hours per fold, so run it where a GPU is available.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.utils.metaestimators import available_if

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / "out" / "cache"
DATA = REPO.parent / "shared" / "data" / "busi" / "Dataset_BUSI_with_GT"


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


def main() -> None:
    from sklearn.base import clone

    from featbus import load_busi
    from featbus.evaluation import compare, evaluate
    from featbus.pipelines import extract_features, family_blocks, make_classification_pipeline
    from featbus.recipes import RECIPES, build_network

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--recipes", default="handcrafted,frozen-cnn,finetuned-lite0")
    ap.add_argument("--n-splits", type=int, default=3)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=None, help="override the network recipes' epochs")
    ap.add_argument("--cache", default=str(CACHE), help="feature cache folder ('none': extract afresh, timed)")
    args = ap.parse_args()

    data = load_busi(args.data)
    y = np.asarray(data.target_names)[data.target]
    print(f"BUSI: {len(y)} images, {len(np.unique(data.groups))} near-duplicate groups; duplicate-grouped "
          f"{args.n_splits}-fold CV, the same folds for every recipe; intervals: 95 % group bootstrap")
    reports, rows = {}, []
    for name in args.recipes.split(","):
        recipe = RECIPES[name]
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


if __name__ == "__main__":
    main()
