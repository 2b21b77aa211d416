"""BUS-BRA, a breast-ultrasound site from Brazil, patients as groups."""

from __future__ import annotations

import os

from sklearn.utils import Bunch

from .site_tables import SITE_TABLES, load_site_table_folder, site_root


def is_bus_bra_folder(root: str | os.PathLike) -> bool:
    """Whether ``root`` looks like a BUS-BRA folder: ``bus_data.csv`` beside class sub-folders.

    Examples
    --------
    >>> import tempfile
    >>> from featbus.datasets import is_bus_bra_folder
    >>> is_bus_bra_folder(tempfile.mkdtemp())
    False
    """
    return SITE_TABLES["bus-bra"].is_folder(root)


def load_bus_bra(root: str | os.PathLike | None = None, *, on_error: str = "raise",
                 n_jobs: int | None = None) -> Bunch:
    """Load BUS-BRA, a second breast-ultrasound site, with lesion masks and patients as groups.

    Gómez-Flores W, Gregorio-Calas MJ, de Albuquerque Pereira WC. *BUS-BRA: a breast ultrasound
    dataset for assessing computer-aided diagnosis systems.* Medical Physics 51(4):3110-3123
    (2024), doi:10.1002/mp.16812 (data: doi:10.5281/zenodo.7730709; its licence asks every work
    that uses it to cite the article). featbus never downloads it. :func:`load_data` reads any
    folder laid out like it the same way (the release reader, and this citation in ``DESCR``).

    The layout: one sub-folder per class (``benign/``, ``malignant/``) holding ``<ID>.png`` with
    its mask ``<ID>_mask.png``, and ``bus_data.csv`` at the root, one row per image: ``ID``,
    ``Case`` (the patient), ``Pathology`` (the biopsy-proven label), and descriptive columns
    (``Histology``, ``BIRADS``, ``Device``, ``Side``, ``BBOX``...). Images of one ``Case`` (two
    views of one lesion, ``-l``/``-r``, or several lesions of one woman) are one patient, kept whole
    as :func:`load_site_table_folder` keeps them.

    Parameters
    ----------
    root : path, optional
        The folder holding ``bus_data.csv`` and the class sub-folders. Default:
        ``$FEATBUS_DATA/bus-bra``, else ``../shared/data/bus-bra`` from the working directory.
    on_error : {"raise", "skip"}, default="raise"
        An unreadable image, or an image without a row in ``bus_data.csv``, raises an error
        naming it, or is skipped (listed in ``Bunch.skipped`` and reported by a warning). An
        image whose folder and ``Pathology`` disagree is always an error.
    n_jobs : int, optional
        Parallel workers for reading.

    Returns
    -------
    data : Bunch
        As :func:`load_image_folder` (classes: the sub-folders, e.g. ``["benign",
        "malignant"]``; there is no normal class), with ``groups`` numbering the patients
        (``Case``) in order of first appearance, and ``groups_from`` saying so. Each record's
        ``meta`` also holds the table's columns, lower-cased (``id``, ``case``, ``histology``,
        ``pathology``, ``birads``, ``device``, ``side``, ...: what a subgroup table of
        :func:`featbus.validate` reads). ``Width``, ``Height`` and ``BBOX`` describe the images
        as distributed; a shrunk copy keeps them unchanged.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus.datasets import load_bus_bra
    >>> root = tempfile.mkdtemp()
    >>> for cls, ids in (("benign", ["bus_0001-l", "bus_0001-r"]), ("malignant", ["bus_0002-s"])):
    ...     os.mkdir(os.path.join(root, cls))
    ...     for k, i in enumerate(ids):
    ...         Image.fromarray(np.full((16, 16), 50 + 40 * k, np.uint8)).save(os.path.join(root, cls, i + ".png"))
    >>> with open(os.path.join(root, "bus_data.csv"), "w") as f:
    ...     _ = f.write("ID,Case,Pathology,Device\\nbus_0001-l,1,benign,GE\\nbus_0001-r,1,benign,GE\\n"
    ...                 "bus_0002-s,2,malignant,GE\\n")
    >>> data = load_bus_bra(root)
    >>> data.target_names.tolist(), data.groups.tolist(), data.data[2].meta["device"]
    (['benign', 'malignant'], [0, 0, 1], 'GE')
    """
    return load_site_table_folder(site_root(root, "bus-bra"), "bus-bra", on_error=on_error, n_jobs=n_jobs)
