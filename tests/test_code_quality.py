"""The code base itself: no import cycles, ruff clean, public docstrings that match signatures."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import featbus

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "featbus"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """featbus module -> featbus modules it imports, anywhere in its code (lazy imports too; a
    package's ``__init__.pyi`` stub, whose imports lazy_loader makes on first use, counts as its
    ``__init__``'s)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        stub = path.with_suffix(".pyi")
        source = path.read_text() + ("\n" + stub.read_text() if stub.is_file() else "")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # a module importing its own package (__init__, which imports lazily) is no edge
                if target and target != name and not name.startswith(target + "."):
                    deps.add(target)
                    break
        graph[name] = deps
    return graph


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_ruff_passes():
    ruff = shutil.which("ruff")
    if ruff is None:
        try:
            importlib.import_module("ruff")
        except ImportError:
            pytest.skip("ruff is not installed (it comes with the [test] extra)")
        cmd = [sys.executable, "-m", "ruff"]
    else:
        cmd = [ruff]
    result = subprocess.run([*cmd, "check", "--no-cache", str(REPO)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


# numpydoc checks that must hold for every public class and function: parameters documented
# as in the signature (PR01, PR02), a summary line (SS01...), an Examples section (EX01)
_NUMPYDOC_CHECKS = ("GL08", "PR01", "PR02", "SS01", "EX01")


def _public_objects():
    for name in featbus.__all__:
        if name.startswith("_"):
            continue
        obj = getattr(featbus, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield f"{obj.__module__}.{obj.__qualname__}"


@pytest.mark.parametrize("qualname", sorted(set(_public_objects())))
def test_numpydoc_of_public_api(qualname):
    validate = pytest.importorskip("numpydoc.validate")
    result = validate.validate(qualname)
    errors = [f"{code}: {msg}" for code, msg in result["errors"] if code in _NUMPYDOC_CHECKS]
    assert not errors, f"{qualname}:\n" + "\n".join(errors)


def test_shared_parameter_texts_are_filled():
    """Every docstring naming a shared text (``%(name)s``, featbus._docs) went through fill_doc."""
    import importlib
    import inspect
    import pkgutil

    import featbus
    from featbus._docs import _PLACEHOLDER

    left = []
    for info in pkgutil.walk_packages(featbus.__path__, "featbus."):
        if info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # a backend-only module without its backend
            continue
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", "") == module.__name__:
                if obj.__doc__ and _PLACEHOLDER.search(obj.__doc__):
                    left.append(f"{module.__name__}.{name}")
    assert not left, f"docstrings with unfilled %(name)s: {left}"


def test_layers_of_the_developer_page_hold():
    """docs/developer.rst's layers: every featbus module is in one, and none imports a higher one."""
    import re

    text = (REPO / "docs" / "developer.rst").read_text()
    section = text[text.index("Layers\n------"):text.index("Where a new thing goes")]
    items = re.split(r"\n\d+\. ", section)[1:]
    layers = [re.findall(r"``([\w./]+)``", item) for item in items]
    layers = [[n for n in names if not n.endswith(".py")] for names in layers]

    def layer_of(module: str) -> int | None:
        short = module.removeprefix("featbus.")
        best = None
        for i, names in enumerate(layers):
            for n in names:
                n = n.rstrip("/")
                if short == n or short.startswith(n + "."):
                    if best is None or len(n) > best[1]:
                        best = (i, len(n))
        return None if best is None else best[0]

    graph = import_graph()
    modules = [m for m in graph if m not in ("featbus", "featbus.__main__")]
    missing = [m for m in modules if layer_of(m) is None]
    assert not missing, f"modules the developer page's layers do not place: {missing}"
    upward = [f"{m} ({layer_of(m) + 1}) -> {d} ({layer_of(d) + 1})" for m in modules for d in graph[m]
              if d in modules and layer_of(d) > layer_of(m)]
    assert not upward, "imports into a higher layer of docs/developer.rst:\n" + "\n".join(upward)


def test_the_developer_layout_names_existing_paths_and_every_package():
    """docs/developer.rst's layout block: every path it names exists, every package of featbus is named,
    and the page says where a new command, a new data-set loader and a new figure go."""
    text = (REPO / "docs" / "developer.rst").read_text()
    block = text.split("Layout\n------", 1)[1].split("Layers\n------", 1)[0]
    named_dirs = re.findall(r"^\s{5}([\w]+)/", block, flags=re.M)
    named_files = re.findall(r"^\s{5}([\w]+\.pyi?)\b", block, flags=re.M)
    assert named_dirs and named_files
    for d in named_dirs:
        assert (REPO / "featbus" / d).is_dir(), f"the layout names featbus/{d}/, which does not exist"
    for f in named_files:
        assert (REPO / "featbus" / f).is_file(), f"the layout names featbus/{f}, which does not exist"
    for folder, names in re.findall(r"^\s{5}(\w+)/\s+(.*(?:\n\s{30,}.*)*)", block, flags=re.M):
        for module in re.findall(r"\b(\w+\.py)\b", names):
            assert (REPO / "featbus" / folder / module).is_file(), f"featbus/{folder}/{module} is named but absent"
    packages = sorted(p.parent.name for p in (REPO / "featbus").glob("*/__init__.py"))
    assert set(packages) <= set(named_dirs), f"packages the layout does not name: {set(packages) - set(named_dirs)}"
    top = sorted(p.name for p in (REPO / "featbus").glob("*.py"))
    listed = set(re.findall(r"(\w+\.pyi?)", " ".join(re.findall(r"^\s{5}([\w., ]+?)\s{2,}", block, flags=re.M))))
    assert set(top) <= listed, f"top-level modules the layout does not name: {set(top) - listed}"
    where = text.split("Where a new thing goes", 1)[1]
    for thing in ("**A new figure", "**A new command", "**A new data-set loader"):
        assert thing in where, thing
        paragraph = where.split(thing, 1)[1].split("\n\n", 1)[0]
        assert re.search(r"\b\d files\b", paragraph), f"{thing}: the page counts the files it touches"


def test_the_top_level_is_a_face_and_a_floor():
    """At most 12 modules at featbus's top level, holding at most 15 % of its lines (the workflows live
    in packages), and the README stays a map of at most 10 KB whose paths exist."""
    def lines(p):
        return len(p.read_text().splitlines())

    top = list((REPO / "featbus").glob("*.py"))
    everything = list((REPO / "featbus").rglob("*.py"))
    assert len(top) <= 12, sorted(p.name for p in top)
    share = sum(map(lines, top)) / sum(map(lines, everything))
    assert share <= 0.15, f"the top level holds {share:.0%} of featbus's lines"
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) <= 10_000
    for path in re.findall(r"\]\(([^)#]+)\)", readme) + re.findall(r"`((?:benchmarks|docs|tests|scripts)/[\w/.]+)`",
                                                                    readme):
        assert (REPO / path).exists(), f"the README names {path}, which does not exist"


def test_the_developer_page_states_the_longest_import_chain():
    """docs/developer.rst says how deep the longest import chain is: computed here from the graph."""
    import functools

    graph = import_graph()

    @functools.cache
    def depth(module: str) -> int:
        return 1 + max((depth(d) for d in graph[module] if d in graph), default=0)

    longest = max(depth(m) for m in graph)
    text = (REPO / "docs" / "developer.rst").read_text()
    stated = re.search(r"The longest import chain is\s+(\d+)\s+modules deep", text)
    assert stated is not None and int(stated.group(1)) == longest, f"the longest import chain is {longest} modules"
