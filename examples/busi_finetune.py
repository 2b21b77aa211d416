"""
BUSI: frozen versus fine-tuned EfficientNet-Lite features, duplicate-grouped CV, paired tests
=============================================================================================

Data: Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. *Dataset of breast ultrasound images.*
Data in Brief 28:104863 (2020). https://doi.org/10.1016/j.dib.2019.104863

Recipes (all on the same duplicate-grouped folds: near-duplicates of one lesion stay in one fold):

* ``frozen``: frozen Lite0 ImageNet features (``block6d_add``, avg+max) + StandardScaler + SVC;
* ``frozen+aug``: the same after ``ImageAugmenter(n_copies)`` on the training fold;
* ``ft-head``: :class:`featbus.FineTunedCNN` (Lite0) fine-tuned on the training fold, its own head;
* ``ft-svm``: the fine-tuned embeddings + StandardScaler + SVC (the papers' hybrid recipe);
* ``ft-head+tta`` / ``ft-svm+tta``: the same networks with flip test-time augmentation;
* ``lite2-head`` / ``lite2-svm``: the same with EfficientNet-Lite2 (260 px by default).

Everything learnt (network, scaler, SVM, augmentation) sees the training fold only. One
fine-tuning per fold and backbone serves its head, SVM and TTA recipes (they are the same
network: fitting it again with the same ``random_state`` would repeat the same computation).

Metrics: accuracy, macro-F1, malignant-vs-rest AUC, sensitivity per class, with 95% bootstrap
intervals over duplicate groups (:class:`featbus.evaluation.Report`), and paired tests
(:func:`featbus.evaluation.compare`: paired bootstrap, Nadeau-Bengio corrected t-test, McNemar)
of every recipe against ``frozen``. ``--stratified`` adds the leaky stratified-fold figure of
``ft-svm`` (near-duplicates straddle folds), to compare with published 98-99%.

Run from the repository root (``OMP_NUM_THREADS=2``; the full protocol takes hours on 2 CPUs)::

    python examples/busi_finetune.py                                  # full: 5 folds, Lite0 224 px + Lite2
    python examples/busi_finetune.py --size 160 --epochs 8 --no-lite2 --max-time 420
    python examples/busi_finetune.py --recipes frozen,lite2-head,lite2-svm --max-time 300
    python examples/busi_finetune.py --cv stratified --recipes frozen,ft-svm      # the leaky figure
"""

# a still drawn by docs/make_gallery_thumbnails.py (this example is not run by the docs build)
# sphinx_gallery_thumbnail_path = "_static/gallery/busi_finetune.png"

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from featbus import get_data_home

DEFAULT_DATA = get_data_home() / "busi"
ALL_RECIPES = ["frozen", "frozen+aug", "ft-head", "ft-svm", "ft-head+tta", "ft-svm+tta", "lite2-head", "lite2-svm",
               "lite2-head+tta", "lite2-svm+tta"]


def svm():
    return make_pipeline(StandardScaler(), SVC())


def _aligned(scores, est_classes, classes):
    out = np.zeros((len(scores), len(classes)))
    for j, c in enumerate(est_classes):
        out[:, int(np.searchsorted(classes, c))] = scores[:, j]
    return out


