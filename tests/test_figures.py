"""One figure per quantity (issue 55).

* Every recipe figure that ``featbus recipes``, the README and the training guide quote equals
  ``benchmarks/results/recipes.json``, the output of ``benchmarks/recipes.py`` (the protocol to
  quote: duplicate-grouped k-fold CV on BUSI), measured with the recipe's settings as they ship.
* ``train`` / ``inspect`` (``describe_manifest``) print the malignant-vs-rest AUC beside the macro
  one wherever the classes include malignant; older files print what they have.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from featbus.model.format import describe_manifest
from featbus.pipelines.recipes import DEFAULT_RECIPE, RECIPES, describe_recipes

REPO = Path(__file__).resolve().parents[1]
RESULTS = json.loads((REPO / "benchmarks" / "results" / "recipes.json").read_text())
MEASURED = RESULTS["recipes"]


def fig(values, digits: int) -> str:
    """A figure with its interval as the pages print it: ``0.65 [0.61, 0.70]``."""
    v, lo, hi = values
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def shipped_settings(recipe) -> dict:
    return (dict(recipe.network, members=recipe.members) if recipe.is_network
            else {"features": list(recipe.features), "classifier": recipe.classifier})


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_every_measured_figure_is_of_the_settings_that_ship(name):
    entry = MEASURED[name]
    assert entry["shipped_settings"] is True, f"{name}: measured with overridden settings"
    assert entry["settings"] == json.loads(json.dumps(shipped_settings(RECIPES[name]))), (
        f"{name}: the recipe changed since it was measured; rerun {entry['command']}")
    assert entry["n_images"] == 625 and entry["n_splits"] >= 3


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_featbus_recipes_quotes_the_benchmark_output(name):
    figure = RECIPES[name].figure
    if name in MEASURED:
        e = MEASURED[name]
        assert figure.startswith(f"accuracy {fig(e['accuracy'], 2)}, malignant AUC {fig(e['malignant_auc'], 2)} "
                                 f"({e['n_splits']}-fold"), figure
    else:  # any other figure names its own protocol
        assert figure.startswith("not measured") or "one fold" in figure, figure
    assert figure in describe_recipes()


def test_training_guide_table_and_paired_differences_quote_the_benchmark_output():
    text = (REPO / "docs" / "guide" / "training.rst").read_text()
    rows = {m.group(1): line for line in text.splitlines() if (m := re.match(r"``([\w-]+)``\s", line))}
    for name in RECIPES:
        if name in MEASURED:
            e = MEASURED[name]
            assert f"{fig(e['accuracy'], 3)}    {fig(e['malignant_auc'], 3)}" in rows[name], rows[name]
        else:
            assert "not measured" in rows[name] or "one fold" in rows[name], rows[name]
    flat = " ".join(text.split())
    for pair, figures in RESULTS.get("paired", {}).items():
        if pair.split(" - ")[0] != DEFAULT_RECIPE:
            continue
        for metric in ("accuracy", "malignant_auc"):
            d, (lo, hi) = figures[metric]["difference"], figures[metric]["ci"]
            assert f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" in flat, (pair, metric)


def test_readme_quotes_the_benchmark_output_and_names_the_protocol():
    text = " ".join((REPO / "README.md").read_text().split())
    for name, e in MEASURED.items():
        assert f"{fig(e['accuracy'], 2)} / {fig(e['malignant_auc'], 2)} for `{name}`" in text, name
    assert "duplicate-grouped 3-fold CV" in text and "`python benchmarks/recipes.py`" in text
    # the figures measured before the recipe's epochs decided (early stopping) are gone
    assert "0.90 [0.87, 0.94]" not in text and "still early-stopped" not in text


def test_other_pages_quoting_the_default_recipe_quote_the_benchmark_output():
    e = MEASURED[DEFAULT_RECIPE]
    text = " ".join((REPO / "docs" / "guide" / "segmentation_roi.rst").read_text().split())
    assert f"default fine-tuned recipe (accuracy {fig(e['accuracy'], 2)}, ``featbus recipes``)" in text


def _manifest(classes, cv):
    return {"recipe": {"features": ["hog"], "classifier": "svm"}, "classes": classes,
            "data": {"n_images": 10, "counts": {}}, "cv": cv}


def _v(value, lo=0.1, hi=0.9):
    return {"value": value, "ci": [lo, hi]}


def test_describe_prints_the_malignant_auc_beside_the_macro_one():
    cv = {"cv": "duplicate-grouped 3-fold", "accuracy": _v(0.65), "f1": _v(0.6), "auc": _v(0.773, 0.74, 0.81),
          "per_class_auc": {"benign": _v(0.7), "malignant": _v(0.793, 0.74, 0.84), "normal": _v(0.8)}}
    line = describe_manifest(_manifest(["benign", "malignant", "normal"], cv)).splitlines()[3]
    assert line.endswith("macro auc 0.773 [0.74, 0.81], malignant auc 0.793 [0.74, 0.84]"), line
    # a file from before the per-class AUCs were stored: the macro AUC, named so
    old = {k: v for k, v in cv.items() if k != "per_class_auc"}
    line = describe_manifest(_manifest(["benign", "malignant", "normal"], old)).splitlines()[3]
    assert line.endswith("f1 0.600 [0.10, 0.90], macro auc 0.773 [0.74, 0.81]"), line
    # two classes: the one AUC is the malignant one; without malignant it stays "auc"
    two = {**cv, "per_class_auc": {"benign": _v(0.793), "malignant": _v(0.793)}, "auc": _v(0.793, 0.74, 0.84)}
    line = describe_manifest(_manifest(["benign", "malignant"], two)).splitlines()[3]
    assert line.endswith("f1 0.600 [0.10, 0.90], malignant auc 0.793 [0.74, 0.84]"), line
    mias = {**old, "auc": _v(0.602, 0.49, 0.71)}
    line = describe_manifest(_manifest(["abnormal", "normal"], mias)).splitlines()[3]
    assert line.endswith("f1 0.600 [0.10, 0.90], auc 0.602 [0.49, 0.71]"), line
