"""Why a model predicted what it did: occlusion sensitivity for any model, Grad-CAM for CNN ones.

:func:`occlusion_map` (Zeiler & Fergus 2014, doi:10.1007/978-3-319-10590-1_53) is
model-agnostic: a square patch is slid over the image, each position is filled with the image's
mean grey level, and the drop of the predicted class's probability is credited to the pixels the
patch covered. It works for every featbus model, handcrafted features included, at the price of
one prediction per patch position (about 80 for the defaults).

:func:`grad_cam` (Selvaraju et al. 2017, doi:10.1109/ICCV.2017.74) needs one forward and one
backward pass. It is exact for a model whose classifier is a *linear function of the CNN
features*: featbus models with :class:`~featbus.DeepFeatures` (any other extractors beside it
are constant with respect to the CNN) followed by the scaler and a
:class:`~sklearn.linear_model.LogisticRegression`. The class score is the logistic regression's
logit for the class, written in TensorFlow as ``coef[k] . (pooled(maps) - mean) / scale``, and
its gradient with respect to the feature maps of the DeepFeatures layer gives the channel
weights. An SVC (RBF, or calibrated) is not such a function of a single layer in a way we express
here, so for those models only occlusion is supported (``method="auto"`` chooses it).

:func:`overlay` turns a map into a colour PNG over the grey image; :func:`explain_to_files`
writes one per image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["occlusion_map", "grad_cam", "supports_grad_cam", "explain", "overlay", "explain_to_files"]


def _record(image: Any):
    from .io import load_item

    return load_item(image, 0)


def _target_index(model, proba: np.ndarray, target) -> int:
    classes = [str(c) for c in model.classes_]
    if target is None:
        return int(np.argmax(proba))
    if str(target) not in classes:
        raise ValueError(f"target {target!r} is not a class of this model ({classes})")
    return classes.index(str(target))


def occlusion_map(model, image, *, target=None, patch: int | None = None, stride: int | None = None,
                  fill: str = "sample", batch_size: int = 64, random_state: int = 0) -> np.ndarray:
    """Occlusion sensitivity: how much hiding each region lowers the class probability.

    Parameters
    ----------
    model : FeatbusModel or any object with ``predict_proba(images)`` and ``classes_``
    image : ndarray, path or ImageRecord
    target : class name, optional
        Default: the predicted class.
    patch : int, optional
        Side of the square patch in pixels; default ``max(8, min(h, w) // 6)``.
    stride : int, optional
        Step between patch positions; default ``patch // 2`` (each pixel covered ~4 times).
    fill : {"sample", "mean"}, default="sample"
        What hides a patch. ``"sample"``: pixels drawn at random (seeded) from the whole image,
        which keeps the image's grey-level histogram, so hiding plain tissue changes intensity
        statistics little while hiding a lesion removes it. ``"mean"``: the image's mean grey
        level (a flat square, which itself moves texture and spread features everywhere).
    random_state : int, default=0
        Seed of ``fill="sample"``.
    batch_size : int, default=64
        Occluded copies predicted per call (bounds memory).

    Returns
    -------
    sensitivity : ndarray of shape (h, w), float
        Mean drop of the target probability over the patches covering each pixel (negative:
        hiding the region made the class *more* likely).

    Examples
    --------
    >>> import numpy as np
    >>> class Dark:  # "probability of lesion" = darkness of the centre
    ...     classes_ = np.array(["lesion", "none"])
    ...     def predict_proba(self, images):
    ...         p = np.array([1 - np.asarray(im, float)[12:20, 12:20].mean() / 255 for im in images])
    ...         return np.column_stack([p, 1 - p])
    >>> img = np.full((32, 32), 200, np.uint8); img[12:20, 12:20] = 0
    >>> m = occlusion_map(Dark(), img, target="lesion", patch=8, stride=4, fill="mean")
    >>> r, c = np.unravel_index(np.argmax(m), m.shape)
    >>> bool(12 <= r < 20 and 12 <= c < 20)  # the peak is on the dark square
    True
    """
    rec = _record(image)
    img = np.asarray(rec.image)
    h, w = img.shape
    patch = int(patch or max(8, min(h, w) // 6))
    stride = int(stride or max(1, patch // 2))
    if patch < 1 or stride < 1:
        raise ValueError(f"patch and stride must be positive, got {patch}, {stride}")
    base = model.predict_proba([img])[0]
    k = _target_index(model, base, target)
    if fill not in ("sample", "mean"):
        raise ValueError(f"fill must be 'sample' or 'mean', got {fill!r}")
    rng = np.random.default_rng(random_state)
    flat = img.reshape(-1)
    mean_value = np.asarray(np.mean(img)).astype(img.dtype)
    tops = list(range(0, max(h - patch, 0) + 1, stride))
    lefts = list(range(0, max(w - patch, 0) + 1, stride))
    if tops[-1] + patch < h:  # cover the bottom and right edges too
        tops.append(h - patch)
    if lefts[-1] + patch < w:
        lefts.append(w - patch)
    boxes = [(top, left) for top in tops for left in lefts]
    drop = np.zeros((h, w))
    count = np.zeros((h, w))
    for start in range(0, len(boxes), batch_size):
        chunk = boxes[start:start + batch_size]
        batch = []
        for top, left in chunk:
            x = img.copy()
            region = x[top:top + patch, left:left + patch]
            region[...] = mean_value if fill == "mean" else rng.choice(flat, size=region.shape)
            batch.append(x)
        p = model.predict_proba(batch)[:, k]
        for (top, left), pk in zip(chunk, p):
            drop[top:top + patch, left:left + patch] += base[k] - pk
            count[top:top + patch, left:left + patch] += 1
    return drop / np.maximum(count, 1)


# --------------------------------------------------------------------------- Grad-CAM

def _scaler_affine(scaler) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, multiplier) with ``scaler.transform(x) == (x - mean) * multiplier``, for the scalers
    that are such a per-column map: a StandardScaler, or a FamilyScaler without PCA (standardise,
    then weight each family's block); ``None`` for any other step."""
    name = type(scaler).__name__
    if name == "StandardScaler":
        n = scaler.n_features_in_
        scale = np.where(np.asarray(scaler.scale_) == 0, 1.0, scaler.scale_) if scaler.with_std else np.ones(n)
        mean = np.asarray(scaler.mean_, np.float64) if scaler.with_mean else np.zeros(n)
        return mean, 1.0 / np.asarray(scale, np.float64)
    if name == "FamilyScaler" and all(c is None for c in scaler.components_):
        bounds = scaler._bounds(scaler.n_features_in_)
        weights = np.concatenate([np.full(b - a, w) for a, b, w in
                                  zip(bounds[:-1], bounds[1:], scaler.block_weights_)])
        return np.asarray(scaler.mean_, np.float64), weights / np.asarray(scaler.scale_, np.float64)
    return None


def _linear_head(model):
    """((mean, multiplier) of the scaler or None, LogisticRegression) when the head is a linear
    model on per-column scaled features (:func:`_scaler_affine`); ``None`` otherwise."""
    head = model.head
    steps = getattr(head, "steps", None)
    if steps is None:
        return None
    clf = steps[-1][1]
    if type(clf).__name__ != "LogisticRegression":
        return None
    scalers = [s for _, s in steps[:-1] if s not in (None, "passthrough") and hasattr(s, "transform")]
    if len(scalers) > 1:
        return None
    if not scalers:
        return None, clf
    affine = _scaler_affine(scalers[0])
    return None if affine is None else (affine, clf)


def supports_grad_cam(model) -> bool:
    """True when the model has one DeepFeatures extractor and a scaler + logistic regression head."""
    return len(getattr(model, "deep_extractors", [])) == 1 and _linear_head(model) is not None


def _deep_columns(model) -> tuple[Any, slice]:
    """The DeepFeatures extractor and its columns in the feature union's output."""
    start = 0
    for _, est in model.features.transformer_list:
        n = len(est.get_feature_names_out())
        if type(est).__name__ == "DeepFeatures":
            return est, slice(start, start + n)
        start += n
    raise ValueError("the model has no DeepFeatures extractor")


def _class_weights(model, k: int) -> tuple[np.ndarray, float]:
    """(weights, offset) of class k's logit as a function of the raw feature vector."""
    scaler, clf = _linear_head(model)
    coef = np.asarray(clf.coef_, dtype=np.float64)
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: logit of classes_[1] is w.x + b, of classes_[0] its negative
        coef = np.vstack([-coef, coef])
        intercept = np.concatenate([-intercept, intercept])
    w, b = coef[k], float(intercept[k])
    if scaler is not None:  # logit = w . ((x - mean) * multiplier) + b
        mean, multiplier = scaler
        w = w * multiplier
        b = b - float(np.sum(w * mean))
    return w, b


def _tf_pool(maps, pooling):
    import tensorflow as tf

    from .features.deep import _GEM_EPS, _GEM_P

    parts = []
    for p in pooling:
        if p == "avg":
            parts.append(tf.reduce_mean(maps, axis=(1, 2)))
        elif p == "max":
            parts.append(tf.reduce_max(maps, axis=(1, 2)))
        elif p == "gem":
            g = tf.reduce_mean(tf.pow(tf.maximum(maps, _GEM_EPS), _GEM_P), axis=(1, 2))
            parts.append(tf.pow(g, 1.0 / _GEM_P))
        else:
            parts.append(tf.reshape(maps, (tf.shape(maps)[0], -1)))
    return tf.concat(parts, axis=1) if len(parts) > 1 else parts[0]


def tf_preprocess(x, preprocess: str):
    """A backbone's ImageNet preprocessing of gray ``(batch, h, w)`` images in [0, 255], in TF."""
    import tensorflow as tf

    x = tf.repeat(x[..., None], 3, axis=-1)
    if preprocess == "caffe":
        x = x - tf.constant([103.939, 116.779, 123.68], tf.float32)
    elif preprocess == "tf":
        x = x / 127.5 - 1.0
    elif preprocess == "torch":
        x = (x / 255.0 - tf.constant([0.485, 0.456, 0.406])) / tf.constant([0.229, 0.224, 0.225])
    return x


def grad_cam(model, image, *, target=None) -> np.ndarray:
    """Grad-CAM of the class logit over the DeepFeatures layer, upsampled to the image.

    Supported for models where :func:`supports_grad_cam` is true (see the module docstring);
    other models raise ``ValueError`` (use :func:`occlusion_map`). With several layers, the
    first one's maps are used; the other layers' features are held fixed.

    Parameters
    ----------
    model : FeatbusModel
    image : ndarray, path or ImageRecord
    target : class name, optional
        Default: the predicted class.

    Returns
    -------
    cam : ndarray of shape (h, w), float in [0, 1]
        ``relu(sum_c alpha_c A_c)`` normalised by its maximum (all zeros if nothing is positive).
    """
    if not supports_grad_cam(model):
        raise ValueError("Grad-CAM needs a model with one DeepFeatures extractor and a logistic-regression "
                         "classifier (the class logit must be a linear function of the CNN features); "
                         "use occlusion_map for this model")
    import cv2
    import tensorflow as tf

    rec = _record(image)
    est, cols = _deep_columns(model)
    proba = model.predict_proba([rec])[0]
    k = _target_index(model, proba, target)
    w, _ = _class_weights(model, k)
    w_deep = tf.constant(w[cols], tf.float32)
    net = est.network()
    x = est._prepare(rec, 0)  # the same crop, resize and scaling as DeepFeatures.transform
    xt = tf.constant(x[None], tf.float32)
    n_layers = len(net.map_shapes)
    with tf.GradientTape() as tape:
        maps = net.extractor(tf_preprocess(xt, net.backbone.preprocess), training=False)
        maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
        tape.watch(maps[0])
        feats = _tf_pool(maps[0], net.pooling)
        if n_layers > 1:  # the other layers' features are fixed: they do not change the gradient
            feats = tf.concat([feats] + [tf.stop_gradient(_tf_pool(m, net.pooling)) for m in maps[1:]], axis=1)
        score = tf.reduce_sum(feats[0] * w_deep)
    grads = tape.gradient(score, maps[0])[0].numpy()
    a = maps[0][0].numpy()
    alpha = grads.mean(axis=(0, 1))
    cam = np.maximum((a * alpha).sum(axis=-1), 0.0)
    cam = cam / cam.max() if cam.max() > 0 else cam
    h, wd = rec.image.shape
    return cv2.resize(cam.astype(np.float32), (wd, h), interpolation=cv2.INTER_LINEAR).clip(0, 1)


# --------------------------------------------------------------------------- overlays and files

def explain(model, image, *, method: str = "auto", target=None) -> dict:
    """Prediction and explanation map of one image.

    Returns
    -------
    result : dict
        ``proba`` (per class), ``predicted``, ``target``, ``method`` (``"gradcam"`` or
        ``"occlusion"``), ``map`` (h x w), ``image`` (the grey pixels).
    """
    if method not in ("auto", "occlusion", "gradcam"):
        raise ValueError(f"method must be 'auto', 'occlusion' or 'gradcam', got {method!r}")
    rec = _record(image)
    proba = model.predict_proba([rec])[0]
    k = _target_index(model, proba, target)
    use = method if method != "auto" else ("gradcam" if supports_grad_cam(model) else "occlusion")
    m = grad_cam(model, rec, target=target) if use == "gradcam" else occlusion_map(model, rec, target=target)
    classes = [str(c) for c in model.classes_]
    return {"proba": dict(zip(classes, proba.tolist())), "predicted": classes[int(np.argmax(proba))],
            "target": classes[k], "method": use, "map": m, "image": rec.image}


def overlay(image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """RGB uint8: the grey image with the positive part of ``heatmap`` in colour on top.

    The map is scaled by its largest positive value; pixels where it is zero or negative show the
    plain image (so "no effect" is not painted).

    Examples
    --------
    >>> import numpy as np
    >>> rgb = overlay(np.zeros((4, 4), np.uint8), np.eye(4))
    >>> rgb.shape, rgb.dtype.name
    ((4, 4, 3), 'uint8')
    """
    from matplotlib import colormaps

    from ._records import to_float

    gray = to_float(np.asarray(image))
    base = np.repeat(gray[..., None], 3, axis=-1)
    hm = np.asarray(heatmap, dtype=float)
    top = hm.max() if hm.size else 0.0
    hm = np.clip(hm / top, 0, 1) if top > 0 else np.zeros_like(hm)
    colour = colormaps[cmap](hm)[..., :3]
    a = alpha * hm[..., None]
    return (np.clip((1 - a) * base + a * colour, 0, 1) * 255).round().astype(np.uint8)


def explain_to_files(model, images: Sequence, out_dir: str | os.PathLike, *, method: str = "auto",
                     target=None) -> list[str]:
    """Save ``<stem>.<method>.png`` overlays into ``out_dir``; returns their paths.

    Images without a path are named ``image<i>``; two inputs with the same stem get their index
    appended so no overlay overwrites another.
    """
    from PIL import Image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, used = [], set()
    for i, image in enumerate(images):
        res = explain(model, image, method=method, target=target)
        src = image if isinstance(image, (str, os.PathLike)) else getattr(image, "path", None)
        stem = Path(src).stem if src else f"image{i}"
        if stem in used:
            stem = f"{stem}-{i}"
        used.add(stem)
        path = out / f"{stem}.{res['method']}.png"
        Image.fromarray(overlay(res["image"], res["map"])).save(path)
        paths.append(str(path))
    return paths
