"""Load a data set from any layout featbus recognises."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from sklearn.utils import Bunch

from ..progress import find_stack_level
from .export import export_table_of, load_export
from .folders import load_image_folder, load_manifest
from .mias import MIAS_TASKS, is_mias_folder, load_mias
from .site_tables import load_site_table_folder, site_table_of


def load_data(path: str | os.PathLike, *, task: str = "severity", on_error: str = "raise",
              n_jobs: int | None = None, require_labels: bool = True, image_column: str | None = None,
              label_column: str | None = None, group_column: str | None = None,
              group_pattern: str | None = None) -> Bunch:
    """Load a data set from any layout featbus recognises: what every command's ``DATA`` is.

    * a ``.csv`` file: a manifest (:func:`load_manifest`);
    * a mini-MIAS folder (``Info.txt`` beside ``mdbNNN`` images): :func:`load_mias` with
      ``task``, women as groups;
    * a BUS-BRA folder (``bus_data.csv`` beside class sub-folders): :func:`load_bus_bra`,
      patients (``Case``) as groups, the table's columns in each record's ``meta``;
    * a BrEaST-Lesions-USG folder (``breast_data.csv``): :func:`load_breast_lesions_usg`,
      patients (``CaseID``) as groups, likewise;
    * a download wrapper holding only the data set's folder (``busi/Dataset_BUSI_with_GT``):
      the folder inside;
    * a hospital's export (a table whose image column names the files of one sub-folder, masks of
      the same names in another): :func:`~featbus.datasets.export.load_export`, the table's
      columns recognised by their usual names or named (``image_column``, ``label_column``,
      ``group_column``);
    * any other folder: one sub-folder per class (:func:`load_image_folder`); a CSV table beside
      them that featbus does not know is not read (a warning says how to give patients: a
      manifest).

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
        An export table's columns (see :func:`~featbus.datasets.export.load_export`).
    group_pattern : str, optional
        A regular expression on the file names (without extension) whose first group, or whole
        match, is each image's patient (:mod:`featbus.datasets.name_groups`), in any layout; a name
        it does not match is an error naming it. Without it, class folders, manifests and exports
        with no patient column take the patient from the names where they share a
        ``PREFIX_NUMBER`` shape (``ABCD_012.png`` -> ``ABCD``), said in one line.

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
    if path.is_file() and path.suffix.lower() == ".csv":
        return load_manifest(path, on_error=on_error, n_jobs=n_jobs, require_labels=require_labels,
                             group_pattern=group_pattern)
    if path.is_dir() and is_mias_folder(path):
        return _regrouped(load_mias(path, task=task, n_jobs=n_jobs), group_pattern)
    path = unwrap_download_folder(path)
    table = site_table_of(path)
    if table is not None:
        return _regrouped(load_site_table_folder(path, table, on_error=on_error, n_jobs=n_jobs), group_pattern)
    if export_table_of(path, image_column=image_column) is not None:
        return load_export(path, image_column=image_column, label_column=label_column, group_column=group_column,
                           group_pattern=group_pattern, on_error=on_error, require_labels=require_labels,
                           n_jobs=n_jobs)
    data = load_image_folder(path, on_error=on_error, n_jobs=n_jobs, require_labels=require_labels,
                             group_pattern=group_pattern)
    tables = sorted(p.name for p in path.glob("*.csv")) if path.is_dir() else []
    if tables:  # a table featbus cannot read: its patients are not used, and the user should know
        warnings.warn(f"{str(path)!r} holds {', '.join(tables)}, a table featbus does not know, so images are "
                      "grouped as near-duplicates, not by patient; to group by patient, write a manifest "
                      "(columns image,label,group) and load that CSV instead", UserWarning,
                      stacklevel=find_stack_level())
    return data


def _regrouped(data: Bunch, group_pattern: str | None) -> Bunch:
    """A data set whose loader knows its patients (mini-MIAS, a site's table), regrouped by
    ``group_pattern`` on the file names when one is given (said in one line)."""
    if group_pattern is None:
        return data
    from .name_groups import name_groups

    groups, told, note = name_groups(data.paths, pattern=group_pattern)
    if getattr(data, "groups_from", None):
        note += f" (over {data.groups_from})"
    warnings.warn(note, UserWarning, stacklevel=find_stack_level())
    data.groups, data.groups_from, data.near_duplicate_groups = groups, told, False
    return data


def unwrap_download_folder(path: Path) -> Path:
    """The folder inside a download wrapper (``busi/`` holding only ``Dataset_BUSI_with_GT/``),
    else ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from featbus.datasets import unwrap_download_folder
    >>> root = Path(tempfile.mkdtemp())
    >>> os.makedirs(root / "Dataset_BUSI_with_GT" / "benign")
    >>> unwrap_download_folder(root).name
    'Dataset_BUSI_with_GT'
    """
    if not path.is_dir():
        return path
    entries = [e for e in path.iterdir() if not e.name.startswith(".")]
    subdirs = [e for e in entries if e.is_dir()]
    if len(subdirs) == 1 and all(e.is_dir() or e.suffix.lower() in (".txt", ".md", ".zip") for e in entries) \
            and any(s.is_dir() for s in subdirs[0].iterdir()):
        return subdirs[0]
    return path
