"""Feature extraction over many files as a Dask computation, written to Parquet incrementally.

:func:`extract` splits a list of image files into partitions, runs ``transformer.transform``
on each partition (on a Dask cluster when a ``client`` is given, otherwise in this process or
in local threads) and writes each partition's features to its own Parquet file as soon as it
is done. A crash, a killed worker or a bad file loses only the unfinished partitions: run the
same call again and it computes just the missing ones, then returns the whole table.

Part files are named ``part-<index>-<key>.parquet`` where ``key`` hashes the partition's paths,
the transformer's class and parameters and the featbus version, so a part computed by another
transformer, another partitioning or another file list is never reused by mistake. Each part
is written to a temporary name and renamed when complete (an atomic rename on POSIX and
Windows), so a part file that exists is a whole part.

Grid searches and cross-validation run on a Dask cluster through joblib's Dask backend; no
featbus code is needed for it::

    import joblib
    with joblib.parallel_config(backend="dask"):
        GridSearchCV(pipe, grid, cv=cv, n_jobs=-1).fit(X, y)

Dask (``dask``, ``distributed``) and ``pyarrow`` are optional dependencies (the ``dask`` extra);
they are imported only when used.
"""

from __future__ import annotations

import json
import os
import re
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._records import ImageError, _PathLike
from .._registry import EXECUTION_PARAMS
from .._version import __version__
from ..progress import find_stack_level, progress_bar

__all__ = ["extract", "local_client", "content_key"]

_PART_RE = re.compile(r"^part-(\d{5,})-([0-9a-f]{16})\.parquet$")
_META_KEY = b"featbus"
_SCHEDULERS = ("sync", "threads", "processes")


def _params_for_key(transformer) -> dict:
    params = transformer.get_params(deep=True) if hasattr(transformer, "get_params") else {}
    out = {}
    for name, value in params.items():
        if name.rsplit("__", 1)[-1] in EXECUTION_PARAMS:  # how, not what, is computed
            continue
        if hasattr(value, "get_params"):  # nested estimators: their own params are listed too
            value = (type(value).__module__, type(value).__qualname__)
        elif isinstance(value, (list, tuple)) and any(hasattr(v, "get_params") for v in
                                                       (s[-1] if isinstance(s, tuple) else s for s in value)):
            # Pipeline steps: keep the step names and classes, the step params are listed apart
            value = [(s[0], type(s[-1]).__qualname__) if isinstance(s, tuple) else type(s).__qualname__
                     for s in value]
        elif callable(value) and not isinstance(value, type):  # functions: by name (lambdas do not pickle)
            value = (getattr(value, "__module__", None), getattr(value, "__qualname__", repr(value)))
        out[name] = value
    return out


def content_key(transformer, paths: Sequence[str] = ()) -> str:
    """Hash identifying what a partition holds: the paths, the transformer and featbus's version.

    Parameters that change only how the work runs (``n_jobs``, ``verbose``) are left out, so
    a rerun with another degree of parallelism still reuses the finished parts.

    Parameters
    ----------
    transformer : estimator
        A scikit-learn transformer (fitted or not; fitted state is not hashed).
    paths : sequence of str
        The partition's file paths, in order.

    Returns
    -------
    key : str
        16 hexadecimal characters.

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> k = content_key(StandardScaler(), ["a.png", "b.png"])
    >>> len(k), k == content_key(StandardScaler(), ["a.png", "b.png"])
    (16, True)
    >>> k == content_key(StandardScaler(with_mean=False), ["a.png", "b.png"])
    False
    """
    import joblib

    cls = type(transformer)
    payload = (__version__, cls.__module__, cls.__qualname__, _params_for_key(transformer),
               [os.fspath(p) for p in paths])
    return joblib.hash(payload)[:16]


def _check_paths(paths) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        raise ValueError("paths is a single path; pass a list of image file paths, e.g. [paths].")
    try:
        paths = list(paths)
    except TypeError:
        raise ValueError(f"paths must be a sequence of file paths, got {type(paths).__name__}") from None
    if not paths:
        raise ValueError("paths holds no files (0 samples); at least one is required.")
    out = []
    for i, p in enumerate(paths):
        if isinstance(p, bytes) or not isinstance(p, _PathLike):
            raise ValueError(f"paths[{i}] is a {type(p).__name__}; extract takes file paths "
                             "(str or os.PathLike), so that workers read the files themselves.")
        out.append(os.fspath(p))
    return out


