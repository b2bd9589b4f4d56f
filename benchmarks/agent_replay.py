"""An agent conversation replayed over HTTP: what the prefix cache buys turn after turn.

A ~2,000-token system prompt with tool definitions, then ``--turns`` turns; each turn appends
an assistant tool call, the tool's result and a new user message (a recorded conversation:
the model's own answers are not fed back), and streams one chat completion. The tool calls
and results are plain text by default (``--native-tools`` sends them as API tool calls). Per turn it
prints the prompt tokens, the tokens served from a cache and the time to first token (TTFT,
client side), then the total wall time.

Servers, each a subprocess on 127.0.0.1 (free port), the embedded default model:

- ``lmstream serve`` on each backend of ``--backends`` (``llama_cpp``, ``mlx``): cached tokens
  from the usage field when the server reports it, else from the prefix cache's /metrics
  (``lmstream_server_prefix_cache_hit_tokens_total``, the delta per turn);
- with ``--peers``, on the same weights: ``mlx_lm.server`` (its LRU prompt cache) and
  ``python -m llama_cpp.server`` (``--cache true --cache_type ram``), cached tokens from their
  usage fields where they report them. A peer that is not installed is skipped with the reason.

    python benchmarks/agent_replay.py [--backends llama_cpp,mlx] [--turns 8] [--peers]
        [--system-tokens 2000] [--max-tokens 16]

Goals (issue 21): from turn 2 on, >= 95% of each prompt served from the cache; turn-N TTFT
<= every peer's on the same weights. Every wait is bounded; nothing leaves the loopback.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from server_load import free_port, start, stop

TOOLS = [
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


def system_prompt(target_tokens: int) -> str:
    """Instructions plus the tool definitions in text, about ``target_tokens`` tokens long."""
    tools = "\n".join(json.dumps(t["function"]) for t in TOOLS)
    parts = ["You are a coding agent working in a git repository.", f"Tools:\n{tools}"]
    n = 0
    while sum(len(p) for p in parts) < 4 * target_tokens:  # ~4 characters per token
        parts.append(f"Rule {n + 1}: {RULES[n % len(RULES)]}")
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
    """One turn's figures."""

    prompt_tokens: int
    cached_tokens: int | None
    ttft_s: float
    error: str = ""


def hit_tokens(client: httpx.Client, base: str) -> float | None:
    """lmstream's prefix-cache hit tokens so far (None for servers without the series)."""
    try:
        text = client.get(f"{base}/metrics").text
    except httpx.HTTPError:
        return None
    found = re.findall(r"^lmstream_server_prefix_cache_hit_tokens_total\{[^}]*\} ([0-9.e+]+)$", text, re.M)
    return sum(float(v) for v in found) if found else None


def one_turn(client: httpx.Client, base: str, model: str, messages: list[dict[str, Any]],
             args: argparse.Namespace) -> Turn:
    """Stream one chat completion; TTFT is the first chunk with content, reasoning or a tool call."""
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": args.max_tokens,
                            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    if args.native_tools:
        body["tools"] = TOOLS
    timeout = args.timeout
    before = hit_tokens(client, base)
    started = time.perf_counter()
    ttft = 0.0
    usage: dict[str, Any] = {}
    with client.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=timeout) as response:
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
                if not ttft and (delta.get("content") or delta.get("tool_calls")
                                 or delta.get("reasoning_content")):
                    ttft = time.perf_counter() - started
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens")
    after = hit_tokens(client, base)
    if cached is None and before is not None and after is not None:
        cached = int(after - before)
    return Turn(int(usage.get("prompt_tokens", 0)), cached, ttft or time.perf_counter() - started)


def replay(name: str, base: str, model: str, args: argparse.Namespace) -> list[Turn]:
    """The whole conversation against one server; prints one line per turn."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(args.system_tokens)}]
    turns: list[Turn] = []
    started = time.perf_counter()
    with httpx.Client() as client:
        for n in range(1, args.turns + 1):
            messages += turn_messages(n, args.native_tools)
            turn = one_turn(client, base, model, messages, args)
            turns.append(turn)
            share = (f"{100 * turn.cached_tokens / turn.prompt_tokens:5.1f}%"
                     if turn.cached_tokens is not None and turn.prompt_tokens else "  n/a")
            print(f"{name:<22} turn {n}: prompt {turn.prompt_tokens:5d}  cached "
                  f"{turn.cached_tokens if turn.cached_tokens is not None else 'n/a':>5}  ({share})  "
                  f"TTFT {turn.ttft_s:7.2f} s {turn.error}", flush=True)
    print(f"{name:<22} total wall time {time.perf_counter() - started:.1f} s", flush=True)
    return turns


def servers(args: argparse.Namespace, tmp: Path) -> list[tuple[str, list[str], str, int]]:
    """(label, command, model name, port) of every server to replay against."""
    from lmstream.backend import DEFAULT_NAME, default_model_path

    found = []
    for backend in args.backends:
        port = free_port()
        found.append((f"lmstream/{backend}", [
            sys.executable, "-m", "lmstream.cli", "serve", "--backend", backend, "--host", "127.0.0.1",
            "--port", str(port), "--served-model-name", DEFAULT_NAME, "--log-level", "warning",
            *(["-o", f"n_ctx={args.n_ctx}"] if backend == "llama_cpp" else [])], DEFAULT_NAME, port))
    if not args.peers:
        return found
    if importlib.util.find_spec("mlx_lm") is not None:
        from lmstream_mlx.convert import gguf_to_mlx_lm

        converted = str(gguf_to_mlx_lm(default_model_path(), tmp / "mlx-model"))
        port = free_port()
        found.append(("mlx_lm.server", [sys.executable, "-m", "mlx_lm.server", "--model", converted,
                                        "--host", "127.0.0.1", "--port", str(port), "--log-level",
                                        "WARNING"], converted, port))
    else:
        print("mlx_lm.server: skipped (mlx-lm is not installed)")
    missing = [m for m in ("llama_cpp", "fastapi", "sse_starlette", "pydantic_settings", "starlette_context")
               if importlib.util.find_spec(m) is None]
    if missing:
        print(f"llama_cpp.server: skipped (missing {', '.join(missing)}: pip install 'llama-cpp-python[server]')")
    else:
        port = free_port()
        found.append(("llama_cpp.server", [
            sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()), "--host",
            "127.0.0.1", "--port", str(port), "--n_ctx", str(args.n_ctx), "--cache", "true",
            "--cache_type", "ram"], DEFAULT_NAME, port))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", type=lambda s: [b for b in s.split(",") if b], default=["llama_cpp"])
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--system-tokens", type=int, default=2000)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--peers", action="store_true", help="also mlx_lm.server and llama_cpp.server")
    parser.add_argument("--native-tools", action="store_true",
                        help="send tools and tool_calls/tool messages through the API (the model's "
                             "template and tool parser must handle them) instead of plain text")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per request at most")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, command, model, port in servers(args, Path(tmp)):
            try:
                process = start(command, port, args.startup_timeout)
            except (RuntimeError, TimeoutError) as exc:
                print(f"{label}: did not start ({exc})")
                continue
            try:
                replay(label, f"http://127.0.0.1:{port}", model, args)
            finally:
                stop(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
