"""The one training engine (featbus.networks.training): schedules, phases, parts, stopping, interruption.

These tests use a tiny Keras model on any backend; tests/test_backends.py runs the estimators
built on the engine under JAX and PyTorch as well.
"""

import numpy as np
import pytest

pytest.importorskip("keras")

from featbus.networks.training import Phase, learning_rate_at, train  # noqa: E402

# trains or builds networks (python -m pytest -m "not slow" leaves it out), with TensorFlow's functions
# compiled as outside the tests (conftest.pytest_configure: the other tests run them eagerly)
pytestmark = [pytest.mark.slow, pytest.mark.compiled]


def test_cosine_schedule_warms_up_then_decays_to_zero():
    lrs = [learning_rate_at(s, 50, 10, 1e-3) for s in range(50)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)  # linear ramp, first epoch
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # then never increases
    assert lrs[-1] < 1e-6
    assert [learning_rate_at(s, 2, 1, 1e-3) for s in range(2)] == [1e-3, 1e-3]  # one step per epoch: no 0/0
    assert learning_rate_at(0, 5, 0, 1e-3) == pytest.approx(1e-3)  # no ramp


def test_cosine_schedule_ends_with_the_time_budget():
    peak = 1e-3
    assert learning_rate_at(10, 50, 10, peak) == pytest.approx(peak)  # right after the ramp, by steps
    assert learning_rate_at(10, 50, 10, peak, time_fraction=0.5) == pytest.approx(peak / 2)
    assert learning_rate_at(10, 50, 10, peak, time_fraction=1.0) == pytest.approx(0.0, abs=1e-12)
    # the clock never slows the schedule: steps still end it at the last epoch
    assert learning_rate_at(49, 50, 10, peak, time_fraction=0.1) == pytest.approx(0.0, abs=1e-12)


def _problem(seed=0, n=64):
    """A two-layer regression network and its data (one 'body' layer, one 'head' layer)."""
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32))[:, None]
    inp = keras.Input((4,))
    body = keras.layers.Dense(8, name="body")
    head = keras.layers.Dense(1, name="head")
    model = keras.Model(inp, head(body(inp)))

    def loss_fn(xb, yb):
        return keras.ops.mean(keras.ops.square(model(xb, training=True) - yb))

    def batches(phase, epoch):
        order = np.random.default_rng([seed, epoch]).permutation(n)
        for i in range(0, n, 16):
            yield x[order[i:i + 16]], y[order[i:i + 16]]

    def mse():
        return float(np.mean((np.asarray(model.predict(x, verbose=0)) - y) ** 2))

    return model, loss_fn, batches, mse


def test_training_lowers_the_loss_and_records_history():
    model, loss_fn, batches, mse = _problem()
    before = mse()
    hist = train(model, loss_fn, [Phase("train", 5, {"all": 0.05})], batches, 4,
                 validate=lambda: {"val_loss": mse()})
    assert mse() < 0.5 * before
    assert [e["epoch"] for e in hist["epochs"]] == list(range(5))
    first = hist["epochs"][0]
    assert {"phase", "loss", "val_loss", "learning_rates", "seconds"} <= set(first)
    assert hist["stopped"] == "epochs" and hist["backend"] in ("tensorflow", "jax", "torch")
    assert hist["device"] == "cpu" or hist["device"].startswith("gpu")
    # the kept weights are those of the best validation epoch
    best = min(hist["epochs"], key=lambda e: e["val_loss"])
    assert hist["best_epoch"] == best["epoch"] and mse() == pytest.approx(best["val_loss"], rel=1e-4)


def test_parts_train_at_their_own_rates_and_phases_set_what_trains():
    model, loss_fn, batches, _ = _problem(1)
    body0 = [np.array(w) for w in model.get_layer("body").get_weights()]
    head0 = [np.array(w) for w in model.get_layer("head").get_weights()]

    def freeze_body():
        model.get_layer("body").trainable = False

    hist = train(model, loss_fn, [Phase("warmup", 2, {"head": 0.05}, schedule="constant", setup=freeze_body)],
                 batches, 4, part_of=lambda v: "head" if v.path.startswith("head") else "body")
    # only the head moved, at the constant rate
    for a, b in zip(body0, model.get_layer("body").get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not all(np.allclose(a, b) for a, b in zip(head0, model.get_layer("head").get_weights()))
    assert all(e["learning_rates"] == {"head": pytest.approx(0.05)} for e in hist["epochs"])

    def unfreeze():
        model.get_layer("body").trainable = True

    with pytest.raises(ValueError, match="without a learning rate"):  # every trained part needs a rate
        train(model, loss_fn, [Phase("all", 1, {"head": 0.05}, setup=unfreeze)], batches, 4,
              part_of=lambda v: "head" if v.path.startswith("head") else "body")


def test_early_stopping_and_plateau_halving():
    model, loss_fn, batches, _ = _problem(2)
    values = iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1])
    hist = train(model, loss_fn, [Phase("train", 8, {"all": 0.01}, schedule="plateau")], batches, 4,
                 validate=lambda: {"val_loss": next(values)}, patience=4)
    assert hist["stopped"] == "early_stopping" and len(hist["epochs"]) == 6 and hist["best_epoch"] == 1
    rates = [e["learning_rates"]["all"] for e in hist["epochs"]]
    assert rates[:4] == [pytest.approx(0.01)] * 4 and rates[4] == pytest.approx(0.005)  # halved after 2 bad
    # "max" mode: higher is better
    values = iter([0.1, 0.2, 0.15, 0.12])
    hist = train(model, loss_fn, [Phase("train", 4, {"all": 0.01})], batches, 4,
                 validate=lambda: {"val_dice": next(values)}, monitor="val_dice", mode="max", patience=10)
    assert hist["best_epoch"] == 1


def test_time_budget_stops_after_the_batch():
    model, loss_fn, batches, _ = _problem(3)
    hist = train(model, loss_fn, [Phase("train", 50, {"all": 0.01})], batches, 4, max_time=1e-9)
    assert hist["stopped"] == "max_time" and len(hist["epochs"]) == 1


def test_interruption_restores_the_best_weights_and_reraises():
    model, loss_fn, batches, mse = _problem(4)
    seen = []

    def validate():
        seen.append([np.array(w) for w in model.get_weights()])
        if len(seen) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second epoch's validation
        return {"val_loss": 1.0}

    with pytest.raises(KeyboardInterrupt):
        train(model, loss_fn, [Phase("train", 5, {"all": 0.05})], batches, 4, validate=validate, progress=True)
    for a, b in zip(seen[0], model.get_weights()):  # the first (and best) epoch's weights are back
        np.testing.assert_allclose(a, b)


def test_bad_schedule_is_refused():
    model, loss_fn, batches, _ = _problem()
    with pytest.raises(ValueError, match="schedule must be one of"):
        train(model, loss_fn, [Phase("x", 1, {"all": 0.1}, schedule="linear")], batches, 4)
