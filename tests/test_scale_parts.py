"""The library's shipped parts see their inputs at the scale they learnt (issue 82): a user's own
pipeline of ``ROICropper`` with the ``breast-us`` segmenter and ``DeepFeatures`` with the
``breast-us`` backbone brings a hospital's full-size scan to 320 px first, as
:class:`~featbus.model.loaded.FeatbusModel` does (:mod:`featbus.model.scale`); parts that record no
training scale (your own weights, ImageNet's) see images as given, as before; the image check
compares sizes as the model sees them."""

from __future__ import annotations

import glob
import pickle

import numpy as np
import pytest
from conftest import DATA
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from test_input_scale import _original  # the block-consistent stand-in of a stored original

from featbus import DeepFeatures, ImageRecord, ROICropper, UNetSegmenter, make_phantoms
from featbus._records import ImageError
from featbus.model.scale import SHIPPED_LONGER_SIDE, box_as_given, record_to_scale, seen_shape
from featbus.networks.pretrained import PRETRAINED

#: Each edge of a lesion box found in a k-times larger stand-in may differ from k times the 320 px
#: copy's box by this many pixels of the copy (k of the larger scan): the segmenter sees the copy
#: again up to the stand-in's uint8 rounding (a grey level at a pixel), which moved one edge of
#: one of six boxes by one pixel when measured.
BOX_TOLERANCE = 2
#: Largest relative distance ``|f_k - f_1| / |f_1|`` between the breast-us backbone's feature rows
#: of a scan and of its 2x / 3x stand-in. Measured on six shared images: at most 0.010 for the whole
#: frame and 0.012 for its lesion box (the uint8 rounding again); as given (``input_scale="native"``)
#: the whole frames were 0.04-0.07 apart, so the tolerance tells the two apart.
FEATURE_TOLERANCE = 0.03


def _relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def lesion_scans() -> list[ImageRecord]:
    """One benign and one malignant scan (320 px copies) of each shared site, with its mask."""
    from featbus.io import load_item

    files = []
    for site in ("busi/Dataset_BUSI_with_GT", "bus-bra", "breast-lesions-usg"):
        for c in ("benign", "malignant"):
            files += sorted(f for f in glob.glob(str(DATA / site / c / "*.png")) if "_mask" not in f)[:1]
    if len(files) < 6:
        pytest.skip("needs ../shared/data (busi, bus-bra, breast-lesions-usg)")
    return [ImageRecord(load_item(f).image, load_item(f[:-4] + "_mask.png").image > 0, f) for f in files]


def _enlarged(rec: ImageRecord, k: int) -> ImageRecord:
    return ImageRecord(_original(rec.image, k), np.kron(rec.mask, np.ones((k, k), bool)), rec.path)


# ----------------------------------------------------------------------------- which parts record a scale
def test_the_shipped_parts_record_the_scale_of_the_shared_copies():
    assert {p.longer_side for p in PRETRAINED.values()} == {SHIPPED_LONGER_SIDE}
    assert DeepFeatures(backbone="breast-us").trained_longer_side == 320
    assert DeepFeatures(weights="breast_us").trained_longer_side == 320
    assert DeepFeatures(backbone="breast-us", weights=None).trained_longer_side is None  # random weights
    assert DeepFeatures().trained_longer_side is None  # ImageNet's
    assert DeepFeatures(backbone="no-such-net").trained_longer_side is None  # fit names the mistake
    assert UNetSegmenter().trained_longer_side is None  # a segmenter you train


def test_parts_without_a_recorded_scale_see_images_as_before():
    """ImageNet / your own weights / a ground-truth crop: ``"auto"`` resolves to as given, and the
    crops, boxes and rows are the ones of ``input_scale="native"``."""
    data = make_phantoms(4, image_size=96, random_state=0)
    crops = ROICropper(source="mask").fit(data.data)
    assert crops.input_scale_ is None
    auto, native = crops.transform(data.data), ROICropper(source="mask", input_scale="native").fit_transform(data.data)
    for a, b in zip(auto, native):
        np.testing.assert_array_equal(a.image, b.image)
        assert a.meta["roi_box"] == b.meta["roi_box"] and a.meta["frame_shape"] == (96, 96)
    deep = DeepFeatures(weights=None, input_size=32, progress=False, cache=False).fit(data.data)
    assert deep.input_scale_ is None
    rows = DeepFeatures(weights=None, input_size=32, progress=False, cache=False, input_scale=None).fit_transform(
        data.data)
    np.testing.assert_array_equal(deep.transform(data.data), rows)


