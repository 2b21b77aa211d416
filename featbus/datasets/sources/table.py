"""A release's own table as its source (:func:`featbus.datasets.read_release`): the table naming
most images (a column of names, paths or IDs), its rows paired with the images, the files its mask
columns name, the column whose values are the classes, the patient column and a pixel-size column;
every row or image left out named. The reader (:class:`~featbus.datasets._release_read.Reader`)
calls these with itself (``reader``: the root, ``out`` and what it has read so far)."""

from __future__ import annotations

import os
import posixpath
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..._registry import did_you_mean
from ...vocabulary import IMAGE_COLUMNS, LABEL_COLUMNS, MASK_COLUMN_WORDS, PATIENT_COLUMNS
from .._common import _natural_key, plausible_typo
from .._release_join import find, index
from .._release_rules import (
    IMAGE_SUFFIXES,
    class_of_value,
    column_key,
    expected_class,
    folder_split,
    letter_codes,
    pixel_size_cell,
    pixel_size_column,
    split_of,
)
from .._release_scan import normalisation_mattered, path_key
from .._release_tables import TableError, read_table
from ._base import LeftOut, ReleaseError
from ._refs import ArchiveError, member_file

__all__ = ["ReadTables", "choose_table", "pair_rows", "patient_column", "pixel_size_cells", "read_at", "table_labels",
           "two_labels", "with_rows"]


def pixel_size_cells(header: list[str], rows: list[tuple[int, list[str]]], summary) -> tuple[list, list]:
    """Each row's pixel size from the first column that is a pixel-size column by its name
    (:func:`~featbus.datasets._release_rules.pixel_size_column`) and holds a positive number
    (``rows``: ``(line number, cells)``, one per image), in mm where the name states a unit, and the
    rows without one with why; the column and its unit set on ``summary``."""
    for c, name in enumerate(header):
        found, unit, to_mm = pixel_size_column(name)
        read = [pixel_size_cell(cells[c]) for _, cells in rows] if found else []
        if not any(size for size, _ in read):
            continue
        summary.pixel_size_column, summary.pixel_size_unit = name, unit
        missing = [(f"row {line}", f"{cells[c].strip()!r} ({why})" if cells[c].strip() else "(empty)")
                   for (line, cells), (size, why) in zip(rows, read) if size is None]
        return [None if size is None else {"size": size * to_mm if unit else size, "unit": "mm" if unit else None,
                                           "source": f"column {name!r}"} for size, _ in read], missing
    return [None] * len(rows), []


def _is_mask(name: str) -> bool:
    """Whether a column's name says it names masks (CBIS-DDSM's 'ROI mask file path'): never the samples."""
    return any(w in column_key(name) for w in MASK_COLUMN_WORDS)


def _find_column(header: list[str], given: str, option: str, where: str) -> int:
    keys = [column_key(h) for h in header]
    if column_key(given) not in keys:
        raise ReleaseError(f"{option} {given!r}: {where} has no such column{did_you_mean(given, header)}; its "
                           f"columns: {list(header)}")
    return keys.index(column_key(given))


def _outside(root: Path, value: str, rel: Path) -> bool:
    """Whether a cell of the table ``rel`` is a path (``a/b.png``) leading outside the release: a folder's
    by the files' real paths, an archive's by its members' names."""
    v = value.strip().replace("\\", "/")
    if not v or ("/" not in v and not os.path.isabs(v)):
        return False
    if not isinstance(root, Path):  # an archive's root (sources.archive.ArchiveRoot): names, no file system
        return v.startswith("/") or posixpath.normpath(posixpath.join(rel.parent.as_posix(), v)).split("/")[0] == ".."
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(root / rel.parent / v)]) != real_root


