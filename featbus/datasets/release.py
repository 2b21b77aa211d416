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
from pathlib import Path

from ._common import _natural_key, _pattern_regex
from ._release_index import read_index_rows
from ._release_read import Reader, pixel_size_cells
from ._release_rules import split_counts, split_of
from ._release_scan import unwrap_download_folder, walk_release
from ._release_sources import DrawnMask
from ._release_types import (
    LEFT_OUT_REASONS,
    PATIENT_SOURCES,
    Release,
    ReleaseError,
    ReleaseSummary,
    escape_cell,
    unescape_cell,
)

__all__ = ["LEFT_OUT_REASONS", "PATIENT_SOURCES", "Release", "ReleaseError", "ReleaseSummary", "escape_cell",
           "read_release", "unescape_cell"]


def _read_mias(root: Path, files: list[Path], left_out: list, group_pattern) -> Release:
    """A mini-MIAS folder: labels and patients from ``Info.txt`` (:func:`featbus.datasets.load_mias`'s
    reader), its images found as any release's."""
    from .mias import MIAS_TASKS, parse_mias_info

    table = parse_mias_info(root / "Info.txt")
    classes = MIAS_TASKS["severity"]
    images, labels, groups = [], [], []
    for rel in files:
        ref = rel.stem.lower()
        if ref not in table:
            left_out.append((rel.as_posix(), "no row"))
            continue
        sev = {r["severity"] for r in table[ref]}
        images.append(root / rel)
        labels.append(classes[2 if "M" in sev else 1 if "B" in sev else 0])
        groups.append(f"woman {(int(ref[3:]) - 1) // 2 + 1}")
    summary = ReleaseSummary(root=root, n_images=len(images), table=root / "Info.txt", image_column="reference",
                             label_column="severity", table_candidates=[],
                             classes={c: labels.count(c) for c in classes if labels.count(c)},
                             class_source="Info.txt severity", n_patients=len(set(groups)), patient_source="pattern",
                             patient_detail="mdbNNN: the two breasts of one woman are two numbers", left_out=left_out)
    if group_pattern is not None:
        from .name_groups import pattern_groups

        _, groups = pattern_groups(images, group_pattern)
        summary.patient_detail, summary.n_patients = f"--group-pattern {group_pattern!r}", len(set(groups))
    return Release(root, images, labels, groups, [()] * len(images), summary, class_order=list(classes))


@functools.lru_cache(maxsize=4)
def _drawn_masks(path: str, stamp: tuple) -> dict:
    """The masks a COCO file draws, by image id (each file parsed once while it is unchanged: ``stamp``)."""
    from ._source_coco import read as read_coco

    try:
        return {m.ref: m for e in read_coco(Path(path).parent, Path(Path(path).name), None).entries for m in e.masks}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # then the cell is a missing file, named
        return {}


def _index_mask(base: Path, cell: str):
    """An index's mask cell: a file, or ``<annotation>.json#<image id>``, a mask that COCO file draws."""
    file, sep, ref = cell.partition("#")
    path = Path(file) if os.path.isabs(file) else base / file
    if not sep or not file.lower().endswith(".json") or not path.is_file():
        return Path(cell) if os.path.isabs(cell) else base / cell
    return _drawn_masks(str(path), (path.stat().st_mtime_ns, path.stat().st_size)).get(ref, base / cell)


def _read_index(path: Path) -> Release:
    """An index written by :meth:`Release.write_index` (or any manifest: ``image`` and optional
    ``label``, ``group``, ``mask`` columns, ``split``), read back by its one module
    (:func:`~featbus.datasets._release_index.read_index_rows`): paths relative to the CSV's folder,
    values as written; a mask cell ``<annotation>.json#<image id>`` is the mask that COCO file draws.
    A mask that is not there, an empty patient cell, are said; a split that is none of train / valid /
    test (or their spellings) is refused with its row."""
    left_out: list[tuple[str, str]] = []
    notes: list[str] = []
    header, rows = read_index_rows(path, notes, left_out)
    if "image" not in [h.strip().lower() for h in header]:
        raise ReleaseError(f"{str(path)!r} has no 'image' column: an index (featbus read DATA --index FILE) or a "
                           f"manifest names each image in one; its columns: {header}")
    has = {h.strip().lower() for h in header}
    base = path.parent
    images, labels, groups, masks, kept, splits = [], [], [], [], [], []
    no_patient = 0
    for line, row in rows:
        cell = row["image"]
        if not cell:
            left_out.append((f"row {line} of {path.name}", "no image"))
            continue
        split = split_of(row["split"]) if row["split"] is not None else ""
        if split is None:
            raise ReleaseError(f"row {line} of {str(path)!r}: split {row['split']!r} is none of train, valid, test "
                               "(or empty)")
        splits.append(split)
        kept.append((line, row["cells"]))
        images.append(Path(cell) if os.path.isabs(cell) else base / cell)
        labels.append(row["label"] or None)
        no_patient += row["group"] == ""
        groups.append(row["group"] or cell)  # an empty patient cell: the image is its own patient, said
        found = []
        for m in row["masks"]:
            target = _index_mask(base, m)
            if isinstance(target, DrawnMask) or os.path.isfile(target):
                found.append(target)
            else:
                left_out.append((f"row {line} of {path.name}", f"mask not found: {m!r} (the image kept without it)"))
        masks.append(tuple(found))
    if no_patient:
        notes.append(f"{no_patient} image(s) with an empty 'group' cell: each is its own patient")
    named = sorted({c for c in labels if c}, key=_natural_key)
    summary = ReleaseSummary(root=base, n_images=len(images), n_masks_paired=sum(1 for m in masks if m),
                             n_mask_files=sum(len(m) for m in masks), mask_rule="the index's 'mask' columns",
                             table=path, image_column="image", label_column="label" if "label" in has else None,
                             group_column="group" if "group" in has else None,
                             mask_column="mask" if "mask" in has else None,
                             classes={c: labels.count(c) for c in named}, class_source="the 'label' column",
                             n_patients=len(set(groups)),
                             patient_source="column" if "group" in has else "one per image", left_out=left_out,
                             notes=[f"{n}." for n in notes])
    sizes, summary.pixel_size_missing = pixel_size_cells(header, kept, summary)  # a pixel-size column (issue 82)
    summary.n_pixel_sizes = sum(p is not None for p in sizes)
    summary.splits = split_counts(splits) if any(splits) else {}
    return Release(base, images, labels, groups, masks, summary, class_order=named,
                   pixel_sizes=sizes if summary.n_pixel_sizes else [], splits=splits if any(splits) else None)


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
        rel = _read_index(path)
        if group_pattern is not None:
            from .name_groups import pattern_groups

            _, rel.groups = pattern_groups(rel.images, group_pattern)
            rel.summary.patient_source, rel.summary.n_patients = "pattern", len(set(rel.groups))
        return rel
    if mask_pattern is not None:
        try:
            _pattern_regex(mask_pattern, None)
        except ValueError as exc:
            raise ReleaseError(f"--mask-pattern {mask_pattern!r}: {exc}") from None
    root = unwrap_download_folder(path)
    release_name = root.name
    try:
        files, tables, left_out = walk_release(root)
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
        return _read_mias(root, [f for f in files if f.parent == Path(".")], left_out, group_pattern)
    return Reader(root, release_name, files, tables, left_out).read(
        image_column=image_column, label_column=label_column, group_column=group_column,
        group_pattern=group_pattern, mask_pattern=mask_pattern, require_labels=require_labels, classes=classes,
        rows_without_image=rows_without_image, unannotated=unannotated)
