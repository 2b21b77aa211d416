"""featbus.evaluation.sanity: the model-sanity verdict, each rule on synthetic predictions, the real cases of
issue 43 (the README's mammogram model, handcrafted BUSI models), the manifest round trip and the
commands' output and --strict exit status."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from featbus.evaluation import Report, evaluate, evaluate_external
from featbus.evaluation.sanity import (
    SENSITIVITY_FLOOR,
    STRICT_EXIT_CODE,
    Verdict,
    assess,
    verdict_from_manifest,
    verdict_to_manifest,
)

pytestmark = pytest.mark.slow  # reads the real data sets (python -m pytest -m "not slow" leaves it out)


def _report(y_true, y_pred, scores=None, *, names=None, groups=None, fold=None, n_bootstrap=200) -> Report:
    """A Report made straight from held-out predictions (as evaluate would keep them)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = y_true.size
    classes = np.unique(np.concatenate([y_true, y_pred]))
    fold = np.arange(n) % 5 if fold is None else np.asarray(fold)
    splits = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in np.unique(fold)]
    return Report(name="m", classes=classes, class_names=names or [str(c) for c in classes], y_true=y_true,
                  y_pred=y_pred, scores=scores, score_kind="probability" if scores is not None else "none",
                  fold=fold, splits=splits, groups=groups, cv="duplicate-grouped 5-fold", n_bootstrap=n_bootstrap,
                  random_state=0)


def _scores_for(y, signal, rng, k=2):
    """Scores whose column ``c`` is higher for class ``c`` by ``signal`` standard deviations."""
    s = rng.normal(size=(y.size, k))
    s[np.arange(y.size), y] += signal
    e = np.exp(s - s.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


# --------------------------------------------------------------------------- each rule, synthetic

def test_always_the_majority_is_useless_and_says_so():
    y = np.array([0] * 80 + [1] * 40)
    rep = _report(y, np.zeros_like(y), np.tile([0.67, 0.33], (120, 1)), names=["normal", "abnormal"])
    v = assess(rep)
    assert v.verdict == "useless" and not v.useful
    assert v.reasons[0].startswith("its decisions are no better than always answering 'normal': accuracy 0.667")
    assert "it finds 0 of 40 abnormal images (sensitivity 0.00, under the 0.2 floor)" in " ".join(v.reasons)
    assert v.ignored == ("abnormal",) and v.trivial_class == "normal"
    assert v.accuracy_gain == (0.0, 0.0) and v.trivial_balanced_accuracy == 0.5
    assert "covers 0.5" in v.reasons[-1]  # constant scores: AUC 0.5


def test_a_good_model_is_useful():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 40)
    pred = np.where(rng.uniform(size=y.size) < 0.85, y, (y + 1) % 3)
    v = assess(_report(y, pred, _scores_for(y, 2.5, rng, 3), names=["benign", "malignant", "normal"]))
    assert v.verdict == "useful" and v.useful and v.ignored == ()
    assert v.reasons[0].startswith("its decisions beat always answering 'benign'")
    assert v.accuracy_gain[0] > 0.3 and v.auc_interval[0] > 0.5
    assert str(v).startswith("verdict: useful -- ")


def test_a_class_almost_never_found_makes_it_limited_not_useless():
    """Beats the trivial answer on two classes, finds 3 of 30 normal images: 'limited'."""
    rng = np.random.RandomState(1)
    y = np.repeat([0, 1, 2], [60, 40, 30])
    pred = y.copy()
    normal = np.flatnonzero(y == 2)
    pred[normal[3:]] = 0  # finds only 3 of the 30 normal images
    v = assess(_report(y, pred, _scores_for(y, 2.0, rng, 3), names=["benign", "malignant", "normal"]))
    assert v.verdict == "limited" and v.ignored == ("normal",)
    assert "it finds 3 of 30 normal images (sensitivity 0.10, under the 0.2 floor): it almost never recognises " \
           "'normal'" in v.reasons
    assert v.found["normal"] == (3, 30) and v.sensitivity["normal"] == pytest.approx(0.1)


