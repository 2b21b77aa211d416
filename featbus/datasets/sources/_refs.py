"""Images that are no files of their own: a member of a zip or tar archive read in place
(:class:`ArchiveMember`, ``archive.zip!Dataset_BUSI_with_GT/benign/benign (1).png``) and a row of an
array (:class:`ArrayRow`: ``breastmnist_224.npz!train_images[12]``, a Hugging Face parquet's
``train-00000-of-00001.parquet!image[12]``).

Each is path-like by that stable name (what an index writes, :func:`reference_from_text` reads it
back exactly), read and probed by :mod:`featbus.io` as a file is (:func:`featbus.io.is_image_reference`).

An archive is untrusted input, listed by :func:`list_archive` with the rules of a folder
(:func:`featbus.io.list_folder`) and these: a member named outside the archive (an absolute path,
``..``: zip-slip) is ``"outside the release"``; a link, a device or FIFO, a nested archive is left
out named; a member whose declared size is above :data:`~featbus.io.MAX_ARCHIVE_MEMBER_BYTES` is
``"too large"`` and its read stops one byte past that budget whatever it declares; an archive whose
members declare more than :data:`~featbus.io.MAX_ARCHIVE_BYTES` together, or that lists more than
:data:`~featbus.io.MAX_ARCHIVE_MEMBERS`, is refused whole (:class:`ArchiveError`) before any member is read, as is
a tar whose extended header (PAX, a GNU long name) claims more than :data:`~featbus.io.MAX_TAR_HEADER_BYTES`.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import functools
import os
import re
import stat
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ... import io as _io
from ..._records import ImageError, LeftOut
from .._release_tables import decoded_bytes, parquet_batches

__all__ = ["ArchiveError", "ArchiveMember", "ArrayRow", "archive_kind", "is_release_file", "list_archive",
           "load_array", "member_file", "npz_arrays", "parquet_column", "reference_from_text"]


class ArchiveError(ValueError):
    """An archive featbus does not open: the message names it and the limit or damage."""


def is_release_file(path: str | os.PathLike) -> bool:
    """Whether a file is a whole release by its name: a zip or tar archive, or an ``.npz`` of arrays."""
    return archive_kind(path) is not None or os.fspath(path).lower().endswith(".npz")


def archive_kind(name: str | os.PathLike) -> str | None:
    """``"zip"``, ``"tar"`` (compressed or not) or ``None`` from a file's name, any case: the archives read in place."""
    low = os.fspath(name).lower()
    if low.endswith(".zip"):
        return "zip"
    return "tar" if low.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")) else None


class _HeaderRefused(ArchiveError):
    """A tar's extended header refused (:class:`_TarInfo`): ``what`` it is, at byte ``offset``; who lists the tar
    names it and the member."""

    def __init__(self, what: str, offset: int):
        super().__init__(f"has {what} (at byte {offset:,})")
        self.what, self.offset = what, offset


#: Extended headers (PAX, GNU long names) a tar may give in a row before a member: a real one gives at most four
#: (a global and a member's PAX header, a long name and a long link name); tarfile follows each by recursion.
MAX_CHAINED_HEADERS = 16


class _TarInfo(tarfile.TarInfo):
    """A tar header whose extended header (PAX, a GNU long name) is refused above
    :data:`~featbus.io.MAX_TAR_HEADER_BYTES` before it is read (tarfile reads one whole, whatever size it claims),
    as is a chain of more than :data:`MAX_CHAINED_HEADERS` of them."""

    def _bounded(self, tar: tarfile.TarFile, proc):
        kinds = {tarfile.XHDTYPE: "a PAX header", tarfile.XGLTYPE: "a global PAX header",
                 tarfile.GNUTYPE_LONGNAME: "a GNU long name", tarfile.GNUTYPE_LONGLINK: "a GNU long link name"}
        if self.size > _io.MAX_TAR_HEADER_BYTES:
            raise _HeaderRefused(f"{kinds.get(self.type, 'an extended header')} of {self.size:,} bytes, more than "
                                  f"{_io.limit_words('MAX_TAR_HEADER_BYTES')} (a name or PAX record is never that "
                                  "large)", self.offset)
        depth = getattr(tar, "_chained", 0)
        if depth >= MAX_CHAINED_HEADERS:
            raise _HeaderRefused(f"more than {MAX_CHAINED_HEADERS} extended headers in a row", self.offset)
        tar._chained = depth + 1
        try:
            return proc(tar)
        finally:
            tar._chained = depth

    def _proc_pax(self, tarfile):
        return self._bounded(tarfile, super()._proc_pax)

    def _proc_gnulong(self, tarfile):
        return self._bounded(tarfile, super()._proc_gnulong)


