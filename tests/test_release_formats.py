"""The formats data sets are distributed in, read with no option (issue 96 items 2 and 3): a Kaggle
zip (and tar) read in place, MedMNIST's .npz, Hugging Face Hub parquet, Roboflow YOLO, Label
Studio's JSON; images that are no files (an archive's member, an array's row) through the index,
the pixel loop, extract and predict; the archives an attacker crafts refused by name."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter

import numpy as np
import pytest
from _format_builders import (
    build_attack_tar,
    build_attack_zip,
    build_busi_tar,
    build_busi_zip,
    build_hf_parquet,
    build_labelme,
    build_labelstudio,
    build_medmnist,
    build_nnunet,
    build_roboflow_masks,
    build_table_release,
    build_yolo,
    frame,
    table_members,
    zip_folder,
)
from PIL import Image

import featbus.io as fio
from featbus.cli import main
from featbus.datasets import read_release
from featbus.datasets.release import ReleaseError
from featbus.datasets.sources._refs import (
    ArchiveError,
    ArchiveMember,
    ArrayRow,
    list_archive,
    member_file,
    reference_from_text,
)


def _by_name(rel, truth):
    """Each read image's truth, by the name its reference or path ends with (every image once)."""
    found = {}
    for k, image in enumerate(rel.images):
        name = next(n for n in truth.images if os.fspath(image).endswith(n))
        assert name not in found, f"{name} read twice"
        found[name] = k
    assert set(found) == set(truth.images)
    return found


def _check(rel, truth, *, masks=True):
    """Counts, classes, patients, masks and splits against the builder's truth."""
    at = _by_name(rel, truth)
    assert rel.summary.n_images == len(truth.images)
    assert [rel.labels[at[n]] for n in truth.images] == [t[0] for t in truth.images.values()]
    assert rel.summary.classes == dict(Counter(t[0] for t in truth.images.values()))
    patients = {}
    for n, t in truth.images.items():  # images of one patient key share a group, others never do
        if t[1] is not None:
            patients.setdefault(t[1], set()).add(rel.groups[at[n]])
    assert all(len(g) == 1 for g in patients.values())
    assert len({g for gs in patients.values() for g in gs}) == len(patients)
    splits = [t[3] for t in truth.images.values()]
    if any(splits):
        assert [rel.splits[at[n]] for n in truth.images] == splits
    if masks:
        bunch = rel.to_bunch(require_labels=False, guess_groups=False)
        pixels = {n: int(np.asarray(bunch.masks[bunch.paths.index(os.fspath(rel.images[at[n]]))]).sum())
                  for n in truth.images}
        assert pixels == {n: t[2] for n, t in truth.images.items()}
        return bunch
    return None


# ------------------------------------------------------------------ archives


def test_a_kaggle_zip_reads_like_its_unpacked_folder(tmp_path):
    truth = build_busi_zip(tmp_path)
    rel = read_release(truth.path)
    bunch = _check(rel, truth)
    assert all(isinstance(i, ArchiveMember) for i in rel.images)
    assert rel.summary.class_source == "the folder names inside archive.zip"
    assert sum(len(m) for m in rel.masks) == 12  # 9 _mask.png and 3 _mask_1.png
    assert rel.summary.root == truth.path and not rel.summary.left_out
    assert all(m.member.startswith("Dataset_BUSI_with_GT/") for m in rel.images)
    unpacked = tmp_path / "unpacked"  # the same release unpacked: the same pixels, labels and masks
    import zipfile

    with zipfile.ZipFile(truth.path) as zf:
        zf.extractall(unpacked)
    folder = read_release(unpacked).to_bunch(require_labels=False, guess_groups=False)
    assert [p.split("!", 1)[1] for p in bunch.paths] == [os.path.relpath(p, unpacked) for p in folder.paths]
    for a, b in zip(bunch.images, folder.images):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(bunch.target, folder.target)


@pytest.mark.parametrize("name", ["busi.tar", "busi.tar.gz"])
def test_a_tar_reads_like_its_unpacked_folder(tmp_path, name):
    truth = build_busi_tar(tmp_path, name)
    _check(read_release(truth.path), truth)


def test_an_archive_inside_a_release_folder(tmp_path):
    truth = build_busi_zip(tmp_path / "download")
    rel = read_release(tmp_path / "download")
    _check(rel, truth)
    assert "images listed by archive.zip (archive)" in rel.summary.text()


