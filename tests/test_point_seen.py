"""An operating point's figures measured on images a trained part saw say so beside them.

The point records which trained parts (the segmenter, a backbone, the head) saw the images of its
figures and how many (``seen_by``); :meth:`OperatingPoint.describe` says it on the same line. A
file from before the record held it reads it from its manifest where the point was measured on
the training images (:func:`featbus.model.provenance.stored_operating_point`), and never says no
part saw them. Training writes it; ``featbus adapt --labels`` writes it for a point chosen on a
site's images (none when no part saw them) and keeps a kept point's own.

The counts compared are exact: each is what :func:`featbus.model.provenance.count_seen` gives for
the same fingerprints.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from featbus import make_phantoms
from featbus.metrics import OperatingPoint
from featbus.model.provenance import count_seen, fingerprints, stored_operating_point

SEEN = "seen in training"


@pytest.fixture(autouse=True)
def own_trust_list(tmp_path, monkeypatch):
    """Never read or write the user's real trust list."""
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))


# --------------------------------------------------------------------------- the record and its words

def _point(seen_by, n=80):
    return OperatingPoint("malignant", 0.2, target_sensitivity=0.9, sensitivity=0.9, specificity=0.6, n_images=n,
                          chosen_on=f"out-of-fold probabilities of {n} training images", seen_by=seen_by)


@pytest.mark.parametrize("seen_by, words", [
    ((("the segmenter breast-us", 80), ("the backbone breast-us", 80)),
     "(there, on 80 images, all seen in training by the segmenter breast-us and the backbone breast-us, so "
     "optimistic: sensitivity 0.90, specificity 0.60)"),
    ((("the backbone breast-us", 30),),
     "(there, on 80 images, 30 of them seen in training by the backbone breast-us, so optimistic: sensitivity"),
    ((("the segmenter", 80), ("the backbone x", 30)),
     "(there, on 80 images, all seen in training by the segmenter, 30 of them by the backbone x, so optimistic:"),
    ((("the segmenter", None),),
     "(there, on 80 images, perhaps seen in training by the segmenter (featbus cannot tell), so perhaps "
     "optimistic: sensitivity 0.90"),
    ((), "(there: sensitivity 0.90, specificity 0.60)"),  # no part saw them: nothing to say
    (None, "(there: sensitivity 0.90, specificity 0.60)"),  # not recorded: nothing said either way
])
def test_describe_says_beside_the_figures_which_parts_saw_their_images(seen_by, words):
    point = _point(seen_by)
    assert words in point.describe()
    assert OperatingPoint.from_record(point.to_record()) == point
    assert ("seen_by" in point.to_record()) is (seen_by is not None)


def test_a_part_that_saw_none_of_the_images_is_not_named():
    assert SEEN not in _point((("the segmenter", 0),)).describe()


@pytest.mark.parametrize("bad", ["the segmenter", [{"part": "x", "n_seen": -1}], [{"part": "", "n_seen": 1}],
                                 [{"n_seen": 1}], [{"part": "x", "n_seen": 1.5}], [{"part": "x", "n_seen": True}]])
def test_a_damaged_seen_by_is_refused_in_one_line(bad, tmp_path):
    with pytest.raises(ValueError, match="operating_point's 'seen_by' must be a list of"):
        OperatingPoint.from_record({"positive": "malignant", "threshold": 0.2, "seen_by": bad})


# --------------------------------------------------------------------------- a file from before: its manifest

def _old_manifest(*, segmenter=True, backbone_seen=1690, chosen_on=None):
    """A two-decision manifest as files from before ``seen_by`` held it (the shipped one's shape)."""
    notes = []
    if backbone_seen:
        notes.append(f"{backbone_seen} of these 1690 images (or near-copies) trained the backbone breast-us: figures "
                     "on them are optimistic; flagged: a.png and 1689 more (-v lists all)")
    m = {"data": {"n_images": 1690}, "notes": notes, "operating_point": {
        "positive": "malignant", "threshold": 0.177, "target_sensitivity": 0.9, "sensitivity": 0.9,
        "specificity": 0.74, "n_images": 1575, "absent": "normal",
        "chosen_on": chosen_on or "out-of-fold probabilities of 1690 training images (5 grouped folds), its 1575 "
                                  "lesion images",
        "presence": {"positive": "lesion", "threshold": 0.4, "sensitivity": 0.999, "specificity": 0.39,
                     "n_images": 1690, "chosen_on": "the segmenter's own threshold (a lesion when a pixel's "
                                                    "probability reaches 0.4), not chosen on the training images"}}}
    if segmenter:
        m["segmenter"] = {"obtained": "featbus's shipped segmenter breast-us", "file": "breast-us",
                          "trained_on_training_images": segmenter, "n_training_images_seen": 1690}
        if segmenter == "unknown":
            del m["segmenter"]["n_training_images_seen"]
    return m


