"""Hugging Face Hub parquet as ``push_to_hub`` writes it: ``data/<split>-00000-of-00001.parquet``
whose ``image`` column is a struct of the encoded file's ``bytes`` and its ``path``, an integer
``label`` column, and a ``README.md`` dataset card whose YAML ``dataset_info`` gives the label's
``class_label`` names (``names: {'0': benign, ...}``).

Each row is an image (:class:`~featbus.datasets.sources._refs.ArrayRow`,
``data/train-00000-of-00001.parquet!image[12]``); its class is the label's name from the card's
``dataset_info``, else from the parquet's own metadata (the ``huggingface`` key of its schema),
else its number (said); its split from the file's name (``train-00000-of-00001``) or folder. The
hub gives no patients: the file names its structs keep (``path``) go through the patient rules of files
on disk (a ``PREFIX_NUMBER`` prefix), else each image is its own. A parquet file without such an image
column is left to the table reader (an ``imagefolder``'s ``metadata.parquet``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ...io import MAX_ROWS, limit_words
from .._release_rules import folder_split, split_of
from .._release_tables import SourceError
from ._base import Entry, SourceRead
from ._refs import ArchiveError, ArrayRow, parquet_column
from .yolo import bounded_text, bounded_yaml

__all__ = ["NAME", "read", "recognise"]

NAME = "Hugging Face parquet"


def recognise(files: list[Path]) -> list[Path]:
    """The ``.parquet`` files named as hub shards (``<split>-00000-of-00001.parquet``), their image column
    checked when read (an imagefolder's ``metadata.parquet`` stays a table)."""
    return [f for f in files if f.suffix.lower() == ".parquet" and re.fullmatch(r"[\w.]+-\d{5}-of-\d{5}", f.stem)]


def _card_names(root: Path, file: Path) -> tuple[dict[str, dict[int, str]], str | None, str | None]:
    """``({feature: {number: name}}, card, why not read)`` from the ``README.md`` dataset card nearest
    above ``file``; its YAML front matter read within bounds (:func:`featbus.pipelines._yaml.read_yaml`): one
    that does not parse, or is refused, names no classes and says why."""
    folder = next((f for f in [file.parent, *file.parent.parents] if (root / f / "README.md").is_file()), None)
    if folder is None:
        return {}, None, None
    card, where = root / folder / "README.md", (folder / "README.md").as_posix()
    try:
        text = bounded_text(card, "MAX_JSON_BYTES")
        if not text.startswith("---"):
            return {}, None, None
        meta = bounded_yaml(text.split("\n---", 1)[0][3:], "its YAML front matter") or {}
    except SourceError as exc:
        return {}, where, str(exc)
    infos = meta.get("dataset_info") if isinstance(meta, dict) else None
    infos = infos if isinstance(infos, list) else [infos] if isinstance(infos, dict) else []
    names: dict[str, dict[int, str]] = {}
    for info in infos:
        for feature in (info or {}).get("features") or []:
            dtype = feature.get("dtype") if isinstance(feature, dict) else None
            label = dtype.get("class_label") if isinstance(dtype, dict) else None
            given = label.get("names") if isinstance(label, dict) else None
            if isinstance(given, (dict, list)):  # {'0': benign, ...} or [benign, ...]
                pairs = given.items() if isinstance(given, dict) else enumerate(given)
                names[str(feature.get("name"))] = {int(k): str(v) for k, v in pairs}
    return names, where, None


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal") -> SourceRead:
    """The rows of ``file``, each an image with its class and split."""
    got = SourceRead(file, claims_images=True)
    path = Path(os.path.abspath(root / file))
    where = file.as_posix()
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)  # the image column: a struct with a ``bytes`` field (the hub's ``Image`` feature)
    column = next((f.name for f in schema if pa.types.is_struct(f.type) and "bytes" in [g.name for g in f.type]),
                  None)
    if column is None:
        got.not_used, got.claims_images = "no image column (a struct of the images' bytes)", False
        return got
    meta = pq.ParquetFile(path).metadata
    n = meta.num_rows
    if n > MAX_ROWS:
        got.not_used = f"{n:,} rows, more than {limit_words('MAX_ROWS')}"
        return got
    card, card_file, card_problem = _card_names(root, file)
    if card_problem:
        got.notes.append(f"The dataset card {card_file} names no classes: {card_problem}.")
    try:  # {feature: {number: name}} from the parquet's own ``huggingface`` schema metadata
        features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    except (ValueError, KeyError, TypeError):
        features = {}
    own = {k: dict(enumerate(map(str, v["names"]))) for k, v in features.items()
           if isinstance(v, dict) and v.get("_type") == "ClassLabel" and isinstance(v.get("names"), list)}
    label = next((c for c in (*card, *own) if c in schema.names), None) or next(  # named classes, else by name
        (c for c in schema.names if c.lower() in ("label", "labels", "class")), None)
    names = card.get(label) or own.get(label) or {}
    values = parquet_column(path, label) if label is not None else [None] * n
    split = split_of(file.stem.split("-")[0]) or folder_split(file) or None
    cells = parquet_column(path, column)
    # the file name each row's image struct keeps (its path's last part), read alone and only within
    # MAX_JSON_BYTES: names for every row, or the rows alone
    try:
        paths = parquet_column(path, column, "path", "MAX_JSON_BYTES")
    except ArchiveError:
        paths = []
    kept = [str(p).replace("\\", "/").rsplit("/", 1)[-1] or None if p else None for p in paths]
    kept = kept if kept and all(kept) else [None] * n
    for i, value in enumerate(values):
        if not cells[i]:
            got.out(f"{where}!{column}[{i}]", "unreadable", "no image bytes in the row")
            continue
        name = None if value is None else names.get(int(value)) if names else str(value)
        if value is not None and name is None:
            got.out(f"{where}!{column}[{i}]", "bad annotation", f"label {value!r} is none of {sorted(names)}")
            continue
        got.entries.append(Entry(ArrayRow(path, column, i), name, (), None if kept[i] else f"{file.stem}[{i}]",
                                 split, row={label: value} if label else None, name=kept[i]))
    if card.get(label):
        got.class_source = f"the class_label names of {label!r} in {card_file}'s dataset_info"
    elif own.get(label):
        got.class_source = f"the ClassLabel names of {label!r} in the huggingface metadata of {{file}}"
    elif label is not None:
        got.class_source = f"the numbers of the {label!r} column of {{file}} (no names given: classes by number)"
        got.notes.append(f"{where} names no classes for its {label!r} column: read as class numbers.")
    got.patient_source, got.patient_detail = "one per image", "the hub's rows give no patients"
    return got
