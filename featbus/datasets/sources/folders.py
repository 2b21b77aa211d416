"""The folders as a release's source: class folders (the first named level when its names are
the classes' spellings, or few), patient folders (a level of many names, or a table with a row per
folder), a folder of copies of the other classes' images left out, and the patients the file names
give when nothing else does (a ``PREFIX_NUMBER`` prefix, else one per image). A level whose names are
ids (the values of a table's patient, study or image column; or each folder one patient's images) is
never a class (:func:`id_folders`)."""

from __future__ import annotations

import re
from contextlib import suppress
from pathlib import Path

from ...vocabulary import LABEL_COLUMNS, MAX_CLASS_FOLDERS, PATIENT_COLUMNS, STUDY_COLUMNS
from .._common import _check_label_spellings, _natural_key
from .._release_rules import (
    class_of_value,
    column_key,
    original_stem,
)
from .._release_scan import copies_folders, named_folders
from .._release_tables import TableError
from .._release_types import ReleaseSummary
from ..name_groups import propose_prefix_groups
from . import dicom, table

__all__ = ["folder_labels", "folder_levels", "id_folders", "masks_not_a_class", "name_labels", "name_patients",
           "table_by_folder"]


def folder_levels(reader, images: list[Path], labelled: bool = False,
                  ids: frozenset[str] = frozenset()) -> tuple[list[str | None], list[str | None]]:
    """Classes and patients from folder names: ``(class per image, patient folder per image)``.

    The first named folder level is the class when its names are the classes' spellings, or few
    (at most :data:`~featbus.vocabulary.MAX_CLASS_FOLDERS`) and not ids (``ids``: folder
    names found to be ids, compared as :func:`_id_key`, :func:`id_folders`); with more, or ids, it is
    the patient; a second level under classes is the patient when it has several names. Class folders
    under a level of other names (``Mass/BENIGN/``, ``CC/benign/``: the first level whose names are all
    the classes' spellings) are the classes, the levels above them neither classes nor patients
    (``reader.above``, said by :func:`folder_labels`). Each image's folders are named once a reading
    (``reader.named``)."""
    named = reader.named
    dirs = [named[img] if img in named else named.setdefault(img, named_folders(img, reader.release_name))
            for img in images]
    # a folder every image lies in (the release's own name, a download's wrapper) says nothing,
    # unless its name is a class's
    while dirs and all(dirs) and len({d[0] for d in dirs}) == 1 and not class_of_value(dirs[0][0]):
        dirs = [d[1:] for d in dirs]
    first = {d[0] for d in dirs if d}
    deeper = next((j for j in range(1, min(map(len, dirs), default=0)) if len({d[j] for d in dirs}) > 1
                   and all(class_of_value(d[j]) for d in dirs)), None) if first and not labelled else None
    over = None  # patient folders above the class folders (P001/benign/)
    if deeper is not None and not all(class_of_value(v) for v in first):  # classes under a type or view level
        years = all(YEAR_NAME.fullmatch(v.strip()) for v in first)  # 2019/benign/: when, never who
        if deeper == 1 and not years and (len(first) > MAX_CLASS_FOLDERS or all(_id_shaped(v) for v in first)):
            over = [d[0] for d in dirs]
        else:
            reader.above = sorted({"/".join(d[:deeper]) for d in dirs}, key=_natural_key)
        dirs = [d[deeper:] for d in dirs]
        first = {d[0] for d in dirs}
    classes: list[str | None] = [None] * len(images)
    patients: list[str | None] = over or [None] * len(images)
    words = all(map(_class_named, first))
    if ids and not words and {_id_key(v) for v in first} <= ids:  # ids, never classes: the patient level
        return classes, [d[0] for d in dirs] if all(dirs) else patients
    if labelled and not words:  # a table labels the images: folders of other names are patients
        return classes, [d[0] for d in dirs] if all(dirs) and len(first) > 1 else patients
    if words or len(first) <= MAX_CLASS_FOLDERS:
        classes = [d[0] if d else None for d in dirs]
        second = {d[1] for d in dirs if len(d) > 1}
        one_each = words and len({tuple(d[:2]) for d in dirs}) == len(first)  # KAU-BCMD's Birad3/b3/: a wrapper
        if over is None and len(second) > 1 and all(len(d) > 1 for d in dirs) and not one_each:
            patients = [d[1] for d in dirs]
        return classes, patients
    return classes, [d[0] for d in dirs] if all(dirs) else patients


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
            # a key column: every row filled, no value twice, no class's names (those are class folders)
            if not all(cells) or len(set(cells)) < len(cells) or all(class_of_value(v) for v in cells):
                continue
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


def drop_copies(reader, images, folder_classes) -> list:
    """The class folders without one holding copies of the others' images (``All/``; of more than two), its
    images left out, named: before the folders are judged classes or ids (RSNA-like patient folders beside
    a copy of them all are ids)."""
    names = sorted({c for c in folder_classes if c}, key=_natural_key)
    if len(names) <= 2:
        return folder_classes
    found = {c: [reader.root / i for i, f in zip(images, folder_classes) if f == c] for c in names}
    for c, why in copies_folders(found).items():
        reader.copies.append((c, why))
        for i in [i for i, f in zip(images, folder_classes) if f == c]:
            reader.out(i, "duplicate", f"{c}/ holds copies of the other classes' images ({why})")
        folder_classes = [None if f == c else f for f in folder_classes]
    return folder_classes


