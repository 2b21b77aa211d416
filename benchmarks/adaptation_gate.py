"""Where another scanner and another modality fall on a BUSI model's out-of-domain score, before
and after adaptation: the table in :mod:`featbus.workflows.adaptation` (the kind of image is refused by
:func:`featbus.model.domain.refuse_other_kind`).

A model is trained on the 625 BUSI images (``FEATURES`` -> logistic regression, no CV); its
out-of-domain reference (:mod:`featbus.model.domain`) then scores 200 BUS-BRA images (another hospital's
GE Logiq 5, drawn with seed 0), the first 40 BUS-BRA images, the 120 mini-MIAS mammograms and the
first 40 of them: ``before``, against the training reference as trained (what :func:`featbus.adapt`
checks first), and ``after``, against that reference re-standardised on the set's own feature rows
(what an adapted model scores with, ``featbus.workflows.adaptation._restandardised_reference``). Per set:
median, 10 % and 90 % quantiles of ``out_of_domain``, and the shares above 1 (flagged), 1.5 and 2.

Run from the repository root (about 2 min for intensity,lbp on 2 CPU cores, 5-10 min for the
others)::

    PYTHONPATH=. python benchmarks/adaptation_gate.py                             # intensity,lbp
    PYTHONPATH=. python benchmarks/adaptation_gate.py hog,lbp,glcm,intensity
    PYTHONPATH=. python benchmarks/adaptation_gate.py efficientnet_lite0

Data: ``../shared/data`` (BUSI: Al-Dhabyani et al. 2020, doi:10.1016/j.dib.2019.104863; BUS-BRA:
Gomez-Flores et al. 2024, doi:10.1002/mp.16812; mini-MIAS: Suckling et al. 1994).
"""

from __future__ import annotations

import sys

import numpy as np

from featbus import get_data_home, load_data
from featbus.model.loaded import read_records
from featbus.workflows.adaptation import _restandardised_reference
from featbus.workflows.training import train_model

DATA = get_data_home()


def _line(v: np.ndarray) -> str:
    return (f"median {np.median(v):.2f}, q10 {np.quantile(v, .1):.2f}, q90 {np.quantile(v, .9):.2f}, "
            f"flagged {np.mean(v > 1):.2f}, >1.5 {np.mean(v > 1.5):.2f}, >2 {np.mean(v > 2):.2f}")


def main(features: str = "intensity,lbp") -> None:
    busi = load_data(str(DATA / "busi" / "Dataset_BUSI_with_GT"))
    model = train_model(busi, features, classifier="logreg", cross_validate=False, progress=False)
    ref = model.domain
    print(features, "reference", model.manifest["domain"]["n_components"], "threshold", round(ref.threshold_, 3))
    bra = load_data(str(DATA / "bus-bra"))
    mias = sorted(str(p) for p in (DATA / "mini-mias").glob("*.pgm"))
    rng = np.random.RandomState(0)
    sets = {"bus-bra 200": [bra.data[i] for i in rng.choice(len(bra.data), 200, replace=False)],
            "bus-bra 40": [bra.data[i] for i in range(40)],
            "mini-mias 120": mias, "mini-mias 40": mias[:40]}
    for name, items in sets.items():
        records, _, _ = read_records(items)
        X = np.asarray(model.features.transform(model._crop(records)))
        before = ref.transform(X)[:, 0]
        after = _restandardised_reference(ref, X).transform(X)[:, 0]
        print(f"{name:14} before: {_line(before)}\n{'':14} after:  {_line(after)}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
