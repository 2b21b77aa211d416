"""A hospital's export as downloaded: an image folder, a mask folder of the same file names (optional; RGB
or gray) and a table naming each image's label (and patient; CSV, ``,`` ``;`` or tab, a BOM is fine, or
Excel), read as one labelled data set: the layouts in the user guide's "Your hospital's export".

An export is one shape of release: :func:`load_export` is a thin user of
:func:`featbus.datasets.read_release` (the table, its image, label and patient columns, the masks
worked out from the files and said), stricter only in that a row naming no image is an error.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.utils import Bunch

from ..vocabulary import MASK_FOLDER, WORKING_LAYOUTS
from ._common import IMAGE_EXTENSIONS, _check_loader_choices
from ._release_rules import mask_parts
from ._release_scan import one_level_down
from .release import read_release
from .sources.folders import masks_not_a_class

__all__ = ["load_export", "refuse_no_class_folders"]


def refuse_no_class_folders(root: Path, extensions: tuple[str, ...]) -> None:
    """Refuse, saying what it holds, a folder read as class folders that has none, or two of whose sub-folders
    are images and masks (nothing labels them): their files pair one to one (the same stems, ``a_mask`` naming
    ``a``) and the masks' folder says so by its name, else holds mask-like images where the other does not
    (class folders may share file names: 1.png, 2.png... in each)."""
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not subdirs:
        raise ValueError(f"{str(root)!r} has no class sub-folders (expected root/<class>/<image>): "
                         f"{one_level_down(root, None, extensions)}; featbus reads {WORKING_LAYOUTS}")
    files = {d: [f for f in d.iterdir() if f.is_file() and not f.name.startswith(".")
                 and f.suffix.lower() in IMAGE_EXTENSIONS] for d in subdirs}
    stems = {d: {f.stem.casefold() for f in files[d]} for d in subdirs}
    as_masks = {d: {(mask_parts(f.stem) or (f.stem,))[0].casefold() for f in files[d]} for d in subdirs}
    for a, b in itertools.combinations(subdirs, 2):
        for images, masks in ((a, b), (b, a)):
            if len(stems[images]) < 2 or stems[images] != as_masks[masks]:
                continue
            if MASK_FOLDER.search(masks.name) or (not MASK_FOLDER.search(images.name)
                                                  and _mask_like(files[masks]) and not _mask_like(files[images])):
                raise ValueError(masks_not_a_class(masks.name, images.name))


def _mask_like(files: list[Path]) -> bool:
    """Whether the first of ``files`` looks like a mask: at most two grey levels, or a colour mask (a few
    colours, black among them: one colour per class on a black background)."""
    first = min(files, default=None)
    if first is None:
        return False
    try:
        with Image.open(first) as im:
            pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    except (OSError, ValueError):
        return False
    colours = np.unique(pixels[:: max(1, len(pixels) // 65536)], axis=0)
    return len(colours) <= 2 or (len(colours) <= 8 and bool((colours == 0).all(axis=1).any()))


def load_export(root: str | os.PathLike, *, image_column: str | None = None, label_column: str | None = None,
                group_column: str | None = None, group_pattern: str | None = None,
                classes: Sequence[str] | None = None, on_error: str = "raise", require_labels: bool = True,
                duplicate_threshold: int | None = None, n_jobs: int | None = None) -> Bunch:
    """Load a hospital's export: an image folder, an optional mask folder of the same file names and
    a table naming each image's label and patient.

    Parameters
    ----------
    root : path
        The export's folder (the table, CSV or Excel, beside ``images/`` and ``masks/``, or
        ``original/`` and ``GT/``...).
    image_column, label_column, group_column : str, optional
        The table's columns (any case); default: as :func:`featbus.datasets.read_release` finds
        them (the column naming the images by its values); for the label, the one column whose values are the classes
        (``classes``, else benign / malignant / normal) first, said in one line (a warning) with
        the other candidates. With no patient column, the file names' ``PREFIX_NUMBER`` prefix
        is the patient where the names have that shape (said in one line,
        :mod:`featbus.datasets.name_groups`), else images are grouped as near-duplicates (a
        warning says so).
    group_pattern : str, optional
        A regular expression searched in each image's file name without extension: its first
        group (or the whole match) is the patient, over a patient column or a proposed prefix.
        A name it does not match is an error naming it.
    classes : sequence of str, optional
        The expected classes, in this order; a label that is none of them (ignoring case and
        surrounding spaces) is refused before any image is read.
    on_error : {"raise", "skip"}, default="raise"
        What an unreadable image does. A mask that does not fit its image is always dropped with a
        warning naming it (the image is kept, without a mask).
    require_labels : bool, default=True
        ``False``: a table without a label column reads as unlabelled.
    duplicate_threshold, n_jobs
        See :func:`featbus.datasets.load_image_folder`.

    Returns
    -------
    data : Bunch
        The common layout; labels are written in lower case ('Benign' is class ``benign``), each
        record's ``meta`` holds the table's row; ``skipped`` lists ``(path, reason)``,
        ``dropped_masks`` ``(mask path, reason, image path)``; ``label_column`` the column read.
    """
    root = Path(root)
    _check_loader_choices(on_error, None)
    rel = read_release(root, image_column=image_column, label_column=label_column, group_column=group_column,
                       group_pattern=group_pattern, require_labels=require_labels, classes=classes,
                       rows_without_image="raise")
    s = rel.summary
    if s.table is None:
        raise ValueError(f"{str(root)!r} is not an export: expected a table (CSV or Excel) whose image column names "
                         "the files of one sub-folder")
    data = rel.to_bunch(on_error=on_error, n_jobs=n_jobs, require_labels=require_labels,
                        duplicate_threshold=duplicate_threshold)
    data.DESCR = f"Export {str(root)!r} ({s.table.name}): " + data.DESCR
    return data
