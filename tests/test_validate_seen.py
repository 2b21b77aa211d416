"""featbus validate on images the model (or a trained part of it) has seen: they never feed the
verdict. Every image seen: no verdict ("verdict: none"); some seen: the verdict and "In short" on
the others, saying how many; every figure block that includes seen images says so on its line."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from featbus import make_phantoms, validate
from featbus.evaluation import validation as validation_module
from featbus.evaluation.sanity import STRICT_EXIT_CODE, strict_status
from featbus.model.provenance import count_seen, fingerprints, overlap

CLASSES = ("benign", "malignant", "normal")
CV = {"cv": "duplicate-grouped 5-fold", "auc": {"value": 0.8, "ci": [0.75, 0.85]},
      "per_class_auc": {"malignant": {"value": 0.8, "ci": [0.75, 0.85]}}}
BLOCK_HEADERS = ("malignant vs rest (", "per class (", "confusion matrix (", "per class at the model's own",
                 "calibration of p(malignant)", "  here: accuracy", "  called normal:")


class _Fake:
    """A 'model' reading each record's true label (meta) and returning chosen probabilities;
    ``manifest["data"]["fingerprints"]`` (its training images) and ``roi.segmenter_.fingerprints_``
    (its lesion segmenter's) are what featbus.model.provenance reads."""

    def __init__(self, proba_of, manifest=None, segmenter_prints=None):
        self.classes_ = np.array(CLASSES, dtype=object)
        self.proba_of = proba_of
        self.manifest = manifest or {}
        if segmenter_prints is not None:
            self.roi = type("ROI", (), {})()
            self.roi.segmenter_ = type("Seg", (), {"fingerprints_": list(segmenter_prints)})()

    def predict_proba(self, records):
        return np.array([self.proba_of(i, r.meta["label"]) for i, r in enumerate(records)], dtype=float)


def _onehot(label):
    return [float(c == label) for c in CLASSES]


def _lesions(n=40, seed=0):
    return make_phantoms(n, image_size=48, weights=[0.5, 0.5, 0.0], random_state=seed)


def _block_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(BLOCK_HEADERS)]


def test_every_image_seen_gives_no_verdict_and_says_why():
    data = _lesions()
    prints = fingerprints(list(data.data))
    model = _Fake(lambda i, y: _onehot(y), manifest={"cv": CV, "data": {"fingerprints": prints}})
    result = validate(model, data, n_bootstrap=50)
    assert result.n_seen == 40 and result.sanity is None
    text = result.summary()
    assert ("verdict: none -- every one of these 40 images (or a near-copy) trained this model or a part of it: they "
            "cannot show how it does on new images; validate it on images from elsewhere") in text
    assert "verdict: useful" not in text and "does better" not in text and "make sure none" not in text
    short = text.split("In short:\n", 1)[1].splitlines()
    assert short[0].startswith("  * every one of these 40 images (or a near-copy) trained this model or a part of it")
    assert short[1] == ""  # the fact alone: nothing computed on seen images is a finding
    # the figures stay, every block saying on its own line that they are on seen images
    blocks = _block_lines(text)
    assert len(blocks) == len(BLOCK_HEADERS)
    assert all("(seen: all 40 images trained the model or a part of it: optimistic)" in line for line in blocks)
    assert result.figures["auc"] == 1.0 and "AUC 1.000" in text
    assert "[1.00, 1.00]" not in text and "[0.00, 0.00]" not in text  # no interval printed as a point
    d = result.to_dict()
    json.dumps(d)
    assert d["sanity"]["verdict"] == "none" and d["n_seen"] == 40
    assert d["verdict_on"] == {"n_images": 0, "n_seen_left_out": 40,
                               "images": "none: every image trained the model or a part of it"}
    assert d["figures_include_seen"].startswith("seen: all 40") and d["judged"]["n_images"] == 40
    assert strict_status({"on x": result.sanity}, True, "validate", "every image was seen") == STRICT_EXIT_CODE


def test_every_image_seen_html_report(tmp_path):
    data = _lesions(20)
    model = _Fake(lambda i, y: _onehot(y), manifest={"cv": CV, "data": {"fingerprints": fingerprints(list(data.data))}})
    page = validate(model, data, n_bootstrap=0).to_html(tmp_path).read_text()
    assert "<b>Verdict: none</b> -- every one of these 20 images (or a near-copy) trained this model" in page
    assert "caution: 20 of these 20 images (or near-copies) trained this model" in page
    assert "vs rest (seen: all 20 images trained the model or a part of it: optimistic)</h2>" in page
    stored = json.loads((tmp_path / "validation.json").read_text())
    assert stored["sanity"]["verdict"] == "none" and stored["n_seen"] == 20


def _memorising_model(seen_mask):
    """Right (and sure) on the images it saw, calls every other image benign at p 0.6: on the
    unseen images no better than always answering benign, AUC 0.5."""
    return lambda i, y: _onehot(y) if seen_mask[i] else [0.6, 0.4, 0.0]


