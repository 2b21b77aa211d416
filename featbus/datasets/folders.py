"""Folders of class sub-folders and CSV manifests: each read as a release (:func:`read_release`), its
pixels by :meth:`~featbus.datasets.Release.to_bunch`, the one loop that decodes images."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._layout_words import WORKING_LAYOUTS
from ..progress import find_stack_level
from ._common import _ON_ERROR, IMAGE_EXTENSIONS, _pattern_regex
from ._release_read import masks_not_a_class
from ._release_scan import one_level_down
from .release import _read_index, read_release

__all__ = ["load_image_folder", "load_manifest"]


def _check_choices(on_error: str, groups) -> None:
    """Refuse an unknown ``on_error`` or ``groups``."""
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    if groups not in ("duplicates", None):
        raise ValueError(f"groups must be 'duplicates' or None, got {groups!r}")


def load_image_folder(root: str | os.PathLike, *, classes: Sequence[str] | None = None,
                      mask_pattern: str | None = None, extensions: Sequence[str] = IMAGE_EXTENSIONS,
                      on_error: str = "raise", groups: str | None = "duplicates",
                      duplicate_threshold: int | None = None, n_jobs: int | None = None,
                      require_labels: bool = True, group_pattern: str | None = None) -> Bunch:
    """Load a folder of images, one sub-folder per class (the BUSI layout), read as every command reads it.

    Masks are paired by the release reader's rules (:func:`read_release`: ``<name>_mask*.png`` beside
    the image, joined by union; ``images/`` + ``masks/``...); a file named as a mask whose image is absent
    is never an image (a warning names it); a mask of another size than its image is dropped, said.

    Parameters
    ----------
    root : path
    classes : sequence of str, optional
        Class sub-folders to load, in this order (their index is the target); default: every one, sorted.
    mask_pattern : str, optional
        How an image's mask files are named (``"{stem}_seg*.png"``), in place of the usual mask words.
    extensions : sequence of str
        Image file extensions (any case).
    on_error : {"raise", "skip"}, default="raise"
        An unreadable image raises an error naming it, or is listed in ``Bunch.skipped`` (a warning).
    groups : {"duplicates"} or None, default="duplicates"
        Where nothing names the patients: ``"duplicates"`` takes them from ``PREFIX_NUMBER`` file names
        (said), else groups near-duplicates (:func:`featbus.duplicate_groups`); ``None``: one per image.
    duplicate_threshold, n_jobs : int, optional
        ``threshold`` of :func:`featbus.duplicate_groups`; parallel workers for reading.
    require_labels : bool, default=True
        ``False`` also reads a folder without class sub-folders (``target`` ``-1``).
    group_pattern : str, optional
        A regular expression on the file names: its first group (or the match) is the patient.

    Returns
    -------
    data : Bunch
        The common layout (:mod:`featbus.datasets`), ``meta`` with ``label``, ``has_mask_file``,
        ``mask_paths``; ``skipped``, ``dropped_masks``. An image without a mask file has an empty mask.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import load_image_folder
    >>> root = tempfile.mkdtemp()
    >>> for c in ("a", "b"):
    ...     os.mkdir(os.path.join(root, c))
    ...     Image.fromarray(np.eye(32, dtype=np.uint8) * 200).save(os.path.join(root, c, "x (1).png"))
    ...     Image.fromarray(np.eye(32, dtype=np.uint8) * 255).save(os.path.join(root, c, "x (1)_mask.png"))
    >>> data = load_image_folder(root, groups=None)
    >>> data.target_names.tolist(), data.target.tolist(), bool(data.masks[0].any())
    (['a', 'b'], [0, 1], True)
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{str(root)!r}: no such folder")
    _check_choices(on_error, groups)
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower()
                 for e in ((extensions,) if isinstance(extensions, str) else extensions))
    named_mask = _pattern_regex(mask_pattern or "{stem}_mask*.png", None)  # checked before anything is read
    if classes is not None:
        classes = [str(c) for c in classes]
        absent = [c for c in classes if not (root / c).is_dir()]
        if absent:
            raise FileNotFoundError(f"class folder(s) {absent} not found in {str(root)!r}")
    elif require_labels:
        if not any(d.is_dir() and not d.name.startswith(".") for d in root.iterdir()):
            raise ValueError(f"{str(root)!r} has no class sub-folders (expected root/<class>/<image>): "
                             f"{one_level_down(root, None, exts)}; featbus reads {WORKING_LAYOUTS}")
        from .export import paired_folders

        pair = paired_folders(root)
        if pair is not None:
            raise ValueError(masks_not_a_class(pair[1].name, pair[0].name))
    rel = read_release(root, mask_pattern=mask_pattern, group_pattern=group_pattern, require_labels=require_labels)
    strays = [img for img in rel.images if named_mask.match(img.name)]  # a mask file whose image is absent
    if strays:
        warnings.warn(f"{len(strays)} mask file(s) without an image in {str(rel.root)!r}: "
                      + ", ".join(repr(s.name) for s in strays[:10]), UserWarning, stacklevel=find_stack_level())
    keep = [i for i, img in enumerate(rel.images) if img.suffix.lower() in exts and img not in strays]
    if classes is not None:
        keep = sorted((i for i in keep if rel.labels[i] in classes), key=lambda i: classes.index(rel.labels[i]))
        rel.class_order = classes
    if not keep:
        raise ValueError(f"no image files with extensions {exts} in {str(root)!r}: "
                         f"{one_level_down(root, rel.class_order or None, exts)}; featbus reads {WORKING_LAYOUTS}")
    data = rel.take(keep).to_bunch(on_error=on_error, n_jobs=n_jobs, require_labels=require_labels,
                                   duplicate_threshold=duplicate_threshold, guess_groups=groups == "duplicates")
    data.DESCR = data.DESCR.replace("Release", "Image folder", 1)
    return data


