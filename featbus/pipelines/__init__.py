"""Names -> pipelines -> recipes -> settings files.

:mod:`~featbus.pipelines.make` (pipelines from names: :func:`make_classification_pipeline`,
:func:`param_grid`), :mod:`~featbus.pipelines.ingredients` (classifiers, samplers and selectors
by name), :mod:`~featbus.pipelines.recipes` (the named recipes) and
:mod:`~featbus.pipelines.settings` (settings files). The names below are imported lazily
(``featbus/pipelines/__init__.pyi``).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
