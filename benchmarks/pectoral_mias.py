"""Pectoral-muscle removal on mini-MIAS: Dice on original images, lesion retention, speed.

Part 1, the measurement that counts: :func:`featbus.preprocessing.mammography.remove_pectoral`
on the 120 ORIGINAL mini-MIAS images (``mini-mias-original/``, muscle intact) against their
approximate muscle references (``mini-mias-original/pectoral/``, derived from the cut-out
copy; see its README), printing:

* Dice with the reference: median, mean (95 % intervals from a bootstrap over women, the two
  breasts of one woman resampled together), share of images below 0.5, the worst images;
* misses (the reference has a muscle, none was found) and false removals (a muscle was
  removed where the reference has none);
* lesion centres of ``Info.txt`` inside the removed region (should be none);
* seconds per image (one core).

Part 2 runs it on the cut-out copy (``mini-mias/``, muscle already removed) and prints:

* the chest-wall side found from the pixels, checked against the MIAS convention (even
  numbers are left breasts, chest wall on the left of the image; odd are right);
* how many images had a muscle found and removed, and the reasons given for the others;
* the share of removals that touch the detected chest-wall top corner;
* the distribution of the removed area as a fraction of the breast area;
* lesion retention: of every lesion centre in ``Info.txt``, the share still inside the kept
  breast region (breast mask minus removed muscle), with the misses listed;
* seconds per image (breast mask + side + pectoral, one core).

Part 3 paints a muscle back into the cut-out wedge of that copy and scores IoU with the wedge.

It also saves contact sheets (60 images each, 12 x 5 thumbnails): breast outline in green,
removed region filled red, reference outline yellow, lesion centres as blue circles.

Usage (from the repository root)::

    python benchmarks/pectoral_mias.py [--original ../shared/data/mini-mias-original]
        [--data ../shared/data/mini-mias] [--out-dir benchmarks/out]

Data: Suckling J et al., The Mammographic Image Analysis Society digital mammogram database,
Excerpta Medica International Congress Series 1069:375-378 (1994).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from featbus import get_data_home  # noqa: E402
from featbus.preprocessing.mammography import breast_mask, chest_wall_side, remove_pectoral  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load(root: Path):
    """(names, images, lesions as lists of (row, col, radius), women) from featbus.load_mias."""
    from featbus import load_mias

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # this copy holds 120 of the 322 images Info.txt lists
        b = load_mias(root)
    return [Path(p).stem for p in b.paths], list(b.images), [list(les) for les in b.lesions], np.asarray(b.groups)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two masks; 1 when both are empty (no muscle, none found)."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def women_interval(values: np.ndarray, women: np.ndarray, stat, n_boot: int = 2000, seed: int = 0):
    """95 % bootstrap interval of ``stat(values)``, resampling women (both breasts together)."""
    rng = np.random.default_rng(seed)
    ids = np.unique(women)
    by_woman = [np.nonzero(women == w)[0] for w in ids]
    stats = [stat(values[np.concatenate([by_woman[k] for k in rng.integers(0, ids.size, ids.size)])])
             for _ in range(n_boot)]
    return np.percentile(stats, [2.5, 97.5])


def original_report(root: Path, out: Path, fill: str) -> None:
    """Part 1: original images against the approximate muscle references."""
    names, images, lesions, women = load(root)
    refs = []
    for n in names:
        ref = cv2.imread(str(root / "pectoral" / f"{n}_pectoral.png"), cv2.IMREAD_GRAYSCALE)
        if ref is None:
            raise SystemExit(f"no reference {root / 'pectoral' / (n + '_pectoral.png')}")
        refs.append(ref > 0)
    print(f"{len(images)} original mini-MIAS images from {root} (muscle intact), references in {root / 'pectoral'}")
    results, times = timed_removal(images, fill)
    d = np.array([dice(r.pectoral_mask, t) for r, t in zip(results, refs)])
    lo, hi = women_interval(d, women, np.median)
    print(f"Dice with the reference: median {np.median(d):.3f} [{lo:.3f}, {hi:.3f}]", end="")
    lo, hi = women_interval(d, women, np.mean)
    print(f", mean {d.mean():.3f} [{lo:.3f}, {hi:.3f}] (95 % bootstrap over {np.unique(women).size} women)")
    print(f"images with Dice < 0.5: {(d < 0.5).sum()}/{d.size} ({100 * np.mean(d < 0.5):.1f} %)")
    has = np.array([t.any() for t in refs])
    found = np.array([r.found for r in results])
    print(f"misses (reference has a muscle, none found): {(has & ~found).sum()}/{has.sum()} "
          f"({100 * np.mean(~found[has]):.1f} %)"
          + (": " + ", ".join(f"{names[i]} (reference {refs[i].mean():.2%} of the image)"
                              for i in np.nonzero(has & ~found)[0]) if (has & ~found).any() else ""))
    print(f"false removals (muscle removed, reference has none): {(~has & found).sum()}/{(~has).sum()}"
          + (": " + ", ".join(names[i] for i in np.nonzero(~has & found)[0]) if (~has & found).any() else ""))
    removed = [(names[i], row, col) for i, (r, les) in enumerate(zip(results, lesions))
               for row, col, _ in les if r.pectoral_mask[min(int(row), r.pectoral_mask.shape[0] - 1), int(col)]]
    n_les = sum(len(le) for le in lesions)
    print(f"lesion centres inside the removed region: {len(removed)}/{n_les}"
          + ("".join(f"\n  removed: {n} (row {row}, col {col})" for n, row, col in removed)))
    order = np.argsort(d)
    print("lowest Dice: " + ", ".join(f"{names[i]} {d[i]:.2f}" for i in order[:8]))
    t = np.array(times)
    print(f"seconds per image (1024x1024, one core): median {np.median(t):.3f}, mean {t.mean():.3f}, max {t.max():.3f}")
    save_sheets(out / "pectoral_mias_original", names, images, results, lesions, refs)


def timed_removal(images, fill: str):
    """remove_pectoral on each image, with the seconds each took."""
    results, times = [], []
    for im in images:
        t0 = time.perf_counter()
        results.append(remove_pectoral(im, fill=fill))
        times.append(time.perf_counter() - t0)
    return results, times


def reinsert_muscle(image: np.ndarray, seed: int = 0):
    """Paint a bright, textured muscle into the background wedge of the chest-wall top corner.

    This copy of mini-MIAS has the pectoral muscle already cut away (set to 0) in most
    images, so the cut-out wedge is the ground truth of where the muscle was. Returns
    (image with a muscle, wedge mask) or (None, None) when there is no wedge.
    """
    _, bm = breast_mask(image)
    side = chest_wall_side(image, mask=bm)
    g = image[:, ::-1] if side == "right" else image
    m = bm[:, ::-1] if side == "right" else bm
    rows, cols = np.nonzero(m)
    r0, c0 = rows.min(), cols.min()
    w = cols.max() - c0 + 1
    first = np.where(m.any(axis=1), np.argmax(m, axis=1), -1)
    wall = np.nonzero(m[:, c0:c0 + max(2, w // 50)].any(axis=1))[0].min()
    wedge = np.zeros_like(m)
    for r in range(r0, wall):
        if first[r] > c0:
            wedge[r, c0:first[r]] = True
    if wedge.sum() < 0.01 * m.sum():
        return None, None
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.standard_normal(g.shape).astype(np.float32), (0, 0), 6)
    tex /= np.abs(tex).max() + 1e-6
    # real muscles are clearly brighter than fatty tissue: at least 30 grey levels above the median
    level = max(np.percentile(g[m], 90), np.median(g[m]) + 30)
    rr = np.arange(g.shape[0])[:, None]
    shade = 1 - 0.15 * (rr - r0) / max(1, wall - r0)  # brighter towards the corner
    muscle = np.clip(level * shade + 25 * tex, 0, 255)
    out = g.astype(np.float32)
    out[wedge] = muscle[wedge]
    soft = cv2.GaussianBlur(out, (0, 0), 1.5)  # the muscle edge is not a perfect step
    edge = cv2.dilate(wedge.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~cv2.erode(
        wedge.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    out[edge] = soft[edge]
    out = np.rint(out).astype(image.dtype)
    if side == "right":
        out, wedge = out[:, ::-1], wedge[:, ::-1]
    return np.ascontiguousarray(out), np.ascontiguousarray(wedge)


def corner_touch(res) -> bool:
    """Does the removed region reach the chest-wall top corner of the breast's bounding box?"""
    rows, cols = np.nonzero(res.breast_mask)
    r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
    h, w = r1 - r0 + 1, c1 - c0 + 1
    # corner window: top 10 % of the breast's height, chest-wall 10 % of its width
    cs = slice(c0, c0 + max(2, w // 10)) if res.side == "left" else slice(c1 - max(2, w // 10) + 1, c1 + 1)
    return bool(res.pectoral_mask[r0:r0 + max(2, h // 10), cs].any())


def report(names, results, lesions, truths=None):
    found = [r.found for r in results]
    print(f"muscle found and removed: {sum(found)}/{len(results)}")
    for reason, k in Counter(r.reason for r in results if not r.found).most_common():
        print(f"  passed through ({k}): {reason}")
    touch = [corner_touch(r) for r in results if r.found]
    if touch:
        print(f"removed region touches the detected chest-wall top corner: {sum(touch)}/{len(touch)} "
              f"of the removals ({100 * np.mean(touch):.0f}%)")
    fr = np.array([r.fraction for r in results if r.found])
    if fr.size:
        q = np.percentile(fr, [0, 10, 25, 50, 75, 90, 100])
        print("removed area / breast area over the removals: "
              + "  ".join(f"{p}%={v:.3f}" for p, v in zip((0, 10, 25, 50, 75, 90, 100), q)))
    all_fr = np.array([r.fraction for r in results])
    if truths is not None:
        ious = np.array([(r.pectoral_mask & t).sum() / max(1, (r.pectoral_mask | t).sum())
                         for r, t in zip(results, truths)])
        q = np.percentile(ious, [0, 10, 25, 50, 75, 90, 100])
        print("IoU of the removed region with the re-inserted muscle: "
              + "  ".join(f"{p}%={v:.3f}" for p, v in zip((0, 10, 25, 50, 75, 90, 100), q))
              + f"  (>=0.9: {(ious >= 0.9).sum()}/{ious.size}, >=0.8: {(ious >= 0.8).sum()}/{ious.size})")
        worst = np.argsort(ious)[:8]
        print("  lowest IoU: " + ", ".join(f"{names[i]} {ious[i]:.2f}" for i in worst))
    print(f"removed area / breast area over all images: mean={all_fr.mean():.4f} max={all_fr.max():.3f}")

    n_les, misses = 0, []
    for n, r, les in zip(names, results, lesions):
        kept = r.breast_mask & ~r.pectoral_mask
        for row, col, rad in les:
            n_les += 1
            if not kept[int(row), int(col)]:
                misses.append(f"{n} (row {row}, col {col}, radius {rad:g}): "
                              + ("removed as muscle" if r.pectoral_mask[int(row), int(col)] else "outside breast mask"))
    print(f"lesion retention: {n_les - len(misses)}/{n_les} lesion centres inside the kept breast region"
          f" ({100 * (n_les - len(misses)) / max(1, n_les):.1f}%)")
    for m in misses:
        print(f"  miss: {m}")


def thumb(image, res, lesions, truth=None, size=160):
    rgb = cv2.cvtColor((image if image.dtype == np.uint8 else (image / 257).astype(np.uint8)), cv2.COLOR_GRAY2BGR)
    if res.found:
        red = rgb.copy()
        red[res.pectoral_mask] = (0, 0, 255)
        rgb = cv2.addWeighted(rgb, 0.55, red, 0.45, 0)
        cnt, _ = cv2.findContours(res.pectoral_mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, cnt, -1, (0, 0, 255), 6)
    cnt, _ = cv2.findContours(res.breast_mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(rgb, cnt, -1, (0, 200, 0), 5)
    if truth is not None:
        cnt, _ = cv2.findContours(truth.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, cnt, -1, (0, 255, 255), 4)
    for r, c, rad in lesions:
        cv2.circle(rgb, (int(c), int(r)), max(12, int(rad)), (255, 120, 0), 6)
    t = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--original", default=str(get_data_home() / "mini-mias-original"))
    ap.add_argument("--data", default=str(get_data_home() / "mini-mias"))
    ap.add_argument("--out-dir", default=str(REPO / "benchmarks" / "out"))
    ap.add_argument("--fill", default="background", choices=["background", "local"])
    args = ap.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print("--- part 1: original images (muscle intact) against the approximate references ---")
    original_report(Path(args.original), out, args.fill)

    print("\n--- part 2: the cut-out copy (muscle already removed: should pass through) ---")
    root = Path(args.data)
    names, images, lesions, _ = load(root)
    print(f"{len(images)} mini-MIAS images from {root}")

    results, times = timed_removal(images, args.fill)

    # chest-wall side versus the MIAS convention (used only to check the detector)
    expected = ["left" if int(n[3:]) % 2 == 0 else "right" for n in names]
    side_ok = sum(r.side == e for r, e in zip(results, expected))
    wrong = [n for n, r, e in zip(names, results, expected) if r.side != e]
    print(f"chest-wall side agrees with the MIAS even=left/odd=right convention: {side_ok}/{len(names)}"
          + (f" (disagree: {', '.join(wrong)})" if wrong else ""))

    report(names, results, lesions)
    t = np.array(times)
    print(f"seconds per image (1024x1024, one core): "
          f"median {np.median(t):.3f}, mean {t.mean():.3f}, max {t.max():.3f}")

    save_sheets(out / "pectoral_mias", names, images, results, lesions)

    # Part 3: the muscle painted back into the cut-out wedge, where there is one
    print("\n--- part 3: muscle re-inserted into the cut-out chest-wall wedge (ground truth = wedge) ---")
    keep, imgs2, truths = [], [], []
    for i, im in enumerate(images):
        im2, wedge = reinsert_muscle(im, seed=i)
        if im2 is not None:
            keep.append(i)
            imgs2.append(im2)
            truths.append(wedge)
    print(f"{len(keep)}/{len(images)} images have a cut-out wedge of at least 1% of the breast")
    res2, times2 = timed_removal(imgs2, args.fill)
    n2 = [names[i] for i in keep]
    les2 = [lesions[i] for i in keep]
    report(n2, res2, les2, truths)
    print(f"seconds per image: median {np.median(times2):.3f}, mean {np.mean(times2):.3f}")
    save_sheets(out / "pectoral_mias_reinserted", n2, imgs2, res2, les2, truths)


def save_sheets(prefix, names, images, results, lesions, truths=None):
    """12 x 5 thumbnails per sheet: breast outline green, removed region red, truth yellow."""
    thumbs = []
    for k, (n, im, r, les) in enumerate(zip(names, images, results, lesions)):
        t_ = thumb(im, r, les, None if truths is None else truths[k])
        cv2.putText(t_, n[3:], (4, 154), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        thumbs.append(t_)
    for s in range(0, len(thumbs), 60):
        chunk = thumbs[s:s + 60]
        chunk += [np.zeros_like(thumbs[0])] * (60 - len(chunk))
        sheet = np.vstack([np.hstack(chunk[r * 12:(r + 1) * 12]) for r in range(5)])
        path = Path(f"{prefix}_{s // 60 + 1}.png")
        cv2.imwrite(str(path), sheet)
        print(f"contact sheet: {path}")

if __name__ == "__main__":
    main()