def folder_labels(reader, images, folder_classes):
    """``(labels, class source, class order)`` from the class folders (:func:`drop_copies`' already)."""
    names = sorted({c for c in folder_classes if c}, key=_natural_key)
    _check_label_spellings(names, f"the class folders of {str(reader.root)!r}")
    above = reader.above
    shown = ", ".join(repr(a) for a in above[:4]) + (f" and {len(above) - 4} more" if len(above) > 4 else "")
    return folder_classes, f"the folder names, under {shown}: neither classes nor patients" if above \
        else "the folder names", names


#: A file name's first word, before a separator, a bracket or a number (BUSI's ``benign (1)``, ``malignant_12``).
_FIRST_WORD = re.compile(r"^(?P<word>[A-Za-z]+)(?=[\s_\-(\[]|\d)")


def name_labels(reader, images):
    """``(labels, class source, class order)`` from the class word every image's file name starts with
    (BUSI flattened into ``images/`` + ``masks/``: ``benign (1).png``, ``malignant (1).png``), at least two
    classes, each a class's usual spelling (never one letter); ``None`` otherwise."""
    words = [(m.group("word") if (m := _FIRST_WORD.match(original_stem(img.stem)[0])) else "") for img in images]
    names = sorted(set(words), key=_natural_key)
    if len(names) < 2 or not all(class_of_value(w) for w in names):
        return None
    _check_label_spellings(names, f"the file names of {str(reader.root)!r}")
    return words, f"the class word each file name starts with ({images[0].name!r} -> {words[0]!r})", names


def masks_not_a_class(masks: str, images: str) -> str:
    """Why a folder of the masks of another folder's images labels nothing (the refusal's words)."""
    return (f"{masks + '/'!r} pairs one to one with {images + '/'!r} (the same file names): it holds their masks, "
            "not a class; featbus needs the labels: a table beside them, CSV or Excel (columns image,label[,patient]), "
            "or one sub-folder per class, each with its images/ and masks/")


def name_patients(reader, images, class_order, summary, names=None) -> list[str]:
    """The patients where no table column names them: the patient folders, else each DICOM file's
    ``PatientID``, else a ``PREFIX_NUMBER`` file-name prefix (of ``names`` where given: the images' own
    file names, a hub parquet struct's ``path``), else one per image (said)."""
    _, found = folder_levels(reader, images, labelled=summary.label_column is not None, ids=reader.id_level)
    if found and all(found):  # the patient folders
        summary.patient_source = "folder"
        return [str(f) for f in found]
    found = dicom.patients(reader, images, summary)  # a DICOM tree: the PatientID of each header
    if found is not None:
        return found
    names = images if names is None else names
    prefixes = propose_prefix_groups(names, class_order)
    if prefixes is None:
        summary.patient_source = "one per image"
        summary.patient_detail = "no patient column, folder or file-name prefix; commands group near-duplicate images"
        return [i.as_posix() for i in images]
    summary.patient_source = "file-name prefix"
    summary.patient_detail = f"{names[0].name!r} -> {prefixes[0]!r}"
    renamed = original_stem(names[0].stem)[1]
    if renamed:  # a labelling tool's renaming undone: the rule said
        summary.patient_detail += f", the name inside {renamed}"
    return prefixes


def _class_named(name: str) -> bool:
    """Whether a folder's name is a class's spelling (:func:`class_of_value`) or a BI-RADS category's
    (:data:`BIRADS_NAME`): a class, never an id."""
    return bool(class_of_value(name) or BIRADS_NAME.fullmatch(_id_key(name)))


def _id_shaped(name: str) -> bool:
    """Whether a folder's name is shaped as an id (:data:`ID_VALUE`, :data:`ID_NAME`)."""
    return bool(ID_VALUE.fullmatch(_id_key(name)) or ID_NAME.fullmatch(_id_key(name)))


def _id_key(value: str) -> str:
    """A folder name or a table's cell compared as an id: no case, no surrounding spaces, a whole
    number without a written fraction (``11713.0``, as a spreadsheet saves it, is ``11713``)."""
    v = str(value).strip().casefold()
    return str(int(float(v))) if re.fullmatch(r"\d+\.0+", v) else v


#: A value shaped as an id, never as a class's name: a number of four digits or more (RSNA's
#: ``patient_id``), a dotted DICOM UID, a hexadecimal hash of 16 digits or more (VinDr-Mammo's ids).
ID_VALUE = re.compile(r"\d{4,}|\d+(?:\.\d+){3,}|[0-9a-f]{16,}")
#: A folder name shaped as a numbered id: a zero-padded number of three digits or more after a short code
#: (``P001``, ``case_012``, CMMD's ``D1-0001``) or a patient's, case's or subject's number (``Patient 3``, ``pt12``).
ID_NAME = re.compile(r"[a-z]{0,8}\d?[\s_\-]?0\d{2,}|(?:patient|pat|pt|p|case|subject|subj|sub|participant|woman|id)"
                     r"[\s_\-#]*\d+")
