"""Draw the gallery thumbnails of the examples that do not run during the docs build.

The ``plot_*`` examples run when Sphinx builds the gallery and their first figure becomes their
card. The others take minutes to hours on BUSI or mini-MIAS, so their cards show a still
(``# sphinx_gallery_thumbnail_path = "_static/gallery/<name>.png"`` in each example) drawn here
by featbus itself on the real data the example uses: what the example is about, not its numbers
(which the example prints when run). Run from the repository root, with ``../shared/data``
present::

    python docs/make_gallery_thumbnails.py                    # all stills without a model
    python docs/make_gallery_thumbnails.py --cnn-model M.featbus --image IMG   # busi_deep's too
    python docs/make_gallery_thumbnails.py --only paper          # the paper_* stills only

``busi_deep``'s still is the Grad-CAM of a frozen EfficientNet-Lite0 (ImageNet) + SVC model
trained on BUSI images (``--cnn-model``) for a BUSI image it was not trained on (``--image``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from featbus import get_data_home

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "_static" / "gallery"
DATA = get_data_home()
SIZE = (4.0, 2.8)  # inches at 100 dpi: sphinx-gallery's 400 x 280 card
PAPER_DOI = "10.1016/j.dib.2019.104863"


def _figure(ncols: int, nrows: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    return fig, axes


def _save(fig, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=100)
    print(path)


def busi_handcrafted(busi) -> None:
    """Two files of one near-duplicate group: why the example's folds keep groups together."""
    groups = np.asarray(busi.groups)
    first = next(g for g in np.unique(groups) if (groups == g).sum() >= 2 and busi.target[groups == g][0] == 1)
    a, b = np.flatnonzero(groups == first)[:2]
    fig, axes = _figure(2)
    for ax, i in zip(axes, (a, b)):
        ax.imshow(busi.images[i], cmap="gray")
        ax.set_title(Path(busi.paths[i]).name, fontsize=8)
    fig.suptitle("one near-duplicate group: never split across folds", fontsize=9)
    _save(fig, "busi_handcrafted")


def busi_finetune(busi) -> None:
    """One malignant image and augmented copies (ImageAugmenter's draws) fine-tuning trains on."""
    from featbus.networks.augmentation import augment_image

    i = int(np.flatnonzero(busi.target == 1)[0])
    copies = [busi.images[i]] + [augment_image(busi.images[i], random_state=s) for s in range(3)]
    fig, axes = _figure(2, 2)
    for ax, im, title in zip(axes, copies, ["image", "augmented", "augmented", "augmented"]):
        ax.imshow(np.asarray(im), cmap="gray")
        ax.set_title(title, fontsize=8)
    _save(fig, "busi_finetune")


def busi_radiomics(busi) -> None:
    """One image and three filter responses whose statistics are texture features."""
    import cv2
    from scipy import ndimage

    from featbus.features.filters import _gabor_kernels, _wavelet_bands

    i = int(np.flatnonzero(busi.target == 1)[1])
    img = np.asarray(busi.images[i], np.float32)
    gabor = np.abs(cv2.filter2D(img, cv2.CV_32F, np.real(_gabor_kernels((0.1,), 4, 1.0)[0])))
    log = ndimage.gaussian_laplace(img, 2.0)
    wave = np.abs(_wavelet_bands(img, "coif1", 1)[-1])
    fig, axes = _figure(2, 2)
    for ax, im, title in zip(axes, (img, gabor, np.abs(log), wave),
                             ("image", "Gabor (f = 0.1)", "|LoG| (sigma = 2)", "wavelet detail")):
        lo, hi = np.percentile(im, [1, 99])  # responses are heavy-tailed: show their bulk
        ax.imshow(im, cmap="gray" if title == "image" else "magma", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=8)
    _save(fig, "busi_radiomics")


def busi_roi(busi) -> None:
    """Ground-truth contours and the lesion crop boxes the ROI features are computed in."""
    from featbus.deploy.plotting import plot_segmentations
    from featbus.segmentation.roi import lesion_box

    picks = [int(np.flatnonzero(busi.target == c)[2]) for c in (0, 1)]
    masks = [np.asarray(busi.masks[i]) > 0 for i in picks]
    fig = plot_segmentations([busi.images[i] for i in picks], masks_true=masks,
                             boxes=[lesion_box(m) for m in masks], titles=["benign", "malignant"],
                             ncols=2, panel_size=2.0)
    fig.set_size_inches(*SIZE)
    _save(fig, "busi_roi")


