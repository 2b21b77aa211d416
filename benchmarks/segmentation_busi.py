"""Benchmark: U-Net lesion segmentation on BUSI with a near-duplicate-grouped held-out split.

Trains :class:`featbus.UNetSegmenter` (EfficientNet-Lite0 encoder, ImageNet weights) on BUSI
(Al-Dhabyani et al., Data in Brief 28:104863, 2020) and reports Dice and IoU on a held-out part
that holds no near-duplicate of a training image, overall (benign + malignant) and per class,
with the epoch count and training time. The trained model is saved for examples/busi_roi.py.

Reference: a MobileNet U-Net reaches Dice 0.8959 on BUSI with a *random* split, which lets copies
of one lesion fall on both sides; the grouped split here is the harder, honest one.

Run from the repository root (data at ../shared/data)::

    OMP_NUM_THREADS=2 python benchmarks/segmentation_busi.py [--input-size 224] [--max-time 1200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "busi" / "Dataset_BUSI_with_GT"
DEFAULT_MODEL = Path.home() / ".cache" / "featbus" / "busi_unet.keras"


def load_busi_records(root: Path):
    """BUSI as (records, class names, near-duplicate groups).

    Uses ``featbus.load_busi`` / ``featbus.duplicate_groups`` when available; otherwise reads the
    folder directly and groups near-duplicates by the correlation of 32x32 thumbnails.
    """
    try:
        from featbus import load_busi

        bunch = load_busi(root)
    except (ImportError, AttributeError):
        bunch = None
    if bunch is not None:
        names = np.asarray(bunch.target_names)[bunch.target]
        groups = getattr(bunch, "groups", None)
        if groups is None:
            from featbus import duplicate_groups

            groups = duplicate_groups(bunch.images)
        return list(bunch.data), names, np.asarray(groups)
    return _read_busi(root)


def _read_busi(root: Path):
    import cv2

    from featbus import ImageRecord, read_image

    records, names = [], []
    for cls in ("benign", "malignant", "normal"):
        for f in sorted((root / cls).glob("*.png")):
            if "_mask" in f.name:
                continue
            image = read_image(f)
            mask = np.zeros(image.shape, bool)
            for mf in sorted((root / cls).glob(f.stem.replace("[", "[[]") + "_mask*.png")):
                mask |= read_image(mf) > 0
            records.append(ImageRecord(image, mask, str(f), {"class": cls}))
            names.append(cls)
    thumbs = np.stack([cv2.resize(r.image.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA).ravel()
                       for r in records])
    thumbs = (thumbs - thumbs.mean(1, keepdims=True)) / (thumbs.std(1, keepdims=True) + 1e-6)
    corr = thumbs @ thumbs.T / thumbs.shape[1]
    parent = list(range(len(records)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(corr > 0.9, 1))):
        parent[find(i)] = find(j)
    groups = np.array([find(i) for i in range(len(records))])
    return records, np.asarray(names), groups


def grouped_split(groups: np.ndarray, names: np.ndarray, test_size: float, seed: int):
    """Held-out split that keeps every near-duplicate group on one side, stratified by class."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = int(round(1 / test_size))
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train, test = next(cv.split(np.zeros(len(names)), names, groups))
    assert not set(groups[train]) & set(groups[test])
    return train, test


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="where to save the trained model")
    p.add_argument("--encoder", default="efficientnet_lite0")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-time", type=float, default=1200, help="training time budget in seconds")
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--no-normal", action="store_true", help="train on benign+malignant only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=6, help="early-stopping patience in epochs")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--lr-schedule", choices=("cosine", "plateau"), default="cosine")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--monitor", choices=("val_loss", "val_dice"), default=None,
                   help="early-stopping quantity (default: val_dice with --no-normal, else val_loss)")
    p.add_argument("--flip-test", action="store_true", help="average each prediction with its mirror image's")
    args = p.parse_args(argv)

    from featbus import UNetSegmenter
    from featbus.segmentation import dice_scores, iou_scores

    if not args.data.is_dir():
        print(f"BUSI not found at {args.data}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    records, names, groups = load_busi_records(args.data)
    train, test = grouped_split(groups, names, args.test_size, args.seed)
    if args.no_normal:
        train = train[names[train] != "normal"]
    print(f"BUSI: {len(records)} images, {len(np.unique(groups))} near-duplicate groups; "
          f"train {len(train)}, held out {len(test)} (grouped split, no duplicate across sides); "
          f"loaded in {time.perf_counter() - t0:.1f} s")

    monitor = args.monitor or ("val_dice" if args.no_normal else "val_loss")
    seg = UNetSegmenter(encoder=args.encoder, input_size=args.input_size, epochs=args.epochs,
                        batch_size=args.batch_size, learning_rate=args.learning_rate,
                        lr_schedule=args.lr_schedule, weight_decay=args.weight_decay, validation_fraction=0.1,
                        patience=args.patience, monitor=monitor, flip_test=args.flip_test,
                        max_time=args.max_time, random_state=args.seed, verbose=1)
    # validation for early stopping: whole near-duplicate groups of the training part
    seg.fit([records[i] for i in train], groups=groups[train])
    print(f"trained {seg.n_epochs_} epochs (best {seg.best_epoch_}) in {seg.training_time_:.0f} s "
          f"on {seg.n_train_} images (+{seg.n_val_} validation), input {args.input_size}px, "
          f"encoder {args.encoder}, lr {args.learning_rate:g} {args.lr_schedule}, monitor {monitor}, "
          f"flip test {args.flip_test}")
    path = seg.save(args.model)
    heldout = args.model.with_suffix(".heldout.json")  # examples/busi_roi.py reuses the held-out part
    heldout.write_text(json.dumps({"paths": [records[i].path for i in test],
                                   "classes": [str(c) for c in names[test]]}, indent=0))
    print(f"model saved to {path}, held-out list to {heldout}")

    t1 = time.perf_counter()
    test_recs = [records[i] for i in test]
    pred = seg.predict_masks(test_recs)
    print(f"predicted {len(test)} held-out masks in {time.perf_counter() - t1:.1f} s")
    truth = [r.mask for r in test_recs]
    dice, iou = dice_scores(truth, pred), iou_scores(truth, pred)
    tn = names[test]
    print("\nheld-out segmentation (mean over images)")
    print(f"{'subset':<22}{'n':>5}{'Dice':>8}{'IoU':>8}")
    for label, sel in [("benign+malignant", tn != "normal"), ("benign", tn == "benign"),
                       ("malignant", tn == "malignant")]:
        print(f"{label:<22}{int(sel.sum()):>5}{dice[sel].mean():>8.3f}{iou[sel].mean():>8.3f}")
    normal = tn == "normal"
    if normal.any():
        empty = np.mean([not m.any() for m, s in zip(pred, normal) if s])
        print(f"{'normal: no lesion':<22}{int(normal.sum()):>5}{empty:>8.3f}  (share predicted empty)")
    print("\nreference: MobileNet U-Net, Dice 0.8959 on BUSI with a random split "
          "(near-duplicates on both sides); this run: near-duplicate-grouped split")
    print(f"total time {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
