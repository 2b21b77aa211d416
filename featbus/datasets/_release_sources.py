"""Annotation files as a release's sources, beside its tables (:func:`featbus.datasets.read_release`).

A source is a module of :data:`SOURCES` with ``recognise(files)`` (the files it reads) and ``read(root,
file, images, unannotated)``, which gives :class:`Annotated` entries per image (image, label, masks,
patient, split) and names what it leaves out: :mod:`._source_coco` (COCO JSON of CVAT, Roboflow,
Label Studio), :mod:`._source_voc` (Pascal VOC / CVAT segmentation masks). The entries of every
source become one table (:func:`entries_table`), so every command reads them as it reads a table.
Hugging Face metadata and one-hot tables are tables already: per-split ones merged
(:func:`merge_split_tables`), one-hot columns read as one class column (:func:`one_hot_table`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._records import LeftOut
from ._release_rules import class_of_value, column_key, split_of
from ._release_tables import SourceError, load_json

__all__ = ["Annotated", "DrawnMask", "SOURCES", "SourceRead", "entries_table", "load_json", "merge_split_tables",
           "one_hot_table", "split_column"]


@dataclass(frozen=True, eq=False)
class DrawnMask:
    """A mask an annotation file draws (polygons, RLE) rather than a mask file: rendered when the
    pixels are read (:meth:`render`). Path-like as ``<annotation file>#<image>``, so an index names it."""

    source: Path  # the annotation file
    ref: str  # the image's id in it
    size: tuple[int, int]  # (height, width) the file gives the image
    polygons: tuple = field(default=(), repr=False)  # flat x, y coordinate sequences
    rles: tuple = field(default=(), repr=False)  # (counts, (height, width)): runs, or COCO's compressed string

    def __fspath__(self) -> str:
        return f"{self.source}#{self.ref}"

    __str__ = __fspath__

    def render(self) -> np.ndarray:
        """The union of the polygons (clipped to the image) and RLE masks, a boolean array of ``size``."""
        from skimage.draw import polygon

        mask = np.zeros(self.size, bool)
        for flat in self.polygons:  # COCO's coordinates are pixel edges: a pixel's centre is at +0.5
            rr, cc = polygon(np.asarray(flat[1::2], float) - 0.5, np.asarray(flat[0::2], float) - 0.5, self.size)
            mask[rr, cc] = True
        for counts, size in self.rles:
            mask |= rle_decode(counts, size)
        return mask


def rle_counts(counts) -> list[int]:
    """COCO's run lengths from a list (uncompressed) or its compressed string (pycocotools'
    LEB128-like text: 5 bits a character, the run after the second given as a difference)."""
    if not isinstance(counts, str):
        return [int(c) for c in counts]
    runs: list[int] = []
    p = 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            if p >= len(counts):
                raise ValueError("a compressed RLE string ends inside a number")
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        runs.append(x + runs[-2] if len(runs) > 2 else x)
    return runs


def rle_decode(counts, size) -> np.ndarray:
    """A COCO RLE (column-major runs, background first) as a boolean ``(height, width)`` array."""
    h, w = size
    runs = rle_counts(counts)
    if any(r < 0 for r in runs) or sum(runs) != h * w:
        raise ValueError(f"its runs cover {sum(runs)} pixels, not the {h}x{w} = {h * w} of its size")
    values = np.zeros(len(runs), bool)
    values[1::2] = True
    return np.repeat(values, runs).reshape((w, h)).T


@dataclass
class Annotated:
    """What a source gives for one image (``image`` relative to the release's root)."""

    image: Path
    label: str | None
    masks: tuple = ()  # mask files (Path) or DrawnMask
    patient: str | None = None
    split: str | None = None


@dataclass
class SourceRead:
    """One annotation file read: its entries, what it left out (:class:`~featbus.datasets._release_scan.LeftOut`
    records), the words the paragraph says of it, and why it gave nothing when it gave nothing (``not_used``)."""

    file: Path
    entries: list[Annotated] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_used: str | None = None
    mask_rule: str | None = None
    class_source: str | None = None


def entries_table(reads: list[SourceRead], out) -> tuple[list[str], list[list[str]], dict]:
    """The entries of every source as one table ``(header, rows, masks per image)``: ``image``,
    ``label``, ``split``, ``patient``. An image two files give two labels is left out through
    ``out(item, reason, detail)``, named with both files."""
    said: dict[Path, list[tuple[Path, Annotated]]] = {}
    for read in reads:
        for entry in read.entries:
            said.setdefault(entry.image, []).append((read.file, entry))
    header, rows, masks = ["image", "label", "split", "patient"], [], {}  # an empty column is never chosen
    for image, found in said.items():
        labels = {(e.label or "").casefold() for _, e in found}
        if len(labels) > 1:
            out(image, "two labels", "; ".join(f"{f.as_posix()} says {e.label!r}" for f, e in found))
            continue
        first = found[0][1]
        rows.append([image.as_posix(), first.label or "", first.split or "", first.patient or ""])
        masks[image] = tuple(m for _, e in found for m in e.masks)
    return header, rows, masks


