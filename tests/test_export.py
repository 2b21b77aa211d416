"""TFLite export: one file from the prepared image to probabilities, equal to the Keras pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from featbus.datasets import make_phantoms
from featbus.deploy.export import TFLiteModel, check_exportable, export_tflite, prepare_input
from featbus.workflows.training import train_model

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)


@pytest.fixture(autouse=True)
def own_trust_list(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))


def _deep_model(n_classes: int = 3, pooling=("avg", "max")):
    pytest.importorskip("tensorflow")
    from featbus import DeepFeatures

    weights = None if n_classes == 3 else (0.5, 0.5, 0.0)
    data = make_phantoms(30, image_size=48, weights=weights, random_state=0)
    if n_classes == 2:  # drop the empty class folder
        keep = data.target < 2
        data.target = data.target[keep]
        data.data = [r for r, k in zip(data.data, keep) if k]
        data.target_names = data.target_names[:2]
        data.groups = data.groups[keep]
    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32, pooling=pooling)
    return train_model(data, [("lite0", deep)], classifier="logreg", cross_validate=False, progress=False)


@pytest.fixture(scope="module")
def deep3():
    """The three-class model, trained once for the tests that only export it."""
    return _deep_model(3)


@pytest.mark.parametrize("n_classes", [3, 2])
def test_tflite_matches_the_pipeline(tmp_path, n_classes, request):
    model = request.getfixturevalue("deep3") if n_classes == 3 else _deep_model(n_classes)
    assert check_exportable(model) is None
    path = export_tflite(model, tmp_path / "m.tflite")
    meta = json.loads((tmp_path / "m.tflite.json").read_text())
    assert meta["classes"] == model.classes_.tolist() and meta["input"]["shape"] == [1, 32, 32]
    lite = TFLiteModel(path)
    images = make_phantoms(6, image_size=48, random_state=3).images
    got = np.vstack([lite.predict_proba(prepare_input(model, im)) for im in images])
    want = model.predict_proba(images)
    # float32 through two runtimes (oneDNN vs XNNPACK kernels): agreement to 1e-4 in probability
    np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(FileExistsError):
        export_tflite(model, path)


def test_quantized_is_smaller(tmp_path, deep3):
    model = deep3
    full = export_tflite(model, tmp_path / "f.tflite")
    small = export_tflite(model, tmp_path / "q.tflite", quantize=True)
    assert small.stat().st_size < 0.5 * full.stat().st_size
    image = make_phantoms(1, image_size=48, random_state=1).images[0]
    p = TFLiteModel(small).predict_proba(prepare_input(model, image))
    assert p.shape == (1, 3) and abs(p.sum() - 1) < 1e-4


def test_unsupported_models_say_why(tmp_path):
    data = make_phantoms(24, image_size=48, random_state=0)
    hand = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False)
    with pytest.raises(ValueError, match="only CNN features"):
        export_tflite(hand, tmp_path / "x.tflite")
    pytest.importorskip("tensorflow")
    from featbus import DeepFeatures

    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32)
    svm = train_model(data, [("lite0", deep)], classifier="svm", cross_validate=False, progress=False)
    assert "logistic regression" in check_exportable(svm)
