"""featbus._compat: the one module that reads private names of scikit-learn / imbalanced-learn.

One test per name it wraps (the name works as featbus uses it, and so does its fallback), the
fallback validation (featbus._compat.own_validation) against scikit-learn's own on the same constraints, and
a scan that no other featbus module imports a private name of either library.
"""

from __future__ import annotations

import ast
import inspect
import os
import pickle
import subprocess
import sys
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pytest

from featbus import _compat

_own = _compat.own_validation  # featbus's own validation (the fallback)

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- parameter validation
def test_validation_in_use_is_scikit_learns_while_its_module_serves():
    from sklearn.utils import _param_validation

    if os.environ.get("FEATBUS_OWN_VALIDATION", "").strip() not in ("", "0"):
        assert _compat.VALIDATION == "featbus" and _compat.Interval is _own.Interval
    else:  # every supported scikit-learn (>= 1.6) passes the probe
        assert _compat.VALIDATION == "scikit-learn" and _compat.Interval is _param_validation.Interval


@pytest.mark.parametrize("module", [_compat, _own], ids=["compat", "own"])
def test_interval(module):
    closed = module.Interval(Integral, 1, 10, closed="both")
    assert closed.is_satisfied_by(1) and closed.is_satisfied_by(10) and not closed.is_satisfied_by(11)
    assert closed.is_satisfied_by(True) and not closed.is_satisfied_by(False)  # booleans are integers, as in Python
    assert not closed.is_satisfied_by(2.0)
    open_right = module.Interval(Real, 0, 1, closed="left")
    assert open_right.is_satisfied_by(0) and open_right.is_satisfied_by(0.5) and not open_right.is_satisfied_by(1.0)
    assert not open_right.is_satisfied_by(float("nan"))
    unbounded = module.Interval(Real, None, 0, closed="right")
    assert unbounded.is_satisfied_by(-1e300) and not unbounded.is_satisfied_by(1e-9)


@pytest.mark.parametrize("module", [_compat, _own], ids=["compat", "own"])
def test_str_options_and_options(module):
    assert module.StrOptions({"a", "b"}).is_satisfied_by("a") and not module.StrOptions({"a"}).is_satisfied_by("c")
    only_false = module.Options(bool, {False})
    assert only_false.is_satisfied_by(False) and not only_false.is_satisfied_by(True)
    assert not only_false.is_satisfied_by(0)  # the type counts, not only equality


@pytest.mark.parametrize("module", [_compat, _own], ids=["compat", "own"])
def test_has_methods(module):
    class Cache:
        def cache(self):
            return None

    assert module.HasMethods(["cache"]).is_satisfied_by(Cache())
    assert not module.HasMethods(["cache", "clear"]).is_satisfied_by(Cache())


@pytest.mark.parametrize("module", [_compat, _own], ids=["compat", "own"])
def test_invalid_parameter_error_is_a_value_and_a_type_error(module):
    assert issubclass(module.InvalidParameterError, ValueError)
    assert issubclass(module.InvalidParameterError, TypeError)


@pytest.mark.parametrize("module", [_compat, _own], ids=["compat", "own"])
def test_validate_params_decorator(module):
    constraints = {"k": [module.Interval(Integral, 0, None, closed="left")], "how": [module.StrOptions({"a"})]}

    @module.validate_params(constraints, prefer_skip_nested_validation=True)
    def f(k, how="a", *rest, **extra):
        return k

    assert f(3) == 3 and f(k=0, how="a") == 0
    with pytest.raises(module.InvalidParameterError, match="The 'k' parameter of .*f must be an int in the range"):
        f(-1)
    with pytest.raises(module.InvalidParameterError, match="'how' parameter"):
        f(1, "b")


@pytest.mark.parametrize("module", [_compat, _own], ids=["compat", "own"])
def test_validate_parameter_constraints(module):
    constraints = {"n": [module.Interval(Integral, 1, None, closed="left"), None], "free": "no_validation"}
    module.validate_parameter_constraints(constraints, {"n": None, "free": object(), "other": -5}, "Demo")
    with pytest.raises(module.InvalidParameterError, match=r"The 'n' parameter of Demo must be .* Got 0 instead\."):
        module.validate_parameter_constraints(constraints, {"n": 0}, "Demo")


