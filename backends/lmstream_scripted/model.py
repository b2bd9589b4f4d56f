"""The scripted model: answers every prompt with a scripted reply, token by token."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, field_validator

from lmstream import GenerationParameters, ModelInfo, PromptCache
from lmstream.backend import (
    BackendModel,
    BackendOptions,
    GenerationControl,
    TokenConstraint,
    common_prefix_length,
)

from .batch import ScriptedBatchRunner
from .constrained import constrained_tokens
from .cutting import Cut, cut_reply
from .script import ScriptedCache, ScriptedFailure
from .tokenizer import END_OF_TURN, EOS_TOKEN, ScriptedTokenizer
from .verify import DistributionSource

__all__ = ["CHATML_TEMPLATE", "ScriptedCache", "ScriptedFailure", "ScriptedModel", "ScriptedOptions",
           "load_scripted"]

CHATML_TEMPLATE = (
    "{#- a reasoning model: a reply may open with <think>...</think> -#}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + (message['content'] or '') + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""The scripted model's default chat template (ChatML, as SmolLM2 and Qwen use); its comment
declares the ``<think>`` reasoning format, so the core opens the reasoning channel for it."""


class ScriptedOptions(BackendOptions):
    """Load options of the scripted backend (unknown options are an error naming them)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    kind: ClassVar[str] = "scripted backend"

    reply: str | list[str] | Callable[[str], str] = "Hello from the scripted model."
    """The reply; a list gives successive generations successive replies (cycling);
    a callable gets the prompt text."""
    cut: Any = "chars"
    """How replies are cut into tokens: 'chars', 'bytes', 'words', int bytes, offsets, callable."""
    token_delay: float = Field(0.0, ge=0.0)
    """Seconds before each generated token."""
    prefill_delay: float = Field(0.0, ge=0.0)
    """Seconds per prompt token prefilled (cancellable between prefill chunks)."""
    prefill_parts: int = Field(1, ge=1, le=1000)
    """Parts each prefill chunk is computed in (as a model's layers): between two parts the
    runner stops when the scheduler's ``interrupt`` says so, and goes on at the next call."""
    fail_at: int | None = Field(None, ge=0)
    """Raise ScriptedFailure when producing the token with this 0-based index."""
    fail_prompt: str | None = None
    """With ``fail_at``: only generations whose prompt text contains this fail (the rest of
    a batch goes on)."""
    repeat: bool = False
    """Repeat the reply forever (no EOS): for length stops and benchmarks."""
    eos: bool = True
    """End the reply with the EOS token."""
    end_token: str = EOS_TOKEN
    """Which stop token ends the reply (EOS or ChatML's end of turn)."""
    context_length: int = Field(4096, ge=1)
    model_chat_template: str | dict[str, str] | None = CHATML_TEMPLATE
    """The chat template in the model's metadata (None: the model has none)."""
    model_type: str | None = "scripted"
    tool_parser_type: str | None = None
    """Put into tokenizer_config so tool-parser resolution can be tested."""
    name: str = "scripted"
    distribution: dict[int, float] | None = None
    """With temperature > 0: every token is sampled from these token-id weights (seeded by the
    ``seed`` parameter) instead of the reply, endlessly (for sampling and speculation tests)."""

    @field_validator("reply")
    @classmethod
    def _reply_not_empty(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("reply list is empty")
        return value

    @field_validator("end_token")
    @classmethod
    def _known_end(cls, value: str) -> str:
        if value not in (EOS_TOKEN, END_OF_TURN):
            raise ValueError(f"end_token must be {EOS_TOKEN!r} or {END_OF_TURN!r}")
        return value


class ScriptedModel(BackendModel):
    """A BackendModel whose 'forward pass' reads the next token of the script.

    It implements both the runner (the default, ``batching=True``) and ``token_iterator``
    (``batching=False``), so tests cover the core's iterator adapter too."""

    supports_constraints = True
    """Under a constraint the reply is cut into bytes and a mask-respecting sampler picks."""
    vocab_size = 256 + 3
    """What a constraint sees: the 256 bytes and the special tokens (ids below 259)."""

    def __init__(self, options: ScriptedOptions) -> None:
        self.options = options
        self.tokenizer: ScriptedTokenizer = ScriptedTokenizer()
        self.special_token_ids = frozenset(self.tokenizer.special_ids.values())
        self._generation = itertools.count()
        self._lock = threading.Lock()
        config: dict[str, Any] = {"eos_token": EOS_TOKEN}
        if options.tool_parser_type:
            config["tool_parser_type"] = options.tool_parser_type
        self.info = ModelInfo(
            name=options.name,
            backend="scripted",
            model_type=options.model_type,
            chat_template=options.model_chat_template,
            tokenizer_config=config,
            special_tokens={"eos_token": EOS_TOKEN, "bos_token": ""},
            context_length=options.context_length,
        )

    def new_cache(self) -> PromptCache:
        return ScriptedCache()

    def new_batch_runner(self) -> ScriptedBatchRunner:
        """Scripted sequences batch like a real model's: one ``token_delay`` per step."""
        return ScriptedBatchRunner(self)

    def validate(self, prompt: Sequence[int], parameters: GenerationParameters) -> None:
        """Prompt ids must be in the scripted vocabulary (bytes plus the special tokens)."""
        size = self.tokenizer.vocab_size
        bad = [t for t in prompt if not (isinstance(t, int) and 0 <= t < size)]
        if bad:
            raise ValueError(f"prompt token ids outside the vocabulary (size {size}): {bad[:8]}")

    def reply_for(self, prompt_text: str) -> str:
        """The reply text of the next generation."""
        reply = self.options.reply
        if callable(reply):
            return str(reply(prompt_text))
        if isinstance(reply, list):
            with self._lock:
                index = next(self._generation)
            return reply[index % len(reply)]
        return reply

    def reply_ids(self, prompt: Sequence[int]) -> list[int]:
        """The reply of the next generation as token ids (without the end token)."""
        text = self.reply_for(self.tokenizer.decode(prompt))
        cut: Cut = self.options.cut
        return [self.tokenizer.piece_id(piece) for piece in cut_reply(text, cut)]

    def constrained_source(self, ids: Sequence[int], constraint: TokenConstraint) -> Iterator[int]:
        """The reply under a structured-output constraint: cut into bytes, mask-respecting."""
        end_ids = [self.tokenizer.special_ids[self.options.end_token], *sorted(self.tokenizer.eos_token_ids)]
        script = list(self.tokenizer.decode(ids).encode("utf-8"))
        return constrained_tokens(script, constraint, end_ids, repeat=self.options.repeat)

    def token_source(self, prompt: Sequence[int], constraint: TokenConstraint | None,
                     parameters: GenerationParameters) -> Iterator[int]:
        """The ids the next generation for ``prompt`` produces (its end token included)."""
        ids = self.reply_ids(prompt)
        options = self.options
        if constraint is not None:
            return self.constrained_source(ids, constraint)
        if options.distribution is not None and parameters.temperature > 0:
            return DistributionSource(options.distribution, parameters.seed)
        if options.repeat:
            if not ids:
                raise ValueError("repeat=True needs a non-empty reply")
            return itertools.cycle(ids)
        end = [self.tokenizer.special_ids[options.end_token]] if options.eos else []
        return iter(ids + end)

    def fails_for(self, prompt: Sequence[int]) -> bool:
        """Whether the generation for ``prompt`` raises ScriptedFailure at ``fail_at``."""
        options = self.options
        return options.fail_at is not None and (
            options.fail_prompt is None or options.fail_prompt in self.tokenizer.decode(prompt))

    def token_iterator(self, prompt: Sequence[int], parameters: GenerationParameters,
                       cache: PromptCache | None, control: GenerationControl) -> Iterator[int]:
        """The same script one sequence at a time (the core's iterator adapter runs it)."""
        options = self.options
        if cache is not None and not isinstance(cache, ScriptedCache):
            raise TypeError("this cache belongs to another backend")
        cached = 0
        if cache is not None:
            cached = common_prefix_length(cache.tokens, prompt)
            if cached == len(prompt):
                cached -= 1  # at least one token is prefilled so the model has logits
            cache.trim_to(cached)
        todo = list(prompt[cached:])
        step = parameters.prefill_step_size
        for start in range(0, len(todo), step):
            chunk = todo[start:start + step]
            if control.cancelled or not control.sleep(options.prefill_delay * len(chunk)):
                return
            if cache is not None:
                cache.tokens.extend(chunk)
            control.prefill_progress(start + len(chunk), len(todo))
        control.mark_prefill_done(len(todo), cached)

        source = self.token_source(prompt, control.constraint, parameters)
        fails = self.fails_for(prompt)
        previous: int | None = None
        for index, token_id in enumerate(source):
            if previous is not None and cache is not None:
                cache.tokens.append(previous)  # the previous token is now in the KV cache
            if options.token_delay and not control.sleep(options.token_delay):
                return
            if fails and index == options.fail_at:
                raise ScriptedFailure(f"scripted failure at token {index}")
            previous = token_id
            yield token_id


def load_scripted(model: str | None = None, **options: Any) -> ScriptedModel:
    """Build a scripted model; ``model`` is only a name here."""
    if model is not None:
        options.setdefault("name", model)
    return ScriptedModel(ScriptedOptions.parse(options))
