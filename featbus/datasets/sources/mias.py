"""mini-MIAS as a release's source: ``mdbNNN`` images (the database's PGM, or a conversion of any
format and size) in the folder of the ``Info.txt`` that labels them (:func:`parse_mias_info`) or below
it (``all-mias/`` beside it, as the archive and its mirrors ship it), the two breasts of a woman one
patient. Its file is no table of image names: it is recognised over ``mdbNNN`` images
(:func:`recognise`) and claims them (:func:`read`), said as the table that labels them; the loaders of
:mod:`featbus.datasets.mias` use this module's entries, never the reverse."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ... import io as _io
from .._release_rules import column_key
from .._release_tables import TableError
from ._base import Entry, SourceRead
from ._refs import member_file
from .table import read_at

__all__ = ["ABNORMALITIES", "MIAS_CLASSES", "MIAS_TASKS", "NAME", "is_mias_name", "parse_mias_info", "read",
           "recognise", "table_rows"]

NAME = "mini-MIAS Info.txt"
IN_ARCHIVES = True
MIAS_CLASSES = ("normal", "benign", "malignant")
#: Classes of each ``task`` of :func:`~featbus.datasets.load_mias`.
MIAS_TASKS = {"severity": MIAS_CLASSES, "abnormal": ("normal", "abnormal")}
_MIAS_NAME = re.compile(r"mdb\d{3}", re.IGNORECASE)
_MIAS_ROW = re.compile(r"^(mdb\d{3})\s+([FGD])\s+([A-Z]{4})(?:\s+([BM]))?(?:\s+(\d+)\s+(\d+)\s+(\d+))?")


def parse_mias_info(path: str | os.PathLike) -> dict[str, list[dict]]:
    """Parse the mini-MIAS ``Info.txt``: reference -> list of rows (one per abnormality).

    The free-text header and footer are skipped (only lines starting with ``mdbNNN`` count);
    CRLF line endings are accepted. Each row is a dict with ``tissue``, ``abnormality``,
    ``severity`` (``"B"``, ``"M"`` or ``None``) and ``x``, ``y``, ``radius`` (``None`` when the
    row has no coordinates, e.g. widely distributed calcifications). ``x`` and ``y`` are as in
    the file: ``y`` is measured from the BOTTOM edge.
    """
    rows: dict[str, list[dict]] = {}
    if os.path.getsize(path) > _io.MAX_TABLE_BYTES:
        raise ValueError(f"{str(path)!r} is larger than {_io.limit_words('MAX_TABLE_BYTES')}: no mini-MIAS Info.txt")
    with open(path, encoding="latin-1", newline=None) as fh:  # newline=None: CRLF -> \n
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not re.match(r"^mdb\d{3}\b", line):
                continue
            m = _MIAS_ROW.match(line)
            if m is None:
                raise ValueError(f"{str(path)!r} line {n}: cannot parse {line!r}")
            ref, tissue, abn, sev, *coords = m.groups()
            rows.setdefault(ref, []).append({"tissue": tissue, "abnormality": abn, "severity": sev,
                                             **dict(zip(_COORDINATES, (c and int(c) for c in coords)))})
    if not rows:
        raise ValueError(f"{str(path)!r} holds no mini-MIAS rows (lines starting with 'mdbNNN')")
    return rows


def is_mias_name(rel: Path) -> bool:
    """Whether a file's stem is a mini-MIAS reference, ``mdbNNN`` (any case and suffix)."""
    return bool(_MIAS_NAME.fullmatch(rel.stem))


#: mini-MIAS's classes of abnormality (``Info.txt``'s third column), ``NORM`` for a normal film.
ABNORMALITIES = frozenset({"CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM"})
#: A user's table of ``Info.txt`` (Kaggle notebooks' ``REFNUM, BG, CLASS, SEVERITY, X, Y, RADIUS``): its columns,
#: found by their values, and the coordinates' by their names (compared as :func:`column_key`).
_VALUES = {"reference": lambda v: bool(_MIAS_NAME.fullmatch(v)), "tissue": lambda v: v.upper() in ("F", "G", "D"),
           "abnormality": lambda v: v.upper() in ABNORMALITIES, "severity": lambda v: v.upper() in ("B", "M", "")}
_COORDINATES = {"x": ("x",), "y": ("y",), "radius": ("radius", "r", "rad")}
_TABLES = (".csv", ".tsv", ".xlsx", ".xls")
#: How the paragraph names ``Info.txt``'s columns (it has no header).
_INFO_COLUMNS = {"reference": "reference", "severity": "severity"}


