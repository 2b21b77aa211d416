"""The pixel scale a model's parts learnt, and bringing every input to it (issue 82).

A network, a segmenter and a texture feature learn the pixel size of their training images:
a lesion 40 px wide at 320 px is 100 px wide in a hospital's 800 px frame, and its texture,
its crop's interpolation and its shape features all change. A model therefore records the
scale its parts were trained at (the manifest's ``input_scale``, :func:`scale_record`) and
:class:`~featbus.model.loaded.FeatbusModel` brings every image to it before any part sees it
(:func:`bring_to_scale`), in prediction, validation, adaptation and comparison alike.

The scale is the **longer side in pixels**: an image larger than it is shrunk so that its longer
side is ``longer_side`` (the aspect ratio kept, the shorter side rounded) by area averaging
(:data:`cv2.INTER_AREA`, no aliasing: how the shared copies were made from the originals), its mask
by nearest neighbour, so it stays binary. An image already at the scale is returned as it is (the
same object): a model sees the shared 320 px copies exactly as before. An image **smaller** than
the scale is left at its stored size (:data:`GROW` ``= "keep"``): enlarging cannot bring back the
detail it lacks, and measured it moves the decisions further than the parts' own resizing does
(``benchmarks/scale_invariance.py``, the shared copies shrunk to 160 px: bilinear enlargement to
320 px cost 0.15 and 0.22 of the sensitivity at BUSI and BrEaST-Lesions-USG, bicubic 0.13 and 0.23,
left as stored 0.075 and 0.10, against the 320 px copies). ``grow="linear"`` or ``"cubic"`` enlarges.

``native`` (``longer_side=None``) means no resize: the model sees every image at its stored size,
as featbus did before it recorded a scale.

**A physical scale, where the data gives one.** Where every training image has a physical pixel
size (a release table's pixel-size column, a DICOM header's spacing: the record meta of
:data:`featbus._records.PIXEL_SIZE_KEY`), the model also records a **pixel size near the coarsest of
its images as trained** (:data:`TRAINING_PIXEL_QUANTILE`; ``input_scale["pixel_size"]``, after the
longer-side rule, and the finer ones shrunk to it, so nearly every training image is seen at it) and
brings an image with a pixel size **in the same unit** to it
(:func:`physical_side`): shrunk by area averaging when its pixels are finer, seen as stored when
they are coarser (it is never enlarged, whatever :data:`GROW` says, so no image grows past its own
size). A pixel size more than :data:`MAX_PIXEL_RATIO` times finer or coarser than the trained one is
refused, the image named (a unit mix-up: centimetres read as millimetres is 10x). Every other
image follows the longer-side rule. A model without the record (``breast-us``: only one of its
three sites gives pixel sizes) behaves as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["SHIPPED_LONGER_SIDE", "GROW", "MAX_PIXEL_RATIO", "to_scale", "bring_to_scale", "scaled_shape",
           "scale_record", "input_scale_of", "median_longer_side", "parse_input_scale", "scale_words",
           "physical_side", "same_unit", "training_pixel_size", "TRAINING_PIXEL_QUANTILE", "seen_shape",
           "box_as_given", "record_to_scale", "part_longer_side"]

#: The longer side, in pixels, of every image the parts featbus ships (the breast-us backbone,
#: segmenter and classifier) learnt from: the shared copies of BUSI, BUS-BRA and BrEaST-Lesions-USG
#: are all shrunk to 320 px on the longer side (``../shared/data/README.md``).
SHIPPED_LONGER_SIDE = 320

#: What becomes of an image smaller than the scale: ``"keep"``, left at its stored size (see the
#: module's text for why), or enlarged by an OpenCV interpolation of
#: :func:`featbus.preprocessing.intensity.resize` (``"linear"``, ``"cubic"``). :func:`to_scale`'s
#: default, read when it is called.
GROW = "keep"

#: The most an image's pixel size may differ from a model's trained pixel size, either way, before it is
#: refused: a scanner's depth setting moves it about 3x (0.03-0.1 mm at 2-6 cm); 10x is a unit mix-up.
MAX_PIXEL_RATIO = 8.0

#: The quantile of the training images' pixel sizes (as trained) a model records and brings every image
#: that gives one to. Only an image with finer pixels can be brought to it (none is enlarged), so a
#: low quantile leaves the coarser training images, and their copies at a larger pixel count, seen at
#: two sizes; a high one shrinks the finer ones more, and the maximum follows one odd scanner.
#: Measured (``benchmarks/physical_scale.py``: 40 BrEaST-Lesions-USG images trained on, 60 others at 2x
#: and 3x their pixel count with the pixel size divided to match): the median kept 97 % and 93 % of the
#: decisions, p(malignant) moving up to 0.14 for the coarser images; the 0.9 quantile 98 % and 97 %
#: (up to 0.086), the maximum 100 % (up to 0.091); the AUC as stored 0.69, 0.71 and 0.72.
TRAINING_PIXEL_QUANTILE = 0.9


def scaled_shape(shape: Sequence[int], longer_side: int) -> tuple[int, int]:
    """``(height, width)`` of an image of ``shape`` brought to ``longer_side`` on its longer side
    (the shorter side rounded to the nearest pixel, at least 1).

    Examples
    --------
    >>> scaled_shape((606, 856), 320)
    (227, 320)
    >>> scaled_shape((100, 50), 320)
    (320, 160)
    """
    h, w = int(shape[0]), int(shape[1])
    factor = longer_side / max(h, w)
    return (longer_side, max(1, round(w * factor))) if h >= w else (max(1, round(h * factor)), longer_side)


def to_scale(image: np.ndarray, mask: np.ndarray | None = None, longer_side: int | None = 320, *,
             grow: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """One image (and its mask) brought to ``longer_side`` pixels on the longer side.

    Parameters
    ----------
    image : ndarray of shape (h, w) or (h, w, c)
    mask : ndarray of shape (h, w), optional
        Resized by nearest neighbour (it stays binary), its dtype kept.
    longer_side : int or None, default=320
        ``None``: native size, nothing is resized.
    grow : str, optional
        How a smaller image is enlarged (default :data:`GROW`); ``"keep"``: it is not.

    Returns
    -------
    image : ndarray
        Area-averaged when it shrinks, its dtype kept; the input itself when its longer side is
        already ``longer_side`` (or smaller, unless ``grow`` enlarges it).
    mask : ndarray or None

    Examples
    --------
    >>> import numpy as np
    >>> img, m = to_scale(np.zeros((606, 856), np.uint8), np.ones((606, 856), bool), 320)
    >>> img.shape, m.shape, m.dtype
    ((227, 320), (227, 320), dtype('bool'))
    >>> same = np.zeros((200, 320), np.uint8)
    >>> to_scale(same, None, 320)[0] is same
    True
    """
    from ..io import resize_to

    image = np.asarray(image)
    grow = GROW if grow is None else grow
    smaller = longer_side is not None and max(image.shape[:2]) < longer_side
    if longer_side is None or max(image.shape[:2]) == longer_side or (smaller and grow == "keep"):
        return image, mask
    hw = scaled_shape(image.shape[:2], longer_side)
    out = resize_to(image, hw, grow if smaller else "area")
    if mask is not None:
        m = np.asarray(mask)
        mask = resize_to(m.astype(np.uint8), hw, "nearest").astype(m.dtype)
    return out, mask


def bring_to_scale(records, longer_side: int | None, pixel_size: dict | None = None) -> list:
    """Records (paths, arrays or :class:`~featbus.ImageRecord`) read and brought to ``longer_side``
    (:func:`to_scale`), or, for a record whose pixel size is known in the unit of ``pixel_size``, to that
    pixel size (:func:`physical_side`): what a model's parts see. A record already at the scale is
    returned as read; a resized one carries ``meta["input_shape"]``, its stored ``(height, width)``,
    and its pixel size (:data:`featbus._records.PIXEL_SIZE_KEY`) as resized. ``meta["scale_rule"]``
    says which rule applied: ``"pixel size"`` or ``"longer side"``.

    Parameters
    ----------
    records : sequence of paths, arrays or ImageRecord
    longer_side : int or None
        ``None``: native size; ``records`` is returned as given, unread.
    pixel_size : dict, optional
        The model's trained pixel size (``input_scale["pixel_size"]``: ``size``, ``unit``, ``source``).

    Returns
    -------
    records : list of ImageRecord (or ``records`` itself for ``None``)

    Raises
    ------
    ValueError
        An image whose pixel size is more than :data:`MAX_PIXEL_RATIO` times the trained one, named.

    Examples
    --------
    >>> import numpy as np
    >>> out = bring_to_scale([np.zeros((640, 480), np.uint8), np.zeros((320, 200), np.uint8)], 320)
    >>> [r.image.shape for r in out], out[0].meta["input_shape"], "input_shape" in out[1].meta
    ([(320, 240), (320, 200)], (640, 480), False)
    >>> from featbus import ImageRecord
    >>> fine = ImageRecord(np.zeros((640, 480), np.uint8), meta={"physical_pixel": {"size": 0.05, "unit": "mm"}})
    >>> (seen,) = bring_to_scale([fine], 320, {"size": 0.08, "unit": "mm"})
    >>> seen.image.shape, seen.meta["scale_rule"], seen.meta["physical_pixel"]["size"]
    ((400, 300), 'pixel size', 0.08)
    """
    if longer_side is None:
        return records
    from .._records import PIXEL_SIZE_KEY
    from .._records import pixel_size as pixel_of
    from ..io import load_item

    out = []
    for i, item in enumerate(records):
        rec = load_item(item, i)
        own = pixel_of(rec.meta)
        side, rule = longer_side, "longer side"
        if pixel_size is not None and same_unit(own, pixel_size):
            side, rule = physical_side(rec.image.shape, own["size"], pixel_size["size"], i, rec.path), "pixel size"
        image, mask = to_scale(rec.image, rec.mask, side)  # a physical side is never above the image's own
        if image is not rec.image:
            stored = tuple(int(s) for s in rec.image.shape[:2])
            rec = rec.with_image(image, mask)
            rec.meta["input_shape"] = stored
            if own is not None:  # the pixels are larger now: the size as seen
                rec.meta[PIXEL_SIZE_KEY] = {**own, "size": own["size"] * max(stored) / max(image.shape[:2])}
        if pixel_size is not None:
            rec.meta["scale_rule"] = rule
        out.append(rec)
    return out


def same_unit(own: dict | None, trained: dict | None) -> bool:
    """Whether an image's pixel size can be compared with a model's: both in millimetres, or both in
    the unstated unit of the same source (a table column of the same name).

    Examples
    --------
    >>> same_unit({"size": 1, "unit": "mm", "source": "a"}, {"size": 2, "unit": "mm", "source": "b"})
    True
    >>> same_unit({"size": 1, "unit": None, "source": "column 'Pixel_size'"},
    ...           {"size": 2, "unit": "mm", "source": "DICOM PixelSpacing"})
    False
    """
    if not own or not trained:
        return False
    if own.get("unit") or trained.get("unit"):
        return own.get("unit") == trained.get("unit")
    return str(own.get("source", "")).casefold() == str(trained.get("source", "")).casefold()


def physical_side(shape: Sequence[int], size: float, trained: float, index: int | None = None,
                  path: str | None = None) -> int:
    """The longer side, in pixels, at which an image of ``shape`` and pixel ``size`` has the ``trained``
    pixel size; its own longer side when its pixels are coarser (never enlarged).

    Raises
    ------
    ValueError
        ``size`` more than :data:`MAX_PIXEL_RATIO` times finer or coarser than ``trained``, the
        image named (a unit mix-up, or a pixel-size cell that is wrong).

    Examples
    --------
    >>> physical_side((606, 856), 0.05, 0.1), physical_side((606, 856), 0.2, 0.1)
    (428, 856)
    """
    longer = max(int(shape[0]), int(shape[1]))
    ratio = float(size) / float(trained)
    if not 1 / MAX_PIXEL_RATIO <= ratio <= MAX_PIXEL_RATIO:
        from .._records import describe

        raise ValueError(f"{describe(index, path)}: its pixel size {size:g} is {ratio:.3g} times the {trained:g} the "
                         f"model was trained at (more than {MAX_PIXEL_RATIO:g}x either way): check the unit of the "
                         "pixel-size column or header (a size in cm read as mm is 10x)")
    return min(longer, max(16, round(longer * ratio)))


def parse_input_scale(value: Any) -> int | None | str:
    """``--input-scale`` / ``input_scale=`` as featbus keeps it: ``"auto"`` (the training images'
    median longer side), ``None`` (native size: ``"native"``) or a positive number of pixels.

    Examples
    --------
    >>> parse_input_scale("320"), parse_input_scale("native"), parse_input_scale("auto")
    (320, None, 'auto')
    >>> parse_input_scale("big")
    Traceback (most recent call last):
    ...
    ValueError: input_scale must be 'auto', 'native' or a longer side in pixels (at least 16), got 'big'
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "native"):
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        side = int(str(value).strip().removesuffix("px").strip())
    except ValueError:
        side = 0
    if isinstance(value, float) and not float(value).is_integer():
        side = 0
    if side < 16:
        raise ValueError("input_scale must be 'auto', 'native' or a longer side in pixels (at least 16), got "
                         f"{value!r}")
    return side


