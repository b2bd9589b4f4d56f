"""The core's shape: no import cycles between its modules, no module over ~400 lines.

Reads core/lmstream with ``ast``: every import counts, deferred (inside functions) and
``TYPE_CHECKING`` ones included. The cycles that exist today are listed in KNOWN_CYCLES (the
core's folder restructure removes them); any other cycle fails, and so does a known one that
grew. When a known cycle is gone, this test says so, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core" / "lmstream"
MAX_LINES = 400
KNOWN_CYCLES: set[frozenset[str]] = {
    frozenset({"chat_session", "chat_stream"}),
    frozenset({"context", "generate"}),
    frozenset({"backend", "batching"}),
    frozenset({"hookspecs", "observing", "plugins", "toolparsing"}),
}
"""Groups of modules that import each other today (deferred or TYPE_CHECKING on one side),
awaiting the restructure. Compared as whole groups: a module joining one is a new cycle."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(CORE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
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
                targets = [stem] + [f"{stem}.{a.name}" if stem else a.name for a in node.names]
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


def test_the_graph_sees_imports():
    graph = _graph()
    assert "events" in graph["pipeline"] and "plugins" in graph["context"]
    assert "generate" in graph["context"]  # a deferred import counts


def test_no_import_cycles_beyond_the_known_ones():
    cycles = {frozenset(c) for c in _cycles(_graph())}
    new = cycles - KNOWN_CYCLES
    assert not new, f"new import cycles in core/lmstream: {[sorted(c) for c in new]}"
    gone = KNOWN_CYCLES - cycles
    assert not gone, f"cycles gone, drop them from KNOWN_CYCLES: {[sorted(c) for c in gone]}"


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_over_the_line_budget():
    sizes = {_module_name(p): len(p.read_text().splitlines()) for p in CORE.rglob("*.py")}
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"
