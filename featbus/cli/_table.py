"""A feature table given where a command takes DATA (``featbus train features.parquet``): recognising
it, reading it (:mod:`featbus.pipelines.tables`) and refusing the options that only apply to images."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ._common import CLIError

__all__ = ["image_options", "is_table", "read_table", "refuse_image_options"]

#: Options every command has that mean the same for a table (the run's workers, seed, words, log).
_ANY_INPUT = {"help", "n_jobs", "quiet", "random_state", "verbose", "log_file", "debug", "data_dir", "output",
              "overwrite", "strict", "n_bootstrap"}


def image_options(parser: argparse.ArgumentParser, keep: set[str]) -> dict[str, tuple[str, object]]:
    """``{dest: (flag, default)}`` of the parser's options that a feature table does not take: every one
    except those of any input and ``keep``."""
    return {a.dest: (a.option_strings[0], a.default) for a in parser._actions
            if a.option_strings and a.dest not in _ANY_INPUT | keep and a.default != argparse.SUPPRESS}


def is_table(path: str) -> bool:
    """Whether DATA is a feature table (:func:`featbus.pipelines.tables.is_feature_table`), not images."""
    from pathlib import Path

    if Path(path).suffix.lower() not in (".parquet", ".csv", ".npz"):
        return False
    from ..pipelines.tables import is_feature_table

    return is_feature_table(path)


def refuse_image_options(args, options: dict[str, tuple[str, object]], command: str) -> None:
    """One line naming the options given that only apply to images (their value not the default)."""
    given = list(dict.fromkeys(flag for dest, (flag, default) in options.items()
                               if getattr(args, dest, default) != default))
    if given:
        one = len(given) == 1
        raise CLIError(f"{', '.join(given)} {'applies' if one else 'apply'} to images, and {args.data_dir[0]!r} is a "
                       f"feature table (its columns are the features): drop {'it' if one else 'them'}, or {command} "
                       "on the images")


def read_table(path: str, *, labelled: bool = True):
    """The table (:func:`featbus.pipelines.tables.read_feature_table`), each problem one line; unlabelled rows
    (an empty label: a split published without labels) left out and said, a table without labels refused."""
    from ..pipelines.tables import TableError, read_feature_table

    try:
        table = read_feature_table(path)
    except TableError as exc:
        raise CLIError(str(exc)) from None
    if not labelled:
        return table
    empty = table.labels == ""
    if empty.all():
        raise CLIError(f"{path!r} has no labels (its label column is empty: the images were extracted without "
                       "classes); training and evaluating need labelled rows")
    if empty.any():
        print(f"left out {int(empty.sum())} unlabelled row(s) of {path} (an empty label: a split published "
              f"without labels), the first {table.paths[int(np.flatnonzero(empty)[0])]}", file=sys.stderr)
        table = table.rows(~empty)
    classes = np.unique(table.labels)
    if classes.size < 2:
        raise CLIError(f"{path!r} holds a single class ({classes[0]!r}); a classifier needs at least two")
    return table


def table_lines(table) -> list[str]:
    """What was read, in words: rows, classes, groups, features and the recipe."""
    counts = {str(c): int(np.sum(table.labels == c)) for c in np.unique(table.labels)}
    groups = ("no group column: each row is its own group (a table's rows cannot be compared for "
              "near-duplicates), so near-copies of one image may straddle the folds"
              if table.groups is None else f"{np.unique(table.groups).size} groups")
    recipe = ("its recipe: " + ", ".join(table.recipe["settings"].get("features") or {})
              + " (the model computes them from images too)" if table.recipe is not None
              else f"no recipe ({table.no_recipe}): the model will predict on feature tables only")
    return [f"read the feature table {table.path}: {len(table.labels)} rows {counts}, {groups}; "
            f"{len(table.feature_names)} features, {recipe}"]


def leak_refusal(table, what: str) -> str | None:
    """The line refusing (train) a table whose columns read the data set's ground-truth masks, or None."""
    cols = table.leak.get("columns") or []
    if not cols:
        return None
    why = table.leak.get("why") or "they come from the data set's ground-truth lesion masks"
    marked = "marked 'label_leak' by featbus extract" if table.leak.get("recorded", True) else \
        "of a family that reads a lesion mask"
    return (f"{len(cols)} of {len(table.feature_names)} columns of {str(table.path)!r} (first {cols[0]!r}) are "
            f"{marked}: {why.rstrip('.')}. {what}")


def as_data(table):
    """The table's labels and groups as a data set's Bunch has them (``target``, ``target_names``,
    ``groups``, ``groups_from``, ``paths``), for the checks the commands share with images."""
    from sklearn.utils import Bunch

    from ..pipelines.tables import ROWS_ALONE

    names, target = np.unique(table.labels, return_inverse=True)
    alone = table.groups is None
    return Bunch(target=target, target_names=names, groups=np.arange(len(target)) if alone else table.groups,
                 groups_from=ROWS_ALONE if alone else table.groups_from,
                 paths=list(table.paths), data=table.X)


def given_table(args, command: str) -> bool:
    """Whether DATA is a feature table (``featbus extract``'s): one table alone, else a one-line refusal."""
    tables = [p for p in args.data_dir if is_table(p)]
    if tables and len(args.data_dir) > 1:
        raise CLIError(f"{tables[0]!r} is a feature table: {command} takes one table, or image folders, not both "
                       "or several")
    return bool(tables)


class RowsOf:
    """A model scoring a feature table's rows as :meth:`featbus.FeatbusModel.predict` scores images: its head on
    the columns it reads (:meth:`~featbus.FeatbusModel.predict_feature_table`'s path), deciding at its operating
    point; what :func:`featbus.evaluation.report.evaluate_external` scores the rows ``train --test-fraction``
    held out of a table with."""

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_

    def predict_proba(self, X) -> np.ndarray:
        return np.asarray(self.model.aligned(self.model.head.predict_proba(X)), dtype=float)

    def predict(self, X) -> np.ndarray:
        return self.model.decide(self.predict_proba(X))


def held_rows(table, model):
    """The held-out rows of ``table`` as :func:`as_data` has them, their matrix in the model's columns (``data``)."""
    held = as_data(table)
    held.data = table.columns(model.feature_columns)
    return held
