"""featbus.compute.distributed: Dask extraction to Parquet, resume after a crash, GridSearchCV on Dask.

The cluster is a LocalCluster of 2 worker processes on 127.0.0.1 with no dashboard: nothing
contacts another address.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("dask")
pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

from featbus import ImageError  # noqa: E402
from featbus._base import BaseFeatureExtractor  # noqa: E402
from featbus._records import check_images  # noqa: E402
from featbus.compute.distributed import content_key, extract, local_client  # noqa: E402

pytestmark = pytest.mark.slow  # starts a Dask cluster (python -m pytest -m "not slow" leaves it out)

HERE = Path(__file__).resolve().parent


class LoggingStats(BaseFeatureExtractor):
    """Mean/std/min/max; leaves one file in ``log_dir`` per ``transform`` call (naming the first
    path), and fails on ``poison`` while the file ``flag`` exists: raises, or with
    ``crash=True`` kills its process like ``kill -9`` would."""

    def __init__(self, log_dir=None, poison=None, flag=None, crash=False, region="image",
                 empty_mask="image", n_jobs=None):
        self.log_dir = log_dir
        self.poison = poison
        self.flag = flag
        self.crash = crash
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs

    def _fit_features(self, items):
        return ["stat.mean", "stat.std", "stat.min", "stat.max"]

    def _features(self, image, mask):
        return [image.mean(), image.std(), image.min(), image.max()]

    def transform(self, X):
        items = [os.fspath(p) if isinstance(p, os.PathLike) else p for p in check_images(X)]
        if self.log_dir is not None:
            Path(self.log_dir, uuid.uuid4().hex).write_text(str(items[0]))
        if self.poison is not None and self.poison in items and os.path.exists(self.flag):
            if self.crash:
                os._exit(3)  # no cleanup, no exception: the process just dies
            raise RuntimeError("injected failure")
        return super().transform(X)


def _logged(log_dir: Path) -> list[str]:
    return sorted(p.read_text() for p in log_dir.iterdir())


@pytest.fixture(scope="module")
def image_files(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(14):
        size = (24 + i % 3, 32)
        p = folder / f"img {i:02d}.png"  # a space, as in BUSI file names
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


@pytest.fixture(scope="module")
def client():
    with local_client(n_workers=2, threads_per_worker=1, memory_limit="1GiB") as c:
        yield c


def _expected(paths, **params) -> np.ndarray:
    return LoggingStats(**params).fit_transform(paths)


def _parts(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("part-*.parquet"))


def test_local_client_is_loopback_only(client):
    info = client.scheduler_info()
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert len(info["workers"]) == 2
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in info["workers"])


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_equals_one_shot_without_client(image_files, tmp_path, scheduler):
    df = extract(image_files, LoggingStats(), output=tmp_path / "f", partition_size=4,
                 scheduler=scheduler, n_workers=2)
    assert list(df.columns) == ["path", "stat.mean", "stat.std", "stat.min", "stat.max"]
    assert df["path"].tolist() == image_files
    np.testing.assert_array_equal(df.iloc[:, 1:].to_numpy(), _expected(image_files))
    assert df.attrs["computed"] == [0, 1, 2, 3] and df.attrs["reused"] == []
    assert len(_parts(tmp_path / "f")) == 4
    # the folder is an ordinary Parquet dataset, in path order
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f"), df, check_like=False)


def test_no_output_in_memory(image_files):
    df = extract(image_files, LoggingStats(), partition_size=5, scheduler="sync")
    np.testing.assert_array_equal(df.iloc[:, 1:].to_numpy(), _expected(image_files))


def test_equals_one_shot_on_cluster(image_files, tmp_path, client):
    df = extract(image_files, LoggingStats(), output=tmp_path / "f", partition_size=3, client=client)
    np.testing.assert_array_equal(df.iloc[:, 1:].to_numpy(), _expected(image_files))
    assert df["path"].tolist() == image_files
    path = extract(image_files, LoggingStats(), output=tmp_path / "f", partition_size=3,
                   client=client, return_frame=False)
    assert path == tmp_path / "f"


def test_resume_after_error_sync(image_files, tmp_path):
    """An error in partition 2 of 4 keeps parts 0 and 1; the rerun computes only 2 and 3."""
    logs, flag, out = tmp_path / "log", tmp_path / "flag", tmp_path / "f"
    logs.mkdir()
    flag.touch()
    params = dict(log_dir=str(logs), poison=image_files[9], flag=str(flag))
    with pytest.raises(RuntimeError, match="injected failure"):
        extract(image_files, LoggingStats(**params), output=out, partition_size=4, scheduler="sync")
    assert [n.split("-")[1] for n in _parts(out)] == ["00000", "00001"]
    assert not list(out.glob(".*tmp"))
    flag.unlink()
    for p in logs.iterdir():
        p.unlink()
    df = extract(image_files, LoggingStats(**params), output=out, partition_size=4, scheduler="sync")
    assert df.attrs["computed"] == [2, 3] and df.attrs["reused"] == [0, 1]
    assert _logged(logs) == sorted([image_files[8], image_files[12]])  # first paths of parts 2, 3
    one_shot = extract(image_files, LoggingStats(**params), output=tmp_path / "g", partition_size=4,
                       scheduler="sync")
    pd.testing.assert_frame_equal(df, one_shot)
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(tmp_path / "g"))


def test_resume_after_killed_process(image_files, tmp_path):
    """The extracting process dies (os._exit, like kill -9) in partition 2; the rerun, in
    another process, computes only the partitions whose files are missing."""
    logs, flag, out = tmp_path / "log", tmp_path / "flag", tmp_path / "f"
    logs.mkdir()
    flag.touch()
    # a half-written part of the dead run: must be ignored and cleaned
    out.mkdir()
    (out / f".part-00002-{'0' * 16}.parquet.dead.tmp").write_bytes(b"PAR1 truncated")
    params = dict(log_dir=str(logs), poison=image_files[9], flag=str(flag), crash=True)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        from test_distributed import LoggingStats
        from featbus.compute.distributed import extract
        extract({image_files!r}, LoggingStats(**{params!r}), output={str(out)!r},
                partition_size=4, scheduler="sync")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert [n.split("-")[1] for n in _parts(out)] == ["00000", "00001"]
    flag.unlink()
    for p in logs.iterdir():
        p.unlink()
    df = extract(image_files, LoggingStats(**params), output=out, partition_size=4, scheduler="sync")
    assert df.attrs["computed"] == [2, 3]
    assert _logged(logs) == sorted([image_files[8], image_files[12]])
    assert not list(out.glob(".*tmp"))
    np.testing.assert_array_equal(df.iloc[:, 1:].to_numpy(), _expected(image_files))


def test_resume_after_error_on_cluster(image_files, tmp_path, client):
    """On 2 workers a failing partition stops the run; whatever finished stays, and the rerun
    computes exactly the partitions missing on disk."""
    logs, flag, out = tmp_path / "log", tmp_path / "flag", tmp_path / "f"
    logs.mkdir()
    flag.touch()
    params = dict(log_dir=str(logs), poison=image_files[4], flag=str(flag))
    with pytest.raises(RuntimeError, match="injected failure") as err:
        extract(image_files, LoggingStats(**params), output=out, partition_size=2, client=client)
    assert "1 of 7 partition(s) to compute failed; 6 finished" in "".join(err.value.__notes__)
    done = {int(n.split("-")[1]) for n in _parts(out)}
    assert done == {0, 1, 3, 4, 5, 6}  # the others finished and were written before the raise
    flag.unlink()
    for p in logs.iterdir():
        p.unlink()
    df = extract(image_files, LoggingStats(**params), output=out, partition_size=2, client=client)
    missing = sorted(set(range(7)) - done)
    assert df.attrs["computed"] == missing and df.attrs["reused"] == sorted(done)
    assert _logged(logs) == sorted(image_files[2 * i] for i in missing)
    np.testing.assert_array_equal(df.iloc[:, 1:].to_numpy(), _expected(image_files))
    assert df["path"].tolist() == image_files


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_local_pool_finishes_other_partitions_then_raises(image_files, tmp_path, scheduler):
    flag, out = tmp_path / "flag", tmp_path / "f"
    flag.touch()
    params = dict(poison=image_files[0], flag=str(flag))
    with pytest.raises(RuntimeError, match="injected failure"):
        extract(image_files, LoggingStats(**params), output=out, partition_size=4,
                scheduler=scheduler, n_workers=2)
    assert [n.split("-")[1] for n in _parts(out)] == ["00001", "00002", "00003"]
    flag.unlink()
    df = extract(image_files, LoggingStats(**params), output=out, partition_size=4, scheduler=scheduler)
    assert df.attrs["computed"] == [0]
    np.testing.assert_array_equal(df.iloc[:, 1:].to_numpy(), _expected(image_files))


def test_bad_file_raises_with_global_index(image_files, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    paths = image_files[:6] + [str(bad)] + image_files[6:8]
    with pytest.raises(ImageError) as err:
        extract(paths, LoggingStats(), output=tmp_path / "f", partition_size=4, scheduler="sync")
    assert err.value.index == 6 and "broken.png" in str(err.value)
    assert len(_parts(tmp_path / "f")) == 1  # partition 0 finished before the error


def test_on_error_skip_reports_every_time(image_files, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    paths = image_files[:5] + [str(bad)] + image_files[5:8]
    with pytest.warns(UserWarning, match=r"skipped 1 of 9 image\(s\): image 5 .*broken.png"):
        df = extract(paths, LoggingStats(), output=tmp_path / "f", partition_size=4, scheduler="sync",
                     on_error="skip")
    assert df["path"].tolist() == image_files[:8]
    np.testing.assert_array_equal(df.iloc[:, 1:].to_numpy(), _expected(image_files[:8]))
    assert [s[:2] for s in df.attrs["skipped"]] == [(5, str(bad))]
    with pytest.warns(UserWarning, match="skipped 1 of 9"):  # reused parts still report it
        again = extract(paths, LoggingStats(), output=tmp_path / "f", partition_size=4,
                        scheduler="sync", on_error="skip")
    assert again.attrs["computed"] == [] and [s[0] for s in again.attrs["skipped"]] == [5]


def test_other_extraction_in_folder_is_refused(image_files, tmp_path):
    out = tmp_path / "f"
    extract(image_files, LoggingStats(), output=out, partition_size=4, scheduler="sync")
    with pytest.raises(ValueError, match="different extraction.*overwrite=True"):
        extract(image_files, LoggingStats(), output=out, partition_size=5, scheduler="sync")
    df = extract(image_files, LoggingStats(), output=out, partition_size=5, scheduler="sync",
                 overwrite=True)
    assert len(_parts(out)) == 3 and df.attrs["computed"] == [0, 1, 2]
    # n_jobs changes how, not what: the parts are reused
    assert extract(image_files, LoggingStats(n_jobs=2), output=out, partition_size=5,
                   scheduler="sync").attrs["reused"] == [0, 1, 2]


def test_content_key():
    a = content_key(LoggingStats(), ["a", "b"])
    assert a == content_key(LoggingStats(n_jobs=4), ["a", "b"])
    assert a != content_key(LoggingStats(), ["a", "c"])
    assert a != content_key(LoggingStats(region="bbox"), ["a", "b"])


def test_bad_arguments(image_files, tmp_path):
    with pytest.raises(ValueError, match="single path"):
        extract(image_files[0], LoggingStats())
    with pytest.raises(ValueError, match=r"paths\[1\] is a ndarray"):
        extract([image_files[0], np.zeros((8, 8))], LoggingStats())
    with pytest.raises(ValueError, match="no files"):
        extract([], LoggingStats())
    with pytest.raises(ValueError, match="partition_size"):
        extract(image_files, LoggingStats(), partition_size=0)
    with pytest.raises(ValueError, match="scheduler"):
        extract(image_files, LoggingStats(), scheduler="gpu")
    with pytest.raises(ValueError, match="on_error"):
        extract(image_files, LoggingStats(), on_error="ignore")
    with pytest.raises(ValueError, match="return_frame=False"):
        extract(image_files, LoggingStats(), return_frame=False)


def test_unnamed_transformer_output_gets_x_names(image_files):
    from sklearn.preprocessing import FunctionTransformer

    ft = FunctionTransformer(lambda paths: np.array([[len(p), 1.0] for p in paths]))
    df = extract(image_files, ft, partition_size=5, scheduler="sync")
    assert list(df.columns) == ["path", "x0", "x1"]


def test_grid_search_on_dask_backend(client):
    """GridSearchCV fans its fits out to the cluster through joblib; results equal local ones."""
    import joblib
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from featbus import make_phantoms

    ph = make_phantoms(18, image_size=32, random_state=0)
    pipe = Pipeline([("f", LoggingStats()), ("s", StandardScaler()), ("c", SVC())])
    grid = {"c__C": [0.1, 1.0, 10.0]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    with joblib.parallel_config(backend="dask"):
        remote = GridSearchCV(pipe, grid, cv=cv, n_jobs=-1).fit(ph.data, ph.target)
    local = GridSearchCV(pipe, grid, cv=cv, n_jobs=1).fit(ph.data, ph.target)
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    # the work really ran on the workers: each one has imported the test's transformer
    seen = client.run(lambda: "test_distributed" in sys.modules)
    assert any(seen.values())


def test_featbus_extractor_on_busi(busi_root, tmp_path):
    from featbus.features.lbp import LBPFeatures

    paths = sorted(str(p) for p in (busi_root / "benign").glob("*).png"))[:6]
    lbp = LBPFeatures(radii=(1,))
    df = extract(paths, lbp, output=tmp_path / "f", partition_size=4, scheduler="sync")
    np.testing.assert_array_equal(df.iloc[:, 1:].to_numpy(), LBPFeatures(radii=(1,)).fit_transform(paths))
    assert list(df.columns[1:]) == list(lbp.get_feature_names_out())
