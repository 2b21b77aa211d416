"""Load a data set from any layout featbus recognises."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from sklearn.utils import Bunch

from ..progress import find_stack_level
from .folders import load_manifest
from .mias import MIAS_TASKS, is_mias_folder, load_mias
from .name_groups import name_groups
from .release import read_release
from .site_tables import SITE_TABLES, site_description
from .sources._refs import is_release_file


def load_data(path: str | os.PathLike, *, task: str = "severity", on_error: str = "raise",
              n_jobs: int | None = None, require_labels: bool = True, image_column: str | None = None,
              label_column: str | None = None, group_column: str | None = None,
              group_pattern: str | None = None, mask_pattern: str | None = None,
              unannotated: str = "normal") -> Bunch:
    """Load a data set from any layout featbus recognises: what every command's ``DATA`` is.

    * a ``.csv`` file: a manifest (:func:`load_manifest`), or an index written by
      :meth:`~featbus.datasets.Release.write_index` (``featbus read DATA --index FILE``);
    * a mini-MIAS folder (``Info.txt`` beside ``mdbNNN`` images): :func:`load_mias` with
      ``task``, women as groups;
    * any other folder, or a release in one file (a zip or tar archive, an .npz): a release as its publisher
      ships it, its layout worked out by :func:`~featbus.datasets.read_release` (its rules), then read by
      :meth:`~featbus.datasets.Release.to_bunch`: class folders (BUSI), BUS-BRA and BrEaST-Lesions-USG as
      shipped, hospital exports. Images without a patient column, patient folder or ``PREFIX_NUMBER`` names
      are grouped as near-duplicates.

    ``Bunch.release_summary`` is the :class:`~featbus.datasets.ReleaseSummary` of what was read.

    Parameters
    ----------
    path : path
    task : {"severity", "abnormal"}, default="severity"
        The labels of a mini-MIAS folder (see :func:`load_mias`). Other layouts hold their labels
        themselves: ``"abnormal"`` is an error there (their classes are read as they are).
    on_error : {"raise", "skip"}, default="raise"
        See :func:`load_image_folder` (mini-MIAS images are always read strictly).
    n_jobs : int, optional
        Parallel workers for reading.
    require_labels : bool, default=True
        ``False`` also reads unlabelled data: a folder of images without class sub-folders, or
        a manifest without a ``label`` column (``target`` ``-1``, ``target_names`` empty).
    image_column, label_column, group_column : str, optional
        The release's table's columns (see :func:`~featbus.datasets.read_release`): used, or
        refused with their name (a manifest, an index or a mini-MIAS folder has none to name).
    group_pattern : str, optional
        A regular expression on the file names (without extension) whose first group, or whole
        match, is each image's patient (:mod:`featbus.datasets.name_groups`), in any layout; a name
        it does not match is an error naming it. Without it, class folders, manifests and exports
        with no patient column take the patient from the names where they share a
        ``PREFIX_NUMBER`` shape (``ABCD_012.png`` -> ``ABCD``), said in one line.
    mask_pattern : str, optional
        How an image's mask files are named (``"{stem}_seg*.png"``: see
        :func:`~featbus.datasets.read_release`), in place of the usual mask words.
    unannotated : {"normal", "leave out"}, default="normal"
        An image a COCO annotation file lists with no annotation: class ``normal``, or left out
        (:func:`~featbus.datasets.read_release`).

    Returns
    -------
    data : Bunch
        As the loader of the layout returns it.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import load_data
    >>> root = tempfile.mkdtemp()
    >>> for k, label in enumerate(["a", "b", "a", "b"]):
    ...     Image.fromarray(np.full((16, 16), 40 * k, np.uint8)).save(os.path.join(root, f"{k}.png"))
    >>> with open(os.path.join(root, "study.csv"), "w") as f:
    ...     _ = f.write("image,label\\n0.png,a\\n1.png,b\\n2.png,a\\n3.png,b\\n")
    >>> load_data(os.path.join(root, "study.csv")).target.tolist()
    [0, 1, 0, 1]
    """
    path = Path(path)
    if task not in MIAS_TASKS:
        raise ValueError(f"task must be one of {list(MIAS_TASKS)}, got {task!r}")
    if task != "severity" and not (path.is_dir() and is_mias_folder(path)):
        raise ValueError(f"task {task!r} relabels a mini-MIAS folder (Info.txt beside mdbNNN images); "
                         f"{str(path)!r} is not one, and its labels are read as they are: leave the task out, or "
                         "relabel the images yourself (class folders or a manifest's 'label' column)")
    if any(v is not None for v in (image_column, label_column, group_column, mask_pattern)) and (
            path.is_file() or is_mias_folder(path)):  # a manifest, an index, mini-MIAS: the reader's refusal
        read_release(path, image_column=image_column, label_column=label_column, group_column=group_column,
                     mask_pattern=mask_pattern)

    if path.is_file() and path.suffix.lower() == ".csv":
        return load_manifest(path, on_error=on_error, n_jobs=n_jobs, require_labels=require_labels,
                             group_pattern=group_pattern)
    if path.is_dir() and is_mias_folder(path):
        data = load_mias(path, task=task, n_jobs=n_jobs)
        if group_pattern is not None:  # the women regrouped by the file names (said in one line)
            data.groups, data.groups_from, note = name_groups(data.paths, pattern=group_pattern)
            warnings.warn(note, UserWarning, stacklevel=find_stack_level())
            data.near_duplicate_groups = False
        data.release_summary = read_release(path, group_pattern=group_pattern).summary
        return data
    if path.is_dir() or (path.is_file() and is_release_file(path)):  # a folder, an archive, an .npz
        release = read_release(path, image_column=image_column, label_column=label_column,
                               group_column=group_column, group_pattern=group_pattern, mask_pattern=mask_pattern,
                               require_labels=require_labels, unannotated=unannotated)
        data = release.to_bunch(on_error=on_error, n_jobs=n_jobs, require_labels=require_labels)
        table = release.summary.table
        spec = next((t for t in SITE_TABLES.values() if table is not None and table.name == t.file), None)
        if spec is not None and release.summary.patient_source == "column":  # a site whose licence asks a citation
            data.DESCR = site_description(spec, data, release.summary)
        return data
    raise FileNotFoundError(f"{str(path)!r}: no such folder or CSV file")
