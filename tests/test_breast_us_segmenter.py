"""featbus's shipped breast-us segmenter and the lesion-presence decision: the file is the card's,
the name works wherever a segmenter is named, "no lesion" is an answer, and the card's
leave-one-site-out table is the benchmark's."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import repo_script

from featbus.io import file_sha256
from featbus.networks.backbones import shipped_card, shipped_segmenter
from featbus.networks.pretrained import get_pretrained
from featbus.segmentation.presence import MIN_IMAGES, fit_presence, presence_probability

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "guide" / "breast_us_segmenter.rst"


def _maps(rng, n, lesion: bool):
    """Probability maps as a segmenter gives them: a confident blob for a lesion image, a faint
    speck for a normal one."""
    out = []
    for _ in range(n):
        m = 0.05 * rng.rand(64, 64)
        if lesion:
            m[20:40, 18:44] = 0.8 + 0.2 * rng.rand(20, 26)
        else:
            m[30:32, 30:32] = 0.45
        out.append(m)
    return out


def test_presence_decision_tells_lesions_from_specks():
    rng = np.random.RandomState(0)
    lesion, normal = _maps(rng, 12, True), _maps(rng, 12, False)
    record = fit_presence(lesion + normal, np.r_[np.ones(12), np.zeros(12)].astype(bool), threshold=0.4)
    assert record["method"] == "logistic" and record["n_lesion"] == record["n_empty"] == 12
    json.dumps(record)  # stored in the segmenter's file as JSON
    p = presence_probability(_maps(rng, 3, True) + _maps(rng, 3, False), record, threshold=0.4)
    assert (p[:3] > 0.5).all() and (p[3:] < 0.5).all()


def test_presence_needs_images_of_both_kinds():
    rng = np.random.RandomState(1)
    maps = _maps(rng, 10, True) + _maps(rng, MIN_IMAGES - 1, False)
    record = fit_presence(maps, np.r_[np.ones(10), np.zeros(MIN_IMAGES - 1)].astype(bool), threshold=0.4)
    assert record["method"] == "mask" and f"needs {MIN_IMAGES} of each" in record["reason"]
    # uncalibrated: the highest pixel probability, and the mask decides
    assert presence_probability(maps[:1], record, 0.4)[0] == pytest.approx(maps[0].max())


def test_a_lesion_free_image_gets_an_empty_mask_not_a_speck(phantom_unet):
    rng = np.random.RandomState(2)
    seg = copy.copy(phantom_unet)  # the shared U-Net is never changed
    lesion, normal = _maps(rng, 8, True), _maps(rng, 8, False)
    seg.presence_ = fit_presence(lesion + normal, np.r_[np.ones(8), np.zeros(8)].astype(bool), seg.threshold)
    masks = seg.masks_from_maps([lesion[0], normal[0]], threshold=0.3)
    assert masks[0].sum() > 400 and not masks[1].any()  # the speck (0.45 > 0.3) is gone with the decision
    plain = copy.copy(phantom_unet)
    plain.presence_ = {"method": "mask"}
    assert plain.masks_from_maps([normal[0]], threshold=0.3)[0].sum() == 4  # without it, the speck stays


def test_calibrate_presence_refuses_too_few_images_and_keeps_its_decision(phantom_unet):
    from featbus import make_phantoms

    seg = copy.copy(phantom_unet)
    before = seg.presence_
    with pytest.raises(ValueError, match="calibrate_presence: these images held"):
        seg.calibrate_presence(make_phantoms(n_samples=3, image_size=48, random_state=9).data)
    assert seg.presence_ is before


def test_unknown_segmenter_names_get_a_suggestion():
    from featbus import UNetSegmenter

    with pytest.raises(FileNotFoundError, match="did you mean 'breast-us'"):
        UNetSegmenter.load("breast-uss")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        UNetSegmenter.load("nowhere/seg.keras")


def test_shipped_file_matches_the_digest_in_code_card_and_docs():
    path = shipped_segmenter("breast-us")
    digest = get_pretrained("breast-us", "segmenter").sha256
    assert file_sha256(path) == digest
    card = shipped_card("breast-us", kind="segmenter")
    assert card["sha256"] == digest and set(card["sites"]) == {"busi", "bus-bra", "breast-lesions-usg"}
    assert digest in DOCS.read_text(), "the docs card states the file's SHA-256"
    assert path.stat().st_size < 20e6  # the wheel stays small


def test_shipped_segmenter_outlines_the_bundled_sample_and_knows_it_trained_on_it(tmp_path, capsys):
    pytest.importorskip("keras")
    from featbus import UNetSegmenter, load_sample
    from featbus.cli import main
    from featbus.model.provenance import overlap_notes
    from featbus.segmentation.metrics import dice_scores

    seg = UNetSegmenter.load("breast-us")
    assert seg.presence_["method"] == "mask"  # the recipe's rule (a calibrated decision did not travel: the card)
    sample = load_sample()
    lesion = [r for r in sample.data if r.mask is not None and r.mask.any()][:8]
    masks = seg.predict_masks(lesion)
    # these images trained it (the sample is BrEaST-Lesions-USG's): a floor, not a figure to quote
    assert np.mean(dice_scores([r.mask for r in lesion], masks)) > 0.6
    assert any("trained this segmenter" in n for n in overlap_notes(seg, lesion))
    folder = Path(sample.paths[0]).parent
    assert main(["segment", "predict", "breast-us", str(folder), "-o", str(tmp_path / "masks")]) == 0
    import pandas as pd

    table = pd.read_csv(tmp_path / "masks" / "masks.csv")
    assert table["lesion_probability"].between(0, 1).all() and table["lesion_found"].any()
    out = capsys.readouterr().out
    assert ("lesion presence (masks.csv's lesion_probability): no lesion-or-not decision: a lesion is drawn "
            "wherever the thresholded mask is non-empty, so expect a lesion drawn in most normal scans (the shipped "
            "segmenter drew one in 9 of the 11 normal scans") in out


def _benchmark(name: str):
    return repo_script(f"benchmarks/{name}.py")


def test_card_table_is_the_benchmarks_json():
    bench = _benchmark("segmentation_sites")
    results = json.loads((ROOT / "benchmarks" / "results" / "segmentation_sites.json").read_text())
    assert set(results["cells"]) == {"busi", "bus-bra", "breast-lesions-usg"}
    assert bench.TABLE.read_text() == bench.render_table(results)


def test_extract_with_the_shipped_segmenter_reads_its_crops(tmp_path):
    pytest.importorskip("keras")
    import pandas as pd

    from featbus import load_sample
    from featbus.cli import main

    folder = Path(load_sample().paths[0]).parents[1]  # the sample's class folders
    out = tmp_path / "f.csv"
    assert main(["extract", str(folder), "-f", "intensity", "--segmenter", "breast-us", "-o", str(out)]) == 0
    table = pd.read_csv(out)
    assert set(table["roi_found"]) <= {0.0, 1.0} and table["roi_found"].mean() > 0.5
    assert main(["extract", str(folder), "-f", "intensity", "--segmenter", "breast-uss", "-o",
                 str(tmp_path / "g.csv")]) == 2


def test_the_recipes_figure_is_the_benchmarks():
    """One value per quantity: `featbus recipes` quotes the leave-one-site-out JSON."""
    from featbus.pipelines.recipes import SEGMENTER_RECIPES

    cells = json.loads((ROOT / "benchmarks" / "results" / "segmentation_sites.json").read_text())["cells"]
    figure = SEGMENTER_RECIPES["breast-us"].figure
    for site, short in (("busi", "BUSI"), ("bus-bra", "BUS-BRA"), ("breast-lesions-usg", "BrEaST")):
        d = cells[site]["shipped_rule"]["dice"]
        assert f"{short} {d[0]:.2f} [{d[1]:.2f}, {d[2]:.2f}]" in figure
    normal = cells["busi"]["shipped_rule"]
    assert normal["normal_given_lesion"][0] == 1.0 and f"{normal['n_normal']} normal scans" in figure
