"""The one backbone table (featbus.networks): a backbone added as one row plus its module serves
FineTunedCNN, UNetSegmenter and DeepFeatures by one name; keras.applications names and builder
functions resolve through the same table."""

from __future__ import annotations

import os
import pickle

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

pytest.importorskip("keras")

from featbus import make_phantoms  # noqa: E402
from featbus.networks import (  # noqa: E402
    load_backbone,
    preprocess_affine,
    probe_preprocess,
    register_backbone,
    resolve_backbone,
    skip_layers,
)
from featbus.networks.backbones import BACKBONES, Backbone  # noqa: E402

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)


def toy_backbone(include_top: bool = False, weights=None, input_shape=(None, None, 3)):
    """A tiny Keras backbone (five stride-2 convolutions), built as a table row's builder is."""
    import keras

    if weights not in (None, "imagenet"):
        raise ValueError("the toy backbone has no weights file")
    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 255.0, name="toy_scale")(inputs)
    for k in range(5):
        x = keras.layers.Conv2D(8 * (k + 1), 3, strides=2, padding="same", activation="relu", name=f"toy_s{k}")(x)
    return keras.Model(inputs, x, name="toy")


@pytest.fixture
def toy(monkeypatch):
    """The toy as one table row (removed afterwards)."""
    monkeypatch.delitem(BACKBONES, "toy", raising=False)
    row = register_backbone(Backbone("toy", f"{__name__}:toy_backbone", 32, "none", "toy_s4", None, None, 32))
    yield row
    BACKBONES.pop("toy", None)


@pytest.fixture(scope="module")
def phantoms():
    d = make_phantoms(16, image_size=40, random_state=0)
    return d


def test_a_registered_backbone_serves_both_networks_by_one_name(toy, phantoms, tmp_path):
    from featbus import UNetSegmenter
    from featbus.features.finetune import FineTunedCNN

    keep = np.asarray(phantoms.target) != 2
    X = [x for x, k in zip(phantoms.data, keep) if k]
    y = np.asarray(phantoms.target)[keep]
    ft = FineTunedCNN(backbone="toy", weights=None, epochs=1, warmup_epochs=0, batch_size=4, progress=False,
                      random_state=0).fit(X, y)
    assert ft.input_size_ == (32, 32) and ft.layer_ == "toy_s4" and ft.n_features_out_ == 40
    assert ft.predict_proba(X).shape == (len(X), 2)
    assert ft.get_feature_names_out()[0] == "toy.finetuned.toy_s4.avg.0"

    seg = UNetSegmenter(backbone="toy", input_size=32, weights=None, epochs=1, batch_size=4,
                        random_state=0, progress=False).fit(phantoms.data)
    encoder = seg.model_.get_layer("encoder")
    assert [int(t.shape[1]) for t in encoder.outputs] == [16, 8, 4, 2, 1]  # strides 2..32, found by probe
    assert seg.predict_masks(phantoms.images[:1])[0].shape == phantoms.images[0].shape
    loaded = UNetSegmenter.load(seg.save(tmp_path / "toy.keras"))
    assert loaded.backbone == "toy"
    np.testing.assert_allclose(loaded.predict_proba_maps(phantoms.images[:1])[0],
                               seg.predict_proba_maps(phantoms.images[:1])[0], atol=1e-5)


def test_a_builder_function_is_a_backbone_in_fine_tuning_too(phantoms):
    from featbus.features.finetune import FineTunedCNN

    def own(input_shape):
        return toy_backbone(input_shape=input_shape)

    ft = FineTunedCNN(backbone=own, input_size=32, epochs=1, warmup_epochs=0, batch_size=4, progress=False,
                      random_state=0).fit(phantoms.data[:8], np.asarray(phantoms.target)[:8])
    assert ft.layer_ == "output" and ft.n_features_out_ == 40  # a function's network: its output
    assert ft.transform(phantoms.data[:2]).shape == (2, 40)


def test_one_table_resolves_names_applications_and_functions():
    assert resolve_backbone("ResNet50") is BACKBONES["resnet50"]  # any case
    assert resolve_backbone("efficientnet_lite2").skips[-1] == (32, "block7a_project_bn")
    row = resolve_backbone("mobilenetv2")  # not a table name: keras.applications, preprocessing probed
    assert (row.name, row.preprocess) == ("MobileNetV2", "tf")
    assert resolve_backbone(toy_backbone).name.endswith("toy_backbone")
    with pytest.raises(ValueError, match="neither a featbus backbone"):
        resolve_backbone("ResNet5O")
    with pytest.raises(ValueError, match="registered already"):
        register_backbone(BACKBONES["vgg16"])
    with pytest.raises(ValueError, match="preprocess must be"):
        register_backbone(Backbone("odd", "x:y", 32, "bgr", None, None, None), replace=True)


def test_preprocessing_modes_reproduce_keras_applications():
    """The table's mode, as the affine map the U-Net builds in, equals keras' preprocess_input."""
    import importlib

    import keras

    gray = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 1)).astype(np.float32)
    rgb = np.repeat(gray, 3, axis=-1)
    for table_name, app in (("resnet50", "ResNet50"), ("densenet121", "DenseNet121"),
                            ("mobilenet_v2", "MobileNetV2"), ("efficientnet_b0", "EfficientNetB0")):
        builder = getattr(keras.applications, app)
        expected = np.asarray(importlib.import_module(builder.__module__).preprocess_input(rgb.copy()))
        assert probe_preprocess(builder) == BACKBONES[table_name].preprocess
        scale, offset = preprocess_affine(table_name)
        np.testing.assert_allclose(rgb * scale + offset, expected, rtol=1e-5, atol=1e-3, err_msg=app)


def test_loader_checks_what_a_builder_returns(toy):
    model = load_backbone("toy", None, (32, 32, 3))
    assert skip_layers("toy", model, 32) == {2: "toy_s0", 4: "toy_s1", 8: "toy_s2", 16: "toy_s3", 32: "toy_s4"}
    with pytest.raises(TypeError, match="must return a keras.Model"):
        load_backbone(lambda shape: None, None, (32, 32, 3))
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_backbone("toy", "/nonexistent.weights.h5", (32, 32, 3))
    assert pickle.loads(pickle.dumps(resolve_backbone(toy_backbone))).name.endswith("toy_backbone")
