"""A whole agent loop in a ChatSession on a template that knows neither tools nor reasoning
(SmolLM2's shape), with no flags: the generic format shows the tools, the call runs, its
result goes back as a turn the template can show, and the answer comes as text."""

from __future__ import annotations

from typing import Any

import pytest

import lmstream
from lmstream.chat import ChatSession
from lmstream.hooks import PluginSystem, get_plugin_system, set_plugin_system

SMOL = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
        "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
        "{% endif %}")
CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"21C in {city}"


@pytest.mark.parametrize("with_engine", [True, False])
def test_a_tool_loop_runs_on_a_template_without_tool_support(with_engine: bool) -> None:
    if with_engine:
        pytest.importorskip("llguidance")
    prompts: list[str] = []

    def reply(prompt: str) -> str:
        prompts.append(prompt)
        return CALL if len(prompts) == 1 else "It is 21C in Paris."

    old = set_plugin_system(PluginSystem())
    try:
        if not with_engine:  # no constraint engine: the reply is still parsed
            get_plugin_system().constraint_engines._items.clear()  # type: ignore[attr-defined]
        context = lmstream.load(backend="scripted", reply=reply, model_chat_template=SMOL)
        with context:
            session = ChatSession(context, tool_dispatch=[get_weather])
            assert session.respond("Weather in Paris?") == "It is 21C in Paris."
    finally:
        set_plugin_system(old)
    roles: list[Any] = [m.role for m in session.history]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert prompts[0].startswith("<|im_start|>system\nYou can call these tools:\n")
    assert f"<|im_start|>assistant\n{CALL}<|im_end|>\n<|im_start|>tool\n21C in Paris<|im_end|>" in prompts[1]
