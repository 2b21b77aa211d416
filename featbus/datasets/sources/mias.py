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
from ._base import Entry, LeftOut, SourceRead
from ._refs import member_file

__all__ = ["MIAS_CLASSES", "MIAS_TASKS", "NAME", "is_mias_name", "parse_mias_info", "read", "recognise"]

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
            ref, tissue, abn, sev, x, y, r = m.groups()
            coords = (int(x), int(y), int(r)) if x is not None else (None, None, None)
            rows.setdefault(ref, []).append({"tissue": tissue, "abnormality": abn, "severity": sev,
                                             "x": coords[0], "y": coords[1], "radius": coords[2]})
    if not rows:
        raise ValueError(f"{str(path)!r} holds no mini-MIAS rows (lines starting with 'mdbNNN')")
    return rows


def is_mias_name(rel: Path) -> bool:
    """Whether a file's stem is a mini-MIAS reference, ``mdbNNN`` (any case and suffix)."""
    return bool(_MIAS_NAME.fullmatch(rel.stem))


def recognise(files: list[Path], *, images: list[Path] = ()) -> list[Path]:
    """The shallowest ``Info.txt`` (any case) with ``mdbNNN`` images in its folder or below: a mini-MIAS
    folder (an ``Info.txt`` deeper than it is one more file of the release)."""
    found = sorted((f for f in files if f.name.lower() == "info.txt" and any(
        is_mias_name(i) and i.parent.is_relative_to(f.parent) for i in images)), key=lambda f: len(f.parts))
    return found[:1]


def read(root: Path, file: Path, images: list[Path], unannotated: str = "normal", *, task: str = "severity",
         table: dict | None = None) -> SourceRead:
    """The ``mdbNNN`` images in ``Info.txt``'s folder or below, labelled for ``task`` by it (``table``: its
    rows, read when not given; the paragraph names it as the table), the two breasts of a woman one
    patient; a file without a row left out (``no row``); the other images there (``pectoral/``
    references) are none of the release's, set aside."""
    from .._release_types import ReleaseSummary

    classes = MIAS_TASKS[task]
    if table is None:
        with member_file(root / file) as path:  # inside a zip or tar, a private copy within MAX_TABLE_BYTES
            try:
                table = parse_mias_info(path)
            except ValueError as exc:
                raise ValueError(str(exc).replace(str(path), os.fspath(root / file))) from None
    below = [f for f in images if f.parent.is_relative_to(file.parent)]
    got = SourceRead(file, claims_images=True, class_source="Info.txt severity", patient_source="pattern",
                     patient_detail="mdbNNN: the two breasts of one woman are two numbers",
                     class_order=classes, aside=tuple(f for f in below if not is_mias_name(f)),
                     within=ReleaseSummary(root=root, table=root / file, image_column="reference",
                                           label_column="severity"))
    for rel in filter(is_mias_name, below):
        ref = rel.stem.lower()
        if ref not in table:
            got.left_out.append(LeftOut(rel.as_posix(), "no row", f"in {file.as_posix()}"))
            continue
        sev = {r["severity"] for r in table[ref]}
        severity = 2 if "M" in sev else 1 if "B" in sev else 0
        got.entries.append(Entry(rel, classes[severity if task == "severity" else int(severity > 0)],
                                 patient=f"woman {(int(ref[3:]) - 1) // 2 + 1}"))
    return got