def read_at(root, rel: Path, **options) -> tuple[list[str], list[list[str]]]:
    """Table ``rel`` of the release at ``root`` read by :func:`~featbus.datasets._release_tables.read_table`
    (``options`` its own): a folder's file as it is, a table inside an archive (``root`` an archive's,
    :class:`~featbus.datasets.sources.archive.ArchiveRoot`) from its private copy
    (:func:`~featbus.datasets.sources._refs.member_file`), named as the member; :class:`TableError` else."""
    try:
        with member_file(root / rel) as file:
            return read_table(file, **options)
    except ArchiveError as exc:  # the member not read (member_file raises it before any file)
        raise TableError(str(exc)) from None
    except TableError as exc:
        raise TableError(str(exc).replace(str(file), str(root / rel))) from None


def one_hot_table(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]], str | None]:
    """A table whose class columns hold 0/1, one 1 a row (Roboflow's ``_classes.csv``: ``filename,
    benign, malignant``), with a ``class`` column added holding each row's column name; the words
    that say it (``None`` and the table as it was when it is no one-hot table)."""
    binary = [c for c in range(len(header))
              if rows and all(r[c].strip() in ("0", "1", "0.0", "1.0") for r in rows)]
    ones = [[c for c in binary if r[c].strip().startswith("1")] for r in rows]
    names = [header[c] for c in binary]
    # not one-hot: under two 0/1 columns, not one 1 a row, not named as classes, a class or label column already
    if (len(binary) < 2 or "class" in (column_key(h) for h in header) or not all(len(o) == 1 for o in ones)
            or not any(class_of_value(n) for n in names)
            or any(c not in binary and all(class_of_value(r[c]) for r in rows) for c in range(len(header)))):
        return header, rows, None
    return header + ["class"], [r + [header[o[0]]] for r, o in zip(rows, ones)], \
        f"labels from the one-hot columns {', '.join(repr(n) for n in names)} (the class is the column whose cell is 1)"


def merge_split_tables(tables: dict[Path, tuple[list[str], list[list[str]]]], files: set[Path]) -> dict:
    """Per-split tables of one name and header (``train/_classes.csv``, ``data/test/metadata.csv``)
    as one, in ``tables`` under the first one's name, with a ``split`` column from the folder and each cell
    naming a file beside its table as the release-relative path (two splits may hold ``0001.png``): the
    tables each merged table holds, by its name."""
    groups: dict[tuple, list[Path]] = {}
    for rel, (header, _) in tables.items():
        if folder_split(rel) is not None:
            groups.setdefault((rel.name.casefold(), tuple(column_key(h) for h in header)), []).append(rel)
    merged = {}
    for rels in (rels for rels in groups.values() if len(rels) > 1):
        header = list(tables[rels[0]][0])
        own_split = "split" in map(column_key, header)  # a split column of its own is kept as written
        rows = [[(rel.parent / c.strip()).as_posix() if c.strip() and rel.parent / c.strip() in files else c
                 for c in row] + ([] if own_split else [folder_split(rel)])
                for rel in rels for row in tables.pop(rel)[1]]
        tables[rels[0]] = (header if own_split else header + ["split"], rows)
        merged[rels[0]] = rels
    return merged


@dataclass
class ReadTables:
    """The release's tables, each read once (:func:`choose_table`): ``read``, each one's header and rows
    (per-split tables merged, a one-hot table with its ``class`` column); ``words``, how a one-hot table was
    read; ``lines``, each row's file and its number there (a merged table's rows are several files')."""

    read: dict[Path, tuple[list[str], list[list[str]]]]
    words: dict[Path, str]
    lines: dict[Path, list[tuple[Path, int]]]

    def row(self, rel: Path, k: int, root=None) -> str:
        """Row ``k`` of table ``rel`` as a message names it, ``row 7 of labels.csv`` (under ``root``, quoted,
        where given); its number is the file's (:func:`~featbus.datasets._release_tables.read_table`'s)."""
        file, n = self.lines[rel][k]
        return f"row {n} of {file.as_posix() if root is None else repr(str(root / file))}"

    def number(self, rel: Path, k: int) -> int | str:
        """Row ``k``'s number in its file, with the file (``4 of valid/_classes.csv``) where it is not ``rel``."""
        file, n = self.lines[rel][k]
        return n if file == rel else f"{n} of {file.as_posix()}"

    def rows(self, rel: Path, ks: list[int]) -> str:
        """Rows ``ks`` of table ``rel`` named, ``row(s) 4, 7 of labels.csv`` (each file's of a merged table)."""
        numbers: dict[Path, list[str]] = {}
        for k in ks:
            file, n = self.lines[rel][k]
            numbers.setdefault(file, []).append(str(n))
        return ", ".join(f"row(s) {', '.join(ns)} of {file.as_posix()}" for file, ns in numbers.items())


