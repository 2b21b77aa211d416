"""Reading a release: the summary of 1,000 full-size images and their masks, beside decoding them all.

Issue 81 aims: the summary (images, masks paired, table and columns, classes, patients, files left
out) of 1,000 full-size images and their masks in <= 20 s on 2 cores, before any model loads.

The release is built once in a temporary folder outside the repository (removed afterwards):
``--n`` scans of ``--width`` x ``--height`` pixels (grey, speckle noise over smooth bands, so that a
PNG is as large as a real scan's, about 0.3-0.5 MB), each with its lesion mask beside it
(``scan_0001_mask.png``, 0/255), and a ``labels.csv`` naming every scan with its diagnosis and
patient (three scans a patient). Rows, each in a fresh process pinned to ``--cores`` CPUs:

* **read_release**: ``featbus.datasets.read_release(folder)`` and its summary's paragraph: the
  call's own seconds, and the process's whole wall time (Python start and imports included);
* **featbus read** (with ``--cli``): the command ``featbus read FOLDER`` end to end;
* **plain: decode every file**: the way a reader that looks at pixels goes: ``cv2.imread`` of every
  scan and every mask, on one thread per core (OpenCV releases the GIL), and the same table read
  with pandas.

With ``--layout coco`` the scans have no mask files but a CVAT-style COCO file
(``annotations/instances_default.json``: each lesion a 32-point polygon, a class per image; issue
89): the summary then parses the JSON and checks every polygon, and the plain row reads the JSON
with :func:`json.load` in place of the table.

With ``--layout dicom`` the release is a PACS / CD export instead (issue 89): ``--n`` extension-less DICOM
files (ultrasound, 8-bit, the pixel size in ``SequenceOfUltrasoundRegions``) under
``PATIENT/STUDYUID/SERIESUID/I0000001``, three a patient, no masks, and a ``labels.csv`` keyed by
``SOPInstanceUID``: the summary finds them by content, matches the table by their headers and reads
their pixel sizes; the plain row decodes every file with pydicom (``pixel_array``) on one thread per
core, and reads the table with pandas.

Each row runs ``--repeats`` times, the rows interleaved; the first round warms the page cache for
all (the files were just written, so every run reads from memory: a cold disk adds its own
reading time to both ways alike). The median run of each row is kept, every run beside it, with
the load average before and after (other work on the machine takes cores from the rows).

Run from the repository root::

    python benchmarks/read_speed.py                  # 1,000 images at 800 x 600, 3 rounds
    python benchmarks/read_speed.py --n 200 --repeats 1 --output /tmp/read_speed_small.json
    python benchmarks/read_speed.py --layout coco --output benchmarks/results/read_speed_coco.json
    python benchmarks/read_speed.py --layout dicom --output benchmarks/results/read_speed_dicom.json

It writes ``benchmarks/results/read_speed.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "read_speed.json"

READ_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from featbus.datasets import read_release
t1 = time.perf_counter()
rel = read_release(sys.argv[1])
text = rel.summary.text()
t2 = time.perf_counter()
s = rel.summary
print(json.dumps({"import_s": t1 - t0, "call_s": t2 - t1, "n_images": s.n_images,
                  "n_masks_paired": s.n_masks_paired, "n_mask_files": s.n_mask_files,
                  "n_patients": s.n_patients, "classes": s.classes, "text": text}))
"""

PLAIN_CHILD = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
t0 = time.perf_counter()
import cv2
import pandas as pd
t1 = time.perf_counter()
folder = Path(sys.argv[1])
dicom = sys.argv[4] == "dicom"
files = sorted(f for f in folder.rglob("*") if f.is_file() and f.name != "labels.csv") if dicom else \
    sorted(folder.glob("*.png"))
table = json.load(open(sys.argv[3])) if sys.argv[3].endswith(".json") else pd.read_csv(sys.argv[3])
def decode(path):
    if dicom:
        import pydicom
        return pydicom.dcmread(path).pixel_array.shape
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise SystemExit(f"cannot decode {path}")
    return image.shape
with ThreadPoolExecutor(int(sys.argv[2])) as pool:
    shapes = list(pool.map(decode, files))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "call_s": t2 - t1, "n_files": len(shapes), "n_rows": len(table)}))
