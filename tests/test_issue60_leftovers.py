"""Issue 60, what was left: skipped images named in every report and summary; a mask that does not
fit its image dropped with a note where no mask is needed and an error (or a skipped image) naming
it where masks are needed; labels that differ from the model's classes in case only."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featbus import make_phantoms
from featbus.cli import main
from featbus.io import dropped_masks_note, skipped_note


def _write(root: Path, data, *, upper: bool = False) -> Path:
    for i, (im, m, t) in enumerate(zip(data.images, data.masks, data.target)):
        name = str(data.target_names[t])
        folder = root / (name.capitalize() if upper else name)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(folder / f"case ({i}).png")
        Image.fromarray(m.astype(np.uint8) * 255).save(folder / f"case ({i})_mask.png")
    return root


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(18, image_size=48, random_state=0)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, phantoms):
    from featbus.workflows.training import train_model

    path = tmp_path_factory.mktemp("model") / "m.featbus"
    train_model(phantoms, "intensity", classifier="logreg", cross_validate=False, progress=False).save(path)
    return path


def _last_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


# --------------------------------------------------------------------------- the notes


def test_the_notes_name_the_first_few_then_count():
    skipped = [(f"d/benign/{i}.png", "not an image") for i in range(7)]
    note = skipped_note(skipped)
    assert note.startswith("skipped 7 unreadable or unusable image(s) (--on-error skip): benign/0.png (not an image)")
    assert "benign/4.png" in note and "benign/5.png" not in note and note.endswith(" and 2 more")
    assert skipped_note([]) == "" and dropped_masks_note([]) == ""
    assert skipped_note([(3, "a/b.png", "x")]).endswith("a/b.png (x)")  # read_images' (index, path, reason)
    note = dropped_masks_note([("d/masks/a.png", "mask has shape (2, 3), expected (4, 5)", "d/images/a.png")])
    assert "masks/a.png (mask has shape (2, 3), expected (4, 5))" in note


# --------------------------------------------------------------------------- skipped images in every report


@pytest.fixture()
def with_bad_files(tmp_path, phantoms):
    root = _write(tmp_path / "data", phantoms)
    (root / "benign" / "broken.png").write_text("junk")
    return root


def test_validate_names_the_skipped_images_in_its_summary_and_report(tiny_model, with_bad_files, tmp_path, capsys):
    report = tmp_path / "rep"
    assert main(["validate", str(tiny_model), str(with_bad_files), "--on-error", "skip", "--n-bootstrap", "10",
                 "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "note: skipped 1 unreadable or unusable image(s) (--on-error skip): benign/broken.png" in out
    page = next(report.glob("*.html")).read_text()
    assert "benign/broken.png" in page


def test_train_names_the_skipped_images_in_its_report_and_manifest(with_bad_files, tmp_path, capsys):
    out = tmp_path / "m.featbus"
    assert main(["train", str(with_bad_files), "-f", "intensity", "-c", "logreg", "-o", str(out), "--n-bootstrap",
                 "10", "--n-splits", "2", "--on-error", "skip", "--report", str(tmp_path / "rep")]) == 0
    capsys.readouterr()
    with zipfile.ZipFile(out) as z:
        name = next(n for n in z.namelist() if n.endswith("manifest.json"))
        manifest = json.loads(z.read(name))
    assert any("benign/broken.png" in n for n in manifest["notes"])
    assert "benign/broken.png" in (tmp_path / "rep" / "report.html").read_text()


def test_evaluate_and_demo_name_the_skipped_images_in_their_reports(with_bad_files, tmp_path, capsys):
    assert main(["evaluate", str(with_bad_files), "-f", "intensity", "-c", "logreg", "--n-bootstrap", "10",
                 "--n-splits", "2", "--on-error", "skip", "--report", str(tmp_path / "ev")]) == 0
    assert "benign/broken.png" in (tmp_path / "ev" / "report.html").read_text()
    assert main(["demo", "--data", str(with_bad_files), "-f", "intensity", "--n-bootstrap", "10", "--on-error",
                 "skip", "--report", str(tmp_path / "demo")]) == 0
    assert "benign/broken.png" in capsys.readouterr().out
    assert "benign/broken.png" in (tmp_path / "demo" / "demo.html").read_text()


def test_a_patient_whose_one_image_is_skipped_keeps_its_others(with_bad_files, capsys):
    from featbus.cli._data import _load_folder

    rows = [("benign/broken.png", "benign", "p0")]
    rows += [(str(p.relative_to(with_bad_files)), p.parent.name, f"q{i}")
             for i, p in enumerate(sorted(with_bad_files.glob("*/case (*).png")))
             if "_mask" not in p.name]
    rows[1] = (rows[1][0], rows[1][1], "p0")  # patient p0: the broken image and a good one
    with open(with_bad_files / "m.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("image", "label", "group"), *rows])
    data = _load_folder(str(with_bad_files / "m.csv"), "skip")
    assert len(data.target) == len(rows) - 1
    assert any(p.endswith(rows[1][0]) for p in data.paths)
    assert "broken.png" in capsys.readouterr().err


# --------------------------------------------------------------------------- a mask that does not fit


@pytest.fixture()
def unfit(tmp_path, phantoms):
    root = _write(tmp_path / "data", phantoms)
    mask = sorted((root / "benign").glob("*_mask.png"))[0]
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(mask)
    return root, mask


def test_where_no_mask_is_needed_the_mask_is_dropped_with_a_note_and_the_image_kept(tiny_model, unfit, capsys):
    root, mask = unfit
    assert main(["validate", str(tiny_model), str(root), "--n-bootstrap", "10"]) == 0
    captured = capsys.readouterr()
    assert f"dropped 1 mask(s) that do not fit their image, the images kept without a mask: benign/{mask.name}" \
        in captured.err
    assert "(20, 30)" in captured.err and "(48, 48)" in captured.err
    assert "18 images" in captured.out  # none left out


def test_a_manifest_s_unfit_mask_is_dropped_too(unfit, capsys):
    from featbus.cli._data import _load_folder

    root, mask = unfit
    image = mask.with_name(mask.name.replace("_mask", ""))
    with open(root / "m.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("image", "label", "mask"), (f"benign/{image.name}", "benign",
                                                               f"benign/{mask.name}"),
                                  ("malignant/" + next((root / "malignant").glob("case (*[0-9]).png")).name,
                                   "malignant", "")])
    data = _load_folder(str(root / "m.csv"), min_classes=0)
    assert len(data.target) == 2 and "dropped 1 mask" in capsys.readouterr().err
    with pytest.raises(Exception, match=r"row 2: mask .*of image .*\(20, 30\), expected \(48, 48\)"):
        _load_folder(str(root / "m.csv"), min_classes=0, needs_masks="the mask-region features (--region mask)")


def test_where_masks_are_needed_it_is_one_error_line_naming_the_file_and_both_sizes(unfit, capsys):
    root, mask = unfit
    args = ["evaluate", str(root), "-f", "intensity", "-c", "logreg", "--region", "mask", "--n-bootstrap", "10",
            "--n-splits", "2"]
    assert main(args) == 2
    line = _last_line(capsys)
    assert f"mask '{mask.name}'" in line and "(20, 30)" in line and "(48, 48)" in line
    assert "--region mask" in line and "--on-error skip" in line


def test_where_masks_are_needed_skip_leaves_the_image_out_and_names_it(unfit, capsys):
    root, mask = unfit
    image = mask.name.replace("_mask", "")
    assert main(["extract", str(root), "-f", "intensity", "--region", "mask", "--on-error", "skip", "-o",
                 str(root.parent / "f.csv")]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 unreadable or unusable image(s)" in err and image in err and "(20, 30)" in err
    import pandas as pd

    table = pd.read_csv(root.parent / "f.csv")
    assert len(table) == 17 and not table.iloc[:, 0].astype(str).str.endswith(f"/{image}").any()


# --------------------------------------------------------------------------- labels whose case differs


def test_labels_that_differ_from_the_model_s_classes_in_case_only_are_read_as_them(tiny_model, tmp_path, phantoms,
                                                                                     capsys):
    root = _write(tmp_path / "up", phantoms, upper=True)
    assert main(["validate", str(tiny_model), str(root), "--n-bootstrap", "10"]) == 0
    out = capsys.readouterr().out
    for name in ("benign", "malignant", "normal"):
        assert f"note: {name.capitalize()!r} read as {name!r} (case differs)" in out
    assert "benign 6, malignant 6, normal 6" in out


def test_a_label_the_model_does_not_know_in_any_case_is_still_refused(tiny_model, tmp_path, phantoms, capsys):
    from featbus import validate

    data = make_phantoms(9, image_size=48, random_state=1)
    data.target_names = np.array(["Benign", "cyst", "normal"])
    with pytest.raises(ValueError, match="class 'cyst', which the model does not know"):
        validate(str(tiny_model), data, n_bootstrap=0)
