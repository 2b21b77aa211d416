"""A hospital's export as downloaded: images/, masks/ of the same names and a ';' table with a BOM
(issue 60 item 3)."""

import numpy as np
import pytest
from PIL import Image

from featbus.cli import main
from featbus.datasets import load_data, load_export, load_image_folder

LABELS = ["Benign", "Malignant", "Normal"]


def make_export(root, *, header="\ufeffImage Name;Diagnosis;Patient ID", bad_mask=5, label=None):
    """12 small PNGs (6 patients, 2 images each), RGB masks of the same names, one of the wrong size."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.RandomState(0)
    rows = []
    for k in range(12):
        name = f"P{k // 2:03d}_{k % 2}.png"
        image = (rng.rand(40, 48) * 120).astype(np.uint8)
        image[10:25, 12:30] += 60 + 40 * (k // 2 % 3)
        Image.fromarray(image).save(root / "images" / name)
        mask = np.zeros((30, 30, 3) if k == bad_mask else (40, 48, 3), np.uint8)
        mask[10:25, 12:30] = 255
        Image.fromarray(mask).save(root / "masks" / name)
        rows.append(f"{name};{label if label and k == 7 else LABELS[k // 2 % 3]};P{k // 2:03d}")
    (root / "labels.csv").write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return root


def test_an_export_reads_as_one_labelled_data_set(tmp_path):
    root = make_export(tmp_path / "export")
    with pytest.warns(UserWarning) as record:
        data = load_data(root)
    messages = " | ".join(str(w.message) for w in record)
    assert data.target_names.tolist() == ["benign", "malignant", "normal"]  # no class 'masks' or 'images'
    assert [data.target_names[t] for t in data.target] == [LABELS[k // 2 % 3].lower() for k in range(12)]
    assert data.groups.tolist() == [k // 2 for k in range(12)]  # patients from 'Patient ID'
    assert data.data[0].meta["patient id"] == "P000" and data.masks[0].sum() == 15 * 18
    assert "'Benign' read as 'benign' (case differs)" in messages
    # the mask of the wrong size is dropped with a note naming it; its image is kept
    assert "masks/P002_1.png" in messages and len(data.images) == 12
    assert not data.masks[5].any() and not data.data[5].meta["has_mask_file"]
    assert [p.rsplit("/", 1)[-1] for p, *_ in data.dropped_masks] == ["P002_1.png"]
    assert "patients from its 'Patient ID' column" in data.DESCR
    assert data.groups_from == "patients: the 'Patient ID' column of labels.csv"  # named so in every report


def test_an_export_without_a_patient_column_says_how_it_grouped(tmp_path):
    # the names' PREFIX_NUMBER shape gives the patients (issue 75: tests/test_datasets_releases.py has the rest)
    root = make_export(tmp_path / "export", header="filename,CLASS,site")
    text = (root / "labels.csv").read_text().replace(";", ",")
    (root / "labels.csv").write_text(text)
    with pytest.warns(UserWarning) as record:
        data = load_export(root)
    assert any("patients read from the file names" in str(w.message) and "--group-pattern" in str(w.message)
               for w in record)
    assert len(data.images) == 12 and data.groups.tolist() == [k // 2 for k in range(12)]



def test_ambiguous_columns_are_refused_naming_the_option(tmp_path, capsys):
    # 'Pathology' holds patients here, so 'Diagnosis' (the classes) is chosen by its values, said; two columns
    # of the classes are refused (tests/test_datasets_releases.py)
    root = make_export(tmp_path / "export", header="Image;Diagnosis;Pathology")
    with pytest.warns(UserWarning, match=r"labels from the 'Diagnosis' column.*'Pathology'.*--label-column"):
        assert load_data(root).target_names.tolist() == ["benign", "malignant", "normal"]
    with pytest.warns(UserWarning):
        data = load_data(root, label_column="pathology")
    assert len(data.images) == 12


def test_labels_are_checked_before_any_image_is_read(tmp_path, monkeypatch):
    import featbus.datasets._common as common  # the one image reader of the loaders

    root = make_export(tmp_path / "export", label="Maligant")
    monkeypatch.setattr(common, "read_at_work", lambda *a, **k: pytest.fail("an image was read"))
    with pytest.raises(ValueError, match=r"row 9 .*label 'Maligant' is not one of the classes"):
        load_export(root, classes=["benign", "malignant", "normal"])
    with pytest.raises(ValueError, match=r"row 3 .*image 'nowhere.png' not found"):
        text = (root / "labels.csv").read_text(encoding="utf-8").replace("P000_1.png", "nowhere.png", 1)
        (root / "labels.csv").write_text(text, encoding="utf-8")
        load_export(root, image_column="image name")


def test_a_misspelt_label_is_refused_before_any_image_is_read(tmp_path, monkeypatch, capsys):
    """Without a model's classes (featbus train), 'Benigh' on one row became a class of its own and
    train stopped late, on "the smallest class 'benigh' has 1 image", naming neither row nor typo."""
    import featbus.datasets._common as common  # the one image reader of the loaders

    root = make_export(tmp_path / "export", label="Benigh")
    monkeypatch.setattr(common, "read_at_work", lambda *a, **k: pytest.fail("an image was read"))
    with pytest.raises(ValueError, match=r"row 9 .*label 'Benigh' \(1 row\) looks like a misspelling of 'Benign'"):
        load_export(root)
    assert main(["train", str(root), "-f", "intensity", "-c", "logreg", "-o", str(tmp_path / "m.featbus")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "looks like a misspelling of 'Benign'" in err[-1]
    monkeypatch.undo()
    # a rare class inside another's name is a class: 'abnormal' beside 'normal'
    rows = [("normal", k) for k in range(8)] + [("abnormal", 8)]
    from featbus.datasets.sources.table import _refuse_misspelt_labels

    _refuse_misspelt_labels([(f"row {k + 2} of 't.csv'", lab) for lab, k in rows])


def test_a_mask_folder_without_a_table_is_never_a_class(tmp_path, capsys):
    root = make_export(tmp_path / "export")
    (root / "labels.csv").unlink()
    with pytest.raises(ValueError, match=r"'masks/' pairs one to one with 'images/'.*needs the labels"):
        load_image_folder(root)
    assert main(["demo", "--data", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'masks/' pairs one to one with 'images/'" in err[0] and "Traceback" not in err[0]


def test_the_cli_trains_on_an_export_with_its_notes(tmp_path, capsys):
    root = make_export(tmp_path / "export")
    out = tmp_path / "m.featbus"
    assert main(["train", str(root), "-f", "intensity", "-c", "logreg", "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert "masks/P002_1.png" in err and "'Benign' read as 'benign'" in err
    (tmp_path / "broken.png").write_bytes(b"not a png")
    assert main(["predict", str(out), str(root / "images" / "P000_0.png"), str(tmp_path / "broken.png")]) == 0
    err = capsys.readouterr().err
    assert "broken.png" in err.split("skipped 1 unreadable image(s)")[1].splitlines()[0]
    assert main(["predict", str(out), str(tmp_path / "broken.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "none of the 1 image(s) could be predicted" in err[-1] and "broken.png" in err[-1].split("the first")[1]


def test_evaluate_names_an_exports_folds_patient_grouped(tmp_path, capsys):
    """The description said "patient-grouped 5-fold (from the 'Patient ID' column ...)" while the
    table's columns, the progress line, the page's title and its header said "duplicate-grouped"."""
    root = make_export(tmp_path / "export")
    report = tmp_path / "rep"
    assert main(["evaluate", str(root), "-f", "intensity", "--classifiers", "logreg", "--n-splits", "3",
                 "--n-bootstrap", "20", "--report", str(report), "-q"]) == 0
    out = capsys.readouterr().out
    assert "patient-grouped:accuracy" in out and "duplicate-grouped" not in out
    page = (report / "report.html").read_text()
    assert "featbus evaluate: patient-grouped CV" in page and "duplicate-grouped" not in page


def test_class_folders_that_share_file_names_stay_classes(tmp_path):
    """Class folders numbered alike (1.png, 2.png in each) are classes: only a folder named for masks,
    or one holding two-level images beside grey ones, pairs with the images."""
    rng = np.random.RandomState(1)
    for c in ("benign", "malignant"):
        (tmp_path / c).mkdir()
        for k in range(3):
            Image.fromarray((rng.rand(24, 24) * 255).astype(np.uint8)).save(tmp_path / c / f"{k}.png")
    data = load_image_folder(tmp_path)
    assert data.target_names.tolist() == ["benign", "malignant"] and len(data.target) == 6
    masks = tmp_path / "gt"
    masks.mkdir()
    for k in range(3):
        Image.fromarray(np.full((24, 24), 255 * (k % 2), np.uint8)).save(masks / f"{k}.png")
    with pytest.raises(ValueError, match="'gt/' pairs one to one with 'benign/'"):
        load_image_folder(tmp_path)


def test_predict_on_an_export_folder_leaves_its_masks_out(tmp_path, capsys):
    """`featbus predict MODEL EXPORT/` predicted every mask of masks/ as an image (twice the rows,
    half of them 'unlike the training images')."""
    root = make_export(tmp_path / "export")
    out = tmp_path / "m.featbus"
    assert main(["train", str(root), "-f", "intensity", "-c", "logreg", "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    csv = tmp_path / "p.csv"
    assert main(["predict", str(out), str(root), "-o", str(csv)]) == 0
    err = capsys.readouterr().err
    assert "12 images; 11 paired with 11 mask files" in err  # the reader's paragraph: masks/ holds masks
    rows = csv.read_text().strip().splitlines()[1:]
    assert len(rows) == 12 and not any("masks" in r.split(",")[0] for r in rows)


def test_a_model_file_names_its_held_out_images_without_the_machine_s_folders(tmp_path):
    """manifest["holdout"]["paths"] held the training machine's absolute paths of every held-out image."""
    from featbus.cli.train import _portable_paths

    root = make_export(tmp_path / "export")
    files = [root / "images" / "P000_0.png", tmp_path / "elsewhere.png"]
    assert _portable_paths(files, [str(root)]) == ["export/images/P000_0.png", str(tmp_path / "elsewhere.png")]