def median_longer_side(records) -> int:
    """The median longer side, in pixels, of loaded records (rounded up to whole pixels)."""
    sides = [max(np.shape(getattr(r, "image", r))[:2]) for r in records]
    return int(math.ceil(float(np.median(sides)))) if sides else 0


def scale_record(longer_side: int | None, how: str, pixel_size: dict | None = None) -> dict:
    """The manifest's ``input_scale`` entry: ``{"longer_side_px": int or None, "from": how}``, with
    ``"pixel_size"`` (``size``, ``unit``, ``source``, ``from``) where the model records a physical scale.

    Examples
    --------
    >>> scale_record(320, "the median longer side of the training images")
    {'longer_side_px': 320, 'from': 'the median longer side of the training images'}
    >>> scale_record(320, "chosen", {"size": 0.1, "unit": "mm", "source": "DICOM PixelSpacing"})["pixel_size"]["size"]
    0.1
    """
    record = {"longer_side_px": None if longer_side is None else int(longer_side), "from": str(how)}
    if pixel_size is not None and longer_side is not None:
        record["pixel_size"] = {"size": float(pixel_size["size"]), "unit": pixel_size.get("unit"),
                                "source": str(pixel_size.get("source", "")), "from": str(pixel_size.get("from", ""))}
    return record


