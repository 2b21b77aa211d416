"""Screening releases as the community converts them (issue 101): the one join between a table and its
files (:mod:`featbus.datasets._release_join`) reads a PNG or JPEG conversion, nested or flat, resized,
with or without the test part, as its DICOM original reads; a folder of patient ids is never classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from _mammo_builders import RSNA_PNG_PATIENTS, build_cmmd, build_rsna_png_by_patient

from featbus.datasets import read_release
from featbus.datasets._release_join import join, through


def _check(rel, built) -> None:
    """Every built image read with its label and patient; nothing left out."""
    got = {Path(p).relative_to(built.root).as_posix(): (label, group)
           for p, label, group in zip(rel.images, rel.labels, rel.groups)}
    assert got == {k: (label, patient) for k, (label, patient, _) in built.truth.items()}
    assert not rel.summary.left_out


def _beside_original(build, tmp_path):
    """``(built, its summary, the original's summary)``: a release's PNG conversion (``build(..., png=True)``),
    checked image by image against its builder, read beside its DICOM original."""
    built = build(tmp_path / "png", png=True)
    rel = read_release(built.root)
    _check(rel, built)
    return built, rel.summary, read_release(build(tmp_path / "dicom").root).summary


@pytest.mark.parametrize("flat, ext", [(False, ".png"), (True, ".png"), (True, ".jpg"), (False, ".jpg")])
def test_rsna_train_conversions_read_as_the_original(tmp_path, flat, ext):
    built = build_rsna_png_by_patient(tmp_path, flat=flat, ext=ext)
    rel = read_release(built.root)
    _check(rel, built)
    s = rel.summary
    n_cancer = 2 * sum(left + right for _, left, right in RSNA_PNG_PATIENTS)  # two views a breast
    assert s.classes == {"cancer": n_cancer, "no cancer": 40 - n_cancer}
    assert s.n_patients == 10 and s.splits == {"train": 40}
    form = f"images/<patient_id>_<image_id>{ext}" if flat else f"<split>_images/<patient_id>/<image_id>{ext}"
    assert f"joined by patient_id + image_id ({form})" in s.text()
    assert "not classes but patients" not in s.text()  # the join labels them: the folders are its patients


def test_rsna_test_part_conversion_reads_unlabelled_as_the_test_split(tmp_path):
    built = build_rsna_png_by_patient(tmp_path, "test")
    rel = read_release(built.root)
    _check(rel, built)
    assert rel.summary.splits == {"test": 40} and not rel.summary.classes
    assert "40 image(s) of test_images/ are the competition's test split" in rel.summary.text()


def test_a_row_whose_converted_file_is_missing_is_named_in_the_conversions_form(tmp_path):
    built = build_rsna_png_by_patient(tmp_path, flat=True)
    gone = sorted(built.root.glob("images/*.png"))[0]
    gone.unlink()
    rel = read_release(built.root)
    (item, reason, detail), = rel.summary.left_out
    assert item.startswith("row ") and item.endswith(" of train.csv") and reason == "no image"
    assert detail == f"images/{gone.name} not found"
    assert len(rel.images) == 39


def test_the_join_finds_the_form_whatever_the_extension_and_separator():
    rows = [["P1", "7"], ["P1", "8"], ["P2", "9"], ["", "10"]]
    for files, words in [
        (["a/train_images/P1/7.dcm", "a/train_images/P1/8.dcm", "a/train_images/P2/9.dcm"],
         "patient_id + image_id (a/train_images/<patient_id>/<image_id>.dcm)"),
        (["P1_7.png", "P1_8.png", "P2_9.png"], "patient_id + image_id (<patient_id>_<image_id>.png)"),
        (["x/P1-7.JPG", "x/P1-8.JPG", "x/P2-9.JPG"], "patient_id + image_id (x/<patient_id>-<image_id>.JPG)"),
        (["flat/7.tif", "flat/8.tif", "flat/9.tif"], "image_id (flat/<image_id>.tif)"),
        (["dicom/P1/7", "dicom/P1/8", "dicom/P2/9"], "patient_id + image_id (dicom/<patient_id>/<image_id>)"),
    ]:
        got = join(rows, [Path(f) for f in files], ("patient_id", "image_id"))
        assert [f.as_posix() if f else None for f in got.files] == files + [None], files
        assert got.words == words


def test_the_join_never_guesses_between_two_files_of_one_key():
    got = join([["P1", "7"]], [Path("a/P1/7.png"), Path("b/P1/7.png")], ("patient_id", "image_id"))
    assert got.files == [None] and got.example is None


def test_a_mapping_table_joins_through_its_path_column():
    """CBIS-DDSM's Kaggle conversion: dicom_info.csv maps each SeriesInstanceUID to ``CBIS-DDSM/jpeg/<uid>/1-N.jpg``
    (its top folder not on disk); a path naming no file, or two, maps nothing."""
    files = [Path("jpeg/1.3.6.1/1-249.jpg"), Path("jpeg/1.3.6.2/1-1.jpg"), Path("jpeg/1.3.6.3/1-1.jpg")]
    mapping = [("1.3.6.1", "CBIS-DDSM/jpeg/1.3.6.1/1-249.jpg"), ("1.3.6.2", "CBIS-DDSM/jpeg/1.3.6.2/1-1.jpg"),
               ("1.3.6.9", "CBIS-DDSM/jpeg/1.3.6.9/1-1.jpg")]
    assert through(mapping, files) == {"1.3.6.1": files[0], "1.3.6.2": files[1]}


def test_vindr_png_conversion_reads_as_the_original(tmp_path):
    from _mammo_builders import build_vindr

    built, s, original = _beside_original(build_vindr, tmp_path)
    assert s.classes == original.classes and s.splits == original.splits == {"train": 24, "test": 8}
    assert s.n_patients == original.n_patients == 8
    assert "joined by study_id + image_id (images_png/<study_id>/<image_id>.png)" in s.text()


def test_vindr_flat_conversion_with_its_tables_in_a_folder_of_their_own(tmp_path):
    """``images/<image_id>.png`` with the tables in ``csv/`` (the join looked only under the table's own folder:
    every row 'no image'): the release's other files are joined when none under the table's folder is."""
    from _mammo_builders import build_vindr

    built = build_vindr(tmp_path / "png", png=True)
    flat = tmp_path / "flat"
    truth = {}
    for rel, value in built.truth.items():
        (flat / "images").mkdir(parents=True, exist_ok=True)
        (built.root / rel).rename(flat / "images" / Path(rel).name)
        truth[f"images/{Path(rel).name}"] = value
    for table in built.root.glob("*.csv"):
        (flat / "csv").mkdir(exist_ok=True)
        table.rename(flat / "csv" / table.name)
    built.root, built.truth = flat, truth
    rel = read_release(flat)
    _check(rel, built)
    assert rel.summary.splits == {"train": 24, "test": 8}
    assert "joined by image_id (images/<image_id>.png)" in rel.summary.text()


def test_inbreast_png_conversion_reads_as_the_original_its_outlines_said_not_drawn(tmp_path):
    from _mammo_builders import build_inbreast

    built, s, original = _beside_original(build_inbreast, tmp_path)
    assert s.classes == original.classes and s.n_patients == original.n_patients == 6
    assert s.n_masks_paired == 0 and original.n_masks_paired == 7
    assert "converted image(s) of another size than INbreast's full-field frames" in s.text()
    gone = sorted(built.root.glob("AllPNGs/*.png"))[0]
    gone.unlink()
    (item, reason, detail), = read_release(built.root).summary.left_out
    assert reason == "no image" and detail == f"no AllPNGs/{gone.name.split('_')[0]}_*.png"


def test_cmmd_png_conversion_reads_as_the_original_by_its_file_names(tmp_path):
    """CMMD converted to flat ``<ID1>_<LeftRight>_<view>.png`` (headers gone): each breast's row labels its
    views by the name's patient and side, as the original's folder and ImageLaterality do."""
    _, s, original = _beside_original(build_cmmd, tmp_path)
    assert s.classes == original.classes == {"Benign": 6, "Malignant": 12}
    assert s.n_patients == original.n_patients == 7
    assert "joined by ID1 + LeftRight (a conversion's <ID1>_<LeftRight>_<view> file name)" in s.text()


def test_cmmd_conversion_with_a_folder_per_patient_reads_as_the_original(tmp_path):
    """CMMD converted to ``CMMD_png/<ID1>/<LeftRight>_<view>.png`` beside the clinical table: each view labelled by
    its breast's row (the folder's patient, the name's side). The side alone was taken for the key: every
    patient's left views joined to each left breast (18 images 'Malignant', one patient, 7 rows left out).
    Without the table, the folders are the patients, never 7 classes."""
    built = build_cmmd(tmp_path, png=True, nested=True)
    rel = read_release(built.root)
    _check(rel, built)
    s = rel.summary
    assert s.classes == {"Benign": 6, "Malignant": 12} and s.n_patients == 7 and not s.left_out
    assert "joined by ID1 + LeftRight (a conversion's <ID1>/<LeftRight>_<view> file name)" in s.text()
    assert {Path(p).relative_to(built.root).as_posix(): m["view"]
            for p, m in zip(rel.images, rel.meta)}["CMMD_png/D1-0003/R_MLO.png"] == "MLO"
    (built.root / "CMMD_clinicaldata_revision.xlsx").unlink()
    s = read_release(built.root).summary
    assert s.classes == {} and s.n_patients == 7 and s.patient_source == "folder"
    assert any("'D1-0001', 'D1-0002', 'D1-0003', 'D1-0004' and 3 more are not classes but patients: their names "
               "are numbered ids" in n for n in s.notes)


def test_cmmd_png_conversion_without_a_side_in_its_name_is_left_out_named(tmp_path):
    """A view named without its side (``<ID1>_x.png``): labelled by its patient's only row (D1-0001 has one
    breast), left out and named where her breasts' rows differ (D1-0003: Benign and Malignant)."""
    built = build_cmmd(tmp_path, png=True)
    for name in ("D1-0001_L_CC.png", "D1-0003_L_CC.png"):
        (built.root / "CMMD_png" / name).rename(built.root / "CMMD_png" / f"{name.split('_')[0]}_x.png")
    rel = read_release(built.root)
    assert len(rel.images) == 17
    labels = {Path(i).name: label for i, label in zip(rel.images, rel.labels)}
    assert labels["D1-0001_x.png"] == "Benign"
    assert [(item, reason) for item, reason, _ in rel.summary.left_out] == [("CMMD_png/D1-0003_x.png", "no row")]


