"""mini-MIAS as a release's source: ``mdbNNN.pgm`` files at the folder's top with the ``Info.txt``
that labels them (:func:`featbus.datasets.mias.parse_mias_info`), the two breasts of a woman one
patient. Its file is no table of image names, so it is recognised by the folder (:func:`recognise`)
and read whole (:func:`read`: the release, by :func:`featbus.datasets.mias.mias_release`)."""

from __future__ import annotations

from pathlib import Path

from ._base import ReleaseError

__all__ = ["NAME", "read", "recognise"]

NAME = "mini-MIAS Info.txt"


def recognise(root: Path, images: list[Path]) -> bool:
    """Whether ``root`` is a mini-MIAS folder: an ``Info.txt`` beside ``mdb*`` images at its top."""
    return (root / "Info.txt").is_file() and any(f.parent == Path(".") and f.stem.lower().startswith("mdb")
                                                 for f in images)


def read(root: Path, images: list[Path], left_out: list, *, options: dict, group_pattern: str | None = None):
    """The release of the folder's top-level images, labelled by ``Info.txt``; an option naming a
    table's column or mask files (``options``: given ones not None) refused, named."""
    refused = [k for k, v in options.items() if v is not None]
    if refused:
        raise ReleaseError(f"{' and '.join(refused)}: {str(root)!r} is a mini-MIAS folder, labelled by its "
                           "Info.txt (no table of image names, no mask files): drop the option")
    from ..mias import mias_release

    return mias_release(root, [f for f in images if f.parent == Path(".")], left_out, group_pattern=group_pattern)
