"""One reader for a release as its publisher ships it: :func:`read_release` works the layout out from
the files, the way :func:`pandas.read_csv` with ``sep=None`` sniffs a delimiter, and says what it read.

* **images** are the image files anywhere under the folder that are not masks;
* **masks** are files in a mask folder (``masks/``, ``GT/``, ``ground truth``, ``labels/``...), files
  named as an image plus a mask word before or after its name (``a_mask.png``, ``a_mask_1.png``,
  ``mask_a.png``, ``a_tumor.png``), files a table's mask column names, or what ``mask_pattern``
  says; several masks of one image are joined (their union), a mask of another finding (``other``)
  is never taken for the lesion; **a mask is never a sample**;
* **the table** that names the images is the one whose column matches most image files (a name
  with or without extension, a relative path, any case, an ID that is the stem without a leading
  word); rows without an image and images without a row are counted and named;
* **labels** from the table's column whose values are the classes (benign / malignant / normal and
  their usual spellings), else a column of a usual name, else the folder names (only then: a
  container folder such as ``images/`` or ``original/`` is never a class);
* **patients** from ``group_pattern``, else a column found by name (``Case``, ``CaseID``,
  ``patient_id``...), else one folder per patient, else a ``PREFIX_NUMBER`` file-name prefix, else
  one per image.

What each layout teaches lives in :mod:`featbus.datasets._release_rules` as data. Only file
headers are read (no pixel is decoded): the summary of 1,000 full-size images and their masks
takes seconds (``benchmarks/read_speed.py``).
"""


import functools
import os
import stat
from pathlib import Path

from .._records import ImageError
from ._common import _check_label_spellings, _natural_key, _pattern_regex
from ._release_claimed import claimed_release
from ._release_index import MANIFEST_COLUMNS, mask_cell_files, read_index_rows
from ._release_read import Reader, pixel_size_cells
from ._release_rules import TABLE_SUFFIXES, split_counts, split_of
from ._release_scan import unwrap_download_folder, walk_release
from ._release_tables import SourceRefused, TableError
from ._release_types import (
    LEFT_OUT_REASONS,
    PATIENT_SOURCES,
    LeftOut,
    Release,
    ReleaseError,
    ReleaseSummary,
    escape_cell,
    unescape_cell,
)
from .sources import DrawnMask, extra_suffixes, read_sources

#: The values of an index's or a manifest's ``split`` column (each spelling of
#: :data:`~featbus.vocabulary.SPLITS` read as one of them; empty: no assignment).
MANIFEST_SPLITS = ("train", "valid", "test")

__all__ = ["LEFT_OUT_REASONS", "MANIFEST_COLUMNS", "MANIFEST_SPLITS", "PATIENT_SOURCES", "LeftOut", "Release",
           "ReleaseError", "ReleaseSummary", "escape_cell", "manifest_images", "read_release", "unescape_cell"]


def _manifest_error(path: Path, line: int, what: str) -> ReleaseError:
    return ReleaseError(f"{str(path)!r} row {line}: {what}")


def _missing(file: str, what: str, cell: str) -> str | None:
    """Why a file an index lists is not there (None when it is a file)."""
    try:
        return None if stat.S_ISREG(os.stat(file).st_mode) else f"{what} {cell!r} is not a file"
    except (FileNotFoundError, NotADirectoryError):
        return f"{what} {cell!r} not found"
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        return f"{what} {cell!r} cannot be looked up ({exc})"


@functools.lru_cache(maxsize=4)
def _drawn_masks(path: str, stamp: tuple) -> dict:
    """The masks a COCO file draws, by image id (each file parsed once while it is unchanged: ``stamp``)."""
    from .sources.coco import read as read_coco

    try:
        return {m.ref: m for e in read_coco(Path(path).parent, Path(Path(path).name), None).entries for m in e.masks}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # then the cell is a missing file, named
        return {}


def _index_mask(base: Path, cell: str):
    """An index's mask cell: a file (absolute, normalised), or ``<annotation>.json#<image id>``, a mask
    that COCO file draws."""
    file, sep, ref = cell.partition("#")
    path = Path(os.path.abspath(os.path.join(base, file)))
    if not sep or not file.lower().endswith(".json") or not path.is_file():
        return Path(os.path.abspath(os.path.join(base, cell)))
    return _drawn_masks(str(path), (path.stat().st_mtime_ns, path.stat().st_size)).get(ref, base / cell)


