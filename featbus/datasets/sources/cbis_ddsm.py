"""CBIS-DDSM (TCIA, 2017) as TCIA's downloader writes it, as a release's source
(:mod:`featbus.datasets.sources`): the description tables ``mass_case_description_{train,test}_set.csv``
and ``calc_case_description_{train,test}_set.csv`` (one row an abnormality: ``patient_id``, ``left or
right breast``, ``image view``, ``abnormality id``, ``pathology``, ``image file path``, ``ROI mask file
path``...) and the tree ``CBIS-DDSM/<Type>-<Split>_P_NNNNN_<SIDE>_<VIEW>/<date>-DDSM-NA-N/<series>/1-1.dcm``.

The tables name the files by UID folders that are not on disk: only the first part of each path, the
**case folder**, is, so the case folder is the key. A case folder holds the full mammogram; the
folder of abnormality ``n`` (``<case>_<n>``) holds its ROI mask and its cropped image, told apart by
their pixels (a mask holds two values, 0 and its maximum, at the scan's size; a crop is grey), never
by the files' order or names. The masks are the scan's; a crop is never a scan. The label is
``pathology`` as written (MALIGNANT, BENIGN, BENIGN_WITHOUT_CALLBACK); a scan whose abnormalities
differ takes the most severe. The split is the table's (``train_set`` / ``test_set``), the patient
``patient_id``.

The community's JPEG conversion (Kaggle's "CBIS-DDSM breast cancer image dataset") keeps the tables in
``csv/`` beside ``dicom_info.csv`` (one row a converted file: ``image_path``
``CBIS-DDSM/jpeg/<SeriesInstanceUID>/1-NNN.jpg``, ``SeriesInstanceUID``, ``SeriesDescription``) and
``meta.csv`` (a download manifest, said); the files are ``jpeg/<SeriesInstanceUID>/1-NNN.jpg``. The
tables' paths carry each series' UID as their third part, joined to the files through
``dicom_info.csv`` (:func:`~featbus.datasets._release_join.through`); a series' full mammogram, ROI
mask and cropped image are told apart by ``SeriesDescription``, else by their pixels (a mask saved as
lossy JPEG is still nearly two-valued). A breast filed both as a Mass and as a Calc case (the same
mammogram under two subjects) is one patient, said. A flat conversion that names each file by its case
(``<case>_FULL.png``, ``<case>_MASK_1.png``, ``<case>_CROP_1.png``) reads as the tree: a name with an ROI
word (:data:`ROI_WORDS`) is an abnormality's file, never a scan.

TCIA's download without the description tables (NBIA's ``metadata.csv`` of collection ``CBIS-DDSM`` beside the
tree, the tables a separate download) reads by the case folders' names (:data:`CASE`): the full mammograms
unlabelled, their abnormalities' masks paired, the crops left out, the patient, split, side and view from the
names, and the missing tables said.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...io import ImageError, header_shape, read_image
from .._release_join import join, through
from .._release_tables import SourceError
from ._base import Entry, SourceRead
from ._screening import row_dict, side_view, table

__all__ = ["NAME", "SEVERITY", "read", "recognise", "roi_kind"]

NAME = "CBIS-DDSM case descriptions"
#: The tables' names: abnormality type and split.
TABLE = re.compile(r"^(mass|calc)_case_description_(train|test)_set\.csv$", re.IGNORECASE)
#: ``pathology``'s values, least severe first: a scan with several abnormalities takes the last it has.
SEVERITY = ("BENIGN_WITHOUT_CALLBACK", "BENIGN", "MALIGNANT")
NEEDS = ("patient_id", "pathology", "image file path", "ROI mask file path")
#: The breast's side and view, where the table has them.
SIDE_VIEW = ("left or right breast", "image view")
#: The JPEG conversion's mapping table and download manifest, beside the description tables: what they are.
DICOM_INFO, META = "dicom_info.csv", "meta.csv"
SAID = {DICOM_INFO: "the converted files' DICOM header fields (image_path, SeriesInstanceUID, SeriesDescription): "
                    "what the case tables join through, no labels",
        META: "the download's manifest (one row a series): no labels"}
#: A case folder's name: abnormality type, split, patient, side, view and, for an abnormality's folder, its number.
CASE = re.compile(r"^(Mass|Calc)-(Training|Test)_(P_\d+)_(LEFT|RIGHT)_(CC|MLO)(?:_(\d+))?$", re.IGNORECASE)


def _first_cell(root: Path, rel: Path, needs: tuple[str, ...]) -> str:
    """The first row's cell of table ``rel`` in the column of ``needs[0]`` (the table has every column of
    ``needs``); ``""`` where it has none."""
    try:
        _, rows, cols = table(root, rel, needs)
    except (OSError, ValueError):  # SourceError is a ValueError
        return ""
    return rows[0][1][cols[0]].strip() if rows else ""


def recognise(files: list[Path], root: Path, *, images: list[Path] = ()) -> list[Path]:
    """The four description tables (by their published names) where their paths are TCIA's UID
    folders, not the release's images, and beside them a JPEG conversion's ``dicom_info.csv`` and
    ``meta.csv``; a copy whose paths are its files (the PNG-converted shape commonly shared) is a table
    like any other, read by its columns. Without them, NBIA's ``metadata.csv`` of the collection."""
    listed = {f.as_posix().casefold() for f in images}  # the images' relative POSIX paths, in any case
    # a copy's table: its first 'image file path' names one of the images, beside it or under CBIS-DDSM/
    cells = {f: _first_cell(root, f, ("image file path",)).replace("\\", "/") for f in files if TABLE.match(f.name)}
    mine = [f for f, cell in cells.items() if not cell or not any((base / cell).as_posix().casefold() in listed
                                                                   for base in (f.parent, f.parent / "CBIS-DDSM"))]
    folders = {f.parent for f in mine}
    if not cells:
        return [f for f in files if f.name.casefold() == "metadata.csv"
                and _first_cell(root, f, ("Collection", "File Location")).casefold() == "cbis-ddsm"][:1]
    return mine + [f for f in files if f.parent in folders and f.name.casefold() in SAID]


