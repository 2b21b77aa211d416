"""Models that carry a lesion segmenter: train_model(segmenter=...), the ROI crop before the
features, lesion_roi, format version 2, the command line (train --segmenter, predict, export).

One small U-Net (64x64 input, narrow scratch encoder, the settings of test_segmentation.py) is
trained once per module on phantoms, which carry lesion masks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from featbus.datasets import make_phantoms
from featbus.io import file_sha256
from featbus.model import FORMAT_VERSION, ModelVersionError, load_model, read_manifest
from featbus.workflows.training import train_model

pytest.importorskip("keras")
from featbus import ImageRecord, UNetSegmenter  # noqa: E402

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(backbone="scratch", input_size=64, width=0.5, batch_size=8, learning_rate=3e-3, random_state=0,
             progress=False)


@pytest.fixture(autouse=True)
def own_trust_list(tmp_path, monkeypatch):
    """Never read or write the user's real trust list."""
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(36, image_size=64, random_state=0), make_phantoms(18, image_size=64, random_state=1)


@pytest.fixture(scope="module")
def segmenter(phantom_unet):
    """A trained U-Net, passed to train_model already trained: the shared one (conftest.phantom_unet,
    other phantoms than these tests' own, with the same settings)."""
    return phantom_unet


@pytest.fixture(scope="module")
def roi_model(phantoms, segmenter):
    train, _ = phantoms
    # shape features are allowed: the predicted mask travels with the crop
    return train_model(train, "intensity,shape", classifier="svm", segmenter=segmenter, n_bootstrap=20,
                       progress=False)


def test_model_holds_a_fitted_cropper_and_records_the_segmenter(roi_model, segmenter, phantoms):
    roi = roi_model.roi
    assert roi.segmenter_ is segmenter and roi.source == "segmenter" and roi.on_empty == "image"
    assert roi.pass_mask and roi.margin == 0.15
    m = roi_model.manifest
    assert m["format_version"] == FORMAT_VERSION
    seg = m["segmenter"]
    assert seg["class"] == "UNetSegmenter" and seg["params"]["input_size"] == 64
    assert seg["n_train_"] == segmenter.n_train_ and seg["obtained"] == "passed already trained"
    # the segmenter's fingerprints say these images trained it: the shared U-Net's phantoms come from the
    # same generator, near-copies to the perceptual hash
    assert seg["trained_on_training_images"] is True and seg["n_training_images_seen"] > 0
    assert seg["roi"]["margin"] == 0.15
    assert 0 < seg["roi"]["found_in_training_images"] <= 36
    assert any("optimistic" in n for n in m["notes"]) and "optimistic" in m["cv"]["caveat"]
    text = roi_model.describe()
    assert "lesion ROI: UNetSegmenter" in text and "optimistic" in text
    assert "segmenter=UNetSegmenter" in repr(roi_model)


def test_features_are_computed_on_the_predicted_crop(roi_model, phantoms):
    _, test = phantoms
    crops = roi_model.roi.transform(test.images)
    np.testing.assert_allclose(roi_model.transform(test.images), roi_model.features.transform(crops), atol=1e-12)
    # the ground truth an image carries is ignored: prediction sees what a new image gives
    np.testing.assert_allclose(roi_model.predict_proba(test.data), roi_model.predict_proba(test.images), atol=1e-12)


def test_lesion_roi_covers_the_phantom_lesions(roi_model, phantoms):
    _, test = phantoms
    rois = roi_model.lesion_roi(test.images)
    assert len(rois) == len(test.images)
    covered = []
    for r, img, gt in zip(rois, test.images, test.masks):
        r0, r1, c0, c1 = r["box"]
        if not r["found"]:
            assert r["mask"] is None and r["box"] == (0, img.shape[0], 0, img.shape[1])
            continue
        assert r["mask"].shape == img.shape and r["mask"].dtype == bool and r["mask"].any()
        inside = np.zeros(img.shape, bool)
        inside[r0:r1, c0:c1] = True
        assert not (r["mask"] & ~inside).any()  # the whole predicted lesion lies in its box
        if gt.any():
            covered.append(gt[r0:r1, c0:c1].sum() / gt.sum())
    lesions = sum(gt.any() for gt in test.masks)
    # a small U-Net trained for seconds: most lesions found, and their boxes hold most of each lesion
    assert len(covered) >= 0.8 * lesions
    assert np.median(covered) >= 0.9


