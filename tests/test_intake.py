"""Issue 66, reading a download as it comes: CLASS/images + CLASS/masks, an All/ folder of copies left
out, a folder that cannot be read explained one level down, the data read before the model, the same
image under two labels named and refused for training; progress of the commands; the small ones
(did you mean a command, predict's bracket, warm-up epochs named, warnings pointing at the caller).

Every folder is built here from small synthetic PNGs; nothing loads a network."""

from __future__ import annotations

import io
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import stderr_lines
from PIL import Image

from featbus import load_data
from featbus.cli import main
from featbus.datasets.conflicts import label_conflicts, resolve_label_conflicts


def _image(rng, k: int) -> np.ndarray:
    """A 40x48 image unlike the others (its own noise and its own bright block)."""
    im = (rng.rand(40, 48) * 150).astype(np.uint8)
    r, c = 4 + (k * 7) % 22, 4 + (k * 11) % 26
    im[r:r + 12, c:c + 14] = 230
    return im


def _download(root: Path, *, all_name: str = "All", n: int = 4) -> Path:
    """The layout of a public download: Benign/images + masks, Malignant/images + masks, and
    All/images + masks holding every image again (byte-identical copies, the same names)."""
    rng = np.random.RandomState(0)
    k = 0
    for cls in ("Benign", "Malignant"):
        for i in range(n):
            im = _image(rng, k)
            mask = np.zeros(im.shape, np.uint8)
            mask[10:20, 10:24] = 255
            k += 1
            for top in (cls, all_name):
                for sub, arr in (("images", im), ("masks", mask)):
                    (root / top / sub).mkdir(parents=True, exist_ok=True)
                    Image.fromarray(arr).save(root / top / sub / f"{cls.lower()}_{i}.png")
    return root


def _two_labels(root: Path, n: int = 6) -> Path:
    """Class folders benign/ and malignant/, one benign image copied into malignant/ as well."""
    rng = np.random.RandomState(1)
    for j, cls in enumerate(("benign", "malignant")):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(_image(rng, j * n + i)).save(root / cls / f"{cls}_{i}.png")
    shutil.copy(root / "benign" / "benign_0.png", root / "malignant" / "copy_of_benign_0.png")
    return root


# --------------------------------------------------------------------------- 1. downloads as they come

def test_a_download_reads_as_classes_with_their_masks_and_all_is_left_out(tmp_path):
    root = _download(tmp_path / "DATA")
    with pytest.warns(UserWarning, match=r"left out 'All/'.*copies of the images of 'Benign' \(4\), 'Malignant' \(4\)"):
        data = load_data(root)
    assert data.target_names.tolist() == ["Benign", "Malignant"]
    assert np.bincount(data.target).tolist() == [4, 4]
    assert all("/images/" in p for p in data.paths)
    assert all(r.meta["has_mask_file"] for r in data.data)  # masks/ paired by file name
    assert all(m.sum() == 10 * 14 for m in data.masks)
    assert [c for c, _ in data.left_out] == ["All"] and "All/" in data.DESCR


def test_the_read_leaves_all_out_with_its_masks(tmp_path):
    # featbus read said "16 images ... nothing left out", All/'s copies kept unlabelled under a note that
    # annotation files could not label them
    from featbus.datasets import read_release

    rel = read_release(_download(tmp_path / "DATA"))
    s = rel.summary
    assert s.n_images == 8 and None not in rel.labels and not any("could not label" in n for n in s.notes)
    out = {(x.item, x.reason) for x in s.left_out}
    assert out == {(f"All/{sub}/{c}_{i}.png", "duplicate" if sub == "images" else "mask")
                   for sub in ("images", "masks") for c in ("benign", "malignant") for i in range(4)}


def test_a_folder_of_every_image_is_found_by_its_content_whatever_its_name(tmp_path):
    root = _download(tmp_path / "DATA", all_name="Combined copy")
    with pytest.warns(UserWarning, match="left out 'Combined copy/'"):
        data = load_data(root)
    assert data.target_names.tolist() == ["Benign", "Malignant"]


