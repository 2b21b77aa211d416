"""A trained model you can save, trust, reload and predict with: the ``.featbus`` file.

:func:`train_model` extracts features from a labelled data set, cross-validates the recipe on
duplicate-grouped folds (the numbers it was chosen by), fits it on all images and returns a
:class:`FeatbusModel`; :meth:`FeatbusModel.save` writes it; :func:`load_model` reads it back.

The file format
---------------
A ``.featbus`` file (format 4) is a zip archive whose members are stored, not compressed:

``manifest.json``
    Plain JSON, read without executing anything: format version, featbus and dependency
    versions, class names, the recipe (extractors and their settings, classifier, balance,
    calibration), the seed, the UTC date, the command line, the training data summary (images
    per class, a SHA-256 of the pixels and labels), the cross-validation results with bootstrap
    intervals, per-class intensity statistics of the training images, and the SHA-256 of the
    other members.
``pipeline.skops``
    The fitted feature extractors and classifier, and, for a model with a lesion segmenter, its
    :class:`~featbus.ROICropper` (the segmenter inside it), written by :mod:`skops.io`: JSON and
    NumPy arrays, no pickle.
``runtime/<name>.tflite`` (CNN models saved on Keras's TensorFlow backend)
    Each network's forward pass for :mod:`featbus.runtime`, which predicts without TensorFlow.

Models with a lesion segmenter
------------------------------
``train_model(..., segmenter=...)`` puts a fitted :class:`~featbus.ROICropper`
(``source="segmenter"``, ``on_empty="image"``, ``pass_mask=True``) in front of the features:
every image, in training and in prediction, is cropped to the box of the lesion the segmenter
predicts (plus ``roi_margin``), and the predicted mask travels with the crop, so mask-based
features (``shape``, ``region="mask"``/``"bbox"``) are allowed; without a segmenter they are
refused (a new image comes without a mask). Training images are cropped by the segmenter's
predictions, not by their ground truth, so that training sees what prediction sees. The
manifest's ``segmenter`` entry records the segmenter's class, parameters, how it was obtained
(trained inside :func:`train_model`, read from a file with its SHA-256, or passed fitted) and
whether it was trained on the training images, in which case the cross-validation numbers are
optimistic for the crops (the segmenter has seen every test fold's masks); ``notes`` and
:meth:`FeatbusModel.describe` say so. (Format 2 introduced the cropper: a featbus that reads only
format 1 refuses such a file instead of silently predicting on uncropped images.)

What loading implies
--------------------
:func:`load_model` reads and checks the manifest, checks every member against its digest and
the pipeline archive against its declared sizes, then lists the types the pipeline would create
(:func:`pipeline_types`). It creates them only when each is trusted by :func:`is_trusted_type`
for the loader that builds it, by its exact type (Python values, ``numpy.ndarray`` and NumPy's
scalar types, the estimators of scikit-learn, featbus, imbalanced-learn and XGBoost,
:data:`EXTRA_TRUSTED_TYPES`; no subclass, and no loader that calls a constructor with the file's
arguments), with decision trees' arguments bounded, and then checks what it created before
anything predicts (tree node tables, libsvm arrays, parameters, class order; a runtime forward
against its network): a file from someone else loads without running code of its own, writing
to disk, looping or exhausting memory (``docs/guide/receiving_a_model.rst``). Any other type (an
estimator of your own, a function) is refused with :class:`UntrustedModelError` unless

* ``trusted=True`` is passed (you vouch for the file) or ``trusted=[type names]`` names them, or
* the SHA-256 of the whole file is in your trust list: ``$FEATBUS_TRUSTED_MODELS`` if set, else
  ``$XDG_CONFIG_HOME/featbus/trusted_models.txt`` (``~/.config/...``), one hex digest per line.
  :meth:`FeatbusModel.save` adds a file holding such types (you made it), and
  :func:`trust_model` (``featbus predict --trust``) adds a file you received.

Files of formats 1-3 store the pipeline as a pickle, which runs whatever code it names: they
load only when trusted as above, with a warning on how to re-save them (``featbus upgrade``).
An edited file has a new digest; a member whose digest differs from the manifest's is refused
as damaged.

Versions
--------
scikit-learn does not support loading an estimator's state across versions, and featbus 0.x may
change its estimators between minor versions: a file whose manifest names another featbus ``major.minor``
or scikit-learn ``major.minor`` than the running ones is refused with
:class:`ModelVersionError`, naming both versions (retrain, or install the versions named).
A newer file format version is refused the same way.

Probabilities
-------------
Every model has ``predict_proba``. A classifier without one (the default RBF
:class:`~sklearn.svm.SVC`) is wrapped, with the scaler and sampler before it, in
:class:`~sklearn.calibration.CalibratedClassifierCV` (``method="sigmoid"``, i.e. Platt scaling,
``ensemble=False``): the sigmoid is fitted on *out-of-fold* decision values of duplicate-grouped
folds, then the SVC is refitted on all images. Sigmoid rather than isotonic because a few hundred
images per class are too few for isotonic regression (it overfits below ~1000 samples,
Niculescu-Mizil & Caruana 2005, doi:10.1145/1102351.1102430); grouped folds so near-duplicates
cannot make the calibration over-confident; not ``SVC(probability=True)``, which calibrates on
its own ungrouped internal folds and whose probabilities may disagree with its predictions.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import platform
import re
import sys
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._registry import is_cnn, reads_masks
from ._version import __version__
from .io import file_sha256, written_atomically

__all__ = ["FeatbusModel", "train_model", "load_model", "read_manifest", "describe_manifest", "pipeline_types",
           "types_needing_trust", "is_trusted_type", "trust_model", "trusted_models_file", "checked_runtimes_file",
           "UntrustedModelError",
           "ModelVersionError", "FORMAT_VERSION", "EXTRA_TRUSTED_TYPES", "TRUSTED_PACKAGES"]

#: Version of the ``.featbus`` layout; a reader refuses files with a larger one. Versions 1-3
#: pickled the pipeline (2 added the lesion ROI cropper, 3 preprocessing steps); version 4 stores
#: it with skops (no pickle) and may add inference-runtime forwards of its networks.
FORMAT_VERSION = 4
_FORMAT_SKOPS = 4


_MAGIC = "featbus-model"
_MANIFEST = "manifest.json"
_PIPELINE = "pipeline.skops"
_LEGACY_PIPELINE = "pipeline.joblib"  # formats 1-3: a pickle, loaded only when trusted
_RUNTIME_MEMBER = re.compile(r"runtime/[A-Za-z0-9_.-]+\.tflite")

from ._model_trust import EXTRA_TRUSTED_TYPES, TRUSTED_PACKAGES  # noqa: E402  (one list, with its rules)


class UntrustedModelError(ValueError):
    """The model file is not trusted, so its pickle is not loaded."""


class ModelVersionError(ValueError):
    """The model file was made by versions this installation cannot load."""


# --------------------------------------------------------------------------- trust list

def trusted_models_file() -> Path:
    """Where the trust list lives (``$FEATBUS_TRUSTED_MODELS`` or the XDG config folder).

    Examples
    --------
    >>> from featbus.model import trusted_models_file
    >>> trusted_models_file().name.endswith(".txt") or True
    True
    """
    env = os.environ.get("FEATBUS_TRUSTED_MODELS")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "featbus" / "trusted_models.txt"


_DIGEST = re.compile(r"[0-9a-f]{64}")


def _trusted_digests() -> set[str]:
    """The SHA-256 digests of the trust list: the first word of each line, when it is one."""
    path = trusted_models_file()
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return set()
    words = (line.split()[0].lower() for line in lines if line.strip() and not line.startswith("#"))
    return {w for w in words if _DIGEST.fullmatch(w)}


def trust_model(path: str | os.PathLike) -> str:
    """Add a model file's SHA-256 to the trust list; returns the digest.

    Only do this for a file whose origin you trust: loading it runs its pickle.
    """
    digest = file_sha256(path)
    if digest not in _trusted_digests():
        store = trusted_models_file()
        store.parent.mkdir(parents=True, exist_ok=True)
        # the file name goes in as a JSON string: a name holding a line break (and another
        # file's digest after it) cannot add a line of its own
        with open(store, "a") as f:
            f.write(f"{digest}  {json.dumps(os.path.abspath(path))}\n")
    return digest


# --------------------------------------------------------------------------- manifest

def _versions(deep: bool) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"featbus": __version__, "python": platform.python_version()}
    names = ["scikit-learn", "numpy", "joblib", "imbalanced-learn", "scikit-image", "opencv-python-headless"]
    if deep:
        names += ["tensorflow", "tensorflow-cpu", "keras"]
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _major_minor(v: str) -> tuple[int, ...]:
    parts = []
    for p in str(v).split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _check_versions(manifest: dict, path: str) -> None:
    if manifest.get("format") != _MAGIC:
        raise ValueError(f"{path!r} is not a featbus model (no featbus manifest)")
    fv = manifest.get("format_version")
    if not isinstance(fv, int) or fv > FORMAT_VERSION:
        raise ModelVersionError(f"{path!r} has model format version {fv!r}; this featbus {__version__} "
                                f"reads format {FORMAT_VERSION} or older: upgrade featbus")
    import sklearn

    made = manifest.get("versions", {})
    for name, running in (("featbus", __version__), ("scikit-learn", sklearn.__version__)):
        saved = made.get(name)
        if saved is None or _major_minor(saved) != _major_minor(running):
            raise ModelVersionError(
                f"{path!r} was made with {name} {saved}, this is {name} {running}: a model's fitted "
                f"state loads only with the same {name} major.minor version; install {name}=={saved} "
                "or retrain the model with this installation")


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return repr(obj)


#: Largest manifest read (a real one is a few kB; a crafted one must not inflate into memory).
MAX_MANIFEST_BYTES = 16 * 2**20


def _read_member(path: str, name: str, limit: int) -> bytes:
    """One member of the model zip, its declared size checked before anything is inflated and
    the read bounded (a header can lie); a damaged zip is a ValueError naming the file."""
    try:
        with zipfile.ZipFile(path) as z:
            try:
                info = z.getinfo(name)
            except KeyError:
                raise ValueError(f"{path!r} is not a featbus model file, or a damaged one: it has no {name}") from None
            if info.file_size > limit:
                raise ValueError(f"{path!r} is damaged or crafted: its {name} would inflate to {info.file_size:,} "
                                 f"bytes (at most {limit:,} are read)")
            with z.open(info) as member:
                data = member.read(limit + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        raise ValueError(f"{path!r} is not a featbus model file, or a damaged one ({type(exc).__name__}: "
                         f"{exc})") from None
    if len(data) > limit:
        raise ValueError(f"{path!r} is damaged or crafted: its {name} inflates past its declared size")
    return data


def _check_manifest_schema(manifest: dict, path: str) -> None:
    """Types of the manifest's fields: a damaged or hand-edited file is named as such, not met
    later as an internal error."""
    def bad(field: str, expected: str):
        return ValueError(f"{path!r} is damaged: its manifest field {field!r} should be {expected}, "
                          f"it is {manifest.get(field)!r:.80}")

    fv = manifest.get("format_version")
    if isinstance(fv, bool) or not isinstance(fv, int) or fv < 1:
        raise bad("format_version", "a positive integer")
    versions = manifest.get("versions")
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
        raise bad("versions", "an object of version strings")
    classes = manifest.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise bad("classes", "a non-empty list of class names")
    if not isinstance(manifest.get("recipe"), dict):
        raise bad("recipe", "an object")
    steps = manifest["recipe"].get("preprocessing")
    if steps is not None and not (isinstance(steps, list) and all(isinstance(x, str) for x in steps)):
        raise ValueError(f"{path!r} is damaged: its recipe's 'preprocessing' should be a list of step names")
    for field in ("data", "intensity"):
        if not isinstance(manifest.get(field, {}), dict):
            raise bad(field, "an object")
    for field in ("cv", "segmenter", "holdout", "training", "adaptation"):
        if manifest.get(field) is not None and not isinstance(manifest[field], dict):
            raise bad(field, "an object or null")
    runs = (manifest.get("training") or {}).get("members", [])
    if not isinstance(runs, list) or not all(isinstance(h, dict) for h in runs):
        raise ValueError(f"{path!r} is damaged: its training 'members' should be a list of histories")
    if not isinstance(manifest.get("notes", []), list):
        raise bad("notes", "a list")
    op = manifest.get("operating_point")  # featbus.adapt's threshold, which predict applies
    t = op.get("threshold") if isinstance(op, dict) else None
    if op is not None and not (isinstance(op, dict) and op.get("positive") in classes and not isinstance(t, bool)
                               and isinstance(t, (int, float)) and 0 <= t <= 1):
        raise bad("operating_point", "null or an object with a 'positive' class of the model and a 'threshold' in "
                                     "[0, 1]")
    rt = manifest.get("runtime")
    if rt is not None:
        forwards = rt.get("forwards") if isinstance(rt, dict) else None
        if not isinstance(forwards, list) or not all(
                isinstance(f, dict) and isinstance(f.get("estimator"), str) and isinstance(f.get("member"), str)
                and _RUNTIME_MEMBER.fullmatch(f["member"]) and isinstance(f.get("sha256"), str)
                and _DIGEST.fullmatch(f["sha256"]) for f in forwards):
            raise bad("runtime", "null or an object whose 'forwards' list runtime/<name>.tflite members with "
                                 "their SHA-256")
    digest = manifest.get("pipeline_sha256")
    if digest is not None and not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
        raise bad("pipeline_sha256", "a SHA-256 hex digest")


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of a ``.featbus`` file (plain JSON; nothing is unpickled).

    Its declared size is checked before it is inflated (at most :data:`MAX_MANIFEST_BYTES`)
    and its fields' types are checked.

    Raises
    ------
    ValueError
        If the file is not a featbus model (not a zip, no manifest, unreadable JSON) or a
        damaged one (a member that does not inflate as declared, fields of the wrong type).
    """
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    raw = _read_member(path, _MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path!r} is damaged: its manifest is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _MAGIC:
        raise ValueError(f"{path!r} is not a featbus model (no featbus manifest)")
    _check_manifest_schema(manifest, path)
    return manifest


