"""The same image under two labels: found (identical pixels, or one near-duplicate group) and resolved."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch

from ._common import subset

__all__ = ["CONFLICT_RESOLUTIONS", "CONFLICT_KINDS", "SAME_IMAGE_BITS", "LabelConflict", "label_conflicts",
           "conflicts_text", "resolve_label_conflicts"]

#: How ``featbus train --conflicting-labels`` resolves them: ``refuse`` (the default: identical images
#: are an error naming the files, the other kinds named), else as :func:`resolve_label_conflicts` says.
CONFLICT_RESOLUTIONS = ("refuse", "drop", "first", "keep")


#: Whole-image perceptual hashes (:func:`featbus.model_selection.image_hashes`) this many bits
#: apart or closer are one image: on BUSI every cross-label pair at 0 to 2 bits is the same frame
#: saved twice (a few rows cropped), while distinct synthetic images of one layout lie 4 bits and
#: more apart (the near-duplicate threshold is 10 bits).
SAME_IMAGE_BITS = 2


class LabelConflict(NamedTuple):
    """One group of images under two or more labels."""

    #: the images' indices, in reading order
    indices: np.ndarray
    #: one of :data:`CONFLICT_KINDS`, as :func:`label_conflicts` tells them (``"identical"``: a file copied
    #: into two class folders; ``"near-duplicates"``: perhaps the same lesion, perhaps two alike)
    kind: str


#: The kinds of :class:`LabelConflict`, from the most certain.
CONFLICT_KINDS = ("identical", "same frame", "near-duplicates")


def _components(n: int, groupings) -> np.ndarray:
    """The component labels of the union of several groupings: ``(rows, cols)`` pairs, or label arrays (each
    image linked to the first of its label)."""
    from ..model_selection import _groups_from_pairs

    rows, cols = [np.zeros(0, int)], [np.zeros(0, int)]
    for grouping in groupings:
        if not isinstance(grouping, tuple):
            _, first, inverse = np.unique(np.asarray(grouping), return_index=True, return_inverse=True)
            grouping = (np.arange(n), first[inverse.reshape(-1)])
        rows.append(np.asarray(grouping[0], dtype=int))
        cols.append(np.asarray(grouping[1], dtype=int))
    return _groups_from_pairs(n, np.concatenate(rows), np.concatenate(cols))


def label_conflicts(data: Bunch, *, near: bool = True, n_jobs: int | None = None) -> list[LabelConflict]:
    """The groups of images that are one image, or near-duplicates, under two or more labels.

    Two images are one image when their pixels are identical (kind ``"identical"``), or the same
    frame when their whole-image perceptual hashes lie within :data:`SAME_IMAGE_BITS` bits (saved
    twice, a few rows cropped: ``"same frame"``; smooth synthetic images of one layout can be that
    close too). With ``near``, images of one near-duplicate group
    (:func:`featbus.duplicate_groups`: the same frame shifted or cropped, or a neighbouring frame)
    under two labels are reported too (``"near-duplicates"``). A data set whose ``groups``
    are near-duplicate groups already (``Bunch.near_duplicate_groups``: a folder of class folders)
    is not grouped again; one whose groups are patients or women (a manifest's ``group`` column,
    BUS-BRA's ``Case``, mini-MIAS) is, since one patient may rightly have a benign and a malignant lesion.

    Parameters
    ----------
    data : Bunch
        A labelled data set of :mod:`featbus.datasets`.
    near : bool, default=True
        Near-duplicate groups too, not only the same image.
    n_jobs : int, optional
        Parallel workers for hashing.

    Returns
    -------
    list of LabelConflict
        Each conflicting group's image indices and its kind (:data:`CONFLICT_KINDS`), the most
        certain first; a group is reported once, as its most certain kind; empty when none.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from featbus.datasets.conflicts import label_conflicts
    >>> a, b = np.zeros((16, 16), np.uint8), np.eye(16, dtype=np.uint8) * 255
    >>> data = Bunch(images=[a, b, a.copy()], target=np.array([0, 0, 1]), target_names=np.array(["x", "y"]))
    >>> [(c.indices.tolist(), c.kind) for c in label_conflicts(data, near=False)]
    [([0, 2], 'identical')]
    """
    from ..model_selection import duplicate_groups, hash_pairs, image_hashes

    target = np.asarray(data.target, dtype=int)
    n = target.size
    if n == 0 or np.unique(target).size < 2:
        return []
    images = data.data if getattr(data, "data", None) is not None else data.images
    exact = np.asarray(duplicate_groups(images, mode="exact", n_jobs=n_jobs))
    rows, cols, _ = hash_pairs(image_hashes(images, n_jobs=n_jobs), SAME_IMAGE_BITS)
    labellings = [exact, _components(n, [exact, (rows, cols)])]
    if near:  # groups that are near-duplicate groups already (a folder of class folders) are not grouped again
        given = getattr(data, "groups", None)
        grouped = given is not None and getattr(data, "near_duplicate_groups", False) and len(given) == n
        near_groups = np.asarray(given) if grouped else duplicate_groups(images, n_jobs=n_jobs)
        labellings.append(_components(n, [labellings[1], near_groups]))
    out: list[LabelConflict] = []
    for kind, labels in zip(CONFLICT_KINDS, labellings):  # each kind's groups under two or more targets
        order = np.argsort(labels, kind="stable")
        members = sorted(np.split(order, np.flatnonzero(np.diff(labels[order])) + 1), key=lambda m: m[0])
        taken = {int(i) for c in out for i in c.indices}
        out += [LabelConflict(m, kind) for m in members
                if np.unique(target[m]).size > 1 and not set(m.tolist()) <= taken]
    return out


def _name(data: Bunch, i: int, root: str | None) -> str:
    paths = getattr(data, "paths", None)
    if not paths:
        return f"image {i}"
    try:
        return os.path.relpath(str(paths[i]), root) if root else str(paths[i])
    except ValueError:  # another drive (Windows)
        return str(paths[i])


def conflicts_text(data: Bunch, conflicts: Sequence[np.ndarray], *, shown: int = 3, root: str | None = None) -> str:
    """The conflicting groups in words: ``'a.png' (benign) = 'b.png' (malignant); ... and N more``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> data = Bunch(paths=["b/a.png", "m/a.png"], target=np.array([0, 1]), target_names=np.array(["b", "m"]))
    >>> conflicts_text(data, [np.array([0, 1])])
    "'b/a.png' (b) = 'm/a.png' (m)"
    """
    names = np.asarray(data.target_names, dtype=str)
    target = np.asarray(data.target, dtype=int)
    parts = [" = ".join(f"{_name(data, i, root)!r} ({names[target[i]]})" for i in getattr(group, "indices", group))
             for group in conflicts[:shown]]
    more = f"; and {len(conflicts) - shown} more group(s)" if len(conflicts) > shown else ""
    return "; ".join(parts) + more


def resolve_label_conflicts(data: Bunch, conflicts: Sequence[np.ndarray], how: str) -> tuple[Bunch, list[int]]:
    """The data set with its conflicting groups resolved as ``how`` says, and the images left out.

    Parameters
    ----------
    data : Bunch
    conflicts : list of LabelConflict or of index arrays
        From :func:`label_conflicts`.
    how : {"drop", "first", "keep"}
        ``drop``: leave out every image of each group; ``first``: keep the images that carry the
        label of the group's first image (in reading order), leave out the others; ``keep``: nothing.

    Returns
    -------
    data : Bunch
    left_out : list of int
        Indices (into the data set given) of the images left out.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.datasets import make_phantoms
    >>> from featbus.datasets.conflicts import resolve_label_conflicts
    >>> data = make_phantoms(4, image_size=16, random_state=0)
    >>> group = np.array([0, 1]) if data.target[0] != data.target[1] else np.array([0, 2])
    >>> kept, out = resolve_label_conflicts(data, [group], "first")
    >>> len(kept.target), out == [int(group[1])]
    (3, True)
    """
    if how not in CONFLICT_RESOLUTIONS[1:]:
        raise ValueError(f"how must be one of {list(CONFLICT_RESOLUTIONS[1:])}, got {how!r}")
    if how == "keep" or not conflicts:
        return data, []
    target = np.asarray(data.target, dtype=int)
    groups = [np.asarray(getattr(group, "indices", group), dtype=int) for group in conflicts]
    out = [int(i) for g in groups for i in (g if how == "drop" else g[target[g] != target[g[0]]])]
    keep = np.setdiff1d(np.arange(target.size), out)
    return subset(data, keep), sorted(out)
