"""A downstream project's use of featbus (see ``classify``)."""

from .classify import build_search, fit_sample, main

__all__ = ["build_search", "fit_sample", "main"]