def test_some_images_seen_by_a_trained_part_the_verdict_reads_only_the_others():
    data = _lesions(60)
    prints = fingerprints(list(data.data))
    # the lesion segmenter (a trained part, not the model itself) trained on the first 40 (and so
    # saw any near-copy of them among the others)
    seen_mask = count_seen(prints, prints[:40])
    k, m = int(seen_mask.sum()), int((~seen_mask).sum())
    assert k >= 40 and m >= 15
    labels = np.asarray(data.target_names)[data.target][~seen_mask]
    share = max(np.mean(labels == "benign"), np.mean(labels == "malignant"))
    model = _Fake(_memorising_model(seen_mask), manifest={"cv": CV}, segmenter_prints=prints[:40])
    result = validate(model, data, n_bootstrap=100)
    assert result.n_seen == k and result.seen_images.tolist() == seen_mask.tolist()
    assert len(result.seen) == 1 and "trained its lesion segmenter" in result.seen[0]
    # the figures are on the unseen images only: there it is no better than always answering one class
    v = result.sanity
    assert v.verdict == "useless" and v.trivial_accuracy == pytest.approx(share)
    assert result.figures["accuracy"] == pytest.approx(v.accuracy) and result.figures["accuracy"] <= share
    assert result.figures["trivial_accuracy"] == pytest.approx(share)
    assert result.confusion_matrix().sum() == m and result.held_out.y_true.size == m
    where = f"the {m} images no part of the model trained on"
    assert v.basis == f"external validation, on {where}; the other {k} left out"
    text = result.summary()
    assert "verdict: useless -- " in text and f"(external validation, on {where}; the other {k} left out)" in text
    assert f"every figure below is on {where}" in text
    short = text.split("In short:\n", 1)[1].split("\n\n", 1)[0]
    assert short.startswith(f"  * {k} of these 60 images (or near-copies) trained this model or a part of it: left "
                            f"out of every figure that follows, which is on {where}")
    assert f"much worse on {where} than in its own cross-validation: AUC 0.50" in short
    assert f"its accuracy on these {m} images, " in short and "is no better than calling every image" in short
    assert "does better" not in short
    assert "(seen:" not in text  # no block holds a seen image
    d = result.to_dict()
    json.dumps(d)
    assert d["n_seen"] == k and d["sanity"]["verdict"] == "useless"
    assert d["verdict_on"] == {"n_images": m, "n_seen_left_out": k, "images": where}
    assert d["judged"]["n_images"] == m and d["auc"]["value"] == pytest.approx(0.5)
    assert d["figures_include_seen"] is None and len(d["judged"]["left_out"]) == k


def test_some_images_seen_with_a_stubbed_overlap(monkeypatch):
    """The verdict follows the per-image flags, whoever sets them (a stub of featbus.model.provenance.overlap)."""
    data = _lesions(60)
    seen_mask = np.arange(60) >= 45  # the last 15

    def stub(model, records):
        assert len(records) == 60
        return ["15 of these 60 images (or near-copies) trained the backbone x: figures on them are optimistic"], \
            seen_mask.copy()

    monkeypatch.setattr(validation_module, "overlap", stub)
    result = validate(_Fake(_memorising_model(seen_mask), manifest={"cv": CV}), data, n_bootstrap=50)
    assert result.n_seen == 15 and result.sanity.verdict == "useless"
    text = result.summary()
    assert "caution: 15 of these 60 images (or near-copies) trained the backbone x" in text
    assert "on the 45 images no part of the model trained on" in text


def test_no_image_seen_leaves_the_output_as_it_was(monkeypatch):
    data = _lesions()
    model = _Fake(lambda i, y: _onehot(y), manifest={"cv": CV})
    plain = validate(model, data, n_bootstrap=50)
    monkeypatch.setattr(validation_module, "overlap", lambda model, records: ([], np.zeros(len(records), bool)))
    stubbed = validate(model, data, n_bootstrap=50)
    for result in (plain, stubbed):
        assert result.n_seen == 0 and result.sanity.verdict == "useful"
        text = result.summary()
        assert "(seen:" not in text and "verdict: none" not in text
        assert "this model does better on these images than in its own cross-validation" in text
        assert "(external validation, 40 images)" in text
        d = result.to_dict()
        assert d["n_seen"] == 0 and d["figures_include_seen"] is None and d["judged"]["left_out"] == []
        assert d["verdict_on"]["images"] == "every image"
    assert plain.summary() == stubbed.summary()


def test_overlap_flags_each_image_any_part_saw():
    data = _lesions(12)
    prints = fingerprints(list(data.data))
    model = _Fake(lambda i, y: _onehot(y), manifest={"data": {"fingerprints": prints[:3]}},
                  segmenter_prints=prints[2:5])
    notes, seen = overlap(model, list(data.data))
    assert seen.tolist() == [True] * 5 + [False] * 7
    assert len(notes) == 2 and notes[0].startswith("3 of these 12 images (or near-copies) trained this model")
    assert notes[1].startswith("3 of these 12 images (or near-copies) trained its lesion segmenter")


@pytest.mark.slow
def test_breast_us_on_bus_bra_images_it_trained_on_has_no_verdict(make_bus_bra_subset, tmp_path, capsys):
    """The shipped classifier trained on every BUS-BRA image: validated on some, through the command
    line, it gives no verdict and says why."""
    pytest.importorskip("keras")
    from featbus.cli import main

    root, _ = make_bus_bra_subset(tmp_path / "bus-bra", 6, 4, masks=False)
    n = sum(1 for _ in root.rglob("*.png"))
    assert 10 <= n <= 40
    status = main(["validate", "breast-us", str(root), "--n-bootstrap", "50", "--strict"])
    out = capsys.readouterr()
    assert status == STRICT_EXIT_CODE
    assert (f"verdict: none -- every one of these {n} images (or a near-copy) trained this model or a part of it: "
            "they cannot show how it does on new images; validate it on images from elsewhere") in out.out
    assert "verdict: useful" not in out.out and "does better on these images" not in out.out
    assert f"(seen: all {n} images trained the model or a part of it: optimistic)" in out.out
    assert "no verdict (every image, or a near-copy, trained the model or a part of it)" in out.err
