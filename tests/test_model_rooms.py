"""A model's three rooms (issue 44): predicting imports nothing of training.

:mod:`featbus.model.format` (the file and its trust rules), :mod:`featbus.model` (the loaded
model) and :mod:`featbus.workflows.training` (``train_model``). Loading a saved file and predicting,
from Python or with ``featbus predict``, in a fresh process, must leave the training room and
the modules only training needs out of ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featbus.datasets import make_phantoms

REPO = Path(__file__).resolve().parents[1]

#: modules that only training (or cross-validating) needs
TRAINING_ONLY = ("featbus.workflows.training", "featbus.evaluation", "featbus.model_selection", "featbus.networks.training")


@pytest.fixture(autouse=True)
def own_trust_list(tmp_path, monkeypatch):
    """Never read or write the user's real trust list."""
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small handcrafted model file and two PNG images, made once."""
    from featbus.workflows.training import train_model

    folder = tmp_path_factory.mktemp("rooms")
    data = make_phantoms(24, image_size=48, random_state=0)
    model = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False)
    path = model.save(folder / "m.featbus", trust=False)
    images = []
    for i, rec in enumerate(make_phantoms(2, image_size=48, random_state=1).data):
        images.append(str(folder / f"im{i}.png"))
        Image.fromarray(np.asarray(rec.image)).save(images[-1])
    return str(path), images, model.predict(images).tolist()


def _fresh(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_load_and_predict_import_nothing_of_training(saved):
    path, images, expected = saved
    got = _fresh("import json, sys; from featbus.model import load_model; m = load_model(sys.argv[1]); "
                 "p = m.predict(sys.argv[2:]).tolist(); "
                 "print(json.dumps({'p': p, 'modules': sorted(k for k in sys.modules if k.startswith('featbus'))}))",
                 path, *images)
    assert got["p"] == expected
    assert "featbus.model.format" in got["modules"]
    # recipes (train --recipe) and the segmenters are training's too, for a model without a segmenter
    assert not set(got["modules"]) & {*TRAINING_ONLY, "featbus.pipelines.recipes", "featbus.segmentation"}, \
        got["modules"]


def test_featbus_predict_imports_nothing_of_training(saved):
    path, images, expected = saved
    got = _fresh("import io, json, sys, contextlib; from featbus.cli import main; out = io.StringIO()\n"
                 "with contextlib.redirect_stdout(out): rc = main(['predict', *sys.argv[1:]])\n"
                 "print(json.dumps({'rc': rc, 'csv': out.getvalue(), "
                 "'modules': sorted(k for k in sys.modules if k.startswith('featbus'))}))", path, *images)
    assert got["rc"] == 0
    rows = got["csv"].strip().splitlines()[1:]
    assert [r.split(",")[1] for r in rows] == expected
    assert not set(got["modules"]) & set(TRAINING_ONLY), got["modules"]


def test_the_rooms_import_one_way():
    """format <- model <- training: the loaded model never imports training, the format neither."""
    from test_code_quality import import_graph

    graph = import_graph()
    loaded = graph["featbus.model.loaded"]
    assert not {"featbus.workflows.training", "featbus.model_selection", "featbus.pipelines.recipes",
                "featbus.networks.training"} & loaded
    assert not {m for m in loaded if m.startswith("featbus.evaluation")}
    assert not {"featbus.model.loaded", "featbus.workflows.training"} & graph["featbus.model.format"]
    assert {"featbus.model.loaded", "featbus.model.format"} <= graph["featbus.workflows.training"]


def test_the_loaded_model_leads_to_no_training_and_no_feature_family():
    """``featbus.model`` has no route back to training (the former ``train_model`` shim made a cycle), and
    nothing it imports, however deep, is a feature family: the out-of-domain score reads the scaled space
    through :mod:`featbus.compute.scaling`."""
    import featbus.model

    assert not hasattr(featbus.model, "train_model")
    from test_code_quality import import_graph

    graph, seen, todo = import_graph(), set(), ["featbus.model"]
    while todo:
        for dep in graph[todo.pop()] - seen:
            seen.add(dep)
            todo.append(dep)
    assert not {m for m in seen if m.startswith("featbus.features")}
    assert "featbus.workflows.training" not in seen


@pytest.mark.slow  # builds a network
def test_featbus_predict_on_a_frozen_cnn_model_imports_nothing_of_training(tmp_path):
    """The issue's own case: a frozen-CNN model file (Lite0 features + SVM), predicted with
    ``featbus predict`` in a fresh process, leaves the training modules unimported."""
    pytest.importorskip("tensorflow")
    from featbus import DeepFeatures
    from featbus.workflows.training import train_model

    data = make_phantoms(24, image_size=48, random_state=0)
    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32)
    model = train_model(data, [("lite0", deep)], classifier="svm", cross_validate=False, progress=False)
    path = model.save(tmp_path / "cnn.featbus", trust=False)
    image = str(tmp_path / "im.png")
    Image.fromarray(np.asarray(make_phantoms(1, image_size=48, random_state=1).data[0].image)).save(image)
    got = _fresh("import io, json, sys, contextlib; from featbus.cli import main; out = io.StringIO()\n"
                 "with contextlib.redirect_stdout(out): rc = main(['predict', *sys.argv[1:]])\n"
                 "print(json.dumps({'rc': rc, 'modules': sorted(k for k in sys.modules if k.startswith('featbus'))}))",
                 str(path), image)
    assert got["rc"] == 0 and "featbus.features.deep" in got["modules"]
    assert not set(got["modules"]) & set(TRAINING_ONLY), got["modules"]
