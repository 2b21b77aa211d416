"""What a model file may make without the user's trust, and the checks of what it made.

Two halves, both run by :func:`featbus.model.load_model` on a file nobody vouched for:

1. **Before anything is created** (:func:`audit_schema`): every node of the skops schema names a
   *loader* (how skops builds it) and a *type*. A node is allowed only when its exact type is
   on the list for its loader (:func:`node_trust`): no type passes because a base class is
   trusted (``numpy.memmap`` is an ``ndarray`` subclass whose constructor maps a file, so it is
   not on the list), and the loaders that call a constructor with arguments taken from the file
   (skops' ``ReduceNode``, ``ConstructorFromReduceNode``, functions, methods, partials) are
   refused, except scikit-learn's ``Tree``, whose three arguments are bounded here
   (:data:`MAX_TREE_OUTPUTS`, :data:`MAX_FEATURES`) before skops calls it.
2. **After it is created, before it is used** (:func:`check_loaded`): the contents a crafted file
   can break and that the estimators would trust: decision-tree node indices (a node that is its
   own child loops forever), XGBoost trees, the libsvm arrays of an SVM, nearest-neighbour
   search state, every estimator's parameters against its declared constraints, parameters that
   would make prediction read or write files (``cache`` folders, ``Pipeline(memory=...)``,
   ``weights`` paths) or start unbounded workers (``n_jobs``).

scikit-learn and skops document the first half's idea (skops trusts listed types; scikit-learn
warns that its estimators' state is not validated, scikit-learn PR 34558); featbus goes beyond
both: exact types per loader, bounded arguments, and the structural checks of the second half.

A public module: the judges, the app and the commands print text taken from a file through
:func:`printable`, and the reader of model files (:mod:`featbus.model.format`) reads an older
file's class names through :data:`OLD_MODULES` (:func:`current_name`).
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any

import numpy as np

from .._registry import is_a
from ..networks.pretrained import find_pretrained, pretrained_names

__all__ = ["EXTRA_TRUSTED_TYPES", "TRUSTED_PACKAGES", "node_trust", "audit_schema", "check_loaded",
           "CraftedModelError", "NeedsTrust", "printable", "OLD_MODULES", "MOVED_CLASSES", "current_name",
           "MAX_TREE_OUTPUTS", "MAX_FEATURES", "MAX_N_JOBS", "MAX_INPUT_SIZE"]

#: Largest ``n_outputs`` (and per-output class count) of a decision tree a file may ask for.
MAX_TREE_OUTPUTS = 10_000
#: Largest feature count a tree or an estimator of a file may declare.
MAX_FEATURES = 10_000_000
#: Largest ``|n_jobs|`` a loaded estimator may hold (more would start that many workers).
MAX_N_JOBS = 1024
#: Largest network input side (pixels) a loaded estimator may hold: a network's activations grow
#: with its square, so a crafted ``input_size_`` of 10**5 would allocate until memory runs out.
MAX_INPUT_SIZE = 2048


class CraftedModelError(ValueError):
    """A model file's contents are inconsistent in a way featbus never writes."""


class NeedsTrust(Exception):
    """A loaded estimator would touch files or processes: the file needs the user's trust."""


# --------------------------------------------------------------------------- types per loader

_PLAIN = {f"builtins.{t}" for t in ("str", "int", "float", "bool", "NoneType", "complex")}
_CONTAINERS = {"DictNode": {"builtins.dict", "collections.OrderedDict"},
               "ListNode": {"builtins.list"},
               "TupleNode": {"builtins.tuple"},  # not a namedtuple: skops calls those with the file's items
               "SetNode": {"builtins.set", "builtins.frozenset"},
               "SliceNode": {"builtins.slice"},
               "BytesNode": {"builtins.bytes"},
               "BytearrayNode": {"builtins.bytearray"},
               "RandomStateNode": {"numpy.random.mtrand.RandomState"},
               "RandomGeneratorNode": {"numpy.random._generator.Generator"},
               "TreeNode": {"sklearn.tree._tree.Tree"}}


def _numpy_scalars() -> set[str]:
    """NumPy's concrete scalar types, by the name skops writes (``numpy.float64``...), without
    ``numpy.void`` (``np.void(n)`` allocates ``n`` bytes) and ``numpy.object_``."""
    out = set()
    for t in set(np.sctypeDict.values()):
        if t in (np.void, np.object_) or not issubclass(t, np.generic):
            continue
        out.add(f"numpy.{t.__name__}")
    return out


