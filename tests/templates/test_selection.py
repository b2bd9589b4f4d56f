"""Which template render_messages uses: options.template > load option > resolver > error."""

from __future__ import annotations

from pathlib import Path

import pytest

import lmstream
from lmstream import ChatTemplateOptions
from lmstream.model import ModelInfo
from lmstream.pipeline import render_chat_template, render_messages
from lmstream.plugin import TemplateRequest
from lmstream_templates.resolve import resolve_template_name

MESSAGES = [{"role": "user", "content": "hi"}]
OWN = "OWN:{{ messages[0].content }}"


def model(**fields) -> ModelInfo:
    return ModelInfo(**{"name": "acme/m", "backend": "test", **fields})


def test_model_template_is_used_by_default() -> None:
    assert render_messages(model(chat_template=OWN), MESSAGES) == "OWN:hi"


def test_options_template_beats_load_option_beats_model() -> None:
    m = model(chat_template=OWN, options={"chat_template": "LOAD:{{ messages[0].content }}"})
    assert render_messages(m, MESSAGES) == "LOAD:hi"
    assert render_messages(m, MESSAGES, options={"template": "OPT:{{ messages[0].content }}"}) == "OPT:hi"
    assert render_messages(m, MESSAGES, options={"template": "chatml"}).startswith("<|im_start|>user")


def test_load_option_forms(tmp_path: Path) -> None:
    path = tmp_path / "t.jinja"
    path.write_text("FILE:{{ messages[0].content }}", encoding="utf-8")
    assert render_messages(model(options={"chat_template": str(path)}), MESSAGES) == "FILE:hi"
    assert render_messages(model(options={"chat_template": "gemma"}), MESSAGES) == \
        "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"


def test_override_by_path_and_home_relative_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine.jinja").write_text("HOME:{{ messages | length }}", encoding="utf-8")
    assert render_chat_template("~/mine.jinja", MESSAGES) == "HOME:1"
    assert render_chat_template(str(tmp_path / "mine.jinja"), MESSAGES) == "HOME:1"


def test_named_templates_pick_tool_use_with_tools() -> None:
    m = model(chat_template={"default": "D", "tool_use": "T{{ (tools or []) | length }}"})
    assert render_messages(m, MESSAGES) == "D"
    assert render_messages(m, MESSAGES, tools=[{"name": "f"}]) == "T1"
    assert render_messages(m, MESSAGES, tools=[]) == "T0"  # tools given (empty) as transformers
    assert render_messages(m, MESSAGES, options={"template": "tool_use"}) == "T0"


def test_special_tokens_come_from_the_model() -> None:
    m = model(chat_template="{{ bos_token }}|{{ eos_token }}|{{ pad_token }}",
              special_tokens={"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"})
    assert render_messages(m, MESSAGES) == "<s>|</s>|<pad>"


def test_extra_context_may_override_special_tokens() -> None:
    m = model(chat_template="{{ bos_token }}", special_tokens={"bos_token": "<s>"})
    assert render_messages(m, MESSAGES, options={"extra_context": {"bos_token": "[B]"}}) == "[B]"


@pytest.mark.parametrize(("name", "model_type", "expected"), [
    ("google/gemma-2-2b-it", None, "gemma"),
    ("whatever", "gemma3_text", "gemma"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistral", "mistral"),
    ("mlx-community/Mixtral-8x7B", None, "mistral"),
    ("Qwen/Qwen2.5-0.5B-Instruct", "qwen2", "chatml"),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "llama", "chatml"),
    ("meta-llama/Llama-3.2-1B-Instruct", "llama", "llama3"),
    ("meta-llama/Llama-2-7b-chat-hf", "llama", None),
    ("acme/unknown", "acme", None),
])
def test_family_guess_for_models_without_template(name: str, model_type: str | None,
                                                  expected: str | None) -> None:
    assert resolve_template_name(ModelInfo(name=name, backend="t", model_type=model_type)) == expected


def test_own_template_beats_family_guess() -> None:
    assert resolve_template_name(ModelInfo(name="gemma", backend="t", chat_template="x")) == "jinja"


def test_family_guess_is_rendered() -> None:
    m = ModelInfo(name="Qwen/Qwen2.5-0.5B-Instruct", backend="t", model_type="qwen2")
    assert render_messages(m, MESSAGES) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_third_party_renderer_and_resolver_win(plugin_system) -> None:
    seen: list[TemplateRequest] = []

    def shout(request: TemplateRequest) -> str:
        seen.append(request)
        return " | ".join(m["content"].upper() for m in request.messages)

    class ShoutPlugin:
        @lmstream.hookimpl
        def lmstream_register_chat_templates(self, register) -> None:
            register("shout", shout)

        @lmstream.hookimpl
        def lmstream_resolve_chat_template(self, model: ModelInfo) -> str | None:
            return "shout" if model.name.startswith("loud/") else None

    plugin_system.register(ShoutPlugin(), name="shout-plugin")
    loud = ModelInfo(name="loud/model", backend="t", chat_template=OWN,
                     special_tokens={"bos_token": "<s>"})
    assert render_messages(loud, [*MESSAGES, {"role": "assistant", "content": "yo"}]) == "HI | YO"
    assert seen[-1].model is loud and seen[-1].special_tokens == {"bos_token": "<s>"}
    assert seen[-1].options == ChatTemplateOptions()
    # other models still reach the built-in resolver (trylast)
    assert render_messages(model(chat_template=OWN), MESSAGES) == "OWN:hi"
    assert render_chat_template("shout", MESSAGES) == "HI"


def test_renderer_failures_of_third_parties_are_labelled(plugin_system) -> None:
    class Broken:
        @lmstream.hookimpl
        def lmstream_register_chat_templates(self, register) -> None:
            register("broken", lambda request: 1 / 0)
            register("not-text", lambda request: b"bytes")

    plugin_system.register(Broken(), name="broken-plugin")
    with pytest.raises(lmstream.TemplateError, match=r"^chat template 'broken': ZeroDivisionError"):
        render_chat_template("broken", MESSAGES)
    with pytest.raises(lmstream.TemplateError, match="returned bytes, not str"):
        render_chat_template("not-text", MESSAGES)


def test_without_the_jinja_renderer_strings_are_refused(plugin_system) -> None:
    plugin_system.unregister(name="templates")
    with pytest.raises(lmstream.TemplateError, match=r"needs the 'jinja' renderer; unknown chat template"):
        render_chat_template("{{ 1 }}", MESSAGES)