def one_hot_table(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]], str | None]:
    """A table whose class columns hold 0/1, one 1 a row (Roboflow's ``_classes.csv``: ``filename,
    benign, malignant``), with a ``class`` column added holding each row's column name; the words
    that say it (``None`` and the table as it was when it is no one-hot table)."""
    binary = [c for c in range(len(header))
              if rows and all(r[c].strip() in ("0", "1", "0.0", "1.0") for r in rows)]
    if len(binary) < 2 or "class" in (column_key(h) for h in header):
        return header, rows, None
    ones = [[c for c in binary if r[c].strip().startswith("1")] for r in rows]
    if not all(len(o) == 1 for o in ones):
        return header, rows, None
    names = [header[c] for c in binary]
    spelt = [c for c in range(len(header)) if c not in binary and all(class_of_value(r[c]) for r in rows)]
    if not any(class_of_value(n) for n in names) or spelt:  # not named as classes, or a label column already
        return header, rows, None
    return header + ["class"], [r + [header[o[0]]] for r, o in zip(rows, ones)], \
        f"labels from the one-hot columns {', '.join(repr(n) for n in names)} (the class is the column whose cell is 1)"


def split_column(header: list[str], rows: list[list[str]]) -> int | None:
    """The column whose every value is a split's spelling (``train``, ``val``, ``test``...), else ``None``."""
    for c in range(len(header)):
        values = {r[c].strip() for r in rows}
        if values and all(v and split_of(v) for v in values) and column_key(header[c]) in (
                "split", "subset", "set", "partition", "fold", "dataset"):
            return c
    return None


def merge_split_tables(tables: dict[Path, tuple[list[str], list[list[str]]]], files: set[Path]):
    """Per-split tables of one name and header (``train/_classes.csv``, ``data/test/metadata.csv``)
    as one, under the first one's name, with a ``split`` column from the folder and each cell naming
    a file beside its table as the release-relative path (two splits may hold ``0001.png``):
    ``(tables, words)``."""
    groups: dict[tuple, list[Path]] = {}
    for rel, (header, _) in tables.items():
        split = next((split_of(p) for p in reversed(rel.parts[:-1]) if split_of(p)), None)
        if split is not None:
            groups.setdefault((rel.name.casefold(), tuple(column_key(h) for h in header)), []).append(rel)
    words = []
    for rels in groups.values():
        if len(rels) < 2:
            continue
        header = list(tables[rels[0]][0])
        own_split = "split" in map(column_key, header)  # a split column of its own is kept as written
        rows = []
        for rel in rels:
            split = [] if own_split else [next(split_of(p) for p in reversed(rel.parts[:-1]) if split_of(p))]
            rows += [[(rel.parent / c.strip()).as_posix() if c.strip() and rel.parent / c.strip() in files else c
                      for c in row] + split for row in tables.pop(rel)[1]]
        tables[rels[0]] = (header if own_split else header + ["split"], rows)
        words.append(f"the per-split tables {', '.join(r.as_posix() for r in rels)} read as one")
    return tables, words


#: The annotation formats read, each a module of this package with ``recognise`` and ``read`` (VOC first:
#: it claims its ``labelmap.txt`` and ``ImageSets`` lists before the tables are read).
SOURCES = ("_source_voc", "_source_coco")


def read_sources(root: Path, tables: list[Path], images: list[Path], unannotated: str):
    """``(reads, the files no source claimed)``: every source's files read, each once."""
    import importlib

    reads, claimed = [], set()
    for source in (importlib.import_module(f"{__package__}.{name}") for name in SOURCES):
        for rel in source.recognise([t for t in tables if t not in claimed]):
            claimed.add(rel)
            try:
                reads.append(source.read(root, rel, images, unannotated))
            except (OSError, TypeError, ValueError, AttributeError, KeyError) as exc:  # a field of the wrong type
                reads.append(SourceRead(rel, not_used=str(exc) if isinstance(exc, (SourceError, OSError)) else
                                        f"an unreadable {source.NAME} file ({type(exc).__name__}: {exc})"))
    return reads, [t for t in tables if t not in claimed]
