"""One safe listing of a release (issue 90 item 1): links leading out, FIFOs, sockets, devices, link loops,
names that are not UTF-8 and folders too deep are left out by name and never opened, through the same walk
in every command. A sentinel folder beside each release is watched with inotify: nothing in it may be
opened; a FIFO inside a release would block any open of it, so a command that opened one hangs (each runs
in a child process under a wall-clock, CPU and memory limit)."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import numpy as np
import pytest
from _untrusted import Watched, outside_files, run_featbus
from PIL import Image

from featbus.datasets import make_phantoms, read_release
from featbus.io import MAX_FOLDER_DEPTH, list_folder

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX file types")


def _png(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.arange(32 * 32).reshape(32, 32) + value).astype(np.uint8)).save(path)


def _release_with_traps(top: Path) -> Path:
    """A class-folder release whose folder also holds every kind of entry that must never be opened."""
    outside_files(top / "outside")
    rel = top / "rel"
    for c in ("benign", "malignant"):
        for k in range(3):
            _png(rel / c / f"{c}_{k}.png", 40 * k + (c == "benign") * 7)
    os.symlink("../../outside/secret.png", rel / "benign" / "evil.png")
    os.symlink("../../outside/secret.txt", rel / "benign" / "notes.png")
    os.symlink("../outside", rel / "linked_folder")
    os.mkfifo(rel / "malignant" / "scan.png")
    os.mkfifo(rel / "table.csv")
    os.symlink("loop.png", rel / "benign" / "loop.png")
    os.symlink("gone.png", rel / "benign" / "dangling.png")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(rel / "malignant" / "sock.png"))
    (rel / os.fsdecode(b"malignant/caf\xe9.png")).write_bytes((rel / "benign" / "benign_0.png").read_bytes())
    return rel


EXPECTED = {"benign/evil.png": "outside the release", "benign/notes.png": "outside the release",
            "linked_folder": "outside the release", "malignant/scan.png": "unreadable: a FIFO",
            "table.csv": "unreadable: a FIFO", "benign/loop.png": "unreadable: a symbolic link loop",
            "benign/dangling.png": "unreadable: a link to nothing", "malignant/sock.png": "unreadable: a socket",
            "malignant/caf\\xe9.png": "unreadable: its name is not valid UTF-8"}


def test_list_folder_leaves_out_every_trap_by_name_and_opens_nothing(tmp_path):
    rel = _release_with_traps(tmp_path)
    with Watched(tmp_path / "outside") as watched:
        files, left_out = list_folder(rel, (".png", ".csv"))
        assert watched.touched() == []
    assert [f.as_posix() for f in files] == [f"{c}/{c}_{k}.png" for c in ("benign", "malignant") for k in range(3)]
    said = {item: f"{reason}: {detail}" if detail else reason for item, reason, detail in left_out}
    for item, reason in EXPECTED.items():
        assert said[item].startswith(reason), (item, said.get(item))
    assert len(left_out) == len(EXPECTED)


def test_a_device_is_never_opened(tmp_path):
    try:
        os.mknod(tmp_path / "dev.png", 0o600 | 0o020000, os.makedev(1, 3))  # a character device: /dev/null's
    except (PermissionError, AttributeError, OSError):
        pytest.skip("cannot make a device node here")
    assert list_folder(tmp_path, (".png",)) == ([], [("dev.png", "unreadable", "a device, not a regular file "
                                                                             "(never opened)")])


def test_read_and_predict_list_the_same_way_and_open_nothing_outside(tmp_path):
    """featbus read and featbus predict, each in a bounded child: the same entries left out, by name;
    the FIFOs never opened (an open would hang the child), nothing outside opened."""
    rel = _release_with_traps(tmp_path)
    model = tmp_path / "lbp.featbus"
    from featbus.workflows.training import train_model

    train_model(make_phantoms(24, image_size=40, random_state=0), "lbp", classifier="logreg",
                cross_validate=False, progress=False).save(model)
    with Watched(tmp_path / "outside") as watched:
        read = run_featbus(["read", rel], cwd=tmp_path)
        predict = run_featbus(["predict", model, rel, "-o", tmp_path / "p.csv"], cwd=tmp_path)
        assert watched.touched() == []
    for outcome in (read, predict):
        assert not outcome.timed_out and outcome.returncode == 0, outcome.text[-2000:]
        for item in EXPECTED:
            if item != "table.csv" or outcome is read:
                assert item in outcome.text, (item, outcome.text[-3000:])
        assert "internal error" not in outcome.text and "Traceback" not in outcome.text
    table = (tmp_path / "p.csv").read_text()
    assert "SECRET" not in table and "evil" not in table and "notes.png" not in table
    assert len(table.strip().splitlines()) == 1 + 6


def test_folders_1500_deep_are_left_out_at_the_depth_limit(tmp_path):
    rel = tmp_path / "rel"
    for c in ("benign", "malignant"):
        for k in range(2):
            _png(rel / c / f"{k}.png", 60 * k + (c == "benign"))
    deep = os.open(rel / "benign", os.O_RDONLY)
    try:
        for _ in range(1500):  # relative to a folder descriptor: no path length limit while building it
            os.mkdir("d", dir_fd=deep)
            nxt = os.open("d", os.O_RDONLY, dir_fd=deep)
            os.close(deep)
            deep = nxt
    finally:
        os.close(deep)
    try:
        outcome = run_featbus(["read", rel], cwd=tmp_path)
        assert outcome.returncode == 0 and "RecursionError" not in outcome.text, outcome.text[-2000:]
        assert "MAX_FOLDER_DEPTH" in outcome.text and "4 images" in outcome.text
        release = read_release(rel)
        (item, reason, detail), = release.summary.left_out
        assert item == "benign/" + "/".join(["d"] * MAX_FOLDER_DEPTH) and reason == "unreadable"
        assert detail.startswith("a folder deeper")
    finally:
        _remove_chain(rel / "benign")


def _remove_chain(base) -> None:
    """Remove a chain of folders ``d/d/d/...`` under ``base`` from the top, lifting what lies below each
    level up one level first (one descriptor open at a time, whatever the depth), so pytest's recursive
    clean-up of old temporary folders never meets a tree deeper than its recursion limit."""
    fd = os.open(base, os.O_RDONLY)
    try:
        while "d" in os.listdir(fd):
            sub = os.open("d", os.O_RDONLY, dir_fd=fd)
            try:
                below = "d" in os.listdir(sub)
                if below:
                    os.rename("d", "lifted", src_dir_fd=sub, dst_dir_fd=fd)
            finally:
                os.close(sub)
            os.rmdir("d", dir_fd=fd)
            if below:
                os.rename("lifted", "d", src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


def test_a_table_named_on_the_command_line_is_type_checked_before_it_is_opened(tmp_path):
    os.mkfifo(tmp_path / "index.csv")
    outcome = run_featbus(["read", tmp_path / "index.csv"], cwd=tmp_path, wall_s=120)
    assert not outcome.timed_out and outcome.returncode != 0
    assert "not a regular file" in outcome.text and "index.csv" in outcome.text


def test_no_command_lists_a_folder_its_own_way():
    """The folder walks of featbus's commands and readers are :func:`featbus.io.list_folder`:
    no ``rglob``/``os.walk`` of a data folder anywhere else."""
    root = Path(__file__).resolve().parents[1] / "featbus"
    found = []
    for sub in ("cli", "datasets"):
        for path in (root / sub).glob("*.py"):
            for k, text in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"\.rglob\(|os\.walk\(", text):
                    found.append(f"{path.name}:{k}")
    assert found == []


def test_a_link_that_cannot_be_followed_or_a_file_gone_mid_walk_is_named_not_a_crash(tmp_path, monkeypatch):
    # /proc/<pid>/exe of a process that ended while '/' was walked: readlink fails with ENOENT, and a file
    # removed after its folder was listed fails its stat: both were a raw "[Errno 2]" ending the command
    rel = tmp_path / "rel"
    for c in ("benign", "malignant"):
        for k in range(2):
            _png(rel / c / f"{k}.png", 60 * k + (c == "benign"))
    os.symlink(rel / "benign" / "0.png", rel / "benign" / "exe.png")
    real, scandir = os.path.realpath, os.scandir

    def realpath(path, *args, **kwargs):
        if os.fspath(path).endswith("exe.png"):
            raise FileNotFoundError(2, "No such file or directory", os.fspath(path))
        return real(path, *args, **kwargs)

    class Gone:  # a directory entry whose file was removed once listed
        def __init__(self, entry):
            self._entry, self.name = entry, entry.name

        def __getattr__(self, attr):
            return getattr(self._entry, attr)

        def stat(self, **kwargs):
            if self.name == "1.png" and "malignant" in self._entry.path:
                raise FileNotFoundError(2, "No such file or directory", self._entry.path)
            return self._entry.stat(**kwargs)

    class Listing:
        def __init__(self, path):
            self._it = scandir(path)

        def __enter__(self):
            return (Gone(e) for e in self._it.__enter__())

        def __exit__(self, *exc):
            return self._it.__exit__(*exc)

    monkeypatch.setattr(os.path, "realpath", realpath)
    monkeypatch.setattr(os, "scandir", Listing)
    files, left_out = list_folder(rel, (".png",))
    assert [f.as_posix() for f in files] == ["benign/0.png", "benign/1.png", "malignant/0.png"]
    assert sorted((r.item, r.reason, r.detail) for r in left_out) == [
        ("benign/exe.png", "unreadable", "a link that cannot be followed (No such file or directory)"),
        ("malignant/1.png", "unreadable", "gone while listed (No such file or directory)")]
