"""``featbus extract ... --dask ADDRESS``: the features on a Dask cluster, in resumable partitions.

The entries are cut into partitions of :data:`PARTITION_SIZE`, in the table's order. Each partition is one
task: a worker computes its rows and writes them to ``OUT.parts/part-<i>-<key>.npz`` (or ``.npy``) under a
temporary name, renamed when complete, so a part file that exists is a whole partition. Where the features
read the image alone, the tasks carry the entries (a file's path, an archive's member) and the workers
decode them (:class:`EntriesOnCluster`: ``.npz`` parts, keyed by the extractors' settings and the entries'
names, sizes and modification times); where the pixels are needed first (near-duplicate groups,
``--preprocess``, masks) the command reads them and the tasks carry them (:func:`extract_on_cluster`:
``.npy`` parts, keyed by the pixels and masks). A part of another extraction is never reused. The same
command again computes only the partitions whose file is missing (an interrupted run resumed, a killed
worker losing only its partition); the table is assembled from the parts when every one is there.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ._common import CLIError

__all__ = ["PARTITION_SIZE", "check_address", "parts_folder", "extract_on_cluster", "EntriesOnCluster"]

#: Entries a partition: what an interrupted run or a killed worker loses at most. Fixed (not from
#: the number of workers), so that a run resumed on another cluster reuses the same parts.
PARTITION_SIZE = 32

_INSTALL = 'pip install "featbus[dask]"'
_LOCAL = re.compile(r"^local:(\d+)$")
_SCHEME = re.compile(r"^(tcp|tls|ucx|ws|wss|inproc)://[^\s/:]+(:\d+)?/?$")
_PART = re.compile(r"^part-(\d{5,})-([0-9a-f]{16})\.(npy|npz)$")


def check_address(address: str) -> tuple[str, int | str]:
    """``("local", N)`` for ``local:N``, ``("scheduler", ADDRESS)`` for a scheduler address.

    Raises :class:`CLIError` (one line) for a mistyped address, or when Dask is not installed.
    """
    text = str(address).strip()
    m = _LOCAL.match(text)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise CLIError(f"--dask {address!r}: local:N needs N >= 1 worker processes (e.g. local:2)")
        spec: tuple[str, int | str] = ("local", n)
    elif _SCHEME.match(text):
        spec = ("scheduler", text.rstrip("/"))
    else:
        hint = f" (did you mean tcp://{text}?)" if re.match(r"^[\w.-]+:\d+$", text) else ""
        raise CLIError(f"--dask {address!r}: give a scheduler address such as tcp://host:8786, or local:N for "
                       f"N worker processes on this machine{hint}")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise CLIError(f"--dask needs Dask's distributed scheduler: {_INSTALL}") from None
    return spec


def parts_folder(out: Path) -> Path:
    """The folder beside ``out`` that holds its partitions: ``OUT.parts``."""
    return out.with_name(out.name + ".parts")


@contextmanager
def _client(spec: tuple[str, int | str]):
    from distributed import Client

    if spec[0] == "local":
        import logging

        from ..compute.distributed import local_client

        # the cluster is the command's own: its log lines (a task cancelled by a Ctrl-C, a worker killed when it
        # outlives the close by 4 s) and its workers' stderr are not the user's; the command says what became of
        # every row (featbus.cli._dask_worker)
        client = local_client(n_workers=int(spec[1]), threads_per_worker=1, silence_logs=logging.ERROR,
                              preload=["featbus.cli._dask_worker"])
    else:
        try:
            client = Client(spec[1], timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise CLIError(f"--dask {spec[1]}: no Dask scheduler answered there ({type(exc).__name__}); start one "
                           f"with `dask scheduler` and workers with `dask worker {spec[1]}`") from None
    try:
        yield client
    finally:
        client.close()


def _keys(union, records: list, bounds: list[tuple[int, int]]) -> list[str]:
    """Each partition's key: the extractors' settings, the entries' names, pixels and masks."""
    import joblib

    from ..compute.distributed import content_key

    keys = []
    for a, b in bounds:
        chunk = records[a:b]
        names = [str(getattr(r, "path", None) or f"#{a + j}") for j, r in enumerate(chunk)]
        pixels = joblib.hash([(np.asarray(r.image), None if r.mask is None else np.asarray(r.mask)) for r in chunk])
        keys.append(joblib.hash((content_key(union, names), pixels, a, b))[:16])
    return keys


def _part_name(index: int, key: str, suffix: str = ".npy") -> str:
    return f"part-{index:05d}-{key}{suffix}"


