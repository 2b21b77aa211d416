"""What a fine-tuning compiles on JAX, counted from JAX's monitoring events (issue 85): one
training-step program per phase whatever the epochs and an epoch's odd last batch, one
validation forward, no device program for initial weights that pretrained values overwrite nor for
the optimisers' scalars, and a second process that reads every program from the persistent cache
instead of compiling it; the fine-tune phase's step compiled ahead on a thread while the warm-up
trains, the validation forward while the first epoch's images decode, and the embedding at the
training batch size (one forward program for validation and transform alike; issue 92).

Each case runs in a subprocess with ``KERAS_BACKEND=jax`` (Keras picks its backend at import) and
its own compilation cache folder. Counts only: no timing is asserted (speed is measured by
``benchmarks/jax_compile_cache.py``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None,
                                 reason="needs JAX and Keras")]

REPO = Path(__file__).resolve().parents[1]

# 11 images, 3 held out for validation: 8 training images in batches of 3 (3, 3 and an odd 2)
FIT = textwrap.dedent("""
    import json, sys, threading
    import jax.monitoring
    import numpy as np
    from featbus.networks.backend import JaxCompiles, keras_module
    keras_module()  # the cache configured as featbus does, before anything compiles
    from featbus import FineTunedCNN

    threads = []  # (program, the thread that compiled or read it)
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, seconds, **kw: threads.append((kw.get("fun_name"), threading.current_thread().name))
        if event == "/jax/core/compile/backend_compile_duration" else None)

    rng = np.random.default_rng(0)
    images = [rng.random((40, 40)).astype(np.float32) for _ in range(11)]
    y = [0, 1] * 5 + [0]
    ft = FineTunedCNN(sys.argv[1], weights=None if sys.argv[1] == "scratch" else "imagenet", input_size=32,
                      epochs=2, warmup_epochs=1, batch_size=3, validation_fraction=0.25, patience=None,
                      progress=False, random_state=0, cache=False)
    with JaxCompiles() as compiles:
        ft.fit(images, y)
    with JaxCompiles() as after:
        ft.transform(images)  # 11 images: batches of 3, 3, 3 and 2
    print(json.dumps({"programs": compiles.programs, "epochs": len(ft.history_["epochs"]),
                      "n_train": ft.history_["n_train"], "n_validation": ft.history_["n_validation"],
                      "threads": threads, "transform_programs": after.programs}))
