"""Issue 66, point 3: say what the data is, against what the model knows.

The model file stores what its training images looked like (``manifest["training_images"]``:
:func:`featbus.model.domain.training_profile`); predict, validate and adapt compare new images with
it: images that are not the kind the model learnt from (photographs, mammograms for the
ultrasound ``breast-us``) get no class, adapt refuses them, validate leaves them out of its
figures, and lesion crops are called so.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from featbus.model.domain import (
    COLOUR_LIMIT,
    OUT_OF_DOMAIN,
    STATISTICS,
    data_words,
    describe_images,
    image_statistics,
    kind_reasons,
    statistics_score,
    training_profile,
)


def _speckle(rng, shape=(120, 160)) -> np.ndarray:
    """A frame of Rayleigh speckle under a dark border, as an ultrasound frame (a stand-in)."""
    image = rng.rayleigh(40, size=shape)
    image[:, :20] = 0
    return np.clip(image, 0, 255).astype(np.uint8)


def _photo(tmp_path: Path, name: str = "chelsea") -> Path:
    import skimage.data

    path = tmp_path / f"{name}.png"
    Image.fromarray(np.asarray(getattr(skimage.data, name)())).save(path)
    return path


# ---------------------------------------------------------------- the statistics and the rule (quick)

def test_statistics_say_what_they_measure():
    rng = np.random.default_rng(0)
    grainy = image_statistics(_speckle(rng))
    flat = image_statistics(np.full((120, 160), 150, np.uint8))
    assert set(grainy) == set(STATISTICS)
    # the border, and the speckle pixels below the dark level (Rayleigh: 1 - exp(-x^2 / 2 sigma^2));
    # 0.02: the sampling of 16,800 pixels and the area-shrink to 256 px leave it within a percent
    dark = 20 / 160 + 140 / 160 * (1 - np.exp(-(0.06 * 255) ** 2 / (2 * 40 ** 2)))
    assert grainy["dark_share"] == pytest.approx(dark, abs=0.02)
    assert grainy["speckle"] > 0.3 and flat["speckle"] == 0.0
    assert grainy["smooth_share"] < 0.01 and flat["smooth_share"] == 1.0
    assert grainy["tissue_skewness"] > 0  # speckle: a right-skewed histogram


def test_a_colour_photo_and_a_far_image_are_out_of_domain_and_a_like_one_is_not(tmp_path):
    rng = np.random.default_rng(1)
    profile = training_profile([_speckle(rng) for _ in range(40)])
    like = describe_images([_speckle(rng) for _ in range(5)])
    score, why = kind_reasons(profile, like, np.full(5, 0.8))
    assert why == [""] * 5 and np.all(score < 3)
    from featbus import ImageRecord
    from featbus.io import read_image

    photo = _photo(tmp_path)
    d = describe_images([ImageRecord(read_image(photo), None, str(photo))])
    assert d["colour"][0] >= COLOUR_LIMIT
    _, why = kind_reasons(profile, d, [0.5])  # colour alone: whatever the model's features say
    assert why[0].startswith("a colour picture")
    flat = describe_images([np.full((120, 160), 230, np.uint8)])
    assert statistics_score(profile, flat["statistics"])[0] > 1
    assert kind_reasons(profile, flat, [0.9])[1] == [""]  # like the training images in the model's features
    why = kind_reasons(profile, flat, [1.5])[1][0]
    assert why.startswith("not the kind of image the model learnt from: unlike its training images in image "
                          "statistics") and "in the model's features (out_of_domain 1.50)" in why
    assert kind_reasons(None, flat, [9.0])[1] == [""]  # no profile: nothing said


def test_words_name_crops_sizes_and_the_images_left_out():
    rng = np.random.default_rng(2)
    frames = [_speckle(rng) for _ in range(30)]
    from featbus import ImageRecord

    def boxed(image, share):  # a crop record as the ROICropper leaves it: a box of this share of the image
        h, w = image.shape
        side = np.sqrt(share)
        box = (0, int(round(h * side)), 0, int(round(w * side)))
        return ImageRecord(image, None, None, {"roi_found": True, "roi_box": box})

    profile = training_profile(frames, [boxed(f, 0.08) for f in frames])
    assert profile["box_share"][3] == pytest.approx(0.08, abs=0.01)
    crops = [_speckle(rng, (256, 256)) for _ in range(6)]
    d = describe_images(crops, [boxed(c, 0.77) for c in crops])
    score, why = kind_reasons(profile, d, np.full(6, 0.7))
    words = data_words(profile, d, score, why)
    said = [w for w in words if w.startswith("these look like lesion crops")]
    assert said and "covers 77 % of the image on median" in said[0] and "8 % in the model's training frames" in said[0]
    # the same frames as trained: nothing to say about framing
    d = describe_images(frames[:6], [boxed(f, 0.08) for f in frames[:6]])
    assert not any("crops" in w for w in data_words(profile, d, *kind_reasons(profile, d, np.full(6, 0.7))))


# ---------------------------------------------------------------- the shipped breast-us on real files (slow)

@pytest.fixture(scope="module")
def breast_us():
    pytest.importorskip("keras")
    from featbus import load_model

    model = load_model("breast-us")
    if "training_images" not in model.manifest:
        pytest.fail("the shipped breast-us file stores no training-image profile: rebuild it "
                    "(scripts/build_breast_us_classifier.py)")
    return model


def _mammogram(root: Path) -> Path:
    return sorted(root.glob("mdb*.pgm"))[0]


@pytest.mark.slow
def test_predict_gives_a_photo_and_a_mammogram_no_class_and_says_why(breast_us, tmp_path, mias_root, capsys):
    from featbus.cli import main

    folder = tmp_path / "not_ultrasound"
    folder.mkdir()
    _photo(folder, "chelsea")
    _photo(folder, "camera")  # a grey photograph: no colour to give it away
    mammogram = _mammogram(mias_root)
    (folder / mammogram.name).write_bytes(mammogram.read_bytes())
    out = tmp_path / "p.csv"
    assert main(["predict", "breast-us", str(folder), "-o", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert table["predicted"].tolist() == [OUT_OF_DOMAIN] * 3
    assert all(table["out_of_domain_reason"].str.len() > 0)
    reasons = dict(zip(table["image"].map(lambda p: Path(p).name), table["out_of_domain_reason"]))
    assert reasons["chelsea.png"].startswith("a colour picture")
    assert "not the kind of image the model learnt from" in reasons[mammogram.name]
    err = capsys.readouterr().err
    assert "3 out-of-domain image(s) got no class" in err
    forced = tmp_path / "forced.csv"
    assert main(["predict", "breast-us", str(folder), "-o", str(forced), "--force"]) == 0
    table = pd.read_csv(forced, keep_default_na=False)
    assert set(table["predicted"]) <= set(breast_us.classes_) and all(table["out_of_domain_reason"] != "")


@pytest.mark.slow
def test_adapt_refuses_mammograms(breast_us, tmp_path, mias_root, capsys):
    from featbus.cli import main

    folder = tmp_path / "mammograms"
    folder.mkdir()
    for path in sorted(mias_root.glob("mdb*.pgm"))[:6]:
        (folder / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "adapted.featbus"
    assert main(["adapt", "breast-us", str(folder), "-o", str(out)]) != 0
    err = capsys.readouterr().err
    assert "6 of the 6 images are not the kind of image the model learnt from" in err and "--force" in err
    assert not out.exists()


@pytest.mark.slow
def test_validate_on_lesion_crops_says_they_look_like_crops(breast_us, busi_root, tmp_path):
    import cv2

    from featbus import validate
    from featbus.segmentation.roi import lesion_box

    for label in ("benign", "malignant"):
        (tmp_path / label).mkdir()
        for path in sorted((busi_root / label).glob("* ([0-9]).png"))[:6]:
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            mask = np.zeros(image.shape, bool)
            for m in path.parent.glob(path.stem + "_mask*.png"):
                mask |= cv2.imread(str(m), cv2.IMREAD_GRAYSCALE) > 0
            r0, r1, c0, c1 = lesion_box(mask, 0.15)  # the lesion crop a download of crops holds
            crop = cv2.resize(image[r0:r1, c0:c1], (256, 256), interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(tmp_path / label / path.name), crop)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = validate(breast_us, tmp_path, n_bootstrap=0)
    said = [n for n in result.notes if n.startswith("these") and "look like lesion crops" in n]
    assert said, result.notes
    median = float(said[0].split("covers ")[1].split(" %")[0])
    assert median >= 50
    assert "look like lesion crops: the lesion box covers" in result.summary()
