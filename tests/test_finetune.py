"""FineTunedCNN: learning, no leaks, determinism, pickling in a new process, TTA, the engine key.

Tolerances: two fits with the same ``random_state`` in one process run the same operations in
the same order, but oneDNN may pick kernels whose summation order varies; weights are compared
with ``rtol=1e-4, atol=1e-5`` and embeddings of a pickled copy (another process, same machine)
with ``atol=1e-4`` (float32 activations of magnitude ~1).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import get_scorer  # noqa: E402
from sklearn.model_selection import cross_validate  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from featbus import make_phantoms  # noqa: E402
from featbus.compute.extraction import setting_key  # noqa: E402
from featbus.features.finetune import FineTunedCNN, fine_tuned_features  # noqa: E402
from featbus.networks.augmentation import ImageAugmenter  # noqa: E402

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

FAST = dict(input_size=48, batch_size=8, warmup_epochs=1, epochs=2, progress=False, random_state=0)
#: One fine-tuning epoch and no head warm-up: the tests of a fit per fold (one trace per phase).
ONE_EPOCH = {**FAST, "warmup_epochs": 0, "epochs": 1}


@pytest.fixture(scope="module")
def phantoms():
    d = make_phantoms(60, image_size=64, random_state=3)
    keep = np.asarray(d.target) != 2  # benign vs malignant phantoms
    return [x for x, k in zip(d.data, keep) if k], np.asarray(d.target)[keep]


@pytest.fixture(scope="module")
def fitted(phantoms):
    X, y = phantoms
    return FineTunedCNN(validation_fraction=0, **FAST).fit(X, y)


@pytest.mark.compiled  # eight epochs: faster compiled (conftest)
def test_fine_tuning_separates_phantom_classes(phantoms):
    X, y = phantoms
    train, test = np.arange(len(y)) % 3 != 0, np.arange(len(y)) % 3 == 0
    Xtr, Xte = [x for x, t in zip(X, train) if t], [x for x, t in zip(X, test) if t]
    params = {**FAST, "input_size": 64, "warmup_epochs": 2, "epochs": 6, "learning_rate": 3e-4,
              "augment": "flip", "validation_fraction": 0}
    ft = FineTunedCNN(**params).fit(Xtr, y[train])
    # training changed the backbone itself, not only the head
    start = FineTunedCNN(**{**params, "epochs": 0, "warmup_epochs": 0}).fit(Xtr, y[train])
    assert any(not np.allclose(a, b) for a, b in zip(ft.weights_[:-2], start.weights_[:-2]))
    losses = [e["loss"] for e in ft.history_["epochs"]]
    assert losses[-1] < losses[0]
    assert ft.history_["stopped"] == "epochs" and len(ft.history_["epochs"]) == 8
    # its own head fits the training phantoms and, like its embeddings with a linear model,
    # beats chance (0.5) clearly on held-out ones (observed 0.79-0.93 over three seeds)
    assert np.mean(ft.predict(Xtr) == y[train]) >= 0.85
    assert np.mean(ft.predict(Xte) == y[test]) >= 0.7
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(ft.transform(Xtr), y[train])
    assert clf.score(ft.transform(Xte), y[test]) >= 0.7


def test_same_random_state_same_network(phantoms, fitted):
    X, y = phantoms
    again = FineTunedCNN(validation_fraction=0, **FAST).fit(X, y)
    for a, b in zip(fitted.weights_, again.weights_):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    other = FineTunedCNN(validation_fraction=0, **{**FAST, "random_state": 1}).fit(X, y)
    assert not np.allclose(fitted.weights_[-2], other.weights_[-2])


def test_each_fit_has_its_own_extraction_key(phantoms, fitted):
    X, y = phantoms
    other = FineTunedCNN(validation_fraction=0, **FAST).fit(X[:24], y[:24])
    assert other.weights_hash_ != fitted.weights_hash_
    assert setting_key(other) != setting_key(fitted)
    assert not np.allclose(other.transform(X[:4]), fitted.transform(X[:4]))


def test_pickle_round_trip_in_a_new_process(tmp_path, phantoms, fitted):
    X, _ = phantoms
    model = tmp_path / "ft.pkl"
    images = tmp_path / "x.npz"
    model.write_bytes(pickle.dumps(fitted))
    np.savez(images, *[r.image for r in X[:6]])
    out = tmp_path / "out.npz"
    code = textwrap.dedent(f"""
        import os, pickle, numpy as np
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        est = pickle.loads(open({str(model)!r}, "rb").read())
        with np.load({str(images)!r}) as f:
            X = [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]
        np.savez({str(out)!r}, p=est.predict_proba(X), e=est.transform(X))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
    with np.load(out) as f:
        np.testing.assert_allclose(f["e"], fitted.transform([r.image for r in X[:6]]), atol=1e-4)
        np.testing.assert_allclose(f["p"], fitted.predict_proba([r.image for r in X[:6]]), atol=1e-4)


