"""What every ``featbus`` command shares: the one-line user error, reading a data set or a
list of images, checking that an output can be written, and writing CSV tables safely.

The commands' modules (:mod:`featbus.cli`, :mod:`featbus.cli_segment`) import these; none of
them imports a command.
"""

from __future__ import annotations

import re
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["CLIError"]


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _import_tensorflow_quietly(debug: bool) -> None:
    """Import TensorFlow and Keras with file descriptor 2 sent to a temporary file.

    TensorFlow's C++ start-up lines (oneDNN, CPU instructions, absl) are written before its log
    level applies, so TF_CPP_MIN_LOG_LEVEL alone does not hide them. They are shown with
    ``--debug`` or when the import fails.
    """
    from ._backend import native_stderr_quiet

    with native_stderr_quiet(not debug and "tensorflow" not in sys.modules):
        import keras  # noqa: F401  (a missing Keras fails here, before any image is read)
        import tensorflow  # noqa: F401


def _load_folder(path: str, on_error: str = "raise", task: str = "severity", min_classes: int = 2):
    """Read a data set (class folders, a CSV manifest or a mini-MIAS folder), turning every
    problem into a one-line message; a classifier needs ``min_classes`` classes (a segmenter 1)."""
    from .datasets import is_mias_folder, load_data

    p = Path(path)
    if not p.exists():
        raise CLIError(f"data {str(p)!r} does not exist")
    if p.is_file() and p.suffix.lower() != ".csv":
        raise CLIError(f"{str(p)!r} is a file; give a folder with one sub-folder per class, a mini-MIAS folder "
                       "(Info.txt + mdbNNN images) or a CSV manifest (columns image,label[,mask,group,split])")
    if p.is_dir() and not is_mias_folder(p):
        # a download wrapper folder (busi/ holding only Dataset_BUSI_with_GT/): use the folder inside
        entries = [e for e in p.iterdir() if not e.name.startswith(".")]
        subdirs = [e for e in entries if e.is_dir()]
        if len(subdirs) == 1 and all(e.is_dir() or e.suffix.lower() in (".txt", ".md", ".zip") for e in entries) \
                and any(s.is_dir() for s in subdirs[0].iterdir()):
            p = subdirs[0]
    try:
        with warnings.catch_warnings():  # the skipped images are listed below, one per line
            warnings.filterwarnings("ignore", message=r"skipped \d+ unreadable", category=UserWarning)
            # a mini-MIAS subset: the references Info.txt lists but the folder lacks are expected
            warnings.filterwarnings("ignore", message=r".*listed in Info.txt are absent", category=UserWarning)
            data = load_data(p, task=task, on_error=on_error)
    except (ValueError, OSError) as exc:
        hint = " (--on-error skip leaves unreadable images out)" if on_error == "raise" else ""
        raise CLIError(f"cannot read the data set in {str(p)!r}: {_one_line(exc)}{hint}") from exc
    skipped = list(getattr(data, "skipped", []) or [])
    if on_error == "skip":
        data, unusable = _drop_unusable(data)
        skipped += unusable
    data.skipped = skipped  # every layout's Bunch has it (a mini-MIAS one has none of its own)
    if skipped:
        print(f"skipped {len(skipped)} unreadable or unusable image(s):", file=sys.stderr)
        for path_, reason in skipped:
            print(f"  {path_}: {_one_line(reason)}", file=sys.stderr)
    if len(data.target) == 0:
        raise CLIError(f"no images found in {str(p)!r}")
    if len(np.unique(data.target)) < min_classes:
        raise CLIError(f"{str(p)!r} holds a single class ({list(data.target_names)}); "
                       "evaluation needs at least two class sub-folders")
    return data


