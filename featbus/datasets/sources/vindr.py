"""VinDr-Mammo (PhysioNet, 2022) as a release's source (:mod:`featbus.datasets.sources`):
``images/<study_id>/<image_id>.dicom`` labelled by ``breast-level_annotations.csv`` (``study_id,
series_id, image_id, laterality, view_position, height, width, breast_birads, breast_density,
split``), one row an image.

The label is ``breast_birads`` as written (``BI-RADS 1`` .. ``BI-RADS 5``: graded classes, a breast's
assessment on each of its views), the split ``split`` (``training`` / ``test``), the patient the study
(the release names no woman; one study is one woman's exam). ``breast_density`` (``DENSITY A`` ..
``D``) stays in each image's row and ``meta``. ``finding_annotations.csv`` (a row a finding, with its
box) and the DICOM-header table ``metadata.csv`` beside it are said, never taken as the labels.
"""

from __future__ import annotations

from pathlib import Path

from .._release_join import join
from .._release_rules import column_key
from ._base import Entry, SourceRead
from ._screening import columns, found_rows, has_columns, header_row, row_dict, side_view, table

__all__ = ["NAME", "read", "recognise"]

NAME = "VinDr-Mammo annotations"
#: Its files are tables read by :func:`.table.read_at`: read inside a zip or tar too.
IN_ARCHIVES = True
#: ``breast-level_annotations.csv``'s key and label columns.
KEY = ("study_id", "image_id", "laterality", "view_position", "breast_birads")
#: The columns of ``finding_annotations.csv`` that tell it from the breast-level table: a box per finding.
FINDING = ("finding_categories", "xmin", "ymin", "xmax", "ymax")


def recognise(files: list[Path], root: Path) -> list[Path]:
    """The breast-level table (its key and ``breast_birads``), the findings table and the
    ``metadata.csv`` beside it."""
    heads = {f: columns(header_row(root, f)) for f in files if f.suffix.lower() == ".csv"}  # each read once
    mine = [f for f, head in heads.items() if head >= {column_key(c) for c in KEY}]
    folders = {f.parent for f in mine}
    return mine + [f for f, head in heads.items() if f.parent in folders and f.name.casefold() == "metadata.csv"
                   and column_key("SOP Instance UID") in head]


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal") -> SourceRead:
    """The images the breast-level table names, each with its breast's BI-RADS; the findings table
    and ``metadata.csv`` said, not read."""
    if file.name.casefold() == "metadata.csv":
        return SourceRead(file, not_used="the images' DICOM header fields (SOP Instance UID, age, manufacturer): no "
                                         "labels")
    if has_columns(root, file, FINDING):
        return SourceRead(file, not_used="one row a finding with its box (finding_categories, finding_birads, xmin .. "
                                         "ymax): the findings, not the label table")
    got = SourceRead(file, claims_images=True, patient_source="column",
                     patient_detail="study_id (VinDr-Mammo names no woman: one study is one woman's exam)")
    header, rows, (c_study, c_image, c_side, c_view, c_birads, c_split, c_density) = table(
        root, file, KEY, ("split", "breast_density"))
    joined = join([[row[c_study], row[c_image]] for _, row in rows], images or (), ("study_id", "image_id"),
                  under=file.parent, publisher=("images/s/i.*", ("s", "i"), "/"))
    got.key = joined.words
    for line, row, rel in found_rows(got, file, rows, joined, (c_study, c_image)):
        meta = side_view(row, c_side, c_view) | ({"density": row[c_density].strip()} if c_density is not None else {})
        got.entries.append(Entry(rel, row[c_birads].strip() or None, patient=row[c_study].strip(),
                                 split=row[c_split].strip() if c_split is not None else None,
                                 row=row_dict(header, line, row), meta=meta))
    got.class_source = ("the 'breast_birads' column of {file} (BI-RADS 1-5, graded classes as written: a breast's "
                        "assessment, given to each of its views; 'breast_density' kept with each row)")
    return got
