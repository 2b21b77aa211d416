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
