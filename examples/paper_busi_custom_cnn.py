"""
Paper pipeline (e): a CNN from scratch against fine-tuned ImageNet networks, and a MobileNet U-Net
==================================================================================================

    python examples/paper_busi_custom_cnn.py --quick     # the quoted run (reduced settings)
    python examples/paper_busi_custom_cnn.py             # 224 px, 50 epochs, 5 folds, as the paper
    python examples/paper_busi_custom_cnn.py --weights vgg16=vgg16_notop.h5 --weights mobilenet=m_notop.h5

The paper trains a custom CNN from scratch on BUSI's three classes against VGG16, InceptionV3
and MobileNet fine-tuned from ImageNet, all with batches of 4 for 50 epochs, brightness
augmentation by a factor in [1, 1.4], "nearest" fill and class-balanced batches, and segments
the lesions with a U-Net on a MobileNet encoder, at Dice 0.8959.

Here:

* the classifiers are :class:`featbus.FineTunedCNN` with ``batch_size=4``,
  ``augment=ImageAugmenter(brightness_range=(1.0, 1.4), fill_mode="nearest")`` and
  ``balanced_batches=True``; the custom CNN is featbus's small CNN trained from scratch
  (``backbone="scratch"``, :func:`featbus.networks.mobilenet_v2_small`: random start, every
  layer trained, a higher learning rate and no head warm-up); a network of your own goes in the
  same way as a builder function ``f(input_shape) -> keras.Model``;
* the U-Net is :class:`featbus.UNetSegmenter` on the paper's MobileNetV2 encoder (ImageNet),
  trained on the lesion images and scored by Dice on the held-out ones.

Each is judged on random folds over images (the paper's protocol: near-duplicates of one lesion
straddle the split) and on near-duplicate-grouped folds with 95 % intervals. The three headline
rows are the U-Net's Dice, the one figure of the paper quoted here; the classifiers follow.

Backbones whose ImageNet weights this machine lacks (no internet here) are not run under their
names: one EfficientNet-Lite0 ImageNet row stands in for all of them, named so, and the others
say "not run: weights unavailable". The U-Net's encoder falls back to EfficientNet-Lite0
ImageNet the same way.

Data: Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images. Data in
Brief 28:104863 (2020). https://doi.org/10.1016/j.dib.2019.104863
"""

# sphinx_gallery_thumbnail_path = "_static/gallery/paper_busi_custom_cnn.png"

from __future__ import annotations

import numpy as np
from _paper_common import PaperResult, command, limited, paper_weights, parse, parser, settings, triple, two_protocols

SCRIPT = "paper_busi_custom_cnn.py"
PAPER_NETWORKS = ("vgg16", "inception_v3", "mobilenet")


def unet_two_protocols(data, *, size: int, epochs: int, folds: int, n_bootstrap: int, backbone: str,
                       weights):
    """Mean Dice ``(value, low, high)`` on the lesion images, random folds then grouped folds."""
    from featbus import UNetSegmenter
    from featbus.evaluation import make_splits
    from featbus.segmentation.metrics import segmentation_metrics, summarize_segmentation

    lesion = np.flatnonzero([m is not None and np.any(m) for m in data.masks])
    records = [data.data[i] for i in lesion]
    truth = [np.asarray(data.masks[i]) > 0 for i in lesion]
    y, groups = np.asarray(data.target)[lesion], np.asarray(data.groups)[lesion]
    out = []
    for cv in ("stratified", "duplicate-grouped"):
        splits, _, _ = make_splits(records, y, cv=cv, n_splits=folds, groups=groups, random_state=0)
        pred = [None] * len(records)
        for train, test in splits:
            unet = UNetSegmenter(backbone=backbone, weights=weights, input_size=size, epochs=epochs,
                                 batch_size=4, random_state=0, progress=False)
            unet.fit([records[i] for i in train])
            for i, mask in zip(test, unet.predict_masks([records[i] for i in test])):
                pred[i] = mask
        s = summarize_segmentation(segmentation_metrics(truth, pred), groups, n_bootstrap=n_bootstrap,
                                   random_state=0)["lesion"]["dice"]
        out.append((s["mean"], *s["ci"]))
    return out[0], out[1], len(lesion)


