"""Does ``--n-jobs 2`` pay? ``featbus extract`` with one and with two jobs, side by side.

Each run is a fresh process, as a user types it: ``featbus extract DATA --cache none -q
--n-jobs N -o table.csv`` (the default families unless ``--features``; ``--cache none``: every
row is computed; nothing is reused from an earlier run). The runs alternate (1, 2, 1, 2, ...)
so that both see the same load on a shared machine. Printed, median of ``--repeats``: wall
seconds, CPU seconds of the whole process tree (workers included), peak memory (the largest
sum of the resident sizes of the process and its workers, polled every 20 ms), and the speed-up
(one job's wall time / N jobs'). The tables of all runs must agree.

Run from the repository root (about 4 minutes with the defaults on 2 cores)::

    python benchmarks/parallel_extraction.py
    python benchmarks/parallel_extraction.py --repeats 3 --features hog,lbp,glcm,intensity,shape
    python benchmarks/parallel_extraction.py --limit 50

``--limit K`` takes the first K images of every class. A union of families (what ``featbus
extract`` runs) computes each image's families in a pool of threads
(:func:`featbus.compute.extraction.pooled_rows`).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pyradiomics_batch import tree_rss  # the same process-tree memory sampling

from featbus import get_data_home

BUSI = get_data_home() / "busi" / "Dataset_BUSI_with_GT"


def _subset(root: Path, limit: int, into: Path) -> Path:
    """A BUSI-layout folder with the first ``limit`` images of each class (symlinks)."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.suffix == ".png" and "_mask" not in p.name)[:limit]
        (into / folder.name).mkdir(parents=True)
        for img in images:
            for f in [img, *folder.glob(f"{img.stem}_mask*.png")]:
                (into / folder.name / f.name).symlink_to(f)
    return into


def run_polled(cmd: list[str], env: dict | None, cwd: Path | None, poll) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the process and the workers it waited for) of one command, ``poll(proc)``
    (a :class:`psutil.Popen`) called every 20 ms while it runs; a failed command raises."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, env=env, cwd=cwd)
    while proc.poll() is None:
        poll(proc)
        time.sleep(0.02)
    proc.wait()
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure_tree(cmd: list[str], env: dict | None = None, cwd: Path | None = None, *,
                 pss: bool = False) -> tuple[float, float, float, float]:
    """Wall seconds, CPU seconds (:func:`run_polled`), peak resident MiB (the largest sum over the process and
    its children; ``pss``: of their proportional set sizes, so that the pages forked workers share with their
    parent count once) and the largest one process's resident MiB, of one command."""
    peak, largest = [0], [0]

    def poll(proc) -> None:
        peak[0] = max(peak[0], tree_rss(proc.pid, pss=pss, largest=largest))

    wall, cpu = run_polled(cmd, env, cwd, poll)
    return wall, cpu, peak[0] / 2**20, max(largest) / 2**20


def _run(data: Path, features: str | None, n_jobs: int, out: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (process and workers) and peak resident MiB (their sum) of one
    ``featbus extract`` process."""
    cmd = [sys.executable, "-m", "featbus", "extract", str(data), *(["-f", features] if features else []),
           "--cache", "none", "-q", "--n-jobs", str(n_jobs), "--overwrite", "-o", str(out)]
    return measure_tree(cmd, {**os.environ, "FEATBUS_CACHE": ""})[:3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=BUSI)
    parser.add_argument("--features", default=None, help="-f of featbus extract (default: its default)")
    parser.add_argument("--jobs", default="1,2", help="comma-separated --n-jobs values (the first is the reference)")
    parser.add_argument("--limit", type=int, default=None, help="first K images of each class")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no data at {args.data}")
    work = Path(tempfile.mkdtemp(prefix="featbus_parallel_"))
    try:
        data = _subset(args.data, args.limit, work / "data") if args.limit else args.data
        jobs = [int(j) for j in args.jobs.split(",")]
        times, cpus, peaks, tables = {n: [] for n in jobs}, {n: [] for n in jobs}, {n: [] for n in jobs}, {}
        for r in range(args.repeats):
            for n in jobs:  # alternating: both see the same load
                out = work / f"table_{n}_{r}.csv"
                wall, cpu, peak = _run(data, args.features, n, out)
                times[n].append(wall)
                cpus[n].append(cpu)
                peaks[n].append(peak)
                tables[n] = pd.read_csv(out)
        med = {n: statistics.median(times[n]) for n in jobs}
        n_images = len(tables[jobs[0]])
        print(f"featbus extract, {n_images} images, features {args.features or 'default'}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} (median of {args.repeats}):")
        print(f"{'--n-jobs':>9} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'speed-up':>9}")
        for n in jobs:
            print(f"{n:>9} {med[n]:>8.1f} {statistics.median(cpus[n]):>8.1f} {statistics.median(peaks[n]):>9.0f} "
                  f"{med[jobs[0]] / med[n]:>8.2f}x")
        print("every run (wall s):", {n: [round(t, 1) for t in times[n]] for n in jobs})
        ref = tables[jobs[0]].select_dtypes("number").to_numpy()
        worst = max(float(np.abs(t.select_dtypes("number").to_numpy() - ref).max()) for t in tables.values())
        print(f"largest difference between the tables: {worst:.1e}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