def _read_index(path: Path, *, strict: bool = False, classes=None, require_labels: bool = False,
                group_pattern: str | None = None, missing: str | None = None) -> Release:
    """An index written by :meth:`Release.write_index`, or any manifest, read back by the index's one
    module (:func:`~featbus.datasets._release_index.read_index_rows`): ``image`` and optional ``label``,
    ``group``, ``mask`` (``mask 2``... one file each, or files joined by ``;`` in a manifest by hand; a
    cell ``<annotation>.json#<image id>`` is the mask that COCO file draws), ``split`` and pixel-size
    columns, every other column kept with its row; paths relative to the CSV's folder, made absolute;
    values as written.

    A split that is none of train / valid / test (or their spellings) is refused naming its row. A
    mask that is not there is left out (``mask not found``, the image kept), an empty patient cell is
    the image's own patient, said. ``strict`` (a manifest read as data): an empty cell where a value
    is needed, an image listed twice, (with ``classes``) a label of no known name is refused naming its
    row; else a row without an image is left out. ``missing="raise"``: the first file (image or mask)
    that is not there is an :class:`~featbus.ImageError` naming its row, before any image is read;
    ``"skip"``: refused only when no image is there (the others are skipped where the pixels are read)."""
    notes: list[str] = []
    left_out: list[LeftOut] = []
    try:
        header, rows = read_index_rows(path, notes, left_out)
    except TableError as exc:
        raise ReleaseError(str(exc)) from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise ReleaseError(f"{str(path)!r} is not a readable CSV table: {exc}") from None
    keys = [h.strip().lower() for h in header]
    needs = ("image", "label") if strict and require_labels else ("image",)
    absent = [c for c in needs if c not in keys]
    if absent:
        from .._registry import did_you_mean

        hint = "".join(did_you_mean(c, keys).replace(" (did", f" ({c!r}: did") for c in absent)
        raise ReleaseError(f"{str(path)!r} has no column(s) {absent}{hint}; an index (featbus read DATA --index "
                           f"FILE) or a manifest needs {' and '.join(repr(c) for c in needs)} (optional: 'label', "
                           f"'mask', 'group', 'split'), it has {keys}")
    if strict and not rows:
        raise ReleaseError(f"{str(path)!r} lists no images")
    base, labelled, has_group = path.parent, "label" in keys, "group" in keys
    images, labels, groups, masks, splits, kept, seen, absent = [], [], [], [], [], [], {}, []
    no_patient = 0
    for line, row in rows:
        name, label, group = row["image"], row["label"] or "", row["group"] or ""
        if strict:
            label, group = label.strip(), group.strip()
        split = split_of(row["split"] or "")
        if not name:
            if strict:
                raise _manifest_error(path, line, "the 'image' cell is empty")
            left_out.append(LeftOut(f"row {line} of {path.name}", "no image", "empty cell"))
            continue
        if split is None:
            raise ReleaseError(f"row {line} of {str(path)!r}: split {row['split']!r} is none of train, valid, test "
                               "(or their spellings) or empty")
        file = os.path.abspath(os.path.join(base, name))  # strings, one stat: a million rows in seconds
        cells = [m for c in row["masks"] for m in mask_cell_files(base, c)]
        targets = [(m, _index_mask(base, m)) for m in cells]
        if missing is not None:
            listed = [("image", file, name)] + [("mask", os.fspath(t), m) for m, t in targets
                                                 if missing == "raise" and not isinstance(t, DrawnMask)]
            why = next(((f, w) for what, f, c in listed for w in [_missing(f, what, c)] if w), None)
            if why is not None and missing == "raise":
                raise ImageError(f"row {line} of {str(path)!r}: {why[1]}", path=why[0])
            absent += [(line, file)] if why is not None else []
        if strict:
            where = seen.setdefault(file, line)
            if labelled and not label:
                raise _manifest_error(path, line, f"image {name!r} has an empty 'label'")
            if where != line:
                raise _manifest_error(path, line, f"image {name!r} is listed twice (rows {where} and {line})")
            if has_group and not group:
                raise _manifest_error(path, line, f"image {name!r} has an empty 'group' (every row needs one when "
                                                  "the column is there)")
            if classes is not None and label not in [str(c) for c in classes]:
                raise _manifest_error(path, line, f"label {label!r} is not one of the classes "
                                                  f"{[str(c) for c in classes]}")
        found = []
        for m, target in targets:
            if isinstance(target, DrawnMask) or os.path.isfile(target):
                found.append(target)
            else:
                left_out.append(LeftOut(f"row {line} of {path.name}", "mask not found",
                                        f"{m!r} (the image kept without it)"))
        kept.append((line, row["cells"]))
        images.append(Path(file))
        labels.append(label or None)
        no_patient += has_group and not group
        groups.append(group or name)  # an empty patient cell: the image is its own patient, said
        masks.append(tuple(found))
        splits.append(split)
    if images and len(absent) == len(images):
        raise ReleaseError(f"none of the {len(absent)} images {str(path)!r} lists exists (the first, row "
                           f"{absent[0][0]}: {absent[0][1]!r})")
    if no_patient:
        notes.append(f"{no_patient} image(s) with an empty 'group' cell: each is its own patient")
    named = ([str(c) for c in classes] if classes is not None and labelled else
             sorted({c for c in labels if c}, key=_natural_key))
    if strict and classes is None:
        _check_label_spellings(named, f"the 'label' column of {str(path)!r}")
    summary = ReleaseSummary(root=base, n_images=len(images), n_masks_paired=sum(1 for m in masks if m),
                             n_mask_files=sum(len(m) for m in masks), mask_rule="the index's 'mask' columns",
                             table=path, image_column="image", label_column="label" if labelled else None,
                             group_column="group" if has_group else None,
                             mask_column="mask" if "mask" in keys else None,
                             classes={c: labels.count(c) for c in named if labels.count(c)},
                             class_source="the 'label' column", n_patients=len(set(groups)),
                             patient_source="column" if has_group else "one per image", left_out=left_out,
                             notes=[f"{n}." for n in notes])
    if not has_group:  # patients from the file names where they share a PREFIX_NUMBER shape
        from .name_groups import propose_prefix_groups

        prefixes = propose_prefix_groups(images, named)
        if prefixes is not None:
            groups, summary.n_patients = prefixes, len(set(prefixes))
            summary.patient_source = "file-name prefix"
            summary.patient_detail = f"{images[0].name!r} -> {prefixes[0]!r}"
    if group_pattern is not None:
        from .name_groups import pattern_groups

        _, groups = pattern_groups(images, group_pattern)
        summary.patient_source, summary.n_patients = "pattern", len(set(groups))
    sizes, summary.pixel_size_missing = pixel_size_cells(header, kept, summary)  # a pixel-size column (issue 82)
    summary.n_pixel_sizes = sum(p is not None for p in sizes)
    summary.splits = split_counts(splits) if any(splits) else {}
    return Release(base, images, labels, groups, masks, summary, class_order=named, from_index=True,
                   group_pattern=group_pattern,
                   rows=[{"row": line, **dict(zip(header, map(unescape_cell, row)))} for line, row in kept],
                   pixel_sizes=sizes if summary.n_pixel_sizes else [], splits=splits if any(splits) else None)


