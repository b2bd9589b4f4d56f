"""The tree's shape: the core's parts, no import cycles anywhere, small modules, no outside text.

Reads every source root of the repository with ``ast``: the core (``core/lmstream``), the
backends, the plugins and the test plugins (``tests/plugins``). Every import counts, deferred
ones (inside functions) and ``TYPE_CHECKING`` ones included, between modules and between
packages (an ``__init__`` counts as a module: ``from ..protocol import X`` depends on
protocol/__init__.py). The rules:

- no import cycle in any package, core or not (``ALLOWED_CYCLES`` aside, see there);
- in the core, no module imports another part's private ``_module`` (a part's ``__init__``
  re-exports what the other parts use);
- no module over ``MAX_LINES`` lines;
- no text in the repository names a file outside it (a design document that is not here, an
  absolute path of the machine it was written on).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "lmstream"
MAX_LINES = 400
SUBPACKAGES = ("protocol", "formats", "model", "hooks", "pipeline", "scheduling", "api", "chat",
               "cli")
FACADES = ("", "__main__", "errors", "events", "hookspecs", "backend", "plugin")
"""The core's top-level modules: the package, its public faces and the shared errors."""
SOURCE_ROOTS = (ROOT / "core", ROOT / "backends", ROOT / "plugins",
                *sorted(p for p in (ROOT / "tests" / "plugins").iterdir() if p.is_dir()))
"""Directories on ``sys.path`` when the project is installed: each holds top-level packages."""

ALLOWED_CYCLES: list[set[str]] = []


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(roots: tuple[Path, ...] = SOURCE_ROOTS) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in roots:
        for path in root.rglob("*.py"):
            if "__pycache__" not in path.parts and not any(
                    part.startswith(".") for part in path.relative_to(root).parts):
                found[_module_name(path, root)] = path
    return found


def _targets(node: ast.AST, name: str, is_package: bool, modules: dict[str, Path]) -> list[str]:
    """The modules one import statement of module ``name`` depends on."""
    if isinstance(node, ast.ImportFrom):
        if node.level:
            package = name.split(".") if is_package else name.split(".")[:-1]
            base = package[: len(package) - (node.level - 1)]
            stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
        elif node.module:
            stem = node.module
        else:
            return []
        names = [f"{stem}.{a.name}" if stem else a.name for a in node.names]
        # `from pkg import submodule` depends on the submodule; pkg's __init__ runs before any
        # of its submodules anyway, so it is no edge of its own
        return names if all(n in modules for n in names) else [stem, *names]
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return []


def _graph(roots: tuple[Path, ...] = SOURCE_ROOTS) -> dict[str, set[str]]:
    """Module -> the modules it imports, over every module under ``roots``."""
    modules = _modules(roots)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _targets(node, name, path.name == "__init__.py", modules):
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _part(module: str) -> str:
    """The core part a module of ``lmstream`` belongs to (a top-level module is its own)."""
    return module.split(".")[1] if module.count(".") else module


def _private_crossings(graph: dict[str, set[str]]) -> list[str]:
    """Core imports of another part's private module (``lmstream.<part>._name``)."""
    core = {name: targets for name, targets in graph.items() if name.split(".")[0] == "lmstream"}
    return sorted(f"{name} -> {target}" for name, targets in core.items() for target in targets
                  if target.split(".")[0] == "lmstream" and _part(target) != _part(name)
                  and any(piece.startswith("_") for piece in target.split(".")[2:]))


# --- the checks checked ---------------------------------------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_graph_sees_every_kind_of_import(tmp_path: Path):
    root = _tree(tmp_path, {
        "lmstream/__init__.py": "from .sub import thing\n",
        "lmstream/sub/__init__.py": "from ._a import thing\n",
        "lmstream/sub/_a.py": "from typing import TYPE_CHECKING\nfrom .. import top\n"
                              "if TYPE_CHECKING:\n    from ._b import B\n"
                              "def f():\n    from lmstream.sub import _c\n    import lmstream.top\n",
        "lmstream/sub/_b.py": "from . import _a\n",
        "lmstream/sub/_c.py": "from . import _a\n",
        "lmstream/top.py": "x = 1\n",
    })
    graph = _graph((root,))
    assert graph["lmstream.sub._a"] == {"lmstream.top", "lmstream.sub._b", "lmstream.sub._c"}
    assert graph["lmstream"] == {"lmstream.sub"} and graph["lmstream.sub"] == {"lmstream.sub._a"}
    assert graph["lmstream.sub._b"] == {"lmstream.sub._a"}  # `from . import _a`: no edge to sub
    assert _cycles(graph) == [{"lmstream.sub._a", "lmstream.sub._b", "lmstream.sub._c"}]


