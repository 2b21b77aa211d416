"""Frozen networks through LiteRT (:func:`featbus.model.runtime.frozen_forward`): agreement with the
Keras forward on every shipped network and a user's, the conversion cache (key, atomic writes,
what it trusts), the runtime said once, the Keras fallback without LiteRT or TensorFlow, the
thread count, and the speed-up the fallback line quotes against the benchmark's results file.

Tolerance: the runtime runs the same float32 graph with XNNPACK's kernels instead of
TensorFlow's; rows agree within :data:`featbus.model.runtime.RUNTIME_RTOL` of each row's largest
value (measured about 4e-6 on Lite0; ``benchmarks/results/deep_throughput.json``'s
``max_rel_diff_vs_keras``), a segmenter's probability maps and a model's class probabilities
within :data:`~featbus.model.runtime.RUNTIME_PROBA_ATOL` (absolute, values in [0, 1]).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from featbus import DeepFeatures
from featbus.model import runtime as rt
from featbus.model.runtime import (
    LITERT_SPEEDUP,
    RUNTIME_PROBA_ATOL,
    RUNTIME_RTOL,
    LiteForward,
    cached_flatbuffer,
    runtime_available,
)

REPO = Path(__file__).resolve().parents[1]
needs_litert = pytest.mark.skipif(not runtime_available(), reason="ai-edge-litert is not installed")


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference of two row sets over each row's largest magnitude."""
    return float((np.abs(a - b).max(axis=1) / (np.abs(b).max(axis=1) + 1e-12)).max())


def _images(n: int = 5, shape=(90, 120)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return [(127 + 100 * np.sin((xx + 7 * i) / (5 + i)) * np.cos(yy / 9) + rng.normal(0, 12, shape))
            .clip(0, 255).astype(np.uint8) for i in range(n)]


@pytest.fixture
def said(monkeypatch):
    """A fresh record of what was said and of the forwards made (the module's are per process)."""
    fresh: set[str] = set()
    monkeypatch.setattr(rt, "_SAID", fresh)
    monkeypatch.setattr(rt, "_FORWARDS", {})
    return fresh


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """featbus's cache folder in a temporary home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "featbus" / "runtime"


# ----------------------------------------------------------------------------- agreement with Keras
def _user_network(input_shape):
    """A user's own small network (a builder function, as DeepFeatures accepts)."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="c2")(x)
    return keras.Model(inputs, x, name="user_net")


@needs_litert
def test_user_network_agrees_with_keras_and_is_said_once(said, cache_home, capsys):
    images = _images()
    kw = dict(backbone=_user_network, weights=None, input_size=48, pooling=("avg", "max", "gem"), cache=False,
              progress=False)
    lite = DeepFeatures(**kw, runtime="litert").fit(images)
    keras = DeepFeatures(**kw, runtime="keras").fit(images)
    got, want = lite.transform(images), keras.transform(images)
    assert isinstance(lite._forward(), LiteForward) and not isinstance(keras._forward(), LiteForward)
    assert _rel_diff(got, want) <= RUNTIME_RTOL
    lite.transform(images)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("featbus: runtime:")]
    threads = rt.runtime_threads()
    assert lines == [f"featbus: runtime: LiteRT (XNNPACK, {threads} thread{'s' if threads != 1 else ''})",
                     "featbus: runtime: Keras (runtime='keras')"]
    # converted once: the cache holds one flatbuffer and its sidecar
    assert sorted(p.suffix for p in cache_home.iterdir()) == [".json", ".tflite"]


@needs_litert
def test_rows_are_keyed_by_the_runtime(cache_home, said):
    """The extraction key names the runtime's flatbuffer: rows of one runtime never answer the other's."""
    images = _images(2)
    kw = dict(backbone="efficientnet_lite0", weights=None, input_size=32, progress=False)
    lite = DeepFeatures(**kw).fit(images)
    keras = DeepFeatures(**kw, runtime="keras").fit(images)
    assert lite._setting_extra()["weights"].startswith("runtime:")
    assert keras._setting_extra() != lite._setting_extra()


@pytest.mark.slow
@needs_litert
@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "breast-us"])
def test_shipped_backbones_agree_with_keras(backbone, busi_root, said):
    """DeepFeatures()'s default (Lite0 ImageNet, block6d_add) and the breast-us backbone on BUSI images."""
    paths = sorted(str(p) for p in busi_root.glob("*/*.png") if "_mask" not in p.name)[::97][:6]
    got = DeepFeatures(backbone, cache=False, progress=False, runtime="litert").fit_transform(paths)
    want = DeepFeatures(backbone, cache=False, progress=False, runtime="keras").fit_transform(paths)
    assert _rel_diff(got, want) <= RUNTIME_RTOL


