"""
Normal versus abnormal mini-MIAS mammograms, with and without pectoral-muscle removal
=====================================================================================

Chain: breast mask (labels and background gone, chest wall turned to the left) -> optional
pectoral-muscle removal -> the kept breast region becomes the mask the feature extractors
use -> resize to 256x256 -> intensity, LBP and GLCM features of the breast region -> scaled
logistic regression. Cross-validation is grouped by woman (the even/odd pair of one woman
stays in one fold; ``Bunch.groups`` of :func:`featbus.load_mias`), stratified, 5 folds; the
table gives accuracy and ROC AUC with 95% bootstrap intervals (resampling women).

Two copies of the same 120 images: ``mini-mias`` has the pectoral muscle already cut away in
nearly every image (so both arms see nearly the same pixels there), ``mini-mias-original`` is
untouched, muscle and all: there removal decides what the features see.

Lesion masks are never used: the features see only the breast region.

What to expect: removal moves the AUC in the expected direction, but no arm is a useful
classifier. On the originals the AUC is about 0.60 without removal and 0.65 with it, and the
accuracy (0.658) stays under the 0.675 of always answering "normal": whole-mammogram normal vs
abnormal does not work with these features. ``benchmarks/mias_recipes.py`` measures 14 recipes
for this task, whole image and lesion patches (see the mammography guide page).

Usage (from the repository root)::

    python examples/mias_normal_vs_abnormal.py [--data ../shared/data/mini-mias]
        [--original ../shared/data/mini-mias-original]

Data: Suckling J et al., The Mammographic Image Analysis Society digital mammogram database,
Excerpta Medica International Congress Series 1069:375-378 (1994).
"""

# a still drawn by docs/make_gallery_thumbnails.py (this example is not run by the docs build)
# sphinx_gallery_thumbnail_path = "_static/gallery/mias_normal_vs_abnormal.png"

from __future__ import annotations

import argparse
import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.base import BaseEstimator, TransformerMixin  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline, make_union  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from featbus import (  # noqa: E402
    BreastMask,
    GLCMFeatures,
    ImageRecord,
    IntensityStats,
    LBPFeatures,
    PectoralMuscleRemover,
    Resize,
    get_data_home,
    load_mias,
)
from featbus.evaluation import evaluate  # noqa: E402


class BreastRegionAsMask(TransformerMixin, BaseEstimator):
    """Put the kept breast region (breast mask minus removed muscle) in each record's mask,
    so feature extractors with ``region="mask"`` describe the breast, not the background.
    Stateless."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        out = []
        for rec in X:
            kept = rec.meta["breast_mask"].copy()
            if "pectoral_mask" in rec.meta:
                kept &= ~rec.meta["pectoral_mask"]
            out.append(ImageRecord(rec.image, kept, rec.path, dict(rec.meta)))
        return out


def feature_pipeline(remove_muscle: bool):
    first = (PectoralMuscleRemover(mask_background=True, orientation="left") if remove_muscle
             else BreastMask(orientation="left"))
    return make_pipeline(
        first,
        BreastRegionAsMask(),
        Resize(size=(256, 256)),  # the mask is resized along with the image
        make_union(IntensityStats(region="mask"), LBPFeatures(region="mask"), GLCMFeatures(region="mask")),
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(get_data_home() / "mini-mias"))
    ap.add_argument("--original", default=str(get_data_home() / "mini-mias-original"))
    args = ap.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # these copies hold 120 of the 322 images Info.txt lists
        data = load_mias(args.data, task="abnormal")
        original = load_mias(args.original, task="abnormal")
    assert [os.path.basename(p)[:6] for p in data.paths] == [os.path.basename(p)[:6] for p in original.paths]
    y = np.asarray(data.target)  # 1 = benign or malignant
    print(f"{len(y)} images, {int((y == 0).sum())} normal, {int(y.sum())} abnormal, "
          f"{len(np.unique(data.groups))} women")
    # plain images only: the records' lesion masks must not reach the features
    sets = (("cut-out copy (muscle cut away)", [np.asarray(im) for im in data.images]),
            ("original (muscle intact)", [np.asarray(im) for im in original.images]))

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    rows = []
    for data_name, imgs in sets:
        for remove in (False, True):
            # The image steps are stateless (nothing is learned from the training fold), so
            # computing the features once equals running them inside each fold.
            records = [ImageRecord(im) for im in imgs]
            feats = feature_pipeline(remove).fit_transform(records)
            rep = evaluate(clf, feats, y, groups=data.groups, cv="duplicate-grouped", n_splits=5,
                           n_bootstrap=1000, random_state=0, name=f"removal={remove}")
            acc, auc = rep.value("accuracy"), rep.value("auc")
            (al, ah), (ul, uh) = rep.interval("accuracy"), rep.interval("auc")
            rows.append((data_name, "yes" if remove else "no", acc, al, ah, auc, ul, uh))
    print(f"\n{'images':30s} {'removal':8s} {'accuracy [95% CI]':22s} {'AUC [95% CI]':22s}")
    for d, r, acc, al, ah, auc, ul, uh in rows:
        print(f"{d:30s} {r:8s} {acc:.3f} [{al:.3f}, {ah:.3f}]   {auc:.3f} [{ul:.3f}, {uh:.3f}]")


if __name__ == "__main__":
    main()