def _open_tar(path: Path) -> tarfile.TarFile:
    """The tar at ``path`` open for reading (compressed or not), each extended header bounded (:class:`_TarInfo`)."""
    return tarfile.open(path, tarinfo=_TarInfo)


def _one_line(exc: BaseException) -> str:
    """An exception's words on one line (tarfile says why each compression failed, a line each)."""
    return " ".join(str(exc).split())


_OPEN = threading.local()  # per thread: the zips open for reading, by (path, mtime, size)
_TARS: dict[tuple, _TarReader] = {}  # the tars open for reading, by (path, mtime, size), shared
_TARS_LOCK = threading.Lock()
#: Zips each thread keeps open for reading: the one opened longest ago is closed for a new one, so that a
#: session reading zip after zip holds a bounded number of files (a thread reads one member at a time). A tar,
#: shared by the threads, stays open until it changes or the process ends.
MAX_OPEN_ZIPS = 8


def _opened(path: Path):
    """The archive at ``path`` open for reading, reopened when the file changes: a zip one handle per
    thread (its members are read at random, concurrently); a tar one handle shared under a lock, its
    headers scanned once (a compressed tar has no random access: one handle reading its members in
    order decompresses it about once, where a handle per thread would each decompress it again)."""
    key = _stamp(path)
    tar = archive_kind(path) != "zip"
    handles = _TARS if tar else _OPEN.__dict__.setdefault("handles", {})
    with _TARS_LOCK if tar else contextlib.nullcontext():
        if key not in handles:
            stale = [k for k in handles if k[0] == key[0]] + ([] if tar else list(handles)[:1 - MAX_OPEN_ZIPS])
            for old in dict.fromkeys(stale):
                handles.pop(old).close()
            handles[key] = _TarReader(path) if tar else zipfile.ZipFile(path)
        return handles[key]


@atexit.register
def _close_tars() -> None:
    """The shared tars closed as the process ends (a zip closes itself when collected)."""
    with _TARS_LOCK:
        while _TARS:
            _TARS.popitem()[1].close()


class _TarReader:
    """A tar's members read forward: a member asked for is reached by reading those before it, each
    kept (a few at most, within one member's budget) for the thread that asks for it next, so
    threads asking in nearly sorted order never make a compressed tar rewind to its start."""

    def __init__(self, path: Path):
        with contextlib.ExitStack() as failed:  # a tar whose headers do not read is closed, not left open
            self.tar = failed.enter_context(_open_tar(path))
            self.members = [m for m in self.tar.getmembers() if m.isreg()]
            failed.pop_all()
        self.close = self.tar.close
        self.at = {clean_name(m.name): k for k, m in enumerate(self.members)}
        self.at.update({m.name: k for k, m in enumerate(self.members)})
        self.next = 0  # the first member not read yet in the current pass
        self.kept: dict[int, bytes] = {}
        self.lock = threading.Lock()  # one thread reads at a time

    def read(self, name: str, budget: int) -> bytes:
        k = self.at[name]  # KeyError: no such member
        if k in self.kept:
            return self.kept.pop(k)
        if k < self.next:  # behind: a new pass from here (a compressed tar rewinds once, then reads on)
            self.kept = {}
        for j in range(self.next, k):  # ahead: the members passed over kept, within one budget in all
            data = self.tar.extractfile(self.members[j]).read(budget + 1)
            if sum(map(len, self.kept.values())) + len(data) <= budget:
                self.kept[j] = data
        self.next = k + 1
        return self.tar.extractfile(self.members[k]).read(budget + 1)


