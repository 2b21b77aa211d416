"""Whether one ``featbus extract`` job keeps memory per full-field frame: the process tree's memory over the run,
its trough (what stays between frames) and its peak (one frame being decoded) in each tenth of the run.

``benchmarks/fullfield_scaling.py`` reports one peak per release size; a peak is one moment (the largest frame
while something else is held), so peaks of three runs cannot tell a leak from chance. Here one run is followed:
were anything kept per frame (rows, metadata, decoder buffers, the heap's fragments), the troughs would climb
from the first tenth of the run to the last.

The release: ``--distinct`` full-field DICOM mammograms made on the fly by ``benchmarks/mammography_dicom.py``'s
:func:`build` (5355 x 4915, 4084 x 3328 and 2294 x 1914 pixels in turn, 12-16-bit, MONOCHROME1, JPEG 2000 and
RLE among them), hard-linked ``--copies`` times under other names (``c<k>_<name>``), so that 800 frames need the
disk of 160 (about 5.5 GB). featbus is run with ``--cache none``: every frame is decoded and described again,
whether or not its pixels were seen before. Polled every 50 ms with psutil: the tree's proportional set size
(pages forked workers share with the parent counted once) and the command's resident memory.

Run from the repository root (about 75 s to build and 0.7 CPU s a frame on two cores)::

    PYTHONPATH=$PWD python benchmarks/fullfield_memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mammography_dicom import RESULTS, build

WINDOWS = 10


def follow(cmd: list[str], env: dict, cwd: Path) -> tuple[float, list[tuple[float, float, float]]]:
    """Run ``cmd``; its wall seconds and ``(seconds, tree PSS MiB, command RSS MiB)`` every 50 ms."""
    import psutil

    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    reader.start()
    t0, samples, parent = time.perf_counter(), [], psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            procs = [parent, *parent.children(recursive=True)]
            infos = [p.memory_full_info() for p in procs]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        samples.append((time.perf_counter() - t0, sum(i.pss for i in infos) / 2**20, infos[0].rss / 2**20))
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    reader.join()
    if proc.returncode:
        raise SystemExit(f"featbus extract failed ({proc.returncode}): {''.join(err)[-2000:]}")
    return wall, samples


def windows(samples: list[tuple[float, float, float]], wall: float, frames: int) -> list[dict]:
    """Each tenth of the run: its frames (at the run's mean rate), the tree's trough and peak, the command's peak.
    The first tenth's trough is taken after the first frame's peak (before it, nothing is loaded yet)."""
    first_peak = max(range(len(samples)), key=lambda i: samples[i][1] if samples[i][0] < wall / WINDOWS else -1)
    rows = []
    for k in range(WINDOWS):
        lo, hi = wall * k / WINDOWS, wall * (k + 1) / WINDOWS
        inside = [s for i, s in enumerate(samples) if lo <= s[0] < hi and (k or i > first_peak)]
        if not inside:
            continue
        rows.append({"seconds": [round(lo, 1), round(hi, 1)], "frames_about": round(frames * (k + 1) / WINDOWS),
                     "tree_trough_mib": round(min(s[1] for s in inside), 1),
                     "tree_peak_mib": round(max(s[1] for s in inside), 1),
                     "command_peak_rss_mib": round(max(s[2] for s in inside), 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--distinct", type=int, default=160, help="distinct frames built (default 160)")
    ap.add_argument("--copies", type=int, default=5, help="hard-linked copies of them (default 5: 800 frames)")
    ap.add_argument("-o", "--out", type=Path, default=RESULTS / "fullfield_memory.json")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo), FEATBUS_CACHE="", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory(prefix="featbus_fullfield_memory_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        built = build(tmp / "built", args.distinct, cycle=True)
        build_s = time.perf_counter() - t0
        rel = tmp / "release"
        for k in range(args.copies):
            for f in built:
                target = rel / f.parent.name / f"c{k}_{f.name}"
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(f, target)
        frames = args.distinct * args.copies
        load_before = [round(v, 2) for v in os.getloadavg()]
        wall, samples = follow([sys.executable, "-m", "featbus", "extract", str(rel), "-f", "intensity", "--cache",
                                "none", "-q", "-o", str(tmp / "features.csv")], env, tmp)
    rows = windows(samples, wall, frames)
    troughs = [r["tree_trough_mib"] for r in rows]
    result = {"command": "python benchmarks/fullfield_memory.py " + " ".join(sys.argv[1:]),
              "frames": frames, "distinct_frames": args.distinct, "build_s": round(build_s, 1),
              "extract_s": round(wall, 1), "cpus": os.cpu_count(), "load_average_before": load_before,
              "load_average_after": [round(v, 2) for v in os.getloadavg()], "samples": len(samples),
              "windows": rows,
              "trough_first_last_mib": [troughs[0], troughs[-1]],
              "trough_change_per_frame_mib": round((troughs[-1] - troughs[0]) / (frames * (len(rows) - 1) / WINDOWS),
                                                   4),
              "peak_mib": max(r["tree_peak_mib"] for r in rows)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# One job's memory over {frames} full-field frames", "",
             f"`{result['command']}`: {args.distinct} distinct frames x {args.copies} hard-linked copies, "
             f"`featbus extract -f intensity --cache none`, {wall:.0f} s (load average {load_before[0]} before, "
             f"{result['load_average_after'][0]} after).", "",
             "| tenth of the run | frames (about) | tree trough MiB | tree peak MiB | command peak RSS MiB |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['seconds'][0]}-{r['seconds'][1]} s | {r['frames_about']} | {r['tree_trough_mib']} | "
              f"{r['tree_peak_mib']} | {r['command_peak_rss_mib']} |" for r in rows]
    lines += ["", f"Trough from the first tenth to the last: {troughs[0]} -> {troughs[-1]} MiB "
              f"({result['trough_change_per_frame_mib']:+} MiB a frame); peak {result['peak_mib']} MiB."]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
