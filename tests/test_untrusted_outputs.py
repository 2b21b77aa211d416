"""Outputs never clobber inputs (issue 90 item 5): an output that is one of the data's own files is refused
even with ``--overwrite`` and the input is left as it was; every command creates a missing output folder
the same way (:func:`featbus.io.written_atomically`, the one write-then-rename); a temporary name has a
fixed length (a 240-character output name works) and a refusal names the user's path, never the
temporary one."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featbus.cli import main
from featbus.io import write_file, written_atomically


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    rel = tmp_path_factory.mktemp("outputs") / "rel"
    for c in ("benign", "malignant"):
        for k in range(3):
            (rel / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray((np.arange(32 * 32).reshape(32, 32) * (k + 1) + (c == "benign") * 9).astype(np.uint8)
                            ).save(rel / c / f"{c}_{k}.png")
    (rel / "labels.csv").write_text("image,label\n" + "".join(f"{c}/{c}_{k}.png,{c}\n" for c in ("benign", "malignant")
                                                            for k in range(3)))
    return rel


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from featbus.datasets import make_phantoms
    from featbus.workflows.training import train_model

    path = tmp_path_factory.mktemp("model") / "m.featbus"
    train_model(make_phantoms(24, image_size=40, random_state=0), "lbp", classifier="logreg", cross_validate=False,
                progress=False).save(path)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", ["read", "extract", "predict"])
def test_an_output_that_is_one_of_the_inputs_is_refused_even_with_overwrite(release, model, capsys, command):
    before = _snapshot(release)
    target = release / "labels.csv"
    argv = {"read": ["read", str(release), "--index", str(target)],
            "extract": ["extract", str(release), "-f", "intensity", "-o", str(target)],
            "predict": ["predict", str(model), str(release), "-o", str(target)]}[command]
    assert main(argv + ["--overwrite", "-q"] if command != "read" else argv + ["--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "is one of the files of the data" in err and "even with --overwrite" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(release) == before


def test_an_image_given_by_name_is_never_an_output(release, model, capsys):
    image = release / "benign" / "benign_0.png"
    before = image.read_bytes()
    fake = release.parent / "given.csv"
    fake.write_text("x")
    assert main(["predict", str(model), str(fake), "-o", str(fake), "--overwrite", "-q"]) == 2
    assert "one of the files of the data" in capsys.readouterr().err
    assert image.read_bytes() == before and fake.read_text() == "x"


def test_a_new_name_inside_the_data_folder_is_fine(release, tmp_path):
    import shutil

    rel = tmp_path / "copy"
    shutil.copytree(release, rel)
    assert main(["read", str(rel), "--index", str(rel / "index.csv")]) == 0
    assert (rel / "index.csv").is_file()


@pytest.mark.parametrize("command", ["read", "extract", "predict"])
def test_a_240_character_output_name_works(release, model, tmp_path, command):
    name = "x" * 236 + ".csv"
    assert len(name) == 240
    out = tmp_path / name
    argv = {"read": ["read", str(release), "--index", str(out)],
            "extract": ["extract", str(release), "-f", "intensity", "-o", str(out), "-q"],
            "predict": ["predict", str(model), str(release), "-o", str(out), "-q"]}[command]
    assert main(argv) == 0
    assert out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


@pytest.mark.parametrize("command", ["read", "extract", "predict"])
def test_every_command_creates_a_missing_output_folder(release, model, tmp_path, command):
    out = tmp_path / "new" / "deeper" / "out.csv"
    argv = {"read": ["read", str(release), "--index", str(out)],
            "extract": ["extract", str(release), "-f", "intensity", "-o", str(out), "-q"],
            "predict": ["predict", str(model), str(release), "-o", str(out), "-q"]}[command]
    assert main(argv) == 0 and out.is_file()


def test_written_atomically_names_the_users_path_never_the_temporary_one(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(OSError) as caught:
        with written_atomically(target) as tmp:
            assert len(tmp.name) == len(".fb-") + 12 + len(".tmp")
            raise FileNotFoundError(2, "No such file or directory", str(tmp))
    assert str(target) in str(caught.value) and ".fb-" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_write_file_refusal_names_the_users_path(tmp_path):
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(OSError) as caught:
        write_file(tmp_path / "file" / "out.json", "{}")
    assert ".fb-" not in str(caught.value)


def test_write_file_takes_a_255_byte_name(tmp_path):
    name = "y" * 250 + ".json"
    assert len(os.fsencode(name)) == 255
    assert write_file(tmp_path / name, "{}").read_text() == "{}"


def _release_with(release: Path, tmp_path: Path, *names: str) -> Path:
    """A copy of the release holding, besides, the files ``names`` (each a file a command could write)."""
    import shutil

    rel = tmp_path / "rel"
    shutil.copytree(release, rel)
    for name in names:
        (rel / name).write_bytes(b"the release's own " + name.encode())
    return rel


@pytest.mark.parametrize("command", ["segment train", "segment predict", "segment evaluate", "evaluate", "compare",
                                     "export"])
def test_every_other_output_that_is_one_of_the_release_files_is_refused(release, model, tmp_path, capsys, command):
    # each command's output pointed at a file of the release it reads (the one it would write over or clear)
    extra, target = {"segment train": ("old.keras", "old.keras"),
                     "segment predict": ("benign/benign_0_mask.png", "benign/benign_0_mask.png"),
                     "segment evaluate": ("metrics.csv", "metrics.csv"),
                     "evaluate": ("summary.csv", "summary.csv"),
                     "compare": ("compare.json", "compare.json"),
                     "export": ("legacy.tflite", "legacy.tflite")}[command]
    rel = _release_with(release, tmp_path, extra)
    seg = tmp_path / "seg.keras"
    seg.write_bytes(b"not read: the output is refused first")
    other = tmp_path / "other.featbus"  # compare needs two models
    other.write_bytes(model.read_bytes())
    argv = {"segment train": ["segment", "train", str(rel), "-o", str(rel / target)],
            "segment predict": ["segment", "predict", str(seg), str(rel / "benign"), "-o", str(rel / "benign")],
            "segment evaluate": ["segment", "evaluate", str(seg), str(rel), "--report", str(rel)],
            "evaluate": ["evaluate", str(rel), "-f", "intensity", "--report", str(rel)],
            "compare": ["compare", str(model), str(other), str(rel), "-o", str(rel)],
            "export": ["export", str(model), "--tflite", str(rel / target), "--check", str(rel)]}[command]
    before = _snapshot(rel)
    overwrite = [] if command == "segment evaluate" else ["--overwrite"]  # segment evaluate has no --overwrite
    assert main(argv + overwrite) == 2
    err = capsys.readouterr().err
    assert "is one of the files of the data" in err and "Traceback" not in err
    lines = err.strip().splitlines()  # segment predict says first what it read of the images (to name the masks)
    assert [line for line in lines if "featbus never writes" in line] == lines[-1:]
    assert repr(str(rel / target)) in lines[-1]
    assert _snapshot(rel) == before