def training_pixel_size(records) -> tuple[dict | None, str]:
    """The physical scale a model records from its training images as trained (after the longer-side
    rule): the :data:`TRAINING_PIXEL_QUANTILE` quantile of their pixel sizes, when every one has a pixel
    size in one unit; else ``None`` and why (said in the training's scale line).

    Examples
    --------
    >>> from featbus import ImageRecord
    >>> import numpy as np
    >>> recs = [ImageRecord(np.zeros((8, 8)), meta={"physical_pixel": {"size": s, "unit": "mm", "source": "x"}})
    ...         for s in (0.1, 0.2, 0.3)]
    >>> round(training_pixel_size(recs)[0]["size"], 3)
    0.28
    >>> training_pixel_size(recs + [np.zeros((8, 8))])[1]
    '1 of 4 training images have no pixel size'
    """
    from .._records import pixel_size as pixel_of

    sizes = [pixel_of(getattr(r, "meta", None)) for r in records]
    lacking = sum(s is None for s in sizes)
    if not sizes or lacking:
        return None, f"{lacking} of {len(sizes)} training images have no pixel size"
    if not all(same_unit(s, sizes[0]) for s in sizes):
        sources = sorted({f"{s.get('source')} ({s.get('unit') or 'unit not stated'})" for s in sizes})
        return None, "the training images' pixel sizes come in different units: " + ", ".join(sources[:3])
    unit = sizes[0].get("unit")
    q = TRAINING_PIXEL_QUANTILE
    return {"size": float(np.quantile([s["size"] for s in sizes], q)), "unit": unit,
            "source": "" if unit else str(sizes[0].get("source", "")),
            "from": f"the {q:.0%} quantile of the pixel sizes of its {len(sizes)} training images as trained"}, ""