def test_cmmd_conversion_spelling_the_side_left_right_joins_the_table_s_l_r(tmp_path):
    """A conversion naming each view ``<ID1>_LEFT_<view>.png`` / ``<ID1>_RIGHT_<view>.png`` while the table's
    ``LeftRight`` says ``L`` / ``R``: the same breast, joined by the one join; every view labelled by its
    breast's row, as the conversion spelling ``L`` / ``R`` reads."""
    built = build_cmmd(tmp_path, png=True)
    words = {"L": "LEFT", "R": "RIGHT"}
    truth = {}
    for rel, value in built.truth.items():
        patient, side, view = Path(rel).stem.split("_")
        renamed = f"CMMD_png/{patient}_{words[side]}_{view}.png"
        (built.root / rel).rename(built.root / renamed)
        truth[renamed] = value
    built.truth = truth
    rel = read_release(built.root)
    _check(rel, built)
    s = rel.summary
    assert len(rel.images) == 18 and s.classes == {"Benign": 6, "Malignant": 12} and s.n_patients == 7
    assert {Path(p).name: m["laterality"] for p, m in zip(rel.images, rel.meta)}["D1-0003_RIGHT_MLO.png"] == "R"


@pytest.mark.parametrize("name", ["cmmd", "inbreast"])
def test_a_conversion_without_its_table_groups_a_womans_views_by_their_names(tmp_path, name):
    """CMMD's and INbreast's PNG conversions with their tables left behind (the images alone, as many
    copies ship): unlabelled, and a woman's views one patient by the names' side and view
    (``D1-0001_L_CC``; ``<file>_<patient>_MG_R_CC_ANON``, the file number unique to each image). They
    were one patient per image: a woman's CC and MLO views in different folds."""
    from _mammo_builders import build_inbreast

    built = (build_cmmd if name == "cmmd" else build_inbreast)(tmp_path, png=True)
    for table in [*built.root.rglob("*.xls*"), *built.root.rglob("*.csv")]:
        table.unlink()
    rel = read_release(built.root)
    s = rel.summary
    assert s.classes == {} and s.patient_source == "file-name prefix" and not s.left_out
    got: dict = {}
    for image, group in zip(rel.images, rel.groups):
        got.setdefault(group, set()).add(Path(image).relative_to(built.root).as_posix())
    want: dict = {}
    for image, (_, patient, _) in built.truth.items():
        want.setdefault(patient, set()).add(image)
    assert {frozenset(v) for v in got.values()} == {frozenset(v) for v in want.values()}
    assert s.n_patients == len(want) == {"cmmd": 7, "inbreast": 6}[name]