def mias_normal_vs_abnormal() -> None:
    """A mammogram, the pectoral muscle found in it, and the image with the muscle removed."""
    from featbus.io import read_image
    from featbus.preprocessing.mammography import remove_pectoral

    img = read_image(DATA / "mini-mias-original" / "mdb002.png")
    removed = remove_pectoral(img)
    shown = np.dstack([img] * 3).astype(float) / 255
    shown[removed.pectoral_mask] = 0.35 * shown[removed.pectoral_mask] + 0.65 * np.array([1.0, 0.3, 0.2])
    fig, axes = _figure(3)
    for ax, im, title in zip(axes, (img, shown, removed.image),
                             ("mammogram", "pectoral muscle found", "muscle removed")):
        ax.imshow(im, cmap="gray")
        ax.set_title(title, fontsize=8)
    _save(fig, "mias_normal_vs_abnormal")


def busi_deep(model_path: str, image: str) -> None:
    """Grad-CAM of a frozen Lite0 + SVC model on an image it was not trained on."""
    from featbus.deploy.explain import explain
    from featbus.deploy.plotting import plot_explanation
    from featbus.model import load_model

    fig = plot_explanation(explain(load_model(model_path), image), panels=("map",), panel_size=2.2)
    fig.set_size_inches(*SIZE)
    _save(fig, "busi_deep")


# ------------------------------------------------------------------ the paper_* reproductions

_LITE0 = {}


def _lite0_maps(image: np.ndarray, strides: tuple[int, ...]) -> list[np.ndarray]:
    """Channel-mean activation of EfficientNet-Lite0 (ImageNet, offline; the examples' stand-in)
    at the layers :func:`featbus.networks.stride_layers` names for ``strides``, for one gray image."""
    import cv2

    from featbus.networks import load_backbone, preprocess_affine, resolve_backbone, stride_layers

    if "model" not in _LITE0:
        bb = resolve_backbone("efficientnet_lite0")
        _LITE0.update(model=load_backbone(bb, "imagenet", (224, 224, 3)), layers=stride_layers(bb),
                      affine=preprocess_affine(bb))
    import keras

    model = _LITE0["model"]
    cut = keras.Model(model.inputs, [model.get_layer(_LITE0["layers"][s]).output for s in strides])
    scale, offset = _LITE0["affine"]
    x = cv2.resize(np.asarray(image, np.float32), (224, 224), interpolation=cv2.INTER_AREA)
    x = np.dstack([x] * 3) * scale + offset
    out = cut.predict(x[None], verbose=0)
    out = out if isinstance(out, list) else [out]
    return [np.abs(np.asarray(o[0])).mean(axis=-1) for o in out]


def _first(data, label: int, k: int = 0) -> int:
    return int(np.flatnonzero(data.target == label)[k])


