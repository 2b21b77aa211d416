"""CBIS-DDSM as its Kaggle JPEG conversion ships it (issue 101 item 2): the description tables' series
joined to ``jpeg/<SeriesInstanceUID>/`` through ``dicom_info.csv``; full mammograms the images, ROI masks
paired (told from the crops by ``SeriesDescription``, else by their lossy pixels), crops left out, splits
and patients from the tables, a breast filed both as a Mass and as a Calc case said."""

from __future__ import annotations

from pathlib import Path

import pytest
from _mammo_builders import build_cbis_ddsm_kaggle

from featbus.datasets import read_release


@pytest.mark.parametrize("descriptions", [True, False])
def test_the_kaggle_jpeg_conversion_reads_whole(tmp_path, descriptions):
    built = build_cbis_ddsm_kaggle(tmp_path, descriptions=descriptions)
    rel = read_release(built.root)
    s = rel.summary
    got = {Path(p).relative_to(built.root).as_posix(): (label, group, tuple(Path(m).relative_to(built.root).as_posix()
                                                                              for m in masks))
           for p, label, group, masks in zip(rel.images, rel.labels, rel.groups, rel.masks)}
    assert {k: (v[0], v[1], tuple(sorted(v[2]))) for k, v in got.items()} == \
        {k: (label, patient, tuple(sorted(masks))) for k, (label, patient, masks) in built.truth.items()}
    assert s.n_images == 17 and s.n_patients == 9 and s.splits == {"train": 13, "test": 4}
    assert s.classes == {"BENIGN": 5, "BENIGN_WITHOUT_CALLBACK": 5, "MALIGNANT": 7}
    assert s.n_mask_files == 19
    reasons = {x.reason for x in s.left_out}
    assert reasons == {"cropped image"} and sum(x.reason == "cropped image" for x in s.left_out) == 19
    text = s.text()
    assert "filed both as a Mass and as a Calc case (e.g. P_00001 LEFT CC)" in text
    assert "csv/meta.csv (the download's manifest (one row a series): no labels; not read)" in text
    assert "through csv/dicom_info.csv's image_path" in text


def test_a_series_missing_from_the_conversion_names_its_row(tmp_path):
    built = build_cbis_ddsm_kaggle(tmp_path)
    scan = sorted(built.truth)[0]
    (built.root / scan).unlink()
    s = read_release(built.root).summary
    rows = [x for x in s.left_out if x.reason == "no image"]
    assert len(rows) >= 1 and all(x.item.startswith("row ") for x in rows)
    assert "of its 'image file path' is no file of dicom_info.csv's image_path on disk" in rows[0].detail
    assert s.n_images == 16


def test_a_breast_view_of_mixed_pathologies_takes_the_most_severe_said(tmp_path):
    """As TCIA's tree reads: Calc P_00007 LEFT CC has a BENIGN and a BENIGN_WITHOUT_CALLBACK abnormality; its
    mammogram is BENIGN and the paragraph says one image took the most severe."""
    built = build_cbis_ddsm_kaggle(tmp_path)
    rel = read_release(built.root)
    labels = {Path(p).relative_to(built.root).as_posix(): label for p, label in zip(rel.images, rel.labels)}
    mixed = [scan for scan in built.truth
             if any(r["image file path"].startswith("Calc-Training_P_00007_LEFT_CC/") and scan.split("/")[1] in
                    r["image file path"] for r in _rows(built.root / "csv" / "calc_case_description_train_set.csv"))]
    assert len(mixed) == 1 and labels[mixed[0]] == "BENIGN"
    assert ("1 image(s) of csv/calc_case_description_train_set.csv with abnormalities of different pathology take "
            "the most severe (MALIGNANT > BENIGN > BENIGN_WITHOUT_CALLBACK).") in rel.summary.notes
    assert not any("different pathology" in n and "mass_case" in n for n in rel.summary.notes)


