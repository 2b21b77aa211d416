"""The one extraction path: every feature computed once per (image content, extractor setting).

Every featbus feature extractor's ``transform`` goes through :func:`extract_rows`, and so does
everything built on it: pipelines refitted by ``GridSearchCV``, nested cross-validation in
:func:`featbus.evaluation.evaluate`, the ``featbus`` command and :mod:`featbus.compute.distributed`.
Feature extractors learn nothing from labels (``fit`` only fixes the output layout), so a row
computed once for an image is exactly the row any later fit or transform would compute: reusing
it is exact, not an approximation.

How a row is found
------------------
Each row is keyed by two hashes:

* the *setting* of the extractor (:func:`setting_key`): its class, every parameter that
  changes the numbers (``n_jobs``, ``cache``, ``progress``, ``batch_size`` and ``verbose``
  change only how the work runs and are left out), the fitted feature names, anything the
  extractor adds (a CNN's weights hash) and the featbus version;
* the *content* of the image (:func:`content_key`): its dtype, shape and pixel bytes after
  the colour-to-gray conversion, plus the lesion mask's bits when the extractor reads the mask.
  A file already hashed in this process and unchanged since (same size and modification time)
  is not read again.

Where rows are kept
-------------------
* Always (unless ``cache=False``), in an in-process store bounded in bytes (least recently
  used rows are dropped first; :func:`set_memory_limit`, default 1 GiB), shared by every
  extractor of this process, so the clones that ``GridSearchCV`` makes share it.
* With ``cache=<folder>`` (a path or a :class:`joblib.Memory`), or the environment variable
  ``FEATBUS_CACHE`` naming a folder, also on disk: one small file per row, written atomically
  (temporary file then rename), verified when read by a SHA-256 of its setting, key and values
  (a damaged entry, or one copied onto another image's key or setting, is recomputed, rewritten
  and reported once in a warning), holding only raw little-endian numbers (never a pickle). A
  folder named this way receives every row a call returns, also rows this process already held
  in memory. The folder is safe to share between processes: a process claims a
  row before computing it, and another process that needs the same row waits for it instead of
  computing it again (a claim whose process died is taken over; a claim names its process by
  pid and by a token drawn when the process started, so a claim an earlier process with the
  same pid left, such as a restarted container's pid 1, is taken over too). Nothing in the
  folder is followed out of it: an entry that is a folder, a link, a special file or a file of
  a size no row has is discarded and recomputed, and the warning names it. Each process that computes
  rows in a folder appends their keys to ``journal-<pid>.log`` there, so an audit can count
  computations across processes (:func:`journal_counts`).

Examples
--------
>>> import numpy as np
>>> from featbus import IntensityStats
>>> from featbus.compute.extraction import extraction_counts, reset_extraction_counts
>>> images = [np.full((16, 16), v, np.uint8) for v in (10, 20, 10)]
>>> reset_extraction_counts()
>>> est = IntensityStats().fit(images)
>>> a = est.transform(images); b = est.transform(images)
>>> sum(extraction_counts().values())  # two distinct images, each computed once
2
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import os
import secrets
import stat
import threading
import time
import warnings
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._records import ImageRecord, _PathLike
from .._registry import EXECUTION_PARAMS
from .._version import __version__
from ..progress import find_stack_level, progress_bar, progress_off, show_progress  # noqa: F401 (re-exported)

__all__ = [
    "extract_rows",
    "setting_key",
    "content_key",
    "MemoryStore",
    "DiskStore",
    "set_memory_limit",
    "clear_memory",
    "extraction_counts",
    "reset_extraction_counts",
    "journal_counts",
    "show_progress",
    "ENV_CACHE",
]

#: Environment variable naming a cache folder used when an extractor's ``cache`` is ``None``.
ENV_CACHE = "FEATBUS_CACHE"

#: Parameters that change how the work runs, not the numbers: left out of the setting key.
VOLATILE_PARAMS = EXECUTION_PARAMS

#: Images handled per round: bounds the memory that images read from files take.
CHUNK = 256


# ----------------------------------------------------------------------------- keys
def jsonable(value: Any) -> Any:
    """A stable, JSON-serialisable description of a parameter value (what a setting key hashes).

    Parameters
    ----------
    value : object
        A parameter value: numbers, strings, paths, sequences, dicts (sorted by key), arrays
        (described by their SHA-256, dtype and shape), nested estimators (class and parameters),
        functions (module and name); anything else by its ``repr``.

    Returns
    -------
    object
        JSON-serialisable, the same for equal values.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.compute.extraction import jsonable
    >>> jsonable({"b": np.int64(3), "a": (1.5, None)})
    {'a': [1.5, None], 'b': 3}
    """
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, np.ndarray):
        return {"ndarray": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(),
                "dtype": value.dtype.str, "shape": list(value.shape)}
    if hasattr(value, "get_params"):  # a nested estimator: its class and its parameters
        return {"estimator": f"{type(value).__module__}.{type(value).__qualname__}",
                "params": jsonable(value.get_params(deep=False))}
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    return repr(value)


def setting_key(extractor) -> str:
    """Hash of everything that decides an extractor's numbers (24 hexadecimal characters).

    The extractor must be fitted (its feature names are part of the key). An extractor may add
    to the key through a ``_setting_extra()`` method (a CNN's weights hash, for instance); a
    class whose numbers change without a new featbus version raises its ``_revision``, so rows
    kept on disk by the older code are not reused.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import LBPFeatures
    >>> X = [np.zeros((16, 16), np.uint8)]
    >>> a = setting_key(LBPFeatures(n_jobs=1).fit(X))
    >>> a == setting_key(LBPFeatures(n_jobs=2).fit(X)), a == setting_key(LBPFeatures(radii=(1,)).fit(X))
    (True, False)
    """
    cls = type(extractor)
    params = {k: v for k, v in extractor.get_params(deep=False).items() if k not in VOLATILE_PARAMS}
    payload = {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "params": jsonable(params),
        "names": [str(n) for n in getattr(extractor, "feature_names_out_", [])],
        "extra": jsonable(extractor._setting_extra()) if hasattr(extractor, "_setting_extra") else None,
        "featbus": __version__,
    }
    revision = getattr(cls, "_revision", 0)  # raised when a class's numbers change within a version
    if revision:
        payload["revision"] = revision
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def content_key(record: ImageRecord, *, with_mask: bool) -> str:
    """SHA-256 of a loaded image (dtype, shape, pixels) and, if asked, of its mask's bits.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord
    >>> a = ImageRecord(np.zeros((8, 8), np.uint8), mask=np.eye(8, dtype=bool))
    >>> b = ImageRecord(np.zeros((8, 8), np.uint8), mask=np.zeros((8, 8), bool))
    >>> content_key(a, with_mask=False) == content_key(b, with_mask=False)
    True
    >>> content_key(a, with_mask=True) == content_key(b, with_mask=True)
    False
    """
    image = np.ascontiguousarray(record.image)
    h = hashlib.sha256(f"{image.dtype.str}{image.shape}".encode())
    h.update(image.tobytes())
    if with_mask:
        if record.mask is None:
            h.update(b"no-mask")
        else:
            h.update(b"mask")
            h.update(np.packbits(np.asarray(record.mask, bool)).tobytes())
    return h.hexdigest()


# a file hashed in this process and unchanged since is not read again: (path, size, mtime) -> key
_FILE_KEYS: dict[tuple, str] = {}
_FILE_KEYS_LOCK = threading.Lock()


def _file_stat(item: Any) -> tuple | None:
    path = item.image if isinstance(item, ImageRecord) and isinstance(item.image, _PathLike) else item
    if not isinstance(path, _PathLike):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # the read will raise the error naming the file
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns)


# ----------------------------------------------------------------------------- stores
class MemoryStore:
    """Rows in this process's memory, least recently used dropped first past ``max_bytes``.

    Parameters
    ----------
    max_bytes : int
        Bound on the bytes of the rows held.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._rows: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, setting: str, key: str) -> np.ndarray | None:
        with self._lock:
            row = self._rows.get((setting, key))
            if row is not None:
                self._rows.move_to_end((setting, key))
            return row

    def set_limit(self, max_bytes: int) -> None:
        """Change the bound; rows are dropped (least recently used first) until it holds."""
        with self._lock:
            self.max_bytes = int(max_bytes)
            self._trim()

    def _trim(self) -> None:  # the caller holds the lock
        while self._bytes > self.max_bytes and self._rows:
            _, dropped = self._rows.popitem(last=False)
            self._bytes -= dropped.nbytes

    def put(self, setting: str, key: str, row: np.ndarray) -> None:
        row = np.array(row, copy=True)
        row.setflags(write=False)  # shared between calls: nobody may edit it in place
        with self._lock:
            old = self._rows.pop((setting, key), None)
            if old is not None:
                self._bytes -= old.nbytes
            if row.nbytes > self.max_bytes:
                return
            self._rows[(setting, key)] = row
            self._bytes += row.nbytes
            self._trim()

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._rows)


