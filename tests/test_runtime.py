"""A model file's inference runtime: networks run by LiteRT, without TensorFlow, agreeing with Keras."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from featbus.datasets import make_phantoms
from featbus.model import load_model, read_manifest
from featbus.model.runtime import RUNTIME_PROBA_ATOL, RUNTIME_RTOL
from featbus.workflows.training import train_model

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
from featbus import DeepFeatures  # noqa: E402
from featbus.networks.backend import backend_name  # noqa: E402

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

if backend_name() != "tensorflow":  # the flatbuffers are traced from TensorFlow graphs
    pytest.skip("the runtime's flatbuffers are made on Keras's TensorFlow backend", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def own_trust_list(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))


@pytest.fixture(scope="module")
def data():
    return make_phantoms(30, image_size=64, random_state=0)


@pytest.fixture(scope="module")
def frozen(data):
    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=48, pooling=("avg", "max"))
    return train_model(data, [("lite0", deep)], classifier="logreg", n_bootstrap=0, progress=False)


@pytest.fixture(scope="module")
def ensemble(phantom_ensemble):
    """Two tiny fine-tuned networks with mirror TTA, averaged: the shared model (conftest.phantom_ensemble)."""
    return phantom_ensemble


def _rows_close(got: np.ndarray, expected: np.ndarray) -> None:
    """Feature rows within RUNTIME_RTOL of each row's largest magnitude."""
    scale = np.abs(expected).max(axis=1, keepdims=True) + 1e-12
    assert np.max(np.abs(got - expected) / scale) < RUNTIME_RTOL


@pytest.mark.parametrize("which", ["frozen", "ensemble"])
def test_the_runtime_agrees_with_keras(which, request, data, tmp_path):
    model = request.getfixturevalue(which)
    path = model.save(tmp_path / "m.featbus")
    forwards = read_manifest(path)["runtime"]["forwards"]
    keys = {"frozen": ["lite0"], "ensemble": ["finetuned.0", "finetuned.1"]}[which]
    assert [f["estimator"] for f in forwards] == keys
    with zipfile.ZipFile(path) as z:
        assert all(z.getinfo(f["member"]).file_size > 0 for f in forwards)
    lite, keras = load_model(path), load_model(path, runtime="keras")
    nets = [e for _, e in lite.features.transformer_list]
    assert all(getattr(m, "_inference", None) is not None for e in nets for m in getattr(e, "members_", [e]))
    assert all(getattr(e, "_inference", None) is None for _, e in keras.features.transformer_list)
    images = data.images[:8]
    _rows_close(lite.transform(images), keras.transform(images))
    np.testing.assert_allclose(lite.predict_proba(images), keras.predict_proba(images), atol=RUNTIME_PROBA_ATOL)
    np.testing.assert_allclose(lite.predict_proba(images), model.predict_proba(images), atol=RUNTIME_PROBA_ATOL)


