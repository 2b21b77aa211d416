"""The one join between a table's rows and a release's files (DESIGN "One join between a table and its
files"), so a community's PNG or JPEG conversion of a screening release reads as its original does: the
release's source says which columns name its files (RSNA's ``patient_id`` + ``image_id``), :func:`join` finds
how (the forms, nested or flat, whatever the extension, are listed there); a mapping table the release ships
(CBIS-DDSM's ``dicom_info.csv``: ``SeriesInstanceUID`` to ``image_path``) joins through its own path column
(:func:`through`), and a cell of a table whose columns featbus guesses by :func:`find`, the same keys.

The form is chosen on the first rows (:data:`SAMPLE`), then every row is looked up in one index of the files
built once (:func:`index`), so a table of 54,706 rows joins in dictionary lookups. Keys ignore case, the
extension and Unicode normalisation (NFC); a name is found by its stem's other forms too (``0001-l`` for
``bus_0001-l.png``: :func:`~featbus.datasets._release_rules.stem_keys`; ``7`` for ``007.png``). A key naming
two files names none (never a guess).

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
>>> views = join([["D1-0001", "L"]], [Path("png/D1-0001_L_CC.png"), Path("png/D1-0001_L_MLO.png")],
...              ("ID1", "LeftRight"), many=True)
>>> [f.name for f in views.files[0]], views.words
(['D1-0001_L_CC.png', 'D1-0001_L_MLO.png'], 'ID1 + LeftRight (png/<ID1>_<LeftRight>_*.png)')
>>> find(index([Path("images/bus_0001-l.png")]), "0001-L")
PosixPath('images/bus_0001-l.png')
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from ._release_rules import IMAGE_SUFFIXES, stem_keys

__all__ = ["NESTED", "SAMPLE", "TOKENS", "Joined", "find", "index", "join", "through"]

#: How many rows the form of a join is chosen on (the first rows with every key cell filled).
SAMPLE = 200
#: The separators a flat file name joins its key cells with.
SEPARATORS = ("/", "_", "-")
#: The forms beyond a path's tail: the name's first ``_`` tokens (``<a>_<b>_*``), those under the other cells as
#: folders (``<a>/<b>_*``), a folder it is in (``<a>/``).
TOKENS, NESTED, FOLDER = "_*", "/_*", "/*"


def _key(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _bare(rel) -> str:
    """A file's release-relative path without its extension, ``/``-separated, for the keys."""
    path = PurePosixPath(os.fspath(rel).replace("\\", "/"))
    return (path.parent / path.stem).as_posix() if path.suffix and len(path.suffix) <= 6 else path.as_posix()


def _file_keys(f) -> dict[str, None]:
    """A file's keys: each tail of its path (``b``, ``a/b``) with and without its extension, its stem's
    other forms (:func:`~featbus.datasets._release_rules.stem_keys`, a number without its leading zeros),
    its name's first ``_`` tokens after ``\0_`` (after ``\0/_``, under each tail of its folders) and each folder
    it is in after ``\0/``."""
    text = unicodedata.normalize("NFC", os.fspath(f).replace("\\", "/"))
    parts, whole = _key(_bare(text)).split("/"), _key(text).split("/")
    stem, tokens = PurePosixPath(text).stem, parts[-1].split("_")
    firsts = ["_".join(tokens[:n]) for n in range(1, len(tokens))]
    return dict.fromkeys([*("/".join(p[-n:]) for n in range(1, len(parts) + 1) for p in (parts, whole)),
                          *stem_keys(stem), *([str(int(stem))] if re.fullmatch(r"\d+", stem) else []),
                          *("\0_" + t for t in firsts), *("\0/" + folder for folder in parts[:-1]),
                          *("\0/_" + "/".join(parts[n:-1] + [t]) for n in range(len(parts) - 1) for t in firsts)])


