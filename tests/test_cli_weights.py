"""``--weights NAME=PATH``: a backbone's starting weights from a local file on the command line.

A small folder of phantoms (9 images of 64 px) and a VGG16 without its classifier, drawn at
random by Keras (seed 1, not featbus's seeded draw) and saved with ``save_weights``: the
features the CLI writes must be the ones ``DeepFeatures(weights=PATH)`` computes. Both run in
this process on the same float32 network, so they agree to float32 round-off (``rtol=1e-5,
atol=1e-6``, as tests/test_deep.py compares saved weights). Every user mistake is one line
and exit status 2. Offline throughout (``FEATBUS_OFFLINE=1``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import stderr_lines
from PIL import Image

from featbus.cli import main
from featbus.datasets import make_phantoms

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

pytest.importorskip("keras")

TOL = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("FEATBUS_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no ImageNet file: only --weights can work


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """9 phantoms in the BUSI layout (class folders, a mask beside each image)."""
    root = tmp_path_factory.mktemp("phantoms")
    ph = make_phantoms(9, image_size=64, random_state=0)
    for i, (im, m, t) in enumerate(zip(ph.images, ph.masks, ph.target)):
        sub = root / str(ph.target_names[t])
        sub.mkdir(exist_ok=True)
        Image.fromarray(im).save(sub / f"case ({i}).png")
        Image.fromarray((m * 255).astype(np.uint8)).save(sub / f"case ({i})_mask.png")
    return root


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory) -> str:
    """VGG16 without its top, Keras' own random draw (seed 1), saved as a .weights.h5 file."""
    import keras

    keras.utils.set_random_seed(1)
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(64, 64, 3))
    path = tmp_path_factory.mktemp("weights") / "vgg16_notop.weights.h5"
    model.save_weights(path)
    return str(path)


@pytest.fixture()
def params32(tmp_path) -> Path:
    """A settings file: VGG16 at 32 px (fast), no weights named."""
    path = tmp_path / "vgg32.yaml"
    path.write_text("features:\n  vgg16: {input_size: 32}\n")
    return path


def _error_line(capsys) -> str:
    err = stderr_lines(capsys.readouterr().err)  # the paragraph of what was read aside
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _deep(paths, **params) -> np.ndarray:
    from featbus import DeepFeatures

    return DeepFeatures(backbone="vgg16", cache=False, progress=False, **params).fit_transform(list(paths))


def test_extract_weights_gives_deepfeatures_of_that_file(folder, vgg_file, tmp_path):
    out = tmp_path / "f.npz"
    assert main(["extract", str(folder), "-f", "vgg16", "--weights", f"vgg16={vgg_file}", "-o", str(out),
                 "-q", "--cache", "none"]) == 0
    z = np.load(out)
    assert z["X"].shape == (9, 512)
    np.testing.assert_allclose(z["X"], _deep(z["paths"], weights=vgg_file), **TOL)
    sidecar = json.loads(Path(str(out) + ".settings.json").read_text())
    assert sidecar["features"]["vgg16"]["weights"] == vgg_file


def test_weights_and_params_routes_agree(folder, vgg_file, params32, tmp_path, capsys):
    runs = {}
    # --weights fills the settings file's vgg16 entry, which names no weights
    assert main(["extract", str(folder), "--params", str(params32), "--weights", f"vgg16={vgg_file}",
                 "-o", str(tmp_path / "a.npz"), "-q", "--cache", "none"]) == 0
    runs["--weights"] = np.load(tmp_path / "a.npz")
    # the documented --params route, alone and with a --weights that names the same file
    with_file = tmp_path / "with_file.yaml"
    with_file.write_text(f"features:\n  vgg16: {{input_size: 32, weights: '{vgg_file}'}}\n")
    assert main(["extract", str(folder), "--params", str(with_file), "-o", str(tmp_path / "b.npz"), "-q",
                 "--cache", "none"]) == 0
    runs["--params"] = np.load(tmp_path / "b.npz")
    assert main(["extract", str(folder), "--params", str(with_file), "--weights", f"vgg16={vgg_file}",
                 "-o", str(tmp_path / "c.npz"), "-q", "--cache", "none"]) == 0
    runs["both"] = np.load(tmp_path / "c.npz")
    expected = _deep(runs["--weights"]["paths"], weights=vgg_file, input_size=32)
    for route, z in runs.items():
        np.testing.assert_allclose(z["X"], expected, **TOL, err_msg=route)
    # the file's weights, not featbus's seeded random ones
    assert not np.allclose(expected, _deep(runs["--weights"]["paths"], weights=None, input_size=32), **TOL)
    # both routes naming different files: one line
    other = tmp_path / "other.weights.h5"
    other.write_bytes(b"not read: the disagreement is found first")
    capsys.readouterr()
    assert main(["extract", str(folder), "--params", str(with_file), "--weights", f"vgg16={other}",
                 "-o", str(tmp_path / "d.npz"), "-q"]) == 2
    line = _error_line(capsys)
    assert "features.vgg16.weights" in line and "keep one" in line


