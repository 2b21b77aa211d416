"""evaluate / Report / compare / reporting: metrics against scikit-learn, folds, CIs, plots, HTML."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.svm import SVC

from featbus.datasets import make_phantoms
from featbus.evaluation import classification_metrics, compare, comparison_table, evaluate, make_splits
from featbus.evaluation.reporting import plot_comparison, write_html
from featbus.pipelines import make_classification_pipeline


def _data(n=120, k=3, seed=0, shift=1.2):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, k, n)
    X = rng.normal(size=(n, 5)) + shift * y[:, None]
    groups = np.arange(n) // 2
    return X, y, groups


def test_metrics_match_scikit_learn():
    rng = np.random.RandomState(1)
    y = rng.randint(0, 3, 200)
    scores = rng.rand(200, 3) + np.eye(3)[y] * 0.6
    pred = scores.argmax(1)
    pred[:20] = rng.randint(0, 3, 20)
    m = classification_metrics(y, pred, scores)
    assert m["macro"]["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["macro"]["sensitivity"] == pytest.approx(recall_score(y, pred, average="macro"))
    assert m["macro"]["precision"] == pytest.approx(precision_score(y, pred, average="macro"))
    assert m["macro"]["f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    for c in range(3):
        assert m["per_class"][c]["auc"] == pytest.approx(roc_auc_score(y == c, scores[:, c]))
        cm = confusion_matrix(y == c, pred == c)
        assert m["per_class"][c]["specificity"] == pytest.approx(cm[0, 0] / cm[0].sum())
    proba = scores / scores.sum(1, keepdims=True)
    m2 = classification_metrics(y, pred, proba)
    assert m2["macro"]["auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    np.testing.assert_array_equal(m["confusion_matrix"], confusion_matrix(y, pred))


def test_metrics_string_labels_and_errors():
    m = classification_metrics(["a", "b", "b"], ["a", "b", "a"])
    assert m["per_class"]["b"]["sensitivity"] == 0.5 and np.isnan(m["macro"]["auc"])
    with pytest.raises(ValueError, match="shape"):
        classification_metrics([0, 1], [0])
    with pytest.raises(ValueError, match="not in labels"):
        classification_metrics([0, 1], [0, 2], labels=[0, 1])


def test_duplicate_grouped_folds_keep_groups_together():
    X, y, groups = _data()
    splits, g, how = make_splits(X, y, groups=groups, n_splits=5)
    assert how.startswith("duplicate-grouped")
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
    again, _, _ = make_splits(X, y, groups=groups, n_splits=5)
    for (_a, b), (_c, d) in zip(splits, again):  # deterministic
        np.testing.assert_array_equal(b, d)


def test_grouped_cv_needs_groups_for_a_feature_matrix():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="needs groups"):
        evaluate(LogisticRegression(), X, y)
    with pytest.raises(ValueError, match="cv must be"):
        evaluate(LogisticRegression(), X, y, cv="random")
    with pytest.raises(ValueError, match="y is required"):
        evaluate(LogisticRegression(), X)
    with pytest.raises(ValueError, match="labels"):
        evaluate(LogisticRegression(), X, y[:-1], cv="stratified")


def test_grouped_cv_computes_duplicate_groups_from_images():
    ph = make_phantoms(24, image_size=48, random_state=3)
    images = list(ph.images) + [ph.images[0].copy(), ph.images[1].copy()]  # two exact copies
    y = np.concatenate([ph.target, ph.target[:2]])
    pipe = make_classification_pipeline(["intensity"], classifier="logreg")
    report = evaluate(pipe, images, y, n_splits=3, n_bootstrap=0)
    assert report.fold[24] == report.fold[0] and report.fold[25] == report.fold[1]


def test_report_contents_and_intervals():
    X, y, groups = _data()
    rep = evaluate(LogisticRegression(), X, y, groups=groups, n_bootstrap=300, name="lr")
    assert rep.score_kind == "probability"
    assert rep.scores.shape == (len(y), 3)
    assert sorted(np.unique(rep.fold)) == list(range(5))
    pooled = classification_metrics(y, rep.y_pred, rep.scores)
    assert rep.value("accuracy") == pytest.approx(pooled["macro"]["accuracy"])
    for metric in ("accuracy", "sensitivity", "specificity", "precision", "f1", "auc"):
        lo, hi = rep.interval(metric)
        assert lo <= rep.value(metric) <= hi and hi - lo < 0.4
        lo, hi = rep.interval(metric, 1)
        assert lo <= rep.value(metric, 1) <= hi
    frame = rep.to_frame()
    assert list(frame.index) == ["0", "1", "2", "macro"]
    assert frame.loc["macro", ("accuracy", "value")] == pytest.approx(rep.value("accuracy"))
    text = rep.summary()
    assert repr(text) == str(text) and repr(rep).startswith("Report('lr', duplicate-grouped 5-fold")
    assert "macro" in text and "[" in text and "confusion matrix" in text
    assert set(rep.fold_metrics().columns) >= {"accuracy", "f1", "auc"}
    assert rep.cm_ci.shape == (2, 3, 3)


def test_same_seed_same_report_and_n_jobs():
    X, y, groups = _data(60)
    a = evaluate(LogisticRegression(), X, y, groups=groups, n_bootstrap=100)
    b = evaluate(LogisticRegression(), X, y, groups=groups, n_bootstrap=100, n_jobs=2)
    np.testing.assert_array_equal(a.y_pred, b.y_pred)
    assert a.ci == b.ci


def test_svc_decision_scores_give_auc():
    X, y, groups = _data()
    rep = evaluate(SVC(), X, y, groups=groups, n_bootstrap=50)
    assert rep.score_kind == "decision"
    assert rep.value("auc") > 0.8
    binary = y % 2
    rep2 = evaluate(SVC(), X, binary, groups=groups, n_bootstrap=0)
    assert rep2.scores.shape == (len(y), 2)
    assert rep2.value("auc", 1) == pytest.approx(roc_auc_score(binary, rep2.scores[:, 1]))


def test_bunch_input_uses_names_and_groups():
    ph = make_phantoms(30, image_size=64, random_state=0)
    rep = evaluate(make_classification_pipeline(["shape"], classifier="logreg"), ph, n_splits=3, n_bootstrap=50)
    assert rep.class_names == ["benign", "malignant", "normal"]
    assert rep.value("auc", "malignant") == rep.value("auc", 1)
    np.testing.assert_array_equal(rep.groups, ph.groups)


def test_custom_splitter_and_given_splits():
    X, y, groups = _data(60)
    a = evaluate(LogisticRegression(), X, y, cv=GroupKFold(3), groups=groups, n_bootstrap=0)
    b = evaluate(LogisticRegression(), X, y, cv=a.splits, n_bootstrap=0)
    np.testing.assert_array_equal(a.fold, b.fold)
    with pytest.raises(ValueError, match="exactly once"):
        evaluate(LogisticRegression(), X, y, cv=a.splits[:2], n_bootstrap=0)


def test_compare_paired_tests():
    X, y, groups = _data(150)
    good = evaluate(LogisticRegression(), X, y, groups=groups, n_bootstrap=200, name="lr")
    bad = evaluate(DummyClassifier(), X, y, groups=groups, n_bootstrap=200, name="dummy")
    table = compare([good, bad])
    row = table.iloc[0]
    assert row["difference"] > 0.3 and row["diff_low"] > 0
    assert row["p_bootstrap"] < 0.01 and row["p_mcnemar"] < 0.01 and row["p_corrected_t"] < 0.05
    same = compare([good, good], metric="auc", cls=1).iloc[0]
    assert same["difference"] == 0 and same["p_corrected_t"] == 1.0
    other = evaluate(LogisticRegression(), X, y, cv="stratified", n_bootstrap=0)
    with pytest.raises(ValueError, match="different folds"):
        compare([good, other])
    table = comparison_table([good, bad])
    assert list(table.index) == ["lr", "dummy"] and "auc[2]" in table.columns


def test_plots_and_html(tmp_path):
    X, y, groups = _data()
    a = evaluate(LogisticRegression(), X, y, groups=groups, n_bootstrap=50, name="lr")
    b = evaluate(SVC(), X, y, groups=groups, n_bootstrap=50, name="svm")
    for ax in (a.plot_roc(), b.plot_roc(), a.plot_confusion_matrix(), a.plot_per_class(),
               plot_comparison([a, b])):
        assert ax.has_data()
    path = a.to_html(tmp_path / "one" / "report.html")
    page = path.read_text()
    assert path.is_file() and page.count("data:image/png;base64") == 3  # ROC, confusion, per class
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["report.html"]  # figures stored once, inline
    many = write_html([a, b], tmp_path / "cmp", comparison=compare([a, b]), notes=["note <b>"])
    text = many.read_text()
    assert many.name == "report.html" and "Paired tests" in text and "note &lt;b&gt;" in text
    no_scores = evaluate(make_classification_pipeline(None, classifier=DummyClassifier()), X, y, groups=groups,
                         n_bootstrap=0)
    no_scores.scores = None
    with pytest.raises(ValueError, match="no scores"):
        no_scores.plot_roc()


def test_busi_leak_free_vs_leaky(busi):
    """On BUSI, grouped folds keep near-duplicates apart; stratified folds let them straddle."""
    data = busi
    idx = np.arange(0, len(data.target), 4)  # a quarter of the data keeps this fast
    X = np.array([[float(np.mean(data.images[i])), float(np.std(data.images[i]))] for i in idx])
    y, groups = data.target[idx], np.asarray(data.groups)[idx]
    rep = evaluate(LogisticRegression(), X, y, groups=groups, n_bootstrap=100,
                   target_names=data.target_names)
    for train, test in rep.splits:
        assert not set(groups[train]) & set(groups[test])
    assert rep.class_names == [str(n) for n in data.target_names]


def test_predictions_page_from_a_table_read_back_from_csv(tmp_path):
    """A predictions CSV read back by pandas has NaN in empty cells: a row without an error is a
    prediction (not "not predicted: nan"), a row with one says why, and long paths wrap in their card."""
    import pandas as pd

    from featbus.evaluation.reporting import predictions_html

    csv = tmp_path / "predictions.csv"
    pd.DataFrame({"image": ["a/very/long/folder/name/case 1.png", "b.png"], "predicted": ["benign", ""],
                  "p_benign": [0.8, None], "p_malignant": [0.2, None],
                  "error": ["", "cannot be read (truncated)"]}).to_csv(csv, index=False)
    page = predictions_html(pd.read_csv(csv), tmp_path / "report.html").read_text()
    assert page.count("not predicted") == 1 and ": nan" not in page
    assert "cannot be read (truncated)" in page and "predicted <b>benign</b>" in page
    assert "overflow-wrap:anywhere" in page


def test_confusion_counts_one_vs_rest():
    """TP / FN / FP / TN per class (issue 46): from the pooled confusion matrix, against
    scikit-learn, consistent with the report's own sensitivity, specificity and precision."""
    X, y, groups = _data(90)
    rep = evaluate(LogisticRegression(), X, y, groups=groups, n_bootstrap=0, target_names=["a", "b", "c"])
    counts = rep.confusion_counts()
    assert list(counts.columns) == ["TP", "FN", "FP", "TN"] and list(counts.index) == ["a", "b", "c"]
    assert counts.index.name == "class" and all(str(t) == "int64" for t in counts.dtypes)
    cm = confusion_matrix(rep.y_true, rep.y_pred, labels=rep.classes)
    np.testing.assert_array_equal(rep.confusion_matrix().to_numpy(), cm)
    assert rep.confusion_matrix().index.name == "true" and rep.confusion_matrix().columns.name == "predicted"
    assert (counts.sum(axis=1) == len(y)).all()
    for lab, name in zip(rep.classes, rep.class_names):
        pos, called = rep.y_true == lab, rep.y_pred == lab
        tp, fn, fp, tn = counts.loc[name]
        assert (tp, fn, fp, tn) == ((pos & called).sum(), (pos & ~called).sum(), (~pos & called).sum(),
                                    (~pos & ~called).sum())
        assert rep.value("sensitivity", name) == pytest.approx(tp / (tp + fn))
        assert rep.value("specificity", name) == pytest.approx(tn / (tn + fp))
        assert rep.value("precision", name) == pytest.approx(tp / (tp + fp))
    text = str(rep.summary(verdict=False)).splitlines()
    head = next(i for i, line in enumerate(text) if line.startswith("one vs rest"))
    assert text[head].split()[3:7] == ["TP", "FN", "FP", "TN"]
    assert [int(v) for v in text[head + 1].split()[1:]] == counts.loc["a"].tolist()