_MAGIC = b"FBX2"
_OLD_MAGICS = (b"FBX1",)  # earlier layouts: not damaged, just recomputed (and rewritten)
_DTYPES = {b"f": np.dtype("<f4"), b"d": np.dtype("<f8")}
_HEAD = len(_MAGIC) + 1 + 32  # tag, dtype byte, SHA-256
_STALE_CLAIM_S = 1800.0  # a claim older than this is taken over even if its process lives
_UNWRITTEN_CLAIM_S = 10.0  # an empty or garbled claim older than this is taken over
_MAX_CLAIM_BYTES = 4096  # a claim is one short line; more is not a claim
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # POSIX; elsewhere a link is caught by lstat first
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO planted in the cache must not block
_BINARY = getattr(os, "O_BINARY", 0)


def _new_life_token() -> str:
    return secrets.token_hex(8)


# What tells this process's life from an earlier process that had the same pid (a container
# restarted as pid 1 finds the claims its previous life left): written in every claim. A forked
# child is another life too.
_LIFE_TOKEN = _new_life_token()


def _renew_life_token() -> None:
    global _LIFE_TOKEN
    _LIFE_TOKEN = _new_life_token()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_life_token)


def _process_start(pid: int) -> str | None:
    """When a process started (clock ticks after boot, ``/proc/<pid>/stat`` field 22), or None
    where there is no such file: a pid reused by a later process has another start time."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            raw = f.read(4096)
        # the command name (field 2) may hold spaces and parentheses: count after its last ')'
        return raw.rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError, ValueError):
        return None


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    return "a special file (FIFO, device or socket)"


def _digest(setting: str, key: str, body: bytes) -> bytes:
    """What a row file's digest covers: its setting, its key and its values."""
    return hashlib.sha256(f"{setting}\n{key}\n".encode() + body).digest()