def test_archive_attacks_are_refused_by_name(tmp_path):
    members, left = list_archive(build_attack_zip(tmp_path), (".png",))
    assert members == ["benign/good (1).png", "malignant/good (2).png"]
    said = {r.item: (r.reason, r.detail) for r in left}
    assert said["attack.zip!../evil.png"][0] == "outside the release"
    assert said["attack.zip!/etc/evil.png"][0] == "outside the release"
    assert said["attack.zip!benign/link.png"] == ("unreadable", "a link inside the archive, not followed (never read)")
    assert said["attack.zip!benign/nested.zip"][0] == "not an image"
    members, left = list_archive(build_attack_tar(tmp_path), (".png",))
    assert members == ["benign/a (1).png", "malignant/b (1).png"]
    said = {r.item: r.reason for r in left}
    assert said == {"attack.tar!../../escape.png": "outside the release", "attack.tar!benign/sym.png": "unreadable",
                    "attack.tar!benign/hard.png": "unreadable", "attack.tar!benign/fifo.png": "unreadable"}
    rel = read_release(tmp_path / "attack.zip")  # the good images read, the others named
    assert rel.summary.n_images == 2 and rel.summary.left_out_counts()["outside the release"] == 2


def test_archive_budgets_refuse_by_name(tmp_path, monkeypatch):
    truth = build_busi_zip(tmp_path)
    monkeypatch.setattr(fio, "MAX_ARCHIVE_BYTES", 1000)  # a total-size bomb: refused whole, before any read
    with pytest.raises(ReleaseError, match=r"declares .* bytes of members, more than featbus.io.MAX_ARCHIVE_BYTES"):
        read_release(truth.path)
    monkeypatch.setattr(fio, "MAX_ARCHIVE_BYTES", 1 << 40)
    monkeypatch.setattr(fio, "MAX_ARCHIVE_MEMBERS", 10)
    with pytest.raises(ReleaseError, match=r"more than featbus.io.MAX_ARCHIVE_MEMBERS = 10"):
        read_release(truth.path)
    monkeypatch.setattr(fio, "MAX_ARCHIVE_MEMBERS", 1_000_000)
    monkeypatch.setattr(fio, "MAX_ARCHIVE_MEMBER_BYTES", 500)  # each image is above it: left out, named
    members, left = list_archive(truth.path, (".png",))
    too_large = [r for r in left if r.reason == "too large"]
    assert too_large and all("MAX_ARCHIVE_MEMBER_BYTES = 500" in r.detail for r in too_large)
    # a member read past its budget stops one byte past it, whatever its header declares
    member = ArchiveMember(truth.path, "Dataset_BUSI_with_GT/benign/benign (1).png")
    with pytest.raises(fio.ImageError, match="expands beyond the budget of one member"):
        member.read()
    assert all(name in fio.RELEASE_LIMITS for name in ("MAX_ARCHIVE_MEMBERS", "MAX_ARCHIVE_MEMBER_BYTES",
                                                       "MAX_ARCHIVE_BYTES", "MAX_ARRAY_BYTES"))


@pytest.mark.parametrize("name", ["lesions.zip", "lesions.tar.gz"])
def test_an_archived_release_reads_its_table_as_the_unpacked_folder(tmp_path, name):
    folder, path, truth = build_table_release(tmp_path, name)
    unpacked, archived = read_release(folder), read_release(path)
    assert all(isinstance(i, ArchiveMember) for i in archived.images)

    def by_name(rel, strip):  # each image's label, patient and pixel size, by its name below the release
        return {strip(i): (lab, g, p["size"]) for i, lab, g, p in zip(rel.images, rel.labels, rel.groups,
                                                                       rel.pixel_sizes)}

    got = by_name(archived, lambda i: i.member.removeprefix("lesions/"))
    assert got == by_name(unpacked, lambda i: i.relative_to(folder).as_posix())
    assert {n: (lab, g) for n, (lab, g, _) in got.items()} == {n: t[:2] for n, t in truth.items()}
    assert all(abs(got[n][2] - t[2]) < 1e-12 for n, t in truth.items())  # the cells' decimals, as read
    s, f = archived.summary, unpacked.summary
    assert s.table.name == f.table.name == "table.csv" and s.table == ArchiveMember(path.resolve(),
                                                                                     "lesions/table.csv")
    for field in ("image_column", "label_column", "group_column", "pixel_size_column", "classes", "n_patients",
                  "patient_source"):
        assert getattr(s, field) == getattr(f, field), field
    assert s.class_source == f"{f.class_source} inside {name}" and not s.left_out  # LICENSE.txt skipped, as a folder's
    assert archived.rows[0]["Classification"] in ("Benign", "Malignant")
    text = s.text()
    assert "table table.csv (images 'ID', labels 'Classification', patients 'CaseID')" in text
    assert "pixel size from column 'Pixel_size' (unit not stated) for 8 of 8 images" in text


