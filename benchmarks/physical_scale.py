"""How far a model that records a physical scale (issue 82, :mod:`featbus.model.scale`) moves when the
same images come at 2x and 3x their pixel count with the pixel size divided to match, beside the
longer-side rule on the same enlarged images without a pixel size.

A model (``lbp,intensity`` -> SVM, no CV) is trained on the first 20 benign and 20 malignant images of
BrEaST-Lesions-USG (its table's ``Pixel_size`` column: the model records a pixel size near their
coarsest as trained, :data:`featbus.model.scale.TRAINING_PIXEL_QUANTILE`); the next 30 benign and 30
malignant are predicted as stored and as bicubic 2x / 3x copies (stand-ins of full-size originals), the
pixel size divided to match. Per factor: the largest change of p(malignant) for the images whose pixel
size is at most the trained one (either copy is shrunk to the trained size) and for the coarser ones
(seen as stored at 1x, never enlarged, but at the trained size from a larger copy), the median change
and the share of decisions kept; then the same enlarged copies without their pixel size (the
longer-side rule shrinks them to 320 px, while the stored images were brought to the trained pixel
size). ``tests/test_physical_scale.py`` holds the bounds.

Run from the repository root (about 15 s on 2 CPU cores)::

    PYTHONPATH=. python benchmarks/physical_scale.py

Data: ``../shared/data/breast-lesions-usg`` (Pawlowska et al., Scientific Data 11:148, 2024,
doi:10.7937/9WKK-Q141, CC BY 4.0).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

from featbus import ImageRecord, get_data_home
from featbus._records import PIXEL_SIZE_KEY, pixel_size
from featbus.datasets import read_release, subset
from featbus.workflows.training import train_model

DATA = get_data_home()


def enlarged(rec: ImageRecord, factor: int, with_size: bool = True) -> ImageRecord:
    """``rec`` at ``factor`` times its pixel count (bicubic), its pixel size divided by ``factor``."""
    h, w = rec.image.shape[:2]
    image = cv2.resize(rec.image, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC)
    own = pixel_size(rec.meta)
    return ImageRecord(image, None, None, {PIXEL_SIZE_KEY: {**own, "size": own["size"] / factor}} if with_size else {})


def _top(moved: np.ndarray) -> str:
    return f"{moved.max():.3f}" if moved.size else "-"


def main() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the label column's candidates, said by the reader
        data = read_release(DATA / "breast-lesions-usg").to_bunch()
    y = data.target
    train = np.r_[np.flatnonzero(y == 0)[:20], np.flatnonzero(y == 1)[:20]]
    model = train_model(subset(data, train), "lbp,intensity", classifier="svm", cross_validate=False, progress=False)
    trained = model.input_scale["pixel_size"]
    print(f"trained pixel size {trained['size']:.5g} ({trained['source']}, {trained['from']})")
    test = [data.data[i] for i in np.r_[np.flatnonzero(y == 0)[20:50], np.flatnonzero(y == 1)[20:50]]]
    fine = np.array([pixel_size(r.meta)["size"] <= trained["size"] for r in test])
    p1, d1 = model.predict_proba(test)[:, 1], model.predict(test)
    auc = roc_auc_score([r.meta["label"] == "malignant" for r in test], p1)
    print(f"{len(test)} images, {fine.sum()} with pixels at most the trained size; malignant AUC as stored {auc:.3f}")
    for factor in (2, 3):
        for rule, with_size in (("pixel size", True), ("longer side", False)):
            big = [enlarged(r, factor, with_size) for r in test]
            moved = np.abs(model.predict_proba(big)[:, 1] - p1)
            kept = np.mean(model.predict(big) == d1)
            print(f"{factor}x, {rule:11} rule: max |dp| {_top(moved[fine])} (finer), {_top(moved[~fine])} "
                  f"(coarser), median {np.median(moved):.3f}; decisions kept {kept:.2f}")


if __name__ == "__main__":
    main()
