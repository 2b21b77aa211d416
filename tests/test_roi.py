"""Tests of featbus.segmentation.roi: boxes, crops, ROICropper in pipelines, the found flag.

A tiny threshold "segmenter" stands in for the U-Net here so these tests need no Keras; the
U-Net inside ROICropper is tested in test_segmentation.py.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import FeatureUnion, Pipeline

from featbus import ImageError, ImageRecord, IntensityStats, ROICropper
from featbus.segmentation.roi import RoiFoundFlag, center_box, crop_to_roi, largest_component, lesion_box
from featbus.testing import make_check_images, parametrize_with_image_checks


class ThresholdSegmenter(BaseEstimator):
    """Lesion = pixels brighter than a threshold learned as the mean lesion/background midpoint."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset

    def fit(self, X, y=None):
        inside = np.concatenate([np.asarray(r.image, float)[r.mask] for r in X if r.mask.any()])
        outside = np.concatenate([np.asarray(r.image, float)[~r.mask] for r in X])
        self.threshold_ = (inside.mean() + outside.mean()) / 2 + self.offset
        return self

    def predict_masks(self, X):
        imgs = [r.image if isinstance(r, ImageRecord) else r for r in X]
        return [np.asarray(im, float) > self.threshold_ for im in imgs]


def blob(h=64, w=80, box=(20, 40, 30, 50), value=200, seed=0):
    rng = np.random.RandomState(seed)
    img = rng.randint(0, 60, size=(h, w)).astype(np.uint8)
    mask = np.zeros((h, w), bool)
    r0, r1, c0, c1 = box
    mask[r0:r1, c0:c1] = True
    img[mask] = value
    return img, mask


def dataset(n=12, seed=0):
    """Records whose label (lesion brightness high/low) is visible only inside the lesion."""
    rng = np.random.RandomState(seed)
    recs, y = [], []
    for i in range(n):
        r0, c0 = rng.randint(5, 30), rng.randint(5, 40)
        label = i % 2
        img, mask = blob(box=(r0, r0 + 20, c0, c0 + 20), value=150 + 80 * label, seed=i)
        recs.append(ImageRecord(img, mask, f"img{i}.png"))
        y.append(label)
    return recs, np.array(y)


# ----------------------------------------------------------------------------- functions

def test_lesion_box_margin_and_clipping():
    m = np.zeros((100, 100), bool)
    m[40:60, 30:50] = True
    assert lesion_box(m, 0.0, min_size=8) == (40, 60, 30, 50)
    assert lesion_box(m, 0.5, min_size=8) == (30, 70, 20, 60)
    # a lesion at the edge: the box shifts inward rather than leaving the image
    e = np.zeros((100, 100), bool)
    e[0:10, 90:100] = True
    r0, r1, c0, c1 = lesion_box(e, 0.2, min_size=32)
    assert (r0, c1) == (0, 100) and r1 - r0 == 32 and c1 - c0 == 32
    assert lesion_box(np.zeros((5, 5)), 0.1) is None
    with pytest.raises(ValueError, match="margin"):
        lesion_box(m, -0.1)


def test_tiny_lesion_gets_min_size_crop():
    img, mask = blob(box=(30, 31, 40, 41))  # a one-pixel lesion
    crop, cmask, box, found = crop_to_roi(img, mask, margin=0.15, min_size=16)
    assert found and crop.shape == (16, 16) and cmask.sum() == 1
    r0, r1, c0, c1 = box
    assert r0 <= 30 < r1 and c0 <= 40 < c1


def test_min_size_never_exceeds_image():
    img, mask = blob(h=20, w=24, box=(5, 8, 5, 8))
    crop, _, box, _ = crop_to_roi(img, mask, min_size=64)
    assert crop.shape == (20, 24) and box == (0, 20, 0, 24)


def test_crop_on_empty_modes():
    img, _ = blob()
    empty = np.zeros(img.shape, bool)
    crop, cmask, box, found = crop_to_roi(img, empty, on_empty="image")
    assert not found and crop.shape == img.shape and not cmask.any()
    crop, _, box, found = crop_to_roi(img, empty, on_empty="center")
    assert not found and box == center_box(img.shape) and crop.shape == (32, 40)
    with pytest.raises(ValueError, match="no lesion"):
        crop_to_roi(img, empty, on_empty="raise")
    with pytest.raises(ValueError, match="on_empty"):
        crop_to_roi(img, empty, on_empty="zeros")


