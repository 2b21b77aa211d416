"""Explanations: occlusion and Grad-CAM maps peak on a phantom lesion; Grad-CAM's head gradient is exact
for a logistic regression and matches it by differences; maps go back through every geometric step."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.utils import Bunch

from featbus import ImageRecord
from featbus.datasets import make_phantoms
from featbus.deploy.explain import (
    ROBUST_PERCENTILE,
    _class_weights,
    _deep_columns,
    _input_to_record,
    class_score,
    colour_scale,
    explain,
    explain_to_files,
    grad_cam,
    head_gradient,
    occlusion_map,
    overlay,
    supports_grad_cam,
)
from featbus.features.deep import keras_pool, keras_preprocess, pool_gradient
from featbus.workflows.training import train_model

# trains or builds networks (python -m pytest -m "not slow" leaves it out); its Grad-CAM gradients, one per
# image, run faster compiled (conftest.pytest_configure)
pytestmark = [pytest.mark.slow, pytest.mark.compiled]

SIZE = 64


def lesion_set(n: int, seed: int) -> Bunch:
    """Lesion-free phantoms; every other one gets a dark disk (the only cue of class 'lesion')."""
    ph = make_phantoms(n, image_size=SIZE, weights=(0, 0, 1), random_state=seed)
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    images, masks = [], []
    for i, im in enumerate(ph.images):
        im = im.astype(float)
        mask = np.zeros(im.shape, bool)
        if i % 2:
            r = rng.uniform(8, 11)
            cy, cx = rng.uniform(r + 4, SIZE - r - 4, 2)
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            im[mask] *= 0.1  # hypoechoic, like a lesion
        images.append(im.clip(0, 255).astype(np.uint8))
        masks.append(mask)
    target = np.arange(n) % 2
    return Bunch(data=[ImageRecord(im) for im in images], images=images, masks=masks, target=target,
                 target_names=np.array(["none", "lesion"]), groups=np.arange(n))


@pytest.fixture(scope="module")
def lesion_model():
    return train_model(lesion_set(100, 0), "intensity", classifier="logreg", n_bootstrap=0, progress=False)


def test_occlusion_map_peaks_on_the_lesion(lesion_model):
    test = lesion_set(12, 1)
    patch = max(8, SIZE // 6)
    for image, mask in zip(test.images, test.masks):
        if not mask.any():
            continue
        sens = occlusion_map(lesion_model, image, target="lesion", patch=patch)
        assert sens.shape == image.shape
        peak = np.unravel_index(np.argmax(sens), sens.shape)
        # an occlusion map has the patch's resolution: the peak is on the lesion or within half a patch
        rows, cols = np.nonzero(mask)
        dist = np.min(np.hypot(rows - peak[0], cols - peak[1]))
        assert dist <= patch / 2, (peak, dist)
        assert sens[mask].mean() > sens[~mask].mean()


def test_overlay_and_files(lesion_model, tmp_path):
    test = lesion_set(4, 2)
    path = tmp_path / "lesion.png"
    Image.fromarray(test.images[1]).save(path)
    files = explain_to_files(lesion_model, [str(path), test.images[1]], tmp_path / "out", progress=False)
    assert [f.split("/")[-1] for f in files] == ["lesion.occlusion.png", "image1.occlusion.png"]
    rgb = np.asarray(Image.open(files[0]).convert("RGB"))
    # a figure (the image, the map over it, its colour bar), not the bare SIZE x SIZE overlay
    assert rgb.shape[1] > rgb.shape[0] > SIZE and rgb.std() > 0
    # where the map is zero the overlay is the plain grey image
    flat = overlay(test.images[0], np.zeros((SIZE, SIZE)))
    assert np.array_equal(flat[..., 0], flat[..., 2])
    res = explain(lesion_model, test.images[1])
    assert res["method"] == "occlusion" and set(res["proba"]) == {"none", "lesion"}
    with pytest.raises(ValueError, match="not a class"):
        occlusion_map(lesion_model, test.images[1], target="benign")


def test_occlusion_colours_are_signed_robust_and_opaque_by_magnitude():
    """Occlusion maps: a diverging scale centred on 0, symmetric, saturating at the robust
    percentile of |map| (one outlying patch does not flatten the rest), colour opacity growing
    with |value| (a zero shows the plain image, the strongest values the most colour); red
    where hiding lowers the probability, blue where it raises it."""
    rng = np.random.default_rng(0)
    sens = rng.normal(0, 0.01, (SIZE, SIZE))
    sens[0, 0] = 5.0  # one outlier
    scale = colour_scale(sens, "occlusion", "lesion")
    assert scale["cmap"] == "RdBu_r" and scale["signed"] and scale["vmin"] == -scale["vmax"]
    assert scale["vmax"] == pytest.approx(np.percentile(np.abs(sens), ROBUST_PERCENTILE))
    assert scale["vmax"] < 0.05 and "P(lesion)" in scale["label"]
    grey = np.full((SIZE, SIZE), 128, np.uint8)
    m = np.zeros((SIZE, SIZE))
    m[:8], m[8:16], m[16:24] = 0.1, 0.05, -0.1
    rgb = overlay(grey, m, method="occlusion").astype(int)
    plain = overlay(grey, np.zeros((SIZE, SIZE)), method="occlusion").astype(int)
    assert np.all(rgb[40:] == plain[40:]) and np.all(plain == 128)  # zero: the plain image
    red, half, blue = rgb[4, 4], rgb[12, 4], rgb[20, 4]
    assert red[0] > red[2] + 40 and blue[2] > blue[0] + 40  # red supports the class, blue opposes it
    assert abs(half - 128).sum() < abs(red - 128).sum()  # smaller magnitude, fainter colour
    # Grad-CAM maps are non-negative and relative to their peak: a sequential scale from 0
    cam = colour_scale(np.linspace(0, 1, SIZE * SIZE).reshape(SIZE, SIZE), "gradcam", "lesion")
    assert cam["cmap"] == "inferno" and (cam["vmin"], cam["vmax"]) == (0.0, 1.0) and not cam["signed"]
    with pytest.raises(ValueError, match="shape"):
        overlay(grey, np.zeros((4, 4)))


def test_explanation_figure_has_a_colour_bar_saying_what_the_values_mean(lesion_model):
    from featbus.deploy.plotting import plot_explanation

    res = explain(lesion_model, lesion_set(4, 2).images[1])
    fig = plot_explanation(res)
    image_ax, map_ax, bar_ax = fig.axes
    assert bar_ax.get_ylabel() == f"drop of P({res['target']}) when the region is hidden"
    assert image_ax.get_title().startswith(f"predicted: {res['predicted']} (P = ")
    lo, hi = bar_ax.get_ylim()
    assert lo == pytest.approx(-hi) and hi > 0
    assert len(plot_explanation(res, panels=("map",)).axes) == 2
    with pytest.raises(ValueError, match="panels"):
        plot_explanation(res, panels=("contour",))


def test_explanations_show_progress_unless_asked_not_to(lesion_model, tmp_path, capsys):
    """featbus's progress convention: a bar over the images and one over each image's occlusion
    patches on standard error; nothing with progress=False (``--quiet``)."""
    images = lesion_set(4, 2).images[:2]
    explain_to_files(lesion_model, images, tmp_path / "a", progress=True)
    err = capsys.readouterr().err
    assert "explain" in err and "2/2" in err and "occlusion" in err and "patch" in err
    explain_to_files(lesion_model, images, tmp_path / "b", progress=False)
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def deep_model():
    pytest.importorskip("tensorflow")
    from featbus import DeepFeatures

    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32, pooling=("avg", "max"))
    data = make_phantoms(24, image_size=48, random_state=0)
    return train_model(data, [("lite0", deep), "intensity"], classifier="logreg", n_bootstrap=0,
                       cross_validate=False, progress=False)


def test_grad_cam_uses_the_exact_class_logit(deep_model):
    import tensorflow as tf

    assert supports_grad_cam(deep_model)
    images = make_phantoms(3, image_size=48, random_state=9).images
    X = deep_model.transform(images)
    scaler, clf = deep_model.head.steps[0][1], deep_model.head.steps[-1][1]
    logits = clf.decision_function(scaler.transform(X))
    for k in range(len(deep_model.classes_)):
        w, b = _class_weights(deep_model, k)
        # the raw-feature weights reproduce the classifier's logit (tolerance: float32 features)
        np.testing.assert_allclose(X @ w + b, logits[:, k], rtol=1e-5, atol=1e-4)
    # the TF re-expression of the pooled features equals DeepFeatures' own features
    est, cols = _deep_columns(deep_model)
    net = est.network()
    x = np.stack([est._prepare(est._load(im, i), i) for i, im in enumerate(images)])
    maps = net.extractor(keras_preprocess(tf.constant(x), net.backbone.preprocess), training=False)
    np.testing.assert_allclose(keras_pool(maps, net.pooling).numpy(), X[:, cols], rtol=1e-4, atol=1e-4)
    cam = grad_cam(deep_model, images[0])
    assert cam.shape == images[0].shape and cam.min() >= 0 and cam.max() <= 1
    assert explain(deep_model, images[0])["method"] == "gradcam"


def test_grad_cam_refuses_what_it_cannot_explain(lesion_model):
    pytest.importorskip("tensorflow")
    from featbus import DeepFeatures

    assert not supports_grad_cam(lesion_model)  # no CNN
    with pytest.raises(ValueError, match="use occlusion_map"):
        grad_cam(lesion_model, np.zeros((SIZE, SIZE), np.uint8))
    # a forest is piecewise constant in its features: no gradient to weight the maps with
    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32)
    forest = train_model(lesion_set(20, 3), [("lite0", deep)], classifier="rf", cross_validate=False, progress=False)
    assert not supports_grad_cam(forest)
    assert explain(forest, lesion_set(2, 4).images[1])["method"] == "occlusion"


def test_head_gradient_by_differences_matches_the_exact_weights():
    """For a binary logistic regression the log-odds is the logit: the path-averaged central
    differences (the route every non-linear head takes) must give the exact weights.
    Tolerance: float64 differences of a linear function, relative 1e-4 of the largest weight."""
    pytest.importorskip("tensorflow")
    from featbus import DeepFeatures

    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32, pooling=("avg", "max"))
    model = train_model(lesion_set(40, 5), [("lite0", deep), "intensity"], classifier="logreg",
                        cross_validate=False, progress=False)
    _, cols = _deep_columns(model)
    for image in lesion_set(3, 6).images:
        x = model.transform([image])[0]
        for k in range(2):
            exact = head_gradient(model, x, cols, k)
            approx = head_gradient(model, x, cols, k, exact=False)
            np.testing.assert_allclose(approx, exact, rtol=1e-4, atol=1e-4 * np.abs(exact).max())


def test_class_score_of_a_calibrated_svc_is_its_calibrated_logit():
    """The score Grad-CAM differentiates for featbus's default head (Platt-calibrated SVC):
    the sigmoid of each class's score, normalised over the classes, is predict_proba."""
    data = make_phantoms(45, image_size=48, random_state=2)
    model = train_model(data, "intensity", classifier="svm", cross_validate=False, progress=False)
    assert hasattr(model.head, "calibrated_classifiers_")
    X = model.transform(make_phantoms(6, image_size=48, random_state=3).images)
    scores = np.column_stack([class_score(model.head, X, k) for k in range(3)])
    sig = 1 / (1 + np.exp(-scores))
    np.testing.assert_allclose(sig / sig.sum(axis=1, keepdims=True), model.head.predict_proba(X), rtol=1e-9)
    # two classes: one calibrator; the first class's score is the second's negative
    two = train_model(lesion_set(40, 7), "intensity", classifier="svm", cross_validate=False, progress=False)
    X2 = two.transform(lesion_set(4, 8).images)
    s1 = class_score(two.head, X2, 1)
    np.testing.assert_allclose(class_score(two.head, X2, 0), -s1)
    np.testing.assert_allclose(1 / (1 + np.exp(-s1)), two.head.predict_proba(X2)[:, 1], rtol=1e-9)


