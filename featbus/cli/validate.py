"""``featbus validate MODEL DATA``: a saved model scored on labelled images from another site
(external validation: AUC, operating points, calibration, subgroups, beside its own figures)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from ..evaluation.sanity import strict_status
from ._common import CLIError, _check_writable
from ._data import _DATA_HELP
from ._options import (
    add_model,
    add_n_bootstrap,
    add_positive,
    add_report,
    add_strict,
    add_target_sensitivity,
    add_task,
)
from ._progress import command_stages
from ._startup import start

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("validate", parents=[parents.quiet, parents.seed, parents.on_error, parents.dicom, parents.base,
                                            parents.loaded_model],
                       help="external validation: score a saved model on another site's labelled images",
                       description="Predict every image of DATA once with MODEL (nothing is refitted) and print "
                                   "the positive class's AUC, per-class precision/recall/F1, sensitivity and "
                                   "specificity at the model's own operating point and at the threshold reaching "
                                   "--target-sensitivity on DATA (chosen on DATA: optimistic), calibration (ECE, "
                                   "Brier), the confusion matrix and subgroup tables, each with a 95 % interval "
                                   "from a bootstrap of DATA's groups (patients: a manifest's group column, "
                                   "BUS-BRA's Case; near-duplicate groups otherwise), beside the figures MODEL's "
                                   "file stores from its own cross-validation. Classes DATA lacks (BUS-BRA has no "
                                   "normal) are handled and said; a class MODEL does not know is an error.")
    add_model(p)
    p.add_argument("data", metavar="DATA",
                   help=_DATA_HELP + ", or a BUS-BRA folder (bus_data.csv + class folders), or a labelled feature "
                                     "table featbus extract wrote")
    add_report(p, "write index.html (figures embedded), roc.png, reliability.png, confusion.png and validation.json "
                  "into DIR")
    add_target_sensitivity(p, 0.9, "sensitivity of the second operating point, a threshold chosen on DATA (default "
                                   "0.9)")
    p.add_argument("--subgroup", action="append", default=None, metavar="COLUMN",
                   help="a metadata column to tabulate the figures by (a manifest's extra column such as site or "
                        "device; BUS-BRA's Device, Side, BIRADS); repeat for several")
    add_n_bootstrap(p, "bootstrap resamples of DATA's groups behind the intervals")
    add_positive(p, "malignant", "the class of the AUC, operating points and calibration (default malignant)")
    add_task(p)
    add_strict(p, "the model's own decisions and p(positive) on DATA")
    p.set_defaults(func=run)
    from ._table import image_options

    _TABLE_REFUSES.update(image_options(p, {"report", "target_sensitivity", "positive", "trust", "runtime",
                                            "subgroup"}))


#: ``{dest: (flag, default)}`` of the options a feature table refuses (filled by add_parser).
_TABLE_REFUSES: dict = {}


def _validate_table(args) -> int:
    """``featbus validate MODEL TABLE``: the model scored on a feature table's labelled rows (featbus extract's),
    the figures, intervals and verdict as for images."""
    from ..evaluation.validation import validate_table
    from ..pipelines.tables import TableError
    from ._table import read_table, refuse_image_options

    args.data_dir = [args.data]  # the refusal names DATA
    refuse_image_options(args, _TABLE_REFUSES, "validate")
    if not (math.isfinite(args.target_sensitivity) and 0 < args.target_sensitivity <= 1):
        raise CLIError(f"--target-sensitivity must be in (0, 1], got {args.target_sensitivity}")
    if args.report:
        _check_writable(Path(args.report), "--report", folder=True)
    table = read_table(args.data, labelled=False)
    _, (model,) = start(args, [args.model])
    try:
        result = validate_table(model, table, target_sensitivity=args.target_sensitivity,
                                n_bootstrap=args.n_bootstrap, positive=args.positive, random_state=args.random_state,
                                subgroup=args.subgroup)
    except (TableError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    result = dataclasses.replace(result, model_source=str(args.model))
    print(result.summary())
    if args.report:
        from ..io import written_whole

        with written_whole(args.report) as tmp:
            page = Path(args.report) / Path(result.to_html(tmp)).relative_to(tmp)
        print(f"\nreport: {page}")
    return strict_status({f"on {args.data}": result.sanity}, args.strict, "validate")


def run(args) -> int:
    from ..evaluation.validation import validate
    from ._table import is_table

    if is_table(args.data):
        return _validate_table(args)
    if not (math.isfinite(args.target_sensitivity) and 0 < args.target_sensitivity <= 1):
        raise CLIError(f"--target-sensitivity must be in (0, 1], got {args.target_sensitivity}")
    if args.report:
        report = Path(args.report)
        if report.exists() and not report.is_dir():
            raise CLIError(f"--report {str(report)!r} is a file; give a folder")
        _check_writable(report, "--report", folder=True)
    data, (model,) = start(args, [args.model], data=args.data, conflicts="validation")
    # the images go through the model once (its lesion crops, then its features), then the image check: validate
    # shows each stage as it runs
    result = validate(model, data, target_sensitivity=args.target_sensitivity, n_bootstrap=args.n_bootstrap,
                      positive=args.positive, subgroup=args.subgroup, random_state=args.random_state,
                      progress=command_stages(args, f"validate {Path(args.model).name}"))
    result = dataclasses.replace(result, model_source=str(args.model))
    print(result.summary())
    if args.report:
        from ..io import written_whole

        with written_whole(args.report) as tmp:  # the report whole, or nothing of it (an error, Ctrl-C, SIGTERM)
            page = Path(args.report) / Path(result.to_html(tmp)).relative_to(tmp)
        print(f"\nreport: {page}")
    return strict_status({f"on {args.data}": result.sanity}, args.strict, "validate",
                          "every image, or a near-copy, trained the model or a part of it")