def test_tta_averages_an_image_and_its_mirror(phantoms, fitted):
    X, y = phantoms
    tta = FineTunedCNN(**{**fitted.get_params(), "tta": True})
    tta.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    img = X[0].image
    a = tta.transform([img, np.ascontiguousarray(img[:, ::-1])])
    np.testing.assert_allclose(a[0], a[1], atol=1e-4)
    plain = fitted.transform([img, np.ascontiguousarray(img[:, ::-1])])
    np.testing.assert_allclose(a[0], plain.mean(axis=0), atol=1e-4)
    assert setting_key(tta) != setting_key(fitted)


class _RecordingAugmenter(ImageAugmenter):
    """Augmenter recording the pixel sums of the network-sized images it augments."""

    seen: list = []

    def augment01(self, image01, mask=None, *, rng):
        type(self).seen.append(round(float(image01.sum()), 2))
        return super().augment01(image01, mask, rng=rng)


def test_inner_augmentation_never_touches_validation_images(phantoms):
    X, y = phantoms
    _RecordingAugmenter.seen = []
    ft = FineTunedCNN(validation_fraction=0.25, augment=_RecordingAugmenter(), **FAST).fit(X, y)
    prepared = ft._prepare_all(X) / 255.0
    train, val = ft._split(X, np.searchsorted(ft.classes_, y), None, 0)
    assert ft.history_["n_validation"] == len(val) > 0
    val_sums = {round(float(prepared[i].sum()), 2) for i in val}
    train_sums = {round(float(prepared[i].sum()), 2) for i in train}
    assert set(_RecordingAugmenter.seen) <= train_sums
    assert not (set(_RecordingAugmenter.seen) & (val_sums - train_sums))
    assert len(_RecordingAugmenter.seen) == len(train) * len(ft.history_["epochs"])
    assert "val_loss" in ft.history_["epochs"][0]


def test_inner_split_keeps_duplicate_groups_together(phantoms):
    X, y = phantoms
    groups = np.arange(len(y)) // 2  # pairs
    ft = FineTunedCNN(validation_fraction=0.25, **FAST)
    ft._check_params()
    train, val = ft._split(X, np.searchsorted(np.unique(y), y), groups, 0)
    assert not set(groups[train]) & set(groups[val])


def test_max_time_stops_and_keeps_a_network(phantoms):
    X, y = phantoms
    with pytest.warns(UserWarning, match="max_time"):
        ft = FineTunedCNN(validation_fraction=0, max_time=1e-3, **{**FAST, "epochs": 50}).fit(X, y)
    assert ft.history_["stopped"] == "max_time" and len(ft.history_["epochs"]) == 1
    assert ft.predict_proba(X[:2]).shape == (2, 2)