def _label_candidates(header, rows, taken) -> list[int]:
    out = []
    for c in (c for c in range(len(header)) if c not in taken):
        values = {r[c].strip() for r in rows} - {""}
        letters = letter_codes(values)
        if values and all(class_of_value(v, letters=letters) for v in values):
            out.append(c)
    return out


def _choose_label_column(header, rows, given, taken, where) -> tuple[int | None, list[int]]:
    if given is not None:
        return _find_column(header, given, "--label-column", where), []
    by_values = _label_candidates(header, rows, taken)
    named = [c for c in range(len(header)) if c not in taken and column_key(header[c]) in LABEL_COLUMNS]
    # one column whose values are the classes, else the one of usual name among several such, else one named
    chosen = [c for c in by_values if c in named] if len(by_values) > 1 else by_values or named
    if len(by_values) > 1 and len(chosen) != 1:
        raise ReleaseError(f"{where} has several label columns {[header[c] for c in by_values]} whose values are "
                           "the classes: name the one to use with --label-column COLUMN")
    col = chosen[0] if len(chosen) == 1 else None
    return col, [c for c in dict.fromkeys(named + by_values) if c != col]


def choose_table(reader, images, image_column, summary):
    files = index(images)
    read, notes, encodings, bad_rows, lines = {}, [], [], {}, {}  # the release's tables, each read once
    for rel in reader.tables:
        numbers: list[int] = []
        try:
            read[rel] = read_at(reader.root, rel, notes=encodings, strip=False,  # ' a.png' names ' a.png'
                                left_out=bad_rows.setdefault(rel, []), lines=numbers)  # rows left out: a NUL
        except TableError as exc:
            raise ReleaseError(str(exc)) from None
        except (OSError, UnicodeError, ValueError) as exc:
            notes.append(f"{rel.as_posix()} (not a readable table: {exc})")
        lines[rel] = [(rel, n) for n in numbers]
    merged = merge_split_tables(read, set(reader.files))
    for into, rels in merged.items():  # a merged table's rows and rows left out are its files'
        lines[into] = [origin for rel in rels for origin in lines.pop(rel)]
        bad_rows[into] = [bad for rel in rels for bad in bad_rows.pop(rel)]
    hot = {rel: one_hot_table(header, rows) for rel, (header, rows) in read.items()}  # as one-hot where it is
    tables = reader.read_tables = ReadTables({rel: (h, r) for rel, (h, r, _) in hot.items()},
                                             {rel: said for rel, (*_, said) in hot.items() if said}, lines)
    summary.notes += [f"The per-split tables {', '.join(r.as_posix() for r in rels)} read as one."
                      for rels in merged.values()]
    scored, errors = [], []
    for rel, (header, rows) in tables.read.items():  # each table's column naming most images (--image-column's)
        try:
            columns = [c for c in range(len(header)) if not _is_mask(header[c])] if image_column is None else [
                _find_column(header, image_column, "--image-column", repr(rel.as_posix()))]
        except ReleaseError as exc:
            errors.append(exc)
            continue
        column, n = None, 0
        for c in columns:
            named = len({find(files, row[c]) for row in rows} - {None})
            if named > n or (named == n and named and column_key(header[c]) in IMAGE_COLUMNS):
                column, n = c, named
        patient = any(column_key(h) in PATIENT_COLUMNS for h in header)
        scored.append((n, rel, column, patient, len(header)))
    if not scored and errors:  # --image-column in no table
        raise errors[0]
    # most images named; then a table naming the patients too, then the one with most columns
    # (bus_data.csv over BUS-BRA's 5-fold-cv.csv, which name the same images)
    scored.sort(key=lambda t: (-t[0], not t[3], -t[4], path_key(t[1])))
    chosen = None
    if scored and scored[0][0]:
        n, rel, column = scored[0][:3]
        # the files its mask columns name are masks, not images to be named (CBIS-DDSM's ROI files)
        header, rows = tables.read[rel]
        named_masks = {find(files, row[c]) for c, h in enumerate(header) if c != column and _is_mask(h)
                       for row in rows} - {None}
        if n >= 0.5 * (len(images) - len(named_masks)):
            chosen = rel, column
    for n, rel, column, *_ in scored[1 if chosen else 0:]:  # the others, said
        header, rows = tables.read[rel]
        example = next((row[column] for row in rows if column is not None and find(files, row[column])), None)
        holds = [header[c] for c in _label_candidates(header, rows, {column})]  # said: "no column" is false
        said = (f" in {header[column]!r}, e.g. {example!r}; not read" if example else
                f"; its {', '.join(map(repr, holds))} holds the classes" if holds else "")
        summary.table_candidates.append(f"{rel.as_posix()} (names {n} images{said})")
    summary.table_candidates += notes
    summary.notes += [f"{words}." for words in encodings]
    if chosen is None:
        return None
    rel, column = chosen
    reader.left_out += bad_rows.get(rel, [])
    header, rows = tables.read[rel]
    summary.table, summary.image_column = reader.root / rel, header[column]
    return rel, rows, header, column


