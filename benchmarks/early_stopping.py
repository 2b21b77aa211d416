"""Does early stopping help FineTunedCNN? Duplicate-grouped CV on BUSI, early stopping on vs off.

Both settings train the same network (EfficientNet-Lite0, ImageNet weights) on the same
duplicate-grouped folds with the same seed; they differ only in how training ends:

* ``off`` (featbus's default): every training image is trained on, ``epochs`` decide, the last
  epoch's weights are kept;
* ``on``: ``validation_fraction`` of the training fold (whole near-duplicate groups, stratified)
  is held out and training stops after ``patience`` epochs without a lower validation loss,
  keeping the best epoch's weights.

It prints accuracy, macro and malignant AUC with 95 % group-bootstrap intervals for each, the
paired difference (on - off) with its paired-bootstrap interval, and per fold the epoch early
stopping kept and where it stopped. To stay within a CPU budget the default input is 128 px
and 8 fine-tuning epochs (``--input-size 224 --epochs 12`` is the default recipe's scale).

Usage (from the repository root)::

    nice python benchmarks/early_stopping.py [--input-size 128] [--epochs 8] [--n-splits 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from featbus import get_data_home

DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"

HISTORIES: dict[str, list[dict]] = {}  # setting -> the history_ of each fold's fit


class _Recorded:
    """Wraps a FineTunedCNN and keeps every fold's ``history_`` (clones share the dict)."""

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
        h = dict(self.estimator.history_)
        h["fit_seconds"] = time.perf_counter() - t
        HISTORIES.setdefault(self.name, []).append(h)
        self.classes_ = self.estimator.classes_
        return self

    def predict(self, X):
        return self.estimator.predict(X)

    def predict_proba(self, X):
        return self.estimator.predict_proba(X)


def main() -> None:
    import warnings

    from featbus import load_busi
    from featbus.evaluation import compare, evaluate
    from featbus.features.finetune import FineTunedCNN

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--input-size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--warmup-epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--validation-fraction", type=float, default=0.15)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--n-splits", type=int, default=3)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.simplefilter("ignore", UserWarning)  # the "early stopping kept epoch k" notes: tabled below

    data = load_busi(args.data)
    y = np.asarray(data.target_names)[data.target]
    print(f"BUSI: {len(y)} images, {len(np.unique(data.groups))} near-duplicate groups; duplicate-grouped "
          f"{args.n_splits}-fold CV, the same folds for both; FineTunedCNN efficientnet_lite0 at "
          f"{args.input_size} px, {args.warmup_epochs} warm-up + {args.epochs} epochs, batch {args.batch_size}, "
          f"seed {args.seed}; intervals: 95 % group bootstrap", flush=True)
    base = dict(backbone="efficientnet_lite0", input_size=args.input_size, epochs=args.epochs,
                warmup_epochs=args.warmup_epochs, batch_size=args.batch_size, random_state=args.seed,
                progress=False)
    settings = {
        "off": dict(validation_fraction=0.0),
        "on": dict(validation_fraction=args.validation_fraction, patience=args.patience),
    }
    reports = {}
    for name, extra in settings.items():
        t0 = time.perf_counter()
        net = FineTunedCNN(**base, **extra)
        report = evaluate(_Recorded(net, name), data.data, y, groups=data.groups, n_splits=args.n_splits,
                          n_bootstrap=args.n_bootstrap, random_state=0, name=name, progress=False)
        reports[name] = report
        acc, mauc, auc = report.value("accuracy"), report.value("auc"), report.value("auc", "malignant")
        (a0, a1), (m0, m1), (u0, u1) = (report.interval("accuracy"), report.interval("auc"),
                                        report.interval("auc", "malignant"))
        print(f"early stopping {name:3s}: accuracy {acc:.3f} [{a0:.3f}, {a1:.3f}]  macro AUC {mauc:.3f} "
              f"[{m0:.3f}, {m1:.3f}]  malignant AUC {auc:.3f} [{u0:.3f}, {u1:.3f}]  "
              f"({(time.perf_counter() - t0) / 60:.1f} min)", flush=True)
        for k, h in enumerate(HISTORIES.get(name, [])):
            n_epochs = len(h["epochs"])
            print(f"    fold {k}: stopped by {h['stopped']}, ran {n_epochs} epochs (warm-up included), kept epoch "
                  f"{h['best_epoch'] + 1}; {h.get('n_train')} trained on, {h.get('n_validation')} validating; "
                  f"{h['fit_seconds'] / 60:.1f} min", flush=True)
    if len(reports) == 2:
        for metric, cls in (("accuracy", "macro"), ("auc", "macro"), ("auc", "malignant")):
            table = compare([reports["on"], reports["off"]], metric=metric, cls=cls)
            row = table.iloc[0]
            label = metric if cls == "macro" and metric == "accuracy" else f"{cls} {metric.upper()}"
            print(f"on - off, {label}: {row['difference']:+.3f} [{row['diff_low']:+.3f}, {row['diff_high']:+.3f}] "
                  f"(paired bootstrap p = {row['p_bootstrap']:.3f})", flush=True)


if __name__ == "__main__":
    main()