def _numpy_dtypes() -> set[str]:
    names = {"numpy.dtype"}
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        names |= {f"numpy.dtypes.{n}" for n in dir(dtypes) if n.endswith("DType")}
    return names


_NUMPY_SCALARS = _numpy_scalars()
_NUMPY_DTYPES = _numpy_dtypes()

#: What the ingredient rows of :mod:`featbus.pipelines.ingredients` bring beside scikit-learn's
#: estimators, written out here rather than read from the rows: the trust rules stand on the floor
#: and import no pipelines, and widening them is an edit of this module, never a side effect of a
#: new row. ``tests/test_model.py`` holds both equal to the rows (``Ingredient.holds``,
#: each row's estimator package), so the two cannot drift.
_ROW_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree", "xgboost.core.Booster",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer")
_ROW_PACKAGES: tuple[str, ...] = ("imblearn", "xgboost")

#: Types a model file may create besides Python's plain values, NumPy and SciPy data and the
#: estimators of scikit-learn and :data:`TRUSTED_PACKAGES`: the calibration
#: :func:`featbus.workflows.training.train_model`
#: wraps a classifier without probabilities in, NumPy's random states (rebuilt from their state
#: arrays), and the types the ingredient rows of :mod:`featbus.pipelines.ingredients` bring
#: (``Ingredient.holds``: decision trees' node tables, MLP optimisers, XGBoost's booster, whose
#: state is XGBoost's own model format, parsed, not run). Each one's state is data.
EXTRA_TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
    "numpy.random.mtrand.RandomState", "numpy.random._generator.Generator", "numpy.random._pcg64.PCG64",
    "numpy.random._mt19937.MT19937", *_ROW_TYPES)
#: Packages whose scikit-learn estimator classes a model file may create: featbus's own, and those
#: of the ingredient rows (the samplers and boosters ``featbus train`` builds: imbalanced-learn, XGBoost).
TRUSTED_PACKAGES: tuple[str, ...] = ("featbus", *_ROW_PACKAGES)
# the helpers built as objects (``__new__`` and their state set, no constructor call); the others
# have a loader of their own above (random states, trees)
_HELPER_OBJECTS = set(EXTRA_TRUSTED_TYPES) - set().union(*_CONTAINERS.values())
_ESTIMATOR_PACKAGES = ("sklearn", *TRUSTED_PACKAGES)
#: featbus estimator classes that moved to another module: a file written before the move names
#: the old place, and is read (and trusted) as the class itself.
MOVED_CLASSES = {"featbus.pipelines.FamilyScaler": "featbus.compute.scaling.FamilyScaler",
                 "featbus.pipelines.FamilyUnion": "featbus.compute.scaling.FamilyUnion"}
#: The modules holding classes a model file can name (estimators and the state they carry) that
#: moved into packages when featbus's flat modules became folders: a file written before (format 4
#: files of that time, and every pickled file of formats 1-3) names the old module. Only the reader
#: of model files uses this map (skops' versioned readers in ``io/old/``: the reader knows the old
#: layout); an old module path itself no longer imports.
OLD_MODULES = {"featbus.domain": "featbus.model.domain",
               "featbus._samplers": "featbus.pipelines._samplers",
               "featbus.encoded_labels": "featbus.pipelines.encoded_labels",
               "featbus.augmentation": "featbus.networks.augmentation",
               "featbus.segmentation.augmentation": "featbus.networks.augmentation",
               "featbus.scaling": "featbus.compute.scaling",
               "featbus.preprocessing.roi": "featbus.segmentation.roi"}


def current_name(name: str) -> str:
    """A class's ``module.Class`` as a model file written before a move names it, where it is now
    (:data:`MOVED_CLASSES`, :data:`OLD_MODULES`); any other name unchanged.

    Examples
    --------
    >>> from featbus.model.trust import current_name
    >>> current_name("featbus.domain.DomainReference"), current_name("featbus.pipelines.FamilyUnion")
    ('featbus.model.domain.DomainReference', 'featbus.compute.scaling.FamilyUnion')
    >>> current_name("sklearn.svm._classes.SVC")
    'sklearn.svm._classes.SVC'
    """
    if name in MOVED_CLASSES:
        return MOVED_CLASSES[name]
    module, _, attr = name.rpartition(".")
    return f"{OLD_MODULES[module]}.{attr}" if module in OLD_MODULES else name