def _drop_unusable(data):
    """Leave out images that read but that no extractor takes (too small, NaN...): the same
    checks every featbus transformer runs, done once here so that --on-error skip covers them."""
    from ._records import ImageError
    from .io import load_item

    keep, unusable = [], []
    for i, rec in enumerate(data.data):
        try:
            load_item(rec, i)
        except ImageError as exc:
            unusable.append((rec.path or f"image {i}", exc.reason))
        else:
            keep.append(i)
    if not unusable:
        return data, []
    for key in ("images", "masks", "paths", "data"):
        data[key] = [data[key][i] for i in keep]
    for key in ("target", "groups", "split"):
        if key in data:
            data[key] = np.asarray(data[key])[keep]
    return data, unusable


def _check_writable(out: Path, flag: str, *, folder: bool = False) -> None:
    """Fail before the work when ``out`` (a file, or with ``folder`` a folder to fill) cannot be
    written: its nearest existing folder is probed by creating and removing a file there
    (permission bits alone say nothing for root or read-only file systems)."""
    out = Path(out)
    parent = out if folder else out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CLIError(f"{flag} {str(out)!r}: {str(parent)!r} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".featbus-write-check-"):
            pass
    except OSError as exc:
        raise CLIError(f"{flag} {str(out)!r}: cannot write into {str(parent)!r} ({exc.strerror or exc})") from None


def _progress(args):
    """Progress bars: off with --quiet, else shown when standard error is a terminal."""
    return False if args.quiet else "auto"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutralised(frame):
    """A copy of a table whose text cells cannot run as spreadsheet formulas: a cell starting
    with ``= + - @``, a tab or a carriage return gets a leading ``'`` (the OWASP advice for
    CSV injection). Numbers are left as they are."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = [f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START) else v for v in out[col]]
    return out


def _write_csv(frame, path: Path, **kwargs) -> None:
    """Write a table as CSV, neutralised against formula injection, under a temporary name
    renamed into place: an interrupted run never leaves a half-written file under ``path``."""
    from .io import written_atomically

    with written_atomically(path) as tmp:
        _neutralised(frame).to_csv(tmp, index=False, **kwargs)


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm", ".dcm", ".dicom")


def _masks_among(files: Sequence[Path]) -> list[Path]:
    """The files that are masks of an image beside them (``<stem>_mask*``, the BUSI layout): a
    file whose name merely looks like a mask, with no such image, is an image to predict."""
    stems: dict[Path, set[str]] = {}
    for f in files:
        stems.setdefault(f.parent, set()).add(f.stem)
    # any text before a '_mask' that names another file beside it ('a_mask_1' -> 'a')
    return [f for f in files
            if any(f.stem[:k.start()] in stems[f.parent] for k in re.finditer("_mask", f.stem))]


def _expand_images(inputs: Sequence[str]) -> list[str]:
    """Files as given; a CSV manifest to its ``image`` column; a mini-MIAS folder to its
    ``mdbNNN`` images; other folders to their image files (masks left out), sorted."""
    from .datasets import is_mias_folder, manifest_images, mias_files

    paths = []
    for item in inputs:
        p = Path(item)
        if p.is_file() and p.suffix.lower() == ".csv":
            try:
                paths += manifest_images(p)
            except ValueError as exc:
                raise CLIError(_one_line(exc)) from exc
        elif p.is_dir() and is_mias_folder(p):
            paths += [str(f) for f in mias_files(p)]
        elif p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _IMAGE_SUFFIXES)
            masks = _masks_among(files)
            if masks:  # every file left out is said, never silently dropped
                print(f"left out {len(masks)} mask file(s) of images in {item!r} (<image>_mask*): "
                      + ", ".join(m.name for m in masks[:5]) + (" ..." if len(masks) > 5 else ""), file=sys.stderr)
            left_out = set(masks)
            found = [str(f) for f in files if f not in left_out]
            if not found:
                raise CLIError(f"folder {item!r} holds no image files ({', '.join(_IMAGE_SUFFIXES)})")
            paths += found
        elif not p.exists():
            raise CLIError(f"image {item!r} does not exist")
        else:
            paths.append(str(p))
    return paths
