"""``featbus extract ... --dask ADDRESS``: the features on a Dask cluster, in resumable partitions.

The images are cut into partitions of :data:`PARTITION_SIZE` entries, in the table's order. Each
partition is one task: a worker computes its rows and writes them to ``OUT.parts/part-<i>-<key>.npy``
under a temporary name, renamed when complete, so a part file that exists is a whole partition. The
key hashes the fitted extractors' settings, the entries' names and their pixels and masks, so a part
of another extraction is never reused. The same command again computes only the partitions whose
file is missing (an interrupted run resumed, a killed worker losing only its partition); the table
is assembled from the parts when every one is there.
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

__all__ = ["PARTITION_SIZE", "check_address", "parts_folder", "extract_on_cluster"]

#: Entries a partition: what an interrupted run or a killed worker loses at most. Fixed (not from
#: the number of workers), so that a run resumed on another cluster reuses the same parts.
PARTITION_SIZE = 32

_INSTALL = 'pip install "featbus[dask]"'
_LOCAL = re.compile(r"^local:(\d+)$")
_SCHEME = re.compile(r"^(tcp|tls|ucx|ws|wss|inproc)://[^\s/:]+(:\d+)?/?$")
_PART = re.compile(r"^part-(\d{5,})-([0-9a-f]{16})\.npy$")


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
        from ..compute.distributed import local_client

        client = local_client(n_workers=int(spec[1]), threads_per_worker=1)
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


def _part_name(index: int, key: str) -> str:
    return f"part-{index:05d}-{key}.npy"


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


def _settled(folder: Path, keys: list[str]) -> set[int]:
    """The partitions already written; leftovers of interrupted writes and parts of another
    extraction (another key) are removed: the folder belongs to this output file."""
    folder.mkdir(parents=True, exist_ok=True)
    done = set()
    for f in folder.iterdir():
        m = _PART.match(f.name)
        if m and int(m.group(1)) < len(keys) and keys[int(m.group(1))] == m.group(2):
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
    from ..progress import progress_bar

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
        with _client(spec) as client:
            from distributed import as_completed

            shipped = client.scatter(union, broadcast=True, hash=False)  # once a worker, not once a task
            run = uuid.uuid4().hex[:8]
            futures = {client.submit(_compute_partition, shipped, records[bounds[i][0]:bounds[i][1]], str(folder),
                                     i, keys[i], key=f"featbus-extract-{i:05d}-{run}", retries=1): i for i in todo}
            with progress_bar(progress, len(bounds), "featbus extract --dask", "part", initial=len(done)) as bar:
                try:
                    for fut in as_completed(list(futures)):
                        fut.result()
                        bar.update()
                except BaseException as exc:  # Ctrl-C or a failed partition: the written parts stay
                    client.cancel([f for f in futures if not f.done()])
                    if isinstance(exc, KeyboardInterrupt):
                        kept = sum((folder / _part_name(i, k)).is_file() for i, k in enumerate(keys))
                        print(f"{kept} of {len(bounds)} partitions written in {folder} (and those the workers finish "
                              "while stopping); the same command again computes only the missing", file=sys.stderr)
                    raise
    rows = []
    for i, key in enumerate(keys):
        part = folder / _part_name(i, key)
        X = np.load(part, allow_pickle=False)
        if X.ndim != 2 or X.shape[0] != bounds[i][1] - bounds[i][0]:
            raise CLIError(f"{part}: {X.shape} is not the partition's {bounds[i][1] - bounds[i][0]} rows; "
                           f"delete it and run the command again")
        rows.append(X)
    return np.vstack(rows)
