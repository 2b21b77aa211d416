"""A model sees every image at the scale its parts were trained at (issue 82): one resize rule
(:mod:`featbus.model.scale`), called at the model's one entry (:meth:`FeatbusModel._crop`),
recorded in the model file, said by the commands."""

from __future__ import annotations

import glob

import cv2
import numpy as np
import pytest
from conftest import DATA

from featbus import ImageRecord, make_phantoms
from featbus.model import scale as scale_mod
from featbus.model.scale import (
    bring_to_scale,
    input_scale_of,
    parse_input_scale,
    scale_words,
    scaled_shape,
    to_scale,
)


@pytest.fixture(scope="module")
def phantom_model():
    from featbus.workflows.training import train_model

    data = make_phantoms(30, image_size=48, random_state=0)
    return data, train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False)


# ----------------------------------------------------------------------------- the one resize rule
def test_shrinking_is_area_averaging_and_growing_is_bilinear():
    img = np.random.default_rng(0).integers(0, 256, (606, 856)).astype(np.uint8)
    small, _ = to_scale(img, None, 320)
    assert small.shape == (227, 320) == scaled_shape(img.shape, 320)
    np.testing.assert_array_equal(small, cv2.resize(img, (320, 227), interpolation=cv2.INTER_AREA))
    assert to_scale(img[:100, :150], None, 320)[0].shape == (100, 150)  # smaller: seen as stored (GROW)
    tiny = img[:100, :150]
    big, _ = to_scale(tiny, None, 320, grow="linear")
    np.testing.assert_array_equal(big, cv2.resize(tiny, (320, 213), interpolation=cv2.INTER_LINEAR))
    assert big.dtype == np.uint8
    big, _ = to_scale(tiny, None, 320, grow="cubic")
    np.testing.assert_array_equal(big, cv2.resize(tiny, (320, 213), interpolation=cv2.INTER_CUBIC))
    mask = np.ones(tiny.shape, bool)
    kept, m = to_scale(tiny, mask, 320, grow="keep")  # a smaller image left at its stored size
    assert kept is tiny and m is mask


