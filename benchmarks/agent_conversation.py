"""The agent conversation the replay benchmarks send, and one timed streaming turn over HTTP.

A coding agent's system prompt (instructions plus tool definitions, about ``target_tokens``
long, distinct per ``agent``), then turns: each appends an assistant tool call, the tool's
result and a new user message (a recorded conversation: the model's own answers are not fed
back). Used by agent_replay.py (one agent against each server) and agent_concurrent.py (many
agents at once against one server).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": name, "description": text,
        "parameters": {"type": "object", "properties": {arg: {"type": "string", "description": f"the {arg}"}
                                                        for arg in args}, "required": list(args)}}}
    for name, text, args in [
        ("read_file", "Read a file of the repository and return its text.", ("path",)),
        ("write_file", "Write text to a file of the repository, replacing it.", ("path", "text")),
        ("run", "Run a shell command in the repository and return its output.", ("command",)),
        ("search", "Search the repository for a regular expression.", ("pattern", "glob")),
        ("fetch", "Fetch a web page and return its text.", ("url",)),
    ]
]
RULES = [
    "Read the files you change before changing them.",
    "Keep every change small and explain it in one sentence.",
    "Run the tests after each change and report failures verbatim.",
    "Never print secrets, tokens or credentials found in files.",
    "Prefer the standard library; ask before adding a dependency.",
    "When a command fails, read its error before retrying.",
    "Answer in the user's language, briefly, without apologies.",
    "Use the tools; do not guess the content of files.",
]
HIT_SERIES = "lmstream_server_prefix_cache_hit_tokens_total"


def system_prompt(target_tokens: int, agent: int = 0) -> str:
    """Instructions plus the tool definitions in text, about ``target_tokens`` tokens long;
    ``agent`` makes it distinct from its first words on (agents share no prefix)."""
    parts = [f"Session {agent}: you are coding agent number {agent} working in a git repository.", "Tools:"]
    for tool in TOOLS:  # as many tool definitions as fit (all of them from ~400 tokens on)
        text = json.dumps(tool["function"])
        if sum(len(p) for p in parts) + len(text) > 4 * target_tokens and len(parts) > 2:
            break
        parts.append(text)
    n = 0
    while sum(len(p) for p in parts) < 4 * target_tokens:  # ~4 characters per token
        parts.append(f"Rule {n + 1}: {RULES[(n + agent) % len(RULES)]}")
        n += 1
    return "\n".join(parts)


def turn_messages(turn: int, native_tools: bool) -> list[dict[str, Any]]:
    """What turn ``turn`` (from 1) appends: an assistant tool call, its result, a user message.

    With ``native_tools`` the call and result use the API's ``tool_calls`` / ``tool`` role (the
    model's chat template must render them); otherwise they are plain text, which every
    server and template accepts (the default model's template has no tool role)."""
    if turn == 1:
        return [{"role": "user", "content": "List the Python files and read the README."}]
    call_id = f"call_{turn}"
    arguments = json.dumps({"path": f"src/module_{turn}.py"})
    result = f"def handler_{turn}(request):\n    return respond(request, status={200 + turn})\n"
    question = {"role": "user", "content": f"Now explain handler_{turn} in one line."}
    if not native_tools:
        return [{"role": "assistant", "content": f'<tool_call>{{"name": "read_file", "arguments": {arguments}}}'
                                                 "</tool_call>"},
                {"role": "user", "content": f"<tool_response>{result}</tool_response>"}, question]
    return [
        {"role": "assistant", "content": "", "tool_calls": [{
            "id": call_id, "type": "function", "function": {"name": "read_file", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": call_id, "content": result},
        question,
    ]


@dataclass
class Turn:
    """One turn's figures (``cached_tokens`` None: the server reported nothing)."""

    prompt_tokens: int
    cached_tokens: int | None
    ttft_s: float
    error: str = ""

    @property
    def cached_share(self) -> float | None:
        """Cached tokens over prompt tokens (None when either is unknown)."""
        if self.cached_tokens is None or not self.prompt_tokens:
            return None
        return self.cached_tokens / self.prompt_tokens


def metric_total(text: str, name: str) -> float | None:
    """The sum over labels of one Prometheus series in ``text`` (None when absent)."""
    found = re.findall(rf"^{name}(?:\{{[^}}]*\}})? ([0-9.e+]+)$", text, re.M)
    return sum(float(v) for v in found) if found else None


def hit_tokens(client: httpx.Client, base: str) -> float | None:
    """lmstream's prefix-cache hit tokens so far (None for servers without the series)."""
    try:
        response = client.get(f"{base}/metrics", timeout=10)
    except httpx.HTTPError:
        return None
    return metric_total(response.text, HIT_SERIES) if response.status_code == 200 else None


def chat_body(model: str, messages: list[dict[str, Any]], max_tokens: int,
              native_tools: bool) -> dict[str, Any]:
    """A streaming, greedy chat completion request that asks for usage in the last chunk."""
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens,
                            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    if native_tools:
        body["tools"] = TOOLS
    return body


def cached_from_usage(usage: dict[str, Any]) -> int | None:
    """Cached prompt tokens from an OpenAI usage object (chat/completions shape), if reported."""
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens")
    return int(cached) if isinstance(cached, int) else None


def stream_turn(client: httpx.Client, url: str, body: dict[str, Any], timeout: float) -> Turn:
    """POST one streaming request; TTFT is the first chunk with text, reasoning or a tool call."""
    started = time.perf_counter()
    ttft = 0.0
    usage: dict[str, Any] = {}
    try:
        with client.stream("POST", url, json=body, timeout=timeout) as response:
            if response.status_code != 200:
                return Turn(0, None, 0.0, f"HTTP {response.status_code}: {response.read()[:200]!r}")
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if not ttft and (delta.get("content") or delta.get("tool_calls") or choice.get("text")
                                     or delta.get("reasoning_content") or delta.get("reasoning")):
                        ttft = time.perf_counter() - started
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        return Turn(0, None, 0.0, f"{type(exc).__name__}: {exc}")
    return Turn(int(usage.get("prompt_tokens", 0)), cached_from_usage(usage),
                ttft or time.perf_counter() - started)


def chat_turn(client: httpx.Client, base: str, model: str, messages: list[dict[str, Any]],
              max_tokens: int, native_tools: bool, timeout: float) -> Turn:
    """One chat turn; cached tokens from usage, else from lmstream's /metrics delta."""
    before = hit_tokens(client, base)
    turn = stream_turn(client, f"{base}/v1/chat/completions",
                       chat_body(model, messages, max_tokens, native_tools), timeout)
    if turn.cached_tokens is None and before is not None and not turn.error:
        after = hit_tokens(client, base)
        if after is not None:
            turn.cached_tokens = int(after - before)
    return turn


def lmstream_command(backend: str, port: int, model_name: str, args: argparse.Namespace,
                     extra: list[str] | None = None) -> list[str]:
    """``lmstream serve`` on ``backend`` bound to 127.0.0.1:``port``."""
    options = ["-o", f"n_ctx={args.n_ctx}"] if backend == "llama_cpp" else []
    return [sys.executable, "-m", "lmstream.cli", "serve", "--backend", backend, "--host", "127.0.0.1",
            "--port", str(port), "--served-model-name", model_name, "--log-level", "warning",
            *options, *(extra or [])]
