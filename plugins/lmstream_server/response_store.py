"""A bounded, expiring in-memory store of responses, for ``previous_response_id``,
``GET /v1/responses/{id}`` and ``DELETE /v1/responses/{id}``.

A response created with ``store`` true (the API's default) keeps its conversation: the input
items it was given (after its own ``previous_response_id`` was expanded) and its output
items, and the response object as it was returned. A later request naming it continues that
conversation. Bounded three ways: a count of responses, a total size (the JSON length of
items and object) and a time to live; the oldest go first. Nothing survives a restart; an
unknown, expired or deleted id is a 404.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredResponse:
    """One stored response: its conversation items, its response object and when it expires."""

    id: str
    items: tuple[dict[str, Any], ...]
    size: int
    expires: float
    response: dict[str, Any] | None = None


class ResponseStore:
    """At most ``max_responses`` responses of ``max_bytes`` in all, each kept ``ttl_s`` seconds."""

    def __init__(self, max_responses: int = 1024, max_bytes: int = 256 * 1024 * 1024, ttl_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_responses < 0 or max_bytes < 0 or ttl_s <= 0:
            raise ValueError("ResponseStore needs max_responses >= 0, max_bytes >= 0 and ttl_s > 0")
        self.max_responses = max_responses
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._entries)

    @property
    def bytes(self) -> int:
        """The stored items' total JSON size."""
        return self._bytes

    def put(self, response_id: str, items: list[dict[str, Any]], response: dict[str, Any] | None = None) -> bool:
        """Keep ``items`` (and the ``response`` object) under ``response_id``; False when they
        alone exceed the size bound."""
        size = len(json.dumps(items, ensure_ascii=False))
        if response is not None:
            size += len(json.dumps(response, ensure_ascii=False))
        if size > self.max_bytes or self.max_responses == 0:
            return False
        now = self._clock()
        entry = StoredResponse(response_id, tuple(items), size, now + self.ttl_s, response)
        with self._lock:
            self._expire(now)
            self._drop(response_id)
            while self._entries and (len(self._entries) >= self.max_responses
                                     or self._bytes + size > self.max_bytes):
                self._drop(next(iter(self._entries)))
            self._entries[response_id] = entry
            self._bytes += size
        return True

    def get(self, response_id: str) -> list[dict[str, Any]] | None:
        """The conversation items of a stored response, or None (unknown or expired)."""
        with self._lock:
            self._expire(self._clock())
            entry = self._entries.get(response_id)
            return None if entry is None else list(entry.items)

    def response(self, response_id: str) -> dict[str, Any] | None:
        """The response object of a stored response, or None (unknown, expired or deleted)."""
        with self._lock:
            self._expire(self._clock())
            entry = self._entries.get(response_id)
            return None if entry is None or entry.response is None else dict(entry.response)

    def delete(self, response_id: str) -> bool:
        """Forget a stored response; False when there was none to forget."""
        with self._lock:
            self._expire(self._clock())
            found = response_id in self._entries
            self._drop(response_id)
            return found

    def _drop(self, response_id: str) -> None:
        entry = self._entries.pop(response_id, None)
        if entry is not None:
            self._bytes -= entry.size

    def _expire(self, now: float) -> None:
        while self._entries:
            first = next(iter(self._entries.values()))
            if first.expires > now:
                return
            self._drop(first.id)
