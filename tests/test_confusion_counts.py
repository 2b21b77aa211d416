"""TP, FN, FP and TN per class (one vs rest) wherever featbus shows per-class figures: Report
(``featbus evaluate``'s table and HTML report), ExternalValidation (``featbus validate``'s
summary, HTML page and JSON), all through one formatter (:mod:`featbus.evaluation.reporting`).

The known case: 10 images, 4 benign, 3 malignant, 3 normal, and these predictions

=========  ======  =========  ======
true       benign  malignant  normal   (predicted)
=========  ======  =========  ======
benign          3          1       0
malignant       1          2       0
normal          0          1       2
=========  ======  =========  ======

so malignant has TP 2, FN 1, FP 2 (one benign, one normal), TN 5; benign TP 3, FN 1, FP 1, TN 5;
normal TP 2, FN 1, FP 0, TN 7.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from sklearn.utils import Bunch

from featbus.evaluation import evaluate_external
from featbus.evaluation.reporting import confusion_counts, counts_html, counts_text, write_html
from featbus.evaluation.validation import validate

CLASSES = ("benign", "malignant", "normal")
TRUE = ["benign"] * 4 + ["malignant"] * 3 + ["normal"] * 3
PRED = ["benign", "benign", "benign", "malignant", "benign", "malignant", "malignant", "malignant", "normal", "normal"]
EXPECTED = {"benign": [3, 1, 1, 5], "malignant": [2, 1, 2, 5], "normal": [2, 1, 0, 7]}  # TP, FN, FP, TN
MATRIX = [[3, 1, 0], [1, 2, 0], [0, 1, 2]]


def test_counts_of_a_known_matrix():
    counts = confusion_counts(MATRIX, CLASSES)
    assert list(counts.columns) == ["TP", "FN", "FP", "TN"] and counts.index.name == "class"
    assert {c: counts.loc[c].tolist() for c in CLASSES} == EXPECTED
    assert (counts.sum(axis=1) == len(TRUE)).all()
    with pytest.raises(ValueError, match="must be 3 x 3, got shape"):
        confusion_counts([[1, 2], [3, 4]], CLASSES)


def test_the_text_and_html_formatters_show_every_count():
    lines = counts_text(confusion_counts(MATRIX, CLASSES), width=12, indent="  ")
    assert lines[0].split() == ["one", "vs", "rest", "TP", "FN", "FP", "TN"]
    assert {ln.split()[0]: [int(v) for v in ln.split()[1:]] for ln in lines[1:4]} == EXPECTED
    assert all(ln.startswith("  ") for ln in lines) and "FP other images called it" in lines[-1]
    page = counts_html(confusion_counts(MATRIX, ["<b>enign", "malignant", "normal"]))
    assert "&lt;b&gt;enign" in page and "<td>2</td><td>1</td><td>2</td><td>5</td>" in page


class _Known:
    """A fitted 'classifier' predicting PRED for the rows 0..9."""

    classes_ = np.array(CLASSES)

    def predict(self, X):
        return np.asarray(PRED)[np.asarray(X, dtype=int)[:, 0]]


def test_report_summary_and_html_hold_the_counts(tmp_path):
    report = evaluate_external(_Known(), np.arange(10)[:, None], TRUE, n_bootstrap=0)
    counts = report.confusion_counts()
    assert {c: counts.loc[c].tolist() for c in CLASSES} == EXPECTED
    text = str(report.summary(verdict=False)).splitlines()
    head = next(i for i, line in enumerate(text) if line.startswith("one vs rest"))
    assert {ln.split()[0]: [int(v) for v in ln.split()[1:]] for ln in text[head + 1:head + 4]} == EXPECTED
    page = write_html([report], tmp_path / "report.html").read_text()
    assert "<th>TP</th><th>FN</th><th>FP</th><th>TN</th>" in page
    assert "<td><b>malignant</b></td><td>2</td><td>1</td><td>2</td><td>5</td>" in page


class _FakeModel:
    """A 'model' whose probabilities give PRED for the records in order (each record's meta
    holds its index)."""

    classes_ = np.array(CLASSES, dtype=object)
    manifest: dict = {}

    def predict_proba(self, records):
        return np.array([[float(c == PRED[r.meta["i"]]) for c in CLASSES] for r in records])


def test_external_validation_summary_json_and_html_hold_the_counts(tmp_path):
    from featbus._records import ImageRecord

    image = np.zeros((8, 8), np.uint8)
    records = [ImageRecord(image, meta={"i": i}) for i in range(10)]
    data = Bunch(data=records, target=np.array([CLASSES.index(t) for t in TRUE]),
                 target_names=np.array(CLASSES), groups=np.arange(10))
    result = validate(_FakeModel(), data, n_bootstrap=0)
    counts = result.confusion_counts()
    assert {c: counts.loc[c].tolist() for c in CLASSES} == EXPECTED
    text = result.summary().splitlines()
    head = next(i for i, line in enumerate(text) if line.strip().startswith("one vs rest"))
    assert "the most probable class" in text[head - 1]
    assert {ln.split()[0]: [int(v) for v in ln.split()[1:]] for ln in text[head + 1:head + 4]} == EXPECTED
    assert result.to_dict()["confusion_counts"]["malignant"] == {"TP": 2, "FN": 1, "FP": 2, "TN": 5}
    page = result.to_html(tmp_path).read_text()
    assert "<td><b>normal</b></td><td>2</td><td>1</td><td>0</td><td>7</td>" in page
    saved = json.loads((tmp_path / "validation.json").read_text())
    assert saved["confusion_counts"]["benign"] == {"TP": 3, "FN": 1, "FP": 1, "TN": 5}