def _is_estimator_class(name: str) -> bool:
    """An estimator class defined (not re-exported) in the module the name gives, in scikit-learn
    or a package featbus trains with. Exact: the name is the class, so no subclass of an estimator
    defined elsewhere can pass (a featbus class that moved is known by its old name too,
    :func:`current_name`)."""
    name = current_name(name)
    module, _, attr = name.rpartition(".")
    if module.split(".")[0] not in _ESTIMATOR_PACKAGES or not re.fullmatch(r"[A-Za-z_][\w.]*", module):
        return False
    import importlib

    from sklearn.base import BaseEstimator

    try:  # importing a module of these packages runs only their own code
        cls = getattr(importlib.import_module(module), attr, None)
    except Exception:
        return False
    return isinstance(cls, type) and cls.__module__ == module and cls.__name__ == attr \
        and issubclass(cls, BaseEstimator)


def node_trust(loader: str | None, name: str) -> str | None:
    """Why featbus lets skops build this type with this loader without the user's trust, or None.

    Parameters
    ----------
    loader : str or None
        The schema node's ``__loader__`` (``"ObjectNode"``, ``"NdArrayNode"``...); ``None``
        for a type skops lists without a node of its own.
    name : str
        ``module.Class``.

    Examples
    --------
    >>> from featbus.model.trust import node_trust
    >>> node_trust("NdArrayNode", "numpy.ndarray"), node_trust("NdArrayNode", "numpy.memmap")
    ('NumPy', None)
    >>> node_trust("ObjectNode", "sklearn.svm._classes.SVC"), node_trust("ReduceNode", "numpy.ndarray")
    ('scikit-learn', None)
    """
    if loader == "JsonNode":
        return "Python value" if name in _PLAIN else None
    if loader in _CONTAINERS:
        if name not in _CONTAINERS[loader]:
            return None
        return "NumPy" if name.startswith("numpy") else "scikit-learn" if name.startswith("sklearn") \
            else "Python value"
    if loader == "NdArrayNode":
        return "NumPy" if name == "numpy.ndarray" or name in _NUMPY_SCALARS else None
    if loader == "DTypeNode":
        return "NumPy" if name in _NUMPY_DTYPES else None
    if loader == "TypeNode":  # the type itself as a value (an estimator's dtype=np.float64): nothing is called
        return "Python value" if name in _PLAIN else "NumPy" if name in _NUMPY_SCALARS else None
    if loader in ("ObjectNode", None):
        if name in _HELPER_OBJECTS:
            return "featbus"
        if loader is None and (name in _PLAIN or name in _NUMPY_SCALARS or name == "numpy.ndarray"
                               or any(name in v for v in _CONTAINERS.values())):
            return "Python value" if name.startswith(("builtins", "collections")) else "NumPy"
        if _is_estimator_class(name):
            top = name.split(".")[0]
            return {"sklearn": "scikit-learn", "featbus": "featbus"}.get(top, top)
    return None


# --------------------------------------------------------------------------- the schema, before creation

def _json_int(node: Any) -> int | None:
    """The integer a skops JsonNode (or plain JSON) holds, or None."""
    if isinstance(node, dict) and node.get("__loader__") == "JsonNode":
        try:
            node = __import__("json").loads(node.get("content"))
        except (TypeError, ValueError):
            return None
    return node if isinstance(node, int) and not isinstance(node, bool) else None


