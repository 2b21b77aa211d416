"""Modules that moved into featbus's packages: their old import paths keep working, and warn once.

featbus's flat modules went into folders along the layers (``featbus.model_format`` is
:mod:`featbus.model.format`, ``featbus.sites`` is :mod:`featbus.evaluation.sites`...). No file
stays at an old place: :class:`MovedFinder`, put on :data:`sys.meta_path` by
``featbus/__init__.py``, answers an old name with the module at its new place (the same module
object, so ``featbus.sites.combine_sites is featbus.evaluation.sites.combine_sites``) and warns
with a :class:`FutureWarning` that says where it went; Python imports a name once, so it warns
once. Reading a model file written before the move (its pickled or skops type names give the old
modules) must not warn the user, who did nothing: the loader reads it inside :func:`quietly`.

Examples
--------
>>> import warnings
>>> from featbus import _moved
>>> _moved.new_name("featbus.model_format.read_manifest")
'featbus.model.format.read_manifest'
>>> _moved.new_name("featbus.scaling.FamilyScaler")
'featbus.scaling.FamilyScaler'
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Iterator

__all__ = ["MOVED", "MovedFinder", "install", "new_name", "quietly"]

#: old module -> the module it is now (one table; featbus/__init__.py installs the finder over it)
MOVED: dict[str, str] = {
    "featbus.model_format": "featbus.model.format",
    "featbus._model_trust": "featbus.model._trust",
    "featbus.runtime": "featbus.model.runtime",
    "featbus.domain": "featbus.model.domain",
    "featbus.validation": "featbus.evaluation.validation",
    "featbus.sites": "featbus.evaluation.sites",
    "featbus.sanity": "featbus.evaluation.sanity",
    "featbus.recipes": "featbus.pipelines.recipes",
    "featbus.settings": "featbus.pipelines.settings",
    "featbus.ingredients": "featbus.pipelines.ingredients",
    "featbus._samplers": "featbus.pipelines._samplers",
    "featbus.encoded_labels": "featbus.pipelines.encoded_labels",
    "featbus.augmentation": "featbus.networks.augmentation",
    "featbus.training": "featbus.networks.training",
    "featbus._backend": "featbus.networks._backend",
    "featbus.segmentation.augmentation": "featbus.networks.augmentation",
    "featbus.model_training": "featbus.workflows.training",
    "featbus.adaptation": "featbus.workflows.adaptation",
    "featbus.explain": "featbus.deploy.explain",
    "featbus.plotting": "featbus.deploy.plotting",
    "featbus.export": "featbus.deploy.export",
    "featbus.app": "featbus.deploy.app",
    "featbus.reporting": "featbus.evaluation.reporting",
    "featbus.provenance": "featbus.model.provenance",
    "featbus.extraction": "featbus.compute.extraction",
    "featbus.scaling": "featbus.compute.scaling",
    "featbus.distributed": "featbus.compute.distributed",
    "featbus.estimator_checks": "featbus.testing.estimator_checks",
    "featbus.preprocessing.roi": "featbus.segmentation.roi",
}

_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("featbus_moved_quiet", default=False)


def new_name(name: str) -> str:
    """``module.attribute`` (or a module) under its new module path; other names unchanged."""
    for old, new in MOVED.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old):]
    return name


@contextlib.contextmanager
def quietly() -> Iterator[None]:
    """Old module paths imported inside this block do not warn (a model file that names them)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


class MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module path of :data:`MOVED` with the module at its new place."""

    def __init__(self):
        self._specs: dict[str, object] = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = MOVED[spec.name]
        if not _quiet.get():
            warnings.warn(f"{spec.name} moved to {new}; import it from there (the old path goes in a "
                          "later release)", FutureWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        # the import system set the old name's spec on the module: give it back its own
        module.__spec__ = self._specs.pop(module.__spec__.name)


def install() -> None:
    """Put one :class:`MovedFinder` first on :data:`sys.meta_path` (before any finder that could
    find a stale file of an old name elsewhere, e.g. an editable install's)."""
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())