@pytest.mark.slow
@needs_litert
def test_shipped_segmenter_agrees_with_keras(busi_root, said):
    """The breast-us segmenter's maps (mirror-averaged), as ROICropper runs them."""
    from featbus import ROICropper

    paths = sorted(str(p) for p in busi_root.glob("*/*.png") if "_mask" not in p.name)[::131][:4]
    crop = ROICropper(segmenter="breast-us").fit(paths[:1])
    seg = crop.segmenter_
    got = seg.predict_proba_maps(paths, runtime="litert")
    want = seg.predict_proba_maps(paths, runtime="keras")
    assert max(float(np.abs(a - b).max()) for a, b in zip(got, want)) <= RUNTIME_PROBA_ATOL
    lite_boxes = [r.meta["roi_box"] for r in crop.transform(paths)]
    keras_boxes = [r.meta["roi_box"] for r in crop.set_params(runtime="keras").transform(paths)]
    assert lite_boxes == keras_boxes


@pytest.mark.slow
@needs_litert
def test_breast_us_model_agrees_with_keras(busi_root, said):
    from featbus.model import load_model

    paths = sorted(str(p) for p in busi_root.glob("*/*.png") if "_mask" not in p.name)[::101][:6]
    auto, keras = load_model("breast-us"), load_model("breast-us", runtime="keras")
    assert auto.roi.runtime == "auto" and keras.roi.runtime == "keras"
    assert np.abs(auto.predict_proba(paths) - keras.predict_proba(paths)).max() <= RUNTIME_PROBA_ATOL


@needs_litert
def test_lite_forward_in_pieces_gives_the_same_rows(cache_home, said):
    deep = DeepFeatures("efficientnet_lite0", weights=None, input_size=32, progress=False).fit(_images(1))
    fwd = deep._forward()
    x = np.stack([deep._prepare(deep._load(im, i), i) for i, im in enumerate(_images(5))])
    flat = rt.forward_flatbuffer(deep)  # converted once (about 10 s): the two forwards differ only in their batch
    whole = LiteForward(flat, deep.n_features_out_)(x)
    assert _rel_diff(LiteForward(flat, deep.n_features_out_, batch=2)(x), whole) <= RUNTIME_RTOL
    assert _rel_diff(fwd(x), whole) <= RUNTIME_RTOL


# ----------------------------------------------------------------------------- the cache
def _key(**changes) -> dict:
    key = {"weights": "a" * 64, "cut": "efficientnet_lite0|torch|block6d_add|avg", "input": [224, 224],
           "litert": "2.3.0", "converter": "2.20.0", "keras": "3.15.0", "scheme": 1, **changes}
    key["digest"] = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return key


def test_cache_converts_once_per_key(tmp_path):
    calls = []

    def convert():
        calls.append(1)
        return b"flatbuffer-%d" % len(calls)

    assert cached_flatbuffer(_key(), convert, tmp_path) == b"flatbuffer-1"
    assert cached_flatbuffer(_key(), convert, tmp_path) == b"flatbuffer-1" and len(calls) == 1
    # every part of the key is part of the file's name: another weights, cut, size or version converts again
    for change in (dict(weights="b" * 64), dict(cut="efficientnet_lite0|torch|block5c_add|avg"),
                   dict(input=[256, 256]), dict(litert="2.4.0"), dict(converter="2.21.0"), dict(keras="3.16.0")):
        assert _key(**change)["digest"] != _key()["digest"]
        cached_flatbuffer(_key(**change), convert, tmp_path)
    assert len(calls) == 7


def test_cache_never_trusts_a_file_it_cannot_vouch_for(tmp_path):
    key = _key()
    cached_flatbuffer(key, lambda: b"good", tmp_path)
    flat, side = tmp_path / f"{key['digest']}.tflite", tmp_path / f"{key['digest']}.json"

    flat.write_bytes(b"swapped")  # content no longer the sidecar's SHA-256
    assert cached_flatbuffer(key, lambda: b"again", tmp_path) == b"again"

    record = json.loads(side.read_text())
    record["key"]["cut"] = "other"  # a sidecar naming another key
    side.write_text(json.dumps(record))
    assert cached_flatbuffer(key, lambda: b"third", tmp_path) == b"third"

    # a link to a file elsewhere, with a matching sidecar, is not read
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.tflite").write_bytes(b"outside")
    flat.unlink()
    flat.symlink_to(elsewhere / "x.tflite")
    side.write_text(json.dumps({"key": key, "sha256": hashlib.sha256(b"outside").hexdigest()}))
    assert cached_flatbuffer(key, lambda: b"fourth", tmp_path) == b"fourth"
    assert not flat.is_symlink()


