"""A third-party constraint engine (tests/plugins/choice_engine), installed through its entry
point, is picked by name and masks the scripted backend's output; docs show it verbatim."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import lmstream
from lmstream.hooks import set_plugin_system

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "plugins" / "choice_engine"
MODULE = EXAMPLE / "lmstream_choice_engine.py"
DOC = ROOT / "docs" / "structured-output.md"
CHOICES = {"type": "json_schema", "json_schema": {"schema": {"enum": ["red", "green", "blue"]}}}


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[lmstream.PluginSystem]:
    """The example installed as pip would: its module importable, its dist-info on sys.path."""
    dist_info = tmp_path / "lmstream_choice_engine-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: lmstream-choice-engine\nVersion: 0.1.0\n")
    (dist_info / "entry_points.txt").write_text("[lmstream]\nchoice_engine = lmstream_choice_engine\n")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    system = lmstream.PluginSystem()
    old = set_plugin_system(system)
    try:
        yield system
    finally:
        set_plugin_system(old)
        sys.modules.pop("lmstream_choice_engine", None)


def test_the_docs_show_the_example_module_verbatim() -> None:
    blocks = re.findall(r"^```python[^\n]*\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    assert MODULE.read_text(encoding="utf-8") in blocks


def test_the_installed_engine_is_registered_and_masks_output(installed: lmstream.PluginSystem) -> None:
    assert installed.constraint_engines.owner("choice") == "choice_engine"
    with lmstream.load(backend="scripted", reply='I say "green!"', model_chat_template=None) as ctx:
        result = ctx.generate("q", response_format=CHOICES, constraint_engine="choice",
                              constrain_reasoning=True)
        assert result.parsed == "green" and result.stop_reason == "stop"
    with lmstream.load(backend="scripted", reply='"bl', model_chat_template=None) as ctx:
        result = ctx.generate("q", response_format=CHOICES, constraint_engine="choice",
                              constrain_reasoning=True)
        assert result.text == '"blue"'  # the script ran out: the mask finished the choice


def test_the_engine_refuses_specs_it_cannot_do(installed: lmstream.PluginSystem) -> None:
    with lmstream.load(backend="scripted") as ctx, pytest.raises(ValueError, match="string enum"):
        ctx.generate_stream("q", response_format={"type": "regex", "pattern": "a"}, constraint_engine="choice")
