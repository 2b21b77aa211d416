"""A hospital's export as downloaded: an image folder, a mask folder of the same file names and a
table naming each image's label (and patient), read as one labelled data set.

Layout::

    export/
      images/   case001_1.png  case001_2.png  case002_1.png ...
      masks/    case001_1.png  case001_2.png  ...           (optional; RGB or gray)
      labels.csv                                            (``,`` ``;`` or tab, a BOM is fine;
                                                             or an Excel table, .xlsx / .xls)

The image folder may be named ``images/``, ``original/``, ``imgs/``... and the mask folder
``masks/``, ``GT/``, ``ground_truth/``... (:data:`featbus.io.IMAGE_FOLDER_NAME`,
:data:`featbus.io.MASK_FOLDER_NAME`); a mask file has its image's name, or adds ``_mask``, ``_gt``...
(:func:`featbus.io.mask_stem`); a colour mask (one colour per class, black background) reads as a
mask (:func:`featbus.read_mask`: every pixel that is not black is lesion).

The table's columns are recognised from their usual names (:data:`EXPORT_COLUMNS`), in any case,
or named (``image_column=``, ``label_column=``, ``group_column=``; ``--image-column``... on the
command line). The label column is chosen by its values where they tell: the one column whose
values are the classes (benign / malignant / normal, any case) wins over a finer diagnosis column
(CYST, FA, IDC...), said in one line. Without a patient column, a file name's ``PREFIX_NUMBER``
shape gives the patient (:mod:`featbus.datasets.name_groups`), else near-duplicates are grouped.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._records import ImageError, map_images
from ..io import IMAGE_FOLDER_NAME, MASK_FOLDER_NAME, dropped_masks_note, mask_stem, warn_skipped
from ..progress import find_stack_level
from ._common import (
    _ON_ERROR,
    IMAGE_EXTENSIONS,
    _bunch,
    _classes_text,
    _natural_key,
    _read_keeping_image,
    plausible_typo,
)
from .name_groups import name_groups

__all__ = ["EXPORT_COLUMNS", "EXPORT_TABLE_SUFFIXES", "export_table_of", "load_export", "paired_folders"]

#: The usual names of an export table's columns (compared without case, spaces, ``_`` or ``-``).
EXPORT_COLUMNS = {
    "image": ("image", "file", "filename", "name", "path", "imagename", "imagefile", "imagepath", "img"),
    "label": ("label", "class", "diagnosis", "pathology", "histology", "category", "classification"),
    "group": ("patient", "patientid", "case", "caseid", "subject", "subjectid", "patientnumber", "casenumber"),
}
#: The option naming each column (what a refusal suggests).
COLUMN_OPTIONS = {"image": "--image-column", "label": "--label-column", "group": "--group-column"}
#: Files read as an export's table (Excel's .xlsx through openpyxl, .xls through xlrd when installed).
EXPORT_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls")
#: The classes a label column's values are recognised by (any case), where no classes are given:
#: the breast ultrasound models' classes.
CLASS_WORDS = ("benign", "malignant", "normal")
#: How many names a note lists before ``and N more``.
_LISTED = 3


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).casefold()


def _files(folder: Path) -> list[Path]:
    return sorted((f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")
                   and f.suffix.lower() in IMAGE_EXTENSIONS), key=lambda f: _natural_key(f.name))


def _names(items: Sequence, n: int = _LISTED) -> str:
    """``'a', 'b', 'c' and 4 more``: the first few of a list, then a count."""
    shown = ", ".join(repr(str(i)) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def paired_folders(root: str | os.PathLike) -> tuple[Path, Path] | None:
    """Two sub-folders of ``root`` whose image files pair one to one (the same file stems):
    ``(images, masks)`` -- the one whose name says mask second -- else ``None``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> for d in ("images", "masks"):
    ...     (root / d).mkdir()
    ...     for k in range(3):
    ...         _ = (root / d / f"{k}.png").write_bytes(b"")
    >>> [p.name for p in paired_folders(root)]
    ['images', 'masks']
    """
    root = Path(root)
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = {d: _files(d) for d in subdirs}
    stems = {d: {f.stem.casefold() for f in files[d]} for d in subdirs}
    as_masks = {d: {mask_stem(f.stem) for f in files[d]} for d in subdirs}  # 'a_mask' names image 'a'
    for i, a in enumerate(subdirs):
        for b in subdirs[i + 1:]:
            # class folders may share file names (1.png, 2.png, ... in each class): a pair is an image
            # folder and its masks only when one of them says so by its name or holds mask-like images
            for images, masks in ((a, b), (b, a)):
                if len(stems[images]) < 2 or stems[images] != as_masks[masks]:
                    continue
                if MASK_FOLDER_NAME.search(masks.name) or (
                        not MASK_FOLDER_NAME.search(images.name) and _mask_like(masks) and not _mask_like(images)):
                    return images, masks
    return None


def _mask_like(folder: Path) -> bool:
    """Whether the first image of ``folder`` looks like a mask: at most two grey levels, or a colour
    mask (a few colours, black among them: one colour per class on a black background)."""
    from PIL import Image

    first = min(_files(folder), default=None)
    if first is None:
        return False
    try:
        with Image.open(first) as im:
            pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    except (OSError, ValueError):
        return False
    colours = np.unique(pixels[:: max(1, len(pixels) // 65536)], axis=0)
    return len(colours) <= 2 or (len(colours) <= 8 and bool((colours == 0).all(axis=1).any()))


#: The package each Excel suffix needs, and why it may be missing.
_EXCEL_READERS = {".xlsx": ("openpyxl", "a dependency of featbus: reinstall featbus"),
                  ".xls": ("xlrd", "the old Excel 97-2003 format: pip install xlrd, or save the table as .xlsx or "
                                   ".csv")}


def _check_reader(path: Path) -> None:
    """Refuse, naming what to install, an Excel table whose reader is not installed."""
    import importlib.util

    reader = _EXCEL_READERS.get(path.suffix.lower())
    if reader is not None and importlib.util.find_spec(reader[0]) is None:
        raise ValueError(f"{str(path)!r} is an Excel table and reading it needs the {reader[0]} package, which is "
                         f"not installed ({reader[1]})")


def _read_table(path: Path):
    """An export table as text cells, its column names kept as written (a BOM, ``;`` or tab is fine;
    an Excel table's first sheet)."""
    import pandas as pd

    _check_reader(path)
    try:
        if path.suffix.lower() in _EXCEL_READERS:
            table = pd.read_excel(path, dtype=str, keep_default_na=False)
        else:
            table = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig", dtype=str,
                                keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable table: {_first_line(exc)}") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _name_keys(name: str) -> list[str]:
    """The keys a table's cell or a file is found by: its name and stem (any case), and a number
    written without its leading zeros (Excel turns ``000012`` into ``12``, ``12.0``)."""
    p = Path(str(name).strip().replace("\\", "/"))
    keys = [p.name.casefold(), p.stem.casefold()]
    digits = p.stem if p.suffix.lower() in IMAGE_EXTENSIONS else p.name
    if re.fullmatch(r"\d+(\.0+)?", digits):
        keys.append(str(int(float(digits))))
    return keys


def _column(table, path: Path, role: str, given: str | None, *, required: bool) -> str | None:
    """The table's column for ``role`` (``image``, ``label``, ``group``): ``given`` (any case), else
    the one column of a usual name; a refusal naming the option when none or several fit."""
    option = COLUMN_OPTIONS[role]
    by_key = {_key(c): c for c in table.columns}
    if given is not None:
        if _key(given) not in by_key:
            raise ValueError(f"{str(path)!r} has no column {given!r} ({option}); its columns: {list(table.columns)}")
        return by_key[_key(given)]
    found = [c for c in table.columns if _key(c) in EXPORT_COLUMNS[role]]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ValueError(f"{str(path)!r} has several {role} columns {found}: name the one to use with "
                         f"{option} COLUMN")
    if required:
        raise ValueError(f"{str(path)!r} has no {role} column featbus recognises (usual names: "
                         f"{', '.join(EXPORT_COLUMNS[role][:6])}): name it with {option} COLUMN; its columns: "
                         f"{list(table.columns)}")
    return None


def export_table_of(root: str | os.PathLike, *, image_column: str | None = None) -> tuple[Path, Path] | None:
    """``(table, image folder)`` when ``root`` holds an export (a table whose image column names the
    files of ONE sub-folder), else ``None``. Reads only the tables' headers and names, no image."""
    root = Path(root)
    if not root.is_dir():
        return None
    tables = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in EXPORT_TABLE_SUFFIXES
                    and not p.name.lower().startswith(("readme", "license", "licence")))
    subdirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if not tables or not subdirs:
        return None
    contents = {d: {k for f in _files(d) for k in _name_keys(f.name)} for d in subdirs}
    for table_path in tables:
        _check_reader(table_path)  # an .xls without xlrd: said, not read as "no export"
        try:
            table = _read_table(table_path)
            column = _column(table, table_path, "image", image_column, required=True)
        except ValueError:
            continue
        names = [_name_keys(v) for v in table[column] if str(v).strip()]
        if not names:
            continue
        found = [d for d in subdirs if sum(any(k in contents[d] for k in n) for n in names) >= 0.9 * len(names)]
        if found:
            # original/ and GT/ both hold every name: the image folder is the one not named as masks,
            # a name saying images first (featbus.io.IMAGE_FOLDER_NAME, MASK_FOLDER_NAME: the one rule)
            found.sort(key=lambda d: (bool(MASK_FOLDER_NAME.search(d.name)), not IMAGE_FOLDER_NAME.search(d.name),
                                      _natural_key(d.name)))
            return table_path, found[0]
    return None