def _check_tree_args(node: dict, where: str) -> None:
    """scikit-learn's ``Tree(n_features, n_classes, n_outputs)`` allocates per output: bound the
    arguments before skops calls it."""
    args = (node.get("__reduce__") or {}).get("args")
    content = args.get("content") if isinstance(args, dict) else None
    if not (isinstance(content, list) and len(content) == 3):
        raise CraftedModelError(f"{where}: a decision tree's arguments are not (n_features, n_classes, n_outputs)")
    n_features, n_outputs = _json_int(content[0]), _json_int(content[2])
    if n_features is None or not 0 < n_features <= MAX_FEATURES:
        raise CraftedModelError(f"{where}: a decision tree declares {n_features!r} features "
                                f"(at most {MAX_FEATURES:,} are read)")
    if n_outputs is None or not 0 < n_outputs <= MAX_TREE_OUTPUTS:
        raise CraftedModelError(f"{where}: a decision tree declares {n_outputs!r} outputs "
                                f"(at most {MAX_TREE_OUTPUTS:,} are read)")
    classes = content[1]
    if not (isinstance(classes, dict) and classes.get("__loader__") == "NdArrayNode"
            and classes.get("__module__") == "numpy" and classes.get("__class__") == "ndarray"):
        raise CraftedModelError(f"{where}: a decision tree's class counts are not an array")


def audit_schema(schema: Any, where: str) -> dict[str, dict]:
    """Every type a skops schema names, with how often and by which loaders it would be built;
    trees' constructor arguments are checked here (nothing is created).

    Returns
    -------
    types : dict
        ``{"module.Class": {"count": n, "loaders": {loader, ...}}}``.

    Raises
    ------
    CraftedModelError
        A decision tree asks for more outputs or features than any model holds.
    """
    out: dict[str, dict] = {}
    stack = [schema]
    while stack:  # iterative: a crafted schema may nest deeper than Python's recursion limit
        node = stack.pop()
        if isinstance(node, dict):
            cls, module = node.get("__class__"), node.get("__module__")
            if isinstance(cls, str) and isinstance(module, str):
                loader = node.get("__loader__")
                entry = out.setdefault(f"{module}.{cls}", {"count": 0, "loaders": set()})
                entry["count"] += 1
                entry["loaders"].add(loader if isinstance(loader, str) else "?")
                if loader == "TreeNode":
                    _check_tree_args(node, where)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


# --------------------------------------------------------------------------- contents, after creation

def _check_tree(tree, where: str, n_features: int | None) -> None:
    """A scikit-learn ``Tree``: every split node's children come after it (scikit-learn's builders
    add a node's children after the node), so every walk from the root ends at a leaf; split
    features inside the feature count."""
    state = tree.__getstate__()
    nodes = state.get("nodes")
    count = int(state.get("node_count", -1))
    if not isinstance(nodes, np.ndarray) or nodes.dtype.names is None or count != len(nodes) or count < 1:
        raise CraftedModelError(f"{where}: a decision tree's node table does not match its node count")
    left, right = nodes["left_child"].astype(np.int64), nodes["right_child"].astype(np.int64)
    index = np.arange(count)
    leaf = (left == -1) & (right == -1)
    split = ~leaf
    if np.any(split & ((left <= index) | (right <= index) | (left >= count) | (right >= count))):
        bad = int(np.flatnonzero(split & ((left <= index) | (right <= index) | (left >= count) | (right >= count)))[0])
        raise CraftedModelError(f"{where}: decision tree node {bad} points to children {int(left[bad])}, "
                                f"{int(right[bad])} (a node's children come after it, inside the "
                                f"{count}-node table): a walk through it would not end")
    feat = nodes["feature"].astype(np.int64)
    limit = int(tree.n_features) if n_features is None else min(int(tree.n_features), int(n_features))
    if np.any(split & ((feat < 0) | (feat >= limit))):
        raise CraftedModelError(f"{where}: a decision tree splits on a feature outside its {limit} features")


def _check_svm(est, where: str) -> None:
    """The arrays libsvm reads without bounds checks must agree with each other."""
    if getattr(est, "_sparse", False):
        raise CraftedModelError(f"{where}: a sparse SVM (featbus trains dense ones)")
    sv = getattr(est, "support_vectors_", None)
    n_sv = np.asarray(getattr(est, "_n_support", []))
    classes = getattr(est, "classes_", None)
    if not isinstance(sv, np.ndarray) or sv.ndim != 2 or classes is None:
        raise CraftedModelError(f"{where}: an SVM without a 2-D support-vector array and classes")
    k = len(n_sv)
    pairs = k * (k - 1) // 2
    problems = [
        (k == len(classes) and k >= 2, "one support count per class"),
        (n_sv.dtype.kind in "iu" and bool(np.all(n_sv >= 0)) and int(n_sv.sum()) == sv.shape[0],
         "support counts that add up to the support vectors"),
        (np.shape(getattr(est, "_dual_coef_", None)) == (k - 1, sv.shape[0]), "dual coefficients per support vector"),
        (np.shape(getattr(est, "_intercept_", None)) == (pairs,), "one intercept per pair of classes"),
        (len(getattr(est, "support_", [])) == sv.shape[0], "one index per support vector"),
        (all(len(np.atleast_1d(getattr(est, a, []))) in (0, pairs) for a in ("_probA", "_probB")),
         "probability coefficients per pair of classes"),
        (sv.shape[1] == getattr(est, "n_features_in_", sv.shape[1]), "support vectors of its feature count"),
    ]
    for ok, what in problems:
        if not ok:
            raise CraftedModelError(f"{where}: an SVM's libsvm arrays disagree (it needs {what})")


