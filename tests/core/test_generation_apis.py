"""Every generation API, in sync and async form, on the scripted backend."""

from __future__ import annotations

import pytest

import lmstream
from lmstream import Chunk, Info, StopReason, Token


def _text(events: list[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, Chunk))


def test_generate_sync_yields_chunks_then_one_info(scripted):
    context = scripted("Hello world", cut="words")
    events = list(lmstream.generate("hi", context=context))
    assert _text(events) == "Hello world"
    assert [type(e) for e in events].count(Info) == 1
    assert isinstance(events[-1], Info) and events[-1].stop_reason == StopReason.STOP
    chunks = [e for e in events if isinstance(e, Chunk)]
    assert [c.text for c in chunks] == ["Hello", " world"]
    prompt_len = len(context.tokenizer.encode("hi"))
    assert [c.position for c in chunks] == [prompt_len + 1, prompt_len + 2]
    assert all(c.tokens for c in chunks)


async def test_generate_async(scripted):
    context = scripted("Hello async", cut="chars")
    events = [e async for e in lmstream.generate("hi", context=context)]
    assert _text(events) == "Hello async"
    assert isinstance(events[-1], Info)


def test_generate_task_sync(scripted):
    context = scripted("abc")
    stream, task = lmstream.generate_task("hi", context=context)
    assert _text(list(stream)) == "abc"
    info = task.wait(timeout=5)
    assert task.done() and info.stop_reason == StopReason.STOP and info.generated_tokens == 4  # 3 + EOS


async def test_generate_task_async_await(scripted):
    context = scripted("abc")
    stream, task = lmstream.generate_task("hi", context=context)
    assert _text([e async for e in stream]) == "abc"
    info = await task
    assert info.stop_reason == "stop"


def test_generate_tokens_sync(scripted):
    context = scripted("ab", cut="chars")
    events = list(lmstream.generate_tokens("hi", context=context))
    tokens = [e for e in events if isinstance(e, Token)]
    assert [context.tokenizer.decode([t.id]) for t in tokens] == ["a", "b"]
    assert [t.position for t in tokens] == [3, 4]
    assert isinstance(events[-1], Info) and events[-1].stop_reason == StopReason.STOP


def test_generate_tokens_include_stop_token(scripted):
    context = scripted("ab", cut="chars")
    events = list(lmstream.generate_tokens("hi", context=context, include_stop_token=True))
    tokens = [e.id for e in events if isinstance(e, Token)]
    assert tokens[-1] in context.tokenizer.eos_token_ids and len(tokens) == 3


async def test_generate_tokens_task_async(scripted):
    context = scripted("xyz", cut="chars")
    stream, task = lmstream.generate_tokens_task("hi", context=context)
    ids = [e.id async for e in stream if isinstance(e, Token)]
    assert context.tokenizer.decode(ids) == "xyz"
    assert (await task).generated_tokens == 4


def test_generate_token_task_with_user_iterator(scripted):
    context = scripted()
    eos = next(iter(context.tokenizer.eos_token_ids))
    stream, task = lmstream.generate_token_task(prompt_token_count=5, context=context,
                                                iterator=iter([10, 11, 12, eos, 13]))
    events = list(stream)
    assert [(e.id, e.position) for e in events if isinstance(e, Token)] == [(10, 6), (11, 7), (12, 8)]
    assert task.wait().stop_reason == StopReason.STOP


async def test_generate_token_task_async_and_exhaustion_is_stop(scripted):
    context = scripted()
    stream, task = lmstream.generate_token_task(prompt_token_count=0, context=context,
                                                iterator=[1, 2, 3], include_stop_token=True)
    assert [e.id async for e in stream if isinstance(e, Token)] == [1, 2, 3]
    assert (await task).stop_reason == StopReason.STOP


def test_generate_token_task_rejects_non_ids(scripted):
    context = scripted()
    stream, task = lmstream.generate_token_task(prompt_token_count=0, context=context, iterator=["x"])
    info = list(stream)[-1]
    assert info.stop_reason == StopReason.ERROR and "not a token id" in str(info.error)
    with pytest.raises(TypeError):
        task.wait()


def test_model_context_generate_collects(scripted):
    context = scripted("<think>plan</think>The answer", cut=2)
    result = context.generate("question")
    assert result.text == "The answer"
    assert result.reasoning == "plan"
    assert result.stop_reason == StopReason.STOP
    assert result.generated_tokens == result.info.generated_tokens > 0
    assert result.prompt_tokens == len(context.tokenizer.encode("question"))
    assert result.tool_calls == []


async def test_model_context_generate_stream_async(scripted):
    context = scripted("streamed")
    stream = context.generate_stream("q", max_tokens=4)
    events = [e async for e in stream]
    assert _text(events) == "stre" and events[-1].stop_reason == StopReason.LENGTH


def test_messages_go_through_the_chat_template(scripted):
    context = scripted("ok", model_chat_template=lmstream_scripted_chatml())
    lm_input = context.prepare(lmstream.UserInput(messages=[{"role": "user", "content": "hi"}]))
    assert lm_input.text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert context.tokenizer.decode(list(lm_input.tokens)) == lm_input.text


def test_prompt_is_raw_without_template(scripted):
    context = scripted("ok")
    assert context.prepare(lmstream.UserInput(prompt="plain")).text == "plain"


def lmstream_scripted_chatml() -> str:
    from lmstream_scripted.model import CHATML_TEMPLATE

    return CHATML_TEMPLATE


def test_dropped_context_stops_its_worker_thread():
    import gc

    context = lmstream.load(backend="scripted", reply="x", model_chat_template=None)
    worker = context.worker
    assert context.generate("hi").text == "x"
    del context
    gc.collect()
    assert worker.wait_stopped(2)  # the thread then parks for good (see Worker's docstring)


def test_closed_context_refuses_new_generations(scripted):
    context = scripted("x")
    context.close()
    with pytest.raises(RuntimeError, match="closed"):
        lmstream.generate("hi", context=context)