def _match_label(label: str, classes: Sequence[str]) -> str | None:
    return next((c for c in classes if c.strip().casefold() == label.strip().casefold()), None)


def _refuse_misspelt_labels(rows: list[tuple[int, str]], table: str) -> None:
    """Refuse, before any image is read, a label written on one or two rows that is a plausible typo
    of a label of many rows (:func:`~featbus.datasets._common.plausible_typo`: 'Benigh' beside
    'Benign'): it would become a class of its own. Different words are classes, never misspellings:
    short codes ('LP' beside 'LN', 'FA' beside 'FAD', 'DCIS' beside 'LCIS') and a label inside
    another ('normal', 'abnormal').

    Examples
    --------
    >>> try:
    ...     _refuse_misspelt_labels([(2, "Benign")] * 9 + [(11, "Benigh")], "t.csv")
    ... except ValueError as exc:
    ...     print(str(exc)[:80])
    row 11 of 't.csv': label 'Benigh' (1 row) looks like a misspelling of 'Benign' (
    >>> _refuse_misspelt_labels([(2, "normal")] * 9 + [(11, "abnormal")], "t.csv")
    >>> _refuse_misspelt_labels([(2, "LN")] * 9 + [(11, "LP")], "t.csv")
    """
    counts: dict[str, int] = {}
    first: dict[str, tuple[int, str]] = {}
    for line, label in rows:
        key = label.casefold()
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, (line, label))
    for rare, n in counts.items():
        if n > 2:
            continue
        for common, m in counts.items():
            if m < 3 * n or rare.strip() == common.strip():  # spaces only: read as one class, said
                continue
            if plausible_typo(rare, common):
                line, written = first[rare]
                raise ValueError(f"row {line} of {table!r}: label {written!r} ({n} row{'s' if n > 1 else ''}) looks "
                                 f"like a misspelling of {first[common][1]!r} ({m} rows): correct the table (every "
                                 "distinct label is a class)")


