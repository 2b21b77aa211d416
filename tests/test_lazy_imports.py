"""The lazy public names: one mechanism (lazy_loader.attach_stub and a ``.pyi`` stub per package),
every listed name resolves, and every registered estimator is reachable from ``featbus``."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from featbus._registry import ESTIMATORS, FEATURES

PACKAGE = Path(__file__).resolve().parents[1] / "featbus"
LAZY_PACKAGES = ["featbus", "featbus.features", "featbus.preprocessing", "featbus.segmentation"]


def _stub_names(package: str) -> set[str]:
    """The names a package's ``__init__.pyi`` imports."""
    path = PACKAGE.joinpath(*package.split(".")[1:], "__init__.pyi")
    tree = ast.parse(path.read_text())
    return {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names}


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_name_in_all_resolves(package):
    module = importlib.import_module(package)
    assert set(module.__all__) == _stub_names(package)
    missing = []
    for name in module.__all__:
        try:
            getattr(module, name)
        except (AttributeError, ImportError) as exc:  # a drifted stub: the module lacks the name
            missing.append(f"{name}: {exc}")
    assert not missing, f"{package}.__all__ names that do not resolve:\n" + "\n".join(missing)
    assert set(dir(module)) >= set(module.__all__)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_unknown_name_is_an_attribute_error(package):
    module = importlib.import_module(package)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018
    assert not hasattr(module, "no_such_name")


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_registered_estimator_is_reachable(name):
    """Each estimator of the registry is ``featbus.<name>`` (and ``featbus.<subpackage>.<name>``
    where its module is in one), and is the class its entry's module defines."""
    import featbus

    entry = ESTIMATORS[name]
    cls = getattr(importlib.import_module(entry.module), name)
    assert getattr(featbus, name) is cls
    for package in LAZY_PACKAGES[1:]:
        if entry.module.startswith(package + "."):
            assert getattr(importlib.import_module(package), name) is cls, f"{package}.{name}"


def test_feature_families_export_their_functions():
    import featbus.features

    for family, (module, _) in FEATURES.items():
        if not ESTIMATORS[FEATURES[family][1]].backend:
            for fn in (f"{family}_features", f"{family}_feature_names"):
                assert fn in featbus.features.__all__, fn
                assert getattr(featbus.features, fn) is getattr(importlib.import_module(module), fn)


def test_preprocessing_roi_flag_resolves():
    """It was missing from the hand-written list (issue 44)."""
    from featbus.preprocessing import RoiFoundFlag
    from featbus.segmentation.roi import RoiFoundFlag as defined

    assert RoiFoundFlag is defined


def test_import_featbus_imports_no_submodule():
    code = ("import sys, featbus, featbus.features, featbus.preprocessing, featbus.segmentation\n"
            "heavy = [m for m in ('sklearn', 'tensorflow', 'keras', 'featbus.pipelines', 'featbus.features.hog',"
            " 'featbus.segmentation.unet', 'featbus.model') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_pipelines_imports_what_it_builds():
    """Every module the registry's feature and preprocessing names build from is a plain import
    of featbus.pipelines (not a string it loads), so readers and tools follow it."""
    from featbus._registry import PREPROCESSORS
    from featbus.pipelines import make as pipelines

    built = {module for module, _ in FEATURES.values()} | {module for module, _, _ in PREPROCESSORS.values()}
    assert built <= set(pipelines._BUILDS)
    for module, cls in FEATURES.values():
        assert pipelines._class(module, cls) is getattr(importlib.import_module(module), cls)
