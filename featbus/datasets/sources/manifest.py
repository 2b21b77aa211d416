"""Download manifests as a release's source (:mod:`featbus.datasets.sources`): files a download
writes beside the data that list what was downloaded, never what the images are. NBIA / TCIA's
``metadata.csv`` (the Data Retriever's list of series: ``Series UID``, ``File Location``...) and
checksum lists (``md5sums.txt``, ``SHA256SUMS.txt``, ``*.md5``: a digest and a file a line) are
recognised, said as a download manifest and never read as a label table, in a folder or inside an archive.
"""

from __future__ import annotations

import re
from pathlib import Path

from .._release_rules import column_key
from ._base import SourceRead
from ._screening import HEADER_BYTES, columns, header_row

__all__ = ["NAME", "read", "recognise"]

NAME = "download manifest"
IN_ARCHIVES = True  # its read opens nothing: said as in a folder inside a zip or tar too
#: NBIA's ``metadata.csv`` columns that no label table has.
NBIA = ("Series UID", "File Location")
CHECKSUM_NAME = re.compile(r"^(md5|sha1|sha256|sha512)(sums?)?$|\.(md5|sha1|sha256|sha512)$", re.IGNORECASE)
CHECKSUM_LINE = re.compile(r"^[0-9a-fA-F]{32,128}\s+\*?\S")


def _checksums(root: Path, rel: Path) -> bool:
    if CHECKSUM_NAME.search(rel.stem) or rel.suffix.lower() in (".md5", ".sha256"):
        return True
    if rel.suffix.lower() != ".txt":
        return False
    try:
        with open(root / rel, "rb") as f:
            lines = f.read(HEADER_BYTES).decode("utf-8", errors="replace").splitlines()[:5]
    except OSError:
        return False
    return bool(lines) and all(CHECKSUM_LINE.match(line) for line in lines if line.strip())


def recognise(files: list[Path], root: Path) -> list[Path]:
    """NBIA's ``metadata.csv`` (by its columns) and checksum lists (by name or by their lines)."""
    return [f for f in files if (f.suffix.lower() == ".csv" and columns(header_row(root, f))
                                 >= {column_key(c) for c in NBIA}) or _checksums(root, f)]


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal") -> SourceRead:
    """Nothing: what the file is, said."""
    what = ("NBIA's list of the series downloaded: Series UID, File Location" if file.suffix.lower() == ".csv"
            else "a checksum list: a digest and a file a line")
    return SourceRead(file, not_used=f"a download manifest ({what}), no labels")
