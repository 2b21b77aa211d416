"""Normal vs abnormal on mini-MIAS: which recipes work, whole image and ROI protocol, grouped by woman.

The README's mammogram example (``featbus train ../shared/data/mini-mias-original --task abnormal
--preprocess pectoral,flip,crop-breast -f intensity,lbp``) scored the majority share with an AUC
under 0.5 (featbus issue 43). This script measures a small set of recipes for the same task on
the 120 ORIGINAL mini-MIAS images (``mini-mias-original``: 81 normal, 39 abnormal, 60 women; the
two breasts of one woman are one group, ``(number - 1) // 2`` as :func:`featbus.load_mias` and
:func:`featbus.load_data` give them) and prints, per recipe, accuracy (the overall fraction
correct, which the Report calls macro accuracy), macro sensitivity (the mean of the two classes'
sensitivities: 0.5 for a model that always answers one class), the abnormal class's
sensitivity, and the abnormal-class ROC AUC, each with a 95 % bootstrap interval over women,
from :func:`featbus.evaluation.evaluate` (5 folds grouped by woman, stratified, seed 0).

Inputs (every image step is stateless, so each is computed once for all images):

* ``as read``: the 1024 x 1024 film as stored (labels, background, muscle);
* ``breast``: ``--preprocess pectoral,flip,crop-breast`` (muscle removed, chest wall on the
  left, cropped to the breast's bounding box), as the README example;
* ``breast+CLAHE``: the same, then contrast-limited histogram equalisation (``clahe``);
* ``ROI, published``: :func:`featbus.datasets.lesion_patches`, 224 x 224 px at full
  resolution: one patch centred on each ``Info.txt`` lesion centre of an abnormal image, one at
  the breast's centroid of each normal image (abnormal images whose rows give no coordinates,
  diffuse calcifications, are left out). This is the protocol of the published mini-MIAS
  results. Its two classes are cut differently, and the place itself differs by class: lesion
  centres lie anywhere, often near the skin or the chest wall, normal patches always sit in the
  middle of the breast, so part of what it measures is where the patch was cut;
* ``ROI, matched``: the same lesion patches, and for each normal image one patch whose centre is
  drawn from the abnormal images' lesion centres (position relative to the breast's bounding
  box, measured from the chest wall, so the two breasts' orientations match), redrawn until it
  lies inside that normal image's breast. Location no longer tells the classes apart.

Both ROI protocols need the abnormality's centre, given by a radiologist: they classify a region
someone has already pointed at, they do not find abnormalities in a mammogram.

Lesion masks never reach the features: every extractor sees plain pixel arrays (``region="image"``).
Features are computed per family and cached in ``benchmarks/out/cache`` (git-ignored); the
classifier's pipeline (families joined with equal weight, as ``featbus train`` does; balanced
class weights unless the row says "no weights") is fitted inside each training fold.

Usage (from the repository root, about 17 minutes on 2 busy cores the first time, 4 after)::

    nice -n 10 python benchmarks/mias_recipes.py [--data ../shared/data/mini-mias-original]

Data: Suckling J et al., The Mammographic Image Analysis Society digital mammogram database,
Excerpta Medica International Congress Series 1069:375-378 (1994).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from featbus import get_data_home  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
CACHE = REPO / "benchmarks" / "out" / "cache"
HAND = "intensity,lbp,glcm"

#: (label, input, features, classifier, balance); balance None: the README's plain SVM
RECIPES = [
    ("README example (no weights)", "breast", "intensity,lbp", "svm", None),
    ("README example + class weights", "breast", "intensity,lbp", "svm", "class-weight"),
    ("intensity+LBP+GLCM, SVM", "breast", HAND, "svm", "class-weight"),
    ("intensity+LBP+GLCM, logistic", "breast", HAND, "logreg", "class-weight"),
    ("intensity+LBP+GLCM, RF", "breast", HAND, "rf", "class-weight"),
    ("HOG+LBP+GLCM+intensity, SVM", "breast", "hog," + HAND, "svm", "class-weight"),
    ("intensity+LBP+GLCM, SVM, CLAHE", "breast+CLAHE", HAND, "svm", "class-weight"),
    ("intensity+LBP+GLCM, SVM, as read", "as read", HAND, "svm", "class-weight"),
    ("frozen EfficientNet-Lite0, SVM", "breast", "efficientnet_lite0", "svm", "class-weight"),
    ("ROI published: intensity+LBP+GLCM", "ROI, published", HAND, "svm", "class-weight"),
    ("ROI published: Lite0", "ROI, published", "efficientnet_lite0", "svm", "class-weight"),
    ("ROI matched: intensity+LBP+GLCM", "ROI, matched", HAND, "svm", "class-weight"),
    ("ROI matched: Lite0", "ROI, matched", "efficientnet_lite0", "svm", "class-weight"),
    # examples/mias_normal_vs_abnormal.py: features of the breast region only (the kept breast
    # as the extractors' mask), 256 x 256, logistic regression C=0.1 without weights
    ("breast region, logistic (example; no weights)", "breast region", "example", "logreg C=0.1", None),
]


def whole_images(images, kind: str):
    """Plain arrays of one whole-image input (see the module docstring)."""
    from featbus import CLAHE, BreastMask, ImageRecord, PectoralMuscleRemover

    if kind == "as read":
        return [np.asarray(im) for im in images]
    # the three steps --preprocess pectoral,flip,crop-breast names (featbus._registry.PREPROCESSORS)
    steps = [PectoralMuscleRemover(), BreastMask(orientation="left", mask_background=False),
             BreastMask(crop=True, mask_background=False)]
    if kind == "breast+CLAHE":
        steps.append(CLAHE())
    records = [ImageRecord(np.asarray(im)) for im in images]
    for step in steps:
        records = step.fit_transform(records)
    return [np.asarray(r.image) for r in records]


def matched_centres(data, seed: int = 0):
    """One patch centre per normal image, ``[(index, row, col)]``: a lesion position of the
    abnormal images (relative to the breast's bounding box, measured from the chest wall), redrawn
    until it lies inside this image's breast."""
    from featbus.preprocessing.mammography import breast_mask, chest_wall_side

    def box(image):
        _, bm = breast_mask(image)
        rows, cols = np.nonzero(bm)
        return bm, chest_wall_side(image, mask=bm), (rows.min(), rows.max(), cols.min(), cols.max())

    spots = []  # (share of the breast's height, share of its width from the chest wall)
    for i, rec in enumerate(data.data):
        if data.target[i] == 1 and rec.meta["lesions"]:
            _, side, (r0, r1, c0, c1) = box(rec.image)
            for row, col, _ in rec.meta["lesions"]:
                v = (col - c0) / max(1, c1 - c0)
                spots.append(((row - r0) / max(1, r1 - r0), 1 - v if side == "right" else v))
    rng = np.random.default_rng(seed)
    centres = []
    for i, rec in enumerate(data.data):
        if data.target[i] != 0:
            continue
        bm, side, (r0, r1, c0, c1) = box(rec.image)
        for k in rng.permutation(len(spots)):
            u, v = spots[k]
            v = 1 - v if side == "right" else v
            row, col = int(round(r0 + u * (r1 - r0))), int(round(c0 + v * (c1 - c0)))
            if bm[row, col]:
                centres.append((i, row, col))
                break
        else:
            raise RuntimeError(f"no lesion position falls inside the breast of {data.paths[i]}")
    return centres


def roi_patches(data, kind: str, size: int = 224, seed: int = 0):
    """(plain patch arrays, labels, women, description) of one ROI protocol."""
    from sklearn.utils import Bunch

    from featbus import ImageRecord
    from featbus.datasets import lesion_patches

    if kind == "ROI, published":
        p = lesion_patches(data, size=size)
        y = np.asarray(p.target)
        desc = (f"{len(y)} patches ({int(y.sum())} lesion-centred, {int((y == 0).sum())} at the breast centre of "
                f"normal images; {len(p.dropped)} abnormal images without coordinates left out)")
        return [np.asarray(r.image) for r in p.data], y, np.asarray(p.groups), desc
    lesions = lesion_patches(data, size=size, normal="drop")
    centres = matched_centres(data, seed)
    records = [ImageRecord(data.data[i].image, None, data.paths[i], {"lesions": [(row, col, 0)]})
               for i, row, col in centres]
    normals = lesion_patches(Bunch(data=records, target=np.zeros(len(records), int),
                                   groups=np.asarray([data.groups[i] for i, _, _ in centres]),
                                   paths=[data.paths[i] for i, _, _ in centres], target_names=data.target_names),
                             size=size)
    images = [np.asarray(r.image) for r in lesions.data] + [np.asarray(r.image) for r in normals.data]
    y = np.concatenate([np.asarray(lesions.target), np.asarray(normals.target)])
    women = np.concatenate([np.asarray(lesions.groups), np.asarray(normals.groups)])
    abnormal_dropped = [d for d in lesions.dropped if "no lesion coordinates" in d[1]]
    desc = (f"{len(y)} patches ({int(y.sum())} lesion-centred, {int((y == 0).sum())} at a lesion position drawn "
            f"for each normal image; {len(abnormal_dropped)} abnormal images without coordinates left out)")
    return images, y, women, desc


def family_matrix(images, family: str) -> np.ndarray:
    from featbus.pipelines import extract_features

    X, _ = extract_features(images, family, n_jobs=1, cache=str(CACHE), progress=False)
    return np.asarray(X, dtype=float)


def cell(rep, metric, cls="macro"):
    lo, hi = rep.interval(metric, cls)
    return f"{rep.value(metric, cls):.3f} [{lo:.2f}, {hi:.2f}]"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(get_data_home() / "mini-mias-original"))
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default=None, help="comma-separated row numbers (1-based) to run")
    args = ap.parse_args(argv)

    from featbus import load_data
    from featbus.evaluation import evaluate
    from featbus.pipelines import make_classification_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # this copy holds 120 of the 322 images Info.txt lists
        data = load_data(args.data, task="abnormal")
    women = np.asarray(data.groups)
    numbers = np.array([int(Path(p).stem[3:]) for p in data.paths])
    assert np.array_equal(women, (numbers - 1) // 2), "groups are not the women (even/odd pairs)"
    y_all = np.asarray(data.target)
    print(f"mini-MIAS {args.data}: {len(y_all)} images, {int((y_all == 0).sum())} normal, {int(y_all.sum())} "
          f"abnormal, {np.unique(women).size} women (groups: the two breasts of one woman)")
    print(f"always answering 'normal': accuracy {np.mean(y_all == 0):.3f}, macro sensitivity 0.500, AUC 0.500")

    picked = range(1, len(RECIPES) + 1) if args.only is None else [int(k) for k in args.only.split(",")]
    rows = [(k, *RECIPES[k - 1]) for k in picked]
    inputs, feats = {}, {}
    results = []
    names = np.array(list(data.target_names))
    for number, label, kind, families, clf, balance in rows:
        if kind not in inputs:
            t0 = time.perf_counter()
            if kind == "breast region":  # the example's own chain starts from the images as read
                inputs[kind] = ([np.asarray(im) for im in data.images], y_all, women, f"{len(y_all)} whole images")
            elif kind.startswith("ROI"):
                inputs[kind] = roi_patches(data, kind, seed=args.seed)
            else:
                inputs[kind] = (whole_images(data.images, kind), y_all, women, f"{len(y_all)} whole images")
            print(f"input {kind!r}: {inputs[kind][3]} ({time.perf_counter() - t0:.0f} s)", flush=True)
        images, y, groups, _ = inputs[kind]
        if families == "example":
            from mias_normal_vs_abnormal import feature_pipeline
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            from featbus import ImageRecord

            t0 = time.perf_counter()
            X = feature_pipeline(remove_muscle=True).fit_transform([ImageRecord(im) for im in images])
            print(f"  the example's breast-region features: {X.shape[1]} columns ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
            pipe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
            rep = evaluate(pipe, X, y, cv="duplicate-grouped", n_splits=5, groups=groups,
                           n_bootstrap=args.n_bootstrap, random_state=args.seed, target_names=names,
                           name=label, progress=False)
            results.append((number, label, kind, len(y), rep))
            continue
        blocks = []
        for fam in families.split(","):
            if (kind, fam) not in feats:
                t0 = time.perf_counter()
                feats[(kind, fam)] = family_matrix(images, fam)
                print(f"  {fam} on {kind!r}: {feats[(kind, fam)].shape[1]} columns "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
            blocks.append(feats[(kind, fam)])
        X = np.hstack(blocks)
        pipe = make_classification_pipeline(None, blocks=[b.shape[1] for b in blocks], classifier=clf,
                                            balance=balance, random_state=args.seed, n_jobs=1)
        rep = evaluate(pipe, X, y, cv="duplicate-grouped", n_splits=5, groups=groups,
                       n_bootstrap=args.n_bootstrap, random_state=args.seed, target_names=names,
                       name=label, progress=False)
        results.append((number, label, kind, len(y), rep))

    print("\nnormal vs abnormal on mini-MIAS originals: 5 folds grouped by woman; value [95 % bootstrap "
          "interval over women]")
    head = (f"{'#':>2}  {'recipe':48}{'input':16}{'n':>4}  {'accuracy':22}{'macro sensitivity':22}"
            f"{'abnormal sens.':22}{'abnormal AUC'}")
    print(head)
    print("-" * len(head))
    for k, label, kind, n, rep in results:
        print(f"{k:>2}  {label:48}{kind:16}{n:>4}  {cell(rep, 'accuracy'):22}{cell(rep, 'sensitivity'):22}"
              f"{cell(rep, 'sensitivity', 'abnormal'):22}{cell(rep, 'auc', 'abnormal')}")
    print("balanced class weights unless the recipe says 'no weights'; CV folds and bootstrap seeded "
          f"{args.seed}; the best of {len(results)} rows is picked after the fact, so its interval is "
          "optimistic.")


if __name__ == "__main__":
    main()
