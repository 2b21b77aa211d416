"""featbus: breast ultrasound and mammogram images to feature matrices for classical ML.

Every piece is a scikit-learn transformer. Public names are imported lazily, so
``import featbus`` stays fast and needs no TensorFlow until :class:`DeepFeatures` or
:class:`UNetSegmenter` is used.
"""

from importlib import import_module

from ._registry import ESTIMATORS
from ._version import __version__

# public name -> module that defines it: the estimator classes from the one registry, then the
# functions and other classes (relative to this package)
_PUBLIC = {
    **{name: entry.module for name, entry in ESTIMATORS.items()},
    "ImageRecord": "._records",
    "ImageError": "._records",
    "read_image": ".io",
    "read_images": ".io",
    "read_mask": ".io",
    "load_image_folder": ".datasets",
    "load_busi": ".datasets",
    "load_bus_bra": ".datasets",
    "load_mias": ".datasets",
    "load_manifest": ".datasets",
    "load_data": ".datasets",
    "combine_sites": ".datasets",
    "make_phantoms": ".datasets",
    "augment_image": ".augmentation",
    "dice_score": ".segmentation.metrics",
    "iou_score": ".segmentation.metrics",
    "duplicate_groups": ".model_selection",
    "DuplicateGroupKFold": ".model_selection",
    "make_classification_pipeline": ".pipelines",
    "make_pipeline": ".pipelines",  # deprecated name of make_classification_pipeline
    "param_grid": ".pipelines",
    "evaluate": ".evaluation",
    "compare": ".evaluation",
    "Report": ".evaluation",
    "validate": ".validation",
    "ExternalValidation": ".validation",
    "adapt": ".adaptation",
    "backend_info": "._backend",
    "train_model": ".model",
    "load_model": ".model",
    "FeatbusModel": ".model",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value  # cache: the next access is a plain attribute lookup
        return value
    raise AttributeError(f"module 'featbus' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
