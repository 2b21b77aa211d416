"""featbus's one progress display: a tqdm bar on a terminal, plain timestamped lines otherwise; and
where a warning points (:func:`find_stack_level`: the user's line, not featbus's).

Every estimator and function with a ``progress`` parameter resolves it here:

* ``"auto"`` (or ``None``): a tqdm bar when standard error is a terminal; otherwise (a batch
  job, a log file, a pipe) one plain line every :data:`LOG_INTERVAL` seconds while the work
  runs, with the count, the percentage, the running values (epoch, loss), the time spent and
  an estimate of the time left, and a last line when it ends. Work that ends sooner prints
  nothing, so a short run's log stays clean.
* ``True``: a tqdm bar wherever standard error goes; ``False``: nothing.
* inside :func:`progress_off` (``featbus ... --quiet``): nothing, whatever the setting says.
* with the environment variable ``FEATBUS_PROGRESS=0`` (:data:`PROGRESS_ENV`; also ``off``,
  ``false``, ``no``): ``"auto"`` shows nothing, so what a command writes does not depend on how
  long its work took (the test suite sets it; an explicit ``True`` still draws a bar).

This module imports nothing of featbus (the extraction path, the training engine,
evaluation and explanations all draw their progress through it).

Examples
--------
>>> from featbus.progress import progress_bar, progress_mode
>>> progress_mode(False), progress_mode(True)
(None, 'bar')
>>> with progress_bar(False, total=3, desc="demo", unit="img") as bar:
...     bar.update(3)
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import os
import sys
import threading
import time
from typing import Any

__all__ = ["find_stack_level", "progress_mode", "progress_bar", "progress_off", "show_progress", "task_progress",
           "LogProgress", "Stages", "stages", "remaining_seconds", "LOG_INTERVAL", "ANNOUNCE_AFTER",
           "RATE_WINDOW", "PROGRESS_ENV"]

#: Seconds between two progress lines when standard error is not a terminal.
LOG_INTERVAL = 30.0

#: Seconds announced work (:func:`task_progress` off a terminal) runs before its "started" line is
#: written (stamped with the time it started): work over sooner writes no line.
ANNOUNCE_AFTER = 1.0

#: Updates the ETA's rate is measured over (the latest ones): the rate of the work going on now, not of the
#: whole run (which counts the start-up before the first unit, and a machine that was busier before).
RATE_WINDOW = 8

#: The environment variable whose value ``0`` (``off``, ``false``, ``no``) turns ``"auto"`` progress off.
PROGRESS_ENV = "FEATBUS_PROGRESS"

#: Set (by :func:`progress_off`) while progress is off whatever the estimators say: a loaded
#: model's extractors keep the ``progress`` they were saved with.
_PROGRESS_OFF = contextvars.ContextVar("featbus_progress_off", default=False)


@contextlib.contextmanager
def progress_off():
    """No progress (bar or line) inside the block (``featbus <command> --quiet``), whatever ``progress`` says."""
    token = _PROGRESS_OFF.set(True)
    try:
        yield
    finally:
        _PROGRESS_OFF.reset(token)


def _stderr_is_terminal() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _auto_off() -> bool:
    """Whether :data:`PROGRESS_ENV` turns ``"auto"`` progress off."""
    return os.environ.get(PROGRESS_ENV, "").strip().lower() in {"0", "off", "false", "no"}


def progress_mode(progress: Any) -> str | None:
    """How a ``progress`` setting shows: ``"bar"`` (tqdm), ``"lines"`` (plain timestamped lines)
    or ``None`` (nothing).

    ``"auto"`` and ``None`` give a bar when standard error is a terminal and lines otherwise
    (nothing with ``FEATBUS_PROGRESS=0``, :data:`PROGRESS_ENV`); any other true value a bar; a
    false value, or anything inside :func:`progress_off`, nothing.
    """
    if _PROGRESS_OFF.get():
        return None
    if progress is None or (isinstance(progress, str) and progress == "auto"):
        if _auto_off():
            return None
        return "bar" if _stderr_is_terminal() else "lines"
    return "bar" if progress else None


def show_progress(progress: Any) -> bool:
    """Whether ``progress`` draws a tqdm bar (:func:`progress_mode` is ``"bar"``).

    For callers that only ever draw a bar; new code calls :func:`progress_bar`, which also
    writes the plain lines that ``"auto"`` means off a terminal."""
    return progress_mode(progress) == "bar"


def _duration(seconds: float) -> str:
    seconds = int(round(max(seconds, 0.0)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class LogProgress:
    """A progress display for a log: the tqdm calls featbus makes (``update``, ``set_postfix``,
    ``set_postfix_str``, ``close``), written as one plain line every ``interval`` seconds.

    A line reads ``HH:MM:SS desc: n/total unit (p%), key value, ..., 1m30s spent, ETA 4m10s``.
    A timer thread writes it, so a long step (a fold, an epoch) still shows the run is alive;
    ``close`` writes a last line if any was written before.

    The ETA is the remaining work's: the units left at the rate of the latest updates (the last
    :data:`RATE_WINDOW`; with a single update, that update's units over the time it took), less
    the time since the last update. Time spent before the first unit was done (loading, tracing a
    network) and a slower start under load do not stretch it.

    Parameters
    ----------
    total : int or None
        The count at the end (``None``: unknown, no percentage and no ETA).
    desc, unit : str
        What runs, and what is counted.
    initial : int, default=0
        The count already done when it starts (left out of the ETA's rate).
    interval : float, optional
        Seconds between two lines (default: :data:`LOG_INTERVAL`).
    file : file object, optional
        Where lines go (default: standard error when each line is written).
    announce : bool, default=False
        Write a line when it starts too (``HH:MM:SS desc: started, 811 img``), so a log shows
        at once what runs (:func:`task_progress`); the last line is then always written. Work
        that ends within :data:`ANNOUNCE_AFTER` seconds writes nothing.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bar = LogProgress(4, desc="FineTunedCNN", unit="batch", interval=3600, file=out)
    >>> bar.update(2)
    >>> bar.set_postfix(epoch=1, loss="0.6931")
    >>> bar.line()[9:].startswith("FineTunedCNN: 2/4 batch (50%), epoch 1, loss 0.6931, 0s spent")
    True
    >>> bar.close()
    >>> out.getvalue()
    ''
    """

    def __init__(self, total: int | None, desc: str = "", unit: str = "it", *, initial: int = 0,
                 interval: float | None = None, file=None, announce: bool = False):
        self.total = None if total is None else int(total)
        self.desc, self.unit = desc, unit
        self.n = self._initial = int(initial)
        self.interval = float(LOG_INTERVAL if interval is None else interval)
        self._file = file
        self._postfix = ""
        self._started = time.monotonic()
        self._updates: list[tuple[float, int]] = [(self._started, self.n)]  # (when, count): the ETA's rate
        self._written = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="featbus-progress", daemon=True)
        self._announce = bool(announce)
        self._thread.start()

    # -- what tqdm offers
    def update(self, n: int = 1) -> None:
        with self._lock:
            self.n += int(n)
            self._updates = [*self._updates[-RATE_WINDOW:], (time.monotonic(), self.n)]

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs) -> None:
        values = {**kwargs, **(ordered_dict or {})}  # epoch and loss first, then the rest
        self.set_postfix_str(", ".join(f"{k} {v}" for k, v in values.items()))

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        with self._lock:
            self._postfix = str(s)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        if self._written:  # a log that said it was running also says it ended
            self._write(self.line(done=True))

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the line
    def line(self, done: bool = False) -> str:
        """The line as it would be written now."""
        with self._lock:
            n, postfix, updates = self.n, self._postfix, list(self._updates)
        now = time.monotonic()
        spent = now - self._started
        count = f"{n}/{self.total} {self.unit}" if self.total else f"{n} {self.unit}" if n else ""
        parts = [count + (f" ({100 * n / self.total:.0f}%)" if self.total else "")] if count else []
        if postfix:
            parts.append(postfix)
        if done:
            parts.append(f"ended after {_duration(spent)}")
        else:
            parts.append(f"{_duration(spent)} spent")
            left = remaining_seconds(updates, self.total, now)
            if left is not None:
                parts.append(f"ETA {_duration(left)}")
        return f"{time.strftime('%H:%M:%S')} {self.desc}: " + ", ".join(parts)

    def _write(self, text: str) -> None:
        stream = self._file if self._file is not None else sys.stderr
        try:
            print(text, file=stream, flush=True)
        except (ValueError, OSError):  # the stream was closed under us: progress is not worth an error
            pass

    def _tick(self) -> None:
        # announced work says it started once it has run ANNOUNCE_AFTER seconds: work over sooner (or a
        # mistake found at once, said in one line) writes nothing
        if self._announce and not self._stop.wait(min(ANNOUNCE_AFTER, self.interval)):
            self._written += 1
            self._write(f"{time.strftime('%H:%M:%S', time.localtime(time.time() - ANNOUNCE_AFTER))} {self.desc}: "
                        "started" + (f", {self.total} {self.unit}" if self.total else ""))
        while not self._stop.wait(self.interval):
            self._written += 1
            self._write(self.line())


def remaining_seconds(updates: list[tuple[float, int]], total: int | None, now: float) -> float | None:
    """The time the work left needs: ``(when, count)`` updates (the first: when counting started),
    the units left at the rate of the latest updates (their count over their time; with one update
    after the start, its units over the time since the start), less the time since the last update.
    ``None`` without a total or before any unit was done.

    Examples
    --------
    >>> from featbus.progress import remaining_seconds
    >>> # 10 s of start-up before the first 10 units, then 10 units every 2 s: 80 units left take 16 s
    >>> remaining_seconds([(0, 0), (10, 10), (12, 20)], 100, now=12)
    16.0
    >>> remaining_seconds([(0, 0)], 100, now=5) is None
    True
    """
    if not total or len(updates) < 2:
        return None
    recent = updates[1:] if len(updates) > 2 else updates  # the start-up before the first unit is not the rate
    (t0, n0), (t1, n1) = recent[0], recent[-1]
    if n1 <= n0 or t1 <= t0:
        return None
    return max((total - n1) * (t1 - t0) / (n1 - n0) - (now - t1), 0.0)


class _NoProgress:
    """What :func:`progress_bar` gives when nothing shows: every call does nothing."""

    n = 0

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc) -> None:
        pass


def progress_bar(progress: Any, total: int | None, desc: str, unit: str = "it", *, initial: int = 0,
                 leave: bool = True):
    """The progress display a ``progress`` setting asks for (:func:`progress_mode`).

    Parameters
    ----------
    progress : bool, "auto" or None
        The setting.
    total : int or None
        The count at the end.
    desc, unit : str
        What runs, and what is counted.
    initial : int, default=0
        The count already done.
    leave : bool, default=True
        Keep the finished bar on the terminal (tqdm's ``leave``).

    Returns
    -------
    bar : tqdm, LogProgress or a display that does nothing
        All three take ``update``, ``set_postfix``, ``set_postfix_str`` and ``close``, and are
        context managers (closed at the end of the block).
    """
    mode = progress_mode(progress)
    if mode is None:
        return _NoProgress()
    if mode == "lines":
        return LogProgress(total, desc=desc, unit=unit, initial=initial)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave, file=sys.stderr)


@contextlib.contextmanager
def task_progress(progress: Any, desc: str, total: int | None = None, unit: str = "img"):
    """A command's long work, shown as it runs: ``with task_progress(progress, "validate", n) as bar:``.

    On a terminal, a tqdm bar (refreshed every second, so its clock moves between updates); off a
    terminal (a log, a pipe), a line when it starts, one every :data:`LOG_INTERVAL` seconds and one
    when it ends, whatever its length; nothing with ``progress`` false or inside
    :func:`progress_off`. The caller advances it with ``bar.update(k)`` as images are done; with
    ``total`` None (work that cannot be counted), it shows the time spent only.

    Parameters
    ----------
    progress : bool, "auto" or None
        The setting (a command's: ``False`` with ``--quiet``, else ``"auto"``).
    desc : str
        What runs, as the line starts: ``"validate breast-us"``.
    total : int, optional
        How many ``unit`` the work counts.
    unit : str, default="img"

    Yields
    ------
    bar
        ``update``, ``set_postfix``, ``set_postfix_str``, ``close``.

    Examples
    --------
    >>> from featbus.progress import task_progress
    >>> with task_progress(False, "validate", 3) as bar:
    ...     bar.update(3)
    """
    mode = progress_mode(progress)
    if mode is None:
        yield _NoProgress()
        return
    if mode == "lines":
        bar = LogProgress(total, desc=desc, unit=unit, announce=True)
        try:
            yield bar
        finally:
            bar.close()
        return
    from tqdm.auto import tqdm

    fmt = None if total else "{desc}: {elapsed} spent"
    bar = tqdm(total=total, desc=desc, unit=unit, leave=True, file=sys.stderr, bar_format=fmt)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            try:
                bar.refresh()
            except Exception:  # a closed stream: progress is not worth an error
                return

    ticker = threading.Thread(target=tick, name="featbus-progress-tick", daemon=True)
    ticker.start()
    try:
        yield bar
    finally:
        stop.set()
        ticker.join()
        bar.close()


class Stages:
    """The stages of one piece of work, each shown while it runs by its own :func:`task_progress`
    (``validate breast-us: lesion crops and features``, then ``...: image check``...): a stage's
    display closes when the stage ends, so no bar sits at 100 % while the next stage works, and
    each ETA is of its own stage's remaining units.

    What featbus's long functions take as ``progress`` (:func:`stages`): a setting (``False``,
    ``True``, ``"auto"``), or a ``Stages`` a caller hands on so that the stages read as its own
    (``compare``'s models: ``compare 2/2 site.featbus: ...``).

    Parameters
    ----------
    progress : bool, "auto" or None
        The setting (:func:`progress_mode`).
    desc : str
        What the work is, as each stage's line starts.

    Examples
    --------
    >>> from featbus.progress import Stages
    >>> with Stages(False, "validate").stage("features", 3) as bar:
    ...     bar.update(3)
    """

    def __init__(self, progress: Any, desc: str):
        self.progress, self.desc = progress, str(desc)

    def stage(self, what: str, total: int | None = None, unit: str = "img"):
        """A context manager showing one stage (:func:`task_progress`); ``total`` None: its time only."""
        return task_progress(self.progress, f"{self.desc}: {what}", total, unit)

    def __repr__(self) -> str:
        return f"Stages({self.progress!r}, {self.desc!r})"


def stages(progress: Any, desc: str) -> Stages:
    """``progress`` as the :class:`Stages` of work called ``desc``: a setting gets its own, a ``Stages``
    handed on by a caller is kept (the caller named the work).

    Examples
    --------
    >>> from featbus.progress import Stages, stages
    >>> stages(False, "validate").desc, stages(Stages(False, "compare 1/2 a"), "validate").desc
    ('validate', 'compare 1/2 a')
    """
    return progress if isinstance(progress, Stages) else Stages(progress, desc)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_TESTS_DIR = os.path.join(os.path.dirname(_PACKAGE_DIR), "tests")


def find_stack_level() -> int:
    """The ``stacklevel`` of :func:`warnings.warn` that names the first frame outside featbus.

    A warning raised deep in featbus (a loader called by ``load_data``, called by the user's
    script) then points at the user's line, whatever the depth of the call (pandas'
    ``find_stack_level`` does the same). Frames of featbus's own tests count as outside.

    Returns
    -------
    int

    Examples
    --------
    >>> import warnings
    >>> from featbus.progress import find_stack_level
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("here", UserWarning, stacklevel=find_stack_level())
    >>> "featbus" + os.sep + "progress.py" in caught[0].filename
    False
    """
    frame = inspect.currentframe()
    level = 0
    try:
        # level 1 is the caller of warnings.warn (where find_stack_level was called)
        while frame is not None:
            name = os.path.abspath(inspect.getfile(frame))
            if level and (not name.startswith(_PACKAGE_DIR + os.sep) or name.startswith(_TESTS_DIR + os.sep)):
                break
            frame = frame.f_back
            level += 1
    finally:
        del frame
    return max(level, 1)
