"""Ranking levers of the ``breast-us`` classifier, leave one site out, every trained part rebuilt (issue 67, point 4).

For each of the three shared ultrasound sites held out in turn, the backbone and the segmenter
trained without it (``scripts/train_loso_parts.sh``), every site's features computed through
them, and the heads rebuilt on the other two sites exactly as ``benchmarks/site_alignment.py``
rebuilds them (:func:`site_alignment.rebuild`: the shipped recipe's lesion classifier, seed 0).
Each lever is the same rebuild with one change, judged by the benign-vs-malignant AUC of
``p(malignant | lesion)`` on the held-out site's lesion images, beside the shipped recipe's, with
the paired difference; 95 % intervals from one bootstrap over the site's patients (BUSI:
near-duplicate groups; 1000 resamples, seed 0, the same resamples for both, so the difference
is paired). A lever is worth shipping only where the difference's interval is above 0.

* ``flips``: test-time flips: the backbone's features of the lesion box averaged with those of
  its mirror image (``DeepFeatures(tta=True)``).
* ``made-normals``: the backbone trained with normal scans made from the training sites' lesion
  images (``scripts/train_breast_us.py --hold-out HELD --normals-per-site 150 -o
  NORMALS_DIR/normals_HELD.npz``, issue 77) in place of ``loso_HELD.npz``, the segmenter unchanged
  (``--normals-dir NORMALS_DIR``).

Run (features cached in ``--cache-dir``, a few minutes per held-out site on 2 cores)::

    python benchmarks/ranking_levers.py --cache-dir CACHE --loso-dir LOSO_DIR
    python benchmarks/ranking_levers.py --cache-dir CACHE --loso-dir LOSO_DIR --levers made-normals \
        --normals-dir NORMALS_DIR -o benchmarks/results/made_normals_backbone.json

Writes ``benchmarks/results/ranking_levers.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ranking_levers.json"
LEVERS = ("flips", "made-normals")


def _scores(data: dict, held: str, head) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The held-out site's lesion images: malignant or not, p(malignant | lesion), their groups."""
    import site_alignment as sa

    from featbus.metrics import lesion_and_given

    others = [s for s in sa.SITES if s != held]
    fitted, classes, _, _ = sa.rebuild([data[s] for s in others], others, head)
    test = data[held]
    lesion = test["y"] != "normal"
    q = lesion_and_given(fitted.predict_proba(test["X"]), classes)[1]
    return test["y"][lesion] == "malignant", q[lesion], test["groups"][lesion]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache-dir", required=True, help="where the feature rows are (or will be) cached")
    p.add_argument("--loso-dir", required=True, help="where loso_SITE.npz and seg_loso_SITE.keras are")
    p.add_argument("--levers", default="flips", help=f"comma-separated, of {', '.join(LEVERS)} (default: %(default)s)")
    p.add_argument("--normals-dir", default=None, help="where normals_SITE.npz are (the made-normals lever)")
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("-o", "--output", default=str(RESULTS))
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import site_alignment as sa

    from featbus.metrics import bootstrap, rank_auc
    from featbus.model.format import model_file
    from featbus.model.loaded import load_model

    levers = [x.strip() for x in args.levers.split(",") if x.strip()]
    if unknown := [x for x in levers if x not in LEVERS]:
        p.error(f"unknown lever {unknown[0]!r}; known: {', '.join(LEVERS)}")
    if "made-normals" in levers and not args.normals_dir:
        p.error("the made-normals lever needs --normals-dir (where normals_SITE.npz are)")
    cache, loso = Path(args.cache_dir), Path(args.loso_dir)

    def lever_features(lever: str, held: str) -> dict:
        if lever == "flips":
            return sa.loso_features(cache, loso, held, tta=True)
        return sa.loso_features(cache, loso, held, backbone=Path(args.normals_dir) / f"normals_{held}.npz",
                                tag="made_normals")

    head = load_model(model_file("breast-us"), warm_up=False).head
    results = {"about": "leave one site out; " + sa.PROTOCOLS["full"] + "; benchmark/ranking_levers.py",
               "settings": {"n_bootstrap": args.n_bootstrap, "seed": 0, "levers": levers},
               "loso_parts": sa._loso_cards(loso), "sites": {}}
    print(f"{'held out':20s} {'lever':13s} {'AUC shipped recipe':22s} {'AUC with the lever':22s} difference")
    cell = lambda v: f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"  # noqa: E731
    for held in sa.SITES:
        mal, base, groups = _scores(sa.loso_features(cache, loso, held), held, head)
        results["sites"][held] = {}
        for lever in levers:
            mal2, other, _ = _scores(lever_features(lever, held), held, head)
            assert (mal == mal2).all()

            def stat(m, a, b, lever=lever):
                auc_a, auc_b = rank_auc(m, a), rank_auc(m, b)
                return {"shipped": auc_a, lever: auc_b, "difference": auc_b - auc_a}

            value, ci = bootstrap(stat, mal, base, other, groups=groups, n_bootstrap=args.n_bootstrap,
                                  random_state=0)
            row = {k: [float(value[k]), float(ci[k][0]), float(ci[k][1])] for k in value}
            row["n_lesion"], row["n_malignant"] = int(mal.size), int(mal.sum())
            results["sites"][held][lever] = row
            print(f"{held:20s} {lever:13s} {cell(row['shipped']):22s} {cell(row[lever]):22s} "
                  f"{cell(row['difference'])}", flush=True)
    verdicts = []
    for lever in levers:
        moved = [s for s, r in results["sites"].items() if r[lever]["difference"][1] > 0]
        worse = [s for s, r in results["sites"].items() if r[lever]["difference"][2] < 0]
        verdicts.append(f"{lever}: the AUC's difference is above 0 beyond its interval at "
                        + (", ".join(moved) or "no site") + " of the three held-out sites, below it at "
                        + (", ".join(worse) or "none"))
    results["verdict"] = "; ".join(verdicts)
    print(results["verdict"])
    out = Path(args.output)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