def input_scale_of(manifest: dict) -> dict:
    """The scale a model file's parts were trained at: its ``input_scale`` entry, or, for a file
    made before featbus recorded one, the training images' scale read from their profile (the
    larger of their median height and median width, ``training_images``), else native size.

    Examples
    --------
    >>> input_scale_of({"input_scale": {"longer_side_px": 256, "from": "chosen"}})["longer_side_px"]
    256
    >>> input_scale_of({"training_images": {"height": [1, 2, 240, 3], "width": [1, 2, 320, 3],
    ...                                      "quantiles": [0.01, 0.1, 0.5, 0.9]}})["longer_side_px"]
    320
    >>> input_scale_of({})
    {'longer_side_px': None, 'from': 'native size: the file records no training scale'}
    """
    record = manifest.get("input_scale")
    if isinstance(record, dict) and "longer_side_px" in record:
        side = record["longer_side_px"]
        return scale_record(None if side is None else int(side), record.get("from", ""), record.get("pixel_size"))
    profile = manifest.get("training_images")
    if isinstance(profile, dict) and profile.get("height") and profile.get("width"):
        q = list(profile.get("quantiles") or [])
        j = q.index(0.5) if 0.5 in q else len(profile["height"]) // 2
        side = int(math.ceil(max(float(profile["height"][j]), float(profile["width"][j]))))
        return scale_record(side, "the training images' scale (the larger of their median height and width), "
                                  "read from a file made before featbus recorded it")
    return scale_record(None, "native size: the file records no training scale")


