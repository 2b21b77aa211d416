"""IBSI-1 digital phantom: every 2-D texture-matrix feature against its consensus value.

The phantom (5 x 4 x 4 voxels) and the consensus values live in ``../shared/reference`` beside
the repository (IBSI reference manual, Zwanenburg et al. 2020, doi:10.1148/radiol.2020191145);
the tests skip when the files are absent. IBSI publishes 3 significant figures and no tolerance
for the phantom, so a value passes when it rounds to the published value at 3 significant
figures. Aggregation as in the consensus file: features per xy slice (per direction for
GLRLM, IBSI "2D, averaged") averaged over the 4 slices (IBSI "2D"); no discretisation (the
phantom's values are its grey levels).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from featbus.features import texture_matrices as tm

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"

FAMILIES = {
    "glrlm": (tm.glrlm_features, tm.GLRLM_FEATURES),
    "glszm": (tm.glszm_features, tm.GLSZM_FEATURES),
    "gldzm": (tm.gldzm_features, tm.GLDZM_FEATURES),
    "ngtdm": (tm.ngtdm_features, tm.NGTDM_FEATURES),
    "ngldm": (tm.gldm_features, tm.GLDM_FEATURES),  # IBSI's NGLDM is featbus' GLDM
}


@pytest.fixture(scope="module")
def phantom():
    path = REFERENCE / "ibsi_phantom.json"
    if not path.is_file():
        pytest.skip(f"IBSI phantom not found at {path}")
    data = json.loads(path.read_text())
    return np.array(data["phantom"]), np.array(data["mask"], dtype=bool)


@pytest.fixture(scope="module")
def consensus():
    path = REFERENCE / "ibsi_texture_consensus.json"
    if not path.is_file():
        pytest.skip(f"IBSI consensus values not found at {path}")
    return json.loads(path.read_text())["families"]


def _slice_average(func, image, mask, **kw):
    return np.mean([func(image[z], mask[z], **kw) for z in range(image.shape[0])], axis=0)


def _three_sig(x: float) -> float:
    return float(f"{x:.3g}")


CASES = [(fam, i, name) for fam, (_, names) in FAMILIES.items() for i, name in enumerate(names)]


@pytest.mark.parametrize("family,index,name", CASES, ids=[f"{f}.{n}" for f, _, n in CASES])
def test_ibsi_phantom_consensus(phantom, consensus, family, index, name):
    image, mask = phantom
    func, _ = FAMILIES[family]
    value = _slice_average(func, image, mask, bins=None)[index]
    expected = consensus[family][name]
    assert _three_sig(value) == pytest.approx(expected, rel=1e-9), (family, name, value, expected)


def test_every_consensus_feature_is_implemented(consensus):
    for family, (_, names) in FAMILIES.items():
        assert set(consensus[family]) == set(names), family


@pytest.mark.parametrize("family", list(FAMILIES))
def test_fixed_bin_number_reproduces_the_phantom_levels(phantom, family):
    # Every slice's region spans 1..6, so 6 bins over the region's range give the phantom's own
    # levels back: the float path (as the transformers use it) equals the integer path.
    image, mask = phantom
    func, _ = FAMILIES[family]
    as_float = (image - 1) / 8.0  # in [0, 1]; the excluded value 9 maps to 1.0
    np.testing.assert_allclose(_slice_average(func, as_float, mask, bins=6),
                               _slice_average(func, image, mask, bins=None), rtol=1e-12)


def test_phantom_matrices_by_hand(phantom):
    # Slice z=0 without exclusions; its horizontal runs, counted by hand from the layout:
    # row 0: 1 | 4 4 | 1 1   row 1: 1 | 4 | 6 | 1 1   row 2: 4 | 1 | 6 | 4 | 1   row 3: 4 4 | 6 | 4 | 1
    image, mask = phantom
    M, n_v = tm.glrlm_matrices(image[0], mask[0], bins=None)
    assert n_v == 20
    horizontal = M[0]
    assert horizontal[0].tolist()[:2] == [5.0, 2.0]  # level 1: five single pixels, two pairs
    assert horizontal[3].tolist()[:2] == [4.0, 2.0]  # level 4: four singles, two pairs
    assert horizontal[5].tolist()[:2] == [3.0, 0.0]  # level 6: three singles
