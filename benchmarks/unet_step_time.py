"""Benchmark: training time per image of the U-Net under the settings a segmentation recipe trades.

Builds :func:`featbus.segmentation.network.build_unet` as :class:`featbus.UNetSegmenter` would
(EfficientNet-Lite2 encoder at 224 px: the default recipe) and runs training steps of the one
training engine (:func:`featbus.networks.training.train`) on synthetic batches of 8, side by side in one
run, for each variant: the default, the encoder's batch-norm layers frozen (``freeze_bn``),
frozen early encoder stages (``freeze_stride``), a wider decoder, a self-attention block at the
bottleneck, deep supervision, and smaller or larger inputs.
Prints seconds per training image (the last of two epochs, so compilation is excluded) and the
ratio to the default: how many epochs of a variant fit the time of the default's 21. What each
variant scores is measured by ``benchmarks/segmentation_busi.py --folds 0 --set KEY=VALUE --against OOF.npz``.

Run from the repository root::

    OMP_NUM_THREADS=2 python benchmarks/unet_step_time.py [--steps 10]
"""

from __future__ import annotations

import argparse

import numpy as np

VARIANTS = [  # (label, input size, UNetSegmenter settings)
    ("default (Lite2, 224 px)", 224, {}),
    ("freeze_bn (encoder batch-norm)", 224, {"freeze_bn": True}),
    ("freeze_stride=4", 224, {"freeze_stride": 4}),
    ("freeze_stride=8", 224, {"freeze_stride": 8}),
    ("decoder (256, 128, 64, 32, 16)", 224, {"decoder_filters": [256, 128, 64, 32, 16]}),
    ("bottleneck_attention", 224, {"bottleneck_attention": True}),
    ("deep_supervision", 224, {"deep_supervision": True}),
    ("both", 224, {"bottleneck_attention": True, "deep_supervision": True}),
    ("192 px", 192, {}),
    ("256 px", 256, {}),
]


def seconds_per_image(size: int, settings: dict, steps: int, batch: int = 8) -> float:
    from featbus.networks.training import Phase, train
    from featbus.segmentation.network import build_unet, deep_supervision_model, unet_loss
    from featbus.segmentation.training import freeze_encoder_batchnorm, freeze_encoder_to

    model = build_unet(size, "efficientnet_lite2", decoder_filters=settings.get("decoder_filters"),
                       bottleneck_attention=settings.get("bottleneck_attention", False))
    if settings.get("freeze_stride"):
        freeze_encoder_to(model, settings["freeze_stride"])
    if settings.get("freeze_bn"):
        freeze_encoder_batchnorm(model)
    rng = np.random.RandomState(0)
    x = rng.rand(batch, size, size, 1).astype("float32")
    y = (rng.rand(batch, size, size, 1) > 0.7).astype("float32")

    def batches(phase, epoch):
        for _ in range(steps):
            yield x, y

    trained = deep_supervision_model(model) if settings.get("deep_supervision") else model

    def loss_fn(a, b):  # as UNetSegmenter.fit's
        return unet_loss(b, trained(a, training=True), True)

    history = train(trained, loss_fn, [Phase("train", 2, {"all": 1e-3})], batches, steps, progress=False)
    return history["epochs"][-1]["seconds"] / (steps * batch)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="training steps of 8 images per epoch")
    args = parser.parse_args(argv)
    from featbus.networks.backend import backend_info

    print(f"U-Net training steps, batches of 8, {args.steps} steps per epoch; {backend_info()}")
    print(f"{'variant':<34}{'s / image':>10}{'x default':>11}{'epochs in the time of 21':>26}")
    base = None
    for label, size, settings in VARIANTS:
        t = seconds_per_image(size, settings, args.steps)
        base = base or t
        print(f"{label:<34}{t:>10.4f}{t / base:>11.2f}{21 * base / t:>26.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
