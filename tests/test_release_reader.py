"""The release reader (issue 81): one reader that works a release's layout out from its files
(:func:`featbus.datasets.read_release`), its refusals, its index, and the commands that print what
it read (``featbus read``; predict's one row per scan with masks beside them)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, stderr_lines
from PIL import Image

from featbus.cli import main
from featbus.datasets import ReleaseError, load_data, read_release


def _png(path, value: int = 100, shape=(24, 32)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(value)
    Image.fromarray((rng.rand(*shape) * 200 + value % 50).astype(np.uint8)).save(path)


def _mask(path, shape=(24, 32)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros(shape, np.uint8)
    m[5:12, 6:20] = 255
    Image.fromarray(m).save(path)


def bus_bra_as_shipped(root):
    """Images/bus_NNNN-x.png, Masks/mask_NNNN-x.png, bus_data.csv (the publisher's layout)."""
    ids = [("0001-l", 1, "benign"), ("0001-r", 1, "benign"), ("0002-s", 2, "malignant"), ("0003-l", 3, "malignant"),
           ("0003-r", 3, "malignant")]
    rows = ["ID,Case,Histology,Pathology,BIRADS,Device"]
    for k, (i, case, label) in enumerate(ids):
        _png(root / "Images" / f"bus_{i}.png", 10 * k)
        _mask(root / "Masks" / f"mask_{i}.png")
        rows.append(f"bus_{i},{case},{'fibroadenoma' if label == 'benign' else 'idc'},{label},3,GE")
    (root / "bus_data.csv").write_text("\n".join(rows) + "\n")
    return root


def breast_as_shipped(root):
    """One folder: case001.png beside case001_tumor.png (and case002_other1.png), a clinical .xlsx."""
    folder = root / "BrEaST-Lesions_USG-images_and_masks"
    table = []
    for k, label in enumerate(["Benign", "Malignant", "Normal", "Benign"], start=1):
        name = f"case{k:03d}"
        _png(folder / f"{name}.png", 30 * k)
        _mask(folder / f"{name}_tumor.png")
        other = ""
        if k == 2:
            _mask(folder / f"{name}_other1.png")
            other = f"{name}_other1.png"
        table.append({"CaseID": k, "Image_filename": f"{name}.png", "Mask_tumor_filename": f"{name}_tumor.png",
                      "Mask_other_filename": other, "Diagnosis": "x", "Classification": label.lower()})
    pd.DataFrame(table).to_excel(root / "BrEaST-Lesions-USG clinical data.xlsx", index=False)
    return root


def class_folders(root, *, with_masks=True):
    """BUSI's layout: Dataset_BUSI_with_GT/<class>/<name>.png with <name>_mask.png, _mask_1 beside."""
    inner = root / "Dataset_BUSI_with_GT"
    for c, n in (("benign", 3), ("malignant", 2)):
        for k in range(1, n + 1):
            _png(inner / c / f"{c} ({k}).png", 7 * k + len(c))
            if with_masks:
                _mask(inner / c / f"{c} ({k})_mask.png")
    if with_masks:
        _mask(inner / "benign" / "benign (1)_mask_1.png")
    return root


# --------------------------------------------------------------------------- layouts, no option

def test_bus_bra_as_shipped_reads_with_no_option(tmp_path):
    rel = read_release(bus_bra_as_shipped(tmp_path / "BUS-BRA"))
    s = rel.summary
    assert (s.n_images, s.n_masks_paired, s.n_mask_files) == (5, 5, 5)
    assert (s.table.name, s.image_column, s.label_column, s.group_column) == ("bus_data.csv", "ID", "Pathology", "Case")
    assert s.classes == {"benign": 2, "malignant": 3} and s.n_patients == 3 and s.patient_source == "column"
    assert s.left_out == [] and "Masks/" in s.mask_rule
    assert [m[0].name for m in rel.masks][:2] == ["mask_0001-l.png", "mask_0001-r.png"]
    assert all(p.parent.name == "Images" for p in rel.images)  # a mask is never a sample
    assert "Images" not in s.classes  # a container folder is never a class


def test_breast_lesions_usg_as_shipped_reads_with_no_option(tmp_path):
    rel = read_release(breast_as_shipped(tmp_path / "breast"))
    s = rel.summary
    assert s.n_images == 4 and [p.name for p in rel.images] == [f"case00{k}.png" for k in range(1, 5)]
    assert (s.image_column, s.label_column, s.group_column) == ("Image_filename", "Classification", "CaseID")
    assert s.classes == {"benign": 2, "malignant": 1, "normal": 1} and s.patient_source == "column"
    assert (s.n_masks_paired, s.n_mask_files) == (4, 4) and "Mask_tumor_filename" in s.mask_column
    # the mask of another finding is paired but never taken for the lesion
    assert s.left_out_counts() == {"mask": 1} and "case002_other1.png" in s.left_out[0][0]
    assert "'other'" in s.mask_rule and rel.masks[1] == (rel.root / rel.images[1].parent.name / "case002_tumor.png",)


def test_class_folders_join_several_masks_and_the_wrapper_is_no_class(tmp_path):
    root = class_folders(tmp_path / "busi")
    rel = read_release(root)
    s = rel.summary
    assert s.classes == {"benign": 3, "malignant": 2} and s.class_source == "the folder names"
    assert (s.n_masks_paired, s.n_mask_files) == (5, 6) and "1 with several joined" in s.mask_rule
    assert s.patient_source == "one per image" and s.table is None
    data = load_data(root)  # the commands' reader: the same images, masks joined by union
    assert len(data.paths) == 5 and data.target_names.tolist() == ["benign", "malignant"]
    assert int(data.masks[0].sum()) == 7 * 14 and data.near_duplicate_groups


def test_patient_folders_and_a_table_of_labels(tmp_path):
    rows = ["file,diagnosis"]
    for p in range(12):
        for v in range(2):
            _png(tmp_path / "rel" / f"P{p:03d}" / f"view{v}.png", p * 3 + v)
            rows.append(f"P{p:03d}/view{v}.png,{'Benign' if p % 2 else 'Malignant'}")
    (tmp_path / "rel" / "labels.csv").write_text("\n".join(rows) + "\n")
    s = read_release(tmp_path / "rel").summary
    assert s.patient_source == "folder" and s.n_patients == 12 and s.classes == {"benign": 12, "malignant": 12}


def test_file_name_prefix_gives_the_patients(tmp_path):
    for c in ("benign", "malignant"):
        for p in ("ABCD", "EFGH"):
            for n in range(2):
                _png(tmp_path / c / f"{p}{c[0]}_{n:03d}.png", n + len(p + c))
    s = read_release(tmp_path).summary
    assert s.patient_source == "file-name prefix" and s.n_patients == 4


# --------------------------------------------------------------------------- options: used or refused by name

def test_an_absent_column_is_refused_with_the_nearest_name(tmp_path):
    root = bus_bra_as_shipped(tmp_path / "BUS-BRA")
    with pytest.raises(ReleaseError, match=r"--label-column 'Pathologgy'.*did you mean 'Pathology'.*'BIRADS'"):
        read_release(root, label_column="Pathologgy")
    rel = read_release(root, label_column="Histology", group_column="ID")
    assert rel.summary.classes == {"fibroadenoma": 2, "idc": 3} and rel.summary.n_patients == 5


def test_a_column_option_without_a_table_is_refused(tmp_path):
    with pytest.raises(ReleaseError, match=r"--image-column 'ID'.*holds no table"):
        read_release(class_folders(tmp_path / "busi"), image_column="ID")


def test_mask_pattern_replaces_the_mask_words(tmp_path):
    for k in range(3):
        _png(tmp_path / "benign" / f"s{k}.png", k)
        _mask(tmp_path / "benign" / f"s{k}.seg.png")
        _png(tmp_path / "malignant" / f"t{k}.png", k + 5)
        _mask(tmp_path / "malignant" / f"t{k}.seg.png")
    rel = read_release(tmp_path, mask_pattern="{stem}.seg.png")
    assert rel.summary.n_images == 6 and rel.summary.n_masks_paired == 6 and "--mask-pattern" in rel.summary.mask_rule
    with pytest.raises(ReleaseError, match=r"--mask-pattern '\{stem\}_nothing\*' pairs no file"):
        read_release(tmp_path, mask_pattern="{stem}_nothing*")


# --------------------------------------------------------------------------- bad input: refused or named

def test_a_row_naming_a_file_outside_the_release_is_refused(tmp_path):
    root = tmp_path / "rel"
    for k in range(3):
        _png(root / "images" / f"{k}.png", k)
    _png(tmp_path / "secret.png", 9)
    (root / "t.csv").write_text("image,label\nimages/0.png,benign\nimages/1.png,malignant\n../secret.png,benign\n"
                                "images/2.png,benign\n")
    with pytest.raises(ReleaseError, match=r"row 4 of t\.csv: '\.\./secret\.png' names a file outside the release"):
        read_release(root)
    (root / "t.csv").write_text(f"image,label\nimages/0.png,benign\nimages/1.png,malignant\n"
                                f"{tmp_path / 'secret.png'},benign\n")
    with pytest.raises(ReleaseError, match="row 4 of t.csv"):
        read_release(root)


def test_absolute_paths_written_on_another_machine_find_the_release_s_files_by_their_end(tmp_path):
    """A table written where the data lay elsewhere (``/home/alice/breast/images/benign/1.png``): each row finds
    the release's file by its path's end, the longest that names one (two ``1.png``), said; it was refused as
    naming files outside the release. A path whose end names no file of the release is still refused."""
    root = tmp_path / "rel"
    rows = ["image,label"]
    for k, label in enumerate(["benign", "malignant", "benign", "malignant"]):
        _png(root / "images" / label / f"{k // 2}.png", k)
        rows.append(f"/home/alice/breast/images/{label}/{k // 2}.png,{label}")
    (root / "t.csv").write_text("\n".join(rows) + "\n")
    rel = read_release(root)
    s = rel.summary
    assert s.classes == {"benign": 2, "malignant": 2} and not s.left_out
    assert sorted(Path(p).relative_to(root).as_posix() for p in rel.images) == sorted(r.split(",")[0][19:]
                                                                                    for r in rows[1:])
    assert ("4 row(s) of t.csv name their image by an absolute path outside the release (where the table was "
            "written): each found in the release by its path's end.") in s.notes
    (root / "t.csv").write_text("\n".join(rows + ["/home/alice/breast/images/benign/9.png,benign"]) + "\n")
    with pytest.raises(ReleaseError, match="row 6 of t.csv: '/home/alice/breast/images/benign/9.png' names a file "
                                           "outside the release"):
        read_release(root)


@pytest.mark.skipif(os.name == "nt", reason="symbolic links")
def test_a_link_leading_out_is_left_out_by_name(tmp_path):
    root = class_folders(tmp_path / "busi", with_masks=False)
    _png(tmp_path / "elsewhere.png", 3)
    (root / "Dataset_BUSI_with_GT" / "benign" / "linked.png").symlink_to(tmp_path / "elsewhere.png")
    s = read_release(root).summary
    assert s.left_out_counts() == {"outside the release": 1} and s.n_images == 5
    assert s.left_out[0][0].endswith("linked.png")


def test_not_an_image_unreadable_and_a_mask_of_another_size_are_named(tmp_path):
    root = class_folders(tmp_path / "busi")
    inner = root / "Dataset_BUSI_with_GT"
    (inner / "benign" / "notes.png").write_text("not a picture")
    (inner / "malignant" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    _mask(inner / "malignant" / "malignant (2)_mask.png", shape=(10, 10))  # replaces its mask
    s = read_release(root).summary
    counts = s.left_out_counts()
    assert counts == {"not an image": 1, "unreadable": 1, "mask size differs": 1}, s.left_out
    assert s.n_images == 5 and s.n_masks_paired == 4
    assert any(r.reason == "mask size differs" and "10x10 for an image of 32x24" in r.detail for r in s.left_out)
    with pytest.raises(Exception, match="notes.png|broken.png"):  # the loader names them, or skips them
        load_data(root)
    with pytest.warns(UserWarning):
        data = load_data(root, on_error="skip")
    assert len(data.paths) == 5 and len(data.skipped) == 2 and len(data.dropped_masks) == 1


def test_one_image_under_two_labels_and_a_duplicate_row_are_named(tmp_path):
    root = tmp_path / "rel"
    for k in range(4):
        _png(root / "scans" / f"{k}.png", k)
    (root / "t.csv").write_text("image,label\n0.png,benign\n1.png,malignant\n2.png,benign\n3.png,benign\n"
                                "1.png,benign\n3.png,benign\n")
    s = read_release(root).summary
    assert s.left_out_counts() == {"duplicate": 1, "two labels": 1} and s.n_images == 3
    two = next(r.text() for r in s.left_out if r.reason == "two labels")
    assert "rows 3" in two or "row(s) 3" in two


def test_a_table_label_against_its_class_folder_is_refused(tmp_path):
    _png(tmp_path / "benign" / "case001.png", 1)
    _png(tmp_path / "malignant" / "case002.png", 2)
    (tmp_path / "t.csv").write_text("ID,CaseID,Classification\ncase001,1,malignant\ncase002,2,malignant\n")
    with pytest.raises(ReleaseError, match=r"row 2 of t\.csv: 'case001' is 'malignant'.*in the 'benign' folder"):
        read_release(tmp_path)


def test_an_xlsx_that_unpacks_too_large_and_too_many_rows_are_refused(tmp_path, monkeypatch):
    import featbus.datasets._release_tables as tables

    root = breast_as_shipped(tmp_path / "breast")
    monkeypatch.setattr(tables, "MAX_XLSX_BYTES", 1000)
    with pytest.raises(ReleaseError, match=r"clinical data\.xlsx' unpacks to .* refused above"):
        read_release(root)
    monkeypatch.undo()
    (root / "big.csv").write_text("image,label\n" + "".join(f"x{k}.png,benign\n" for k in range(30)))
    monkeypatch.setattr(tables, "MAX_ROWS", 20)
    with pytest.raises(ReleaseError, match=r"big\.csv' has more than 20 rows"):
        read_release(root)


def test_a_zip_bomb_is_refused_before_openpyxl_opens_it(tmp_path, monkeypatch):
    root = class_folders(tmp_path / "busi", with_masks=False)
    with zipfile.ZipFile(root / "bomb.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (210 * 2**20))  # 210 MB of zeros, a few kB packed

    def no_openpyxl(*a, **k):
        raise AssertionError("openpyxl opened the bomb")

    import openpyxl

    monkeypatch.setattr(openpyxl, "load_workbook", no_openpyxl)
    with pytest.raises(ReleaseError, match=r"bomb\.xlsx' unpacks to 210 MB"):
        read_release(root)


def test_formula_cells_are_text_and_escaped_in_the_index(tmp_path):
    root = tmp_path / "rel"
    _png(root / "images" / "=cmd.png", 1)
    _png(root / "images" / "b.png", 2)
    (root / "t.csv").write_text('image,label,patient\n=cmd.png,benign,=HYPERLINK("http://x")\nb.png,malignant,@p\n')
    rel = read_release(root)
    assert rel.groups == ['=HYPERLINK("http://x")', "@p"]  # text, never evaluated
    index = rel.write_index(tmp_path / "index.csv")
    raw = index.read_text()
    assert "'=HYPERLINK" in raw and "'@p" in raw and ",=" not in raw
    back = read_release(index)
    assert back.groups == rel.groups and [p.resolve() for p in back.images] == [p.resolve() for p in rel.images]


def test_the_index_is_data_for_every_loader(tmp_path):
    root = bus_bra_as_shipped(tmp_path / "BUS-BRA")
    rel = read_release(root)
    (tmp_path / "out").mkdir()
    index = rel.write_index(tmp_path / "out" / "index.csv")
    frame = pd.read_csv(index)
    assert frame.columns.tolist() == ["image", "label", "group", "mask"] and len(frame) == 5
    assert rel.to_frame()["image"].tolist()[0] == "Images/bus_0001-l.png"
    data = load_data(index)
    assert len(data.paths) == 5 and sorted(np.unique(data.groups)) == [0, 1, 2]
    # the paragraph names the index given, not its folder ('.' when read from beside it)
    assert read_release(index).summary.text().startswith(f"read {str(index)!r}: 5 images")
    assert all(m.any() for m in data.masks) and data.release_summary.n_mask_files == 5


def test_an_index_of_images_without_patients_keeps_their_near_duplicates_in_one_group(tmp_path):
    """BUSI's case: no patient column, folder or prefix, so commands group near-duplicate images. The index
    writes no 'group' column for it (it wrote each image's name, which read back as 625 patients given:
    near-duplicates in different folds, BUSI's cross-validated AUC 0.633 from its index against 0.592)."""
    root = tmp_path / "rel"
    for c, values in (("benign", (10, 20, 30)), ("malignant", (40, 50, 60))):
        for v in values:
            _png(root / c / f"{c} ({v}).png", v, shape=(64, 64))
    (root / "benign" / "benign (99).png").write_bytes((root / "benign" / "benign (10).png").read_bytes())
    folder = load_data(root)
    index = read_release(root).write_index(tmp_path / "index.csv")
    assert "group" not in pd.read_csv(index).columns
    back = read_release(index)
    assert back.summary.patient_source == "one per image" and "near-duplicate" in back.summary.text()
    again = back.write_index(tmp_path / "again.csv")  # the index of that index: still no patients given
    assert "group" not in pd.read_csv(again).columns
    data = load_data(index)
    same = [data.paths.index(str(root / "benign" / f"benign ({v}).png")) for v in (10, 99)]
    assert data.groups[same[0]] == data.groups[same[1]]  # one frame saved twice: one group, as from the folder
    assert len(set(data.groups)) == len(set(folder.groups)) == 6
    with zipfile.ZipFile(tmp_path / "rel.zip", "w") as z:  # the same release as a zip: its members' names
        for f in sorted(root.rglob("*.png")):
            z.write(f, f.relative_to(tmp_path).as_posix())
    index = read_release(tmp_path / "rel.zip").write_index(tmp_path / "zipped.csv")
    assert "group" not in pd.read_csv(index).columns and len(set(load_data(index).groups)) == 6


# --------------------------------------------------------------------------- the shared sets, unchanged

@pytest.mark.slow
@pytest.mark.parametrize("name, counts", [
    ("busi", (625, {"benign": 345, "malignant": 169, "normal": 111}, 625)),
    ("bus-bra", (809, {"benign": 566, "malignant": 243}, 490)),
    ("breast-lesions-usg", (256, {"benign": 154, "malignant": 98, "normal": 4}, 256)),
    ("mini-mias", (120, {"normal": 81, "benign": 24, "malignant": 15}, 60)),
])
def test_shared_sets_read_as_before(name, counts):
    if not (DATA / name).is_dir():
        pytest.skip(f"../shared/data/{name} absent")
    s = read_release(DATA / name).summary
    assert (s.n_images, s.classes, s.n_patients) == counts and s.left_out == []


# --------------------------------------------------------------------------- the commands

def test_featbus_read_prints_the_paragraph_and_writes_the_index(tmp_path, capsys):
    root = breast_as_shipped(tmp_path / "breast")
    index = tmp_path / "index.csv"
    assert main(["read", str(root), "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "4 images; 4 paired with 4 mask files" in out and "labels 'Classification'" in out and index.is_file()
    assert main(["read", str(root), "--index", str(index)]) == 2  # no --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(["read", str(index)]) == 0
    assert "4 images" in capsys.readouterr().out


def test_an_option_is_refused_by_name_before_any_model_loads(tmp_path, capsys, monkeypatch):
    import featbus.cli._startup as startup

    root = bus_bra_as_shipped(tmp_path / "BUS-BRA")
    assert main(["read", str(root), "--group-column", "Cse"]) == 2
    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1 and "--group-column 'Cse'" in err[0] and "did you mean 'Case'" in err[0]

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the data were read")

    monkeypatch.setattr(startup, "_load_model_cli", no_model)
    assert main(["validate", "breast-us", str(root), "--label-column", "Pathologgy"]) == 2
    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1 and "did you mean 'Pathology'" in err[0] and "Traceback" not in err[0]


def test_every_command_prints_the_paragraph_once(tmp_path, capsys):
    root = bus_bra_as_shipped(tmp_path / "BUS-BRA")
    out = tmp_path / "f.csv"
    assert main(["extract", str(root), "-f", "intensity", "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("read '") == 1 and "5 paired with 5 mask files" in err
    assert len(pd.read_csv(out)) == 5


def test_predict_gives_one_row_per_scan_with_masks_beside_them(tmp_path, capsys):
    from featbus.datasets import make_phantoms
    from featbus.workflows.training import train_model

    phantoms = make_phantoms(20, image_size=32, random_state=0)
    model = train_model(phantoms, "intensity", classifier="logreg", cross_validate=False, progress=False)
    model_path = tmp_path / "m.featbus"
    model.save(model_path)
    root = breast_as_shipped(tmp_path / "breast")
    table = tmp_path / "p.csv"
    assert main(["predict", str(model_path), str(root), "-o", str(table), "-q"]) == 0
    rows = pd.read_csv(table)
    assert len(rows) == 4 and not any("_tumor" in p or "_other" in p for p in rows["image"])
    err = capsys.readouterr().err
    # the reader's paragraph, as featbus read says it: the 'other' mask named, not used as the lesion
    assert "4 images; 4 paired with 4 mask files" in err and "1 'other' masks not used as the lesion" in err


def test_predict_takes_a_mask_pattern_for_masks_the_words_miss(tmp_path, capsys):
    from featbus.datasets import make_phantoms
    from featbus.workflows.training import train_model

    phantoms = make_phantoms(20, image_size=32, random_state=0)
    model = train_model(phantoms, "intensity", classifier="logreg", cross_validate=False, progress=False)
    model_path = tmp_path / "m.featbus"
    model.save(model_path)
    for k in range(3):
        _png(tmp_path / "scans" / f"s{k}.png", k)
        _mask(tmp_path / "scans" / f"s{k}-annot-v2.png")
    table = tmp_path / "p.csv"
    assert main(["predict", str(model_path), str(tmp_path / "scans"), "-o", str(table), "-q"]) == 0
    assert len(pd.read_csv(table)) == 6  # nothing says these are masks: every file is a scan
    assert main(["predict", str(model_path), str(tmp_path / "scans"), "-o", str(table), "-q", "--overwrite",
                 "--mask-pattern", "{stem}-annot-v2.png"]) == 0
    rows = pd.read_csv(table)
    assert len(rows) == 3 and not any("annot" in p for p in rows["image"])
    assert "3 paired with 3 mask files (--mask-pattern '{stem}-annot-v2.png')" in capsys.readouterr().err


def test_an_escaped_index_is_data_for_the_commands(tmp_path, capsys):
    root = tmp_path / "rel"
    for k, name in enumerate(["=cmd.png", "+b.png", "c.png", "d.png"]):
        _png(root / name, k)
    (root / "t.csv").write_text("image,label,patient\n=cmd.png,benign,=1\n+b.png,malignant,@2\nc.png,benign,=1\n"
                                "d.png,malignant,@2\n")
    index = read_release(root).write_index(root / "index.csv")  # beside the images: their names as they are
    assert "'=cmd.png" in index.read_text() and "'+b.png" in index.read_text()
    data = load_data(index)  # a manifest: every cell unescaped, every file found
    assert sorted(os.path.basename(p) for p in data.paths) == ["+b.png", "=cmd.png", "c.png", "d.png"]
    group = dict(zip((os.path.basename(p) for p in data.paths), data.groups.tolist()))
    assert group["=cmd.png"] == group["c.png"] != group["+b.png"] == group["d.png"]  # '=1' and '@2', unescaped
    out = tmp_path / "f.csv"
    assert main(["extract", str(index), "-f", "intensity", "-o", str(out), "-q"]) == 0
    assert len(pd.read_csv(out)) == 4


def test_a_table_by_patient_labels_the_images_of_each_patient_folder(tmp_path):
    """One folder per patient and a table with a row per patient (no row per image): the table's
    key column names the folders, its label column labels every image in them; a folder without a
    row is left out by name, never read as a class."""
    root = tmp_path / "study"
    for p, n in (("P001", 2), ("P002", 1), ("P003", 2), ("P004", 1)):
        for v in range(n):
            _png(root / p / f"IMG_{v}.png", 11 * int(p[1:]) + v)
    pd.DataFrame({"Patient": ["P001", "P002", "P003"], "Diagnosis": ["benign", "malignant", "malignant"],
                  "Age": [51, 47, 63]}).to_csv(root / "patients.csv", index=False)
    rel = read_release(root)
    assert [p.relative_to(root).as_posix() for p in rel.images] == \
        ["P001/IMG_0.png", "P001/IMG_1.png", "P002/IMG_0.png", "P003/IMG_0.png", "P003/IMG_1.png"]
    assert rel.labels == ["benign", "benign", "malignant", "malignant", "malignant"]
    assert rel.groups == ["P001", "P001", "P002", "P003", "P003"]
    text = rel.summary.text()
    assert "table patients.csv (patient folders 'Patient', labels 'Diagnosis')" in text
    assert "left out 1 (no row, e.g. 'P004/IMG_0.png')" in text and "(the folder names)" not in text


def test_a_table_describing_the_class_folders_is_no_table_by_patient(tmp_path):
    """A table whose one row per class names the class folders (``classes.csv``) does not label the
    images: the folders stay the classes."""
    for c in ("benign", "malignant"):
        for k in range(2):
            _png(tmp_path / c / f"{c}_{k}.png", 20 * k + len(c))
    pd.DataFrame({"class": ["benign", "malignant"], "description": ["not cancer", "cancer"]}).to_csv(
        tmp_path / "classes.csv", index=False)
    rel = read_release(tmp_path)
    assert rel.labels == ["benign", "benign", "malignant", "malignant"]
    assert rel.summary.class_source == "the folder names" and rel.summary.key_role == "images"


@pytest.mark.parametrize("column, unit", [("Pixel_size", None), ("pixel spacing (cm)", "mm")])
def test_an_index_gives_the_pixel_sizes_the_folder_gives(tmp_path, column, unit):
    """``load_data(index.csv)`` and ``load_data(folder)``: one reader, the same pixel size for every
    image (a size in cm written to the index in mm, one without a unit under the release's column)."""
    from featbus._records import PIXEL_SIZE_KEY

    root = tmp_path / "rel"
    rows = []
    for k in range(4):
        _png(root / "images" / f"s{k}.png", 20 * k)
        rows.append({"image": f"s{k}", "label": "benign" if k % 2 else "malignant", "patient": f"P{k // 2}",
                     column: "" if k == 3 else f"{0.01 * (k + 1):.3f}"})
    pd.DataFrame(rows).to_csv(root / "table.csv", index=False)
    index = read_release(root).write_index(tmp_path / "index.csv")
    sizes = {}
    for source in (root, index):
        data = load_data(source)
        sizes[source] = {os.path.basename(p): r.meta.get(PIXEL_SIZE_KEY) or {} for p, r in zip(data.paths, data.data)}
    folder, listed = sizes[root], sizes[index]
    assert folder.keys() == listed.keys() == {"s0.png", "s1.png", "s2.png", "s3.png"}
    for name in folder:
        assert folder[name].get("unit") == listed[name].get("unit") == (unit if name != "s3.png" else None)
        if name == "s3.png":  # its row gives no size: none either way (pytest.approx never takes None)
            assert folder[name].get("size") is None and listed[name].get("size") is None
        else:
            assert listed[name].get("size") == pytest.approx(folder[name].get("size"), rel=1e-12)
    assert folder["s0.png"]["size"] == pytest.approx(0.01 * (10.0 if unit else 1.0), rel=1e-12)  # cm -> mm
    assert "s3.png" in folder and not folder["s3.png"]  # an empty cell: no pixel size, from either


def test_a_row_is_named_by_its_number_in_its_own_file(tmp_path):
    # the number a spreadsheet shows (blank rows counted), in the file the row is in: a per-split table's own,
    # never its place among the tables read as one (a row of valid/ was 'row 11 of test/_classes.csv')
    root = tmp_path / "blank"
    for k in range(3):
        _png(root / f"a{k}.png", 10 * k)
    (root / "labels.csv").write_text("image,label\na0.png,benign\n\n\na1.png,malignant\nmissing.png,benign\n"
                                     "a2.png,benign\na2.png,malignant\n")
    got = read_release(root)
    assert [(x.item, x.reason) for x in got.summary.left_out] == [("row 6 of labels.csv", "no image"),
                                                                 ("a2.png", "two labels")]
    assert got.summary.left_out[1].detail == ("row(s) 7 of labels.csv say 'benign'; row(s) 8 of labels.csv say "
                                              "'malignant'")
    assert got.rows[0]["row"] == 2 and got.rows[1]["row"] == 5
    root = tmp_path / "splits"
    for split, n in (("train", 3), ("valid", 2), ("test", 2)):
        lines = ["filename,benign,malignant"] + [f"{split}{k}.jpg,{k % 2},{1 - k % 2}" for k in range(n)]
        for k in range(n):
            _png(root / split / f"{split}{k}.jpg", 7 * k + n)
        if split == "valid":
            lines.append("gone.jpg,1,0")
        (root / split / "_classes.csv").write_text("\n".join(lines) + "\n")
    got = read_release(root)
    assert [x.item for x in got.summary.left_out] == ["row 4 of valid/_classes.csv"]
    assert {(Path(p).parent.name, row["row"]) for p, row in zip(got.images, got.rows)} == {
        ("test", 2), ("test", 3), ("train", "2 of train/_classes.csv"), ("train", "3 of train/_classes.csv"),
        ("train", "4 of train/_classes.csv"), ("valid", "2 of valid/_classes.csv"),
        ("valid", "3 of valid/_classes.csv")}


def test_density_letters_are_no_class_letters(tmp_path):
    # B, M and N are read as benign / malignant / normal only where every cell is one of them: a density
    # column's A-D keeps its B (TN-Mammo's labels; it was read as 'a, benign, c, d')
    root = tmp_path / "density"
    for k in range(6):
        _png(root / f"P{k:03d}" / "left_cc.png", 10 * k)
    rows = ["Patient,Label"] + [f"P{k:03d},{letter}" for k, letter in enumerate("ABCDAB")]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    assert read_release(root).summary.classes == {"a": 2, "b": 2, "c": 1, "d": 1}
    (root / "labels.csv").write_text("\n".join(["Patient,Label"] + [f"P{k:03d},{'BMBMNB'[k]}" for k in range(6)]))
    assert read_release(root).summary.classes == {"benign": 3, "malignant": 2, "normal": 1}


def test_masks_pair_within_their_split_when_names_recur(tmp_path):
    # <split>/<class>/images/1.png + <split>/<class>/masks/1.png: each split holds a 1.png (all 6 masks were
    # left out as 'mask' but those of names found once)
    root = tmp_path / "splits"
    k = 0
    for split in ("train", "valid", "test"):
        for label in ("benign", "malignant"):
            k += 1
            _png(root / split / label / "images" / "1.png", k)
            _mask(root / split / label / "masks" / "1.png")
    got = read_release(root)
    assert got.summary.n_images == 6 and not got.summary.left_out
    assert all(len(m) == 1 and Path(m[0]).parent.parent == Path(i).parent.parent for i, m in zip(got.images, got.masks))
    assert got.summary.splits == {"train": 2, "valid": 2, "test": 2}


def test_bi_rads_folders_are_classes_their_one_wrapper_no_patient(tmp_path):
    # KAU-BCMD as Kaggle ships it: BIRAD1/b1/, Birad3/b3/, ... (read as four patients, unlabelled)
    root = tmp_path / "kau"
    for k, (folder, inner) in enumerate((("BIRAD1", "b1"), ("Birad3", "b3"), ("Birad4", "b4"), ("Birad5", "Birad5"))):
        for i in range(2):
            _png(root / folder / inner / f"img_{k}{i}.jpg", 10 * k + i)
    s = read_release(root).summary
    assert s.classes == {"BIRAD1": 2, "Birad3": 2, "Birad4": 2, "Birad5": 2}
    assert s.n_patients == 8 and s.patient_source == "one per image"


def test_an_index_mask_drawn_at_another_size_is_left_out_never_rendered(tmp_path, capsys):
    # 'labels/a.txt#<W>x<H>': the size is the cell's; 100000 x 100000 was rendered by train (931 GiB refused by
    # numpy, no row named), 64 x 64 for a 32 x 32 image rendered, then dropped by numpy's broadcast error
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    rows = ["image,label,mask"]
    for i, size in enumerate((100000, 64, 32, 32)):
        _png(tmp_path / "images" / f"im{i}.png", 10 * i, shape=(32, 32))
        (tmp_path / "labels" / f"im{i}.txt").write_text("0 0.1 0.1 0.9 0.1 0.9 0.9 0.1 0.9\n")
        rows.append(f"images/im{i}.png,{'benign' if i % 2 else 'malignant'},labels/im{i}.txt#{size}x{size}")
    index = tmp_path / "index.csv"
    index.write_text("\n".join(rows) + "\n")
    assert main(["read", str(index)]) == 0
    out, err = capsys.readouterr()
    assert "left out 1 (mask size differs, e.g. 'row 3 of index.csv'), 1 (too large, e.g. 'row 2 of index.csv')" in out
    assert "drawn at 64x64, the image is 32x32 (the image kept without it)" in err
    data = load_data(index, on_error="skip")
    assert [bool(m.any()) for m in data.masks] == [False, False, True, True]
    assert "drawn at 64x64, the image is 32x32" in str(data.dropped_masks)


def test_a_label_across_two_lines_is_refused_naming_its_row(tmp_path):
    # a quoted cell holding a line break became the class 'benign\nmalignant' and split the paragraph in two
    for k in range(3):
        _png(tmp_path / f"a{k}.png", 10 * k)
    (tmp_path / "labels.csv").write_text('image,label\na0.png,benign\na1.png,"benign\nmalignant"\na2.png,malignant\n')
    with pytest.raises(ReleaseError, match=r"^row 3 of labels.csv: the 'label' of image 'a1.png' is "
                                           r"'benign\\nmalignant'"):
        read_release(tmp_path)


def test_year_folders_above_class_folders_are_no_patients(tmp_path):
    # an export per year, 2019/benign/... 2021/malignant/...: the years were read as three patients
    k = 0
    for year in ("2019", "2020", "2021"):
        for label in ("benign", "malignant"):
            for _ in range(2):
                k += 1
                _png(tmp_path / year / label / f"{k:03d}.png", k)
    s = read_release(tmp_path).summary
    assert s.classes == {"benign": 6, "malignant": 6}
    assert s.patient_source == "one per image" and s.n_patients == 12
    assert s.class_source == "the folder names, under '2019', '2020', '2021': neither classes nor patients"


def test_a_mask_folder_pairs_beside_a_folder_named_as_images(tmp_path):
    # DMID: 'TIFF Images/IMG001.tif' beside 'ROI Masks/IMG001.tif' (every mask was left out, unpaired)
    for k in range(1, 4):
        _png(tmp_path / "TIFF Images" / f"IMG00{k}.png", 10 * k)
        if k < 3:
            _mask(tmp_path / "ROI Masks" / f"IMG00{k}.png")
    s = read_release(tmp_path).summary
    assert s.n_images == 3 and s.n_mask_files == 2 and not s.left_out
    assert s.mask_rule == "the same name in ROI Masks/"
