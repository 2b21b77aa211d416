"""The .featbus model file: train, save, reload in a new process, trust, versions, prediction table."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin

from featbus.datasets import make_phantoms
from featbus.model import (
    FORMAT_VERSION,
    FeatbusModel,
    ModelVersionError,
    UntrustedModelError,
    load_model,
    pipeline_types,
    read_manifest,
    trust_model,
)
from featbus.model.runtime import RUNTIME_PROBA_ATOL
from featbus.workflows.training import train_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def own_trust_list(tmp_path, monkeypatch):
    """Never read or write the user's real trust list."""
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(45, image_size=64, random_state=0)


@pytest.fixture(scope="module")
def svm_model(phantoms):
    return train_model(phantoms, "lbp,intensity", classifier="svm", n_bootstrap=50, progress=False)


def _rewrite(src: Path, dst: Path, manifest=None, blob=None, member="pipeline.skops") -> Path:
    """A copy of a model file with its manifest edited and/or its pipeline replaced by ``blob``
    (stored as ``member``: "pipeline.joblib" makes a file of the older, pickled format)."""
    with zipfile.ZipFile(src) as z:
        m = json.loads(z.read("manifest.json"))
        others = {n: z.read(n) for n in z.namelist() if n not in ("manifest.json", "pipeline.skops")}
        b = z.read("pipeline.skops")
    if member == "pipeline.joblib":
        m["format_version"] = 3
    with zipfile.ZipFile(dst, "w") as z:
        z.writestr("manifest.json", json.dumps(manifest(m) if manifest else m))
        z.writestr(member, blob if blob is not None else b)
        for name, data in others.items():
            z.writestr(name, data)
    return dst


class Shift(TransformerMixin, BaseEstimator):
    """A user's own estimator: a type featbus does not trust by itself."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X) + 0.0


@pytest.fixture(scope="module")
def custom_model(svm_model):
    """The SVM model with a user's own step before its classifier."""
    from sklearn.pipeline import Pipeline

    return FeatbusModel(svm_model.features, Pipeline([("shift", Shift()), ("clf", svm_model.head)]),
                        dict(svm_model.manifest))


def test_svm_is_calibrated_and_names_classes(svm_model, phantoms):
    assert type(svm_model.head).__name__ == "CalibratedClassifierCV"
    assert svm_model.head.method == "sigmoid" and svm_model.head.ensemble is False
    proba = svm_model.predict_proba(phantoms.images[:6])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert svm_model.classes_.tolist() == ["benign", "malignant", "normal"]
    assert svm_model.predict(phantoms.images[:6]).tolist() == svm_model.classes_[proba.argmax(1)].tolist()
    m = svm_model.manifest
    assert m["data"]["counts"] == {"benign": 15, "malignant": 15, "normal": 15}
    assert len(m["data"]["sha256"]) == 64 and m["random_state"] == 0
    assert m["cv"]["cv"].startswith("duplicate-grouped") and 0 <= m["cv"]["accuracy"]["value"] <= 1
    # each class's one-vs-rest AUC with its interval: what an external validation compares with
    for name in ("benign", "malignant", "normal"):
        auc = m["cv"]["per_class_auc"][name]
        assert 0 <= auc["ci"][0] <= auc["value"] <= auc["ci"][1] <= 1
    assert m["recipe"]["extractors"]["lbp"]["class"] == "LBPFeatures"
    assert set(m["intensity"]) == {"benign", "malignant", "normal"}


def test_logreg_is_not_wrapped(phantoms):
    model = train_model(phantoms, "intensity", classifier="logreg", cross_validate=False, progress=False)
    assert type(model.head).__name__ == "Pipeline" and model.manifest["recipe"]["calibration"] is None
    assert model.manifest["cv"] is None


