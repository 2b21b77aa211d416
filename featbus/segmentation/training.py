"""The pieces of the U-Net's training loop: learning-rate schedule, encoder weights, loss in NumPy."""

from __future__ import annotations

import numpy as np


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
