"""Everything that differs between Keras backends (TensorFlow, PyTorch, JAX), in one module.

featbus's networks are written once, with Keras 3 layers and ``keras.ops``; what Keras leaves to
each backend lives here and nowhere else:

* :func:`wanted_backend` says which backend Keras will use, without importing it (the installed
  PyTorch or JAX where TensorFlow is absent and nothing was chosen);
* :func:`keras_module` imports Keras (and TensorFlow only when it is the backend; once setting
  TensorFlow's thread pools on a small machine, or JAX's compilation cache);
* :func:`device` names the device the backend computes on (its first GPU when it sees one);
* :func:`compile_forward` turns a function of Keras tensors into a compiled NumPy function
  (``tf.function``, ``jax.jit`` over the variables' values, or PyTorch without autograd);
* :func:`make_train_step` builds one optimisation step (gradient, per-part learning rates,
  optimiser updates) for :mod:`featbus.networks.training`, the one training engine, whose
  losses stay on the device until :func:`to_float` reads them;
* :func:`mixed_precision_scope` builds a network in bfloat16 compute on GPUs;
* :data:`GPU_XLA_FLAGS`: the XLA flags measured to shorten a first training on a GPU, set only where
  the user set no ``XLA_FLAGS`` (none yet: no GPU row has been measured);
* :func:`host_initializer` fills weights on the host (JAX compiles Keras's initialisers once per
  weight shape) and :class:`JaxCompiles` counts what JAX compiled or read from its persistent cache.

The backend is Keras's: ``KERAS_BACKEND`` (or ``~/.keras/keras.json``); without a choice, JAX where
it sees a GPU, else TensorFlow, PyTorch or JAX, whichever is installed first (:func:`wanted_backend`).
A public module: the features, the segmenter, the model file and the commands import it from here
(``featbus.backend_info`` is :func:`backend_info`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


@contextlib.contextmanager
def native_stderr_quiet(enabled: bool = True):
    """Send file descriptor 2 to a temporary file for the duration.

    Native libraries (TensorFlow's start-up, LiteRT's delegate) print informational lines
    straight to the descriptor, before or beside any Python log level. What they printed is
    shown after all when the block raises (except an ImportError, whose message says enough).
    """
    if not enabled:
        yield
        return
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except Exception as exc:  # (an interrupt, Ctrl-C, shows nothing of it)
            os.dup2(saved, 2)
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").strip()
            if tail and not isinstance(exc, ImportError):
                print(tail, file=sys.stderr)
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)

__all__ = ["wanted_backend", "keras_module", "backend_name", "device", "backend_info", "compile_forward",
           "make_train_step", "to_float", "host_initializer", "host_scalars", "JaxCompiles", "mixed_precision_scope",
           "use_mixed_precision", "require_keras", "BACKEND_EXTRAS"]

logger = logging.getLogger("featbus")

#: The pip extra that installs each backend (named in the error when one is missing).
BACKEND_EXTRAS = {"tensorflow": "featbus[deep]", "torch": "featbus[torch]", "jax": "featbus[jax]"}

_THREADS_SET = False
_DEVICE: str | None = None


def wanted_backend() -> str:
    """The Keras backend featbus's networks will run on, found without importing Keras.

    The user's choice first: ``KERAS_BACKEND`` when set, else the ``backend`` of Keras's
    ``keras.json`` (in ``$KERAS_HOME`` or ``~/.keras``) when it names PyTorch or JAX. Without
    one, JAX when it is installed with GPU support and sees a GPU (``pip install "jax[cuda12]"``:
    the fastest backend on a GPU); else TensorFlow when it is installed (Keras's default, which
    Keras writes into a new ``keras.json``); else the first of PyTorch (the faster on a CPU) and
    JAX that is installed. A backend chosen here is set as ``KERAS_BACKEND`` for Keras, before it
    is first imported: an environment with only ``featbus[torch]`` or ``featbus[jax]`` runs its
    networks without being told. JAX is imported to ask for a GPU only where a JAX GPU plugin is
    installed.
    """
    import importlib.util
    import json
    import sys
    from pathlib import Path

    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    if sys.modules.get("keras") is not None:  # imported already: its choice stands (None: blocked, not imported)
        return sys.modules["keras"].backend.backend()
    config = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "keras.json"
    try:
        name = json.loads(config.read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        name = None

    def found(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False

    # Keras writes keras.json itself on first import, with its default (TensorFlow): that one is
    # no user's choice, so JAX on a GPU goes before it
    if name and name != "tensorflow":
        return str(name)
    if found("jax") and _jax_gpu_plugin_installed():
        _default_xla_flags()  # before JAX starts its GPU backend
    if found("jax") and _jax_sees_gpu():
        os.environ["KERAS_BACKEND"] = "jax"
        logger.info("featbus: JAX sees a GPU; Keras runs on jax (KERAS_BACKEND=jax)")
        return "jax"
    if found("tensorflow"):
        return "tensorflow"
    for other in ("torch", "jax"):
        if found(other):
            os.environ["KERAS_BACKEND"] = other
            logger.info("featbus: TensorFlow is not installed; Keras runs on %s (KERAS_BACKEND=%s)", other, other)
            return other
    return "tensorflow"


def _jax_gpu_plugin_installed() -> bool:
    """Whether a JAX GPU plugin is installed (``jax[cuda12]``, ``jax[cuda13]`` and ROCm's bring
    one, in JAX's ``jax_plugins`` namespace package or entry points): found without importing
    JAX, so that a CPU-only JAX costs no import to rule out."""
    import importlib.metadata
    import importlib.util

    try:
        if importlib.util.find_spec("jax_plugins") is not None:
            return True
    except (ImportError, ValueError):
        pass
    try:
        return bool(importlib.metadata.entry_points(group="jax_plugins"))
    except Exception:  # broken package metadata: no plugin known
        return False


def _jax_gpu_devices() -> list:
    """JAX's GPUs (``jax.devices("gpu")``); empty where JAX has no GPU backend."""
    import jax

    try:
        return list(jax.devices("gpu"))
    except RuntimeError:  # "Unknown backend gpu" / no device: a CPU-only JAX
        return []


def _jax_sees_gpu() -> bool:
    """Whether JAX is installed with GPU support and sees a GPU: then the networks train on JAX
    (7.5x PyTorch per image on an H200, benchmarks/results/backend_speed_gpu.json), unless the
    user named a backend. JAX is imported only where a GPU plugin is installed."""
    if not _jax_gpu_plugin_installed():
        return False
    try:
        return bool(_jax_gpu_devices())
    except Exception as exc:  # a broken driver or plugin: another backend, and say why
        logger.warning("featbus: JAX's GPU plugin is installed but unusable (%s)", exc)
        return False


def _keras_found() -> bool:
    """Whether Keras and the chosen backend's package are installed (found, not imported)."""
    import importlib.util

    wanted = wanted_backend()
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("keras", wanted))
    except (ImportError, ValueError):
        return False