def test_validate_parameters_checks_an_estimator_with_its_class_name():
    from featbus import GLCMFeatures

    _compat.validate_parameters(GLCMFeatures())
    with pytest.raises(_compat.InvalidParameterError, match="'levels' parameter of GLCMFeatures must be an int"):
        _compat.validate_parameters(GLCMFeatures(levels=1))


def test_own_validation_leaves_another_librarys_estimator_to_its_own_check(monkeypatch):
    """Under featbus's own validation, a scikit-learn estimator whose constraints use types it does
    not read (Pipeline's Hidden) is checked by its own method, as the model-file trust check needs."""
    from sklearn.pipeline import Pipeline
    from sklearn.svm import SVC

    monkeypatch.setattr(_compat, "validate_parameter_constraints", _own.validate_parameter_constraints)
    _compat.validate_parameters(Pipeline([("svc", SVC())]))
    with pytest.raises(ValueError, match="'verbose' parameter of Pipeline"):
        _compat.validate_parameters(Pipeline([("svc", SVC())], verbose="loud"))


# The constraints featbus's estimators use, each with values inside and outside: featbus's own
# validation must accept and refuse exactly what scikit-learn's does, with the same message.
_CASES = [
    ("Interval(Integral, 1, None, left)", lambda m: [m.Interval(Integral, 1, None, closed="left")],
     [1, 7, 0, -3, 2.5, True, "3", None]),
    ("Interval(Real, 0, 1, neither)", lambda m: [m.Interval(Real, 0, 1, closed="neither")],
     [0.5, 1e-9, 0, 1, 1.0, np.float32(0.25), np.int64(0), float("nan")]),
    ("Interval(Real, None, 5, right) or None", lambda m: [m.Interval(Real, None, 5, closed="right"), None],
     [-1e9, 5, 5.5, None, "x"]),
    ("StrOptions or None", lambda m: [m.StrOptions({"equal", "pca"}), None], ["equal", "pca", "PCA", None, 3]),
    ("Options(bool, {False}), str, PathLike", lambda m: [None, m.Options(bool, {False}), str, os.PathLike],
     [None, False, True, "dir", Path("dir"), 0]),
    ("HasMethods, boolean", lambda m: [m.HasMethods(["fit", "transform"]), "boolean"],
     [True, np.bool_(False), 1, "yes"]),
    ("random_state", lambda m: ["random_state"], [None, 0, 2**32 - 1, 2**32, np.random.RandomState(0), -1, 1.5]),
    ("verbose", lambda m: ["verbose"], [0, 3, True, -1, 0.5]),
    ("callable, array-like", lambda m: [callable, "array-like"], [len, [1, 2], np.zeros(3), 5]),
    ("types", lambda m: [Integral, dict, np.ndarray], [3, np.int8(3), {}, np.zeros(2), 2.0, []]),
]


@pytest.mark.parametrize("name,make,values", _CASES, ids=[c[0] for c in _CASES])
def test_own_validation_agrees_with_scikit_learns(name, make, values):
    from sklearn.utils import _param_validation as theirs

    for value in values:
        outcomes = []
        for module in (theirs, _own):
            try:
                module.validate_parameter_constraints({"p": make(module)}, {"p": value}, caller_name="Est")
                outcomes.append("ok")
            except module.InvalidParameterError as exc:
                outcomes.append(str(exc))
        ours, sk = outcomes[1], outcomes[0]
        if "among {" in sk and "," in sk.split("among {")[1]:  # scikit-learn lists a set's options in hash order
            assert (ours == "ok") == (sk == "ok"), (value, sk, ours)
        else:
            assert ours == sk, (value, sk, ours)


