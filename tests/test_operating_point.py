"""The one OperatingPoint (choose / decide / describe / record), the one zero_division rule and the
shared --operating-point option (issue 59)."""

import contextlib
import io
import math

import numpy as np
import pytest

from featbus.metrics import (
    OperatingPoint,
    decide,
    format_interval,
    interval_text,
    ratio,
    sensitivity_specificity,
    threshold_for_sensitivity,
)

CLASSES = ["benign", "malignant", "normal"]


def _example(seed=0, n=60):
    rng = np.random.RandomState(seed)
    y = np.array(CLASSES)[rng.randint(0, 3, n)]
    P = rng.dirichlet([1, 1, 1], n)
    P[y == "malignant", 1] += 0.3
    return y, P / P.sum(1, keepdims=True)


def _old_training_record(proba, y, target, chosen_on):
    """model_training._store_operating_point before the OperatingPoint, verbatim."""
    j = CLASSES.index("malignant")
    is_pos = np.asarray(y, dtype=str) == "malignant"
    threshold = threshold_for_sensitivity(proba[:, j], is_pos, target)
    called = proba[:, j] >= threshold
    benign = np.asarray(y, dtype=str) == "benign"
    return {"positive": "malignant", "threshold": float(threshold), "target_sensitivity": float(target),
            "sensitivity": float(called[is_pos].mean()),
            "specificity": float((~called[~is_pos]).mean()) if (~is_pos).any() else None,
            "specificity_benign": float((~called[benign]).mean()) if benign.any() else None,
            "n_images": int(len(y)), "chosen_on": chosen_on}


def _old_adaptation_record(proba, yl, target, n):
    """adaptation._adapt's operating point before the OperatingPoint, verbatim."""
    j = CLASSES.index("malignant")
    threshold = threshold_for_sensitivity(proba[:, j], yl == "malignant", target)
    called = proba[:, j] >= threshold
    is_pos = yl == "malignant"
    return {"positive": "malignant", "threshold": float(threshold), "target_sensitivity": target,
            "sensitivity": float(called[is_pos].mean()), "specificity": float((~called[~is_pos]).mean())
            if (~is_pos).any() else None,
            "chosen_on": f"{n} labelled images of the adaptation site (optimistic there)"}


@pytest.mark.parametrize("target", [0.5, 0.8, 0.9, 0.95, 1.0])
def test_choose_reproduces_the_records_train_and_adapt_wrote(target):
    import dataclasses

    y, P = _example()
    old = _old_training_record(P, y, target, "out-of-fold probabilities of 60 training images")
    op = OperatingPoint.choose(y, P, classes=CLASSES, positive="malignant", target=target,
                               chosen_on="out-of-fold probabilities of 60 training images",
                               specificity_of=("benign",))
    new = dataclasses.replace(op, n_images=len(y)).to_record()
    assert new == old and list(new) == list(old)  # same keys, same order: the same file
    old = _old_adaptation_record(P, y, target, 60)
    new = OperatingPoint.choose(y, P, classes=CLASSES, positive="malignant", target=target,
                                chosen_on="60 labelled images of the adaptation site (optimistic there)").to_record()
    assert new == old and list(new) == list(old)


def test_choose_on_a_fixed_example():
    y = np.array(["malignant"] * 4 + ["benign"] * 3)
    P = np.column_stack([1 - np.array([0.9, 0.7, 0.4, 0.2, 0.5, 0.3, 0.1]), [0.9, 0.7, 0.4, 0.2, 0.5, 0.3, 0.1]])
    op = OperatingPoint.choose(y, P, classes=["benign", "malignant"], positive="malignant", target=0.75)
    assert op.threshold == 0.4 and op.sensitivity == 0.75 and op.specificity == pytest.approx(2 / 3)
    assert op.target_sensitivity == 0.75


