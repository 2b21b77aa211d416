"""Words that match the code (issue 60 item 4): groups named for what they are, model files
that name their training data, suggestions for unknown options, plain presence lines."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import featbus
from featbus.evaluation.report import make_splits
from featbus.model_selection import grouping_name
from featbus.pipelines.make import make_classification_pipeline


@pytest.fixture(scope="module")
def grouped_table(tmp_path_factory) -> Path:
    """A CSV manifest of 36 phantoms whose 'group' column pairs the images (patients)."""
    root = tmp_path_factory.mktemp("grouped")
    ph = featbus.make_phantoms(n_samples=36, random_state=0)
    rows = ["image,label,group"]
    for i, (im, t) in enumerate(zip(ph.images, ph.target)):
        Image.fromarray(np.asarray(im).astype(np.uint8)).save(root / f"p{i}.png")
        rows.append(f"p{i}.png,{ph.target_names[t]},pt{i // 2}")
    (root / "table.csv").write_text("\n".join(rows) + "\n")
    return root / "table.csv"


def test_groups_are_named_for_where_they_came_from():
    assert grouping_name(None) == "duplicate-grouped"
    assert grouping_name("patients: the 'patient' column of t.csv") == \
        "patient-grouped (from the 'patient' column of t.csv)"
    y = np.array([0, 1] * 10)
    groups = np.arange(20) // 2
    _, _, how = make_splits(np.zeros((20, 3)), y, groups=groups, n_splits=5)
    assert how == "duplicate-grouped 5-fold"  # near-duplicate groups: as before
    _, _, how = make_splits(np.zeros((20, 3)), y, groups=groups, n_splits=5,
                            groups_from="patients: the 'patient' column of t.csv")
    assert how == "patient-grouped 5-fold (from the 'patient' column of t.csv)"


def test_a_tables_groups_are_not_called_near_duplicates(grouped_table, tmp_path):
    data = featbus.load_data(grouped_table)
    assert data.groups_from == "the 'group' column of table.csv"
    pipe = make_classification_pipeline("intensity", classifier="logreg")
    report = featbus.evaluate(pipe, data, n_splits=3, n_bootstrap=20)
    assert report.cv == "grouped 3-fold (from the 'group' column of table.csv)"
    from featbus.evaluation.sanity import assess

    assert "grouped 3-fold cross-validation (from the 'group' column of table.csv), 36 images" in assess(report).basis


def test_train_and_inspect_name_a_tables_groups(grouped_table, tmp_path, capsys):
    from featbus.cli import main

    model = tmp_path / "m.featbus"
    assert main(["train", str(grouped_table), "-f", "intensity", "-c", "logreg", "--n-splits", "3",
                 "--n-bootstrap", "20", "-o", str(model)]) == 0
    assert main(["inspect", str(model)]) == 0
    out = capsys.readouterr().out
    assert "cross-validation (grouped 3-fold (from the 'group' column of table.csv))" in out
    assert "duplicate-grouped" not in out and "near-duplicate" not in out


def test_a_model_file_names_its_data_not_the_trainers_folders(grouped_table, tmp_path, capsys):
    from featbus.cli import main
    from featbus.model.describe import describe_manifest

    model = tmp_path / "m.featbus"
    assert main(["train", str(grouped_table), "-f", "intensity", "-c", "logreg", "--n-splits", "3",
                 "--n-bootstrap", "0", "-o", str(model)]) == 0
    capsys.readouterr()
    manifest = featbus.load_model(model).manifest
    assert manifest["data"]["source"] == "table.csv"  # not /tmp/.../table.csv
    assert main(["inspect", str(model)]) == 0
    out = capsys.readouterr().out
    assert " from table.csv (content sha256 " in out and str(grouped_table.parent) not in out
    # a file written before: its absolute paths are printed as their base names
    old = {**manifest, "data": {**manifest["data"], "source": "/home/ann/data/busi, /mnt/sites/busbra/"}}
    text = describe_manifest(old)
    assert " from busi, busbra (content sha256 " in text and "/home/ann" not in text


@pytest.mark.parametrize("argv,line", [
    (["train", "d", "--classifer", "svm", "-o", "m.featbus"],
     "featbus train: error: unrecognized arguments: --classifer svm; did you mean --classifier?"),
    # the misspelt option is named before the "required" error it causes
    (["train", "d", "--ouput", "m.featbus"],
     "featbus train: error: unrecognized arguments: --ouput; did you mean --output?"),
    (["predict", "m.featbus", "x.png", "--explian=occlusion"], "did you mean --explain?"),
    (["predict", "m.featbus", "x.png", "--bogus"], "featbus predict: error: unrecognized arguments: --bogus"),
])
def test_unknown_options_get_the_nearest_option(argv, line, capsys):
    from featbus.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert line in err[-1] and "Traceback" not in "".join(err)
    if "bogus" in line:
        assert "did you mean" not in err[-1]


def _keras_in_a_script(env_level: str | None) -> tuple[str, str]:
    import os
    import subprocess
    import sys

    pytest.importorskip("keras")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if env_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = env_level
    code = ("import os; from featbus.networks.backend import keras_module; keras_module(); "
            "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr


@pytest.mark.slow  # a new process that imports TensorFlow
def test_a_script_gets_no_tensorflow_start_up_lines():
    level, err = _keras_in_a_script(None)
    assert level == "2"
    assert "oneDNN" not in err and "cpu_feature_guard" not in err and "absl" not in err, err


@pytest.mark.slow  # a new process that imports TensorFlow
def test_a_users_quiet_tensorflow_log_level_gets_no_start_up_lines():
    """TF_CPP_MIN_LOG_LEVEL=2, set to silence TensorFlow, made the README's script print its
    oneDNN and absl lines: the level applies only after them."""
    level, err = _keras_in_a_script("2")
    assert level == "2"
    assert "oneDNN" not in err and "absl" not in err, err


@pytest.mark.slow  # a new process that imports TensorFlow
def test_a_users_tensorflow_log_level_is_kept():
    level, _ = _keras_in_a_script("1")
    assert level == "1"  # set by the user: not overridden (and its lines not hidden)


def test_the_presence_line_says_what_the_segmenter_does_in_plain_words():
    from types import SimpleNamespace

    from featbus.cli.segment import _presence_auc_line, _presence_line

    seg = SimpleNamespace(presence_={"method": "mask", "n_lesion": 70, "n_empty": 11, "reason": "presence='mask'"})
    line = _presence_line(seg, shipped=True)
    assert "presence='mask'" not in line and "not calibrated" not in line
    assert "a lesion is drawn wherever the thresholded mask is non-empty, so expect a lesion drawn in most normal " \
           "scans (the shipped segmenter drew one in 9 of the 11 normal scans" in line
    assert "the shipped segmenter" not in _presence_line(seg)
    has = np.array([True] * 8 + [False] * 4)
    prob = np.r_[np.linspace(0.9, 1.0, 8), [0.2, 0.95, 0.3, 0.1]]
    line = _presence_auc_line(has, prob, None, 200, 0)
    assert line.startswith("lesion_probability, normal vs lesion images: AUC 0.875 [")
    assert "(4 normal, 8 lesion;" in line
    assert _presence_auc_line(has[:8], prob[:8], None, 200, 0) is None  # no normal image: nothing to separate


@pytest.mark.slow
def test_segment_evaluate_reports_how_lesion_probability_separates_normal_scans(capsys):
    pytest.importorskip("keras")
    from featbus.cli import main

    folder = Path(featbus.load_sample().paths[0]).parent.parent
    assert main(["segment", "evaluate", "breast_us", str(folder), "--n-bootstrap", "50"]) == 0  # either spelling
    out = capsys.readouterr().out
    assert "lesion_probability, normal vs lesion images: AUC " in out and "(4 normal, 48 lesion;" in out
    assert "expect a lesion drawn in most normal scans (the shipped segmenter drew one in" in out


def test_the_tour_page_defines_the_verdicts_as_the_code_decides_them():
    from featbus.evaluation.sanity import AUC_CHANCE, SENSITIVITY_FLOOR, SMALL_CLASS

    text = " ".join((Path(__file__).parents[1] / "docs" / "guide" / "tour.rst").read_text().split())
    assert ('"useless" when its decisions beat always answering the judged images\' most common class neither on '
            "accuracy nor on balanced accuracy") in text
    assert f"every other class's sensitivity under {SENSITIVITY_FLOOR:g}" in text
    assert f"AUC's 95 % interval reaches {AUC_CHANCE:g}" in text and f"under {SMALL_CLASS} images" in text
    assert "no better than always answering the most common class, or an AUC" not in text  # the old definition


@pytest.mark.parametrize("spelling", ["breast-us", "breast_us", "Breast-US"])
def test_every_spelling_of_a_shipped_name_is_taken_by_weights_and_features(spelling, tmp_path):
    from types import SimpleNamespace

    from featbus.cli._options import _apply_weights, _parse_weights
    from featbus.segmentation.unet import segmenter_file

    weights = tmp_path / "local.weights.h5"
    weights.write_bytes(b"")
    assert _parse_weights([f"{spelling}={weights}"]) == {"breast_us": str(weights)}
    args = SimpleNamespace(features="intensity," + spelling, weights=[f"{spelling}={weights}"], feature_specs=None,
                           settings_given={}, params=None)
    _apply_weights(args)
    (est,) = [e for name, e in args.feature_specs if name == "breast_us"]
    assert est.get_params()["weights"] == str(weights)
    assert segmenter_file(spelling.lower()).name == "breast_us_segmenter.keras"


def test_provenance_notes_name_the_images_they_flag():
    import logging
    from types import SimpleNamespace

    from featbus.model.provenance import fingerprints, overlap_notes

    ph = featbus.make_phantoms(n_samples=8, random_state=3)
    records = [featbus.ImageRecord(np.asarray(im), None, f"/site/p{i}.png") for i, im in enumerate(ph.images)]
    model = SimpleNamespace(manifest={"data": {"fingerprints": fingerprints(records[:5])}})
    (note,) = overlap_notes(model, records)
    assert note.startswith("5 of these 8 images (or near-copies) trained this model")
    assert note.endswith("; flagged: p0.png, p1.png, p2.png and 2 more (-v lists all)")
    log = logging.getLogger("featbus")
    level = log.level
    log.setLevel(logging.INFO)  # -v
    try:
        (note,) = overlap_notes(model, records)
    finally:
        log.setLevel(level)
    assert note.endswith("; flagged: p0.png, p1.png, p2.png, p3.png, p4.png")