def to_training_pixel_size(records) -> tuple[list, dict | None, str]:
    """Training records (already at the longer-side rule's scale) with a physical scale to record
    (:func:`training_pixel_size`): those whose pixels are finer than it shrunk to it, as a
    model that records it brings every such image (:func:`bring_to_scale`); else the records as
    given, ``None`` and why (``""`` when no training image gives a pixel size).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord
    >>> recs = [ImageRecord(np.zeros((100, 80), np.uint8), meta={"physical_pixel": {"size": s, "unit": "mm"}})
    ...         for s in (0.05, 0.1, 0.2)]
    >>> out, pixel, _ = to_training_pixel_size(recs)
    >>> [r.image.shape for r in out], round(pixel["size"], 3)
    ([(28, 22), (56, 45), (100, 80)], 0.18)
    """
    from .._records import pixel_size as pixel_of

    pixel, why = training_pixel_size(records)
    if pixel is None:
        return records, None, why if any(pixel_of(getattr(r, "meta", None)) for r in records) else ""
    side = max(max(np.shape(getattr(r, "image", r))[:2]) for r in records)
    return bring_to_scale(records, side, pixel), pixel, ""


def pixel_words(pixel: dict) -> str:
    """A pixel size in words: ``0.0131 mm``, or ``0.0131 (in the unit of column 'Pixel_size')``.

    Examples
    --------
    >>> pixel_words({"size": 0.013110351, "unit": None, "source": "column 'Pixel_size'"})
    "0.01311 (in the unit of column 'Pixel_size')"
    """
    unit = pixel.get("unit")
    return f"{pixel['size']:.4g} " + (unit if unit else f"(in the unit of {pixel.get('source') or 'its source'})")


