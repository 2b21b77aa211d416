"""Fine-tuning speed on each Keras backend: ``FineTunedCNN.fit`` against a bare Keras loop.

For each backend (TensorFlow, PyTorch, JAX), in a subprocess of its own (``KERAS_BACKEND`` is
read when Keras is first imported), on the same BUSI images, network, batch size and epochs:

* **bare loop**: the backbone cut at its default layer, global average pooling and a dense
  head, batch-norm layers frozen, compiled by Keras (``model.compile`` + ``model.fit``, AdamW)
  on the images already resized to the network input, without augmentation: what the
  backend's own training loop reaches, the ceiling;
* **featbus**: :class:`featbus.FineTunedCNN` ``.fit`` as the recipes run it (default
  ``"ultrasound"`` augmentation drawn every epoch on background threads, dropout, label
  smoothing, class weights), without the head warm-up (every epoch trains the whole network,
  as the bare loop does) and without a validation split; the images given as decoded arrays at
  their own size (featbus resizes them once per fit).

Images per second over the epochs after the first (the first compiles); the first epoch's
seconds are recorded beside. Both sides compute in the precision ``--mixed-precision`` says
(``auto``: bfloat16 on a GPU, float32 on the CPU, featbus's default; ``on``; ``off``). On a GPU,
``nvidia-smi`` is sampled every 0.5 s during each side's fit (first epoch included):
``gpu_busy_percent_mean`` (the share of samples' time the GPU was busy, in %) is featbus's,
``bare_loop_gpu_busy_percent_mean`` the bare loop's.
``featbus_over_bare`` is featbus's speed over the bare loop's (aim: at least 0.8);
``jax_over_torch_time_per_image`` JAX's time per image over PyTorch's (aim: at most 1.5). The
device is the backend's (:func:`featbus.backend_info`).

Run from the repository root (TensorFlow rows need it installed; ``--python torch=PATH`` runs a
backend with another interpreter, e.g. a virtual environment without TensorFlow)::

    python benchmarks/backend_speed.py                       # 64 BUSI images, 224 px, 2 epochs
    python benchmarks/backend_speed.py --backends torch,jax --python torch=venv/bin/python
    python benchmarks/backend_speed.py --backends torch --mixed-precision off --output fp32.json  # GPU

It writes ``benchmarks/results/backend_speed.json`` (``--output``): a ``backends`` object keyed
by backend name. The rows of one run share a machine; a run on a GPU machine writes its own
file (``--output``) beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "backend_speed.json"
BACKENDS = ("tensorflow", "torch", "jax")


def _images(n: int):
    """``n`` BUSI images (as ``load_busi`` gives them) and labels, drawn with seed 0."""
    import numpy as np

    from featbus import get_data_home, load_busi

    data = load_busi(get_data_home() / "busi")
    idx = np.sort(np.random.default_rng(0).choice(len(data.data), size=min(n, len(data.data)), replace=False))
    return [data.data[i] for i in idx], np.asarray(data.target)[idx]


def _bare_loop(images, y_idx, n_classes: int, args, mixed: bool) -> list[float]:
    """Seconds of each epoch of ``model.fit`` on the same network, on pre-resized images."""
    import keras
    import numpy as np

    from featbus.networks.backend import mixed_precision_scope

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from finetune_speed import bare_model  # the one bare network both speed benchmarks measure against

    with mixed_precision_scope(mixed):
        model = bare_model(args.backbone, args.size, n_classes)
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    model.fit(images, np.eye(n_classes, dtype=np.float32)[y_idx], batch_size=args.batch_size, shuffle=True,
              epochs=args.epochs, verbose=0, callbacks=[Timer()])
    return times


def _featbus_fit(items, y, args, mixed: bool) -> list[float]:
    """Seconds of each epoch of ``FineTunedCNN.fit`` (recipe settings, no warm-up, no validation)."""
    from featbus import FineTunedCNN

    ft = FineTunedCNN(args.backbone, input_size=args.size, epochs=args.epochs, warmup_epochs=0,
                      batch_size=args.batch_size, validation_fraction=0, random_state=0, progress=False, cache=False,
                      mixed_precision=mixed)
    ft.fit(items, y)
    return [e["seconds"] for e in ft.history_["epochs"]]


class _GpuSampler:
    """``nvidia-smi``'s GPU utilisation (%) every 0.5 s while the block runs (``mean``, ``max``;
    ``None`` off a GPU or without nvidia-smi), read from a file, away from the benchmark's output."""

    def __init__(self, on: bool):
        import shutil

        self.on = bool(on) and shutil.which("nvidia-smi") is not None
        self.mean = self.max = None

    def __enter__(self):
        if self.on:
            self._file = tempfile.TemporaryFile("w+")
            self._proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                           "-lms", "500"], stdout=self._file, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc):
        if self.on:
            self._proc.terminate()
            self._proc.wait()
            self._file.seek(0)
            values = [float(v) for v in self._file.read().split() if v.strip().isdigit()]
            self._file.close()
            if values:
                self.mean, self.max = sum(values) / len(values), max(values)
        return False


