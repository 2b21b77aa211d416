"""CSV manifests and mini-MIAS folders as data: the loaders and every command that reads DATA."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from conftest import stderr_lines
from PIL import Image

from featbus import load_data, load_manifest
from featbus.cli import main
from featbus.datasets import make_phantoms
from featbus.preprocessing.mammography import make_mammogram_phantom


def _one_line_error(capsys, *fragments) -> str:
    err = capsys.readouterr().err
    lines = stderr_lines(err)
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def manifest_dir(tmp_path_factory) -> Path:
    """30 phantoms in one flat folder (images/), masks in masks/, listed by study.csv with labels,
    patient groups (two images each) and a fixed test split of the last 3 patients."""
    root = tmp_path_factory.mktemp("manifest")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    ph = make_phantoms(30, image_size=64, random_state=0)
    rows = []
    for i, (im, m, t) in enumerate(zip(ph.images, ph.masks, ph.target)):
        Image.fromarray(im).save(root / "images" / f"scan {i}.png")
        mask = ""
        if m.any():
            Image.fromarray((m * 255).astype(np.uint8)).save(root / "masks" / f"scan {i}_lesion.png")
            mask = f"masks/scan {i}_lesion.png"
        rows.append({"image": f"images/scan {i}.png", "label": ph.target_names[t], "mask": mask,
                     "group": f"patient-{i // 2}", "split": "test" if i >= 24 else "train"})
    pd.DataFrame(rows).to_csv(root / "study.csv", index=False)
    pd.DataFrame(rows).drop(columns=["split"]).to_csv(root / "nosplit.csv", index=False)
    return root


def test_load_manifest(manifest_dir):
    data = load_manifest(manifest_dir / "study.csv")
    ph = make_phantoms(30, image_size=64, random_state=0)
    assert data.target_names.tolist() == ["benign", "malignant", "normal"]
    np.testing.assert_array_equal(data.target, ph.target)
    np.testing.assert_array_equal(data.groups, np.arange(30) // 2)  # the group column, in file order
    assert data.split.tolist() == ["train"] * 24 + ["test"] * 6
    for rec, im, m in zip(data.data, ph.images, ph.masks):
        np.testing.assert_array_equal(rec.image, im)
        np.testing.assert_array_equal(rec.mask, m)
    assert data.data[0].meta["row"] == 2 and Path(data.paths[0]).is_absolute()


def test_the_index_source_hands_the_arbiter_entries(manifest_dir, tmp_path):
    """The featbus index is a source like the others: its read gives one entry per row (labels, patients,
    masks and splits as the index says, paths made absolute), never a release; the arbiter makes the
    release of those entries as they are."""
    from featbus.datasets import read_release
    from featbus.datasets.sources import index

    csv = tmp_path / "index.csv"
    read_release(manifest_dir / "study.csv").write_index(csv)
    options = dict.fromkeys(("image_column", "label_column", "group_column", "mask_pattern", "group_pattern",
                             "classes"))
    got = index.read(tmp_path, Path("index.csv"), [], options=dict(options, require_labels=False,
                                                                   rows_without_image="leave out"))
    study = pd.read_csv(manifest_dir / "study.csv", keep_default_na=False)
    assert got.whole and got.claims_images and len(got.entries) == 30
    assert [e.image.resolve() for e in got.entries] == [(manifest_dir / p).resolve() for p in study["image"]]
    assert [(e.label, e.patient, e.split) for e in got.entries] == list(zip(study.label, study.group, study.split))
    assert [[m.resolve() for m in e.masks] for e in got.entries] == [
        [(manifest_dir / m).resolve()] if m else [] for m in study["mask"]]
    rel = read_release(csv)
    assert rel.from_index and rel.entries == got.entries and rel.summary.n_masks_paired == sum(study["mask"] != "")
    assert rel.summary.classes == study.label.value_counts().to_dict() and rel.summary.n_patients == 15


def test_load_manifest_classes_order_and_duplicate_groups(manifest_dir):
    data = load_manifest(manifest_dir / "nosplit.csv", classes=["normal", "benign", "malignant"])
    assert data.target_names.tolist() == ["normal", "benign", "malignant"]
    assert data.split.tolist() == [""] * 30
    without = pd.read_csv(manifest_dir / "nosplit.csv").drop(columns=["group"])
    without.to_csv(manifest_dir / "nogroup.csv", index=False)
    data = load_manifest(manifest_dir / "nogroup.csv")  # near-duplicate groups, as for folders
    assert data.groups.shape == (30,)


@pytest.mark.parametrize("edit, fragments", [
    (lambda t: t.drop(columns=["label"]), ["no column(s) ['label']"]),
    (lambda t: t.assign(image=t["image"].where(t.index != 3, "images/absent.png")), ["row 5", "absent.png"]),
    (lambda t: pd.concat([t, t.iloc[[7]]]), ["row 32", "listed twice", "rows 9 and 32"]),
    (lambda t: t.assign(label=t["label"].where(t.index != 0, "")), ["row 2", "empty 'label'"]),
    (lambda t: t.assign(split=t["split"].where(t.index != 4, "tset")), ["row 6", "'tset'"]),
    (lambda t: t.assign(group=t["group"].where(t.index != 1, "")), ["row 3", "empty 'group'"]),
    (lambda t: t.assign(mask=t["mask"].where(t.index != 0, "masks/none.png")), ["row 2", "none.png"]),
])
def test_manifest_errors_name_the_row(manifest_dir, tmp_path, edit, fragments):
    table = pd.read_csv(manifest_dir / "study.csv", dtype=str, keep_default_na=False)
    bad = tmp_path / "bad.csv"
    edit(table).to_csv(bad, index=False)
    # the images are found relative to the CSV: keep it beside them
    bad = manifest_dir / f"bad_{abs(hash(tuple(fragments))) % 10**6}.csv"
    edit(table).to_csv(bad, index=False)
    with pytest.raises((ValueError, FileNotFoundError)) as exc:
        load_manifest(bad)
    for f in fragments:
        assert f in str(exc.value), (f, str(exc.value))
    bad.unlink()


def test_manifest_unknown_label_names_the_classes(manifest_dir):
    with pytest.raises(ValueError, match=r"row 2: label 'benign' is not one of the classes \['normal', 'sick'\]"):
        load_manifest(manifest_dir / "study.csv", classes=["normal", "sick"])


def test_manifest_skip_unreadable(manifest_dir):
    table = pd.read_csv(manifest_dir / "study.csv", dtype=str, keep_default_na=False)
    (manifest_dir / "images" / "broken.png").write_bytes(b"not a png")
    table.loc[len(table)] = ["images/broken.png", "benign", "", "patient-x", "train"]
    table.to_csv(manifest_dir / "broken.csv", index=False)
    with pytest.raises(ValueError, match="broken.png"):
        load_manifest(manifest_dir / "broken.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_manifest(manifest_dir / "broken.csv", on_error="skip")
    assert len(data.target) == 30 and "row 32" in data.skipped[0][1]


def test_load_data_dispatches(manifest_dir, tmp_path):
    assert len(load_data(manifest_dir / "study.csv").target) == 30
    folder = tmp_path / "folders"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        Image.fromarray(np.full((16, 16), 5, np.uint8)).save(folder / c / "x.png")
    assert load_data(folder, n_jobs=1).target_names.tolist() == ["a", "b"]


def test_cli_train_predict_evaluate_extract_with_a_manifest(manifest_dir, tmp_path, capsys):
    model = tmp_path / "m.featbus"
    assert main(["train", str(manifest_dir / "study.csv"), "-f", "intensity", "-c", "logreg", "--n-splits", "3",
                 "--n-bootstrap", "0", "-o", str(model), "-q"]) == 0
    err = capsys.readouterr().err
    assert "training on 24 images" in err and "6 held out (the publisher's test split, --pool-splits pools it)" in err
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), str(manifest_dir / "study.csv"), "-o", str(out), "-q"]) == 0
    pred = pd.read_csv(out)
    assert len(pred) == 30 and {"p_benign", "p_malignant", "p_normal"} <= set(pred.columns)
    capsys.readouterr()
    assert main(["evaluate", str(manifest_dir / "study.csv"), "-f", "intensity", "--n-splits", "3",
                 "--n-bootstrap", "0", "-q"]) == 0
    assert "test rows of the manifest (6 images)" in capsys.readouterr().out
    assert main(["evaluate", str(manifest_dir / "study.csv"), "-f", "intensity", "--test-fraction", "0.2",
                 "-q"]) == 2
    _one_line_error(capsys, "split=test")
    assert main(["extract", str(manifest_dir / "nosplit.csv"), "-f", "intensity", "-o", str(tmp_path / "f.csv"),
                 "-q"]) == 0
    table = pd.read_csv(tmp_path / "f.csv")
    assert len(table) == 30 and table["group"].tolist() == (np.arange(30) // 2).tolist()


def test_cli_bad_manifest_is_one_line(manifest_dir, tmp_path, capsys):
    table = pd.read_csv(manifest_dir / "study.csv", dtype=str, keep_default_na=False)
    table.loc[3, "image"] = "images/gone.png"
    bad = manifest_dir / "gone.csv"
    table.to_csv(bad, index=False)
    assert main(["train", str(bad), "-f", "intensity", "-o", str(tmp_path / "m.featbus"), "-q"]) == 2
    _one_line_error(capsys, "row 5", "gone.png")
    assert main(["predict", str(tmp_path / "m.featbus"), str(bad), "-q"]) == 2
    capsys.readouterr()
    assert main(["extract", str(manifest_dir / "study.csv"), "--preprocess", "pectorl", "-o",
                 str(tmp_path / "f.csv"), "-q"]) == 2
    _one_line_error(capsys, "--preprocess", "unknown preprocessing 'pectorl'")
    assert main(["train", str(manifest_dir / "study.csv"), "-f", "intensity", "--preprocess", "clahe,roi", "-o",
                 str(tmp_path / "r.featbus"), "-q"]) == 2
    _one_line_error(capsys, "--preprocess roi", "--segmenter")


@pytest.fixture
def missing_manifest(manifest_dir, tmp_path) -> Path:
    """Two real images, then 200000 rows naming files that do not exist (the first on row 4)."""
    csv = tmp_path / "many.csv"
    with open(csv, "w") as f:
        f.write("image,label\n")
        f.write(f"{manifest_dir / 'images' / 'scan 0.png'},a\n{manifest_dir / 'images' / 'scan 1.png'},b\n")
        f.writelines(f"nowhere/scan {i}.png,{'ab'[i % 2]}\n" for i in range(200_000))
    return csv


def test_a_manifest_of_missing_files_is_refused_at_the_first_one(missing_manifest, tmp_path, capsys, monkeypatch):
    """Every row used to be tried before the one-line error (30 s and 1.5 GB for a million):
    the check stops at the first missing file, named with its row, before any image is read."""
    import featbus.datasets as datasets
    import featbus.datasets._release_bunch

    first = str(missing_manifest.parent / "nowhere" / "scan 0.png")
    with monkeypatch.context() as m:
        m.setattr(featbus.datasets._release_bunch, "map_images",
                  lambda *a, **k: pytest.fail("read past the first missing file"))
        with pytest.raises(ValueError, match=r"row 4 .*'nowhere/scan 0.png' not found") as exc:
            load_manifest(missing_manifest)
        assert exc.value.path == first
        with pytest.raises(ValueError, match=r"row 4 of .*: image 'nowhere/scan 0.png' not found"):
            datasets.manifest_images(missing_manifest)
    assert main(["train", str(missing_manifest), "-f", "intensity", "-o", str(tmp_path / "m.featbus"), "-q"]) == 2
    _one_line_error(capsys, "row 4", first)
    assert main(["extract", str(missing_manifest), "-f", "intensity", "-o", str(tmp_path / "f.csv"), "-q"]) == 2
    _one_line_error(capsys, "row 4", first)


def test_predict_refuses_a_manifest_of_missing_files_at_the_first_one(missing_manifest, capsys, monkeypatch):
    """``featbus predict MODEL many.csv`` reads the manifest with the reader every command uses: the first
    missing file (row 4) is its one-line error, and no row after it is resolved (a million rows used to be
    resolved, then checked: 41 s and 1.4 GB before the error)."""
    import featbus.datasets._release_index as index

    resolved = []
    found = index._found
    monkeypatch.setattr(index, "_found", lambda *a: resolved.append(a[1]) or found(*a))
    assert main(["predict", "breast-us", str(missing_manifest), "-q"]) == 2
    first = str(missing_manifest.parent / "nowhere" / "scan 0.png")  # named as train names it
    _one_line_error(capsys, "row 4 of", str(missing_manifest), f"image {first!r} not found")
    assert resolved[-1] == "nowhere/scan 0.png" and len(resolved) == 3


def test_predict_refuses_a_manifest_row_without_an_image_naming_the_row(manifest_dir, tmp_path, capsys):
    """A manifest for ``featbus predict`` names an image on every row: an empty ``image`` cell is refused
    naming its row (the manifest read by the index source, as ``featbus train`` reads it), never skipped."""
    import featbus.datasets as datasets

    csv = tmp_path / "gap.csv"
    images = manifest_dir / "images"
    csv.write_text(f"image,site\n{images / 'scan 0.png'},a\n,a\n{images / 'scan 1.png'},a\n")
    with pytest.raises(ValueError, match=r"gap.csv' row 3: the 'image' cell is empty"):
        datasets.manifest_images(csv)
    assert main(["predict", "breast-us", str(csv), "-q"]) == 2
    _one_line_error(capsys, str(csv), "row 3: the 'image' cell is empty")


def test_a_manifest_whose_every_file_is_missing_is_refused_with_skip(tmp_path):
    csv = tmp_path / "gone.csv"
    csv.write_text("image,label\n" + "".join(f"gone/{i}.png,a\n" for i in range(1000)))
    with pytest.raises(ValueError, match=r"none of the 1000 images .* lists exists \(the first, row 2: .*0.png'\)"):
        load_manifest(csv, on_error="skip")


def _mias_like(root: Path, n_women: int = 6) -> Path:
    """A mini-MIAS-layout folder of phantom mammograms: Info.txt + mdbNNN.png, both sides."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["MIAS-like phantom set", ""]
    for k in range(1, 2 * n_women + 1):
        side = "left" if k % 2 == 0 else "right"
        img, _ = make_mammogram_phantom((200, 160), side=side, seed=k)
        Image.fromarray(img).save(root / f"mdb{k:03d}.png")
        lines.append(f"mdb{k:03d} F NORM" if k % 3 else f"mdb{k:03d} G CIRC B 80 120 10")
    (root / "Info.txt").write_text("\r\n".join(lines) + "\r\n")
    return root


