"""Image-level presence scores pooled from a lesion map, lesion-free crops and painted calipers
(featbus.segmentation.presence.pool_map, featbus.segmentation.negatives): synthetic maps and
masks only, no network."""

from __future__ import annotations

import numpy as np
import pytest

from featbus.segmentation.negatives import lesion_free_boxes, lesion_free_crops, paint_calipers
from featbus.segmentation.presence import POOLINGS, pool_map, pooled_scores


def _speck_and_blob():
    speck = np.zeros((100, 120))
    speck[50, 60] = 0.99  # one confident pixel: a normal scan's speck
    blob = np.zeros((100, 120))
    blob[30:60, 40:80] = 0.7  # a lesion-sized region, less confident
    return speck, blob


def test_max_is_todays_score_and_prefers_the_speck():
    speck, blob = _speck_and_blob()
    assert pool_map(speck, "max") == pytest.approx(0.99)
    assert pool_map(speck, "max") > pool_map(blob, "max")


@pytest.mark.parametrize("pooling", ["top1", "top5", "blob_mass"])
def test_pooling_over_a_region_ranks_the_lesion_above_the_speck(pooling):
    speck, blob = _speck_and_blob()
    assert pool_map(blob, pooling, threshold=0.4) > pool_map(speck, pooling, threshold=0.4)


def test_top_percent_is_the_mean_of_the_highest_pixels():
    m = np.arange(1000, dtype=float).reshape(25, 40) / 1000  # 0.000 ... 0.999
    # the top 1 %: the ten highest values 0.990 ... 0.999 (exact in float64 up to rounding)
    assert pool_map(m, "top1") == pytest.approx(np.mean(np.arange(990, 1000) / 1000), abs=1e-12)
    assert pool_map(m, "top5") == pytest.approx(np.mean(np.arange(950, 1000) / 1000), abs=1e-12)


def test_blob_scores_read_the_candidate_of_largest_mass():
    m = np.zeros((50, 50))
    m[5:8, 5:8] = 0.95  # small, confident: mass 9 * 0.95
    m[20:40, 20:40] = 0.6  # large, less confident: mass 400 * 0.6
    assert pool_map(m, "blob_mean", threshold=0.5) == pytest.approx(0.6, abs=1e-12)
    assert pool_map(m, "blob_mass", threshold=0.5) == pytest.approx(400 * 0.6 / 2500, abs=1e-12)


def test_blob_scores_without_a_candidate_still_rank_by_the_highest_pixel():
    low, lower = np.full((10, 10), 0.1), np.full((10, 10), 0.05)
    low[0, 0] = 0.3
    assert pool_map(low, "blob_mean", threshold=0.4) == pytest.approx(0.3)
    assert pool_map(low, "blob_mass", threshold=0.4) > pool_map(lower, "blob_mass", threshold=0.4) > 0


def test_pooled_scores_stay_in_the_unit_interval_and_keep_the_order():
    rng = np.random.RandomState(0)
    maps = [rng.rand(30, 40) for _ in range(4)]
    for pooling in POOLINGS:
        s = pooled_scores(maps, pooling, threshold=0.5)
        assert s.shape == (4,) and np.all((s >= 0) & (s <= 1))
        assert s[2] == pool_map(maps[2], pooling, threshold=0.5)


def test_an_unknown_pooling_is_named_with_a_suggestion():
    with pytest.raises(ValueError, match=r"pooling must be one of .*'top_1'.*did you mean 'top1'"):
        pool_map(np.zeros((4, 4)), "top_1")
    with pytest.raises(ValueError, match="empty"):
        pool_map(np.zeros((0, 4)), "max")


@pytest.mark.parametrize("seed", range(5))
def test_lesion_free_boxes_never_touch_the_lesion_nor_its_margin(seed):
    rng = np.random.RandomState(seed)
    h, w = 90 + 10 * seed, 130
    mask = np.zeros((h, w), bool)
    r, c = rng.randint(10, h - 30), rng.randint(10, w - 30)
    mask[r:r + 20, c:c + 25] = True
    mask[rng.randint(0, h), rng.randint(0, w)] = True  # a second, one-pixel lesion
    boxes = lesion_free_boxes(mask, 20, random_state=seed, min_fraction=0.3, max_fraction=0.6, margin=0.05)
    assert boxes, "some room is left beside a small lesion"
    grow = int(np.ceil(0.05 * min(h, w)))
    from scipy import ndimage as ndi

    grown = ndi.binary_dilation(mask, np.ones((3, 3), bool), iterations=grow)
    for r0, r1, c0, c1 in boxes:
        assert 0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w
        assert not grown[r0:r1, c0:c1].any()
        assert r1 - r0 >= round(0.3 * h) - 1  # frame-like: at least min_fraction of each side
        assert c1 - c0 >= round(0.3 * 0.8 * w) - 1


def test_lesion_free_crops_copy_the_pixels_and_a_filled_frame_gives_none():
    image = np.arange(60 * 80, dtype=np.uint16).reshape(60, 80)
    mask = np.zeros((60, 80), bool)
    mask[40:, 50:] = True
    crops = lesion_free_crops(image, mask, 3, random_state=0, min_fraction=0.4, max_fraction=0.5)
    assert len(crops) == 3 and all(c.dtype == np.uint16 for c in crops)
    for c in crops:  # each crop is a block of the image (rows of consecutive values)
        assert np.all(np.diff(c, axis=1) == 1) and np.all(np.diff(c[:, 0]) == 80)
    assert lesion_free_crops(image, np.ones((60, 80), bool), 3, random_state=0) == []
    normal = lesion_free_boxes(np.zeros((60, 80)), 2, random_state=0)  # a normal scan: anywhere
    assert len(normal) == 2


def test_lesion_free_boxes_are_reproducible_and_check_their_settings():
    mask = np.zeros((50, 50), bool)
    mask[:10, :10] = True
    assert lesion_free_boxes(mask, 4, random_state=3) == lesion_free_boxes(mask, 4, random_state=3)
    with pytest.raises(ValueError, match="min_fraction"):
        lesion_free_boxes(mask, 1, min_fraction=0)
    with pytest.raises(ValueError, match="max_fraction"):
        lesion_free_boxes(mask, 1, min_fraction=0.6, max_fraction=0.5)
    with pytest.raises(ValueError, match="2-D"):
        lesion_free_boxes(np.zeros((4, 4, 3)), 1)
    with pytest.raises(ValueError, match="shape"):
        lesion_free_crops(np.zeros((10, 10)), np.zeros((9, 10)), 1)


def test_paint_calipers_draws_two_bright_crosses_and_leaves_the_rest():
    image = np.full((120, 160), 0.2, np.float32)
    out = paint_calipers(image, random_state=0, line=0.0, labels=0)
    bright = out >= 0.8
    from scipy import ndimage as ndi

    _, n = ndi.label(bright, np.ones((3, 3), bool))
    assert n == 2  # the two crosses of one pair, nothing else
    assert np.all(out[~bright] == pytest.approx(0.2))
    assert image.max() == pytest.approx(0.2)  # the input is not changed


def test_paint_calipers_line_labels_and_bad_input():
    image = np.zeros((120, 160), np.float32)
    with_line = paint_calipers(image, random_state=1, line=1.0, labels=0)
    without = paint_calipers(image, random_state=1, line=0.0, labels=0)
    assert (with_line >= 0.8).sum() > (without >= 0.8).sum()
    assert paint_calipers(image, random_state=2, pairs=0, labels=0).max() == 0
    with pytest.raises(ValueError, match="2-D"):
        paint_calipers(np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="line"):
        paint_calipers(image, line=2)
