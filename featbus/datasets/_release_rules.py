"""The rules of reading a release over the layout words of :mod:`featbus.vocabulary`: whether a
folder holds masks or is a container, a mask file's stem and word, the keys an image is found by, the
class a label cell spells, a pixel-size column and cell. :mod:`featbus.datasets.release` reads a
release with these rules and no branch per data set."""

from __future__ import annotations

import math
import re
from pathlib import Path

from .._registry import did_you_mean
from ..vocabulary import (
    CONTAINER_FOLDERS,
    IMAGE_WORDS,
    IMAGES_TOO,
    LABEL_SPELLINGS,
    LETTER_SPELLINGS,
    MASK_FOLDER,
    MASK_WORDS,
    PIXEL_SIZE_COLUMNS,
    PIXEL_UNITS,
    RENAMINGS,
    SPLIT_FOLDERS,
    SPLITS,
)
from ._common import IMAGE_EXTENSIONS
from .sources._base import ReleaseError

__all__ = ["IMAGE_SUFFIXES", "class_of_value", "column_key", "expected_class", "folder_split", "is_container",
           "is_mask_folder", "mask_parts", "original_stem", "pixel_size_cell", "pixel_size_column", "split_counts",
           "split_of", "stem_keys"]

#: Image files (as :mod:`featbus.io` reads them).
IMAGE_SUFFIXES = IMAGE_EXTENSIONS
_WORDS = "|".join(sorted(MASK_WORDS, key=len, reverse=True))
_SEP = r"[\s_\-.]"
#: ``<stem><sep><word>[<sep><n>]`` (the word after the stem) and ``<word><sep><stem>`` (before it).
_AFTER = re.compile(rf"^(?P<core>.+?){_SEP}*(?P<word>{_WORDS}){_SEP}*(?P<n>\d+)?$", re.IGNORECASE)
_BEFORE = re.compile(rf"^(?P<word>{_WORDS})(?P<n>\d*){_SEP}+(?P<core>.+)$", re.IGNORECASE)


#: A split's word with the images' word beside it: RSNA's ``train_images/``, ``images_test/``, ``test_set/``.
_IMAGES_WORD = r"(?:images?|imgs?|png|jpe?g|dicom|dcm|data|set)"
_SPLIT_AFFIX = re.compile(rf"^{_IMAGES_WORD}|{_IMAGES_WORD}$")
#: nnU-Net's folders: ``imagesTr/``, ``imagesTs/`` (and their ``labelsTr/``, ``labelsTs/``).
_NNUNET = {"imagestr": "train", "imagests": "test", "labelstr": "train", "labelsts": "test"}


def split_of(value: str) -> str | None:
    """The split a folder name or a split column's value spells (:data:`SPLITS`, any case, alone or with
    an images' word beside it, nnU-Net's ``imagesTr``): ``"train"``, ``"valid"`` or ``"test"``; ``""`` for an
    empty value (no split given), None for any other.

    Examples
    --------
    >>> split_of("Validation"), split_of("TEST"), split_of(""), split_of("fold1"), split_of("train_images")
    ('valid', 'test', '', None, 'train')
    >>> split_of("imagesTs")  # nnU-Net's
    'test'
    """
    key = column_key(value)
    return (SPLITS.get(key) or SPLITS.get(_SPLIT_AFFIX.sub("", key)) or _NNUNET.get(key)) if key else ""


def folder_split(path) -> str | None:
    """The split the nearest folder above ``path`` (a relative path) spells (:func:`split_of`), None without one."""
    return next((split_of(p) for p in reversed(Path(path).parts[:-1]) if split_of(p)), None)


def split_counts(splits: list[str]) -> dict[str, int]:
    """Images per split (:attr:`~featbus.datasets._release_types.ReleaseSummary.splits`), in the order
    train, valid, test, then ``"no split"`` for the images without one (``""``)."""
    return {s or "no split": splits.count(s) for s in ("train", "valid", "test", "") if splits.count(s)}


def column_key(name: str) -> str:
    """A column or folder name compared without case, spaces, ``_`` or ``-``."""
    return re.sub(r"[\s_\-]+", "", str(name)).casefold()


