"""The input side of fine-tuning: images decoded and resized once per fit, batches prepared ahead
on background threads exactly as the plain loop would make them, and JAX's last batch topped up
with rows that weigh nothing.

Tolerance: the threaded and the plain batches are made by the same NumPy and OpenCV calls from
the same seeds, so they are compared with ``atol=1e-6`` (float32 pixels in [0, 255]; OpenCV may
pick another SIMD path on another thread, never a different draw).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from featbus.networks.training import prefetched


def test_prefetched_yields_the_plain_loop_in_order_whatever_the_threads():
    def make(k):
        time.sleep(0.001 * ((7 * k) % 5))  # later items often finish first
        return k, threading.current_thread().name

    plain = [k for k, _ in prefetched(make, 23, workers=0)]
    for workers, ahead in ((1, 1), (2, 4), (4, 2)):
        made = list(prefetched(make, 23, workers=workers, ahead=ahead))
        assert [k for k, _ in made] == plain == list(range(23))
        assert all(name.startswith("featbus-batches") for _, name in made)
    assert list(prefetched(make, 0, workers=2)) == []


def test_prefetched_stops_cleanly_when_the_consumer_stops_early():
    started = []

    def make(k):
        started.append(k)
        return k

    gen = prefetched(make, 1000, workers=2, ahead=3)
    assert [next(gen) for _ in range(5)] == [0, 1, 2, 3, 4]
    gen.close()  # the time budget ended the epoch
    assert len(started) < 20  # at most a few made ahead, the rest never started


def test_fine_tuning_batches_on_threads_equal_the_plain_batches(monkeypatch):
    from featbus.features.finetune import FineTunedCNN
    from featbus.networks.augmentation import AUGMENT_PRESETS, ImageAugmenter

    rng = np.random.default_rng(0)
    images = (255 * rng.random((30, 32, 32))).astype(np.float32)
    y_idx = np.r_[np.zeros(18, int), np.ones(12, int)]
    weights = np.array([1.0, 1.5], np.float32)
    augmenter = ImageAugmenter(**AUGMENT_PRESETS["ultrasound"])

    def batches(threads, mixup=0.0):
        ft = FineTunedCNN(batch_size=8, mixup=mixup, n_jobs=max(threads, 1))
        monkeypatch.setattr(FineTunedCNN, "_input_threads", lambda self: threads)
        return list(ft._batches(images, y_idx, np.arange(30), weights, augmenter, 2, 6, [3, 1, 0]))

    for mixup in (0.0, 0.4):
        plain = batches(0, mixup)
        assert [len(b[0]) for b in plain] == [8, 8, 8, 6]
        for threads in (1, 3):
            threaded = batches(threads, mixup)
            assert len(threaded) == len(plain)
            for a, b in zip(plain, threaded):
                for u, v in zip(a, b):
                    np.testing.assert_allclose(u, v, atol=1e-6)


def test_full_batch_tops_up_with_rows_that_weigh_nothing():
    from featbus.features.finetune import _full_batch

    rng = np.random.default_rng(1)
    x, keep = rng.random((3, 4, 4)).astype(np.float32), np.ones((3, 5), np.float32)
    target = np.array([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5]], np.float32)
    sw = np.array([1.0, 2.0, 0.5], np.float32)
    px, pt, psw, pkeep = _full_batch((x, target, sw, keep), 8)
    assert px.shape == (8, 4, 4) and pt.shape == (8, 2) and psw.shape == (8,) and pkeep.shape == (8, 5)
    np.testing.assert_array_equal(px[:3], x)
    np.testing.assert_array_equal(pt[:3], target)
    assert not pt[3:].any() and not psw[3:].any()
    # the loss (weighted mean of the cross-entropy over the weights' sum) is that of the 3 rows
    logp = np.log(rng.dirichlet([1, 1], size=8)).astype(np.float32)

    def loss(t, w, lp):
        return float((-(t * lp).sum(axis=1) * w).sum() / w.sum())

    assert loss(pt, psw, logp) == pytest.approx(loss(target, sw, logp[:3]), rel=1e-6)
    full = (x, target, sw, keep)
    assert _full_batch(full, 3) is full


@pytest.mark.slow
def test_each_image_is_read_and_resized_once_per_fit(monkeypatch):
    pytest.importorskip("keras")
    from featbus.features.finetune import FineTunedCNN

    reads = []
    original = FineTunedCNN._load

    def counted(self, item, index):
        reads.append(index)
        return original(self, item, index)

    monkeypatch.setattr(FineTunedCNN, "_load", counted)
    rng = np.random.default_rng(0)
    images = [rng.random((40, 48)).astype(np.float32) for _ in range(10)]
    ft = FineTunedCNN("scratch", weights=None, input_size=32, epochs=2, warmup_epochs=1, batch_size=4,
                      validation_fraction=0, progress=False, random_state=0, cache=False)
    ft.fit(images, [0, 1] * 5)
    assert len(ft.history_["epochs"]) == 3
    assert sorted(reads) == list(range(10))  # three epochs, one read (and resize) of each image


@pytest.mark.slow
@pytest.mark.compiled  # counts traces: TensorFlow compiles, as outside the tests (conftest)
def test_each_phase_compiles_its_step_once_whatever_the_last_batch(monkeypatch):
    """10 images in batches of 4: the last batch has 2. TensorFlow traces with the batch size left
    open, JAX gets the last batch topped up to 4: one trace per phase (warm-up, fine-tuning) on
    both (PyTorch runs eagerly: the loss runs at every step)."""
    pytest.importorskip("keras")
    from featbus.features.finetune import FineTunedCNN, _Trainer
    from featbus.networks.backend import backend_name

    if backend_name() == "torch":
        pytest.skip("PyTorch runs the step eagerly: nothing is traced")
    traces = []
    original = _Trainer.loss_fn

    def counted(self, *batch):
        traces.append(batch[0].shape[0])  # Python runs here only while the step is traced
        return original(self, *batch)

    monkeypatch.setattr(_Trainer, "loss_fn", counted)
    rng = np.random.default_rng(0)
    images = [rng.random((40, 48)).astype(np.float32) for _ in range(10)]
    ft = FineTunedCNN("scratch", weights=None, input_size=32, epochs=2, warmup_epochs=1, batch_size=4,
                      validation_fraction=0, progress=False, random_state=0, cache=False)
    ft.fit(images, [0, 1] * 5)
    assert len(traces) == 2, traces
    assert ft.history_["n_train"] == 10