@pytest.mark.slow  # trains and cross-validates twice
def test_training_computes_each_row_once_and_saves_no_cache_folder(phantoms, tmp_path):
    from featbus.compute.extraction import extraction_counts, reset_extraction_counts

    reset_extraction_counts()
    model = train_model(phantoms, "hog,intensity", classifier="logreg", cache=False, progress=False,
                        cross_validate=False)
    counts = extraction_counts()
    assert len(counts) == 2 * len(phantoms.images) and set(counts.values()) == {1}
    cached = train_model(phantoms, "intensity", classifier="logreg", cache=tmp_path / "rows", progress=False,
                         cross_validate=False)
    assert any((tmp_path / "rows").rglob("*"))  # the run's cache received the rows...
    assert all(e.cache is None for _, e in [*model.features.transformer_list, *cached.features.transformer_list])
    # ...but the saved extractors do not point at the training machine's folder


def test_same_probabilities_in_a_new_process(svm_model, phantoms, tmp_path):
    path = svm_model.save(tmp_path / "m.featbus")
    images = tmp_path / "images"
    images.mkdir()
    files = []
    for i in range(5):
        f = images / f"im{i}.png"
        Image.fromarray(phantoms.images[i]).save(f)
        files.append(str(f))
    expected = svm_model.predict_proba(files)
    code = ("import json, sys, numpy as np; from featbus.model import load_model; "
            "m = load_model(sys.argv[1]); print(json.dumps(m.predict_proba(sys.argv[2:]).tolist()))")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code, str(path), *files], capture_output=True, text=True,
                         env=env, check=True)
    got = np.array(json.loads(out.stdout))
    # same data, same CPU: only summation-order noise is tolerated
    np.testing.assert_allclose(got, expected, atol=1e-8)


def test_a_file_loads_without_trust_and_without_pickle(svm_model, phantoms, tmp_path, monkeypatch):
    import pickle

    import joblib

    path = svm_model.save(tmp_path / "m.featbus")
    assert not Path(os.environ["FEATBUS_TRUSTED_MODELS"]).exists()  # nothing needed trusting
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["manifest.json", "pipeline.skops"]
    assert read_manifest(path)["format_version"] == FORMAT_VERSION

    def no_pickle(*args, **kwargs):
        raise AssertionError("loading a model file read a pickle")

    for module, name in ((pickle, "loads"), (pickle, "load"), (pickle, "Unpickler"), (joblib, "load")):
        monkeypatch.setattr(module, name, no_pickle)
    loaded = load_model(path, warm_up=False)
    np.testing.assert_allclose(loaded.predict_proba(phantoms.images[:6]), svm_model.predict_proba(phantoms.images[:6]),
                               atol=1e-12)
    with pytest.raises(FileExistsError, match="overwrite"):
        svm_model.save(path)


_CLASSIFIER_NAMES = sorted(set(__import__("featbus.pipelines").pipelines.CLASSIFIERS.values()))


@pytest.mark.parametrize("classifier, balance", [  # the ensembles of many trees are slow to cross-validate
    pytest.param(c, None, marks=[pytest.mark.slow] if c in ("balanced-rf", "easy-ensemble") else [])
    for c in _CLASSIFIER_NAMES] + [
    ("logreg", "smote"), ("logreg", "borderline-smote"), ("svm", "random-under"), ("rf", "smote")])
def test_every_classifier_and_sampler_loads_without_trust(classifier, balance, tmp_path):
    """Every model featbus trains from its classifier and sampler tables holds trusted types only."""
    if classifier == "xgboost":
        pytest.importorskip("xgboost")
    data = make_phantoms(60, image_size=40, random_state=0)  # enough left after SMOTEENN's cleaning
    model = train_model(data, "intensity", classifier=classifier, balance=balance, cross_validate=False,
                        progress=False)
    path = model.save(tmp_path / "m.featbus")
    assert [t["name"] for t in pipeline_types(path) if t["trust"] == "needs your trust"] == []
    loaded = load_model(path, warm_up=False)
    np.testing.assert_allclose(loaded.predict_proba(data.images[:5]), model.predict_proba(data.images[:5]))


