"""Issue 55: what a new user meets. The bundled real sample and the demo on it, refusals with a
suggestion instead of silent acceptance, dead ends mended (predict past unreadable images,
model files from other versions, damaged manifests), reports without images."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import stderr_lines
from PIL import Image

from featbus import load_sample
from featbus._registry import did_you_mean, feature_key
from featbus.cli import main

pytestmark = pytest.mark.slow  # runs the demo and the commands (python -m pytest -m "not slow" leaves it out)


def _one_line_error(capsys, *parts):
    err = stderr_lines(capsys.readouterr().err)  # what was read and the scale aside
    assert len(err) == 1 and "Traceback" not in err[0], err
    for part in parts:
        assert part in err[0], err[0]
    return err[0]


# --------------------------------------------------------------------------- item 3: the sample


def test_sample_is_small_cited_and_grouped_by_patient():
    from featbus.datasets import SAMPLE_DIR

    data = load_sample()
    assert len(data.images) == 52 and data.target_names.tolist() == ["benign", "malignant", "normal"]
    assert np.bincount(data.target).tolist() == [24, 24, 4]
    assert all(max(im.shape) <= 224 for im in data.images)
    assert sum(m.any() for m in data.masks) == 48  # the normal images have empty masks
    assert len(np.unique(data.groups)) == len({r.meta["caseid"] for r in data.data})
    assert "Scientific Data 11:148" in data.DESCR and "10.7937/9WKK-Q141" in data.DESCR
    note = (SAMPLE_DIR / "README.txt").read_text(encoding="utf-8")
    assert "CC BY 4.0" in note and "Pawłowska" in note and "10.7937/9WKK-Q141" in note
    size = sum(f.stat().st_size for f in SAMPLE_DIR.rglob("*") if f.is_file())
    assert size < 3_000_000
    two = load_sample(classes=["malignant", "benign"])
    assert two.target_names.tolist() == ["malignant", "benign"] and len(two.images) == 48
    assert {r.meta["label"] for r in two.data} == {"benign", "malignant"}
    with pytest.raises(ValueError, match="no class"):
        load_sample(classes=["cyst"])


def test_demo_runs_on_the_sample_with_honest_and_optimistic_figures(capsys):
    assert main(["demo", "--n-bootstrap", "100", "-q"]) == 0
    out = capsys.readouterr().out
    assert "bundled sample: 48 BrEaST-Lesions-USG" in out and "CC BY 4.0" in out
    assert "honest (no mask)" in out and "optimistic (reads the masks)" in out
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    assert "accuracy" in rows and "malignant AUC" in rows and "verdict" in rows
    assert "honest:" in out and "optimistic:" in out and "quote the honest figure" in out


def test_demo_phantoms_stay_behind_a_flag(capsys):
    assert main(["demo", "--phantoms", "--n-samples", "30", "--image-size", "48", "--n-bootstrap", "0", "-q"]) == 0
    assert "synthetic ultrasound phantoms" in capsys.readouterr().out


# --------------------------------------------------------------------------- item 4: refusals, suggestions


def test_closest_names_and_aliases():
    assert did_you_mean("lbpp", ["hog", "lbp"]) == " (did you mean 'lbp'?)"
    assert feature_key("NGLDM") == "gldm" and feature_key("efficientnet-lite0") == "efficientnet_lite0"
    from featbus.pipelines import make_features
    from featbus.pipelines.ingredients import CLASSIFIER_TABLE, find
    from featbus.pipelines.recipes import get_recipe

    with pytest.raises(ValueError, match=r"did you mean 'lbp'\?"):
        make_features("lbpp")
    with pytest.raises(ValueError, match=r"did you mean 'svm'\?"):
        find(CLASSIFIER_TABLE, "svmm", "classifier")
    with pytest.raises(ValueError, match=r"did you mean 'handcrafted'\?"):
        get_recipe("handcrafte")
    names = [name for name, _ in make_features("ngldm,intensity").transformer_list]
    assert names == ["gldm", "intensity"]


def test_backbone_spelling_of_the_readme_is_accepted():
    from featbus.networks.backbones import get_backbone

    assert get_backbone("efficientnet-lite0") is get_backbone("efficientnet_lite0")
    with pytest.raises(ValueError, match=r"did you mean 'efficientnet_lite0'\?"):
        get_backbone("efficientnet_lite0x")


def test_task_on_data_without_it_is_refused(capsys):
    from featbus.datasets import SAMPLE_DIR

    assert main(["evaluate", str(SAMPLE_DIR), "--task", "abnormal", "-f", "intensity", "-q"]) == 2
    _one_line_error(capsys, "task 'abnormal'", "mini-MIAS")


def test_labels_differing_in_case_or_spaces_are_refused(tmp_path, capsys):
    for k in range(4):
        Image.fromarray(np.full((16, 16), 40 * k, np.uint8)).save(tmp_path / f"{k}.png")
    (tmp_path / "m.csv").write_text("image,label\n0.png,benign\n1.png,Benign \n2.png,malignant\n3.png,malignant\n")
    assert main(["extract", str(tmp_path / "m.csv"), "-f", "intensity", "-o", str(tmp_path / "o.csv")]) == 2
    _one_line_error(capsys, "'Benign' and 'benign'", "differ only in case")
    root = tmp_path / "folders"
    for name in ("benign", "benign ", "malignant"):
        (root / name).mkdir(parents=True)
        Image.fromarray(np.full((16, 16), 9, np.uint8)).save(root / name / "a.png")
    assert main(["extract", str(root), "-f", "intensity", "-o", str(tmp_path / "o2.csv")]) == 2
    _one_line_error(capsys, "'benign' and 'benign '", "surrounding spaces")


def test_manifest_column_suggestion(tmp_path):
    from featbus import load_manifest

    Image.fromarray(np.full((16, 16), 9, np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text("imgae,label\na.png,x\n")
    with pytest.raises(ValueError, match=r"'image': did you mean 'imgae'\?"):
        load_manifest(tmp_path / "m.csv")


def test_a_bunch_given_to_fit_says_what_to_pass():
    from featbus import LBPFeatures

    data = load_sample(classes=["benign", "malignant"])
    with pytest.raises(ValueError, match=r"pass data\.data, data\.target .* featbus\.evaluate"):
        LBPFeatures().fit(data, data.target)


def test_a_cnn_pipeline_without_keras_says_so_when_built(monkeypatch):
    import featbus.networks.backend as backend
    from featbus.pipelines import make_classification_pipeline

    make_classification_pipeline(["efficientnet_lite0", "lbp"])  # installed here: builds
    monkeypatch.setattr(backend, "_keras_found", lambda: False)
    with pytest.raises(ImportError, match=r'pip install "featbus\[deep\]"') as info:
        make_classification_pipeline(["efficientnet_lite0", "lbp"], balance="smote", classifier="svm")
    assert "\n" not in str(info.value) and "efficientnet_lite0" in str(info.value)
    make_classification_pipeline(["lbp"])  # no network: no Keras needed


# --------------------------------------------------------------------------- item 5: dead ends


@pytest.fixture(scope="module")
def sample_model(tmp_path_factory):
    from featbus.workflows.training import train_model

    data = load_sample(classes=["benign", "malignant"])
    model = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, progress=False)
    return model.save(tmp_path_factory.mktemp("m") / "m.featbus")


def _rewritten(src, dst, change):
    import json
    import zipfile

    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for item in zi.infolist():
            data = zi.read(item.filename)
            if item.filename == "manifest.json":
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest).encode()
            zo.writestr(item, data)
    return dst


def test_predict_goes_past_unreadable_images_and_masks(sample_model, tmp_path, capsys):
    from featbus.datasets import SAMPLE_DIR

    image, mask = SAMPLE_DIR / "benign" / "case015.png", SAMPLE_DIR / "benign" / "case015_mask.png"
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tiny)
    out = tmp_path / "p.csv"
    assert main(["predict", str(sample_model), str(image), str(mask), str(tiny), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "left out 1 mask file(s) given as images" in err and "case015_mask.png" in err
    import pandas as pd

    table = pd.read_csv(out, keep_default_na=False)
    assert table["image"].str.endswith("case015.png").sum() == 1 and len(table) == 2
    assert "5x5" in table.loc[table["image"] == str(tiny), "error"].item()
    assert main(["predict", str(sample_model), str(tiny)]) == 2  # nothing could be predicted
    assert "none of the 1 image(s) could be predicted" in capsys.readouterr().err
    assert main(["predict", str(sample_model), str(image), str(tiny), "--on-error", "raise"]) == 2
    _one_line_error(capsys, "5x5")


def test_a_list_of_extractors_is_damaged_not_an_internal_error(sample_model, tmp_path, capsys):
    def as_list(m):
        m["recipe"]["extractors"] = list(m["recipe"]["extractors"])

    bad = _rewritten(sample_model, tmp_path / "bad.featbus", as_list)
    for command in (["inspect", str(bad)], ["predict", str(bad), str(bad)]):
        assert main(command) == 2
        _one_line_error(capsys, "is damaged", "'extractors'")


def test_another_featbus_version_is_converted_by_upgrade(sample_model, tmp_path, capsys):
    from featbus import load_model

    def older(m):
        m["versions"]["featbus"] = "0.0.9"

    old = _rewritten(sample_model, tmp_path / "old.featbus", older)
    assert main(["inspect", str(old)]) == 0
    out = capsys.readouterr().out
    assert "loads in this installation: no" in out and "featbus upgrade" in out and "retrain" in out
    assert main(["predict", str(old), str(old)]) == 2
    line = _one_line_error(capsys, "featbus 0.0.9", "featbus upgrade", "featbus train")
    assert "install featbus==" not in line
    new = tmp_path / "new.featbus"
    assert main(["upgrade", str(old), "-o", str(new)]) == 0
    assert "converted from featbus 0.0.9" in capsys.readouterr().out
    model = load_model(new, warm_up=False)  # no trust needed, this version's file
    assert any("converted by featbus upgrade" in n for n in model.manifest["notes"])


# --------------------------------------------------------------------------- item 6: reports


def test_report_images_can_be_left_out_and_paths_are_relative(tmp_path, capsys):
    from featbus.datasets import SAMPLE_DIR

    args = ["evaluate", str(SAMPLE_DIR), "-f", "intensity", "--n-splits", "3", "--n-bootstrap", "0", "-q"]
    assert main([*args, "--report", str(tmp_path / "a")]) == 0
    page = (tmp_path / "a" / "report.html").read_text()
    assert "<figure" in page and "This page embeds thumbnails" in page
    assert str(SAMPLE_DIR / "benign") not in page and 'title="benign/case' in page  # relative to the data root
    assert main([*args, "--report", str(tmp_path / "b"), "--no-images"]) == 0
    page = (tmp_path / "b" / "report.html").read_text()
    assert "<figure" not in page and "Misclassified images" not in page
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "embeds thumbnails" in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")


def test_the_readme_benchmark_finds_the_readme_snippet():
    """benchmarks/readme_script.py runs the README's "In a script" block as the README writes it."""
    from conftest import repo_script

    code = repo_script("benchmarks/readme_script.py").readme_snippet()
    assert "GridSearchCV(" in code and "path/to/Dataset_BUSI_with_GT" in code and "evaluate(" in code
