"""Folders of class sub-folders, and CSV manifests."""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._records import ImageError, map_images
from ..io import dropped_masks_note, warn_skipped
from ..progress import find_stack_level
from ._common import (
    _ON_ERROR,
    IMAGE_EXTENSIONS,
    _bunch,
    _check_label_spellings,
    _classes_text,
    _natural_key,
    _pattern_regex,
    _read_keeping_image,
    _scan_class_folder,
)
from ._layout import WORKING_LAYOUTS, class_folder_items, copies_folders, one_level_down
from ._release_index import mask_cell_files, mask_columns, unescape_cell
from ._release_rules import split_of
from .name_groups import name_groups


def _groups_by_names(paths, pattern: str | None, classes, *, propose: bool) -> tuple[np.ndarray, str] | None:
    """Patients from the file names (a ``--group-pattern``, or with ``propose`` a ``PREFIX_NUMBER``
    prefix the names share), said in one line: ``(groups, groups_from)``, else ``None``."""
    if pattern is None and not propose:
        return None
    found = name_groups(paths, pattern=pattern, classes=classes)
    if found is None:
        return None
    warnings.warn(found[2], UserWarning, stacklevel=find_stack_level())
    return found[0], found[1]


def _near_duplicate_groups(images, groups: str | None, duplicate_threshold, n_jobs) -> np.ndarray:
    """Near-duplicate groups (``groups="duplicates"``), else one group per image."""
    if groups != "duplicates":
        return np.arange(len(images))
    from ..model_selection import duplicate_groups

    return duplicate_groups(images, threshold=duplicate_threshold, n_jobs=n_jobs)


