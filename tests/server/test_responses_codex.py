"""Codex against /v1/responses: recorded requests replayed, custom tools with Codex's grammars.

The fixtures in tests/data/agents/codex/ are requests the Codex CLI 0.171.0 sent during real
`codex exec` tool loops against `lmstream serve` (see record.py there).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lmstream_server.responses_custom import grammar_accepts
from lmstream_server.responses_tools import Grammar

from .conftest import http_client, sse_events

FIXTURES = Path(__file__).parents[1] / "data" / "agents" / "codex"
RECORDED = sorted(FIXTURES.glob("*.json"))

APPLY_PATCH = json.loads((FIXTURES / "gpt-5.5_turn1_tools.json").read_text())["tools"]
APPLY_PATCH_TOOL = next(tool for tool in APPLY_PATCH if tool["type"] == "custom")
PATCH_GRAMMAR = Grammar("lark", APPLY_PATCH_TOOL["format"]["definition"])
PATCH = "*** Begin Patch\n*** Update File: src/app.py\n@@ def main():\n-    print('old')\n+    print('new')\n*** End Patch\n"


def _stream_ok(raw: bytes) -> list[dict[str, Any]]:
    events = sse_events(raw)
    payloads = [json.loads(data) for _, data in events]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert payloads[0]["type"] == "response.created" and payloads[-1]["type"] == "response.completed"
    return payloads


def test_codex_fixtures_are_recorded_requests() -> None:
    assert len(RECORDED) >= 4
    kinds = set()
    for path in RECORDED:
        body = json.loads(path.read_text())
        kinds |= {item.get("type") for item in body["input"]}
        kinds |= {tool.get("type") for tool in body.get("tools", [])}
        assert body["include"] == ["reasoning.encrypted_content"] and body["stream"] is True
    assert {"custom_tool_call", "custom_tool_call_output", "function_call", "function_call_output",
            "additional_tools", "custom", "web_search", "tool_search"} <= kinds


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_codex_request_is_served(served: Any, path: Path) -> None:
    body = json.loads(path.read_text())
    app = served("Done.", context_length=400_000, tool_parser="json", name=body["model"])
    async with http_client(app) as http:
        response = await http.post("/v1/responses", json=body)
    assert response.status_code == 200, response.text
    payloads = _stream_ok(response.content)
    final = payloads[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Done."
    declared = {tool["type"] for tool in body.get("tools", [])}
    ignored = response.headers.get("x-lmstream-ignored-tools")
    assert (ignored is not None) == bool(declared & {"web_search", "tool_search"})


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_codex_request_with_no_server_options(served: Any, path: Path) -> None:
    """As recorded (its own model name, its own tools) against a server with no options."""
    body = json.loads(path.read_text())
    app = served("Done.", context_length=400_000)
    async with http_client(app) as http:
        response = await http.post("/v1/responses", json=body)
    assert response.status_code == 200, response.text
    _stream_ok(response.content)


def test_apply_patch_grammar_accepts_patches_and_refuses_others() -> None:
    assert grammar_accepts(PATCH_GRAMMAR, PATCH) is True
    assert grammar_accepts(PATCH_GRAMMAR, "*** Begin Patch\n*** Add File: a.txt\n+\n*** End Patch") is True
    for bad in ("", "*** Begin Patch\n*** End Patch\n", "diff --git a/x b/x\n", PATCH.replace("+    ", "~")):
        assert grammar_accepts(PATCH_GRAMMAR, bad) is False, bad
    assert grammar_accepts(Grammar("regex", r"[0-9]+"), "123") is True
    assert grammar_accepts(Grammar("regex", r"[0-9]+"), "12a") is False


def _patch_call(patch: str) -> str:
    return '<tool_call>\n' + json.dumps({"name": "apply_patch", "arguments": {"input": patch}}) + '\n</tool_call>'


async def test_apply_patch_call_round_trips_as_custom_tool_call(served: Any) -> None:
    app = served(_patch_call(PATCH), tool_parser="json")
    body = {"model": "scripted", "input": "Fix main", "tools": [APPLY_PATCH_TOOL]}
    async with http_client(app) as http:
        answer = (await http.post("/v1/responses", json=body)).json()
        raw = (await http.post("/v1/responses", json={**body, "stream": True})).content
    [item] = answer["output"]
    assert item["type"] == "custom_tool_call" and item["name"] == "apply_patch" and item["input"] == PATCH
    assert grammar_accepts(PATCH_GRAMMAR, item["input"])
    payloads = _stream_ok(raw)
    deltas = "".join(p["delta"] for p in payloads if p["type"] == "response.custom_tool_call_input.delta")
    assert deltas == PATCH
    assert [p["input"] for p in payloads if p["type"] == "response.custom_tool_call_input.done"] == [PATCH]
    assert not [p for p in payloads if p["type"].startswith("response.function_call")]


async def test_call_whose_input_breaks_the_grammar_is_regenerated_under_it(served: Any) -> None:
    """The model writes a unified diff instead of Codex's patch format: the input is generated
    again under the Lark grammar, so what comes back parses (a stream of deltas and one done)."""
    bad = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    app = served([_patch_call(bad), "*** Begin Patch\n*** Add File: x\n+b\n*** End Patch\n"], tool_parser="json")
    body = {"model": "scripted", "input": "Fix x", "tools": [APPLY_PATCH_TOOL], "stream": True}
    async with http_client(app) as http:
        raw = (await http.post("/v1/responses", json=body)).content
    payloads = _stream_ok(raw)
    [item] = payloads[-1]["response"]["output"]
    assert item["type"] == "custom_tool_call" and item["input"] != bad
    assert grammar_accepts(PATCH_GRAMMAR, item["input"]), item["input"]
    deltas = "".join(p["delta"] for p in payloads if p["type"] == "response.custom_tool_call_input.delta")
    assert deltas == item["input"]


async def test_forced_custom_tool_constrains_the_whole_output(served: Any) -> None:
    """The model chats before its patch; under the grammar only the patch comes out."""
    patch = "*** Begin Patch\n*** Add File: notes.txt\n+remember\n*** End Patch\n"
    app = served("Sure! Here is the patch you asked for:\n" + patch)
    body = {"model": "scripted", "input": "Add a file", "tools": [APPLY_PATCH_TOOL],
            "tool_choice": {"type": "custom", "name": "apply_patch"}, "max_output_tokens": 400}
    async with http_client(app) as http:
        answer = (await http.post("/v1/responses", json=body)).json()
    [item] = answer["output"]
    assert item["type"] == "custom_tool_call" and item["name"] == "apply_patch" and item["call_id"]
    assert item["input"] == patch and answer["status"] == "completed"


async def test_forced_custom_tool_with_a_regex_streams_its_input(served: Any) -> None:
    tool = {"type": "custom", "name": "pick", "format": {"type": "grammar", "syntax": "regex",
                                                         "definition": "(red|green|blue)"}}
    app = served("green")
    body = {"model": "scripted", "input": "Pick", "tools": [tool], "tool_choice": "required", "stream": True}
    async with http_client(app) as http:
        raw = (await http.post("/v1/responses", json=body)).content
    payloads = _stream_ok(raw)
    assert "".join(p["delta"] for p in payloads if p["type"] == "response.custom_tool_call_input.delta") == "green"
    assert payloads[-1]["response"]["output"][0]["input"] == "green"


async def test_namespaced_tools_are_flattened_and_come_back_with_their_namespace(served: Any) -> None:
    body = json.loads((FIXTURES / "gpt-6.2-sol_turn1_additional_tools.json").read_text())
    call = {"name": "collaboration.list_agents", "arguments": {}}
    app = served('<tool_call>\n' + json.dumps(call) + '\n</tool_call>', context_length=400_000,
                 tool_parser="json", name=body["model"])
    async with http_client(app) as http:
        answer = (await http.post("/v1/responses", json={**body, "stream": False})).json()
    [item] = answer["output"]
    assert (item["type"], item["name"], item["namespace"]) == ("function_call", "list_agents", "collaboration")


async def test_prompt_cache_key_reaches_the_prepared_input(served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from lmstream_server import responses

    seen: list[dict[str, Any]] = []
    original = responses.open_stream

    async def spy(state: Any, served_model: Any, lm_input: Any, params: Any, **options: Any) -> Any:
        seen.append(dict(lm_input.metadata))
        return await original(state, served_model, lm_input, params, **options)

    monkeypatch.setattr(responses, "open_stream", spy)
    async with http_client(served("ok")) as http:
        response = await http.post("/v1/responses", json={"model": "scripted", "input": "x",
                                                          "prompt_cache_key": "thread-42"})
    assert response.status_code == 200 and seen[-1]["prompt_cache_key"] == "thread-42"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("codex") is None, reason="the Codex CLI is not installed (npm install -g @openai/codex)")
def test_real_codex_exec_tool_loop(tmp_path: Path) -> None:
    """`codex exec` edits a file with apply_patch and reads it back, against `lmstream serve`."""
    done = subprocess.run([sys.executable, str(FIXTURES / "record.py"), str(tmp_path)], capture_output=True,
                          text=True, timeout=600)
    assert "codex exit 0; hello.txt: 'hello from lmstream\\n'" in done.stdout, done.stdout + done.stderr
    answers = sorted(tmp_path.glob("answer_*.txt"))
    assert len(answers) == 3 and all(path.read_text().startswith("200 ") for path in answers)
