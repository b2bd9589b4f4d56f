"""Drafters as plugins: the registry, ``load(drafter=..., draft_*=...)`` and its errors, the
built-in ``prompt_lookup`` through lmstream's entry point, and the example third-party drafter
(tests/plugins/example_drafter) installed through its own entry point."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import lmstream
from lmstream.errors import UnknownNameError
from lmstream.hooks import PluginSystem, set_plugin_system

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "plugins" / "example_drafter"
MODULE = EXAMPLE / "lmstream_example_drafter.py"
DOC = ROOT / "docs" / "plugins.md"
TEXT = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginSystem]:
    """The example installed as pip would: its module importable, its dist-info on sys.path."""
    dist_info = tmp_path / "lmstream_example_drafter-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: lmstream-example-drafter\nVersion: 0.1.0\n")
    (dist_info / "entry_points.txt").write_text("[lmstream]\nexample_drafter = lmstream_example_drafter\n")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    system = PluginSystem()
    old = set_plugin_system(system)
    try:
        yield system
    finally:
        set_plugin_system(old)
        sys.modules.pop("lmstream_example_drafter", None)


def test_prompt_lookup_is_registered_by_the_builtin_plugin(plugin_system: PluginSystem) -> None:
    assert "prompt_lookup" in plugin_system.drafters.names()
    assert plugin_system.drafters.owner("prompt_lookup") == "drafters"


def test_the_default_is_no_drafter() -> None:
    with lmstream.load(backend="scripted", reply=TEXT, model_chat_template=None) as context:
        result = context.generate(TEXT)
        assert result.text == TEXT and result.info.stats.draft_tokens_proposed == 0
        assert type(context.scheduler._backend_lane.runner).__name__ == "ScriptedBatchRunner"


def test_prompt_lookup_with_options_speculates() -> None:
    with lmstream.load(backend="scripted", reply=TEXT, model_chat_template=None,
                       drafter="prompt_lookup", draft_max_tokens=3, draft_ngram_max=2) as context:
        result = context.generate("Repeat: " + TEXT)
    assert result.text == TEXT
    stats = result.info.stats
    assert 0 < stats.draft_tokens_accepted <= stats.draft_tokens_proposed


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"drafter": "nope"}, UnknownNameError, r"unknown drafter 'nope'; known drafters: .*prompt_lookup"),
    ({"draft_max_tokens": 4}, ValueError, r"draft_max_tokens need drafter=NAME"),
    ({"drafter": 3}, TypeError, r"drafter must be a registered drafter name"),
    ({"drafter": "prompt_lookup", "draft_colour": 1}, TypeError, r"unknown option\(s\) draft_colour"),
    ({"drafter": "prompt_lookup", "draft_max_tokens": 0}, ValueError, r"draft_max_tokens must be an int"),
    ({"drafter": "prompt_lookup", "draft_ngram_min": 4, "draft_ngram_max": 2}, ValueError,
     r"draft_ngram_min \(4\) must not exceed"),
])
def test_bad_drafter_options_are_refused_naming_them(options: dict[str, object],
                                                     error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        lmstream.load(backend="scripted", **options)


def test_a_drafter_object_with_draft_options_is_refused() -> None:
    from lmstream_drafters import PromptLookupDrafter

    with pytest.raises(ValueError, match="draft_max_tokens configure a registered drafter"):
        lmstream.load(backend="scripted", drafter=PromptLookupDrafter(), draft_max_tokens=2)


def test_a_factory_that_returns_something_else_is_refused(plugin_system: PluginSystem) -> None:
    class Plugin:
        @lmstream.hookimpl
        def lmstream_register_drafters(self, register: object) -> None:
            register("odd", lambda backend_model, **options: object())  # type: ignore[operator]

    plugin_system.register(Plugin(), name="odd_plugin")
    with pytest.raises(TypeError, match="drafter 'odd' returned object"):
        lmstream.load(backend="scripted", drafter="odd")


def test_the_docs_show_the_example_drafter_verbatim() -> None:
    blocks = re.findall(r"^```python[^\n]*\n(.*?)^```", DOC.read_text(encoding="utf-8"),
                        re.MULTILINE | re.DOTALL)
    assert MODULE.read_text(encoding="utf-8") in blocks


def test_the_installed_example_drafter_is_used_by_name(installed: PluginSystem) -> None:
    assert installed.drafters.owner("echo_prompt") == "example_drafter"
    with lmstream.load(backend="scripted", reply=TEXT, model_chat_template=None,
                       drafter="echo_prompt") as context:
        result = context.generate(TEXT)  # the answer repeats the prompt: drafts all accepted
    assert result.text == TEXT
    stats = result.info.stats
    assert stats.draft_tokens_accepted == stats.draft_tokens_proposed > len(TEXT) // 2
    with pytest.raises(TypeError, match="echo_prompt takes no options"):
        lmstream.load(backend="scripted", drafter="echo_prompt", draft_k=2)