def test_choose_refuses_what_it_cannot_choose_on():
    P = np.array([[0.8, 0.2], [0.6, 0.4]])
    with pytest.raises(ValueError, match="no 'malignant' image"):
        OperatingPoint.choose(["benign", "benign"], P, classes=["benign", "malignant"], positive="malignant")
    with pytest.raises(ValueError, match="target must be a number in \\(0, 1\\]"):
        OperatingPoint.choose(["malignant", "benign"], P, classes=["benign", "malignant"], positive="malignant",
                              target=1.5)
    with pytest.raises(ValueError, match="not one of the classes"):
        OperatingPoint.choose(["a", "b"], P, classes=["a", "b"], positive="malignant")


def test_decide_is_the_rule_predict_and_validation_apply():
    from types import SimpleNamespace

    from featbus.model import FeatbusModel

    P = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.1, 0.3], [0.3, 0.25, 0.45]])
    op = OperatingPoint(positive="malignant", threshold=0.25)
    assert op.decide(P, CLASSES).tolist() == ["malignant", "normal", "benign", "malignant"]
    assert op.rule(CLASSES) == (1, 0.25)
    assert decide(P, op.rule(CLASSES)).tolist() == [1, 2, 0, 1]
    model = FeatbusModel.__new__(FeatbusModel)
    model.head = SimpleNamespace(classes_=np.array(CLASSES))
    model.manifest = {"operating_point": op.to_record()}
    assert model.decide(P).tolist() == op.decide(P, CLASSES).tolist()
    with pytest.raises(ValueError, match="'cancer' is not one of the classes"):
        OperatingPoint(positive="cancer", threshold=0.3).decide(P, CLASSES)


@pytest.mark.parametrize("record", [
    {"positive": "malignant", "threshold": 0.3},  # hand-made / the oldest files
    {"positive": "malignant", "threshold": 0.0431, "target_sensitivity": 0.9, "sensitivity": 0.91,
     "specificity": 0.42, "chosen_on": "12 labelled images of the adaptation site (optimistic there)"},
    {"positive": "malignant", "threshold": 0.062, "target_sensitivity": 0.9, "sensitivity": 0.9,
     "specificity": 0.55, "specificity_benign": None, "n_images": 480,
     "chosen_on": "out-of-fold probabilities of 480 training images (5 duplicate-grouped folds)"},
    {"positive": "malignant", "threshold": 1, "specificity_normal": 0.99, "note": "a newer featbus's key"},
])
def test_a_record_of_any_version_reads_and_writes_back_unchanged(record):
    op = OperatingPoint.from_record(record)
    back = op.to_record()
    assert back == record and list(back) == list(record)
    assert OperatingPoint.from_record(back) == op


@pytest.mark.parametrize("record", [None, {}, {"positive": "malignant"}, {"positive": "m", "threshold": 1.5},
                                    {"positive": "m", "threshold": True}, {"positive": 1, "threshold": 0.2}])
def test_a_damaged_record_is_refused_in_one_line(record):
    with pytest.raises(ValueError, match="operating_point must be an object"):
        OperatingPoint.from_record(record)


def test_describe_says_the_rule_and_where_it_was_chosen():
    op = OperatingPoint.from_record({"positive": "malignant", "threshold": 0.04312, "target_sensitivity": 0.9,
                                     "sensitivity": 0.912, "specificity": 0.4,
                                     "chosen_on": "out-of-fold predictions of 480 training images"})
    assert op.describe() == ("malignant when p(malignant) >= 0.0431, chosen for sensitivity 0.9 on out-of-fold "
                             "predictions of 480 training images (there: sensitivity 0.91, specificity 0.40)")
    assert OperatingPoint("malignant", 0.3).describe() == "malignant when p(malignant) >= 0.3"


def test_featbus_exports_operating_point():
    import featbus

    assert featbus.OperatingPoint is OperatingPoint


# --------------------------------------------------------------------------- zero_division

