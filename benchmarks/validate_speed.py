"""How long ``validate`` and ``compare`` take, side by side with the plain way, in one process.

Issue 75 asked for ``featbus validate breast-us`` on about 700 whole frames in at most 150 s on 2
cores, and for ``compare`` to compute what its models share once (at most 1.3 times one validate).
This measures, on the same images, with the models loaded (and their networks traced) once:

* ``validate``: :func:`featbus.validate` as it is now: one pass of the model over the images (the
  segmenter's lesion crops, then the features), the image check (statistics through OpenCV's
  filters, a grey file's colour from its header), the figures;
* ``validate (plain)``: the same with the image check as it was (SciPy's filters, every file decoded
  a second time for its colour): the plain way of the one step that changed;
* ``compare``: :func:`featbus.evaluation.comparison.compare_models` of ``breast-us`` and a copy
  that differs in its thresholds only (an adapted file's shape), which hands one
  :class:`featbus.model.runtime.SharedPasses` to both models: the shared segmenter and the image
  check run once per image;
* ``compare (plain)``: the same without the shared run and with the plain image check: each model
  computes everything again, as compare did before.

Each run starts with an empty feature store (:func:`featbus.compute.extraction.clear_memory`), so a
run never reads rows an earlier run computed. The plain and the new way alternate (``--repeats``),
so a change of the machine's load hits both. Wall seconds and the process's CPU seconds (every
thread) are written: on a machine shared with other work the CPU seconds are the steadier figure,
and the load averages before and after are recorded.

The copy is saved as ``featbus adapt`` saves a file: with its networks' LiteRT forwards
(:mod:`featbus.model.runtime`), so its backbone runs through the runtime and its feature rows
(which differ from Keras's in the last digits) are its own: compare computes the backbone twice
and shares the segmenter and the image check. ``--keras-twin`` saves it without them (every part shared).

Run from the repository root::

    python benchmarks/validate_speed.py                      # BUS-BRA's 809 images (about 15 min on 2 cores)
    python benchmarks/validate_speed.py --n 200              # 200 images spread over the data set
    python benchmarks/validate_speed.py --cli                # and `featbus validate` end to end

Writes ``benchmarks/results/validate_speed.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bus-bra"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "validate_speed.json"


# ----------------------------------------------------------------------------- the plain image check
def plain_image_statistics(image: np.ndarray) -> dict[str, float]:
    """:func:`featbus.model.domain.image_statistics` as it was: SciPy's filters."""
    from scipy import ndimage as ndi

    from featbus.model.domain import DARK_LEVEL, _grey01

    g = _grey01(image)
    tissue = g >= DARK_LEVEL
    if tissue.sum() < 100:
        tissue = np.ones_like(tissue)
    t = g[tissue]
    hist = np.histogram(t, bins=32, range=(0, 1))[0] / t.size
    sd_t = float(t.std())
    mu = ndi.uniform_filter(g, 9)
    sd = np.sqrt(np.maximum(ndi.uniform_filter(g * g, 9) - mu * mu, 0))
    cv = sd / (mu + 0.02)
    inner = ndi.binary_erosion(tissue, iterations=4)
    if inner.sum() < 50:
        inner = tissue
    band = ndi.gaussian_filter(g, 1.0) - ndi.gaussian_filter(g, 4.0)
    return {"dark_share": float(1 - tissue.mean()) if tissue.size else 0.0,
            "tissue_mean": float(t.mean()),
            "tissue_entropy": float(-np.sum(hist[hist > 0] * np.log2(hist[hist > 0]))),
            "tissue_skewness": float(((t - t.mean()) ** 3).mean() / sd_t ** 3) if sd_t > 1e-9 else 0.0,
            "speckle": float(np.median(cv[inner])),
            "smooth_share": float(np.mean(cv[inner] < 0.05)),
            "fine_texture": float(np.median(np.abs(band[tissue])) / (np.median(t) + 0.02))}


@contextlib.contextmanager
def plain_way():
    """The image check as it was (SciPy's filters; every file decoded again for its colour) and no
    shared run: what validate and compare did before."""
    from featbus.model import domain, runtime

    saved = domain.image_statistics, domain._grey_file, runtime.SharedPasses
    domain.image_statistics = plain_image_statistics
    domain._grey_file = lambda path: False  # the colour from a second decoding of every file
    runtime.SharedPasses = _NothingShared  # compare makes its store from here: it keeps nothing
    try:
        yield
    finally:
        domain.image_statistics, domain._grey_file, runtime.SharedPasses = saved


class _NothingShared:
    """A run's store that keeps nothing: every part computes again, as before compare shared its passes."""

    hits = misses = 0

    def fingerprint(self, part, compute):
        return str(compute())

    def get(self, kind, fingerprint, key):
        return None

    def put(self, kind, fingerprint, key, value):
        pass

    def __len__(self):
        return 0