class Collector:
    """Out-of-fold predictions and scores of one recipe, turned into a featbus Report."""

    def __init__(self, name: str, n: int, kind: str):
        self.name, self.kind = name, kind
        self.pred = np.full(n, -1)
        self.scores = np.zeros((n, 3))
        self.seconds: list[float] = []

    def add(self, test, pred, scores, seconds):
        self.pred[test] = pred
        self.scores[test] = scores
        self.seconds.append(seconds)

    def report(self, y, classes, names, folds, splits, groups, how, n_bootstrap):
        from featbus.evaluation import Report

        return Report(name=self.name, classes=classes, class_names=names, y_true=y, y_pred=self.pred,
                      scores=self.scores, score_kind=self.kind, fold=folds, splits=splits, groups=groups,
                      cv=how, n_bootstrap=n_bootstrap, random_state=0)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--size", type=int, default=None, help="Lite0 input side (default 224)")
    ap.add_argument("--lite2-size", type=int, default=None, help="Lite2 input side (default 260)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--warmup-epochs", type=int, default=2)
    ap.add_argument("--learning-rate", type=float, default=1e-4)
    ap.add_argument("--max-time", type=float, default=None, help="seconds per fine-tuning")
    ap.add_argument("--n-copies", type=int, default=2, help="ImageAugmenter copies for frozen+aug")
    ap.add_argument("--no-lite2", action="store_true")
    ap.add_argument("--no-frozen-aug", action="store_true")
    ap.add_argument("--recipes", default=None,
                    help="comma-separated subset of " + ",".join(ALL_RECIPES) + " (overrides --no-*)")
    ap.add_argument("--stratified", action="store_true", help="also the leaky stratified figure of ft-svm")
    ap.add_argument("--cv", choices=["duplicate-grouped", "stratified"], default="duplicate-grouped",
                    help="folds of the main table ('stratified' is the leaky protocol, for comparison only)")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--json", type=Path, default=None, help="write the headline numbers here")
    args = ap.parse_args(argv)

    from featbus import DeepFeatures, load_busi
    from featbus.evaluation import compare, make_splits
    from featbus.features.finetune import FineTunedCNN
    from featbus.networks.augmentation import ImageAugmenter

    data = load_busi(args.data)
    X, y = list(data.data), np.asarray(data.target)
    classes, names = np.unique(y), list(data.target_names)
    malignant = names.index("malignant")

    def fine_tuner(backbone, size):
        return FineTunedCNN(backbone=backbone, input_size=size, epochs=args.epochs,
                            warmup_epochs=args.warmup_epochs, learning_rate=args.learning_rate,
                            max_time=args.max_time, random_state=0, progress=False)

    def run(cv, recipes_wanted):
        splits, groups, how = make_splits(X, y, cv=cv, n_splits=args.folds, groups=data.groups, random_state=0)
        folds = np.empty(len(y), int)
        for f, (_, te) in enumerate(splits):
            folds[te] = f
        col: dict[str, Collector] = {}

        def collector(name, kind):
            if name not in col:
                col[name] = Collector(name, len(y), kind)
            return col[name]

        size = args.size
        frozen = DeepFeatures(backbone="efficientnet_lite0", pooling=("avg", "max"), input_size=size, progress=False)
        for f, (tr, te) in enumerate(splits):
            Xtr, Xte, ytr = [X[i] for i in tr], [X[i] for i in te], y[tr]
            if "frozen" in recipes_wanted:
                t = time.perf_counter()
                ext = clone(frozen).fit(Xtr)
                clf = svm().fit(ext.transform(Xtr), ytr)
                E = ext.transform(Xte)
                collector("frozen", "decision").add(te, clf.predict(E), clf.decision_function(E),
                                                    time.perf_counter() - t)
            if "frozen+aug" in recipes_wanted:
                t = time.perf_counter()
                Xa, ya = ImageAugmenter(n_copies=args.n_copies, random_state=f).fit_resample(Xtr, ytr)
                ext = clone(frozen).fit(Xa)
                clf = svm().fit(ext.transform(Xa), ya)
                E = ext.transform(Xte)
                collector("frozen+aug", "decision").add(te, clf.predict(E), clf.decision_function(E),
                                                        time.perf_counter() - t)
            for tag, backbone, bsize in (("ft", "efficientnet_lite0", size),
                                         ("lite2", "efficientnet_lite2", args.lite2_size)):
                if not any(r.startswith(tag + "-") for r in recipes_wanted):
                    continue
                t = time.perf_counter()
                ft = fine_tuner(backbone, bsize).fit(Xtr, ytr)
                fit_s = time.perf_counter() - t
                h = ft.history_
                print(f"  fold {f} {backbone}: {len(h['epochs'])} epochs, best {h['best_epoch']}, "
                      f"stopped by {h['stopped']}, {h['seconds']:.0f} s, n_train {h['n_train']}, "
                      f"n_val {h['n_validation']}", flush=True)
                variants = [("", ft)]
                if f"{tag}-head+tta" in recipes_wanted or f"{tag}-svm+tta" in recipes_wanted:
                    tta = clone(ft).set_params(tta=True)
                    tta.__dict__.update({k: v for k, v in ft.__dict__.items() if k.endswith("_")})
                    variants.append(("+tta", tta))
                for suffix, net in variants:
                    if f"{tag}-head{suffix}" in recipes_wanted:
                        t = time.perf_counter()
                        p = net.predict_proba(Xte)
                        collector(f"{tag}-head{suffix}", "probability").add(
                            te, net.classes_[p.argmax(1)], _aligned(p, net.classes_, classes),
                            fit_s + time.perf_counter() - t)
                    if f"{tag}-svm{suffix}" in recipes_wanted:
                        t = time.perf_counter()
                        clf = svm().fit(net.transform(Xtr), ytr)
                        E = net.transform(Xte)
                        collector(f"{tag}-svm{suffix}", "decision").add(
                            te, clf.predict(E), clf.decision_function(E), fit_s + time.perf_counter() - t)
            done = {k: round(float(np.mean(c.pred[te] == y[te])), 3) for k, c in col.items()}
            print(f"fold {f + 1}/{len(splits)} accuracy: {done}", flush=True)
        reports = [c.report(y, classes, names, folds, splits, groups, how, args.n_bootstrap) for c in col.values()]
        return reports, {c.name: float(np.mean(c.seconds)) for c in col.values()}, how

    recipes = ["frozen", "ft-head", "ft-svm", "ft-head+tta", "ft-svm+tta"]
    if not args.no_frozen_aug:
        recipes.insert(1, "frozen+aug")
    if not args.no_lite2:
        recipes += ["lite2-head", "lite2-svm"]
    if args.recipes:
        recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
        unknown = set(recipes) - set(ALL_RECIPES)
        if unknown:
            ap.error(f"unknown recipes {sorted(unknown)}; choose from {ALL_RECIPES}")
    print(f"BUSI: {len(y)} images; Lite0 input {args.size or 224} px, Lite2 {args.lite2_size or 260} px; "
          f"{args.warmup_epochs}+{args.epochs} epochs, lr {args.learning_rate}, max_time {args.max_time}; "
          f"recipes {recipes}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)
    reports, seconds, how = run(args.cv, recipes)

    print(f"\n== {how} ==")
    head = f"{'recipe':14s} {'accuracy':>22s} {'macro-F1':>22s} {'AUC malignant':>22s}  sensitivity (" \
           + ", ".join(names) + ")  s/fold"
    print(head)
    table = {}
    def cell(r, metric, cls="macro"):
        v = r.value(metric, cls)
        lo, hi = r.interval(metric, cls)
        return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"

    for r in reports:
        sens = ", ".join(f"{r.value('sensitivity', c):.2f}" for c in classes)
        print(f"{r.name:14s} {cell(r, 'accuracy'):>22s} {cell(r, 'f1'):>22s} "
              f"{cell(r, 'auc', classes[malignant]):>22s}  "
              f"{sens:>26s}  {seconds[r.name]:6.0f}")
        table[r.name] = {"accuracy": r.value("accuracy"), "f1": r.value("f1"),
                         "auc_malignant": r.value("auc", classes[malignant]), "seconds_per_fold": seconds[r.name]}
    if args.cv == "stratified":
        print("(stratified folds let near-duplicates of one lesion straddle training and test: leaky)")
    base = [r for r in reports if r.name == "frozen"]
    if base:
        import pandas as pd

        pd.set_option("display.width", 200)
        for metric, cls in (("accuracy", "macro"), ("auc", classes[malignant])):
            rows = [compare([r, base[0]], metric=metric, cls=cls).iloc[0] for r in reports if r.name != "frozen"]
            cols = ["a", "b", "metric", "difference", "diff_low", "diff_high", "p_bootstrap", "p_corrected_t",
                    "p_mcnemar"]
            print(f"\npaired tests against frozen ({metric}{'' if cls == 'macro' else ' malignant'}):")
            print(pd.DataFrame(rows)[cols].round(3).to_string(index=False))
    if args.stratified:
        rs, sec, how_s = run("stratified", ["ft-svm"])
        r = rs[0]
        print(f"\n== {how_s} (leaky: near-duplicates straddle folds) ==\n{r.name}: accuracy "
              f"{r.value('accuracy'):.3f} [{r.interval('accuracy')[0]:.3f}, {r.interval('accuracy')[1]:.3f}], "
              f"AUC malignant {r.value('auc', classes[malignant]):.3f}")
        table["stratified ft-svm"] = {"accuracy": r.value("accuracy"),
                                      "auc_malignant": r.value("auc", classes[malignant])}
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": table},
                                        indent=2))


if __name__ == "__main__":
    main()
