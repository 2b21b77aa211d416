"""The ``.featbus`` file format and its trust rules: what a model file is, before any model exists.

One of the three rooms of a featbus model (issue 44):

* :mod:`featbus.model.format` (this module): the manifest (reading, schema, versions), the
  pipeline member (skops schema walk, exact-type trust, container checks), the trust list, the
  memo of checked runtime forwards, the digests, and writing a file's members. It imports
  nothing of training and nothing that predicts.
* :mod:`featbus.model`: the loaded model, :class:`~featbus.model.FeatbusModel` and
  :func:`~featbus.model.load_model`, what ``featbus predict`` and the app use.
* :mod:`featbus.workflows.training`: :func:`~featbus.workflows.training.train_model`.

The trust rules themselves (which type each skops loader may build, the checks of what was
built) are :mod:`featbus.model.trust`; the types an ingredient brings are on its row of
:mod:`featbus.pipelines.ingredients`.

**The file format**

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
    Each network's forward pass for :mod:`featbus.model.runtime`, which predicts without TensorFlow.

**What loading implies**

:func:`~featbus.model.load_model` reads and checks the manifest, checks every member against its digest and
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
  :meth:`~featbus.model.FeatbusModel.save` adds a file holding such types (you made it), and
  :func:`trust_model` (``featbus predict --trust``) adds a file you received.

Files of formats 1-3 store the pipeline as a pickle, which runs whatever code it names: they
load only when trusted as above, with a warning on how to re-save them (``featbus upgrade``).
An edited file has a new digest; a member whose digest differs from the manifest's is refused
as damaged.

**Versions**

scikit-learn does not support loading an estimator's state across versions, and featbus 0.x may
change its estimators between minor versions: a file whose manifest names another featbus ``major.minor``
or scikit-learn ``major.minor`` than the running ones is refused with
:class:`ModelVersionError`, naming both versions (retrain, or install the versions named).
A newer file format version is refused the same way.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import io
import json
import math
import os
import platform
import re
import sys
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .._version import __version__
from ..io import file_sha256, written_atomically
from .describe import describe_manifest
from .trust import EXTRA_TRUSTED_TYPES, TRUSTED_PACKAGES, CraftedModelError, audit_schema, current_name, node_trust

__all__ = ["FORMAT_VERSION", "MAX_MANIFEST_BYTES", "EXTRA_TRUSTED_TYPES", "TRUSTED_PACKAGES", "UntrustedModelError",
           "ModelVersionError", "read_manifest", "describe_manifest", "pipeline_types", "types_needing_trust",
           "is_trusted_type", "trust_model", "trusted_models_file", "checked_runtimes_file", "json_safe",
           "read_pipeline", "write_model_file", "check_saveable", "model_file"]

#: Version of the ``.featbus`` layout; a reader refuses files with a larger one. Versions 1-3
#: pickled the pipeline (2 added the lesion ROI cropper, 3 preprocessing steps); version 4 stores
#: it with skops (no pickle) and may add inference-runtime forwards of its networks.
FORMAT_VERSION = 4
#: The first format version whose pipeline member is a skops archive (older ones are a pickle).
FORMAT_SKOPS = 4

#: The manifest's ``format`` field: what marks a zip archive as a featbus model file.
MAGIC = "featbus-model"
_MANIFEST = "manifest.json"
_PIPELINE = "pipeline.skops"
_LEGACY_PIPELINE = "pipeline.joblib"  # formats 1-3: a pickle, loaded only when trusted
_RUNTIME_MEMBER = re.compile(r"runtime/[A-Za-z0-9_.-]+\.tflite")


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


def trusted_digests() -> set[str]:
    """The SHA-256 digests of the trust list (:func:`trusted_models_file`).

    Returns
    -------
    set of str
        The first word of each line, when it is a digest (lower case); empty without a list.

    Examples
    --------
    >>> from featbus.model.format import trusted_digests
    >>> isinstance(trusted_digests(), set)
    True
    """
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
    if digest not in trusted_digests():
        store = trusted_models_file()
        store.parent.mkdir(parents=True, exist_ok=True)
        # the file name goes in as a JSON string: a name holding a line break (and another
        # file's digest after it) cannot add a line of its own
        with open(store, "a") as f:
            f.write(f"{digest}  {json.dumps(os.path.abspath(path))}\n")
    return digest


# --------------------------------------------------------------------------- manifest

def package_versions(deep: bool) -> dict[str, str]:
    """The versions a model file records: featbus, Python and the packages its fitted state needs.

    Parameters
    ----------
    deep : bool
        Whether the model holds networks (Keras and the backends installed, TensorFlow, PyTorch or JAX, and
        LiteRT are recorded too).

    Returns
    -------
    dict
        Package name -> installed version; a package that is not installed is left out.

    Examples
    --------
    >>> from featbus.model.format import package_versions
    >>> sorted(package_versions(deep=False))[:2]
    ['featbus', 'imbalanced-learn']
    """
    from importlib.metadata import PackageNotFoundError, version

    out = {"featbus": __version__, "python": platform.python_version()}
    names = ["scikit-learn", "numpy", "joblib", "imbalanced-learn", "scikit-image", "opencv-python-headless"]
    if deep:
        names += ["tensorflow", "tensorflow-cpu", "keras", "torch", "jax", "jaxlib", "ai-edge-litert"]
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


def check_versions(manifest: dict, path: str) -> None:
    """Refuse a manifest that is not featbus's or whose versions this installation cannot load.

    Parameters
    ----------
    manifest : dict
        The file's manifest (:func:`read_manifest`).
    path : str
        The file's name, for the messages.

    Raises
    ------
    ValueError
        When the manifest is not a featbus model's.
    ModelVersionError
        When the format is newer than this featbus reads, or the fitted state was made by
        another major.minor version (:func:`version_problem`).

    Examples
    --------
    >>> from featbus.model.format import check_versions
    >>> check_versions({"format": "zip"}, "a.featbus")
    Traceback (most recent call last):
    ...
    ValueError: 'a.featbus' is not a featbus model (no featbus manifest)
    """
    if manifest.get("format") != MAGIC:
        raise ValueError(f"{path!r} is not a featbus model (no featbus manifest)")
    fv = manifest.get("format_version")
    if not isinstance(fv, int) or fv > FORMAT_VERSION:
        raise ModelVersionError(f"{path!r} has model format version {fv!r}; this featbus {__version__} "
                                f"reads format {FORMAT_VERSION} or older: upgrade featbus")
    problem = version_problem(manifest)
    if problem and not (_CONVERTING.get() and problem.startswith("featbus")):
        raise ModelVersionError(f"{path!r} was made with {problem}: a model's fitted state loads only with the "
                                f"major.minor version that made it. {what_works(manifest, path)}")


#: Set by ``featbus upgrade`` (:func:`converting`): a file from another featbus version loads to be re-saved.
_CONVERTING: contextvars.ContextVar[bool] = contextvars.ContextVar("featbus_converting", default=False)


@contextlib.contextmanager
def converting():
    """Within: a model file made by another featbus version loads (to be converted by ``featbus
    upgrade``); a scikit-learn version mismatch is still refused."""
    token = _CONVERTING.set(True)
    try:
        yield
    finally:
        _CONVERTING.reset(token)


def version_problem(manifest: dict) -> str | None:
    """``"featbus 0.0.9, this is featbus 0.1.0"`` when the file's featbus or scikit-learn
    major.minor version differs from this installation's, else ``None``."""
    import sklearn

    made = manifest.get("versions") or {}
    for name, running in (("featbus", __version__), ("scikit-learn", sklearn.__version__)):
        saved = made.get(name)
        if saved is None or _major_minor(saved) != _major_minor(running):
            return f"{name} {saved}, this is {name} {running}"
    return None