def test_crop_keeps_dtype_and_resizes_mask_nearest():
    img, mask = blob()
    img16 = img.astype(np.uint16) * 200
    crop, cmask, _, _ = crop_to_roi(img16, mask, output_size=(24, 30))
    assert crop.dtype == np.uint16 and crop.shape == (24, 30)
    assert cmask.dtype == bool and cmask.shape == (24, 30) and cmask.any()


def test_crop_mask_size_mismatch():
    img, _ = blob()
    with pytest.raises(ValueError, match="mask has shape"):
        crop_to_roi(img, np.zeros((10, 10), bool))


def test_largest_component():
    m = np.zeros((20, 20), bool)
    m[1, 1] = True
    m[10:15, 10:15] = True
    out = largest_component(m)
    assert out.sum() == 25 and not out[1, 1]
    assert not largest_component(np.zeros((4, 4), bool)).any()


# ----------------------------------------------------------------------------- ROICropper

def test_cropper_from_ground_truth_mask():
    recs, _ = dataset(4)
    out = ROICropper(source="mask", margin=0.0, min_size=8).fit_transform(recs)
    assert all(isinstance(r, ImageRecord) for r in out)
    for rec, o in zip(recs, out):
        assert o.shape == (20, 20) and o.mask.all()
        assert o.meta["roi_found"] and o.meta["roi_source"] == "mask"
        r0, r1, c0, c1 = o.meta["roi_box"]
        assert np.array_equal(o.image, rec.image[r0:r1, c0:c1])
        assert o.path == rec.path
    # the input is left untouched
    assert recs[0].image.shape == (64, 80)


def test_cropper_pass_mask_false_and_output_size():
    recs, _ = dataset(3)
    out = ROICropper(source="mask", pass_mask=False, output_size=32).fit_transform(recs)
    assert all(o.mask is None and o.shape == (32, 32) for o in out)


def test_cropper_empty_mask_is_documented_not_dropped():
    img, _ = blob()
    recs = [ImageRecord(img, np.zeros(img.shape, bool), "normal.png")]
    out = ROICropper(source="mask", on_empty="image").fit_transform(recs)
    assert out[0].shape == img.shape and out[0].meta["roi_found"] is False
    assert out[0].meta["roi_source"] == "none"
    out = ROICropper(source="mask", on_empty="center").fit_transform(recs)
    assert out[0].shape == (32, 40)
    with pytest.raises(ImageError, match=r"image 0 \('normal.png'\).*no lesion"):
        ROICropper(source="mask", on_empty="raise").fit_transform(recs)


def test_cropper_errors_name_the_item():
    img, mask = blob()
    with pytest.raises(ImageError, match="image 1.*no lesion mask"):
        ROICropper(source="mask").fit_transform([ImageRecord(img, mask), img])
    with pytest.raises(ImageError, match="image 0.*no segmenter"):
        ROICropper().fit_transform([img])
    with pytest.raises(ImageError, match=r"image 1.*mask has shape \(10, 10\)"):
        ROICropper(source="mask").fit_transform([ImageRecord(img, mask), ImageRecord(img, np.ones((10, 10)))])


@pytest.mark.parametrize("params, match", [
    (dict(source="gt"), "source"), (dict(on_empty="zeros"), "on_empty"), (dict(margin=-1), "margin"),
    (dict(output_size=3), "output_size"), (dict(min_size=2), "min_size"), (dict(source="segmenter"), "needs a"),
    (dict(segmenter=42), "predict_masks"), (dict(min_area=1.5), "min_area"),
])
def test_cropper_bad_params(params, match):
    img, mask = blob()
    with pytest.raises(ValueError, match=match):
        ROICropper(**params).fit([ImageRecord(img, mask)])


def test_cropper_segmenter_sources():
    recs, _ = dataset(6)
    seg = ThresholdSegmenter().fit(recs)
    bare = [r.image for r in recs]
    out = ROICropper(segmenter=seg, margin=0.0, min_size=8).fit(recs).transform(bare)
    assert all(o.meta["roi_source"] == "segmenter" and o.meta["roi_found"] for o in out)
    assert all(o.shape == (20, 20) for o in out)
    # "auto" uses the ground truth when a record carries it; "segmenter" ignores it
    wrong = [ImageRecord(r.image, np.roll(r.mask, 3, axis=0), r.path) for r in recs]
    auto = ROICropper(segmenter=seg, margin=0.0, min_size=8).fit_transform(wrong)
    assert [o.meta["roi_box"] for o in auto] != [o.meta["roi_box"] for o in out]
    forced = ROICropper(segmenter=seg, source="segmenter", margin=0.0, min_size=8).fit_transform(wrong)
    assert [o.meta["roi_box"] for o in forced] == [o.meta["roi_box"] for o in out]


