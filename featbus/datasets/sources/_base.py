"""The records every source gives (:mod:`featbus.datasets.sources`): one :class:`Entry` per image, a
:class:`SourceRead` per file read, and :class:`DrawnMask`, a mask an annotation file draws.

An entry's ``image`` is a path relative to the release's root, or an **image reference** for an
image that is no file of its own (an archive's member, an array's row): any object with
``__fspath__`` giving a stable name (``archive.zip!member/path.png``, ``file.npz!train_images[12]``)
and ``read()`` giving its pixels (an array) or its encoded bytes; it may offer ``probe()`` giving
``(shape, problem)`` as :func:`featbus.io.header_shape` does (``shape`` ``(height, width)``,
``problem`` ``None`` or ``(reason, detail)``), else its size is not checked before the pixels are
read. The reader keeps a reference as it is given (never joined to the root).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..._records import LeftOut

__all__ = ["MARGIN", "DrawnMask", "Entry", "LeftOut", "ReleaseError", "SourceRead", "brush_decode", "off_image",
           "rle_counts", "rle_decode", "whole"]

#: How far outside its image a drawn shape's coordinate may lie, as a fraction of the image's side (a vertex placed
#: past the edge, or rounded past it, is clipped when drawn); beyond it, NaN or infinity, the image is left out,
#: named: one rule for COCO, Label Studio, LabelMe and YOLO (:func:`off_image`).
MARGIN = 0.1


class ReleaseError(ValueError):
    """A release featbus refuses to read; the message names the file or row and what is wrong."""


@dataclass(frozen=True, eq=False)
class DrawnMask:
    """A mask an annotation file draws (polygons, RLE, brush strokes) rather than a mask file: rendered when the
    pixels are read (:meth:`render`). Path-like as ``<annotation file>#<image>``, so an index names it."""

    source: Path  # the annotation file
    ref: str  # the image's id in it
    size: tuple[int, int]  # (height, width) the file gives the image
    polygons: tuple = field(default=(), repr=False)  # flat x, y coordinate sequences
    rles: tuple = field(default=(), repr=False)  # (counts, (height, width)): runs, or COCO's compressed string
    brushes: tuple = field(default=(), repr=False)  # Label Studio's brush strokes (:func:`brush_decode`)

    def __fspath__(self) -> str:
        return f"{self.source}#{self.ref}"

    __str__ = __fspath__

    def render(self) -> np.ndarray:
        """The union of the polygons (clipped to the image), RLE masks and brush strokes, a boolean array of
        ``size``."""
        from skimage.draw import polygon

        mask = np.zeros(self.size, bool)
        for flat in self.polygons:  # COCO's coordinates are pixel edges: a pixel's centre is at +0.5
            rr, cc = polygon(np.asarray(flat[1::2], float) - 0.5, np.asarray(flat[0::2], float) - 0.5, self.size)
            mask[rr, cc] = True
        for counts, size in self.rles:
            mask |= rle_decode(counts, size)
        for rle in self.brushes:
            mask |= brush_decode(rle, self.size)
        return mask


def off_image(xy, size: tuple[float, float]) -> float | None:
    """The first of the flat ``x, y`` coordinates ``xy`` beyond :data:`MARGIN` of an image of ``size`` (height,
    width, in the coordinates' unit: pixels, 1 for YOLO's fractions, 100 for Label Studio's percent), NaN or
    infinity; ``None`` when every one lies within. A side of 0 (no size declared) bounds nothing but infinity."""
    for k, v in enumerate(xy):
        side = size[1] if k % 2 == 0 else size[0]
        if not (-MARGIN * side <= v <= (1 + MARGIN) * side or not side and math.isfinite(v)):  # NaN too
            return v
    return None


def whole(value, name: str) -> int:
    """An annotation file's size field ``name`` (``height``, ``original_width``) as a whole number of pixels, none
    given 0 (a number written as text, ``"512"``, read as the number); a :class:`ValueError` naming the field for
    anything else (other text, a fraction, a negative, infinity, a boolean)."""
    try:
        n = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        n = -1
    if n < 0 or isinstance(value, bool) or isinstance(value, float) and n != value:
        raise ValueError(f"its {name} {value!r} is no whole number of pixels")
    return n


