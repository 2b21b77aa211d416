"""Never an id taken for a class (issue 101 item 3): a folder level whose names are the values of a
table's patient, study or image column, or whose folders each hold one patient's images, is the
patient level; the read says so and the training commands refuse in one line, never fitting a model
on one class per patient. Class folders holding many patients stay classes.

The layouts: RSNA as its 512-px PNG conversions ship it (``_mammo_builders.build_rsna_png_by_patient``,
``train.csv`` or the unlabelled ``test.csv`` beside ``<part>_images/<patient_id>/<image_id>.png``),
and exports without any table whose every folder is one patient by its DICOM ``PatientID`` or its
files' ``PREFIX_NUMBER`` names (``_release_builders.build_one_patient_folders``)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pydicom")

from _mammo_builders import RSNA_PNG_PATIENTS, build_rsna_png_by_patient  # noqa: E402
from _release_builders import build_busi, build_one_patient_folders, save, scan  # noqa: E402

from featbus.cli import main  # noqa: E402
from featbus.datasets import read_release  # noqa: E402

PATIENT_IDS = {str(p) for p, _, _ in RSNA_PNG_PATIENTS}


def _partition(rel) -> set[frozenset]:
    """The images grouped by the read's patients (relative POSIX paths)."""
    out: dict = {}
    for image, group in zip(rel.images, rel.groups):
        out.setdefault(group, set()).add(Path(image).relative_to(rel.root).as_posix())
    return {frozenset(v) for v in out.values()}


def _truth_partition(built) -> set[frozenset]:
    out: dict = {}
    for name, (_, patient, _) in built.truth.items():
        out.setdefault(patient, set()).add(name)
    return {frozenset(v) for v in out.values()}


def _train_refused(capsys, root: Path, out: Path, command: str = "train") -> str:
    """``featbus train ROOT -f intensity -c svm -o OUT`` (or ``featbus evaluate ROOT -f intensity -c svm``),
    in process: its exit status must be non-zero, its error one line, and no model written; the line
    returned."""
    capsys.readouterr()
    written = ["-o", str(out)] if command == "train" else []
    code = main([command, str(root), "-f", "intensity", "-c", "svm", *written, "-q"])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert not out.exists()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_rsna_png_patient_folders_are_patients_never_classes(tmp_path):
    """The ten ``train_images/<patient_id>/`` folders are the values of ``train.csv``'s ``patient_id``:
    ten patients, never ten classes; labelled by ``cancer`` where ``train.csv`` is joined to the PNG
    files, else unlabelled with the paragraph saying why the folders are no classes."""
    built = build_rsna_png_by_patient(tmp_path)
    rel = read_release(built.root)
    s = rel.summary
    assert s.n_images == 40
    assert not set(s.classes) & PATIENT_IDS
    assert s.n_patients == 10
    assert _partition(rel) == _truth_partition(built)
    if any(rel.labels):  # train.csv joined to its PNG files: the breast's 'cancer'
        truth = {name: label for name, (label, _, _) in built.truth.items()}
        assert {Path(i).relative_to(rel.root).as_posix(): lab for i, lab in zip(rel.images, rel.labels)} == truth
    else:
        assert rel.labels == [None] * 40
        note = next(n for n in s.notes if "not classes" in n)
        assert "'11713', '18362', '20231', '25002' and 6 more" in note
        assert "'patient_id' column of train.csv" in note


def test_rsna_png_test_part_train_refuses(tmp_path, capsys):
    """The competition's test part as converted (``test.csv``, no ``cancer``): nothing labels it, the
    patient folders are no classes, and ``featbus train`` refuses in one line (naming the folders
    where ``test.csv`` is not joined to the PNG files; where it is, the test split is unlabelled)."""
    built = build_rsna_png_by_patient(tmp_path, part="test")
    rel = read_release(built.root)
    assert rel.summary.classes == {}
    assert rel.summary.n_patients == 10
    assert _partition(rel) == _truth_partition(built)
    line = _train_refused(capsys, built.root, tmp_path / "model.featbus")
    assert line.startswith("featbus train: error: ") and "nothing labels the images of" in line
    if any("not classes" in n for n in rel.summary.notes):  # test.csv not joined: the folders said
        assert "the folders '11713', '18362', '20231', '25002' and 6 more are not classes" in line
        assert "'patient_id' column of test.csv" in line


