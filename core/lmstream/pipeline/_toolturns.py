"""Tool loops on any chat template: what a template can show (probed once per template, as
llama.cpp's minja does) and a documented rewrite of what it cannot.

A template *knows* tools when a probe tool's name shows in its render; tool calls when an
assistant call's arguments show; tool results when a ``tool`` message's content shows; null
content when an assistant call with ``content: None`` renders; the system role when a system
message shows. A template that knows all of it gets the messages exactly as given (the render
equals transformers'). Where it falls short (docs/chat-templates.md, "Tool loops"):

- tools: a system block lists them (one JSON object per line) and, for the generic format,
  says how to call them; it is appended to the first system message, or becomes one (folded
  into the first user message when the template has no system role);
- the generic format: the block says how to call, and the last user turn (when the user spoke
  last) ends with ``GENERIC_REMINDER``;
- tool calls: written into the assistant's content in the generic JSON shape (one object,
  or a list for several);
- tool results: ``user`` turns holding ``{"tool_response": {...}}``, consecutive results in one;
- null content: ``""``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

GENERIC_TOOL_FORMAT = "generic"
"""The fallback tool-call format: a bare JSON object ``{"name", "arguments"}`` (or a list)."""

GENERIC_REMINDER = "If one of the tools can answer this, reply with only its JSON call."
"""Appended to the last user turn under the generic format (when the user spoke last)."""

RenderProbe = Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], str]
"""``render(messages, tools) -> text``; raises when the template refuses the input."""

_PROBE_NAME = "lmstream_probe_tool"
_PROBE_TOOL = {"type": "function", "function": {
    "name": _PROBE_NAME, "description": "A probe.",
    "parameters": {"type": "object", "properties": {"probe_arg": {"type": "string"}}}}}
_PROBE_ARGUMENT = "probe_value_7"
_PROBE_CALL = {"id": "probecall", "type": "function",
               "function": {"name": _PROBE_NAME, "arguments": {"probe_arg": _PROBE_ARGUMENT}}}
_PROBE_RESULT = "probe_result_9"
_PROBE_SYSTEM = "probe_system_5"
_USER: dict[str, Any] = {"role": "user", "content": "probe question"}


@dataclass(frozen=True)
class TemplateCaps:
    """What a chat template shows of a tool loop (each found by rendering a probe)."""

    tools: bool
    tool_calls: bool
    tool_results: bool
    null_content: bool
    """An assistant call with ``content: None`` renders (else ``""`` is given)."""
    system_role: bool

    @property
    def complete(self) -> bool:
        """Whether the template needs no rewrite at all."""
        return self.tools and self.tool_calls and self.tool_results and self.null_content


def _shows(render: RenderProbe, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
           needle: str) -> bool:
    try:
        return needle in render(messages, tools)
    except Exception:  # a template refusing the probe does not know the feature
        return False


def probe_caps(render: RenderProbe) -> TemplateCaps:
    """Render the probes through ``render`` and report what shows."""
    tools = [_PROBE_TOOL]
    shows_tools = _shows(render, [_USER], tools, _PROBE_NAME)
    call: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [_PROBE_CALL]}
    null_content = any(_shows(render, m, tools, _PROBE_ARGUMENT) for m in ([_USER, call], [call]))
    text_call: dict[str, Any] = {**call, "content": ""}
    tool_calls = null_content or any(_shows(render, m, tools, _PROBE_ARGUMENT)
                                     for m in ([_USER, text_call], [text_call]))
    answered = {**call, "content": None if null_content else ""} if tool_calls else \
        {"role": "assistant", "content": "calling"}
    result = {"role": "tool", "tool_call_id": "probecall", "name": _PROBE_NAME, "content": _PROBE_RESULT}
    tool_results = _shows(render, [_USER, answered, result], tools, _PROBE_RESULT)
    system_role = _shows(render, [{"role": "system", "content": _PROBE_SYSTEM}, _USER], None, _PROBE_SYSTEM)
    return TemplateCaps(shows_tools, tool_calls, tool_results, null_content or not tool_calls,
                        system_role)


class _CapsCache:
    """Probe results by template (bounded, thread-safe)."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[Hashable, TemplateCaps] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Hashable, render: RenderProbe) -> TemplateCaps:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        caps = probe_caps(render)
        with self._lock:
            self._items[key] = caps
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return caps


CAPS_CACHE = _CapsCache()


