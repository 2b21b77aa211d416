"""The ``breast-us`` classifier, leave one site out with every trained part rebuilt; then site calibration.

Issue 61's benchmark. For each of the three shared ultrasound sites (``../shared/data/busi``,
``bus-bra``, ``breast-lesions-usg``) held out in turn, the recipe of the shipped classifier
(``featbus train --recipe lesion-then-malignancy``: frozen ``breast-us`` features of the
segmenter's lesion box -> an SVM of lesion images; "is there a lesion?" by the segmenter's
lesion probability) is trained on the other two sites with the backbone AND the segmenter
rebuilt without the held-out site::

    for s in busi bus-bra breast-lesions-usg; do
        python scripts/train_breast_us.py --hold-out $s -o LOSO_DIR/loso_$s.npz
        python scripts/train_segmenter_breast_us.py --hold-out $s \\
            --encoder-weights LOSO_DIR/loso_$s.npz -o LOSO_DIR/seg_loso_$s.keras
    done
    python benchmarks/breast_us_classifier.py --loso-dir LOSO_DIR

The levers beside it, each trained the same way (``--variants``):

* ``lesion-then-malignancy``: the shipped recipe (two decisions);
* ``with-shape``: the same with the shape features of the segmenter's mask beside them;
* ``three-class``: the same features with one three-class head (benign / malignant / normal,
  "normal" learnt from the training sites' normal scans) and one operating point;
* ``mean-whole-frame`` (not shipped; AUC only): p(malignant | lesion) of the shipped recipe
  averaged with that of the whole-frame network fine-tuned without the site (the run that made
  the held-out backbone, ``loso_SITE.heldout.npz``).

Stage 1 writes every held-out image's probabilities to ``LOSO_DIR/breast_us_classifier_outputs.npz``
(``--stage predict``); stage 2 (``--stage figures``, the default runs both) computes, per held-out
site and 95 % intervals over its groups (patients; BUSI: near-duplicate groups; 1000 resamples,
seed 0):

* **before calibration**, at each model's stored points: benign-vs-malignant AUC of
  p(malignant | lesion), malignant sensitivity and benign specificity among lesion images,
  lesions called normal, normal scans called normal;
* **site calibration** (:func:`featbus.workflows.adaptation.site_points`, what ``featbus adapt MODEL SITE
  --labels`` fits): for k = 2, 4, 8, 16 labelled patients of the held-out site drawn at random
  (``--draws`` times, seed 0), both thresholds refitted on their images and the figures measured
  on the site's other patients: the median and the 5th-95th percentile over draws. The figures
  in ``benchmarks/results/breast_us_classifier.json`` were measured before ``site_points`` gained
  its guards (a threshold no better than answering one class refused, judged over a bootstrap
  of the labelled patients); this stage calls it without the bootstrap (``n_bootstrap=0``, the
  point value judges). The command as it is now is measured by ``benchmarks/site_alignment.py``
  (the heads rebuilt without the held-out site), which the classifier's card quotes.

Writes ``benchmarks/results/breast_us_classifier.json`` and the card's tables
(``docs/guide/breast_us_classifier_table.rst``); ``--table-only`` rewrites the tables from the JSON.
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
VARIANTS = ("lesion-then-malignancy", "with-shape", "three-class")
LABELS = {"lesion-then-malignancy": "shipped recipe: breast-us features of the lesion box, two decisions",
          "with-shape": "the same with shape features of the segmenter's mask",
          "three-class": "the same features, one three-class head (normal learnt from the training sites)",
          "mean-whole-frame": "shipped recipe averaged with the whole-frame fine-tuned network (not shipped)"}
RESULTS = ROOT / "benchmarks" / "results" / "breast_us_classifier.json"
TABLE = ROOT / "docs" / "guide" / "breast_us_classifier_table.rst"
TARGET = 0.9
KS = (2, 4, 8, 16)


def train_variant(variant, train, weights, seg):
    import sys

    from featbus.workflows.training import train_model

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from three_sites import lite0_with  # -f breast-us with the backbone rebuilt without the held-out site

    features = lite0_with(weights) + (["shape"] if variant == "with-shape" else [])
    return train_model(train, features, classifier="svm", segmenter=seg, two_decisions=variant != "three-class",
                       cross_validate=False, site_cv=False, progress=False, operating_point=f"sensitivity={TARGET}")


def predict(args) -> None:
    """Stage 1: train every variant without each held-out site; keep the held-out probabilities."""
    from featbus import combine_sites, load_data

    loso = Path(args.loso_dir)
    out = loso / "breast_us_classifier_outputs.npz"
    saved = dict(np.load(out, allow_pickle=False)) if out.is_file() else {}
    data = {s: load_data(SITES[s]) for s in SITES}
    for held in args.sites:
        others = [s for s in SITES if s != held]
        train = combine_sites([data[s] for s in others], names=others)
        test = data[held]
        saved[f"{held}/y"] = np.asarray(test.target_names)[test.target].astype(str)
        saved[f"{held}/groups"] = np.asarray(test.groups).astype(str)
        for variant in args.variants:
            if f"{held}/{variant}/proba" in saved and not args.redo:
                continue
            t0 = time.time()
            model = train_variant(variant, train, str(loso / f"loso_{held}.npz"), str(loso / f"seg_loso_{held}.keras"))
            proba = np.asarray(model.predict_proba(test.data), dtype=float)
            saved[f"{held}/{variant}/proba"] = proba
            saved[f"{held}/{variant}/classes"] = np.asarray(model.classes_, dtype=str)
            saved[f"{held}/{variant}/point"] = np.asarray(json.dumps(model.manifest["operating_point"]))
            np.savez(out.with_suffix(".tmp.npz"), **saved)
            out.with_suffix(".tmp.npz").replace(out)
            print(f"{held:20s} {variant:24s} trained on {len(train.target)} images, {len(test.target)} predicted "
                  f"({time.time() - t0:.0f} s)", flush=True)


def _scores(saved, held, variant):
    from featbus.metrics import OperatingPoint, lesion_and_given

    classes = [str(c) for c in saved[f"{held}/{variant}/classes"]]
    proba = saved[f"{held}/{variant}/proba"]
    p_lesion, q = lesion_and_given(proba, classes)
    return proba, classes, p_lesion, q, OperatingPoint.from_record(json.loads(str(saved[f"{held}/{variant}/point"])))


def judged(point, proba, classes, y, groups, n_bootstrap, *, auc_of=None):
    """The figures of the decisions ``point`` makes, each (value, low, high) over a group bootstrap."""
    from featbus.metrics import bootstrap, lesion_and_given, rank_auc

    called = np.asarray(point.decide(proba, classes), dtype=str)
    _, q = lesion_and_given(proba, classes)
    score = q if auc_of is None else auc_of

    def stat(idx):
        yy, c, s = y[idx], called[idx], score[idx]
        mal, ben, nor = yy == "malignant", yy == "benign", yy == "normal"
        les = mal | ben
        out = {"auc": rank_auc(mal[les], s[les]) if mal.any() and ben.any() else np.nan,
               "sensitivity": float(np.mean(c[mal] == "malignant")) if mal.any() else np.nan,
               "specificity": float(np.mean(c[ben] != "malignant")) if ben.any() else np.nan,
               "lesions_called_normal": float(np.mean(c[les] == "normal")) if les.any() else np.nan}
        if (y == "normal").sum() >= 10:
            out["normal_called_normal"] = float(np.mean(c[nor] == "normal")) if nor.any() else np.nan
        return out

    value, ci = bootstrap(stat, np.arange(len(y)), groups=groups, n_bootstrap=n_bootstrap, random_state=0)
    return {k: [float(value[k]), float(ci[k][0]), float(ci[k][1])] for k in value}


def calibration_curve(point, proba, classes, y, groups, draws, seed=0):
    """For k labelled patients drawn at random: both thresholds refitted on them
    (:func:`featbus.workflows.adaptation.site_points`), the figures on the site's other patients."""
    from featbus.metrics import lesion_and_given
    from featbus.workflows.adaptation import site_points

    p_lesion, q = lesion_and_given(proba, classes)
    rng = np.random.default_rng(seed)
    units = np.unique(groups)
    curve = {}
    for k in KS:
        rows = []
        for _ in range(draws):
            pick = rng.choice(units, size=k, replace=False)
            lab = np.isin(groups, pick)
            new, _ = site_points(p_lesion[lab], q[lab], y[lab], groups[lab], stored=point, n_bootstrap=0)
            c = np.asarray(new.decide(proba[~lab], classes), dtype=str)
            yy = y[~lab]
            mal, ben, nor = yy == "malignant", yy == "benign", yy == "normal"
            rows.append([np.mean(c[mal] == "malignant") if mal.any() else np.nan,
                         np.mean(c[ben] != "malignant") if ben.any() else np.nan,
                         np.mean(c[mal | ben] == "normal"),
                         np.mean(c[nor] == "normal") if nor.sum() >= 10 else np.nan])
        rows = np.asarray(rows, dtype=float)
        names = ("sensitivity", "specificity", "lesions_called_normal", "normal_called_normal")
        curve[str(k)] = {n: ([float(np.nanmedian(rows[:, j])), float(np.nanpercentile(rows[:, j], 5)),
                              float(np.nanpercentile(rows[:, j], 95))] if np.isfinite(rows[:, j]).any() else None)
                         for j, n in enumerate(names)}
    return curve


