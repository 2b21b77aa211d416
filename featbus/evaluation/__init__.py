"""The judges of held-out predictions.

:mod:`~featbus.evaluation.report` (:class:`Report`, :func:`evaluate`, :func:`compare`),
:mod:`~featbus.evaluation.validation` (external validation of a model file),
:mod:`~featbus.evaluation.sites` (what a site is, leave-one-site-out, per-site figures) and
:mod:`~featbus.evaluation.sanity` (the verdicts). The names below are imported lazily
(``featbus/evaluation/__init__.pyi``).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
