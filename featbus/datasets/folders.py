"""Class folders and CSV manifests, each read as a release; its pixels by ``Release.to_bunch``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..progress import find_stack_level
from ._common import IMAGE_EXTENSIONS, _check_loader_choices, _pattern_regex
from .export import refuse_no_class_folders
from .given import read_index
from .release import read_release

__all__ = ["load_image_folder", "load_manifest"]


def load_image_folder(root: str | os.PathLike, *, classes: Sequence[str] | None = None,
                      mask_pattern: str | None = None, extensions: Sequence[str] = IMAGE_EXTENSIONS,
                      on_error: str = "raise", groups: str | None = "duplicates",
                      duplicate_threshold: int | None = None, n_jobs: int | None = None, require_labels: bool = True,
                      group_pattern: str | None = None) -> Bunch:
    """Load a folder of images, one sub-folder per class (the BUSI layout), read as every command reads it.

    Masks are paired by the release reader's rules (:func:`read_release`); a file named as a mask whose
    image is absent is never an image (a warning names it); a mask of another size is dropped, said.

    Parameters
    ----------
    root : path
        The folder holding one sub-folder per class.
    classes : sequence of str, optional
        Class sub-folders to load, in this order (their index is the target); default: every one, sorted.
    mask_pattern : str, optional
        How an image's mask files are named (``"{stem}_seg*.png"``), in place of the usual mask words.
    extensions : sequence of str
        The image files' extensions (any case).
    on_error : {"raise", "skip"}, default="raise"
        An unreadable image raises an error naming it, or is listed in ``Bunch.skipped`` (a warning).
    groups : {"duplicates"} or None, default="duplicates"
        Where nothing names the patients: ``"duplicates"`` takes them from ``PREFIX_NUMBER`` file names
        (said), else groups near-duplicates (:func:`featbus.duplicate_groups`); ``None``: one per image.
    duplicate_threshold, n_jobs, require_labels, group_pattern
        As :meth:`Release.to_bunch <featbus.datasets.Release.to_bunch>` and :func:`read_release`
        (``require_labels=False`` also reads a folder without class sub-folders: ``target`` ``-1``).

    Returns
    -------
    data : Bunch
        The common layout (:mod:`featbus.datasets`), with ``skipped`` and ``dropped_masks``.

    Examples
    --------
    >>> import os, tempfile, numpy as np
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
    _check_loader_choices(on_error, groups)
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower()
                 for e in ((extensions,) if isinstance(extensions, str) else extensions))
    named_mask = _pattern_regex(mask_pattern or "{stem}_mask*.png", None)  # checked before anything is read
    if classes is not None:
        classes = [str(c) for c in classes]
        if absent := [c for c in classes if not (root / c).is_dir()]:
            raise FileNotFoundError(f"class folder(s) {absent} not found in {str(root)!r}")
    elif require_labels:
        refuse_no_class_folders(root, exts)
    rel = read_release(root, mask_pattern=mask_pattern, group_pattern=group_pattern)
    if require_labels and not any(rel.labels):  # one class folder, else the reader's refusal: why nothing labels them
        rel = _one_class_folder(root, rel) or read_release(root, mask_pattern=mask_pattern,
                                                           group_pattern=group_pattern, require_labels=True)
    strays = [img for img in rel.images if named_mask.match(img.name)]  # a mask file whose image is absent
    if strays:
        warnings.warn(f"{len(strays)} mask file(s) without an image in {str(rel.root)!r}: "
                      + ", ".join(repr(s.name) for s in strays[:10]), UserWarning, stacklevel=find_stack_level())
    keep = [i for i, img in enumerate(rel.images) if img.suffix.lower() in exts and not named_mask.match(img.name)]
    if classes is not None:
        labels = rel.labels  # a list built on each access: once
        keep = sorted((i for i in keep if labels[i] in classes), key=lambda i: classes.index(labels[i]))
        rel.class_order = classes
    if not keep:
        raise ValueError(f"no image files with extensions {exts} in {str(root)!r}")
    data = rel.take(keep).to_bunch(on_error=on_error, n_jobs=n_jobs, require_labels=require_labels,
                                   duplicate_threshold=duplicate_threshold, guess_groups=groups == "duplicates")
    data.DESCR = data.DESCR.replace("Release", "Image folder", 1)
    return data


def _one_class_folder(root: Path, rel):
    """The unlabelled release ``rel`` of a folder given as class folders that holds one sub-folder, every
    image under it, read as one class named after it (said in a warning): the release reader takes a folder
    all the images lie in for a wrapper (a download's) that names nothing. None when it holds anything else."""
    subs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if len(subs) != 1 or not rel.images or not all(subs[0] in img.parents for img in rel.images):
        return None
    name = subs[0].name
    warnings.warn(f"{str(root)!r} holds one class folder, {name!r}: its {len(rel.images)} images read as one "
                  "class", UserWarning, stacklevel=find_stack_level())
    rel.summary.class_source = "the folder names"
    return rel.relabelled(name)


def load_manifest(path: str | os.PathLike, *, classes: Sequence[str] | None = None, groups: str | None = "duplicates",
                  duplicate_threshold: int | None = None, on_error: str = "raise", n_jobs: int | None = None,
                  require_labels: bool = True, group_pattern: str | None = None) -> Bunch:
    """Load a data set listed in a CSV manifest (or an index, ``featbus read DATA --index FILE``).

    Columns (others kept in each record's ``meta``): ``image`` (relative to the CSV's folder, or absolute),
    ``label``, ``mask``, ``mask 2``... (files, or joined by ``;``, merged; ``<file>.json#<id>``: a COCO file's
    drawing), ``group`` (a patient), ``split`` (``train``, ``valid`` / ``val`` / ``dev``, ``test`` or empty;
    ``featbus train`` holds ``test`` out), a pixel-size column (``pixel_size_mm``).

    Parameters
    ----------
    path : path
    classes : sequence of str, optional
        Class names, in this order; another label is an error naming its row. Default: every label, sorted.
    groups, duplicate_threshold, n_jobs, require_labels, group_pattern
        As :func:`load_image_folder` (``groups`` where there is no ``group`` column).
    on_error : {"raise", "skip"}, default="raise"
        A missing (said before any image is read) or unreadable file raises an error naming its row, or
        is skipped; a missing column, an empty cell, an unknown label or split, a row twice always raise.

    Returns
    -------
    data : Bunch
        As :func:`load_image_folder`, plus ``split`` and ``extra_columns``; ``meta`` holds the row's cells.

    Examples
    --------
    >>> import os, tempfile, numpy as np
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
    _check_loader_choices(on_error, groups)
    rel = read_index(path, strict=True, classes=classes, require_labels=require_labels, group_pattern=group_pattern,
                      missing=on_error)  # a missing file: said before any image is read
    data = rel.to_bunch(on_error=on_error, n_jobs=n_jobs, require_labels=require_labels,
                        duplicate_threshold=duplicate_threshold, guess_groups=groups == "duplicates")
    # the manifest named, not its folder: what a site is called after (featbus.evaluation.sites)
    data.DESCR = data.DESCR.replace(f"Release {str(rel.root)!r}", f"CSV manifest {str(path)!r}", 1)
    data.setdefault("split", np.full(len(data.paths), "", dtype=object))  # no split column: no assignment
    return data
