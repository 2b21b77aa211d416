"""featbus compare (models on the same images, paired intervals over groups) and featbus train
--search (grid search with inner folds grouped like the outer ones, nested in the CV).

Tiny models on synthetic phantoms: every test here trains in a second or two."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featbus import make_phantoms, validate
from featbus.cli import main
from featbus.evaluation.comparison import compare_models, direction
from featbus.evaluation.figures import POSITIVE_FIGURES as FIGURES
from featbus.workflows.training import SEARCH_INNER_SPLITS, train_model

N_BOOT = 60


@pytest.fixture(scope="module")
def train_set():
    return make_phantoms(60, image_size=48, random_state=0)


@pytest.fixture(scope="module")
def models(train_set):
    a = train_model(train_set, "intensity", classifier="logreg", cross_validate=False, progress=False)
    b = train_model(train_set, "intensity", classifier="knn", cross_validate=False, progress=False)
    return a, b


@pytest.fixture(scope="module")
def test_set():
    return make_phantoms(40, image_size=48, random_state=1)


@pytest.fixture(scope="module")
def files(models, train_set, test_set, tmp_path_factory):
    """The two models saved, and a class-folder data set: the 40 test phantoms plus 8 training images
    (which both models have seen)."""
    root = tmp_path_factory.mktemp("compare")
    paths = []
    for name, model in zip(("a.featbus", "b.featbus"), models):
        model.save(root / name)
        paths.append(root / name)
    data = root / "data"
    for prefix, bunch, n in (("case", test_set, len(test_set.target)), ("seen", train_set, 8)):
        for i in range(n):
            folder = data / bunch.target_names[bunch.target[i]]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(bunch.images[i]).save(folder / f"{prefix} ({i}).png")
    return paths[0], paths[1], data


def test_figures_are_validates_and_differences_are_paired(models, test_set):
    a, b = models
    result = compare_models([a, b], test_set, names=["a", "b"], n_bootstrap=N_BOOT, random_state=3)
    e = result.everything
    # each model's figures are those featbus validate prints for it (one prediction path)
    for m, model in enumerate(models):
        own = validate(model, test_set, n_bootstrap=0).figures
        for f in FIGURES:
            assert result.value(m, f)[0] == pytest.approx(own[f], abs=1e-12)
    for f in FIGURES:  # the difference is B - A on the same images
        assert e["figures"][(1, 0, f)] == pytest.approx(e["figures"][(1, f)] - e["figures"][(0, f)], abs=1e-12)
    # paired: a model against itself differs by exactly 0 on every resample (unpaired resamples would not)
    same = compare_models([a, a], test_set, n_bootstrap=N_BOOT, random_state=3)
    for f in FIGURES:
        assert same.difference(1, f)[0] == 0
        assert tuple(same.difference(1, f)[1]) == (0.0, 0.0)
        assert same.value(0, f)[1][0] < same.value(0, f)[1][1]
    assert all("no difference shown" in line for line in same.verdict)


def test_words_follow_the_intervals():
    assert direction(0.05, (0.01, 0.09)) == "higher"
    assert direction(-0.05, (-0.09, -0.01)) == "lower"
    assert direction(0.02, (-0.03, 0.07)).startswith("no difference shown")
    assert direction(0.02, (float("nan"), float("nan"))).startswith("no interval")


def test_every_word_in_the_json_agrees_with_its_interval(models, test_set):
    result = compare_models(list(models), test_set, n_bootstrap=N_BOOT)
    for row in result.to_dict()["differences"]:
        for block in row["figures"].values():
            lo, hi = block["ci"]
            expected = "higher" if lo > 0 else "lower" if hi < 0 else "no difference shown"
            assert block["word"].startswith(expected)


def test_seen_images_are_named_and_left_out_of_the_verdict(files, capsys):
    a, b, data = files
    result = compare_models([str(a), str(b)], data, n_bootstrap=N_BOOT)
    assert [result.n_seen(m) for m in (0, 1)] == [8, 8]
    # the verdict reads the images neither saw: the 40 test phantoms, less any a model judged not of its kind
    n_unseen = len(result.y_true) - 8
    assert 35 <= n_unseen <= 40 and result.unseen[1]["n_images"] == n_unseen
    text = result.summary()
    diff_line = next(line for line in text.splitlines() if "on every image:" in line)
    assert "(seen: " in diff_line and "optimistic" in diff_line  # said on the same line
    assert f"the {n_unseen} images neither model trained on" in result.verdict[0]
    assert "seen (0).png" in text or "seen (" in text  # the images are named
    doc = result.to_dict()
    assert len(doc["models"][0]["seen"]["images"]) == 8
    assert all("seen (" in Path(p).name for p in doc["models"][0]["seen"]["images"])


def test_every_image_seen_gives_no_verdict(models, train_set):
    result = compare_models(list(models), train_set, n_bootstrap=N_BOOT)
    assert result.unseen[1]["n_images"] == 0
    assert result.verdict[0].startswith(f"{result.names[1]} vs {result.names[0]}: no verdict")


def test_bad_library_input(models, test_set):
    with pytest.raises(ValueError, match="at least two models"):
        compare_models([models[0]], test_set)
    lesions = make_phantoms(20, image_size=48, weights=[1.0, 0.0, 0.0], random_state=2)  # benign only
    with pytest.raises(ValueError, match="no malignant"):
        compare_models(list(models), lesions, n_bootstrap=0)


def test_cli_compare_writes_json_and_png(files, tmp_path, capsys):
    a, b, data = files
    out = tmp_path / "cmp"
    code = main(["compare", str(a), str(b), str(data), "-o", str(out), "--n-bootstrap", str(N_BOOT), "-q"])
    text = capsys.readouterr().out
    assert code == 0
    assert "paired differences" in text and "verdict:" in text and "b.featbus - a.featbus" in text
    doc = json.loads((out / "compare.json").read_text())
    assert set(doc) >= {"models", "differences", "verdict", "data", "bootstrap", "positive"}
    assert [m["name"] for m in doc["models"]] == ["a.featbus", "b.featbus"]
    assert set(doc["models"][0]) >= {"auc", "sensitivity", "specificity", "decided_by", "seen"}
    assert set(doc["differences"][0]["figures"]) == set(FIGURES)
    assert doc["differences"][0]["unseen"]["n_images"] == doc["data"]["n_images"] - 8 >= 35
    assert doc["bootstrap"]["paired"] is True and doc["bootstrap"]["resamples"] == N_BOOT
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    # the output exists: refused without --overwrite, before any work
    assert main(["compare", str(a), str(b), str(data), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "already holds" in err and "--overwrite" in err and "Traceback" not in err


def test_cli_compare_takes_figure_names(files, capsys):
    a, b, data = files
    code = main(["compare", str(a), str(b), str(data), "--n-bootstrap", "20", "-q", "--figure", "auc",
                 "--figure", "called_normal", "--figure", "balanced_accuracy"])
    text = capsys.readouterr().out
    assert code == 0
    assert "malignant called normal" in text and "balanced accuracy" in text and "switching:" in text
    assert "  specificity" not in text  # only the figures asked for
    assert main(["compare", str(a), str(b), str(data), "-q", "--figure", "sensitivty"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'sensitivity'" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, words", [
    (["{a}", "{data}"], "at least two models"),
    (["{a}", "{missing}", "{data}"], "no such file"),
    (["{a}", "{a}", "{data}"], "given twice"),
    (["{a}", "{b}", "{missing}"], "does not exist"),
])
def test_cli_compare_bad_input_is_one_line(files, tmp_path, capsys, argv, words):
    a, b, data = files
    values = {"a": a, "b": b, "data": data, "missing": tmp_path / "nothing.featbus"}
    code = main(["compare", *[w.format(**values) for w in argv], "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- train --search

def _grouped_phantoms():
    data = make_phantoms(72, image_size=48, random_state=0)
    data.groups = np.arange(72) // 3  # three images per "patient"
    return data


@pytest.mark.slow  # seven grid searches (3 outer folds, 3 out-of-fold fits, 1 on every image)
def test_search_inner_folds_keep_groups_whole(monkeypatch):
    from sklearn.model_selection import StratifiedGroupKFold

    data = _grouped_phantoms()
    calls = []
    split = StratifiedGroupKFold.split

    def spy(self, X, y=None, groups=None):
        for train, test in split(self, X, y, groups):
            calls.append((np.asarray(groups), train, test))
            yield train, test

    monkeypatch.setattr(StratifiedGroupKFold, "split", spy)
    model = train_model(data, "intensity", classifier="logreg", search=True, n_splits=3, n_bootstrap=0,
                        operating_point="sensitivity=0.9", progress=False)
    # every search (3 outer CV folds, 3 out-of-fold fits, 1 on every image) split its images 3 ways
    assert len(calls) >= 7 * SEARCH_INNER_SPLITS
    for groups, train, test in calls:
        assert groups is not None and set(groups.tolist()) <= set(data.groups.tolist())
        assert not set(groups[train].tolist()) & set(groups[test].tolist())  # no patient on both sides
    info = model.manifest["recipe"]["search"]
    assert set(info["chosen"]) <= set(info["grid"]) and info["chosen"]
    assert info["chosen"]["classifier__C"] in info["grid"]["classifier__C"]
    assert len(info["outer_folds_chosen"]) == 3
    assert model.head.get_params()["classifier__C"] == info["chosen"]["classifier__C"]  # fitted with the choice
    assert "grid search: C=" in model.describe() and "nested" in model.describe()


def test_search_refuses_what_it_cannot_tune():
    data = make_phantoms(30, image_size=48, random_state=0)
    with pytest.raises(ValueError, match="two_decisions"):
        train_model(data, "intensity", search=True, two_decisions=True, segmenter="x", progress=False)


@pytest.mark.slow  # a command that trains (3 outer folds, each with its own search, and the final search)
def test_cli_train_search(files, tmp_path, capsys):
    _, _, data = files
    out = tmp_path / "s.featbus"
    assert main(["train", str(data), "-f", "intensity", "-c", "logreg", "--search", "--n-splits", "3",
                 "--n-bootstrap", "0", "-o", str(out), "-q"]) == 0
    text = capsys.readouterr().out
    assert "grid search (--search)" in text and "chosen on all" in text and "nested" in text
    assert main(["train", str(data), "--recipe", "finetuned-lite0", "--search", "-o", str(tmp_path / "n.featbus"),
                 "-q"]) == 2
    err = capsys.readouterr().err
    assert "--search" in err and "network" in err and "Traceback" not in err


def test_search_lines_say_when_the_choice_is_on_the_grid_edge():
    from featbus.cli.train import _search_lines

    info = {"grid": {"classifier__C": [0.1, 1.0, 10.0], "classifier__gamma": ["scale", 0.001, 0.01]},
            "n_candidates": 9, "inner_cv": "3 patient-grouped inner folds", "scoring": "malignant AUC",
            "chosen": {"classifier__C": 10.0, "classifier__gamma": "scale"}, "chosen_on": "all 60 training images",
            "outer_folds_chosen": [{"classifier__C": 10.0, "classifier__gamma": "scale"}] * 2
            + [{"classifier__C": 1.0, "classifier__gamma": "scale"}]}
    text = "\n".join(_search_lines({"recipe": {"search": info}}))
    assert "C=10.0 is the grid's largest value" in text and "gamma=scale is the grid" not in text
    assert "C=10.0, gamma=scale (2 of 3 folds); C=1.0, gamma=scale (1 of 3 folds)" in text
    assert "nested" in text
    assert _search_lines({"recipe": {}}) == []


def test_images_one_model_left_out_are_left_out_of_every_figure():
    """Each model judges only the images of its kind: the comparison is on those every model judged, and
    names the others."""
    from types import SimpleNamespace

    from featbus.evaluation.comparison import _common_images

    a = SimpleNamespace(paths=["x/1.png", "x/2.png", "x/3.png", "x/4.png"])
    b = SimpleNamespace(paths=["x/1.png", "x/3.png", "x/4.png", "x/5.png"])
    rows, note = _common_images([a, b])
    assert [a.paths[i] for i in rows[0]] == [b.paths[i] for i in rows[1]] == ["x/1.png", "x/3.png", "x/4.png"]
    assert len(note) == 1 and note[0].startswith("2 image(s) left out of every figure") and "'2.png'" in note[0]
    with pytest.raises(ValueError, match="share no image"):
        _common_images([SimpleNamespace(paths=["1.png"]), SimpleNamespace(paths=["2.png"])])