def require_keras(what: str) -> None:
    """Raise a one-line ``ImportError`` naming the extra to install when Keras (or its backend)
    is not installed: checked when a network is asked for, before any fit (a grid search would
    otherwise fail every fit and report "All the fits failed").

    Parameters
    ----------
    what : str
        What needs it, for the message (``"DeepFeatures"``, ``"feature 'efficientnet_lite0'"``).
    """
    if not _keras_found():
        wanted = wanted_backend()
        extra = BACKEND_EXTRAS.get(wanted, "featbus[deep]")
        raise ImportError(f'{what} needs Keras 3 with the {wanted!r} backend, which is not installed: '
                          f'pip install "{extra}"', name="keras")


def keras_module():
    """Import Keras (and with the TensorFlow backend, set its thread pools once).

    Raises ``ImportError`` naming the extra to install when Keras or the backend is missing.
    """
    import sys

    global _THREADS_SET
    # TensorFlow's C++ start-up lines (oneDNN, CPU instructions, absl) are written to the file
    # descriptor before its log level applies: a script gets none of them, as the CLI does, unless
    # the user asked for them (TF_CPP_MIN_LOG_LEVEL 0 or 1) or debugs featbus; a user's level of 2
    # or 3 asks for less, which the level alone does not give
    asked = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2").strip() in ("0", "1")
    quiet = (not asked and "keras" not in sys.modules
             and "tensorflow" not in sys.modules and not logger.isEnabledFor(logging.DEBUG))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    wanted = wanted_backend()
    if wanted == "jax":
        _default_xla_flags()
    try:
        with native_stderr_quiet(quiet):
            import keras

            if quiet and keras.backend.backend() == "tensorflow":
                import tensorflow  # noqa: F401  (its start-up lines, within the quiet block)
    except ImportError as exc:
        extra = BACKEND_EXTRAS.get(wanted, "featbus[deep]")
        raise ImportError(f"featbus's networks need Keras 3 with the {wanted!r} backend: "
                          f"pip install '{extra}' ({exc})", name=getattr(exc, "name", None) or "keras") from exc
    if not _THREADS_SET:
        _THREADS_SET = True
        if keras.backend.backend() == "jax":
            _jax_compilation_cache()
        if keras.backend.backend() == "tensorflow":
            try:
                import tensorflow as tf

                env = os.environ
                intra = env.get("TF_NUM_INTRAOP_THREADS") or env.get("OMP_NUM_THREADS")
                inter = env.get("TF_NUM_INTEROP_THREADS")
                if intra:
                    tf.config.threading.set_intra_op_parallelism_threads(int(intra))
                # one inter-op thread per core at most: on a small shared machine more only thrash
                tf.config.threading.set_inter_op_parallelism_threads(
                    int(inter) if inter else min(2, os.cpu_count() or 1))
            except (RuntimeError, ValueError):  # runtime already started: keep its setting
                pass
    return keras


