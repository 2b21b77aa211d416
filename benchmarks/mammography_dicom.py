"""``featbus extract`` on full-field mammograms against a plain pydicom decode + area-reduce loop, side by side.

The files: ``--n`` (default 24) full-field DICOM mammograms built in a temporary folder from the untouched
mini-MIAS PNGs (``../shared/data/mini-mias-original``, 1024 x 1024, 8-bit) upsampled to the sizes vendors write
(4915 x 5355, as some of RSNA's, and 3328 x 4084, Hologic's), 12-, 14- or 16-bit, every fourth MONOCHROME1 with a
window, every eighth JPEG 2000- and three in sixteen RLE-compressed (lossless; pydicom's encoders), each with its
laterality, view and pixel spacing, in class folders as a release ships them.

Two ways, each a fresh process, one after the other in one run:

* featbus: ``featbus extract REL -f intensity -o features.csv``, as a user types it;
* plain: ``pydicom.dcmread(f).pixel_array``, ``cv2.resize(..., INTER_AREA)`` to the same working size
  (at most :data:`featbus.io.WORK_PIXELS` pixels, the aspect kept, as :func:`featbus.io.work_shape`) and the
  same 23 intensity statistics (:func:`featbus.features.intensity.intensity_features`' formulas, in NumPy, on
  the image in ``[0, 1]``), one file after the other, importing nothing of featbus.

Printed and written (``benchmarks/results/mammography_dicom.json`` and ``.md``): each way's images per second
over its whole process (start-up included, as a user waits for it; the plain loop's own, without its imports,
too), its peak resident memory (``ru_maxrss`` of the child), and the ratio. The machine's load average is
recorded: timings on a shared machine are noisy, the ratio is what is compared.

Run from the repository root (about 3 minutes)::

    PYTHONPATH=$PWD python benchmarks/mammography_dicom.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "mini-mias-original"
RESULTS = REPO / "benchmarks" / "results"
#: (height, width, pixel spacing in mm) of the frames built, in turn.
SIZES = ((5355, 4915, 0.07), (4084, 3328, 0.07))
BITS = (12, 14, 16)

#: A child that runs a command and prints its wall seconds and peak resident memory (KiB) as JSON.
MEASURE = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": code.returncode, "wall_s": wall, "peak_kib": peak, "stderr_tail": code.stderr[-600:]}))
"""

#: The plain loop: pydicom, OpenCV and NumPy only (no featbus import): the working size computed as
#: featbus.io.work_shape does, the statistics as featbus.features.intensity.intensity_features computes its 23.
PLAIN = r"""
import sys, time, json, math
t0 = time.perf_counter()
import cv2, numpy as np, pydicom
WORK = int(sys.argv[1])
files = sys.argv[2:]

def stats(x, bins=64):
    x = x.ravel()
    hist = np.bincount(np.minimum((x * bins).astype(np.int64), bins - 1), minlength=bins)
    mean = x.mean(); dev = x - mean; dev2 = dev * dev; var = dev2.mean(); std = np.sqrt(var)
    p10, p25, med, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90])
    abs_med = np.abs(x - med); inner = x[(x >= p10) & (x <= p90)]
    robust = np.mean(np.abs(inner - inner.mean())) if inner.size else 0.0
    skew = np.mean(dev2 * dev) / var ** 1.5 if var > 0 else 0.0
    kurt = np.mean(dev2 * dev2) / var ** 2 - 3.0 if var > 0 else 0.0
    p = hist[hist > 0] / x.size; ms = np.mean(x * x)
    return np.array([mean, std, x.min(), x.max(), x.max() - x.min(), p10, p25, med, p75, p90, p75 - p25,
                     (p75 - p25) / (p75 + p25), np.mean(np.abs(dev)), robust, abs_med.mean(), np.median(abs_med),
                     std / mean, skew, kurt, -(p * np.log2(p)).sum(), (p * p).sum(), ms, np.sqrt(ms)])

t1 = time.perf_counter()
rows = []
for f in files:
    ds = pydicom.dcmread(f)
    a = ds.pixel_array
    h, w = a.shape
    if h * w > WORK:
        s = math.sqrt(WORK / (h * w)); h, w = math.floor(h * s), math.floor(w * s)
    small = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)
    rows.append(stats(small / float(2 ** int(ds.BitsStored) - 1)))
print(json.dumps({"loop_s": time.perf_counter() - t1, "imports_s": t1 - t0, "rows": len(rows)}), file=sys.stderr)
"""


