"""The extraction path: each (image content, extractor setting) computed once, exactly."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featbus import ImageRecord, IntensityStats, LBPFeatures, make_phantoms
from featbus.compute.extraction import (
    DiskStore,
    MemoryStore,
    clear_memory,
    content_key,
    extraction_counts,
    journal_counts,
    reset_extraction_counts,
    setting_key,
)


@pytest.fixture(autouse=True)
def _fresh_memory():
    clear_memory()
    reset_extraction_counts()
    yield
    clear_memory()


def _images(n=6, size=48):
    return list(make_phantoms(n, image_size=size, random_state=3).data)


def _computed(cls_name: str) -> int:
    return sum(v for (name, _, _), v in extraction_counts().items() if name == cls_name)


def test_each_image_computed_once_in_memory():
    recs = _images()
    est = LBPFeatures(radii=(1,)).fit(recs)
    a = est.transform(recs)
    b = est.transform(recs[::-1])
    c = LBPFeatures(radii=(1,)).fit(recs).transform(recs[:3])  # a clone shares the rows
    np.testing.assert_array_equal(b, a[::-1])
    np.testing.assert_array_equal(c, a[:3])
    assert _computed("LBPFeatures") == len(recs)
    assert set(extraction_counts().values()) == {1}


def test_duplicates_inside_one_call_computed_once():
    recs = _images(3)
    X = [recs[0], recs[1], recs[0].image.copy(), recs[2], recs[1]]
    out = IntensityStats().fit(X).transform(X)
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[1], out[4])
    assert _computed("IntensityStats") == 3


def test_setting_changes_recompute_and_volatile_params_do_not():
    recs = _images(3)
    LBPFeatures(radii=(1,), n_jobs=1).fit(recs).transform(recs)
    LBPFeatures(radii=(1,), n_jobs=2).fit(recs).transform(recs)
    assert _computed("LBPFeatures") == 3
    LBPFeatures(radii=(2,)).fit(recs).transform(recs)
    assert _computed("LBPFeatures") == 6


def test_mask_is_part_of_the_key_only_when_read():
    img = make_phantoms(1, image_size=48, random_state=0).data[0]
    other = ImageRecord(img.image, mask=np.zeros_like(img.mask))
    assert content_key(img, with_mask=False) == content_key(other, with_mask=False)
    assert content_key(img, with_mask=True) != content_key(other, with_mask=True)
    est = IntensityStats(region="mask").fit([img, other])
    out = est.transform([img, other])
    assert not np.allclose(out[0], out[1])  # the lesion's statistics vs the whole image's


def test_memory_store_is_bounded():
    store = MemoryStore(max_bytes=3 * 80)
    for k in range(5):
        store.put("s", str(k), np.zeros(10))
    assert len(store) == 3 and store.get("s", "0") is None and store.get("s", "4") is not None


@pytest.mark.slow  # starts a Dask cluster
def test_cold_warm_corrupted_and_dask_runs_are_equal(tmp_path, monkeypatch):
    recs = _images(5)
    paths = []
    for i, r in enumerate(recs):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(r.image).save(p)
        paths.append(str(p))
    cache = tmp_path / "cache"
    monkeypatch.setenv("FEATBUS_CACHE", str(cache))
    est = LBPFeatures().fit(paths)
    cold = est.transform(paths)
    assert _computed("LBPFeatures") == 5
    clear_memory()
    warm = est.transform(paths)  # from the folder
    assert _computed("LBPFeatures") == 5
    np.testing.assert_array_equal(warm, cold)
    # damage one entry: it is recomputed, reported once, and the result is unchanged
    entries = sorted(cache.rglob("*.row"))
    assert len(entries) == 5
    entries[0].write_bytes(entries[0].read_bytes()[:-3])
    clear_memory()
    with pytest.warns(UserWarning, match=r"^1 damaged or misplaced feature cache entry .* was recomputed"):
        again = est.transform(paths)
    np.testing.assert_array_equal(again, cold)
    assert _computed("LBPFeatures") == 6
    pytest.importorskip("pyarrow")
    from featbus.compute.distributed import extract

    frame = extract(paths, est, partition_size=2, scheduler="processes", n_workers=2)
    np.testing.assert_array_equal(frame.drop(columns="path").to_numpy(), cold)
    # every row computed once, except the one damaged and recomputed above
    assert sorted(journal_counts(cache).values()) == [1, 1, 1, 1, 2]
    # a Dask cluster (worker processes): the same rows, read from the shared folder
    pytest.importorskip("distributed")
    from featbus.compute.distributed import local_client

    with local_client(n_workers=2, threads_per_worker=1, memory_limit="1GiB") as client:
        dask_frame = extract(paths, est, partition_size=2, client=client)
    np.testing.assert_array_equal(dask_frame.drop(columns="path").to_numpy(), cold)
    assert sorted(journal_counts(cache).values()) == [1, 1, 1, 1, 2]


def test_disk_store_never_unpickles(tmp_path):
    store = DiskStore(tmp_path)
    store.put("s", "ab" * 32, np.arange(4, dtype=np.float32))
    path = next(tmp_path.rglob("*.row"))
    assert path.read_bytes()[:4] == b"FBX2"
    np.testing.assert_array_equal(store.get("s", "ab" * 32), np.arange(4, dtype=np.float32))
    import pickle

    path.write_bytes(pickle.dumps(np.arange(4)))  # a pickle is not a valid entry: ignored
    assert store.get("s", "ab" * 32) is None and store.n_corrupt == 1


def test_two_processes_share_a_cache_folder_without_duplicate_work(tmp_path):
    """Two processes transform the same files at once: every row is computed by one of them."""
    recs = _images(8)
    paths = []
    for i, r in enumerate(recs):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(r.image).save(p)
        paths.append(str(p))
    cache = tmp_path / "cache"
    script = textwrap.dedent(f"""
        import sys, time, numpy as np
        from featbus import LBPFeatures
        class Slow(LBPFeatures):
            def _features(self, image, mask):
                time.sleep(0.2)
                return super()._features(image, mask)
        paths = {paths!r}
        est = Slow().fit(paths)
        np.save(sys.argv[1], est.transform(paths))
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), FEATBUS_CACHE=str(cache))
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"out{k}.npy")], env=env)
             for k in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    a, b = (np.load(tmp_path / f"out{k}.npy", allow_pickle=False) for k in range(2))
    np.testing.assert_array_equal(a, b)
    counts = journal_counts(cache)
    assert len(counts) == 8 and set(counts.values()) == {1}


