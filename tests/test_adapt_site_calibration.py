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


def test_stand_ins_run_the_same_draws_side_by_side():
    """--stand-in-scale: the same seeds on the stand-ins' scores, each row's medians at both sizes and the
    largest change of one draw; a kind it does not know is refused in one line."""
    bench = repo_script("benchmarks/site_calibration.py")
    site = _site()
    small = [bench.one_draw(site, seed, 0) for seed in range(3)]
    shifted = site["proba"] * np.array([1.0, 1.2, 0.8])
    moved = {**site, "proba": shifted / shifted.sum(axis=1, keepdims=True)}
    large = [bench.one_draw(moved, seed, 0) for seed in range(3)]
    assert [d["calibration"] for d in small] == [d["calibration"] for d in large]  # the same patients
    rows = bench.side_by_side(small, large, "cubic 3x")
    assert len(rows) == 3 * len(bench.ROWS)
    stored = [r for r in rows if r["row"] == "stored"]
    assert [r["size"] for r in stored] == ["320 px (shared copies)", "cubic 3x stand-in", "both"]
    k = "sensitivity[malignant]"
    assert stored[0]["values"][k] == pytest.approx(np.median([d["rows"]["stored"][k] for d in small]), abs=1e-12)
    assert stored[2]["values"][k] == pytest.approx(
        max(abs(b["rows"]["stored"][k] - a["rows"]["stored"][k]) for a, b in zip(small, large)), abs=1e-12)
    with pytest.raises(SystemExit):
        bench.main(["--cache-dir", "unused", "--stand-in-scale", "3", "--stand-in", "lanczos"])


def test_a_stand_in_folder_keeps_the_release_layout(tmp_path):
    """benchmarks/stand_in_validate.py writes the release's files N times larger: images by the stand-in,
    masks by nearest neighbour (still 0/255), the table's pixel size and shape scaled, other files copied."""
    import cv2

    bench = repo_script("benchmarks/stand_in_validate.py")
    src = tmp_path / "site"
    (src / "benign").mkdir(parents=True)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(src / "benign" / "case001.png"), rng.integers(0, 256, (20, 30), dtype=np.uint8))
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 8:20] = 255
    cv2.imwrite(str(src / "benign" / "case001_mask.png"), mask)
    (src / "breast_data.csv").write_text("ID,Pixel_size,Width,Height,Age\ncase001,0.06,30,20,not available\n")
    (src / "LICENSE.txt").write_text("cite it\n")
    made = bench.write_stand_in(src, tmp_path / "big", 3, "block-consistent")
    assert made["n_images"] == 1 and made["n_masks"] == 1
    big = cv2.imread(str(tmp_path / "big" / "benign" / "case001.png"), cv2.IMREAD_UNCHANGED)
    assert big.shape == (60, 90) and big.dtype == np.uint8
    big_mask = cv2.imread(str(tmp_path / "big" / "benign" / "case001_mask.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(big_mask)) == {0, 255} and np.array_equal(big_mask[::3, ::3], mask)
    table = (tmp_path / "big" / "breast_data.csv").read_text().splitlines()
    pixel, width, height = table[1].split(",")[1:4]
    assert float(pixel) == pytest.approx(0.02, rel=1e-12) and (width, height) == ("90", "60")
    assert (tmp_path / "big" / "LICENSE.txt").read_text() == "cite it\n"
    assert bench.write_stand_in(src, tmp_path / "big", 3, "block-consistent") == made  # kept, not rewritten


def test_the_stand_in_results_say_what_their_images_are():
    """Every results file measured on stand-ins says they are not originals; stand_in_validate.json's
    times are the medians of its runs and its ratios those of the medians; site_calibration.json's
    stand-in runs are the same draws (seeds and patients) as its 320 px run."""
    results = REPO / "benchmarks" / "results"
    validate = json.loads((results / "stand_in_validate.json").read_text())
    for run in validate["runs"].values():
        assert "STAND-INS" in run["images"] and "not originals" in run["images"]
        for site in run["sites"].values():
            rows = list(site["rows"].values())
            for row in rows:
                assert len(row["wall_s_runs"]) == len(row["cpu_s_runs"]) == run["repeats"]
                assert row["wall_s"] == pytest.approx(np.median(row["wall_s_runs"]), abs=0.051)  # rounded to 0.1 s
            assert site["cpu_ratio"] == pytest.approx(rows[1]["cpu_s"] / rows[0]["cpu_s"], abs=0.006)
    held_out = json.loads((results / "stand_in_held_out.json").read_text())
    assert "STAND-INS" in held_out["images"] and "not originals" in held_out["images"]
    calibration = json.loads((results / "site_calibration.json").read_text())
    for run in calibration.get("stand_ins", {}).values():
        assert "NOT originals" in run["images"]
        assert [d["seed"] for d in run["draws"]] == calibration["settings"]["seeds"]
        assert [d["calibration"] for d in run["draws"]] == [d["calibration"] for d in calibration["draws"]]