def _rows(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_each_table_is_parsed_once_per_read(tmp_path, monkeypatch):
    """One read parses each of the conversion's tables once (``tables_read_once``), where the source's
    ``recognise`` and ``read`` and each case table's series lookup parsed ``dicom_info.csv`` four times; the
    release read is the same whole one."""
    from collections import Counter

    from featbus.datasets import _release_tables

    parsed, parse = Counter(), _release_tables._parse
    monkeypatch.setattr(_release_tables, "_parse", lambda path, *a: parsed.update([Path(path).name]) or parse(path, *a))
    built = build_cbis_ddsm_kaggle(tmp_path)
    rel = read_release(built.root)
    assert parsed and set(parsed.values()) == {1}, parsed
    assert "dicom_info.csv" in parsed and sum(name.endswith("_set.csv") for name in parsed) == 4
    assert len(rel.images) == len(built.truth)
    read_release(built.root)  # a second read parses again (nothing kept between reads)
    assert set(parsed.values()) == {2}


@pytest.mark.parametrize("words", ["upper", "lower"])
def test_a_flat_png_conversion_named_by_case_reads_whole(tmp_path, words):
    """Every file of TCIA's tree as one flat PNG named by its subject folder (``<case>_FULL``, ``<case>_MASK_1``,
    ``<case>_CROP_1``; or ``<case>``, ``<case>_1_mask``, ``<case>_1_crop``): the same 16 mammograms, labels,
    patients, splits and 18 masks as the DICOM original; the masks and crops are an abnormality's files, never
    scans (the first naming read 52 'images', every mask and crop labelled)."""
    from _mammo_builders import build_cbis_ddsm_flat

    built = build_cbis_ddsm_flat(tmp_path, words=words)
    rel = read_release(built.root)
    s = rel.summary
    got = {Path(p).relative_to(built.root).as_posix(): (label, group, tuple(sorted(
        Path(m).relative_to(built.root).as_posix() for m in masks)))
        for p, label, group, masks in zip(rel.images, rel.labels, rel.groups, rel.masks)}
    assert got == {k: (label, patient, tuple(sorted(masks))) for k, (label, patient, masks) in built.truth.items()}
    assert s.n_images == 16 and s.n_patients == 9 and s.splits == {"train": 12, "test": 4}
    assert s.classes == {"BENIGN": 4, "BENIGN_WITHOUT_CALLBACK": 5, "MALIGNANT": 7} and s.n_mask_files == 18
    assert {x.reason for x in s.left_out} == {"cropped image"} and len(s.left_out) == 18
    assert all("_crop" in x.item.lower() for x in s.left_out)
    text = s.text()  # no case folders: the paragraph says the files are named by their case
    assert "joined by the case (the first part of 'image file path'; its UID folders are not on disk) in each file " \
        "name" in text and "the ROI mask named by each abnormality (<case>_<n> in its name)" in text


def test_the_kaggle_download_zip_names_its_tables_to_unpack(tmp_path):
    """The Kaggle conversion as downloaded, ``archive.zip``: its case descriptions and ``dicom_info.csv`` are
    read by a source that opens the files it joins (pixels tell masks from crops), so inside a zip they are
    named, one by one, to be unpacked; they were read as plain tables ('names 0 images', ``dicom_info.csv``'s
    ``PatientID`` taken for the patients) without a word that the labels were there."""
    from _format_builders import zip_folder

    built = build_cbis_ddsm_kaggle(tmp_path / "src")
    s = read_release(zip_folder(built.root, tmp_path / "archive.zip")).summary
    unpack = {x.item.split("!", 1)[1] for x in s.left_out if "CBIS-DDSM case descriptions" in x.detail
              and "unpack the archive to use it" in x.detail}
    assert unpack == {f"csv/{n}" for n in ("calc_case_description_test_set.csv", "calc_case_description_train_set.csv",
                                           "mass_case_description_test_set.csv", "mass_case_description_train_set.csv",
                                           "dicom_info.csv", "meta.csv")}
    assert s.table is None and s.classes == {}
