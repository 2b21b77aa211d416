"""mini-MIAS as a release's source: ``mdbNNN.pgm`` files at the folder's top with the ``Info.txt``
that labels them (:func:`parse_mias_info`), the two breasts of a woman one
patient. Its file is no table of image names, so it is recognised by the folder (:func:`recognise`)
and read whole (:func:`read`: the release, by :func:`mias_release`); the loaders of
:mod:`featbus.datasets.mias` use this module, never the reverse."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ._base import ReleaseError

__all__ = ["MIAS_CLASSES", "MIAS_TASKS", "NAME", "mias_release", "parse_mias_info", "read", "recognise"]

NAME = "mini-MIAS Info.txt"
MIAS_CLASSES = ("normal", "benign", "malignant")
#: Classes of each ``task`` of :func:`~featbus.datasets.load_mias`.
MIAS_TASKS = {"severity": MIAS_CLASSES, "abnormal": ("normal", "abnormal")}
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


def recognise(root: Path, images: list[Path]) -> bool:
    """Whether ``root`` is a mini-MIAS folder: an ``Info.txt`` beside ``mdb*`` images at its top."""
    return (root / "Info.txt").is_file() and any(f.parent == Path(".") and f.stem.lower().startswith("mdb")
                                                 for f in images)


def read(root: Path, images: list[Path], left_out: list, *, options: dict, group_pattern: str | None = None):
    """The release of the folder's top-level images, labelled by ``Info.txt``; an option naming a
    table's column or mask files (``options``: given ones not None) refused, named."""
    refused = [k for k, v in options.items() if v is not None]
    if refused:
        raise ReleaseError(f"{' and '.join(refused)}: {str(root)!r} is a mini-MIAS folder, labelled by its "
                           "Info.txt (no table of image names, no mask files): drop the option")
    return mias_release(root, [f for f in images if f.parent == Path(".")], left_out, group_pattern=group_pattern)


def mias_release(root: Path, files: list[Path], left_out: list, *, task: str = "severity", table=None,
                 group_pattern: str | None = None):
    """A mini-MIAS folder as a :class:`~featbus.datasets.Release`: ``files`` (relative to ``root``)
    labelled for ``task`` by ``Info.txt`` (``table``: its rows, read when not given), the two breasts of a
    woman one patient; a file without a row left out (``no row``)."""
    from .._release_types import LeftOut, Release, ReleaseSummary

    table = parse_mias_info(root / "Info.txt") if table is None else table
    classes = MIAS_TASKS[task]
    images, labels, groups = [], [], []
    for rel in files:
        ref = rel.stem.lower()
        if ref not in table:
            left_out.append(LeftOut(rel.as_posix(), "no row", "in Info.txt"))
            continue
        sev = {r["severity"] for r in table[ref]}
        severity = 2 if "M" in sev else 1 if "B" in sev else 0
        images.append(root / rel)
        labels.append(classes[severity if task == "severity" else int(severity > 0)])
        groups.append(f"woman {(int(ref[3:]) - 1) // 2 + 1}")
    summary = ReleaseSummary(root=root, n_images=len(images), table=root / "Info.txt", image_column="reference",
                             label_column="severity", classes={c: labels.count(c) for c in classes if labels.count(c)},
                             class_source="Info.txt severity", n_patients=len(set(groups)), patient_source="pattern",
                             patient_detail="mdbNNN: the two breasts of one woman are two numbers", left_out=left_out)
    if group_pattern is not None:
        from ..name_groups import pattern_groups

        _, groups = pattern_groups(images, group_pattern)
        summary.patient_detail, summary.n_patients = f"--group-pattern {group_pattern!r}", len(set(groups))
    return Release(root, images, labels, groups, [()] * len(images), summary, class_order=list(classes))
