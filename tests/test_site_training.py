"""Training on several sites (issue 42, item 2): the leave-one-site-out figure in the model file
(featbus.evaluation.sites.leave_one_site_out, the one path ``featbus evaluate`` and ``train_model``
share) and site balance (featbus.evaluation.sites.site_balance_weights).

Tolerances: weights and shares are sums of a few hundred floats (``rel=1e-9``); figures
compared with a direct scikit-learn computation are the same arithmetic (``abs=1e-12``).
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from featbus import combine_sites, make_phantoms
from featbus.evaluation import evaluate
from featbus.evaluation.sites import leave_one_site_out, site_balance_shares, site_balance_weights, site_cv_lines
from featbus.model import load_model
from featbus.model.format import _check_manifest_schema
from featbus.workflows.training import train_model

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)


def _three_sites():
    """Three synthetic sites of feature rows; the third has no malignant images."""
    rng = np.random.RandomState(0)
    y = np.array(["benign", "malignant"] * 30 + ["benign"] * 12 + ["normal"] * 8)
    X = rng.normal(size=(y.size, 4)) + (y == "malignant")[:, None] * 2.0 - (y == "normal")[:, None] * 2.0
    sites = np.array(["a"] * 30 + ["b"] * 30 + ["c"] * 20)
    groups = np.arange(y.size) // 2  # pairs of "views"
    return X, y, sites, groups


@pytest.fixture(scope="module")
def two_phantom_sites():
    a = make_phantoms(45, image_size=48, random_state=0)
    b = make_phantoms(24, image_size=48, weights=[0.5, 0.5, 0.0], random_state=1)
    b.target_names = b.target_names[:2]  # a site without normal images
    return combine_sites([a, b], names=["a", "b"])


# --------------------------------------------------------------------------- leave one site out


def test_leave_one_site_out_matches_a_direct_computation():
    X, y, sites, groups = _three_sites()
    result = leave_one_site_out(LogisticRegression(), X, y, sites, groups=groups, n_bootstrap=0)
    assert [s["site"] for s in result.sites] == ["a", "b", "c"]
    for entry in result.sites:
        te = sites == entry["site"]
        est = LogisticRegression().fit(X[~te], y[~te])
        pred = est.predict(X[te])
        assert entry["n_images"] == te.sum() and entry["n_train"] == (~te).sum()
        assert entry["n_groups"] == np.unique(groups[te]).size
        assert entry["accuracy"]["value"] == pytest.approx(np.mean(pred == y[te]), abs=1e-12)
        here = np.unique(y[te])
        balanced = np.mean([np.mean(pred[y[te] == c] == c) for c in here])
        assert entry["balanced_accuracy"]["value"] == pytest.approx(balanced, abs=1e-12)
        if "malignant" in here:
            p = est.predict_proba(X[te])[:, list(est.classes_).index("malignant")]
            assert entry["auc"]["value"] == pytest.approx(roc_auc_score(y[te] == "malignant", p), abs=1e-12)
            assert entry["sensitivity"]["value"] == pytest.approx(np.mean(pred[y[te] == "malignant"] == "malignant"),
                                                                  abs=1e-12)
        assert all(np.isnan(v) for v in entry["accuracy"]["ci"])  # no bootstrap: no interval


def test_classes_a_site_lacks_are_said_not_scored():
    X, y, sites, groups = _three_sites()
    result = leave_one_site_out(LogisticRegression(), X, y, sites, groups=groups, n_bootstrap=200)
    a, c = result.sites[0], result.sites[2]
    # site c: no malignant (no AUC, no sensitivity), and the other sites never saw normal
    assert c["auc"] is None and c["sensitivity"] is None
    assert any("no malignant AUC" in n for n in c["notes"])
    assert any("the other sites have no normal: its 8 such image(s) are always wrong" in n for n in c["notes"])
    # site a lacks normal, which site c taught: said, figures over its own classes
    assert any(n.startswith("no normal here: figures over its 2 classes") for n in a["notes"])
    for entry in result.sites:  # the intervals hold the point values
        for metric in ("accuracy", "balanced_accuracy", "auc", "sensitivity"):
            fig = entry[metric]
            if fig is not None:
                lo, hi = fig["ci"]
                assert lo <= fig["value"] <= hi
    lines = result.summary().splitlines()
    assert lines[0].startswith("leave one site out (LogisticRegression, trained on the other sites")
    assert "95 % intervals from 200 resamples of each site's groups" in lines[0]
    assert lines[1].startswith("  a held out (30 images; trained on b, c, 50 images): accuracy ")
    assert "AUC[malignant]" in lines[1] and "sensitivity[malignant]" in lines[1]
    assert "AUC[malignant]" not in lines[3]
    assert site_cv_lines(result.to_dict()) == lines


def test_leave_one_site_out_bad_input():
    X, y, sites, groups = _three_sites()
    with pytest.raises(ValueError, match="at least 2 sites"):
        leave_one_site_out(LogisticRegression(), X, y, np.full(y.size, "a"))
    with pytest.raises(ValueError, match="one site per image"):
        leave_one_site_out(LogisticRegression(), X, y, sites[:-1])
    one_class = np.where(sites == "a", y, "benign")
    with pytest.raises(ValueError, match="leaving site 'a' out leaves only class"):
        leave_one_site_out(LogisticRegression(), X, one_class, sites)


def test_evaluate_fit_params_are_subset_to_each_training_fold():
    X, y, sites, groups = _three_sites()
    seen = []

    def weights(train):
        seen.append(train)
        return {"sample_weight": np.ones(train.size)}

    plain = evaluate(LogisticRegression(), X, y, groups=groups, n_splits=3, n_bootstrap=0)
    called = evaluate(LogisticRegression(), X, y, groups=groups, n_splits=3, n_bootstrap=0, fit_params=weights)
    assert [t.tolist() for t in seen] == [tr.tolist() for tr, _ in plain.splits]
    np.testing.assert_array_equal(called.y_pred, plain.y_pred)  # unit weights change nothing
    with pytest.raises(ValueError, match="aligned on the samples"):
        evaluate(LogisticRegression(), X, y, groups=groups, n_splits=3, n_bootstrap=0,
                 fit_params={"sample_weight": np.ones(3)})


# --------------------------------------------------------------------------- site balance


def test_site_balance_weights_equal_sites_and_balanced_classes():
    # a large site with three classes (as BUSI) and a small one with two (as BUS-BRA)
    y = np.array(["benign"] * 400 + ["malignant"] * 200 + ["normal"] * 130 + ["benign"] * 60 + ["malignant"] * 30)
    sites = np.array(["big"] * 730 + ["small"] * 90)
    w = site_balance_weights(y, sites)
    assert w.mean() == pytest.approx(1.0, rel=1e-9) and np.all(w > 0)
    for s in ("big", "small"):
        assert w[sites == s].sum() / w.sum() == pytest.approx(0.5, rel=1e-9)
    for c in ("benign", "malignant", "normal"):
        assert w[y == c].sum() / w.sum() == pytest.approx(1 / 3, rel=1e-9)
    assert site_balance_shares(y, sites, w) == {"sites": {"big": 0.5, "small": 0.5},  # rounded to 4 decimals
                                                "classes": {"benign": 0.3333, "malignant": 0.3333, "normal": 0.3333}}
    for s in ("big", "small"):  # one weight per (site, class) cell
        for c in ("benign", "malignant"):
            assert np.ptp(w[(sites == s) & (y == c)]) == 0
    # two classes held by one site of two: both margins cannot hold; the classes stay balanced
    y2 = np.array(["a"] * 10 + ["b"] * 10 + ["c"] * 10 + ["a"] * 10)
    s2 = np.array(["x"] * 30 + ["z"] * 10)
    shares2 = site_balance_shares(y2, s2, site_balance_weights(y2, s2))
    assert all(v == pytest.approx(1 / 3, abs=1e-4) for v in shares2["classes"].values())  # 4 decimals
    assert shares2["sites"]["x"] > 0.5


def test_train_model_stores_the_site_figure_and_round_trips(two_phantom_sites, tmp_path, capsys):
    data = two_phantom_sites
    model = train_model(data, "intensity", classifier="logreg", n_bootstrap=50, n_splits=3, progress=False)
    entry = model.manifest["site_cv"]
    assert [s["site"] for s in entry["sites"]] == ["a", "b"]
    assert entry["positive"] == "malignant" and entry["n_bootstrap"] == 50
    assert model.manifest["data"]["sites"] == {
        "a": {c: int(np.sum((data.sites == "a") & (data.target_names[data.target] == c)))
              for c in ("benign", "malignant", "normal")},
        "b": {c: int(np.sum((data.sites == "b") & (data.target_names[data.target] == c)))
              for c in ("benign", "malignant")}}
    # the same figure as leave_one_site_out on the same rows: one path
    X = model.features.transform(data.data)
    y = data.target_names[data.target]
    direct = leave_one_site_out(clone(model.head), X, y, data.sites, groups=data.groups, n_bootstrap=50)
    assert entry["sites"][1]["accuracy"]["value"] == pytest.approx(direct.sites[1]["accuracy"]["value"], abs=1e-12)
    text = model.describe()
    assert "leave one site out (intensity | logreg | none" in text and "  b held out (" in text
    path = tmp_path / "two.featbus"
    model.save(path)
    back = load_model(path)
    assert back.manifest["site_cv"] == json_roundtrip(entry)
    site_lines = [line for line in text.splitlines() if "leave one site out" in line or " held out (" in line]
    assert len(site_lines) == 3 and all(line in back.describe().splitlines() for line in site_lines)
    from featbus.cli import main

    assert main(["inspect", str(path)]) == 0  # featbus inspect shows it from the manifest alone
    shown = capsys.readouterr().out.splitlines()
    assert all(line in shown for line in site_lines)
    # one site, or site_cv=False: no figure; site_cv=True with one site: an error
    only_a = make_phantoms(30, image_size=48, random_state=0)
    assert "site_cv" not in train_model(only_a, "intensity", classifier="logreg", n_bootstrap=0, n_splits=3,
                                        progress=False).manifest
    assert "site_cv" not in train_model(data, "intensity", classifier="logreg", n_bootstrap=0, n_splits=3,
                                        site_cv=False, progress=False).manifest
    with pytest.raises(ValueError, match="site_cv=True needs images from at least 2 sites"):
        train_model(only_a, "intensity", classifier="logreg", site_cv=True, progress=False)


def json_roundtrip(obj):
    import json

    from featbus.model.format import json_safe

    return json.loads(json.dumps(json_safe(obj)))


def test_a_damaged_site_figure_is_named():
    good = {"format_version": 5, "versions": {}, "classes": ["a", "b"], "recipe": {}}
    _check_manifest_schema({**good, "site_cv": None}, "m.featbus")
    for bad in ({"sites": "a"}, {"sites": [{"site": 3}]}, {"sites": [{"site": "a", "auc": {"value": "high"}}]}):
        with pytest.raises(ValueError, match="its manifest field 'site_cv' should be"):
            _check_manifest_schema({**good, "site_cv": copy.deepcopy(bad)}, "m.featbus")


def test_site_balance_weighs_the_final_fit_and_every_fold(two_phantom_sites):
    data = two_phantom_sites
    plain = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, n_splits=3, progress=False)
    weighed = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, n_splits=3, site_balance=True,
                          progress=False)
    sb = weighed.manifest["recipe"]["site_balance"]
    assert sb["sites"] == {"a": pytest.approx(0.5, abs=1e-4), "b": pytest.approx(0.5, abs=1e-4)}
    assert "site_balance" not in plain.manifest["recipe"]
    assert "site balance" in weighed.manifest["site_cv"]["name"]
    # the final fit is the classifier's weighted fit
    X = plain.features.transform(data.data)
    y = data.target_names[data.target]
    w = site_balance_weights(y, data.sites)
    direct = clone(plain.head).fit(X, y, classifier__sample_weight=w)
    np.testing.assert_allclose(weighed.head.predict_proba(X), direct.predict_proba(X), atol=1e-10)
    assert np.abs(weighed.head.predict_proba(X) - plain.head.predict_proba(X)).max() > 1e-3


def test_site_balance_bad_input(two_phantom_sites):
    data = two_phantom_sites
    with pytest.raises(ValueError, match="site_balance needs images from at least 2 sites"):
        train_model(make_phantoms(20, image_size=48), "intensity", classifier="logreg", site_balance=True,
                    progress=False)
    with pytest.raises(ValueError, match="leave balance unset"):
        train_model(data, "intensity", classifier="logreg", site_balance=True, balance="class-weight",
                    progress=False)
    with pytest.raises(ValueError, match="classifier whose fit takes sample_weight; 'knn'"):
        train_model(data, "intensity", classifier="knn", site_balance=True, progress=False)
    with pytest.raises(ValueError, match="FineTunedCNN"):
        train_model(data, network=object(), site_balance=True, progress=False)
    with pytest.raises(ValueError, match="site_cv must be True, False or 'auto'"):
        train_model(data, "intensity", site_cv="yes", progress=False)


# --------------------------------------------------------------------------- a network, site_cv=True


def test_a_network_gets_its_site_figure_only_when_asked(two_phantom_sites):
    pytest.importorskip("tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from featbus.features.finetune import FineTunedCNN

    net = FineTunedCNN(weights=None, input_size=32, epochs=1, warmup_epochs=0, batch_size=16, validation_fraction=0,
                       progress=False, random_state=0)
    auto = train_model(two_phantom_sites, network=net, progress=False)
    assert "site_cv" not in auto.manifest  # "auto": one fine-tuning per site is opt-in
    asked = train_model(two_phantom_sites, network=net, site_cv=True, n_bootstrap=20, progress=False)
    entry = asked.manifest["site_cv"]
    assert [s["site"] for s in entry["sites"]] == ["a", "b"]
    assert entry["sites"][1]["auc"] is not None and 0 <= entry["sites"][1]["auc"]["value"] <= 1
    assert "leave one site out (FineTunedCNN" in asked.describe()
