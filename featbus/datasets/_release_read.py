"""The steps of :func:`featbus.datasets.read_release` on a folder: the table naming the images, its
label and patient columns, the classes and patients from folders, each file or row left out named."""

from __future__ import annotations

import functools
import os
from collections import Counter
from pathlib import Path

from ..io import MAX_IMAGE_PIXELS, limit_words
from ..vocabulary import WORKING_LAYOUTS
from ._common import _check_label_spellings, _natural_key, plausible_typo
from ._release_rules import (
    DICOM_KEY_FIELDS,
    IMAGE_COLUMNS,
    IMAGE_SUFFIXES,
    LABEL_COLUMNS,
    MASK_COLUMN_WORDS,
    MASK_WORD_RANK,
    MAX_CLASS_FOLDERS,
    NON_LESION_MASK_WORDS,
    PATIENT_COLUMNS,
    class_of_value,
    column_key,
    original_stem,
    pixel_size_cell,
    pixel_size_column,
    split_counts,
    split_of,
)
from ._release_scan import (
    cell_keys,
    copies_folders,
    dicom_name,
    image_keys,
    named_folders,
    normalisation_mattered,
    one_level_down,
    path_key,
    probe_files,
    split_masks,
)
from ._release_tables import TableError, read_table
from ._release_types import LeftOut, Release, ReleaseError, ReleaseSummary
from .sources._tool_tables import entries_table, merge_split_tables, one_hot_table, split_column

__all__ = ["Reader", "folder_levels", "masks_not_a_class", "pixel_size_cells"]


def pixel_size_cells(header: list[str], rows: list[tuple[int, list[str]]], summary) -> tuple[list, list]:
    """Each row's pixel size from the first column that is a pixel-size column by its name
    (:func:`~featbus.datasets._release_rules.pixel_size_column`) and holds a positive number
    (``rows``: ``(line number, cells)``, one per image), in mm where the name states a unit, and the
    rows without one with why; the column and its unit set on ``summary``."""
    for c, name in enumerate(header):
        found, unit, to_mm = pixel_size_column(name)
        if not found or not any(pixel_size_cell(cells[c])[0] for _, cells in rows):
            continue
        summary.pixel_size_column, summary.pixel_size_unit = name, unit
        sizes, missing = [], []
        for line, cells in rows:
            size, why = pixel_size_cell(cells[c])
            value = cells[c].strip()
            if size is None:
                missing.append((f"row {line}", f"{value!r} ({why})" if value else "(empty)"))
            sizes.append(None if size is None else {"size": size * to_mm if unit else size,
                                                    "unit": "mm" if unit else None, "source": f"column {name!r}"})
        return sizes, missing
    return [None] * len(rows), []


def _find_column(header: list[str], given: str, option: str, where: str) -> int:
    from .._registry import did_you_mean

    keys = [column_key(h) for h in header]
    if column_key(given) not in keys:
        raise ReleaseError(f"{option} {given!r}: {where} has no such column{did_you_mean(given, header)}; its "
                           f"columns: {list(header)}")
    return keys.index(column_key(given))


def _inside(root: Path, value: str, table: Path) -> Path | None:
    """The file a cell names when it is a path (``a/b.png``), refused when it leads outside the release."""
    v = value.strip().replace("\\", "/")
    if not v or ("/" not in v and not os.path.isabs(v)):
        return None
    target = Path(v) if os.path.isabs(v) else table.parent / v
    real_root, real = os.path.realpath(root), os.path.realpath(target)
    if os.path.commonpath([real_root, real]) != real_root:
        return Path("..")
    try:
        return Path(real).relative_to(real_root)
    except ValueError:
        return None


class _Tables:
    """The release's tables, each read once, and which column of each names the images."""

    def __init__(self, root: Path, tables: list[Path], keys: dict, files: list[Path], sourced: dict):
        self.read: dict[Path, tuple[list[str], list[list[str]]]] = {}
        self.notes: list[str] = []
        self.words: dict[Path, str] = {}  # how a table was read, where it was not as written (one-hot)
        self.encodings: list[str] = []  # a table's encoding when it is not plain UTF-8, in words
        self.bad_rows: dict[Path, list] = {}  # rows read_table left out (a NUL character), by table
        for rel in tables:
            try:
                self.read[rel] = read_table(root / rel, notes=self.encodings, strip=False,  # ' a.png' names ' a.png'
                                            left_out=self.bad_rows.setdefault(rel, []))
            except TableError as exc:
                raise ReleaseError(str(exc)) from None
            except (OSError, UnicodeError, ValueError) as exc:
                self.notes.append(f"{rel.as_posix()} (not a readable table: {exc})")
        self.read, self.merged = merge_split_tables(self.read, set(files))
        for rel in [r for r, bad in self.bad_rows.items() if bad and r not in self.read]:  # merged per-split
            into = next(r for r in self.read if r.name.casefold() == rel.name.casefold())
            self.bad_rows.setdefault(into, []).extend(self.bad_rows.pop(rel))
        for rel, (header, rows) in self.read.items():
            header, rows, said = one_hot_table(header, rows)
            if said:
                self.read[rel], self.words[rel] = (header, rows), said
        self.read.update(sourced)  # the annotation files' entries, as one table
        self.keys = keys

    def image_column(self, rel: Path, given: str | None) -> tuple[int | None, int]:
        """``(column, images it names)``: the column naming most images (``given`` when named)."""
        header, rows = self.read[rel]
        best, best_n = None, 0
        columns = range(len(header)) if given is None else [_find_column(header, given, "--image-column",
                                                                           repr(rel.as_posix()))]
        for c in columns:
            if given is None and any(w in column_key(header[c]) for w in MASK_COLUMN_WORDS):
                continue  # a column naming masks (CBIS-DDSM's 'ROI mask file path') never names the samples
            found = {self.keys.get(k) for row in rows for k in cell_keys(row[c]) if self.keys.get(k) is not None}
            n = len(found)
            if n > best_n or (n == best_n and n and column_key(header[c]) in IMAGE_COLUMNS):
                best, best_n = c, n
        return best, best_n


