"""An adapted file carries its parent's card and promise (``manifest["parent"]``, ``manifest["promise"]``),
so that validate judges it against what its parent promised, not against its own record."""

from __future__ import annotations

import numpy as np

from featbus import adapt, make_phantoms


def test_an_adapted_file_carries_its_parents_promise_and_a_readapted_one_keeps_the_first(tmp_path):
    from featbus.evaluation.validation import promise_of
    from featbus.model import load_model
    from featbus.workflows.training import train_model

    model = train_model(make_phantoms(40, image_size=48, random_state=0), "intensity,lbp", classifier="svm",
                        n_bootstrap=20, progress=False)
    path = tmp_path / "parent.featbus"
    model.save(path)
    site = make_phantoms(30, image_size=48, random_state=1)
    images = [np.clip(im.astype(float) * 1.1, 0, 255).astype(np.uint8) for im in site.images]
    adapted = adapt(path, images, force=True)
    parent, promise = adapted.manifest["parent"], adapted.manifest["promise"]
    expected = promise_of(model, model.manifest, "malignant", [str(c) for c in model.classes_])
    assert expected is not None and promise == expected
    assert parent["file"] == "parent.featbus" and parent["name"] == "parent" and parent["card"] is None
    assert parent["pipeline_sha256"] == model.manifest["pipeline_sha256"]
    # saved and read back; adapted again, it keeps its first parent's promise
    out = tmp_path / "adapted.featbus"
    adapted.save(out)
    again = adapt(out, images, force=True)
    assert again.manifest["parent"] == load_model(out).manifest["parent"] and again.manifest["promise"] == promise


def test_the_renderer_writes_the_adaptation_as_words_and_json():
    """featbus.evaluation.render.render_adaptation: the words adapt prints, and JSON without the card."""
    import json

    import pytest

    from featbus.evaluation.render import render_adaptation
    from featbus.workflows.training import train_model

    site = make_phantoms(30, image_size=48, random_state=1)
    trained = train_model(make_phantoms(40, image_size=48, random_state=0), "intensity", classifier="logreg",
                          n_bootstrap=0, progress=False)
    adapted = adapt(trained, site.images, force=True)
    text = render_adaptation(adapted.manifest, source="m.featbus", what="30 unlabelled images")
    first, second = text.splitlines()[:2]  # first what moved, then on what
    assert first == "moved: statistics re-estimated (standardise: 1 part of the model)", first
    assert second == "adapted m.featbus to 30 unlabelled images (method standardise)"
    assert "  out of domain before adapting:" in text
    as_json = render_adaptation(adapted.manifest, kind="json")
    assert json.loads(json.dumps(as_json))["adaptation"]["n_images"] == 30
    assert "card" not in as_json["parent"] and as_json["promise"]["auc"] == adapted.manifest["promise"]["auc"]
    with pytest.raises(ValueError, match="kind must be 'text' or 'json'"):
        render_adaptation(adapted.manifest, kind="html")
