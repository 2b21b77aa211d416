"""Benchmark: U-Net lesion segmentation on BUSI with a near-duplicate-grouped held-out split.

Trains :class:`featbus.UNetSegmenter` (EfficientNet-Lite0 encoder, ImageNet weights) on BUSI
(Al-Dhabyani et al., Data in Brief 28:104863, 2020) and reports Dice, IoU, HD95 and mean surface
distance (with intervals over near-duplicate groups) on a held-out part that holds no
near-duplicate of a training image, overall (benign + malignant) and per class,
with the epoch count and training time. The trained model is saved for examples/busi_roi.py.

Reference: a MobileNet U-Net reaches Dice 0.8959 on BUSI with a *random* split, which lets copies
of one lesion fall on both sides; the grouped split here measures what a new lesion gets, and
``--random-split`` runs the paper-style split for a side-by-side comparison.

With ``--cv 5`` it trains one segmenter per fold of a 5-fold split (near-duplicate groups
whole, stratified by class; fold 0 is the single split above), so every image gets an
out-of-fold mask from a network that never saw it or a near-copy: Dice over all 514 lesion
images instead of about 100, and the out-of-fold masks are saved (``.oof.npz``) for
examples/busi_roi.py.

To weigh one change of a recipe quickly, ``--folds 0 --set KEY=VALUE`` trains it on fold 0 only
and ``--against OOF.npz`` prints the paired Dice difference from a saved ``--cv`` run on the same
images::

    python benchmarks/segmentation_busi.py --cv 5 --recipe default --no-budget --folds 0 \
        --set loss=bce_dice --against ~/.cache/featbus/busi_unet.oof.npz --model /tmp/probe.keras

``--rescore OOF.npz`` trains nothing: it scores a saved run's out-of-fold probabilities under
each threshold and post-processing, and with ``--ensemble OTHER.npz`` the mean of both runs'
probabilities, as an ensemble of their networks would predict.

Run from the repository root (data at ../shared/data)::

    OMP_NUM_THREADS=2 python benchmarks/segmentation_busi.py [--input-size 224] [--max-time 1200] [--cv 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from featbus import get_data_home

DEFAULT_DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"
DEFAULT_MODEL = Path.home() / ".cache" / "featbus" / "busi_unet.keras"
#: Thresholds --rescore tries on saved out-of-fold probabilities.
THRESHOLDS = (0.3, 0.4, 0.5, 0.6)


def load_busi_records(root: Path):
    """BUSI as (records with masks, class name of each, near-duplicate groups)."""
    from featbus import load_busi

    bunch = load_busi(root)
    return list(bunch.data), np.asarray(bunch.target_names)[bunch.target], np.asarray(bunch.groups)


def grouped_folds(groups: np.ndarray, names: np.ndarray, n_splits: int, seed: int, random: bool = False):
    """featbus's folds (:func:`featbus.evaluation.make_splits`): every near-duplicate group on one
    side, stratified by class; ``random=True``: plain stratified folds, the leaky split of most
    papers, for comparison."""
    from featbus.evaluation import make_splits

    cv = "stratified" if random else "duplicate-grouped"
    folds, _, _ = make_splits(np.zeros((len(names), 1)), names, cv=cv, n_splits=n_splits, groups=groups,
                              random_state=seed)
    return folds


def print_scores(truth, pred, names, title, groups=None):
    """Per subset (benign+malignant, benign, malignant): mean Dice, IoU, HD95 and mean surface
    distance (pixels) with 95 % bootstrap intervals over near-duplicate groups
    (:func:`featbus.segmentation.metrics.summarize_segmentation`); for normal images the share
    predicted empty. Returns the per-image Dice."""
    from featbus.segmentation.metrics import segmentation_metrics, summarize_segmentation

    table = segmentation_metrics(truth, pred)
    groups = np.arange(len(truth)) if groups is None else np.asarray(groups)

    def cell(entry):
        lo, hi = entry["ci"]
        return f"{entry['mean']:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else f"{entry['mean']:.3f}"

    print(f"\n{title}")
    print(f"{'subset':<18}{'n':>5}  {'Dice':<23}{'IoU':<23}{'HD95 px':<26}{'MSD px':<25}missed")
    for label, sel in [("benign+malignant", names != "normal"), ("benign", names == "benign"),
                       ("malignant", names == "malignant")]:
        if not sel.any():
            continue
        s = summarize_segmentation(table[sel].reset_index(drop=True), groups[sel], n_bootstrap=1000)["lesion"]
        print(f"{label:<18}{s['n']:>5}  {cell(s['dice']):<23}{cell(s['iou']):<23}{cell(s['hd95']):<26}"
              f"{cell(s['msd']):<25}{s['missed']}")
    normal = names == "normal"
    if normal.any():
        s = summarize_segmentation(table[normal].reset_index(drop=True), groups[normal], n_bootstrap=1000)["normal"]
        lo, hi = s["empty"]["ci"]
        print(f"{'normal: no lesion':<18}{s['n']:>5}  {s['empty']['value']:.3f} [{lo:.3f}, {hi:.3f}] "
              "(share predicted empty)")
    return table["dice"].to_numpy()


def _group_bootstrap_mean(values, groups, n=1000, seed=0):
    """95 % interval of the mean, resampling whole near-duplicate groups (featbus.metrics.bootstrap)."""
    from featbus.metrics import bootstrap

    return np.asarray(bootstrap(np.mean, np.asarray(values), groups=groups, n_bootstrap=n, random_state=seed)[1])


def _path_key(path) -> str:
    """``class/name`` of an image path: matches a saved run's images to these records even when
    the data folder sat elsewhere in that run."""
    return Path(path).parent.name + "/" + Path(path).name


def rescore(path: Path, records, names, groups, ensemble=()) -> int:
    """Score saved out-of-fold masks under every post-processing of UNetSegmenter(postprocess=) and,
    when the run saved probabilities, every threshold of THRESHOLDS: one line each, with the
    paired difference from the masks as saved. With ``ensemble`` (other runs' saved files), the
    mean of all the runs' probabilities is scored too, as an ensemble of their networks would."""
    from featbus.segmentation.metrics import dice_scores, segmentation_metrics, summarize_segmentation
    from featbus.segmentation.postprocess import POSTPROCESS, postprocess_mask

    saved = np.load(path, allow_pickle=False)
    where = {_path_key(r.path): i for i, r in enumerate(records)}
    saved_keys = [_path_key(p) for p in saved["paths"]]  # matched to the records, and to --ensemble runs
    idx = np.array([where[key] for key in saved_keys])
    truth = [records[i].mask for i in idx]
    names, groups = names[idx], groups[idx]
    lesion = names != "normal"
    has_proba = "proba_0" in saved.files
    print(f"out-of-fold masks of {len(idx)} images from {path}"
          + ("" if has_proba else " (no probabilities saved: the saved masks' threshold only)"))
    settings = [(t, how) for t in (THRESHOLDS if has_proba else [None]) for how in POSTPROCESS]
    saved_masks = [saved[f"mask_{k}"] for k in range(len(idx))]  # read from the archive once
    proba = [saved[f"proba_{k}"] for k in range(len(idx))] if has_proba else None
    if ensemble:
        if proba is None:
            raise SystemExit(f"--ensemble: {path} holds no probabilities to average")
        runs = [np.load(p, allow_pickle=False) for p in ensemble]
        positions = [{_path_key(q): k for k, q in enumerate(run["paths"])} for run in runs]
        if any(key not in at for at in positions for key in saved_keys):
            raise SystemExit("--ensemble: every run must hold this run's images (the same --cv folds)")
        proba = [np.mean([q.astype(np.float32)] + [run[f"proba_{at[key]}"].astype(np.float32)
                                                    for run, at in zip(runs, positions)], axis=0)
                 for q, key in zip(proba, saved_keys)]
        print(f"probabilities averaged with {', '.join(map(str, ensemble))}: the rows below score the ensemble")
    base = dice_scores(truth, saved_masks)  # the run's own threshold and post-processing
    lost = 1 - base[lesion]
    wrong = base[lesion] < 0.1  # a lesion found elsewhere, or none: the failures that cost most
    print(f"saved masks: {wrong.sum()} of {lesion.sum()} lesion images ({wrong.mean():.0%}) score Dice < 0.1 and "
          f"carry {lost[wrong].sum() / lost.sum():.0%} of the Dice lost")
    print(f"{'threshold':<10}{'postprocess':<14}{'lesion Dice':<24}{'HD95 px':<24}{'missed':<8}"
          f"{'normal empty':<14}paired Dice vs saved")
    for t, how in settings:
        masks = saved_masks if t is None else [q > round(t * 255) for q in proba]
        table = segmentation_metrics(truth, [postprocess_mask(m, how) for m in masks])
        s = summarize_segmentation(table, groups, n_bootstrap=1000)
        dice = table["dice"].to_numpy()
        diff = dice[lesion] - base[lesion]
        lo, hi = _group_bootstrap_mean(diff, groups[lesion])
        d, h = s["lesion"]["dice"], s["lesion"]["hd95"]
        empty = s["normal"]["empty"]["value"] if s["normal"]["n"] else float("nan")
        dice_cell = f"{d['mean']:.3f} [{d['ci'][0]:.3f}, {d['ci'][1]:.3f}]"
        hd95_cell = f"{h['mean']:.1f} [{h['ci'][0]:.1f}, {h['ci'][1]:.1f}]"
        print(f"{'saved' if t is None else t:<10}{how:<14}{dice_cell:<24}{hd95_cell:<24}{s['lesion']['missed']:<8}"
              f"{empty:<14.3f}{diff.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]")
    return 0


def parse_overrides(pairs: list[str]) -> dict:
    """``["epochs=21", "backbone=efficientnet_lite2"]`` -> ``{"epochs": 21, "backbone": "efficientnet_lite2"}``
    (values read as JSON, else kept as words)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {pair!r}: write KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def compare_with(path: Path, records, names, groups, proba: dict, threshold: float, fold_of=None) -> None:
    """Print this run's lesion Dice minus the saved run's, image by image (both thresholded at
    ``threshold``), over the lesion images both runs scored, with a group-bootstrap interval."""
    from featbus.segmentation.metrics import dice_scores

    other = np.load(path, allow_pickle=False)
    position = {_path_key(p): k for k, p in enumerate(other["paths"])}
    both = [i for i in sorted(proba) if names[i] != "normal" and _path_key(records[i].path) in position]
    there = [position[_path_key(records[i].path)] for i in both]  # the same images in the other run
    if not both or f"proba_{there[0]}" not in other.files:
        print(f"\n{path}: no saved probabilities for the lesion images of this run; nothing to compare")
        return
    truth = [records[i].mask for i in both]
    cut = round(threshold * 255)
    ours = np.asarray(dice_scores(truth, [proba[i] > cut for i in both]))
    theirs = np.asarray(dice_scores(truth, [other[f"proba_{k}"] > cut for k in there]))
    diff = ours - theirs
    lo, hi = _group_bootstrap_mean(diff, groups[both])
    print(f"\nagainst {path} (threshold {threshold:g}, {len(both)} lesion images): Dice {ours.mean():.3f} vs "
          f"{theirs.mean():.3f}, paired difference {diff.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]")
    if fold_of is not None:
        k_of = np.asarray([fold_of[i] for i in both])
        print("per fold: " + ", ".join(f"{k}: {diff[k_of == k].mean():+.3f}" for k in np.unique(k_of)))


def train_one(records, names, groups, train, args, fold: str = ""):
    """Train a segmenter on ``records[train]`` (lesion images only with --no-normal:
    ``empty_masks="skip"``)."""
    from featbus import UNetSegmenter

    if args.recipe:  # a named recipe as featbus segment train --recipe fits it
        from featbus.pipelines.recipes import build_segmenter

        # --set random_state=N: another network seed on the same folds (--seed moves the folds too)
        params = {"random_state": args.seed, "progress": bool(args.progress), **parse_overrides(args.overrides)}
        seg = build_segmenter(args.recipe, **params)
        if args.no_budget:  # the recipe's epochs whatever the machine's load (its figure must not depend on it)
            seg.set_params(max_time=None)
        seg.fit([records[i] for i in train], groups=groups[train])
        print(f"{fold}recipe {args.recipe!r}: trained {seg.n_epochs_} epochs (best {seg.best_epoch_}) in "
              f"{seg.training_time_:.0f} s on {seg.n_train_} images (+{seg.n_val_} validation): {seg!r}", flush=True)
        return seg
    monitor = args.monitor or ("val_dice" if args.no_normal else "val_loss")
    seg = UNetSegmenter(backbone=args.encoder, input_size=args.input_size, epochs=args.epochs,
                        batch_size=args.batch_size, learning_rate=args.learning_rate,
                        encoder_lr_scale=args.encoder_lr_scale, decoder_filters=args.decoder_filters,
                        lr_schedule=args.lr_schedule, weight_decay=args.weight_decay, validation_fraction=0.1,
                        patience=args.patience, monitor=monitor, tta=args.flip_test,
                        postprocess=args.postprocess, empty_masks="skip" if args.no_normal else "learn",
                        max_time=args.max_time, random_state=args.seed, progress=bool(args.progress))
    # validation for early stopping: whole near-duplicate groups of the training part
    seg.fit([records[i] for i in train], groups=groups[train])
    print(f"{fold}trained {seg.n_epochs_} epochs (best {seg.best_epoch_}) in {seg.training_time_:.0f} s "
          f"on {seg.n_train_} images (+{seg.n_val_} validation), input {args.input_size}px, "
          f"encoder {args.encoder} (lr x{args.encoder_lr_scale:g}), decoder {seg.decoder_filters or 'default'}, "
          f"lr {args.learning_rate:g} {args.lr_schedule}, monitor {monitor}, "
          f"flip test {args.flip_test}, postprocess {args.postprocess}", flush=True)
    return seg


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="where to save the trained model")
    p.add_argument("--recipe", default=None,
                   help="train featbus.pipelines.recipes.SEGMENTER_RECIPES[NAME] (default, best); the training flags "
                        "below are then ignored")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="with --recipe: change one of its UNetSegmenter parameters (a JSON value or a word), e.g. "
                        "--set backbone=efficientnet_lite2 --set epochs=21; repeatable")
    p.add_argument("--folds", default=None, metavar="K,K",
                   help="with --cv: train and score only these folds (e.g. 0 or 0,1), to compare one change quickly")
    p.add_argument("--against", type=Path, default=None, metavar="OOF.npz",
                   help="paired lesion Dice of this run minus another --cv run's saved out-of-fold probabilities "
                        "(same folds), at this run's threshold, with a group-bootstrap interval")
    p.add_argument("--no-budget", action="store_true",
                   help="with --recipe: run all the recipe's epochs without its time budget, so that a machine "
                        "shared with other jobs costs time, not epochs")
    p.add_argument("--encoder", default="efficientnet_lite0")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-time", type=float, default=1200, help="training time budget in seconds (per fold)")
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--cv", type=int, default=0, help="k > 1: k-fold grouped CV instead of one held-out split")
    p.add_argument("--no-normal", action="store_true", help="train on benign+malignant only")
    p.add_argument("--random-split", action="store_true",
                   help="leaky comparison: stratified split that ignores near-duplicate groups")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=10, help="early-stopping patience in epochs")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--encoder-lr-scale", type=float, default=1.0,
                   help="the encoder learns at this fraction of --learning-rate")
    p.add_argument("--decoder-filters", type=int, nargs=5, default=None, metavar="F",
                   help="filters of the 5 decoder stages (default: the segmenter's)")
    p.add_argument("--lr-schedule", choices=("cosine", "plateau"), default="cosine")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--monitor", choices=("val_loss", "val_dice"), default=None,
                   help="early-stopping quantity (default: val_dice with --no-normal, else val_loss)")
    p.add_argument("--flip-test", action="store_true", help="average each prediction with its mirror image's")
    p.add_argument("--postprocess", default="none", help="UNetSegmenter(postprocess=...) of the predicted masks")
    p.add_argument("--progress", action="store_true", help="progress bar per epoch")
    p.add_argument("--rescore", type=Path, default=None, metavar="OOF.npz",
                   help="train nothing: score the out-of-fold masks a --cv run saved under each post-processing")
    p.add_argument("--ensemble", type=Path, nargs="+", default=[], metavar="OOF.npz",
                   help="with --rescore: also score the mean of its probabilities and these runs' (an ensemble)")
    args = p.parse_args(argv)

    if not args.data.is_dir():
        print(f"BUSI not found at {args.data}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    records, names, groups = load_busi_records(args.data)
    if args.rescore is not None:
        return rescore(args.rescore, records, names, groups, args.ensemble)
    n_splits = args.cv if args.cv > 1 else int(round(1 / args.test_size))
    folds = grouped_folds(groups, names, n_splits, args.seed, random=args.random_split)
    chosen = list(range(len(folds)))
    if args.cv <= 1:
        chosen = [0]
    elif args.folds:
        chosen = sorted({int(k) for k in args.folds.split(",")})
        if not set(chosen) <= set(range(args.cv)):
            print(f"--folds {args.folds}: folds are numbered 0 to {args.cv - 1}", file=sys.stderr)
            return 1
    if args.random_split:
        shared = np.mean([np.isin(groups[te], groups[tr]).mean() for tr, te in folds])
        how = f"RANDOM split (leaky: {shared:.0%} of held-out images have a near-duplicate in training)"
    else:
        how = "grouped: no near-duplicate across sides"
    print(f"BUSI: {len(records)} images, {len(np.unique(groups))} near-duplicate groups; "
          + (f"{args.cv}-fold CV" if args.cv > 1 else f"train {len(folds[0][0])}, held out {len(folds[0][1])}")
          + f" ({how}); loaded in {time.perf_counter() - t0:.1f} s")

    oof: list = [None] * len(records)
    oof_proba: list = [None] * len(records)  # lesion probability x 255, for rescoring
    fold_of = np.full(len(records), -1)
    train_time = 0.0
    for k in chosen:
        train, test = folds[k]
        tag = f"fold {k}: " if args.cv > 1 else ""
        seg = train_one(records, names, groups, train, args, tag)
        train_time += seg.training_time_
        if k == 0:  # examples/busi_roi.py reuses this model and its held-out part
            path = seg.save(args.model)
            heldout = args.model.with_suffix(".heldout.json")
            heldout.write_text(json.dumps({"paths": [records[i].path for i in test],
                                           "classes": [str(c) for c in names[test]]}, indent=0))
            print(f"{tag}model saved to {path}, held-out list to {heldout}")
        t1 = time.perf_counter()
        test_recs = [records[i] for i in test]
        proba = seg.predict_proba_maps(test_recs)
        pred = seg.masks_from_maps(proba)
        threshold = seg.threshold
        for i, m, q in zip(test, pred, proba):
            oof[i], oof_proba[i], fold_of[i] = m, np.round(q * 255).astype(np.uint8), k
        print_scores([r.mask for r in test_recs], pred, names[test],
                     f"{tag}held-out segmentation (mean over images), predicted in {time.perf_counter() - t1:.1f} s",
                     groups[test])
        if args.cv > 1:
            print(flush=True)
        del seg
    scored = np.flatnonzero(fold_of >= 0)  # every image, or those of --folds
    if args.cv > 1 and len(chosen) > 1:
        lesion = names[scored] != "normal"
        which = f"all {len(records)} images" if len(scored) == len(records) else f"folds {args.folds}"
        dice = print_scores([records[i].mask for i in scored], [oof[i] for i in scored], names[scored],
                            f"{args.cv}-fold grouped CV, out-of-fold masks of {which}", groups[scored])
        per_fold = [dice[(fold_of[scored] == k) & lesion].mean() for k in chosen]
        print(f"benign+malignant Dice per fold: {', '.join(f'{v:.3f}' for v in per_fold)} "
              f"(mean {np.mean(per_fold):.3f}, sd {np.std(per_fold, ddof=1):.3f})")
    if args.cv > 1:
        out = args.model.with_suffix(".oof.npz")
        np.savez_compressed(out, paths=np.array([records[i].path for i in scored]), fold=fold_of[scored],
                            **{f"mask_{j}": oof[i] for j, i in enumerate(scored)},
                            **{f"proba_{j}": oof_proba[i] for j, i in enumerate(scored)})
        print(f"out-of-fold masks saved to {out}; training time {train_time:.0f} s in all")
    if args.against is not None:
        compare_with(args.against, records, names, groups, {i: oof_proba[i] for i in scored}, threshold, fold_of)
    split = "random" if args.random_split else "near-duplicate-grouped"
    print("\nreference: MobileNet U-Net, Dice 0.8959 on BUSI with a random split "
          f"(near-duplicates on both sides); this run: {split} split")
    print(f"total time {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
