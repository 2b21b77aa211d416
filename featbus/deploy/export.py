"""Export a featbus model to one TensorFlow Lite file: image in, class probabilities out.

Supported models: a fine-tuned network or an ensemble of them (``featbus train --recipe``:
one file computing every member and averaging their probabilities), or a single
:class:`~featbus.DeepFeatures` extractor (any backbone, layers and pooling) followed by a
:class:`~sklearn.preprocessing.StandardScaler` (optional) and a
:class:`~sklearn.linear_model.LogisticRegression`. The whole chain -- the backbone's ImageNet
preprocessing, the CNN up to the feature layer(s), pooling, scaling and the softmax (sigmoid for
two classes) of the logistic regression -- becomes one graph, so a phone needs nothing else.
Handcrafted extractors (HOG, LBP...) have no TensorFlow form and SVC / random forest heads are not
linear, so those models are refused with a message saying why; train with
``--features <backbone> --classifier logreg`` for an exportable model. A model with a lesion
segmenter (``train_model(segmenter=...)``) is refused too: the file maps one image to
probabilities and cannot hold the crop to the predicted lesion.

The file's input is one grey image already brought to the network size, float32 of shape
``(1, height, width)`` with values in ``[0, 255]``: exactly what :func:`prepare_input` gives (the
same crop/pad/stretch and area resize as :class:`~featbus.DeepFeatures`). Its output is
``(1, n_classes)`` probabilities in the order of ``classes`` in the JSON written beside the file
(``<file>.json``: classes, input size and aspect rule, featbus version, source model's manifest
digest).

``quantize=True`` stores weights as int8 (dynamic-range quantisation): about 4x smaller,
probabilities move by the amount ``benchmarks/tflite_export.py`` prints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .._registry import is_a
from .._version import __version__

__all__ = ["export_tflite", "check_exportable", "prepare_input", "TFLiteModel"]

def preprocessing_refusal(steps) -> str:
    """Why a model with image preprocessing steps is not exported."""
    return ("the model preprocesses each image (" + " -> ".join(map(str, steps)) + ") and a TFLite file holds "
            "only image -> probabilities: export a model trained without --preprocess, and preprocess on the phone")


#: Why a model with a lesion segmenter is not exported.
ROI_REFUSAL = ("the model crops each image to the lesion its segmenter finds, and a TFLite file holds only "
               "image -> probabilities: it cannot include the segmenter's crop (export a model trained "
               "without --segmenter)")


def check_exportable(model) -> str | None:
    """None when :func:`export_tflite` supports the model, else the reason it does not.

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.workflows.training import train_model
    >>> m = train_model(make_phantoms(24, image_size=48, random_state=0), "intensity", classifier="logreg",
    ...                 cross_validate=False, progress=False)
    >>> check_exportable(m)  # doctest: +ELLIPSIS
    'only CNN features can be exported: intensity (IntensityStats) has no TensorFlow form; ...'
    """
    from .explain import linear_head

    if getattr(model, "roi", None) is not None:
        return ROI_REFUSAL
    if getattr(model, "preprocess", None) is not None:
        return preprocessing_refusal(model.manifest["recipe"]["preprocessing"])
    parts = model.features.transformer_list
    if model.networks:
        return None
    others = [f"{n} ({type(e).__name__})" for n, e in parts if not is_a(e, "DeepFeatures")]
    if others:
        return (f"only CNN features can be exported: {', '.join(others)} has no TensorFlow form; "
                "train with --features <backbone> alone")
    if len(parts) != 1:
        return "the model has several DeepFeatures extractors; export supports one"
    if linear_head(model) is None:
        inner = f" of {type(model.head.steps[-1][1]).__name__}" if hasattr(model.head, "steps") else ""
        return (f"the classifier must be a logistic regression (a linear model on the features), this one is "
                f"{type(model.head).__name__}{inner}; train with --classifier logreg")
    return None


def _input_estimator(model):
    """The estimator whose input the file takes: the DeepFeatures, or the network with the
    largest input (the others' inputs are resized from it inside the file)."""
    nets = model.networks
    if nets:
        return max(nets, key=lambda n: int(np.prod(n.input_size_)))
    (_, est), = model.features.transformer_list
    return est


def prepare_input(model, image) -> np.ndarray:
    """The TFLite input of one image: float32 ``(1, h, w)`` in [0, 255], resized as DeepFeatures does."""
    est = _input_estimator(model)
    x = est._prepare(est._load(image, 0), 0)
    return np.asarray(x, np.float32)[None]


def _network_serving_function(model):
    """Image -> the fine-tuned networks' own softmax probabilities, averaged (mirror-averaged
    embeddings where a network uses ``tta``, as ``predict_proba`` does)."""
    import tensorflow as tf

    from ..features.deep import keras_preprocess

    nets = model.networks
    h, w = _input_estimator(model).input_size_
    parts = []
    for net in nets:
        tr = net._trainer()
        mean = tf.constant(np.asarray(net.embedding_mean_, np.float32))
        scale = tf.constant(np.asarray(net.embedding_scale_, np.float32))
        kernel = tf.constant(np.asarray(net.weights_[-2], np.float32))
        bias = tf.constant(np.asarray(net.weights_[-1], np.float32))
        parts.append((tr, net, mean, scale, kernel, bias))

    @tf.function(input_signature=[tf.TensorSpec((1, h, w), tf.float32, name="image")])
    def serve(x):
        total = 0.0
        for tr, net, mean, scale, kernel, bias in parts:
            xi = x if tuple(net.input_size_) == (h, w) else \
                tf.image.resize(x[..., None], net.input_size_, method="area")[..., 0]
            views = tf.concat([xi, tf.reverse(xi, axis=[2])], axis=0) if net.tta else xi
            emb = tf.reduce_mean(tf.cast(tr.body(keras_preprocess(views, net._backbone.preprocess), training=False),
                                         tf.float32), axis=(1, 2))
            emb = tf.reduce_mean(emb, axis=0, keepdims=True)
            total += tf.nn.softmax(tf.matmul((emb - mean) / scale, kernel) + bias, axis=1)
        return total / len(parts)

    return serve, parts[0][0].net


def _serving_function(model):
    import tensorflow as tf

    from ..features.deep import keras_pool, keras_preprocess
    from .explain import linear_head

    (_, est), = model.features.transformer_list
    net = est.network()
    scaler, clf = linear_head(model)
    coef = np.asarray(clf.coef_, np.float64)
    intercept = np.asarray(clf.intercept_, np.float64)
    if scaler is not None:  # fold the scaler into the linear layer: one matmul on the phone
        mean, multiplier = scaler
        coef = coef * multiplier
        intercept = intercept - coef @ mean
    w = tf.constant(coef.T.astype(np.float32))
    b = tf.constant(intercept.astype(np.float32))
    h, wd = est.input_size_
    binary = coef.shape[0] == 1

    @tf.function(input_signature=[tf.TensorSpec((1, h, wd), tf.float32, name="image")])
    def serve(x):
        maps = net.extractor(keras_preprocess(x, net.backbone.preprocess), training=False)
        maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
        feats = tf.concat([keras_pool(m, net.pooling) for m in maps], axis=1) if len(maps) > 1 \
            else keras_pool(maps[0], net.pooling)
        logits = tf.matmul(feats, w) + b
        if binary:
            p = tf.sigmoid(logits)
            return tf.concat([1.0 - p, p], axis=1)
        return tf.nn.softmax(logits, axis=1)

    return serve, net


def export_tflite(model, path: str | os.PathLike, *, quantize: bool = False, overwrite: bool = False) -> Path:
    """Write the model as a ``.tflite`` file (and ``<file>.json`` with its classes and input).

    Parameters
    ----------
    model : FeatbusModel
        See :func:`check_exportable`.
    path : path
    quantize : bool, default=False
        Dynamic-range int8 weights (smaller file, small probability changes).
    overwrite : bool, default=False

    Returns
    -------
    path : Path

    Raises
    ------
    ValueError
        The model is not exportable (the message says why) or the file exists.
    """
    reason = check_exportable(model)
    if reason:
        raise ValueError(f"cannot export this model to TFLite: {reason}")
    path = Path(path)
    from ..io import refuse_existing

    refuse_existing(path, overwrite)
    from ..networks.backend import backend_name

    if backend_name() != "tensorflow":  # the converter traces a TensorFlow graph of the network
        raise ValueError(f"TFLite export needs Keras's TensorFlow backend, this process runs {backend_name()!r}: "
                         "rerun with KERAS_BACKEND=tensorflow (pip install 'featbus[deep]'); the model file "
                         "itself is the same on every backend")
    from ..model.runtime import convert_to_tflite

    if model.networks:
        serve, trackable = _network_serving_function(model)
    else:
        serve, net = _serving_function(model)
        trackable = net.extractor
    blob = convert_to_tflite(serve, trackable, quantize=quantize)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    from ..networks import backbone_name

    est = _input_estimator(model)
    nets = model.networks
    meta = {"classes": [str(c) for c in model.classes_], "input": {
        "shape": [1, *map(int, est.input_size_)], "dtype": "float32", "range": [0, 255], "channels": "gray",
        "aspect": est.aspect, "resize": "cv2.INTER_AREA when shrinking, INTER_LINEAR when enlarging"},
        "output": "probabilities, one per class", "quantized": bool(quantize), "featbus": __version__,
        "source_pipeline_sha256": model.manifest.get("pipeline_sha256"),
        "backbone": backbone_name(est.backbone),  # a user's builder by its module.function name
        "layers": [n.layer_ for n in nets] if nets else list(est.layers_),
        "networks": len(nets) or None}
    from ..io import write_file

    write_file(Path(str(path) + ".json"), json.dumps(meta, indent=1))
    return path


class TFLiteModel:
    """Run an exported file with the TFLite interpreter (CPU): ``predict_proba`` of prepared inputs.

    Parameters
    ----------
    path : path
        The ``.tflite`` file (its ``.json`` beside it gives the classes).
    num_threads : int, default=1
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 1):
        from ..model.runtime import LiteForward

        meta = Path(str(path) + ".json")
        self.classes_ = np.asarray(json.loads(meta.read_text())["classes"]) if meta.is_file() else None
        # the one interpreter wrapper (LiteRT, else TensorFlow's copy of it), as a model file's forwards
        self._forward = LiteForward(Path(path).read_bytes(), None if self.classes_ is None else len(self.classes_),
                                    num_threads=num_threads, name=str(path))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of one prepared input ``(1, h, w)`` (see :func:`prepare_input`)."""
        return self._forward(np.asarray(x, np.float32))
