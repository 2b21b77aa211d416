"""``featbus extract`` against the pyradiomics command line on the same image/mask pairs.

What a radiomics user compares: the batch command of each tool, in a fresh process, on the same
BUSI lesions (8-bit grayscale PNG images with their 0/255 lesion masks), with the seven texture
and intensity families both have:

==============  ==================================================================
pyradiomics     firstorder, shape2D, glcm, glrlm, glszm, gldm, ngtdm (force2D, label 255,
                its default bin width 25, no image filters)
featbus         intensity, shape, glcm, glrlm, glszm, gldm, ngtdm, ``--region mask``
                (its defaults), ``--cache none``
==============  ==================================================================

The families agree in scope, not column for column (each tool has its own defaults: bins,
distances, angles). Printed per tool and job count: wall seconds of the whole command (median of
``--repeats`` runs, the two tools alternating), the peak memory of the command's process tree
(resident set size summed over the process and its workers, sampled every 20 ms), the table's
shape, and the ratios featbus / pyradiomics (speed: pyradiomics time / featbus time, so above
1 means featbus is faster).

pyradiomics is not a featbus dependency. Install it beside featbus to run this
(``pip install pyradiomics``; 3.0.1 installs on Python 3.11), or point ``--pyradiomics`` at its
command in another environment::

    python benchmarks/pyradiomics_batch.py                  # 50 pairs, 1 and 2 jobs, 3 repeats
    python benchmarks/pyradiomics_batch.py --pairs 100 --jobs 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from featbus import get_data_home

BUSI = get_data_home() / "busi" / "Dataset_BUSI_with_GT"

PYRADIOMICS_PARAMS = """\
setting:
  force2D: true
  force2Ddimension: 0
  label: 255
  binWidth: 25
imageType:
  Original: {}
featureClass:
  firstorder:
  shape2D:
  glcm:
  glrlm:
  glszm:
  gldm:
  ngtdm:
"""
FEATBUS_FAMILIES = "intensity,shape,glcm,glrlm,glszm,gldm,ngtdm"


def _pairs(root: Path, n: int, into: Path) -> list[tuple[Path, Path, str]]:
    """The first lesions of benign and malignant (alternating) that have one mask, copied as
    ``<i>.png`` / ``<i>_mask.png`` so both tools read the same files."""
    per_class = {c: sorted(p for p in (root / c).glob("*.png") if "_mask" not in p.name
                           and not (root / c / f"{p.stem}_mask_1.png").exists())
                 for c in ("benign", "malignant")}
    chosen = [item for pair in zip(per_class["benign"], per_class["malignant"]) for item in pair][:n]
    pairs = []
    for i, image in enumerate(chosen):
        mask = image.with_name(f"{image.stem}_mask.png")
        if not np.asarray(Image.open(mask)).any():
            continue
        img_out, mask_out = into / f"{i:03d}.png", into / f"{i:03d}_mask.png"
        shutil.copyfile(image, img_out)
        shutil.copyfile(mask, mask_out)
        pairs.append((img_out, mask_out, image.parent.name))
    return pairs


def tree_rss(pid: int, *, pss: bool = False, largest: list | None = None) -> int:
    """Resident memory (bytes) of process ``pid`` and its children, 0 once it is gone
    (also used by parallel_extraction.py). ``pss``: their proportional set sizes instead, each page
    shared between processes (a forked worker's pages inherited from its parent) counted once over them;
    ``largest``, where given, gets the largest one process's resident memory appended."""
    import psutil  # checked in main()

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total, most = 0, 0
    for p in procs:
        try:
            if pss:
                info = p.memory_full_info()
                total, most = total + info.pss, max(most, info.rss)
            else:
                rss = p.memory_info().rss
                total, most = total + rss, max(most, rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    if largest is not None:
        largest.append(most)
    return total


def _measure(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, peak MiB of the process tree) of one command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}): {err.decode()[-800:]}")
    return seconds, peak / 2**20


def _shape(csv: Path, prefix: str | None) -> tuple[int, int]:
    """Rows and feature columns (those starting with ``prefix``, else the numeric ones)."""
    import pandas as pd

    table = pd.read_csv(csv)
    if prefix is not None:
        return len(table), sum(c.startswith(prefix) for c in table.columns)
    return len(table), table.select_dtypes("number").shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=BUSI)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--jobs", default="1,2", help="comma-separated job counts (-j / --n-jobs)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pyradiomics", default=shutil.which("pyradiomics"),
                        help="the pyradiomics command (default: the one on PATH)")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no BUSI data at {args.data}")
    if not args.pyradiomics:
        raise SystemExit("pyradiomics is not installed: pip install pyradiomics (or give --pyradiomics PATH)")
    try:
        import psutil  # noqa: F401  (the memory of a command's whole process tree)
    except ImportError:
        raise SystemExit("this benchmark measures memory with psutil: pip install psutil") from None

    env = {**os.environ, "FEATBUS_CACHE": ""}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "pairs").mkdir()
        pairs = _pairs(args.data, args.pairs, tmp / "pairs")
        (tmp / "radiomics.csv").write_text("Image,Mask\n" + "".join(f"{i},{m}\n" for i, m, _ in pairs))
        (tmp / "featbus.csv").write_text("image,label,mask\n" + "".join(f"{i},{c},{m}\n" for i, m, c in pairs))
        (tmp / "params.yaml").write_text(PYRADIOMICS_PARAMS)
        commands = {
            "pyradiomics": lambda j: [args.pyradiomics, str(tmp / "radiomics.csv"), "-o", str(tmp / "out_r.csv"),
                                      "-f", "csv", "-p", str(tmp / "params.yaml"), "-j", str(j)],
            "featbus": lambda j: [sys.executable, "-m", "featbus", "extract", str(tmp / "featbus.csv"),
                                  "-f", FEATBUS_FAMILIES, "--region", "mask", "--cache", "none", "-q",
                                  "--n-jobs", str(j), "--overwrite", "-o", str(tmp / "out_f.csv")],
        }
        print(f"{len(pairs)} BUSI lesions (benign/malignant alternating, one mask each), "
              f"{args.repeats} runs per cell, tools alternating; fresh processes")
        print(f"{'tool':>12} {'jobs':>5} {'seconds':>9} {'peak MiB':>9} {'table':>10}")
        results = {}
        for jobs in (int(j) for j in args.jobs.split(",")):
            runs = {tool: [] for tool in commands}
            for _ in range(args.repeats):
                for tool, cmd in commands.items():
                    if tool == "pyradiomics":
                        (tmp / "out_r.csv").unlink(missing_ok=True)  # it appends to an existing output
                    runs[tool].append(_measure(cmd(jobs), env))
            for tool in commands:
                seconds = statistics.median(s for s, _ in runs[tool])
                peak = max(m for _, m in runs[tool])
                out = tmp / ("out_r.csv" if tool == "pyradiomics" else "out_f.csv")
                rows, cols = _shape(out, "original_" if tool == "pyradiomics" else None)
                results[tool, jobs] = (seconds, peak)
                print(f"{tool:>12} {jobs:>5} {seconds:>9.1f} {peak:>9.0f} {rows:>4} x {cols:<4}")
            (rs, rm), (fs, fm) = results["pyradiomics", jobs], results["featbus", jobs]
            print(f"{'':>12} {jobs:>5}  featbus speed = {rs / fs:.2f}x pyradiomics', memory = {fm / rm:.2f}x")


if __name__ == "__main__":
    main()
