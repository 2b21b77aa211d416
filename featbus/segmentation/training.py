"""U-Net training pieces for the engine (:mod:`featbus.training`): the encoder's weights, the loss in NumPy."""

from __future__ import annotations

import numpy as np


def _encoder_variables(model) -> list:
    """Trainable weights of the encoder: the nested pretrained backbone, or the scratch
    encoder's ``enc_*`` layers."""
    out = []
    for layer in model.layers:
        if layer.name == "encoder" or layer.name.startswith("enc_"):
            out.extend(layer.trainable_variables)
    return out


def _np_bce_dice(y: np.ndarray, p: np.ndarray, per_image: bool = False) -> float:
    """:func:`~featbus.segmentation.network._bce_dice_loss` in NumPy, for validation images."""
    p = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    axes = tuple(range(1, y.ndim)) if per_image else None
    dice = (2 * np.sum(y * p, axis=axes) + 1.0) / (np.sum(y, axis=axes) + np.sum(p, axis=axes) + 1.0)
    return float(bce + 1 - np.mean(dice))
