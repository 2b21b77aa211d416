"""The ``featbus`` command: extract features, evaluate pipelines, run the demo.

::

    featbus extract DATA_DIR --features efficientnet_lite0,hog,lbp -o features.parquet
    featbus evaluate DATA_DIR --features hog,lbp --classifier svm,rf,knn,xgboost --balance none,smote --report out/
    featbus demo [--data DATA_DIR]
    featbus train DATA_DIR --features efficientnet_lite0,lbp --classifier svm -o busi.featbus
    featbus train DATA_DIR --features lbp,intensity,shape --segmenter unet -o busi_roi.featbus
    featbus predict busi.featbus new/*.png -o predictions.csv --explain out/
    featbus validate busi.featbus ../shared/data/bus-bra --report validation/
    featbus compare breast-us busi.featbus ../shared/data/bus-bra -o compare/
    featbus app busi.featbus
    featbus export busi.featbus --tflite busi.tflite
    featbus train mini-mias/ --task abnormal --preprocess pectoral,flip,crop-breast -f intensity,lbp -o mias.featbus
    featbus evaluate study.csv --features lbp,glcm,intensity

``DATA_DIR`` (``DATA``) is a folder with one sub-folder per class (BUSI layout: ``benign/``,
``malignant/``, ``normal/``, masks beside images as ``<name>_mask.png``), a mini-MIAS folder
(``Info.txt`` beside ``mdbNNN`` images; the two breasts of a woman form one group; ``--task``
picks the labels) or a CSV manifest (columns ``image``, ``label``, optional ``mask``,
``group``, ``split``), all read by :func:`featbus.load_data`. ``--preprocess`` applies image
steps first (for mammograms ``breast-mask``, ``pectoral``, ``flip``, ``crop-breast``); a
trained model carries them. ``python -m featbus`` is the same command.

Errors (an unreadable image, a bad option, a missing optional package) end in one line on
stderr and exit status 2; ``--debug`` also prints the Python traceback. Ctrl-C (SIGINT) ends any
command with one line, ``interrupted``, and exit status 130, leaving no half-written output (every
file is written under a temporary name and renamed into place: :func:`featbus.io.written_atomically`).

Logging: featbus writes what it does to the ``featbus`` logger (:func:`logging.getLogger`), which
the package leaves silent (a :class:`logging.NullHandler`, as a library should) so that a
script's own logging configuration decides. The command shows it on stderr with ``-v`` (INFO)
or ``-vv`` (DEBUG) and appends it, with times, to ``--log-file FILE``; both are set up for the
one command run and removed afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterable, Sequence
from importlib import import_module
from typing import NamedTuple

from .._version import __version__
from ._common import CLIError, _missing_part, _one_line
from ._options import Parents

__all__ = ["main", "build_parser", "COMMANDS", "CommandInfo"]


class CommandInfo(NamedTuple):
    """One command of :data:`COMMANDS`."""

    #: the module (``featbus.cli.<module>``) that holds its options (``add_parser``) beside its
    #: code (``run``)
    module: str
    #: its line in ``featbus --help`` (the module's sub-parser says the same; a test checks it)
    summary: str


#: Every command, in the order of the help. A new command is one module and one line here (pip's
#: ``commands/__init__.py`` habit). The summaries let ``featbus --help`` list the commands
#: without importing their modules (and what they import: scikit-learn, pandas); a command's
#: module is imported only when it is the one run.
COMMANDS: dict[str, CommandInfo] = {
    "read": CommandInfo("read", "say what featbus reads in DATA (images, masks, table, classes, patients, files left "
                                "out), without a model"),
    "extract": CommandInfo("extract", "extract features to Parquet, CSV or NPZ"),
    "evaluate": CommandInfo("evaluate", "cross-validate classifiers (with/without balancing) and write a report"),
    "demo": CommandInfo("demo", ("features + cross-validated SVM on the bundled real sample (offline), honest "
                                "and optimistic figures side by side")),
    "train": CommandInfo("train", "train a recipe (default: a fine-tuned CNN) and save a .featbus model"),
    "recipes": CommandInfo("recipes", "list the named training recipes (featbus train --recipe NAME)"),
    "predict": CommandInfo("predict", "class and probabilities of new images with a saved model"),
    "validate": CommandInfo("validate", "external validation: score a saved model on another site's labelled images"),
    "adapt": CommandInfo("adapt", "adapt a saved model to a new site's images (AdaBN / standardisation; with "
                                  "--labels calibration and an operating point)"),
    "compare": CommandInfo("compare", "compare saved models on the same labelled images: AUC, sensitivity, "
                                      "specificity (and lesions called normal) and paired differences with "
                                      "intervals over patients"),
    "segment": CommandInfo("segment", "train a lesion segmenter (U-Net), write its masks, evaluate it"),
    "inspect": CommandInfo("inspect", "what a model file holds and would create when loaded, without loading it"),
    "upgrade": CommandInfo("upgrade", "re-save a model file in the current format (no pickle, inference runtime)"),
    "app": CommandInfo("app", "a local web page (Streamlit) that predicts and explains one image at a time"),
    "export": CommandInfo("export", "write a fine-tuned CNN (or ensemble) or a CNN + logistic-regression model as "
                                    "one TFLite file (for phones)"),
}


class _CommandParser(argparse.ArgumentParser):
    """A command's parser: an option it does not know is its own error, printed under its own
    usage (argparse leaves unknown options to the top-level parser, whose usage says nothing
    of the command's options)."""

    def parse_known_args(self, args=None, namespace=None):
        self._words = list(sys.argv[1:] if args is None else args)
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self._unrecognized(extras)
        return namespace, extras

    def _unrecognized(self, words) -> None:
        """Exit 2 under the command's usage with one line: the unknown arguments, and the
        nearest option of this command (difflib) when one is near."""
        known = [s for s in self._option_string_actions if s.startswith("--")]
        hint = ""
        for word in words:
            if word.startswith("--"):
                close = difflib.get_close_matches(word.split("=", 1)[0], known, n=1, cutoff=0.75)
                if close:
                    hint = f"; did you mean {close[0]}?"
                    break
        super().error(f"unrecognized arguments: {' '.join(words)}{hint}")  # the usage, then one line

    def error(self, message):
        # an unknown option is the cause of what follows it (a misspelt --output leaves -o
        # "required"): name it first
        unknown = []
        for word in getattr(self, "_words", []):
            if word == "--":
                break
            name = word.split("=", 1)[0]
            if word.startswith("--") and not any(s.startswith(name) for s in self._option_string_actions):
                unknown.append(word)
        if unknown and not message.startswith("unrecognized"):
            self._unrecognized(unknown)
        super().error(message)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``featbus`` command.

    Parameters
    ----------
    commands : iterable of str, optional
        The commands whose sub-parsers are built in full (their modules imported); every other
        command of :data:`COMMANDS` is listed by its name and summary only, so ``featbus
        --help`` can list them all. ``None``: every command in full. :func:`main` builds the one
        command it runs, or none.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="featbus",
        description="Breast ultrasound and mammogram images to feature matrices, and honest "
                    "(near-duplicate grouped) evaluation of classical classifiers on them.",
        epilog="DATA is a folder with one sub-folder per class (BUSI layout: benign/, malignant/, normal/; "
               "masks beside images as <name>_mask.png), a mini-MIAS folder (Info.txt beside mdbNNN images; "
               "women as groups) or a CSV manifest (columns image,label and optionally mask,group,split; paths "
               "relative to the CSV). Run 'featbus COMMAND --help' for details.")
    parser.add_argument("--version", action="version", version=f"featbus {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    full = set(COMMANDS if commands is None else commands)
    parents = Parents() if full else None
    for name, info in COMMANDS.items():
        if name in full:
            import_module(f"{__name__}.{info.module}").add_parser(sub, parents)
        else:
            sub.add_parser(name, help=info.summary, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (the top-level parser takes no option with a value, so it is
    the first word that is no option), if it is one of :data:`COMMANDS`."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def _unknown_command(argv: Sequence[str]) -> str | None:
    """The one-line error for a first word that is no command (``featbus vaildate``), with the
    nearest command when one is near; ``None`` when there is no such word.

    Examples
    --------
    >>> _unknown_command(["vaildate", "breast-us", "DATA"])
    "unknown command 'vaildate'; did you mean 'validate'? (featbus --help lists the commands)"
    """
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None or first in COMMANDS:
        return None
    close = difflib.get_close_matches(first.lower(), list(COMMANDS), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; the commands: {', '.join(COMMANDS)}"
    return f"unknown command {first!r}{hint} (featbus --help lists the commands)"


class _ConsoleFormat(logging.Formatter):
    """``featbus COMMAND: info: message``, as the command's warnings and errors are written."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if message.startswith("featbus: "):  # (some library messages name featbus themselves)
            message = message[len("featbus: "):]
        return f"{self.prefix}: {record.levelname.lower()}: {message}"


@contextlib.contextmanager
def _command_logging(args, prefix: str):
    """The ``featbus`` logger during one command: ``-v`` INFO / ``-vv`` DEBUG lines on stderr,
    ``--log-file`` appending them with times (at least INFO), ``--debug`` the logger at DEBUG
    (which also lets native libraries' start-up lines through, see featbus.model.runtime). Yields the
    file handler (or None); the logger's level, handlers and propagation are restored afterwards,
    so a script calling :func:`main` keeps its own configuration."""
    log = logging.getLogger("featbus")
    verbose = int(getattr(args, "verbose", 0) or 0)
    console_level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handlers: list[logging.Handler] = []
    file_handler = None
    if getattr(args, "log_file", None):
        try:
            file_handler = logging.FileHandler(args.log_file, mode="a", encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"--log-file {args.log_file!r}: cannot write it ({exc.strerror or exc})") from None
        file_handler.setLevel(min(console_level, logging.INFO))
        file_handler.setFormatter(logging.Formatter(f"%(asctime)s {prefix} %(levelname)s %(name)s: %(message)s"))
        handlers.append(file_handler)
    if verbose > 0:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(console_level)
        console.setFormatter(_ConsoleFormat(prefix))
        handlers.append(console)
    saved = log.level, log.propagate
    levels = [h.level for h in handlers] + ([logging.DEBUG] if getattr(args, "debug", False) else [])
    if levels:
        log.setLevel(min(levels))
    if handlers:  # the command writes the log itself: not twice through a caller's root handlers
        log.propagate = False
    for h in handlers:
        log.addHandler(h)
    try:
        yield file_handler
    finally:
        for h in handlers:
            log.removeHandler(h)
            h.close()
        log.setLevel(saved[0])
        log.propagate = saved[1]


def _to_file(handler, level: int, text: str) -> None:
    """A warning or error the command prints to stderr, also into the --log-file."""
    if handler is not None:
        handler.handle(logging.makeLogRecord({"name": "featbus", "levelno": level,
                                              "levelname": logging.getLevelName(level), "msg": text}))


@contextlib.contextmanager
def _dicom_window(on: bool):
    """How DICOM files are read during a command (featbus.io.DICOM_WINDOW), for this process and
    the worker processes it starts (through the environment)."""
    from .. import io as featbus_io

    saved = featbus_io.DICOM_WINDOW, os.environ.get("FEATBUS_DICOM_WINDOW")
    featbus_io.DICOM_WINDOW = on
    os.environ["FEATBUS_DICOM_WINDOW"] = "1" if on else "0"
    try:
        yield
    finally:
        featbus_io.DICOM_WINDOW = saved[0]
        if saved[1] is None:
            os.environ.pop("FEATBUS_DICOM_WINDOW", None)
        else:
            os.environ["FEATBUS_DICOM_WINDOW"] = saved[1]


class Terminated(KeyboardInterrupt):
    """SIGTERM during a command (``kill``, a job scheduler's time limit, ``docker stop``): raised where the
    command's code runs, like Ctrl-C's :class:`KeyboardInterrupt` (which it is, so every clean-up that
    runs for Ctrl-C runs for it: no temporary file is left), said as "terminated", exit status 143."""


#: The process whose command :func:`_interrupts` handles the signals of (its forked workers are not it).
_OWNER = [0]


def _on_interrupt(signum, frame) -> None:
    """SIGINT (or SIGTERM) during a command: :class:`KeyboardInterrupt` (:class:`Terminated`) where the
    command's code runs.

    Python's own handler raises it in whatever Python code runs at that moment; when that is a
    garbage-collection callback (JAX's) or a finaliser, Python prints "Exception ignored in ..."
    with a traceback and the command goes on as if nothing was pressed. Here the interrupt is
    sent again a moment later instead, when the command's own code runs. A worker process forked while
    the command ran (``--n-jobs``) inherits this handler: there the signal takes its default course (the
    worker ends quietly; the command, which stops its workers, says what happened)."""
    import gc
    import signal
    import threading

    if os.getpid() != _OWNER[0]:  # a forked worker: end as if no handler were set
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return

    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    f = frame
    while f is not None:
        if f.f_code in callbacks or f.f_code.co_name == "__del__":
            # the signal itself, to the main thread: it ends a sleep or wait there at once (where
            # _thread.interrupt_main only marks it, seen when that call returns)
            threading.Timer(0.05, signal.pthread_kill, args=(threading.main_thread().ident, signum)).start()
            return
        f = f.f_back
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


@contextlib.contextmanager
def _interrupts():
    """:func:`_on_interrupt` handles SIGINT and SIGTERM during the block (the main thread only, and each
    only when Python's default handling is in place: a program that set its own keeps it)."""
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    mine = [s for s, default in defaults.items() if main_thread and signal.getsignal(s) is default]
    _OWNER[0] = os.getpid()
    for s in mine:
        signal.signal(s, _on_interrupt)
    try:
        yield
    finally:
        for s in mine:
            signal.signal(s, defaults[s])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``featbus`` command; returns the exit status.

    A library error (an unreadable image, a bad option value, a missing optional package, a
    cross-validation that cannot be split) prints one line, ``featbus COMMAND: error: ...``,
    and returns 2; ``--debug`` prints the traceback too. Warnings are printed one per line.
    Ctrl-C prints one line, ``interrupted``, and returns 130 (no traceback, no output file); SIGTERM
    the same, ``terminated``, and returns 143.

    Examples
    --------
    >>> from featbus.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    featbus 0.1.0
    """
    io = sys.modules.get("featbus.io")  # not imported for --version and --help: nothing written yet if absent
    before = len(io.files_written()) if io is not None else 0
    try:
        with _interrupts():
            return _main(argv)
    except KeyboardInterrupt as exc:
        io = sys.modules.get("featbus.io")
        # a command that keeps what it finished (featbus extract --dask: its partitions) says so itself
        line = getattr(exc, "featbus_line", None) or _interrupted(io.files_written(before) if io is not None else [])
        terminated = isinstance(exc, Terminated)
        print(line.replace("interrupted", "terminated", 1) if terminated else line, file=sys.stderr)
        return 143 if terminated else 130


def _interrupted(written: list[str]) -> str:
    """The line Ctrl-C ends a command with: whether it wrote anything (every output is put into place
    whole, so what is not named was not written at all).

    Examples
    --------
    >>> from featbus.cli import _interrupted
    >>> _interrupted([])
    'interrupted: nothing written'
    >>> _interrupted(["masks/a.png", "masks/b.png"])
    "interrupted: 2 files were written before it (the last: 'masks/b.png'); nothing is half-written"
    """
    if not written:
        return "interrupted: nothing written"
    many = f"{len(written)} files were" if len(written) > 1 else "1 file was"
    return f"interrupted: {many} written before it (the last: {written[-1]!r}); nothing is half-written"


def _main(argv: Sequence[str] | None) -> int:
    """:func:`main` less the interrupt."""
    words = sys.argv[1:] if argv is None else list(argv)
    command = _command_of(words)
    unknown = _unknown_command(words) if command is None else None
    if unknown is not None:  # one line, as for an unknown option: "did you mean 'validate'?"
        print(f"featbus: error: {unknown}", file=sys.stderr)
        return 2
    parser = build_parser([command] if command else [])
    args, extras = parser.parse_known_args(words)
    if extras:  # (a command's parser reports its own unknown options: _CommandParser)
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    args.argv = None if argv is None else list(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "n_jobs", None) == 0:
        parser.error("--n-jobs must not be 0 (use 1, N or -1)")
    debug = bool(getattr(args, "debug", False))
    if not debug:  # TensorFlow reads these when it is imported, which happens later if at all
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # (with --debug the featbus logger is at DEBUG: native libraries' lines get through, _command_logging)
    prefix = f"featbus {args.command}"
    try:
        with _command_logging(args, prefix) as log_file:
            return _run(args, prefix, debug, log_file)
    except CLIError as exc:  # the log file itself cannot be opened
        print(f"{prefix}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _run(args, prefix: str, debug: bool, log_file) -> int:
    """Run the parsed command: warnings one line each, errors one line and a status."""
    import time

    log = logging.getLogger("featbus")
    command_line = " ".join(sys.argv[1:] if args.argv is None else args.argv)
    log.info("featbus %s, Python %s: featbus %s", __version__, sys.version.split()[0], command_line)
    log.debug("options: %s", {k: v for k, v in vars(args).items() if k not in ("func", "argv")})
    t0 = time.perf_counter()

    def show(message, category, filename, lineno, file=None, line=None):  # one line per warning
        print(f"{prefix}: warning: {_one_line(message)}", file=sys.stderr)
        _to_file(log_file, logging.WARNING, _one_line(message))

    with warnings.catch_warnings(), _dicom_window(not getattr(args, "dicom_raw", False)):
        # (both restore the caller's state afterwards)
        if not debug:
            warnings.showwarning = show
        try:
            if getattr(args, "quiet", False):  # also a loaded model's own extractors and networks
                from ..compute.extraction import progress_off

                with progress_off():
                    status = int(args.func(args) or 0)
            else:
                status = int(args.func(args) or 0)
            log.info("done in %.1f s (exit status %d)", time.perf_counter() - t0, status)
            return status
        except KeyboardInterrupt as exc:
            _to_file(log_file, logging.ERROR, "terminated" if isinstance(exc, Terminated) else "interrupted")
            raise  # said by main
        except BrokenPipeError:  # the reader went away (`featbus inspect M | head`): nothing to say
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail
            return 1
        except Exception as exc:
            if debug:
                traceback.print_exc()
            if isinstance(exc, CLIError):
                message, status = str(exc), 2
            elif isinstance(exc, ImportError):
                message, status = _missing_part(exc), 2
            elif isinstance(exc, (ValueError, OSError, KeyError, MemoryError)):
                from .._records import ImageError  # (numpy: not imported before it is needed)

                # library errors (ImageError is a ValueError): they name the item themselves
                message, status = str(exc) or type(exc).__name__, 2
                if isinstance(exc, ImageError) and getattr(args, "on_error", "skip") == "raise":
                    message += " (--on-error skip leaves such images out)"
            else:  # a bug, not a user mistake
                message, status = (f"internal error {type(exc).__name__}: {exc} (rerun with --debug for "
                                   "the traceback and report it)"), 1
            print(f"{prefix}: error: {_one_line(message)}", file=sys.stderr)
            _to_file(log_file, logging.ERROR, _one_line(message))
            return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
