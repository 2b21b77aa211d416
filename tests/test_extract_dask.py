"""``featbus extract ... --dask ADDRESS``: a LocalCluster writes the plain extract's rows, in resumable parts."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("distributed")

from featbus.cli import main  # noqa: E402
from featbus.cli._dask import PARTITION_SIZE, parts_folder  # noqa: E402

#: Rows equal within this (the same code on the same pixels, in another process).
TOL = 1e-9


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two class folders of small noise images: 70 images, so 3 partitions (the last one short)."""
    root = tmp_path_factory.mktemp("dask-data")
    rng = np.random.default_rng(0)
    for cls, n in (("benign", 40), ("malignant", 30)):
        (root / cls).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (24, 28), dtype=np.uint8)).save(root / cls / f"{cls}_{i}.png")
    return root


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """The same kind of folder, its file names saying the patient (``b003_1.png``: patient ``b003``), so that no
    group is read from the pixels: the cluster's workers read the images (70, 35 patients, 3 partitions)."""
    root = tmp_path_factory.mktemp("dask-named")
    rng = np.random.default_rng(1)
    for cls, n in (("benign", 40), ("malignant", 30)):
        (root / cls).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (24, 28), dtype=np.uint8)).save(root / cls / f"{cls[0]}{i // 2:03d}_"
                                                                                               f"{i % 2}.png")
    return root


def _counts(err: str) -> tuple[int, int, int]:
    m = re.search(r"(\d+) of (\d+) partitions already written in .*; computing (\d+)", err)
    assert m, err
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _rows(path):
    frame = pd.read_parquet(path)
    return frame, frame[[c for c in frame.columns if "__" in c]].to_numpy()


def _same_rows(plain: Path, dask: Path) -> np.ndarray:
    """The Dask table's rows are the plain table's: 70 rows, the same columns, paths, labels, targets and groups,
    the features within :data:`TOL`; its features returned."""
    a, Xa = _rows(plain)
    b, Xb = _rows(dask)
    assert len(b) == 70 and list(a.columns) == list(b.columns)
    for col in ("path", "label", "target", "group"):
        assert a[col].tolist() == b[col].tolist(), col
    np.testing.assert_allclose(Xb, Xa, rtol=0, atol=TOL)
    return Xb


