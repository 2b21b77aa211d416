"""benchmarks/site_calibration.py: each draw runs adapt's core on scores (calibrate_scores) and judges the
other patients; its results file's summary is what its draws say. Synthetic scores, no data read."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, repo_script

from featbus.metrics import OperatingPoint
from featbus.model.alignment import ScoreReference


def _site(seed: int = 0) -> dict:
    """A site of 300 patients (two images each) with normal scans below the lesions in p(lesion)."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["normal", "benign", "malignant"], 300, p=[0.2, 0.5, 0.3])
    y = np.repeat(kinds, 2)
    groups = np.repeat([f"p{k}" for k in range(300)], 2)
    logit = np.where(y == "normal", rng.normal(-1, 1.5, y.size), rng.normal(7, 1.5, y.size))
    p_lesion = 1 / (1 + np.exp(-logit))
    given = np.clip(np.where(y == "malignant", rng.normal(0.6, 0.15, y.size), rng.normal(0.25, 0.15, y.size)),
                    0.001, 0.999)
    proba = np.column_stack([p_lesion * (1 - given), p_lesion * given, 1 - p_lesion])
    lesion = y != "normal"
    reference = ScoreReference.from_scores(given[lesion], y[lesion], positive="malignant", absent="normal")
    point = OperatingPoint(positive="malignant", threshold=0.4, target_sensitivity=0.9, absent="normal",
                           presence=OperatingPoint(positive="lesion", threshold=0.4))
    return {"proba": proba, "classes": ["benign", "malignant", "normal"], "y": y, "groups": groups, "point": point,
            "reference": reference}


def test_a_draw_is_adapts_core_judged_on_patients_it_never_saw():
    from featbus.metrics import lesion_and_given
    from featbus.workflows.adaptation import calibrate_scores

    bench = repo_script("benchmarks/site_calibration.py")
    site = _site()
    draw = bench.one_draw(site, seed=3, n_bootstrap=0)
    assert draw["calibration"]["n_patients"] == bench.K
    assert draw["n_judged_images"] + draw["n_unlabelled_images"] + draw["calibration"]["n_images"] == site["y"].size
    # replayed: the same patients, calibrate_scores, the judged half through the figure table
    rng = np.random.default_rng(3)
    units = np.unique(site["groups"])
    cal_units = rng.choice(units, size=bench.K, replace=False)
    rest = rng.permutation(np.setdiff1d(units, cal_units))
    cal, unl = np.isin(site["groups"], cal_units), np.isin(site["groups"], rest[: rest.size // 2])
    test = ~cal & ~unl
    p_lesion, q = lesion_and_given(site["proba"], site["classes"])
    given = cal | unl
    point, al, _ = calibrate_scores(p_lesion[given], q[given], np.where(cal, site["y"], None)[given],
                                    site["groups"][given], stored=site["point"], reference=site["reference"],
                                    unit="patients", site="the built site", n_bootstrap=0, random_state=0)
    assert draw["moves"]["8 labelled + unlabelled"]["presence_threshold"] == point.presence.threshold
    called = point.decide(al.apply(site["proba"][test], site["classes"]), site["classes"])
    y, row = site["y"][test], draw["rows"]["8 labelled + unlabelled"]
    assert al is not None and point.presence.threshold > site["point"].presence.threshold  # both aligned
    assert row["lesions_called_normal"] == pytest.approx(np.mean(called[y != "normal"] == "normal"), abs=1e-12)
    assert row["sensitivity[malignant]"] == pytest.approx(np.mean(called[y == "malignant"] == "malignant"), abs=1e-12)


def test_the_results_file_summary_is_its_draws():
    bench = repo_script("benchmarks/site_calibration.py")
    path = REPO / "benchmarks" / "results" / "site_calibration.json"
    results = json.loads(path.read_text())
    assert bench.summary(results["draws"]) == results["summary"]
    assert len(results["draws"]) == len(results["settings"]["seeds"]) and results["k"] == bench.K
