"""
Lesion ROI cropping with a trained U-Net on BUSI: the figure, and the downstream gain
=====================================================================================

Uses the segmenter trained by ``benchmarks/segmentation_busi.py``, saved with the list of the
images it held out (whole near-duplicate groups, never seen in its training):

1. draws image, ground-truth contour, predicted contour and crop box for a few held-out images;
2. compares malignant-vs-rest classification on features of the whole image versus features of
   the ROI crop of the *predicted* lesion (no ground-truth mask is used after training), for
   texture features (LBP + GLCM + intensity statistics), EfficientNet-Lite0 features, and
   texture plus shape of the predicted mask and the "lesion found" flag. Three protocols:

   A. train the classifier on the segmenter's training images, test on its held-out images
      (95 % bootstrap intervals over held-out near-duplicate groups, paired for the difference);
   B. 5-fold cross-validation on the held-out images alone, near-duplicate groups kept together;
   C. when ``benchmarks/segmentation_busi.py --cv 5`` has saved out-of-fold masks next to the
      model (``.oof.npz``): 5-fold grouped CV over all 625 images on the folds of that run, every
      crop cut from the mask of a segmenter that never saw the image or a near-copy of it
      (:func:`featbus.evaluation.evaluate` and :func:`~featbus.evaluation.compare`: bootstrap
      intervals over near-duplicate groups, paired tests).

   In A the training images' crops come from a segmenter that saw their masks, so they are
   cleaner than the test crops: a bias against the ROI pipeline, not for it. In C a training
   image's crop comes from a segmenter that saw the test fold's masks (never its labels).

BUSI: Al-Dhabyani et al., Data in Brief 28:104863 (2020). Run from the repository root::

    OMP_NUM_THREADS=2 python examples/busi_roi.py [--model ~/.cache/featbus/busi_unet.keras] [--out busi_roi.png]
"""

# a still drawn by docs/make_gallery_thumbnails.py (this example is not run by the docs build)
# sphinx_gallery_thumbnail_path = "_static/gallery/busi_roi.png"

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from featbus import get_data_home

DEFAULT_DATA = get_data_home() / "busi"
DEFAULT_MODEL = Path.home() / ".cache" / "featbus" / "busi_unet.keras"
CACHE = Path(__file__).resolve().parent / "out" / "cache"  # git-ignored: reruns skip the CNN


def bootstrap_units(groups: np.ndarray) -> list[np.ndarray]:
    """Indices of each near-duplicate group: the units a bootstrap resamples."""
    return [np.flatnonzero(groups == g) for g in np.unique(groups)]


