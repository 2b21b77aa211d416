"""One honest figure per quantity (issue 66): the shipped classifier is described by its own card's
leave-one-site-out, never by a backbone card's row about another recipe; a --test-fraction result
is not called an external test set."""

from __future__ import annotations

import numpy as np
import pytest

from featbus.model.describe import describe_manifest, site_cv_lines


def test_the_shipped_classifier_quotes_its_own_card():
    from featbus.model.format import read_manifest
    from featbus.networks.pretrained import get_pretrained, shipped_classifier_card

    entry = get_pretrained("breast-us", "classifier")
    manifest = read_manifest(entry.path())
    card = shipped_classifier_card(manifest)
    assert card is not None and card["name"] == "breast-us"
    text = describe_manifest(manifest)
    own = card["leave_one_site_out"]["before"]
    quoted = " / ".join(f"{site} {f['auc'][0]:.2f}" for site, f in own.items())
    assert f"(the breast-us classifier card, every part rebuilt without the site; this classifier's own recipe; " \
           f"benign-vs-malignant AUC of its lesion images): {quoted}" in text
    assert "frozen breast-us features + SVM" not in text  # the backbone card's row measured another recipe
    assert shipped_classifier_card({**manifest, "adaptation": {"method": "x"}}) is None  # an adapted copy is not it


def test_a_card_row_of_another_recipe_is_not_quoted():
    entry = {"name": "svm", "positive": "malignant", "n_bootstrap": 0, "sites": [
        {"site": "a", "n_images": 20, "trained_on": ["b"], "n_train": 30, "accuracy": {"value": 0.7, "ci": None},
         "seen_by": [{"part": "the backbone x", "n_seen": 20, "n_images": 20}]}],
        "card": {"card": "x", "label": "another recipe", "sites": {"a": {"card_site": "a", "auc": [0.8, 0.7, 0.9]}}}}
    assert "another recipe" in "\n".join(site_cv_lines(entry))
    assert "another recipe" not in "\n".join(site_cv_lines(entry, other_recipe=True))
    assert "honest, card" not in "\n".join(site_cv_lines(entry, other_recipe=True))


def test_held_out_images_of_the_same_data_are_no_external_test_set():
    from sklearn.linear_model import LogisticRegression

    from featbus.evaluation import evaluate_external

    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 20)
    X = rng.normal(size=(40, 2)) + y[:, None] * 3
    model = LogisticRegression().fit(X[::2], y[::2])
    r = evaluate_external(model, X[1::2], y[1::2], n_bootstrap=0,
                          source="held-out images of the same data set (--test-fraction)")
    assert r.cv == "held-out images of the same data set (--test-fraction)"
    assert r.sanity.basis == "held-out images of the same data set (--test-fraction), 20 images"
    assert "external" not in r.sanity.basis
    assert evaluate_external(model, X[1::2], y[1::2], n_bootstrap=0).cv == "external test set"


@pytest.mark.parametrize("kind", ["benign-vs-malignant"])
def test_the_promise_of_the_shipped_classifier_is_its_cards_lowest_site(kind):
    from featbus.evaluation.validation import promise_of
    from featbus.model.format import read_manifest
    from featbus.networks.pretrained import get_pretrained

    entry = get_pretrained("breast-us", "classifier")
    manifest = read_manifest(entry.path())
    promise = promise_of(None, manifest, "malignant", manifest["classes"])
    before = entry.card()["leave_one_site_out"]["before"]
    assert promise["auc"] == min(f["auc"][0] for f in before.values()) and promise["judges"] and promise["card"]
    assert kind in promise["what"]
