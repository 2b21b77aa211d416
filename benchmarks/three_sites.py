"""Will a model work at a hospital it never saw? Leave one of the three shared ultrasound sites out.

Issue 53's benchmark. Sites: ``../shared/data/busi`` (BUSI, Egypt; near-duplicate groups),
``../shared/data/bus-bra`` (BUS-BRA's GE Logiq 5 part, Brazil; patients) and
``../shared/data/breast-lesions-usg`` (BrEaST-Lesions-USG, Poland; patients). For each held-out
site, every row is trained without a single image of it (backbone included) and measured on all
of its images:

* ``handcrafted``: HOG + LBP + intensity -> SVM (the ``handcrafted`` recipe), on the other two sites;
* ``frozen-imagenet``: ImageNet EfficientNet-Lite0 features (``-f efficientnet_lite0``) -> SVM,
  on the other two sites;
* ``frozen-breast-us``: the same with the ``breast-us`` backbone rebuilt WITHOUT the held-out site
  (``scripts/train_breast_us.py --hold-out SITE``), on the other two sites;
* ``frozen-breast-us, BUSI only``: those features -> SVM trained on BUSI alone (held-out sites other
  than BUSI);
* ``default recipe, two sites``: the default recipe (EfficientNet-Lite0 fine-tuned from ImageNet,
  224 px, 12 epochs) on the other two sites: exactly how the held-out ``breast-us`` backbone is
  trained, so its predictions come from that run (``LOSO_DIR/loso_SITE.heldout.npz``);
* ``default recipe from ImageNet / from breast-us, BUSI only``: the default recipe trained on
  BUSI alone (what ``featbus train BUSI`` fits), started from ImageNet or from the ``breast-us``
  backbone rebuilt without the held-out site (held-out sites other than BUSI);
* ``... on the lesion box`` (``frozen-breast-us-box``, ``default-two-site-box``): the same two-site
  models fed the lesion's bounding box (grown by 15 % per side) that the ``breast-us`` segmenter
  rebuilt without the held-out site finds (``scripts/train_segmenter_breast_us.py --hold-out
  SITE``, ``--seg-dir``), training images and held-out images alike, the whole frame where it
  finds no lesion: what ``featbus train A B --segmenter breast-us`` fits.

Every model stores an operating point at sensitivity 0.9, chosen on held-out predictions of its
training images (feature rows: out-of-fold over duplicate-grouped folds; networks: their
validation split), never on the held-out site. Columns per held-out site: benign-vs-malignant AUC
(p(malignant) over the benign and malignant images), sensitivity and specificity (benign images)
at the stored point, and, where the site has normal images, the share the model calls normal.
Each with a 95 % interval from a bootstrap over the site's groups (patients; BUSI: near-duplicate
groups), 1000 resamples, seed 0.

Run (after the three leave-one-site-out backbones; about 40 min on 2 CPU cores)::

    for s in busi bus-bra breast-lesions-usg; do
        python scripts/train_breast_us.py --hold-out $s -o LOSO_DIR/loso_$s.npz; done
    python benchmarks/three_sites.py --loso-dir LOSO_DIR -o benchmarks/results/three_sites.json

Lesion-box rows, after the three leave-one-site-out segmenters (about 50 min more)::

    python benchmarks/three_sites.py --loso-dir LOSO_DIR --seg-dir LOSO_DIR \
        --rows frozen-breast-us-box,default-two-site-box

``--rows`` picks rows; ``--table-only`` rewrites the docs table from the JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from featbus import get_data_home

ROOT = Path(__file__).resolve().parents[1]
DATA = get_data_home()
SITES = {"busi": DATA / "busi", "bus-bra": DATA / "bus-bra", "breast-lesions-usg": DATA / "breast-lesions-usg"}
SHORT = {"busi": "BUSI", "bus-bra": "BUS-BRA", "breast-lesions-usg": "BrEaST"}
ROWS = ("handcrafted", "frozen-imagenet", "frozen-breast-us", "frozen-breast-us-box", "frozen-breast-us-busi",
        "default-two-site", "default-two-site-box", "default-busi-imagenet", "default-busi-breast-us")
LABELS = {"handcrafted": "handcrafted (HOG + LBP + intensity, SVM), two sites",
          "frozen-imagenet": "frozen ImageNet Lite0 + SVM, two sites",
          "frozen-breast-us": "frozen breast-us + SVM, two sites",
          "frozen-breast-us-box": "frozen breast-us + SVM, two sites, on the breast-us segmenter's lesion box",
          "frozen-breast-us-busi": "frozen breast-us + SVM, BUSI only",
          "default-two-site": "default recipe (fine-tuned Lite0), two sites",
          "default-two-site-box": "default recipe, two sites, on the breast-us segmenter's lesion box",
          "default-busi-imagenet": "default recipe from ImageNet, BUSI only",
          "default-busi-breast-us": "default recipe from breast-us, BUSI only"}
TABLE = ROOT / "docs" / "guide" / "three_sites_table.rst"
TARGET = 0.9


def figures(proba, classes, y, groups, threshold, n_bootstrap=1000):
    """Benign-vs-malignant AUC, sensitivity / specificity at ``threshold`` and normal called
    normal, each (value, low, high) over a group bootstrap (featbus.metrics.bootstrap)."""
    from featbus.metrics import bootstrap, decide, rank_auc

    classes = list(classes)
    j = classes.index("malignant")
    y = np.asarray(y, dtype=str)
    called = decide(proba, (j, threshold))
    normal = classes.index("normal") if "normal" in classes else None

    def stat(idx):
        yy, p, c = y[idx], proba[idx, j], called[idx]
        mal, ben, nor = yy == "malignant", yy == "benign", yy == "normal"
        out = {"auc": rank_auc(mal[mal | ben], p[mal | ben]) if mal.any() and ben.any() else np.nan,
               "sensitivity": float(np.mean(c[mal] == j)) if mal.any() else np.nan,
               "specificity": float(np.mean(c[ben] != j)) if ben.any() else np.nan}
        if (y == "normal").any():
            out["normal"] = float(np.mean(c[nor] == normal)) if nor.any() and normal is not None else np.nan
        return out

    point, ci = bootstrap(stat, np.arange(len(y)), groups=groups, n_bootstrap=n_bootstrap, random_state=0)
    return {k: (float(point[k]), float(ci[k][0]), float(ci[k][1])) for k in point}


def lite0_with(weights):
    """``-f efficientnet_lite0`` starting from a weights file (what ``--weights NAME=PATH`` gives)."""
    from featbus.pipelines import make_features

    specs = make_features(["efficientnet_lite0"]).transformer_list
    specs[0][1].set_params(weights=weights)
    return specs


def feature_row(train, test, features, op_note, segmenter=None):
    from featbus.workflows.training import train_model

    model = train_model(train, features, classifier="svm", cross_validate=False, site_cv=False, progress=False,
                        operating_point=f"sensitivity={TARGET}", segmenter=segmenter, roi_margin=0.15)
    proba = np.asarray(model.predict_proba(test.data), dtype=float)
    op = model.manifest["operating_point"]
    return proba, list(model.classes_), op["threshold"], op_note


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loso-dir", default=None, help="where loso_SITE.npz / .heldout.npz are")
    p.add_argument("--seg-dir", default=None, help="where seg_loso_SITE.keras are (the lesion-box rows)")
    p.add_argument("--rows", default=",".join(ROWS))
    p.add_argument("--sites", default=",".join(SITES), help="held-out sites")
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "three_sites.json"))
    p.add_argument("--table-only", action="store_true", help="rewrite the docs table from --output")
    args = p.parse_args(argv)
    out = Path(args.output)
    if args.table_only:
        TABLE.write_text(render_table(json.loads(out.read_text())))
        print(f"wrote {TABLE}")
        return

    from featbus import combine_sites, load_data
    from featbus.metrics import threshold_for_sensitivity
    from featbus.workflows.training import train_model

    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        p.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    loso = Path(args.loso_dir) if args.loso_dir else None
    if loso is None and any(r.startswith(("frozen-breast", "default-two", "default-busi-breast")) for r in rows):
        p.error("the breast-us and default-recipe rows need --loso-dir")
    if args.seg_dir is None and any(r.endswith("-box") for r in rows):
        p.error("the lesion-box rows need --seg-dir")
    data = {s: load_data(SITES[s]) for s in SITES}
    results = json.loads(out.read_text()) if out.is_file() else {"cells": {}}
    cache: dict = {}  # the ImageNet BUSI-only network serves every held-out site
    for held in [s.strip() for s in args.sites.split(",") if s.strip()]:
        others = [s for s in SITES if s != held]
        train = combine_sites([data[s] for s in others], names=others)
        test = data[held]
        y = np.asarray(test.target_names)[test.target]
        for row in rows:
            t0 = time.time()
            weights = None if loso is None else str(loso / f"loso_{held}.npz")
            seg = None if args.seg_dir is None else str(Path(args.seg_dir) / f"seg_loso_{held}.keras")
            if row == "handcrafted":
                proba, classes, thr, how = feature_row(train, test, ("hog", "lbp", "intensity"), "out-of-fold")
            elif row == "frozen-imagenet":
                proba, classes, thr, how = feature_row(train, test, ("efficientnet_lite0",), "out-of-fold")
            elif row == "frozen-breast-us":
                proba, classes, thr, how = feature_row(
                    train, test, lite0_with(weights), "out-of-fold")
            elif row == "frozen-breast-us-box":
                proba, classes, thr, how = feature_row(train, test, lite0_with(weights), "out-of-fold", seg)
            elif row == "default-two-site-box":
                model = train_model(train, recipe="finetuned-lite0", cross_validate=False, site_cv=False,
                                    progress=False, operating_point=f"sensitivity={TARGET}", segmenter=seg,
                                    roi_margin=0.15)
                proba, classes = np.asarray(model.predict_proba(test.data), dtype=float), list(model.classes_)
                thr, how = model.manifest["operating_point"]["threshold"], "validation split"
            elif row == "frozen-breast-us-busi":
                if held == "busi":
                    continue
                proba, classes, thr, how = feature_row(
                    data["busi"], test, lite0_with(weights), "out-of-fold")
            elif row.startswith("default-busi"):
                if held == "busi":
                    continue
                start = weights if row.endswith("breast-us") else None
                if start is None and "imagenet" in cache:
                    model = cache["imagenet"]
                else:
                    model = train_model(data["busi"], recipe="finetuned-lite0", cross_validate=False, progress=False,
                                        recipe_overrides={"weights": start} if start else None,
                                        operating_point=f"sensitivity={TARGET}")
                    if start is None:
                        cache["imagenet"] = model
                proba, classes = np.asarray(model.predict_proba(test.data), dtype=float), list(model.classes_)
                thr, how = model.manifest["operating_point"]["threshold"], "validation split"
            else:  # default-two-site: the held-out backbone's own training run
                saved = np.load(loso / f"loso_{held}.heldout.npz")
                proba, classes = saved["proba"], [str(c) for c in saved["classes"]]
                j = classes.index("malignant")
                thr = threshold_for_sensitivity(saved["val_proba"][:, j], saved["val_y"] == "malignant", TARGET)
                how = "validation split"
            cells = figures(np.asarray(proba, dtype=float), classes, y, np.asarray(test.groups), thr,
                            args.n_bootstrap)
            results["cells"].setdefault(row, {})[held] = {**cells, "threshold": thr, "chosen_on": how,
                                                           "n_images": int(len(y))}
            print(f"{held:20s} {row:24s} " + "  ".join(f"{k} {v[0]:.3f} [{v[1]:.2f}, {v[2]:.2f}]"
                                                        for k, v in cells.items())
                  + f"  ({time.time() - t0:.0f} s)", flush=True)
            results["settings"] = {"target_sensitivity": TARGET, "n_bootstrap": args.n_bootstrap, "seed": 0}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1))
    TABLE.write_text(render_table(results))
    print(f"wrote {out} and {TABLE}")


def _cell(v) -> str:
    if v is None or not np.isfinite(v[0]):
        return "n/a"
    return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]" if np.isfinite(v[1]) else f"{v[0]:.2f}"


def render_table(results: dict) -> str:
    """The guide's table (reStructuredText list-table) from the benchmark's JSON: one line per
    row and held-out site."""
    lines = [".. This table is written by benchmarks/three_sites.py from benchmarks/results/three_sites.json;",
             "   tests/test_breast_us.py checks that it matches. Do not edit by hand.", "",
             ".. list-table::", "   :header-rows: 1", "   :widths: 30 10 15 15 15 15", "",
             "   * - trained on (held-out site never seen)", "     - held out", "     - AUC benign vs malignant",
             "     - sensitivity at the stored point", "     - specificity (benign)", "     - normal called normal"]
    for row in ROWS:
        for held, cells in results.get("cells", {}).get(row, {}).items():
            lines += [f"   * - {LABELS[row]}", f"     - {SHORT[held]}", f"     - {_cell(cells.get('auc'))}",
                      f"     - {_cell(cells.get('sensitivity'))}", f"     - {_cell(cells.get('specificity'))}",
                      f"     - {_cell(cells.get('normal'))}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
