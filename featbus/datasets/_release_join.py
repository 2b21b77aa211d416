"""The one join between a table's rows and a release's files (DESIGN "One join between a table and its
files"): a row names a file when the values of one or more of its columns make up the file's relative
path or its name, whatever the extension (``.dcm``, ``.dicom``, ``.png``, ``.jpg``, none) and whether
nested or flat: ``<a>/<b>.ext`` under any folder, ``<a>_<b>.ext``, ``<a>-<b>.ext``, ``<b>.ext``. So a
community's PNG or JPEG conversion of a screening release reads as its original does: the release's
source says which columns name its files (RSNA's ``patient_id`` + ``image_id``), this module finds how.
A mapping table the release ships (CBIS-DDSM's ``dicom_info.csv``: ``SeriesInstanceUID`` to
``image_path``) joins the same way, through its own path column (:func:`through`).

The form (which columns, which separator) is chosen on a sample of the rows (:data:`SAMPLE`), then every
row is looked up by key in one index of the files built once, so a table of 54,706 rows joins in
dictionary lookups. Keys ignore case and the extension.

>>> from pathlib import Path
>>> files = [Path("train_images/10006/462822612.png"), Path("train_images/10006/1459541791.png")]
>>> got = join([["10006", "462822612"], ["10006", "1459541791"], ["10011", "220375232"]], files,
...            ("patient_id", "image_id"))
>>> [f.as_posix() if f else None for f in got.files]
['train_images/10006/462822612.png', 'train_images/10006/1459541791.png', None]
>>> got.words
'patient_id + image_id (train_images/<patient_id>/<image_id>.png)'
>>> got.expected(["10011", "220375232"])
'train_images/10011/220375232.png'
>>> flat = join([["10006", "462822612"]], [Path("images/10006_462822612.jpg")], ("patient_id", "image_id"))
>>> flat.files, flat.words
([PosixPath('images/10006_462822612.jpg')], 'patient_id + image_id (images/<patient_id>_<image_id>.jpg)')
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import PurePosixPath

__all__ = ["SAMPLE", "Joined", "join", "through"]

#: How many rows the form of a join is chosen on (the first rows with every key cell filled).
SAMPLE = 200
#: The separators a flat file name joins its key cells with.
SEPARATORS = ("/", "_", "-")


def _key(text: str) -> str:
    return text.strip().casefold()


def _bare(rel) -> str:
    """A file's release-relative path without its extension, ``/``-separated, for the keys."""
    text = os.fspath(rel).replace("\\", "/")
    path = PurePosixPath(text)
    return (path.parent / path.stem).as_posix() if path.suffix and len(path.suffix) <= 6 else path.as_posix()


@dataclass
class Joined:
    """A table's rows joined to the release's files: ``files`` (one per row, ``None`` where no file is
    named), the columns and separator that made the key (``columns``, ``separator``; ``None`` when no row
    joined), an example file it matched (``example``) and :attr:`words` for the paragraph."""

    files: list
    columns: tuple[str, ...] = ()
    separator: str | None = None
    example: object = None
    values: tuple[str, ...] = field(default=(), repr=False)  # the example's key cells

    @property
    def words(self) -> str:
        """``patient_id + image_id (train_images/<patient_id>/<image_id>.png)``: the key and the form found."""
        names = " + ".join(self.columns)
        return f"{names} ({self.expected([f'<{c}>' for c in self.columns])})" if self.example is not None else names

    def expected(self, cells) -> str:
        """The file a row of these key ``cells`` names, in the form the joined files take (its folder and
        extension those of :attr:`example`): what a row whose file is missing looked for."""
        if self.separator == "_*":  # the name's first token: <cell>_*
            folder = PurePosixPath(os.fspath(self.example)).parent if self.example is not None else PurePosixPath()
            return (folder / f"{cells[-1]}_*{PurePosixPath(os.fspath(self.example or '')).suffix}").as_posix()
        if self.example is None:
            return self.separator.join(cells) if self.separator else "/".join(cells)
        bare = _bare(self.example)
        tail = self.separator.join(self.values)
        head = bare[: len(bare) - len(tail)]
        return head + self.separator.join(cells) + PurePosixPath(os.fspath(self.example)).suffix


