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
           "input_scale_of", "median_longer_side", "parse_input_scale", "scale_words", "seen_shape",
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
