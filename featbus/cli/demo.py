"""``featbus demo``: features, a cross-validated SVM and a report on generated phantoms (or ``--data``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._registry import reads_masks
from .._version import __version__
from ._common import _progress, _split
from ._data import _check_n_splits, _load_folder
from ._options import _DEMO_FEATURES, _apply_settings, _check_features, _features_of, add_n_bootstrap, add_report

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("demo", parents=[parents.jobs, parents.quiet, parents.seed, parents.on_error, parents.dicom,
                                        parents.base,
                                        parents.features(f"default {_DEMO_FEATURES}: no mask needed; region "
                                                         "default image, the whole image")],
                       help="features + cross-validated SVM + report on generated phantoms (no download)",
                       description="Generate ultrasound phantoms (or read --data), extract features, "
                                   "cross-validate an SVM pipeline on duplicate-grouped folds and print "
                                   "the report, then what its figure means beside chance. The default "
                                   "features need no lesion mask; with shape or --region bbox/mask the "
                                   "ground-truth masks are read and the report says that the score is "
                                   "optimistic.")
    p.add_argument("--data", metavar="DATA_DIR", default=None, help="run on this class-folder data set instead")
    p.add_argument("--n-samples", type=int, default=90, metavar="N", help="number of phantoms (default 90)")
    p.add_argument("--image-size", type=int, default=128, metavar="PX", help="phantom side (default 128)")
    add_n_bootstrap(p)
    add_report(p, "also write DIR/demo.html")
    p.set_defaults(func=run, preprocess=None)  # (a --params file may name preprocessing)


def run(args) -> int:
    from ..evaluation import evaluate
    from ..pipelines import make_classification_pipeline

    t0 = time.perf_counter()
    _apply_settings(args, _DEMO_FEATURES)
    region = args.region or "image"  # the demo reads no mask unless asked
    features = _split(args.features)
    _check_features(args.features, args.debug)
    if args.data:
        data = _load_folder(args.data, args.on_error)
        source = f"{args.data} ({len(data.target)} images)"
    else:
        from ..datasets import make_phantoms

        data = make_phantoms(args.n_samples, image_size=args.image_size, random_state=args.random_state)
        source = (f"{len(data.target)} synthetic ultrasound phantoms ({args.image_size} px, made by "
                  "featbus.make_phantoms; no download)")
    _check_n_splits(data, 5)
    where = {"image": "on the whole image", "bbox": "on the lesion bounding box",
             "mask": "inside the lesion mask"}[region]
    shape = "; shape from the lesion mask" if reads_masks(_features_of(args), "image") else ""
    print(f"featbus {__version__} demo: {source}")
    print(f"pipeline: features {'+'.join(features)} ({where}{shape}) -> each family standardised, equal weight -> SVM, "
          "duplicate-grouped 5-fold CV")
    pipe = make_classification_pipeline(_features_of(args), preprocessing=args.preprocess, region=region,
                                        classifier="svm", n_jobs=args.n_jobs, cache=args.cache)
    report = evaluate(pipe, data, n_splits=5, n_bootstrap=args.n_bootstrap, random_state=args.random_state,
                      name="demo: " + "+".join(features) + " > SVC", progress=_progress(args))
    print(report.summary())  # ends with why the score is optimistic when the pipeline read the masks
    print(_meaning(report, data, reads_masks(_features_of(args), region), phantoms=not args.data))
    if args.report:
        print(f"report: {report.to_html(Path(args.report) / 'demo.html').resolve()}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


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
    acc, (low, high) = report.value("accuracy"), report.interval("accuracy")
    if not np.isfinite(low):
        verdict, ci = "without an interval (--n-bootstrap 0) nothing says how far from chance it is", ""
    else:
        ci = f" [{low:.3f}, {high:.3f}]"
        verdict = ("it is above chance" if low > chance else "it is below chance" if high < chance
                   else "its interval covers chance: no better than a guess")
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