def test_cmmd_tree_converted_in_place_labels_by_the_patients_rows(tmp_path):
    """CMMD's NBIA tree with every ``.dcm`` converted to PNG where it lies (``CMMD/<ID1>/<study>/<series>/1-N.png``,
    the headers gone): an image's breast side is unknown, so it takes its patient's only row, or the label all
    her rows share, said; a woman whose breasts differ (D1-0003: Benign and Malignant) is left out, named. Every
    image was left out as "no ImageLaterality" (and then read unlabelled by its folders)."""
    pydicom = pytest.importorskip("pydicom")
    import numpy as np
    from PIL import Image

    built = build_cmmd(tmp_path)
    for f in list(built.root.rglob("*.dcm")):
        pixels = pydicom.dcmread(f).pixel_array.astype(float)
        Image.fromarray((255 * pixels / max(1.0, pixels.max())).astype(np.uint8)).save(f.with_suffix(".png"))
        f.unlink()
    rel = read_release(built.root)
    s = rel.summary
    want = {k.replace(".dcm", ".png"): (label, patient) for k, (label, patient, _) in built.truth.items()
            if patient != "D1-0003"}
    got = {Path(p).relative_to(built.root).as_posix(): (label, group)
           for p, label, group in zip(rel.images, rel.labels, rel.groups)}
    assert got == want and s.n_images == 14 and s.classes == {"Benign": 4, "Malignant": 10}
    out = [x for x in s.left_out if x.reason == "no row"]
    assert len(out) == 4 and all("D1-0003" in x.item and "her rows differ (Benign, Malignant)" in x.detail for x in out)
    assert any(n.startswith("14 image(s) whose breast neither a DICOM header") for n in s.notes)


