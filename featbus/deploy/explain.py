"""Why a model predicted what it did: occlusion sensitivity for any model, Grad-CAM for CNN ones.

:func:`occlusion_map` (Zeiler & Fergus 2014, doi:10.1007/978-3-319-10590-1_53) is
model-agnostic: a square patch is slid over the image, each position is filled with the image's
mean grey level, and the drop of the predicted class's probability is credited to the pixels the
patch covered. It works for every featbus model, handcrafted features included, at the price of
one prediction per patch position (about 80 for the defaults).

:func:`grad_cam` (Selvaraju et al. 2017, doi:10.1109/ICCV.2017.74) needs one forward and one
backward pass of the CNN. It works for every model with one :class:`~featbus.DeepFeatures`
extractor and a smooth classifier: Grad-CAM needs the gradient of the class score with respect
to the CNN's feature maps, which is the gradient with respect to the pooled CNN features (from
the classifier, :func:`head_gradient`) times the pooling's gradient (from TensorFlow). For a
logistic-regression head the first factor is exact (the logit's weights folded through the
scaler); for the other smooth heads (the default Platt-calibrated RBF SVC, a linear SVM, an MLP,
discriminant analysis) it is the gradient of the class's calibrated logit (:func:`class_score`)
averaged along the path from the training mean to the image's features (integrated gradients),
estimated by central differences: ``16 x n_features`` rows predicted in a few calls (well under
a second for a few hundred CNN features, a few seconds for 1280 and many support vectors). Trees,
forests, boosting and nearest neighbours are piecewise constant in their features: their
gradient is zero almost everywhere, so those models get occlusion maps only
(:func:`supports_grad_cam`). Other extractors beside the CNN are held fixed, so in a hybrid
model the map shows what the CNN part contributes. Maps go back onto the input image through
every geometric step the CNN's input went through (resize, ``aspect``, lesion box, the model's
segmenter crop).

:func:`overlay` colours a map over the grey image (diverging and centred on 0 for occlusion,
sequential for Grad-CAM, opaque by magnitude; :func:`colour_scale`); :func:`explain_to_files`
writes one figure per image with its colour bar (:func:`featbus.deploy.plotting.plot_explanation`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._registry import is_a
from .plotting import OPACITY_POWER, ROBUST_PERCENTILE, colour_scale, overlay  # noqa: F401  (public here too)

__all__ = ["occlusion_map", "grad_cam", "head_gradient", "supports_grad_cam", "explain", "overlay",
           "colour_scale", "explain_to_files", "class_score", "class_score_gradient"]


def _record(image: Any):
    from ..io import load_item

    return load_item(image, 0)


def _target_index(model, proba: np.ndarray, target) -> int:
    classes = [str(c) for c in model.classes_]
    if target is None:  # the predicted class, by the model's own rule (an adapted operating point included)
        decide = getattr(model, "decide", None)
        return classes.index(str(decide(proba[None])[0])) if decide else int(np.argmax(proba))
    if str(target) not in classes:
        raise ValueError(f"target {target!r} is not a class of this model ({classes})")
    return classes.index(str(target))


def occlusion_map(model, image, *, target=None, patch: int | None = None, stride: int | None = None,
                  fill: str = "sample", batch_size: int = 64, random_state: int = 0,
                  progress: Any = False) -> np.ndarray:
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
        Occluded copies predicted per call (bounds memory; the progress bar moves once a batch).
    progress : bool or "auto", default=False
        Progress over the patch positions (``"auto"``: a bar on a terminal, else plain lines,
        as :func:`featbus.progress.progress_bar`). The model's own extractors show none
        meanwhile: each batch would flash a bar of its own.

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
    with _progress_bar(progress, len(boxes), "occlusion", "patch", leave=False) as bar, _extractor_bars_off():
        for start in range(0, len(boxes), int(batch_size)):
            chunk = boxes[start:start + int(batch_size)]
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
            bar.update(len(chunk))
    return drop / np.maximum(count, 1)


def _progress_bar(progress: Any, total: int, desc: str, unit: str, *, leave: bool = True):
    """featbus's one progress display (:func:`featbus.progress.progress_bar`), used as a context manager."""
    from ..progress import progress_bar

    return progress_bar(progress, total, desc, unit, leave=leave)


def _extractor_bars_off():
    from ..progress import progress_off

    return progress_off()


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


