"""Pluggy's calling semantics with one implementation's failure isolated from the others.

Observer hooks must not let one plugin's exception stop the stream or the other observers,
which pluggy's own ``hook(...)`` does (it aborts at the first raise). ``IsolatedHook`` calls
one hook exactly as pluggy's ``_multicall`` does (implementations in pluggy's order, so
``tryfirst``/``trylast`` hold; each given only the arguments it names; ``wrapper=True`` and
old-style ``hookwrapper=True`` implementations wrap the others), except that an Exception from
an implementation (or from a wrapper's setup or teardown) is logged and that implementation
is skipped. Wrappers therefore see the results of the implementations that succeeded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from typing import Any

import pluggy

logger = logging.getLogger("lmstream.observers")

_Call = Callable[..., object]


def _adapter(impl: pluggy.HookImpl, argnames: Sequence[str]) -> _Call:
    """A callable taking the hook's arguments positionally, passing ``impl`` only the ones it names."""
    function: _Call = impl.function
    wanted = tuple(impl.argnames)
    if wanted == tuple(argnames):
        return function
    try:
        indices = tuple(argnames.index(name) for name in wanted)
    except ValueError:
        missing = [name for name in wanted if name not in argnames]
        raise pluggy.HookCallError(
            f"hook implementation {impl.plugin_name}.{function.__name__} asks for "
            f"{', '.join(missing)}, which the hook does not provide") from None

    def call(*values: object) -> object:
        return function(*[values[i] for i in indices])

    call.__qualname__ = getattr(function, "__qualname__", repr(function))
    return call


class IsolatedHook:
    """One hook's implementations, flattened once, called with pluggy's semantics but isolated.

    ``argnames`` are the hook specification's arguments, in the order ``__call__`` takes them.
    An IsolatedHook is a snapshot: build a new one when plugins are (un)registered.
    """

    __slots__ = ("argnames", "calls", "name", "wrappers")

    def __init__(self, caller: pluggy.HookCaller, argnames: Sequence[str]) -> None:
        self.name = caller.name
        self.argnames = tuple(argnames)
        plain: list[_Call] = []
        wrappers: list[tuple[pluggy.HookImpl, _Call]] = []
        for impl in reversed(caller.get_hookimpls()):  # pluggy calls the last registered first
            if impl.wrapper or impl.hookwrapper:
                wrappers.append((impl, _adapter(impl, self.argnames)))
            else:
                plain.append(_adapter(impl, self.argnames))
        self.calls = plain
        """The non-wrapper implementations in call order (what the hot path iterates)."""
        self.wrappers = wrappers

    def __bool__(self) -> bool:
        return bool(self.calls or self.wrappers)

    def __call__(self, *values: object) -> list[object]:
        """Call every implementation; returns the results pluggy would (wrappers may replace them)."""
        if not self.wrappers:
            results: list[object] = []
            for call in self.calls:
                try:
                    result = call(*values)
                except Exception:
                    logger.exception("%s implementation %r failed; the others go on", self.name, call)
                    continue
                if result is not None:
                    results.append(result)
            return results
        return self._call_wrapped(values)

    def _call_wrapped(self, values: tuple[object, ...]) -> list[object]:
        teardowns: list[tuple[pluggy.HookImpl, Generator[Any, Any, Any]]] = []
        for impl, call in self.wrappers:
            try:
                generator: Any = call(*values)
                next(generator)
            except Exception:
                logger.exception("%s wrapper %s failed in its setup; skipped", self.name, impl.plugin_name)
                continue
            teardowns.append((impl, generator))
        results: Any = []
        for plain in self.calls:
            try:
                result = plain(*values)
            except Exception:
                logger.exception("%s implementation %r failed; the others go on", self.name, plain)
                continue
            if result is not None:
                results.append(result)
        for impl, generator in reversed(teardowns):
            results = _teardown(self.name, impl, generator, results)
        return list(results)


def _teardown(name: str, impl: pluggy.HookImpl, generator: Generator[Any, Any, Any],
              results: Any) -> Any:
    """Resume one wrapper after the inner calls; returns the (possibly replaced) result."""
    outcome = pluggy.Result(results, None) if impl.hookwrapper else None
    try:
        generator.send(outcome if impl.hookwrapper else results)
    except StopIteration as stop:
        if impl.hookwrapper:
            assert outcome is not None
            return outcome.get_result()
        return stop.value
    except Exception:
        logger.exception("%s wrapper %s failed in its teardown; skipped", name, impl.plugin_name)
        return results
    generator.close()
    logger.error("%s wrapper %s yielded more than once; its result is ignored", name, impl.plugin_name)
    return results