@pytest.mark.parametrize("classifier", ["svm", "logreg"])
def test_grad_cam_peaks_on_the_phantom_lesion(classifier):
    """ImageNet Lite0 features + the default calibrated RBF SVC (path-averaged difference
    gradient) or a logistic regression (exact weights): on every test image with a lesion the
    map's peak lies on the dark disk and the map is brighter there than elsewhere."""
    pytest.importorskip("tensorflow")
    from featbus import DeepFeatures

    deep = DeepFeatures(backbone="efficientnet_lite0", input_size=224)
    model = train_model(lesion_set(60, 0), [("lite0", deep)], classifier=classifier, cross_validate=False,
                        progress=False)
    assert supports_grad_cam(model)
    test = lesion_set(16, 1)
    for image, mask in zip(test.images, test.masks):
        if not mask.any():
            continue
        cam = grad_cam(model, image, target="lesion")
        assert cam.shape == image.shape and 0 <= cam.min() and 0.5 < cam.max() <= 1  # resized: max near 1
        assert mask[np.unravel_index(np.argmax(cam), cam.shape)]
        assert cam[mask].mean() > 3 * cam[~mask].mean()


class _Geometry:
    """What :func:`_input_to_record` reads of a DeepFeatures: ``aspect`` and whether a mask is used."""

    def __init__(self, aspect, region="image"):
        self.aspect, self.region = aspect, region

    def _needs_mask(self):
        return self.region != "image"