def _inner_pipeline(head):
    """The fitted scaler/sampler/classifier pipeline inside ``head`` (unwrapping a
    :class:`~sklearn.calibration.CalibratedClassifierCV` fitted with ``ensemble=False``)."""
    calibrated = getattr(head, "calibrated_classifiers_", None)
    if calibrated:
        return calibrated[0].estimator
    return head


def linear_head(model):
    """The scaler's affine map and the logistic regression, when the model's head is that linear.

    Grad-CAM's closed-form head gradient and the export of a head as plain arithmetic both need it.

    Parameters
    ----------
    model : FeatbusModel
        A loaded or trained model.

    Returns
    -------
    tuple or None
        ``((mean, multiplier), clf)`` when the head is a ``LogisticRegression`` on per-column
        scaled features, ``(None, clf)`` when on unscaled ones; ``None`` for any other head.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from featbus.deploy.explain import linear_head
    >>> linear_head(SimpleNamespace(head=make_pipeline(RandomForestClassifier()))) is None
    True
    """
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


#: Classifiers whose probabilities are smooth functions of the features (Grad-CAM needs a
#: gradient); trees, forests, boosting and nearest neighbours are piecewise constant.
SMOOTH_CLASSIFIERS = frozenset({"LogisticRegression", "SVC", "NuSVC", "LinearSVC", "MLPClassifier",
                                "LinearDiscriminantAnalysis", "QuadraticDiscriminantAnalysis",
                                "RidgeClassifier", "SGDClassifier", "GaussianNB"})


def _smooth_head(head) -> bool:
    if getattr(head, "method", "sigmoid") == "isotonic":  # a calibrated head: isotonic is a step function
        return False
    inner = _inner_pipeline(head)
    clf = inner.steps[-1][1] if hasattr(inner, "steps") else inner
    return type(clf).__name__ in SMOOTH_CLASSIFIERS


def supports_grad_cam(model) -> bool:
    """True when the model has exactly one CNN extractor (:class:`~featbus.DeepFeatures`,
    :class:`~featbus.FineTunedCNN` or :class:`~featbus.FineTunedEnsemble`) and a classifier
    whose probabilities are smooth in the features (:data:`SMOOTH_CLASSIFIERS`, or the fine-tuned
    networks' own heads)."""
    return len(getattr(model, "deep_extractors", [])) == 1 and (bool(getattr(model, "networks", []))
                                                             or _smooth_head(model.head))


def _keras_available() -> bool:
    """Whether Keras can be imported: Grad-CAM differentiates the Keras network, while a light
    install (``featbus[runtime]``) predicts through the model file's LiteRT forwards only."""
    from ..model.format import keras_installed

    return keras_installed()


def _check_grad_cam(model) -> None:
    if not supports_grad_cam(model):
        raise ValueError("Grad-CAM needs a model with exactly one DeepFeatures (CNN) extractor and a classifier "
                         f"whose probabilities are smooth in the features ({', '.join(sorted(SMOOTH_CLASSIFIERS))}); "
                         "use occlusion_map for this model")
    if not _keras_available():
        raise ValueError('Grad-CAM needs Keras (pip install "featbus[deep]"); this install predicts through the '
                         "model file's inference runtime only: use occlusion (method='occlusion'), which needs "
                         "nothing but predictions")


def _deep_columns(model) -> tuple[Any, slice]:
    """The DeepFeatures extractor and its columns in the feature union's output."""
    start = 0
    for _, est in model.features.transformer_list:
        n = len(est.get_feature_names_out())
        if is_a(est, "DeepFeatures"):
            return est, slice(start, start + n)
        start += n
    raise ValueError("the model has no DeepFeatures extractor")


def _class_weights(model, k: int) -> tuple[np.ndarray, float]:
    """(weights, offset) of class k's logit as a function of the raw feature vector (linear heads)."""
    scaler, clf = linear_head(model)
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


#: Step of the numerical head gradient, in training standard deviations of each feature.
GRADIENT_STEP = 1e-2
#: Points (midpoint rule) of the path average in :func:`head_gradient`.
PATH_POINTS = 8