def _label_candidates(header, rows, taken) -> list[int]:
    out = []
    for c in range(len(header)):
        if c in taken:
            continue
        values = {r[c].strip() for r in rows if r[c].strip()}
        if not values:
            continue
        letters = all(len(v) == 1 for v in values)
        if all(class_of_value(v, letters=letters) for v in values):
            out.append(c)
    return out


def _choose_label_column(header, rows, given, taken, where) -> tuple[int | None, list[int]]:
    if given is not None:
        return _find_column(header, given, "--label-column", where), []
    by_values = _label_candidates(header, rows, taken)
    named = [c for c in range(len(header)) if c not in taken and column_key(header[c]) in LABEL_COLUMNS]
    if len(by_values) > 1:
        named_ones = [c for c in by_values if c in named]
        if len(named_ones) != 1:
            raise ReleaseError(f"{where} has several label columns {[header[c] for c in by_values]} whose values are "
                               "the classes: name the one to use with --label-column COLUMN")
        return named_ones[0], [c for c in dict.fromkeys(named + by_values) if c != named_ones[0]]
    if by_values:
        return by_values[0], [c for c in named if c != by_values[0]]
    if len(named) == 1:
        return named[0], []
    return None, named


def _choose_group_column(header, rows, given, taken, n_images, where) -> int | None:
    if given is not None:
        return _find_column(header, given, "--group-column", where)
    named = [c for c in range(len(header)) if c not in taken and column_key(header[c]) in PATIENT_COLUMNS]
    counts = {c: len({r[c] for r in rows if r[c].strip()}) for c in named}
    named = [c for c in named if 0 < counts[c] <= n_images and all(r[c].strip() for r in rows)]
    return min(named, key=lambda c: (counts[c], c)) if named else None


def folder_levels(images: list[Path], release_name: str,
                  labelled: bool = False) -> tuple[list[str | None], list[str | None], str]:
    """Classes and patients from folder names: ``(class per image, patient folder per image, words)``.

    The first named folder level is the class when its names are the classes' spellings, or few
    (at most :data:`~featbus.datasets._release_rules.MAX_CLASS_FOLDERS`); with more it is the
    patient; a second level under classes is the patient when it has several names."""
    dirs = [named_folders(img, release_name) for img in images]
    # a folder every image lies in (the release's own name, a download's wrapper) says nothing,
    # unless its name is a class's
    while dirs and all(dirs) and len({d[0] for d in dirs}) == 1 and not class_of_value(dirs[0][0]):
        dirs = [d[1:] for d in dirs]
    first = {d[0] for d in dirs if d}
    classes: list[str | None] = [None] * len(images)
    patients: list[str | None] = [None] * len(images)
    if not first:
        return classes, patients, ""
    words = all(class_of_value(v) for v in first)
    if labelled and not words:  # a table labels the images: folders of other names are patients
        if all(dirs) and len(first) > 1:
            patients = [d[0] for d in dirs]
        return classes, patients, ""
    if words or len(first) <= MAX_CLASS_FOLDERS:
        classes = [d[0] if d else None for d in dirs]
        second = {d[1] for d in dirs if len(d) > 1}
        if len(second) > 1 and all(len(d) > 1 for d in dirs):
            patients = [d[1] for d in dirs]
        return classes, patients, "the folder names"
    if all(dirs):
        patients = [d[0] for d in dirs]
    return classes, patients, ""


