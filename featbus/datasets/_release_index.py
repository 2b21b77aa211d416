"""The index of a release (``featbus read DATA --index FILE``), written and read back by this one module so
that every value comes back as it was: the csv module's quoting (a separator, quote or line break inside a
cell stays in it; several masks of an image are several ``mask`` columns, never a joined cell), a reversible
escape (:func:`escape_cell`: the reader removes a marker only where the writer put one), spaces kept, and
the bytes of a file name that is not UTF-8 kept too.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote_to_bytes

from ..io import write_file
from ._release_tables import read_table

__all__ = ["FORMULA_STARTS", "MANIFEST_COLUMNS", "escape_cell", "mask_cell_files", "own_column", "read_index_rows",
           "unescape_cell", "write_index_rows"]

#: The columns of an index, in the order :func:`write_index_rows` writes them and :func:`read_index_rows` reads
#: them by name (``mask 2``, ``mask 3``... after ``mask``: an image's further masks; ``split`` where the release
#: has splits); a manifest by hand needs ``image`` (and ``label`` to train).
MANIFEST_COLUMNS = ("image", "label", "group", "mask", "split")
#: Characters that make a spreadsheet read a cell as a formula: escaped with ``'`` where featbus writes.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: The marker of a value holding bytes that are not UTF-8 (a file name's, percent-encoded after it).
_BYTES = "'b:"
#: The index's mask columns: ``mask``, ``mask 2``, ``mask 3``...
_MASK_COLUMN = re.compile(r"^mask(?: (\d+))?$")


def escape_cell(value) -> str:
    """A cell as written to a CSV: a leading ``=``, ``+``, ``-``, ``@``, tab or CR gets an apostrophe,
    so a spreadsheet shows it as text and never runs it; a value that already begins with an
    apostrophe gets one too (so :func:`unescape_cell` removes only what was added); a value holding
    the bytes of a name that is not UTF-8 is written ``'b:`` and its bytes percent-encoded.

    Examples
    --------
    >>> from featbus.datasets.release import escape_cell
    >>> escape_cell('=HYPERLINK("http://x")'), escape_cell("a.png"), escape_cell("'=1+2")
    ('\\'=HYPERLINK("http://x")', 'a.png', "''=1+2")
    """
    text = "" if value is None else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogates: os.fsdecode's bytes of a name that is not UTF-8
        return _BYTES + quote_from_bytes(os.fsencode(text), safe="/ ")
    return "'" + text if text.startswith(FORMULA_STARTS + ("'",)) else text


def unescape_cell(text: str) -> str:
    """The inverse of :func:`escape_cell`: ``unescape_cell(escape_cell(v)) == v`` for every string ``v``;
    a cell featbus did not escape (``'abc``, ``abc``) comes back as written.

    Examples
    --------
    >>> from featbus.datasets.release import unescape_cell
    >>> unescape_cell("'=1+2"), unescape_cell("''=1+2"), unescape_cell("'abc")
    ('=1+2', "'=1+2", "'abc")
    """
    if text.startswith(_BYTES):
        return os.fsdecode(unquote_to_bytes(text[len(_BYTES):]))
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS + ("'",)) else text


def own_column(name: str) -> bool:
    """Whether ``name`` (lower case) is one of an index's own columns: :data:`MANIFEST_COLUMNS` and the further
    mask columns ``mask 2``, ``mask 3``..."""
    return name in MANIFEST_COLUMNS or _MASK_COLUMN.match(name) is not None


def mask_cell_files(base: Path, cell: str) -> list[str]:
    """The files a mask cell names: the cell as written when that file exists (``a;b.png`` is one
    name), else a hand-written manifest's list split on ``;``."""
    if not cell.strip():
        return []
    if os.path.lexists(Path(cell) if os.path.isabs(cell) else base / cell):
        return [cell]
    return [m.strip() for m in cell.split(";") if m.strip()]


def write_index_rows(path: Path, rows: list[tuple[str, str, str, tuple[str, ...]]],
                     size_column: str | None = None, sizes: list | None = None,
                     splits: list[str] | None = None, *, patients: bool = True) -> Path:
    """Write the index: one row ``(image, label, group, masks)`` per image (paths as written, relative
    to the index's folder; a mask an annotation file draws as ``<file>.json#<image id>``), as many
    ``mask`` columns as the image with most masks has (at least one), then ``split`` (each image's in
    ``splits``) when given, then ``size_column`` (each image's pixel size in ``sizes``, ``None`` for
    none) when given; every cell escaped (:func:`escape_cell`); written whole under a temporary name
    (:func:`featbus.io.write_file`). ``patients=False``: no ``group`` column (nothing gave the patients)."""
    wide = {"mask": max([1] + [len(masks) for *_, masks in rows]), "split": int(splits is not None),
            "group": int(patients)}  # else 1 cell
    header = [c if k == 0 else f"{c} {k + 1}" for c in MANIFEST_COLUMNS for k in range(wide.get(c, 1))]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL)  # spaces kept by any reader
    writer.writerow(header + ([size_column] if size_column else []))
    for k, (image, label, group, masks) in enumerate(rows):
        given = {"image": [image], "label": [label], "group": [group], "mask": masks, "split": splits and [splits[k]]}
        cells = [escape_cell(given[c][i] if i < len(given[c]) else "") for c in MANIFEST_COLUMNS
                 for i in range(wide.get(c, 1))]
        size = sizes[k] if sizes else None
        writer.writerow(cells + ([] if not size_column else ["" if size is None else repr(size)]))
    return write_file(path, out.getvalue())


def read_index_rows(path: Path, notes: list[str], left_out: list,
                    check=None) -> tuple[list[str], list[tuple[int, dict]]]:
    """``(header, rows)`` of an index or manifest: each row as ``(line, {"image", "label", "group",
    "masks", "split", "cells"})``, values unescaped and spaces kept (``label`` / ``group`` / ``split``
    ``None`` without the column; ``cells`` the row as written, for the other columns). A missing file whose name
    differs only in Unicode normalisation from one in its folder (NFC written, NFD on disk as macOS
    stores names) is found, and said in ``notes``. ``check(line, row)``, when given, sees each row as it is
    read and may raise, ending the read there."""
    lines: list[int] = []
    header, rows = read_table(path, notes=notes, left_out=left_out, strip=False, dialect=csv.excel, lines=lines)
    if "image" not in [h.strip().lower() for h in header]:  # a manifest by hand: its delimiter sniffed
        lines = []
        header, rows = read_table(path, notes=[], left_out=[], strip=True, lines=lines)
    cols = {h.strip().lower(): k for k, h in enumerate(header)}
    found = [(int(m.group(1) or 1), c) for c in header if (m := _MASK_COLUMN.match(c.strip().lower()))]
    masks = [header.index(c) for _, c in sorted(found)]  # mask, mask 2, mask 3...
    base, matched, folders = str(path.parent), [], {}
    out = []
    for line, row in zip(lines, rows):
        got = {c: unescape_cell(row[cols[c]]) if c in cols else None for c in MANIFEST_COLUMNS if c != "mask"}
        got["image"] = _found(base, got["image"], matched, folders) if got["image"] else ""
        out.append((line, {**got, "cells": row, "masks": tuple(_found(base, unescape_cell(row[c]), matched, folders)
                                                                for c in masks if row[c] != "")}))
        if check is not None:
            check(*out[-1])
    if matched:
        notes.append(f"{len(matched)} name(s) of {path.name} matched their files only after Unicode normalisation "
                     f"(NFC), e.g. {matched[0]!r}")
    return header, out


def _found(base: str, written: str, matched: list, folders: dict) -> str:
    """``written``, or the name on disk it means when only Unicode normalisation tells them apart. Strings
    and one ``lstat`` a row (a million rows in seconds); a folder is listed once, the first time a name
    in it is missing (``folders``: its names by their NFC form; none for a folder that is not there)."""
    target = written if os.path.isabs(written) else os.path.join(base, written)
    if os.path.lexists(target):
        return written
    parent = os.path.dirname(target)
    if parent not in folders:
        folders[parent] = {}
        with contextlib.suppress(OSError, ValueError):  # not a folder, not there, a NUL byte: the row's check names it
            for e in os.listdir(parent):
                folders[parent].setdefault(unicodedata.normalize("NFC", e), []).append(e)
    same = folders[parent].get(unicodedata.normalize("NFC", os.path.basename(target)), [])
    if len(same) != 1:
        return written
    matched.append(written)
    return str(Path(written).with_name(same[0]))
