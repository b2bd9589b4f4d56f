"""Failures: a backend error mid-stream ends with Info(error); bad input raises before any work."""

from __future__ import annotations

import pydantic
import pytest

import lmstream
from lmstream import Chunk, Info, StopReason
from lmstream_scripted import ScriptedFailure


def test_backend_error_mid_stream_ends_with_error_info(scripted):
    context = scripted("abcdef", fail_at=3)
    stream, task = lmstream.generate_task("hi", context=context)
    events = list(stream)  # iteration never raises
    assert "".join(e.text for e in events if isinstance(e, Chunk)) == "abc"
    info = events[-1]
    assert isinstance(info, Info) and info.stop_reason == StopReason.ERROR
    assert isinstance(info.error, ScriptedFailure)
    with pytest.raises(ScriptedFailure, match="token 3"):
        task.wait()


async def test_backend_error_raises_from_await(scripted):
    context = scripted("abcdef", fail_at=0)
    stream, task = lmstream.generate_task("hi", context=context)
    events = [e async for e in stream]
    assert len(events) == 1 and events[0].stop_reason == StopReason.ERROR
    with pytest.raises(ScriptedFailure):
        await task


def test_buffered_generate_raises_the_backend_error(scripted):
    with pytest.raises(ScriptedFailure):
        scripted("abc", fail_at=1).generate("hi")


def test_context_usable_after_error(scripted):
    context = scripted(["ab", "cd"], fail_at=None)
    assert context.generate("x").text == "ab"
    assert context.generate("x").text == "cd"


def test_unknown_backend_lists_known_ones():
    with pytest.raises(lmstream.UnknownNameError, match=r"unknown backend 'nope'; known backends: .*scripted"):
        lmstream.load(backend="nope")


def test_unknown_backend_option_is_named():
    with pytest.raises(lmstream.OptionError, match=r"unknown scripted backend option\(s\): repyl; known: .*reply"):
        lmstream.load(backend="scripted", repyl="typo")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_tokens": -1}, "max_tokens"),
        ({"top_p": 1.5}, "top_p"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_k": -3}, "top_k"),
        ({"min_p": 2}, "min_p"),
        ({"kv_bits": 7}, "kv_bits"),
        ({"stop": [""]}, "stop"),
        ({"max_tokenz": 3}, "max_tokenz"),
    ],
)
def test_invalid_parameters_name_the_field(scripted, params, field):
    context = scripted()
    with pytest.raises(pydantic.ValidationError, match=field):
        lmstream.generate("hi", context=context, parameters=params)


def test_empty_prompt_raises(scripted):
    context = scripted()
    with pytest.raises(pydantic.ValidationError, match="prompt is empty"):
        lmstream.generate("", context=context)
    with pytest.raises(pydantic.ValidationError, match="prompt is empty"):
        context.generate("   ")


def test_empty_messages_and_unknown_role_raise(scripted):
    context = scripted()
    with pytest.raises(pydantic.ValidationError, match="messages is empty"):
        context.generate(messages=[])
    with pytest.raises(pydantic.ValidationError, match="role"):
        context.generate(messages=[{"role": "wizard", "content": "hi"}])


def test_prompt_and_messages_together_raise():
    with pytest.raises(pydantic.ValidationError, match="exactly one of prompt= or messages="):
        lmstream.UserInput(prompt="a", messages=[{"role": "user", "content": "b"}])


def test_wrong_input_type_raises(scripted):
    with pytest.raises(TypeError, match="input must be LMInput, UserInput or str"):
        lmstream.generate(42, context=scripted())  # type: ignore[arg-type]


def test_bad_observer_raises_at_creation(scripted):
    with pytest.raises(TypeError, match="is not an observer"):
        lmstream.generate("hi", context=scripted(), observers=[object()])
    with pytest.raises(lmstream.UnknownNameError, match="unknown observer"):
        lmstream.generate("hi", context=scripted(), observers=["no-such-observer"])


def test_unknown_tool_parser_raises_at_creation(scripted):
    with pytest.raises(lmstream.UnknownNameError, match="unknown tool parser 'nope'"):
        lmstream.generate("hi", context=scripted(), parameters={"tool_parser": "nope"})


def test_empty_lm_input_raises():
    with pytest.raises(ValueError, match="at least one token"):
        lmstream.LMInput(tokens=())


def test_tool_specs_accept_openai_dicts_and_reject_garbage():
    spec = lmstream.ToolSpec.model_validate(
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}})
    assert spec.name == "get_weather"
    with pytest.raises(pydantic.ValidationError, match="unsupported tool type"):
        lmstream.ToolSpec.model_validate({"type": "retrieval", "function": {"name": "x"}})
    with pytest.raises(pydantic.ValidationError, match="name"):
        lmstream.ToolSpec.model_validate({"description": "no name"})