def test_the_graph_spans_packages_and_roots(tmp_path: Path):
    """Backends and plugins are graphed too, across source roots (absolute imports)."""
    core = _tree(tmp_path / "core", {"lmstream/__init__.py": "", "lmstream/api.py": ""})
    plugins = _tree(tmp_path / "plugins", {
        "lmstream_x/__init__.py": "",
        "lmstream_x/base.py": "import lmstream\nfrom .rules import R\n",
        "lmstream_x/rules.py": "def f():\n    from lmstream_x.base import B\n",
        "lmstream_x/sub/deep.py": "from ...lmstream_x import base\nfrom lmstream.api import g\n",
    })
    graph = _graph((core, plugins))
    assert graph["lmstream_x.base"] == {"lmstream", "lmstream_x.rules"}
    assert graph["lmstream_x.sub.deep"] == {"lmstream_x.base", "lmstream.api"}
    assert _cycles(graph) == [{"lmstream_x.base", "lmstream_x.rules"}]


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_private_crossings_are_found():
    graph = {"lmstream.api._host": {"lmstream.protocol._streams", "lmstream.protocol",
                                    "lmstream.api._auto"},
             "lmstream.hookspecs": {"lmstream.hooks._hookspecs"},
             "lmstream.protocol": {"lmstream.protocol._streams"}}
    assert _private_crossings(graph) == ["lmstream.api._host -> lmstream.protocol._streams",
                                         "lmstream.hookspecs -> lmstream.hooks._hookspecs"]


# --- the tree -------------------------------------------------------------------------------

def test_the_core_is_split_into_its_parts():
    names = {name.removeprefix("lmstream").lstrip(".") for name in _modules((ROOT / "core",))}
    flat = sorted(name for name in names if "." not in name and name not in FACADES)
    assert flat == sorted(SUBPACKAGES), f"modules outside the core's parts: {flat}"


def test_the_core_imports_no_other_parts_private_modules():
    crossings = _private_crossings(_graph())
    assert not crossings, f"imports of another part's private module: {crossings}"


def test_the_core_never_imports_backends_or_plugins():
    graph = _graph()
    outside = sorted(f"{name} -> {target}" for name, targets in graph.items()
                     if name.split(".")[0] == "lmstream"
                     for target in targets if target.split(".")[0] != "lmstream")
    assert not outside, f"the core imports packages outside it: {outside}"


def test_no_import_cycles_anywhere():
    """Deferred and TYPE_CHECKING imports count: a cycle is a cycle however it is imported."""
    cycles = [sorted(c) for c in _cycles(_graph()) if c not in ALLOWED_CYCLES]
    assert not cycles, f"import cycles: {cycles}"


def test_the_allowed_cycles_are_still_cycles():
    """An allow-list entry whose cycle is gone must be deleted, not kept as a blank cheque."""
    cycles = _cycles(_graph())
    stale = [sorted(entry) for entry in ALLOWED_CYCLES if entry not in cycles]
    assert not stale, f"delete these ALLOWED_CYCLES entries, the cycles are gone: {stale}"


@pytest.mark.parametrize("root", SOURCE_ROOTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_over_the_line_budget(root: Path):
    sizes = {name: len(path.read_text().splitlines()) for name, path in _modules((root,)).items()}
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"


TEXT_SUFFIXES = {".py", ".md", ".toml", ".ini", ".cfg", ".txt", ".yml", ".yaml", ".json",
                 ".jinja", ".j2", ".sh", ".rst"}
OUTSIDE = re.compile("|".join([
    r"\bDESIGN" + r"\.md\b",  # split so this file does not name it
    r"(?<![\w.~-])/" + r"work/",  # an absolute path on the machine the code was written on
]))


def _text_files() -> list[Path]:
    skip = {"__pycache__", "node_modules", "build", "dist"}
    return sorted(p for p in ROOT.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") or part in skip or part.endswith(".egg-info")
                              for part in p.relative_to(ROOT).parts))


def test_the_text_scan_sees_the_tree():
    files = {p.relative_to(ROOT).as_posix() for p in _text_files()}
    assert {"README.md", "docs/architecture.md", "pyproject.toml",
            "core/lmstream/__init__.py", "tests/core/test_core_layout.py"} <= files
    assert OUTSIDE.search("see " + "DESIGN" + ".md") and OUTSIDE.search("/" + "work/main/x")
    assert not OUTSIDE.search("https://example.com/work/x") and not OUTSIDE.search("a/work/b")


def test_no_text_refers_to_files_outside_the_repository():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}"
             for path in _text_files()
             for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
             if OUTSIDE.search(line)]
    assert not found, f"text naming files outside the repository: {found}"
