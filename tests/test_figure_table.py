"""The one figure table (featbus.evaluation.figures): each row against a value counted by hand, its
zero_division, the names it knows, and every judge's figures equal to the table's on the same
predictions (validation, per-site figures, leave-one-site-out, the cross-validation report, two
decisions, adaptation's site figures). Exact equality where the same integers are divided; 1e-12
where a judge computes through another float path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from featbus.evaluation.figures import FIGURES, estimate, figures, get_figure, get_figure_names
from featbus.metrics import OperatingPoint, Predictions, bootstrap, rank_auc

CLASSES = np.array(["benign", "malignant", "normal"], dtype=object)


def _view(y_true, y_pred, scores=None, positive="malignant", rule=None, groups=None, classes=CLASSES):
    return Predictions(y_true=np.asarray(y_true, dtype=object), y_pred=np.asarray(y_pred, dtype=object),
                       scores=None if scores is None else np.asarray(scores, dtype=float), classes=classes,
                       class_names=[str(c) for c in classes], groups=groups, rule=rule, positive=positive)


# a small example counted by hand: 4 benign, 3 malignant, 1 normal
Y = ["benign"] * 4 + ["malignant"] * 3 + ["normal"]
D = ["benign", "benign", "malignant", "normal", "malignant", "malignant", "benign", "normal"]
P = np.array([[.8, .1, .1], [.6, .3, .1], [.3, .6, .1], [.2, .2, .6],
              [.1, .8, .1], [.2, .7, .1], [.5, .4, .1], [.1, .1, .8]])


def test_each_row_against_a_value_counted_by_hand():
    v = figures(_view(Y, D, P), ["accuracy", "accuracy[benign]", "balanced_accuracy", "sensitivity", "specificity",
                                 "precision", "f1", "called[normal]", "lesions_called_normal",
                                 "normals_called_normal", "trivial_accuracy", "auc", "brier", "ece",
                                 "sensitivity[macro]", "f1[macro]"])
    assert v["accuracy"] == 5 / 8  # b, b, m, m, n right
    assert v["accuracy[benign]"] == 5 / 8  # one against the rest: 2 benign called benign + 3 others not
    assert v["sensitivity"] == 2 / 3 and v["specificity"] == 4 / 5  # malignant: 2 of 3; others: 4 of 5 not
    assert v["precision"] == 2 / 3 and v["f1"] == pytest.approx(2 * 2 / (3 + 3), abs=1e-15)
    assert v["balanced_accuracy"] == pytest.approx((2 / 4 + 2 / 3 + 1) / 3, abs=1e-15)
    assert v["sensitivity[macro]"] == v["balanced_accuracy"]
    assert v["called[normal]"] == 2 / 8
    assert v["lesions_called_normal"] == 1 / 7 and v["normals_called_normal"] == 1.0
    assert v["trivial_accuracy"] == 4 / 8
    pos = np.array([y == "malignant" for y in Y])
    assert v["auc"] == rank_auc(pos, P[:, 1])
    assert v["brier"] == pytest.approx(np.mean((P[:, 1] - pos) ** 2), abs=1e-15)
    f1s = [2 * 2 / (4 + 3), 2 * 2 / (3 + 3), 2 * 1 / (1 + 2)]
    assert v["f1[macro]"] == pytest.approx(np.mean(f1s), abs=1e-15)
    assert 0 <= v["ece"] <= 1


def test_an_undefined_ratio_is_the_rows_zero_division():
    # no malignant image, and normal never decided
    v = figures(_view(["benign", "benign", "normal"], ["benign", "malignant", "benign"]),
                ["sensitivity", "precision[normal]", "f1", "specificity", "lesions_called_normal"])
    assert all(FIGURES[n].zero_division != FIGURES[n].zero_division for n in ("sensitivity", "f1"))
    assert math.isnan(v["sensitivity"]) and math.isnan(v["f1"])
    # a class never decided has precision 0 (scikit-learn's default), so a macro mean cannot rise by leaving it out
    assert FIGURES["precision"].zero_division == 0.0 and v["precision[normal]"] == 0.0
    assert v["specificity"] == 2 / 3 and v["lesions_called_normal"] == 0.0
    # a mean over classes leaves the undefined ones out
    m = figures(_view(["benign", "benign"], ["benign", "malignant"]), ["sensitivity[macro]", "precision[macro]"])
    assert m["sensitivity[macro]"] == 0.5  # benign 1/2; malignant and normal have no image: undefined, left out
    assert m["precision[macro]"] == pytest.approx(1 / 3)  # benign 1/1, malignant 0/1, normal never decided: 0


def test_names_are_checked_with_a_suggestion():
    names = get_figure_names()
    assert names == sorted(names) and {"auc", "sensitivity", "specificity", "ece", "trivial_accuracy",
                                       "lesions_called_normal", "normals_called_normal"} <= set(names)
    for row in FIGURES.values():
        assert row.label and row.description and row.needs in ("labels", "decisions", "scores")
    with pytest.raises(ValueError, match="did you mean 'specificity'"):
        get_figure("specifity")
    with pytest.raises(ValueError, match="not one of the classes"):
        figures(_view(Y, D, P), ["sensitivity[cancer]"])
    with pytest.raises(ValueError, match="needs scores"):
        figures(_view(Y, D), ["auc"])
    with pytest.raises(ValueError, match="is not of one class"):
        figures(_view(Y, D, P), ["trivial_accuracy[benign]"])


def test_decisions_come_from_the_views_rule():
    point = OperatingPoint("malignant", 0.35)
    view = _view(Y, D, P, rule=point.rule(CLASSES))
    decided = point.decide(P, CLASSES)
    is_pos = np.array(Y) == "malignant"
    v = figures(view, ["sensitivity", "specificity"])
    assert v["sensitivity"] == np.mean(decided[is_pos] == "malignant")
    assert v["specificity"] == np.mean(decided[~is_pos] != "malignant")
    other = figures(_view(Y, D, P), ["sensitivity@low"], points={"low": OperatingPoint("malignant", 0.05)})
    assert other["sensitivity@low"] == 1.0


def test_estimate_is_the_one_bootstrap():
    rng = np.random.RandomState(0)
    y = rng.choice(CLASSES[:2], 60)
    p = np.clip(rng.uniform(size=60) + 0.3 * (y == "malignant"), 0, 1)
    scores = np.column_stack([1 - p, p, np.zeros(60)])
    view = _view(y, CLASSES[(p >= 0.5).astype(int)], scores, groups=np.arange(60) // 2)
    values, ci = estimate(view, ["auc", "sensitivity"], n_bootstrap=200, random_state=3)
    pos = y == "malignant"
    _, ref = bootstrap(lambda i: {"auc": rank_auc(pos[i], p[i]), "sens": np.mean(p[i][pos[i]] >= 0.5)},
                       np.arange(60), groups=np.arange(60) // 2, n_bootstrap=200, random_state=3)
    assert ci["auc"] == ref["auc"] and ci["sensitivity"] == ref["sens"]
    assert values["auc"] == rank_auc(pos, p)


# --------------------------------------------------------------------------- every judge equals the table

def _random_predictions(n=80, seed=0, classes=CLASSES):
    rng = np.random.RandomState(seed)
    y = rng.choice(classes, n, p=[0.5, 0.35, 0.15][:len(classes)] / np.sum([0.5, 0.35, 0.15][:len(classes)]))
    P = rng.dirichlet(np.ones(len(classes)), n) + 0.8 * (y[:, None] == np.asarray(classes)[None, :])
    return y, P / P.sum(1, keepdims=True)


def test_validation_figures_are_the_tables():
    from featbus.evaluation.validation import ExternalValidation

    y, P = _random_predictions()
    groups = np.arange(y.size) // 2
    point = OperatingPoint("malignant", 0.3)
    r = ExternalValidation.from_predictions(y, P, classes=CLASSES, groups=groups, operating_point=point,
                                            n_bootstrap=100, random_state=1)
    view = _view(y, point.decide(P, CLASSES), P, rule=point.rule(CLASSES), groups=groups)
    names = {"accuracy": "accuracy", "auc": "auc", "sensitivity": "sensitivity", "specificity": "specificity",
             "ece": "ece", "brier": "brier", "macro_f1": "f1[macro]", "recall[0]": "sensitivity[benign]",
             "precision[2]": "precision[normal]", "trivial_accuracy": "trivial_accuracy",
             "sensitivity_at_threshold": "sensitivity@chosen"}
    values, ci = estimate(view, list(names.values()), n_bootstrap=100, random_state=1, points={"chosen": r.chosen})
    for key, name in names.items():
        assert r.figures[key] == values[name] and r.intervals[key] == tuple(ci[name]), key
    assert r.sanity.accuracy == r.figures["accuracy"] and r.sanity.trivial_accuracy == r.figures["trivial_accuracy"]


def test_two_decision_validation_figures_are_the_tables():
    from featbus.evaluation.validation import ExternalValidation

    y, P = _random_predictions(seed=2)
    presence = OperatingPoint("lesion", 0.5, chosen_on="set")
    point = OperatingPoint("malignant", 0.4, absent="normal", presence=presence)
    r = ExternalValidation.from_predictions(y, P, classes=CLASSES, operating_point=point, n_bootstrap=0)
    decided = point.decide(P, CLASSES)
    v = figures(_view(y, decided, P, rule=point.rule(CLASSES)), ["sensitivity", "specificity",
                                                                 "lesions_called_normal", "normals_called_normal"])
    assert r.figures["sensitivity"] == v["sensitivity"] and r.figures["specificity"] == v["specificity"]
    lesion = y != "normal"
    assert v["lesions_called_normal"] == np.mean(decided[lesion] == "normal")
    assert v["normals_called_normal"] == np.mean(decided[~lesion] == "normal")


def test_site_figures_are_the_tables():
    from featbus.evaluation.sites import _site_figures

    y, P = _random_predictions(seed=3)
    view = _view(y, CLASSES[P.argmax(1)], P, groups=np.arange(y.size) // 4)
    got = _site_figures(view, 100, 0)
    values, ci = estimate(view, ["auc", "sensitivity", "specificity", "brier"], n_bootstrap=100, random_state=0)
    assert got == {k: (values[k], *ci[k]) for k in got}


def test_leave_one_site_out_figures_are_the_tables():
    from sklearn.linear_model import LogisticRegression

    from featbus.evaluation.sites import leave_one_site_out

    rng = np.random.RandomState(0)
    y = np.tile(["benign", "malignant"], 30)
    X = rng.normal(size=(60, 3)) + (y == "malignant")[:, None] * 1.5
    sites = np.repeat(["a", "b", "c"], 20)
    result = leave_one_site_out(LogisticRegression(), X, y, sites, n_bootstrap=0)
    rep = result.report
    for s in result.sites:
        te = sites == s["site"]
        view = Predictions(y_true=rep.y_true[te], y_pred=rep.y_pred[te], scores=rep.scores[te], classes=rep.classes,
                           class_names=list(rep.class_names), groups=None, positive="malignant")
        v = figures(view, ["accuracy", "balanced_accuracy", "auc", "sensitivity"])
        assert {k: s[k]["value"] for k in v} == v


def test_cross_validation_report_figures_are_the_tables():
    from sklearn.linear_model import LogisticRegression

    from featbus.evaluation import evaluate

    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(60, 2)) + 1.5 * np.eye(3)[y, :2]
    rep = evaluate(LogisticRegression(), X, y, cv="stratified", n_splits=3, n_bootstrap=50, progress=False)
    view = Predictions(y_true=rep.y_true, y_pred=rep.y_pred, scores=rep.scores, classes=rep.classes,
                       class_names=list(rep.class_names), groups=None)
    names = [f"{m}[{c}]" for m in ("accuracy", "sensitivity", "specificity", "precision", "f1", "auc")
             for c in (0, 1, 2, "macro")]
    values, ci = estimate(view, names, rep.groups, 50, random_state=rep.random_state)
    for name in names:
        m, c = name[:-1].split("[")
        label = "macro" if c == "macro" else int(c)
        assert rep.value(m, label) == values[name] and rep.interval(m, label) == tuple(ci[name]), name
    assert rep.value("accuracy") == np.mean(rep.y_pred == rep.y_true)


def test_adaptations_site_figures_are_the_tables():
    from featbus.workflows.adaptation import _site_figures_at

    rng = np.random.RandomState(4)
    y = rng.choice(CLASSES, 50)
    p_lesion, given = rng.uniform(size=50), rng.uniform(size=50)
    got = _site_figures_at(p_lesion, given, y, 0.4, 0.6, absent="normal", positive="malignant")
    lesion, mal = y != "normal", y == "malignant"
    hand = {"lesions_called_lesion": (p_lesion >= 0.4)[lesion], "normals_called_normal": (p_lesion < 0.4)[~lesion],
            "malignant_sensitivity": (given >= 0.6)[mal], "benign_specificity": (given < 0.6)[lesion & ~mal],
            "malignant_called_malignant": ((p_lesion >= 0.4) & (given >= 0.6))[mal]}
    for key, hits in hand.items():
        assert got[key] == (np.mean(hits), int(hits.sum()), hits.size), key


# --------------------------------------------------------------------------- images left out, the promise

def test_images_left_out_are_left_out_of_every_figure():
    """40 images of elsewhere and 1 the classifier trained on: every figure and the confusion matrix on the 40."""
    from featbus.evaluation.validation import ExternalValidation

    y, P = _random_predictions(n=41, seed=5, classes=CLASSES[:2])
    P = np.column_stack([P, np.zeros(41)])
    seen = np.zeros(41, bool)
    seen[7] = True
    r = ExternalValidation.from_predictions(y, P, classes=CLASSES, seen_images=seen, n_bootstrap=100,
                                            paths=[f"img{i}.png" for i in range(41)])
    alone = ExternalValidation.from_predictions(y[~seen], P[~seen], classes=CLASSES, n_bootstrap=100,
                                                groups=np.arange(41)[~seen])
    assert r.figures == alone.figures and r.intervals == alone.intervals
    assert r.confusion_matrix().sum() == 40 and r.threshold == alone.threshold
    assert r.reliability == alone.reliability and r.sanity.accuracy == alone.figures["accuracy"]
    text = r.summary()
    assert "every figure below is on the 40 images no part of the model trained on" in text
    assert "left out: img7.png" in text and "(seen:" not in text
    assert r.to_dict()["judged"] == {"n_images": 40, "n_groups": 40, "counts": r.counts(~seen),
                                     "images": "the 40 images no part of the model trained on",
                                     "left_out": ["img7.png"]}


def test_a_model_much_worse_than_its_promise_is_not_useful():
    from featbus.evaluation.validation import ExternalValidation

    y, P = _random_predictions(n=200, seed=6, classes=CLASSES[:2])
    P = np.column_stack([P, np.zeros(200)])
    kw = dict(classes=CLASSES, n_bootstrap=200, random_state=0)
    plain = ExternalValidation.from_predictions(y, P, **kw)
    assert plain.sanity.verdict == "useful"
    lo, hi = plain.intervals["auc"]
    promise = {"auc": round(hi + 0.02, 3), "ci": None, "judges": True, "caveat": None, "card": False,
               "where": "its own cross-validation", "what": "its malignant-vs-rest AUC"}
    worse = ExternalValidation.from_predictions(y, P, promise=promise, **kw)
    assert worse.much_worse() and worse.sanity.verdict == "limited"
    assert worse.sanity.reasons[0].startswith("it does much worse here than it promises: malignant AUC")
    assert "does much worse on these images than in its own cross-validation" in worse.summary()
    held = ExternalValidation.from_predictions(y, P, promise={**promise, "auc": round((lo + hi) / 2, 3)}, **kw)
    assert not held.much_worse() and held.sanity.verdict == "useful"
    assert "its 95 % interval reaches it: no sign of a drop" in held.summary()
    other = ExternalValidation.from_predictions(y, P, promise={**promise, "judges": False}, **kw)
    assert other.much_worse() and other.sanity.verdict == "useful"  # another figure (a macro AUC): said, not judged
