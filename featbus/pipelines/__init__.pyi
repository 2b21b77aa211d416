# The public names of featbus.pipelines (lazy_loader.attach_stub reads this stub).
# ruff: noqa: F401 (a stub's imports are its exports)

from .make import (
    CLASSIFIERS,
    FAMILY_SCALINGS,
    FEATURES,
    SAMPLERS,
    SELECTORS,
    EncodedLabelClassifier,
    FamilyScaler,
    FamilyUnion,
    extract_features,
    family_blocks,
    make_classification_pipeline,
    make_classifier,
    make_features,
    make_pipeline,
    make_preprocessing,
    make_sampler,
    make_selector,
    param_grid,
)
from .two_decisions import LesionThenMalignancy
