"""Compiling an llguidance grammar where it cannot take the process down: on a thread with a
large stack (llguidance recurses while compiling; on an 8 MiB stack a 1,000-link ``$ref``
chain or a 3,000-rule Lark chain overflowed it with SIGSEGV), under ``EngineLimits``, with the
first mask computed there too, so a grammar that is too complex or allows nothing fails at
creation (a ValueError, the server's 400) rather than mid-stream.

The matcher's constructor validates the grammar (no separate validation pass: that would
compile it twice); refusals are cached by grammar hash (bounded), so a grammar refused once
is refused again without compiling.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from .limits import EngineLimits

T = TypeVar("T")
ERRORS_KEPT = 512
"""Refused grammars remembered (grammar hash -> the error), so one sent again fails at once."""

COMPILE_THREADS = 4
"""Compiles running at once (each thread reserves ``compile_stack_bytes`` of address space)."""

_stack_lock = threading.Lock()
_slots = threading.BoundedSemaphore(COMPILE_THREADS)


def run_with_stack(function: Callable[[], T], stack_bytes: int) -> T:
    """``function()`` run on a fresh thread with a ``stack_bytes`` stack (the caller waits);
    its exception is re-raised here. Where the platform refuses such a thread, it runs on
    the caller's thread (lmstream's bounds keep specs far below what overflows 8 MiB)."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as exc:  # handed back to the caller, who re-raises it
            outcome.append((False, exc))

    with _slots:
        thread: threading.Thread | None = None
        with _stack_lock:  # the stack size is process-wide state while a thread starts
            try:
                previous = threading.stack_size(stack_bytes)
            except (ValueError, RuntimeError):  # a size this platform does not allow
                previous = None
            try:
                if previous is not None:
                    thread = threading.Thread(target=target, name="lmstream-grammar-compile", daemon=True)
                    thread.start()
            except RuntimeError:  # no thread with that stack (address space, limits)
                thread = None
            finally:
                if previous is not None:
                    threading.stack_size(previous)
        if thread is None:
            target()
        else:
            thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    result: T = value
    return result


def _first_line(message: str, limit: int = 300) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "rejected by llguidance"
    return line if len(line) <= limit else line[:limit - 3] + "..."


LIMIT_MESSAGES = (
    ("grammar size", "max_grammar_size"),
    ("initial lexer configuration", "initial_lexer_fuel"),
    ("Current row has", "max_items_in_row"),
    ("lexer states", "max_lexer_states"),
    ("fuel", "step_lexer_fuel"),
)
"""Substrings of llguidance's limit errors and the ``EngineLimits`` field each one means."""


def explain(error: str, limits: EngineLimits) -> str:
    """llguidance's error (first line), naming the ``EngineLimits`` field it hit, if any."""
    line = _first_line(error)
    for needle, name in LIMIT_MESSAGES:
        if needle in line:
            return f"{line} (limit EngineLimits.{name} = {getattr(limits, name)})"
    return line


class GrammarCompiler:
    """Builds llguidance matchers under ``EngineLimits`` on a large-stack thread."""

    def __init__(self, llguidance: Any, limits: EngineLimits) -> None:
        self._llg = llguidance
        self.limits = limits
        self._parser_limits = limits.parser_limits(llguidance)
        self._errors: OrderedDict[tuple[int, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def compile(self, tokenizer: Any, grammar: str, what: str) -> tuple[Any, bytes]:
        """A fresh matcher for ``grammar`` and its first mask; ValueError naming ``what``
        when llguidance rejects the grammar, a limit is hit, or nothing may be generated."""
        return run_with_stack(lambda: self._compile(tokenizer, grammar, what), self.limits.compile_stack_bytes)

    def _known_error(self, key: tuple[int, str]) -> str | None:
        with self._lock:
            if key in self._errors:
                self._errors.move_to_end(key)
                return self._errors[key]
        return None

    def _remember_error(self, key: tuple[int, str], error: str) -> None:
        with self._lock:
            self._errors[key] = error
            while len(self._errors) > ERRORS_KEPT:
                self._errors.popitem(last=False)

    def _compile(self, tokenizer: Any, grammar: str, what: str) -> tuple[Any, bytes]:
        key = (id(tokenizer), hashlib.sha256(grammar.encode("utf-8", "surrogatepass")).hexdigest())
        known = self._known_error(key)
        if known is not None:
            raise ValueError(known)
        matcher = self._llg.LLMatcher(tokenizer, grammar, log_level=0, limits=self._parser_limits)
        first = b"" if matcher.is_error() else bytes(matcher.compute_bitmask())
        error: str | None = None
        if matcher.is_error() and not first:
            error = f"invalid {what}: {explain(matcher.get_error(), self.limits)}"
        elif not any(first) or matcher.get_error().startswith("NoExtension"):
            error = f"the {what} is unsatisfiable: no output can satisfy it"
        elif matcher.is_error():
            error = f"the {what} cannot be followed: {explain(matcher.get_error(), self.limits)}"
        if error is not None:
            self._remember_error(key, error)
            raise ValueError(error)
        return matcher, first
