"""Patients from file names: a release whose only patient record is the file name's prefix
(``ABCD_012.png``, ``ABCD_013.png`` -> patient ``ABCD``), proposed when the names share that
shape, or given as a regular expression (``group_pattern=``, ``--group-pattern``).

The one place the rule lives: class folders, manifests and hospital exports without a patient
column call :func:`name_groups` before they would group near-duplicates.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._release_rules import class_of_value, original_stem, split_of

__all__ = ["PREFIX_NUMBER", "SIDE_VIEW", "name_groups", "pattern_groups", "propose_prefix_groups"]

#: The file-name shape whose prefix names a patient: a prefix, then ``_``, ``-``, ``@`` or spaces, then a
#: number at the end of the file stem (``ABCD_012``, ``case 7-3``, ``P0012_1``, BUS-CoT's ``000000@1``).
PREFIX_NUMBER = re.compile(r"^(?P<prefix>.+?)[\s_\-@]+\d+$")
#: A mammogram's file name that says the breast's side and view: the patient before them, ``<patient>_<side>_<view>``
#: (CMMD's conversions, ``D1-0001_L_CC``; INbreast's ``<file>_<patient>_MG_<side>_<view>_ANON``).
SIDE_VIEW = re.compile(r"^(?P<prefix>.+?)[\s_\-.]+(?:MG[\s_\-.]+)?(?:L|R|LEFT|RIGHT)[\s_\-.]+"
                       r"(?:CC|MLO|ML|LM|LMO|XCCL|XCCM|FB|SIO|AT)(?:[\s_\-.].*)?$", re.IGNORECASE)


def _stems(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The file stems, each as named before a labelling tool renamed it
    (:func:`~featbus.datasets._release_rules.original_stem`)."""
    return [original_stem(Path(str(p)).stem)[0] for p in paths]


def _by_first_appearance(values: Sequence[str]) -> np.ndarray:
    order: dict[str, int] = {}
    return np.array([order.setdefault(v, len(order)) for v in values], dtype=int)


def pattern_groups(paths: Sequence[str | os.PathLike], pattern: str) -> tuple[np.ndarray, list[str]]:
    """Each image's patient by a regular expression searched in its file name without extension:
    its first capture group, or the whole match when it has none.

    Parameters
    ----------
    paths : sequence of paths
        The images' files.
    pattern : str
        A regular expression (Python's :mod:`re`, searched, so ``^`` anchors it at the start).

    Returns
    -------
    groups : ndarray of int
        The patients numbered by first appearance.
    patients : list of str
        Each image's patient as the pattern read it.

    Raises
    ------
    ValueError
        Not a regular expression; or a name it does not match (or matches empty), naming an
        example and how many names it matched: every image needs its patient.

    Examples
    --------
    >>> from featbus.datasets.name_groups import pattern_groups
    >>> groups, patients = pattern_groups(["ABCD_012.png", "ABCD_013.png", "EFGH_001.png"], r"^([A-Z]+)_")
    >>> groups.tolist(), patients
    ([0, 0, 1], ['ABCD', 'ABCD', 'EFGH'])
    """
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"group pattern {pattern!r} is not a regular expression: {exc}") from None
    stems = _stems(paths)
    patients = [(m.group(1 if regex.groups else 0) if m else None) or "" for m in map(regex.search, stems)]
    unmatched = [s for s, p in zip(stems, patients) if not p]
    if unmatched:
        matched = len(stems) - len(unmatched)
        example = next((s for s, p in zip(stems, patients) if p), None)
        what = (f"matches none of the {len(stems)} file names" if not matched else
                f"matches {matched} of the {len(stems)} file names (e.g. {example!r}) but not {len(unmatched)}")
        raise ValueError(f"group pattern {pattern!r} {what}: {unmatched[0]!r} gives no patient (it is searched in "
                         "each file name without its extension; its first (group) or the whole match is the patient, "
                         "and every image needs one)")
    return _by_first_appearance(patients), patients