def clean_name(name: str) -> str:
    """A member's name as the listing gives it (:func:`list_archive`): ``\\`` as ``/``, no empty or ``.`` part
    (a zip may hold ``a//b.png``, legal there)."""
    return "/".join(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _read_member(path: Path, member: str, limit: str = "MAX_ARCHIVE_MEMBER_BYTES") -> bytes:
    """A member's bytes, read no further than the limit ``limit`` of :mod:`featbus.io` names
    (:data:`~featbus.io.MAX_ARCHIVE_MEMBER_BYTES`, a table's :data:`~featbus.io.MAX_TABLE_BYTES`) + 1."""
    budget = getattr(_io, limit)
    name = f"{path}!{member}"
    try:
        handle = _opened(path)
        if isinstance(handle, zipfile.ZipFile):  # the member under its stored name (a//b.png listed as a/b.png)
            stored = member if member in handle.NameToInfo else next(
                (i.filename for i in handle.infolist() if clean_name(i.filename) == member), member)
            with handle.open(stored) as fh:
                data = fh.read(budget + 1)
        else:
            with handle.lock:
                data = handle.read(member, budget)
    except KeyError:
        raise FileNotFoundError(f"{name!r}: no such member of its archive") from None
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, NotImplementedError, ArchiveError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ImageError(f"cannot be read from its archive ({type(exc).__name__}: {_one_line(exc)})",
                         path=name) from None
    if len(data) > budget:
        raise ImageError(f"expands beyond the budget of one member ({_io.limit_words(limit)} "
                         "bytes), whatever its header declares: never read whole", path=name)
    return data


@contextlib.contextmanager
def member_file(ref):
    """A file to read ``ref`` by: a path as it is; an :class:`ArchiveMember` (a table inside an archive)
    copied, within :data:`~featbus.io.MAX_TABLE_BYTES` whatever its header declares, to a private
    temporary folder under its own file name (removed after), so that a table inside an archive is read
    by the one table reader (:func:`featbus.datasets._release_tables.read_table`). A member that cannot
    be read raises :class:`ArchiveError` naming it."""
    if not isinstance(ref, ArchiveMember):
        yield Path(ref)
        return
    try:
        data = _read_member(Path(ref.archive), ref.member, "MAX_TABLE_BYTES")
    except (ImageError, FileNotFoundError) as exc:
        raise ArchiveError(f"{os.fspath(ref)!r} {getattr(exc, 'reason', None) or exc}") from None
    with tempfile.TemporaryDirectory(prefix="featbus-table-") as folder:  # mode 0700: this user's only
        copy = Path(folder) / ref.name
        copy.write_bytes(data)
        yield copy


class _Reference:
    """What an archive's member and an array's row share: their name as text, their header's probe."""

    def __str__(self) -> str:
        return self.__fspath__()

    def probe(self) -> tuple[tuple[int, int] | None, tuple[str, str] | None]:
        """``(shape, problem)`` as :func:`featbus.io.header_shape` gives a file's: an array row's shape, a
        member's or a parquet cell's header."""
        try:
            data = self.read()
        except (ImageError, ValueError, OSError) as exc:  # FileNotFoundError is an OSError
            return None, ("unreadable", getattr(exc, "reason", None) or str(exc))
        if isinstance(data, np.ndarray):
            if data.ndim not in (2, 3):
                return None, ("not an image", f"a row of shape {data.shape}")
            return tuple(data.shape[:2]), None
        return _io.probe_bytes(data, getattr(self, "member", ""))


@dataclass(frozen=True)
class ArchiveMember(_Reference):
    """One member of a zip or tar archive, as an image (or a mask) read in place."""

    archive: Path
    member: str  # the member's name in the archive, '/'-separated

    def __fspath__(self) -> str:
        return f"{os.fspath(self.archive)}!{self.member}"

    @property
    def name(self) -> str:
        return PurePosixPath(self.member).name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.member).suffix

    def read(self) -> bytes:
        """The member's bytes (bounded: :data:`~featbus.io.MAX_ARCHIVE_MEMBER_BYTES`)."""
        return _read_member(Path(self.archive), self.member)


