"""Reading the U-Net's ``.keras`` files: which code loading one may run (none), and its metadata.

A saved :class:`~featbus.segmentation.unet.UNetSegmenter` is a Keras ``.keras`` zip with one
extra JSON entry (:data:`META_NAME`) holding the estimator's parameters and fitted attributes.
Keras loads the network with ``safe_mode=True``: no Python code stored in a file is run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .network import keras_module

__all__ = ["META_NAME", "load_network", "json_value"]

#: The extra entry featbus adds to the ``.keras`` zip file: the segmenter's parameters and fitted
#: attributes, as JSON.
META_NAME = "featbus_unet.json"


def load_network(path: Path, encoder: str | None):
    """The Keras network of a U-Net ``.keras`` file, loaded in safe mode (no code stored in the
    file runs); ``encoder``, the backbone it records, says which of featbus's modules to import
    first."""
    keras = keras_module()
    if isinstance(encoder, str) and encoder.startswith("efficientnet_lite"):
        try:  # registers any custom layers of the backbone
            from ..networks import efficientnet_lite  # noqa: F401
        except ImportError:
            pass
    # safe_mode=True (Keras' default, written out): a file's Lambda layers are not deserialised,
    # so loading a .keras file runs no Python code stored in it
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def json_value(v: Any):
    """``v`` (a parameter or fitted attribute) as JSON can hold it: NumPy values as lists and
    numbers, containers converted item by item, a random state as ``None``."""
    if isinstance(v, dict):
        return {k: json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, (np.generic, np.ndarray)):
        return v.tolist()
    if isinstance(v, np.random.RandomState):
        return None
    return v
