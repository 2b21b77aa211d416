"""Lesion segmentation with a light U-Net (Keras): :func:`build_unet` and :class:`UNetSegmenter`.

The network is a U-Net (Ronneberger et al., MICCAI 2015) whose encoder is, by default, the
ImageNet-pretrained EfficientNet-Lite0 of :mod:`featbus.features.backbones`, or a small
MobileNetV2-style stack of inverted residual blocks (Sandler et al., CVPR 2018) trained from
scratch. Skip connections join the encoder stages at strides 2, 4, 8 and 16
to a decoder of bilinear upsampling and separable convolutions. Training minimises binary
cross-entropy plus soft Dice loss on images resized to ``input_size`` squared, with on-the-fly
augmentation in the ranges used for breast-ultrasound U-Nets (rotation up to 15 degrees, shift up
to 10 %, zoom 0.9-1.1, horizontal flip, brightness 0.8-1.2, plus gamma 0.8-1.2), AdamW with a
warm-up and cosine decay, a validation split that keeps near-duplicates together, and early
stopping that restores the best weights. Optional flip test-time augmentation.

Keras (TensorFlow backend) is imported when a network is built, trained or loaded, never when
featbus is imported. TensorFlow's thread pools follow ``TF_NUM_INTRAOP_THREADS`` /
``TF_NUM_INTEROP_THREADS`` (or ``OMP_NUM_THREADS``) when set, else the number of CPU cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._base import _ImageInputMixin
from .._records import ImageError, ImageRecord, check_images, check_mask, to_float
from ..io import load_item
from .metrics import dice_scores

__all__ = ["UNetSegmenter", "build_unet", "augment_pair", "ENCODERS"]

#: Encoders :func:`build_unet` knows. ``"scratch"`` is another name for ``"mobilenet_v2_small"``.
ENCODERS = ("mobilenet_v2_small", "scratch", "efficientnet_lite0")

_META_NAME = "featbus_unet.json"  # extra entry featbus adds to the .keras zip file


# --------------------------------------------------------------------------- keras helpers

_THREADS_SET = False


def _keras():
    """Import Keras lazily, once setting TensorFlow's thread pools to what the machine allows."""
    global _THREADS_SET
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if not _THREADS_SET:
        _THREADS_SET = True
        try:
            import tensorflow as tf

            env = os.environ
            intra = env.get("TF_NUM_INTRAOP_THREADS") or env.get("OMP_NUM_THREADS")
            inter = env.get("TF_NUM_INTEROP_THREADS")
            if intra:
                tf.config.threading.set_intra_op_parallelism_threads(int(intra))
            # one inter-op thread per core at most: on a small shared machine more only thrash
            tf.config.threading.set_inter_op_parallelism_threads(int(inter) if inter else min(2, os.cpu_count() or 1))
        except (RuntimeError, ValueError, ImportError):  # runtime already started: keep its setting
            pass
    return keras


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


# --------------------------------------------------------------------------- augmentation