def table_rows(header: list[str], rows: list[list[str]]) -> tuple[dict[str, list[dict]], dict[str, str]] | None:
    """``(Info.txt's rows, the columns read)`` from a table of its columns (a user's CSV or Excel copy of
    ``Info.txt``, any column names: each found by its values, the coordinates ``X``, ``Y``, ``RADIUS`` by
    their names), as :func:`parse_mias_info` gives them; ``None`` when the table is not one."""
    if not rows:
        return None
    cells = [[(row[c] if c < len(row) else "").strip() for row in rows] for c in range(len(header))]
    found = {what: next((c for c, vals in enumerate(cells) if all(map(test, vals))), None)
             for what, test in _VALUES.items()}
    needed = [found[k] for k in ("reference", "abnormality", "severity")]  # the tissue may be left out
    if None in needed or len(set(needed)) < 3 or found["tissue"] in needed:
        return None
    found.update({what: next((c for c, h in enumerate(header) if column_key(h) in names), None)
                  for what, names in _COORDINATES.items()})
    out: dict[str, list[dict]] = {}
    for row in zip(*cells):
        coords = [row[found[k]] if found[k] is not None else "" for k in _COORDINATES]
        numbers = [int(float(v)) for v in coords] if all(re.fullmatch(r"\d+(\.0*)?", v) for v in coords) else [None] * 3
        out.setdefault(row[found["reference"]].lower(), []).append(
            {"tissue": row[found["tissue"]].upper() if found["tissue"] is not None else None,
             "abnormality": row[found["abnormality"]].upper(),
             "severity": row[found["severity"]].upper() or None, **dict(zip(_COORDINATES, numbers))})
    return out, {what: header[c] for what, c in found.items() if c is not None}


def _rows(root: Path, file: Path) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """``(Info.txt's rows, the columns read)`` of ``file``: ``Info.txt`` itself (within
    :data:`~featbus.io.MAX_TABLE_BYTES`, a zip's or tar's member from its private copy), or a table of its
    columns (:func:`table_rows`); a :class:`ValueError` naming the file when it is neither."""
    if file.suffix.lower() in _TABLES:
        if (got := table_rows(*read_at(root, file))) is None:
            raise ValueError(f"{os.fspath(root / file)!r} holds no mini-MIAS rows (mdbNNN, class, severity)")
        return got
    with member_file(root / file) as path:  # inside a zip or tar, a private copy within MAX_TABLE_BYTES
        try:
            return parse_mias_info(path), _INFO_COLUMNS
        except ValueError as exc:
            raise ValueError(str(exc).replace(str(path), os.fspath(root / file))) from None


def recognise(files: list[Path], *, root: Path, images: list[Path] = ()) -> list[Path]:
    """The shallowest ``Info.txt`` (any case), else table of its columns (:func:`table_rows`), with
    ``mdbNNN`` images in its folder or below: a mini-MIAS folder (an ``Info.txt`` deeper than it is one
    more file of the release)."""
    folders = [i.parent for i in images if is_mias_name(i)]
    found = sorted((f for f in files if (f.name.lower() == "info.txt" or f.suffix.lower() in _TABLES)
                    and any(d.is_relative_to(f.parent) for d in folders)), key=lambda f: len(f.parts))
    if (info := [f for f in found if f.name.lower() == "info.txt"]) or not folders:
        return info[:1]
    for f in found:  # the tables, shallowest first
        try:
            if table_rows(*read_at(root, f)) is not None:
                return [f]
        except (TableError, OSError, ValueError):  # a table the table reader names
            continue
    return []


def read(root: Path, file: Path, images: list[Path], unannotated: str = "normal", *, task: str = "severity",
         table: dict | None = None) -> SourceRead:
    """The ``mdbNNN`` images in ``Info.txt``'s folder or below, labelled for ``task`` by it (``table``: its
    rows, read when not given; the paragraph names it as the table), the two breasts of a woman one
    patient; a file without a row left out (``no row``); the other images there (``pectoral/``
    references) are none of the release's, set aside."""
    from .._release_types import ReleaseSummary

    classes = MIAS_TASKS[task]
    table, columns = _rows(root, file) if table is None else (table, _INFO_COLUMNS)
    below = [f for f in images if f.parent.is_relative_to(file.parent)]
    said = ("Info.txt severity" if file.suffix.lower() not in _TABLES else
            f"the {columns['severity']!r} column of {file.name}: mini-MIAS's severity, M malignant, B benign, "
            "none normal")
    got = SourceRead(file, claims_images=True, class_source=said, patient_source="pattern",
                     patient_detail="mdbNNN: the two breasts of one woman are two numbers",
                     class_order=classes, aside=tuple(f for f in below if not is_mias_name(f)),
                     within=ReleaseSummary(root=root, table=root / file, image_column=columns["reference"],
                                           label_column=columns["severity"]))
    for rel in filter(is_mias_name, below):
        ref = rel.stem.lower()
        if ref not in table:
            got.out(rel.as_posix(), "no row", f"in {file.as_posix()}")
            continue
        sev = {r["severity"] for r in table[ref]}
        severity = 2 if "M" in sev else 1 if "B" in sev else 0
        got.entries.append(Entry(rel, classes[severity if task == "severity" else int(severity > 0)],
                                 patient=f"woman {(int(ref[3:]) - 1) // 2 + 1}"))
    return got
