"""Issue 60 item 1: the decisions a model file makes (its stored operating point) are the ones
train's figures, the verdict, the report page, inspect, predict and the app describe."""

from __future__ import annotations

import numpy as np
import pytest

import featbus
from featbus.cli import main
from featbus.evaluation import evaluate
from featbus.metrics import OperatingPoint
from featbus.model.describe import describe_manifest
from featbus.workflows.training import _out_of_fold_proba, _validation_at_operating_point, train_model


@pytest.fixture(scope="module")
def sample():
    return featbus.load_sample()


@pytest.fixture(scope="module")
def low_point(sample):
    """A 3-fold logistic regression on intensity features with a point for sensitivity 0.99:
    on its own out-of-fold predictions it never answers 'normal'."""
    return train_model(sample, "intensity", classifier="logreg", progress=False, n_bootstrap=50, n_splits=3,
                       operating_point="sensitivity=0.99")


def test_cross_validation_judges_a_point_chosen_on_the_other_folds(low_point):
    model = low_point
    report = model.cv_report
    y = np.asarray(report.y_true, dtype=str)
    classes = [str(c) for c in report.classes]
    # the same folds refitted: each fold decided by the point chosen on the other folds' predictions
    head = model.head
    tail = head if not hasattr(head, "calibrated_classifiers_") else None
    assert tail is not None  # logreg has probabilities: the head is the pipeline itself
    X = model.transform(featbus.load_sample().data)
    proba = _out_of_fold_proba(tail, head, X, y, report.splits, None)
    expected = np.empty(y.size, dtype=object)
    for _, test in report.splits:
        others = np.setdiff1d(np.arange(y.size), test)
        op = OperatingPoint.choose(y[others], proba[others], classes=classes, positive="malignant", target=0.99)
        expected[test] = op.decide(proba[test], report.classes)
    assert report.y_pred.tolist() == expected.tolist()
    assert report.y_pred.tolist() != np.asarray(report.classes)[np.argmax(report.scores, axis=1)].tolist()
    # every figure, the confusion matrix and the stored summary are of these decisions
    cm = report.confusion_matrix().to_numpy()
    for i, c in enumerate(report.classes):
        for j, d in enumerate(report.classes):
            assert cm[i, j] == int(np.sum((y == c) & (report.y_pred == d)))
    cv = model.manifest["cv"]
    assert cv["accuracy"]["value"] == pytest.approx(np.mean(report.y_pred == y), abs=1e-12)
    assert "other folds' out-of-fold predictions" in cv["decisions"]
    assert "never on the images it is judged on" in cv["decisions"]
    assert any(n.startswith("decisions: at the operating point") for n in report.notes)
    # the verdict reads the same decisions
    assert report.sanity is not None and "decisions: at the operating point" in report.summary()


def test_without_a_point_the_figures_stay_at_the_most_probable_class(sample):
    model = train_model(sample, "intensity", classifier="logreg", progress=False, n_bootstrap=0, n_splits=3)
    report = model.cv_report
    direct = evaluate(model.head.__class__(model.head.steps), model.transform(sample.data),
                      np.asarray(sample.target_names)[sample.target], n_splits=3, n_bootstrap=0,
                      groups=report.groups, cv=report.splits)
    assert report.y_pred.tolist() == direct.y_pred.tolist()
    assert "decisions" not in model.manifest["cv"] and "operating_point" not in model.manifest
    assert "decisions:" not in describe_manifest(model.manifest)


def test_a_point_that_turns_a_class_off_is_said(low_point):
    notes = [n for n in low_point.manifest["notes"] if n.startswith("at the stored operating point")]
    assert len(notes) == 1
    assert "never answers 'normal' on its training images' out-of-fold predictions" in notes[0]
    assert "every image is called benign or malignant" in notes[0]
    assert notes[0] in low_point.cv_report.notes and f"note: {notes[0]}" in low_point.describe()


def test_inspect_names_the_decisions_and_an_old_file_says_its_figures_are_argmax(low_point):
    text = low_point.describe()
    assert "  decisions: at the operating point" in text and "operating point: malignant when" in text
    old = {**low_point.manifest, "cv": {k: v for k, v in low_point.manifest["cv"].items() if k != "decisions"}}
    assert ("decisions: these figures are at the most probable class; this file decides by its operating point"
            in describe_manifest(old))


