"""Figures: lesion segmentations drawn over their images (:func:`plot_segmentations`).

matplotlib is imported when a figure is drawn. Functions return the ``Figure`` and never call
``plt.show()``: save it with ``fig.savefig("out.png")``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["plot_segmentations"]


def plot_segmentations(images: Sequence, masks_true: Sequence | None = None, masks_pred: Sequence | None = None,
                       boxes: Sequence | None = None, titles: Sequence[str] | None = None, *, ncols: int = 3,
                       panel_size: float = 3.2, show_dice: bool = True):
    """Draw images with their true and predicted lesion contours and crop boxes.

    Parameters
    ----------
    images : sequence of 2-D arrays or ImageRecord
        Shown in gray. Records supply their masks as ``masks_true`` when it is None.
    masks_true : sequence of masks, optional
        Ground truth, drawn as a green contour.
    masks_pred : sequence of masks, optional
        Predictions, drawn as a dashed red contour.
    boxes : sequence of (row0, row1, col0, col1) or None, optional
        Crop boxes (``meta["roi_box"]`` of :class:`featbus.ROICropper`), drawn in yellow.
    titles : sequence of str, optional
        Panel titles; the Dice of the prediction is appended when both masks are given.
    ncols : int
        Panels per row.
    panel_size : float
        Size of one panel in inches.
    show_dice : bool
        Append ``Dice=...`` to each title when both masks are given.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> img = np.zeros((40, 40)); truth = np.zeros((40, 40), bool); truth[10:30, 12:28] = True
    >>> fig = plot_segmentations([img], [truth], [np.roll(truth, 3, axis=1)], [(6, 34, 8, 32)])
    >>> fig.axes[0].get_title()
    'Dice=0.81'
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    from ._records import ImageRecord
    from .segmentation.metrics import dice_score

    n = len(images)
    if n == 0:
        raise ValueError("no images to plot")
    if masks_true is None and any(isinstance(im, ImageRecord) for im in images):
        masks_true = [im.mask if isinstance(im, ImageRecord) else None for im in images]
    for name, seq in (("masks_true", masks_true), ("masks_pred", masks_pred), ("boxes", boxes), ("titles", titles)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries for {n} images")
    if not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    ncols = min(int(ncols), n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows + 0.4), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k >= n:
            continue
        image = images[k].image if isinstance(images[k], ImageRecord) else images[k]
        image = np.asarray(image)
        ax.imshow(image, cmap="gray", interpolation="nearest")
        parts = [str(titles[k])] if titles is not None else []
        truth = None if masks_true is None or masks_true[k] is None else np.asarray(masks_true[k]) > 0
        pred = None if masks_pred is None or masks_pred[k] is None else np.asarray(masks_pred[k]) > 0
        for mask, style in ((truth, dict(colors="lime", linewidths=1.5)),
                            (pred, dict(colors="red", linewidths=1.5, linestyles="dashed"))):
            if mask is None:
                continue
            if mask.shape != image.shape[:2]:
                raise ValueError(f"image {k}: mask has shape {mask.shape} but the image has shape {image.shape[:2]}")
            if mask.any():
                ax.contour(mask.astype(float), levels=[0.5], **style)
        if boxes is not None and boxes[k] is not None:
            r0, r1, c0, c1 = boxes[k]
            ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, edgecolor="yellow",
                                   linewidth=1.5))
        if show_dice and truth is not None and pred is not None:
            parts.append(f"Dice={dice_score(truth, pred):.2f}")
        ax.set_title("  ".join(parts), fontsize=9)
    handles = []
    if masks_true is not None:
        handles.append(Line2D([], [], color="lime", label="ground truth"))
    if masks_pred is not None:
        handles.append(Line2D([], [], color="red", linestyle="--", label="predicted"))
    if boxes is not None:
        handles.append(Line2D([], [], color="yellow", label="crop box"))
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.05 if handles else 0, 1, 1))
    return fig