def rle_counts(counts) -> list[int]:
    """COCO's run lengths from a list (uncompressed) or its compressed string (pycocotools'
    LEB128-like text: 5 bits a character, the run after the second given as a difference)."""
    if not isinstance(counts, str):
        return [int(c) for c in counts]
    runs: list[int] = []
    x = k = 0
    for char in counts:
        c = ord(char) - 48
        x |= (c & 0x1F) << (5 * k)
        k += 1
        if c & 0x20:  # the number goes on
            continue
        if c & 0x10:
            x |= -1 << (5 * k)
        runs.append(x + runs[-2] if len(runs) > 2 else x)
        x = k = 0
    if k:
        raise ValueError("a compressed RLE string ends inside a number")
    return runs


def rle_decode(counts, size) -> np.ndarray:
    """A COCO RLE (column-major runs, background first; that they cover ``size`` checked where the COCO file is
    read) as a boolean ``(height, width)`` array."""
    h, w = size
    runs = rle_counts(counts)
    return np.repeat(np.arange(len(runs)) % 2 == 1, runs).reshape((w, h)).T  # background first, then alternating


def brush_decode(rle, size: tuple[int, int]) -> np.ndarray:
    """Label Studio's brush RLE as a boolean ``(height, width)`` mask: a bit stream of a 32-bit value
    count, a 5-bit word size (less one), four 4-bit run-length sizes (less one), then blocks of one
    bit (a run of one value, or literal values), 2 bits choosing the run-length size, the run length
    less one, and the value(s); the values are RGBA, the mask its alpha channel."""
    bits = np.unpackbits(np.asarray(rle, dtype=np.uint8))
    pos = 0

    def take(n: int) -> int:
        nonlocal pos
        if pos + n > len(bits):
            raise ValueError("the brush RLE ends inside a value")
        v = int("".join(map(str, bits[pos:pos + n])), 2)
        pos += n
        return v

    num, word = take(32), take(5) + 1
    sizes = [take(4) + 1 for _ in range(4)]
    h, w = size
    if num not in (h * w * 4, h * w):
        raise ValueError(f"its {num} values are not the {w}x{h} image's pixels (x4 for RGBA)")
    out = np.zeros(num, np.uint32)
    i = 0
    while i < num:
        run = take(1)
        j = min(num, i + 1 + take(sizes[take(2)]))
        out[i:j] = take(word) if run else [take(word) for _ in range(i, j)]
        i = j
    return (out.reshape(h, w, 4)[..., 3] if num == h * w * 4 else out.reshape(h, w)) > 0


@dataclass
class Entry:
    """What a source gives for one image: its ``image`` (relative to the release's root, or an image
    reference: see the module), ``label`` (as the publisher wrote it, taken as given; ``None``:
    unlabelled), ``masks`` (mask files relative to the root, or :class:`DrawnMask`), ``patient``,
    ``split`` (``train`` / ``valid`` / ``test``), ``pixel_size`` (the
    :data:`featbus._records.PIXEL_SIZE_KEY` entry: ``{"size": 0.07, "unit": "mm"}``), ``row`` (the
    table row or annotation it came from, kept in :attr:`Release.rows`), ``meta`` (anything else
    the release says of the image: ``{"laterality": "L", "view": "CC"}``) and ``name`` (the image's own
    file name where its reference hides it: a hub parquet struct's ``path``; the patient rules read it
    as a file's name on disk, :func:`~featbus.datasets.sources.folders.name_patients`)."""

    image: Path
    label: str | None
    masks: tuple = ()  # mask files (Path) or DrawnMask
    patient: str | None = None
    split: str | None = None
    pixel_size: dict | None = None
    row: dict | None = None
    meta: dict = field(default_factory=dict)
    name: str | None = None


