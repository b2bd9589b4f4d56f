"""Rendering failures raise TemplateError naming the template and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmstream import ChatTemplateOptions, TemplateError, UnknownNameError
from lmstream.errors import TemplateRenderError
from lmstream.model import ModelInfo
from lmstream.pipeline import render_chat_template, render_messages

MESSAGES = [{"role": "user", "content": "hi"}]


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(TemplateRenderError) as error:
        render_chat_template("line one\n{% for m in messages %}\n{{ m.content }}", MESSAGES)
    assert error.value.template == "template string"
    assert error.value.lineno == 3
    assert str(error.value).startswith("template string: syntax error at line 3: ")
    assert "endfor" in str(error.value)


def test_call_of_an_undefined_function_is_named() -> None:
    with pytest.raises(TemplateError, match=r"^template string: undefined value at line 2: "
                                           r"'format_messages' is undefined$"):
        render_chat_template("{{ bos_token }}\n{{ format_messages(messages) }}", MESSAGES)


def test_raise_exception_message_comes_through() -> None:
    template = "{% if messages[0].role != 'system' %}{{ raise_exception('System message first!') }}{% endif %}"
    with pytest.raises(TemplateError) as error:
        render_chat_template(template, MESSAGES)
    assert str(error.value) == ("template string: the template raised an exception at line 1: "
                                "System message first!")


def test_python_errors_inside_templates_are_template_errors() -> None:
    with pytest.raises(TemplateError, match=r"template string: TypeError at line 1: "):
        render_chat_template("{{ 'a' + 1 }}", MESSAGES)
    with pytest.raises(TemplateError, match=r"ZeroDivisionError"):
        render_chat_template("{{ 1 / 0 }}", MESSAGES)


def test_builtin_template_errors_name_the_builtin() -> None:
    with pytest.raises(TemplateError, match=r"^built-in template 'chatml': the template raised "
                                           r"an exception at line \d+: chatml: unsupported content part type image$"):
        render_chat_template("chatml", [{"role": "user", "content": [{"type": "image"}]}])


def test_template_file_errors_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.jinja"
    path.write_text("{{ raise_exception('nope') }}", encoding="utf-8")
    with pytest.raises(TemplateRenderError) as error:
        render_chat_template(str(path), MESSAGES)
    assert error.value.template == f"template file {str(path)!r}"
    assert error.value.problem.endswith(": nope")


def test_unreadable_template_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.jinja"
    path.write_bytes(b"\xff\xfe{{ x }}")
    with pytest.raises(TemplateError, match=r"binary\.jinja'.*cannot read it"):
        render_chat_template(str(path), MESSAGES)


def test_model_template_errors_name_the_model() -> None:
    model = ModelInfo(name="acme/tiny", backend="test", chat_template="{{ messages[0].content.upper( }}")
    with pytest.raises(TemplateError, match=r"^chat template of model 'acme/tiny': syntax error at line 1"):
        render_messages(model, MESSAGES)


def test_named_model_template_errors_name_both() -> None:
    model = ModelInfo(name="acme/tiny", backend="test",
                      chat_template={"default": "ok", "rag": "{{ raise_exception('needs documents') }}"})
    with pytest.raises(TemplateError, match=r"^chat template 'rag' of model 'acme/tiny': .*needs documents"):
        render_messages(model, MESSAGES, options={"template": "rag"})


def test_option_override_string_is_labelled() -> None:
    model = ModelInfo(name="m", backend="test", chat_template="fine")
    with pytest.raises(TemplateError, match=r"^template string \(options\.template\): .*'nope' is undefined"):
        render_messages(model, MESSAGES, options=ChatTemplateOptions(template="{{ nope() }}"))


def test_neither_name_file_nor_template() -> None:
    with pytest.raises(TemplateError) as error:
        render_chat_template("chatmlx", MESSAGES)
    message = str(error.value)
    assert "'chatmlx' is not a registered template" in message
    for name in ("chatml", "gemma", "jinja", "llama3", "mistral"):
        assert name in message
    with pytest.raises(TemplateError, match=r"no/such/file\.jinja' \(options\.template\) is not"):
        render_messages(ModelInfo(name="m", backend="test"), MESSAGES,
                        options={"template": "no/such/file.jinja"})


def test_jinja_renderer_without_text() -> None:
    with pytest.raises(TemplateError, match="no template text"):
        render_chat_template("jinja", MESSAGES)


def test_model_without_template_and_without_family() -> None:
    model = ModelInfo(name="acme/unknown-7b", backend="test", model_type="acme")
    with pytest.raises(TemplateError) as error:
        render_messages(model, MESSAGES)
    message = str(error.value)
    assert "model 'acme/unknown-7b' has no chat template" in message
    assert "chatml" in message and "options.template" in message


def test_named_templates_without_default() -> None:
    model = ModelInfo(name="m", backend="test", chat_template={"rag": "x", "tool_use": "y"})
    with pytest.raises(TemplateError, match=r"no 'default' template among \['rag', 'tool_use'\]"):
        render_messages(model, MESSAGES)


def test_reserved_extra_context_keys() -> None:
    with pytest.raises(TemplateError, match=r"^template string: extra_context may not set messages, tools"):
        render_chat_template("{{ 1 }}", MESSAGES,
                             options={"extra_context": {"tools": [], "messages": []}})
    with pytest.raises(TemplateError, match="enable_thinking is given twice"):
        render_chat_template("{{ 1 }}", MESSAGES, options={"enable_thinking": True,
                                                             "extra_context": {"enable_thinking": False}})


def test_bad_inputs_are_value_errors_naming_the_field() -> None:
    with pytest.raises(ValueError, match="role"):
        render_chat_template("chatml", [{"role": "wizard", "content": "x"}])
    with pytest.raises(ValueError, match="messages is empty"):
        render_chat_template("chatml", [])
    with pytest.raises(TypeError, match="list of ChatMessage"):
        render_chat_template("chatml", "hello")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicate tool name"):
        render_chat_template("chatml", MESSAGES, tools=[{"name": "a"}, {"name": "a"}])
    with pytest.raises(ValueError, match="add_generation_prompt"):
        render_chat_template("chatml", MESSAGES, options={"add_generation_prompt": "often"})


def test_load_option_must_be_a_string() -> None:
    model = ModelInfo(name="m", backend="test", options={"chat_template": 3})
    with pytest.raises(TemplateError, match="load option chat_template must be"):
        render_messages(model, MESSAGES)


def test_unknown_name_from_a_resolver_lists_known_names(plugin_system) -> None:
    import lmstream

    class Resolver:
        @lmstream.hookimpl
        def lmstream_resolve_chat_template(self, model: ModelInfo) -> str | None:
            return "does-not-exist"

    plugin_system.register(Resolver(), name="bad-resolver")
    with pytest.raises(UnknownNameError, match="unknown chat template 'does-not-exist'; known"):
        render_messages(ModelInfo(name="m", backend="test"), MESSAGES)
