"""Scaling of featbus.compute.distributed.extract on a local Dask cluster (1 and 2 workers).

Writes several thousand synthetic ultrasound phantoms as PNG files to a temporary folder, then
extracts, from the files:

* handcrafted features (HOG + LBP + GLCM + intensity statistics, a FeatureUnion), and
* deep features (``DeepFeatures(backbone="efficientnet_lite0", weights=None)``: random seeded
  weights, the same compute as ImageNet weights and no download),

each three ways: in one process (``transformer.fit_transform(paths)``, the reference), and with
``extract(paths, transformer, client=...)`` on a loopback LocalCluster of 1 and of 2 worker
processes (one thread each, BLAS/TF threads pinned to 1 so that workers do not compete).
For each run it prints images per second, the speed-up over 1 worker, the CPU time per image
summed over the workers (equal across runs when distribution adds no work; on a loaded machine it
is the steadier number), the peak resident memory per worker (psutil, sampled every 50 ms inside
each worker) and whether the features equal the single-process ones.

Run from the repository root::

    python benchmarks/dask_scaling.py                      # defaults: 2000 + 400 images, a few minutes
    python benchmarks/dask_scaling.py --n-images 500 --n-deep 100   # a quick look
    python benchmarks/dask_scaling.py --no-deep

Timings depend on the machine and its load; the equality check does not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

# pin native thread pools before NumPy/TensorFlow load, here and in the spawned workers
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from PIL import Image  # noqa: E402


def write_phantoms(folder: Path, n: int, size: int, seed: int = 0) -> list[str]:
    """Phantoms as PNG files, made in blocks so memory stays small."""
    try:
        from featbus import make_phantoms
    except ImportError:  # older featbus: plain speckle images
        make_phantoms = None
    paths = []
    block = 250
    for start in range(0, n, block):
        m = min(block, n - start)
        if make_phantoms is not None:
            images = make_phantoms(m, image_size=size, random_state=seed + start).images
        else:
            rng = np.random.default_rng(seed + start)
            images = [rng.rayleigh(60, (size, size)).clip(0, 255).astype(np.uint8) for _ in range(m)]
        for j, im in enumerate(images):
            p = folder / f"phantom-{start + j:05d}.png"
            Image.fromarray(im).save(p)
            paths.append(str(p))
    return paths


def handcrafted():
    from sklearn.pipeline import FeatureUnion

    from featbus import GLCMFeatures, HOGFeatures, LBPFeatures

    parts = [("hog", HOGFeatures()), ("lbp", LBPFeatures()), ("glcm", GLCMFeatures())]
    try:
        from featbus.features.intensity import IntensityStats

        parts.append(("intensity", IntensityStats()))
    except ImportError:
        pass
    return FeatureUnion(parts)


def deep():
    from featbus.features.deep import DeepFeatures

    return DeepFeatures(backbone="efficientnet_lite0", weights=None, batch_size=32)


# ------------------------------------------------------------------ memory sampling
class _Peak:
    """Peak RSS of this process, sampled in a daemon thread."""

    def __init__(self, interval: float = 0.05):
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.cpu0 = sum(self.proc.cpu_times()[:2])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(interval,), daemon=True)
        self._thread.start()

    def _loop(self, interval):
        while not self._stop.wait(interval):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def stop(self) -> tuple[int, float]:
        """(peak RSS in bytes, CPU seconds used since start)."""
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.proc.memory_info().rss), sum(self.proc.cpu_times()[:2]) - self.cpu0


def _start_sampler(dask_worker=None):
    dask_worker._featbus_peak = _Peak()


def _stop_sampler(dask_worker=None):
    return dask_worker._featbus_peak.stop()


def _warm(transformer, path):
    """Load libraries (and a network) in a worker before timing, as a long job amortises it."""
    transformer.transform([path])
    return True


# ------------------------------------------------------------------ runs
def run_single(transformer, paths):
    _warm(transformer.fit(paths[:1]), paths[0])  # same warm-up as the workers get
    peak = _Peak()
    t0 = time.perf_counter()
    X = transformer.fit_transform(paths)
    dt = time.perf_counter() - t0
    return np.asarray(X), dt, [peak.stop()]


def run_dask(transformer, paths, n_workers: int, out: Path, partition_size: int):
    from distributed import wait

    from featbus.compute.distributed import extract, local_client

    with local_client(n_workers=n_workers, threads_per_worker=1, memory_limit=0) as client:
        fitted = transformer.fit(paths)
        # warm every worker (imports, network build) outside the timed region
        workers = list(client.scheduler_info()["workers"])
        wait([client.submit(_warm, fitted, paths[0], workers=[w], pure=False) for w in workers])
        client.run(_start_sampler)
        t0 = time.perf_counter()
        df = extract(paths, fitted, output=out, partition_size=partition_size, client=client)
        dt = time.perf_counter() - t0
        peaks = list(client.run(_stop_sampler).values())
    assert df.attrs["reused"] == [], "output folder was not empty"
    return df.iloc[:, 1:].to_numpy(), dt, peaks


def bench(name: str, make, paths, args, tmp: Path) -> list[dict]:
    print(f"\n== {name}: {len(paths)} images of {args.size}x{args.size} px", flush=True)
    ref, dt, peaks = run_single(make(), paths)
    rows = [dict(mode="single process", workers=0, seconds=dt, peaks=peaks, equal=True, maxdiff=0.0)]
    _print(rows[-1], len(paths), None)
    base = None
    for k in args.workers:
        X, dt, peaks = run_dask(make(), paths, k, tmp / f"{name}-{k}", args.partition_size)
        equal = X.shape == ref.shape and bool(np.array_equal(X, ref))
        maxdiff = float(np.max(np.abs(X - ref))) if X.shape == ref.shape else float("inf")
        rows.append(dict(mode=f"dask, {k} worker(s)", workers=k, seconds=dt, peaks=peaks, equal=equal,
                         maxdiff=maxdiff))
        base = base or dt
        _print(rows[-1], len(paths), base)
    return rows


def _print(row, n, base):
    speed = f"{base / row['seconds']:.2f}x" if base else "  -  "
    mem = ", ".join(f"{p / 2**20:.0f}" for p, _ in row["peaks"])
    cpu = sum(c for _, c in row["peaks"]) / n * 1000
    eq = "equal" if row["equal"] else f"DIFFERENT (max |diff| {row['maxdiff']:.3g})"
    print(f"  {row['mode']:<20} {n / row['seconds']:8.1f} img/s  {row['seconds']:7.1f} s  "
          f"speed-up vs 1 worker {speed}  CPU {cpu:5.1f} ms/img (all workers)  "
          f"peak RSS per worker [MiB] {mem}  vs single process: {eq}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-images", type=int, default=2000, help="images for handcrafted features")
    ap.add_argument("--n-deep", type=int, default=400, help="images for deep features (first N)")
    ap.add_argument("--size", type=int, default=96, help="image side in pixels")
    ap.add_argument("--partition-size", type=int, default=100)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-deep", action="store_true", help="handcrafted features only")
    args = ap.parse_args(argv)

    import dask
    import distributed

    import featbus

    print(f"featbus {featbus.__version__}, dask {dask.__version__}, distributed {distributed.__version__}, "
          f"{os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.2f}")
    tmp = Path(tempfile.mkdtemp(prefix="featbus-dask-bench-"))
    ok = True
    try:
        t0 = time.perf_counter()
        paths = write_phantoms(tmp / "images", args.n_images, args.size) if (tmp / "images").mkdir() is None else []
        print(f"wrote {len(paths)} PNG phantoms in {time.perf_counter() - t0:.1f} s to {tmp / 'images'}")
        rows = bench("handcrafted", handcrafted, paths, args, tmp)
        ok &= all(r["equal"] for r in rows)
        if not args.no_deep:
            try:
                deep()
            except ImportError as exc:
                print(f"\n(deep features skipped: {exc})")
            else:
                rows = bench("deep", deep, paths[: args.n_deep], args, tmp)
                ok &= all(r["equal"] for r in rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nall results equal to the single-process output" if ok else "\nSOME RESULTS DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