def main(argv=None) -> PaperResult:
    ap = parser(__doc__, size=224, epochs=50, folds=5, quick={"size": 64, "epochs": 2, "folds": 2, "seg_epochs": 3})
    ap.add_argument("--seg-epochs", type=int, default=30, help="U-Net training epochs per fit")
    ap.add_argument("--no-classifiers", action="store_true", help="the U-Net only")
    args = parse(ap, argv)

    from featbus import FineTunedCNN, load_busi
    from featbus.networks.augmentation import ImageAugmenter

    data = limited(load_busi(args.data / "busi"), args.limit)
    names = list(data.target_names)
    notes = []
    print(f"BUSI: {len(data.target)} images, {len(set(data.groups.tolist()))} near-duplicate groups")

    # The U-Net on a MobileNetV2 encoder (its ImageNet weights, else the stand-in's).
    enc, enc_weights, note = paper_weights("mobilenet_v2", {})
    # UNetSegmenter takes its encoder's ImageNet weights from the Keras cache only, not from a file
    note = note.replace(" (give the real ones with --weights mobilenet_v2=PATH)",
                        " (the U-Net reads ImageNet weights from the Keras cache only, not --weights)")
    notes.append("U-Net encoder " + note)
    print(notes[-1])
    leaky_dice, free_dice, n_lesion = unet_two_protocols(data, size=max(32, args.size // 32 * 32),
                                                         epochs=args.seg_epochs, folds=args.folds,
                                                         n_bootstrap=args.n_bootstrap, backbone=enc,
                                                         weights="imagenet")
    enc_label = enc if enc == "mobilenet_v2" else f"{enc} ImageNet encoder (stand-in for mobilenet_v2)"

    extra = []
    if not args.no_classifiers:
        train = dict(input_size=args.size, epochs=args.epochs, batch_size=4, balanced_batches=True,
                     augment=ImageAugmenter(brightness_range=(1.0, 1.4), fill_mode="nearest"), random_state=0,
                     progress=False)
        runs: dict[tuple, list[str]] = {}
        for paper_net in PAPER_NETWORKS:
            used, weights, note = paper_weights(paper_net, args.given_weights)
            notes.append(note)
            print(note)
            runs.setdefault((used, str(weights)), []).append(paper_net)
        nets = [("custom CNN (from scratch: featbus 'scratch')",
                 FineTunedCNN(backbone="scratch", weights=None, warmup_epochs=0, learning_rate=1e-3, **train))]
        for (used, weights), papers in runs.items():
            label = used if papers == [used] else f"{used} ImageNet (stand-in for {', '.join(papers)})"
            nets.append((label, FineTunedCNN(backbone=used, weights=weights, warmup_epochs=1, **train)))
        extra.append("classifiers, BUSI three classes, accuracy (random split | leak-free with 95% CI):")
        for label, net in nets:
            leaky, free = two_protocols(net, data.data, data.target, groups=data.groups, folds=args.folds,
                                        n_bootstrap=args.n_bootstrap, target_names=names, name=label)
            lk, fr = triple(leaky), triple(free)
            extra.append(f"  {label:58s} {lk[0]:.3f} | {fr[0]:.3f} [{fr[1]:.3f}, {fr[2]:.3f}]")
            print(extra[-1], flush=True)
        for (used, _), papers in runs.items():
            for paper_net in papers:
                if used != paper_net:
                    extra.append(f"  {paper_net:58s} not run: weights unavailable")
        extra.append("  (paper's classifier figures are not quoted here; the paper's Dice is)")
    result = PaperResult(
        paper="e", title=f"U-Net on a MobileNet encoder, BUSI lesion segmentation, {n_lesion} lesion images "
                         f"[{enc_label}]",
        metric="mean Dice", reported="0.8959", leaky=leaky_dice, free=free_dice, command=command(SCRIPT, argv),
        weights=notes, extra=extra,
        settings=settings(args, "224 px, batch 4, 50 epochs, brightness x[1, 1.4], nearest fill, class-balanced "
                                "batches") + f"; U-Net {args.seg_epochs} epochs, batch 4")
    result.print()
    return result


if __name__ == "__main__":
    main()