def _values_text(table, column: str, n: int = 4) -> str:
    values = sorted({str(v).strip() for v in table[column] if str(v).strip()}, key=_natural_key)
    return ", ".join(values[:n]) + (f" and {len(values) - n} more" if len(values) > n else "")


def _label_column(table, path: Path, given: str | None, classes: Sequence[str] | None, *, required: bool,
                  taken: Sequence[str | None]) -> tuple[str | None, str | None]:
    """The label column and the line that says how it was chosen (``None`` when there was no choice).

    Given (``--label-column``): that one. Else the column whose values are the classes (``classes``,
    or :data:`CLASS_WORDS`: benign / malignant / normal, any case) wins over the columns of a usual
    name whose values are finer findings (a ``Diagnosis`` column of CYST, FA, IDC...); without such a
    column, the one column of a usual name (:func:`_column`)."""
    if given is not None:
        return _column(table, path, "label", given, required=True), None
    known = {str(c).strip().casefold() for c in (classes if classes is not None else CLASS_WORDS)}
    named = [c for c in table.columns if _key(c) in EXPORT_COLUMNS["label"]]
    by_values = []
    for c in table.columns:
        if c in taken:
            continue
        values = {str(v).strip().casefold() for v in table[c] if str(v).strip()}
        if values and values <= known:
            by_values.append(c)
    if not by_values:
        return _column(table, path, "label", None, required=required), None
    if len(by_values) > 1:
        named_ones = [c for c in by_values if c in named]
        if len(named_ones) != 1:
            raise ValueError(f"{str(path)!r} has several label columns {by_values} whose values are the classes: "
                             "name the one to use with --label-column COLUMN")
        by_values = named_ones
    chosen = by_values[0]
    others = [c for c in dict.fromkeys(named + by_values) if c != chosen]
    if not others and chosen in named:
        return chosen, None
    said = (f"labels from the {chosen!r} column of {path.name} (its values are the classes: "
            f"{_values_text(table, chosen)})")
    if others:
        said += "; other candidates: " + ", ".join(f"{c!r} ({_values_text(table, c)})" for c in others)
    return chosen, said + "; --label-column names another"


