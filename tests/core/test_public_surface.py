"""The public surfaces, one per reader, and what plugins may import from them.

``lmstream`` is what a user calls; ``lmstream.backend`` what a backend author needs;
``lmstream.plugin`` what a plugin author needs (``lmstream.events`` and ``lmstream.hookspecs``
are kept as public module paths). Plugins (ours and the example third-party ones) import only
from these, never from the core's parts, so the core's modules can move without breaking them;
each name is in its surface's ``__all__``. Names that left ``lmstream.__all__`` still work for
one release, with a ``DeprecationWarning`` that names their new home. Every package ships
``py.typed`` so mypy checks plugin code against lmstream's annotations.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import warnings
from pathlib import Path

import pytest

import lmstream
import lmstream.backend
import lmstream.cli
import lmstream.events
import lmstream.hookspecs
import lmstream.plugin

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = [ROOT / "backends", ROOT / "plugins", ROOT / "tests" / "plugins"]
SURFACES = {"lmstream": lmstream, "lmstream.backend": lmstream.backend,
            "lmstream.plugin": lmstream.plugin, "lmstream.events": lmstream.events,
            "lmstream.hookspecs": lmstream.hookspecs, "lmstream.cli": lmstream.cli}

USER_NAMES = {
    "load", "generate", "generate_task", "generate_tokens", "generate_tokens_task",
    "generate_token_task", "ModelContext", "ChatSession", "ChatStream", "SessionEvent",
    "ToolResult", "Channel", "Chunk", "Event", "Info", "RejectedToolCall", "StopReason",
    "TextEvent", "Token", "TokenEvent", "TokenLogprob", "ToolCall", "ToolCallDelta",
    "GenerationParameters", "GenerationResult", "GenerationStats", "GenerationTask",
    "EventStream", "LMInput", "UserInput", "ChatMessage", "ChatTemplateOptions", "ToolSpec",
    "LmstreamError", "ContextLengthError", "GenerationError", "ModelLoadError",
    "GGUFFormatError", "TemplateError", "TemplateRenderError", "ToolCallRejected",
    "UnknownNameError", "DuplicateNameError", "PromptCache", "ListPromptCache", "ModelInfo",
    "Observer", "hookimpl", "register_plugin", "get_plugin_system", "PluginSystem",
    "get_tool_parser", "render_messages", "render_chat_template", "PrefixCacheStats",
    "default_prefix_cache_bytes",
}
"""What a user calls or holds: documented as the public contract, used by code outside the
project, so it stays in ``lmstream`` itself with no warning."""

AUTHOR_ONLY = {
    "lmstream.backend": {"BackendModel", "BatchRunner", "SequenceRequest", "StepResult",
                         "SequenceEnded", "GenerationControl", "Tokenizer",
                         "common_prefix_length", "GGML_TYPE_NAMES", "GGUF_MAGIC", "GGUFHeader",
                         "TensorInfo", "read_gguf_header", "DEFAULT_FILE", "DEFAULT_NAME",
                         "DEFAULT_PACKAGE", "INSTALL_DEFAULT", "default_model_path",
                         "gguf_tokenizer_config", "BackendOptions", "Drafter", "DraftState",
                         "DrafterFactory", "TokenConstraint"},
    "lmstream.plugin": {"ToolParser", "ToolParserFactory", "ChatTemplateRenderer",
                        "TemplateRequest", "Command", "parse_option", "missing_dependencies",
                        "ConstraintSpec", "Vocabulary", "EventObserverPlugin"},
}
"""Names that left ``lmstream.__all__`` for an author's surface (deprecated in ``lmstream``)."""


def _imports(path: Path) -> list[tuple[str, str, int]]:
    """(module, name, line) of every ``from lmstream... import name``, ``import lmstream.x``
    and ``lmstream.name`` / ``lmstream.backend.name`` use."""
    found: list[tuple[str, str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "lmstream" or node.module.startswith("lmstream.")):
            found += [(node.module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "*", node.lineno) for alias in node.names
                      if alias.name.startswith("lmstream.")]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "lmstream":
            if f"lmstream.{node.attr}" not in SURFACES:
                found.append(("lmstream", node.attr, node.lineno))
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
              and isinstance(node.value.value, ast.Name) and node.value.value.id == "lmstream"):
            found.append((f"lmstream.{node.value.attr}", node.attr, node.lineno))
    return found


def _plugin_files() -> list[Path]:
    return sorted(p for root in PLUGIN_SOURCES for p in root.rglob("*.py"))


def test_the_scan_sees_plugin_imports():
    found = {(module, name) for path in _plugin_files() for module, name, _ in _imports(path)}
    assert {("lmstream.backend", "BackendModel"), ("lmstream", "hookimpl"),
            ("lmstream", "TextEvent"), ("lmstream.backend", "common_prefix_length"),
            ("lmstream.plugin", "ToolParserFactory")} <= found