def manifest_images(path: str | os.PathLike) -> list[str]:
    """The image paths a CSV manifest lists (its ``image`` column; no label needed), each checked to
    exist: what ``featbus predict`` reads from a manifest. A table without an ``image`` column, an
    empty cell or a missing file is a :class:`ValueError` naming the row."""
    path = Path(path)
    rel = _read_index(path)
    for item in rel.summary.left_out:
        if item.reason == "no image":  # a row without an image: its cell is empty
            raise ValueError(f"{str(path)!r} {item.item}: the 'image' cell is empty")
    for row, image in zip(rel.rows, rel.images):
        why = _missing(str(image), "image", next(v for k, v in row.items() if str(k).strip().lower() == "image"))
        if why is not None:
            raise ValueError(f"{str(path)!r} row {row['row']}: {why} ({str(image)!r})")
    return [str(p) for p in rel.images]


def read_release(path: str | os.PathLike, *, image_column: str | None = None, label_column: str | None = None,
                 group_column: str | None = None, group_pattern: str | None = None, mask_pattern: str | None = None,
                 require_labels: bool = False, classes=None, rows_without_image: str = "leave out",
                 unannotated: str = "normal") -> Release:
    """Read a release as its publisher ships it, working its layout out from the files.

    Parameters
    ----------
    path : path
        The release's folder, or an index CSV written by :meth:`Release.write_index`.
    image_column, label_column, group_column : str, optional
        The table's columns (any case); each given one is used or refused with its name (a column
        that is not there is an error listing the columns, with the nearest name).
    group_pattern : str, optional
        A regular expression on the file names (without extension) whose first group, or whole
        match, is the patient (:func:`featbus.datasets.name_groups.pattern_groups`).
    mask_pattern : str, optional
        How an image's mask files are named, ``{stem}`` standing for the image's name without
        extension and ``*`` / ``?`` wildcards (``"{stem}_seg*.png"``); it replaces the mask words.
    require_labels : bool, default=False
        Refuse a release in which nothing labels the images.
    classes : sequence of str, optional
        The expected classes, in this order: a table's label that is none of them (ignoring case
        and surrounding spaces) is refused, its row named, before any pixel is read.
    rows_without_image : {"leave out", "raise"}, default="leave out"
        A table's row naming no image file of the release: left out and counted (``"no image"``),
        or an error naming the row (a table that is the release's list, as an export's).
    unannotated : {"normal", "leave out"}, default="normal"
        An image an annotation file (COCO JSON) lists with no annotation: a scan without a lesion,
        class ``normal`` (said in the paragraph), or left out, named (``"no annotation"``).

    Returns
    -------
    Release
        ``images``, ``labels``, ``groups``, ``masks`` (one entry per image) and ``summary``
        (:class:`ReleaseSummary`; ``summary.text()`` is the paragraph the commands print).

    Raises
    ------
    ReleaseError
        A row naming a file outside the release, an option naming a column that is not there, an
        image whose table label and folder disagree, a table too large to read; the message names
        the file or row.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus.datasets import read_release
    >>> root = Path(tempfile.mkdtemp())
    >>> for d in ("Images", "Masks"):
    ...     (root / d).mkdir()
    >>> for k, (case, label) in enumerate([(1, "benign"), (1, "benign"), (2, "malignant")]):
    ...     Image.fromarray(np.full((8, 8), 40 * k, np.uint8)).save(root / "Images" / f"bus_{k:04d}.png")
    ...     Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "Masks" / f"mask_{k:04d}.png")
    >>> _ = (root / "bus_data.csv").write_text("ID,Case,Pathology\\nbus_0000,1,benign\\nbus_0001,1,benign\\n"
    ...                                        "bus_0002,2,malignant\\n")
    >>> rel = read_release(root)
    >>> rel.labels, rel.groups, [len(m) for m in rel.masks]
    (['benign', 'benign', 'malignant'], ['1', '1', '2'], [1, 1, 1])
    >>> rel.summary.label_column, rel.summary.group_column, rel.summary.patient_source
    ('Pathology', 'Case', 'column')
    """
    path = Path(path)
    if rows_without_image not in ("leave out", "raise"):
        raise ValueError(f"rows_without_image must be 'leave out' or 'raise', got {rows_without_image!r}")
    if unannotated not in ("normal", "leave out"):
        raise ValueError(f"unannotated must be 'normal' or 'leave out', got {unannotated!r}")
    if not path.exists():
        raise ReleaseError(f"{str(path)!r} does not exist")
    if not path.is_dir() and not path.is_file():
        raise ReleaseError(f"{str(path)!r} is not a regular file nor a folder (a FIFO, device or socket): never opened")
    if path.is_file():
        if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
            raise ReleaseError(f"{str(path)!r} is a file: give the release's folder, or an index CSV written by "
                               "featbus read DATA --index FILE")
        given = {"--image-column": image_column, "--label-column": label_column, "--group-column": group_column,
                 "--mask-pattern": mask_pattern}
        refused = [k for k, v in given.items() if v is not None]
        if refused:
            raise ReleaseError(f"{' and '.join(refused)} name a release's own table or files; {str(path)!r} is an "
                               "index, whose columns are image, label, group and mask: drop the option")
        return _read_index(path, strict=rows_without_image == "raise", classes=classes,
                           require_labels=require_labels, group_pattern=group_pattern)
    if mask_pattern is not None:
        try:
            _pattern_regex(mask_pattern, None)
        except ValueError as exc:
            raise ReleaseError(f"--mask-pattern {mask_pattern!r}: {exc}") from None
    root = unwrap_download_folder(path)
    release_name = root.name
    try:
        files, tables, left_out = walk_release(root, extra_suffixes())
    except ImportError as exc:  # DICOM files, and no pydicom: one line naming the extra
        raise ReleaseError(str(exc)) from None
    if (root / "Info.txt").is_file() and any(f.parent == Path(".") and f.stem.lower().startswith("mdb")
                                             for f in files):
        refused = [k for k, v in {"--image-column": image_column, "--label-column": label_column,
                                  "--group-column": group_column, "--mask-pattern": mask_pattern}.items()
                   if v is not None]
        if refused:
            raise ReleaseError(f"{' and '.join(refused)}: {str(root)!r} is a mini-MIAS folder, labelled by its "
                               "Info.txt (no table of image names, no mask files): drop the option")
        from .mias import mias_release

        return mias_release(root, [f for f in files if f.parent == Path(".")], left_out, group_pattern=group_pattern)
    try:
        reads, tables = read_sources(root, tables, files, unannotated)
    except SourceRefused as exc:  # the release's own label table, unreadable as saved
        raise ReleaseError(str(exc)) from None
    reader = Reader(root, release_name, files, [t for t in tables if t.suffix.lower() in TABLE_SUFFIXES], left_out)
    reader.classes = classes
    if any(got.claims_images and got.entries for got in reads):  # a source lists the images itself
        reader.tables = tables  # every file considered is named
        return claimed_release(reader, reads, image_column=image_column, label_column=label_column,
                               group_column=group_column, group_pattern=group_pattern, mask_pattern=mask_pattern,
                               require_labels=require_labels)
    return reader.read(reads=reads, image_column=image_column, label_column=label_column, group_column=group_column,
                       group_pattern=group_pattern, mask_pattern=mask_pattern, require_labels=require_labels,
                       classes=classes, rows_without_image=rows_without_image)
