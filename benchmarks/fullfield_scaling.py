"""How the cost of a screening release grows: ``featbus read`` and ``featbus extract`` on full-field releases of
50, 200 and 1,000 frames, at 1 and 2 workers, side by side with a plain process pool, in one run.

The releases are made on the fly in a temporary folder (never in the repository) by
``benchmarks/mammography_dicom.py``'s :func:`build`: full-field DICOM mammograms of 5355 x 4915, 4084 x 3328 and
2294 x 1914 pixels in turn (12-, 14- or 16-bit), every fourth MONOCHROME1 with a window, every eighth JPEG 2000-
and three in sixteen RLE-compressed, each frame its own pixels. The largest release is built once; each smaller
one is the first frames of it, hard-linked into its own folder.

At each size, each a fresh process as a user types it (``--cache none``: every row computed):

* ``featbus read REL`` (what is read, without the pixels);
* ``featbus extract REL -f intensity --n-jobs N`` for every N of ``--workers``;
* the plain pool: ``multiprocessing.Pool(N)`` over the files, each ``pydicom.dcmread(f).pixel_array``, the VOI
  window (pydicom's ``apply_voi_lut``) and the MONOCHROME1 inversion, ``cv2.resize(..., INTER_AREA)`` to
  featbus's working size and the same 23 intensity statistics (``mammography_dicom.py``'s loop), importing
  nothing of featbus.

Each is measured by :func:`measure`: wall seconds, CPU seconds and, polled every 20 ms with psutil, the peak of
the process tree's memory (proportional set sizes, so that the pages forked workers share with their parent
count once), the parent's own peak and the largest peak of one worker (its resident memory and its unique set
size: what each must keep under 1 GB).
Runs alternate between the ways (median of ``--rounds``), so that
all see the same load; the machine's load average is recorded. ``ratio`` is the plain pool's wall time over
featbus's at the same number of workers (1.0: as fast as the plain pool).

The projection for RSNA's 54,706 frames on 2, 16 and 64 cores: ``fixed + frames * per_frame / (cores *
efficiency)``, where ``per_frame`` is the one-worker cost per frame (the slope between the smallest and the
largest size measured; the largest size's seconds per frame when only one size is), ``fixed`` the one-worker
intercept (start-up, imports, the table), and ``efficiency`` the measured speed-up from 1 to 2 workers per
worker (slopes, so the fixed part is left out), taken to hold at 16 and 64 cores: an optimistic bound, as
memory bandwidth and the disk are not modelled. Memory is not projected from these peaks: a peak is one moment
of a run, so two runs' peaks say nothing of growth; ``benchmarks/fullfield_memory.py`` follows one run.

Run from the repository root (about 3 minutes at ``--sizes 50`` on two idle cores; the default sizes need
about 25 GB of temporary disk, 25 MB a frame, and about an hour and a quarter; ``--frames DIR`` measures
frames an earlier run built)::

    PYTHONPATH=$PWD python benchmarks/fullfield_scaling.py
    PYTHONPATH=$PWD python benchmarks/fullfield_scaling.py --sizes 50 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mammography_dicom import PLAIN, RESULTS, build

#: (height, width, pixel spacing in mm) of the frames built, in turn: the sizes of RSNA's frames.
SIZES = ((5355, 4915, 0.07), (4084, 3328, 0.07), (2294, 1914, 0.1))
#: RSNA Screening Mammography's frames (train 54,706).
RSNA_FRAMES = 54706
PROJECTED_CORES = (2, 16, 64)

#: The plain pool: ``mammography_dicom.py``'s loop (its ``stats``), with the VOI window, in a process pool.
POOL = PLAIN.split("t1 = time.perf_counter()")[0].replace("files = sys.argv[2:]", "N = int(sys.argv[2])\n"
                                                                                  "files = sys.argv[3:]") + r"""
import multiprocessing
from pydicom.pixels import apply_voi_lut

def one(f):
    ds = pydicom.dcmread(f)
    a = ds.pixel_array
    top = float(2 ** int(ds.BitsStored) - 1)
    if "WindowCenter" in ds:
        a = apply_voi_lut(a, ds)
    x = np.asarray(a, np.float32) / np.float32(top)
    del a
    if str(ds.PhotometricInterpretation) == "MONOCHROME1":
        x = 1.0 - x
    h, w = x.shape
    if h * w > WORK:
        s = math.sqrt(WORK / (h * w)); h, w = math.floor(h * s), math.floor(w * s)
    small = cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA)
    return stats(np.clip(small, 0, 1).astype(np.float64))