def _check_neighbors(est, where: str) -> None:
    method = getattr(est, "_fit_method", None)
    fit_x = getattr(est, "_fit_X", None)
    if method != "brute" or not isinstance(fit_x, np.ndarray) or fit_x.ndim != 2:
        raise CraftedModelError(f"{where}: nearest-neighbour state featbus does not write (search "
                                f"{method!r}; featbus's neighbours search by brute force over a 2-D array)")


def _check_booster(booster, where: str) -> None:
    """XGBoost trees: children after their node, inside the tree, split features inside the model's."""
    import json

    try:
        model = json.loads(bytes(booster.save_raw("json")))
        learner = model["learner"]
        n_features = int(learner["learner_model_param"]["num_feature"])
        trees = learner["gradient_booster"]["model"]["trees"]
    except Exception as exc:  # XGBoost's own format: any failure is a damaged booster
        raise CraftedModelError(f"{where}: its XGBoost booster does not read ({type(exc).__name__})") from None
    for t, tree in enumerate(trees):
        left = np.asarray(tree["left_children"], np.int64)
        right = np.asarray(tree["right_children"], np.int64)
        feat = np.asarray(tree["split_indices"], np.int64)
        n = len(left)
        index = np.arange(n)
        split = left != -1
        if len(right) != n or np.any(split & ((left <= index) | (right <= index) | (left >= n) | (right >= n))) \
                or np.any(~split & (right != -1)) or np.any(split & ((feat < 0) | (feat >= max(n_features, 1)))):
            raise CraftedModelError(f"{where}: XGBoost tree {t} has children before their node or outside the "
                                    "tree, or splits on a feature it does not have")


_FILE_PARAMS = ("cache", "memory")

#: Weights a network may name without the user's trust: ImageNet's and featbus's own shipped ones
#: (every spelling of the backbones of the one pretrained table, checked against their SHA-256 on
#: load; :func:`_trusted_weights` reads the table itself, any case).
TRUSTED_WEIGHTS = ("imagenet", *pretrained_names("backbone"))


def _trusted_weights(weights) -> bool:
    """Whether ``weights`` names ImageNet's or featbus's shipped weights (no file is read)."""
    return isinstance(weights, str) and (weights == "imagenet" or find_pretrained(weights, "backbone") is not None)


def _check_params(est, where: str) -> None:
    """Parameters: declared constraints, then those that would make prediction touch files or
    start unbounded workers (the latter need the user's trust)."""
    from .._compat import InvalidParameterError, validate_parameters

    try:
        params = est.get_params(deep=False)
    except Exception as exc:
        raise CraftedModelError(f"{where}: its parameters do not read ({type(exc).__name__})") from None
    if getattr(est, "_parameter_constraints", None):
        try:
            validate_parameters(est)
        except (InvalidParameterError, TypeError, ValueError) as exc:
            raise CraftedModelError(f"{where}: {' '.join(str(exc).split())[:300]}") from None
    for key in _FILE_PARAMS:
        value = params.get(key)
        if value is not None and not isinstance(value, bool) and value != "memory":
            raise NeedsTrust(f"{where} has {key}={printable(repr(value))[:120]}: predicting would write or read "
                             "files there")
    weights = params.get("weights")
    if isinstance(weights, (str, os.PathLike)) and not _trusted_weights(weights) \
            and is_a(est, "DeepFeatures", "FineTunedCNN", "UNetSegmenter"):
        raise NeedsTrust(f"{where} reads its network's weights from {printable(str(weights))[:120]!r}")
    for key in ("input_size", "input_size_"):
        value = params.get(key) if key in params else getattr(est, key, None)
        sides = np.atleast_1d(np.asarray(value if value is not None else [], dtype=object)).tolist()
        if any(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and int(v) > MAX_INPUT_SIZE
               for v in sides):
            raise CraftedModelError(f"{where} has {key}={printable(repr(value))[:80]}: networks here take at most "
                                    f"{MAX_INPUT_SIZE} px a side")
    n_jobs = params.get("n_jobs")
    if isinstance(n_jobs, (int, np.integer)) and not isinstance(n_jobs, bool) and abs(int(n_jobs)) > MAX_N_JOBS:
        raise NeedsTrust(f"{where} has n_jobs={int(n_jobs)}: it would start that many workers "
                         f"(at most {MAX_N_JOBS} without trust)")


