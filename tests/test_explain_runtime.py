"""Explanations in the light install (``featbus[runtime]``: LiteRT, no TensorFlow or Keras): a saved CNN
model predicts through its stored forwards, and ``featbus predict --explain`` explains it by occlusion,
which needs only those predictions; Grad-CAM, which differentiates the Keras network, is refused in one
line. Simulated by a subprocess in which importing TensorFlow or Keras fails."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featbus.datasets import make_phantoms
from featbus.model import load_model
from featbus.model.runtime import RUNTIME_PROBA_ATOL
from featbus.workflows.training import train_model

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
from featbus import DeepFeatures  # noqa: E402
from featbus.deploy.explain import occlusion_map  # noqa: E402
from featbus.networks.backend import backend_name  # noqa: E402

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

if backend_name() != "tensorflow":  # the model file's flatbuffers are traced from TensorFlow graphs
    pytest.skip("the runtime's flatbuffers are made on Keras's TensorFlow backend", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]

#: Run in the subprocess first: importing a deep-learning framework fails, as where only
#: featbus[runtime] is installed.
BLOCK = """
import sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "torch", "jax"):
            raise ImportError(name + " is not installed (blocked in this test)")

sys.meta_path.insert(0, Blocked())
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runtime_explain")
    data = make_phantoms(24, image_size=48, random_state=0)
    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32, pooling=("avg", "max"))
    model = train_model(data, [("lite0", deep)], classifier="logreg", n_bootstrap=0, cross_validate=False,
                        progress=False)
    path = model.save(tmp / "cnn.featbus")
    image = tmp / "new.png"
    Image.fromarray(make_phantoms(1, image_size=48, random_state=5).images[0]).save(image)
    return path, image


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path,
                          env={"PYTHONPATH": str(REPO), "FEATBUS_TRUSTED_MODELS": str(tmp_path / "t.txt"),
                               "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"})


def test_predict_explains_a_cnn_model_by_occlusion_without_keras(saved, tmp_path):
    path, image = saved
    out = tmp_path / "ex"
    proc = _run(f"""
        from featbus.cli import main
        status = main(["predict", {str(path)!r}, {str(image)!r}, "--explain", {str(out)!r}, "-q"])
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        sys.exit(status)
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "new.occlusion.png").is_file() and (out / "report.html").is_file()
    # the same map as with Keras: each probability within RUNTIME_PROBA_ATOL, so each drop (a
    # difference of two of them, averaged over the patches covering a pixel) within twice that
    proc = _run(f"""
        import json
        from featbus.model import load_model
        from featbus.deploy.explain import occlusion_map
        m = load_model({str(path)!r})
        print(json.dumps(occlusion_map(m, {str(image)!r}).tolist()))
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lite = np.array(json.loads(proc.stdout.strip().splitlines()[-1]))
    keras = occlusion_map(load_model(path, runtime="keras"), str(image))
    assert lite.shape == keras.shape and np.abs(keras).max() > 0
    np.testing.assert_allclose(lite, keras, atol=2 * RUNTIME_PROBA_ATOL)


def test_grad_cam_without_keras_is_one_line_saying_what_to_do(saved, tmp_path):
    path, image = saved
    proc = _run(f"""
        from featbus.cli import main
        sys.exit(main(["predict", {str(path)!r}, {str(image)!r}, "--explain", "ex", "--explain-method", "gradcam"]))
    """, tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert 'pip install "featbus[deep]"' in lines[0] and "--explain-method occlusion" in lines[0]
    assert not (tmp_path / "ex").exists() or not any((tmp_path / "ex").iterdir())
    # the library says the same when asked for Grad-CAM there
    proc = _run(f"""
        from featbus.model import load_model
        from featbus.deploy.explain import explain
        m = load_model({str(path)!r})
        assert explain(m, {str(image)!r})["method"] == "occlusion"  # auto: what this install can do
        try:
            explain(m, {str(image)!r}, method="gradcam")
        except ValueError as exc:
            print(exc)
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Grad-CAM needs Keras" in proc.stdout and "occlusion" in proc.stdout
