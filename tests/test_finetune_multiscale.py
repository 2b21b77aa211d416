"""FineTunedCNN on MobileNetV3-Small with its defaults, and its multi-scale head: several layers'
maps global-average pooled and joined before the head (an SSDLite-style two-depth classifier),
through fit, predict_proba, transform, clone, pickle, a model file, its runtime, Grad-CAM and the
TFLite export. Synthetic phantoms, seeded random weights (no download), tiny inputs."""

from __future__ import annotations

import os
import pickle

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

pytest.importorskip("keras")

from sklearn.base import clone  # noqa: E402

from featbus import make_phantoms  # noqa: E402
from featbus.features.finetune import FineTunedCNN  # noqa: E402
from featbus.networks import stride_layers  # noqa: E402

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

#: MobileNetV3-Small's stride-16 and stride-32 maps (what stride_layers names; SSDLite's two).
TWO_DEPTHS = ("activation_11", "activation_17")
SMALL = dict(backbone="mobilenet_v3_small", weights=None, input_size=32, epochs=1, warmup_epochs=1, batch_size=4,
             progress=False, random_state=0)


@pytest.fixture(autouse=True)
def own_trust_list(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))


@pytest.fixture(scope="module")
def data():
    return make_phantoms(16, image_size=40, random_state=0)


@pytest.fixture(scope="module")
def two_layer(data):
    return FineTunedCNN(**SMALL, layer=TWO_DEPTHS).fit(data.data, data.target)


def test_mobilenet_v3_small_fine_tunes_with_its_defaults(data):
    ft = FineTunedCNN(backbone="mobilenet_v3_small", weights=None, input_size=32, epochs=1, batch_size=4,
                      progress=False, random_state=0).fit(data.data, data.target)
    assert ft.layer_ == "output" and ft.n_features_out_ == 576  # the table's default: the network's output
    proba = ft.predict_proba(data.data[:4])
    assert proba.shape == (4, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert [r["phase"] for r in ft.history_["epochs"]] == ["warmup", "warmup", "finetune"]


def test_stride_layers_name_the_ssdlite_maps():
    layers = stride_layers("mobilenet_v3_small", input_size=64)
    assert (layers[16], layers[32]) == TWO_DEPTHS
    assert sorted(layers) == [2, 4, 8, 16, 32]


def test_a_two_layer_head_fits_and_joins_both_depths(two_layer, data):
    assert two_layer.layer_ == TWO_DEPTHS
    assert two_layer.n_features_out_ == 288 + 576
    names = two_layer.get_feature_names_out()
    assert names[0] == "mobilenet_v3_small.finetuned.activation_11.avg.0"
    assert names[288] == "mobilenet_v3_small.finetuned.activation_17.avg.0" and len(names) == 864
    emb = two_layer.transform(data.data[:5])
    assert emb.shape == (5, 864) and np.all(np.isfinite(emb))
    proba = two_layer.predict_proba(data.data[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # the head is a NumPy function of the embedding: the same probabilities from the rows
    np.testing.assert_allclose(two_layer.proba_of_embedding(emb), proba, rtol=1e-6, atol=1e-9)
    # each pooled part is that layer's map averaged: the stride-32 part equals a one-layer cut's
    tr = two_layer._trainer()
    x = np.stack([two_layer._prepare(two_layer._load(im, i), i) for i, im in enumerate(data.data[:2])])
    maps = tr.maps(x)
    assert maps.shape[1:] == (2, 2, 288)  # Grad-CAM reads the first layer's maps (stride 16 of 32 px)
    np.testing.assert_allclose(emb[:2, :288], maps.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)


def test_clone_and_pickle_keep_the_layers(two_layer, data):
    fresh = clone(two_layer)
    assert fresh.layer == TWO_DEPTHS and not hasattr(fresh, "weights_")
    again = pickle.loads(pickle.dumps(two_layer))
    # rebuilt from the backbone's code and the stored arrays: the same float32 network
    np.testing.assert_allclose(again.predict_proba(data.data[:4]), two_layer.predict_proba(data.data[:4]),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("layer, message", [
    (("activation_11", "activation_11"), "twice"),
    (("activation_11", "no_such_layer"), "stride_layers"),
    ((), "non-empty"),
])
def test_layer_errors_name_the_problem(layer, message, data):
    with pytest.raises(ValueError, match=message):
        FineTunedCNN(**{**SMALL, "epochs": 0, "warmup_epochs": 0}, layer=layer).fit(data.data[:6], data.target[:6])


def test_a_two_layer_model_file_round_trips(data, tmp_path):
    """Saved with its runtime forward, loaded (runtime and Keras), explained and exported: the
    Keras reload gives the same float32 network (probabilities within 1e-6); the runtime and the
    export within featbus.model.runtime.RUNTIME_PROBA_ATOL, the documented runtime agreement."""
    pytest.importorskip("tensorflow")
    from featbus.deploy.explain import explain
    from featbus.model import load_model
    from featbus.model.runtime import RUNTIME_PROBA_ATOL
    from featbus.workflows.training import train_model

    model = train_model(data, network=FineTunedCNN(**SMALL, layer=list(TWO_DEPTHS)), n_bootstrap=0,
                        progress=False)
    (net,) = model.networks
    assert net.layer_ == TWO_DEPTHS
    path = model.save(tmp_path / "two.featbus")
    images = data.images[:6]
    expected = model.predict_proba(images)
    keras_loaded = load_model(path, runtime="keras")
    np.testing.assert_allclose(keras_loaded.predict_proba(images), expected, atol=1e-6)
    np.testing.assert_allclose(load_model(path).predict_proba(images), expected, atol=RUNTIME_PROBA_ATOL)
    cam = explain(keras_loaded, images[0], method="gradcam")
    assert cam["method"] == "gradcam" and cam["map"].shape == images[0].shape
    assert 0.0 <= cam["map"].min() and cam["map"].max() <= 1.0

    pytest.importorskip("ai_edge_litert")
    from featbus.deploy.export import TFLiteModel, export_tflite, prepare_input

    out = export_tflite(model, tmp_path / "two.tflite")
    phone = TFLiteModel(out)
    got = np.concatenate([phone.predict_proba(prepare_input(model, im)) for im in images[:3]])
    np.testing.assert_allclose(got, expected[:3], atol=RUNTIME_PROBA_ATOL)