def test_cropper_segmenter_finds_nothing_and_min_area():
    recs, _ = dataset(4)
    seg = ThresholdSegmenter(offset=1000).fit(recs)  # predicts no lesion anywhere
    out = ROICropper(segmenter=seg, source="segmenter").fit_transform(recs)
    assert not any(o.meta["roi_found"] for o in out)
    seg = ThresholdSegmenter().fit(recs)
    out = ROICropper(segmenter=seg, source="segmenter", min_area=0.5).fit_transform(recs)
    assert not any(o.meta["roi_found"] for o in out)  # 400-pixel lesions < half the image


def test_unfitted_segmenter_is_trained_in_fit_and_frozen_one_is_not():
    recs, _ = dataset(6)
    unfitted = ThresholdSegmenter()
    crop = ROICropper(segmenter=unfitted, source="segmenter").fit(recs)
    assert hasattr(crop.segmenter_, "threshold_") and not hasattr(unfitted, "threshold_")
    with pytest.raises(NotFittedError):
        ROICropper(segmenter=ThresholdSegmenter(), source="segmenter").transform(recs)
    fitted = ThresholdSegmenter().fit(recs)
    frozen = ROICropper(segmenter=FrozenEstimator(fitted), source="segmenter")
    cloned = clone(frozen).fit(recs[:2])
    assert cloned.segmenter_.estimator is fitted  # clone kept the pre-trained segmenter


def test_pipeline_gridsearch_flag_and_pickle():
    recs, y = dataset(16)
    seg = ThresholdSegmenter().fit(recs)
    crop = ROICropper(segmenter=FrozenEstimator(seg), source="segmenter", output_size=32)
    feats = FeatureUnion([("stats", IntensityStats(region="mask")), ("found", RoiFoundFlag())])
    pipe = Pipeline([("roi", crop), ("feat", feats), ("clf", LogisticRegression())])
    grid = GridSearchCV(pipe, {"roi__margin": [0.0, 0.3]}, cv=2).fit(recs, y)
    assert grid.best_score_ > 0.9
    names = grid.best_estimator_["feat"].get_feature_names_out()
    assert names[-1] == "found__roi_found"
    # the fitted pipeline predicts on images without masks, and survives pickling
    bare = [r.image for r in recs]
    again = pickle.loads(pickle.dumps(grid.best_estimator_))
    assert np.array_equal(again.predict(bare), grid.best_estimator_.predict(bare))


def test_roi_found_flag_needs_cropper_output():
    img, _ = blob()
    with pytest.raises(ImageError, match="roi_found"):
        RoiFoundFlag().fit([img])
    assert list(RoiFoundFlag().get_feature_names_out()) == ["roi_found"]


def test_busi_ground_truth_crops(busi_root):
    from featbus import read_image

    recs = []
    for name in ["benign (1)", "malignant (1)", "normal (1)"]:
        cls = name.split(" ")[0]
        img = read_image(busi_root / cls / f"{name}.png")
        mask = read_image(busi_root / cls / f"{name}_mask.png") > 0
        recs.append(ImageRecord(img, mask, str(busi_root / cls / f"{name}.png")))
    out = ROICropper(source="mask", margin=0.15).fit_transform(recs)
    for rec, o in zip(recs[:2], out[:2]):
        assert o.meta["roi_found"] and o.image.size < rec.image.size
        assert o.mask.sum() == rec.mask.sum()  # the whole lesion lies inside its crop
    assert not out[2].meta["roi_found"] and out[2].shape == recs[2].shape


_CHECK_SEG = ThresholdSegmenter().fit(make_check_images())


@parametrize_with_image_checks([
    ROICropper(source="mask", output_size=32),
    ROICropper(segmenter=FrozenEstimator(_CHECK_SEG), source="segmenter", on_empty="center"),
])
def test_common_image_checks(estimator, check):
    check()
