"""Ctrl-C during ``lmstream generate``: a clean cancel, the partial answer kept, exit code 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys


def start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LMSTREAM_OBSERVERS", None)
    return subprocess.Popen([sys.executable, "-m", "lmstream.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)


def long_reply_args(*extra: str) -> list[str]:
    reply = " ".join(f"word{i}" for i in range(400))
    return ["generate", "hi", "--backend", "scripted", "--option", f"reply={json.dumps(reply)}",
            "--option", 'cut="words"', "--option", "token_delay=0.02", *extra]


def read_until(process: subprocess.Popen[str], marker: str) -> str:
    assert process.stdout is not None
    seen = ""
    while marker not in seen:
        char = process.stdout.read(1)
        assert char, f"stdout ended before {marker!r}: {seen!r}"
        seen += char
    return seen


def test_sigint_cancels_cleanly_with_exit_130():
    process = start(*long_reply_args())
    try:
        head = read_until(process, "word3 ")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, err
    answer = head + out
    assert answer.startswith("word0 word1 word2 word3")
    assert "word399" not in answer  # it stopped long before the end
    assert answer.endswith("\n")
    assert "Traceback" not in err


def test_sigint_in_json_mode_ends_with_a_cancelled_info():
    process = start(*long_reply_args("--json"))
    try:
        head = read_until(process, "\n")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, err
    events = [json.loads(line) for line in (head + out).splitlines()]
    assert events[-1]["type"] == "info" and events[-1]["stop_reason"] == "cancelled"
    assert sum(e["type"] == "info" for e in events) == 1