#: Default size of each of featbus's cache folders, in megabytes (:func:`cache_budget_bytes`).
CACHE_MAX_MB = 1024


def cache_budget_bytes() -> int:
    """How large each of featbus's own cache folders under ``~/.cache/featbus`` may grow (LiteRT
    conversions, JAX's compiled programs): ``$FEATBUS_CACHE_MAX_MB`` megabytes, default
    :data:`CACHE_MAX_MB`; the least recently used entries go first.

    Examples
    --------
    >>> from featbus.networks.backend import cache_budget_bytes
    >>> cache_budget_bytes() > 0
    True
    """
    value = os.environ.get("FEATBUS_CACHE_MAX_MB", "").strip()
    try:
        mb = float(value) if value else CACHE_MAX_MB
    except ValueError:
        raise ValueError(f"FEATBUS_CACHE_MAX_MB must be a number of megabytes, got {value!r}") from None
    if not 0 < mb < float("inf"):  # NaN and infinity too: a size is a finite number
        raise ValueError(f"FEATBUS_CACHE_MAX_MB must be a finite number above 0, got {value!r}")
    return int(mb * 2**20)


#: JAX's defaults for the persistent cache's thresholds, which featbus changes only where still set
_JAX_CACHE_SETTINGS = (
    # every program kept: JAX keeps by default only those that compiled for 1 s or more, and a
    # fine-tuning's small ones (its scalars, a forward at a new batch size) then compile in every process
    ("jax_persistent_cache_min_compile_time_secs", 1.0, 0.0),
    ("jax_persistent_cache_min_entry_size_bytes", 0, -1),  # -1: no size limit (nor the file system's)
    # jax_persistent_cache_enable_xla_caches stays JAX's default (the GPU's autotuning results kept
    # beside the programs): its "all" (XLA's compiled-kernel cache too) made the default recipe fail on
    # an H200 (jax 0.11.2, CUDA 13): CUDNN_STATUS_EXECUTION_FAILED in the first forward, in a fresh
    # process and with the cache warm alike (benchmarks/results/backend_speed_gpu.json, run 4)
)


#: The XLA flags that GPU measurements of the default recipe's first training showed to win
#: (``scripts/gpu_measurements.sh``: the ``first_training`` rows of
#: ``benchmarks/results/backend_speed_gpu.json``, each setting in a fresh process with an empty cache),
#: set by featbus only where a JAX GPU plugin is installed and the user set no ``XLA_FLAGS`` (an empty
#: ``XLA_FLAGS`` is a choice: XLA's own defaults). Empty: no GPU row has been measured yet, so XLA's
#: defaults stand.
GPU_XLA_FLAGS: tuple[str, ...] = ()

#: Whether ``mixed_precision="auto"`` computes in bfloat16 on a GPU (float32 on a CPU either way): today's
#: default, kept until the same rows compare the first run in float32 (``--mixed-precision off``).
AUTO_BFLOAT16_ON_GPU = True


def _default_xla_flags() -> None:
    """Set :data:`GPU_XLA_FLAGS` as ``XLA_FLAGS`` where they apply: a JAX GPU plugin installed, no
    ``XLA_FLAGS`` of the user's, and JAX not yet imported (XLA reads the variable once, when its first
    backend starts)."""
    import sys

    if not GPU_XLA_FLAGS or "XLA_FLAGS" in os.environ or "jax" in sys.modules or not _jax_gpu_plugin_installed():
        return
    os.environ["XLA_FLAGS"] = " ".join(GPU_XLA_FLAGS)
    logger.info("featbus: XLA_FLAGS=%s (measured to shorten a first training on a GPU; set XLA_FLAGS to "
                "choose yours)", os.environ["XLA_FLAGS"])


