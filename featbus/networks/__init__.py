"""The network toolkit that :class:`~featbus.DeepFeatures`, :class:`~featbus.FineTunedCNN` and
:class:`~featbus.UNetSegmenter` are thin over: one backbone table and one loader.

The package holds the toolkit (:mod:`featbus.networks.toolkit`), the table (:mod:`featbus.networks.backbones`), the
backbones featbus builds itself (:mod:`featbus.networks.efficientnet_lite`) and, in
:data:`WEIGHTS_DIR` (``featbus/networks/weights/``), the weights files featbus ships.

A *backbone* is named the same way in every estimator (``backbone=``):

* a row of the one table, :data:`featbus.networks.BACKBONES` (``"efficientnet_lite0"``,
  ``"resnet50"``, ``"mobilenet_v2"`` ...; any case);
* any other ``keras.applications`` model by name (``"ResNet152"``, ``"ConvNeXtTiny"``; any
  case): its ImageNet preprocessing is read off its ``preprocess_input`` (:func:`probe_preprocess`);
* ``"mobilenet_v2_small"`` (or ``"scratch"``): featbus's small CNN trained from scratch
  (:func:`mobilenet_v2_small`, the U-Net's own encoder; ``weights=None`` only);
* a function ``f(input_shape) -> keras.Model`` building your own network, fed the gray image
  repeated to three channels in ``[0, 255]`` (any preprocessing it needs belongs inside it). It
  must build a new network on every call (every fit trains its own); a ``keras.Model`` itself is
  not a backbone. A model file records the function by its name only (``module.function``, never
  its code) and loads only when you trust that name:
  ``load_model(path, trusted=["module.function"])``, after which the function builds the
  network again and the file's weights go into it;
* a :class:`~featbus.networks.Backbone` row itself.

:func:`resolve_backbone` turns any of these into a table row, and :func:`load_backbone` builds
it with its starting weights (ImageNet, a seeded random draw, or a weights file), checks it and
gives its automatically named layers stable names. :func:`register_backbone` adds a row at run
time (a plugin, a test); a backbone shipped with featbus is one row of the table plus the module
that builds it, as EfficientNet-Lite's.

The other shared pieces live beside: images (and masks) are augmented by
:mod:`featbus.networks.augmentation`, training runs on :mod:`featbus.networks.training`, the grouped validation
split is :func:`featbus.model_selection.holdout_split`, and the parameters the networks share are
documented once in :mod:`featbus._docs`.

Examples
--------
>>> from featbus.networks import resolve_backbone
>>> resolve_backbone("EfficientNet_Lite0").name, resolve_backbone("resnet50").preprocess
('efficientnet_lite0', 'caffe')
"""

from __future__ import annotations

from .backbones import (
    BACKBONES,
    SHIPPED_SEGMENTERS,
    SHIPPED_WEIGHTS,
    WEIGHTS_DIR,
    Backbone,
    get_backbone,
    keras_cache_dir,
    resolve_imagenet_file,
    shipped_card,
    shipped_segmenter,
    shipped_weights,
    stable_layer_names,
)
from .pretrained import PRETRAINED, find_pretrained, get_pretrained
from .toolkit import (
    SCRATCH_BACKBONE,
    SCRATCH_NAMES,
    UNET_STRIDES,
    backbone_name,
    check_backbone,
    conv_bn,
    deterministic_init,
    is_scratch,
    keras_name,
    load_backbone,
    mobilenet_v2_small,
    preprocess_affine,
    probe_preprocess,
    register_backbone,
    resolve_backbone,
    scratch_encoder,
    shipped_backbone,
    skip_layers,
    stride_layers,
    user_builder,
    weights_id,
)

__all__ = ["BACKBONES", "WEIGHTS_DIR", "PRETRAINED", "get_pretrained", "find_pretrained", "SHIPPED_WEIGHTS",
           "SHIPPED_SEGMENTERS", "shipped_weights",
           "shipped_segmenter", "shipped_card", "Backbone",
           "get_backbone", "keras_cache_dir", "resolve_imagenet_file",
           "stable_layer_names", "resolve_backbone", "register_backbone", "backbone_name", "keras_name",
           "check_backbone", "load_backbone", "weights_id", "preprocess_affine", "probe_preprocess",
           "skip_layers", "stride_layers", "user_builder", "mobilenet_v2_small", "SCRATCH_BACKBONE",
           "deterministic_init", "UNET_STRIDES", "SCRATCH_NAMES", "is_scratch", "conv_bn", "scratch_encoder",
           "shipped_backbone"]
