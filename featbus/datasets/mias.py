"""mini-MIAS mammograms with labels and lesion masks from ``Info.txt``."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._records import ImageRecord
from ..progress import find_stack_level
from ._common import _data_root
from .sources.mias import MIAS_CLASSES as MIAS_CLASSES  # the loaders take the source's rules
from .sources.mias import MIAS_TASKS, parse_mias_info, read

#: File types a mini-MIAS folder may hold its ``mdbNNN`` images in (the database's PGM, or a
#: lossless conversion).
MIAS_EXTENSIONS = (".pgm", ".png", ".tif", ".tiff")


def mias_files(root: str | os.PathLike) -> list[Path]:
    """The ``mdbNNN`` image files of a folder (:data:`MIAS_EXTENSIONS`), sorted by name: found by the
    release reader's file discovery (:func:`featbus.datasets._release_scan.walk_release`: hidden files
    and links leading out of the folder are never read), those directly in the folder."""
    from ._release_scan import walk_release

    root = Path(root)
    images = walk_release(root)[0]
    return sorted(root / p for p in images if p.parent == Path(".") and p.suffix.lower() in MIAS_EXTENSIONS
                  and re.fullmatch(r"mdb\d{3}", p.stem.lower()))


def is_mias_folder(root: str | os.PathLike) -> bool:
    """Whether ``root`` looks like a mini-MIAS folder: an ``Info.txt`` beside ``mdbNNN`` images."""
    root = Path(root)
    return (root / "Info.txt").is_file() and bool(mias_files(root))


def load_mias(root: str | os.PathLike | None = None, *, task: str = "severity",
              n_jobs: int | None = None) -> Bunch:
    """Load the mini-MIAS mammograms with labels and lesion masks from ``Info.txt``.

    Suckling J et al. *The Mammographic Image Analysis Society digital mammogram database.*
    Exerpta Medica, International Congress Series 1069:375-378 (1994). Research use only.

    Parameters
    ----------
    root : path, optional
        Folder with ``Info.txt`` and the images ``mdbNNN.pgm`` (or ``.png`` / ``.tif``, e.g. a
        lossless conversion of the originals). Default: ``$FEATBUS_DATA/mini-mias``, else
        ``../shared/data/mini-mias`` from the working directory.
    task : {"severity", "abnormal"}, default="severity"
        The labels: ``"severity"`` gives three classes ``["normal", "benign", "malignant"]``;
        ``"abnormal"`` gives ``["normal", "abnormal"]`` (any abnormality row, benign or
        malignant), the task of most published mini-MIAS classifiers.
    n_jobs : int, optional
        Parallel workers for reading.

    Returns
    -------
    data : Bunch
        Common fields (see :mod:`featbus.datasets`) plus:

        * ``target_names``: ``["normal", "benign", "malignant"]``; an image is malignant when
          any of its rows says M, benign when any says B, else normal (``task="abnormal"``:
          ``["normal", "abnormal"]``, abnormal when it is benign or malignant);
        * ``abnormality``: per image the class (``CALC``, ``CIRC``, ``SPIC``, ``MISC``,
          ``ARCH``, ``ASYM`` or ``NORM``), or the list of classes when ``Info.txt`` has
          several rows for the image;
        * ``tissue``: ``F`` (fatty), ``G`` (fatty-glandular) or ``D`` (dense-glandular);
        * ``lesions``: per image a list of ``(row, col, radius)`` in image coordinates
          (``row = height - y``, since ``Info.txt`` measures ``y`` from the bottom edge);
        * ``mask_complete``: ``False`` for images with an abnormality row without
          coordinates (their mask misses it; e.g. widely distributed calcifications);
        * ``missing``: references listed in ``Info.txt`` whose file is absent (reported by a
          warning, not an error: mini-MIAS subsets are common); ``unlisted``: ``mdbNNN``
          image files with no row in ``Info.txt`` (not loaded, reported by a warning).

        ``masks`` are disks of the given radius around each lesion centre (an approximation:
        MIAS gives no outlines). ``groups`` is the woman: ``(number - 1) // 2``, so mdb001
        and mdb002 (her two breasts) share group 0. ``meta`` of each record holds
        ``reference``, ``label``, ``abnormality``, ``tissue``, ``lesions``, ``mask_complete``.

    Examples
    --------
    >>> from featbus import load_mias
    >>> data = load_mias("../shared/data/mini-mias")  # doctest: +SKIP
    >>> data.lesions[0]  # doctest: +SKIP
    [(599, 535, 197)]
    """
    root = Path(_data_root(root, "mini-mias", "mini-MIAS", "the folder with Info.txt"))
    if task not in MIAS_TASKS:
        raise ValueError(f"task must be one of {sorted(MIAS_TASKS)}, got {task!r}")
    if not (root / "Info.txt").is_file():
        raise FileNotFoundError(f"{str(root / 'Info.txt')!r}: mini-MIAS needs its Info.txt annotation file")
    table = parse_mias_info(root / "Info.txt")
    on_disk: dict[str, Path] = {}
    for p in mias_files(root):
        if p.stem.lower() in on_disk:
            raise ValueError(f"{str(root)!r} holds two files for {p.stem.lower()}: "
                             f"{on_disk[p.stem.lower()].name!r} and {p.name!r}; keep one")
        on_disk[p.stem.lower()] = p
    missing = [r for r in sorted(table) if r not in on_disk]
    unlisted = sorted(set(on_disk) - set(table))
    if missing:
        warnings.warn(f"{len(missing)} image(s) listed in Info.txt are absent from {str(root)!r} "
                      f"(see Bunch.missing): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
                      UserWarning, stacklevel=find_stack_level())
    if unlisted:
        warnings.warn(f"{len(unlisted)} image file(s) have no row in Info.txt and are not loaded: "
                      f"{', '.join(unlisted[:5])}", UserWarning, stacklevel=find_stack_level())
    if len(unlisted) == len(on_disk):
        raise ValueError(f"none of the {len(table)} images listed in Info.txt is in {str(root)!r}")
    from ._release_types import Release

    got = read(root, Path("Info.txt"), [p.relative_to(root) for p in on_disk.values()], task=task, table=table)
    summary = replace(got.within, class_source=got.class_source, patient_source=got.patient_source,
                      patient_detail=got.patient_detail)
    data = Release.of(root, summary, [replace(e, image=root / e.image) for e in got.entries],
                      list(got.class_order)).to_bunch(n_jobs=n_jobs)
    classes = MIAS_TASKS[task]
    # the lesions of Info.txt drawn as disks on each image read (Info.txt measures y from the bottom edge)
    for k, (image, path) in enumerate(zip(data.images, data.paths)):
        ref = Path(path).stem.lower()
        rows = table[ref]
        spots = [(image.shape[0] - r["y"], r["x"], r["radius"]) for r in rows if r["x"] is not None]
        rr, cc = np.ogrid[: image.shape[0], : image.shape[1]]
        mask = np.zeros(image.shape, bool)
        for row, col, rad in spots:
            mask |= (rr - row) ** 2 + (cc - col) ** 2 <= rad**2
        abn = [r["abnormality"] for r in rows]
        meta = {"reference": ref, "label": classes[data.target[k]], "abnormality": abn[0] if len(abn) == 1 else abn,
                "tissue": rows[0]["tissue"], "lesions": spots,
                "mask_complete": all(r["x"] is not None for r in rows if r["abnormality"] != "NORM")}
        data.masks[k], data.data[k] = mask, ImageRecord(image, mask, path, meta)
    metas = [r.meta for r in data.data]
    counts = np.bincount(data.target, minlength=len(classes))
    data.DESCR = ("mini-MIAS mammograms (Suckling et al., 1994): "
                  f"{len(data.images)} images, {dict(zip(classes, counts.tolist()))}; "
                  f"{len(missing)} listed in Info.txt but absent.")
    data.pop("groups_from", None)
    data.update(target_names=np.asarray(classes, dtype=str),
                groups=np.asarray([(int(m["reference"][3:]) - 1) // 2 for m in metas], dtype=int),
                abnormality=[m["abnormality"] for m in metas], tissue=np.asarray([m["tissue"] for m in metas], str),
                lesions=[m["lesions"] for m in metas],
                mask_complete=np.asarray([m["mask_complete"] for m in metas], bool), missing=missing, unlisted=unlisted)
    return data
