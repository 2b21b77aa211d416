"""Backbone registry and EfficientNet-Lite0: torch-free conversion, ImageNet sanity, PyTorch parity.

Parity tolerance: the Keras and PyTorch logits must agree to ``atol=2e-3`` on logits of
magnitude ~10 (float32, different convolution kernels and summation orders). Observed max
absolute difference: 1.4e-5 at 224x224 and 6.9e-6 at 193x250 (odd sizes exercise the
asymmetric "same" padding).
"""

from __future__ import annotations

import os
import pickle
import struct

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from skimage import data, transform

from featbus.networks import BACKBONES, get_backbone, resolve_imagenet_file
from featbus.networks import efficientnet_lite as el

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)


@pytest.fixture(scope="module")
def state():
    return el.read_legacy_torch_file(el.torch_weights_file())


@pytest.fixture(scope="module")
def top_model():
    return el.efficientnet_lite0((224, 224, 3), include_top=True, weights="imagenet")


def _photo(img, size=224):
    return transform.resize(img, (size, size), anti_aliasing=True, preserve_range=True).astype(np.float32)


# ----------------------------------------------------------------------------- registry
def test_registry_covers_the_issue_list():
    expected = {"vgg16", "vgg19", "inception_v3", "resnet50", "resnet101", "densenet121", "mobilenet",
                "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "xception",
                "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "breast_us"}
    assert set(BACKBONES) == expected
    for b in BACKBONES.values():
        assert b.preprocess in ("caffe", "tf", "torch", "none")
        assert callable(b.build_fn())
        assert (b.weights_file is None) == (b.weights_url is None)
    with pytest.raises(ValueError, match="unknown backbone 'alexnet'.*vgg16"):
        get_backbone("alexnet")


@pytest.mark.parametrize("name", ["vgg16", "inception_v3", "resnet50", "densenet121", "mobilenet",
                                  "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "xception"])
def test_default_layers_exist(name):
    from featbus.features.deep import DeepFeatures

    b = get_backbone(name)
    deep = DeepFeatures(backbone=name, weights=None, input_size=max(b.min_size, 32)).fit([np.zeros((40, 40))])
    assert deep.get_feature_names_out()[0] == f"{name}.{b.default_layer}.avg.0"


def test_missing_keras_file_message(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("FEATBUS_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as err:
        resolve_imagenet_file(get_backbone("vgg16"))
    msg = str(err.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in msg
    assert str(tmp_path / "models") in msg and "https://storage.googleapis.com" in msg
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"x")
    assert resolve_imagenet_file(get_backbone("vgg16")).parent == tmp_path / "models"


# ----------------------------------------------------------------------------- legacy reader and conversion
def test_legacy_reader_reads_the_state_dict(state):
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].dtype == np.float32
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    assert np.all(state["_bn1.running_var"] > 0)


def test_legacy_reader_refuses_foreign_code(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for obj in (el._LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(obj, f, protocol=2)
        f.write(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
    with pytest.raises(pickle.UnpicklingError, match="refusing to load os.system"):
        el.read_legacy_torch_file(path)
    bad = tmp_path / "bad.pth"
    with open(bad, "wb") as f:
        pickle.dump(12345, f, protocol=2)
    with pytest.raises(ValueError, match="magic"):
        el.read_legacy_torch_file(bad)


class _CreatesFile:
    """A pickle payload: unpickling it with plain ``pickle.load`` creates ``target``."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (exec, (f"open({self.target!r}, 'w').close()",))


@pytest.mark.parametrize("record", ["magic", "protocol", "sys_info", "object", "keys"])
def test_no_pickle_record_runs_code(tmp_path, record):
    """Every pickle record of a legacy .pth goes through the restricted unpickler."""
    marker = tmp_path / "pwned"
    records = {"magic": el._LEGACY_MAGIC, "protocol": 1001, "sys_info": {"little_endian": True},
               "object": {"w": 1}, "keys": []}
    records[record] = _CreatesFile(marker) if record != "object" else {"w": _CreatesFile(marker)}
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for obj in records.values():
            pickle.dump(obj, f, protocol=2)
    for load in (el.read_legacy_torch_file,
                 lambda p: el.efficientnet_lite0((32, 32, 3), weights=p)):
        with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (__builtin__|builtins)\.exec") as err:
            load(path)
        assert str(path) in str(err.value)
        assert not marker.exists()


def test_tensor_layout_outside_its_storage_is_refused(tmp_path):
    """A tensor whose shape/stride point past its storage would make as_strided read foreign memory."""
    path = tmp_path / "oob.pth"
    with open(path, "wb") as f:
        for obj in (el._LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(obj, f, protocol=2)
        # {"w": _rebuild_tensor_v2(storage('FloatStorage', '0', 'cpu', 4), 0, (1000,), (1,))}
        f.write(b"\x80\x02}q\x00X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n"
                b"((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ"
                b"K\x00M\xe8\x03\x85K\x01\x85tRs.")
        pickle.dump(["0"], f, protocol=2)
        f.write(struct.pack("<q", 4) + np.zeros(4, np.float32).tobytes())
    with pytest.raises(ValueError, match="oob.pth.*reaches element 999 of a storage of 4"):
        el.read_legacy_torch_file(path)


def test_conversion_is_cached_by_source_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    path = el.imagenet_weights_path()
    digest = el.file_sha256(el.torch_weights_file())[:16]
    assert path == tmp_path / "featbus" / f"efficientnet_lite0-{digest}.npz"
    mtime = path.stat().st_mtime_ns
    assert el.imagenet_weights_path() == path and path.stat().st_mtime_ns == mtime  # reused
    path.write_bytes(b"corrupted")
    assert el.imagenet_weights_path() == path  # re-converted
    with np.load(path) as f:
        np.testing.assert_array_equal(f["predictions/bias"], el.convert_torch_state_dict(
            el.read_legacy_torch_file(el.torch_weights_file()))["predictions/bias"])


def test_builder_stages_and_weight_sources(tmp_path, state):
    m = el.efficientnet_lite0((64, 96, 3), weights=None)
    for stride, name in el.SKIP_LAYERS.items():
        assert m.get_layer(name).output.shape[1:3] == (64 // stride, 96 // stride)
    assert m.get_layer(el.SKIP_LAYERS[16]).output.shape[-1] == 112
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
    a = el.efficientnet_lite0((64, 96, 3), weights="imagenet")(x, training=False)
    b = el.efficientnet_lite0((64, 96, 3), weights=el.torch_weights_file())(x, training=False)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="weights"):
        el.efficientnet_lite0(weights=3)


# ----------------------------------------------------------------------------- ImageNet sanity
@pytest.mark.parametrize("photo, classes", [
    ("chelsea", {281, 282, 285}),   # tabby, tiger cat, Egyptian cat
    ("coffee", {504, 967, 968}),    # coffee mug, espresso, cup
    ("rocket", {657, 744, 812}),    # missile, projectile, space shuttle
])
def test_converted_model_recognises_photos(top_model, photo, classes):
    logits = np.asarray(top_model(_photo(getattr(data, photo)())[None], training=False))[0]
    top5 = set(np.argsort(logits)[::-1][:5].tolist())
    assert top5 & classes, (photo, sorted(top5))


# ----------------------------------------------------------------------------- PyTorch parity
def _torch_reference(torch, sd, variant="efficientnet_lite0"):
    """EfficientNet-Lite in plain PyTorch (efficientnet_pytorch layout, TF 'same' padding)."""
    F = torch.nn.functional

    def same(x, w, stride, groups=1):
        k = w.shape[-1]
        ih, iw = x.shape[-2:]
        ph = max((-(-ih // stride) - 1) * stride + k - ih, 0)
        pw = max((-(-iw // stride) - 1) * stride + k - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, w, stride=stride, groups=groups)

    def bn(x, p):
        return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"],
                            sd[f"{p}.bias"], training=False, eps=1e-3)

    def forward(x):
        x = F.relu6(bn(same(x, sd["_conv_stem.weight"], 2), "_bn0"))
        i = 0
        for _kernel, stride, expand, _c_in, _c_out, repeats in el.stage_blocks(variant):
            for r in range(repeats):
                p, s = f"_blocks.{i}", (stride if r == 0 else 1)
                inp = x
                if expand != 1:
                    x = F.relu6(bn(same(x, sd[f"{p}._expand_conv.weight"], 1), f"{p}._bn0"))
                w = sd[f"{p}._depthwise_conv.weight"]
                x = F.relu6(bn(same(x, w, s, groups=w.shape[0]), f"{p}._bn1"))
                x = bn(same(x, sd[f"{p}._project_conv.weight"], 1), f"{p}._bn2")
                if s == 1 and inp.shape[1] == x.shape[1]:
                    x = x + inp
                i += 1
        x = F.relu6(bn(same(x, sd["_conv_head.weight"], 1), "_bn1"))
        return F.linear(x.mean(dim=(2, 3)), sd["_fc.weight"], sd["_fc.bias"])

    return forward


@pytest.mark.parametrize("size", [(224, 224), (193, 250)])
def test_matches_pytorch_reference(size):
    torch = pytest.importorskip("torch")
    sd = torch.load(str(el.torch_weights_file()), map_location="cpu", weights_only=True)
    # the torch-free reader gives the same arrays as torch itself
    ours = el.read_legacy_torch_file(el.torch_weights_file())
    assert list(ours) == list(sd)
    for k in ("_conv_stem.weight", "_blocks.7._depthwise_conv.weight", "_fc.weight"):
        np.testing.assert_array_equal(ours[k], sd[k].numpy())
    ref = _torch_reference(torch, {k: v.float() for k, v in sd.items()})
    x = np.stack([_photo(data.chelsea(), 256)[:size[0], :size[1]],
                  _photo(data.coffee(), 256)[:size[0], :size[1]]])
    with torch.no_grad():
        expected = ref(torch.from_numpy((x / 127.5 - 1.0).transpose(0, 3, 1, 2).copy())).numpy()
    model = el.efficientnet_lite0((*size, 3), include_top=True, weights="imagenet")
    got = np.asarray(model(x, training=False))
    np.testing.assert_allclose(got, expected, atol=2e-3, rtol=0)
    assert np.argmax(got[0]) in (281, 282, 285)


def test_reader_handles_views_and_offsets(tmp_path):
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd = {"t": base.t(), "s": base[1:, 2:], "i": torch.tensor([1, 2, 3]), "z": torch.tensor(5.0)}
    path = tmp_path / "legacy.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=False)
    got = el.read_legacy_torch_file(path)
    for k, v in sd.items():
        np.testing.assert_array_equal(got[k], v.numpy())
    assert struct.calcsize("<q") == 8


# ----------------------------------------------------------------------------- Lite1 / Lite2
@pytest.mark.parametrize("variant, size", [("efficientnet_lite1", 240), ("efficientnet_lite2", 260)])
def test_bigger_lites_recognise_photos(variant, size):
    pytest.importorskip(el.VARIANTS[variant].module)
    model = el.efficientnet_lite(variant, (size, size, 3), include_top=True, weights="imagenet")
    x = np.stack([_photo(getattr(data, p)(), size) for p in ("chelsea", "coffee", "rocket")])
    logits = np.asarray(model(x, training=False))
    for row, classes in zip(logits, ({281, 282, 285}, {504, 967, 968}, {657, 744, 812})):
        assert set(np.argsort(row)[::-1][:5].tolist()) & classes


@pytest.mark.parametrize("variant, size", [("efficientnet_lite1", (240, 240)), ("efficientnet_lite2", (197, 260))])
def test_bigger_lites_match_pytorch_reference(variant, size):
    # same tolerance as Lite0's parity test (see the module docstring)
    torch = pytest.importorskip("torch")
    pytest.importorskip(el.VARIANTS[variant].module)
    path = el.torch_weights_file(variant)
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    ours = el.read_legacy_torch_file(path)
    assert list(ours) == list(sd)
    ref = _torch_reference(torch, {k: v.float() for k, v in sd.items()}, variant)
    x = np.stack([_photo(data.chelsea(), 280)[:size[0], :size[1]], _photo(data.coffee(), 280)[:size[0], :size[1]]])
    with torch.no_grad():
        expected = ref(torch.from_numpy((x / 127.5 - 1.0).transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(el.efficientnet_lite(variant, (*size, 3), include_top=True, weights="imagenet")(x, training=False))
    np.testing.assert_allclose(got, expected, atol=2e-3, rtol=0)


def test_lite_variant_table_and_wrong_file(tmp_path):
    assert el.stage_blocks("efficientnet_lite0") == el.BLOCKS
    assert el.skip_layers("efficientnet_lite0") == el.SKIP_LAYERS
    assert [b[-1] for b in el.stage_blocks("efficientnet_lite1")] == [1, 3, 3, 4, 4, 5, 1]
    assert [b[4] for b in el.stage_blocks("efficientnet_lite2")] == [16, 24, 48, 88, 120, 208, 352]
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant"):
        el.stage_blocks("efficientnet_lite9")
    # Lite0's weights refused by a Lite2 network, naming the shape mismatch or the block count
    with pytest.raises(ValueError, match="blocks|shape"):
        el.efficientnet_lite("efficientnet_lite2", (32, 32, 3), weights=el.torch_weights_file())
