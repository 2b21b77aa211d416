"""Classical lesion segmenters (featbus.segmentation.classical): the U-Net's interface, no
learning, Dice on real BUSI lesions above a measured floor, and ROI cropping / train_model with
one of them as the segmenter."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from featbus import EdgeSegmenter, ImageRecord, ROICropper, ThresholdSegmenter
from featbus.segmentation import dice_scores
from featbus.segmentation.classical import select_lesion

SEGMENTERS = [ThresholdSegmenter(method="otsu"), ThresholdSegmenter(method="adaptive"), EdgeSegmenter()]
IDS = ["otsu", "adaptive", "edges"]


def _phantom(dark=True):
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(170, 12, (96, 96)), 0, 255)
    img[35:60, 30:65] = np.clip(rng.normal(50 if dark else 250, 12, (25, 35)), 0, 255)
    mask = np.zeros((96, 96), bool)
    mask[35:60, 30:65] = True
    return img.astype(np.uint8), mask


@pytest.mark.parametrize("seg", SEGMENTERS, ids=IDS)
def test_finds_a_dark_lesion(seg):
    img, mask = _phantom()
    out = seg.fit([img]).predict_masks([ImageRecord(img, mask)])
    assert out[0].dtype == bool and out[0].shape == img.shape
    assert dice_scores([mask], out)[0] > 0.85
    assert seg.score([ImageRecord(img, mask)]) > 0.85
    np.testing.assert_array_equal(seg.predict(img[None]), out)  # predict = predict_masks
    maps = seg.predict_proba_maps([img])
    assert maps[0].dtype == np.float32 and set(np.unique(maps[0])) <= {0.0, 1.0}
    np.testing.assert_array_equal(seg.masks_from_maps(maps)[0], out[0])


@pytest.mark.parametrize("seg", SEGMENTERS, ids=IDS)
def test_stateless_usable_unfitted_and_picklable(seg):
    """Nothing is learned: an unfitted one counts as fitted (ROI cropping uses it as given)."""
    seg = clone(seg)
    check_is_fitted(seg)
    img, _ = _phantom()
    a = seg.predict_masks([img])
    b = pickle.loads(pickle.dumps(seg)).predict_masks([img])
    np.testing.assert_array_equal(a[0], b[0])
    assert seg.fit([img], [np.zeros_like(img)], groups=[0]) is seg  # the U-Net's fit(X, masks, groups)


def test_polarity_and_flat_images():
    img, mask = _phantom(dark=False)
    assert not ThresholdSegmenter(method="otsu").predict_masks([img])[0][45, 45]
    bright = ThresholdSegmenter(method="otsu", polarity="bright").predict_masks([img])[0]
    assert dice_scores([mask], [bright])[0] > 0.85
    flat = np.full((64, 64), 90, np.uint8)
    for seg in SEGMENTERS:
        assert not seg.predict_masks([flat])[0].any()  # nothing to find: empty, no error


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="block_size"):
        ThresholdSegmenter(block_size=10).fit()
    with pytest.raises(ValueError, match="method"):
        ThresholdSegmenter(method="triangle").predict_masks([np.zeros((16, 16), np.uint8)])
    with pytest.raises(ValueError, match="select"):
        EdgeSegmenter(select="brightest").fit()


def test_select_rules():
    m = np.zeros((100, 100), bool)
    m[40:60, 40:60] = True   # central, 400 px
    m[5:35, 5:35] = True     # larger, off centre, 900 px
    m[0:10, 80:100] = True   # touches the border
    image = np.full((100, 100), 0.5)
    image[5:35, 5:35] = 0.1
    assert select_lesion(m, image, opening=0)[50, 50]
    assert select_lesion(m, image, select="largest", opening=0)[20, 20]
    assert select_lesion(m, image, select="darkest", opening=0)[20, 20]
    assert select_lesion(m, image, select="largest", opening=0, exclude_border=False).sum() == 900
    assert not select_lesion(m, image, min_area=0.5, opening=0).any()


# ------------------------------------------------------------------ real BUSI images
#: mean Dice on the first 20 BUSI lesion images (loader order), measured with the defaults:
#: otsu 0.218, adaptive 0.134, edges 0.116 (all 514 lesion images: benchmarks/classical_segmentation.py);
#: the floors are about half of that, well above 0 (a segmenter that finds nothing)
DICE_FLOOR = {"otsu": 0.10, "adaptive": 0.07, "edges": 0.06}


@pytest.fixture(scope="module")
def busi_lesions(busi):
    lesions = [r for r in busi.data if r.mask.any()][:20]
    return busi, lesions


@pytest.mark.parametrize("k", range(3), ids=IDS)
def test_busi_dice_above_floor(busi_lesions, k):
    _, lesions = busi_lesions
    seg = SEGMENTERS[k]
    pred = seg.predict_masks(lesions)
    dice = dice_scores([r.mask for r in lesions], pred)
    assert dice.mean() > DICE_FLOOR[IDS[k]], f"{IDS[k]}: mean Dice {dice.mean():.3f}"
    assert sum(p.any() for p in pred) >= len(pred) // 2  # it finds something in most images


def test_busi_roi_cropping_accepts_them(busi_lesions):
    _, lesions = busi_lesions
    records = lesions[:6]
    out = ROICropper(segmenter=ThresholdSegmenter(), source="segmenter").fit_transform(records)
    assert len(out) == 6 and all(r.meta["roi_source"] in ("segmenter", "none") for r in out)
    assert any(r.meta["roi_found"] and r.image.shape != rec.image.shape for r, rec in zip(out, records))


def test_busi_train_model_with_threshold_segmenter(busi_lesions):
    from sklearn.utils import Bunch

    from featbus import train_model

    busi, _ = busi_lesions
    idx = np.r_[0:12, 345:357]  # 12 benign, 12 malignant (loader order: class folders)
    data = Bunch(data=[busi.data[i] for i in idx], target=np.asarray(busi.target)[idx],
                 target_names=busi.target_names, groups=np.asarray(busi.groups)[idx])
    model = train_model(data, features=["intensity"], classifier="logreg", segmenter=ThresholdSegmenter(),
                        n_splits=2, n_bootstrap=0, progress=False, cache=None)
    assert model.manifest["segmenter"]["class"] == "ThresholdSegmenter"
    new = [ImageRecord(busi.data[i].image) for i in (20, 360)]  # no masks: the segmenter crops
    assert len(model.predict(new)) == 2