def _compute_partition(union, records: list, folder: str, index: int, key: str) -> int:
    """One partition's rows, written whole (temporary name, then an atomic rename). Runs on a worker."""
    X = np.asarray(union.transform(records), dtype=np.float64)
    final = os.path.join(folder, _part_name(index, key))
    tmp = os.path.join(folder, f".{_part_name(index, key)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, X, allow_pickle=False)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return X.shape[0]


def _settled(folder: Path, keys: list[str], suffix: str = ".npy") -> set[int]:
    """The partitions already written; leftovers of interrupted writes and parts of another
    extraction (another key) are removed: the folder belongs to this output file."""
    folder.mkdir(parents=True, exist_ok=True)
    done = set()
    for f in folder.iterdir():
        m = _PART.match(f.name)
        if m and int(m.group(1)) < len(keys) and keys[int(m.group(1))] == m.group(2) and f.suffix == suffix:
            done.add(int(m.group(1)))
        elif m or (f.name.startswith(".part-") and f.name.endswith(".tmp")):
            f.unlink(missing_ok=True)
    return done


def extract_on_cluster(union, records: list, out: Path, address: str, progress) -> np.ndarray:
    """The feature matrix of ``records`` (fitted ``union``), computed on the Dask cluster at ``address``.

    Parameters
    ----------
    union : FamilyUnion
        The extractors, unfitted: they learn nothing from the images (no family scaling), so they
        are fitted here on the first two images only (a union's ``fit`` computes every row), then
        shipped once to every worker.
    records : list of ImageRecord
        The entries, in the table's order.
    out : Path
        The output table; its partitions go to :func:`parts_folder` ``(out)``.
    address : str
        ``tcp://host:port`` or ``local:N``.
    progress : bool or "auto"
        The command's progress setting (:func:`featbus.progress.progress_bar`).

    Returns
    -------
    X : ndarray of shape (n_records, n_features)
        The rows in the order of ``records``, as ``union.transform(records)``.
    """
    spec = check_address(address)
    if getattr(union, "family_scaling", None) not in (None, "none"):
        raise CLIError(f"--dask: family scaling ({union.family_scaling}) learns from every image; extract "
                       "without it (featbus extract writes unscaled columns) or without --dask")
    union.fit(records[:2])  # the names and widths; every row is computed on the cluster
    bounds = [(a, min(a + PARTITION_SIZE, len(records))) for a in range(0, len(records), PARTITION_SIZE)]
    keys = _keys(union, records, bounds)
    folder = parts_folder(out)
    done = _settled(folder, keys)
    todo = [i for i in range(len(bounds)) if i not in done]
    print(f"{len(done)} of {len(bounds)} partitions already written in {folder}; computing {len(todo)} "
          f"({PARTITION_SIZE} images each) on {address}", file=sys.stderr)
    if todo:
        run = uuid.uuid4().hex[:8]
        shipped = []

        def submit(client, i):
            if not shipped:  # once a worker, not once a task
                shipped.append(client.scatter(union, broadcast=True, hash=False))
            return client.submit(_compute_partition, shipped[0], records[bounds[i][0]:bounds[i][1]], str(folder),
                                 i, keys[i], key=f"featbus-extract-{i:05d}-{run}", retries=1)

        _run_partitions(spec, submit, todo, len(bounds), len(done), progress, folder,
                        [_part_name(i, k) for i, k in enumerate(keys)])
    rows = []
    for i, key in enumerate(keys):
        part = folder / _part_name(i, key)
        X = np.load(part, allow_pickle=False)
        if X.ndim != 2 or X.shape[0] != bounds[i][1] - bounds[i][0]:
            raise CLIError(f"{part}: {X.shape} is not the partition's {bounds[i][1] - bounds[i][0]} rows; "
                           f"delete it and run the command again")
        rows.append(X)
    return np.vstack(rows)


def _interrupted_line(folder: Path, names: list[str], total: int) -> str:
    """What Ctrl-C ends ``--dask`` with: the table not written, the partitions kept, how to resume."""
    kept = sum((folder / name).is_file() for name in names)
    return (f"interrupted: the table was not written; {kept} of {total} partitions are kept in {folder}: the same "
            f"command again computes only the {total - kept} missing")


def _run_partitions(spec, submit, todo: list[int], total: int, done: int, progress, folder: Path,
                    names: list[str]) -> None:
    """Submit ``submit(client, i)`` for every partition ``i`` of ``todo`` and wait for them, with a progress bar.

    A Ctrl-C (or a failed partition) cancels the rest; the partitions written stay. After a Ctrl-C, once the
    cluster has stopped, the interrupt carries the line :func:`featbus.cli.main` ends with
    (:func:`_interrupted_line`: how many partitions are kept, and that the same command resumes)."""
    from ..progress import progress_bar

    try:
        with _client(spec) as client:
            from distributed import as_completed

            futures = [submit(client, i) for i in todo]
            with progress_bar(progress, total, "featbus extract --dask", "part", initial=done) as bar:
                try:
                    for fut in as_completed(futures):
                        fut.result()
                        bar.update()
                except BaseException:
                    client.cancel([f for f in futures if not f.done()])
                    raise
    except KeyboardInterrupt as exc:  # counted once the workers have stopped: what they finished is kept
        exc.featbus_line = _interrupted_line(folder, names, total)
        raise


def _entry_stamp(entry) -> tuple:
    """What tells an entry's file changed: its name, and the size and modification time of the file that holds
    it (an archive's, for a member), where it is a file here."""
    image = entry[0]
    holder = getattr(image, "archive", None) or getattr(image, "file", None) or image
    try:
        st = os.stat(holder)
        stat: tuple = (st.st_size, st.st_mtime_ns)
    except (OSError, TypeError):
        stat = ()
    return (os.fspath(image), [os.fspath(m) if isinstance(m, (str, os.PathLike)) else repr(m) for m in entry[1]],
            entry[2], stat)


def _described_partition(work, entries: list, folder: str, index: int, key: str) -> int:
    """One partition's entries read and described by ``work`` on a worker, written whole to one ``.npz`` (an
    atomic rename): ``rows`` (the described entries' rows) and ``items`` (JSON: each entry's error, or its
    working shape, dropped-mask reason and file metadata), so that the table is assembled from the parts alone."""
    import json

    rows, items = [], []
    for j, entry in enumerate(entries):
        res = work(entry, j)
        if isinstance(res[0], str):
            items.append({"error": [res[1], res[2]]})
            continue
        rows.append(np.asarray(res[0], dtype=np.float64))
        items.append({"shape": list(res[1]), "why": res[2], "meta": res[3]})
    X = np.vstack(rows) if rows else np.zeros((0, 0))
    final = os.path.join(folder, _part_name(index, key, ".npz"))
    tmp = os.path.join(folder, f".{_part_name(index, key, '.npz')}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, rows=X, items=np.array(json.dumps(items)))
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return len(entries)


def _read_part(part: Path, n: int) -> list:
    """A part's results, in :func:`featbus.datasets._release_bunch._read_described`'s form."""
    import json

    with np.load(part, allow_pickle=False) as z:
        X, items = z["rows"], json.loads(str(z["items"]))
    if len(items) != n or X.shape[0] != sum("error" not in it for it in items):
        raise CLIError(f"{part}: not the partition's {n} entries; delete it and run the command again")
    out, k = [], 0
    for it in items:
        if "error" in it:
            out.append(("error", *it["error"]))
            continue
        meta = it["meta"]
        if "file_shape" in meta:
            meta["file_shape"] = tuple(meta["file_shape"])
        out.append((X[k], tuple(it["shape"]), it["why"], meta))
        k += 1
    return out


class EntriesOnCluster:
    """A release's entries read and described on a Dask cluster: the ``run`` of
    :func:`featbus.datasets._release_bunch.describing` for ``featbus extract --dask``.

    The tasks carry the entries (a file's path, an archive's member, its masks' paths, its pixel size) and the
    fitted extractors, never pixels: each worker decodes its partition's images itself. The extractors are
    fitted here on the first image that reads (they learn nothing from it: no family scaling), the only one
    this process decodes. Each partition of :data:`PARTITION_SIZE` entries is written whole
    (:func:`_described_partition`), keyed by the extractors' settings and the entries' names, sizes and
    modification times; the same command again computes only the partitions missing.

    Parameters
    ----------
    address : str
        ``tcp://host:port`` or ``local:N``.
    out : Path
        The output table; its partitions go to :func:`parts_folder` ``(out)``.
    progress : bool or "auto"
        The command's progress setting.
    """

    def __init__(self, address: str, out: Path, progress):
        self.spec = check_address(address)
        self.address, self.out, self.progress = address, Path(out), progress

    def __call__(self, describer, work, entries: list) -> list:
        import joblib

        from ..compute.distributed import content_key

        head = []
        while len(head) < len(entries) and not describer.fitted:
            head.append(work(entries[len(head)], len(head)))
        if not describer.fitted:  # no image read: every entry's error is here already
            return head
        bounds = [(a, min(a + PARTITION_SIZE, len(entries))) for a in range(0, len(entries), PARTITION_SIZE)]
        # keyed by the rows' layout too (each ends with the image's look): a partition of rows without one is not read
        keys = [joblib.hash((content_key(describer.union, [os.fspath(e[0]) for e in entries[a:b]]),
                             [_entry_stamp(e) for e in entries[a:b]], a, b,
                             getattr(describer, "layout", None)))[:16] for a, b in bounds]
        names = [_part_name(i, k, ".npz") for i, k in enumerate(keys)]
        folder = parts_folder(self.out)
        done = _settled(folder, keys, ".npz")
        todo = [i for i in range(len(bounds)) if i not in done]
        print(f"{len(done)} of {len(bounds)} partitions already written in {folder}; computing {len(todo)} "
              f"({PARTITION_SIZE} images each) on {self.address}", file=sys.stderr)
        if todo:
            run = uuid.uuid4().hex[:8]

            def submit(client, i):
                a, b = bounds[i]
                return client.submit(_described_partition, work, entries[a:b], str(folder), i, keys[i],
                                     key=f"featbus-extract-{i:05d}-{run}", retries=1)

            _run_partitions(self.spec, submit, todo, len(bounds), len(done), self.progress, folder, names)
        results = []
        for (a, b), name in zip(bounds, names):
            results += _read_part(folder / name, b - a)
        return results
