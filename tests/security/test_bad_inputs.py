"""Inputs that used to be accepted silently or crashed deep inside: each is now a clear error at
creation, naming the field."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lmstream
from lmstream import ChatSession, GenerationParameters
from lmstream.hooks import get_tool_parser
from lmstream.protocol import LMInput

BAD_PARAMETERS: list[tuple[dict[str, Any], str]] = [
    ({"temperature": math.inf}, "temperature"),
    ({"temperature": "inf"}, "temperature"),
    ({"repetition_penalty": math.inf}, "repetition_penalty"),
    ({"presence_penalty": math.nan}, "presence_penalty"),
    ({"frequency_penalty": -math.inf}, "frequency_penalty"),
    ({"logit_bias": {1: math.nan}}, r"logit_bias\.1\n.*finite"),
    ({"logit_bias": {-1: 1.0}}, r"logit_bias\.-1\.\[key\]"),
    ({"logit_bias": {True: 1.0}}, "logit_bias"),
    ({"max_tokens": True}, "max_tokens"),
    ({"top_k": False}, "top_k"),
    ({"temperature": True}, "temperature"),
    ({"logprobs": "yes"}, "logprobs"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**64}, "seed"),
    ({"stop_token_ids": [-5]}, "stop_token_ids"),
    ({"stop_token_ids": [True]}, "stop_token_ids"),
    ({"reasoning_markers": ("<t>", "<t>")}, "reasoning_markers"),
    ({"tool_parser": ""}, "tool_parser"),
    ({"tool_parser": "  "}, "tool_parser"),
    ({"stop": ["\ud800"]}, "stop"),
]


@pytest.mark.parametrize(("fields", "match"), BAD_PARAMETERS,
                         ids=[str(case[0]) for case in BAD_PARAMETERS])
def test_bad_parameters_name_the_field(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GenerationParameters(**fields)


def test_edge_values_that_are_fine_stay_fine() -> None:
    params = GenerationParameters(seed=0, max_tokens=0, stop_token_ids=[0], logit_bias={0: -100})
    assert params.seed == 0
    assert GenerationParameters(seed=2**64 - 1).seed == 2**64 - 1


def test_load_arguments(scripted: Callable[..., lmstream.ModelContext]) -> None:
    with pytest.raises(ValueError, match="backend"):
        lmstream.load(backend="")
    with pytest.raises(ValueError, match="chat_template"):
        lmstream.load(backend="scripted", chat_template="nope")
    with pytest.raises(TypeError, match="chat_template"):
        lmstream.load(backend="scripted", chat_template=123)
    assert scripted(chat_template="chatml").info.options["chat_template"] == "chatml"


@pytest.mark.parametrize(("tokens", "error", "match"), [
    ((-1,), ValueError, "not a token id"),
    ((10**30,), ValueError, "not a token id"),
    (("a",), TypeError, "not a token id"),
    ((True,), TypeError, "not a token id"),
    ((1.5,), TypeError, "not a token id"),
    ("abc", TypeError, "LMInput.tokens"),
])
def test_lminput_token_ids(tokens: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        LMInput(tokens=tokens)


def test_surrogates_are_refused_at_creation(scripted: Callable[..., lmstream.ModelContext]) -> None:
    context = scripted()
    bad = "hi \ud800"
    with pytest.raises(ValueError, match="input"):
        lmstream.generate(bad, context=context)
    with pytest.raises(ValueError, match="input"):
        lmstream.generate_tokens(bad, context=context)
    with pytest.raises(ValueError, match="prompt"):
        context.generate(bad)
    with pytest.raises(ValueError, match="content"):
        context.generate(messages=[{"role": "user", "content": bad}])
    with pytest.raises(ValueError, match="content"):
        ChatSession(context).respond(bad)
    with pytest.raises(ValueError, match="extra_context"):
        lmstream.ChatTemplateOptions(extra_context={"x": bad})


@pytest.mark.parametrize("context", [None, "x", 42])
def test_context_must_be_a_model_context(context: Any) -> None:
    for call in (lambda: lmstream.generate("hi", context=context),
                 lambda: lmstream.generate_tokens("hi", context=context),
                 lambda: lmstream.generate_token_task(prompt_token_count=0, context=context,
                                                      iterator=[1])):
        with pytest.raises(TypeError, match="context"):
            call()


def test_token_task_arguments(scripted: Callable[..., lmstream.ModelContext]) -> None:
    context = scripted()
    with pytest.raises(TypeError, match="prompt_token_count"):
        lmstream.generate_token_task(prompt_token_count=True, context=context, iterator=[1])
    with pytest.raises(TypeError, match="include_stop_token"):
        lmstream.generate_token_task(prompt_token_count=0, context=context, iterator=[1],
                                     include_stop_token="no")
    with pytest.raises(TypeError, match="include_stop_token"):
        lmstream.generate_tokens("hi", context=context, include_stop_token="no")
    with pytest.raises(ValueError, match="stop strings"):
        lmstream.generate_token_task(prompt_token_count=0, context=context, iterator=[1],
                                     parameters={"stop": ["x"]})
    stream, _ = lmstream.generate_token_task(prompt_token_count=0, context=context,
                                             iterator=[1, 1.7, 2])
    events = list(stream)
    assert [e.id for e in events[:-1]] == [1]
    assert "not a token id" in str(events[-1].error)


def test_chat_session_arguments(scripted: Callable[..., lmstream.ModelContext],
                                tmp_path: Path) -> None:
    context = scripted()
    with pytest.raises(TypeError, match="history"):
        ChatSession(context, history="abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"history\[0\]"):
        ChatSession(context, history=[42])  # type: ignore[list-item]
    session = ChatSession(context)
    with pytest.raises(ValueError, match="path"):
        session.save("")
    with pytest.raises(TypeError, match="path"):
        session.save(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="context"):
        ChatSession.load(tmp_path / "x.json", None)  # type: ignore[arg-type]


def test_feed_takes_text_only() -> None:
    parser = get_tool_parser("json")
    with pytest.raises(TypeError, match="feed"):
        parser.feed(None)  # type: ignore[arg-type]
    assert parser.feed("") == []


@pytest.mark.parametrize(("calls", "match"), [
    ([42], "tool_calls"),
    ([{"type": "web", "function": {"name": "f"}}], "type must be 'function'"),
    ([{"function": "f"}], "function must be an object"),
    ([{"function": {"arguments": "{}"}}], "needs a non-empty function name"),
    ([{"name": ""}], "needs a non-empty function name"),
    ([{"name": "f", "arguments": 3}], "arguments must be a JSON string or an object"),
    ([{"id": 7, "function": {"name": "f"}}], "id must be a string"),
])
def test_bogus_tool_calls_in_assistant_messages(calls: list[Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lmstream.ChatMessage(role="assistant", tool_calls=calls)


def test_real_tool_call_shapes_are_accepted() -> None:
    for call in ({"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                 {"name": "f", "arguments": {"a": 1}}, {"function": {"name": "f"}}):
        assert lmstream.ChatMessage(role="assistant", tool_calls=[call]).tool_calls == [call]
