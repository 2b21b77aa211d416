"""Issue 60 item 2: a travel answer only unseen images feed. A held-out site that a trained part of
the model saw (the shipped backbone or segmenter, a user's segmenter or backbone file listing its
training images) is marked on its leave-one-site-out line and left out of the verdict; the card's
honest figures are quoted; validate's "In short" carries the in-domain figure's caveat."""

from __future__ import annotations

import json

import numpy as np
import pytest

from featbus import make_phantoms, validate
from featbus.evaluation.sanity import Verdict, verdict_from_manifest, with_sites
from featbus.evaluation.sites import SiteReport, mark_seen_sites
from featbus.model.describe import site_cv_lines
from featbus.model.provenance import _file_card_prints, card_site_figures, fingerprints, seen_by_site, trained_on


def _site(name, others, auc=0.95, sens=0.9, seen_by=None):
    s = {"site": name, "n_images": 30, "n_groups": 30, "trained_on": others, "n_train": 60,
         "classes": ["benign", "malignant"], "accuracy": {"value": 0.8, "ci": [0.7, 0.9]},
         "balanced_accuracy": {"value": 0.8, "ci": [0.7, 0.9]}, "auc": {"value": auc, "ci": [auc - 0.05, auc + 0.03]},
         "sensitivity": {"value": sens, "ci": [sens - 0.1, min(1.0, sens + 0.05)]}, "notes": []}
    if seen_by:
        s["seen_by"] = seen_by
    return s


_SEEN = [{"part": "the backbone breast-us", "n_seen": 30, "n_images": 30}]


def _entry(seen: set[str], card=None):
    names = ["a", "b", "c"]
    sites = [_site(n, [o for o in names if o != n], seen_by=_SEEN if n in seen else None) for n in names]
    return {"name": "svm", "positive": "malignant", "n_bootstrap": 200, "sites": sites,
            **({"card": card} if card else {})}


def _pooled():
    return Verdict("useful", ("its decisions beat always answering 'benign' ...",), "5-fold cross-validation",
                   headline="its decisions beat always answering 'benign'", problems=0)


def test_a_seen_site_is_marked_on_its_own_line_and_the_unseen_ones_are_not():
    lines = site_cv_lines(_entry({"a"}))
    a_line = next(line for line in lines if line.startswith("  a held out"))
    assert a_line.endswith("-- not an unseen site: the backbone breast-us trained on its images")
    assert not any("not an unseen site" in line for line in lines if line.startswith(("  b held", "  c held")))
    assert "a trained part of the model saw 1 of these 3 held-out sites: its figures are optimistic" in "\n".join(lines)


def test_an_entry_without_marks_prints_as_before():
    lines = site_cv_lines(_entry(set()))
    assert len(lines) == 4 and not any("unseen" in line or "trained part" in line for line in lines)
    assert with_sites(_pooled(), _entry(set())).headline.endswith("with each site held out, it holds up at all 3")


def test_a_part_share_of_a_site_is_counted_on_its_line():
    entry = _entry(set())
    entry["sites"][1]["seen_by"] = [{"part": "the segmenter file seg.keras", "n_seen": 4, "n_images": 30}]
    line = site_cv_lines(entry)[2]
    assert "-- not an unseen site: the segmenter file seg.keras trained on 4 of its 30 images" in line


def test_the_verdict_counts_only_unseen_sites():
    v = with_sites(_pooled(), _entry({"a", "b"}))
    assert v.sites_checked and v.verdict == "useful"
    assert "it holds up at the 1 no trained part saw ('c'; 'a' and 'b' left out: a trained part saw their images)" \
        in v.headline
    assert "holds up at all" not in v.headline
    text = "\n".join(v.reasons)
    assert "at every one of the 1 unseen sites" in text
    assert "left out of the leave-one-site-out check, not unseen sites" in text
    assert "'a': the backbone breast-us trained on its images" in text


def test_a_failing_seen_site_does_not_count_as_failing():
    entry = _entry({"a"})
    entry["sites"][0]["sensitivity"] = {"value": 0.0, "ci": [0.0, 0.0]}  # seen: not judged
    v = with_sites(_pooled(), entry)
    assert v.verdict == "useful" and v.failing_sites == ()
    entry["sites"][1]["sensitivity"] = {"value": 0.0, "ci": [0.0, 0.0]}  # unseen, failing: judged
    v = with_sites(_pooled(), entry)
    assert v.verdict == "limited" and v.failing_sites == ("b",)
    assert "it fails at 'b' ('a' left out: a trained part saw their images)" in v.headline