@pytest.mark.parametrize("command", ["train", "evaluate"])
@pytest.mark.parametrize("dicom, why", [(True, "the PatientID of its DICOM files"),
                                        (False, "the file-name prefix, 'P017_1.png' -> 'P017'")])
def test_one_patient_per_folder_is_no_class(tmp_path, capsys, dicom, why, command):
    """No table: three folders, each one patient's images (by ``PatientID``, or by the files'
    ``PREFIX_NUMBER`` names): three patients, unlabelled, said; training and evaluating refuse in one
    line."""
    built = build_one_patient_folders(tmp_path, dicom=dicom)
    rel = read_release(built.root)
    s = rel.summary
    assert s.n_images == 8
    assert s.classes == {}
    assert rel.labels == [None] * 8
    assert s.n_patients == 3
    assert s.patient_source == "folder"
    assert _partition(rel) == _truth_partition(built)
    assert (f"The folders 'exam A', 'exam B', 'exam C' are not classes but patients: each holds one patient's "
            f"images ({why}); the images are unlabelled.") in s.notes
    line = _train_refused(capsys, built.root, tmp_path / "model.featbus", command)
    assert "'exam A', 'exam B', 'exam C' are not classes: each holds one patient's images" in line


def _findings(root: Path, patients: dict[str, tuple[str, ...]]) -> Path:
    """Class folders of ``PREFIX_NUMBER`` files: ``<finding>/<patient>_<1|2>.png``, two images a patient."""
    k = 0
    for finding, names in patients.items():
        for patient in names:
            for i in (1, 2):
                k += 1
                save(root / finding / f"{patient}_{i}.png", scan(k))
    return root


def test_class_folders_of_many_patients_stay_classes(tmp_path):
    """Folders not named as the classes (``cyst/``, ``fibroadenoma/``), each holding several
    patients' ``PREFIX_NUMBER`` files, are classes as before; BUSI's are too."""
    root = _findings(tmp_path / "findings", {"cyst": ("P01", "P02"), "fibroadenoma": ("P03", "P04", "P05")})
    rel = read_release(root)
    assert rel.summary.classes == {"cyst": 4, "fibroadenoma": 6}
    assert rel.summary.n_patients == 5
    assert not any("not classes" in n for n in rel.summary.notes)
    # a table describing the classes (one row a class folder, by name): still classes
    (root / "classes.csv").write_text("name,description\ncyst,fluid-filled\nfibroadenoma,solid benign\n")
    rel = read_release(root)
    assert rel.summary.classes == {"cyst": 4, "fibroadenoma": 6}
    assert not any("not classes" in n for n in rel.summary.notes)
    busi = build_busi(tmp_path)
    rel = read_release(busi.root)
    assert set(rel.summary.classes) == {"benign", "malignant", "normal"}
    assert not any("not classes" in n for n in rel.summary.notes)


def test_a_class_folder_of_one_patient_beside_others_stays_a_class(tmp_path):
    """One patient in one folder but several in another: the folders are not one patient each, so
    they stay classes."""
    rel = read_release(_findings(tmp_path / "two", {"cyst": ("P01",), "fibroadenoma": ("P03", "P04")}))
    assert rel.summary.classes == {"cyst": 2, "fibroadenoma": 4}