def test_the_trust_table_names_what_the_ingredient_rows_bring():
    """The trust module lists the rows' held types and packages itself (it imports no pipelines):
    a new row holding a new type, or from a new package, fails here until the trust table says
    so; a trusted type or package that no row brings any more fails too (no stale trust)."""
    from featbus.model import trust as _trust
    from featbus.pipelines.ingredients import CLASSIFIER_TABLE, SAMPLER_TABLE, SELECTOR_TABLE

    rows = [e for table in (CLASSIFIER_TABLE, SAMPLER_TABLE, SELECTOR_TABLE) for e in table.values()]
    assert set(_trust._ROW_TYPES) == {t for e in rows for t in e.holds}
    assert set(_trust._ROW_PACKAGES) == {e.estimator.split(".")[0] for e in rows if e.estimator} - {"sklearn"}
    assert set(_trust._ROW_TYPES) <= set(_trust.EXTRA_TRUSTED_TYPES)
    assert set(_trust._ROW_PACKAGES) <= set(_trust.TRUSTED_PACKAGES)


def test_every_sampler_class_is_trusted():
    """The samplers of the balance table (SMOTEENN cleans a phantom set too hard to train one here)."""
    import imblearn

    from featbus.model import is_trusted_type
    from featbus.pipelines import make_sampler

    names = {type(make_sampler(b)).__module__ + "." + type(make_sampler(b)).__name__
             for b in ("smote", "borderline-smote", "adasyn", "smoteenn", "oversample", "undersample")}
    assert imblearn and all(is_trusted_type(n) for n in names), names


def test_a_type_featbus_does_not_know_needs_trust(custom_model, phantoms, tmp_path):
    path = custom_model.save(tmp_path / "custom.featbus", trust=False)
    types = {t["name"]: t["trust"] for t in pipeline_types(path)}
    shift = next(n for n in types if n.endswith(".Shift"))
    assert types[shift] == "needs your trust" and types["sklearn.svm._classes.SVC"] == "scikit-learn"
    with pytest.raises(UntrustedModelError, match=r"Shift.*Nothing was loaded"):
        load_model(path)
    by_name = load_model(path, trusted=[shift], warm_up=False)  # the user names the type
    np.testing.assert_allclose(by_name.predict_proba(phantoms.images[:3]),
                               custom_model.predict_proba(phantoms.images[:3]))
    assert isinstance(load_model(path, trusted=True, warm_up=False).head.steps[0][1], Shift)
    trust_model(path)  # or trusts the file: its digest goes into the list
    assert isinstance(load_model(path, warm_up=False), FeatbusModel)
    # save() trusts such a file by default (you made it); a file of trusted types it leaves alone
    mine = custom_model.save(tmp_path / "mine.featbus")
    assert isinstance(load_model(mine, warm_up=False), FeatbusModel)


def test_a_crafted_function_in_the_pipeline_is_not_run(svm_model, tmp_path):
    """A pipeline naming a function (the skops form of 'call this') is refused before it is made."""
    import hashlib

    from sklearn.preprocessing import FunctionTransformer

    from featbus.model.format import _skops_io

    marker = tmp_path / "pwned"
    blob = _skops_io().dumps({"features": svm_model.features,
                              "head": FunctionTransformer(func=os.mkdir, kw_args={"path": str(marker)})})
    good = svm_model.save(tmp_path / "good.featbus")
    evil = _rewrite(good, tmp_path / "evil.featbus", blob=blob,
                    manifest=lambda m: {**m, "pipeline_sha256": hashlib.sha256(blob).hexdigest()})
    with pytest.raises(UntrustedModelError, match=r"(posix|nt)\.mkdir"):
        load_model(evil)
    assert not marker.exists()


