"""Zip and tar archives read in place, as the folder they unpack to (a Kaggle download's
``archive.zip`` holding ``Dataset_BUSI_with_GT/benign/benign (1).png``): ``featbus read archive.zip``,
or an archive inside a release's folder (this module's source: it claims the images, which are
the archive's members, :class:`~featbus.datasets.sources._refs.ArchiveMember`).

Members are listed by :func:`featbus.datasets.sources._refs.list_archive` (a folder's rules and an archive's:
zip-slip names, links, nested archives, a member above its budget and a total-size bomb refused by
name, :data:`featbus.io.RELEASE_LIMITS`), then read by the folder layouts' rules (class folders,
``_mask`` files, patients from names). A single top folder is the download's wrapper (as a folder's
is). Its tables (CSV, TSV, Excel: those a folder's reader considers) are read in place by the folder's
table rules (:mod:`featbus.datasets.sources.table`: the table naming the images, its labels, patients,
pixel sizes and splits), each copied within :data:`featbus.io.MAX_TABLE_BYTES` to a private temporary file
(:func:`~featbus.datasets.sources._refs.member_file`); an annotation file inside an archive (COCO JSON...)
is named and not read (unpack the archive to use it).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ..._records import LeftOut
from .._release_rules import IMAGE_SUFFIXES, NOT_READ_IMAGES, NOT_TABLES, TABLE_SUFFIXES
from ._base import Entry, SourceRead
from ._refs import ArchiveError, ArchiveMember, archive_kind, list_archive

__all__ = ["NAME", "SUFFIXES", "ArchiveRoot", "read", "read_archive", "recognise", "walk_archive"]

NAME = "archive"
#: What the walk lists for this source (a ``.tar.gz``'s suffix is ``.gz``: :func:`recognise` keeps the archives).
SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".tbz2", ".txz")


class ArchiveRoot:
    """An archive as a release's root: ``root / "benign/a.png"`` is that member
    (:class:`~featbus.datasets.sources._refs.ArchiveMember`), below the wrapper folder ``prefix`` when there is one;
    path-like as the archive's own path, named as the folder it unpacks to."""

    def __init__(self, archive: Path, prefix: str = ""):
        self.archive = Path(archive)  # as given: the paragraph names it so
        self.prefix = prefix  # '' or 'Dataset_BUSI_with_GT/'

    def __truediv__(self, rel) -> ArchiveMember:
        """The member ``rel`` names, its archive an absolute path (as an index reads it back)."""
        member = self.prefix + PurePosixPath(os.fspath(rel)).as_posix()
        return ArchiveMember(Path(os.path.abspath(self.archive)), member)

    def __fspath__(self) -> str:
        return os.fspath(self.archive) + (f"!{self.prefix.rstrip('/')}" if self.prefix else "")

    __str__ = __fspath__

    def __repr__(self) -> str:
        return f"ArchiveRoot({os.fspath(self)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ArchiveRoot) and (other.archive, other.prefix) == (self.archive, self.prefix)

    def __hash__(self) -> int:
        return hash((self.archive, self.prefix))

    @property
    def name(self) -> str:
        return self.prefix.rstrip("/").rsplit("/", 1)[-1] if self.prefix else self.archive.name.split(".")[0]


def walk_archive(archive: Path, also: tuple[str, ...] = ()
                 ) -> tuple[ArchiveRoot, list[Path], list[Path], list[LeftOut]]:
    """``(root, image members, table members, left out)``, the members relative to the root: the archive
    listed (a table above :data:`~featbus.io.MAX_TABLE_BYTES` left out, an annotation file named, not read;
    a release's notes, README or LICENSE, not read, as in a folder), a single wrapper folder taken as the root."""
    suffixes = IMAGE_SUFFIXES + TABLE_SUFFIXES + tuple(s for s in also if s not in SUFFIXES)
    members, left_out = list_archive(archive, suffixes, NOT_READ_IMAGES, TABLE_SUFFIXES)
    tops = {m.split("/", 1)[0] for m in members}
    prefix = ""
    if len(tops) == 1 and all("/" in m for m in members) and any(m.count("/") >= 2 for m in members):
        prefix = next(iter(tops)) + "/"
    root = ArchiveRoot(archive, prefix)
    images, tables = [], []
    for m in members:
        rel = Path(m[len(prefix):])
        if rel.suffix.lower() in IMAGE_SUFFIXES:
            images.append(rel)
        elif rel.suffix.lower() in TABLE_SUFFIXES:
            if not NOT_TABLES.match(rel.stem):
                tables.append(rel)
        else:
            left_out.append(LeftOut(f"{archive.name}!{m}", "not an image", "an annotation file inside an "
                                    "archive is not read in place (unpack the archive to use it)"))
    return root, images, tables, left_out


def read_archive(path: Path):
    """The release an archive holds, read by the folder layouts' rules over its members
    (:class:`~featbus.datasets.Release` of :class:`~featbus.datasets.sources._refs.ArchiveMember`);
    a refused archive, or one without images, is a :class:`~featbus.datasets.ReleaseError` naming it."""
    from .._release_read import Reader
    from .._release_rules import IMAGE_SUFFIXES
    from .._release_types import ReleaseError
    from . import extra_suffixes

    try:
        root, files, tables, left_out = walk_archive(Path(path), extra_suffixes())
    except ArchiveError as exc:
        raise ReleaseError(str(exc)) from None
    if not files:
        raise ReleaseError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in the archive {str(path)!r}")
    return Reader(root, root.name, files, tables, left_out).read(
        reads=[], image_column=None, label_column=None, group_column=None, group_pattern=None, mask_pattern=None,
        require_labels=False, classes=None)


def recognise(files: list[Path]) -> list[Path]:
    """The zip and tar archives among the release's files."""
    return [f for f in files if archive_kind(f) is not None]


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal") -> SourceRead:
    """The archive's images, each with what the folder layouts' rules give it (label, masks, patient,
    split), as members of the archive."""
    from .._release_types import ReleaseError

    got = SourceRead(file, claims_images=True)
    try:
        rel = read_archive(root / file)
    except ReleaseError as exc:
        got.not_used = str(exc)
        return got
    s = rel.summary
    where = file.as_posix()
    for r in s.left_out:  # the inner reader names members relative to the archive's root
        item = r.item if "!" in r.item else f"{where}!{rel.root.prefix}{r.item}"
        got.left_out.append(LeftOut(item, r.reason, r.detail))
    got.notes = [f"{where}: {n}" for n in s.notes]
    for k, image in enumerate(rel.images):
        got.entries.append(Entry(image, rel.labels[k], tuple(rel.masks[k]), rel.groups[k],
                                 rel.splits[k] if rel.splits else None,
                                 rel.pixel_sizes[k] if rel.pixel_sizes else None,
                                 dict(rel.rows[k]) if rel.rows else None))
    def braced(words: str) -> str:  # the inner words as they are, {file} standing for the archive
        return words.replace("{", "{{").replace("}", "}}")

    got.class_source = f"{braced(s.class_source)} inside {{file}}" if s.class_source else None
    got.mask_rule = f"{braced(s.mask_rule)}, inside {{file}}" if s.mask_rule else None
    got.patient_source, got.patient_detail = s.patient_source, s.patient_detail
    got.within = s
    return got
