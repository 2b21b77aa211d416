"""Parameter texts shared by many docstrings, written once (nilearn's ``fill_doc`` habit).

A docstring names a shared text as ``%(name)s`` on a line of its own, indented as the
parameter it stands for; :func:`fill_doc` puts the text in, indented to match. Only names of
:data:`DOCDICT` are replaced, so other ``%`` signs in a docstring stay as they are.
"""

from __future__ import annotations

import re
from typing import TypeVar

__all__ = ["DOCDICT", "fill_doc"]

#: name -> parameter text (numpydoc: the first line, then the description indented by 4).
DOCDICT: dict[str, str] = {
    "empty_mask": '''empty_mask : {"image", "raise"}, default="image"
    What an empty mask means with ``region != "image"``: use the whole image, or raise.''',
    "n_jobs": '''n_jobs : int or None, default=None
    Images processed in parallel (joblib); ``None``: one at a time, the default because two
    jobs did not pay enough to be worth the memory on a shared 2-core machine: worker processes
    ran the 625 BUSI images at 0.94x (+23 % CPU, 1.8x peak memory), threads (what a union of
    families uses) at 1.28x (``benchmarks/parallel_extraction.py``; see the scaling guide).''',
    "cache": '''cache : None, False, str, path or joblib.Memory, default=None
    Where computed rows are kept (see :mod:`featbus.extraction`): ``None``, in this process
    (and in the folder ``$FEATBUS_CACHE`` names, if set); a folder, also on disk, shared
    between processes and runs; ``False``, nowhere.''',
    "progress": '''progress : bool or "auto", default="auto"
    Progress bar over the images computed; ``"auto"``: only when standard error is a terminal.''',
}

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", re.M)

T = TypeVar("T")


def fill_doc(obj: T) -> T:
    """Replace the ``%(name)s`` lines of ``obj.__doc__`` by the shared texts of :data:`DOCDICT`.

    Raises
    ------
    KeyError
        A placeholder names no shared text (a typo would otherwise reach the docs).

    Examples
    --------
    >>> @fill_doc
    ... class Extractor:
    ...     '''Parameters
    ...     ----------
    ...     %(n_jobs)s
    ...     '''
    >>> print(Extractor.__doc__.splitlines()[2].strip())
    n_jobs : int or None, default=None
    """

    def text(match: re.Match) -> str:
        indent, name = match.group(1), match.group(2)
        if name not in DOCDICT:
            raise KeyError(f"{getattr(obj, '__qualname__', obj)!r}: no shared docstring text {name!r}; "
                           f"choose from {sorted(DOCDICT)}")
        return "\n".join(indent + line if line else line for line in DOCDICT[name].splitlines())

    if obj.__doc__:
        obj.__doc__ = _PLACEHOLDER.sub(text, obj.__doc__)
    return obj
