"""Shared machinery of the loaders: the Bunch layout, one image read with its masks, label spellings,
a site's default folder."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._records import PIXEL_SIZE_KEY, ImageError, ImageRecord
from ..io import _ON_ERROR, loaded_meta, mask_at_work, read_at_work, read_mask
from ._home import _default_homes, get_data_home


def _classes_text(target, classes) -> str:
    """``classes {name: count}`` for a data set's description (and how many images are unlabelled:
    a test split published without labels), or ``unlabelled``."""
    if not len(classes):
        return "unlabelled"
    target = np.asarray(target, dtype=int)
    counts = np.bincount(target[target >= 0], minlength=len(classes))
    none = int((target < 0).sum())
    return f"classes {dict(zip(classes, counts.tolist()))}" + (f" and {none} unlabelled" if none else "")


def _bunch(images, masks, target, target_names, paths, groups, metas, descr, **extra) -> Bunch:
    """Assemble the common Bunch layout (records share the arrays, no copies)."""
    data = [ImageRecord(im, m, p, meta) for im, m, p, meta in zip(images, masks, paths, metas)]
    return Bunch(
        images=list(images), masks=list(masks), target=np.asarray(target, dtype=int),
        target_names=np.asarray(target_names, dtype=str), paths=list(paths),
        groups=np.asarray(groups, dtype=int), data=data, DESCR=descr, **extra,
    )


#: The fields of a data set Bunch that hold one entry per image (:func:`subset` takes them).
PER_IMAGE_FIELDS = ("images", "masks", "paths", "data", "target", "groups", "sites", "group_ids", "split",
                    "abnormality", "tissue", "lesions", "mask_complete")


def subset(data: Bunch, idx) -> Bunch:
    """The images ``idx`` of a data set (a loader's Bunch), as a Bunch of the same layout.

    Every field with one entry per image (:data:`PER_IMAGE_FIELDS`: images, masks, paths,
    records, target, groups, sites...) is taken at ``idx``, lists as lists and arrays as arrays;
    every other field (``target_names``, ``DESCR``, ``site_names``, ``skipped``...) is kept as it is.

    Parameters
    ----------
    data : Bunch
        A data set of :mod:`featbus.datasets` (or of :func:`featbus.combine_sites`).
    idx : array-like of int
        Positions of the images to keep, in the order to keep them.

    Returns
    -------
    part : Bunch

    Examples
    --------
    >>> from featbus.datasets import make_phantoms, subset
    >>> data = make_phantoms(6, image_size=32, random_state=0)
    >>> part = subset(data, [0, 2])
    >>> len(part.data), part.target.tolist() == data.target[[0, 2]].tolist(), part.target_names is data.target_names
    (2, True, True)
    """
    idx = np.asarray(idx, dtype=int)
    out = Bunch(**data)
    for key, value in ((k, data[k]) for k in PER_IMAGE_FIELDS if data.get(k) is not None):
        array = isinstance(value, np.ndarray) or key in ("target", "groups", "sites", "group_ids", "split")
        out[key] = np.asarray(value)[idx] if array else [value[i] for i in idx]
    return out


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm", ".dcm")


def _check_loader_choices(on_error: str, groups) -> None:
    """Refuse a loader's unknown ``on_error`` or ``groups``."""
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    if groups not in ("duplicates", None):
        raise ValueError(f"groups must be 'duplicates' or None, got {groups!r}")


def _natural_key(name) -> list:
    """Sort 'benign (2)' before 'benign (10)' (a value that is no string by its text: a label 3 as '3')."""
    return [int(t) if t.isdecimal() else t.lower() for t in re.split(r"(\d+)", str(name))]  # "²": a digit, not decimal


def _pattern_regex(pattern: str, stem: str | None) -> re.Pattern:
    """Regex for a mask file-name pattern with ``{stem}`` and shell wildcards ``*``/``?``."""
    if pattern.count("{stem}") != 1:
        raise ValueError(f"mask_pattern must contain '{{stem}}' exactly once, got {pattern!r}")
    before, after = pattern.split("{stem}")

    def wild(part: str) -> str:
        return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in part)

    middle = "(?P<stem>.+)" if stem is None else re.escape(stem)
    return re.compile(f"^{wild(before)}{middle}{wild(after)}$", re.IGNORECASE)


def _read_keeping_image(item, index: int):
    """One image of :meth:`~featbus.datasets.Release.to_bunch` at its working size (:data:`featbus.io.WORK_PIXELS`)
    with the union of its masks: ``(image, mask, None, meta)``, ``meta`` holding ``"file_shape"`` where the file
    was reduced. A mask that does not fit or cannot be read is dropped, the image kept for the caller to refuse
    or skip: ``(image, empty mask, why, meta)``. An unreadable image: ``("error", path, reason)``."""
    image_path, mask_paths = item
    info: dict = {}
    try:
        image = read_at_work(image_path, info)
    except (ImageError, FileNotFoundError) as exc:
        return ("error", str(image_path), getattr(exc, "reason", str(exc)))
    with warnings.catch_warnings():  # a 'FOR PROCESSING' frame is named once for the release, by its reader
        warnings.simplefilter("ignore", UserWarning)
        meta = loaded_meta(info, image, image_path)
    meta.pop(PIXEL_SIZE_KEY, None)  # the release reader states the pixel sizes (a table's, a header's)
    if info.get("shape", image.shape) != image.shape:
        meta["file_shape"] = info["shape"]
    try:
        files = [m for m in mask_paths if not hasattr(m, "render")]  # a mask drawn by an annotation file renders
        mask = read_mask(files, shape=image.shape) if files else np.zeros(image.shape[:2], bool)
        for drawn in (m for m in mask_paths if hasattr(m, "render")):
            size = tuple(info.get("shape", image.shape)[:2])  # the file's: drawn at another, never rendered
            if tuple(drawn.size) != size:
                raise ImageError(f"drawn at {drawn.size[1]}x{drawn.size[0]}, the image is {size[1]}x{size[0]}",
                                 path=str(drawn))
            mask |= mask_at_work(drawn.render(), image.shape[:2])
        return image, mask, None, meta
    except (ImageError, FileNotFoundError, ValueError) as exc:
        mask = getattr(exc, "path", None) or mask_paths[0]
        return image, np.zeros(image.shape, bool), (f"mask {Path(str(mask)).name!r} of image "
                                                    f"{Path(str(image_path)).name!r}: "
                                                    f"{getattr(exc, 'reason', str(exc))}"), meta


