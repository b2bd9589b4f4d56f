"""What one server holds: the served models by name, its limits and the admission counter.

Admission: the server counts the generations it is serving. Up to ``max_batch_size`` run at
once (the core batches concurrent generations of one context); up to ``max_queue`` more wait.
Beyond that a request is refused with 503 and ``Retry-After`` before anything is generated.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from lmstream import ModelContext

from .errors import APIError
from .metrics import ServerMetrics
from .response_store import ResponseStore
from .source import GenerationSource
from .wire import WireLimits
from .workers import WorkPool


@dataclass(frozen=True)
class ServedModel:
    """A loaded model under the name clients use for it."""

    name: str
    context: ModelContext
    created: int = field(default_factory=lambda: int(time.time()))
    source: GenerationSource | None = None
    """Where generations run when not in process (e.g. Ray replicas); the context still prepares."""


@dataclass(frozen=True)
class ServerLimits:
    """Limits of one server (every one bounded; see docs/server.md)."""

    max_batch_size: int = 8
    max_queue: int = 64
    max_body_bytes: int = 4 * 1024 * 1024
    max_n: int = 8
    max_tokens_default: int = 512
    keepalive_s: float = 10.0
    retry_after_s: int = 1
    write_timeout_s: float = 30.0
    """A streaming client that accepts no bytes for this long is treated as gone (slot freed)."""
    max_json_depth: int = 512
    """Deepest nesting of a request body's JSON (deeper: 400 naming the body)."""
    wire: WireLimits = field(default_factory=WireLimits)
    """Count limits on request lists."""
    work_threads: int = 2
    """Threads for request-sized CPU work (parsing, schema checks, templating, tokenizing)."""
    max_pending_work: int = 64
    """Request-preparation calls admitted at once (running or waiting) before 503."""
    reasoning_field: str = "both"
    """Where chat answers carry the model's reasoning: ``"both"`` (``reasoning_content`` and
    ``reasoning``), ``"reasoning_content"`` or ``"reasoning"``."""
    strict_model_names: bool = False
    """With one served model, a request naming another model is served by it (agents send their
    own names); True restores the 404 for any name but the served one."""
    keep_billing_header: bool = False
    """Keep Claude Code's ``x-anthropic-billing-header`` line in the system prompt (see billing.py)."""
    refuse_hosted_tools: bool = False
    """/v1/responses: hosted tools (web_search, tool_search, mcp, ...) are a 400 instead of left out."""
    max_tool_grammar_bytes: int = 64 * 1024
    """/v1/responses: largest Lark / regex grammar of a custom tool (a 400 beyond)."""
    max_tool_grammar_rules: int = 1_000
    """/v1/responses: most rules in a custom tool's Lark grammar (long rule chains crash llguidance)."""
    response_store_max: int = 1024
    """/v1/responses: stored responses kept at most (for previous_response_id; 0 stores none)."""
    response_store_max_bytes: int = 256 * 1024 * 1024
    """/v1/responses: total size of the stored responses' items (their JSON length)."""
    response_store_ttl_s: float = 3600.0
    """/v1/responses: how long a stored response can be continued."""

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_body_bytes", "max_n", "max_tokens_default", "retry_after_s",
                     "max_json_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_queue < 0:
            raise ValueError("max_queue must be at least 0")
        if self.keepalive_s <= 0:
            raise ValueError("keepalive_s must be positive")
        if self.reasoning_field not in ("both", "reasoning_content", "reasoning"):
            raise ValueError("reasoning_field must be 'both', 'reasoning_content' or 'reasoning'")
        if self.write_timeout_s <= 0:
            raise ValueError("write_timeout_s must be positive")


def _alias(name: str) -> str:
    """A model name's alias: its last path part, case-folded (``Org/Model-7B`` -> ``model-7b``)."""
    return name.rsplit("/", 1)[-1].casefold()


class ServerState:
    """Models, limits, API key, metrics and the count of generations in flight."""

    def __init__(self, models: Mapping[str, ModelContext], limits: ServerLimits, api_key: str | None,
                 sources: Mapping[str, GenerationSource] | None = None) -> None:
        if not models:
            raise ValueError("create_app needs at least one model context")
        sources = dict(sources or {})
        unknown = sorted(set(sources) - set(models))
        if unknown:
            raise ValueError(f"sources for models not served: {unknown}")
        self.models = {name: ServedModel(name, context, source=sources.get(name))
                       for name, context in models.items()}
        self.limits = limits
        self.api_key = api_key
        self.metrics = ServerMetrics()
        self.metrics.watch_prefix_caches({name: m.context for name, m in self.models.items()})
        for source in sources.values():
            source.attach(self.metrics.registry)
        self.in_flight = 0
        self.work = WorkPool(limits.work_threads, max(limits.max_pending_work, limits.work_threads),
                             limits.retry_after_s)
        """Where request-sized CPU work runs (never on the event loop)."""
        self.responses = ResponseStore(limits.response_store_max, limits.response_store_max_bytes,
                                       limits.response_store_ttl_s)
        """Stored /v1/responses conversations (previous_response_id), bounded and expiring."""

    def model(self, name: object, param: str = "model") -> ServedModel:
        """The served model for the name a request gives (a request never names a path).

        Exact names first; unless ``strict_model_names``, then a unique alias match (the name's
        last path part, case-insensitive: ``org/Model`` is ``model``), and with one served model
        any other name is served by it (the answer names the served model: agents send their
        own model names). Otherwise an unknown name is a 404.
        """
        if not isinstance(name, str) or not name:
            raise APIError(400, f"{param!r} is required: one of {sorted(self.models)}", param=param,
                           code="invalid_value")
        served = self.models.get(name)
        if served is not None:
            return served
        if not self.limits.strict_model_names:
            alias = _alias(name)
            matches = [m for m in self.models.values() if _alias(m.name) == alias]
            if len(matches) == 1:
                return matches[0]
            if len(self.models) == 1:
                return next(iter(self.models.values()))
        raise APIError(404, f"the model {name!r} does not exist; this server serves {sorted(self.models)}",
                       param=param, code="model_not_found")

    @property
    def capacity(self) -> int:
        """Generations admitted at most: the batch plus the queue."""
        return self.limits.max_batch_size + self.limits.max_queue

    def acquire(self, count: int = 1) -> Slot:
        """Hold ``count`` generation slots for a request, or raise 503 when the queue is full."""
        if self.in_flight + count > self.capacity:
            raise APIError(503, f"the server is at capacity ({self.in_flight} generations in flight, "
                                f"queue of {self.limits.max_queue}); retry shortly",
                           code="server_overloaded", type="server_error",
                           headers={"Retry-After": str(self.limits.retry_after_s)})
        self.in_flight += count
        self.metrics.update(self.in_flight, self.limits.max_batch_size)
        return Slot(self, count)


class Slot:
    """Generation slots held by one request; ``release()`` (idempotent) gives them back."""

    def __init__(self, state: ServerState, count: int) -> None:
        self._state: ServerState | None = state
        self.count = count

    def release(self) -> None:
        """Give the slots back (once)."""
        state, self._state = self._state, None
        if state is not None:
            state.in_flight -= self.count
            state.metrics.update(state.in_flight, state.limits.max_batch_size)
