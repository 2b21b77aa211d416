"""What a run's models share is computed once (issue 75): inside ``shared_passes`` a segmenter with
the same weights computes each image's map once, whichever model (or copy) asks; outside, nothing is
kept; what is kept is exactly what would be computed again."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import UNET_SMALL

from featbus.model.runtime import current_shared_passes, shared_passes


@pytest.fixture(scope="module")
def tiny_segmenter():
    pytest.importorskip("keras")
    from featbus import UNetSegmenter, make_phantoms

    train = make_phantoms(12, image_size=32, random_state=0)
    seg = UNetSegmenter(**dict(UNET_SMALL, input_size=32, width=0.25, epochs=1, validation_fraction=0.0))
    return seg.fit(train.data), make_phantoms(6, image_size=40, random_state=1).images


def _counting(seg, monkeypatch):
    """Count the images the segmenter's network is run on."""
    seen = []
    run = seg._network_maps

    def counted(xs, batch_size=32):
        seen.append(len(xs))
        return run(xs, batch_size)

    monkeypatch.setattr(seg, "_network_maps", counted)
    return seen


@pytest.mark.slow  # trains a (tiny) network
def test_a_shared_segmenter_computes_each_image_once_per_run(tiny_segmenter, monkeypatch):
    seg, images = tiny_segmenter
    twin = copy.deepcopy(seg)  # another model's segmenter with the same weights (an adapted file's)
    plain = seg.predict_proba_maps(images)
    seen, seen_twin = _counting(seg, monkeypatch), _counting(twin, monkeypatch)
    with shared_passes() as store:
        first = seg.predict_proba_maps(images)
        again = twin.predict_proba_maps(images[::-1])  # other order, other object: nothing computed
        with shared_passes() as inner:  # a block inside shares the outer store
            assert inner is store
            seg.predict_proba_maps(images[:2])
    assert sum(seen) == len(images) and sum(seen_twin) == 0
    assert store.hits == len(images) + 2 and store.misses == len(images)
    for a, b, c in zip(plain, first, again[::-1]):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)
    assert current_shared_passes() is None  # forgotten when the run ends
    seg.predict_proba_maps(images)
    assert sum(seen) == 2 * len(images)  # outside a block every call computes


@pytest.mark.slow
def test_other_weights_are_not_the_same_segmenter(tiny_segmenter, monkeypatch):
    seg, images = tiny_segmenter
    other = copy.deepcopy(seg)
    weights = other.model_.get_weights()
    other.model_.set_weights([w + np.float32(0.01) for w in weights])
    seen = _counting(other, monkeypatch)
    with shared_passes():
        seg.predict_proba_maps(images)
        other.predict_proba_maps(images)
    assert sum(seen) == len(images)


def test_the_image_check_describes_an_image_once_per_run(monkeypatch):
    from featbus.model import domain

    images = [np.full((40, 50), 30 + 20 * i, np.uint8) for i in range(4)]
    calls = []
    real = domain.image_statistics
    monkeypatch.setattr(domain, "image_statistics", lambda im: calls.append(1) or real(im))
    plain = domain.describe_images(images)
    with shared_passes():
        a = domain.describe_images(images)
        b = domain.describe_images(images)
    assert len(calls) == 2 * len(images)  # the plain call, then once inside the block
    for key in ("statistics", "colour", "height"):
        np.testing.assert_array_equal(plain[key], a[key])
        np.testing.assert_array_equal(a[key], b[key])
