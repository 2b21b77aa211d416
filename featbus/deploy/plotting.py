"""Figures: lesion segmentations drawn over their images (:func:`plot_segmentations`) and
explanation maps with their colour scale (:func:`plot_explanation`, :func:`overlay`,
:func:`colour_scale`; also importable from :mod:`featbus.deploy.explain`).

matplotlib is imported when a figure is drawn. Functions return the ``Figure`` and never call
``plt.show()``: save it with ``fig.savefig("out.png")``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["plot_segmentations", "plot_explanation", "colour_scale", "overlay"]


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

    from .._records import ImageRecord
    from ..segmentation.metrics import dice_score

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


#: Percentile of ``|map|`` where an occlusion map's colour scale saturates: one patch position
#: with an outlying drop would otherwise make every other region look like nothing.
ROBUST_PERCENTILE = 99.0
#: Opacity of an overlay pixel grows as ``(|value| / scale end) ** OPACITY_POWER``: weak effects
#: spread over the whole image fade out instead of tinting it, the strongest regions stand out.
OPACITY_POWER = 2.0


def colour_scale(heatmap: np.ndarray, method: str | None = None, target: str | None = None) -> dict:
    """How a map is coloured: the colormap, its limits and what the values mean.

    Occlusion maps are signed (the drop of the target's probability when a patch is hidden;
    negative: hiding the region made the class *more* likely): a diverging colormap (``RdBu_r``,
    red for regions behind the class, blue for regions against it) centred on 0 and symmetric,
    saturating at the :data:`ROBUST_PERCENTILE` percentile of ``|map|``. Grad-CAM maps are
    non-negative and relative to their peak: a sequential colormap (``inferno``) from 0 to 1.

    Parameters
    ----------
    heatmap : ndarray of shape (h, w)
    method : {"occlusion", "gradcam"}, optional
        Default: signed (as occlusion) if the map has negative values, else as Grad-CAM.
    target : str, optional
        The explained class, named in the label.

    Returns
    -------
    scale : dict
        ``cmap`` (a matplotlib colormap name), ``vmin``, ``vmax``, ``label`` (for a colour bar)
        and ``signed``.

    Examples
    --------
    >>> import numpy as np
    >>> s = colour_scale(np.array([[-0.02, 0.1], [0.0, 0.04]]), "occlusion", "malignant")
    >>> s["cmap"], s["vmin"] == -s["vmax"], s["label"]
    ('RdBu_r', True, 'drop of P(malignant) when the region is hidden')
    """
    m = np.asarray(heatmap, dtype=float)
    finite = m[np.isfinite(m)]
    name = "the class" if target is None else f"'{target}'"
    signed = method == "occlusion" or (method is None and finite.size > 0 and finite.min() < 0)
    if signed:
        mag = np.abs(finite)
        top = float(np.percentile(mag, ROBUST_PERCENTILE)) if mag.size else 0.0
        if top <= 0:
            top = float(mag.max()) if mag.size and mag.max() > 0 else 1.0
        label = f"drop of P({target if target is not None else 'class'}) when the region is hidden"
        return {"cmap": "RdBu_r", "vmin": -top, "vmax": top, "label": label, "signed": True}
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    label = (f"Grad-CAM weight for {name} (1 = peak)" if method == "gradcam"
             else f"contribution to {name} (relative)")
    return {"cmap": "inferno", "vmin": 0.0, "vmax": top, "label": label, "signed": False}


def overlay(image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.6, method: str | None = None,
            scale: dict | None = None) -> np.ndarray:
    """RGB uint8: the grey image with ``heatmap`` in colour on top, opaque where it is strong.

    Colours follow :func:`colour_scale` (diverging and centred on 0 for occlusion, sequential for
    Grad-CAM); each pixel's opacity is ``alpha`` times its magnitude on that scale (from 0 to 1)
    to the power :data:`OPACITY_POWER`, so where a map is (near) zero the plain image shows, "no
    effect" is not painted and a weak effect spread everywhere does not wash the image over. Draw the colour bar
    beside it with :func:`plot_explanation`.

    Parameters
    ----------
    image : ndarray of shape (h, w)
    heatmap : ndarray of shape (h, w)
    alpha : float, default=0.6
        Opacity at the scale's ends.
    method : {"occlusion", "gradcam"}, optional
        Passed to :func:`colour_scale`.
    scale : dict, optional
        A :func:`colour_scale` result to use instead (e.g. one shared by several images).

    Returns
    -------
    rgb : ndarray of shape (h, w, 3), uint8

    Examples
    --------
    >>> import numpy as np
    >>> rgb = overlay(np.zeros((4, 4), np.uint8), np.eye(4))
    >>> rgb.shape, rgb.dtype.name
    ((4, 4, 3), 'uint8')
    """
    from matplotlib import colormaps

    from .._records import to_float

    gray = to_float(np.asarray(image))
    base = np.repeat(gray[..., None], 3, axis=-1)
    hm = np.nan_to_num(np.asarray(heatmap, dtype=float))
    if hm.shape != gray.shape:
        raise ValueError(f"the map has shape {hm.shape} but the image has shape {gray.shape}")
    scale = colour_scale(hm, method) if scale is None else scale
    lo, hi = scale["vmin"], scale["vmax"]
    position = np.clip((hm - lo) / (hi - lo), 0, 1)
    strength = np.clip(np.abs(hm) / hi, 0, 1) if scale["signed"] else position
    colour = colormaps[scale["cmap"]](position)[..., :3]
    a = alpha * strength[..., None] ** OPACITY_POWER
    return (np.clip((1 - a) * base + a * colour, 0, 1) * 255).round().astype(np.uint8)


def plot_explanation(result: dict, *, panels: Sequence[str] = ("image", "map"), panel_size: float = 3.2,
                     alpha: float = 0.6):
    """Draw an explanation: the image, the map over it and a colour bar saying what it means.

    The map is coloured by :func:`colour_scale`: an occlusion map (the drop of the
    explained class's probability when a region is hidden) on a diverging scale centred on 0,
    red where hiding the region lowers the probability, blue where it raises it, saturating at a
    robust percentile; a Grad-CAM map on a sequential scale from 0 to its peak. Faint colour
    means a small value (:func:`overlay`).

    Parameters
    ----------
    result : dict
        From :func:`featbus.deploy.explain.explain` (``image``, ``map``, ``method``, ``target``,
        ``predicted``, ``proba``).
    panels : sequence of {"image", "map"}, default=("image", "map")
        The plain image and/or the map over it, side by side.
    panel_size : float, default=3.2
        Height of a panel in inches (its width follows the image's aspect ratio).
    alpha : float, default=0.6
        Opacity of the strongest colours.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Made without pyplot (nothing global to close); ``fig.savefig(path)`` writes it.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((40, 60), 120, np.uint8); sens = np.zeros((40, 60)); sens[10:20, 20:30] = 0.2
    >>> res = {"image": image, "map": sens, "method": "occlusion", "target": "malignant",
    ...        "predicted": "malignant", "proba": {"benign": 0.3, "malignant": 0.7}}
    >>> fig = plot_explanation(res)
    >>> fig.axes[-1].get_ylabel()
    'drop of P(malignant) when the region is hidden'
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    for key in ("image", "map", "method", "target"):
        if key not in result:
            raise ValueError(f"result has no {key!r}: pass what featbus.deploy.explain.explain returns")
    panels = list(panels)
    bad = [p for p in panels if p not in ("image", "map")]
    if not panels or bad:
        raise ValueError(f"panels must be a non-empty sequence of 'image' and 'map', got {panels!r}")
    image = np.asarray(result["image"])
    scale = colour_scale(result["map"], result["method"], str(result["target"]))
    h, w = image.shape[:2]
    width = panel_size * w / h
    fig = Figure(figsize=(width * len(panels) + 1.3, panel_size + 0.7), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    proba = result.get("proba") or {}
    predicted = result.get("predicted")
    for ax, what in zip(axes, panels):
        ax.set_axis_off()
        if what == "image":
            ax.imshow(image, cmap="gray", interpolation="nearest")
            p = proba.get(str(predicted))
            ax.set_title(f"predicted: {predicted}" + ("" if p is None else f" (P = {p:.2f})"), fontsize=9)
        else:
            ax.imshow(overlay(image, result["map"], alpha=alpha, scale=scale), interpolation="nearest")
            name = "occlusion" if result["method"] == "occlusion" else "Grad-CAM"
            ax.set_title(f"{name}: regions behind '{result['target']}'", fontsize=9)
    if "map" in panels:
        mappable = ScalarMappable(Normalize(scale["vmin"], scale["vmax"]), scale["cmap"])
        bar = fig.colorbar(mappable, ax=list(axes), fraction=0.05, pad=0.02, shrink=0.9)
        bar.set_label(scale["label"], fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return fig