def _tree(root: Path, file: Path, images: list[Path]) -> SourceRead:
    """The download without its description tables: each case folder's full mammogram, unlabelled, with the
    masks of its abnormalities' folders (told from the crops by their pixels)."""
    got = SourceRead(file, claims_images=True, patient_source="folder", key="the case folders' names",
                     source_name="CBIS-DDSM's case folders, as NBIA's download writes them",
                     patient_detail="the case folder's patient (Mass-Training_P_00001_LEFT_CC -> P_00001)",
                     class_source="none: CBIS-DDSM's description tables, TCIA's separate download, are not "
                                  "beside CBIS-DDSM/")
    scans: dict[str, Entry] = {}
    rois: list[tuple[str, Path]] = []
    for img in images:
        if (found := next((m for p in img.parts[:-1] if (m := CASE.match(p))), None)) is None:
            continue
        _, split, patient, side, view, n = found.groups()
        if n:
            rois.append((found.group(0)[: found.start(6) - 1], img))
        else:
            scans[found.group(0).casefold()] = Entry(img, None, patient=patient,
                                                     split=split.lower().replace("training", "train"),
                                                     meta={"laterality": side[0].upper(), "view": view.upper()})
    for case, f in rois:
        if _roi(got, {}, root, f, None, f"a cropped image of {case}") != "mask":
            continue
        if (scan := scans.get(case.casefold())) is None:
            got.out(f.as_posix(), "mask", f"of {case}, whose full mammogram is not in the download")
        else:
            scan.masks += (f,)
    got.entries = list(scans.values())
    got.notes.append("CBIS-DDSM's description tables (mass_case_description_train_set.csv and the three others, a "
                     "separate download from TCIA) are not beside the images: read unlabelled, by the case folders; "
                     "put them beside CBIS-DDSM/ to read the pathology.")
    got.mask_rule = ("the ROI mask in each abnormality's folder <case>_<n>, told from the cropped image by its pixels "
                     "(0 and one value, at the scan's size)")
    return got


def _roi(got: SourceRead, kinds: dict, root: Path, rel: Path, kind: str | None, crop: str) -> str:
    """An abnormality's file's kind (``"mask"``, ``"crop"``, ``"unreadable"``): ``kind`` (dicom_info.csv's), else by
    its pixels (:func:`roi_kind`), found once (``kinds``); a crop (``crop``: its words) or unreadable one left out."""
    if rel not in kinds:
        what, why = kinds[rel] = (kind, "dicom_info.csv or its pixels") if kind else roi_kind(root, rel)
        if what == "crop":
            got.out(rel.as_posix(), "cropped image", f"{crop} ({why}), not a scan")
        elif what != "mask":
            got.out(rel.as_posix(), "unreadable", why)
    return kinds[rel][0]


def _case(cell: str) -> str:
    """A path cell's first part, the case folder (``\\`` or ``/`` separated, spaces and newlines trimmed)."""
    return cell.strip().replace("\\", "/").lstrip("./").split("/")[0].strip()


#: The words of a flat conversion's names for an abnormality's files (``<case>_MASK_1``, ``<case>_1_crop``).
ROI_WORDS = frozenset({"mask", "roi", "crop", "cropped"})