def test_every_site_seen_cannot_tell_whether_it_travels():
    v = with_sites(_pooled(), _entry({"a", "b", "c"}))
    assert v.sites_checked and v.failing_sites == ()
    assert "featbus cannot tell whether it travels: a trained part saw every held-out site" in v.headline
    assert "holds up" not in v.headline
    assert any(r.startswith("featbus cannot tell whether the model works at a hospital it did not train on: "
                            "a trained part of the model saw every held-out site") for r in v.reasons)
    # the same through a model file's manifest (inspect, the app)
    manifest = {"cv": {"sanity": {"verdict": "useful", "reasons": ["fine"], "basis": "5-fold", "headline": "fine",
                                  "problems": 0}},
                "site_cv": _entry({"a", "b", "c"})}
    assert "cannot tell whether it travels" in verdict_from_manifest(manifest).headline


def test_the_card_s_honest_figure_is_quoted_beside_a_seen_site():
    card = {"label": "frozen breast-us features + SVM, whole image", "card": "breast-us", "about": "...",
            "sites": {"a": {"card_site": "busi", "auc": [0.867, 0.828, 0.906]},
                      "b": {"card_site": "bus-bra", "auc": [0.677, 0.636, 0.72]}}}
    lines = site_cv_lines(_entry({"a", "b"}, card))
    assert lines[1].endswith("(honest, card: benign-vs-malignant AUC 0.87 [0.83, 0.91] with every part rebuilt "
                             "without busi)")
    assert lines[-1] == ("  honest leave-one-site-out for this recipe (the breast-us card, every part rebuilt without "
                         "the site; frozen breast-us features + SVM, whole image; benign-vs-malignant AUC): a 0.87 / "
                         "b 0.68")


def _images(n, seed):
    from scipy import ndimage as ndi

    rng = np.random.RandomState(seed)
    return [ndi.gaussian_filter(rng.rand(64, 64), 3) for _ in range(n)]


def test_seen_by_site_decides_by_fingerprint_not_by_name():
    a, b = _images(4, 0), _images(4, 1)
    prints = fingerprints(a + b)
    sites = ["x"] * 4 + ["y"] * 4
    seen = seen_by_site([("the segmenter seg.keras", prints[:4]), ("the backbone z", prints[5:6])], prints, sites)
    assert seen["x"] == [{"part": "the segmenter seg.keras", "n_seen": 4, "n_images": 4}]
    assert seen["y"] == [{"part": "the backbone z", "n_seen": 1, "n_images": 4}]
    assert seen_by_site([], prints, sites) == {"x": [], "y": []}
    with pytest.raises(ValueError, match="8 fingerprints for 2 images"):
        seen_by_site([], prints, ["x", "y"])


class _Segmenter:
    """A user's segmenter as a UNetSegmenter leaves it: its training images' fingerprints."""

    def __init__(self, prints):
        self.fingerprints_ = prints


def test_a_user_segmenter_covering_a_held_out_site_marks_it():
    a, b = _images(5, 2), _images(5, 3)
    prints = fingerprints(a + b)
    sites = np.array(["a"] * 5 + ["b"] * 5)
    report = SiteReport(name="svm", positive="malignant", n_bootstrap=0,
                        sites=[_site("a", ["b"]), _site("b", ["a"])])
    seg = _Segmenter(prints[:5])  # trained on site a's images
    sources = [("the segmenter file mine.keras", seg.fingerprints_)]
    mark_seen_sites(report, sources, prints, sites, recipe={"features": "hog", "classifier": "svm"})
    assert report.sites[0]["seen_by"] == [{"part": "the segmenter file mine.keras", "n_seen": 5, "n_images": 5}]
    assert "seen_by" not in report.sites[1]
    assert report.card is None  # no card holds figures for this recipe
    entry = report.to_dict()
    assert "card" not in entry
    v = with_sites(_pooled(), entry)
    assert "holds up at the 1 no trained part saw ('b'; 'a' left out" in v.headline
    assert ("this segmenter", prints[:5]) in trained_on(seg)


