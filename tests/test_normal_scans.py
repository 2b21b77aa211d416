"""benchmarks/normal_scans.py (issue 77): its figures on a synthetic held-out site, and the docs
table written from its results file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, repo_script


@pytest.fixture(scope="module")
def bench():
    return repo_script("benchmarks/normal_scans.py")


def _heldout(path, seed=0, shift=0.0, n_normal=40, n_lesion=120):
    """A held-out site's .heldout.npz as scripts/train_breast_us.py writes it: p(normal) high for
    normal scans, p(malignant) high for malignant lesions; validation images of the training sites."""
    rng = np.random.default_rng(seed)
    y = np.array(["normal"] * n_normal + ["benign"] * (n_lesion // 2) + ["malignant"] * (n_lesion // 2))

    def proba(labels):
        n = len(labels)
        normal = np.where(labels == "normal", rng.uniform(0.4, 0.95, n), rng.uniform(0.0, 0.5, n)) - shift
        normal = np.clip(normal, 0.001, 0.999)
        mal = np.where(labels == "malignant", rng.uniform(0.4, 1, n), rng.uniform(0, 0.6, n))
        return np.column_stack([(1 - normal) * (1 - mal), (1 - normal) * mal, normal])

    val_y = np.array(["normal"] * 30 + ["benign"] * 60 + ["malignant"] * 60)
    np.savez(path, proba=proba(y), classes=np.array(["benign", "malignant", "normal"]), y=y,
             groups=np.arange(len(y)).astype(str), paths=np.array([f"{i}.png" for i in range(len(y))]),
             val_proba=proba(val_y), val_y=val_y, val_sites=np.array(["a"] * len(val_y)),
             val_made=np.r_[np.ones(20, bool), np.zeros(len(val_y) - 20, bool)])


def test_a_held_out_site_is_judged_at_the_training_sites_threshold(bench, tmp_path):
    _heldout(tmp_path / "normals_busi.heldout.npz")
    c = bench.judge_site(tmp_path / "normals_busi.heldout.npz", n_bootstrap=50)
    f = c["training_sites"]
    assert 0 <= f["lesions_called_normal"][0] <= 0.2  # the threshold keeps 98 % of validation lesions
    assert f["normal_called_normal"][0] > 0.3 and f["auc"][0] > 0.8
    assert f["lesions_called_normal"][1] <= f["lesions_called_normal"][0] <= f["lesions_called_normal"][2]
    assert c["validation"]["normal_made"] == 20 and c["validation"]["normal_real"] == 10
    assert 0.5 < c["malignancy"]["auc"][0] <= 1
    assert "coverage" in c["band"] or "none" in c["band"]
    assert ("not_estimated" in c["aligned"]) or c["aligned"]["threshold"] > 0


def test_paired_differences_of_a_lever_with_itself_are_zero(bench, tmp_path):
    _heldout(tmp_path / "a.heldout.npz", seed=1)
    d = bench.paired_difference(tmp_path / "a.heldout.npz", tmp_path / "a.heldout.npz", n_bootstrap=20)
    for k, v in d.items():
        assert v == [0.0, 0.0, 0.0], k


def test_the_command_writes_the_results_and_the_table_and_refuses_an_empty_folder(bench, tmp_path, capsys):
    for lever in ("normals", "plain"):
        _heldout(tmp_path / f"{lever}_busi.heldout.npz", seed=2 if lever == "plain" else 3)
    out, table = tmp_path / "r.json", tmp_path / "t.rst"
    bench.main(["--loso-dir", str(tmp_path), "--n-bootstrap", "20", "-o", str(out), "--table", str(table)])
    results = json.loads(out.read_text())
    assert set(results["cells"]) == {"normals", "plain"} and "normals / busi" in results["minus_plain"]
    assert table.read_text() == bench.render_table(results)
    with pytest.raises(SystemExit, match="no LEVER_SITE"):
        bench.main(["--loso-dir", str(tmp_path / "empty"), "-o", str(out)])


def test_the_docs_table_is_the_benchmark_json(bench):
    results = REPO / "benchmarks" / "results" / "normal_scans.json"
    if not results.is_file():
        pytest.skip("benchmarks/results/normal_scans.json not written yet")
    table = (REPO / "docs" / "guide" / "normal_scans_table.rst").read_text()
    assert table == bench.render_table(json.loads(results.read_text()))