def test_an_older_pickled_file_loads_only_when_trusted(svm_model, phantoms, tmp_path, capsys):
    import hashlib
    import pickle

    import joblib

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    good = svm_model.save(tmp_path / "good.featbus")
    evil = _rewrite(good, tmp_path / "evil.featbus", blob=pickle.dumps(Payload()), member="pipeline.joblib")
    with pytest.raises(UntrustedModelError, match="pickle.*not in your trust list"):
        load_model(evil)
    assert not marker.exists()
    # the manifest's digest guards the pipeline even when the user vouches for the file
    with pytest.raises(ValueError, match="damaged"):
        load_model(evil, trusted=True)
    assert not marker.exists()
    assert read_manifest(evil)["classes"] == ["benign", "malignant", "normal"]  # reading it is safe
    # a genuine older file: loads when trusted, says how to re-save it; featbus upgrade does
    buf = io.BytesIO()
    joblib.dump({"features": svm_model.features, "head": svm_model.head}, buf)
    old = _rewrite(good, tmp_path / "old.featbus", blob=buf.getvalue(), member="pipeline.joblib",
                   manifest=lambda m: {**m, "pipeline_sha256": hashlib.sha256(buf.getvalue()).hexdigest()})
    with pytest.warns(UserWarning, match="featbus upgrade"):
        assert load_model(old, trusted=True, warm_up=False).classes_.tolist() == ["benign", "malignant", "normal"]
    from featbus.cli import main

    assert main(["upgrade", str(old), "-o", str(tmp_path / "new.featbus")]) == 2  # not trusted
    _error_line(capsys, "pickle", "--trust")
    assert main(["upgrade", str(old), "-o", str(tmp_path / "new.featbus"), "--trust"]) == 0
    assert "loads without pickle and without trust" in capsys.readouterr().out
    np.testing.assert_allclose(load_model(tmp_path / "new.featbus", warm_up=False).predict_proba(phantoms.images[:3]),
                               svm_model.predict_proba(phantoms.images[:3]))


def test_cli_inspect_shows_the_recipe_and_types_without_loading(custom_model, tmp_path, capsys, monkeypatch):
    from featbus.cli import main

    path = custom_model.save(tmp_path / "custom.featbus", trust=False)
    monkeypatch.setattr("featbus.model.load_model", lambda *a, **k: pytest.fail("inspect loaded the model"))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "format 4" in out and "lbp,intensity -> svm" in out and "classes: benign, malignant, normal" in out
    assert "cross-validation (duplicate-grouped" in out and "pipeline.skops" in out
    assert "sklearn.svm._classes.SVC" in out and "needs your trust" in out
    assert "loads without --trust: no" in out and "Shift" in out.splitlines()[-1]


@pytest.mark.parametrize("field,value,match", [("featbus", "9.9.0", "featbus 9.9.0"),
                                               ("scikit-learn", "0.24.2", "scikit-learn 0.24.2")])
def test_incompatible_versions_are_refused(svm_model, tmp_path, field, value, match):
    path = svm_model.save(tmp_path / "m.featbus")
    old = _rewrite(path, tmp_path / "old.featbus",
                   manifest=lambda m: {**m, "versions": {**m["versions"], field: value}})
    with pytest.raises(ModelVersionError, match=match):
        load_model(old, trusted=True)
    newer = _rewrite(path, tmp_path / "new.featbus", manifest=lambda m: {**m, "format_version": 99})
    with pytest.raises(ModelVersionError, match="format version 99"):
        load_model(newer, trusted=True)


def test_not_a_model_file(tmp_path):
    junk = tmp_path / "x.featbus"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a featbus model file"):
        load_model(junk)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.featbus")


