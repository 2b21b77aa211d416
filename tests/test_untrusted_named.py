"""Named, never silent (issue 90 item 4): a mask cell naming a missing or outside file, empty patient cells,
an animated GIF, a symbolic link loop, a guessed encoding are each said; a NUL character in a cell and a
file name that is not UTF-8 leave that row or file out by name and the rest is read. A sentinel folder
beside each release is watched with inotify: nothing in it is opened."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from _untrusted import Watched, outside_files, run_featbus
from PIL import Image

from featbus.datasets import read_release


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.arange(24 * 24).reshape(24, 24) + value).astype(np.uint8)).save(path)


@pytest.fixture
def outside(tmp_path):
    outside_files(tmp_path / "outside")
    with Watched(tmp_path / "outside") as watched:
        yield tmp_path / "outside"
        assert watched.touched() == [], "a file outside the release was opened"


def _three(rel: Path) -> None:
    for k in range(3):
        _png(rel / "images" / f"i{k}.png", 30 * k)


def test_mask_cells_naming_a_missing_or_outside_file_are_named(tmp_path, outside):
    rel = tmp_path / "rel"
    _three(rel)
    (rel / "t.csv").write_text("image,label,mask\nimages/i0.png,benign,../outside/secret.png\n"
                               "images/i1.png,malignant,masks/gone.png\nimages/i2.png,benign,\n")
    release = read_release(rel)
    said = {r.item: r.text() for r in release.summary.left_out}  # as featbus read words them
    assert said["row 2 of t.csv"].startswith("outside the release: mask '../outside/secret.png'")
    assert said["row 3 of t.csv"].startswith("mask not found: 'masks/gone.png'")
    assert release.summary.n_images == 3 and release.masks == [(), (), ()]
    assert "mask not found" in release.summary.text() and "outside the release" in release.summary.text()


def test_index_mask_cell_naming_a_missing_file_is_named(tmp_path):
    _three(tmp_path)
    (tmp_path / "index.csv").write_text("image,label,group,mask\nimages/i0.png,benign,p0,masks/gone.png\n"
                                        "images/i1.png,malignant,p1,\n")
    release = read_release(tmp_path / "index.csv")
    assert release.summary.left_out == [("row 2 of index.csv", "mask not found", "'masks/gone.png' (the image kept "
                                                                                  "without it)")]


def test_empty_patient_cells_are_never_one_patient(tmp_path):
    rel = tmp_path / "rel"
    for k in range(4):
        _png(rel / f"i{k}.png", 20 * k)
    (rel / "t.csv").write_text("image,label,patient\ni0.png,benign,\ni1.png,malignant,\ni2.png,benign,p1\n"
                               "i3.png,malignant,p2\n")
    release = read_release(rel, group_column="patient")
    assert "" not in release.groups and len(set(release.groups)) == 4
    assert "2 image(s) with an empty 'patient' cell: each is its own patient" in release.summary.text()
    (tmp_path / "index.csv").write_text("image,label,group\nrel/i0.png,benign,\nrel/i1.png,malignant,\n")
    back = read_release(tmp_path / "index.csv")
    assert back.groups == ["rel/i0.png", "rel/i1.png"] and "empty 'group' cell" in back.summary.text()


def test_an_animated_gif_is_left_out_by_name(tmp_path):
    rel = tmp_path / "rel"
    for c in ("benign", "malignant"):
        for k in range(2):
            _png(rel / c / f"{k}.png", 50 * k + (c == "benign"))
    frames = [Image.fromarray(np.full((16, 16), v, np.uint8)) for v in (0, 120, 240)]
    frames[0].save(rel / "benign" / "anim.gif", save_all=True, append_images=frames[1:], loop=0)
    release = read_release(rel)
    assert ("benign/anim.gif", "not an image", "featbus does not read .gif files (convert it to PNG)") in \
        release.summary.left_out
    assert "not an image" in release.summary.text()


def test_a_symbolic_link_loop_is_named_by_read_and_predict(tmp_path, outside):
    rel = tmp_path / "rel"
    for k in range(2):
        _png(rel / f"i{k}.png", 60 * k)
    os.symlink("loop.png", rel / "loop.png")
    assert ("loop.png", "unreadable", "a symbolic link loop") in read_release(rel).summary.left_out
    from featbus.datasets import make_phantoms
    from featbus.workflows.training import train_model

    model = tmp_path / "m.featbus"
    train_model(make_phantoms(24, image_size=40, random_state=0), "lbp", classifier="logreg", cross_validate=False,
                progress=False).save(model)
    outcome = run_featbus(["predict", model, rel, "-o", tmp_path / "p.csv"], cwd=tmp_path)
    assert outcome.returncode == 0 and "left out loop.png" in outcome.stderr and "link loop" in outcome.stderr


@pytest.mark.parametrize("encoding,words", [("utf-16", "UTF-16 (its byte-order mark)"),
                                            ("utf-8-sig", "UTF-8 with a byte-order mark"),
                                            ("latin-1", "Latin-1")])
def test_an_encoding_guessed_is_said(tmp_path, encoding, words):
    rel = tmp_path / "rel"
    names = ["i0.png", "i1.png", "café.png"]
    for k, name in enumerate(names):
        _png(rel / name, 40 * k)
    (rel / "t.csv").write_text("image,label\n" + "".join(f"{n},{lab}\n" for n, lab in
                                                          zip(names, ["benign", "malignant", "benign"])),
                               encoding=encoding)
    release = read_release(rel)
    assert release.summary.n_images == 3 and release.summary.label_column == "label"
    assert f"t.csv read as {words}" in release.summary.text()


def test_plain_utf8_says_nothing_of_its_encoding(tmp_path):
    rel = tmp_path / "rel"
    _three(rel)
    (rel / "t.csv").write_text("image,label\nimages/i0.png,benign\nimages/i1.png,malignant\nimages/i2.png,benign\n")
    assert "read as" not in read_release(rel).summary.text()


def test_a_nul_character_in_a_cell_leaves_that_row_out_by_name(tmp_path, outside):
    rel = tmp_path / "rel"
    _three(rel)
    (rel / "t.csv").write_text("image,label\nimages/i0.png,benign\nimages/i1\0.png,malignant\n"
                               "images/i2.png,malignant\n")
    outcome = run_featbus(["read", rel], cwd=tmp_path)
    assert outcome.returncode == 0, outcome.text
    assert "row 3 of t.csv: unreadable: a NUL character in a cell" in outcome.stderr
    assert "2 images" in outcome.stdout and "images/i1.png: no row in t.csv" in outcome.stderr


def test_a_file_name_that_is_not_utf8_is_left_out_by_name(tmp_path, outside):
    rel = tmp_path / "rel"
    for c in ("benign", "malignant"):
        for k in range(2):
            _png(rel / c / f"{k}.png", 50 * k + (c == "benign"))
    _png(Path(os.fsdecode(os.fsencode(str(rel / "benign")) + b"/caf\xe9.png")), 77)
    outcome = run_featbus(["read", rel, "--index", tmp_path / "index.csv"], cwd=tmp_path)
    assert outcome.returncode == 0, outcome.text
    assert "benign/caf\\xe9.png: unreadable: its name is not valid UTF-8" in outcome.stderr
    assert "4 images" in outcome.stdout and (tmp_path / "index.csv").is_file()
