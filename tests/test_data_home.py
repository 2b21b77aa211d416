"""get_data_home: the data folder, from the argument, FEATBUS_DATA, else ../shared/data."""

from __future__ import annotations

from pathlib import Path

from featbus import get_data_home
from featbus.datasets import get_data_home as from_datasets


def test_the_argument_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("FEATBUS_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "mine") == tmp_path / "mine"
    assert get_data_home(str(tmp_path)) == tmp_path


def test_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("FEATBUS_DATA", str(tmp_path))
    home = get_data_home()
    assert isinstance(home, Path) and home == tmp_path


def test_the_default_is_shared_data_beside_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("FEATBUS_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    home = get_data_home()
    assert isinstance(home, Path) and home == tmp_path.parent / "shared" / "data"
    assert not home.exists() or home.is_dir()  # never created


def test_an_empty_variable_is_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("FEATBUS_DATA", "")
    monkeypatch.chdir(tmp_path)
    assert get_data_home() == tmp_path.parent / "shared" / "data"


def test_one_function_on_both_faces():
    assert get_data_home is from_datasets