def load_manifest(path: str | os.PathLike, *, classes: Sequence[str] | None = None,
                  groups: str | None = "duplicates", duplicate_threshold: int | None = None,
                  on_error: str = "raise", n_jobs: int | None = None, require_labels: bool = True,
                  group_pattern: str | None = None) -> Bunch:
    """Load a data set listed in a CSV manifest (or an index, ``featbus read DATA --index FILE``).

    Columns (a header; others are kept in each record's ``meta``): ``image`` (a path relative to the
    CSV's folder, or absolute), ``label``, ``mask`` (file(s) joined by ``;``, merged; empty: no lesion),
    ``group`` (a patient: kept on one side of every split), ``split`` (``train``, ``valid``, ``test`` or
    empty; ``featbus train`` holds ``test`` out), a pixel-size column (``pixel_size_mm``).

    Parameters
    ----------
    path : path
    classes : sequence of str, optional
        Class names, in this order; another label is an error naming its row. Default: every label, sorted.
    groups, duplicate_threshold, n_jobs, require_labels, group_pattern
        As :func:`load_image_folder` (``groups`` where there is no ``group`` column).
    on_error : {"raise", "skip"}, default="raise"
        A missing or unreadable file raises an error naming its row (a missing one before any image is
        read), or is skipped. A missing column, an empty cell where a value is needed, an unknown label
        or split, an image listed twice is always an error naming the row.

    Returns
    -------
    data : Bunch
        As :func:`load_image_folder`, plus ``split`` (``""`` where none) and ``extra_columns``; each
        record's ``meta`` holds ``label``, ``row`` (the CSV line) and the row's cells (lower-cased names).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import load_manifest
    >>> root = tempfile.mkdtemp()
    >>> for k in range(4):
    ...     Image.fromarray(np.full((32, 32), 50 * k, np.uint8)).save(os.path.join(root, f"im{k}.png"))
    >>> _ = open(os.path.join(root, "data.csv"), "w").write("image,label,group\\nim0.png,a,p1\\nim1.png,b,p1\\n"
    ...                                                     "im2.png,a,p2\\nim3.png,b,p3\\n")
    >>> data = load_manifest(os.path.join(root, "data.csv"))
    >>> data.target_names.tolist(), data.target.tolist(), data.groups.tolist()
    (['a', 'b'], [0, 1, 0, 1], [0, 0, 1, 2])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r}: no such CSV file")
    _check_choices(on_error, groups)
    rel = _read_index(path, strict=True, classes=classes, require_labels=require_labels, group_pattern=group_pattern,
                      missing=on_error)  # a missing file: said before any image is read
    data = rel.to_bunch(on_error=on_error, n_jobs=n_jobs, require_labels=require_labels,
                        duplicate_threshold=duplicate_threshold, guess_groups=groups == "duplicates")
    data.DESCR = data.DESCR.replace("Release", "CSV manifest", 1)
    if "split" not in data:
        data.split = np.full(len(data.paths), "", dtype=object)
    return data