def is_mask_folder(name: str) -> bool:
    """Whether a folder's name says it holds masks (:data:`MASK_FOLDER`) and not images as well.

    Examples
    --------
    >>> from featbus.datasets._release_rules import is_mask_folder
    >>> is_mask_folder("Masks"), is_mask_folder("GT"), is_mask_folder("BrEaST-Lesions_USG-images_and_masks")
    (True, True, False)
    """
    return bool(MASK_FOLDER.search(name)) and not IMAGES_TOO.search(name)


def is_container(name: str, release_name: str = "") -> bool:
    """Whether a folder name is a container (:data:`CONTAINER_FOLDERS`, or the release's own name)."""
    key = column_key(name)
    return (key in CONTAINER_FOLDERS or key in SPLIT_FOLDERS or bool(split_of(name))
            or (bool(release_name) and key == column_key(release_name)))


def mask_parts(stem: str) -> tuple[str, str] | None:
    """``(core, word)`` when a file stem carries a mask word before or after the rest, else ``None``.

    Examples
    --------
    >>> from featbus.datasets._release_rules import mask_parts
    >>> mask_parts("a (1)_mask_1"), mask_parts("mask_0001-l"), mask_parts("case001_other1")
    (('a (1)', 'mask'), ('0001-l', 'mask'), ('case001', 'other'))
    >>> mask_parts("case001") is None
    True
    """
    return next(((m.group("core").strip(" _-."), m.group("word").casefold()) for regex in (_AFTER, _BEFORE)
                 if (m := regex.match(stem)) and m.group("core").strip(" _-.")), None)


_IMAGE_WORDS = "|".join(IMAGE_WORDS)
_LEADING_IMAGE = re.compile(rf"^.*?(?:{_IMAGE_WORDS}){_SEP}+(?P<rest>.+)$", re.IGNORECASE)
_TRAILING_IMAGE = re.compile(rf"^(?P<rest>.+?){_SEP}+(?:{_IMAGE_WORDS})$", re.IGNORECASE)
_LEADING_WORD = re.compile(rf"^[a-z]+{_SEP}+(?P<rest>.+)$", re.IGNORECASE)


def original_stem(stem: str) -> tuple[str, str | None]:
    """``(stem before a labelling tool renamed the file, the renaming's name or None)`` (:data:`RENAMINGS`).

    Examples
    --------
    >>> from featbus.datasets._release_rules import original_stem
    >>> original_stem("P017_003_png.rf.0123456789abcdef0123456789abcdef")[0], original_stem("P017_003")
    ('P017_003', ('P017_003', None))
    """
    return next(((m.group("stem"), name) for name, regex in RENAMINGS.items() if (m := regex.match(stem))),
                (stem, None))


def stem_keys(stem: str) -> list[str]:
    """The keys an image's file stem is found by, any case: the stem, the stem without a leading word
    (``bus_0001-l`` -> ``0001-l``), without the words up to an image word (``Test_Image_4`` -> ``4``)
    and without a trailing image word (``1 Benign Image`` -> ``1 benign``).

    Examples
    --------
    >>> from featbus.datasets._release_rules import stem_keys
    >>> stem_keys("bus_0001-l"), stem_keys("Test_Image_4"), stem_keys("1 Benign Image")
    (['bus_0001-l', '0001-l'], ['test_image_4', 'image_4', '4'], ['1 benign image', '1 benign'])
    """
    s = original_stem(stem)[0].casefold()  # a labelling tool's renamed file is found by its name too
    rests = [m.group("rest") for regex in (_LEADING_WORD, _LEADING_IMAGE, _TRAILING_IMAGE) if (m := regex.match(s))]
    return list(dict.fromkeys([stem.casefold(), s, *rests]))


def letter_codes(values) -> bool:
    """Whether label cells ``values`` are class letters: each filled one ``B``, ``M`` or ``N``
    (:data:`LETTER_SPELLINGS`), so :func:`class_of_value` reads them as classes (``letters=True``).

    Examples
    --------
    >>> from featbus.datasets._release_rules import letter_codes
    >>> letter_codes(["B", "M", "m"]), letter_codes(["A", "B", "C", "D"])
    (True, False)
    """
    return all(str(v).strip().casefold() in LETTER_SPELLINGS for v in values if str(v).strip())


