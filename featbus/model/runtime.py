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
``RUNTIME_PROBA_ATOL``, tested in ``tests/test_model_file.py``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..networks.backend import native_stderr_quiet

__all__ = ["LiteForward", "runtime_available", "network_estimators", "forward_flatbuffer", "forward_disagreement",
           "RUNTIME_RTOL", "RUNTIME_PROBA_ATOL", "RUNTIME_CHECK_RTOL", "SharedPasses"]

#: Relative tolerance of a feature row from the runtime against Keras (of the row's max |value|).
RUNTIME_RTOL = 1e-3
#: Absolute tolerance of a class probability computed through the runtime against Keras.
RUNTIME_PROBA_ATOL = 1e-3
#: Largest disagreement (relative, as :data:`RUNTIME_RTOL`) a loaded file's forward may show
#: against its own Keras network on the probe images before it is refused as not that network:
#: ten times the documented agreement, so other CPUs' kernels never trip it, while another
#: network of the same shape differs by orders of magnitude more.
RUNTIME_CHECK_RTOL = 10 * RUNTIME_RTOL


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


def forward_flatbuffer(est, *, quiet: bool | None = None) -> bytes:
    """The TFLite flatbuffer of a fitted network estimator's forward pass (needs TensorFlow).

    Parameters
    ----------
    est : DeepFeatures or FineTunedCNN
        Fitted; its ``_keras_forward()`` gives the function and the Keras layers it uses.
    quiet : bool, optional
        Keep TensorFlow's C++ log lines (``E0000 ... NodeDef mentions attribute Truncate``, absl's
        start-up notice), which the converter writes straight to file descriptor 2, off the
        terminal; shown when the conversion fails. Default: quiet unless the ``featbus`` logger is
        enabled for DEBUG (``featbus --debug``, or ``logging.basicConfig(level=logging.DEBUG)``).

    Returns
    -------
    flatbuffer : bytes
        Input ``image``: float32 ``(n, h, w)`` in [0, 255] (any ``n``); output: float32
        ``(n, n_features_out_)``.
    """
    with native_stderr_quiet(_quiet(quiet)):
        import tensorflow as tf

        forward, trackable = est._keras_forward()
        h, w = (int(s) for s in est.input_size_)
        fn = tf.function(forward, input_signature=[tf.TensorSpec((None, h, w), tf.float32, name="image")])
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
        Width of the output rows, checked against the flatbuffer (``None``: not checked).
    num_threads : int, optional
        Interpreter threads; default: every core.
    name : str, default="network"
        Named in errors.

    Raises
    ------
    ValueError
        The flatbuffer does not load (damaged, or it needs operators the runtime lacks) or its
        output is not ``n_features`` wide.
    """

    def __init__(self, flatbuffer: bytes, n_features: int | None, num_threads: int | None = None,
                 name: str = "network"):
        Interpreter = _interpreter_class()
        self.name, self.n_features = name, None if n_features is None else int(n_features)
        self.digest = hashlib.sha256(flatbuffer).hexdigest()
        threads = int(num_threads or os.cpu_count() or 1)
        try:
            # the runtime announces its XNNPACK delegate on descriptor 2 when tensors are allocated
            with warnings.catch_warnings(), native_stderr_quiet():
                warnings.simplefilter("ignore")
                self._interpreter = Interpreter(model_content=bytes(flatbuffer), num_threads=threads)
                self._interpreter.allocate_tensors()
            (inp,), (out,) = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"the inference runtime of {name} does not load ({exc})") from None
        if self.n_features is None:
            self.n_features = int(out["shape"][-1])
        if len(inp["shape"]) != 3 or int(out["shape"][-1]) != self.n_features:
            raise ValueError(f"the inference runtime of {name} takes {inp['shape'].tolist()} and gives "
                             f"{out['shape'].tolist()}, expected (n, h, w) -> (n, {self.n_features})")
        self.input_size = (int(inp["shape"][1]), int(inp["shape"][2]))
        self._in, self._out, self._batch = inp["index"], out["index"], int(inp["shape"][0])
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, np.float32)
        if batch.shape[1:] != self.input_size:
            raise ValueError(f"{self.name} takes images of {self.input_size}, got {batch.shape[1:]}")
        with self._lock:  # one interpreter, one call at a time
            if len(batch) != self._batch:
                self._interpreter.resize_tensor_input(self._in, [len(batch), *self.input_size])
                with native_stderr_quiet():
                    self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._in, batch)
            self._interpreter.invoke()
            return np.array(self._interpreter.get_tensor(self._out), np.float32)


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
