"""mini-MIAS mammograms with labels and lesion masks from ``Info.txt``."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._records import ImageRecord
from ..progress import find_stack_level
from ._common import _data_root

MIAS_CLASSES = ("normal", "benign", "malignant")
#: Classes of each ``task`` of :func:`load_mias`.
MIAS_TASKS = {"severity": MIAS_CLASSES, "abnormal": ("normal", "abnormal")}
#: File types a mini-MIAS folder may hold its ``mdbNNN`` images in (the database's PGM, or a
#: lossless conversion).
MIAS_EXTENSIONS = (".pgm", ".png", ".tif", ".tiff")
_MIAS_ROW = re.compile(r"^(mdb\d{3})\s+([FGD])\s+([A-Z]{4})(?:\s+([BM]))?(?:\s+(\d+)\s+(\d+)\s+(\d+))?")


def parse_mias_info(path: str | os.PathLike) -> dict[str, list[dict]]:
    """Parse the mini-MIAS ``Info.txt``: reference -> list of rows (one per abnormality).

    The free-text header and footer are skipped (only lines starting with ``mdbNNN`` count);
    CRLF line endings are accepted. Each row is a dict with ``tissue``, ``abnormality``,
    ``severity`` (``"B"``, ``"M"`` or ``None``) and ``x``, ``y``, ``radius`` (``None`` when the
    row has no coordinates, e.g. widely distributed calcifications). ``x`` and ``y`` are as in
    the file: ``y`` is measured from the BOTTOM edge.
    """
    rows: dict[str, list[dict]] = {}
    with open(path, encoding="latin-1", newline=None) as fh:  # newline=None: CRLF -> \n
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not re.match(r"^mdb\d{3}\b", line):
                continue
            m = _MIAS_ROW.match(line)
            if m is None:
                raise ValueError(f"{str(path)!r} line {n}: cannot parse {line!r}")
            ref, tissue, abn, sev, x, y, r = m.groups()
            coords = (int(x), int(y), int(r)) if x is not None else (None, None, None)
            rows.setdefault(ref, []).append({"tissue": tissue, "abnormality": abn, "severity": sev,
                                             "x": coords[0], "y": coords[1], "radius": coords[2]})
    if not rows:
        raise ValueError(f"{str(path)!r} holds no mini-MIAS rows (lines starting with 'mdbNNN')")
    return rows


def _disk(shape: tuple[int, int], row: float, col: float, radius: float) -> np.ndarray:
    rr, cc = np.ogrid[: shape[0], : shape[1]]
    return (rr - row) ** 2 + (cc - col) ** 2 <= radius**2


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
    root = _data_root(root, "mini-mias", "mini-MIAS", "the folder with Info.txt")
    if task not in MIAS_TASKS:
        raise ValueError(f"task must be one of {sorted(MIAS_TASKS)}, got {task!r}")
    root = Path(root)
    info = root / "Info.txt"
    if not info.is_file():
        raise FileNotFoundError(f"{str(info)!r}: mini-MIAS needs its Info.txt annotation file")
    table = parse_mias_info(info)
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
    rel = mias_release(root, [p.relative_to(root) for p in on_disk.values()], [], task=task, table=table)
    data = rel.to_bunch(n_jobs=n_jobs)
    classes = MIAS_TASKS[task]
    # the lesions of Info.txt drawn as disks on each image read (Info.txt measures y from the bottom edge)
    for k, (image, path) in enumerate(zip(data.images, data.paths)):
        ref = Path(path).stem.lower()
        rows = table[ref]
        spots = [(image.shape[0] - r["y"], r["x"], r["radius"]) for r in rows if r["x"] is not None]
        mask = np.zeros(image.shape, bool)
        for row, col, rad in spots:
            mask |= _disk(image.shape, row, col, rad)
        abn = [r["abnormality"] for r in rows]
        abn = abn[0] if len(abn) == 1 else abn
        ok = all(r["x"] is not None for r in rows if r["abnormality"] != "NORM")
        meta = {"reference": ref, "label": classes[data.target[k]], "abnormality": abn,
                "tissue": rows[0]["tissue"], "lesions": spots, "mask_complete": ok}
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


def mias_release(root: Path, files: list[Path], left_out: list, *, task: str = "severity", table=None,
                 group_pattern: str | None = None):
    """A mini-MIAS folder as a :class:`~featbus.datasets.Release`: ``files`` (relative to ``root``)
    labelled for ``task`` by ``Info.txt`` (``table``: its rows, read when not given), the two breasts of a
    woman one patient; a file without a row left out (``no row``)."""
    from ._release_types import LeftOut, Release, ReleaseSummary

    table = parse_mias_info(root / "Info.txt") if table is None else table
    classes = MIAS_TASKS[task]
    images, labels, groups = [], [], []
    for rel in files:
        ref = rel.stem.lower()
        if ref not in table:
            left_out.append(LeftOut(rel.as_posix(), "no row", "in Info.txt"))
            continue
        sev = {r["severity"] for r in table[ref]}
        severity = 2 if "M" in sev else 1 if "B" in sev else 0
        images.append(root / rel)
        labels.append(classes[severity if task == "severity" else int(severity > 0)])
        groups.append(f"woman {(int(ref[3:]) - 1) // 2 + 1}")
    summary = ReleaseSummary(root=root, n_images=len(images), table=root / "Info.txt", image_column="reference",
                             label_column="severity", classes={c: labels.count(c) for c in classes if labels.count(c)},
                             class_source="Info.txt severity", n_patients=len(set(groups)), patient_source="pattern",
                             patient_detail="mdbNNN: the two breasts of one woman are two numbers", left_out=left_out)
    if group_pattern is not None:
        from .name_groups import pattern_groups

        _, groups = pattern_groups(images, group_pattern)
        summary.patient_detail, summary.n_patients = f"--group-pattern {group_pattern!r}", len(set(groups))
    return Release(root, images, labels, groups, [()] * len(images), summary, class_order=list(classes))
