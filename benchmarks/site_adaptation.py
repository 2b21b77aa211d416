"""Adapting a BUSI model to BUS-BRA (issue 42, item 4): zero-shot, unlabelled, and the learning curve.

A model trained on all of ``../shared/data/busi`` (the ``handcrafted`` recipe, or ``--model
FILE``) meets ``../shared/data/bus-bra`` (GE Logiq 5, 809 images of 490 patients). For each of
``--seeds`` draws, BUS-BRA's *patients* are split in two halves: an adaptation pool and held-out
patients on which every row is judged (AUC of p(malignant), and sensitivity / specificity at
the model's own decisions: the most probable class, or the operating point an adaptation with
labels stored). Rows:

* zero-shot: the BUSI model as it is (also through :func:`featbus.validate`);
* unlabelled: :func:`featbus.adapt` on the pool's images (no labels);
* n labelled patients (0, 10, 25, 50, 100) drawn from the pool: ``adapt`` with the pool's images
  and those patients' labels (Platt recalibration + operating point reaching sensitivity 0.9
  on them); ``+ standardise`` also re-estimates the feature standardisation on the pool's
  images, ``labels only`` does not (``method="none"``). n = 0 is the unlabelled row.

A draw of labelled patients without a malignant one is redrawn (the operating point needs one).
Each cell: mean over seeds (range over seeds) and the mean of the per-seed 95 % bootstrap
intervals over held-out patients.

Feature rows are computed once per image (featbus caches them in memory by content), so run
everything in one process::

    python benchmarks/site_adaptation.py                      # trains the handcrafted recipe (~2 min)
    python benchmarks/site_adaptation.py --model busi_hc.featbus
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from featbus import get_data_home
from featbus.datasets import subset

DATA = get_data_home()


def labelled_draw(rng, groups, y, n: int) -> np.ndarray:
    """The labels of ``n`` patients drawn from ``groups`` (``None`` for every other image); a
    draw without both classes is redrawn (an operating point needs a malignant patient).
    site_shift.py draws its labelled patients here too."""
    patients = np.unique(groups)
    while True:
        chosen = rng.choice(patients, size=min(n, patients.size), replace=False)
        labelled = np.isin(groups, chosen)
        if len(set(y[labelled])) > 1:
            return np.where(labelled, y, None)


def fmt(values, cis, digits=2) -> str:
    v = np.asarray(values, dtype=float)
    lo, hi = np.nanmean([c[0] for c in cis]), np.nanmean([c[1] for c in cis])
    return f"{np.nanmean(v):.{digits}f} ({np.nanmin(v):.2f}-{np.nanmax(v):.2f}) [{lo:.2f}, {hi:.2f}]"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="a BUSI .featbus model (default: train the handcrafted recipe)")
    parser.add_argument("--busi", default=str(DATA / "busi" / "Dataset_BUSI_with_GT"))
    parser.add_argument("--bus-bra", default=str(DATA / "bus-bra"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-labelled", default="0,10,25,50,100")
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--target-sensitivity", type=float, default=0.9)
    parser.add_argument("--trust", action="store_true", help="load --model with trusted=True")
    parser.add_argument("--save", default=None, help="save the trained model here (to reuse with --model)")
    args = parser.parse_args(argv)

    from featbus import adapt, load_data, validate
    from featbus.evaluation.sites import site_figures
    from featbus.metrics import format_interval
    from featbus.model import load_model
    from featbus.workflows.training import train_model

    t0 = time.perf_counter()
    if args.model:
        model = load_model(args.model, trusted=args.trust)
        made = f"loaded {args.model}"
    else:
        model = train_model(load_data(args.busi), recipe="handcrafted", cross_validate=False, progress=False,
                            source=args.busi)
        made = f"trained the handcrafted recipe on {args.busi} in {time.perf_counter() - t0:.0f} s"
        if args.save:
            model.save(args.save, overwrite=True)
    print(f"model: {model.describe().splitlines()[0]} ({made})")
    site = load_data(args.bus_bra)
    y = np.asarray(site.target_names)[np.asarray(site.target)].astype(str)
    groups = np.asarray(site.groups)
    t1 = time.perf_counter()
    model.predict_proba(site.data)  # every image's feature row, once
    counts = {str(c): int(k) for c, k in zip(*np.unique(y, return_counts=True))}
    print(f"BUS-BRA: {len(y)} images of {np.unique(groups).size} patients {counts}"
          f"; features in {time.perf_counter() - t1:.0f} s")
    curve = [int(n) for n in args.n_labelled.split(",")]
    rows: dict[str, dict[str, list]] = {}

    def add(name, m, test):
        f = site_figures(m, m.predict_proba([site.data[i] for i in test]), y[test], groups[test],
                         n_bootstrap=args.n_bootstrap, random_state=0)
        row = rows.setdefault(name, {k: [] for k in ("auc", "sensitivity", "specificity", "threshold")})
        for k in ("auc", "sensitivity", "specificity"):
            row[k].append(f[k])
        row["threshold"].append((m.manifest.get("operating_point") or {}).get("threshold", np.nan))

    patients = np.unique(groups)
    for seed in range(args.seeds):
        rng = np.random.RandomState(seed)
        order = rng.permutation(patients)
        half = len(order) // 2
        test = np.flatnonzero(np.isin(groups, order[:half]))
        pool = np.flatnonzero(np.isin(groups, order[half:]))
        if seed == 0:
            part = subset(site, test)
            part.DESCR = f"{len(test)} BUS-BRA images (groups are patients (Case))"
            v = validate(model, part, n_bootstrap=args.n_bootstrap)
            print("featbus.validate, zero-shot, seed 0 held-out patients: AUC "
                  f"{format_interval(v.figures['auc'], v.intervals['auc'], missing=None)}, sensitivity "
                  f"{format_interval(v.figures['sensitivity'], v.intervals['sensitivity'], missing=None)}")
        pool_images = [site.data[i] for i in pool]
        add("zero-shot", model, test)
        add("unlabelled (standardise)", adapt(model, pool_images), test)
        for n in curve:
            if n == 0:
                continue
            labels = labelled_draw(rng, groups[pool], y[pool], n)
            for method, name in (("standardise", "+ standardise"), ("none", "labels only")):
                m = adapt(model, pool_images, labels=labels, groups=groups[pool], method=method,
                          target_sensitivity=args.target_sensitivity)
                add(f"{n:>3} labelled patients, {name}", m, test)
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)

    print(f"\nBUSI -> BUS-BRA, {args.seeds} seeds of patient-grouped halves (adaptation pool | held-out "
          f"patients); operating point: sensitivity {args.target_sensitivity} on the labelled patients")
    print("cell: mean over seeds (range) [mean 95 % bootstrap interval over held-out patients]")
    head = f"{'row':<40} {'AUC malignant':<30} {'sensitivity':<30} {'specificity':<30} threshold"
    print(head)
    print("-" * len(head))
    order = ["zero-shot", "unlabelled (standardise)"] + [
        f"{n:>3} labelled patients, {name}" for n in curve if n for name in ("+ standardise", "labels only")]
    for name in order:
        r = rows[name]
        cells = [fmt([f[0] for f in r[k]], [f[1:] for f in r[k]]) for k in ("auc", "sensitivity", "specificity")]
        th = np.asarray(r["threshold"], dtype=float)
        print(f"{name:<40} {cells[0]:<30} {cells[1]:<30} {cells[2]:<30} "
              + (f"{np.mean(th):.3f}" if np.isfinite(th).all() else "argmax"))
    print(f"\n(0 labelled patients = the unlabelled row; total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
