"""Fine-tuned CNN features and classifier: an ImageNet backbone trained on the training fold.

:class:`FineTunedCNN` fine-tunes a pretrained backbone inside ``fit`` on ``(X, y)``, so in
:func:`featbus.evaluation.evaluate`, ``cross_validate`` or ``GridSearchCV`` every training fold
trains its own copy and no test image ever reaches a training step. It is both

* a **transformer**: ``transform`` returns the fine-tuned embedding (global average of the cut
  layer's feature map; of several layers' maps, joined, with a multi-scale ``layer``), for an
  SVM or XGBoost after it (the papers' hybrid recipe); rows go
  through the one extraction path (:mod:`featbus.compute.extraction`), keyed by a hash of the fitted
  weights, so two folds' networks never share rows;
* a **classifier**: ``predict_proba`` / ``predict`` use its own softmax head on that embedding.

How ``fit`` trains
------------------
1. Every training image is read, cropped per ``region``, brought to the square input as in
   :class:`~featbus.DeepFeatures` (``aspect``) and kept in memory as float32.
2. Only with ``validation_fraction > 0`` (opt-in; default 0: every image trains): an inner
   validation split (:func:`featbus.model_selection.holdout_split`, stratified) keeps
   near-duplicate groups together (:func:`featbus.model_selection.resolve_groups`; ``groups``
   passed to ``fit`` win), so early stopping is not fooled by a copy of a training image.
3. Head warm-up: ``warmup_epochs`` epochs training only the new head (``head_learning_rate``)
   on the frozen backbone.
4. Fine-tuning: the backbone from ``trainable_from`` on (default: all of it) and the head, with
   AdamW (``learning_rate`` for the backbone, ``head_learning_rate`` for the head, both on a
   cosine schedule, decoupled ``weight_decay``), class weights, label smoothing, optional mixup,
   dropout before the head. With ``freeze_bn=True`` (default) batch-norm layers keep their
   ImageNet statistics and parameters (they run in inference mode): with a few hundred images
   per fold, batch statistics of 16 ultrasound images are noisy and drift far from ImageNet's.
5. Each epoch sees freshly augmented copies (``augment``, see :mod:`featbus.networks.augmentation`)
   drawn from ``random_state``. ``epochs`` decide when training ends and the last epoch's
   weights are kept. Opt-in: with a validation split, the validation loss is measured after
   each epoch, the best weights kept and training stops after ``patience`` epochs without
   improvement; with ``max_time``, after that many seconds. When either ends training, a
   warning says so and which epoch was kept, and ``history_`` records it (``stopped``,
   ``best_epoch``, ``note``). A default fit once held out 15 % of the images and early-stopped
   on their loss: on BUSI it kept the first fine-tuning epoch and scored malignant AUC 0.88
   on unseen images, against 0.94 when the epochs decided.

Training runs on featbus's one training engine (:mod:`featbus.networks.training`: phases, per-part
learning rates, schedule, early stopping, history, progress, clean Ctrl-C) on any Keras backend
(TensorFlow, PyTorch or JAX; the backend's GPU when it has one, :mod:`featbus.networks.backend`).
Dropout masks, mixup and augmentation are drawn in NumPy from ``random_state`` (each batch from
its own seed, drawn in order before the worker processes or threads augment it), so a fit is
reproducible on a given machine and backend whatever the number of workers (floating-point
results differ slightly across CPUs and backends). The training batches are augmented ahead in
worker processes, one per core (``n_jobs``), reading the images (decoded and resized once per fit)
from shared memory, so the input side grows with the cores while the device trains; a fit whose
augmentation would take only seconds makes them on threads of its own process instead.

The head sees the embedding standardised by the training images' statistics: raw pooled
activations reach magnitudes of ~10, which makes a freshly initialised head's first steps
erratic. A batch normalisation without learned scale or shift learns them during the head
warm-up, in the warm-up's own forward passes (no extra pass over the images).

The fitted weights are kept as NumPy arrays in ``weights_`` (the estimator pickles with them,
nothing else: no Keras file, no code); the network is rebuilt from the backbone's code in a
new process on first use.

References
----------
Yosinski, J., Clune, J., Bengio, Y. & Lipson, H. (2014). How transferable are features in deep
neural networks? *NeurIPS 27*. https://doi.org/10.48550/arXiv.1411.1792

Al-Dhabyani, W., Gomaa, M., Khaled, H. & Fahmy, A. (2019). Deep learning approaches for data
augmentation and classification of breast masses using ultrasound images. *IJACSA*, 10(5).
https://doi.org/10.14569/IJACSA.2019.0100579

Loshchilov, I. & Hutter, F. (2019). Decoupled weight decay regularization. *ICLR*.
https://doi.org/10.48550/arXiv.1711.05101
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._base import CACHE, EMPTY_MASK, PROGRESS, REGION, _check_y_length, _ImageInputMixin
from .._compat import HasMethods, Interval, StrOptions
from .._docs import fill_doc
from .._records import MIN_PARALLEL_SECONDS, ImageError, ImageRecord, check_images, mask_bbox, to_float
from ..networks import keras_name, load_backbone, resolve_backbone
from ..networks.augmentation import AUGMENT_PRESETS
from ..networks.backend import (
    backend_name,
    compile_forward,
    host_initializer,
    keras_module,
    mixed_precision_scope,
    use_mixed_precision,
)
from ..networks.training import Phase, SharedArray, prefetched, train, worker_processes
from .deep import ASPECTS, NetworkRowsMixin, fit_square, keras_preprocess

__all__ = ["FineTunedCNN", "FineTunedEnsemble", "NetworkHead", "fine_tuned_features", "balanced_batch_indices",
           "confusion_metrics"]


def _build_body(backbone, weights: Any, input_size: tuple[int, int], layer, init: bool = True):
    """The backbone cut at ``layer`` (a ``keras.Model``) with its starting weights
    (:func:`featbus.networks.load_backbone`).

    ``layer``: a layer name (``None`` or ``"output"``: the network's output), whose
    ``(batch, h, w, c)`` map the model returns; or a tuple of names, each map global-average
    pooled (``finetune_pool<i>``, float32) and the pooled vectors joined in that order
    (``finetune_join``): the model then returns ``(batch, 1, 1, sum of channels)``, so that every
    user of the body (the embedding, the export, the runtime forward) averages over axes 1 and 2
    either way. Only the layers up to the deepest named one are built into it."""
    keras = keras_module()
    bb = resolve_backbone(backbone)
    model = load_backbone(bb, weights, (*input_size, 3), init=init)
    names = [lay.name for lay in model.layers]

    def map_of(name: str | None):
        if name is None or name == "output":
            out = model.outputs[0]
        elif name not in names:
            raise ValueError(f"{bb.name} has no layer {name!r}; its last layers: {', '.join(names[-6:])} (all: "
                             f"featbus.features.deep.layer_names({bb.name!r}), by stride: "
                             f"featbus.networks.stride_layers({bb.name!r}))")
        else:
            out = model.get_layer(name).output
        if len(out.shape) != 4:
            raise ValueError(f"{bb.name}'s layer {name or 'output'!r} gives shape {tuple(out.shape)}, not a "
                             "(height, width, channels) feature map: cut the network at a convolutional layer")
        return out

    name = f"{keras_name(bb)}_finetune"
    if layer is None or isinstance(layer, str):
        return keras.Model(model.inputs, map_of(layer), name=name)
    pooled = [keras.layers.GlobalAveragePooling2D(keepdims=True, dtype="float32", name=f"finetune_pool{i}")(map_of(n))
              for i, n in enumerate(layer)]
    return keras.Model(model.inputs, keras.layers.Concatenate(axis=-1, dtype="float32", name="finetune_join")(pooled),
                       name=name)


def _layer_widths(body, layer) -> list[int]:
    """Channels of each cut layer of a body from :func:`_build_body`, in ``layer``'s order."""
    if layer is None or isinstance(layer, str):
        return [int(body.output.shape[-1])]
    return [int(body.get_layer(f"finetune_pool{i}").output.shape[-1]) for i in range(len(layer))]


_HEAD = "finetune_head"


class _Trainer:
    """The Keras side of one FineTunedCNN: body, embedding normaliser and head, in one model.

    ``net([x, keep])`` maps gray images in [0, 255] and a dropout keep-mask to logits: the
    backbone's preprocessing, the cut body, global average pooling, a batch normalisation of
    the embedding without learned scale or shift (``norm``: it learns the training images'
    embedding statistics during the head warm-up, in the same forward passes, and is frozen
    after it), the keep-mask, the dense head.
    """

    def __init__(self, est: FineTunedCNN, n_classes: int, weights: list[np.ndarray] | None = None,
                 stats: tuple[np.ndarray, np.ndarray] | None = None, mixed_precision: bool = False):
        keras = keras_module()
        ops = keras.ops
        with mixed_precision_scope(mixed_precision):
            self.body = _build_body(est._backbone, None if weights is not None else est.weights,
                                    est.input_size_, est.layer_, init=weights is None)
            self.widths = _layer_widths(self.body, est.layer_)
            self.channels = int(sum(self.widths))
            # momentum 0.9: converged within the ~30 batches of one warm-up epoch (0.9**30 < 0.05)
            # host constants: Keras's initialisers compile a program per shape on JAX
            self.norm = keras.layers.BatchNormalization(center=False, scale=False, momentum=0.9, epsilon=1e-6,
                                                        name="finetune_norm", dtype="float32",
                                                        moving_mean_initializer=host_initializer(0.0),
                                                        moving_variance_initializer=host_initializer(1.0))
        # logits in float32; its weights are set by fit (a seeded draw) or from arrays
        self.head = keras.layers.Dense(n_classes, name=_HEAD, dtype="float32", kernel_initializer=host_initializer(0.0),
                                       bias_initializer=host_initializer(0.0))
        self.tally = _tally_layer(n_classes)
        self.n_classes = int(n_classes)
        prep = est._backbone.preprocess
        h, w = est.input_size_
        x_in = keras.Input((h, w), name="image")
        keep_in = keras.Input((self.channels,), name="keep")
        z = ops.mean(ops.cast(self.body(keras_preprocess(x_in, prep)), "float32"), axis=(1, 2))
        self.net = keras.Model([x_in, keep_in], self.tally(self.head(self.norm(z) * keep_in)), name="finetuned_cnn")
        if weights is not None:
            self.set_weights(weights)
        if stats is not None:
            self.set_stats(*stats)
        body = self.body

        def embed(x):
            return ops.mean(ops.cast(body(keras_preprocess(x, prep), training=False), "float32"), axis=(1, 2))

        self.embed_fn = embed  # uncompiled: what a model file's runtime flatbuffer is traced from
        # at the training batch size: on JAX one forward program, whose convolutions have the shapes the
        # training step's forward has (a GPU autotunes each shape once)
        self.batch_size = int(est.batch_size)
        self._embed = compile_forward(embed, body.variables, batch_size=self.batch_size)
        self._maps, self._prep = None, prep
        self._lock = threading.Lock()

    # -- weights as plain arrays (what the estimator pickles)
    def variables(self) -> list:
        return list(self.body.weights) + list(self.head.weights)

    def get_weights(self) -> list[np.ndarray]:
        return [np.array(keras_module().ops.convert_to_numpy(v.value)) for v in self.variables()]

    def set_weights(self, arrays: list[np.ndarray]) -> None:
        vs = self.variables()
        if len(arrays) != len(vs):
            raise ValueError(f"{len(arrays)} weight arrays for a network of {len(vs)} variables")
        for v, a in zip(vs, arrays):
            if tuple(v.shape) != tuple(np.shape(a)):
                raise ValueError(f"weight {v.path} has shape {tuple(v.shape)}, got {np.shape(a)}")
            v.assign(a)

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """The head's input statistics: ``(mean, scale)`` of the training embeddings."""
        mean, var = (np.asarray(keras_module().ops.convert_to_numpy(v.value), np.float32)
                     for v in (self.norm.moving_mean, self.norm.moving_variance))
        return mean, np.sqrt(var + np.float32(self.norm.epsilon)).astype(np.float32)

    def set_stats(self, mean: np.ndarray, scale: np.ndarray) -> None:
        self.norm.moving_mean.assign(np.asarray(mean, np.float32))
        self.norm.moving_variance.assign(np.maximum(np.square(np.asarray(scale, np.float32))
                                                    - np.float32(self.norm.epsilon), 0.0))

    def head_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        ops = keras_module().ops
        return tuple(np.asarray(ops.convert_to_numpy(v.value)) for v in (self.head.kernel, self.head.bias))

    def embed(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._embed(np.ascontiguousarray(x, np.float32))

    def embed_ahead(self, item_shape: tuple[int, ...]) -> None:
        """On JAX, compile the embedding's one program (a training batch of images of ``item_shape``)
        now on a thread, while training goes on: the first validation then waits for no compile."""
        ahead = getattr(self._embed, "compile_ahead", None)
        if ahead is not None:
            ahead(np.empty((self.batch_size, *item_shape), np.float32))

    def maps(self, x: np.ndarray) -> np.ndarray:
        """The cut layer's maps ``(batch, h, w, c)``, compiled on first use (Grad-CAM); with
        several layers, the first one's (its channels come first in the embedding)."""
        with self._lock:
            if self._maps is None:
                body, prep = self.body, self._prep
                if "finetune_join" in [lay.name for lay in body.layers]:
                    body = keras_module().Model(body.inputs, body.get_layer("finetune_pool0").input)
                ops = keras_module().ops
                self._maps = compile_forward(
                    lambda t: ops.cast(body(keras_preprocess(t, prep), training=False), "float32"), body.variables,
                    batch_size=self.batch_size)
            return self._maps(np.ascontiguousarray(x, np.float32))

    # -- training
    def loss_fn(self, x, target, sw, keep):
        """Class-weighted cross-entropy on (soft) targets; BN layers set ``trainable=False``
        run in inference mode (Keras 3), the others use batch statistics."""
        ops = keras_module().ops
        logits = self.net([x, keep], training=True)
        ce = -ops.sum(target * ops.log_softmax(logits, axis=-1), axis=-1)
        # the batch's predictions against its labels (the largest share of a mixed or smoothed
        # target), added to the epoch's confusion counts: train accuracy and F1 at no extra pass
        n = self.n_classes
        # rows whose target sums to 0 are padding (_full_batch): no loss (sw 0), no count
        labels = ops.one_hot(ops.argmax(target, axis=-1), n) * ops.cast(
            ops.sum(target, axis=-1, keepdims=True) > 0.5, "float32")
        seen = ops.matmul(ops.transpose(labels),
                          ops.one_hot(ops.argmax(ops.stop_gradient(logits), axis=-1), n))
        self.tally.counts.assign(self.tally.counts + ops.cast(seen, "float32"))
        return ops.sum(ce * sw) / ops.sum(sw)

    def reset_tally(self) -> None:
        self.tally.counts.assign(np.zeros((self.n_classes, self.n_classes), np.float32))

    def read_tally(self) -> np.ndarray:
        """The confusion counts (rows: labels, columns: predictions) since the last reset."""
        return np.asarray(keras_module().ops.convert_to_numpy(self.tally.counts.value), np.float64)

    @staticmethod
    def part_of(variable) -> str:
        return "head" if variable.path.startswith(_HEAD) else "body"


def _full_batch(batch: tuple, size: int) -> tuple:
    """A training batch ``(x, target, sw, keep)`` of fewer than ``size`` rows topped up to
    ``size`` with copies of its first rows whose target and sample weight are 0: the loss (a
    weighted mean over the weights' sum) and the tally ignore them. Batch-norm layers in training
    mode (the embedding normaliser during the warm-up) see the copies among the batch's rows.

    Examples
    --------
    >>> batch = (np.ones((3, 2, 2)), np.eye(2)[[0, 1, 0]], np.ones(3), np.ones((3, 4)))
    >>> x, t, sw, keep = _full_batch(batch, 5)
    >>> x.shape, t.sum(axis=1).tolist(), sw.tolist()
    ((5, 2, 2), [1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0])
    """
    x, target, sw, keep = batch
    n = len(x)
    if n >= size:
        return batch
    idx = np.arange(size) % n
    zero = np.arange(size) >= n
    target, sw = target[idx].copy(), sw[idx].copy()
    target[zero] = 0.0
    sw[zero] = 0.0
    return np.ascontiguousarray(x[idx]), target, sw, keep[idx]


@dataclasses.dataclass(frozen=True)
class _BatchSource:
    """What making any training batch of a fit needs (pickled to the worker processes: the images as a
    :class:`~featbus.networks.training.SharedArray`, the rest small)."""

    images: Any  # ndarray of shape (n, h, w) in [0, 255], or a SharedArray of it
    y_idx: np.ndarray
    class_w: np.ndarray
    augmenter: Any
    n_classes: int
    channels: int
    smooth: float
    mixup: float
    dropout: float
    slots: Any = None  # a writable SharedArray (slots, batch_size, h, w) the workers hand batches back in


def _augment(augmenter, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A batch of images in [0, 255] augmented, drawn in turn from ``rng``: the augmenter's
    ``augment_batch`` when it has one (:class:`~featbus.networks.augmentation.ImageAugmenter`), else
    its ``augment01`` image by image."""
    if hasattr(augmenter, "augment_batch"):
        return augmenter.augment_batch(x, rng=rng, scale=255.0)
    out = np.stack([augmenter.augment01(image / np.float32(255.0), rng=rng)[0] for image in x])
    out *= np.float32(255.0)
    return out


def _epoch_batch(source: _BatchSource, batches: list, seeds: np.ndarray, k: int) -> tuple:
    """Batch ``k`` of an epoch (``batches`` the positions of each, ``seeds`` their seeds); with
    ``source.slots``, its images written into slot ``k % slots`` and ``(slot, n, target, ...)``
    returned instead (:func:`_from_slot` reads them back)."""
    batch = _make_batch(source, batches[k], int(seeds[k]))
    if source.slots is None:
        return batch
    slots = source.slots.array
    slot, n = k % len(slots), len(batch[0])
    slots[slot, :n] = batch[0]
    return (slot, n, *batch[1:])


def _from_slot(slots, result: tuple) -> tuple:
    """A batch handed back in a shared slot, copied out (the slot's next batch may then be made)."""
    slot, n, *rest = result
    return (np.array(slots.array[slot, :n]), *rest)


def _make_batch(source: _BatchSource, idx: np.ndarray, seed: int) -> tuple:
    """One training batch ``(x, target, sample_weight, dropout_keep)`` of the images at ``idx``, every
    draw from ``seed``: augmentation, mixup, the dropout mask (in a worker process or a thread alike)."""
    images = source.images.array if isinstance(source.images, SharedArray) else source.images
    r = np.random.default_rng(seed)
    x = np.asarray(images[idx])
    if source.augmenter is not None:
        x = _augment(source.augmenter, x, r)
    n, smooth = len(idx), source.smooth
    target = np.full((n, source.n_classes), smooth / source.n_classes, np.float32)
    target[np.arange(n), source.y_idx[idx]] += 1.0 - smooth
    sw = source.class_w[source.y_idx[idx]].astype(np.float32)
    if source.mixup > 0 and n > 1:
        lam = np.float32(r.beta(source.mixup, source.mixup))
        perm = r.permutation(n)
        x = lam * x + (1 - lam) * x[perm]
        target = lam * target + (1 - lam) * target[perm]
        sw = lam * sw + (1 - lam) * sw[perm]
    keep_p = 1.0 - source.dropout
    keep = (r.random((n, source.channels)) < keep_p).astype(np.float32) / np.float32(keep_p)
    return np.ascontiguousarray(x, np.float32), target, sw, keep


def _tally_layer(n_classes: int):
    """A pass-through layer holding a (labels x predictions) count matrix, not trained: being a
    layer of the network, its variable travels through every backend's training step (JAX's
    included), which the loss updates with each batch's predictions."""
    keras = keras_module()

    class _Tally(keras.layers.Layer):
        def __init__(self, n, **kwargs):
            super().__init__(name="finetune_tally", dtype="float32", **kwargs)
            self.counts = self.add_weight(shape=(n, n), initializer=host_initializer(0.0), trainable=False,
                                          name="counts")

        def call(self, x):
            return x

    return _Tally(int(n_classes))


def confusion_metrics(counts: np.ndarray) -> tuple[float, float]:
    """Accuracy and macro-F1 of a confusion matrix (rows: labels, columns: predictions); the
    macro average runs over the classes present among the labels or the predictions, as
    ``sklearn.metrics.f1_score(average="macro")``.

    Examples
    --------
    >>> confusion_metrics(np.array([[3, 1], [0, 4]]))
    (0.875, 0.873015873015873)
    """
    c = np.asarray(counts, np.float64)
    total = c.sum()
    if total <= 0:
        return float("nan"), float("nan")
    tp = np.diag(c)
    denom = c.sum(axis=0) + c.sum(axis=1)
    present = denom > 0
    return float(tp.sum() / total), float(np.mean(2.0 * tp[present] / denom[present]))


def balanced_batch_indices(labels, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of class-balanced batches, as imbalanced-learn's balanced batch generator.

    As many positions in all as ``labels`` has, cut into batches of ``batch_size`` (the last
    one shorter), each holding every class equally (a batch whose size the classes do not
    divide gives the remainder to classes drawn at random). Each class is drawn from its own
    shuffled cycle, reshuffled when spent: a small class repeats within an epoch (drawing with
    replacement, across cycles), a large one is drawn without repeats until spent.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        Class of each position.
    batch_size : int
    rng : numpy Generator

    Returns
    -------
    list of ndarray of int
        Positions into ``labels``.

    Examples
    --------
    >>> import numpy as np
    >>> b = balanced_batch_indices([0] * 9 + [1] * 3, 4, np.random.default_rng(0))
    >>> [len(x) for x in b], [int((np.array([0] * 9 + [1] * 3)[x] == 1).sum()) for x in b]
    ([4, 4, 4], [2, 2, 2])
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    pools = [np.flatnonzero(labels == c) for c in classes]
    queues = [rng.permutation(pool) for pool in pools]
    heads = [0] * len(classes)

    def take(k: int, m: int) -> list[int]:
        out = []
        while len(out) < m:
            if heads[k] == len(queues[k]):
                queues[k], heads[k] = rng.permutation(pools[k]), 0
            j = min(m - len(out), len(queues[k]) - heads[k])
            out.extend(queues[k][heads[k]:heads[k] + j].tolist())
            heads[k] += j
        return out

    n, bs, kinds = len(labels), int(batch_size), len(classes)
    batches = []
    for start in range(0, n, bs):
        size = min(bs, n - start)
        share = np.full(kinds, size // kinds)
        share[rng.choice(kinds, size % kinds, replace=False)] += 1
        idx = np.array([i for k in range(kinds) for i in take(k, int(share[k]))], dtype=int)
        batches.append(idx[rng.permutation(len(idx))])
    return batches


_TRAINERS: dict[int, _Trainer] = {}  # id(estimator) -> its network (never pickled)
_TRAINERS_LOCK = threading.Lock()


@fill_doc
class FineTunedCNN(NetworkRowsMixin, _ImageInputMixin, ClassifierMixin, TransformerMixin, BaseEstimator):
    """A pretrained CNN fine-tuned on the training fold: embeddings for a classifier, or its own head.

    Parameters
    ----------
    %(backbone)s
    weights : "imagenet", None or path, default="imagenet"
        Starting weights, as :class:`~featbus.DeepFeatures` (``None``: seeded random, for tests).
    layer : str, sequence of str or None, default=None
        Where the backbone is cut; the embedding is the global average of this layer's map.
        ``None``: the backbone's default feature layer (``block6d_add`` for Lite0, the one
        frozen features do best with; ``"output"``, the network's output, for MobileNetV3);
        the layers after it are not used (nor computed). Several names (as
        :class:`~featbus.DeepFeatures`' ``layers``) make a multi-scale head: each map is
        global-average pooled and the pooled vectors are joined, in the order given, before the
        head (and in ``transform``). :func:`featbus.networks.stride_layers` names a backbone's
        layers by stride (MobileNetV3-Small: ``"activation_11"`` at stride 16,
        ``"activation_17"`` at stride 32, the two maps SSDLite reads);
        :func:`featbus.features.deep.layer_names` lists them all. Grad-CAM
        (:mod:`featbus.deploy.explain`) shows the first layer's map.
    input_size : int, (int, int) or None, default=None
        Network input; ``None``: the backbone's ImageNet size (224 for Lite0, 260 for Lite2).
    aspect : {"stretch", "pad", "crop"}, default="stretch"
        How an image reaches the square input (as :class:`~featbus.DeepFeatures`).
    region : {"image", "bbox", "mask"}, default="image"
        Crop to the lesion mask's bounding box (``"bbox"``), also zero outside it (``"mask"``).
    empty_mask : {"image", "raise"}, default="image"
        With ``region != "image"``: an all-zero mask uses the whole image, or raises.
    epochs : int, default=10
        Fine-tuning epochs (after the warm-up).
        %(epochs_body)s
    warmup_epochs : int, default=2
        Head-only epochs on the frozen backbone first.
    batch_size : int, default=16
        %(batch_size_body)s
        Inference runs on batches of 4 times as many.
    learning_rate : float, default=1e-4
        The backbone's.
        %(learning_rate_body)s
    head_learning_rate : float, default=1e-3
        AdamW rate of the head (warm-up: constant; fine-tuning: same schedule as the backbone).
    weight_decay : float, default=0.01
        %(weight_decay_body)s
    label_smoothing : float, default=0.1
        Share of each target spread uniformly over the classes.
    mixup : float, default=0.0
        Mixup's Beta(alpha, alpha) parameter; 0 turns mixup off.
    dropout : float, default=0.3
        Dropout rate on the embedding before the head (training only).
    freeze_bn : bool, default=True
        Batch-norm layers keep ImageNet statistics and parameters (inference mode).
    trainable_from : str or None, default=None
        Name (or name prefix) of the first backbone layer trained in the fine-tuning phase;
        layers before it stay frozen (and need no backward pass). ``None``: the whole backbone.
    class_weight : "balanced", dict or None, default="balanced"
        Per-class loss weights. ``"balanced"``: inversely proportional to the class counts of
        the training images, as the loss sees them; with ``balanced_batches=True`` the classes
        are already equal there, so every weight is 1 (the validation loss keeps the weights
        of the training images' counts). A dict is applied as given, also on balanced batches
        (it then weighs classes a second time: pass one only to tilt the balance on purpose).
    balanced_batches : bool, default=False
        Draw every batch with the classes equally represented (as imbalanced-learn's balanced
        batch generator, :func:`balanced_batch_indices`): small classes repeat within an epoch
        (drawn with replacement), large ones are drawn without repeats; an epoch keeps its
        length (as many images as the training set). ``False``: each image once per epoch, in
        a shuffled order.
    augment : str, ImageAugmenter or None, default="ultrasound"
        Augmentation drawn afresh every epoch on the network-sized training images: a name of
        :data:`featbus.networks.augmentation.AUGMENT_PRESETS` (``"ultrasound"``, ``"mammography"``,
        ``"flip"``, ``"scanner-shift"``: acquisition shift for a model meant for other
        scanners) or an :class:`~featbus.networks.augmentation.ImageAugmenter`; ``None``: none.
    %(validation_fraction)s
    patience : int or None, default=4
        %(patience_body)s ``None``: no early stopping and the last epoch's weights are kept; the
        validation images then only measure (a held-out figure that chose nothing).
    %(max_time)s
    mixed_precision : bool or "auto", default="auto"
        Compute the backbone in bfloat16 (variables, the normaliser and the head stay float32).
        ``"auto"``: on a GPU only.
    %(tta)s
    %(random_state)s
    cache : None, False, str, path or joblib.Memory, default=None
        Where ``transform``'s rows are kept (:mod:`featbus.compute.extraction`); keyed by the fitted
        weights' hash.
    %(network_progress)s
    n_jobs : int or None, default=None
        Workers preparing the input: threads reading and resizing the images (once per fit;
        ``None``: 2), then worker processes augmenting the next training batches while the
        device trains on one (``None`` or -1: one per core). With ``n_jobs=1``, off POSIX, with
        an ``augment`` object that does not pickle, or when the whole fit's augmentation would
        take under a few seconds (timed on a few images), the batches are made on threads of
        this process instead; the batches are the same either way.

    Attributes
    ----------
    classes_ : ndarray
    weights_ : list of ndarray
        The fitted network's variables (backbone up to ``layer_``, then the head's kernel and bias).
    embedding_mean_, embedding_scale_ : ndarray of shape (n_features_out_,)
        Statistics of the training images' initial embeddings; the head sees
        ``(embedding - mean) / scale`` (``transform`` returns the raw embedding).
    weights_hash_ : str
        SHA-256 of ``weights_`` and those statistics (part of the extraction key).
    feature_names_out_ : ndarray of str
        ``"<backbone>.finetuned.<layer>.avg.<channel>"``.
    n_features_out_ : int
    layer_ : str or tuple of str
        ``layer`` resolved: one name, or the names of a multi-scale head.
    input_size_ : tuple of int
    validation_indices_ : ndarray of int
        Positions in ``X`` of the inner validation images (whole near-duplicate groups).
    validation_proba_ : ndarray of shape (n_validation, n_classes)
        Their probabilities under the kept weights: a held-out estimate that costs no
        extra training (what ``featbus train`` reports for network recipes).
    history_ : dict
        ``epochs``: per epoch ``phase``, ``loss`` (training), ``train_accuracy`` and
        ``train_f1`` (macro), ``val_loss``, ``val_accuracy``, ``val_f1`` (macro; the three
        only with a validation split), ``learning_rates``, ``seconds``; ``best_epoch``,
        ``stopped`` (``"epochs"``, ``"early_stopping"`` or ``"max_time"``), ``backend``,
        ``device``, ``n_train``, ``n_validation``, ``balanced_batches``, ``seconds``
        (:func:`featbus.networks.training.train`). The train figures come from the training batches'
        own predictions during the epoch (no extra pass): made in training mode (dropout,
        augmented images, mixed images with mixup, against each target's largest share) by
        weights that change along the epoch, so they run below what the end-of-epoch network
        scores on the same images. Validation figures come from the validation pass after
        the epoch.

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.features.finetune import FineTunedCNN
    >>> data = make_phantoms(16, image_size=48, random_state=0)
    >>> ft = FineTunedCNN(weights=None, input_size=32, epochs=1, warmup_epochs=1, batch_size=8,
    ...                   validation_fraction=0, progress=False, random_state=0)
    >>> ft.fit(data.data, data.target).transform(data.data).shape
    (16, 192)
    >>> ft.predict_proba(data.data).shape  # benign, malignant, normal phantoms
    (16, 3)

    A multi-scale head on MobileNetV3-Small, its stride-16 and stride-32 maps pooled and joined
    (288 + 576 channels; ``weights=None`` here only to run offline):

    >>> from featbus.networks import stride_layers
    >>> depths = stride_layers("mobilenet_v3_small")
    >>> depths[16], depths[32]
    ('activation_11', 'activation_17')
    >>> two = FineTunedCNN(backbone="mobilenet_v3_small", layer=(depths[16], depths[32]), weights=None,
    ...                    input_size=32, epochs=1, warmup_epochs=1, batch_size=8, progress=False,
    ...                    random_state=0).fit(data.data, data.target)
    >>> two.transform(data.data).shape
    (16, 864)
    """

    #: Read when a network fitted before the parameter existed is loaded (get_params, repr).
    balanced_batches = False

    _parameter_constraints = {
        "backbone": [str, callable],
        "weights": [None, str, os.PathLike],
        "layer": [None, str, list, tuple],
        "input_size": [None, Interval(Integral, 1, None, closed="left"), list, tuple],
        "aspect": [StrOptions(set(ASPECTS))],
        "region": REGION,
        "empty_mask": EMPTY_MASK,
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "head_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "mixup": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "freeze_bn": ["boolean"],
        "trainable_from": [None, str],
        "class_weight": [None, StrOptions({"balanced"}), dict],
        "balanced_batches": ["boolean"],
        "augment": [None, StrOptions(set(AUGMENT_PRESETS)), HasMethods(["augment01"])],
        "validation_fraction": [Interval(Real, 0, 0.5, closed="left")],
        "patience": [None, Interval(Integral, 1, None, closed="left")],
        "max_time": [None, Interval(Real, 0, None, closed="neither")],
        "mixed_precision": ["boolean", StrOptions({"auto"})],
        "tta": ["boolean"],
        "random_state": ["random_state"],
        "cache": CACHE,
        "progress": PROGRESS,
        "n_jobs": [None, Integral],
    }

    def __init__(self, backbone: str = "efficientnet_lite0", *, weights: Any = "imagenet", layer=None,
                 input_size=None, aspect: str = "stretch", region: str = "image", empty_mask: str = "image",
                 epochs: int = 10, warmup_epochs: int = 2, batch_size: int = 16, learning_rate: float = 1e-4,
                 head_learning_rate: float = 1e-3, weight_decay: float = 0.01, label_smoothing: float = 0.1,
                 mixup: float = 0.0, dropout: float = 0.3, freeze_bn: bool = True,
                 trainable_from: str | None = None, class_weight="balanced", balanced_batches: bool = False,
                 augment="ultrasound",
                 validation_fraction: float = 0.0, patience: int = 4, max_time: float | None = None,
                 mixed_precision="auto", tta: bool = False, random_state=None, cache=None, progress="auto",
                 n_jobs: int | None = None):
        self.backbone = backbone
        self.weights = weights
        self.layer = layer
        self.input_size = input_size
        self.aspect = aspect
        self.region = region
        self.empty_mask = empty_mask
        self.epochs = epochs
        self.warmup_epochs = warmup_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.mixup = mixup
        self.dropout = dropout
        self.freeze_bn = freeze_bn
        self.trainable_from = trainable_from
        self.class_weight = class_weight
        self.balanced_batches = balanced_batches
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.max_time = max_time
        self.mixed_precision = mixed_precision
        self.tta = tta
        self.random_state = random_state
        self.cache = cache
        self.progress = progress
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ checks and helpers
    @property
    def _backbone(self):
        return resolve_backbone(self.backbone)

    def _check_params(self) -> None:
        self._validate_params()
        bb = resolve_backbone(self.backbone)
        size = bb.input_size if self.input_size is None else self.input_size
        size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s >= bb.min_size for s in size):
            raise ValueError(f"input_size must be an int or (height, width) of at least {bb.min_size} "
                             f"for {bb.name}, got {self.input_size!r}")
        if self.n_jobs == 0:
            raise ValueError("n_jobs must be None or a non-zero integer, got 0")
        self._size = tuple(int(s) for s in size)
        self._layer = self._resolve_layer(bb)

    def _resolve_layer(self, bb) -> str | tuple[str, ...]:
        """``layer`` resolved: one name (``"output"``: the network's output), or a tuple of two
        or more distinct names (a one-name sequence is that name)."""
        layer = self.layer
        if layer is None:
            return bb.default_layer or "output"
        if isinstance(layer, str):
            return layer
        names = tuple(layer)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"layer must be a layer name or a non-empty sequence of names, got {layer!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"layer names a layer twice: {names!r}")
        return names[0] if len(names) == 1 else names

    def _needs_mask(self) -> bool:
        return self.region != "image"

    def _augmenter(self):
        from ..networks.augmentation import AUGMENT_PRESETS, ImageAugmenter

        if self.augment is None:
            return None
        if isinstance(self.augment, str):
            return ImageAugmenter(**AUGMENT_PRESETS[self.augment])
        return self.augment

    def _prepare(self, rec: ImageRecord, index: int) -> np.ndarray:
        """Crop (per ``region``) and resize one loaded image to the network input, in [0, 255]."""
        image = to_float(rec.image, index=index, path=rec.path)
        if self._needs_mask():
            if rec.mask is None:
                raise ImageError(f"FineTunedCNN(region={self.region!r}) needs a lesion mask, but this image "
                                 "has none: pass ImageRecord(image, mask) items or use region='image'",
                                 index, rec.path)
            if not rec.mask.any():
                if self.empty_mask == "raise":
                    raise ImageError("has an empty lesion mask (empty_mask='raise')", index, rec.path)
            else:
                if self.region == "mask":
                    image = np.where(rec.mask, image, 0.0)
                image = image[mask_bbox(rec.mask)]
        return fit_square(image, self.input_size_, self.aspect) * np.float32(255.0)

    def _prepare_all(self, items: list) -> np.ndarray:
        with ThreadPoolExecutor(self._input_threads()) as pool:
            return np.stack(list(pool.map(lambda ij: self._prepare(self._load(ij[1], ij[0]), ij[0]),
                                          enumerate(items))))

    def _trainer(self) -> _Trainer:
        """The network holding ``weights_`` (rebuilt after unpickling, or in a clone's process)."""
        check_is_fitted(self, "weights_")
        with _TRAINERS_LOCK:
            tr = _TRAINERS.get(id(self))
            if tr is None or getattr(tr, "owner_hash", None) != self.weights_hash_:
                tr = _Trainer(self, len(self.classes_), self.weights_,
                              stats=(self.embedding_mean_, self.embedding_scale_))
                tr.owner_hash = self.weights_hash_
                _TRAINERS[id(self)] = tr
            return tr

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_size", None)
        state.pop("_layer", None)
        return state

    def __del__(self):  # free the Keras network of a discarded estimator
        try:
            _TRAINERS.pop(id(self), None)
        except Exception:  # interpreter shutdown
            pass

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, groups=None, validation_indices=None):
        """Fine-tune the backbone on ``(X, y)``.

        Parameters
        ----------
        X : sequence of images, ImageRecord or paths
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,), optional
            Near-duplicate (or patient) groups for the inner validation split; default:
            computed from the images (:func:`featbus.model_selection.resolve_groups`).
        validation_indices : array-like of int, optional
            Positions of ``X`` to validate on instead of the split ``validation_fraction``
            draws (an ensemble passes one split to all its members); empty: no validation.

        Returns
        -------
        self
        """
        self._check_params()
        items = check_images(X)
        _check_y_length(items, y)
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, got shape {y.shape}")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(f"FineTunedCNN needs at least 2 classes in y, got {n_classes}")
        self.input_size_, self.layer_ = self._size, self._layer
        seed = self._seed()
        rng = np.random.default_rng([seed, 0])

        # 1. images at the network size, once
        images = self._prepare_all(items)
        # 2. inner validation split keeping near-duplicate groups together
        if validation_indices is None:
            train_idx, val_idx = self._split(items, y_idx, groups, seed)
        else:
            val_idx = np.unique(np.asarray(validation_indices, dtype=int))
            if val_idx.size and (val_idx[0] < 0 or val_idx[-1] >= len(items)):
                raise ValueError(f"validation_indices must be positions in X (0..{len(items) - 1})")
            train_idx = np.setdiff1d(np.arange(len(items)), val_idx)
        weights = self._class_weights(y_idx[train_idx], n_classes)
        augmenter, warm = self._augmenter(), int(self.warmup_epochs)

        # 3. the input side's workers start (and import) while the network is built
        with self._input_side(images, augmenter, len(train_idx) * (warm + int(self.epochs))) as feed:
            trainer = _Trainer(self, n_classes, mixed_precision=use_mixed_precision(self.mixed_precision))
            # head: small normal kernel from random_state (logits near 0: the warm-up starts at the
            # uniform prediction instead of confident random ones), bias zero
            trainer.head.kernel.assign((0.01 * rng.standard_normal((trainer.channels, n_classes))).astype(np.float32))
            trainer.head.bias.assign(np.zeros(n_classes, np.float32))
            phases = [
                # the head alone on the frozen body (which then needs no backward pass); the
                # embedding normaliser learns the training embeddings' statistics meanwhile
                Phase("warmup", warm, {"head": self.head_learning_rate}, schedule="constant", early_stopping=False,
                      setup=lambda: self._set_trainable(trainer, "warmup")),
                # both rates ramp up linearly over the first epoch (Adam's first steps move every
                # weight by about the rate, whatever its gradient), then decay on a cosine
                Phase("finetune", int(self.epochs), {"head": self.head_learning_rate, "body": self.learning_rate},
                      setup=lambda: self._set_trainable(trainer, "finetune" if warm else "finetune-first")),
            ]
            history, val_proba = self._train(trainer, phases, feed, augmenter, y_idx, train_idx, val_idx, weights,
                                             seed)
        self.history_ = history
        self.validation_indices_ = val_idx
        # the validation images' probabilities under the kept weights (no extra pass)
        self.validation_proba_ = val_proba.get(history["best_epoch"], np.zeros((0, n_classes)))
        self.weights_ = trainer.get_weights()
        self.embedding_mean_, self.embedding_scale_ = trainer.stats()
        self.weights_hash_ = _hash_arrays([*self.weights_, self.embedding_mean_, self.embedding_scale_])
        trainer.owner_hash = self.weights_hash_
        with _TRAINERS_LOCK:
            _TRAINERS[id(self)] = trainer
        self.n_features_out_ = trainer.channels
        cut = (self.layer_,) if isinstance(self.layer_, str) else self.layer_
        self.feature_names_out_ = np.asarray(
            [f"{self._backbone.name}.finetuned.{name}.avg.{c}" for name, width in zip(cut, trainer.widths)
             for c in range(width)], dtype=object)
        return self

    def _train(self, trainer: _Trainer, phases: list, feed: tuple, augmenter, y_idx: np.ndarray,
               train_idx: np.ndarray, val_idx: np.ndarray, weights: np.ndarray, seed: int) -> tuple[dict, dict]:
        """The training engine's run over a fit's phases: the batches (augmented ahead by the
        workers of ``feed``, what :meth:`_input_side` yields), the validation after each epoch, the
        training tallies; returns the history and the validation probabilities of each epoch."""
        warm, n_classes = int(self.warmup_epochs), len(weights)
        executor, source, slots = feed
        images = source.array if isinstance(source, SharedArray) else source
        steps = max(1, math.ceil(len(train_idx) / int(self.batch_size)))

        # class_weight="balanced" weighs classes by their frequency in what the loss sees: equal
        # in balanced batches, so weights of 1 there (a dict is applied as given)
        train_weights = np.ones_like(weights) if self.balanced_batches and isinstance(self.class_weight, str) \
            else weights
        tallies: dict[int, np.ndarray] = {}  # epoch -> confusion counts of its training batches

        # JAX compiles its step once per batch shape: an epoch's last, smaller batch is topped up
        # to the full size with rows that weigh nothing (_full_batch), so each phase compiles once
        full = int(self.batch_size) if backend_name() == "jax" else None

        def batches(phase, epoch):
            number = epoch if phase.name == "warmup" else warm + epoch
            trainer.reset_tally()
            try:
                for batch in self._batches(source, y_idx, train_idx, train_weights, augmenter, n_classes,
                                           trainer.channels, [seed, 1, number], executor=executor, slots=slots):
                    yield batch if full is None else _full_batch(batch, full)
            finally:  # also when the time budget ends the epoch early
                tallies[number] = trainer.read_tally()

        validate, val_proba = None, {}
        if len(val_idx):
            if full is not None:  # JAX: the validation forward compiles while the first epoch's images decode
                trainer.embed_ahead(images.shape[1:])

            def validate():
                vl, va, proba = self._validate(trainer, images[val_idx], y_idx[val_idx], weights)
                val_proba[len(val_proba)] = proba
                counts = np.zeros((n_classes, n_classes))
                np.add.at(counts, (y_idx[val_idx], np.argmax(proba, axis=1)), 1.0)
                return {"val_loss": vl, "val_accuracy": va, "val_f1": confusion_metrics(counts)[1]}

        history = train(trainer.net, trainer.loss_fn, phases, batches, steps, part_of=trainer.part_of,
                        weight_decay=self.weight_decay, validate=validate, monitor="val_loss",
                        patience=None if self.patience is None else int(self.patience), max_time=self.max_time,
                        progress=self.progress, desc="FineTunedCNN", keep="last" if self.patience is None else "best")
        for record in history["epochs"]:
            if record["epoch"] in tallies:
                record["train_accuracy"], record["train_f1"] = confusion_metrics(tallies[record["epoch"]])
        history.update(n_train=int(len(train_idx)), n_validation=int(len(val_idx)),
                       balanced_batches=bool(self.balanced_batches))
        return history, val_proba

    def adapt(self, X, *, batch_norm: bool = True, batch_size: int = 32) -> dict:
        """Adapt the fitted network to a new site's images without labels (AdaBN), in place.

        Adaptive batch normalisation (Li et al., Pattern Recognition 80:109-117, 2018,
        https://doi.org/10.1016/j.patcog.2018.03.005): every BatchNormalization layer of the
        body gets the mean and variance of its inputs over ``X``, layer after layer in the
        network's order (each sees the layers before it already adapted), then the embedding
        normaliser before the head gets those of the embeddings. Kernels and head are unchanged.
        :func:`featbus.adapt` (``featbus adapt``) calls it for every network of a model.

        Parameters
        ----------
        X : sequence of images, ImageRecord or paths
            The new site's images (cropped as the network's ``region`` says).
        batch_norm : bool, default=True
            Re-estimate the body's BatchNormalization statistics; ``False``: the embedding
            normaliser only.
        batch_size : int, default=32
            Images per forward pass.

        Returns
        -------
        changed : dict
            ``batch_norm_layers`` (how many layers were re-estimated) and
            ``embedding_columns`` (the width of the re-estimated embedding normaliser).

        Raises
        ------
        ValueError
            When the body nests sub-models (AdaBN walks a flat network).

        Examples
        --------
        >>> import numpy as np
        >>> from featbus import FineTunedCNN
        >>> rng = np.random.default_rng(0)
        >>> images = [rng.random((40, 40)).astype(np.float32) for _ in range(8)]
        >>> ft = FineTunedCNN("scratch", weights=None, input_size=32, epochs=1, warmup_epochs=0, batch_size=4,
        ...                   validation_fraction=0, progress=False, random_state=0)
        >>> ft = ft.fit(images, [0, 1] * 4)                                   # doctest: +SKIP
        >>> ft.adapt([rng.random((40, 40)).astype(np.float32) for _ in range(4)])  # doctest: +SKIP
        {'batch_norm_layers': ..., 'embedding_columns': 96}
        """
        keras = keras_module()
        ops = keras.ops
        tr = self._trainer()
        body, prep = tr.body, self._backbone.preprocess
        x = np.stack([self._prepare(self._load(r, i), i) for i, r in enumerate(check_images(X))]).astype(np.float32)
        n_bn = 0
        if batch_norm:
            bns = [lay for lay in body.layers if isinstance(lay, keras.layers.BatchNormalization)]
            nested = [lay.name for lay in body.layers if isinstance(lay, keras.Model)]
            if nested:
                raise ValueError(f"AdaBN walks a flat network; {self.backbone} nests the sub-models {nested[:3]}")
            for bn in bns:
                upto = keras.Model(body.inputs, bn.input)
                mean, var = _moments(lambda t, m=upto: m(keras_preprocess(ops.convert_to_tensor(t), prep),
                                                         training=False), x, batch_size, axis=bn.axis)
                bn.moving_mean.assign(mean.astype(np.float32))
                bn.moving_variance.assign(var.astype(np.float32))
            n_bn = len(bns)
        mean, var = _moments(lambda t: ops.mean(ops.cast(body(keras_preprocess(ops.convert_to_tensor(t), prep),
                                                              training=False), "float32"), axis=(1, 2)), x, batch_size)
        self.weights_ = tr.get_weights()
        self.embedding_mean_ = mean.astype(np.float32)
        self.embedding_scale_ = np.sqrt(var + np.float32(tr.norm.epsilon)).astype(np.float32)
        self.weights_hash_ = _hash_arrays([*self.weights_, self.embedding_mean_, self.embedding_scale_])
        _TRAINERS.pop(id(self), None)  # rebuilt from the new arrays on next use
        self.__dict__.pop("_inference", None)  # a file's runtime forward is the old network
        return {"batch_norm_layers": n_bn, "embedding_columns": int(mean.size)}

    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.SeedSequence().entropy % (2**63))
        if isinstance(rs, (int, np.integer)):
            return int(rs)
        return int(rs.randint(0, 2**31 - 1))

    def _split(self, items, y_idx, groups, seed) -> tuple[np.ndarray, np.ndarray]:
        """(train, validation) positions: :func:`featbus.model_selection.holdout_split` of the
        near-duplicate groups, stratified by class (none with ``validation_fraction=0``)."""
        if not self.validation_fraction:
            return np.arange(len(items)), np.arange(0)
        from ..model_selection import holdout_split, resolve_groups

        return holdout_split(y_idx, resolve_groups(items, groups), float(self.validation_fraction),
                             seed % (2**32), small="adapt", what="FineTunedCNN validation_fraction")

    def _class_weights(self, y_train: np.ndarray, n_classes: int) -> np.ndarray:
        counts = np.bincount(y_train, minlength=n_classes).astype(float)
        if self.class_weight is None:
            w = np.ones(n_classes)
        elif isinstance(self.class_weight, str):
            w = np.where(counts > 0, len(y_train) / (n_classes * np.maximum(counts, 1)), 0.0)
        else:
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(f"class_weight names classes not in y: {sorted(map(str, unknown))}")
            w = np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_.tolist()])
        return w.astype(np.float32)

    def _set_trainable(self, trainer: _Trainer, phase: str) -> None:
        """Which layers train: the head always; in the warm-up the embedding normaliser and not
        the body; when fine-tuning the body from ``trainable_from`` on, without its batch-norm
        layers when ``freeze_bn`` (Keras 3 runs a non-trainable batch-norm in inference mode),
        and the normaliser only if there was no warm-up to learn its statistics."""
        keras = keras_module()
        body = trainer.body
        trainer.head.trainable = True
        trainer.norm.trainable = phase != "finetune"
        if phase == "warmup":
            body.trainable = False
            return
        body.trainable = True
        start = 0
        if self.trainable_from is not None:
            names = [lay.name for lay in body.layers]
            hits = [i for i, nm in enumerate(names) if nm.startswith(self.trainable_from)]
            if not hits:
                raise ValueError(f"trainable_from={self.trainable_from!r} names no layer of the cut "
                                 f"{self.backbone} (up to {self.layer_!r})")
            start = hits[0]
        for i, lay in enumerate(body.layers):
            if i < start or (self.freeze_bn and isinstance(lay, keras.layers.BatchNormalization)):
                lay.trainable = False

    def _batches(self, images, y_idx, train_idx, class_w, augmenter, n_classes, channels, seed, *, executor=None,
                 slots=None):
        """Shuffled, augmented training batches, prepared ahead (:func:`featbus.networks.training.prefetched`)
        while the device trains: in the worker processes of ``executor`` (``images`` then a
        :class:`~featbus.networks.training.SharedArray`, the batches handed back in ``slots``),
        else on threads of this process."""
        rng = np.random.default_rng(seed)
        bs = int(self.batch_size)
        if self.balanced_batches:
            batches = [train_idx[b] for b in balanced_batch_indices(y_idx[train_idx], bs, rng)]
        else:
            order = rng.permutation(train_idx)
            batches = [order[i:i + bs] for i in range(0, len(order), bs)]
        # every random draw is made here, in order, so the result does not depend on the workers
        seeds = rng.integers(0, 2**63 - 1, size=len(batches))
        source = self._batch_source(images, y_idx, class_w, augmenter, n_classes, channels)
        if executor is not None:
            make = partial(_epoch_batch, dataclasses.replace(source, slots=slots), batches, seeds)
            yield from prefetched(make, len(batches), executor=executor, ahead=len(slots.array),
                                  receive=partial(_from_slot, slots))
        else:
            make = partial(_epoch_batch, source, batches, seeds)
            yield from prefetched(make, len(batches), workers=self._input_threads(), ahead=4)

    def _batch_source(self, images, y_idx, class_w, augmenter, n_classes, channels) -> _BatchSource:
        return _BatchSource(images, y_idx, class_w, augmenter, int(n_classes), int(channels),
                            float(self.label_smoothing), float(self.mixup), float(self.dropout))

    def _input_threads(self) -> int:
        """Threads reading the images, and preparing the batches when no worker processes do:
        ``n_jobs`` (``None``: 2; -1: every core)."""
        if self.n_jobs is None:
            return 2
        return max(1, int(self.n_jobs if self.n_jobs > 0 else os.cpu_count() or 1))

    def _input_processes(self) -> int:
        """Worker processes augmenting the training batches: ``n_jobs`` (``None`` or -1: one per
        core this process may use)."""
        from joblib import cpu_count

        return max(1, int(self.n_jobs if self.n_jobs is not None and self.n_jobs > 0 else cpu_count()))

    @contextlib.contextmanager
    def _input_side(self, images, augmenter, n_draws: int, *, processes: bool | None = None):
        """Where a fit's training batches are made: yields ``(executor, images, slots)`` for
        :meth:`_batches`: worker processes reading the images from shared memory and handing the
        batches back in two shared slots per worker (all closed, and the memory freed, on
        leaving), or ``(None, images, None)``: threads of this process. ``processes``: whether
        :meth:`_worth_processes` decides (``None``), or always (``True``, when there are at least
        two workers), or never (``False``: the plain single-process way, benchmarks/input_speed.py)."""
        n = self._input_processes()
        worth = self._worth_processes(images, augmenter, n, n_draws) if processes is None else processes and n > 1
        if not worth:
            yield None, images, None
            return
        with contextlib.ExitStack() as stack:
            shared = SharedArray(images)
            stack.callback(shared.close)
            slots = SharedArray(np.zeros((2 * n, int(self.batch_size), *images.shape[1:]), np.float32), writable=True)
            stack.callback(slots.close)
            yield stack.enter_context(worker_processes(n, preload=(__name__,))), shared, slots

    def _worth_processes(self, images, augmenter, n: int, n_draws: int) -> bool:
        """Whether worker processes pay: more than one, on POSIX, an augmenter that pickles, and
        ``n_draws`` augmented images (the fit's) taking at least MIN_PARALLEL_SECONDS on one core,
        as timed on a few images here (starting the workers costs about a second) by an
        :class:`~featbus.networks.augmentation.ImageAugmenter` of the same settings (of the
        default ones for another kind of augmenter)."""
        if n < 2 or os.name != "posix" or augmenter is None or not len(images):
            return False
        import pickle

        try:
            pickle.dumps(augmenter)
        except Exception:  # a custom augmenter that lives only in this process
            return False
        from ..networks.augmentation import ImageAugmenter

        # timed on a stand-in with the same settings: the fit's own augmenter draws only the fit's images
        stand_in = ImageAugmenter(**augmenter.get_params()) if isinstance(augmenter, ImageAugmenter) \
            else ImageAugmenter()
        probe = np.asarray(images[:4])
        _augment(stand_in, probe, np.random.default_rng(0))  # the first call pays one-time costs (imports)
        start = time.perf_counter()
        _augment(stand_in, probe, np.random.default_rng(1))
        return (time.perf_counter() - start) / len(probe) * n_draws >= MIN_PARALLEL_SECONDS

    def _embed_all(self, trainer: _Trainer, images: np.ndarray) -> np.ndarray:
        """Embeddings of the validation images, in batches of the training batch size (on JAX one
        forward program whatever the count: :func:`~featbus.networks.backend.compile_forward` tops the
        last batch up)."""
        bs = int(self.batch_size)
        return np.concatenate([trainer.embed(images[i:i + bs]) for i in range(0, len(images), bs)]
                              or [np.zeros((0, trainer.channels), np.float32)])

    def _validate(self, trainer: _Trainer, images, y_idx, class_w) -> tuple[float, float, np.ndarray]:
        """Class-weighted validation loss, accuracy and probabilities (with ``tta``, of the
        image and its mirror averaged, as ``predict_proba`` does); macro-F1 from the
        probabilities (:func:`confusion_metrics`)."""
        emb = self._embed_all(trainer, images)
        if self.tta:
            emb = 0.5 * (emb + self._embed_all(trainer, np.ascontiguousarray(images[:, :, ::-1])))
        mean, scale = trainer.stats()
        logp = _log_softmax(_linear_logits(emb, mean, scale, *trainer.head_arrays()))
        sw = class_w[y_idx]
        loss = float(-(logp[np.arange(len(y_idx)), y_idx] * sw).sum() / sw.sum())
        return loss, float(np.mean(np.argmax(logp, axis=1) == y_idx)), np.exp(logp)

    # ------------------------------------------------------------------ transform / predict
    def _setting_extra(self) -> dict:
        """Part of the extraction key: the fitted weights (two folds never share rows), and the
        inference runtime's flatbuffer when one computes the rows."""
        runtime = getattr(self, "_inference", None)
        return {"weights": self.weights_hash_ if runtime is None else f"{self.weights_hash_}:runtime:{runtime.digest}"}

    def _keras_forward(self):
        """The Keras forward (gray ``(n, h, w)`` in [0, 255] -> embeddings) and its layers."""
        tr = self._trainer()
        return tr.embed_fn, tr.body

    def _forward(self):
        """What computes embeddings: a loaded model file's inference runtime, else the network."""
        return getattr(self, "_inference", None) or self._trainer().embed

    def _batch_size(self) -> int:
        return int(self.batch_size)  # the training batch: the forward's one shape (see _Trainer)

    def _logits(self, X) -> np.ndarray:
        return self.logits_of_embedding(self.transform(X))

    def logits_of_embedding(self, embedding: np.ndarray) -> np.ndarray:
        """The fine-tuned head's logits of embeddings from :meth:`transform` (NumPy only: a
        model file's head predicts without the network's backend)."""
        check_is_fitted(self, "weights_")
        return _linear_logits(embedding, self.embedding_mean_, self.embedding_scale_,
                              self.weights_[-2], self.weights_[-1])

    def proba_of_embedding(self, embedding: np.ndarray) -> np.ndarray:
        """Class probabilities (softmax of :meth:`logits_of_embedding`), columns in ``classes_`` order."""
        return np.exp(_log_softmax(self.logits_of_embedding(embedding)))

    def decision_function(self, X) -> np.ndarray:
        """Logits of the fine-tuned head: shape (n_images, n_classes), or for two classes the
        scikit-learn convention, the logit difference of ``classes_[1]`` over ``classes_[0]``."""
        z = self._logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of the fine-tuned head (softmax), columns in ``classes_`` order."""
        return np.exp(_log_softmax(self._logits(X)))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each image."""
        return self.classes_[np.argmax(self._logits(X), axis=1)]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True  # floating-point results vary slightly across CPUs
        return tags


def _linear_logits(embedding, mean, scale, kernel, bias) -> np.ndarray:
    z = (np.asarray(embedding, np.float64) - np.asarray(mean, np.float64)) / np.asarray(scale, np.float64)
    return z @ np.asarray(kernel, np.float64) + np.asarray(bias, np.float64)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _moments(fn, x: np.ndarray, batch: int, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (biased) variance of ``fn(x)`` over every image and position."""
    ops = keras_module().ops
    total = total_sq = None
    count = 0
    for start in range(0, len(x), batch):
        t = np.asarray(ops.convert_to_numpy(fn(x[start:start + batch])), dtype=np.float64)
        t = np.moveaxis(t, axis, -1).reshape(-1, t.shape[axis])
        s, s2 = t.sum(axis=0), np.square(t).sum(axis=0)
        total, total_sq = (s, s2) if total is None else (total + s, total_sq + s2)
        count += t.shape[0]
    mean = total / count
    return mean, np.maximum(total_sq / count - mean ** 2, 0.0)


def _hash_arrays(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def fine_tuned_features(X_train, y_train, X=None, **params) -> np.ndarray:
    """Function form of :class:`FineTunedCNN`: fine-tune on ``(X_train, y_train)`` and return the
    embeddings of ``X`` (default: of ``X_train``).

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.features.finetune import fine_tuned_features
    >>> d = make_phantoms(8, image_size=40, random_state=1)
    >>> fine_tuned_features(d.data, d.target, weights=None, input_size=32, epochs=1, warmup_epochs=0,
    ...                     validation_fraction=0, progress=False, random_state=0).shape
    (8, 192)
    """
    est = FineTunedCNN(**params).fit(X_train, y_train)
    return est.transform(X_train if X is None else X)


class FineTunedEnsemble(_ImageInputMixin, ClassifierMixin, TransformerMixin, BaseEstimator):
    """Several fine-tuned CNNs (seeds and/or backbones) whose probabilities are averaged.

    Every member is a clone of ``estimator`` with its own seed (``random_state + i``) and, if
    ``backbones`` is given, its own backbone; all members hold out the *same* duplicate-grouped
    validation images (drawn once, as :class:`FineTunedCNN` draws its split), so the
    ensemble's validation probabilities are a held-out estimate of the averaged model.

    Parameters
    ----------
    estimator : FineTunedCNN or None, default=None
        The member recipe; ``None``: ``FineTunedCNN()``.
    n_members : int, default=3
        Number of networks.
    backbones : sequence of str or None, default=None
        Backbone of each member, cycled (e.g. ``["efficientnet_lite0", "efficientnet_lite2"]``);
        ``None``: ``estimator``'s for all.
    random_state : int or None, default=None
        Member ``i`` is seeded ``random_state + i`` (``None``: each draws its own).

    Attributes
    ----------
    members_ : list of FineTunedCNN
    classes_ : ndarray
    validation_indices_ : ndarray of int
    validation_proba_ : ndarray of shape (n_validation, n_classes)
        The members' validation probabilities, averaged.
    n_features_out_ : int
        Sum of the members' embedding widths (``transform`` joins them).

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.features.finetune import FineTunedCNN, FineTunedEnsemble
    >>> data = make_phantoms(16, image_size=48, random_state=0)
    >>> member = FineTunedCNN(weights=None, input_size=32, epochs=1, warmup_epochs=0, batch_size=8,
    ...                       validation_fraction=0, progress=False)
    >>> ens = FineTunedEnsemble(member, n_members=2, random_state=0).fit(data.data, data.target)
    >>> ens.predict_proba(data.data).shape, ens.transform(data.data).shape
    ((16, 3), (16, 384))
    """

    _parameter_constraints = {
        "estimator": [None, HasMethods(["fit", "transform", "proba_of_embedding"])],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "backbones": [None, list, tuple],
        "random_state": [None, Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, estimator=None, *, n_members: int = 3, backbones=None, random_state: int | None = None):
        self.estimator = estimator
        self.n_members = n_members
        self.backbones = backbones
        self.random_state = random_state

    def _needs_mask(self) -> bool:
        return self._member_template().region != "image"

    def _member_template(self) -> FineTunedCNN:
        return FineTunedCNN() if self.estimator is None else self.estimator

    def fit(self, X, y, groups=None):
        """Fine-tune ``n_members`` networks on ``(X, y)``, one validation split for all.

        Parameters
        ----------
        X : sequence of images, ImageRecord or paths
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,), optional
            Near-duplicate (or patient) groups of the validation split.

        Returns
        -------
        self
        """
        from sklearn.base import clone

        self._validate_params()
        if self.backbones is not None and not self.backbones:
            raise ValueError("backbones must name at least one backbone, or be None")
        items = check_images(X)
        _check_y_length(items, y)
        template = clone(self._member_template())
        template._check_params()
        y_arr = np.asarray(y)
        _, y_idx = np.unique(y_arr, return_inverse=True)
        base = template._seed() if self.random_state is None else int(self.random_state)
        _, val_idx = template._split(items, y_idx, groups, base)
        members = []
        for i in range(int(self.n_members)):
            params = {"random_state": base + i}
            if self.backbones is not None:
                params["backbone"] = list(self.backbones)[i % len(self.backbones)]
            members.append(clone(template).set_params(**params).fit(items, y_arr, groups, validation_indices=val_idx))
        self.members_ = members
        self.classes_ = members[0].classes_
        self.validation_indices_ = val_idx
        self.validation_proba_ = np.mean([m.validation_proba_ for m in members], axis=0) if len(val_idx) \
            else np.zeros((0, len(self.classes_)))
        self.n_features_out_ = int(sum(m.n_features_out_ for m in members))
        return self

    def transform(self, X) -> np.ndarray:
        """The members' embeddings side by side, one row per image."""
        check_is_fitted(self, "members_")
        items = check_images(X)
        return np.hstack([m.transform(items) for m in self.members_])

    def proba_of_embedding(self, embedding: np.ndarray) -> np.ndarray:
        """Average of the members' probabilities of their parts of ``embedding`` (NumPy only)."""
        check_is_fitted(self, "members_")
        out, start = 0.0, 0
        for m in self.members_:
            out = out + m.proba_of_embedding(embedding[:, start:start + m.n_features_out_])
            start += m.n_features_out_
        return out / len(self.members_)

    def predict_proba(self, X) -> np.ndarray:
        """Averaged class probabilities, columns in ``classes_`` order."""
        return self.proba_of_embedding(self.transform(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each image."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "members_")
        return np.asarray([f"member{i}.{n}" for i, m in enumerate(self.members_)
                           for n in m.get_feature_names_out()], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags


class NetworkHead(ClassifierMixin, BaseEstimator):
    """The classifier part of a fine-tuned network (or ensemble) in a :class:`~featbus.FeatbusModel`.

    A model file keeps a network recipe as features (``network.transform``: the embeddings)
    and this head (``network.proba_of_embedding``: the networks' own softmax heads, averaged),
    so prediction, Grad-CAM and export treat it like any feature + classifier model.

    Parameters
    ----------
    network : FineTunedCNN or FineTunedEnsemble
        Fitted.
    """

    def __init__(self, network=None):
        self.network = network

    def fit(self, X=None, y=None):
        """Nothing to learn: the network was trained with the labels. Returns self."""
        check_is_fitted(self.network)
        self.classes_ = self.network.classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        return self.network.proba_of_embedding(np.asarray(X))

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