def test_maps_go_back_through_aspect_and_region():
    wide = ImageRecord(np.zeros((40, 80), np.uint8))
    ones = np.ones((16, 16), np.float32)
    # stretch and pad: every image pixel was seen (pad's border is cut away again)
    assert np.all(_input_to_record(ones, _Geometry("stretch"), wide) == 1)
    assert np.all(_input_to_record(ones, _Geometry("pad"), wide) == 1)
    # centre crop: only the middle 40 x 40 was seen
    cropped = _input_to_record(ones, _Geometry("crop"), wide)
    assert np.all(cropped[:, 20:60] == 1) and np.all(cropped[:, :20] == 0) and np.all(cropped[:, 60:] == 0)
    # pad: the input's top half is padding plus the image's top rows
    half = np.zeros((16, 16), np.float32)
    half[:8] = 1
    padded = _input_to_record(half, _Geometry("pad"), wide)
    assert padded[:15].min() == 1 and padded[25:].max() == 0
    # region="bbox": the map lands in the lesion's box only
    mask = np.zeros((40, 80), bool)
    mask[10:20, 30:50] = True
    boxed = _input_to_record(ones, _Geometry("stretch", "bbox"), ImageRecord(np.zeros((40, 80), np.uint8), mask))
    assert np.all(boxed[mask] == 1) and boxed[~mask].max() == 0