def _column_stats(head, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Training (mean, standard deviation) of each input column, from the head's first scaler."""
    steps = getattr(_inner_pipeline(head), "steps", None) or []
    for _, step in steps:
        if type(step).__name__ in ("StandardScaler", "FamilyScaler") and getattr(step, "scale_", None) is not None:
            scale = np.asarray(step.scale_, dtype=np.float64)
            mean = getattr(step, "mean_", None)
            if scale.shape == (n,) and mean is not None:
                return np.asarray(mean, dtype=np.float64), np.where(scale > 0, scale, 1.0)
    return None


def _backward(step, g: np.ndarray) -> np.ndarray | None:
    """``g @ J`` for the Jacobian ``J`` of a linear pipeline step (rows of ``g`` are gradients with
    respect to the step's output); ``None`` for a step this does not know to be linear."""
    from ..compute.scaling import FamilyScaler

    if step is None or (isinstance(step, str) and step == "passthrough"):
        return g
    affine = _scaler_affine(step)
    if affine is not None:
        return g * affine[1]
    if isinstance(step, FamilyScaler):  # with PCA blocks: standardise, project, weight
        bounds = step._bounds(step.n_features_in_)
        parts, start = [], 0
        for a, b, comp, w in zip(bounds[:-1], bounds[1:], step.components_, step.block_weights_):
            width = b - a if comp is None else comp.shape[1]
            block = g[:, start:start + width] * w
            parts.append(block if comp is None else block @ np.asarray(comp).T)
            start += width
        return np.hstack(parts) / np.asarray(step.scale_, np.float64)
    return None


def _svc_decision_gradient(svc, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """sklearn's ``svc.decision_function(Z)`` and its gradient with respect to ``Z``, in closed
    form for the RBF and linear kernels: ``(f, df)`` of shapes ``(m, c)`` and ``(m, c, d)``
    (``c`` = 1 for two classes); ``None`` for another kernel or layout.

    libsvm's one-vs-one values are ``dec_p(z) = sum_s a_ps K(z, s) + b_p`` over the support
    vectors ``s`` of the pair's two classes, with ``grad K = -2 gamma K (z - s)`` (RBF) or ``s``
    (linear). For two classes scikit-learn returns ``-dec``; for more, with
    ``decision_function_shape="ovr"``, the votes (locally constant, so without gradient) plus
    ``t(s_k) = s_k / (3 (|s_k| + 1))`` of each class's summed confidences ``s_k``."""
    kernel = getattr(svc, "kernel", None)
    if kernel not in ("rbf", "linear") or not hasattr(svc, "_dual_coef_") or getattr(svc, "_sparse", False):
        return None
    sv = np.asarray(svc.support_vectors_, np.float64)
    dual = np.asarray(svc._dual_coef_, np.float64)
    intercept = np.asarray(svc._intercept_, np.float64)
    n_classes = len(svc.classes_)
    starts = np.concatenate([[0], np.cumsum(svc.n_support_)])
    if kernel == "rbf":
        gamma = float(svc._gamma)
        sq = (Z ** 2).sum(1)[:, None] - 2 * Z @ sv.T + (sv ** 2).sum(1)[None]
        K = np.exp(-gamma * np.maximum(sq, 0))
    else:
        K = Z @ sv.T
    decs, grads = [], []
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            cols = np.r_[starts[i]:starts[i + 1], starts[j]:starts[j + 1]]
            coef = np.r_[dual[j - 1, starts[i]:starts[i + 1]], dual[i, starts[j]:starts[j + 1]]]
            ck = K[:, cols] * coef  # (m, n_pair_sv)
            decs.append(ck.sum(1) + intercept[len(decs)])
            if kernel == "rbf":
                grads.append(-2 * gamma * (ck.sum(1)[:, None] * Z - ck @ sv[cols]))
            else:
                grads.append(np.broadcast_to(coef @ sv[cols], Z.shape))
    dec, ddec = np.stack(decs, 1), np.stack(grads, 1)  # (m, p), (m, p, d)
    if n_classes == 2:
        return -dec, -ddec
    if getattr(svc, "decision_function_shape", "ovr") != "ovr":
        return dec, ddec
    votes = np.zeros((len(Z), n_classes))
    summed = np.zeros((len(Z), n_classes))
    dsummed = np.zeros((len(Z), n_classes, Z.shape[1]))
    p = 0
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            summed[:, i] += dec[:, p]
            summed[:, j] -= dec[:, p]
            dsummed[:, i] += ddec[:, p]
            dsummed[:, j] -= ddec[:, p]
            votes[:, i] += dec[:, p] >= 0
            votes[:, j] += dec[:, p] < 0
            p += 1
    f = votes + summed / (3 * (np.abs(summed) + 1))
    return f, dsummed / (3 * (np.abs(summed) + 1) ** 2)[:, :, None]


#: Largest difference between :func:`_svc_decision_gradient`'s values and scikit-learn's
#: ``decision_function`` (relative to their scale) that lets the closed form be used: it
#: guards against a scikit-learn whose SVC stores its solution differently.
_CLOSED_FORM_RTOL = 1e-6


def class_score_gradient(head, X: np.ndarray, k: int) -> np.ndarray | None:
    """Gradient of :func:`class_score` with respect to the rows of ``X``, in closed form, for the
    default head (a Platt-calibrated RBF or linear SVC after linear scalers); ``None`` for any
    other head, which :func:`head_gradient` then differentiates numerically.

    Parameters
    ----------
    head : fitted classifier
    X : ndarray of shape (m, n_features)
    k : int
        Class index.

    Returns
    -------
    gradient : ndarray of shape (m, n_features) or None
    """
    calibrated = getattr(head, "calibrated_classifiers_", None)
    if not calibrated or getattr(head, "method", None) != "sigmoid":
        return None
    X = np.asarray(X, np.float64)
    total = np.zeros_like(X)
    for cc in calibrated:
        steps = getattr(cc.estimator, "steps", None) or [("classifier", cc.estimator)]
        Z = X
        for _, step in steps[:-1]:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                continue
            if not hasattr(step, "transform"):
                return None
            Z = np.asarray(step.transform(Z), np.float64)
        svc = steps[-1][1]
        if type(svc).__name__ not in ("SVC", "NuSVC"):
            return None
        fd = _svc_decision_gradient(svc, Z)
        if fd is None:
            return None
        f, df = fd
        reference = np.asarray(svc.decision_function(Z), np.float64).reshape(f.shape)
        tol = _CLOSED_FORM_RTOL * (1 + np.abs(reference).max())
        if not np.allclose(f, reference, rtol=_CLOSED_FORM_RTOL, atol=tol):
            return None
        if f.shape[1] == 1:  # two classes: one calibrator, for classes_[1]
            g = -cc.calibrators[0].a_ * df[:, 0] * (1 if k == 1 else -1)
        else:
            g = -cc.calibrators[k].a_ * df[:, k]
        for _, step in reversed(steps[:-1]):
            g = _backward(step, g)
            if g is None:
                return None
        total += g
    return total / len(calibrated)


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def class_score(head, X: np.ndarray, k: int) -> np.ndarray:
    """Class ``k``'s score for feature rows ``X``: the quantity Grad-CAM differentiates.

    Grad-CAM differentiates a class's score *before* the classes are normalised against each
    other (the pre-softmax logit), so that the map shows evidence for the class rather than
    against the others. For a Platt-calibrated head (:class:`~sklearn.calibration.CalibratedClassifierCV`,
    ``method="sigmoid"``, featbus's default around an SVC) that is the class's calibrated logit
    ``-(a_k f_k(x) + b_k)`` of its one-vs-rest decision value ``f_k`` (averaged over the
    calibrated copies; for two classes the second class's logit and its negative). For any
    other head it is the log-odds ``log(p_k / (1 - p_k))`` of ``predict_proba`` (for a binary
    logistic regression exactly its logit).

    Parameters
    ----------
    head : fitted classifier with ``predict_proba``
    X : ndarray of shape (n_rows, n_features)
    k : int
        Class index (column of ``predict_proba``).

    Returns
    -------
    score : ndarray of shape (n_rows,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = [0, 0, 1, 1]
    >>> lr = LogisticRegression().fit(X, y)
    >>> bool(np.allclose(class_score(lr, X, 1), lr.decision_function(X)))
    True
    """
    calibrated = getattr(head, "calibrated_classifiers_", None)
    if calibrated and getattr(head, "method", None) == "sigmoid":
        total = np.zeros(len(X))
        for cc in calibrated:
            f = np.asarray(cc.estimator.decision_function(X), dtype=np.float64)
            if f.ndim == 1:  # two classes: one calibrator, for classes_[1]
                c = cc.calibrators[0]
                logit = -(c.a_ * f + c.b_)
                total += logit if k == 1 else -logit
            else:
                c = cc.calibrators[k]
                total += -(c.a_ * f[:, k] + c.b_)
        return total / len(calibrated)
    return _log_odds(np.asarray(head.predict_proba(X), dtype=np.float64)[:, k])


def head_gradient(model, x: np.ndarray, columns: slice, k: int, *, exact: bool | None = None,
                  chunk_rows: int = 4096) -> np.ndarray:
    """Path-averaged gradient of class ``k``'s score with respect to the features ``x[columns]``.

    The gradient is averaged along the straight line from the training mean feature vector
    to ``x`` (the integrated-gradients path of Sundararajan et al. 2017,
    doi:10.48550/arXiv.1703.01365), so that ``score(x) - score(mean)`` is its dot product with
    ``x - mean``. A plain gradient at ``x`` describes only the neighbourhood of ``x``: for an
    RBF SVM, an image far out on its class's side sits where the decision value falls back
    towards the offset, and the local gradient points *against* the features that made it
    that class.

    The score is the class's logit before normalisation (:func:`class_score`). For a
    logistic-regression head after a per-column scaler it is linear in the features, its
    gradient is the same everywhere and exact (the logit's weights on the raw features,
    :func:`_class_weights`). For the default head, a Platt-calibrated RBF or linear SVC after
    linear scalers, it is in closed form at each point of the path
    (:func:`class_score_gradient`). For the other smooth classifiers (an MLP ...) it is
    differentiated by central differences (each feature moved
    by ``GRADIENT_STEP`` of its training standard deviation, the other features held) at
    ``PATH_POINTS`` points of the path (midpoint rule), all rows predicted in a few calls. The
    training mean and standard deviation come from the head's scaler; without one the path
    starts at 0 and the step is relative to the mean absolute feature. For a binary logistic
    regression both routes compute the same function, which the tests use to check the
    differences against the exact weights.

    Which score and which gradient were chosen on held-out BUSI images by how often the map's
    peak falls on the lesion (``benchmarks/explain_busi.py``; see the deployment guide).

    Parameters
    ----------
    model : FeatbusModel
    x : ndarray of shape (n_features,)
        The image's full feature vector (every extractor), as the head sees it.
    columns : slice
        The columns to differentiate with respect to (the CNN's); the others stay at ``x``.
    k : int
        Class index.
    exact : bool, optional
        ``None``: the exact weights when the head allows it, differences otherwise. ``False``
        forces differences; ``True`` requires the exact weights.
    chunk_rows : int, default=4096
        Rows predicted per call (bounds memory).

    Returns
    -------
    gradient : ndarray of shape (n_columns,)
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    linear = linear_head(model) is not None
    if exact or (exact is None and linear):
        if not linear:
            raise ValueError("exact head gradients need a logistic-regression classifier after a per-column scaler")
        return _class_weights(model, k)[0][columns]
    idx = np.arange(x.size)[columns]
    stats = _column_stats(model.head, x.size)
    if stats is not None and exact is None:
        origin = x.copy()
        origin[idx] = stats[0][idx]
        points = origin + ((np.arange(PATH_POINTS) + 0.5) / PATH_POINTS)[:, None] * (x - origin)
        closed = class_score_gradient(model.head, points, k)
        if closed is not None:  # the default head: the same path average, without 2 n rows a point
            return closed[:, idx].mean(0)
    if stats is None:
        origin = np.where(np.isin(np.arange(x.size), idx), 0.0, x)
        step = np.full(idx.size, GRADIENT_STEP * max(float(np.mean(np.abs(x[idx]))), 1e-6))
    else:
        origin = x.copy()
        origin[idx] = stats[0][idx]  # only the CNN's features travel; the others stay at x
        step = GRADIENT_STEP * stats[1][idx]
    n = idx.size
    total = np.zeros(n)
    for t in (np.arange(PATH_POINTS) + 0.5) / PATH_POINTS:
        point = origin + t * (x - origin)
        rows = np.repeat(point[None], 2 * n, axis=0)
        rows[np.arange(n), idx] += step
        rows[n + np.arange(n), idx] -= step
        score = np.concatenate([class_score(model.head, rows[i:i + chunk_rows], k)
                                for i in range(0, 2 * n, chunk_rows)])
        total += (score[:n] - score[n:]) / (2 * step)
    return total / PATH_POINTS


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    if a.shape == tuple(shape):
        return a
    return cv2.resize(np.ascontiguousarray(a, np.float32), (int(shape[1]), int(shape[0])),
                      interpolation=cv2.INTER_LINEAR)


def _input_to_record(cam: np.ndarray, est, rec) -> np.ndarray:
    """A map over the network input back onto the record's pixels: undo DeepFeatures' resize and
    ``aspect`` (pad / centre crop) and place it in the region the network saw (the lesion's box
    for ``region="bbox"``/``"mask"``); pixels the network did not see get 0."""
    from .._records import mask_bbox

    h_img, w_img = rec.image.shape[:2]
    rows, cols = slice(0, h_img), slice(0, w_img)
    if est._needs_mask() and rec.mask is not None and np.any(rec.mask):
        rows, cols = mask_bbox(rec.mask)
    h, w = rows.stop - rows.start, cols.stop - cols.start
    if est.aspect == "pad" and h != w:
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        part = _resize(cam, (side, side))[top:top + h, left:left + w]
    elif est.aspect == "crop" and h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        part = np.zeros((h, w), np.float32)
        part[top:top + side, left:left + side] = _resize(cam, (side, side))
    else:
        part = _resize(cam, (h, w))
    out = np.zeros((h_img, w_img), np.float32)
    out[rows, cols] = part
    return out


def _roi_record(model, rec):
    """(the record the extractors see, its box in ``rec`` or None): the model's lesion crop, if any; else
    ``rec`` brought to the model's input scale (the box then the whole image, when it was resized)."""
    if getattr(model, "roi", None) is None:
        from ..model.scale import bring_to_scale

        scale = getattr(model, "input_scale", None) or {}
        (seen,) = bring_to_scale([rec], scale.get("longer_side_px"), scale.get("pixel_size"))
        h, w = rec.image.shape[:2]
        return seen, (None if seen.image.shape[:2] == (h, w) else (0, h, 0, w))
    crop = model._crop([rec])[0]
    return crop, tuple(int(v) for v in crop.meta["roi_box"])


def _record_to_image(m: np.ndarray, box, shape) -> np.ndarray:
    """A map over the model's crop back onto the whole image (0 outside the crop)."""
    if box is None:
        return m
    r0, r1, c0, c1 = box
    out = np.zeros(shape, np.float32)
    out[r0:r1, c0:c1] = _resize(m, (r1 - r0, c1 - c0))
    return out


def grad_cam(model, image, *, target=None) -> np.ndarray:
    """Grad-CAM of the class score over the DeepFeatures layer, mapped back onto the image.

    The channel weights are ``alpha_c = sum_j g_j * d feature_j / d A_c`` averaged over the
    map, where ``g`` is the gradient of the class score with respect to the CNN features
    (:func:`head_gradient`: exact for a logistic-regression head, path-averaged central
    differences for the other smooth classifiers, e.g. a calibrated SVC) and TensorFlow
    differentiates the pooling. For a
    linear head on average-pooled features this is Selvaraju et al.'s Grad-CAM exactly. With
    several layers the first one's maps are used (the others' features held fixed); with
    ``tta=True`` both the image and its mirror image are explained and their maps averaged.
    The map is then put back where the network's input came from: through DeepFeatures'
    resize and ``aspect``, the lesion box of ``region="bbox"``/``"mask"``, and the model's
    lesion crop when it has a segmenter (0 outside what the network saw).

    Parameters
    ----------
    model : FeatbusModel
        With exactly one :class:`~featbus.DeepFeatures` extractor and a smooth classifier
        (:func:`supports_grad_cam`); other extractors beside it are held fixed.
    image : ndarray, path or ImageRecord
    target : class name, optional
        Default: the predicted class.

    Returns
    -------
    cam : ndarray of shape (h, w), float in [0, 1]
        ``relu(sum_c alpha_c A_c)`` normalised by its maximum (all zeros if nothing is positive).

    Raises
    ------
    ValueError
        The model has no (or more than one) DeepFeatures extractor, or a piecewise-constant
        classifier: use :func:`occlusion_map`.
    """
    _check_grad_cam(model)
    rec = _record(image)
    seen, box = _roi_record(model, rec)
    x, proba = _features_and_proba(model, seen)
    return _grad_cam_of(model, rec, seen, box, x, _target_index(model, proba, target))


def _cam_through_pooling(est, maps_of, pooling, g: np.ndarray, rec, seen, box) -> np.ndarray:
    """Grad-CAM map, on ``rec``'s pixels (not clipped), of a score whose gradient with respect
    to ``est``'s pooled features (first layer first) is ``g``: one compiled forward pass
    (``maps_of``) for the maps, the gradient through the pooling exact in NumPy (the other
    layers' features are fixed: they do not change it)."""
    from ..features.deep import pool_gradient

    inp = est._prepare(seen, 0)  # the same crop, resize and scaling as the extractor's transform
    views = [inp, np.ascontiguousarray(inp[:, ::-1])] if est.tta else [inp]
    a = np.asarray(maps_of(np.stack(views)), np.float64)  # (views, h, w, c)
    n_first = _pooled_width(a.shape[1:], pooling)
    # tta: the extractor averages the two views' features, so each view gets half the gradient
    grad_feats = np.repeat(g[None, :n_first] / len(views), len(views), axis=0)
    grads = pool_gradient(a, pooling, grad_feats)
    linear = (a * grads.mean(axis=(1, 2), keepdims=True)).sum(axis=-1)  # (views, h, w)
    if est.tta:
        linear = linear[:1] + linear[1:, :, ::-1]  # the mirror view's map, mirrored back
    cam = np.maximum(linear[0], 0.0)
    cam = cam / cam.max() if cam.max() > 0 else cam
    cam = _input_to_record(_resize(cam, est.input_size_), est, seen)
    return _record_to_image(cam, box, rec.image.shape[:2])


def _grad_cam_network(model, rec, seen, box, k: int) -> np.ndarray:
    """Grad-CAM of a fine-tuned network (or the average over an ensemble's members) on its own
    logit of class ``k``, which is linear in the average-pooled embedding
    (``(e - mean) / scale @ W + b``): its gradient is ``W[:, k] / scale``, exactly."""
    total = 0.0
    for net in model.networks:
        g = np.asarray(net.weights_[-2], np.float64)[:, k] / np.asarray(net.embedding_scale_, np.float64)
        total = total + _cam_through_pooling(net, net._trainer().maps, ("avg",), g, rec, seen, box)
    return (total / len(model.networks)).clip(0, 1)


def _pooled_width(map_shape: tuple, pooling) -> int:
    """Number of features :func:`~featbus.features.deep.keras_pool` makes of one layer's map."""
    h, w, c = map_shape
    return sum(h * w * c if p is None else c for p in pooling)


def _features_and_proba(model, seen) -> tuple[np.ndarray, np.ndarray]:
    """The feature vector and class probabilities of one record as the extractors see it."""
    x = np.asarray(model.features.transform([seen]), dtype=np.float64)[0]
    return x, np.asarray(model.head.predict_proba(x[None]), dtype=np.float64)[0]


def _grad_cam_of(model, rec, seen, box, x: np.ndarray, k: int) -> np.ndarray:
    """:func:`grad_cam` of class ``k`` for an image ``rec``, the record ``seen`` the extractors
    get (the model's crop, at ``box``, or ``rec``) and its feature vector ``x``."""
    if getattr(model, "networks", []):
        return _grad_cam_network(model, rec, seen, box, k)
    est, cols = _deep_columns(model)
    g = np.asarray(head_gradient(model, x, cols, k), np.float64)
    net = est.network()
    return _cam_through_pooling(est, lambda v: net.maps(v)[0], net.pooling, g, rec, seen, box).clip(0, 1)


# --------------------------------------------------------------------------- overlays and files

def explain(model, image, *, method: str = "auto", target=None, progress: Any = False) -> dict:
    """Prediction and explanation map of one image.

    Parameters
    ----------
    model : FeatbusModel
    image : ndarray, path or ImageRecord
    method : {"auto", "occlusion", "gradcam"}, default="auto"
        ``"auto"``: Grad-CAM where :func:`supports_grad_cam` and Keras is installed, occlusion
        otherwise (a ``featbus[runtime]`` install without Keras predicts a CNN model through
        LiteRT, and occlusion needs only predictions).
    target : class name, optional
        Default: the predicted class.
    progress : bool or "auto", default=False
        Progress bar of the occlusion patches (see :func:`occlusion_map`).

    Returns
    -------
    result : dict
        ``proba`` (per class), ``predicted``, ``target``, ``method`` (``"gradcam"`` or
        ``"occlusion"``), ``map`` (h x w), ``image`` (the grey pixels; for a model with
        preprocessing steps, the preprocessed image the map belongs to) and ``roi``: for a model
        with a segmenter its :meth:`~featbus.model.FeatbusModel.lesion_roi` dict of the image
        (from the same segmenter pass as the prediction), else ``None``.

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.workflows.training import train_model
    >>> data = make_phantoms(24, image_size=48, random_state=0)
    >>> model = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False)
    >>> res = explain(model, data.images[0])  # no CNN: occlusion
    >>> res["method"], res["map"].shape, res["predicted"] in res["proba"]
    ('occlusion', (48, 48), True)
    """
    if method not in ("auto", "occlusion", "gradcam"):
        raise ValueError(f"method must be 'auto', 'occlusion' or 'gradcam', got {method!r}")
    rec = _record(image)
    if getattr(model, "preprocess", None) is not None:
        # explain the image the model saw (e.g. the muscle removed, flipped, cropped to the
        # breast): maps and ``image`` are in its geometry; the copy does not preprocess again
        import copy

        rec = model.preprocess.transform([rec])[0]
        model = copy.copy(model)
        model.preprocess = None
    with _extractor_bars_off():  # one image: a bar per extractor would only flash
        seen, box = _roi_record(model, rec)  # one segmenter pass serves the prediction, the map and the ROI
        x, proba = _features_and_proba(model, seen)
    k = _target_index(model, proba, target)
    use = method if method != "auto" else ("gradcam" if supports_grad_cam(model) and _keras_available()
                                           else "occlusion")
    if use == "gradcam":
        _check_grad_cam(model)
        with _extractor_bars_off():
            m = _grad_cam_of(model, rec, seen, box, x, k)
    else:
        m = occlusion_map(model, rec, target=target, progress=progress)
    classes = [str(c) for c in model.classes_]
    predicted = str(model.decide(proba[None])[0]) if hasattr(model, "decide") else classes[int(np.argmax(proba))]
    return {"proba": dict(zip(classes, proba.tolist())), "predicted": predicted,
            "target": classes[k], "method": use, "map": m, "image": rec.image,
            "roi": None if box is None or getattr(model, "roi", None) is None else model._roi_of(rec, seen)}


def explain_to_files(model, images: Sequence, out_dir: str | os.PathLike, *, method: str = "auto",
                     target=None, progress: Any = "auto") -> list[str]:
    """Save ``<stem>.<method>.png`` figures into ``out_dir``; returns their paths.

    Each figure (:func:`featbus.deploy.plotting.plot_explanation`) shows the image, the map over it and
    its colour bar (what the colours mean: the drop of the class's probability for occlusion,
    the relative Grad-CAM weight), titled with the prediction. Images without a path are named
    ``image<i>``; two inputs with the same stem get their index appended so no figure overwrites
    another.

    Parameters
    ----------
    model : FeatbusModel
    images : sequence of paths, arrays or ImageRecord
    out_dir : path
        Created if missing.
    method, target
        As :func:`explain`.
    progress : bool or "auto", default="auto"
        Progress bars (images, and the occlusion patches of each) on standard error;
        ``"auto"``: a bar when it is a terminal, else a plain line every 30 s
        (:func:`featbus.progress.progress_bar`).

    Returns
    -------
    paths : list of str
        The PNG written for each image, in order.

    Examples
    --------
    >>> import tempfile
    >>> from featbus import make_phantoms
    >>> from featbus.workflows.training import train_model
    >>> data = make_phantoms(24, image_size=48, random_state=0)
    >>> model = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False)
    >>> paths = explain_to_files(model, data.images[:2], tempfile.mkdtemp(), progress=False)
    >>> [p.rsplit("/", 1)[-1] for p in paths]
    ['image0.occlusion.png', 'image1.occlusion.png']
    """
    from ..io import written_atomically
    from .plotting import plot_explanation

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, used = [], set()
    with _progress_bar(progress, len(images), "explain", "img") as bar:
        for i, image in enumerate(images):
            res = explain(model, image, method=method, target=target, progress=progress)
            src = image if isinstance(image, (str, os.PathLike)) else getattr(image, "path", None)
            stem = Path(src).stem if src else f"image{i}"
            if stem in used:
                stem = f"{stem}-{i}"
            used.add(stem)
            path = out / f"{stem}.{res['method']}.png"
            with written_atomically(path, suffix=".tmp.png") as tmp:  # savefig reads the format off the name
                plot_explanation(res).savefig(tmp, dpi=100)  # a pyplot-free Figure: nothing to close
            paths.append(str(path))
            bar.update(1)
    return paths
