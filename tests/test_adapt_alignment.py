"""Calibration that does no harm, and label-free alignment (issues 66 and 67).

* a refitted threshold no better than always answering one class is not stored: the stored one
  is kept, with the figures that say why (:func:`featbus.workflows.adaptation.site_points`);
* the presence threshold never calls more than ``max_lesions_normal`` of the labelled lesions normal;
* the spread to expect from k labelled patients (the card's curve) and its warning;
* :mod:`featbus.model.alignment`: a shifted score distribution mapped back, too few images refused,
  the EM share; the model file round-trips the alignment and predict applies it.

Synthetic score arrays where the rule is the point; a phantom model where a file is needed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import stderr_lines

from featbus import adapt, make_phantoms
from featbus.cli import main
from featbus.metrics import OperatingPoint, lesion_and_given
from featbus.model import load_model
from featbus.model.alignment import (
    FEW_ALIGN_IMAGES,
    LEVELS,
    MIN_ALIGN_IMAGES,
    ScoreAlignment,
    ScoreReference,
    em_positive_share,
)
from featbus.workflows.adaptation import (
    MAX_LESIONS_NORMAL,
    TRIVIAL_BALANCED_ACCURACY,
    WIDE_SPREAD,
    calibration_spread,
    model_card,
    score_reference,
    site_points,
    spread_lines,
)

STORED = OperatingPoint(positive="malignant", threshold=0.2, target_sensitivity=0.9, absent="normal",
                        presence=OperatingPoint(positive="lesion", threshold=0.4, chosen_on="the segmenter's own rule"))
CLASSES = ["benign", "malignant", "normal"]
#: A stored malignancy threshold above what the labelled images choose: a refit lowers it (finds more cancers),
#: which the safe-move rule allows when it beats the trivial answer.
HIGH = OperatingPoint(**{**STORED.__dict__, "threshold": 0.99})


def _message_lines(err: str) -> list[str]:
    """stderr's lines less the words about the data (the reading paragraph, ``data: ...``): the
    message itself (no progress lines in the tests: FEATBUS_PROGRESS=0)."""
    return [line for line in stderr_lines(err) if not line.startswith("data: ")]


def _flat_site(n_patients=10, seed=0):
    """A site whose p(malignant | lesion) does not tell benign from malignant: the threshold chosen
    for sensitivity 0.9 calls most benign lesions malignant (the user's 0.0556, specificity 0.21)."""
    rng = np.random.default_rng(seed)
    y = np.array(["benign", "benign", "malignant"] * n_patients)
    groups = np.repeat(np.arange(n_patients), 3)
    given = rng.uniform(0.02, 0.1, y.size)  # the same for both classes
    p_lesion = rng.uniform(0.95, 1.0, y.size)
    return y, p_lesion, given, groups


# --------------------------------------------------------------------------- no harm

@pytest.mark.parametrize("n_bootstrap", [0, 200])
def test_a_malignancy_threshold_no_better_than_the_trivial_answer_is_not_stored(n_bootstrap):
    y, p_lesion, given, groups = _flat_site()
    point, report = site_points(p_lesion, given, y, groups, stored=STORED, n_bootstrap=n_bootstrap)
    assert point.threshold == STORED.threshold  # the stored point is kept ...
    mal = report["malignancy"]
    assert not mal["refitted"] and mal["kept_because"] == ("no better than always answering one class on the "
                                                           "labelled images")
    judged = report["judged"]["malignancy"]
    assert not judged["better"] and judged["trivial"] == TRIVIAL_BALANCED_ACCURACY
    # ... and the warning says why, with the chosen threshold's figures there and its balanced accuracy
    why = next(w for w in report["warnings"] if w.startswith("the malignancy threshold chosen"))
    assert "no better than always answering one class there: balanced accuracy" in why
    assert f"the stored threshold ({STORED.threshold:g}) is kept" in why
    assert "sensitivity" in why and "specificity" in why
    # the figures describe the decisions actually stored: both columns at the stored threshold
    assert mal["threshold"] == mal["stored_threshold"] == STORED.threshold


def test_a_threshold_that_finds_under_validates_floor_of_one_side_is_not_stored_even_when_its_interval_clears():
    """Many patients make the interval narrow: a point calling 85 % of benign lesions malignant beats
    0.5 there, but finds under 0.2 of the benign ones, which validate calls answering one class."""
    from featbus.evaluation.sanity import SENSITIVITY_FLOOR

    # 1000 malignant, 900 of them above 0.5; 2000 benign, 1700 of them above 0.5: the threshold for
    # sensitivity 0.9 is 0.5, where specificity is 0.15 and balanced accuracy 0.525
    y = np.array(["malignant"] * 1000 + ["benign"] * 2000)
    given = np.concatenate([np.linspace(0.5, 1, 900), np.linspace(0, 0.1, 100), np.linspace(0, 0.49, 300),
                            np.linspace(0.51, 0.9, 1700)])
    n = y.size
    point, report = site_points(np.ones(n), given, y, stored=HIGH, n_bootstrap=200)
    judged = report["judged"]["malignancy"]
    assert judged["balanced_accuracy"] == pytest.approx(0.525)
    assert judged["interval"][0] > TRIVIAL_BALANCED_ACCURACY and judged["under_floor"] == SENSITIVITY_FLOOR
    assert not judged["better"] and point.threshold == HIGH.threshold
    assert any(f"found under validate's {SENSITIVITY_FLOOR:g} floor" in w for w in report["warnings"])


def test_a_useful_malignancy_threshold_is_stored():
    y, p_lesion, given, groups = _flat_site()
    given = np.where(y == "malignant", given + 0.5, given)  # now it ranks
    point, report = site_points(p_lesion, given, y, groups, stored=HIGH, n_bootstrap=200)
    assert report["malignancy"]["refitted"] and point.threshold < HIGH.threshold
    assert report["judged"]["malignancy"]["better"]
    low = report["judged"]["malignancy"]["interval"][0]
    assert low > TRIVIAL_BALANCED_ACCURACY


def _separated_site(n_patients: int, seed: int = 0):
    """Normal scans well below the lesions in p(lesion) (a raise of the presence threshold buys them), two
    images per patient, malignant ranked above benign; every lesion above 0.9, the normals below 0.8."""
    rng = np.random.default_rng(seed)
    kinds = np.array(["normal", "benign", "malignant"])[np.arange(n_patients) % 3]
    y = np.repeat(kinds, 2)
    groups = np.repeat(np.arange(n_patients), 2)
    p_lesion = np.where(y == "normal", rng.uniform(0.4, 0.8, y.size), rng.uniform(0.9, 1.0, y.size))
    given = np.where(y == "malignant", rng.uniform(0.6, 1.0, y.size), rng.uniform(0.0, 0.5, y.size))
    return y, p_lesion, given, groups


def test_a_raise_that_calls_more_lesions_normal_is_refused_on_few_patients_and_accepted_on_enough():
    """The safe-move rule: the labelled images would raise the presence threshold to their lowest
    lesion; on 8 patients a one-sided 95 % Clopper-Pearson bound over the lesion patients cannot keep
    lesions called normal <= 3 %, and the stored threshold stays with the patients needed said; on
    enough patients (every lesion found) it can, and the raise is accepted."""
    from featbus.workflows.adaptation import one_sided_bound, patients_needed

    y, p_lesion, given, groups = _separated_site(12)  # 8 of the 12 patients with a lesion
    fitted = OperatingPoint.choose_presence(p_lesion, y, absent="normal", target=1 - MAX_LESIONS_NORMAL).threshold
    assert fitted > STORED.presence.threshold  # the labels alone would raise it
    point, report = site_points(p_lesion, given, y, groups, stored=STORED, n_bootstrap=0)
    assert point.presence == STORED.presence and not report["presence"]["refitted"]
    move = report["presence"]["move"]
    n_lesion = len(np.unique(groups[y != "normal"]))
    assert move["failing"]["lesion_patients"] == n_lesion and move["failing"]["lesion_patients_missed"] == 0
    assert move["failing"]["lesions_called_normal_bound"] == pytest.approx(one_sided_bound(0, n_lesion))
    assert move["patients_needed"]["lesions_called_normal"] == patients_needed(MAX_LESIONS_NORMAL)
    assert any(f"{patients_needed(MAX_LESIONS_NORMAL)} lesion patients are needed" in w for w in report["warnings"])
    # enough patients (every lesion above the fitted threshold): the raise is shown safe and taken
    n = 3 * patients_needed(MAX_LESIONS_NORMAL)  # two thirds of them with a lesion: over 99 lesion patients
    y, p_lesion, given, groups = _separated_site(n, seed=1)
    point, report = site_points(p_lesion, given, y, groups, stored=STORED, n_bootstrap=0)
    lesion = y != "normal"
    t = point.presence.threshold
    assert report["presence"]["refitted"] and t > STORED.presence.threshold
    missed = len(np.unique(groups[lesion & (p_lesion < t)]))
    n_lesion = len(np.unique(groups[lesion]))
    assert one_sided_bound(missed, n_lesion) <= MAX_LESIONS_NORMAL < one_sided_bound(missed + 1, n_lesion)
    assert np.all(p_lesion[~lesion] < t)  # every normal scan now called normal


def test_a_raise_of_the_malignancy_threshold_needs_the_sensitivity_bound():
    """A malignancy threshold the labels would raise finds fewer cancers: refused while the one-sided
    lower bound of sensitivity over the malignant patients stays under the target."""
    from featbus.workflows.adaptation import patients_needed

    y, p_lesion, given, groups = _separated_site(12)
    low = OperatingPoint(**{**STORED.__dict__, "threshold": 0.05})
    point, report = site_points(p_lesion, given, y, groups, stored=low, n_bootstrap=0)
    assert point.threshold == low.threshold and not report["malignancy"]["refitted"]
    move = report["malignancy"]["move"]
    assert move["move"] == "raise" and not move["failing"]["sensitivity_ok"]
    assert move["patients_needed"]["sensitivity"] == patients_needed(1 - 0.9)
    # enough malignant patients, every one found above the fitted threshold: raised
    y, p_lesion, given, groups = _separated_site(3 * 40, seed=2)
    point, report = site_points(p_lesion, given, y, groups, stored=low, n_bootstrap=0)
    mal = y == "malignant"
    assert report["malignancy"]["refitted"] and point.threshold > low.threshold
    assert len(np.unique(groups[mal])) >= patients_needed(1 - 0.9)
    assert point.threshold == given[mal].min()  # as far as 40 patients show safe: none of them missed


def test_patients_needed_is_the_clopper_pearson_bound_with_no_miss():
    from featbus.workflows.adaptation import one_sided_bound, patients_needed

    for share in (0.03, 0.05, 0.1):
        n = patients_needed(share)
        assert one_sided_bound(0, n) <= share < one_sided_bound(0, n - 1)
        assert one_sided_bound(0, n) == pytest.approx(1 - 0.05 ** (1 / n))
    assert patients_needed(0.0) is None


def test_the_presence_threshold_never_calls_more_than_the_cap_of_labelled_lesions_normal():
    rng = np.random.default_rng(2)
    y = np.array(["normal"] * 20 + ["benign"] * 50 + ["malignant"] * 30)
    p_lesion = np.where(y == "normal", rng.uniform(0, 0.6, y.size), rng.uniform(0.3, 1, y.size))
    given = np.where(y == "malignant", 0.7, 0.2) + rng.uniform(-0.1, 0.1, y.size)
    lesion = y != "normal"
    for cap in (MAX_LESIONS_NORMAL, 0.1, 0.0):
        point, report = site_points(p_lesion, given, y, stored=STORED, presence_target=0.5,
                                    max_lesions_normal=cap, n_bootstrap=0)
        assert np.mean(p_lesion[lesion] < point.presence.threshold) <= cap
        assert report["max_lesions_normal"] == cap
    # a stored threshold kept for another reason is lowered to the cap too: here 0.9, which calls many lesions normal
    high = OperatingPoint(**{**STORED.__dict__, "presence": OperatingPoint(positive="lesion", threshold=0.9)})
    flat = rng.uniform(0.3, 1, y.size)  # no better than trivial: the stored one would be kept, but it breaks the cap
    point, report = site_points(flat, given, y, stored=high, n_bootstrap=0)
    assert np.mean(flat[lesion] < point.presence.threshold) <= MAX_LESIONS_NORMAL
    assert report["presence"]["move"]["move"] == "lower"
    with pytest.raises(ValueError, match=r"max_lesions_normal must be a number in \[0, 1\)"):
        site_points(p_lesion, given, y, stored=STORED, max_lesions_normal=1.0)


# --------------------------------------------------------------------------- the spread from k patients

CARD = {"calibration": {"about": "heads rebuilt without the held-out site", "sites": {
    "A": {"4": {"sensitivity": [0.85, 0.4, 0.95], "specificity": [0.6, 0.2, 0.9]},
          "16": {"sensitivity": [0.88, 0.82, 0.93], "specificity": [0.62, 0.55, 0.7]}},
    "B": {"4": {"sensitivity": [0.9, 0.6, 0.97], "specificity": [0.5, 0.3, 0.8]},
          "16": {"sensitivity": [0.9, 0.85, 0.96], "specificity": [0.55, 0.5, 0.66]}}}}}


def test_the_spread_to_expect_from_k_patients_and_its_warning():
    few = calibration_spread(CARD, 8)  # read at the largest k measured that is at most 8
    assert few["k"] == 4 and few["n_labelled"] == 8 and few["wide"] and few["narrow_from"] == 16
    assert few["width"] == pytest.approx(0.7) and few["width"] > WIDE_SPREAD
    lines = spread_lines(few)
    assert lines[0].startswith("the spread to expect from 8 labelled patients")
    assert lines[0].endswith("; heads rebuilt without the held-out site):")  # what was measured, on the same line
    assert "  A: sensitivity 0.85 [0.40, 0.95], specificity 0.60 [0.20, 0.90]" in lines
    assert lines[-1].startswith("warning: with 8 patients the thresholds swing with the draw (a 5-95 % band 0.70 wide)")
    assert "it narrows under 0.2 from 16 patients" in lines[-1]
    many = calibration_spread(CARD, 20)
    assert many["k"] == 16 and not many["wide"] and not spread_lines(many)[-1].startswith("warning")
    assert calibration_spread(CARD, 1)["k"] == 4  # below the fewest measured: the fewest, said
    assert "(the fewest it measured)" in spread_lines(calibration_spread(CARD, 1))[0]
    assert calibration_spread({}, 8) is None and calibration_spread(None, 8) is None
    # a narrow band below k (too few images to refit anything) does not count as narrowing
    early = {"calibration": {"sites": {"A": {"2": CARD["calibration"]["sites"]["A"]["16"],
                                             **CARD["calibration"]["sites"]["A"]}}}}
    assert calibration_spread(early, 8)["narrow_from"] == 16
    # a card with only the older curve under leave_one_site_out (before the guards) has none to quote
    assert calibration_spread({"leave_one_site_out": {"calibration": CARD["calibration"]["sites"]}}, 8) is None


def test_the_card_beside_a_model_file_counts_only_when_it_describes_that_file(tmp_path):
    from featbus.io import file_sha256

    model = tmp_path / "m.featbus"
    model.write_bytes(b"not really a model")
    (tmp_path / "m.json").write_text(json.dumps({**CARD, "sha256": file_sha256(model)}))
    assert model_card(model)["calibration"] == CARD["calibration"]
    (tmp_path / "m.json").write_text(json.dumps({**CARD, "sha256": "0" * 64}))  # another file's card
    assert model_card(model) is None and model_card(tmp_path / "none.featbus") is None and model_card(None) is None


# --------------------------------------------------------------------------- alignment

def _reference(seed=0, n=1000, share=0.3):
    rng = np.random.default_rng(seed)
    y = np.where(rng.uniform(size=n) < share, "malignant", "benign")
    q = np.where(y == "malignant", rng.beta(5, 2, n), rng.beta(2, 5, n))
    return ScoreReference.from_scores(q, y, positive="malignant", absent="normal"), q, y


def test_alignment_maps_a_shifted_score_distribution_back():
    ref, train, _ = _reference()
    t = 0.5
    for shift in (lambda q: q ** 3, lambda q: q ** 0.3):  # scores pushed down, then up, ranking kept
        site = shift(_reference(seed=1)[1])
        al = ScoreAlignment.fit(site, ref)
        back = al.map(site)
        # the distribution of the aligned scores is the training one, to the quantile grid and the sampling (0.05)
        assert np.abs(np.quantile(back, LEVELS[10:-10]) - np.quantile(train, LEVELS[10:-10])).max() < 0.05
        assert abs(np.mean(back >= t) - np.mean(train >= t)) < 0.05
        assert abs(np.mean(site >= t) - np.mean(train >= t)) > 0.15  # the shift was there
        order = np.argsort(site)
        assert np.all(np.diff(back[order]) >= 0)  # monotone: the ranking (AUC) is kept
    assert al.n_images == 1000 and al.share_from == "training" and al.positive_share == ref.positive_share


def test_apply_moves_only_the_decision_score_and_rows_still_sum_to_one():
    ref, _, _ = _reference()
    al = ScoreAlignment.fit(_reference(seed=1)[1] ** 3, ref)
    P = np.array([[0.3, 0.1, 0.6], [0.05, 0.05, 0.9], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    A = al.apply(P, CLASSES)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(A[:, 2], P[:, 2])  # p(normal), so p(lesion), kept
    q_before, q_after = lesion_and_given(P, CLASSES)[1], lesion_and_given(A, CLASSES)[1]
    np.testing.assert_allclose(q_after[:2], al.map(q_before[:2]), atol=1e-12)
    with pytest.raises(ValueError, match="'malignant' is not one of the model's"):
        al.apply(P[:, :1], ["benign"])


def test_too_few_images_are_refused_and_few_are_warned_of():
    ref, _, _ = _reference()
    site = _reference(seed=1)[1]
    with pytest.raises(ValueError, match=f"needs at least {MIN_ALIGN_IMAGES} of its images called a lesion, got 29"):
        ScoreAlignment.fit(site[:29], ref)
    few = ScoreAlignment.fit(site[:MIN_ALIGN_IMAGES], ref)
    assert any(f"fewer than {FEW_ALIGN_IMAGES}" in a for a in few.assumptions())
    assert not any(f"fewer than {FEW_ALIGN_IMAGES}" in a for a in ScoreAlignment.fit(site, ref).assumptions())


def _calibrated(seed, n=2000, share=0.3):
    """Posteriors of a model fitted at a malignant share of 0.3 (class scores N(+-1, 1)), of images
    with the given share: what the EM assumes (a change of share, no shift)."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.uniform(size=n) < share, "malignant", "benign")
    x = np.where(y == "malignant", rng.normal(1, 1, n), rng.normal(-1, 1, n))
    return 0.3 * np.exp(2 * x) / (0.3 * np.exp(2 * x) + 0.7), y


def test_the_assumed_share_the_em_estimate_and_the_records():
    q, y = _calibrated(0)
    ref = ScoreReference.from_scores(q, y, positive="malignant", absent="normal")
    site = _calibrated(1, share=0.6)[0]  # more malignant lesions, no score shift
    em = em_positive_share(site, ref.positive_share)
    assert abs(em - 0.6) < 0.05  # the EM (no shift: its assumption holds) sees the larger share
    given = ScoreAlignment.fit(site, ref, positive_share=0.6)
    estimated = ScoreAlignment.fit(site, ref, estimate_share=True)
    trained = ScoreAlignment.fit(site, ref)
    assert given.share_from == "given" and estimated.share_from == "estimated" and trained.share_from == "training"
    assert estimated.positive_share == pytest.approx(em)
    # assuming the training share at a site with more malignant lesions aligns them too low: fewer called malignant
    assert np.mean(trained.map(site) >= 0.5) < np.mean(given.map(site) >= 0.5)
    assert f"share of {ref.positive_share:.2f} (the training images' own share" in trained.assumptions()[0]
    for al in (given, estimated, trained):
        assert ScoreAlignment.from_record(json.loads(json.dumps(al.to_record()))) == al
    assert ScoreReference.from_record(json.loads(json.dumps(ref.to_record()))) == ref
    with pytest.raises(ValueError, match="positive_share must be a number in"):
        ScoreAlignment.fit(site, ref, positive_share=1.5)
    with pytest.raises(ValueError, match="not both"):
        ScoreAlignment.fit(site, ref, positive_share=0.5, estimate_share=True)
    with pytest.raises(ValueError, match="featbus reads method 'quantile'"):
        ScoreAlignment.from_record({**trained.to_record(), "levels": 11})


# --------------------------------------------------------------------------- the model file, predict, the command

@pytest.fixture(scope="module")
def phantom_two(tmp_path_factory):
    """A phantom model with a two-decision point and a reference of its 'training scores', saved."""
    from featbus.workflows.training import train_model

    model = train_model(make_phantoms(40, image_size=48, random_state=0), "intensity,lbp", classifier="svm",
                        cross_validate=False, progress=False)
    model.manifest["operating_point"] = STORED.to_record()
    ref, _, _ = _reference()
    model.manifest["score_reference"] = ref.to_record()
    path = tmp_path_factory.mktemp("align") / "two.featbus"
    model.save(path)
    site = make_phantoms(90, image_size=48, weights=[0.5, 0.5, 0.0], random_state=3)
    return model, path, site


def test_an_unlabelled_site_aligns_a_two_decision_model_and_predict_applies_it(phantom_two, tmp_path):
    model, path, site = phantom_two
    adapted = adapt(model, site.images)
    record = adapted.manifest["adaptation"]
    al = ScoreAlignment.from_record(adapted.manifest["score_alignment"])
    raw = model.predict_proba(site.images)
    p_lesion, q = lesion_and_given(raw, CLASSES)
    called = p_lesion >= STORED.presence.threshold
    assert al.n_images == record["alignment"]["n_images"] == int(called.sum())
    assert record["method"] == "none" and record["changed"] == [] and not record["labelled"]
    assert adapted.manifest["operating_point"] == STORED.to_record()  # the point kept; the scores moved onto it
    aligned = adapted.predict_proba(site.images)
    np.testing.assert_allclose(aligned, al.apply(raw, CLASSES))
    assert np.mean(lesion_and_given(aligned, CLASSES)[1][called] >= STORED.threshold) == pytest.approx(
        record["alignment"]["called_positive_after"])
    np.testing.assert_array_equal(adapted.predict(site.images), STORED.decide(aligned, CLASSES))
    assert "score_alignment" not in model.manifest  # the input model is untouched
    note = [x for x in adapted.manifest["notes"] if x.startswith("scores aligned to ")]  # featbus inspect prints it
    assert note == [f"scores aligned to {al.n_images} images of the adaptation site (featbus adapt without labels): "
                    "p(malignant | lesion) mapped onto the training scores' distribution, assuming a share of "
                    f"malignant lesions of {al.positive_share:.2f} (training)"]
    # the file round-trips it, and predict_table reads the aligned probabilities too
    out = tmp_path / "aligned.featbus"
    adapted.save(out)
    back = load_model(out)
    assert back.manifest["score_alignment"] == adapted.manifest["score_alignment"]
    np.testing.assert_allclose(back.predict_proba(site.images), aligned, atol=1e-12)
    table = back.predict_table(site.images)
    np.testing.assert_allclose(table[[f"p_{c}" for c in CLASSES]].to_numpy(), aligned, atol=1e-12)
    assert score_reference(back) == ScoreReference.from_record(model.manifest["score_reference"])
    # validate judges the decisions predict makes: the aligned probabilities
    from featbus import validate

    assert np.allclose(validate(back, site, n_bootstrap=0).proba, aligned, atol=1e-12)
    # labelled afterwards: the thresholds are chosen on the aligned scores, the alignment kept
    y = site.target_names[site.target]
    relabelled = adapt(back, site.images, labels=y, n_bootstrap=0)
    assert relabelled.manifest["score_alignment"] == adapted.manifest["score_alignment"]


def test_alignment_refuses_too_few_images_and_a_model_without_reference(phantom_two):
    model, _, site = phantom_two
    with pytest.raises(ValueError, match=f"at least {MIN_ALIGN_IMAGES} of its images called a lesion"):
        adapt(model, site.images[:20])
    bare = adapt(model, site.images, labels=site.target_names[site.target], n_bootstrap=0)
    bare.manifest.pop("score_reference")
    with pytest.raises(ValueError, match="featbus adapt --labels.*reference of its training scores"):
        adapt(bare, site.images)
    # with labels, a two-decision model aligns first too (align=False: not at all)
    y = site.target_names[site.target]
    assert "alignment" in adapt(model, site.images, labels=y, n_bootstrap=0).manifest["adaptation"]
    assert "alignment" not in adapt(model, site.images, labels=y, align=False, n_bootstrap=0).manifest["adaptation"]


def test_the_command_prints_the_alignment_and_its_assumptions(phantom_two, tmp_path, capsys):
    from PIL import Image

    model, path, site = phantom_two
    folder = tmp_path / "site"
    folder.mkdir()
    for k, image in enumerate(site.images):
        Image.fromarray(image).save(folder / f"{k}.png")
    out = tmp_path / "aligned.featbus"
    assert main(["adapt", str(path), str(folder), "-o", str(out), "--positive-share", "0.5", "-q"]) == 0
    printed = capsys.readouterr().out
    record = load_model(out).manifest
    info = record["adaptation"]["alignment"]
    assert "mapped onto the training scores' distribution (quantile alignment; predict applies it)" in printed
    assert (f"called malignant at the stored threshold 0.2: {info['called_positive_before']:.2f} of them as they "
            f"were -> {info['called_positive_after']:.2f} aligned") in printed
    assert "    assumes: the site's lesions are malignant in a share of 0.50 (given for this site)" in printed
    assert record["score_alignment"]["share_from"] == "given"
    # bad settings and too few images: one line, no file
    for argv, message in ((["--positive-share", "2"], "--positive-share must be a number in (0, 1) or 'estimate'"),
                          (["--max-lesions-normal", "0.1"], "--max-lesions-normal caps the presence threshold"),
                          (["--no-align", "--positive-share", "0.4"], "--positive-share is an assumption")):
        assert main(["adapt", str(path), str(folder), "-o", str(tmp_path / "x.featbus"), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(_message_lines(err)) == 1
    few = tmp_path / "few"
    few.mkdir()
    for k, image in enumerate(site.images[:15]):
        Image.fromarray(image).save(few / f"{k}.png")
    assert main(["adapt", str(path), str(few), "-o", str(tmp_path / "x.featbus")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"at least {MIN_ALIGN_IMAGES} of its images called a lesion" in err and len(_message_lines(err)) == 1
    assert not (tmp_path / "x.featbus").exists()


def test_training_stores_the_reference_of_its_out_of_fold_scores():
    from featbus.workflows.training import train_model

    data = make_phantoms(60, image_size=48, random_state=0)
    model = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False,
                        operating_point="sensitivity=0.9")
    ref = ScoreReference.from_record(model.manifest["score_reference"])
    y = data.target_names[data.target]
    assert ref.absent is None and ref.positive == "malignant" and ref.score == "p(malignant)"
    assert ref.n_positive == int(np.sum(y == "malignant")) and ref.n_positive + ref.n_other == y.size
    assert "out-of-fold probabilities" in ref.source
    assert score_reference(model) == ref


def _site_alignment_bench():
    from conftest import REPO, repo_script

    return REPO, repo_script("benchmarks/site_alignment.py")


def test_the_benchmark_s_calibration_is_what_adapt_labels_fits_judged_on_the_other_patients():
    """benchmarks/site_alignment.py's calibration curve: each draw's point is site_points' (what
    ``adapt --labels`` calls), judged on the patients not drawn; replayed here draw by draw."""
    _, bench = _site_alignment_bench()
    rng = np.random.default_rng(3)
    n_patients = 30
    groups = np.repeat(np.arange(n_patients), 2).astype(str)
    y = np.repeat(rng.choice(["normal", "benign", "malignant"], n_patients, p=[0.3, 0.45, 0.25]), 2)
    p_lesion = np.clip(np.where(y == "normal", 0.55, 0.8) + rng.normal(0, 0.15, y.size), 0.01, 0.99)
    given = np.clip(np.where(y == "malignant", 0.5, 0.25) + rng.normal(0, 0.15, y.size), 0.01, 0.99)
    proba = np.column_stack([p_lesion * (1 - given), p_lesion * given, 1 - p_lesion])  # benign, malignant, normal
    curve = bench.calibration(STORED, proba, CLASSES, y, groups, draws=5, ks=(4, 8), n_bootstrap=0, seed=0)
    replay = np.random.default_rng(0)
    for k in (4, 8):
        got, kept = [], []
        for _ in range(5):
            lab = np.isin(groups, replay.choice(np.unique(groups), size=k, replace=False))
            point, report = site_points(p_lesion[lab], given[lab], y[lab], groups[lab], stored=STORED, n_bootstrap=0)
            called = np.asarray(point.decide(proba[~lab], CLASSES), dtype=str)
            yy = y[~lab]
            mal, ben, nor = yy == "malignant", yy == "benign", yy == "normal"
            assert nor.sum() >= 10  # so that normal scans called normal is measured in every draw
            got.append([np.mean(called[mal] == "malignant"), np.mean(called[ben] != "malignant"),
                        np.mean(called[~nor] == "normal"), np.mean(called[nor] == "normal")])
            kept.append(not report["presence"]["refitted"])
        got = np.asarray(got)
        cells = curve[str(k)]
        for j, name in enumerate(("sensitivity", "specificity", "lesions_called_normal", "normal_called_normal")):
            # same numbers through the same arithmetic: equal within float round-off
            np.testing.assert_allclose(cells[name], [np.median(got[:, j]), np.percentile(got[:, j], 5),
                                                     np.percentile(got[:, j], 95)], rtol=0, atol=1e-12)
        assert cells["kept_stored"]["presence"]["share"] == pytest.approx(np.mean(kept), abs=1e-12)
        assert sum(cells["kept_stored"]["presence"]["why"].values()) == pytest.approx(np.mean(kept), abs=1e-12)


def test_the_docs_table_is_the_benchmark_json():
    root, bench = _site_alignment_bench()
    results = json.loads((root / "benchmarks" / "results" / "site_alignment.json").read_text())
    assert (root / "docs" / "guide" / "site_alignment_table.rst").read_text() == bench.render_table(results)
    assert (root / "docs" / "guide" / "site_calibration_table.rst").read_text() == bench.render_calibration_table(
        results)
    for r in results["sites"].values():  # the calibration curve: every k, every figure, said how it was made
        assert sorted(r["calibration"], key=int) == [str(k) for k in results["settings"]["ks"]] == ["2", "4", "8", "16"]
        assert {"sensitivity", "specificity", "lesions_called_normal", "kept_stored"} <= set(r["calibration"]["8"])
    assert "site_points" in results["settings"]["calibration"]  # and what was rebuilt without the held-out site:
    assert bench.protocol(results) in results["settings"]["calibration"] and "rebuilt" in bench.protocol(results)
    assert results["shipped"]["reproduced"]  # the card's reference describes the shipped file's own scores
    card = json.loads((root / "featbus" / "networks" / "weights" / "breast_us_classifier.json").read_text())
    assert ScoreReference.from_record(card["score_reference"]).n_positive + ScoreReference.from_record(
        card["score_reference"]).n_other == card["operating_point"]["n_images"]


# --------------------------------------------------------------------------- the shipped classifier, real data

@pytest.mark.slow  # runs the shipped segmenter and backbone on 10 images (about a minute on 2 cores)
def test_the_shipped_classifier_keeps_its_stored_point_when_a_calibration_would_make_it_trivial(tmp_path, capsys):
    """Ten BrEaST-Lesions-USG patients (4 benign, 6 malignant) on whom the threshold for
    sensitivity 0.9 is the lowest malignant score, which calls every labelled lesion malignant
    (found by drawing 10 patients until a draw did: it happens in a few percent of draws)."""
    from conftest import DATA

    site = DATA / "breast-lesions-usg"
    if not site.is_dir():
        pytest.skip(f"BrEaST-Lesions-USG not found at {site}")
    from featbus import load_data

    d = load_data(site)
    groups = np.asarray(d.groups).astype(str)
    y = np.asarray(d.target_names)[d.target]
    paths = getattr(d, "paths", None) or [r.path for r in d.data]
    pick = np.flatnonzero(np.isin(groups, ["1", "10", "104", "126", "189", "192", "204", "219", "247", "251"]))
    calib = tmp_path / "calib.csv"
    calib.write_text("image,label,group\n" + "".join(f"{paths[i]},{y[i]},p{groups[i]}\n" for i in pick))
    out = tmp_path / "x.featbus"
    assert main(["adapt", "breast-us", str(calib), "--labels", "-o", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    from featbus.model.format import model_file, read_manifest
    from featbus.model.provenance import stored_operating_point

    # as the shipped file is read: with the parts that saw its figures' images, which a kept point keeps
    stored = stored_operating_point(read_manifest(model_file("breast-us")))
    adapted = read_manifest(out)
    assert OperatingPoint.from_record(adapted["operating_point"]) == stored  # both thresholds kept
    assert "all seen in training by the segmenter breast-us and the backbone breast-us, so optimistic" in printed
    assert ", kept: no better than always answering one class on the labelled images\n" in printed
    # the move not adopted is not said as made ("lowered to 0.0902" beside "0.177 -> adapted 0.177 (kept...)")
    assert "lowered to" not in printed and "-> adapted 0.177" not in printed
    assert "not adopted: no better than always answering one class there" in printed
    assert "sensitivity 1.00, specificity 0.00) is no better than always answering one class there" in printed
    assert "the spread to expect from 10 labelled groups (the model card's calibration curve at k = 8" in printed
    assert "warning: with 10 groups the thresholds swing with the draw" in printed
