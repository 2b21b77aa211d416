"""A user's network as backbone: one builder function ``f(input_shape) -> keras.Model`` serves
DeepFeatures, FineTunedCNN and the U-Net through the one backbone table (featbus.networks), and a
model file holding it loads only when the function is trusted by name (the file records the
function by name and never holds its code; its weights are arrays, the U-Net's network a Keras
file loaded in safe mode)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

pytest.importorskip("keras")

from featbus import DeepFeatures, FineTunedCNN, UNetSegmenter, make_phantoms  # noqa: E402
from featbus.networks import backbone_name, resolve_backbone  # noqa: E402

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

#: Agreement of a reloaded model's probabilities with the saved one when both run Keras on the
#: same float32 weights (the same kernels in one process: equal up to reduction order).
SAME_NETWORK_ATOL = 1e-6


def small_net(input_shape):
    """A user's network: five stride-2 convolutions, its own preprocessing inside."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 255.0, name="mine_scale")(inputs)
    for k in range(5):
        x = keras.layers.Conv2D(8 * (k + 1), 3, strides=2, padding="same", activation="relu", name=f"mine_s{k}")(x)
    return keras.Model(inputs, x, name="mine")


NAME = backbone_name(small_net)  # how a file names it, and what trusted= takes


@pytest.fixture(autouse=True)
def own_trust_list(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))


@pytest.fixture(scope="module")
def data():
    return make_phantoms(24, image_size=48, random_state=0)


def test_one_builder_serves_the_three_networks(data):
    deep = DeepFeatures(backbone=small_net, weights=None, input_size=32, pooling=("avg", "max"))
    rows = deep.fit_transform(data.data[:4])
    assert rows.shape == (4, 80) and deep.layers_ == ("output",)
    assert deep.get_feature_names_out()[0] == f"{NAME}.output.avg.0"
    # layers by name, as for a table backbone
    two = DeepFeatures(backbone=small_net, weights=None, input_size=32, layers=["mine_s3", "mine_s4"])
    assert two.fit_transform(data.data[:2]).shape == (2, 32 + 40)

    ft = FineTunedCNN(backbone=small_net, weights=None, input_size=32, layer=("mine_s3", "mine_s4"), epochs=1,
                      warmup_epochs=0, batch_size=8, progress=False, random_state=0).fit(data.data, data.target)
    assert ft.n_features_out_ == 72 and ft.predict_proba(data.data[:3]).shape == (3, 3)

    seg = UNetSegmenter(backbone=small_net, input_size=32, weights=None, epochs=1, batch_size=4,
                        random_state=0, progress=False).fit(data.data[:8])
    assert [int(t.shape[1]) for t in seg.model_.get_layer("encoder").outputs] == [16, 8, 4, 2, 1]
    assert seg.predict_masks(data.images[:1])[0].shape == data.images[0].shape


def _reload_checks(model, path, images):
    """Refused without trust (naming the function), loaded when the function is named."""
    from featbus.model import UntrustedModelError, load_model

    os.remove(os.environ["FEATBUS_TRUSTED_MODELS"])  # save trusted the file it made: forget that
    with pytest.raises(UntrustedModelError, match=rf"{NAME}.*trusted=\[those names\]"):
        load_model(path)
    loaded = load_model(path, trusted=[NAME], runtime="keras")
    for est in (model.roi, *(e for _, e in model.features.transformer_list)):  # the saved one in Keras too
        if est is not None and "runtime" in est.get_params(deep=False):
            est.set_params(runtime="keras")
    np.testing.assert_allclose(loaded.predict_proba(images), model.predict_proba(images), atol=SAME_NETWORK_ATOL)
    return loaded


