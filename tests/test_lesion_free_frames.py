"""Whole frames with the lesion removed (featbus.segmentation.negatives.lesion_free_frame) and the
tissue check of a fill (fill_statistics): synthetic frames with a depth gradient and speckle."""

from __future__ import annotations

import numpy as np
import pytest

from featbus.segmentation.negatives import FILL_CHECK, fill_statistics, lesion_free_frame


def speckled_frame(h=120, w=160, seed=0):
    """Brightness falling with depth (rows), speckle texture, and a dark oval lesion with a bright
    band below it (posterior enhancement)."""
    rng = np.random.default_rng(seed)
    depth = np.linspace(0.6, 0.3, h)[:, None]
    frame = depth * rng.gamma(4.0, 0.25, (h, w))
    yy, xx = np.mgrid[:h, :w]
    mask = ((yy - 50) / 14) ** 2 + ((xx - 50) / 22) ** 2 <= 1
    frame[mask] = 0.05 * rng.random(mask.sum())
    below = (yy > 64) & (yy < 74) & (np.abs(xx - 50) < 20)
    frame[below] += 0.3
    return np.clip(frame, 0, 1).astype(np.float32), mask


def test_the_lesion_and_its_shadow_are_replaced_by_tissue_of_the_same_depth():
    frame, mask = speckled_frame()
    out, filled, stats = lesion_free_frame(frame, mask, random_state=0)
    assert out.shape == frame.shape and out.dtype == np.float32
    assert filled[mask].all() and filled[66:72, 45:55].all()  # the bright band below goes too
    assert stats["method"] == "resample" and stats["passes"]
    # the lesion's pixels now look like the tissue beside them at that depth (means within 0.1)
    beside = frame[36:64, 100:150]
    assert abs(float(out[mask].mean()) - float(beside.mean())) < 0.1


def test_pixels_far_from_the_region_are_left_as_they_were():
    frame, mask = speckled_frame(seed=1)
    out, filled, _ = lesion_free_frame(frame, mask, random_state=0, feather=0.01)
    from scipy import ndimage as ndi

    near = ndi.binary_dilation(filled, iterations=8)
    assert np.allclose(out[~near], frame[~near], atol=1e-5)


def test_a_smooth_fill_fails_the_tissue_check_and_a_resampled_one_passes():
    frame, mask = speckled_frame(seed=2)
    _, _, telea = lesion_free_frame(frame, mask, method="telea")
    _, _, resampled = lesion_free_frame(frame, mask, method="resample", random_state=0)
    assert telea["method"] == "telea" and not telea["passes"]
    assert telea["texture_ratio"] < FILL_CHECK["texture_ratio"][0]
    assert resampled["passes"]


def test_a_lesion_leaving_no_room_for_a_copy_falls_back_to_inpainting_and_says_so():
    frame, _ = speckled_frame(seed=3)
    mask = np.zeros(frame.shape, bool)
    mask[20:100, 10:150] = True  # wider than half the frame and taller than half of it
    out, filled, stats = lesion_free_frame(frame, mask, posterior=0)
    assert stats["method"] == "telea"
    assert np.isfinite(out).all() and 0 <= out.min() and out.max() <= 1


def test_the_same_seed_gives_the_same_frame_and_uint8_input_is_read_as_gray():
    frame, mask = speckled_frame(seed=4)
    a = lesion_free_frame(frame, mask, random_state=5)[0]
    b = lesion_free_frame(frame, mask, random_state=5)[0]
    np.testing.assert_array_equal(a, b)
    as_uint8 = np.round(frame * 255).astype(np.uint8)
    c = lesion_free_frame(as_uint8, mask, random_state=5)[0]
    np.testing.assert_allclose(c, a, atol=2 / 255)  # uint8 rounding of the input, documented tolerance


@pytest.mark.parametrize("bad, match", [
    ({"method": "poisson"}, "method must be"),
    ({"mask": np.zeros((120, 160), bool)}, "holds no lesion"),
    ({"mask": np.ones((10, 10), bool)}, "mask has shape"),
    ({"mask": np.ones((120, 160), bool)}, "fills the frame"),
])
def test_bad_input_is_named(bad, match):
    frame, mask = speckled_frame()
    kwargs = {"mask": mask, **bad}
    with pytest.raises(ValueError, match=match):
        lesion_free_frame(frame, **kwargs)


def test_fill_statistics_compares_the_fill_with_its_ring():
    rng = np.random.default_rng(0)
    frame = rng.random((80, 100)).astype(np.float32)
    region = np.zeros((80, 100), bool)
    region[30:50, 40:60] = True
    same = fill_statistics(frame, region)
    assert same["passes"] and abs(same["mean_z"]) < 0.3
    brighter = frame.copy()
    brighter[region] = np.clip(brighter[region] + 0.5, 0, 1)
    assert not fill_statistics(brighter, region)["passes"]
    with pytest.raises(ValueError, match="no fill"):
        fill_statistics(frame, np.zeros_like(region))
    with pytest.raises(ValueError, match="shape"):
        fill_statistics(frame, region[:10])


def test_lesion_free_frames_balance_the_sites_counting_their_own_normal_scans():
    from featbus.segmentation.negatives import lesion_free_frames

    images, masks, sites, labels = [], [], [], []
    for k in range(10):
        frame, mask = speckled_frame(seed=10 + k)
        site = "a" if k < 6 else "b"
        normal = site == "b" and k == 9
        images.append(frame)
        masks.append(np.zeros_like(mask) if normal else mask)
        sites.append(site)
        labels.append("normal" if normal else "benign")
    frames, source, counts = lesion_free_frames(images, masks, sites, 3, labels=labels, random_state=0)
    assert counts["a"] == {"made": 3, "tried": counts["a"]["tried"], "own_normal": 0}
    assert counts["b"]["own_normal"] == 1 and counts["b"]["made"] == 2
    assert len(frames) == len(source) == 5
    assert all(sites[i] == "a" for i in source[:3]) and all(labels[i] != "normal" for i in source)
    again = lesion_free_frames(images, masks, sites, 3, labels=labels, random_state=0)
    assert np.array_equal(again[1], source)
    with pytest.raises(ValueError, match="one length"):
        lesion_free_frames(images, masks[:3], sites, 3)