# --------------------------------------------------------------------------- the pipeline member

def _skops_io():
    """:mod:`skops.io`, imported without building its default trust list.

    skops builds that list at import by importing every scikit-learn module
    (``sklearn.utils.all_estimators``): about 5 s of a cold start here, more than the whole
    prediction. featbus decides trust itself (:func:`is_trusted_type`) and passes every type a
    file holds to skops explicitly, so the list is not needed: it is left empty.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import sklearn.utils

    saved = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda *args, **kwargs: []
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = saved
    return skops.io


def _type_trust(name: str, loaders) -> str | None:
    """Why featbus lets the file build this type with every loader it names, or None
    (:func:`featbus._model_trust.node_trust`: exact types per loader)."""
    from ._model_trust import node_trust

    reasons = [node_trust(None if loader == "?" else loader, name) for loader in sorted(loaders)]
    return reasons[0] if reasons and all(reasons) else None


def is_trusted_type(name: str) -> bool:
    """Whether featbus creates objects of this type from a model file without being told to.

    Trusted, each by its exact type (a subclass of a trusted type is not trusted): Python's plain
    values and containers, ``numpy.ndarray`` and NumPy's concrete scalar and dtype types (not
    ``numpy.memmap``, ``numpy.matrix`` or other subclasses), the scikit-learn estimator classes
    of scikit-learn and of :data:`TRUSTED_PACKAGES` (featbus's own, imbalanced-learn, XGBoost),
    set attribute by attribute without calling their constructor, and :data:`EXTRA_TRUSTED_TYPES`.
    A file is checked per schema node: the same type built by a loader that calls a constructor
    with the file's arguments is not trusted (see ``docs/guide/receiving_a_model.rst``).
    Functions and every other type need the user's trust.

    Examples
    --------
    >>> from featbus.model import is_trusted_type
    >>> is_trusted_type("featbus.features.deep.DeepFeatures"), is_trusted_type("os.system")
    (True, False)
    >>> is_trusted_type("numpy.ndarray"), is_trusted_type("numpy.memmap")
    (True, False)
    """
    from ._model_trust import node_trust

    if name == "sklearn.tree._tree.Tree":
        return True
    return any(node_trust(loader, name) for loader in (None, "ObjectNode", "NdArrayNode", "DTypeNode",
                                                        "RandomStateNode", "RandomGeneratorNode"))


def _pipeline_types(blob: bytes, path: str) -> dict[str, dict]:
    """Every type a skops pipeline names: ``{name: {"count": n, "loaders": {...}}}``, from its
    schema's nodes and whatever else skops itself would check; decision trees' constructor
    arguments are bounded here (nothing is created)."""
    from ._model_trust import CraftedModelError, audit_schema

    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            schema = json.loads(z.read("schema.json"))
        listed = _skops_io().get_untrusted_types(data=blob)
    except Exception as exc:  # skops raises many types for a malformed schema
        raise ValueError(f"{path!r} is damaged: its pipeline's schema does not read ({type(exc).__name__}: "
                         f"{exc})") from None
    try:
        out = audit_schema(schema, repr(path))
    except CraftedModelError as exc:
        raise ValueError(f"{exc} (damaged or crafted; nothing was loaded)") from None
    for name in listed:
        out.setdefault(name, {"count": 1, "loaders": {"?"}})
    return out


def _untrusted(types: dict[str, dict]) -> list[str]:
    """The names among :func:`_pipeline_types` that featbus does not build without trust."""
    return sorted(n for n, info in types.items() if _type_trust(n, info["loaders"]) is None)


def _check_skops_container(blob: bytes, path: str) -> None:
    """The skops member is a zip of JSON and ``.npy`` arrays: refuse compressed members (featbus
    stores them, so nothing inflates past the file) and arrays whose header claims more bytes
    than they hold, before skops reads any of it."""
    from numpy.lib import format as npy

    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            for info in z.infolist():
                if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                    raise ValueError(f"{path!r} is damaged or crafted: its pipeline member {info.filename!r} is "
                                     "compressed (featbus stores every member as it is)")
                if info.filename.endswith(".npy"):
                    with z.open(info) as f:
                        version = npy.read_magic(f)
                        shape, _, dtype = (npy.read_array_header_1_0 if version == (1, 0)
                                           else npy.read_array_header_2_0)(f, max_header_size=10_000)
                        if dtype.hasobject:
                            raise ValueError("an object array (would need pickle)")
                        need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                    if need > info.file_size:
                        raise ValueError(f"array {info.filename!r} claims {need:,} bytes in {info.file_size:,}")
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, TypeError) as exc:
        if str(exc).startswith(repr(path)):
            raise
        raise ValueError(f"{path!r} is damaged or crafted: its pipeline member is not a valid skops archive "
                         f"({exc})") from None


def pipeline_types(path: str | os.PathLike) -> list[dict]:
    """The types loading a model file would create, read from its pipeline's schema (nothing is
    loaded or run).

    Returns
    -------
    types : list of dict
        One per type, sorted: ``name`` (``module.Class``), ``count`` and ``trust``: why featbus
        trusts it (``"Python value"``, ``"NumPy"``, ``"scikit-learn"``, ``"featbus"``...; see
        :func:`is_trusted_type`) or ``"needs your trust"``. A file of the older pickle format
        gives one entry, ``"pickle (any code)"``, that needs trust.
    """
    path = str(path)
    manifest = read_manifest(path)
    if manifest["format_version"] < _FORMAT_SKOPS:
        return [{"name": "pickle (any code)", "count": 1, "trust": "needs your trust"}]
    blob = _read_member(path, _PIPELINE, max(os.path.getsize(path), 2**20))
    _check_skops_container(blob, path)
    return [{"name": n, "count": info["count"], "trust": _type_trust(n, info["loaders"]) or "needs your trust"}
            for n, info in sorted(_pipeline_types(blob, path).items())]


def types_needing_trust(path: str | os.PathLike) -> list[str]:
    """What loading the file would create that nobody has vouched for: ``[]`` when it loads
    without ``trusted`` (only trusted types, or the file is in the trust list), else the type
    names (``["pickle (any code)"]`` for an older pickled file). Nothing is loaded."""
    if file_sha256(path) in _trusted_digests():
        return []
    return [t["name"] for t in pipeline_types(path) if t["trust"] == "needs your trust"]


# --------------------------------------------------------------------------- the model

def _records(images, on_error: str = "raise"):
    """Read every image once: (records, [(index, path, reason)] of skipped ones)."""
    from ._records import ImageError, check_images
    from .io import load_item

    items = check_images(images, name="images")
    records, kept, skipped = [], [], []
    for i, item in enumerate(items):
        try:
            rec = load_item(item, i)
        except (ImageError, OSError) as exc:
            if on_error != "skip":
                raise
            path = getattr(exc, "path", None) or (str(item) if isinstance(item, (str, os.PathLike)) else None)
            skipped.append((i, path, " ".join(str(getattr(exc, "reason", exc)).split())))
            continue
        records.append(rec)
        kept.append(i)
    return records, np.asarray(kept, dtype=int), skipped


def describe_manifest(manifest: dict) -> str:
    """A few lines about a model from its manifest alone: recipe, training data, cross-validation
    results, training runs, versions, date (:meth:`FeatbusModel.describe`, ``featbus inspect``).

    Every text taken from the file is printed escaped (:func:`featbus._model_trust.printable`):
    a line break or a terminal escape in a note or a class name cannot add a line of its own."""
    from ._model_trust import printable

    def clean(obj):
        if isinstance(obj, dict):
            return {clean(k): clean(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return printable(obj) if isinstance(obj, str) else obj

    m = clean(manifest)
    r, d, cv = m.get("recipe", {}), m.get("data", {}), m.get("cv") or {}
    lines = [f"featbus model: {r.get('features')} -> {r.get('classifier')}"
             + (f" (+{r.get('balance')})" if r.get("balance") else "")
             + (f", probabilities: {r.get('calibration')}" if r.get("calibration") else ""),
             f"classes: {', '.join(map(str, m.get('classes', [])))}",
             (f"trained on {d.get('n_images')} images {d.get('counts')} from {d.get('source')} "
              f"(content sha256 {str(d.get('sha256'))[:12]}...), seed {m.get('random_state')}, "
              f"{m.get('created')}")]
    if cv:
        parts = []
        for metric in ("accuracy", "f1", "auc"):
            v = cv.get(metric)
            if v and v.get("value") is not None:
                ci = v.get("ci") or [None, None]
                parts.append(f"{metric} {v['value']:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]"
                                                             if ci[0] is not None else ""))
        kind = "held-out validation" if "validation split" in str(cv.get("cv")) else "cross-validation"
        lines.append(f"{kind} ({cv.get('cv')}): " + ", ".join(parts))
    tr = m.get("training")
    if tr:
        from .training import STOPPED_REASONS as _STOPPED

        runs = tr.get("members") or []
        lines.append(f"{'training' if runs else 'networks ran'} on {tr.get('backend')} / {tr.get('device')}"
                     + (": " if runs else "") + "; ".join(
            f"{len(h.get('epochs', []))} epochs, kept epoch {(h.get('best_epoch') or 0) + 1} "
            f"({_STOPPED.get(h.get('stopped'), h.get('stopped'))}), {h.get('seconds', 0):.0f} s" for h in runs))
    if r.get("preprocessing"):
        lines.append("preprocessing: " + " -> ".join(r["preprocessing"]))
    seg = m.get("segmenter")
    if seg:
        lines.append(f"lesion ROI: {seg.get('class')} ({seg.get('obtained')}), box margin "
                     f"{seg.get('roi', {}).get('margin')}; no lesion found: whole image")
    ad, op = m.get("adaptation"), m.get("operating_point")
    if ad:  # featbus.adapt
        lab = ad.get("labels") or {}
        lines.append(f"adapted to a site ({ad.get('method')}) on {ad.get('n_images')} images (content sha256 "
                     f"{str(ad.get('sha256'))[:12]}...), " + (f"{lab.get('n_images')} labelled {lab.get('counts')}"
                                                               if ad.get("labelled") else "unlabelled")
                     + f", {ad.get('date')}")
    if op:
        lines.append(f"operating point: {op.get('positive')} when p({op.get('positive')}) >= {op.get('threshold'):.4g} "
                     f"(sensitivity {op.get('target_sensitivity')} on {op.get('chosen_on')})")
    lines += [f"note: {n}" for n in m.get("notes", [])]
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items()))
    return "\n".join(lines)


class FeatbusModel:
    """A fitted featbus recipe with its provenance: extractors, classifier, class names.

    Made by :func:`train_model` or :func:`load_model`; not an estimator to refit (that is what
    :func:`featbus.make_classification_pipeline` is for).

    Parameters
    ----------
    features : FeatureUnion
        Fitted feature extractors (images -> feature matrix).
    head : classifier
        Fitted scaler/sampler/classifier pipeline with ``predict_proba`` whose ``classes_`` are
        the class names.
    manifest : dict
        Provenance (see the module docstring).
    roi : ROICropper or None, default=None
        Fitted lesion cropper applied to every image before the features (a model with a
        segmenter, see :func:`train_model`); ``None``: the features see the whole image.
    preprocess : Pipeline or None, default=None
        Fitted image -> image steps applied to every image first (e.g. pectoral-muscle
        removal, see :func:`train_model`'s ``preprocessing``).

    Attributes
    ----------
    classes_ : ndarray of str
        Class names, in the order of :meth:`predict_proba`'s columns.
    manifest : dict
    roi : ROICropper or None

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.model import train_model
    >>> data = make_phantoms(30, image_size=48, random_state=0)
    >>> model = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, progress=False)
    >>> model.classes_.tolist()
    ['benign', 'malignant', 'normal']
    >>> model.predict_proba(data.images[:2]).shape
    (2, 3)
    """

    def __init__(self, features, head, manifest: dict, roi=None, preprocess=None):
        self.cv_report = None  # train_model's cross-validation Report (not saved in the file)
        self.features = features
        self.head = head
        self.manifest = manifest
        self.roi = roi
        self.preprocess = preprocess

    # -- description
    @property
    def classes_(self) -> np.ndarray:
        return np.asarray([str(c) for c in self.head.classes_], dtype=object)

    @property
    def deep_extractors(self) -> list:
        """The CNN parts of the feature union: :class:`~featbus.DeepFeatures`,
        :class:`~featbus.FineTunedCNN` or :class:`~featbus.FineTunedEnsemble` (may be empty)."""
        return [est for _, est in self.features.transformer_list if is_cnn(est)]

    @property
    def networks(self) -> list:
        """The fine-tuned networks of a network recipe (an ensemble's members, or the one
        :class:`~featbus.FineTunedCNN`) whose own heads make the prediction; ``[]`` for a
        features + classifier model."""
        if type(self.head).__name__ != "NetworkHead":
            return []
        (_, est), = self.features.transformer_list
        return list(getattr(est, "members_", [est]))

    def __repr__(self) -> str:
        r = self.manifest.get("recipe", {})
        seg = f", segmenter={type(self.roi.segmenter_).__name__}" if self.roi is not None else ""
        return (f"FeatbusModel(features={r.get('features')!r}, classifier={r.get('classifier')!r}{seg}, "
                f"classes={self.classes_.tolist()})")

    def describe(self) -> str:
        """A few lines: recipe, training data, cross-validation results, versions, date."""
        return describe_manifest(self.manifest)

    # -- prediction
    def _crop(self, images):
        """The images as the features see them: through :attr:`preprocess`, then cropped to the
        predicted lesion by :attr:`roi` (records with ``meta["roi_found"]``/``["roi_box"]``), or
        as given without either."""
        if self.preprocess is not None:
            images = self.preprocess.transform(images)
        return images if self.roi is None else self.roi.transform(images)

    def _proba_of_crops(self, crops) -> np.ndarray:
        return np.asarray(self.head.predict_proba(np.asarray(self.features.transform(crops))), dtype=float)

    def transform(self, images) -> np.ndarray:
        """Feature matrix of images (paths, arrays or :class:`~featbus.ImageRecord`), after the
        lesion crop when the model has a segmenter."""
        return np.asarray(self.features.transform(self._crop(images)))

    def predict_proba(self, images) -> np.ndarray:
        """Class probabilities, one row per image, columns in the order of :attr:`classes_`."""
        return self._proba_of_crops(self._crop(images))

    def predict(self, images) -> np.ndarray:
        """Predicted class names: :meth:`decide` of :meth:`predict_proba`."""
        return self.decide(self.predict_proba(images))

    def decide(self, proba) -> np.ndarray:
        """Class names from probabilities: the most probable class, unless the manifest holds an
        ``operating_point`` (``{"positive": class, "threshold": t}``, set by :func:`featbus.adapt`
        on a site's labelled images): then an image is ``positive`` when ``p(positive) >= t``,
        else its most probable other class."""
        proba = np.asarray(proba, dtype=float)
        op = self.manifest.get("operating_point")
        if not op:
            return self.classes_[np.argmax(proba, axis=1)]
        j = self.classes_.tolist().index(op["positive"])
        others = proba.copy()
        others[:, j] = -np.inf
        chosen = np.argmax(others, axis=1)
        chosen[proba[:, j] >= op["threshold"]] = j
        return self.classes_[chosen]

    def lesion_roi(self, images) -> list[dict]:
        """Where the model's segmenter finds the lesion in each image (one segmenter pass).

        Parameters
        ----------
        images : sequence of paths, arrays or ImageRecord

        Returns
        -------
        rois : list of dict
            One per image: ``"found"`` (bool), ``"box"`` ``(row0, row1, col0, col1)`` in the
            input image (half-open; the whole image when nothing was found, which is what the
            features then see) and ``"mask"``, the predicted lesion as a bool array of the
            image's size (its largest connected component), or ``None`` when none was found.

        Raises
        ------
        ValueError
            The model has no segmenter.

        Examples
        --------
        >>> from featbus import make_phantoms
        >>> from featbus.model import train_model
        >>> data = make_phantoms(24, image_size=48, random_state=0)
        >>> model = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False)
        >>> model.lesion_roi(data.images[:1])
        Traceback (most recent call last):
        ...
        ValueError: this model has no lesion segmenter (train it with segmenter=...): it uses whole images
        """
        if self.roi is None:
            raise ValueError("this model has no lesion segmenter (train it with segmenter=...): it uses whole "
                             "images")
        records, _, _ = _records(images)
        return [self._roi_of(rec, crop) for rec, crop in zip(records, self._crop(records))]

    def _roi_of(self, record, crop) -> dict:
        """:meth:`lesion_roi`'s dict for one loaded image and its crop by :attr:`roi` (from the
        segmenter pass that made the crop: a caller holding the crop needs no second pass)."""
        roi = self.roi
        if not roi.pass_mask or roi.output_size is not None:
            raise ValueError("lesion_roi needs the model's ROICropper to pass the mask at the crop's own size "
                             f"(pass_mask=True, output_size=None), it has pass_mask={roi.pass_mask!r}, "
                             f"output_size={roi.output_size!r}")
        found, box = bool(crop.meta["roi_found"]), tuple(int(b) for b in crop.meta["roi_box"])
        mask = None
        if found:  # the crop holds the whole predicted lesion (its box plus a margin): paste it back
            mask = np.zeros(record.image.shape[:2], bool)
            mask[box[0]:box[1], box[2]:box[3]] = crop.mask
        return {"found": found, "box": box, "mask": mask}

    def predict_table(self, images, *, on_error: str = "raise"):
        """One row per image: ``image``, ``predicted``, ``p_<class>`` columns and ``error``.

        A model with a segmenter adds ``roi_found`` (whether a lesion was found; if not, the
        whole image was used) and ``roi_box`` (``(row0, row1, col0, col1)`` of the crop in the
        image), from the same segmenter pass as the prediction.

        Parameters
        ----------
        images : sequence of paths, arrays or ImageRecord
        on_error : {"raise", "skip"}
            An unreadable image raises (naming it), or gets a row with an empty prediction and
            the reason in ``error`` (also warned, so it is never silent).

        Returns
        -------
        table : pandas.DataFrame
        """
        import pandas as pd

        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        items = list(images)
        records, kept, skipped = _records(items, on_error)
        names = [str(it) if isinstance(it, (str, os.PathLike)) else (getattr(it, "path", None) or f"#{i}")
                 for i, it in enumerate(items)]
        proba = np.full((len(items), len(self.classes_)), np.nan)
        predicted = np.full(len(items), "", dtype=object)
        error = np.full(len(items), "", dtype=object)
        roi_found = np.full(len(items), None, dtype=object)
        roi_box = np.full(len(items), None, dtype=object)
        if records:
            crops = self._crop(records)
            p = self._proba_of_crops(crops)
            proba[kept] = p
            predicted[kept] = self.decide(p)
            if self.roi is not None:
                for i, crop in zip(kept, crops):
                    roi_found[i] = bool(crop.meta["roi_found"])
                    roi_box[i] = tuple(int(b) for b in crop.meta["roi_box"])
        for i, _path, reason in skipped:
            error[i] = reason
        if skipped:
            warnings.warn(f"skipped {len(skipped)} unreadable image(s): "
                          + "; ".join(f"{names[i]}: {r}" for i, _, r in skipped[:10]), UserWarning, stacklevel=2)
        table = pd.DataFrame({"image": names, "predicted": predicted})
        for j, c in enumerate(self.classes_):
            table[f"p_{c}"] = proba[:, j]
        if self.roi is not None:  # empty for unreadable images
            table["roi_found"] = roi_found
            table["roi_box"] = roi_box
        table["error"] = error
        return table

    def warm_up(self) -> FeatbusModel:
        """Run one tiny image through the segmenter (if any), every extractor and the classifier.

        Builds CNNs and traces their compiled functions now, so that the first real prediction
        does not pay for it (``load_model`` calls this unless ``warm_up=False``).
        """
        side = 64
        for est in self.networks or self.deep_extractors:
            side = max(side, *est.input_size_)
        if self.roi is not None:
            side = max(side, int(getattr(self.roi.segmenter_, "input_size", side)))
        img = (np.arange(side * side, dtype=np.float64).reshape(side, side) % 251).astype(np.uint8)
        self.predict_proba([img])
        return self

    # -- persistence
    def save(self, path: str | os.PathLike, *, overwrite: bool = False, trust: bool | None = None,
             runtime: bool | None = None) -> Path:
        """Write the ``.featbus`` file (atomically): manifest, pipeline (skops, no pickle) and the
        networks' inference-runtime forwards.

        Parameters
        ----------
        path : path
            Usually ``*.featbus``.
        overwrite : bool, default=False
            Replace an existing file.
        trust : bool or None, default=None
            Add the file's SHA-256 to :func:`trusted_models_file` (you made it). ``None``: only
            when the pipeline holds types featbus does not trust by itself (an estimator of
            yours, see :func:`is_trusted_type`): every other file loads without the list.
        runtime : bool or None, default=None
            Store each network's forward pass as a TFLite flatbuffer (:mod:`featbus.runtime`),
            so that prediction needs neither TensorFlow nor the network's weights package.
            ``None``: when Keras runs on TensorFlow (the converter traces a TensorFlow graph);
            a conversion that fails is warned about and the file is written without it.
        """
        sio = _skops_io()
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True (--overwrite) to replace it")
        parts = {"features": self.features, "head": self.head}
        if self.roi is not None:
            parts["roi"] = self.roi
        if self.preprocess is not None:
            parts["preprocess"] = self.preprocess
        blob = sio.dumps(parts)  # members stored, not compressed: nothing can inflate on reading
        forwards = self._runtime_forwards(runtime)
        manifest = dict(self.manifest)
        manifest["format_version"] = FORMAT_VERSION
        manifest["pipeline_sha256"] = hashlib.sha256(blob).hexdigest()
        manifest["runtime"] = ({"engine": "litert", "forwards": [
            {k: v for k, v in f.items() if k != "flatbuffer"} for f in forwards]} if forwards else None)
        self.manifest = manifest
        path.parent.mkdir(parents=True, exist_ok=True)
        with written_atomically(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr(_MANIFEST, json.dumps(_json_safe(manifest), indent=1, sort_keys=True))
            z.writestr(_PIPELINE, blob)
            for f in forwards:
                z.writestr(f["member"], f["flatbuffer"])
        if forwards:  # made here from the same networks: nothing to check when it is loaded
            _remember_runtime_checked(file_sha256(path))
        if trust is None:
            trust = bool(_untrusted(_pipeline_types(blob, str(path))))
        if trust:
            trust_model(path)
        return path

    def _runtime_forwards(self, wanted: bool | None) -> list[dict]:
        """The runtime members :meth:`save` writes: one flatbuffer per network estimator."""
        from .runtime import forward_flatbuffer, network_estimators

        nets = network_estimators(self)
        if not nets or wanted is False:
            return []
        from ._backend import backend_name

        if backend_name() != "tensorflow":
            if wanted:
                raise ValueError(f"runtime=True needs Keras's TensorFlow backend, this process runs "
                                 f"{backend_name()!r}")
            return []
        out = []
        try:
            for key, est in nets:
                flat = forward_flatbuffer(est)
                out.append({"estimator": key, "member": f"runtime/{key}.tflite", "flatbuffer": flat,
                            "sha256": hashlib.sha256(flat).hexdigest(),
                            "input": [int(s) for s in est.input_size_], "outputs": int(est.n_features_out_)})
        except Exception as exc:  # the converter raises many types; the model itself is fine
            if wanted:
                raise
            warnings.warn(f"the model is saved without its inference runtime (predictions will import TensorFlow): "
                          f"converting {key} failed ({type(exc).__name__}: {exc})", UserWarning, stacklevel=3)
            return []
        return out


def load_model(path: str | os.PathLike, *, trusted: bool | Sequence[str] = False, warm_up: bool = True,
               runtime: str = "auto") -> FeatbusModel:
    """Read a ``.featbus`` file: check its manifest, versions and members, then load its pipeline.

    A file of the current format loads without pickle: its pipeline is a skops archive whose
    types are listed before anything is created, and it creates only types trusted by skops or
    featbus (:func:`is_trusted_type`) unless you name the others (``trusted``) or trust the
    file. Older files (a pickled pipeline) load only when trusted, as before, with a warning on
    how to re-save them.

    Parameters
    ----------
    path : path
    trusted : bool or sequence of str, default=False
        ``True``: you vouch for the file (its other types are created; an old pickled file is
        unpickled). A sequence: type names (``module.Class``) you allow besides the trusted
        ones. Either way a file whose SHA-256 is in the trust list counts as vouched for.
    warm_up : bool, default=True
        Build CNNs and trace them now (:meth:`FeatbusModel.warm_up`), so that the first
        prediction is as fast as the next ones.
    runtime : {"auto", "keras"}, default="auto"
        ``"auto"``: run the networks through the file's inference-runtime forwards
        (:mod:`featbus.runtime`) when it has them and ``ai-edge-litert`` is installed, without
        importing TensorFlow; ``"keras"``: always rebuild the Keras networks.

    Returns
    -------
    model : FeatbusModel

    Raises
    ------
    UntrustedModelError
        The file would create types nobody vouched for, or is an old pickled file that is not
        trusted (nothing was loaded).
    ModelVersionError
        The file needs another featbus / scikit-learn version or a newer format.
    ValueError
        Not a featbus file, or a damaged or crafted one.

    Examples
    --------
    >>> import os, tempfile
    >>> from featbus import make_phantoms
    >>> from featbus.model import train_model, load_model
    >>> data = make_phantoms(30, image_size=48, random_state=0)
    >>> model = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, progress=False)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.featbus")
    >>> _ = model.save(path)
    >>> load_model(path).predict(data.images[:1]).tolist() == model.predict(data.images[:1]).tolist()
    True
    """
    if runtime not in ("auto", "keras"):
        raise ValueError(f"runtime must be 'auto' or 'keras', got {runtime!r}")
    if not (isinstance(trusted, bool) or (isinstance(trusted, Sequence) and not isinstance(trusted, str)
                                          and all(isinstance(t, str) for t in trusted))):
        raise TypeError(f"trusted must be True, False or a list of type names, got {trusted!r}")
    path = str(path)
    manifest = read_manifest(path)
    _check_versions(manifest, path)
    size = max(os.path.getsize(path), 2**20)  # featbus stores members: none inflates past the file

    def vouched() -> bool:
        return trusted is True or file_sha256(path) in _trusted_digests()

    if manifest["format_version"] < _FORMAT_SKOPS:
        parts = _load_pickled(path, manifest, size, vouched())
    else:
        blob = _read_member(path, _PIPELINE, size)
        if hashlib.sha256(blob).hexdigest() != manifest.get("pipeline_sha256"):
            raise ValueError(f"{path!r} is damaged: its pipeline does not match the SHA-256 in its manifest")
        _check_skops_container(blob, path)
        types = _pipeline_types(blob, path)
        listed = sorted(types)
        unknown = _untrusted(types)
        allowed = set(trusted) if not isinstance(trusted, bool) else set()
        if [t for t in unknown if t not in allowed] and not vouched():
            raise UntrustedModelError(
                f"{path!r} would create types featbus does not trust by itself (or builds them in a way it does not "
                f"trust): {', '.join(unknown)}. Nothing was loaded. If you trust the file's origin, pass "
                "trusted=True or trusted=[those names] (command line: --trust, which adds the file to your trust "
                "list)")
        try:
            # every type the file holds, each checked above: skops's own defaults are not used
            parts = _skops_io().loads(blob, trusted=listed)
        except Exception as exc:
            raise ValueError(f"{path!r} is damaged: its pipeline does not load ({type(exc).__name__}: {exc})") from None
        _check_contents(parts, path, vouched)
    if not isinstance(parts, dict) or not {"features", "head"} <= set(parts):
        raise ValueError(f"{path!r} is damaged: its pipeline is not a featbus model's parts")
    roi = parts.get("roi")  # absent in format 1 files
    if (roi is None) != (not manifest.get("segmenter")):
        raise ValueError(f"{path!r} is damaged: its manifest and its pipeline disagree on whether the model "
                         "has a lesion segmenter")
    preprocess = parts.get("preprocess")  # absent before format 3
    if (preprocess is None) != (not (manifest.get("recipe") or {}).get("preprocessing")):
        raise ValueError(f"{path!r} is damaged: its manifest and its pipeline disagree on whether the model "
                         "preprocesses its images")
    model = FeatbusModel(parts["features"], parts["head"], manifest, roi, preprocess)
    _check_classes(model, manifest, path)
    if runtime == "auto":
        _attach_runtime(model, path, size)
    if warm_up:
        model.warm_up()
    return model


def _check_contents(parts, path: str, vouched) -> None:
    """What the file made, checked before anything uses it (:func:`featbus._model_trust.check_loaded`):
    contents featbus never writes are a damaged file; parameters that would touch files or start
    unbounded workers need trust."""
    from ._model_trust import CraftedModelError, NeedsTrust, check_loaded

    try:
        check_loaded(parts, repr(path))
    except CraftedModelError as exc:
        raise ValueError(f"{exc} (damaged or crafted: featbus never writes this)") from None
    except NeedsTrust as exc:
        if not vouched():
            raise UntrustedModelError(f"{exc}. Nothing was used. If you trust the file's origin, pass trusted=True "
                                      "(command line: --trust)") from None


def _check_classes(model: FeatbusModel, manifest: dict, path: str) -> None:
    """The manifest's class names (what ``inspect`` shows) are the classifier's, in its order
    (what ``predict`` uses): one order per file."""
    try:
        mine = [str(c) for c in model.head.classes_]
    except Exception as exc:
        raise ValueError(f"{path!r} is damaged: its classifier has no class list ({type(exc).__name__})") from None
    if mine != list(manifest["classes"]):
        from ._model_trust import printable

        raise ValueError(f"{path!r} is damaged or crafted: its manifest lists the classes "
                         f"{printable(manifest['classes'])} but its classifier predicts {printable(mine)}")


def _load_pickled(path: str, manifest: dict, size: int, vouched: bool) -> dict:
    """The parts of a format 1-3 file, whose pipeline is a pickle: only for a trusted file."""
    if not vouched:
        raise UntrustedModelError(
            f"{path!r} (sha256 {file_sha256(path)[:16]}...) is an older featbus model file whose pipeline is a pickle "
            f"and it is not in your trust list {str(trusted_models_file())!r}; loading it would run code from the "
            "file. If you trust its origin, pass trusted=True (command line: --trust), then re-save it without "
            "pickle: featbus upgrade OLD -o NEW")
    blob = _read_member(path, _LEGACY_PIPELINE, size)
    if hashlib.sha256(blob).hexdigest() != manifest.get("pipeline_sha256"):
        raise ValueError(f"{path!r} is damaged: its pipeline does not match the SHA-256 in its manifest")
    import joblib

    warnings.warn(f"{path!r} stores its pipeline as a pickle (model format {manifest['format_version']}); re-save it "
                  "in the current format, which loads without pickle: featbus upgrade OLD -o NEW "
                  "(or load_model(old, trusted=True).save(new))", UserWarning, stacklevel=3)
    with warnings.catch_warnings():
        # the versions were checked; patch-level differences are fine
        warnings.filterwarnings("ignore", message=".*Trying to unpickle estimator.*")
        return joblib.load(io.BytesIO(blob))


def checked_runtimes_file() -> Path:
    """Where featbus remembers the model files whose runtime forwards it has checked against their
    Keras networks (beside :func:`trusted_models_file`; a file's SHA-256 per line)."""
    return trusted_models_file().with_name("checked_runtimes.txt")


def _runtime_checked(digest: str) -> bool:
    try:
        text = checked_runtimes_file().read_text()
    except OSError:
        return False
    return digest in {line.split()[0] for line in text.splitlines() if line.strip()}


def _remember_runtime_checked(digest: str) -> None:
    store = checked_runtimes_file()
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        with open(store, "a") as f:
            f.write(f"{digest}\n")
    except OSError as exc:
        warnings.warn(f"could not remember a checked model file in {str(store)!r} ({exc.strerror or exc}): its "
                      "runtime forwards will be checked against Keras again next time", UserWarning, stacklevel=3)


def _keras_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("keras") is not None
    except (ImportError, ValueError):
        return False


def _attach_runtime(model: FeatbusModel, path: str, size: int) -> None:
    """Give each network estimator the file's inference-runtime forward (when the file has them
    and LiteRT is installed): predictions then never import TensorFlow.

    One answer per file: where Keras is installed, each forward is run once against the network
    the file also holds, on two probe images (:func:`featbus.runtime.forward_disagreement`); a
    forward that is not that network (swapped for another of the same shape, its digest updated)
    is refused. A file that passed, or that this installation saved, is remembered by its SHA-256
    (:func:`checked_runtimes_file`), so later loads skip the check and never import TensorFlow.
    Without Keras the forward is the only way this installation can run the network."""
    from .runtime import RUNTIME_CHECK_RTOL, LiteForward, forward_disagreement, network_estimators, runtime_available

    forwards = (model.manifest.get("runtime") or {}).get("forwards") or []
    if not forwards or not runtime_available():
        return
    nets = dict(network_estimators(model))
    if set(nets) != {f["estimator"] for f in forwards}:
        raise ValueError(f"{path!r} is damaged: its runtime forwards do not match its networks")
    attached = []
    for f in forwards:
        est = nets[f["estimator"]]
        flat = _read_member(path, f["member"], size)
        if hashlib.sha256(flat).hexdigest() != f["sha256"]:
            raise ValueError(f"{path!r} is damaged: its {f['member']} does not match the SHA-256 in its manifest")
        fwd = LiteForward(flat, est.n_features_out_, name=f"{path!r} {f['member']}")
        if fwd.input_size != tuple(int(s) for s in est.input_size_):
            raise ValueError(f"{path!r} is damaged: {f['member']} takes {fwd.input_size} images, its network "
                             f"{tuple(est.input_size_)}")
        attached.append((f["member"], est, fwd))
    digest = file_sha256(path)
    if _keras_installed() and not _runtime_checked(digest):
        for member, est, fwd in attached:
            off = forward_disagreement(est, fwd)
            if not off <= RUNTIME_CHECK_RTOL:
                raise ValueError(f"{path!r} is damaged or crafted: its {member} is not the network it holds (they "
                                 f"disagree by {off:.3g} of the largest feature on the same images, at most "
                                 f"{RUNTIME_CHECK_RTOL:g} is allowed)")
        _remember_runtime_checked(digest)
    for _, est, fwd in attached:
        est._inference = fwd


# --------------------------------------------------------------------------- training

def _data_sha256(records, y_names) -> str:
    """SHA-256 of every image's pixels (dtype, shape, bytes) and label, in order."""
    h = hashlib.sha256()
    for rec, label in zip(records, y_names):
        img = np.ascontiguousarray(rec.image)
        h.update(f"{img.dtype.str}{img.shape}{label}".encode())
        h.update(img.tobytes())
    return h.hexdigest()


def _intensity_profile(records, y_names, classes) -> dict:
    """Per-class distribution of each image's mean and standard deviation (0..1 scale)."""
    from ._records import to_float

    stats = np.array([[float(np.mean(im)), float(np.std(im))]
                      for im in (to_float(r.image) for r in records)])
    out = {}
    for c in classes:
        sel = stats[np.asarray(y_names) == c]
        out[str(c)] = {name: {"values": np.round(sel[:, j], 5).tolist(),
                              "quantiles": np.round(np.quantile(sel[:, j], [0.05, 0.25, 0.5, 0.75, 0.95]),
                                                    5).tolist()}
                       for j, name in enumerate(("mean", "std"))}
    return out


def _forget_run_settings(union) -> None:
    """Give the saved extractors their default cache and progress bar: a cache folder of the
    training machine means nothing where the model predicts."""
    for _, est in union.transformer_list:
        own = est.get_params(deep=False)
        run = {k: v for k, v in type(est)().get_params(deep=False).items() if k in ("cache", "progress") and k in own}
        if run:
            est.set_params(**run)


def _extractor_settings(union) -> dict:
    out = {}
    for name, est in union.transformer_list:
        params = {k: v for k, v in est.get_params(deep=False).items() if k not in ("n_jobs", "progress", "cache")}
        out[name] = {"class": type(est).__name__, "params": _json_safe(params)}
    return out


def _cv_summary(report) -> dict:
    out = {"cv": report.cv, "n_splits": len(report.splits), "n_bootstrap": report.n_bootstrap,
           "score_kind": report.score_kind}
    for metric in ("accuracy", "f1", "auc", "sensitivity", "specificity"):
        try:
            value = report.value(metric)
        except (KeyError, ValueError):
            continue
        lo, hi = report.interval(metric) if report.n_bootstrap else (np.nan, np.nan)
        out[metric] = {"value": value, "ci": [lo, hi]}
    out["per_class_accuracy"] = {str(n): float(np.mean(report.y_pred[report.y_true == c] == c))
                                 for c, n in zip(report.classes, report.class_names)}
    # each class's one-vs-rest AUC: what an external validation of one class compares with
    per_class_auc = {}
    for n in report.class_names:
        try:
            value = report.value("auc", str(n))
        except (KeyError, ValueError):
            continue
        lo, hi = report.interval("auc", str(n)) if report.n_bootstrap else (np.nan, np.nan)
        per_class_auc[str(n)] = {"value": value, "ci": [lo, hi]}
    if per_class_auc:
        out["per_class_auc"] = per_class_auc
    return out


def _fitted_segmenter(segmenter, records, groups) -> tuple[Any, dict]:
    """The segmenter a model holds, and what its manifest says about it.

    A path is loaded (:meth:`UNetSegmenter.load`, no code from the file runs), a fitted
    segmenter is kept, an unfitted one is cloned and trained on ``records``' masks.
    """
    from sklearn.base import clone

    from .preprocessing.roi import ROICropper

    info: dict[str, Any] = {}
    if isinstance(segmenter, (str, os.PathLike)):
        from .segmentation.unet import UNetSegmenter

        path = str(segmenter)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"segmenter file {path!r} does not exist")
        seg = UNetSegmenter.load(path)
        info.update(obtained=f"loaded from the file {os.path.basename(path)}", file=os.path.abspath(path),
                    sha256=file_sha256(path), trained_on_training_images="unknown")
    elif not hasattr(segmenter, "predict_masks"):
        raise TypeError(f"segmenter must be a UNetSegmenter (fitted or not), a path to a saved .keras segmenter "
                        f"or an object with predict_masks; got {type(segmenter).__name__}")
    elif ROICropper._is_fitted(segmenter):
        seg = segmenter
        info.update(obtained="passed already trained", trained_on_training_images="unknown")
    else:
        missing = [i for i, rec in enumerate(records) if getattr(rec, "mask", None) is None]
        if missing:
            i = missing[0]
            raise ValueError(f"an unfitted segmenter is trained on the images' lesion masks, but image {i} "
                             f"({getattr(records[i], 'path', None) or 'an array'}) has none ({len(missing)} "
                             "image(s) without): give masks (a normal image's is all zero) or a trained segmenter")
        seg = clone(segmenter)
        if "groups" in _fit_params(seg):  # its validation split keeps near-duplicates together
            seg.fit(records, groups=groups)
        else:
            seg.fit(records)
        info.update(obtained="trained by train_model on the training images' masks",
                    trained_on_training_images=True)
    params = seg.get_params(deep=False) if hasattr(seg, "get_params") else {}
    info.update({"class": type(seg).__name__, "params": _json_safe(params)})
    for attr in ("n_train_", "n_val_", "n_epochs_", "best_epoch_", "training_time_"):
        if hasattr(seg, attr):
            info[attr] = _json_safe(getattr(seg, attr))
    return seg, info


