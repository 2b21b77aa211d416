"""The ``featbus`` command: extract features, evaluate pipelines, run the demo.

::

    featbus extract DATA_DIR --features efficientnet_lite0,hog,lbp -o features.parquet
    featbus evaluate DATA_DIR --features hog,lbp --classifier svm,rf,knn,xgboost --balance none,smote --report out/
    featbus demo [--data DATA_DIR]
    featbus train DATA_DIR --features efficientnet_lite0,lbp --classifier svm -o busi.featbus
    featbus train DATA_DIR --features lbp,intensity,shape --segmenter unet -o busi_roi.featbus
    featbus predict busi.featbus new/*.png -o predictions.csv --explain out/
    featbus validate busi.featbus ../shared/data/bus-bra --report validation/
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
stderr and exit status 2; ``--debug`` also prints the Python traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from importlib import import_module

from .._records import ImageError
from .._version import __version__
from ._common import CLIError, _missing_part, _one_line
from ._options import Parents

__all__ = ["main", "build_parser", "COMMANDS"]

#: Every command, in the order of the help: name -> the module (``featbus.cli.<module>``) that
#: holds its options (``add_parser``) beside its code (``run``). A new command is one module
#: and one line here (pip's ``commands/__init__.py`` habit).
COMMANDS: dict[str, str] = {
    "extract": "extract",
    "evaluate": "evaluate",
    "demo": "demo",
    "train": "train",
    "recipes": "recipes",
    "predict": "predict",
    "validate": "validate",
    "adapt": "adapt",
    "segment": "segment",
    "inspect": "inspect",
    "upgrade": "upgrade",
    "app": "app",
    "export": "export",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``featbus`` command: one sub-parser per :data:`COMMANDS` entry."""
    parser = argparse.ArgumentParser(
        prog="featbus",
        description="Breast ultrasound and mammogram images to feature matrices, and honest "
                    "(near-duplicate grouped) evaluation of classical classifiers on them.",
        epilog="DATA is a folder with one sub-folder per class (BUSI layout: benign/, malignant/, normal/; "
               "masks beside images as <name>_mask.png), a mini-MIAS folder (Info.txt beside mdbNNN images; "
               "women as groups) or a CSV manifest (columns image,label and optionally mask,group,split; paths "
               "relative to the CSV). Run 'featbus COMMAND --help' for details.")
    parser.add_argument("--version", action="version", version=f"featbus {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parents = Parents()
    for module in COMMANDS.values():
        import_module(f"{__name__}.{module}").add_parser(sub, parents)
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``featbus`` command; returns the exit status.

    A library error (an unreadable image, a bad option value, a missing optional package, a
    cross-validation that cannot be split) prints one line, ``featbus COMMAND: error: ...``,
    and returns 2; ``--debug`` prints the traceback too. Warnings are printed one per line.

    Examples
    --------
    >>> from featbus.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    featbus 0.1.0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = None if argv is None else list(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "n_jobs", None) == 0:
        parser.error("--n-jobs must not be 0 (use 1, N or -1)")
    debug = bool(getattr(args, "debug", False))
    if not debug:  # TensorFlow reads these when it is imported, which happens later if at all
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    else:  # the featbus logger at DEBUG also lets native libraries' lines through (runtime conversion)
        import logging

        logging.getLogger("featbus").setLevel(logging.DEBUG)
    prefix = f"featbus {args.command}"

    def show(message, category, filename, lineno, file=None, line=None):  # one line per warning
        print(f"{prefix}: warning: {_one_line(message)}", file=sys.stderr)

    with warnings.catch_warnings(), _dicom_window(not getattr(args, "dicom_raw", False)):
        # (both restore the caller's state afterwards)
        if not debug:
            warnings.showwarning = show
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt:  # pragma: no cover
            print("interrupted", file=sys.stderr)
            return 130
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
                # library errors (ImageError is a ValueError): they name the item themselves
                message, status = str(exc) or type(exc).__name__, 2
                if isinstance(exc, ImageError) and getattr(args, "on_error", "skip") == "raise":
                    message += " (--on-error skip leaves such images out)"
            else:  # a bug, not a user mistake
                message, status = (f"internal error {type(exc).__name__}: {exc} (rerun with --debug for "
                                   "the traceback and report it)"), 1
            print(f"{prefix}: error: {_one_line(message)}", file=sys.stderr)
            return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
