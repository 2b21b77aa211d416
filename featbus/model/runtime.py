"""Run a model file's networks without TensorFlow: LiteRT forwards stored in the file.

A ``.featbus`` file of a CNN model (frozen :class:`~featbus.DeepFeatures`, a fine-tuned
:class:`~featbus.FineTunedCNN` or the members of a :class:`~featbus.FineTunedEnsemble`) holds,
besides the weights the Keras network is rebuilt from, each network's forward pass as a
TensorFlow Lite flatbuffer (``runtime/<k>.tflite``): grey images ``(n, h, w)`` in ``[0, 255]``
in, the extractor's feature rows (pooled maps, or the fine-tuned embedding) out. Everything
around it -- reading, cropping and resizing the image, flip averaging, the classifier -- stays
the estimators' own NumPy code, so only the network's arithmetic changes.

Why: importing TensorFlow and rebuilding the network takes most of a cold start (about 8 s
for one image here); the LiteRT interpreter (the ``ai-edge-litert`` package, about 0.1 s to
import) runs the same graph with XNNPACK kernels. ``benchmarks/cold_start.py`` measures both.

A flatbuffer holds only built-in operators and constant weights: the interpreter runs no code
from the file (a file needing a custom or TensorFlow op is refused when it is loaded).

**Work shared by the models of one run** (:class:`SharedPasses`). A command that runs several
models (or one model twice) over the same images makes one store and hands it down explicitly
(``passes=``: :func:`featbus.compare` to each model's :func:`featbus.validate`, ``featbus adapt``
to its image check and to :func:`featbus.adapt`), as scikit-learn hands its scorers a call-local
cache. The parts that read it -- a :class:`~featbus.UNetSegmenter`'s maps, the image check's
description of an image (:func:`featbus.model.domain.describe_images`) -- keep what they compute,
keyed by the image's content (:func:`featbus.compute.extraction.content_key`) and the part's
fingerprint (a segmenter's: its weights and settings): ``compare`` of ``breast-us`` and a file
adapted from it runs the shared segmenter once per image, and ``adapt``'s check of the images then
its adaptation read one pass. What is kept is exactly what the part would compute again, and it
lives as long as the store (a run's images, not a process's: nothing is kept without one). Feature
rows are kept by the extraction engine's own store (:mod:`featbus.compute.extraction`) in any case.

Agreement with Keras: the same float32 graph with other kernels; feature rows agree within
``RUNTIME_RTOL`` relative (of the row's largest value) and class probabilities within
``RUNTIME_PROBA_ATOL``, tested in ``tests/test_model_file.py`` and, for every shipped network
and a user's, in ``tests/test_frozen_runtime.py``.

**Frozen networks through the fastest runtime** (:func:`frozen_forward`). Beside a model file's
stored forwards, every frozen network featbus runs -- :class:`~featbus.DeepFeatures`, an
:class:`~featbus.ROICropper`'s segmenter, a loaded model's networks -- runs through LiteRT with
XNNPACK where ``ai-edge-litert`` is installed (about 2x the Keras forward on a CPU:
``benchmarks/deep_throughput.py``), the Keras forward otherwise or when asked
(``runtime="keras"``; ``--runtime keras`` on the command line). The network is converted once by
:func:`forward_flatbuffer` (TensorFlow's converter, so it needs Keras's TensorFlow backend) and the
flatbuffer kept in featbus's cache folder (:func:`runtime_cache_dir`), keyed by the network's
weights, the cut, the input shape and the runtime's and converter's versions
(:func:`runtime_key`); a cached file is used only when it lies in that folder under its key's name
and its sidecar names that key and the flatbuffer's SHA-256. Which runtime runs is said once per
process on standard error (``featbus: runtime: LiteRT (XNNPACK, 2 threads)``), with, where LiteRT
is absent, how much faster it would make the network (:data:`LITERT_SPEEDUP`). Threads:
:func:`runtime_threads` (the cores this process may use); images per interpreter call:
:data:`RUNTIME_BATCH`, by measurement.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..networks.backend import native_stderr_quiet

logger = logging.getLogger(__name__)

__all__ = ["LiteForward", "runtime_available", "network_estimators", "forward_flatbuffer", "forward_disagreement",
           "RUNTIME_RTOL", "RUNTIME_PROBA_ATOL", "RUNTIME_CHECK_RTOL", "SharedPasses", "RUNTIMES", "RUNTIME_BATCH",
           "LITERT_SPEEDUP", "frozen_forward", "runtime_threads", "runtime_cache_dir", "runtime_key",
           "cached_flatbuffer", "prune_cache", "say_runtime"]

#: Relative tolerance of a feature row from the runtime against Keras (of the row's max |value|).
RUNTIME_RTOL = 1e-3
#: Absolute tolerance of a class probability computed through the runtime against Keras.
RUNTIME_PROBA_ATOL = 1e-3
#: Largest disagreement (relative, as :data:`RUNTIME_RTOL`) a loaded file's forward may show
#: against its own Keras network on the probe images before it is refused as not that network:
#: ten times the documented agreement, so other CPUs' kernels never trip it, while another
#: network of the same shape differs by orders of magnitude more.
RUNTIME_CHECK_RTOL = 10 * RUNTIME_RTOL

#: What ``runtime=`` accepts: ``"auto"`` (LiteRT where installed and the network converts, else
#: Keras), ``"litert"`` (LiteRT or an error saying why not), ``"keras"`` (the Keras forward).
RUNTIMES = ("auto", "litert", "keras")
#: Images per forward call of each runtime, by measurement (``benchmarks/deep_throughput.py``'s
#: batch sweep of 1, 4, 8 and 32, ``benchmarks/results/deep_throughput.json``): LiteRT's XNNPACK
#: kernels are fastest one image at a time on a CPU, and Keras (TensorFlow) is no faster at 32
#: than at 8.
RUNTIME_BATCH = {"litert": 1, "keras": 8}
#: How much faster featbus ran each shipped network through LiteRT than through its Keras forward,
#: from the image files (decode included), in images per CPU second (the steadier figure on the
#: shared 2-core machine it was measured on: ``benchmarks/results/deep_throughput.json``,
#: ``cpu_litert_over_keras``; ``tests/test_frozen_runtime.py`` checks these against it): what the
#: line said where LiteRT is absent quotes.
LITERT_SPEEDUP = {"efficientnet_lite0": 1.8, "breast-us": 1.5, "breast-us segmenter": 1.7}
#: Bumped when :func:`forward_flatbuffer` traces another graph: older cached conversions are not used.
_CONVERSION_VERSION = 1


def runtime_available() -> bool:
    """Whether the LiteRT interpreter (``pip install ai-edge-litert``) can be imported."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def network_estimators(model) -> list[tuple[str, object]]:
    """The estimators of a :class:`~featbus.FeatbusModel` that run a network, with a stable key
    each (``"<feature name>"``, or ``"<feature name>.<member>"`` for an ensemble's members)."""
    from .._registry import is_a

    out = []
    for name, est in model.features.transformer_list:
        if is_a(est, "FineTunedEnsemble"):
            out += [(f"{name}.{i}", member) for i, member in enumerate(est.members_)]
        elif is_a(est, "DeepFeatures", "FineTunedCNN"):
            out.append((name, est))
    return out


