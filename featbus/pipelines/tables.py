"""Reading back the feature table ``featbus extract`` writes (Parquet, CSV or NPZ), for training on it.

``featbus extract DATA -f ... -o features.parquet`` writes one row per image: ``path``, ``label``,
``target``, ``group``, the data set's own descriptive columns, then one column per feature. The table
also records how its features were made, its *recipe* (:func:`table_recipe`): the extractors with every
parameter, the region and the preprocessing steps (the settings record of
:mod:`featbus.pipelines.settings`) and the feature names. It travels in the table itself (Parquet: the
pandas metadata, ``DataFrame.attrs["featbus"]["recipe"]``; NPZ: the ``recipe`` key, JSON text) and in
the settings sidecar ``<table>.settings.json`` (its ``columns`` entry), which is where a CSV keeps it:
a CSV has no metadata, so a CSV copied without its sidecar is a table without a recipe.

:func:`read_feature_table` reads a table back into a :class:`FeatureTable`: the matrix, the feature
names, the labels, the groups (``group``: patients or near-duplicate groups, as the folds of training
on the images keep them whole), the paths, the columns marked as read from the data set's ground-truth
masks (``label_leak``) and the recipe. A model trained on it with its recipe rebuilds the same
extractors, so it predicts on images; without one (a table made elsewhere, a CSV without its sidecar,
features of a segmenter's crops) the model predicts on tables only (:class:`TableColumns`).

Every problem is a :class:`TableError` (a ``ValueError``) whose message is one line naming the file
and, where there is one, the row or the column.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["FeatureTable", "TableColumns", "TableError", "TABLE_SUFFIXES", "RECIPE_KEY", "LEAK_KEY",
           "is_feature_table", "read_feature_table", "table_recipe", "recipe_extractors"]

#: The formats ``featbus extract`` writes.
TABLE_SUFFIXES = (".parquet", ".csv", ".npz")
#: Where a table keeps its recipe: the Parquet metadata's and the sidecar's key, the NPZ's key.
RECIPE_KEY = "recipe"
#: The columns computed from the data set's ground-truth lesion masks (``featbus extract``'s record).
LEAK_KEY = "label_leak"
#: The table's own leading columns (``featbus extract``), before the passed-through ones and the features.
TABLE_COLUMNS = ("path", "label", "target", "group")
#: What the groups are where a table has none: each row its own (``Bunch.groups_from``'s words).
ROWS_ALONE = "each row alone: the table has no group column"
#: The largest recipe read from a table (JSON text): a recipe is a few kilobytes plus the feature names.
MAX_RECIPE_BYTES = 16 * 2**20


class TableError(ValueError):
    """A feature table that cannot be used; the message names the file and the row or column."""


@dataclasses.dataclass
class FeatureTable:
    """A feature table read back (:func:`read_feature_table`).

    Attributes
    ----------
    path : Path
    X : ndarray of shape (n_rows, n_features)
    feature_names : list of str
    labels : ndarray of str
        Each row's class name (``""``: unlabelled).
    groups : ndarray or None
        The rows' groups (``group`` column), kept whole by the folds; ``None``: the table has none.
    paths : list of str
        Each row's image (``path`` column; the row number when the table has none).
    leak : dict
        ``{"columns": [...], "why": "...", "recorded": bool}``: the columns read from ground-truth masks, as
        ``featbus extract`` recorded them (``label_leak``), or, where the table records nothing, the columns
        of the families that read a mask (``recorded`` False).
    recipe : dict or None
        ``{"settings": settings record, "feature_names": [...], "images": {...}}``; ``None``: no recipe.
        ``images`` (``featbus extract``'s, where it recorded one): ``{"profile": ..., "from": ...}``, the
        profile of the images it described (:func:`featbus.model.domain.profile_of`), or ``{"why": ...}``.
    no_recipe : str
        Why there is none (empty when there is one).
    groups_from : str or None
        What the groups are (a data set's patients: ``Bunch.groups_from``), as extract recorded it; None:
        near-duplicate groups featbus formed.
    extra : dict
        The table's other columns, neither its own (``path``, ``label``, ``target``, ``group``) nor features:
        the data set's columns ``featbus extract`` passed through (a manifest's ``site``, BUS-BRA's ``Device``),
        column -> one text value a row (``""``: empty), which ``featbus validate --subgroup`` tabulates by.
    """

    path: Path
    X: np.ndarray
    feature_names: list
    labels: np.ndarray
    groups: np.ndarray | None
    paths: list
    leak: dict
    recipe: dict | None
    no_recipe: str = ""
    groups_from: str | None = None
    extra: dict = dataclasses.field(default_factory=dict)

    def rows(self, keep) -> FeatureTable:
        """The table's rows ``keep`` (indices or a boolean mask)."""
        keep = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep, dtype=int)
        return dataclasses.replace(self, X=self.X[keep], labels=self.labels[keep],
                                   groups=None if self.groups is None else self.groups[keep],
                                   paths=[self.paths[i] for i in keep],
                                   extra={c: [v[i] for i in keep] for c, v in self.extra.items()})

    def columns(self, names) -> np.ndarray:
        """The matrix with the columns ``names``, in that order; a missing one is refused, the first named."""
        index = {n: j for j, n in enumerate(self.feature_names)}
        missing = [n for n in names if n not in index]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise TableError(f"{str(self.path)!r} lacks the feature column {missing[0]!r}{more} of the model: "
                             "its features differ from those the model was trained on (featbus extract with the "
                             "model's features makes a table it takes)")
        return self.X[:, [index[n] for n in names]]


def table_recipe(union, *, region: str | None, preprocess: list[str] | None, names, command: str | None = None,
                 with_names: bool = True) -> dict[str, Any]:
    """The recipe a feature table records: the settings record of the fitted extractors
    (:func:`featbus.pipelines.settings.settings_record`) and, with ``with_names``, the feature names.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.pipelines import make_features
    >>> union = make_features(["intensity"]).fit([np.zeros((32, 32), np.uint8)])
    >>> names = union.get_feature_names_out().tolist()
    >>> r = table_recipe(union, region=None, preprocess=[], names=names)
    >>> sorted(r), list(r["settings"]["features"]), r["feature_names"] == names
    (['feature_names', 'settings'], ['intensity'], True)
    """
    from .settings import settings_record

    record = settings_record(union, region=region, preprocess=preprocess, command=command)
    return {"settings": record, **({"feature_names": [str(n) for n in names]} if with_names else {})}


def recipe_extractors(recipe: dict, source: str = "the table's recipe") -> tuple[list, str | None, list[str]]:
    """The extractors, region and preprocessing steps a recipe names, checked as a settings file is
    (:func:`featbus.pipelines.settings.check_settings`): ``(pairs, region, preprocess)``."""
    from .settings import SettingsError, check_settings, settings_extractors

    try:
        settings = check_settings(dict(recipe.get("settings") or {}), source=source)
        return settings_extractors(settings), settings["region"], settings["preprocess"]
    except SettingsError as exc:
        raise TableError(str(exc)) from None


def is_feature_table(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a feature table rather than a data set: a ``.parquet`` file without encoded
    images (no struct or binary column: not a Hugging Face release), an ``.npz``
    holding ``X`` and ``feature_names``, or a ``.csv`` whose header has no image column but a ``label``
    column beside numeric ones written by ``featbus extract`` (``path``, ``label``, ``target``,
    ``group`` first) or a settings sidecar beside it.

    Examples
    --------
    >>> is_feature_table("no-such-file.parquet"), is_feature_table("images/")
    (False, False)
    """
    p = Path(path)
    if not p.is_file():
        return False
    suffix = p.suffix.lower()
    if suffix == ".parquet":  # not a release of encoded images (a Hugging Face parquet: a struct of bytes)
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq

            return not any(pa.types.is_struct(f.type) or pa.types.is_binary(f.type) for f in pq.read_schema(p))
        except ImportError:
            return True  # reading it says what to install
        except (OSError, ValueError):
            return True  # reading it says what is wrong, in one line
    if suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                return {"X", "feature_names"} <= set(z.files)
        except (OSError, ValueError):
            return False
    if suffix == ".csv":
        try:
            with open(p, encoding="utf-8", errors="replace") as f:
                header = f.readline(1 << 20).strip().split(",")
        except OSError:
            return False
        head = [h.strip().strip('"') for h in header]
        return head[:4] == list(TABLE_COLUMNS) and len(head) > 4
    return False


def _json(text: str, where: str) -> Any:
    if len(text) > MAX_RECIPE_BYTES:
        raise TableError(f"{where}: the recipe is larger than {MAX_RECIPE_BYTES // 2**20} MiB")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TableError(f"{where}: the recipe is not valid JSON ({exc})") from None


def _sidecar(path: Path) -> dict:
    """The ``columns`` entry of the table's settings sidecar (empty when there is none)."""
    from .settings import MAX_FILE_BYTES, SETTINGS_SUFFIX

    side = path.with_name(path.name + SETTINGS_SUFFIX)
    if not side.is_file():
        return {}
    with open(side, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise TableError(f"{str(side)!r} is larger than {MAX_FILE_BYTES // 1024} KiB (a settings sidecar is a few)")
    record = _json(data.decode("utf-8", errors="replace"), repr(str(side)))
    if not isinstance(record, dict):
        return {}
    columns = dict(record.get("columns")) if isinstance(record.get("columns"), dict) else {}
    mark = columns.get(RECIPE_KEY)
    if isinstance(mark, dict) and "why" not in mark:  # the sidecar is itself the settings record: the recipe
        columns[RECIPE_KEY] = {"settings": {k: v for k, v in record.items() if k != "columns"},
                               **({"images": mark["images"]} if "images" in mark else {})}
    elif isinstance(mark, dict):
        columns[RECIPE_KEY] = {"settings": None, "why": mark["why"]}
    return columns


def _read_npz(path: Path) -> tuple[dict, np.ndarray, list, dict]:
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            X = np.asarray(z["X"], dtype=float)
            names = [str(n) for n in z["feature_names"]]
            n = X.shape[0] if X.ndim == 2 else 0
            target = np.asarray(z["target"]).astype(int) if "target" in files else None
            target_names = [str(t) for t in z["target_names"]] if "target_names" in files else []
            meta = {"path": [str(p) for p in z["paths"]] if "paths" in files else None,
                    "group": np.asarray(z["groups"]) if "groups" in files else None}
            if {"extra_columns", "extra_values"} <= files:  # the data set's columns passed through (text)
                columns, values = [str(c) for c in z["extra_columns"]], np.asarray(z["extra_values"]).astype(str)
                if columns and values.shape == (n, len(columns)):
                    meta["extra"] = {c: values[:, j].tolist() for j, c in enumerate(columns)}
            if target is not None:
                if target.shape != (n,) or (target >= len(target_names)).any():
                    raise TableError(f"{str(path)!r}: its target does not fit its rows and target_names")
                meta["label"] = [target_names[t] if t >= 0 else "" for t in target]
            elif "labels" in files:
                meta["label"] = [str(v) for v in z["labels"]]
            entry: dict = {}
            if LEAK_KEY in files:
                entry[LEAK_KEY] = {"columns": [str(c) for c in z[LEAK_KEY]]}
            if "groups_from" in files:
                entry["groups_from"] = _json(str(z["groups_from"][()]), repr(str(path)))
            if RECIPE_KEY in files:
                entry[RECIPE_KEY] = _json(str(z[RECIPE_KEY][()]), repr(str(path)))
    except TableError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise TableError(f"{str(path)!r} cannot be read as a feature table: {exc}") from None
    if X.ndim != 2 or X.shape[1] != len(names):
        raise TableError(f"{str(path)!r}: X has shape {X.shape}, but {len(names)} feature names")
    return meta, X, names, entry


def _read_frame(path: Path) -> tuple[dict, np.ndarray, list, dict]:
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
            entry = dict((frame.attrs or {}).get("featbus") or {})
        else:
            frame = pd.read_csv(path, low_memory=False)
            entry = {}
    except ImportError as exc:
        raise TableError(f"reading {str(path)!r} needs pyarrow (pip install 'featbus[parquet]')") from exc
    except Exception as exc:  # noqa: BLE001  (pandas' and pyarrow's many error types: one line)
        raise TableError(f"{str(path)!r} cannot be read as a feature table: "
                         f"{' '.join(str(exc).split())[:300]}") from None
    for key, value in _sidecar(path).items():
        entry.setdefault(key, value)
    recipe = entry.get(RECIPE_KEY) if isinstance(entry.get(RECIPE_KEY), dict) else None
    named = [str(n) for n in (recipe or {}).get("feature_names") or []]
    if named:
        missing = [n for n in named if n not in frame.columns]
        if missing:
            raise TableError(f"{str(path)!r} lacks the feature column {missing[0]!r} its recipe names")
        names = named
    else:  # the numeric columns that are not the table's own
        names = [str(c) for c in frame.columns if c not in TABLE_COLUMNS and pd.api.types.is_numeric_dtype(frame[c])
                 and not pd.api.types.is_bool_dtype(frame[c])]
    features = set(names)
    meta = {"path": frame["path"].astype(str).tolist() if "path" in frame else None,
            "group": frame["group"].to_numpy() if "group" in frame else None,
            "label": (frame["label"].fillna("").astype(str).tolist() if "label" in frame else None),
            "extra": {str(c): frame[c].fillna("").astype(str).tolist() for c in frame.columns
                      if c not in TABLE_COLUMNS and str(c) not in features}}
    bad = [n for n in names if not pd.api.types.is_numeric_dtype(frame[n])]
    if bad:
        raise TableError(f"{str(path)!r}: the feature column {bad[0]!r} holds text, not numbers")
    X = frame[names].to_numpy(dtype=float) if names else np.zeros((len(frame), 0))
    return meta, X, names, entry


def _unrecorded_leak(names: list[str]) -> dict:
    """Where a table records nothing of its columns (a CSV without its sidecar, a table made elsewhere):
    the columns of the families that read a lesion mask (``shape__...``: :func:`featbus._registry.reads_masks`),
    marked, since whatever masks they read, a new image comes without one."""
    from .._registry import FEATURES, reads_masks

    families = {n.split("__", 1)[0] for n in names if "__" in n}
    reading = {f for f in families if f in FEATURES and reads_masks([f], "image")}
    columns = [n for n in names if n.split("__", 1)[0] in reading]
    if not columns:
        return {"columns": []}
    return {"columns": columns, "recorded": False,
            "why": f"the {', '.join(sorted(reading))} columns describe a lesion mask (the table "
                                       "records nothing of where its masks came from: a data set's are its ground "
                                       "truth)"}


def read_feature_table(path: str | os.PathLike) -> FeatureTable:
    """Read a feature table (``featbus extract``'s Parquet, CSV or NPZ, or one made elsewhere with a
    ``label`` column and numeric feature columns).

    Parameters
    ----------
    path : path

    Returns
    -------
    FeatureTable

    Raises
    ------
    TableError
        One line: the file cannot be read, has no feature column, a NaN or infinite feature (the row
        named), a recipe that is not valid settings.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "t.npz")
    >>> np.savez(p, X=np.eye(2), feature_names=np.array(["a__x", "a__y"]), target=np.array([0, 1]),
    ...          target_names=np.array(["benign", "malignant"]), groups=np.array([0, 1]))
    >>> t = read_feature_table(p)
    >>> t.feature_names, t.labels.tolist(), t.recipe is None
    (['a__x', 'a__y'], ['benign', 'malignant'], True)
    """
    p = Path(path)
    if not p.is_file():
        raise TableError(f"feature table {str(p)!r} does not exist")
    if p.suffix.lower() not in TABLE_SUFFIXES:
        raise TableError(f"{str(p)!r}: a feature table is .parquet, .csv or .npz (featbus extract -o)")
    meta, X, names, entry = (_read_npz if p.suffix.lower() == ".npz" else _read_frame)(p)
    n = X.shape[0]
    if not names:
        raise TableError(f"{str(p)!r} has no numeric feature column")
    bad_rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
    paths = meta["path"] if meta.get("path") is not None else [f"row {i + 1}" for i in range(n)]
    if bad_rows.size:
        i = int(bad_rows[0])
        j = int(np.flatnonzero(~np.isfinite(X[i]))[0])
        more = f" ({bad_rows.size} rows have one)" if bad_rows.size > 1 else ""
        raise TableError(f"{str(p)!r}: row {i + 1} ({paths[i]}) has {X[i, j]} in the feature {names[j]!r}{more}; "
                         "fix or remove such rows (featbus extract --on-error skip leaves unusable images out)")
    labels = np.asarray(meta["label"] if meta.get("label") is not None else [""] * n, dtype=object).astype(str)
    groups = meta.get("group")
    recipe = entry.get(RECIPE_KEY) if isinstance(entry.get(RECIPE_KEY), dict) else None
    no_recipe = ""
    if recipe is None:
        no_recipe = ("a CSV keeps its recipe in its settings sidecar, and none is beside it" if p.suffix.lower() ==
                     ".csv" else "made elsewhere, or by an older featbus")
    elif recipe.get("settings") is None:
        no_recipe, recipe = str(recipe.get("why") or "none recorded"), None
    leak = entry.get(LEAK_KEY) if isinstance(entry.get(LEAK_KEY), dict) else _unrecorded_leak(names)
    leak = {"columns": [str(c) for c in leak.get("columns") or []], "recorded": leak.get("recorded", True) is True,
            **({"why": str(leak["why"])} if leak.get("why") else {})}
    if groups is not None:
        groups = np.asarray(groups)
        if groups.dtype == object and any(g is None or (isinstance(g, float) and np.isnan(g)) for g in groups):
            groups = None  # a column without values: no groups
    if "groups_from" in entry:
        groups_from = entry["groups_from"] if isinstance(entry["groups_from"], str) else None
    else:  # a table made elsewhere: its column, named for what it is
        groups_from = f"the 'group' column of {p.name}"
    return FeatureTable(path=p, X=X, feature_names=names, labels=labels, groups=groups, paths=list(paths),
                        leak=leak, recipe=recipe, no_recipe=no_recipe, groups_from=groups_from,
                        extra=dict(meta.get("extra") or {}))


class TableColumns(TransformerMixin, BaseEstimator):
    """The feature part of a model trained on a feature table without a recipe: it knows the
    columns, not how to compute them from an image, so it refuses images (one line saying why).

    Parameters
    ----------
    columns : list of str
        The feature columns the model was trained on, in order.
    why : str, default=""
        Why the table had no recipe.
    """

    def __init__(self, columns=(), why: str = ""):
        self.columns = columns
        self.why = why

    def fit(self, X=None, y=None):
        self.feature_names_out_ = np.asarray(list(self.columns), dtype=object)
        return self

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(list(self.columns), dtype=object)

    def transform(self, X):
        raise ValueError("this model was trained on a feature table without its recipe (" + (self.why or "none "
                         "recorded") + "): it cannot compute its features from images; give it a feature table "
                         "with its columns (featbus extract ... -o TABLE), or train on a table featbus extract "
                         "wrote with its recipe")
