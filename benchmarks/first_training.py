"""The first training of the default recipe in a fresh process: one row per setting (issue 92).

``scripts/gpu_measurements.sh`` runs ``featbus train`` once per setting (XLA flags, precision, an empty
or a warm compilation cache, the backend), each in a fresh process through this module, and collects
the rows into the GPU results file. Two subcommands:

* ``run NAME --rows DIR [--note TEXT] -- FEATBUS_TRAIN_ARGS...``: runs ``featbus train`` in this
  process (``featbus.cli.main``) and writes ``DIR/NAME.json`` when it ends, finished or not: a
  ``SIGTERM`` (``timeout``) stops training as Ctrl-C does and the row says it was cut, with what
  compiled until then. The process's start is ``$FEATBUS_ROW_T0`` (seconds since the epoch, taken
  by the shell before Python started) when set. The setting is the environment's: ``KERAS_BACKEND``,
  ``XLA_FLAGS``, ``JAX_COMPILATION_CACHE_DIR``; ``--mixed-precision`` among the training options.
* ``probe --rows DIR --flag=FLAG...``: a cold trivial ``jax.jit`` timed in a fresh process, and which
  flags the installed jaxlib knows (``DIR/probe.json``); ``known --flag=FLAG --rows DIR`` exits 0 when it
  does (``--flag=``: a flag's value starts with ``--``).
* ``collect DIR --output FILE [--base FILE]``: every row of ``DIR`` (and the cold ``jax.jit`` probe,
  ``DIR/probe.json``; the steps not run, ``DIR/skipped.tsv``) put into a copy of ``--base`` under
  ``first_training``, written whole (a write-then-rename) to ``--output``. The shell calls it after
  each step, so the file holds every row that finished, however the call ends.

Each row: ``process_s`` (the process, start to end of training and saving), ``training_s`` (the
network's training, from the model file's history), ``first_epoch_s``, ``images_per_s`` (the epochs
after the first), ``programs_compiled`` / ``compile_s`` and ``programs_from_cache`` /
``cache_read_s`` (JAX's, :class:`featbus.networks.backend.JaxCompiles`), ``gpu_busy_percent`` (mean
of ``nvidia-smi``'s utilisation sampled every 0.5 s; ``None`` without a GPU), the held-out accuracy of
the recipe's validation split with its bootstrap interval, the device and the setting.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

UNITS = {
    "process_s": "seconds from the process's start (taken by the shell) to the end of featbus train",
    "training_s": "seconds of the network's training (the model file's history), compiling included",
    "first_epoch_s": "seconds of the first epoch (compiling and autotuning included)",
    "images_per_s": "training images per second over the epochs after the first (steady state)",
    "compile_s": "seconds XLA spent compiling the process's programs (JAX only), summed over the programs: "
                 "a step compiled ahead on its own thread while another phase trains counts whole, so the sum "
                 "can exceed training_s",
    "cache_read_s": "seconds reading programs from JAX's persistent cache",
    "gpu_busy_percent": "mean of nvidia-smi's utilization.gpu (% of the time a kernel ran), sampled every 0.5 s "
                        "during featbus train",
    "held_out_accuracy": "accuracy on the recipe's validation split (the images the network did not train on), "
                         "with its bootstrap 95% interval",
    "programs": "each program JAX compiled or read from its cache: [name, seconds, read from the cache]",
    "cold_jit_s": "seconds of the first jax.jit of a trivial function, compiling and running it (empty cache)",
}


def _stop_on_sigterm() -> None:
    """``timeout`` sends SIGTERM: stop training as Ctrl-C does (featbus train then exits 130, writing no
    model), so this row is still written with what compiled until then."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _training(model_path: Path) -> dict:
    """What the model file says of its network's training and its held-out figures."""
    from featbus import load_model

    manifest = load_model(model_path, warm_up=False).manifest
    t = manifest.get("training") or {}
    members = t.get("members") or [{}]
    h = members[0]
    epochs = h.get("epochs") or []
    timed = sum(e["seconds"] for e in epochs[1:])
    n_train = h.get("n_train")
    cv = manifest.get("cv") or {}
    accuracy = cv.get("accuracy") or {}
    return {"backend": t.get("backend"), "device": t.get("device"), "training_s": h.get("seconds"),
            "epochs": len(epochs), "n_train": n_train, "n_validation": h.get("n_validation"),
            "first_epoch_s": epochs[0]["seconds"] if epochs else None,
            "images_per_s": n_train * (len(epochs) - 1) / timed if timed and n_train else None,
            "held_out_accuracy": accuracy.get("value"), "held_out_accuracy_interval": accuracy.get("ci"),
            "held_out_auc": (cv.get("auc") or {}).get("value")}