def test_masks_go_by_nearest_neighbour_and_stay_binary():
    mask = np.zeros((600, 800), bool)
    mask[100:333, 211:517] = True
    img = np.zeros(mask.shape, np.uint8)
    for side in (200, 320, 1000):
        _, m = to_scale(img, mask, side, grow="linear")
        assert m.dtype == bool and m.shape == scaled_shape(mask.shape, side)
        expected = cv2.resize(mask.astype(np.uint8), m.shape[::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
        np.testing.assert_array_equal(m, expected)
        # nearest keeps the lesion's share of the frame within one row/column of pixels
        assert abs(m.mean() - mask.mean()) < 2 / min(m.shape)


def test_an_image_at_the_scale_is_left_as_it_is():
    img = np.zeros((240, 320), np.uint8)
    mask = np.zeros((240, 320), bool)
    out, m = to_scale(img, mask, 320)
    assert out is img and m is mask
    rec = ImageRecord(img, mask, "a.png", {"site": "x"})
    (back,) = bring_to_scale([rec], 320)
    assert back.image is img and "input_shape" not in back.meta
    assert bring_to_scale([rec], None)[0] is rec  # native: nothing read, nothing resized


def test_records_carry_their_stored_shape_and_meta():
    rec = ImageRecord(np.zeros((640, 480), np.uint8), np.ones((640, 480), bool), "a.png", {"site": "x"})
    (out,) = bring_to_scale([rec], 320)
    assert out.image.shape == out.mask.shape == (320, 240)
    assert out.meta == {"site": "x", "input_shape": (640, 480)} and out.path == "a.png"


@pytest.mark.parametrize("value, expected", [("320", 320), (256, 256), ("native", None), (None, None),
                                             ("auto", "auto"), ("400px", 400)])
def test_parse_input_scale(value, expected):
    assert parse_input_scale(value) == expected


@pytest.mark.parametrize("value", ["big", "0", 8, 320.5, "-320"])
def test_parse_input_scale_refuses_nonsense(value):
    with pytest.raises(ValueError, match="input_scale must be 'auto', 'native' or a longer side"):
        parse_input_scale(value)


def test_an_old_file_gets_its_training_images_scale_and_says_so():
    profile = {"quantiles": [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99],
               "height": [166, 238, 264, 312, 320, 320, 320], "width": [217, 228, 237, 320, 320, 320, 320]}
    got = input_scale_of({"training_images": profile})
    assert got["longer_side_px"] == 320 and "before featbus recorded it" in got["from"]
    assert input_scale_of({})["longer_side_px"] is None
    assert input_scale_of({"input_scale": {"longer_side_px": None, "from": "chosen"}})["longer_side_px"] is None


def test_scale_words():
    assert scale_words({"longer_side_px": 320}, [(320, 240)] * 3) == (
        "frames brought to 320 px on the longer side, as trained (all 3 already 320 px)")
    words = scale_words({"longer_side_px": 320}, [(320, 240), (856, 606), (500, 606), (200, 300), (150, 100)])
    assert words.endswith("(2 of 5 shrunk from 606-856 px; 2 smaller, seen at their stored size: 150-300 px)")


# ----------------------------------------------------------------------------- the model's one entry
def test_the_model_brings_every_input_to_its_training_scale(phantom_model, monkeypatch):
    data, model = phantom_model
    assert model.input_scale == {"longer_side_px": 48, "from": "the median longer side of its training images"}
    calls = []
    real = scale_mod.bring_to_scale
    monkeypatch.setattr(scale_mod, "bring_to_scale",
                        lambda images, side, *pixel: calls.append(side) or real(images, side, *pixel))
    img = np.asarray(data.images[0])
    big = cv2.resize(img, (144, 144), interpolation=cv2.INTER_CUBIC)
    shrunk = cv2.resize(big, (48, 48), interpolation=cv2.INTER_AREA)
    # every entry (transform, predict_proba, predict_table) resizes before the features see the image
    np.testing.assert_array_equal(model.transform([big]), model.transform([shrunk]))
    np.testing.assert_array_equal(model.predict_proba([big]), model.predict_proba([shrunk]))
    table = model.predict_table([big, shrunk])
    assert table["predicted"].iloc[0] == table["predicted"].iloc[1]
    assert calls and set(calls) == {48}


def test_a_model_trained_at_native_size_resizes_nothing(phantom_model):
    from featbus.workflows.training import train_model

    data, _ = phantom_model
    native = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False,
                         input_scale="native")
    assert native.input_scale["longer_side_px"] is None
    img = np.asarray(data.images[0])
    big = cv2.resize(img, (144, 144), interpolation=cv2.INTER_CUBIC)
    shrunk = cv2.resize(big, (48, 48), interpolation=cv2.INTER_AREA)
    assert not np.array_equal(native.transform([big]), native.transform([shrunk]))


def test_a_chosen_scale_trains_at_it_and_is_saved_and_read_back(phantom_model, tmp_path):
    from featbus.model import load_model
    from featbus.workflows.training import train_model

    data, _ = phantom_model
    model = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False,
                        input_scale=32)
    assert model.input_scale == {"longer_side_px": 32, "from": "chosen when it was trained (input_scale)"}
    assert model.manifest["training_images"]["height"][3] == 32  # the parts learnt 32 px images
    path = model.save(tmp_path / "m.featbus")
    again = load_model(path)
    assert again.input_scale == model.input_scale
    assert "input scale: 32 px on the longer side" in again.describe()


def test_a_damaged_scale_record_is_named():
    from featbus.model.format import _check_manifest_schema, model_file, read_manifest

    manifest = read_manifest(model_file("breast-us"))
    _check_manifest_schema({**manifest, "input_scale": {"longer_side_px": None, "from": "native"}}, "m.featbus")
    for bad in ({"longer_side_px": "big"}, {"longer_side_px": 4}, {"longer_side_px": True}, "320"):
        with pytest.raises(ValueError, match="'input_scale' should be null or an object"):
            _check_manifest_schema({**manifest, "input_scale": bad}, "m.featbus")


def test_lesion_boxes_are_mapped_back_to_the_image_as_given():
    from featbus.model.loaded import _boxes_as_given

    scaled = bring_to_scale([np.zeros((640, 960), np.uint8)], 320)  # 213 x 320 at the model's scale
    crop = ImageRecord(np.zeros((50, 60), np.uint8), np.ones((50, 60), bool), None,
                       {"roi_found": True, "roi_box": (10, 60, 100, 160)})
    (out,) = _boxes_as_given([crop], scaled)
    r0, r1, c0, c1 = out.meta["roi_box"]
    assert (c0, c1) == (300, 480) and r0 <= 30 <= 180 <= r1 and r1 - r0 <= 152