@dataclass
class SourceRead:
    """One file a source read: its entries, what it left out (:class:`~featbus._records.LeftOut`
    records), the words the paragraph says of it, and why it gave nothing when it gave nothing
    (``not_used``).

    ``mask_rule`` and ``class_source`` are the paragraph's words for where the masks and the labels
    came from (``{file}`` stands for the file's name). ``patient_source`` (one of
    :data:`~featbus.datasets.release.PATIENT_SOURCES`) and ``patient_detail`` say how the entries'
    patients were found, ``key`` how the source's rows were joined to the images
    (``"patient_id + image_id"``). ``claims_images``: the source lists the release's images itself;
    the reader takes its entries as the release (labels, patients, splits, pixel sizes, rows and
    masks as given), reads no table's columns for them and leaves out the image files it does not list.
    ``within``: the summary of a release read inside the file (an archive's): the paragraph says its table,
    columns, what else was considered and its pixel-size column as a folder's; a ``within`` whose table is
    the source's file itself (mini-MIAS's ``Info.txt``) is said as that table. ``class_order``: the classes
    in the source's order (else sorted); ``aside``: image files the source reads as none of the release's
    images (mini-MIAS's ``pectoral/`` references), neither listed nor left out. ``whole``: the source read
    the release whole and checked it itself (the featbus index, whose rows name files anywhere): the arbiter
    makes the release of its entries, ``within`` its summary, as they are; ``checked``: the entries' images
    and masks were checked where they were read (an archive's inner release, by the arbiter): not read again.
    ``said_as``: the paragraph's name for what the source read where its one file is not all of it (LabelMe's
    file per image: ``the LabelMe set (8 files: ...)``)."""

    file: Path
    entries: list[Entry] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_used: str | None = None
    mask_rule: str | None = None
    class_source: str | None = None
    patient_source: str | None = None
    patient_detail: str = ""
    key: str | None = None
    claims_images: bool = False
    #: the source's ``NAME`` (set by :func:`~featbus.datasets.sources.read_sources` when left empty)
    source_name: str = ""
    within: object = None  # a ReleaseSummary (featbus.datasets._release_types), None for most sources
    class_order: tuple = ()
    aside: tuple = ()
    whole: bool = False
    checked: bool = False
    said_as: str | None = None

    def out(self, item: str, reason: str, detail: str = "") -> None:
        """Leave ``item`` out, named (a :class:`~featbus._records.LeftOut` of ``reason`` and ``detail``)."""
        self.left_out.append(LeftOut(item, reason, detail))

    def annotated(self, image: Path, classes: set, unannotated: str, two: str, none: str, mask=None, boxes=(),
                  **entry) -> Entry | None:
        """The entry of ``image`` labelled by the one class of ``classes``, its annotations' (none: ``normal``),
        with its drawn ``mask`` and ``boxes`` (``meta["boxes"]``); else ``None``, the image left out, named:
        two classes (``two`` says where, the classes follow), or none where ``unannotated`` leaves such images
        out (``none`` says why)."""
        if len(classes) > 1 or not classes and unannotated != "normal":
            self.out(image.as_posix(), *(("two labels", f"{two} {', '.join(sorted(map(str, classes)))}") if classes
                                         else ("no annotation", none)))
            return None
        label = str(next(iter(classes), "normal"))
        self.entries.append(Entry(image, label, (mask,) if mask else (), meta={"boxes": boxes} if boxes else {},
                                  **entry))
        return self.entries[-1]

    def close(self, class_source: str, mask_rule: str | None, *notes: str | int) -> SourceRead:
        """The read done: its ``notes`` said (a false one, ``0`` or ``""``, skipped), its class source and, where
        an entry has a mask, its mask rule (a file whose images have none says the reader's)."""
        self.notes += [n for n in notes if n]
        self.class_source = class_source
        if any(e.masks for e in self.entries):
            self.mask_rule = mask_rule
        return self


#: What a labelling tool's source says of the images it reads as ``normal`` for want of an annotation.
AS_NORMAL = "read as 'normal' (a scan without a lesion; --unannotated leave-out leaves them out)."
#: What it says of the images whose rectangles it keeps as boxes.
RECTANGLES = "have rectangles: kept as boxes (meta 'boxes'), no mask drawn from them."
