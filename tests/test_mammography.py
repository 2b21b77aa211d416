"""Tests of featbus.preprocessing.mammography: breast mask, orientation, pectoral removal."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from featbus import BreastMask, ImageError, ImageRecord, PectoralMuscleRemover
from featbus.preprocessing.mammography import (
    breast_mask,
    chest_wall_side,
    make_mammogram_phantom,
    remove_pectoral,
)
from featbus.testing import parametrize_with_image_checks


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def phantom_records(n: int = 6) -> list[ImageRecord]:
    """Small phantoms of two sizes and both sides, each with a round lesion mask."""
    recs = []
    for i in range(n):
        shape = (96, 96) if i % 2 else (112, 96)
        img, _ = make_mammogram_phantom(shape, side="left" if i % 3 else "right", seed=i)
        rr, cc = np.mgrid[: shape[0], : shape[1]]
        lesion = (rr - 0.7 * shape[0]) ** 2 + (cc - shape[1] / 2) ** 2 < 36
        recs.append(ImageRecord(img, lesion if i < n - 1 else np.zeros(shape, bool), meta={"i": i}))
    return recs


# --------------------------------------------------------------------------- phantom truth
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("shape", [(256, 256), (400, 320)])
def test_pectoral_iou_on_phantoms(dtype, side, shape):
    for seed in range(3):
        img, truth = make_mammogram_phantom(shape, side=side, seed=seed, dtype=dtype)
        res = remove_pectoral(img)
        assert res.found and res.side == side and res.reason == ""
        assert iou(res.pectoral_mask, truth["muscle"]) >= 0.9
        assert res.image.dtype == img.dtype
        assert np.all(res.image[res.pectoral_mask] == 0)
        np.testing.assert_array_equal(res.image[~res.pectoral_mask], img[~res.pectoral_mask])
        assert res.fraction == pytest.approx(res.pectoral_mask.sum() / res.breast_mask.sum())


def test_pectoral_full_size_uint16():
    img, truth = make_mammogram_phantom((1024, 1024), side="right", seed=5, dtype=np.uint16)
    res = remove_pectoral(img)
    assert res.found and iou(res.pectoral_mask, truth["muscle"]) >= 0.9
    assert res.image.dtype == np.uint16


def test_no_muscle_is_passed_through_and_flagged():
    for seed in range(4):
        img, _ = make_mammogram_phantom((200, 200), muscle=False, seed=seed, side="right")
        res = remove_pectoral(img)
        assert not res.found and res.fraction == 0.0 and res.reason
        assert not res.pectoral_mask.any()
        np.testing.assert_array_equal(res.image, img)


def test_corner_cut_away_is_passed_through():
    # the muscle already cut out (set to 0), as in many archived films
    img, truth = make_mammogram_phantom((200, 200), seed=1)
    img[truth["muscle"]] = 0
    res = remove_pectoral(img)
    assert not res.found and "corner" in res.reason


def test_fill_local_uses_breast_level():
    img, truth = make_mammogram_phantom((256, 256), seed=2)
    res = remove_pectoral(img, fill="local")
    assert res.found
    vals = np.unique(res.image[res.pectoral_mask])
    assert vals.size == 1
    tissue = img[truth["breast"] & ~truth["muscle"]]
    assert np.percentile(tissue, 5) <= vals[0] <= np.percentile(tissue, 95)


def test_remove_pectoral_with_given_mask_and_bad_params():
    img, truth = make_mammogram_phantom((160, 160), seed=0)
    res = remove_pectoral(img, mask=truth["breast"])
    assert res.found and iou(res.pectoral_mask, truth["muscle"]) >= 0.85
    with pytest.raises(ValueError, match="fill"):
        remove_pectoral(img, fill="mean")
    with pytest.raises(ValueError, match="min_contrast"):
        remove_pectoral(img, min_contrast=2)
    with pytest.raises(ValueError, match="mask has shape"):
        remove_pectoral(img, mask=np.ones((10, 10), bool))
    with pytest.raises(ValueError, match="no breast"):
        remove_pectoral(np.zeros((64, 64), np.uint8))


# --------------------------------------------------------------------------- breast mask, side
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_breast_mask_drops_label_and_background(dtype):
    img, truth = make_mammogram_phantom((256, 200), side="right", seed=4, dtype=dtype)
    masked, mask = breast_mask(img)
    assert mask.dtype == bool and masked.dtype == dtype
    assert iou(mask, truth["breast"]) > 0.95
    assert not (mask & truth["label"]).any()
    assert masked[~mask].max() == 0
    np.testing.assert_array_equal(masked[mask], img[mask])


def test_breast_mask_threshold_param():
    img, truth = make_mammogram_phantom((128, 128), seed=0)
    _, mask = breast_mask(img, threshold=0.1)
    assert iou(mask, truth["breast"]) > 0.9
    with pytest.raises(ValueError, match="threshold"):
        breast_mask(img, threshold=1.5)


@pytest.mark.parametrize("side", ["left", "right"])
def test_chest_wall_side(side):
    for seed in range(3):
        img, truth = make_mammogram_phantom((180, 150), side=side, seed=seed, muscle=seed != 1)
        assert chest_wall_side(img) == side
        assert chest_wall_side(img, mask=truth["breast"]) == side


# --------------------------------------------------------------------------- transformers
def test_breast_mask_transformer_orientation_carries_lesion_mask():
    recs = phantom_records(4)
    out = BreastMask(orientation="left").fit_transform(recs)
    for rec, o in zip(recs, out):
        assert isinstance(o, ImageRecord) and o.meta["i"] == rec.meta["i"]
        assert o.meta["chest_wall"] in ("left", "right")
        assert o.meta["flipped"] == (o.meta["chest_wall"] == "right")
        assert chest_wall_side(o.image) == "left"
        expected_mask = rec.mask[:, ::-1] if o.meta["flipped"] else rec.mask
        np.testing.assert_array_equal(o.mask, expected_mask)
        assert o.meta["breast_mask"].shape == o.image.shape
        assert o.image[~o.meta["breast_mask"]].max() == 0
    # None keeps orientation
    out = BreastMask().fit_transform(recs)
    assert not any(o.meta["flipped"] for o in out)


def test_pectoral_transformer_meta_and_kinds(tmp_path):
    img, truth = make_mammogram_phantom((200, 180), side="right", seed=3)
    rec = ImageRecord(img, truth["muscle"] & False)
    out = PectoralMuscleRemover(orientation="left", mask_background=True).fit_transform([rec])[0]
    assert out.meta["pectoral_found"] and out.meta["flipped"] and out.meta["chest_wall"] == "right"
    assert iou(out.meta["pectoral_mask"], truth["muscle"][:, ::-1]) >= 0.9
    assert 0.02 < out.meta["pectoral_fraction"] < 0.4
    assert out.image[~out.meta["breast_mask"]].max() == 0  # label gone with mask_background
    # plain arrays give plain arrays; paths give records
    arr = PectoralMuscleRemover().fit_transform([img])[0]
    assert isinstance(arr, np.ndarray) and arr.dtype == img.dtype
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "phantom.pgm"
    cv2.imwrite(str(path), img)
    from_path = PectoralMuscleRemover().fit_transform([str(path)])[0]
    assert isinstance(from_path, ImageRecord) and from_path.path == str(path)
    np.testing.assert_array_equal(from_path.image, arr)


def test_transformer_parameter_validation():
    X = [make_mammogram_phantom((64, 64))[0]]
    for est in (PectoralMuscleRemover(fill="zero"), PectoralMuscleRemover(min_contrast=-1),
                PectoralMuscleRemover(orientation="up"), PectoralMuscleRemover(mask_background="yes"),
                BreastMask(threshold=2.0), BreastMask(orientation="top"), BreastMask(n_jobs=0)):
        with pytest.raises(ValueError):
            est.fit(X)


def test_bad_image_is_named():
    good = make_mammogram_phantom((64, 64))[0]
    with pytest.raises(ImageError, match="image 1"):
        PectoralMuscleRemover().fit_transform([good, np.zeros((64, 64), np.uint8)])
    with pytest.raises(ImageError, match="image 0"):
        BreastMask().fit_transform([np.zeros((64, 64), np.uint8)])


def test_pickle_clone_keep_meta():
    # (n_jobs invariance is in the common checks below)
    recs = phantom_records(4)
    est = PectoralMuscleRemover(fill="local")
    a = est.fit_transform(recs)
    b = pickle.loads(pickle.dumps(clone(est))).fit_transform(recs)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.image, y.image)
        np.testing.assert_array_equal(x.meta["pectoral_mask"], y.meta["pectoral_mask"])


@parametrize_with_image_checks([BreastMask(), PectoralMuscleRemover(orientation="left")],
                               phantom_records())
def test_common_image_checks(estimator, check):
    check()


# --------------------------------------------------------------------------- real mini-MIAS
def _load_mias(root):
    from featbus import load_mias

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # this copy holds 120 of the 322 images listed
        return load_mias(root)


def test_mias_side_and_lesion_retention(mias_root):
    b = _load_mias(mias_root)
    n_les, misses = 0, []
    for i, (img, lesions) in enumerate(zip(b.images, b.lesions)):
        name = str(b.paths[i])
        number = int(name[-7:-4])
        if not lesions and number % 4:  # all lesion images, a quarter of the others
            continue
        res = remove_pectoral(img)
        # MIAS convention: even numbers have the chest wall on the left of the image
        assert res.side == ("left" if number % 2 == 0 else "right"), name
        assert res.fraction < 0.4, name
        kept = res.breast_mask & ~res.pectoral_mask
        for row, col, _ in lesions:
            n_les += 1
            if not kept[min(int(row), img.shape[0] - 1), int(col)]:
                misses.append(name)
    assert n_les > 30 and not misses, misses


def test_mias_reinserted_muscle(mias_root):
    """Paint a bright muscle into the chest-wall wedge of mdb001/mdb002 (cut away in this copy)."""
    import cv2

    for name in ("mdb001", "mdb002"):
        img = cv2.imread(str(mias_root / f"{name}.pgm"), cv2.IMREAD_UNCHANGED)
        _, bm = breast_mask(img)
        side = chest_wall_side(img, mask=bm)
        g, m = (img[:, ::-1], bm[:, ::-1]) if side == "right" else (img, bm)
        rows, cols = np.nonzero(m)
        r0, c0 = rows.min(), cols.min()
        wall = np.nonzero(m[:, c0:c0 + 8].any(axis=1))[0].min()
        first = np.argmax(m, axis=1)
        wedge = np.zeros_like(m)
        for r in range(r0, wall):
            wedge[r, c0:first[r]] = first[r] > c0
        assert wedge.sum() > 0.05 * m.sum()
        rng = np.random.default_rng(0)
        g = g.copy()
        g[wedge] = np.clip(np.percentile(g[m], 90) + rng.normal(0, 6, wedge.sum()), 0, 255).astype(np.uint8)
        if side == "right":
            g, wedge = g[:, ::-1], wedge[:, ::-1]
        res = remove_pectoral(np.ascontiguousarray(g))
        assert res.found and iou(res.pectoral_mask, wedge) > 0.85, name


def test_12_bit_data_in_uint16():
    # 12-bit detectors store 0..4095 in uint16: thresholds are relative to the image's range
    img, truth = make_mammogram_phantom((300, 260), side="right", seed=6, dtype=np.uint16)
    img12 = (img >> 4).astype(np.uint16)
    masked, mask = breast_mask(img12)
    assert iou(mask, truth["breast"]) > 0.95
    res = remove_pectoral(img12)
    assert res.found and res.side == "right" and iou(res.pectoral_mask, truth["muscle"]) >= 0.9
    out = PectoralMuscleRemover(fill="local").fit_transform([ImageRecord(img12)])[0]
    assert out.image.dtype == np.uint16 and out.image.max() <= 4095


# Original mini-MIAS images (muscle intact) against their approximate references (derived from
# the cut-out copy, rough at the pixel level: the bounds are well below what the method reaches
# on these images, see benchmarks/pectoral_mias.py, and test kinds of image, not pixels).
_ORIGINAL_CASES = [
    ("mdb040", 0.9),   # a large muscle, chest wall on the left
    ("mdb015", 0.85),  # a faint muscle, chest wall on the right
    ("mdb053", 0.75),  # the muscle spans the top of the breast: its edge ends on the skin line
    ("mdb054", 0.75),  # the same, chest wall on the left
    ("mdb002", 0.8),
]


def _dice(a, b):
    return 1.0 if a.sum() + b.sum() == 0 else 2 * (a & b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("name, least", _ORIGINAL_CASES)
def test_original_mias_muscle_found(mias_original_root, name, least):
    import cv2

    img = cv2.imread(str(mias_original_root / f"{name}.png"), cv2.IMREAD_UNCHANGED)
    ref = cv2.imread(str(mias_original_root / "pectoral" / f"{name}_pectoral.png"), cv2.IMREAD_UNCHANGED) > 0
    res = remove_pectoral(img)
    assert res.found and res.side == ("left" if int(name[3:]) % 2 == 0 else "right")
    assert _dice(res.pectoral_mask, ref) >= least
    assert np.all(res.image[res.pectoral_mask] == 0)


@pytest.mark.parametrize("name", ["mdb031", "mdb098"])
def test_original_mias_without_visible_muscle_passes_through(mias_original_root, name):
    """The two originals whose reference has no muscle (none visible) are left unchanged."""
    import cv2

    img = cv2.imread(str(mias_original_root / f"{name}.png"), cv2.IMREAD_UNCHANGED)
    res = remove_pectoral(img)
    assert not res.found and "no muscle" in res.reason
    np.testing.assert_array_equal(res.image, img)


def test_original_mias_keeps_every_lesion_centre(mias_original_root):
    from featbus import load_mias

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 120 of the 322 images Info.txt lists
        b = load_mias(mias_original_root)
    assert [p[-4:] for p in b.paths[:1]] == [".png"] and len(b.images) == 120
    n = 0
    for img, lesions in zip(b.images, b.lesions):
        if not lesions:
            continue
        res = remove_pectoral(img)
        for row, col, _ in lesions:
            n += 1
            assert not res.pectoral_mask[min(int(row), img.shape[0] - 1), int(col)]
    assert n == 39


def test_cut_across_top_passes_through(mias_root):
    """Cut-out copies whose cut ran straight across the top (mdb061, mdb065) are not cut again."""
    import cv2

    for name in ("mdb061", "mdb065"):
        img = cv2.imread(str(mias_root / f"{name}.pgm"), cv2.IMREAD_UNCHANGED)
        res = remove_pectoral(img)
        assert not res.found and "cut away" in res.reason, name
