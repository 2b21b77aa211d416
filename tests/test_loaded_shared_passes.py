"""What a run's models share is computed once (issues 75 and 83): a command makes one
:class:`~featbus.model.runtime.SharedPasses` and hands it down explicitly (``passes=``); a segmenter
with the same weights computes each image's map once in it, whichever model (or copy) asks; without
one, nothing is kept; what is kept is exactly what would be computed again. No ambient store: the
module has no context variable to read."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import UNET_SMALL

from featbus.model import runtime
from featbus.model.runtime import SharedPasses


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

    def counted(xs, batch_size=32, forward=None):  # forward: the network's LiteRT forward, if it runs one
        seen.append(len(xs))
        return run(xs, batch_size, forward)

    monkeypatch.setattr(seg, "_network_maps", counted)
    return seen


def test_no_ambient_store():
    """The store is a plain object handed down: nothing in the module to enter or to ask for."""
    assert not hasattr(runtime, "shared_passes") and not hasattr(runtime, "current_shared_passes")
    a, b = SharedPasses(), SharedPasses()
    a.put("maps", "unet-1", "image-1", 1.0)
    assert b.get("maps", "unet-1", "image-1") is None and a.get("maps", "unet-1", "image-1") == 1.0


@pytest.mark.slow  # trains a (tiny) network
def test_a_shared_segmenter_computes_each_image_once_per_run(tiny_segmenter, monkeypatch):
    seg, images = tiny_segmenter
    twin = copy.deepcopy(seg)  # another model's segmenter with the same weights (an adapted file's)
    plain = seg.predict_proba_maps(images)
    seen, seen_twin = _counting(seg, monkeypatch), _counting(twin, monkeypatch)
    store = SharedPasses()
    first = seg.predict_proba_maps(images, passes=store)
    again = twin.predict_proba_maps(images[::-1], passes=store)  # other order, other object: nothing computed
    seg.predict_proba_maps(images[:2], passes=store)
    assert sum(seen) == len(images) and sum(seen_twin) == 0
    assert store.hits == len(images) + 2 and store.misses == len(images)
    for a, b, c in zip(plain, first, again[::-1]):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)
    seg.predict_proba_maps(images)
    assert sum(seen) == 2 * len(images)  # without a store every call computes
    seg.predict_proba_maps(images, passes=SharedPasses())
    assert sum(seen) == 3 * len(images)  # another run's store shares nothing with this one


@pytest.mark.slow
def test_other_weights_are_not_the_same_segmenter(tiny_segmenter, monkeypatch):
    """A copy refit (``fit`` is what changes a segmenter's weights) is another segmenter: it shares
    no kept map with the network it was copied from."""
    from featbus import make_phantoms

    seg, images = tiny_segmenter
    other = copy.deepcopy(seg).fit(make_phantoms(12, image_size=32, random_state=5).data)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(seg.model_.get_weights(), other.model_.get_weights()))
    seen = _counting(other, monkeypatch)
    store = SharedPasses()
    seg.predict_proba_maps(images, passes=store)
    other.predict_proba_maps(images, passes=store)
    assert sum(seen) == len(images)


@pytest.mark.slow  # trains a (tiny) network
def test_compare_of_two_models_sharing_a_segmenter_runs_it_once_per_image(tiny_segmenter, monkeypatch):
    """compare hands one store to each model's validate: the segmenter of two models (a model and
    its copy, as an adapted file) runs once per image, as it did inside the old ambient block; two
    validates without a store run it twice per image. The figures are the same either way."""
    from featbus import make_phantoms, validate
    from featbus.evaluation.comparison import compare_models
    from featbus.workflows.training import train_model

    seg, _ = tiny_segmenter
    data = make_phantoms(24, image_size=40, random_state=2)
    model = train_model(data, "intensity", classifier="logreg", segmenter=seg, cross_validate=False,
                        n_bootstrap=0, progress=False)
    twin = copy.deepcopy(model)
    test = make_phantoms(10, image_size=40, weights=[0.5, 0.5, 0.0], random_state=3)
    seen = _counting(model.roi.segmenter_, monkeypatch)
    seen_twin = _counting(twin.roi.segmenter_, monkeypatch)
    result = compare_models([model, twin], test, names=["model", "twin"], n_bootstrap=0)
    assert sum(seen) + sum(seen_twin) == len(test.target)  # once per image for the run
    alone = [validate(m, test, n_bootstrap=0) for m in (model, twin)]
    assert sum(seen) + sum(seen_twin) == 3 * len(test.target)  # each validate alone: its own pass
    for m, v in enumerate(alone):
        np.testing.assert_allclose(result.scores[m], v.proba[:, list(v.classes).index("malignant")], rtol=0,
                                   atol=0)  # the same numbers: what is kept is what would be computed


@pytest.mark.slow  # trains a (tiny) network
def test_adapt_reads_the_look_of_its_image_check(tiny_segmenter, monkeypatch):
    """featbus adapt's look: the start-up's check of the images (crops, features, the image kind)
    runs the segmenter once per image; adapt, handed the look, runs it on none again, and adapts as
    it does computing the look itself."""
    from featbus import adapt, make_phantoms
    from featbus.cli._startup import check_kind
    from featbus.io import load_item
    from featbus.workflows.training import train_model

    seg, _ = tiny_segmenter
    model = train_model(make_phantoms(24, image_size=40, random_state=2), "intensity", classifier="logreg",
                        segmenter=seg, cross_validate=False, n_bootstrap=0, progress=False)
    records = [load_item(im) for im in make_phantoms(12, image_size=40, random_state=4).images]
    seen = _counting(model.roi.segmenter_, monkeypatch)
    words, look = check_kind(model, records, force=True)
    assert sum(seen) == len(records) and len(look) == len(records) and look.kind is not None
    copied = []  # adapt works on a copy of the model: its segmenter is another object with the same weights
    real_copy = copy.deepcopy

    def counted_copy(obj, memo=None):
        new = real_copy(obj, memo)
        if obj is model:
            copied.append(_counting(new.roi.segmenter_, monkeypatch))
        return new

    monkeypatch.setattr("featbus.workflows.adaptation.copy.deepcopy", counted_copy)
    handed = adapt(model, records, force=True, look=look)
    assert copied and sum(sum(c) for c in copied) == 0 and sum(seen) == len(records)
    own = adapt(model, records, force=True)  # without a look: adapt's own, one pass
    assert sum(seen) + sum(sum(c) for c in copied) == 2 * len(records)
    for key in ("out_of_domain_before", "out_of_domain_after", "changed", "moved"):
        assert handed.manifest["adaptation"].get(key) == own.manifest["adaptation"].get(key), key
    with pytest.raises(ValueError, match="the look was computed from 12 images, given 11 images"):
        adapt(model, records[:11], force=True, look=look)


def test_the_image_check_describes_an_image_once_per_run(monkeypatch):
    from featbus.model import domain

    images = [np.full((40, 50), 30 + 20 * i, np.uint8) for i in range(4)]
    calls = []
    real = domain.image_statistics
    monkeypatch.setattr(domain, "image_statistics", lambda im: calls.append(1) or real(im))
    plain = domain.describe_images(images)
    store = SharedPasses()
    a = domain.describe_images(images, passes=store)
    b = domain.describe_images(images, passes=store)
    assert len(calls) == 2 * len(images)  # the plain call, then once with the run's store
    domain.describe_images(images)
    assert len(calls) == 3 * len(images)  # without a store: described again
    for key in ("statistics", "colour", "height"):
        np.testing.assert_array_equal(plain[key], a[key])
        np.testing.assert_array_equal(a[key], b[key])


def test_predict_and_validate_read_a_look_given_them(monkeypatch):
    """FeatbusModel.look computes once what predict and validate read: handed it, neither runs the
    model's pass again, and both give what they give computing it themselves (exactly: the same
    arrays are read)."""
    import pandas as pd

    from featbus import make_phantoms, validate
    from featbus.workflows.training import train_model

    model = train_model(make_phantoms(30, image_size=48, random_state=0), "intensity", classifier="logreg",
                        n_bootstrap=0, cross_validate=False, progress=False)
    test = make_phantoms(12, image_size=48, weights=[0.5, 0.5, 0.0], random_state=5)
    look = model.look(test.data)
    assert len(look) == 12 and look.proba.shape == (12, 3) and look.out_of_domain.shape == (12,)
    assert look.kind is not None and len(look.kind["reasons"]) == 12
    table, result = model.predict_table(test.data), validate(model, test, n_bootstrap=0)

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the model's pass ran again")

    monkeypatch.setattr(model, "crops_and_features", no_second_pass)
    pd.testing.assert_frame_equal(model.predict_table(test.data, look=look), table)
    again = validate(model, test, n_bootstrap=0, look=look)
    np.testing.assert_array_equal(again.proba, result.proba)
    assert again.notes == result.notes
    with pytest.raises(ValueError, match="the look was computed from 12 images, 11 are readable"):
        model.predict_table(test.data[:11], look=look)
