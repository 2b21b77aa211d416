"""An older genuine model file (a pickled pipeline) converted with ``featbus upgrade OLD -o NEW --trust``
loads, like a file trained today, without trust: with an empty trust list, by ``load_model`` and by
``featbus predict`` (issue 55)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from featbus import make_phantoms
from featbus.cli import main
from featbus.model import load_model
from featbus.model.format import types_needing_trust
from featbus.workflows.training import train_model

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)


def _older(model, tmp_path, name):
    """The model as the previous format wrote it: its pipeline a joblib pickle (format 3)."""
    import joblib

    today = model.save(tmp_path / f"{name}_today.featbus", runtime=False)
    with zipfile.ZipFile(today) as z:
        manifest = json.loads(z.read("manifest.json"))
        others = {n: z.read(n) for n in z.namelist() if n not in ("manifest.json", "pipeline.skops")}
    buf = io.BytesIO()
    joblib.dump({k: getattr(model, k) for k in ("features", "head", "roi", "preprocess", "domain")
                 if getattr(model, k) is not None}, buf)
    manifest.update(format_version=3, pipeline_sha256=hashlib.sha256(buf.getvalue()).hexdigest())
    old = tmp_path / f"{name}_old.featbus"
    with zipfile.ZipFile(old, "w") as z:
        z.writestr("manifest.json", json.dumps(manifest))
        z.writestr("pipeline.joblib", buf.getvalue())
        for member, data in others.items():
            z.writestr(member, data)
    return today, old


@pytest.mark.parametrize("kind", ["features", "network"])
def test_an_upgraded_older_file_loads_without_trust(kind, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))
    data = make_phantoms(24, image_size=48, random_state=0)
    if kind == "features":
        model = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, progress=False)
    else:
        pytest.importorskip("keras")
        from featbus import FineTunedCNN

        net = FineTunedCNN("scratch", weights=None, input_size=32, epochs=1, warmup_epochs=0, batch_size=8,
                           progress=False, random_state=0)
        model = train_model(data, network=net, n_bootstrap=0, progress=False)
    today, old = _older(model, tmp_path, kind)
    new = tmp_path / f"{kind}_new.featbus"
    assert main(["upgrade", str(old), "-o", str(new), "--trust"]) == 0
    assert "loads without pickle and without trust" in capsys.readouterr().out
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "nobody.txt"))  # nothing vouched for
    assert types_needing_trust(new) == types_needing_trust(today) == []
    images = data.images[:3]
    np.testing.assert_allclose(load_model(new, warm_up=False, runtime="keras").predict_proba(images),
                               load_model(today, warm_up=False, runtime="keras").predict_proba(images), atol=1e-6)
    assert main(["inspect", str(new)]) == 0
    assert "loads without --trust: its types, yes" in capsys.readouterr().out
