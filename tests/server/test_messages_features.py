"""/v1/messages features agents use: beta query/headers, thinking, effort, context edits, system
turns, the billing line, structured output, forced tool calls, usage and mid-stream errors."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from lmstream import GenerationStats, Info, StopReason

from .conftest import http_client, sse_events

pytest.importorskip("starlette")

from lmstream_server.messages import usage

TEMPLATE = (
    "{% for m in messages %}"
    "{% if m.role == 'system' and not loop.first %}{{ raise_exception('System message must be first') }}{% endif %}"
    "<{{ m.role }}>{% if m.reasoning_content %}[think:{{ m.reasoning_content }}]{% endif %}{{ m.content or '' }}"
    "{% for c in m.tool_calls or [] %}[call:{{ c.function.name }}]{% endfor %}</{{ m.role }}>{% endfor %}"
    "{% if enable_thinking %}THINKING-ON{% endif %}{% if enable_thinking is false %}THINKING-OFF{% endif %}"
    "<assistant>")
"""A template that shows reasoning, calls and the thinking switch, and refuses a system turn after the first."""
TOOL = {"name": "get_weather", "description": "Weather.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
USER = [{"role": "user", "content": "hi"}]


def recording(served: Any, reply: str = "ok", **options: Any) -> tuple[Any, list[str]]:
    """An app whose scripted model records every prompt it is given."""
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return reply

    return served(answer, **options), prompts


async def post(app: Any, body: dict[str, Any], path: str = "/v1/messages", **headers: str) -> Any:
    async with http_client(app, **headers) as http:
        fields = {"model": "scripted", **({} if "count_tokens" in path else {"max_tokens": 300}), **body}
        response = await http.post(path, json=fields)
    assert response.status_code == 200, response.text
    return response


async def test_beta_query_and_headers_are_accepted(served: Any) -> None:
    app = served("Hello")
    response = await post(app, {"messages": USER}, "/v1/messages?beta=true", **{
        "anthropic-beta": "claude-code-20250219,context-management-2025-06-27,effort-2025-11-24",
        "anthropic-version": "2023-06-01"})
    assert response.json()["content"] == [{"type": "text", "text": "Hello"}]
    counted = await post(app, {"messages": USER}, "/v1/messages/count_tokens?beta=true",
                         **{"anthropic-beta": "token-counting-2024-11-01"})
    assert counted.json()["input_tokens"] > 0


@pytest.mark.parametrize(("thinking", "shown"), [
    ({"type": "adaptive"}, "THINKING-ON"), ({"type": "enabled", "budget_tokens": 10}, "THINKING-ON"),
    ({"type": "disabled"}, "THINKING-OFF"), (None, "<assistant>")])
async def test_thinking_switches_the_template(served: Any, thinking: dict[str, Any] | None, shown: str) -> None:
    app, prompts = recording(served, model_chat_template=TEMPLATE)
    body: dict[str, Any] = {"messages": USER, "output_config": {"effort": "low"}}
    if thinking:
        body["thinking"] = thinking
    await post(app, body)
    assert prompts[-1].endswith(f"{shown}<assistant>" if thinking else "</user><assistant>")


async def test_system_messages_anywhere(served: Any) -> None:
    messages = [{"role": "system", "content": "First."}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yo"}, {"role": "system", "content": [{"type": "text", "text": "Mid."}]},
                {"role": "user", "content": "again"}]
    chatml, prompts = recording(served)
    await post(chatml, {"system": "Top.", "messages": messages})
    assert prompts[-1].startswith("<|im_start|>system\nTop.\n\nFirst.<|im_end|>")
    assert "<|im_start|>assistant\nyo<|im_end|>\n<|im_start|>system\nMid.<|im_end|>\n<|im_start|>user\nagain" \
        in prompts[-1]
    strict, prompts = recording(served, model_chat_template=TEMPLATE)
    await post(strict, {"system": "Top.", "messages": messages})
    assert prompts[-1] == ("<system>Top.\n\nFirst.</system><user>hi</user><assistant>yo</assistant>"
                           "<user>Mid.\n\nagain</user><assistant>")


@pytest.mark.parametrize("system", [
    "x-anthropic-billing-header: cc_version=2.1.197.fbe; cc_entrypoint=sdk-cli; cch=1f2e;\nYou are helpful.",
    [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.fbe; cc_entrypoint=sdk-cli;"},
     {"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]])
async def test_billing_line_is_removed_unless_kept(served: Any, system: Any) -> None:
    app, prompts = recording(served)
    await post(app, {"system": system, "messages": USER})
    assert prompts[-1].startswith("<|im_start|>system\nYou are helpful.<|im_end|>")
    state = app.state.lmstream
    state.limits = dataclasses.replace(state.limits, keep_billing_header=True)
    await post(app, {"system": system, "messages": USER})
    assert prompts[-1].startswith("<|im_start|>system\nx-anthropic-billing-header: cc_version=2.1.197.fbe")


def _thinking_history() -> list[dict[str, Any]]:
    call = {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}
    return [{"role": "user", "content": "one"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "A", "signature": "s"},
                                              {"type": "text", "text": "a"}]},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "B", "signature": "s"}, call]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "C"},
                                              {"type": "text", "text": "c"}]},
            {"role": "user", "content": "three"}]


@pytest.mark.parametrize(("keep", "shown"), [
    (None, ["B", "C"]), ({"type": "thinking_turns", "value": 2}, ["A", "B", "C"]), ("all", ["A", "B", "C"]),
    ({"type": "thinking_turns", "value": 0}, [])])
async def test_clear_thinking_keeps_the_last_turns(served: Any, keep: Any, shown: list[str]) -> None:
    app, prompts = recording(served, model_chat_template=TEMPLATE, tool_parser="json")
    edit: dict[str, Any] = {"type": "clear_thinking_20251015", **({"keep": keep} if keep is not None else {})}
    await post(app, {"messages": _thinking_history(), "tools": [TOOL], "thinking": {"type": "adaptive"},
                     "context_management": {"edits": [edit]}})
    assert [name for name in "ABC" if f"[think:{name}]" in prompts[-1]] == shown  # B and C: one turn (tool loop)


def _tool_history(count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for index in range(count):
        name = "get_weather" if index else "keep_me"
        messages.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": f"t{index}", "name": name, "input": {"city": f"c{index}"}}]})
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{index}",
                                                      "content": [{"type": "text", "text": f"RESULT{index}"}]}]})
    return messages


async def test_clear_tool_uses_past_its_trigger(served: Any) -> None:
    app, prompts = recording(served, model_chat_template=TEMPLATE, tool_parser="json")
    tools = [TOOL, {**TOOL, "name": "keep_me"}]
    edit = {"type": "clear_tool_uses_20250919", "trigger": {"type": "tool_uses", "value": 2},
            "keep": {"type": "tool_uses", "value": 1}, "exclude_tools": ["keep_me"]}
    await post(app, {"messages": _tool_history(4), "tools": tools, "context_management": {"edits": [edit]}})
    shown = [f"RESULT{i}" in prompts[-1] for i in range(4)]
    assert shown == [True, False, False, True]  # keep_me excluded, the last one kept
    assert prompts[-1].count("[tool result cleared") == 2
    await post(app, {"messages": _tool_history(2), "tools": tools, "context_management": {"edits": [edit]}})
    assert "RESULT1" in prompts[-1]  # under the trigger: nothing cleared
    edit["clear_at_least"] = {"type": "input_tokens", "value": 100_000}
    await post(app, {"messages": _tool_history(4), "tools": tools, "context_management": {"edits": [edit]}})
    assert all(f"RESULT{i}" in prompts[-1] for i in range(4))  # would free too little: not applied


async def test_output_config_format_is_structured_output(served: Any) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
              "additionalProperties": False}
    app = served('{"name": "Ada"}')
    for body in ({"output_config": {"format": {"type": "json_schema", "schema": schema}, "effort": "high"}},
                 {"output_format": {"type": "json_schema", "schema": schema}}):
        answer = (await post(app, {"messages": USER, **body})).json()
        assert json.loads(answer["content"][0]["text"]) == {"name": "Ada"}


TWO_CALLS = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
             '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>')


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}, {"type": "auto"}])
async def test_tool_choice_forces_calls(served: Any, choice: dict[str, Any]) -> None:
    app = served(TWO_CALLS, tool_parser="json")
    answer = (await post(app, {"messages": USER, "tools": [TOOL], "tool_choice": choice})).json()
    assert answer["stop_reason"] == "tool_use"
    assert next(b["input"] for b in answer["content"] if b["type"] == "tool_use") == {"city": "Paris"}


async def test_tool_choice_none_and_disable_parallel(served: Any) -> None:
    app = served(TWO_CALLS, tool_parser="json")
    single = {"type": "any", "disable_parallel_tool_use": True}
    answer = (await post(app, {"messages": USER, "tools": [TOOL], "tool_choice": single})).json()
    assert [b["input"] for b in answer["content"]] == [{"city": "Paris"}] and answer["stop_reason"] == "tool_use"
    raw = (await post(app, {"messages": USER, "tools": [TOOL], "tool_choice": single, "stream": True})).content
    starts = [json.loads(d) for n, d in sse_events(raw) if n == "content_block_start"]
    assert [s["content_block"]["type"] for s in starts] == ["tool_use"]
    assert [n for n, _ in sse_events(raw)][-2:] == ["message_delta", "message_stop"]
    none = (await post(app, {"messages": USER, "tools": [TOOL], "tool_choice": {"type": "none"}})).json()
    assert none["stop_reason"] == "end_turn" and none["content"][0]["type"] == "text"


async def test_fields_claude_code_sends_are_accepted(served: Any) -> None:
    app, prompts = recording(served)
    await post(app, {
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "read this", "cache_control": {"type": "ephemeral"}},
            {"type": "document", "title": "notes", "source": {"type": "text", "media_type": "text/plain",
                                                              "data": "DOC"}}]},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "opaque"},
                                              {"type": "text", "text": "ok"}]},
            {"role": "user", "content": "go on"}],
        "metadata": {"user_id": '{"device_id":"0","session_id":"s"}'}, "service_tier": "auto",
        "speed": "standard", "inference_geo": "us", "cache_control": {"type": "ephemeral"},
        "temperature": 1, "top_k": 5, "top_p": 0.9, "stop_sequences": ["never"],
        "thinking": {"type": "adaptive", "display": "summarized"}, "output_config": {"effort": "max"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}})
    assert "read this\nnotes\n\nDOC" in prompts[-1] and "opaque" not in prompts[-1]


def test_usage_counts_cached_prompt_tokens_apart() -> None:
    info = Info(StopReason.STOP, GenerationStats(prompt_tokens=12, cached_prompt_tokens=900, generated_tokens=7))
    assert usage(info) == {"input_tokens": 12, "output_tokens": 7, "cache_read_input_tokens": 900,
                           "cache_creation_input_tokens": 0}


async def test_failure_mid_stream_is_error_then_message_stop(served: Any) -> None:
    app = served("abcdefgh", fail_at=3)
    raw = (await post(app, {"messages": USER, "stream": True})).content
    names = [name for name, _ in sse_events(raw)]
    assert names[0] == "message_start" and names[-2:] == ["error", "message_stop"]
    error = json.loads(sse_events(raw)[-2][1])
    assert error["type"] == "error" and "scripted failure" in error["error"]["message"].lower()


async def test_prompt_too_long_in_the_api_wording(served: Any) -> None:
    """Claude Code compacts its history when the error starts with "prompt is too long"."""
    async with http_client(served(context_length=64)) as http:
        response = await http.post("/v1/messages", json={"model": "scripted", "max_tokens": 5,
                                                         "messages": [{"role": "user", "content": "x" * 100}]})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("prompt is too long: ")
    assert response.json()["error"]["message"].endswith(" tokens > 64 maximum")


def test_strip_billing_edges() -> None:
    from lmstream_server.billing import strip_billing

    assert strip_billing(["x-anthropic-billing-header: cc_version=1;"]) == []
    assert strip_billing(["  X-Anthropic-Billing-Header: a;\n\nYou help."]) == ["You help."]
    assert strip_billing(["You help.", "x-anthropic-billing-header: a;"]) == ["You help.", "x-anthropic-billing-header: a;"]
    assert strip_billing(["x-anthropic-billing-header: a;", "B"]) == ["B"]
    assert strip_billing([]) == []


async def test_assistant_prefill_is_continued(served: Any) -> None:
    app, prompts = recording(served, reply='"Ada"}')
    answer = (await post(app, {"messages": [{"role": "user", "content": "Name as JSON"},
                                            {"role": "assistant", "content": [{"type": "text", "text": '{"name":'}]}]})).json()
    assert prompts[-1].endswith('<|im_start|>user\nName as JSON<|im_end|>\n<|im_start|>assistant\n{"name":')
    assert answer["content"] == [{"type": "text", "text": '"Ada"}'}]
    async with http_client(app) as http:
        refused = await http.post("/v1/messages", json={"model": "scripted", "max_tokens": 5, "messages": [
            {"role": "user", "content": "x"}, {"role": "assistant", "content": "trailing "}]})
    assert refused.status_code == 400 and "trailing whitespace" in refused.json()["error"]["message"]
