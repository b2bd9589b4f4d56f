"""Real Claude Code requests (recorded, see tests/data/agents/claude_code/README.md) replayed.

Each recording is what Claude Code 2.1.197 sent to `lmstream serve`: ``?beta=true``, eight
``anthropic-beta`` values, adaptive or budgeted thinking, ``context_management``,
``output_config.effort``, a ``role: "system"`` message mid-conversation, three system blocks
(the first its billing line), 24 tools. Every one must be answered 200, streamed to
``message_stop``, with no server flags: only the scripted model's context is widened (the
prompts are 77-116 KB) and it is served under the name the CLI asked for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lmstream

from .conftest import http_client, sse_events

pytest.importorskip("starlette")

from lmstream_server import create_app

FIXTURES = Path(__file__).parent.parent / "data" / "agents" / "claude_code"
RECORDINGS = sorted(FIXTURES.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def test_there_are_recordings() -> None:
    assert len(RECORDINGS) >= 2


"""The core's refusal before its generic tool-calling fallback (issue 24, owned elsewhere) lands."""


@pytest.mark.parametrize("options", [{}, {"tool_parser": "json"}], ids=["no-flags", "json-parser"])
@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
async def test_recorded_request_is_served(path: Path, options: dict[str, Any]) -> None:
    record = _load(path)
    body = record["body"]
    seen: list[str] = []

    def reply(prompt: str) -> str:
        seen.append(prompt)
        return "Done."

    context = lmstream.load(backend="scripted", reply=reply, context_length=400_000, name=body["model"], **options)
    try:
        async with http_client(create_app(context, max_body_bytes=16 * 1024 * 1024), **record["headers"]) as http:
            response = await http.post(f"{record['path']}?{record['query']}", json=body)
            assert response.status_code == 200, response.text
            events = sse_events(response.content)
            names = [name for name, _ in events]
            assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"], names
            assert "error" not in names
            text = "".join(json.loads(data)["delta"].get("text", "") for name, data in events
                           if name == "content_block_delta")
            assert text == "Done."
            counted = await http.post(f"/v1/messages/count_tokens?{record['query']}", json={
                k: v for k, v in body.items() if k in ("model", "messages", "system", "tools", "thinking",
                                                        "context_management", "output_config")})
            assert counted.status_code == 200, counted.text
            assert counted.json()["input_tokens"] > 10_000
    finally:
        context.close()
    prompt = seen[0]
    assert "x-anthropic-billing-header" not in prompt  # removed before templating
    assert prompt.startswith("<|im_start|>system\nYou are a Claude agent")
    system_turns = [m for m in body["messages"] if m["role"] == "system"]
    for message in system_turns:  # a mid-conversation system message is a system turn (ChatML allows it)
        text = message["content"] if isinstance(message["content"], str) else message["content"][0]["text"]
        assert f"<|im_start|>system\n{text}" in prompt


@pytest.mark.slow
def test_real_claude_code_tool_loop(tmp_path: Path) -> None:
    """The real CLI (when installed) runs a Bash tool loop against the app: benchmarks/claude_code_record.py."""
    claude = shutil.which("claude")
    if claude is None:
        pytest.skip("the Claude Code CLI is not installed (npm install -g @anthropic-ai/claude-code)")
    script = Path(__file__).parent.parent.parent / "benchmarks" / "claude_code_record.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--claude", claude],
                          capture_output=True, text=True, timeout=400, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The command printed lmstream-marker-42." in done.stdout
    statuses = [json.loads(p.read_text())["status"] for p in sorted(tmp_path.glob("request_*.json"))]
    assert len(statuses) >= 2 and set(statuses) == {200}