def test_class_folders_that_share_file_names_are_no_copies(tmp_path):
    """1.png, 2.png in every class folder (another common layout): three classes, none left out."""
    rng = np.random.RandomState(2)
    for j, cls in enumerate(("a", "b", "c")):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(_image(rng, 3 * j + i)).save(tmp_path / cls / f"{i}.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 'left out' warning
        data = load_data(tmp_path)
    assert data.target_names.tolist() == ["a", "b", "c"] and data.left_out == []


def test_a_folder_that_cannot_be_read_says_what_is_one_level_down(tmp_path):
    (tmp_path / "Benign" / "scans").mkdir(parents=True)
    (tmp_path / "Malignant" / "scans").mkdir(parents=True)
    with pytest.raises(ValueError) as err:
        load_data(tmp_path)
    text = str(err.value)
    assert "'Benign/' holds no image file and 1 sub-folder (scans/, no image file in it)" in text
    assert "DATA/benign/images/ + DATA/benign/masks/" in text and "CSV manifest" in text


def test_validate_reads_the_data_before_the_model(tmp_path, monkeypatch, capsys):
    for cls in ("Benign", "Malignant"):
        (tmp_path / cls / "scans").mkdir(parents=True)
    import featbus.cli._startup as startup  # the commands' one start-up reads DATA, then loads MODEL

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the data were read")

    monkeypatch.setattr(startup, "_load_model_cli", no_model)
    assert main(["validate", "breast-us", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'Benign/' holds no image file" in err[0] and "Traceback" not in err[0]


# --------------------------------------------------------------------------- 2. one image, two labels

def test_the_same_image_under_two_labels_is_found_and_resolved(tmp_path):
    data = load_data(_two_labels(tmp_path / "DATA2"))
    conflicts = label_conflicts(data)
    assert len(conflicts) == 1 and conflicts[0].kind == "identical"
    names = sorted(Path(data.paths[i]).name for i in conflicts[0].indices)
    assert names == ["benign_0.png", "copy_of_benign_0.png"]
    kept, out = resolve_label_conflicts(data, conflicts, "first")
    assert [Path(data.paths[i]).name for i in out] == ["copy_of_benign_0.png"] and len(kept.target) == 12
    kept, out = resolve_label_conflicts(data, conflicts, "drop")
    assert len(out) == 2 and len(kept.target) == 11


def test_train_refuses_the_same_image_under_two_labels_unless_told(tmp_path, capsys):
    root = _two_labels(tmp_path / "DATA2")
    out = tmp_path / "m.featbus"
    args = ["train", str(root), "-f", "intensity", "-c", "logreg", "-o", str(out), "-q", "--n-bootstrap", "0"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "'benign/benign_0.png' (benign) = 'malignant/copy_of_benign_0.png' (malignant)" in err
    assert "--conflicting-labels" in err and len(stderr_lines(err)) == 1 and not out.exists()
    assert main(args + ["--conflicting-labels", "first"]) == 0
    err = capsys.readouterr().err
    assert "left out 1 image(s) (--conflicting-labels first): 'malignant/copy_of_benign_0.png'" in err
    assert out.exists()


def test_evaluate_names_the_same_image_under_two_labels(tmp_path):
    from featbus.cli._data import _label_conflicts

    root = _two_labels(tmp_path / "DATA2")
    data = load_data(root)
    named = r"one image \(identical pixels\) under two labels.*'malignant/copy_of_benign_0.png'"
    with pytest.warns(UserWarning, match=named):
        same = _label_conflicts(data, "the cross-validation", source=str(root))
    assert same is data  # named, not changed


def test_identical_images_of_one_label_are_no_conflict(tmp_path):
    root = _two_labels(tmp_path / "DATA2")
    (root / "malignant" / "copy_of_benign_0.png").unlink()
    shutil.copy(root / "benign" / "benign_1.png", root / "benign" / "again.png")
    assert label_conflicts(load_data(root)) == []


# --------------------------------------------------------------------------- 3. progress

def test_task_progress_writes_a_line_at_the_start_and_at_the_end_in_a_log(monkeypatch, progress_shown):
    import featbus.progress as progress

    out = io.StringIO()
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: False)
    monkeypatch.setattr(progress.sys, "stderr", out)
    monkeypatch.setattr(progress, "ANNOUNCE_AFTER", 0.05)
    with progress.task_progress("auto", "validate m.featbus", 3) as bar:
        time.sleep(0.3)  # work that lasts: its start is said, then its end
        bar.update(3)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("validate m.featbus: started, 3 img")
    assert "validate m.featbus: 3/3 img (100%), ended after" in lines[-1]
    out.seek(0)
    out.truncate(0)
    monkeypatch.setattr(progress, "ANNOUNCE_AFTER", 30.0)
    with progress.task_progress("auto", "validate m.featbus", 3) as bar:  # over at once: nothing written
        bar.update(3)
    assert out.getvalue() == ""
    with progress.task_progress(False, "quiet", 3) as bar:
        bar.update(3)
    assert out.getvalue() == ""


def test_counted_runs_in_chunks_and_stacks_the_rows():
    import pandas as pd

    from featbus.cli._progress import counted

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    bar, calls = Bar(), []

    def rows(images):
        calls.append(len(images))
        return np.asarray(images)[:, None] * 2

    assert counted(rows, bar, size=4)(list(range(10))).ravel().tolist() == [2 * i for i in range(10)]
    assert calls == [4, 4, 2] and bar.n == 10
    table = counted(lambda xs: pd.DataFrame({"x": xs}), Bar(), size=3)(list(range(7)))
    assert table["x"].tolist() == list(range(7)) and table.index.tolist() == list(range(7))


# --------------------------------------------------------------------------- 4. small ones

def test_a_misspelt_command_gets_did_you_mean(capsys):
    assert main(["vaildate", "breast-us", "DATA"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown command 'vaildate'; did you mean 'validate'?" in err[0]


def test_predict_says_the_adapted_reference_with_its_bracket_closed():
    import pandas as pd

    from featbus.cli.predict import _domain_line

    class Model:
        manifest = {"domain": {"adapted": {"how": "kept as trained (method none: the classifier sees the features "
                                                  "as in training)"}}}

    line = _domain_line(Model(), pd.DataFrame({"unlike_training": [False, True]}))
    assert line.endswith("(adapted model: reference kept as trained)") and line.count("(") == line.count(")")


def test_the_warm_up_epochs_are_named_where_the_epochs_are_announced():
    from featbus.model.describe import epochs_text
    from featbus.pipelines.recipes import RECIPES

    assert "2 head warm-up epochs, then 12 fine-tuning epochs" in RECIPES["finetuned-lite0"].summary
    history = {"epochs": [{"phase": "warmup"}] * 2 + [{"phase": "finetune"}] * 12}
    assert epochs_text(history) == "14 epochs (2 head warm-up + 12 fine-tuning)"


def test_a_warning_of_a_loader_points_at_the_callers_line(tmp_path):
    root = _download(tmp_path / "DATA")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_data(root)
    left = [w for w in caught if "left out 'All/'" in str(w.message)]
    assert left and Path(left[0].filename).resolve() == Path(__file__).resolve()


def test_masks_named_stem_mask_in_the_mask_folder_pair_too(tmp_path):
    root = _download(tmp_path / "DATA")
    shutil.rmtree(root / "All")
    for f in sorted((root / "Benign" / "masks").glob("*.png")):
        f.rename(f.with_name(f.stem + "_mask.png"))
    data = load_data(root)
    assert all(r.meta["has_mask_file"] for r in data.data) and len(data.target) == 8


def test_train_announces_a_time_scaled_to_the_data():
    from featbus.pipelines.recipes import RECIPES, expected_minutes

    r = RECIPES["finetuned-lite0"]
    assert abs(r.cpu_minutes - 122 * 625 / 120 / 2 / 60) < 1e-9  # the measured run, in recipes.py
    assert expected_minutes(r, 811) > expected_minutes(r, 625) > expected_minutes(r, 625, epochs=6)


def test_predict_leaves_out_the_mask_folders_of_a_download(tmp_path, capsys):
    from featbus.cli._data import _expand_images

    root = _download(tmp_path / "DATA")
    paths = _expand_images([str(root)])
    assert len(paths) == 8 and not any("/masks/" in p or "/All/" in p for p in paths)  # All/'s copies left out
    err = capsys.readouterr().err
    assert "8 paired with 8 mask files (the same name in masks/)" in err  # the reader's paragraph
    assert "left out 8 (mask), 8 (duplicate, e.g. 'All/images/benign_0.png')" in err