#: A folder named as a year (``2019/benign/``, an export per year): above class folders neither a class nor a
#: patient, though its name is a number of four digits.
YEAR_NAME = re.compile(r"(?:19[89]|20[0-4])\d")
#: A folder named as a BI-RADS category (``BIRADS 4a``, KAU-BCMD's ``Birad3``): a class, never an id.
BIRADS_NAME = re.compile(r"bi[\s_\-]?rads?[\s_\-]*[0-6][a-c]?")
#: The names of an image's id column (compared as :func:`column_key`): its id, not its file's name or path.
IMAGE_ID_COLUMNS = ("imageid", "imageuid", "imagenumber", "sopinstanceuid")


def _table_ids(reader, names: set[str]) -> str | None:
    """The words naming the first table column, of any table of the release (those a source read too),
    whose values hold every name of ``names`` (:func:`_id_key`) and which names patients, studies or
    images: by its name (:data:`~featbus.vocabulary.PATIENT_COLUMNS`, ``STUDY_COLUMNS``,
    :data:`IMAGE_ID_COLUMNS`) or by its values (each filled one an id, :data:`ID_VALUE`: a column of
    names, ``cyst``, ``fibroadenoma``, describes classes); ``None`` when none does."""
    read = dict(reader.read_tables.read) if reader.read_tables is not None else {}
    for rel in (r for r in reader.source_tables if r not in read):
        with suppress(TableError, OSError, UnicodeError, ValueError):  # the source that read it named it
            read[rel] = table.read_at(reader.root, rel)
    by_name = {*PATIENT_COLUMNS, *STUDY_COLUMNS, *IMAGE_ID_COLUMNS}
    for rel, (header, rows) in read.items():
        for c, name in enumerate(header):
            if column_key(name) in LABEL_COLUMNS:
                continue
            values = {_id_key(row[c]) if c < len(row) else "" for row in rows}
            if names <= values and (column_key(name) in by_name
                                    or all(ID_VALUE.fullmatch(v) for v in values if v)):
                return f"the values of the {name!r} column of {rel.as_posix()}"
    return None


def _one_patient_each(reader, images, folder_classes) -> str | None:
    """How each class folder holds one patient's images, no two the same patient (the folders then
    name patients, not classes), by the reader's patient rules (:func:`name_patients`: one patient folder
    below each, else each DICOM file's ``PatientID``, else a ``PREFIX_NUMBER`` file-name prefix that is not
    the folder's name, ``cyst/cyst_1.png`` naming its class); ``None`` otherwise."""
    said = ReleaseSummary(root=reader.root)
    patients = name_patients(reader, images, sorted({f for f in folder_classes if f}), said)
    how = {"folder": "one patient folder below each", "DICOM header": "the PatientID of its DICOM files",
           "file-name prefix": f"the file-name prefix, {images[0].name!r} -> {patients[0]!r}"}
    if said.patient_source not in how:  # one per image
        return None
    pairs = {(folder, patient) for folder, patient in zip(folder_classes, patients) if folder is not None}
    named = {folder for folder, _ in pairs}  # each folder one patient, no patient in two folders
    if len(named) < 2 or len(pairs) != len(named) or len({patient for _, patient in pairs}) != len(pairs):
        return None
    return f"each holds one patient's images ({how[said.patient_source]})"


def id_folders(reader, images, folder_classes, summary) -> str | None:
    """Why the class folders are ids, never classes (set on the reader, ``id_level``, and said in
    ``summary``'s notes), ``None`` when they are classes: their names are the values of a table's
    patient, study or image column (:func:`_table_ids`), or each holds one patient's images
    (:func:`_one_patient_each`), or each is shaped as an id (:data:`ID_VALUE`: RSNA's patient folders
    without the competition's table; :data:`ID_NAME`: ``P001``, ``Patient 3``). Folders named as the classes
    (or as BI-RADS categories, :data:`BIRADS_NAME`) are always classes."""
    names = sorted({c for c in folder_classes if c}, key=_natural_key)
    if len(names) < 2 or all(map(_class_named, names)):
        return None
    why = (_table_ids(reader, {_id_key(n) for n in names}) or _one_patient_each(reader, images, folder_classes)
           or ("their names are ids (numbers of four digits or more, DICOM UIDs or hashes), no class's"
               if all(ID_VALUE.fullmatch(_id_key(n)) for n in names) else None)
           or ("their names are numbered ids (zero-padded numbers, or a patient's, case's or subject's number), no "
               "class's" if all(map(_id_shaped, names)) else None))
    if why is None:
        return None
    shown = ", ".join(repr(n) for n in names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    reader.id_level = frozenset(_id_key(n) for n in names)
    reader.id_words = f"the folders {shown} are not classes: {why}"
    summary.notes.append(f"The folders {shown} are not classes but patients: {why}; the images are unlabelled.")
    return why
