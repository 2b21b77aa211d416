"""The published mini-MIAS recipe, honestly: CNN features + SVM with augmentation, leaky vs leak-free.

The result users cite for mini-MIAS normal vs abnormal (VGG16 / InceptionV3 ImageNet features +
SVM with augmentation, 97.77 % accuracy) was measured on augmented copies split at random: copies
of one image, and the two breasts of one woman, on both sides of the split. This script runs that
recipe both ways on the same images and the same augmented copies, and prints the two side by
side with 95 % intervals:

* **leaky** (as published): every image augmented first (``--copies`` copies each, featbus's
  :class:`~featbus.networks.augmentation.ImageAugmenter`), then stratified 5-fold CV over all copies at
  random; the interval is a bootstrap over the copies;
* **leak-free**: 5-fold CV grouped by woman (mdb001/mdb002 are one woman), the same augmented
  copies added to the TRAINING folds only, every test image an original never seen augmented;
  the interval is a bootstrap over women.

Inputs, each with both protocols:

* ``whole``: the breast (background, labels and markers set to 0) cropped to its bounding box
  (``BreastMask(crop=True)``), padded square for the CNN;
* ``patch``: the ROI protocol, a 224 x 224 patch centred on each ``Info.txt`` lesion centre and
  one at the breast's centre of each normal image (:func:`featbus.datasets.lesion_patches`;
  abnormal images without coordinates are left out and counted).

Backbones: VGG16 and InceptionV3 with ImageNet weights where they can be loaded (Keras cache or
a download), else the offline EfficientNet-Lite0 stands in and the output says so; Lite0 always.
Classifier: standard scaling + RBF SVM with balanced class weights. Features are cached in
``benchmarks/out/cache`` (git-ignored).

Usage (from the repository root)::

    python benchmarks/mias_published_recipe.py [--data ../shared/data/mini-mias] [--copies 7]

Data: Suckling J et al., The Mammographic Image Analysis Society digital mammogram database,
Excerpta Medica International Congress Series 1069:375-378 (1994).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / "out" / "cache"
sys.path.insert(0, str(REPO / "examples"))
from _paper_common import pretrained  # noqa: E402  (the paper examples' stand-in rule: one copy)

from featbus import get_data_home  # noqa: E402


def inputs(data, kind: str):
    """(records, labels 0/1, women, description) of one input kind."""
    from featbus.datasets import lesion_patches
    from featbus.preprocessing.mammography import BreastMask

    if kind == "whole":
        records = BreastMask(crop=True).fit_transform(list(data.data))
        return records, np.asarray(data.target), np.asarray(data.groups), f"{len(records)} whole breasts"
    patches = lesion_patches(data, size=224)
    desc = (f"{len(patches.data)} patches of 224 px ({len(patches.dropped)} abnormal images without "
            "lesion coordinates left out)")
    return patches.data, np.asarray(patches.target), np.asarray(patches.groups), desc


def features(records, backbone: str, copies: int, seed: int):
    """CNN features of the originals followed by ``copies`` augmented copies of each."""
    from featbus import DeepFeatures
    from featbus.networks.augmentation import ImageAugmenter

    augmented, _ = ImageAugmenter(n_copies=copies, vertical_flip=True, speckle=0.0,
                                  random_state=seed).fit_resample(records, np.zeros(len(records)))
    deep = DeepFeatures(backbone=backbone, aspect="pad", cache=str(CACHE), progress=True)
    return deep.fit_transform(augmented)


class TrainedWithCopies(ClassifierMixin, BaseEstimator):
    """A classifier over image indices: fit on the rows of the given images AND of their
    augmented copies in ``bank``, predict from the originals' rows. So the leak-free CV's
    training folds are augmented and its test folds are not, with featbus's own folds and
    intervals (``X`` is the column of original-image indices)."""

    def __init__(self, estimator=None, bank=None, copies: int = 0):
        self.estimator = estimator
        self.bank = bank
        self.copies = copies

    def _rows(self, X, with_copies: bool):
        idx = np.asarray(X, dtype=int).ravel()
        n = len(self.bank) // (self.copies + 1)
        if with_copies:
            idx = np.concatenate([idx + k * n for k in range(self.copies + 1)])
        return self.bank[idx]

    def fit(self, X, y):
        y = np.asarray(y)
        self.estimator_ = clone(self.estimator).fit(self._rows(X, True), np.tile(y, self.copies + 1))
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        return self.estimator_.predict(self._rows(X, False))

    def decision_function(self, X):
        return self.estimator_.decision_function(self._rows(X, False))


def scores(X, y, women, copies: int, seed: int):
    """(leaky Report, leak-free Report) of the SVM recipe on the same features."""
    from sklearn.model_selection import StratifiedKFold

    from featbus.evaluation import evaluate
    from featbus.pipelines import make_classification_pipeline

    n = len(y)
    y_all = np.tile(y, copies + 1)
    names = np.array(["normal", "abnormal"])
    pipe = make_classification_pipeline(None, classifier="svm", balance="class-weight", random_state=seed)
    # leaky: the augmented set split at random, each copy its own unit in the bootstrap
    leaky_splits = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y_all))
    leaky = evaluate(pipe, X, y_all, cv=leaky_splits, groups=np.arange(len(y_all)), target_names=names,
                     random_state=seed, name="leaky")
    # leak-free: women kept whole (featbus's grouped folds); training folds get their copies
    clean = evaluate(TrainedWithCopies(pipe, X, copies), np.arange(n)[:, None], y, cv="duplicate-grouped",
                     groups=women, target_names=names, random_state=seed, name="leak-free")
    return leaky, clean


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(get_data_home() / "mini-mias"))
    ap.add_argument("--copies", type=int, default=7, help="augmented copies per image (default 7)")
    ap.add_argument("--backbones", default="vgg16,inception_v3,efficientnet_lite0")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from featbus import load_mias

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # this copy holds 120 of the 322 images Info.txt lists
        data = load_mias(args.data, task="abnormal")
    print(f"mini-MIAS {args.data}: {len(data.target)} images, {int(data.target.sum())} abnormal, "
          f"{np.unique(data.groups).size} women; {args.copies} augmented copies per image")
    done, stands_in = {}, {}
    for paper in args.backbones.split(","):
        used, note = pretrained(paper)
        print(note)
        if used != paper:
            stands_in.setdefault(used, []).append(paper)
        for kind in ("whole", "patch"):
            if (used, kind) not in done:
                records, y, women, desc = inputs(data, kind)
                t0 = time.perf_counter()
                X = features(records, used, args.copies, args.seed)
                print(f"  {kind}: {desc}; {X.shape[0]} feature rows of {used} in {time.perf_counter() - t0:.0f} s")
                done[(used, kind)] = scores(X, y, women, args.copies, args.seed)
    rows = [(used + (f" (for {', '.join(stands_in[used])})" if used in stands_in else ""), kind, *reports)
            for (used, kind), reports in done.items()]
    print("\nnormal vs abnormal, SVM on CNN features with augmentation; accuracy and abnormal-class AUC, "
          "95 % bootstrap intervals (leaky: over copies; leak-free: over women)")
    print(f"{'backbone':44}{'input':>7}{'leaky accuracy':>24}{'leak-free accuracy':>24}{'leaky AUC':>22}"
          f"{'leak-free AUC':>22}")

    def cell(rep, metric, cls=None):
        lo, hi = rep.interval(metric, cls) if cls else rep.interval(metric)
        v = rep.value(metric, cls) if cls else rep.value(metric)
        return f"{v:.3f} [{lo:.2f}, {hi:.2f}]"

    for label, kind, leaky, clean in rows:
        print(f"{label:44}{kind:>7}{cell(leaky, 'accuracy'):>24}{cell(clean, 'accuracy'):>24}"
              f"{cell(leaky, 'auc', 'abnormal'):>22}{cell(clean, 'auc', 'abnormal'):>22}")
    print("published (VGG16 / InceptionV3 + SVM, augmented copies split at random): accuracy 0.9777")


if __name__ == "__main__":
    main()
