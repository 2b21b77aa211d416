"""Full-field mammograms on every core (issue 102 item 1): ``--n-jobs 2`` gives one job's rows.

A small release of full-field DICOM frames (above :data:`featbus.io.WORK_PIXELS`, so each is area-reduced as a
real one is; MONOCHROME1 with a window, RLE and JPEG 2000 among them, built with ``_mammo_builders``) and one
frame whose JPEG 2000 codestream is cut in half: its header reads, its pixels do not, so it is found only when
a worker decodes it.

* The images are read in worker processes where ``n_jobs`` asks for them (the decoders hold the GIL, so
  threads read one image at a time), and the features computed there too; the images, their order, their
  metadata and the left-out file are the same as with one job.
* ``featbus extract --n-jobs 2`` writes the table ``--n-jobs 1`` writes (the same paths in the same order, the
  same labels, the features within 1e-12: the same code on the same pixels), leaves the bad file out the same
  way with ``--on-error skip`` and stops on it with one line naming it without.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")

from _mammo_builders import mammogram, mg_dataset, write_dicom  # noqa: E402
from _untrusted import REPO, Outcome  # noqa: E402

from featbus.io import WORK_PIXELS, work_shape  # noqa: E402

#: Above the working size (4.19 MP), as every full-field frame is: 2300 x 1900 = 4.37 MP.
FULL = (2300, 1900)
#: Rows of one job and of two agree to this (absolute; the features are in [0, 1] or moments of such values).
TOLERANCE = 1e-12


def _frame(k: int) -> np.ndarray:
    """Mammogram ``k`` at the full-field size, with detector noise of its own (no two frames alike)."""
    import cv2

    side = "L" if k % 2 else "R"
    small = mammogram(k, side, "MLO" if k % 3 else "CC", lesions=k % 2)
    big = cv2.resize(small, (FULL[1], FULL[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(big + np.random.default_rng(k).normal(0, 0.01, FULL), 0, 1)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """Five readable full-field frames in two class folders (MONOCHROME1 with a window, RLE, JPEG 2000 among
    them) and ``benign/cut.dcm``, a JPEG 2000 frame cut in half."""
    import pydicom
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.uid import JPEG2000Lossless, RLELossless

    root = tmp_path_factory.mktemp("fullfield") / "rel"
    for k in range(6):
        ds = mg_dataset(_frame(k), patient=f"P{k // 2}", study=f"1.2.3.{k}", series=f"1.2.3.{k}.1",
                        sop=f"1.2.3.{k}.1.1", side="L" if k % 2 else "R", view="MLO", bits=(12, 14, 16)[k % 3],
                        monochrome1=k == 1)
        if k == 2:
            ds.compress(RLELossless)
        elif k in (3, 5):
            ds.compress(JPEG2000Lossless)
        path = root / ("malignant" if k % 2 else "benign") / f"frame{k}.dcm"
        write_dicom(path, ds)
        if k == 5:  # the codestream cut in half, the encapsulation kept: decoding fails, the header reads
            cut = pydicom.dcmread(path)
            frame = next(generate_frames(cut.PixelData, number_of_frames=1))
            cut.PixelData = encapsulate([frame[:len(frame) // 2]])
            path.unlink()
            write_dicom(root / "benign" / "cut.dcm", cut)
    return root


def test_worker_processes_read_the_release_as_one_job_does(release, monkeypatch):
    """``load_data(n_jobs=2)`` reads in worker processes (thresholds at 0, so that five frames are enough to
    start them) the pixels, metadata and left-out file ``n_jobs=1`` reads; the intensity rows agree."""
    import featbus._records as records
    from featbus import IntensityStats
    from featbus.datasets import _release_bunch, load_data

    monkeypatch.setattr(records, "MIN_FORK_SECONDS", 0.0)
    monkeypatch.setattr(records, "MIN_PARALLEL_SECONDS", 0.0)
    backends = []

    def spy(func, items, n_jobs=None, **kw):
        backends.append((n_jobs, kw.get("backend")))
        return records.map_images(func, items, n_jobs, **kw)

    monkeypatch.setattr(_release_bunch, "map_images", spy)
    with pytest.warns(UserWarning, match="cut.dcm"):
        one = load_data(release, on_error="skip", n_jobs=1)
    with pytest.warns(UserWarning, match="cut.dcm"):
        two = load_data(release, on_error="skip", n_jobs=2)
    assert backends[-1][0] == 2 and backends[-1][1] != "threading"  # processes: loky's or forked
    assert [p.name for p in map(Path, two.paths)] == [p.name for p in map(Path, one.paths)] and len(one.paths) == 5
    assert [Path(p).name for p, _ in two.skipped] == ["cut.dcm"] and two.skipped == one.skipped
    assert "truncated" in two.skipped[0][1]
    for a, b in zip(one.data, two.data):
        assert a.image.shape == work_shape(FULL) and a.image.shape[0] * a.image.shape[1] <= WORK_PIXELS
        np.testing.assert_array_equal(a.image, b.image)
        assert a.meta == b.meta
    np.testing.assert_array_equal(one.target, two.target)
    np.testing.assert_array_equal(one.groups, two.groups)
    X1 = IntensityStats(n_jobs=1, cache=False, progress=False).fit_transform(one.data)
    X2 = IntensityStats(n_jobs=2, cache=False, progress=False).fit_transform(two.data)
    np.testing.assert_allclose(X2, X1, rtol=0, atol=TOLERANCE)


def run_featbus(args: list, *, cwd: Path) -> Outcome:
    """``featbus ARGS`` in a child process, without ``_untrusted``'s 1 GiB address-space limit: under it, gdcm's
    JPEG 2000 and RLE decoders fail to allocate a frame of this size and abort the process (before and after
    issue 102's change alike), which is not what these tests are about."""
    import os
    import signal
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", FEATBUS_CACHE="",
               PYTHONFAULTHANDLER="1")
    child = subprocess.Popen([sys.executable, "-m", "featbus", *map(str, args)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=cwd, errors="replace")
    try:
        out, err = child.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        # say where it stopped: the command's threads' stacks (faulthandler, on SIGABRT), or that the command had
        # ended and a process it started kept its output open
        ended = child.poll()
        if ended is None:
            os.kill(child.pid, signal.SIGABRT)
        out, err = child.communicate(timeout=60)
        pytest.fail(f"featbus {' '.join(map(str, args))} did not end in 300 s (return code then: {ended}); "
                    f"its stderr:\n{err[-6000:]}")
    return Outcome(child.returncode, out, err, False)


def _table(out: Path):
    import pandas as pd

    return pd.read_csv(out)


def test_extract_with_two_jobs_writes_one_jobs_table(release, tmp_path):
    """``featbus extract -f intensity --on-error skip`` with one job and with two: the same rows in the same
    order, the same one line naming the bad file; without ``--on-error skip`` both stop on it in one line."""
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"f{n}.csv"
        runs[n] = run_featbus(["extract", release, "-f", "intensity", "--n-jobs", n, "--on-error", "skip",
                               "--cache", "none", "-o", out], cwd=tmp_path)
        assert runs[n].returncode == 0 and "Traceback" not in runs[n].text, runs[n].text[-2000:]
    one, two = _table(tmp_path / "f1.csv"), _table(tmp_path / "f2.csv")
    assert len(one) == 5 and list(two["path"]) == list(one["path"]) and list(two["label"]) == list(one["label"])
    assert not any("cut.dcm" in p for p in one["path"])
    features = [c for c in one.columns if c.startswith("intensity__")]
    assert len(features) == 23
    np.testing.assert_allclose(two[features].to_numpy(), one[features].to_numpy(), rtol=0, atol=TOLERANCE)
    said = {n: [line for line in runs[n].text.splitlines() if "cut.dcm" in line] for n in (1, 2)}
    assert said[1] == said[2] and said[1] and any("truncated" in line for line in said[1])
    for n in (1, 2):
        stop = run_featbus(["extract", release, "-f", "intensity", "--n-jobs", n, "--cache", "none",
                            "-o", tmp_path / f"g{n}.csv"], cwd=tmp_path)
        assert stop.returncode != 0 and "Traceback" not in stop.text
        errors = [line for line in stop.text.splitlines() if "error" in line.lower()]
        assert len(errors) == 1 and "cut.dcm" in errors[0] and "truncated" in errors[0], stop.text[-2000:]
        assert not (tmp_path / f"g{n}.csv").exists()


def test_extract_describes_each_frame_as_it_is_read_and_keeps_none(release, monkeypatch):
    """``featbus extract``'s reading (:func:`featbus.datasets._release_bunch.describing`): each frame is described
    as it is decoded and dropped, so no more than one decoded frame is alive when the next is read (where reading
    every frame first held all five); the rows are those of the frames read first, then described, in order."""
    import weakref

    from featbus.cli.extract import _Rows
    from featbus.datasets import _release_bunch, load_data
    from featbus.model.domain import image_look
    from featbus.pipelines.make import make_features

    with pytest.warns(UserWarning, match="cut.dcm"):
        whole = load_data(release, on_error="skip", n_jobs=1)
    X = make_features(["intensity"], n_jobs=1, progress=False).fit_transform(whole.data)
    looks, shapes = np.array([image_look(r) for r in whole.data]), [r.image.shape for r in whole.data]
    del whole
    live, held = [0], []
    read = _release_bunch._read_keeping_image

    def counted(item, index):
        held.append(live[0])  # decoded frames still alive as the next is read
        res = read(item, index)
        if not isinstance(res[0], str):
            live[0] += 1
            weakref.finalize(res[0], lambda: live.__setitem__(0, live[0] - 1))
        return res

    monkeypatch.setattr(_release_bunch, "_read_keeping_image", counted)
    with pytest.warns(UserWarning, match="cut.dcm"):
        kept = load_data(release, on_error="skip", n_jobs=1)
    assert len(held) == 6 and max(held) == 4  # reading every frame first: four alive as the fifth is read
    paths, skipped, metas = kept.paths, kept.skipped, [r.meta for r in kept.data]
    del kept
    held.clear()
    rows = _Rows(make_features(["intensity"], n_jobs=1, progress=False))
    with _release_bunch.describing(rows), pytest.warns(UserWarning, match="cut.dcm"):
        streamed = load_data(release, on_error="skip", n_jobs=1)
    assert len(held) == 6 and max(held) == 0 and live[0] == 0
    assert streamed.paths == paths and streamed.skipped == skipped and len(paths) == 5
    assert all(r.image is None and r.mask is None for r in streamed.data)
    assert [r.meta for r in streamed.data] == metas
    assert rows.fitted and len(rows.fitted_union().get_feature_names_out()) == X.shape[1] == 23
    # each row: the features, then the frame's look (size, colour, image statistics) for the table's profile
    assert streamed.features.shape == (5, 23 + rows.layout)
    np.testing.assert_allclose(streamed.features[:, :23], X, rtol=0, atol=TOLERANCE)
    assert streamed.features[:, 23:25].tolist() == [list(s) for s in shapes]  # at the working size
    np.testing.assert_allclose(streamed.features[:, 25:], looks[:, 2:], rtol=0, atol=TOLERANCE)
    assert (streamed.features[:, 25] == 0).all()  # grey frames, said by their DICOM headers
