"""``featbus demo``: features, a cross-validated SVM and a report on generated phantoms (or ``--data``)."""

from __future__ import annotations

import time
from pathlib import Path

from .._registry import reads_masks
from .._version import __version__
from ._common import _progress, _split
from ._data import _check_n_splits, _load_folder, _mask_note
from ._options import _DEMO_FEATURES, _check_features

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("demo", parents=[parents.common],
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
    p.set_defaults(func=run)


def run(args) -> int:
    from ..evaluation import evaluate
    from ..pipelines import make_classification_pipeline

    t0 = time.perf_counter()
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
             "mask": "inside the lesion mask"}[args.region]
    shape = "; shape from the lesion mask" if reads_masks(features, "image") else ""
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