def augment_pair(image: np.ndarray, mask: np.ndarray, random_state=None, *, rotation: float = 15.0,
                 shift: float = 0.1, zoom: float = 0.1, flip: bool = True,
                 brightness: float = 0.2, gamma: float = 0.2,
                 border: str = "reflect") -> tuple[np.ndarray, np.ndarray]:
    """Randomly rotate, shift, zoom, flip, brighten and re-contrast an image and its mask together.

    The default ranges are those of common breast-ultrasound U-Net papers: rotation in
    ``[-15, 15]`` degrees, shift up to 10 % of the side, zoom in ``[0.9, 1.1]``, horizontal flip
    with probability 0.5, brightness factor in ``[0.8, 1.2]``, and a gamma (contrast) change
    ``image ** g`` with ``log g`` uniform in ``[log 0.8, log 1.2]``, since scanners and gain settings
    differ mostly in contrast. Pixels moved in from outside the frame mirror the image (and the
    mask) at its edge by default; filling them with 0 instead (``border="constant"``) teaches the
    network that dark regions touching the frame are outside the image, which is wrong for the
    dark lesions that reach an edge. Vertical flips are not used: depth has a direction.

    Parameters
    ----------
    image : ndarray of shape (h, w), float in [0, 1]
    mask : ndarray of shape (h, w)
        Values in ``[0, 1]``; returned as ``float32`` 0/1.
    random_state : int, RandomState or None
    rotation, shift, zoom, brightness, gamma : float
        Ranges as above; 0 turns one off.
    flip : bool
        Random horizontal flips.
    border : {"reflect", "constant"}
        How pixels moved in from outside are filled: mirrored, or 0.

    Returns
    -------
    image, mask : ndarray of float32, same shape

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.RandomState(0).rand(32, 32).astype("float32")
    >>> m = np.zeros((32, 32), "float32"); m[8:24, 8:24] = 1
    >>> a, b = augment_pair(img, m, 0)
    >>> a.shape, b.shape, set(np.unique(b)) <= {0.0, 1.0}
    ((32, 32), (32, 32), True)
    """
    rng = check_random_state(random_state)
    h, w = image.shape
    angle = rng.uniform(-rotation, rotation)
    scale = rng.uniform(1 - zoom, 1 + zoom)
    tx, ty = rng.uniform(-shift, shift) * w, rng.uniform(-shift, shift) * h
    mat = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    mat[:, 2] += (tx, ty)
    if border not in ("reflect", "constant"):
        raise ValueError(f"border must be 'reflect' or 'constant', got {border!r}")
    flags = dict(borderMode=cv2.BORDER_REFLECT_101 if border == "reflect" else cv2.BORDER_CONSTANT, borderValue=0)
    out = cv2.warpAffine(np.ascontiguousarray(image, np.float32), mat, (w, h), flags=cv2.INTER_LINEAR, **flags)
    m = cv2.warpAffine(np.ascontiguousarray(mask, np.float32), mat, (w, h), flags=cv2.INTER_LINEAR, **flags)
    m = (m > 0.5).astype(np.float32)
    if flip and rng.rand() < 0.5:
        out, m = out[:, ::-1], m[:, ::-1]
    out = np.clip(out * rng.uniform(1 - brightness, 1 + brightness), 0.0, 1.0)
    if gamma:
        out = out ** np.exp(rng.uniform(np.log(1 - gamma), np.log(1 + gamma)))
    return np.ascontiguousarray(out, np.float32), np.ascontiguousarray(m, np.float32)


