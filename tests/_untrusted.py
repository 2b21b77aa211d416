"""Helpers of the untrusted-release tests (issue 90): a sentinel folder outside the release whose files
must never be opened, watched with inotify (no dependence on atime or strictatime), and a command run in
a child process under a memory and a CPU-time limit."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The bounds every bomb is refused within: 1 GiB of address space and 60 s of CPU.
MEMORY_BYTES = 1 << 30
CPU_SECONDS = 60

_IN_ACCESS, _IN_OPEN = 0x1, 0x20


class Watched:
    """Every file opened or read in ``folder`` from now on (Linux inotify through ctypes), by name.

    Usage: ``with Watched(outside) as w: ...; assert w.touched() == []``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        libc_name = ctypes.util.find_library("c")
        self.libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None
        self.fd = -1

    def __enter__(self) -> Watched:
        if self.libc is None or not hasattr(self.libc, "inotify_init1"):
            raise RuntimeError("inotify is not available here")
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, os.fsencode(self.folder), _IN_OPEN | _IN_ACCESS) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch failed")
        return self

    def touched(self) -> list[str]:
        """The names of the files opened or read so far (the folder itself: ``"."``)."""
        names = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return names
            offset = 0
            while offset < len(data):
                _, _, _, length = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16:offset + 16 + length].rstrip(b"\0")
                names.append(os.fsdecode(name) or ".")
                offset += 16 + length

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


def outside_files(folder: Path) -> dict[str, bytes]:
    """The sentinel folder beside a release: an image and a text file that a link may lead to."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((32, 32), 200, np.uint8)).save(folder / "secret.png")
    (folder / "secret.txt").write_text("TOP SECRET LINE\n")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def _limits() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def run_featbus(args: list[str], *, cwd: Path | None = None, wall_s: float = 180,
                pythonpath: Path = REPO) -> Outcome:
    """``featbus ARGS`` in a child process limited to :data:`MEMORY_BYTES` and :data:`CPU_SECONDS`
    (a wall-clock limit guards a hang, which uses no CPU)."""
    env = dict(os.environ, PYTHONPATH=str(pythonpath), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", FEATBUS_TRUSTED_MODELS=str((cwd or Path.cwd()) / "trusted.txt"))
    try:
        child = subprocess.run([sys.executable, "-m", "featbus", *map(str, args)], capture_output=True, text=True,
                               timeout=wall_s, env=env, cwd=cwd, preexec_fn=_limits, errors="replace")
    except subprocess.TimeoutExpired as exc:
        def text(b):
            return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")
        return Outcome(-1, text(exc.stdout), text(exc.stderr), True)
    return Outcome(child.returncode, child.stdout, child.stderr, False)
