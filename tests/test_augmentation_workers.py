"""Fine-tuning's training batches augmented in worker processes (issue 76): the same batches as the
plain loop whatever the number of workers, the images shared and the batches handed back through
shared files that are gone afterwards, and no worker left running after the block, Ctrl-C
included; a batch of images augmented at once equals the images augmented one by one.

The tests that start worker processes are ``slow`` (each worker imports featbus: seconds).

Tolerance: the processes run the same NumPy and OpenCV calls from the same seeds as the plain
loop, each OpenCV on one thread; the batches are compared with ``atol=1e-6`` (float32 pixels in
[0, 255]: another SIMD path of OpenCV, never another draw).
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from conftest import sigint_as_a_terminal_gives_it
from scipy import stats

from featbus.features.finetune import FineTunedCNN
from featbus.networks.augmentation import AUGMENT_PRESETS, ImageAugmenter, _standard_normal
from featbus.networks.training import SharedArray, worker_processes


def _data(n=24, size=32):
    rng = np.random.default_rng(0)
    images = (255 * rng.random((n, size, size))).astype(np.float32)
    y_idx = np.r_[np.zeros(n - n // 3, int), np.ones(n // 3, int)]
    return images, y_idx, np.array([1.0, 1.5], np.float32)


def _epoch(ft, images, y_idx, weights, augmenter, epoch, *, processes):
    with ft._input_side(images, augmenter, len(images), processes=processes) as (executor, source, slots):
        assert (executor is not None) == processes
        made = list(ft._batches(source, y_idx, np.arange(len(images)), weights, augmenter, 2, 6, [3, 1, epoch],
                                executor=executor, slots=slots))
        files = [] if slots is None else [source.path, slots.path]
        assert all(os.path.exists(f) for f in files)
    assert not any(os.path.exists(f) for f in files)  # the shared files are removed with the workers
    return made


@pytest.mark.slow
def test_batches_from_worker_processes_equal_the_plain_batches():
    images, y_idx, weights = _data()
    augmenter = ImageAugmenter(**AUGMENT_PRESETS["ultrasound"])
    plain = list(FineTunedCNN(batch_size=5, mixup=0.4, n_jobs=1)._batches(
        images, y_idx, np.arange(len(images)), weights, augmenter, 2, 6, [3, 1, 0]))
    assert [len(b[0]) for b in plain] == [5, 5, 5, 5, 4]
    for n_jobs in (2, 3):  # whatever the number of workers
        made = _epoch(FineTunedCNN(batch_size=5, mixup=0.4, n_jobs=n_jobs), images, y_idx, weights, augmenter, 0,
                      processes=True)
        assert len(made) == len(plain)
        for a, b in zip(plain, made):
            for u, v in zip(a, b):
                np.testing.assert_allclose(u, v, atol=1e-6)


def test_one_worker_or_a_short_fit_stays_in_this_process():
    images, y_idx, weights = _data()
    augmenter = ImageAugmenter()
    one = FineTunedCNN(n_jobs=1)
    with one._input_side(images, augmenter, 10**9, processes=True) as (executor, source, slots):
        assert executor is None and slots is None and source is images
    # a fit of a few small images: augmenting them takes far less than starting workers
    assert not FineTunedCNN(n_jobs=2)._worth_processes(images, augmenter, 2, len(images))
    assert not FineTunedCNN(n_jobs=2)._worth_processes(images, None, 2, 10**9)  # nothing to augment

    class Local:  # an augmenter that lives only in this process (a local class does not pickle)
        def augment01(self, image01, mask=None, *, rng):
            return image01, mask

    assert not FineTunedCNN(n_jobs=2)._worth_processes(images, Local(), 2, 10**9)


@pytest.mark.slow
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_workers_and_shared_files_are_gone_after_an_error_or_ctrl_c(error):
    psutil = pytest.importorskip("psutil")
    images, y_idx, weights = _data()
    augmenter = ImageAugmenter()
    ft = FineTunedCNN(batch_size=4, n_jobs=2)
    with pytest.raises(error):
        with ft._input_side(images, augmenter, len(images), processes=True) as (executor, source, slots):
            batches = ft._batches(source, y_idx, np.arange(len(images)), weights, augmenter, 2, 6, [0, 1, 0],
                                  executor=executor, slots=slots)
            next(batches)  # the workers run
            workers = [psutil.Process(pid) for pid in executor.executor._processes]  # loky's table of its workers
            files = [source.path, slots.path]
            raise error("stopped in the middle of an epoch")
    assert len(workers) == 2 and not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)
    assert not any(os.path.exists(f) for f in files)


def test_shared_array_pickles_as_its_file_and_close_removes_it():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    shared = SharedArray(a)
    try:
        blob = pickle.dumps(shared)
        assert len(blob) < 1000  # the path, not the pixels
        np.testing.assert_array_equal(pickle.loads(blob).array, a)
        assert not shared.array.flags.writeable
    finally:
        shared.close()
    assert not os.path.exists(shared.path)
    shared.close()  # twice is fine


def _write(slots, k):
    slots.array[k] = k + 1
    return k


@pytest.mark.slow
def test_writable_shared_array_carries_what_workers_write():
    slots = SharedArray(np.zeros((3, 5), np.float32), writable=True)
    try:
        with worker_processes(2) as pool:
            assert [pool.submit(_write, slots, k).result() for k in range(3)] == [0, 1, 2]
        np.testing.assert_array_equal(slots.array[:, 0], [1, 2, 3])
    finally:
        slots.close()


def test_augment_batch_equals_the_images_augmented_one_by_one():
    rng = np.random.default_rng(2)
    images = (255 * rng.random((5, 40, 36))).astype(np.float32)
    for preset in ("ultrasound", "scanner-shift", "flip"):
        aug = ImageAugmenter(**AUGMENT_PRESETS[preset])
        rng = np.random.default_rng(7)
        one_by_one = np.stack([aug.augment01(image / np.float32(255), rng=rng)[0] for image in images])
        batch = aug.augment_batch(images, rng=np.random.default_rng(7), scale=255.0)
        np.testing.assert_array_equal(batch, one_by_one * np.float32(255))
    with pytest.raises(ValueError, match="stack of gray images"):
        ImageAugmenter().augment_batch(images[0], rng=np.random.default_rng(0))


def test_speckle_normals_are_standard_normal():
    """The Box-Muller draws behind the speckle: standard normal by the Kolmogorov-Smirnov test at the
    0.1 % level, and mean and standard deviation within 5 standard errors of 0 and 1."""
    z = _standard_normal(np.random.default_rng(0), (301, 333)).astype(np.float64).ravel()  # an odd count
    assert z.shape == (301 * 333,) and np.isfinite(z).all()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    n = z.size  # standard errors: of the mean 1 / sqrt(n), of the standard deviation 1 / sqrt(2 n)
    assert abs(z.mean()) < 5 / np.sqrt(n) and abs(z.std() - 1.0) < 5 / np.sqrt(2 * n)
    assert not np.array_equal(z[:100], _standard_normal(np.random.default_rng(1), (100,)))
    np.testing.assert_array_equal(_standard_normal(np.random.default_rng(3), (7, 9)),
                                  _standard_normal(np.random.default_rng(3), (7, 9)))


@pytest.mark.slow
def test_a_fit_with_worker_processes_trains_as_one_without(monkeypatch):
    """End to end: the same fit with its batches made in worker processes and on threads ends with the
    same weights (the same batches in the same order; float32 training, compared within 1e-5)."""
    pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    images = [rng.random((40, 48)).astype(np.float32) for _ in range(12)]
    y = [0, 1] * 6
    import featbus.features.finetune as finetune

    started = []
    real = finetune.worker_processes
    monkeypatch.setattr(finetune, "worker_processes", lambda n, **kw: started.append(n) or real(n, **kw))
    fits = {}
    for processes in (False, True):
        monkeypatch.setattr(FineTunedCNN, "_worth_processes", lambda self, *a, p=processes: p)
        ft = FineTunedCNN("scratch", weights=None, input_size=32, epochs=2, warmup_epochs=1, batch_size=4,
                          validation_fraction=0, progress=False, random_state=0, cache=False, n_jobs=2,
                          mixed_precision=False)
        fits[processes] = ft.fit(images, y)
    for a, b in zip(fits[False].weights_, fits[True].weights_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert started == [2] and len(fits[True].history_["epochs"]) == 3  # one pool, for the second fit


_CTRL_C_SCRIPT = """
import sys, time
import numpy as np
from featbus.features.finetune import FineTunedCNN
images = (255 * np.random.default_rng(0).random((24, 32, 32))).astype(np.float32)
y = np.r_[np.zeros(12, int), np.ones(12, int)]
ft = FineTunedCNN(batch_size=4, n_jobs=2)
augmenter = ft._augmenter()
try:
    with ft._input_side(images, augmenter, 10**6, processes=True) as (executor, source, slots):
        for epoch in range(10**6):
            for k, batch in enumerate(ft._batches(source, y, np.arange(24), np.ones(2, np.float32), augmenter, 2, 6,
                                                  [0, 1, epoch], executor=executor, slots=slots)):
                if epoch == 1 and k == 0:
                    print("training", flush=True)
                time.sleep(0.01)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="a terminal's Ctrl-C to a process group: POSIX")
def test_ctrl_c_from_a_terminal_stops_the_workers_without_a_traceback():
    """A terminal sends Ctrl-C to every process of the foreground group, the workers too: they leave
    it to their parent, which stops them; nothing but the parent's own words reaches stderr."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", _CTRL_C_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                            preexec_fn=sigint_as_a_terminal_gives_it)
    try:
        assert proc.stdout.readline().strip() == "training"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and out.strip() == "interrupted"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    for _ in range(50):  # the group empties as the workers end
        left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if not left:
            break
        time.sleep(0.2)
    assert not left
