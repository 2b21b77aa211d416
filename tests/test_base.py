"""The image record, input checks and base transformers of featbus._base."""

import pickle

import numpy as np
import pytest

from featbus._base import BaseFeatureExtractor, BaseImagePreprocessor
from featbus._records import ImageError, ImageRecord, check_images, map_images, to_float, to_gray
from featbus.io import load_item


class MeanFeature(BaseFeatureExtractor):
    """Toy extractor: the mean of the region."""

    def __init__(self, region="image", empty_mask="image", n_jobs=None):
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs

    def _fit_features(self, items):
        return ["toy.mean", "toy.size"]

    def _features(self, image, mask):
        values = image[mask] if mask is not None else image
        return [values.mean(), values.size]


class Invert(BaseImagePreprocessor):
    def __init__(self, n_jobs=None):
        self.n_jobs = n_jobs

    def _process(self, image, index, path):
        return np.iinfo(image.dtype).max - image


def _rec(value=100, shape=(16, 16), box=(4, 8, 4, 8)):
    img = np.full(shape, value, np.uint8)
    mask = np.zeros(shape, bool)
    if box:
        r0, r1, c0, c1 = box
        mask[r0:r1, c0:c1] = True
        img[mask] = 0
    return ImageRecord(img, mask, path=f"img{value}.png")


def test_check_images_accepts_kinds_and_rejects_ambiguity(tmp_path):
    stack = np.zeros((3, 10, 12), np.uint8)
    assert len(check_images(stack)) == 3
    assert len(check_images([np.zeros((9, 9)), "a.png", _rec()])) == 3
    with pytest.raises(ValueError, match="single 2-D array"):
        check_images(np.zeros((10, 10)))
    with pytest.raises(ValueError, match="no images"):
        check_images([])
    with pytest.raises(ValueError, match=r"X\[1\] is a dict"):
        check_images([np.zeros((9, 9)), {"a": 1}])
    with pytest.raises(ValueError, match="single str"):
        check_images("a.png")


def test_bad_single_images_are_named():
    with pytest.raises(ImageError, match=r"image 0: is 1x1 pixels"):
        load_item(np.zeros((1, 1), np.uint8), 0)
    bad = np.ones((10, 10), np.float32)
    bad[2, 3] = np.nan
    with pytest.raises(ImageError, match=r"image 4: has 1 NaN"):
        load_item(bad, 4)
    with pytest.raises(ImageError, match="mask has shape"):
        load_item(ImageRecord(np.zeros((10, 10), np.uint8), np.zeros((9, 10), bool), "x.png"), 2)
    with pytest.raises(ImageError, match="dtype bool"):
        load_item(np.zeros((10, 10), bool), 1)
    with pytest.raises(ImageError, match=r"float image with values in \[0, 255\]"):
        to_float(np.linspace(0, 255, 100, dtype=np.float32).reshape(10, 10), index=3)


def test_gray_conversion_and_scaling():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255
    assert to_gray(rgb)[0, 0] == round(0.299 * 255)
    rgba = np.dstack([np.full((4, 4, 3), 200, np.uint8), np.zeros((4, 4), np.uint8)])
    assert to_gray(rgba).max() == 0  # fully transparent = background
    assert to_gray(np.zeros((5, 5, 1), np.uint16)).dtype == np.uint16
    assert to_float(np.array([[65535]], np.uint16))[0, 0] == 1.0
    with pytest.raises(ImageError, match="expected"):
        to_gray(np.zeros((4, 4, 2)))


def test_error_pickles_with_its_context():
    err = pickle.loads(pickle.dumps(ImageError("is broken", 3, "a b.png")))
    assert err.index == 3 and err.path == "a b.png" and "image 3 ('a b.png')" in str(err)


def test_map_images_keeps_order_in_parallel():
    out = map_images(lambda x, i: (i, x * 2), list(range(23)), n_jobs=2, backend="threading")
    assert out == [(i, 2 * i) for i in range(23)]


def test_extractor_regions_and_empty_masks():
    recs = [_rec(100), _rec(50, box=None)]
    whole = MeanFeature().fit(recs).transform(recs)
    assert whole[0, 1] == 256
    masked = MeanFeature(region="mask").fit(recs).transform(recs)
    assert masked[0].tolist() == [0.0, 16.0]  # only the lesion's pixels
    assert masked[1, 1] == 256  # empty mask: documented fallback to the whole image
    bbox = MeanFeature(region="bbox").fit(recs).transform(recs)
    assert bbox[0, 1] == 16
    with pytest.raises(ImageError, match=r"image 1 \('img50.png'\): has an empty lesion mask"):
        MeanFeature(region="mask", empty_mask="raise").fit(recs).transform(recs)
    with pytest.raises(ImageError, match="needs a lesion mask"):
        MeanFeature(region="mask").fit(recs).transform([r.image for r in recs])
    with pytest.raises(ValueError, match="'region' parameter of MeanFeature must be a str among"):
        MeanFeature(region="roi").fit(recs)
    with pytest.raises(ValueError, match="2 images but y has 3"):
        MeanFeature().fit(recs, [0, 1, 1])


def test_mask_is_never_used_unless_asked():
    recs = [_rec(100)]
    plain = MeanFeature().fit(recs).transform([recs[0].image])
    assert np.array_equal(MeanFeature().fit(recs).transform(recs), plain)


def test_preprocessor_keeps_the_input_kind():
    recs = [_rec(100)]
    out = Invert().fit_transform(recs)
    assert isinstance(out[0], ImageRecord) and out[0].path == "img100.png"
    assert out[0].image[0, 0] == 155 and out[0].mask is recs[0].mask
    arrays = Invert().transform([recs[0].image])
    assert isinstance(arrays[0], np.ndarray)
    assert Invert().set_output(transform="pandas").transform([recs[0].image])[0].shape == (16, 16)
