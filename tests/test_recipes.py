"""Network recipes end to end: model files holding fine-tuned networks and ensembles, the recipe
table, featbus train --recipe and its refusals, Grad-CAM and TFLite export of such models."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

pytest.importorskip("keras")

from conftest import ENSEMBLE_PHANTOMS  # noqa: E402

from featbus import make_phantoms  # noqa: E402
from featbus.cli import main  # noqa: E402
from featbus.features.finetune import FineTunedCNN, FineTunedEnsemble, NetworkHead  # noqa: E402
from featbus.model import load_model  # noqa: E402
from featbus.pipelines.recipes import (  # noqa: E402
    DEFAULT_RECIPE,
    OVERRIDES,
    RECIPES,
    build_network,
    describe_recipes,
    get_recipe,
    time_text,
)
from featbus.workflows.training import train_model

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

#: Probabilities of a model file in a new process: the same network, the same CPU; float32
#: kernels may pick other summation orders in another process.
NEW_PROCESS_ATOL = 1e-5


def _net(**kw):
    params = dict(weights=None, input_size=32, epochs=1, warmup_epochs=1, batch_size=8, progress=False,
                  validation_fraction=0.25, random_state=0)
    params.update(kw)
    return FineTunedCNN(**params)


@pytest.fixture(scope="module")
def data():
    return make_phantoms(**ENSEMBLE_PHANTOMS)


@pytest.fixture(scope="module")
def ensemble_model(phantom_ensemble):
    """Two of _net(tta=True) averaged, trained on ``data``: the shared one (conftest.phantom_ensemble)."""
    return phantom_ensemble


def test_recipe_table_is_complete_and_listed():
    assert {"handcrafted", "frozen-cnn", "finetuned-lite0", "best"} <= set(RECIPES)
    assert DEFAULT_RECIPE in RECIPES and RECIPES[DEFAULT_RECIPE].is_network
    text = " ".join(describe_recipes().split())  # a long time text may wrap
    for r in RECIPES.values():
        assert r.name in text and " ".join(time_text(r).split()) in text and r.figure
        assert r.cpu_time.partition(" (")[0] in time_text(r)  # the figure itself, its place after it
    with pytest.raises(ValueError, match="known: handcrafted"):
        get_recipe("bestest")
    best = build_network(get_recipe("best"), overrides={"members": 2, "epochs": 1, "image_size": 64})
    assert isinstance(best, FineTunedEnsemble) and best.n_members == 2
    assert best.estimator.epochs == 1 and best.estimator.input_size == 64
    other = build_network(get_recipe("finetuned-lite0"), overrides={"backbone": "mobilenet_v2"})
    assert other.backbone == "mobilenet_v2" and other.input_size is None  # the new backbone's own size
    with pytest.raises(ValueError, match="unknown recipe settings"):
        build_network(get_recipe("finetuned-lite0"), overrides={"learning_rate": 1})
    assert set(OVERRIDES) == {"backbone", "image_size", "epochs", "members", "batch_size", "weights",
                              "mixed_precision"}


def test_segmenter_recipes_build_checked_segmenters_and_are_listed():
    from featbus.pipelines.recipes import DEFAULT_SEGMENTER_RECIPE, SEGMENTER_RECIPES, build_segmenter

    text = describe_recipes()
    assert DEFAULT_SEGMENTER_RECIPE in SEGMENTER_RECIPES and "segment train --recipe" in text
    for r in SEGMENTER_RECIPES.values():
        seg = build_segmenter(r.name)
        seg._check_params()  # every recipe's settings pass the estimator's own checks
        assert seg.get_params() == {**seg.get_params(), **r.params}
        assert r.summary in text and r.figure in text
    seg = build_segmenter("best", input_size=64, epochs=None)  # None: keep the recipe's
    assert seg.input_size == 64 and seg.epochs == 21 and seg.n_members == 2 and seg.empty_masks == "skip"
    with pytest.raises(ValueError, match="unknown segmentation recipe 'fast'; known: default, best"):
        build_segmenter("fast")
    with pytest.raises(ValueError, match="unknown UNetSegmenter parameters"):
        build_segmenter("default", encoder_lr=1)


def test_ensemble_model_file_round_trips_in_a_new_process(ensemble_model, data, tmp_path):
    m = ensemble_model
    assert isinstance(m.head, NetworkHead) and m.classes_.tolist() == ["benign", "malignant", "normal"]
    assert m.manifest["cv"]["cv"].startswith("duplicate-grouped validation split")
    assert len(m.manifest["training"]["members"]) == 2
    assert "held-out validation" in m.describe() and "training on" in m.describe()
    ours = m.predict_proba(data.images[:5])
    # the averaged members' own heads
    members = m.features.transformer_list[0][1].members_
    np.testing.assert_allclose(ours, np.mean([n.predict_proba(data.images[:5]) for n in members], axis=0),
                               atol=1e-6)
    path = m.save(tmp_path / "ens.featbus")
    np.save(tmp_path / "images.npy", np.stack(data.images[:5]))
    np.save(tmp_path / "ours.npy", ours)
    code = textwrap.dedent(f"""
        import numpy as np
        from featbus.model import load_model
        m = load_model({str(path)!r})
        p = m.predict_proba(list(np.load({str(tmp_path / "images.npy")!r})))
        np.testing.assert_allclose(p, np.load({str(tmp_path / "ours.npy")!r}), atol={NEW_PROCESS_ATOL})
        print("same")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "same" in proc.stdout, proc.stderr[-2000:]


