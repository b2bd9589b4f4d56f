"""``lmstream chat``: an interactive REPL on ChatSession.

``/clear`` forgets the conversation, ``/stats`` shows the session's figures and the last
answer's [STATS] block, ``/exit`` (or Ctrl-D) leaves. Ctrl-C during an answer cancels it (the
turn is rolled back) and the session stays usable; Ctrl-C at the prompt clears the line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from lmstream import ChatSession, Info, StopReason, TemplateError, get_plugin_system
from lmstream.cli import OK

from .arguments import generation_parameters
from .console import Console, error_text
from .loading import named_observers, open_context, stats_available, stats_observer
from .observers import attached
from .streaming import run_stream

PROMPT = ">>> "
COMMANDS = {
    "/clear": "forget the conversation (the system prompt stays)",
    "/stats": "session figures and the last answer's [STATS] block",
    "/exit": "leave (Ctrl-D too)",
    "/help": "this list",
}
TURN_ERRORS = (ValueError, TypeError, LookupError, TemplateError)
"""A turn refused before generating (e.g. the conversation no longer fits the context)."""


def _readline() -> None:
    """Line editing and history at the prompt, where the platform has GNU readline."""
    try:
        import readline  # noqa: F401
    except ImportError:
        pass


@contextmanager
def echo_off(stream: TextIO) -> Iterator[None]:
    """Stop the terminal echoing what is typed while an answer streams (a no-op off a tty).

    The typed characters stay in the terminal's input queue (TCSANOW, no flush), so the next
    prompt reads them: type-ahead is kept, just not printed into the middle of the answer.
    """
    try:
        import termios

        fd = stream.fileno()
        if not os.isatty(fd):
            raise OSError("not a terminal")
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError, AttributeError):
        yield
        return
    quiet = list(saved)
    quiet[3] = quiet[3] & ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


class Repl:
    """The read-answer loop over one ChatSession."""

    def __init__(self, session: ChatSession, console: Console, stats: Any | None, *,
                 show_stats: bool = False) -> None:
        self.session = session
        self.console = console
        self.stats = stats
        self.show_stats = show_stats

    def run(self) -> int:
        """Read lines until /exit or end of input; returns the exit code (0)."""
        context = self.session.context
        info = context.info
        choice = getattr(context, "backend_choice", None)  # a session may wrap another host
        backend = choice.describe() if choice is not None else info.backend
        self.console.note(f"lmstream chat with {info.name} on {backend}. "
                          "Commands: /clear /stats /exit. Ctrl-C cancels an answer, Ctrl-D exits.")
        while True:
            try:
                line = input(PROMPT)
            except EOFError:
                self.console.text("\n")
                return OK
            except KeyboardInterrupt:
                self.console.text("\n")
                continue
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                if self.command(text):
                    return OK
                continue
            self.turn(text)

    def command(self, text: str) -> bool:
        """Run a slash command; True means leave."""
        name = text.split()[0].lower()
        if name in ("/exit", "/quit"):
            return True
        if name == "/clear":
            self.session.clear()
            self.console.note("[conversation cleared]")
        elif name == "/stats":
            self.print_stats()
        elif name == "/help":
            self.console.note("\n".join(f"{command:<8}{what}" for command, what in COMMANDS.items()))
        else:
            self.console.note(f"unknown command {name}; commands: {', '.join(COMMANDS)}")
        return False

    def print_stats(self) -> None:
        """The [SESSION] summary and the last generation's [STATS] block."""
        if self.stats is None:
            self.console.note("no stats: the 'stats' observer is not registered "
                              "(is the observers plugin disabled?)")
            return
        lines = [self.stats.format_summary()]
        if self.stats.last_info is not None:
            lines.append(self.stats.format_block())
        self.console.text("\n\n".join(lines) + "\n")

    def turn(self, text: str) -> Info | None:
        """One user message and the streamed answer."""
        try:
            stream = self.session.stream_details(text)
        except TURN_ERRORS as exc:
            self.console.error(f"{error_text(exc)} (/clear starts over)")
            return None
        with echo_off(sys.stdin):  # type-ahead waits for the next prompt, not inside the answer
            info = run_stream(stream, self.console)
        if info is None or info.stop_reason is StopReason.CANCELLED:
            self.console.note("[cancelled]")
        elif info.stop_reason is StopReason.ERROR:
            self.console.error(f"generation failed: {error_text(info.error)}")
        elif info.stop_reason is StopReason.LENGTH:
            self.console.note("[stopped: max tokens reached]")
        if self.show_stats and info is not None and self.stats is not None:
            choice = getattr(self.session.context, "backend_choice", None)
            tail = f"\nbackend: {choice.describe()}" if choice is not None else ""
            self.console.text("\n" + self.stats.format_block(info) + tail + "\n")
        return info


def run_chat(args: argparse.Namespace, console: Console) -> int:
    """Load the model and run the REPL."""
    parameters = generation_parameters(args)
    _readline()
    system = get_plugin_system()
    stats: Any | None = (stats_observer(system) if args.stats or stats_available(system)
                         else None)  # /stats works when the observers plugin is there
    context = open_context(args, console)
    try:
        observers = named_observers(context, args.observers, *([stats] if stats is not None else []))
        with attached(context.plugin_system, observers):
            session = ChatSession(context, instructions=args.system, parameters=parameters)
            return Repl(session, console, stats, show_stats=args.stats).run()
    finally:
        context.close()
