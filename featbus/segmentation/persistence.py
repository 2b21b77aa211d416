"""Reading the U-Net's ``.keras`` files: which code loading one may run (none), and its metadata.

A saved :class:`~featbus.segmentation.unet.UNetSegmenter` is a Keras ``.keras`` zip with one
extra JSON entry (:data:`_META_NAME`) holding the estimator's parameters and fitted attributes.
Keras loads the network with ``safe_mode=True``: no Python code stored in a file is run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .network import _keras

_META_NAME = "featbus_unet.json"  # extra entry featbus adds to the .keras zip file


def _load_model(path: Path, encoder: str | None):
    keras = _keras()
    if isinstance(encoder, str) and encoder.startswith("efficientnet_lite"):
        try:  # registers any custom layers of the backbone
            from ..networks import efficientnet_lite  # noqa: F401
        except ImportError:
            pass
    # safe_mode=True (Keras' default, written out): a file's Lambda layers are not deserialised,
    # so loading a .keras file runs no Python code stored in it
    return keras.saving.load_model(path, compile=False, safe_mode=True)


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