def test_features_and_a_unet_of_a_builder_survive_a_model_file(data, tmp_path):
    from featbus.workflows.training import train_model

    seg = UNetSegmenter(backbone=small_net, input_size=32, weights=None, epochs=1, batch_size=4,
                        random_state=0, progress=False)
    deep = DeepFeatures(backbone=small_net, weights=None, input_size=32)
    model = train_model(data, [("mine", deep)], classifier="logreg", segmenter=seg, cross_validate=False,
                        progress=False)
    path = model.save(tmp_path / "mine.featbus", runtime=False)
    loaded = _reload_checks(model, path, data.images[:6])
    (_, est), = loaded.features.transformer_list
    assert est.backbone is small_net and loaded.roi.segmenter_.backbone is small_net
    np.testing.assert_allclose(loaded.roi.segmenter_.predict_proba_maps(data.images[:2])[1],
                               model.roi.segmenter_.predict_proba_maps(data.images[:2])[1], atol=1e-6)


def test_a_fine_tuned_builder_survives_a_model_file(data, tmp_path):
    from featbus.workflows.training import train_model

    net = FineTunedCNN(backbone=small_net, weights=None, input_size=32, epochs=1, warmup_epochs=1, batch_size=8,
                       progress=False, random_state=0)
    model = train_model(data, network=net, n_bootstrap=0, progress=False)
    assert model.manifest["recipe"]["features"] == f"fine-tuned {NAME}"
    path = model.save(tmp_path / "mine.featbus", runtime=False)
    loaded = _reload_checks(model, path, data.images[:6])
    assert loaded.networks[0].backbone is small_net
    pytest.importorskip("tensorflow")
    import json

    from featbus.deploy.export import export_tflite

    out = export_tflite(model, tmp_path / "mine.tflite")  # its sidecar names the function, not its repr
    assert json.loads(open(str(out) + ".json").read())["backbone"] == NAME


def test_a_keras_model_is_refused_with_what_to_pass(data):
    import keras

    with pytest.raises(TypeError, match="pass a function that builds it"):
        resolve_backbone(small_net((32, 32, 3)))
    with pytest.raises(TypeError, match="pass a function that builds it"):
        DeepFeatures(backbone=small_net((32, 32, 3)), input_size=32).fit(data.data[:1])
    built = small_net((32, 32, 3))
    with pytest.raises(ValueError, match="build a new one on every call"):
        for _ in range(2):
            FineTunedCNN(backbone=lambda shape: built, input_size=32, epochs=0, warmup_epochs=0,
                         progress=False).fit(data.data[:4], data.target[:4])
    assert isinstance(built, keras.Model)


def test_a_weights_file_goes_into_the_builders_network(data, tmp_path):
    seeded = DeepFeatures(backbone=small_net, weights=None, input_size=32)
    expected = seeded.fit_transform(data.data[:3])
    path = tmp_path / "mine.weights.h5"
    seeded.network().model.save_weights(path)
    loaded = DeepFeatures(backbone=small_net, weights=str(path), input_size=32)
    np.testing.assert_allclose(loaded.fit_transform(data.data[:3]), expected, rtol=1e-6, atol=1e-7)
    # as built (weights="imagenet": the function's own, Keras' random draw here) is another network
    assert not np.allclose(DeepFeatures(backbone=small_net, input_size=32).fit_transform(data.data[:3]), expected)


def test_the_scratch_cnn_is_a_backbone_with_random_weights_only(data):
    """featbus's small CNN trained from scratch (the U-Net's own encoder) serves every network by
    name; asking it for ImageNet weights says what to pass instead."""
    assert resolve_backbone("scratch") is resolve_backbone("MobileNet_V2_Small")
    ft = FineTunedCNN(backbone="scratch", weights=None, input_size=32, epochs=1, warmup_epochs=0, batch_size=8,
                      progress=False, random_state=0).fit(data.data, data.target)
    assert ft.layer_ == "output" and ft.n_features_out_ == 96
    assert ft.get_feature_names_out()[0] == "mobilenet_v2_small.finetuned.output.avg.0"
    deep = DeepFeatures(backbone="mobilenet_v2_small", weights=None, input_size=32)
    assert deep.fit_transform(data.data[:2]).shape == (2, 96)
    with pytest.raises(ValueError, match="trained from scratch: it has no ImageNet weights. Pass weights=None"):
        FineTunedCNN(backbone="scratch", input_size=32, epochs=0, warmup_epochs=0,
                     progress=False).fit(data.data[:4], data.target[:4])