def _fit_params(est) -> set[str]:
    import inspect

    return set(inspect.signature(est.fit).parameters)


def train_model(data, features: Sequence[Any] | str = ("hog", "lbp", "intensity"), *,
                classifier: str | Any = "svm", recipe: str | None = None, recipe_overrides: dict | None = None,
                network: Any = None, balance: str | None = None, region: str | None = None,
                segmenter: Any = None, roi_margin: float = 0.15, preprocessing: Any = None,
                n_splits: int = 5, n_bootstrap: int = 1000, random_state: int = 0,
                cross_validate: bool = True, cache: str | os.PathLike | None = None,
                n_jobs: int | None = None, progress: bool = True, command: str | None = None,
                source: str | None = None) -> FeatbusModel:
    """Cross-validate a recipe on duplicate-grouped folds, then fit it on every image.

    Parameters
    ----------
    data : Bunch
        From :func:`featbus.load_image_folder`, :func:`featbus.load_busi`,
        :func:`featbus.make_phantoms` (``data``, ``target``, ``target_names``, ``groups``).
    features : str or sequence
        Extractor names (:func:`featbus.pipelines.make_features`). Mask-based features
        (``shape``, ``region="mask"``/``"bbox"``) need a ``segmenter``: a new image comes
        without a mask, so without one they are refused.
    classifier, balance : str
        As in :func:`featbus.make_classification_pipeline`. A classifier without ``predict_proba`` is
        calibrated (see the module docstring).
    recipe : str, optional
        A named recipe of :mod:`featbus.recipes` (``"handcrafted"``, ``"frozen-cnn"``,
        ``"finetuned-lite0"``, ``"best"``): replaces ``features`` and ``classifier``, or
        trains ``network``.
    recipe_overrides : dict, optional
        Settings of a network recipe (:data:`featbus.recipes.OVERRIDES`: ``backbone``,
        ``image_size``, ``epochs``, ``members``, ``batch_size``).
    network : FineTunedCNN or FineTunedEnsemble, optional
        Train this network with the labels instead of features + classifier. It is judged on
        its own duplicate-grouped validation split (``validation_fraction`` of the images,
        never trained on, used for early stopping): the manifest's ``cv`` says so. The model
        keeps the networks' embeddings as features and their own softmax heads
        (:class:`~featbus.features.finetune.NetworkHead`); the per-epoch history goes into the
        manifest's ``training`` entry.
    region : {"image", "mask", "bbox"} or None
        ``"mask"``/``"bbox"`` only with a ``segmenter`` (the region of the predicted lesion).
    segmenter : UNetSegmenter, str or path, optional
        Crop every image to the lesion this segmenter predicts before the features (see "Models
        with a segmenter" in the module docstring): a trained
        :class:`~featbus.UNetSegmenter`, the path of one saved by :meth:`UNetSegmenter.save`,
        or an *unfitted* one, then trained here on ``data``'s masks (only these images: a
        held-out set stays unseen). The cross-validation then reuses the crops of this one
        segmenter: when it was trained on these images, its numbers are optimistic (recorded
        in the manifest's ``notes``).
    roi_margin : float, default=0.15
        Growth of the lesion box on each side, as a share of the lesion's height and width.
    preprocessing : str, sequence or None
        Image -> image steps applied to every image first, in training and prediction alike:
        names or transformers as in :func:`featbus.make_classification_pipeline` (for
        mammograms ``"pectoral,flip,crop-breast"``). They must learn nothing from the
        images (featbus's preprocessing steps are stateless), since the cross-validation
        reuses the preprocessed images in every fold. Recorded in the manifest's recipe.
    n_splits : int, default=5
        Folds of the cross-validation and of the calibration.
    n_bootstrap : int, default=1000
        Bootstrap resamples of the CV intervals (0: none).
    random_state : int, default=0
    cross_validate : bool, default=True
        Run the CV whose results go into the manifest (False: the manifest says none was run).
    cache : path, optional
        Feature cache folder (as ``featbus extract --cache``).
    n_jobs : int, optional
    progress : bool, default=True
    command, source : str, optional
        The command line and the data location, recorded in the manifest.

    Returns
    -------
    model : FeatbusModel

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.model import train_model
    >>> model = train_model(make_phantoms(24, image_size=48, random_state=0), "intensity",
    ...                     classifier="logreg", cross_validate=False, progress=False)
    >>> model.classes_.tolist()
    ['benign', 'malignant', 'normal']
    >>> model.predict_proba(make_phantoms(2, image_size=48, random_state=1).data).shape
    (2, 3)
    """
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV

    from .evaluation import evaluate, make_splits
    from .model_selection import resolve_groups
    from .pipelines import _make_preprocessing, family_blocks, make_classification_pipeline, make_features
    from .preprocessing.roi import ROICropper

    recipe_name = None
    if recipe is not None:
        from .recipes import build_network, get_recipe

        chosen = get_recipe(recipe)
        recipe_name = chosen.name
        if chosen.is_network:
            network = build_network(chosen, overrides=recipe_overrides, random_state=random_state,
                                    progress=progress, cache=cache)
        else:
            if any(v is not None for v in (recipe_overrides or {}).values()):
                raise ValueError(f"recipe {chosen.name!r} has no network: backbone, image size, epochs, members and "
                                 "batch size do not apply")
            features, classifier = chosen.features, chosen.classifier
    if network is not None:
        features, classifier = (), "network"
    names = [f.strip().lower() for f in features.split(",")] if isinstance(features, str) else list(features)
    uses_masks = reads_masks(names, region)
    if uses_masks and segmenter is None:
        raise ValueError("a model predicts on new images, which come without lesion masks: drop 'shape' and "
                         "region='mask'/'bbox', or pass a segmenter (its predicted lesion then travels with "
                         "the crop)")
    if not (isinstance(roi_margin, (int, float, np.number)) and np.isfinite(roi_margin) and roi_margin >= 0):
        raise ValueError(f"roi_margin must be a number >= 0, got {roi_margin!r}")
    # one union computes the training rows (with the run's cache and progress) and is the one saved
    union = (make_features(names, region=region, n_jobs=n_jobs, cache=cache, progress=progress)
             if network is None else None)
    records = list(data.data)
    preprocess, steps = None, _make_preprocessing(preprocessing)
    if steps:
        from sklearn.pipeline import Pipeline

        preprocess = Pipeline(steps).fit(records)
    y = np.asarray(data.target_names, dtype=object)[np.asarray(data.target)].astype(str)
    classes = np.unique(y)
    groups = resolve_groups(records, getattr(data, "groups", None))  # featbus's one grouping policy
    roi, seg_info, notes = None, None, []
    inputs = records if preprocess is None else preprocess.transform(records)
    seen = inputs  # what explanations and the app show: the images after preprocessing
    if segmenter is not None:
        seg, seg_info = _fitted_segmenter(segmenter, inputs, groups)
        # training images are cropped by the segmenter's predictions, not their ground truth:
        # training sees what prediction will see
        roi = ROICropper(segmenter=seg, source="segmenter", margin=float(roi_margin), on_empty="image",
                         pass_mask=True).fit(inputs)
        inputs = roi.transform(inputs)
        found = [bool(r.meta["roi_found"]) for r in inputs]
        seg_info["roi"] = {"class": "ROICropper", "source": "segmenter", "margin": float(roi_margin),
                           "on_empty": "image", "pass_mask": True, "min_area": roi.min_area,
                           "found_in_training_images": int(sum(found))}
        if seg_info.get("trained_on_training_images") is True:
            notes.append("the segmenter was trained on these same images: its masks of the cross-validation test "
                         "folds are better than on new images, so the cross-validation numbers are optimistic for "
                         "the crops; judge the model on held-out images the segmenter never saw (featbus train "
                         "--test-fraction)")
        else:  # a file or a trained object: what it was trained on is unknown
            notes.append("the segmenter may have been trained on these images (featbus cannot tell): if so, its "
                         "masks of the cross-validation test folds are better than on new images and the "
                         "cross-validation numbers are optimistic for the crops; judge the model on held-out "
                         "images the segmenter never saw")
    if network is not None:
        return _train_network(network, inputs, seen, y, classes, groups, records, preprocess, steps, roi, seg_info,
                              notes, recipe_name=recipe_name, n_bootstrap=n_bootstrap, random_state=random_state,
                              command=command, source=source)
    X = np.asarray(union.fit_transform(inputs))
    columns = [str(n) for n in union.get_feature_names_out()]
    _forget_run_settings(union)
    # the families joined as the library's pipelines join them (each the same total variance)
    tail = make_classification_pipeline(None, balance=balance, classifier=classifier, blocks=family_blocks(columns),
                                        random_state=random_state, n_jobs=n_jobs)
    if not any(hasattr(step, "fit_resample") for _, step in tail.steps):
        # no sampler: a scikit-learn Pipeline predicts the same, and loading it does not import
        # imbalanced-learn (about 0.5 s of a cold start)
        from sklearn.pipeline import Pipeline

        tail = Pipeline(tail.steps)
    report = None
    if cross_validate:
        report = evaluate(clone(tail), X, y, cv="duplicate-grouped", n_splits=n_splits, groups=groups,
                          n_bootstrap=n_bootstrap, random_state=random_state, progress=progress,
                          name=f"{'+'.join(union.named_transformers)} | {classifier} | {balance or 'none'}")
    clf = tail.steps[-1][1]
    if hasattr(clf, "predict_proba"):
        head, calibration = clone(tail).fit(X, y), None
    else:
        splits, _, _ = make_splits(X, y, cv="duplicate-grouped", n_splits=n_splits, groups=groups,
                                   random_state=random_state)
        head = CalibratedClassifierCV(clone(tail), method="sigmoid", cv=splits, ensemble=False).fit(X, y)
        head.cv = n_splits  # the fold indices are not needed after fitting; keep the pickle small
        calibration = (f"sigmoid (Platt) on out-of-fold decision values of {n_splits} duplicate-grouped "
                       "folds, classifier refitted on all images")
    deep = any(is_cnn(e) for _, e in union.transformer_list) or roi is not None
    manifest = {
        **_manifest_head(roi, preprocess, command, random_state, deep, classes),
        "recipe": {"name": recipe_name, "features": ",".join(n if isinstance(n, str) else str(n[0]) for n in names),
                   "region": region, "classifier": str(classifier),
                   "preprocessing": [name for name, _ in steps] or None,
                   "balance": balance, "calibration": calibration, "extractors": _extractor_settings(union),
                   "head": repr(head)},
        **_manifest_data(source, y, classes, groups, records, seen),
        "cv": _cv_summary(report) if report is not None else None,
    }
    if deep:  # where the networks (CNN features, segmenter) ran
        from ._backend import backend_name, device

        manifest["training"] = {"backend": backend_name(), "device": device(), "members": []}
    if seg_info is not None:
        manifest["segmenter"] = seg_info
        manifest["notes"] = notes
        if manifest["cv"] is not None and notes:
            manifest["cv"]["caveat"] = ("optimistic for the crops: the segmenter " + (
                "saw the test folds' masks" if seg_info["trained_on_training_images"] is True
                else "may have seen the test folds' masks"))
    model = FeatbusModel(union, head, manifest, roi, preprocess)
    model.cv_report = report
    return model


