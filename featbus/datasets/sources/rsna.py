"""RSNA Screening Mammography Breast Cancer Detection (Kaggle, 2022) as a release's source
(:mod:`featbus.datasets.sources`): ``train_images/<patient_id>/<image_id>.dcm`` named by ``train.csv``
(``site_id, patient_id, image_id, laterality, view, age, cancer, biopsy, invasive, BIRADS, implant,
density, machine_id, difficult_negative_case``), ``test_images/`` named by ``test.csv`` (no label: the
competition's hidden test split) and ``sample_submission.csv`` (the form of the answers).

``cancer`` is a breast's label (the same on each of its views): 1 reads as ``cancer``, 0 as
``no cancer``; a breast whose views disagree is left out, named. The patient is ``patient_id``
(both breasts of one woman, one group); ``BIRADS`` and ``density`` stay in each image's row.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from .._release_join import join
from ._base import Entry, SourceRead
from ._screening import found_rows, has_columns, row_dict, side_view, table

__all__ = ["NAME", "read", "recognise"]

NAME = "RSNA Screening Mammography tables"
#: Its files are tables read by :func:`.table.read_at`: read inside a zip or tar too.
IN_ARCHIVES = True
#: The columns that make a table RSNA's: its key (``patient_id`` + ``image_id``) and the breast's side and view.
KEY = ("patient_id", "image_id", "laterality", "view")
#: What ``cancer``'s cells read as.
CANCER = {"1": "cancer", "0": "no cancer", "1.0": "cancer", "0.0": "no cancer"}


def recognise(files: list[Path], root: Path) -> list[Path]:
    """``train.csv`` and ``test.csv`` with RSNA's key columns, and ``sample_submission.csv`` beside them."""
    mine = [f for f in files if f.name.casefold() in ("train.csv", "test.csv") and has_columns(root, f, KEY)]
    folders = {f.parent for f in mine}
    return mine + [f for f in files if f.name.casefold() == "sample_submission.csv" and f.parent in folders
                   and has_columns(root, f, ("prediction_id", "cancer"))]


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal") -> SourceRead:
    """The images ``train.csv`` (labelled) or ``test.csv`` (unlabelled, split ``test``) names, joined
    to the files by ``patient_id`` + ``image_id`` (:func:`~featbus.datasets._release_join.join`: the
    DICOM originals, or a PNG / JPEG conversion, nested by patient or flat)."""
    if file.name.casefold() == "sample_submission.csv":
        return SourceRead(file, not_used="the competition's answer form (prediction_id = patient_id + laterality, a "
                                         "'cancer' to fill in): no labels")
    got = SourceRead(file, claims_images=True, patient_source="column", patient_detail="patient_id")
    test = file.name.casefold() == "test.csv"
    split = "test" if test else "train"
    header, rows, cols = table(root, file, KEY + (() if test else ("cancer",)))
    c_patient, c_image, c_side, c_view = cols[:4]
    c_cancer = None if test else cols[4]
    joined = join([[row[c_patient], row[c_image]] for _, row in rows], images or (), ("patient_id", "image_id"),
                  under=file.parent, publisher=(f"{split}_images/p/i.*", ("p", "i"), "/"))
    got.key = joined.words.replace(f"({split}_images/", "(<split>_images/")
    folder = PurePosixPath(joined.expected(["p", "i"])).parent
    folder = folder.parent if joined.separator == "/" else folder
    breasts: dict[tuple[str, str], set] = {}
    for line, row, rel in found_rows(got, file, rows, joined, (c_patient, c_image)):
        patient = row[c_patient].strip()
        label = None if test else CANCER.get(row[c_cancer].strip())
        if not test and label is None:
            got.out(rel.as_posix(), "bad annotation", f"row {line} of {file.as_posix()}: "
                    f"'cancer' is {row[c_cancer]!r}, neither 0 nor 1")
            continue
        meta = side_view(row, c_side, c_view)
        breasts.setdefault((patient, meta["laterality"]), set()).add(label)
        got.entries.append(Entry(rel, label, patient=patient, split=split, row=row_dict(header, line, row), meta=meta))
    torn = {b for b, labels in breasts.items() if len(labels) > 1}
    for e in [e for e in got.entries if (e.patient, e.meta["laterality"]) in torn]:
        got.out(e.image.as_posix(), "two labels", f"the views of breast {e.patient} "
                f"{e.meta['laterality']} disagree on 'cancer' in {file.as_posix()}")
    got.entries = [e for e in got.entries if (e.patient, e.meta["laterality"]) not in torn]
    if test:
        got.class_source = "no labels in {file}: the competition's hidden test split"
        got.notes.append(f"{len(got.entries)} image(s) of {folder.as_posix()}/ are the competition's test split, "
                         f"published without labels ({file.as_posix()}): read unlabelled, split 'test'.")
    else:
        got.class_source = ("the 'cancer' column of {file}, 1 read as 'cancer' and 0 as 'no cancer': a breast's "
                            "label, given to each of its views (patient_id + laterality)")
    return got
