"""The contract between the core and a backend: model, tokenizer, prompt cache, token iterator.

A backend owns compute (weights, KV cache, sampler) and yields token ids; the core owns
everything after the token id (detokenizing, stops, parsing, events, observers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..protocol import GenerationParameters
from ._cache import PromptCache
from ._control import GenerationControl

if TYPE_CHECKING:
    from ._batching import BatchRunner


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

    def prefix_cache_key(self, parameters: GenerationParameters) -> Hashable:
        """What makes two generations' KV states interchangeable: the context's prefix cache
        shares entries only between generations with equal keys. The default covers the
        cache-layout parameters (``max_kv_size``, ``kv_bits``, ``kv_group_size``,
        ``quantized_kv_start``) and the model's name; a backend whose KV depends on more (an
        adapter, a KV dtype chosen per generation) adds it."""
        return (self.info.backend, self.info.name, parameters.max_kv_size, parameters.kv_bits,
                parameters.kv_group_size, parameters.quantized_kv_start)

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
