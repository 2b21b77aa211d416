"""The folders as a release's source: class folders (the first named level when its names are
the classes' spellings, or few), patient folders (a level of many names, or a table with a row per
folder), a folder of copies of the other classes' images left out, and the patients the file names
give when nothing else does (a ``PREFIX_NUMBER`` prefix, else one per image)."""

from __future__ import annotations

from pathlib import Path

from .._common import _check_label_spellings, _natural_key
from .._release_rules import MAX_CLASS_FOLDERS, class_of_value, original_stem
from .._release_scan import copies_folders, named_folders
from . import dicom, table

__all__ = ["NAME", "folder_labels", "folder_levels", "folder_patients", "masks_not_a_class", "prefix_patients",
           "table_by_folder"]

NAME = "folders"


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


def table_by_folder(reader, images, summary):
    """A table that names no image but each image's folder: one row per patient folder
    (``P001/IMG_1.png`` beside ``patients.csv`` with a ``Patient`` column of ``P001``, ...). Taken
    when one column's values are unique and name a folder above at least half of the images;
    the images of a folder without a row are left out, named. Returns ``(table, rows_of, images)``,
    ``(None, {}, images)`` when no table is keyed so."""
    best = None
    for rel, (header, rows) in reader.read_tables.read.items():  # as _table read them
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
    kept = table.with_rows(reader, images, found, f"in {rel.as_posix()} for any of its folders")
    summary.table_candidates = [t for t in summary.table_candidates if not t.startswith(rel.as_posix() + " (")]
    summary.table, summary.image_column, summary.key_role = reader.root / rel, header[column], "patient folders"
    return (rel, rows, header, column), {img: [found[img]] for img in kept}, kept


def folder_labels(reader, images, folder_classes):
    """``(labels, class source, class order)`` from the class folders; with more than two, a folder
    holding copies of the other classes' images (``All/``) left out, named."""
    names = sorted({c for c in folder_classes if c}, key=_natural_key)
    _check_label_spellings(names, f"the class folders of {str(reader.root)!r}")
    if len(names) > 2:
        found = {c: [reader.root / i for i, f in zip(images, folder_classes) if f == c] for c in names}
        for c, why in copies_folders(found).items():
            reader.copies.append((c, why))
            for i, f in zip(images, folder_classes):
                if f == c:
                    reader.out(i, "duplicate", f"{c}/ holds copies of the other classes' images ({why})")
            names.remove(c)
            folder_classes = [None if f == c else f for f in folder_classes]
    return folder_classes, "the folder names", names


def folder_patients(reader, images, summary) -> list[str] | None:
    """The patient folders' names, ``None`` when not every image lies in one."""
    _, folders, _ = folder_levels(images, reader.release_name, labelled=summary.label_column is not None)
    if all(folders) and folders:
        summary.patient_source = "folder"
        return [str(f) for f in folders]
    return None


def prefix_patients(images, class_order, summary) -> list[str]:
    """The patients a ``PREFIX_NUMBER`` file-name prefix gives, else one per image (said)."""
    from ..name_groups import propose_prefix_groups

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


def name_patients(reader, images, class_order, summary) -> list[str]:
    """The patients where no table column names them: the patient folders, else each DICOM file's
    ``PatientID``, else a ``PREFIX_NUMBER`` file-name prefix, else one per image (said)."""
    found = folder_patients(reader, images, summary)
    if found is None:  # a DICOM tree: the PatientID of each header
        found = dicom.patients(reader, images, summary)
    if found is not None:
        return found
    return prefix_patients(images, class_order, summary)