def test_setting_key_needs_every_numeric_parameter():
    recs = _images(2)
    a = IntensityStats(bins=32).fit(recs)
    b = IntensityStats(bins=64).fit(recs)
    assert setting_key(a) != setting_key(b)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("content", ["", "garbled claim", "999999999 x"])
def test_a_claim_left_by_a_killed_process_is_taken_over(tmp_path, content):
    """A process killed between creating and writing its claim (or leaving garbage) leaves an
    empty claim file: once it is older than a few seconds the next run takes it over."""
    recs = _images(3)
    cache = tmp_path / "cache"
    est = IntensityStats().fit(recs)
    first = est.set_params(cache=str(cache)).transform(recs)
    rows = sorted(cache.rglob("*.row"))
    assert len(rows) == 3
    victim = rows[0]
    victim.unlink()
    claim = victim.with_suffix(".claim")
    claim.write_text(content)
    old = os.path.getmtime(claim) - 60
    os.utime(claim, (old, old))
    from featbus.compute.extraction import clear_memory

    clear_memory()
    again = IntensityStats(cache=str(cache)).fit(recs).transform(recs)
    np.testing.assert_allclose(again, first)
    assert victim.exists() and not claim.exists()


def test_a_cache_entry_only_answers_its_own_key_and_setting(tmp_path):
    recs = _images(3)
    cache = tmp_path / "cache"
    est = IntensityStats(cache=str(cache)).fit(recs)
    truth = est.transform(recs)
    setting = setting_key(est)
    files = {p.stem: p for p in cache.rglob("*.row")}
    keys = [content_key(r, with_mask=False) for r in recs]
    # another image's entry copied onto this image's key: refused, recomputed, warned
    files[keys[0]].write_bytes(files[keys[1]].read_bytes())
    # another setting's entry (other length) put in this setting's folder
    other = LBPFeatures(radii=(1,), cache=str(cache)).fit(recs)
    other.transform(recs[2:])
    foreign = next(p for p in cache.rglob("*.row") if p.parent.parent.name != setting)
    files[keys[2]].write_bytes(foreign.read_bytes())
    clear_memory()
    with pytest.warns(UserWarning, match=r"2 damaged or misplaced feature cache entries"):
        again = est.transform(recs)
    np.testing.assert_array_equal(again, truth)
    # and a store asked for a row under another key says it has none
    store = DiskStore(cache)
    assert store.get(setting, keys[1]) is not None and store.get("another-setting", keys[1]) is None


