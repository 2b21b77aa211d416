"""``featbus validate breast-us`` on the shared sites' 320 px copies and on full-size stand-ins of
them read from disk, side by side: the figures at the size hospitals store, and the time it takes
(issue 82, items 3 and 4).

**What the larger folders are.** Full-size originals of the shared sites could not be fetched here
(no internet; the one public BUSI copy found was squashed to 256 x 256, smaller than the shared
copies): each larger folder is a STAND-IN written from the shared 320 px copies, every image
enlarged ``--factor`` times (3: 960 px on the longer side, the upper end of what hospitals store,
about 370-1,000 px) by :func:`scale_invariance.stand_in` (``--stand-in cubic``: bicubic;
``block-consistent``: bicubic with every block's mean made the copy's pixel, as area-averaging a
true original gives its copy back), its masks by nearest neighbour, in the release's own layout
(class folders, masks beside, the table copied; BrEaST-Lesions-USG's ``Pixel_size`` divided and
``Width`` / ``Height`` multiplied by the factor). A stand-in holds no more detail than its copy: it
measures what the stored pixel size does to the decisions and to the time, not what an original's
finer speckle would add. The folders are written outside the repository (``--work-dir``).

For each site the command runs as a user types it, in a fresh process each time (the model loaded,
its networks started, every image read from disk and decoded): ``featbus validate breast-us DIR
--report R --n-bootstrap B --random-state 0``, on the 320 px folder and on the stand-in folder in
turn; with ``--native``, also on the stand-in folder with ``breast-us`` seeing every image at its
stored size, as featbus did before issue 82 (the same parts saved with a native input scale,
``scale_invariance.native_twin``: the "before" row). The figures are read from
``R/validation.json``: the malignant AUC, sensitivity and specificity at the model's stored point
and the share of normal scans called normal, with 95 % intervals from a bootstrap of the data's
groups (BUSI: its near-duplicate groups; BrEaST: one image per patient). The shipped model trained
on every image of these sites: the figures are on seen images (optimistic, as ``featbus validate``
says); only the difference between the sizes counts.

Time: the command's wall seconds and its CPU seconds (user + system of the child process and its
threads, :data:`resource.RUSAGE_CHILDREN`), the sizes of one site run one after the other in one run
of this script, on one machine, ``--repeats`` times in turn (each run's seconds kept, the medians
``wall_s`` and ``cpu_s``); the load averages are recorded (the machine is shared: the CPU seconds
are the steadier figure).

Run from the repository root::

    nice python benchmarks/stand_in_validate.py --native --repeats 2     # BUSI and BrEaST, 3x cubic (~25 min)
    nice python benchmarks/stand_in_validate.py --stand-in block-consistent
    nice python benchmarks/stand_in_validate.py --sites breast-lesions-usg --n-bootstrap 100   # a smoke run

Writes ``benchmarks/results/stand_in_validate.json`` (one entry per stand-in kind and factor).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "stand_in_validate.json"
SITES = ("busi", "breast-lesions-usg")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
MASK_WORDS = ("_mask", "_seg", "_gt")


def _is_mask(path: Path) -> bool:
    return any(w in path.stem.lower() for w in MASK_WORDS)


def _scaled_table(text: str, factor: int) -> str:
    """BrEaST-Lesions-USG's table for the stand-in images: ``Pixel_size`` / factor, ``Width`` and
    ``Height`` x factor (a value that is not a number is kept as it is); other tables unchanged."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not {"Pixel_size", "Width", "Height"} <= set(rows[0]):
        return text
    head = rows[0]
    where = {name: head.index(name) for name in ("Pixel_size", "Width", "Height")}
    for row in rows[1:]:
        for name, i in where.items():
            try:
                v = float(row[i])
            except (ValueError, IndexError):
                continue
            row[i] = repr(v / factor) if name == "Pixel_size" else str(int(round(v * factor)))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def write_stand_in(src: Path, dst: Path, factor: int, kind: str) -> dict:
    """The release folder ``src`` written to ``dst`` with every image a stand-in ``factor`` times larger
    (masks by nearest neighbour), every other file copied; ``dst`` appears whole or not at all."""
    import cv2

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from scale_invariance import stand_in

    record = dst.with_name(dst.name + ".json")  # beside the folder, which holds the release's files only
    if dst.is_dir() and record.is_file():
        return json.loads(record.read_text())
    if dst.is_dir():  # not recorded: an interrupted run's
        shutil.rmtree(dst)
    part = Path(tempfile.mkdtemp(prefix=dst.name + ".", dir=dst.parent))
    t0, n_images, n_masks = time.perf_counter(), 0, 0
    for path in sorted(src.rglob("*")):
        out = part / path.relative_to(src)
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in IMAGE_SUFFIXES and _is_mask(path):
            m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            big = cv2.resize(m, (m.shape[1] * factor, m.shape[0] * factor), interpolation=cv2.INTER_NEAREST)
            n_masks += 1
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if img is None or img.ndim != 2 or img.dtype != np.uint8:
                raise ValueError(f"{path}: not an 8-bit grey image (the shared copies all are)")
            big = stand_in(img, factor, kind)
            n_images += 1
        elif path.suffix.lower() == ".csv":
            out.write_text(_scaled_table(path.read_text(encoding="utf-8"), factor), encoding="utf-8")
            continue
        else:
            shutil.copyfile(path, out)
            continue
        if not cv2.imwrite(str(out.with_suffix(".png")), big):
            raise OSError(f"{out}: could not be written")
    about = {"from": str(src), "factor": factor, "stand_in": kind, "n_images": n_images, "n_masks": n_masks,
             "write_s": round(time.perf_counter() - t0, 1)}
    part.replace(dst)
    record.write_text(json.dumps(about, indent=1) + "\n")
    return about