def load_export(root: str | os.PathLike, *, image_column: str | None = None, label_column: str | None = None,
                group_column: str | None = None, group_pattern: str | None = None,
                classes: Sequence[str] | None = None, on_error: str = "raise", require_labels: bool = True,
                duplicate_threshold: int | None = None, n_jobs: int | None = None) -> Bunch:
    """Load a hospital's export: an image folder, an optional mask folder of the same file names and
    a table naming each image's label and patient.

    Parameters
    ----------
    root : path
        The export's folder (the table, CSV or Excel, beside ``images/`` and ``masks/``, or
        ``original/`` and ``GT/``...).
    image_column, label_column, group_column : str, optional
        The table's columns (any case); default: the one column of a usual name
        (:data:`EXPORT_COLUMNS`); for the label, the one column whose values are the classes
        (``classes``, else benign / malignant / normal) first, said in one line (a warning) with
        the other candidates. With no patient column, the file names' ``PREFIX_NUMBER`` prefix
        is the patient where the names have that shape (said in one line,
        :mod:`featbus.datasets.name_groups`), else images are grouped as near-duplicates (a
        warning says so).
    group_pattern : str, optional
        A regular expression searched in each image's file name without extension: its first
        group (or the whole match) is the patient, over a patient column or a proposed prefix.
        A name it does not match is an error naming it.
    classes : sequence of str, optional
        The expected classes, in this order; a label that is none of them (ignoring case and
        surrounding spaces) is refused before any image is read.
    on_error : {"raise", "skip"}, default="raise"
        What an unreadable image does. A mask that does not fit its image is always dropped with a
        warning naming it (the image is kept, without a mask).
    require_labels : bool, default=True
        ``False``: a table without a label column reads as unlabelled.
    duplicate_threshold, n_jobs
        See :func:`featbus.datasets.load_image_folder`.

    Returns
    -------
    data : Bunch
        The common layout; labels are written in lower case ('Benign' is class ``benign``), each
        record's ``meta`` holds the table's row; ``skipped`` lists ``(path, reason)``,
        ``dropped_masks`` ``(mask path, reason, image path)``; ``label_column`` the column read.
    """
    root = Path(root)
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    found = export_table_of(root, image_column=image_column)
    if found is None:
        raise ValueError(f"{str(root)!r} is not an export: expected a table (CSV or Excel) whose image column names "
                         "the files of one sub-folder")
    table_path, image_dir = found
    table = _read_table(table_path)
    if table.empty:
        raise ValueError(f"{str(table_path)!r} lists no images")
    image_col = _column(table, table_path, "image", image_column, required=True)
    group_col = _column(table, table_path, "group", group_column, required=False)
    label_col, chosen = _label_column(table, table_path, label_column, classes, required=require_labels,
                                      taken=(image_col, group_col))
    if chosen:
        warnings.warn(chosen, UserWarning, stacklevel=find_stack_level())
    pair = paired_folders(root)
    mask_dir = pair[1] if pair is not None and pair[0] == image_dir else None
    rows = _export_rows(table, table_path, image_dir, image_col, label_col, group_col)
    classes, mapping, notes = _export_classes(rows, classes, label_col, table_path)
    masks_by_stem: dict[str, list[Path]] = {}
    for f in _files(mask_dir) if mask_dir is not None else []:
        masks_by_stem.setdefault(mask_stem(f.stem), []).append(f)
    mask_of = [masks_by_stem.get(path.stem.casefold(), []) for _, path, _, _, _ in rows]
    items = [(path, m) for (_, path, _, _, _), m in zip(rows, mask_of)]
    results = map_images(_read_keeping_image, items, n_jobs, backend="threading")
    images, masks, target, paths, metas, groups, skipped, dropped = [], [], [], [], [], [], [], []
    for (line, path, label, group, row), mask_paths, res in zip(rows, mask_of, results):
        if isinstance(res[0], str):  # ("error", path, reason)
            reason = f"row {line}: {res[2]}"
            if on_error == "raise":
                raise ImageError(reason, path=res[1])
            skipped.append((res[1], reason))
            continue
        image, mask, mask_problem = res
        if mask_problem is not None:
            dropped.append((";".join(map(str, mask_paths)), mask_problem, str(path)))
        images.append(image)
        masks.append(mask)
        target.append(classes.index(mapping[label]) if label_col else -1)
        paths.append(str(path))
        groups.append(group)
        kept = [str(m) for m in mask_paths] if mask_problem is None else []
        metas.append({**{str(c).strip().lower(): str(v).strip() for c, v in row.items()},
                      "label": mapping[label] if label_col else None, "row": line,
                      "has_mask_file": bool(kept), "mask_paths": kept})
    if skipped:
        warn_skipped([(i, p, r) for i, (p, r) in enumerate(skipped)], "image(s)")
    if dropped:
        warnings.warn(dropped_masks_note(dropped), UserWarning, stacklevel=find_stack_level())
    if not images:
        raise ValueError(f"no readable image listed in {str(table_path)!r}")
    group_labels, how, told = _export_groups(images, paths, groups, group_col, group_pattern, classes, table_path,
                                             duplicate_threshold, n_jobs)
    descr = (f"Export {str(root)!r} ({table_path.name}, images in {image_dir.name}/"
             + (f", masks in {mask_dir.name}/" if mask_dir is not None else "") + f"): {len(images)} images, "
             f"{_classes_text(target, classes)}" + (f" (the {label_col!r} column)" if label_col else "")
             + f", {len(np.unique(group_labels))} groups ({how}).")
    return _bunch(images, masks, np.asarray(target, dtype=int), classes, paths, group_labels, metas, descr,
                  skipped=skipped, dropped_masks=dropped, label_notes=notes, near_duplicate_groups=told is None,
                  label_column=label_col, **({"groups_from": told} if told else {}))