def test_single_network_model_file_and_tampering(data, tmp_path):
    m = train_model(data, recipe=None, network=_net(), n_bootstrap=0, progress=False)
    path = m.save(tmp_path / "one.featbus")
    again = load_model(path)
    np.testing.assert_allclose(again.predict_proba(data.images[:3]), m.predict_proba(data.images[:3]),
                               atol=NEW_PROCESS_ATOL)
    # a changed byte in the pipeline: the file is damaged, nothing of it is loaded
    blob = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("pipeline.skops")
    blob[info.header_offset + 200] ^= 0xFF
    bad = tmp_path / "bad.featbus"
    bad.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="damaged"):
        load_model(bad)


def test_grad_cam_and_export_of_a_network_model(ensemble_model, data, tmp_path):
    pytest.importorskip("tensorflow")
    from featbus.deploy.explain import explain, supports_grad_cam
    from featbus.deploy.export import TFLiteModel, export_tflite, prepare_input
    from featbus.networks.backend import backend_name

    assert supports_grad_cam(ensemble_model)
    out = explain(ensemble_model, data.images[0])
    assert out["method"] == "gradcam" and out["map"].shape == data.images[0].shape
    assert 0 <= out["map"].min() and out["map"].max() <= 1
    if backend_name() != "tensorflow":
        pytest.skip("TFLite export runs on the TensorFlow backend")
    path = export_tflite(ensemble_model, tmp_path / "ens.tflite")
    lite = TFLiteModel(path)
    p = np.vstack([lite.predict_proba(prepare_input(ensemble_model, im)) for im in data.images[:4]])
    # tolerance: the TFLite kernels' float32 rounding, both members and their mirror views
    np.testing.assert_allclose(p, ensemble_model.predict_proba(data.images[:4]), atol=1e-4)


def test_feature_recipe_from_python(data):
    m = train_model(data, recipe="handcrafted", n_bootstrap=0, n_splits=3, progress=False)
    assert m.manifest["recipe"]["name"] == "handcrafted" and m.manifest["recipe"]["features"] == "hog,lbp,intensity"
    with pytest.raises(ValueError, match="has no network"):
        train_model(data, recipe="handcrafted", recipe_overrides={"epochs": 3}, progress=False)


def test_cli_recipe_choices_and_refusals(tmp_path, capsys):
    assert main(["recipes"]) == 0
    assert DEFAULT_RECIPE in capsys.readouterr().out
    root = tmp_path / "data"
    from PIL import Image

    ph = make_phantoms(12, image_size=48, random_state=0)
    for i, (img, t) in enumerate(zip(ph.images, ph.target)):
        folder = root / str(ph.target_names[t])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"i{i}.png")
    out = str(tmp_path / "m.featbus")
    for argv, message in [
        (["--recipe", "nope"], "unknown recipe"),
        (["--recipe", "best", "-f", "lbp"], "--recipe chooses"),
        (["-f", "lbp", "--epochs", "3"], "has no network"),
        (["--recipe", "handcrafted", "--members", "2"], "has no network"),
        (["--recipe", "finetuned-lite0", "-b", "smote"], "--balance does not apply"),
    ]:
        assert main(["train", str(root), *argv, "-o", out, "-q"]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_train_options_leave_the_other_commands_defaults_alone():
    # argparse shares option objects between parsers built on one parent: train's "no -f given"
    # default must not become extract's or evaluate's
    # (each command fills its own default when neither -f nor --params is given)
    from featbus.cli import build_parser
    from featbus.cli._options import _DEF_FEATURES, _apply_settings

    parser = build_parser()
    for argv in (["extract", "d", "-o", "x.csv"], ["evaluate", "d"]):
        args = parser.parse_args(argv)
        _apply_settings(args, _DEF_FEATURES)
        assert args.features == _DEF_FEATURES and args.feature_specs is None
    args = parser.parse_args(["train", "d", "-o", "m.featbus"])
    _apply_settings(args, None)
    assert args.features is None