@pytest.mark.parametrize("name", ["lesions.zip", "lesions.tar.gz"])
def test_an_archived_release_loads_with_its_tables_pixel_sizes(tmp_path, name):
    """A member with a table's pixel size loads as a file does (the record ``featbus predict`` hands
    the model: the member's own size known, so the size scales with the working size); its pixels
    and pixel size are the unpacked file's, and extract reads the archive through the command."""
    from featbus._records import PIXEL_SIZE_KEY, ImageRecord
    from featbus.io import load_item

    folder, path, _ = build_table_release(tmp_path, name)
    archived, unpacked = read_release(path), read_release(folder)
    files = {i.relative_to(folder).as_posix(): (i, p) for i, p in zip(unpacked.images, unpacked.pixel_sizes)}
    for member, size in zip(archived.images, archived.pixel_sizes):
        file, file_size = files[member.member.removeprefix("lesions/")]
        got = load_item(ImageRecord(member, None, str(member), {PIXEL_SIZE_KEY: size}))
        want = load_item(ImageRecord(file, None, str(file), {PIXEL_SIZE_KEY: file_size}))
        np.testing.assert_array_equal(got.image, want.image)  # the same decoder on the same bytes
        assert got.meta[PIXEL_SIZE_KEY]["size"] == pytest.approx(want.meta[PIXEL_SIZE_KEY]["size"], rel=1e-12)
    out = tmp_path / "f.csv"
    assert main(["extract", str(path), "-f", "intensity", "-o", str(out)]) == 0
    with open(out, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(archived.images)


def test_a_zipped_rsna_release_reads_as_its_unpacked_folder(tmp_path):
    from _mammo_builders import build_rsna

    folder = build_rsna(tmp_path).root  # train.csv and test.csv read by the RSNA source inside the zip too
    path = zip_folder(folder, tmp_path / "rsna.zip", tmp_path)
    unpacked, archived = read_release(folder), read_release(path)

    def by_name(rel, strip):
        return {strip(i): (lab, g, sp) for i, lab, g, sp in zip(rel.images, rel.labels, rel.groups, rel.splits)}

    got = by_name(archived, lambda i: i.member.removeprefix(folder.name + "/"))
    assert got == by_name(unpacked, lambda i: i.relative_to(folder).as_posix()) and len(got) == 33
    assert archived.summary.classes == unpacked.summary.classes == {"cancer": 6, "no cancer": 19}
    assert archived.summary.splits == unpacked.summary.splits


@pytest.mark.parametrize("name", ["mg.zip", "mg.tar.gz"])
def test_dicom_headers_inside_an_archive_give_patients_and_pixel_sizes_as_the_folder(tmp_path, name):
    """No table: the patients are each file's PatientID and the pixel sizes its PixelSpacing, read
    from the member's bytes (bounded, as its probe reads them), as in the unpacked folder."""
    import tarfile
    import zipfile

    pytest.importorskip("pydicom")
    from _mammo_builders import mammogram, mg_dataset

    folder = tmp_path / "mg"
    views = [(p, s, v) for p in ("P1", "P2", "P3") for s in "LR" for v in ("CC", "MLO")]
    for k, (patient, side, view) in enumerate(views):
        cls = folder / ("malignant" if patient == "P2" else "benign")
        cls.mkdir(parents=True, exist_ok=True)
        mg_dataset(mammogram(k, side, view), patient=patient, study=f"1.2.{k // 4}", series=f"1.2.{k // 4}.1",
                   sop=f"1.2.{k // 4}.1.{k}", side=side, view=view).save_as(cls / f"img{k:02d}.dcm",
                                                                            enforce_file_format=True)
    path = tmp_path / name
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as zf:
            for f in sorted(folder.rglob("*.dcm")):
                zf.write(f, f.relative_to(tmp_path).as_posix())
    else:
        with tarfile.open(path, "w:gz") as tf:
            tf.add(folder, arcname="mg")
    unpacked, archived = read_release(folder), read_release(path)
    assert unpacked.summary.patient_source == archived.summary.patient_source == "DICOM header"
    got = {i.member.removeprefix("mg/"): (g, ps["size"]) for i, g, ps in
           zip(archived.images, archived.groups, archived.pixel_sizes)}
    want = {i.relative_to(folder).as_posix(): (g, ps["size"]) for i, g, ps in
            zip(unpacked.images, unpacked.groups, unpacked.pixel_sizes)}
    assert got == want and len(got) == 12 and len({g for g, _ in got.values()}) == 3


def test_a_zipped_yolo_export_names_its_label_files_never_reads_them_as_tables(tmp_path):
    folder = build_yolo(tmp_path / "unpacked").path  # YOLO's source reads files: not inside an archive
    path = zip_folder(folder, tmp_path / "yolo.zip", folder.parent)
    s = read_release(path).summary
    said = {r.item.split("!", 1)[1]: r.detail for r in s.left_out}
    labels = [f.relative_to(folder.parent).as_posix() for f in folder.rglob("*.txt")]
    assert labels and not s.table_candidates and s.table is None
    for name in labels + [f"{folder.name}/data.yaml"]:
        assert said[name].startswith("a file the source 'YOLO labels' reads: inside an archive not read in place")


def test_a_table_member_too_large_or_a_link_or_outside_is_left_out_said(tmp_path, monkeypatch):
    import zipfile

    members, _ = table_members()
    path = tmp_path / "lesions.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            if not member.endswith(".csv"):
                zf.writestr(member, data)
        link = zipfile.ZipInfo("lesions/table.csv")
        link.external_attr = 0o120777 << 16  # a symbolic link named as the table
        zf.writestr(link, "/etc/passwd")
        zf.writestr("lesions/../labels.csv", members["lesions/table.csv"])  # zip-slip
    rel = read_release(path)
    said = {r.item: (r.reason, r.detail) for r in rel.summary.left_out}
    assert said["lesions.zip!lesions/table.csv"] == ("unreadable", "a link inside the archive, not followed "
                                                                   "(never read)")
    assert said["lesions.zip!lesions/../labels.csv"][0] == "outside the release"
    assert rel.summary.table is None and not any(rel.labels)  # no table read: no label from it
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    monkeypatch.setattr(fio, "MAX_TABLE_BYTES", 100)  # the table declares more: left out before it is read
    rel = read_release(path)
    said = {r.item: (r.reason, r.detail) for r in rel.summary.left_out}
    assert said["lesions.zip!lesions/table.csv"][0] == "too large"
    assert "featbus.io.MAX_TABLE_BYTES = 100" in said["lesions.zip!lesions/table.csv"][1]
    assert rel.summary.table is None and rel.summary.n_images == 8
    member = ArchiveMember(path, "lesions/table.csv")  # a member past its budget, whatever it declares: refused
    with pytest.raises(ArchiveError, match=r"lesions.zip!lesions/table.csv' expands beyond .*MAX_TABLE_BYTES = 100"):
        with member_file(member):
            pass
    monkeypatch.setattr(fio, "MAX_TABLE_BYTES", 1 << 20)
    with member_file(member) as copy:  # a private copy, under the member's name, removed after
        assert copy.name == "table.csv" and copy.read_bytes() == members["lesions/table.csv"]
    assert not copy.exists()


# ------------------------------------------------------------------ arrays and the hub


def test_medmnist_npz_reads_with_its_documented_names(tmp_path):
    truth = build_medmnist(tmp_path)
    rel = read_release(truth.path)
    bunch = _check(rel, truth)
    assert all(isinstance(i, ArrayRow) for i in rel.images)
    assert rel.summary.splits == {"train": 6, "valid": 2, "test": 3}
    assert "MedMNIST's documented label names" in rel.summary.class_source
    with np.load(truth.path) as npz:  # the pixels are the array's rows, as stored
        np.testing.assert_array_equal(bunch.images[0], npz["train_images"][0])
        np.testing.assert_array_equal(bunch.images[-1], npz["test_images"][2])


def test_another_npz_reads_its_classes_by_number(tmp_path):
    truth = build_medmnist(tmp_path, "lesions.npz")
    rel = read_release(truth.path)
    _check(rel, truth, masks=False)
    assert "classes by number" in rel.summary.class_source
    assert "names no classes: its labels read as class numbers 0, 1." in rel.summary.text()


@pytest.mark.parametrize("card, metadata", [(True, True), (False, True), (False, False)])
def test_hub_parquet_reads_names_from_card_or_metadata(tmp_path, card, metadata):
    truth = build_hf_parquet(tmp_path, card=card, metadata=metadata)
    rel = read_release(truth.path)
    _check(rel, truth, masks=False)
    assert rel.summary.splits == {"train": 6, "test": 3}
    source = rel.summary.class_source
    assert ("README.md's dataset_info" in source if card else "huggingface metadata" in source if metadata
            else "classes by number" in source)
    bunch = rel.to_bunch(require_labels=False, guess_groups=False)
    first = next(k for k, p in enumerate(bunch.paths) if p.endswith("train-00000-of-00001.parquet!image[0]"))
    np.testing.assert_array_equal(bunch.images[first], frame(200))  # the row's encoded bytes, decoded


# ------------------------------------------------------------------ tools' exports


def test_roboflow_yolo_segmentation(tmp_path):
    truth = build_yolo(tmp_path)
    rel = read_release(truth.path)
    _check(rel, truth)
    assert rel.summary.splits == {"train": 5, "valid": 2, "test": 2}
    text = rel.summary.text()
    assert "3 empty label file(s) of data.yaml's set: frames with no lesion, read as 'normal'." in text
    assert "labels/" not in text.split("nothing left out")[0]  # the label files are never tables considered


def test_roboflow_yolo_detection_keeps_boxes(tmp_path):
    truth = build_yolo(tmp_path, segmentation=False)
    rel = read_release(truth.path)
    _check(rel, truth)
    assert "have boxes only (detection labels): kept as boxes" in rel.summary.text()
    boxes = [m["boxes"] for m in rel.meta if "boxes" in m]
    assert len(boxes) == 6 and boxes[0] == [(12.0, 10.0, 36.0, 30.0)]  # 0.25..0.75 of 48 x 40
    bunch = rel.to_bunch(require_labels=False, guess_groups=False)
    assert sum("boxes" in r.meta for r in bunch.data) == 6  # they travel with the images


def test_nnunet_raw_data_pairs_each_case_with_its_label_file(tmp_path):
    """nnU-Net's ``imagesTr/<case>_0000.png`` with ``labelsTr/<case>.png``: the masks paired, ``imagesTr`` and
    ``imagesTs`` the splits. It read as classes 'imagesTr', 'imagesTs' and 'labelsTr', every mask a sample."""
    truth = build_nnunet(tmp_path)
    rel = read_release(truth.path)
    s = rel.summary
    assert s.n_images == 7 and s.n_masks_paired == 5 and s.classes == {} and not s.left_out
    assert s.splits == {"train": 5, "test": 2}
    assert "nnU-Net's case name in labelsTr/ (busi_001.png for busi_001_0000.png)" in s.mask_rule
    at = _by_name(rel, truth)
    assert [rel.splits[at[n]] for n in truth.images] == [t[3] for t in truth.images.values()]
    bunch = rel.to_bunch(require_labels=False, guess_groups=False)
    for name, (_, _, pixels, _) in truth.images.items():
        mask = bunch.masks[bunch.paths.index(os.fspath(rel.images[at[name]]))]
        assert (0 if mask is None else int(np.asarray(mask).sum())) == pixels


def test_labelme_files_one_per_image_read_as_one_source(tmp_path):
    """LabelMe's ``<name>.json`` beside each image: classes from the shapes' labels, polygons and circles drawn
    (their union, at LabelMe's pixel centres), a rectangle kept as a box, a line said, an absolute Windows
    ``imagePath`` found beside the file; every JSON read as one source (it read as unlabelled, each file 'no
    COCO file'). The masks travel through the index."""
    truth = build_labelme(tmp_path)
    truth.images["P03_5.png"] = ("malignant", "P03", 29, None)  # a circle of radius 3 about a pixel centre
    rel = read_release(truth.path)
    _check(rel, truth)
    s = rel.summary
    assert "images listed by the LabelMe set (8 file(s): scans/P01_1.json and 7 more) (LabelMe JSON)" in s.text()
    assert s.patient_source == "file-name prefix" and s.n_patients == 4 and not s.left_out
    assert "1 LabelMe line or point shape(s) drawn into no mask (no region)." in s.notes
    assert {m.get("boxes", [None])[0] for m in rel.meta} >= {(12.0, 10.0, 35.0, 29.0)}
    back = read_release(rel.write_index(tmp_path / "index.csv"))
    bunch = back.to_bunch(require_labels=False, guess_groups=False)
    assert [int(np.asarray(m).sum()) for m in bunch.masks] == [t[2] for t in truth.images.values()]


@pytest.mark.parametrize(("change", "reason", "says"), [
    (lambda d: d["shapes"][0].update(points=[[1, 1], [float("nan"), 2], [3, 9]]), "bad annotation", "nan"),
    (lambda d: d.update(imageHeight=400), "bad annotation", "it declares 48x400, its image is 48x40"),
    (lambda d: d["shapes"][0].update(shape_type="mask"), "bad annotation", "a bitmap ('mask')"),
    (lambda d: d["shapes"].append({**d["shapes"][0], "label": "benign"}), "two labels", "labels benign, malignant"),
    (lambda d: d.update(imagePath="elsewhere/other.png", imageData="iVBOR"), "no image", "embedded only"),
])
def test_a_labelme_file_that_cannot_be_read_leaves_its_image_out_named(tmp_path, change, reason, says):
    """A point that is no number, a declared size not the image's, a bitmap shape, two labels: the image left
    out naming its file; a file whose image is embedded only (``imageData``), none beside it: the file named."""
    truth = build_labelme(tmp_path)
    js = truth.path / "scans" / "P01_1.json"
    data = json.loads(js.read_text())
    change(data)
    js.write_text(json.dumps(data))
    if reason == "no image":  # a file of no image's name, beside the others (P01_1.png is read without one)
        js.rename(js.with_name("orphan.json"))
    rel = read_release(truth.path)
    left = rel.summary.left_out
    if reason == "no image":  # P01_1.png, its file renamed: named by no file of the set
        assert left.pop() == ("scans/P01_1.png", "no annotation", "the LabelMe set (8 file(s): scans/P01_2.json and "
                                                                  "7 more) lists no such image")
    (item, why, detail), = left
    assert why == reason and says in detail
    assert item == ("scans/orphan.json" if reason == "no image" else "scans/P01_1.png")
    assert len(rel.images) == 7


def test_labelme_shapes_named_for_the_lesion_take_their_class_folders(tmp_path):
    """Shapes labelled ``tumor`` on images in ``benign/`` and ``malignant/``: the folders' classes, said, the
    masks drawn; never one class 'tumor'."""
    for k, label in enumerate(["benign", "benign", "malignant", "malignant"]):
        image = tmp_path / "us" / label / f"{label}_{k}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame(k)).save(image)
        image.with_suffix(".json").write_text(json.dumps({
            "version": "5.4.1", "shapes": [{"label": "tumor", "points": [[2, 2], [9, 2], [9, 9]], "shape_type":
                                            "polygon"}], "imagePath": image.name, "imageHeight": 40, "imageWidth": 48}))
    s = read_release(tmp_path / "us").summary
    assert s.classes == {"benign": 2, "malignant": 2} and s.n_masks_paired == 4
    assert "the class folders (the LabelMe shapes' labels, 'tumor', name the lesion, not its class)" in s.class_source
    wrong = tmp_path / "us" / "benign" / "benign_0.json"  # a shape's class its folder contradicts: left out, named
    data = json.loads(wrong.read_text())
    data["shapes"][0]["label"] = "malignant"
    wrong.write_text(json.dumps(data))
    (item, reason, detail), = read_release(tmp_path / "us").summary.left_out
    assert (item, reason) == ("benign/benign_0.png", "two labels")
    assert detail == ("benign/benign_0.json gives 'malignant', its class folder 'benign': correct the file or move "
                      "the image")


def test_roboflow_semantic_masks_give_each_image_its_class(tmp_path):
    """Roboflow's semantic-mask export: each image's class from its mask's values, named by ``_classes.csv`` (it
    read unlabelled); a mask of the background alone a normal frame; a value no row names, or two classes in one
    mask, leave the image out, named."""
    truth = build_roboflow_masks(tmp_path)
    rel = read_release(truth.path)
    _check(rel, truth)
    s = rel.summary
    assert s.splits == {"train": 5, "valid": 2, "test": 2} and not s.left_out
    assert s.class_source == "the class of each mask's pixel values, named by _classes.csv"
    masks = sorted(truth.path.rglob("*_mask.png"))
    Image.fromarray((np.asarray(Image.open(masks[0])) > 0).astype(np.uint8) * 7).save(masks[0])
    both = np.asarray(Image.open(masks[1])).copy()
    both[0, 0], both[1, 1] = 1, 2
    Image.fromarray(both).save(masks[1])
    left = {x.reason: x for x in read_release(truth.path).summary.left_out}
    assert "holds value(s) [7] that" in left["bad annotation"].detail
    assert "holds the classes benign, malignant" in left["two labels"].detail


def test_label_studio_json_export(tmp_path):
    truth = build_labelstudio(tmp_path)
    rel = read_release(truth.path)
    _check(rel, truth)
    assert rel.summary.patient_source == "file-name prefix" and rel.summary.n_patients == 3
    assert "the upload prefix removed" in rel.summary.patient_detail
    assert any(m.get("boxes") == [(4.8, 4.0, 14.4, 16.0)] for m in rel.meta)  # 10..30 % of 48, 10..40 % of 40


# ------------------------------------------------------------------ references through the index and the commands


@pytest.mark.parametrize("build", [build_busi_zip, build_medmnist, build_hf_parquet])
def test_the_index_names_references_and_reads_them_back_exactly(tmp_path, build):
    truth = build(tmp_path / "data")
    rel = read_release(truth.path)
    index = rel.write_index(tmp_path / "elsewhere" / "index.csv")
    back = read_release(index)
    assert back.images == rel.images and back.masks == [tuple(m) for m in rel.masks]
    assert back.labels == rel.labels and back.splits == rel.splits
    with open(index, newline="") as fh:
        cells = [row["image"] for row in csv.DictReader(fh)]
    assert all("!" in c and c.startswith("../data/") for c in cells)
    assert reference_from_text(cells[0], index.parent) == rel.images[0]
    assert reference_from_text("../data/no.zip!a.png", index.parent) is None  # no such archive: a plain name


def test_extract_reads_a_zip_and_an_npz(tmp_path):
    for truth in (build_busi_zip(tmp_path), build_medmnist(tmp_path)):
        out = tmp_path / f"{truth.path.stem}.csv"
        assert main(["extract", str(truth.path), "-f", "intensity", "-o", str(out)]) == 0
        with open(out, newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == len(truth.images)
        assert Counter(r["label"] for r in rows) == Counter(t[0] for t in truth.images.values())


@pytest.mark.slow
def test_predict_breast_us_on_a_zip_and_an_npz(tmp_path):
    zipped, arrays = build_busi_zip(tmp_path), build_medmnist(tmp_path, size=64)
    out = tmp_path / "p.csv"
    assert main(["predict", "breast-us", str(zipped.path), str(arrays.path), "-o", str(out)]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(zipped.images) + len(arrays.images)
    assert all(r["error"] == "" for r in rows)
    assert {r["image"].split("!", 1)[0] for r in rows} == {str(zipped.path), str(arrays.path)}


@pytest.mark.parametrize("build", [build_yolo, build_labelstudio])
def test_the_index_draws_the_tools_masks_back(tmp_path, build):
    """A mask a YOLO label file or a Label Studio export draws is named by the index
    (``labels/a.txt#48x40``, ``export.json#<task>``) and drawn back the same."""
    truth = build(tmp_path)
    rel = read_release(truth.path)
    back = read_release(rel.write_index(tmp_path / "index.csv"))
    assert not back.summary.left_out
    a = rel.to_bunch(require_labels=False, guess_groups=False)
    b = back.to_bunch(require_labels=False, guess_groups=False)
    assert a.paths == b.paths and sum(int(m.sum()) > 0 for m in a.masks) > 0
    for x, y in zip(a.masks, b.masks):
        np.testing.assert_array_equal(x, y)
