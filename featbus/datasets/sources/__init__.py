"""The release's sources: each module here reads one kind of file a publisher or a labelling tool
ships and gives one :class:`Entry` per image (:mod:`._base`). The reader
(:func:`featbus.datasets.read_release`) arbitrates between them: which one labels the images,
which others were considered and why not. A source module's interface (``NAME``, ``recognise``, ``read``,
``SUFFIXES``, ``IN_ARCHIVES``, the keywords each may take; no source imports the reader) and the recipe for a
new format, one module here, one line in :data:`SOURCES` and its tests: docs/developer.rst.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from .._release_tables import SourceError, SourceRefused
from ._base import DrawnMask, Entry, LeftOut, SourceRead

__all__ = ["SOURCES", "DrawnMask", "Entry", "LeftOut", "SourceRead", "extra_suffixes", "modules", "read_sources"]

#: The source modules of this package, specific first: each claims its files before the next one
#: looks (VOC claims its ``labelmap.txt`` and ``ImageSets`` lists before COCO or the tables; the
#: screening-mammography releases' tables, then download manifests, before any other).
SOURCES = (
    "index",
    "mias",
    "rsna",
    "vindr",
    "cbis_ddsm",
    "cmmd",
    "inbreast",
    "manifest",
    "archive",
    "medmnist",
    "hf_parquet",
    "yolo",
    "voc",
    "roboflow_masks",
    "labelme",
    "coco",
)


def modules() -> list:
    """The modules of :data:`SOURCES`, imported (each once, when a release is read)."""
    return [importlib.import_module(f"{__name__}.{name}") for name in SOURCES]


def extra_suffixes() -> tuple[str, ...]:
    """The file suffixes the sources need listed beyond the images and tables (their ``SUFFIXES``)."""
    return tuple(dict.fromkeys(s.lower() for m in modules() for s in getattr(m, "SUFFIXES", ())))


def _taken(fn, **offered) -> dict:
    """The keywords of ``offered`` that ``fn`` takes (a source's ``recognise`` or ``read``)."""
    takes = inspect.signature(fn).parameters
    return {k: v for k, v in offered.items() if k in takes}


def read_sources(root: Path, tables: list[Path], images: list[Path], unannotated: str, in_archive: bool = False,
                 arbiter=None, given: Path | None = None, options: dict | None = None):
    """``(reads, the files no source claimed)``: every source's files read, each once; a file a
    source cannot read is a :class:`SourceRead` whose ``not_used`` says why. ``tables``: the
    release's non-image files (tables, and files of the sources' ``SUFFIXES``); ``in_archive``: the
    release is inside a zip or tar (``root`` its :class:`~.archive.ArchiveRoot`), read by the sources
    whose ``IN_ARCHIVES`` is true. ``arbiter``: :func:`featbus.datasets.release.arbiter`, handed to a
    source whose ``read`` takes it (the archive source reads its members as a release through it), as
    ``recognised`` (every file the source recognised, read by one call on the first: LabelMe's one file per
    image); ``given``: the file given as the release (an archive, an index), ``options``:
    :func:`~featbus.datasets.read_release`'s, each handed to a source whose ``recognise`` or ``read`` takes it."""
    reads, claimed = [], set()
    for source in [m for m in modules() if not in_archive or getattr(m, "IN_ARCHIVES", False)]:
        mine = source.recognise([t for t in tables if t not in claimed],
                                **_taken(source.recognise, root=root, images=images, given=given))
        claimed.update(mine)
        as_one = "recognised" in inspect.signature(source.read).parameters  # a set of files read as one
        for rel in mine[:1] if as_one else mine:
            try:
                got = source.read(root, rel, images, unannotated, **_taken(source.read, arbiter=arbiter,
                                                                           options=options, recognised=mine))
                got.source_name = got.source_name or source.NAME
                reads.append(got)
            except SourceRefused:  # a file the source knows as the release's labels, unreadable: refused, named
                raise
            except (OSError, TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:  # a field's type
                reads.append(SourceRead(rel, not_used=str(exc) if isinstance(exc, (SourceError, OSError)) else
                                        f"an unreadable {source.NAME} file ({type(exc).__name__}: {exc})",
                                        source_name=source.NAME))
    return reads, [t for t in tables if t not in claimed]
