"""The card's leave-one-site-out figures at the stored points, each held-out site judged on its 320 px
copies and on stand-ins of them 3 times larger, the same rebuilt heads (issue 82, item 3).

**What is rebuilt.** As ``benchmarks/site_alignment.py`` without ``--loso-dir``: for each of the
three shared sites held out in turn, the classifier's heads are rebuilt on the other two sites'
320 px copies (:func:`site_alignment.rebuild`: the lesion classifier, its malignancy point at
sensitivity 0.9 on out-of-fold scores, the presence point the segmenter's own 0.4); the backbone
and the segmenter are the shipped ones, which trained on all three sites, so the figures are kinder
than the card's part (a), whose every part was retrained without the held-out site (hours of
training this machine does not have). The held-out site's images are then seen by the same heads
twice: as the shared 320 px copies and as stand-ins 3 times larger, which the model brings back to
the 320 px it was trained at (:mod:`featbus.model.scale`).

**What the larger images are.** STAND-INS, not originals: full-size originals of the shared sites
could not be fetched here (no internet; the one public BUSI copy found is 256 px). Each is a 320 px
copy enlarged by ``scale_invariance.stand_in`` (``cubic``: bicubic; ``block-consistent``: bicubic
with every 3 x 3 block's mean made the copy's pixel, as area-averaging a true original gives its
copy back), its mask by nearest neighbour. A stand-in holds no more detail than its copy.

Figures (:func:`site_alignment.figures`): the malignant AUC, sensitivity and specificity (benign
not called malignant) at the stored points, lesions called normal, normal scans called normal
(BUSI only: the other sites have 4 and none), each with its 95 % interval from 1000 bootstrap
resamples of the site's patients (BUSI: near-duplicate groups), seed 0; and the share of images
given the same decision at both sizes. Feature rows are cached (``--cache-dir``, shared with
``benchmarks/site_calibration.py``)::

    nice python benchmarks/stand_in_held_out.py --cache-dir /tmp/featbus_site_features

Writes ``benchmarks/results/stand_in_held_out.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "stand_in_held_out.json"
FACTOR = 3
FIGURES = ("auc", "sensitivity", "specificity", "lesions_called_normal", "normal_called_normal")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache-dir", required=True, help="the sites' feature rows, cached (site_alignment.features)")
    p.add_argument("--stand-in", default="cubic,block-consistent",
                   help="how the stand-ins are made: cubic, block-consistent, or both separated by a comma")
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("-o", "--output", default=str(RESULTS))
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import site_alignment
    import site_calibration

    from featbus.model.format import model_file
    from featbus.model.loaded import load_model

    kinds = [k.strip() for k in args.stand_in.split(",") if k.strip()]
    if bad := [k for k in kinds if k not in site_calibration.STAND_INS]:
        p.error(f"--stand-in {bad[0]!r}: one of {', '.join(site_calibration.STAND_INS)}")
    t0 = time.time()
    cache = Path(args.cache_dir)
    small = site_alignment.features(cache)
    large = {k: site_calibration.stand_in_rows(cache, FACTOR, k, {s: None for s in site_alignment.SITES})
             for k in kinds}
    head = load_model(model_file("breast-us"), warm_up=False).head
    sites = {}
    for held in site_alignment.SITES:
        others = [s for s in site_alignment.SITES if s != held]
        fitted, classes, point, _ = site_alignment.rebuild([small[s] for s in others], others, head)
        y, groups = small[held]["y"], small[held]["groups"]
        base = fitted.predict_proba(small[held]["X"])
        rows = {"320 px (shared copies)": site_alignment.figures(point, base, classes, y, groups, args.n_bootstrap)}
        for k in kinds:
            big = large[k][held]
            if not (np.array_equal(big["y"], y) and np.array_equal(big["groups"], groups)):
                raise RuntimeError(f"{cache}: the {k} stand-ins of {held} are not its images in order")
            proba = fitted.predict_proba(big["X"])
            row = site_alignment.figures(point, proba, classes, y, groups, args.n_bootstrap)
            row["same_decision"] = float(np.mean(point.decide(proba, classes) == point.decide(base, classes)))
            rows[f"{320 * FACTOR} px ({k} {FACTOR}x stand-in)"] = row
        sites[held] = {"trained_on": others, "n_images": int(y.size), "n_patients": int(np.unique(groups).size),
                       "counts": {c: int(np.sum(y == c)) for c in sorted(set(y))}, "point": point.to_record(),
                       "rows": rows}
        print(f"{held}: heads rebuilt on {', '.join(others)}, judged at both sizes ({time.time() - t0:.0f} s)",
              flush=True)
    results = {"about": __doc__.split("\n\n")[0].replace("\n", " "),
               "command": f"python benchmarks/stand_in_held_out.py --cache-dir DIR --stand-in {','.join(kinds)} "
                          f"--n-bootstrap {args.n_bootstrap}",
               "model": "breast-us heads rebuilt without the held-out site (site_alignment.rebuild on the other two "
                        "sites' 320 px copies); shipped backbone and segmenter (trained on all three sites)",
               "images": f"320 px: the shared copies; {320 * FACTOR} px: STAND-INS, the copies enlarged {FACTOR} "
                         "times, not originals (none could be fetched here)",
               "figures": "[value, low, high]: 95 % bootstrap interval over the site's patients, seed 0",
               "n_bootstrap": args.n_bootstrap, "software": site_calibration.software(), "sites": sites}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    from featbus.io import write_file  # the one write-then-rename

    write_file(out, json.dumps(results, indent=1) + "\n")
    for held, s in sites.items():
        for size, row in s["rows"].items():
            cells = " ".join(f"{f} {row[f][0]:.3f} [{row[f][1]:.2f}, {row[f][2]:.2f}]" for f in FIGURES if f in row)
            same = f" same decision {row['same_decision']:.3f}" if "same_decision" in row else ""
            print(f"{held:<19} {size:<34} {cells}{same}")
    print(f"wrote {out} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
