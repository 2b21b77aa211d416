"""Which Keras backend featbus picks when the user names none (issue 85): JAX where it is installed
with GPU support and sees a GPU, TensorFlow where installed, else PyTorch (the faster on a CPU),
else JAX; the user's ``KERAS_BACKEND`` or ``keras.json`` always wins. The device query and the
installed packages are monkeypatched: nothing is imported or initialised."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import pytest

from featbus.networks import backend


@pytest.fixture
def unchosen(monkeypatch, tmp_path):
    """No user choice: no KERAS_BACKEND (restored afterwards, also when the choice sets it), an
    empty KERAS_HOME, Keras not imported; ``installed`` says which packages exist."""
    monkeypatch.setenv("KERAS_BACKEND", "unset-by-test")
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "keras", None)  # None: as if not imported (the choice reads no Keras)
    installed: set[str] = set()
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name in ("tensorflow", "torch", "jax"):
            return object() if name in installed else None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return installed


def _gpu(monkeypatch, plugin: bool, devices: list):
    monkeypatch.setattr(backend, "_jax_gpu_plugin_installed", lambda: plugin)
    asked = []

    def query():
        asked.append(1)
        return devices

    monkeypatch.setattr(backend, "_jax_gpu_devices", query)
    return asked


@pytest.mark.parametrize("packages, gpu, expected", [
    ({"torch", "jax"}, True, "jax"),                 # JAX with a GPU: the GPU default
    ({"tensorflow", "torch", "jax"}, True, "jax"),   # ... before TensorFlow too
    ({"torch", "jax"}, False, "torch"),              # no GPU: PyTorch stays the CPU choice
    ({"tensorflow", "torch", "jax"}, False, "tensorflow"),
    ({"jax"}, False, "jax"),
    ({"torch"}, False, "torch"),
])
def test_the_default_backend(unchosen, monkeypatch, packages, gpu, expected):
    unchosen.update(packages)
    _gpu(monkeypatch, plugin=gpu, devices=["gpu:0"] if gpu else [])
    assert backend.wanted_backend() == expected
    # a backend featbus chose is handed to Keras before its import (TensorFlow is Keras's own default)
    assert os.environ.get("KERAS_BACKEND") == (None if expected == "tensorflow" else expected)


def test_a_gpu_plugin_without_a_gpu_is_no_gpu(unchosen, monkeypatch):
    unchosen.update({"torch", "jax"})
    asked = _gpu(monkeypatch, plugin=True, devices=[])
    assert backend.wanted_backend() == "torch"
    assert asked == [1]


def test_a_cpu_only_jax_is_not_asked_for_a_gpu(unchosen, monkeypatch):
    """Without a JAX GPU plugin, JAX is not imported to find out (about a second for nothing)."""
    unchosen.update({"torch", "jax"})
    asked = _gpu(monkeypatch, plugin=False, devices=["gpu:0"])
    assert backend.wanted_backend() == "torch"
    assert asked == []


def test_a_broken_gpu_plugin_falls_back_with_a_warning(unchosen, monkeypatch, caplog):
    unchosen.update({"torch", "jax"})
    monkeypatch.setattr(backend, "_jax_gpu_plugin_installed", lambda: True)

    def broken():
        raise OSError("libcuda.so.1: cannot open shared object file")

    monkeypatch.setattr(backend, "_jax_gpu_devices", broken)
    with caplog.at_level("WARNING", logger="featbus"):
        assert backend.wanted_backend() == "torch"
    assert "libcuda.so.1" in caplog.text


@pytest.mark.parametrize("how", ["environment", "keras.json"])
def test_the_users_choice_wins_over_a_gpu(unchosen, monkeypatch, tmp_path, how):
    unchosen.update({"torch", "jax"})
    asked = _gpu(monkeypatch, plugin=True, devices=["gpu:0"])
    if how == "environment":
        monkeypatch.setenv("KERAS_BACKEND", "torch")
    else:
        (tmp_path / "keras.json").write_text(json.dumps({"backend": "torch"}))
    assert backend.wanted_backend() == "torch"
    assert asked == []  # nothing asked of JAX


def test_kerass_own_tensorflow_entry_is_no_choice(unchosen, monkeypatch, tmp_path):
    """Keras writes ``"backend": "tensorflow"`` into a new keras.json by itself: JAX on a GPU goes before it."""
    unchosen.update({"tensorflow", "jax"})
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    _gpu(monkeypatch, plugin=True, devices=["gpu:0"])
    assert backend.wanted_backend() == "jax"


def test_the_plugin_check_imports_no_jax(monkeypatch):
    """The cheap check runs without importing JAX (a bool either way on this machine)."""
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    monkeypatch.setitem(sys.modules, "jax", None)  # an import of jax would raise ImportError
    assert backend._jax_gpu_plugin_installed() in (True, False)
