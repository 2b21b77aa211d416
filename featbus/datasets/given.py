"""What a command that needs no labels is given (``featbus predict``, ``featbus segment predict``,
``featbus adapt --unlabelled``): folders and manifests read by the release reader as ``featbus read`` and
``featbus train`` read DATA, and the lesion masks among image files given one by one. Light: neither this
module nor the reader imports a data-set loader or reads pixels (the command does, lazily), so a cold
``featbus predict`` imports what the model needs and the reader's rules.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

from ._release_types import Release, ReleaseError

__all__ = ["holds_folders", "masks_given", "read_given", "read_index"]


def read_index(path: Path, *, group_pattern: str | None = None, **options) -> Release:
    """The :class:`~featbus.datasets.Release` of an index or manifest, its source's entries as they are
    (:func:`~featbus.datasets.sources.index.index_entries`, whose ``options`` these are): what
    :func:`~featbus.datasets.load_manifest` and ``featbus predict`` read."""
    from .sources.index import index_entries

    got = index_entries(path, group_pattern=group_pattern, **options)
    return Release.of(path.parent, got.within, got.entries, list(got.class_order), from_index=True,
                      group_pattern=group_pattern)


def read_given(path: str | os.PathLike, *, mask_pattern: str | None = None) -> Release:
    """The images of a folder or a CSV manifest, labels optional.

    A folder is read by :func:`~featbus.datasets.read_release` (its layout, masks, left-out files,
    pixel sizes and paragraph as every command reads them; mini-MIAS, DICOM, tables and annotation files
    included). A manifest is read as :func:`~featbus.datasets.load_manifest` reads it, its rows in order,
    the first file that is not there refused at once (its row and file named), before the next row is
    checked: a manifest of a million missing files is refused in seconds.

    Parameters
    ----------
    path : path
        A folder, or a CSV manifest (``image`` column; ``label``, ``mask``, ``group``, ``split`` and a
        pixel-size column optional).
    mask_pattern : str, optional
        How a folder's mask files are named (``"{stem}_seg*.png"``), in place of the usual mask words;
        refused for a manifest, whose ``mask`` columns name them.

    Returns
    -------
    Release
        Its ``images``, ``pixel_sizes`` and ``summary`` (``summary.text()``: the paragraph).

    Raises
    ------
    ReleaseError
        A folder or manifest that cannot be read, a manifest's missing file (an :class:`~featbus.ImageError`,
        naming the row and the file), an option the data cannot take; one line.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus.datasets.given import read_given
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("a.png", "b.png", "b_mask.png"):
    ...     Image.fromarray(np.full((8, 8), 200 if "mask" in name else 40, np.uint8)).save(root / name)
    >>> rel = read_given(root)
    >>> [p.name for p in rel.images], [len(m) for m in rel.masks]
    (['a.png', 'b.png'], [0, 1])
    """
    from .release import read_release
    from .sources._refs import is_release_file

    p = Path(path)
    manifest = p.is_file() and p.suffix.lower() == ".csv"
    if not (manifest or p.is_dir() or p.is_file() and is_release_file(p)):  # a zip or tar archive, an .npz
        raise ReleaseError(f"{str(p)!r} is neither a folder, a CSV manifest nor a release in one file (an archive, "
                           "an .npz)")
    if mask_pattern is not None and not p.is_dir():
        what = "a manifest, whose 'mask' columns name them" if manifest else "a release in one file"
        raise ReleaseError(f"--mask-pattern names a folder's mask files; {str(p)!r} is {what}: drop the option")
    if manifest:
        return read_index(p, missing="raise")  # a row without an image refused, as a missing file
    return read_release(p, mask_pattern=mask_pattern)


def masks_given(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The files among ``paths`` that are lesion masks: a name with a mask word before or after an image's
    name (``<stem>_mask*``, ``<stem>_tumor``, ``mask_<stem>``: the reader's rule,
    :func:`~featbus.datasets._release_rules.mask_parts`) whose image is given too or lies beside it. A
    file whose name merely looks like a mask, with no such image, is an image. Each folder is listed
    once, and only when a name in it holds a mask word."""
    from ._release_rules import mask_parts

    files = [Path(p) for p in paths]
    given = {(f.parent, f.stem.casefold()) for f in files}

    @functools.cache
    def listing(folder: Path) -> list[str]:
        try:
            return os.listdir(folder)
        except OSError:
            return []

    out = []
    for p, f in zip(paths, files):
        parts = mask_parts(f.stem)
        if parts is None or parts[0].casefold() == f.stem.casefold():
            continue
        if (f.parent, parts[0].casefold()) in given or any(n != f.name and n.startswith(parts[0] + ".")
                                                           for n in listing(f.parent)):
            out.append(str(p))
    return out


def holds_folders(path: str | os.PathLike) -> bool:
    """Whether a folder holds a sub-folder (hidden ones aside): a release read as class folders needs them."""
    try:
        with os.scandir(path) as entries:
            return any(e.is_dir() and not e.name.startswith(".") for e in entries)
    except OSError:
        return False
