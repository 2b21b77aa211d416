"""The five screening-mammography releases most studies start from, each laid out as its publisher
ships it (issue 95 item 7): RSNA Screening Mammography, VinDr-Mammo, CBIS-DDSM as TCIA's downloader
writes it, CMMD and INbreast.

Every image is a small synthetic full-field mammogram (:data:`FRAME`, a breast against the chest
wall, a pectoral muscle on the MLO views, a lesion where the release says there is one) written as
a DICOM file with the headers a mammography unit writes (pydicom): ``Modality`` MG, the digital
mammography SOP class, ``ImageLaterality``, ``ViewPosition``, ``PatientID``, the study / series /
instance UIDs, ``PixelSpacing``, 12 to 16 stored bits in 16-bit words, and on some files
``MONOCHROME1`` with a window (``WindowCenter`` / ``WindowWidth``), as several vendors write them.
The tables, folders and file names are those of each release's documentation; where it leaves a
detail open, the builder's docstring says what was built and from which source.

Each builder returns a :class:`~_release_builders.Built`: ``truth`` maps each scan (release-relative,
POSIX) to ``(label, patient, masks)``, ``splits`` its published split where the release has one,
``mask_files`` every mask file; ``expect`` holds the counts the reader's summary must give
(``classes``, ``n_images``, ``n_patients``, ``splits``, ``left_out``). ``label`` ``None``: an image of
a test split published without labels.
"""

from __future__ import annotations

import plistlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _release_builders import MG_PIXEL_MM, Built, _pacs_studies, _write_csv, _write_xlsx, dicom_dataset, save
from PIL import Image

#: The synthetic mammogram's size (rows, columns): portrait, as a detector's frame.
FRAME = (120, 96)
#: The digital mammography SOP class (For Presentation).
MG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.2"


def _breast(k: int, side: str, view: str) -> tuple[np.ndarray, np.ndarray]:
    """``(tissue, breast)``: a float image in [0, 1] of breast ``k`` (chest wall on the left for a
    left breast, on the right for a right one; a pectoral triangle on an MLO view) and its outline."""
    rows, cols = FRAME
    rng = np.random.default_rng(5000 + k)
    y, x = np.mgrid[:rows, :cols].astype(float)
    wall = x if side.upper().startswith("L") else cols - 1 - x
    across, out = rows * (0.40 + 0.03 * (k % 3)), cols * (0.70 + 0.04 * (k % 4))
    breast = ((y - rows / 2) / across) ** 2 + (wall / out) ** 2 <= 1
    texture = np.zeros(FRAME)
    for _ in range(6):  # fibroglandular patches: each mammogram its own (no two alike to a perceptual hash)
        cy, cx, r = rng.uniform(0.1, 0.9) * rows, rng.uniform(0.05, 0.6) * cols, rng.uniform(6, 18)
        texture += rng.uniform(-0.25, 0.3) * np.exp(-((y - cy) ** 2 + (wall - cx) ** 2) / (2 * r * r))
    tissue = np.where(breast, 0.45 + 0.15 * np.exp(-wall / cols) + texture + rng.normal(0, 0.04, FRAME), 0.0)
    if view.upper().startswith("MLO") or view.upper() == "ML":
        pectoral = (wall < cols * 0.35 * (1 - y / (rows * 0.55))) & breast
        tissue[pectoral] = 0.85 + rng.normal(0, 0.02, int(pectoral.sum()))
    return np.clip(tissue, 0, 1), breast


def lesion(k: int, side: str, n: int = 0) -> np.ndarray:
    """Where lesion ``n`` of mammogram ``k`` lies: a small ellipse inside the breast, a boolean array."""
    rows, cols = FRAME
    y, x = np.mgrid[:rows, :cols].astype(float)
    wall = x if side.upper().startswith("L") else cols - 1 - x
    cy, cw = rows * 0.40 + 6 * (k % 4) + 22 * n, cols * 0.30 + 3 * (k % 3)
    return ((y - cy) / (6 + k % 3)) ** 2 + ((wall - cw) / (5 + k % 2)) ** 2 <= 1


def mammogram(k: int, side: str, view: str, lesions: int = 0) -> np.ndarray:
    """Mammogram ``k`` as it looks (bright tissue on black), floats in [0, 1], with ``lesions`` dense masses."""
    tissue, _ = _breast(k, side, view)
    for n in range(lesions):
        tissue[lesion(k, side, n)] = 0.95
    return tissue