class Reader:
    """The steps of :func:`read_release` on a folder, in order: masks, headers, the table, labels,
    patients; each step adds what it leaves out to ``left_out``."""

    def __init__(self, root: Path, release_name: str, files: list[Path], tables: list[Path], left_out: list):
        self.root, self.release_name, self.files, self.tables = root, release_name, files, tables
        self.left_out: list[LeftOut] = left_out
        self.label_col: int | None = None
        self.copies: list[tuple[str, str]] = []
        self.unfit: dict[Path, list[Path]] = {}  # an image's masks of another size
        self.unpaired: list[Path] = []  # files taken for masks that no image owns (by _rows, a table may pair them)
        self.read_tables: _Tables | None = None  # the release's tables, read once (by _table)
        self.headers: dict = {}  # the DICOM images' headers read so far (pydicom datasets; None: unreadable)

    def out(self, item, reason: str, detail: str = "") -> None:
        """Leave ``item`` (a file, or ``row N of TABLE``) out for ``reason`` (:data:`LEFT_OUT_REASONS`)."""
        self.left_out.append(LeftOut(item.as_posix() if isinstance(item, Path) else str(item), reason, detail))

    def read(self, *, reads, image_column, label_column, group_column, group_pattern, mask_pattern,
             require_labels, classes=None, rows_without_image="leave out") -> Release:
        """The release, its images named by a table or by the folders (``reads``: the sources'
        files read, :func:`~featbus.datasets.sources.read_sources`; none claims the images)."""
        root = self.root
        self.classes, self.rows_without_image = classes, rows_without_image
        if not self.files:
            subdirs = sorted((d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                             key=_natural_key)
            raise ReleaseError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {str(root)!r}: "
                               f"{one_level_down(root, subdirs or None, IMAGE_SUFFIXES)}; featbus reads "
                               f"{WORKING_LAYOUTS}")
        images, masks_of, unpaired, rule = split_masks(self.files, mask_pattern, self.release_name)
        if mask_pattern is not None and not masks_of:
            raise ReleaseError(f"--mask-pattern {mask_pattern!r} pairs no file of {str(root)!r} with an image "
                               f"(searched beside each image and in its mask folder)")
        for m in unpaired:
            self.out(m, "mask")
        self.unpaired = unpaired  # a table's mask column may name them (masks/a;b.png)
        summary = ReleaseSummary(root=root)
        images, rule = self._sources(reads, images, masks_of, rule, summary)
        # the table naming most images, its mask columns (files they name are masks, never samples)
        table = self._table(images, image_column, summary)
        rows_of: dict[Path, list[int]] = {}
        if table is None and image_column is None:  # a table by patient: a row per patient folder
            table, rows_of, images = self._table_by_folder(images, summary)
        if table is None:  # a table keyed by a DICOM header field (SOPInstanceUID...)
            table, rows_of, images = self._table_by_header(images, image_column, summary)
        if table is None:
            given = {"--image-column": image_column, "--label-column": label_column, "--group-column": group_column}
            refused = [k for k, v in given.items() if v is not None  # a DICOM header field is a column of its own
                       and (k == "--image-column" or self._header_field(v, images) is None)]
            if refused:
                what = ("holds no table" if not self.tables else
                        "holds no table whose column names its images (considered: "
                        + "; ".join(summary.table_candidates) + ")")
                raise ReleaseError(f"{' and '.join(refused)} {[v for v in given.values() if v][0]!r}: "
                                   f"{str(root)!r} {what}, so there is no column to take")
        if table is not None and not rows_of:
            images, rows_of = self._rows(table, images, masks_of, summary)
            if summary.mask_column:
                rule = "; ".join(filter(None, [f"named by the table's {summary.mask_column!r}", rule]))
        # headers: readable, an image at all, each mask the size of its image
        all_masks = [m for ms in masks_of.values() for m, w in ms if w != "drawn"]
        probed = probe_files(root, images + all_masks)
        kept = []
        for img in images:
            shape, problem = probed[img]
            if problem is None and shape[0] * shape[1] > MAX_IMAGE_PIXELS:
                problem = ("too large", f"{shape[1]} x {shape[0]} = {shape[0] * shape[1]:,} pixels, above "
                                        f"{limit_words('MAX_IMAGE_PIXELS')} (what the extractors hold in memory at "
                                        "the image's size; shrink it)")
            if problem is None:
                kept.append(img)
            else:
                self.out(img, *problem)
        images = kept
        lesion: dict[Path, tuple[Path, ...]] = {}
        joined = others = aside = 0
        for img in images:
            own = []
            for m, word in masks_of.get(img, []):
                shape, problem = (m.size, None) if word == "drawn" else probed[m]
                if word == "drawn" and shape != probed[img][0]:
                    self.out(m, "mask size differs", f"drawn at {shape[1]}x{shape[0]}, the image "
                                                     f"{img.as_posix()!r} is {probed[img][0][1]}x{probed[img][0][0]}")
                elif problem is not None:
                    self.out(m, *problem)
                elif shape != probed[img][0]:
                    self.unfit.setdefault(root / img, []).append(root / m)
                    self.out(m, "mask size differs", f"{shape[1]}x{shape[0]} for an image of "
                                                     f"{probed[img][0][1]}x{probed[img][0][0]} ({img.as_posix()})")
                elif word in NON_LESION_MASK_WORDS:
                    others += 1
                    self.out(m, "mask", f"a mask of another finding ('{word}'), not the lesion")
                else:
                    own.append((m, word))
            rank = {w: MASK_WORD_RANK.index(w) if w in MASK_WORD_RANK else len(MASK_WORD_RANK) for _, w in own}
            best = min(rank.values(), default=0)
            for m, word in own:
                if rank[word] > best:
                    aside += 1
                    kept = next(w for _, w in own if rank[w] == best)
                    self.out(m, "mask", f"another annotation ('{word}') beside the '{kept}' mask of "
                                        f"{img.as_posix()}, not used")
            own = [root / m if word != "drawn" else m for m, word in own if rank[word] == best]
            lesion[img] = tuple(own)
            joined += len(own) > 1
        labels, class_source, class_order = self._labels(table, images, rows_of, label_column, summary)
        images, labels = self._two_labels(images, labels, rows_of, table)
        if require_labels and not any(labels):
            raise ReleaseError(self._unlabelled(masks_of, summary))
        groups = self._groups(table, images, labels, rows_of, group_column, group_pattern, class_order, summary)
        masks = [lesion.get(img, ()) for img in images]
        if rule:
            extra = [f"{joined} with several joined" if joined else "",
                     f"{others} 'other' masks not used as the lesion" if others else "",
                     f"{aside} other annotations beside an image's mask not used" if aside else ""]
            rule = rule + "".join(f"; {e}" for e in extra if e)
        summary.n_images = len(images)
        summary.n_masks_paired = sum(1 for m in masks if m)
        summary.n_mask_files = sum(len(m) for m in masks)
        summary.mask_rule = rule if summary.n_mask_files else None
        counted = Counter(labels)
        summary.classes = {c: counted[c] for c in class_order if counted[c]}
        summary.class_source = class_source
        summary.n_patients = len(set(groups))
        summary.left_out = self.left_out
        pixel_sizes = self._pixel_sizes(table, images, rows_of, summary)
        splits = self._splits(table, images, rows_of, summary)
        rel = Release(root, [root / i for i in images], labels, groups, masks, summary, group_pattern=group_pattern,
                      copies=self.copies, splits=splits,
                      rows=[{"row": rows_of[i][0] + 2, **dict(zip(table[2], table[1][rows_of[i][0]]))}
                            if table and i in rows_of else {} for i in images],
                      class_order=class_order, pixel_sizes=pixel_sizes, unfit_masks=self.unfit)
        return rel

    def _sources(self, reads, images, masks_of, rule, summary):
        """The annotation files read (:mod:`~featbus.datasets.sources`): what each leaves out named,
        its entries one table (``self.sourced``) and its masks each image's (the files paired by name
        beside them left out as another annotation); ``(images, mask rule)``."""
        gone = set()
        for got in reads:
            for entry in got.left_out:
                gone.add(entry.item)
                self.out(*entry)
            summary.notes += got.notes
            if got.not_used:
                summary.table_candidates.append(f"{got.file.as_posix()} ({got.not_used}; not read)")
        used = [got for got in reads if got.entries]
        self.sourced = {}
        if used:
            header, rows, masks = entries_table(used, lambda item, *why: (gone.add(item), self.out(item, *why)))
            self.sourced = {used[0].file: (header, rows)}
            self.sourced_words = _said(used, "class_source")
            if len(used) > 1:
                summary.notes.append(f"The annotation files {', '.join(g.file.as_posix() for g in used)} read as one.")
            for img, own in masks.items():
                for m, _ in masks_of.get(img, []):
                    if m not in own:
                        self.out(m, "mask", f"another annotation ({m.as_posix()}) beside the masks of "
                                            f"{used[0].file.name}, not used")
                if own:
                    masks_of[img] = [(m, "folder" if isinstance(m, Path) else "drawn") for m in own]
            if any(masks.values()):
                rule = _said(used, "mask_rule")
        for img in gone & set(masks_of):  # an image left out takes its paired mask files with it, named
            for m, _ in masks_of.pop(img):
                self.out(m, "mask", f"of {img.as_posix()}, left out")
        return [img for img in images if img not in gone], rule

    def _splits(self, table, images, rows_of, summary) -> list[str] | None:
        """Each image's published split (``train`` / ``valid`` / ``test``): the table's split column,
        else a split folder above it (``""`` for an image under none); ``None`` when the release has no splits."""
        col = None
        if table is not None:
            _, rows, header, _ = table
            col = split_column(header, [rows[rows_of[i][0]] for i in images])
        splits = [split_of(table[1][rows_of[img][0]][col]) if col is not None else
                  next((split_of(p) for p in reversed(img.parts[:-1]) if split_of(p)), "") for img in images]
        if not any(splits):
            return None
        summary.splits = split_counts(splits)
        return splits

    def _pixel_sizes(self, table, images, rows_of, summary) -> list:
        """Each image's physical pixel size (issue 82): from the table's pixel-size column (by its name,
        :func:`~featbus.datasets._release_rules.pixel_size_column`, and its values: the first such column
        with a positive number), else from its DICOM header (:func:`featbus.io.dicom_pixel_size`); the
        images that lack one named with why (the row and its cell). ``[]`` when nothing gives one."""
        from ..io import dicom_pixel_size

        sizes: list = [None] * len(images)
        missing: list[tuple[str, str]] = []
        if table is not None:
            _, rows, header, _ = table
            sizes, missing = pixel_size_cells(header, [(rows_of[i][0] + 2, rows[rows_of[i][0]]) for i in images],
                                              summary)
        n_dicom = 0
        if summary.pixel_size_column is None:  # DICOM headers: read only for DICOM files
            headers = self._dicom_headers(images)
            for k, img in enumerate(images):
                if dicom_name(img):
                    size, why = dicom_pixel_size(self.root / img, header=headers[img])
                    if size is not None:
                        sizes[k], n_dicom = size, n_dicom + 1
                    elif why:
                        missing.append((repr(img.as_posix()), why))
            if n_dicom and len(missing) + n_dicom < len(images):
                missing += [(repr(img.as_posix()), "not a DICOM file") for k, img in enumerate(images)
                            if sizes[k] is None and not dicom_name(img)]
        summary.n_pixel_sizes, summary.n_dicom_pixel_sizes = sum(s is not None for s in sizes), n_dicom
        summary.pixel_size_missing = missing if summary.n_pixel_sizes else []
        return sizes if summary.n_pixel_sizes else []

    def _unlabelled(self, masks_of, summary) -> str:
        """Why nothing labels the images, and what featbus reads."""
        from ._release_rules import is_mask_folder

        folders = {(m.parent, img.parent) for img, ms in masks_of.items() for m, w in ms if w != "drawn"
                   if is_mask_folder(m.parent.name)}
        if folders:
            masks, images = sorted(folders)[0]
            return masks_not_a_class(masks.name, images.name)
        considered = []
        if summary.table is not None:
            rel = summary.table.relative_to(self.root)
            header = self.read_tables.read[rel][0]
            considered.append(f"{rel.as_posix()} names the images in {summary.image_column!r} but none of its columns "
                              f"({', '.join(repr(h) for h in header)}) holds the classes")
        considered += summary.table_candidates
        what = ("; ".join(considered) if considered else "it holds no table and no annotation file")
        return (f"nothing labels the images of {str(self.root)!r} (no class folders either): {what}; name the "
                f"label column with --label-column, or give {WORKING_LAYOUTS}")

    # ------------------------------------------------------------------ the table
    def _table(self, images, image_column, summary):
        keys = image_keys(images)
        tables = self.read_tables = _Tables(self.root, self.tables, keys, self.files, self.sourced)
        summary.notes += [w[0].upper() + w[1:] + "." for w in tables.merged]
        scored, errors = [], []
        for rel in tables.read:
            try:
                column, n = tables.image_column(rel, image_column)
            except ReleaseError as exc:
                errors.append(exc)
                continue
            header = tables.read[rel][0]
            patient = any(column_key(h) in PATIENT_COLUMNS for h in header)
            scored.append((n, rel, column, patient, len(header)))
        if image_column is not None and not scored and errors:
            raise errors[0]
        # most images named; then a table naming the patients too, then the one with most columns
        # (bus_data.csv over BUS-BRA's 5-fold-cv.csv, which name the same images)
        scored.sort(key=lambda t: (-t[0], not t[3], -t[4], path_key(t[1])))
        chosen = None
        if scored and scored[0][0]:
            n, rel, column = scored[0][:3]
            # the files its mask columns name are masks, not images to be named (CBIS-DDSM's ROI files)
            header, rows = tables.read[rel]
            named_masks = {keys.get(k) for c, h in enumerate(header) if c != column
                           and any(w in column_key(h) for w in MASK_COLUMN_WORDS)
                           for row in rows for k in cell_keys(row[c]) if keys.get(k) is not None}
            if n >= 0.5 * (len(images) - len(named_masks)):
                chosen = scored[0][:3]
        scored = [t[:3] for t in scored]
        for n, rel, column in scored:
            if chosen is not None and rel == chosen[1]:
                continue
            header, rows = tables.read[rel]
            example = next((row[column] for row in rows if column is not None
                            and any(keys.get(k) for k in cell_keys(row[column]))), None)
            holds = [header[c] for c in _label_candidates(header, rows, {column})]  # said: "no column" is false
            summary.table_candidates.append(
                f"{rel.as_posix()} (names {n} images" + (f" in {header[column]!r}, e.g. {example!r}; not read"
                                                         if example else "")
                + (f"; its {', '.join(map(repr, holds))} holds the classes" if holds and not example else "") + ")")
        summary.table_candidates += tables.notes
        summary.notes += [f"{words}." for words in tables.encodings]
        if chosen is None:
            return None
        n, rel, column = chosen
        self.left_out += tables.bad_rows.get(rel, [])
        header, rows = tables.read[rel]
        summary.table, summary.image_column = self.root / rel, header[column]
        return rel, rows, header, column

    def _dicom_headers(self, images) -> dict:
        """The DICOM images' headers (:func:`featbus.io.dicom_header`, no pixel read; None where one
        cannot be read), each file read once for every step that asks (keys, patients, pixel sizes)."""
        from concurrent.futures import ThreadPoolExecutor

        from ..io import dicom_header

        todo = [i for i in images if dicom_name(i) and i not in self.headers]
        if todo:
            with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
                self.headers.update(zip(todo, pool.map(lambda i: dicom_header(self.root / i), todo)))
        return {i: self.headers.get(i) for i in images}

    def _header_values(self, images, fields) -> dict[Path, dict[str, str]]:
        """``fields`` of each image's DICOM header as text (``""`` where it has none; ``{}`` for an image
        whose header cannot be read or that is no DICOM file)."""
        return {i: {} if ds is None else {f: str(ds.get(f, "") or "").strip() for f in fields}
                for i, ds in self._dicom_headers(images).items()}

    def _header_field(self, name: str | None, images, header=()) -> str | None:
        """The DICOM keyword ``name`` spells (any case) when the release holds DICOM images and
        ``header`` (a table's columns) has no such column: a header field used as a column."""
        if name is None or not any(dicom_name(i) for i in images) or column_key(name) in map(column_key, header):
            return None
        return _dicom_keywords().get(column_key(name))

    def _header_column(self, images, field: str, option: str) -> list[str]:
        """Each image's value of a DICOM header field named by ``option``; an image without one refused."""
        values = self._header_values(images, (field,))
        for img in images:
            if not values[img].get(field):
                raise ReleaseError(f"{option} {field}: the DICOM header of {str(self.root / img)!r} has no {field}"
                                   + ("" if dicom_name(img) else " (it is no DICOM file)"))
        return [values[i][field] for i in images]

    def _table_by_header(self, images, image_column, summary):
        """A table whose key column holds a DICOM header field of the images (a PACS export's labels
        keyed by ``SOPInstanceUID``, ``AccessionNumber``, ``StudyInstanceUID``, ``PatientID``... or any
        column named as a DICOM keyword), the header read with ``stop_before_pixels``: the column whose
        values are one field's values of at least half the images. Each image takes the rows of its
        value; ``(table, rows_of, images)`` as :meth:`_table_by_folder`."""
        dicom = [i for i in images if dicom_name(i)]
        if not dicom or not self.read_tables.read:
            return None, {}, images
        named = {h.strip() for header, _ in self.read_tables.read.values() for h in header}
        fields = tuple(dict.fromkeys(DICOM_KEY_FIELDS + tuple(f for f in map(self._header_field, named,
                                                                             [dicom] * len(named)) if f)))
        heads = self._header_values(dicom, fields)
        best = None
        for rel, (header, rows) in self.read_tables.read.items():
            for c in range(len(header)):
                if image_column is not None and column_key(header[c]) != column_key(image_column):
                    continue
                rows_with: dict[str, list[int]] = {}
                for k, row in enumerate(rows):
                    rows_with.setdefault(row[c].strip(), []).append(k)
                for f in fields:
                    found = {i: rows_with[v] for i in dicom if (v := heads[i].get(f)) and v in rows_with}
                    # the most images, then the most joined to one row each: the field that makes a row
                    # unique (SOPInstanceUID) before one many rows share (PatientID)
                    score = (len(found), sum(len(ks) == 1 for ks in found.values()))
                    if len(found) >= 0.5 * len(images) and (best is None or score > best[0]):
                        best = (score, rel, header, c, f, found, rows)
        if best is None:
            return None, {}, images
        _, rel, header, column, field, found, rows = best
        from ..io import header_shape

        unread = [i for i in dicom if not any(heads[i].values())]  # no key field read: why, never "no row"
        for img in unread:
            self.out(img, *(header_shape(self.root / img)[1] or ("unreadable", "its DICOM header holds none of "
                                                                   f"{', '.join(fields)}")))
        images = [i for i in images if i not in unread]
        kept = self._with_rows(images, found, f"in {rel.as_posix()} for its DICOM {field}")
        used = {k for ks in found.values() for k in ks}
        for k, row in enumerate(rows):
            if k not in used:
                self.out(f"row {k + 2} of {rel.as_posix()}", "no image",
                         f"no file's {field} is {row[column].strip()!r}")
        summary.table_candidates = [t for t in summary.table_candidates if not t.startswith(rel.as_posix() + " (")]
        summary.table, summary.image_column = self.root / rel, header[column]
        summary.key_role = "images by DICOM header"
        return (rel, rows, header, column), {img: found[img] for img in kept}, kept

    def _table_by_folder(self, images, summary):
        """A table that names no image but each image's folder: one row per patient folder
        (``P001/IMG_1.png`` beside ``patients.csv`` with a ``Patient`` column of ``P001``, ...). Taken
        when one column's values are unique and name a folder above at least half of the images;
        the images of a folder without a row are left out, named. Returns ``(table, rows_of, images)``,
        ``(None, {}, images)`` when no table is keyed so."""
        best = None
        for rel, (header, rows) in self.read_tables.read.items():  # as _table read them
            for c in range(len(header)):
                cells = [row[c].strip().casefold() for row in rows]
                if not cells or any(not v for v in cells) or len(set(cells)) < len(cells):
                    continue  # a key column: every row filled, no value twice
                if all(class_of_value(v) for v in cells):
                    continue  # folders named as classes are class folders (a table describing the classes)
                row_of = {v: k for k, v in enumerate(cells)}
                found = {img: row_of[part.casefold()] for img in images for part in img.parts[:-1]
                         if part.casefold() in row_of}
                if len(found) >= 0.5 * len(images) and (best is None or len(found) > len(best[3])):
                    best = (rel, header, c, found, rows)
        if best is None:
            return None, {}, images
        rel, header, column, found, rows = best
        kept = self._with_rows(images, found, f"in {rel.as_posix()} for any of its folders")
        summary.table_candidates = [t for t in summary.table_candidates if not t.startswith(rel.as_posix() + " (")]
        summary.table, summary.image_column, summary.key_role = self.root / rel, header[column], "patient folders"
        return (rel, rows, header, column), {img: [found[img]] for img in kept}, kept

    def _rows(self, table, images, masks_of, summary):
        """Each image's rows; rows naming no image, or outside the release, said or refused; files a
        mask column names taken as masks."""
        rel, rows, header, column = table
        name = rel.as_posix()
        mask_cols = [c for c in range(len(header)) if c != column
                     and any(w in column_key(header[c]) for w in MASK_COLUMN_WORDS)]
        file_keys = image_keys(images + [m for ms in masks_of.values() for m, w in ms if w != "drawn"]
                               + self.unpaired)
        owner_of = {m: img for img, ms in masks_of.items() for m, _ in ms}
        keys = image_keys(images)
        used_mask_cols = set()
        for c in mask_cols:  # files a mask column names are masks of the row's image
            word = "other" if "other" in column_key(header[c]) else "mask"
            for k, row in enumerate(rows):
                img = next((keys[x] for x in cell_keys(row[column]) if keys.get(x)), None)
                whole = next((file_keys[x] for x in cell_keys(row[c]) if file_keys.get(x)), None)
                # a cell naming one file (whose name may hold ';' or ','), else a list of them
                for cell in [row[c]] if whole is not None else row[c].replace(",", ";").split(";"):
                    found = next((file_keys[x] for x in cell_keys(cell) if file_keys.get(x)), None)
                    named = Path(cell.strip()).suffix.lower() in IMAGE_SUFFIXES or "/" in cell  # not '-', 'none'
                    if img is not None and found is None and named:
                        where = f"row {k + 2} of {name}"
                        outside = _inside(self.root, cell, self.root / rel) == Path("..")
                        self.out(where, "outside the release" if outside else "mask not found",
                                 ("mask " if outside else "") + f"{cell.strip()!r} (the image kept without it)")
                    if img is None or found is None or found == img:
                        continue
                    used_mask_cols.add(c)
                    if owner_of.get(found) == img:
                        masks_of[img] = [(m, word if m == found else w) for m, w in masks_of[img]]
                        continue
                    if found in images:
                        images = [i for i in images if i != found]
                    if found in self.unpaired:  # a mask folder's file no image's name paired: the table pairs it
                        self.left_out.remove(LeftOut(found.as_posix(), "mask"))
                        self.unpaired = [m for m in self.unpaired if m != found]
                    masks_of.setdefault(img, []).append((found, word))
                    owner_of[found] = img
        if used_mask_cols:
            summary.mask_column = ", ".join(header[c] for c in sorted(used_mask_cols))
        keys = image_keys(images)
        rows_of: dict[Path, list[int]] = {}
        nfc = 0
        for k, row in enumerate(rows):
            cell = row[column] if row[column].strip() else ""  # spaces may be part of a file's name
            where = f"row {k + 2} of {name}"
            if _inside(self.root, cell, self.root / rel) == Path(".."):
                raise ReleaseError(f"{where}: {cell!r} names a file outside the release {str(self.root)!r}; featbus "
                                   "reads only the release's own files")
            img = next((keys[x] for x in cell_keys(cell) if keys.get(x)), None)
            if img is None:
                if self.rows_without_image == "raise":
                    raise ReleaseError(f"{where.replace(' of ', ' of ' + repr(str(self.root)) + '/', 1)}: image "
                                       f"{cell!r} not found in {str(self.root)!r}")
                self.out(where, "no image", repr(cell) if cell else "empty cell")
                continue
            rows_of.setdefault(img, []).append(k)
            nfc += normalisation_mattered(cell, img)
        if nfc:
            summary.notes.append(f"{nfc} name(s) in {name} matched their files only after Unicode normalisation "
                                 "(NFC; the files' names are stored decomposed, as macOS writes them, or the other "
                                 "way round).")
        return self._with_rows(images, rows_of, f"in {name}"), rows_of

    def _with_rows(self, images, rows, detail: str) -> list:
        """The images that have a row in ``rows``; each other one left out (``no row``, ``detail``)."""
        for img in images:
            if img not in rows:
                self.out(img, "no row", detail)
        return [img for img in images if img in rows]

    # ------------------------------------------------------------------ labels
    def _labels(self, table, images, rows_of, label_column, summary):
        folder_classes, _, _ = folder_levels(images, self.release_name)
        field = self._header_field(label_column, images, table[2] if table is not None else ())
        if field is not None:  # --label-column naming a DICOM header field
            values = self._header_column(images, field, "--label-column")
            letters = all(len(v) <= 1 for v in values)
            labels = [class_of_value(v, letters=letters) or v.casefold() for v in values]
            summary.label_column = field
            return labels, f"the DICOM header's {field}", sorted(set(labels), key=_natural_key)
        if table is not None:
            rel, rows, header, column = table
            used = [rows[rows_of[i][0]] for i in images]
            col, others = _choose_label_column(header, used, label_column, {column}, repr(rel.as_posix()))
            if label_column is not None and rel in self.read_tables.words and header[col] != "class":
                raise ReleaseError(f"--label-column {label_column!r}: {rel.as_posix()} is one-hot ("
                                   f"{self.read_tables.words[rel]}), read with no option: drop --label-column")
            if others:  # the paragraph names them with their values (the label note's words, said once)
                summary.table_candidates += [f"column {header[c]!r} ({_column_values(used, c, 3)}; "
                                             "--label-column names it)" for c in others]
            self.label_col = col
            if col is not None:
                summary.label_column = header[col]
                letters = all(len(r[col].strip()) <= 1 for r in used)
                labels = []
                for img in images:
                    k = rows_of[img][0]
                    value = rows[k][col].strip()
                    if not value:
                        raise ReleaseError(f"row {k + 2} of {rel.as_posix()}: image {img.as_posix()!r} has an "
                                           f"empty {header[col]!r}")
                    labels.append(class_of_value(value, letters=letters) or value.casefold())
                for img, label, folder in zip(images, labels, folder_classes):
                    said = class_of_value(folder) if folder else None
                    if said is not None and said != label:
                        k = rows_of[img][0]
                        raise ReleaseError(
                            f"row {k + 2} of {rel.as_posix()}: {rows[k][column]!r} is {rows[k][col]!r} (the "
                            f"{header[col]!r} column), but its image {str(self.root / img)!r} is in the {folder!r} "
                            "folder: one image under two labels; correct the table or move the image")
                if self.classes is not None:  # the expected classes: every label one of them, its row named
                    from .._registry import did_you_mean

                    names = [str(c) for c in self.classes]
                    for n, img in enumerate(images):
                        k = rows_of[img][0]
                        written = rows[k][col].strip()
                        match = next((c for c in names if c.strip().casefold() in (labels[n], written.casefold())),
                                     None)
                        if match is None:
                            raise ReleaseError(f"row {k + 2} of {str(self.root / rel)!r}: label {written!r} is not one "
                                               f"of the classes {names}"
                                               f"{did_you_mean(written.casefold(), [c.casefold() for c in names])}")
                        labels[n] = match
                    return labels, self._class_source(rel, header[col]), names
                _refuse_misspelt_labels([(rows_of[i][0] + 2, rows[rows_of[i][0]][col].strip()) for i in images],
                                        str(self.root / rel))
                self._label_notes(rel, header, used, col, others, label_column, dict(zip(
                    (rows[rows_of[i][0]][col] for i in images), labels)), summary)
                order = sorted(set(labels), key=_natural_key)
                return labels, self._class_source(rel, header[col]), order
        if any(folder_classes):
            names = sorted({c for c in folder_classes if c}, key=_natural_key)
            _check_label_spellings(names, f"the class folders of {str(self.root)!r}")
            if len(names) > 2:
                found = {c: [self.root / i for i, f in zip(images, folder_classes) if f == c] for c in names}
                for c, why in copies_folders(found).items():
                    self.copies.append((c, why))
                    for i, f in zip(images, folder_classes):
                        if f == c:
                            self.out(i, "duplicate", f"{c}/ holds copies of the other classes' images ({why})")
                    names.remove(c)
                    folder_classes = [None if f == c else f for f in folder_classes]
            return folder_classes, "the folder names", names
        return [None] * len(images), None, []

    def _class_source(self, rel: Path, column: str) -> str:
        """Where the labels came from, in the paragraph's words."""
        if rel in self.sourced:
            return self.sourced_words
        return self.read_tables.words.get(rel) if column == "class" and rel in self.read_tables.words \
            else f"the {column!r} column"

    def _label_notes(self, rel, header, used, col, others, given, mapping, summary) -> None:
        """The lines that say how the label column was chosen and which spellings were read as which
        class (warned where the pixels are read: :meth:`Release.to_bunch`)."""

        def values(c: int) -> str:
            return _column_values(used, c, 4)

        if given is None and (others or column_key(header[col]) not in LABEL_COLUMNS):
            said = (f"labels from the {header[col]!r} column of {rel.name} (its values are the classes: "
                    f"{values(col)})")
            if others:
                said += "; other candidates: " + ", ".join(f"{header[c]!r} ({values(c)})" for c in others)
            summary.label_notes.append(said + "; --label-column names another")
        spelt = []
        for written, label in sorted(mapping.items(), key=lambda kv: _natural_key(kv[0])):
            if written != label and written.strip().casefold() == label:
                why = ("spaces differ" if written.strip() == label.strip() else "case differs"
                       if written == written.strip() else "case and spaces differ")
                spelt.append(f"{written!r} read as {label!r} ({why})")
            elif written.strip().casefold() != label:
                spelt.append(f"{written!r} read as {label!r} (a spelling of the class)")
        if spelt:
            summary.label_notes.append(f"labels of the {header[col]!r} column of {str(self.root / rel)!r}: "
                                       + "; ".join(spelt))

    def _two_labels(self, images, labels, rows_of, table):
        """An image that two rows give two labels is left out, named; the same label again: a duplicate row."""
        if table is None:
            return images, labels
        rel, rows, header, column = table
        col = self.label_col
        keep_i, keep_l = [], []
        for img, label in zip(images, labels):
            ks = rows_of.get(img, [])
            said: dict[str, list[int]] = {}
            for k in ks:
                said.setdefault(rows[k][col].strip().casefold() if col is not None else "", []).append(k + 2)
            if len(said) > 1:
                self.out(img, "two labels", "; ".join(f"row(s) {', '.join(map(str, v))} of {rel.as_posix()} say "
                                                      f"{lab!r}" for lab, v in said.items()))
                continue
            seen: list[list[str]] = []
            for k in ks:  # a row said again word for word; rows of two findings of one image are kept
                if rows[k] in seen:
                    self.out(f"row {k + 2} of {rel.as_posix()}", "duplicate", f"names {img.as_posix()!r} again")
                seen.append(rows[k])
            keep_i.append(img)
            keep_l.append(label)
        return keep_i, keep_l

    # ------------------------------------------------------------------ patients
    def _groups(self, table, images, labels, rows_of, group_column, group_pattern, class_order, summary):
        from .name_groups import pattern_groups, propose_prefix_groups

        field = self._header_field(group_column, images, table[2] if table is not None else ())
        if field is not None and group_pattern is None:  # --group-column naming a DICOM header field
            summary.patient_source, summary.patient_detail = "DICOM header", f"--group-column {field}"
            return self._header_column(images, field, "--group-column")

        def table_column():
            """The patient column of the table naming the images (``None`` without one), its header and the
            images' rows; ``--group-column`` without such a table is refused."""
            if table is None:
                if group_column is not None:
                    raise ReleaseError(f"--group-column {group_column!r}: {str(self.root)!r} holds no table naming "
                                       "its images")
                return None, None, None
            rel, rows, header, column = table
            used = [rows[rows_of[i][0]] for i in images]
            taken = {column} | ({header.index(summary.label_column)} if summary.label_column in header else set())
            return _choose_group_column(header, used, group_column, taken, len(images), repr(rel.as_posix())), \
                header, used

        if group_pattern is not None:
            _, groups = pattern_groups(images, group_pattern)
            summary.patient_source, summary.patient_detail = "pattern", f"--group-pattern {group_pattern!r}"
            col, header, _ = table_column()
            if col is not None:
                summary.patient_detail += f" (over the {header[col]!r} column)"
            return groups
        col, header, used = table_column()
        if col is not None:
            summary.group_column, summary.patient_source = header[col], "column"
            groups = [r[col].strip() or img.as_posix() for r, img in zip(used, images)]
            empty = sum(not r[col].strip() for r in used)
            if empty:  # never one patient '' for every image without one
                summary.notes.append(f"{empty} image(s) with an empty {header[col]!r} cell: each is its own "
                                     "patient.")
            return groups
        _, folders, _ = folder_levels(images, self.release_name, labelled=summary.label_column is not None)
        if all(folders) and folders:
            summary.patient_source = "folder"
            return [str(f) for f in folders]
        if images and all(dicom_name(i) for i in images):  # a DICOM tree: the PatientID of each header
            ids = self._header_values(images, ("PatientID",))
            if all(ids[i].get("PatientID") for i in images):
                summary.patient_source = "DICOM header"
                summary.patient_detail = "the PatientID of each file (no table column nor patient folder names them)"
                return [ids[i]["PatientID"] for i in images]
        prefixes = propose_prefix_groups(images, class_order)
        if prefixes is not None:
            summary.patient_source = "file-name prefix"
            summary.patient_detail = f"{images[0].name!r} -> {prefixes[0]!r}"
            renamed = original_stem(images[0].stem)[1]
            if renamed:  # a labelling tool's renaming undone: the rule said
                summary.patient_detail += f", the name inside {renamed}"
            return prefixes
        summary.patient_source = "one per image"
        summary.patient_detail = "no patient column, folder or file-name prefix; commands group near-duplicate images"
        return [i.as_posix() for i in images]


