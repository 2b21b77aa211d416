"""Public data sets whose folder carries a table of patients (BUS-BRA, BrEaST-Lesions-USG)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..io import warn_skipped
from ._common import _ON_ERROR, _default_data_dir
from .folders import load_image_folder, manifest_error, manifest_table

# --------------------------------------------------------------------------- sites with a table

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
    id, patient, label : str
        Its columns (lower-cased) holding the image's file stem, the patient, the label.
    citation : str
        What :attr:`Bunch.DESCR` cites.
    patient_column, label_column : str
        The patient and label columns as the table spells them (in messages).
    """

    name: str
    file: str
    id: str
    patient: str
    label: str
    citation: str
    patient_column: str
    label_column: str

    def is_folder(self, root: str | os.PathLike) -> bool:
        """Whether ``root`` holds this table beside class sub-folders."""
        root = Path(root)
        return (root.is_dir() and (root / self.file).is_file()
                and any(d.is_dir() and not d.name.startswith(".") for d in root.iterdir()))


#: The tables :func:`load_data` recognises, by the data set that ships them.
SITE_TABLES = {
    "bus-bra": SiteTable("BUS-BRA", "bus_data.csv", "id", "case", "pathology",
                         "BUS-BRA breast ultrasound images (Gómez-Flores et al., Med Phys 2024, doi:10.1002/mp.16812)",
                         "Case", "Pathology"),
    "breast-lesions-usg": SiteTable("BrEaST-Lesions-USG", "breast_data.csv", "id", "caseid", "classification",
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


def _site_table_rows(table_path: Path, spec: SiteTable) -> dict[str, dict]:
    """A site's table as ID -> row (column names lower-cased, cells as text), its columns checked."""
    table = manifest_table(table_path, ())
    need = (spec.id, spec.patient, spec.label)
    absent = [c for c in need if c not in table.columns]
    if absent:
        raise ValueError(f"{str(table_path)!r} has no column(s) {absent}: a {spec.name} table needs "
                         f"ID, {spec.patient_column} and {spec.label_column}, it has {list(table.columns)}")
    rows: dict[str, dict] = {}
    for line, row in enumerate(table.to_dict("records"), start=2):
        key = str(row[spec.id]).strip()
        if not key or not str(row[spec.patient]).strip():
            raise manifest_error(table_path, line, f"an empty 'ID' or {spec.patient_column!r}")
        if key in rows:
            raise manifest_error(table_path, line, f"ID {key!r} is listed twice")
        rows[key] = {**{c: str(v).strip() for c, v in row.items()}, "row": line}
    return rows


def site_root(root, key: str):
    """``root``, else the site's default folder (``$FEATBUS_DATA/<key>`` or ``../shared/data/<key>``)."""
    if root is not None:
        return root
    found = _default_data_dir(key)
    if found is None:
        spec = SITE_TABLES[key]
        raise FileNotFoundError(f"{spec.name} not found: pass root= (the folder holding {spec.file}) or set "
                                f"FEATBUS_DATA to the folder holding {key}/")
    return found


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
    spec = SITE_TABLES[spec] if isinstance(spec, str) else spec
    root = Path(root)
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    table_path = root / spec.file
    if not table_path.is_file():
        raise FileNotFoundError(f"{str(root)!r} is not a {spec.name} folder: {spec.file} is not in it")
    rows = _site_table_rows(table_path, spec)
    data = load_image_folder(root, mask_pattern="{stem}_mask*.png", on_error=on_error, groups=None, n_jobs=n_jobs)
    keep, skipped = [], list(data.skipped)
    for i, (path, rec) in enumerate(zip(data.paths, data.data)):
        row = rows.get(Path(path).stem)
        if row is None:
            reason = (f"no row of {str(table_path)!r} has ID {Path(path).stem!r}, so the image has no patient "
                      f"({spec.patient_column}) to be grouped by")
            if on_error == "raise":
                raise ValueError(f"{str(path)!r}: {reason}")
            skipped.append((str(path), reason))
            continue
        label = rec.meta["label"]
        if row[spec.label].lower() != label.lower():
            raise manifest_error(table_path, row["row"], f"ID {row[spec.id]!r} is {row[spec.label]!r}, but its "
                                  f"image {str(path)!r} is in the {label!r} folder")
        rec.meta.update({c: v for c, v in row.items() if c not in ("row", "label")})
        rec.meta["table_row"] = row["row"]
        keep.append(i)
    if len(keep) < len(data.paths):
        warn_skipped([(k, p, r) for k, (p, r) in enumerate(skipped[len(data.skipped):])],
                      f"image(s) (no row in {spec.file})")
        if not keep:
            raise ValueError(f"no image of {str(root)!r} has a row in {spec.file}")
        for key in ("images", "masks", "paths", "data"):
            data[key] = [data[key][i] for i in keep]
        data.target = data.target[keep]
    patients = [data.data[i].meta[spec.patient] for i in range(len(data.data))]
    order: dict[str, int] = {}
    data.groups = np.array([order.setdefault(c, len(order)) for c in patients], dtype=int)
    data.skipped = skipped
    data.groups_from = f"patients: the {spec.patient_column!r} column of {spec.file}"
    # the table's columns (as read, lower-cased): what an extracted feature table passes through
    data.extra_columns = [c for c in next(iter(rows.values())) if c not in ("row", "label")]
    counts = np.bincount(data.target, minlength=len(data.target_names))
    unused = len(rows) - len(data.paths)
    data.DESCR = (f"{spec.citation}, folder {str(root)!r}: {len(data.paths)} images of {len(order)} patients, "
                  f"classes {dict(zip(data.target_names.tolist(), counts.tolist()))}; groups are patients "
                  f"({spec.patient_column})"
                  + (f"; {unused} rows of {spec.file} have no image here." if unused else "."))
    return data