def _roi_named(rel: Path, case: str) -> str | None:
    """The abnormality folder (``<case>_<n>``) a file named by its case and an ROI word stands for (``<case>_MASK_1``,
    ``<case>_1_mask``); ``None`` for any other file (``<case>_FULL``, ``<case>``, a file of a case folder)."""
    rest = rel.stem[len(case):] if rel.stem.casefold().startswith(case.casefold()) else ""
    words = [w for w in re.split(r"[\s_\-.]+", rest.casefold()) if w]
    if not ROI_WORDS & set(words):
        return None
    return f"{case}_{int(n)}" if (n := next((w for w in words if w.isdigit()), None)) is not None else case


def roi_kind(root: Path, rel: Path) -> tuple[str, str]:
    """``("mask" | "crop" | "unreadable", why)`` for a file of an abnormality's folder, by its pixels:
    a mask holds 0 and at most one other value; a cropped image is grey. The header is checked
    first (:func:`featbus.io.header_shape`: a truncated file or one promising more pixels than
    :data:`featbus.io.MAX_PIXELS` is never decoded)."""
    shape, problem = header_shape(root / rel)
    if problem is not None:
        return "unreadable", f"{problem[0]}: {problem[1]}"
    try:  # the stored values (no window): a mask's two values stay two
        pixels = read_image(root / rel, dicom_window=False)
    except (ImageError, OSError, ValueError) as exc:
        return "unreadable", f"its pixels cannot be read ({exc})"
    values = np.unique(pixels)
    if len(values) <= 2 and values[0] == 0:
        return "mask", "0/" + str(int(values[-1]))
    top = float(values[-1])
    if top > 0 and np.mean((pixels <= 0.1 * top) | (pixels >= 0.9 * top)) >= 0.995:  # a lossy JPEG's mask
        return "mask", f"nearly two-valued, 0/{int(top)} (a lossy copy of a mask)"
    return "crop", f"grey, {len(values)} values, {shape[1]}x{shape[0]}"


def _series_uid(cell: str) -> str:
    """The series UID a TCIA path cell carries, its third part (``<subject>/<study>/<series>/000000.dcm``)."""
    parts = [p.strip() for p in cell.strip().replace("\\", "/").split("/") if p.strip()]
    return parts[2] if len(parts) > 2 else ""


#: ``SeriesDescription``'s words for each kind of file a series holds.
KINDS = (("full mammogram", "scan"), ("roi mask", "mask"), ("cropped", "crop"))


