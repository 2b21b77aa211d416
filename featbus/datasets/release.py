"""One reader for a release as its publisher ships it: :func:`read_release` works the layout out from
the files, the way :func:`pandas.read_csv` with ``sep=None`` sniffs a delimiter, and says what it read:
its images, its masks (never a sample), the table naming the images, the labels and the patients, by the
rules the user guide lists ("Any release, as its publisher ships it", ``docs/guide/io_datasets.rst``).

What each layout teaches lives in :mod:`featbus.datasets._release_rules` as data. Only file
headers are read (no pixel is decoded): the summary of 1,000 full-size images and their masks
takes seconds (``benchmarks/read_speed.py``).
"""

import os
from pathlib import Path

from ._common import _pattern_regex
from ._release_index import MANIFEST_COLUMNS
from ._release_read import Reader
from ._release_scan import unwrap_download_folder, walk_release
from ._release_tables import SourceRefused, tables_read_once
from ._release_types import (
    LEFT_OUT_REASONS,
    PATIENT_SOURCES,
    Release,
    ReleaseError,
    ReleaseSummary,
    escape_cell,
    unescape_cell,
)
from .sources import extra_suffixes, read_sources
from .sources._refs import is_release_file
from .sources.index import manifest_images

__all__ = ["LEFT_OUT_REASONS", "MANIFEST_COLUMNS", "PATIENT_SOURCES", "Release", "ReleaseError", "ReleaseSummary",
           "escape_cell", "manifest_images", "read_release", "unescape_cell"]