def paper_busi_mobilenetv3_phone(busi) -> None:
    """(a) The two depths whose maps are pooled and joined: stride 16 and stride 32."""
    import cv2

    i = _first(busi, list(busi.target_names).index("malignant"), 3)
    img = cv2.resize(np.asarray(busi.images[i]), (224, 224), interpolation=cv2.INTER_AREA)  # the network's input
    s16, s32 = _lite0_maps(img, (16, 32))
    fig, axes = _figure(3)
    axes[0].imshow(img, cmap="gray")
    axes[0].set_title("malignant", fontsize=8)
    for ax, m, title in zip(axes[1:], (s16, s32), ("stride 16 (14 x 14)", "stride 32 (7 x 7)")):
        ax.imshow(m, cmap="magma", interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle("two depths, pooled and joined before the head", fontsize=9)
    _save(fig, "paper_busi_mobilenetv3_phone")


def paper_busi_mobilenetv2_app(busi) -> None:
    """(b) Per class, each image's median grey against its grey range (p1 to p99): the
    intensity analysis the example prints."""
    med = np.array([float(np.median(im)) for im in busi.images])
    rng = np.array([float(np.subtract(*np.percentile(im, (99, 1)))) for im in busi.images])
    fig, axes = _figure(1)
    ax = axes[0]
    ax.set_axis_on()
    for k, (name, colour) in enumerate(zip(busi.target_names, ("tab:blue", "tab:red", "tab:green"))):
        sel = busi.target == k
        ax.scatter(med[sel], rng[sel], s=5, alpha=0.45, color=colour, label=name, linewidths=0)
        ax.scatter([np.median(med[sel])], [np.median(rng[sel])], s=70, marker="X", color=colour,
                   edgecolors="black", linewidths=0.8)
    ax.set_xlabel("image median grey", fontsize=8)
    ax.set_ylabel("grey range (p1 to p99)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, markerscale=2.5, loc="lower right", frameon=False)
    ax.set_title("intensity per class (X: class median)", fontsize=9)
    _save(fig, "paper_busi_mobilenetv2_app")


def paper_mias_cnn_svm() -> None:
    """(c) A mammogram, its breast region cropped (the CNN's input), and a lesion-centred patch
    with an augmented copy (the benchmark's recipe; augmentation on training folds only)."""
    from matplotlib.patches import Circle
    from sklearn.utils import Bunch

    from featbus import load_mias
    from featbus.datasets import lesion_patches
    from featbus.networks.augmentation import ImageAugmenter
    from featbus.preprocessing.mammography import breast_mask

    mias = load_mias(DATA / "mini-mias")
    # mdb028: a malignant circumscribed mass in fatty tissue, visible at card size
    i = next(k for k, r in enumerate(mias.data) if r.meta.get("reference") == "mdb028")
    img = np.asarray(mias.images[i])
    masked, mask = breast_mask(img)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = masked[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    one = Bunch(data=[mias.data[i]], target=mias.target[i:i + 1], target_names=mias.target_names,
                groups=np.asarray(mias.groups)[i:i + 1], paths=[mias.paths[i]])
    patch = np.asarray(lesion_patches(one, size=224).data[0].image)
    # the benchmark's copies (benchmarks/mias_published_recipe.py), on the [0, 1] scale
    aug, _ = ImageAugmenter(vertical_flip=True, speckle=0.0).augment01(patch.astype(np.float64) / 255,
                                                                       rng=np.random.default_rng(1))
    fig, axes = _figure(4)
    axes[0].imshow(img, cmap="gray")
    for row, col, radius in mias.data[i].meta["lesions"]:
        axes[0].add_patch(Circle((col, row), radius, fill=False, color="yellow", lw=1))
    for ax, im, title in zip(axes, (img, crop, patch, aug),
                             ("mammogram", "breast crop", "lesion patch", "augmented")):
        ax.imshow(im, cmap="gray")
        ax.set_title(title, fontsize=8)
    fig.suptitle("breast region -> CNN features -> SVM; copies only in training folds", fontsize=8)
    _save(fig, "paper_mias_cnn_svm")


def paper_busi_resnet101_enhanced(busi) -> None:
    """(d) Median filter + global histogram equalisation, adaptive threshold, and the threshold
    and edge segmentations beside BUSI's ground-truth mask."""
    from featbus import AdaptiveThreshold, EdgeSegmenter, HistogramEqualizer, SpeckleDenoise, ThresholdSegmenter

    # a benign lesion of 5-15 % of the image: large enough to see on the card
    i = next(k for k in np.flatnonzero(busi.target == list(busi.target_names).index("benign"))
             if 0.05 < np.mean(np.asarray(busi.masks[k]) > 0) < 0.15)
    img = np.asarray(busi.images[i])
    enhanced = HistogramEqualizer().fit_transform(SpeckleDenoise(method="median").fit_transform([img]))[0]
    binary = AdaptiveThreshold().fit_transform([enhanced])[0]
    thr = ThresholdSegmenter().fit().predict([enhanced])[0]
    edge = EdgeSegmenter().fit().predict([enhanced])[0]
    truth = np.asarray(busi.masks[i]) > 0
    fig, axes = _figure(3, 2)
    panels = ((img, "image"), (enhanced, "median + hist. eq."), (binary, "adaptive threshold"),
              (thr, "threshold segm."), (edge, "edge segm."), (truth, "ground truth"))
    for ax, (im, title) in zip(axes, panels):
        if im.dtype == bool or title.endswith("segm."):
            ax.imshow(enhanced, cmap="gray")
            ax.contour(np.asarray(im) > 0, levels=[0.5], colors="lime" if title == "ground truth" else "red",
                       linewidths=1)
        else:
            ax.imshow(im, cmap="gray")
        ax.set_title(title, fontsize=8)
    _save(fig, "paper_busi_resnet101_enhanced")


def paper_busi_custom_cnn(busi) -> None:
    """(e) The paper's augmentation: brightness gain in [1, 1.4], "nearest" fill."""
    from featbus.networks.augmentation import ImageAugmenter

    i = _first(busi, list(busi.target_names).index("malignant"), 7)
    img = np.asarray(busi.images[i])
    aug = ImageAugmenter(brightness=0.0, brightness_range=(1.0, 1.4), fill_mode="nearest")
    copies = [img]
    for seed in range(5):
        copies.append(aug.augment01(img.astype(np.float64) / 255, rng=np.random.default_rng(seed))[0])
    fig, axes = _figure(3, 2)
    for k, (ax, im) in enumerate(zip(axes, copies)):
        ax.imshow(im, cmap="gray", vmin=0, vmax=255 if k == 0 else 1)
        ax.set_title("image" if k == 0 else "augmented", fontsize=8)
    fig.suptitle('brightness x [1, 1.4], fill "nearest"', fontsize=9)
    _save(fig, "paper_busi_custom_cnn")


def _fold_strip(ax, busi, n_groups: int = 12) -> None:
    """Images of the first ``n_groups`` near-duplicate groups of two or more, coloured by the test
    fold they fall in under stratified and under near-duplicate-grouped 5-fold CV."""
    from matplotlib.colors import ListedColormap
    from sklearn.model_selection import StratifiedKFold

    from featbus import DuplicateGroupKFold

    groups, y = np.asarray(busi.groups), np.asarray(busi.target)
    folds = []
    for cv in (StratifiedKFold(5, shuffle=True, random_state=0), DuplicateGroupKFold(5)):
        f = np.empty(len(y), int)
        for k, (_, test) in enumerate(cv.split(np.zeros(len(y)), y, groups)):
            f[test] = k
        folds.append(f)
    multi = [g for g in dict.fromkeys(groups.tolist()) if (groups == g).sum() >= 2][:n_groups]
    order = np.concatenate([np.flatnonzero(groups == g) for g in multi])
    ax.set_axis_on()
    ax.imshow(np.vstack([folds[0][order], folds[1][order]]), aspect="auto", interpolation="nearest",
              cmap=ListedColormap(["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]))
    edges = np.cumsum([(groups == g).sum() for g in multi])[:-1] - 0.5
    for e in edges:
        ax.axvline(e, color="white", lw=1.2)
    ax.set_yticks([0, 1], ["stratified", "grouped"], fontsize=7)
    ax.set_xticks([])
    ax.set_xlabel("images of near-duplicate groups (white lines: group borders)", fontsize=7)


def paper_busi_cnn_comparison(busi) -> None:
    """Frozen ImageNet features + SVM judged twice: which test fold each image of a near-duplicate
    group falls in, under plain stratified folds and under grouped folds."""
    fig, axes = _figure(1)
    _fold_strip(axes[0], busi)
    axes[0].set_title("test fold per image: stratified folds split near-duplicates,\ngrouped folds keep "
                      "them together", fontsize=8)
    _save(fig, "paper_busi_cnn_comparison")


def paper_busi_balancing(busi) -> None:
    """Class counts of one grouped training fold before and after SMOTE inside the pipeline, and
    of its test fold, which no sampler touches."""
    from imblearn.over_sampling import SMOTE

    from featbus import DuplicateGroupKFold

    y = np.asarray(busi.target)
    X = np.array([[np.mean(im), np.std(im)] for im in busi.images])  # stand-in features: SMOTE counts only
    train, test = next(DuplicateGroupKFold(5).split(X, y, busi.groups))
    _, y_res = SMOTE(random_state=0).fit_resample(X[train], y[train])
    names = list(busi.target_names)
    real = np.bincount(y[train], minlength=len(names))
    synth = np.bincount(y_res, minlength=len(names)) - real
    fig, axes = _figure(2)
    colours = ("tab:blue", "tab:red", "tab:green")
    ax = axes[0]
    ax.set_axis_on()
    ax.bar(names, real, color=colours)
    ax.bar(names, synth, bottom=real, color=colours, alpha=0.35, hatch="///", edgecolor="white")
    ax.set_title("training fold: real +\nSMOTE (hatched)", fontsize=8)
    ax = axes[1]
    ax.set_axis_on()
    ax.bar(names, np.bincount(y[test], minlength=len(names)), color=colours)
    ax.set_ylim(axes[0].get_ylim())
    ax.set_title("test fold: real images\nonly", fontsize=8)
    for ax in axes:
        ax.tick_params(labelsize=7)
    fig.suptitle("the sampler sits inside the pipeline", fontsize=9)
    _save(fig, "paper_busi_balancing")


def paper_busi_hybrid(busi) -> None:
    """What each feature family looks at: HOG gradients, LBP codes, a mid-level CNN map."""
    import cv2
    from skimage.feature import hog

    from featbus.features.lbp import lbp_codes

    i = _first(busi, list(busi.target_names).index("benign"), 12)
    img = cv2.resize(np.asarray(busi.images[i]), (224, 224), interpolation=cv2.INTER_AREA)
    small = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)  # hog_features' default size
    _, hog_im = hog(small, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), visualize=True)
    lbp = lbp_codes(img, 8, 1)  # uniform codes 0-9
    (cnn,) = _lite0_maps(img, (8,))
    fig, axes = _figure(2, 2)
    panels = ((img, "image", "gray", None), (hog_im, "HOG (cell gradients)", "gray", np.percentile(hog_im, 99)),
              (lbp, "LBP codes (P = 8, R = 1)", "gray", None), (cnn, "CNN map (stride 8)", "magma", None))
    for ax, (im, title, cmap, vmax) in zip(axes, panels):
        ax.imshow(im, cmap=cmap, vmax=vmax, interpolation="nearest" if im is cnn else "antialiased")
        ax.set_title(title, fontsize=8)
    fig.suptitle("HOG + LBP + CNN features, joined before the SVM", fontsize=8)
    _save(fig, "paper_busi_hybrid")


PAPER_STILLS = ("paper_busi_mobilenetv3_phone", "paper_busi_mobilenetv2_app", "paper_mias_cnn_svm",
                "paper_busi_resnet101_enhanced", "paper_busi_custom_cnn", "paper_busi_cnn_comparison",
                "paper_busi_balancing", "paper_busi_hybrid")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnn-model", default=None, help="a .featbus CNN model for busi_deep's Grad-CAM still")
    ap.add_argument("--image", default=None, help="the BUSI image busi_deep's still explains")
    ap.add_argument("--only", nargs="+", default=None, metavar="NAME",
                    help="draw only these stills (example names, e.g. paper_busi_hybrid); 'paper' for all "
                         "paper_* ones")
    args = ap.parse_args()
    from featbus import load_busi

    stills = {"busi_handcrafted": busi_handcrafted, "busi_finetune": busi_finetune,
              "busi_radiomics": busi_radiomics, "busi_roi": busi_roi,
              "mias_normal_vs_abnormal": lambda busi: mias_normal_vs_abnormal(),
              "paper_mias_cnn_svm": lambda busi: paper_mias_cnn_svm(),
              **{name: globals()[name] for name in PAPER_STILLS if name != "paper_mias_cnn_svm"}}
    wanted = list(stills) if args.only is None else \
        [n for o in args.only for n in (PAPER_STILLS if o == "paper" else [o])]
    unknown = [n for n in wanted if n not in stills]
    if unknown:
        ap.error(f"no still named {', '.join(unknown)}; known: {', '.join(stills)}")
    busi = load_busi(DATA / "busi")
    for name in wanted:
        stills[name](busi)
    if args.cnn_model:
        busi_deep(args.cnn_model, args.image)

if __name__ == "__main__":
    main()
