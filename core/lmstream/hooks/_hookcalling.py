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
    ``on_error(impl, exc)`` is told about every isolated failure (default: log it).
    """

    __slots__ = ("argnames", "calls", "name", "on_error", "plain", "wrappers")

    def __init__(self, caller: pluggy.HookCaller, argnames: Sequence[str],
                 on_error: Callable[[pluggy.HookImpl, Exception], None] | None = None) -> None:
        self.name = caller.name
        self.argnames = tuple(argnames)
        self.on_error = on_error
        plain: list[tuple[pluggy.HookImpl, _Call]] = []
        wrappers: list[tuple[pluggy.HookImpl, _Call]] = []
        for impl in reversed(caller.get_hookimpls()):  # pluggy calls the last registered first
            if impl.wrapper or impl.hookwrapper:
                wrappers.append((impl, _adapter(impl, self.argnames)))
            else:
                plain.append((impl, _adapter(impl, self.argnames)))
        self.plain = plain
        self.calls = [call for _, call in plain]
        """The non-wrapper implementations in call order (what the hot path iterates)."""
        self.wrappers = wrappers

    def __bool__(self) -> bool:
        return bool(self.plain or self.wrappers)

    def __call__(self, *values: object) -> list[object]:
        """Call every implementation; returns the results pluggy would (wrappers may replace them)."""
        return self.call_with(lambda _impl: values)

    def call_with(self, values_for: Callable[[pluggy.HookImpl], Sequence[object]]) -> list[object]:
        """Like calling the hook, but each implementation gets ``values_for(impl)`` (for
        registration hooks, whose ``register`` callback must know its plugin)."""
        teardowns: list[tuple[pluggy.HookImpl, Generator[Any, Any, Any]]] = []
        for impl, call in self.wrappers:
            try:
                generator: Any = call(*values_for(impl))
                next(generator)
            except Exception as exc:
                self._failed(impl, exc, "in its setup")
                continue
            teardowns.append((impl, generator))
        results: Any = []
        for impl, call in self.plain:
            try:
                result = call(*values_for(impl))
            except Exception as exc:
                self._failed(impl, exc, "")
                continue
            if result is not None:
                results.append(result)
        for impl, generator in reversed(teardowns):
            results = self._teardown(impl, generator, results)
        return list(results)

    def _failed(self, impl: pluggy.HookImpl, exc: Exception, where: str) -> None:
        if self.on_error is not None:
            self.on_error(impl, exc)
            return
        logger.error("%s of plugin %s failed%s; the others go on", self.name, impl.plugin_name,
                     f" {where}" if where else "", exc_info=exc)

    def _teardown(self, impl: pluggy.HookImpl, generator: Generator[Any, Any, Any],
                  results: Any) -> Any:
        """Resume one wrapper after the inner calls; returns the (possibly replaced) result."""
        outcome = pluggy.Result(results, None) if impl.hookwrapper else None
        try:
            generator.send(outcome if impl.hookwrapper else results)
        except StopIteration as stop:
            if outcome is not None:
                return outcome.get_result()
            return stop.value
        except Exception as exc:
            self._failed(impl, exc, "in its teardown")
            return results
        generator.close()
        logger.error("%s wrapper of plugin %s yielded more than once; its result is ignored",
                     self.name, impl.plugin_name)
        return results
