"""Lesions outlined at a hospital the segmenter never saw: the breast-us segmenter, leave one site out.

Issue 54's benchmark. For each of the three shared ultrasound sites (``../shared/data/busi``,
``bus-bra``, ``breast-lesions-usg``), the ``breast-us`` segmenter recipe is trained on the other
two, its encoder (the ``breast-us`` backbone) rebuilt without the held-out site too, so no trained
part has seen a single image of it::

    for s in busi bus-bra breast-lesions-usg; do
        python scripts/train_breast_us.py --hold-out $s -o LOSO_DIR/loso_$s.npz
        python scripts/train_segmenter_breast_us.py --hold-out $s --encoder-weights LOSO_DIR/loso_$s.npz \\
            -o LOSO_DIR/seg_loso_$s.keras; done
    python benchmarks/segmentation_sites.py --loso-dir LOSO_DIR

The training script saves the held-out site's lesion-probability maps (mirror-averaged, at each
image's size, in steps of 1/255); this script turns them into masks as the segmenter does (the
recipe's pixel threshold; a lesion wherever the mask is non-empty) and scores them against the
drawn masks (:func:`featbus.segmentation.metrics.segmentation_metrics`). Per held-out site:
lesion Dice (mean, median, share under 0.5), the share of lesion images given no lesion, and the
share of normal images given one, each mean with a 95 % interval from a bootstrap over the site's
groups (patients; BUSI: near-duplicate groups), 1000 resamples, seed 0. A second line per site
applies the lesion-presence decision ``UNetSegmenter(presence="auto")`` would calibrate on the
training sites' validation images (:mod:`featbus.segmentation.presence`), to show whether such a
decision travels to a site it never saw.

Writes ``benchmarks/results/segmentation_sites.json`` and the docs table
``docs/guide/segmentation_sites_table.rst`` (``--table-only`` rewrites the table from the JSON).
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np

from featbus import get_data_home

ROOT = Path(__file__).resolve().parents[1]
DATA = get_data_home()
SITES = {"busi": DATA / "busi", "bus-bra": DATA / "bus-bra", "breast-lesions-usg": DATA / "breast-lesions-usg"}
SHORT = {"busi": "BUSI", "bus-bra": "BUS-BRA", "breast-lesions-usg": "BrEaST"}
TABLE = ROOT / "docs" / "guide" / "segmentation_sites_table.rst"


def score(gt_masks, predicted, groups, n_bootstrap: int) -> dict:
    """The site's figures of ``predicted`` against ``gt_masks`` (value, low, high each)."""
    from featbus.segmentation.metrics import segmentation_metrics, summarize_segmentation

    table = segmentation_metrics(gt_masks, predicted)
    summary = summarize_segmentation(table, groups, n_bootstrap=n_bootstrap, random_state=0)
    les, nor = summary["lesion"], summary["normal"]
    out = {"n_lesion": les["n"], "n_normal": nor["n"],
           "dice": [les["dice"]["mean"], *les["dice"]["ci"]], "dice_median": les["dice"]["median"],
           "dice_below_half": [les["dice_below_half"]["value"], *les["dice_below_half"]["ci"]],
           "lesion_given_none": [les["missed_share"]["value"], *les["missed_share"]["ci"]],
           "hd95": [les["hd95"]["mean"], *les["hd95"]["ci"]]}
    if nor["n"]:
        out["normal_given_lesion"] = [nor["given_lesion"]["value"], *nor["given_lesion"]["ci"]]
    return out


