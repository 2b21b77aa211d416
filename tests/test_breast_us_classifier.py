"""The shipped ``breast-us`` classifier (issue 61): its file is the recipe it claims, its card
and docs quote the benchmark that measured it, every command takes its name, and each answer
follows the two rules it states.

Tolerances: probabilities of the same images through two loads of the file agree within 1e-4
(the networks re-run in float32); every decision is compared exactly against its rule applied to
the probabilities the same call returned.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import repo_script

from featbus.metrics import OperatingPoint, lesion_and_given
from featbus.model.format import model_file, read_manifest
from featbus.networks.pretrained import get_pretrained

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "breast_us_classifier.json"


def _module(path: Path, name: str):
    return repo_script(str(path.relative_to(ROOT)), name)


@pytest.fixture(scope="module")
def entry():
    return get_pretrained("breast-us", "classifier")


def test_every_spelling_names_the_shipped_file(entry):
    for name in ("breast-us", "breast_us", "Breast-US", "lesion_then_malignancy.breast_us"):
        assert Path(model_file(name)) == entry.path()
    with pytest.raises(FileNotFoundError, match=r"featbus ships no classifier of that name \(did you mean "
                                                r"'breast-us'\?\)"):
        model_file("breast-usg")


def test_the_file_is_the_recipe_with_two_decisions(entry):
    manifest = read_manifest("breast-us")
    assert manifest["recipe"]["name"] == "lesion-then-malignancy"
    assert manifest["recipe"]["features"] == "breast-us" and manifest["recipe"]["classifier"] == "svm"
    point = OperatingPoint.from_record(manifest["operating_point"])
    assert point.two_decisions and point.absent == "normal" and point.positive == "malignant"
    assert point.target_sensitivity == 0.9 and point.presence.threshold == 0.4
    # its own figures are on images every part of it trained on, and it says so
    assert "optimistic" in manifest["cv"]["caveat"] and "trained the segmenter" in " ".join(manifest["notes"])
    assert manifest["segmenter"]["obtained"] == "featbus's shipped segmenter breast-us"
    assert entry.path().stat().st_size < 5e6  # it names the backbone and segmenter, holding no copies


def test_card_data_docs_and_benchmark_agree(entry):
    card = entry.card()
    build = _module(ROOT / "scripts" / "build_breast_us_classifier.py", "build_breast_us_classifier")
    assert (ROOT / "docs" / "guide" / "breast_us_classifier_card.rst").read_text() == build.card_rst(card)
    assert card["operating_point"] == read_manifest("breast-us")["operating_point"]
    # its words are the code's, read from the file (which says beside each figure that trained parts saw them)
    from featbus.model.provenance import stored_operating_point

    assert card["operating_point_text"] == stored_operating_point(read_manifest("breast-us")).describe()
    assert "research, not diagnosis" in card["intended_use"] and "'normal' is learnt from one source" in card["limits"]
    results = json.loads(RESULTS.read_text())
    alignment = json.loads(build.ALIGNMENT.read_text())
    if alignment.get("protocol") == "full":  # (a) from the rebuild that (b) and (c) come from: one value per figure
        assert card["leave_one_site_out"]["before"] == {s: r["rows"]["stored points"]
                                                        for s, r in alignment["sites"].items()}
    else:
        assert card["leave_one_site_out"]["before"] == results["before"]["lesion-then-malignancy"]
    bench = _module(ROOT / "benchmarks" / "breast_us_classifier.py", "breast_us_classifier_bench")
    assert (ROOT / "docs" / "guide" / "breast_us_classifier_table.rst").read_text() == bench.render_table(results)
    assert set(results["before"]["lesion-then-malignancy"]) == {"busi", "bus-bra", "breast-lesions-usg"}


def test_the_card_has_its_four_parts_each_copied_from_the_results_file_it_names(entry):
    """(a) leave one site out at the stored points, (b) after label-free alignment, (c) after k labelled
    patients, (d) normal vs lesion: each equal to what scripts/build_breast_us_classifier.py makes of
    the benchmark's results file it names, and a part on images trained parts saw says so."""
    from featbus.model.describe import CARD_PARTS

    card = entry.card()
    build = _module(ROOT / "scripts" / "build_breast_us_classifier.py", "build_breast_us_classifier")
    full = json.loads(build.ALIGNMENT.read_text()).get("protocol") == "full"
    files = {"leave_one_site_out": build.ALIGNMENT if full else build.LOSO, "after_alignment": build.ALIGNMENT,
             "calibration": build.ALIGNMENT, "presence": build.PRESENCE}
    parts = build.card_part_data(*(json.loads(f.read_text()) for f in (build.LOSO, build.ALIGNMENT, build.PRESENCE)))
    assert list(parts) == list(CARD_PARTS) == list(files)
    for key, part in parts.items():
        assert card[key] == part, f"the card's {key} is not its results file's"
        assert str(files[key].relative_to(ROOT)) in part["source"]
    assert "calibration" not in card["leave_one_site_out"]  # one curve: the command as it is now (c), not the older
    for key in ("after_alignment", "calibration"):  # what was rebuilt; heads-only says the site was seen
        assert ("every trained part (backbone, segmenter, heads) rebuilt without the held-out site" if full
                else "which saw its images") in card[key]["about"]
    assert card["calibration"]["ks"] == [2, 4, 8, 16] and card["calibration"]["draws"] == 200
    alignment = json.loads(build.ALIGNMENT.read_text())
    assert card["calibration"]["sites"] == {s: r["calibration"] for s, r in alignment["sites"].items()}
    assert card["presence"]["auc"] == json.loads(build.PRESENCE.read_text())["cells"]["today/max"]["auc"]


