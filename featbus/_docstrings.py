"""Moved to :mod:`featbus._docs` (one table, one fill function); this name goes once its importers moved."""

from ._docs import RENAMED, renamed
from ._docs import fill_doc as fill_network_doc

__all__ = ["RENAMED", "fill_network_doc", "renamed"]
