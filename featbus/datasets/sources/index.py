"""A featbus index or a manifest as a release's source (:func:`index_entries`), written by
:meth:`~featbus.datasets.release.Release.write_index` or by hand, and the image paths a manifest lists
for ``featbus predict`` (:func:`manifest_images`)."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from itertools import compress
from pathlib import Path

from ..._records import ImageError
from ..._registry import did_you_mean
from ...io import pixel_limit_problem
from .._common import _check_label_spellings, _natural_key
from .._release_index import MANIFEST_COLUMNS, mask_cell_files, read_index_rows
from .._release_rules import split_counts, split_of
from .._release_scan import probe_files
from .._release_tables import SourceRefused, TableError
from .._release_types import LeftOut, ReleaseError, ReleaseSummary, unescape_cell
from ..name_groups import pattern_groups, propose_prefix_groups
from ._base import DrawnMask, Entry, SourceRead
from ._refs import reference_from_text
from .table import pixel_size_cells

__all__ = ["NAME", "index_entries", "manifest_images", "read", "recognise"]

NAME = "featbus index"
#: What an index given as the release is saved as.
_SUFFIXES = (".csv", ".tsv", ".txt")


def recognise(files: list[Path], *, given: Path | None = None) -> list[Path]:
    """The index given as the release itself (``featbus read index.csv``): a table given alone, never a
    folder's table (those name a folder's own files)."""
    return [f for f in files if given is not None and f == Path(given.name) and f.suffix.lower() in _SUFFIXES]


def read(root: Path, file: Path, images, unannotated: str = "normal", *, options: dict) -> SourceRead:
    """The index's entries (:func:`index_entries`, its images probed as a folder's), its paths relative to its
    folder and files anywhere, checked here (``SourceRead.whole``). ``options`` are
    :func:`~featbus.datasets.read_release`'s; one naming a release's own table or files is refused (an index's
    columns are its own)."""
    path = root / file
    refused = ["--" + k.replace("_", "-") for k in ("image_column", "label_column", "group_column", "mask_pattern")
               if options[k] is not None]
    try:
        if refused:
            raise ReleaseError(f"{' and '.join(refused)} name a release's own table or files; {str(path)!r} is an "
                               "index, whose columns are image, label, group and mask: drop the option")
        return index_entries(path, strict=options["rows_without_image"] == "raise", classes=options["classes"],
                             require_labels=options["require_labels"], group_pattern=options["group_pattern"],
                             probe=True)
    except ReleaseError as exc:  # the release given is this file: refused, never read as another layout
        raise SourceRefused(str(exc)) from None


def _missing(file: str, what: str, cell: str) -> str | None:
    """Why a file an index lists is not there (None when it is a file)."""
    try:
        return None if stat.S_ISREG(os.stat(file).st_mode) else f"{what} {cell!r} is not a file"
    except (FileNotFoundError, NotADirectoryError):
        return f"{what} {cell!r} not found"
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        return f"{what} {cell!r} cannot be looked up ({exc})"


def _container(path) -> str:
    """The file that holds an image: an archive's or an array file's path for a reference, else the path."""
    return os.fspath(getattr(path, "archive", None) or getattr(path, "file", None) or path)


def _index_mask(base: Path, cell: str):
    """An index's mask cell: a file (absolute, normalised), an archive's member (``archive.zip!m.png``),
    ``<annotation>.json#<image id>`` (a mask that COCO, Label Studio or LabelMe file draws) or
    ``labels/a.txt#<width>x<height>`` (the polygons of a YOLO label file) or ``AllXML/<id>.xml#<width>x<height>``
    (an INbreast image's outlines), each drawn by its format's source (its ``index_mask``)."""
    member = reference_from_text(cell, base) if "!" in cell else None
    if member is not None:
        return member
    file, sep, ref = cell.partition("#")
    path = Path(os.path.abspath(os.path.join(base, file)))
    kind = next((k for k in (".txt", ".xml", ".json") if file.lower().endswith(k)), None)
    if not sep or kind is None or not path.is_file():
        return Path(os.path.abspath(os.path.join(base, cell)))
    from . import coco, inbreast, yolo

    return {".txt": yolo, ".xml": inbreast, ".json": coco}[kind].index_mask(path, ref) or base / cell


def _row_files(base: Path, row: dict) -> tuple:
    """A row's image (an absolute path, or a reference: an archive's member, an array's row), the file that
    holds it, and its masks as ``(cell, target)`` pairs."""
    name = row["image"]
    ref = reference_from_text(name, base) if "!" in name else None
    image = ref if ref is not None else Path(os.path.abspath(os.path.join(base, name)))  # one stat a row
    return image, _container(image), [(m, _index_mask(base, m)) for c in row["masks"] for m in mask_cell_files(base, c)]


def index_entries(path: Path, *, strict: bool = False, classes=None, require_labels: bool = False,
                  group_pattern: str | None = None, missing: str | None = None, probe: bool = False) -> SourceRead:
    """An index written by :meth:`Release.write_index`, or any manifest, read back by the index's one
    module (:func:`~featbus.datasets._release_index.read_index_rows`): ``image`` and optional ``label``,
    ``group``, ``mask`` (``mask 2``... one file each, or files joined by ``;`` in a manifest by hand; a
    cell ``<annotation>.json#<image id>`` is the mask that COCO file draws), ``split`` and pixel-size
    columns, every other column kept with its row; paths relative to the CSV's folder, made absolute;
    values as written. Its entries, final (``whole``), ``within`` the release's summary.

    A split that is none of train / valid / test (or their spellings) is refused naming its row. A
    mask that is not there is left out (``mask not found``, the image kept), an empty patient cell is
    the image's own patient, said. ``strict`` (a manifest read as data): an empty cell where a value
    is needed, an image listed twice, (with ``classes``) a label of no known name is refused naming its
    row; else a row without an image is left out. ``missing="raise"``: the first file (image or mask)
    that is not there is an :class:`~featbus.ImageError` naming its row, before any image is read (then a
    row without an image is refused); ``"skip"``: refused only when no image is there (the others are
    skipped where the pixels are read). ``probe`` (``featbus read`` of an index): each image's header is
    read, as a folder's are, and an image that is not there, not an image, unreadable or too large is left
    out, said with its row."""
    notes: list[str] = []
    left_out: list[LeftOut] = []
    base = path.parent

    def bad_row(line: int, what: str) -> ReleaseError:  # a row of a manifest read as data
        return ReleaseError(f"{str(path)!r} row {line}: {what}")

    def refuse_missing(line: int, row: dict) -> None:  # each row as it is read: a million rows stop at the first
        if not row["image"]:
            return
        _, where, targets = _row_files(base, row)
        listed = [("image", where, row["image"])] + [("mask", _container(t), m) for m, t in targets
                                                      if not isinstance(t, DrawnMask)]
        why = next(((f, w) for what, f, c in listed for w in [_missing(f, what, c)] if w), None)
        if why is not None:
            raise ImageError(f"row {line} of {str(path)!r}: {why[1]}", path=why[0])

    try:
        header, rows = read_index_rows(path, notes, left_out, check=refuse_missing if missing == "raise" else None)
    except ImageError:  # a missing file, its row named (refuse_missing)
        raise
    except TableError as exc:
        raise ReleaseError(str(exc)) from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise ReleaseError(f"{str(path)!r} is not a readable CSV table: {exc}") from None
    keys = [h.strip().lower() for h in header]
    needs = ("image", "label") if strict and require_labels else ("image",)
    absent = [c for c in needs if c not in keys]
    if absent:
        hint = "".join(did_you_mean(c, keys).replace(" (did", f" ({c!r}: did") for c in absent)
        raise ReleaseError(f"{str(path)!r} has no column(s) {absent}{hint}; an index (featbus read DATA --index "
                           f"FILE) or a manifest needs {' and '.join(repr(c) for c in needs)} (optional: "
                           f"{', '.join(map(repr, MANIFEST_COLUMNS[1:]))}), it has {keys}")
    if strict and not rows:
        raise ReleaseError(f"{str(path)!r} lists no images")
    labelled, has_group = "label" in keys, "group" in keys
    entries, kept, seen, absent = [], [], {}, []  # kept: each entry's (line, cells)
    no_patient = 0
    for line, row in rows:
        name, label, group = row["image"], row["label"] or "", row["group"] or ""
        if strict:
            label, group = label.strip(), group.strip()
        split = split_of(row["split"] or "")
        if not name:
            if strict or missing == "raise":  # a manifest read as data, or for featbus predict: every row an image
                raise bad_row(line, "the 'image' cell is empty")
            left_out.append(LeftOut(f"row {line} of {path.name}", "no image", "empty cell"))
            continue
        if split is None:
            raise ReleaseError(f"row {line} of {str(path)!r}: split {row['split']!r} is none of train, valid, test "
                               "(or their spellings) or empty")
        image, where, targets = _row_files(base, row)
        if missing == "skip" and _missing(where, "image", name):
            absent.append((line, os.fspath(image)))  # "raise": refused as the rows were read (refuse_missing)
        if strict:
            first = seen.setdefault(os.fspath(image), line)
            if labelled and not label:
                raise bad_row(line, f"image {name!r} has an empty 'label'")
            if first != line:
                raise bad_row(line, f"image {name!r} is listed twice (rows {first} and {line})")
            if has_group and not group:
                raise bad_row(line, f"image {name!r} has an empty 'group' (every row needs one when the column "
                                    "is there)")
            if classes is not None and label not in [str(c) for c in classes]:
                raise bad_row(line, f"label {label!r} is not one of the classes {[str(c) for c in classes]}")
        there = []
        for m, target in targets:  # a drawn mask's size is the cell's: within the pixel limit, else never drawn
            drawn = isinstance(target, DrawnMask)
            problem = pixel_limit_problem(target.size) if drawn else None
            found = drawn or os.path.isfile(_container(target))
            if problem is not None:
                left_out.append(LeftOut(f"row {line} of {path.name}", problem[0],
                                        f"mask {m!r}: {problem[1]} (the image kept without it)"))
            elif not found:
                left_out.append(LeftOut(f"row {line} of {path.name}", "mask not found",
                                        f"{m!r} (the image kept without it)"))
            there.append(found and problem is None)
        kept.append((line, row["cells"]))
        no_patient += has_group and not group
        entries.append(Entry(image, label or None, tuple(t for (_, t), ok in zip(targets, there) if ok),
                             patient=group or name, split=split))  # an empty patient cell: its own patient, said
    if probe and entries:
        # files only: an archive's member or an array's row is checked where its pixels are read
        probed = probe_files(Path(base.anchor), [e.image for e in entries if isinstance(e.image, Path)])  # absolute
        problems = [probed[e.image] if isinstance(e.image, Path) else (None, None) for e in entries]
        problems = [why or (pixel_limit_problem(shape) if shape is not None else None) for shape, why in problems]
        refused = [LeftOut(f"row {line} of {path.name}", p[0], e.image.as_posix() + (f": {p[1]}" if p[1] else ""))
                   for e, (line, _), p in zip(entries, kept, problems) if p is not None]
        left_out += refused
        if len(refused) == len(entries):
            raise ReleaseError(f"none of the {len(entries)} images {str(path)!r} lists can be read (the first, "
                               f"{refused[0].item}: {refused[0].reason}, {refused[0].detail})")
        keep = [p is None for p in problems]
        entries, kept = list(compress(entries, keep)), list(compress(kept, keep))
        for k, (e, (line, _)) in enumerate(zip(entries, kept)):  # a drawn mask at another size than its image
            shape = probed[e.image][0] if isinstance(e.image, Path) else None
            unfit = [m for m in e.masks if isinstance(m, DrawnMask) and shape is not None and m.size != shape[:2]]
            left_out += [LeftOut(f"row {line} of {path.name}", "mask size differs",
                                 f"{os.fspath(m)!r} drawn at {m.size[1]}x{m.size[0]}, the image is "
                                 f"{shape[1]}x{shape[0]} (the image kept without it)") for m in unfit]
            entries[k] = replace(e, masks=tuple(m for m in e.masks if m not in unfit))
    images = [e.image for e in entries]
    if images and len(absent) == len(images):
        raise ReleaseError(f"none of the {len(absent)} images {str(path)!r} lists exists (the first, row "
                           f"{absent[0][0]}: {absent[0][1]!r})")
    if no_patient:
        notes.append(f"{no_patient} image(s) with an empty 'group' cell: each is its own patient")
    named = ([str(c) for c in classes] if classes is not None and labelled else
             sorted({e.label for e in entries if e.label}, key=_natural_key))
    if strict and classes is None:
        _check_label_spellings(named, f"the 'label' column of {str(path)!r}")
    summary = ReleaseSummary(root=path, mask_rule="the index's 'mask' columns", table=path, image_column="image",
                             label_column="label" if labelled else None, group_column="group" if has_group else None,
                             mask_column="mask" if "mask" in keys else None, class_source="the 'label' column",
                             patient_source="column" if has_group else "one per image", left_out=left_out,
                             patient_detail="" if has_group else "no group column; commands group near-duplicate "
                                                                 "images", notes=[f"{n}." for n in notes])
    # no group column: patients from the file names where they share a PREFIX_NUMBER shape
    groups = None if has_group else propose_prefix_groups(images, named)
    if groups is not None:
        summary.patient_source = "file-name prefix"
        summary.patient_detail = f"{images[0].name!r} -> {groups[0]!r}"
    if group_pattern is not None:
        _, groups = pattern_groups(images, group_pattern)
        summary.patient_source, summary.patient_detail = "pattern", f"--group-pattern {group_pattern!r}"
    sizes, summary.pixel_size_missing = pixel_size_cells(header, kept, summary)  # a pixel-size column (issue 82)
    entries = [replace(e, patient=groups[k] if groups is not None else e.patient, pixel_size=sizes[k],
                       row={"row": line, **dict(zip(header, map(unescape_cell, row)))})
               for k, (e, (line, row)) in enumerate(zip(entries, kept))]
    summary.n_pixel_sizes = sum(p is not None for p in sizes)
    summary.splits = split_counts([e.split for e in entries]) if any(e.split for e in entries) else {}
    return SourceRead(path, entries=entries, left_out=left_out, claims_images=True, within=summary,
                      class_order=tuple(named), whole=True)


def manifest_images(path: str | os.PathLike) -> list[str]:
    """The image paths a CSV manifest lists (its ``image`` column; no label needed), each checked to
    exist: what ``featbus predict`` reads from a manifest. A table without an ``image`` column, an
    empty cell or a missing file is a :class:`ValueError` naming the row (a missing file as the rows
    are read, an :class:`~featbus.ImageError`: a million rows stop at the first)."""
    return [str(e.image) for e in index_entries(Path(path), missing="raise").entries]
