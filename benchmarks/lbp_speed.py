"""LBP speed: featbus's ``LBPFeatures`` against scikit-image's ``local_binary_pattern``, side by side.

Both compute the default LBP row of every BUSI image (radii 1, 2, 3 with 8, 16, 24 points,
``method="uniform"``, whole image): the plain way is ``skimage.feature.local_binary_pattern``
at each radius and a normalised ``np.bincount`` histogram; featbus is
``LBPFeatures(cache=False).fit(images).transform(images)`` (its NumPy codes, ``lbp_codes``,
plus its own checks and conversions), and ``lbp_features`` (the function alone). The images are
read once, before timing, as ``uint8`` gray arrays. Both ways run on the same images in turn,
``--repeats`` times; printed are the median per-image milliseconds (wall and CPU time of this
process) and the ratio, and the rows are checked to be identical (exact equality).

Run from the repository root (about 1 minute for 625 images and 3 repeats on 2 busy cores)::

    python benchmarks/lbp_speed.py
    python benchmarks/lbp_speed.py --n 100 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from featbus import get_data_home

BUSI = get_data_home() / "busi" / "Dataset_BUSI_with_GT"
RADII = (1, 2, 3)


def _images(root: Path, n: int | None) -> list[np.ndarray]:
    files = sorted(p for p in root.glob("*/*.png") if "_mask" not in p.name)
    if n is not None:  # spread over the classes (sorted by class folder)
        files = [files[i] for i in np.linspace(0, len(files) - 1, n).round().astype(int)]
    return [np.asarray(Image.open(f).convert("L")) for f in files]


def _skimage_rows(images: list[np.ndarray]) -> np.ndarray:
    from skimage.feature import local_binary_pattern

    rows = []
    for image in images:
        parts = []
        for R in RADII:
            P = 8 * R
            codes = local_binary_pattern(image, P, R, method="uniform").astype(np.int64).ravel()
            hist = np.bincount(codes, minlength=P + 2).astype(np.float64)
            parts.append(hist / hist.sum())
        rows.append(np.concatenate(parts))
    return np.asarray(rows)


def _featbus_rows(images: list[np.ndarray]) -> np.ndarray:
    from featbus import LBPFeatures

    return LBPFeatures(radii=RADII, cache=False, progress=False).fit(images).transform(images)


def _function_rows(images: list[np.ndarray]) -> np.ndarray:
    from featbus.features.lbp import lbp_features

    return np.asarray([lbp_features(image, radii=RADII) for image in images])


def _timed(func, images):
    wall, cpu = time.perf_counter(), time.process_time()
    rows = func(images)
    return rows, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=BUSI)
    parser.add_argument("--n", type=int, default=None, help="images (spread over the classes); default all")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no data at {args.data}")
    images = _images(args.data, args.n)
    ways = {"scikit-image local_binary_pattern + histogram": _skimage_rows,
            "featbus LBPFeatures.transform": _featbus_rows,
            "featbus lbp_features (function)": _function_rows}
    _featbus_rows(images[:2])  # imports and first calls outside the timing, for both ways
    _skimage_rows(images[:2])
    wall = {k: [] for k in ways}
    cpu = {k: [] for k in ways}
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.repeats):
            for name, func in ways.items():
                rows[name], w, c = _timed(func, images)
                wall[name].append(w)
                cpu[name].append(c)
    n = len(images)
    ref = next(iter(ways))
    pixels = np.mean([im.size for im in images])
    print(f"LBP rows (radii {RADII}, 8 R points, uniform) of {n} BUSI images (mean {pixels:,.0f} pixels), "
          f"{os.cpu_count()} CPUs, median of {args.repeats}:")
    print(f"{'way':<48} {'wall ms/img':>11} {'CPU ms/img':>10} {'speed-up (CPU)':>15}")
    for name in ways:
        w, c = statistics.median(wall[name]) / n * 1e3, statistics.median(cpu[name]) / n * 1e3
        speed = statistics.median(cpu[ref]) / statistics.median(cpu[name])
        print(f"{name:<48} {w:>11.1f} {c:>10.1f} {speed:>14.2f}x")
    same = all(np.array_equal(rows[name], rows[ref]) for name in ways)
    print(f"rows identical to scikit-image's (exact equality): {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
