# The public names of featbus.model (lazy_loader.attach_stub reads this stub).
# ruff: noqa: F401 (a stub's imports are its exports)

from .format import (
    EXTRA_TRUSTED_TYPES,
    FORMAT_VERSION,
    TRUSTED_PACKAGES,
    ModelVersionError,
    UntrustedModelError,
    checked_runtimes_file,
    describe_manifest,
    is_trusted_type,
    model_file,
    pipeline_types,
    read_manifest,
    trust_model,
    trusted_models_file,
    types_needing_trust,
)
from .loaded import FeatbusModel, load_model
