"""Every ```python block in docs/ runs: blocks of one page share a namespace, in order.

A block fenced as ```python no-run is shown but not run (real-model examples that are covered
by the slow tests instead).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PAGES = sorted(DOCS.glob("*.md"))


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, code) of every runnable python block of a page."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        if "no-run" in match.group(1):
            continue
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((line, match.group(2)))
    return blocks


def test_docs_exist_and_have_examples():
    names = {page.name for page in PAGES}
    assert {"generation-apis.md", "streaming.md", "plugins.md"} <= names
    assert sum(len(python_blocks(page)) for page in PAGES) >= 10


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_python_blocks_run(page: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for line, code in python_blocks(page):
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"{page.name}, block at line {line} failed: {error!r}") from error
