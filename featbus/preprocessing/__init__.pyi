# The public names of featbus.preprocessing and their modules, read by lazy_loader.attach_stub
# (see featbus/__init__.pyi).
# ruff: noqa: F401 (a stub's imports are its exports)

from .intensity import (
    CLAHE,
    AdaptiveThreshold,
    HistogramEqualizer,
    Normalize,
    Resize,
    SpeckleDenoise,
    adaptive_threshold,
    clahe,
    equalize_hist,
    normalize,
    resize,
    speckle_denoise,
)
from .mammography import BreastMask, PectoralMuscleRemover