def test_a_named_cache_folder_receives_rows_already_in_memory(tmp_path):
    recs = _images(4)
    first = IntensityStats().fit(recs).transform(recs)  # rows computed, kept in memory only
    cache = tmp_path / "named"
    reset_extraction_counts()
    again = IntensityStats(cache=str(cache)).fit(recs).transform(recs)
    np.testing.assert_array_equal(again, first)
    assert _computed("IntensityStats") == 0  # nothing recomputed
    assert len(list(cache.rglob("*.row"))) == 4  # but every row is in the folder now


def test_a_union_with_jobs_computes_every_family_in_one_pool(tmp_path, monkeypatch):
    """n_jobs=2 on a union: one pool over the images for all families (featbus.compute.extraction.
    pooled_rows); the same table as one job, each row computed once, rows already held not
    recomputed, and a cache folder receives every row."""
    import featbus._records as records
    from featbus.compute.extraction import extraction_counts, reset_extraction_counts
    from featbus.datasets import make_phantoms
    from featbus.pipelines import make_features

    monkeypatch.setattr(records, "MIN_PARALLEL_SECONDS", 0.0)  # a small job: use the workers anyway
    X = list(make_phantoms(12, image_size=48, random_state=0).data)
    one = make_features("lbp,glcm,intensity", n_jobs=1, cache=False, progress=False).fit_transform(X)
    reset_extraction_counts()
    union = make_features("lbp,glcm,intensity", n_jobs=2, cache=tmp_path / "rows", progress=False)
    two = union.fit_transform(X)
    np.testing.assert_allclose(two, one, rtol=1e-12)
    counts = extraction_counts()
    assert len(counts) == 3 * len(X) and set(counts.values()) == {1}
    reset_extraction_counts()
    np.testing.assert_allclose(union.transform(X), one, rtol=1e-12)
    assert sum(extraction_counts().values()) == 0  # held rows are served, not recomputed
    from featbus.compute.extraction import clear_memory

    clear_memory()  # only the folder is left: it received every row the pool computed
    np.testing.assert_allclose(union.transform(X), one, rtol=1e-12)
    assert sum(extraction_counts().values()) == 0


def test_a_slow_first_image_does_not_make_a_short_job_parallel():
    """The first item pays one-time costs (imports, caches): map_images estimates the job from
    the next items, so a short job stays in this process."""
    import os
    import time

    from featbus._records import map_images

    def work(item, index):
        if index == 0:
            time.sleep(0.4)  # 0.4 s x 19 images would look like 7.6 s of work
        return os.getpid()

    assert set(map_images(work, list(range(20)), n_jobs=2)) == {os.getpid()}


def _cached(tmp_path, n=3):
    """Three images, their rows computed into a cache folder, and the folder's row files."""
    recs = _images(n)
    cache = tmp_path / "cache"
    truth = IntensityStats(cache=str(cache)).fit(recs).transform(recs)
    rows = sorted(cache.rglob("*.row"))
    assert len(rows) == n
    clear_memory()
    return recs, cache, truth, rows


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tokenised", [False, True])
def test_a_claim_left_by_an_earlier_life_of_this_pid_is_taken_over(tmp_path, tokenised):
    """A restarted container is pid 1 again and finds the claims its earlier life left, with
    this very pid: they are taken over at once (they hung the extraction before), whether in
    the old format (pid and time) or carrying another life's token."""
    import time

    recs, cache, truth, rows = _cached(tmp_path)
    victim = rows[0]
    victim.unlink()
    claim = victim.with_suffix(".claim")
    claim.write_text(f"{os.getpid()} {time.time()}" + (" 0123456789abcdef 1" if tokenised else ""))
    again = IntensityStats(cache=str(cache)).fit(recs).transform(recs)
    np.testing.assert_array_equal(again, truth)
    assert victim.is_file() and not claim.exists()


