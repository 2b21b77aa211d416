"""``featbus demo``: features, a cross-validated SVM and a report on generated phantoms (or ``--data``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._registry import reads_masks
from .._version import __version__
from ._common import CLIError, _progress, _split
from ._data import _check_n_splits, _load_folder, _mask_need
from ._options import (
    _DEMO_FEATURES,
    _apply_settings,
    _check_features,
    _features_of,
    add_n_bootstrap,
    add_report,
    export_columns,
)

__all__ = ["add_parser", "run"]

#: The bundled sample's classes the demo reads (its 4 normal images are too few for 5 folds).
SAMPLE_CLASSES = ("benign", "malignant")
_SAMPLE_SOURCE = ("the bundled sample: {n} BrEaST-Lesions-USG ultrasound images of {n} patients, offline "
                  "(Pawłowska et al., Scientific Data 11:148, 2024, DOI 10.7937/9WKK-Q141, CC BY 4.0)")


def add_parser(sub, parents) -> None:
    p = sub.add_parser("demo", parents=[parents.jobs, parents.quiet, parents.seed, parents.on_error, parents.dicom,
                                        parents.base,
                                        parents.features(f"default {_DEMO_FEATURES}: no mask needed; region "
                                                         "default image, the whole image")],
                       help="features + cross-validated SVM on the bundled real sample (offline), honest "
                            "and optimistic figures side by side",
                       description="Read the sample that ships with featbus (48 benign and malignant "
                                   "BrEaST-Lesions-USG ultrasound images with their lesion masks, CC BY 4.0: "
                                   "Pawłowska et al., Scientific Data 11:148, 2024; featbus.load_sample), "
                                   "extract features, cross-validate an SVM pipeline on patient-grouped folds "
                                   "and print two figures side by side: the honest one (the features on the "
                                   "whole image: a new image comes without a mask) and the optimistic one (the "
                                   "same with the ground-truth masks read: shape, features inside the lesion), "
                                   "then what they mean. --phantoms uses generated phantoms instead, --data "
                                   "your own folder (one pipeline: the report says when it reads masks).")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="DATA_DIR", default=None, help="run on this class-folder data set instead")
    source.add_argument("--phantoms", action="store_true",
                        help="run on synthetic phantoms that featbus generates instead of the real sample")
    p.add_argument("--n-samples", type=int, default=None, metavar="N",
                   help="number of phantoms (default 90; implies --phantoms)")
    p.add_argument("--image-size", type=int, default=None, metavar="PX",
                   help="phantom side (default 128; implies --phantoms)")
    add_n_bootstrap(p)
    add_report(p, "also write DIR/demo.html")
    p.set_defaults(func=run, preprocess=None)  # (a --params file may name preprocessing)


def run(args) -> int:
    from ..evaluation.report import evaluate
    from ..pipelines.make import make_classification_pipeline

    t0 = time.perf_counter()
    _apply_settings(args, _DEMO_FEATURES)
    region = args.region or "image"  # the demo reads no mask unless asked
    features = _split(args.features)
    _check_features(args.features, args.debug)
    phantoms = args.phantoms or args.n_samples is not None or args.image_size is not None
    if args.data and phantoms:
        raise CLIError("--n-samples and --image-size size the phantoms: leave them out with --data")
    if args.data:
        data = _load_folder(args.data, args.on_error, columns=export_columns(args), needs_masks=_mask_need(args))
        source = f"{args.data} ({len(data.target)} images)"
    elif phantoms:
        from ..datasets import make_phantoms

        args.n_samples = 90 if args.n_samples is None else args.n_samples
        args.image_size = 128 if args.image_size is None else args.image_size
        data = make_phantoms(args.n_samples, image_size=args.image_size, random_state=args.random_state)
        source = (f"{len(data.target)} synthetic ultrasound phantoms ({args.image_size} px, made by "
                  "featbus.make_phantoms; no download)")
    elif not reads_masks(_features_of(args), region):
        return _run_sample(args, features, t0)
    else:  # a mask-reading pipeline asked for: that one figure, flagged optimistic by its report
        from ..datasets import load_sample

        data = load_sample(classes=SAMPLE_CLASSES)
        source = _SAMPLE_SOURCE.format(n=len(data.target))
    _check_n_splits(data, 5)
    where = {"image": "on the whole image", "bbox": "on the lesion bounding box",
             "mask": "inside the lesion mask"}[region]
    shape = "; shape from the lesion mask" if reads_masks(_features_of(args), "image") else ""
    print(f"featbus {__version__} demo: {source}")
    from ..model_selection import grouping_name, groups_origin

    print(f"pipeline: features {'+'.join(features)} ({where}{shape}) -> each family standardised, equal weight -> SVM, "
          f"{grouping_name(groups_origin(data))} 5-fold CV")
    pipe = make_classification_pipeline(_features_of(args), preprocessing=args.preprocess, region=region,
                                        classifier="svm", n_jobs=args.n_jobs, cache=args.cache)
    report = evaluate(pipe, data, n_splits=5, n_bootstrap=args.n_bootstrap, random_state=args.random_state,
                      name="demo: " + "+".join(features) + " > SVC", progress=_progress(args))
    from ..io import data_notes

    report.notes.extend(data_notes(data))  # the images skipped (named), the masks dropped: summary and report
    print(report.summary())  # ends with why the score is optimistic when the pipeline read the masks
    print(_meaning(report, data, reads_masks(_features_of(args), region), phantoms=phantoms))
    if args.report:
        from ..evaluation.reporting import write_html

        page = write_html([report], Path(args.report) / "demo.html", notes=data_notes(data))
        print(f"report: {page.resolve()}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _run_sample(args, features: list[str], t0: float) -> int:
    """The default demo: the bundled real sample, the honest and the optimistic pipeline side by side."""
    from ..datasets import load_sample
    from ..evaluation.report import evaluate
    from ..pipelines.make import make_classification_pipeline

    data = load_sample(classes=SAMPLE_CLASSES)
    _check_n_splits(data, 5)
    with_shape = features + ["shape"] * ("shape" not in features)
    print(f"featbus {__version__} demo: {_SAMPLE_SOURCE.format(n=len(data.target))}")
    print(f"pipelines: SVM on each family standardised, equal weight; patient-grouped 5-fold CV\n"
          f"  honest:     features {'+'.join(features)} on the whole image (a new image comes without a mask)\n"
          f"  optimistic: features {'+'.join(with_shape)} inside the ground-truth lesion mask (read from the "
          "data set)")
    reports = {}
    for kind, feats, region in (("honest", _features_of(args), "image"), ("optimistic", with_shape, "mask")):
        pipe = make_classification_pipeline(feats, preprocessing=args.preprocess, region=region, classifier="svm",
                                            n_jobs=args.n_jobs, cache=args.cache)
        reports[kind] = evaluate(pipe, data, n_splits=5, n_bootstrap=args.n_bootstrap,
                                 random_state=args.random_state, name=f"demo ({kind}): "
                                 + "+".join(features if kind == "honest" else with_shape) + " > SVC",
                                 progress=_progress(args))
    print(_side_by_side(reports))
    print(_sample_meaning(reports, data))
    if args.report:
        out = Path(args.report)
        print(f"report: {reports['honest'].to_html(out / 'demo.html').resolve()}")
        print(f"report: {reports['optimistic'].to_html(out / 'demo-optimistic.html').resolve()}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _figure(report, metric: str, cls="macro") -> str:
    """``value [low, high]`` (the interval left out without one)."""
    from ..metrics import format_interval

    value, (low, high) = report.value(metric, cls), report.interval(metric, cls)
    return format_interval(value, (low, high), interval_digits=3, missing=None)


def _side_by_side(reports: dict) -> str:
    """The honest and the optimistic report's headline figures in two columns.

    Parameters
    ----------
    reports : dict
        ``{"honest": Report, "optimistic": Report}``.

    Returns
    -------
    text : str
        A header and one row per figure: accuracy, malignant AUC, each class's sensitivity and
        the verdict of :mod:`featbus.evaluation.sanity`.
    """
    honest, optimistic = reports["honest"], reports["optimistic"]
    rows = [("", "honest (no mask)", "optimistic (reads the masks)"),
            ("accuracy", _figure(honest, "accuracy"), _figure(optimistic, "accuracy")),
            ("malignant AUC", _figure(honest, "auc", "malignant"), _figure(optimistic, "auc", "malignant"))]
    rows += [(f"{name} sensitivity", _figure(honest, "sensitivity", name), _figure(optimistic, "sensitivity", name))
             for name in honest.class_names]
    rows.append(("verdict", honest.sanity.verdict, optimistic.sanity.verdict))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b:<28}  {c}" for a, b, c in rows)


def _sample_meaning(reports: dict, data) -> str:
    """What the sample's two figures mean, each said from its own numbers.

    Parameters
    ----------
    reports : dict
        ``{"honest": Report, "optimistic": Report}``, cross-validated on ``data``.
    data : Bunch
        The sample (two balanced classes).

    Returns
    -------
    text : str
        Lines starting with ``what it means:`` or two spaces: for each figure, whether its
        accuracy interval lies above the majority-class share and its malignant AUC interval
        above 0.5, and why the optimistic one is optimistic.
    """
    counts = np.bincount(np.asarray(data.target), minlength=len(data.target_names))
    chance = counts.max() / counts.sum()
    lines = [f"what it means: {counts.sum()} images, {len(counts)} classes ("
             + ", ".join(f"{c} {n}" for n, c in zip(data.target_names, counts))
             + f"): always answering one class is right for {chance:.3f} of them, and chance ranks at AUC 0.5."]
    for kind in ("honest", "optimistic"):
        r = reports[kind]
        acc_low, acc_high = r.interval("accuracy")
        auc_low, auc_high = r.interval("auc", "malignant")
        if not np.isfinite(acc_low):
            said = "without intervals (--n-bootstrap 0) nothing says how far from chance it is"
        else:
            acc = ("its accuracy interval lies above " if acc_low > chance else "its accuracy interval lies below "
                   if acc_high < chance else "its accuracy interval covers ") + f"{chance:.3f}"
            auc = ("its malignant AUC interval lies above 0.5" if auc_low > 0.5 else
                   "its malignant AUC interval lies below 0.5" if auc_high < 0.5 else
                   "its malignant AUC interval covers 0.5")
            better = acc_low > chance or auc_low > 0.5
            said = f"{acc} and {auc}: " + ("better than chance on these images" if better else
                                          "these figures do not show it does better than chance")
        lines.append(f"  {kind}: {said}.")
    lines.append("  the optimistic pipeline reads the ground-truth lesion masks, which a new image does not come with "
                 "(a segmenter's masks are worse): quote the honest figure. 48 images give wide intervals; "
                 "featbus.load_data reads the full data set (256 images) or your own.")
    return "\n".join(lines)


def _meaning(report, data, masks_read: bool, *, phantoms: bool) -> str:
    """What the demo's figure means: the macro accuracy beside chance (a guess, or always the
    largest class) and, when no mask is read, why it is lower than the docs' quick start.

    Parameters
    ----------
    report : featbus.evaluation.Report
        The demo's cross-validated report.
    data : Bunch
        Its images (``target``, ``target_names``).
    masks_read : bool
        The pipeline reads the ground-truth lesion masks (its report says it is optimistic).
    phantoms : bool
        The images are :func:`featbus.make_phantoms`' (the quick start's kind).

    Returns
    -------
    text : str
        Two or three lines, each starting with ``what it means:`` or two spaces.
    """
    counts = np.bincount(np.asarray(data.target), minlength=len(data.target_names))
    n, k = int(counts.sum()), len(counts)
    if counts.min() == counts.max():
        chance = 1 / k
        classes = f"{k} balanced classes ({counts[0]} images each): chance is {chance:.2f} macro accuracy"
    else:
        chance = counts.max() / n
        largest = data.target_names[int(np.argmax(counts))]
        mix = ", ".join(f"{name} {c}" for name, c in zip(data.target_names, counts))
        classes = (f"{k} classes ({mix}): chance is {chance:.2f} macro accuracy, always answering "
                   f"{str(largest)!r}")
    from ..metrics import interval_text

    acc, (low, high) = report.value("accuracy"), report.interval("accuracy")
    auc, (auc_low, auc_high) = report.value("auc"), report.interval("auc")
    if not np.isfinite(low):
        verdict, ci = "without an interval (--n-bootstrap 0) nothing says how far from chance it is", ""
    else:
        ci = interval_text((low, high), 3)
        # the accuracy against the trivial answer, and the AUC against 0.5, each said for itself: the
        # verdict above weighs both, so neither line may call the model a guess on its own
        verdict = ("its accuracy is above chance" if low > chance else "its accuracy is below chance"
                   if high < chance else "its accuracy interval covers chance")
        if np.isfinite(auc_low):
            verdict += (f"; its AUC {auc:.3f}{interval_text((auc_low, auc_high), 3)} "
                        + ("lies above 0.5: its scores rank better than chance" if auc_low > 0.5 else
                           "lies below 0.5" if auc_high < 0.5 else "covers 0.5: its scores rank no better than chance"))
    lines = [f"what it means: macro accuracy {acc:.3f}{ci} is the share of the {n} images classified right by "
             f"models that never saw them (held-out folds); {classes} (and 0.50 macro AUC), so {verdict}."]
    if masks_read:
        lines.append("  the pipeline reads the ground-truth lesion masks, so the figure is optimistic (the note above "
                     "says why).")
    elif phantoms:
        lines.append("  the pipeline reads no lesion mask, as a new image comes without one: this is what the phantoms "
                     "alone give. The docs' quick start reads their ground-truth masks (shape, region mask) and "
                     "scores higher, an optimistic figure, as its summary says.")
    else:
        lines.append("  the pipeline reads no lesion mask, as a new image comes without one: this is what these "
                     "images alone give.")
    return "\n".join(lines)
