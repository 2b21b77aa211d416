"""A hospital's export as downloaded: an image folder, a mask folder of the same file names and a
table naming each image's label (and patient), read as one labelled data set.

Layout::

    export/
      images/   case001_1.png  case001_2.png  case002_1.png ...
      masks/    case001_1.png  case001_2.png  ...           (optional; RGB or gray)
      labels.csv                                            (``,`` ``;`` or tab, a BOM is fine)

The table's columns are recognised from their usual names (:data:`EXPORT_COLUMNS`), in any case,
or named (``image_column=``, ``label_column=``, ``group_column=``; ``--image-column``... on the
command line).
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
from ..io import MASK_FOLDER_NAME, dropped_masks_note, warn_skipped
from ..progress import find_stack_level
from ._common import _ON_ERROR, IMAGE_EXTENSIONS, _bunch, _classes_text, _natural_key, _read_keeping_image

__all__ = ["EXPORT_COLUMNS", "EXPORT_TABLE_SUFFIXES", "export_table_of", "load_export", "paired_folders"]

#: The usual names of an export table's columns (compared without case, spaces, ``_`` or ``-``).
EXPORT_COLUMNS = {
    "image": ("image", "file", "filename", "name", "path", "imagename", "imagefile", "imagepath", "img"),
    "label": ("label", "class", "diagnosis", "pathology", "histology", "category", "classification"),
    "group": ("patient", "patientid", "case", "caseid", "subject", "subjectid", "patientnumber", "casenumber"),
}
#: The option naming each column (what a refusal suggests).
COLUMN_OPTIONS = {"image": "--image-column", "label": "--label-column", "group": "--group-column"}
#: Files read as an export's table.
EXPORT_TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
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
    stems = {d: {f.stem.casefold() for f in _files(d)} for d in subdirs}
    for i, a in enumerate(subdirs):
        for b in subdirs[i + 1:]:
            sa, sb = stems[a], stems[b]
            if len(sa) < 2 or sa != sb:
                continue
            # class folders may share file names (1.png, 2.png, ... in each class): a pair is an image
            # folder and its masks only when one of them says so by its name or holds two-level images
            for images, masks in ((a, b), (b, a)):
                if MASK_FOLDER_NAME.search(masks.name) or (
                        not MASK_FOLDER_NAME.search(images.name) and _binary(masks) and not _binary(images)):
                    return images, masks
    return None


def _binary(folder: Path) -> bool:
    """Whether the first image of ``folder`` holds at most two grey levels (a mask)."""
    from PIL import Image

    first = min(_files(folder), default=None)
    if first is None:
        return False
    try:
        with Image.open(first) as im:
            return len(np.unique(np.asarray(im.convert("L")))) <= 2
    except (OSError, ValueError):
        return False


def _read_table(path: Path):
    """An export table as text cells, its column names kept as written (a BOM, ``;`` or tab is fine)."""
    import pandas as pd

    try:
        table = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig", dtype=str,
                            keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable table: {str(exc).strip()}") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


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
    contents = {d: {f.name.casefold() for f in _files(d)} | {f.stem.casefold() for f in _files(d)} for d in subdirs}
    for table_path in tables:
        try:
            table = _read_table(table_path)
            column = _column(table, table_path, "image", image_column, required=True)
        except ValueError:
            continue
        names = [Path(str(v).strip().replace("\\", "/")).name.casefold() for v in table[column] if str(v).strip()]
        if not names:
            continue
        for d in subdirs:
            if sum(n in contents[d] for n in names) >= 0.9 * len(names):
                return table_path, d
    return None


def _match_label(label: str, classes: Sequence[str]) -> str | None:
    return next((c for c in classes if c.strip().casefold() == label.strip().casefold()), None)


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) of two short strings."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _refuse_misspelt_labels(rows: list[tuple[int, str]], table: str) -> None:
    """Refuse, before any image is read, a label written on one or two rows that is one or two
    letters away from a label of many rows ('Benigh' beside 'Benign'): it would become a class of
    its own. A label inside another ('normal', 'abnormal') is a class, never a misspelling.

    Examples
    --------
    >>> try:
    ...     _refuse_misspelt_labels([(2, "Benign")] * 9 + [(11, "Benigh")], "t.csv")
    ... except ValueError as exc:
    ...     print(str(exc)[:80])
    row 11 of 't.csv': label 'Benigh' (1 row) looks like a misspelling of 'Benign' (
    >>> _refuse_misspelt_labels([(2, "normal")] * 9 + [(11, "abnormal")], "t.csv")
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
            if m < 3 * n or rare in common or common in rare:
                continue
            if _edits(rare, common) <= (1 if max(len(rare), len(common)) <= 6 else 2):
                line, written = first[rare]
                raise ValueError(f"row {line} of {table!r}: label {written!r} ({n} row{'s' if n > 1 else ''}) looks "
                                 f"like a misspelling of {first[common][1]!r} ({m} rows): correct the table (every "
                                 "distinct label is a class)")


def load_export(root: str | os.PathLike, *, image_column: str | None = None, label_column: str | None = None,
                group_column: str | None = None, classes: Sequence[str] | None = None, on_error: str = "raise",
                require_labels: bool = True, duplicate_threshold: int | None = None,
                n_jobs: int | None = None) -> Bunch:
    """Load a hospital's export: an image folder, an optional mask folder of the same file names and
    a table naming each image's label and patient.

    Parameters
    ----------
    root : path
        The export's folder (the table beside ``images/`` and ``masks/``).
    image_column, label_column, group_column : str, optional
        The table's columns (any case); default: the one column of a usual name
        (:data:`EXPORT_COLUMNS`). With no patient column, images are grouped as near-duplicates
        (a warning says so).
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
        ``dropped_masks`` ``(mask path, reason, image path)``.
    """
    root = Path(root)
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    found = export_table_of(root, image_column=image_column)
    if found is None:
        raise ValueError(f"{str(root)!r} is not an export: expected a table (CSV) whose image column names the "
                         "files of one sub-folder")
    table_path, image_dir = found
    table = _read_table(table_path)
    if table.empty:
        raise ValueError(f"{str(table_path)!r} lists no images")
    image_col = _column(table, table_path, "image", image_column, required=True)
    label_col = _column(table, table_path, "label", label_column, required=require_labels)
    group_col = _column(table, table_path, "group", group_column, required=False)
    pair = paired_folders(root)
    mask_dir = pair[1] if pair is not None and pair[0] == image_dir else None
    by_name = {}
    for f in _files(image_dir):
        by_name.setdefault(f.name.casefold(), f)
        by_name.setdefault(f.stem.casefold(), f)
    masks_by_stem = {f.stem.casefold(): f for f in _files(mask_dir)} if mask_dir is not None else {}
    where = f"the {label_col!r} column of {str(table_path)!r}"
    # labels first: every check on the table is done before any image is read
    rows, seen = [], {}
    for k, row in enumerate(table.to_dict("records")):
        line = k + 2
        name = str(row[image_col]).strip()
        if not name:
            raise ValueError(f"row {line} of {str(table_path)!r}: the {image_col!r} cell is empty")
        path = by_name.get(Path(name.replace("\\", "/")).name.casefold())
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
    notes = []
    if label_col:
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
        for w, c in mapping.items():
            if c is not None and w != c:
                why = ("spaces differ" if w.strip() == c.strip() else "case differs" if w == w.strip()
                       else "case and spaces differ")
                notes.append(f"{w!r} read as {c!r} ({why})")
        if notes:
            warnings.warn(f"labels of {where}: " + "; ".join(notes), UserWarning, stacklevel=find_stack_level())
        classes = [n for n in names if any(mapping[w] == n for w in written)] if classes is None else names
    else:
        classes, mapping = [], {}
    mask_of = [masks_by_stem.get(path.stem.casefold()) for _, path, _, _, _ in rows]
    items = [(path, [m] if m is not None else []) for (_, path, _, _, _), m in zip(rows, mask_of)]
    results = map_images(_read_keeping_image, items, n_jobs, backend="threading")
    images, masks, target, paths, metas, groups, skipped, dropped = [], [], [], [], [], [], [], []
    for (line, path, label, group, row), mask_path, res in zip(rows, mask_of, results):
        if isinstance(res[0], str):  # ("error", path, reason)
            reason = f"row {line}: {res[2]}"
            if on_error == "raise":
                raise ImageError(reason, path=res[1])
            skipped.append((res[1], reason))
            continue
        image, mask, mask_problem = res
        if mask_problem is not None:
            dropped.append((str(mask_path), mask_problem, str(path)))
        images.append(image)
        masks.append(mask)
        target.append(classes.index(mapping[label]) if label_col else -1)
        paths.append(str(path))
        groups.append(group)
        metas.append({**{str(c).strip().lower(): str(v).strip() for c, v in row.items()},
                      "label": mapping[label] if label_col else None, "row": line,
                      "has_mask_file": mask_path is not None and mask_problem is None,
                      "mask_paths": [str(mask_path)] if mask_path is not None and mask_problem is None else []})
    if skipped:
        warn_skipped([(i, p, r) for i, (p, r) in enumerate(skipped)], "image(s)")
    if dropped:
        warnings.warn(dropped_masks_note(dropped), UserWarning, stacklevel=find_stack_level())
    if not images:
        raise ValueError(f"no readable image listed in {str(table_path)!r}")
    if group_col:
        first: dict[str, int] = {}
        for g in groups:
            first.setdefault(g, len(first))
        group_labels = np.array([first[g] for g in groups])
        how = f"patients from its {group_col!r} column"
    else:
        from ..model_selection import duplicate_groups

        group_labels = duplicate_groups(images, threshold=duplicate_threshold, n_jobs=n_jobs)
        how = "near-duplicate images grouped (no patient column: name one with --group-column)"
        warnings.warn(f"{str(table_path)!r} has no patient column featbus recognises (usual names: patient, case, "
                      "subject): images are grouped as near-duplicates, not by patient; name the column with "
                      "--group-column (group_column=)", UserWarning, stacklevel=find_stack_level())
    descr = (f"Export {str(root)!r} ({table_path.name}, images in {image_dir.name}/"
             + (f", masks in {mask_dir.name}/" if mask_dir is not None else "") + f"): {len(images)} images, "
             f"{_classes_text(target, classes)}, {len(np.unique(group_labels))} groups ({how}).")
    return _bunch(images, masks, np.asarray(target, dtype=int), classes, paths, group_labels, metas, descr,
                  skipped=skipped, dropped_masks=dropped, label_notes=notes, near_duplicate_groups=not group_col,
                  **({"groups_from": f"patients: the {group_col!r} column of {table_path.name}"} if group_col else {}))
