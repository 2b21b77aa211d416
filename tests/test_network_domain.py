"""An out-of-domain reference for network models (issue 42): the fine-tuned embeddings of the
training images, the threshold from the validation images the network never trained on.

A tiny FineTunedCNN (no ImageNet weights, 32 px, 2 epochs) on phantoms. Tolerances: the
out-of-domain score of a saved and reloaded model is compared with ``atol=1e-4`` (float32
activations, as in tests/test_finetune.py), held-out distances with the reference's own
``rtol=1e-6`` (its axes are stored as float32); "phantoms mostly not flagged" allows 20 % of 40
new phantoms, since a 0.99 quantile of about 30 held-out distances is close to their maximum
and the realised rate varies with the draw (a checkerboard scores several times the threshold).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from featbus import make_phantoms
from featbus.model.domain import MIN_HELD_OUT, DomainReference, manifest_entry

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

SIZE = 48


def _checkerboard() -> np.ndarray:
    return (np.indices((SIZE, SIZE)).sum(axis=0) % 2 * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def network_model():
    pytest.importorskip("tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from featbus.features.finetune import FineTunedCNN
    from featbus.workflows.training import train_model

    net = FineTunedCNN(weights=None, input_size=32, epochs=2, warmup_epochs=1, batch_size=16,
                       validation_fraction=0.3, patience=None, progress=False, random_state=0)
    return train_model(make_phantoms(100, image_size=SIZE, random_state=0), network=net, progress=False)


def test_held_out_rows_set_the_threshold():
    rng = np.random.default_rng(0)
    X, X_val = rng.normal(size=(200, 10)), rng.normal(size=(60, 10))
    ref = DomainReference(n_components=6).fit(X, X_val=X_val)
    assert ref.threshold_from_ == "held-out" and ref.n_samples_fit_ == 200
    # the fitted reference keeps its axes in float32: distances agree to about 1e-7
    np.testing.assert_allclose(ref.training_distances_, ref.distance(X_val), rtol=1e-6)
    assert ref.threshold_ == pytest.approx(np.quantile(ref.distance(X_val), 0.99), rel=1e-6)
    entry = manifest_entry(ref)
    assert entry["threshold_from"] == "held-out" and entry["n_images"] == 200 and entry["n_threshold_images"] == 60
    assert "60 held-out images" in entry["about"]
    crossed = DomainReference(n_components=6).fit(X)
    assert crossed.threshold_from_ == "cross-fitted" and manifest_entry(crossed)["n_threshold_images"] == 200
    with pytest.raises(ValueError, match=f"X_val holds 5 rows: .* at least {MIN_HELD_OUT}"):
        DomainReference(n_components=6).fit(X, X_val=X_val[:5])
    with pytest.raises(ValueError, match="features"):
        DomainReference(n_components=6).fit(X, X_val=X_val[:, :4])


def test_network_model_flags_a_checkerboard_not_phantoms(network_model):
    entry = network_model.manifest["domain"]
    net = network_model.networks[0]
    assert entry["threshold_from"] == "held-out"
    assert entry["n_threshold_images"] == len(net.validation_indices_) >= MIN_HELD_OUT
    assert entry["n_images"] == 100 - len(net.validation_indices_)
    assert entry["n_features"] == net.n_features_out_ and "embeddings" in entry["space"]
    table = network_model.predict_table([*make_phantoms(40, image_size=SIZE, random_state=5).images, _checkerboard()])
    assert {"out_of_domain", "unlike_training"} <= set(table.columns)
    assert table["unlike_training"].iloc[-1] is True
    assert table["out_of_domain"].iloc[-1] > 1
    assert np.mean(table["unlike_training"].iloc[:-1].astype(bool)) <= 0.2


def test_network_reference_round_trips(network_model, tmp_path):
    from featbus.model import load_model

    images = [*make_phantoms(6, image_size=SIZE, random_state=2).images, _checkerboard()]
    before = network_model.predict_table(images)
    path = tmp_path / "net.featbus"
    network_model.save(path)
    back = load_model(path)
    assert back.domain is not None and back.manifest["domain"] == network_model.manifest["domain"]
    after = back.predict_table(images)
    np.testing.assert_allclose(after["out_of_domain"], before["out_of_domain"], atol=1e-4)
    assert after["unlike_training"].tolist() == before["unlike_training"].tolist()


def test_without_a_validation_split_the_threshold_is_cross_fitted_and_said():
    pytest.importorskip("tensorflow")
    from featbus.features.finetune import FineTunedCNN
    from featbus.workflows.training import train_model

    net = FineTunedCNN(weights=None, input_size=32, epochs=1, warmup_epochs=0, batch_size=16, validation_fraction=0,
                       progress=False, random_state=0)
    model = train_model(make_phantoms(30, image_size=SIZE, random_state=0), network=net, progress=False)
    entry = model.manifest["domain"]
    assert entry["threshold_from"] == "cross-fitted" and entry["n_images"] == 30
    assert "the network trained on every image its threshold was taken from" in entry["caveat"]
    assert model.predict_table([_checkerboard()])["out_of_domain"].notna().all()
