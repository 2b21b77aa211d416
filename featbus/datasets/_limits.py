"""The bounds of reading a release: :mod:`featbus._limits` (one module; here under the name the data-set
readers import it by)."""

from .._limits import *  # noqa: F403
from .._limits import __all__  # noqa: F401
