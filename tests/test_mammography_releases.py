"""The five screening-mammography releases read whole with no option (issue 95 items 1-3, 6, 7):
counts, classes, patients, masks and splits of each release as its publisher ships it
(``_mammo_builders.py``), download manifests said and never read as labels, keys of more than one
column, graded labels taken as classes, bad input named in one line, and the mammogram pipeline
(read, extract, train, evaluate) on each release."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")

from _mammo_builders import (  # noqa: E402 - after the skip: the builders write DICOM
    MAMMO_LAYOUTS,
    build_cbis_ddsm_tcia,
    build_cmmd,
    build_inbreast,
    build_pacs_uid_table,
    build_rsna,
    build_vindr,
)

from featbus.datasets import read_release  # noqa: E402
from featbus.datasets._common import plausible_typo  # noqa: E402
from featbus.datasets.release import ReleaseError  # noqa: E402


def _relative(rel, path) -> str:
    return Path(path).relative_to(rel.root).as_posix()


def _partition(names, keys) -> set[frozenset]:
    """The images grouped by key: two readings agree when they group the same images."""
    out: dict = {}
    for name, key in zip(names, keys):
        out.setdefault(key, set()).add(name)
    return {frozenset(v) for v in out.values()}


@pytest.mark.parametrize("name", sorted(MAMMO_LAYOUTS))
def test_release_read_whole_with_no_option(name, tmp_path):
    built = MAMMO_LAYOUTS[name](tmp_path)
    rel = read_release(built.root)
    s = rel.summary
    names = [_relative(rel, p) for p in rel.images]
    assert s.n_images == built.expect["n_images"] == len(built.truth)
    assert set(names) == set(built.truth)
    assert s.classes == built.expect["classes"]
    assert {n: label for n, label in zip(names, rel.labels)} == {n: t[0] for n, t in built.truth.items()}
    assert s.n_patients == built.expect["n_patients"]
    assert _partition(names, rel.groups) == _partition(list(built.truth), [t[1] for t in built.truth.values()])
    files = {n: {_relative(rel, m) for m in ms if isinstance(m, Path)} for n, ms in zip(names, rel.masks)}
    assert files == {n: set(t[2]) for n, t in built.truth.items()}
    if built.expect["splits"]:
        assert s.splits == built.expect["splits"]
        assert dict(zip(names, rel.splits)) == built.splits
    else:
        assert rel.splits is None
    assert s.left_out_counts() == built.expect["left_out"]
    # every view of a breast in one patient group (so one fold), both breasts of a woman too
    assert all(len({g for n, g in zip(names, rel.groups) if built.truth[n][1] == p}) == 1
               for p in {t[1] for t in built.truth.values()})
    assert all(m.get("laterality") in ("L", "R") for m in rel.meta)


def test_rsna_cancer_read_as_words_breast_level_and_test_split_unlabelled(tmp_path):
    built = build_rsna(tmp_path)
    rel = read_release(built.root)
    s = rel.summary
    assert "1 read as 'cancer' and 0 as 'no cancer'" in s.class_source
    assert "given to each of its views" in s.class_source
    breasts: dict = {}
    for label, meta, row in zip(rel.labels, rel.meta, rel.rows):
        breasts.setdefault((row["patient_id"], meta["laterality"]), set()).add(label)
    assert all(len(labels) == 1 for labels in breasts.values())
    test = [n for n, sp in zip(rel.images, rel.splits) if sp == "test"]
    assert len(test) == built.expect["unlabelled"] == sum(label is None for label in rel.labels)
    assert all("test_images" in str(p) for p in test)
    assert any("published without labels" in n for n in s.notes)
    assert not any(r.reason == "no row" for r in s.left_out)
    assert any(c.startswith("sample_submission.csv (the competition's answer form") for c in s.table_candidates)
    assert "patient_id + image_id" in s.text()


def test_vindr_breast_level_table_labels_findings_table_never(tmp_path):
    built = build_vindr(tmp_path)
    rel = read_release(built.root)
    s = rel.summary
    assert s.source.startswith("images listed by breast-level_annotations.csv")
    assert any(c.startswith("finding_annotations.csv (one row a finding") for c in s.table_candidates)
    assert any(c.startswith("SHA256SUMS.txt (a download manifest") for c in s.table_candidates)
    assert {"BI-RADS 4", "BI-RADS 5"} <= set(s.classes)  # graded classes, never a misspelling
    assert {m["density"] for m in rel.meta} == {"DENSITY A", "DENSITY B", "DENSITY C", "DENSITY D"}
    assert "study_id + image_id" in s.text()


def test_cbis_masks_told_from_crops_by_content_and_paired_to_the_scan(tmp_path):
    import pydicom

    built = build_cbis_ddsm_tcia(tmp_path)
    rel = read_release(built.root)
    masks = [m for ms in rel.masks for m in ms]
    assert len(masks) == built.expect["n_mask_files"]
    # the builder puts the mask first in some series folders and second in others: content decides
    assert {Path(m).name for m in masks} >= {"1-1.dcm", "1-2.dcm"}
    for image, ms in zip(rel.images, rel.masks):
        shape = pydicom.dcmread(image).pixel_array.shape
        for m in ms:
            pixels = pydicom.dcmread(m).pixel_array
            assert pixels.shape == shape and set(np.unique(pixels)) <= {0, 255}
    crops = [r for r in rel.summary.left_out if r.reason == "cropped image"]
    assert len(crops) == built.expect["n_mask_files"] and all("cropped image" in r.detail for r in crops)
    assert not {r.item for r in crops} & {_relative(rel, p) for p in rel.images}
    assert any(c.startswith("metadata.csv (a download manifest") for c in rel.summary.table_candidates)
    assert any("take the most severe" in n for n in rel.summary.notes)


def test_cbis_download_without_its_description_tables_reads_by_the_case_folders(tmp_path):
    """TCIA's download alone (the four tables are a separate download): 52 'images' with every ROI mask and crop
    counted as a scan and the case folders as 34 patients. Read by NBIA's metadata.csv of the collection and the
    case folders' names: the same scans, masks, crops left out, women and splits as with the tables, unlabelled
    and said; training refuses."""
    built = build_cbis_ddsm_tcia(tmp_path)
    with_tables = read_release(built.root)
    for table in built.root.glob("*_case_description_*_set.csv"):
        table.unlink()
    rel = read_release(built.root)
    s, t = rel.summary, with_tables.summary
    assert (s.n_images, s.n_mask_files, s.n_patients, s.splits) == (t.n_images, t.n_mask_files, t.n_patients, t.splits)
    assert sorted(map(str, rel.images)) == sorted(map(str, with_tables.images))
    assert sorted(map(str, (m for ms in rel.masks for m in ms))) == sorted(map(str, (m for ms in with_tables.masks
                                                                                       for m in ms)))
    assert s.left_out_counts() == {"cropped image": built.expect["n_mask_files"]} and s.classes == {}
    assert rel.groups == [g.strip() for g in rel.groups] and set(rel.groups) == set(with_tables.groups)
    assert any("description tables" in n and "not beside the images" in n for n in s.notes)
    with pytest.raises(ReleaseError, match="nothing labels the images"):
        read_release(built.root, require_labels=True)


def test_cbis_row_whose_case_folder_is_missing_named(tmp_path):
    built = build_cbis_ddsm_tcia(tmp_path, missing_case=True)
    rel = read_release(built.root)
    (gone,) = [r for r in rel.summary.left_out if r.reason == "no image"]
    assert gone.item.endswith("of mass_case_description_train_set.csv")
    assert "case folder 'Mass-Training_P_00099_LEFT_CC' not found" in gone.detail
    assert rel.summary.n_images == built.expect["n_images"]


def test_cmmd_keyed_by_patient_and_image_laterality(tmp_path):
    built = build_cmmd(tmp_path)
    rel = read_release(built.root)
    s = rel.summary
    by_side = {(g, m["laterality"]): label for g, m, label in zip(rel.groups, rel.meta, rel.labels)}
    assert by_side[("D1-0003", "L")] == "Benign" and by_side[("D1-0003", "R")] == "Malignant"
    assert "ID1 + LeftRight" in s.text() and "ImageLaterality" in s.text()
    assert any(c.startswith("metadata.csv (a download manifest") for c in s.table_candidates)
    assert s.source.startswith("images listed by CMMD_clinicaldata_revision.xlsx")


def test_cmmd_table_with_merged_header_cells_named_in_one_line(tmp_path):
    built = build_cmmd(tmp_path, merged_header=True)
    with pytest.raises(ReleaseError, match=r"CMMD_clinicaldata_revision\.xlsx'?: its header row has merged cells "
                                           r"\(A1:G1\)"):
        read_release(built.root)
    out = subprocess.run([sys.executable, "-m", "featbus", "read", str(built.root)], capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "merged cells" in out.stderr


def test_inbreast_xml_outlines_drawn_as_masks(tmp_path):
    built = build_inbreast(tmp_path)
    rel = read_release(built.root)
    drawn = {_relative(rel, p): ms for p, ms in zip(rel.images, rel.masks) if ms}
    assert set(drawn) == set(built.drawn)
    for name, (mask,) in drawn.items():
        got, want = mask.render(), built.drawn[name]
        # the outline is the lesion's contour at half a pixel, drawn again: its edge pixels may differ
        assert (got & want).sum() / (got | want).sum() >= 0.7
    assert any("draw no mask" in n for n in rel.summary.notes)
    assert {m["view"] for m in rel.meta} == {"CC", "MLO"}


def test_pacs_table_keyed_by_the_field_that_makes_a_row_unique(tmp_path):
    built = build_pacs_uid_table(tmp_path)
    rel = read_release(built.root)
    s = rel.summary
    assert s.image_column == built.expect["image_column"]
    assert s.left_out_counts() == {}
    assert s.classes == built.expect["classes"]
    names = [_relative(rel, p) for p in rel.images]
    assert dict(zip(names, rel.labels)) == {n: t[0] for n, t in built.truth.items()}


def test_graded_labels_are_classes_not_misspellings():
    assert not plausible_typo("BI-RADS 5", "BI-RADS 4")
    assert not plausible_typo("DENSITY A", "DENSITY B")
    assert not plausible_typo("BI-RADS 4a", "BI-RADS 4b")
    assert plausible_typo("BI-RADS 4", "BI-RAD 4")  # a letter lost is still a misspelling


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MAMMO_LAYOUTS))
def test_mammogram_pipeline_on_each_release(name, tmp_path):
    """``featbus extract`` with the mammogram preprocessing, ``train`` and ``evaluate`` on each
    release as shipped, with no option naming its table or columns."""
    built = MAMMO_LAYOUTS[name](tmp_path / "data")

    def run(*args):
        out = subprocess.run([sys.executable, "-m", "featbus", *map(str, args)], capture_output=True, text=True,
                             cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return out.stderr + out.stdout

    features = tmp_path / "f.csv"
    said = run("extract", built.root, "-f", "intensity,hog,lbp", "--preprocess",
               "breast-mask,pectoral,flip,crop-breast", "-o", features)
    assert f"wrote {len(built.truth)} images" in said
    run("train", built.root, "-f", "intensity,hog,lbp", "-c", "svm", "-o", tmp_path / "m.featbus")
    assert (tmp_path / "m.featbus").is_file()
    # two patient-grouped folds: the small synthetic releases hold two or three women a class
    run("evaluate", built.root, "-f", "intensity,hog,lbp", "--classifiers", "svm", "--n-splits", "2", "--no-images",
        "--report", tmp_path / "report")


def test_an_inbreast_index_keeps_its_drawn_outlines(tmp_path, monkeypatch):
    """``Release.write_index`` of INbreast names each outline ``AllXML/<id>.xml#<width>x<height>`` relative to the
    index (it was resolved against the working directory: ``../../AllXML/...``, every mask then "not found"), and
    the index read back draws the same masks, pixel for pixel."""
    built = build_inbreast(tmp_path / "rel")
    monkeypatch.chdir(tmp_path)  # the working directory is not the release's
    rel = read_release(built.root)
    index = tmp_path / "idx" / "index.csv"
    index.parent.mkdir()
    rel.write_index(index)
    back = read_release(index)
    assert not back.summary.left_out and len(back.images) == len(rel.images)
    drawn = {Path(i).name: [m.render() for m in ms] for i, ms in zip(rel.images, rel.masks)}
    again = {Path(i).name: [m.render() for m in ms] for i, ms in zip(back.images, back.masks)}
    assert sum(map(len, drawn.values())) == 7 and drawn.keys() == again.keys()
    for name, masks in drawn.items():
        assert len(again[name]) == len(masks)
        for a, b in zip(masks, again[name]):
            np.testing.assert_array_equal(a, b)
