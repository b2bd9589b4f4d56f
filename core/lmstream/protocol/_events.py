"""The stream protocol: the immutable events every lmstream stream yields.

Events are slotted, frozen dataclasses: they are created once per token on the hot path, so
they must be cheap: a frozen pydantic model with the same fields costs 2.6-3.7x more to build,
validated (benchmarks/event_construction.py, on a loaded 2-core machine).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, TypeVar

from ._stats import GenerationStats

Channel = Literal["content", "reasoning"]
"""Which text a ``Chunk`` carries: the answer (``content``) or the model's reasoning. (The
bounded queue between the worker and a stream is another thing: ``EventChannel``.)"""
_T = TypeVar("_T")


class StopReason(str, Enum):
    """Why a stream ended; compares equal to its string value (``StopReason.STOP == "stop"``)."""

    STOP = "stop"
    """EOS, a stop token or a stop string."""
    LENGTH = "length"
    """``max_tokens`` generated, or the context window is full."""
    CANCELLED = "cancelled"
    """The consumer left the stream or cancelled its task."""
    ERROR = "error"
    """The backend (or a pipeline stage) failed mid-stream; ``Info.error`` says why."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One chosen token's log probability and, when asked, the most likely alternatives.

    ``top`` holds ``(token id, logprob)`` pairs, most likely first (``top_logprobs`` of them).
    """

    id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A decoded text delta, the token ids it came from and the sequence position after it.

    ``logprobs`` (only with ``GenerationParameters.logprobs``) has one entry per token id in
    ``tokens``, in order.
    """

    text: str
    tokens: tuple[int, ...] = ()
    position: int = 0
    channel: Channel = "content"
    logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete, parsed tool call; ``arguments`` is always a dict."""

    id: str
    name: str
    arguments: dict[str, Any]
    index: int | None = None
    """The call's ``ToolCallDelta.index`` (set only with ``stream_tool_calls``)."""


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A tool call while it is generated (only with ``GenerationParameters.stream_tool_calls``).

    The first delta of a call carries ``index``, ``id`` and ``name``; later ones carry argument
    text. The joined ``arguments_delta`` of one call is JSON that loads to exactly the final
    ``ToolCall.arguments``; the final ``ToolCall`` (or a ``RejectedToolCall``) follows.
    """

    index: int
    id: str
    name: str
    arguments_delta: str = ""


@dataclass(frozen=True, slots=True)
class RejectedToolCall:
    """Tool-call syntax that could not be accepted; ``text`` is the raw text, never lost.

    ``reason`` is one of ``"malformed"``, ``"incomplete"``, ``"undeclared_tool"``,
    ``"invalid_arguments"``; ``detail`` is a human-readable explanation.
    """

    text: str
    reason: str
    detail: str
    index: int | None = None
    """The index of the call's ``ToolCallDelta``s when some were sent before it was rejected."""
    name: str | None = None
    """The tool's name when the call parsed but was refused (``undeclared_tool``,
    ``invalid_arguments``); ChatSession answers such a call with an error result."""
    arguments: dict[str, Any] | None = None
    """The parsed arguments of such a call."""