def test_predict_table_reports_unreadable_images(svm_model, phantoms, tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(phantoms.images[0]).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(ValueError, match="bad.png"):
        svm_model.predict_table([str(good), str(bad)])
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        table = svm_model.predict_table([str(good), str(bad)], on_error="skip")
    assert table["image"].tolist() == [str(good), str(bad)]
    assert table.loc[0, "error"] == "" and table.loc[0, "predicted"] in svm_model.classes_
    assert table.loc[1, "predicted"] == "" and table.loc[1, "error"] != ""
    assert np.isnan(table.loc[1, "p_benign"])


def test_mask_features_are_refused(phantoms):
    with pytest.raises(ValueError, match="without lesion masks"):
        train_model(phantoms, "shape,lbp", progress=False)
    with pytest.raises(ValueError, match="without lesion masks"):
        train_model(phantoms, "lbp", region="bbox", progress=False)


@pytest.mark.slow  # builds a network
def test_deep_model_round_trip(phantoms, tmp_path):
    pytest.importorskip("tensorflow")
    from featbus import DeepFeatures

    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32)
    model = train_model(phantoms, [("lite0", deep)], classifier="logreg", n_bootstrap=0, progress=False)
    path = model.save(tmp_path / "deep.featbus")
    manifest = read_manifest(path)
    assert manifest["recipe"]["extractors"]["lite0"]["params"]["backbone"] == "efficientnet_lite0"
    assert "keras" in manifest["versions"]
    again = load_model(path)  # through the inference runtime where LiteRT is installed
    np.testing.assert_allclose(again.predict_proba(phantoms.images[:4]), model.predict_proba(phantoms.images[:4]),
                               atol=RUNTIME_PROBA_ATOL)


# --------------------------------------------------------------------------- command line

@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("phantoms")
    ph = make_phantoms(45, image_size=64, random_state=0)
    for i, (im, t) in enumerate(zip(ph.images, ph.target)):
        folder = root / str(ph.target_names[t])
        folder.mkdir(exist_ok=True)
        Image.fromarray(im).save(folder / f"case ({i}).png")
    return root


def _error_line(capsys, *fragments):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "Traceback" not in "\n".join(err)
    line = err[-1]
    for f in fragments:
        assert f in line, line
    return line


