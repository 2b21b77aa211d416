"""Workflows over a model: training one (cross-validation, operating point, provenance) and adapting one to a site."""