@dataclass(frozen=True, slots=True)
class Token:
    """A raw token id and the sequence position after it (token streams only).

    ``logprob`` and ``top_logprobs`` are set only with ``GenerationParameters.logprobs``.
    """

    id: int
    position: int
    logprob: float | None = None
    top_logprobs: tuple[tuple[int, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class Info:
    """The last event of every stream, exactly once: why it ended and what it cost."""

    stop_reason: StopReason
    stats: GenerationStats = field(default_factory=GenerationStats)
    error: BaseException | None = None
    stop_sequence: str | None = None
    """The stop string (``GenerationParameters.stop``) that ended the text, when one did
    (``stop_reason`` is then ``stop``); None when the stream ended any other way."""

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens prefilled this time (not counting tokens reused from a cache)."""
        return self.stats.prompt_tokens

    @property
    def cached_prompt_tokens(self) -> int:
        """Prompt tokens reused from a prompt cache."""
        return self.stats.cached_prompt_tokens

    @property
    def generated_tokens(self) -> int:
        """Tokens the model generated (a stop token included)."""
        return self.stats.generated_tokens

    @property
    def tokens_per_second(self) -> float:
        """Decode speed in tokens per second."""
        return self.stats.decode_tps

    @property
    def prompt_tokens_per_second(self) -> float:
        """Prefill speed in tokens per second."""
        return self.stats.prefill_tps

    @property
    def ttft_s(self) -> float:
        """Time to first token, in seconds."""
        return self.stats.ttft_s

    @property
    def peak_bytes(self) -> int | None:
        """Peak memory during the generation, where the backend can tell."""
        return self.stats.peak_bytes


TextEvent = Chunk | ToolCall | ToolCallDelta | RejectedToolCall
"""What a tool-call parser emits."""

Event = Chunk | ToolCall | ToolCallDelta | RejectedToolCall | Info
"""What a decoded stream yields."""

TokenEvent = Token | Info
"""What a token stream yields."""


def _parameters(fields: tuple[dataclasses.Field[Any], ...], namespace: dict[str, Any]) -> str:
    """The parameter list of a generated constructor taking ``fields`` positionally, with the
    dataclass's defaults (each default goes into ``namespace`` under ``_default_<name>``)."""
    params = []
    for f in fields:
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    return ", ".join(params)


def fast_frozen_init(cls: type) -> None:
    """Give a frozen slotted dataclass built once per token a faster ``__init__``.

    The generated one sets each field with ``object.__setattr__`` (frozen); this one fills the
    slots through their descriptors: the same parameters, defaults and immutability, about half
    the cost (benchmarks/event_construction.py). Classes with factories, keyword-only fields or
    ``__post_init__`` keep their generated ``__init__``.
    """
    fields = dataclasses.fields(cls)
    if hasattr(cls, "__post_init__") or any(
            f.kw_only or f.default_factory is not dataclasses.MISSING for f in fields):
        return
    namespace: dict[str, Any] = {f"_set_{f.name}": cls.__dict__[f.name].__set__ for f in fields}
    params = _parameters(fields, namespace)
    body = "".join(f"    _set_{f.name}(self, {f.name})\n" for f in fields)
    exec(f"def __init__(self, {params}):\n{body}", namespace)  # as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = dict(cls.__dict__["__init__"].__annotations__)
    setattr(cls, "__init__", init)  # noqa: B010  (mypy refuses assigning __init__)


for _hot in (Chunk, Token, TokenLogprob):
    fast_frozen_init(_hot)


def frozen_factory(cls: type[_T]) -> Callable[..., _T]:
    """A constructor for the core's hot path: ``cls``'s positional fields in, an instance out.

    Builds the object as a plain slotted twin of ``cls`` (the same ``__slots__``, so the same
    memory layout), fills the slots with ordinary attribute stores, then makes it a ``cls``
    by ``__class__`` assignment: the result is an ordinary frozen ``cls`` instance (equal,
    hashable, immutable, pickled like any other) built in well under half the time of
    ``cls(...)``, which must go through ``__init__`` and one descriptor call per field. Only
    the core's own per-token events use it; ``cls(...)`` stays the public constructor.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    twin = type(f"_{cls.__name__}Slots", (), {"__slots__": cls.__dict__["__slots__"]})
    namespace: dict[str, Any] = {"_twin": twin, "_cls": cls}
    params = _parameters(fields, namespace)
    body = "".join(f"    self.{f.name} = {f.name}\n" for f in fields)
    exec(f"def new({params}):\n    self = _twin()\n{body}"
         f"    self.__class__ = _cls\n    return self\n", namespace)
    factory: Callable[..., _T] = namespace["new"]
    factory.__qualname__ = factory.__name__ = f"new_{cls.__name__.lower()}"
    return factory


new_chunk = frozen_factory(Chunk)
"""``Chunk(text, tokens, position, channel, logprobs)`` for the pipeline's per-token chunks."""
new_token = frozen_factory(Token)
"""``Token(id, position, logprob, top_logprobs)`` for token streams."""