def test_an_old_file_reads_which_parts_saw_its_training_images_from_its_manifest():
    point = stored_operating_point(_old_manifest())
    assert point.presence.seen_by == (("the segmenter breast-us", 1690),)  # the presence score is the segmenter's
    assert point.seen_by == (("the segmenter breast-us", 1575), ("the backbone breast-us", 1575))
    text = point.describe()
    assert "(measured on 1690 images, all seen in training by the segmenter breast-us, so optimistic: lesion " in text
    assert ("(there, on 1575 images, all seen in training by the segmenter breast-us and the backbone breast-us, so "
            "optimistic: sensitivity 0.90, specificity 0.74)") in text
    assert "seen_by" not in _old_manifest()["operating_point"]  # read, not written back


def test_an_old_file_states_only_what_its_manifest_shows():
    # the backbone saw some of the training images: how many of the lesion images, unknown
    point = stored_operating_point(_old_manifest(backbone_seen=1200))
    assert point.seen_by == (("the segmenter breast-us", 1575), ("the backbone breast-us", None))
    assert "all seen in training by the segmenter breast-us, perhaps by the backbone breast-us (featbus cannot " \
           "tell), so optimistic" in point.describe()
    # a segmenter passed already trained: it may have seen them
    point = stored_operating_point(_old_manifest(segmenter="unknown", backbone_seen=0))
    assert point.seen_by == (("the segmenter breast-us", None),)
    assert "perhaps seen in training by the segmenter breast-us (featbus cannot tell), so perhaps optimistic" \
        in point.describe()
    # nothing in the manifest says a part saw them: left as recorded, never said unseen
    bare = _old_manifest(segmenter=False, backbone_seen=0)
    assert stored_operating_point(bare) == OperatingPoint.from_record(bare["operating_point"])
    assert SEEN not in stored_operating_point(bare).describe()
    # chosen on a site's labelled images (featbus adapt): the training manifest says nothing of them
    site = _old_manifest(chosen_on="30 labelled lesion images of 12 patients of clinic")
    assert stored_operating_point(site).seen_by is None
    assert stored_operating_point(site).presence.seen_by == (("the segmenter breast-us", 1690),)


def test_a_recorded_seen_by_is_read_as_recorded():
    m = _old_manifest()
    m["operating_point"]["seen_by"] = []
    assert stored_operating_point(m).seen_by == ()
    assert stored_operating_point({"operating_point": None}) is None