def test_fallback_validation_serves_the_estimators(tmp_path):
    """With featbus's own validation (what a scikit-learn without the private module gets), the
    estimators still refuse a bad parameter with the same message, and fit with good ones."""
    code = ("import numpy as np\n"
            "from featbus import _compat, GLCMFeatures, HOGFeatures\n"
            "from featbus.compute.scaling import FamilyScaler\n"
            "assert _compat.VALIDATION == 'featbus', _compat.VALIDATION\n"
            "img = (np.arange(64 * 64) % 251).reshape(64, 64).astype(np.uint8)\n"
            "print(HOGFeatures(progress=False).fit_transform([img]).shape)\n"
            "FamilyScaler([2, 3]).fit(np.random.default_rng(0).normal(size=(10, 5)))\n"
            "try:\n"
            "    GLCMFeatures(levels=1, progress=False).fit([img])\n"
            "except _compat.InvalidParameterError as exc:\n"
            "    print(exc)\n")
    env = {**os.environ, "FEATBUS_OWN_VALIDATION": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("(1, ")
    assert "The 'levels' parameter of GLCMFeatures must be an int in the range" in lines[1]


def test_estimator_param_names_are_get_params_keys():
    from sklearn.pipeline import FeatureUnion
    from sklearn.svm import SVC

    from featbus import HOGFeatures, UNetSegmenter
    from featbus.compute.scaling import FamilyUnion

    for cls, instance in [(HOGFeatures, HOGFeatures()), (SVC, SVC()), (UNetSegmenter, UNetSegmenter()),
                          (FamilyUnion, FamilyUnion([])), (FeatureUnion, FeatureUnion([]))]:
        assert _compat.estimator_param_names(cls) == sorted(instance.get_params(deep=False)), cls.__name__


# ----------------------------------------------------------------------------- lazily loaded names
def test_base_search_cv():
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.svm import SVC

    from featbus._compat import BaseSearchCV

    for searches in (BaseSearchCV, _compat._own_base_search_cv()):  # scikit-learn's, the fallback
        assert isinstance(GridSearchCV(SVC(), {"C": [1]}), searches)
        assert isinstance(RandomizedSearchCV(SVC(), {"C": [1]}), searches)
        assert not isinstance(SVC(), searches)


def test_groups_consumer_mixin():
    from sklearn.model_selection import GroupKFold, KFold

    from featbus._compat import GroupsConsumerMixin
    from featbus.model_selection import DuplicateGroupKFold

    assert isinstance(GroupKFold(2), GroupsConsumerMixin) and not isinstance(KFold(2), GroupsConsumerMixin)
    assert isinstance(DuplicateGroupKFold(2), GroupsConsumerMixin)
    # scikit-learn's metadata routing sees the splitter ask for groups (what the mixin is for)
    assert DuplicateGroupKFold(2).get_metadata_routing().consumes("split", ["groups"]) == {"groups"}

    class OwnSplitter(_compat._OwnGroupsConsumerMixin, KFold):  # the fallback does the same
        pass

    assert OwnSplitter(2).get_metadata_routing().consumes("split", ["groups"]) == {"groups"}


@pytest.mark.parametrize("which", ["compat", "own"])
def test_safe_indexing(which):
    import pandas as pd
    from scipy import sparse

    index = _compat.safe_indexing if which == "compat" else _compat._own_safe_indexing
    rows = [2, 0]
    X = np.arange(12).reshape(4, 3)
    np.testing.assert_array_equal(index(X, rows), X[rows])
    assert index(["a", "b", "c", "d"], rows) == ["c", "a"]
    frame = pd.DataFrame(X, index=list("wxyz"))
    assert list(index(frame, rows).index) == ["y", "w"]
    assert list(index(pd.Series(list("abcd")), np.array([True, False, False, True]))) == ["a", "d"]
    np.testing.assert_array_equal(index(sparse.csr_matrix(X), rows).toarray(), X[rows])
    assert index(list("abcd"), slice(1, 3)) == ["b", "c"]


def test_tree():
    from sklearn.tree import DecisionTreeClassifier

    from featbus._compat import Tree

    fitted = DecisionTreeClassifier(random_state=0).fit([[0.0], [1.0], [2.0]], [0, 1, 1])
    assert isinstance(fitted.tree_, Tree)
    assert _compat._own_tree() is Tree  # the fallback finds the same class through public names


def test_base_lib_svm():
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC, SVR, NuSVC, OneClassSVM

    from featbus._compat import BaseLibSVM

    for svms in (BaseLibSVM, _compat._own_base_lib_svm()):  # scikit-learn's, the fallback
        assert all(isinstance(est, svms) for est in (SVC(), NuSVC(), SVR(), OneClassSVM()))
        assert not isinstance(LogisticRegression(), svms)


def test_imblearn_tags():
    from imblearn import FunctionSampler
    from sklearn.utils import get_tags

    from featbus._compat import ImblearnTags, SamplerTags
    from featbus.networks.augmentation import ImageAugmenter

    tags = get_tags(ImageAugmenter())
    assert isinstance(tags, ImblearnTags) and isinstance(tags.sampler_tags, SamplerTags)
    assert tags.estimator_type == "sampler" and tags.input_tags.two_d_array is False
    assert isinstance(get_tags(FunctionSampler()), ImblearnTags)


def test_unknown_lazy_name():
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _compat.nothing  # noqa: B018


def _first_column(X):
    return X[:, :1]


def test_family_union_joins_through_feature_unions_hstack():
    """FamilyUnion scales the joined parts in FeatureUnion's ``_hstack(self, Xs)`` hook (where
    every part's output is seen); it refuses to fit, by name, if scikit-learn stops calling it."""
    from sklearn.pipeline import FeatureUnion
    from sklearn.preprocessing import FunctionTransformer

    from featbus.compute.scaling import FamilyUnion

    assert list(inspect.signature(FeatureUnion._hstack).parameters) == ["self", "Xs"]
    X = np.random.default_rng(0).normal(size=(30, 3))
    union = FamilyUnion([("a", FunctionTransformer()), ("b", FunctionTransformer(_first_column))]).fit(X)
    assert union.family_widths_ == [3, 1]
    again = pickle.loads(pickle.dumps(union))
    np.testing.assert_allclose(again.transform(X), union.transform(X), rtol=0, atol=0)  # the same computation

    class Unhooked(FamilyUnion):  # a FeatureUnion that joins without the hook, as a future one might
        def _hstack(self, Xs):
            return np.hstack(Xs)

    with pytest.raises(RuntimeError, match="no longer joins its parts through _hstack"):
        Unhooked([("a", FunctionTransformer())]).fit(X)


def test_family_union_names_reduced_families_without_feature_unions_iter():
    """get_feature_names_out walks transformer_list itself (dropped parts skipped, as FeatureUnion
    joins), not FeatureUnion's private _iter."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    from featbus.compute.scaling import FamilyUnion

    X = np.random.default_rng(0).normal(size=(40, 5))
    union = FamilyUnion([("a", StandardScaler()), ("skip", "drop"), ("b", PCA(2))], family_scaling="pca",
                        n_components=2).fit(X)
    assert list(union.get_feature_names_out()) == ["a__pc0", "a__pc1", "b__pca0", "b__pca1"]
    assert union.transform(X).shape == (40, 4)


# ----------------------------------------------------------------------------- no other private import
_PRIVATE_ROOTS = ("sklearn", "imblearn")


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in _PRIVATE_ROOTS:
            names = [a.name for a in node.names]
            if any(p.startswith("_") for p in node.module.split(".")) or any(n.startswith("_") for n in names):
                found.append(f"{node.lineno}: from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] in _PRIVATE_ROOTS and any(p.startswith("_") for p in a.name.split("."))]
    return found


def test_no_module_but_compat_imports_a_private_name():
    offenders = {}
    for folder in ("featbus", "benchmarks", "scripts", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "featbus" / "_compat.py":
                continue
            if found := _private_imports(path):
                offenders[str(path.relative_to(ROOT))] = found
    for path in sorted((ROOT / "tests").glob("*.py")):  # the tests compare with scikit-learn's own, by design
        if path.name != "test_compat.py" and (found := _private_imports(path)):
            offenders[str(path.relative_to(ROOT))] = found
    assert not offenders, offenders
