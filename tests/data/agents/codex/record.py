"""Record what the Codex CLI sends to /v1/responses: a real `codex exec` tool loop against
`lmstream serve` (scripted backend), through a loopback proxy that saves every request.

    python tests/data/agents/codex/record.py OUT_DIR [--model gpt-5.5] [--scenario patch] [--codex codex]

Needs the Codex CLI (`npm install -g @openai/codex`) and lmstream with the server extra. The
scripted model answers as SCENARIOS says: with `--scenario patch` (default) an `apply_patch`
call (a custom tool with a Lark grammar), an `exec_command` call and a final text; with
`--scenario exec --model gpt-6.2-sol` a call of the namespaced custom tool `exec`. Codex runs in a temporary git directory with a
temporary CODEX_HOME whose config points it at 127.0.0.1 only (no update check, analytics,
feedback or plugins, so it reaches nothing else). Each request body is saved as
OUT_DIR/request_NN.json with the status and body of its answer in OUT_DIR/answer_NN.txt.
"""

from __future__ import annotations

import argparse
import http.server
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello from lmstream\n*** End Patch\n"
SCENARIOS = {
    # models with top-level tools (gpt-5.5): apply_patch is a custom tool with a Lark grammar
    "patch": [
        '<tool_call>\n' + json.dumps({"name": "apply_patch", "arguments": {"input": PATCH}}) + '\n</tool_call>',
        '<tool_call>\n' + json.dumps({"name": "exec_command", "arguments": {"cmd": "cat hello.txt"}})
        + '\n</tool_call>',
        "Created hello.txt and checked it.",
    ],
    # models with tools in an additional_tools item (gpt-6.2-sol): `exec` is a custom tool in the
    # `functions` namespace, shown to the model as `functions.exec`
    "exec": [
        '<tool_call>\n' + json.dumps({"name": "functions.exec", "arguments": {"input": 'text("hello from exec")'}})
        + '\n</tool_call>',
        "The script said hello.",
    ],
}
CONFIG = """model = "{model}"
model_reasoning_effort = "high"
model_provider = "lmstream"
check_for_update_on_startup = false

[model_providers.lmstream]
name = "lmstream"
base_url = "http://127.0.0.1:{port}/v1"
wire_api = "responses"

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proxy(port: int, upstream: str, out: Path) -> http.server.ThreadingHTTPServer:
    """A loopback proxy saving each POST body and its answer (answers are buffered)."""
    counter = itertools.count()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0))) if method == "POST" else None
            index = next(counter)
            if body is not None:
                (out / f"request_{index:02d}.json").write_bytes(body)
            request = urllib.request.Request(upstream + self.path, data=body, method=method,
                                             headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=600) as answer:
                    status, data, ctype = answer.status, answer.read(), answer.headers.get("content-type")
            except urllib.error.HTTPError as error:
                status, data, ctype = error.code, error.read(), error.headers.get("content-type")
            if body is not None:
                (out / f"answer_{index:02d}.txt").write_bytes(f"{status} {self.path}\n".encode() + data)
            self.send_response(status)
            self.send_header("content-type", ctype or "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self._forward("POST")

        def do_GET(self) -> None:
            self._forward("GET")

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", default="gpt-5.5", help="the model name Codex is configured with")
    parser.add_argument("--codex", default="codex")
    parser.add_argument("--prompt", default="Create hello.txt saying hello, then show it.")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="patch")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    serve_port, proxy_port = free_port(), free_port()
    serve = subprocess.Popen([sys.executable, "-m", "lmstream", "serve", "--backend", "scripted",
                              "-o", "context_length=400000", "-o", "tool_parser=\"json\"",
                              "-o", "reply=" + json.dumps(SCENARIOS[args.scenario]), "--served-model-name", args.model,
                              "--port", str(serve_port), "--log-level", "warning"])
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{serve_port}/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        recorder = proxy(proxy_port, f"http://127.0.0.1:{serve_port}", args.out)
        with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as work:
            Path(home, "config.toml").write_text(CONFIG.format(model=args.model, port=proxy_port))
            subprocess.run(["git", "init", "-q", work], check=True)
            env = {**os.environ, "CODEX_HOME": home}
            done = subprocess.run([args.codex, "exec", "--skip-git-repo-check", "--sandbox", "workspace-write",
                                   args.prompt], cwd=work, env=env, capture_output=True, text=True, timeout=300)
            (args.out / "codex_output.txt").write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
            made = Path(work, "hello.txt")
            print(f"codex exit {done.returncode}; hello.txt: {made.read_text()!r}" if made.exists()
                  else f"codex exit {done.returncode}; hello.txt was not created")
        recorder.shutdown()
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
