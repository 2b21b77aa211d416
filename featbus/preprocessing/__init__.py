"""Image -> image transformers (geometry, contrast, denoising, normalisation).

Names are imported lazily: each lives in the module of its capability
(:mod:`~featbus.preprocessing.intensity` here; mammography- and ROI-specific steps in their
own modules).
"""

from importlib import import_module

_PUBLIC = {
    "Resize": ".intensity",
    "resize": ".intensity",
    "CLAHE": ".intensity",
    "clahe": ".intensity",
    "SpeckleDenoise": ".intensity",
    "speckle_denoise": ".intensity",
    "Normalize": ".intensity",
    "normalize": ".intensity",
    # modules of other capabilities (lazy: nothing is imported until the name is used)
    "BreastMask": ".mammography",
    "PectoralMuscleRemover": ".mammography",
    "ROICropper": ".roi",
}

__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name], __name__), name)
    raise AttributeError(f"module 'featbus.preprocessing' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