def forward_flatbuffer(est, *, quiet: bool | None = None, input_shape: tuple[int, ...] | None = None) -> bytes:
    """The TFLite flatbuffer of a fitted network estimator's forward pass (needs TensorFlow).

    Parameters
    ----------
    est : DeepFeatures, FineTunedCNN or UNetSegmenter
        Fitted; its ``_keras_forward()`` gives the function and the Keras layers it uses.
    quiet : bool, optional
        Keep TensorFlow's C++ log lines (``E0000 ... NodeDef mentions attribute Truncate``, absl's
        start-up notice), which the converter writes straight to file descriptor 2, off the
        terminal; shown when the conversion fails. Default: quiet unless the ``featbus`` logger is
        enabled for DEBUG (``featbus --debug``, or ``logging.basicConfig(level=logging.DEBUG)``).
    input_shape : tuple of int, optional
        One input's shape; default ``est.input_size_`` (grey ``(h, w)`` images). A segmenter's:
        ``(s, s, 1)``.

    Returns
    -------
    flatbuffer : bytes
        Input ``image``: float32 ``(n, *input_shape)`` (grey images in [0, 255] by default; any
        ``n``); output: float32 ``(n, n_features_out_)`` (a segmenter's: its maps).
    """
    with native_stderr_quiet(_quiet(quiet)):
        import tensorflow as tf

        forward, trackable = est._keras_forward()
        shape = tuple(int(s) for s in (est.input_size_ if input_shape is None else input_shape))
        fn = tf.function(forward, input_signature=[tf.TensorSpec((None, *shape), tf.float32, name="image")])
        return convert_to_tflite(fn, trackable)