def _jax_compilation_cache() -> None:
    """Keep JAX's compiled programs on disk (JAX's persistent compilation cache), unless the user
    configured it: every fold of a cross-validation, every ensemble member and every later run
    builds a new network whose training step compiles to the same program, compiled once.

    In ``$JAX_COMPILATION_CACHE_DIR`` when set (JAX's own setting), else
    ``$XDG_CACHE_HOME/featbus/jax`` (``~/.cache/featbus/jax``); ``FEATBUS_JAX_CACHE=0`` turns it off.
    Every program is kept, however small or quick to compile, with the GPU's autotuning results
    beside them (JAX's default; :data:`_JAX_CACHE_SETTINGS`), up to :func:`cache_budget_bytes`
    in all (JAX's least-recently-used eviction; unbounded by JAX's default); a setting the user
    changed from JAX's default stays theirs. JAX's size bound locks the folder with the ``filelock``
    package (without it JAX warns on every compile and keeps nothing), so the ``jax`` extra declares it.
    """
    if os.environ.get("FEATBUS_JAX_CACHE", "1") == "0":
        return
    try:
        import jax

        if not os.environ.get("JAX_COMPILATION_CACHE_DIR") and not jax.config.jax_compilation_cache_dir:
            from pathlib import Path

            root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "featbus" / "jax"
            root.mkdir(parents=True, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", str(root))
        for name, default, ours in (*_JAX_CACHE_SETTINGS, ("jax_compilation_cache_max_size", -1, cache_budget_bytes())):
            if getattr(jax.config, name, None) == default and name.upper() not in os.environ:
                jax.config.update(name, ours)
    except (OSError, AttributeError, ValueError) as exc:  # no writable home, an older JAX: compile every time
        logger.debug("featbus: no JAX compilation cache (%s)", exc)


class JaxCompiles:
    """The programs JAX compiled (or read from its persistent cache) while a block ran.

    Each entry of :attr:`programs` is ``(name, seconds, cached)``: the jitted function's name
    (``"jit(jax_step)"`` for a training step), the seconds its compilation or cache read took, and
    whether it came from the persistent cache. Read from JAX's monitoring events (no log parsing).

    Examples
    --------
    >>> import jax, numpy as np
    >>> with JaxCompiles() as compiles:
    ...     _ = jax.jit(lambda x: x * 3 + 1)(np.arange(7.0))
    >>> compiles.count("<lambda>")
    1
    """

    _active: list = []
    _hit = threading.local()  # per thread: a step compiles ahead on a thread of its own
    _registered = False

    def __init__(self):
        self.programs: list[tuple[str, float, bool]] = []

    @classmethod
    def _listen(cls) -> None:
        if cls._registered:
            return
        import jax.monitoring

        def on_event(event, **kwargs):
            if event == "/jax/compilation_cache/cache_hits":
                cls._hit.value = True  # the compile event of the same program follows, on this thread

        def on_duration(event, seconds, **kwargs):
            if event == "/jax/core/compile/backend_compile_duration":
                hit = getattr(cls._hit, "value", False)
                for tally in list(cls._active):
                    tally.programs.append((str(kwargs.get("fun_name", "?")), float(seconds), hit))
                cls._hit.value = False

        jax.monitoring.register_event_listener(on_event)
        jax.monitoring.register_event_duration_secs_listener(on_duration)
        cls._registered = True

    def __enter__(self):
        self._listen()
        JaxCompiles._active.append(self)
        return self

    def __exit__(self, *exc):
        JaxCompiles._active.remove(self)
        return False

    def count(self, name: str | None = None, *, cached: bool | None = None) -> int:
        """How many programs named ``name`` (a part of the name; all when ``None``) were compiled
        (``cached=False``), read from the cache (``True``) or either (``None``)."""
        return sum(1 for n, _, c in self.programs
                   if (name is None or name in n) and (cached is None or c == cached))

    def seconds(self, *, cached: bool = False) -> float:
        """Seconds spent compiling (``cached=False``) or reading the cache (``True``)."""
        return float(sum(s for _, s, c in self.programs if c == cached))


def backend_name() -> str:
    """The Keras backend in use: ``"tensorflow"``, ``"torch"`` or ``"jax"``."""
    return keras_module().backend.backend()


def device() -> str:
    """The device networks run on: ``"gpu:0 (<name>)"`` for the backend's first GPU, else ``"cpu"``.

    Logged once (logger ``"featbus"``, level INFO) and written into model files.
    """
    global _DEVICE
    if _DEVICE is None:
        name = backend_name()
        found = None
        try:
            if name == "tensorflow":
                import tensorflow as tf

                gpus = tf.config.list_physical_devices("GPU")
                if gpus:
                    found = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
            elif name == "torch":
                import torch

                if torch.cuda.is_available():
                    found = torch.cuda.get_device_name(0)
            elif name == "jax":
                import jax

                d = jax.devices()[0]
                if d.platform != "cpu":
                    found = d.device_kind
        except Exception as exc:  # a broken driver: compute on the CPU, and say why
            logger.warning("featbus: no GPU usable by %s (%s); using the CPU", name, exc)
        _DEVICE = "cpu" if found is None else f"gpu:0 ({found})"
        logger.info("featbus: Keras backend %s on %s", name, _DEVICE)
    return _DEVICE


def backend_info() -> dict:
    """Which Keras backend featbus's networks use, on which device, and whether training
    computes in mixed precision there (``featbus.backend_info()``: the check that a GPU is used).

    Examples
    --------
    >>> import featbus
    >>> sorted(featbus.backend_info())
    ['backend', 'device', 'keras', 'mixed_precision']
    """
    keras = keras_module()
    return {"backend": backend_name(), "device": device(), "mixed_precision": use_mixed_precision("auto"),
            "keras": keras.__version__}


def use_mixed_precision(setting: bool | str) -> bool:
    """Resolve a ``mixed_precision`` parameter: ``"auto"`` means on a GPU only
    (:data:`AUTO_BFLOAT16_ON_GPU`)."""
    if setting == "auto":
        return AUTO_BFLOAT16_ON_GPU and device() != "cpu"
    return bool(setting)


@contextlib.contextmanager
def mixed_precision_scope(enabled: bool):
    """Layers built inside compute in bfloat16 with float32 variables (``mixed_bfloat16``).

    bfloat16 keeps float32's exponent range, so no loss scaling is needed; heads that produce
    logits should be built with ``dtype="float32"``.
    """
    if not enabled:
        yield
        return
    keras = keras_module()
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


_HOST_INITIALIZERS: dict[float, Any] = {}
_HOST_SCALARS_LOCK = threading.Lock()


@contextlib.contextmanager
def host_scalars():
    """Keras variables made from a Python number within the block (an optimiser's iteration
    counter and learning rate) are transferred from the host on JAX, as NumPy values of their
    dtype: Keras converts the number on the device, which compiles a ``jit(convert_element_type)``
    per dtype (two of a first fine-tuning's four programs, ``benchmarks/jax_compile_cache.py``).
    The variables hold the same values and dtypes; other backends are left as they are.

    Examples
    --------
    >>> from featbus.networks.backend import host_scalars, keras_module
    >>> keras = keras_module()
    >>> with host_scalars():
    ...     counter = keras.Variable(0, dtype="int32", trainable=False)
    >>> int(keras.ops.convert_to_numpy(counter)), counter.dtype
    (0, 'int32')
    """
    keras = keras_module()
    if keras.backend.backend() != "jax":
        yield
        return
    import jax
    from keras.src.backend.jax.core import JaxVariable

    with _HOST_SCALARS_LOCK:
        plain = JaxVariable._convert_to_tensor

        def on_host(self, value, dtype=None):
            if dtype is not None and isinstance(value, (bool, int, float, np.number)):
                try:
                    return jax.device_put(np.asarray(value, dtype=np.dtype(keras.backend.standardize_dtype(dtype))))
                except TypeError:  # a dtype NumPy lacks (bfloat16 without ml_dtypes): Keras's own conversion
                    pass
            return plain(self, value, dtype=dtype)

        JaxVariable._convert_to_tensor = on_host
        try:
            yield
        finally:
            JaxVariable._convert_to_tensor = plain


def host_initializer(value: float = 0.0):
    """A Keras initializer that fills a variable with ``value`` on the host (NumPy).

    Keras's own initialisers compute on the device: on JAX each weight shape compiles a program
    of its own (``zeros`` a ``broadcast_in_dim``, ``glorot_uniform`` a ``_uniform``: 78 programs,
    most of a first fit's compiling, for an EfficientNet-Lite0 and its AdamW). For weights that
    pretrained values overwrite, and for optimiser slots, a host constant compiles nothing.

    Examples
    --------
    >>> init = host_initializer(1.0)
    >>> init((2, 3), dtype="float32").tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    value = float(value)
    if value not in _HOST_INITIALIZERS:
        keras = keras_module()

        class HostConstant(keras.initializers.Initializer):
            def __init__(self, fill: float):
                self.fill = fill

            def __call__(self, shape, dtype=None):
                dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
                try:
                    array = np.full(tuple(shape), self.fill, dtype=np.dtype(dtype))
                except TypeError:  # a dtype NumPy lacks (bfloat16 without ml_dtypes): Keras's own
                    return keras.ops.full(tuple(shape), self.fill, dtype=dtype)
                if keras.backend.backend() == "jax":  # a transfer: jnp.asarray compiles a copy per shape
                    import jax

                    return jax.device_put(array)
                return array

            def get_config(self):
                return {"fill": self.fill}

        _HOST_INITIALIZERS[value] = HostConstant(value)
    return _HOST_INITIALIZERS[value]


def _to_numpy(value) -> Any:
    if isinstance(value, (list, tuple)):
        return [_to_numpy(v) for v in value]
    keras = keras_module()
    return np.asarray(keras.ops.convert_to_numpy(value))


def _padded_batch(n: int) -> int:
    """JAX compiles once per input shape: batches are padded to a power of two."""
    return 1 << max(0, (n - 1).bit_length())


def compile_forward(fn: Callable, variables: Sequence, *, batch_size: int | None = None) -> Callable[..., Any]:
    """A compiled NumPy version of ``fn(*tensors)``, a function of Keras layers and ``keras.ops``.

    Parameters
    ----------
    fn : callable
        Takes backend tensors (batch first) and returns a tensor or a list of tensors.
    variables : sequence of keras.Variable
        Every variable ``fn`` reads (JAX passes their current values in, so the compiled
        function sees later weight changes).
    batch_size : int, optional
        On JAX (one program per input shape, and on a GPU its convolutions autotuned per shape):
        every call runs in batches of exactly this many rows, the last one topped up with zeros
        that are dropped after, so a network evaluated at its training batch size compiles one
        forward program and XLA tunes no convolution shape the training step did not. Without
        it, a call's rows are topped up to the next power of two. Other backends ignore it.

    Returns
    -------
    forward : callable
        Takes NumPy arrays, returns NumPy arrays (a list when ``fn`` returns one). On JAX it also
        has ``forward.compile_ahead(*arrays)``: the program for inputs of these arrays' shapes
        and dtypes (one call's, as topped up) traced now and compiled on a thread, which the
        first such call waits for (a fine-tuning's validation forward, compiled while its first
        epoch trains).
    """
    keras = keras_module()
    name = keras.backend.backend()
    variables = list(variables)
    if name == "tensorflow":
        import tensorflow as tf

        _quiet_step_retracing()
        compiled: dict[tuple, Any] = {}  # the inputs' shapes past the batch and dtypes -> one traced function

        def traced_forward(*tensors):  # one name for every network's forward (see _StepRetraceFilter)
            return fn(*tensors)

        def forward(*arrays):
            tensors = [tf.convert_to_tensor(a) for a in arrays]
            key = tuple((tuple(t.shape[1:]), t.dtype) for t in tensors)
            if key not in compiled:
                # the batch dimension left open: one trace whatever the batch sizes (a plain
                # tf.function traces once per new size, and TensorFlow warns of retracing).
                # No jit_compile: measured on CPU, XLA ran mobilenet_v2 ~10x and vgg16 ~1.2x slower
                # than oneDNN
                spec = [tf.TensorSpec((None, *shape), dtype) for shape, dtype in key]
                compiled[key] = tf.function(traced_forward, input_signature=spec)
            return _to_numpy(compiled[key](*tensors))
    elif name == "jax":
        import jax

        def pure(values, *arrays):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*arrays)

        compiled = jax.jit(pure)
        fixed = None if batch_size is None else max(1, int(batch_size))
        ahead: dict[tuple, Any] = {}  # the inputs' shapes and dtypes -> the program compiled ahead (or its Future)

        def signature(arrays) -> tuple:
            return tuple((tuple(np.shape(a)), np.dtype(a.dtype).str) for a in arrays)

        def run(arrays):
            n = len(arrays[0])
            size = _padded_batch(n) if fixed is None else fixed
            if size != n:
                arrays = [np.concatenate([a, np.zeros((size - n, *a.shape[1:]), a.dtype)]) for a in arrays]
            program = compiled
            if ahead:
                key = signature(arrays)
                found = ahead.get(key)
                if found is not None and not callable(found):  # a compile ahead's Future: wait for it
                    found = ahead[key] = found.result()
                program = found or compiled
            out = _to_numpy(program([v.value for v in variables], *arrays))
            return [o[:n] for o in out] if isinstance(out, list) else out[:n]

        def compile_ahead(*arrays):
            # traced here, compiled on the one compile-ahead thread (_compile_in_background): a call with
            # inputs of these shapes and dtypes (one full batch) then runs that program
            values = [jax.ShapeDtypeStruct(np.shape(v.value), v.value.dtype) for v in variables]
            specs = [jax.ShapeDtypeStruct(np.shape(a), a.dtype) for a in arrays]
            future = _compile_in_background(compiled.lower(values, *specs))
            ahead[signature(arrays)] = future
            return future

        def forward(*arrays):
            n = len(arrays[0])
            if fixed is None or n <= fixed:
                return run(arrays)
            parts = [run([a[i:i + fixed] for a in arrays]) for i in range(0, n, fixed)]
            if isinstance(parts[0], list):
                return [np.concatenate(column) for column in zip(*parts)]
            return np.concatenate(parts)

        forward.compile_ahead = compile_ahead
    elif name == "torch":
        import torch

        def forward(*arrays):
            with torch.no_grad():
                return _to_numpy(fn(*[keras.ops.convert_to_tensor(a) for a in arrays]))
    else:  # pragma: no cover - Keras has no other backend today
        raise RuntimeError(f"featbus does not support the Keras backend {name!r}")
    return forward


class _StepRetraceFilter(logging.Filter):
    """Every phase (and ensemble member) compiles its own step, traced once, and every
    network (each fold's, each member's) its own forward, traced once: TensorFlow counts traces
    by the Python code they run, so it counts these as "excessive retracing" of one function and
    warns; they are expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "make_train_step" not in message and "compile_forward.<locals>.traced_forward" not in message


def _quiet_step_retracing() -> None:
    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _StepRetraceFilter) for f in tf_logger.filters):
        tf_logger.addFilter(_StepRetraceFilter())