def _converted_series(root: Path, folder: Path, images: list[Path]) -> dict[str, list[tuple[Path, str | None]]]:
    """Each series UID's files of the JPEG conversion, with their kind by ``SeriesDescription`` (``None``
    without the column): ``dicom_info.csv``'s ``image_path`` joined to the files."""
    _, rows, (c_path, c_uid, c_desc) = table(root, folder / DICOM_INFO, ("image_path", "SeriesInstanceUID"),
                                             ("SeriesDescription",))
    files = through([(row[c_path], row[c_path]) for _, row in rows], images)
    series: dict[str, list[tuple[Path, str | None]]] = {}
    for _, row in rows:
        desc = row[c_desc].strip().casefold() if c_desc is not None else ""
        if (found := files.get(row[c_path].strip())) is not None:
            series.setdefault(row[c_uid].strip(), []).append((found, next((k for w, k in KINDS if w in desc), None)))
    return series


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal") -> SourceRead:
    """The full mammograms the table's case folders hold (or, in the JPEG conversion, its series
    through ``dicom_info.csv``), each with its abnormalities' ROI masks."""
    if file.name.casefold() in SAID:
        return SourceRead(file, not_used=SAID[file.name.casefold()])
    if file.name.casefold() == "metadata.csv":
        return _tree(root, file, images or [])
    converted, flat = (root / file.parent / DICOM_INFO).is_file(), False
    got = SourceRead(file, claims_images=True, patient_source="column", patient_detail="patient_id", key=(
        f"the series UID of 'image file path' and 'ROI mask file path' (their third part), through "
        f"{(file.parent / DICOM_INFO).as_posix()}'s image_path" if converted else
        "the case folder (the first part of 'image file path'; its UID folders are not on disk)"))
    header, rows, (c_patient, c_pathology, c_image, c_mask, c_side, c_view) = table(root, file, NEEDS, SIDE_VIEW)
    if converted:  # each row's series (its paths' third part) through dicom_info.csv, told apart by description
        key_of, series = _series_uid, _converted_series(root, file.parent, images or [])
        scans_of = [[f for f, k in series.get(_series_uid(row[c_image]), []) if k in (None, "scan")] for _, row in rows]
        scans_of = [found if len(found) == 1 else [] for found in scans_of]
        rois_of = [series.get(_series_uid(row[c_mask]), []) for _, row in rows]
        name, words = "series {}", ("series {!r} of its 'image file path' is no file of dicom_info.csv's image_path "
                                    "on disk", "series {!r} of its 'ROI mask file path' is no file on disk")
    else:  # the files of each row's case folder and of its abnormality's folder, wherever they are
        key_of = _case
        cases, rois_of = (join([[_case(row[c])] for _, row in rows], images or (), (header[c],), many=True).files
                          for c in (c_image, c_mask))
        # a flat conversion names an abnormality's files by the case: <case>_MASK_<n>, <case>_CROP_<n> beside
        # <case>_FULL; they are the case's ROI files, never its scans
        named = [[(f, _roi_named(f, _case(row[c_image]))) for f in found] for (_, row), found in zip(rows, cases)]
        scans_of = [[f for f, roi in found if roi is None] for found in named]
        rois_of = [[(f, None) for f in found or [f for f, roi in case if roi == _case(row[c_mask])]]
                   for (_, row), found, case in zip(rows, rois_of, named)]
        name, words = "{}", ("case folder {!r} not found (its 'image file path' {!r})", "abnormality folder {!r} not "
                                                                                       "found")
        flat = any(_case(row[c_image]).casefold() not in {p.casefold() for p in f.parts[:-1]}
                   for (_, row), found in zip(rows, scans_of) for f in found)
        if flat:  # each file named by its case, no case folders: the paragraph says so
            got.key = ("the case (the first part of 'image file path'; its UID folders are not on disk) in each "
                       "file name")
    kinds: dict[Path, tuple[str, str]] = {}  # each ROI file's kind and why, said once
    scans: dict[tuple, dict] = {}
    for (line, row), found, roi_files in zip(rows, scans_of, rois_of):
        where = f"row {line} of {file.as_posix()}"
        if not found:
            got.out(where, "no image", words[0].format(key_of(row[c_image]), row[c_image].strip()))
            continue
        pathology = row[c_pathology].strip()
        if pathology.upper() not in SEVERITY:
            got.out(where, "bad annotation", f"pathology {pathology!r} is none of {', '.join(SEVERITY)}")
            continue
        scan = scans.setdefault(tuple(found), {"rows": [], "masks": [], "patient": row[c_patient].strip()})
        scan["rows"].append((line, row, pathology))
        roi = key_of(row[c_mask])
        if not roi_files:
            got.out(where, "mask not found", words[1].format(roi) + " (the image kept without its mask)")
        scan["masks"] += [f for f, kind in roi_files
                          if _roi(got, kinds, root, f, kind, f"the cropped image of {name.format(roi)}") == "mask"]
    for found, scan in scans.items():
        line, row, _ = scan["rows"][0]
        label = max({p for _, _, p in scan["rows"]}, key=lambda p: SEVERITY.index(p.upper()))
        got.entries.extend(Entry(f, label, tuple(dict.fromkeys(scan["masks"])), patient=scan["patient"],
                                 split=TABLE.match(file.name).group(2), row=row_dict(header, line, row),
                                 meta=side_view(row, c_side, c_view)) for f in found)
    if mixed := sum(len({p for _, _, p in scan["rows"]}) > 1 for scan in scans.values()):
        got.notes.append(f"{mixed} image(s) of {file.as_posix()} with abnormalities of different pathology take the "
                         "most severe (MALIGNANT > BENIGN > BENIGN_WITHOUT_CALLBACK).")
    if file.name.lower().startswith("mass") and None not in (c_side, c_view):  # said once, by the mass table
        # the breasts (patient, side, view) the calc table of the same split files too (Mass-Training_P_00001_LEFT_CC
        # and Calc-Training_P_00001_LEFT_CC)
        calc = file.parent / f"calc_case_description_{TABLE.match(file.name).group(2)}_set.csv"
        try:
            _, calc_rows, cols = table(root, calc, ("patient_id", *SIDE_VIEW))
        except SourceError:  # no such table (read_table's OSError), or not of these columns
            calc_rows, cols = [], []
        twice = sorted({tuple(s["rows"][0][1][c].strip() for c in (c_patient, c_side, c_view)) for s in scans.values()}
                       & {tuple(row[c].strip() for c in cols) for _, row in calc_rows})
        if twice:
            got.notes.append(f"{len(twice)} breast view(s) filed both as a Mass and as a Calc case (e.g. "
                             f"{' '.join(twice[0])}): the same mammogram under two subjects, read as near-duplicate "
                             "images of one patient (kept in one fold).")
    got.class_source = "the 'pathology' column of {file} (MALIGNANT, BENIGN, BENIGN_WITHOUT_CALLBACK as written)"
    got.mask_rule = ("the ROI mask of each abnormality's series, joined through dicom_info.csv and told from the "
                     "cropped image by its SeriesDescription or its pixels" if converted else
                     ("the ROI mask named by each abnormality (<case>_<n> in its name)" if flat else
                      "the ROI mask in each abnormality's folder <case>_<n>") + ", told from the cropped image by its "
                     "pixels (0 and one value, at the scan's size)")
    return got