""")


def _fit(tmp_path: Path, cache: str, backbone: str = "scratch") -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
           "JAX_COMPILATION_CACHE_DIR": str(tmp_path / cache), "FEATBUS_JAX_CACHE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    for name in ("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"):
        env.pop(name, None)
    script = tmp_path / "fit.py"
    script.write_text(FIT)
    proc = subprocess.run([sys.executable, str(script), backbone], env=env, capture_output=True, text=True,
                          timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["compiled"] = [name for name, _, cached in out["programs"] if not cached]
    out["cached"] = [name for name, _, cached in out["programs"] if cached]
    return out


def test_one_train_step_program_per_phase(tmp_path):
    """A warm-up epoch and two full epochs, each ending in an odd batch of 2 of 3: one training
    step compiled per phase (the last batch topped up with rows that weigh nothing), and the
    validation forward compiled once for its three passes (one batch size)."""
    run = _fit(tmp_path, "cache")
    assert (run["n_train"], run["n_validation"], run["epochs"]) == (8, 3, 3)
    steps = [n for n in run["compiled"] if "jax_step" in n]
    assert len(steps) == 2, run["compiled"]  # warm-up, fine-tune
    forwards = [n for n in run["compiled"] if n == "jit(pure)"]  # compile_forward's program
    assert len(forwards) == 1, run["compiled"]
    # the fine-tune step was compiled ahead, on its own thread, while the warm-up trained, and the validation
    # forward too, while the first epoch's images decoded
    assert [t for n, t in run["threads"] if n == "jit(jax_step)"] == ["MainThread", "featbus-compile-ahead"]
    assert [t for n, t in run["threads"] if n == "jit(pure)"] == ["featbus-compile-ahead"]
    # the embedding runs at the training batch size: transform's batches (the last one short) reuse
    # the validation's forward program
    assert run["transform_programs"] == [], run["transform_programs"]


def test_pretrained_weights_compile_no_initialiser(tmp_path):
    """EfficientNet-Lite0 with its ImageNet weights: no program draws or fills initial weights
    (Keras's `_uniform` and `broadcast_in_dim` compiled 78 of them, one per weight shape)."""
    run = _fit(tmp_path, "cache", backbone="efficientnet_lite0")
    assert not [n for n in run["compiled"] if "uniform" in n or "broadcast_in_dim" in n], run["compiled"]
    # a 2-phase fit (a warm-up epoch, two fine-tune epochs): one training step per phase and one forward,
    # nothing else (the optimisers' counters and rates are host values: no scalar conversion compiles)
    assert sorted(run["compiled"]) == ["jit(jax_step)", "jit(jax_step)", "jit(pure)"], run["compiled"]


def test_a_second_process_reads_every_program_from_the_cache(tmp_path):
    """The step compiled ahead on its thread is kept in the persistent cache too: a second process
    compiles nothing."""
    first = _fit(tmp_path, "shared")
    second = _fit(tmp_path, "shared")
    assert first["compiled"] and not first["cached"]
    assert "featbus-compile-ahead" in [t for _, t in second["threads"]]
    # every program of the first fit, however small, was kept (min compile time 0, entry size -1)
    assert second["compiled"] == [], second["compiled"]
    assert sorted(second["cached"]) == sorted(first["compiled"])


DONATED = textwrap.dedent("""
    import json
    import numpy as np
    from featbus.networks.backend import keras_module, make_train_step
    keras = keras_module()
    dense = keras.layers.Dense(1, kernel_initializer="ones")
    dense.build((None, 4))
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    optimizer.build(dense.trainable_variables)
    held = dense.kernel.value  # a JAX array someone holds before training
    before = np.array(held)

    def loss_fn(x, y):
        return keras.ops.mean((dense(x)[:, 0] - y) ** 2)

    step = make_train_step(loss_fn, dense, [(optimizer, dense.trainable_variables)])
    losses = [float(step(np.float32([0.01]), np.ones((8, 4), np.float32), np.zeros(8, np.float32))) for _ in range(3)]
    dense.kernel.assign(np.full((4, 1), 2.0, np.float32))  # assigned from outside between steps
    reassigned = dense.kernel.value
    losses.append(float(step(np.float32([0.01]), np.ones((8, 4), np.float32), np.zeros(8, np.float32))))
    print(json.dumps({"held_deleted": held.is_deleted(), "held_unchanged": bool(np.array_equal(np.array(held), before)),
                      "reassigned_deleted": reassigned.is_deleted(), "losses": losses,
                      "kernel": np.asarray(dense.kernel.value).ravel().tolist()}))
""")


def test_the_donated_step_consumes_no_array_held_elsewhere(tmp_path):
    """The JAX step donates its state (XLA reuses the buffers), but only arrays it made itself: a
    value read before training, or assigned from outside between steps, stays valid."""
    script = tmp_path / "donated.py"
    script.write_text(DONATED)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "FEATBUS_JAX_CACHE": "0",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not out["held_deleted"] and out["held_unchanged"]
    assert not out["reassigned_deleted"]
    assert out["losses"][2] < out["losses"][0]  # trained: loss 16 at the start, decreasing
    assert out["losses"][3] > out["losses"][2]  # the outside assignment (kernel 2: loss 64) was used
    assert all(k < 2.0 for k in out["kernel"])  # and trained on from there


AHEAD = textwrap.dedent("""
    import json
    import numpy as np
    from featbus.networks.backend import JaxCompiles, keras_module, make_train_step
    keras = keras_module()

    def losses(ahead):
        dense = keras.layers.Dense(1, kernel_initializer="ones")
        dense.build((None, 4))
        optimizer = keras.optimizers.Adam(learning_rate=0.01)
        optimizer.build(dense.trainable_variables)
        step = make_train_step(lambda x, y: keras.ops.mean((dense(x)[:, 0] - y) ** 2), dense,
                               [(optimizer, dense.trainable_variables)])
        x, y = np.linspace(0, 1, 32, dtype=np.float32).reshape(8, 4), np.zeros(8, np.float32)
        with JaxCompiles() as compiles:
            if ahead:
                step.compile_ahead(np.float32([0.01]), (x, y)).result()
            out = [float(step(np.float32([0.01]), x, y)) for _ in range(4)]
        return out, [name for name, _, _ in compiles.programs]

    plain, plain_programs = losses(False)
    ahead, ahead_programs = losses(True)
    print(json.dumps({"plain": plain, "ahead": ahead, "plain_programs": plain_programs,
                      "ahead_programs": ahead_programs}))
""")


def test_a_step_compiled_ahead_trains_as_the_jit_step(tmp_path):
    """``compile_ahead`` compiles the step once on a thread; the steps then run that program (no second
    compile) and give the losses of the step compiled at its first call, exactly."""
    script = tmp_path / "ahead.py"
    script.write_text(AHEAD)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "FEATBUS_JAX_CACHE": "0",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ahead"] == out["plain"]
    assert out["ahead"][3] < out["ahead"][0]
    assert out["plain_programs"].count("jit(jax_step)") == 1
    assert out["ahead_programs"].count("jit(jax_step)") == 1, out["ahead_programs"]