def test_predicting_imports_neither_tensorflow_nor_keras_nor_reads_a_pickle(frozen, data, tmp_path):
    path = frozen.save(tmp_path / "m.featbus")
    np.save(tmp_path / "images.npy", np.stack(data.images[:5]))
    code = textwrap.dedent(f"""
        import json, sys

        class Blocked:  # importing a deep-learning framework now fails
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "torch", "jax"):
                    raise ImportError(name + " is blocked in this test")

        sys.meta_path.insert(0, Blocked())
        import pickle

        def no_pickle(*args, **kwargs):
            raise AssertionError("a pickle was read")

        pickle.load = pickle.loads = pickle.Unpickler = no_pickle  # loading reads no pickle at all
        import numpy as np
        from featbus.model import load_model
        m = load_model({str(path)!r})
        print(json.dumps(m.predict_proba(list(np.load({str(tmp_path / "images.npy")!r}))).tolist()))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(REPO), "FEATBUS_TRUSTED_MODELS": str(tmp_path / "t.txt"),
                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = np.array(json.loads(proc.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(got, frozen.predict_proba(data.images[:5]), atol=RUNTIME_PROBA_ATOL)
    assert "XNNPACK" not in proc.stderr  # the runtime's start-up line is kept off the terminal


def test_without_litert_or_runtime_members_keras_runs(frozen, data, tmp_path, monkeypatch):
    import featbus.model.runtime

    plain = frozen.save(tmp_path / "plain.featbus", runtime=False)
    assert read_manifest(plain)["runtime"] is None
    with zipfile.ZipFile(plain) as z:
        assert sorted(z.namelist()) == ["manifest.json", "pipeline.skops"]
    (_, est), = load_model(plain).features.transformer_list
    assert getattr(est, "_inference", None) is None
    path = frozen.save(tmp_path / "m.featbus")
    monkeypatch.setattr(featbus.model.runtime, "runtime_available", lambda: False)
    loaded = load_model(path)
    (_, est), = loaded.features.transformer_list
    assert getattr(est, "_inference", None) is None
    np.testing.assert_allclose(loaded.predict_proba(data.images[:3]), frozen.predict_proba(data.images[:3]),
                               atol=1e-6)


def _edit_member(src: Path, dst: Path, member: str, data: bytes | None, manifest=None) -> Path:
    with zipfile.ZipFile(src) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    if data is None:
        del parts[member]
    else:
        parts[member] = data
    if manifest is not None:
        parts["manifest.json"] = json.dumps(manifest(json.loads(parts["manifest.json"]))).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for name, blob in parts.items():
            z.writestr(name, blob)
    return dst


def test_a_damaged_or_crafted_runtime_member_is_refused(frozen, tmp_path, capsys):
    from featbus.cli import main

    path = frozen.save(tmp_path / "m.featbus")
    member = read_manifest(path)["runtime"]["forwards"][0]["member"]
    with zipfile.ZipFile(path) as z:
        flat = bytearray(z.read(member))
    flat[len(flat) // 2] ^= 0xFF
    flipped = _edit_member(path, tmp_path / "flipped.featbus", member, bytes(flat))
    with pytest.raises(ValueError, match="is damaged: its runtime/lite0.tflite does not match"):
        load_model(flipped)
    # a flatbuffer that is not one, with its digest updated: refused when the interpreter reads it
    junk = b"not a flatbuffer" * 64

    def retarget(m):
        m["runtime"]["forwards"][0]["sha256"] = hashlib.sha256(junk).hexdigest()
        return m

    crafted = _edit_member(path, tmp_path / "crafted.featbus", member, junk, manifest=retarget)
    with pytest.raises(ValueError, match="runtime of .* does not load"):
        load_model(crafted)
    missing = _edit_member(path, tmp_path / "missing.featbus", member, None)
    with pytest.raises(ValueError, match="damaged.*no runtime/lite0.tflite"):
        load_model(missing)

    def escape(m):
        m["runtime"]["forwards"][0]["member"] = "../../etc/passwd"
        return m

    escaping = _edit_member(path, tmp_path / "escape.featbus", member, bytes(flat), manifest=escape)
    with pytest.raises(ValueError, match="is damaged: its manifest field 'runtime'"):
        read_manifest(escaping)
    image = tmp_path / "one.png"
    from PIL import Image

    Image.fromarray(np.full((48, 48), 90, np.uint8)).save(image)
    for bad in (flipped, crafted, missing, escaping):
        assert main(["predict", str(bad), str(image)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("damaged" in err[0] or "does not load" in err[0]), err


def test_a_forward_swapped_for_another_network_of_the_same_shape_is_refused(frozen, data, tmp_path, capsys):
    """One answer per file: a runtime member replaced by another network's flatbuffer with the same
    input and output (here the same layers pooled max-then-avg), its digest updated, would answer
    otherwise than ``--runtime keras``; where Keras is installed it is checked once and refused."""
    from featbus.cli import main
    from featbus.model import checked_runtimes_file

    other = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=48, pooling=("max", "avg"))
    twin = train_model(data, [("lite0", other)], classifier="logreg", n_bootstrap=0, progress=False)
    path = frozen.save(tmp_path / "m.featbus")
    donor = twin.save(tmp_path / "donor.featbus")
    member = read_manifest(path)["runtime"]["forwards"][0]["member"]
    with zipfile.ZipFile(donor) as z:
        flat = z.read(member)

    def retarget(m):
        m["runtime"]["forwards"][0]["sha256"] = hashlib.sha256(flat).hexdigest()
        return m

    swapped = _edit_member(path, tmp_path / "swapped.featbus", member, flat, manifest=retarget)
    with pytest.raises(ValueError, match=r"runtime/lite0.tflite is not the network it holds"):
        load_model(swapped)
    image = tmp_path / "one.png"
    from PIL import Image

    Image.fromarray(data.images[0]).save(image)
    assert main(["predict", str(swapped), str(image)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not the network it holds" in err[0], err
    # the genuine file: checked once (saving it remembered it), then loaded without the check
    assert hashlib.sha256(path.read_bytes()).hexdigest() in checked_runtimes_file().read_text()
    checked_runtimes_file().unlink()
    again = load_model(path)
    assert getattr(again.features.transformer_list[0][1], "_inference", None) is not None
    assert hashlib.sha256(path.read_bytes()).hexdigest() in checked_runtimes_file().read_text()