@pytest.mark.parametrize("path", _plugin_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_exported_names_of_the_public_surfaces(path):
    problems = [f"line {line}: {module}.{name}" for module, name, line in _imports(path)
                if module not in SURFACES
                or (name != "*" and name not in SURFACES[module].__all__)]
    assert not problems, f"{path.name} uses names outside the public surfaces: {problems}"


def test_every_exported_name_exists():
    for name, surface in SURFACES.items():
        missing = [n for n in surface.__all__ if not hasattr(surface, n)]
        assert not missing, f"{name}.__all__ names what it lacks: {missing}"
        assert len(set(surface.__all__)) == len(surface.__all__), f"{name}.__all__ repeats"


def test_user_names_stay_in_lmstream_without_a_warning():
    assert USER_NAMES <= set(lmstream.__all__), USER_NAMES - set(lmstream.__all__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in USER_NAMES:
            getattr(lmstream, name)
        exec("from lmstream import load, generate, generate_token_task, ChatSession, hookimpl",
             {})


def test_lmstream_all_is_what_users_call():
    """No GGUF internals, default-model constants or runner contract in ``lmstream.__all__``."""
    moved = set().union(*AUTHOR_ONLY.values())
    assert not moved & set(lmstream.__all__), moved & set(lmstream.__all__)
    assert len(lmstream.__all__) < 86  # it had 86 names before the split
    assert set(lmstream.MOVED) == moved


@pytest.mark.parametrize("name", sorted(lmstream.MOVED))
def test_a_moved_name_still_works_with_a_warning_naming_its_home(name):
    home = lmstream.MOVED[name]
    assert name in SURFACES[home].__all__ and name in AUTHOR_ONLY[home]
    with pytest.warns(DeprecationWarning, match=re.escape(f"import it from {home}")):
        old = getattr(lmstream, name)
    assert old is getattr(importlib.import_module(home), name)


def test_from_import_of_a_moved_name_warns_at_the_importer():
    with pytest.warns(DeprecationWarning, match="lmstream.backend") as caught:
        exec("from lmstream import BatchRunner", {})
    assert caught[0].filename == "<string>"  # stacklevel points at the import, not at lmstream


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        lmstream.NoSuchName  # noqa: B018
    with pytest.raises(ImportError):
        exec("from lmstream import NoSuchName", {})


def test_the_surfaces_share_objects_not_copies():
    for name in ("PromptCache", "ListPromptCache", "ModelInfo"):
        assert getattr(lmstream, name) is getattr(lmstream.backend, name)
    for name in ("hookimpl", "Observer", "PluginSystem", "register_plugin"):
        assert getattr(lmstream, name) is getattr(lmstream.plugin, name)
    assert lmstream.plugin.hookspecs is lmstream.hookspecs


CLASS_REFERENCE = re.compile(r"(?<![\w.])lmstream(?:\.[a-z_]\w*)*\.[A-Z]\w*")
"""``lmstream.Name`` or ``lmstream.module.Name``: a class or constant named in prose."""


def _resolves(reference: str) -> bool:
    parts = reference.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            try:
                found = getattr(found, part)
            except (AttributeError, DeprecationWarning):  # a deprecated name is not its home
                return False
        return True
    return False


def test_docstrings_and_docs_name_things_that_exist():
    """``lmstream.commands.Command`` or ``lmstream.ConstraintEngine`` in prose must resolve
    (deprecated names do not count: prose names the new home)."""
    assert not _resolves("lmstream.constraints.ConstraintEngine")
    assert _resolves("lmstream.plugin.ConstraintEngine")
    texts = [p for root in ("core", "backends", "plugins", "docs") for p in (ROOT / root).rglob("*")
             if p.suffix in (".py", ".md") and "__pycache__" not in p.parts]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deprecated name raises, so it does not resolve
        wrong = sorted({f"{path.relative_to(ROOT)}: {match}"
                        for path in [*texts, ROOT / "README.md"]
                        for match in CLASS_REFERENCE.findall(path.read_text())
                        if not _resolves(match)})
    assert not wrong, f"prose names what does not exist: {wrong}"


def test_errors_live_in_errors_module():
    """Every LmstreamError is defined in errors.py (SequenceEnded is the batch contract's
    signal, ConstraintError the structured-output one)."""
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


def _repoint_tool():
    spec = importlib.util.spec_from_file_location("repoint_imports",
                                                  ROOT / "tools" / "repoint_imports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_repoint_tool_moves_old_imports_to_their_homes():
    tool = _repoint_tool()
    source = ("import lmstream\n"
              "from lmstream import (  # noqa: F401\n    BatchRunner,\n    Info,\n"
              "    Command as Cmd,\n)\n"
              "def f():\n    from lmstream import read_gguf_header\n"
              "class M(lmstream.BackendModel):\n    x = lmstream.Info\n")
    assert tool.repoint(source, lmstream.MOVED) == (
        "import lmstream\n"
        "from lmstream.backend import BatchRunner  # noqa: F401\n"
        "from lmstream import Info  # noqa: F401\n"
        "from lmstream.plugin import Command as Cmd  # noqa: F401\n"
        "def f():\n    from lmstream.backend import read_gguf_header\n"
        "class M(lmstream.backend.BackendModel):\n    x = lmstream.Info\n")


def test_the_tree_uses_no_moved_name():
    """Backends, plugins, tests and benchmarks already import moved names from their homes."""
    tool = _repoint_tool()
    stale = [str(path.relative_to(ROOT))
             for root in ("backends", "plugins", "tests", "benchmarks")
             for path in (ROOT / root).rglob("*.py")
             if tool.repoint(path.read_text(), lmstream.MOVED) != path.read_text()]
    assert not stale, f"run tools/repoint_imports.py on: {stale}"
