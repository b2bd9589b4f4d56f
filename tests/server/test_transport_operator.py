"""Operator-facing behaviour of ``lmstream serve``: the README snippet, the banner, the access log,
API keys, install hints; and the local-server guard (Host, Content-Type, Origin) in process."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lmstream.hooks import _extras as plugins_report
from lmstream_server import command

from .conftest import http_client
from .serve_process import free_port, serve

ROOT = Path(__file__).resolve().parents[2]
USER = [{"role": "user", "content": "Capital?"}]
CHAT = {"model": "scripted", "messages": USER}


def _serve_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Serve", 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(not os.path.exists("/usr/bin/curl"), reason="needs curl")
def test_the_readme_serve_snippet_works_when_pasted() -> None:
    """The snippet waits for /health before its curl (scripted backend stands in for the model)."""
    port = free_port()
    lines = _serve_block().strip().splitlines()[1:]  # the install line is not run here
    script = "\n".join(lines).replace("8080", str(port)).replace(
        "lmstream serve ",
        f"{sys.executable} -m lmstream.cli serve --backend scripted -o reply='\"Paris.\"' "
        "--served-model-name SmolLM2-135M-Instruct --log-level warning ", 1)
    script = f"set -e\n{script}\nkill %1\nwait %1 || true\n"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["choices"][0]["message"]["content"] == "Paris."


def test_the_banner_shows_the_real_port_with_port_0() -> None:
    command_line = [sys.executable, "-m", "lmstream.cli", "serve", "--backend", "scripted", "--port", "0",
                    "--log-level", "info"]
    process = subprocess.Popen(command_line, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        lines = []
        deadline = time.monotonic() + 120
        assert process.stderr is not None
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            lines.append(line)
            found = re.search(r"lmstream serve: .* on http://127\.0\.0\.1:(\d+) ", line)
            if found:
                port = int(found.group(1))
        assert port, lines
        assert port != 0
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            assert json.loads(response.read())["status"] == "ok"
        # one access-log line per request, by default (info)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if "GET /health 200" in line:
                assert re.search(r"GET /health 200 tokens=- \d+\.\d{3}s", line), line
                break
        else:
            raise AssertionError("no access-log line for GET /health")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_access_log_names_tokens_and_is_silenced_at_warning() -> None:
    with serve("--backend", "scripted", "-o", 'reply="Hello there"') as (base, process):
        import urllib.request

        request = urllib.request.Request(f"{base}/v1/chat/completions", method="POST",
                                         data=json.dumps(CHAT).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    assert process.stdout is not None
    output = process.stdout.read()
    assert "POST /v1/chat/completions" not in output  # serve_process runs --log-level warning


async def test_access_log_line_of_a_stream_and_a_completion(served: Any, caplog: Any) -> None:
    app = served("Hello there")
    with caplog.at_level("INFO", logger="lmstream.server.access"):
        async with http_client(app) as http:
            assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200
            stream = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
            assert (await http.post("/v1/chat/completions", json=stream)).status_code == 200
            assert (await http.post("/v1/chat/completions", json={"model": "x", "messages": []})
                    ).status_code == 400
    lines = [r.getMessage() for r in caplog.records if r.name == "lmstream.server.access"]
    assert len(lines) == 3, lines
    assert re.search(r"POST /v1/chat/completions 200 tokens=\d+ \d+\.\d{3}s", lines[0])
    assert re.search(r"POST /v1/chat/completions 200 tokens=\d+ ", lines[1])
    assert "POST /v1/chat/completions 400 tokens=- " in lines[2]


@pytest.mark.parametrize("flag, env", [("", None), (None, ""), ("", "secret")])
def test_an_empty_api_key_means_no_key_either_way(flag: str | None, env: str | None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    command.configure(parser)
    args = parser.parse_args([] if flag is None else ["--api-key", flag])
    if env is None:
        monkeypatch.delenv(command.API_KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(command.API_KEY_ENV, env)
    assert command.api_key_of(args) is None


async def test_an_empty_api_key_in_create_app_is_no_auth(served: Any) -> None:
    async with http_client(served(app_options={"api_key": ""})) as http:
        assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200


def test_missing_extras_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugins_report, "_absent", lambda module: module == "llama_cpp")
    sentence = plugins_report.missing_dependencies("llama_cpp")
    assert sentence is not None and 'pip install "lmstream[llama-cpp]"' in sentence and "llama_cpp" in sentence
    assert plugins_report.missing_dependencies("mlx") is None
    assert any(line.startswith("  llama_cpp:") for line in plugins_report.missing_dependency_report())
    with pytest.raises(ValueError, match=re.escape('pip install "lmstream[llama-cpp]"')):
        command.check_backend("llama_cpp")
    from lmstream.cli import main

    assert main(["generate", "--backend", "llama_cpp", "hi"]) == 2


def test_lmstream_plugins_lists_missing_extras(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(plugins_report, "_absent", lambda module: module in ("llguidance", "llama_cpp"))
    from lmstream.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "missing optional dependencies" in out
    assert 'pip install "lmstream[structured]"' in out and 'pip install "lmstream[llama-cpp]"' in out


def test_allowed_hosts_of_the_serve_flags() -> None:
    assert command.allowed_hosts("127.0.0.1", [], False) == []
    assert command.allowed_hosts("::1", ["box.lan"], False) == ["box.lan"]
    assert command.allowed_hosts("127.0.0.1", [], True) is None
    assert command.allowed_hosts("0.0.0.0", [], False) is None
    assert command.allowed_hosts("0.0.0.0", ["api.example"], False) == ["api.example"]


# -- the local-server guard, in process -------------------------------------------------------------

async def _post(app: Any, headers: dict[str, str], path: str = "/v1/chat/completions",
                body: bytes | None = None) -> Any:
    async with http_client(app) as http:
        data = json.dumps(CHAT).encode() if body is None else body
        return await http.post(path, content=data, headers=headers)


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:1", "127.1.2.3:80",
                                  "[::1]", "[::1]:8080", "LOCALHOST", "box.lan", "box.lan:9"])
async def test_loopback_and_allowed_hosts_are_served(served: Any, host: str) -> None:
    app = served(app_options={"allowed_hosts": ["box.lan"]})
    response = await _post(app, {"host": host, "content-type": "application/json"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8080", "127.0.0.1.attacker.example",
                                  "localhost.attacker.example", "[::2]", "10.0.0.1"])
async def test_a_rebound_host_is_refused(served: Any, host: str) -> None:
    app = served(app_options={"allowed_hosts": []})
    response = await _post(app, {"host": host, "content-type": "application/json"})
    assert response.status_code == 403
    assert response.json()["error"]["param"] == "Host"
    anthropic = await _post(app, {"host": host, "content-type": "application/json"}, path="/v1/messages")
    assert anthropic.status_code == 403 and anthropic.json()["error"]["type"] == "permission_error"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "", "application/json; charset=latin-1", "application/jsonx"])
async def test_a_post_that_is_not_json_is_415(served: Any, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await _post(served(), headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["param"] == "Content-Type"


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;charset=UTF-8"])
async def test_json_content_types_are_served(served: Any, content_type: str) -> None:
    assert (await _post(served(), {"content-type": content_type})).status_code == 200


async def test_a_browser_origin_needs_cors(served: Any) -> None:
    headers = {"content-type": "application/json", "origin": "https://evil.example"}
    assert (await _post(served(), headers)).status_code == 403
    allowed = served(app_options={"cors_origins": ["https://app.example"]})
    assert (await _post(allowed, headers)).status_code == 403
    ok = await _post(allowed, {**headers, "origin": "https://app.example"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example"
    off = served(app_options={"check_origin": False})
    assert (await _post(off, headers)).status_code == 200


async def test_no_host_check_serves_any_host(served: Any) -> None:
    app = served(app_options={"allowed_hosts": None, "check_origin": False})
    response = await _post(app, {"host": "api.example", "content-type": "application/json",
                                 "origin": "https://elsewhere.example"})
    assert response.status_code == 200