def test_cli_train_holdout_then_predict(phantom_dir, tmp_path, capsys):
    from featbus.cli import main

    model, held = tmp_path / "m.featbus", tmp_path / "held.csv"
    assert main(["train", str(phantom_dir), "-f", "lbp,intensity", "-q", "--n-bootstrap", "50",
                 "--test-fraction", "0.2", "--holdout-list", str(held), "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert "held-out (" in out and "accuracy" in out and model.is_file()
    manifest = read_manifest(model)
    assert manifest["holdout"]["n_images"] == len(pd.read_csv(held))
    assert "--test-fraction" in manifest["command"]
    heldout = pd.read_csv(held)
    # no held-out image was used for training
    assert manifest["data"]["n_images"] + len(heldout) == 45
    preds = tmp_path / "p.csv"
    assert main(["predict", str(model), *heldout["image"], "-o", str(preds)]) == 0
    table = pd.read_csv(preds, keep_default_na=False)
    assert table["image"].tolist() == heldout["image"].tolist()
    assert {"predicted", "p_benign", "p_malignant", "p_normal", "error"} <= set(table.columns)
    acc = float(np.mean(table["predicted"] == heldout["label"]))
    assert acc == pytest.approx(manifest["holdout"]["accuracy"], abs=1e-9)  # the same model, the same images


def test_cli_predict_explain_and_errors(phantom_dir, tmp_path, capsys):
    from featbus.cli import main

    model = tmp_path / "m.featbus"
    assert main(["train", str(phantom_dir), "-f", "intensity", "-c", "logreg", "-q", "--n-bootstrap", "0",
                 "-o", str(model)]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    good = next((phantom_dir / "benign").glob("*.png"))
    assert main(["predict", str(model), str(good), str(bad), "--on-error", "raise", "-o", str(tmp_path / "p.csv")]) == 2
    _error_line(capsys, "bad.png")
    assert main(["predict", str(model), str(good), str(bad), "--on-error", "skip", "--explain", str(tmp_path / "ex"),
                 "-o", str(tmp_path / "p.csv")]) == 0
    table = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert table.loc[1, "error"] != "" and Path(table.loc[0, "explanation"]).is_file()
    page = (tmp_path / "ex" / "report.html").read_text()  # the overlays shown in a report
    assert Path(table.loc[0, "explanation"]).name in page and "not predicted" in page and "bad.png" in page
    # a type featbus does not know: one line, exit 2, nothing loaded; --trust loads it and remembers it
    from sklearn.pipeline import Pipeline

    m = load_model(model, warm_up=False)
    other = FeatbusModel(m.features, Pipeline([("shift", Shift()), ("clf", m.head)]), m.manifest).save(
        tmp_path / "other.featbus", trust=False)
    os.environ["FEATBUS_TRUSTED_MODELS"] = str(tmp_path / "empty.txt")
    assert main(["predict", str(other), str(good)]) == 2
    _error_line(capsys, "does not trust by itself", "Shift", "--trust")
    assert main(["predict", str(other), str(good), "--trust"]) == 0
    assert main(["predict", str(other), str(good)]) == 0
    assert main(["predict", str(tmp_path / "absent.featbus"), str(good)]) == 2
    _error_line(capsys, "does not exist")
    assert main(["predict", str(model), str(tmp_path / "absent.png")]) == 2
    _error_line(capsys, "absent.png", "does not exist")


def test_cli_train_refuses_masks_and_existing_output(phantom_dir, tmp_path, capsys):
    from featbus.cli import main

    assert main(["train", str(phantom_dir), "-f", "shape,lbp", "-o", str(tmp_path / "m.featbus")]) == 2
    _error_line(capsys, "without lesion masks")
    existing = tmp_path / "e.featbus"
    existing.write_text("x")
    assert main(["train", str(phantom_dir), "-f", "lbp", "-o", str(existing)]) == 2
    _error_line(capsys, "already exists", "--overwrite")


def test_cli_export_and_app_errors(phantom_dir, tmp_path, capsys):
    from featbus.cli import main

    model = tmp_path / "m.featbus"
    assert main(["train", str(phantom_dir), "-f", "intensity", "-c", "logreg", "-q", "--n-bootstrap", "0",
                 "-o", str(model)]) == 0
    capsys.readouterr()
    assert main(["export", str(model), "--tflite", str(tmp_path / "m.tflite")]) == 2
    _error_line(capsys, "only models whose features all come from one CNN")
    assert main(["export", str(model), "--tflite", str(tmp_path / "m.onnx")]) == 2
    _error_line(capsys, ".tflite")
    assert main(["app", str(model), "--port", "0"]) == 2
    _error_line(capsys, "--port")


def test_cli_evaluate_with_an_external_test_set(phantom_dir, tmp_path, capsys):
    from featbus.cli import main

    ext = tmp_path / "ext"
    ph = make_phantoms(18, image_size=64, random_state=5)
    for i, (im, t) in enumerate(zip(ph.images, ph.target)):
        (ext / str(ph.target_names[t])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(ext / str(ph.target_names[t]) / f"x{i}.png")
    report = tmp_path / "rep"
    assert main(["evaluate", str(phantom_dir), "-f", "intensity", "-c", "logreg,knn", "-q", "--n-bootstrap", "50",
                 "--test", str(ext), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "OPTIMISTIC" in out and "external test set" in out and "test:accuracy" in out
    page = (report / "report.html").read_text()
    for part in ("How this report was made", "IntensityStats(", "--random-state", "Misclassified images",
                 "Intensity per class", "external test set"):
        assert part in page, part
    assert (report / "test.html").is_file()
    wrong = tmp_path / "wrong"
    (wrong / "cyst").mkdir(parents=True)
    (wrong / "benign").mkdir()
    Image.fromarray(ph.images[0]).save(wrong / "cyst" / "a.png")
    Image.fromarray(ph.images[1]).save(wrong / "benign" / "b.png")
    assert main(["evaluate", str(phantom_dir), "-f", "intensity", "-q", "--test", str(wrong)]) == 2
    _error_line(capsys, "cyst")


def test_a_file_name_cannot_smuggle_another_digest_into_the_trust_list(custom_model, tmp_path):
    """Trusting a file whose name holds a line break and another file's digest trusts that file only."""
    import shutil

    from featbus.io import file_sha256

    other = custom_model.save(tmp_path / "other.featbus", trust=False)
    shutil.copy(other, tmp_path / "tmp.featbus")
    # make the other file differ from anything trusted: a changed command in its manifest
    other = _rewrite(other, tmp_path / "victim.featbus", manifest=lambda m: {**m, "command": "victim"})
    digest = file_sha256(other)
    crafted = tmp_path / f"x\n{digest}  y.featbus"
    _rewrite(tmp_path / "tmp.featbus", crafted, manifest=lambda m: {**m, "command": "crafted"})
    trust_model(crafted)
    assert isinstance(load_model(crafted, warm_up=False), FeatbusModel)
    with pytest.raises(UntrustedModelError):
        load_model(other)
    text = Path(os.environ["FEATBUS_TRUSTED_MODELS"]).read_text()
    assert len(text.splitlines()) == 1 and "\\n" in text


def _flip_byte(src: Path, dst: Path, offset: int) -> Path:
    data = bytearray(src.read_bytes())
    data[offset] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: {k: v for k, v in m.items() if k != "format_version"}, "'format_version' should be a positive integer"),
    (lambda m: {**m, "format_version": "3"}, "'format_version' should be a positive integer"),
    (lambda m: {**m, "classes": "benign"}, "'classes' should be a non-empty list"),
    (lambda m: {**m, "versions": ["featbus"]}, "'versions' should be an object"),
    (lambda m: {**m, "recipe": None}, "'recipe' should be an object"),
    (lambda m: {**m, "cv": [1]}, "'cv' should be an object or null"),
    (lambda m: {**m, "pipeline_sha256": 7}, "'pipeline_sha256' should be a SHA-256"),
])
def test_manifest_of_the_wrong_shape_is_damaged(svm_model, tmp_path, edit, fragment, capsys):
    good = svm_model.save(tmp_path / "good.featbus")
    bad = _rewrite(good, tmp_path / "bad.featbus", manifest=edit)
    with pytest.raises(ValueError, match="is damaged") as exc:
        read_manifest(bad)
    assert fragment in str(exc.value) and not isinstance(exc.value, ModelVersionError)
    from featbus.cli import main

    image = tmp_path / "one.png"
    Image.fromarray(np.full((48, 48), 90, np.uint8)).save(image)
    assert main(["predict", str(bad), str(image), "--trust"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is damaged" in err[0] and "internal error" not in err[0]


def test_flipped_bytes_are_a_damaged_file(svm_model, tmp_path, capsys):
    """One byte flipped anywhere in the pipeline member: one line, 'damaged', exit 2."""
    from featbus.cli import main

    good = svm_model.save(tmp_path / "good.featbus")
    size = good.stat().st_size
    image = tmp_path / "one.png"
    Image.fromarray(np.full((48, 48), 90, np.uint8)).save(image)
    for offset in (size // 3, size // 2, size - 200):
        bad = _flip_byte(good, tmp_path / f"flip{offset}.featbus", offset)
        assert main(["predict", str(bad), str(image), "--trust"]) == 2, offset
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "internal error" not in err[0], err
        assert any(w in err[0] for w in ("damaged", "not a featbus model")), err


def test_zip_bomb_manifest_is_refused_before_inflating(svm_model, tmp_path):
    good = svm_model.save(tmp_path / "good.featbus")
    with zipfile.ZipFile(good) as z:
        pipeline = z.read("pipeline.skops")
    bomb = tmp_path / "bomb.featbus"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", b'{"format": "featbus-model", "pad": "' + b" " * (64 * 2**20) + b'"}')
        z.writestr("pipeline.skops", pipeline)
    assert bomb.stat().st_size < 2**20
    with pytest.raises(ValueError, match=r"manifest.json would inflate to 67,108,9\d\d bytes"):
        read_manifest(bomb)
