"""``featbus train TABLE`` / ``featbus evaluate TABLE``: a cluster extracts, a laptop trains (issue 102).

A small set of class folders (phantoms, all one size, with lesion masks) is extracted to each format
``featbus extract`` writes; training on the table must give the figures training on the images gives
with the same features, and the model must predict on images as the image-trained one does.

Tolerance: the table's features are the image run's features (same extractors, same images), so the
figures agree to float round-off: ``TOL`` = 1e-9 for Parquet and NPZ (binary float64); CSV stores each
number as text, which pyarrow writes with enough digits to round-trip float64, so the same bound holds
(kept separate, ``CSV_TOL``, in case a writer rounds).

The profile of the training images (``training_images``: sizes, colour, seven image statistics and their
Mahalanobis reference) that ``featbus extract`` records of the images it describes is computed from the same
pixels by the same functions as training on the images computes it (the phantoms are 64 px, the image model's
scale), then travels as JSON (Python's float repr round-trips float64): the two agree to ``PROFILE_TOL`` = 1e-12
(absolute, on values of order 1 to 100; the Ledoit-Wolf precision is summed in another order by no step).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import stderr_lines

from featbus import make_phantoms
from featbus.cli import main
from featbus.model import load_model

TOL = 1e-9
CSV_TOL = 1e-9
PROFILE_TOL = 1e-12
FEATURES = "intensity,lbp"
QUICK = ["-q", "--n-bootstrap", "50"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """36 phantoms (12 per class, 64 px) as class folders with masks beside, and the tables of
    ``featbus extract -f intensity,lbp`` in the three formats."""
    import imageio.v3 as iio

    root = tmp_path_factory.mktemp("table")
    data = make_phantoms(36, image_size=64, random_state=0)
    for i, (rec, t) in enumerate(zip(data.data, data.target)):
        folder = root / "set" / str(data.target_names[t])
        folder.mkdir(parents=True, exist_ok=True)
        iio.imwrite(folder / f"img{i:03d}.png", np.asarray(rec.image, dtype=np.uint8))
        iio.imwrite(folder / f"img{i:03d}_mask.png", (np.asarray(rec.mask) > 0).astype(np.uint8) * 255)
    for suffix in ("parquet", "csv", "npz"):
        assert main(["extract", str(root / "set"), "-f", FEATURES, "-o", str(root / f"t.{suffix}"), "-q"]) == 0
    return root


@pytest.fixture(scope="module")
def image_model(built):
    """The model trained on the images with the same features: the figures the tables must give."""
    out = built / "images.featbus"
    assert main(["train", str(built / "set"), "-f", FEATURES, "-c", "svm", "-o", str(out), *QUICK]) == 0
    return load_model(out)


def _figures(manifest) -> dict:
    cv = manifest["cv"]
    out = {m: cv[m]["value"] for m in ("accuracy", "f1", "auc", "sensitivity", "specificity") if m in cv}
    out.update({f"class {k}": v for k, v in cv["per_class_accuracy"].items()})
    out["threshold"] = manifest["operating_point"]["threshold"]
    return out


def test_extract_records_the_recipe_in_each_format(built):
    table = pd.read_parquet(built / "t.parquet")
    recipe = table.attrs["featbus"]["recipe"]
    assert list(recipe["settings"]["features"]) == ["intensity", "lbp"]
    assert recipe["feature_names"] == [c for c in table.columns if "__" in c] and len(recipe["feature_names"]) == 77
    with np.load(built / "t.npz") as z:
        assert json.loads(str(z["recipe"][()]))["feature_names"] == z["feature_names"].tolist()
    side = json.loads((built / "t.csv.settings.json").read_text())
    assert side["columns"]["recipe"]["in"] == "this file" and list(side["features"]) == ["intensity", "lbp"]
    # the profile of the 36 images it described, in each format's recipe (a CSV's: its sidecar)
    for images in (recipe["images"], json.loads(str(np.load(built / "t.npz")["recipe"][()]))["images"],
                   side["columns"]["recipe"]["images"]):
        assert images["profile"]["n_images"] == 36 and images["from"].startswith("the 36 images it described")


def _same_profile(got, want, where: str = "training_images") -> None:
    """Two training-image profiles (JSON values) equal, numbers to PROFILE_TOL."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            _same_profile(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list) and any(isinstance(v, str) for v in want):  # names
        assert got == want, where
    elif isinstance(want, (list, float, int)) and not isinstance(want, bool):
        np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=0,
                                   atol=PROFILE_TOL, err_msg=where)
    else:
        assert got == want, where


