"""A real ``lmstream serve`` subprocess on 127.0.0.1: the official clients, a socket closed
mid-stream, Ctrl-C drains; and (slow) the default model answers "Paris" through all four APIs."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request
from typing import Any

import pytest

from .conftest import anthropic, openai
from .serve_process import serve

SCRIPTED = ("--backend", "scripted", "-o", 'reply="The capital of France is Paris."')


def _metric(base: str, needle: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(needle):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_official_clients_against_a_real_server() -> None:
    with serve(*SCRIPTED, "--served-model-name", "paris", "--api-key", "k1") as (base, _):
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="k1", max_retries=0)
        answer = client.chat.completions.create(model="paris", messages=[{"role": "user", "content": "Capital?"}])
        assert answer.choices[0].message.content == "The capital of France is Paris."
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="paris", messages=[{"role": "user", "content": "Capital?"}], stream=True) if c.choices)
        assert text == "The capital of France is Paris."
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{base}/v1", api_key="bad", max_retries=0).models.list()
        message = anthropic.Anthropic(base_url=base, api_key="k1", max_retries=0).messages.create(
            model="paris", max_tokens=64, messages=[{"role": "user", "content": "Capital?"}])
        assert message.content[0].text == "The capital of France is Paris."


def test_closed_socket_cancels_and_ctrl_c_drains() -> None:
    with serve("--backend", "scripted", "-o", 'reply="tick "', "-o", "repeat=true",
               "-o", "token_delay=0.05") as (base, process):
        port = int(base.rsplit(":", 1)[1])
        body = json.dumps({"model": "scripted", "stream": True,
                           "messages": [{"role": "user", "content": "go"}]}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            received = b""
            while received.count(b"data: ") < 3:
                received += sock.recv(4096)
            assert b"text/event-stream" in received and b"x-accel-buffering: no" in received.lower()
        deadline = time.monotonic() + 5
        cancelled = 0.0
        while time.monotonic() < deadline and not cancelled:
            cancelled = _metric(base, 'lmstream_generations_total{backend="scripted",model="scripted",'
                                      'stop_reason="cancelled"}')
            time.sleep(0.05)
        assert cancelled == 1.0
        assert _metric(base, "lmstream_server_requests_in_flight") == 0.0
        # a stream in flight when Ctrl-C arrives: the server drains (bounded) and exits cleanly
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0)
        stream = client.chat.completions.create(model="scripted", max_tokens=20, stream=True,
                                                messages=[{"role": "user", "content": "go"}])
        first = next(iter(stream))
        process.send_signal(signal.SIGINT)
        rest = [c for c in stream if c.choices]
        assert first.choices and rest[-1].choices[0].finish_reason == "length"
        assert process.wait(timeout=30) == 130  # drained, then the CLI's Ctrl-C exit code


@pytest.mark.slow
def test_default_model_answers_paris_through_every_api() -> None:
    question = "What is the capital of France? Answer in one word."
    with serve(startup_s=300) as (base, _):
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0, timeout=300)
        name = client.models.list().data[0].id
        chat = client.chat.completions.create(model=name, max_tokens=12,
                                              messages=[{"role": "user", "content": question}])
        answers: dict[str, Any] = {"chat": chat.choices[0].message.content}
        answers["completions"] = client.completions.create(
            model=name, max_tokens=4, prompt="Q: What is the capital of France?\nA: The capital of France is"
        ).choices[0].text
        answers["responses"] = client.responses.create(model=name, input=question, max_output_tokens=12).output_text
        answers["messages"] = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0, timeout=300).messages.create(
            model=name, max_tokens=12, messages=[{"role": "user", "content": question}]).content[0].text
        for api, text in answers.items():
            assert "Paris" in text, (api, text)


def test_accepted_sockets_have_tcp_nodelay(served: Any) -> None:
    import threading

    import uvicorn

    from .serve_process import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(served("x"), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            while not server.server_state.connections and time.monotonic() < deadline:
                time.sleep(0.02)
            (connection,) = server.server_state.connections
            accepted = connection.transport.get_extra_info("socket")
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server.should_exit = True
        thread.join(timeout=10)
