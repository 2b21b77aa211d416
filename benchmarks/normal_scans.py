"""Normal scans at a site never seen: breast-us's backbone trained with normal scans made in each training site's style.

Issue 77. Of the three shared ultrasound sites only BUSI has normal scans (111), so with BUSI held
out a model meets normal scans for the first time at the site it is judged on, and the presence
decision does not travel (``benchmarks/presence_score.py``: the segmenter's highest pixel calls
0.30 of BUSI's normal scans normal and 0.10 of its lesions normal at the training sites' threshold,
and none of its normal scans at the stored point). Here every lesion image of a training site
gives a lesion-free whole frame of that scanner: the lesion (grown by a margin and by its acoustic
shadow) is filled with tissue from the same frame (:func:`featbus.segmentation.negatives.
lesion_free_frame`), kept only when the fill passes a tissue check. The breast-us backbone (the
``finetuned-lite0`` recipe, benign / malignant / normal on whole frames) is trained with up to
``--normals-per-site`` such frames per training site as "normal" (a site's own normal scans count
towards it), every trained part without the held-out site::

    python scripts/train_breast_us.py --hold-out SITE --normals-per-site 150 -o LOSO_DIR/normals_SITE.npz
    python scripts/train_breast_us.py --hold-out SITE -o LOSO_DIR/plain_SITE.npz
    python benchmarks/normal_scans.py --loso-dir LOSO_DIR

(``plain``: the same recipe without the made frames, for paired differences on the same images.)

The made frames are never judged: the held-out site's real images only. For each held-out site
found in ``LOSO_DIR`` (``LEVER_SITE.heldout.npz``), with 95 % intervals from a bootstrap over
the site's near-duplicate / patient groups (1000 resamples, seed 0):

* **presence** (``p(lesion) = 1 - p(normal)``) at the threshold chosen on the training sites'
  validation images only (98 % of their lesion images called lesion): normal scans called normal,
  lesions called normal, malignant called normal; the normal-vs-lesion AUC where the site has at
  least 10 normal scans;
* **aligned without labels**: the same after :class:`featbus.model.alignment.PresenceAlignment`
  on the site's unlabelled scores (the share of lesion scans unknown; it says when it cannot be
  estimated, and the training-site threshold then stays);
* **an "uncertain" band**: images between the threshold calling 99.5 % of the validation lesion
  images lesion and the one calling 95 % of the validation normals (made and real) normal are
  "uncertain"; coverage (share decided) and the misses among the decided;
* **benign vs malignant**: the AUC of ``p(malignant) / (p(benign) + p(malignant))`` on the site's
  lesion images, and sensitivity / specificity at the validation images' 90 %-sensitivity point
  after the label-free quantile alignment (:class:`featbus.model.alignment.ScoreAlignment`).

Beside them, the figures before (the same recipe without made normals, ``three_sites.json``'s
``default-two-site`` cell, and the segmenter's presence from ``presence_score.json``). Writes
``benchmarks/results/normal_scans.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TABLE = ROOT / "docs" / "guide" / "normal_scans_table.rst"
SITE_NAMES = {"busi": "BUSI", "bus-bra": "BUS-BRA", "breast-lesions-usg": "BrEaST-Lesions-USG"}
SITES = ("busi", "bus-bra", "breast-lesions-usg")
TARGET = 0.98  # share of the training sites' validation lesion images called lesion
BAND = (0.995, 0.95)  # the uncertain band: lesions kept above its low end, normals kept below its high end
MALIGNANT_TARGET = 0.90  # the malignancy point on the validation images (three_sites.py's)
AIMS = {"normal_called_normal": 0.50, "lesions_called_normal": 0.05, "auc_malignant": 0.87,
        "sensitivity": 0.85, "specificity": 0.65}


def _cell(v, d=2) -> str:
    return "n/a" if v is None or v[0] is None or not np.isfinite(v[0]) else f"{v[0]:.{d}f} [{v[1]:.{d}f}, {v[2]:.{d}f}]"


def _interval(stat, n: int, groups, n_bootstrap: int) -> dict:
    from featbus.metrics import bootstrap

    value, ci = bootstrap(stat, np.arange(n), groups=groups, n_bootstrap=n_bootstrap, random_state=0)
    return {k: [float(value[k]), float(ci[k][0]), float(ci[k][1])] for k in value}


def presence_figures(p_lesion, y, groups, threshold: float, n_bootstrap: int) -> dict:
    """Decisions at ``threshold`` on ``p(lesion)`` (below: called normal), with intervals."""
    from featbus.metrics import rank_auc

    lesion, malignant, normal = y != "normal", y == "malignant", y == "normal"

    def stat(idx):
        called_normal = p_lesion[idx] < threshold
        out = {"lesions_called_normal": float(np.mean(called_normal[lesion[idx]])),
               "malignant_called_normal": float(np.mean(called_normal[malignant[idx]]))
               if malignant[idx].any() else float("nan")}
        if normal.sum() >= 10:
            nor = normal[idx]
            out["normal_called_normal"] = float(np.mean(called_normal[nor])) if nor.any() else float("nan")
            out["auc"] = rank_auc(lesion[idx], p_lesion[idx])
        return out

    return {**_interval(stat, len(y), groups, n_bootstrap), "threshold": float(threshold)}


def band_figures(p_lesion, y, groups, low: float, high: float, n_bootstrap: int) -> dict:
    """The uncertain band ``[low, high)``: coverage and misses among the images decided."""
    lesion, normal = y != "normal", y == "normal"

    def stat(idx):
        s, les = p_lesion[idx], lesion[idx]
        decided = (s < low) | (s >= high)
        out = {"coverage": float(np.mean(decided)),
               "lesion_coverage": float(np.mean(decided[les])),
               "lesions_called_normal": float(np.mean(s[les] < low))}
        if normal.sum() >= 10:
            nor = normal[idx]
            out["normal_coverage"] = float(np.mean(decided[nor])) if nor.any() else float("nan")
            out["normal_called_normal"] = float(np.mean(s[nor] < low)) if nor.any() else float("nan")
        return out

    return {**_interval(stat, len(y), groups, n_bootstrap), "low": float(low), "high": float(high)}


def held_out_scores(z) -> dict:
    """The scores in one ``.heldout.npz``: ``p(lesion) = 1 - p(normal)`` and ``p(malignant | lesion)
    = p(malignant) / (p(benign) + p(malignant))`` of the held-out site's images and of the training
    sites' validation images, and the presence threshold chosen on the latter (:data:`TARGET`)."""
    from featbus.metrics import threshold_for_sensitivity

    classes = [str(c) for c in z["classes"]]
    inor, ib, im = (classes.index(c) for c in ("normal", "benign", "malignant"))

    def given(proba):
        return proba[:, im] / np.maximum(proba[:, ib] + proba[:, im], 1e-12)

    val_y = z["val_y"].astype(str)
    val_p = 1 - z["val_proba"][:, inor]
    return {"y": z["y"].astype(str), "groups": z["groups"].astype(str), "p_lesion": 1 - z["proba"][:, inor],
            "given": given(z["proba"]), "val_y": val_y, "val_p_lesion": val_p, "val_given": given(z["val_proba"]),
            "threshold": threshold_for_sensitivity(val_p, val_y != "normal", TARGET)}


