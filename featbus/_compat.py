"""The one featbus module that reads private names of scikit-learn or imbalanced-learn.

Every other module imports these names from here, so that a new scikit-learn or imbalanced-learn
that moves or drops one of them breaks nothing but this file's first choice: each name has a
fallback built from public names or featbus's own code, and ``tests/test_compat.py`` checks each
name, its fallback, and that both behave alike.

Parameter validation
    :class:`Interval`, :class:`StrOptions`, :class:`Options`, :class:`HasMethods`,
    :class:`InvalidParameterError`, :func:`validate_params`, :func:`validate_parameter_constraints`
    are scikit-learn's (``sklearn.utils._param_validation``) when it has them and they behave as
    featbus expects (checked once at import), so that scikit-learn's common checks, which read
    ``_parameter_constraints``, see their own types; otherwise featbus's own
    (:data:`own_validation`, below), which gives the same messages. ``FEATBUS_OWN_VALIDATION=1``
    chooses featbus's whatever is installed. :data:`VALIDATION` says which one is in use.
    :func:`validate_parameters` checks an estimator against its ``_parameter_constraints`` (what
    ``BaseEstimator._validate_params``, a private method, does).

Loaded lazily (first use), as they import parts of scikit-learn or imbalanced-learn:
    ``BaseSearchCV`` (for ``isinstance``: scikit-learn's base class of the searches, else a tuple
    of the public search classes), ``GroupsConsumerMixin`` (a splitter that asks for ``groups``),
    ``safe_indexing`` (``sklearn.utils._safe_indexing``, which scikit-learn documents),
    ``Tree`` (the node table of a fitted decision tree), ``BaseLibSVM`` (the libsvm estimators)
    and imbalanced-learn's tag classes ``SamplerTags`` and ``ImblearnTags``.

Examples
--------
>>> from featbus._compat import VALIDATION, Interval
>>> from numbers import Integral
>>> VALIDATION in ("scikit-learn", "featbus")
True
>>> Interval(Integral, 1, None, closed="left").is_satisfied_by(3)
True
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from collections.abc import Callable, Iterable
from numbers import Integral, Real
from types import SimpleNamespace
from typing import Any

import numpy as np

# (and, through __getattr__, the lazy names of _LAZY)
__all__ = ["VALIDATION", "HasMethods", "Interval", "InvalidParameterError", "Options", "StrOptions",
           "validate_parameter_constraints", "validate_parameters", "validate_params", "estimator_param_names"]

_VALIDATION_NAMES = ("HasMethods", "Interval", "InvalidParameterError", "Options", "StrOptions",
                     "validate_parameter_constraints", "validate_params")


# ----------------------------------------------------------------------------- featbus's own validation
# The fallback: the few constraint types featbus's estimators use, with scikit-learn's messages
# ("The 'levels' parameter of GLCMFeatures must be an int in the range [2, 256]. Got 1 instead.").
# A constraint is an Interval, StrOptions, Options or HasMethods; a type (any instance passes),
# None (the value None) or callable; one of the strings "boolean", "array-like", "random_state",
# "verbose", "nan"; or "no_validation" in place of the whole list (the parameter is not checked).
class _OwnInvalidParameterError(ValueError, TypeError):
    """A parameter of the wrong type or value (a ``ValueError`` and a ``TypeError``, as scikit-learn's)."""


_OwnInvalidParameterError.__name__ = _OwnInvalidParameterError.__qualname__ = "InvalidParameterError"


_NUMBER_NAMES = {Integral: "int", Real: "float"}


class _Constraint:
    def is_satisfied_by(self, value: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


def _type_name(t: type) -> str:
    if t in _NUMBER_NAMES:
        return _NUMBER_NAMES[t]
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


class _InstanceOf(_Constraint):
    def __init__(self, type_: type):
        self.type = type_

    def is_satisfied_by(self, value) -> bool:
        return isinstance(value, self.type)

    def __str__(self) -> str:
        return f"an instance of {_type_name(self.type)!r}"


class _NoneConstraint(_Constraint):
    def is_satisfied_by(self, value) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


class _NanConstraint(_Constraint):
    def is_satisfied_by(self, value) -> bool:
        return isinstance(value, Real) and not isinstance(value, Integral) and math.isnan(value)

    def __str__(self) -> str:
        return "numpy.nan"


class _Callables(_Constraint):
    def is_satisfied_by(self, value) -> bool:
        return callable(value)

    def __str__(self) -> str:
        return "a callable"


class _ArrayLikes(_Constraint):
    def is_satisfied_by(self, value) -> bool:
        return hasattr(value, "__len__") or hasattr(value, "shape") or hasattr(value, "__array__")

    def __str__(self) -> str:
        return "an array-like"


class _OwnInterval(_Constraint):
    """Numbers of ``type`` (``numbers.Integral`` or ``numbers.Real``) between ``left`` and
    ``right`` (``None``: unbounded), ``closed`` one of ``"left"``, ``"right"``, ``"both"``,
    ``"neither"``. As in scikit-learn, ``True`` and ``False`` are integers; NaN is in no interval."""

    def __init__(self, type, left, right, *, closed: str):
        if type not in (Integral, Real):
            raise ValueError(f"_OwnInterval type must be numbers.Integral or numbers.Real, got {type!r}")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be 'left', 'right', 'both' or 'neither', got {closed!r}")
        if left is not None and right is not None and right < left:
            raise ValueError(f"right can't be less than left, got left={left} and right={right}")
        self.type, self.left, self.right, self.closed = type, left, right, closed

    def is_satisfied_by(self, value) -> bool:
        if not isinstance(value, self.type):
            return False
        if isinstance(value, Real) and math.isnan(value):
            return False
        lo_closed, hi_closed = self.closed in ("left", "both"), self.closed in ("right", "both")
        if self.left is not None and (value < self.left if lo_closed else value <= self.left):
            return False
        return not (self.right is not None and (value > self.right if hi_closed else value >= self.right))

    def __str__(self) -> str:
        kind = "an int" if self.type is Integral else "a float"
        lo = "-inf" if self.left is None else (self.left if self.type is Integral else float(self.left))
        hi = "inf" if self.right is None else (self.right if self.type is Integral else float(self.right))
        lo_b = "[" if self.closed in ("left", "both") and self.left is not None else "("
        hi_b = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{kind} in the range {lo_b}{lo}, {hi}{hi_b}"


class _OwnOptions(_Constraint):
    """One of the values ``options``, of type ``type``."""

    def __init__(self, type, options: Iterable, *, deprecated: Iterable | None = None):
        self.type, self.options = type, set(options)
        self.deprecated = set(deprecated or ())

    def is_satisfied_by(self, value) -> bool:
        return isinstance(value, self.type) and value in self.options

    def _kind(self) -> str:
        return f"a {_NUMBER_NAMES.get(self.type, self.type.__qualname__)}"

    def __str__(self) -> str:
        shown = ", ".join(f"{o!r}" + (" (deprecated)" if o in self.deprecated else "")
                          for o in sorted(self.options, key=repr))
        return f"{self._kind()} among {{{shown}}}"


class _OwnStrOptions(_OwnOptions):
    """One of the strings ``options``."""

    def __init__(self, options: Iterable[str], *, deprecated: Iterable[str] | None = None):
        super().__init__(str, options, deprecated=deprecated)

    def _kind(self) -> str:
        return "a str"


class _OwnHasMethods(_Constraint):
    """An object with every method named in ``methods``."""

    def __init__(self, methods: str | Iterable[str]):
        self.methods = [methods] if isinstance(methods, str) else list(methods)

    def is_satisfied_by(self, value) -> bool:
        return all(callable(getattr(value, m, None)) for m in self.methods)

    def __str__(self) -> str:
        names = [repr(m) for m in self.methods]
        joined = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        return f"an object implementing {joined}"


class _AnyOf(_Constraint):
    def __init__(self, *parts: _Constraint):
        self.parts = parts

    def is_satisfied_by(self, value) -> bool:
        return any(p.is_satisfied_by(value) for p in self.parts)

    def __str__(self) -> str:
        return _join([str(p) for p in self.parts])


def _join(texts: list[str]) -> str:
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"


_BOOLEAN = _AnyOf(_InstanceOf(bool), _InstanceOf(np.bool_))
_NAMED: dict[str, Callable[[], _Constraint]] = {
    "boolean": lambda: _BOOLEAN,
    "array-like": _ArrayLikes,
    "nan": _NanConstraint,
    "random_state": lambda: _AnyOf(_OwnInterval(Integral, 0, 2**32 - 1, closed="both"),
                                   _InstanceOf(np.random.RandomState), _NoneConstraint()),
    "verbose": lambda: _AnyOf(_OwnInterval(Integral, 0, None, closed="left"), _InstanceOf(bool), _InstanceOf(np.bool_)),
}


def _make_constraint(constraint) -> _Constraint:
    if isinstance(constraint, _Constraint) or callable(getattr(constraint, "is_satisfied_by", None)):
        return constraint  # featbus's, or another library's constraint object (scikit-learn's own estimators')
    if constraint is None:
        return _NoneConstraint()
    if constraint is callable:
        return _Callables()
    if isinstance(constraint, type):
        return _InstanceOf(constraint)
    if isinstance(constraint, str) and constraint in _NAMED:
        return _NAMED[constraint]()
    raise _UnknownConstraint(f"Unknown constraint type: {constraint!r}")


class _UnknownConstraint(ValueError):
    """A constraint featbus's own validation cannot read (another library's estimator's)."""


def _own_validate_parameter_constraints(parameter_constraints: dict, params: dict, caller_name: str) -> None:
    """Check each of ``params`` named in ``parameter_constraints`` (name -> list of constraints,
    or ``"no_validation"``) against its constraints; a value satisfying none of them raises
    :class:`_OwnInvalidParameterError` naming the parameter, ``caller_name`` and every accepted form.
    Parameters without an entry are not checked."""
    for name, value in params.items():
        if name not in parameter_constraints or parameter_constraints[name] == "no_validation":
            continue
        constraints = [_make_constraint(c) for c in parameter_constraints[name]]
        if any(c.is_satisfied_by(value) for c in constraints):
            continue
        raise _OwnInvalidParameterError(f"The {name!r} parameter of {caller_name} must be "
                                    f"{_join([str(c) for c in constraints])}. Got {value!r} instead.")


def _own_validate_params(parameter_constraints: dict, *, prefer_skip_nested_validation: bool = True):
    """Decorator: check a function's arguments against ``parameter_constraints`` at each call
    (``*args`` / ``**kwargs`` and ``self`` / ``cls`` are never checked). ``prefer_skip_nested_validation``
    is accepted for the same signature as scikit-learn's and has no effect here."""

    def decorator(func):
        signature = inspect.signature(func)
        skipped = {p.name for p in signature.parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        skipped |= {"self", "cls"}

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            params = {k: v for k, v in bound.arguments.items() if k not in skipped}
            _own_validate_parameter_constraints(parameter_constraints, params, caller_name=func.__qualname__)
            return func(*args, **kwargs)

        wrapper._featbus_parameter_constraints = parameter_constraints
        return wrapper

    return decorator


def _probe_validation(names: dict) -> None:
    """Raise unless ``names`` validate as featbus relies on (the constraint kinds it uses, the
    error type, the message naming the parameter and its owner)."""
    from numbers import Integral, Real

    constraints = {"n": [names["Interval"](Integral, 1, None, closed="left"), None],
                   "f": [names["Interval"](Real, 0, 1, closed="both")],
                   "s": [names["StrOptions"]({"a", "b"}), names["Options"](bool, {False})],
                   "h": [names["HasMethods"](["fit"]), "boolean", "random_state", callable, str]}
    check = names["validate_parameter_constraints"]
    check(constraints, {"n": None, "f": 0.5, "s": False, "h": True}, caller_name="Probe")
    try:
        check(constraints, {"n": 0}, caller_name="Probe")
    except names["InvalidParameterError"] as exc:
        if not (isinstance(exc, ValueError) and "'n' parameter of Probe" in str(exc)):
            raise RuntimeError(f"unexpected message: {exc}") from None
    else:
        raise RuntimeError("n=0 passed")

    @names["validate_params"]({"k": [names["Interval"](Integral, 0, None, closed="left")]},
                              prefer_skip_nested_validation=True)
    def probe(k):
        return k

    if probe(k=2) != 2:
        raise RuntimeError("validate_params changed the result")


#: featbus's own validation, under the same names as scikit-learn's (what the fallback uses).
own_validation = SimpleNamespace(HasMethods=_OwnHasMethods, Interval=_OwnInterval,
                                 InvalidParameterError=_OwnInvalidParameterError, Options=_OwnOptions,
                                 StrOptions=_OwnStrOptions,
                                 validate_parameter_constraints=_own_validate_parameter_constraints,
                                 validate_params=_own_validate_params)


def _choose_validation() -> tuple[str, dict]:
    own = {n: getattr(own_validation, n) for n in _VALIDATION_NAMES}
    if os.environ.get("FEATBUS_OWN_VALIDATION", "").strip() not in ("", "0"):
        return "featbus", own
    try:
        from sklearn.utils import _param_validation

        theirs = {n: getattr(_param_validation, n) for n in _VALIDATION_NAMES}
        _probe_validation(theirs)
    except Exception:  # moved, renamed or changed: featbus's own, with the same messages
        return "featbus", own
    return "scikit-learn", theirs


#: Whose parameter validation is in use: ``"scikit-learn"`` or ``"featbus"``.
VALIDATION, _chosen = _choose_validation()
HasMethods = _chosen["HasMethods"]
Interval = _chosen["Interval"]
InvalidParameterError = _chosen["InvalidParameterError"]
Options = _chosen["Options"]
StrOptions = _chosen["StrOptions"]
validate_parameter_constraints = _chosen["validate_parameter_constraints"]
validate_params = _chosen["validate_params"]
del _chosen


def validate_parameters(estimator) -> None:
    """Check ``estimator``'s parameters against its class's ``_parameter_constraints``.

    Raises
    ------
    InvalidParameterError
        A parameter satisfies none of its constraints (the message names it, the class and what
        it accepts).

    Examples
    --------
    >>> from featbus import HOGFeatures
    >>> validate_parameters(HOGFeatures())
    >>> try:
    ...     validate_parameters(HOGFeatures(orientations=0))
    ... except InvalidParameterError as exc:
    ...     print(str(exc)[:54])
    The 'orientations' parameter of HOGFeatures must be an
    """
    try:
        validate_parameter_constraints(estimator._parameter_constraints, estimator.get_params(deep=False),
                                       caller_name=type(estimator).__name__)
    except _UnknownConstraint:
        # featbus's own validation and another library's estimator (scikit-learn's Pipeline, with
        # its own constraint types): the estimator's own check, where it has one
        own_check = getattr(estimator, "_validate_params", None)
        if own_check is None or getattr(own_check, "__func__", None) is image_estimator_validate_params:
            raise
        own_check()


def image_estimator_validate_params(self) -> None:
    """featbus's image estimators' ``_validate_params`` (see :class:`featbus._base._ImageInputMixin`)."""
    validate_parameters(self)


def estimator_param_names(cls) -> list[str]:
    """The parameter names of estimator class ``cls``, sorted: its ``__init__``'s, less ``self``
    and ``*args`` / ``**kwargs`` (what ``get_params`` lists; scikit-learn's own list is the private
    ``BaseEstimator._get_param_names``).

    Examples
    --------
    >>> from featbus import HOGFeatures
    >>> estimator_param_names(HOGFeatures)[:3]
    ['block_norm', 'cache', 'cells_per_block']
    """
    init = getattr(cls.__init__, "deprecated_original", cls.__init__)
    if init is object.__init__:
        return []
    return sorted(p.name for p in inspect.signature(init).parameters.values()
                  if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


# ----------------------------------------------------------------------------- loaded on first use
def _own_base_search_cv() -> tuple:
    from sklearn import model_selection

    found = []
    for name in ("GridSearchCV", "RandomizedSearchCV", "HalvingGridSearchCV", "HalvingRandomSearchCV"):
        try:
            found.append(getattr(model_selection, name))
        except (AttributeError, ImportError):  # the halving searches only once enabled
            pass
    return tuple(found)


def _base_search_cv():
    try:
        from sklearn.model_selection._search import BaseSearchCV
    except ImportError:
        return _own_base_search_cv()
    return BaseSearchCV


class _OwnGroupsConsumerMixin:
    """A splitter whose ``split`` asks for ``groups`` (scikit-learn's metadata routing reads the
    class attribute ``__metadata_request__split``)."""

    __metadata_request__split = {"groups": True}


def _groups_consumer_mixin():
    try:
        from sklearn.model_selection._split import GroupsConsumerMixin
    except ImportError:
        return _OwnGroupsConsumerMixin
    return GroupsConsumerMixin


def _own_safe_indexing(X, indices, *, axis: int = 0):
    """Rows (``axis=0``) or columns (``axis=1``) ``indices`` of an array, sparse matrix, DataFrame,
    Series or list."""
    import numpy as np

    idx = np.arange(X.shape[axis] if hasattr(X, "shape") else len(X))[indices]
    if axis == 1:
        return X.iloc[:, idx] if hasattr(X, "iloc") else X[:, idx]
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    if hasattr(X, "shape"):
        return X[idx]
    return [X[i] for i in idx]


def _safe_indexing():
    try:
        from sklearn.utils import _safe_indexing
    except ImportError:
        return _own_safe_indexing
    return _safe_indexing


def _own_tree() -> type:
    """The type of a fitted tree's node table, through public names only."""
    from sklearn.tree import DecisionTreeClassifier

    return type(DecisionTreeClassifier().fit([[0.0], [1.0]], [0, 1]).tree_)


def _tree():
    try:
        from sklearn.tree._tree import Tree
    except ImportError:
        return _own_tree()
    return Tree


def _own_base_lib_svm() -> tuple:
    from sklearn import svm

    return (svm.SVC, svm.NuSVC, svm.SVR, svm.NuSVR, svm.OneClassSVM)


def _base_lib_svm():
    try:
        from sklearn.svm._base import BaseLibSVM
    except ImportError:
        return _own_base_lib_svm()
    return BaseLibSVM


def _imblearn_tags(which: str):
    # the classes of the tags imbalanced-learn's own samplers give, through public names only
    from imblearn import FunctionSampler

    tags = FunctionSampler().__sklearn_tags__()
    return type(tags) if which == "tags" else type(tags.sampler_tags)


_LAZY = {"BaseSearchCV": _base_search_cv, "GroupsConsumerMixin": _groups_consumer_mixin,
         "safe_indexing": _safe_indexing, "Tree": _tree, "BaseLibSVM": _base_lib_svm,
         "ImblearnTags": lambda: _imblearn_tags("tags"), "SamplerTags": lambda: _imblearn_tags("sampler")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = _LAZY[name]()
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
