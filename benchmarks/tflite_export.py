"""TFLite export: file size, CPU latency per image and probability parity against Keras.

Trains an EfficientNet-Lite0 (ImageNet, default layer and pooling) -> scaler -> logistic
regression model on ``--n-train`` BUSI images (balanced by class; phantoms when BUSI is absent),
exports it with :func:`featbus.deploy.export.export_tflite` (float32 and int8 dynamic-range weights) and,
on ``--n-test`` other images, prints side by side:

* ``size``: the file on disk (the Keras row: the backbone's weights as float32);
* ``ms/img``: median latency per image, batch of 1, image already in memory, resize included on
  both sides: ``keras`` is ``FeatbusModel.predict_proba([image])`` (the featbus pipeline: compiled
  ``tf.function``, scaler, classifier), ``tflite`` is :func:`~featbus.deploy.export.prepare_input` +
  the TFLite interpreter (``--threads`` CPU threads; XNNPACK);
* ``max |dp|``: the largest absolute probability difference from the Keras pipeline over the
  test images and classes; ``agree``: share of images with the same predicted class.

Run from the repository root::

    python benchmarks/tflite_export.py                 # 60 training, 40 test images
    python benchmarks/tflite_export.py --threads 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from featbus import get_data_home

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BUSI = get_data_home() / "busi" / "Dataset_BUSI_with_GT"


def _data(n_train: int, n_test: int):
    from featbus.datasets import load_image_folder, make_phantoms, subset

    if BUSI.is_dir():
        data, source = load_image_folder(BUSI, groups=None), "BUSI"
    else:
        data, source = make_phantoms(n_train + n_test, image_size=256, random_state=0), "phantoms"
    rng = np.random.RandomState(0)
    per = n_train // len(data.target_names)
    train = np.concatenate([rng.choice(np.flatnonzero(data.target == k), per, replace=False)
                            for k in range(len(data.target_names))])
    rest = rng.permutation(np.setdiff1d(np.arange(len(data.target)), train))[:n_test]
    return subset(data, train), [data.images[i] for i in rest], source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=60)
    parser.add_argument("--n-test", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from featbus.deploy.export import TFLiteModel, export_tflite, prepare_input
    from featbus.workflows.training import train_model

    train, test, source = _data(args.n_train, args.n_test)
    model = train_model(train, "efficientnet_lite0", classifier="logreg", cross_validate=False, progress=False)
    model.warm_up()
    tmp = Path(tempfile.mkdtemp())
    (_, est), = model.features.transformer_list
    keras_bytes = sum(int(np.prod(w.shape)) * 4 for w in est.network().extractor.weights)

    def timed(fn):
        times, out = [], []
        for im in test:
            t = time.perf_counter()
            out.append(fn(im))
            times.append(time.perf_counter() - t)
        return np.vstack(out), 1000 * float(np.median(times))

    ref, keras_ms = timed(lambda im: model.predict_proba([im])[0])
    rows = [("keras", keras_bytes, keras_ms, 0.0, 1.0)]
    for quantize in (False, True):
        path = export_tflite(model, tmp / f"lite0{'-int8' if quantize else ''}.tflite", quantize=quantize)
        lite = TFLiteModel(path, num_threads=args.threads)
        lite.predict_proba(prepare_input(model, test[0]))  # first call allocates
        got, ms = timed(lambda im, lite=lite: lite.predict_proba(prepare_input(model, im))[0])
        rows.append((f"tflite{' int8' if quantize else ''}", path.stat().st_size, ms,
                     float(np.max(np.abs(got - ref))), float(np.mean(got.argmax(1) == ref.argmax(1)))))
    print(f"EfficientNet-Lite0 (ImageNet, {est.layers_[0]}, {est.input_size_[0]} px) -> scaler -> logistic "
          f"regression; trained on {len(train.target)} {source} images, timed on {len(test)} others; "
          f"batch 1, CPU, tflite threads={args.threads}")
    print(f"{'runtime':<12} {'size MB':>8} {'ms/img':>8} {'vs keras':>9} {'max |dp|':>9} {'agree':>6}")
    for name, size, ms, dp, agree in rows:
        print(f"{name:<12} {size / 1e6:8.2f} {ms:8.1f} {keras_ms / ms:8.2f}x {dp:9.1e} {agree:6.2f}")


if __name__ == "__main__":
    main()