def malignancy_figures(sc: dict, n_bootstrap: int) -> dict:
    """Benign vs malignant on the held-out lesion images (``sc``: :func:`held_out_scores`): AUC, and
    the validation point after alignment."""
    from featbus.metrics import rank_auc, threshold_for_sensitivity
    from featbus.model.alignment import ScoreAlignment, ScoreReference

    y, groups = sc["y"], sc["groups"]
    les = y != "normal"
    score, yl, gl = sc["given"][les], y[les], groups[les]
    val_les = sc["val_y"] != "normal"
    val_q, val_y = sc["val_given"][val_les], sc["val_y"][val_les]
    t = threshold_for_sensitivity(val_q, val_y == "malignant", MALIGNANT_TARGET)
    ref = ScoreReference.from_scores(val_q, val_y, positive="malignant", absent="normal",
                                     source=f"{len(val_q)} validation lesion images of the training sites")
    aligned = ScoreAlignment.fit(score, ref).map(score)

    def stat(idx):
        m = yl[idx] == "malignant"
        out = {"auc": rank_auc(m, score[idx])}
        for tag, s in (("stored", score[idx]), ("aligned", aligned[idx])):
            out[f"sensitivity_{tag}"] = float(np.mean(s[m] >= t))
            out[f"specificity_{tag}"] = float(np.mean(s[~m] < t))
        return out

    return {**_interval(stat, len(yl), gl, n_bootstrap), "threshold": float(t), "n_lesion": int(les.sum())}


