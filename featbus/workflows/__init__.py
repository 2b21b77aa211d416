"""Workflows that make or change a model file.

* :mod:`featbus.workflows.training`: :func:`train_model`, training as steps over one run record
  (data, parts, fit, figures, operating point, provenance).
* :mod:`featbus.workflows.adaptation`: :func:`adapt`, a model adapted to a site (statistics, operating
  points).
"""
