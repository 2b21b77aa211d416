"""DICOM releases as a PACS or a CD writes them, and a release's published splits in the commands
(issue 89).

* DICOM is recognised by its content (``DICM`` at byte 128), with or without an extension
  (``PATIENTID/STUDYUID/SERIESUID/I0000001``), and a ``DICOMDIR``'s referenced files are read;
* a table keyed by a header field (``SOPInstanceUID``, ``AccessionNumber``, ``StudyInstanceUID``...)
  labels the images; header fields serve as ``--label-column`` / ``--group-column``; a DICOM tree
  that nothing else groups takes its patients from ``PatientID``, said;
* without pydicom a DICOM release is refused in one line naming ``featbus[dicom]``;
* a DICOM without pixel data, a truncated one, ``DICM`` followed by garbage: each left out by name;
* ``featbus train`` keeps the publisher's ``test`` split out of every fold and reports it held out
  (``--pool-splits`` pools it); validate takes every image whatever its split.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pydicom")

from _release_builders import (  # noqa: E402 - after the importorskip: the builders write with pydicom
    DICOM_LAYOUTS,
    SHAPE,
    dicom_dataset,
    save,
    scan,
    write_deflated_dicom,
    write_dicom,
)

from featbus._records import PIXEL_SIZE_KEY  # noqa: E402
from featbus.cli import main  # noqa: E402
from featbus.datasets import load_data, read_release  # noqa: E402
from featbus.io import dicom_header, dicom_pixel_size, header_shape, is_dicom, read_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _uid(k: int) -> str:
    return f"1.2.826.0.1.3680043.10.1234.{k}"


def _flat_cd(root: Path, n: int = 6, *, modality: str = "US", **extra) -> list[dict]:
    """``n`` extension-less DICOM files in one folder (``I0000001``...), two patients, one study each."""
    insts = []
    for k in range(n):
        patient = f"P{k % 2}"
        inst = {"k": k, "patient": patient, "study": _uid(900 + k % 2), "series": _uid(950 + k % 2),
                "sop": _uid(k), "accession": f"ACC{k % 2}"}
        ds = dicom_dataset(800 + k, patient=patient, study=inst["study"], series=inst["series"], sop=inst["sop"],
                           modality=modality, accession=inst["accession"])
        for key, value in extra.items():
            setattr(ds, key, value(k))
        write_dicom(root / f"I{k + 1:07d}", ds)
        insts.append(inst)
    return insts


# ------------------------------------------------------------------------------ the corpus, no option

@pytest.mark.parametrize("layout", sorted(DICOM_LAYOUTS))
def test_dicom_layout_read_whole(layout, tmp_path):
    """Each PACS / CD layout read with no option: every image, its class and patient, the table keyed by
    SOPInstanceUID, the pixel size of every image from its header; the pixels decode at their size."""
    built = DICOM_LAYOUTS[layout](tmp_path)
    rel = read_release(built.root)
    s = rel.summary
    images = [Path(p).relative_to(built.root).as_posix() for p in rel.images]
    assert sorted(images) == sorted(built.truth), s.text()
    assert s.n_images == 7 and len(rel.images) == 7
    assert [built.truth[i][0] for i in images] == rel.labels
    assert s.classes == {"benign": 4, "malignant": 3}
    assert s.table == built.root / "labels.csv" and s.image_column == "SOPInstanceUID"
    assert s.label_column == "Pathology" and s.key_role == "images by DICOM header"
    assert s.n_patients == 3 and s.patient_source == "folder"
    groups = dict(zip(images, rel.groups))
    for a in images:  # the partition of patients: same truth patient <=> same group
        for b in images:
            assert (groups[a] == groups[b]) == (built.truth[a][1] == built.truth[b][1])
    want = built.expect["pixel_mm"]
    assert s.n_pixel_sizes == s.n_dicom_pixel_sizes == 7
    assert all(p["unit"] == "mm" and p["size"] == pytest.approx(want, rel=1e-9) for p in rel.pixel_sizes)
    assert s.left_out == []
    assert "table labels.csv (images by DICOM header 'SOPInstanceUID', labels 'Pathology')" in s.text()
    data = rel.to_bunch()
    assert len(data.images) == 7 and all(im.shape == SHAPE for im in data.images)
    k0 = {"pacs-tree": 700, "pacs-cd-no-extension": 700, "dicomdir": 720}[layout]
    # each file decodes to its own scan, exactly (8-bit MONOCHROME2, no window)
    found = [[k for k in range(k0, k0 + 7) if np.array_equal(scan(k), image)] for image in data.images]
    assert sorted(k for ks in found for k in ks) == list(range(k0, k0 + 7)), data.paths
    assert {r.meta[PIXEL_SIZE_KEY]["size"] for r in data.data} == {want}


def test_is_dicom_reads_content_not_names(tmp_path):
    _flat_cd(tmp_path, 1)
    (tmp_path / "notes").write_text("x" * 200)
    save(tmp_path / "scan.png", scan(1))
    assert is_dicom(tmp_path / "I0000001")
    assert not is_dicom(tmp_path / "notes") and not is_dicom(tmp_path / "scan.png")
    assert not is_dicom(tmp_path)  # a folder: nothing read
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        assert not is_dicom(tmp_path / "pipe")  # a FIFO is never opened (it would block)
    assert header_shape(tmp_path / "I0000001") == (SHAPE, None)


# ------------------------------------------------------------------------------ header fields

def test_table_keyed_by_accession_number_labels_every_image_of_a_study(tmp_path):
    insts = _flat_cd(tmp_path)
    pd.DataFrame({"AccessionNumber": ["ACC0", "ACC1"], "Pathology": ["Malignant", "Benign"]}).to_csv(
        tmp_path / "reports.csv", index=False)
    rel = read_release(tmp_path)
    s = rel.summary
    assert s.image_column == "AccessionNumber" and s.label_column == "Pathology"
    by_name = {Path(p).name: label for p, label in zip(rel.images, rel.labels)}
    assert by_name == {f"I{k + 1:07d}": "malignant" if i["accession"] == "ACC0" else "benign"
                       for k, i in enumerate(insts)}
    # one folder, no patient column: the patients are each header's PatientID, said
    assert s.patient_source == "DICOM header" and s.n_patients == 2 and "PatientID" in s.text()


def test_table_keyed_by_a_column_named_as_a_dicom_keyword(tmp_path):
    """Any header field: a column named as a DICOM keyword (SeriesInstanceUID) is matched to it."""
    _flat_cd(tmp_path)
    pd.DataFrame({"SeriesInstanceUID": [_uid(950), _uid(951)], "Diagnosis": ["benign", "malignant"]}).to_csv(
        tmp_path / "series.csv", index=False)
    rel = read_release(tmp_path)
    assert rel.summary.image_column == "SeriesInstanceUID"
    assert Counter(rel.labels) == {"benign": 3, "malignant": 3}


def test_header_fields_as_label_and_group_columns(tmp_path):
    """--label-column / --group-column take header fields where no table column has the name."""
    _flat_cd(tmp_path, StudyDescription=lambda k: "Benign" if k < 4 else "Malignant",
             OtherPatientIDs=lambda k: f"MRN{k // 3}")
    rel = read_release(tmp_path, label_column="StudyDescription", group_column="otherpatientids")
    s = rel.summary
    assert Counter(rel.labels) == {"benign": 4, "malignant": 2}
    assert s.class_source == "the DICOM header's StudyDescription"
    assert s.patient_source == "DICOM header" and s.n_patients == 2
    assert "--group-column OtherPatientIDs" in s.text()
    with pytest.raises(ValueError, match=r"--label-column BodyPartExamined: the DICOM header of .*I0000001.* has "
                                         r"no BodyPartExamined"):
        read_release(tmp_path, label_column="BodyPartExamined")
    # a table beside them: its own columns first, a header field for the patients
    pd.DataFrame({"SOPInstanceUID": [_uid(k) for k in range(6)], "label": ["benign", "malignant"] * 3}).to_csv(
        tmp_path / "labels.csv", index=False)
    rel = read_release(tmp_path, group_column="PatientID")
    assert rel.summary.label_column == "label" and rel.summary.patient_source == "DICOM header"
    assert rel.groups == ["P0", "P1"] * 3


def test_dicomdir_references_a_missing_file_by_name(tmp_path):
    built = DICOM_LAYOUTS["dicomdir"](tmp_path)
    gone = sorted(built.truth)[0]
    (built.root / gone).unlink()
    rel = read_release(built.root)
    assert len(rel.images) == 6
    assert [(r.item, r.reason) for r in rel.summary.left_out if "DICOMDIR" in r.item] == \
           [(f"DICOMDIR record {Path(gone).as_posix()}", "no image")]
    # its row in labels.csv names no image now: said too
    assert rel.summary.left_out_counts() == {"no image": 2} and len(rel.summary.left_out) == 2


@pytest.mark.filterwarnings("ignore:.*VR CS")  # pydicom on the '..' this test writes
def test_dicomdir_record_outside_the_release_and_a_broken_dicomdir(tmp_path):
    """A record whose file ID leads out of the release is named, never read; a DICOMDIR pydicom cannot
    parse is named unreadable, and the files are still found by their content."""
    import pydicom

    built = DICOM_LAYOUTS["dicomdir"](tmp_path)
    ds = pydicom.dcmread(built.root / "DICOMDIR")
    record = next(r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r)
    record.ReferencedFileID = ["..", "dicomdir_staging", Path(next((tmp_path / "dicomdir_staging").iterdir())).name]
    ds.save_as(built.root / "DICOMDIR")
    rel = read_release(built.root)
    assert [(r.item, r.reason) for r in rel.summary.left_out if r.reason == "outside the release"] == \
        [(f"DICOMDIR record ../dicomdir_staging/{record.ReferencedFileID[2]}", "outside the release")]
    assert len(rel.images) == 7 and all(built.root in Path(p).parents for p in rel.images)
    (built.root / "DICOMDIR").write_bytes(bytes(128) + b"DICM" + b"\xff" * 64)
    rel = read_release(built.root)
    assert [(r.reason, r.detail.split(" (")[0]) for r in rel.summary.left_out if r.item == "DICOMDIR"] == \
        [("unreadable", "a DICOMDIR pydicom cannot read")]
    assert len(rel.images) == 7


# ------------------------------------------------------------------------------ bad input

def test_bad_dicom_files_left_out_by_name_the_rest_read(tmp_path, capsys):
    built = DICOM_LAYOUTS["pacs-cd-no-extension"](tmp_path)
    folder = Path(sorted(built.truth)[0]).parent
    write_dicom(built.root / folder / "I0000090", dicom_dataset(790, patient="PAT0001", study=_uid(1),
                                                               series=_uid(2), sop=_uid(3), pixels=False))
    whole = (built.root / sorted(built.truth)[1]).read_bytes()
    (built.root / folder / "I0000091").write_bytes(whole[:-400])
    (built.root / folder / "I0000092").write_bytes(bytes(128) + b"DICM" + bytes(range(256)) * 3)
    labels = pd.read_csv(built.root / "labels.csv")  # the truncated copy keeps its original's row
    pd.concat([labels, pd.DataFrame({"SOPInstanceUID": [_uid(3)], "Pathology": ["Benign"]})]).to_csv(
        built.root / "labels.csv", index=False)
    rel = read_release(built.root)
    reasons = {Path(r.item).name: r.text() for r in rel.summary.left_out}  # as featbus read words them
    assert reasons["I0000090"].startswith("unreadable: a DICOM without pixel data")
    assert reasons["I0000091"] == "unreadable: a truncated DICOM (pixel data 800 of 1,200 bytes)"
    assert reasons["I0000092"].startswith("unreadable: ")
    assert len(rel.images) == 7 and rel.summary.classes == {"benign": 4, "malignant": 3}
    assert main(["read", str(built.root)]) == 0
    captured = capsys.readouterr()
    assert "7 images" in captured.out and "left out 3 (unreadable, e.g." in captured.out
    for name in ("I0000090", "I0000091", "I0000092"):
        assert sum(name in line for line in captured.err.splitlines()) == 1, captured.err
    with pytest.warns(UserWarning, match="skipped 3 unreadable image"):
        data = load_data(built.root, on_error="skip")
    assert len(data.images) == 7 and len(data.skipped) == 3


def test_a_deflated_dicom_reads_as_its_explicit_vr_twin(tmp_path):
    """A small DICOM in the Deflated Explicit VR Little Endian transfer syntax (as pydicom writes it) reads as
    the same scan uncompressed: its header, pixel size, pixels, and its place in a release."""
    ds = dicom_dataset(805, patient="PAT0001", study=_uid(1), series=_uid(2), sop=_uid(3))
    write_dicom(tmp_path / "rel" / "benign" / "plain.dcm", ds)
    write_deflated_dicom(tmp_path / "rel" / "benign" / "deflated.dcm", ds)
    plain, deflated = tmp_path / "rel" / "benign" / "plain.dcm", tmp_path / "rel" / "benign" / "deflated.dcm"
    assert dicom_header(deflated).file_meta.TransferSyntaxUID.is_deflated
    assert header_shape(deflated) == header_shape(plain) == (SHAPE, None)
    assert dicom_header(deflated).PatientID == "PAT0001"
    assert dicom_pixel_size(deflated) == dicom_pixel_size(plain)
    assert np.array_equal(read_image(deflated), read_image(plain))
    assert len(read_release(tmp_path / "rel").images) == 2


def test_a_deflated_dicom_inflating_beyond_the_limit_is_refused_unread(tmp_path, monkeypatch):
    """A deflated dataset is inflated first as a count: one beyond featbus.io.MAX_DICOM_INFLATED_BYTES (here
    64 KB, a 1 MB pad of zeros in a 2 KB file) is left out "too large" by name and refused by read_image,
    and pydicom never inflates it whole (its zlib.decompress is not called)."""
    import zlib

    import pydicom.filereader

    import featbus.io as fio
    from featbus import ImageError

    monkeypatch.setattr(fio, "MAX_DICOM_INFLATED_BYTES", 1 << 16)
    inflated = []

    def decompress(data, *args):
        inflated.append(len(data))
        return zlib.decompress(data, *args)

    monkeypatch.setattr(pydicom.filereader, "zlib", SimpleNamespace(decompress=decompress, MAX_WBITS=zlib.MAX_WBITS))
    rel = tmp_path / "rel"
    for k in range(2):
        write_dicom(rel / "benign" / f"plain{k}.dcm", dicom_dataset(806 + k, patient=f"P{k}", study=_uid(10 + k),
                                                                    series=_uid(20 + k), sop=_uid(30 + k)))
    bomb = rel / "benign" / "bomb.dcm"
    write_deflated_dicom(bomb, dicom_dataset(809, patient="P9", study=_uid(19), series=_uid(29), sop=_uid(39)),
                         pad=1 << 20)
    assert bomb.stat().st_size < 4096
    words = "its deflated dataset inflates beyond featbus.io.MAX_DICOM_INFLATED_BYTES = 65,536 bytes"
    shape, (reason, detail) = header_shape(bomb)
    assert shape is None and reason == "too large" and detail.startswith(words)
    assert dicom_header(bomb) is None
    assert dicom_pixel_size(bomb)[0] is None
    with pytest.raises(ImageError, match=r"bomb\.dcm': its deflated dataset inflates beyond"):
        read_image(bomb)
    read = read_release(rel)
    assert [(Path(r.item).name, r.reason) for r in read.summary.left_out] == [("bomb.dcm", "too large")]
    assert len(read.images) == 2
    assert inflated == [], "pydicom inflated the deflated dataset whole"


# ------------------------------------------------------------------------------ without pydicom

def _without_pydicom(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``featbus ARGS`` in a Python where ``import pydicom`` fails (the core install, no [dicom])."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text("import sys\nsys.modules['pydicom'] = None  # the core install\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "featbus", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)


@pytest.mark.parametrize("command", ["read", "train"])
def test_without_pydicom_one_line_naming_the_extra(command, tmp_path):
    built = DICOM_LAYOUTS["pacs-cd-no-extension"](tmp_path)
    args = [command, str(built.root)] + (["-f", "intensity", "-c", "svm", "-o", str(tmp_path / "m.featbus")]
                                         if command == "train" else [])
    done = _without_pydicom(tmp_path, *args)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert 'pip install "featbus[dicom]"' in lines[0] and "7 DICOM file(s)" in lines[0]
    assert "label" not in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "m.featbus").exists()


# ------------------------------------------------------------------------------ splits

def _split_release(root: Path, n: int = 36) -> pd.DataFrame:
    """``n`` PNG scans, two classes, one patient per two images, an index CSV with a ``split`` column:
    a sixth of the patients in test, a sixth in valid (spelled ``val``), the rest train."""
    rows = []
    for k in range(n):
        name = f"img_{k:03d}.png"
        image = scan(k)
        if k % 2:
            image = (image // 2).astype(np.uint8)  # the second class darker: something to learn
        save(root / name, image)
        patient = k // 2
        rows.append({"image": name, "label": "malignant" if k % 2 else "benign", "group": f"p{patient % 9}",
                     "mask": "", "split": "test" if patient % 6 == 0 else "val" if patient % 6 == 1 else "train"})
    table = pd.DataFrame(rows)
    table.to_csv(root / "index.csv", index=False)
    return table


def test_index_split_column_reaches_release_and_bunch(tmp_path):
    table = _split_release(tmp_path)
    rel = read_release(tmp_path / "index.csv")
    want = ["valid" if s == "val" else s for s in table["split"]]
    assert rel.splits == want
    assert list(rel.to_frame()["split"]) == want
    rel.write_index(tmp_path / "again.csv")
    assert read_release(tmp_path / "again.csv").splits == want
    assert list(rel.to_bunch().split) == want
    assert list(load_data(tmp_path / "index.csv").split) == want
    assert read_release(tmp_path / "index.csv").summary.n_images == len(table)
    table.drop(columns="split").to_csv(tmp_path / "nosplit.csv", index=False)  # no splits: no field, no column
    plain = read_release(tmp_path / "nosplit.csv")
    assert plain.splits is None and "split" not in plain.to_bunch() and "split" not in plain.to_frame()
    bad = table.assign(split=["fold1"] + list(table["split"][1:]))
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"row 2 of .*bad.csv.*'fold1' is none of train, valid, test"):
        read_release(tmp_path / "bad.csv")


def test_train_keeps_the_test_split_out_of_every_fold(tmp_path, capsys):
    from featbus.model import read_manifest

    table = _split_release(tmp_path)
    n_test = int((table["split"] == "test").sum())
    model = tmp_path / "m.featbus"
    assert main(["train", str(tmp_path / "index.csv"), "-f", "intensity", "-c", "svm", "--n-bootstrap", "0",
                 "-o", str(model)]) == 0
    captured = capsys.readouterr()
    assert f"training on {len(table) - n_test} images" in captured.err
    assert f"{n_test} held out (the publisher's test split, --pool-splits pools it)" in captured.err
    assert f"held-out ({n_test} images of the publisher's test split, never seen in this training): accuracy" \
        in captured.out
    manifest = read_manifest(model)
    assert manifest["holdout"]["split"] == "test" and manifest["holdout"]["n_images"] == n_test
    assert manifest["data"]["n_images"] == len(table) - n_test  # the cross-validation never saw a test image
    assert sorted(Path(p).name for p in manifest["holdout"]["paths"]) == \
        sorted(table.loc[table["split"] == "test", "image"])

    pooled = tmp_path / "pooled.featbus"
    assert main(["train", str(tmp_path / "index.csv"), "-f", "intensity", "-c", "svm", "--n-bootstrap", "0",
                 "--pool-splits", "-o", str(pooled)]) == 0
    captured = capsys.readouterr()
    assert f"training on {len(table)} images" in captured.err and "held-out (" not in captured.out
    assert "holdout" not in read_manifest(pooled) and read_manifest(pooled)["data"]["n_images"] == len(table)

    # another test set beside the publisher's is refused in one line
    assert main(["train", str(tmp_path / "index.csv"), "-f", "intensity", "-c", "svm", "--test-fraction", "0.2",
                 "-o", str(tmp_path / "x.featbus")]) == 2
    assert "publisher's test split already" in capsys.readouterr().err

    # validate and predict take every image, whatever its split
    assert main(["validate", str(pooled), str(tmp_path / "index.csv"), "--n-bootstrap", "0"]) == 0
    assert f"{len(table)} images" in capsys.readouterr().out
    assert main(["predict", str(pooled), str(tmp_path / "index.csv"), "-o", str(tmp_path / "p.csv"), "-q"]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(table)
    # and predict lists a CD's extension-less DICOM files by their content, one row each
    cd = DICOM_LAYOUTS["pacs-cd-no-extension"](tmp_path / "cd")
    assert main(["predict", str(pooled), str(cd.root), "-o", str(tmp_path / "cd.csv"), "--force", "-q"]) == 0
    rows = pd.read_csv(tmp_path / "cd.csv")
    assert sorted(Path(p).relative_to(cd.root).as_posix() for p in rows["image"]) == sorted(cd.truth)
    assert rows["error"].isna().all()


def test_only_regular_files_inside_the_release_are_sniffed_for_dicom(tmp_path, monkeypatch):
    """DICOM by content is judged inside the one listing (:func:`featbus.io.list_folder`): an
    extension-less link leading out of the release is named and never opened, a FIFO never opened
    (it would block), and only the regular files inside are read for ``DICM``."""
    import featbus.io as fio

    release, outside = tmp_path / "cd", tmp_path / "elsewhere"
    release.mkdir()
    outside.mkdir()
    _flat_cd(release, 2)
    _flat_cd(outside, 1)
    (release / "I0000009").symlink_to(outside / "I0000001")
    if hasattr(os, "mkfifo"):
        os.mkfifo(release / "I0000010")
    sniffed = []
    real = fio.is_dicom
    monkeypatch.setattr(fio, "is_dicom", lambda p: sniffed.append(Path(p).name) or real(p))
    rel = read_release(release)
    assert sorted(Path(p).name for p in rel.images) == ["I0000001", "I0000002"]
    assert ("I0000009", "outside the release", "") in rel.summary.left_out
    assert sorted(sniffed) == ["I0000001", "I0000002"]


def test_index_split_column_sits_after_the_mask_columns_and_reads_back(tmp_path):
    """One column order for the index: image, label, group, mask, mask 2..., split (then a pixel size)."""
    _flat_cd(tmp_path / "train", 2)
    _flat_cd(tmp_path / "test", 1)
    rel = read_release(tmp_path)
    index = rel.write_index(tmp_path / "index.csv")
    header = index.read_text().splitlines()[0]
    assert header.startswith('"image","label","group","mask","split"'), header
    back = read_release(index)
    assert back.splits == rel.splits and sorted(back.splits) == ["test", "train", "train"]
