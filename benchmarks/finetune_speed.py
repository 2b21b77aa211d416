"""Speed of featbus's networks against the bare way, on the Keras backend and device in use.

Run it under each backend (``KERAS_BACKEND=tensorflow|torch|jax``), on a CPU or a GPU: it prints
the backend and the device (:func:`featbus.backend_info`) and three side-by-side measurements:

1. **training**: the same network (the backbone cut at its default layer, global average
   pooling, a dense head; batch-norm layers frozen in inference mode) on the same pre-resized
   images, AdamW at the same rate and batch size, the same number of epochs:

   (a) bare Keras: ``model.compile`` + ``model.fit`` on in-memory arrays (no augmentation): the
       backend's own compiled training loop, the ceiling;
   (b) ``FineTunedCNN.fit`` (featbus's training engine) with ``augment=None``, no warm-up, no
       validation split, dropout 0: the same arithmetic;
   (c) ``FineTunedCNN.fit`` with its default ``"ultrasound"`` augmentation drawn every epoch.

   Time per epoch excludes each side's first epoch (compilation). Target (b)/(a) >= 0.85.
2. **features**: ``DeepFeatures.transform`` of the in-memory images against the bare compiled
   forward pass of the same cut network over the same batches (``model.predict``). Target >= 0.85.
3. (optional, ``--recipe``) a named recipe trained once on the images, with its held-out
   validation accuracy and its time.

Run from the repository root (BUSI images if present, else phantoms)::

    OMP_NUM_THREADS=2 python benchmarks/finetune_speed.py                 # 128 images, 160 px
    KERAS_BACKEND=jax python benchmarks/finetune_speed.py --n-images 500 --size 224 --epochs 3
    python benchmarks/finetune_speed.py --n-images 625 --size 224 --recipe best   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from featbus import get_data_home

DEFAULT_DATA = get_data_home() / "busi"


def load_images(n: int, root: Path):
    from featbus import load_busi, make_phantoms

    try:
        data = load_busi(root)
        rng = np.random.default_rng(0)
        idx = np.sort(rng.choice(len(data.data), size=min(n, len(data.data)), replace=False))
        return [data.data[i] for i in idx], np.asarray(data.target)[idx], "BUSI"
    except (FileNotFoundError, OSError, ValueError):
        d = make_phantoms(n, image_size=256, random_state=0)
        return list(d.data), np.asarray(d.target), "phantoms"


def bare_model(backbone: str, size: int, n_classes: int):
    """The network FineTunedCNN trains, built plainly in Keras (frozen BN, preprocessing layer, pooled
    logits, AdamW): the bare loop both speed benchmarks measure featbus against."""
    import keras

    from featbus.features.deep import keras_preprocess
    from featbus.features.finetune import _build_body
    from featbus.networks import get_backbone

    bb = get_backbone(backbone)
    body = _build_body(bb.name, "imagenet", (size, size), bb.default_layer)
    for layer in body.layers:  # frozen BN: Keras 3 runs a non-trainable BN in inference mode
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    inp = keras.Input((size, size))
    x = keras.layers.Lambda(lambda t: keras_preprocess(t, bb.preprocess))(inp)
    x = keras.layers.GlobalAveragePooling2D()(body(x))
    model = keras.Model(inp, keras.layers.Dense(n_classes)(x))
    model.compile(optimizer=keras.optimizers.AdamW(1e-4, weight_decay=0.01),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def bare_keras(images: np.ndarray, y: np.ndarray, n_classes: int, args) -> float:
    """Seconds per epoch of model.fit on the same network (epochs after the first)."""
    import keras

    model = bare_model(args.backbone, args.size, n_classes)
    target = np.eye(n_classes, dtype=np.float32)[y]
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    model.fit(images, target, batch_size=args.batch_size, shuffle=True, epochs=args.epochs, verbose=0,
              callbacks=[Timer()])
    return float(np.mean(times[1:]))


def features(images: np.ndarray, args) -> tuple[float, float]:
    """Seconds of (bare compiled forward pass, DeepFeatures.transform) over the same images,
    each after one untimed pass (compilation); the bare pass pools the same layer."""
    import keras

    from featbus import DeepFeatures
    from featbus.features.deep import keras_pool, keras_preprocess
    from featbus.networks import get_backbone

    bb = get_backbone(args.backbone)
    est = DeepFeatures(args.backbone, input_size=args.size, batch_size=args.batch_size * 2, progress=False,
                       cache=False).fit(list(images))
    net = est.network()
    inp = keras.Input((args.size, args.size))
    maps = net.extractor(keras_preprocess(inp, bb.preprocess))  # a list where the network has several
    parts = [keras_pool(m, net.pooling) for m in (maps if isinstance(maps, (list, tuple)) else [maps])]
    out = keras.ops.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    bare = keras.Model(inp, out)
    bare.predict(images[:args.batch_size * 2], batch_size=args.batch_size * 2, verbose=0)
    t = time.perf_counter()
    bare.predict(images, batch_size=args.batch_size * 2, verbose=0)
    t_bare = time.perf_counter() - t
    arrays = [np.ascontiguousarray(im / np.float32(255.0)) for im in images]  # DeepFeatures reads [0, 1]
    est.transform(arrays[:args.batch_size * 2])
    from featbus.compute.extraction import clear_memory

    clear_memory()
    t = time.perf_counter()
    est.transform(arrays)
    return t_bare, time.perf_counter() - t


def ours(items, y, args, augment) -> float:
    from featbus.features.finetune import FineTunedCNN

    ft = FineTunedCNN(backbone=args.backbone, input_size=args.size, epochs=args.epochs, warmup_epochs=0,
                      batch_size=args.batch_size, learning_rate=1e-4, head_learning_rate=1e-4, dropout=0.0,
                      label_smoothing=0.0, class_weight=None, augment=augment, validation_fraction=0,
                      random_state=0, progress=False)
    ft.fit(items, y)
    return float(np.mean([e["seconds"] for e in ft.history_["epochs"][1:]]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--n-images", type=int, default=128)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--recipe", default=None, help="also train this named recipe once (e.g. best)")
    args = ap.parse_args(argv)
    if args.epochs < 2:
        ap.error("--epochs must be >= 2 (the first epoch, with tracing, is not timed)")

    from featbus.features.finetune import FineTunedCNN

    items, y, source = load_images(args.n_images, args.data)
    classes, y_idx = np.unique(y, return_inverse=True)
    prep = FineTunedCNN(backbone=args.backbone, input_size=args.size)
    prep._check_params()
    prep.input_size_ = prep._size
    images = prep._prepare_all(items)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    from featbus import backend_info

    print(f"{backend_info()}")
    print(f"{source}: {len(items)} images at {args.size}x{args.size}, {args.backbone}, batch {args.batch_size}, "
          f"{args.epochs} epochs (first not timed), OMP_NUM_THREADS={threads}, {os.cpu_count()} CPUs visible")
    t_keras = bare_keras(images, y_idx, len(classes), args)
    t_ours = ours(items, y, args, None)
    t_aug = ours(items, y, args, "ultrasound")
    n = len(items)
    print(f"{'':38s} {'s/epoch':>8s} {'img/s':>7s}")
    print(f"{'(a) bare Keras model.fit':38s} {t_keras:8.2f} {n / t_keras:7.1f}")
    print(f"{'(b) FineTunedCNN.fit, no augmentation':38s} {t_ours:8.2f} {n / t_ours:7.1f}")
    print(f"{'(c) FineTunedCNN.fit, ultrasound aug.':38s} {t_aug:8.2f} {n / t_aug:7.1f}")
    print(f"ratio (b) speed / (a) speed: {t_keras / t_ours:.2f} (target >= 0.85); "
          f"(c)/(a): {t_keras / t_aug:.2f}")
    t_bare, t_feat = features(images, args)
    print(f"{'(d) bare forward pass (model.predict)':38s} {t_bare:8.2f} {n / t_bare:7.1f}")
    print(f"{'(e) DeepFeatures.transform':38s} {t_feat:8.2f} {n / t_feat:7.1f}")
    print(f"ratio (e) speed / (d) speed: {t_bare / t_feat:.2f} (target >= 0.85)")
    if args.recipe:
        from featbus.pipelines.recipes import build_network, get_recipe

        net = build_network(get_recipe(args.recipe), random_state=0, progress=False)
        t = time.perf_counter()
        net.fit(items, y)
        seconds = time.perf_counter() - t
        acc = float(np.mean(net.classes_[np.argmax(net.validation_proba_, axis=1)]
                            == np.asarray(y)[net.validation_indices_]))
        print(f"recipe {args.recipe}: trained in {seconds / 60:.1f} min; duplicate-grouped validation accuracy "
              f"{acc:.3f} on {len(net.validation_indices_)} images")


if __name__ == "__main__":
    main()
