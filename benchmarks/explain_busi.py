"""Do the explanation maps point at the lesion? A pointing game on held-out BUSI images.

For a model trained with ``featbus train ... --test-fraction F`` (its manifest lists the
held-out images, whole near-duplicate groups the model never saw), every held-out benign or
malignant image is explained for its *true* class and the map is compared with the image's
ground-truth lesion mask (never used by the model):

* ``hit``: the map's peak lies on the lesion or within ``--tolerance`` pixels of it (the
  pointing game of Zhang et al. 2018, doi:10.1007/s11263-017-1059-x, 15 px tolerance);
* ``energy in lesion``: the share of the map's positive mass inside the mask, next to the
  mask's share of the image (what a map spread evenly would score).

Rows: Grad-CAM (:func:`featbus.deploy.explain.grad_cam`), occlusion sensitivity
(:func:`featbus.deploy.explain.occlusion_map`, slower: on the first ``--n-occlusion`` images) and a
centre prior (the peak at the image centre; energy a centred Gaussian of a quarter of the
side): the baseline an explanation has to beat, since BUSI lesions sit near the centre of the
frame. Hit rates get 95 % Wilson intervals.

Run from the repository root (data at ../shared/data)::

    featbus train ../shared/data/busi/Dataset_BUSI_with_GT -f efficientnet_lite0 -c svm \\
        --test-fraction 0.2 -o busi_lite0.featbus
    python benchmarks/explain_busi.py busi_lite0.featbus [--n-occlusion 40]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from featbus import get_data_home

DEFAULT_DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion."""
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def score_map(m: np.ndarray, mask: np.ndarray, distance: np.ndarray, tolerance: float) -> tuple[bool, float]:
    """(peak within ``tolerance`` px of the lesion, share of the positive mass inside it);
    ``distance``: each pixel's distance to the lesion (0 on it), computed once per image."""
    peak = np.unravel_index(np.argmax(m), m.shape)
    positive = np.clip(m, 0, None)
    total = positive.sum()
    return bool(distance[peak] <= tolerance), float(positive[mask].sum() / total) if total > 0 else 0.0


def centre_prior(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    sigma = min(h, w) / 4
    return np.exp(-(((yy - (h - 1) / 2) ** 2) + ((xx - (w - 1) / 2) ** 2)) / (2 * sigma ** 2))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .featbus file trained with --test-fraction (its held-out list is used)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="BUSI folder (masks are read from it)")
    parser.add_argument("--tolerance", type=float, default=15.0, help="pointing-game tolerance in pixels")
    parser.add_argument("--n-occlusion", type=int, default=40, help="images explained by occlusion too (0: none)")
    args = parser.parse_args(argv)

    from scipy import ndimage as ndi

    from featbus import load_busi
    from featbus.deploy.explain import grad_cam, occlusion_map, supports_grad_cam
    from featbus.model import load_model

    model = load_model(args.model)
    held = (model.manifest.get("holdout") or {}).get("paths")
    if not held:
        raise SystemExit(f"{args.model} has no held-out list: train it with --test-fraction")
    data = load_busi(args.data)
    by_path = {os.path.realpath(r.path): (r, name) for r, name in
               zip(data.data, np.asarray(data.target_names)[data.target])}
    cases = [by_path[os.path.realpath(p)] for p in held if os.path.realpath(p) in by_path]
    cases = [(r, name) for r, name in cases if name != "normal" and r.mask is not None and r.mask.any()]
    print(f"{model!r}\n{len(cases)} held-out lesion images (benign + malignant) of {len(held)} held out; "
          f"maps for the true class; pointing-game tolerance {args.tolerance:g} px")
    rows = {"Grad-CAM": [], "occlusion": [], "centre prior": []}
    seconds = {"Grad-CAM": 0.0, "occlusion": 0.0}
    area = []
    for i, (rec, name) in enumerate(cases):
        mask = np.asarray(rec.mask, bool)
        distance = ndi.distance_transform_edt(~mask)
        area.append(mask.mean())
        rows["centre prior"].append(score_map(centre_prior(mask.shape), mask, distance, args.tolerance))
        if supports_grad_cam(model):
            t = time.perf_counter()
            cam = grad_cam(model, rec.image, target=name)
            seconds["Grad-CAM"] += time.perf_counter() - t
            rows["Grad-CAM"].append(score_map(cam, mask, distance, args.tolerance))
        if i < args.n_occlusion:
            t = time.perf_counter()
            occ = occlusion_map(model, rec.image, target=name)
            seconds["occlusion"] += time.perf_counter() - t
            rows["occlusion"].append(score_map(occ, mask, distance, args.tolerance))
    print(f"lesion share of the image: mean {np.mean(area):.3f} (what an even map puts inside the lesion)\n")
    print(f"{'map':<14}{'images':>7}{'hit rate':>10}{'95% CI':>16}{'energy in lesion':>18}{'s/image':>9}")
    for label, res in rows.items():
        if not res:
            continue
        hits = sum(h for h, _ in res)
        lo, hi = wilson(hits, len(res))
        per = f"{seconds[label] / len(res):.2f}" if label in seconds else ""
        print(f"{label:<14}{len(res):>7}{hits / len(res):>10.3f}{f'[{lo:.2f}, {hi:.2f}]':>16}"
              f"{np.mean([e for _, e in res]):>18.3f}{per:>9}")
    n_both = min(len(rows["occlusion"]), len(rows["centre prior"]))
    if rows["occlusion"] and rows["Grad-CAM"]:
        print(f"\n(on the first {n_both} images, the ones occlusion explained: Grad-CAM hit rate "
              f"{np.mean([h for h, _ in rows['Grad-CAM'][:n_both]]):.3f}, centre prior "
              f"{np.mean([h for h, _ in rows['centre prior'][:n_both]]):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