def masks_not_a_class(masks: str, images: str) -> str:
    """Why a folder of the masks of another folder's images labels nothing (the refusal's words)."""
    return (f"{masks + '/'!r} pairs one to one with {images + '/'!r} (the same file names): it holds their masks, "
            "not a class; featbus needs the labels: a table beside them, CSV or Excel (columns image,label[,patient]), "
            "or one sub-folder per class, each with its images/ and masks/")


@functools.cache
def _dicom_keywords() -> dict[str, str]:
    """pydicom's dictionary of DICOM keywords, by :func:`column_key`."""
    from pydicom.datadict import keyword_dict

    return {column_key(k): k for k in keyword_dict if k}


def _said(reads, what: str) -> str:
    """The sources' words for ``what`` (``"mask_rule"``, ``"class_source"``), each said once with
    the files it holds for (a template's ``{file}``)."""
    files: dict[str, list[str]] = {}
    for got in reads:
        files.setdefault(getattr(got, what) or "the annotations of {file}", []).append(got.file.as_posix())
    return "; ".join(words.format(file=", ".join(f)) for words, f in files.items())


def _column_values(rows, c: int, n: int) -> str:
    """Column ``c``'s distinct values in ``rows`` in natural order, the first ``n`` and how many more."""
    vals = sorted({r[c].strip() for r in rows if r[c].strip()}, key=_natural_key)
    return ", ".join(vals[:n]) + (f" and {len(vals) - n} more" if len(vals) > n else "")


