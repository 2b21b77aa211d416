"""The one listing of a folder of untrusted files (a release, a folder given to ``featbus predict``): no file
is opened, each entry's type is checked with ``lstat`` first and only regular files are listed; every entry
left out is named. Light (the standard library and :mod:`featbus._limits`): ``featbus predict`` lists a
plain folder without the data-set loaders.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ._limits import MAX_FOLDER_DEPTH, limit_words

__all__ = ["list_folder", "printable_path"]


def _file_type(mode: int) -> str | None:
    """``None`` for a regular file, else what it is in words (a FIFO, a device...)."""
    if stat.S_ISREG(mode):
        return None
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")


def printable_path(path: str | os.PathLike) -> str:
    """A path as it can be printed and written as UTF-8: bytes of a name that is not UTF-8 as ``\\xNN``."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # surrogates: the bytes of a name that is not UTF-8
        return False
    return True


def list_folder(root: str | os.PathLike, suffixes: tuple[str, ...],
                not_read: tuple[str, ...] = ()) -> tuple[list[Path], list[tuple[str, str]]]:
    """``(files, left out)``: the regular files under ``root`` whose suffix (any case) is one of
    ``suffixes``, as paths relative to ``root`` in sorted order, and ``(item, reason)`` for each entry
    left out.

    Nothing is opened and nothing outside ``root`` is read: each entry's type comes from ``lstat``
    (``os.scandir``'s entry) before anything else. Hidden files and folders (``.name``, ``__MACOSX``)
    are not read and files of other suffixes not listed. Left out, named: a link (file or folder)
    leading outside ``root`` (``"outside the release"``); a FIFO, socket or device, a link loop or a
    link to nothing, a name that is not valid UTF-8, a folder deeper than
    :data:`~featbus._limits.MAX_FOLDER_DEPTH` (``"unreadable: ..."``); a file of a ``not_read`` suffix
    (``"not an image: ..."``: an animated GIF). A link to a folder inside ``root`` is not followed
    (its files are listed where they lie); a link to a regular file inside it is listed. The walk is
    iterative (no recursion limit).

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.png").write_bytes(b"")
    >>> os.mkfifo(root / "b.png")
    >>> list_folder(root, (".png",))
    ([PosixPath('a.png')], [('b.png', 'unreadable: a FIFO, not a regular file (never opened)')])
    """
    root = Path(root)
    real_root = os.path.realpath(root)
    wanted = tuple(s.lower() for s in suffixes)
    files: list[Path] = []
    left_out: list[tuple[str, str]] = []
    stack = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            left_out.append((printable_path(here.relative_to(root)), f"unreadable: {exc.strerror or exc}"))
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name == "__MACOSX":
                continue
            full = here / name
            rel = full.relative_to(root)
            suffix = full.suffix.lower()
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                link = entry.is_symlink()
            except OSError:
                continue
            if not is_dir and not link and suffix not in wanted + not_read:
                continue
            if not _utf8(name):
                left_out.append((printable_path(rel), "unreadable: its name is not valid UTF-8 (rename it)"))
                continue
            if link:
                target = os.path.realpath(full)
                if os.path.commonpath([real_root, target]) != real_root:
                    left_out.append((str(rel), "outside the release"))
                    continue
                try:
                    mode = os.stat(full).st_mode  # inside the release: what the link leads to, never opened
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        left_out.append((str(rel), "unreadable: a symbolic link loop"))
                    elif suffix in wanted:
                        left_out.append((str(rel), f"unreadable: a link to nothing ({exc.strerror or exc})"))
                    continue
                if stat.S_ISDIR(mode):
                    continue  # a folder inside the release: its files are listed where they lie
            elif is_dir:
                if depth + 1 > MAX_FOLDER_DEPTH:
                    left_out.append((str(rel), f"unreadable: a folder deeper than the limit "
                                               f"({limit_words('MAX_FOLDER_DEPTH')}), not walked"))
                else:
                    stack.append((full, depth + 1))
                continue
            else:
                mode = entry.stat(follow_symlinks=False).st_mode
            kind = _file_type(mode)
            if suffix not in wanted:
                if kind is None:
                    left_out.append((str(rel), f"not an image: featbus does not read {suffix} files (convert it "
                                               "to PNG)"))
            elif kind is not None:
                left_out.append((str(rel), f"unreadable: {kind}, not a regular file (never opened)"))
            else:
                files.append(rel)
    files.sort()
    return files, left_out
