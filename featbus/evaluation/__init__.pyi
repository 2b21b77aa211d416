# The public names of featbus.evaluation (lazy_loader.attach_stub reads this stub).
# ruff: noqa: F401 (a stub's imports are its exports)

from .report import (
    PER_CLASS_METRICS,
    Report,
    classification_metrics,
    compare,
    comparison_table,
    evaluate,
    evaluate_external,
    make_splits,
    never_predicted,
    write_study_report,
)
from .sites import combine_sites, leave_one_site_out
from .validation import ExternalValidation, validate
