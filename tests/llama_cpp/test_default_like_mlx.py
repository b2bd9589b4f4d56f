"""The default model on llama.cpp (what ``backend="auto"`` picks on a CPU-only machine) renders,
tokenizes and parses tool calls as on MLX, so switching the default changes no prompt (slow)."""

from __future__ import annotations

import pytest

import lmstream

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:the chat template of model:UserWarning")]  # no tools in its template

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
CONVERSATIONS = [
    [{"role": "user", "content": "Why is the sky blue?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Weather in Paris?"}],
]


@pytest.fixture(scope="module")
def both(default_contexts):
    return default_contexts("mlx"), default_contexts("llama_cpp")


@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("tools", [None, [WEATHER]])
def test_same_prompt_text_and_tokens(both, messages, tools):
    mlx, llama = both
    user_input = lmstream.UserInput(messages=messages, tools=tools)
    a, b = mlx.prepare(user_input), llama.prepare(user_input)
    assert a.text == b.text
    assert a.tokens == b.tokens


def test_same_tool_parser_raw_encoding_and_stop_tokens(both):
    mlx, llama = both
    assert mlx.info.options.get("tool_parser") == llama.info.options.get("tool_parser")
    assert mlx.info.chat_template == llama.info.chat_template
    text = "Hello <tool_call>{\"name\": \"x\"}</tool_call> w\u00f6rld"
    for special in (True, False):
        assert mlx.tokenizer.encode(text, add_special_tokens=special) == \
            llama.tokenizer.encode(text, add_special_tokens=special)
    # llama.cpp stops at every end-of-generation token of the vocabulary, a superset of MLX's
    assert mlx.tokenizer.eos_token_ids <= llama.tokenizer.eos_token_ids
