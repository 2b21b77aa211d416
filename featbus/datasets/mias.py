"""mini-MIAS mammograms with labels and lesion masks from ``Info.txt``."""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._records import ImageRecord
from ..progress import find_stack_level
from ._common import _data_root
from ._release_scan import walk_release
from ._release_types import Release
from .sources.mias import MIAS_CLASSES as MIAS_CLASSES  # the loaders take the source's rules
from .sources.mias import MIAS_TASKS, is_mias_name, parse_mias_info, read, recognise

#: The side of a mini-MIAS film in pixels, the frame of ``Info.txt``'s coordinates.
MIAS_SIDE = 1024


def mias_files(root: str | os.PathLike) -> list[Path]:
    """The ``mdbNNN`` image files of a folder and its sub-folders (``all-mias/``), sorted by name: found
    by the release reader's file discovery (:func:`featbus.datasets._release_scan.walk_release`: hidden
    files and links leading out of the folder are never read)."""
    root = Path(root)
    return sorted((root / p for p in walk_release(root)[0] if is_mias_name(p)), key=lambda p: (p.name, p))


def mias_folder(root: str | os.PathLike) -> Path | None:
    """The folder of the ``Info.txt`` that labels the ``mdbNNN`` images of ``root`` (beside it or in a
    sub-folder), as :func:`featbus.read_release` finds it (``root`` itself, or ``root/all-mias`` when both
    lie there), else None."""
    root = Path(root)
    if not any(f.name.lower() == "info.txt" and f.is_file() for d in (root, *root.glob("[!.]*")) if d.is_dir()
               for f in d.glob("[!.]*")):  # its visible entries, its visible folders' ("[!.]*": no hidden name)
        return None  # no Info.txt here or one level down: no walk of the folder
    images, tables, _ = walk_release(root)
    found = recognise([t for t in tables if t.name.lower() == "info.txt"], root=root, images=images)
    return root / found[0].parent if found else None


def is_mias_folder(root: str | os.PathLike) -> bool:
    """Whether ``root`` looks like a mini-MIAS folder: an ``Info.txt`` over ``mdbNNN`` images (beside them
    or in a folder above them), here or in a sub-folder."""
    return mias_folder(root) is not None


def load_mias(root: str | os.PathLike | None = None, *, task: str = "severity",
              n_jobs: int | None = None) -> Bunch:
    """Load the mini-MIAS mammograms with labels and lesion masks from ``Info.txt``.

    Suckling J et al. *The Mammographic Image Analysis Society digital mammogram database.*
    Exerpta Medica, International Congress Series 1069:375-378 (1994). Research use only.

    Parameters
    ----------
    root : path, optional
        Folder with ``Info.txt`` and the images ``mdbNNN.pgm`` beside it or in a sub-folder
        (``all-mias/``), or a conversion of them (``mdbNNN.png``, ``.jpg``, any size); or the folder
        above one (:func:`mias_folder`). Default: ``$FEATBUS_DATA/mini-mias``, else
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
        * ``lesions``: per image a list of ``(row, col, radius)`` in image coordinates, whole pixels
          (``row = height - y``, since ``Info.txt`` measures ``y`` from the bottom edge); an
          image of another size than the films' 1024 x 1024 (a resized conversion) has them
          scaled to its size (:data:`MIAS_SIDE`);
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
        if (found := mias_folder(root)) is None:
            raise FileNotFoundError(f"{str(root / 'Info.txt')!r}: mini-MIAS needs its Info.txt annotation file")
        root = found
    table = parse_mias_info(root / "Info.txt")
    on_disk: dict[str, Path] = {}
    for p in mias_files(root):
        if (ref := p.stem.lower()) in on_disk:
            raise ValueError(f"{str(root)!r} holds two files for {ref}: {on_disk[ref].relative_to(root).as_posix()!r} "
                             f"and {p.relative_to(root).as_posix()!r}; keep one")
        on_disk[ref] = p
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
        dy, dx = image.shape[0] / MIAS_SIDE, image.shape[1] / MIAS_SIDE  # 1 for the films as distributed
        spots = [(round(image.shape[0] - r["y"] * dy), round(r["x"] * dx), round(r["radius"] * (dy + dx) / 2))
                 for r in rows if r["x"] is not None]
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
