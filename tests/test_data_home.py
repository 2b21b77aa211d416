"""get_data_home: the data folder, from the argument, FEATBUS_DATA, else ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

import featbus.datasets._common as common_module
import featbus.datasets._home as home_module
from featbus import get_data_home
from featbus.datasets import get_data_home as from_datasets
from featbus.datasets._common import _data_root

CHECKOUT = Path(__file__).resolve().parents[1]


def _work_dir(tmp_path, *, shared: bool) -> Path:
    """A working directory ``tmp_path/work``, with ``tmp_path/shared/data`` beside it if ``shared``."""
    (tmp_path / "work").mkdir()
    if shared:
        (tmp_path / "shared" / "data").mkdir(parents=True)
    return tmp_path / "work"


def test_the_argument_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("FEATBUS_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "mine") == tmp_path / "mine"
    assert get_data_home(str(tmp_path)) == tmp_path


def test_the_argument_expands_the_home_folder():
    assert get_data_home("~/images") == Path.home() / "images"


def test_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("FEATBUS_DATA", str(tmp_path))
    home = get_data_home()
    assert isinstance(home, Path) and home == tmp_path


def test_the_default_is_shared_data_beside_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("FEATBUS_DATA", raising=False)
    monkeypatch.chdir(_work_dir(tmp_path, shared=True))
    home = get_data_home()
    assert isinstance(home, Path) and home == tmp_path / "shared" / "data"  # Path.cwd().parent / ...
    assert not (tmp_path / "work" / "shared").exists()  # nothing created


def test_an_empty_variable_is_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("FEATBUS_DATA", "")
    monkeypatch.chdir(_work_dir(tmp_path, shared=True))
    assert get_data_home().resolve() == (tmp_path / "shared" / "data").resolve()


def test_else_the_shared_data_beside_the_checkout(monkeypatch, tmp_path):
    # this test runs from the source checkout (tests/ lies in it): its ../shared/data is the fallback
    monkeypatch.delenv("FEATBUS_DATA", raising=False)
    monkeypatch.chdir(_work_dir(tmp_path, shared=False))
    beside_checkout = CHECKOUT.parent / "shared" / "data"
    expected = beside_checkout if beside_checkout.is_dir() else Path.cwd().parent / "shared" / "data"
    assert get_data_home() == expected
    assert home_module._default_homes() == [Path.cwd().parent / "shared" / "data", beside_checkout]


def test_nothing_found_says_the_working_directory_and_creates_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv("FEATBUS_DATA", raising=False)
    monkeypatch.chdir(_work_dir(tmp_path, shared=False))
    monkeypatch.setattr(home_module, "_default_homes", lambda: [tmp_path / "a" / "data", tmp_path / "b" / "data"])
    assert get_data_home() == tmp_path / "a" / "data"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_site_folders_go_through_get_data_home(monkeypatch, tmp_path):
    env, default = tmp_path / "env", tmp_path / "default"
    (env / "busi").mkdir(parents=True)
    (default / "busi").mkdir(parents=True)
    (default / "bus-bra").mkdir(parents=True)
    monkeypatch.setattr(home_module, "_default_homes", lambda: [default])
    monkeypatch.setattr(common_module, "_default_homes", lambda: [default])
    monkeypatch.setenv("FEATBUS_DATA", str(env))
    assert _data_root(None, "busi", "BUSI", "") == env / "busi"  # $FEATBUS_DATA/<key> first
    assert _data_root(None, "bus-bra", "BUS-BRA", "") == default / "bus-bra"  # else the default folder
    with pytest.raises(FileNotFoundError, match="mini-MIAS not found"):
        _data_root(None, "mini-mias", "mini-MIAS", "")
    monkeypatch.delenv("FEATBUS_DATA")
    assert _data_root(None, "busi", "BUSI", "") == default / "busi"


def test_one_function_on_both_faces():
    assert get_data_home is from_datasets
