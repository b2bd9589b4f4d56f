"""The contract between the core and a backend: a loaded model, its tokenizer, prompt caches,
its typed capabilities and its batch runner.

A backend owns compute (weights, KV cache, sampler) behind one contract, the ``BatchRunner``
that ``new_batch_runner`` returns; the core owns everything after the token id
(detokenizing, stops, parsing, events, observers). ``token_iterator`` is an optional
shortcut for simple backends (one sequence at a time, adapted by the core).
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
    """A loaded model as a backend exposes it. Every method runs on the context's worker thread.

    Implement ``new_cache`` and ``new_batch_runner`` (the compute contract), or, for a simple
    backend, ``token_iterator`` instead of the runner; one of the two is required (checked at
    load by ``check_backend``). The class attributes below are the capabilities the core reads.
    """

    info: ModelInfo
    tokenizer: Tokenizer
    supports_constraints: bool = False
    """True when the backend applies ``control.constraint``'s masks to its logits (structured
    output); otherwise asking for a constraint raises when the stream is created."""
    vocab_size: int | None = None
    """Width of the logits row (may exceed the tokenizer's vocabulary): the length of the masks
    a constraint builds. Required with ``supports_constraints``."""
    special_token_ids: frozenset[int] = frozenset()
    """Control tokens a constraint engine must never allow as text (beside the EOS set)."""

    @abstractmethod
    def new_cache(self) -> PromptCache:
        """A fresh, empty prompt cache for this model."""

    def token_iterator(self, prompt: Sequence[int], parameters: GenerationParameters,
                       cache: PromptCache | None, control: GenerationControl) -> Iterator[int]:
        """Optional, for simple backends without a runner: prefill ``prompt`` (reusing
        ``cache``'s common prefix) and yield sampled token ids, one sequence at a time.

        The core stops pulling at a stop token, a stop string, ``control.max_tokens`` or a
        cancel, and then closes the iterator: release per-generation resources in a
        ``finally``. Check ``control.cancelled`` between prefill chunks and return early when
        it is set. Backends that implement ``new_batch_runner`` leave this alone.
        """
        raise NotImplementedError(f"{type(self).__name__} has no token_iterator; the core runs "
                                  "its batch runner (new_batch_runner)")

    def has_token_iterator(self) -> bool:
        """Whether this backend implements ``token_iterator`` (the adapter's input)."""
        return type(self).token_iterator is not BackendModel.token_iterator

    def has_batch_runner(self) -> bool:
        """Whether this backend implements ``new_batch_runner`` (the compute contract)."""
        return type(self).new_batch_runner is not BackendModel.new_batch_runner

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
        """The runner that computes every sequence of this model (the compute contract): one
        sequence is a runner with one row. Called once per context, on the worker thread.
        The default (None) means the backend implements ``token_iterator`` instead."""
        return None

    def memory_snapshot(self) -> dict[str, int | None]:
        """Memory figures the backend can tell (see GenerationStats); empty when none."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional: most backends free memory on GC
        """Release the model's resources."""


def check_backend(backend: BackendModel) -> None:
    """Raise TypeError, naming the backend, when it cannot be run: it implements neither the
    runner contract nor a token iterator, or it claims constraints without a vocabulary size."""
    name = type(backend).__name__
    if not backend.has_batch_runner() and not backend.has_token_iterator():
        raise TypeError(f"backend model {name} implements neither new_batch_runner() (the "
                        "compute contract) nor token_iterator(); implement one of them")
    if backend.supports_constraints and not (isinstance(backend.vocab_size, int)
                                             and backend.vocab_size > 0):
        raise TypeError(f"backend model {name} sets supports_constraints but not vocab_size "
                        "(the width of its logits row, which constraint masks need)")


BackendFactory = Callable[..., BackendModel]
"""``factory(model: str | None, **options) -> BackendModel``; import heavy deps inside it."""