@pytest.mark.parametrize("suffix", ["parquet", "csv", "npz"])
def test_train_on_the_table_gives_the_image_figures_and_predicts_images(built, image_model, suffix, capsys):
    out = built / f"{suffix}.featbus"
    assert main(["train", str(built / f"t.{suffix}"), "-c", "svm", "-o", str(out), *QUICK]) == 0
    printed = capsys.readouterr()
    assert "36 rows {'benign': 12, 'malignant': 12, 'normal': 12}" in printed.err
    assert "its recipe: intensity, lbp (the model computes them from images too)" in printed.err
    assert "verdict" in printed.out
    model = load_model(out)
    tol = CSV_TOL if suffix == "csv" else TOL
    got, want = _figures(model.manifest), _figures(image_model.manifest)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=tol), key
    # the same duplicate groups: the folds are named as for the images
    assert model.manifest["cv"]["cv"] == image_model.manifest["cv"]["cv"] == "duplicate-grouped 5-fold"
    assert model.manifest["data"]["n_groups"] == image_model.manifest["data"]["n_groups"]
    assert model.manifest["data"]["table"]["recipe"].startswith("rebuilt")
    # the profile of its training images is the image-trained model's
    _same_profile(model.manifest["training_images"], image_model.manifest["training_images"])
    # predict on images works, as the image-trained model predicts
    images = sorted(str(p) for p in (built / "set").rglob("img*.png") if "_mask" not in p.name)
    assert main(["predict", str(out), *images[:6], "-o", str(built / f"p-{suffix}.csv"), "-q"]) == 0
    assert main(["predict", str(built / "images.featbus"), *images[:6], "-o", str(built / "p-img.csv"), "-q",
                 "--overwrite"]) == 0
    a, b = pd.read_csv(built / f"p-{suffix}.csv"), pd.read_csv(built / "p-img.csv")
    assert a["predicted"].tolist() == b["predicted"].tolist()
    for c in ("p_benign", "p_malignant", "p_normal"):
        np.testing.assert_allclose(a[c], b[c], atol=1e-5)  # the CSV's six decimals


def test_predict_on_a_table_gives_the_image_predictions(built, image_model, capsys):
    out = built / "from-table.csv"
    assert main(["predict", str(built / "images.featbus"), str(built / "t.parquet"), "-o", str(out), "-q"]) == 0
    rows = pd.read_csv(out)
    paths = pd.read_parquet(built / "t.parquet")["path"].tolist()
    assert rows["image"].tolist() == paths
    proba = image_model.predict_proba(paths)
    np.testing.assert_allclose(rows[[f"p_{c}" for c in image_model.classes_]].to_numpy(), proba, atol=1e-5)


def _photo(path) -> str:
    """A photograph-like RGB picture: a sky shading from blue, a green hillside, a yellow sun, sensor noise."""
    import cv2

    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:96, 0:128]
    bgr = np.zeros((96, 128, 3))
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 200 - 0.6 * y, 150 - 0.4 * y, 90
    bgr[y > 60 + 8 * np.sin(x / 12)] = (40, 120, 60)
    cv2.circle(bgr, (92, 24), 10, (60, 200, 250), -1)
    cv2.imwrite(str(path), np.clip(bgr + rng.normal(0, 4, bgr.shape), 0, 255).astype(np.uint8))
    return str(path)