def test_a_user_backbone_file_with_a_card_beside_it_is_a_source(tmp_path):
    prints = fingerprints(_images(3, 4))
    weights = tmp_path / "mine.npz"
    weights.write_bytes(b"")
    (tmp_path / "mine.json").write_text(json.dumps({"image_phash": prints}))
    assert _file_card_prints(str(weights)) == prints

    class _Net:
        backbone, weights = "efficientnet_lite0", str(tmp_path / "mine.npz")

    assert trained_on(_Net()) == [("the backbone file mine.npz", prints)]
    assert _file_card_prints(str(tmp_path / "other.npz")) == []


def test_the_breast_us_card_holds_honest_figures_matched_by_fingerprint():
    from featbus.networks.pretrained import get_pretrained

    card = get_pretrained("breast-us", "backbone").card()
    rows = card["leave_one_site_out"]["recipes"]
    whole = next(r for r in rows if r["match"]["segmenter"] is None)
    assert [round(whole["auc"][s][0], 2) for s in ("busi", "bus-bra", "breast-lesions-usg")] == [0.87, 0.68, 0.77]
    # a held-out site is matched to the card's site by its images' fingerprints, whatever its name
    busra = card["image_phash"][card["sites"]["busi"]:card["sites"]["busi"] + 5]
    recipe = {"features": "breast-us", "classifier": "svm", "region": None, "balance": None, "preprocessing": None,
              "site_balance": False, "segmenter": None}
    found = card_site_figures(recipe, busra, ["hospital-2"] * 5)
    assert found["sites"]["hospital-2"]["card_site"] == "bus-bra"
    assert found["sites"]["hospital-2"]["auc"][0] == pytest.approx(0.677, abs=1e-3)
    assert card_site_figures({**recipe, "classifier": "rf"}, busra, ["hospital-2"] * 5) is None
    box = card_site_figures({**recipe, "segmenter": "breast-us"}, busra, ["h"] * 5)
    assert box["sites"]["h"]["auc"][0] == pytest.approx(0.798, abs=1e-3)


class _Fake:
    def __init__(self, manifest):
        self.classes_ = np.array(["benign", "malignant", "normal"], dtype=object)
        self.manifest = manifest

    def predict_proba(self, records):
        rng = np.random.RandomState(0)
        return rng.dirichlet([1, 1, 1], size=len(records))


def test_validate_in_short_carries_the_in_domain_caveat_on_the_same_line():
    data = make_phantoms(60, image_size=24, weights=[0.5, 0.5, 0.0], random_state=0)
    caveat = "optimistic: 90 of these 90 images (or near-copies) trained the backbone breast-us"
    manifest = {"cv": {"cv": "duplicate-grouped 5-fold", "caveat": caveat,
                       "per_class_auc": {"malignant": {"value": 0.95, "ci": [0.92, 0.97]}},
                       "accuracy": {"value": 0.9, "ci": [0.85, 0.94]}}}
    result = validate(_Fake(manifest), data, n_bootstrap=0)
    line = next(v for v in result.verdict if "against 0.95" in v)
    assert f"against 0.95 (its malignant-vs-rest AUC; caveat: {caveat})" in line
    text = result.summary()
    assert "(optimistic: see the caveat below)" in text
    plain = validate(_Fake({"cv": {k: v for k, v in manifest["cv"].items() if k != "caveat"}}), data, n_bootstrap=0)
    assert "against 0.95 (its malignant-vs-rest AUC)" in next(v for v in plain.verdict if "against 0.95" in v)
    assert "caveat" not in "\n".join(plain.verdict)


def test_evaluate_s_leave_one_site_out_marks_a_site_a_shipped_backbone_saw(monkeypatch):
    """``featbus evaluate`` on several sites: the features' extractors go with the feature matrix,
    so a held-out site whose images trained the breast-us backbone (a stub card here) is marked on
    its line, as in ``featbus train``, and the unseen sites are not."""
    from argparse import Namespace

    from sklearn.utils import Bunch

    import featbus.model.provenance as provenance
    from featbus.cli import evaluate as cli_evaluate

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 32)).astype(np.uint8) for _ in range(36)]
    sites = np.repeat(["a", "b", "c"], 12)
    target = np.tile([0, 1], 18)
    X = rng.normal(size=(36, 4)) + target[:, None]
    data = Bunch(data=images, target=target, groups=np.arange(36), target_names=["benign", "malignant"])
    a_prints = fingerprints(images[:12])
    stub = object()
    monkeypatch.setattr(provenance, "trained_on",
                        lambda obj: [("the backbone breast-us", a_prints)] if obj is stub else [])
    args = Namespace(random_state=0, n_bootstrap=20, n_jobs=1, features="breast-us", region=None, preprocess=None)
    names = [f"intensity_{i}" for i in range(4)]
    text = cli_evaluate._leave_one_site_out(data, X, names, list(sites), "logreg", "logreg", None, "malignant", args,
                                            extractors=stub)
    lines = text.splitlines()
    a_line = next(line for line in lines if line.lstrip().startswith("a held out"))
    assert a_line.endswith("-- not an unseen site: the backbone breast-us trained on its images")
    assert not any("not an unseen site" in line for line in lines if line.lstrip().startswith(("b held", "c held")))
    assert "a trained part of the model saw 1 of these 3 held-out sites: its figures are optimistic" in text
    # without a part that lists its images, nothing is marked (and nothing fingerprinted)
    plain = cli_evaluate._leave_one_site_out(data, X, names, list(sites), "logreg", "logreg", None, "malignant", args,
                                             extractors=object())
    assert "not an unseen site" not in plain