def pair_rows(reader, table, images, masks_of, summary):
    """Each image's rows; rows naming no image, or outside the release, said or refused; files a
    mask column names taken as masks."""
    rel, rows, header, column = table
    name = rel.as_posix()
    mask_cols = [c for c in range(len(header)) if c != column and _is_mask(header[c])]
    named = index(images + [m for ms in masks_of.values() for m, _ in ms] + reader.unpaired)
    owner_of = {m: img for img, ms in masks_of.items() for m, _ in ms}
    files = index(images)
    used_mask_cols = set()
    for c in mask_cols:  # files a mask column names are masks of the row's image
        word = "other" if "other" in column_key(header[c]) else "mask"
        for k, row in enumerate(rows):
            if (img := find(files, row[column])) is None:
                continue
            # a cell naming one file (whose name may hold ';' or ','), else a list of them
            for cell in [row[c]] if find(named, row[c]) is not None else row[c].replace(",", ";").split(";"):
                found = find(named, cell)
                if found is None and (Path(cell.strip()).suffix.lower() in IMAGE_SUFFIXES
                                      or "/" in cell):  # a file's name, not '-', 'none'
                    outside = _outside(reader.root, cell, rel)
                    reader.out(reader.read_tables.row(rel, k), "outside the release" if outside else "mask not found",
                               ("mask " if outside else "") + f"{cell.strip()!r} (the image kept without it)")
                if found is None or found == img:
                    continue
                used_mask_cols.add(c)
                if owner_of.get(found) == img:
                    masks_of[img] = [(m, word if m == found else w) for m, w in masks_of[img]]
                    continue
                images = [i for i in images if i != found]
                if found in reader.unpaired:  # a mask folder's file no image's name paired: the table pairs it
                    reader.left_out.remove(LeftOut(found.as_posix(), "mask"))
                    reader.unpaired = [m for m in reader.unpaired if m != found]
                masks_of.setdefault(img, []).append((found, word))
                owner_of[found] = img
    if used_mask_cols:
        summary.mask_column = ", ".join(header[c] for c in sorted(used_mask_cols))
    files = index(images)
    rows_of: dict[Path, list[int]] = {}
    nfc = elsewhere = 0
    for k, row in enumerate(rows):
        cell = row[column] if row[column].strip() else ""  # spaces may be part of a file's name
        where = reader.read_tables.row(rel, k)
        outside = _outside(reader.root, cell, rel)  # an absolute one: another machine's, found by its path's end
        img = None if outside and not cell.strip().startswith("/") else find(files, cell)
        if outside and img is None:
            raise ReleaseError(f"{where}: {cell!r} names a file outside the release {str(reader.root)!r}; featbus "
                               "reads only the release's own files")
        elsewhere += outside
        if img is None:
            if reader.rows_without_image == "raise":
                raise ReleaseError(f"{where.replace(' of ', ' of ' + repr(str(reader.root)) + '/', 1)}: image "
                                   f"{cell!r} not found in {str(reader.root)!r}")
            reader.out(where, "no image", repr(cell) if cell else "empty cell")
            continue
        rows_of.setdefault(img, []).append(k)
        nfc += normalisation_mattered(cell, img)
    if elsewhere:
        summary.notes.append(f"{elsewhere} row(s) of {name} name their image by an absolute path outside the release "
                             "(where the table was written): each found in the release by its path's end.")
    if nfc:
        summary.notes.append(f"{nfc} name(s) in {name} matched their files only after Unicode normalisation "
                             "(NFC; the files' names are stored decomposed, as macOS writes them, or the other "
                             "way round).")
    return with_rows(reader, images, rows_of, f"in {name}"), rows_of


