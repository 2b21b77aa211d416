"""The documentation's code runs as written.

* every ``.. code-block:: python`` of the pages (index, quick start, user guide) is executed,
  page by page in one namespace, from the repository root (so ``../shared/data`` resolves);
  blocks with ``:class: busi`` / ``:class: mias`` run only when that data set is present;
* the full Sphinx build (``-W``: warnings are errors, gallery examples executed) runs whenever
  Sphinx and sphinx-gallery are installed (the ``test`` extra installs them), so CI builds the
  docs; ``FEATBUS_DOCS_BUILD=0`` skips it for quick local runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest
from conftest import BUSI, MIAS

pytestmark = pytest.mark.slow  # builds the documentation (python -m pytest -m "not slow" leaves it out)

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted([DOCS / "index.rst", DOCS / "quickstart.rst", *(DOCS / "guide").glob("*.rst")])

_BLOCK = re.compile(r"^\.\. code-block:: python[ \t]*\n((?:[ \t]+:[\w-]+:.*\n)*)\n((?:(?:[ \t]+.*)?\n)+)",
                    re.MULTILINE)


def code_blocks(page: Path) -> list[tuple[str, str]]:
    """(class option, code) of each Python code block of a page."""
    out = []
    for options, body in _BLOCK.findall(page.read_text()):
        cls = re.search(r":class:\s*(\S+)", options)
        out.append((cls.group(1) if cls else "", textwrap.dedent(body)))
    return out


#: Pages whose code trains a network for many steps: faster with TensorFlow's functions compiled
#: (tests/conftest.py runs them eagerly otherwise).
COMPILED_PAGES = {"guide/deploy.rst"}


def _param(page: Path):
    name = str(page.relative_to(DOCS))
    return pytest.param(page, id=name, marks=[pytest.mark.compiled] if name in COMPILED_PAGES else [])


def test_pages_have_code():
    assert PAGES and all(p.is_file() for p in PAGES)
    assert sum(len(code_blocks(p)) for p in PAGES) >= 20


@pytest.mark.parametrize("page", [_param(p) for p in PAGES])
def test_page_code_runs(page, monkeypatch):
    blocks = code_blocks(page)
    if not blocks:
        pytest.skip("no Python code on this page")
    available = {"busi": BUSI.is_dir(), "mias": (MIAS / "Info.txt").is_file(), "": True}
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    # the page runs as a module of its own, so a class it defines pickles as a script's would
    page_module = types.ModuleType("__docs__")
    monkeypatch.setitem(sys.modules, "__docs__", page_module)
    namespace: dict = page_module.__dict__
    ran = 0
    for i, (cls, code) in enumerate(blocks):
        if not available.get(cls, False):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pages show warnings on purpose (skipped files)
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        ran += 1
    assert ran > 0


@pytest.mark.skipif(os.environ.get("FEATBUS_DOCS_BUILD") == "0",
                    reason="docs build switched off: FEATBUS_DOCS_BUILD=0")
def test_sphinx_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_gallery")
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(DOCS), str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    for page in ["index.html", "api.html", "guide/scaling.html", "auto_examples/index.html"]:
        assert (out / page).is_file(), page
    # autosummary: a page per public object listed in api.rst, methods on the class pages
    for name in api_names():
        assert (out / "generated" / f"{name}.html").is_file(), name
    hog = (out / "generated" / "featbus.features.hog.HOGFeatures.html").read_text()
    assert "HOGFeatures.transform" in hog and "set_fit_request" not in hog


def api_names() -> list[str]:
    """Fully qualified names of the objects docs/api.rst lists in its autosummary tables."""
    names, module = [], None
    lines = (DOCS / "api.rst").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".. currentmodule::"):
            module = line.split("::")[1].strip()
        elif line.startswith(".. autosummary::"):
            for entry in lines[i + 1:]:
                if entry.strip() and not entry.startswith("   "):
                    break
                if entry.strip() and not entry.strip().startswith(":"):
                    names.append(f"{module}.{entry.strip()}")
    return names


def test_api_tables_name_importable_objects_and_each_new_explain_name():
    """Every autosummary entry of api.rst imports (autosummary would fail on it), and the public
    names of the explanation and figure modules are all listed."""
    import importlib

    names = api_names()
    assert len(names) > 200 and len(set(names)) == len(names)
    for name in names:
        module, _, attr = name.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), name
    listed = {n.rsplit(".", 1)[1] for n in names
              if n.startswith(("featbus.deploy.explain.", "featbus.deploy.plotting."))}
    from featbus.deploy import plotting

    assert set(plotting.__all__) <= listed
    assert {"occlusion_map", "grad_cam", "explain", "explain_to_files", "supports_grad_cam"} <= listed


def test_every_example_not_run_by_the_build_has_a_real_thumbnail():
    """plot_* examples run during the build and their figure is their card; every other example
    names a still drawn by docs/make_gallery_thumbnails.py (the paper_* reproductions too)."""
    for example in sorted((REPO / "examples").glob("*.py")):
        name = example.stem
        if name.startswith(("plot_", "_")):
            continue
        found = re.search(r'^# sphinx_gallery_thumbnail_path = "(.+)"$', example.read_text(), re.MULTILINE)
        assert found, f"{example.name} has no sphinx_gallery_thumbnail_path"
        still = DOCS / found.group(1)
        assert still.is_file() and still.suffix == ".png", still
        from PIL import Image

        with Image.open(still) as im:
            assert im.size == (400, 280), (still, im.size)  # sphinx-gallery's card size


def test_citation_changelog_and_every_extra_on_the_install_page():
    """CITATION.cff is CFF 1.2.0 with the required keys and the data sets' papers; CHANGELOG.md has an
    Unreleased section; docs/install.rst names every extra of pyproject.toml."""
    import yaml

    from featbus._version import __version__

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["title"] == "featbus"
    assert isinstance(cff["message"], str) and cff["message"]
    assert cff["authors"] == [{"name": "featbus developers"}]
    assert cff["version"] == __version__
    assert cff["license"] == pyproject["project"]["license"]["text"]
    dois = {str(r["doi"]) for r in cff["references"]}
    assert {"10.1016/j.dib.2019.104863", "10.1002/mp.16812"} <= dois
    for ref in cff["references"]:
        assert ref["type"] and ref["title"] and ref["authors"], ref

    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog and "Keep a Changelog" in changelog

    install = (DOCS / "install.rst").read_text(encoding="utf-8")
    extras = pyproject["project"]["optional-dependencies"]
    missing = [name for name in extras if f"``{name}``" not in install]
    assert not missing, f"docs/install.rst does not name the extra(s) {missing}"
    rows = re.findall(r"^``(\w+)``\s{2,}", install, re.MULTILINE)  # the extras table's first column
    assert sorted(rows) == sorted(extras), f"docs/install.rst's table lists {sorted(set(rows) - set(extras))} too"