@pytest.mark.parametrize("item, says", [
    ("vgg16", "give NAME=PATH"),
    ("vgg17={file}", "unknown backbone 'vgg17'; the backbones are breast_us, densenet121"),
    ("vgg16={missing}", "no such file"),
    ("vgg16={text}", ".weights.h5 or .h5"),
    ("resnet50={file}", "does not use resnet50"),
])
def test_extract_weights_mistakes_are_one_line(folder, vgg_file, tmp_path, capsys, item, says):
    text = tmp_path / "notes.txt"
    text.write_text("x")
    item = item.format(file=vgg_file, missing=tmp_path / "gone.weights.h5", text=text)
    assert main(["extract", str(folder), "-f", "vgg16", "--weights", item, "-o", str(tmp_path / "f.npz"), "-q"]) == 2
    line = _error_line(capsys)
    assert line.startswith("featbus extract: error: --weights") and says in line
    assert not (tmp_path / "f.npz").exists()


def test_two_files_for_one_backbone(folder, vgg_file, tmp_path, capsys):
    other = tmp_path / "b.h5"
    other.write_bytes(b"x")
    assert main(["extract", str(folder), "-f", "vgg16", "--weights", f"vgg16={vgg_file}", "--weights",
                 f"VGG16={other}", "-o", str(tmp_path / "f.npz"), "-q"]) == 2
    assert "two files for vgg16" in _error_line(capsys)


@pytest.mark.parametrize("command", [["evaluate"], ["train", "-c", "logreg", "-o", "{out}"]])
def test_unused_name_is_refused_by_every_command(folder, vgg_file, tmp_path, capsys, command):
    command = [c.format(out=tmp_path / "m.featbus") for c in command]
    assert main([command[0], str(folder), *command[1:], "-f", "intensity", "--weights", f"vgg16={vgg_file}",
                 "-q"]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"featbus {command[0]}: error: --weights vgg16=") and "uses no CNN backbone" in line


def test_offline_error_names_the_command_line_routes(folder, tmp_path, capsys):
    assert main(["extract", str(folder), "-f", "vgg16", "-o", str(tmp_path / "f.npz"), "-q", "--cache",
                 "none"]) == 2
    line = _error_line(capsys)
    assert "--weights vgg16=PATH" in line and "--params" in line and "FEATBUS_OFFLINE" in line


def test_evaluate_takes_weights(folder, vgg_file, params32, capsys):
    assert main(["evaluate", str(folder), "--params", str(params32), "--weights", f"vgg16={vgg_file}",
                 "-c", "logreg", "--n-splits", "2", "--n-bootstrap", "0", "-q", "--cache", "none"]) == 0
    assert "vgg16" in capsys.readouterr().out


def test_train_records_the_weights_file(folder, vgg_file, params32, tmp_path):
    from featbus.io import file_sha256
    from featbus.model.format import read_manifest

    note = f"vgg16 weights from local file {vgg_file} (sha256 {file_sha256(vgg_file)})"
    # features + classifier: the frozen VGG16 starts from the file
    out = tmp_path / "frozen.featbus"
    assert main(["train", str(folder), "--params", str(params32), "--weights", f"vgg16={vgg_file}", "-c", "logreg",
                 "--n-splits", "2", "--n-bootstrap", "0", "-o", str(out), "-q", "--cache", "none"]) == 0
    manifest = read_manifest(out)
    assert manifest["recipe"]["extractors"]["vgg16"]["params"]["weights"] == vgg_file
    assert note in manifest["notes"]
    # a network recipe on VGG16: the fine-tuned network starts from the file
    out = tmp_path / "tuned.featbus"
    assert main(["train", str(folder), "--backbone", "vgg16", "--image-size", "32", "--epochs", "1",
                 "--batch-size", "4", "--weights", f"vgg16={vgg_file}", "-o", str(out), "-q"]) == 0
    manifest = read_manifest(out)
    (entry,) = manifest["recipe"]["extractors"].values()
    assert entry["class"] == "FineTunedCNN" and entry["params"]["weights"] == vgg_file
    assert manifest["recipe"]["name"] == "finetuned-lite0" and note in manifest["notes"]
