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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["SHIPPED_LONGER_SIDE", "GROW", "to_scale", "bring_to_scale", "scaled_shape", "scale_record",
           "input_scale_of", "median_longer_side", "parse_input_scale", "scale_words"]

#: The longer side, in pixels, of every image the parts featbus ships (the breast-us backbone,
#: segmenter and classifier) learnt from: the shared copies of BUSI, BUS-BRA and BrEaST-Lesions-USG
#: are all shrunk to 320 px on the longer side (``../shared/data/README.md``).
SHIPPED_LONGER_SIDE = 320

#: What becomes of an image smaller than the scale: ``"keep"``, left at its stored size (see the
#: module's text for why), or enlarged by an OpenCV interpolation of
#: :func:`featbus.preprocessing.intensity.resize` (``"linear"``, ``"cubic"``). :func:`to_scale`'s
#: default, read when it is called.
GROW = "keep"


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


def bring_to_scale(records, longer_side: int | None) -> list:
    """Records (paths, arrays or :class:`~featbus.ImageRecord`) read and brought to ``longer_side``
    (:func:`to_scale`): what a model's parts see. A record already at the scale is returned as read;
    a resized one carries ``meta["input_shape"]``, its stored ``(height, width)``.

    Parameters
    ----------
    records : sequence of paths, arrays or ImageRecord
    longer_side : int or None
        ``None``: native size; ``records`` is returned as given, unread.

    Returns
    -------
    records : list of ImageRecord (or ``records`` itself for ``None``)

    Examples
    --------
    >>> import numpy as np
    >>> out = bring_to_scale([np.zeros((640, 480), np.uint8), np.zeros((320, 200), np.uint8)], 320)
    >>> [r.image.shape for r in out], out[0].meta["input_shape"], "input_shape" in out[1].meta
    ([(320, 240), (320, 200)], (640, 480), False)
    """
    if longer_side is None:
        return records
    from ..io import load_item

    out = []
    for i, item in enumerate(records):
        rec = load_item(item, i)
        image, mask = to_scale(rec.image, rec.mask, longer_side)
        if image is not rec.image:
            stored = tuple(int(s) for s in rec.image.shape[:2])
            rec = rec.with_image(image, mask)
            rec.meta["input_shape"] = stored
        out.append(rec)
    return out


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


def scale_record(longer_side: int | None, how: str) -> dict:
    """The manifest's ``input_scale`` entry: ``{"longer_side_px": int or None, "from": how}``.

    Examples
    --------
    >>> scale_record(320, "the median longer side of the training images")
    {'longer_side_px': 320, 'from': 'the median longer side of the training images'}
    """
    return {"longer_side_px": None if longer_side is None else int(longer_side), "from": str(how)}


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
        return scale_record(None if side is None else int(side), record.get("from", ""))
    profile = manifest.get("training_images")
    if isinstance(profile, dict) and profile.get("height") and profile.get("width"):
        q = list(profile.get("quantiles") or [])
        j = q.index(0.5) if 0.5 in q else len(profile["height"]) // 2
        side = int(math.ceil(max(float(profile["height"][j]), float(profile["width"][j]))))
        return scale_record(side, "the training images' scale (the larger of their median height and width), "
                                  "read from a file made before featbus recorded it")
    return scale_record(None, "native size: the file records no training scale")


def scale_words(record: dict, shapes: Sequence[Sequence[int]] | None = None) -> str:
    """The reading summary's line on the scale: ``"frames brought to 320 px on the longer side, as
    trained"`` (with how many were resized and their stored sizes, given ``shapes``).

    Examples
    --------
    >>> scale_words({"longer_side_px": 320}, [(606, 856), (320, 240)])
    'frames brought to 320 px on the longer side, as trained (1 of 2 shrunk from 856 px)'
    >>> scale_words({"longer_side_px": 320}, [(200, 300)]).split("(")[1]
    '1 smaller, seen at its stored size: 300 px)'
    >>> scale_words({"longer_side_px": None})
    'frames seen at their stored size (the model records no training scale)'
    """
    side = record.get("longer_side_px")
    if side is None:
        return "frames seen at their stored size (the model records no training scale)"
    words = f"frames brought to {side} px on the longer side, as trained"
    if shapes is None:
        return words
    longer = [max(int(s[0]), int(s[1])) for s in shapes]
    big, small = [x for x in longer if x > side], [x for x in longer if x < side]
    if not big and not small:
        return words + f" (all {len(longer)} already {side} px)"

    def span(v):
        return f"{min(v)} px" if min(v) == max(v) else f"{min(v)}-{max(v)} px"

    parts = [f"{len(big)} of {len(longer)} shrunk from {span(big)}"] if big else []
    if small and GROW == "keep":
        parts.append(f"{len(small)} smaller, seen at {'its' if len(small) == 1 else 'their'} stored size: "
                     f"{span(small)}")
    elif small:
        parts.append(f"{len(small)} enlarged from {span(small)}")
    return words + f" ({'; '.join(parts)})"
