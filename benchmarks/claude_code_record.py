"""Run the real Claude Code CLI against `lmstream serve`'s app and record what it sends.

    npm install -g @anthropic-ai/claude-code
    python benchmarks/claude_code_record.py --out /tmp/cc-record [--claude PATH] [--prompt TEXT]

The app serves the scripted backend (400k-token context, the JSON tool-call parser) on
127.0.0.1 behind a recording ASGI wrapper that saves each request (method, path, query,
headers without credentials, JSON body) and the status it got. The scripted model answers
a prompt that holds the marker tool output with a final sentence, the first turn of the task
with a ``Bash`` call that prints the marker, and anything else with "OK", so one run goes
through a whole tool loop: request -> tool_use -> tool_result -> answer. Every outbound
feature of the CLI is turned off by environment variables; nothing leaves the loopback.
The CLI's own model names are served (the wrapper maps them to the scripted model), so the
recordings keep what the CLI really sends. Prints one line per request and the CLI's answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MARKER = "lmstream-marker-42"
TASK = f"Run the shell command `echo {MARKER}` with the Bash tool and tell me what it printed."
KEPT_HEADERS = {"anthropic-beta", "anthropic-version", "content-type", "user-agent", "x-app",
                "anthropic-dangerous-direct-browser-access", "x-stainless-lang", "x-stainless-retry-count"}


def reply(prompt: str) -> str:
    """The scripted model's answer for a prompt (see the module docstring)."""
    if f"tool\n{MARKER}" in prompt:  # the tool result is in the prompt (a ChatML ``tool`` turn)
        return f"The command printed {MARKER}."
    if f"echo {MARKER}" in prompt:
        call = {"name": "Bash", "arguments": {"command": f"echo {MARKER}", "description": "Print the marker"}}
        return f"<tool_call>\n{json.dumps(call)}\n</tool_call>"
    return "OK"


class Recorder:
    """ASGI wrapper: saves each POST body and headers, serves it under the scripted model's name."""

    def __init__(self, app: Any, out: Path, served_name: str) -> None:
        self.app, self.out, self.served_name = app, out, served_name
        self.count = 0
        self.lines: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        body = json.loads(raw)
        self.count += 1
        number = self.count
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.decode() in KEPT_HEADERS}
        record = {"method": "POST", "path": scope["path"], "query": scope["query_string"].decode(),
                  "headers": headers, "body": body}
        forwarded = json.dumps({**body, "model": self.served_name}).encode()
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": forwarded, "more_body": False}
            return await receive()

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
                self.lines.append(f"#{number} {scope['path']}?{record['query']} model={body.get('model')} "
                                  f"{len(raw)} bytes -> {message['status']}")
                (self.out / f"request_{number:02d}.json").write_text(json.dumps(record, indent=1,
                                                                                ensure_ascii=False))
            await send(message)

        await self.app(scope, replay, watch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--claude", default=shutil.which("claude") or "claude")
    parser.add_argument("--prompt", default=TASK)
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--model", help="the CLI's --model (default: its own default model)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import uvicorn

    import lmstream
    from lmstream_server import create_app

    context = lmstream.load(backend="scripted", reply=reply, context_length=400_000, tool_parser="json")
    recorder = Recorder(create_app(context, max_body_bytes=16 * 1024 * 1024), args.out, context.info.name)
    server = uvicorn.Server(uvicorn.Config(recorder, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    env = {**os.environ, "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}", "ANTHROPIC_API_KEY": "x",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
           "DISABLE_ERROR_REPORTING": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_BUG_COMMAND": "1"}
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as work:
        env["HOME"] = home
        try:
            command = [args.claude, "-p", args.prompt, "--allowedTools", "Bash"]
            command += ["--model", args.model] if args.model else []
            done = subprocess.run(command, cwd=work, env=env,
                                  capture_output=True, text=True, timeout=args.timeout)
            answer, code = done.stdout.strip() + done.stderr.strip(), done.returncode
        except subprocess.TimeoutExpired:
            answer, code = "(timed out)", -1
    server.should_exit = True
    thread.join(10)
    context.close()
    print("\n".join(recorder.lines))
    print(f"claude exit {code}: {answer[:2000]}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