def folder_megabytes(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def native_model(work: Path) -> Path:
    """``breast-us`` saved with its input scale set to native (``scale_invariance.native_twin``: the same
    parts, every image seen at its stored size, as featbus did before issue 82), for ``--native``."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from scale_invariance import native_twin

    import featbus

    path = work / "breast_us_native_size.featbus"
    native_twin(featbus.load_model("breast-us")).save(path, overwrite=True, runtime=False)
    return path


def validate(folder: Path, report: Path, n_bootstrap: int, model: str = "breast-us") -> dict:
    """``featbus validate MODEL FOLDER`` in a fresh process: its figures, wall and CPU seconds."""
    cmd = [sys.executable, "-m", "featbus", "validate", model, str(folder), "--quiet", "--report", str(report),
           "--n-bootstrap", str(n_bootstrap), "--random-state", "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    cpu0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"featbus validate {folder} failed ({done.returncode}): {done.stderr[-2000:]}")
    v = json.loads((report / "validation.json").read_text())
    point = v["operating_points"]["model"]
    normal = v["per_class"].get("normal")
    said = [line.strip() for line in (done.stdout + done.stderr).splitlines() if "brought to" in line]
    return {"auc": v["auc"], "sensitivity": point["sensitivity"], "specificity": point["specificity"],
            "normal_called_normal": None if normal is None else normal["recall"],
            "n_normal": None if normal is None else normal["n"],
            "n_images": v["data"]["n_images"], "n_groups": v["data"]["n_groups"],
            "groups_from": v["data"]["groups_from"],
            "counts": v["data"]["counts"], "seen": v["figures_include_seen"], "scale_said": said[:1],
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", default=",".join(SITES))
    ap.add_argument("--factor", type=int, default=3, help="how many times larger the stand-ins are (default 3)")
    ap.add_argument("--stand-in", choices=("cubic", "block-consistent"), default="cubic")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "featbus_stand_ins"),
                    help="where the stand-in folders are written (kept for the next run), outside the repository")
    ap.add_argument("--native", action="store_true",
                    help="also validate the stand-ins with breast-us seeing them at their stored size "
                         "(as before issue 82)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each command, the sizes in turn (times: medians)")
    ap.add_argument("-o", "--output", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats {args.repeats}: at least 1")
    if args.factor < 2:
        ap.error(f"--factor {args.factor}: a stand-in is at least 2 times larger than its 320 px copy")
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    key = f"{args.stand_in} {args.factor}x"
    native = native_model(work) if args.native else None
    entry = {"images": f"320 px: the shared copies; {args.factor}x: STAND-INS, the copies enlarged {args.factor} "
                       f"times ({args.stand_in}), not originals: full-size originals could not be fetched here",
             "ratios": "wall_ratio, cpu_ratio: the stand-ins (brought to 320 px) against the 320 px copies; "
                       "native_*: the stand-ins seen at their stored size against brought to 320 px",
             "n_bootstrap": args.n_bootstrap, "repeats": args.repeats, "sites": {},
             "command": "python benchmarks/stand_in_validate.py " + " ".join(sys.argv[1:] if argv is None else argv),
             "machine": {"cpus": os.cpu_count(), "load_before": [round(x, 2) for x in os.getloadavg()]},
             "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for site in [s.strip() for s in args.sites.split(",") if s.strip()]:
        src = DATA / site
        big = work / f"{site}_{args.stand_in}_{args.factor}x"
        made = write_stand_in(src, big, args.factor, args.stand_in)
        rows = {}
        runs = [("320 px (shared copies)", src, "breast-us"),
                (f"{320 * args.factor} px ({key} stand-in)", big, "breast-us")]
        if native is not None:
            runs.append((f"{320 * args.factor} px ({key} stand-in), seen at its stored size", big, str(native)))
        for repeat in range(args.repeats):  # the sizes in turn, so a change of the machine's load hits each
            for size, folder, model in runs:
                with tempfile.TemporaryDirectory(dir=work) as report:
                    got = validate(folder, Path(report), args.n_bootstrap, model)
                row = rows.setdefault(size, {**got, "folder_mb": folder_megabytes(folder), "wall_s_runs": [],
                                             "cpu_s_runs": []})
                row["wall_s_runs"].append(got["wall_s"])
                row["cpu_s_runs"].append(got["cpu_s"])
                for k in ("wall_s", "cpu_s"):
                    row[k] = round(float(np.median(row[f"{k}_runs"])), 1)
                print(site, size, f"run {repeat + 1}", {k: got[k] for k in ("auc", "sensitivity", "specificity",
                                                                           "normal_called_normal", "wall_s", "cpu_s")},
                      file=sys.stderr, flush=True)
        small, large, *before = rows.values()
        entry["sites"][site] = {"stand_in_written": made, "rows": rows,
                                "wall_ratio": round(large["wall_s"] / max(small["wall_s"], 1e-9), 2),
                                "cpu_ratio": round(large["cpu_s"] / max(small["cpu_s"], 1e-9), 2)}
        if before:  # the stand-ins at their stored size against at the trained scale
            entry["sites"][site]["native_wall_ratio"] = round(before[0]["wall_s"] / max(large["wall_s"], 1e-9), 2)
            entry["sites"][site]["native_cpu_ratio"] = round(before[0]["cpu_s"] / max(large["cpu_s"], 1e-9), 2)
    entry["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.output)
    kept = json.loads(out.read_text()) if out.is_file() else {}
    result = {"about": __doc__.split("\n\n")[0].replace("\n", " "), "model": "breast-us (shipped)",
              "runs": {**kept.get("runs", {}), key: entry}}
    out.parent.mkdir(parents=True, exist_ok=True)
    from featbus.io import write_file  # the one write-then-rename

    write_file(out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
