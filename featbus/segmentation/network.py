"""The U-Net of :class:`~featbus.segmentation.unet.UNetSegmenter`: encoders, decoder, loss.

A U-Net (Ronneberger et al., MICCAI 2015; doi:10.1007/978-3-319-24574-4_28) whose encoder is
the ImageNet-pretrained EfficientNet-Lite0 of :mod:`featbus.features.backbones`, or a small
MobileNetV2-style stack of inverted residual blocks (Sandler et al., CVPR 2018;
doi:10.1109/CVPR.2018.00474) trained from scratch. Keras is imported when a network is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

__all__ = ["build_unet", "ENCODERS"]

#: Encoders :func:`build_unet` knows. ``"scratch"`` is another name for ``"mobilenet_v2_small"``.
ENCODERS = ("mobilenet_v2_small", "scratch", "efficientnet_lite0")


# --------------------------------------------------------------------------- keras helpers

def _keras():
    """Import Keras lazily (:func:`featbus._backend.keras_module`)."""
    from .._backend import keras_module

    return keras_module()


def _conv_bn(layers, x, filters: int, kernel: int = 3, strides: int = 1, name: str = ""):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name + "_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=name + "_bn")(x)
    return layers.ReLU(6.0, name=name + "_relu")(x)


def _inverted_residual(layers, x, filters: int, strides: int, expansion: int, name: str):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection, residual if shapes match."""
    in_ch = x.shape[-1]
    h = _conv_bn(layers, x, in_ch * expansion, 1, name=name + "_expand")
    h = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=name + "_dw")(h)
    h = layers.BatchNormalization(momentum=0.9, name=name + "_dw_bn")(h)
    h = layers.ReLU(6.0, name=name + "_dw_relu")(h)
    h = layers.Conv2D(filters, 1, use_bias=False, name=name + "_project")(h)
    h = layers.BatchNormalization(momentum=0.9, name=name + "_project_bn")(h)
    if strides == 1 and in_ch == filters:
        h = layers.Add(name=name + "_add")([x, h])
    return h


def _scratch_encoder(layers, inputs, width: float):
    """MobileNetV2-style encoder; returns the feature maps at strides 2, 4, 8, 16 and 32."""
    def ch(c):
        return max(8, int(round(c * width / 8)) * 8)

    x = _conv_bn(layers, inputs, ch(16), 3, strides=2, name="enc_stem")
    skips = [x]  # stride 2
    # (filters, first stride, repeats, expansion): MobileNetV2's stages, shallower and narrower
    for s, (filters, stride, repeats, t) in enumerate([(24, 2, 2, 4), (32, 2, 2, 4), (64, 2, 2, 4), (96, 2, 1, 4)]):
        for r in range(repeats):
            x = _inverted_residual(layers, x, ch(filters), stride if r == 0 else 1, t, name=f"enc_s{s + 1}_b{r}")
        skips.append(x)
    return skips


def _lite0_encoder(keras, inputs, pretrained: bool):
    """EfficientNet-Lite0 from featbus.features.backbones; gray is repeated to three channels."""
    try:
        from ..features.backbones import efficientnet_lite as eff
    except ImportError as exc:  # the backbone module is optional
        raise ImportError(
            "encoder='efficientnet_lite0' needs featbus.features.backbones.efficientnet_lite "
            f"({exc}); use encoder='mobilenet_v2_small' instead") from exc
    layers = keras.layers
    size = inputs.shape[1]
    base = eff.efficientnet_lite0(input_shape=(size, size, 3), include_top=False,
                                  weights="imagenet" if pretrained else None)
    # strides 2..16 from the module's table; at stride 32 the 320-channel last block rather than
    # the 1280-channel classifier head: same resolution, a fraction of the decoder's cost
    names = [eff.SKIP_LAYERS[s] for s in (2, 4, 8, 16)]
    deep = "block7a_project_bn"
    names.append(deep if any(layer.name == deep for layer in base.layers) else eff.SKIP_LAYERS[32])
    for layer in base.layers:  # ImageNet statistics must adapt to ultrasound within few steps
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.9
    encoder = keras.Model(base.inputs, [base.get_layer(n).output for n in names], name="encoder")
    x = layers.Concatenate(name="gray_to_rgb")([inputs, inputs, inputs])
    x = layers.Rescaling(255.0, name="to_0_255")(x)  # the backbone takes [0, 255] and rescales itself
    return list(encoder(x))


