"""``lmstream chat`` driven through a pseudo-terminal: turns, Ctrl-C mid-answer, commands, Ctrl-D."""

from __future__ import annotations

import json
import os
import sys

import pexpect
import pytest

PROMPT = ">>> "
LONG = " ".join(f"w{i}" for i in range(200))


@pytest.fixture
def chat():
    """Spawn the chat REPL on a scripted model whose successive replies are ``replies``."""
    children: list[pexpect.spawn] = []

    def spawn(replies: list[str], *extra: str, token_delay: float = 0.02) -> pexpect.spawn:
        env = {k: v for k, v in os.environ.items() if k != "LMSTREAM_OBSERVERS"}
        args = ["-m", "lmstream.cli", "chat", "--backend", "scripted", "--option", f"reply={json.dumps(replies)}",
                "--option", 'cut="words"', "--option", f"token_delay={token_delay}", *extra]
        child = pexpect.spawn(sys.executable, args, encoding="utf-8", timeout=30, env=env,
                              dimensions=(40, 200))
        children.append(child)
        child.expect_exact(PROMPT)
        return child

    yield spawn
    for child in children:
        child.close(force=True)


def ask(child: pexpect.spawn, text: str, answer: str) -> None:
    child.sendline(text)
    child.expect_exact(answer)
    child.expect_exact(PROMPT)


def test_two_turns_ctrl_c_mid_answer_then_another_turn(chat):
    child = chat(["first answer", "second answer", LONG, "fourth answer"])
    ask(child, "hello", "first answer")
    ask(child, "and then?", "second answer")
    child.sendline("tell me everything")
    child.expect_exact("w5 ")
    child.sendintr()  # Ctrl-C while the answer streams
    child.expect_exact("[cancelled]")
    child.expect_exact(PROMPT)
    before = child.before
    assert "w199" not in before
    ask(child, "still there?", "fourth answer")  # the session is usable after the cancel
    child.sendline("/stats")
    child.expect_exact("[SESSION]")
    child.expect(r"generations:\s+4 \(cancelled 1, stop 3\)")
    child.expect_exact("[STATS]")
    child.expect_exact(PROMPT)
    child.sendeof()  # Ctrl-D exits 0
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_cancelled_turn_is_rolled_back(chat):
    import lmstream

    child = chat(["one", LONG, "three"], "--stats")
    ask(child, "a", "one")
    child.sendline("b")
    child.expect_exact("w3 ")
    child.sendintr()
    child.expect_exact("[cancelled]")
    child.expect_exact(PROMPT)
    child.sendline("c")
    child.expect_exact("three")
    child.expect(r"prompt:\s+(\d+) tokens \(\d+ prefilled, (\d+) cached[^)]*\)")
    total, cached = int(child.match.group(1)), int(child.match.group(2))
    child.expect_exact(PROMPT)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # the third turn's prompt is the conversation without the cancelled turn
    with lmstream.load(backend="scripted") as context:
        expected = context.prepare(lmstream.UserInput(messages=[
            {"role": "user", "content": "a"}, {"role": "assistant", "content": "one"},
            {"role": "user", "content": "c"}]))
    assert total == len(expected.tokens)
    assert cached > 0  # the first turn's tokens were reused from the session's cache


def test_commands_and_ctrl_c_at_the_prompt(chat):
    child = chat(["alpha", "beta"])
    ask(child, "x", "alpha")
    child.sendline("/clear")
    child.expect_exact("[conversation cleared]")
    child.expect_exact(PROMPT)
    child.sendline("/nope")
    child.expect_exact("unknown command /nope")
    child.expect_exact(PROMPT)
    child.sendline("/help")
    child.expect_exact("/stats")
    child.expect_exact(PROMPT)
    child.sendintr()  # Ctrl-C at the prompt: a fresh prompt, not an exit
    child.expect_exact(PROMPT)
    ask(child, "y", "beta")
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_failed_answer_keeps_the_session(chat):
    child = chat(["a b c d e f"], "--option", "fail_at=2")
    child.sendline("x")
    child.expect_exact("generation failed: ScriptedFailure")
    child.expect_exact(PROMPT)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_chat_reads_piped_input(run_cli):
    """Without a terminal the REPL still works line by line; end of input exits 0."""
    done = run_cli("chat", "--backend", "scripted", "--option", 'reply=["one", "two"]', "--observer", "stats",
                   input="first\nsecond\n/stats\n")
    assert done.returncode == 0, done.stderr
    assert "one\n" in done.stdout and "two\n" in done.stdout
    # --observer stats is the session /stats reads: each generation is counted once
    assert "generations:            2 (stop 2)" in done.stdout


def test_type_ahead_is_not_echoed_into_the_answer(chat):
    child = chat([LONG[:120], "second answer"], token_delay=0.03)
    child.sendline("talk")
    child.expect_exact("w3 ")
    child.send("typed ahead")  # while the answer streams
    child.expect_exact(PROMPT)
    answer = child.before
    assert "typed" not in answer, answer
    child.sendline("")  # the type-ahead is kept: it becomes the next message
    child.expect_exact("second answer")
    child.expect_exact(PROMPT)
