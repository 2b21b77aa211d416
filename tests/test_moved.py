"""The modules that moved into packages (featbus._moved): old paths still import, warn once,
and an older model file that names them loads without a warning."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from featbus import _moved

REPO = Path(__file__).resolve().parent.parent
OLD_FILE = REPO / "tests" / "data" / "old_layout" / "pre_layout_smote.featbus"


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_an_old_path_is_the_moved_module_and_no_file_stays(old):
    new = _moved.MOVED[old]
    assert not (REPO / (old.replace(".", "/") + ".py")).exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert importlib.import_module(old) is importlib.import_module(new)
    assert importlib.import_module(new).__spec__.name == new


def test_an_old_path_warns_once_and_says_where_it_went():
    code = ("import warnings, featbus\nwarnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    import featbus.sites\n    import featbus.sites\n    from featbus.model_format import read_manifest\n"
            "print([str(x.message).split(';')[0] for x in w if x.category is FutureWarning])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("['featbus.sites moved to featbus.evaluation.sites', "
                           "'featbus.model_format moved to featbus.model.format']")


def test_a_model_file_written_before_the_move_loads_without_a_warning():
    """The file (featbus 9e7ede1) names featbus.domain.DomainReference and featbus._samplers.SMOTE."""
    code = (f"from featbus.model import load_model, types_needing_trust\np = {str(OLD_FILE)!r}\n"
            "assert types_needing_trust(p) == []\nm = load_model(p)\n"
            "from featbus.datasets import make_phantoms\n"
            "print(len(m.predict(make_phantoms(4, image_size=32, random_state=1).images)))")
    run = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "4"


def test_at_most_24_top_level_modules():
    assert len(list((REPO / "featbus").glob("*.py"))) <= 24


def test_the_quiet_block_does_not_warn():
    sys.modules.pop("featbus.recipes", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        with _moved.quietly():
            importlib.import_module("featbus.recipes")