def figures(args) -> dict:
    """Stage 2: the table before calibration and the calibration curve, from stage 1's outputs."""
    loso = Path(args.loso_dir)
    saved = dict(np.load(loso / "breast_us_classifier_outputs.npz", allow_pickle=False))
    results = {"settings": {"target_sensitivity": TARGET, "n_bootstrap": args.n_bootstrap, "draws": args.draws,
                            "seed": 0, "ks": list(KS)}, "before": {}, "calibration": {}, "points": {}}
    for held in SITES:
        if f"{held}/y" not in saved:
            continue
        y, groups = saved[f"{held}/y"], saved[f"{held}/groups"]
        for variant in VARIANTS:
            if f"{held}/{variant}/proba" not in saved:
                continue
            proba, classes, _, q, point = _scores(saved, held, variant)
            results["before"].setdefault(variant, {})[held] = judged(point, proba, classes, y, groups,
                                                                      args.n_bootstrap)
            results["points"].setdefault(variant, {})[held] = point.to_record()
            print(f"{held:20s} {variant:24s} " + "  ".join(
                f"{k} {v[0]:.3f} [{v[1]:.2f}, {v[2]:.2f}]" for k, v in results["before"][variant][held].items()),
                flush=True)
        if f"{held}/lesion-then-malignancy/proba" in saved and (loso / f"loso_{held}.heldout.npz").is_file():
            proba, classes, _, q, point = _scores(saved, held, "lesion-then-malignancy")
            whole = np.load(loso / f"loso_{held}.heldout.npz")
            wc = [str(c) for c in whole["classes"]]
            wp = whole["proba"]
            wq = wp[:, wc.index("malignant")] / np.maximum(wp[:, wc.index("malignant")] + wp[:, wc.index("benign")],
                                                           1e-12)
            cells = judged(point, proba, classes, y, groups, args.n_bootstrap, auc_of=(q + wq) / 2)
            results["before"].setdefault("mean-whole-frame", {})[held] = {"auc": cells["auc"]}
            print(f"{held:20s} {'mean-whole-frame':24s} auc {cells['auc'][0]:.3f} [{cells['auc'][1]:.2f}, "
                  f"{cells['auc'][2]:.2f}]", flush=True)
        if f"{held}/lesion-then-malignancy/proba" in saved:
            proba, classes, _, q, point = _scores(saved, held, "lesion-then-malignancy")
            results["calibration"][held] = curve = calibration_curve(point, proba, classes, y, groups, args.draws)
            for k, cells in curve.items():
                print(f"{held:20s} calibrated on {k:>2s} patients: " + "  ".join(
                    f"{n} {v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]" for n, v in cells.items() if v), flush=True)
    return results