def scale_words(record: dict, shapes: Sequence[Sequence[int]] | None = None,
                pixels: Sequence[dict | None] | None = None) -> str:
    """The reading summary's line on the scale: ``"frames brought to 320 px on the longer side, as
    trained"`` (with how many were resized and their stored sizes, given ``shapes``); for a model that
    records a physical scale, which rule applied to how many images (``pixels``: each image's pixel
    size, :data:`featbus._records.PIXEL_SIZE_KEY`, or None).

    Examples
    --------
    >>> scale_words({"longer_side_px": 320}, [(606, 856), (320, 240)])
    'frames brought to 320 px on the longer side, as trained (1 of 2 shrunk from 856 px)'
    >>> scale_words({"longer_side_px": 320}, [(200, 300)]).split("(")[1]
    '1 smaller, seen at its stored size: 300 px)'
    >>> scale_words({"longer_side_px": None})
    'frames seen at their stored size (the model records no training scale)'
    >>> mm = {"size": 0.1, "unit": "mm"}
    >>> words = scale_words({"longer_side_px": 320, "pixel_size": mm}, [(600, 800), (300, 400)],
    ...                     [{"size": 0.05, "unit": "mm"}, None])
    >>> words.split(" (")[0]
    'frames brought to the trained pixel size 0.1 mm where they give one, else to 320 px on the longer side'
    >>> words.split(" (")[1]
    '1 of 2 by their pixel size, 1 shrunk; 1 by the longer side: 1 of 1 shrunk from 400 px)'
    """
    side = record.get("longer_side_px")
    if side is None:
        return "frames seen at their stored size (the model records no training scale)"
    trained = record.get("pixel_size")
    if trained:
        words = (f"frames brought to the trained pixel size {pixel_words(trained)} where they give one, else to "
                 f"{side} px on the longer side")
        if shapes is None:
            return words
        pixels = list(pixels) if pixels is not None else [None] * len(shapes)
        by_pixel = [k for k, p in enumerate(pixels) if same_unit(p, trained)]
        shrunk = coarser = 0
        for k in by_pixel:
            try:
                smaller = physical_side(shapes[k], pixels[k]["size"], trained["size"]) < max(shapes[k][:2])
            except ValueError:  # refused, named, when the image is brought to scale
                continue
            shrunk, coarser = shrunk + smaller, coarser + (not smaller)
        rest = [shapes[k] for k in range(len(shapes)) if k not in set(by_pixel)]
        detail = _longer_side_detail(side, rest) if rest else ""
        if rest and not detail:
            detail = f"all {len(rest)} already {side} px or smaller"
        return (words + f" ({len(by_pixel)} of {len(shapes)} by their pixel size, {shrunk} shrunk"
                + (f", {coarser} with coarser pixels seen as stored" if coarser else "")
                + (f"; {len(rest)} by the longer side: {detail}" if rest else "") + ")")
    words = f"frames brought to {side} px on the longer side, as trained"
    if shapes is None:
        return words
    detail = _longer_side_detail(side, shapes)
    return words + f" ({detail or f'all {len(shapes)} already {side} px'})"


