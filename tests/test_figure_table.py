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
from featbus.metrics import OperatingPoint, Predictions, bootstrap, format_interval, rank_auc, share_interval

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
    assert ci["auc"] == ref["auc"]
    # a share's interval is exact, not the bootstrap's: Clopper-Pearson over the patients of its images
    found, trials = int(np.sum(p[pos] >= 0.5)), np.unique((np.arange(60) // 2)[pos]).size
    assert ci["sensitivity"] == share_interval(found, int(pos.sum()), trials=trials)
    assert values["auc"] == rank_auc(pos, p)


@pytest.mark.parametrize("count, n", [(1, 700), (0, 700), (11, 11), (700, 700)])
def test_a_share_s_interval_is_never_a_point(count, n):
    """1 of 700 lesions called normal, or 11 cancers of 11 found: a percentile bootstrap printed
    [0.00, 0.00] and [1.00, 1.00]; the exact interval has width, and prints with it."""
    y = np.array(["malignant"] * n + ["benign"] * 20)
    called = np.array(["malignant"] * count + ["benign"] * (n - count) + ["benign"] * 20)
    view = _view(y, called, None)
    values, ci = estimate(view, ["sensitivity"], n_bootstrap=50)
    lo, hi = ci["sensitivity"]
    assert lo <= values["sensitivity"] <= hi and hi - lo > 0.004
    text = format_interval(values["sensitivity"], ci["sensitivity"])
    assert "[0.00, 0.00]" not in text and "[1.00, 1.00]" not in text, text


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


# --------------------------------------------------------------------------- keys, not strings: any label works

ODD = np.array(["a@b", "x]y", "BI-RADS 4(a)", "café"], dtype=object)


def test_a_key_holds_any_label_and_the_values_are_counted_by_hand():
    from featbus.evaluation.figures import MACRO, FigureKey

    # 2 of each class; one "a@b" called "x]y", one "café" called "BI-RADS 4(a)"
    y = ["a@b", "a@b", "x]y", "x]y", "BI-RADS 4(a)", "BI-RADS 4(a)", "café", "café"]
    d = ["a@b", "x]y", "x]y", "x]y", "BI-RADS 4(a)", "BI-RADS 4(a)", "café", "BI-RADS 4(a)"]
    view = _view(y, d, positive="x]y", classes=ODD)
    keys = [FigureKey("sensitivity", c) for c in ODD] + [FigureKey("precision", c) for c in ODD] \
        + [FigureKey("accuracy", "café"), FigureKey("f1", MACRO), FigureKey("accuracy")]
    v = figures(view, keys)
    assert list(v) == keys  # answered under the keys asked
    assert [v[FigureKey("sensitivity", c)] for c in ODD] == [1 / 2, 1.0, 1.0, 1 / 2]
    assert [v[FigureKey("precision", c)] for c in ODD] == [1.0, 2 / 3, 2 / 3, 1.0]
    assert v[FigureKey("accuracy", "café")] == 7 / 8  # one against the rest: one café called otherwise
    assert v[FigureKey("accuracy")] == 6 / 8
    f1 = [2 * 1 / (2 + 1), 2 * 2 / (2 + 3), 2 * 2 / (2 + 3), 2 * 1 / (2 + 1)]
    assert v[FigureKey("f1", MACRO)] == pytest.approx(np.mean(f1), abs=1e-15)
    assert str(FigureKey("sensitivity", "x]y")) == "sensitivity[x]y]"  # written as asked, for display only
    # a class named "macro" stays a class in a key
    m = _view(["macro", "b"], ["macro", "macro"], classes=np.array(["macro", "b"], dtype=object))
    assert figures(m, [FigureKey("sensitivity", "macro")])[FigureKey("sensitivity", "macro")] == 1.0


def test_a_name_asked_by_a_user_reads_the_class_to_the_last_bracket():
    from featbus.evaluation.figures import MACRO, FigureKey, parse_figure

    assert parse_figure("accuracy[a@b]") == FigureKey("accuracy", "a@b")
    assert parse_figure("sensitivity[x]y]") == FigureKey("sensitivity", "x]y")
    assert parse_figure("sensitivity[BI-RADS 4(a)]@low") == FigureKey("sensitivity", "BI-RADS 4(a)", "low")
    assert parse_figure("f1[macro]") == FigureKey("f1", MACRO) and parse_figure("auc") == FigureKey("auc")
    view = _view(["a@b", "x]y"], ["a@b", "a@b"], positive="x]y", classes=ODD)
    assert figures(view, ["sensitivity[a@b]", "sensitivity[x]y]", "sensitivity"]) == {
        "sensitivity[a@b]": 1.0, "sensitivity[x]y]": 0.0, "sensitivity": 0.0}
    with pytest.raises(ValueError, match="in brackets at the end"):
        parse_figure("sensitivity[benign")
    with pytest.raises(ValueError, match="not one of the classes"):
        figures(view, [FigureKey("sensitivity", "a@c")])
    with pytest.raises(ValueError, match="is not of one class"):
        figures(view, [FigureKey("trivial_accuracy", "a@b")])


def test_called_normal_counted_by_hand_and_undefined():
    from featbus.evaluation.figures import FigureKey

    # Y, D of the example above: 1 normal; decisions: one benign called normal, no malignant called normal
    v = figures(_view(Y, D, P), ["called_normal", "called_normal[benign]", "called_normal[normal]"])
    assert v["called_normal"] == 0 / 3 and v["called_normal[benign]"] == 1 / 4 and v["called_normal[normal]"] == 1.0
    assert FIGURES["called_normal"].misses == "higher" and FIGURES["sensitivity"].misses == "lower"
    # no no-lesion class: undefined; no image of the class: its zero_division
    two = np.array(["benign", "malignant"], dtype=object)
    assert math.isnan(figures(_view(["benign"], ["benign"], classes=two), ["called_normal"])["called_normal"])
    assert math.isnan(figures(_view(["benign"], ["normal"]), [FigureKey("called_normal")])[FigureKey("called_normal")])


def test_classification_metrics_is_a_view_of_the_table():
    from featbus.evaluation.figures import classification_metrics

    m = classification_metrics(Y, D, P, labels=CLASSES)
    names = {(c, f): f"{f}[{c}]" for c in CLASSES for f in ("accuracy", "sensitivity", "specificity", "precision",
                                                            "f1", "auc")}
    v = figures(_view(Y, D, P), list(names.values()))
    for (c, f), name in names.items():
        assert m["per_class"][c][f] == v[name], name
    assert m["macro"]["accuracy"] == 5 / 8
    # undefined: the table's own zero_division (NaN, left out of the mean) unless one is given
    nan = classification_metrics(["b", "b"], ["b", "b"], labels=["b", "m"])
    zero = classification_metrics(["b", "b"], ["b", "b"], labels=["b", "m"], zero_division=0.0)
    assert math.isnan(nan["per_class"]["m"]["sensitivity"]) and nan["macro"]["sensitivity"] == 1.0
    assert zero["per_class"]["m"]["sensitivity"] == 0.0 and zero["macro"]["sensitivity"] == 0.5
    assert nan["per_class"]["m"]["precision"] == 0.0  # the precision row's own zero_division


def test_paired_estimate_differences_and_intervals():
    from featbus.evaluation.figures import estimate_paired

    y = ["benign", "malignant"] * 5
    a = _view(y, y)
    b = _view(y, ["benign"] * 10)
    values, ci = estimate_paired([a, b], ["sensitivity", "specificity"], np.arange(10), 50, random_state=0)
    assert values[(0, "sensitivity")] == 1.0 and values[(1, "sensitivity")] == 0.0
    assert values[(1, 0, "sensitivity")] == -1.0 and values[(1, 0, "specificity")] == 0.0
    assert ci[(1, 0, "sensitivity")] == (-1.0, -1.0) and ci[(1, 0, "specificity")] == (0.0, 0.0)
    same, same_ci = estimate_paired([a, a], ["sensitivity"], np.arange(10), 50, random_state=0)
    assert same[(1, 0, "sensitivity")] == 0 and same_ci[(1, 0, "sensitivity")] == (0.0, 0.0)
    with pytest.raises(ValueError, match="same images"):
        estimate_paired([a, _view(y[::-1], y[::-1])], ["sensitivity"], None, 0)


# --------------------------------------------------------------------------- switching: never on specificity alone

def _comparison(views, figures_asked, n_bootstrap=200):
    from featbus.evaluation.comparison import ModelComparison, _estimate

    n = len(views[0].y_true)
    everything = _estimate(np.ones(n, bool), views, figures_asked, np.arange(n), n_bootstrap, 0)
    y = np.asarray(views[0].y_true)
    return ModelComparison(
        names=["A", "B"], sources=[None, None], positive="malignant", y_true=y, paths=[str(i) for i in range(n)],
        groups=np.arange(n), groups_from="images", data_description=f"{n} images", scores=[None, None],
        called=[None, None], rules=["a", "b"], seen_images=[np.zeros(n, bool)] * 2, seen_notes=[[], []],
        n_bootstrap=n_bootstrap, random_state=0, everything=everything, unseen={}, figures=list(figures_asked))


def test_a_model_that_misses_more_cancers_is_never_recommended():
    from featbus.evaluation.figures import LESION_OR_NORMAL, POSITIVE_FIGURES

    # 40 malignant, 40 benign, 40 normal; B calls 12 malignant normal more, and every benign and normal right
    y = np.array(["malignant"] * 40 + ["benign"] * 40 + ["normal"] * 40, dtype=object)
    a_pred = np.array(["malignant"] * 38 + ["normal"] * 2 + ["malignant"] * 20 + ["benign"] * 20 + ["normal"] * 40,
                      dtype=object)
    b_pred = np.array(["malignant"] * 26 + ["normal"] * 14 + ["benign"] * 40 + ["normal"] * 40, dtype=object)
    names = [*POSITIVE_FIGURES[1:], *LESION_OR_NORMAL]
    c = _comparison([_view(y, a_pred), _view(y, b_pred)], names)
    said = c.switch(1)
    assert "specificity" in said["other"] and {"sensitivity", "called_normal", "lesions_called_normal"} <= set(
        said["worse"])
    sentence = c.switching[0]
    assert sentence.startswith("B finds fewer cancers: do not switch") and "malignant called normal" in sentence
    text = c.summary()
    assert "switching:" in text and "malignant called normal" in text and "normal scans called normal" in text
    # a specificity gain alone is no reason to switch
    only_spec = np.array(["malignant"] * 38 + ["normal"] * 2 + ["benign"] * 40 + ["normal"] * 40, dtype=object)
    c2 = _comparison([_view(y, a_pred), _view(y, only_spec)], names)
    assert c2.switch(1)["worse"] == [] and "specificity" in c2.switch(1)["other"]
    assert "alone is no reason to switch" in c2.switching[0]
    doc = c2.to_dict()
    assert doc["switching"] == c2.switching and "specificity" in doc["differences"][0]["switch"]["other"]


# --------------------------------------------------------------------------- one promise

def _shipped_manifest() -> dict:
    import json
    import zipfile

    from featbus.networks.pretrained import PRETRAINED

    entry = next(e for e in PRETRAINED.values() if e.kind == "classifier")
    if not entry.path().is_file():
        pytest.skip("the shipped classifier's file is absent")
    with zipfile.ZipFile(entry.path()) as archive:
        return json.loads(archive.read("manifest.json"))


def test_an_adapted_file_keeps_its_parents_promise():
    from featbus.evaluation.validation import ExternalValidation, promise_of

    parent = _shipped_manifest()
    classes = [str(c) for c in parent.get("classes") or ["benign", "malignant", "normal"]]
    adapted = {**parent, "pipeline_sha256": "f" * 64,
               "adaptation": {"method": "none", "source": {"pipeline_sha256": parent["pipeline_sha256"]},
                              "previous": None}}
    twice = {**adapted, "adaptation": {"source": {"pipeline_sha256": "f" * 64}, "previous": adapted["adaptation"]}}
    own = promise_of(None, parent, "malignant", classes)
    assert own is not None and own["card"]
    assert promise_of(None, adapted, "malignant", classes) == own == promise_of(None, twice, "malignant", classes)
    named = {**parent, "pipeline_sha256": "e" * 64, "adaptation": {"method": "none"},
             "parent": {"name": "breast-us", "pipeline_sha256": parent["pipeline_sha256"]}}
    assert promise_of(None, named, "malignant", classes) == own  # the parent featbus adapt records
    # a promise carried in the file (featbus adapt copies its parent's) is the one judged against
    carried = {**adapted, "promise": dict(own)}
    assert promise_of(None, carried, "malignant", classes) == own
    # the same AUC on the same images: the same promise sentence for both files
    y, P = _random_predictions(n=120, seed=7)
    lines = []
    for manifest in (parent, adapted, carried):
        r = ExternalValidation.from_predictions(y, P, classes=list(CLASSES), n_bootstrap=100,
                                                promise=promise_of(None, manifest, "malignant", list(CLASSES)))
        lines.append([s for s in r.verdict if "promise" in s])
        assert r.against_promise() is not None
    assert lines[0] == lines[1] == lines[2] and lines[0]


# --------------------------------------------------------------------------- train on class folders with odd names

def test_train_on_class_folders_with_odd_names(tmp_path, capsys):
    from PIL import Image

    from featbus.cli import main

    rng = np.random.RandomState(0)
    for k, name in enumerate(ODD):
        folder = tmp_path / "data" / name
        folder.mkdir(parents=True)
        for i in range(8):
            Image.fromarray((rng.rand(32, 32) * 60 + 50 * k).astype(np.uint8)).save(folder / f"img{i}.png")
    code = main(["train", str(tmp_path / "data"), "-f", "intensity", "-c", "logreg", "-o",
                 str(tmp_path / "m.featbus"), "--n-bootstrap", "20", "--n-splits", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert "classes: BI-RADS 4(a), a@b, café, x]y" in out  # every class as written
    assert "error" not in out.lower()
    from featbus import load_model

    cv = load_model(tmp_path / "m.featbus").manifest["cv"]
    assert set(cv.get("per_class_auc") or ODD) <= set(ODD)