def worker(args) -> dict:
    """One backend's row (run with KERAS_BACKEND set)."""
    import numpy as np

    from featbus import FineTunedCNN, backend_info
    from featbus.networks.backend import use_mixed_precision

    info = backend_info()
    mixed = use_mixed_precision({"on": True, "off": False}.get(args.mixed_precision, "auto"))
    items, y = _images(args.n_images)
    classes, y_idx = np.unique(y, return_inverse=True)
    prep = FineTunedCNN(args.backbone, input_size=args.size)
    prep._check_params()
    prep.input_size_ = prep._size
    resized = prep._prepare_all(items)  # the bare loop's input: resized once, outside its timing
    gpu = info["device"] != "cpu"
    with _GpuSampler(gpu) as bare_util:
        bare = _bare_loop(resized, y_idx, len(classes), args, mixed)
    with _GpuSampler(gpu) as ours_util:
        ours = _featbus_fit(items, y, args, mixed)
    n = len(items)
    row = {"featbus_images_per_s": n / float(np.mean(ours[1:])), "bare_loop_images_per_s": n / float(np.mean(bare[1:])),
           "featbus_first_epoch_s": ours[0], "bare_loop_first_epoch_s": bare[0],
           "device": info["device"], "mixed_precision": mixed, "keras": info["keras"],
           "gpu_busy_percent_mean": ours_util.mean, "gpu_busy_percent_max": ours_util.max,
           "bare_loop_gpu_busy_percent_mean": bare_util.mean,
           "n_images": n, "epochs": args.epochs, "timed_epochs": args.epochs - 1, "batch_size": args.batch_size,
           "image_size": args.size, "backbone": args.backbone}
    row["featbus_over_bare"] = row["featbus_images_per_s"] / row["bare_loop_images_per_s"]
    row["featbus_seconds_per_image"] = 1.0 / row["featbus_images_per_s"]
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--n-images", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto",
                    help="bfloat16 compute: auto (on a GPU only, featbus's default), on, off")
    ap.add_argument("--python", action="append", default=[], metavar="BACKEND=PATH",
                    help="the interpreter for a backend (default: this one)")
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.epochs < 2:
        ap.error("--epochs must be >= 2 (the first epoch, with compilation, is not timed)")
    if args.worker:
        args.worker_out.write_text(json.dumps(worker(args)))
        return 0

    pythons = dict(p.split("=", 1) for p in args.python)
    rows, failures = {}, {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend not in BACKENDS:
            ap.error(f"--backends: {backend!r} is not one of {', '.join(BACKENDS)}")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "row.json"
            cmd = [pythons.get(backend, sys.executable), str(Path(__file__).resolve()), "--worker", backend,
                   "--worker-out", str(out), "--n-images", str(args.n_images), "--size", str(args.size),
                   "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--backbone", args.backbone,
                   "--mixed-precision", args.mixed_precision]
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
                   "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                failures[backend] = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
                print(f"{backend}: failed: {failures[backend][0]}", file=sys.stderr)
                continue
            rows[backend] = json.loads(out.read_text())
            rows[backend]["python"] = "own interpreter" if backend in pythons else "this interpreter"
            rows[backend]["wall_s"] = time.perf_counter() - t0
        r = rows[backend]
        print(f"{backend:10s} {r['device']:>6s}  featbus {r['featbus_images_per_s']:6.2f} img/s  bare loop "
              f"{r['bare_loop_images_per_s']:6.2f} img/s  ratio {r['featbus_over_bare']:.2f}", flush=True)
    # the settings as a command line; where the file goes and which interpreters ran are no settings
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    for flag in ("--output", "--python"):
        while flag in shown:
            i = shown.index(flag)
            del shown[i:i + 2]
    shown = [a for a in shown if not a.startswith(("--output=", "--python="))]
    gpus = sorted({r["device"] for r in rows.values() if r["device"] != "cpu"})
    result = {"command": " ".join(["python benchmarks/backend_speed.py", *shown]),
              "data": "BUSI", "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
              "backends": rows, "failed": failures,
              "gpu": ", ".join(gpus) if gpus else
              "still to come: these rows were measured on the CPU; a GPU machine's run goes beside them"}
    if "jax" in rows and "torch" in rows:
        result["jax_over_torch_time_per_image"] = (rows["jax"]["featbus_seconds_per_image"]
                                                   / rows["torch"]["featbus_seconds_per_image"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    from featbus.io import write_file  # the one write-then-rename

    write_file(args.output, json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.output}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