#: The shortest word :func:`plausible_typo` takes for a typo of another: shorter labels are codes
#: (LP, LN, FA, FAD, IDC, ILC, DCIS, LCIS) whose one-letter differences are different findings.
TYPO_MIN_LENGTH = 5


#: A grade: a number with an optional letter (``4``, ``4a``) or a single letter (``A``).
_GRADE = re.compile(r"^(\d+[a-z]?|[a-z])$")


def plausible_typo(a: str, b: str) -> bool:
    """Whether one label is plausibly a typo of another, so that featbus may say "a misspelling".

    The rule: the two differ only in case or surrounding spaces (``'Malignant '`` and
    ``'malignant'``), or both are at least :data:`TYPO_MIN_LENGTH` characters long and one edit
    apart (one letter added, dropped, changed, or two neighbouring letters swapped: ``'benigm'``
    and ``'benign'``). Different words are never typos: short codes (``'LP'`` and ``'LN'``,
    ``'FA'`` and ``'FAD'``, ``'DCIS'`` and ``'LCIS'``), a word inside another (``'normal'``,
    ``'abnormal'``) and graded classes, which differ in their grade alone (``'BI-RADS 4'`` and
    ``'BI-RADS 5'``, ``'DENSITY A'`` and ``'DENSITY B'``, ``'4a'`` and ``'4b'``).

    Examples
    --------
    >>> from featbus.datasets._common import plausible_typo
    >>> plausible_typo("benigm", "benign"), plausible_typo("Malignant ", "malignant")
    (True, True)
    >>> plausible_typo("LP", "LN"), plausible_typo("FA", "FAD"), plausible_typo("DCIS", "LCIS")
    (False, False, False)
    >>> plausible_typo("malginant", "malignant"), plausible_typo("normal", "abnormal")
    (True, False)
    >>> plausible_typo("BI-RADS 5", "BI-RADS 4"), plausible_typo("DENSITY A", "DENSITY B")
    (False, False)
    """
    x, y = str(a).strip().casefold(), str(b).strip().casefold()
    if x == y:
        return True
    words = re.findall(r"[0-9a-z]+", x), re.findall(r"[0-9a-z]+", y)
    differ = [(u, v) for u, v in zip(*words) if u != v]  # two grades of one scale: the same words but one grade
    graded = len(words[0]) == len(words[1]) and len(differ) == 1 and all(_GRADE.match(t) for t in differ[0])
    if min(len(x), len(y)) < TYPO_MIN_LENGTH or x in y or y in x or graded:
        return False
    i = next((k for k, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))  # one edit from there on
    return (x[i + 1:] in (y[i:], y[i + 1:]) or x[i:] == y[i + 1:]
            or x[i:i + 2] == y[i:i + 2][::-1] and x[i + 2:] == y[i + 2:])


def _check_label_spellings(labels: Sequence[str], where: str) -> None:
    """Refuse labels that differ only in case or surrounding spaces (``'Benign '`` beside
    ``'benign'``): two spellings of one class would silently become two classes.

    Examples
    --------
    >>> _check_label_spellings(["benign", "malignant"], "a table")
    >>> _check_label_spellings(["benign", "Benign ", "malignant"], "a table")
    Traceback (most recent call last):
    ...
    ValueError: labels 'Benign ' and 'benign' of a table differ only in case or surrounding spaces: ...
    """
    spellings: dict[str, list[str]] = {}
    for label in labels:
        spellings.setdefault(str(label).strip().casefold(), []).append(str(label))
    for names in spellings.values():
        if len(names) > 1:
            raise ValueError(f"labels {' and '.join(map(repr, sorted(names)))} of {where} differ only in case or "
                             "surrounding spaces: write one class one way (featbus would read them as "
                             f"{len(names)} classes)")


def _data_root(root, key: str, name: str, holding: str):
    """``root``, else the site folder ``key`` (``busi``...) in :func:`~featbus.get_data_home` (``$FEATBUS_DATA``
    first), else in its default folders (``../shared/data``...); neither: a :class:`FileNotFoundError` saying
    what ``root=`` names (``holding``) for the data set ``name``."""
    if root is not None:
        return root
    homes = [get_data_home(), *_default_homes()]
    found = next((home / key for home in homes if (home / key).is_dir()), None)
    if found is None:
        raise FileNotFoundError(f"{name} not found: pass root= ({holding}) or set FEATBUS_DATA to the folder "
                                f"holding {key}/")
    return found