def test_in_cross_validation_each_fold_fine_tunes(phantoms):
    X, y = phantoms
    pipe = Pipeline([("cnn", FineTunedCNN(validation_fraction=0, **ONE_EPOCH)),
                     ("clf", LogisticRegression(max_iter=2000))])
    # one fit per fold serves both: the pipeline's accuracy (the network as a transformer) and the
    # network's own probabilities scored as a classifier (roc_auc) on the same held-out fold
    roc_auc = get_scorer("roc_auc")
    out = cross_validate(pipe, X, y, cv=2, return_estimator=True,
                         scoring={"acc": "accuracy", "own": lambda est, X_, y_: roc_auc(est["cnn"], X_, y_)})
    scores, own = out["test_acc"], out["test_own"]
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    assert own.shape == (2,) and np.all((own >= 0) & (own <= 1))
    assert all(hasattr(est["cnn"], "weights_") for est in out["estimator"])  # each fold fine-tuned its own
    assert out["estimator"][0]["cnn"].weights_hash_ != out["estimator"][1]["cnn"].weights_hash_


def test_function_twin_and_parameter_errors(phantoms):
    X, y = phantoms
    assert fine_tuned_features(X[:12], y[:12], **{**FAST, "epochs": 0, "validation_fraction": 0}).shape == (12, 192)
    with pytest.raises(ValueError, match="learning_rate"):
        FineTunedCNN(learning_rate=-1).fit(X, y)
    with pytest.raises(ValueError, match="augment"):
        FineTunedCNN(augment="strong").fit(X, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        FineTunedCNN(**FAST).fit(X[:3], [0, 0, 0])
    with pytest.raises(ValueError, match="trainable_from"):
        FineTunedCNN(trainable_from="nope", validation_fraction=0, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="class_weight names classes"):
        FineTunedCNN(class_weight={7: 2.0}, validation_fraction=0, **FAST).fit(X, y)


def test_frozen_features_flip_tta():
    from featbus import DeepFeatures

    img = np.random.default_rng(0).integers(0, 256, (40, 52), dtype=np.uint8)
    pair = [img, np.ascontiguousarray(img[:, ::-1])]
    plain = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32, progress=False).fit(pair)
    tta = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32, progress=False, tta=True).fit(pair)
    a, p = tta.transform(pair), plain.transform(pair)
    np.testing.assert_allclose(a[0], a[1], atol=1e-4)
    np.testing.assert_allclose(a[0], p.mean(axis=0), atol=1e-4)
    assert setting_key(tta) != setting_key(plain)


def test_inside_featbus_evaluate(phantoms):
    from featbus.evaluation import evaluate

    X, y = phantoms
    report = evaluate(FineTunedCNN(validation_fraction=0, **ONE_EPOCH), X, y, n_splits=2, n_bootstrap=0,
                      progress=False)
    assert report.score_kind == "probability" and report.scores.shape == (len(y), 2)
    assert 0 <= report.value("accuracy") <= 1


@pytest.fixture(scope="module")
def held_out_split(phantoms):
    """One fine-tuning with a validation split, patience=None (the default recipe's setting),
    balanced batches and the scanner-shift augmentation, three epochs after the warm-up: shared by
    the patience and per-epoch metrics tests (one fit, one trace). Read it, never change it.
    Fitted with every UserWarning an error: patience=None warns of nothing."""
    import warnings

    X, y = phantoms
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        return FineTunedCNN(validation_fraction=0.25, patience=None, balanced_batches=True,
                            augment="scanner-shift", **{**FAST, "epochs": 3}).fit(X, y)


def test_patience_none_measures_on_the_split_and_keeps_the_last_epoch(held_out_split):
    """The default recipe's setting: the held-out images are scored every epoch but choose
    nothing; the epochs decide and the last weights are kept (no warning, nothing cut)."""
    ft = held_out_split
    h = ft.history_
    assert h["stopped"] == "epochs" and len(h["epochs"]) == 4  # 1 warm-up + 3
    assert h["best_epoch"] == 3 and "note" not in h
    assert all("val_loss" in e for e in h["epochs"])
    assert ft.validation_proba_.shape == (len(ft.validation_indices_), 2)


