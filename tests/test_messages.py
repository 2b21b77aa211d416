"""The messages a new user meets (issue 45): plain class names and the right command word, hints
that can help, each path said once, SMOTE on a small class, TensorFlow's C++ lines kept off."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import stderr_lines

from featbus.cli import main


def _busi_copy(busi_root: Path, dest: Path, per_class: dict[str, int], flat: bool = False) -> Path:
    """Images (no masks) of BUSI's classes copied into ``dest`` (class folders, or one flat folder)."""
    for name, n in per_class.items():
        files = sorted(f for f in (busi_root / name).glob("*.png") if "_mask" not in f.stem)[:n]
        folder = dest if flat else dest / name
        folder.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy(f, folder / f.name)
    return dest


@pytest.mark.parametrize("command,word", [("train", "a classifier"), ("evaluate", "evaluation")])
def test_one_class_folder_names_plain_classes_and_the_command_word(busi_root, tmp_path, capsys, command, word):
    one = _busi_copy(busi_root, tmp_path / "one", {"benign": 4})
    argv = [command, str(one)] + ([] if command == "evaluate" else ["-o", str(tmp_path / "out.parquet")])
    if command == "train":
        argv[-1] = str(tmp_path / "m.featbus")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(stderr_lines(err)) == 1, err  # the paragraph of what was read aside
    assert "('benign')" in err and "np.str_" not in err, err
    assert f"{word} needs at least two classes" in err, err
    if command != "evaluate":
        assert "evaluation" not in err, err


def test_flat_folder_and_manifest_errors_suggest_only_what_helps(busi_root, tmp_path, capsys):
    flat = _busi_copy(busi_root, tmp_path / "flat", {"benign": 3}, flat=True)
    assert main(["train", str(flat), "-o", str(tmp_path / "m.featbus")]) == 2
    err = capsys.readouterr().err
    assert "no class folders" in err and "--on-error" not in err, err
    assert "sub-folder named after the class" in err and "manifest" in err, err

    bad_columns = tmp_path / "cols.csv"
    bad_columns.write_text("img,lab\nx.png,benign\n")
    assert main(["extract", str(bad_columns), "-o", str(tmp_path / "o.parquet")]) == 2
    err = capsys.readouterr().err
    assert "has no column(s) ['image']" in err and "--on-error" not in err, err


def test_missing_manifest_file_names_its_path_once(busi_root, tmp_path, capsys, monkeypatch):
    image = next(f for f in sorted((busi_root / "benign").glob("*.png")) if "_mask" not in f.stem)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"image,label\nnope.png,benign\n\"{image}\",benign\n")
    assert main(["extract", str(manifest), "-o", str(tmp_path / "o.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert "row 2" in err and err.count("nope.png") == 1 and err.count("m.csv") == 1, err
    assert repr(str(tmp_path / "nope.png")) in err, err  # where it was looked for
    monkeypatch.chdir(tmp_path)  # a manifest named relative to the working folder
    assert main(["train", "m.csv", "-o", "m.featbus"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("nope.png") == 1 and repr(str(tmp_path / "nope.png")) in err, err
    # skipping can help here (another row exists), so it is still suggested
    assert "--on-error skip" in err, err


@pytest.mark.parametrize("balance", ["smote", "borderline-smote", "adasyn", "smoteenn"])
def test_smote_family_on_a_small_class_fits_with_fewer_neighbours(balance):
    from featbus.pipelines import make_sampler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(23, 4))
    X[20:] += 0.5  # class 1: 3 samples, fewer than k_neighbors=5 + 1
    y = np.array([0] * 20 + [1] * 3)
    sampler = make_sampler(balance)
    before = sampler.get_params()
    with pytest.warns(UserWarning, match=r"class 1 has 3 samples here .*; using 2 neighbours"):
        X_res, y_res = sampler.fit_resample(X, y)
    assert np.sum(y_res == 1) > 3
    after = sampler.get_params()
    assert {k: v for k, v in after.items() if "neighbors" in k and not hasattr(v, "fit")} == \
        {k: v for k, v in before.items() if "neighbors" in k and not hasattr(v, "fit")}  # the user's k stays


def test_smote_on_a_class_of_one_is_one_clear_line():
    from featbus.pipelines import make_sampler

    X = np.random.default_rng(0).normal(size=(11, 3))
    y = np.array([0] * 10 + [1])
    with pytest.raises(ValueError, match=r"SMOTE cannot resample class 1: it has 1 sample .*'oversample'") as exc:
        make_sampler("smote").fit_resample(X, y)
    assert "\n" not in str(exc.value)


def test_smote_on_a_small_class_through_the_command(busi_root, tmp_path, capsys):
    """featbus evaluate -b smote on 4 malignant images in 2 folds: a warning, not n_neighbors."""
    tiny = _busi_copy(busi_root, tmp_path / "tiny", {"benign": 10, "malignant": 4})
    code = main(["evaluate", str(tiny), "-f", "intensity", "-b", "smote", "--n-splits", "2", "--n-bootstrap", "5"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "n_samples_fit" not in err and "too few for k_neighbors=5" in err, err


_SAVE_CNN = textwrap.dedent("""
    import sys

    import featbus
    from featbus import DeepFeatures
    from featbus.workflows.training import train_model

    data = featbus.make_phantoms(24, image_size=48)
    net = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32)
    model = train_model(data, [("deep", net)], classifier="logreg", cross_validate=False, progress=False)
    model.save(sys.argv[1])
    print("saved")
""")


@pytest.mark.slow  # trains a network
def test_saving_a_cnn_model_keeps_tensorflow_cpp_lines_off_stderr(tmp_path):
    """The runtime forward's conversion (forward_flatbuffer) wrote E0000 ... NodeDef lines to fd 2."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("ai_edge_litert")
    script = tmp_path / "save_cnn.py"
    script.write_text(_SAVE_CNN)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # TensorFlow's default
    env["FEATBUS_TRUSTED_MODELS"] = str(tmp_path / "trusted.txt")  # never the user's own list
    model = tmp_path / "cnn.featbus"
    run = subprocess.run([sys.executable, str(script), str(model)], capture_output=True, text=True, env=env,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "saved" in run.stdout and model.is_file()
    leaked = [line for line in run.stderr.splitlines() if "NodeDef" in line or "E0000" in line]
    assert not leaked, leaked
    # featbus export converts again (and --check starts the interpreter, which announces XNNPACK)
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    from featbus import make_phantoms

    phantoms = make_phantoms(6, image_size=48, random_state=1)
    for i, (im, t) in enumerate(zip(phantoms.images, phantoms.target)):
        (images / str(phantoms.target_names[t])).mkdir(exist_ok=True)
        Image.fromarray(im).save(images / str(phantoms.target_names[t]) / f"{i}.png")
    run = subprocess.run([sys.executable, "-m", "featbus", "export", str(model), "--tflite", str(tmp_path / "m.tflite"),
                          "--check", str(images), "--check-n", "2"], capture_output=True, text=True, env=env,
                         timeout=600)
    leaked = [line for line in run.stderr.splitlines() if "NodeDef" in line or "E0000" in line or "XNNPACK" in line]
    assert not leaked, leaked
    assert run.returncode == 0, run.stderr[-3000:]