def mg_dataset(image: np.ndarray, *, patient: str, study: str, series: str, sop: str, side: str | None,
               view: str | None, bits: int = 12, monochrome1: bool = False, words: int = 16, **fields):
    """``image`` (floats in [0, 1], as displayed) as a digital mammogram's DICOM dataset: ``bits``
    stored bits in ``words``-bit words, ``MONOCHROME1`` (stored inverted, with a window) where asked,
    the header fields of a mammography unit; ``fields`` added as given (``PatientAge="056Y"``)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MG_SOP_CLASS, sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = MG_SOP_CLASS, sop
    ds.PatientID, ds.PatientName, ds.PatientSex = patient, f"ANON^{patient}", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "20160720", "", "1", "", ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber, ds.BodyPartExamined = "MG", 1, 1, "BREAST"
    ds.PresentationIntentType = "FOR PRESENTATION"
    if side is not None:
        ds.ImageLaterality = side
    if view is not None:
        ds.ViewPosition = view
    ds.Rows, ds.Columns = image.shape
    top = 2 ** bits - 1
    stored = np.round(image * top).astype(np.uint16 if words == 16 else np.uint8)
    if monochrome1:
        stored = (top - stored).astype(stored.dtype)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = words, bits, bits - 1, 0
    if words == 16:
        ds.WindowCenter, ds.WindowWidth = str(top // 2), str(top)
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "1", "0", "US"
    ds.PixelSpacing = ds.ImagerPixelSpacing = [MG_PIXEL_MM, MG_PIXEL_MM]
    for key, value in fields.items():
        setattr(ds, key, value)
    ds.PixelData = stored.tobytes()
    return ds


def write_dicom(path: Path, ds) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def _uid(*parts: int) -> str:
    """A stable, valid DICOM UID (the builders' root and ``parts``)."""
    return "1.2.826.0.1.3680043.9.7395." + ".".join(str(p) for p in parts)


# ---------------------------------------------------------------------------------------------
# RSNA Screening Mammography Breast Cancer Detection (Kaggle, 2022)
# ---------------------------------------------------------------------------------------------

#: ``train.csv``'s columns (the competition's data page).
RSNA_TRAIN = ("site_id", "patient_id", "image_id", "laterality", "view", "age", "cancer", "biopsy", "invasive",
              "BIRADS", "implant", "density", "machine_id", "difficult_negative_case")
#: ``test.csv``'s columns: no label; ``prediction_id`` is ``<patient_id>_<laterality>``, one answer a breast.
RSNA_TEST = ("site_id", "patient_id", "image_id", "laterality", "view", "age", "implant", "machine_id",
             "prediction_id")


def build_rsna(tmp: Path) -> Built:
    """RSNA Screening Mammography Breast Cancer Detection, Kaggle 2022 (the competition's data page).

    ``train_images/<patient_id>/<image_id>.dcm`` with ``train.csv`` (one row an image, the breast's
    ``cancer`` 0/1 repeated on each of its views; ``BIRADS`` 0-2 or empty, ``density`` A-D or empty),
    ``test_images/<patient_id>/<image_id>.dcm`` with ``test.csv`` (no label: the hidden test split,
    ``prediction_id`` = patient + side) and ``sample_submission.csv`` (``prediction_id, cancer``: the
    form of the answers). Site 2's unit writes ``MONOCHROME1``; one breast has a third view (``ML``),
    as some do in the release.
    """
    b = Built(tmp / "rsna-breast-cancer-detection")
    train, test, k = [], [], 0
    patients = [(10006, 1, 61, "", (0, 0)), (10011, 2, 55, "C", (1, 0)), (10025, 1, 70, "B", (0, 0)),
                (10038, 2, 48, "D", (0, 1)), (10042, 1, 66, "A", (0, 0)), (10049, 2, 59, "B", (1, 0))]
    for patient, site, age, density, (cancer_l, cancer_r) in patients:
        for side, cancer in (("L", cancer_l), ("R", cancer_r)):
            views = ("CC", "MLO", "ML") if (patient, side) == (10042, "R") else ("CC", "MLO")
            for view in views:
                k += 1
                image_id = 100000000 + 7919 * k * patient % 899999999
                rel = f"train_images/{patient}/{image_id}.dcm"
                write_dicom(b.root / rel, mg_dataset(
                    mammogram(k, side, view, lesions=cancer), patient=str(patient), study=_uid(1, patient),
                    series=_uid(1, patient, k), sop=_uid(1, patient, image_id), side=side, view=view,
                    bits=12 if site == 1 else 14, monochrome1=site == 2, PatientAge=f"{age:03d}Y"))
                b.truth[rel] = ("cancer" if cancer else "no cancer", str(patient), ())
                b.splits[rel] = "train"
                train.append({"site_id": site, "patient_id": patient, "image_id": image_id, "laterality": side,
                              "view": view, "age": float(age), "cancer": cancer, "biopsy": cancer,
                              "invasive": cancer, "BIRADS": "0" if cancer else ("1" if k % 3 else ""),
                              "implant": 0, "density": density, "machine_id": 49 if site == 1 else 21,
                              "difficult_negative_case": bool(not cancer and k % 5 == 0)})
    answers = []
    for patient, site in ((10008, 1), (10130, 2)):
        for side in ("L", "R"):
            for view in ("CC", "MLO"):
                k += 1
                image_id = 200000000 + 104729 * k % 799999999
                rel = f"test_images/{patient}/{image_id}.dcm"
                write_dicom(b.root / rel, mg_dataset(
                    mammogram(k, side, view), patient=str(patient), study=_uid(2, patient), series=_uid(2, patient, k),
                    sop=_uid(2, patient, image_id), side=side, view=view, monochrome1=site == 2))
                b.truth[rel] = (None, str(patient), ())
                b.splits[rel] = "test"
                test.append({"site_id": site, "patient_id": patient, "image_id": image_id, "laterality": side,
                             "view": view, "age": 60.0, "implant": 0, "machine_id": 49,
                             "prediction_id": f"{patient}_{side}"})
            answers.append({"prediction_id": f"{patient}_{side}", "cancer": 0})
    _write_csv(b.root / "train.csv", train)
    _write_csv(b.root / "test.csv", test)
    _write_csv(b.root / "sample_submission.csv", answers)
    b.expect = {"n_images": 33, "classes": {"cancer": 6, "no cancer": 19}, "n_patients": 8,
                "splits": {"train": 25, "test": 8}, "unlabelled": 8, "left_out": {}}
    return b


#: The patients of :func:`build_rsna_png_by_patient`: ``(patient_id, cancer on the left, on the right)``.
RSNA_PNG_PATIENTS = ((11713, 0, 0), (18362, 1, 0), (20231, 0, 0), (25002, 0, 1), (30111, 0, 0),
                     (41234, 0, 0), (50001, 1, 0), (61111, 0, 0), (70303, 0, 0), (88888, 0, 0))


def build_rsna_png_by_patient(tmp: Path, part: str = "train", *, flat: bool = False, ext: str = ".png") -> Built:
    """RSNA Screening Mammography as the community's 512-px PNG conversions ship it (Kaggle data sets
    such as "RSNA mammography 512x512 PNG" and the notebooks that read them): the DICOM files
    converted to 8-bit PNG, nested as the competition nests them, ``<part>_images/<patient_id>/<image_id>.png``,
    with the competition's table beside them (``train.csv``, or ``test.csv`` without ``cancer`` for
    ``part="test"``), no ``.dcm`` anywhere. Ten patients, four views each (L/R, CC/MLO); the ten patient
    folders are the values of the table's ``patient_id`` column, never ten classes. ``truth``'s label is
    the breast's ``cancer`` (``None`` for the test part, which the competition publishes unlabelled).
    ``flat``: the other common conversion, every image in one folder named ``<patient_id>_<image_id>``
    (``images/10006_462822612.png``); ``ext``: ``.jpg`` for the JPEG conversions (resized to 256 px).
    """
    b = Built(tmp / f"rsna-{'256-jpg' if ext == '.jpg' else '512-png'}-{part}{'-flat' if flat else ''}")
    rows, k = [], 0
    for patient, cancer_l, cancer_r in RSNA_PNG_PATIENTS:
        for side, cancer in (("L", cancer_l), ("R", cancer_r)):
            for view in ("CC", "MLO"):
                k += 1
                image_id = 100000000 + 7919 * k * patient % 899999999
                rel = f"images/{patient}_{image_id}{ext}" if flat else f"{part}_images/{patient}/{image_id}{ext}"
                pixels = np.round(mammogram(k, side, view, lesions=cancer) * 255).astype(np.uint8)
                save(b.root / rel, pixels[::2, ::2] if ext == ".jpg" else pixels)
                b.truth[rel] = (("cancer" if cancer else "no cancer") if part == "train" else None, str(patient), ())
                row = {"site_id": 1 + k % 2, "patient_id": patient, "image_id": image_id, "laterality": side,
                       "view": view, "age": 61.0, "implant": 0, "machine_id": 49}
                if part == "train":
                    row.update(cancer=cancer, biopsy=cancer, invasive=cancer, BIRADS="", density="B",
                               difficult_negative_case=False)
                else:
                    row["prediction_id"] = f"{patient}_{side}"
                rows.append(row)
    _write_csv(b.root / f"{part}.csv", rows)
    b.expect = {"n_images": 40, "n_patients": 10}
    return b


# ---------------------------------------------------------------------------------------------
# VinDr-Mammo (PhysioNet, 2022)
# ---------------------------------------------------------------------------------------------

def _hex(*parts: int) -> str:
    """A 32-character hexadecimal id, as VinDr-Mammo's hashed study and image ids."""
    import hashlib

    return hashlib.md5(".".join(map(str, parts)).encode()).hexdigest()


def build_vindr(tmp: Path, *, png: bool = False) -> Built:
    """VinDr-Mammo, Nguyen et al., Scientific Data 10:277 (2023); PhysioNet doi:10.13026/br2v-7517.

    ``images/<study_id>/<image_id>.dicom`` (hashed ids; the ``.dicom`` suffix), ``breast-level_annotations.csv``
    (``study_id, series_id, image_id, laterality, view_position, height, width, breast_birads,
    breast_density, split``: one row an image, the breast's ``BI-RADS 1``..``BI-RADS 5`` and ``DENSITY
    A``..``DENSITY D``, ``split`` training / test), ``finding_annotations.csv`` (one row a finding with
    its box, ``No Finding`` rows for clean images: never the label table), the DICOM-header table
    ``metadata.csv`` and PhysioNet's ``LICENSE.txt`` and ``SHA256SUMS.txt``. The release gives no
    patient id: one study is one woman's exam, the study the patient. ``png``: as the community's PNG
    conversions ship it (Kaggle's "VinDr-Mammo PNG" data sets): ``images_png/<study_id>/<image_id>.png``,
    8-bit, half size, beside the two annotation tables alone.
    """
    b = Built(tmp / ("vindr-mammo-png" if png else "vindr-mammo"))
    # (left, right) per study; every grade in two training studies (patient-grouped folds need two)
    birads = [(1, 2), (3, 4), (5, 1), (2, 3), (4, 5), (1, 1), (2, 4), (3, 5)]
    breast, findings, metadata, sums, k = [], [], [], [], 0
    for s, (left, right) in enumerate(birads):
        study, series = _hex("study", s), _hex("series", s)
        split = "test" if s >= 6 else "training"
        for side, grade in (("L", left), ("R", right)):
            for view in ("CC", "MLO"):
                k += 1
                image_id = _hex("image", k)
                rel = f"images_png/{study}/{image_id}.png" if png else f"images/{study}/{image_id}.dicom"
                if png:
                    save(b.root / rel, np.round(mammogram(40 + k, side, view, lesions=int(grade >= 4))[::2, ::2]
                                                * 255).astype(np.uint8))
                else:
                    write_dicom(b.root / rel, mg_dataset(
                        mammogram(40 + k, side, view, lesions=int(grade >= 4)), patient=_hex("p", s)[:12],
                        study=_uid(3, s), series=_uid(3, s, 1), sop=_uid(3, s, k), side=side, view=view,
                        bits=16 if s % 2 else 12, monochrome1=s == 3))
                b.truth[rel] = (f"BI-RADS {grade}", study, ())
                b.splits[rel] = "train" if split == "training" else "test"
                row = {"study_id": study, "series_id": series, "image_id": image_id, "laterality": side,
                       "view_position": view, "height": FRAME[0], "width": FRAME[1],
                       "breast_birads": f"BI-RADS {grade}", "breast_density": f"DENSITY {'ABCD'[s % 4]}",
                       "split": split}
                breast.append(row)
                if grade >= 3:
                    findings.append({**{c: row[c] for c in list(row)[:-1]}, "finding_categories": "['Mass']",
                                     "finding_birads": f"BI-RADS {grade}", "xmin": 20.0, "ymin": 40.0,
                                     "xmax": 40.0, "ymax": 62.0, "split": split})
                else:
                    findings.append({**{c: row[c] for c in list(row)[:-1]}, "finding_categories": "['No Finding']",
                                     "finding_birads": "", "xmin": "", "ymin": "", "xmax": "", "ymax": "",
                                     "split": split})
                metadata.append({"SOP Instance UID": image_id, "Series Instance UID": series,
                                 "Patient's Age": "053Y", "Manufacturer": "SIEMENS",
                                 "Manufacturer's Model Name": "Mammomat Inspiration",
                                 "Photometric Interpretation": "MONOCHROME1" if s == 3 else "MONOCHROME2"})
                sums.append(f"{_hex('sum', k)}{_hex('sum2', k)} {rel}")
    _write_csv(b.root / "breast-level_annotations.csv", breast)
    _write_csv(b.root / "finding_annotations.csv", findings)
    if png:
        b.expect = {"n_images": 32, "n_patients": 8, "splits": {"train": 24, "test": 8}, "left_out": {}}
        return b
    _write_csv(b.root / "metadata.csv", metadata)
    (b.root / "LICENSE.txt").write_text("PhysioNet Restricted Health Data License 1.5.0\n\nBy accessing the data ...\n")
    (b.root / "SHA256SUMS.txt").write_text("\n".join(sums) + "\n")
    b.expect = {"n_images": 32, "classes": {"BI-RADS 1": 8, "BI-RADS 2": 6, "BI-RADS 3": 6, "BI-RADS 4": 6,
                                            "BI-RADS 5": 6},
                "n_patients": 8, "splits": {"train": 24, "test": 8}, "left_out": {}}
    return b


# ---------------------------------------------------------------------------------------------
# CBIS-DDSM as TCIA's downloader (NBIA Data Retriever) writes it
# ---------------------------------------------------------------------------------------------

#: ``mass_case_description_*.csv``'s columns (TCIA's CBIS-DDSM page, doi:10.7937/K9/TCIA.2016.7O02S9CY).
CBIS_MASS = ("patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
             "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety",
             "image file path", "cropped image file path", "ROI mask file path")
#: ``calc_case_description_*.csv``'s columns (its density column is spelt with a space).
CBIS_CALC = ("patient_id", "breast density", "left or right breast", "image view", "abnormality id",
             "abnormality type", "calc type", "calc distribution", "assessment", "pathology", "subtlety",
             "image file path", "cropped image file path", "ROI mask file path")
#: NBIA's ``metadata.csv`` columns (the download manifest the Data Retriever writes).
NBIA_COLUMNS = ("Series UID", "Collection", "3rd Party Analysis", "Data Description URI", "Subject ID", "Study UID",
                "Study Description", "Study Date", "Series Description", "Manufacturer", "Modality",
                "SOP Class Name", "SOP Class UID", "Number of Images", "File Size", "File Location",
                "Download Timestamp")
#: The CBIS-DDSM cases built: (type, split, patient, side, view, pathology of each abnormality).
CBIS_CASES = (("Mass", "Training", "P_00001", "LEFT", "CC", ("MALIGNANT",)),
              ("Mass", "Training", "P_00001", "LEFT", "MLO", ("MALIGNANT",)),
              ("Mass", "Training", "P_00004", "LEFT", "CC", ("BENIGN",)),
              ("Mass", "Training", "P_00004", "RIGHT", "MLO", ("BENIGN_WITHOUT_CALLBACK",)),
              ("Mass", "Training", "P_00009", "RIGHT", "CC", ("MALIGNANT", "MALIGNANT")),
              ("Mass", "Test", "P_00016", "LEFT", "CC", ("MALIGNANT",)),
              ("Mass", "Test", "P_00016", "LEFT", "MLO", ("MALIGNANT",)),
              ("Calc", "Training", "P_00005", "RIGHT", "CC", ("MALIGNANT",)),
              ("Calc", "Training", "P_00005", "RIGHT", "MLO", ("MALIGNANT",)),
              ("Calc", "Training", "P_00007", "LEFT", "CC", ("BENIGN", "BENIGN_WITHOUT_CALLBACK")),
              ("Calc", "Training", "P_00008", "LEFT", "CC", ("BENIGN_WITHOUT_CALLBACK",)),
              ("Calc", "Training", "P_00008", "LEFT", "MLO", ("BENIGN_WITHOUT_CALLBACK",)),
              ("Calc", "Training", "P_00010", "RIGHT", "CC", ("BENIGN_WITHOUT_CALLBACK",)),
              ("Calc", "Training", "P_00010", "RIGHT", "MLO", ("BENIGN_WITHOUT_CALLBACK",)),
              ("Calc", "Test", "P_00038", "LEFT", "CC", ("BENIGN",)),
              ("Calc", "Test", "P_00038", "LEFT", "MLO", ("BENIGN",)))


def _nbia_row(series_uid: str, subject: str, location: str, description: str, n: int) -> dict:
    return {"Series UID": series_uid, "Collection": "CBIS-DDSM", "3rd Party Analysis": "NO",
            "Data Description URI": "https://doi.org/10.7937/K9/TCIA.2016.7O02S9CY", "Subject ID": subject,
            "Study UID": series_uid.rsplit(".", 1)[0], "Study Description": "", "Study Date": "07-20-2016",
            "Series Description": description, "Manufacturer": "", "Modality": "MG",
            "SOP Class Name": "Secondary Capture Image Storage", "SOP Class UID": "1.2.840.10008.5.1.4.1.1.7",
            "Number of Images": n, "File Size": "12.34 MB", "File Location": "./CBIS-DDSM/" + location,
            "Download Timestamp": "2024-03-01T10:15:00.000"}


def build_cbis_ddsm_tcia(tmp: Path, *, missing_case: bool = False) -> Built:
    """CBIS-DDSM, Lee et al., Scientific Data 4:170177 (2017), as TCIA's NBIA Data Retriever writes
    it (the collection's page and the layouts people's loaders walk).

    ``CBIS-DDSM/<Type>-<Split>_P_NNNNN_<SIDE>_<VIEW>/<date>-DDSM-NA-NNNNN/1.000000-full mammogram
    images-NNNNN/1-1.dcm`` for each full mammogram; for abnormality ``n`` a case folder ``..._<n>/``
    holding its ROI mask (binary 0/255, the scan's size) and its cropped image (grey, its own size):
    some in one series folder ``1.000000-ROI mask images-NNNNN/`` as ``1-1.dcm`` and ``1-2.dcm`` in
    either order, some in two series (``1.000000-cropped images-NNNNN/``), as downloads differ. The
    description tables ``{mass,calc}_case_description_{train,test}_set.csv`` (one row an abnormality,
    ``pathology`` MALIGNANT / BENIGN / BENIGN_WITHOUT_CALLBACK) name the files by the UID folders of
    the first release (``<case>/1.3.6.1.4.1.9590.../1.3.6.../000000.dcm``), which are never on disk:
    only the first component, the case folder, is. NBIA's ``metadata.csv`` (a download manifest) lies
    at the root beside ``CBIS-DDSM/``. An image with abnormalities of different pathology is the most
    severe (MALIGNANT > BENIGN > BENIGN_WITHOUT_CALLBACK). ``missing_case``: one more row naming a
    case folder that is not on disk.
    """
    b = Built(tmp / "manifest-ZkhPvrLo5216730872708713142")
    tables: dict[str, list[dict]] = {}
    manifest = []
    severity = ("BENIGN_WITHOUT_CALLBACK", "BENIGN", "MALIGNANT")
    for k, (kind, split, patient, side, view, pathologies) in enumerate(CBIS_CASES):
        case = f"{kind}-{split}_{patient}_{side}_{view}"
        date, n1, n2 = f"{7 + k % 3:02d}-2{k % 9}-2016", 70000 + 137 * k, 20000 + 211 * k
        series = f"{date}-DDSM-NA-{n1}/1.000000-full mammogram images-{n2}"
        scan = f"CBIS-DDSM/{case}/{series}/1-1.dcm"
        n_lesions = len(pathologies)
        write_dicom(b.root / scan, mg_dataset(mammogram(80 + k, side[0], view, lesions=n_lesions), patient=case,
                                              study=_uid(4, k), series=_uid(4, k, 1), sop=_uid(4, k, 1, 1),
                                              side=None, view=None, bits=16))
        manifest.append(_nbia_row(_uid(4, k, 1), case, f"{case}/{series}", "full mammogram images", 1))
        masks = []
        for a, pathology in enumerate(pathologies, start=1):
            roi_case = f"{case}_{a}"
            m1, m2 = 50000 + 97 * k + a, 30000 + 89 * k + a
            roi_series = f"{date}-DDSM-NA-{m1}/1.000000-ROI mask images-{m2}"
            shape = lesion(80 + k, side[0], a - 1)
            mask_ds = mg_dataset(shape.astype(float), patient=roi_case, study=_uid(5, k, a), series=_uid(5, k, a, 1),
                                 sop=_uid(5, k, a, 1, 1), side=None, view=None, bits=8, words=8)
            ys, xs = np.nonzero(shape)
            crop_img = mammogram(80 + k, side[0], view, lesions=n_lesions)[ys.min() - 3:ys.max() + 4,
                                                                             xs.min() - 3:xs.max() + 4]
            crop_ds = mg_dataset(crop_img, patient=roi_case, study=_uid(5, k, a), series=_uid(5, k, a, 2),
                                 sop=_uid(5, k, a, 2, 1), side=None, view=None, bits=16)
            if k % 3 == 2:  # the crop in its own series
                mask = f"CBIS-DDSM/{roi_case}/{roi_series}/1-1.dcm"
                crop_series = f"{date}-DDSM-NA-{m1}/1.000000-cropped images-{m2 + 1}"
                crop = f"CBIS-DDSM/{roi_case}/{crop_series}/1-1.dcm"
                manifest.append(_nbia_row(_uid(5, k, a, 2), roi_case, f"{roi_case}/{crop_series}", "cropped images", 1))
                manifest.append(_nbia_row(_uid(5, k, a, 1), roi_case, f"{roi_case}/{roi_series}", "ROI mask images", 1))
            else:  # mask and crop in one series, in either order
                first, second = (1, 2) if k % 2 else (2, 1)
                mask = f"CBIS-DDSM/{roi_case}/{roi_series}/1-{first}.dcm"
                crop = f"CBIS-DDSM/{roi_case}/{roi_series}/1-{second}.dcm"
                manifest.append(_nbia_row(_uid(5, k, a, 1), roi_case, f"{roi_case}/{roi_series}", "ROI mask images", 2))
            write_dicom(b.root / mask, mask_ds)
            write_dicom(b.root / crop, crop_ds)
            b.mask_files.add(mask)
            masks.append(mask)
            uid = "1.3.6.1.4.1.9590.100.1.2"
            row = {"patient_id": patient, "breast_density" if kind == "Mass" else "breast density": 2 + k % 3,
                   "left or right breast": side, "image view": view, "abnormality id": a,
                   "abnormality type": kind.lower() if kind == "Mass" else "calcification"}
            row.update({"mass shape": "OVAL", "mass margins": "CIRCUMSCRIBED"} if kind == "Mass" else
                       {"calc type": "PLEOMORPHIC", "calc distribution": "CLUSTERED"})
            row.update({"assessment": 4, "pathology": pathology, "subtlety": 3,
                        "image file path": f"{case}/{uid}.{n1}{k}/{uid}.{n2}{k}/000000.dcm",
                        "cropped image file path": f"{roi_case}/{uid}.{m1}{k}/{uid}.{m2}{k}/000000.dcm",
                        "ROI mask file path": f"{roi_case}/{uid}.{m1}{k}/{uid}.{m2}{k}/000001.dcm"
                                              + ("\n" if k == 3 else "")})
            tables.setdefault(f"{kind.lower()}_case_description_{'train' if split == 'Training' else 'test'}_set.csv",
                              []).append(row)
        worst = max(pathologies, key=severity.index)
        b.truth[scan] = (worst, patient, tuple(masks))
        b.splits[scan] = "train" if split == "Training" else "test"
    if missing_case:
        row = dict(tables["mass_case_description_train_set.csv"][0])
        row.update({"patient_id": "P_00099",
                    "image file path": "Mass-Training_P_00099_LEFT_CC/1.3.6.1/1.3.6.2/000000.dcm",
                    "ROI mask file path": "Mass-Training_P_00099_LEFT_CC_1/1.3.6.3/1.3.6.4/000001.dcm",
                    "cropped image file path": "Mass-Training_P_00099_LEFT_CC_1/1.3.6.3/1.3.6.4/000000.dcm"})
        tables["mass_case_description_train_set.csv"].append(row)
    for name, rows in tables.items():
        _write_csv(b.root / name, rows)
    _write_csv(b.root / "metadata.csv", manifest)
    b.expect = {"n_images": 16, "classes": {"BENIGN": 4, "BENIGN_WITHOUT_CALLBACK": 5, "MALIGNANT": 7},
                "n_patients": 9, "splits": {"train": 12, "test": 4}, "n_mask_files": 18,
                "left_out": {**({"no image": 1} if missing_case else {}), "cropped image": 18}}
    return b


def build_cbis_ddsm_kaggle(tmp: Path, *, descriptions: bool = True) -> Built:
    """CBIS-DDSM as the community's JPEG conversion ships it (Kaggle's "CBIS-DDSM: Breast Cancer Image
    Dataset" and the notebooks that read it): ``jpeg/<SeriesInstanceUID>/1-NNN.jpg``, one folder a DICOM
    series (a full mammogram; an abnormality's ROI mask and cropped image in one series), ``csv/`` with the
    four description tables (TCIA's paths, ``<subject>/<StudyUID>/<SeriesUID>/000000.dcm``, never on disk),
    ``csv/dicom_info.csv`` (one row a converted file: ``file_path``, ``image_path``
    ``CBIS-DDSM/jpeg/<uid>/1-NNN.jpg``, ``PatientID``, ``SeriesDescription``, ``SeriesInstanceUID``, ...)
    and ``csv/meta.csv`` (the download's manifest). The cases of :func:`build_cbis_ddsm_tcia`, plus the
    breast ``P_00001 LEFT CC`` filed a second time as a Calc case (the same pixels under another subject).
    Masks are lossy JPEG (their 0/255 blurred at the edges). ``descriptions=False``: ``dicom_info.csv``
    without ``SeriesDescription``, so mask and crop are told apart by their pixels."""
    b = Built(tmp / "cbis-ddsm-breast-cancer-image-dataset")
    uid = "1.3.6.1.4.1.9590.100.1.2"
    cases = CBIS_CASES + (("Calc", "Training", "P_00001", "LEFT", "CC", ("BENIGN",)),)
    tables: dict[str, list[dict]] = {}
    info, meta, n = [], [], 0
    severity = ("BENIGN_WITHOUT_CALLBACK", "BENIGN", "MALIGNANT")

    def jpeg(series: str, array: np.ndarray, subject: str, what: str, study: str) -> str:
        nonlocal n
        n += 1
        rel = f"jpeg/{series}/1-{100 + n}.jpg"
        (b.root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(b.root / rel, quality=75)
        row = {"file_path": f"CBIS-DDSM/dicom/{uid}.{n}.dcm", "image_path": f"CBIS-DDSM/{rel}", "Laterality": "",
               "Modality": "MG", "PatientID": subject, "Rows": array.shape[0], "Columns": array.shape[1],
               "SeriesDescription": what, "SeriesInstanceUID": series, "StudyInstanceUID": study}
        if not descriptions:
            row.pop("SeriesDescription")
        info.append(row)
        return rel

    for k, (kind, split, patient, side, view, pathologies) in enumerate(cases):
        case = f"{kind}-{split}_{patient}_{side}_{view}"
        same = next(j for j, c in enumerate(cases) if c[2:5] == (patient, side, view))  # a breast filed twice
        n1, n2 = 70000 + 137 * k, 20000 + 211 * k
        series, study = f"{uid}.{n2}{k}", f"{uid}.{n1}{k}"
        scan_pixels = np.round(mammogram(80 + same, side[0], view, lesions=len(pathologies)) * 255).astype(np.uint8)
        scan = jpeg(series, scan_pixels, case, "full mammogram images", study)
        meta.append({"SeriesInstanceUID": series, "StudyInstanceUID": study, "PatientID": case,
                     "SeriesDescription": "full mammogram images", "Number of Images": 1})
        masks = []
        for a, pathology in enumerate(pathologies, start=1):
            m1, m2 = 50000 + 97 * k + a, 30000 + 89 * k + a
            roi_series, roi_study = f"{uid}.{m2}{k}", f"{uid}.{m1}{k}"
            shape = lesion(80 + same, side[0], a - 1)
            ys, xs = np.nonzero(shape)
            crop = scan_pixels[ys.min() - 3:ys.max() + 4, xs.min() - 3:xs.max() + 4]
            pair = [(shape.astype(np.uint8) * 255, "ROI mask images"), (crop, "cropped images")]
            for array, what in (pair if k % 2 else pair[::-1]):  # the series' files in either order
                rel = jpeg(roi_series, array, f"{case}_{a}", what, roi_study)
                if what.startswith("ROI"):
                    masks.append(rel)
                    b.mask_files.add(rel)
            row = {"patient_id": patient, "breast_density" if kind == "Mass" else "breast density": 2 + k % 3,
                   "left or right breast": side, "image view": view, "abnormality id": a,
                   "abnormality type": kind.lower() if kind == "Mass" else "calcification",
                   "assessment": 4, "pathology": pathology, "subtlety": 3,
                   "image file path": f"{case}/{study}/{series}/000000.dcm",
                   "cropped image file path": f"{case}_{a}/{roi_study}/{roi_series}/000000.dcm",
                   "ROI mask file path": f"{case}_{a}/{roi_study}/{roi_series}/000001.dcm"}
            tables.setdefault(f"{kind.lower()}_case_description_{'train' if split == 'Training' else 'test'}_set.csv",
                              []).append(row)
        b.truth[scan] = (max(pathologies, key=severity.index), patient, tuple(masks))
        b.splits[scan] = "train" if split == "Training" else "test"
    for name, rows in tables.items():
        _write_csv(b.root / "csv" / name, rows)
    _write_csv(b.root / "csv" / "dicom_info.csv", info)
    _write_csv(b.root / "csv" / "meta.csv", meta)
    b.expect = {"n_images": 17, "n_patients": 9, "splits": {"train": 13, "test": 4}}
    return b


def build_cbis_ddsm_flat(tmp: Path, *, words: str = "upper") -> Built:
    """CBIS-DDSM as flat PNG conversions ship it: every file of TCIA's tree (:func:`build_cbis_ddsm_tcia`)
    converted to an 8-bit PNG in one folder ``images/``, named by its subject folder, with the four
    description tables beside it (TCIA's paths, never on disk). ``words="upper"``: ``<case>_FULL.png``,
    ``<case>_MASK_<n>.png``, ``<case>_CROP_<n>.png`` (the naming of conversion scripts that keep an
    abnormality's number last); ``"lower"``: ``<case>.png``, ``<case>_<n>_mask.png``, ``<case>_<n>_crop.png``
    (the subject folder's name and the kind after it). The same images, labels, patients, splits and masks."""
    import pydicom

    tcia = build_cbis_ddsm_tcia(tmp / "tcia")
    b = Built(tmp / "cbis-ddsm-png")
    renamed = {}
    for f in sorted((tcia.root / "CBIS-DDSM").rglob("*.dcm")):
        rel = f.relative_to(tcia.root).as_posix()
        case = f.relative_to(tcia.root / "CBIS-DDSM").parts[0]
        pixels = pydicom.dcmread(f).pixel_array.astype(float)
        if rel in tcia.truth:
            name = f"{case}_FULL" if words == "upper" else case
        else:
            base, n = case.rsplit("_", 1)
            kind = "MASK" if rel in tcia.mask_files else "CROP"
            name = f"{base}_{kind}_{n}" if words == "upper" else f"{case}_{kind.lower()}"
        renamed[rel] = f"images/{name}.png"
        save(b.root / renamed[rel], np.round(255 * pixels / max(1.0, pixels.max())).astype(np.uint8))
    for table in tcia.root.glob("*_case_description_*.csv"):
        (b.root / table.name).write_bytes(table.read_bytes())
    b.truth = {renamed[k]: (label, patient, tuple(renamed[m] for m in masks))
               for k, (label, patient, masks) in tcia.truth.items()}
    b.mask_files = {renamed[m] for m in tcia.mask_files}
    b.splits = {renamed[k]: v for k, v in tcia.splits.items()}
    b.expect = dict(tcia.expect)
    return b


# ---------------------------------------------------------------------------------------------
# CMMD (TCIA, 2021)
# ---------------------------------------------------------------------------------------------

#: The CMMD breasts built: (patient, side, abnormality, classification, subtype, age).
CMMD_BREASTS = (("D1-0001", "L", "calcification", "Benign", "", 44), ("D1-0002", "R", "mass", "Malignant", "", 51),
                ("D1-0003", "L", "mass", "Benign", "", 39), ("D1-0003", "R", "both", "Malignant", "", 39),
                ("D1-0004", "L", "mass", "Malignant", "", 62), ("D1-0005", "R", "calcification", "Benign", "", 47),
                ("D2-0001", "R", "mass", "Malignant", "Luminal A", 58),
                ("D2-0002", "L", "both", "Malignant", "Luminal B", 45),
                ("D2-0002", "R", "mass", "Malignant", "Luminal B", 45))


def build_cmmd(tmp: Path, *, merged_header: bool = False, png: bool = False, nested: bool = False) -> Built:
    """The Chinese Mammography Database (CMMD), Cui et al., TCIA doi:10.7937/tcia.eqde-4b16 (2021).

    ``CMMD/<ID1>/<date>-NA-NA-NNNNN/1.000000-NA-NNNNN/1-1.dcm`` ... as the NBIA Data Retriever writes it
    (the two views of each breast examined, four files where both breasts were), ``ImageLaterality``
    in each header, NBIA's ``metadata.csv`` at the root and the clinical table
    ``CMMD_clinicaldata_revision.xlsx`` beside it (``ID1, LeftRight, Age, number, abnormality,
    classification, subtype``: one row a patient's breast, ``classification`` Benign / Malignant).
    Two women (D1-0003, D2-0002) have a row per breast; D1-0003's differ. ``merged_header``: the
    table's first row is a title merged over the columns (the header one row down), as a table
    re-saved by hand can be. ``png``: a PNG conversion as people publish one (a flat folder of
    ``CMMD_png/<ID1>_<LeftRight>_<view>.png``, 8-bit, the headers gone, the clinical table beside it, no
    NBIA manifest); with ``nested``, a folder per patient, ``CMMD_png/<ID1>/<LeftRight>_<view>.png``.
    """
    b = Built(tmp / ("cmmd-png" if png else "manifest-1616439774456"))
    rows, manifest, k = [], [], 0
    by_patient: dict[str, list] = {}
    for breast in CMMD_BREASTS:
        by_patient.setdefault(breast[0], []).append(breast)
    for p, (patient, breasts) in enumerate(by_patient.items()):
        study = f"07-{10 + p}-2010-NA-NA-{79377 + p}"
        series = f"1.000000-NA-{70244 + p}"
        n = 0
        for _, side, abnormality, classification, subtype, age in breasts:
            for view in ("CC", "MLO"):
                k, n = k + 1, n + 1
                rel = f"CMMD/{patient}/{study}/{series}/1-{n}.dcm"
                if png:
                    rel = f"CMMD_png/{patient}{'/' if nested else '_'}{side}_{view}.png"
                    save(b.root / rel, np.round(mammogram(120 + k, side, view, lesions=1) * 255).astype(np.uint8))
                    b.truth[rel] = (classification, patient, ())
                    continue
                write_dicom(b.root / rel, mg_dataset(
                    mammogram(120 + k, side, view, lesions=1), patient=patient, study=_uid(6, p), series=_uid(6, p, 1),
                    sop=_uid(6, p, 1, n), side=side, view=view, bits=8, words=8, PatientAge=f"{age:03d}Y"))
                b.truth[rel] = (classification, patient, ())
            rows.append({"ID1": patient, "LeftRight": side, "Age": age, "number": 2, "abnormality": abnormality,
                         "classification": classification, "subtype": subtype})
        manifest.append({**_nbia_row(_uid(6, p, 1), patient, f"{patient}/{study}/{series}", "NA", n),
                         "Collection": "CMMD", "Data Description URI": "https://doi.org/10.7937/tcia.eqde-4b16"})
    table = b.root / "CMMD_clinicaldata_revision.xlsx"
    _write_xlsx(table, rows)
    if merged_header:
        import openpyxl

        book = openpyxl.load_workbook(table)
        sheet = book.active
        sheet.insert_rows(1)
        sheet["A1"] = "CMMD clinical data"
        sheet.merge_cells("A1:G1")
        book.save(table)
    text = [{**r, "File Location": r["File Location"].replace("CBIS-DDSM", "CMMD")} for r in manifest]
    if not png:
        _write_csv(b.root / "metadata.csv", text)
    b.expect = {"n_images": 18, "classes": {"Benign": 6, "Malignant": 12}, "n_patients": 7, "splits": None,
                "left_out": {}}
    return b


# ---------------------------------------------------------------------------------------------
# INbreast
# ---------------------------------------------------------------------------------------------

#: The INbreast images built: (file id, patient hash, side, view, Bi-Rads, ACR, ROIs (name, lesion index)).
INBREAST_IMAGES = ((22678622, "61b13c59bcba149e", "R", "CC", "1", "1", ()),
                   (22678646, "61b13c59bcba149e", "R", "MLO", "1", "1", ()),
                   (22678669, "61b13c59bcba149e", "L", "CC", "2", "1", (("Calcification", 0),)),
                   (22678694, "61b13c59bcba149e", "L", "MLO", "2", "1", ()),
                   (20587054, "b6a4f750c6df4f90", "R", "CC", "4c", "2", (("Mass", 0),)),
                   (20587080, "b6a4f750c6df4f90", "R", "MLO", "4c", "2", (("Mass", 0), ("Cluster", 1))),
                   (20587148, "b6a4f750c6df4f90", "L", "CC", "1", "2", ()),
                   (20587174, "b6a4f750c6df4f90", "L", "MLO", "1", "2", ()),
                   (24065530, "d571b4b3b6e0a5f1", "L", "CC", "5", "3", (("Spiculated Region", 0),)),
                   (24065584, "d571b4b3b6e0a5f1", "L", "MLO", "5", "3", (("Mass", 0),)),
                   (50997304, "3e1e8b4e2ad0f9b7", "R", "CC", "3", "4", (("Mass", 0),)),
                   (50997332, "3e1e8b4e2ad0f9b7", "R", "MLO", "3", "4", ()),
                   (50997358, "3e1e8b4e2ad0f9b7", "L", "CC", "2", "4", ()),
                   (50997386, "3e1e8b4e2ad0f9b7", "L", "MLO", "2", "4", ()),
                   (53586388, "a1b2c3d4e5f60718", "R", "CC", "5", "2", (("Mass", 0),)),
                   (53586416, "a1b2c3d4e5f60718", "R", "MLO", "5", "2", ()),
                   (53586442, "a1b2c3d4e5f60718", "L", "CC", "3", "2", ()),
                   (53586470, "a1b2c3d4e5f60718", "L", "MLO", "3", "2", ()),
                   (51049107, "0f1e2d3c4b5a6978", "L", "CC", "4c", "3", ()),
                   (51049135, "0f1e2d3c4b5a6978", "L", "MLO", "4c", "3", (("Mass", 0),)),
                   (51049161, "0f1e2d3c4b5a6978", "R", "CC", "2", "3", ()),
                   (51049189, "0f1e2d3c4b5a6978", "R", "MLO", "2", "3", ()))


def _inbreast_xml(k: int, side: str, rois) -> bytes:
    """The plist ``AllXML/<id>.xml`` holds (OsiriX's ROI export): ``Images`` -> ``ROIs``, each with
    ``Name``, ``NumberOfPoints`` and ``Point_px`` strings ``"(x, y)"`` (a calcification: one point)."""
    from skimage.measure import find_contours

    out = []
    for n, (name, index) in enumerate(rois):
        if name == "Calcification":
            points = [(30.0 + k % 5, 50.0)]
        else:
            contour = find_contours(lesion(k, side, index).astype(float), 0.5)[0]
            points = [(float(x), float(y)) for y, x in contour[::2]]
        out.append({"Area": 10.0, "Center": "(0, 0, 0)", "Dev": 0.0, "IndexInImage": n, "Max": 1.0, "Mean": 1.0,
                    "Min": 0.0, "Name": name, "NumberOfPoints": len(points),
                    "Point_mm": [f"({x * 0.07:.4f}, {y * 0.07:.4f}, 0)" for x, y in points],
                    "Point_px": [f"({x:.4f}, {y:.4f})" for x, y in points], "Total": 1.0,
                    "Type": 15 if len(points) > 1 else 19})
    return plistlib.dumps({"Images": [{"ImageIndex": 0, "NumberOfROIs": len(out), "ROIs": out}]})


def build_inbreast(tmp: Path, *, png: bool = False) -> Built:
    """INbreast, Moreira et al., Academic Radiology 19(2):236-248 (2012), release 1.0.

    ``AllDICOMs/<file id>_<patient hash>_MG_<R|L>_<CC|ML>_ANON.dcm`` (the second token is the woman's
    anonymised id), ``INbreast.csv`` (``;``-separated, as the release's ``INbreast.xls`` saved as text:
    ``Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads``, the patient and
    age cells ``removed``, ``File Name`` the file's first token, ``Bi-Rads`` 1 .. 6 with 4a / 4b / 4c)
    and ``AllXML/<file id>.xml`` (OsiriX plists: each ROI's outline in ``Point_px``). An image's mask is
    the union of its outlined ROIs (three points or more: a calcification's single point draws nothing).
    The release's MLO view is spelt ``ML`` in file names and ``MLO`` in the table. ``png``: as the
    community's PNG conversions ship it, ``AllPNGs/<the same name>.png``, 8-bit, half size (its outlines,
    in the DICOM's pixels, no longer fit: no mask).
    """
    b = Built(tmp / ("INbreast PNG" if png else "INbreast Release 1.0"))
    rows = []
    for k, (fid, hash_, side, view, birads, acr, rois) in enumerate(INBREAST_IMAGES):
        name = f"{fid}_{hash_}_MG_{side}_{'ML' if view == 'MLO' else view}_ANON.{'png' if png else 'dcm'}"
        rel = f"{'AllPNGs' if png else 'AllDICOMs'}/{name}"
        if png:
            save(b.root / rel, np.round(mammogram(160 + k, side, view, lesions=len(rois))[::2, ::2] * 255
                                        ).astype(np.uint8))
        else:
            write_dicom(b.root / rel, mg_dataset(mammogram(160 + k, side, view, lesions=len(rois)), patient=hash_,
                                                 study=_uid(7, fid), series=_uid(7, fid, 1), sop=_uid(7, fid, 1, 1),
                                                 side=side, view=view, bits=14))
        if rois:
            (b.root / "AllXML").mkdir(parents=True, exist_ok=True)
            (b.root / "AllXML" / f"{fid}.xml").write_bytes(_inbreast_xml(160 + k, side, rois))
            drawn = np.zeros(FRAME, bool)
            for roi, index in rois:
                if roi != "Calcification":
                    drawn |= lesion(160 + k, side, index)
            if drawn.any() and not png:
                b.drawn[rel] = drawn
        b.truth[rel] = (f"BI-RADS {birads}", hash_, ())
        rows.append({"Patient ID": "removed", "Patient age": "removed", "Laterality": side, "View": view,
                     "Acquisition date": "201001", "File Name": fid, "ACR": acr, "Bi-Rads": birads})
    _write_csv(b.root / "INbreast.csv", rows, sep=";")
    (b.root / "README.txt").write_text("INbreast release 1.0. See Moreira et al., Acad Radiol 2012.\n")
    b.expect = {"n_images": 22, "classes": {"BI-RADS 1": 4, "BI-RADS 2": 6, "BI-RADS 3": 4, "BI-RADS 4c": 4,
                                            "BI-RADS 5": 4},
                "n_patients": 6, "splits": None, "n_masks_paired": 7, "left_out": {}}
    return b


# ---------------------------------------------------------------------------------------------
# A PACS export's table of several DICOM key columns
# ---------------------------------------------------------------------------------------------

def build_pacs_uid_table(tmp: Path) -> Built:
    """A PACS export (``PATIENTID/STUDYUID/SERIESUID/IM0001.dcm``) whose ``labels.csv`` carries
    ``PatientID``, ``StudyInstanceUID`` and ``SOPInstanceUID`` (the columns a PACS query exports), one
    row an image, and the images of one woman labelled differently (a benign and a malignant
    finding): only ``SOPInstanceUID`` makes a row unique, so it is the key."""
    b = Built(tmp / "pacs_query")
    rows = []
    for n, inst in enumerate(_pacs_studies(760)):
        relative = f"{inst['patient']}/{inst['study']}/{inst['series']}/IM{n + 1:04d}.dcm"
        write_dicom(b.root / relative, dicom_dataset(inst["k"], patient=inst["patient"], study=inst["study"],
                                                     series=inst["series"], sop=inst["sop"], modality="MG"))
        label = "benign" if n == 1 else inst["label"]
        b.truth[relative] = (label, inst["patient"], ())
        rows.append({"PatientID": inst["patient"], "StudyInstanceUID": inst["study"], "SOPInstanceUID": inst["sop"],
                     "Pathology": label})
    _write_csv(b.root / "labels.csv", rows)
    b.expect = {"n_images": 7, "classes": {"benign": 5, "malignant": 2}, "n_patients": 3, "splits": None,
                "left_out": {}, "image_column": "SOPInstanceUID"}
    return b


#: The screening-mammography releases: name -> builder (``builder(tmp_path) -> Built``).
MAMMO_LAYOUTS: dict[str, Callable[[Path], Built]] = {
    "rsna-screening": build_rsna,
    "vindr-mammo": build_vindr,
    "cbis-ddsm-tcia": build_cbis_ddsm_tcia,
    "cmmd": build_cmmd,
    "inbreast": build_inbreast,
}