def _training_sites_presence(seg, held: str) -> dict:
    """The presence decision fitted on the validation images of ``seg``'s training sites (the
    other two, united in the training script's order)."""
    from featbus import combine_sites, load_data

    names = [s for s in SITES if s != held]
    data = combine_sites([load_data(SITES[n]) for n in names], names=names)
    xs, ys, _ = seg._prepare([data.data[i] for i in seg.validation_indices_], None)
    return seg._fit_presence(xs, ys)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loso-dir", help="where seg_loso_SITE.keras and .heldout.npz are")
    p.add_argument("--sites", default=",".join(SITES), help="held-out sites")
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "segmentation_sites.json"))
    p.add_argument("--table-only", action="store_true", help="rewrite the docs table from --output")
    args = p.parse_args(argv)
    out = Path(args.output)
    if args.table_only:
        TABLE.write_text(render_table(json.loads(out.read_text())))
        print(f"wrote {TABLE}")
        return
    if not args.loso_dir:
        p.error("--loso-dir is needed (or --table-only)")

    from featbus import UNetSegmenter, load_data

    loso = Path(args.loso_dir)
    results = json.loads(out.read_text()) if out.is_file() else {"cells": {}}
    for held in [s.strip() for s in args.sites.split(",") if s.strip()]:
        seg = UNetSegmenter.load(loso / f"seg_loso_{held}.keras")
        saved = np.load(loso / f"seg_loso_{held}.heldout.npz")
        data = load_data(SITES[held])
        if [str(x) for x in saved["paths"]] != [str(x) for x in data.paths]:
            raise SystemExit(f"{held}: the saved maps are of other images than {SITES[held]} holds now")
        maps = [saved[f"map{i}"].astype(np.float32) / 255 for i in range(len(data.paths))]
        gt = [r.mask if r.mask is not None else np.zeros(r.image.shape[:2], bool) for r in data.data]
        groups = np.asarray(data.groups)
        calibrated = copy.copy(seg)
        calibrated.set_params(presence="auto")
        calibrated.presence_ = _training_sites_presence(calibrated, held)
        cells = {"shipped_rule": score(gt, seg.masks_from_maps(maps), groups, args.n_bootstrap),
                 "calibrated": score(gt, calibrated.masks_from_maps(maps), groups, args.n_bootstrap),
                 "rule": {k: v for k, v in seg.presence_.items() if k != "features"},
                 "calibrated_presence": {k: v for k, v in calibrated.presence_.items() if k != "features"},
                 "trained_on": seg.n_train_ + seg.n_val_}
        results["cells"][held] = cells
        for key, what in (("shipped_rule", "the recipe's rule"), ("calibrated", "presence calibrated at training")):
            c = cells[key]
            print(f"{SHORT[held]:8s} {what}: lesion Dice {_cell(c['dice'], 3)}, median {c['dice_median']:.3f}, "
                  f"< 0.5 {_cell(c['dice_below_half'], 3)}, given none {_cell(c['lesion_given_none'], 3)}"
                  + (f", normal given a lesion {_cell(c['normal_given_lesion'], 3)} of {c['n_normal']}"
                     if "normal_given_lesion" in c else ""), flush=True)
    results["settings"] = {"n_bootstrap": args.n_bootstrap, "seed": 0}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    TABLE.write_text(render_table(results))
    print(f"wrote {out} and {TABLE}")


def _cell(v, digits: int = 2) -> str:
    if v is None or not np.isfinite(v[0]):
        return "n/a"
    return f"{v[0]:.{digits}f} [{v[1]:.{digits}f}, {v[2]:.{digits}f}]" if np.isfinite(v[1]) else f"{v[0]:.{digits}f}"


def render_table(results: dict) -> str:
    """The card's table (reStructuredText list-table) from the benchmark's JSON: one line per
    held-out site, with and without the presence decision."""
    lines = [".. This table is written by benchmarks/segmentation_sites.py from",
             "   benchmarks/results/segmentation_sites.json; tests/test_breast_us_segmenter.py checks that it",
             "   matches.", "",
             ".. list-table::", "   :header-rows: 1", "   :widths: 14 16 16 8 15 15 16", "",
             "   * - held out (never seen)", "     - masks", "     - lesion Dice, mean", "     - median",
             "     - lesion images with Dice < 0.5", "     - lesion images given no lesion",
             "     - normal images given a lesion"]
    for held, cells in results.get("cells", {}).items():
        fitted = cells.get("calibrated_presence", {})
        calibrated = ("calibrated presence" if fitted.get("method") == "logistic" else
                      f"calibrated presence: none fitted ({fitted.get('n_empty', 0)} normal scan)")
        for key, label in (("shipped_rule", "shipped rule"), ("calibrated", calibrated)):
            c = cells[key]
            normal = _cell(c.get("normal_given_lesion")) + f" (of {c['n_normal']})" if c.get("n_normal") else \
                "no normal images"
            lines += [f"   * - {SHORT[held]} ({c['n_lesion']} lesions)", f"     - {label}",
                      f"     - {_cell(c['dice'])}", f"     - {c['dice_median']:.2f}",
                      f"     - {_cell(c['dice_below_half'])}",
                      f"     - {_cell(c['lesion_given_none'])}", f"     - {normal}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