def test_a_claim_of_this_process_is_live_and_a_reused_pid_is_not(tmp_path):
    store = DiskStore(tmp_path)
    key = "cd" * 32
    assert store.claim("s", key)
    path = store._claim_path("s", key)
    assert not store._stale(path) and not store.claim("s", key)  # another thread of this life waits
    store.release("s", key)
    assert not path.exists()
    from featbus.compute.extraction import _process_start

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        life = _process_start(child.pid)
        if life is None:
            pytest.skip("no /proc/<pid>/stat here")
        path.write_text(f"{child.pid} {time.time()} 0123456789abcdef {life}")
        assert not store._stale(path)  # that process is alive: its claim holds
        path.write_text(f"{child.pid} {time.time()} 0123456789abcdef {int(life) + 1}")
        assert store._stale(path)  # its pid now belongs to a later process
        store.release("s", key)
        assert path.exists()  # another process's claim is not ours to release
    finally:
        child.kill()
        child.wait()


def _replace_entry(victim: Path, how: str, outside: Path) -> None:
    raw = victim.read_bytes()
    victim.unlink()
    if how == "empty folder":
        victim.mkdir()
    elif how == "folder":
        victim.mkdir()
        (victim / "kept.txt").write_text("someone's file")
    elif how == "link out of the cache":
        outside.write_bytes(raw)  # even a valid row is not read through a link
        victim.symlink_to(outside)
    elif how == "link to /dev/zero":
        victim.symlink_to("/dev/zero")
    elif how == "truncated":
        victim.write_bytes(raw[:-3])
    elif how == "too long":
        victim.write_bytes(raw + bytes(8))
    elif how == "fifo":
        os.mkfifo(victim)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["empty folder", "folder", "link out of the cache", "link to /dev/zero",
                                 "truncated", "too long", "fifo"])
def test_a_cache_entry_of_the_wrong_kind_is_recomputed_and_named(tmp_path, how):
    """An entry replaced by a folder raised IsADirectoryError, a link was followed out of the
    cache (to /dev/zero: forever), a FIFO blocked: each is now discarded, recomputed, named in
    the warning, and the rows are the same."""
    if how == "link to /dev/zero" and not os.path.exists("/dev/zero") or how == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("POSIX only")
    recs, cache, truth, rows = _cached(tmp_path)
    victim = rows[1]
    outside = tmp_path / "outside.bin"
    _replace_entry(victim, how, outside)
    before = outside.read_bytes() if outside.exists() else None
    with pytest.warns(UserWarning, match=r"^1 damaged or misplaced feature cache entry .* was recomputed") as rec:
        again = IntensityStats(cache=str(cache)).fit(recs).transform(recs)
    np.testing.assert_array_equal(again, truth)
    message = next(str(w.message) for w in rec if "cache entr" in str(w.message))
    assert str(victim) in message
    assert victim.is_file() and not victim.is_symlink()  # rewritten as a plain row file
    if before is not None:
        assert outside.read_bytes() == before  # the link's target was neither read as a row nor touched
    if how == "folder":  # a folder holding something is moved aside, not emptied
        aside = [p for p in victim.parent.iterdir() if ".discarded-" in p.name]
        assert len(aside) == 1 and (aside[0] / "kept.txt").read_text() == "someone's file"
        assert aside[0].name in message
    clear_memory()
    with warnings.catch_warnings():  # once rewritten, the entry is read without a word
        warnings.simplefilter("error")
        np.testing.assert_array_equal(IntensityStats(cache=str(cache)).fit(recs).transform(recs), truth)


@pytest.mark.timeout(60)
def test_a_cache_sub_folder_linked_out_of_the_cache_is_not_followed(tmp_path):
    recs, cache, truth, rows = _cached(tmp_path)
    shard = rows[0].parent
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for p in shard.iterdir():
        p.unlink()
    shard.rmdir()
    shard.symlink_to(outside, target_is_directory=True)
    with pytest.warns(UserWarning, match="cache entr") as rec:
        again = IntensityStats(cache=str(cache)).fit(recs).transform(recs)
    np.testing.assert_array_equal(again, truth)
    assert any(f"{shard}: a symbolic link where a cache folder should be" in str(w.message) for w in rec)
    assert list(outside.iterdir()) == []  # nothing written through the link
    assert shard.is_dir() and not shard.is_symlink() and len(list(cache.rglob("*.row"))) == 3