def test_ratio_and_sensitivity_specificity_name_their_zero_division():
    assert ratio(1, 4, zero_division=0.0) == 0.25
    assert ratio(0, 0, zero_division=0.0) == 0.0 and math.isnan(ratio(0, 0, zero_division=np.nan))
    assert ratio(np.array([1, 0]), np.array([2, 0]), zero_division=1.0).tolist() == [0.5, 1.0]
    sens, spec = sensitivity_specificity([True, True, False], [True, False, False], zero_division=np.nan)
    assert (sens, spec) == (0.5, 1.0)
    sens, spec = sensitivity_specificity([False, False], [True, False], zero_division=np.nan)
    assert math.isnan(sens) and spec == 0.5
    assert sensitivity_specificity([False], [False], zero_division=0.0) == (0.0, 1.0)
    for bad in (None, "warn", True, 2.0):
        with pytest.raises(ValueError, match="zero_division must be"):
            ratio(1, 2, zero_division=bad)
    with pytest.raises(TypeError):
        ratio(1, 2)  # no default: every caller names its choice


def test_metric_arrays_keep_zero_for_an_undefined_ratio():
    from featbus.evaluation.figures import metric_arrays  # a view of the figure table; 0 when asked

    table, _, _ = metric_arrays(np.array([0, 0, 0]), np.array([0, 0, 0]), None, 2, zero_division=0.0)
    assert table[1, 1] == 0.0 and table[1, 3] == 0.0  # class 1: no image, never called
    assert table[0, 2] == 0.0  # class 0: no negative image


def test_interval_text_separator_and_fixed_columns():
    assert interval_text((0.5, 0.75), sep=",") == " [0.50,0.75]"
    assert interval_text((math.nan, 0.75), 3, missing="  nan") == " [  nan, 0.750]"
    assert format_interval(0.5, (math.nan, math.nan), missing="  nan", interval_digits=3,
                           missing_bound="  nan") == "0.500 [  nan,   nan]"
    assert format_interval(math.nan, (0.1, 0.2), missing=None, sep=",") == "nan [0.10,0.20]"


# --------------------------------------------------------------------------- one option, two spellings

def _parse(command, *extra):
    from featbus.cli import build_parser

    return build_parser([command]).parse_args([command, "m.featbus", "d", "-o", "x.featbus", *extra]) \
        if command == "adapt" else build_parser([command]).parse_args([command, "d", "-o", "x.featbus", *extra])


@pytest.mark.parametrize("command", ["train", "adapt"])
def test_operating_point_is_one_option_with_the_old_spelling_as_alias(command):
    from featbus.cli import build_parser

    assert _parse(command, "--operating-point", "sensitivity=0.8").operating_point == "sensitivity=0.8"
    assert _parse(command, "--operating-point", "0.8").operating_point == "sensitivity=0.8"
    assert _parse(command, "--target-sensitivity", "0.95").operating_point == "sensitivity=0.95"
    assert _parse(command).operating_point == ("auto" if command == "train" else None)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser([command]).parse_args([command, "--help"])
    assert "--operating-point" in out.getvalue() and "--target-sensitivity" not in out.getvalue()


def test_adapt_reads_the_target_from_either_spelling_and_refuses_a_bad_one():
    from featbus.cli._common import CLIError
    from featbus.cli.adapt import _target_sensitivity

    assert _target_sensitivity(_parse("adapt", "--target-sensitivity", "0.95").operating_point) == 0.95
    assert _target_sensitivity(_parse("adapt", "--operating-point", "sensitivity=0.8").operating_point) == 0.8
    assert _target_sensitivity(_parse("adapt").operating_point) is None
    for value in ("2", "none", "specificity=0.9"):
        with pytest.raises(CLIError, match="--operating-point"):
            _target_sensitivity(_parse("adapt", "--operating-point", value).operating_point)
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        _parse("adapt", "--target-sensitivity", "high")
