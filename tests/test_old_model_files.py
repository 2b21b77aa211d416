"""Model files written before featbus's modules moved into packages: the reader of model files
reads the classes they name where they are now (featbus.model.trust.OLD_MODULES); nothing is
installed on ``import featbus`` and an old module path itself no longer imports."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest

from featbus.model.trust import MOVED_CLASSES, OLD_MODULES, current_name

REPO = Path(__file__).resolve().parent.parent
OLD_FILE = REPO / "tests" / "data" / "old_layout" / "pre_layout_smote.featbus"
#: the classes of OLD_FILE's pipeline, as the file names them (featbus 9e7ede1)
OLD_NAMES = ("featbus.domain.DomainReference", "featbus._samplers.SMOTE", "featbus.scaling.FamilyUnion")


def _schema_names(path) -> set[str]:
    """``module.Class`` of every node of a model file's skops schema, as the file writes them."""
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(io.BytesIO(z.read("pipeline.skops"))) as p:
        schema = json.loads(p.read("schema.json"))
    return {f"{n['__module__']}.{n['__class__']}" for n in _nodes(schema)}


def _nodes(node):
    if isinstance(node, dict):
        if "__module__" in node and "__class__" in node:
            yield node
        for v in node.values():
            yield from _nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _nodes(v)


def test_the_old_file_names_old_modules_so_the_reader_needs_the_map():
    names = _schema_names(OLD_FILE)
    assert set(OLD_NAMES) <= names
    assert all(current_name(n) != n for n in OLD_NAMES)


def test_a_skops_file_written_before_the_move_loads_without_a_warning_and_lists_current_names():
    code = (f"from featbus.model import load_model, pipeline_types, types_needing_trust\np = {str(OLD_FILE)!r}\n"
            "assert types_needing_trust(p) == []\n"
            "names = {t['name'] for t in pipeline_types(p)}\n"
            "assert 'featbus.model.domain.DomainReference' in names and not any(n.startswith('featbus.domain') "
            "for n in names), names\n"
            "m = load_model(p)\nfrom featbus.datasets import make_phantoms\n"
            "print(len(m.predict(make_phantoms(4, image_size=32, random_state=1).images)))")
    run = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "4"


def test_a_pickled_file_of_the_old_layout_loads_when_trusted(tmp_path, monkeypatch):
    """A format 3 file (a joblib pickle, compressed as featbus wrote it) naming the old modules."""
    from featbus.datasets import make_phantoms
    from featbus.model import load_model
    from featbus.model.format import read_manifest, read_pipeline

    manifest = read_manifest(OLD_FILE)
    parts = read_pipeline(str(OLD_FILE), manifest, OLD_FILE.stat().st_size, False, lambda: False)
    images = make_phantoms(4, image_size=32, random_state=1).images
    expected = load_model(OLD_FILE, warm_up=False).predict_proba(images)
    # pickle the parts as the old layout did: each moved class under its old module
    for old in OLD_NAMES:
        new = importlib.import_module(current_name(old).rpartition(".")[0])
        cls = getattr(new, old.rpartition(".")[2])
        monkeypatch.setitem(sys.modules, old.rpartition(".")[0], new)
        monkeypatch.setattr(cls, "__module__", old.rpartition(".")[0])
    buf = io.BytesIO()
    joblib.dump(parts, buf, compress=3)
    monkeypatch.undo()
    blob = buf.getvalue()
    import zlib

    assert b"featbus.domain" in zlib.decompress(blob)
    for old in OLD_NAMES:
        assert old.rpartition(".")[0] not in sys.modules
    old_file = tmp_path / "old.featbus"
    with zipfile.ZipFile(old_file, "w") as z:
        z.writestr("manifest.json", json.dumps({**manifest, "format_version": 3,
                                                "pipeline_sha256": hashlib.sha256(blob).hexdigest()}))
        z.writestr("pipeline.joblib", blob)
    with pytest.warns(UserWarning, match="featbus upgrade"):
        model = load_model(old_file, trusted=True, warm_up=False)
    np.testing.assert_allclose(model.predict_proba(images), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("old", sorted(OLD_MODULES))
def test_an_old_module_path_no_longer_imports_and_its_new_place_does(old):
    assert not (REPO / (old.replace(".", "/") + ".py")).exists()
    sys.modules.pop(old, None)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)
    importlib.import_module(OLD_MODULES[old])


def test_every_moved_class_is_a_class_at_its_new_place():
    for old, new in MOVED_CLASSES.items():
        module, _, attr = new.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), attr), type), old


def test_import_featbus_installs_no_import_hook():
    code = "import sys; before = list(sys.meta_path); import featbus; print(sys.meta_path == before)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "True"
    assert not [p for p in (REPO / "featbus").rglob("*.py") if "meta_path" in p.read_text()]
