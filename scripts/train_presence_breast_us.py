"""Fine-tune a breast-us segmenter to say "no lesion": site-balanced lesion-free crops as negatives.

Issue 67, point 1. A segmenter trained on sites with (almost) no normal scans learns that every
frame holds a lesion and marks the likeliest-looking region of a normal scan. Every lesion image
is also a source of lesion-free tissue: its mask says where the lesion is not. This script takes
a trained segmenter (``scripts/train_segmenter_breast_us.py``) and continues its training on

* its own training images (the lesion images of every training site, and the normal scans there
  are), with the recipe's augmentation, and
* as many lesion-free crops of those same images (:func:`featbus.segmentation.negatives.
  lesion_free_crops`: boxes keeping 40-90 % of each side of the frame, anywhere in it, clear of
  the lesion by 5 % of the shorter side), drawn in equal numbers from every training site, each
  with an empty mask,

half of each batch from either. Caliper crosses, dotted measuring lines and short labels are
painted onto half of the negative crops (:func:`featbus.segmentation.negatives.paint_calipers`),
and labels/crosses onto a quarter of the lesion images away from the lesion, so that the marks
sonographers burn in around a lesion are not the cue. The segmenter's validation images (its
``validation_indices_``) are never used: they stay for choosing thresholds on the training sites.

Leave one site out (the segmenter trained without that site too)::

    python scripts/train_presence_breast_us.py --hold-out busi \\
        --segmenter LOSO_DIR/seg_loso_busi.keras -o LOSO_DIR/seg_presence_busi.keras

Writes ``OUT`` (``.keras``, the same network fine-tuned; ``UNetSegmenter.load`` reads it) and
``OUT`` with ``.json`` (the settings, crop counts per site, wall and CPU time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from featbus import get_data_home

DATA = get_data_home()
SITES = {"busi": DATA / "busi" / "Dataset_BUSI_with_GT", "bus-bra": DATA / "bus-bra",
         "breast-lesions-usg": DATA / "breast-lesions-usg"}
#: The crops' box settings (:func:`featbus.segmentation.negatives.lesion_free_boxes`).
BOXES = {"min_fraction": 0.4, "max_fraction": 0.9, "margin": 0.05, "aspect_jitter": 0.2}


def site_balanced_crops(records, sites, n_per_site: int, size: int, rng, boxes=None) -> tuple[np.ndarray, dict]:
    """``n_per_site`` lesion-free crops of each site's lesion images (round robin over its images in
    a random order), resized to ``size`` squared as the network sees a frame. Returns the crops
    ``(n, size, size, 1)`` in [0, 1] and the count per site."""
    import cv2

    from featbus._records import to_float
    from featbus.networks.augmentation import resize_to
    from featbus.segmentation.negatives import lesion_free_crops

    out, counts = [], {}
    for site in sorted(set(sites)):
        idx = [i for i, s in enumerate(sites) if s == site and records[i].mask is not None and records[i].mask.any()]
        got, rounds = 0, 0
        while got < n_per_site and idx and rounds < 20:
            for i in rng.permutation(idx):
                if got >= n_per_site:
                    break
                rec = records[i]
                crops = lesion_free_crops(rec.image, rec.mask, 1, random_state=rng, **(boxes or BOXES))
                if crops:
                    out.append(resize_to(to_float(crops[0]), (size, size), cv2.INTER_AREA))
                    got += 1
            rounds += 1
        counts[site] = got
    return np.asarray(out, np.float32)[..., None], counts


def site_balanced_frames(records, sites, n_per_site: int, size: int, seed: int) -> tuple[np.ndarray, dict]:
    """Up to ``n_per_site`` lesion-free whole frames of each site (the lesion removed and filled with
    the frame's own tissue, :func:`featbus.segmentation.negatives.lesion_free_frames`; a site's own
    normal scans counted first), resized to ``size`` squared as the network sees a frame."""
    import cv2

    from featbus.networks.augmentation import resize_to
    from featbus.segmentation.negatives import lesion_free_frames

    masks = [r.mask for r in records]
    labels = ["normal" if m is None or not np.any(m) else "lesion" for m in masks]
    frames, _, counts = lesion_free_frames([r.image for r in records], masks, sites, n_per_site, labels=labels,
                                           random_state=seed)
    out = [resize_to(f, (size, size), cv2.INTER_AREA) for f in frames]
    return np.asarray(out, np.float32)[..., None], counts


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--segmenter", required=True, help="the trained segmenter (.keras) to fine-tune")
    p.add_argument("-o", "--output", required=True, help="the fine-tuned segmenter (.keras)")
    p.add_argument("--sites", default=",".join(SITES))
    p.add_argument("--hold-out", default=None, help="the site the segmenter was trained without")
    p.add_argument("--crops-per-site", type=int, default=400)
    p.add_argument("--epochs", type=int, default=1, help="passes over the training images (each batch half crops)")
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--max-time", type=float, default=None, help="seconds of training at most")
    p.add_argument("--marks", type=float, default=0.5, help="share of negative crops with painted calipers")
    p.add_argument("--min-fraction", type=float, default=BOXES["min_fraction"],
                   help="smallest share of each side of the frame a crop keeps")
    p.add_argument("--max-fraction", type=float, default=BOXES["max_fraction"],
                   help="largest share of each side of the frame a crop keeps")
    p.add_argument("--whole-frames", action="store_true",
                   help="negatives are whole frames with the lesion removed (featbus.segmentation.negatives."
                        "lesion_free_frames, --crops-per-site of them per site, own normal scans counted) "
                        "instead of crops")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    boxes = {**BOXES, "min_fraction": args.min_fraction, "max_fraction": args.max_fraction}

    from featbus import UNetSegmenter, combine_sites, load_data
    from featbus.networks.augmentation import augment_pair, draw_marks
    from featbus.networks.training import Phase, train
    from featbus.segmentation.negatives import paint_calipers
    from featbus.segmentation.network import unet_loss

    names = [s.strip() for s in args.sites.split(",") if s.strip()]
    if args.hold_out:
        names = [n for n in names if n != args.hold_out]
    data = combine_sites([load_data(SITES[n]) for n in names], names=names)
    seg = UNetSegmenter.load(args.segmenter)
    n_seen = len(getattr(seg, "fingerprints_", [])) or (seg.n_train_ + seg.n_val_)
    if n_seen != len(data.data):
        raise SystemExit(f"{args.segmenter} was trained on {n_seen} images, the sites {names} hold "
                         f"{len(data.data)}: give the sites (and --hold-out) it was trained on")
    val = set(int(i) for i in seg.validation_indices_)
    train_idx = np.array([i for i in range(len(data.data)) if i not in val])
    records = [data.data[i] for i in train_idx]
    sites = [str(data.sites[i]) for i in train_idx]
    rng = np.random.default_rng(args.seed)
    aug_rng = np.random.RandomState(args.seed)  # augment_pair draws from a RandomState
    t0, c0 = time.time(), time.process_time()
    xs, ys, _ = seg._prepare(records, None)
    s = int(seg.input_size)
    if args.whole_frames:
        neg, counts = site_balanced_frames(records, sites, args.crops_per_site, s, args.seed)
    else:
        neg, counts = site_balanced_crops(records, sites, args.crops_per_site, s, rng, boxes)
    kind = "lesion-free whole frames" if args.whole_frames else "lesion-free crops"
    print(f"fine-tuning on {len(xs)} training images of {', '.join(names)} ({int(ys.any(axis=(1, 2, 3)).sum())} "
          f"with a lesion) and {len(neg)} {kind} {counts}", flush=True)

    ranges = {} if seg.augment is True else dict(seg.augment or {})
    half = max(1, int(seg.batch_size) // 2)
    steps = -(-len(xs) // half)
    model = seg.model_
    per_image = seg.loss == "bce_image_dice"

    def batches(phase, epoch):
        pos_order = rng.permutation(len(xs))
        for b in range(steps):
            pi = pos_order[b * half:(b + 1) * half]
            if len(pi) < half:
                pi = np.concatenate([pi, rng.choice(len(xs), half - len(pi))])
            ni = rng.choice(len(neg), half, replace=False)
            xb = np.concatenate([xs[pi], neg[ni]]).copy()
            yb = np.concatenate([ys[pi], np.zeros_like(neg[ni])])
            for k in range(len(xb)):
                xk, yk = augment_pair(xb[k, ..., 0], yb[k, ..., 0], aug_rng, **ranges)
                if k >= half and rng.uniform() < args.marks:
                    xk = paint_calipers(xk, random_state=rng)
                elif k < half and rng.uniform() < args.marks / 2:
                    xk = draw_marks(xk, int(rng.integers(1, 4)), rng, avoid=yk > 0)
                xb[k, ..., 0], yb[k, ..., 0] = xk, yk
            yield xb.astype(np.float32), yb.astype(np.float32)

    def loss_fn(x, y):
        return unet_loss(y, model(x, training=True), per_image)

    phase = Phase("negatives", int(args.epochs), {"all": float(args.learning_rate)}, ramp_epochs=0.2)
    history = train(model, loss_fn, [phase], batches, steps, weight_decay=float(seg.weight_decay),
                    progress="auto", desc="presence fine-tune", max_time=args.max_time, keep="last")
    wall, cpu = time.time() - t0, time.process_time() - c0
    seg._predict_fn = None
    out = Path(args.output)
    seg.save(out)
    card = {"segmenter": str(Path(args.segmenter).name), "sites": names, "hold_out": args.hold_out,
            "n_training_images": int(len(xs)), "crops": counts, "whole_frames": bool(args.whole_frames),
            "boxes": None if args.whole_frames else boxes, "marks": args.marks,
            "epochs_run": len(history["epochs"]), "stopped": history["stopped"],
            "loss": [e["loss"] for e in history["epochs"]], "learning_rate": args.learning_rate,
            "seed": args.seed, "wall_minutes": round(wall / 60, 1), "cpu_minutes": round(cpu / 60, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    out.with_suffix(".json").write_text(json.dumps(card, indent=1))
    print(f"fine-tuned in {wall / 60:.1f} min ({cpu / 60:.1f} CPU min), {len(history['epochs'])} epochs; wrote {out}",
          flush=True)


if __name__ == "__main__":
    main()