def test_an_image_no_source_could_label_is_read_not_also_left_out(tmp_path):
    """CMMD's converted tree holding only a woman whose breasts' rows differ: the clinical table labels none of
    her images, so the folders read them (unlabelled); they are no longer also counted as left out (the
    paragraph said '4 images ... left out 4 (no row)' for the same four files), the table's reason said once."""
    pydicom = pytest.importorskip("pydicom")
    import shutil

    import numpy as np
    from PIL import Image

    built = build_cmmd(tmp_path)
    for folder in (built.root / "CMMD").iterdir():
        if folder.name != "D1-0003":
            shutil.rmtree(folder)
    for f in list(built.root.rglob("*.dcm")):
        pixels = pydicom.dcmread(f).pixel_array.astype(float)
        Image.fromarray((255 * pixels / max(1.0, pixels.max())).astype(np.uint8)).save(f.with_suffix(".png"))
        f.unlink()
    s = read_release(built.root).summary
    assert s.n_images == 4 and s.classes == {}
    assert {x.reason for x in s.left_out} == {"no image"}  # the table's rows of the other women only
    assert any(n.startswith("4 image(s) the annotation files could not label read by the folders instead (e.g. "
                            "CMMD/D1-0003/") and "her rows differ (Benign, Malignant)" in n for n in s.notes)


def test_rsna_flat_named_with_side_and_view_groups_by_patient(tmp_path):
    """RSNA flattened as ``images/<patient_id>_<image_id>_<laterality>_<view>.png``: with ``train.csv`` beside it,
    every view labelled by its breast (the join takes the name's first tokens); without it, a woman's four views
    one patient by their names (the image_id each view has its own dropped), never one patient per image."""
    import csv

    built = build_rsna_png_by_patient(tmp_path, flat=True)
    rows = {(r["patient_id"], r["image_id"]): r for r in csv.DictReader(open(built.root / "train.csv"))}
    truth = {}
    for rel, value in built.truth.items():
        patient, image = Path(rel).stem.split("_")
        row = rows[(patient, image)]
        renamed = f"images/{patient}_{image}_{row['laterality']}_{row['view']}.png"
        (built.root / rel).rename(built.root / renamed)
        truth[renamed] = value
    built.truth = truth
    _check(read_release(built.root), built)
    (built.root / "train.csv").unlink()
    rel = read_release(built.root)
    assert rel.summary.classes == {} and rel.summary.patient_source == "file-name prefix"
    assert rel.summary.n_patients == 10
    assert {Path(i).relative_to(built.root).as_posix(): g for i, g in zip(rel.images, rel.groups)} == \
        {k: patient for k, (_, patient, _) in truth.items()}


def test_a_download_manifest_inside_a_zip_is_said_as_in_the_folder(tmp_path):
    """NBIA's ``metadata.csv`` inside a zip of CMMD's download: a download manifest with no labels, not read, as
    the unpacked folder says it (it was read as the patient table of the zip; for a while named 'to unpack')."""
    pytest.importorskip("pydicom")
    from _format_builders import zip_folder

    built = build_cmmd(tmp_path / "src")
    s = read_release(zip_folder(built.root, tmp_path / "cmmd.zip")).summary
    folder = read_release(built.root).summary
    said = "metadata.csv (a download manifest (NBIA's list of the series downloaded: Series UID, File Location), " \
           "no labels; not read)"
    assert said in s.table_candidates and said in folder.table_candidates
    assert s.table is None and not any("metadata.csv" in x.item for x in s.left_out)