if __name__ == "__main__":
    t1 = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(N) as pool:
        rows = pool.map(one, files, chunksize=1)
    print(json.dumps({"loop_s": time.perf_counter() - t1, "rows": len(rows)}), file=sys.stderr)
"""


def measure(cmd: list[str], env: dict, cwd: Path) -> tuple[float, float, float, float, float, float]:
    """One command's wall seconds, CPU seconds (its own and its waited-for workers'), and in MiB, polled every
    20 ms (psutil's ``memory_full_info``): the peak of the process tree's proportional set sizes (a page forked
    workers share with their parent counted once), the parent's peak resident memory, and the largest peak of
    one worker process's resident memory (the pages it shares with the parent included: what it needs where it
    runs alone) and of its unique set size (the pages it alone holds); the worker's are 0 without workers."""
    import psutil
    from parallel_extraction import run_polled

    peak = {"tree": 0, "parent": 0, "worker_rss": 0, "worker_uss": 0}

    def poll(proc) -> None:
        try:
            procs = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for p in procs:
            try:
                info = p.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += info.pss
            if p.pid == proc.pid:
                peak["parent"] = max(peak["parent"], info.rss)
            else:
                peak["worker_rss"], peak["worker_uss"] = max(peak["worker_rss"], info.rss), max(peak["worker_uss"],
                                                                                                 info.uss)
        peak["tree"] = max(peak["tree"], total)

    wall, cpu = run_polled(cmd, env, cwd, poll)
    return wall, cpu, *(peak[k] / 2**20 for k in ("tree", "parent", "worker_rss", "worker_uss"))


def _link_release(source: list[Path], root: Path, into: Path) -> Path:
    """The frames ``source`` (under ``root``) hard-linked into ``into``, their class folders kept."""
    for f in source:
        target = into / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(f, target)
    return into


def _median(runs: list[tuple[float, ...]]) -> dict:
    """The medians of ``runs`` (:func:`measure`'s): wall and CPU seconds, the tree's peak MB (PSS), the
    parent's (RSS) and the largest of one worker's (RSS, USS); and every wall time."""
    walls, cpus, peaks, parents, worker_rss, worker_uss = zip(*runs)

    def med(values) -> float:
        return round(statistics.median(values), 1)

    return {"wall_s": round(statistics.median(walls), 2), "cpu_s": med(cpus), "peak_mb": med(peaks),
            "parent_mb": med(parents), "worker_rss_mb": med(worker_rss), "worker_uss_mb": med(worker_uss),
            "every_wall_s": [round(t, 2) for t in walls]}


def _fit(sizes: list[int], values: list[float]) -> tuple[float, float]:
    """``(intercept, slope)`` of ``values`` against ``sizes``: the line through the smallest and the largest
    size, or through the origin when only one size was measured."""
    if len(sizes) == 1 or sizes[0] == sizes[-1]:
        return 0.0, values[-1] / sizes[-1]
    slope = (values[-1] - values[0]) / (sizes[-1] - sizes[0])
    return values[0] - slope * sizes[0], slope