def test_a_chosen_scale_is_used_and_its_boxes_are_in_the_image_as_given():
    img = np.zeros((96, 128), np.uint8)
    img[30:60, 40:80] = 200
    small = ROICropper(source="mask", margin=0.1).fit_transform([ImageRecord(img, img > 0)])[0]
    big = np.kron(img, np.ones((3, 3), np.uint8))
    out = ROICropper(source="mask", margin=0.1, input_scale=128).fit_transform([ImageRecord(big, big > 0)])[0]
    np.testing.assert_array_equal(out.image, small.image)  # area averaging of 3x3 equal blocks: the same pixels
    assert out.meta["roi_box"] == tuple(3 * b for b in small.meta["roi_box"])
    assert out.meta["frame_shape"] == (96, 128) and out.mask.shape == out.image.shape
    sized = ROICropper(source="mask", input_scale=128, output_size=32).fit_transform([ImageRecord(big, big > 0)])[0]
    assert sized.meta["frame_shape"] is None and sized.image.shape == (32, 32)
    with pytest.raises(ImageError, match=r"image 1 \('b.png'\): mask has shape \(96, 128\) but the image"):
        ROICropper(source="mask", input_scale=128).fit_transform([ImageRecord(big, big > 0),
                                                                  ImageRecord(big, img > 0, "b.png")])


@pytest.mark.parametrize("Estimator", [ROICropper, DeepFeatures])
@pytest.mark.parametrize("bad", ["big", 8, 320.5])
def test_a_bad_input_scale_is_refused_in_fit_naming_the_parameter(Estimator, bad):
    est = Estimator(input_scale=bad)  # __init__ stores it, unchecked
    assert est.input_scale == bad
    with pytest.raises(ValueError, match="input_scale"):
        est.fit([np.zeros((40, 40), np.uint8)])


@pytest.mark.parametrize("Estimator", [ROICropper, DeepFeatures])
def test_the_parameter_clones_pickles_and_old_pickles_see_images_as_given(Estimator):
    est = Estimator(input_scale=256)
    assert est.get_params()["input_scale"] == 256 and clone(est).input_scale == 256
    assert Estimator().get_params()["input_scale"] == "auto"
    assert pickle.loads(pickle.dumps(est)).input_scale == 256
    assert clone(est.set_params(input_scale="native")).input_scale == "native"
    if Estimator is DeepFeatures:
        est = DeepFeatures(weights=None, input_size=32, progress=False, input_scale=64)
    fitted = est.fit([np.zeros((40, 40), np.uint8)])
    back = pickle.loads(pickle.dumps(fitted))
    assert back.input_scale_ == fitted.input_scale_
    # an estimator pickled before the parameter existed (a model file's part among them)
    state = fitted.__getstate__()
    for key in ("input_scale", "input_scale_"):
        state.pop(key)
    old = Estimator.__new__(Estimator)
    old.__setstate__(state)
    assert old.input_scale is None and old.input_scale_ is None and old.get_params()["input_scale"] is None


def test_a_crop_is_brought_to_scale_by_its_frame():
    crop = ImageRecord(np.ones((90, 120), np.uint8), np.ones((90, 120), bool), meta={"frame_shape": (480, 960)})
    out = record_to_scale(crop, 320)
    assert out.image.shape == out.mask.shape == (30, 40) and out.meta["frame_shape"] == (160, 320)
    assert record_to_scale(ImageRecord(crop.image, meta={"frame_shape": (240, 320)}), 320).image.shape == (90, 120)
    assert record_to_scale(ImageRecord(crop.image, meta={"frame_shape": None}), 32).image.shape == (90, 120)
    assert seen_shape((480, 960), 320) == (160, 320) and seen_shape((100, 80), 320) == (100, 80)
    assert box_as_given((0, 160, 0, 320), (160, 320), (480, 960)) == (0, 480, 0, 960)


# ----------------------------------------------------------------------------- the shipped parts, shared scans
def test_the_shipped_segmenter_crops_a_larger_scan_as_its_320_px_copy(lesion_scans):
    """3x stand-ins of six shared scans: the breast-us segmenter's lesion boxes are 3x the copies'
    (within :data:`BOX_TOLERANCE` pixels of the copy) and the crops the copies' crops; as given
    (``"native"``) the crops are three times larger."""
    cropper = ROICropper(segmenter="breast-us", source="segmenter").fit(lesion_scans[:1])
    assert cropper.input_scale_ == 320
    copies = [r.image for r in lesion_scans]
    big = [_original(c, 3) for c in copies]
    ref, out = cropper.transform(copies), cropper.transform(big)
    for a, b, copy in zip(ref, out, copies):
        assert a.meta["roi_found"] and b.meta["roi_found"]
        assert np.abs(np.subtract(b.meta["roi_box"], 3 * np.array(a.meta["roi_box"]))).max() <= 3 * BOX_TOLERANCE
        assert np.abs(np.subtract(b.image.shape, a.image.shape)).max() <= BOX_TOLERANCE
        assert b.meta["frame_shape"] == a.meta["frame_shape"] == copy.shape
    native = ROICropper(segmenter="breast-us", source="segmenter", input_scale="native").fit(lesion_scans[:1])
    crops = native.transform(big[:2])
    assert all(max(c.image.shape) > 2 * max(a.image.shape) for c, a in zip(crops, ref[:2]))