def with_rows(reader, images, rows, detail: str) -> list:
    """The images that have a row in ``rows``; each other one left out (``no row``, ``detail``)."""
    for img in images:
        if img not in rows:
            reader.out(img, "no row", detail)
    return [img for img in images if img in rows]


def two_labels(reader, images, labels, rows_of, table):
    """An image that two rows give two labels is left out, named; the same label again: a duplicate row."""
    if table is None:
        return images, labels
    rel, rows = table[:2]
    col = reader.label_col
    kept = []
    for img, label in zip(images, labels):
        ks = rows_of.get(img, [])
        said: dict[str, list[int]] = {}
        for k in ks:
            said.setdefault(rows[k][col].strip().casefold() if col is not None else "", []).append(k)
        if len(said) > 1:
            reader.out(img, "two labels", "; ".join(f"{reader.read_tables.rows(rel, v)} say {lab!r}"
                                                  for lab, v in said.items()))
            continue
        for n, k in enumerate(ks):  # a row said again word for word; rows of two findings of one image are kept
            if rows[k] in [rows[j] for j in ks[:n]]:
                reader.out(reader.read_tables.row(rel, k), "duplicate", f"names {img.as_posix()!r} again")
        kept.append((img, label))
    return [img for img, _ in kept], [label for _, label in kept]


def spellings(mapping: dict[str, str]) -> str:
    """How each label ``written`` (a key of ``mapping``) that is not its class's name was read (``'Benign' read
    as 'benign' (case differs)``), joined by ``; `` (empty: every label is its class's name)."""
    spelt = []
    for written, label in sorted(mapping.items(), key=lambda kv: _natural_key(kv[0])):
        bare = written.strip()
        why = ("a spelling of the class" if bare.casefold() != label else "spaces differ" if bare == label.strip()
               else "case differs" if written == bare else "case and spaces differ")
        if written != label:
            spelt.append(f"{written!r} read as {label!r} ({why})")
    return "; ".join(spelt)


