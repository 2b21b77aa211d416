"""Lesion-centred patches: the region-of-interest protocol of mammography studies."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch

from ._common import _bunch


def lesion_patches(data: Bunch, size: int = 224, *, normal: str = "breast-centre") -> Bunch:
    """Cut lesion-centred square patches: the region-of-interest protocol of mammography studies.

    Every lesion centre of a record (``meta["lesions"]``, ``(row, col, radius)`` as
    :func:`load_mias` gives them from ``Info.txt``) becomes one ``size`` x ``size`` patch centred
    on it, labelled as its image and kept in its image's group (so the patches of one woman, and
    of one image, stay on one side of every split). Images without a lesion centre (normal
    images, or abnormality rows without coordinates) give one patch at the centre of the breast
    (the centroid of :func:`~featbus.preprocessing.mammography.breast_mask`). Parts of a patch
    beyond the image are 0 (background), so every patch has the same size.

    Parameters
    ----------
    data : Bunch
        From :func:`load_mias` (or any loader whose records carry ``meta["lesions"]``).
    size : int, default=224
        Patch side in pixels.
    normal : {"breast-centre", "drop"}, default="breast-centre"
        What an image without a lesion centre gives: a patch at its breast's centre, or none
        (listed in ``Bunch.dropped``; an abnormal image without coordinates is always listed
        there, since its lesion cannot be located).

    Returns
    -------
    patches : Bunch
        The common fields (see the module docstring) plus ``dropped``. Each record's ``meta``
        holds its image's meta and ``patch_centre`` ``(row, col)``; ``paths`` read
        ``"<image path>#lesion<k>"`` or ``"<image path>#breast-centre"``. ``masks`` hold the
        lesion disks inside the patch.

    Examples
    --------
    >>> from featbus.datasets import lesion_patches
    >>> from featbus.preprocessing.mammography import make_mammogram_phantom
    >>> from featbus import ImageRecord
    >>> from sklearn.utils import Bunch
    >>> import numpy as np
    >>> img, _ = make_mammogram_phantom((200, 160), seed=0)
    >>> recs = [ImageRecord(img, meta={"lesions": [(100, 60, 12)]}), ImageRecord(img, meta={"lesions": []})]
    >>> data = Bunch(data=recs, target=np.array([1, 0]), target_names=np.array(["normal", "abnormal"]),
    ...              groups=np.array([0, 0]), paths=["a.png", "b.png"])
    >>> p = lesion_patches(data, size=64)
    >>> [r.image.shape for r in p.data], p.paths
    ([(64, 64), (64, 64)], ['a.png#lesion1', 'b.png#breast-centre'])
    """
    from ..preprocessing.mammography import breast_mask

    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    if normal not in ("breast-centre", "drop"):
        raise ValueError(f"normal must be 'breast-centre' or 'drop', got {normal!r}")
    half = size // 2
    patches, dropped = [], []  # (image, mask, target, path, group, meta) of each patch
    for i, rec in enumerate(data.data):
        meta = dict(rec.meta or {})
        path = str(data.paths[i]) if getattr(data, "paths", None) is not None else f"image {i}"
        centres = [(int(r), int(c), f"lesion{k + 1}") for k, (r, c, _) in enumerate(meta.get("lesions") or [])]
        if not centres:
            if meta.get("label", "normal") != "normal" and meta.get("mask_complete") is False:
                dropped.append((path, "abnormal, but Info.txt gives no lesion coordinates"))
                continue
            if normal == "drop":
                dropped.append((path, "no lesion centre (normal='drop')"))
                continue
            rows, cols = np.nonzero(breast_mask(rec.image)[1])
            centres = [(int(round(rows.mean())), int(round(cols.mean())), "breast-centre")]
        for row, col, tag in centres:
            patch = np.zeros((size, size), rec.image.dtype)
            pmask = np.zeros((size, size), bool)
            r0, c0 = row - half, col - half
            rs = slice(max(0, r0), min(rec.image.shape[0], r0 + size))
            cs = slice(max(0, c0), min(rec.image.shape[1], c0 + size))
            within = slice(rs.start - r0, rs.stop - r0), slice(cs.start - c0, cs.stop - c0)
            patch[within] = rec.image[rs, cs]
            if rec.mask is not None:
                pmask[within] = rec.mask[rs, cs]
            patches.append((patch, pmask, int(data.target[i]), f"{path}#{tag}", data.groups[i],
                            {**meta, "patch_centre": (row, col)}))
    if not patches:
        raise ValueError("no patch: no image has a lesion centre (and normal='drop')")
    images, masks, target, paths, groups, metas = zip(*patches)
    descr = (f"{len(images)} lesion-centred {size} x {size} patches of {len(data.data)} images"
             + (f" ({len(dropped)} images without a patch)" if dropped else "") + ".")
    return _bunch(images, masks, np.asarray(target), data.target_names, paths, np.asarray(groups), metas, descr,
                  dropped=dropped)