def test_files_named_by_their_class_folder_stay_classes(tmp_path):
    """``cyst/cyst_1.png``, ``fibroadenoma/fibroadenoma_1.png``: the prefix is the folder's name, a
    class's, not a patient: each folder holding one prefix does not make it a patient's."""
    root = tmp_path / "named"
    k = 0
    for finding in ("cyst", "fibroadenoma", "lipoma"):
        for i in (1, 2, 3):
            k += 1
            save(root / finding / f"{finding}_{i}.png", scan(k))
    rel = read_release(root)
    assert rel.summary.classes == {"cyst": 3, "fibroadenoma": 3, "lipoma": 3}
    assert not any("not classes" in n for n in rel.summary.notes)


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_id_shaped_folders_without_a_table_are_no_classes(tmp_path, capsys, command):
    """RSNA's PNG conversion as its Kaggle pages ship it, the images alone (the competition's
    ``train.csv`` is not part of them): ten folders named by ``patient_id``, numbers of five digits, are
    ten patients and no class (the read gave ten classes of four images and ``featbus train`` fitted a
    ten-class model); short numbers (``0/``, ``1/``) and UIDs beside words stay as they were."""
    built = build_rsna_png_by_patient(tmp_path)
    (built.root / "train.csv").unlink()
    rel = read_release(built.root)
    s = rel.summary
    assert s.n_images == 40 and s.classes == {} and rel.labels == [None] * 40
    assert s.n_patients == 10 and s.patient_source == "folder"
    groups: dict = {}
    for image, group in zip(rel.images, rel.groups):  # the read's root is the one folder inside, train_images/
        groups.setdefault(group, set()).add(Path(image).relative_to(built.root).as_posix())
    assert {frozenset(v) for v in groups.values()} == _truth_partition(built)
    assert ("The folders '11713', '18362', '20231', '25002' and 6 more are not classes but patients: their names "
            "are ids (numbers of four digits or more, DICOM UIDs or hashes), no class's; the images are "
            "unlabelled.") in s.notes
    line = _train_refused(capsys, built.root, tmp_path / "model.featbus", command)
    assert "nothing labels the images of" in line and "their names are ids" in line
    digits = tmp_path / "digits"  # class folders named 0 and 1 (a binary label): classes as before
    for k, name in enumerate(["0/a_1.png", "0/b_1.png", "1/c_1.png", "1/d_1.png"]):
        save(digits / name, scan(k))
    assert read_release(digits).summary.classes == {"0": 2, "1": 2}


@pytest.mark.parametrize("names", [["P001", "P002", "P003"], ["Patient 1", "Patient 2", "Patient 3"],
                                   ["case_01", "case_02", "case_03"], ["D1-0001", "D1-0002", "D2-0001"]])
def test_numbered_id_folders_are_patients_never_classes(tmp_path, capsys, names):
    """A study's folders named by a patient's number, zero-padded or after a patient's word (``P001``,
    ``Patient 1``, ``case_01``, CMMD's ``D1-0001``), each with two images of no shared name: patients, never
    three classes of one patient each, and training refuses. Numbered classes stay classes."""
    for k, name in enumerate(names):
        for view in ("a", "b"):
            save(tmp_path / "study" / name / f"{view}.png", scan(2 * k + (view == "b")))
    s = read_release(tmp_path / "study").summary
    assert s.classes == {} and s.n_patients == 3 and s.patient_source == "folder"
    assert any("are not classes but patients: their names are numbered ids" in n for n in s.notes)
    assert "numbered ids" in _train_refused(capsys, tmp_path / "study", tmp_path / "m.featbus")
    for k, name in enumerate(["grade_1/x.png", "grade_2/y.png", "class1/z.png", "BI-RADS 4/w.png"]):
        save(tmp_path / "numbered" / name, scan(k))
    assert len(read_release(tmp_path / "numbered").summary.classes) == 4


