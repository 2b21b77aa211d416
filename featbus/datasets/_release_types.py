"""The types of a read release (:mod:`featbus.datasets.release`): the refusal, the summary and the
release itself, with its index writer."""

from __future__ import annotations

import copy
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from .._records import LeftOut
from ._release_index import escape_cell, unescape_cell
from .sources._base import Entry, ReleaseError

__all__ = ["LEFT_OUT_REASONS", "PATIENT_SOURCES", "LeftOut", "Release", "ReleaseError",
           "ReleaseSummary", "escape_cell", "unescape_cell"]

#: Why a file or row is left out (:meth:`ReleaseSummary.left_out_counts`); ``cropped image``: a
#: lesion's crop a release ships beside its scan (CBIS-DDSM), never a scan.
LEFT_OUT_REASONS = ("mask", "no row", "no image", "unreadable", "duplicate", "not an image", "outside the release",
                    "mask size differs", "two labels", "no annotation", "bad annotation", "mask not found",
                    "too large", "cropped image")
#: Where the patients came from (:attr:`ReleaseSummary.patient_source`).
PATIENT_SOURCES = ("column", "folder", "pattern", "DICOM header", "file-name prefix", "one per image")


@dataclass
class ReleaseSummary:
    """What :func:`read_release` read, in numbers and in words (:meth:`text`)."""

    root: Path
    n_images: int = 0
    n_masks_paired: int = 0
    n_mask_files: int = 0
    mask_rule: str | None = None
    table: Path | None = None
    image_column: str | None = None
    key_role: str = "images"  # what the table's key column names: "images", or "patient folders" (a row per folder)
    label_column: str | None = None
    group_column: str | None = None
    mask_column: str | None = None
    table_candidates: list[str] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)
    class_source: str | None = None
    n_patients: int = 0
    patient_source: str = "one per image"
    patient_detail: str = ""
    left_out: list[LeftOut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    label_notes: list[str] = field(default_factory=list)
    #: the table's pixel-size column (its unit, None when its name states none), how many images have a
    #: pixel size (from it or from their DICOM headers) and those that lack one with why (row or file)
    pixel_size_column: str | None = None
    pixel_size_unit: str | None = None
    n_pixel_sizes: int = 0
    n_dicom_pixel_sizes: int = 0
    pixel_size_missing: list[tuple[str, str]] = field(default_factory=list)
    #: images per published split (``{"train": 120, "valid": 30, "test": 33}``, ``"no split"`` for those
    #: without one: :func:`~featbus.datasets._release_rules.split_counts`), empty without splits
    splits: dict[str, int] = field(default_factory=dict)
    #: where a source lists the images itself (``claims_images``): which files, in the paragraph's words
    source: str | None = None
    #: where the pixel sizes came from when a source gives them (``"the DICOM headers"``)
    pixel_size_source: str | None = None

    def left_out_counts(self) -> dict[str, int]:
        """How many files or rows were left out for each reason (:data:`LEFT_OUT_REASONS`)."""
        counts = Counter(r.reason for r in self.left_out)
        return {r: counts[r] for r in LEFT_OUT_REASONS if counts[r]}

    def text(self) -> str:
        """The one short paragraph every command prints before a model loads."""
        parts = [f"read {str(self.root)!r}: {self.n_images} images"]
        if self.n_mask_files:
            drawn = (self.mask_rule or "").startswith("drawn")  # by an annotation file: no mask file
            parts.append(f"{self.n_masks_paired} paired with {self.n_mask_files} "
                         + (f"masks {self.mask_rule}" if drawn else f"mask files ({self.mask_rule})"))
        else:
            parts.append("no mask paired")
        if self.table is not None:
            cols = ", ".join(f"{role} {col!r}" for role, col in (
                (self.key_role, self.image_column), ("labels", self.label_column), ("patients", self.group_column),
                ("masks", self.mask_column)) if col)
            parts.append(f"table {self.table.name} ({cols})")
        parts.append(self.source)
        if self.table_candidates:
            parts.append("also considered: " + "; ".join(self.table_candidates[:4])
                         + (f" and {len(self.table_candidates) - 4} more" if len(self.table_candidates) > 4 else ""))
        if self.classes:
            parts.append("classes " + ", ".join(f"{c} {n}" for c, n in self.classes.items())
                         + (f" ({self.class_source})" if self.class_source else ""))
        else:
            parts.append("unlabelled")
        if self.splits:
            parts.append("splits " + ", ".join(f"{k} {n}" for k, n in self.splits.items()))
        parts.append(f"{self.n_patients} patients ({self.patient_source}"
                     + (f": {self.patient_detail}" if self.patient_detail else "") + ")")
        parts.append(self.pixel_size_text())
        counts = self.left_out_counts()
        if counts:
            first = {r.reason: r.item for r in reversed(self.left_out)}  # each reason's first item
            parts.append("left out " + ", ".join(f"{n} ({r}, e.g. {first[r]!r})" if r != "mask" else f"{n} ({r})"
                                                 for r, n in counts.items()))
        else:
            parts.append("nothing left out")
        return "; ".join(filter(None, parts)) + "." + "".join(f" {n}" for n in self.notes)  # empty parts dropped

    def pixel_size_text(self) -> str:
        """The paragraph's words on the images' physical pixel size (issue 82): ``pixel size from
        column 'Pixel_size' (unit not stated) for 256 of 256 images``, with the images that lack one
        named; ``""`` when nothing gives one."""
        if not self.n_pixel_sizes and not self.pixel_size_column:
            return ""
        unit = f"in {self.pixel_size_unit}" if self.pixel_size_unit else "unit not stated"
        where = filter(None, [self.pixel_size_column and f"column {self.pixel_size_column!r} ({unit})",
                              self.n_dicom_pixel_sizes and f"DICOM headers ({self.n_dicom_pixel_sizes})",
                              self.pixel_size_source])  # those of the three that give sizes
        words = f"pixel size from {' and '.join(where)} for {self.n_pixel_sizes} of {self.n_images} images"
        if self.pixel_size_missing:
            shown = ", ".join(f"{item} {why}" for item, why in self.pixel_size_missing[:3])
            more = len(self.pixel_size_missing) - 3
            words += (f", {len(self.pixel_size_missing)} without one ({shown}"
                      + (f" and {more} more" if more > 0 else "") + "; those follow the longer-side rule)")
        return words


def _view(attr: str, doc: str, optional: bool = False) -> property:
    """A read-only list of the entries' ``attr``; ``optional``, only when some entry gives it (a release
    built from lists: when the list was given), else None for the splits (a release has splits or none)
    and empty for the rest."""

    def values(self) -> list | None:
        if not optional or attr in self._given:
            return [getattr(e, attr) for e in self._entries]
        return None if attr == "split" else []

    return property(values, doc=doc)


class Release:
    """A release as read: a list of :class:`~featbus.datasets.sources.Entry`, one per image (its
    ``image`` absolute, or an image reference; its ``patient`` the image's group), with what was
    read of the whole (``summary``, ``class_order``...). The per-image lists of earlier versions
    (:attr:`images`, :attr:`labels`, :attr:`groups`, :attr:`masks`, :attr:`rows`,
    :attr:`pixel_sizes`, :attr:`splits`, :attr:`meta`) are read-only views of the entries.

    Built from ``entries=``, or from those lists as before (``Release(root, images, labels,
    groups, masks, summary, ...)``); see :func:`read_release`."""

    def __init__(self, root: Path, images=(), labels=(), groups=(), masks=(), summary: ReleaseSummary | None = None,
                 rows: list[dict] | None = None, class_order: list[str] | None = None, group_pattern: str | None = None,
                 copies: list[tuple[str, str]] | None = None, pixel_sizes: list[dict | None] | None = None,
                 splits: list[str] | None = None, unfit_masks: dict | None = None, from_index: bool = False,
                 meta: list[dict] | None = None, *, entries: list | None = None):
        self.root, self.summary, self.group_pattern, self.from_index = root, summary, group_pattern, from_index
        self.class_order = list(class_order or [])
        #: class folders left out as copies of the others' images (``All/``), with why
        self.copies = list(copies or [])
        #: an image's masks of another size than its own (left out, ``mask size differs``), by the image:
        #: read with it by :meth:`to_bunch`, which drops them naming both sizes as every loader does
        self.unfit_masks = dict(unfit_masks or {})
        if entries is None:
            entries = [Entry(image, labels[i], masks[i], patient=groups[i], split=splits[i] if splits else None,
                             pixel_size=pixel_sizes[i] if pixel_sizes else None, row=rows[i] if rows else None,
                             meta=meta[i] if meta else {}) for i, image in enumerate(images)]
            given = {attr for attr, values in (("row", rows), ("pixel_size", pixel_sizes), ("meta", meta)) if values}
            given |= {"split"} if splits is not None else set()
        else:  # the entries' attributes that some entry gives
            given = {a for a in ("row", "pixel_size", "split", "meta") if any(getattr(e, a) for e in entries)}
        self._entries, self._given = list(entries), frozenset(given)

    @classmethod
    def of(cls, root, summary: ReleaseSummary, entries: list, class_order: list, **options) -> Release:
        """The one builder every reading ends in: the release of ``entries`` (one per image, its image
        absolute or a reference, its patient the image's group), ``summary``'s counts of images, masks,
        classes and patients set from them; ``options`` the constructor's."""
        labels = [e.label for e in entries]
        summary.n_images, summary.n_patients = len(entries), len({e.patient for e in entries})
        summary.n_masks_paired = sum(1 for e in entries if e.masks)
        summary.n_mask_files = sum(len(e.masks) for e in entries)
        summary.classes = {c: labels.count(c) for c in class_order if labels.count(c)}
        return cls(root, summary=summary, class_order=class_order, entries=entries, **options)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, k):
        return self._entries[k]

    def __iter__(self):
        return iter(self._entries)

    def __bool__(self) -> bool:  # a release read is a release, whether or not it holds images
        return True

    def __repr__(self) -> str:
        return f"Release({str(self.root)!r}, {len(self)} images)"

    @property
    def entries(self) -> list:
        """The entries, one per image (a copy: the release itself is not changed through it)."""
        return list(self._entries)

    images = _view("image", "Each image's path (absolute), or its image reference.")
    labels = _view("label", "Each image's label (``None``: unlabelled).")
    groups = _view("patient", "Each image's patient (its group).")
    masks = _view("masks", "Each image's lesion masks (absolute paths, or drawn masks).")
    rows = _view("row", "Each image's table row or annotation (``{}`` where none), empty when nothing gives one.",
                 optional=True)
    pixel_sizes = _view("pixel_size", """Each image's physical pixel size where the data gives one (the meta entry
        of :data:`featbus._records.PIXEL_SIZE_KEY`), else None; empty when nothing gives one.""", optional=True)
    splits = _view("split", """Each image's published split (``"train"``, ``"valid"``, ``"test"``; ``""`` where
        none is given), None when the release has no splits.""", optional=True)
    meta = _view("meta", """What a source says of each image beyond its label
        (``{"laterality": "L", "view": "CC"}``), empty when no source says anything.""", optional=True)

    def take(self, keep) -> Release:
        """The release of the images ``keep`` (positions, in that order), the summary as it is."""
        taken = copy.copy(self)
        taken._entries = [self._entries[i] for i in keep]
        return taken

    def relabelled(self, label: str) -> Release:
        """The release with every image labelled ``label`` and that one class (a folder read as one class)."""
        out = copy.copy(self)
        out._entries = [replace(e, label=label) for e in self._entries]
        out.class_order = [label]
        return out

    def to_frame(self):
        """The index as a :class:`pandas.DataFrame`: ``image``, ``label``, ``group``, ``mask`` (masks
        joined by ``;``), paths relative to the release's root."""
        import pandas as pd

        def rel(p: Path) -> str:
            try:
                return Path(p).relative_to(self.root).as_posix()
            except ValueError:
                return str(p)

        return pd.DataFrame({"image": [rel(p) for p in self.images], "label": self.labels, "group": self.groups,
                             "mask": [";".join(rel(m) for m in ms) for ms in self.masks],
                             **({"split": self.splits} if self.splits is not None else {})})

    def write_index(self, path: str | os.PathLike) -> Path:
        """Write the index as a CSV that every command takes back as DATA with every value as it was
        (:mod:`featbus.datasets._release_index`): ``image``, ``label``, ``group`` (none where nothing gave
        the patients: read back, commands group near-duplicate images as they did on the release), one
        ``mask`` column per mask of the image with most (``mask``, ``mask 2``...; a mask an annotation file draws as
        ``<file>.json#<image id>``), ``split`` where the release has splits, and each image's pixel size
        where the release gives one; paths relative to the CSV's folder. A cell that a spreadsheet would
        run as a formula is escaped with a leading apostrophe (:func:`escape_cell`), reversibly."""
        from ._release_index import write_index_rows

        path = Path(path)
        base = path.resolve().parent

        def rel(p: Path) -> str:
            try:
                return Path(os.path.relpath(Path(p).resolve(), base)).as_posix()
            except ValueError:  # another drive
                return str(Path(p).resolve())

        # the pixel sizes travel too (issue 82): in mm, or under the release's own column when it states no unit
        sizes = self.pixel_sizes or [None] * len(self.images)
        known = [p for p in sizes if p is not None]
        size_column = ("pixel_size_mm" if known and all(p.get("unit") == "mm" for p in known) else
                       self.summary.pixel_size_column if known and self.summary.pixel_size_unit is None else None)
        rows = [(rel(e.image), e.label or "", e.patient, tuple(rel(m) for m in e.masks)) for e in self._entries]

        def its_own(e) -> bool:  # the image its own patient, by its name (an archive member's: within it; an
            # index's: its cell, relative to the index's folder, the release's root)
            name = Path(e.image).as_posix() if isinstance(e.image, Path) else os.fspath(e.image)
            return name == e.patient or name.endswith(("/" + e.patient, "!" + e.patient)) or (
                isinstance(e.image, Path) and (self.root / e.patient).resolve() == e.image.resolve())

        # nothing gave the patients (each image its own, by its name): no group column, so that a command
        # reading the index back groups near-duplicate images as it did on the release
        patients = not (self.summary.patient_source == "one per image" and all(map(its_own, self._entries)))
        return write_index_rows(path, rows, size_column, [p["size"] if p else None for p in sizes], self.splits,
                                patients=patients)

    def to_bunch(self, *, on_error: str = "raise", n_jobs: int | None = None, require_labels: bool = True,
                 duplicate_threshold: int | None = None, guess_groups: bool = True):
        """Read the pixels: the :class:`~sklearn.utils.Bunch` of :func:`featbus.datasets.load_data`, the
        one loop of :mod:`featbus.datasets` that decodes images (``guess_groups=False``: one group per
        image where nothing says the patients, instead of near-duplicate groups)."""
        from ._release_bunch import release_bunch

        return release_bunch(self, on_error=on_error, n_jobs=n_jobs, require_labels=require_labels,
                             duplicate_threshold=duplicate_threshold, guess_groups=guess_groups)
