"""The types of a read release (:mod:`featbus.datasets.release`): the refusal, the summary and the
release itself, with its index writer."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .._records import LeftOut
from ._release_index import FORMULA_STARTS, escape_cell, unescape_cell

__all__ = ["FORMULA_STARTS", "LEFT_OUT_REASONS", "PATIENT_SOURCES", "LeftOut", "Release", "ReleaseError",
           "ReleaseSummary", "escape_cell", "unescape_cell"]

#: Why a file or row is left out (:meth:`ReleaseSummary.left_out_counts`); ``cropped image``: a
#: lesion's crop a release ships beside its scan (CBIS-DDSM), never a scan.
LEFT_OUT_REASONS = ("mask", "no row", "no image", "unreadable", "duplicate", "not an image", "outside the release",
                    "mask size differs", "two labels", "no annotation", "bad annotation", "mask not found",
                    "too large", "cropped image")
#: Where the patients came from (:attr:`ReleaseSummary.patient_source`).
PATIENT_SOURCES = ("column", "folder", "pattern", "DICOM header", "file-name prefix", "one per image")


class ReleaseError(ValueError):
    """A release featbus refuses to read; the message names the file or row and what is wrong."""


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
        if self.source:
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
        pixel = self.pixel_size_text()
        if pixel:
            parts.append(pixel)
        counts = self.left_out_counts()
        if counts:
            first = {}
            for r in self.left_out:
                first.setdefault(r.reason, r.item)
            parts.append("left out " + ", ".join(f"{n} ({r}, e.g. {first[r]!r})" if r != "mask" else f"{n} ({r})"
                                                 for r, n in counts.items()))
        else:
            parts.append("nothing left out")
        return "; ".join(parts) + "." + "".join(f" {n}" for n in self.notes)

    def pixel_size_text(self) -> str:
        """The paragraph's words on the images' physical pixel size (issue 82): ``pixel size from
        column 'Pixel_size' (unit not stated) for 256 of 256 images``, with the images that lack one
        named; ``""`` when nothing gives one."""
        if not self.n_pixel_sizes and not self.pixel_size_column:
            return ""
        where = []
        if self.pixel_size_column:
            unit = f"in {self.pixel_size_unit}" if self.pixel_size_unit else "unit not stated"
            where.append(f"column {self.pixel_size_column!r} ({unit})")
        if self.n_dicom_pixel_sizes:
            where.append(f"DICOM headers ({self.n_dicom_pixel_sizes})")
        if self.pixel_size_source:
            where.append(self.pixel_size_source)
        words = f"pixel size from {' and '.join(where)} for {self.n_pixel_sizes} of {self.n_images} images"
        if self.pixel_size_missing:
            shown = ", ".join(f"{item} {why}" for item, why in self.pixel_size_missing[:3])
            more = len(self.pixel_size_missing) - 3
            words += (f", {len(self.pixel_size_missing)} without one ({shown}"
                      + (f" and {more} more" if more > 0 else "") + "; those follow the longer-side rule)")
        return words


@dataclass
class Release:
    """A release as read: one entry per image in each list (see :func:`read_release`)."""

    root: Path
    images: list[Path]
    labels: list[str | None]
    groups: list[str]
    masks: list[tuple[Path, ...]]
    summary: ReleaseSummary
    rows: list[dict] = field(default_factory=list)
    class_order: list[str] = field(default_factory=list)
    group_pattern: str | None = None
    #: class folders left out as copies of the others' images (``All/``), with why
    copies: list[tuple[str, str]] = field(default_factory=list)
    #: each image's physical pixel size where the data gives one (the meta entry of
    #: :data:`featbus._records.PIXEL_SIZE_KEY`), else None; empty when nothing gives one
    pixel_sizes: list[dict | None] = field(default_factory=list)
    #: each image's published split (``"train"``, ``"valid"``, ``"test"``; ``""`` where none is given),
    #: None when the release has no splits
    splits: list[str] | None = None
    #: an image's masks of another size than its own (left out, ``mask size differs``), by the image:
    #: read with it by :meth:`to_bunch`, which drops them naming both sizes as every loader does
    unfit_masks: dict[Path, list[Path]] = field(default_factory=dict)
    #: read from an index or a manifest (its columns are image, label, group, mask, split), not a folder
    from_index: bool = False
    #: what a source says of each image beyond its label (``{"laterality": "L", "view": "CC"}``),
    #: empty when no source says anything
    meta: list[dict] = field(default_factory=list)

    def take(self, keep) -> Release:
        """The release of the images ``keep`` (positions, in that order), the summary as it is."""
        from dataclasses import replace

        def pick(values):
            return [values[i] for i in keep] if values else values

        return replace(self, images=pick(self.images), labels=pick(self.labels), groups=pick(self.groups),
                       masks=pick(self.masks), rows=pick(self.rows), pixel_sizes=pick(self.pixel_sizes),
                       splits=pick(self.splits), meta=pick(self.meta))

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
        (:mod:`featbus.datasets._release_index`): ``image``, ``label``, ``group``, one ``mask`` column per
        mask of the image with most (``mask``, ``mask 2``...; a mask an annotation file draws as
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
        rows = [(rel(img), label or "", group, tuple(rel(m) for m in masks))
                for img, label, group, masks in zip(self.images, self.labels, self.groups, self.masks)]
        return write_index_rows(path, rows, size_column, [p["size"] if p else None for p in sizes], self.splits)

    def to_bunch(self, *, on_error: str = "raise", n_jobs: int | None = None, require_labels: bool = True,
                 duplicate_threshold: int | None = None, guess_groups: bool = True):
        """Read the pixels: the :class:`~sklearn.utils.Bunch` of :func:`featbus.datasets.load_data`, the
        one loop of :mod:`featbus.datasets` that decodes images (``guess_groups=False``: one group per
        image where nothing says the patients, instead of near-duplicate groups)."""
        from ._release_bunch import release_bunch

        return release_bunch(self, on_error=on_error, n_jobs=n_jobs, require_labels=require_labels,
                             duplicate_threshold=duplicate_threshold, guess_groups=guess_groups)
