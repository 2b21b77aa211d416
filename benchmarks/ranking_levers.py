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

Run (features cached in ``--cache-dir``, a few minutes per held-out site on 2 cores)::

    python benchmarks/ranking_levers.py --cache-dir CACHE --loso-dir LOSO_DIR

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
LEVERS = ("flips",)


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
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("-o", "--output", default=str(RESULTS))
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import site_alignment as sa

    from featbus.metrics import bootstrap, rank_auc
    from featbus.model.format import model_file
    from featbus.model.loaded import load_model

    cache, loso = Path(args.cache_dir), Path(args.loso_dir)
    head = load_model(model_file("breast-us"), warm_up=False).head
    results = {"about": "leave one site out; " + sa.PROTOCOLS["full"] + "; benchmark/ranking_levers.py",
               "settings": {"n_bootstrap": args.n_bootstrap, "seed": 0, "levers": list(LEVERS)},
               "loso_parts": sa._loso_cards(loso), "sites": {}}
    print(f"{'held out':20s} {'lever':8s} {'AUC shipped recipe':22s} {'AUC with the lever':22s} difference")
    for held in sa.SITES:
        mal, base, groups = _scores(sa.loso_features(cache, loso, held), held, head)
        mal2, flips, _ = _scores(sa.loso_features(cache, loso, held, tta=True), held, head)
        assert (mal == mal2).all()

        def stat(m, a, b):
            auc_a, auc_b = rank_auc(m, a), rank_auc(m, b)
            return {"shipped": auc_a, "flips": auc_b, "difference": auc_b - auc_a}

        value, ci = bootstrap(stat, mal, base, flips, groups=groups, n_bootstrap=args.n_bootstrap, random_state=0)
        row = {k: [float(value[k]), float(ci[k][0]), float(ci[k][1])] for k in value}
        row["n_lesion"], row["n_malignant"] = int(mal.size), int(mal.sum())
        results["sites"][held] = {"flips": row}
        cell = lambda v: f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"  # noqa: E731
        print(f"{held:20s} {'flips':8s} {cell(row['shipped']):22s} {cell(row['flips']):22s} "
              f"{cell(row['difference'])}", flush=True)
    moved = [s for s, r in results["sites"].items() if r["flips"]["difference"][1] > 0]
    results["verdict"] = ("flips: the AUC's difference is above 0 beyond its interval at "
                          + (", ".join(moved) or "no site") + " of the three held-out sites")
    print(results["verdict"])
    out = Path(args.output)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
