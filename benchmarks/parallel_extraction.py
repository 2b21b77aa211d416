"""Does ``--n-jobs 2`` pay? ``featbus extract`` with one and with two jobs, side by side.

Each run is a fresh process, as a user types it: ``featbus extract DATA -f FAMILIES --cache none
-q --n-jobs N -o table.csv`` (``--cache none``: every row is computed; nothing is reused from an
earlier run). Printed: wall seconds of each run (median of ``--repeats``), and the speed-up
(one job's time / N jobs' time). The tables of all runs must agree.

Run from the repository root (about 4 minutes with the defaults on 2 cores)::

    python benchmarks/parallel_extraction.py
    python benchmarks/parallel_extraction.py --features hog,lbp,glcm,intensity --limit 50

``--limit K`` takes the first K images of every class (a small job: featbus then stays serial,
since starting workers would cost more than they save; see ``featbus._records.map_images``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
BUSI = REPO.parent / "shared" / "data" / "busi" / "Dataset_BUSI_with_GT"


def _subset(root: Path, limit: int, into: Path) -> Path:
    """A BUSI-layout folder with the first ``limit`` images of each class (symlinks)."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.suffix == ".png" and "_mask" not in p.name)[:limit]
        (into / folder.name).mkdir(parents=True)
        for img in images:
            for f in [img, *folder.glob(f"{img.stem}_mask*.png")]:
                (into / folder.name / f.name).symlink_to(f)
    return into


def _run(data: Path, features: str, n_jobs: int, out: Path) -> float:
    """Wall seconds of one ``featbus extract`` process."""
    cmd = [sys.executable, "-m", "featbus", "extract", str(data), "-f", features, "--cache", "none", "-q",
           "--n-jobs", str(n_jobs), "--overwrite", "-o", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "FEATBUS_CACHE": ""})
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=BUSI)
    parser.add_argument("--features", default="hog,lbp,glcm,intensity,shape")
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
        times, tables = {}, {}
        for n in jobs:
            runs = []
            for r in range(args.repeats):
                out = work / f"table_{n}_{r}.csv"
                runs.append(_run(data, args.features, n, out))
                tables[n] = pd.read_csv(out)
            times[n] = statistics.median(runs)
        n_images = len(tables[jobs[0]])
        print(f"featbus extract, {n_images} images, features {args.features}, {os.cpu_count()} CPUs "
              f"(median of {args.repeats}):")
        print(f"{'--n-jobs':>9} {'seconds':>9} {'speed-up':>9}")
        for n in jobs:
            print(f"{n:>9} {times[n]:>9.1f} {times[jobs[0]] / times[n]:>8.2f}x")
        ref = tables[jobs[0]].select_dtypes("number").to_numpy()
        worst = max(float(np.abs(t.select_dtypes("number").to_numpy() - ref).max()) for t in tables.values())
        print(f"largest difference between the tables: {worst:.1e}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
