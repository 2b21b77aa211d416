"""BUSI, the Breast Ultrasound Images data set."""

from __future__ import annotations

import os
from pathlib import Path

from sklearn.utils import Bunch

from ._common import _data_root

BUSI_CLASSES = ("benign", "malignant", "normal")


def load_busi(root: str | os.PathLike | None = None, *, duplicate_threshold: int | None = None,
              on_error: str = "raise", n_jobs: int | None = None) -> Bunch:
    """Load BUSI, the Breast Ultrasound Images data set, with masks and duplicate groups.

    Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. *Dataset of breast ultrasound images.* Data in
    Brief 28:104863 (2020). featbus never downloads it: point ``root`` at a local copy.

    Parameters
    ----------
    root : path, optional
        The ``Dataset_BUSI_with_GT`` folder, or a folder containing it. Default:
        ``$FEATBUS_DATA/busi``, else ``../shared/data/busi`` from the working directory.
    duplicate_threshold : int, optional
        ``threshold`` of :func:`featbus.duplicate_groups` for ``Bunch.groups``.
    on_error : {"raise", "skip"}, default="raise"
        See :func:`load_image_folder`.
    n_jobs : int, optional
        Parallel workers for reading and hashing.

    Returns
    -------
    data : Bunch
        As :func:`load_image_folder`, classes ``["benign", "malignant", "normal"]``. Masks are
        the union of ``<name>_mask*.png``; normal images have all-``False`` masks. ``groups``
        are near-duplicate groups: use them (or :class:`featbus.DuplicateGroupKFold`) for CV,
        since BUSI holds many near-copies of one lesion.

    Examples
    --------
    >>> from featbus import load_busi
    >>> data = load_busi("../shared/data/busi")  # doctest: +SKIP
    >>> data.target_names.tolist()  # doctest: +SKIP
    ['benign', 'malignant', 'normal']
    """
    root = Path(_data_root(root, "busi", "BUSI", "the Dataset_BUSI_with_GT folder or its parent"))
    found = next((p for p in (root, root / "Dataset_BUSI_with_GT") if all((p / c).is_dir() for c in BUSI_CLASSES)),
                 None)
    if found is None:
        raise FileNotFoundError(f"{str(root)!r} is not a BUSI folder: expected sub-folders "
                                f"{list(BUSI_CLASSES)} in it or in its Dataset_BUSI_with_GT folder")
    from .release import read_release

    rel = read_release(found, require_labels=True)
    if rel.class_order != list(BUSI_CLASSES):
        raise ValueError(f"{str(found)!r} holds the classes {rel.class_order}, not BUSI's {list(BUSI_CLASSES)}")
    data = rel.to_bunch(on_error=on_error, n_jobs=n_jobs, duplicate_threshold=duplicate_threshold)
    data.DESCR = ("BUSI breast ultrasound images (Al-Dhabyani et al., Data in Brief 28:104863, 2020). "
                  + data.DESCR)
    return data
