"""Zip and tar archives read in place, as the folder they unpack to (a Kaggle download's
``archive.zip`` holding ``Dataset_BUSI_with_GT/benign/benign (1).png``): ``featbus read archive.zip``,
or an archive inside a release's folder (this module's source: it claims the images, which are
the archive's members, :class:`~featbus.datasets.sources._refs.ArchiveMember`).

Members are listed by :func:`featbus.datasets.sources._refs.list_archive` (its rules, and
:data:`featbus.io.RELEASE_LIMITS`), then read by the folder layouts' rules (class folders, ``_mask`` files,
patients from names); its tables by the folder's table rules (:mod:`featbus.datasets.sources.table`), read in
place (:func:`~featbus.datasets.sources.table.read_at`), RSNA's and VinDr-Mammo's by their sources
(``IN_ARCHIVES``). A DICOM member's header is read from its bytes as a folder's file is (its ``PatientID`` as
the patient where nothing else names one, its pixel spacing, a table keyed by a header field:
:mod:`featbus.datasets.sources.dicom`). Other annotation files: :func:`in_place`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..._records import LeftOut
from ...vocabulary import NOT_READ_IMAGES, NOT_TABLES, TABLE_SUFFIXES
from .._release_rules import IMAGE_SUFFIXES
from .._release_tables import SourceRefused
from ._base import ReleaseError, SourceRead
from ._refs import ArchiveError, ArchiveMember, archive_kind, list_archive

__all__ = ["NAME", "SUFFIXES", "ArchiveRoot", "in_place", "read", "read_archive", "recognise", "walk_archive"]

NAME = "archive"
#: What the walk lists for this source (a ``.tar.gz``'s suffix is ``.gz``: :func:`recognise` keeps the archives).
SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".tbz2", ".txz")


@dataclass(frozen=True)
class ArchiveRoot:
    """An archive as a release's root: ``root / "benign/a.png"`` is that member
    (:class:`~featbus.datasets.sources._refs.ArchiveMember`), below the wrapper folder ``prefix`` when there is one;
    path-like as the archive's own path, named as the folder it unpacks to."""

    archive: Path  # as given: the paragraph names it so
    prefix: str = ""  # '' or 'Dataset_BUSI_with_GT/'

    def __truediv__(self, rel) -> ArchiveMember:
        """The member ``rel`` names, its archive an absolute path (as an index reads it back)."""
        member = self.prefix + PurePosixPath(os.fspath(rel)).as_posix()
        return ArchiveMember(Path(os.path.abspath(self.archive)), member)

    def __fspath__(self) -> str:
        return os.fspath(self.archive) + (f"!{self.prefix.rstrip('/')}" if self.prefix else "")

    __str__ = __fspath__

    def __repr__(self) -> str:
        return f"ArchiveRoot({os.fspath(self)!r})"

    @property
    def name(self) -> str:
        return self.prefix.rstrip("/").rsplit("/", 1)[-1] if self.prefix else self.archive.name.split(".")[0]


def walk_archive(archive: Path, also: tuple[str, ...] = ()
                 ) -> tuple[ArchiveRoot, list[Path], list[Path], list[LeftOut]]:
    """``(root, image members, other members, left out)``, the members relative to the root: the archive
    listed (a table above :data:`~featbus.io.MAX_TABLE_BYTES` left out; a release's notes, README or
    LICENSE, not read, as in a folder), a single wrapper folder taken as the root; the others are its
    tables and the sources' files (``also``), which :func:`in_place` sorts."""
    suffixes = IMAGE_SUFFIXES + TABLE_SUFFIXES + tuple(s for s in also if s not in SUFFIXES)
    members, left_out = list_archive(archive, suffixes, NOT_READ_IMAGES, TABLE_SUFFIXES)
    tops = {m.split("/", 1)[0] for m in members}
    wrapped = len(tops) == 1 and all("/" in m for m in members) and any(m.count("/") >= 2 for m in members)
    prefix = next(iter(tops)) + "/" if wrapped else ""
    rels = [Path(m[len(prefix):]) for m in members]
    images = [r for r in rels if r.suffix.lower() in IMAGE_SUFFIXES]
    others = [r for r in rels if r.suffix.lower() not in IMAGE_SUFFIXES
              and (r.suffix.lower() not in TABLE_SUFFIXES or not NOT_TABLES.match(r.stem))]
    return ArchiveRoot(archive, prefix), images, others, left_out