@pytest.mark.parametrize("pooling", [("avg",), ("max",), ("gem",), (None,), ("avg", "max", "gem")])
def test_pool_gradient_matches_automatic_differentiation(pooling):
    # Grad-CAM differentiates the pooling in NumPy; TensorFlow's tape is the reference
    import tensorflow as tf

    rng = np.random.default_rng(0)
    maps = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    maps[0, 0, 0] = 0.0  # below the GeM floor: no gradient there
    n = keras_pool(tf.constant(maps), pooling).shape[1]
    g = rng.normal(size=(2, n))
    m = tf.constant(maps)
    with tf.GradientTape() as tape:
        tape.watch(m)
        score = tf.reduce_sum(keras_pool(m, pooling) * tf.constant(g, tf.float32))
    ref = tape.gradient(score, m).numpy()
    # tolerance: float32 reference against the float64 NumPy gradient
    np.testing.assert_allclose(pool_gradient(maps, pooling, g), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("scaler", ["standard", "family", "family-pca"])
@pytest.mark.parametrize("kernel", ["rbf", "linear"])
def test_closed_form_head_gradient_matches_differences(n_classes, scaler, kernel):
    """The default head's score gradient in closed form (RBF/linear SVC one-vs-one values, the
    one-vs-rest transform, Platt's logit, back through the scalers) equals central differences
    of class_score. Tolerance: h = 1e-5 differences of a smooth float64 function, relative 1e-6
    of the largest component (measured: ~3e-9)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from featbus.deploy.explain import class_score_gradient
    from featbus.pipelines import FamilyScaler

    rng = np.random.default_rng(n_classes)
    X = rng.normal(size=(90, 30))
    y = np.arange(90) % n_classes
    X[:, :3] += y[:, None]
    step = {"standard": StandardScaler(), "family": FamilyScaler(blocks=[10, 20]),
            "family-pca": FamilyScaler(blocks=[10, 20], method="pca", n_components=4)}[scaler]
    head = CalibratedClassifierCV(Pipeline([("scale", step), ("classifier", SVC(kernel=kernel))]),
                                  ensemble=scaler == "standard", cv=3).fit(X, y)
    points, h = X[:3] + 0.1, 1e-5
    for k in range(n_classes):
        closed = class_score_gradient(head, points, k)
        numeric = np.stack([(class_score(head, points + h * e, k) - class_score(head, points - h * e, k)) / (2 * h)
                            for e in np.eye(X.shape[1])], axis=1)
        np.testing.assert_allclose(closed, numeric, rtol=0, atol=1e-6 * np.abs(numeric).max())


def test_closed_form_is_declined_for_heads_it_does_not_know():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    from featbus.deploy.explain import class_score_gradient

    X = np.random.default_rng(0).normal(size=(40, 5))
    y = np.arange(40) % 2
    assert class_score_gradient(LogisticRegression().fit(X, y), X[:2], 1) is None  # not Platt-wrapped
    poly = CalibratedClassifierCV(SVC(kernel="poly"), cv=2).fit(X, y)
    assert class_score_gradient(poly, X[:2], 1) is None
    mlp = CalibratedClassifierCV(MLPClassifier(max_iter=50), cv=2).fit(X, y)
    assert class_score_gradient(mlp, X[:2], 1) is None
