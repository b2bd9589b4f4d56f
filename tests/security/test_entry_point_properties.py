"""Property tests over the public entry points: any input either works or raises a documented
lmstream error (or a TypeError/ValueError naming the argument) before work starts; never an
AttributeError, IndexError, KeyError, UnicodeError or RecursionError, and never a hang."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream
from lmstream import ChatSession
from lmstream.errors import LmstreamError
from lmstream.hooks import get_tool_parser
from lmstream.pipeline import render_chat_template

FORBIDDEN = (AttributeError, IndexError, KeyError, UnicodeError, RecursionError, AssertionError,
             ZeroDivisionError, OverflowError, MemoryError)
PROPERTY = settings(max_examples=40, deadline=3000,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

texts = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "\ud800", "x\udfff", "\x00",
                                                         "{{ x }}", "chatml", "none", "json"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), texts)
junk = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=12)

PARAMETER_NAMES = ["max_tokens", "temperature", "top_p", "top_k", "min_p", "seed",
                   "repetition_penalty", "presence_penalty", "frequency_penalty", "logit_bias",
                   "stop", "stop_token_ids", "tool_parser", "reasoning_markers", "logprobs",
                   "top_logprobs", "kv_bits", "max_kv_size", "prefill_step_size"]
parameters = st.one_of(st.none(), junk,
                       st.dictionaries(st.sampled_from(PARAMETER_NAMES), junk, max_size=3))
roles = st.sampled_from(["system", "user", "assistant", "tool", "root", "", None])
messages = st.one_of(junk, st.lists(st.one_of(
    junk, st.fixed_dictionaries({"role": roles, "content": junk})), max_size=3))
inputs = st.one_of(junk, texts, st.builds(lambda m: {"messages": m}, messages))


def allowed(action: Callable[[], Any]) -> Any:
    """Run ``action``; documented errors pass, forbidden ones fail the test."""
    try:
        return action()
    except FORBIDDEN as exc:
        raise AssertionError(f"{type(exc).__name__} escaped: {exc!r}") from exc
    except (LmstreamError, TypeError, ValueError):
        return None


def drain(stream: Any) -> None:
    """Consume a stream that was created: it must end with exactly one Info."""
    events = list(stream)
    assert isinstance(events[-1], lmstream.Info)
    error = events[-1].error
    assert not isinstance(error, FORBIDDEN), repr(error)


@pytest.fixture(scope="module")
def context() -> Iterator[lmstream.ModelContext]:
    with lmstream.load(backend="scripted", reply="Hi there") as ctx:
        yield ctx


def user_input(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"messages"}:
        return lmstream.UserInput(messages=value["messages"])
    return value


@PROPERTY
@given(value=inputs, params=parameters)
def test_generate(context: lmstream.ModelContext, value: Any, params: Any) -> None:
    for api in (lmstream.generate, lmstream.generate_tokens):
        stream = allowed(lambda api=api: api(user_input(value), parameters=params,
                                             context=context))
        if stream is not None:
            drain(stream)


@PROPERTY
@given(value=inputs, params=parameters, flag=junk)
def test_generate_tasks(context: lmstream.ModelContext, value: Any, params: Any,
                        flag: Any) -> None:
    made = allowed(lambda: lmstream.generate_tokens_task(user_input(value), parameters=params,
                                                         context=context,
                                                         include_stop_token=flag))
    if made is not None:
        drain(made[0])
    made = allowed(lambda: lmstream.generate_task(user_input(value), parameters=params,
                                                  context=context))
    if made is not None:
        drain(made[0])


@PROPERTY
@given(count=junk, items=st.lists(junk, max_size=4), params=parameters, flag=junk,
       ctx=st.sampled_from([True, False]), other=junk)
def test_generate_token_task(context: lmstream.ModelContext, count: Any, items: list[Any],
                             params: Any, flag: Any, ctx: bool, other: Any) -> None:
    made = allowed(lambda: lmstream.generate_token_task(
        prompt_token_count=count, context=context if ctx else other, iterator=items,
        parameters=params, include_stop_token=flag))
    if made is not None:
        drain(made[0])


@PROPERTY
@given(prompt=junk, msgs=messages, params=parameters, tools=junk)
def test_context_generate(context: lmstream.ModelContext, prompt: Any, msgs: Any, params: Any,
                          tools: Any) -> None:
    allowed(lambda: context.generate(prompt, parameters=params))
    allowed(lambda: context.generate(messages=msgs, tools=tools))
    stream = allowed(lambda: context.generate_stream(prompt, parameters=params))
    if stream is not None:
        drain(stream)


@PROPERTY
@given(fields=st.dictionaries(st.sampled_from([*PARAMETER_NAMES, "bogus"]), junk, max_size=4))
def test_parameters(fields: dict[str, Any]) -> None:
    allowed(lambda: lmstream.GenerationParameters(**fields))


@PROPERTY
@given(fields=junk, prompt=junk, msgs=messages, options=junk)
def test_models(fields: Any, prompt: Any, msgs: Any, options: Any) -> None:
    allowed(lambda: lmstream.ChatMessage.model_validate(fields))
    allowed(lambda: lmstream.ToolSpec.model_validate(fields))
    allowed(lambda: lmstream.UserInput(prompt=prompt))
    allowed(lambda: lmstream.UserInput(messages=msgs, template_options=options))
    allowed(lambda: lmstream.ChatTemplateOptions.model_validate(options))


@PROPERTY
@given(backend=st.one_of(st.none(), junk), template=junk, options=st.dictionaries(
    st.sampled_from(["reply", "tool_parser", "chat_template", "bogus"]), junk, max_size=2))
def test_load(backend: Any, template: Any, options: dict[str, Any]) -> None:
    if backend is None or backend in ("mlx", "echo"):
        backend = "scripted"  # never load the real model here
    ctx = allowed(lambda: lmstream.load(backend=backend, **options))
    if ctx is not None:
        ctx.close()
    ctx = allowed(lambda: lmstream.load(backend="scripted", chat_template=template))
    if ctx is not None:
        ctx.close()


@PROPERTY
@given(instructions=junk, history=junk, params=parameters, rounds=junk, turn=junk)
def test_chat_session(context: lmstream.ModelContext, instructions: Any, history: Any,
                      params: Any, rounds: Any, turn: Any) -> None:
    session = allowed(lambda: ChatSession(context, instructions, parameters=params,
                                          history=history, max_tool_rounds=rounds))
    if session is not None:
        allowed(lambda: session.respond(turn))


@PROPERTY
@given(document=junk, raw=st.binary(max_size=64))
def test_chat_session_load(context: lmstream.ModelContext, tmp_path_factory: Any,
                           document: Any, raw: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("sessions") / "s.json"
    base = {"format": "lmstream.chat_session", "version": 1}
    for content in (json.dumps(document).encode(), raw,
                    json.dumps({**base, "messages": document}).encode(),
                    json.dumps({**base, "template_options": document}).encode()):
        path.write_bytes(content)
        allowed(lambda: ChatSession.load(path, context, restore_cache=False))


@PROPERTY
@given(name=junk, tools=junk, text=junk)
def test_get_tool_parser(name: Any, tools: Any, text: Any) -> None:
    parser = allowed(lambda: get_tool_parser(name, tools))
    if parser is not None:
        allowed(lambda: parser.feed(text))
        allowed(parser.finish)


@PROPERTY
@given(source=st.one_of(junk, st.text(alphabet="{}%#-+*x ()'|.,", max_size=24)), msgs=messages,
       tools=junk, options=junk)
def test_render_chat_template(source: Any, msgs: Any, tools: Any, options: Any) -> None:
    allowed(lambda: render_chat_template(source, msgs, tools, options))


CLI_FLAGS = ["--max-tokens", "--temperature", "--top-p", "--top-k", "--min-p", "--seed", "--stop",
             "--tool-parser", "--template", "--option", "--system", "--prefill-step-size"]


@PROPERTY
@given(flags=st.lists(st.tuples(st.sampled_from(CLI_FLAGS),
                                st.one_of(st.sampled_from(["inf", "-1", "nan", "0", "1e400",
                                                           "", "x", "=", "reply=hi"]),
                                          st.text(max_size=6))), max_size=3),
       prompt=st.text(max_size=8))
def test_cli(flags: list[tuple[str, str]], prompt: str) -> None:
    from lmstream.cli.main import main

    argv = ["generate", "--backend", "scripted"]
    for flag, value in flags:
        argv += [flag, value]
    argv += ["--", prompt or "hi"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code in (0, 1, 2), (code, err.getvalue())
    for name in ("AttributeError", "IndexError", "KeyError", "UnicodeEncodeError",
                 "RecursionError", "Traceback"):
        assert name not in err.getvalue(), err.getvalue()