def _refuse_misspelt_labels(rows: list[tuple[int, str]], table: str) -> None:
    """Refuse, before any image is read, a label written on one or two rows that is a plausible typo
    of a label of many rows (:func:`~featbus.datasets._common.plausible_typo`: 'Benigh' beside
    'Benign'): it would become a class of its own. Different words are classes, never misspellings:
    short codes ('LP' beside 'LN', 'FA' beside 'FAD', 'DCIS' beside 'LCIS') and a label inside
    another ('normal', 'abnormal').

    Examples
    --------
    >>> try:
    ...     _refuse_misspelt_labels([(2, "Benign")] * 9 + [(11, "Benigh")], "t.csv")
    ... except ValueError as exc:
    ...     print(str(exc)[:80])
    row 11 of 't.csv': label 'Benigh' (1 row) looks like a misspelling of 'Benign' (
    >>> _refuse_misspelt_labels([(2, "normal")] * 9 + [(11, "abnormal")], "t.csv")
    >>> _refuse_misspelt_labels([(2, "LN")] * 9 + [(11, "LP")], "t.csv")
    """
    counts: dict[str, int] = {}
    first: dict[str, tuple[int, str]] = {}
    for line, label in rows:
        key = label.casefold()
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, (line, label))
    for rare, n in counts.items():
        if n > 2:
            continue
        for common, m in counts.items():
            if m < 3 * n or rare.strip() == common.strip():  # spaces only: read as one class, said
                continue
            if plausible_typo(rare, common):
                line, written = first[rare]
                raise ValueError(f"row {line} of {table!r}: label {written!r} ({n} row{'s' if n > 1 else ''}) looks "
                                 f"like a misspelling of {first[common][1]!r} ({m} rows): correct the table (every "
                                 "distinct label is a class)")