def _quiet(quiet: bool | None) -> bool:
    """``quiet`` as given, else quiet unless the ``featbus`` logger is enabled for DEBUG."""
    return not logging.getLogger("featbus").isEnabledFor(logging.DEBUG) if quiet is None else bool(quiet)


def convert_to_tflite(function, trackable, *, quantize: bool = False) -> bytes:
    """The TFLite flatbuffer of a traced TensorFlow function: featbus's one conversion, for a model
    file's runtime forwards (:func:`forward_flatbuffer`) and ``featbus export``
    (:func:`featbus.deploy.export.export_tflite`). Callers keep TensorFlow's native log lines off the
    terminal themselves (:func:`featbus.networks.backend.native_stderr_quiet`).

    Parameters
    ----------
    function : tf.function
        With an input signature.
    trackable : object
        What holds the function's variables (the Keras layers).
    quantize : bool, default=False
        Dynamic-range quantization of the weights (``tf.lite.Optimize.DEFAULT``).

    Returns
    -------
    flatbuffer : bytes
        Built-in operators only (no TensorFlow ops: none of them runs code).
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Keras 3 weights are resource variables, which the converter would keep as READ_VARIABLE ops
    # that a bare interpreter cannot resolve (NaN or an error): freeze them into constants first
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], trackable)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def _interpreter_class():
    """LiteRT's interpreter (``ai-edge-litert``, what a device uses), else TensorFlow's copy of
    the same runtime."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def _probe_images(h: int, w: int) -> np.ndarray:
    """Two fixed grey images in [0, 255]: a gradient with rings, and seeded noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rings = 127.5 + 127.5 * np.sin(np.hypot(yy - h / 2, xx - w / 2) / 3.0) * (xx / max(w - 1, 1))
    noise = np.random.default_rng(0).uniform(0, 255, (h, w)).astype(np.float32)
    return np.stack([rings, noise]).astype(np.float32)


def forward_disagreement(est, forward) -> float:
    """How far a runtime forward's rows are from the estimator's Keras network on two probe images:
    the largest absolute difference over the largest row magnitude (needs Keras).

    Parameters
    ----------
    est : DeepFeatures or FineTunedCNN
        Fitted, with its Keras network (``_keras_forward()``).
    forward : callable
        ``(n, h, w)`` float32 -> ``(n, d)`` rows, e.g. a :class:`LiteForward`.
    """
    import keras

    h, w = (int(s) for s in est.input_size_)
    probe = _probe_images(h, w)
    keras_forward, _ = est._keras_forward()
    expected = np.asarray(keras.ops.convert_to_numpy(keras_forward(probe)), np.float64)
    got = np.asarray(forward(probe), np.float64)
    if got.shape != expected.shape:
        return float("inf")
    scale = np.abs(expected).max(axis=1, keepdims=True) + 1e-12
    return float(np.max(np.abs(got - expected) / scale))


class LiteForward:
    """One network's forward pass run by the LiteRT interpreter: ``(n, h, w)`` -> ``(n, d)``.

    Parameters
    ----------
    flatbuffer : bytes
        From :func:`convert_to_tflite` (a model file's ``runtime/<k>.tflite`` member, an exported
        file).
    n_features : int or None
        Width of the output rows, checked against the flatbuffer, which then takes grey
        ``(n, h, w)`` images (``None``: any input and output shape, e.g. a segmenter's maps).
    num_threads : int, optional
        Interpreter threads; default: the cores this process may use (:func:`runtime_threads`).
    name : str, default="network"
        Named in errors.
    batch : int, optional
        Images per interpreter call: a longer batch runs in pieces of this size (the output is the
        same); default: as given.

    Raises
    ------
    ValueError
        The flatbuffer does not load (damaged, or it needs operators the runtime lacks) or its
        output is not ``n_features`` wide.
    """

    def __init__(self, flatbuffer: bytes, n_features: int | None, num_threads: int | None = None,
                 name: str = "network", batch: int | None = None):
        Interpreter = _interpreter_class()
        self.name, self.n_features = name, None if n_features is None else int(n_features)
        #: the flatbuffer it runs: a model file saved from this process stores it, unconverted again
        self.flatbuffer = flatbuffer = bytes(flatbuffer)
        self.digest = hashlib.sha256(flatbuffer).hexdigest()
        self.num_threads = threads = int(num_threads or runtime_threads())
        self.batch = None if batch is None else max(1, int(batch))
        try:
            # the runtime announces its XNNPACK delegate on descriptor 2 when tensors are allocated
            with warnings.catch_warnings(), native_stderr_quiet():
                warnings.simplefilter("ignore")
                self._interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
                self._interpreter.allocate_tensors()
            (inp,), (out,) = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"the inference runtime of {name} does not load ({exc})") from None
        if self.n_features is not None and (len(inp["shape"]) != 3 or len(out["shape"]) != 2
                                            or int(out["shape"][-1]) != self.n_features):
            raise ValueError(f"the inference runtime of {name} takes {inp['shape'].tolist()} and gives "
                             f"{out['shape'].tolist()}, expected (n, h, w) -> (n, {self.n_features})")
        if len(inp["shape"]) < 3:
            raise ValueError(f"the inference runtime of {name} takes {inp['shape'].tolist()}, not images")
        self.item_shape = tuple(int(d) for d in inp["shape"][1:])
        self.input_size = self.item_shape[:2]
        self._in, self._out, self._batch = inp["index"], out["index"], int(inp["shape"][0])
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, np.float32)
        if batch.shape[1:] != self.item_shape:
            raise ValueError(f"{self.name} takes images of {self.item_shape}, got {batch.shape[1:]}")
        step = self.batch
        if step is not None and len(batch) > step:
            return np.concatenate([self._run(batch[i:i + step]) for i in range(0, len(batch), step)])
        return self._run(batch)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:  # one interpreter, one call at a time
            if len(batch) != self._batch:
                self._interpreter.resize_tensor_input(self._in, [len(batch), *self.item_shape])
                with native_stderr_quiet():
                    self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._in, batch)
            self._interpreter.invoke()
            return np.array(self._interpreter.get_tensor(self._out), np.float32)


# --------------------------------------------------------------------------- frozen networks through LiteRT
def runtime_threads() -> int:
    """The threads a runtime should use: the cores this process may run on (its CPU affinity,
    ``os.sched_getaffinity``) bounded by its cgroup's CPU quota (``cpu.max``, or cgroup v1's
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), at least 1.

    Examples
    --------
    >>> from featbus.model.runtime import runtime_threads
    >>> runtime_threads() >= 1
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, quota) if quota is not None else cores)