def index(files) -> dict[str, list]:
    """Each key (:func:`_file_keys`) to the files it finds, built once for a join."""
    out: dict[str, list] = {}
    for f in files:
        for key in _file_keys(f):
            out.setdefault(key, []).append(f)
    return out


def find(files: dict[str, list], cell: str):
    """The file a table's cell names (``files``: an :func:`index`), ``None`` when none or two do: the cell
    as written (spaces may be part of a name; ``\\`` read as ``/``, a leading ``./`` dropped) as a path's
    tail, then its own tails, longest first (an absolute path written on another machine), then its name
    alone (the last cell of a path, as :func:`join`'s last key column alone), each with and without an
    image extension, then a number without its leading zeros."""
    value = unicodedata.normalize("NFC", cell)
    v = value.strip().replace("\\", "/").lstrip("./") if not value.startswith("../") else value.strip()
    if not v:
        return None
    p = PurePosixPath(v)
    keys = [v, *("/".join(p.parts[n:]) for n in range(1, len(p.parts) - 1)), p.name]  # its tails, longest first
    if value.strip() != value:  # the name as written first
        keys = [value, PurePosixPath(value).name, *keys]
    if p.suffix.lower() in IMAGE_SUFFIXES:
        keys += [v.rsplit(".", 1)[0], p.stem]
    digits = p.stem if p.suffix.lower() in IMAGE_SUFFIXES else v
    if re.fullmatch(r"\d+(\.0+)?", digits):
        keys.append(str(int(float(digits))))
    return next((found[0] for k in keys if len(found := files.get(_key(k), ())) == 1), None)


