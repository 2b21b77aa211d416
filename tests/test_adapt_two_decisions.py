"""Site calibration of a two-decision model: both thresholds refitted on a few labelled patients.

:func:`featbus.workflows.adaptation.site_points` on constructed scores (the rule, the thresholds kept with
too few images, the warnings, groups against images, the intervals), then :func:`featbus.adapt`
and ``featbus adapt --labels`` on a phantom model whose stored point is given two decisions by
hand (thresholds only: any model with a "normal" class can carry one), and, slow, the shipped
breast-us two-decision recipe adapted to 8 BUS-BRA patients.

Tolerances: thresholds and counts are exact (they are scores and integers, no arithmetic in
between); intervals are compared with ``pytest.approx`` defaults (1e-6 relative) where they are
recomputed from the same formula, and only by containment where they come from a bootstrap.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile

import numpy as np
import pytest
from conftest import BUSI, stderr_lines

from featbus import adapt, make_phantoms
from featbus.cli import main
from featbus.metrics import (
    OperatingPoint,
    clopper_pearson,
    lesion_and_given,
    share_interval,
    threshold_for_sensitivity,
    threshold_text,
)
from featbus.model import load_model
from featbus.workflows.adaptation import (
    FEW_GROUPS,
    MAX_LESIONS_NORMAL,
    MIN_BOOTSTRAP_GROUPS,
    MIN_LESION_IMAGES,
    MIN_MALIGNANT_IMAGES,
    PRESENCE_TARGET,
    site_points,
)

CLASSES = ["benign", "malignant", "normal"]
STORED = OperatingPoint(positive="malignant", threshold=0.2, target_sensitivity=0.9, chosen_on="training",
                        absent="normal", presence=OperatingPoint(positive="lesion", threshold=0.4,
                                                                 chosen_on="the segmenter's own rule"))
#: A stored point above what the labelled images choose: every refit lowers a threshold, which the safe-move
#: rule always allows (a lower threshold calls fewer lesions normal and finds more cancers).
HIGH = dataclasses.replace(STORED, threshold=0.99, presence=dataclasses.replace(STORED.presence, threshold=0.9999))


def _scores(n_normal=12, n_benign=20, n_malignant=14, seed=0, per_patient=1):
    """Labels, p(lesion), p(malignant | lesion) and patients (``per_patient`` images each) of a site."""
    rng = np.random.default_rng(seed)
    y = np.array(["normal"] * n_normal + ["benign"] * n_benign + ["malignant"] * n_malignant)
    p_lesion = np.where(y == "normal", rng.uniform(0.3, 0.95, y.size), rng.uniform(0.7, 1.0, y.size))
    given = np.where(y == "malignant", rng.uniform(0.3, 0.9, y.size), rng.uniform(0.0, 0.5, y.size))
    return y, p_lesion, given, np.arange(y.size) // per_patient


# --------------------------------------------------------------------------- the rule, on known scores

def test_both_thresholds_follow_the_one_rule_and_agree_with_choose_two():
    y, p_lesion, given, groups = _scores()
    point, report = site_points(p_lesion, given, y, groups, stored=HIGH, site="site A", n_bootstrap=0)
    lesion, mal = y != "normal", y == "malignant"
    assert point.presence.threshold == threshold_for_sensitivity(p_lesion, lesion, PRESENCE_TARGET)
    assert point.threshold == threshold_for_sensitivity(given[lesion], mal[lesion], 0.9)  # the stored target
    assert point.target_sensitivity == 0.9 and point.presence.target_sensitivity == PRESENCE_TARGET
    # the same thresholds as choose_two on the probabilities the scores come from
    P = np.column_stack([p_lesion * (1 - given), p_lesion * given, 1 - p_lesion])
    pl, q = lesion_and_given(P, CLASSES)
    two = OperatingPoint.choose_two(y, P, classes=CLASSES, absent="normal", target=0.9,
                                    presence_target=PRESENCE_TARGET)
    again, _ = site_points(pl, q, y, groups, stored=HIGH, n_bootstrap=0)
    assert (again.presence.threshold, again.threshold) == (two.presence.threshold, two.threshold)
    assert (again.sensitivity, again.specificity) == (two.sensitivity, two.specificity)
    assert (again.presence.sensitivity, again.presence.specificity) == (two.presence.sensitivity,
                                                                      two.presence.specificity)
    # the figures are the decisions' own counts
    called_lesion = p_lesion >= point.presence.threshold
    called_mal = given >= point.threshold
    figs = report["presence"]["figures"]
    assert figs["lesions_called_lesion"]["count"] == int(called_lesion[lesion].sum())
    assert figs["normals_called_normal"]["count"] == int((~called_lesion[~lesion]).sum())
    assert figs["normals_called_normal"]["value"] == pytest.approx(point.presence.specificity)
    m = report["malignancy"]["figures"]
    assert m["malignant_sensitivity"]["count"] == int(called_mal[mal].sum())
    assert m["benign_specificity"]["count"] == int((~called_mal[y == "benign"]).sum())
    assert m["malignant_called_malignant"]["count"] == int((called_lesion & called_mal)[mal].sum())
    # what a new image like these may expect from a threshold chosen on them: m / (n + 1)
    f = figs["lesions_called_lesion"]
    assert f["expected_new"] == f["count"] / (f["n_images"] + 1) < f["value"]
    # the decisions the stored record makes are the rule's: an image on each side of each threshold
    P_test = np.array([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    assert point.decide(P_test, CLASSES).tolist() == ["normal", "malignant"]
    # a target given replaces the stored one; the presence target too
    other, rep = site_points(p_lesion, given, y, groups, stored=HIGH, target=0.5, presence_target=0.8,
                             max_lesions_normal=0.2, n_bootstrap=0)
    assert other.threshold == threshold_for_sensitivity(given[lesion], mal[lesion], 0.5)
    assert other.presence.threshold == threshold_for_sensitivity(p_lesion, lesion, 0.8)
    assert rep["malignancy"]["target"] == 0.5 and rep["presence"]["target"] == 0.8
    # the cap holds whatever the target: at most max_lesions_normal of the lesions called normal
    capped, rep = site_points(p_lesion, given, y, groups, stored=HIGH, presence_target=0.8, n_bootstrap=0)
    assert capped.presence.threshold == threshold_for_sensitivity(p_lesion, lesion, 1 - MAX_LESIONS_NORMAL)
    assert np.mean(p_lesion[lesion] < capped.presence.threshold) <= MAX_LESIONS_NORMAL
    assert rep["presence"]["target"] == 1 - MAX_LESIONS_NORMAL and rep["max_lesions_normal"] == MAX_LESIONS_NORMAL


def test_a_raise_on_few_patients_is_refused_and_without_normal_images_not_proposed_and_a_lowering_is_not():
    """Lesion images choose the presence threshold; a raise calls more lesions normal, so on 46
    patients it is refused (the safe-move rule); without a labelled normal scan it is not even
    proposed (what it would gain cannot be seen); a lowering keeps more of the site's lesions and is
    always allowed."""
    y, p_lesion, given, groups = _scores()
    point, report = site_points(p_lesion, given, y, groups, stored=STORED, n_bootstrap=0)
    assert threshold_for_sensitivity(p_lesion, y != "normal", PRESENCE_TARGET) > STORED.presence.threshold
    assert point.presence == STORED.presence  # the rule would raise it: not shown safe, kept
    assert report["presence"]["move"]["move"] == "raise" and report["presence"]["move"]["failing"] is not None
    keep = y != "normal"
    lesions_only, report = site_points(p_lesion[keep], given[keep], y[keep], groups[keep], stored=STORED,
                                       n_bootstrap=0)
    assert lesions_only.presence == STORED.presence
    assert report["presence"]["figures"]["normals_called_normal"]["value"] is None
    # without a labelled normal scan no raise is even proposed (it was: "would raise 0.4 -> 0.997")
    assert report["presence"]["kept_because"] == "no normal scan labelled: a raise needs one to show what it gains"
    assert "move" not in report["presence"]
    assert not any("would raise the presence threshold" in w for w in report["warnings"])
    low = site_points(p_lesion[keep] * 0.3, given[keep], y[keep], groups[keep], stored=STORED, n_bootstrap=0)[0]
    assert low.presence.threshold < STORED.presence.threshold  # lowered to keep 0.97 of the lesions
    assert low.presence.threshold == threshold_for_sensitivity(p_lesion[keep] * 0.3, np.ones(keep.sum(), bool),
                                                               PRESENCE_TARGET)


def test_too_few_images_keep_the_stored_thresholds_and_say_so():
    y = np.array(["normal"] * 5 + ["benign", "malignant"])
    p_lesion = np.array([0.1, 0.2, 0.3, 0.9, 0.95, 0.8, 0.97])
    given = np.array([0, 0, 0, 0, 0, 0.3, 0.6])
    point, report = site_points(p_lesion, given, y, stored=STORED, n_bootstrap=0)
    assert MIN_LESION_IMAGES > 2 and MIN_MALIGNANT_IMAGES > 1
    assert point.presence == STORED.presence and point.threshold == STORED.threshold
    assert point.chosen_on == "training"  # the stored point, where it came from, as it was
    assert not report["presence"]["refitted"] and not report["malignancy"]["refitted"]
    assert report["presence"]["target"] is None
    assert report["optimistic"].startswith("no threshold was refitted (too few lesion images (fewer than 3); too few "
                                           "malignant images (fewer than 3)): every figure here measures the stored "
                                           "thresholds")
    assert report["presence"]["kept_because"] == "too few lesion images (fewer than 3)"
    warnings = report["warnings"]
    assert f"only 7 images labelled (fewer than {FEW_GROUPS}): both thresholds move with every image added or " \
           "left out" in warnings
    assert "only 2 lesion images labelled (fewer than 3): the model's stored presence threshold (0.4) is kept" \
        in warnings
    assert "only 1 malignant images labelled (fewer than 3): the model's stored malignancy threshold (0.2) is kept" \
        in warnings
    assert "only 1 malignant images labelled (fewer than 5 images): the share of malignant images called " \
           "malignant (1 of 1) rests on them alone" in warnings
    # the figures are still measured, at the kept thresholds, and none says it was chosen here
    f = report["presence"]["figures"]["normals_called_normal"]
    assert (f["count"], f["n_images"]) == (3, 5) and "expected_new" not in f
    assert all("\n" not in w for w in warnings)


def test_groups_are_patients_and_without_them_images():
    y, p_lesion, given, _ = _scores(per_patient=1)
    pairs = np.arange(y.size) // 2  # two views of each patient
    by_patient, rep_p = site_points(p_lesion, given, y, pairs, stored=HIGH, site="site A", n_bootstrap=0)
    by_image, rep_i = site_points(p_lesion, given, y, stored=HIGH, site="site A", n_bootstrap=0)
    assert (by_patient.presence.threshold, by_patient.threshold) == (by_image.presence.threshold, by_image.threshold)
    assert by_patient.presence.chosen_on == f"{y.size} labelled images of {y.size // 2} patients of site A"
    assert by_image.presence.chosen_on == f"{y.size} labelled images of site A"
    assert "patients" not in json.dumps(rep_i).replace("other patients of the site", "")
    assert rep_p["unit"] == "patients" and rep_i["unit"] == "images"
    assert "over patients" in rep_p["intervals"] and "over images" in rep_i["intervals"]
    # Clopper-Pearson with as many trials as patients: wider than the images would pretend
    fp = rep_p["presence"]["figures"]["normals_called_normal"]
    fi = rep_i["presence"]["figures"]["normals_called_normal"]
    assert fp["method"] == "Clopper-Pearson over 6 patients" and fi["method"] == "Clopper-Pearson over 12 images"
    assert fp["interval"] == pytest.approx(list(clopper_pearson(fp["value"] * 6, 6, confidence=0.95)))
    assert fi["interval"] == pytest.approx(list(clopper_pearson(fi["count"], 12, confidence=0.95)))
    assert fp["interval"][1] - fp["interval"][0] > fi["interval"][1] - fi["interval"][0]
    # a unit named by the caller is the texts' word
    _, rep = site_points(p_lesion, given, y, pairs, stored=HIGH, unit="near-duplicate groups", n_bootstrap=0)
    assert rep["presence"]["figures"]["lesions_called_lesion"]["method"].endswith("near-duplicate groups")


def test_shares_have_exact_intervals_over_patients_that_never_collapse_at_0_or_1():
    y, p_lesion, given, groups = _scores(n_normal=30, n_benign=30, n_malignant=30, seed=1)
    _, report = site_points(p_lesion, given, y, groups, stored=STORED, n_bootstrap=300, random_state=0)
    for side in ("presence", "malignancy"):
        for key, f in {**report[side]["figures"], **report[side]["stored_figures"]}.items():
            assert f["n_groups"] >= MIN_BOOTSTRAP_GROUPS
            lo, hi = f["interval"]
            assert lo <= f["value"] <= hi and hi - lo > 0.05, key  # never a point, at 0 or 1 either
            assert f["method"] == f"Clopper-Pearson over {f['n_groups']} patients", key
            assert f["interval"] == list(share_interval(f["count"], f["n_images"], trials=f["n_groups"]))
        auc = report[side]["auc"]
        assert auc["interval"] is None or auc["interval"][0] <= auc["value"] <= auc["interval"][1]
    # the same seed, the same intervals
    _, again = site_points(p_lesion, given, y, groups, stored=STORED, n_bootstrap=300, random_state=0)
    assert again == report


def test_bad_inputs_are_one_line_errors():
    y, p_lesion, given, groups = _scores()
    one = dataclasses.replace(STORED, presence=None, absent=None)
    for kwargs, message in [
        ({"stored": one}, "stored must be the model's two-decision OperatingPoint"),
        ({"stored": STORED, "target": 1.5}, r"target must be a number in \(0, 1\]"),
        ({"stored": STORED, "n_bootstrap": -1}, "n_bootstrap must be a non-negative integer"),
    ]:
        with pytest.raises(ValueError, match=message) as err:
            site_points(p_lesion, given, y, groups, **kwargs)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="p_lesion has 3 entries for"):
        site_points(p_lesion[:3], given, y, stored=STORED)
    with pytest.raises(ValueError, match=r"p_malignant_given_lesion must hold probabilities in \[0, 1\]"):
        site_points(p_lesion, given + 1, y, stored=STORED)
    with pytest.raises(ValueError, match="no labelled image"):
        site_points([], [], [], stored=STORED)


def test_threshold_text_never_rounds_a_threshold_to_0_or_1():
    assert threshold_text(0.9995441) == "0.9995" and threshold_text(0.2004) == "0.2"
    op = dataclasses.replace(STORED, presence=dataclasses.replace(STORED.presence, threshold=0.9995441))
    assert "p(lesion) < 0.9995," in op.describe() and "p(lesion) < 0.9995;" in op.rule_text()


# --------------------------------------------------------------------------- adapt and the command line

@pytest.fixture(scope="module")
def phantom_two(tmp_path_factory):
    """A phantom model given a two-decision point by hand, and a labelled phantom site on disk."""
    from PIL import Image

    from featbus.workflows.training import train_model

    model = train_model(make_phantoms(40, image_size=48, random_state=0), "intensity,lbp", classifier="svm",
                        cross_validate=False, progress=False)
    model.manifest["operating_point"] = STORED.to_record()
    root = tmp_path_factory.mktemp("two")
    path = root / "two.featbus"
    model.save(path)
    site = make_phantoms(30, image_size=48, random_state=1)
    y = np.asarray(site.target_names)[site.target].astype(str)
    rows = ["image,label,group"]
    for k, (image, label) in enumerate(zip(site.images, y)):
        Image.fromarray(image).save(root / f"{k}.png")
        rows.append(f"{k}.png,{label},p{k // 2}")
    (root / "site.csv").write_text("\n".join(rows) + "\n")
    return model, path, site, y, root


def test_adapt_refits_the_two_thresholds_through_site_points_and_keeps_the_head(phantom_two, tmp_path):
    model, path, site, y, _ = phantom_two
    groups = np.arange(y.size) // 3
    adapted = adapt(model, site.images, labels=y, groups=groups, site="phantoms", n_bootstrap=50)
    P = model.predict_proba(site.images)
    np.testing.assert_array_equal(adapted.predict_proba(site.images), P)  # thresholds only
    p_lesion, given = lesion_and_given(P, CLASSES)
    point, report = site_points(p_lesion, given, y, groups, stored=STORED, site="phantoms", n_bootstrap=50)
    assert adapted.manifest["operating_point"] == point.to_record()  # one path: site_points
    record = adapted.manifest["adaptation"]
    assert record["two_decisions"] == report and record["method"] == "none" and record["changed"] == []
    assert record["calibration"].startswith("kept: a two-decision model has its two thresholds refitted")
    # refitted, or kept with the reason (no better than always answering one class on these images)
    refitted = point.presence.chosen_on == "30 labelled images of 10 patients of phantoms"
    assert refitted is report["presence"]["refitted"]
    if not report["presence"]["refitted"]:  # 10 patients never show a raise safe
        assert report["presence"]["kept_because"].startswith(("a raise not shown safe", "the labelled images choose"))
    assert record["labels"]["n_groups"] == 10 and record["labels"]["unit"] == "patients"
    np.testing.assert_array_equal(adapted.predict(site.images), point.decide(P, CLASSES))
    assert model.manifest["operating_point"] == STORED.to_record()  # the input model is untouched
    # the adapted file reads back the same point and predicts the same
    out = tmp_path / "adapted.featbus"
    adapted.save(out)
    back = load_model(out)
    assert OperatingPoint.from_record(back.manifest["operating_point"]) == point
    assert back.manifest["adaptation"]["two_decisions"] == json.loads(json.dumps(report))
    np.testing.assert_array_equal(back.predict(site.images), adapted.predict(site.images))
    # a Bunch without patients: every image its own, and the texts say images
    bare = adapt(model, site, labels=y, n_bootstrap=0)
    assert bare.manifest["adaptation"]["two_decisions"]["unit"] == "images"
    rep = bare.manifest["adaptation"]["two_decisions"]
    assert rep["site"] == "the adaptation site" and rep["n_groups"] == 30


def test_adapt_a_two_decision_model_needs_labels_and_no_other_method(phantom_two):
    model, _, site, y, _ = phantom_two
    with pytest.raises(ValueError, match=r"refitting its two thresholds on labelled images.*--labels"):
        adapt(model, site.images)
    with pytest.raises(ValueError, match="method='standardise': a two-decision model keeps its features"):
        adapt(model, site.images, labels=y, method="standardise")
    with pytest.raises(ValueError, match="no image has one"):
        adapt(model, site.images, labels=[None] * len(y))
    # a site of one class is enough: what cannot be refitted is kept, and said
    benign = adapt(model, site.images, labels=["benign"] * len(y), n_bootstrap=0)
    report = benign.manifest["adaptation"]["two_decisions"]
    assert not report["malignancy"]["refitted"]
    kept = benign.manifest["operating_point"]["presence"]["threshold"] == STORED.presence.threshold
    assert report["presence"]["refitted"] is not kept  # no normal image: kept, or lowered for the lesions
    assert benign.manifest["operating_point"]["threshold"] == STORED.threshold


def test_command_prints_both_points_the_figures_and_the_notes(phantom_two, tmp_path, capsys):
    _, path, _, _, root = phantom_two
    out = tmp_path / "site.featbus"
    assert main(["adapt", str(path), str(root / "site.csv"), "--labels", "-o", str(out), "--n-bootstrap", "50",
                 "-q"]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    point = OperatingPoint.from_record(manifest["operating_point"])
    report = manifest["adaptation"]["two_decisions"]
    assert "to 30 labelled images of 15 groups from" in printed  # a manifest's group column: "groups"
    assert f"  decisions: {point.describe()}\n" in printed
    how = ("refitted for 0.97 of the lesion images" if report["presence"]["refitted"]
           else f"kept: {report['presence'].get('kept_because')}")
    adopted = threshold_text(point.presence.threshold)
    head = "  is there a lesion? threshold on p(lesion): "
    said = f"{head}stored 0.4 -> adapted {adopted} ({how})" if adopted != "0.4" else f"{head}0.4, {how}"
    assert said in printed
    f = report["presence"]["figures"]["lesions_called_lesion"]
    assert f"{f['count']}/{f['n_images']}" in printed and "normal images called normal" in printed
    assert "benign images not called malignant, given a lesion" in printed
    assert ("note: the refitted thresholds were chosen on these labelled images" in printed) is any(
        report[k]["refitted"] for k in ("presence", "malignancy"))
    for warning in report["warnings"]:  # the safe-move rule's refusals under its decision, the others as warnings
        said = "safe-move rule" if warning.startswith("the labelled images would raise") else "warning"
        assert f"{said}: {warning}\n" in printed
    assert "lesion images called normal" in printed and "malignant images called normal" in printed
    assert "the calibration patients: these figures feed no verdict" in printed
    # without labels: one line, no file
    assert main(["adapt", str(path), str(root / "site.csv"), "-o", str(tmp_path / "x.featbus")]) == 2
    err = capsys.readouterr().err.strip()
    assert "featbus adapt --labels" in err and "reference of its training scores" in err
    assert len(stderr_lines(err)) == 1, err  # one line (no progress lines in the tests: FEATBUS_PROGRESS=0)
    assert not (tmp_path / "x.featbus").exists()


# --------------------------------------------------------------------------- the shipped recipe, real data

@pytest.mark.slow  # trains the breast-us two-decision recipe (about 30 s on 2 cores) and adapts it
def test_the_breast_us_two_decision_model_adapted_to_eight_bus_bra_patients(tmp_path, make_bus_bra_subset, capsys):
    if not BUSI.is_dir():
        pytest.skip(f"BUSI data not found at {BUSI}")
    from sklearn.utils import Bunch

    from featbus import load_data
    from featbus.workflows.training import train_model

    d = load_data(BUSI)
    idx = np.sort(np.random.default_rng(0).choice(len(d.target), 90, replace=False))
    sub = Bunch(data=[d.data[i] for i in idx], target=np.asarray(d.target)[idx], target_names=d.target_names,
                groups=None, DESCR="sub")
    model = train_model(sub, "intensity,shape", classifier="svm", segmenter="breast-us", two_decisions=True,
                        progress=False, n_bootstrap=0)
    path = tmp_path / "two.featbus"
    model.save(path)
    site, n = make_bus_bra_subset(tmp_path / "bus-bra-8", 4, 4)
    out = tmp_path / "site.featbus"
    assert main(["adapt", str(path), str(site), "--labels", "-o", str(out), "--n-bootstrap", "200", "-q"]) == 0
    printed = capsys.readouterr().out
    report = load_model(out).manifest["adaptation"]["two_decisions"]
    assert n == 8 and report["unit"] == "patients" and report["n_groups"] == 8
    assert f"labelled images of 8 patients from {site}" in printed
    # 8 patients show no raise safe: each threshold is kept, with the rule's reason, or lowered
    for name in ("presence", "malignancy"):
        side = report[name]
        assert side["threshold"] <= side["stored_threshold"] if side["refitted"] else side["kept_because"]
    assert report["presence"]["figures"]["normals_called_normal"]["value"] is None
    assert "warning: no normal image labelled" in printed
    assert report["presence"]["figures"]["lesions_called_lesion"]["value"] >= PRESENCE_TARGET


def test_command_takes_unlabelled_images_beside_the_labelled_ones(phantom_two, tmp_path, capsys):
    """``--unlabelled``: more of the site's images, no label read, counted by the record (they align both
    decisions when they can); refused without --labels."""
    _, path, site, _, root = phantom_two
    from PIL import Image

    more = tmp_path / "more"
    more.mkdir()
    for k, image in enumerate(site.images[:12]):
        Image.fromarray(image).save(more / f"u{k}.png")
    out = tmp_path / "with.featbus"
    assert main(["adapt", str(path), str(root / "site.csv"), "--labels", "--unlabelled", str(more), "-o", str(out),
                 "--n-bootstrap", "0", "-q"]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    record = manifest["adaptation"]
    assert "and 12 unlabelled images" in printed
    assert record["n_images"] == 30 + 12 and record["two_decisions"]["n_images"] == 30
    assert "presence" in record["alignment"]  # every image read for the alignment, labels or not
    assert main(["adapt", str(path), str(more), "--unlabelled", str(more), "-o", str(tmp_path / "x.featbus")]) == 2
    assert "--unlabelled adds unlabelled images to labelled ones" in capsys.readouterr().err


def test_a_site_that_moves_nothing_says_so_first_last_and_in_inspect(phantom_two, tmp_path, capsys):
    """Eight benign patients move no threshold of a two-decision model: adapt's first line says what moved
    (nothing: the file is its parent plus a site record) and what would move the rest; its last line
    does not claim an adapted model; inspect does not say "adapted to a site (none)"."""
    _, path, site, y, root = phantom_two
    benign = np.flatnonzero(y == "benign")[:16]
    folder = tmp_path / "site" / "benign"
    folder.mkdir(parents=True)
    from PIL import Image

    for i in benign:
        Image.fromarray(site.images[i]).save(folder / f"b{i}.png")
    out = tmp_path / "site.featbus"
    assert main(["adapt", str(path), str(tmp_path / "site"), "--labels", "-o", str(out), "--n-bootstrap", "0",
                 "-q"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    record = load_model(out).manifest["adaptation"]
    if record["moved"]:  # the phantoms' lesions asked for a lower presence threshold: said as a move
        assert lines[0].startswith("moved: the presence threshold 0.4 -> ") and lines[-1] == f"adapted model -> {out}"
    else:
        assert lines[0].startswith(f"nothing moved: the file is {path.stem} plus a site record; ")
        assert lines[-1] == f"nothing moved: {out} is {path.stem} plus a site record"
    assert "the malignancy threshold stays " in lines[0] and "fewer than 3" in lines[0]
    assert not any("would raise the presence threshold" in line for line in lines)  # no normal scan: no raise
    assert main(["inspect", str(out)]) == 0
    said = capsys.readouterr().out
    assert "adapted to a site: " in said and "(none)" not in said
