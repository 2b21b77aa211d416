"""MedMNIST's ``.npz`` files (``breastmnist_224.npz``: ``train_images``, ``train_labels``, ``val_*``,
``test_*``) and any ``.npz`` of ``<split>_images`` / ``<split>_labels`` arrays: one image per row of
an ``*_images`` array (:class:`~featbus.datasets.sources._refs.ArrayRow`, ``breastmnist_224.npz!train_images[12]``),
its label from the same row of the ``*_labels`` array, its split from the arrays' prefix.

A MedMNIST set known by its file name has its documented label names (medmnist's ``INFO``:
BreastMNIST's 0 is ``malignant``, 1 ``normal, benign``); another ``.npz`` has its classes by number,
said. MedMNIST gives no patients: each image is its own (commands group near-duplicate images). The
arrays are read whole, once, never unpickled, each within :data:`featbus.io.MAX_ARRAY_BYTES`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...io import MAX_ARRAY_BYTES, limit_words
from .._release_rules import split_of
from ._base import Entry, SourceRead
from ._refs import ArchiveError, ArrayRow, load_array, npz_arrays

__all__ = ["MEDMNIST_LABELS", "NAME", "SUFFIXES", "read", "recognise"]

NAME = "arrays (.npz)"
SUFFIXES = (".npz",)

#: The label names medmnist's ``INFO`` documents, by data set (the file's name before ``_<size>``).
MEDMNIST_LABELS = {"breastmnist": {0: "malignant", 1: "normal, benign"}}


def recognise(files: list[Path]) -> list[Path]:
    """Every ``.npz``: one without ``*_images`` arrays is said (:func:`read`)."""
    return [f for f in files if f.suffix.lower() == ".npz"]


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal") -> SourceRead:
    """The rows of the file's ``*_images`` arrays, labelled by the ``*_labels`` arrays."""
    got = SourceRead(file, claims_images=True)
    path = Path(os.path.abspath(root / file))
    where = file.as_posix()
    try:
        arrays = npz_arrays(path)
    except ArchiveError as exc:
        got.not_used = str(exc)
        return got
    prefixes = sorted((k[: -len("_images")] for k in arrays if k.endswith("_images")),
                      key=lambda p: ({"train": 0, "valid": 1, "test": 2}.get(split_of(p) or "", 3), p))
    if not prefixes:
        got.not_used = f"no *_images array (its arrays: {', '.join(sorted(arrays)[:6]) or 'none'})"
        return got
    known = MEDMNIST_LABELS.get(path.stem.lower().split("_")[0])
    for prefix in prefixes:
        key = f"{prefix}_images"
        shape = arrays[key][0]
        if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3, 4)):
            got.out(f"{where}!{key}", "not an image", f"an array of shape {shape}, not (images, height, width[, "
                    "channels])")
            continue
        nbytes = int(np.prod(shape, dtype=np.float64)) * np.dtype(arrays[key][1]).itemsize
        if nbytes > MAX_ARRAY_BYTES:  # one line for the array, never a line per row it promises
            got.out(f"{where}!{key}", "too large", f"its header promises {shape[0]:,} images of "
                    f"{'x'.join(map(str, shape[1:]))} ({nbytes:,} bytes), more than {limit_words('MAX_ARRAY_BYTES')}: "
                    "never read")
            continue
        labels, lkey = None, f"{prefix}_labels"  # one integer class a row, (n,) or (n, 1), else unlabelled, said
        if lkey not in arrays:
            got.notes.append(f"{where} has no {lkey} array: its images are unlabelled.")
        elif arrays[lkey][0] not in ((shape[0],), (shape[0], 1)) or np.dtype(arrays[lkey][1]).kind not in "iub":
            got.notes.append(f"{where}'s {lkey} is {arrays[lkey][0]} of {np.dtype(arrays[lkey][1])}, not one class "
                             "number per image (a multi-label set?): its images are unlabelled.")
        else:
            labels = np.asarray(load_array(path, lkey)).reshape(-1)
        split = split_of(prefix) or None
        for i in range(shape[0]):
            value = None if labels is None else int(labels[i])
            name = None if value is None else known.get(value) if known else str(value)
            if value is not None and name is None:
                got.out(f"{where}!{key}[{i}]", "bad annotation", f"label {value} is none of {sorted(known)}")
                continue
            got.entries.append(Entry(ArrayRow(path, key, i), name, (), f"{prefix}[{i}]", split,
                                     row={"array": key, "index": i, **({"label": value} if value is not None else {})}))
    numbered = sorted({e.row["label"] for e in got.entries if "label" in e.row})
    if known is not None:
        got.class_source = ("MedMNIST's documented label names of {file} ("
                            + ", ".join(f"{k}: {v!r}" for k, v in known.items()) + ")")
    elif numbered:
        got.class_source = "the numbers of the *_labels arrays of {file} (no names given: classes by number)"
        got.notes.append(f"{where} names no classes: its labels read as class numbers "
                         f"{', '.join(map(str, numbered))}.")
    got.patient_source, got.patient_detail = "one per image", "the arrays give no patients"
    return got

