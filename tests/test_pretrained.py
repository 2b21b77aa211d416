"""The one pretrained table (featbus.networks.pretrained): every shipped network's file is there,
matches its SHA-256 and stays small, its card states version and licence, and each spelling of a
name resolves wherever that kind of network is named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from featbus.io import file_sha256
from featbus.networks import pretrained
from featbus.networks.pretrained import KINDS, PRETRAINED, WEIGHTS_DIR, find_pretrained, get_pretrained

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE = 8 * 2**20  # each shipped network file
MAX_WHEEL = 40 * 2**20  # the wheel, with every shipped network


@pytest.mark.parametrize("key", sorted(PRETRAINED))
def test_every_entry_is_its_file_card_and_docs(key):
    entry = PRETRAINED[key]
    assert key == f"{entry.arch}.{entry.tag}" and entry.kind in KINDS
    path = WEIGHTS_DIR / entry.file
    assert file_sha256(path) == entry.sha256
    assert path.stat().st_size <= MAX_FILE, f"{entry.file}: {path.stat().st_size / 2**20:.1f} MiB"
    card = entry.card()
    assert card["sha256"] == entry.sha256 and card["key"] == key
    assert card["version"] == entry.version and re.fullmatch(r"\d+(\.\d+)*", entry.version)
    assert card["license"] == entry.license and "research use" in entry.license
    page = (ROOT / "docs" / f"{entry.doc}.rst").read_text()
    if entry.kind == "classifier":  # its card's table is written by its build script, included by the page
        page += (ROOT / "docs" / "guide" / "breast_us_classifier_card.rst").read_text()
    assert entry.sha256 in page and f"version {entry.version}" in page and "licence" in page


def test_no_hash_is_written_twice_in_code():
    """The table is the one place of each digest in featbus's code (cards and docs state it too,
    checked equal above)."""
    code = "\n".join(p.read_text() for p in (ROOT / "featbus").rglob("*.py"))
    for entry in PRETRAINED.values():
        assert code.count(entry.sha256) == 1, entry.key


def test_all_shipped_networks_fit_the_wheel_budget():
    total = sum((WEIGHTS_DIR / p.file).stat().st_size for p in PRETRAINED.values())
    assert total <= MAX_WHEEL / 2  # room for the code and the bundled sample


@pytest.mark.parametrize("kind", ["backbone", "segmenter", "classifier"])
@pytest.mark.parametrize("name", ["breast-us", "breast_us", "Breast-US", " BREAST_US "])
def test_spellings_resolve(name, kind):
    entry = get_pretrained(name, kind)
    assert entry.kind == kind and entry.tag == "breast_us" and entry.name == "breast-us"
    assert get_pretrained(entry.key, kind) is entry


def test_near_miss_says_did_you_mean_in_one_line():
    for kind in ("backbone", "segmenter", "classifier"):
        with pytest.raises(ValueError, match=r"did you mean 'breast-us'\?\); it ships breast-us") as err:
            get_pretrained("breast-usg", kind)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="kind must be one of"):
        get_pretrained("breast-us", "weights")
    assert find_pretrained("imagenet", "backbone") is None and find_pretrained(None, "segmenter") is None


def test_views_derive_from_the_table():
    from featbus.networks import BACKBONES, SHIPPED_SEGMENTERS, SHIPPED_WEIGHTS, get_backbone

    assert SHIPPED_WEIGHTS == {"breast-us": ("breast_us.npz", get_pretrained("breast-us", "backbone").sha256)}
    assert SHIPPED_SEGMENTERS["breast-us"][1] == get_pretrained("breast_us", "segmenter").sha256
    row = get_backbone("breast_us")
    assert row is BACKBONES["breast_us"] and PRETRAINED[row.shipped].kind == "backbone"
    assert row.build_fn is not None and row.skips == BACKBONES["efficientnet_lite0"].skips


def test_damaged_segmenter_is_refused(tmp_path, monkeypatch):
    entry = get_pretrained("breast-us", "segmenter")
    data = bytearray((WEIGHTS_DIR / entry.file).read_bytes())
    data[5000:5004] = b"\x00\x01\x02\x03"
    (tmp_path / entry.file).write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(pretrained, "_VERIFIED", set())
    with pytest.raises(ValueError, match="damaged or not featbus's"):
        entry.path()


def test_weights_id_and_trust_read_the_table():
    from featbus.model.provenance import _shipped_backbones
    from featbus.model.trust import _trusted_weights
    from featbus.networks import weights_id

    digest = get_pretrained("breast-us", "backbone").sha256
    assert weights_id("efficientnet_lite0", "breast_us") == weights_id("breast-us", "imagenet") == digest
    assert _trusted_weights("breast_us") and _trusted_weights("breast-us")

    class Net:
        def __init__(self, backbone, weights):
            self.backbone, self.weights = backbone, weights

    assert _shipped_backbones([Net("efficientnet_lite0", "breast_us"), Net("breast-us", "imagenet")]) == \
        ["efficientnet_lite0.breast_us"]


def test_feature_name_spellings(tmp_path):
    from featbus.pipelines import make_features

    for name in ("breast-us", "breast_us"):
        (key, est), = make_features([name]).transformer_list
        assert key == "breast_us" and est.backbone == "breast_us"
    pytest.importorskip("keras")
    import pandas as pd

    from featbus import load_sample
    from featbus.cli import main

    folder = Path(load_sample().paths[0]).parents[1]
    out = tmp_path / "deep.csv"
    assert main(["extract", str(folder), "-f", "breast_us", "-o", str(out)]) == 0
    assert len(pd.read_csv(out)) == len(load_sample().data)


def test_segmenter_loads_by_either_spelling_in_float32():
    pytest.importorskip("keras")
    from featbus import UNetSegmenter
    from featbus.segmentation.unet import segmenter_file

    assert segmenter_file("breast_us") == segmenter_file("breast-us") == get_pretrained("breast-us", "segmenter").path()
    seg = UNetSegmenter.load("breast_us")
    # stored in float16, loaded into float32 variables (as the backbone's .npz)
    assert {str(np.dtype(v.dtype)) for v in seg.model_.weights} == {"float32"}
    with pytest.raises(FileNotFoundError, match="did you mean 'breast"):
        UNetSegmenter.load("breast_uss")


def test_cli_segmenter_spelling(tmp_path):
    pytest.importorskip("keras")
    from featbus import load_sample
    from featbus.cli import main

    folder = Path(load_sample().paths[0]).parents[1]
    out = tmp_path / "f.csv"
    assert main(["extract", str(folder), "-f", "intensity", "--segmenter", "breast_us", "-o", str(out)]) == 0


def test_cards_are_json_with_version_and_license():
    for entry in PRETRAINED.values():
        card = json.loads((WEIGHTS_DIR / entry.file).with_suffix(".json").read_text())
        assert {"key", "version", "license", "sha256"} <= set(card)