def read_release(path: str | os.PathLike, *, image_column: str | None = None, label_column: str | None = None,
                 group_column: str | None = None, group_pattern: str | None = None, mask_pattern: str | None = None,
                 require_labels: bool = False, classes=None, rows_without_image: str = "leave out",
                 unannotated: str = "normal") -> Release:
    """Read a release as its publisher ships it, working its layout out from the files.

    Parameters
    ----------
    path : path
        The release's folder, or an index CSV written by :meth:`Release.write_index`.
    image_column, label_column, group_column : str, optional
        The table's columns (any case); each given one is used or refused with its name (a column
        that is not there is an error listing the columns, with the nearest name).
    group_pattern : str, optional
        A regular expression on the file names (without extension) whose first group, or whole
        match, is the patient (:func:`featbus.datasets.name_groups.pattern_groups`).
    mask_pattern : str, optional
        How an image's mask files are named, ``{stem}`` standing for the image's name without
        extension and ``*`` / ``?`` wildcards (``"{stem}_seg*.png"``); it replaces the mask words.
    require_labels : bool, default=False
        Refuse a release in which nothing labels the images.
    classes : sequence of str, optional
        The expected classes, in this order: a table's label that is none of them (ignoring case
        and surrounding spaces) is refused, its row named, before any pixel is read.
    rows_without_image : {"leave out", "raise"}, default="leave out"
        A table's row naming no image file of the release: left out and counted (``"no image"``),
        or an error naming the row (a table that is the release's list, as an export's).
    unannotated : {"normal", "leave out"}, default="normal"
        An image an annotation file (COCO JSON) lists with no annotation: a scan without a lesion,
        class ``normal`` (said in the paragraph), or left out, named (``"no annotation"``).

    Returns
    -------
    Release
        ``images``, ``labels``, ``groups``, ``masks`` (one entry per image) and ``summary``
        (:class:`ReleaseSummary`; ``summary.text()`` is the paragraph the commands print).

    Raises
    ------
    ReleaseError
        A row naming a file outside the release, an option naming a column that is not there, an
        image whose table label and folder disagree, a table too large to read; the message names
        the file or row.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus.datasets import read_release
    >>> root = Path(tempfile.mkdtemp())
    >>> for d in ("Images", "Masks"):
    ...     (root / d).mkdir()
    >>> for k, (case, label) in enumerate([(1, "benign"), (1, "benign"), (2, "malignant")]):
    ...     Image.fromarray(np.full((8, 8), 40 * k, np.uint8)).save(root / "Images" / f"bus_{k:04d}.png")
    ...     Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "Masks" / f"mask_{k:04d}.png")
    >>> _ = (root / "bus_data.csv").write_text("ID,Case,Pathology\\nbus_0000,1,benign\\nbus_0001,1,benign\\n"
    ...                                        "bus_0002,2,malignant\\n")
    >>> rel = read_release(root)
    >>> rel.labels, rel.groups, [len(m) for m in rel.masks]
    (['benign', 'benign', 'malignant'], ['1', '1', '2'], [1, 1, 1])
    >>> rel.summary.label_column, rel.summary.group_column, rel.summary.patient_source
    ('Pathology', 'Case', 'column')
    """
    path = Path(path)
    if rows_without_image not in ("leave out", "raise"):
        raise ValueError(f"rows_without_image must be 'leave out' or 'raise', got {rows_without_image!r}")
    if unannotated not in ("normal", "leave out"):
        raise ValueError(f"unannotated must be 'normal' or 'leave out', got {unannotated!r}")
    if not path.exists():
        raise ReleaseError(f"{str(path)!r} does not exist")
    if not path.is_dir() and not path.is_file():
        raise ReleaseError(f"{str(path)!r} is not a regular file nor a folder (a FIFO, device or socket): never opened")
    if path.is_file() and not is_release_file(path) and path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise ReleaseError(f"{str(path)!r} is a file: give the release's folder, or an index CSV written by "
                           "featbus read DATA --index FILE")
    if mask_pattern is not None:
        try:
            _pattern_regex(mask_pattern, None)
        except ValueError as exc:
            raise ReleaseError(f"--mask-pattern {mask_pattern!r}: {exc}") from None
    if path.is_file():  # an index, a zip or tar archive, an .npz: the file is the release, read by its source
        root, files, tables, left_out, release_name = path.parent, [], [Path(path.name)], [], path.stem
    else:
        root = unwrap_download_folder(path)
        release_name = root.name
        try:
            files, tables, left_out = walk_release(root, extra_suffixes())
        except ImportError as exc:  # DICOM files, and no pydicom: one line naming the extra
            raise ReleaseError(str(exc)) from None
    options = {"image_column": image_column, "label_column": label_column, "group_column": group_column,
               "group_pattern": group_pattern, "mask_pattern": mask_pattern, "require_labels": require_labels,
               "classes": classes, "rows_without_image": rows_without_image}
    with tables_read_once():  # each table parsed once, whichever sources and rules read it
        try:
            reads, tables = read_sources(root, tables, files, unannotated, arbiter=arbiter,
                                         given=path if path.is_file() else None, options=options)
        except SourceRefused as exc:  # the release's own label table, unreadable as saved
            raise ReleaseError(str(exc)) from None
        if path.is_file() and not any(got.entries or got.whole for got in reads):  # an archive or .npz, no image
            why = reads[0].not_used if reads and reads[0].not_used else "no image in it"
            raise ReleaseError(why if str(path) in why else f"{str(path)!r}: {why}")
        rel = arbiter(root, release_name, files, tables, left_out, reads, **options)
    if path.is_file():  # an index, archive or .npz given itself: the paragraph names it, not its folder
        rel.summary.root = path
    return rel


def arbiter(root, release_name: str, files: list[Path], tables: list[Path], left_out: list, reads,
            **options) -> Release:
    """The release the sources' ``reads`` and the folder's rules make of ``files``, by the one arbiter
    (:class:`~featbus.datasets._release_read.Reader`); the archive source reads its members through it, handed
    to it by :func:`~featbus.datasets.sources.read_sources`: no source imports the reader."""
    whole = next((got for got in reads if got.whole), None)
    if whole is not None:  # a source that reads the release whole (the featbus index): its entries as they are
        return Release.of(root, whole.within, whole.entries, list(whole.class_order), from_index=True,
                          group_pattern=options.get("group_pattern"))
    return Reader(root, release_name, files, tables, left_out).read(reads, **options)
