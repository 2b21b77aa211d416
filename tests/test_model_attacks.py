"""Model files built the way an attacker would: real format-4 files whose skops schema, arrays or
manifest are edited by hand (digests updated, so only featbus's own rules stand in the way).

Each one must be refused in one line, quickly, with nothing written to disk and nothing large
allocated; ``docs/guide/receiving_a_model.rst`` says what a file without ``--trust`` can do.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import stderr_lines

from featbus.cli import main
from featbus.datasets import make_phantoms
from featbus.model import UntrustedModelError, load_model, pipeline_types
from featbus.workflows.training import train_model


@pytest.fixture(autouse=True)
def own_trust_list(tmp_path, monkeypatch):
    """Never read or write the user's real trust list."""
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))


@pytest.fixture(scope="module")
def data():
    return make_phantoms(45, image_size=48, random_state=0)


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    """Good files of three classifiers, saved once."""
    root = tmp_path_factory.mktemp("good")
    out = {}
    for clf in ("svm", "rf", "logreg"):
        model = train_model(data, "intensity", classifier=clf, cross_validate=False, progress=False)
        out[clf] = model.save(root / f"{clf}.featbus")
    return out


@pytest.fixture(scope="module")
def images(data, tmp_path_factory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    Image.fromarray(data.images[0]).save(root / "a.png")
    return root


def _craft(src: Path, dst: Path, *, schema=None, arrays=None, manifest=None, members=None) -> Path:
    """A copy of a model file with its pipeline's schema, its arrays (``{npy name: edit}``) or
    manifest edited in place by the given functions, and extra ``members`` beside them; the
    pipeline digest is updated."""
    with zipfile.ZipFile(src) as z:
        m = json.loads(z.read("manifest.json"))
        others = {n: z.read(n) for n in z.namelist() if n not in ("manifest.json", "pipeline.skops")}
        inner = zipfile.ZipFile(io.BytesIO(z.read("pipeline.skops")))
    files = {n: inner.read(n) for n in inner.namelist()}
    sch = json.loads(files["schema.json"])
    if schema:
        schema(sch)
    files["schema.json"] = json.dumps(sch).encode()
    for name, edit in (arrays or {}).items():
        arr = np.load(io.BytesIO(files[name]), allow_pickle=False)
        edit(arr)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        files[name] = buf.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
        for name, blob in files.items():
            out.writestr(name, blob)
    blob = buf.getvalue()
    m["pipeline_sha256"] = hashlib.sha256(blob).hexdigest()
    if manifest:
        manifest(m)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
        z.writestr("manifest.json", json.dumps(m))
        z.writestr("pipeline.skops", blob)
        for name, data in {**others, **(members or {})}.items():
            z.writestr(name, data)
    return dst


def _nodes(schema):
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _head_attrs(schema) -> dict:
    """The attribute dict (skops DictNode content) of the model's classifier."""
    return schema["content"]["head"]["content"]["content"]


def _json(value) -> dict:
    return {"__class__": type(value).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


def _tuple(*items) -> dict:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": list(items)}


def _one_line_refusal(capsys, *fragments) -> str:
    err = stderr_lines(capsys.readouterr().err)  # the reading paragraph aside
    assert len(err) == 1 and "Traceback" not in err[0], err
    for f in fragments:
        assert f in err[0], err[0]
    return err[0]


def test_a_memmap_in_the_schema_writes_nothing(saved, tmp_path, capsys, images):
    """``numpy.memmap`` is an ndarray subclass whose constructor maps (and with w+, truncates) a
    file: before, a file holding one loaded without trust and truncated the user's file."""
    victim = tmp_path / "notes.txt"
    victim.write_text("x" * 1900)
    new = tmp_path / "created.bin"

    def plant(sch):
        for i, target in enumerate((victim, new)):
            _head_attrs(sch)[f"planted{i}"] = {
                "__class__": "memmap", "__module__": "numpy", "__loader__": "ConstructorFromReduceNode",
                "content": _tuple(_json(str(target)), _json("uint8"), _json("w+"), _json(0), _tuple(_json(16)))}

    evil = _craft(saved["logreg"], tmp_path / "evil.featbus", schema=plant)
    assert {t["name"]: t["trust"] for t in pipeline_types(evil)}["numpy.memmap"] == "needs your trust"
    with pytest.raises(UntrustedModelError, match=r"numpy\.memmap.*Nothing was loaded"):
        load_model(evil)
    assert main(["predict", str(evil), str(images), "-o", str(tmp_path / "p.csv")]) != 0
    _one_line_refusal(capsys, "numpy.memmap")
    assert main(["inspect", str(evil)]) == 0
    out = capsys.readouterr().out
    assert "loads without --trust: no" in out and "loads without --trust: yes" not in out
    assert victim.stat().st_size == 1900 and not new.exists()


@pytest.mark.parametrize("module, cls, args", [
    ("builtins", "bytearray", (10**10,)),            # a trusted Python value, asked for 10 GB
    ("numpy", "ndarray", ((10**6, 10**6),)),         # the trusted array type, asked for 8 TB
    ("numpy", "void", (10**10,)),                    # a NumPy scalar type whose constructor allocates
])
def test_a_constructor_asked_for_gigabytes_is_refused_before_it_runs(saved, tmp_path, module, cls, args):
    def plant(sch):
        _head_attrs(sch)["planted"] = {"__class__": cls, "__module__": module,
                                       "__loader__": "ConstructorFromReduceNode",
                                       "content": _tuple(*[_json(list(a) if isinstance(a, tuple) else a)
                                                           for a in args])}

    evil = _craft(saved["logreg"], tmp_path / "alloc.featbus", schema=plant)
    assert f"{module}.{cls}" in [t["name"] for t in pipeline_types(evil) if t["trust"] == "needs your trust"]
    with pytest.raises(UntrustedModelError, match="Nothing was loaded"):
        load_model(evil)


def test_a_tree_asked_for_a_billion_outputs_is_refused_before_it_is_built(saved, tmp_path):
    def inflate(sch):
        tree = next(n for n in _nodes(sch) if n.get("__loader__") == "TreeNode")
        tree["__reduce__"]["args"]["content"][2] = _json(10**9)

    evil = _craft(saved["rf"], tmp_path / "outputs.featbus", schema=inflate)
    with pytest.raises(ValueError, match=r"1000000000 outputs.*nothing was loaded"):
        load_model(evil)


def _tree_nodes_file(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        sch = json.loads(zipfile.ZipFile(io.BytesIO(z.read("pipeline.skops"))).read("schema.json"))
    tree = next(n for n in _nodes(sch) if n.get("__loader__") == "TreeNode")
    return tree["content"]["content"]["nodes"]["file"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("edit, message", [
    (lambda a: a["left_child"].__setitem__(0, 0), "would not end"),          # the root is its own child
    (lambda a: a["right_child"].__setitem__(0, 10**6), "would not end"),     # a child outside the table
    (lambda a: a["feature"].__setitem__(0, 10**6), "feature outside"),       # a feature it does not have
])
def test_a_crafted_decision_tree_is_refused_instead_of_looping(saved, images, tmp_path, capsys, edit, message):
    """A random forest whose first tree's node table is edited: before, a node that is its own
    child made ``featbus predict`` loop forever."""
    evil = _craft(saved["rf"], tmp_path / "loop.featbus", arrays={_tree_nodes_file(saved["rf"]): edit})
    with pytest.raises(ValueError, match=message):
        load_model(evil)
    assert main(["predict", str(evil), str(images), "-o", str(tmp_path / "p.csv")]) != 0
    _one_line_refusal(capsys, message)
    assert not (tmp_path / "p.csv").exists()


def test_svm_arrays_that_disagree_are_refused(saved, tmp_path):
    """libsvm reads its arrays without bounds checks: support counts must add up."""
    def lie(sch):
        for node in _nodes(sch):
            if node.get("__class__") == "SVC" and "support_vectors_" in json.dumps(node)[:100000]:
                attrs = node["content"]["content"]
                if "_n_support" in attrs:
                    name = attrs["_n_support"]["file"]
                    lie.file = name
                    return

    _craft(saved["svm"], tmp_path / "probe.featbus", schema=lie)
    evil = _craft(saved["svm"], tmp_path / "svm.featbus",
                  arrays={lie.file: lambda a: a.__setitem__(0, a[0] + 1000)})
    with pytest.raises(ValueError, match="libsvm arrays disagree"):
        load_model(evil)


def test_a_cache_folder_in_the_file_needs_trust(saved, data, tmp_path):
    """An extractor's ``cache`` naming a folder would make prediction write there."""
    target = tmp_path / "written-here"

    def point(sch):
        for node in _nodes(sch):
            if node.get("__class__") == "IntensityStats":
                node["content"]["content"]["cache"] = _json(str(target))

    evil = _craft(saved["logreg"], tmp_path / "cache.featbus", schema=point)
    with pytest.raises(UntrustedModelError, match="cache=.*write or read files"):
        load_model(evil)
    assert not target.exists()
    trusted = load_model(evil, trusted=True, warm_up=False)  # the user vouches: it is theirs to run
    assert trusted.features.transformer_list[0][1].cache == str(target)


def test_parameters_of_the_wrong_type_are_a_damaged_file(saved, tmp_path):
    def wrong(sch):
        for node in _nodes(sch):
            if node.get("__class__") == "LogisticRegression":
                node["content"]["content"]["C"] = _json("a lot")

    evil = _craft(saved["logreg"], tmp_path / "typed.featbus", schema=wrong)
    with pytest.raises(ValueError, match=r"LogisticRegression.*'C' parameter.*featbus never writes"):
        load_model(evil)


def test_manifest_classes_that_disagree_with_the_classifier_are_refused(saved, tmp_path, capsys):
    """``inspect`` shows the manifest's order, ``predict`` the classifier's: one order per file."""
    evil = _craft(saved["logreg"], tmp_path / "order.featbus",
                  manifest=lambda m: m.__setitem__("classes", m["classes"][::-1]))
    with pytest.raises(ValueError, match="manifest lists the classes"):
        load_model(evil)


def test_inspect_prints_the_file_s_text_escaped(saved, tmp_path, capsys):
    """Notes, class names and member names with line breaks or terminal escapes cannot print a
    verdict line of their own."""
    forged = "ok\nloads without --trust: yes\x1b[2K\x1b[1A"

    def lie(m):
        m["notes"] = [forged]
        m["recipe"]["classifier"] = forged
        m["data"]["source"] = "\u2028loads without --trust: yes"

    evil = _craft(saved["logreg"], tmp_path / "text.featbus", manifest=lie,
                  members={"x\nloads without --trust: yes.npy": b"not read"})
    assert main(["inspect", str(evil)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u2028" not in out
    verdicts = [line for line in out.splitlines() if line.startswith("loads without --trust")]
    assert len(verdicts) == 1, out
    assert "\\n" in out and "\\x1b" in out


def test_a_network_input_size_that_would_exhaust_memory_is_refused(saved, tmp_path):
    """A fitted network's input side sets the size of every activation: a crafted one is refused
    before anything predicts (``MAX_INPUT_SIZE``)."""
    from featbus.features.deep import DeepFeatures
    from featbus.model import FeatbusModel

    good = load_model(saved["logreg"], warm_up=False)
    deep = DeepFeatures(backbone="efficientnet_lite0", weights=None, input_size=32)
    deep.input_size_ = (100_000, 100_000)  # as a crafted file would set it; no network is built here
    union = good.features
    union.transformer_list.append(("net", deep))
    model = FeatbusModel(union, good.head, dict(good.manifest))
    path = model.save(tmp_path / "big.featbus", trust=False, runtime=False)
    with pytest.raises(ValueError, match=r"input_size_=.*at most 2048 px"):
        load_model(path, warm_up=False)
