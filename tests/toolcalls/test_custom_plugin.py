"""The custom parser plugin of docs/tool-calls.md: the docs show exactly the example
distribution's module, it stays under 40 lines, and installed through its entry point it
registers a working parser whose resolver wins over the built-in one."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolcall_harness import cuttings, normalize, rebuild

import lmstream
from lmstream import ModelInfo

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "plugins" / "custom_toolparser"
MODULE = EXAMPLE / "lmstream_action_calls.py"
DOC = ROOT / "docs" / "tool-calls.md"


def test_the_docs_show_the_example_module_verbatim_in_under_40_lines() -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"),
                        re.MULTILINE | re.DOTALL)
    plugin_blocks = [b for b in blocks if "lmstream_register_tool_parsers(register)" in b]
    assert plugin_blocks == [MODULE.read_text(encoding="utf-8")]
    assert len(plugin_blocks[0].splitlines()) < 40


def test_the_example_declares_its_entry_point() -> None:
    pyproject = (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points.lmstream]\naction_calls = "lmstream_action_calls"' in pyproject


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[lmstream.PluginSystem]:
    """The example installed as pip would: its module importable, its dist-info on sys.path."""
    dist_info = tmp_path / "lmstream_action_calls-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lmstream-action-calls\nVersion: 0.1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[lmstream]\naction_calls = lmstream_action_calls\n")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield lmstream.PluginSystem()
    finally:
        sys.modules.pop("lmstream_action_calls", None)


def test_installed_plugin_registers_its_parser(installed: lmstream.PluginSystem) -> None:
    assert installed.tool_parsers.owner("action") == "action_calls"
    assert installed.tool_parsers.owner("json") == "toolcalls"
    factory = installed.tool_parsers.get("action")
    text = 'Sure. <<call search {"q": ">> not the end", "n": [1, 2]}>> and <<call 1bad>> done <<'
    expected = [("content", "Sure. "), ("call", "search", {"q": ">> not the end", "n": [1, 2]}),
                ("content", " and "), ("rejected", "malformed", "<<call 1bad>>"),
                ("content", " done <<")]
    for pieces in cuttings(text, random_count=30):
        parser = factory(None)
        events = [e for piece in pieces for e in parser.feed(piece)] + parser.finish()
        assert normalize(events) == expected, pieces
        assert rebuild(events, parser.silent_text) == text


def test_installed_plugin_validates_against_tools(installed: lmstream.PluginSystem) -> None:
    parser = installed.tool_parsers.get("action")(lmstream.coerce_tools([{"name": "search"}]))
    events = parser.feed("<<call rm {}>>") + parser.finish()
    assert events[0].reason == "undeclared_tool"


def test_installed_resolver_wins_over_the_builtin_one(installed: lmstream.PluginSystem) -> None:
    both = ModelInfo(name="m", backend="test", chat_template="<<call x>> or <tool_call>")
    assert installed.resolve_tool_parser(both) == "action"
    hermes = ModelInfo(name="m", backend="test", chat_template="<tool_call>")
    assert installed.resolve_tool_parser(hermes) == "json"
