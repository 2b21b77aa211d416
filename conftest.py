"""What every test run shares, tests and doctests alike: a doctest's temporary folders (``tempfile.mkdtemp()`` in an
Examples section, which shows how a user would make one) are made under the test's own temporary directory, so
pytest removes them with it (about 160 folders were left in the system's temporary directory each run)."""

from __future__ import annotations

import tempfile

import pytest


@pytest.fixture(autouse=True)
def _doctest_temporary_folders(request, monkeypatch):
    if type(request.node).__name__ == "DoctestItem":
        monkeypatch.setattr(tempfile, "tempdir", str(request.getfixturevalue("tmp_path")))