def _export_rows(table, table_path: Path, image_dir: Path, image_col: str, label_col: str | None,
                 group_col: str | None) -> list[tuple]:
    """The table's rows checked before any image is read: ``(line, image path, label, group, row)``;
    an empty cell, an image not in ``image_dir`` or listed twice is an error naming the row."""
    by_name: dict[str, Path] = {}
    for f in _files(image_dir):
        for k in _name_keys(f.name):
            by_name.setdefault(k, f)
    rows, seen = [], {}
    for k, row in enumerate(table.to_dict("records")):
        line = k + 2
        name = str(row[image_col]).strip()
        if not name:
            raise ValueError(f"row {line} of {str(table_path)!r}: the {image_col!r} cell is empty")
        path = next((by_name[key] for key in _name_keys(name) if key in by_name), None)
        if path is None:
            raise ValueError(f"row {line} of {str(table_path)!r}: image {name!r} not found in {str(image_dir)!r}")
        if path in seen:
            raise ValueError(f"row {line} of {str(table_path)!r}: image {name!r} is listed twice (rows {seen[path]} "
                             f"and {line})")
        seen[path] = line
        label = str(row[label_col]).strip() if label_col else None
        if label_col and not label:
            raise ValueError(f"row {line} of {str(table_path)!r}: image {name!r} has an empty {label_col!r}")
        group = str(row[group_col]).strip() if group_col else ""
        if group_col and not group:
            raise ValueError(f"row {line} of {str(table_path)!r}: image {name!r} has an empty {group_col!r}")
        rows.append((line, path, label, group, row))
    return rows