def judge_site(path: Path, n_bootstrap: int) -> dict:
    """Every figure of one held-out site from its ``.heldout.npz``."""
    from featbus.metrics import threshold_for_sensitivity
    from featbus.model.alignment import PresenceAlignment

    z = np.load(path)
    sc = held_out_scores(z)
    p_lesion, y, groups, val_p, t = sc["p_lesion"], sc["y"], sc["groups"], sc["val_p_lesion"], sc["threshold"]
    val_lesion = sc["val_y"] != "normal"
    made = z["val_made"].astype(bool) if "val_made" in z.files else np.zeros(len(val_lesion), bool)
    out = {"n_images": int(len(y)), "n_normal": int((y == "normal").sum()),
           "validation": {"lesion": int(val_lesion.sum()), "normal_made": int((made & ~val_lesion).sum()),
                          "normal_real": int((~made & ~val_lesion).sum()),
                          # made and real normal scans apart: a model that learnt the fill calls the made ones
                          # normal and the real ones not
                          "made_called_normal": float(np.mean(val_p[made & ~val_lesion] < t))
                          if (made & ~val_lesion).any() else None,
                          "real_called_normal": float(np.mean(val_p[~made & ~val_lesion] < t))
                          if (~made & ~val_lesion).any() else None},
           "training_sites": presence_figures(p_lesion, y, groups, t, n_bootstrap)}
    al = PresenceAlignment.fit(p_lesion, stored_threshold=t, stored_sensitivity=TARGET)
    out["aligned"] = ({**presence_figures(p_lesion, y, groups, al.threshold, n_bootstrap),
                       "normal_share_estimated": al.normal_share} if al.estimated
                      else {"not_estimated": al.reason, "threshold": float(t)})
    low = threshold_for_sensitivity(val_p, val_lesion, BAND[0])
    high = float(np.quantile(val_p[~val_lesion], BAND[1])) if (~val_lesion).sum() >= 10 else None
    out["band"] = (band_figures(p_lesion, y, groups, low, high, n_bootstrap) if high is not None and high > low
                   else {"none": "the validation normals' 95 % point lies below the lesions' 99.5 % point",
                         "low": float(low), "high": high})
    out["malignancy"] = malignancy_figures(sc, n_bootstrap)
    card = path.with_name(path.name.replace(".heldout.npz", ".json"))
    if card.is_file():
        c = json.loads(card.read_text())
        out["training"] = {k: c.get(k) for k in ("sites", "n_images", "lesion_free_frames", "wall_minutes",
                                                 "cpu_minutes", "machine")}
    return out


def before_figures() -> dict:
    """The figures before, from the results files that hold them (same recipe without made normals)."""
    before = {}
    three = RESULTS / "three_sites.json"
    if three.is_file():
        cells = json.loads(three.read_text())["cells"].get("default-two-site", {})
        for site, c in cells.items():
            before[site] = {"auc_malignant": c.get("auc"), "normal_called_normal_argmax": c.get("normal")}
    align = RESULTS / "site_alignment.json"
    if align.is_file():  # the v2 classifier at its stored points, every part rebuilt (the card's part (a))
        for site, c in json.loads(align.read_text())["sites"].items():
            row = c["rows"].get("stored points", {})
            before.setdefault(site, {})["classifier_stored"] = {
                k: row.get(k) for k in ("auc", "sensitivity", "specificity", "lesions_called_normal")}
    pres = RESULTS / "presence_score.json"
    if pres.is_file():
        c = json.loads(pres.read_text())["cells"]
        before.setdefault("busi", {})["segmenter_presence"] = {
            k: {f: c[k][f] for f in ("auc", "normal_called_normal", "lesions_called_normal", "threshold")}
            for k in ("today/max", "today/max@stored", "today/blob_mean") if k in c}
    return before


LEVERS = {"normals": "lesion-free frames of each training site as normal (``--normals-per-site 150``)",
          "normals400": "more of them: ``--normals-per-site 400`` (a site with fewer passing fills gives what it has)",
          "plain": "the same recipe without them (the v2 backbone's recipe)"}


def paired_difference(a: Path, b: Path, n_bootstrap: int) -> dict:
    """Lever ``a`` minus lever ``b`` on one held-out site, each at its own training-site
    threshold, over the same resamples: normal scans and lesions called normal, malignancy AUC."""
    from featbus.metrics import rank_auc

    sa, sb = held_out_scores(np.load(a)), held_out_scores(np.load(b))
    y, groups = sa["y"], sa["groups"]
    if not np.array_equal(y, sb["y"]):
        raise SystemExit(f"{a.name} and {b.name} judge different images")
    (pa, ta, qa), (pb, tb, qb) = ((x["p_lesion"], x["threshold"], x["given"]) for x in (sa, sb))
    lesion, normal = y != "normal", y == "normal"

    def stat(idx):
        les, nor = lesion[idx], normal[idx]
        out = {"lesions_called_normal": float(np.mean(pa[idx][les] < ta) - np.mean(pb[idx][les] < tb))}
        m = y[idx][les] == "malignant"
        out["auc_malignant"] = rank_auc(m, qa[idx][les]) - rank_auc(m, qb[idx][les])
        if normal.sum() >= 10 and nor.any():
            out["normal_called_normal"] = float(np.mean(pa[idx][nor] < ta) - np.mean(pb[idx][nor] < tb))
            out["auc_presence"] = rank_auc(les, pa[idx]) - rank_auc(les, pb[idx])
        return out

    return _interval(stat, len(y), groups, n_bootstrap)


