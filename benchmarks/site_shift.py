"""Will a BUSI model work at another hospital? In-domain, zero-shot, two-site and adapted, on the same folds.

Issue 42's benchmark. Two sites: ``../shared/data/busi`` (625 images, near-duplicate groups) and
``../shared/data/bus-bra`` (GE Logiq 5, 809 images of 490 patients, biopsy-proven benign or
malignant). The same splits serve every row:

* BUSI: duplicate-grouped 5 folds (:class:`featbus.DuplicateGroupKFold`, seed 0); ``--folds k``
  runs the first k of them (a network recipe costs about 15 min of 2 CPU cores per fit);
* BUS-BRA: its patients split in two halves (seed 0): an *adaptation pool* (images a site could
  give: unlabelled, or a few labelled patients, or training data for a two-site model) and
  *held-out patients* on which every BUS-BRA figure is measured.

For each fold and each arm (a way of training), a model is trained on the other BUSI folds
(plus the pool for the two-site arm) and measured on the BUSI fold (in-domain: accuracy over
three classes; malignant AUC and sensitivity, malignant against the rest) and on the held-out
BUS-BRA patients (zero-shot: malignant AUC, sensitivity and specificity at the model's own
decision). Arms (``--arms``): ``busi`` (the recipe as it is), ``scanner-shift`` (network recipes:
``augment="scanner-shift"``), ``equalize`` (per-image histogram equalisation before the model,
``preprocessing="equalize"``), ``two-site`` (BUSI's training folds + the BUS-BRA pool, united by
:func:`featbus.combine_sites`). ``--adapt`` adds, on the ``busi`` arm's model, :func:`featbus.adapt`
with the pool's unlabelled images, and the learning curve with 10, 25, 50, 100 labelled pool
patients (operating point at sensitivity 0.9 on them; a draw without a malignant patient is
redrawn).

Figures: point value over the held-out images, and a 95 % percentile interval bootstrapped over
groups (BUSI's duplicate groups, BUS-BRA's patients). With several folds, BUSI figures pool the
out-of-fold predictions; BUS-BRA figures are given per fold and their mean.

Run::

    python benchmarks/site_shift.py --recipe handcrafted --adapt              # 5 folds, about 10 min
    python benchmarks/site_shift.py --recipe finetuned-lite0 --folds 1 --arms busi,two-site,scanner-shift
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from site_adaptation import labelled_draw  # the same patient draw as the adaptation curve

from featbus import get_data_home
from featbus.datasets import subset

DATA = get_data_home()
ARMS = ("busi", "scanner-shift", "equalize", "two-site")


def figures(model, proba, y, groups, n_bootstrap):
    """Malignant AUC / sensitivity / specificity (site_figures) and the accuracy, with intervals."""
    from featbus.evaluation.sites import site_figures
    from featbus.metrics import bootstrap

    f = site_figures(model, proba, y, groups, n_bootstrap=n_bootstrap, random_state=0)
    correct = model.decide(proba) == np.asarray(y, dtype=str)
    value, ci = bootstrap(lambda c: float(np.mean(c)), correct, groups=groups, n_bootstrap=n_bootstrap, random_state=0)
    f["accuracy"] = (value, *ci)
    return f


def cell(f) -> str:
    from featbus.metrics import format_interval

    return format_interval(f[0], f[1:], missing=None)


def train(data, args, arm, seed):
    from featbus.pipelines.recipes import build_network, get_recipe
    from featbus.workflows.training import train_model

    recipe = get_recipe(args.recipe)
    kw = dict(cross_validate=False, progress=False, random_state=seed)
    if arm == "equalize":
        kw["preprocessing"] = "equalize"
    if recipe.is_network:
        net = build_network(recipe, overrides={"epochs": args.epochs, "image_size": args.image_size},
                            random_state=seed, progress=False)
        if arm == "scanner-shift":
            net.set_params(augment="scanner-shift")
        return train_model(data, network=net, **kw)
    if arm == "scanner-shift":
        raise SystemExit("the scanner-shift arm augments a network's training images: use a network recipe")
    return train_model(data, recipe=recipe.name, **kw)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="handcrafted")
    parser.add_argument("--arms", default="busi,two-site", help=f"comma-separated, of {', '.join(ARMS)}")
    parser.add_argument("--folds", type=int, default=5, help="how many of the 5 BUSI folds to run")
    parser.add_argument("--adapt", action="store_true", help="adapt the busi arm's model (unlabelled, labelled)")
    parser.add_argument("--n-labelled", default="10,25,50,100")
    parser.add_argument("--target-sensitivity", type=float, default=0.9)
    parser.add_argument("--epochs", type=int, default=None, help="network recipes: override the epochs")
    parser.add_argument("--image-size", type=int, default=None, help="network recipes: override the input size")
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--busi", default=str(DATA / "busi" / "Dataset_BUSI_with_GT"))
    parser.add_argument("--bus-bra", default=str(DATA / "bus-bra"))
    parser.add_argument("--log", default=None, help="append every figure as a JSON line to this file")
    args = parser.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    for a in arms:
        if a not in ARMS:
            parser.error(f"unknown arm {a!r}; choose from {', '.join(ARMS)}")

    from featbus import DuplicateGroupKFold, adapt, combine_sites, load_data

    t0 = time.perf_counter()
    busi, bra = load_data(args.busi), load_data(args.bus_bra)
    y_busi = np.asarray(busi.target_names)[busi.target].astype(str)
    y_bra = np.asarray(bra.target_names)[bra.target].astype(str)
    g_busi, g_bra = np.asarray(busi.groups), np.asarray(bra.groups)
    folds = list(DuplicateGroupKFold(5, shuffle=True, random_state=0).split(busi.data, busi.target, g_busi))
    patients = np.random.RandomState(0).permutation(np.unique(g_bra))
    test = np.flatnonzero(np.isin(g_bra, patients[: len(patients) // 2]))
    pool = np.flatnonzero(np.isin(g_bra, patients[len(patients) // 2:]))
    bra_test = subset(bra, test)
    print(f"recipe {args.recipe}; BUSI {len(y_busi)} images, {len(folds)} duplicate-grouped folds (running "
          f"{args.folds}); BUS-BRA {len(y_bra)} images of {len(patients)} patients: pool {len(pool)} images, "
          f"held-out {len(test)} images ({int(np.sum(y_bra[test] == 'malignant'))} malignant)", flush=True)

    log = open(args.log, "a") if args.log else None
    oof: dict[str, list] = {}
    bra_rows: dict[str, list] = {}

    def record(row, fold, where, f):
        if log:
            log.write(json.dumps({"recipe": args.recipe, "row": row, "fold": fold, "where": where,
                                  **{k: list(v) for k, v in f.items()}}) + "\n")
            log.flush()
        print(f"  fold {fold} {row:<34} {where:<8} " + "  ".join(f"{k} {cell(v)}" for k, v in f.items()), flush=True)

    def on_bra(row, model, fold):
        proba = model.predict_proba(bra_test.data)
        f = figures(model, proba, y_bra[test], g_bra[test], args.n_bootstrap)
        bra_rows.setdefault(row, []).append(f)
        record(row, fold, "bus-bra", f)

    for k, (tr, te) in enumerate(folds[: args.folds]):
        for arm in arms:
            t1 = time.perf_counter()
            train_data = subset(busi, tr)
            if arm == "two-site":
                train_data = combine_sites([train_data, subset(bra, pool)], names=["busi", "bus-bra"])
            model = train(train_data, args, arm, seed=k)
            took = time.perf_counter() - t1
            proba = model.predict_proba([busi.data[i] for i in te])
            classes = [str(c) for c in model.classes_]
            # two-site models know the same three classes (BUS-BRA adds none)
            oof.setdefault(arm, []).append((te, proba, classes, model))
            f = figures(model, proba, y_busi[te], g_busi[te], args.n_bootstrap)
            record(arm, k, "busi", f)
            on_bra(arm, model, k)
            print(f"  fold {k} {arm}: trained in {took:.0f} s ({time.perf_counter() - t0:.0f} s so far)", flush=True)
            if arm == "busi" and args.adapt:
                pool_images = [bra.data[i] for i in pool]
                on_bra("adapted, unlabelled pool", adapt(model, pool_images), k)
                rng = np.random.RandomState(k)
                for n in [int(v) for v in args.n_labelled.split(",") if v.strip()]:
                    labels = labelled_draw(rng, g_bra[pool], y_bra[pool], n)
                    m = adapt(model, pool_images, labels=labels, groups=g_bra[pool],
                              target_sensitivity=args.target_sensitivity)
                    on_bra(f"adapted, {n} labelled patients", m, k)

    print(f"\nSummary ({args.recipe}; {args.folds} of 5 BUSI folds; BUS-BRA held-out patients "
          f"{len(test)} images; {time.perf_counter() - t0:.0f} s)")
    head = (f"{'row':<34} {'BUSI accuracy':<21} {'BUSI AUC malignant':<21} {'BUS-BRA AUC malignant':<22} "
            f"{'BUS-BRA sensitivity':<21} {'BUS-BRA specificity':<21}")
    print(head)
    print("-" * len(head))
    for row, runs in bra_rows.items():
        busi_cells = ["", ""]
        if row in oof:
            te = np.concatenate([r[0] for r in oof[row]])
            proba = np.concatenate([r[1] for r in oof[row]])
            f = figures(oof[row][0][3], proba, y_busi[te], g_busi[te], args.n_bootstrap)
            busi_cells = [cell(f["accuracy"]), cell(f["auc"])]
        mean = {k: (float(np.mean([r[k][0] for r in runs])), float(np.mean([r[k][1] for r in runs])),
                    float(np.mean([r[k][2] for r in runs]))) for k in ("auc", "sensitivity", "specificity")}
        print(f"{row:<34} {busi_cells[0]:<21} {busi_cells[1]:<21} {cell(mean['auc']):<22} "
              f"{cell(mean['sensitivity']):<21} {cell(mean['specificity']):<21}")
    print("BUSI: out-of-fold predictions pooled over the folds run; BUS-BRA: mean over folds of the figure and "
          "of its interval (patients resampled)")
    if log:
        log.close()


if __name__ == "__main__":
    main()
