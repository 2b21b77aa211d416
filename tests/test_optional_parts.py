"""The README's optional-parts table against pyproject.toml's extras: every extra it names exists,
and the extras it says need no TensorFlow (``[torch]``, ``[jax]``, ``[runtime]``) do not bring it.
(That the commands then run without TensorFlow: tests/test_without_tensorflow.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
REPO = Path(__file__).resolve().parents[1]


def _extras() -> dict[str, list[str]]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _table() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Optional parts", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `featbus")]


def test_every_extra_the_table_names_exists():
    named = {n for row in _table() for n in re.findall(r"`(?:featbus)?\[([a-z-]+)\]`", row.split(" | ")[0])}
    assert named and named <= set(_extras()), sorted(named - set(_extras()))


def test_extras_said_to_need_no_tensorflow_do_not_bring_it():
    rows = " ".join(_table())
    assert "`[torch]` and `[jax]` need no TensorFlow" in rows and "without TensorFlow" in rows
    for extra in ("torch", "jax", "runtime"):
        assert not [r for r in _extras()[extra] if r.lower().startswith(("tensorflow", "featbus[deep]"))], extra
