"""featbus's shipped breast-us backbone: the file is the card's, a damaged one is refused, the name
works wherever a backbone is named, and images it trained on are recognised."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA

from featbus.io import file_sha256
from featbus.model.provenance import count_seen
from featbus.networks import pretrained
from featbus.networks.backbones import get_backbone, shipped_card, shipped_weights

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "guide" / "breast_us.rst"


def test_shipped_file_matches_the_digest_in_code_card_and_docs():
    path = shipped_weights("breast-us")
    digest = pretrained.get_pretrained("breast-us", "backbone").sha256
    assert file_sha256(path) == digest
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == digest
    assert digest in DOCS.read_text(), "the docs card states the file's SHA-256"
    assert path.stat().st_size < 20e6  # the wheel stays small


def test_damaged_or_swapped_file_is_refused_in_one_line(tmp_path, monkeypatch):
    src = shipped_weights("breast-us")
    shutil.copy(src, tmp_path / src.name)
    shutil.copy(src.with_suffix(".json"), tmp_path / src.with_suffix(".json").name)
    with open(tmp_path / src.name, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(pretrained, "_VERIFIED", set())
    with pytest.raises(ValueError, match="damaged or not featbus's") as err:
        shipped_weights("breast-us")
    assert "\n" not in str(err.value)


def test_names_and_card():
    assert get_backbone("breast-us").name == "breast_us" == get_backbone("Breast_US").name
    assert get_backbone("breast-us").shipped == "efficientnet_lite0.breast_us"
    card = shipped_card("breast-us")
    assert set(card["sites"]) == {"busi", "bus-bra", "breast-lesions-usg"}
    assert len(card["image_phash"]) == card["n_images"] == sum(card["sites"].values())
    with pytest.raises(ValueError, match="ships no backbone"):
        shipped_weights("breast-ct")


def test_deep_features_from_breast_us():
    pytest.importorskip("keras")
    from featbus import DeepFeatures

    rng = np.random.RandomState(0)
    images = [rng.randint(0, 255, (64, 80)).astype(np.uint8) for _ in range(2)]
    a = DeepFeatures(backbone="breast-us", input_size=64).fit_transform(images)
    b = DeepFeatures(backbone="efficientnet_lite0", input_size=64).fit_transform(images)
    assert a.shape == b.shape and np.all(np.isfinite(a))
    assert not np.allclose(a, b, atol=1e-3), "breast-us is not ImageNet Lite0"


@pytest.mark.skipif(not (DATA / "breast-lesions-usg").is_dir(), reason="../shared/data absent")
def test_training_images_are_recognised():
    from featbus import load_data, make_phantoms

    data = load_data(DATA / "breast-lesions-usg")
    prints = shipped_card("breast-us")["image_phash"]
    assert count_seen(data.data[:20], prints).all()
    assert not count_seen(make_phantoms(6, image_size=96, random_state=0).data, prints).any()


def test_three_site_table_is_the_benchmark_output():
    """One value per quantity: the docs' leave-one-site-out table is rendered from the benchmark's JSON."""
    from conftest import REPO as repo
    from conftest import repo_script

    bench = repo_script("benchmarks/three_sites.py")
    results = json.loads((repo / "benchmarks" / "results" / "three_sites.json").read_text())
    assert bench.TABLE.read_text() == bench.render_table(results)
    assert set(results["cells"]) <= set(bench.ROWS)


def test_shipped_weights_need_no_trust_in_a_model_file():
    """A model whose network names featbus's shipped weights loads without --trust: the names the
    trust check accepts are the shipped table's (plus ImageNet)."""
    from featbus.model.trust import TRUSTED_WEIGHTS, _trusted_weights

    assert {"imagenet", "breast-us", "breast_us"} <= set(TRUSTED_WEIGHTS)
    assert all(_trusted_weights(w) for w in ("imagenet", "breast-us", "breast_us", "Breast-US"))
    assert not _trusted_weights("breast-ct") and not _trusted_weights(Path("breast-us"))