def run(name: str, rows: Path, note: str, argv: list[str]) -> int:
    """``featbus train argv`` in this process; its row written to ``rows/NAME.json`` however it ends."""
    t0 = float(os.environ.get("FEATBUS_ROW_T0") or time.time())
    _stop_on_sigterm()
    from backend_speed import _GpuSampler

    from featbus.cli import main
    from featbus.io import write_file
    from featbus.networks.backend import JaxCompiles, wanted_backend

    backend = wanted_backend()
    row: dict = {"name": name, "note": note, "featbus_train": " ".join(argv), "backend": backend,
                 "xla_flags": os.environ.get("XLA_FLAGS"), "finished": False, "exit_status": None}
    out = Path(argv[argv.index("-o") + 1]) if "-o" in argv else None
    compiles = JaxCompiles() if backend == "jax" else None
    try:
        with _GpuSampler(True) as busy:
            if compiles is not None:
                with compiles:
                    status = main(argv)
            else:
                status = main(argv)
    except KeyboardInterrupt:  # cut before featbus's own handler ran
        status = 130
    row["process_s"] = time.time() - t0
    row["exit_status"] = status
    row["finished"] = status == 0
    row.update(gpu_busy_percent=busy.mean, gpu_busy_percent_max=busy.max)
    if compiles is not None:
        row.update(programs_compiled=compiles.count(cached=False), compile_s=compiles.seconds(cached=False),
                   programs_from_cache=compiles.count(cached=True), cache_read_s=compiles.seconds(cached=True),
                   train_step_programs=compiles.count("jax_step", cached=False),
                   programs=[[n, round(sec, 3), cached] for n, sec, cached in compiles.programs])
    if status == 0 and out is not None:
        try:
            row.update(_training(out))
        except Exception as exc:  # the row says why it lacks the training's figures
            row["error"] = f"reading {out}: {type(exc).__name__}: {exc}"
    elif status != 0:
        row["error"] = "cut at its time limit (SIGTERM)" if status == 130 else f"featbus train exited {status}"
    rows.mkdir(parents=True, exist_ok=True)
    write_file(rows / f"{name}.json", json.dumps(row, indent=1, sort_keys=True) + "\n")
    print(json.dumps({k: row.get(k) for k in ("name", "finished", "process_s", "training_s", "first_epoch_s",
                                              "images_per_s", "programs_compiled", "compile_s",
                                              "held_out_accuracy")}), flush=True)
    return 0 if status == 0 else 1


COLD_JIT = """
import json, sys, time
t0 = time.perf_counter()
import jax, jax.numpy as jnp
import jaxlib
t1 = time.perf_counter()
device = jax.devices()[0]
t2 = time.perf_counter()
jax.jit(lambda x: x * 2.0 + 1.0)(jnp.ones(8)).block_until_ready()
t3 = time.perf_counter()
jax.jit(lambda x: x * x - 3.0)(jnp.ones(8)).block_until_ready()
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "backend_start_s": t2 - t1, "cold_jit_s": t3 - t2, "second_jit_s": t4 - t3,
                  "device": f"{device.platform}:{device.id} ({device.device_kind})", "jax": jax.__version__,
                  "jaxlib": jaxlib.__version__}))
"""


