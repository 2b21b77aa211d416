"""Honest progress (issue 75): the ETA is the remaining work's, each stage of a long function shows
itself and closes when it ends (no display sits at 100 % while the next stage works), and the library
functions take ``progress=`` (nothing patches a model to count its work)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from featbus import progress as P


class _Clock:
    """time.monotonic as the test says."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_eta_is_the_remaining_work_at_the_rate_of_the_latest_updates(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(P.time, "monotonic", clock)
    bar = P.LogProgress(100, desc="validate", unit="img", interval=3600, file=io.StringIO())
    try:
        clock.now += 60.0  # a minute of start-up (loading, tracing) before the first images are done
        bar.update(10)
        clock.now += 5.0
        bar.update(10)  # then 10 images every 5 s
        clock.now += 5.0
        bar.update(10)
        # 70 images left at 2 img/s: 35 s, not the 91 s that the average since the start would say
        assert bar.line().endswith("ETA 35s")
        clock.now += 2.0  # two seconds into the next chunk: two seconds less to go
        assert bar.line().endswith("ETA 33s")
    finally:
        bar.close()


def test_remaining_seconds_without_a_rate_says_nothing():
    assert P.remaining_seconds([(0.0, 0)], 10, now=3.0) is None
    assert P.remaining_seconds([(0.0, 0), (1.0, 5)], None, now=3.0) is None
    assert P.remaining_seconds([(0.0, 0), (2.0, 5)], 10, now=2.0) == pytest.approx(2.0)


class _Recorder(P.Stages):
    """Stages that record what each stage counted, and that no two are open at once."""

    def __init__(self, desc="test"):
        super().__init__(False, desc)
        self.log: list[dict] = []
        self.open = 0

    def stage(self, what, total=None, unit="img"):
        recorder = self

        class _Bar:
            def __init__(self):
                self.entry = {"what": what, "total": total, "n": 0, "closed": False}

            def __enter__(self):
                assert recorder.open == 0, "two stages shown at once"
                recorder.open += 1
                recorder.log.append(self.entry)
                return self

            def update(self, k=1):
                assert not self.entry["closed"]
                self.entry["n"] += k

            def set_postfix(self, *a, **k):
                pass

            def set_postfix_str(self, *a, **k):
                pass

            def __exit__(self, *exc):
                recorder.open -= 1
                self.entry["closed"] = True

        return _Bar()


@pytest.fixture(scope="module")
def phantom_model():
    from featbus import make_phantoms
    from featbus.workflows.training import train_model

    data = make_phantoms(30, image_size=48, random_state=0)
    return train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False), data


def test_validate_shows_each_stage_counting_every_image_then_closing(phantom_model):
    from featbus import make_phantoms, validate

    model, _ = phantom_model
    other = make_phantoms(20, image_size=48, random_state=1)
    shown = _Recorder("validate m")
    plain = validate(model, other, n_bootstrap=0)
    result = validate(model, other, n_bootstrap=0, progress=shown)
    assert [e["what"] for e in shown.log] == ["features", "image check"]
    assert all(e["total"] == e["n"] == 20 and e["closed"] for e in shown.log)
    np.testing.assert_allclose(result.proba, plain.proba)  # showing the work changes nothing


def test_predict_table_takes_progress_and_the_pass_counts_its_images(phantom_model):
    model, data = phantom_model
    shown = _Recorder("predict m")
    table = model.predict_table(data.images[:5], progress=shown)
    assert len(table) == 5 and shown.log[0]["what"] == "features" and shown.log[0]["n"] == 5


def test_crops_and_features_is_the_models_own_pass(phantom_model):
    model, data = phantom_model
    crops, X = model.crops_and_features(data.images[:7])
    assert len(crops) == 7
    np.testing.assert_allclose(X, model.transform(data.images[:7]))


def test_a_stage_shown_as_lines_starts_and_ends_before_the_next(monkeypatch, capsys, progress_shown):
    import time

    monkeypatch.setattr(P, "ANNOUNCE_AFTER", 0.01)
    stages = P.stages("auto", "validate m")  # standard error is not a terminal here: lines
    with stages.stage("lesion crops and features", 4) as bar:
        time.sleep(0.1)
        bar.update(4)
    with stages.stage("image check", 4) as bar:
        time.sleep(0.1)
        bar.update(4)
    lines = capsys.readouterr().err.splitlines()
    first = [i for i, ln in enumerate(lines) if "lesion crops and features" in ln]
    second = [i for i, ln in enumerate(lines) if "image check" in ln]
    assert first and second and max(first) < min(second), lines
    assert "4/4 img (100%), ended after" in lines[max(first)]
