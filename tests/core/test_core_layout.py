"""The core's shape: no import cycles between its modules, no module over ~400 lines.

Reads core/lmstream with ``ast``: every import counts, deferred (inside functions) and
``TYPE_CHECKING`` ones included, between modules and between subpackages (an ``__init__``
counts as a module: ``from ..protocol import X`` depends on protocol/__init__.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core" / "lmstream"
MAX_LINES = 400
SUBPACKAGES = ("protocol", "model", "plugins", "pipeline", "scheduling", "api", "chat", "cli")


def _module_name(path: Path, root: Path = CORE) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph(root: Path = CORE) -> dict[str, set[str]]:
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
        package = [p for p in package if p]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                    stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
                elif node.module and node.module.startswith("lmstream"):
                    stem = node.module.removeprefix("lmstream").lstrip(".")
                else:
                    continue
                names = [f"{stem}.{a.name}" if stem else a.name for a in node.names]
                # `from pkg import submodule` depends on the submodule; pkg's __init__ runs
                # before any of its submodules anyway, so it is no edge of its own
                targets = names if all(n in modules for n in names) else [stem, *names]
            elif isinstance(node, ast.Import):
                targets = [a.name.removeprefix("lmstream").lstrip(".") for a in node.names
                           if a.name.startswith("lmstream.")]
            for target in targets:
                if target in modules and target != name and target != "":
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
        for nxt in graph[node]:
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


def test_the_graph_sees_every_kind_of_import(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "__init__.py").write_text("from .sub import thing\n")
    (tmp_path / "sub" / "__init__.py").write_text("from ._a import thing\n")
    (tmp_path / "sub" / "_a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from .. import top\n"
        "if TYPE_CHECKING:\n    from ._b import B\n"
        "def f():\n    from lmstream.sub import _c\n    import lmstream.top\n")
    for name in ("_b", "_c"):
        (tmp_path / "sub" / f"{name}.py").write_text("from . import _a\n")
    (tmp_path / "top.py").write_text("x = 1\n")
    graph = _graph(tmp_path)
    assert graph["sub._a"] == {"top", "sub._b", "sub._c"}  # deferred and TYPE_CHECKING count
    assert graph[""] == {"sub"} and graph["sub"] == {"sub._a"}
    assert graph["sub._b"] == {"sub._a"}  # `from . import _a` is no edge to sub/__init__
    assert _cycles(graph) == [{"sub._a", "sub._b", "sub._c"}]


def test_the_core_is_split_into_its_parts():
    graph = _graph()
    flat = sorted(name for name in graph if "." not in name and name not in ("", "__main__", "errors", "events", "hookspecs"))
    assert flat == sorted(SUBPACKAGES), f"modules outside the core's parts: {flat}"


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, f"import cycles in core/lmstream: {[sorted(c) for c in cycles]}"


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_over_the_line_budget():
    sizes = {_module_name(p): len(p.read_text().splitlines()) for p in CORE.rglob("*.py")}
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"
