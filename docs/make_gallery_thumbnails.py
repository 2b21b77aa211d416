"""Draw the gallery thumbnails of the examples that do not run during the docs build.

The ``plot_*`` examples run when Sphinx builds the gallery and their first figure becomes their
card. The others take minutes to hours on BUSI or mini-MIAS, so their cards show a still
(``# sphinx_gallery_thumbnail_path = "_static/gallery/<name>.png"`` in each example) drawn here
by featbus itself on the real data the example uses: what the example is about, not its numbers
(which the example prints when run). Run from the repository root, with ``../shared/data``
present::

    python docs/make_gallery_thumbnails.py                    # all stills without a model
    python docs/make_gallery_thumbnails.py --cnn-model M.featbus --image IMG   # busi_deep's too

``busi_deep``'s still is the Grad-CAM of a frozen EfficientNet-Lite0 (ImageNet) + SVC model
trained on BUSI images (``--cnn-model``) for a BUSI image it was not trained on (``--image``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "_static" / "gallery"
DATA = Path("../shared/data")
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
    from featbus.augmentation import augment_image

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
    from featbus.plotting import plot_segmentations
    from featbus.preprocessing.roi import lesion_box

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
    from featbus.explain import explain
    from featbus.model import load_model
    from featbus.plotting import plot_explanation

    fig = plot_explanation(explain(load_model(model_path), image), panels=("map",), panel_size=2.2)
    fig.set_size_inches(*SIZE)
    _save(fig, "busi_deep")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnn-model", default=None, help="a .featbus CNN model for busi_deep's Grad-CAM still")
    ap.add_argument("--image", default=None, help="the BUSI image busi_deep's still explains")
    args = ap.parse_args()
    from featbus import load_busi

    busi = load_busi(DATA / "busi")
    busi_handcrafted(busi)
    busi_finetune(busi)
    busi_radiomics(busi)
    busi_roi(busi)
    mias_normal_vs_abnormal()
    if args.cnn_model:
        busi_deep(args.cnn_model, args.image)


if __name__ == "__main__":
    main()