def make_train_step(loss_fn: Callable, model, parts: Sequence[tuple[Any, Sequence]]):
    """One optimisation step over ``model``'s trainable variables, for the training engine.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(*batch) -> scalar``, calling the model in training mode with ``keras.ops``.
    model : keras.Model or keras.Layer
        Holds every variable ``loss_fn`` reads; its ``trainable_variables`` are trained.
    parts : sequence of (optimizer, variables)
        Each optimiser (built on its variables) updates its own part: per-part learning rates.
        Together they must cover the trainable variables.

    Returns
    -------
    step : callable
        ``step(learning_rates, *batch) -> loss`` (one rate per part), the loss a backend scalar
        left on the device until :func:`to_float` reads it (reading syncs with the device, so
        the engine reads a few at a time); the Keras variables hold the updated values after
        every call, on every backend. On JAX it also has ``step.compile_ahead(rates, batch,
        background=True)``: traces the step now (the Keras layers as they are set now) for
        ``batch``'s shapes and compiles it on a thread of its own (a ``Future``; with
        ``background=False`` compiled before it returns); a later call with those shapes runs that
        program.
    """
    keras = keras_module()
    name = keras.backend.backend()
    trainable = list(model.trainable_variables)
    ids = {id(v): i for i, v in enumerate(trainable)}
    positions = [[ids[id(v)] for v in variables] for _, variables in parts]
    covered = sorted(p for pos in positions for p in pos)
    if covered != list(range(len(trainable))):
        raise ValueError("the optimiser parts must cover every trainable variable exactly once")
    optimizers = [opt for opt, _ in parts]

    if name == "tensorflow":
        import tensorflow as tf

        _quiet_step_retracing()

        def tf_step(rates, *batch):
            with tf.GradientTape() as tape:
                loss = loss_fn(*batch)
            grads = tape.gradient(loss, trainable)
            for k, (opt, pos) in enumerate(zip(optimizers, positions)):
                opt.learning_rate.assign(rates[k])
                opt.apply([grads[i] for i in pos], [trainable[i] for i in pos])
            return loss

        compiled: dict[tuple, Any] = {}  # the batch's shapes past the first dimension and dtypes -> one trace

        def step(rates, *batch):
            rates = tf.constant(rates, tf.float32)
            tensors = [tf.convert_to_tensor(b) for b in batch]
            key = (tuple(rates.shape), *((tuple(t.shape[1:]), t.ndim, t.dtype) for t in tensors))
            if key not in compiled:
                # the batch dimension left open: one trace per phase, the last, smaller batch
                # included (reduce_retracing traced it a second time). Autograph off: the step's
                # Python loops run once, at tracing
                spec = [tf.TensorSpec(rates.shape, tf.float32)] + [
                    tf.TensorSpec((None, *t.shape[1:]) if t.ndim else (), t.dtype) for t in tensors]
                compiled[key] = tf.function(tf_step, autograph=False, input_signature=spec)
            return compiled[key](rates, *tensors)  # read when the engine needs it

        return step

    if name == "torch":
        import torch

        def step(rates, *batch):
            for v in trainable:
                v.value.grad = None
            loss = loss_fn(*[keras.ops.convert_to_tensor(b) for b in batch])
            loss.backward()
            grads = [v.value.grad for v in trainable]
            with torch.no_grad():
                for k, (opt, pos) in enumerate(zip(optimizers, positions)):
                    opt.learning_rate.assign(float(rates[k]))
                    opt.apply([grads[i] for i in pos], [trainable[i] for i in pos])
            return loss.detach()  # on the device: read when the engine needs it (a sync)

        return step

    if name != "jax":  # pragma: no cover
        raise RuntimeError(f"featbus does not support the Keras backend {name!r}")
    import jax

    others = [v for v in model.variables if id(v) not in ids]
    lr_index = []
    for opt in optimizers:
        hits = [i for i, v in enumerate(opt.variables) if v is opt._learning_rate]
        if not hits:  # a schedule object instead of a variable: the engine sets rates itself
            raise ValueError("the training engine needs optimisers built with a float learning rate")
        lr_index.append(hits[0])

    def loss_of(train_values, other_values, batch):
        mapping = list(zip(trainable, train_values)) + list(zip(others, other_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss = loss_fn(*batch)
            # batch-norm statistics and seed generators change during a training call
            updated = [scope.get_current_value(v) for v in others]
        return loss, updated

    grad_fn = jax.value_and_grad(loss_of, has_aux=True)

    def jax_step(train_values, other_values, opt_values, rates, batch):
        (loss, other_values), grads = grad_fn(train_values, other_values, batch)
        train_values = list(train_values)
        new_opt = []
        for k, (opt, pos) in enumerate(zip(optimizers, positions)):
            values = list(opt_values[k])
            values[lr_index[k]] = rates[k].astype(values[lr_index[k]].dtype)
            updated, values = opt.stateless_apply(values, [grads[i] for i in pos], [train_values[i] for i in pos])
            for i, value in zip(pos, updated):
                train_values[i] = value
            new_opt.append(values)
        return loss, train_values, other_values, new_opt

    # the state is donated: XLA writes the new values into the buffers of the old ones, as Keras's
    # own fit does (on the CPU, a 360-variable network's step took 1.9-2.3 ms of CPU against 2.8-3.7)
    compiled = jax.jit(jax_step, donate_argnums=(0, 1, 2))
    variables = trainable + others + [v for opt in optimizers for v in opt.variables]
    sizes = (len(trainable), len(others))
    cache: dict[str, list] = {"values": []}  # what the last step wrote into each variable

    def own(variable):
        # a value the step did not make (the first step's, a tally reset, best weights put back)
        # is copied before it is donated: an array someone else holds stays valid
        return jax.device_put(variable.value, may_alias=False)

    def current() -> list:
        # the values the last step wrote, unless something else assigned a variable since: one
        # identity test per variable, not a read through Keras's property (~7 us each, ~1000
        # variables for an EfficientNet and its AdamW)
        written = cache["values"]
        if len(written) != len(variables):
            return [own(v) for v in variables]
        return [w if v._value is w else own(v) for v, w in zip(variables, written)]

    def split(values: list) -> tuple:
        a, b = sizes
        opt_values, k = [], a + b
        for opt in optimizers:
            opt_values.append(values[k:k + len(opt.variables)])
            k += len(opt.variables)
        return values[:a], values[a:a + b], opt_values

    ahead: dict[tuple, Any] = {}  # the batch's shapes and dtypes -> the step compiled ahead (or its Future)

    def signature(rates, batch) -> tuple:
        return tuple((np.shape(x), np.result_type(x).str) for x in (rates, *batch))

    def compile_ahead(rates, batch, *, background: bool = True):
        # traced here (Python, this thread: the Keras layers as they are set now), compiled by XLA on
        # a thread of its own (the compile releases the GIL), into the persistent cache like jit's
        rates = np.asarray(rates, np.float32)
        spec = [jax.ShapeDtypeStruct(np.shape(v.value), v.value.dtype) for v in variables]
        train_spec, other_spec, opt_spec = split(spec)
        batch_spec = tuple(jax.ShapeDtypeStruct(np.shape(x), np.result_type(x)) for x in batch)
        lowered = compiled.lower(train_spec, other_spec, opt_spec, jax.ShapeDtypeStruct(rates.shape, rates.dtype),
                                 batch_spec)
        key = signature(rates, batch)
        if not background:
            ahead[key] = lowered.compile()
            return ahead[key]
        ahead[key] = future = _compile_in_background(lowered)
        return future

    def step(rates, *batch):
        rates = np.asarray(rates, np.float32)
        run = compiled
        if ahead:
            found = ahead.get(signature(rates, batch))
            if found is not None and not callable(found):  # the Future of a compile ahead: wait for it
                found = ahead[signature(rates, batch)] = found.result()
            run = found or compiled
        train_values, other_values, opt_values = split(current())
        loss, train_values, other_values, opt_values = run(
            train_values, other_values, opt_values, rates, tuple(batch))
        # the new values go straight into the variables (Keras's assign converts and checks each
        # one: ~10 ms a step for ~1000 variables, longer than a GPU step of a small network); the
        # old ones were donated, held by nothing else (own)
        new = [*train_values, *other_values, *(x for vals in opt_values for x in vals)]
        for v, value in zip(variables, new):
            v._direct_assign(value)
        cache["values"] = new
        return loss  # a device scalar: read (a device sync) when the engine needs it

    step.compile_ahead = compile_ahead
    return step


#: Held by a compile ahead while XLA compiles: programs compiled ahead (the next phase's training
#: step, the validation forward) compile one after the other, in the order asked, beside the training
#: on the main thread (on 2 shared cores, two compiles at once took longer than one after the other)
_COMPILE_AHEAD_LOCK = threading.Lock()


def _compile_in_background(lowered):
    """A :class:`~concurrent.futures.Future` of ``lowered.compile()`` (a traced JAX program), run on a
    thread named ``featbus-compile-ahead`` (XLA's compile releases the GIL), one compile at a time
    (:data:`_COMPILE_AHEAD_LOCK`); its error is raised where the program is first called."""
    from concurrent.futures import Future

    future: Future = Future()

    def work():
        try:
            with _COMPILE_AHEAD_LOCK:
                future.set_result(lowered.compile())
        except BaseException as exc:  # raised where the program is first called
            future.set_exception(exc)

    # not a daemon: Python waits for it at exit (an XLA compile still running while the interpreter
    # shuts down aborts the process: "terminate called ...", after Ctrl-C during a warm-up)
    threading.Thread(target=work, name="featbus-compile-ahead", daemon=False).start()
    return future


def to_float(value) -> float:
    """A loss returned by a training step (a backend scalar, possibly on a GPU) as a float."""
    if isinstance(value, (float, int, np.floating)):
        return float(value)
    if hasattr(value, "detach"):  # torch
        return float(value.detach().cpu())
    return float(np.asarray(value))