def test_local_cluster_writes_the_plain_rows_and_a_rerun_computes_nothing(folder, tmp_path, capsys):
    plain, dask = tmp_path / "plain.parquet", tmp_path / "dask.parquet"
    assert main(["extract", str(folder), "-f", "intensity", "-o", str(plain), "-q"]) == 0
    assert main(["extract", str(folder), "-f", "intensity", "-o", str(dask), "-q", "--dask", "local:2"]) == 0
    assert _counts(capsys.readouterr().err) == (0, 3, 3)
    Xb = _same_rows(plain, dask)
    assert (tmp_path / "dask.parquet.settings.json").is_file()
    assert len(list(parts_folder(dask).glob("part-*.npy"))) == 3 == -(-70 // PARTITION_SIZE)

    # the same command again (--overwrite, as for any existing table): every partition reused
    assert main(["extract", str(folder), "-f", "intensity", "-o", str(dask), "-q", "--dask", "local:2",
                 "--overwrite"]) == 0
    assert _counts(capsys.readouterr().err) == (3, 3, 0)
    np.testing.assert_array_equal(_rows(dask)[1], Xb)

    # other settings: the parts of the intensity table are not reused, they are replaced
    assert main(["extract", str(folder), "-f", "glcm,lbp", "-o", str(plain), "-q", "--overwrite"]) == 0
    assert main(["extract", str(folder), "-f", "glcm,lbp", "-o", str(dask), "-q", "--dask", "local:1",
                 "--overwrite"]) == 0
    assert _counts(capsys.readouterr().err) == (0, 3, 3)
    assert len(list(parts_folder(dask).glob("part-*.npy"))) == 3
    np.testing.assert_allclose(_rows(dask)[1], _rows(plain)[1], rtol=0, atol=TOL)


def _arrays(value) -> list:
    """The NumPy arrays inside a task's arguments (tuples, lists, dicts, records' fields)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _arrays(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in _arrays(v)]
    return _arrays(vars(value)) if hasattr(value, "__dict__") and not isinstance(value, type) else []


def test_the_tasks_carry_the_entries_and_the_workers_read_the_pixels(named, tmp_path, capsys, monkeypatch):
    """Where no group is read from the pixels, each task carries its partition's entries (paths), no pixels: this
    process decodes one image (to fit the extractors), the workers the 70; the rows are the plain extract's."""
    import distributed

    from featbus.datasets import _release_bunch

    plain, dask = tmp_path / "plain.parquet", tmp_path / "dask.parquet"
    assert main(["extract", str(named), "-f", "intensity", "-o", str(plain), "-q"]) == 0
    submitted, decoded = [], []
    submit, read = distributed.Client.submit, _release_bunch._read_keeping_image

    def spy_submit(self, func, *args, **kwargs):
        submitted.append(args)
        return submit(self, func, *args, **kwargs)

    def spy_read(item, index):
        decoded.append(item[0])
        return read(item, index)

    monkeypatch.setattr(distributed.Client, "submit", spy_submit)
    monkeypatch.setattr(_release_bunch, "_read_keeping_image", spy_read)
    assert main(["extract", str(named), "-f", "intensity", "-o", str(dask), "-q", "--dask", "local:2"]) == 0
    assert _counts(capsys.readouterr().err) == (0, 3, 3)
    assert len(submitted) == 3 and [len(args[1]) for args in submitted] == [32, 32, 6]
    assert not any(_arrays(args[1]) for args in submitted)  # the entries: (path, masks, pixel size)
    assert all(isinstance(entry[0], (str, os.PathLike)) for args in submitted for entry in args[1])
    assert len(decoded) == 1
    Xb = _same_rows(plain, dask)
    assert len(list(parts_folder(dask).glob("part-*.npz"))) == 3

    submitted.clear()  # the same command again: every partition reused, nothing sent
    assert main(["extract", str(named), "-f", "intensity", "-o", str(dask), "-q", "--dask", "local:2",
                 "--overwrite"]) == 0
    assert _counts(capsys.readouterr().err) == (3, 3, 0) and not submitted
    np.testing.assert_array_equal(_rows(dask)[1], Xb)


@pytest.mark.parametrize("which", ["folder", "named"])
def test_an_interrupted_run_resumes_with_no_half_written_part_or_table(which, request, tmp_path, capsys,
                                                                      monkeypatch):
    """Ctrl-C midway, with the pixels read here (groups from near-duplicates) or by the workers: the table is
    not written, the line says how many partitions are kept and that the same command resumes, which it does."""
    import featbus.progress as progress

    folder = request.getfixturevalue(which)
    out = tmp_path / "f.parquet"
    real = progress.progress_bar

    class Interrupting:
        """The progress bar, Ctrl-C'd at the first finished partition."""

        def __init__(self, *args, **kwargs):
            self.bar = real(*args, **kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.bar.close()

        def update(self, n=1):
            raise KeyboardInterrupt

    monkeypatch.setattr(progress, "progress_bar", Interrupting)
    assert main(["extract", str(folder), "-f", "intensity", "-o", str(out), "-q", "--dask", "local:1"]) == 130
    monkeypatch.undo()
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert not out.exists()
    parts = parts_folder(out)
    written = sorted(parts.glob("part-*.np[yz]"))
    assert 1 <= len(written) <= 3
    assert last == (f"interrupted: the table was not written; {len(written)} of 3 partitions are kept in {parts}: "
                    f"the same command again computes only the {3 - len(written)} missing"), last
    # a worker killed mid-write leaves its temporary file: it is cleared, never read
    (parts / f".{written[0].name}.dead.tmp").write_bytes(b"\x93NUMPY half")
    written[0].unlink()
    assert main(["extract", str(folder), "-f", "intensity", "-o", str(out), "-q", "--dask", "local:1"]) == 0
    done, total, computed = _counts(capsys.readouterr().err)
    assert total == 3 and done == len(written) - 1 and computed == 3 - done
    assert sorted(p.name for p in parts.iterdir()) == sorted(p.name for p in parts.glob("part-*.np[yz]"))
    assert len(pd.read_parquet(out)) == 70


@pytest.mark.parametrize("address", ["tcp//host:8786", "local:0", "local:two", "host:8786", "http://x"])
def test_a_bad_address_is_one_line(folder, tmp_path, capsys, address):
    assert main(["extract", str(folder), "-f", "intensity", "-o", str(tmp_path / "f.parquet"), "-q",
                 "--dask", address]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--dask" in err, err
    assert not (tmp_path / "f.parquet.parts").exists()


def test_without_dask_the_line_names_what_to_install(folder, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["extract", str(folder), "-f", "intensity", "-o", str(tmp_path / "f.parquet"), "-q",
                 "--dask", "local:2"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "featbus[dask]"' in err, err


def _write_to_stderr() -> None:
    import sys

    sys.stderr.write("python stderr of a worker\n")
    sys.stderr.flush()
    os.write(2, b"fd 2 of a worker\n")


def test_the_commands_own_cluster_says_nothing_of_its_own(folder, tmp_path, capfd):
    """The local cluster --dask local:N starts is the command's: with port 8787 held by another program its
    scheduler takes a free loopback port without a warning, and its workers' stderr (where Dask prints a
    cancelled task's traceback on a Ctrl-C) reaches no terminal; the command's own lines are all there is."""
    import socket

    from featbus.cli._dask import _client

    with socket.socket() as held:
        try:
            held.bind(("127.0.0.1", 8787))
            held.listen()
        except OSError:  # held already, by another program: the case itself
            pass
        assert main(["extract", str(folder), "-f", "intensity", "-o", str(tmp_path / "f.parquet"), "--dask",
                     "local:1"]) == 0
    err = capfd.readouterr().err
    assert "8787" not in err and "warning" not in err.lower() and "distributed" not in err, err
    with _client(("local", 1)) as client:
        client.run(_write_to_stderr)
    err = capfd.readouterr().err
    assert "of a worker" not in err, err
