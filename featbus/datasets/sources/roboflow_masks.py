"""Roboflow's "Semantic Segmentation Masks" export as a release's source (:mod:`featbus.datasets.sources`):
``<split>/<name>.jpg`` beside ``<name>_mask.png``, whose pixel values are the classes, and ``_classes.csv`` in
each split naming them (``Pixel Value, Class``: ``0, background``, ``1, benign``, ``2, malignant``).

Every split's ``_classes.csv`` is read as one source, the first said for all. An image's class is the class of
its mask's values other than the background (one class; a mask of two: left out, named; a mask of none: a scan
without a lesion, ``normal``, said, ``unannotated="leave out"`` leaving it out); its mask is the mask file (every
value but the background's the lesion). A value no row names leaves its image out, named. The split is the folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...io import read_image
from .._release_rules import folder_split
from .._release_scan import split_masks
from .._release_tables import SourceError
from ._base import AS_NORMAL, SourceRead
from ._screening import column, columns, header_row, table

__all__ = ["NAME", "read", "recognise"]

NAME = "Roboflow semantic masks"
#: ``_classes.csv``'s columns in this export (its classification export's ``_classes.csv`` is one-hot).
COLUMNS = ("Pixel Value", "Class")


def recognise(files: list[Path], root: Path) -> list[Path]:
    """Each ``_classes.csv`` of the columns :data:`COLUMNS`, in path order."""
    want = {"pixelvalue", "class"}
    return sorted((f for f in files if f.name.casefold() == "_classes.csv" and columns(header_row(root, f)) == want),
                  key=lambda f: f.as_posix())


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal", *,
         recognised: list[Path] = ()) -> SourceRead:
    """The images of every split (``recognised``, else ``file`` alone) whose ``<name>_mask`` lies beside them,
    each with the class of its mask's values, said as read from ``file``."""
    files = list(recognised) or [file]
    got = SourceRead(file, claims_images=True,
                     said_as=f"the Roboflow mask export ({', '.join(f.as_posix() for f in files)})")
    by_folder: dict[Path, tuple[dict[int, str], set[int]]] = {}  # each split's classes and background values
    for f in files:
        header, rows, _ = table(root, f, COLUMNS)
        c_value, c_class = column(header, COLUMNS[0]), column(header, COLUMNS[1])
        try:
            names = {int(row[c_value]): row[c_class].strip() for _, row in rows}
        except ValueError:
            raise SourceError(f"{f.as_posix()}: a 'Pixel Value' that is no whole number") from None
        by_folder[f.parent] = names, {v for v, name in names.items() if v == 0 or name.casefold() == "background"}
    scans, masks_of, _, _ = split_masks([f for f in images or () if f.parent in by_folder], None)
    normal = 0
    for img in scans:
        mask = next((m for m, _ in masks_of.get(img, ())), None)  # its <name>_mask beside it (split's files only)
        if mask is None:
            continue
        names, background = by_folder[img.parent]
        try:
            stored = read_image(root / mask, mode="unchanged", dicom_window=False)  # within the pixel budget
            values = {int(v) for v in np.unique(stored)} - background
        except (OSError, ValueError) as exc:  # ImageError is a ValueError
            got.out(img.as_posix(), "unreadable", f"its mask {mask.as_posix()}: {exc}")
            continue
        unnamed = sorted(values - set(names))
        if unnamed:
            got.out(img.as_posix(), "bad annotation", f"its mask {mask.as_posix()} holds value(s) {unnamed} that "
                    f"{(img.parent / '_classes.csv').as_posix()} names no class")
            continue
        if got.annotated(img, {names[v] for v in values}, unannotated, f"its mask {mask.as_posix()} holds the classes",
                         f"its mask {mask.as_posix()} is empty", mask, split=folder_split(img) or None):
            normal += not values
    return got.close("the class of each mask's pixel values, named by _classes.csv", "<name>_mask beside the image, "
                     "every value but the background's the lesion",
                     normal and f"{normal} image(s) whose mask holds only the background {AS_NORMAL}")
