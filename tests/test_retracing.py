"""A network's compiled forward is traced once, whatever the batch sizes it is given, and TensorFlow
warns of no "tf.function retracing" when several networks (folds, ensemble members) each trace
their own (issue 55)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

# trains or builds networks (python -m pytest -m "not slow" leaves it out), with TensorFlow's functions
# compiled as outside the tests (conftest.pytest_configure: the other tests run them eagerly)
pytestmark = [pytest.mark.slow, pytest.mark.compiled]

keras = pytest.importorskip("keras")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def tf_warnings():
    """The messages TensorFlow's logger lets through (its filters apply before any handler)."""
    logger = logging.getLogger("tensorflow")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def test_compiled_forward_traces_once_for_every_batch_size():
    from featbus.networks.backend import compile_forward

    traces = []
    dense = keras.layers.Dense(3)
    dense.build((None, 4))

    def fn(x):
        traces.append(1)  # Python side effects run only while tracing
        return dense(x)

    forward = compile_forward(fn, dense.variables)
    for n in (1, 2, 3, 5, 8, 1):
        assert forward(np.ones((n, 4), np.float32)).shape == (n, 3)
    expected = 1 if keras.backend.backend() == "tensorflow" else len(traces)
    assert len(traces) == expected



def test_train_step_traces_once_whatever_the_batch_sizes():
    """A phase's last, smaller batch reuses the step's one trace (it cost a second one)."""
    from featbus.networks.backend import make_train_step

    traces = []
    dense = keras.layers.Dense(1, kernel_initializer="ones")  # a loss of 16 at the start: one to decrease
    dense.build((None, 4))
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    optimizer.build(dense.trainable_variables)

    def loss_fn(x, y):
        traces.append(1)  # Python side effects run only while tracing
        return keras.ops.mean((dense(x)[:, 0] - y) ** 2)

    step = make_train_step(loss_fn, dense, [(optimizer, dense.trainable_variables)])
    losses = [step(np.float32([0.01]), np.ones((n, 4), np.float32), np.zeros(n, np.float32)) for n in (8, 8, 3, 8)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    expected = 1 if keras.backend.backend() == "tensorflow" else len(traces)
    assert len(traces) == expected

def test_fine_tuned_networks_transform_without_retracing_warnings(tf_warnings):
    from featbus import FineTunedCNN

    rng = np.random.default_rng(0)
    images = [rng.random((40, 40)).astype(np.float32) for _ in range(8)]
    for seed in range(3):  # each fold of a cross-validation has a network of its own
        ft = FineTunedCNN("scratch", weights=None, input_size=32, epochs=1, warmup_epochs=0, batch_size=4,
                          validation_fraction=0, progress=False, random_state=seed, cache=False)
        ft.fit(images, [0, 1] * 4)
        for n in (1, 2, 3, 5):
            assert ft.transform([rng.random((40, 40)).astype(np.float32) for _ in range(n)]).shape[0] == n
    assert not [m for m in tf_warnings if "retracing" in m], tf_warnings