def test_the_shipped_backbone_gives_the_same_rows_at_two_and_three_times_the_size(lesion_scans):
    copies = [r.image for r in lesion_scans]
    deep = DeepFeatures(backbone="breast-us", progress=False, cache=False).fit(copies[:1])
    box = DeepFeatures(backbone="breast-us", region="bbox", progress=False, cache=False).fit(lesion_scans[:1])
    assert deep.input_scale_ == box.input_scale_ == 320
    whole, lesion = deep.transform(copies), box.transform(lesion_scans)
    for k in (2, 3):
        larger = [_enlarged(r, k) for r in lesion_scans]
        assert _relative(deep.transform([r.image for r in larger]), whole).max() <= FEATURE_TOLERANCE, k
        assert _relative(box.transform(larger), lesion).max() <= FEATURE_TOLERANCE, k


def test_a_pipeline_of_the_shipped_parts_sees_a_larger_scan_as_its_copy(lesion_scans):
    """``ROICropper(segmenter="breast-us")`` then ``DeepFeatures(backbone="breast-us")``: the rows of
    3x stand-ins within :data:`FEATURE_TOLERANCE` of the copies'."""
    pipe = make_pipeline(ROICropper(segmenter="breast-us", source="segmenter"),
                         DeepFeatures(backbone="breast-us", progress=False, cache=False))
    copies = [r.image for r in lesion_scans]
    ref = pipe.fit(copies[:1]).transform(copies)
    assert _relative(pipe.transform([_original(c, 3) for c in copies]), ref).max() <= FEATURE_TOLERANCE


# ----------------------------------------------------------------------------- the image check
def test_the_image_check_compares_sizes_as_the_model_sees_them():
    """A model trained at 48 px does not call 3x larger images unlike its training images for their
    size (it sees them at 48 px); one trained at native size still does; a smaller image is compared
    as it is, and the words say at which scale."""
    from featbus.model.domain import check_images
    from featbus.workflows.training import train_model

    data = make_phantoms(30, image_size=48, random_state=0)
    scaled = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False)
    native = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False,
                         input_scale="native")
    assert scaled.input_scale["longer_side_px"] == 48 and native.input_scale["longer_side_px"] is None
    big = [np.kron(np.asarray(im), np.ones((3, 3), np.asarray(im).dtype)) for im in data.images[:8]]

    def size_words(model, images):
        check = check_images(model, [ImageRecord(im) for im in images])
        assert not any(check["reasons"])  # every one of the model's kind: the size words are said
        return [w for w in check["words"] if "than the training images" in w], check["described"]

    words, described = size_words(scaled, big)
    assert words == [] and set(described["height"]) == {48.0}
    words, described = size_words(native, big)
    assert words == ["these images are larger than the training images: 144 x 144 px on median "
                     "(training: 48 x 48 px on median)"] and set(described["height"]) == {144.0}
    words, _ = size_words(scaled, [np.asarray(im)[::2, ::2] for im in data.images[:8]])
    assert words == ["these images are smaller than the training images as the model sees them (brought to 48 px "
                     "on the longer side): 24 x 24 px on median (training: 48 x 48 px on median)"]


def test_inside_a_model_the_parts_see_the_scale_the_model_chose():
    """``train_model(input_scale=...)`` decides the scale every part sees: a shipped part left at
    ``"auto"`` takes the model's images as given (the model brought them to its scale), so an
    explicit choice is not undone by the part's own 320 px; a part's explicit choice is kept."""
    from featbus.workflows.training import train_model

    data = make_phantoms(20, image_size=48, random_state=0)
    parts = [("auto", DeepFeatures(backbone="breast-us", input_size=32, progress=False, cache=False)),
             ("chosen", DeepFeatures(backbone="breast-us", input_size=32, progress=False, cache=False,
                                     input_scale=40))]
    model = train_model(data, parts, classifier="logreg", cross_validate=False, progress=False, input_scale="native")
    assert model.input_scale["longer_side_px"] is None
    (_, auto), (_, chosen) = model.features.transformer_list
    assert auto.input_scale is None and auto.input_scale_ is None
    assert chosen.input_scale == chosen.input_scale_ == 40
