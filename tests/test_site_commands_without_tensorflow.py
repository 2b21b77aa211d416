"""The site commands at the import floor of what they run: where LiteRT runs the forwards,
``featbus validate``, ``predict``, ``adapt`` (without labels) and ``compare`` of ``breast-us``
import neither TensorFlow nor Keras (its segmenter and backbone run through LiteRT, converted once
into featbus's cache; :mod:`featbus.model.runtime`).

Each command runs in its own process, which checks after it that ``tensorflow`` and ``keras``
were never imported. The conversions are made first, once, by a ``featbus predict`` on one
image in a temporary cache folder (that run may import TensorFlow: it converts), as every later
run on a machine finds them. Asking for the Keras forward (``--runtime keras``) still imports
it. Real BUSI images (32, benign and malignant): the commands refuse images that are not
ultrasound.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from featbus.model.runtime import runtime_available

pytestmark = pytest.mark.slow  # loads breast-us in a process per command

if not runtime_available():
    pytest.skip("ai-edge-litert is not installed: the networks run in Keras", allow_module_level=True)
if importlib.util.find_spec("keras") is None or importlib.util.find_spec("tensorflow") is None:
    pytest.skip("converting the networks into the cache needs Keras on TensorFlow", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]

#: Runs ``featbus.cli.main(argv)`` and prints, last, which of TensorFlow and Keras it imported.
RUNNER = textwrap.dedent("""
    import sys
    from featbus.cli import main
    status = main(sys.argv[1:])
    print("IMPORTED", [m for m in ("tensorflow", "keras") if m in sys.modules])
    sys.exit(status)
""")


def _featbus(cache: Path, *argv) -> list[str]:
    """``featbus ARGV`` in a fresh process (exit 0 asserted): the deep-learning modules it imported."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "FEATBUS_TRUSTED_MODELS": str(cache / "trusted.txt"),
           "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_BACKEND", None)  # the default backend, as a user runs it
    proc = subprocess.run([sys.executable, "-c", RUNNER, *map(str, argv)], env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, f"featbus {' '.join(map(str, argv))}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    line = [x for x in proc.stdout.splitlines() if x.startswith("IMPORTED ")][-1]
    return eval(line.removeprefix("IMPORTED "))


@pytest.fixture(scope="module")
def site(busi_root, tmp_path_factory):
    """32 BUSI images in class folders, and a cache folder holding breast-us's conversions."""
    root = tmp_path_factory.mktemp("site")
    for label in ("benign", "malignant"):
        (root / label).mkdir()
        for p in sorted(p for p in (busi_root / label).glob("*.png") if "_mask" not in p.name)[:16]:
            shutil.copy(p, root / label / p.name)
    cache = tmp_path_factory.mktemp("cache")
    first = next((root / "benign").iterdir())
    _featbus(cache, "predict", "breast-us", first, "-q", "-o", root.parent / "first.csv")  # converts, once
    return root, cache


def test_predict_validate_adapt_compare_import_no_tensorflow(site, tmp_path):
    root, cache = site
    adapted = tmp_path / "site.featbus"
    assert _featbus(cache, "predict", "breast-us", root / "benign", "-q", "-o", tmp_path / "p.csv") == []
    assert _featbus(cache, "validate", "breast-us", root, "--n-bootstrap", "0", "-q") == []
    assert _featbus(cache, "adapt", "breast-us", root / "benign", root / "malignant", "-q", "-o", adapted) == []
    assert adapted.is_file()
    assert _featbus(cache, "compare", "breast-us", adapted, root, "--n-bootstrap", "0", "-q") == []
    # the adapted file holds its backbone's forward (stored from the cache, unconverted): it runs without Keras
    assert _featbus(cache, "predict", adapted, root / "malignant", "-q", "-o", tmp_path / "q.csv") == []


def test_the_keras_forward_when_asked(site, tmp_path):
    """``--runtime keras`` still rebuilds and runs the Keras networks, on TensorFlow."""
    root, cache = site
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(next((root / "malignant").iterdir()), one)
    imported = _featbus(cache, "predict", "breast-us", one, "-q", "--runtime", "keras", "-o", tmp_path / "p.csv")
    assert imported == ["tensorflow", "keras"]
