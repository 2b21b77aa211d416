"""Settings files (featbus.pipelines.settings): checked against the registry, used by the commands, and
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
from featbus.pipelines.settings import SettingsError, check_settings, read_settings, settings_extractors


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


# --------------------------------------------------------------------------- hostile files
# Files built the way an attacker would: each is refused with one line, before any image is
# read, and before anything that grows with the file's aliases or values is allocated.

def _alias_bomb(levels: int = 9) -> str:
    """A "billion laughs" YAML file: each anchor lists the previous one 9 times, so the last
    stands for 9**levels values; the anchors hide under the ignored record key ``data``."""
    names = "abcdefghijklmnopqrstuvwxyz"[:levels]
    parts = [f"{names[0]}: &{names[0]} [1,1,1,1,1,1,1,1,1]"]
    parts += [f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]" for prev, cur in zip(names, names[1:])]
    return "data: {" + ", ".join(parts) + "}\nfeatures: {glcm: {distances: *" + names[-1] + "}}\n"


def _refusal(path) -> str:
    with pytest.raises(SettingsError) as info:
        read_settings(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_a_yaml_alias_bomb_is_refused_before_it_is_built(tmp_path, monkeypatch):
    import yaml

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb(9))  # 387 million values once expanded: memory would run out
    assert bomb.stat().st_size < 400
    built = []
    monkeypatch.setattr(yaml.constructor.BaseConstructor, "construct_document",
                        lambda self, node: built.append(node))  # no Python object may be built
    assert "more than 100000 values once its aliases are expanded" in _refusal(bomb)
    assert built == []
    # many aliases of a small value, and an alias inside its own anchor
    many = tmp_path / "many.yaml"
    many.write_text("data: {a: &a 1, b: [" + ", ".join(["*a"] * 101) + "]}\nfeatures: {lbp: {}}\n")
    assert "more than 100 YAML aliases" in _refusal(many)
    loop = tmp_path / "loop.yaml"
    loop.write_text("data: &a [*a]\nfeatures: {lbp: {}}\n")
    assert "refers to a value that holds it" in _refusal(loop)
    assert built == []


def test_few_aliases_and_merge_keys_still_work(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("data: {common: &c {distances: [1, 2]}}\n"
                    "features:\n  glcm: {<<: *c, levels: 16}\n  lbp: {radii: [1]}\n")
    assert read_settings(path)["features"]["glcm"] == {"distances": (1, 2), "levels": 16}


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_deep_nesting_and_large_files_are_refused(tmp_path, suffix):
    deep = tmp_path / f"deep{suffix}"
    n = 100_000  # deeper than Python's recursion limit (and than libyaml's composer survives)
    deep.write_text('{"features": {"glcm": {"distances": ' + "[" * n + "]" * n + "}}}")
    # featbus's own refusal (one line naming the file, featbus's words), whatever limits and wording
    # the parser has of its own (libyaml in PyYAML >= 6.0.4 refuses 1000 levels in its own words)
    assert "nested deeper than 20 levels" in _refusal(deep)
    big = tmp_path / f"big{suffix}"
    big.write_text('{"features": {"lbp": {}}, "command": "' + "x" * 300_000 + '"}')
    assert "larger than 256 KiB" in _refusal(big)
    wide = tmp_path / f"wide{suffix}"
    wide.write_text('{"features": {"lbp": {}}, "data": [' + ",".join(["1"] * 100_001) + "]}")
    assert "more than 100000 values" in _refusal(wide)


@pytest.mark.parametrize("name, text, match", [
    ("same.yaml", "features:\n  glcm: {}\n  glcm: {levels: 8}\n",
     r"the key 'glcm' is given twice, at line 2, column 3 and at line 3, column 3"),
    ("param.yaml", "features:\n  glcm: {levels: 8, levels: 64}\n", r"the key 'levels' is given twice"),
    ("top.yaml", "region: mask\nfeatures: {lbp: {}}\nregion: image\n", r"the key 'region' is given twice"),
    ("same.json", '{"features": {"glcm": {}, "glcm": {"levels": 8}}}', r"the key 'glcm' is given twice"),
    ("param.json", '{"features": {"glcm": {"levels": 8, "levels": 64}}}', r"the key 'levels' is given twice"),
    ("case.yaml", "features:\n  glcm: {}\n  GLCM: {levels: 8}\n",
     r"features\.GLCM: the family 'glcm' is given already \(family names ignore case\)"),
    ("case.json", '{"features": {"LBP": {}, "lbp": {"radii": [1]}}}', r"features\.lbp: the family 'LBP'"),
])
def test_duplicate_keys_are_refused_not_merged(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SettingsError, match=match):
        read_settings(path)
    _refusal(path)


@pytest.mark.parametrize("family, params, names", [
    ("glcm", "{levels: '32'}", "levels"),                   # a string for an int
    ("glcm", "{distances: [1.5]}", "distances"),            # a float in a list of ints
    ("glrlm", "{bin_width: [0.1]}", "bin_width"),           # a list for a float
    ("intensity", "{percentiles: [a]}", "percentiles"),     # was 'internal error TypeError'
    ("intensity", "{bins: [0, x, 1]}", "bins"),
    ("log", "{sigmas: [a]}", "sigmas"),
    ("lbp", "{radii: true}", "radii"),                      # a boolean for an int
    ("hog", "{pixels_per_cell: '8'}", "pixels_per_cell"),
    ("gabor", "{frequencies: [a]}", "frequencies"),
    ("shape", "{concavity_depth: [0.1]}", "concavity_depth"),
    ("glcm", "{levels: .nan}", "levels"),
    ("efficientnet_lite0", "{input_size: [224, x]}", "input_size"),
])
def test_wrong_types_are_one_line_naming_the_parameter(tmp_path, family, params, names):
    path = tmp_path / "s.yaml"
    path.write_text(f"features:\n  {family}: {params}\n")
    message = _refusal(path)
    assert f"features.{family}" in message and names in message


@pytest.mark.parametrize("family, params, names", [
    ("glcm", {"levels": 10 ** 9}, "levels"),
    ("glcm", {"distances": [10 ** 7]}, "distances"),
    ("glcm", {"distances": list(range(1, 200))}, "distances"),
    ("glrlm", {"bin_width": 1e-9}, "bin_width"),  # 10**9 grey levels
    ("glszm", {"bins": 10 ** 9}, "bins"),
    ("gldm", {"alpha": 10 ** 9}, "alpha"),
    ("ngtdm", {"distance": 10 ** 7}, "distance"),
    ("lbp", {"radii": [10 ** 7]}, "radii"),
    ("lbp", {"radii": [1], "points": 10 ** 6}, "points"),
    ("lbp", {"radii": [64]}, "points"),  # 8 points per pixel of radius by default
    ("hog", {"size": [10 ** 6, 10 ** 6]}, "size"),
    ("hog", {"size": [4096, 4096]}, "values"),  # 4.6 million values per image
    ("hog", {"orientations": 10 ** 9}, "orientations"),
    ("intensity", {"bins": 10 ** 9}, "bins"),
    ("gabor", {"frequencies": [1e-9]}, "frequencies"),  # a kernel 3e9 pixels wide
    ("gabor", {"orientations": 10 ** 6}, "orientations"),
    ("gabor", {"bandwidth": 1e-9}, "frequencies"),
    ("laws", {"window": 10 ** 7 + 1}, "window"),
    ("wavelet", {"level": 10 ** 6}, "level"),
    ("log", {"sigmas": [10 ** 7]}, "sigmas"),
    ("fractal", {"thresholds": [0.5] * 1000}, "thresholds"),
    ("efficientnet_lite0", {"input_size": 10 ** 6}, "input_size"),
    ("efficientnet_lite0", {"batch_size": 10 ** 9}, "batch_size"),
    ("efficientnet_lite0", {"input_size": 1024, "batch_size": 64}, "batch_size"),
])
def test_huge_values_are_refused_before_any_image_is_read(tmp_path, family, params, names):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"features": {family: params}}))
    message = _refusal(path)
    assert f"features.{family}" in message and names in message


def test_preprocessing_steps_are_bounded():
    with pytest.raises(SettingsError, match="at most 16"):
        check_settings({"preprocess": ["clahe"] * 17, "features": {"lbp": {}}})


def test_estimators_refuse_huge_values_themselves():
    # the bounds live in the extractors' own checks, so the Python API is protected too:
    # fit refuses before it reads an image (the paths below do not exist)
    from featbus import GLCMFeatures, GLRLMFeatures, HOGFeatures, LBPFeatures

    missing = ["/nonexistent/a.png", "/nonexistent/b.png"]
    for est, name in [(GLRLMFeatures(bin_width=1e-9), "bin_width"), (LBPFeatures(radii=(10 ** 7,)), "radii"),
                      (GLCMFeatures(distances=(10 ** 7,)), "distances"),
                      (HOGFeatures(size=(10 ** 6, 10 ** 6)), "size")]:
        with pytest.raises(ValueError, match=name):
            est.fit(missing)


def test_hostile_settings_on_the_command_line_are_one_line(tmp_path, capsys):
    # the data folder does not exist: the settings are refused before any image is looked for
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb(9))
    data = str(tmp_path / "no-such-data")
    assert main(["extract", data, "--params", str(bomb), "-o", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err and "bomb.yaml" in err and "aliases" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("features:\n  intensity: {percentiles: [a]}\n")
    assert main(["train", data, "--params", str(bad), "-c", "logreg", "-o", str(tmp_path / "m.featbus")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "internal error" not in err and "features.intensity" in err
    assert "percentiles" in err
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"features": {"glrlm": {"bin_width": 1e-9}}}))
    assert main(["extract", data, "--params", str(huge), "-o", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bin_width" in err
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "m.featbus").exists()


def test_the_command_exits_non_zero_with_one_line(tmp_path):
    import subprocess
    import sys

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb(9))
    done = subprocess.run([sys.executable, "-m", "featbus", "extract", str(tmp_path / "no-such-data"),
                           "--params", str(bomb), "-o", str(tmp_path / "x.csv")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("featbus extract: error: settings file") and "refused" in lines[0]


def test_a_parser_refusal_in_its_own_words_gives_featbus_refusal(tmp_path, monkeypatch):
    """Whatever libyaml refuses in its own words (a depth limit of its own, say), the refusal is
    featbus's: the text is read again by PyYAML's pure-Python parser, where featbus's limits speak."""
    import yaml

    import featbus.pipelines._yaml as bounded

    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML without libyaml: the pure-Python parser is the only one")

    class Refusing:  # a libyaml that refuses everything in words featbus does not know
        def __init__(self, text):
            raise yaml.scanner.ScannerError("while reading", None, "some limit of libyaml's own", None)

    real = bounded._yaml_loader
    monkeypatch.setattr(bounded, "_yaml_loader", lambda pure=False: real(pure) if pure else Refusing)
    deep = tmp_path / "deep.yaml"
    deep.write_text("features: {glcm: {distances: " + "[" * 30 + "]" * 30 + "}}\n")
    message = _refusal(deep)
    assert "nested deeper than 20 levels" in message and "libyaml" not in message
    fine = tmp_path / "fine.yaml"
    fine.write_text("features:\n  lbp: {radii: [1]}\n")
    assert read_settings(fine)["features"]["lbp"] == {"radii": (1,)}
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: [\n")
    assert "is not valid YAML" in _refusal(bad)