def project(result: dict) -> dict:
    """The projection for RSNA's frames (see the module docstring), from the measured sizes."""
    sizes = [r["frames"] for r in result["sizes"]]
    workers = result["workers"]
    one, many = str(workers[0]), str(workers[-1])
    fixed, per_frame = _fit(sizes, [r["extract"][one]["wall_s"] for r in result["sizes"]])
    _, per_frame_many = _fit(sizes, [r["extract"][many]["wall_s"] for r in result["sizes"]])
    efficiency = per_frame / (per_frame_many * int(many)) * int(one) if len(workers) > 1 else 1.0
    plain_fixed, plain_per_frame = _fit(sizes, [r["plain"][one]["wall_s"] for r in result["sizes"]])
    hours = {str(c): round((fixed + RSNA_FRAMES * per_frame / (c * efficiency)) / 3600, 2) for c in PROJECTED_CORES}
    return {"frames": RSNA_FRAMES, "per_frame_s_one_worker": round(per_frame, 4), "fixed_s": round(fixed, 2),
            "efficiency_per_worker": round(efficiency, 3), "hours": hours,
            "plain_pool_hours": {str(c): round((plain_fixed + RSNA_FRAMES * plain_per_frame / c) / 3600, 2)
                                 for c in PROJECTED_CORES},
            "how": "fixed + frames * per_frame / (cores * efficiency): per_frame and fixed from --n-jobs 1 (slope and "
                   "intercept over the sizes), efficiency the speed-up per worker from 1 to 2 workers, taken to hold "
                   "at 16 and 64 cores (optimistic: memory bandwidth and disk not modelled); the plain pool's hours "
                   "assume it scales perfectly"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="50,200,1000", help="frames per release, comma-separated (default 50,200,1000)")
    ap.add_argument("--workers", default="1,2", help="--n-jobs and pool sizes, comma-separated (default 1,2)")
    ap.add_argument("--rounds", type=int, default=1, help="runs of each way at each size (median; default 1)")
    ap.add_argument("-o", "--out", type=Path, default=RESULTS / "fullfield_scaling.json")
    ap.add_argument("--before", type=Path, help="also run featbus extract from this checkout (an older featbus)")
    ap.add_argument("--frames", type=Path, help="the frames an earlier run built (its release folder, at least the "
                                                "largest size's frames), used instead of building them again")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    workers = [int(w) for w in args.workers.split(",")]
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo), FEATBUS_CACHE="", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    from featbus.io import WORK_PIXELS

    result: dict = {"command": "python benchmarks/fullfield_scaling.py " + " ".join(sys.argv[1:]),
                    "frame_sizes": [f"{w} x {h}" for h, w, _ in SIZES], "workers": workers, "rounds": args.rounds,
                    "mix": "every 4th MONOCHROME1 with a window, every 8th JPEG 2000, 3 in 16 RLE, the rest "
                           "uncompressed; 12-16-bit", "cpus": os.cpu_count(), "load_average_before":
                    [round(v, 2) for v in os.getloadavg()], "sizes": []}
    if args.before is not None:
        result["before"] = str(args.before)
    with tempfile.TemporaryDirectory(prefix="featbus_fullfield_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        if args.frames is None:
            source = tmp / "all"
            frames = build(source, sizes[-1], SIZES, cycle=True)
            result["build_s"] = round(time.perf_counter() - t0, 1)
        else:  # build's names end in the frame's number: <source>_<k>.dcm
            source = args.frames
            frames = sorted(source.rglob("*.dcm"), key=lambda f: int(f.stem.rsplit("_", 1)[1]))
            if len(frames) < sizes[-1]:
                raise SystemExit(f"{source} holds {len(frames)} frames; --sizes asks for {sizes[-1]}")
        for n in sizes:
            rel = _link_release(frames[:n], source, tmp / f"rel{n}")
            files = sorted(str(f) for f in rel.rglob("*.dcm"))
            runs: dict = {"read": [], **{f"{way}{w}": [] for w in workers for way in ("extract", "plain", "before")}}
            for _ in range(args.rounds):
                runs["read"].append(measure([sys.executable, "-m", "featbus", "read", str(rel)], env, tmp))
                for w in workers:  # alternating: every way sees the same load
                    out = tmp / f"features{n}_{w}.csv"
                    runs[f"extract{w}"].append(measure(
                        [sys.executable, "-m", "featbus", "extract", str(rel), "-f", "intensity", "--cache", "none",
                         "-q", "--n-jobs", str(w), "--overwrite", "-o", str(out)], env, tmp))
                    runs[f"plain{w}"].append(measure(
                        [sys.executable, "-c", POOL, str(WORK_PIXELS), str(w), *files], env, tmp))
                    if args.before is not None:
                        runs[f"before{w}"].append(measure(
                            [sys.executable, "-m", "featbus", "extract", str(rel), "-f", "intensity", "--cache",
                             "none", "-q", "--n-jobs", str(w), "--overwrite", "-o", str(tmp / "before.csv")],
                            dict(env, PYTHONPATH=str(args.before.resolve())), tmp))

            def med(key: str, runs=runs) -> dict:
                return _median(runs[key])

            import pandas as pd

            tables = {w: pd.read_csv(tmp / f"features{n}_{w}.csv") for w in workers}
            ref = tables[workers[0]].select_dtypes("number").to_numpy()
            worst = max(float(np.abs(t.select_dtypes("number").to_numpy() - ref).max()) for t in tables.values())
            entry = {"frames": n, "disk_gb": round(sum(os.path.getsize(f) for f in files) / 1e9, 2),
                     "read": med("read"), "extract": {str(w): med(f"extract{w}") for w in workers},
                     "plain": {str(w): med(f"plain{w}") for w in workers},
                     "rows": {str(w): int(len(t)) for w, t in tables.items()},
                     "largest_difference_between_tables": worst}
            entry["ratio"] = {str(w): round(entry["plain"][str(w)]["wall_s"] / entry["extract"][str(w)]["wall_s"], 3)
                              for w in workers}
            entry["speedup"] = {str(w): round(entry["extract"][str(workers[0])]["wall_s"]
                                              / entry["extract"][str(w)]["wall_s"], 3) for w in workers}
            if args.before is not None:
                entry["before"] = {str(w): med(f"before{w}") for w in workers}
                entry["ratio_before"] = {str(w): round(entry["plain"][str(w)]["wall_s"]
                                                       / entry["before"][str(w)]["wall_s"], 3) for w in workers}
            entry["load_average"] = [round(v, 2) for v in os.getloadavg()]
            result["sizes"].append(entry)
            print(json.dumps(entry), flush=True)
            write_report({**result, "projection_rsna": project(result)}, args.out)
            import shutil

            shutil.rmtree(rel)  # links: the frames stay
    result["projection_rsna"] = project(result)
    print(json.dumps(result["projection_rsna"], indent=2))
    write_report(result, args.out)


def write_report(result: dict, out: Path) -> None:
    """``result`` (:func:`main`'s, with its sizes so far and their projection) to ``out`` (JSON) and beside it
    the Markdown table (``.md``). Written after each size too, so that a run stopped midway keeps its sizes."""
    workers, rounds = result["workers"], result["rounds"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# How the cost of a full-field release grows (benchmarks/fullfield_scaling.py)", "",
             f"Frames {', '.join(result['frame_sizes'])} in turn; {result['mix']}. {result['cpus']} CPUs, load average "
             f"before {result['load_average_before']}; median of {rounds} round(s). ratio: the plain pool's wall "
             "time over featbus's at as many workers (1.0 = as fast).", "",
             "MB: peaks polled every 20 ms: tree, the process tree's proportional set sizes (pages forked workers "
             "share with their parent counted once); parent, the command's own process (RSS); worker, the largest "
             "one worker process (RSS, the pages it shares with the parent included / USS, the pages it alone "
             "holds); '-' without workers.", "",
             "| frames | workers | featbus read s | featbus extract s | MB tree | MB parent | MB worker RSS / USS | "
             "plain pool s | MB tree | MB parent | MB worker RSS / USS | ratio |"
             + (" before s | ratio before |" if "before" in result else ""),
             "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if "before" in result else "")]

    def mb(x: dict) -> str:
        worker = f"{x['worker_rss_mb']:.0f} / {x['worker_uss_mb']:.0f}" if x["worker_rss_mb"] else "-"
        return f"{x['peak_mb']:.0f} | {x['parent_mb']:.0f} | {worker}"

    for e in result["sizes"]:
        for w in workers:
            x, p = e["extract"][str(w)], e["plain"][str(w)]
            lines.append(f"| {e['frames']} | {w} | {e['read']['wall_s']} | {x['wall_s']} | {mb(x)} | {p['wall_s']} | "
                         f"{mb(p)} | {e['ratio'][str(w)]} |"
                         + (f" {e['before'][str(w)]['wall_s']} | {e['ratio_before'][str(w)]} |" if "before" in e
                            else ""))
    pr = result["projection_rsna"]
    lines += ["", f"RSNA's {pr['frames']} frames, projected ({pr['how']}): "
              + ", ".join(f"{c} cores {h} h" for c, h in pr["hours"].items())
              + f" (plain pool {', '.join(f'{c} cores {h} h' for c, h in pr['plain_pool_hours'].items())}); "
              + "how memory grows over a run: benchmarks/fullfield_memory.py (a peak is one moment of a run).",
              f"Load average after each size: {[e['load_average'] for e in result['sizes']]}.", "",
              f"Command: `{result['command']}`", ""]
    out.with_suffix(".md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