def table_labels(reader, table, images, rows_of, label_column, folder_classes, summary):
    """``(labels, class source, class order)`` from the table's label column (``None`` when no
    column holds the classes): each label a class's spelling, an empty cell, a label its class
    folder contradicts, a label that is none of the expected classes or looks like a misspelling
    refused naming its row."""
    rel, rows, header, column = table
    ks = [rows_of[i][0] for i in images]  # each image's (first) row
    used = [rows[k] for k in ks]
    col, others = _choose_label_column(header, used, label_column, {column}, repr(rel.as_posix()))
    one_hot = reader.read_tables.words.get(rel)
    if label_column is not None and one_hot and header[col] != "class":
        raise ReleaseError(f"--label-column {label_column!r}: {rel.as_posix()} is one-hot ({one_hot}), read with "
                           "no option: drop --label-column")
    if others:  # the paragraph names them with their values (the label note's words, said once)
        summary.table_candidates += [f"column {header[c]!r} ({_column_values(used, c, 3)}; "
                                     "--label-column names it)" for c in others]
    reader.label_col = col
    if col is None:
        return None
    summary.label_column = header[col]
    source = one_hot if one_hot and header[col] == "class" else f"the {header[col]!r} column"
    written = [r[col].strip() for r in used]
    letters = letter_codes(written)
    if "" in written:  # the first empty cell, its row named
        k = written.index("")
        raise ReleaseError(f"{reader.read_tables.row(rel, ks[k])}: image {images[k].as_posix()!r} has an empty "
                           f"{header[col]!r}")
    broken = next((k for k, w in enumerate(written) if "\n" in w or "\r" in w), None)
    if broken is not None:  # a quoted cell across two lines: never a class's name
        raise ReleaseError(f"{reader.read_tables.row(rel, ks[broken])}: the {header[col]!r} of image "
                           f"{images[broken].as_posix()!r} is {written[broken]!r}, a line break inside a label "
                           "(a quote left open?); correct the table")
    labels = [class_of_value(value, letters=letters) or value.casefold() for value in written]
    for img, k, label, folder in zip(images, ks, labels, folder_classes):
        if folder and class_of_value(folder) not in (None, label):
            raise ReleaseError(
                f"{reader.read_tables.row(rel, k)}: {rows[k][column]!r} is {rows[k][col]!r} (the "
                f"{header[col]!r} column), but its image {str(reader.root / img)!r} is in the {folder!r} "
                "folder: one image under two labels; correct the table or move the image")
    if reader.classes is not None:  # the expected classes: every label one of them, its row named
        names = [str(c) for c in reader.classes]
        return [expected_class(names, value, label, reader.read_tables.row(rel, k, reader.root))
                for k, value, label in zip(ks, written, labels)], source, names
    _refuse_misspelt_labels([(reader.read_tables.row(rel, k, reader.root), value) for k, value in zip(ks, written)])
    # how the label column was chosen, which spellings were read as which class (warned: Release.to_bunch)
    if label_column is None and (others or column_key(header[col]) not in LABEL_COLUMNS):
        said = (f"labels from the {header[col]!r} column of {rel.name} (its values are the classes: "
                f"{_column_values(used, col, 4)})")
        if others:
            said += "; other candidates: " + ", ".join(f"{header[c]!r} ({_column_values(used, c, 4)})" for c in others)
        summary.label_notes.append(said + "; --label-column names another")
    if spelt := spellings(dict(zip((r[col] for r in used), labels))):
        summary.label_notes.append(f"labels of the {header[col]!r} column of {str(reader.root / rel)!r}: {spelt}")
    return labels, source, sorted(set(labels), key=_natural_key)


def patient_column(reader, table, images, rows_of, group_column, summary):
    """The patient column of the table naming the images (``None`` without one), its header and the
    images' rows; ``--group-column`` without such a table is refused."""
    if table is None:
        if group_column is not None:
            raise ReleaseError(f"--group-column {group_column!r}: {str(reader.root)!r} holds no table naming "
                               "its images")
        return None, None, None
    rel, rows, header, column = table
    used = [rows[rows_of[i][0]] for i in images]
    if group_column is not None:
        return _find_column(header, group_column, "--group-column", repr(rel.as_posix())), header, used
    taken = {column} | ({header.index(summary.label_column)} if summary.label_column in header else set())
    named = [c for c in range(len(header)) if c not in taken and column_key(header[c]) in PATIENT_COLUMNS
             and used and all(r[c].strip() for r in used)]  # of usual name, no cell empty; the fewest patients
    return min(named, key=lambda c: (len({r[c] for r in used}), c), default=None), header, used


