"""The statistics floor (featbus.metrics): one bootstrap, one rank AUC, one decision rule.

The bootstrap replaced eight hand-written loops; these tests pin it to the loops it replaced
(the same RandomState sequence, the same percentile rule), so every printed interval is the
one printed before.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from featbus.metrics import (
    Predictions,
    bootstrap,
    decide,
    format_interval,
    group_units,
    interval_text,
    percentile_interval,
    rank_auc,
)


# the loops as they were written (evaluation.py, sanity.py, validation.py, adaptation.py, ...)
def _old_units(groups, n):
    if groups is None:
        return None
    _, inv = np.unique(groups, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(inv[order])) + 1)


def _old_percentile(x):
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.percentile(x, [2.5, 97.5])
    return float(lo), float(hi)


def _old_draws(stat, x, groups, n_bootstrap, rng):
    units = _old_units(groups, x.size)
    out = []
    for _ in range(n_bootstrap):
        if units is None:
            idx = rng.randint(0, x.size, x.size)
        else:
            idx = np.concatenate([units[j] for j in rng.randint(0, len(units), len(units))])
        out.append(stat(x[idx]))
    return np.asarray(out, dtype=float)


@pytest.mark.parametrize("groups", [None, "pairs", "singletons"])
def test_bootstrap_reproduces_the_old_loops(groups):
    rng = np.random.RandomState(3)
    x = rng.normal(size=41)
    g = {None: None, "pairs": np.arange(41) // 2, "singletons": np.arange(41)}[groups]
    old = _old_draws(np.mean, x, g, 300, np.random.RandomState(7))
    point, ci = result = bootstrap(np.mean, x, groups=g, n_bootstrap=300, random_state=7)
    assert point == np.mean(x)
    assert np.array_equal(result.draws, old)
    assert ci == _old_percentile(old)


def test_bootstrap_chains_one_random_state_and_keeps_its_shapes():
    x = np.arange(30.0)
    shared_old, shared_new = np.random.RandomState(0), np.random.RandomState(0)
    for g in (np.arange(30) // 3, None):  # two figures drawn one after the other from one sequence
        old = _old_draws(np.max, x, g, 50, shared_old)
        assert np.array_equal(bootstrap(np.max, x, groups=g, n_bootstrap=50, random_state=shared_new).draws, old)
    point, (lo, hi) = bootstrap(lambda v: np.array([v.min(), v.max()]), x, n_bootstrap=40, random_state=0)
    assert point.tolist() == [0.0, 29.0] and lo.shape == hi.shape == (2,)
    point, ci = bootstrap(lambda v: {"a": v.mean(), "nan": math.nan}, x, n_bootstrap=0)
    assert point["a"] == 14.5 and all(math.isnan(c) for c in ci["a"])
    assert all(math.isnan(c) for c in ci["nan"])


def test_bootstrap_bad_input():
    with pytest.raises(ValueError, match="n_bootstrap must be a non-negative integer"):
        bootstrap(np.mean, np.arange(3), n_bootstrap=-1)
    with pytest.raises(ValueError, match="different lengths"):
        bootstrap(lambda a, b: 0.0, np.arange(3), np.arange(4))
    with pytest.raises(ValueError, match="groups has 2 entries for 3 samples"):
        bootstrap(np.mean, np.arange(3), groups=[0, 1])


def test_percentile_interval_and_units():
    assert all(math.isnan(c) for c in percentile_interval([np.nan, np.inf]))
    assert percentile_interval([1.0, np.nan, 3.0]) == _old_percentile([1.0, np.nan, 3.0])
    assert [u.tolist() for u in group_units([2, 1, 2, 0])] == [[3], [1], [0, 2]]


def test_rank_auc_decide_and_text():
    from sklearn.metrics import roc_auc_score

    rng = np.random.RandomState(0)
    y = rng.rand(60) < 0.4
    s = np.round(rng.rand(60), 1)  # ties
    assert rank_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert math.isnan(rank_auc(np.ones(3, bool), [1, 2, 3]))
    P = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.1, 0.3]])
    assert decide(P).tolist() == [0, 2, 0]
    assert decide(P, (2, 0.25)).tolist() == [0, 2, 2]
    assert format_interval(0.5, (0.4, 0.6)) == "0.500 [0.40, 0.60]"
    assert format_interval(math.nan, (0.4, 0.6)) == "n/a"
    assert format_interval(math.nan, None, missing=None) == "nan"
    assert interval_text([None, None]) == ""


def test_the_loaded_model_and_validation_decide_by_the_one_rule():
    from featbus.model import FeatbusModel

    P = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.1, 0.3]])
    from types import SimpleNamespace

    model = FeatbusModel.__new__(FeatbusModel)
    model.head = SimpleNamespace(classes_=np.array(["a", "b", "c"]))
    model.manifest = {"operating_point": {"positive": "c", "threshold": 0.25}}
    assert model.decide(P).tolist() == ["a", "c", "c"]
    model.manifest = {}
    assert model.decide(P).tolist() == ["a", "c", "a"]


def test_predictions_view_codes():
    view = Predictions(y_true=np.array(["a", "b", "b"]), y_pred=np.array(["a", "a", "z"]), scores=None,
                       classes=np.array(["a", "b"]), class_names=["a", "b"], groups=None)
    yt, yp = view.codes()
    assert yt.tolist() == [0, 1, 1] and yp.tolist() == [0, 0, -1]


def test_reports_and_verdicts_read_the_one_view():
    """A Report, its held_out view and sanity.assess of either give the same figures and verdict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.linear_model import LogisticRegression

    from featbus.evaluation import evaluate
    from featbus.evaluation.reporting import plot_confusion_matrix, plot_roc
    from featbus.evaluation.sanity import assess

    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(60, 2)) + 2 * np.eye(3)[y, :2]
    report = evaluate(LogisticRegression(), X, y, cv="stratified", n_splits=3, n_bootstrap=30)
    view = report.held_out
    assert isinstance(view, Predictions) and view.auc_intervals["macro"] == report.interval("auc")
    assert np.array_equal(view.confusion_matrix(), report.metrics["confusion_matrix"])
    assert assess(view) == assess(report)

    def pixels(draw, what):
        fig, ax = plt.subplots()
        draw(what, ax=ax)
        fig.canvas.draw()
        out = np.asarray(fig.canvas.buffer_rgba()).copy()
        plt.close(fig)
        return out

    for draw in (plot_roc, plot_confusion_matrix):
        assert np.array_equal(pixels(draw, report), pixels(draw, view))
    with pytest.raises(TypeError, match="assess needs a featbus Report"):
        assess(object())
