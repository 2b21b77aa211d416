"""The downstream project's own test, run by featbus's CI against a freshly built featbus wheel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from downstream_demo import build_search, fit_sample
from downstream_demo.classify import predict_in_new_process
from sklearn.base import clone


@pytest.fixture(scope="module")
def fitted():
    return fit_sample()


def test_grid_search_keeps_groups_whole_and_scores(fitted):
    search, images, target, groups = fitted
    assert len(images) == len(target) == len(groups) == 52  # featbus's bundled sample, read from the wheel
    for train, test in search.cv.split(images, target, groups):
        assert not set(groups[train]) & set(groups[test])
    assert set(search.best_params_) == {"scale", "svc__C"}
    assert 0.0 <= search.best_score_ <= 1.0
    assert search.predict(images).shape == (52,)


def test_pandas_output_names_the_families(fitted):
    search, images, _, _ = fitted
    best = clone(search.best_estimator_).set_output(transform="pandas")
    best.fit(images, fitted[2])
    frame = best[:-1].transform(images[:4])
    assert isinstance(frame, pd.DataFrame) and frame.shape[0] == 4
    assert {c.split("__")[0] for c in frame.columns} == {"hog", "lbp", "intensity"}
    assert np.isfinite(frame.to_numpy()).all()


def test_pickle_predicts_the_same_in_a_new_process(fitted, tmp_path):
    search, images, _, _ = fitted
    again = predict_in_new_process(search.best_estimator_, images, tmp_path)
    np.testing.assert_array_equal(again, search.best_estimator_.predict(images))


def test_clone_of_the_search_is_unfitted():
    search = build_search()
    assert not hasattr(clone(search), "best_estimator_")


def test_import_stays_light():
    """``import featbus`` loads no network library and no scikit-learn: names load on first use."""
    code = ("import sys, featbus\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'torch', 'jax', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.stdout.strip() == "[]", out.stdout


def test_command_line_entry_point():
    """The wheel's console script, beside this interpreter (the environment's bin/ or Scripts/)."""
    script = Path(sys.executable).with_name("featbus.exe" if os.name == "nt" else "featbus")
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "featbus" in out.stdout
