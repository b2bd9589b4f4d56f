"""What agent clients need from the OpenAI routes (issue 24): reasoning under both names, reasoning
sent back under either name, ``reasoning_effort``, the fields clients send by default, model names
agents choose themselves, cached prompt tokens in usage, and streams that always end."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

import lmstream

from .conftest import http_client, openai_client, sse_events

pytest.importorskip("starlette")

from lmstream_server import create_app
from lmstream_server.chat_request import chat_messages
from lmstream_server.generation import usage
from lmstream_server.openai_sse import DONE, closing_events, guarded
from lmstream_server.reasoning import effort_settings

USER = [{"role": "user", "content": "hi"}]
CHAT = {"model": "scripted", "messages": USER}


def _with_limits(app: Any, **changes: Any) -> Any:
    state = app.state.lmstream
    state.limits = dataclasses.replace(state.limits, **changes)
    return app


async def _post(app: Any, path: str, body: Any) -> Any:
    async with http_client(app) as http:
        return await http.post(path, json=body)


# -- reasoning out ---------------------------------------------------------------------------

async def test_reasoning_under_both_names_by_default(served: Any) -> None:
    app = served("<think>Because.</think>Yes.")
    message = (await _post(app, "/v1/chat/completions", CHAT)).json()["choices"][0]["message"]
    assert message["reasoning_content"] == message["reasoning"] == "Because." and message["content"] == "Yes."
    raw = (await _post(app, "/v1/chat/completions", {**CHAT, "stream": True})).content
    deltas = [json.loads(d)["choices"][0]["delta"] for _, d in sse_events(raw) if d.startswith("{")]
    both = "".join(d.get("reasoning_content", "") for d in deltas)
    assert both == "".join(d.get("reasoning", "") for d in deltas) == "Because."
    assert all(("reasoning" in d) == ("reasoning_content" in d) for d in deltas)


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
async def test_reasoning_field_option(served: Any, field: str) -> None:
    app = _with_limits(served("<think>Because.</think>Yes."), reasoning_field=field)
    other = "reasoning" if field == "reasoning_content" else "reasoning_content"
    message = (await _post(app, "/v1/chat/completions", CHAT)).json()["choices"][0]["message"]
    assert message[field] == "Because." and other not in message
    raw = (await _post(app, "/v1/chat/completions", {**CHAT, "stream": True})).content
    deltas = [json.loads(d)["choices"][0]["delta"] for _, d in sse_events(raw) if d.startswith("{")]
    assert "".join(d.get(field, "") for d in deltas) == "Because."
    assert not any(other in d for d in deltas)


def test_reasoning_field_must_be_known() -> None:
    from lmstream_server.state import ServerLimits

    with pytest.raises(ValueError, match="reasoning_field"):
        ServerLimits(reasoning_field="thoughts")


# -- reasoning back in ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["reasoning", "reasoning_content"])
def test_assistant_reasoning_is_accepted_under_either_name(key: str) -> None:
    messages = chat_messages([{"role": "user", "content": "q"},
                              {"role": "assistant", "content": "a", key: "thought"}])
    assert messages[1].reasoning_content == "thought"
    assert "reasoning" not in (messages[1].model_extra or {})


async def test_reasoning_sent_back_is_served(served: Any) -> None:
    app = served("ok")
    for key in ("reasoning", "reasoning_content"):
        body = {**CHAT, "messages": [*USER, {"role": "assistant", "content": None, key: "hmm"},
                                     {"role": "user", "content": "and?"}]}
        response = await _post(app, "/v1/chat/completions", body)
        assert response.status_code == 200, response.text


# -- reasoning_effort -------------------------------------------------------------------------

THINKING_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                     "{% if enable_thinking %}THINKING ON{% elif enable_thinking is false %}THINKING OFF"
                     "{% endif %}assistant:")


async def test_reasoning_effort_switches_the_templates_thinking(served: Any) -> None:
    def reply(prompt: str) -> str:
        return "on" if "THINKING ON" in prompt else "off" if "THINKING OFF" in prompt else "default"

    app = served(reply, model_chat_template=THINKING_TEMPLATE)
    answers = {}
    for effort in (None, "none", "low", "high"):
        body = {**CHAT, **({"reasoning_effort": effort} if effort else {})}
        response = await _post(app, "/v1/chat/completions", body)
        assert response.status_code == 200, response.text
        answers[effort] = response.json()["choices"][0]["message"]["content"]
    assert answers == {None: "default", "none": "off", "low": "on", "high": "on"}


async def test_reasoning_effort_on_a_model_without_reasoning_is_served(served: Any) -> None:
    response = await _post(served("plain"), "/v1/chat/completions", {**CHAT, "reasoning_effort": "medium"})
    message = response.json()["choices"][0]["message"]
    assert message["content"] == "plain" and "reasoning" not in message
    response = await _post(served("plain"), "/v1/chat/completions", {**CHAT, "reasoning_effort": "extreme"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "reasoning_effort"


def test_reasoning_budget_only_where_the_core_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from lmstream_server import reasoning

    monkeypatch.setattr(reasoning, "parameters_supported", lambda name: False)
    assert effort_settings("high", 512) == (True, {})
    monkeypatch.setattr(reasoning, "parameters_supported", lambda name: name == "reasoning_budget")
    assert effort_settings("low", None) == (True, {"reasoning_budget": 1024})
    assert effort_settings("high", 512) == (True, {"reasoning_budget": 512})
    assert effort_settings("none", 512) == (False, {})
    assert effort_settings(None, 512) == (None, {})


# -- fields clients send by default ----------------------------------------------------------------

async def test_fields_agents_and_sdks_send_are_accepted(served: Any) -> None:
    app = served("ok")
    body = {**CHAT, "parallel_tool_calls": True, "store": True, "metadata": {"run": "1"},
            "service_tier": "auto", "prompt_cache_key": "session-1", "user": "u", "safety_identifier": "s",
            "prompt_cache_retention": "in_memory", "verbosity": "low", "n": None, "stop": None, "modalities": ["text"],
            "temperature": None, "top_p": None, "stream": False, "logprobs": False}
    response = await _post(app, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    streamed = await _post(app, "/v1/chat/completions", {
        **body, "stream": True, "stream_options": {"include_usage": True, "include_obfuscation": False}})
    events = sse_events(streamed.content)
    assert events[-1][1] == "[DONE]" and json.loads(events[-2][1])["usage"]["total_tokens"] > 0


async def test_prompt_cache_key_reaches_the_input_metadata_on_chat_and_completions(
        served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key routes a conversation to the replica that holds its prefix (Ray's PrefixRouter)."""
    from lmstream_server import generation

    seen: list[dict[str, Any]] = []
    real = generation.open_stream

    async def recording(state: Any, served_model: Any, lm_input: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(dict(lm_input.metadata))
        return await real(state, served_model, lm_input, *args, **kwargs)

    monkeypatch.setattr(generation, "open_stream", recording)
    app = served("ok")
    for path, body in (("/v1/chat/completions", {**CHAT, "prompt_cache_key": "thread-7"}),
                       ("/v1/completions", {"model": "m", "prompt": "x", "prompt_cache_key": "thread-7"}),
                       ("/v1/chat/completions", CHAT)):
        response = await _post(app, path, body)
        assert response.status_code == 200, response.text
    assert [m.get("prompt_cache_key") for m in seen] == ["thread-7", "thread-7", None]


async def test_audio_is_refused_naming_modalities(served: Any) -> None:
    response = await _post(served("ok"), "/v1/chat/completions", {**CHAT, "modalities": ["text", "audio"]})
    assert response.status_code == 400 and response.json()["error"]["param"] == "modalities[1]"


async def test_openai_client_with_every_default_field(served: Any) -> None:
    client = openai_client(served("ok"))
    answer = await client.chat.completions.create(
        model="gpt-4o", messages=USER, store=True, metadata={"a": "b"}, service_tier="auto",
        prompt_cache_key="k", user="me", parallel_tool_calls=True, reasoning_effort="low")
    assert answer.choices[0].message.content == "ok" and answer.model == "scripted"
    assert answer.usage is not None and answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == 0


# -- model names -----------------------------------------------------------------------------

async def test_one_model_serves_any_name_and_answers_with_its_own(served: Any) -> None:
    app = served("ok")
    for name in ("gpt-4o", "claude-opus-4-8", "Scripted", "org/scripted"):
        for path, body in (("/v1/chat/completions", {**CHAT, "model": name}),
                           ("/v1/completions", {"model": name, "prompt": "x"})):
            response = await _post(app, path, body)
            assert response.status_code == 200, response.text
            assert response.json()["model"] == "scripted"


async def test_strict_model_names_restores_the_404(served: Any) -> None:
    app = _with_limits(served("ok"), strict_model_names=True)
    response = await _post(app, "/v1/chat/completions", {**CHAT, "model": "gpt-4o"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    assert (await _post(app, "/v1/chat/completions", CHAT)).status_code == 200


async def test_several_models_exact_names_and_aliases() -> None:
    one = lmstream.load(backend="scripted", reply="one")
    two = lmstream.load(backend="scripted", reply="two")
    try:
        app = create_app({"org/Alpha-7B": one, "beta": two})
        for name, reply in (("org/Alpha-7B", "one"), ("alpha-7b", "one"), ("other/ALPHA-7B", "one"), ("beta", "two")):
            response = await _post(app, "/v1/chat/completions", {**CHAT, "model": name})
            assert response.status_code == 200, (name, response.text)
            assert response.json()["choices"][0]["message"]["content"] == reply
        response = await _post(app, "/v1/chat/completions", {**CHAT, "model": "gpt-4o"})
        assert response.status_code == 404 and response.json()["error"]["param"] == "model"
    finally:
        one.close()
        two.close()


# -- usage ------------------------------------------------------------------------------------

def test_usage_reports_cached_prompt_tokens() -> None:
    stats = lmstream.GenerationStats(prompt_tokens=4, cached_prompt_tokens=6, generated_tokens=3)
    info = lmstream.Info(stop_reason=lmstream.StopReason.STOP, stats=stats)
    assert usage([info, info]) == {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16,
                                   "prompt_tokens_details": {"cached_tokens": 6}}


# -- streams always end ------------------------------------------------------------------------

def test_closing_events_are_an_error_then_done() -> None:
    raw = closing_events("the server is shutting down")
    events = sse_events(raw)
    assert json.loads(events[0][1])["error"]["message"] == "the server is shutting down"
    assert raw.endswith(DONE) and len(events) == 2


async def test_an_exception_inside_a_stream_ends_it_with_error_and_done() -> None:
    async def body() -> Any:
        yield b"data: {}\n\n"
        raise RuntimeError("boom")

    pieces = [piece async for piece in guarded(body())]
    assert pieces[0] == b"data: {}\n\n" and pieces[-1] == DONE
    assert "boom" in json.loads(sse_events(pieces[-2])[0][1])["error"]["message"]


async def test_completions_stream_failure_ends_with_done(served: Any) -> None:
    app = served("abcdefgh", fail_at=3)
    raw = (await _post(app, "/v1/completions", {"model": "scripted", "prompt": "x", "stream": True})).content
    events = sse_events(raw)
    assert "scripted failure" in events[-2][1] and events[-1][1] == "[DONE]"


async def test_forced_tool_call_with_response_format_calls_the_tool(served: Any) -> None:
    """The Agents SDK sends ``response_format`` (its output_type) with ``tool_choice: required``:
    the forced call wins on that turn, as on OpenAI (it was a 400)."""
    pytest.importorskip("llguidance")
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    app = served(call, tool_parser_type="hermes")
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    body = {**CHAT, "tools": [tool], "tool_choice": "required",
            "response_format": {"type": "json_schema", "json_schema": {"name": "o", "schema": {"type": "object"}}}}
    response = await _post(app, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