def needs_tool_rewrite(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> bool:
    """Whether a render involves tools at all (else nothing is probed)."""
    return bool(tools) or any(m.get("tool_calls") or m.get("role") == "tool" for m in messages)


def content_text(content: Any) -> str:
    """A message's content as text (text parts joined; None as "")."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def _call_object(call: dict[str, Any]) -> dict[str, Any]:
    """``{"name", "arguments"}`` of an OpenAI-shape or flat tool call (JSON-string arguments decoded)."""
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            decoded = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            decoded = arguments
        arguments = decoded
    return {"name": function.get("name"), "arguments": arguments}


def write_generic_calls(calls: list[dict[str, Any]]) -> str:
    """Calls as the generic format writes them: one JSON object, or a JSON list of several."""
    objects = [_call_object(c) for c in calls]
    return json.dumps(objects[0] if len(objects) == 1 else objects, ensure_ascii=False)


def tools_block(tools: list[dict[str, Any]] | None, tool_format: str | None, *,
                list_tools: bool, parallel: bool) -> str:
    """The system text that shows ``tools`` (when ``list_tools``) and, for the generic format,
    how to call them."""
    parts: list[str] = []
    if list_tools and tools:
        lines = []
        for tool in tools:
            function = tool.get("function", tool)
            shown = {"name": function.get("name")}
            if function.get("description"):
                shown["description"] = function["description"]
            shown["parameters"] = function.get("parameters", {"type": "object", "properties": {}})
            lines.append(json.dumps(shown, ensure_ascii=False))
        parts.append("You can call these tools:\n" + "\n".join(lines))
    if tool_format == GENERIC_TOOL_FORMAT and tools:
        how = ('To call a tool, answer with only a JSON object: '
               '{"name": <tool name>, "arguments": <arguments object>}.')
        if parallel:
            how += " To call several tools, answer with a JSON list of such objects."
        parts.append(how + " Otherwise answer the user in plain text.")
    return "\n\n".join(parts)


def _with_block(messages: list[dict[str, Any]], block: str, caps: TemplateCaps) -> list[dict[str, Any]]:
    """Put the tools block into the system message (or a new one, or the first user turn)."""
    if messages and messages[0].get("role") in ("system", "developer"):
        first = messages[0]
        text = content_text(first.get("content"))
        return [{**first, "content": f"{text}\n\n{block}" if text else block}, *messages[1:]]
    if caps.system_role:
        return [{"role": "system", "content": block}, *messages]
    for index, message in enumerate(messages):
        if message.get("role") == "user":
            text = content_text(message.get("content"))
            changed = {**message, "content": f"{block}\n\n{text}"}
            return [*messages[:index], changed, *messages[index + 1:]]
    return [{"role": "user", "content": block}, *messages]


def _tool_response(message: dict[str, Any]) -> str:
    response: dict[str, Any] = {}
    if message.get("name"):
        response["name"] = message["name"]
    if message.get("tool_call_id"):
        response["tool_call_id"] = message["tool_call_id"]
    response["content"] = content_text(message.get("content"))
    return json.dumps({"tool_response": response}, ensure_ascii=False)


def rewrite_for_template(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                         caps: TemplateCaps, tool_format: str | None, *,
                         parallel: bool = True) -> list[dict[str, Any]]:
    """The messages rewritten so that ``caps``' template shows every part of the tool loop."""
    out: list[dict[str, Any]] = []
    results_turn = -1  # index in ``out`` of the user turn holding rewritten tool results
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            if not caps.tool_calls:
                text = content_text(message.get("content"))
                calls = write_generic_calls(list(message["tool_calls"]))
                rest = {k: v for k, v in message.items() if k != "tool_calls"}
                message = {**rest, "content": f"{text}\n{calls}" if text else calls}
            elif message.get("content") is None and not caps.null_content:
                message = {**message, "content": ""}
        elif role == "tool" and not caps.tool_results:
            response = _tool_response(message)
            if results_turn == len(out) - 1 >= 0:  # consecutive results share one turn
                out[-1] = {**out[-1], "content": f"{out[-1]['content']}\n{response}"}
                continue
            message = {"role": "user", "content": response}
            results_turn = len(out)
        out.append(message)
    if tool_format == GENERIC_TOOL_FORMAT and tools and out and out[-1].get("role") == "user":
        last = out[-1]  # small models follow an instruction at the end of the turn best
        out[-1] = {**last, "content": f"{content_text(last.get('content'))}\n\n{GENERIC_REMINDER}"}
    block = tools_block(tools, tool_format, list_tools=not caps.tools, parallel=parallel)
    return _with_block(out, block, caps) if block else out