def test_the_floor_is_strict_below_and_one_class_recognised_alone_is_useless():
    y = np.repeat([0, 1], 50)
    pred = y.copy()
    pred[50 + int(SENSITIVITY_FLOOR * 50):] = 0  # exactly the floor: 10 of 50 found
    rng = np.random.RandomState(2)
    assert assess(_report(y, pred, _scores_for(y, 3, rng))).ignored == ()
    pred[59] = 0  # one fewer: under it, and with two classes only one is then recognised
    v = assess(_report(y, pred, _scores_for(y, 3, rng)))
    assert v.ignored == ("1",) and v.verdict == "useless"
    assert any(r.startswith("it recognises only '0' (every other class under the 0.2 floor)") for r in v.reasons)


def test_auc_whose_interval_covers_chance_is_useless_even_when_accuracy_beats_the_majority():
    """Decisions better than the majority but scores that rank nothing (random scores)."""
    rng = np.random.RandomState(3)
    y = np.repeat([0, 1], [70, 50])
    pred = np.where(rng.uniform(size=y.size) < 0.8, y, 1 - y)
    v = assess(_report(y, pred, rng.uniform(size=(y.size, 2))))
    assert v.accuracy_gain[0] > 0  # it beats the majority on its decisions
    assert v.verdict == "useless"
    assert any(r.startswith("its scores rank no better than chance: AUC") and "covers 0.5" in r for r in v.reasons)
    backwards = assess(_report(y, pred, _scores_for(y, -3, rng)))  # scores ranked the wrong way round
    assert backwards.verdict == "useless" and "lies below 0.5" in " ".join(backwards.reasons)


def test_one_class_auc_at_chance_makes_a_multiclass_model_limited():
    rng = np.random.RandomState(4)
    y = np.repeat([0, 1, 2], 60)
    pred = np.where(rng.uniform(size=y.size) < 0.8, y, (y + 1) % 3)
    scores = _scores_for(y, 3, rng, 3)
    scores[:, 2] = rng.uniform(size=y.size)  # class 2's own column ranks nothing
    v = assess(_report(y, pred, scores, names=["a", "b", "c"]))
    assert v.verdict == "limited"
    assert any(r.startswith("its scores do not tell 'c' from the other classes better than chance") for r in v.reasons)


def test_screening_model_below_the_majority_accuracy_is_not_useless():
    """90/10 data, 90 % sensitivity and 85 % specificity: accuracy under the majority's 0.9 but
    balanced accuracy far above 0.5: the balanced comparison keeps it."""
    y = np.repeat([0, 1], [450, 50])
    pred = y.copy()
    pred[:68] = 1  # 68 of 450 false alarms (specificity 0.85)
    pred[450:455] = 0  # 45 of 50 found
    rng = np.random.RandomState(5)
    v = assess(_report(y, pred, _scores_for(y, 3, rng)))
    assert v.accuracy < v.trivial_accuracy and v.balanced_gain[0] > 0.2
    assert v.verdict == "useful"


def test_the_trivial_answer_is_scored_on_the_judged_images():
    """Balanced data: always answering one class scores 0.500, whatever the folds' majorities
    (each training fold's majority is the class its held-out fold lacks: it scored 0.0 here)."""
    y = np.array([0] * 30 + [1] * 30)
    fold = np.array([0] * 30 + [1] * 30)  # fold 0 trains on class 1 only, fold 1 on class 0 only
    v = assess(_report(y, y.copy(), None, fold=fold))
    assert v.trivial_accuracy == 0.5 and v.trivial_balanced_accuracy == 0.5
    assert v.accuracy == 1.0 and v.verdict == "useful"
    assert "1.000 against 0.500 for that answer" in str(v)
    y = np.repeat([0, 1], 50)  # interleaved 5-fold on 50/50 data: the folds' majorities used to score 0.0-ish
    v = assess(_report(y, y.copy(), None))
    assert v.trivial_accuracy == 0.5