# ----------------------------------------------------------------------------- balanced batches and
# per-epoch train / validation metrics (issue 46)
def test_balanced_batch_indices_hold_classes_equally():
    from featbus.features.finetune import balanced_batch_indices

    labels = np.array([0] * 30 + [1] * 6 + [2] * 4)
    batches = balanced_batch_indices(labels, 9, np.random.default_rng(0))
    assert [len(b) for b in batches] == [9, 9, 9, 9, 4]  # the epoch keeps its length
    for b in batches:
        counts = np.bincount(labels[b], minlength=3)
        assert counts.max() - counts.min() <= 1
    drawn = np.concatenate(batches)
    assert np.bincount(labels[drawn]).tolist() == [14, 13, 13]
    # the small classes repeat (with replacement across cycles), the large one never does here
    assert len(set(drawn[labels[drawn] == 0].tolist())) == 14
    assert set(drawn[labels[drawn] == 2].tolist()) == {36, 37, 38, 39}
    again = balanced_batch_indices(labels, 9, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_balanced_batches_in_fine_tuning_batches(phantoms):
    _, y = phantoms
    y_idx = np.r_[np.zeros(20, int), np.ones(5, int)]  # 4 to 1
    images = np.arange(25, dtype=np.float32)[:, None, None] * np.ones((1, 8, 8), np.float32)
    w = np.ones(2, np.float32)
    for balanced in (False, True):
        ft = FineTunedCNN(balanced_batches=balanced, batch_size=6, label_smoothing=0.0, dropout=0.0, augment=None)
        out = list(ft._batches(images, y_idx, np.arange(25), w, None, 2, 4, [0, 1, 0]))
        assert sum(len(t) for _, t, _, _ in out) == 25
        per_batch = [np.bincount(t.argmax(axis=1), minlength=2) for _, t, _, _ in out]
        if balanced:
            assert all(c.max() - c.min() <= 1 for c in per_batch)
            seen = np.concatenate([x[:, 0, 0] for x, _, _, _ in out]).astype(int)
            assert len(seen) == 25 and len(set(seen[seen >= 20])) == 5 and (seen >= 20).sum() >= 12
        else:  # every image once
            assert sorted(np.concatenate([x[:, 0, 0] for x, _, _, _ in out]).tolist()) == list(range(25))


def test_confusion_metrics_match_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score

    from featbus.features.finetune import confusion_metrics

    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    p[p == 2] = 1  # a class never predicted
    counts = np.zeros((3, 3))
    np.add.at(counts, (t, p), 1)
    acc, f1 = confusion_metrics(counts)
    assert np.isclose(acc, accuracy_score(t, p)) and np.isclose(f1, f1_score(t, p, average="macro"))


def test_history_holds_train_accuracy_and_f1(phantoms, fitted, held_out_split):
    X, y = phantoms
    for e in fitted.history_["epochs"]:  # no validation split: train figures only
        assert 0 <= e["train_accuracy"] <= 1 and 0 <= e["train_f1"] <= 1 and "val_f1" not in e
        # counted over every training image of the epoch, once
        assert np.isclose(e["train_accuracy"] * fitted.history_["n_train"],
                          round(e["train_accuracy"] * fitted.history_["n_train"]))
    ft = held_out_split  # validation_fraction=0.25, patience=None, balanced batches, scanner-shift
    h = ft.history_
    assert h["balanced_batches"] is True and len(h["epochs"]) == 4  # 1 warm-up + 3
    for e in h["epochs"]:
        for key in ("train_accuracy", "train_f1", "val_accuracy", "val_f1"):
            assert 0 <= e[key] <= 1, key
    val_y = np.searchsorted(ft.classes_, y[ft.validation_indices_])
    assert np.isclose(h["epochs"][-1]["val_accuracy"], np.mean(ft.validation_proba_.argmax(axis=1) == val_y))
