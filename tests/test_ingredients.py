"""The ingredient tables: every entry builds, its grid applies, its capabilities are true."""

import importlib.util

import pytest
from sklearn.base import clone

from featbus.pipelines import make_classification_pipeline, make_classifier, param_grid
from featbus.pipelines.ingredients import (
    CLASSIFIER_TABLE,
    SAMPLER_TABLE,
    SELECTOR_TABLE,
    aliases,
    build,
    find,
    grid_of,
)

TABLES = {"classifier": CLASSIFIER_TABLE, "balance": SAMPLER_TABLE, "select": SELECTOR_TABLE}
ENTRIES = [(what, entry) for what, table in TABLES.items() for entry in table.values()]


def _available(entry) -> bool:
    return entry.estimator is None or importlib.util.find_spec(entry.estimator.split(".")[0]) is not None


@pytest.mark.parametrize(("what", "entry"), ENTRIES, ids=[f"{w}-{e.names[0]}" for w, e in ENTRIES])
def test_entry_builds_and_its_grid_applies(what, entry):
    if not _available(entry):
        pytest.skip(f"{entry.estimator} is not installed")
    if entry.estimator is None:  # class weights: no step of its own
        assert make_classification_pipeline(None, balance=entry.names[0]).steps[-1][1].class_weight == "balanced"
        return
    settings = {"random_state": 3, "n_jobs": 2, **({"class_weight": "balanced"} if what == "classifier" else {})}
    est = build(entry, **{k: v for k, v in settings.items() if k in entry.takes})
    clone(est)  # a proper estimator
    params = est.get_params(deep=True)
    inner = {k.removeprefix("estimator__"): v for k, v in params.items()} if "estimator" in params else params
    for setting in entry.takes:  # what it claims to take reaches the estimator it builds
        assert any((k.split("__")[-1] == setting and v == settings[setting])  # a seeded scoring function:
                   or getattr(v, "keywords", {}).get(setting) == settings[setting] for k, v in params.items()), setting
    assert set(entry.grid) <= set(inner) | set(params), entry.grid
    pipe = make_classification_pipeline(None, **{what: entry.names[0]})
    grid = param_grid(pipe)
    assert len([k for k in grid if k.startswith(f"{what}__")]) == len(entry.grid)
    for key in grid:
        pipe.set_params(**{key: grid[key][0]})  # every key is a real parameter


def test_names_and_aliases_are_unique_and_found():
    for what, table in TABLES.items():
        names = [n for e in table.values() for n in e.names]
        assert len(names) == len(set(names)), what
        for name in names:
            assert find(table, name.upper(), what) is table[aliases(table)[name]]
        with pytest.raises(ValueError, match=f"unknown {what} 'nope'; choose from"):
            find(table, "nope", what)


def test_class_weight_refused_by_classifiers_without_it():
    for entry in CLASSIFIER_TABLE.values():
        if "class_weight" not in entry.takes and _available(entry):
            with pytest.raises(ValueError, match="takes no class weights"):
                make_classifier(entry.names[0], class_weight="balanced")


def test_grid_of_foreign_instances():
    from imblearn.combine import SMOTEENN
    from sklearn.svm import SVC

    assert grid_of(SVC(), CLASSIFIER_TABLE) == CLASSIFIER_TABLE["svm"].grid
    assert grid_of(SMOTEENN(), SAMPLER_TABLE) == {}  # no inner SMOTE to tune: the key is left out
    assert grid_of(object(), CLASSIFIER_TABLE) == {}


def test_unknown_balance_and_select_list_none_first():
    from featbus.pipelines import make_sampler, make_selector

    with pytest.raises(ValueError, match=r"unknown balance 'nope' \(did you mean 'none'\?\); choose from none, adasyn"):
        make_sampler("nope")
    with pytest.raises(ValueError, match=r"unknown select 'nope' \(did you mean 'none'\?\); choose from none, anova"):
        make_selector("nope")
    assert make_classification_pipeline(None, balance="class-weight").steps[-1][1].class_weight == "balanced"
    assert make_classification_pipeline(None, balance="smote").steps[-1][1].class_weight is None
