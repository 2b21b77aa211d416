"""U-Net training pieces for the engine (:mod:`featbus.networks.training`): the encoder's weights, which of
them stay frozen, the loss in NumPy."""

from __future__ import annotations

import numpy as np


def encoder_variables(model) -> list:
    """Trainable weights of the encoder: the nested pretrained backbone, or the scratch
    encoder's ``enc_*`` layers."""
    out = []
    for layer in model.layers:
        if layer.name == "encoder" or layer.name.startswith("enc_"):
            out.extend(layer.trainable_variables)
    return out


def _pretrained_encoder(model, option: str):
    """The U-Net's nested pretrained encoder model, which ``option`` freezes part of."""
    if "encoder" not in [layer.name for layer in model.layers]:
        raise ValueError(f"{option} needs a pretrained encoder (EfficientNet-Lite, a keras.applications "
                         "backbone or your own model); the scratch encoder starts from random weights")
    return model.get_layer("encoder")


def freeze_encoder_to(model, stride: int) -> int:
    """Make the pretrained encoder's layers up to its skip connection at ``stride`` untrainable.

    The encoder's layers are cut in their (topological) order at the layer whose output is the
    U-Net's skip connection at ``stride``: the stem and the stages up to that feature map. A
    frozen layer keeps its ImageNet weights, and a frozen batch-norm its ImageNet statistics
    (Keras 3 runs an untrainable batch-norm in inference mode). Gradients stop at the first
    trainable layer, so the early high-resolution layers' backward pass, the costliest per
    weight, is saved.

    Returns
    -------
    n_frozen : int
        Layers frozen.
    """
    encoder = _pretrained_encoder(model, "freeze_stride")
    size = int(model.inputs[0].shape[1])
    skip = [t for t in encoder.outputs if size // int(t.shape[1]) == stride]
    if not skip:
        raise ValueError(f"the encoder has no skip connection at stride {stride} to freeze up to")
    last = next(i for i, layer in enumerate(encoder.layers) if layer.output is skip[0])  # the layer giving it
    for layer in encoder.layers[:last + 1]:
        layer.trainable = False
    return last + 1


def _all_layers(model):
    """The layers of ``model`` and of the models nested in it (a user's encoder may nest some)."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def freeze_encoder_batchnorm(model) -> int:
    """Make every batch-norm layer of the pretrained encoder untrainable: it keeps its ImageNet
    statistics, scale and offset, and runs in inference mode (Keras 3 does so for an untrainable
    batch-norm), so training needs no batch statistics and no gradients through them.

    Returns
    -------
    n_frozen : int
        Batch-norm layers frozen.
    """
    from ..networks.backend import keras_module

    batchnorm = keras_module().layers.BatchNormalization
    frozen = [layer for layer in _all_layers(_pretrained_encoder(model, "freeze_bn")) if isinstance(layer, batchnorm)]
    for layer in frozen:
        layer.trainable = False
    return len(frozen)


def np_bce_dice(y: np.ndarray, p: np.ndarray, per_image: bool = False) -> float:
    """The U-Net's loss (:func:`~featbus.segmentation.network.unet_loss` of one output) in NumPy,
    for validation images: ``y`` the masks, ``p`` the probabilities, both ``(n, h, w, 1)``."""
    p = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    axes = tuple(range(1, y.ndim)) if per_image else None
    dice = (2 * np.sum(y * p, axis=axes) + 1.0) / (np.sum(y, axis=axes) + np.sum(p, axis=axes) + 1.0)
    return float(bce + 1 - np.mean(dice))