def _cell(v) -> str:
    if v is None or not np.isfinite(v[0]):
        return "n/a"
    return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]" if np.isfinite(v[1]) else f"{v[0]:.2f}"


def render_table(results: dict) -> str:
    """The card's two tables (reStructuredText list-tables) from the benchmark's JSON."""
    lines = [".. These tables are written by benchmarks/breast_us_classifier.py from",
             "   benchmarks/results/breast_us_classifier.json; tests/test_breast_us_classifier.py checks that",
             "   they match. Do not edit by hand.", "",
             "Leave one site out, every trained part (backbone, segmenter, heads) rebuilt without the held-out "
             "site, at the stored points (before any site calibration):", "",
             ".. list-table::", "   :header-rows: 1", "   :widths: 30 10 12 12 12 12 12", "",
             "   * - recipe (held-out site never seen)", "     - held out", "     - AUC benign vs malignant",
             "     - malignant sensitivity", "     - benign specificity", "     - lesions called normal",
             "     - normal scans called normal"]
    for variant in (*VARIANTS, "mean-whole-frame"):
        for held, cells in results.get("before", {}).get(variant, {}).items():
            lines += [f"   * - {LABELS[variant]}", f"     - {SHORT[held]}", f"     - {_cell(cells.get('auc'))}",
                      f"     - {_cell(cells.get('sensitivity'))}", f"     - {_cell(cells.get('specificity'))}",
                      f"     - {_cell(cells.get('lesions_called_normal'))}",
                      f"     - {_cell(cells.get('normal_called_normal'))}"]
    draws = results.get("settings", {}).get("draws")
    lines += ["", f"Site calibration of the shipped recipe as ``featbus adapt MODEL SITE --labels`` was **before its "
              "guards** (a refitted threshold was stored even when no better than answering one class; what the "
              "command does now is measured by ``benchmarks/site_alignment.py``, and the card quotes that): k "
              f"labelled patients of the held-out site drawn at random {draws} times, both thresholds refitted on "
              "their images, judged on the site's other patients, every trained part rebuilt without the site; "
              "median [5th, 95th percentile] over the draws (BUSI: near-duplicate groups stand for patients):", "",
              ".. list-table::", "   :header-rows: 1", "   :widths: 12 10 15 15 15 15", "",
              "   * - held out", "     - k", "     - malignant sensitivity", "     - benign specificity",
              "     - lesions called normal", "     - normal scans called normal"]
    for held, curve in results.get("calibration", {}).items():
        before = results["before"]["lesion-then-malignancy"][held]
        lines += [f"   * - {SHORT[held]}", "     - 0 (stored points)", f"     - {_cell(before.get('sensitivity'))}",
                  f"     - {_cell(before.get('specificity'))}", f"     - {_cell(before.get('lesions_called_normal'))}",
                  f"     - {_cell(before.get('normal_called_normal'))}"]
        for k, cells in curve.items():
            lines += [f"   * - {SHORT[held]}", f"     - {k}", f"     - {_cell(cells.get('sensitivity'))}",
                      f"     - {_cell(cells.get('specificity'))}",
                      f"     - {_cell(cells.get('lesions_called_normal'))}",
                      f"     - {_cell(cells.get('normal_called_normal'))}"]
    lines += ["", *aims_text(results)]
    return "\n".join(lines) + "\n"