# ----------------------------------------------------------------------------- data and models
def subset(data, n: int | None):
    """``n`` images spread evenly over a data set Bunch (every per-image field taken at them), so that
    every class folder gives some."""
    if n is None or n >= len(data.target):
        return data
    from sklearn.utils import Bunch

    size = len(data.target)
    keep = np.unique(np.linspace(0, size - 1, n).round().astype(int))
    out = Bunch(**{k: v for k, v in data.items()})
    for key, value in data.items():
        if isinstance(value, (list, tuple, np.ndarray)) and len(value) == size and key != "target_names":
            out[key] = np.asarray(value)[keep] if isinstance(value, np.ndarray) else [value[i] for i in keep]
    out["DESCR"] = f"{len(keep)} images spread over {data.get('DESCR', 'the data')}"
    return out


def twin_of(model, folder: Path, runtime: bool | None):
    """A copy of ``model`` whose stored thresholds differ (an adapted file's shape), saved and loaded."""
    from featbus.model.loaded import load_model

    manifest = json.loads(json.dumps(model.manifest))
    point = manifest["operating_point"]
    point["threshold"] = min(0.99, float(point["threshold"]) * 1.5)
    original = model.manifest
    model.manifest = manifest
    try:
        path = model.save(folder / "twin.featbus", overwrite=True, runtime=runtime)
    finally:
        model.manifest = original
    return load_model(path, trusted=True)


# ----------------------------------------------------------------------------- timing
def timed(func):
    from featbus.compute.extraction import clear_memory

    clear_memory()
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return result, {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2)}


def cli_validate(data: Path, n_images: int) -> dict:
    """``featbus validate breast-us DATA --quiet`` in a fresh process: wall and CPU (the child's)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "featbus", "validate", "breast-us", str(data), "--quiet"],
                          capture_output=True, text=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"featbus validate failed:\n{done.stderr[-2000:]}")
    return {"n_images": n_images, "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA), help="labelled images (default BUS-BRA)")
    parser.add_argument("--n", type=int, default=None, help="N images spread over the data set only")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of the plain and the new way (alternating)")
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--keras-twin", action="store_true", help="save the copy without LiteRT forwards")
    parser.add_argument("--cli", action="store_true", help="also time `featbus validate breast-us DATA` end to end")
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    if not Path(args.data).exists():
        print(f"no data at {args.data}: nothing measured", file=sys.stderr)
        return 0
    from featbus.datasets import load_data
    from featbus.evaluation.comparison import compare_models
    from featbus.evaluation.validation import validate
    from featbus.model.loaded import load_model

    load_before = load_average()
    data = subset(load_data(args.data), args.n)
    n = len(data.target)
    model = load_model("breast-us")
    with tempfile.TemporaryDirectory() as tmp:
        twin = twin_of(model, Path(tmp), False if args.keras_twin else None)
        ways = {
            "validate (plain)": lambda: validate(model, data, n_bootstrap=args.n_bootstrap),
            "validate": lambda: validate(model, data, n_bootstrap=args.n_bootstrap),
            "compare (plain)": lambda: compare_models([model, twin], data, n_bootstrap=args.n_bootstrap),
            "compare": lambda: compare_models([model, twin], data, n_bootstrap=args.n_bootstrap),
        }
        runs: dict[str, list] = {k: [] for k in ways}
        results = {}
        for _ in range(args.repeats):
            for name, func in ways.items():
                with plain_way() if name.endswith("(plain)") else contextlib.nullcontext():
                    results[name], timing = timed(func)
                runs[name].append(timing)
                print(f"{name:18s} {n} images: {timing['wall_s']:7.1f} s wall, {timing['cpu_s']:7.1f} s CPU",
                      flush=True)
    same = bool(np.array_equal(results["validate"].proba, results["validate (plain)"].proba)
                and results["validate"].notes == results["validate (plain)"].notes)
    best = {k: min(v, key=lambda t: t["cpu_s"]) for k, v in runs.items()}
    ratios = {"compare / validate (wall)": round(best["compare"]["wall_s"] / best["validate"]["wall_s"], 2),
              "compare / validate (CPU)": round(best["compare"]["cpu_s"] / best["validate"]["cpu_s"], 2),
              "plain compare / plain validate (CPU)": round(best["compare (plain)"]["cpu_s"]
                                                            / best["validate (plain)"]["cpu_s"], 2),
              "validate / plain validate (CPU)": round(best["validate"]["cpu_s"]
                                                       / best["validate (plain)"]["cpu_s"], 2)}
    out = {"what": "validate and compare of breast-us, the plain way and now, one process, models loaded once",
           "data": str(args.data), "n_images": n, "n_bootstrap": args.n_bootstrap, "repeats": args.repeats,
           "twin": "thresholds moved; saved " + ("without" if args.keras_twin else "with") + " LiteRT forwards",
           "cpu_count": os.cpu_count(), "load_average_before": load_before, "runs": runs, "best_by_cpu": best,
           "ratios": ratios, "same_figures_and_notes": same,
           "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if args.cli:
        out["cli_validate"] = cli_validate(Path(args.data), len(load_data(args.data).target))
        print(f"featbus validate breast-us (CLI): {out['cli_validate']}")
    out["load_average_after"] = load_average()
    for k, v in ratios.items():
        print(f"{k}: {v}")
    print(f"the same probabilities and notes both ways: {same}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
