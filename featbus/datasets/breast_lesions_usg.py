"""BrEaST-Lesions-USG, a breast-ultrasound site from Poland, patients as groups."""

from __future__ import annotations

import os

from sklearn.utils import Bunch

from .site_tables import load_site_table_folder, site_root


def load_breast_lesions_usg(root: str | os.PathLike | None = None, *, on_error: str = "raise",
                            n_jobs: int | None = None) -> Bunch:
    """Load BrEaST-Lesions-USG, a third breast-ultrasound site (Poland), patients as groups.

    Pawłowska A, Ćwierz-Pieńkowska A, Domalik A, et al. *Curated benchmark dataset for
    ultrasound based breast lesion analysis.* Scientific Data 11:148 (2024) (data: The Cancer
    Imaging Archive, doi:10.7937/9WKK-Q141; CC BY 4.0: cite the article). featbus never
    downloads it. :func:`load_data` reads any folder laid out like it the same way (the release
    reader, and this citation in ``DESCR``).

    The layout: one sub-folder per class (``benign/``, ``malignant/``, ``normal/``) holding
    ``<ID>.png`` with its mask ``<ID>_mask.png`` (all zero for normal images), and
    ``breast_data.csv`` at the root, one row per image: ``ID``, ``CaseID`` (the patient),
    ``Classification`` (the label), ``BIRADS``, ``Verification``, ``Pixel_size``, the BI-RADS
    descriptors (``Shape``, ``Margin``, ``Echogenicity``...) and ``Age``.

    Parameters
    ----------
    root : path, optional
        The folder holding ``breast_data.csv``. Default: ``$FEATBUS_DATA/breast-lesions-usg``,
        else ``../shared/data/breast-lesions-usg`` from the working directory.
    on_error : {"raise", "skip"}, default="raise"
        As :func:`load_site_table_folder`.
    n_jobs : int, optional
        Parallel workers for reading.

    Returns
    -------
    data : Bunch
        As :func:`load_site_table_folder`: ``groups`` are patients (``CaseID``), each record's
        ``meta`` holds the table's columns lower-cased (``birads``, ``pixel_size``, ``shape``...).

    Examples
    --------
    >>> from featbus.datasets import load_breast_lesions_usg
    >>> data = load_breast_lesions_usg("../shared/data/breast-lesions-usg")  # doctest: +SKIP
    >>> data.target_names.tolist()  # doctest: +SKIP
    ['benign', 'malignant', 'normal']
    """
    return load_site_table_folder(site_root(root, "breast-lesions-usg"), "breast-lesions-usg", on_error=on_error,
                                  n_jobs=n_jobs)