def propose_prefix_groups(paths: Sequence[str | os.PathLike], classes: Sequence[str] = ()) -> list[str] | None:
    """Each image's patient as the prefix of a ``PREFIX_NUMBER`` file name, or of a mammogram's name
    before the breast's side and view, or ``None`` when the names do not say patients that way.

    A proposal needs every file stem of one shape: a mammogram's side and view (:data:`SIDE_VIEW`:
    the views of a woman's breasts are one patient, less a ``_`` part that differs for every image:
    INbreast's leading file number, RSNA's trailing ``image_id``), else a number at the end
    (:data:`PREFIX_NUMBER`); at least two
    prefixes, some prefix shared by two images, and prefixes that are not the class names
    (``benign_1.png``, ``malignant_2.png`` name a class, not a patient; nor do ``B_1``, ``M_2``, a
    class's usual spellings) nor splits (``train_0.png``, ``test_3.png``).

    Examples
    --------
    >>> from featbus.datasets.name_groups import propose_prefix_groups
    >>> propose_prefix_groups(["ABCD_012.png", "ABCD_013.png", "EFGH_001.png"])
    ['ABCD', 'ABCD', 'EFGH']
    >>> propose_prefix_groups(["img_1.png", "img_2.png"]) is None   # one prefix: no patients
    True
    >>> propose_prefix_groups(["benign_1.png", "malignant_2.png", "benign_3.png"], ["benign", "malignant"]) is None
    True
    >>> propose_prefix_groups(["D1-0001_L_CC.png", "D1-0001_R_MLO.png", "D1-0002_L_CC.png"])
    ['D1-0001', 'D1-0001', 'D1-0002']
    >>> propose_prefix_groups(["22614236_c2fd_MG_L_CC_ANON.dcm", "22614266_c2fd_MG_L_ML_ANON.dcm",
    ...                        "22670094_8a1b_MG_R_CC_ANON.dcm"])
    ['c2fd', 'c2fd', '8a1b']
    >>> propose_prefix_groups(["10006_462822612_L_CC.png", "10006_1459541791_L_MLO.png", "10011_220375232_R_CC.png"])
    ['10006', '10006', '10011']
    """
    stems = _stems(paths)
    found = [SIDE_VIEW.match(stem) for stem in stems]
    side_view = all(found)
    if not side_view:
        found = [PREFIX_NUMBER.match(stem) for stem in stems]
        if not all(found):
            return None
    prefixes = [m.group("prefix") for m in found]
    # a woman's views: the name before the side, less the part each image has its own
    while side_view and len(set(prefixes)) == len(prefixes) > 1 and all("_" in p for p in prefixes):
        if len({p.split("_", 1)[0] for p in prefixes}) == len(prefixes):  # leading: INbreast's file number
            prefixes = [p.split("_", 1)[1] for p in prefixes]
        else:  # trailing: RSNA's image_id after its patient_id
            prefixes = [p.rsplit("_", 1)[0] for p in prefixes]
    distinct = set(prefixes)
    names = {str(c).strip().casefold() for c in classes}
    if (len(distinct) < 2 or len(distinct) == len(prefixes)
            or any(p.strip().casefold() in names or class_of_value(p, letters=True) or split_of(p) for p in distinct)):
        return None
    return prefixes


def name_groups(paths: Sequence[str | os.PathLike], *, pattern: str | None = None,
                classes: Sequence[str] = ()) -> tuple[np.ndarray, str, str] | None:
    """Patients from the file names: ``(groups, groups_from, note)``, else ``None``.

    With ``pattern``, :func:`pattern_groups` (an error when it does not give every image a
    patient); without, the proposal of :func:`propose_prefix_groups`, or ``None`` (the caller
    then groups near-duplicates). ``groups_from`` is what ``Bunch.groups_from`` says, ``note``
    the one line that tells the user (a warning).

    Examples
    --------
    >>> from featbus.datasets.name_groups import name_groups
    >>> groups, told, note = name_groups(["ABCD_012.png", "ABCD_013.png", "EFGH_001.png"])
    >>> groups.tolist(), told
    ([0, 0, 1], "patients: the file-name prefix before _NUMBER ('ABCD_012.png' -> 'ABCD')")
    """
    patients = pattern_groups(paths, pattern)[1] if pattern is not None else propose_prefix_groups(paths, classes)
    if patients is None:
        return None
    groups = _by_first_appearance(patients)
    example = f"{Path(str(paths[0])).name!r} -> {patients[0]!r}"
    counts = f"{groups.max() + 1} patients for {len(groups)} images"
    if pattern is not None:
        return groups, f"patients: --group-pattern {pattern!r} on the file names", (
            f"patients from the file names by --group-pattern {pattern!r} ({example}): {counts}")
    return groups, f"patients: the file-name prefix before _NUMBER ({example})", (
        f"no patient column: patients read from the file names, the prefix before _NUMBER ({example}): {counts}; "
        "--group-pattern REGEX sets another rule, --group-column a table's column")