def probe(rows: Path, flags: list[str], timeout: float) -> dict:
    """A cold trivial ``jax.jit`` timed in a fresh process without a compilation cache (a PTX toolchain
    that does not match the driver costs a minute a program: openxla/xla 44517), and which of ``flags``
    the installed jaxlib knows (XLA aborts a process at an unknown one: each is tried in a child)."""
    import subprocess

    from featbus.io import write_file

    env = {k: v for k, v in os.environ.items() if k not in ("JAX_COMPILATION_CACHE_DIR", "XLA_FLAGS")}
    env["XLA_FLAGS"] = ""
    out: dict = {"flags": {}, "flag_errors": {}}
    try:
        proc = subprocess.run([sys.executable, "-c", COLD_JIT], env=env, capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode == 0:
            out.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        else:
            out["cold_jit_error"] = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    except subprocess.TimeoutExpired:
        out["cold_jit_error"] = f"no answer within {timeout:.0f} s"
    for flag in flags:
        try:
            proc = subprocess.run([sys.executable, "-c", "import jax; jax.devices()"],
                                  env={**env, "XLA_FLAGS": flag}, capture_output=True, text=True, timeout=timeout)
            out["flags"][flag] = proc.returncode == 0
            if proc.returncode != 0:
                out["flag_errors"][flag] = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        except subprocess.TimeoutExpired:
            out["flags"][flag] = False
            out["flag_errors"][flag] = f"no answer within {timeout:.0f} s"
    rows.mkdir(parents=True, exist_ok=True)
    write_file(rows / "probe.json", json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(json.dumps(out), flush=True)
    return out


def best_setting(rows: dict, names: list[str]) -> str | None:
    """Of the rows ``names`` that finished, the one with the fewest training seconds (None: none finished).

    Examples
    --------
    >>> best_setting({"a": {"finished": True, "training_s": 9.0}, "b": {"finished": True, "training_s": 4.0},
    ...               "c": {"finished": False}}, ["a", "b", "c"])
    'b'
    """
    done = [n for n in names if rows.get(n, {}).get("finished") and rows[n].get("training_s") is not None]
    return min(done, key=lambda n: rows[n]["training_s"]) if done else None


def collect(folder: Path, output: Path, base: Path | None, dry: bool, speed: Path | None = None) -> dict:
    """The rows of ``folder`` (and its ``probe.json``, ``plan.json``, ``skipped.tsv``) put into ``base``'s results under
    ``first_training``, written to ``output`` whole."""
    from featbus.io import write_file

    result = json.loads(base.read_text()) if base is not None and base.exists() else {}
    plan = json.loads((folder / "plan.json").read_text()) if (folder / "plan.json").exists() else {}
    skipped = {}
    if (folder / "skipped.tsv").exists():  # NAME<TAB>WHY, a line per step not run
        for line in (folder / "skipped.tsv").read_text().splitlines():
            name, _, why = line.partition("\t")
            skipped[name] = why
    rows = {}
    for path in sorted(folder.glob("*.json")):
        if path.name not in ("probe.json", "plan.json"):
            rows[path.stem] = json.loads(path.read_text())
    order = plan.get("order", [])
    section = {
        "command": "bash scripts/gpu_measurements.sh" + (" --dry-run" if dry else ""),
        "probe": json.loads((folder / "probe.json").read_text()) if (folder / "probe.json").exists() else None,
        "rows": [rows[n] for n in order if n in rows] + [rows[n] for n in rows if n not in order],
        "not_run": {n: why for n, why in skipped.items() if n not in rows},
        "units": UNITS,
        "devices": sorted({r["device"] for r in rows.values() if r.get("device")}),
    }
    section["best_fresh"] = best_setting(rows, plan.get("candidates", []))
    if speed is not None and speed.exists():  # backend_speed.py's JAX row: featbus against the bare loop
        found = json.loads(speed.read_text())
        section["featbus_over_bare"] = {"command": found.get("command"), "backends": found.get("backends", {}),
                                        "failed": found.get("failed", {})}
    if dry:
        section["dry_run"] = "scripts/gpu_measurements.sh --dry-run: tiny sizes on this machine, not a measurement"
    result["first_training"] = section
    output.parent.mkdir(parents=True, exist_ok=True)
    write_file(output, json.dumps(result, indent=1, sort_keys=True) + "\n")
    return section


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, train_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run", help="one featbus train, its row written however it ends")
    r.add_argument("name")
    r.add_argument("--rows", type=Path, required=True)
    r.add_argument("--note", default="")
    p = sub.add_parser("probe", help="a cold trivial jax.jit, and which XLA flags the jaxlib knows")
    p.add_argument("--rows", type=Path, required=True)
    p.add_argument("--flag", action="append", default=[])
    p.add_argument("--timeout", type=float, default=60.0)
    k = sub.add_parser("known", help="exit 0 when the probe found --flag=FLAG known to the jaxlib")
    k.add_argument("--flag", required=True)
    k.add_argument("--rows", type=Path, required=True)
    c = sub.add_parser("collect", help="the rows into the results file")
    c.add_argument("folder", type=Path)
    c.add_argument("--output", type=Path, required=True)
    c.add_argument("--base", type=Path, default=None)
    c.add_argument("--dry-run", action="store_true")
    c.add_argument("--speed", type=Path, default=None, help="backend_speed.py's output, when it ran")
    args = ap.parse_args(argv)
    if args.what == "run":
        if not train_args or train_args[0] != "train":
            ap.error("run: give the featbus command after --, starting with 'train'")
        return run(args.name, args.rows, args.note, train_args)
    if args.what == "probe":
        probe(args.rows, args.flag, args.timeout)
        return 0
    if args.what == "known":
        path = args.rows / "probe.json"
        return 0 if path.exists() and json.loads(path.read_text())["flags"].get(args.flag) else 1
    section = collect(args.folder, args.output, args.base, args.dry_run, args.speed)
    print(f"{len(section['rows'])} rows in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