def check_loaded(parts: Any, where: str) -> None:
    """Check every estimator a loaded file made (see the module docstring).

    Raises
    ------
    CraftedModelError
        Contents featbus never writes (named with their place in the model).
    NeedsTrust
        Parameters that would make prediction touch files or start unbounded workers.
    """
    from sklearn.base import BaseEstimator

    from .._compat import BaseLibSVM, Tree

    booster_type = None
    try:
        import sys

        if "xgboost" in sys.modules:
            booster_type = sys.modules["xgboost"].Booster
    except AttributeError:  # a partial import
        booster_type = None
    seen: set[int] = set()
    stack: list[tuple[Any, str, Any]] = [(parts, "pipeline", None)]
    while stack:
        obj, label, owner = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, np.generic)):
            continue
        seen.add(id(obj))
        here = f"{where}: {label}"
        if isinstance(obj, dict):
            stack.extend((v, f"{label}[{k!r}]", owner) for k, v in obj.items())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((v, f"{label}[{i}]", owner) for i, v in enumerate(obj))
        elif isinstance(obj, Tree):
            _check_tree(obj, here, getattr(owner, "n_features_in_", None))
            _check_tree_owner(owner, obj, here)
        elif booster_type is not None and isinstance(obj, booster_type):
            _check_booster(obj, here)
        elif isinstance(obj, BaseEstimator):
            name = f"{label} ({type(obj).__name__})"
            _check_params(obj, f"{where}: {name}")
            if isinstance(obj, BaseLibSVM) and "support_vectors_" in vars(obj):  # a fitted one
                _check_svm(obj, f"{where}: {name}")
            if hasattr(obj, "_fit_method"):
                _check_neighbors(obj, f"{where}: {name}")
            stack.extend((v, f"{label}.{k}", obj) for k, v in vars(obj).items())
        elif hasattr(obj, "__dict__") and type(obj).__module__.split(".")[0] in _ESTIMATOR_PACKAGES:
            stack.extend((v, f"{label}.{k}", owner) for k, v in vars(obj).items())


def _check_tree_owner(owner, tree, where: str) -> None:
    """A decision tree estimator's classes agree with its tree's class counts."""
    if owner is None or not hasattr(owner, "classes_") or getattr(owner, "n_outputs_", 1) != 1:
        return
    n_classes = np.atleast_1d(np.asarray(tree.n_classes))
    if len(n_classes) != 1 or int(n_classes[0]) != len(np.atleast_1d(owner.classes_)):
        raise CraftedModelError(f"{where}: a decision tree counts {n_classes.tolist()} classes, its estimator "
                                f"{len(np.atleast_1d(owner.classes_))}")


# --------------------------------------------------------------------------- text from the file

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: Any) -> str:
    """Text from a file, safe to print on a terminal: control characters (line breaks, escape
    sequences), Unicode line separators and direction overrides are written as escapes.

    Examples
    --------
    >>> from featbus.model.trust import printable
    >>> printable("ok\\nloads without --trust: yes\\x1b[2K")
    'ok\\\\nloads without --trust: yes\\\\x1b[2K'
    """
    text = str(text)
    if _UNSAFE.search(text) is None and all(unicodedata.category(c) not in ("Zl", "Zp", "Cf") for c in text):
        return text
    out = []
    for ch in text:
        if _UNSAFE.match(ch) or unicodedata.category(ch) in ("Zl", "Zp", "Cf"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)