def build_unet(input_size: int = 256, encoder: str = "mobilenet_v2_small", *, width: float = 1.0,
               pretrained: bool = True, decoder_filters: Sequence[int] | None = None):
    """Build an (uncompiled) U-Net for one-channel images in ``[0, 1]``.

    Parameters
    ----------
    input_size : int
        Side of the square input; a multiple of 32.
    encoder : {"mobilenet_v2_small", "scratch", "efficientnet_lite0"}
        ``"mobilenet_v2_small"`` (alias ``"scratch"``): a MobileNetV2-style encoder with random
        initial weights, about 0.1 M parameters at ``width=1``. ``"efficientnet_lite0"``:
        EfficientNet-Lite0, ImageNet weights when ``pretrained`` (needs the backbone module).
    width : float
        Channel multiplier of the scratch encoder and of the decoder.
    pretrained : bool
        Load ImageNet weights into a pretrained-capable encoder (ignored by the scratch one).
    decoder_filters : sequence of 5 int, optional
        Filters of the decoder stages from stride 16 back to stride 1.
        Default ``(96, 64, 32, 24, 16)`` times ``width``.

    Returns
    -------
    model : keras.Model
        Maps ``(batch, input_size, input_size, 1)`` to per-pixel lesion probabilities of the same
        shape.

    Examples
    --------
    >>> model = build_unet(32, "scratch", width=0.25)  # doctest: +SKIP
    >>> model.output_shape  # doctest: +SKIP
    (None, 32, 32, 1)
    """
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
    if not isinstance(input_size, (int, np.integer)) or input_size < 32 or input_size % 32:
        raise ValueError(f"input_size must be a multiple of 32 and at least 32, got {input_size!r}")
    _check_decoder_filters(decoder_filters)
    if decoder_filters is None:
        decoder_filters = [max(8, int(round(f * width / 8)) * 8) for f in (96, 64, 32, 24, 16)]
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input((int(input_size), int(input_size), 1), name="image")
    if encoder == "efficientnet_lite0":
        feats = _lite0_encoder(keras, inputs, pretrained)
    else:
        feats = _scratch_encoder(layers, inputs, float(width))
    x = feats[-1]  # stride 32
    skips = feats[-2::-1] + [inputs]  # strides 16, 8, 4, 2, 1
    for i, (skip, filters) in enumerate(zip(skips, decoder_filters)):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"dec{i}_up")(x)
        x = layers.Concatenate(name=f"dec{i}_concat")([x, skip])
        for j in range(2 if i < 4 else 1):
            x = layers.SeparableConv2D(int(filters), 3, padding="same", use_bias=False, name=f"dec{i}_sep{j}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"dec{i}_bn{j}")(x)
            x = layers.ReLU(name=f"dec{i}_relu{j}")(x)
    outputs = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="lesion_prob")(x)
    return keras.Model(inputs, outputs, name=f"unet_{encoder}")


def _check_decoder_filters(decoder_filters) -> None:
    """``decoder_filters`` is None or 5 positive integers (checked before anything is built)."""
    if decoder_filters is None:
        return
    f = list(decoder_filters)
    if len(f) != 5 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in f):
        raise ValueError(f"decoder_filters must hold 5 positive integers, got {decoder_filters!r}")


def _bce_dice_loss(y_true, y_pred):
    """Binary cross-entropy plus soft Dice loss (Dice over the whole batch, smooth 1)."""
    from keras import ops

    y_true = ops.cast(y_true, y_pred.dtype)
    eps = 1e-6
    p = ops.clip(y_pred, eps, 1 - eps)
    bce = -ops.mean(y_true * ops.log(p) + (1 - y_true) * ops.log(1 - p))
    inter = ops.sum(y_true * y_pred)
    dice = (2 * inter + 1.0) / (ops.sum(y_true) + ops.sum(y_pred) + 1.0)
    return bce + (1 - dice)


@contextlib.contextmanager
def _seeded(keras, seed: int):
    """Seed Keras/TensorFlow (initial weights draw from Python's ``random`` via Keras' default
    seeds) for the block, then give the caller back its global ``random`` and ``numpy.random``
    state, which ``keras.utils.set_random_seed`` resets."""
    import random

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        keras.utils.set_random_seed(seed)
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