def _is_fitted(transformer) -> bool:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(transformer)
    except NotFittedError:
        return False
    except TypeError:  # not an estimator: assume usable as is
        return True
    return True


def _feature_names(transformer, n_features: int) -> list[str]:
    names = None
    if hasattr(transformer, "get_feature_names_out"):
        try:
            names = [str(n) for n in transformer.get_feature_names_out()]
        except Exception:  # some transformers cannot name their output; fall back to x0, x1, ...
            names = None
    if names is None or len(names) != n_features:
        names = [f"x{i}" for i in range(n_features)]
    if "path" in names:
        raise ValueError("the transformer names a feature 'path', which extract uses for the file column")
    return names


def _part_name(index: int, key: str) -> str:
    return f"part-{index:05d}-{key}.parquet"


def _transform_rows(transformer, paths: list[str], start: int, on_error: str):
    """Features of one partition; ImageErrors are renumbered to the global image index."""
    def renumber(exc: ImageError, offset: int) -> ImageError:
        idx = None if exc.index is None else exc.index + offset
        if idx is None and exc.path in paths:  # errors raised by the file reader name only the path
            idx = offset + paths.index(exc.path)
        return ImageError(exc.reason, idx, exc.path)

    try:
        return np.asarray(_dense(transformer.transform(paths)), dtype=np.float64), list(range(len(paths))), []
    except ImageError as exc:
        if on_error == "raise":
            raise renumber(exc, start) from exc
    # on_error="skip": redo the partition one image at a time to find every bad file
    rows, kept, skipped = [], [], []
    for j, p in enumerate(paths):
        try:
            rows.append(np.asarray(_dense(transformer.transform([p])), dtype=np.float64)[0])
            kept.append(j)
        except ImageError as exc:
            skipped.append((start + j, p, exc.reason))
    return (np.vstack(rows) if rows else None), kept, skipped


def _dense(out):
    if hasattr(out, "to_numpy"):  # set_output(transform="pandas")
        return out.to_numpy()
    if hasattr(out, "toarray"):  # scipy sparse
        return out.toarray()
    return out