def in_place(root: ArchiveRoot, others: list[Path], images: list[Path] = ()) -> tuple[list[Path], list[LeftOut]]:
    """``(the tables read in place, the others left out)``: the files a source that reads inside an
    archive (``IN_ARCHIVES``) may claim and the plain tables, in place; a file another source claims
    (a YOLO export's labels, COCO JSON, a CMMD table, CBIS-DDSM's case descriptions) or of no table suffix
    named, not read (unpack the archive to use it). A source's ``recognise`` that opens a file reads the
    member in place; one that cannot claims nothing here."""
    from . import _taken, modules

    claimed: dict[Path, str] = {}
    for source in (m for m in modules() if not getattr(m, "IN_ARCHIVES", False)):
        try:
            found = source.recognise([f for f in others if f not in claimed],
                                     **_taken(source.recognise, root=root, images=images))
        except (OSError, ValueError):  # a member its recognise cannot open in place
            continue
        claimed.update(dict.fromkeys(found, source.NAME))
    tables, left_out = [], []
    for rel in others:
        name = f"{root.archive.name}!{root.prefix}{rel.as_posix()}"
        if rel in claimed:
            left_out.append(LeftOut(name, "not an image", f"a file the source {claimed[rel]!r} reads: inside an "
                                                          "archive not read in place (unpack the archive to use it)"))
        elif rel.suffix.lower() in TABLE_SUFFIXES:
            tables.append(rel)
        else:
            left_out.append(LeftOut(name, "not an image", "an annotation file inside an archive is not read in "
                                                          "place (unpack the archive to use it)"))
    return tables, left_out


def read_archive(path: Path, arbiter):
    """The release an archive holds, read by the folder layouts' rules over its members
    (:class:`~featbus.datasets.Release` of :class:`~featbus.datasets.sources._refs.ArchiveMember`) through
    ``arbiter`` (:func:`featbus.datasets.release.arbiter`, which the reader hands the sources: no source
    imports the reader); a refused archive, or one without images, is a :class:`~featbus.datasets.ReleaseError`
    naming it."""
    from . import extra_suffixes, read_sources

    try:
        root, files, others, left_out = walk_archive(Path(path), extra_suffixes())
    except ArchiveError as exc:
        raise ReleaseError(str(exc)) from None
    if not files:
        nested = [x.item.split("!", 1)[1] for x in left_out if "an archive inside the archive" in x.detail]
        inside = (f": only {'an archive' if len(nested) == 1 else f'{len(nested)} archives'} inside it "
                  f"({', '.join(repr(n) for n in nested[:3])}{', ...' if len(nested) > 3 else ''}), not opened: "
                  "unpack the outer one and read what it holds" if nested else "")
        raise ReleaseError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in the archive {str(path)!r}{inside}")
    tables, not_read = in_place(root, others, files)
    left_out += not_read
    try:  # the sources that read their tables inside an archive (RSNA's train.csv), as in a folder
        reads, tables = read_sources(root, tables, files, "normal", in_archive=True, arbiter=arbiter)
    except SourceRefused as exc:
        raise ReleaseError(str(exc)) from None
    return arbiter(root, root.name, files, tables, left_out, reads, image_column=None, label_column=None,
                   group_column=None, group_pattern=None, mask_pattern=None, require_labels=False)


def recognise(files: list[Path]) -> list[Path]:
    """The zip and tar archives among the release's files."""
    return [f for f in files if archive_kind(f) is not None]


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal", *, arbiter) -> SourceRead:
    """The archive's images, each with what the folder layouts' rules give it (label, masks, patient,
    split), as members of the archive, read by ``arbiter`` (:func:`read_archive`); a refused archive, or one
    without images, is named, not read."""
    got = SourceRead(file, claims_images=True)
    try:
        rel = read_archive(root / file, arbiter)
    except ReleaseError as exc:
        got.not_used = str(exc)
        return got
    s = rel.summary
    where = file.as_posix()
    got.left_out = [LeftOut(r.item if "!" in r.item else f"{where}!{rel.root.prefix}{r.item}", r.reason, r.detail)
                    for r in s.left_out]  # the inner reader names members relative to the archive's root
    got.notes = [f"{where}: {n}" for n in s.notes]
    got.entries = rel.entries  # the inner release's entries as they are: its members, labels, patients, masks

    braced = str.maketrans({"{": "{{", "}": "}}"})  # the inner words as they are, {file} standing for the archive
    got.class_source = f"{s.class_source.translate(braced)} inside {{file}}" if s.class_source else None
    got.mask_rule = f"{s.mask_rule.translate(braced)}, inside {{file}}" if s.mask_rule else None
    got.patient_source, got.patient_detail = s.patient_source, s.patient_detail
    got.within, got.checked = s, True  # its members' headers and masks checked by the inner read
    return got
