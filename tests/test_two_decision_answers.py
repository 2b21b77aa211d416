"""Every answer of a model whose operating point takes two decisions ("is there a lesion?", then
"malignant, given a lesion?") states both rules and both scores: predict_table and featbus
predict (p_lesion, p_malignant_given_lesion, the rule column), decision_rule, inspect
(describe_manifest), validate, the app's caption and the explained-predictions page.

The quick tests put a two-decision point (:meth:`OperatingPoint.choose_two`) in a small phantom
model's manifest: what these answers say depends only on the probabilities and the stored
point, not on how the head made them. One slow test trains the real thing (BUSI, the shipped
breast-us segmenter, ``two_decisions=True``) and skips without the shared data.

Tolerances: ``p_lesion`` and ``p_malignant_given_lesion`` are recomputed from the ``p_<class>``
columns of the same table (float64, written unrounded) to 1e-12; read back from the CLI's
CSV (written with 6 decimals), to 2e-6 (the rounding of two 6-decimal numbers and their ratio
where p_lesion is at least 0.05; rows below it are checked on p_lesion only). A row's decision is
checked against the rule exactly on the table's own numbers, and on the CSV's numbers only away
from a threshold (farther than 1e-5), where rounding cannot cross it.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from featbus import make_phantoms
from featbus.cli import main
from featbus.metrics import OperatingPoint
from featbus.model.describe import describe_manifest
from featbus.model.format import read_manifest
from featbus.workflows.training import train_model

CLASSES = ["benign", "malignant", "normal"]


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(60, image_size=48, random_state=0)


@pytest.fixture(scope="module")
def two_model(phantoms):
    """A phantom model (intensity, logistic regression) deciding by a two-decision point chosen on its
    own training probabilities: presence for lesion sensitivity 0.8, malignancy for sensitivity 0.9."""
    model = train_model(phantoms, "intensity", classifier="logreg", cross_validate=False, progress=False)
    y = np.asarray(phantoms.target_names)[phantoms.target]
    proba = model.predict_proba(phantoms.images)
    point = OperatingPoint.choose_two(y, proba, classes=model.classes_.tolist(), absent="normal", target=0.9,
                                      presence_target=0.8, chosen_on="the 60 training phantoms' lesion images",
                                      presence_chosen_on="the 60 training phantoms")
    model.manifest["operating_point"] = point.to_record()
    return model


def _expected(table: pd.DataFrame, point: OperatingPoint) -> list[str]:
    """Each row's decision by the rule in words, from the table's own columns."""
    out = []
    for _, row in table.iterrows():
        if row["p_lesion"] < point.presence.threshold:
            out.append(point.absent)
        elif row[f"p_{point.positive}_given_lesion"] >= point.threshold:
            out.append(point.positive)
        else:  # the most probable other lesion class
            others = [c for c in CLASSES if c not in (point.absent, point.positive)]
            out.append(max(others, key=lambda c: row[f"p_{c}"]))
    return out


def test_predict_table_adds_both_scores_and_every_row_follows_its_rule(two_model, phantoms, tmp_path):
    point = two_model.operating_point
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    images = [*phantoms.images[:40], str(bad)]
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        table = two_model.predict_table(images, on_error="skip")
    columns = table.columns.tolist()
    assert columns[:8] == ["image", "predicted", "rule", "p_benign", "p_malignant", "p_normal", "p_lesion",
                           "p_malignant_given_lesion"]
    ok = table[table["error"] == ""]
    assert table.loc[table["error"] != "", ["p_lesion", "p_malignant_given_lesion"]].isna().all(axis=None)
    np.testing.assert_allclose(ok["p_lesion"], 1 - ok["p_normal"], atol=1e-12)
    np.testing.assert_allclose(ok["p_malignant_given_lesion"], ok["p_malignant"] / ok["p_lesion"], atol=1e-12)
    assert set(ok["rule"]) == {point.rule_text()}
    assert ok["predicted"].tolist() == _expected(ok, point)
    # the phantoms reach every branch of the rule: no lesion, malignant given a lesion, benign given a lesion
    assert set(ok["predicted"]) == {"normal", "malignant", "benign"}
    # the most probable class: the same two scores, a rule of one line
    most = two_model.predict_table(phantoms.images[:40], decision="most-probable")
    assert most.columns.tolist()[6:8] == ["p_lesion", "p_malignant_given_lesion"]
    assert set(most["rule"]) == {"the most probable class"}
    P = most[[f"p_{c}" for c in CLASSES]].to_numpy()
    assert most["predicted"].tolist() == np.asarray(CLASSES)[P.argmax(axis=1)].tolist()


def test_a_one_decision_model_has_neither_score_and_the_same_rule_words(two_model, phantoms):
    one = copy.deepcopy(two_model)
    one.manifest["operating_point"] = {"positive": "malignant", "threshold": 0.04312}
    assert one.decision_rule() == "malignant when p(malignant) >= 0.04312, else the most probable other class"
    table = one.predict_table(phantoms.images[:3])
    assert not {"p_lesion", "p_malignant_given_lesion"} & set(table.columns)
    one.manifest.pop("operating_point")
    assert one.decision_rule() == "the most probable class"


def test_decision_rule_names_both_thresholds(two_model):
    point = two_model.operating_point
    rule = two_model.decision_rule()
    assert rule == point.rule_text() == (
        f"normal when p(lesion) < {point.presence.threshold:.4g}; otherwise malignant when p(malignant | lesion) >= "
        f"{point.threshold:.4g}, else the most probable other lesion class")
    assert two_model.decision_rule("most-probable") == "the most probable class"


def test_inspect_states_both_points_with_where_each_was_chosen(two_model):
    point = two_model.operating_point
    lines = describe_manifest(two_model.manifest).splitlines()
    first = next(line for line in lines if line.startswith("operating point"))
    assert first == f"operating point (two decisions): {point.describe()}"
    assert (f"normal when p(lesion) < {point.presence.threshold:.3g}, chosen for lesion sensitivity 0.8 on the 60 "
            "training phantoms (there: lesion images called a lesion") in first
    assert (f"; otherwise malignant when p(malignant | lesion) >= {point.threshold:.3g}, chosen for sensitivity 0.9 "
            "on the 60 training phantoms' lesion images (there: sensitivity") in first
    assert lines[lines.index(first) + 1] == f"  rule (predict's 'rule' column): {point.rule_text()}"


def test_a_presence_threshold_set_beforehand_is_said_to_be_set_not_chosen():
    pres = OperatingPoint("lesion", 0.4, sensitivity=0.987, specificity=0.545, n_images=90,
                          chosen_on="the segmenter's own rule")
    point = OperatingPoint("malignant", 0.2005, target_sensitivity=0.9, sensitivity=0.9, specificity=0.42,
                           chosen_on="79 lesion images", absent="normal", presence=pres)
    assert point.describe() == (
        "normal when p(lesion) < 0.4, set by the segmenter's own rule (measured on 90 images: lesion images called a "
        "lesion 0.99, normal images called normal 0.55); otherwise malignant when p(malignant | lesion) >= 0.201, "
        "chosen for sensitivity 0.9 on 79 lesion images (there: sensitivity 0.90, specificity 0.42)")


@pytest.mark.parametrize("damage", [{"presence": {"positive": "lesion", "threshold": 1.5}},
                                    {"absent": "cyst"}, {"absent": "malignant"}, {"presence": "0.4"}])
def test_a_damaged_presence_point_is_refused_in_one_line(two_model, tmp_path, damage, capsys):
    broken = copy.deepcopy(two_model)
    broken.manifest["operating_point"].update(damage)
    path = broken.save(tmp_path / "broken.featbus")
    with pytest.raises(ValueError, match=r"is damaged: its manifest field 'operating_point' should be .*'presence'"):
        read_manifest(path)
    assert main(["inspect", str(path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'operating_point'" in err[0] and "Traceback" not in err[0]


def test_cli_predict_writes_both_scores_and_says_both_rules(two_model, phantoms, tmp_path, capsys):
    path = two_model.save(tmp_path / "two.featbus")
    images = []
    for i in range(12):
        images.append(str(tmp_path / f"case{i}.png"))
        Image.fromarray(phantoms.images[i]).save(images[-1])
    out = tmp_path / "pred.csv"
    assert main(["predict", str(path), *images, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    point = two_model.operating_point
    assert f"decisions: {point.rule_text()} (the 'rule' column" in err
    assert "p_lesion and p_malignant_given_lesion columns are the two scores" in err
    assert f"operating point: {point.describe()}" in err
    table = pd.read_csv(out)
    assert table.columns.tolist()[:8] == ["image", "predicted", "rule", "p_benign", "p_malignant", "p_normal",
                                          "p_lesion", "p_malignant_given_lesion"]
    assert set(table["rule"]) == {point.rule_text()}
    np.testing.assert_allclose(table["p_lesion"], 1 - table["p_normal"], atol=2e-6)
    some = table["p_lesion"] >= 0.05
    np.testing.assert_allclose(table.loc[some, "p_malignant_given_lesion"],
                               table.loc[some, "p_malignant"] / table.loc[some, "p_lesion"], atol=2e-6)
    far = ((table["p_lesion"] - point.presence.threshold).abs() > 1e-5) & (
        (table["p_malignant_given_lesion"] - point.threshold).abs() > 1e-5)
    assert far.sum() >= 10
    assert table.loc[far, "predicted"].tolist() == np.asarray(_expected(table, point))[far.to_numpy()].tolist()
    # the file's decisions are the model's: the CSV says what the model in memory decides
    assert table["predicted"].tolist() == two_model.predict(images).tolist()
    assert main(["predict", str(path), images[0], "--decision", "most-probable"]) == 0
    captured = capsys.readouterr()
    assert f"the file's operating point, not used: {point.rule_text()}" in captured.err
    assert captured.out.splitlines()[0].startswith(
        "image,predicted,rule,p_benign,p_malignant,p_normal,p_lesion,p_malignant_given_lesion")


def test_the_explained_predictions_page_labels_the_two_scores(two_model, phantoms, tmp_path):
    from featbus.evaluation.reporting import predictions_html

    table = two_model.predict_table(phantoms.images[:2]).assign(explanation="")
    page = predictions_html(table, tmp_path / "report.html").read_text()
    assert "<td><i>p(lesion)</i></td>" in page and "<td><i>p(malignant | lesion)</i></td>" in page
    assert "<td>lesion</td>" not in page and "malignant_given_lesion" not in page
    assert "<b>Decided by</b>: normal when p(lesion) &lt; " in page


def test_the_app_caption_says_both_decisions_with_their_scores(two_model, phantoms):
    from featbus.deploy.app import analyse, decision_caption

    point = two_model.operating_point
    table = two_model.predict_table(phantoms.images[:40])
    seen = set()
    for kind, i in ((c, int(np.flatnonzero(table["predicted"] == c)[0])) for c in CLASSES):
        res = analyse(two_model, phantoms.images[i], method="occlusion")
        two = res["two_decisions"]
        assert res["predicted"] == kind
        assert two["p_lesion"] == pytest.approx(table["p_lesion"][i], abs=1e-12)
        assert two["p_given"] == pytest.approx(table["p_malignant_given_lesion"][i], abs=1e-12)
        caption = decision_caption(res)
        assert caption.startswith("Decided by the model's two operating points: is there a lesion? p(lesion) = ")
        assert f"threshold {point.presence.threshold:.4g}" in caption
        if kind == "normal":
            assert "below its threshold" in caption and ": normal (no second decision)." in caption
        else:
            assert f"p(malignant | lesion) = {two['p_given']:.3f}" in caption
            assert f"threshold {point.threshold:.4g}" in caption
            assert caption.endswith(": malignant.") if kind == "malignant" else (
                "not malignant, so the most probable other lesion class, benign." in caption)
        seen.add(kind)
    assert seen == set(CLASSES)


def test_validate_names_both_thresholds_and_measures_the_stored_decisions(two_model):
    from featbus import validate

    other = make_phantoms(40, image_size=48, random_state=3)
    result = validate(two_model, other, n_bootstrap=0)
    point = two_model.operating_point
    summary = result.summary()
    assert f"at the model's own operating point (the file's operating point: {point.rule_text()})" in summary
    assert "p(malignant | lesion) >= " in summary and "(normal when p(lesion) < " in summary
    assert "kept from the file), the threshold the model would need" in summary
    y = np.asarray(result.y_true, dtype=str)  # the judged images
    decided = point.decide(result.proba, result.classes)
    assert result.y_pred.tolist() == decided.tolist()
    is_pos = y == "malignant"
    assert result.figures["sensitivity"] == pytest.approx(np.mean(decided[is_pos] == "malignant"), abs=1e-12)
    assert result.figures["specificity"] == pytest.approx(np.mean(decided[~is_pos] != "malignant"), abs=1e-12)
    # the data-chosen point keeps the stored presence threshold and moves the one on p(malignant | lesion)
    again = OperatingPoint.choose_two(y, result.proba, classes=result.classes, absent="normal", target=0.9,
                                      presence_threshold=point.presence.threshold)
    assert result.threshold == again.threshold
    called = again.decide(result.proba, result.classes) == "malignant"
    assert result.figures["sensitivity_at_threshold"] == pytest.approx(np.mean(called[is_pos]), abs=1e-12)
    assert result.to_dict()["operating_points"]["target"]["rule"].startswith("p(malignant | lesion) >= ")


@pytest.mark.slow  # starts Streamlit's AppTest (about 10 s)
def test_the_page_shows_both_decisions_under_the_answer(two_model, phantoms, tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    import featbus.deploy.app

    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))
    path = two_model.save(tmp_path / "two.featbus")
    image = tmp_path / "case.png"
    Image.fromarray(phantoms.images[0]).save(image)
    monkeypatch.setenv("FEATBUS_APP_MODEL", str(path))
    monkeypatch.setenv("FEATBUS_APP_DATA", str(tmp_path))
    at = AppTest.from_file(str(Path(featbus.deploy.app.__file__)), default_timeout=120)
    at.run()
    at.text_input[0].input(str(image)).run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == f"Predicted: {two_model.predict([str(image)])[0]}"
    caption = next(c.value for c in at.caption if c.value.startswith("Decided by"))
    assert "two operating points: is there a lesion? p(lesion) = " in caption


def test_a_trained_two_decision_model_answers_by_its_rule(busi_root, tmp_path, capsys):
    """The real thing: BUSI, the shipped breast-us segmenter's lesion probability, two_decisions=True
    (slow: the busi_root fixture marks it; skips without the shared data)."""
    from sklearn.utils import Bunch

    from featbus import load_data

    d = load_data(busi_root)
    idx = np.sort(np.random.default_rng(0).choice(len(d.target), 90, replace=False))
    sub = Bunch(data=[d.data[i] for i in idx], target=np.asarray(d.target)[idx], target_names=d.target_names,
                groups=None, DESCR="sub")
    model = train_model(sub, "intensity,shape", classifier="svm", segmenter="breast-us", two_decisions=True,
                        progress=False, n_bootstrap=20)
    point = model.operating_point
    assert point.two_decisions and point.absent == "normal"
    rest = np.setdiff1d(np.arange(len(d.target)), idx)[::25]
    table = model.predict_table([d.data[i] for i in rest])
    assert set(table["rule"]) == {point.rule_text()}
    assert table["predicted"].tolist() == _expected(table, point)
    path = model.save(tmp_path / "two.featbus")
    assert main(["inspect", str(path)]) == 0
    assert "operating point (two decisions): normal when p(lesion) < " in capsys.readouterr().out