def test_predict_table_has_the_roi_columns(roi_model, phantoms, tmp_path):
    _, test = phantoms
    files = []
    for i in range(4):
        Image.fromarray(test.images[i]).save(tmp_path / f"im{i}.png")
        files.append(str(tmp_path / f"im{i}.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.warns(UserWarning, match="skipped 1"):
        table = roi_model.predict_table(files + [str(bad)], on_error="skip")
    # the ROI columns, then the out-of-domain ones (featbus.model.domain), then the error
    assert list(table.columns[-5:]) == ["roi_found", "roi_box", "out_of_domain", "unlike_training", "error"]
    rois = roi_model.lesion_roi(files)
    assert table["roi_found"].tolist()[:4] == [r["found"] for r in rois]
    assert table["roi_box"].tolist()[:4] == [r["box"] for r in rois]
    assert table.loc[4, "roi_found"] is None and table.loc[4, "error"] != ""
    np.testing.assert_allclose(table[[f"p_{c}" for c in roi_model.classes_]].to_numpy()[:4],
                               roi_model.predict_proba(files), atol=1e-12)


def test_same_probabilities_in_a_new_process(roi_model, phantoms, tmp_path):
    _, test = phantoms
    path = roi_model.save(tmp_path / "m.featbus")
    assert read_manifest(path)["format_version"] == FORMAT_VERSION
    with zipfile.ZipFile(path) as z:
        assert "manifest.json" in z.namelist()
    files = []
    for i in range(6):
        Image.fromarray(test.images[i]).save(tmp_path / f"im{i}.png")
        files.append(str(tmp_path / f"im{i}.png"))
    expected = roi_model.predict_proba(files)
    code = ("import json, sys; from featbus.model import load_model; m = load_model(sys.argv[1]); "
            "print(json.dumps({'p': m.predict_proba(sys.argv[2:]).tolist(), "
            "'box': [r['box'] for r in m.lesion_roi(sys.argv[2:])]}))")
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, "-c", code, str(path), *files], capture_output=True, text=True, env=env,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # same data, same CPU: only summation-order noise is tolerated
    np.testing.assert_allclose(np.array(got["p"]), expected, atol=1e-6)
    assert [tuple(b) for b in got["box"]] == [r["box"] for r in roi_model.lesion_roi(files)]


def test_an_older_reader_refuses_the_current_format(roi_model, tmp_path, monkeypatch):
    import featbus.model.format as fm

    path = roi_model.save(tmp_path / "roi.featbus")
    monkeypatch.setattr(fm, "FORMAT_VERSION", 3)  # a featbus that reads pickled pipelines only
    with pytest.raises(ModelVersionError, match=f"format version {FORMAT_VERSION}"):
        load_model(path)


def test_manifest_and_pipeline_must_agree_on_the_segmenter(roi_model, tmp_path):
    import hashlib

    from featbus.model.format import _skops_io

    path = roi_model.save(tmp_path / "roi.featbus")
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        blob = z.read("pipeline.skops")
    parts = _skops_io().loads(blob, trusted=_skops_io().get_untrusted_types(data=blob))
    assert set(parts) == {"features", "head", "roi", "domain"}
    blob = _skops_io().dumps({"features": parts["features"], "head": parts["head"]})  # the crop dropped
    manifest["pipeline_sha256"] = hashlib.sha256(blob).hexdigest()
    edited = tmp_path / "edited.featbus"
    with zipfile.ZipFile(edited, "w") as z:
        z.writestr("manifest.json", json.dumps(manifest))
        z.writestr("pipeline.skops", blob)
    with pytest.raises(ValueError, match="disagree"):
        load_model(edited, trusted=True)


def test_mask_features_still_refused_without_a_segmenter(phantoms):
    train, _ = phantoms
    with pytest.raises(ValueError, match="without lesion masks.*segmenter"):
        train_model(train, "shape,intensity", progress=False)
    with pytest.raises(ValueError, match="without lesion masks"):
        train_model(train, "intensity", region="mask", progress=False)
    with pytest.raises(ValueError, match="roi_margin"):
        train_model(train, "intensity", segmenter="x.keras", roi_margin=-1, progress=False)
    with pytest.raises(TypeError, match="segmenter must be"):
        train_model(train, "intensity", segmenter=42, progress=False)
    plain = train_model(train, "intensity", classifier="logreg", cross_validate=False, progress=False)
    with pytest.raises(ValueError, match="no lesion segmenter"):
        plain.lesion_roi(train.images[:1])
    assert "roi_found" not in plain.predict_table(train.images[:2]).columns


def test_an_unfitted_segmenter_is_trained_on_the_training_images_only(phantoms):
    train, _ = phantoms
    unfitted = UNetSegmenter(**dict(SMALL, input_size=32, width=0.25, epochs=1, validation_fraction=0.2))
    model = train_model(train, "intensity", classifier="logreg", segmenter=unfitted, roi_margin=0.3,
                        cross_validate=False, progress=False)
    assert not hasattr(unfitted, "model_")  # a clone was trained, the argument is untouched
    seg = model.manifest["segmenter"]
    assert seg["trained_on_training_images"] is True and seg["obtained"].startswith("trained by train_model")
    assert seg["n_train_"] + seg["n_val_"] == len(train.images) and model.roi.margin == 0.3
    assert any("trained on these same images" in n for n in model.manifest["notes"])
    no_masks = make_phantoms(6, image_size=64, random_state=3)
    no_masks.data = [ImageRecord(r.image, None, f"x{i}.png") for i, r in enumerate(no_masks.data)]
    with pytest.raises(ValueError, match=r"image 0 \(x0.png\) has none \(6 image"):
        train_model(no_masks, "intensity", segmenter=unfitted, cross_validate=False, progress=False)


# --------------------------------------------------------------------------- command line

def _folder(root: Path, data, masks: bool) -> Path:
    for i, (im, m, t) in enumerate(zip(data.images, data.masks, data.target)):
        folder = root / str(data.target_names[t])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(folder / f"case ({i}).png")
        if masks:
            Image.fromarray(m.astype(np.uint8) * 255).save(folder / f"case ({i})_mask.png")
    return root


def _error_line(capsys, *fragments):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "Traceback" not in "\n".join(err)
    for f in fragments:
        assert f in err[-1], err[-1]
    return err[-1]


def test_cli_train_with_a_segmenter_file_then_predict_and_export(phantoms, segmenter, tmp_path, capsys):
    from featbus.cli import main

    train, test = phantoms
    data_dir = _folder(tmp_path / "data", train, masks=False)  # a trained segmenter needs no masks
    seg_file = segmenter.save(tmp_path / "seg.keras")
    model = tmp_path / "m.featbus"
    assert main(["train", str(data_dir), "-f", "intensity,shape", "-q", "--n-bootstrap", "0", "--segmenter",
                 str(seg_file), "--roi-margin", "0.2", "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert "lesion ROI: UNetSegmenter" in out and "optimistic" in out
    seg = read_manifest(model)["segmenter"]
    assert seg["sha256"] == file_sha256(seg_file) and seg["trained_on_training_images"] is True
    assert seg["roi"]["margin"] == 0.2
    images = tmp_path / "new"
    images.mkdir()
    for i in range(3):
        Image.fromarray(test.images[i]).save(images / f"n{i}.png")
    preds = tmp_path / "p.csv"
    assert main(["predict", str(model), str(images), "-o", str(preds)]) == 0
    table = pd.read_csv(preds, keep_default_na=False)
    assert {"roi_found", "roi_box"} <= set(table.columns) and len(table) == 3
    loaded = load_model(model)
    rois = loaded.lesion_roi(sorted(str(p) for p in images.glob("*.png")))
    assert table["roi_box"].tolist() == [str(r["box"]) for r in rois]
    assert table["roi_found"].astype(str).tolist() == [str(r["found"]) for r in rois]
    capsys.readouterr()
    assert main(["export", str(model), "--tflite", str(tmp_path / "m.tflite")]) == 2
    _error_line(capsys, "cannot include the segmenter's crop")
    from featbus.deploy.export import check_exportable

    assert "cannot include" in check_exportable(loaded)


def test_cli_train_segmenter_unet_learns_from_the_training_images_only(tmp_path, capsys):
    """The default U-Net (EfficientNet-Lite0, 224 px) on a 1 s budget: one epoch, about 20 s."""
    from featbus.cli import main

    data_dir = _folder(tmp_path / "data", make_phantoms(30, image_size=64, random_state=2), masks=True)
    model = tmp_path / "m.featbus"
    assert main(["train", str(data_dir), "-f", "intensity,shape", "-c", "logreg", "-q", "--n-bootstrap", "0",
                 "--segmenter", "unet", "--segmenter-time", "1", "--test-fraction", "0.2", "-o", str(model)]) == 0
    m = read_manifest(model)
    seg = m["segmenter"]
    assert seg["obtained"].startswith("trained by train_model") and seg["trained_on_training_images"] is True
    assert seg["params"]["max_time"] == 1.0 and seg["params"]["backbone"] == "efficientnet_lite0"
    # the held-out images were not given to the U-Net: it saw the training images only
    assert seg["n_train_"] + seg["n_val_"] == m["data"]["n_images"] == 30 - m["holdout"]["n_images"]
    assert m["format_version"] == FORMAT_VERSION and "--segmenter unet" in m["command"]


def test_cli_segmenter_errors(phantoms, tmp_path, capsys):
    from featbus.cli import main

    train, _ = phantoms
    data_dir = _folder(tmp_path / "data", train, masks=False)
    out = str(tmp_path / "m.featbus")
    assert main(["train", str(data_dir), "-f", "intensity,shape", "--segmenter", "unet", "-o", out]) == 2
    _error_line(capsys, "--segmenter unet", "has none")
    assert main(["train", str(data_dir), "-f", "intensity", "--segmenter", str(tmp_path / "no.keras"), "-o", out]) == 2
    _error_line(capsys, "does not exist")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    assert main(["train", str(data_dir), "-f", "intensity", "--segmenter", str(junk), "-o", out]) == 2
    _error_line(capsys, "junk.keras", "not a segmenter file")
    assert main(["train", str(data_dir), "-f", "intensity", "--roi-margin", "0.3", "-o", out]) == 2
    _error_line(capsys, "--roi-margin needs --segmenter")
    assert main(["train", str(data_dir), "-f", "intensity", "--segmenter", "unet", "--segmenter-time", "0",
                 "-o", out]) == 2
    _error_line(capsys, "--segmenter-time")
    assert not Path(out).exists()


def test_grad_cam_of_a_model_with_a_segmenter_lies_in_its_crop(phantoms, segmenter):
    """Grad-CAM explains what the CNN saw: the crop, mapped back to its box in the image."""
    pytest.importorskip("tensorflow")
    from featbus import DeepFeatures
    from featbus.deploy.explain import explain, grad_cam, supports_grad_cam

    train, test = phantoms
    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32)
    model = train_model(train, [("lite0", deep)], classifier="svm", segmenter=segmenter, cross_validate=False,
                        progress=False)
    assert supports_grad_cam(model)
    images = [im for im, m in zip(test.images, test.masks) if m.any()][:3]
    for image, roi in zip(images, model.lesion_roi(images)):
        cam = grad_cam(model, image)
        assert cam.shape == image.shape and 0 <= cam.min() and cam.max() <= 1
        r0, r1, c0, c1 = roi["box"]
        outside = np.ones(image.shape, bool)
        outside[r0:r1, c0:c1] = False
        assert cam[outside].max(initial=0) == 0  # nothing outside what the features saw
    assert explain(model, images[0])["method"] == "gradcam"
