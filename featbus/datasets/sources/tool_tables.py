"""An image's one class from its annotations (:func:`one_class`), for the labelling tools' sources
(:mod:`featbus.datasets.sources`)."""

from __future__ import annotations

from ..._records import LeftOut

__all__ = ["one_class"]


def one_class(got, image: str, classes: set, unannotated: str, two: str, none: str) -> str | None:
    """The class of ``image`` whose annotations give ``classes`` (``normal`` for none), else ``None``, the
    image left out in ``got``, named: two classes (``two`` says where, the classes follow), or none where
    ``unannotated`` leaves such images out (``none`` says why)."""
    if len(classes) > 1 or not classes and unannotated != "normal":
        got.left_out.append(LeftOut(image, "two labels", f"{two} {', '.join(sorted(map(str, classes)))}")
                            if classes else LeftOut(image, "no annotation", none))
        return None
    return str(next(iter(classes), "normal"))
