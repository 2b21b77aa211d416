"""Settings files (featbus.settings): checked against the registry, used by the commands, and
recorded beside every feature table so that the table can be made again from its sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from featbus.cli import main
from featbus.datasets import make_phantoms
from featbus.settings import SettingsError, check_settings, read_settings, settings_extractors


@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("phantoms")
    ph = make_phantoms(24, image_size=64, random_state=1)
    for i, (im, m, t) in enumerate(zip(ph.images, ph.masks, ph.target)):
        folder = root / str(ph.target_names[t])
        folder.mkdir(exist_ok=True)
        Image.fromarray(im).save(folder / f"case ({i}).png")
        Image.fromarray((m * 255).astype(np.uint8)).save(folder / f"case ({i})_mask.png")
    return root


def test_yaml_and_json_read_the_same(tmp_path):
    (tmp_path / "s.yaml").write_text("region: mask\npreprocess: [clahe]\nfeatures:\n"
                                     "  glcm: {distances: [1, 3], levels: 16}\n  intensity:\n")
    (tmp_path / "s.json").write_text(json.dumps({"region": "mask", "preprocess": ["clahe"], "features": {
        "glcm": {"distances": [1, 3], "levels": 16}, "intensity": {}}}))
    a, b = read_settings(tmp_path / "s.yaml"), read_settings(tmp_path / "s.json")
    assert a == b == {"features": {"glcm": {"distances": (1, 3), "levels": 16}, "intensity": {}},
                      "region": "mask", "preprocess": ["clahe"]}
    (name, glcm), (_, intensity) = settings_extractors(a)
    assert name == "glcm" and glcm.distances == (1, 3) and glcm.levels == 16
    assert type(intensity).__name__ == "IntensityStats"


@pytest.mark.parametrize("raw, match", [
    ({"features": {"glcm": {"distancez": [1]}}}, r"features\.glcm\.distancez: GLCMFeatures has no parameter"),
    ({"features": {"glcmm": {}}}, r"features\.glcmm: unknown feature 'glcmm'"),
    ({"features": {"glcm": {"levels": -3}}}, r"features\.glcm: The 'levels' parameter"),
    ({"features": {"lbp": {"region": "mask"}}}, r"set for the whole run"),
    ({"features": {"lbp": {"n_jobs": 2}}}, r"set for the whole run"),
    ({"features": {"lbp": [1]}}, r"parameters must be a mapping"),
    ({"features": {}}, r"'features' must map at least one family"),
    ({"region": "lesion", "features": {"lbp": {}}}, r"region must be one of"),
    ({"preprocess": ["sharpen"], "features": {"lbp": {}}}, r"preprocess must be a list of step names"),
    ({"extra": 1, "features": {"lbp": {}}}, r"unknown key\(s\) \['extra'\]"),
    ([1, 2], r"must be a mapping"),
])
def test_bad_settings_name_the_key(raw, match):
    with pytest.raises(SettingsError, match=match):
        check_settings(raw, source="s.yaml")


def test_files_that_are_not_settings(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        read_settings(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("features: [\n")
    with pytest.raises(SettingsError, match="not valid YAML.*line 2"):
        read_settings(tmp_path / "broken.yaml")
    # YAML that would build a Python object is refused: settings are plain data (yaml.safe_load)
    (tmp_path / "object.yaml").write_text("features: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        read_settings(tmp_path / "object.yaml")


def test_extract_records_its_settings_and_the_record_makes_the_table_again(phantom_dir, tmp_path, capsys):
    params = tmp_path / "settings.yaml"
    params.write_text("region: mask\nfeatures:\n  glcm: {distances: [2], levels: 16}\n  lbp: {radii: [1]}\n")
    first = tmp_path / "first.csv"
    assert main(["extract", str(phantom_dir), "--params", str(params), "-o", str(first), "--cache", "none"]) == 0
    record = json.loads((tmp_path / "first.csv.settings.json").read_text())
    assert record["featbus"] and record["region"] == "mask" and record["data"]["images"] == 24
    assert record["features"]["glcm"]["distances"] == [2] and "props" in record["features"]["glcm"]  # every parameter
    assert "cache" not in record["features"]["lbp"]  # how a run went is not a setting
    again = tmp_path / "again.csv"
    assert main(["extract", str(phantom_dir), "--params", str(tmp_path / "first.csv.settings.json"),
                 "-o", str(again), "--cache", "none"]) == 0
    a, b = pd.read_csv(first), pd.read_csv(again)
    assert list(a.columns) == list(b.columns) and any(c.startswith("glcm__") for c in a.columns)
    np.testing.assert_allclose(a.select_dtypes("number").to_numpy(), b.select_dtypes("number").to_numpy(),
                               rtol=1e-12)
    capsys.readouterr()


def test_command_line_refusals_are_one_line(phantom_dir, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: {glcm: {distancez: [1]}}\n")
    assert main(["extract", str(phantom_dir), "--params", str(bad), "-o", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "features.glcm.distancez" in err and "Traceback" not in err
    good = tmp_path / "good.yaml"
    good.write_text("region: mask\nfeatures: {lbp: {}}\n")
    assert main(["extract", str(phantom_dir), "--params", str(good), "-f", "hog", "-o", str(tmp_path / "x.csv")]) == 2
    assert "drop --features" in capsys.readouterr().err
    assert main(["extract", str(phantom_dir), "--params", str(good), "--region", "bbox",
                 "-o", str(tmp_path / "x.csv")]) == 2
    assert "keep one" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_evaluate_and_train_take_settings(phantom_dir, tmp_path, capsys):
    params = tmp_path / "s.json"
    params.write_text(json.dumps({"features": {"intensity": {}, "glcm": {"distances": [1]}}}))
    assert main(["evaluate", str(phantom_dir), "--params", str(params), "-c", "logreg", "--n-splits", "3",
                 "--n-bootstrap", "20", "--report", str(tmp_path / "rep")]) == 0
    recorded = read_settings(tmp_path / "rep" / "features.settings.json")
    assert set(recorded["features"]) == {"intensity", "glcm"} and recorded["features"]["glcm"]["distances"] == (1,)
    out = tmp_path / "m.featbus"
    assert main(["train", str(phantom_dir), "--params", str(params), "-c", "logreg", "--n-splits", "3",
                 "--n-bootstrap", "20", "-o", str(out)]) == 0
    from featbus.model import read_manifest

    extractors = read_manifest(out)["recipe"]["extractors"]
    assert extractors["glcm"]["params"]["distances"] == [1]
    capsys.readouterr()
