"""Calibration that never trades cancers: ``featbus adapt breast-us CAL --labels`` on 8 patients of a
site with normal scans, judged on the site's other patients (issue 75, the calibration aim).

**The site.** Built from the shared data: BUSI's 111 normal scans (its near-duplicate groups as
the patients, 74 of them) and BUS-BRA's 809 lesion images (its ``Case`` column as the patients,
490 of them): 920 images of 564 patients, 12 % normal scans, 26 % malignant lesions.

**The model.** ``breast-us``'s heads rebuilt without BUS-BRA, exactly as
``benchmarks/site_alignment.py`` rebuilds them (the lesion classifier on BUSI's and
BrEaST-Lesions-USG's lesion images, its malignancy point at sensitivity 0.9 on their out-of-fold
scores, the presence point the segmenter's own 0.4, the reference of those out-of-fold scores), so
that BUS-BRA's lesions are new to the malignancy decision. The backbone and the segmenter are the
shipped ones, which trained on all three sites (BUSI's normal scans included): the presence scores
are kinder than at a hospital featbus never saw. Normal scans never train the lesion classifier.

**The draws.** For each seed (``--draws``): 8 patients drawn at random (whatever they hold) are
the calibration patients, labelled; the other patients are split at random in two halves: the
*unlabelled* half is given to adapt beside the 8 (a hospital's ordinary images, no label read),
the *judged* half is never seen. Adapt runs through
:func:`featbus.workflows.adaptation.calibrate_scores`, the core ``featbus adapt --labels`` calls
(both decisions aligned on every image first, then the labels move a threshold only as far as a
one-sided 95 % Clopper-Pearson bound over the labelled patients shows it safe), with the command's
defaults (``--max-lesions-normal 0.03``, the stored target 0.9, ``--n-bootstrap 1000``, seed 0).
Three rows per draw, each judged on the judged half through the figure table:

* ``stored``: the rebuilt model as it is;
* ``8 patients only``: adapt given the 8 calibration patients' images alone (too few to align:
  only the labels can move a threshold);
* ``8 labelled + unlabelled``: adapt given the 8 labelled and the unlabelled half.

Scores are computed once (``--cache-dir``, the feature rows of ``site_alignment.features``; about
8 minutes on 2 cores), then every draw works on scores. Writes
``benchmarks/results/site_calibration.json`` and prints the table::

    python benchmarks/site_calibration.py --cache-dir /tmp/featbus_site_features

**At the size hospitals store** (issue 82): ``--stand-in-scale N`` runs the same draws (the same
seeds, so the same calibration, unlabelled and judged patients) a second time with every image of
the built site (BUSI's normal scans and BUS-BRA's lesion images) replaced, before anything sees it,
by a stand-in N times larger (``benchmarks/scale_invariance.py``'s :func:`stand_in`: ``--stand-in
cubic``, bicubic; ``block-consistent``, bicubic corrected so that every N x N block averages to the
copy's pixel, as a true original does; ``cubic,block-consistent`` for both), its mask by nearest
neighbour. The model brings them to the 320 px it was trained at, as ``featbus adapt`` does. The
heads are rebuilt on the 320 px copies of BUSI's and BrEaST-Lesions-USG's lesion images either
way: only the site is at the larger size. They are STAND-INS, not originals: full-size originals of
the shared sites could not be fetched here (no internet; the one public BUSI copy found is 256 px),
and a stand-in holds no more detail than its 320 px copy. Their feature rows are cached under
``--cache-dir`` too (about 5 minutes per kind on 2 cores). The results file keeps the 320 px run in
its keys as before and adds ``stand_ins``: per kind, the same draws' rows and summary, and
``side_by_side``, each row's medians at both sizes::

    nice python benchmarks/site_calibration.py --cache-dir /tmp/featbus_site_features \
        --stand-in-scale 3 --stand-in cubic,block-consistent
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "site_calibration.json"
K = 8
#: The aims of issue 75: every draw (key, <= or >=, value); median specificity.
AIMS = (("lesions_called_normal", "<=", 0.03), ("called_normal[malignant]", "<=", 0.02),
        ("sensitivity[malignant]", ">=", 0.85))
MEDIAN_AIM = ("specificity[malignant]", ">=", 0.55)
NAMES = ("lesions_called_normal", "called_normal[malignant]", "normals_called_normal", "sensitivity[malignant]",
         "specificity[malignant]")
ROWS = ("stored", "8 patients only", "8 labelled + unlabelled")
STAND_INS = ("cubic", "block-consistent")  # scale_invariance.stand_in's enlargements


def software() -> dict:
    """The versions that compute the feature rows and the heads, for the results file: two runs on the
    same images and code gave different rows once, and neither said what it ran on."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import keras

    out = {"python": platform.python_version(), "keras_backend": keras.backend.backend()}
    for name in ("featbus", "numpy", "scikit-learn", "keras", "tensorflow", "tensorflow-cpu", "jax", "ai-edge-litert",
                 "opencv-python-headless", "opencv-python"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def stand_in_rows(cache: Path, factor: int, kind: str, parts: dict | None = None) -> dict:
    """Feature rows through the shipped model of a site's images, every image (and its mask, by nearest
    neighbour) first replaced by its stand-in ``factor`` times larger (``scale_invariance.stand_in``),
    in :func:`site_alignment.features`'s order, cached under ``CACHE/stand_in_KIND_FACTORx/``.

    ``parts``: ``{site: class or None}``, the images of one class of the site or all of them; default
    the built site, ``{"busi": "normal", "bus-bra": None}`` (BUSI's normal scans, BUS-BRA's images).
    """
    import cv2

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import site_alignment
    from scale_invariance import stand_in

    from featbus import ImageRecord, load_data
    from featbus.model.format import model_file
    from featbus.model.loaded import load_model

    folder = cache / f"stand_in_{kind}_{factor}x"
    folder.mkdir(parents=True, exist_ok=True)
    model, out = None, {}
    for site, only in (parts or {"busi": "normal", "bus-bra": None}).items():
        file = folder / (f"{site}.npz" if only is None else f"{site}_{only}.npz")
        if not file.is_file():
            model = model or load_model(model_file("breast-us"), warm_up=False)
            t0 = time.time()
            d = load_data(site_alignment.SITES[site])
            y = np.asarray(d.target_names)[d.target].astype(str)
            keep = np.arange(y.size) if only is None else np.flatnonzero(y == only)
            rows = []
            for start in range(0, keep.size, 32):  # a few stand-ins in memory at a time
                recs = []
                for i in keep[start:start + 32]:
                    r = d.data[i]
                    mask = None if r.mask is None else cv2.resize(
                        np.asarray(r.mask), (r.mask.shape[1] * factor, r.mask.shape[0] * factor),
                        interpolation=cv2.INTER_NEAREST)
                    recs.append(ImageRecord(stand_in(r.image, factor, kind), mask, r.path, dict(r.meta)))
                rows.append(np.asarray(model.transform(recs), dtype=float))
            tmp = file.with_suffix(".tmp.npz")
            np.savez(tmp, X=np.concatenate(rows), y=y[keep], groups=np.asarray(d.groups).astype(str)[keep])
            tmp.replace(file)
            print(f"{site}: features of {keep.size} {kind} {factor}x stand-ins ({time.time() - t0:.0f} s)", flush=True)
        out[site] = dict(np.load(file))
    return out


def site_scores(cache: Path, stand_ins: tuple = ()) -> dict:
    """The site's images' raw probabilities through breast-us's heads rebuilt without BUS-BRA; with
    ``stand_ins`` (``(kind, factor)`` pairs), ``"stand_in_proba"``: the same images' probabilities
    as stand-ins of each kind (:func:`stand_in_rows`), the same heads."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import site_alignment

    from featbus.model.format import model_file
    from featbus.model.loaded import load_model

    data = site_alignment.features(cache)
    head = load_model(model_file("breast-us"), warm_up=False).head
    fitted, classes, point, reference = site_alignment.rebuild([data["busi"], data["breast-lesions-usg"]],
                                                               ["busi", "breast-lesions-usg"], head)
    normal = data["busi"]["y"] == "normal"
    X = np.concatenate([data["busi"]["X"][normal], data["bus-bra"]["X"]])
    y = np.concatenate([data["busi"]["y"][normal], data["bus-bra"]["y"]])
    groups = np.concatenate([[f"busi:{g}" for g in data["busi"]["groups"][normal]],
                             [f"bus-bra:{g}" for g in data["bus-bra"]["groups"]]])
    larger = {}
    for kind, factor in stand_ins:
        rows = stand_in_rows(cache, factor, kind)
        Xs = np.concatenate([rows["busi"]["X"], rows["bus-bra"]["X"]])
        if not (np.array_equal(np.concatenate([rows["busi"]["y"], rows["bus-bra"]["y"]]), y)
                and np.array_equal(np.concatenate([[f"busi:{g}" for g in rows["busi"]["groups"]],
                                                   [f"bus-bra:{g}" for g in rows["bus-bra"]["groups"]]]), groups)):
            raise RuntimeError(f"{cache}: the {kind} {factor}x stand-ins' rows are not the site's images in order")
        larger[(kind, factor)] = np.asarray(fitted.predict_proba(Xs), dtype=float)
    return {"proba": np.asarray(fitted.predict_proba(X), dtype=float), "classes": classes, "y": y.astype(str),
            "groups": groups, "point": point, "reference": reference, "stand_in_proba": larger}


def judged(point, proba, classes, y, groups, alignment=None) -> dict:
    """The figures of ``point``'s decisions on these images, through the figure table (point values)."""
    from featbus.evaluation.figures import figures
    from featbus.metrics import Predictions

    P = alignment.apply(proba, classes) if alignment is not None else proba
    cls = np.asarray(classes, dtype=object)
    view = Predictions(y_true=np.asarray(y, dtype=object), y_pred=np.asarray(point.decide(P, classes), dtype=object),
                       scores=P, classes=cls, class_names=list(classes), groups=groups, rule=point.rule(classes),
                       positive="malignant")
    return {k: float(v) for k, v in figures(view, list(NAMES)).items()}


def one_draw(site: dict, seed: int, n_bootstrap: int) -> dict:
    """One draw: the calibration patients, the unlabelled and judged halves, the three rows."""
    from featbus.metrics import lesion_and_given
    from featbus.workflows.adaptation import calibrate_scores

    rng = np.random.default_rng(seed)
    y, groups, proba, classes = site["y"], site["groups"], site["proba"], site["classes"]
    units = np.unique(groups)
    cal_units = rng.choice(units, size=K, replace=False)
    rest = rng.permutation(np.setdiff1d(units, cal_units))
    cal, unl = np.isin(groups, cal_units), np.isin(groups, rest[: rest.size // 2])
    test = ~cal & ~unl
    p_lesion, q = lesion_and_given(proba, classes)
    settings = {"unit": "patients", "site": "the built site", "n_bootstrap": n_bootstrap, "random_state": 0}
    out = {"seed": seed, "calibration": {"n_patients": K, "n_images": int(cal.sum()),
                                         "counts": {c: int(np.sum(y[cal] == c)) for c in sorted(set(y[cal]))}},
           "n_unlabelled_images": int(unl.sum()), "n_judged_images": int(test.sum()),
           "n_judged_patients": int(np.unique(groups[test]).size), "rows": {}, "moves": {}}
    out["rows"]["stored"] = judged(site["point"], proba[test], classes, y[test], groups[test])
    for row, given in (("8 patients only", cal), ("8 labelled + unlabelled", cal | unl)):
        labels = np.where(cal, y, None)[given]
        point, al, record = calibrate_scores(p_lesion[given], q[given], labels, groups[given], stored=site["point"],
                                             reference=site["reference"], **settings)
        out["rows"][row] = judged(point, proba[test], classes, y[test], groups[test], al)
        td, align = record["two_decisions"], record["alignment"] or {}
        out["moves"][row] = {
            "presence_threshold": point.presence.threshold, "malignancy_threshold": point.threshold,
            "presence_aligned": (align.get("presence") or {}).get("threshold"),
            "presence_not_aligned_because": (align.get("presence") or {}).get("reason"),
            "malignancy_aligned": "reason" not in align, "malignancy_not_aligned_because": align.get("reason"),
            "presence_move": (td["presence"].get("move") or {}).get("text"),
            "malignancy_move": (td["malignancy"].get("move") or {}).get("text")}
    return out


def summary(draws: list[dict]) -> dict:
    """Per row: every aim held in every draw, and the median specificity."""
    out = {}
    for row in ROWS:
        cells = [d["rows"][row] for d in draws]
        held = {f"{k} {op} {v:g}": all((c[k] <= v) if op == "<=" else (c[k] >= v)
                                       for c in cells if np.isfinite(c[k])) for k, op, v in AIMS}
        med = float(np.median([c[MEDIAN_AIM[0]] for c in cells]))
        held[f"median {MEDIAN_AIM[0]} {MEDIAN_AIM[1]} {MEDIAN_AIM[2]:g}"] = med >= MEDIAN_AIM[2]
        out[row] = {"aims": held, "median": {k: float(np.nanmedian([c[k] for c in cells])) for k in NAMES}}
    return out


def side_by_side(small: list[dict], large: list[dict], key: str) -> list[dict]:
    """Per row, the medians over the draws at 320 px and on the stand-ins (``"values"``), one after the
    other, then the largest absolute change of one draw between them (the same seeds: the same
    patients at both sizes)."""
    out = []
    for row in ROWS:
        for size, draws in (("320 px (shared copies)", small), (f"{key} stand-in", large)):
            out.append({"row": row, "size": size, "of": "median over the draws",
                        "values": {k: float(np.nanmedian([d["rows"][row][k] for d in draws])) for k in NAMES}})
        out.append({"row": row, "size": "both", "of": "largest absolute change of one draw",
                    "values": {k: float(np.nanmax([abs(b["rows"][row][k] - a["rows"][row][k])
                                                   for a, b in zip(small, large)])) for k in NAMES}})
    return out


def table(results: dict) -> str:
    short = {"lesions_called_normal": "LCN", "called_normal[malignant]": "MCN", "normals_called_normal": "NCN",
             "sensitivity[malignant]": "sens", "specificity[malignant]": "spec"}
    lines = [f"{'seed':>4}  {'row':<24} " + " ".join(f"{short[k]:>6}" for k in NAMES)
             + "  thresholds (presence, malignancy)"]
    for d in results["draws"]:
        for row in ROWS:
            c = d["rows"][row]
            m = d["moves"].get(row, {})
            th = (f"{m['presence_threshold']:.4g}, {m['malignancy_threshold']:.3g}" if m else
                  f"{results['stored_point']['presence']['threshold']:.4g}, {results['stored_point']['threshold']:.3g}")
            lines.append(f"{d['seed']:>4}  {row:<24} " + " ".join(f"{c[k]:>6.3f}" for k in NAMES) + f"  {th}")
    lines.append("LCN lesions called normal, MCN malignant called normal, NCN normal scans called normal, sens/spec "
                 "malignant vs the rest (benign and normal), on the judged half")
    for row, s in results["summary"].items():
        lines.append(f"{row}: " + "; ".join(f"{k}: {'held' if ok else 'NOT held'}" for k, ok in s["aims"].items()))
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache-dir", required=True, help="the sites' feature rows (site_alignment.features), cached")
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--stand-in-scale", type=int, default=1,
                   help="also run the same draws with every image of the site a stand-in this many times larger "
                        "(1: the 320 px copies only)")
    p.add_argument("--stand-in", default="cubic",
                   help="how the stand-ins are made: cubic, block-consistent, or both separated by a comma")
    p.add_argument("-o", "--output", default=str(RESULTS))
    args = p.parse_args(argv)
    kinds = [k.strip() for k in args.stand_in.split(",") if k.strip()]
    if args.stand_in_scale < 1:
        p.error(f"--stand-in-scale {args.stand_in_scale}: a factor of at least 1")
    if bad := [k for k in kinds if k not in STAND_INS]:
        p.error(f"--stand-in {bad[0]!r}: one of {', '.join(STAND_INS)}")
    stand_ins = tuple((k, args.stand_in_scale) for k in kinds) if args.stand_in_scale > 1 else ()
    t0 = time.time()
    site = site_scores(Path(args.cache_dir), stand_ins)
    print(f"scores of {site['y'].size} images of {np.unique(site['groups']).size} patients "
          f"({time.time() - t0:.0f} s)", flush=True)
    draws = []
    for seed in range(args.draws):
        t1 = time.time()
        draws.append(one_draw(site, seed, args.n_bootstrap))
        print(f"draw {seed} ({time.time() - t1:.0f} s)", flush=True)
    y = site["y"]
    larger = {}
    for (kind, factor), proba in site["stand_in_proba"].items():
        t1 = time.time()
        sized = [one_draw({**site, "proba": proba}, seed, args.n_bootstrap) for seed in range(args.draws)]
        larger[f"{kind} {factor}x"] = {
            "images": f"every image of the site a {kind} stand-in {factor} times larger ({320 * factor} px on the "
                      "longer side for a 320 px copy), brought back to 320 px by the model; NOT originals",
            "draws": sized, "summary": summary(sized), "side_by_side": side_by_side(draws, sized, f"{kind} {factor}x")}
        print(f"{kind} {factor}x: {args.draws} draws ({time.time() - t1:.0f} s)", flush=True)
    command = (f"python benchmarks/site_calibration.py --cache-dir DIR --draws {args.draws} "
               f"--n-bootstrap {args.n_bootstrap}")
    if stand_ins:
        command += f" --stand-in-scale {args.stand_in_scale} --stand-in {','.join(kinds)}"
    results = {"about": __doc__.split("\n\n")[0], "command": command,
               "site": {"n_images": int(y.size), "n_patients": int(np.unique(site["groups"]).size),
                        "counts": {c: int(np.sum(y == c)) for c in sorted(set(y))},
                        "built": "BUSI's normal scans (near-duplicate groups as patients) + BUS-BRA's lesion images "
                                 "(Case as patients)"},
               "model": "breast-us heads rebuilt without BUS-BRA (site_alignment.rebuild on BUSI and BrEaST); "
                        "shipped backbone and segmenter (trained on all three sites)",
               "stored_point": site["point"].to_record(), "k": K, "draws": draws, "summary": summary(draws),
               "settings": {"max_lesions_normal": 0.03, "target_sensitivity": site["point"].target_sensitivity,
                            "n_bootstrap": args.n_bootstrap, "seeds": list(range(args.draws))},
               "images": "the shared 320 px copies (the keys above); stand_ins: the same draws on larger stand-ins",
               "software": software()}
    if larger:
        results["stand_ins"] = larger
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    from featbus.io import write_file  # the one write-then-rename

    write_file(out, json.dumps(results, indent=1))
    print(table(results))
    for key, run in larger.items():
        print(f"\n{key} stand-ins, the same draws:")
        print(table({**results, **run}))
        print("\n".join(f"{r['row']:<24} {r['size']:<26} " + " ".join(f"{r['values'][k]:>6.3f}" for k in NAMES)
                        + f"  {r['of']}"
                        for r in run["side_by_side"]))
    print(f"wrote {out} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