def test_inspect_shows_the_card_and_says_its_own_figures_are_seen(capsys):
    from featbus.cli import main
    from featbus.deploy.app import card_lines
    from featbus.model.describe import card_parts

    assert main(["inspect", "breast-us"]) == 0
    out = capsys.readouterr().out
    assert "featbus's shipped classifier breast-us, version 2.0 (card: docs guide/breast_us_classifier)" in out
    assert "are on images its backbone, segmenter and heads all trained on (seen)" in out
    assert "loads without --trust: its types, yes" in out
    # its operating points' figures are on its training images, which the segmenter and the backbone trained
    # on: its file (from before points recorded it) is read so, and the line says it beside the figures
    assert "seen_by" not in read_manifest("breast-us")["operating_point"]
    point = next(line for line in out.splitlines() if line.startswith("operating point (two decisions): "))
    assert "(measured on 1690 images, all seen in training by the segmenter breast-us, so optimistic: lesion " \
           "images called a lesion 1.00, normal images called normal 0.39)" in point
    assert "its 1575 lesion images (there, on 1575 images, all seen in training by the segmenter breast-us and " \
           "the backbone breast-us, so optimistic: sensitivity 0.90, specificity 0.74)" in point
    # the card's four parts, each on one line in the words the docs card and the app use
    card = get_pretrained("breast-us", "classifier").card()
    parts = card_parts(card)
    assert [head[:3] for head, _ in parts] == ["(a)", "(b)", "(c)", "(d)"]
    printed = [line.strip() for line in out.splitlines()]
    for head, text in parts:
        assert f"{head}: {text}" in printed
    assert "(a) leave one site out, at the stored points (every trained part (backbone, segmenter, heads) rebuilt " \
           "without the held-out site" in out
    full = card["calibration"].get("normal_note") is None
    for line in printed:  # each part says what was rebuilt on its line; a heads-only one, that the site was seen
        if line.startswith(("(a)", "(b)", "(c)") if full else ("(b)", "(c)")):
            assert ("every trained part (backbone, segmenter, heads) rebuilt without the held-out site" if full
                    else "the backbone and the segmenter are the shipped ones, which saw its images") in line
    k8 = card["calibration"]["sites"]["busi"]["8"]["sensitivity"]
    calibrated = next(line for line in printed if line.startswith("(c)"))
    nn = card["calibration"]["sites"]["busi"]["8"]["normal_called_normal"]
    assert f"busi normal scans called normal {nn[0]:.2f} [{nn[1]:.2f}, {nn[2]:.2f}]" + (
        "" if full else " (scans the shipped segmenter trained on)") in calibrated
    assert f"malignant sensitivity {k8[0]:.2f} [{k8[1]:.2f}, {k8[2]:.2f}]" in out
    # the app's sidebar quotes the same lines; an adapted copy is not the shipped classifier
    manifest = read_manifest("breast-us")
    assert card_lines(manifest) == [f"{head}: {text}" for head, text in parts]
    assert card_lines({**manifest, "adaptation": {"method": "none"}}) == []


@pytest.mark.slow  # imports TensorFlow and runs the segmenter and the backbone
def test_predictions_follow_both_rules_on_the_bundled_sample(tmp_path):
    pytest.importorskip("keras")
    from featbus import load_model, load_sample
    from featbus.cli import main

    sample = load_sample()
    model = load_model("breast-us")
    table = model.predict_table(sample.data[:12])
    point = model.operating_point
    P = table[[f"p_{c}" for c in model.classes_]].to_numpy()
    p_lesion, given = lesion_and_given(P, model.classes_)
    np.testing.assert_allclose(table["p_lesion"], p_lesion, rtol=0, atol=1e-12)
    np.testing.assert_allclose(table["p_malignant_given_lesion"], given, rtol=0, atol=1e-12)
    expected = np.where(p_lesion < point.presence.threshold, "normal",
                        np.where(given >= point.threshold, "malignant", "benign"))
    assert table["predicted"].tolist() == expected.tolist()
    assert set(table["rule"]) == {point.rule_text()}
    again = load_model("breast-us").predict_proba(sample.data[:4])
    np.testing.assert_allclose(again, P[:4], rtol=0, atol=1e-4)
    folder = Path(sample.paths[0]).parent
    out = tmp_path / "p.csv"
    assert main(["predict", "breast-us", str(folder), "-o", str(out)]) == 0
    import pandas as pd

    written = pd.read_csv(out)
    assert {"p_lesion", "p_malignant_given_lesion", "rule", "predicted"} <= set(written.columns)
