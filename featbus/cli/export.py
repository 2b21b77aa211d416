"""``featbus export MODEL --tflite FILE``: one TensorFlow Lite file for phones, checked against the model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..networks.backend import native_stderr_quiet
from ._common import (
    CLIError,
    _check_writable,
    _import_tensorflow_quietly,
    _load_model_cli,
    _refuse_existing,
    _refuse_input,
)
from ._data import _load_folder
from ._options import add_model, add_overwrite, add_trust, export_columns

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("export", parents=[parents.on_error, parents.dicom, parents.base],
                       help="write a fine-tuned CNN (or ensemble) or a CNN + logistic-regression model as one "
                            "TFLite file (for phones)",
                       description="Export MODEL (a network recipe of featbus train: one fine-tuned network or an "
                                   "ensemble averaged in one file; or one DeepFeatures extractor, scaler, logistic "
                                   "regression) as a TensorFlow Lite file from the resized grey image to class "
                                   "probabilities, with FILE.json describing classes and input. With --check "
                                   "DATA it prints the file's agreement with MODEL, its size and its latency.")
    add_model(p)
    p.add_argument("--tflite", required=True, metavar="FILE", help="output .tflite file")
    p.add_argument("--quantize", action="store_true", help="int8 weights (dynamic range): about 4x smaller")
    add_overwrite(p, "FILE")
    add_trust(p, "load MODEL although it is not in your trust list")
    p.add_argument("--check", metavar="DATA", default=None,
                   help="compare the exported file with MODEL on up to --check-n images of DATA (any DATA layout): "
                        "largest probability difference, same predicted class, latency per image")
    p.add_argument("--check-n", type=int, default=50, metavar="N", help="images of --check DATA (default 50)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..deploy.export import check_exportable, export_tflite
    from ..model.format import read_manifest

    out = Path(args.tflite)
    if out.suffix.lower() != ".tflite":
        raise CLIError(f"--tflite {str(out)!r}: the file name must end in .tflite")
    inputs = [args.model, *([args.check] if args.check else [])]
    _refuse_input(out, inputs, "--tflite")
    _refuse_input(Path(str(out) + ".json"), inputs, "--tflite")
    _refuse_existing(out, args.overwrite, "--tflite")
    _check_writable(out, "--tflite")
    manifest = read_manifest(args.model)
    if manifest.get("segmenter"):
        from ..deploy.export import ROI_REFUSAL

        raise CLIError(f"cannot export {args.model!r} to TFLite: {ROI_REFUSAL}")
    if manifest.get("recipe", {}).get("preprocessing"):
        from ..deploy.export import preprocessing_refusal

        raise CLIError(f"cannot export {args.model!r} to TFLite: "
                       f"{preprocessing_refusal(manifest['recipe']['preprocessing'])}")
    kinds = {e.get("class") for e in manifest.get("recipe", {}).get("extractors", {}).values()}
    if kinds not in ({"DeepFeatures"}, {"FineTunedCNN"}, {"FineTunedEnsemble"}):
        # say so before TensorFlow is imported and the model loaded
        raise CLIError(f"cannot export {args.model!r} to TFLite: only models whose features all come from one "
                       f"CNN can be exported (this one has {', '.join(sorted(map(str, kinds)))}); train with "
                       "--features <backbone> --classifier logreg")
    _check_tensorflow_backend(args, manifest)
    model = _load_model_cli(args.model, args.trust, args.debug, warm_up=False, runtime="keras", keras_too=True)
    reason = check_exportable(model)
    if reason:
        raise CLIError(f"cannot export {args.model!r} to TFLite: {reason}")
    # TensorFlow's converter writes C++ log lines (E0000 ... NodeDef mentions attribute Truncate) to
    # descriptor 2 itself: kept off the terminal unless --debug (shown after all if it fails)
    with native_stderr_quiet(not args.debug):
        path = export_tflite(model, out, quantize=args.quantize, overwrite=args.overwrite)
    print(f"TFLite model: {path} ({path.stat().st_size / 1e6:.2f} MB{', int8 weights' if args.quantize else ''}); "
          f"classes and input description: {path}.json")
    if args.check:
        _check_export(model, path, args)
    return 0


def _check_tensorflow_backend(args, manifest: dict) -> None:
    """TFLite conversion traces a TensorFlow graph: on Keras's PyTorch or JAX backend (or without
    TensorFlow) say what it needs and what works without it, before the model is loaded."""
    import importlib.util

    from ..networks.backend import backend_name

    _import_tensorflow_quietly(args.debug)
    name = backend_name()
    if name == "tensorflow":
        return
    installed = importlib.util.find_spec("tensorflow") is not None
    forwards = (manifest.get("runtime") or {}).get("forwards") or []
    stored = (f"; the file already holds {len(forwards)} LiteRT forward(s) of its networks (image -> embedding, "
              f"featbus inspect {args.model} lists them)" if forwards else "")
    raise CLIError(f"cannot export {args.model!r} to TFLite: the conversion needs TensorFlow, and this process runs "
                   f"Keras on {name!r}" + ("" if installed else " without TensorFlow installed") + ": "
                   + ("" if installed else 'pip install "featbus[deep]", then ')
                   + f"rerun with KERAS_BACKEND=tensorflow. Without it, the model file itself predicts on {name} "
                   f"(featbus predict {args.model} IMAGES){stored}")


def _check_export(model, path: Path, args) -> None:
    """Print the exported file's agreement with the model, and its latency, on DATA's images."""

    from ..deploy.export import TFLiteModel, prepare_input

    data = _load_folder(args.check, args.on_error, "severity", columns=export_columns(args))
    images = list(data.data)[:max(1, int(args.check_n))]
    inputs = [prepare_input(model, im) for im in images]
    with native_stderr_quiet(not args.debug):  # the interpreter announces its XNNPACK delegate on descriptor 2
        lite = TFLiteModel(path)
        lite.predict_proba(inputs[0])  # the first call allocates
    t0 = time.perf_counter()
    p_lite = np.vstack([lite.predict_proba(x) for x in inputs])
    latency = (time.perf_counter() - t0) / len(inputs)
    p_model = model.predict_proba(images)
    same = float(np.mean(np.argmax(p_lite, axis=1) == np.argmax(p_model, axis=1)))
    print(f"check on {len(images)} images of {args.check}: largest probability difference "
          f"{np.abs(p_lite - p_model).max():.2e}, same class for {same:.1%}, TFLite latency "
          f"{latency * 1000:.0f} ms per image (1 thread, after loading)")
