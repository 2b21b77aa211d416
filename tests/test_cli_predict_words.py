"""What predict says of an image it gives no class: the rule cell says what happened (no class, and
that --force decides anyway), and a mammogram sent to an ultrasound model is called a mammogram."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from featbus.datasets import make_phantoms
from featbus.model.domain import OUT_OF_DOMAIN, describe_images, kind_reasons, training_profile


@pytest.fixture(scope="module")
def phantom_model():
    from featbus.workflows.training import train_model

    ph = make_phantoms(30, image_size=48, random_state=0)
    return train_model(ph, "intensity", classifier="logreg", n_splits=3, n_bootstrap=0, progress=False)


def test_the_rule_cell_of_an_out_of_domain_image_says_what_happened(phantom_model):
    grey = make_phantoms(2, image_size=48, random_state=5).images
    blank = np.full((48, 48), 200, np.uint8)  # no speckle, all smooth: unlike every phantom
    table = phantom_model.predict_table([*grey, blank])
    assert table["predicted"].iloc[-1] == OUT_OF_DOMAIN
    assert table["rule"].iloc[-1] == "no class: out of domain; --force decides anyway"
    assert not table["rule"].iloc[:-1].str.startswith("no class").any()
    forced = phantom_model.predict_table([*grey, blank], force=True)
    assert forced["predicted"].iloc[-1] in phantom_model.classes_
    assert not forced["rule"].str.contains("out of domain").any()


def _grey(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def test_a_mammogram_sent_to_the_ultrasound_model_is_called_a_mammogram(mias_original_root, busi_root):
    """The shipped ultrasound classifier's training-image profile (read from its file, nothing
    loaded) against mini-MIAS originals and BUSI frames."""
    from featbus.cli._options import _model_spec
    from featbus.model.format import read_manifest

    profile = read_manifest(_model_spec("breast-us"))["training_images"]
    mammograms = sorted(mias_original_root.glob("mdb*.png"))[:8]
    frames = sorted(p for p in (busi_root / "benign").glob("*.png") if "mask" not in p.name)[:8]
    assert mammograms and frames
    # out_of_domain 3: flagged in the model's features too, so the image statistics decide the words
    _, why = kind_reasons(profile, describe_images([_grey(p) for p in mammograms]), [3.0] * len(mammograms))
    named = [w for w in why if w.startswith("a mammogram, not the kind of image the model learnt from")]
    assert len(named) >= len(mammograms) - 1, why
    _, why = kind_reasons(profile, describe_images([_grey(p) for p in frames]), [3.0] * len(frames))
    assert not any("mammogram" in w for w in why), why


def test_a_model_of_mammograms_does_not_call_a_mammogram_a_mammogram(mias_original_root):
    images = [_grey(p) for p in sorted(mias_original_root.glob("mdb*.png"))[:24]]
    profile = training_profile(images[:20])
    rng = np.random.default_rng(0)
    odd = [np.clip(im.astype(float) * rng.uniform(0.2, 0.4), 0, 255).astype(np.uint8) for im in images[20:]]
    _, why = kind_reasons(profile, describe_images(odd), [3.0] * len(odd))
    assert not any("mammogram" in w for w in why), why


def test_a_mammogram_whose_dicom_header_says_mg_is_named_by_the_header(mias_original_root, tmp_path):
    """A flagged frame whose DICOM header says ``Modality`` MG is called a mammogram on the header's
    word (its statistics alone need not say so: a synthetic frame, another detector), and the header
    names only: a frame like the training images is not flagged for its header."""
    pytest.importorskip("pydicom")
    from _mammo_builders import mg_dataset

    from featbus.cli._options import _model_spec
    from featbus.io import load_item, read_image
    from featbus.model.format import read_manifest

    profile = read_manifest(_model_spec("breast-us"))["training_images"]
    mias = _grey(sorted(mias_original_root.glob("mdb*.png"))[0]).astype(float) / 255
    flat = np.full((256, 200), 0.5)  # statistics unlike a mammogram's: only the header can say it
    paths = []
    for k, image in enumerate((mias, flat)):
        path = tmp_path / f"frame{k}.dcm"
        mg_dataset(image, patient="P1", study="1.2.3", series="1.2.3.4", sop=f"1.2.3.4.{k}", side="L",
                   view="CC").save_as(path, enforce_file_format=True)
        paths.append(path)
    records = [load_item(str(p), i) for i, p in enumerate(paths)]
    described = describe_images(records)
    assert described["modality"] == ["MG", "MG"]
    _, why = kind_reasons(profile, described, [3.0, 3.0])
    assert all(w.startswith("a mammogram (its DICOM header: Modality MG), not the kind of image") for w in why), why
    # the same pixels from a PNG (no header): the first still looks like one, the flat frame is not named
    _, plain = kind_reasons(profile, describe_images([read_image(p) for p in paths]), [3.0, 3.0])
    assert plain[0].startswith("a mammogram, not the kind") and not plain[1].startswith("a mammogram"), plain
    # like the training images in the model's features: not flagged, whatever the header says
    _, kept = kind_reasons(profile, described, [0.2, 0.2])
    assert kept == ["", ""], kept
