"""featbus.adapt and ``featbus adapt``: a model adapted to a site's images (and a few labels).

Real data: a tiny BUSI model (intensity + LBP -> Platt-calibrated SVM, 30 images per class)
adapted on about 40 BUS-BRA images of 26 patients; a tiny FineTunedCNN (no ImageNet weights,
32 px, one epoch) on phantoms for AdaBN. Skipped cleanly without ``../shared/data``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import BUSI, stderr_lines

from featbus import adapt, make_phantoms
from featbus.cli import main
from featbus.model import load_model
from featbus.model.format import _check_manifest_schema, data_sha256
from featbus.workflows.training import train_model


@pytest.fixture(scope="module")
def busi_model(tmp_path_factory):
    if not BUSI.is_dir():
        pytest.skip(f"BUSI data not found at {BUSI}")
    from featbus.datasets import load_image_folder

    root = tmp_path_factory.mktemp("busi-subset")
    for cls in ("benign", "malignant", "normal"):
        (root / cls).mkdir()
        for image in sorted(p for p in (BUSI / cls).glob("*.png") if "_mask" not in p.name)[:30]:
            shutil.copy(image, root / cls / image.name)
    model = train_model(load_image_folder(root), "intensity,lbp", classifier="svm", n_splits=3,
                        cross_validate=False, progress=False)
    path = tmp_path_factory.mktemp("model") / "busi_tiny.featbus"
    model.save(path)
    return path, model


@pytest.fixture(scope="module")
def site(tmp_path_factory, make_bus_bra_subset):
    """About 40 BUS-BRA images of 26 patients (16 benign, 10 malignant) in the BUS-BRA layout."""
    return make_bus_bra_subset(tmp_path_factory.mktemp("bus-bra-subset"), 16, 10, masks=False)[0]


def _site_data(root):
    from featbus import load_data

    data = load_data(root)
    return data, np.asarray(data.target_names)[np.asarray(data.target)].astype(str)


def test_unlabelled_images_re_estimate_the_feature_standardisation(busi_model, site):
    _, model = busi_model
    data, _ = _site_data(site)
    scaler = model.head.calibrated_classifiers_[0].estimator.steps[0][1]
    before = scaler.mean_.copy()
    adapted = adapt(model, data.data)
    new = adapted.head.calibrated_classifiers_[0].estimator.steps[0][1]
    X = adapted.transform(data.data)
    np.testing.assert_allclose(new.mean_, X.mean(axis=0))
    std = X.std(axis=0)
    np.testing.assert_allclose(new.scale_, np.where(std > 0, std, 1.0))
    np.testing.assert_array_equal(scaler.mean_, before)  # the input model is untouched
    assert "adaptation" not in model.manifest
    record = adapted.manifest["adaptation"]
    assert record["method"] == "standardise" and record["labelled"] is False and record["n_images"] == len(X)
    assert record["sha256"] == data_sha256(list(data.data), [""] * len(X))
    assert "operating_point" not in adapted.manifest
    assert not np.allclose(adapted.predict_proba(data.data), model.predict_proba(data.data))


def test_labels_refit_the_calibration_and_set_the_operating_point(busi_model, site):
    _, model = busi_model
    data, y = _site_data(site)
    adapted = adapt(model, data.data, labels=y, groups=data.groups, target_sensitivity=0.9)
    op = adapted.manifest["operating_point"]
    assert op["positive"] == "malignant" and op["sensitivity"] >= 0.9
    proba = adapted.predict_proba(data.data)
    j = adapted.classes_.tolist().index("malignant")
    called = adapted.predict(data.data) == "malignant"
    np.testing.assert_array_equal(called, proba[:, j] >= op["threshold"])  # predict applies the threshold
    assert called[y == "malignant"].mean() >= 0.9
    record = adapted.manifest["adaptation"]
    assert record["labels"]["counts"]["malignant"] == int(np.sum(y == "malignant"))
    assert record["labels"]["n_groups"] == 26 and "refitted" in record["calibration"]
    old = model.head.calibrated_classifiers_[0].calibrators[0]
    new = adapted.head.calibrated_classifiers_[0].calibrators[0]
    assert (old.a_, old.b_) != (new.a_, new.b_)
    # BUS-BRA has no normal image: the refitted calibration stops calling lesions normal
    assert np.mean(adapted.predict(data.data) == "normal") <= np.mean(model.predict(data.data) == "normal")


def test_bad_labels_are_one_line_errors(busi_model, site):
    _, model = busi_model
    data, y = _site_data(site)
    bad = y.copy().astype(object)
    bad[:2] = "cyst"
    with pytest.raises(ValueError, match=r"^the labels hold 'cyst', which the model does not know") as err:
        adapt(model, data.data, labels=bad)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"single class \('benign'\)") as err:
        adapt(model, data.data, labels=["benign"] * len(y))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="pass labels too"):
        adapt(model, data.data, target_sensitivity=0.9)
    with pytest.raises(ValueError, match="method='adabn'.*no"):
        adapt(model, data.data, method="adabn")
    with pytest.raises(ValueError, match="at least 10 images"):
        adapt(model, data.data[:3])


def test_command_adapts_saves_and_the_file_predicts_the_same_in_a_new_process(busi_model, site, tmp_path, capsys):
    path, model = busi_model
    out = tmp_path / "adapted.featbus"
    assert main(["adapt", str(path), str(site), "--labels", "-o", str(out), "--n-bootstrap", "50", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "operating point: malignant when p(malignant) >=" in printed
    assert "before" in printed and "after" in printed and "optimistic" in printed
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    from featbus.io import file_sha256

    assert manifest["adaptation"]["source"]["sha256"] == file_sha256(path)
    assert manifest["adaptation"]["labelled"] is True
    assert main(["inspect", str(out)]) == 0
    said = capsys.readouterr().out
    assert "adapted to a site: moved: " in said and "statistics re-estimated (standardise: " in said
    assert "(none)" not in said
    # the saved file, loaded in another process, predicts what the in-memory model predicts
    data, y = _site_data(site)
    adapted = adapt(model, data.data, labels=y, groups=data.groups)
    saved = tmp_path / "mem.featbus"
    adapted.save(saved)
    paths = [r.path for r in data.data]
    script = ("import json, sys, numpy as np; from featbus.model import load_model; "
              "m = load_model(sys.argv[1]); paths = json.loads(sys.argv[2]); "
              "print(json.dumps({'p': m.predict_proba(paths).tolist(), 'c': m.predict(paths).tolist()}))")
    run = subprocess.run([sys.executable, "-c", script, str(saved), json.dumps(paths)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(got["p"], adapted.predict_proba(paths), atol=1e-10)
    assert got["c"] == adapted.predict(paths).tolist()
    # unlabelled images: paths and folders
    out2 = tmp_path / "unlabelled.featbus"
    assert main(["adapt", str(path), str(site), "-o", str(out2), "-q"]) == 0
    assert "unlabelled images" in capsys.readouterr().out
    assert load_model(out2).manifest["adaptation"]["labelled"] is False


def test_command_bad_inputs_are_one_line_errors(busi_model, site, tmp_path, capsys):
    path, _ = busi_model
    out = tmp_path / "a.featbus"
    # a class the model does not know
    other = tmp_path / "other"
    for cls, src in (("benign", site / "benign"), ("cyst", site / "malignant")):
        shutil.copytree(src, other / cls)
    assert main(["adapt", str(path), str(other), "--labels", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "'cyst', which the model does not know" in err and len(stderr_lines(err)) == 1
    # a labelled site with one class
    one = tmp_path / "one"
    shutil.copytree(site / "benign", one / "benign")
    assert main(["adapt", str(path), str(one), "--labels", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "single class ('benign')" in err and len(stderr_lines(err)) == 1
    # an existing output, a target sensitivity without labels
    out.write_bytes(b"x")
    assert main(["adapt", str(path), str(site), "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["adapt", str(path), str(site), "-o", str(tmp_path / "b.featbus"), "--target-sensitivity",
                 "0.9"]) == 2
    assert "add --labels" in capsys.readouterr().err
    assert not (tmp_path / "b.featbus").exists()


def test_operating_point_is_checked_when_a_file_is_read():
    manifest = {"format_version": 4, "versions": {}, "classes": ["benign", "malignant"], "recipe": {},
                "operating_point": {"positive": "cancer", "threshold": 0.3}}
    with pytest.raises(ValueError, match="operating_point"):
        _check_manifest_schema(manifest, "m.featbus")
    manifest["operating_point"] = {"positive": "malignant", "threshold": 0.3}
    _check_manifest_schema(manifest, "m.featbus")


# --------------------------------------------------------------------------- AdaBN

@pytest.fixture(scope="module")
def tiny_network():
    """A tiny fine-tuned network model on phantoms, darker low-contrast phantoms as the new site,
    and the model adapted to them."""
    pytest.importorskip("tensorflow")
    from featbus.features.finetune import FineTunedCNN

    net = FineTunedCNN(weights=None, input_size=32, epochs=1, warmup_epochs=0, batch_size=8, validation_fraction=0,
                       progress=False, random_state=0)
    model = train_model(make_phantoms(24, image_size=48, random_state=0), network=net, progress=False)
    site = [np.clip(im.astype(float) * 0.6 + 60, 0, 255).astype(np.uint8)
            for im in make_phantoms(16, image_size=48, random_state=1).images]
    before = [w.copy() for w in model.networks[0].weights_]
    # force: to the one rule of the image kind (statistics and features both unlike the training images),
    # 9 of these 16 recoloured phantoms are another kind than the 24 narrow training phantoms
    return model, site, before, adapt(model, site, force=True)


@pytest.mark.slow  # trains a network
def test_adabn_re_estimates_batch_norm_statistics_and_keeps_the_weights(tiny_network):
    import keras

    from featbus.features.deep import keras_preprocess

    model, site, before, adapted = tiny_network
    est, new = model.networks[0], adapted.networks[0]
    assert adapted.manifest["adaptation"]["method"] == "adabn"
    names = [v.path for v in est._trainer().variables()]
    changed = [n for n, a, b in zip(names, before, new.weights_) if not np.array_equal(a, b)]
    assert changed and all(n.endswith(("moving_mean", "moving_variance")) for n in changed)  # weights kept
    assert len(changed) > 20  # every BN layer, not only the first
    assert all(np.array_equal(a, b) for a, b in zip(before, est.weights_))  # the input model untouched
    # the first BN layer's statistics are those of its input over the site's images
    body = est._trainer().body
    stem = next(lay for lay in body.layers if isinstance(lay, keras.layers.BatchNormalization))
    x = np.stack([est._prepare(est._load(im, i), i) for i, im in enumerate(site)]).astype(np.float32)
    t = keras.ops.convert_to_numpy(keras.Model(body.inputs, stem.input)(keras_preprocess(x, est._backbone.preprocess)))
    t = t.reshape(-1, t.shape[-1]).astype(np.float64)
    i = names.index(f"{stem.name}/moving_mean")
    np.testing.assert_allclose(new.weights_[i], t.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new.weights_[i + 1], t.var(axis=0), rtol=1e-3, atol=1e-5)
    # the embedding normaliser follows the site's embeddings
    assert not np.allclose(new.embedding_mean_, est.embedding_mean_)
    assert not np.allclose(adapted.predict_proba(site), model.predict_proba(site))


@pytest.mark.slow  # trains a network
def test_adabn_file_predicts_the_same_in_a_new_process(tiny_network, tmp_path):
    _, site, _, adapted = tiny_network
    path = adapted.save(tmp_path / "adabn.featbus")  # with the adapted network's runtime forward
    np.save(tmp_path / "site.npy", np.stack(site))
    script = ("import sys, numpy as np; from featbus.model import load_model; m = load_model(sys.argv[1]); "
              "np.save(sys.argv[3], m.predict_proba(list(np.load(sys.argv[2]))))")
    run = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "site.npy"),
                          str(tmp_path / "p.npy")], capture_output=True, text=True, timeout=180,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), adapted.predict_proba(site), atol=1e-4)


# --------------------------------------------------------------------------- the out-of-domain reference

def test_the_reference_is_the_training_one_restandardised_on_the_site(busi_model, site):
    """After per-site standardisation the classifier sees the site's rows centred and scaled as the
    training rows were; the adapted reference is the training reference re-standardised the same
    way (axes, covariance and threshold kept), so the score still means 'unlike the training
    images', with the site's shift removed."""
    from featbus.compute.scaling import family_space as _space

    _, model = busi_model
    data, _ = _site_data(site)
    adapted = adapt(model, data.data)
    X = adapted.transform(data.data)
    ref, new = model.domain, adapted.domain
    mean, scale = _space(X, ref.blocks)
    np.testing.assert_allclose(new.mean_, X.mean(axis=0))  # the site's centre
    np.testing.assert_allclose(new.scale_, scale)
    for name in ("components_", "precision_", "threshold_", "residual_scale_"):
        np.testing.assert_array_equal(getattr(new, name), getattr(ref, name))
    assert not np.array_equal(model.domain.mean_, new.mean_)  # the input model untouched
    record = adapted.manifest["adaptation"]
    before, after = record["out_of_domain_before"], record["out_of_domain_after"]
    np.testing.assert_allclose(before["median"], np.median(ref.transform(X)[:, 0]))
    np.testing.assert_allclose(after["median"], np.median(new.transform(X)[:, 0]))
    assert after["median"] < before["median"] and after["unlike_training"] <= before["unlike_training"]
    assert "re-standardised on the" in record["domain"]
    assert adapted.manifest["domain"]["adapted"]["n_images"] == len(X)
    assert "note: out-of-domain reference re-standardised on the" in adapted.describe()  # featbus inspect
    assert sum("out-of-domain reference" in x for x in adapt(adapted, data.data).manifest["notes"]) == 1
    assert adapted.manifest["domain"]["threshold"] == model.manifest["domain"]["threshold"]
    table = adapted.predict_table(data.data)
    np.testing.assert_allclose(table["out_of_domain"], new.transform(X)[:, 0])
    # method="none": the classifier sees the features as in training, so does the reference
    kept = adapt(model, data.data, method="none")
    assert kept.domain.mean_ is not ref.mean_ and np.array_equal(kept.domain.mean_, ref.mean_)
    assert "kept as trained" in kept.manifest["adaptation"]["domain"]
    assert "out_of_domain_after" not in kept.manifest["adaptation"]


@pytest.fixture(scope="module")
def mammograms():
    from conftest import MIAS

    if not (MIAS / "Info.txt").is_file():
        pytest.skip(f"mini-MIAS data not found at {MIAS}")
    return [str(p) for p in sorted(MIAS.glob("mdb*.pgm"))[:12]]


def test_another_modality_is_refused_unless_forced(busi_model, mammograms):
    """Mammograms given to an ultrasound model are not the kind of image it learnt from: adapt refuses
    them in one line by the start-up's one rule (the same message as ``featbus adapt``); force=True
    adapts and records how many the rule called another kind."""
    from featbus.cli._common import CLIError
    from featbus.cli._startup import check_kind
    from featbus.io import load_item

    _, model = busi_model
    with pytest.raises(ValueError, match=r"^\d+ of the 12 images are not the kind of image the model learnt from"
                                         r".*--force, force=True, adapts anyway") as err:
        adapt(model, mammograms)
    assert "\n" not in str(err.value)
    with pytest.raises(CLIError) as said:  # one rule, read from the look, one message
        check_kind(model, [load_item(p) for p in mammograms], force=False)
    assert str(said.value) == str(err.value)
    forced = adapt(model, mammograms, force=True)
    before = forced.manifest["adaptation"]["out_of_domain_before"]
    assert before["forced"] and before["other_kind"] * 2 > before["n"] == 12


def test_command_end_to_end_train_adapt_predict_in_a_new_process(tmp_path, busi_model, site, mammograms, capsys):
    """featbus train (intensity + LBP -> logistic regression, 40 BUSI images), featbus adapt on
    about 40 BUS-BRA images, then featbus predict in another process: the same probabilities and
    out_of_domain scores as the adapted model in this one (to 1e-6: the CSV's six decimals)."""
    import pandas as pd

    if not BUSI.is_dir():
        pytest.skip(f"BUSI data not found at {BUSI}")
    busi = tmp_path / "busi"
    for cls, k in (("benign", 16), ("malignant", 12), ("normal", 12)):
        (busi / cls).mkdir(parents=True)
        for image in sorted(p for p in (BUSI / cls).glob("*.png") if "_mask" not in p.name)[:k]:
            shutil.copy(image, busi / cls / image.name)
    model, out = tmp_path / "m.featbus", tmp_path / "adapted.featbus"
    assert main(["train", str(busi), "-f", "intensity,lbp", "-c", "logreg", "--n-bootstrap", "0", "-o", str(model),
                 "-q"]) == 0
    capsys.readouterr()
    assert main(["adapt", str(model), str(site), "-o", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "out of domain before adapting:" in printed and "out of domain after adapting:" in printed
    assert "re-standardised on the" in printed
    # mammograms: one line, exit 2, nothing written; --force adapts. (The 90-image model's reference:
    # one fitted on these 40 images is too loose to place anything far; its threshold is the 0.99
    # quantile of 40 cross-fitted distances.)
    bad = tmp_path / "mias.featbus"
    assert main(["adapt", str(busi_model[0]), *mammograms, "-o", str(bad), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(stderr_lines(err)) == 1 and "not the kind of image the model learnt from" in err and "--force" in err
    assert not bad.exists()
    assert main(["adapt", str(busi_model[0]), *mammograms, "-o", str(bad), "--force", "-q"]) == 0
    assert "(forced: another kind of image?)" in capsys.readouterr().out
    # the adapted file in a new process predicts what it predicts here
    paths = sorted(str(p) for p in site.rglob("*.png"))
    csv = tmp_path / "pred.csv"
    run = subprocess.run([sys.executable, "-m", "featbus", "predict", str(out), *paths, "-o", str(csv), "-q"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr[-2000:]
    got = pd.read_csv(csv)
    here = load_model(out).predict_table(paths)
    for column in ("p_benign", "p_malignant", "p_normal", "out_of_domain"):
        np.testing.assert_allclose(got[column], here[column], atol=1e-6)
    assert got["predicted"].tolist() == here["predicted"].tolist()
    assert got["unlike_training"].tolist() == here["unlike_training"].tolist()


def test_a_recalibration_never_turns_the_scores_round():
    # labels of a few patients can fit a sigmoid of the other sign; the refit keeps the learnt ranking
    from scipy.stats import spearmanr
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression

    from featbus.workflows.adaptation import _refit_platt

    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 3))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=80) > 0, "malignant", "benign")
    head = CalibratedClassifierCV(LogisticRegression(), method="sigmoid", cv=3).fit(X, y)
    p0 = head.predict_proba(X)[:, 1]
    assert _refit_platt(head, X[:20], np.where(y[:20] == "malignant", "benign", "malignant"))  # reversed
    assert spearmanr(p0, head.predict_proba(X)[:, 1]).correlation > 0.99
    assert _refit_platt(head, X[20:], y[20:])  # labels that agree still move the calibration
    assert not np.allclose(p0, head.predict_proba(X)[:, 1])