"""


def _scan(k: int, width: int, height: int):
    """A full-size synthetic scan: smooth bands, a dark elliptical lesion, multiplicative speckle."""
    import numpy as np

    rng = np.random.default_rng(k)
    y, x = np.mgrid[:height, :width].astype(np.float32)
    base = 90 + 40 * np.sin(x / (40 + k % 17) + k) * np.cos(y / (55 + k % 13))
    cy, cx = height * (0.35 + 0.3 * rng.random()), width * (0.3 + 0.4 * rng.random())
    ry, rx = height * (0.06 + 0.08 * rng.random()), width * (0.05 + 0.08 * rng.random())
    lesion = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
    base[lesion] *= 0.35
    speckle = rng.rayleigh(1.0, (height, width)).astype(np.float32)
    image = np.clip(base * speckle, 0, 255).astype(np.uint8)
    t = np.linspace(0, 2 * np.pi, 32, endpoint=False)  # the lesion's outline as a COCO polygon (pixel edges)
    outline = [round(float(v), 2) for xy in zip(cx + rx * np.cos(t) + 0.5, cy + ry * np.sin(t) + 0.5) for v in xy]
    return image, (lesion * 255).astype(np.uint8), outline


def _write_one(args) -> tuple[int, list]:
    import cv2

    folder, k, width, height, layout = args
    image, mask, outline = _scan(k, width, height)
    cv2.imwrite(str(Path(folder) / f"scan_{k:04d}.png"), image)
    if layout == "table":
        cv2.imwrite(str(Path(folder) / f"scan_{k:04d}_mask.png"), mask)
    return (Path(folder) / f"scan_{k:04d}.png").stat().st_size, outline


def _sop(k: int) -> str:
    return f"1.2.826.0.1.3680043.10.5555.{k}"


def _write_one_dicom(args) -> int:
    """Scan ``k`` as an ultrasound DICOM file a PACS exports: ``PATIENT/STUDY/SERIES/I000000k``."""
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    folder, k, width, height = args
    patient = f"P{(k + 2) // 3:04d}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.6.1", _sop(k)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, _sop(k), "US"
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = patient, _sop(10**6 + k // 3), _sop(2 * 10**6 + k // 3)
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = height, width, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    region = Dataset()
    region.RegionSpatialFormat, region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection = 1, 3, 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.008
    ds.SequenceOfUltrasoundRegions = [region]
    ds.PixelData = _scan(k, width, height)[0].tobytes()
    path = Path(folder) / patient / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"I{k:07d}"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path.stat().st_size


def build_release(folder: Path, n: int, width: int, height: int, cores: int, layout: str = "table") -> dict:
    """``n`` scans with masks and ``labels.csv`` in ``folder`` (``layout="coco"``: no mask files, a
    COCO file ``annotations/instances_default.json`` instead; ``"dicom"``: a PACS export without
    masks, its table keyed by SOPInstanceUID); returns what was built."""
    from concurrent.futures import ProcessPoolExecutor

    folder.mkdir(parents=True, exist_ok=True)
    if layout == "dicom":
        with ProcessPoolExecutor(cores) as pool:
            sizes = list(pool.map(_write_one_dicom, [(str(folder), k, width, height) for k in range(1, n + 1)],
                                  chunksize=8))
        lines = ["SOPInstanceUID,diagnosis"] + [f"{_sop(k)},{'malignant' if k % 3 == 0 else 'benign'}"
                                                for k in range(1, n + 1)]
        (folder / "labels.csv").write_text("\n".join(lines) + "\n")
        return {"n_images": n, "n_masks": 0, "width": width, "height": height, "format": "DICOM, no extension",
                "mean_image_dicom_bytes": round(sum(sizes) / n), "total_bytes": sum(sizes)}
    with ProcessPoolExecutor(cores) as pool:
        done = list(pool.map(_write_one, [(str(folder), k, width, height, layout) for k in range(1, n + 1)],
                             chunksize=8))
    sizes = [size for size, _ in done]
    if layout == "coco":
        coco = {"categories": [{"id": 1, "name": "benign", "supercategory": ""},
                               {"id": 2, "name": "malignant", "supercategory": ""}],
                "images": [{"id": k, "width": width, "height": height, "file_name": f"scan_{k:04d}.png"}
                           for k in range(1, n + 1)],
                "annotations": [{"id": k, "image_id": k, "category_id": 2 if k % 3 == 0 else 1, "iscrowd": 0,
                                 "segmentation": [outline]} for k, (_, outline) in enumerate(done, 1)]}
        (folder / "annotations").mkdir()
        (folder / "annotations" / "instances_default.json").write_text(json.dumps(coco))
    else:
        lines = ["file,diagnosis,patient"]
        lines += [f"scan_{k:04d}.png,{'malignant' if k % 3 == 0 else 'benign'},P{(k + 2) // 3:04d}"
                  for k in range(1, n + 1)]
        (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"layout": layout, "n_images": n, "n_masks": n, "width": width, "height": height,
            "mean_image_png_bytes": round(sum(sizes) / n), "total_bytes": total}


def _pinned(cores: int):
    cpus = sorted(os.sched_getaffinity(0))[:cores] if hasattr(os, "sched_getaffinity") else None

    def pin():
        if cpus:
            os.sched_setaffinity(0, cpus)
    return pin


def run_child(name: str, command: list[str], cores: int) -> dict:
    """A row in a fresh process pinned to ``cores`` CPUs: its JSON line (when it prints one), its
    wall time and the load average around it."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    wall = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS=str(cores))
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, preexec_fn=_pinned(cores))
    wall = time.perf_counter() - wall
    if done.returncode != 0:
        raise SystemExit(f"the row {name!r} failed:\n{done.stderr[-3000:]}")
    out = {"process_wall_s": round(wall, 2), "load_average": [load_before, [round(x, 2) for x in os.getloadavg()]]}
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if last.startswith("{"):
        result = json.loads(last)
        out.update({k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()})
    else:
        out["stdout_tail"] = done.stdout[-600:]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="scans (each with a mask)")
    parser.add_argument("--width", type=int, default=800)
    parser.add_argument("--height", type=int, default=600)
    parser.add_argument("--cores", type=int, default=2, help="CPUs each row's process is pinned to")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every row (interleaved)")
    parser.add_argument("--cli", action="store_true", help="also time the command `featbus read FOLDER`")
    parser.add_argument("--layout", choices=["table", "coco", "dicom"], default="table",
                        help="masks beside the scans and a labels.csv, a COCO file's polygons, or a PACS export "
                             "of extension-less DICOM files keyed by SOPInstanceUID (issue 89)")
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT))
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="featbus_read_speed_"))
    try:
        folder = tmp / "release"
        t = time.perf_counter()
        built = build_release(folder, args.n, args.width, args.height, args.cores, args.layout)
        table = folder / ("annotations/instances_default.json" if args.layout == "coco" else "labels.csv")
        built["build_s"] = round(time.perf_counter() - t, 1)
        rows = {
            "read_release": [sys.executable, "-c", READ_CHILD, str(folder)],
            "plain: decode every file": [sys.executable, "-c", PLAIN_CHILD, str(folder), str(args.cores), str(table),
                                         "dicom" if args.layout == "dicom" else "png"],
        }
        if args.cli:
            rows["featbus read"] = [sys.executable, "-m", "featbus", "read", str(folder)]
        runs: dict[str, list] = {name: [] for name in rows}
        for _ in range(args.repeats):
            for name, command in rows.items():
                runs[name].append(run_child(name, command, args.cores))
                print(f"{name}: {runs[name][-1].get('call_s', runs[name][-1]['process_wall_s'])} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def median_run(name):
        key = "call_s" if "call_s" in runs[name][0] else "process_wall_s"
        ordered = sorted(runs[name], key=lambda r: r[key])
        return ordered[(len(ordered) - 1) // 2]

    medians = {name: median_run(name) for name in runs}
    summary_s = medians["read_release"]["call_s"]
    plain_s = medians["plain: decode every file"]["call_s"]
    result = {
        "what": ("read_release's summary of a PACS export of extension-less DICOM files keyed by SOPInstanceUID, "
                 "beside decoding every file with pydicom" if args.layout == "dicom" else
                 "read_release's summary of a release of full-size scans with masks beside and a table, "
                 "beside decoding every file with cv2.imread") + "; each row a fresh process pinned to the cores",
        "command": "python benchmarks/read_speed.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
        "release": built,
        "cores": args.cores,
        "repeats": args.repeats,
        "aim_s": 20.0,
        "summary_s": summary_s,
        "summary_process_wall_s": medians["read_release"]["process_wall_s"],
        "plain_decode_s": plain_s,
        "summary_over_plain": round(summary_s / plain_s, 3) if plain_s else None,
        "meets_aim": summary_s <= 20.0 and medians["read_release"]["process_wall_s"] <= 20.0,
        "summary_text": medians["read_release"].get("text"),
        "median": {name: {k: v for k, v in run.items() if k != "text"} for name, run in medians.items()},
        "runs": {name: [{k: v for k, v in run.items() if k != "text"} for run in rs] for name, rs in runs.items()},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    if "featbus read" in medians:
        result["cli_wall_s"] = medians["featbus read"]["process_wall_s"]
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("summary_s", "summary_process_wall_s", "plain_decode_s",
                                             "summary_over_plain", "meets_aim")}))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