def test_the_reading_summary_says_the_scale_once(phantom_model, capsys):
    from featbus.cli._startup import say_input_scale

    data, model = phantom_model
    say_input_scale([model, model], data)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"frames brought to 48 px on the longer side, as trained (all {len(data.data)} already 48 px)"]


# ----------------------------------------------------------------------------- invariance on shared images
def _shared_images(per_class: int) -> list[np.ndarray]:
    from featbus.io import load_item

    files = []
    for site in ("busi/Dataset_BUSI_with_GT", "bus-bra", "breast-lesions-usg"):
        for c in ("benign", "malignant", "normal"):
            files += sorted(f for f in glob.glob(str(DATA / site / c / "*.png")) if "_mask" not in f)[:per_class]
    if not files:
        pytest.skip("needs ../shared/data (busi, bus-bra, breast-lesions-usg)")
    return [load_item(f).image for f in files]


def _original(copy: np.ndarray, factor: int) -> np.ndarray:
    """A stand-in for the stored original of a 320 px copy: bicubic enlargement whose every
    ``factor x factor`` block averages to the copy's pixel, as the originals the copies were
    area-averaged from do (``benchmarks/scale_invariance.py``'s ``block-consistent`` stand-in)."""
    h, w = copy.shape
    big = cv2.resize(copy, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    big += np.repeat(np.repeat(copy - big.reshape(h, factor, w, factor).mean(axis=(1, 3)), factor, 0), factor, 1)
    return np.clip(np.rint(big), 0, 255).astype(np.uint8)


#: Tolerance of p(lesion) and p(malignant | lesion) between sizes of one scan. The sizes reach the
#: model as the same 320 px image up to the stand-ins' uint8 rounding (a grey level at most at a
#: pixel); the classifier is that sensitive to its input that such rounding alone moves
#: p(malignant | lesion) of one of these 16 images by 0.021 (issue 82's measurement; an invisible
#: Gaussian blur of sigma 0.5 px moves it by up to 0.44 and changes a fifth of the decisions of 24
#: shared images, which no resize rule can undo): 0.05 leaves room for other CPUs' kernels.
P_TOLERANCE = 0.05
#: Share of images whose decision may change between sizes (the issue's aim: the same decision for 97 %).
SAME_DECISION = 0.97


def test_decisions_do_not_depend_on_the_stored_size():
    """0.5x, 1x, 2x and 3x of a stored original (0.5x: the 320 px copy; 1x: a 640 px original)
    give the breast-us classifier's probabilities within :data:`P_TOLERANCE` and the same decision
    for at least 97 % of the images."""
    from featbus.metrics import lesion_and_given
    from featbus.model import load_model

    copies = _shared_images(2)
    model = load_model("breast-us")
    assert model.input_scale["longer_side_px"] == 320
    sizes = {"0.5x": copies, "1x": [_original(c, 2) for c in copies],
             "2x": [_original(c, 4) for c in copies], "3x": [_original(c, 6) for c in copies]}
    assert max(sizes["3x"][0].shape) == 1920
    ref = model.predict_proba(sizes["1x"])
    lesion, given = lesion_and_given(ref, model.classes_)
    for name, images in sizes.items():
        p = model.predict_proba(images)
        lp, gp = lesion_and_given(p, model.classes_)
        np.testing.assert_allclose(lp, lesion, atol=P_TOLERANCE, err_msg=name)
        np.testing.assert_allclose(gp, given, atol=P_TOLERANCE, err_msg=name)
        assert np.mean(model.decide(p) == model.decide(ref)) >= SAME_DECISION, name


def test_explanations_are_at_the_image_as_given(phantom_model):
    from featbus.deploy.explain import _roi_record, explain

    data, model = phantom_model
    big = cv2.resize(np.asarray(data.images[0]), (96, 96), interpolation=cv2.INTER_CUBIC)
    seen, box = _roi_record(model, ImageRecord(big))
    assert seen.image.shape == (48, 48) and box == (0, 96, 0, 96)
    res = explain(model, big, method="occlusion")
    assert res["map"].shape == big.shape and res["roi"] is None
    np.testing.assert_allclose(list(res["proba"].values()), model.predict_proba([big])[0])


@pytest.mark.slow
def test_a_whole_site_decides_the_same_at_three_times_its_size():
    """Every BrEaST-Lesions-USG image (256) as a 960 px stand-in of its stored original: the same
    decision as its 320 px copy for at least 97 % of them (true originals could not be fetched)."""
    from featbus.io import load_item
    from featbus.model import load_model

    files = sorted(f for f in glob.glob(str(DATA / "breast-lesions-usg" / "*" / "*.png")) if "_mask" not in f)
    if not files:
        pytest.skip("needs ../shared/data/breast-lesions-usg")
    copies = [load_item(f).image for f in files]
    model = load_model("breast-us")
    ref, big = model.predict_proba(copies), model.predict_proba([_original(c, 3) for c in copies])
    assert np.mean(model.decide(big) == model.decide(ref)) >= SAME_DECISION
    np.testing.assert_allclose(big, ref, atol=P_TOLERANCE)


def test_train_refuses_a_bad_input_scale_in_one_line(capsys):
    from featbus.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "somewhere", "-o", "m.featbus", "--input-scale", "big"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--input-scale must be 'auto', 'native' or a longer side in pixels" in err and "Traceback" not in err


def test_auto_is_the_shipped_parts_scale_when_the_recipe_holds_one():
    from types import SimpleNamespace

    from featbus.features.deep import DeepFeatures
    from featbus.workflows.training import _shipped_parts, _training_scale

    def run(segmenter=None, *extractors):
        return SimpleNamespace(segmenter=segmenter, network=None,
                               union=SimpleNamespace(transformer_list=[(str(i), e) for i, e in enumerate(extractors)]))

    assert _shipped_parts(run(None, DeepFeatures(backbone="breast_us")))
    assert _shipped_parts(run("breast-us"))
    assert not _shipped_parts(run(None, DeepFeatures()))
    images = [np.zeros((600, 800), np.uint8), np.zeros((500, 500), np.uint8)]
    records, record = _training_scale(images, "auto", shipped=True)
    assert record["longer_side_px"] == 320 and [r.image.shape for r in records] == [(240, 320), (320, 320)]
    records, record = _training_scale(images, "auto")
    assert record == {"longer_side_px": 650, "from": "the median longer side of its training images"}


def test_a_lesion_mask_found_at_the_model_scale_is_pasted_back_at_the_image_size(phantom_model):
    from types import SimpleNamespace

    from featbus.model.loaded import FeatbusModel, _boxes_as_given

    _, model = phantom_model
    seg = FeatbusModel(model.features, model.head, model.manifest,
                       roi=SimpleNamespace(pass_mask=True, output_size=None))
    record = ImageRecord(np.zeros((96, 96), np.uint8))
    (scaled,) = bring_to_scale([record], 48)
    lesion = np.zeros((20, 20), bool)
    lesion[5:15, 5:15] = True  # the crop (box rows/cols 10-30 at 48 px) holds a 10 px lesion
    crop = ImageRecord(scaled.image[10:30, 10:30], lesion, None, {"roi_found": True, "roi_box": (10, 30, 10, 30)})
    (crop,) = _boxes_as_given([crop], [scaled])
    roi = seg._roi_of(record, crop)
    assert roi["box"] == (20, 60, 20, 60) and roi["mask"].shape == (96, 96)
    assert roi["mask"].sum() == 400 and roi["mask"][30:50, 30:50].all()


def test_predict_counts_the_files_it_will_bring_to_scale(phantom_model, tmp_path, capsys):
    """predict decodes its files after the model loads: its scale line counts them from their headers
    (a 96 px phantom shrunk to the model's 48 px, a 48 px one already there)."""
    from featbus.cli import main

    data, model = phantom_model
    model.save(tmp_path / "m.featbus")
    folder = tmp_path / "new"
    folder.mkdir()
    first, second = (np.asarray(r.image, np.float64) for r in data.data[:2])
    scale = 255.0 if max(first.max(), second.max()) <= 1 else 1.0
    first, second = ((v * scale).astype(np.uint8) for v in (first, second))
    cv2.imwrite(str(folder / "big.png"), cv2.resize(first, (96, 96), interpolation=cv2.INTER_NEAREST))
    cv2.imwrite(str(folder / "same.png"), second)
    assert main(["predict", str(tmp_path / "m.featbus"), str(folder), "-o", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    assert "frames brought to 48 px on the longer side, as trained (1 of 2 shrunk from 96 px)" in err
