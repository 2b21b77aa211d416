"""Out-of-domain score (issue 43, item 3): how often it flags BUSI, mammograms and another hospital.

:class:`featbus.model.domain.DomainReference` is fitted on BUSI feature rows (the union of families a
model's classifier sees, families weighted as the classifier's ``FamilyScaler`` weighs them)
and judged on:

* **held-out BUSI** (the false-flag rate): 5 folds of BUSI with near-duplicate groups kept
  whole (``featbus.load_busi``'s groups); each fold's reference is fitted (and its threshold
  cross-fitted, with the same groups) on the other folds only. Aim: about ``1 - quantile``;
* **mini-MIAS mammograms** (``mini-mias-original``: pectoral muscle and film labels intact; with
  ``--mias-cut``, also the cut copy): another modality; aim: nearly all flagged;
* **BUS-BRA** (another hospital's ultrasound, GE Logiq 5): no aim; the rate says how shifted
  it looks in these features.

The last two are scored by a reference fitted on all of BUSI. Rows: ``method`` x
``n_components`` (``+res`` is the shipped score: the distance on the principal axes combined with
the residual off them; ``axes only`` drops the residual, to show what it adds), the size of the
fitted reference in a model file (skops bytes), and its fit time.

Feature rows are computed once per image and kept in ``--cache`` (a folder) between runs::

    PYTHONPATH=. python benchmarks/out_of_domain.py                        # hog,lbp,glcm,intensity
    PYTHONPATH=. python benchmarks/out_of_domain.py --features efficientnet_lite0

``--network`` measures instead the reference a *network* model stores (``train_model`` with the
default recipe ``finetuned-lite0``, at ``--network-size`` px and ``--network-epochs`` epochs to
fit a CPU budget, printed as such): ``--network-test`` of BUSI's near-duplicate groups are held
out (one grouped split, seed 0) and never seen; the model trains on the rest, where the recipe's
own validation split (15 % of those images, whole groups) is what its threshold comes from; the
held-out BUSI images, mini-MIAS and BUS-BRA are then flagged by ``model.predict_table``. A second
row, for comparison only, takes the threshold the way a feature model does (cross-fitted on the
images the network trained on) to show why the shipped one comes from the validation images::

    PYTHONPATH=. python benchmarks/out_of_domain.py --network --network-size 128 --network-epochs 4
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from featbus import get_data_home

DATA = get_data_home()


def rows(union, data, fit: bool) -> np.ndarray:
    images = list(data.data)
    return np.asarray(union.fit_transform(images) if fit else union.transform(images), dtype=np.float64)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", default="hog,lbp,glcm,intensity")
    parser.add_argument("--busi", default=str(DATA / "busi"))
    parser.add_argument("--mias", default=str(DATA / "mini-mias-original"))
    parser.add_argument("--mias-cut", default="", help=f"also the cut mini-MIAS copy (e.g. {DATA / 'mini-mias'})")
    parser.add_argument("--bus-bra", default=str(DATA / "bus-bra"))
    parser.add_argument("--cache", default=None, help="feature-row cache folder (reused between runs)")
    parser.add_argument("--quantile", type=float, default=0.99)
    parser.add_argument("--components", default="8,16,32,64")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--network", action="store_true",
                        help="measure a network model's reference (the default recipe, reduced) instead")
    parser.add_argument("--network-size", type=int, default=128, help="the network's input size (recipe: 224)")
    parser.add_argument("--network-epochs", type=int, default=4, help="fine-tuning epochs (recipe: 12)")
    parser.add_argument("--network-test", type=float, default=0.2, help="share of BUSI's groups held out")
    args = parser.parse_args(argv)

    import warnings

    from sklearn.model_selection import GroupKFold
    from skops.io import dumps

    from featbus import load_busi, load_data
    from featbus.model.domain import DomainReference
    from featbus.pipelines import family_blocks, make_features

    t0 = time.perf_counter()
    busi = load_busi(args.busi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mini-MIAS: Info.txt lists the 202 images this copy lacks
        others = {"mini-MIAS": load_data(args.mias)}
        if args.mias_cut:
            others["mini-MIAS cut"] = load_data(args.mias_cut)
        others["BUS-BRA"] = load_data(args.bus_bra)
    if args.network:
        network_rows(args, busi, others, t0)
        return
    names = [f.strip() for f in args.features.split(",")]
    union = make_features(names, cache=args.cache, progress=False)
    X = rows(union, busi, fit=True)
    blocks = family_blocks([str(c) for c in union.get_feature_names_out()])
    ext = {k: rows(union, d, fit=False) for k, d in others.items()}
    groups = np.asarray(busi.groups)
    print(f"features {args.features}: {X.shape[1]} columns in {len(blocks)} families; BUSI {len(X)} images in "
          f"{np.unique(groups).size} near-duplicate groups; "
          + ", ".join(f"{k} {len(v)}" for k, v in ext.items()) + f" (rows in {time.perf_counter() - t0:.0f} s)")
    print(f"threshold: the {args.quantile:g} quantile of cross-fitted (grouped, {args.folds}-fold) BUSI training "
          f"distances; BUSI held out: {args.folds} grouped folds, each scored by a reference fitted on the others\n")
    widths = [max(len(k), 7) for k in ext]
    head = (f"{'method':<12} {'k':>3} {'score':<10} {'BUSI held out':>14} "
            + " ".join(f"{k:>{w}}" for k, w in zip(ext, widths)) + f" {'file KB':>8} {'fit s':>6}")
    print(head)
    print("-" * len(head))
    outer = list(GroupKFold(args.folds, shuffle=True, random_state=0).split(X, groups=groups))
    for method in ("mahalanobis", "knn"):
        for k in (int(c) for c in args.components.split(",")):
            params = dict(blocks=blocks, n_components=k, method=method, quantile=args.quantile)
            held = {"+res": np.zeros(len(X), bool), "axes only": np.zeros(len(X), bool)}
            for train, test in outer:
                got = flags(DomainReference(**params), X[train], groups[train], [X[test]])
                for label in held:
                    held[label][test] = got[label][0]
            ext_flags = flags(DomainReference(**params), X, groups, list(ext.values()))
            t1 = time.perf_counter()
            ref = DomainReference(**params).fit(X, groups=groups)
            fit_s = time.perf_counter() - t1
            # the shipped estimator flags exactly what the "+res" row counts
            assert all(np.array_equal(ref.predict(v) == -1, f) for v, f in zip(ext.values(), ext_flags["+res"]))
            size = len(dumps(ref)) / 1024
            for label in held:
                e = [float(np.mean(f)) for f in ext_flags[label]]
                tail = f"{size:>8.0f} {fit_s:>6.1f}" if label == "+res" else f"{'':>8} {'':>6}"
                print(f"{method:<12} {ref.n_components_:>3} {label:<10} {np.mean(held[label]):>14.3f} "
                      + " ".join(f"{v:>{w}.3f}" for v, w in zip(e, widths)) + f" {tail}", flush=True)
    ref = DomainReference(blocks=blocks).fit(X, groups=groups)  # what train_model stores (the defaults)
    print(f"\nout_of_domain (distance / threshold) of the defaults ({ref.method}, {ref.n_components_} axes), "
          "median [10th, 90th percentile]; BUSI: cross-fitted training images")
    scores = {"BUSI": ref.training_distances_ / ref.threshold_, **{k: ref.transform(v)[:, 0] for k, v in ext.items()}}
    for name, v in scores.items():
        q10, q50, q90 = np.percentile(v, [10, 50, 90])
        print(f"  {name:<14} {q50:7.2f} [{q10:.2f}, {q90:.2f}]")
    print(f"\n(flag rates: share of images whose distance exceeds the threshold; {time.perf_counter() - t0:.0f} s)")


def network_rows(args, busi, others, t0) -> None:
    """The ``--network`` measurement (see the module docstring)."""
    from sklearn.utils import Bunch

    from featbus.model_selection import holdout_split
    from featbus.pipelines.recipes import DEFAULT_RECIPE
    from featbus.workflows.training import train_model

    y, groups = np.asarray(busi.target), np.asarray(busi.groups)
    train, test = holdout_split(y, groups, args.network_test, 0)
    records = list(busi.data)
    part = Bunch(data=[records[i] for i in train], target=y[train], target_names=busi.target_names,
                 groups=groups[train], paths=[busi.paths[i] for i in train], DESCR="BUSI, training part")
    t1 = time.perf_counter()
    model = train_model(part, recipe=DEFAULT_RECIPE, n_bootstrap=0, progress=False,
                        recipe_overrides={"image_size": args.network_size, "epochs": args.network_epochs})
    fit_s = time.perf_counter() - t1
    entry = model.manifest["domain"]
    news = {"BUSI held out": [records[i] for i in test], **{k: list(d.data) for k, d in others.items()}}
    scores = {k: np.asarray(model.predict_table(v)["out_of_domain"], dtype=float) for k, v in news.items()}
    print(f"network: {DEFAULT_RECIPE} REDUCED to {args.network_size} px and {args.network_epochs} epochs (the recipe: "
          f"224 px, 12 epochs), trained on {len(train)} BUSI images ({fit_s:.0f} s); BUSI held out: "
          f"{len(test)} images ({args.network_test:g} of the near-duplicate groups, never seen)")
    print(f"reference: {entry['n_components']} axes of the {entry['n_features']}-column embeddings of "
          f"{entry['n_images']} images the network trained on; threshold: the {entry['quantile']:g} quantile of "
          f"{entry['n_threshold_images']} {entry['threshold_from']} images' distances"
          + (f" ({entry['caveat']})" if entry.get("caveat") else "") + "\n")
    widths = [max(len(k), 7) for k in scores]
    head = f"{'features':<44} " + " ".join(f"{k:>{w}}" for k, w in zip(scores, widths))
    print(head)
    print("-" * len(head))
    label = f"fine-tuned Lite0 ({args.network_size} px, {args.network_epochs} ep.)"
    print(f"{label:<44} " + " ".join(f"{np.mean(v > 1):>{w}.3f}" for v, w in zip(scores.values(), widths)))
    # for comparison, not shipped: the threshold cross-fitted on the images the network trained on
    from featbus.model.domain import DomainReference

    net = model.networks[0]
    seen = np.setdiff1d(np.arange(len(train)), net.validation_indices_)
    E = np.asarray(model.features.transform([part.data[i] for i in seen]), dtype=np.float64)
    crossed = DomainReference(random_state=0).fit(E, groups=part.groups[seen])
    feats = {k: np.asarray(model.features.transform(v), dtype=np.float64) for k, v in news.items()}
    label = "  same, threshold cross-fitted (trained-on)"
    print(f"{label:<44} " + " ".join(f"{np.mean(crossed.predict(v) == -1):>{w}.3f}"
                                     for v, w in zip(feats.values(), widths)))
    print("\nout_of_domain (distance / threshold), median [10th, 90th percentile]")
    for name, v in scores.items():
        q10, q50, q90 = np.percentile(v, [10, 50, 90])
        print(f"  {name:<14} {q50:7.2f} [{q10:.2f}, {q90:.2f}]  ({int(np.sum(v > 1))} of {len(v)} flagged)")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


def flags(ref, X_train, groups, news) -> dict[str, list[np.ndarray]]:
    """Flags of each matrix in ``news`` by a reference fitted on ``X_train``: the shipped score
    (``"+res"``: what ``ref.fit(X_train, groups=groups).predict(new) == -1`` gives) and the
    distance on the principal axes alone (``"axes only"``), each at the ``quantile`` of its own
    cross-fitted training distances (one pass of folds for both)."""
    from featbus.model.domain import _combine

    n = len(X_train)
    on, res = np.empty(n), np.empty(n)
    for train, test in ref._folds(n, groups):
        on[test], res[test] = ref._state(X_train[train]).parts(X_train[test])
    state = ref._state(X_train)
    k = state.components.shape[0]
    unit = float(np.median(res)) if np.median(res) > 0 else 1.0
    t_full = np.quantile(_combine(on, res, unit, k), ref.quantile)
    t_axes = np.quantile(on, ref.quantile)
    out = {"+res": [], "axes only": []}
    for new in news:
        o, r = state.parts(new)
        out["+res"].append(_combine(o, r, unit, k) > t_full)
        out["axes only"].append(o > t_axes)
    return out


if __name__ == "__main__":
    main()