def test_a_model_file_with_a_damaged_seen_by_is_refused_in_one_line(tmp_path, capsys):
    from featbus.cli import main
    from featbus.model.format import read_manifest
    from featbus.workflows.training import train_model

    model = train_model(make_phantoms(12, image_size=32, random_state=0), "intensity", classifier="logreg",
                        cross_validate=False, progress=False)
    model.manifest["operating_point"] = {"positive": "malignant", "threshold": 0.2, "seen_by": [{"part": 3}]}
    path = model.save(tmp_path / "broken.featbus")
    with pytest.raises(ValueError, match=r"its manifest field 'operating_point' should be an object whose 'seen_by'"):
        read_manifest(path)
    assert main(["inspect", str(path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'seen_by'" in err[0] and "Traceback" not in err[0]


# --------------------------------------------------------------------------- training writes it

@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(30, image_size=48, random_state=0)


@pytest.fixture(scope="module")
def others():
    return make_phantoms(30, image_size=48, random_state=1)


def _segmenter(prints):
    from test_two_decisions import MaskSegmenter  # the network-free stand-in with a lesion probability

    seg = MaskSegmenter(level=0.9).fit()
    if prints is not None:
        seg.fingerprints_ = list(prints)  # the images it "trained" on, as a segmenter file lists them
    return seg


def _point_line(model) -> str:
    return next(line for line in model.describe().splitlines() if line.startswith("operating point"))


def _count(k, n) -> str:
    return "all" if k == n else f"{k} of them"


def test_a_trained_two_decision_model_says_its_segmenter_saw_the_images(phantoms, others):
    pytest.importorskip("keras")  # a model with a segmenter records where its networks ran (no network is built)
    from featbus.workflows.training import train_model

    prints = fingerprints(list(phantoms.data))
    trained_on = prints[::2]  # it saw every other image
    model = train_model(phantoms, "intensity", classifier="logreg", segmenter=_segmenter(trained_on),
                        two_decisions=True, n_splits=3, n_bootstrap=20, progress=False)
    saw = count_seen(prints, trained_on)
    lesion = phantoms.target != 2
    k_all, k_lesion, n_lesion = int(saw.sum()), int(saw[lesion].sum()), int(lesion.sum())
    record = model.manifest["operating_point"]
    assert record["presence"]["seen_by"] == [{"part": "the segmenter", "n_seen": k_all}]
    assert record["seen_by"] == [{"part": "the segmenter", "n_seen": k_lesion}]  # the head's are out of fold
    line = _point_line(model)
    assert (f"(measured on 30 images, {_count(k_all, 30)} seen in training by the segmenter, so optimistic: "
            "lesion images called a lesion ") in line
    assert (f"its {n_lesion} lesion images (there, on {n_lesion} images, {_count(k_lesion, n_lesion)} seen in "
            "training by the segmenter, so optimistic: sensitivity ") in line
    assert line == f"operating point (two decisions): {model.operating_point.describe()}"
    # a segmenter that trained on other images: its figures here were never seen, and nothing is said
    clean = train_model(phantoms, "intensity", classifier="logreg", segmenter=_segmenter(fingerprints(others.data)),
                        two_decisions=True, n_splits=3, n_bootstrap=20, progress=False)
    assert clean.manifest["operating_point"]["seen_by"] == [] == clean.manifest["operating_point"]["presence"][
        "seen_by"]
    assert SEEN not in _point_line(clean)


def test_a_segmenter_passed_trained_without_its_images_may_have_seen_them(phantoms):
    pytest.importorskip("keras")
    from featbus.workflows.training import train_model

    model = train_model(phantoms, "intensity", classifier="logreg", segmenter=_segmenter(None), two_decisions=True,
                        n_splits=3, n_bootstrap=20, progress=False)
    assert model.manifest["operating_point"]["seen_by"] == [{"part": "the segmenter", "n_seen": None}]
    assert "perhaps seen in training by the segmenter (featbus cannot tell), so perhaps optimistic" in \
        _point_line(model)


# --------------------------------------------------------------------------- featbus adapt --labels writes it

@pytest.fixture(scope="module")
def one_decision(phantoms):
    """A one-decision model whose segmenter trained on every one of its training images."""
    pytest.importorskip("keras")
    from featbus.workflows.training import train_model

    return train_model(phantoms, "intensity", classifier="logreg", segmenter=_segmenter(fingerprints(phantoms.data)),
                       operating_point="sensitivity=0.9", n_splits=3, n_bootstrap=20, progress=False)


def test_a_point_chosen_on_a_sites_unseen_images_says_nothing_of_training(one_decision, others):
    from featbus.workflows.adaptation import adapt

    assert "(there, on 30 images, all seen in training by the segmenter, so optimistic: " in \
        _point_line(one_decision)
    y = np.asarray(others.target_names)[others.target]
    adapted = adapt(one_decision, others.data, labels=y, n_bootstrap=20)
    record = adapted.manifest["operating_point"]
    assert record["chosen_on"].startswith("30 labelled images of") and record["seen_by"] == []
    assert SEEN not in _point_line(adapted) and "(there: sensitivity " in _point_line(adapted)


def test_a_point_chosen_on_images_the_model_trained_on_says_so(one_decision, phantoms):
    from featbus.workflows.adaptation import adapt

    y = np.asarray(phantoms.target_names)[phantoms.target]
    adapted = adapt(one_decision, phantoms.data, labels=y, n_bootstrap=20)
    assert adapted.operating_point.seen_by == (("the segmenter", 30), ("the head (the model's training images)", 30))
    assert ("(there, on 30 images, all seen in training by the segmenter and the head (the model's training "
            "images), so optimistic: ") in _point_line(adapted)


def test_two_decisions_adapted_a_refitted_point_counts_the_site_a_kept_one_keeps_its_own():
    from featbus.workflows.adaptation import _seen_on_site

    pres = OperatingPoint("lesion", 0.4, sensitivity=1.0, specificity=0.4, n_images=90, chosen_on="training",
                          seen_by=(("the segmenter", 90),))
    stored = OperatingPoint("malignant", 0.2, target_sensitivity=0.9, sensitivity=0.9, specificity=0.5, n_images=60,
                            chosen_on="training", absent="normal", presence=pres,
                            seen_by=(("the segmenter", 60), ("the backbone x", 60)))
    labelled = np.array([True] * 6 + [False] * 2)
    lesion = np.array([True, True, True, False, False, True, True, False])
    seen = ([("the segmenter", np.array([1, 0, 0, 0, 0, 0, 1, 1], bool))],
            [("the backbone x", np.array([1, 1, 0, 0, 0, 0, 0, 0], bool))])
    # both kept: each keeps the parts that saw its own figures' images
    assert _seen_on_site(copy.copy(stored), stored, seen, labelled, lesion) == stored
    # both refitted on the labelled images: the presence point on all six, the malignancy one on their lesions
    refit = OperatingPoint("malignant", 0.3, chosen_on="4 labelled lesion images of clinic", absent="normal",
                           presence=OperatingPoint("lesion", 0.5, chosen_on="6 labelled images of clinic"))
    got = _seen_on_site(refit, stored, seen, labelled, lesion)
    assert got.presence.seen_by == (("the segmenter", 1),)
    assert got.seen_by == (("the segmenter", 1), ("the backbone x", 2))
    # aligned without labels: every image of the site
    aligned = dataclasses.replace(stored, presence=OperatingPoint("lesion", 0.6, chosen_on="aligned without labels "
                                                                                         "to 8 images of clinic"))
    assert _seen_on_site(aligned, stored, seen, labelled, lesion).presence.seen_by == (("the segmenter", 3),)