def _folder_classes(root: Path, classes, mask_pattern, exts: tuple, require_labels: bool) -> tuple[list, dict, list]:
    """The class folders of ``root`` (given, or its sub-folders), each scanned for its images and masks;
    a folder of copies of the others (``All/``) is left out with a warning. Returns ``(classes, scanned,
    left_out)``; a layout featbus cannot read is an error that says what it found and what works."""
    left_out: list[tuple[str, str]] = []
    if classes is None:
        classes = sorted((d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                         key=_natural_key)
        if not classes and require_labels:
            raise ValueError(f"{str(root)!r} has no class sub-folders (expected root/<class>/<image>): "
                             f"{one_level_down(root, None, exts)}; featbus reads {WORKING_LAYOUTS}")
        from .export import paired_folders

        pair = paired_folders(root)
        if pair is not None:
            raise ValueError(f"{pair[1].name + '/'!r} pairs one to one with {pair[0].name + '/'!r} (the same file "
                             f"names): it holds their masks, not a class; featbus needs the labels: a table beside "
                             f"them, CSV or Excel (columns image,label[,patient]), or one sub-folder per class, each "
                             f"with its images/ and masks/")
        explicit = False
    else:
        classes = [str(c) for c in classes]
        absent = [c for c in classes if not (root / c).is_dir()]
        if absent:
            raise FileNotFoundError(f"class folder(s) {absent} not found in {str(root)!r}")
        explicit = True
    scanned = {}
    for c in classes:
        found, orphans, inner = class_folder_items(root / c, mask_pattern, exts)
        scanned[c] = (found, orphans, inner)
    if not explicit and len(classes) > 2:
        # a folder of every image again (All/images, All/masks) beside the class folders: not a class
        copies = copies_folders({c: [f for f, _ in scanned[c][0]] for c in classes})
        for c, why in copies.items():
            left_out.append((c, why))
            warnings.warn(f"left out {c + '/'!r} of {str(root)!r}: {why}, so it is no class of its own (it would "
                          "put each of those images under two labels)", UserWarning, stacklevel=find_stack_level())
        classes = [c for c in classes if c not in copies]
    if not explicit:
        _check_label_spellings(classes, f"the class folders of {str(root)!r}")
    return classes, scanned, left_out


def load_image_folder(root: str | os.PathLike, *, classes: Sequence[str] | None = None,
                      mask_pattern: str = "{stem}_mask*.png",
                      extensions: Sequence[str] = IMAGE_EXTENSIONS, on_error: str = "raise",
                      groups: str | None = "duplicates", duplicate_threshold: int | None = None,
                      n_jobs: int | None = None, require_labels: bool = True,
                      group_pattern: str | None = None) -> Bunch:
    """Load a folder of images, one sub-folder per class, with optional masks beside them.

    Layout (the BUSI layout)::

        root/
          benign/   a (1).png  a (1)_mask.png  a (1)_mask_1.png  b.png ...
          malignant/ ...

    Parameters
    ----------
    root : path
        The folder holding one sub-folder per class.
    classes : sequence of str, optional
        Class sub-folders to load, in this order (their index is the target). Default: every
        non-hidden sub-folder, sorted by name.
    mask_pattern : str, default="{stem}_mask*.png"
        File-name pattern of an image's mask files, ``{stem}`` being the image's file name
        without extension; ``*`` and ``?`` are wildcards. Several matching files (``_mask``,
        ``_mask_1``, ...: several lesions) are merged by union. Files matching the pattern are
        never loaded as images; a mask file whose image is absent is reported by a warning.
    extensions : sequence of str
        Image file extensions (case-insensitive).
    on_error : {"raise", "skip"}, default="raise"
        What an unreadable image, or a mask whose size differs from its image's, does: raise
        an error naming the file(s), or skip the image; skipped images are listed in
        ``Bunch.skipped`` as ``(path, reason)`` and reported by a warning.
    groups : {"duplicates"} or None, default="duplicates"
        ``"duplicates"``: patients from the file names where they share a ``PREFIX_NUMBER``
        shape (``ABCD_012.png`` -> ``ABCD``, said in one line; :mod:`featbus.datasets.name_groups`),
        else ``Bunch.groups`` from :func:`featbus.duplicate_groups` (near-duplicate images share
        a group); ``None``: every image its own group.
    duplicate_threshold : int, optional
        ``threshold`` of :func:`featbus.duplicate_groups`.
    n_jobs : int, optional
        Parallel workers for reading.
    require_labels : bool, default=True
        ``False`` also reads a folder without class sub-folders (its images directly inside,
        masks beside them): unlabelled data, for feature extraction. Its ``target`` is ``-1``
        for every image and ``target_names`` is empty.
    group_pattern : str, optional
        A regular expression searched in each file name without extension: its first group (or
        the whole match) is the image's patient (:func:`featbus.datasets.name_groups.pattern_groups`;
        a name it does not match is an error naming it).

    Returns
    -------
    data : Bunch
        ``images``, ``masks``, ``target``, ``target_names`` (the class folder names),
        ``paths``, ``groups``, ``data`` (:class:`featbus.ImageRecord` with
        ``meta={"label", "has_mask_file", "mask_paths"}``), ``skipped``, ``DESCR``. Images
        without a mask file get an all-``False`` mask and ``meta["has_mask_file"] = False``:
        in a folder with masks, "no mask file" is read as "no lesion drawn".

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import load_image_folder
    >>> root = tempfile.mkdtemp()
    >>> rng = np.random.RandomState(0)
    >>> for c in ("a", "b"):
    ...     os.mkdir(os.path.join(root, c))
    ...     im = (rng.rand(32, 32) * 255).astype(np.uint8)
    ...     Image.fromarray(im).save(os.path.join(root, c, "x (1).png"))
    ...     Image.fromarray((im > 128).astype(np.uint8) * 255).save(os.path.join(root, c, "x (1)_mask.png"))
    >>> data = load_image_folder(root)
    >>> data.target_names.tolist(), data.target.tolist(), len(data.data)
    (['a', 'b'], [0, 1], 2)
    >>> bool(data.masks[0].any()), data.data[0].meta["has_mask_file"]
    (True, True)
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{str(root)!r}: no such folder")
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    if groups not in ("duplicates", None):
        raise ValueError(f"groups must be 'duplicates' or None, got {groups!r}")
    if isinstance(extensions, str):
        extensions = (extensions,)
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    _pattern_regex(mask_pattern, None)  # validate early
    classes, scanned, left_out = _folder_classes(root, classes, mask_pattern, exts, require_labels)
    items, labels = [], []
    if classes:
        for k, c in enumerate(classes):
            found, orphans, inner = scanned[c]
            if orphans:
                where = root / c if inner is None else (inner[1] or inner[0])
                warnings.warn(f"{len(orphans)} mask file(s) without an image in {str(where)!r}: "
                              + ", ".join(repr(o.name) for o in orphans[:10]), UserWarning,
                              stacklevel=find_stack_level())
            items += found
            labels += [k] * len(found)
    else:  # no class sub-folders (only allowed without require_labels): the images in root, unlabelled
        found, orphans = _scan_class_folder(root, mask_pattern, exts)
        if orphans:
            warnings.warn(f"{len(orphans)} mask file(s) without an image in {str(root)!r}: "
                          + ", ".join(repr(o.name) for o in orphans[:10]), UserWarning,
                          stacklevel=find_stack_level())
        items += found
        labels += [-1] * len(found)
    if not items:
        if classes:
            raise ValueError(f"no image files with extensions {exts} in the class folders of {str(root)!r}: "
                             f"{one_level_down(root, classes, exts)}; featbus reads {WORKING_LAYOUTS}")
        raise ValueError(f"no image files with extensions {exts} in {str(root)!r}")
    results = map_images(_read_keeping_image, items, n_jobs, backend="threading")  # decoders release the GIL
    images, masks, target, paths, metas, skipped, dropped = [], [], [], [], [], [], []
    for (image_path, mask_paths), label, res in zip(items, labels, results):
        if isinstance(res[0], str):  # ("error", path, reason)
            if on_error == "raise":
                raise ImageError(res[2], path=res[1])
            skipped.append((res[1], res[2]))
            continue
        if res[2] is not None:  # the mask dropped, the image kept
            dropped.append((";".join(str(m) for m in mask_paths), res[2], str(image_path)))
        images.append(res[0])
        masks.append(res[1])
        target.append(label)
        paths.append(str(image_path))
        metas.append({"label": classes[label] if label >= 0 else None,
                      "has_mask_file": bool(mask_paths) and res[2] is None,
                      "mask_paths": [str(m) for m in mask_paths] if res[2] is None else [],
                      **({"mask_problem": res[2]} if res[2] is not None else {})})
    if skipped:
        warn_skipped([(i, p, r) for i, (p, r) in enumerate(skipped)], "image(s)")
    if dropped:
        warnings.warn(dropped_masks_note([d[:2] for d in dropped]), UserWarning, stacklevel=find_stack_level())
    if not images:
        raise ValueError(f"no readable image in {str(root)!r}")
    by_names = _groups_by_names(paths, group_pattern, classes or (), propose=groups == "duplicates")
    group_labels, told = by_names or (_near_duplicate_groups(images, groups, duplicate_threshold, n_jobs), None)
    descr = (f"Image folder {str(root)!r}: {len(images)} images, {_classes_text(target, classes)}, "
             f"{len(np.unique(group_labels))} groups" + (f" ({told.split(': ', 1)[1]})." if by_names else "."))
    if left_out:
        descr += " Left out: " + "; ".join(f"{c}/ ({why})" for c, why in left_out) + "."
    return _bunch(images, masks, target, classes, paths, group_labels, metas, descr, skipped=skipped,
                  dropped_masks=dropped, left_out=left_out,
                  near_duplicate_groups=groups == "duplicates" and by_names is None,
                  **({"groups_from": told} if by_names else {}))


# --------------------------------------------------------------------------- CSV manifest

#: Columns of a CSV manifest: ``image`` and ``label`` are required.
MANIFEST_COLUMNS = ("image", "label", "mask", "group", "split")
#: Values of a manifest's ``split`` column (empty: no assignment; ``val``, ``validation``, ``dev`` read as
#: ``valid``...: :func:`~featbus.datasets._release_rules.split_of`).
MANIFEST_SPLITS = ("train", "valid", "test")


def manifest_error(path: Path, line: int, what: str) -> ValueError:
    return ValueError(f"{str(path)!r} row {line}: {what}")


def manifest_table(path: Path, required: Sequence[str]):
    """A manifest's rows as text (column names trimmed and lower-cased), its required columns
    and at least one row checked."""
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable CSV table: {str(exc).strip()}") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    # a cell featbus escaped when it wrote the table (an index: '=..., '@...) reads as it was written
    table = table.apply(lambda column: column.map(unescape_cell))
    absent = [c for c in required if c not in table.columns]
    if absent:
        from .._registry import did_you_mean

        needs = " and ".join(repr(c) for c in required)
        hint = "".join(did_you_mean(c, table.columns).replace(" (did", f" ({c!r}: did") for c in absent)
        raise ValueError(f"{str(path)!r} has no column(s) {absent}{hint}; a manifest needs {needs} "
                         f"(optional: 'mask', 'group', 'split'), it has {list(table.columns)}")
    if table.empty:
        raise ValueError(f"{str(path)!r} lists no images")
    return table


def _manifest_path(base: Path, name: str) -> Path:
    """A path of a manifest cell: relative to the CSV's folder, or absolute; a mask an annotation
    file draws (``<file>.json#<image id>``, as an index names it) found in that file."""
    if ".json#" in name:
        from .release import _index_mask

        return _index_mask(base, name)
    return Path(name) if Path(name).is_absolute() else base / name


def _listed_files(path: Path, *, masks: bool):
    """``(row, cell, file, problem)`` for each file a manifest lists (its image, then its masks
    with ``masks``), ``problem`` None when the file exists, else why it is not there.

    Streams the CSV one row at a time (the csv module, no table in memory), so a caller can
    stop at the first missing file of a million-row manifest within moments. Rows are numbered
    as :func:`load_manifest` numbers them (the header is row 1, blank lines are not rows); a
    table this cannot parse yields nothing more, left to the full reading to report."""
    import csv

    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError:
        return
    with f:
        reader = csv.reader(f, skipinitialspace=True)
        try:
            columns = [c.strip().lower() for c in next(reader)]
        except (StopIteration, csv.Error, UnicodeDecodeError):
            return
        if "image" not in columns:
            return
        at = columns.index("image")
        mask_at = [columns.index(c) for c in mask_columns(columns)] if masks else []
        base = os.path.abspath(path.parent)
        line = 1
        try:
            for row in reader:
                if not row:
                    continue
                line += 1
                cells = [(row[at] if at < len(row) else "", "image")]
                cells += [(m, "mask") for c in mask_at if c < len(row)
                          for m in mask_cell_files(path.parent, unescape_cell(row[c]))]
                for cell, what in cells:
                    cell = unescape_cell(cell.strip())
                    if not cell:
                        continue  # an empty image cell: the full reading names it
                    file = os.path.join(base, cell.split(".json#")[0] + ".json" if ".json#" in cell else cell)
                    try:
                        problem = None if stat.S_ISREG(os.stat(file).st_mode) else f"{what} {cell!r} is not a file"
                    except (FileNotFoundError, NotADirectoryError):
                        problem = f"{what} {cell!r} not found"
                    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
                        problem = f"{what} {cell!r} cannot be looked up ({exc})"
                    yield line, what, file, problem
        except (csv.Error, UnicodeDecodeError):
            return


def _check_listed_files(path: Path, on_error: str) -> None:
    """Fail early and cheaply on a manifest whose files are missing: at the first one (or, with
    ``on_error="skip"``, when none exists), instead of after trying to read every row."""
    first, n = None, 0
    for line, _, file, problem in _listed_files(path, masks=on_error == "raise"):
        if problem is None:
            if on_error == "skip":
                return  # something to read: the reading skips what is missing
            continue
        if on_error == "raise":
            raise ImageError(f"row {line} of {str(path)!r}: {problem}", path=str(file))
        first = first or (line, file)
        n += 1
    if first is not None:
        raise ValueError(f"none of the {n} images {str(path)!r} lists exists (the first, row {first[0]}: "
                         f"{str(first[1])!r})")


def manifest_images(path: str | os.PathLike) -> list[str]:
    """The image paths a CSV manifest lists (its ``image`` column; no label needed), each checked
    to exist: what ``featbus predict`` reads from a manifest.

    Raises
    ------
    ValueError
        An unreadable table, no ``image`` column, an empty cell or a missing file, naming the row.
    """
    path = Path(path)
    for line, _, file, problem in _listed_files(path, masks=False):  # streamed: a missing file ends it early
        if problem is not None:
            raise manifest_error(path, line, f"{problem} ({str(file)!r})")
    out = []
    for line, name in enumerate(manifest_table(path, ("image",))["image"], start=2):
        name = name.strip()
        if not name:
            raise manifest_error(path, line, "the 'image' cell is empty")
        f = _manifest_path(path.parent, name)
        if not f.is_file():
            raise manifest_error(path, line, f"image {name!r} not found ({str(f)!r})")
        out.append(str(f))
    return out


def _manifest_rows(path: Path, table, labelled: bool, extra: list, has_group: bool) -> tuple[list, ...]:
    """Each row of a manifest checked (empty cells, a file listed twice, a split's name, a missing group)
    and turned into ``(items, labels, metas, groups, splits)``; an error names the row's line."""
    base = path.parent
    items, labels, metas, group_values, splits, seen = [], [], [], [], [], {}
    for k, row in enumerate(table.to_dict("records")):
        line = k + 2  # the header is line 1
        name = row["image"] if os.path.isfile(base / row["image"]) else row["image"].strip()  # ' a.png' as written
        label = row["label"].strip() if labelled else None
        if not name:
            raise manifest_error(path, line, "the 'image' cell is empty")
        if labelled and not label:
            raise manifest_error(path, line, f"image {name!r} has an empty 'label'")
        image_path = _manifest_path(base, name).resolve()
        if image_path in seen:
            raise manifest_error(path, line, f"image {name!r} is listed twice (rows {seen[image_path]} and {line})")
        seen[image_path] = line
        masks = [m for c in mask_columns(table.columns) for m in mask_cell_files(base, str(row[c]))]
        split = split_of(str(row.get("split", "")))
        if split is None:
            raise manifest_error(path, line, f"split {row['split']!r} is not one of {list(MANIFEST_SPLITS)} or empty")
        group = str(row.get("group", "")).strip()
        if has_group and not group:
            raise manifest_error(path, line, f"image {name!r} has an empty 'group' (every row needs one when the "
                                  "column is there)")
        items.append((image_path, [_manifest_path(base, m) for m in masks]))
        labels.append(label)
        group_values.append(group)
        splits.append(split)
        metas.append({"label": label, "row": line, "has_mask_file": bool(masks),
                      **{c: row[c] for c in extra}})
    return items, labels, metas, group_values, splits


def _manifest_groups(kept_groups: list, has_group: bool, groups, images, duplicate_threshold, n_jobs) -> np.ndarray:
    """The images' groups: the 'group' column numbered in order of first appearance, or near-duplicate
    groups, or one group per image (patients from the file names are decided before)."""
    if not has_group:
        return _near_duplicate_groups(images, groups, duplicate_threshold, n_jobs)
    group_labels = np.unique(kept_groups, return_inverse=True)[1]
    # number groups in order of first appearance, so the CSV's order is the groups' order
    first = {g: i for i, g in reversed(list(enumerate(group_labels)))}
    order = {g: n for n, g in enumerate(sorted(first, key=first.get))}
    return np.array([order[g] for g in group_labels])


def load_manifest(path: str | os.PathLike, *, classes: Sequence[str] | None = None,
                  groups: str | None = "duplicates", duplicate_threshold: int | None = None,
                  on_error: str = "raise", n_jobs: int | None = None, require_labels: bool = True,
                  group_pattern: str | None = None) -> Bunch:
    """Load a data set listed in a CSV manifest: one row per image, labels in a column.

    The table input of every featbus command, for data sets whose labels do not sit in class
    folders. Columns (header row required; other columns are kept in each record's ``meta``):

    ``image`` (required)
        Image path, relative to the CSV's folder (or absolute).
    ``label`` (required)
        Class name.
    ``mask`` (optional)
        Lesion mask path(s), relative like ``image``; several files separated by ``;`` are
        merged by union (several lesions); empty: no lesion drawn.
    ``group`` (optional)
        Images sharing a value stay on one side of every split (a patient, a woman's two
        breasts). When the column is absent, ``groups`` decides.
    ``split`` (optional)
        ``train``, ``valid``, ``test`` (``val``, ``validation``, ``dev`` read as ``valid``) or
        empty: the publisher's splits; ``featbus train`` / ``evaluate`` hold the ``test`` rows out.

    Parameters
    ----------
    path : path
        The CSV file.
    classes : sequence of str, optional
        Class names, in this order (their index is the target); a label outside them is an
        error naming the row. Default: every label in the file, sorted.
    groups : {"duplicates"} or None, default="duplicates"
        Without a ``group`` column: ``"duplicates"`` takes patients from the file names where
        they share a ``PREFIX_NUMBER`` shape (said in one line), else groups near-duplicate images
        (:func:`featbus.duplicate_groups`); ``None`` makes each image its own group.
    duplicate_threshold : int, optional
        ``threshold`` of :func:`featbus.duplicate_groups`.
    on_error : {"raise", "skip"}, default="raise"
        An unreadable image or mask raises an error naming its row and file, or is skipped
        (listed in ``Bunch.skipped`` and reported by a warning). A missing column, an empty
        cell where a value is needed, an unknown label, a bad ``split`` value or a duplicate
        row is always an error naming the row.
    n_jobs : int, optional
        Parallel workers for reading.
    require_labels : bool, default=True
        ``False`` also reads a manifest without a ``label`` column: unlabelled data, for
        feature extraction (``target`` ``-1`` for every image, ``target_names`` empty).
    group_pattern : str, optional
        A regular expression on the file names giving each image's patient, over the ``group``
        column (see :func:`load_image_folder`).

    Returns
    -------
    data : Bunch
        As :func:`load_image_folder`, plus ``split`` (array of ``"train"``, ``"valid"``,
        ``"test"`` or ``""``) and ``extra_columns`` (the names of the columns beyond :data:`MANIFEST_COLUMNS`).
        Each record's ``meta`` holds ``label``, ``row`` (the CSV line) and the extra columns.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import load_manifest
    >>> root = tempfile.mkdtemp()
    >>> rng = np.random.RandomState(0)
    >>> for k in range(4):
    ...     Image.fromarray((rng.rand(32, 32) * 255).astype(np.uint8)).save(os.path.join(root, f"im{k}.png"))
    >>> with open(os.path.join(root, "data.csv"), "w") as f:
    ...     _ = f.write("image,label,group\\nim0.png,a,p1\\nim1.png,b,p1\\nim2.png,a,p2\\nim3.png,b,p3\\n")
    >>> data = load_manifest(os.path.join(root, "data.csv"))
    >>> data.target_names.tolist(), data.target.tolist(), data.groups.tolist()
    (['a', 'b'], [0, 1, 0, 1], [0, 0, 1, 2])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r}: no such CSV file")
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    if groups not in ("duplicates", None):
        raise ValueError(f"groups must be 'duplicates' or None, got {groups!r}")
    _check_listed_files(path, on_error)  # a missing file: said at once, not after every row is tried
    table = manifest_table(path, ("image", "label") if require_labels else ("image",))
    labelled = "label" in table.columns
    extra = [c for c in table.columns if c not in MANIFEST_COLUMNS]
    has_group = "group" in table.columns
    items, labels, metas, group_values, splits = _manifest_rows(path, table, labelled, extra, has_group)
    if not labelled:
        classes = []
    elif classes is None:
        classes = sorted(set(labels), key=_natural_key)
        _check_label_spellings(classes, f"the 'label' column of {str(path)!r}")
    else:
        classes = [str(c) for c in classes]
        for line_meta, label in zip(metas, labels):
            if label not in classes:
                raise manifest_error(path, line_meta["row"], f"label {label!r} is not one of the classes {classes}")
    results = map_images(_read_keeping_image, items, n_jobs, backend="threading")
    images, masks, target, paths, kept_metas, kept_groups, kept_splits, skipped = [], [], [], [], [], [], [], []
    dropped = []
    for (image_path, mask_paths), label, meta, group, split, res in zip(items, labels, metas, group_values, splits,
                                                                         results):
        if isinstance(res[0], str):  # ("error", path, reason)
            reason = f"row {meta['row']}: {res[2]}"
            if on_error == "raise":
                raise ImageError(reason, path=res[1])
            skipped.append((res[1], reason))
            continue
        if res[2] is not None:  # the mask dropped, the image kept
            dropped.append((";".join(str(m) for m in mask_paths), f"row {meta['row']}: {res[2]}", str(image_path)))
            meta = {**meta, "has_mask_file": False, "mask_problem": res[2]}
        images.append(res[0])
        masks.append(res[1])
        target.append(classes.index(label) if labelled else -1)
        paths.append(str(image_path))
        kept_metas.append(meta)
        kept_groups.append(group)
        kept_splits.append(split)
    if skipped:
        warn_skipped([(i, p, r) for i, (p, r) in enumerate(skipped)], "image(s)")
    if dropped:
        warnings.warn(dropped_masks_note([d[:2] for d in dropped]), UserWarning, stacklevel=find_stack_level())
    if not images:
        raise ValueError(f"no readable image listed in {str(path)!r}")
    by_names = _groups_by_names(paths, group_pattern, classes, propose=not has_group and groups == "duplicates")
    if by_names is not None:
        group_labels, how = by_names
        told = {"groups_from": how}
        how = f" ({how.split(': ', 1)[1]})."
    else:
        group_labels = _manifest_groups(kept_groups, has_group, groups, images, duplicate_threshold, n_jobs)
        told = {"groups_from": f"the 'group' column of {Path(path).name}"} if has_group else {}
        how = " (from its 'group' column)." if has_group else "."
    descr = (f"CSV manifest {str(path)!r}: {len(images)} images, {_classes_text(target, classes)}, "
             f"{len(np.unique(group_labels))} groups" + how)
    return _bunch(images, masks, target, classes, paths, group_labels, kept_metas, descr, skipped=skipped,
                  dropped_masks=dropped, split=np.asarray(kept_splits, dtype=object), extra_columns=extra,
                  near_duplicate_groups=not has_group and groups == "duplicates" and by_names is None, **told)
