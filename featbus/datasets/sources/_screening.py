"""What the screening-mammography sources share (:mod:`.rsna`, :mod:`.vindr`, :mod:`.cbis_ddsm`,
:mod:`.cmmd`, :mod:`.inbreast`): a table's header row read without reading the table, the table read within
the reader's bounds (a folder's file, or a table inside an archive: :func:`.table.read_at`), a column found by
its name, the rows joined to no file left out, a row's side and view."""

from __future__ import annotations

import csv
from pathlib import Path

from .._release_rules import column_key
from .._release_tables import SourceError, TableError
from ._refs import member_file
from .table import read_at

__all__ = ["SIDES", "VIEWS", "column", "columns", "found_rows", "has_columns", "header_row", "row_dict", "side_view",
           "table"]

#: A breast side as the releases spell it (``L``, ``LEFT``, ``R``, ``RIGHT``), as ``L`` / ``R``.
SIDES = {"l": "L", "left": "L", "r": "R", "right": "R"}
#: A view as the releases spell it, as DICOM's ``ViewPosition`` does (INbreast names MLO ``ML``).
VIEWS = {"cc": "CC", "mlo": "MLO", "ml": "MLO"}
#: How much of a text table :func:`header_row` reads to find its first row.
HEADER_BYTES = 65_536


def header_row(root: Path, rel: Path) -> list[str]:
    """The column names of table ``rel`` (its first row), ``[]`` when it cannot be read: a text
    table's first :data:`HEADER_BYTES` only (``,``, ``;`` or tab separated), an Excel table read within
    the reader's bounds."""
    try:
        if rel.suffix.lower() in (".xlsx", ".xls"):
            return read_at(root, rel)[0]
        if rel.suffix.lower() not in (".csv", ".tsv", ".txt"):
            return []
        with member_file(root / rel) as path:  # a table inside an archive: its private copy
            if not path.is_file():
                return []
            with open(path, "rb") as f:
                head = f.read(HEADER_BYTES).decode("utf-8-sig", errors="replace")
    except (OSError, TableError, ValueError):  # ArchiveError is a ValueError
        return []
    line = head.splitlines()[0] if head else ""
    sep = max((",", ";", "\t"), key=line.count)
    return [c.strip() for c in next(csv.reader([line], delimiter=sep), [])]


def columns(header: list[str]) -> set[str]:
    """The header's names as :func:`~featbus.datasets._release_rules.column_key` spells them."""
    return {column_key(h) for h in header}


def has_columns(root: Path, rel: Path, names) -> bool:
    """Whether table ``rel``'s header row (:func:`header_row`) has every column of ``names``."""
    return columns(header_row(root, rel)) >= {column_key(n) for n in names}


def table(root: Path, rel: Path, needs: tuple[str, ...],
          optional: tuple[str, ...] = ()) -> tuple[list[str], list[tuple[int, list[str]]], list[int | None]]:
    """``(header, [(line, row), ...], [the column of each of needs, then of optional: None where absent])`` of
    table ``rel`` read within the reader's bounds; a table without one of the columns ``needs`` is a
    :class:`SourceError` naming them."""
    lines: list[int] = []
    try:
        header, rows = read_at(root, rel, lines=lines)
    except TableError as exc:
        raise SourceError(str(exc)) from None
    have = columns(header)
    absent = [n for n in needs if column_key(n) not in have]
    if absent:
        raise SourceError(f"no column {', '.join(repr(a) for a in absent)} (its columns: "
                          f"{', '.join(repr(h) for h in header[:12])})")
    return (header, list(zip(lines, rows)),
            [column(header, n) if column_key(n) in have else None for n in needs + optional])


def column(header: list[str], name: str) -> int:
    """The index of the column ``name`` spells (any case, spaces and underscores alike)."""
    return [column_key(h) for h in header].index(column_key(name))


def found_rows(got, file: Path, rows, joined, cols, missing: str = "{} not found"):
    """``(line, row, file)`` of each row ``joined`` (:func:`~featbus.datasets._release_join.join`, its key cells
    in columns ``cols``) names a file of; each other row left out of ``got`` as it comes, in the table's order
    ("no image", ``missing`` naming the file it looked for)."""
    for (line, row), found in zip(rows, joined.files):
        if found is None:
            got.out(f"row {line} of {file.as_posix()}", "no image",
                    missing.format(joined.expected([row[c].strip() for c in cols])))
        else:
            yield line, row, found


def row_dict(header: list[str], line: int, row: list[str]) -> dict:
    """A table row as :attr:`~featbus.datasets.Release.rows` keeps it: its line and its cells by column."""
    return {"row": line, **dict(zip(header, row))}


def side_view(row: list[str], c_side: int | None, c_view: int | None) -> dict:
    """A row's breast side and view, as DICOM spells them (``L``/``R``, ``CC``/``MLO``; any other value as
    written), where the table has them (a column ``None``: not said)."""
    return {key: spelt.get(row[c].strip().casefold(), row[c].strip())
            for key, c, spelt in (("laterality", c_side, SIDES), ("view", c_view, VIEWS)) if c is not None}
