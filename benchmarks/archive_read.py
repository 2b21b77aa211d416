"""A release read in place from its archive, side by side with the same release unpacked (issue 96).

BUSI as Kaggle serves it (``Dataset_BUSI_with_GT/<class>/<class> (k).png`` with ``_mask.png``),
built from synthetic frames of BUSI's usual size (500 x 500 by default) so the run needs no data:
the same files as a folder (the plain way: unpack, then read), a zip and a ``.tar.gz``. For each,
``featbus.datasets.read_release`` (the listing and every header: the paragraph's cost) and
``Release.to_bunch`` (every image and mask decoded: what ``featbus extract`` reads), in one process,
the rows interleaved, ``--repeats`` runs each, the median kept (every run beside it). The unpacked
folder's row includes no unpacking time: it is what reading costs once someone has unpacked it.

Run from the repository root::

    python benchmarks/archive_read.py                 # 150 images, 3 runs a row
    python benchmarks/archive_read.py --images 600

It writes ``benchmarks/results/archive_read.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def build(tmp: Path, n: int, side: int) -> dict[str, Path]:
    """The release as a folder, a zip and a .tar.gz: ``{row: path}``."""
    rng = np.random.default_rng(0)
    members = {}
    for k in range(n):
        label = ("benign", "malignant", "normal")[k % 3]
        stem = f"Dataset_BUSI_with_GT/{label}/{label} ({k + 1})"
        frame = rng.integers(0, 255, (side, side), np.uint8)
        mask = np.zeros((side, side), np.uint8)
        mask[side // 4: side // 2, side // 4: side // 2] = 255
        members[f"{stem}.png"], members[f"{stem}_mask.png"] = _png(frame), _png(mask)
    folder = tmp / "unpacked"
    for name, data in members.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    with zipfile.ZipFile(tmp / "archive.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with tarfile.open(tmp / "archive.tar.gz", "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return {"unpacked folder (plain)": folder / "Dataset_BUSI_with_GT", "zip in place": tmp / "archive.zip",
            "tar.gz in place": tmp / "archive.tar.gz"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=150)
    parser.add_argument("--side", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "archive_read.json"))
    args = parser.parse_args()
    from featbus.datasets import read_release

    with tempfile.TemporaryDirectory() as tmp:
        rows = build(Path(tmp), args.images, args.side)
        runs: dict[str, dict[str, list[float]]] = {r: {"read_s": [], "to_bunch_s": []} for r in rows}
        for _ in range(args.repeats):
            for row, path in rows.items():  # interleaved: the machine's load falls on every row alike
                t0 = time.perf_counter()
                rel = read_release(path)
                t1 = time.perf_counter()
                bunch = rel.to_bunch(guess_groups=False)
                t2 = time.perf_counter()
                assert len(bunch.images) == args.images
                runs[row]["read_s"].append(round(t1 - t0, 3))
                runs[row]["to_bunch_s"].append(round(t2 - t1, 3))
        plain = {k: statistics.median(v) for k, v in runs["unpacked folder (plain)"].items()}
        result = {"images": args.images, "side": args.side, "repeats": args.repeats, "cpus": os.cpu_count(),
                  "machine": platform.platform(), "rows": {}}
        for row, times in runs.items():
            med = {k: statistics.median(v) for k, v in times.items()}
            result["rows"][row] = {**{f"{k}_median": v for k, v in med.items()}, "runs": times,
                                   **{f"{k}_x_plain": round(v / plain[k], 2) for k, v in med.items()}}
            print(f"{row:26s} read {med['read_s']:.2f} s ({med['read_s'] / plain['read_s']:.2f} x plain), "
                  f"to_bunch {med['to_bunch_s']:.2f} s ({med['to_bunch_s'] / plain['to_bunch_s']:.2f} x plain)")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
