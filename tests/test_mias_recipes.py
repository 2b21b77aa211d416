"""benchmarks/mias_recipes.py: its groups are the women, and its matched ROI protocol cuts one
normal patch per normal image, inside the breast, at a lesion position (so the patch's place no
longer tells the classes apart)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import repo_script

pytestmark = pytest.mark.slow  # reads the real data sets (python -m pytest -m "not slow" leaves it out)



@pytest.fixture(scope="module")
def bench():
    return repo_script("benchmarks/mias_recipes.py")


@pytest.fixture(scope="module")
def mias(mias_original_root):
    from featbus import load_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 120 of the 322 images Info.txt lists
        return load_data(mias_original_root, task="abnormal")


def test_groups_are_women(mias):
    numbers = np.array([int(Path(p).stem[3:]) for p in mias.paths])
    assert np.array_equal(mias.groups, (numbers - 1) // 2)
    assert np.unique(mias.groups).size == len(mias.target) // 2


def test_matched_patches_one_per_normal_image_inside_the_breast(bench, mias):
    from featbus.preprocessing.mammography import breast_mask

    centres = bench.matched_centres(mias, seed=0)
    normal = np.nonzero(mias.target == 0)[0]
    assert [i for i, _, _ in centres] == normal.tolist()
    for i, row, col in centres[:10]:
        assert breast_mask(mias.data[i].image)[1][row, col]
    assert centres == bench.matched_centres(mias, seed=0)  # seeded
    images, y, women, _ = bench.roi_patches(mias, "ROI, matched")
    assert len(images) == len(y) == len(women) and int((y == 0).sum()) == normal.size
    assert {im.shape for im in images} == {(224, 224)}
    # the patches of one woman stay in her group
    assert set(women[y == 0].tolist()) == set(mias.groups[normal].tolist())