def _resize(a: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """Resize to (height, width); cv2 takes (width, height)."""
    return cv2.resize(np.ascontiguousarray(a), (int(size[1]), int(size[0])), interpolation=interpolation)


# --------------------------------------------------------------------------- the estimator

class UNetSegmenter(_ImageInputMixin, BaseEstimator):
    """Lesion segmentation with a light U-Net, as a scikit-learn style estimator.

    Fit it either way:

    * ``fit(images, masks)``: a sequence of images (arrays, paths or records) and a sequence of
      masks of the same sizes (an all-zero mask is a normal image: it teaches "no lesion");
    * ``fit(records)``: :class:`featbus.ImageRecord` items carrying their masks, such as
      ``load_busi().data``; a ``y`` of class labels (what a Pipeline passes) is ignored.

    Every image is scaled to ``[0, 1]`` and resized to ``input_size`` squared for the network;
    :meth:`predict_proba_maps` and :meth:`predict_masks` resize the output back to each image's
    own size.

    Parameters
    ----------
    encoder : {"efficientnet_lite0", "mobilenet_v2_small", "scratch"}, default="efficientnet_lite0"
        Encoder of the U-Net (see :func:`build_unet`). ``"efficientnet_lite0"`` is pretrained on
        ImageNet when ``pretrained=True`` (its weights install offline with the ``deep``
        extra): the recipe the user guide measures on BUSI. ``"mobilenet_v2_small"`` (alias
        ``"scratch"``) starts from random weights: small and fast to build, for tests, but it
        needs many more epochs.
    input_size : int, default=224
        Network input side, a multiple of 32. 224-256 for ultrasound; 64 is enough for tests.
    width : float, default=1.0
        Channel multiplier of the scratch encoder and the decoder.
    pretrained : bool, default=True
        Start a pretrained-capable encoder from ImageNet weights.
    decoder_filters : sequence of 5 int or None, default=None
        Filters of the decoder stages from stride 16 back to full resolution (separable
        convolutions). None: ``(96, 64, 32, 24, 16)`` times ``width``.
    epochs : int, default=30
        Maximum number of passes over the training images (early stopping and ``max_time`` may
        end training sooner).
    batch_size : int, default=8
    learning_rate : float, default=1e-3
        Peak learning rate of the AdamW optimiser (see ``lr_schedule``).
    encoder_lr_scale : float, default=1.0
        The encoder's learning rate is ``learning_rate * encoder_lr_scale`` (the decoder keeps
        ``learning_rate``). Below 1 (e.g. 0.1) fine-tunes a pretrained encoder gently while the
        randomly initialised decoder learns at full speed: the usual discriminative fine-tuning
        of transfer learning (Howard and Ruder, ACL 2018).
    lr_schedule : {"cosine", "plateau"}, default="cosine"
        ``"cosine"``: a linear warm-up over the first epoch (a random decoder's first large
        gradients would otherwise wreck a pretrained encoder), then cosine decay to zero at
        ``epochs`` or at the end of the ``max_time`` budget, whichever comes first (a budget
        that stops training early still ends on small steps). ``"plateau"``: constant, halved after ``patience // 2`` epochs without
        improvement of the monitored quantity.
    weight_decay : float, default=1e-4
        Decoupled weight decay of AdamW (Loshchilov and Hutter, ICLR 2019); 0 gives plain Adam.
    validation_fraction : float, default=0.1
        Share of the training images held out for early stopping; 0 disables early stopping
        (all epochs run, the last weights are kept). The split keeps near-duplicate groups
        whole (the ``groups`` of :meth:`fit`, else :func:`featbus.duplicate_groups` of the
        training images), so early stopping is not fooled by copies of training images.
    patience : int, default=10
        Epochs without improvement of the monitored quantity before training stops; the best
        weights return.
    monitor : {"val_loss", "val_dice"}, default="val_loss"
        What early stopping and the choice of the best epoch follow: the BCE + Dice validation
        loss, or the mean per-image Dice of the validation images (the quantity users report).
        Use ``"val_dice"`` only when every training image has a lesion: an empty prediction
        scores a perfect 1 on a normal image, so with normal images an early network that
        predicts nothing can look best.
    augment : bool, default=True
        On-the-fly augmentation of every epoch (see :func:`augment_pair`).
    threshold : float, default=0.5
        Probability above which a pixel is lesion in :meth:`predict_masks`.
    flip_test : bool, default=False
        Test-time augmentation: average the probabilities of each image and its left-right
        mirror (twice the inference cost, usually a slightly better Dice).
    max_time : float or None, default=600
        Time budget in seconds: training stops after the epoch that passes it (so it may run
        over by one epoch), and the cosine schedule reaches zero when it is spent. ``None``:
        no budget, ``epochs`` alone decides. When the budget ends training before ``epochs``,
        the learning rate follows the clock, so two fits with the same ``random_state`` agree
        only when the budget does not bind.
    random_state : int, RandomState or None, default=None
        Seeds weights, the validation split, batch order and augmentation. With an int, two fits
        on the same data agree (up to floating-point reduction order of multi-threaded CPU
        kernels).
    verbose : int, default=1
        1 shows a progress bar (one step per training batch, with the epoch, its loss and the
        validation loss and Dice); 0 is silent.

    Notes
    -----
    Expected time with the defaults on two CPU cores: at most about 11 minutes, whatever the
    number of images: ``max_time=600`` ends training after the epoch that passes 10 minutes
    (building the network and tracing its training step, about 1.5 minutes, count in it).
    Measured on a two-core machine shared with other jobs, 128 BUSI lesion images (115
    trained on, 13 validating): one epoch took 4 s lightly loaded and 18 s heavily loaded,
    and ``UNetSegmenter(random_state=0).fit`` ran its 30 epochs in 582 s under the heavy load
    (best validation Dice 0.88). On BUSI's 514 lesion images an epoch is about four times
    longer, so on two cores the budget, not ``epochs``, usually ends training, and the cosine
    decay then ends with the budget. Pass ``max_time=None`` (or a larger budget) to always
    run all ``epochs``; ``verbose=1`` shows a progress bar per batch.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (pickles through its saved bytes).
    history_ : dict of lists
        ``loss``, ``val_loss`` and ``val_dice`` per epoch.
    n_epochs_ : int
        Epochs run. ``best_epoch_`` : int, the epoch whose weights were kept (1-based).
    training_time_ : float
        Seconds spent in :meth:`fit`.
    n_train_, n_val_ : int
        Images used for training and for validation.
    validation_indices_ : ndarray of int
        Positions in ``X`` of the validation images (whole near-duplicate groups).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import UNetSegmenter
    >>> rng = np.random.RandomState(0)
    >>> images = [rng.rand(40, 48).astype("float32") for _ in range(4)]
    >>> masks = [np.zeros((40, 48), bool) for _ in range(4)]
    >>> for m in masks: m[10:30, 12:30] = True
    >>> seg = UNetSegmenter(encoder="scratch", input_size=32, width=0.25, epochs=1, batch_size=2,
    ...                     validation_fraction=0, random_state=0, verbose=0)
    >>> seg = seg.fit(images, masks)                                    # doctest: +SKIP
    >>> [m.shape for m in seg.predict_masks(images[:2])]                # doctest: +SKIP
    [(40, 48), (40, 48)]
    """

    def __init__(self, encoder: str = "efficientnet_lite0", input_size: int = 224, *, width: float = 1.0,
                 pretrained: bool = True, decoder_filters: Sequence[int] | None = None, epochs: int = 30,
                 batch_size: int = 8, learning_rate: float = 1e-3, encoder_lr_scale: float = 1.0,
                 lr_schedule: str = "cosine", weight_decay: float = 1e-4, validation_fraction: float = 0.1,
                 patience: int = 10, monitor: str = "val_loss", augment: bool = True, threshold: float = 0.5,
                 flip_test: bool = False, max_time: float | None = 600.0, random_state=None, verbose: int = 1):
        self.encoder = encoder
        self.input_size = input_size
        self.width = width
        self.pretrained = pretrained
        self.decoder_filters = decoder_filters
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.encoder_lr_scale = encoder_lr_scale
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.monitor = monitor
        self.augment = augment
        self.threshold = threshold
        self.flip_test = flip_test
        self.max_time = max_time
        self.random_state = random_state
        self.verbose = verbose

    def _budget_spent(self, start: float, decay_start: float | None) -> float:
        """Share of the ``max_time`` budget left after warm-up that the cosine phase has used
        (0 without a budget or during warm-up): the clock's side of the schedule. Timed from
        the end of the first epoch, so the one-off tracing does not count; it overtakes the
        step count only when the budget is going to end training first."""
        if self.max_time is None or decay_start is None:
            return 0.0
        left = float(self.max_time) - (decay_start - start)
        return 1.0 if left <= 0 else (time.perf_counter() - decay_start) / left

    # ------------------------------------------------------------------ checks
    def _validate_params(self):
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if not isinstance(self.input_size, (int, np.integer)) or self.input_size < 32 or self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 and at least 32, got {self.input_size!r}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.patience, (int, np.integer)) or self.patience < 1:
            raise ValueError(f"patience must be a positive integer, got {self.patience!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold!r}")
        if not self.width > 0 or not self.learning_rate > 0:
            raise ValueError("width and learning_rate must be positive")
        if self.lr_schedule not in ("cosine", "plateau"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'plateau', got {self.lr_schedule!r}")
        if self.monitor not in ("val_dice", "val_loss"):
            raise ValueError(f"monitor must be 'val_dice' or 'val_loss', got {self.monitor!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0 < self.encoder_lr_scale <= 1e3:
            raise ValueError(f"encoder_lr_scale must be in (0, 1000], got {self.encoder_lr_scale!r}")
        _check_decoder_filters(self.decoder_filters)
        if self.max_time is not None and not self.max_time > 0:
            raise ValueError(f"max_time must be None or positive, got {self.max_time!r}")

    def _prepare(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """Load, check and resize every image/mask pair to the network's input."""
        items = check_images(X)
        masks = None
        if y is not None:
            y = list(y)
            if len(y) != len(items):
                raise ValueError(f"X holds {len(items)} images but {len(y)} masks were given; they must match.")
            if all(np.ndim(v) == 0 for v in y):
                y = None  # class labels from a Pipeline: masks must come with the records
            else:
                masks = y
        s = int(self.input_size)
        xs = np.empty((len(items), s, s, 1), np.float32)
        ys = np.empty((len(items), s, s, 1), np.float32)
        for i, item in enumerate(items):
            rec = load_item(item, i)
            if masks is not None:
                m = masks[i]
                if isinstance(m, ImageRecord):
                    m = m.mask
                elif isinstance(m, (str, os.PathLike)):
                    from ..io import read_mask

                    m = read_mask(m)
            else:
                m = rec.mask
                if m is None:
                    raise ImageError("has no lesion mask: fit(images, masks) or pass ImageRecord(image, mask) "
                                     "items (Bunch.data of the featbus data sets)", i, rec.path)
            if m is None:
                raise ImageError("mask is None; pass an all-zero mask for an image without lesion", i, rec.path)
            m = check_mask(m, rec.image.shape, index=i, path=rec.path)
            xs[i, ..., 0] = _resize(to_float(rec.image, index=i, path=rec.path), (s, s), cv2.INTER_AREA)
            ys[i, ..., 0] = _resize(m.astype(np.float32), (s, s), cv2.INTER_LINEAR) > 0.5
        return xs, ys

    # ------------------------------------------------------------------ training
    def fit(self, X, y=None, groups=None):
        """Train the U-Net.

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord
            Records may carry their masks (then ``y`` may be omitted).
        y : sequence of masks, or class labels (ignored), or None
            Masks of the images' own sizes (arrays, records or mask file paths).
        groups : array-like of shape (n_images,), optional
            Near-duplicate group of each image (e.g. ``Bunch.groups``); the validation split
            keeps each group on one side. Default: :func:`featbus.duplicate_groups` of ``X``.

        Returns
        -------
        self
        """
        self._validate_params()
        start = time.perf_counter()
        xs, ys = self._prepare(X, y)
        keras = _keras()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(0, 2**31 - 1))

        val_idx, train_idx = self._validation_split(xs, groups, rng)
        n_val = len(val_idx)
        batch_size = int(self.batch_size)
        steps_per_epoch = -(-len(train_idx) // batch_size)

        with _seeded(keras, seed):
            model = build_unet(int(self.input_size), self.encoder, width=self.width, pretrained=self.pretrained,
                               decoder_filters=self.decoder_filters)
            train_step, optimizers = self._train_step(keras, model)

        history: dict[str, list] = {"loss": [], "val_loss": [], "val_dice": []}
        sign = -1.0 if self.monitor == "val_dice" else 1.0  # track the monitored value as "lower is better"
        best, best_weights, best_epoch, waited = np.inf, None, 0, 0
        lr = float(self.learning_rate)
        bar = None
        if self.verbose:
            from tqdm.auto import tqdm

            # one step per batch: the first epoch (network tracing included) shows progress too
            bar = tqdm(total=int(self.epochs) * steps_per_epoch, unit="batch", desc="UNetSegmenter")
        epoch = step = 0
        decay_start = None
        try:
            for epoch in range(1, int(self.epochs) + 1):
                idx = rng.permutation(train_idx)
                short = -len(idx) % batch_size
                if short:  # fill the last batch with repeats: one batch shape, one graph trace
                    idx = np.concatenate([idx, rng.choice(train_idx, short)])
                losses = []
                for b in range(0, len(idx), batch_size):
                    if self.lr_schedule == "cosine":
                        _set_lr(optimizers, _cosine_lr(step, steps_per_epoch, int(self.epochs), lr,
                                                       self._budget_spent(start, decay_start)))
                    step += 1
                    batch = idx[b:b + batch_size]
                    xb, yb = xs[batch].copy(), ys[batch].copy()
                    if self.augment:
                        for k in range(len(batch)):
                            xb[k, ..., 0], yb[k, ..., 0] = augment_pair(xb[k, ..., 0], yb[k, ..., 0], rng)
                    losses.append(float(train_step(xb, yb)))
                    if step == steps_per_epoch:  # warm-up (and the slow first trace) done
                        decay_start = time.perf_counter()
                    if bar is not None:
                        bar.update(1)
                history["loss"].append(float(np.mean(losses)))
                if n_val:
                    prob = self._predict_array(model, xs[val_idx])
                    val_loss = float(_np_bce_dice(ys[val_idx], prob))
                    val_dice = float(np.mean(dice_scores(list(ys[val_idx, ..., 0] > 0.5),
                                                         list(prob[..., 0] > self.threshold))))
                    history["val_loss"].append(val_loss)
                    history["val_dice"].append(val_dice)
                    value = sign * (val_dice if self.monitor == "val_dice" else val_loss)
                    if value < best - 1e-4:
                        best, best_weights, best_epoch, waited = value, model.get_weights(), epoch, 0
                    else:
                        waited += 1
                        if self.lr_schedule == "plateau" and waited % max(1, self.patience // 2) == 0:
                            lr /= 2  # plateau: halve the step
                            _set_lr(optimizers, lr)
                else:
                    best_epoch = epoch
                if bar is not None:
                    post = {"epoch": epoch, "loss": f"{history['loss'][-1]:.3f}"}
                    if n_val:
                        post.update(val_loss=f"{history['val_loss'][-1]:.3f}", val_dice=f"{history['val_dice'][-1]:.3f}")
                    bar.set_postfix(post)
                if n_val and waited >= self.patience:
                    break
                if self.max_time is not None and time.perf_counter() - start > self.max_time:
                    break
        finally:
            if bar is not None:
                bar.close()
        if best_weights is not None:
            model.set_weights(best_weights)
        self.model_ = model
        self._predict_fn = None
        self.history_ = history
        self.n_epochs_ = epoch
        self.best_epoch_ = best_epoch
        self.n_train_ = len(train_idx)
        self.n_val_ = n_val
        self.validation_indices_ = val_idx
        self.training_time_ = time.perf_counter() - start
        return self

    def _train_step(self, keras, model):
        """A compiled training step (BCE + Dice loss, one AdamW update) and its optimisers as
        ``[(optimizer, lr_scale, weight_positions), ...]``: one for the encoder's weights and one
        for the rest when ``encoder_lr_scale != 1``, else one for all."""
        import tensorflow as tf

        def make(rate):
            if self.weight_decay > 0:
                return keras.optimizers.AdamW(rate, weight_decay=float(self.weight_decay))
            return keras.optimizers.Adam(rate)

        weights = model.trainable_variables
        scale = float(self.encoder_lr_scale)
        if scale == 1.0:
            parts = [(list(range(len(weights))), 1.0)]
        else:
            encoder = {id(v) for v in _encoder_variables(model)}
            enc = [i for i, v in enumerate(weights) if id(v) in encoder]
            rest = [i for i, v in enumerate(weights) if id(v) not in encoder]
            parts = [(p, s) for p, s in ((enc, scale), (rest, 1.0)) if p]
        optimizers = []
        for positions, s in parts:
            opt = make(float(self.learning_rate) * s)
            opt.build([weights[i] for i in positions])
            optimizers.append((opt, s, positions))

        def step(x, y):
            with tf.GradientTape() as tape:
                loss = _bce_dice_loss(y, model(x, training=True))
            grads = tape.gradient(loss, weights)
            for opt, _, positions in optimizers:
                opt.apply_gradients([(grads[i], weights[i]) for i in positions])
            return loss

        # autograph off: the step's Python loops run once, at tracing
        return tf.function(step, autograph=False), optimizers

    def _validation_split(self, xs: np.ndarray, groups, rng) -> tuple[np.ndarray, np.ndarray]:
        """Indices (validation, training): whole near-duplicate groups, about
        ``validation_fraction`` of the images, drawn at random."""
        n = len(xs)
        if not self.validation_fraction > 0 or n < 2:
            return np.array([], int), rng.permutation(n)
        if groups is None:
            from ..model_selection import duplicate_groups

            groups = duplicate_groups([x[..., 0] for x in xs])
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must hold one label per image ({n}), got shape {groups.shape}")
        target = max(1, int(round(self.validation_fraction * n)))
        val: list[int] = []
        for g in rng.permutation(np.unique(groups)):  # add whole groups until the share is reached
            if len(val) >= target:
                break
            members = np.flatnonzero(groups == g)
            if len(val) + len(members) > n - 1:
                continue
            val.extend(members.tolist())
        val_idx = np.array(sorted(val), int)
        train_idx = rng.permutation(np.setdiff1d(np.arange(n), val_idx))
        return val_idx, train_idx

    # ------------------------------------------------------------------ inference
    def _predict_array(self, model, xs: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Probabilities for network-sized inputs, through one compiled function."""
        fn = getattr(self, "_predict_fn", None)
        if fn is None or getattr(self, "_predict_model", None) is not model:
            import tensorflow as tf

            def forward(x):
                return model(x, training=False)

            # autograph off: a plain forward pass has no Python control flow to convert
            fn = tf.function(forward, reduce_retracing=True, autograph=False)
            self._predict_fn, self._predict_model = fn, model
        out = []
        for i in range(0, len(xs), batch_size):
            chunk = xs[i:i + batch_size]
            n = len(chunk)
            size = min(batch_size, 1 << (n - 1).bit_length())  # few distinct shapes: few retraces
            if size > n:
                chunk = np.concatenate([chunk, np.zeros((size - n, *chunk.shape[1:]), chunk.dtype)])
            out.append(np.asarray(fn(chunk))[:n])
        return np.concatenate(out, axis=0)

    def predict_proba_maps(self, X, batch_size: int = 32) -> list[np.ndarray]:
        """Per-pixel lesion probability of each image, at the image's own size.

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord
        batch_size : int
            Images per network call.

        Returns
        -------
        maps : list of ndarray of float32
            ``maps[i].shape == image_i.shape``, values in ``[0, 1]``.
        """
        check_is_fitted(self, "model_")
        items = check_images(X)
        s = int(self.input_size)
        out: list[np.ndarray] = []
        for start in range(0, len(items), batch_size):  # bounded memory for long lists of paths
            chunk = items[start:start + batch_size]
            shapes, xs = [], np.empty((len(chunk), s, s, 1), np.float32)
            for k, item in enumerate(chunk):
                rec = load_item(item, start + k)
                shapes.append(rec.image.shape)
                xs[k, ..., 0] = _resize(to_float(rec.image, index=start + k, path=rec.path), (s, s), cv2.INTER_AREA)
            prob = self._predict_array(self.model_, xs, batch_size)
            if self.flip_test:  # mirror, predict, mirror back, average
                prob = 0.5 * (prob + self._predict_array(self.model_, xs[:, :, ::-1], batch_size)[:, :, ::-1])
            out.extend(np.clip(_resize(p[..., 0], shape, cv2.INTER_LINEAR), 0, 1).astype(np.float32)
                       for p, shape in zip(prob, shapes))
        return out

    def predict_masks(self, X, threshold: float | None = None) -> list[np.ndarray]:
        """Binary lesion mask of each image, at the image's own size.

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord
        threshold : float, optional
            Defaults to the ``threshold`` parameter.

        Returns
        -------
        masks : list of ndarray of bool
        """
        t = self.threshold if threshold is None else threshold
        return [p > t for p in self.predict_proba_maps(X)]

    def predict(self, X) -> list[np.ndarray]:
        """Same as :meth:`predict_masks`."""
        return self.predict_masks(X)

    def score(self, X, y=None) -> float:
        """Mean Dice of the predicted masks against the true ones (records' masks or ``y``)."""
        items = check_images(X)
        truth = []
        for i, item in enumerate(items):
            if y is not None:
                truth.append(np.asarray(y[i]) > 0)
            else:
                rec = load_item(item, i)
                if rec.mask is None:
                    raise ImageError("has no mask to score against", i, rec.path)
                truth.append(rec.mask)
        return float(np.mean(dice_scores(truth, self.predict_masks(items))))

    # ------------------------------------------------------------------ persistence
    _FITTED = ("history_", "n_epochs_", "best_epoch_", "n_train_", "n_val_", "validation_indices_",
               "training_time_")

    def save(self, path: str | os.PathLike) -> Path:
        """Save the trained model and these parameters to one ``.keras`` file.

        The file is a normal Keras archive (``keras.saving.load_model`` reads it) with one extra
        entry holding the featbus parameters; :meth:`load` restores the estimator.

        Returns
        -------
        path : Path
        """
        check_is_fitted(self, "model_")
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(f"the file name must end in '.keras', got {str(path)!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model_.save(path)
        meta = {"params": _jsonable(self.get_params()),
                "fitted": {k: _jsonable(getattr(self, k)) for k in self._FITTED if hasattr(self, k)}}
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr(_META_NAME, json.dumps(meta))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> UNetSegmenter:
        """Load a segmenter written by :meth:`save` (or any one-channel Keras U-Net file).

        Returns
        -------
        segmenter : UNetSegmenter
            Fitted, ready for :meth:`predict_masks`.

        Raises
        ------
        FileNotFoundError
            No file at ``path``.
        ValueError
            The file is not a readable ``.keras`` archive (damaged, truncated, another kind of
            file) or its model cannot be loaded; the message names the file. Keras loads it with
            ``safe_mode=True``: no code stored in the file (``Lambda`` layers) is run.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no segmenter file at {str(path)!r}")
        try:
            with zipfile.ZipFile(path) as zf:
                meta = json.loads(zf.read(_META_NAME)) if _META_NAME in zf.namelist() else {"params": {}, "fitted": {}}
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{str(path)!r} is not a segmenter file: a .keras file written by "
                             f"UNetSegmenter.save is a zip archive, and this one is damaged, truncated or "
                             f"of another kind ({exc})") from None
        except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{str(path)!r}: its {_META_NAME} entry is not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("params", {}), dict) \
                or not isinstance(meta.get("fitted", {}), dict):
            raise ValueError(f"{str(path)!r}: its {_META_NAME} entry does not hold featbus parameters")
        params = meta.get("params", {})
        params = {k: v for k, v in params.items() if k in cls._get_param_names()}
        try:
            seg = cls(**params)
            seg.model_ = _load_model(path, params.get("encoder"))
        except ImportError:
            raise
        except Exception as exc:  # Keras raises many types for a damaged archive
            raise ValueError(f"{str(path)!r}: cannot load the segmenter's Keras model "
                             f"({type(exc).__name__}: {exc})") from exc
        if "input_size" not in params:
            seg.input_size = int(seg.model_.input_shape[1])
        for k, v in meta.get("fitted", {}).items():
            setattr(seg, k, np.asarray(v, int) if k == "validation_indices_" else v)
        return seg

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_predict_fn", None)
        state.pop("_predict_model", None)
        model = state.pop("model_", None)
        if model is not None:
            with tempfile.TemporaryDirectory() as tmp:
                f = Path(tmp) / "model.keras"
                model.save(f)
                state["_model_bytes"] = f.read_bytes()
        return state

    def __setstate__(self, state):
        data = state.pop("_model_bytes", None)
        self.__dict__.update(state)
        if data is not None:
            with tempfile.TemporaryDirectory() as tmp:
                f = Path(tmp) / "model.keras"
                f.write_bytes(data)
                self.model_ = _load_model(f, state.get("encoder"))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True  # CPU thread reductions; see random_state
        return tags


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


def _load_model(path: Path, encoder: str | None):
    keras = _keras()
    if encoder == "efficientnet_lite0":
        try:  # registers any custom layers of the backbone
            from ..features.backbones import efficientnet_lite  # noqa: F401
        except ImportError:
            pass
    # safe_mode=True (Keras' default, written out): a file's Lambda layers are not deserialised,
    # so loading a .keras file runs no Python code stored in it
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def _cosine_lr(step: int, steps_per_epoch: int, epochs: int, peak: float, time_fraction: float = 0.0) -> float:
    """Linear warm-up over the first epoch, then cosine decay to 0 at the last step, or when
    ``time_fraction`` (the share of a time budget spent) reaches 1, whichever comes first."""
    warm = max(1, steps_per_epoch)
    total = max(warm + 1, steps_per_epoch * epochs)
    if step < warm:
        return peak * (step + 1) / warm
    progress = max((step - warm) / max(1, total - warm - 1), float(time_fraction))
    return 0.5 * peak * (1 + np.cos(np.pi * min(1.0, progress)))


def _set_lr(optimizers, rate: float) -> None:
    """Give every optimiser ``rate`` times its learning-rate scale."""
    for opt, scale, _ in optimizers:
        opt.learning_rate.assign(rate * scale)


def _encoder_variables(model) -> list:
    """Trainable weights of the encoder: the nested pretrained backbone, or the scratch
    encoder's ``enc_*`` layers."""
    out = []
    for layer in model.layers:
        if layer.name == "encoder" or layer.name.startswith("enc_"):
            out.extend(layer.trainable_variables)
    return out


def _np_bce_dice(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    dice = (2 * np.sum(y * p) + 1.0) / (np.sum(y) + np.sum(p) + 1.0)
    return float(bce + 1 - dice)


def _jsonable(v: Any):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.generic, np.ndarray)):
        return v.tolist()
    if isinstance(v, np.random.RandomState):
        return None
    return v
