"""The small real sample that ships with featbus."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._common import _classes_text, subset
from .breast_lesions_usg import load_breast_lesions_usg

#: The bundled sample: :func:`load_sample` reads it (``scripts/make_sample.py`` builds it).
SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "breast_lesions_usg_sample"


def load_sample(*, classes: Sequence[str] | None = None) -> Bunch:
    """Load the small real sample that ships with featbus: 52 BrEaST-Lesions-USG images with masks.

    24 benign and 24 malignant cases, drawn with a fixed seed, and the site's 4 normal images,
    shrunk to a longest side of 224 px (``scripts/make_sample.py`` builds it from the full data
    set). Enough for a first run and for examples, offline; far too few for a figure to publish.

    Pawłowska A, Ćwierz-Pieńkowska A, Domalik A, et al. *Curated benchmark dataset for
    ultrasound based breast lesion analysis.* Scientific Data 11:148 (2024); data: The Cancer
    Imaging Archive, DOI 10.7937/9WKK-Q141. Licence CC BY 4.0 (the ``README.txt`` beside the
    images): cite the article and the DOI wherever results on these images are reported.

    Parameters
    ----------
    classes : sequence of str, optional
        Keep these classes, in this order (their index is the target). Default: benign,
        malignant, normal.

    Returns
    -------
    data : Bunch
        As :func:`load_data` returns it for the full data set: ``images``, ``masks``,
        ``target``, ``target_names``, ``paths``, ``groups`` (patients, from the ``CaseID``
        column of ``breast_data.csv``), ``data`` (records whose ``meta`` holds the table's
        columns), ``DESCR``.

    Examples
    --------
    >>> from featbus import load_sample
    >>> data = load_sample()
    >>> len(data.images), data.target_names.tolist()
    (52, ['benign', 'malignant', 'normal'])
    >>> max(data.images[0].shape) <= 224, bool(data.masks[0].any()), data.data[0].meta["birads"]
    (True, True, '4a')
    >>> load_sample(classes=["benign", "malignant"]).target_names.tolist()
    ['benign', 'malignant']
    """
    data = load_breast_lesions_usg(SAMPLE_DIR)
    if classes is not None:
        names = data.target_names.tolist()
        classes = [str(c) for c in classes]
        if unknown := [c for c in classes if c not in names]:
            raise ValueError(f"the sample has no class(es) {unknown}: its classes are {names}")
        data = subset(data, [i for i, t in enumerate(data.target) if names[t] in classes])
        data.target = np.array([classes.index(names[t]) for t in data.target], dtype=int)
        data.target_names = np.asarray(classes, dtype=str)
    data.DESCR = (f"featbus sample: {len(data.images)} images of BrEaST-Lesions-USG, "
                  f"{_classes_text(data.target, data.target_names.tolist())}, shrunk to 224 px; patients as groups. "
                  "Pawłowska et al., Scientific Data 11:148 (2024); data DOI 10.7937/9WKK-Q141; CC BY 4.0.")
    return data