def test_a_networks_validation_figures_say_the_point_was_chosen_on_them():
    rng = np.random.RandomState(0)
    y = np.repeat(["benign", "malignant", "normal"], 10)
    proba = rng.dirichlet([1, 1, 1], size=30)
    report = evaluate(_Fixed(proba), np.arange(30)[:, None], y, cv=[(np.arange(0), np.arange(30))], n_bootstrap=0)
    op = OperatingPoint.choose(y, proba, classes=["benign", "malignant", "normal"], positive="malignant", target=0.9)

    class Model:
        manifest = {"operating_point": op.to_record(), "cv": {"about": "validation", "caveat": "x"}}
        cv_report = report
        classes_ = np.array(["benign", "malignant", "normal"])

    _validation_at_operating_point(Model, proba)
    assert Model.cv_report.y_pred.tolist() == op.decide(proba, Model.classes_).tolist()
    assert "chosen on these same validation images" in Model.manifest["cv"]["decisions"]
    assert Model.manifest["cv"]["about"] == "validation" and Model.manifest["cv"]["caveat"] == "x"
    assert Model.manifest["cv"]["accuracy"]["value"] == pytest.approx(np.mean(Model.cv_report.y_pred == y))


class _Fixed:
    """A fitted classifier returning given probabilities by row index."""

    def __init__(self, proba):
        self.proba = proba

    def get_params(self, deep=True):
        return {"proba": self.proba}

    def set_params(self, **params):
        self.proba = params.get("proba", self.proba)
        return self

    def fit(self, X, y):
        self.classes_ = np.unique(y) if len(y) else np.array(["benign", "malignant", "normal"])
        return self

    def predict_proba(self, X):
        return self.proba[np.asarray(X)[:, 0]]

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def test_predict_table_says_its_rule_and_can_answer_the_most_probable_class(low_point, sample):
    images = sample.data[:12]
    table = low_point.predict_table(images)
    op = OperatingPoint.from_record(low_point.manifest["operating_point"])
    assert table.columns[:3].tolist() == ["image", "predicted", "rule"]
    assert set(table["rule"]) == {f"malignant when p(malignant) >= {op.threshold:.4g}, else the most probable "
                                  "other class"}
    P = table[[f"p_{c}" for c in low_point.classes_]].to_numpy()
    assert table["predicted"].tolist() == op.decide(P, low_point.classes_).tolist()
    most = low_point.predict_table(images, decision="most-probable")
    assert set(most["rule"]) == {"the most probable class"}
    assert most["predicted"].tolist() == low_point.classes_[np.argmax(P, axis=1)].tolist()
    with pytest.raises(ValueError, match="decision must be 'operating-point' or 'most-probable'"):
        low_point.predict_table(images, decision="argmax")


def test_train_predict_and_the_report_page_name_the_point(tmp_path, capsys):
    folder = featbus.datasets.__path__[0] + "/data/breast_lesions_usg_sample"
    out = tmp_path / "m.featbus"
    assert main(["train", folder, "-f", "intensity", "-c", "logreg", "--operating-point", "sensitivity=0.99",
                 "--n-bootstrap", "20", "--n-splits", "3", "-o", str(out), "--report", str(tmp_path / "rep"),
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "warning: at the stored operating point (malignant when p(malignant) >= " in captured.err
    assert "never answers 'normal'" in captured.err
    assert "  decisions: at the operating point" in captured.out
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "operating point: malignant when p(malignant) &gt;= " in page
    assert "chosen on the other folds&#x27; out-of-fold predictions" in page
    image = featbus.load_sample().paths[0]
    assert main(["predict", str(out), image]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].startswith("image,predicted,rule,p_benign")
    assert ", else the most probable other class" in captured.out
    assert "decisions: malignant when p(malignant) >= " in captured.err
    assert "--decision most-probable" in captured.err
    assert main(["predict", str(out), image, "--decision", "most-probable"]) == 0
    captured = capsys.readouterr()
    assert ",the most probable class," in captured.out
    assert "decisions: the most probable class (--decision most-probable)" in captured.err