def _longer_side_detail(side: int, shapes) -> str:
    """How many of ``shapes`` the longer-side rule shrinks and how many it leaves smaller; ``""`` when
    every one is already at ``side``."""
    longer = [max(int(s[0]), int(s[1])) for s in shapes]
    big, small = [x for x in longer if x > side], [x for x in longer if x < side]
    if not big and not small:
        return ""

    def span(v):
        return f"{min(v)} px" if min(v) == max(v) else f"{min(v)}-{max(v)} px"

    parts = [f"{len(big)} of {len(longer)} shrunk from {span(big)}"] if big else []
    if small and GROW == "keep":
        parts.append(f"{len(small)} smaller, seen at {'its' if len(small) == 1 else 'their'} stored size: "
                     f"{span(small)}")
    elif small:
        parts.append(f"{len(small)} enlarged from {span(small)}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- the library's parts
# What a part of a user's own pipeline (``ROICropper`` with a shipped segmenter, ``DeepFeatures`` with
# shipped weights) uses to see its inputs at the scale it learnt: the same rule as the model's.


def seen_shape(shape: Sequence[int], longer_side: int | None, *, grow: str | None = None) -> tuple[int, int]:
    """``(height, width)`` at which an image of ``shape`` is seen once brought to ``longer_side``
    (:func:`to_scale`'s rule: a smaller image kept at its stored size unless ``grow`` enlarges it).

    Examples
    --------
    >>> seen_shape((606, 856), 320), seen_shape((200, 300), 320), seen_shape((606, 856), None)
    ((227, 320), (200, 300), (606, 856))
    """
    h, w = int(shape[0]), int(shape[1])
    grow = GROW if grow is None else grow
    if longer_side is None or max(h, w) == longer_side or (max(h, w) < longer_side and grow == "keep"):
        return h, w
    return scaled_shape((h, w), longer_side)


def box_as_given(box: Sequence[int], seen: Sequence[int], stored: Sequence[int]) -> tuple[int, int, int, int]:
    """A box ``(row0, row1, col0, col1)`` found in an image seen at ``seen`` = ``(height, width)``,
    in the pixels of the image as given (``stored``): scaled outward, so that it still holds the
    whole region, and kept inside the image.

    Examples
    --------
    >>> box_as_given((10, 60, 100, 160), (213, 320), (640, 960))
    (30, 181, 300, 480)
    """
    (h, w), (sh, sw) = (int(stored[0]), int(stored[1])), (int(seen[0]), int(seen[1]))
    r0, r1, c0, c1 = (int(b) for b in box)
    return (int(np.floor(r0 * h / sh)), min(h, int(np.ceil(r1 * h / sh))),
            int(np.floor(c0 * w / sw)), min(w, int(np.ceil(c1 * w / sw))))


def record_to_scale(record, longer_side: int | None):
    """One loaded :class:`~featbus.ImageRecord` (its image and mask) brought to ``longer_side``: a
    whole frame by :func:`to_scale`; a crop that names the frame it was cut from
    (``meta["frame_shape"]``, which :class:`~featbus.ROICropper` records) by the factor that
    brings *that frame* to the scale, so a lesion crop of an 960 px frame is seen as the same crop
    of its 320 px copy; a crop resized to a fixed size (``meta["frame_shape"]`` ``None``) as it is.
    ``record`` itself when nothing changes.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord
    >>> frame = ImageRecord(np.zeros((480, 960), np.uint8))
    >>> record_to_scale(frame, 320).image.shape
    (160, 320)
    >>> crop = ImageRecord(np.zeros((90, 120), np.uint8), meta={"frame_shape": (480, 960)})
    >>> record_to_scale(crop, 320).image.shape
    (30, 40)
    >>> record_to_scale(crop, None) is crop
    True
    """
    if longer_side is None:
        return record
    meta = getattr(record, "meta", None) or {}
    if "frame_shape" not in meta:
        image, mask = to_scale(record.image, record.mask, longer_side)
    elif meta["frame_shape"] is None:
        return record
    else:
        frame = meta["frame_shape"]
        new = seen_shape(frame, longer_side)
        if tuple(new) == tuple(int(s) for s in frame[:2]):
            return record
        from ..io import resize_to

        factor = max(new) / max(int(frame[0]), int(frame[1]))
        h, w = record.image.shape[:2]
        hw = (max(1, round(h * factor)), max(1, round(w * factor)))
        image = resize_to(np.asarray(record.image), hw, "area" if factor < 1 else GROW)
        mask = record.mask
        if mask is not None:
            m = np.asarray(mask)
            mask = resize_to(m.astype(np.uint8), hw, "nearest").astype(m.dtype)
    if image is record.image:
        return record
    out = record.with_image(image, mask)
    if "frame_shape" in meta:
        out.meta["frame_shape"] = seen_shape(meta["frame_shape"], longer_side)
    return out


def part_longer_side(input_scale: Any, part: Any) -> int | None:
    """The longer side a part brings its inputs to, from its ``input_scale`` parameter: ``"auto"``,
    the scale ``part`` (a shipped segmenter or backbone, through its ``trained_longer_side``) was
    trained at, or ``None`` when it records none (your own weights: inputs as given); ``"native"``
    or ``None``: as given; a number of pixels: that. Raises ``ValueError`` on anything else
    (:func:`parse_input_scale`).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> shipped, own = SimpleNamespace(trained_longer_side=320), object()
    >>> part_longer_side("auto", shipped), part_longer_side("auto", own), part_longer_side(256, own)
    (320, None, 256)
    >>> part_longer_side("native", shipped) is None
    True
    """
    choice = parse_input_scale(input_scale)
    if choice == "auto":
        side = getattr(part, "trained_longer_side", None) if part is not None else None
        return None if side is None else int(side)
    return choice
