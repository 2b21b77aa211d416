"""
Paper pipeline (a): MobileNetV3-Small, features from two depths, benign vs malignant, on a phone
================================================================================================

    python examples/paper_busi_mobilenetv3_phone.py --quick     # the quoted run (reduced settings)
    python examples/paper_busi_mobilenetv3_phone.py             # 224 px, 20 epochs, 5 folds
    python examples/paper_busi_mobilenetv3_phone.py --weights mobilenet_v3_small=v3small_notop.h5

The paper classifies BUSI's benign and malignant images with a MobileNetV3-Small whose stride-16
and stride-32 feature maps are joined in an SSDLite-style head, trains it on balanced batches,
shows the confusion matrix and the loss / accuracy / F1 curves, exports it to a phone, and
reports 98.30 % accuracy.

Here: :class:`featbus.FineTunedCNN` with ``layer`` naming the backbone's stride-16 and stride-32
layers (:func:`featbus.networks.stride_layers`; for MobileNetV3-Small ``activation_11`` and
``activation_17``, the maps SSDLite reads): each map is average-pooled and the two vectors are
joined before the softmax head; ``balanced_batches=True`` draws every class equally in each
batch. It is judged on random folds over images (the paper's protocol: near-duplicates of one
lesion straddle the split) and on near-duplicate-grouped folds with 95 % intervals, with the
confusion counts (TP, FN, FP, TN) of the leak-free folds. One network is then trained on every
image (15 % of the near-duplicate groups held out only to draw the validation curves), its
per-epoch loss, accuracy and F1 are printed and drawn (``examples/out/paper_a_curves.png``), and
it is exported to TFLite (``examples/out/paper_a_mobilenetv3.tflite``), the file a phone app runs.

Without MobileNetV3-Small's ImageNet weights (no internet here), EfficientNet-Lite0 ImageNet
stands in, cut at its own stride-16 and stride-32 layers, and the output says so.

Data: Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images. Data in
Brief 28:104863 (2020). https://doi.org/10.1016/j.dib.2019.104863
"""

# sphinx_gallery_thumbnail_path = "_static/gallery/paper_busi_mobilenetv3_phone.png"

from __future__ import annotations

import numpy as np
from _paper_common import (
    OUT,
    PaperResult,
    binary,
    command,
    limited,
    paper_weights,
    parse,
    parser,
    settings,
    triple,
    two_protocols,
)

SCRIPT = "paper_busi_mobilenetv3_phone.py"


def curves(history, path) -> list[str]:
    """The per-epoch table and figure of a fitted network's ``history_``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = history["epochs"]
    keys = ("loss", "train_accuracy", "train_f1", "val_loss", "val_accuracy", "val_f1")
    lines = ["  epoch phase    " + "".join(f"{k:>15s}" for k in keys)]
    for e in epochs:
        lines.append(f"  {e['epoch']:5d} {e.get('phase', ''):8s} " + "".join(
            f"{e[k]:15.3f}" if e.get(k) is not None else f"{'-':>15s}" for k in keys))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), layout="constrained")
    x = [e["epoch"] for e in epochs]
    for ax, (title, train_key, val_key) in zip(axes, (("loss", "loss", "val_loss"),
                                                      ("accuracy", "train_accuracy", "val_accuracy"),
                                                      ("macro F1", "train_f1", "val_f1"))):
        for key, lab in ((train_key, "training"), (val_key, "validation")):
            ys = [e.get(key) for e in epochs]
            if any(v is not None for v in ys):
                ax.plot(x, [np.nan if v is None else v for v in ys], marker="o", label=lab)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    lines.append(f"  curves: examples/out/{path.name}")
    return lines


def main(argv=None) -> PaperResult:
    ap = parser(__doc__, size=224, epochs=20, folds=5, quick={"size": 128, "epochs": 4, "folds": 3})
    ap.add_argument("--no-export", action="store_true", help="skip the final network, its curves and TFLite file")
    args = parse(ap, argv)

    from sklearn.base import clone

    from featbus import FineTunedCNN, load_busi
    from featbus.deploy.export import export_tflite
    from featbus.networks import stride_layers
    from featbus.workflows.training import train_model

    data = limited(binary(load_busi(args.data / "busi")), args.limit)
    names = list(data.target_names)
    used, weights, note = paper_weights("mobilenet_v3_small", args.given_weights)
    print(note)
    depth = stride_layers(used, args.size)
    layers = (depth[16], depth[32])
    print(f"BUSI benign vs malignant: {len(data.target)} images, {len(set(data.groups.tolist()))} near-duplicate "
          f"groups; head on {used}'s stride-16 and stride-32 layers {layers}")
    net = FineTunedCNN(backbone=used, weights=weights, layer=layers, input_size=args.size, epochs=args.epochs,
                       warmup_epochs=1, balanced_batches=True, random_state=0, progress=False)
    leaky, free = two_protocols(net, data.data, data.target, groups=data.groups, folds=args.folds,
                                n_bootstrap=args.n_bootstrap, target_names=names, name=used)
    label = used if used == "mobilenet_v3_small" else f"{used} ImageNet (stand-in for mobilenet_v3_small)"
    counts = free.confusion_counts()
    extra = ["confusion counts, leak-free folds:", *("  " + line for line in counts.to_string().splitlines()),
             f"  malignant sensitivity: random split {leaky.value('sensitivity', 1):.3f}, "
             f"leak-free {free.value('sensitivity', 1):.3f}"]
    if not args.no_export:
        final = clone(net).set_params(validation_fraction=0.15, patience=None)
        model = train_model(data, network=final, cross_validate=False, progress=False, n_bootstrap=0)
        OUT.mkdir(parents=True, exist_ok=True)
        extra += ["training curves of the network trained on every image (validation: 15 % of the groups):",
                  *curves(model.networks[0].history_, OUT / "paper_a_curves.png")]
        path = export_tflite(model, OUT / "paper_a_mobilenetv3.tflite", overwrite=True)
        extra.append(f"  TFLite for the phone: examples/out/{path.name} ({path.stat().st_size / 1e6:.1f} MB)")
    result = PaperResult(
        paper="a", title=f"MobileNetV3-Small, stride-16 + stride-32 head, BUSI benign vs malignant [{label}]",
        metric="accuracy", reported="0.9830", leaky=triple(leaky), free=triple(free), command=command(SCRIPT, argv),
        weights=[note], extra=extra,
        settings=settings(args, "224 px, balanced training, random split")
        + f"; layers {layers[0]} + {layers[1]}, balanced batches, 1 warm-up epoch")
    result.print()
    return result


if __name__ == "__main__":
    main()