def table_patients(reader, table, images, rows_of, group_column, summary):
    """The patients of the table's patient column (an empty cell the image's own patient, said),
    ``None`` without one."""
    col, header, used = patient_column(reader, table, images, rows_of, group_column, summary)
    if col is None:
        return None
    summary.group_column, summary.patient_source = header[col], "column"
    groups = [r[col].strip() or img.as_posix() for r, img in zip(used, images)]
    if empty := sum(not r[col].strip() for r in used):  # never one patient '' for every image without one
        summary.notes.append(f"{empty} image(s) with an empty {header[col]!r} cell: each is its own patient.")
    return groups


def table_splits(table, images, rows_of):
    """Each image's split from the table's split column (a split's name, every value a split's spelling:
    ``train``, ``val``, ``test``...), ``None`` without one."""
    used = [table[1][rows_of[i][0]] for i in images] if table else []
    names = ("split", "subset", "set", "partition", "fold", "dataset")
    col = next((c for c, name in enumerate(table[2] if table else ()) if used and column_key(name) in names
                and all(v and split_of(v) for v in {r[c].strip() for r in used})), None)
    return None if col is None else [split_of(row[col]) for row in used]


def _column_values(rows, c: int, n: int) -> str:
    """Column ``c``'s distinct values in ``rows`` in natural order, the first ``n`` and how many more."""
    vals = sorted({r[c].strip() for r in rows if r[c].strip()}, key=_natural_key)
    return ", ".join(vals[:n]) + (f" and {len(vals) - n} more" if len(vals) > n else "")


def _refuse_misspelt_labels(rows: list[tuple[str, str]], unit: str = "row") -> None:
    """Refuse, before any image is read, a label written on one or two rows that is a plausible typo of a
    label of three times as many rows (:func:`~featbus.datasets._common.plausible_typo`, whose rule keeps
    different words apart: 'Benigh' beside 'Benign'): it would become a class of its own. ``rows`` are
    ``(where, label)``, ``where`` naming the row (``row 11 of 't.csv'``), ``unit`` what a row is (a table's
    row, an annotation file's image).

    Examples
    --------
    >>> try:
    ...     _refuse_misspelt_labels([("row 2 of 't.csv'", "Benign")] * 9 + [("row 11 of 't.csv'", "Benigh")])
    ... except ValueError as exc:
    ...     print(str(exc)[:80])
    row 11 of 't.csv': label 'Benigh' (1 row) looks like a misspelling of 'Benign' (
    >>> _refuse_misspelt_labels([("row 2", "normal")] * 9 + [("row 11", "abnormal")])
    >>> _refuse_misspelt_labels([("row 2", "LN")] * 9 + [("row 11", "LP")])
    """
    counts = Counter(label.casefold() for _, label in rows)
    first = {label.casefold(): (where, label) for where, label in reversed(rows)}  # each label's first row
    for rare, n in counts.items():
        if n > 2:
            continue
        for common, m in counts.items():
            if m < 3 * n or rare.strip() == common.strip():  # spaces only: read as one class, said
                continue
            if plausible_typo(rare, common):
                where, written = first[rare]
                raise ValueError(f"{where}: label {written!r} ({n} {unit}{'s' if n > 1 else ''}) "
                                 f"looks like a misspelling of {first[common][1]!r} ({m} {unit}s): correct the "
                                 f"{'table' if unit == 'row' else 'file'} (every distinct label is a class)")
