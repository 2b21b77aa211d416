"""Progress of a command's long work (validate, adapt, predict, compare, segment), as train has it:
a bar on a terminal, a line at the start and every 30 s in a log (:func:`featbus.progress.task_progress`).

A command hands the library function its stages, which show themselves as the work reaches them
(the model's pass over the images, the image check...)::

    result = validate(model, data, progress=command_stages(args, f"validate {Path(args.model).name}"))

Work a library function does not count is shown as it runs::

    with command_progress(args, f"segment predict {args.segmenter}", len(paths)) as bar:
        table = counted(segment_table, bar)(paths)

``counted`` runs a function of a list of images in chunks and advances the bar by each chunk;
the rows of the chunks are stacked, so it stands in for the function wherever its rows are one
per image (features, probabilities, a table)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..progress import Stages, task_progress

__all__ = ["command_progress", "command_stages", "counted", "CHUNK"]

#: Images per chunk of counted work: small enough that a bar moves, large enough for a network's batch.
CHUNK = 64


def command_progress(args, desc: str, total: int | None = None, unit: str = "img"):
    """The progress display of a command's work: off with ``--quiet``, else a bar on a terminal or
    log lines (:func:`featbus.progress.task_progress`)."""
    return task_progress(False if getattr(args, "quiet", False) else "auto", desc, total, unit)


def command_stages(args, desc: str) -> Stages:
    """The stages of a command's work, for a library function's ``progress=``
    (:class:`featbus.progress.Stages`): off with ``--quiet``, else a bar per stage on a terminal or
    log lines."""
    return Stages(False if getattr(args, "quiet", False) else "auto", desc)


def counted(func: Callable[[list], Any], bar, size: int = CHUNK) -> Callable[[Any], Any]:
    """``func`` of a list of images, run ``size`` images at a time, each chunk advancing ``bar``;
    the chunks' results stacked (arrays: rows; pandas tables: rows, index renumbered)."""

    def run(images, *args, **kwargs):
        items = list(images)
        parts = []
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            parts.append(func(chunk, *args, **kwargs))
            bar.update(len(chunk))
        if not parts:
            return func(items, *args, **kwargs)
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        if hasattr(first, "iloc"):  # a pandas table
            import pandas as pd

            return pd.concat(parts, ignore_index=True)
        import numpy as np

        return np.concatenate([np.asarray(p) for p in parts])

    return run
