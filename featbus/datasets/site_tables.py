"""Public data sets whose folder carries a table of patients (BUS-BRA, BrEaST-Lesions-USG): each is a
release :func:`featbus.datasets.read_release` reads with no option; :func:`load_site_table_folder` is a
thin user of it that checks the site's own table was the one read and names an image without a row."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sklearn.utils import Bunch

from ..io import warn_skipped
from ._common import _check_loader_choices, _classes_text, _data_root


@dataclass(frozen=True)
class SiteTable:
    """A public data set whose folder carries a table featbus reads: one row per image naming its
    patient, so that every split and every interval keeps a patient whole.

    Attributes
    ----------
    name : str
        The data set (in messages).
    file : str
        The table's file name at the folder's root (``bus_data.csv``).
    citation : str
        What :attr:`Bunch.DESCR` cites.
    patient_column, label_column : str
        The patient and label columns as the table spells them (in messages).
    """

    name: str
    file: str
    citation: str
    patient_column: str
    label_column: str

    def is_folder(self, root: str | os.PathLike) -> bool:
        """Whether ``root`` holds this table beside class sub-folders."""
        root = Path(root)  # a folder holds the table: root.is_dir() is implied
        return (root / self.file).is_file() and any(d.is_dir() and not d.name.startswith(".") for d in root.iterdir())


#: The tables :func:`load_data` recognises, by the data set that ships them.
SITE_TABLES = {
    "bus-bra": SiteTable("BUS-BRA", "bus_data.csv",
                         "BUS-BRA breast ultrasound images (Gómez-Flores et al., Med Phys 2024, doi:10.1002/mp.16812)",
                         "Case", "Pathology"),
    "breast-lesions-usg": SiteTable("BrEaST-Lesions-USG", "breast_data.csv",
                                    "BrEaST-Lesions-USG breast ultrasound images (Pawłowska et al., Sci Data "
                                    "11:148, 2024; data doi:10.7937/9WKK-Q141; CC BY 4.0)", "CaseID",
                                    "Classification"),
}


def site_table_of(root: str | os.PathLike) -> SiteTable | None:
    """The :data:`SITE_TABLES` entry whose table lies in ``root`` beside class sub-folders, else ``None``.

    Examples
    --------
    >>> import tempfile
    >>> from featbus.datasets import site_table_of
    >>> site_table_of(tempfile.mkdtemp()) is None
    True
    """
    return next((t for t in SITE_TABLES.values() if t.is_folder(root)), None)


def site_root(root, key: str):
    """``root``, else the site's default folder (``$FEATBUS_DATA/<key>`` or ``../shared/data/<key>``)."""
    return _data_root(root, key, SITE_TABLES[key].name, f"the folder holding {SITE_TABLES[key].file}")


def load_site_table_folder(root: str | os.PathLike, spec: SiteTable | str, *, on_error: str = "raise",
                           n_jobs: int | None = None) -> Bunch:
    """Load a class-folder data set whose table names each image's patient (:data:`SITE_TABLES`).

    Images of one patient share a group (every split and interval keeps the patient whole); each
    record's ``meta`` holds the table's columns, lower-cased (what a subgroup table of
    :func:`featbus.validate` and an extracted feature table pass through). Rows without an
    image are fine (a subset); an image without a row cannot be given its patient (an error
    naming it, or skipped with ``on_error="skip"``); an image whose folder and label column
    disagree is always an error.

    Parameters
    ----------
    root : path
        The folder holding the table and the class sub-folders.
    spec : SiteTable or str
        The table's layout, or its key in :data:`SITE_TABLES`.
    on_error : {"raise", "skip"}, default="raise"
    n_jobs : int, optional
        Parallel workers for reading.

    Returns
    -------
    data : Bunch
        As :func:`load_image_folder`, with ``groups`` numbering the patients in order of first
        appearance, ``groups_from`` saying so and ``extra_columns`` the table's columns.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus.datasets import load_site_table_folder
    >>> root = tempfile.mkdtemp()
    >>> for cls, ids in (("benign", ["case001", "case002"]), ("malignant", ["case003"])):
    ...     os.mkdir(os.path.join(root, cls))
    ...     for k, i in enumerate(ids):
    ...         Image.fromarray(np.full((16, 16), 50 + 40 * k, np.uint8)).save(os.path.join(root, cls, i + ".png"))
    >>> with open(os.path.join(root, "breast_data.csv"), "w") as f:
    ...     _ = f.write("ID,CaseID,Classification,BIRADS\\ncase001,1,benign,3\\ncase002,1,benign,2\\n"
    ...                 "case003,2,malignant,5\\n")
    >>> data = load_site_table_folder(root, "breast-lesions-usg")
    >>> data.groups.tolist(), data.data[2].meta["birads"]
    ([0, 0, 1], '5')
    """
    from .release import read_release

    spec = SITE_TABLES[spec] if isinstance(spec, str) else spec
    root = Path(root)
    _check_loader_choices(on_error, None)
    table_path = root / spec.file
    if not table_path.is_file():
        raise FileNotFoundError(f"{str(root)!r} is not a {spec.name} folder: {spec.file} is not in it")
    rel = read_release(root)
    s = rel.summary
    if s.table is None or s.table.name != spec.file:
        raise ValueError(f"{str(table_path)!r} names none of the images of {str(root)!r} in a column featbus "
                         f"finds (ID, {spec.patient_column}, {spec.label_column})")
    no_row = [(str(root / item), f"no row of {str(table_path)!r} has ID {Path(item).stem!r}, so the image has no "
                                 f"patient ({spec.patient_column}) to be grouped by")
              for item, reason, _ in s.left_out if reason == "no row"]
    if no_row and on_error == "raise":
        raise ValueError(f"{no_row[0][0]!r}: {no_row[0][1]}")
    data = rel.to_bunch(on_error=on_error, n_jobs=n_jobs)
    if no_row:
        warn_skipped([(k, p, r) for k, (p, r) in enumerate(no_row)], f"image(s) (no row in {spec.file})")
        data.skipped = list(data.skipped) + no_row
    data.DESCR = site_description(spec, data, s)
    return data


def site_description(spec: SiteTable, data: Bunch, summary) -> str:
    """A site's :attr:`Bunch.DESCR`: its citation (what its licence asks for), then what was read."""
    unused = sum(1 for r in summary.left_out if r.reason == "no image")
    return (f"{spec.citation}, folder {str(summary.root)!r}: {len(data.paths)} images of {summary.n_patients} "
            f"patients, {_classes_text(data.target, data.target_names.tolist())}; groups are patients "
            f"({summary.group_column})" + (f"; {unused} rows of {spec.file} have no image here." if unused else "."))