def test_train_s_report_page_gives_the_verdict_train_prints(tmp_path, capsys):
    """The page of `featbus train --report` on several sites showed the pooled verdict without its
    "featbus cannot tell whether it travels" reason, and the sites' marks hid off the right edge."""
    from types import SimpleNamespace

    from sklearn.linear_model import LogisticRegression

    from featbus.cli.train import _train_report
    from featbus.evaluation.report import evaluate

    data = make_phantoms(30, image_size=24, random_state=0)
    X = np.array([[im.mean(), im.std()] for im in data.images])
    report = evaluate(LogisticRegression(), X, data.target, cv="stratified", n_splits=3, n_bootstrap=20,
                      random_state=0, target_names=data.target_names, name="svm")
    manifest = {"versions": {"featbus": "test"}, "command": "featbus train a b c", "recipe": {"name": "svm"},
                "classes": list(data.target_names), "random_state": 0, "created": "now",
                "site_cv": _entry({"a", "b", "c"})}
    _train_report(SimpleNamespace(cv_report=report, manifest=manifest), tmp_path)
    page = (tmp_path / "report.html").read_text()
    verdict = page.split('class="verdict', 1)[1].split("</div>", 1)[0]
    assert "featbus cannot tell whether the model works at a hospital it did not train on" in verdict
    assert '<pre style="white-space: pre-wrap">' in page and "not an unseen site" in page
    assert "cannot tell" not in report.sanity.headline  # the model's own report is left as it was


def test_held_out_images_a_shipped_backbone_saw_are_flagged(monkeypatch):
    """`featbus train EXPORT -f breast-us --test-fraction 0.2` said the held-out images were "never
    seen in training" and judged them without a caveat, though the backbone trained on every one."""
    import featbus.model.provenance as provenance
    from featbus.evaluation.report import evaluate_external

    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (32, 32)).astype(np.uint8) for _ in range(8)]
    y = np.tile([0, 1], 4)

    class Stub:
        classes_ = np.array([0, 1])

        def predict(self, X):
            return np.array([i % 2 for i in range(len(X))])

    stub = Stub()
    monkeypatch.setattr(provenance, "trained_on",
                        lambda obj: [("the backbone breast-us", fingerprints(images[:5]))] if obj is stub else [])
    report = evaluate_external(stub, images, y, n_bootstrap=0)
    assert len(report.notes) == 1 and report.notes[0].startswith("5 of these 8 images (or near-copies) trained "
                                                                   "the backbone breast-us")
    assert evaluate_external(stub, np.zeros((8, 2)), y, n_bootstrap=0).notes == []  # a matrix: nothing to match


def test_the_card_s_figures_are_the_benchmark_s():
    """One value per quantity: the card quotes the leave-one-site-out cells of
    benchmarks/results/three_sites.json (rounded to 3 decimals), not figures of its own."""
    import json
    from pathlib import Path

    from featbus.networks.pretrained import get_pretrained

    cells = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "three_sites.json")
                       .read_text())["cells"]
    rows = get_pretrained("breast-us", "backbone").card()["leave_one_site_out"]["recipes"]
    for row in rows:
        cell = cells["frozen-breast-us-box" if row["match"]["segmenter"] else "frozen-breast-us"]
        for site, figure in row["auc"].items():
            assert figure == pytest.approx([round(v, 3) for v in cell[site]["auc"]], abs=5e-4)