class DiskStore:
    """Rows in a folder, one file each: ``<root>/<setting>/<key[:2]>/<key>.row``.

    A file is a 4-byte tag, a dtype byte, a SHA-256 and the body (little-endian float32 or
    float64). The digest covers the setting, the key and the body, so an entry copied onto
    another image's key or another setting's folder fails its check like a damaged one (and is
    recomputed, with a warning). It is written to a temporary name and renamed, so a reader
    never sees half a file. Nothing in it is ever executed or unpickled.

    Nothing below ``root`` is followed out of it: an entry, a claim or a sub-folder that is a
    symbolic link, an entry that is a folder or a special file, an entry whose size no row can
    have (or whose content cannot be read) is discarded (a link or a file removed, a folder
    removed when empty and otherwise moved aside beside it) and the row recomputed; each one
    is counted in ``n_corrupt`` and named in :attr:`notes`.

    Parameters
    ----------
    root : path
        The cache folder (created when first written).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.n_corrupt = 0
        self._notes: deque[tuple[int, str]] = deque(maxlen=32)  # (index in n_corrupt, what was done)
        self._lock = threading.Lock()

    def _path(self, setting: str, key: str) -> Path:
        return self.root / setting / key[:2] / f"{key}.row"

    # -- what is not an entry: discarded, counted and named
    def notes_since(self, n_corrupt: int) -> list[str]:
        """What was discarded since ``n_corrupt`` counted that many (the most recent few)."""
        with self._lock:
            return [note for i, note in self._notes if i >= n_corrupt]

    def _note(self, text: str) -> None:
        with self._lock:
            self._notes.append((self.n_corrupt, text))
            self.n_corrupt += 1

    def _discard(self, path: Path, why: str) -> bool:
        """Remove what sits at ``path`` (never following a link; a non-empty folder is moved
        aside, not emptied); counted and noted. Whether ``path`` is free now."""
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            self._note(f"{path}: {why}")
            return True
        except OSError as exc:
            self._note(f"{path}: {why}; not removed ({exc.strerror or exc})")
            return False
        done = ""
        try:
            if stat.S_ISDIR(mode):
                try:
                    os.rmdir(path)
                    done = "; removed"
                except OSError:
                    aside = path.with_name(f".{path.name}.discarded-{secrets.token_hex(4)}")
                    os.rename(path, aside)
                    done = f"; moved aside to {aside.name}"
            else:
                os.unlink(path)  # a link itself, not what it points to
                done = "; removed"
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._note(f"{path}: {why}; not removed ({exc.strerror or exc})")
            return False
        self._note(f"{path}: {why}{done}")
        return True

    def _folders(self, setting: str, key: str, *, create: bool, repair: bool = True) -> bool:
        """Whether the entry's two sub-folders are real folders (not links out of the cache);
        with ``repair``, anything else there is discarded, and with ``create`` they are made."""
        folder = self.root
        for name in (setting, key[:2]):
            folder = folder / name
            try:
                mode = os.lstat(folder).st_mode
            except FileNotFoundError:
                if not create:
                    return False
                folder.mkdir(parents=True, exist_ok=True)
                mode = os.lstat(folder).st_mode
            except OSError:
                return False
            if stat.S_ISDIR(mode):
                continue
            if not repair or not self._discard(folder, f"{_kind(mode)} where a cache folder should be"):
                return False
            if not create:
                return False
            folder.mkdir(exist_ok=True)
        return True

    def _row_sizes(self, n_features: int | None) -> str:
        if n_features is None:
            return f"at least {_HEAD} bytes"
        return f"{_HEAD + 4 * n_features} or {_HEAD + 8 * n_features} bytes for {n_features} values"

    def get(self, setting: str, key: str, n_features: int | None = None) -> np.ndarray | None:
        """The row, or ``None`` when it is absent or is not a valid entry: of the wrong kind, of
        a size no row of ``n_features`` values has, or failing its check (discarded, counted in
        ``n_corrupt``)."""
        if not self._folders(setting, key, create=False):
            return None
        path = self._path(setting, key)
        if not _NOFOLLOW:  # no O_NOFOLLOW here: look first (a race can still swap it)
            try:
                if stat.S_ISLNK(os.lstat(path).st_mode):
                    self._discard(path, "a symbolic link where a cache entry should be")
                    return None
            except OSError:
                return None
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _BINARY)
        except FileNotFoundError:
            return None
        except OSError as exc:  # a link (ELOOP), or unreadable
            try:
                what = _kind(os.lstat(path).st_mode)
            except OSError:
                return None
            why = ("a symbolic link where a cache entry should be" if what == "a symbolic link"
                   else f"{what} that cannot be read ({exc.strerror or exc})")
            self._discard(path, why)
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                fd = -1
                self._discard(path, f"{_kind(st.st_mode)} where a cache entry should be")
                return None
            size = st.st_size
            if n_features is None:
                fits = size >= _HEAD
            else:
                fits = size in (_HEAD + 4 * n_features, _HEAD + 8 * n_features)
            if not fits:
                os.close(fd)
                fd = -1
                self._discard(path, f"a file of {size} bytes, where a row takes {self._row_sizes(n_features)}")
                return None
            chunks, left = [], size
            while left > 0:
                chunk = os.read(fd, left)
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            raw = b"".join(chunks)
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
                fd = -1
            self._discard(path, f"a file that cannot be read ({exc.strerror or exc})")
            return None
        finally:
            if fd >= 0:
                os.close(fd)
        if raw[:len(_MAGIC)] in _OLD_MAGICS:
            return None
        dtype = _DTYPES.get(raw[len(_MAGIC):len(_MAGIC) + 1])
        body = raw[_HEAD:]
        if (raw[:len(_MAGIC)] != _MAGIC or dtype is None or len(body) % dtype.itemsize
                or (n_features is not None and len(body) != n_features * dtype.itemsize)
                or _digest(setting, key, body) != raw[len(_MAGIC) + 1:_HEAD]):
            # removed so that the next reader recomputes instead of re-reporting
            self._discard(path, "fails its check (damaged, or another image's or setting's entry)")
            return None
        return np.frombuffer(body, dtype=dtype).copy()

    def put(self, setting: str, key: str, row: np.ndarray) -> None:
        row = np.asarray(row)
        code = b"f" if row.dtype == np.float32 else b"d"
        body = np.ascontiguousarray(row, dtype=_DTYPES[code]).tobytes()
        data = _MAGIC + code + _digest(setting, key, body) + body
        if not self._folders(setting, key, create=True):
            return  # a sub-folder that is not one and could not be discarded: noted, row not kept
        path = self._path(setting, key)
        for attempt in range(2):
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                mode = None
            if mode is not None and stat.S_ISDIR(mode):  # a rename cannot replace a folder
                if not self._discard(path, "a folder where a cache entry should be"):
                    return
            # the temporary file is created, never opened through a link left under its name
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o666)
            except FileExistsError:  # left by an earlier life of this pid, or planted
                if not self._discard(tmp, "left under this process's temporary name"):
                    return
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o666)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)  # replaces a link itself, never what it points to
                return
            except IsADirectoryError:  # a folder made there meanwhile: discard it and retry
                if attempt:
                    raise
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def has(self, setting: str, key: str) -> bool:
        """Whether a regular file for this row exists (its content not checked)."""
        if not self._folders(setting, key, create=False, repair=False):
            return False
        try:
            return stat.S_ISREG(os.lstat(self._path(setting, key)).st_mode)
        except OSError:
            return False

    def discard(self, setting: str, key: str) -> None:
        """Remove a row that failed a check the file itself cannot make (its length)."""
        self._discard(self._path(setting, key), "a row of the wrong length")

    # -- claims: at most one process computes a row; the others wait for its file
    def _claim_path(self, setting: str, key: str) -> Path:
        return self._path(setting, key).with_suffix(".claim")

    def claim(self, setting: str, key: str) -> bool:
        """Try to become the process that computes this row; ``False`` if another one is.

        The claim holds this process's pid, the time, a token drawn at random when this process
        (or a fork of it) started, and the process's start time where ``/proc`` gives it."""
        if not self._folders(setting, key, create=True):
            return True  # nowhere to claim (noted): compute it here
        path = self._claim_path(setting, key)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _NOFOLLOW | _BINARY, 0o666)
            except FileExistsError:
                if not self._stale(path):
                    return False
                try:
                    mode = os.lstat(path).st_mode
                except OSError:
                    continue
                if stat.S_ISREG(mode):
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                elif not self._discard(path, f"{_kind(mode)} where a claim should be"):
                    return True  # cannot be cleared: compute the row here rather than wait on it
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self._claim_text())
            return True
        return False

    @staticmethod
    def _claim_text() -> str:
        return f"{os.getpid()} {time.time()} {_LIFE_TOKEN} {_process_start(os.getpid()) or '-'}"

    @staticmethod
    def _read_claim(path: Path) -> tuple[str, float] | None:
        """A claim's text and modification time; ``None`` when absent. Raises ``TypeError`` for
        something that is not a regular file (read without following links, nor blocking)."""
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _BINARY)
        except FileNotFoundError:
            return None
        except OSError:
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                return None
            if stat.S_ISREG(mode):  # a claim file we may not read: another user's live claim
                return "", time.time()
            raise TypeError(_kind(mode)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise TypeError(_kind(st.st_mode))
            return os.read(fd, _MAX_CLAIM_BYTES).decode("ascii", "replace"), st.st_mtime
        finally:
            os.close(fd)

    @staticmethod
    def _stale(path: Path) -> bool:
        try:
            found = DiskStore._read_claim(path)
        except TypeError:
            return True  # a folder, a link or a special file: never a live claim
        if found is None:
            return False  # gone already: the caller looks again
        text, modified = found
        fields = text.split()
        try:
            if len(fields) not in (2, 4):
                raise ValueError
            pid, started = int(fields[0]), float(fields[1])
        except ValueError:
            # empty or garbled: being written right now, or left by a process killed between
            # creating and writing it, which nobody must wait on forever
            return time.time() - modified > _UNWRITTEN_CLAIM_S
        token, life = (fields[2], fields[3]) if len(fields) == 4 else (None, "-")
        if time.time() - started > _STALE_CLAIM_S:
            return True
        if pid == os.getpid():
            # another thread of this process, or an earlier life of this pid (a restarted
            # container's pid 1, an old-format claim without a token): that one is gone
            return token != _LIFE_TOKEN
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # exists but not ours to signal
            pass
        if life != "-":
            now = _process_start(pid)
            if now is not None and now != life:  # the pid was reused by a later process
                return True
        return False

    def release(self, setting: str, key: str) -> None:
        """Remove this process's claim (one that another process took over is left alone)."""
        path = self._claim_path(setting, key)
        try:
            found = self._read_claim(path)
        except TypeError:
            return
        if found is None:
            return
        fields = found[0].split()
        if len(fields) < 3 or (fields[0], fields[2]) != (str(os.getpid()), _LIFE_TOKEN):
            return  # not written by this life (ours are whole before any row is computed)
        with contextlib.suppress(OSError):
            os.unlink(path)

    def claimed(self, setting: str, key: str) -> bool:
        """Whether another process still holds a live claim on this row."""
        path = self._claim_path(setting, key)
        try:
            os.lstat(path)
        except OSError:
            return False
        return not self._stale(path)

    def journal(self, setting: str, keys: Sequence[str]) -> None:
        """Record that this process computed these rows (one line each, appended)."""
        if not keys:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"journal-{os.getpid()}.log"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _BINARY
        for _ in range(2):
            try:
                fd = os.open(path, flags, 0o666)
            except OSError as exc:
                try:
                    mode = os.lstat(path).st_mode
                except OSError:
                    raise exc from None
                if stat.S_ISREG(mode):
                    raise
                if not self._discard(path, f"{_kind(mode)} where a journal should be"):
                    return
                continue
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                if not self._discard(path, f"{_kind(os.lstat(path).st_mode)} where a journal should be"):
                    return
                continue
            with os.fdopen(fd, "a") as f:
                f.write("".join(f"{setting}/{k}\n" for k in keys))
            return


def journal_counts(root: str | os.PathLike) -> Counter:
    """How many times each row (``setting/key``) was computed into a cache folder, over every
    process that wrote there; 1 everywhere means no row was ever computed twice."""
    counts: Counter = Counter()
    for log in Path(root).glob("journal-*.log"):
        if not stat.S_ISREG(os.lstat(log).st_mode):  # a link or a FIFO put there is not a journal
            continue
        counts.update(line for line in log.read_text().splitlines() if line)
    return counts


_MEMORY = MemoryStore(int(os.environ.get("FEATBUS_CACHE_MEMORY", 1 << 30)))
_DISK_STORES: dict[str, DiskStore] = {}


def set_memory_limit(max_bytes: int) -> None:
    """Bound, in bytes, the in-process store of computed rows (0 turns it off).

    Examples
    --------
    >>> from featbus.compute.extraction import set_memory_limit
    >>> set_memory_limit(512 * 2**20)
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
        raise ValueError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
    _MEMORY.set_limit(max_bytes)


def clear_memory() -> None:
    """Forget every row held in this process (files of a cache folder stay)."""
    _MEMORY.clear()


def _disk_store(cache) -> DiskStore | None:
    """The folder store that ``cache`` names, if any (``None``: ``$FEATBUS_CACHE``)."""
    if cache is None:
        cache = os.environ.get(ENV_CACHE) or None
        if cache is None:
            return None
    if cache is False:
        return None
    if isinstance(cache, _PathLike):
        root = Path(cache)
    else:
        location = getattr(cache, "location", "not-a-memory")
        if location == "not-a-memory":
            raise ValueError("cache must be None, False, a folder path or a joblib.Memory, "
                             f"got {type(cache).__name__}")
        if location is None:
            return None
        root = Path(location) / "featbus"
    key = os.path.abspath(root)
    store = _DISK_STORES.get(key)
    if store is None:
        store = _DISK_STORES[key] = DiskStore(root)
    return store


# ----------------------------------------------------------------------------- counts, progress
_COUNTS: Counter = Counter()
_COUNTS_LOCK = threading.Lock()


def extraction_counts() -> Counter:
    """How many times each ``(extractor class, setting key, content key)`` row was computed in
    this process since the last :func:`reset_extraction_counts` (rows found in a store are not
    counted)."""
    with _COUNTS_LOCK:
        return Counter(_COUNTS)


def reset_extraction_counts() -> None:
    """Forget the counts of :func:`extraction_counts`."""
    with _COUNTS_LOCK:
        _COUNTS.clear()


# ----------------------------------------------------------------------------- the path
def _keys_for(extractor, items: Sequence, offset: int, with_mask: bool,
              loaded: dict[int, ImageRecord]) -> list[str]:
    """Content key of every item; items read to hash them are kept in ``loaded`` by index."""
    keys = []
    for j, item in enumerate(items):
        stat = None if with_mask else _file_stat(item)
        if stat is not None:
            with _FILE_KEYS_LOCK:
                key = _FILE_KEYS.get(stat)
            if key is not None:
                keys.append(key)
                continue
        rec = extractor._load(item, offset + j)
        loaded[offset + j] = rec
        key = content_key(rec, with_mask=with_mask)
        if stat is not None:
            with _FILE_KEYS_LOCK:
                _FILE_KEYS[stat] = key
        keys.append(key)
    return keys


def extract_rows(extractor, items: Sequence, *, compute: Callable[[list[ImageRecord], list[int]], np.ndarray],
                 n_features: int, dtype=np.float64, progress: Any = "auto") -> np.ndarray:
    """Rows of ``extractor`` for ``items``, each unique (setting, content) computed once.

    Parameters
    ----------
    extractor : fitted feature extractor
        Provides ``_load(item, index) -> ImageRecord``, ``_needs_mask()`` and the ``cache``
        parameter (see the module docstring); :func:`setting_key` names its setting.
    items : sequence
        Entries of ``X`` (arrays, :class:`~featbus.ImageRecord` or paths), already checked.
    compute : callable
        ``compute(records, indices)`` returns the rows (2-D array, one per record) of loaded
        records whose rows no store holds; ``indices`` are their positions in ``items`` (for
        error messages).
    n_features : int
        Length of every row.
    dtype : numpy dtype
        dtype of the returned matrix.
    progress : bool or "auto"
        Progress bar over the images, shown once some image has to be computed (a call served
        wholly from the stores shows none); ``"auto"``: a bar on a terminal, plain lines every
        30 s otherwise (:mod:`featbus.progress`).

    Returns
    -------
    rows : ndarray of shape (len(items), n_features)
    """
    cache = getattr(extractor, "cache", None)
    use_memory = cache is not False and _MEMORY.max_bytes > 0
    disk = _disk_store(cache)
    setting = setting_key(extractor)
    prefetched = _PREFETCHED.get()
    with_mask = bool(extractor._needs_mask())
    out = np.empty((len(items), n_features), dtype=dtype)
    n_corrupt_before = disk.n_corrupt if disk is not None else 0
    bar = None
    try:
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            loaded: dict[int, ImageRecord] = {}
            keys = _keys_for(extractor, chunk, start, with_mask, loaded)
            first: dict[str, int] = {}  # content key -> first index holding it in this chunk
            todo: list[int] = []
            for j, key in enumerate(keys):
                i = start + j
                if key in first:
                    continue
                first[key] = i
                if prefetched is not None and (setting, key) in prefetched:
                    todo.append(i)  # computed by the union's pool: stored and counted below
                    continue
                row = _stored_row(setting, key, disk, use_memory, n_features)
                if row is None:
                    todo.append(i)
                else:
                    out[i] = row
            waiting: list[int] = []
            if disk is not None:  # claim before computing; rows claimed elsewhere are awaited
                mine = []
                for i in todo:
                    (mine if disk.claim(setting, keys[i - start]) else waiting).append(i)
                todo = mine
            if bar is None and (todo or waiting):  # nothing to compute: no progress shown
                bar = progress_bar(progress, len(items), type(extractor).__name__, "img", initial=start)
            try:
                if todo:
                    computed = [keys[i - start] for i in todo]
                    rows = _computed_rows(extractor, items, todo, computed, loaded, compute, prefetched, setting,
                                          n_features, dtype)
                    for i, key, row in zip(todo, computed, rows):
                        out[i] = row
                        if use_memory:
                            _MEMORY.put(setting, key, row)
                        if disk is not None:
                            disk.put(setting, key, row)
                    if disk is not None:
                        disk.journal(setting, computed)
                    with _COUNTS_LOCK:
                        _COUNTS.update((type(extractor).__name__, setting, k) for k in computed)
            finally:
                if disk is not None:
                    for i in todo:
                        disk.release(setting, keys[i - start])
            for i in waiting:
                out[i] = _await_row(extractor, disk, setting, keys[i - start], items[i], i, compute, use_memory,
                                    n_features)
            for j, key in enumerate(keys):  # duplicates inside the chunk
                if first[key] != start + j:
                    out[start + j] = out[first[key]]
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    if disk is not None and disk.n_corrupt > n_corrupt_before:
        _warn_corrupt(disk, n_corrupt_before)
    return out


def _stored_row(setting: str, key: str, disk: DiskStore | None, use_memory: bool, n_features: int):
    """The row a store holds for (setting, key), or None; a row found in memory is also written
    to the folder the user named, one found on disk is kept in memory."""
    row = _MEMORY.get(setting, key) if use_memory else None
    if row is not None and disk is not None and not disk.has(setting, key):
        disk.put(setting, key, row)  # the folder the user named receives every row
    if row is None and disk is not None:
        row = disk.get(setting, key, n_features)  # another setting's row: discarded
        if row is not None and use_memory:
            _MEMORY.put(setting, key, row)
    return row


def _computed_rows(extractor, items: Sequence, todo: list[int], keys: list[str], loaded: dict, compute,
                   prefetched, setting: str, n_features: int, dtype) -> np.ndarray:
    """The rows of ``items[todo]`` (content ``keys``): the union's pool's where it computed them,
    ``compute``'s for the rest (records already loaded are not read again)."""
    ready = [prefetched.get((setting, key)) if prefetched is not None else None for key in keys]
    rest = [i for i, r in zip(todo, ready) if r is None]
    rows = np.empty((len(todo), n_features), dtype=dtype)
    if rest:
        if getattr(extractor, "_reads_in_compute", False):  # read by compute's own workers, ahead of its work
            records = _LazyRecords(extractor, items, rest, loaded)
        else:
            records = [loaded[i] if i in loaded else extractor._load(items[i], i) for i in rest]
        fresh = np.asarray(compute(records, rest))
        if fresh.shape != (len(rest), n_features):
            raise ValueError(f"{type(extractor).__name__} computed rows of shape {fresh.shape}, "
                             f"expected {(len(rest), n_features)}")
        rows[[k for k, r in enumerate(ready) if r is None]] = fresh
    for k, r in enumerate(ready):
        if r is not None:
            rows[k] = r
    return rows


class _LazyRecords(Sequence):
    """The records of ``items[indices]``, each read (``extractor._load``) when first asked for: what
    ``compute`` receives from an extractor that reads in its own worker threads while its network
    runs (``_reads_in_compute``, :class:`featbus.features.deep.NetworkRowsMixin`), instead of every
    record read first in this thread. Records read to hash them are not read again."""

    def __init__(self, extractor, items: Sequence, indices: list[int], loaded: dict):
        self._extractor, self._items, self._indices, self._loaded = extractor, items, indices, loaded

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        i = self._indices[k]
        rec = self._loaded.get(i)
        return rec if rec is not None else self._extractor._load(self._items[i], i)


def _warn_corrupt(disk: DiskStore, n_corrupt_before: int) -> None:
    """One warning naming the damaged or misplaced cache entries recomputed since ``n_corrupt_before``."""
    n = disk.n_corrupt - n_corrupt_before
    notes = disk.notes_since(n_corrupt_before)
    named = "; ".join(notes[:3]) + (f"; and {n - 3} more" if n > 3 else "")
    warnings.warn(f"{n} damaged or misplaced feature cache entr{'y' if n == 1 else 'ies'} in {disk.root} "
                  f"{'was' if n == 1 else 'were'} recomputed: {named}", UserWarning, stacklevel=find_stack_level(),
                  )


def _await_row(extractor, disk: DiskStore, setting: str, key: str, item, index: int, compute,
               use_memory: bool, n_features: int | None = None) -> np.ndarray:
    """Wait for another process to finish a row it claimed; compute it here if it gave up."""
    delay = 0.01
    while True:
        row = disk.get(setting, key, n_features)
        if row is not None:
            if use_memory:
                _MEMORY.put(setting, key, row)
            return row
        if not disk.claimed(setting, key):
            if disk.claim(setting, key):
                try:
                    row = np.asarray(compute([extractor._load(item, index)], [index]))[0]
                    disk.put(setting, key, row)
                    disk.journal(setting, [key])
                    with _COUNTS_LOCK:
                        _COUNTS[(type(extractor).__name__, setting, key)] += 1
                    if use_memory:
                        _MEMORY.put(setting, key, row)
                    return row
                finally:
                    disk.release(setting, key)
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


# rows computed ahead by pooled_rows, read by extract_rows as if it had computed them
_PREFETCHED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("featbus_prefetched", default=None)


def _rows_of_parts(parts: list, pair: tuple, index: int) -> list:
    rec, wanted = pair
    return [parts[k]._one_record(rec, index) if k in wanted else None for k in range(len(parts))]


@contextlib.contextmanager
def pooled_rows(extractors: Sequence, items: Sequence, n_jobs: int | None):
    """Compute the missing rows of several fitted extractors in ONE pool over the images.

    Per-extractor parallelism starts a pool and ships every image to it once per extractor (a
    union of five families ships each image five times, and waits for the slowest worker five
    times). Here each image goes to a worker once and the worker computes every family that
    lacks its row. Inside the ``with`` block, each extractor's ``transform`` finds those rows
    and stores and counts them as computed (so the stores, the cache folder and
    :func:`extraction_counts` behave as without pooling). Only extractors that compute one
    image at a time (``_one_record``) take part; rows already in a store are not recomputed.

    The pool is one of threads: the handcrafted families spend their time in NumPy and
    scikit-image loops that release the GIL, so threads share the work without the cost of
    worker processes, each of which imports NumPy, scikit-image, scikit-learn and featbus again
    and receives every image pickled. ``benchmarks/parallel_extraction.py`` (625 BUSI images,
    default families, 2 cores shared with other work) measured worker processes at 0.94x the
    speed of one job for +23 % CPU time and 1.8x the peak memory (1419 against 796 MiB).
    """
    from .._records import map_images

    parts = [e for e in extractors if hasattr(e, "_one_record") and hasattr(e, "feature_names_out_")]
    token = None
    try:
        if len(parts) > 1 and len(items) > 1:
            settings = [setting_key(e) for e in parts]
            loaded: dict[int, ImageRecord] = {}
            wanted: dict[int, set[int]] = {}
            keys_of = []
            for k, (part, setting) in enumerate(zip(parts, settings)):
                cache = getattr(part, "cache", None)
                use_memory = cache is not False and _MEMORY.max_bytes > 0
                disk = _disk_store(cache)
                keys = _keys_for(part, items, 0, bool(part._needs_mask()), loaded)
                keys_of.append(keys)
                seen = set()
                for i, key in enumerate(keys):
                    if key in seen:
                        continue
                    seen.add(key)
                    held = (use_memory and _MEMORY.get(setting, key) is not None) or (
                        disk is not None and disk.has(setting, key))
                    if not held:
                        wanted.setdefault(i, set()).add(k)
            order = sorted(wanted)
            pairs = [((loaded[i] if i in loaded else parts[0]._load(items[i], i)), wanted[i]) for i in order]
            worker = functools.partial(_rows_of_parts, parts)
            # map_images numbers its items 0..n-1; the rows keep the images' own indices for errors
            rows = map_images(lambda pair, j: worker(pair, order[j]), pairs, n_jobs, backend="threading")
            found = {}
            for i, per_part in zip(order, rows):
                for k, row in enumerate(per_part):
                    if row is not None:
                        found[(settings[k], keys_of[k][i])] = row
            token = _PREFETCHED.set(found)
        yield
    finally:
        if token is not None:
            _PREFETCHED.reset(token)
