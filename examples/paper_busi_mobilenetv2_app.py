"""
Paper pipeline (b): MobileNetV2, deeper layers fine-tuned, three BUSI classes, served in an app
===============================================================================================

    python examples/paper_busi_mobilenetv2_app.py --quick       # the quoted run (reduced settings)
    python examples/paper_busi_mobilenetv2_app.py               # 224 px, 20 epochs, 5 folds
    python examples/paper_busi_mobilenetv2_app.py --weights mobilenet_v2=mobilenet_v2_notop.h5

The paper fine-tunes the deeper layers of an ImageNet MobileNetV2 on BUSI's three classes
(benign, malignant, normal), analyses the intensity of each class (range, median) and the
images it misclassifies, serves the model in a local web app, and reports accuracy 0.82.

Here: :class:`featbus.FineTunedCNN` with ``trainable_from`` at the first layer of the network's
stride-32 stage (MobileNetV2 ``block_13_expand``; the stand-in's ``block6a_expand_conv``): the
earlier layers keep their ImageNet weights. It is judged twice on the same images: random
folds over images (the paper's random split: near-duplicates of one lesion on both sides) and
near-duplicate-grouped folds with 95 % bootstrap intervals. The intensity analysis (each
class's image median and grey range) and the misclassification analysis (which classes are
confused, and whether the misclassified images are darker or brighter than the correctly
classified ones) use the leak-free folds' predictions. Finally one network is trained on every
image, saved as a model file, and the ``featbus app`` command that serves it is printed.

Without MobileNetV2's ImageNet weights (no internet here), EfficientNet-Lite0 ImageNet stands
in and the output says so.

Data: Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images. Data in
Brief 28:104863 (2020). https://doi.org/10.1016/j.dib.2019.104863
"""

# sphinx_gallery_thumbnail_path = "_static/gallery/paper_busi_mobilenetv2_app.png"

from __future__ import annotations

import numpy as np
from _paper_common import (
    OUT,
    PaperResult,
    command,
    limited,
    paper_weights,
    parse,
    parser,
    settings,
    triple,
    two_protocols,
)

SCRIPT = "paper_busi_mobilenetv2_app.py"
#: The first layer of each network's stride-32 stage: fine-tuned from there on.
DEEPER = {"mobilenet_v2": "block_13_expand", "efficientnet_lite0": "block6a_expand_conv"}


def intensity_table(images, target, names) -> list[str]:
    """Per class: the images' median grey and grey range (1st to 99th percentile), median [IQR]
    over the class's images."""
    med = np.array([float(np.median(im)) for im in images])
    rng = np.array([float(np.subtract(*np.percentile(im, (99, 1)))) for im in images])
    lines = [f"  {'class':10s} {'n':>4s} {'image median grey':>22s} {'grey range (p1-p99)':>24s}"]
    for k, name in enumerate(names):
        sel = target == k
        q = [np.percentile(v[sel], (50, 25, 75)) for v in (med, rng)]
        lines.append(f"  {name:10s} {int(sel.sum()):4d} {q[0][0]:10.0f} [{q[0][1]:.0f}, {q[0][2]:.0f}]"
                     f"{q[1][0]:>14.0f} [{q[1][1]:.0f}, {q[1][2]:.0f}]")
    return lines


def misclassification_table(report, images, names) -> list[str]:
    """The confusion counts of the leak-free predictions, the most frequent confusions and the
    median grey of misclassified against correctly classified images of each class."""
    yt, yp = np.asarray(report.y_true), np.asarray(report.y_pred)
    med = np.array([float(np.median(im)) for im in images])
    lines = ["  confusion (rows: truth, columns: prediction): " + ", ".join(names)]
    for k, name in enumerate(names):
        lines.append(f"    {name:10s}" + "".join(f"{int(np.sum((yt == k) & (yp == j))):6d}" for j in range(len(names))))
    pairs = sorted(((int(np.sum((yt == a) & (yp == b))), a, b) for a in range(len(names)) for b in range(len(names))
                    if a != b), reverse=True)
    lines.append("  most frequent confusions: " + "; ".join(f"{names[a]} -> {names[b]}: {n}" for n, a, b in pairs[:3]
                                                            if n))
    for k, name in enumerate(names):
        wrong, right = (yt == k) & (yp != k), (yt == k) & (yp == k)
        if wrong.any() and right.any():
            lines.append(f"  {name}: {int(wrong.sum())} misclassified, median grey {np.median(med[wrong]):.0f} "
                         f"(correct ones {np.median(med[right]):.0f})")
    return lines


def main(argv=None) -> PaperResult:
    ap = parser(__doc__, size=224, epochs=20, folds=5, quick={"size": 128, "epochs": 4, "folds": 3})
    ap.add_argument("--no-app", action="store_true", help="skip training the served model on every image")
    args = parse(ap, argv)

    from featbus import FineTunedCNN, load_busi
    from featbus.workflows.training import train_model

    data = limited(load_busi(args.data / "busi"), args.limit)
    names = list(data.target_names)
    used, weights, note = paper_weights("mobilenet_v2", args.given_weights)
    print(note)
    per_class = ", ".join(f"{n} {int(np.sum(data.target == k))}" for k, n in enumerate(names))
    print(f"BUSI: {len(data.target)} images ({per_class}), "
          f"{len(set(data.groups.tolist()))} near-duplicate groups")
    net = FineTunedCNN(backbone=used, weights=weights, input_size=args.size, epochs=args.epochs,
                       warmup_epochs=1, trainable_from=DEEPER.get(used), random_state=0, progress=False)
    leaky, free = two_protocols(net, data.data, data.target, groups=data.groups, folds=args.folds,
                                n_bootstrap=args.n_bootstrap, target_names=names, name=used)
    label = used if used == "mobilenet_v2" else f"{used} ImageNet (stand-in for mobilenet_v2)"
    extra = ["intensity per class (all images):", *intensity_table(data.images, data.target, names),
             "misclassifications (leak-free folds):", *misclassification_table(free, data.images, names),
             f"  macro F1: random split {leaky.value('f1'):.3f}, leak-free {free.value('f1'):.3f}"]
    if not args.no_app:
        model = train_model(data, network=net, cross_validate=False, progress=False, n_bootstrap=0)
        OUT.mkdir(parents=True, exist_ok=True)
        path = model.save(OUT / "paper_b_mobilenetv2.featbus", overwrite=True)
        shown = path.relative_to(OUT.parents[1]) if path.is_relative_to(OUT.parents[1]) else path
        extra.append(f"served model (trained on all {len(data.target)} images): featbus app {shown}")
    result = PaperResult(
        paper="b", title=f"MobileNetV2 deeper layers fine-tuned, BUSI three classes [{label}]", metric="accuracy",
        reported="0.82", leaky=triple(leaky), free=triple(free), command=command(SCRIPT, argv), weights=[note],
        extra=extra, settings=settings(args, "224 px, fine-tuned from the deeper layers, random split")
        + f"; fine-tuned from {DEEPER.get(used) or 'the first layer'} on, 1 warm-up epoch")
    result.print()
    return result


if __name__ == "__main__":
    main()