def test_cli_mias_folder_with_preprocessing(tmp_path, capsys):
    root = _mias_like(tmp_path / "mias")
    model = tmp_path / "mias.featbus"
    assert main(["train", str(root), "--task", "abnormal", "--preprocess", "pectoral,flip,crop-breast",
                 "-f", "intensity", "-c", "logreg", "--n-splits", "2", "--n-bootstrap", "0", "-o", str(model),
                 "-q"]) == 0
    out = capsys.readouterr().out
    assert "classes: abnormal, normal" in out
    assert "preprocessing: pectoral -> flip -> crop-breast" in out
    from featbus.model import load_model

    m = load_model(model, warm_up=False)
    assert m.manifest["recipe"]["preprocessing"] == ["pectoral", "flip", "crop-breast"]
    assert m.manifest["data"]["n_groups"] == 6  # the two breasts of a woman are one group
    assert main(["predict", str(model), str(root), "-o", str(tmp_path / "p.csv"), "-q"]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 12
    assert "decisions: " in capsys.readouterr().err  # predict says its rule on stderr
    # the model preprocesses new images itself: same probabilities as preprocessing by hand
    from featbus.pipelines import make_preprocessing

    images = [str(root / "mdb003.png"), str(root / "mdb004.png")]
    steps = make_preprocessing("pectoral,flip,crop-breast")
    from sklearn.pipeline import Pipeline

    seen = Pipeline(steps).fit_transform(images)
    direct = m.head.predict_proba(np.asarray(m.features.transform(seen)))
    np.testing.assert_allclose(m.predict_proba(images), direct, atol=1e-9)
    # no TFLite form for a preprocessing model: refused in one line
    assert main(["export", str(model), "--tflite", str(tmp_path / "m.tflite")]) == 2
    _one_line_error(capsys, "preprocess")


def test_mias_original_folder(mias_original_root, tmp_path, capsys):
    """The real original mini-MIAS folder is recognised (PNG images, the pectoral/ references not read)."""
    with pytest.warns(UserWarning, match="202 image"):  # this copy holds 120 of the 322 images listed
        data = load_data(mias_original_root, task="abnormal")
    assert len(data.target) == 120 and data.target_names.tolist() == ["normal", "abnormal"]
    assert np.bincount(data.target).tolist() == [81, 39]
    assert np.unique(data.groups).size == 60
    from featbus.cli._data import _expand_images

    paths = _expand_images([str(mias_original_root)])
    assert len(paths) == 120 and all(Path(p).name.startswith("mdb") for p in paths)


def test_cli_dicom_window_and_raw(tmp_path, capsys):
    """DICOM mammograms listed in a manifest: read through their window by default, raw with --dicom-raw."""
    pytest.importorskip("pydicom")
    from test_io import _write_dicom

    rng = np.random.default_rng(0)
    rows = []
    for i in range(8):
        arr = rng.integers(1500, 2600, (32, 32)).astype(np.uint16)
        _write_dicom(tmp_path / f"m{i}.dcm", arr, bits=12, window=(1500, 1000))
        rows.append({"image": f"m{i}.dcm", "label": "a" if i % 2 else "b"})
    pd.DataFrame(rows).to_csv(tmp_path / "dcm.csv", index=False)
    means = {}
    for flag in ([], ["--dicom-raw"]):
        out = tmp_path / f"f{len(flag)}.csv"
        assert main(["extract", str(tmp_path / "dcm.csv"), "-f", "intensity", "-o", str(out), "-q", *flag]) == 0
        means[bool(flag)] = pd.read_csv(out).filter(like="mean").iloc[:, 0].mean()
    # the window 1000..2000 shows the 1500..2600 tissue bright (mean 0.455 * 0.75 + 0.545 = 0.886);
    # the stored 12-bit values average 2050 / 4095
    assert means[False] == pytest.approx(0.886, abs=0.02) and means[True] == pytest.approx(2050 / 4095, abs=0.02)
    from featbus import io

    assert io.DICOM_WINDOW is True  # the command restored the default


def test_cli_lesion_patches(tmp_path, capsys):
    """--patches: one patch per Info.txt lesion centre, one at the breast centre of normal images."""
    root = _mias_like(tmp_path / "mias")
    out = tmp_path / "f.csv"
    assert main(["extract", str(root), "--patches", "48", "-f", "intensity", "-o", str(out), "-q"]) == 0
    table = pd.read_csv(out)
    assert len(table) == 12
    assert table["path"].str.endswith("#lesion1").sum() == 4  # mdb003, 006, 009, 012 have a lesion row
    assert table["path"].str.endswith("#breast-centre").sum() == 8
    assert "12 lesion-centred patches of 48 px" in capsys.readouterr().err
    model = tmp_path / "p.featbus"
    assert main(["train", str(root), "--task", "abnormal", "--patches", "48", "-f", "intensity", "-c", "logreg",
                 "--n-splits", "2", "--n-bootstrap", "0", "-o", str(model), "-q"]) == 0
    assert "note: trained on 48 x 48 px lesion-centred patches" in capsys.readouterr().out
    folder = tmp_path / "folders"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        Image.fromarray(np.full((16, 16), 5, np.uint8)).save(folder / c / "x.png")
    assert main(["extract", str(folder), "--patches", "48", "-f", "intensity", "-o", str(tmp_path / "g.csv"),
                 "-q"]) == 2
    _one_line_error(capsys, "--patches needs lesion centres")


def test_lesion_patches_geometry():
    from sklearn.utils import Bunch

    from featbus import ImageRecord
    from featbus.datasets import lesion_patches

    img = np.arange(100 * 80, dtype=np.uint16).reshape(100, 80)
    recs = [ImageRecord(img, meta={"lesions": [(5, 75, 3), (50, 40, 3)], "label": "abnormal"}),
            ImageRecord(img, meta={"lesions": [], "label": "abnormal", "mask_complete": False})]
    data = Bunch(data=recs, target=np.array([1, 1]), target_names=np.array(["normal", "abnormal"]),
                 groups=np.array([3, 3]), paths=["x.png", "y.png"])
    p = lesion_patches(data, size=20)
    assert len(p.data) == 2 and p.dropped == [("y.png", "abnormal, but Info.txt gives no lesion coordinates")]
    corner = p.data[0].image  # centred on (5, 75): rows -5..14, cols 65..84 -> zero where outside
    assert corner[10, 10] == img[5, 75] and corner[:5].max() == 0 and corner[:, 15:].max() == 0
    np.testing.assert_array_equal(p.data[1].image, img[40:60, 30:50])
    assert p.groups.tolist() == [3, 3] and p.data[1].meta["patch_centre"] == (50, 40)
    with pytest.raises(ValueError, match="size must be an int >= 8"):
        lesion_patches(data, size=4)


def test_cli_evaluate_report_of_a_mias_folder(tmp_path, capsys):
    """The report of a mini-MIAS folder with --preprocess names the steps (and needs no 'skipped')."""
    root = _mias_like(tmp_path / "mias")
    report = tmp_path / "rep"
    assert main(["evaluate", str(root), "--task", "abnormal", "--preprocess", "pectoral,crop-breast", "-f",
                 "intensity", "--n-splits", "2", "--n-bootstrap", "0", "-r", str(report), "-q"]) == 0
    html = (report / "report.html").read_text()
    assert "Preprocessing: pectoral -&gt; crop-breast" in html or "Preprocessing: pectoral -> crop-breast" in html
    assert main(["evaluate", str(root), "--task", "abnormal", "--patches", "48", "-f", "intensity",
                 "--n-splits", "2", "--n-bootstrap", "0", "-r", str(tmp_path / "rep2"), "-q"]) == 0


def test_a_manifests_split_spellings_and_the_index_keep_it(manifest_dir, tmp_path):
    """``val`` / ``validation`` / ``dev`` are the ``valid`` split; the index written from a manifest keeps
    the split column, and reads back the same (issue 89's shared ``splits``)."""
    from featbus.datasets import read_release

    table = pd.read_csv(manifest_dir / "study.csv", dtype=str, keep_default_na=False)
    table["split"] = ["train", "VAL", "validation", "dev", "Test", ""] * 5
    table.to_csv(manifest_dir / "spelt.csv", index=False)
    want = ["train", "valid", "valid", "valid", "test", ""] * 5
    assert load_manifest(manifest_dir / "spelt.csv").split.tolist() == want
    index = read_release(manifest_dir / "spelt.csv").write_index(manifest_dir / "spelt_index.csv")
    assert read_release(index).splits == want and load_data(index).split.tolist() == want
    (manifest_dir / "spelt.csv").unlink()
    index.unlink()


def test_read_of_an_index_says_each_row_it_cannot_read(tmp_path, capsys):
    """``featbus read INDEX.csv`` reads each listed image's header, as a folder's: a row whose file is
    not there, is not an image or cannot be opened is left out with its row and why; the others are
    read. An index none of whose images can be read is one line and a non-zero exit."""
    from featbus.datasets import ReleaseError, read_release

    (tmp_path / "images").mkdir()
    Image.fromarray(np.full((40, 50), 90, np.uint8)).save(tmp_path / "images" / "a.png")
    (tmp_path / "notes.txt").write_text("not pixels\n" * 20)
    (tmp_path / "index.csv").write_text("image,label\nimages/a.png,benign\nnotes.txt,malignant\n"
                                        "images/gone.png,benign\nimages,benign\n")
    rel = read_release(tmp_path / "index.csv")
    assert [p.name for p in rel.images] == ["a.png"] and rel.labels == ["benign"]
    said = {(o.item, o.reason) for o in rel.summary.left_out}
    assert said == {("row 3 of index.csv", "not an image"), ("row 4 of index.csv", "unreadable"),
                    ("row 5 of index.csv", "unreadable")}
    assert rel.summary.n_images == 1 and rel.summary.classes == {"benign": 1}
    assert main(["read", str(tmp_path / "index.csv")]) == 0
    out = capsys.readouterr()
    assert "1 images" in out.out and "row 4 of index.csv: unreadable" in out.err + out.out

    (tmp_path / "bad.csv").write_text("image,label\nnotes.txt,benign\n")
    with pytest.raises(ReleaseError, match="none of the 1 images"):
        read_release(tmp_path / "bad.csv")
    assert main(["read", str(tmp_path / "bad.csv")]) != 0
    _one_line_error(capsys, "none of the 1 images", "row 2 of bad.csv", "not an image")


def test_load_data_regroups_a_mias_folder_by_a_group_pattern(tmp_path):
    """``load_data(mias, group_pattern=...)`` keeps mini-MIAS's labels and lesion masks and takes the
    patients from the names instead of the women, said in one warning; the reader's paragraph says so."""
    root = _mias_like(tmp_path / "mias")
    with pytest.warns(UserWarning) as said:
        data = load_data(root, group_pattern=r"mdb0(\d)")  # mdb001-mdb009: '0'; mdb010-mdb012: '1'
    assert data.groups.tolist() == [0] * 9 + [1] * 3 and data.near_duplicate_groups is False
    assert any("--group-pattern" in str(w.message) and "2 patients for 12 images" in str(w.message) for w in said)
    assert "--group-pattern" in data.groups_from
    assert data.target_names.tolist() == ["normal", "benign", "malignant"]
    assert data.target.tolist() == [0, 0, 1] * 4 and [bool(m.any()) for m in data.masks] == [False, False, True] * 4
    assert data.release_summary.patient_source == "pattern" and data.release_summary.n_patients == 2
    plain = load_data(root)
    assert plain.groups.tolist() == [k // 2 for k in range(12)] and plain.release_summary.n_patients == 6


def test_an_index_with_two_mask_columns_has_no_extra_column(manifest_dir, tmp_path):
    """An index's further mask columns (``mask 2``) are its own, as ``mask`` is: not in ``extra_columns`` (the
    columns a data set carries beyond its own, which featbus extract writes through), where a column of the
    user's (``site``) is."""
    frame = pd.read_csv(manifest_dir / "study.csv").fillna("")
    frame["image"] = [str(manifest_dir / p) for p in frame["image"]]
    frame["mask"] = [str(manifest_dir / p) if p else "" for p in frame["mask"]]
    frame.insert(4, "mask 2", frame["mask"])
    frame["site"] = "A"
    frame.to_csv(tmp_path / "two.csv", index=False)
    data = load_manifest(tmp_path / "two.csv")
    assert list(data.extra_columns) == ["site"]
    assert sum(len(r.meta["mask_paths"]) for r in data.data) == 2 * sum(bool(m) for m in frame["mask"])