def _cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> int | None:
    """The CPUs this process's cgroup may use (its quota over its period, rounded up), or ``None``
    when unlimited or unknown."""
    try:
        quota, period = Path(root, "cpu.max").read_text().split()[:2]  # cgroup v2: "max 100000" or "200000 100000"
        if quota == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota = int(Path(root, "cpu", "cpu.cfs_quota_us").read_text())
        period = int(Path(root, "cpu", "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else max(1, math.ceil(quota / period))
    except (OSError, ValueError):
        return None


def runtime_cache_dir() -> Path:
    """featbus's folder of converted networks: ``$XDG_CACHE_HOME/featbus/runtime``
    (``~/.cache/featbus/runtime``), beside JAX's compiled programs (``featbus/jax``).

    Examples
    --------
    >>> from featbus.model.runtime import runtime_cache_dir
    >>> runtime_cache_dir().parts[-2:]
    ('featbus', 'runtime')
    """
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "featbus" / "runtime"


@functools.cache
def _package_version(*names: str) -> str:
    """The installed version of the first of ``names`` installed (``"none"``), read once."""
    from importlib.metadata import PackageNotFoundError, version

    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "none"


_DIGESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weights_digest(trackable) -> str:
    """SHA-256 of a Keras layer's (model's) weights: each variable's path, dtype, shape and values;
    computed once per network object (frozen: its weights do not change while it is used)."""
    import keras

    try:
        known = _DIGESTS.get(trackable)
    except TypeError:  # not weak-referenceable
        known = None
    if known is not None:
        return known
    h = hashlib.sha256()
    for v in trackable.weights:
        a = np.ascontiguousarray(keras.ops.convert_to_numpy(v.value))
        h.update(f"{v.path}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    digest = h.hexdigest()
    try:
        _DIGESTS[trackable] = digest
    except TypeError:
        pass
    return digest


def runtime_key(weights, cut: str, input_shape: tuple[int, ...]) -> dict:
    """What decides a converted forward: the network's weights, the cut (the layers and pooling
    the forward ends in, or what else it computes), one input's shape, and the versions of the
    runtime, of the converter (TensorFlow) and Keras, and featbus's conversion scheme.

    Parameters
    ----------
    weights : str or keras.Layer
        The network's weights hash (a shipped or ImageNet network's: its weights file's SHA-256,
        :func:`featbus.networks.weights_id`), or the network, whose weights are hashed.
    cut : str
        What the forward computes from the network (e.g. ``"block6d_add|avg"``).
    input_shape : tuple of int
        One input's shape.

    Returns
    -------
    dict
        JSON-able; ``"digest"`` is the SHA-256 of the rest, the cached file's name.
    """
    weights = weights if isinstance(weights, str) else _weights_digest(weights)
    key = {"weights": weights, "cut": str(cut), "input": [int(s) for s in input_shape],
           "litert": _package_version("ai-edge-litert"),
           "converter": _package_version("tensorflow", "tensorflow-cpu"), "keras": _package_version("keras"),
           "scheme": _CONVERSION_VERSION}
    key["digest"] = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return key


def cached_flatbuffer(key: dict, convert: Callable[[], bytes], folder: Path | None = None, *,
                      budget: int | None = None) -> bytes:
    """The flatbuffer for ``key`` (:func:`runtime_key`): read from featbus's cache folder when a
    file for exactly that key lies there, else made by ``convert()`` and written there.

    A cached ``<digest>.tflite`` is used only when it is a plain file (not a link) directly in the
    folder, its ``<digest>.json`` sidecar holds the same key, and its SHA-256 is the one the
    sidecar records; anything else is converted again and replaced. Both files are written
    atomically (:func:`featbus.io.write_file`), the flatbuffer first: a sidecar never names a
    half-written file. A folder that cannot be written leaves the conversion uncached. After a
    write the folder is pruned to :func:`featbus.networks.backend.cache_budget_bytes`, least
    recently used first (:func:`prune_cache`).

    Parameters
    ----------
    key : dict
        From :func:`runtime_key`.
    convert : callable
        ``() -> bytes``, the conversion (:func:`forward_flatbuffer`).
    folder : path, optional
        Default: :func:`runtime_cache_dir`.
    budget : int, optional
        Bytes the folder may hold (:func:`prune_cache`). Default:
        :func:`featbus.networks.backend.cache_budget_bytes`, read before anything is converted.

    Returns
    -------
    bytes
    """
    from ..io import write_file

    folder = runtime_cache_dir() if folder is None else Path(folder)
    flat_path, side_path = folder / f"{key['digest']}.tflite", folder / f"{key['digest']}.json"
    flat = _read_cached(folder, flat_path, side_path, key)
    if flat is not None:
        return flat
    if budget is None:
        from ..networks.backend import cache_budget_bytes

        budget = cache_budget_bytes()  # a mistyped FEATBUS_CACHE_MAX_MB is said before anything is converted
    flat = convert()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_file(flat_path, flat)
        write_file(side_path, json.dumps({"key": key, "sha256": hashlib.sha256(flat).hexdigest()}, sort_keys=True))
        prune_cache(folder, keep=flat_path, budget=budget)
    except OSError as exc:  # a read-only home: convert again next time
        logger.debug("featbus: converted network not cached in %s (%s)", folder, exc)
    return flat


def prune_cache(folder: Path, *, keep: Path | None = None, budget: int | None = None) -> int:
    """Remove the least recently used conversions (``<digest>.tflite`` and its sidecar) of
    ``folder`` until it holds at most ``budget`` bytes (default:
    :func:`featbus.networks.backend.cache_budget_bytes`); ``keep`` is never removed. A
    conversion's time of use is its file's modification time (a cache read renews it).

    Returns
    -------
    removed : int
        Conversions removed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from featbus.model.runtime import prune_cache
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("a", "b"):
    ...     _ = (folder / f"{name}.tflite").write_bytes(b"x" * 100)
    ...     _ = (folder / f"{name}.json").write_text("{}")
    >>> prune_cache(folder, keep=folder / "b.tflite", budget=150)
    1
    >>> sorted(p.name for p in folder.iterdir())
    ['b.json', 'b.tflite']
    """
    from ..networks.backend import cache_budget_bytes

    budget = cache_budget_bytes() if budget is None else int(budget)
    entries, total = [], 0
    for flat in folder.glob("*.tflite"):
        side = flat.with_suffix(".json")
        try:
            st = flat.lstat()
            size = st.st_size + (side.lstat().st_size if side.exists() else 0)
        except OSError:  # removed by another process meanwhile
            continue
        total += size
        if keep is None or flat != keep:
            entries.append((st.st_mtime, flat.name, flat, side, size))
    removed = 0
    for _, _, flat, side, size in sorted(entries):
        if total <= budget:
            break
        for p in (side, flat):  # the sidecar first: a sidecar never names a missing file
            p.unlink(missing_ok=True)
        total -= size
        removed += 1
    return removed


def _read_cached(folder: Path, flat_path: Path, side_path: Path, key: dict) -> bytes | None:
    """The cached flatbuffer when it may be trusted (:func:`cached_flatbuffer`), else ``None``."""
    try:
        home = folder.resolve()
        for p in (flat_path, side_path):
            if p.is_symlink() or not p.is_file() or p.resolve().parent != home:
                return None
        side = json.loads(side_path.read_text(encoding="utf-8"))
        if not isinstance(side, dict) or side.get("key") != key:
            return None
        flat = flat_path.read_bytes()
    except (OSError, ValueError):
        return None
    if hashlib.sha256(flat).hexdigest() != side.get("sha256"):
        return None
    try:
        os.utime(flat_path)  # used now: the last to go when the folder is pruned (prune_cache)
    except OSError:
        pass
    return flat


_SAID: set[str] = set()
_SAID_LOCK = threading.Lock()
#: LiteRT forwards made in this process, by their key's digest (one per network)
_FORWARDS: dict[str, LiteForward] = {}
_FORWARDS_LOCK = threading.Lock()


def say_runtime(words: str) -> None:
    """Say ``featbus: runtime: <words>`` on standard error, once per process for the same words
    (and log it at INFO on the ``featbus`` logger)."""
    with _SAID_LOCK:
        if words in _SAID:
            return
        _SAID.add(words)
    logger.info("runtime: %s", words)
    print(f"featbus: runtime: {words}", file=sys.stderr, flush=True)


def _keras_words(reason: str, network: str | None) -> str:
    """The line for the Keras forward; where LiteRT is the missing part, what it would give: the
    shipped networks' measured speed-ups (:data:`LITERT_SPEEDUP`), one line for every network."""
    if reason == "absent" and LITERT_SPEEDUP:
        lo, hi = min(LITERT_SPEEDUP.values()), max(LITERT_SPEEDUP.values())
        speed = f"{lo:.1f}x" if lo == hi else f"{lo:.1f}-{hi:.1f}x"
        return (f"Keras (ai-edge-litert is not installed; pip install 'featbus[runtime]' runs featbus's "
                f"networks about {speed} faster on a CPU: benchmarks/deep_throughput.py)")
    return f"Keras ({reason})"


def frozen_forward(est, runtime: str = "auto", *, cut: str, input_shape: tuple[int, ...], network: str | None = None,
                   n_features: int | None = None, weights: str | None = None) -> LiteForward | None:
    """The LiteRT forward of a frozen network, or ``None`` where the Keras forward runs it.

    The choice (module docstring): ``"keras"`` -> ``None``; ``"auto"`` -> LiteRT when
    ``ai-edge-litert`` is installed and the network is in the cache or converts (Keras's
    TensorFlow backend), else ``None``; ``"litert"`` -> as ``"auto"`` but an error instead of the
    Keras forward. Said once per process (:func:`say_runtime`). One forward per network and key in
    a process, shared by every estimator of that network.

    Parameters
    ----------
    est : object
        Has ``_keras_forward()`` -> ``(function, keras layer)`` (:func:`forward_flatbuffer`).
    runtime : {"auto", "litert", "keras"}
    cut : str
        What the forward computes from the network (:func:`runtime_key`).
    input_shape : tuple of int
        One input's shape (grey ``(h, w)``; a segmenter's ``(s, s, 1)``).
    network : str, optional
        Its name in the lines said (``"efficientnet_lite0"``, ``"breast-us"``).
    n_features : int, optional
        The output rows' width (checked), for a feature extractor.
    weights : str, optional
        The network's weights hash when the caller knows it without building the network (a
        shipped or ImageNet network's file digest): a cached conversion then runs without the
        Keras network ever being built. Default: the built network's weights, hashed.

    Raises
    ------
    ValueError
        ``runtime`` is not one of :data:`RUNTIMES`, or ``"litert"`` cannot run here.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime == "keras":
        say_runtime("Keras (runtime='keras')")
        return None
    if not runtime_available():
        if runtime == "litert":
            raise ValueError("runtime='litert' needs ai-edge-litert: pip install 'featbus[runtime]'")
        say_runtime(_keras_words("absent", network))
        return None
    key = runtime_key(est._keras_forward()[1] if weights is None else weights, cut, input_shape)
    with _FORWARDS_LOCK:
        known = _FORWARDS.get(key["digest"])
    if known is not None:
        return known
    from ..networks.backend import backend_name

    def convert() -> bytes:
        if backend_name() != "tensorflow":
            raise _NoConverter(f"converting a network to LiteRT needs Keras's TensorFlow backend, this "
                               f"process runs {backend_name()!r}")
        return forward_flatbuffer(est, input_shape=input_shape)

    from ..networks.backend import cache_budget_bytes

    budget = cache_budget_bytes()  # read here: a mistyped FEATBUS_CACHE_MAX_MB is an error, never a fallback
    try:
        flat = cached_flatbuffer(key, convert, budget=budget)
        fwd = LiteForward(flat, n_features, name=network or "network", batch=RUNTIME_BATCH["litert"])
    except _NoConverter as exc:
        if runtime == "litert":
            raise ValueError(f"runtime='litert': {exc}") from None
        say_runtime(_keras_words(str(exc), network))
        return None
    except Exception as exc:  # the converter raises many types; the Keras forward still runs the network
        if runtime == "litert":
            raise ValueError(f"runtime='litert': {network or 'the network'} does not convert to LiteRT "
                             f"({type(exc).__name__}: {exc})") from None
        say_runtime(_keras_words(f"{network or 'the network'} does not convert to LiteRT: {type(exc).__name__}",
                                 network))
        return None
    with _FORWARDS_LOCK:
        fwd = _FORWARDS.setdefault(key["digest"], fwd)
    say_runtime(f"LiteRT (XNNPACK, {fwd.num_threads} thread{'s' if fwd.num_threads != 1 else ''})")
    return fwd


class _NoConverter(RuntimeError):
    """No converter in this process (Keras runs on another backend than TensorFlow)."""


# --------------------------------------------------------------------------- work shared by a run's models
class SharedPasses:
    """What the parts of one run's models computed of its images, by (kind, part fingerprint, image
    key): a call-local store, made by the command and handed down as ``passes=`` (module docstring).

    A part given one looks a result up before computing it; ``hits`` and ``misses`` count the
    look-ups. Nothing is global: two stores share nothing, and what one keeps goes with it.

    Examples
    --------
    >>> from featbus.model.runtime import SharedPasses
    >>> passes = SharedPasses()
    >>> passes.put("maps", "unet-1", "image-1", [0.5])
    >>> passes.get("maps", "unet-1", "image-1"), passes.get("maps", "unet-1", "image-2")
    ([0.5], None)
    >>> passes.hits, passes.misses, len(passes)
    (1, 1, 1)
    """

    def __init__(self):
        self._values: dict[tuple[str, str, str], Any] = {}
        self._parts: dict[int, tuple[object, str]] = {}  # id -> (the part, kept alive; its fingerprint)
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def fingerprint(self, part: object, compute: Callable[[], str]) -> str:
        """``part``'s fingerprint, computed once per store (a part's weights do not change while a
        run predicts)."""
        with self._lock:
            known = self._parts.get(id(part))
        if known is not None and known[0] is part:
            return known[1]
        value = str(compute())
        with self._lock:
            self._parts[id(part)] = (part, value)
        return value

    def get(self, kind: str, fingerprint: str, key: str) -> Any:
        """The value kept for (kind, fingerprint, key), or ``None``."""
        with self._lock:
            value = self._values.get((kind, fingerprint, key))
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def put(self, kind: str, fingerprint: str, key: str, value: Any) -> None:
        """Keep ``value`` for (kind, fingerprint, key)."""
        with self._lock:
            self._values[(kind, fingerprint, key)] = value

    def __len__(self) -> int:
        return len(self._values)