def _index(files) -> dict[str, list]:
    """Each file by its key forms: its path without extension, each tail of it (``b``, ``a/b``), and its
    name's first ``_`` token after a ``\0`` (``\0<id>`` for ``<id>_<patient>_MG_R_CC_ANON.dcm``)."""
    index: dict[str, list] = {}
    for f in files:
        parts = _bare(f).split("/")
        for k in range(1, len(parts) + 1):
            index.setdefault(_key("/".join(parts[-k:])), []).append(f)
        if "_" in parts[-1]:
            index.setdefault("\0" + _key(parts[-1].split("_")[0]), []).append(f)
    return index


def _look(index, cells: list[str], separator: str):
    found = index.get(_key(separator.join(cells)))
    return found[0] if found and len(found) == 1 else None


def join(rows: list[list[str]], files, columns: tuple[str, ...], *, under=None,
         publisher: tuple | None = None) -> Joined:
    """Each row of ``rows`` (its key cells, in the order of ``columns``: the names the paragraph says)
    joined to one of ``files`` (release-relative paths, or image references): the key cells joined by
    ``/``, ``_`` or ``-`` make up the tail of the file's path without its extension; else the last cell
    alone does (``<image_id>.png`` in one folder). The form that names most of the first :data:`SAMPLE`
    rows is kept for every row; a key naming two files names none (never a guess). ``under``: only the
    files inside that folder count, given relative to it (a table's own folder); ``publisher``:
    ``(example, key cells, separator)`` of the form the publisher names its files in
    (``(Path("images/s/i.dicom"), ("s", "i"), "/")``), what every row looked for when none joins.
    """
    if under is not None:
        files = [f.relative_to(under) for f in files if under in f.parents]
    index = _index(files)
    sample = [r for r in rows if all(c.strip() for c in r)][:SAMPLE]
    forms = [(columns, s, lambda r: r) for s in SEPARATORS] + \
            ([(columns[-1:], "/", lambda r: r[-1:])] if len(columns) > 1 else []) + \
            [(columns[-1:], "_*", lambda r: ["\0" + r[-1].strip().split(".")[0]])]  # the name's first token
    best, best_n = None, 0
    for form in forms:
        _, sep, pick = form
        n = sum(_look(index, pick(r), sep) is not None for r in sample)
        if n > best_n:
            best, best_n = form, n
    if best is None:
        example, values, separator = publisher or (None, (), "/" if len(columns) > 1 else None)
        return Joined([None] * len(rows), tuple(columns), separator, example, tuple(values))
    names, sep, pick = best
    found = [_look(index, pick(r), sep) if all(c.strip() for c in r) else None for r in rows]
    k = next(i for i, f in enumerate(found) if f is not None)
    return Joined(found, tuple(names), sep, found[k], tuple(c.strip() for c in rows[k][-len(names):]))


def through(mapping: list[tuple[str, str]], files) -> dict[str, object]:
    """A mapping table's key to the file its path cell names (``mapping``: ``(key, path)`` pairs, such as
    CBIS-DDSM's ``dicom_info.csv`` ``SeriesInstanceUID`` and ``image_path``): the path without its
    extension as the tail of a file's path (a converter's own top folder, ``CBIS-DDSM/``, need not be on
    disk); keys whose path names no file, or two, are absent."""
    index = _index(files)
    out: dict[str, object] = {}
    for key, path in mapping:
        parts = _bare(path.strip()).strip("/").split("/")
        for k in range(len(parts), 0, -1):  # the longest tail that is on disk
            found = index.get(_key("/".join(parts[-k:])))
            if found:
                if len(found) == 1:
                    out[key.strip()] = found[0]
                break
    return out