def _run_partition(transformer, index: int, start: int, paths: list[str], key: str,
                   names: list[str], output: str | None, on_error: str):
    """Compute one partition; write it atomically when ``output`` is set. Runs on a worker."""
    import pandas as pd

    X, kept, skipped = _transform_rows(transformer, paths, start, on_error)
    if X is None:
        X = np.empty((0, len(names)))
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"partition {index}: the transformer returned shape {X.shape}, expected "
                         f"({len(kept)}, {len(names)}) as when it was fitted")
    frame = pd.DataFrame(X, columns=names)
    frame.insert(0, "path", [paths[j] for j in kept])
    if output is None:
        return frame, skipped
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps({"index": index, "key": key, "n_paths": len(paths),
                                  "skipped": skipped}).encode()
    table = table.replace_schema_metadata(meta)
    final = os.path.join(output, _part_name(index, key))
    # write beside the final name, then rename: a part file that exists is always complete
    tmp = os.path.join(output, f".{_part_name(index, key)}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return None, skipped


def _read_part(file: str):
    import pyarrow.parquet as pq

    table = pq.read_table(file)
    info = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
    return table.to_pandas(), [tuple(s) for s in info.get("skipped", [])]


def _prepare_output(output: str | os.PathLike, expected: dict[int, str], overwrite: bool) -> set[int]:
    """Make the folder, drop leftovers of interrupted writes; return the finished partitions."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    for tmp in out.glob(".part-*.tmp"):  # a write that died before its rename
        tmp.unlink(missing_ok=True)
    done, foreign = set(), []
    for f in out.iterdir():
        m = _PART_RE.match(f.name)
        if not m:
            continue
        index, key = int(m.group(1)), m.group(2)
        if expected.get(index) == key and not overwrite:
            done.add(index)
        else:
            foreign.append(f)
    if foreign and not overwrite:
        shown = ", ".join(f.name for f in sorted(foreign)[:3]) + (" ..." if len(foreign) > 3 else "")
        raise ValueError(
            f"{out} holds {len(foreign)} part file(s) of a different extraction (other paths, "
            f"partition_size, transformer or parameters): {shown}. Pass overwrite=True to replace "
            "them, or choose another output folder.")
    for f in foreign:
        f.unlink()
    return done


def _partitions(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def extract(paths: Sequence[str | os.PathLike], transformer, *, output: str | os.PathLike | None = None,
            partition_size: int = 256, client=None, scheduler: str = "threads",
            n_workers: int | None = None, on_error: str = "raise", overwrite: bool = False,
            return_frame: bool = True, progress: bool | str = False):
    """Extract features from many image files as a Dask computation, resumable through Parquet.

    The paths are cut into partitions of ``partition_size`` files. Each partition is one task:
    a worker reads its files, runs ``transformer.transform`` on them and, when ``output`` is
    given, writes ``output/part-<index>-<key>.parquet`` atomically. Parts already in ``output``
    with the same key are not recomputed, so rerunning an interrupted call resumes it.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Image files, readable by the workers at these paths (a shared file system for a
        multi-machine cluster).
    transformer : transformer
        A featbus feature extractor, or any scikit-learn transformer (e.g. a
        :class:`~sklearn.pipeline.Pipeline` of preprocessing and features) that takes a list of
        paths and returns a 2-D array. If it is not fitted, it is fitted once here, on the
        driver, with ``transformer.fit(paths)`` (featbus extractors only check parameters and
        the input there), then shipped to the workers. A transformer that learns from data
        should be fitted beforehand.
    output : str or os.PathLike, optional
        Folder of the Parquet dataset. Without it nothing is written and nothing can be resumed.
    partition_size : int, default=256
        Files per partition: what a crash can lose at most, and the unit of work of a worker.
    client : distributed.Client, optional
        Run the partitions on this Dask cluster. Without it they run here, per ``scheduler``.
    scheduler : {"threads", "processes", "sync"}, default="threads"
        Where partitions run when ``client`` is None: a local pool of threads or of (spawned)
        processes, or ``"sync"``, a plain loop in this process, in partition order. None of
        them needs Dask.
    n_workers : int, optional
        Threads or processes of the local pool (default: Python's, from the number of cores).
    on_error : {"raise", "skip"}, default="raise"
        What a bad image (an :class:`featbus.ImageError`: unreadable file, wrong size, ...)
        does. ``"raise"``: the error names the image's global index and path; the other
        partitions still finish and are written first (``"sync"``: the loop stops there), so
        a rerun computes only the failed ones. ``"skip"``: the image gets no row; every
        skipped image is reported in one warning and in ``frame.attrs["skipped"]``, also on
        reruns (the list is stored in the part files).
    overwrite : bool, default=False
        Delete the part files in ``output`` and compute everything again. Without it, part files
        of a different extraction in ``output`` raise an error rather than being mixed in.
    return_frame : bool, default=True
        Return the features as a DataFrame; if False, return the ``output`` folder (read it
        later with ``pandas.read_parquet(output)``), so the driver never holds all features.
    progress : bool or "auto", default=False
        Show progress over the finished partitions (:func:`featbus.progress.progress_bar`: a
        tqdm bar; with ``"auto"``, plain lines every 30 s when standard error is not a terminal).

    Returns
    -------
    features : pandas.DataFrame or pathlib.Path
        One row per image in the order of ``paths`` (skipped images left out), a ``path``
        column and then the transformer's feature names (``x0, x1, ...`` when it has none).
        ``features.attrs`` holds ``"computed"`` and ``"reused"`` (partition indices) and
        ``"skipped"`` (``(index, path, reason)`` triples).

    Raises
    ------
    featbus.ImageError
        With ``on_error="raise"``, for the first bad image (its global index and path). Any
        other exception of a partition is raised the same way, after the others finished.
    ValueError
        For bad arguments, or when ``output`` holds parts of another extraction.

    Notes
    -----
    The result equals ``transformer.fit(paths).transform(paths)`` row for row: the same code
    runs on the same files, only elsewhere. Changing a file's content under the same path is
    not detected; use ``overwrite=True`` then.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> from featbus.compute.distributed import extract
    >>> from featbus.features.lbp import LBPFeatures
    >>> folder = tempfile.mkdtemp()
    >>> rng = np.random.default_rng(0)
    >>> paths = []
    >>> for i in range(5):
    ...     paths.append(f"{folder}/img{i}.png")
    ...     Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(paths[-1])
    >>> df = extract(paths, LBPFeatures(radii=(1,)), output=f"{folder}/feats",
    ...              partition_size=2, scheduler="sync")
    >>> df.shape, df.attrs["computed"]
    ((5, 11), [0, 1, 2])
    >>> extract(paths, LBPFeatures(radii=(1,)), output=f"{folder}/feats",
    ...         partition_size=2, scheduler="sync").attrs["reused"]  # rerun: nothing to do
    [0, 1, 2]
    """
    paths = _check_paths(paths)
    _check_extract_args(transformer, output=output, partition_size=partition_size, on_error=on_error,
                        client=client, scheduler=scheduler, return_frame=return_frame)
    bounds = _partitions(len(paths), int(partition_size))
    keys = {i: content_key(transformer, paths[a:b]) for i, (a, b) in enumerate(bounds)}
    done = _prepare_output(output, keys, overwrite) if output is not None else set()
    todo = [i for i in range(len(bounds)) if i not in done]

    computed: dict[int, Any] = {}
    skipped: list[tuple[int, str, str]] = []
    names: list[str] = []
    if todo:
        if not _is_fitted(transformer):
            transformer.fit(paths)  # once, on the driver; workers get the fitted object
        # the names come from the fitted transformer; the width from the first partition run
        n_out = getattr(transformer, "n_features_out_", None)
        if n_out is None:
            a, b = bounds[todo[0]]
            n_out = np.asarray(_dense(transformer.transform(paths[a:a + 1]))).shape[1]
        names = _feature_names(transformer, int(n_out))
        out_dir = None if output is None else os.fspath(output)
        args = {i: (i, bounds[i][0], paths[bounds[i][0]:bounds[i][1]], keys[i], names, out_dir, on_error)
                for i in todo}
        with progress_bar(progress, len(bounds), "featbus.extract", "part", initial=len(done)) as bar:
            results = _run(transformer, args, client, scheduler, n_workers, bar)
        for i, (frame, skip) in results.items():
            computed[i] = frame
            skipped.extend(skip)

    if output is not None and not return_frame:
        _warn_skipped(skipped, len(paths))
        return Path(output)
    df = _assembled(computed, done, keys, len(bounds), output, skipped)
    df.attrs.update(computed=sorted(todo), reused=sorted(done), skipped=skipped)
    _warn_skipped(skipped, len(paths))
    return df


def _check_extract_args(transformer, *, output, partition_size, on_error, client, scheduler, return_frame) -> None:
    """:func:`extract`'s argument checks, each naming the argument and what it got."""
    if isinstance(partition_size, bool) or not isinstance(partition_size, (int, np.integer)) \
            or partition_size < 1:
        raise ValueError(f"partition_size must be a positive integer, got {partition_size!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if client is None and scheduler not in _SCHEDULERS:
        raise ValueError(f"scheduler must be one of {_SCHEDULERS}, got {scheduler!r}")
    if not hasattr(transformer, "transform"):
        raise TypeError(f"transformer must have a transform method, got {type(transformer).__name__}")
    if output is None and not return_frame:
        raise ValueError("return_frame=False needs an output folder to return")


def _assembled(computed: dict, done: set, keys: dict, n_parts: int, output, skipped: list):
    """The parts in order: computed now, or read back from ``output``; the skipped images of the reused
    parts join ``skipped`` (sorted in place)."""
    import pandas as pd

    frames = []
    for i in range(n_parts):
        if i in computed and computed[i] is not None:
            frames.append(computed[i])
        else:
            frame, skip = _read_part(os.path.join(os.fspath(output), _part_name(i, keys[i])))
            frames.append(frame)
            if i in done:
                skipped.extend(skip)
    skipped.sort()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)


def _warn_skipped(skipped, n_total: int) -> None:
    if skipped:
        lines = "; ".join(f"image {i} ({p!r}): {r}" for i, p, r in sorted(skipped)[:20])
        more = f"; and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        warnings.warn(f"extract skipped {len(skipped)} of {n_total} image(s): {lines}{more}",
                      UserWarning, stacklevel=find_stack_level())


def _raise_first(errors: dict[int, BaseException], n_parts: int, n_done: int) -> None:
    """Raise the error of the first failed partition, noting how much work was kept."""
    first = errors[min(errors)]
    if hasattr(first, "add_note"):
        first.add_note(f"featbus.compute.distributed.extract: {len(errors)} of {n_parts} partition(s) to compute "
                       f"failed; {n_done} finished and are kept: rerun the same call to compute only "
                       "the missing ones.")
    raise first


def _run(transformer, args: dict, client, scheduler: str, n_workers: int | None, bar) -> dict:
    """Run the partitions; return {index: (frame or None, skipped)}.

    With a client or a local pool, a failing partition does not stop the others: they finish
    (and are written) first, then the first failure is raised, so that the state on disk is
    settled when this returns and a rerun computes only what failed. ``"sync"`` is a plain loop
    and stops at the first failure.
    """
    results: dict = {}
    errors: dict = {}

    def collect(i, get):
        try:
            results[i] = get()
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the other partitions
            errors[i] = exc
        if bar is not None:
            bar.update()

    if client is not None:
        from distributed import as_completed

        # one copy of the fitted transformer per worker, not one per task
        shipped = client.scatter(transformer, broadcast=True, hash=False)
        run_id = uuid.uuid4().hex[:8]
        futures = {client.submit(_run_partition, shipped, *a, key=f"featbus-extract-{i:05d}-{run_id}",
                                 retries=0): i for i, a in args.items()}
        try:
            for fut in as_completed(list(futures)):
                collect(futures[fut], fut.result)
        except BaseException:  # interrupted here (Ctrl-C): stop what has not started
            client.cancel([f for f in futures if not f.done()])
            raise
    elif scheduler == "sync":
        for i, a in args.items():
            results[i] = _run_partition(transformer, *a)
            if bar is not None:
                bar.update()
    else:
        import concurrent.futures as cf
        import multiprocessing

        if scheduler == "threads":
            pool = cf.ThreadPoolExecutor(max_workers=n_workers)
        else:  # spawn, not fork: forking a process that has loaded TensorFlow or BLAS threads is unsafe
            pool = cf.ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"))
        with pool:
            futures = {pool.submit(_run_partition, transformer, *a): i for i, a in args.items()}
            try:
                for fut in cf.as_completed(futures):
                    collect(futures[fut], fut.result)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    if errors:
        _raise_first(errors, len(args), len(results))
    return results


def local_client(n_workers: int = 2, threads_per_worker: int = 1, *, memory_limit: str | int = "auto",
                 **kwargs):
    """A :class:`distributed.Client` on a new local cluster bound to the loopback interface.

    Worker processes listen on ``127.0.0.1`` only and the dashboard is off, so nothing is
    reachable from, or contacts, another machine. The client owns its cluster: ``client.close()``
    (or leaving a ``with`` block) stops the workers. It becomes the default client, which is
    what joblib's ``"dask"`` backend uses.

    Parameters
    ----------
    n_workers : int, default=2
        Worker processes.
    threads_per_worker : int, default=1
        Threads per worker. One thread per process suits featbus extractors, whose Python code
        holds the GIL between NumPy calls.
    memory_limit : str or int, default="auto"
        Per-worker memory limit (Dask's meaning).
    **kwargs
        Passed to :class:`distributed.LocalCluster` (e.g. ``dashboard_address=":0"``).

    Returns
    -------
    client : distributed.Client
    """
    from distributed import Client

    opts = dict(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                host="127.0.0.1", dashboard_address=None, memory_limit=memory_limit)
    opts.update(kwargs)
    # without a dashboard the scheduler still serves its HTTP routes (health, metrics), by default on port 8787,
    # warning when another cluster holds it: a free port of the loopback interface instead, no dashboard
    opts["scheduler_kwargs"] = {"dashboard": False, "dashboard_address": "127.0.0.1:0",
                                **(opts.get("scheduler_kwargs") or {})}
    # the client starts the cluster, so closing the client closes the cluster too
    return Client(**opts)