def build(root: Path, n: int, sizes=SIZES, *, cycle: bool = False) -> list[Path]:
    """``n`` full-field DICOM mammograms under ``root/<class>/``, frame ``k`` of ``sizes[k % len(sizes)]``.

    ``cycle``: more frames than the source PNGs, each source used again with another noise seed and
    frame size (the ``k``-th file is named ``<source>_<k>.dcm``), so that no two files hold the same pixels."""
    import cv2
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import JPEG2000Lossless, RLELossless, generate_uid

    pngs = sorted(SOURCE.glob("mdb*.png"))
    if not pngs or (len(pngs) < n and not cycle):
        raise SystemExit(f"needs {n} PNGs in {SOURCE}, found {len(pngs)}")
    files = []
    for k in range(n):
        png = pngs[k % len(pngs)]
        h, w, spacing = sizes[k % len(sizes)]
        bits = BITS[k % len(BITS)]
        film = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        big = cv2.resize(film, (w, h), interpolation=cv2.INTER_LINEAR)
        factor = (2**bits - 1) // 255  # 16, 64, 257: the film's 8 bits spread over the stored bits
        noise = np.random.default_rng(k).integers(0, max(2, factor // 4), (h, w), dtype=np.uint16)  # detector noise
        stored = big.astype(np.uint16) * np.uint16(factor - 1) + noise
        mono1 = k % 4 == 1
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
        ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.PresentationIntentType = "MG", f"P{k // 2:03d}", "FOR PRESENTATION"
        ds.ImageLaterality, ds.ViewPosition = ("R" if k % 2 else "L"), "MLO"
        ds.Rows, ds.Columns, ds.PixelSpacing = h, w, [spacing, spacing]
        ds.SamplesPerPixel, ds.BitsAllocated, ds.PixelRepresentation = 1, 16, 0
        ds.BitsStored, ds.HighBit = bits, bits - 1
        ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
        if mono1:  # stored inverted, shown through a window of the breast's range
            stored = (2**bits - 1 - stored).astype(np.uint16)
            ds.WindowCenter, ds.WindowWidth = (2**bits) * 0.45, (2**bits) * 0.6
        ds.PixelData = stored.tobytes()
        if k % 8 == 7:
            ds.compress(JPEG2000Lossless)
        elif k % 4 == 3:
            ds.compress(RLELossless, encoding_plugin="gdcm" if _has("gdcm") else "pydicom")
        path = root / ("abnormal" if k % 3 == 0 else "normal") / (f"{png.stem}_{k:05d}.dcm" if cycle else
                                                                  f"{png.stem}.dcm")
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def measure(command: list[str], env: dict, cwd: Path) -> dict:
    """``command``'s wall seconds and peak memory, run from ``cwd`` (not the checkout: ``python -m`` would
    import the featbus of the working folder before the one ``PYTHONPATH`` names)."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, env=env,
                         check=True, cwd=cwd)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=24, help="mammograms built (default 24)")
    ap.add_argument("-o", "--out", type=Path, default=RESULTS / "mammography_dicom.json")
    ap.add_argument("--before", type=Path, help="also run featbus extract from this checkout (an older featbus)")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        rel = Path(tmp) / "release"
        t0 = time.perf_counter()
        files = build(rel, args.n)
        built_s = time.perf_counter() - t0
        disk = sum(f.stat().st_size for f in files)
        load_before = os.getloadavg()
        feat = measure([sys.executable, "-m", "featbus", "extract", str(rel), "-f", "intensity", "-o",
                        str(Path(tmp) / "features.csv")], env, Path(tmp))
        if feat["rc"] != 0:
            raise SystemExit(f"featbus extract failed: {feat['stderr_tail']}")
        import pandas as pd

        table = pd.read_csv(Path(tmp) / "features.csv")
        from featbus.io import WORK_PIXELS

        plain = measure([sys.executable, "-c", PLAIN, str(WORK_PIXELS), *map(str, files)], env, Path(tmp))
        before = None
        if args.before is not None:
            before = measure([sys.executable, "-m", "featbus", "extract", str(rel), "-f", "intensity", "-o",
                              str(Path(tmp) / "before.csv"), "--on-error", "skip"],
                             dict(env, PYTHONPATH=str(args.before.resolve())), Path(tmp))
            before["rows"] = len(pd.read_csv(Path(tmp) / "before.csv")) if before["rc"] == 0 else 0
        loop = json.loads(plain.pop("stderr_tail").strip().splitlines()[-1])
        load_after = os.getloadavg()
    n = len(files)
    result = {
        "command": "python benchmarks/mammography_dicom.py " + " ".join(sys.argv[1:]),
        "images": n, "rows_featbus": int(len(table)), "rows_plain": loop["rows"],
        "sizes": [f"{w} x {h}" for h, w, _ in SIZES], "bits": list(BITS), "disk_mb": round(disk / 1e6, 1),
        "build_s": round(built_s, 1),
        "featbus": {"command": "featbus extract REL -f intensity -o features.csv", "wall_s": round(feat["wall_s"], 2),
                    "images_per_s": round(n / feat["wall_s"], 3), "peak_mb": round(feat["peak_kib"] / 1024, 1)},
        "plain": {"loop": "pydicom dcmread + pixel_array + cv2.resize INTER_AREA + intensity_features",
                  "wall_s": round(plain["wall_s"], 2), "images_per_s": round(n / plain["wall_s"], 3),
                  "loop_images_per_s": round(n / loop["loop_s"], 3), "peak_mb": round(plain["peak_kib"] / 1024, 1)},
        "load_average": {"before": [round(v, 2) for v in load_before], "after": [round(v, 2) for v in load_after]},
        "cpus": os.cpu_count(),
    }
    if before is not None:
        result["before"] = {"featbus": str(args.before), "wall_s": round(before["wall_s"], 2), "rows": before["rows"],
                            "peak_mb": round(before["peak_kib"] / 1024, 1), "rc": before["rc"]}
    result["ratio_images_per_s"] = round(result["featbus"]["images_per_s"] / result["plain"]["images_per_s"], 3)
    alone = result["plain"]["loop_images_per_s"]
    result["ratio_vs_plain_loop_alone"] = round(result["featbus"]["images_per_s"] / alone, 3)
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    f, p = result["featbus"], result["plain"]
    args.out.with_suffix(".md").write_text(
        f"# featbus extract on full-field mammograms (benchmarks/mammography_dicom.py)\n\n"
        f"{n} DICOM mammograms ({', '.join(result['sizes'])}; 12-16-bit; MONOCHROME1 with a window, RLE and JPEG 2000 "
        f"among them; {result['disk_mb']} MB), read at the working size (featbus.io.WORK_PIXELS).\n\n"
        "| way | images/s (whole process) | peak memory |\n|---|---|---|\n"
        f"| featbus extract -f intensity | {f['images_per_s']} | {f['peak_mb']} MB |\n"
        f"| plain pydicom + INTER_AREA + intensity | {p['images_per_s']} (loop alone {p['loop_images_per_s']}) "
        f"| {p['peak_mb']} MB |\n"
        + (f"| featbus before (`{result['before']['featbus']}`) | {round(n / result['before']['wall_s'], 3)} "
           f"({result['before']['rows']} rows) | {result['before']['peak_mb']} MB |\n" if "before" in result else "")
        + f"\nRatio featbus / plain: {result['ratio_images_per_s']} (against the plain loop without its imports: "
        f"{result['ratio_vs_plain_loop_alone']}). Load average before / after: {result['load_average']['before']} / "
        f"{result['load_average']['after']} on {result['cpus']} CPUs (a shared machine).\n\n"
        f"Command: `{result['command']}`\n")


if __name__ == "__main__":
    main()