def _row(cells: list[str]) -> str:
    return "   * - " + "\n     - ".join(cells)


def render_table(results: dict) -> str:
    """The docs page's tables (``docs/guide/normal_scans_table.rst``) from the results file."""
    head = (".. Written by benchmarks/normal_scans.py from benchmarks/results/normal_scans.json;\n"
            "   tests/test_normal_scans.py checks that they match. Do not edit by hand.\n\n")
    t = results["target_sensitivity_training_sites"]
    lines = [head + f"Presence at the held-out site, at the threshold chosen on the training sites' validation images "
             f"({t:.0%} of their lesion images called lesion); every trained part rebuilt without the held-out site; "
             "95 % intervals over the site's patients (BUSI: near-duplicate groups), "
             f"{results['settings']['n_bootstrap']} resamples. Normal scans are judged only where a site has at "
             "least 10 (BUSI's 111); the made frames are never judged. Last column: the training sites' validation "
             "normal scans called normal, made / real (a model that learnt the fill calls the made ones normal and "
             "the real ones not):\n",
             ".. list-table::\n   :header-rows: 1\n   :widths: 14 24 14 14 14 14 14 12\n",
             _row(["held out", "presence from", "normal scans called normal", "lesions called normal",
                   "malignant called normal", "AUC normal vs lesion", "AUC benign vs malignant",
                   "validation made / real"])]
    before = results.get("before", {})
    for site in SITES:
        seg = before.get(site, {}).get("segmenter_presence", {})
        for key, words in (("today/max@stored", "v2: the segmenter's highest pixel, stored point"),
                           ("today/max", "v2: the segmenter's highest pixel, training sites' threshold")):
            if key in seg:
                c = seg[key]
                lines.append(_row([SITE_NAMES[site], words + " (benchmarks/presence_score.py)",
                                   _cell(c["normal_called_normal"]), _cell(c["lesions_called_normal"]), "n/a",
                                   _cell(c["auc"], 3), "n/a", "n/a"]))
        v2 = before.get(site, {}).get("classifier_stored")
        if v2:
            lines.append(_row([SITE_NAMES[site], "v2 classifier at its stored points (the card's part (a), "
                               "benchmarks/site_alignment.py)", "n/a", _cell(v2["lesions_called_normal"]), "n/a",
                               "n/a", _cell(v2["auc"], 3), "n/a"]))
        for lever, words in LEVERS.items():
            c = results["cells"].get(lever, {}).get(site)
            if c is None:
                continue
            f, v = c["training_sites"], c["validation"]
            val = " / ".join("n/a" if v[k] is None else f"{v[k]:.2f}"
                             for k in ("made_called_normal", "real_called_normal"))
            lines.append(_row([SITE_NAMES[site], f"the backbone's p(normal): {lever}, {words}",
                               _cell(f.get("normal_called_normal")), _cell(f["lesions_called_normal"]),
                               _cell(f["malignant_called_normal"]), _cell(f.get("auc"), 3),
                               _cell(c["malignancy"]["auc"], 3), val]))
    lines.append("\nPaired differences from ``plain`` (the same images and resamples, each at its own threshold):\n")
    lines.append(".. list-table::\n   :header-rows: 1\n   :widths: 30 18 18 18 18\n")
    lines.append(_row(["lever / held out", "normal scans called normal", "lesions called normal",
                       "AUC normal vs lesion", "AUC benign vs malignant"]))
    for key, d in results.get("minus_plain", {}).items():
        lever, site = key.split(" / ")
        lines.append(_row([f"{lever} / {SITE_NAMES[site]}", _cell(d.get("normal_called_normal")),
                           _cell(d["lesions_called_normal"]), _cell(d.get("auc_presence"), 3),
                           _cell(d["auc_malignant"], 3)]))
    lines.append("\nThe presence threshold aligned without labels (``PresenceAlignment``), the uncertain band "
                 f"(between {BAND[0]:.1%} of the validation lesion images called lesion and {BAND[1]:.0%} of the "
                 "validation normal scans called normal), and the malignancy point (90 % sensitivity on the "
                 "validation images) after the label-free quantile alignment:\n")
    lines.append(".. list-table::\n   :header-rows: 1\n   :widths: 24 30 16 16 14 14\n")
    lines.append(_row(["lever / held out", "presence aligned without labels", "band: share decided",
                       "band: lesions / normal scans called normal", "aligned sensitivity", "aligned specificity"]))
    for lever in LEVERS:
        for site, c in results["cells"].get(lever, {}).items():
            a = c["aligned"]
            aligned = (f"not estimated: {a['not_estimated'].split(':')[0]}" if "not_estimated" in a else
                       f"normal scans called normal {_cell(a.get('normal_called_normal'))}, lesions called normal "
                       f"{_cell(a['lesions_called_normal'])}")
            b = c["band"]
            band = (("n/a", "no band") if "coverage" not in b else
                    (_cell(b["coverage"]),
                     f"{_cell(b['lesions_called_normal'])} / {_cell(b.get('normal_called_normal'))}"))
            m = c["malignancy"]
            lines.append(_row([f"{lever} / {SITE_NAMES[site]}", aligned, *band, _cell(m["sensitivity_aligned"]),
                               _cell(m["specificity_aligned"])]))
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loso-dir", required=True, help="where LEVER_SITE.heldout.npz are (LEVER: normals, plain)")
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("-o", "--output", default=str(RESULTS / "normal_scans.json"))
    p.add_argument("--table", default=str(TABLE), help="the docs table written from the results (default: %(default)s)")
    args = p.parse_args(argv)
    loso = Path(args.loso_dir)
    found = {(lever, s): loso / f"{lever}_{s}.heldout.npz" for lever in LEVERS for s in SITES
             if (loso / f"{lever}_{s}.heldout.npz").is_file()}
    if not found:
        raise SystemExit(f"no LEVER_SITE.heldout.npz in {loso}: run scripts/train_breast_us.py first (see --help)")
    cells = {}
    for (lever, site), path in found.items():
        cells.setdefault(lever, {})[site] = judge_site(path, args.n_bootstrap)
    paired = {f"{lever} / {site}": paired_difference(found[(lever, site)], found[("plain", site)], args.n_bootstrap)
              for lever in LEVERS if lever != "plain" for site in SITES
              if (lever, site) in found and ("plain", site) in found}
    before = before_figures()
    print(f"{'lever / held out':31s} {'normals called normal':22s} {'lesions called normal':22s} "
          f"{'malignant called normal':24s} {'AUC normal/lesion':20s}")
    for lever, by_site in cells.items():
        for site, c in by_site.items():
            name = f"{lever} / {site}"
            for tag in ("training_sites", "aligned"):
                f = c[tag]
                if "not_estimated" in f:
                    print(f"{name:23s} aligned not estimated: {f['not_estimated'][:90]}")
                    continue
                print(f"{name:23s} {tag[:7]:7s} {_cell(f.get('normal_called_normal')):22s} "
                      f"{_cell(f['lesions_called_normal']):22s} {_cell(f['malignant_called_normal']):24s} "
                      f"{_cell(f.get('auc'), 3):20s} (threshold {f['threshold']:.3g})")
            b = c["band"]
            if "coverage" in b:
                print(f"{name:23s} band    coverage {_cell(b['coverage'])}, lesions called normal "
                      f"{_cell(b['lesions_called_normal'])}, normals called normal "
                      f"{_cell(b.get('normal_called_normal'))}")
            m = c["malignancy"]
            was = before.get(site, {}).get("auc_malignant")
            print(f"{name:23s} benign/malignant AUC {_cell(m['auc'], 3)} (three_sites.json: {_cell(was, 3)}); "
                  f"aligned sensitivity {_cell(m['sensitivity_aligned'])} "
                  f"specificity {_cell(m['specificity_aligned'])}")
    for key, d in paired.items():
        print(f"{key} minus plain: " + ", ".join(f"{k} {_cell(v, 3)}" for k, v in d.items()))
    results = {"aims": AIMS, "levers": LEVERS, "target_sensitivity_training_sites": TARGET, "band": BAND,
               "settings": {"n_bootstrap": args.n_bootstrap, "seed": 0},
               "command": "python benchmarks/normal_scans.py --loso-dir LOSO_DIR", "cells": cells,
               "minus_plain": paired, "before": before}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    from featbus.io import write_file  # the one write-then-rename

    write_file(out, json.dumps(results, indent=1))
    Path(args.table).write_text(render_table(results))
    print(f"wrote {out} and {args.table}")


if __name__ == "__main__":
    main()