def _export_classes(rows: list[tuple], classes, label_col: str | None, table_path: Path):
    """``(classes, written label -> class, notes)``: labels read in lower case, a near-miss spelling
    refused, labels outside given ``classes`` refused, case and space differences said."""
    if not label_col:
        return [], {}, []
    where = f"the {label_col!r} column of {str(table_path)!r}"
    written = sorted({r[2] for r in rows}, key=_natural_key)
    if classes is None:
        names = sorted({w.casefold() for w in written}, key=_natural_key)
        _refuse_misspelt_labels([(line, label) for line, _, label, _, _ in rows], str(table_path))
    else:
        names = [str(c) for c in classes]
        for line, _, label, _, _ in rows:
            if _match_label(label, names) is None:
                from .._registry import did_you_mean

                raise ValueError(f"row {line} of {str(table_path)!r}: label {label!r} is not one of the classes "
                                 f"{names}{did_you_mean(label.casefold(), [n.casefold() for n in names])}")
    mapping = {w: _match_label(w, names) for w in written}
    notes = []
    for w, c in mapping.items():
        if c is not None and w != c:
            why = ("spaces differ" if w.strip() == c.strip() else "case differs" if w == w.strip()
                   else "case and spaces differ")
            notes.append(f"{w!r} read as {c!r} ({why})")
    if notes:
        warnings.warn(f"labels of {where}: " + "; ".join(notes), UserWarning, stacklevel=find_stack_level())
    classes = [n for n in names if any(mapping[w] == n for w in written)] if classes is None else names
    return classes, mapping, notes


def _export_groups(images, paths, groups, group_col, group_pattern, classes, table_path: Path,
                   duplicate_threshold, n_jobs) -> tuple[np.ndarray, str, str | None]:
    """``(groups, how in words, groups_from or None)``: ``group_pattern`` on the file names, else the
    patient column, else the file names' prefix (:func:`~featbus.datasets.name_groups.name_groups`),
    else near-duplicate groups (a warning says so)."""
    if group_pattern is not None or not group_col:
        by_names = name_groups(paths, pattern=group_pattern, classes=classes)
        if by_names is not None:
            labels, told, note = by_names
            if group_col:
                note += f" (over the {group_col!r} column)"
            warnings.warn(note, UserWarning, stacklevel=find_stack_level())
            return labels, told.split(": ", 1)[1], told
    if group_col:
        first: dict[str, int] = {}
        labels = np.array([first.setdefault(g, len(first)) for g in groups])
        told = f"patients: the {group_col!r} column of {table_path.name}"
        return labels, f"patients from its {group_col!r} column", told
    from ..model_selection import duplicate_groups

    labels = duplicate_groups(images, threshold=duplicate_threshold, n_jobs=n_jobs)
    warnings.warn(f"{str(table_path)!r} has no patient column featbus recognises (usual names: patient, case, "
                  "subject) and its file names do not say patients (PREFIX_NUMBER): images are grouped as "
                  "near-duplicates, not by patient; name the column with --group-column (group_column=) or the "
                  "file-name rule with --group-pattern REGEX", UserWarning, stacklevel=find_stack_level())
    return labels, "near-duplicate images grouped (no patient column: name one with --group-column)", None
