"""What a first fine-tuning compiles on JAX, and what a second process reuses from the cache.

Issue 85's case: ``FineTunedCNN`` (EfficientNet-Lite0, ImageNet weights, its default recipe
otherwise: a 2-epoch head warm-up, then 2 epochs of the whole network) on 20 images at 64 px,
batch 16 (an odd last batch of 4), no validation split, on the CPU with ``KERAS_BACKEND=jax``.
Each fit runs in a fresh process:

* **empty cache**: a new, empty ``JAX_COMPILATION_CACHE_DIR``; every program compiles;
* **warm cache**: a second process on the same folder: what featbus's persistent-cache settings
  let it read instead of compiling.

For each: the fit's seconds and each epoch's, the programs XLA compiled and their compile seconds, the programs read
from the cache and the seconds reading them (JAX's monitoring events,
:class:`featbus.networks.backend.JaxCompiles`), the most compiled program names. ``--before REF``
runs the same two processes on another checkout's featbus beside this one (``git archive REF``),
side by side in one run: the before and after of a change, under the same load; ``--repeats N``
runs N such pairs for each, taking turns, and records their medians.

Run from the repository root (``nice``: compile seconds grow with the machine's load, which the
file records)::

    nice python benchmarks/jax_compile_cache.py                       # this checkout only
    nice python benchmarks/jax_compile_cache.py --before 9d067b3      # and a commit beside it

It writes ``benchmarks/results/jax_compile_cache.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "jax_compile_cache.json"

WORKER = """
import importlib.util, json, sys, time
# the compile tally from this checkout's featbus (it imports only the standard library and NumPy):
# the same counting whichever featbus is measured
spec = importlib.util.spec_from_file_location("_tally", sys.argv[1])
tally = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tally)
import numpy as np
from featbus.networks.backend import keras_module
keras_module()
from featbus import FineTunedCNN

n, size, epochs = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
images = [rng.integers(0, 256, (size + 16, size + 16)).astype(np.uint8) for _ in range(n)]
y = [0, 1] * (n // 2) + [0] * (n % 2)
ft = FineTunedCNN("efficientnet_lite0", input_size=size, epochs=epochs, validation_fraction=0, progress=False,
                  random_state=0, cache=False)
with tally.JaxCompiles() as compiles:
    t0 = time.perf_counter()
    ft.fit(images, y)
    fit_s = time.perf_counter() - t0
print(json.dumps({"fit_s": fit_s, "programs": compiles.programs, "epochs": len(ft.history_["epochs"]),
                  "epoch_s": [e["seconds"] for e in ft.history_["epochs"]],
                  "batch_size": ft.batch_size, "warmup_epochs": ft.warmup_epochs}))
"""


def _run(root: Path, cache: Path, args) -> dict:
    """One fit in a fresh process, featbus imported from ``root``."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
           "JAX_COMPILATION_CACHE_DIR": str(cache), "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "worker.py"
        script.write_text(WORKER)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), str(REPO / "featbus" / "networks" / "backend.py"),
                               str(args.n_images), str(args.size), str(args.epochs)],
                              env=env, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the fit failed ({root}): {proc.stderr.strip()[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    programs = out.pop("programs")
    compiled = [(name, s) for name, s, cached in programs if not cached]
    read = [(name, s) for name, s, cached in programs if cached]
    return {**out, "process_s": wall, "programs_compiled": len(compiled),
            "compile_s": sum(s for _, s in compiled), "programs_from_cache": len(read),
            "cache_read_s": sum(s for _, s in read),
            "train_step_compiles": sum(1 for name, _ in compiled if "jax_step" in name),
            "most_compiled": Counter(name for name, _ in compiled).most_common(6),
            "cache_files": sum(1 for p in cache.rglob("*") if p.is_file())}


def _pair(root: Path, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "jax-cache"
        empty = _run(root, cache, args)
        warm = _run(root, cache, args)
    return {"empty_cache": empty, "warm_cache": warm, "warm_over_empty_fit_s": warm["fit_s"] / empty["fit_s"]}


def _say(label: str, pair: dict) -> None:
    for kind in ("empty_cache", "warm_cache"):
        r = pair[kind]
        print(f"{label:7s} {kind:11s} fit {r['fit_s']:6.1f} s  compiled {r['programs_compiled']:3d} programs in "
              f"{r['compile_s']:5.1f} s  read {r['programs_from_cache']:3d} from the cache in "
              f"{r['cache_read_s']:4.1f} s  epochs " + " ".join(f"{s:.1f}" for s in r["epoch_s"]) + " s",
              flush=True)
    print(f"{label:7s} warm / empty fit: {pair['warm_over_empty_fit_s']:.2f}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=20)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--before", default=None, metavar="REF", help="also measure featbus as of this git commit")
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    ap.add_argument("--repeats", type=int, default=1,
                    help="pairs of processes per checkout, before and after taking turns (medians recorded)")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    pairs: dict[str, list] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        if args.before:
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "featbus"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        for _ in range(max(1, args.repeats)):  # taking turns: a change in the machine's load hits both
            for label, root in (("before", Path(tmp)), ("after", REPO)):
                if label == "before" and not args.before:
                    continue
                pairs[label].append(_pair(root, args))
                _say(label, pairs[label][-1])
    runs = {}
    for label, found in pairs.items():
        if found:
            runs[label] = {**found[0], "featbus": f"git {args.before}" if label == "before" else "this checkout"}
            if len(found) > 1:
                runs[label]["repeats"] = found
                runs[label]["median"] = {
                    f"{kind}_{key}": statistics.median(p[kind][key] for p in found)
                    for kind in ("empty_cache", "warm_cache") for key in ("fit_s", "compile_s", "process_s")}
    shown = list(argv if argv is not None else sys.argv[1:])
    if "--output" in shown:
        i = shown.index("--output")
        del shown[i:i + 2]
    after = runs["after"]
    result = {
        "command": " ".join(["python benchmarks/jax_compile_cache.py", *shown]),
        "case": {"backbone": "efficientnet_lite0", "weights": "imagenet", "n_images": args.n_images,
                 "image_size_px": args.size, "epochs": args.epochs, "backend": "jax", "device": "cpu",
                 "validation_fraction": 0, "images": "random uint8 (compiling does not depend on pixel values)"},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average_1min_at_start": load,
                    "note": "a shared machine: seconds grow with its load; counts do not"},
        "units": {"fit_s": "seconds of FineTunedCNN.fit", "process_s": "seconds of the whole process (imports too)",
                  "epoch_s": "seconds of each epoch (the warm-up's, then the fine-tuning's): an epoch that "
                             "compiles its phase's step includes that compile (or the wait for its compile ahead)",
                  "compile_s": "seconds XLA spent compiling the fit's programs, summed (a step compiled ahead on "
                               "its own thread while the warm-up trains counts whole)",
                  "cache_read_s": "seconds reading programs from the persistent cache",
                  "warm_over_empty_fit_s": "the warm-cache fit's seconds over the empty-cache fit's"},
        "runs": runs,
        "aims": {"compile_s_empty_cache_at_most": 5.0, "warm_over_empty_fit_s_at_most": 0.6,
                 "train_step_compiles_per_phase_at_most": 1,
                 "met": {"compile_s": after["empty_cache"]["compile_s"] <= 5.0,
                         "warm_over_empty": after["warm_over_empty_fit_s"] <= 0.6,
                         "train_step_per_phase": after["empty_cache"]["train_step_compiles"] <= 2}},
    }
    from featbus.io import write_file

    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_file(args.output, json.dumps(result, indent=1, sort_keys=True) + "\n")  # renamed into place whole
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
