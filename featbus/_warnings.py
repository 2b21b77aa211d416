"""Where a warning points: the first line outside featbus (the user's script), not featbus's own code."""

from __future__ import annotations

import inspect
import os

__all__ = ["find_stack_level"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_TESTS_DIR = os.path.join(os.path.dirname(_PACKAGE_DIR), "tests")


def find_stack_level() -> int:
    """The ``stacklevel`` of :func:`warnings.warn` that names the first frame outside featbus.

    A warning raised deep in featbus (a loader called by ``load_data``, called by the user's
    script) then points at the user's line, whatever the depth of the call (pandas'
    ``find_stack_level`` does the same). Frames of featbus's own tests count as outside.

    Returns
    -------
    int

    Examples
    --------
    >>> import warnings
    >>> from featbus._warnings import find_stack_level
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("here", UserWarning, stacklevel=find_stack_level())
    >>> "featbus" + os.sep + "_warnings.py" in caught[0].filename
    False
    """
    frame = inspect.currentframe()
    level = 0
    try:
        # level 1 is the caller of warnings.warn (where find_stack_level was called)
        while frame is not None:
            name = os.path.abspath(inspect.getfile(frame))
            if level and (not name.startswith(_PACKAGE_DIR + os.sep) or name.startswith(_TESTS_DIR + os.sep)):
                break
            frame = frame.f_back
            level += 1
    finally:
        del frame
    return max(level, 1)