def test_groups_are_resampled_whole_and_the_report_interval_reused():
    rng = np.random.RandomState(6)
    y = np.repeat([0, 1], 40)
    X = rng.normal(size=(80, 2)) + 1.5 * y[:, None]
    rep = evaluate(LogisticRegression(), X, y, groups=np.arange(80) // 4, n_bootstrap=150, progress=False)
    v = assess(rep)
    assert v.n_bootstrap == 150
    assert v.auc_interval == pytest.approx(rep.interval("auc"))  # the interval the report prints
    assert rep.sanity is rep.sanity  # computed once
    again = assess(rep, n_bootstrap=50, random_state=1)
    assert again.n_bootstrap == 50 and again.verdict == v.verdict == "useful"
    plain = assess(evaluate(LogisticRegression(), X, y, cv="stratified", n_bootstrap=0, progress=False))
    assert plain.n_bootstrap > 0 and math.isfinite(plain.accuracy_gain[0])  # its own bootstrap
    points = assess(rep, n_bootstrap=0)
    assert points.n_bootstrap == 0 and "point values: no bootstrap" in " ".join(points.reasons)


def test_external_test_set_report_and_errors():
    rng = np.random.RandomState(7)
    y = np.repeat([0, 1], 30)
    X = rng.normal(size=(60, 2)) + 3 * y[:, None]
    model = LogisticRegression().fit(X[::2], y[::2])
    v = assess(evaluate_external(model, X[1::2], y[1::2], n_bootstrap=100))
    assert v.verdict == "useful" and "external test set, 30 images" in v.basis
    dummy = DummyClassifier().fit(X[::2], y[::2])
    assert assess(evaluate_external(dummy, X[1::2], y[1::2], n_bootstrap=100)).verdict == "useless"
    with pytest.raises(TypeError, match="needs a featbus Report"):
        assess({"accuracy": 0.9})
    with pytest.raises(ValueError, match="n_bootstrap"):
        assess(evaluate_external(model, X[1::2], y[1::2], n_bootstrap=0), n_bootstrap=-1)
    with pytest.raises(ValueError, match="verdict must be one of"):
        Verdict("fine")


def test_summary_and_html_report_open_with_the_verdict(tmp_path):
    y = np.array([0] * 40 + [1] * 20)
    rep = _report(y, np.zeros_like(y), np.tile([0.6, 0.4], (60, 1)), names=["normal", "abnormal"])
    lines = rep.summary().splitlines()
    assert lines[1].startswith("verdict: useless -- ") and "no better than always answering 'normal'" in lines[2]
    assert "verdict" not in rep.summary(verdict=False)
    page = rep.to_html(tmp_path / "r.html").read_text()
    assert page.index("Verdict: useless") < page.index("<table>")
    assert "no better than always answering &#x27;normal&#x27;" in page


# --------------------------------------------------------------------------- the model file

def test_manifest_round_trip_and_older_files():
    rng = np.random.RandomState(8)
    y = np.repeat([0, 1, 2], [60, 40, 30])
    pred = y.copy()
    pred[np.flatnonzero(y == 2)[3:]] = 0
    v = assess(_report(y, pred, _scores_for(y, 2.0, rng, 3), names=["benign", "malignant", "normal"]))
    entry = verdict_to_manifest(v)
    assert json.loads(json.dumps(entry, allow_nan=False)) == entry  # plain JSON, no NaN
    back = verdict_from_manifest({"cv": {"sanity": entry}})
    assert (back.verdict, back.reasons, back.ignored, back.found) == (v.verdict, v.reasons, v.ignored, v.found)
    assert back.accuracy_gain == pytest.approx(v.accuracy_gain)
    # an older file: recomputed from the stored figures, the same verdict here
    old = {"classes": ["benign", "malignant", "normal"],
           "data": {"counts": {"benign": 60, "malignant": 40, "normal": 30}},
           "cv": {"cv": "duplicate-grouped 5-fold", "n_bootstrap": 200,
                  "accuracy": {"value": v.accuracy, "ci": [v.accuracy - 0.05, v.accuracy + 0.05]},
                  "sensitivity": {"value": v.balanced_accuracy, "ci": [0.6, 0.8]},
                  "auc": {"value": v.auc, "ci": list(v.auc_interval)},
                  "per_class_accuracy": v.sensitivity}}
    recomputed = verdict_from_manifest(old)
    assert recomputed.verdict == "limited" and "recomputed from the" in recomputed.basis
    assert recomputed.found["normal"] == (3, 30)
    assert verdict_from_manifest({"classes": ["a"]}) is None
    assert verdict_from_manifest({"cv": None}) is None
    assert verdict_from_manifest({"cv": {"sanity": {"verdict": "great", "reasons": []}}}) is None  # damaged: ignored


# --------------------------------------------------------------------------- commands

@pytest.fixture(scope="module")
def phantom_folder(tmp_path_factory):
    """A class-folder study of 36 phantoms (like test_cli's)."""
    from PIL import Image

    from featbus.datasets import make_phantoms

    root = tmp_path_factory.mktemp("phantoms")
    ph = make_phantoms(36, image_size=64, random_state=0)
    for i, (im, t) in enumerate(zip(ph.images, ph.target)):
        folder = root / str(ph.target_names[t])
        folder.mkdir(exist_ok=True)
        Image.fromarray(im).save(folder / f"case ({i}).png")
    return root


def _verdict_of(out: str) -> str:
    line = next(x for x in out.splitlines() if x.startswith("verdict: "))
    return line.split()[1]


def test_evaluate_prints_the_verdict_and_strict_exits_3(phantom_folder, capsys):
    from featbus.cli import main

    argv = ["evaluate", str(phantom_folder), "-f", "intensity", "-c", "logreg,knn", "--n-splits", "3",
            "--n-bootstrap", "30", "-q"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    verdict = _verdict_of(out)
    assert "verdicts (duplicate-grouped):" in out and "intensity | logreg | none: " in out
    status = main(argv + ["--strict"])
    captured = capsys.readouterr()
    assert status == (0 if verdict == "useful" else STRICT_EXIT_CODE)
    if status:
        assert "--strict: the verdict is not 'useful'" in captured.err


def test_train_inspect_and_validate_show_the_verdict(phantom_folder, tmp_path, capsys):
    from featbus.cli import main

    model = tmp_path / "m.featbus"
    status = main(["train", str(phantom_folder), "-f", "intensity", "-c", "logreg", "--n-splits", "3",
                   "--n-bootstrap", "30", "-o", str(model), "--strict", "-q"])
    out = capsys.readouterr().out
    verdict = _verdict_of(out)
    assert status == (0 if verdict == "useful" else STRICT_EXIT_CODE) and model.is_file()
    assert main(["inspect", str(model)]) == 0
    assert f"verdict: {verdict} -- " in capsys.readouterr().out  # stored, or recomputed from the cv figures
    status = main(["validate", str(model), str(phantom_folder), "--n-bootstrap", "30", "--strict", "-q"])
    out = capsys.readouterr().out
    v = _verdict_of(out)
    assert status == (0 if v == "useful" else STRICT_EXIT_CODE)


def test_strict_exit_status_when_useless(tmp_path, capsys):
    """A study with nothing to learn (every image the same noise, two classes 2:1): --strict exits 3."""
    from PIL import Image

    from featbus.cli import main

    rng = np.random.RandomState(0)
    for i in range(30):
        folder = tmp_path / "data" / ("normal" if i % 3 else "abnormal")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.randint(0, 255, (48, 48)).astype(np.uint8)).save(folder / f"img{i:02d}.png")
    argv = ["evaluate", str(tmp_path / "data"), "-f", "intensity", "-c", "svm", "--n-splits", "3",
            "--n-bootstrap", "50", "-q"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "verdict: useless -- " in out and "no better than always answering 'normal'" in out
    assert main(argv + ["--strict"]) == STRICT_EXIT_CODE
    assert "exit status 3" in capsys.readouterr().err
    model = tmp_path / "m.featbus"
    assert main(["train", str(tmp_path / "data"), "-f", "intensity", "-c", "svm", "--n-splits", "3",
                 "--n-bootstrap", "50", "-o", str(model), "--strict", "-q"]) == STRICT_EXIT_CODE
    assert "verdict: useless -- " in capsys.readouterr().out and model.is_file()


def test_app_sidebar_lines():
    from featbus.deploy.app import verdict_lines

    kind, head, reasons = verdict_lines({"cv": {"cv": "duplicate-grouped validation split (94 of 625 images)",
                                                "sanity": {"verdict": "limited", "reasons": ["x\ny"],
                                                           "basis": "duplicate-grouped validation split"}}})
    assert (kind, head) == ("warning", "Verdict: limited (on its own validation split)")
    assert reasons == ["* x\\ny"]  # text from the file is escaped
    assert verdict_lines({"classes": ["a"]}) is None


# --------------------------------------------------------------------------- real data (issue 43)

def test_readme_mammogram_model_is_useless(mias_original_root):
    """The README's example (mini-MIAS, normal vs abnormal, pectoral,flip,crop-breast, intensity +
    LBP, SVM, grouped by woman) calls every mammogram normal: flagged useless.

    Read at a quarter of the resolution (OpenCV decodes 256 x 256 directly) so it stays fast; the
    full-size command gives the same verdict (docs/guide/pipelines_evaluation.rst)."""
    import cv2

    from featbus import ImageRecord
    from featbus.cli._data import _preprocessing_steps
    from featbus.datasets import parse_mias_info
    from featbus.pipelines import make_classification_pipeline

    info = parse_mias_info(mias_original_root / "Info.txt")
    files = sorted(mias_original_root.glob("mdb*.png"))
    records = [ImageRecord(cv2.imread(str(f), cv2.IMREAD_REDUCED_GRAYSCALE_4), path=str(f)) for f in files]
    y = np.array([int(any(r["abnormality"] != "NORM" for r in info[f.stem])) for f in files])
    women = np.array([(int(f.stem[3:]) - 1) // 2 for f in files])
    for _, step in _preprocessing_steps("pectoral,flip,crop-breast"):
        records = step.fit_transform(records)
    pipe = make_classification_pipeline(["intensity", "lbp"], classifier="svm", random_state=0)
    rep = evaluate(pipe, records, y, groups=women, n_bootstrap=100, target_names=["normal", "abnormal"],
                   progress=False)
    v = rep.sanity
    assert v.verdict == "useless", v
    assert v.trivial_class == "normal" and "abnormal" in v.ignored
    assert v.reasons[0].startswith("its decisions are no better than always answering 'normal'")


@pytest.fixture(scope="module")
def busi_features(busi):
    """BUSI (625 images) with the cheap handcrafted families, glcm + intensity, extracted once."""
    from featbus.pipelines import extract_features, family_blocks

    data = busi
    X, names = extract_features(data, "glcm,intensity", progress=False)
    return data, X, family_blocks(names)


def test_busi_handcrafted_model_flags_normal_but_is_not_useless(busi_features):
    """A handcrafted BUSI model (glcm + intensity, SVM: like the handcrafted recipe and the best
    `evaluate` pipeline, it finds few normal images) is 'limited' -- the normal class flagged,
    the model not called useless: it tells benign from malignant well above chance."""
    from featbus.pipelines import make_classification_pipeline

    data, X, blocks = busi_features
    pipe = make_classification_pipeline(None, classifier="svm", blocks=blocks, random_state=0)
    rep = evaluate(pipe, X, data.target, groups=data.groups, n_bootstrap=100, target_names=data.target_names,
                   progress=False)
    v = rep.sanity
    assert v.verdict == "limited", v
    assert v.ignored == ("normal",) and v.found["normal"][1] == 111 and v.sensitivity["normal"] < 0.2
    assert v.accuracy_gain[0] > 0 and v.auc_interval[0] > 0.6
    assert any(r.startswith("it finds ") and "of 111 normal images" in r for r in v.reasons)


def test_train_model_stores_the_verdict_and_a_damaged_one_is_refused(tmp_path):
    """The manifest's cv section carries the verdict (inspect and the app read it); a file whose
    verdict entry is damaged is named as such when loaded."""
    import json
    import zipfile

    from featbus import make_phantoms
    from featbus.model import load_model
    from featbus.workflows.training import train_model

    model = train_model(make_phantoms(45, image_size=48, random_state=2), "intensity", classifier="svm",
                        progress=False, n_bootstrap=50)
    stored = model.manifest["cv"]["sanity"]
    assert stored["verdict"] in ("useful", "limited", "useless") and stored["reasons"]
    path = tmp_path / "m.featbus"
    model.save(path)
    assert load_model(path).manifest["cv"]["sanity"]["verdict"] == stored["verdict"]
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    name = next(n for n in members if n.endswith("manifest.json"))
    manifest = json.loads(members[name])
    manifest["cv"]["sanity"] = {"verdict": "fine", "reasons": []}
    members[name] = json.dumps(manifest).encode()
    damaged = tmp_path / "d.featbus"
    with zipfile.ZipFile(damaged, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    with pytest.raises(ValueError, match="cv 'sanity'"):
        load_model(damaged)


# --------------------------------------------------------------------------- issue 55: words that agree with numbers

def _breast_like(benign_found: int, malignant_found: int, normal_found: int, rng):
    """BrEaST-Lesions-USG's class sizes (154 benign, 98 malignant, 4 normal); the misses called the next class."""
    y = np.repeat([0, 1, 2], [154, 98, 4])
    pred = y.copy()
    for c, k in ((0, benign_found), (1, malignant_found), (2, normal_found)):
        idx = np.flatnonzero(y == c)
        pred[idx[k:]] = (c + 1) % 2 if c < 2 else 0
    return y, pred, _scores_for(y, 1.0, rng, 3)


def test_a_win_on_balanced_accuracy_names_balanced_accuracy_not_accuracy():
    """Before: "useful: it beats always answering 'benign': accuracy 0.514 against 0.552" (the win
    was on balanced accuracy). After: the sentence and the headline name the figure that carries it."""
    y = np.repeat([0, 1], [450, 50])
    pred = y.copy()
    pred[:68] = 1
    pred[450:455] = 0
    v = assess(_report(y, pred, _scores_for(y, 3, np.random.RandomState(5)), names=["benign", "malignant"]))
    assert v.verdict == "useful" and v.accuracy < v.trivial_accuracy
    assert v.line().startswith("useful: its decisions beat always answering 'benign' on balanced accuracy, not on "
                               "accuracy: balanced accuracy (the mean of the classes' sensitivities) 0.874 against "
                               "0.500 for that answer (difference +0.374")
    assert "; accuracy 0.854 against 0.900 (difference -0.046" in v.reasons[0]
    assert "on balanced accuracy, not accuracy" in v.headline
    assert "beats always answering 'benign': accuracy" not in str(v)


def test_a_win_carried_by_a_few_images_of_a_small_class_is_said_and_limited():
    """BrEaST's 4 normal images, all found, give the balanced-accuracy win; without them the
    model is no better than always answering benign. Before: "useful" ("it beats always
    answering 'benign': accuracy 0.527 against 0.602"). After: "limited", the 4 images named."""
    y, pred, scores = _breast_like(92, 39, 4, np.random.RandomState(9))  # benign 0.6, malignant 0.4: 0.5 without normal
    v = assess(_report(y, pred, scores, names=["benign", "malignant", "normal"]))
    assert v.verdict == "limited" and v.small_classes == ("normal",)
    assert v.reasons[0].startswith("its decisions beat always answering 'benign' only on balanced accuracy, and only "
                                   "through its 4 normal images (it finds 4 of 4; a class of under 10 images is too "
                                   "few to be evidence): without them, balanced accuracy 0.498 against 0.500 for that "
                                   "answer (difference -0.002 [-0.06, +0.06]); with them, balanced accuracy 0.665 "
                                   "against 0.333 (difference +0.332 [+0.06, +0.37]); accuracy 0.527 against 0.602 "
                                   "(difference -0.074")
    assert "only through its 4 normal images" in v.headline
    entry = verdict_to_manifest(v)
    assert verdict_from_manifest({"cv": {"sanity": entry}}).small_classes == ("normal",)
    # the same model finding malignant too: the win holds without the normal images, nothing said
    y, pred, scores = _breast_like(120, 70, 4, np.random.RandomState(9))
    fine = assess(_report(y, pred, scores, names=["benign", "malignant", "normal"]))
    assert fine.small_classes == () and "only through" not in str(fine)


def test_useless_decisions_with_scores_above_chance_say_a_new_operating_point_may_help():
    """Before (BUS-BRA): "verdict: useless -- nothing in these figures shows it does better ... or
    than chance" above "its malignant-vs-rest AUC 0.662 [0.61, 0.71] is above chance". After: the
    headline keeps how it decides apart from how its scores rank, and says what would help."""
    rng = np.random.RandomState(10)
    y = np.repeat([0, 1], [70, 30])
    pred = np.ones_like(y)
    pred[:8] = 0  # calls almost every image malignant
    v = assess(_report(y, pred, _scores_for(y, 1.5, rng), names=["benign", "malignant"]))
    assert v.verdict == "useless"
    assert v.headline.startswith("in practice its decisions answer 'malignant' whatever the image; its scores rank "
                                 "better than chance: AUC 0.")
    assert v.headline.endswith("a new operating point may help")
    assert "nothing in these figures" not in str(v)
    assert any("featbus adapt MODEL DATA --labels" in r and "--operating-point" in r for r in v.reasons)
    # scores at chance too: no such advice
    v = assess(_report(y, pred, rng.uniform(size=(100, 2)), names=["benign", "malignant"]))
    assert v.verdict == "useless" and "operating point" not in str(v)
    assert "its scores rank no better than chance" in v.headline


def test_numbers_beside_a_threshold_show_the_decimals_that_decide():
    """Before: "sensitivity 0.20, under the 0.2 floor". After: "sensitivity 0.198"."""
    from featbus.evaluation.sanity import _interval, decisive

    assert decisive(0.198, 0.2) == "0.198" and decisive(0.1996, 0.2) == "0.1996"
    assert decisive(0.2, 0.2) == "0.20" and decisive(0.31, 0.2) == "0.31"
    assert decisive(-0.001, 0.0, signed=True) == "-0.001" and decisive(0.0004, 0.0, 3, signed=True) == "+0.0004"
    assert _interval((0.4996, 0.61), 0.5) == " [0.4996, 0.61]" and _interval((0.45, 0.61), 0.5) == " [0.45, 0.61]"
    y = np.repeat([0, 1], [100, 96])
    pred = y.copy()
    pred[100 + 19:] = 0  # 19 of 96 found: 0.1979
    pred[:30] = 1
    v = assess(_report(y, pred, _scores_for(y, 3, np.random.RandomState(11))))
    assert "it finds 19 of 96 1 images (sensitivity 0.198, under the 0.2 floor)" in " ".join(v.reasons)


def _site_entry(sens, auc, *, name="b", n=98):
    return {"site": name, "n_images": n, "trained_on": ["a"], "n_train": 200,
            "sensitivity": None if sens is None else {"value": sens[0], "ci": list(sens[1:])},
            "auc": None if auc is None else {"value": auc[0], "ci": list(auc[1:])}, "notes": []}


def test_a_multi_site_model_is_judged_on_its_held_out_sites_too():
    """Issue 53: a model that finds (almost) none of the cancers at a held-out site is not 'useful'."""
    from featbus.evaluation.sanity import with_sites

    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 60)
    pooled = assess(_report(y, y.copy(), _scores_for(y, 3, rng), names=["benign", "malignant"]))
    assert pooled.verdict == "useful"
    entry = {"name": "svm", "positive": "malignant", "n_bootstrap": 200,
             "sites": [_site_entry((0.0, 0.0, 0.0), (0.48, 0.4, 0.56), name="busi", n=625),
                       _site_entry((0.62, 0.5, 0.7), (0.81, 0.75, 0.86), name="usg", n=256)]}
    v = with_sites(pooled, entry)
    assert v.verdict == "limited" and not v.useful and v.failing_sites == ("busi",) and v.sites_checked
    assert v.reasons[0] == ("with site 'busi' held out (trained on a only, tested on its 625 images): it finds 0 % of "
                            "its malignant images (sensitivity 0.00, under the 0.2 floor) and its "
                            "malignant-vs-rest AUC 0.480 [0.40, 0.56] covers 0.5: at a hospital it did not train on, "
                            "it may miss most of the malignant cases")
    assert v.headline.endswith("with each site held out, it fails at 'busi'")
    assert "and leaving each of 2 sites out" in v.basis
    assert with_sites(v, entry) is v  # taken into account once
    # every held-out site failing: said in the headline; an AUC whose low bound decides shows its decimals
    entry["sites"][1] = _site_entry((0.3, 0.2, 0.4), (0.6, 0.4996, 0.7), name="usg", n=256)
    v = with_sites(pooled, entry)
    assert v.failing_sites == ("busi", "usg") and "it fails at every one ('busi' and 'usg')" in v.headline
    assert "AUC 0.600 [0.4996, 0.70] covers 0.5: at a hospital it did not train on, its malignant scores" in str(v)
    # every site fine: the verdict stands, one sentence says so
    entry["sites"] = [_site_entry((0.7, 0.6, 0.8), (0.9, 0.85, 0.95), name="busi"),
                      _site_entry((0.55, 0.45, 0.65), (0.8, 0.7, 0.88), name="usg")]
    v = with_sites(pooled, entry)
    assert v.verdict == "useful" and v.failing_sites == ()
    assert "lowest sensitivity 0.55 at 'usg', lowest AUC 0.800 at 'usg'" in v.reasons[-1]
    # a useless pooled verdict stays useless; no positive class, or no figures: unchanged
    useless = assess(_report(y, np.zeros_like(y), np.tile([0.5, 0.5], (120, 1)), names=["benign", "malignant"]))
    assert with_sites(useless, {**entry, "sites": [_site_entry((0.0, 0, 0), None)]}).verdict == "useless"
    assert with_sites(pooled, {**entry, "positive": None}) is pooled
    assert with_sites(pooled, None) is pooled


def test_a_model_file_s_site_figures_are_read_with_its_verdict():
    """inspect and the app read the verdict through verdict_from_manifest: the stored pooled
    verdict and the manifest's site_cv together; a file stored before headlines keeps its sentences."""
    rng = np.random.RandomState(1)
    y = np.repeat([0, 1], 60)
    pooled = verdict_to_manifest(assess(_report(y, y.copy(), _scores_for(y, 3, rng), names=["benign", "malignant"])))
    site_cv = {"name": "svm", "positive": "malignant", "n_bootstrap": 200,
               "sites": [_site_entry((0.05, 0.01, 0.1), (0.7, 0.6, 0.8), name="busi")]}
    v = verdict_from_manifest({"cv": {"sanity": pooled}, "site_cv": site_cv})
    assert v.verdict == "limited" and v.failing_sites == ("busi",)
    assert verdict_from_manifest({"cv": {"sanity": pooled}}).verdict == "useful"
    old = {k: pooled[k] for k in ("verdict", "reasons", "basis")}
    assert verdict_from_manifest({"cv": {"sanity": old}}).summary().startswith(
        "verdict: useful -- its decisions beat always answering the most common class and find every class")


def test_train_and_inspect_print_one_verdict_for_a_multi_site_model(phantom_folder, tmp_path, capsys):
    """Two sites: train's verdict takes the leave-one-site-out figure into account, inspect prints
    the same verdict, and --strict's status follows it."""
    import shutil

    from featbus.cli import main

    second = tmp_path / "second"
    shutil.copytree(phantom_folder, second)
    for f in second.rglob("*.png"):  # another site's images: the same phantoms, darker
        from PIL import Image

        Image.fromarray((np.asarray(Image.open(f)) * 0.7).astype(np.uint8)).save(f)
    model = tmp_path / "m.featbus"
    status = main(["train", str(phantom_folder), str(second), "-f", "intensity", "-c", "logreg", "--n-splits", "3",
                   "--n-bootstrap", "30", "-o", str(model), "--strict", "-q"])
    captured = capsys.readouterr()
    verdict = [x for x in captured.out.splitlines() if x.startswith("verdict: ")]
    assert len(verdict) == 1 and "and leaving each of 2 sites out" in verdict[0]
    assert status == (0 if verdict[0].startswith("verdict: useful") else STRICT_EXIT_CODE)
    if status:
        assert "(cross-validation and leaving each site out: " in captured.err
    assert main(["inspect", str(model)]) == 0
    assert verdict[0] in capsys.readouterr().out.splitlines()


def test_validate_s_in_short_lines_show_the_decimals_that_decide():
    """Before: "sensitivity 0.90, short of the target 0.9". After: "sensitivity 0.898"."""
    from sklearn.utils import Bunch

    from featbus import validate

    class Fake:
        classes_ = np.array(["benign", "malignant"], dtype=object)
        manifest: dict = {}

        def predict_proba(self, records):
            return np.array([[0.0, 1.0] if r.meta["hit"] else [1.0, 0.0] for r in records])

    labels = np.repeat(["benign", "malignant"], 500)
    hit = (labels == "malignant") & (np.arange(1000) < 500 + 449)  # 449 of 500 malignant found: 0.898
    records = [type("R", (), {"meta": {"hit": bool(h)}, "path": None})() for h in hit]
    data = Bunch(data=records, target=(labels == "malignant").astype(int), target_names=np.array(["benign",
                 "malignant"]), groups=np.arange(1000), DESCR="synthetic")
    result = validate(Fake(), data, n_bootstrap=0)
    assert "finds 90 % of the malignant images (sensitivity 0.898), short of the target 0.9" in result.summary()
