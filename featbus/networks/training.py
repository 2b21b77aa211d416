"""The one training engine of featbus's networks: FineTunedCNN (and its ensembles) and the U-Net.

An estimator describes *what* to train (a Keras model, a loss written with ``keras.ops``, its
batches, its validation) and :func:`train` does the rest, the same way for every network and on
every Keras backend (:mod:`featbus.networks.backend` holds the per-backend step):

* **phases** (:class:`Phase`), e.g. a head-only warm-up then the whole network, each setting
  which layers train and the peak learning rate of each named part of the network (``"head"``,
  ``"body"``: per-part rates, one AdamW per part with decoupled weight decay);
* **learning-rate schedules**: linear warm-up over the first epoch then cosine decay to 0 (by
  steps, or by the time budget when that ends training first), constant, or halved on a
  validation plateau;
* **early stopping** on the monitored validation value, keeping the best weights;
* a **time budget** (``max_time``), checked after every batch;
* **history**: one record per epoch (phase, training loss, validation values, learning rates,
  seconds) plus how training ended, the backend and the device;
* **progress**: a bar per batch with ETA, loss and the last validation values (off a terminal,
  a plain line every 30 s: :mod:`featbus.progress`);
* **the next phase compiled ahead** (JAX): the next phase's training step is built and traced after
  this phase's first step, with that phase's layers set, and XLA compiles it on a thread of its own
  while this phase trains, so a fit waits for no compile it could hide (on a GPU, XLA's compiling
  and autotuning are most of a first run); the other backends compile as they go;
* **clean interruption**: Ctrl-C (``KeyboardInterrupt``) closes the bar, puts the best weights so
  far back into the model and re-raises, so a command never writes a model it did not finish;
* **the input side**: :func:`prefetched` makes the next batches ahead, on threads or in
  :func:`worker_processes` (one per core, reading big arrays from a :class:`SharedArray`), in
  the order and with the values of the plain loop.

Frozen batch-norm statistics, class weights, label smoothing and mixup are the estimator's: they
live in its model (``trainable=False`` layers run in inference mode in Keras 3) and in its loss
and batches. Mixed precision is the backend module's (:func:`featbus.networks.backend.mixed_precision_scope`;
``"auto"``: bfloat16 on a GPU), as are the XLA flags featbus sets on a GPU where the user set none
(:data:`featbus.networks.backend.GPU_XLA_FLAGS`: empty until GPU measurements show flags that shorten a
first training; ``scripts/gpu_measurements.sh``).

References
----------
Loshchilov, I. & Hutter, F. (2017). SGDR: stochastic gradient descent with warm restarts. *ICLR*.
https://doi.org/10.48550/arXiv.1608.03983

Loshchilov, I. & Hutter, F. (2019). Decoupled weight decay regularization. *ICLR*.
https://doi.org/10.48550/arXiv.1711.05101
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..progress import find_stack_level, progress_bar
from . import backend as _backend

__all__ = ["Phase", "train", "learning_rate_at", "prefetched", "worker_processes", "SharedArray"]

SCHEDULES = ("cosine", "constant", "plateau")
#: Steps left running on the device when the progress bar reads the running loss.
_IN_FLIGHT = 2
#: How training ended (``history["stopped"]``), in words.
STOPPED_REASONS = {"epochs": "all epochs run", "early_stopping": "early stopping", "max_time": "time budget spent"}


@dataclass
class Phase:
    """One stage of training.

    Parameters
    ----------
    name : str
        Recorded in the history (``"warmup"``, ``"finetune"``, ``"train"``).
    epochs : int
        Most epochs of this phase.
    learning_rates : mapping of str to float
        Peak learning rate of each part of the network that trains in this phase (the parts
        are named by ``part_of`` in :func:`train`).
    schedule : {"cosine", "constant", "plateau"}, default="cosine"
        ``"cosine"``: linear ramp over the first ``ramp_epochs`` then cosine decay to 0 at the
        phase's last step (or when the time budget is spent, whichever comes first);
        ``"constant"``; ``"plateau"``: constant, halved after every ``patience // 2`` epochs
        without improvement.
    ramp_epochs : float, default=1
        Length of the linear ramp of the cosine schedule, in epochs (0: none).
    early_stopping : bool, default=True
        Whether epochs of this phase count towards ``patience``.
    setup : callable, optional
        Called before the phase starts: sets which layers are trainable.
    """

    name: str
    epochs: int
    learning_rates: Mapping[str, float]
    schedule: str = "cosine"
    ramp_epochs: float = 1.0
    early_stopping: bool = True
    setup: Callable[[], None] | None = field(default=None, repr=False)


def learning_rate_at(step: int, steps: int, ramp: int, peak: float, time_fraction: float = 0.0) -> float:
    """The cosine schedule: linear ramp over ``ramp`` steps, then cosine decay to 0 at ``steps``.

    ``time_fraction`` (the share of a time budget already spent after the ramp) replaces the
    step count when it is further along, so a budget that ends training early still decays
    the rate to 0.
    """
    if step < ramp:
        return peak * (step + 1) / ramp
    progress = max((step - ramp) / max(1, steps - ramp - 1), float(time_fraction))
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, progress)))


def prefetched(make: Callable[[int], Any], count: int, *, workers: int = 1, ahead: int = 2, executor=None,
               receive: Callable[[Any], Any] | None = None):
    """``make(0), make(1), ... make(count - 1)`` in order, made ahead on background threads or processes.

    The input side of training: while the device runs one batch, ``workers`` threads (or the
    processes of ``executor``, :func:`worker_processes`) prepare the next ``ahead``. The order and
    values are those of the plain loop whatever the threads or processes do, provided ``make(k)``
    draws its randomness from its own ``k`` (a seed drawn beforehand), not from shared state.

    Parameters
    ----------
    make : callable
        ``make(k)`` -> the ``k``-th item (a batch). With a process ``executor`` it must pickle
        (a module-level function, or a :func:`functools.partial` of one) and it runs in the
        workers; its big arrays travel as :class:`SharedArray`.
    count : int
        How many items.
    workers : int, default=1
        Threads when no ``executor`` is given; 0: made in the caller's thread, one at a time
        (the plain loop).
    ahead : int, default=2
        Items made ahead of the one being consumed (at least ``workers``).
    executor : concurrent.futures.Executor, optional
        Where to make the items (its ``submit``), e.g. :func:`worker_processes`; it stays open
        (its owner closes it).
    receive : callable, optional
        ``receive(result)`` -> the item, called on each result in order before the item ``ahead``
        places further on is submitted: e.g. a copy out of the shared slot ``k % ahead`` that a
        worker wrote item ``k`` into (a big array returned through a pipe costs this process
        more than the worker's copy into shared memory and this copy out of it).

    Yields
    ------
    item
        ``make(k)`` for ``k`` in ``range(count)``.

    Examples
    --------
    >>> list(prefetched(lambda k: k * k, 5, workers=2))
    [0, 1, 4, 9, 16]
    """
    if executor is None and workers <= 0:
        for k in range(count):
            yield make(k)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    own = executor is None
    pool = ThreadPoolExecutor(int(workers), thread_name_prefix="featbus-batches") if own else executor
    depth = max(int(ahead), int(workers), 1)
    queue: deque = deque()
    try:
        for k in range(min(depth, count)):
            queue.append(pool.submit(make, k))
        for k in range(count):
            item = queue.popleft().result()
            if receive is not None:
                item = receive(item)
            if k + depth < count:
                queue.append(pool.submit(make, k + depth))
            yield item
    finally:  # the consumer stopped early (time budget, Ctrl-C): drop what was not started
        for future in queue:
            future.cancel()
        if own:
            pool.shutdown(wait=True)


@contextmanager
def worker_processes(n_workers: int, *, preload: tuple[str, ...] = ()):
    """``n_workers`` worker processes for :func:`prefetched` (``executor=``), gone on leaving the block.

    They are joblib's loky processes: started clean (not forked from a process that holds
    TensorFlow's, PyTorch's or JAX's threads) and without running the caller's ``__main__``
    again, so a script without an ``if __name__ == "__main__"`` guard works. Each computes on one
    core (OpenCV and BLAS single-threaded): the workers are the parallelism. Leaving the block
    waits for them to end; after an exception or Ctrl-C inside it, what they have not started is
    cancelled first, so they end within the time of the items they are making, and none outlives
    the block.

    Parameters
    ----------
    n_workers : int
        Processes (at least 1).
    preload : tuple of str
        Modules each worker imports as it starts; the workers are started on entering the block,
        so they import these while the caller goes on (e.g. builds its network) instead of when
        the first item is asked for.

    Yields
    ------
    executor
        Its ``submit(fn, *args)`` returns a :class:`concurrent.futures.Future`.
    """
    from joblib.externals.loky import ProcessPoolExecutor

    env = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(_KEEP_FREED_MEMORY)
    # timeout: a worker idle that long ends (loky starts another when an item comes): should this
    # process be killed outright (no Ctrl-C, no exception), its workers do not outlive it by more
    pool = _Tracked(ProcessPoolExecutor(max_workers=max(1, int(n_workers)), timeout=_IDLE_SECONDS,
                                        initializer=_start_worker, initargs=(tuple(preload),), env=env))
    try:
        pool.submit(os.getpid)  # loky starts all its workers at the first item
        yield pool
    except BaseException:
        pool.cancel_pending()
        raise
    finally:
        # no kill_workers=True: loky's manager thread can then trip over the items it drops (KeyError)
        pool.executor.shutdown(wait=True)


class _Tracked:
    """An executor that remembers the futures it handed out, to cancel the pending ones at once."""

    def __init__(self, executor):
        import weakref

        self.executor, self._futures = executor, weakref.WeakSet()

    def submit(self, fn, /, *args, **kwargs):
        future = self.executor.submit(fn, *args, **kwargs)
        self._futures.add(future)
        return future

    def cancel_pending(self) -> None:
        for future in list(self._futures):
            future.cancel()


#: Seconds an idle worker process waits for an item before it ends.
_IDLE_SECONDS = 300

#: glibc's allocator in the workers: arrays of up to 32 MB come from the heap, and up to 128 MB freed
#: stays there, instead of each image-sized array being mapped afresh from the system and given back
#: when freed (every page of every new array a page fault: a third of an augmented image's cost in a
#: virtual machine). Other C libraries ignore these variables.
_KEEP_FREED_MEMORY = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(128 * 2**20)}


def _start_worker(preload: tuple[str, ...] = ()) -> None:
    """A worker process's start: Ctrl-C is left to the parent (a terminal sends it to the workers
    too, which would stop mid-item, racing the parent's own stop: the parent ends them), OpenCV
    computes on one thread (the workers are the parallelism), and the modules its items need are
    imported."""
    import importlib
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    try:
        import cv2
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        pass
    else:
        cv2.setNumThreads(1)
    for name in preload:
        importlib.import_module(name)


class SharedArray:
    """A NumPy array that worker processes map from one file instead of receiving copies.

    The array is written once to a ``.npy`` file in shared memory (``/dev/shm`` where it has
    room, else the temporary folder) and memory-mapped: a pickled ``SharedArray`` is its path,
    and a worker maps the same pages (once per process). :meth:`close` removes the file; should
    this process die first, joblib's resource tracker removes it.

    Parameters
    ----------
    array : ndarray
    writable : bool, default=False
        Whether the workers may write into it (slots they hand their results back in); read-only
        otherwise.

    Attributes
    ----------
    array : numpy.memmap
        The shared array (read-only unless ``writable``).
    path : str

    Examples
    --------
    >>> import pickle
    >>> import numpy as np
    >>> shared = SharedArray(np.arange(6.0).reshape(2, 3))
    >>> pickle.loads(pickle.dumps(shared)).array[1].tolist()
    [3.0, 4.0, 5.0]
    >>> shared.close()
    """

    def __init__(self, array: np.ndarray, *, writable: bool = False):
        import tempfile

        array = np.ascontiguousarray(array)
        fd, self.path = tempfile.mkstemp(prefix="featbus-shared-", suffix=".npy", dir=_shared_folder(array.nbytes))
        os.close(fd)
        self._owner, self.writable = True, bool(writable)
        _track(self.path, True)
        try:
            np.save(self.path, array)
            self.array = np.load(self.path, mmap_mode="r+" if writable else "r")
        except BaseException:
            self.close()
            raise

    def __reduce__(self):
        return _mapped, (self.path, self.writable)

    def close(self) -> None:
        """Remove the file (the owner only; what is mapped stays readable until dropped)."""
        if getattr(self, "_owner", False):
            self._owner = False
            _track(self.path, False)
            try:
                os.remove(self.path)
            except OSError:  # already gone, or still mapped on a platform that refuses
                pass


_MAPPED: dict[str, SharedArray] = {}


def _mapped(path: str, writable: bool = False) -> SharedArray:
    """A worker's view of a :class:`SharedArray` (mapped once per process; the newest few kept)."""
    view = _MAPPED.get(path)
    if view is None:
        view = SharedArray.__new__(SharedArray)
        view.path, view._owner, view.writable = path, False, bool(writable)
        view.array = np.load(path, mmap_mode="r+" if writable else "r")
        while len(_MAPPED) >= 4:
            _MAPPED.pop(next(iter(_MAPPED)))
        _MAPPED[path] = view
    return view


def _shared_folder(nbytes: int) -> str | None:
    """``/dev/shm`` when it has room for twice ``nbytes``, else the temporary folder (``None``)."""
    try:
        stat = os.statvfs("/dev/shm")
    except (OSError, AttributeError):
        return None
    return "/dev/shm" if stat.f_bavail * stat.f_frsize > 2 * nbytes else None


def _track(path: str, register: bool) -> None:
    """Tell joblib's resource tracker about a shared file (it removes the file if this process dies)."""
    try:
        from joblib.externals.loky.backend import resource_tracker
    except ImportError:  # pragma: no cover - joblib always has it
        return
    (resource_tracker.register if register else resource_tracker.unregister)(path, "file")


_HOST_SLOTS: dict[type, type] = {}


def _optimizer(keras, rate: float, weight_decay: float):
    """AdamW (Adam without weight decay) whose slots (the moments) start as host zeros: Keras's
    ``"zeros"`` compiles a program per weight shape on JAX (29 for an EfficientNet-Lite0's); its
    iteration counter and learning rate are host values too (:func:`~featbus.networks.backend.host_scalars`)."""
    base = keras.optimizers.AdamW if weight_decay > 0 else keras.optimizers.Adam
    if base not in _HOST_SLOTS:
        zeros = _backend.host_initializer(0.0)

        def add_variable(self, shape, initializer="zeros", *args, **kwargs):
            if isinstance(initializer, str) and initializer == "zeros":
                initializer = zeros
            return base.add_variable(self, shape, initializer, *args, **kwargs)

        # the same class name: the optimiser's name and its variables' paths stay Keras's
        _HOST_SLOTS[base] = type(base.__name__, (base,), {"add_variable": add_variable, "__module__": __name__})
    kwargs = {"weight_decay": float(weight_decay)} if weight_decay > 0 else {}
    with _backend.host_scalars():  # its counter and rate: no program compiled to convert two numbers
        return _HOST_SLOTS[base](learning_rate=float(rate), **kwargs)


def train(model, loss_fn: Callable, phases: list[Phase], batches: Callable[[Phase, int], Iterable[tuple]],
          steps_per_epoch: int, *, part_of: Callable[[Any], str] | None = None, weight_decay: float = 0.0,
          validate: Callable[[], dict] | None = None, monitor: str = "val_loss", mode: str = "min",
          patience: int | None = None, min_delta: float = 1e-4, max_time: float | None = None,
          progress: bool | str = False, desc: str = "training", keep: str = "best") -> dict:
    """Train ``model`` through ``phases``; the model ends with the best weights seen (or the last).

    Parameters
    ----------
    model : keras.Model
        Every variable the loss reads; its trainable variables (as each phase's ``setup``
        leaves them) are trained.
    loss_fn : callable
        ``loss_fn(*batch) -> scalar tensor``, in ``keras.ops``, calling the model in training mode.
    phases : list of Phase
    batches : callable
        ``batches(phase, epoch) -> iterable of tuples of NumPy arrays``, fresh each epoch.
    steps_per_epoch : int
        Batches per epoch (for the schedule and the progress bar).
    part_of : callable, optional
        ``part_of(variable) -> part name``; default: every variable is part ``"all"``.
    weight_decay : float
        Decoupled weight decay (AdamW); 0: Adam.
    validate : callable, optional
        ``validate() -> dict`` of validation values, called after every epoch (the model holds
        the current weights). Without it the last weights are kept.
    monitor : str
        The value of ``validate()`` that early stopping and best weights follow.
    mode : {"min", "max"}
        Whether lower or higher ``monitor`` is better.
    patience : int, optional
        Epochs (of phases with ``early_stopping``) without improvement before stopping.
    min_delta : float
        Smallest change that counts as an improvement.
    max_time : float, optional
        Seconds after which training stops (after the current batch).
    progress : bool or "auto"
        Show progress (:func:`featbus.progress.progress_bar`): a bar per batch, or with
        ``"auto"`` off a terminal, a plain line every 30 s (epoch, loss, time left).
    desc : str
        The bar's label.
    keep : {"best", "last"}, default="best"
        The weights the model ends with when ``validate`` is given: those of the epoch with the
        best ``monitor`` value, or the last epoch's (the validation values are then only
        recorded: a held-out figure that chose nothing; no early stopping).

    Returns
    -------
    history : dict
        ``epochs`` (list of per-epoch records: ``epoch``, ``phase``, ``loss``, the validation
        values, ``learning_rates``, ``seconds``), ``best_epoch``, ``stopped`` (``"epochs"``,
        ``"early_stopping"`` or ``"max_time"``), ``seconds``,
        ``backend``, ``device``; ``note`` when early stopping or the time budget ended training
        (also issued as a ``UserWarning``): what ended it and which epoch's weights are kept.
    """
    keras = _backend.keras_module()
    for phase in phases:
        if phase.schedule not in SCHEDULES:
            raise ValueError(f"phase {phase.name!r}: schedule must be one of {SCHEDULES}, got {phase.schedule!r}")
    part_of = part_of or (lambda v: "all")
    sign = 1.0 if mode == "min" else -1.0
    started = time.perf_counter()
    history: dict[str, Any] = {"epochs": [], "backend": _backend.backend_name(), "device": _backend.device()}
    best_value, best_weights, best_epoch = np.inf, None, -1
    stopped, waited, epoch_no = "epochs", 0, 0
    last: dict[str, str] = {}  # the last validation values, shown beside the running loss
    total_epochs = sum(int(p.epochs) for p in phases)
    bar = progress_bar(progress, total_epochs * int(steps_per_epoch), desc, "batch") if total_epochs else None
    # JAX: the next phase's step is built and traced after this phase's first step and compiled on a thread
    # while this phase trains (_build_ahead); the other backends compile as they go, as before
    ahead = _backend.backend_name() == "jax"
    built: dict[int, tuple] = {}  # phase index -> (names, peaks, optimizers, step, compile future) built ahead
    interrupted = False
    try:
        for index, phase in enumerate(phases):
            if not int(phase.epochs):
                continue
            if phase.setup is not None:
                phase.setup()
            if index in built:
                names, peaks, optimizers, step, _ = built.pop(index)
            else:
                names, peaks, optimizers = _phase_optimizers(keras, model, phase, part_of, weight_decay)
                step = _backend.make_train_step(loss_fn, model, optimizers)
            following = next((j for j in range(index + 1, len(phases)) if int(phases[j].epochs)), None)
            if not ahead or following is None or (phases[following].setup is not None and phase.setup is None):
                following = None  # nothing to build ahead, or no way to set this phase's layers back after
            steps = int(phase.epochs) * int(steps_per_epoch)
            ramp = int(round(phase.ramp_epochs * steps_per_epoch)) if phase.schedule == "cosine" and \
                int(phase.epochs) > 1 else 0
            plateau_scale, plateau_wait, phase_step, ramp_done_at = 1.0, 0, 0, None
            for local_epoch in range(int(phase.epochs)):
                t0 = time.perf_counter()
                # the steps' losses stay on the device until read (each read waits for the device):
                # the next batches are dispatched meanwhile
                losses, pending, timed_out = [], [], False
                for batch in batches(phase, local_epoch):
                    rates = _rates_now(phase, [peaks[nm] for nm in names], phase_step, steps, ramp, plateau_scale,
                                       max_time=max_time, ramp_done_at=ramp_done_at, started=started)
                    pending.append(step(np.asarray(rates, np.float32), *batch))
                    if following is not None and following not in built:
                        # after this phase's first step (compiled, its run dispatched): the two compiles do
                        # not compete for the cores (on 2 shared cores, compiling both at once took longer
                        # than one after the other)
                        built[following] = _build_ahead(keras, model, loss_fn, phases[following], phase, batch,
                                                        part_of, weight_decay)
                    phase_step += 1
                    if phase_step == max(ramp, 1):  # the ramp (and the slow first compile) is over
                        ramp_done_at = time.perf_counter()
                    if bar is not None:
                        bar.update(1)
                        if (len(losses) + len(pending)) % 5 == 1:  # the running loss; set_postfix redraws the bar
                            # the losses read but the newest _IN_FLIGHT: reading waits for those steps only,
                            # and the device goes on with the newer ones meanwhile (no idle gap, as a loop
                            # that reads nothing has none)
                            read, pending[:] = pending[:-_IN_FLIGHT], pending[-_IN_FLIGHT:]
                            losses.extend(map(_backend.to_float, read))
                            if losses:
                                bar.set_postfix(last, epoch=epoch_no + 1, loss=f"{np.mean(losses):.4f}")
                    if max_time is not None and time.perf_counter() - started > max_time:
                        timed_out = True
                        break
                losses.extend(map(_backend.to_float, pending))
                pending.clear()
                record: dict[str, Any] = {"epoch": epoch_no, "phase": phase.name,
                                          "loss": float(np.mean(losses)) if losses else None,
                                          "learning_rates": dict(zip(names, map(float, rates))) if losses else {}}
                if validate is not None:
                    record.update({k: float(v) for k, v in validate().items()})
                if validate is None or keep == "last":
                    best_epoch = epoch_no
                else:
                    value = sign * record[monitor]
                    if value < best_value - min_delta:
                        best_value, best_weights, best_epoch, waited, plateau_wait = \
                            value, model.get_weights(), epoch_no, 0, 0
                    elif phase.early_stopping:
                        waited += 1
                        plateau_wait += 1
                        if phase.schedule == "plateau" and patience and plateau_wait >= max(1, patience // 2):
                            plateau_scale, plateau_wait = plateau_scale / 2.0, 0
                record["seconds"] = time.perf_counter() - t0
                history["epochs"].append(record)
                epoch_no += 1
                if bar is not None:
                    last = {k: f"{v:.4f}" for k, v in record.items() if k.startswith("val_")}
                    bar.set_postfix(last, epoch=epoch_no, loss=f"{record['loss'] or 0:.4f}")
                if timed_out:
                    stopped = "max_time"
                    break
                if (validate is not None and keep == "best" and phase.early_stopping and patience is not None
                        and waited >= patience):
                    stopped = "early_stopping"
                    break
            if stopped != "epochs":
                break
    except KeyboardInterrupt:
        interrupted = True
        if best_weights is not None:
            model.set_weights(best_weights)
        raise
    finally:
        if bar is not None:
            bar.close()
        if not interrupted:  # a phase built ahead that never ran (training stopped early): its compile ends
            for *_, future in built.values():  # here, not while the interpreter shuts down
                if future is not None and hasattr(future, "exception"):
                    future.exception()
    if best_weights is not None:
        model.set_weights(best_weights)
    history.update(best_epoch=int(best_epoch if best_weights is not None or validate is None
                                  else len(history["epochs"]) - 1),
                   stopped=stopped, seconds=time.perf_counter() - started)
    _say_stopped(history, desc, total_epochs, max_time=max_time, patience=patience, monitor=monitor)
    return history


def _build_ahead(keras, model, loss_fn, following: Phase, current: Phase, batch: tuple, part_of,
                 weight_decay) -> tuple:
    """The step of the phase ``following`` (its optimisers and its training step), built now with its layers
    set as its ``setup`` sets them, traced for ``batch``'s shapes and compiled on a thread of its own (JAX's
    ``lower(...).compile()`` releases the GIL) while ``current`` trains; ``current``'s layers are set back
    before its own step first runs. Returns ``(names, peaks, optimizers, step, compile future)``."""
    if following.setup is not None:
        following.setup()
    try:
        names, peaks, optimizers = _phase_optimizers(keras, model, following, part_of, weight_decay)
        step = _backend.make_train_step(loss_fn, model, optimizers)
        compile_ahead = getattr(step, "compile_ahead", None)
        future = None if compile_ahead is None else compile_ahead(np.zeros(len(names), np.float32), batch)
    finally:
        if current.setup is not None:
            current.setup()
    return names, peaks, optimizers, step, future


def _rates_now(phase, peaks: list, phase_step: int, steps: int, ramp: int, plateau_scale: float, *, max_time,
               ramp_done_at, started) -> list:
    """Each part's learning rate at this step: the cosine schedule (its warm-up ramp, then a decay over
    the steps, or over the time budget left once the ramp is done), or the plateau schedule's peak times
    its current scale."""
    if phase.schedule != "cosine":
        return [peak * plateau_scale for peak in peaks]
    spent = 0.0
    if max_time is not None and ramp_done_at is not None:
        left = float(max_time) - (ramp_done_at - started)
        spent = 1.0 if left <= 0 else (time.perf_counter() - ramp_done_at) / left
    return [learning_rate_at(phase_step, steps, ramp, peak, spent) for peak in peaks]


def _phase_optimizers(keras, model, phase, part_of, weight_decay) -> tuple[list, dict, list]:
    """One optimizer per part of the model a phase trains (``part_of`` names each variable's part),
    each at the phase's learning rate for it: ``(names, peak rates, [(optimizer, variables)])``."""
    groups: dict[str, list] = {}
    for v in model.trainable_variables:
        groups.setdefault(part_of(v), []).append(v)
    unknown = sorted(set(groups) - set(phase.learning_rates))
    if unknown:
        raise ValueError(f"phase {phase.name!r} trains parts {unknown} without a learning rate")
    names = list(groups)
    peaks = {nm: float(phase.learning_rates[nm]) for nm in names}
    optimizers = []
    for nm in names:
        opt = _optimizer(keras, peaks[nm], weight_decay)
        opt.build(groups[nm])
        optimizers.append((opt, groups[nm]))
    return names, peaks, optimizers


def _say_stopped(history: dict, desc: str, total_epochs: int, *, max_time, patience, monitor) -> None:
    """The note (and warning) that training ended before its epoch count, naming why and the kept epoch;
    nothing when it ran its epochs."""
    stopped = history["stopped"]
    if stopped == "epochs":
        return
    why = (f"the time budget (max_time={float(max_time):.3g} s)" if stopped == "max_time"
           else f"early stopping ({patience} epochs without a better {monitor})")
    note = (f"{desc}: {why} ended training after {len(history['epochs'])} of {total_epochs} epochs; "
            f"the weights of epoch {history['best_epoch'] + 1} are kept")
    history["note"] = note
    warnings.warn(note, UserWarning, stacklevel=find_stack_level())
