"""The contract between the core and a backend: model, tokenizer, prompt cache, token iterator.

A backend owns compute (weights, KV cache, sampler) and yields token ids; the core owns
everything after the token id (detokenizing, stops, parsing, events, observers).
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .parameters import GenerationParameters

if TYPE_CHECKING:
    from .batching import BatchRunner


@runtime_checkable
class Tokenizer(Protocol):
    """What the core needs of a tokenizer.

    ``backend_tokenizer`` (a ``tokenizers.Tokenizer``) enables the exact streaming
    detokenizer (``tokenizers.decoders.DecodeStream``); ``token_bytes`` enables an exact
    byte-level one; otherwise the core falls back to decoding windows of ids.
    """

    eos_token_ids: frozenset[int]
    bos_token: str | None
    eos_token: str | None

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]: ...

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str: ...


@dataclass(frozen=True)
class ModelInfo:
    """What plugins may know about a loaded model (used by tool-parser and template resolvers)."""

    name: str
    backend: str
    model_type: str | None = None
    chat_template: str | dict[str, str] | None = None
    tokenizer_config: Mapping[str, Any] = field(default_factory=dict)
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    context_length: int | None = None
    path: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """Load options the core interprets (``tool_parser``, ``chat_template`` overrides)."""


class PromptCache(ABC):
    """A backend's KV cache plus the token ids it holds; callers may keep and pass it back."""

    @property
    @abstractmethod
    def tokens(self) -> list[int]:
        """The token ids whose keys/values the cache holds, in order."""

    @abstractmethod
    def trim(self, count: int) -> int:
        """Drop ``count`` tokens from the end; returns how many were dropped."""

    def trim_to(self, length: int) -> None:
        """Keep only the first ``length`` tokens."""
        excess = len(self.tokens) - length
        if excess > 0:
            self.trim(excess)

    @property
    def nbytes(self) -> int:
        """Bytes the cache has allocated (0 when unknown)."""
        return 0


class ListPromptCache(PromptCache):
    """A cache that is just the list of token ids seen: for backends that keep no real KV state
    (scripted, echo, examples) and for tests. ``nbytes`` counts 8 bytes per token id."""

    def __init__(self, tokens: Sequence[int] = ()) -> None:
        self._tokens: list[int] = list(tokens)

    @property
    def tokens(self) -> list[int]:
        """The token ids held, in order (the list itself: backends append to it)."""
        return self._tokens

    def trim(self, count: int) -> int:
        """Drop ``count`` ids from the end (clamped to what is there); returns how many went."""
        count = max(0, min(count, len(self._tokens)))
        if count:
            del self._tokens[-count:]
        return count

    @property
    def nbytes(self) -> int:
        """8 bytes per token id held."""
        return 8 * len(self._tokens)


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two id sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class GenerationControl:
    """Handed by the core to a backend's token iterator: cancellation, timing and stats marks."""

    __slots__ = (
        "_cancel_event",
        "cached_prompt_tokens",
        "constraint",
        "max_tokens",
        "memory",
        "on_prefill_progress",
        "prefill_end",
        "prefilled_tokens",
        "progress_tokens",
    )

    def __init__(self, cancel_event: threading.Event,
                 on_prefill_progress: Callable[[int, int], None] | None = None,
                 max_tokens: float = math.inf, constraint: Any = None) -> None:
        self._cancel_event = cancel_event
        self.on_prefill_progress = on_prefill_progress
        self.max_tokens = max_tokens
        """Tokens the core will pull at most (max_tokens capped by the context window)."""
        self.constraint = constraint
        """A structured-output constraint whose token masks the backend applies, or None."""
        self.prefill_end: float | None = None
        self.prefilled_tokens: int | None = None
        self.progress_tokens: int | None = None
        """Prompt tokens prefilled so far (from ``prefill_progress``): what a cancelled prefill did."""
        self.cached_prompt_tokens = 0
        self.memory: dict[str, int | None] = {}

    @property
    def cancelled(self) -> bool:
        """True once the consumer has cancelled; check it between prefill chunks and tokens."""
        return self._cancel_event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Sleep, waking early on cancel; returns False when cancelled."""
        return not self._cancel_event.wait(seconds) if seconds > 0 else not self.cancelled

    def prefill_progress(self, done: int, total: int) -> None:
        """Report prefill progress (tokens done of total) to whoever listens."""
        self.progress_tokens = done
        if self.on_prefill_progress is not None:
            self.on_prefill_progress(done, total)

    def mark_prefill_done(self, prefilled: int, cached: int) -> None:
        """Record the end of prefill: tokens prefilled now and tokens reused from the cache."""
        self.prefill_end = time.perf_counter()
        self.prefilled_tokens = prefilled
        self.cached_prompt_tokens = cached


class BackendModel(ABC):
    """A loaded model as a backend exposes it. Every method runs on the context's worker thread."""

    info: ModelInfo
    tokenizer: Tokenizer
    supports_constraints: bool = False
    """True when the backend applies ``control.constraint`` / ``SequenceRequest.constraint``
    masks to its logits (structured output); otherwise asking for one raises at creation."""

    @abstractmethod
    def new_cache(self) -> PromptCache:
        """A fresh, empty prompt cache for this model."""

    @abstractmethod
    def token_iterator(self, prompt: Sequence[int], parameters: GenerationParameters,
                       cache: PromptCache | None, control: GenerationControl) -> Iterator[int]:
        """Prefill ``prompt`` (reusing ``cache``'s common prefix) and yield sampled token ids.

        The core stops pulling at a stop token, a stop string, ``max_tokens`` or a cancel, and
        then closes the iterator: release per-generation resources in a ``finally``. Check
        ``control.cancelled`` between prefill chunks and return early when it is set.
        """

    def validate(self, prompt: Sequence[int], parameters: GenerationParameters) -> None:  # noqa: B027
        """Raise ValueError for input this model cannot run (ids outside the vocabulary,
        ``top_k`` too large, bad KV-quantization settings); called before a stream starts."""

    def new_batch_runner(self) -> BatchRunner | None:
        """A runner that steps many sequences together, or None (the core then runs
        ``token_iterator`` one sequence at a time). Called once, on the worker thread."""
        return None

    def memory_snapshot(self) -> dict[str, int | None]:
        """Memory figures the backend can tell (see GenerationStats); empty when none."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional: most backends free memory on GC
        """Release the model's resources."""


BackendFactory = Callable[..., BackendModel]
"""``factory(model: str | None, **options) -> BackendModel``; import heavy deps inside it."""