@pytest.mark.parametrize("above", [("Mass", "Calc"), ("CC", "MLO"), ("train/mass", "test/calc")])
def test_class_folders_under_a_type_or_view_level_are_the_classes(tmp_path, above):
    """CBIS-DDSM's ROI conversions as ``Mass/BENIGN/``, ``Calc/MALIGNANT/`` (or views over classes, or splits
    over both): the classes are the level named by the classes' spellings, the level above neither classes nor
    patients, said (it read as classes 'Calc' and 'Mass', BENIGN and MALIGNANT taken for two patients). Patient
    folders above class folders are the patients."""
    k = 0
    for top in above:
        for label in ("BENIGN", "MALIGNANT"):
            for _ in range(2):
                k += 1
                save(tmp_path / "roi" / top / label / f"roi{k}.png", scan(k))
    s = read_release(tmp_path / "roi").summary
    assert s.classes == {"BENIGN": 4, "MALIGNANT": 4} and s.n_patients == 8 and s.patient_source == "one per image"
    shown = ", ".join(repr(t.split("/")[-1]) for t in sorted(above, key=lambda t: t.split("/")[-1].casefold()))
    assert f"(the folder names, under {shown}: neither classes nor patients)" in s.text()
    for k, name in enumerate(["P001/benign/a.png", "P001/benign/b.png", "P002/malignant/c.png", "P003/benign/d.png"]):
        save(tmp_path / "patients" / name, scan(k))
    s = read_release(tmp_path / "patients").summary
    assert s.classes == {"benign": 3, "malignant": 1} and s.n_patients == 3 and s.patient_source == "folder"


def test_split_folders_with_an_images_word_are_splits_never_classes(tmp_path):
    """RSNA's PNG conversion of both parts without their tables: ``train_images/<patient_id>/`` and
    ``test_images/<patient_id>/`` are the splits and the patients (they read as two classes,
    'train_images' and 'test_images', a model to tell the competition's parts apart)."""
    train = build_rsna_png_by_patient(tmp_path / "train")
    test = build_rsna_png_by_patient(tmp_path / "test", part="test")
    root = tmp_path / "rsna"
    root.mkdir()
    (train.root / "train_images").rename(root / "train_images")
    (test.root / "test_images").rename(root / "test_images")
    s = read_release(root).summary
    assert s.classes == {} and s.splits == {"train": 40, "test": 40}
    assert s.patient_source == "folder" and s.n_patients == 10  # the builder's two parts share their patients
    from featbus.datasets._release_rules import split_of

    assert [split_of(v) for v in ("train_images", "images_test", "test_set", "TrainData", "dataset", "trainval")] == \
        ["train", "test", "test", "train", None, None]


@pytest.mark.parametrize("column", ["cancer", "target", "Malignancy"])
def test_a_binary_label_column_named_as_the_outcome_labels_the_images(tmp_path, column):
    """A user's table ``filename,cancer`` (RSNA's convention, 0 / 1), ``target`` or ``Malignancy``: the label
    column by its name, its values the classes as written (the images read as unlabelled, the column unsaid)."""
    lines = ["filename," + column]
    for k in range(6):
        save(tmp_path / "study" / "images" / f"{k:04d}.png", scan(k))
        lines.append(f"{k:04d}.png,{k % 2}")
    (tmp_path / "study" / "labels.csv").write_text("\n".join(lines) + "\n")
    s = read_release(tmp_path / "study").summary
    assert s.label_column == column and s.classes == {"0": 3, "1": 3}


def test_patient_folders_beside_a_copy_of_them_all_are_no_classes(tmp_path, capsys):
    """``<patient>/<0|1>/`` beside a folder holding the same tree again (Kaggle's IDC download): the copy made the
    folder names fail the id test, so the patient ids were read as three classes, exit 0. The copy is left out
    first; the ids are patients, the images unlabelled, training refused."""
    k = 0
    for top in ("", "IDC_regular_ps50_idx5/"):
        k = 0
        for patient, n in (("8863", 3), ("10253", 5), ("10254", 4)):
            for i in range(n):
                k += 1
                save(tmp_path / f"{top}{patient}/{i % 2}/{patient}_idx5_x{i}_class{i % 2}.png", scan(k))
    s = read_release(tmp_path).summary
    assert s.n_images == 12 and s.classes == {} and s.n_patients == 3
    assert sorted({x.reason for x in s.left_out}) == ["duplicate"] and len(s.left_out) == 12
    assert any(n.startswith("The folders '8863', '10253', '10254' are not classes but patients") for n in s.notes)
    assert "'8863', '10253', '10254' are not classes" in _train_refused(capsys, tmp_path, tmp_path / "m.featbus")
