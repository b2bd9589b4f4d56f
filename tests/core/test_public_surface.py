"""The public surface a plugin author relies on: every name plugins import is exported, and typed.

Plugins (ours and the example third-party ones) import from ``lmstream`` itself (command plugins
also from ``lmstream.cli``, the dispatcher's surface), never from its modules, so the core's
modules can move without breaking them; each name is in its surface's ``__all__``.
Every package ships ``py.typed`` so mypy checks plugin code against lmstream's annotations.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import lmstream
import lmstream.cli

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = [ROOT / "backends", ROOT / "plugins", ROOT / "tests" / "plugins"]
SURFACES = {"lmstream": lmstream, "lmstream.cli": lmstream.cli}
"""Where plugins import from: ``lmstream``, and ``lmstream.cli`` for command plugins."""


def _imports(path: Path) -> list[tuple[str, str, int]]:
    """(module, name, line) of every ``from lmstream... import name`` and ``lmstream.name`` use."""
    found: list[tuple[str, str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "lmstream" or node.module.startswith("lmstream.")):
            found += [(node.module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "*", node.lineno) for alias in node.names
                      if alias.name.startswith("lmstream.")]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "lmstream"):
            found.append(("lmstream", node.attr, node.lineno))
    return found


def _plugin_files() -> list[Path]:
    return sorted(p for root in PLUGIN_SOURCES for p in root.rglob("*.py"))


def test_the_scan_sees_plugin_imports():
    names = {name for path in _plugin_files() for _, name, _ in _imports(path)}
    assert {"BackendModel", "hookimpl", "TextEvent", "common_prefix_length"} <= names


@pytest.mark.parametrize("path", _plugin_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_exported_names_from_lmstream(path):
    problems = [f"line {line}: {module}.{name}" for module, name, line in _imports(path)
                if module not in SURFACES or name not in SURFACES[module].__all__]
    assert not problems, f"{path.name} uses names outside lmstream.__all__: {problems}"


def test_every_exported_name_exists():
    missing = [name for name in lmstream.__all__ if not hasattr(lmstream, name)]
    assert not missing and len(set(lmstream.__all__)) == len(lmstream.__all__)


def test_errors_live_in_errors_module():
    """Every LmstreamError is defined in errors.py (SequenceEnded is the batch contract's signal)."""
    import lmstream.errors

    for name in lmstream.__all__:
        obj = getattr(lmstream, name)
        if isinstance(obj, type) and issubclass(obj, lmstream.LmstreamError):
            assert obj.__module__ == "lmstream.errors", f"{name} is defined in {obj.__module__}"
            assert getattr(lmstream.errors, name) is obj


def test_every_wheel_package_ships_py_typed():
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"\[tool\.hatch\.build\.targets\.wheel\]\s*packages = \[(.*?)\]", text, re.S)
    assert block is not None
    packages = re.findall(r'"([^"]+)"', block.group(1))
    assert packages
    missing = [package for package in packages if not (ROOT / package / "py.typed").is_file()]
    assert not missing, f"no py.typed in {missing}"


def test_rendering_and_parsers_use_the_contexts_plugin_system(plugin_system, scripted):
    """A context built on its own plugin system renders and parses with that system's plugins."""

    class Own:
        @lmstream.hookimpl
        def lmstream_register_chat_templates(self, register):
            register("own-template", lambda request: "OWN:" + request.messages[-1]["content"])

        @lmstream.hookimpl
        def lmstream_register_tool_parsers(self, register):
            register("own-parser", lambda tools: _Upper())

    own = lmstream.PluginSystem()
    own.register(Own(), name="own")
    context = scripted("x")
    context.plugin_system = own
    assert context.render_prompt([{"role": "user", "content": "hi"}],
                                 options={"template": "own-template"}) == "OWN:hi"
    assert context.tool_parser("own-parser").feed("a") == [lmstream.Chunk("A")]
    assert "own-template" not in plugin_system.chat_templates  # the global system is untouched
    with pytest.raises(lmstream.UnknownNameError):
        lmstream.get_tool_parser("own-parser")
    assert lmstream.get_tool_parser("own-parser", plugin_system=own).feed("b") == [lmstream.Chunk("B")]
    assert lmstream.render_messages(context.info, [{"role": "user", "content": "yo"}],
                                    options={"template": "own-template"},
                                    plugin_system=own) == "OWN:yo"


class _Upper:
    def feed(self, text: str) -> list[lmstream.Chunk]:
        return [lmstream.Chunk(text.upper())]

    def finish(self) -> list[lmstream.Chunk]:
        return []


def test_template_options_is_one_name_everywhere(scripted):
    """``template_options=`` works for generate/UserInput and the render functions alike."""
    context = scripted("x", model_chat_template="{{ messages[0]['content'] }}"
                       "{% if add_generation_prompt %}>{% endif %}")
    messages = [{"role": "user", "content": "hi"}]
    quiet = lmstream.ChatTemplateOptions(add_generation_prompt=False)
    assert context.render_prompt(messages) == "hi>"
    assert context.render_prompt(messages, template_options=quiet) == "hi"
    assert context.render_prompt(messages, options=quiet) == "hi"  # the older name still works
    assert lmstream.render_messages(context.info, messages, template_options=quiet) == "hi"
    assert lmstream.render_chat_template("{{ messages[0]['content'] }}", messages,
                                         template_options=quiet) == "hi"
    user_input = lmstream.UserInput(messages=messages, template_options=quiet)
    assert context.tokenizer.decode(list(context.prepare(user_input).tokens)).endswith("hi")
    with pytest.raises(TypeError, match="not both"):
        context.render_prompt(messages, options=quiet, template_options=quiet)