def aims_text(results: dict) -> list[str]:
    """Issue 61's aims, each read off the tables above (met or not, with the figure)."""
    before = results.get("before", {}).get("lesion-then-malignancy", {})
    cal = results.get("calibration", {})
    out = ["Against the aims (shipped recipe; median over the draws for calibration):", ""]
    for held, f in before.items():
        auc, sens, spec = f["auc"], f["sensitivity"], f["specificity"]
        out.append(f"* {SHORT[held]}: AUC {auc[0]:.2f} ({'meets' if auc[0] >= 0.85 else 'misses'} 0.85); at the "
                   f"stored point sensitivity {sens[0]:.2f} at specificity {spec[0]:.2f} ("
                   + ("meets" if sens[0] >= 0.85 and spec[0] >= 0.60 else "misses")
                   + " sensitivity >= 0.85 at specificity >= 0.60)")
        k8 = cal.get(held, {}).get("8")
        if k8:
            nn = k8.get("normal_called_normal")
            normals = (f"normal scans called normal {nn[0]:.2f} ({'meets' if nn[0] >= 0.5 else 'misses'} 0.50)"
                       if nn else "normal scans called normal: not measurable (fewer than 10 normal scans)")
            out.append(f"  after calibration on 8 patients (before the guards): {normals}; lesions called normal "
                       f"{k8['lesions_called_normal'][0]:.2f} ("
                       + ("meets" if k8["lesions_called_normal"][0] <= 0.10 else "misses")
                       + f" 0.10); malignant sensitivity {k8['sensitivity'][0]:.2f} ("
                       + ("meets" if k8["sensitivity"][0] >= 0.85 else "misses") + " 0.85)")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loso-dir", help="where loso_SITE.npz, loso_SITE.heldout.npz and seg_loso_SITE.keras are")
    p.add_argument("--stage", choices=["predict", "figures", "both"], default="both")
    p.add_argument("--sites", default=",".join(SITES), help="held-out sites (stage predict)")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--redo", action="store_true", help="retrain variants already predicted")
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--draws", type=int, default=200)
    p.add_argument("-o", "--output", default=str(RESULTS))
    p.add_argument("--table-only", action="store_true", help="rewrite the docs tables from --output")
    args = p.parse_args(argv)
    out = Path(args.output)
    if args.table_only:
        TABLE.write_text(render_table(json.loads(out.read_text())))
        print(f"wrote {TABLE}")
        return
    if not args.loso_dir:
        p.error("--loso-dir is needed (see the module docstring)")
    args.sites = [s.strip() for s in args.sites.split(",") if s.strip()]
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = sorted(set(args.sites) - set(SITES)) + sorted(set(args.variants) - set(VARIANTS))
    if bad:
        p.error(f"unknown {bad}; sites: {', '.join(SITES)}; variants: {', '.join(VARIANTS)}")
    if args.stage in ("predict", "both"):
        predict(args)
    if args.stage in ("figures", "both"):
        results = figures(args)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
        TABLE.write_text(render_table(results))
        print(f"wrote {out} and {TABLE}")


if __name__ == "__main__":
    main()
