"""The scripted model: answers every prompt with a scripted reply, token by token."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lmstream import (
    BackendModel,
    BatchRunner,
    GenerationControl,
    GenerationParameters,
    ListPromptCache,
    ModelInfo,
    PromptCache,
    common_prefix_length,
)

from .constrained import constrained_tokens
from .cutting import Cut, cut_reply
from .tokenizer import END_OF_TURN, EOS_TOKEN, ScriptedTokenizer
from .verify import DistributionSource

CHATML_TEMPLATE = (
    "{#- a reasoning model: a reply may open with <think>...</think> -#}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + (message['content'] or '') + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""The scripted model's default chat template (ChatML, as SmolLM2 and Qwen use); its comment
declares the ``<think>`` reasoning format, so the core opens the reasoning channel for it."""


class ScriptedFailure(RuntimeError):
    """Raised by the scripted model at ``fail_at``, to test error handling."""


class ScriptedOptions(BaseModel):
    """Load options of the scripted backend (unknown options are an error naming them)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    reply: str | list[str] | Callable[[str], str] = "Hello from the scripted model."
    """The reply; a list gives successive generations successive replies (cycling);
    a callable gets the prompt text."""
    cut: Any = "chars"
    """How replies are cut into tokens: 'chars', 'bytes', 'words', int bytes, offsets, callable."""
    token_delay: float = Field(0.0, ge=0.0)
    """Seconds before each generated token."""
    prefill_delay: float = Field(0.0, ge=0.0)
    """Seconds per prompt token prefilled (cancellable between prefill chunks)."""
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


class ScriptedCache(ListPromptCache):
    """The scripted 'KV cache': just the token ids the model has seen."""


class ScriptedModel(BackendModel):
    """A BackendModel whose 'forward pass' reads the next token of the script."""

    supports_constraints = True
    """Under a constraint the reply is cut into bytes and a mask-respecting sampler picks."""
    vocab_size = 256 + 3
    """What a constraint sees: the 256 bytes and the special tokens (ids below 259)."""

    def __init__(self, options: ScriptedOptions) -> None:
        self.options = options
        self.tokenizer: ScriptedTokenizer = ScriptedTokenizer()
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

    def new_batch_runner(self) -> BatchRunner:
        """Scripted sequences batch like a real model's: one ``token_delay`` per step."""
        from .batch import ScriptedBatchRunner

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

    def constrained_source(self, ids: Sequence[int], constraint: Any) -> Iterator[int]:
        """The reply under a structured-output constraint: cut into bytes, mask-respecting."""
        end_ids = [self.tokenizer.special_ids[self.options.end_token], *sorted(self.tokenizer.eos_token_ids)]
        script = list(self.tokenizer.decode(ids).encode("utf-8"))
        return constrained_tokens(script, constraint, end_ids, repeat=self.options.repeat)

    def token_iterator(self, prompt: Sequence[int], parameters: GenerationParameters,
                       cache: PromptCache | None, control: GenerationControl) -> Iterator[int]:
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

        ids = self.reply_ids(prompt)
        if control.constraint is not None:
            source: Iterator[int] = self.constrained_source(ids, control.constraint)
        elif options.distribution is not None and parameters.temperature > 0:
            source = DistributionSource(options.distribution, parameters.seed)
        elif options.repeat:
            if not ids:
                raise ValueError("repeat=True needs a non-empty reply")
            source = itertools.cycle(ids)
        else:
            end = [self.tokenizer.special_ids[options.end_token]] if options.eos else []
            source = iter(ids + end)
        previous: int | None = None
        for index, token_id in enumerate(source):
            if previous is not None and cache is not None:
                cache.tokens.append(previous)  # the previous token is now in the KV cache
            if options.token_delay and not control.sleep(options.token_delay):
                return
            if options.fail_at is not None and index == options.fail_at and (
                    options.fail_prompt is None or options.fail_prompt in self.tokenizer.decode(prompt)):
                raise ScriptedFailure(f"scripted failure at token {index}")
            previous = token_id
            yield token_id


def load_scripted(model: str | None = None, **options: Any) -> ScriptedModel:
    """Build a scripted model; ``model`` is only a name here."""
    if model is not None:
        options.setdefault("name", model)
    return ScriptedModel(ScriptedOptions(**options))
