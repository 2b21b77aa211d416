"""The tools' own tables read as tables (:mod:`featbus.datasets.sources`): per-split tables merged
(:func:`merge_split_tables`), one-hot columns read as one class column (:func:`one_hot_table`),
a split column found by its values (:func:`split_column`); an image's one class from its annotations
(:func:`one_class`)."""

from __future__ import annotations

from pathlib import Path

from ..._records import LeftOut
from .._release_rules import class_of_value, column_key, folder_split, split_of

__all__ = ["merge_split_tables", "one_class", "one_hot_table", "split_column"]


def one_class(got, image: str, classes: set, unannotated: str, two: str, none: str) -> str | None:
    """The class of ``image`` whose annotations give ``classes`` (``normal`` for none), else ``None``, the
    image left out in ``got``, named: two classes (``two`` says where, the classes follow), or none where
    ``unannotated`` leaves such images out (``none`` says why)."""
    if len(classes) > 1 or not classes and unannotated != "normal":
        got.left_out.append(LeftOut(image, "two labels", f"{two} {', '.join(sorted(map(str, classes)))}")
                            if classes else LeftOut(image, "no annotation", none))
        return None
    return str(next(iter(classes), "normal"))


def one_hot_table(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]], str | None]:
    """A table whose class columns hold 0/1, one 1 a row (Roboflow's ``_classes.csv``: ``filename,
    benign, malignant``), with a ``class`` column added holding each row's column name; the words
    that say it (``None`` and the table as it was when it is no one-hot table)."""
    binary = [c for c in range(len(header))
              if rows and all(r[c].strip() in ("0", "1", "0.0", "1.0") for r in rows)]
    if len(binary) < 2 or "class" in (column_key(h) for h in header):
        return header, rows, None
    ones = [[c for c in binary if r[c].strip().startswith("1")] for r in rows]
    if not all(len(o) == 1 for o in ones):
        return header, rows, None
    names = [header[c] for c in binary]
    spelt = [c for c in range(len(header)) if c not in binary and all(class_of_value(r[c]) for r in rows)]
    if not any(class_of_value(n) for n in names) or spelt:  # not named as classes, or a label column already
        return header, rows, None
    return header + ["class"], [r + [header[o[0]]] for r, o in zip(rows, ones)], \
        f"labels from the one-hot columns {', '.join(repr(n) for n in names)} (the class is the column whose cell is 1)"


def split_column(header: list[str], rows: list[list[str]]) -> int | None:
    """The column whose every value is a split's spelling (``train``, ``val``, ``test``...), else ``None``."""
    for c in range(len(header)):
        values = {r[c].strip() for r in rows}
        if values and all(v and split_of(v) for v in values) and column_key(header[c]) in (
                "split", "subset", "set", "partition", "fold", "dataset"):
            return c
    return None


def merge_split_tables(tables: dict[Path, tuple[list[str], list[list[str]]]], files: set[Path]):
    """Per-split tables of one name and header (``train/_classes.csv``, ``data/test/metadata.csv``)
    as one, under the first one's name, with a ``split`` column from the folder and each cell naming
    a file beside its table as the release-relative path (two splits may hold ``0001.png``):
    ``(tables, words)``."""
    groups: dict[tuple, list[Path]] = {}
    for rel, (header, _) in tables.items():
        split = folder_split(rel)
        if split is not None:
            groups.setdefault((rel.name.casefold(), tuple(column_key(h) for h in header)), []).append(rel)
    words = []
    for rels in groups.values():
        if len(rels) < 2:
            continue
        header = list(tables[rels[0]][0])
        own_split = "split" in map(column_key, header)  # a split column of its own is kept as written
        rows = []
        for rel in rels:
            split = [] if own_split else [folder_split(rel)]
            rows += [[(rel.parent / c.strip()).as_posix() if c.strip() and rel.parent / c.strip() in files else c
                      for c in row] + split for row in tables.pop(rel)[1]]
        tables[rels[0]] = (header if own_split else header + ["split"], rows)
        words.append(f"the per-split tables {', '.join(r.as_posix() for r in rels)} read as one")
    return tables, words


