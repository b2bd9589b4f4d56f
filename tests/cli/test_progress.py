"""Progress on stderr: a loading spinner and a prefill bar, shown only on a terminal."""

from __future__ import annotations

import io
import json
import os
import sys
import time

import pexpect

from lmstream_commands.console import Console
from lmstream_commands.progress import CLEAR_LINE, PrefillProgress, Spinner


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_prefill_bar_appears_after_the_delay_and_clears():
    now = [0.0]
    err = FakeTerminal()
    progress = PrefillProgress(Console(io.StringIO(), err), delay=1.0, width=10, clock=lambda: now[0])
    progress(100, 400)
    assert err.getvalue() == ""  # under a second: nothing
    now[0] = 1.5
    progress(200, 400)
    assert err.getvalue().endswith("prefill [#####-----] 200/400 tokens")
    progress(400, 400)
    assert err.getvalue().endswith(CLEAR_LINE)
    assert not progress.drawn


def test_prefill_bar_is_off_when_stderr_is_not_a_terminal():
    err = io.StringIO()
    progress = PrefillProgress(Console(io.StringIO(), err), delay=0.0)
    progress(1, 10)
    progress.finish()
    assert err.getvalue() == ""


def test_spinner_draws_and_clears_on_a_terminal():
    err = FakeTerminal()
    with Spinner(Console(io.StringIO(), err), "loading model", delay=0.0, interval=0.01):
        time.sleep(0.1)
    text = err.getvalue()
    assert "loading model" in text and " s" in text
    assert text.endswith(CLEAR_LINE)


def test_spinner_is_silent_off_a_terminal_or_when_quick():
    err = io.StringIO()
    with Spinner(Console(io.StringIO(), err), "loading", delay=0.0, interval=0.01):
        time.sleep(0.05)
    assert err.getvalue() == ""
    terminal = FakeTerminal()
    with Spinner(Console(io.StringIO(), terminal), "loading", delay=5.0):
        pass
    assert terminal.getvalue() == ""


def test_slow_prefill_shows_a_bar_in_a_terminal():
    env = {k: v for k, v in os.environ.items() if k != "LMSTREAM_OBSERVERS"}
    args = ["-m", "lmstream.cli", "generate", "a prompt of some forty bytes or so, raw", "--raw",
            "--backend", "scripted", "--option", f"reply={json.dumps('done')}",
            "--option", "prefill_delay=0.04", "--prefill-step-size", "4"]
    child = pexpect.spawn(sys.executable, args, encoding="utf-8", timeout=30, env=env)
    child.expect(r"prefill \[#*-*\] \d+/\d+ tokens")
    child.expect_exact("done")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_no_progress_when_stderr_is_a_pipe(run_cli):
    done = run_cli("generate", "a prompt of some forty bytes or so, raw", "--raw", "--backend", "scripted",
                   "--option", 'reply="done"', "--option", "prefill_delay=0.04", "--prefill-step-size", "4")
    assert done.returncode == 0
    assert done.stdout == "done\n"
    assert "prefill" not in done.stderr and "\r" not in done.stderr
