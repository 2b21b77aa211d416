"""Memory of writing a feature table: the plain pandas/pyarrow way against
``featbus.io.write_feature_table``, side by side.

A matrix shaped like ``featbus extract``'s default table of the 625 BUSI images (625 x 8249
float64, 39 MiB, random values) and its per-image columns (path, label, target, group) are
written as Parquet and as CSV:

* plain: ``pd.concat([meta, pd.DataFrame(X, columns=names)], axis=1)``, then
  ``frame.to_parquet(path)`` or ``pyarrow.csv.write_csv(pa.Table.from_pandas(frame), path)``;
* featbus: ``write_feature_table(path, meta, X, names)`` (blocks of rows, no whole-table copy).

Each write runs in a fresh process that first builds the matrix; printed is the peak resident
memory during the write above the memory before it (polled every 5 ms), the seconds, and
whether the two files hold the same table (CSV: the same bytes).

Run from the repository root (about 30 seconds)::

    python benchmarks/table_write_memory.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, threading, time
import numpy as np, pandas as pd, psutil
way, fmt, out, n, f = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
X = np.random.default_rng(0).random((n, f))
names = [f"hog__hog.{i}" for i in range(f)]
meta = pd.DataFrame({"path": [f"../shared/data/busi/benign/benign ({i}).png" for i in range(n)],
                     "label": ["benign"] * n, "target": np.zeros(n, np.int64), "group": np.arange(n)})
attrs = {"featbus": {"label_leak": {"columns": []}}}
import pyarrow as pa, pyarrow.csv, pyarrow.parquet
from featbus.io import write_feature_table
proc = psutil.Process(); peak = [0]; stop = [False]
def poll():
    while not stop[0]:
        peak[0] = max(peak[0], proc.memory_info().rss); time.sleep(0.005)
base = proc.memory_info().rss
th = threading.Thread(target=poll); th.start()
t0 = time.perf_counter()
if way == "plain":
    frame = pd.concat([meta, pd.DataFrame(X, columns=names)], axis=1)
    frame.attrs = attrs
    if fmt == "parquet":
        frame.to_parquet(out, index=False)
    else:
        pa.csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), out)
    del frame
else:
    write_feature_table(out, meta, X, names, attrs=attrs)
seconds = time.perf_counter() - t0
stop[0] = True; th.join()
print(json.dumps({"extra_mib": (max(peak[0], proc.memory_info().rss) - base) / 2**20, "seconds": seconds,
                  "matrix_mib": X.nbytes / 2**20, "before_mib": base / 2**20}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=625)
    parser.add_argument("--features", type=int, default=8249)
    args = parser.parse_args()
    import pandas as pd

    work = Path(tempfile.mkdtemp(prefix="featbus_table_"))
    print(f"writing a {args.rows} x {args.features} float64 feature table and 4 per-image columns:")
    print(f"{'format':<8} {'way':<28} {'extra MiB at peak':>18} {'seconds':>8}")
    for fmt in ("parquet", "csv"):
        files = {}
        for way in ("plain", "featbus"):
            out = work / f"{way}.{fmt}"
            res = json.loads(subprocess.run([sys.executable, "-c", CHILD, way, fmt, str(out), str(args.rows),
                                             str(args.features)], check=True, capture_output=True,
                                            text=True).stdout)
            label = "pandas concat + pyarrow" if way == "plain" else "featbus write_feature_table"
            print(f"{fmt:<8} {label:<28} {res['extra_mib']:>18.0f} {res['seconds']:>8.1f}")
            files[way] = out
        if fmt == "csv":
            same = files["plain"].read_bytes() == files["featbus"].read_bytes()
        else:
            a, b = pd.read_parquet(files["plain"]), pd.read_parquet(files["featbus"])
            same = a.equals(b) and a.attrs == b.attrs
        print(f"{fmt:<8} same table: {same}  (matrix {res['matrix_mib']:.0f} MiB, process {res['before_mib']:.0f} MiB "
              "before writing)")


if __name__ == "__main__":
    main()