def test_cache_writes_atomically(tmp_path):
    """A conversion that fails writes nothing; a written entry is whole (no temporary files left)."""
    key = _key()

    def broken():
        raise RuntimeError("converter failed")

    with pytest.raises(RuntimeError):
        cached_flatbuffer(key, broken, tmp_path)
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []
    cached_flatbuffer(key, lambda: b"x" * 1000, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{key['digest']}.tflite", f"{key['digest']}.json"])


def test_cache_is_bounded_least_recently_used_first(monkeypatch, tmp_path):
    """The folder keeps at most FEATBUS_CACHE_MAX_MB: a read renews an entry, the oldest unused
    conversion goes first, the one just written never; a budget that is no size is refused."""
    import os

    # 3,500 bytes: two entries (1,000 bytes and a sidecar of about 400 each), not three
    monkeypatch.setenv("FEATBUS_CACHE_MAX_MB", str(3500 / 2**20))
    keys = [_key(weights=c * 64) for c in "abc"]
    for k, key in enumerate(keys[:2]):
        cached_flatbuffer(key, lambda: b"x" * 1000, tmp_path)
        os.utime(tmp_path / f"{key['digest']}.tflite", (1000 + k, 1000 + k))
    assert cached_flatbuffer(keys[0], lambda: b"converted again", tmp_path) == b"x" * 1000  # a read: now the newest
    cached_flatbuffer(keys[2], lambda: b"y" * 1000, tmp_path)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(f"{k['digest']}.{e}" for k in (keys[0], keys[2]) for e in ("tflite", "json"))
    for bad in ("0", "-3", "lots", "inf", "nan"):
        monkeypatch.setenv("FEATBUS_CACHE_MAX_MB", bad)
        with pytest.raises(ValueError, match="FEATBUS_CACHE_MAX_MB"):
            cached_flatbuffer(_key(weights="d" * 64), lambda: b"z", tmp_path)
        assert len(list(tmp_path.iterdir())) == 4  # nothing written


def test_cache_folder_is_featbus_own(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert rt.runtime_cache_dir() == tmp_path / "featbus" / "runtime"


# ----------------------------------------------------------------------------- fallbacks and words
def test_without_litert_keras_runs_and_says_what_the_extra_gives(monkeypatch, said, capsys):
    monkeypatch.setattr(rt, "runtime_available", lambda: False)
    images = _images(2)
    deep = DeepFeatures("efficientnet_lite0", weights=None, input_size=32, progress=False, cache=False).fit(images)
    deep.transform(images)
    deep.transform(images)
    assert not isinstance(deep._forward(), LiteForward)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("featbus: runtime:")]
    assert len(lines) == 1
    assert "pip install 'featbus[runtime]'" in lines[0]
    lo, hi = min(LITERT_SPEEDUP.values()), max(LITERT_SPEEDUP.values())
    assert f"about {lo:.1f}" in lines[0] and f"{hi:.1f}x faster" in lines[0]
    with pytest.raises(ValueError, match="ai-edge-litert"):
        DeepFeatures("efficientnet_lite0", weights=None, input_size=32, runtime="litert").fit(images).transform(images)


@needs_litert
def test_without_tensorflow_keras_runs_and_says_why(monkeypatch, said, cache_home, capsys):
    """Conversion needs Keras's TensorFlow backend: on another (the [torch] / [jax] installs), Keras."""
    import featbus.networks.backend as backend

    monkeypatch.setattr(backend, "backend_name", lambda: "jax")
    images = _images(2)
    deep = DeepFeatures("efficientnet_lite0", weights=None, input_size=32, progress=False, cache=False).fit(images)
    deep.transform(images)
    assert not isinstance(deep._forward(), LiteForward)
    err = capsys.readouterr().err
    assert "featbus: runtime: Keras (converting a network to LiteRT needs Keras's TensorFlow backend" in err
    assert not cache_home.exists() or list(cache_home.iterdir()) == []


def test_runtime_is_checked():
    with pytest.raises(ValueError, match="runtime"):
        DeepFeatures(runtime="onnx").fit(_images(1))


def test_threads_follow_the_cgroup_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert rt._cgroup_cpu_quota(str(tmp_path)) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert rt._cgroup_cpu_quota(str(tmp_path)) is None
    assert 1 <= rt.runtime_threads() <= (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                         else os.cpu_count())


def test_speedup_quoted_is_the_benchmarks():
    """What the fallback line says LiteRT gives is benchmarks/deep_throughput.py's measurement."""
    results = json.loads((REPO / "benchmarks" / "results" / "deep_throughput.json").read_text())
    measured = {name: round(row["cpu_litert_over_keras"], 1) for name, row in results["networks"].items()}
    assert LITERT_SPEEDUP == measured
    assert rt.RUNTIME_BATCH == results["runtime_batch"]