def test_a_table_model_names_a_photograph_out_of_domain_as_the_image_model_does(built, tmp_path, capsys):
    """Extracted as it is read (patients from the file names: no pixel kept for near-duplicate groups), each
    image's look kept as it is described: the table model's profile is the image model's, and a photograph gets
    the same verdict from both, no class, where a table model without the profile said a class."""
    import imageio.v3 as iio

    folder = tmp_path / "us"
    for i, p in enumerate(sorted((built / "set").rglob("img*.png"))):
        if "_mask" not in p.name:
            (folder / p.parent.name).mkdir(parents=True, exist_ok=True)
            iio.imwrite(folder / p.parent.name / f"case{i // 4:03d}_{i % 4}.png", iio.imread(p))
    table = tmp_path / "t.parquet"
    assert main(["extract", str(folder), "-f", FEATURES, "-o", str(table), "-q"]) == 0
    assert "patients read from the file names" in capsys.readouterr().err
    for name, data in (("table", table), ("images", folder)):
        extra = ["-f", FEATURES] if name == "images" else []
        assert main(["train", str(data), *extra, "-c", "svm", "-o", str(tmp_path / f"{name}.featbus"), *QUICK]) == 0
    m_table, m_images = load_model(tmp_path / "table.featbus"), load_model(tmp_path / "images.featbus")
    assert m_table.manifest["data"]["n_groups"] == m_images.manifest["data"]["n_groups"] == 18
    _same_profile(m_table.manifest["training_images"], m_images.manifest["training_images"])
    assert any("it holds the profile featbus extract recorded of the 36 images" in n for n in m_table.manifest["notes"])
    photo = _photo(tmp_path / "photo.png")
    said = {}
    for name in ("table", "images"):
        capsys.readouterr()
        assert main(["predict", str(tmp_path / f"{name}.featbus"), photo, "-o", str(tmp_path / f"{name}.csv"),
                     "-q"]) == 0
        said[name] = pd.read_csv(tmp_path / f"{name}.csv", keep_default_na=False).iloc[0]
    for name in said:
        assert said[name]["predicted"] == "out of domain", name
        assert said[name]["out_of_domain_reason"].startswith("a colour picture (mean colour"), name
    assert said["table"]["out_of_domain_reason"] == said["images"]["out_of_domain_reason"]
    assert said["table"]["image_statistics"] == pytest.approx(said["images"]["image_statistics"], abs=1e-4)


def test_evaluate_on_the_table_prints_the_image_table(built, capsys):
    args = ["-c", "svm,logreg", *QUICK]
    assert main(["evaluate", str(built / "t.npz"), *args]) == 0
    from_table = capsys.readouterr().out
    assert main(["evaluate", str(built / "set"), "-f", FEATURES, *args]) == 0
    from_images = capsys.readouterr().out
    assert "intensity,lbp | svm | none" in from_table
    # every figure, interval and verdict line is the same
    assert from_table == from_images