def class_of_value(value: str, *, letters: bool = False) -> str | None:
    """The class a label cell spells (:data:`LABEL_SPELLINGS`), else ``None``."""
    v = re.sub(r"\s+", " ", str(value).strip().casefold())
    return next((c for c, spellings in LABEL_SPELLINGS.items()
                 if v in spellings and (letters or v not in LETTER_SPELLINGS)), None)


def expected_class(classes: list[str], label: str, spelt: str | None = None, where: str | None = None) -> str | None:
    """The first of the expected ``classes`` a label names as written (``label``) or as the class it spells
    (``spelt``, :func:`class_of_value`), ignoring case and surrounding spaces; None when none does, refused
    naming ``where`` (its row or image) and the nearest class when given.

    Examples
    --------
    >>> from featbus.datasets._release_rules import expected_class
    >>> expected_class(["Benign", "Malignant"], " MALIGNANT"), expected_class(["benign", "malignant"], "B", "benign")
    ('Malignant', 'benign')
    """
    keys = {label.strip().casefold(), (label if spelt is None else spelt).strip().casefold()}
    match = next((c for c in classes if c.strip().casefold() in keys), None)
    if match is None and where is not None:
        raise ReleaseError(f"{where}: label {label!r} is not one of the classes {classes}"
                           f"{did_you_mean(label.casefold(), [c.casefold() for c in classes])}")
    return match


_BRACKETS = re.compile(r"[()\[\]{}]")


def pixel_size_column(name: str) -> tuple[bool, str | None, float]:
    """``(is a pixel-size column by its name, its unit or None, millimetres per unit)``
    (:data:`PIXEL_SIZE_COLUMNS`, :data:`PIXEL_UNITS`).

    Examples
    --------
    >>> from featbus.datasets._release_rules import pixel_size_column
    >>> pixel_size_column("Pixel_size"), pixel_size_column("pixel size (cm)"), pixel_size_column("PixelSpacing")
    ((True, None, 1.0), (True, 'cm', 10.0), (True, 'mm', 1.0))
    >>> pixel_size_column("Width")[0]
    False
    """
    key = _BRACKETS.sub("", column_key(name))
    if key in PIXEL_SIZE_COLUMNS:
        unit = PIXEL_SIZE_COLUMNS[key]
        return True, unit, PIXEL_UNITS[unit] if unit else 1.0
    unit = next((u for u in sorted(PIXEL_UNITS, key=len, reverse=True)  # a unit the name states wins over the usual one
                 if key.endswith(u) and key.removesuffix(u).removesuffix("in") in PIXEL_SIZE_COLUMNS), None)
    return (True, unit, PIXEL_UNITS[unit]) if unit else (False, None, 1.0)


_NUMBERS = re.compile(r"[\s\\/,;x×]+")


def pixel_size_cell(text: str) -> tuple[float | None, str | None]:
    r"""``(size, None)`` from a pixel-size cell (one number, or two equal numbers as DICOM writes
    ``0.1\0.1``), else ``(None, why)``: empty, not a number, not positive, two that differ.

    Examples
    --------
    >>> from featbus.datasets._release_rules import pixel_size_cell
    >>> pixel_size_cell("0.0131"), pixel_size_cell("[0.1, 0.1]")
    ((0.0131, None), (0.1, None))
    >>> pixel_size_cell("abc")[1], pixel_size_cell("0")[1], pixel_size_cell("0.1\\0.2")[1]
    ('not a number', 'not positive', 'two spacings that differ (pixels not square)')
    """
    parts = [p for p in _NUMBERS.split(_BRACKETS.sub(" ", str(text)).strip()) if p]
    if not parts:
        return None, "empty"
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None, "not a number"
    if len(values) > 2 or not all(math.isfinite(v) for v in values):
        return None, "not a number"
    if min(values) <= 0:
        return None, "not positive"
    if len(values) == 2 and not math.isclose(values[0], values[1], rel_tol=1e-3):
        return None, "two spacings that differ (pixels not square)"
    return values[0], None
