"""The training engine's host work per step on JAX, against Keras's own ``model.fit``.

A network whose arithmetic costs next to nothing (``--layers`` blocks of an 8-unit dense layer and a
frozen batch norm: 362 variables at 60 blocks, as many as a small CNN's) trains on the same batches
of 16 rows with AdamW, once through :func:`featbus.networks.training.train` and once through
``model.compile`` + ``model.fit``, two epochs of ``--steps`` steps each; the second is timed (the
first compiles). What
is left per step is each loop's host work (dispatch, moving the variables' values in and out,
schedules, losses): on a GPU it is what keeps the device waiting between steps. Seconds per step
in CPU time of the process (``time.process_time``: less shaken by other jobs on a shared machine
than wall time, which is recorded beside) and the bare loop's over featbus's (aim: at least 0.8).
``--before REF`` measures featbus as of another commit beside this checkout, in the same run.

Run from the repository root::

    nice python benchmarks/step_overhead.py --before 9d067b3

It writes ``benchmarks/results/step_overhead.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "step_overhead.json"

WORKER = """
import json, sys, time
import numpy as np
from featbus.networks.backend import keras_module
from featbus.networks.training import Phase, train

keras = keras_module()
layers, steps = int(sys.argv[1]), int(sys.argv[2])


def network():
    inp = keras.Input((8,))
    x = inp
    for _ in range(layers):
        x = keras.layers.BatchNormalization(trainable=False)(keras.layers.Dense(8)(x))
    return keras.Model(inp, keras.layers.Dense(2)(x))


rng = np.random.default_rng(0)
x = rng.normal(size=(16 * steps, 8)).astype("float32")
y = np.eye(2, dtype="float32")[rng.integers(0, 2, len(x))]


clock = {}  # the second epoch's start and end, wall and CPU: the first one compiles


def mark(key):
    clock[key] = (time.perf_counter(), time.process_time())


def per_step():
    (w0, c0), (w1, c1) = clock["start"], clock["end"]
    return (w1 - w0) / steps, (c1 - c0) / steps


class Clock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            mark("start")

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            mark("end")


bare = network()
bare.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.01),
             loss=keras.losses.CategoricalCrossentropy(from_logits=True))
bare.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[Clock()])
bare_wall, bare_cpu = per_step()

ours = network()


def loss_fn(xb, yb):
    return keras.ops.mean(keras.losses.categorical_crossentropy(yb, ours(xb, training=True), from_logits=True))


def batches(phase, epoch):
    if epoch == 1:
        mark("start")
    for i in range(0, len(x), 16):
        yield x[i:i + 16], y[i:i + 16]
    if epoch == 1:
        mark("end")  # the last step dispatched; its loss is read after (a sync the bare loop's epoch end has too)


train(ours, loss_fn, [Phase("timed", 2, {"all": 1e-3})], batches, steps, weight_decay=0.01)
ours_wall, ours_cpu = per_step()
print(json.dumps({"variables": len(ours.variables), "bare_loop_cpu_ms": 1e3 * bare_cpu,
                  "featbus_cpu_ms": 1e3 * ours_cpu, "bare_loop_wall_ms": 1e3 * bare_wall,
                  "featbus_wall_ms": 1e3 * ours_wall}))
"""


def _measure(root: Path, args) -> list[dict]:
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(root)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "worker.py"
        script.write_text(WORKER)
        for _ in range(args.repeats):
            proc = subprocess.run([sys.executable, str(script), str(args.layers), str(args.steps)], env=env,
                                  capture_output=True, text=True, cwd=tmp)
            if proc.returncode != 0:
                raise RuntimeError(f"the worker failed ({root}): {proc.stderr.strip()[-2000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["bare_over_featbus_cpu"] = row["bare_loop_cpu_ms"] / row["featbus_cpu_ms"]
            rows.append(row)
    return rows


def _summary(rows: list[dict]) -> dict:
    import statistics

    keys = ("bare_loop_cpu_ms", "featbus_cpu_ms", "bare_loop_wall_ms", "featbus_wall_ms", "bare_over_featbus_cpu")
    return {"median": {k: statistics.median(r[k] for r in rows) for k in keys}, "runs": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=60)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--before", default=None, metavar="REF", help="also measure featbus as of this git commit")
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {"command": " ".join(["python benchmarks/step_overhead.py",
                                   *[a for a in (argv if argv is not None else sys.argv[1:])]]),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_average_1min_at_start": load},
              "units": {"*_cpu_ms": "milliseconds of the process's CPU time per training step",
                        "*_wall_ms": "milliseconds of wall time per training step",
                        "bare_over_featbus_cpu": "the bare loop's CPU time per step over featbus's (1: as cheap)"},
              "settings": {"layers": args.layers, "steps": args.steps, "repeats": args.repeats, "batch": 16,
                           "backend": "jax", "device": "cpu"}}
    if args.before:
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "featbus"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            result["before"] = {"featbus": f"git {args.before}", **_summary(_measure(Path(tmp), args))}
    result["after"] = {"featbus": "this checkout", **_summary(_measure(REPO, args))}
    for label in ("before", "after"):
        if label in result:
            m = result[label]["median"]
            print(f"{label:6s} bare loop {m['bare_loop_cpu_ms']:.2f} ms  featbus {m['featbus_cpu_ms']:.2f} ms of CPU a "
                  f"step  bare / featbus {m['bare_over_featbus_cpu']:.2f}", flush=True)
    from featbus.io import write_file

    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_file(args.output, json.dumps(result, indent=1, sort_keys=True) + "\n")  # renamed into place whole
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