@dataclass
class Joined:
    """A table's rows joined to the release's files: ``files`` (one per row, ``None`` where no file is
    named; with ``many``, a list per row), the columns and separator that made the key (``columns``,
    ``separator``: ``/``, ``_``, ``-``, :data:`TOKENS`, :data:`NESTED` or :data:`FOLDER`; ``None`` when no row
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
        example = PurePosixPath(os.fspath(self.example or ""))
        if self.separator == TOKENS:  # the name's first tokens: <a>_<b>_*
            return (example.parent / f"{'_'.join(cells)}_*{example.suffix}").as_posix()
        if self.separator == NESTED:  # <a>/<b>_*: the example's folders above the key's, then the cells
            head = example.parts[:len(example.parts) - len(cells)]
            return "/".join((*head, *cells[:-1], f"{cells[-1]}_*{example.suffix}"))
        if self.separator == FOLDER:  # <a>/...: the folder of the example the key named, and below
            parts = example.parts[:-1]
            k = [_key(p) for p in parts].index(_key(self.values[-1]))
            return "/".join(parts[:k] + (cells[-1], "*"))
        if self.example is None:
            return (self.separator or "/").join(cells)
        bare = _bare(self.example)  # its head before the example's key cells, then these cells
        return bare[: len(bare) - len(self.separator.join(self.values))] + self.separator.join(cells) + example.suffix


def _look(files: dict[str, list], cells: list[str], separator: str, many: bool):
    """The file (or, ``many``, the files) the key ``cells`` name in the form ``separator``."""
    cells = [c.strip().split(".")[0] if separator == TOKENS else c.strip() for c in cells]  # <id>.0 names <id>_*
    key = {TOKENS: "\0_" + "_".join(cells), NESTED: "\0/_" + "/".join(cells),
           FOLDER: "\0/" + cells[-1]}.get(separator, separator.join(cells))
    found = files.get(_key(key), ())
    return list(found) if many else found[0] if len(found) == 1 else None


def join(rows: list[list[str]], files, columns: tuple[str, ...], *, under=None,
         publisher: tuple | None = None, many: bool = False) -> Joined:
    """Each row of ``rows`` (its key cells, in the order of ``columns``: the names the paragraph says)
    joined to one of ``files`` (release-relative paths, or image references): the key cells joined by
    ``/``, ``_`` or ``-`` make up the tail of the file's path without its extension; else the last cell
    alone does (``<image_id>.png`` in one folder; only where its value says the row's whole key); else the
    cells joined by ``_`` are the name's first tokens (:data:`TOKENS`, ``<ID1>_<LeftRight>_*``), or the last
    cell is under the others as folders (:data:`NESTED`, ``<ID1>/<LeftRight>_*``); else a one-column key
    names a folder the file is in (:data:`FOLDER`). The form that names most of the first :data:`SAMPLE`
    rows is kept for every row; a key naming two files names none (never a guess) unless ``many``: then
    each row names a list of the files its key finds (a breast's views, a case folder's files). ``under``:
    the files inside that folder first (a table's own folder), the release's others when none of those joins
    (a table in ``csv/`` beside ``images/``); the files found are release-relative either way. ``publisher``:
    ``(example, key cells, separator)`` of the form the publisher names its files in
    (``("images/s/i.*", ("s", "i"), "/")``, relative to ``under``), what every row looked for when none joins.
    """
    files = list(files)
    if under is None or under == Path("."):
        return _join(rows, files, columns, publisher, many)
    got = _join(rows, [f.relative_to(under) for f in files if under in f.parents], columns, publisher, many)
    if not any(got.files) and (whole := _join(rows, files, columns, None, many)).example is not None:
        return whole
    files = [[under / f for f in fs] for fs in got.files] if many else [f and under / f for f in got.files]
    return replace(got, files=files, example=got.example and under / got.example)


def _join(rows: list[list[str]], files, columns: tuple[str, ...], publisher, many: bool) -> Joined:
    """:func:`join` over ``files`` as given."""
    files = index(files)
    sample = [r for r in rows if all(c.strip() for c in r)][:SAMPLE]
    # the last cell alone only where it says the rest of the row's key (RSNA's image_id; never CMMD's side)
    last = len(columns) > 1 and len({r[-1].strip().casefold() for r in sample}) == len({tuple(
        c.strip().casefold() for c in r) for r in sample})
    forms = [(columns, s) for s in SEPARATORS] + ([(columns[-1:], "/")] if last else []) + [(columns, TOKENS)] \
        + ([(columns, NESTED)] if len(columns) > 1 else [(columns, FOLDER)]) \
        + ([(columns[-1:], TOKENS)] if last else [])
    # how many sample rows each form names (a form's cells: the row's last len(names)); the first of most kept
    named = [sum(bool(_look(files, r[-len(names):], sep, many)) for r in sample) for names, sep in forms]
    if not any(named):
        example, values, separator = publisher or (None, (), "/" if len(columns) > 1 else None)
        return Joined([[] if many else None for _ in rows], tuple(columns), separator, example, tuple(values))
    names, sep = forms[named.index(max(named))]
    found = [_look(files, r[-len(names):], sep, many) if all(c.strip() for c in r) else [] if many else None
             for r in rows]
    k = next(i for i, f in enumerate(found) if f)
    return Joined(found, tuple(names), sep, found[k][0] if many else found[k],
                  tuple(c.strip() for c in rows[k][-len(names):]))


def through(mapping: list[tuple[str, str]], files) -> dict[str, object]:
    """A mapping table's key to the file its path cell names (``mapping``: ``(key, path)`` pairs, such as
    CBIS-DDSM's ``dicom_info.csv`` ``SeriesInstanceUID`` and ``image_path``): the path without its
    extension as the tail of a file's path (a converter's own top folder, ``CBIS-DDSM/``, need not be on
    disk); keys whose path names no file, or two, are absent."""
    files = index(files)
    out: dict[str, object] = {}
    for key, path in mapping:
        parts = _bare(path.strip()).strip("/").split("/")  # its longest tail that is on disk:
        found = next((f for k in range(len(parts), 0, -1) if (f := files.get(_key("/".join(parts[-k:]))))), ())
        if len(found) == 1:
            out[key.strip()] = found[0]
    return out