def held_out_scores(y, scores: dict[str, np.ndarray], groups, n_boot: int = 2000, seed: int = 0):
    """AUC and accuracy of each score vector with group-bootstrap intervals; paired resamples."""
    from sklearn.metrics import roc_auc_score

    units = bootstrap_units(groups)
    rng = np.random.RandomState(seed)
    draws = [np.concatenate([units[j] for j in rng.randint(0, len(units), len(units))]) for _ in range(n_boot)]
    draws = [d for d in draws if 0 < y[d].sum() < len(d)]  # AUC needs both classes

    def metrics(s, idx):
        return roc_auc_score(y[idx], s[idx]), np.mean((s[idx] > 0) == y[idx])

    out = {}
    for name, s in scores.items():
        point = metrics(s, np.arange(len(y)))
        boot = np.array([metrics(s, d) for d in draws])
        out[name] = (point, boot)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--out", type=Path, default=Path.home() / ".cache" / "featbus" / "busi_roi.png")
    p.add_argument("--margin", type=float, default=0.15)
    args = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from featbus import (
        DeepFeatures,
        DuplicateGroupKFold,
        GLCMFeatures,
        ImageRecord,
        IntensityStats,
        LBPFeatures,
        ROICropper,
        ShapeFeatures,
        UNetSegmenter,
        load_busi,
    )
    from featbus.deploy.plotting import plot_segmentations
    from featbus.evaluation import compare, evaluate
    from featbus.segmentation import dice_scores
    from featbus.segmentation.roi import RoiFoundFlag, predicted_lesion

    t0 = time.perf_counter()
    seg = UNetSegmenter.load(args.model)
    heldout = json.loads(args.model.with_suffix(".heldout.json").read_text())
    data = load_busi(args.data)
    by_path = {str(Path(r.path).resolve()): k for k, r in enumerate(data.data)}
    test = np.array([by_path[str(Path(q).resolve())] for q in heldout["paths"]])
    train = np.setdiff1d(np.arange(len(data.data)), test)
    classes = np.asarray(data.target_names)[data.target]
    y = (classes == "malignant").astype(int)
    groups = np.asarray(data.groups)
    assert not set(groups[train]) & set(groups[test]), "held-out list shares a near-duplicate group"
    print(f"BUSI: {len(train)} images the segmenter trained on (normal ones included here), "
          f"{len(test)} held out ({', '.join(f'{c} {int((classes[test] == c).sum())}' for c in np.unique(classes))})")

    # the ground-truth masks are dropped: nothing after training may see them
    bare = [ImageRecord(r.image, None, r.path, r.meta) for r in data.data]
    t = time.perf_counter()
    predicted = seg.predict_masks(bare)  # every image once; all crops below come from these
    print(f"segmented {len(bare)} images in {time.perf_counter() - t:.0f} s")

    # --- 1. the figure, cropped the pipeline way: ROICropper(segmenter=...) ----------------------
    cropper = ROICropper(segmenter=FrozenEstimator(seg), source="segmenter", margin=args.margin)
    pick = [k for c in ("benign", "malignant", "normal")
            for k in test[classes[test] == c][:{"normal": 1}.get(c, 3)]]
    shown = [data.data[k] for k in pick]
    boxes = [c.meta["roi_box"] for c in cropper.fit_transform([bare[k] for k in pick])]
    titles = [f"{classes[k]}: {Path(data.data[k].path).stem}" for k in pick]
    fig = plot_segmentations(shown, [r.mask for r in shown], [predicted[k] for k in pick], boxes, titles, ncols=4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"figure saved to {args.out}")

    # --- 2. crops of every image from the predicted lesion, features computed once ------------
    def crop_all(masks):
        """What ROICropper(segmenter=...) cuts, from masks already predicted: each image's
        predicted lesion (largest component, no speckle) and the crops; an empty lesion keeps
        the whole image with roi_found=False."""
        lesions = [predicted_lesion(m) for m in masks]
        recs = [ImageRecord(r.image, m, r.path, r.meta) for r, m in zip(bare, lesions)]
        return lesions, ROICropper(source="mask", margin=args.margin, output_size=224).fit_transform(recs)

    def texture():
        return [("lbp", LBPFeatures()), ("glcm", GLCMFeatures()), ("stats", IntensityStats())]

    deep = DeepFeatures(backbone="efficientnet_lite0", cache=CACHE)

    def roi_features(crops):
        tex = FeatureUnion(texture()).fit_transform(crops)
        extra = FeatureUnion([("shape", ShapeFeatures()), ("found", RoiFoundFlag())]).fit_transform(crops)
        return {"texture": tex, "Lite0": deep.fit_transform(crops), "texture + shape + flag": np.hstack([tex, extra])}

    t = time.perf_counter()
    _, crops = crop_all(predicted)
    d = dice_scores([data.data[k].mask for k in test], [predicted[k] for k in test])
    lesion = classes[test] != "normal"
    found = np.array([c.meta["roi_found"] for c in crops])
    print(f"cropped {len(crops)} images in {time.perf_counter() - t:.0f} s; held-out Dice "
          f"(benign+malignant) {d[lesion].mean():.3f}; lesion found in {found[test][lesion].mean():.2f} of "
          f"held-out lesion images and {found[test][~lesion].mean():.2f} of held-out normal ones")
    t = time.perf_counter()
    whole_feats = {"texture": FeatureUnion(texture()).fit_transform(bare), "Lite0": deep.fit_transform(bare)}
    feats = {name: (whole_feats.get(name), F) for name, F in roi_features(crops).items()}
    print(f"features in {time.perf_counter() - t:.0f} s")

    def clf():
        return make_pipeline(StandardScaler(), SVC(class_weight="balanced"))

    # --- A: train on the segmenter's training images, test on its held-out images --------------
    print(f"\nA. malignant vs rest: trained on {len(train)} images, tested on the {len(test)} held-out ones "
          "(95% group-bootstrap intervals)")
    print(f"{'features':<24}{'input':<8}{'AUC':>22}{'accuracy':>24}")
    diffs = []
    for name, (whole, crop) in feats.items():
        scores = {}
        for inp, F in (("whole", whole), ("ROI", crop)):
            if F is not None:
                scores[inp] = clf().fit(F[train], y[train]).decision_function(F[test])
        res = held_out_scores(y[test], scores, groups[test])
        for inp, ((auc, acc), boot) in res.items():
            lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
            print(f"{name:<24}{inp:<8}{auc:>8.3f} [{lo[0]:.3f}, {hi[0]:.3f}]{acc:>10.3f} [{lo[1]:.3f}, {hi[1]:.3f}]")
        if len(res) == 2:
            (pw, bw), (pr, br) = res["whole"], res["ROI"]
            dl, dh = np.percentile(br - bw, [2.5, 97.5], axis=0)
            diffs.append(f"{name:<24}ROI - whole: AUC {pr[0] - pw[0]:+.3f} [{dl[0]:+.3f}, {dh[0]:+.3f}], "
                         f"accuracy {pr[1] - pw[1]:+.3f} [{dl[1]:+.3f}, {dh[1]:+.3f}]")
    print("\n".join(diffs))

    # --- B: grouped 5-fold CV on the held-out images only ------------------------------------
    cv = DuplicateGroupKFold(n_splits=5)
    print(f"\nB. malignant vs rest, {cv.n_splits}-fold CV on the {len(test)} held-out images, near-duplicates "
          "grouped (mean +- sd over folds)")
    print(f"{'features':<24}{'input':<8}{'AUC':>16}{'accuracy':>18}")
    for name, (whole, crop) in feats.items():
        for inp, F in (("whole", whole), ("ROI", crop)):
            if F is None:
                continue
            res = cross_validate(clf(), F[test], y[test], groups=groups[test], cv=cv, scoring=("roc_auc", "accuracy"))
            auc, acc = res["test_roc_auc"], res["test_accuracy"]
            print(f"{name:<24}{inp:<8}{auc.mean():>8.3f} +-{auc.std():.3f}{acc.mean():>10.3f} +-{acc.std():.3f}")

    # --- C: grouped 5-fold CV over all images, crops from out-of-fold masks ------------------
    oof_file = args.model.with_suffix(".oof.npz")
    if oof_file.is_file():
        oof = np.load(oof_file)
        pos = {str(Path(q).resolve()): i for i, q in enumerate(oof["paths"])}
        where = [pos[str(Path(r.path).resolve())] for r in data.data]
        fold = oof["fold"][where]
        masks, crops_oof = crop_all([oof[f"mask_{j}"] for j in where])
        oof_feats = {name: (whole_feats.get(name), F) for name, F in roi_features(crops_oof).items()}
        splits = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in np.unique(fold)]
        lesion_dice = dice_scores([r.mask for r in data.data], masks)[classes != "normal"].mean()
        print(f"\nC. malignant vs rest, {len(splits)}-fold grouped CV over all {len(y)} images on the folds of "
              f"{oof_file.name}; crops from out-of-fold masks (Dice on lesion images {lesion_dice:.3f}); "
              "95% group-bootstrap intervals")
        print(f"{'features':<24}{'input':<8}{'malignant AUC':>24}{'accuracy':>24}")
        reports = {}
        for name, (whole, crop) in oof_feats.items():
            for inp, F in (("whole", whole), ("ROI", crop)):
                if F is None:
                    continue
                r = evaluate(clf(), F, y, cv=splits, groups=groups, name=f"{name} {inp}",
                             target_names=["other", "malignant"])
                reports[name, inp] = r
                auc, (alo, ahi) = r.value("auc", "malignant"), r.interval("auc", "malignant")
                acc, (clo, chi) = r.value("accuracy"), r.interval("accuracy")
                print(f"{name:<24}{inp:<8}{auc:>8.3f} [{alo:.3f}, {ahi:.3f}]{acc:>10.3f} [{clo:.3f}, {chi:.3f}]")
        print("\npaired: ROI minus whole image (bootstrap interval; p: paired bootstrap, corrected t-test)")
        for name in ("texture", "Lite0"):
            for metric, cls in (("auc", "malignant"), ("accuracy", "macro")):
                row = compare([reports[name, "ROI"], reports[name, "whole"]], metric=metric, cls=cls).iloc[0]
                print(f"{name:<10}{metric:<10}{row['difference']:+.3f} "
                      f"[{row['diff_low']:+.3f}, {row['diff_high']:+.3f}]"
                      f"  p={row['p_bootstrap']:.3f}, {row['p_corrected_t']:.3f}")
    else:
        print(f"\n(C skipped: no out-of-fold masks at {oof_file}; run benchmarks/segmentation_busi.py --cv 5)")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