def what_works(manifest: dict, path: str) -> str:
    """What to do with a file another version made: convert it (another featbus) or retrain it
    with the command the file stores."""
    command = manifest.get("command")
    # a command line is stored only as what ran: a script's is no featbus command to rerun
    retrain = (f"retrain it with its stored command: {command}" if isinstance(command, str)
               and command.startswith("featbus ") else "retrain it with this installation (featbus inspect shows "
               "its recipe: featbus train DATA --recipe ...)")
    if (version_problem(manifest) or "").startswith("featbus"):
        return (f"featbus upgrade {path} -o NEW converts it (then check NEW on labelled images: featbus validate), "
                f"or {retrain}")
    return f"Install the scikit-learn version named, or {retrain}"


def json_safe(obj):
    """``obj`` as plain JSON values: what a manifest (and a validation report) is written from.

    Mappings become objects with string keys, sequences and arrays lists, NumPy scalars Python
    numbers or booleans, a non-finite float ``None`` (JSON has no NaN), and anything else its
    ``repr`` (a description, never an object to rebuild).

    Examples
    --------
    >>> import numpy as np
    >>> json_safe({1: np.float32(0.5), "a": (np.int64(2), float("nan")), "b": np.array([True])})
    {'1': 0.5, 'a': [2, None], 'b': [True]}
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
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
    extractors = manifest["recipe"].get("extractors")
    if extractors is not None and not (isinstance(extractors, dict)
                                       and all(isinstance(v, dict) for v in extractors.values())):
        raise ValueError(f"{path!r} is damaged: its recipe's 'extractors' should be an object of name -> settings, "
                         f"it is {extractors!r:.80}")
    for field in ("data", "intensity"):
        if not isinstance(manifest.get(field, {}), dict):
            raise bad(field, "an object")
    for field in ("cv", "segmenter", "holdout", "training", "adaptation"):
        if manifest.get(field) is not None and not isinstance(manifest[field], dict):
            raise bad(field, "an object or null")
    sanity = (manifest.get("cv") or {}).get("sanity")  # featbus.evaluation.sanity's verdict of the cv figures
    if sanity is not None and not (isinstance(sanity, dict)
                                   and sanity.get("verdict") in ("useful", "limited", "useless")
                                   and isinstance(sanity.get("reasons"), list)
                                   and all(isinstance(r, str) for r in sanity["reasons"])):
        raise ValueError(f"{path!r} is damaged: its cv 'sanity' should be null or an object with a 'verdict' "
                         "(useful, limited or useless) and a list of 'reasons'")
    site_cv = manifest.get("site_cv")  # featbus.evaluation.sites.leave_one_site_out's figure
    if site_cv is not None and not (isinstance(site_cv, dict) and isinstance(site_cv.get("sites"), list) and all(
            isinstance(e, dict) and isinstance(e.get("site"), str) and isinstance(e.get("notes", []), list)
            and all(e.get(k) is None or (isinstance(e[k], dict) and isinstance(e[k].get("value"), (int, float))
                                         and not isinstance(e[k].get("value"), bool))
                    for k in ("accuracy", "balanced_accuracy", "auc", "sensitivity"))
            for e in site_cv["sites"])):
        raise bad("site_cv", "null or an object whose 'sites' list one object per held-out site (its name and "
                             "figures {value, ci})")
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
    pres = op.get("presence") if isinstance(op, dict) else None  # two decisions: "is there a lesion?" first
    tp = pres.get("threshold") if isinstance(pres, dict) else None
    if pres is not None and not (isinstance(pres, dict) and op.get("absent") in classes
                                 and op.get("absent") != op.get("positive") and isinstance(pres.get("positive"), str)
                                 and not isinstance(tp, bool) and isinstance(tp, (int, float)) and 0 <= tp <= 1):
        raise bad("operating_point", "an object whose 'presence' point (two decisions) has a 'threshold' in [0, 1] "
                                     "on p(lesion), beside an 'absent' class of the model other than its 'positive'")
    for point in (op, pres):  # the trained parts that saw the images of its figures, when recorded
        if isinstance(point, dict) and point.get("seen_by") is not None:
            from ..metrics import _seen_by_of_record

            try:
                _seen_by_of_record(point["seen_by"])
            except ValueError:
                raise bad("operating_point", "an object whose 'seen_by' (of it or of its 'presence' point) is a "
                                             "list of {'part': name, 'n_seen': count or null}") from None
    for field, kind in (("score_reference", "ScoreReference"), ("score_alignment", "ScoreAlignment")):
        if manifest.get(field) is not None:  # what featbus adapt aligns a site's scores onto, and the alignment
            from . import alignment

            try:
                getattr(alignment, kind).from_record(manifest[field])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise bad(field, f"null or a {kind} record ({exc})") from None
    scale = manifest.get("input_scale")  # the longer side the parts were trained at (issue 82); absent: older file
    side = scale.get("longer_side_px", 0) if isinstance(scale, dict) else 0
    if scale is not None and not (side is None or (isinstance(side, int) and not isinstance(side, bool)
                                                   and side >= 16)):
        raise bad("input_scale", "null or an object whose 'longer_side_px' is null (native size) or a number of "
                                 "pixels of at least 16")
    pixel = scale.get("pixel_size") if isinstance(scale, dict) else None  # a physical scale, where one is recorded
    if pixel is not None and not (isinstance(pixel, dict) and isinstance(pixel.get("size"), (int, float))
                                  and not isinstance(pixel.get("size"), bool) and math.isfinite(pixel["size"])
                                  and pixel["size"] > 0 and pixel.get("unit") in (None, "mm")):
        raise bad("input_scale", "an object whose 'pixel_size', where present, has a positive finite 'size' and a "
                                 "'unit' of null or 'mm'")
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


def model_file(spec: str | os.PathLike) -> str:
    """The file a model is read from: ``spec`` itself, or, for the name of a classifier featbus
    ships (``"breast-us"``, any case, ``-`` or ``_``: :data:`featbus.networks.pretrained.PRETRAINED`),
    its file in the package, its SHA-256 checked.

    Raises
    ------
    FileNotFoundError
        Neither a file nor a shipped classifier's name (with "did you mean ...?" for a near miss).

    Examples
    --------
    >>> from featbus.model.format import model_file
    >>> model_file("no-such-model.featbus")
    Traceback (most recent call last):
    ...
    FileNotFoundError: model file 'no-such-model.featbus' does not exist
    """
    from ..networks.pretrained import find_pretrained, pretrained_names

    path = str(spec)
    if os.path.isfile(path):
        return path
    entry = find_pretrained(path, "classifier")
    if entry is not None:
        return str(entry.path())
    hint = ""
    if os.path.splitext(path)[1] == "" and os.sep not in path:  # a name, not a file: suggest one
        from .._registry import did_you_mean

        hint = did_you_mean(path, pretrained_names("classifier"))
        hint = f", and featbus ships no classifier of that name{hint}" if hint else ""
    raise FileNotFoundError(f"model file {path!r} does not exist{hint}")


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of a ``.featbus`` file (plain JSON; nothing is unpickled), or of a classifier
    featbus ships, by name (:func:`model_file`).

    Its declared size is checked before it is inflated (at most :data:`MAX_MANIFEST_BYTES`)
    and its fields' types are checked.

    Raises
    ------
    ValueError
        If the file is not a featbus model (not a zip, no manifest, unreadable JSON) or a
        damaged one (a member that does not inflate as declared, fields of the wrong type).
    """
    path = model_file(path)
    raw = _read_member(path, _MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path!r} is damaged: its manifest is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MAGIC:
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
    (:func:`featbus.model.trust.node_trust`: exact types per loader)."""
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
    if name == "sklearn.tree._tree.Tree":
        return True
    return any(node_trust(loader, name) for loader in (None, "ObjectNode", "NdArrayNode", "DTypeNode",
                                                        "RandomStateNode", "RandomGeneratorNode"))


def _pipeline_types(blob: bytes, path: str) -> dict[str, dict]:
    """Every type a skops pipeline names: ``{name: {"count": n, "loaders": {...}}}``, from its
    schema's nodes and whatever else skops itself would check; decision trees' constructor
    arguments are bounded here (nothing is created)."""
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
    if manifest["format_version"] < FORMAT_SKOPS:
        return [{"name": "pickle (any code)", "count": 1, "trust": "needs your trust"}]
    blob = _read_member(path, _PIPELINE, max(os.path.getsize(path), 2**20))
    _check_skops_container(blob, path)
    blob = _current_names(blob)
    return [{"name": n, "count": info["count"], "trust": _type_trust(n, info["loaders"]) or "needs your trust"}
            for n, info in sorted(_pipeline_types(blob, path).items())]


def types_needing_trust(path: str | os.PathLike) -> list[str]:
    """What loading the file would create that nobody has vouched for: ``[]`` when it loads
    without ``trusted`` (only trusted types, or the file is in the trust list), else the type
    names (``["pickle (any code)"]`` for an older pickled file). Nothing is loaded."""
    if file_sha256(path) in trusted_digests():
        return []
    return [t["name"] for t in pipeline_types(path) if t["trust"] == "needs your trust"]


def checked_runtimes_file() -> Path:
    """Where featbus remembers the model files whose runtime forwards it has checked against their
    Keras networks (beside :func:`trusted_models_file`; a file's SHA-256 per line)."""
    return trusted_models_file().with_name("checked_runtimes.txt")


def runtime_checked(digest: str) -> bool:
    """Whether the model file with this SHA-256 had its runtime forwards checked against Keras.

    Parameters
    ----------
    digest : str
        The file's SHA-256 (hex).

    Returns
    -------
    bool
        Whether :func:`checked_runtimes_file` lists it (:func:`remember_runtime_checked`).

    Examples
    --------
    >>> import os, tempfile
    >>> from unittest import mock
    >>> from featbus.model.format import remember_runtime_checked, runtime_checked
    >>> with tempfile.TemporaryDirectory() as d, mock.patch.dict(
    ...         os.environ, {"FEATBUS_TRUSTED_MODELS": os.path.join(d, "trusted.txt")}):
    ...     before = runtime_checked("ab" * 32)
    ...     remember_runtime_checked("ab" * 32)
    ...     print(before, runtime_checked("ab" * 32))
    False True
    """
    try:
        text = checked_runtimes_file().read_text()
    except OSError:
        return False
    return digest in {line.split()[0] for line in text.splitlines() if line.strip()}


def remember_runtime_checked(digest: str) -> None:
    """Note in :func:`checked_runtimes_file` that this model file's runtime forwards were checked.

    A file that cannot be written is warned about (the check runs again next time).

    Parameters
    ----------
    digest : str
        The file's SHA-256 (hex).

    Examples
    --------
    See :func:`runtime_checked`.

    >>> from featbus.model.format import remember_runtime_checked
    """
    store = checked_runtimes_file()
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        with open(store, "a") as f:
            f.write(f"{digest}\n")
    except OSError as exc:
        warnings.warn(f"could not remember a checked model file in {str(store)!r} ({exc.strerror or exc}): its "
                      "runtime forwards will be checked against Keras again next time", UserWarning, stacklevel=3)


def keras_installed() -> bool:
    """Whether Keras can be imported, found without importing it (nor TensorFlow).

    Returns
    -------
    bool
        ``True`` when a ``keras`` package is installed.

    Examples
    --------
    >>> from featbus.model.format import keras_installed
    >>> keras_installed() in (True, False)
    True
    """
    import importlib.util

    try:
        return importlib.util.find_spec("keras") is not None
    except (ImportError, ValueError):
        return False


# --------------------------------------------------------------------------- formats 1-3

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
    warnings.warn(f"{path!r} stores its pipeline as a pickle (model format {manifest['format_version']}); re-save it "
                  "in the current format, which loads without pickle: featbus upgrade OLD -o NEW "
                  "(or load_model(old, trusted=True).save(new))", UserWarning, stacklevel=4)
    with warnings.catch_warnings():
        # the versions were checked; patch-level differences are fine
        warnings.filterwarnings("ignore", message=".*Trying to unpickle estimator.*")
        return _unpickled(blob)


def _unpickled(blob: bytes):
    """A format 1-3 pipeline: a joblib pickle (zlib-compressed as featbus wrote it), each class it
    names read where it is now (:func:`featbus.model.trust.current_name`: the file names the modules
    of its time)."""
    import inspect

    from joblib.numpy_pickle import NumpyUnpickler

    class _Current(NumpyUnpickler):
        def find_class(self, module, name):
            module, _, name = current_name(f"{module}.{name}").rpartition(".")
            return super().find_class(module, name)

    if blob[:1] == b"\x78":  # joblib.dump(..., compress=3): one zlib stream
        blob = zlib.decompress(blob)
    extra = ({"ensure_native_byte_order": True}
             if "ensure_native_byte_order" in inspect.signature(NumpyUnpickler).parameters else {})
    return _Current("", io.BytesIO(blob), **extra).load()


def _current_names(blob: bytes) -> bytes:
    """A skops pipeline whose schema names every class where it is now: a file written before
    featbus's modules moved names the old modules (:data:`featbus.model.trust.OLD_MODULES`), read
    here as the classes themselves (skops' way: the reader knows the old layout, nothing is
    installed on import). The member is returned unchanged when it names no old place."""
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        schema = json.loads(z.read("schema.json"))
        moved = False

        def walk(node):
            nonlocal moved
            if isinstance(node, dict):
                if isinstance(node.get("__module__"), str) and isinstance(node.get("__class__"), str):
                    name = f"{node['__module__']}.{node['__class__']}"
                    if current_name(name) != name:
                        node["__module__"], _, node["__class__"] = current_name(name).rpartition(".")
                        moved = True
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(schema)
        if not moved:
            return blob
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as new:
            for info in z.infolist():
                new.writestr(info, json.dumps(schema) if info.filename == "schema.json" else z.read(info))
    return out.getvalue()


def read_pipeline(path: str, manifest: dict, size: int, trusted, vouched) -> dict:
    """The model parts a file's pipeline member holds, created only as the trust rules allow.

    A current file (skops): the member matches its digest and its container's declared sizes,
    every type it names is listed (:func:`pipeline_types`) and each is trusted
    (:func:`is_trusted_type`), named in ``trusted`` (a list of type names) or the file is vouched
    for (``vouched()``: ``trusted=True`` or the trust list), else :class:`UntrustedModelError`
    and nothing is created. An older file (a pickle) loads only when vouched for. ``size``
    bounds every read (featbus stores members: none inflates past the file)."""
    if manifest["format_version"] < FORMAT_SKOPS:
        return _load_pickled(path, manifest, size, vouched())
    blob = _read_member(path, _PIPELINE, size)
    if hashlib.sha256(blob).hexdigest() != manifest.get("pipeline_sha256"):
        raise ValueError(f"{path!r} is damaged: its pipeline does not match the SHA-256 in its manifest")
    _check_skops_container(blob, path)
    blob = _current_names(blob)
    types = _pipeline_types(blob, path)
    listed = sorted(types)
    unknown = _untrusted(types)
    allowed = {current_name(t) for t in trusted} if not isinstance(trusted, bool) else set()
    if [t for t in unknown if t not in allowed] and not vouched():
        raise UntrustedModelError(
            f"{path!r} would create types featbus does not trust by itself (or builds them in a way it does not "
            f"trust): {', '.join(unknown)}. Nothing was loaded. If you trust the file's origin, pass "
            "trusted=True or trusted=[those names] (command line: --trust, which adds the file to your trust "
            "list)")
    try:
        # every type the file holds, each checked above: skops's own defaults are not used
        return _skops_io().loads(blob, trusted=listed)
    except Exception as exc:
        raise ValueError(f"{path!r} is damaged: its pipeline does not load ({type(exc).__name__}: {exc})") from None


def read_runtime_forwards(path: str, manifest: dict, nets: dict, size: int) -> list[tuple]:
    """The file's runtime forwards (:mod:`featbus.model.runtime`), each read and checked.

    Parameters
    ----------
    path : str
        The model file.
    manifest : dict
        Its manifest (:func:`read_manifest`).
    nets : dict
        The model's network estimators by key (:func:`featbus.model.runtime.network_estimators`), one
        per forward.
    size : int
        The file's size in bytes (a member may not claim more).

    Returns
    -------
    list of tuple
        ``[(member, estimator, LiteForward)]``, each forward checked against its digest and its
        network's input size; ``[]`` for a file without forwards.

    Raises
    ------
    ValueError
        When the forwards do not match the networks, their digests or their input sizes.

    Examples
    --------
    >>> from featbus.model.format import read_runtime_forwards
    >>> read_runtime_forwards("a.featbus", {"runtime": None}, {}, 0)
    []
    """
    from .runtime import LiteForward

    forwards = (manifest.get("runtime") or {}).get("forwards") or []
    if set(nets) != {f["estimator"] for f in forwards}:
        raise ValueError(f"{path!r} is damaged: its runtime forwards do not match its networks")
    out = []
    for f in forwards:
        est, flat = nets[f["estimator"]], _read_member(path, f["member"], size)
        if hashlib.sha256(flat).hexdigest() != f["sha256"]:
            raise ValueError(f"{path!r} is damaged: its {f['member']} does not match the SHA-256 in its manifest")
        fwd = LiteForward(flat, est.n_features_out_, name=f"{path!r} {f['member']}")
        if fwd.input_size != tuple(int(s) for s in est.input_size_):
            raise ValueError(f"{path!r} is damaged: {f['member']} takes {fwd.input_size} images, its network "
                             f"{tuple(est.input_size_)}")
        out.append((f["member"], est, fwd))
    return out


# --------------------------------------------------------------------------- digests

def data_sha256(records, y_names) -> str:
    """SHA-256 of every image's pixels (dtype, shape, bytes) and label, in order.

    What a model file records of the data that trained or adapted it.

    Parameters
    ----------
    records : sequence of ImageRecord
        The images.
    y_names : sequence of str
        Their labels (``""`` for unlabelled images).

    Returns
    -------
    str
        The hex digest.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import ImageRecord
    >>> from featbus.model.format import data_sha256
    >>> len(data_sha256([ImageRecord(np.zeros((2, 2), np.uint8))], ["benign"]))
    64
    """
    h = hashlib.sha256()
    for rec, label in zip(records, y_names):
        img = np.ascontiguousarray(rec.image)
        h.update(f"{img.dtype.str}{img.shape}{label}".encode())
        h.update(img.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- writing

def runtime_forwards(model, wanted: bool | None) -> list[dict]:
    """The runtime members a file of ``model`` holds: one TFLite flatbuffer per network estimator.

    Parameters
    ----------
    model : FeatbusModel
        The model to be written.
    wanted : bool or None
        ``True``: the forwards are required (an error when they cannot be made); ``False``:
        none; ``None``: made on Keras's TensorFlow backend, and a failed conversion is warned
        about and leaves the file without them. A forward this process already runs through
        LiteRT (:func:`_forward_at_hand`) is stored as it is, with no conversion and no TensorFlow.

    Returns
    -------
    list of dict
        One member per network (:mod:`featbus.model.runtime`): its estimator key, member name,
        flatbuffer, SHA-256, input size and output count; ``[]`` for a model without networks.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from sklearn.pipeline import FeatureUnion
    >>> from featbus import HOGFeatures
    >>> from featbus.model.format import runtime_forwards
    >>> runtime_forwards(SimpleNamespace(features=FeatureUnion([("hog", HOGFeatures())])), wanted=None)
    []
    """
    from .runtime import forward_flatbuffer, network_estimators

    nets = network_estimators(model)
    if not nets or wanted is False:
        return []
    at_hand = {key: _forward_at_hand(est) for key, est in nets}
    if any(flat is None for flat in at_hand.values()):  # a network to convert: TensorFlow's converter
        from ..networks.backend import backend_name

        if backend_name() != "tensorflow":
            if wanted:
                raise ValueError(f"runtime=True needs Keras's TensorFlow backend, this process runs "
                                 f"{backend_name()!r}")
            return []
    out = []
    try:
        for key, est in nets:
            flat = at_hand[key] or forward_flatbuffer(est)
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


def _forward_at_hand(est) -> bytes | None:
    """The flatbuffer of ``est``'s forward this process already runs, the one :func:`forward_flatbuffer`
    would convert again: a loaded file's (kept only while its network is unchanged:
    :func:`featbus.adapt` drops it from a network it re-estimates) or, for a frozen
    :class:`~featbus.DeepFeatures` run through LiteRT, its conversion in featbus's cache
    (:func:`featbus.model.runtime.frozen_forward`); ``None`` otherwise."""
    from .._registry import is_a

    forward = getattr(est, "_inference", None)
    if forward is None and is_a(est, "DeepFeatures") and getattr(est, "runtime", "auto") != "keras":
        forward = est._lite()
    return getattr(forward, "flatbuffer", None)


def _importable(fn) -> bool:
    """Whether another process finds ``fn`` by its module and name (what the file stores of it)."""
    import importlib

    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module in ("__main__", "__mp_main__") or "<" in qualname:
        return False
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return False
    return obj is fn


def check_saveable(parts: dict) -> None:
    """Refuse, in one line, a model whose estimators hold a function (a network builder, the
    ``backbone`` of :class:`~featbus.DeepFeatures`, :class:`~featbus.FineTunedCNN` or a U-Net)
    that another process cannot import by name: one defined in the script that runs
    (``__main__``) or inside another function. The file stores a function as ``module.name``;
    such a file would load nowhere else.

    Raises
    ------
    ValueError
        Naming the function and saying to put it in an importable module.
    """
    import inspect

    def functions(value):
        if inspect.isfunction(value):
            yield value
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from functions(v)
        elif hasattr(value, "get_params") and not isinstance(value, type):
            for v in value.get_params(deep=True).values():
                yield from functions(v)

    for name, part in parts.items():
        for fn in functions(part):
            if not _importable(fn):
                where = "the script that runs (__main__)" if fn.__module__ in ("__main__", "__mp_main__") else \
                    f"{fn.__module__}, inside another function"
                raise ValueError(f"the model's {name} use {fn.__qualname__}, defined in {where}: a model file names a "
                                 "function by its module, so no other process could load it; put "
                                 f"{fn.__name__} in an importable module (a .py file beside your script: "
                                 f"from mynets import {fn.__name__}) and pass it from there")


def write_model_file(path: Path, parts: dict, manifest: dict, forwards: list[dict], *, trust: bool | None) -> dict:
    """Write a ``.featbus`` file atomically: the manifest, the pipeline ``parts`` (skops, members
    stored: nothing inflates on reading) and the runtime ``forwards``; returns the manifest as
    written (format version, pipeline digest, runtime entry). ``trust``: add the file to
    :func:`trusted_models_file`; ``None``: only when the pipeline holds types featbus does not
    trust by itself (see :meth:`featbus.model.FeatbusModel.save`)."""
    blob = _skops_io().dumps(parts)
    manifest = dict(manifest)
    manifest["format_version"] = FORMAT_VERSION
    manifest["pipeline_sha256"] = hashlib.sha256(blob).hexdigest()
    manifest["runtime"] = ({"engine": "litert", "forwards": [
        {k: v for k, v in f.items() if k != "flatbuffer"} for f in forwards]} if forwards else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_atomically(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(_MANIFEST, json.dumps(json_safe(manifest), indent=1, sort_keys=True))
        z.writestr(_PIPELINE, blob)
        for f in forwards:
            z.writestr(f["member"], f["flatbuffer"])
    if forwards:  # made here from the same networks: nothing to check when it is loaded
        remember_runtime_checked(file_sha256(path))
    if trust is None:
        trust = bool(_untrusted(_pipeline_types(blob, str(path))))
    if trust:
        trust_model(path)
    return manifest
