"""The CLI says which backend ran and why: the chat banner and each turn's --stats block."""

from __future__ import annotations


def test_chat_banner_and_stats_name_the_backend_and_why(run_cli):
    done = run_cli("chat", "--backend", "scripted", "--option", 'reply="one"', "--stats",
                   input="first\n")
    assert done.returncode == 0, done.stderr
    assert "lmstream chat with scripted on scripted (requested)." in done.stderr
    assert "\nbackend: scripted (requested)\n" in done.stdout


def test_plugins_ends_with_the_default_backend_line(run_cli):
    done = run_cli("plugins")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    default = [line for line in lines if line.startswith("default backend: ")]
    assert len(default) == 1 and "(auto: " in default[0]