def test_a_table_without_its_recipe_makes_a_table_model(built, capsys):
    with np.load(built / "t.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "recipe"}
    np.savez(built / "bare.npz", **arrays)
    out = built / "bare.featbus"
    assert main(["train", str(built / "bare.npz"), "-c", "logreg", "-o", str(out), *QUICK]) == 0
    assert "no recipe (made elsewhere, or by an older featbus)" in capsys.readouterr().err
    model = load_model(out)
    assert not model.reads_images and len(model.feature_columns) == 77
    # on a table: predicted; on images: one line saying why not
    assert main(["predict", str(out), str(built / "t.parquet"), "-o", str(built / "bare.csv"), "-q"]) == 0
    assert len(pd.read_csv(built / "bare.csv")) == 36
    capsys.readouterr()
    image = next(p for p in (built / "set" / "benign").glob("img*.png") if "_mask" not in p.name)
    assert main(["predict", str(out), str(image), "-q"]) == 2
    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1 and "without its recipe" in err[0] and "cannot compute its features from images" in err[0]
    # a CSV copied without its sidecar has no recipe either
    csv = built / "lone" / "t.csv"
    csv.parent.mkdir()
    csv.write_bytes((built / "t.csv").read_bytes())
    assert main(["train", str(csv), "-c", "logreg", "-o", str(built / "lone.featbus"), *QUICK]) == 0
    assert "settings sidecar, and none is beside it" in capsys.readouterr().err


def _one_error(capsys) -> str:
    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1, err
    return err[0]


def test_refusals_are_one_line(built, capsys, tmp_path):
    train = ["train", "-o", str(tmp_path / "m.featbus"), "-q"]
    # options that only make sense for images, named
    assert main([*train[:1], str(built / "t.parquet"), *train[1:], "-f", "hog", "--input-scale", "320"]) == 2
    line = _one_error(capsys)
    assert "--features, --input-scale apply to images" in line
    # a table without labels
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sorted((built / "set" / "benign").glob("img00*.png"))[:3]:
        (flat / p.name).write_bytes(p.read_bytes())
    assert main(["extract", str(flat), "-f", "intensity", "-o", str(tmp_path / "u.parquet"), "-q"]) == 0
    capsys.readouterr()
    assert main([*train[:1], str(tmp_path / "u.parquet"), *train[1:]]) == 2
    assert "has no labels" in _one_error(capsys)
    # a NaN feature: the row named
    frame = pd.read_parquet(built / "t.parquet")
    frame.loc[4, "lbp__lbp.r1.p8.u0"] = np.nan
    frame.to_parquet(tmp_path / "nan.parquet")
    assert main([*train[:1], str(tmp_path / "nan.parquet"), *train[1:]]) == 2
    line = _one_error(capsys)
    assert "row 5" in line and frame.loc[4, "path"] in line and "'lbp__lbp.r1.p8.u0'" in line
    # a table whose columns differ from the model's: the first missing named
    frame = pd.read_parquet(built / "t.parquet").drop(columns=["lbp__lbp.r1.p8.u0", "lbp__lbp.r1.p8.u1"])
    frame.attrs = {}
    frame.to_parquet(tmp_path / "fewer.parquet")
    assert main(["predict", str(built / "images.featbus"), str(tmp_path / "fewer.parquet"), "-q"]) == 2
    line = _one_error(capsys)
    assert "lacks the feature column 'lbp__lbp.r1.p8.u0' (and 1 more) of the model" in line


def test_columns_marked_as_reading_the_masks_are_refused_by_train(built, capsys, tmp_path):
    out = tmp_path / "leak.parquet"
    assert main(["extract", str(built / "set"), "-f", "intensity,shape", "-o", str(out), "-q"]) == 0
    assert "marked 'label_leak' in the table" in capsys.readouterr().err
    assert main(["train", str(out), "-o", str(tmp_path / "m.featbus"), "-q"]) == 2
    line = _one_error(capsys)
    assert "marked 'label_leak' by featbus extract" in line and "shape__" in line and "extract the table again" in line
    # evaluate scores them, saying so
    assert main(["evaluate", str(out), *QUICK]) == 0
    assert "marked 'label_leak'" in capsys.readouterr().out


def test_validate_on_a_table_gives_the_figures_of_the_images(built, capsys):
    """A model trained on a table keeps no image fingerprint, so on its own images validate judges
    every one: the table's rows and the images give the same figures."""
    from featbus.evaluation.validation import validate, validate_table
    from featbus.pipelines.tables import read_feature_table

    model = load_model(built / "npz.featbus") if (built / "npz.featbus").exists() else None
    if model is None:
        assert main(["train", str(built / "t.npz"), "-c", "svm", "-o", str(built / "npz.featbus"), *QUICK]) == 0
        model = load_model(built / "npz.featbus")
    on_table = validate_table(model, read_feature_table(built / "t.parquet"), n_bootstrap=50)
    on_images = validate(model, str(built / "set"), n_bootstrap=50)
    assert on_table.n_groups == on_images.n_groups == 35
    assert on_table.figures.keys() == on_images.figures.keys() and "accuracy" in on_images.figures
    for key, value in on_images.figures.items():
        assert on_table.figures[key] == pytest.approx(value, abs=TOL, nan_ok=True), key
    capsys.readouterr()
    assert main(["validate", str(built / "npz.featbus"), str(built / "t.csv"), "--n-bootstrap", "50", "-q"]) == 0
    assert "36 rows of the feature table t.csv" in capsys.readouterr().out


def test_a_table_that_records_nothing_still_has_its_mask_columns_refused(built, capsys, tmp_path):
    out = tmp_path / "lone" / "l.csv"
    out.parent.mkdir()
    assert main(["extract", str(built / "set"), "-f", "intensity,shape", "-o", str(out), "-q"]) == 0
    (tmp_path / "lone" / "l.csv.settings.json").unlink()  # a CSV copied alone: no record of its columns
    capsys.readouterr()
    assert main(["train", str(out), "-o", str(tmp_path / "m.featbus"), "-q"]) == 2
    line = _one_error(capsys)
    assert "18 of 41 columns" in line and "of a family that reads a lesion mask" in line


def test_train_on_a_table_holds_out_the_groups_the_images_would(built, tmp_path, capsys):
    """``--test-fraction`` on a table holds out the same whole groups as on its images (same labels, groups and
    seed), and the model scores them as the image model scores the images: the same accuracy to ``TOL``."""
    runs = {}
    for name, data, extra in (("table", built / "t.parquet", []), ("images", built / "set", ["-f", FEATURES])):
        out, held = tmp_path / f"{name}.featbus", tmp_path / f"{name}-held.csv"
        assert main(["train", str(data), *extra, "-c", "svm", "-o", str(out), "--test-fraction", "0.25",
                     "--holdout-list", str(held), *QUICK]) == 0
        runs[name] = capsys.readouterr()
        runs[name] = (load_model(out).manifest, pd.read_csv(held), runs[name])
    (m_table, h_table, said), (m_images, h_images, _) = runs["table"], runs["images"]
    assert f"; {len(h_table)} held out (whole duplicate groups)" in said.err and 0 < len(h_table) < 36
    assert h_table["image"].tolist() == h_images["image"].tolist()
    assert h_table["label"].tolist() == h_images["label"].tolist()
    assert m_table["data"]["n_images"] == m_images["data"]["n_images"] == 36 - len(h_table)
    assert m_table["holdout"]["n_images"] == len(h_table)
    assert m_table["holdout"]["accuracy"] == pytest.approx(m_images["holdout"]["accuracy"], abs=TOL)
    assert "held-out (" in said.out and "verdict on the held-out images" in said.out
    assert any("held-out ones included" in n for n in m_table["notes"])


def test_evaluate_on_a_table_holds_out_and_reports_as_on_the_images(built, tmp_path, capsys):
    """``evaluate TABLE --test-fraction F`` prints what the images give (the same held-out groups, pipelines and
    figures); ``--report`` writes the pages, without the images' gallery and intensities, saying why."""
    args = ["-c", "svm", "--test-fraction", "0.25", *QUICK]
    assert main(["evaluate", str(built / "t.npz"), *args, "--report", str(tmp_path / "rep")]) == 0
    from_table = capsys.readouterr().out
    assert main(["evaluate", str(built / "set"), "-f", FEATURES, *args]) == 0
    from_images = capsys.readouterr().out
    assert "held-out test set (0.25 of the groups):" in from_table
    assert from_table.split("\nreport:")[0] == from_images
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "No gallery of misclassified images and no intensities by class" in page
    assert "Intensity per class" not in page and "Misclassified images" not in page
    assert {p.name for p in (tmp_path / "rep").iterdir()} == {"report.html", "test.html", "summary.csv",
                                                              "features.settings.json"}
    with np.load(built / "t.npz") as z:
        recipe = json.loads(str(z["recipe"][()]))
    assert json.loads((tmp_path / "rep" / "features.settings.json").read_text()) == recipe["settings"]
    # a folder of test images beside a table: one line saying what to do
    assert main(["evaluate", str(built / "t.npz"), "--test", str(built / "set"), "-q"]) == 2
    assert "--test is a folder of images, and DATA a feature table" in _one_error(capsys)


def test_validate_on_a_table_tabulates_the_subgroups_of_its_passed_through_column(built, tmp_path, capsys):
    """A manifest's column (``device``) passed through by extract is a subgroup of the table's rows, as of the
    images: the same subgroup figures; a column the table lacks is refused naming those it has."""
    from featbus.evaluation.validation import validate, validate_table
    from featbus.pipelines.tables import read_feature_table

    images = sorted(p for p in (built / "set").rglob("img*.png") if "_mask" not in p.name)
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,label,device\n" + "".join(
        f"{p},{p.parent.name},{'A' if i % 3 else 'B'}\n" for i, p in enumerate(images)))
    if not (built / "npz.featbus").exists():  # a table's model keeps no fingerprint: validate judges every image
        assert main(["train", str(built / "t.npz"), "-c", "svm", "-o", str(built / "npz.featbus"), *QUICK]) == 0
    model = load_model(built / "npz.featbus")
    for suffix in ("parquet", "csv", "npz"):
        out = tmp_path / f"d.{suffix}"
        assert main(["extract", str(manifest), "-f", FEATURES, "-o", str(out), "-q"]) == 0
        table = read_feature_table(out)
        assert sorted(set(table.extra["device"])) == ["A", "B"]
        on_table = validate_table(model, table, n_bootstrap=50, subgroup="device")
        on_images = validate(model, str(manifest), n_bootstrap=50, subgroup="device")
        got, want = on_table.subgroups["device"], on_images.subgroups["device"]
        assert [r["value"] for r in got] == [r["value"] for r in want] == ["A", "B"]
        assert [r["n_images"] for r in got] == [r["n_images"] for r in want] == [24, 12]
        for g, w in zip(got, want):
            assert g["figures"].keys() == w["figures"].keys() and "accuracy" in w["figures"]
            for key, figure in w["figures"].items():
                assert g["figures"][key] == pytest.approx(figure, abs=TOL, nan_ok=True), (w["value"], key)
    capsys.readouterr()
    assert main(["validate", str(built / "npz.featbus"), str(tmp_path / "d.csv"), "--subgroup", "device",
                 "--n-bootstrap", "50", "-q"]) == 0
    assert "subgroups by device:" in capsys.readouterr().out
    assert main(["validate", str(built / "npz.featbus"), str(tmp_path / "d.csv"), "--subgroup", "scanner",
                 "-q"]) == 2
    line = _one_error(capsys)
    assert "subgroup column 'scanner' is not in these data" in line and "device" in line
