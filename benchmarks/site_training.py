"""Training on two sites (issue 42, item 2): pooled and leave-one-site-out figures, with and without site balance.

BUSI (``../shared/data/busi/Dataset_BUSI_with_GT``, 3 classes, near-duplicate groups) and BUS-BRA
(``../shared/data/bus-bra``, 2 classes, patients as groups) are read with
:func:`featbus.load_data` and united with :func:`featbus.combine_sites`; a recipe (default
``handcrafted``: HOG + LBP + intensity -> RBF SVM) is trained by
:func:`featbus.workflows.training.train_model` twice on the same folds: as it is (pooled classes
unweighted, the larger site dominating) and with ``site_balance=True`` (every (site, class)
cell weighted so that the two sites weigh the same and the classes stay balanced). Each run
prints what its model file stores: the pooled duplicate-grouped cross-validation and the
leave-one-site-out figure (each site predicted by the recipe trained on the other), with
95 % intervals over groups. Feature rows are kept in ``--cache`` between runs::

    PYTHONPATH=. nice -n 5 python benchmarks/site_training.py --cache /tmp/featbus-cache
"""

from __future__ import annotations

import argparse
import time

from featbus import get_data_home

DATA = get_data_home()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busi", default=str(DATA / "busi" / "Dataset_BUSI_with_GT"))
    parser.add_argument("--bus-bra", default=str(DATA / "bus-bra"))
    parser.add_argument("--recipe", default="handcrafted")
    parser.add_argument("--n-splits", type=int, default=5)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--cache", default=None, help="feature-row cache folder (reused between runs)")
    args = parser.parse_args(argv)

    import numpy as np

    from featbus import combine_sites, load_data
    from featbus.evaluation.sites import site_cv_lines
    from featbus.workflows.training import train_model

    t0 = time.perf_counter()
    data = combine_sites([load_data(args.busi), load_data(args.bus_bra)], names=["busi", "bus-bra"])
    y = data.target_names[data.target]
    def site_text(s) -> str:
        counts = ", ".join(f"{c} {int(np.sum((data.sites == s) & (y == c)))}" for c in data.site_classes[s])
        return f"{s} {int(np.sum(data.sites == s))} ({counts}; {np.unique(data.groups[data.sites == s]).size} groups)"

    print(f"{len(y)} images: " + "; ".join(site_text(s) for s in data.site_names)
          + f"; recipe {args.recipe}, {args.n_splits}-fold duplicate-grouped CV, {args.n_bootstrap} resamples")
    for balanced in (False, True):
        t1 = time.perf_counter()
        model = train_model(data, recipe=args.recipe, n_splits=args.n_splits, n_bootstrap=args.n_bootstrap,
                            site_balance=balanced, cache=args.cache, progress=False)
        m = model.manifest
        print(f"\n=== {'site balance (site_balance=True)' if balanced else 'no balance (as featbus train does)'}"
              f" -- {time.perf_counter() - t1:.0f} s")
        if balanced:
            print(f"weight shares: sites {m['recipe']['site_balance']['sites']}, "
                  f"classes {m['recipe']['site_balance']['classes']}")
        rep = model.cv_report
        parts = []
        pairs = (("accuracy", "macro"), ("auc", "macro"), ("auc", "malignant"), ("sensitivity", "malignant"))
        for metric, cls in pairs:
            lo, hi = rep.interval(metric, cls)
            parts.append(f"{metric}[{cls}] {rep.value(metric, cls):.3f} [{lo:.2f}, {hi:.2f}]")
        print(f"pooled ({rep.cv}, both sites): " + ", ".join(parts))
        for s in data.site_names:  # the pooled CV's predictions of each site's images
            held = data.sites == s
            yt, yp = rep.y_true[held], rep.y_pred[held]
            sens = np.mean(yp[yt == "malignant"] == "malignant")
            print(f"  of which {s}: accuracy {np.mean(yt == yp):.3f}, sensitivity[malignant] {sens:.3f}")
        print("\n".join(site_cv_lines(m["site_cv"])))
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
