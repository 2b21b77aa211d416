"""The Chinese Mammography Database (CMMD, TCIA 2021) as a release's source
(:mod:`featbus.datasets.sources`): ``CMMD/<ID1>/<study>/<series>/1-N.dcm`` labelled by
``CMMD_clinicaldata_revision.xlsx`` (``ID1, LeftRight, Age, number, abnormality, classification,
subtype``), one row a patient's breast.

A row labels a breast, so the key is two fields: the patient (``ID1``, the image's patient folder)
and the side (``LeftRight``, the image's ``ImageLaterality`` header); each view of the breast takes
the row's ``classification`` as written (Benign / Malignant). The patient is ``ID1``: a woman's two
breasts are one group.
"""

from __future__ import annotations

from pathlib import Path

from .._release_join import NESTED, join
from .._release_scan import dicom_name
from .._release_tables import SourceError, SourceRefused
from ._base import Entry, SourceRead
from ._screening import SIDES, columns, header_row, row_dict, table
from .dicom import header_values, read_headers

__all__ = ["NAME", "read", "recognise"]

NAME = "CMMD clinical data"
NEEDS = ("ID1", "LeftRight", "classification")


def recognise(files: list[Path]) -> list[Path]:
    """The clinical table, by its published name (``CMMD_clinicaldata_revision.xlsx`` and earlier versions)."""
    return [f for f in files if f.name.casefold().startswith("cmmd_clinicaldata")
            and f.suffix.lower() in (".xlsx", ".xls", ".csv")]


def _merged_header(root: Path, file: Path) -> str:
    """Why the header row does not name the columns: the merged cells of its first row (an .xlsx),
    else its empty cells; ``""`` when neither."""
    if file.suffix.lower() == ".xlsx":
        import openpyxl

        try:
            book = openpyxl.load_workbook(root / file)  # the size was checked by read_table
            merged = [str(r) for r in book.worksheets[0].merged_cells.ranges if r.min_row == 1]
            book.close()
        except Exception:  # noqa: BLE001 - openpyxl raises many kinds; then the empty cells are said
            merged = []
        if merged:
            return f"its header row has merged cells ({', '.join(merged[:3])})"
    empty = sum(not h.strip() or h.startswith("column ") for h in header_row(root, file))
    return f"its header row has {empty} empty cell(s) (merged header cells?)" if empty else ""


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal") -> SourceRead:
    """The images of each patient folder the table names, each labelled by its breast's row
    (the folder's ``ID1`` and the header's ``ImageLaterality``)."""
    got = SourceRead(file, claims_images=True, patient_source="column", patient_detail="ID1",
                     key="ID1 + LeftRight (the image's patient folder + its ImageLaterality header)")
    try:
        header, rows, (c_id, c_side, c_class) = table(root, file, NEEDS)
    except SourceError as exc:
        why = _merged_header(root, file)
        if why:  # the release's label table, unreadable as saved: refused, never read as folder names
            raise SourceRefused(f"{str(root / file)!r}: {why}: {exc}; the column names must be its first row "
                               "(unmerge them)") from None
        raise
    breast: dict[tuple[str, str], tuple[int, list[str]]] = {}
    rows_of: dict[str, list[tuple[str, str]]] = {}  # each patient's breasts
    for line, row in rows:
        key = (row[c_id].strip(), SIDES.get(row[c_side].strip().casefold(), row[c_side].strip()))
        if key in breast:
            got.out(f"row {line} of {file.as_posix()}", "duplicate",
                    f"patient {key[0]} side {key[1]} is row {breast[key][0]} too")
            continue
        breast[key] = (line, row)
        rows_of.setdefault(key[0], []).append(key)
    # a conversion's files by name (<ID1>_<LeftRight>_<view>, or <ID1>/<LeftRight>_<view>; the headers lost; the
    # side in any spelling of SIDES, L or LEFT), else the originals by their patient's folder and ImageLaterality
    spelt = [(key, [key[0], word.upper()]) for key in breast for word, side in SIDES.items() if side == key[1]]
    named = join([cells for _, cells in spelt], images or (), ("ID1", "LeftRight"), many=True)
    key_of = {img: key for (key, _), files in zip(spelt, named.files) for img in files}
    ids = sorted(rows_of)
    by_patient = join([[p] for p in ids], [img for img in images or () if img not in key_of], ("ID1",), many=True)
    patient_of = {img: p for p, files in zip(ids, by_patient.files) for img in files}
    patient_of.update({img: key[0] for img, key in key_of.items()})
    heads = header_values(read_headers(root, [img for img in patient_of if img not in key_of]),
                          ("ImageLaterality", "Laterality", "ViewPosition"))
    in_name = 1 if named.separator == NESTED else 2  # the key's tokens in the name before the view
    heads.update({img: {"ImageLaterality": key[1], "Laterality": "",
                        "ViewPosition": "_".join(img.stem.split("_")[in_name:])} for img, key in key_of.items()})
    if key_of:
        got.key = f"ID1 + LeftRight (a conversion's <ID1>{'/' if in_name == 1 else '_'}<LeftRight>_<view> file name)"
    used, sideless = set(), 0
    for img, patient in [(img, patient_of[img]) for img in images or () if img in patient_of]:
        head = heads.get(img) or {}
        if not head and dicom_name(img):  # a .dcm, .dicom or suffix-less file: DICOM, its header unread
            got.out(img.as_posix(), "unreadable", "its DICOM header cannot be read")
            continue
        side = SIDES.get((head.get("ImageLaterality") or head.get("Laterality") or "").casefold())
        # no side (a PNG or JPEG conversion of the tree, no header): her only row, or the label all hers share
        keys = rows_of[patient] if side is None else [(patient, side)]
        labels = {breast[key][1][c_class].strip() for key in keys if key in breast}
        if len(labels) != 1:
            got.out(img.as_posix(), "no row", f"no row of {file.as_posix()} for patient "
                    f"{patient}, side {side} (ImageLaterality)" if side else
                    f"no ImageLaterality header nor side in its name: which breast of "
                    f"{patient} it shows is unknown, and her rows differ "
                    f"({', '.join(sorted(labels))})")
            continue
        line, row = breast[keys[0]]
        used.update(keys)
        sideless += side is None
        got.entries.append(Entry(img, row[c_class].strip() or None, patient=patient, row=row_dict(header, line, row),
                                 meta={"laterality": side, "view": side and head["ViewPosition"]}))
    for key, (line, _) in breast.items():
        if key not in used:
            got.out(f"row {line} of {file.as_posix()}", "no image",
                    f"no image of patient {key[0]} with ImageLaterality {key[1]}")
    got.class_source = ("the 'classification' column of {file} (as written): a breast's label, given to each of "
                        "its views (ID1 + LeftRight)")
    if sideless and sideless == len(got.entries):
        got.key = "ID1 (the image's patient folder; no ImageLaterality header: her rows' label)"
    if sideless:
        got.notes.append(f"{sideless} image(s) whose breast neither a DICOM header (ImageLaterality) nor the file "
                         "name gives (a conversion) labelled by their patient's only row, or by the classification "
                         "all her rows share; their breast's side is not known.")
    if "subtype" in columns(header):
        got.notes.append("CMMD's 'subtype' (molecular subtype of the D2 cancers) kept with each row.")
    return got