def _manifest_head(roi, preprocess, command, random_state, deep: bool, classes) -> dict:
    """The manifest fields every model has before its recipe: format, date, command, versions."""
    return {"format": _MAGIC, "format_version": FORMAT_VERSION,
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command or " ".join(sys.argv), "random_state": random_state,
            "versions": _versions(deep), "classes": classes.tolist()}


def _manifest_data(source, y, classes, groups, records, seen) -> dict:
    """The manifest's training-data summary and per-class intensity profile."""
    counts = {str(c): int(np.sum(y == c)) for c in classes}
    return {"data": {"source": source, "n_images": len(y), "counts": counts,
                     "n_groups": int(np.unique(groups).size), "sha256": _data_sha256(records, y)},
            "intensity": _intensity_profile(seen, y, classes)}


def _train_network(network, inputs, seen, y, classes, groups, records, preprocess, steps, roi, seg_info, notes, *,
                   recipe_name, n_bootstrap, random_state, command, source) -> FeatbusModel:
    """:func:`train_model` for a network recipe: fit with the labels, judge on its validation split."""
    from sklearn.base import clone
    from sklearn.pipeline import FeatureUnion

    from ._backend import backend_name, device
    from .evaluation import Report
    from .features.finetune import NetworkHead

    net = clone(network)
    net.fit(inputs, y, groups=groups)
    union = FeatureUnion([("finetuned", net)])
    head = NetworkHead(net).fit()
    val = np.asarray(net.validation_indices_, dtype=int)
    cv = None
    if val.size:
        proba = np.asarray(net.validation_proba_, dtype=float)
        report = Report(name=recipe_name or type(net).__name__, classes=np.asarray(net.classes_),
                        class_names=[str(c) for c in net.classes_], y_true=y[val],
                        y_pred=np.asarray(net.classes_)[np.argmax(proba, axis=1)], scores=proba,
                        score_kind="probability", fold=np.zeros(val.size, dtype=int),
                        splits=[(np.setdiff1d(np.arange(len(y)), val), np.arange(val.size))], groups=groups[val],
                        cv=f"duplicate-grouped validation split ({val.size} of {len(y)} images)",
                        n_bootstrap=int(n_bootstrap), random_state=random_state)
        cv = _cv_summary(report)
    members = list(getattr(net, "members_", [net]))  # as FeatbusModel.networks reads them
    first = members[0]
    manifest = {
        **_manifest_head(roi, preprocess, command, random_state, True, classes),
        "recipe": {"name": recipe_name,
                   "features": f"fine-tuned {'+'.join(sorted({m.backbone for m in members}))}"
                               + (f" x{len(members)}" if len(members) > 1 else ""),
                   "region": first.region, "classifier": "the networks' own softmax heads"
                   + (", probabilities averaged" if len(members) > 1 else ""),
                   "preprocessing": [name for name, _ in steps] or None, "balance": None, "calibration": None,
                   "extractors": _extractor_settings(union), "head": type(head).__name__},
        "training": {"backend": backend_name(), "device": device(),
                     "members": [_json_safe(m.history_) for m in members]},
        **_manifest_data(source, y, classes, groups, records, seen),
        "cv": cv,
    }
    if seg_info is not None:
        manifest["segmenter"] = seg_info
        manifest["notes"] = notes
    if cv is None:
        manifest.setdefault("notes", []).append("trained without a validation split: no held-out figure")
    else:
        cv["about"] = ("the validation images (whole near-duplicate groups) were never trained on; they chose the "
                       "kept epoch (early stopping), so the figure is slightly optimistic; the final networks were "
                       "trained on the other images only")
    model = FeatbusModel(union, head, manifest, roi, preprocess)
    model.cv_report = report if val.size else None
    return model