@dataclass(frozen=True)
class ArrayRow(_Reference):
    """Row ``index`` of array ``key`` of an ``.npz`` (pixels) or of column ``key`` of a parquet file
    (a Hugging Face image: a struct whose ``bytes`` are the encoded file)."""

    file: Path
    key: str
    index: int

    def __fspath__(self) -> str:
        return f"{os.fspath(self.file)}!{self.key}[{self.index}]"

    @property
    def name(self) -> str:
        return f"{Path(self.file).stem}_{self.key}_{self.index}"

    @property
    def suffix(self) -> str:
        return ""

    def read(self):
        """The row's pixels (``.npz``) or encoded bytes (parquet)."""
        file = Path(self.file)
        npz = file.suffix.lower() == ".npz"
        rows = load_array(file, self.key) if npz else parquet_column(file, self.key)
        if not 0 <= self.index < len(rows):
            raise ImageError(f"is past the {len(rows)} rows of {self.key!r}", path=os.fspath(self))
        data = rows[self.index]
        if not npz and not data:
            raise ImageError("holds no image bytes", path=os.fspath(self))
        return data


# --------------------------------------------------------------------------- arrays


def npz_arrays(file: str | os.PathLike) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The arrays of an ``.npz`` by name with their shapes and dtypes, from each member's header
    (no array is read); an object array (pickled) or a damaged file raises :class:`ArchiveError`."""
    out = {}
    try:
        with zipfile.ZipFile(file) as zf:
            infos = zf.infolist()
            if len(infos) > _io.MAX_ARCHIVE_MEMBERS:
                raise ArchiveError(f"{os.fspath(file)!r} lists {len(infos):,} arrays, more than "
                                   f"{_io.limit_words('MAX_ARCHIVE_MEMBERS')}")
            for info in [i for i in infos if i.filename.endswith(".npy")]:
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = reader(fh)
                out[info.filename[:-4]] = (shape, dtype)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"{os.fspath(file)!r} is not a readable .npz ({type(exc).__name__}: {exc})") from None
    return out


def _stamp(file: Path) -> tuple:
    st = os.stat(file)
    return os.fspath(file), st.st_mtime_ns, st.st_size


def _within(what: str, nbytes: int, limit: str = "MAX_ARRAY_BYTES") -> None:
    """:class:`ArchiveError` when an array or a column expands beyond the limit ``limit`` names
    (:data:`~featbus.io.MAX_ARRAY_BYTES`)."""
    if nbytes > getattr(_io, limit):
        raise ArchiveError(f"{what} expands to {nbytes:,} bytes, more than {_io.limit_words(limit)}")


def _while_unchanged(read):
    """``read(file, *args)`` read once while the file is unchanged (by its path, mtime and size; the
    last eight kept: a hub shard's label, image and name columns, of two shards or more)."""
    cached = functools.lru_cache(maxsize=8)(lambda stamp, *args: read(stamp[0], *args))
    return functools.wraps(read)(lambda file, *args: cached(_stamp(Path(file)), *args))


@_while_unchanged
def load_array(file: str | os.PathLike, key: str) -> np.ndarray:
    """Array ``key`` of an ``.npz``, read once while the file is unchanged (never unpickled), its size
    checked from its header first (:data:`~featbus.io.MAX_ARRAY_BYTES`)."""
    shape, dtype = npz_arrays(file).get(key, (None, None))
    if shape is None:
        raise FileNotFoundError(f"{file!r} holds no array {key!r}")
    _within(f"array {key!r} of {file!r}", int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    with np.load(file, allow_pickle=False) as npz:
        array = npz[key]
    array.setflags(write=False)
    return array


class _Rows(Sequence):
    """A parquet column's values as a list whose items are made Python objects only when asked for (a value many
    rows share, dictionary-encoded, is held once)."""

    def __init__(self, chunks: list):
        self.chunks = chunks
        self.starts = [0]
        for chunk in chunks:
            self.starts.append(self.starts[-1] + len(chunk))

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = bisect.bisect_right(self.starts, index) - 1
        return self.chunks[k][index - self.starts[k]].as_py()

    def __iter__(self):
        for chunk in self.chunks:
            yield from chunk.to_pylist()


@_while_unchanged
def parquet_column(file: str | os.PathLike, column: str, field: str = "bytes", limit: str = "MAX_ARRAY_BYTES"):
    """Column ``column`` of a parquet file as a list, read once while the file is unchanged; a struct (an image:
    ``{"bytes", "path"}``, as Hugging Face writes one) as its ``field``. Its size is checked from the footer, then
    by what it decodes to, counted batch by batch (one 4 MB image dictionary-encoded in every row counted in each),
    before it is read whole: within the limit ``limit`` names (:data:`~featbus.io.MAX_ARRAY_BYTES`). A row is made
    a Python object only when asked for."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(file).metadata
    arrow = meta.schema.to_arrow_schema()
    if column not in arrow.names:
        raise FileNotFoundError(f"{os.fspath(file)!r} holds no column {column!r}")
    kind = arrow.field(column).type
    if pa.types.is_struct(kind) and kind.get_field_index(field) < 0:
        return _Rows([pa.nulls(meta.num_rows)])
    read = f"{column}.{field}" if pa.types.is_struct(kind) else column
    leaves = [i for i in range(meta.num_columns)
              if meta.schema.column(i).path == read or meta.schema.column(i).path.startswith(f"{read}.")]
    what = f"column {read!r} of {os.fspath(file)!r}"
    _within(what, sum(meta.row_group(g).column(i).total_uncompressed_size
                      for g in range(meta.num_row_groups) for i in leaves), limit)
    chunks, rows, total = [], 0, 0
    for batch in parquet_batches(Path(file), getattr(_io, limit), [read])[1]:  # each batch counted before it is kept
        values = batch.column(0).flatten()[0] if pa.types.is_struct(kind) else batch.column(0)
        rows, total = rows + len(values), total + decoded_bytes(values)
        _within(f"{what} (its first {rows:,} rows)", total, limit)
        chunks.append(values)
    return _Rows(chunks)


# --------------------------------------------------------------------------- archives


#: The kind of the last member :func:`_contents` gives of a tar that ends without its end-of-archive blocks.
_CUT_SHORT = "the end of a cut-short tar"


def _contents(path: Path) -> list[tuple[str, int, str | None]]:
    """The archive's table of contents (its central directory, its tar headers), nothing extracted: each
    member's ``(name, size, kind)``, kind None for a regular file, else 'a folder', 'a link', 'a device or
    FIFO'; a tar that ends without its end-of-archive blocks (cut short after a member: what followed is
    lost) ends with an entry of kind :data:`_CUT_SHORT` naming its last member."""
    kind = archive_kind(path)
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()
            if len(infos) > _io.MAX_ARCHIVE_MEMBERS:
                raise ArchiveError(f"{str(path)!r} lists {len(infos):,} members, more than "
                                   f"{_io.limit_words('MAX_ARCHIVE_MEMBERS')}: not opened")
            return [(i.filename, i.file_size, "a folder" if i.is_dir() else "a link" if stat.S_ISLNK(m) else
                     "a device or FIFO" if stat.S_IFMT(m) and not stat.S_ISREG(m) else None)
                    for i, m in ((i, i.external_attr >> 16) for i in infos)]
        out = []
        with _open_tar(path) as tf:
            for info in tf:  # headers only, one at a time (a tar has no directory to count first)
                if len(out) >= _io.MAX_ARCHIVE_MEMBERS:
                    raise ArchiveError(f"{str(path)!r} lists more than {_io.limit_words('MAX_ARCHIVE_MEMBERS')} "
                                       "members: not opened")
                what = ("a folder" if info.isdir() else "a link" if info.issym() or info.islnk() else
                        None if info.isreg() else "a device or FIFO")
                out.append((info.name, info.size, what))
            if out and tf.fileobj.tell() < tf.offset + tarfile.BLOCKSIZE:  # no end-of-archive block was read
                out.append((out[-1][0], 0, _CUT_SHORT))
        return out
    except _HeaderRefused as exc:
        raise ArchiveError(f"{str(path)!r} has, before its member {len(out) + 1:,} (at byte {exc.offset:,}), "
                           f"{exc.what}: not opened") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{str(path)!r} is not a readable {kind} archive ({type(exc).__name__}: "
                           f"{_one_line(exc)})") from None


def list_archive(path: str | os.PathLike, suffixes: tuple[str, ...], not_read: tuple[str, ...] = (),
                 tables: tuple[str, ...] = ()) -> tuple[list[str], list[LeftOut]]:
    """``(members, left out)``: the regular members of the archive at ``path`` whose suffix (any case)
    is one of ``suffixes``, by their names in sorted order, and a :class:`~featbus._records.LeftOut`
    for each member left out, named ``archive.zip!member`` (see the module for the rules: those of
    :func:`featbus.io.list_folder`, and an archive's own; a table, of a suffix in ``tables``, is also
    ``"too large"`` above :data:`~featbus.io.MAX_TABLE_BYTES`). Nothing is extracted; :class:`ArchiveError`
    when the archive is refused whole (too many members, a total-size bomb, damaged)."""
    path = Path(path)
    infos = _contents(path)
    total = sum(size for _, size, kind in infos if kind is None)
    if total > _io.MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"{str(path)!r} declares {total:,} bytes of members, more than "
                           f"{_io.limit_words('MAX_ARCHIVE_BYTES')} (a total-size bomb?): not opened")
    wanted = tuple(s.lower() for s in suffixes)
    left_out: list[LeftOut] = []
    seen: set[str] = set()  # the members listed

    def out(name: str, reason: str, detail: str) -> None:
        left_out.append(LeftOut(f"{path.name}!{name}", reason, detail))

    for raw, size, kind in infos:
        name, clean = raw.replace("\\", "/"), clean_name(raw)
        parts, low = clean.split("/"), clean.lower()
        suffix = PurePosixPath(low).suffix
        if kind == _CUT_SHORT:
            out("(its end)", "unreadable", f"cut short: the tar ends after its member {raw!r} without its "
                                           "end-of-archive blocks, so whatever followed is lost (download it again)")
        elif not clean:
            continue
        elif name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            out(name, "outside the release", "a member named outside the archive (zip-slip): never read")
        elif any(p.startswith(".") or p == "__MACOSX" for p in parts) or kind == "a folder":
            continue  # hidden, as in a folder; a folder
        elif len(parts) - 1 > _io.MAX_FOLDER_DEPTH:
            out(clean, "unreadable", f"a folder deeper than the limit ({_io.limit_words('MAX_FOLDER_DEPTH')})")
        elif is_release_file(low):
            out(clean, "not an image", "an archive inside the archive: not opened (unpack the outer one)")
        elif suffix not in wanted + not_read:
            continue
        elif kind is not None:
            out(clean, "unreadable", f"{kind} inside the archive, not followed (never read)")
        elif suffix in not_read:
            out(clean, "not an image", f"featbus does not read {suffix} files (convert it to PNG)")
        elif size > _io.MAX_ARCHIVE_MEMBER_BYTES:
            out(clean, "too large", f"expands to {size:,} bytes, more than "
                                    f"{_io.limit_words('MAX_ARCHIVE_MEMBER_BYTES')}")
        elif suffix in tables and size > _io.MAX_TABLE_BYTES:
            out(clean, "too large", f"a table of {size:,} bytes, more than {_io.limit_words('MAX_TABLE_BYTES')}: "
                                    "not read")
        elif clean in seen:
            out(clean, "duplicate", "a second member of the same name (the first is read)")
        else:
            seen.add(clean)
    return sorted(seen), left_out


# --------------------------------------------------------------------------- names back to references

_ROW = re.compile(r"^(?P<file>.+\.(?:npz|parquet))!(?P<key>[^!\[\]]+)\[(?P<index>\d+)\]$", re.IGNORECASE)


def reference_from_text(text: str, base: str | os.PathLike = ".") -> ArchiveMember | ArrayRow | None:
    """The reference an index's cell names (``archive.zip!a/b.png``, ``file.npz!train_images[12]``,
    relative to ``base`` unless absolute), else ``None`` (a plain file's name, even one holding a
    ``!``): the part before the ``!`` must be an archive, ``.npz`` or parquet file that is there."""
    found = _ROW.match(text)
    if found:
        file = Path(os.path.abspath(os.path.join(base, found["file"])))
        return ArrayRow(file, found["key"], int(found["index"])) if file.is_file() else None
    head, sep, member = text.partition("!")
    while sep:
        file = Path(os.path.abspath(os.path.join(base, head)))
        if archive_kind(head) is not None and file.is_file():
            return ArchiveMember(file, member)
        more, sep, member = member.partition("!")
        head = f"{head}!{more}"
    return None
