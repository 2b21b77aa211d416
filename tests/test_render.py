"""One renderer (featbus.evaluation.render): every judge's words come from it, read from public
attributes only, and a figure of the lesion-or-normal decision is written where a model can call
an image normal."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from featbus.evaluation import render

RENDER = Path(render.__file__)


def test_the_renderer_reads_no_private_member_of_another_object():
    tree = ast.parse(RENDER.read_text(encoding="utf-8"))
    private = [f"{node.value.id}.{node.attr} (line {node.lineno})" for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
               and isinstance(node.value, ast.Name) and node.value.id not in ("self", "cls")]
    assert private == []


def test_every_judge_prints_what_the_renderer_writes():
    from sklearn.linear_model import LogisticRegression

    from featbus.evaluation import evaluate
    from featbus.evaluation.sites import leave_one_site_out

    rng = np.random.RandomState(0)
    y = np.tile(["benign", "malignant"], 30)
    X = rng.normal(size=(60, 3)) + (y == "malignant")[:, None] * 1.5
    rep = evaluate(LogisticRegression(), X, y, cv="stratified", n_splits=3, n_bootstrap=20, progress=False)
    assert rep.summary() == render.report_text(rep) and rep.summary(verdict=False) == render.report_text(rep, False)
    assert render.report_line(rep).startswith(f"{rep.name}: accuracy {rep.value('accuracy'):.3f}")
    table = render.reports_table({"cv": [rep]}, "malignant")
    assert table.splitlines()[0].split()[:2] == ["pipeline", "cv:accuracy"] and rep.name in table
    assert render.holdout_line(rep, decided_at_point=True).startswith(
        f"held-out ({len(rep.y_true)} images never seen in this training): accuracy {rep.value('accuracy'):.3f} [")
    sites = leave_one_site_out(LogisticRegression(), X, y, np.repeat(["a", "b", "c"], 20), n_bootstrap=0)
    assert sites.summary() == render.site_report_text(sites)


def test_the_lesion_or_normal_line_is_written_for_a_model_that_can_call_normal():
    from featbus.evaluation.validation import ExternalValidation
    from featbus.metrics import OperatingPoint

    classes = ["benign", "malignant", "normal"]
    y = np.array(["benign", "malignant", "malignant", "normal"] * 5)
    P = np.tile([[.6, .2, .2], [.1, .8, .1], [.2, .2, .6], [.1, .1, .8]], (5, 1))
    point = OperatingPoint("malignant", 0.4, absent="normal", presence=OperatingPoint("lesion", 0.5, chosen_on="x"))
    r = ExternalValidation.from_predictions(y, P, classes=classes, operating_point=point, n_bootstrap=0)
    line = render.lesion_or_normal_line(r)
    # by hand: 15 lesion images, 5 (malignant with p(normal) 0.6) called normal; of 10 malignant, 5; 5 of 5 normal
    assert line == ("the lesion-or-normal decision: lesions called normal 0.333, malignant called normal 0.500, "
                    "normal scans called normal 1.000")
    assert line in r.summary() and r.to_dict()["operating_points"]["model"]["called_normal"]["value"] == 0.5
    two = ExternalValidation.from_predictions(y[y != "normal"], P[y != "normal"][:, :2], classes=classes[:2],
                                              n_bootstrap=0)
    assert render.lesion_or_normal_line(two) == "" and "lesion-or-normal" not in two.summary()


def test_an_undefined_figure_says_why():
    """compare's n/a gives the real reason (no normal scans here), not the seen mark that follows it."""
    from featbus.evaluation.render import _undefined_reason

    labels = ["benign", "malignant", "benign"]
    assert _undefined_reason(labels, "normals_called_normal") == "no normal scans here"
    assert _undefined_reason(["normal"], "lesions_called_normal") == "no lesion images here"
    assert _undefined_reason(["benign"], "called_normal", "malignant") == "no malignant images here"
    assert _undefined_reason(labels, "sensitivity[cyst]") == "no cyst images here"
    assert _undefined_reason(labels, "auc", "malignant") == "not defined on these images"
