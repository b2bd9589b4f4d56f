"""The sampling fields chat and completions share, and their conversion to parameter values.

``SamplingFields`` is strict (``WireModel``): a boolean, string or float where a number or a
flag belongs is a 400 naming the field. Checks the core's ``GenerationParameters`` owns
(empty stop strings, ``top_logprobs`` without ``logprobs``, token id ranges) are not repeated
here: ``parameters.core_parameters`` turns the core's error into a 400 naming the HTTP field. What is
checked here is what only the HTTP API defines: its ranges (``temperature`` up to 2, bias
values within +-100), ``logit_bias`` keys as decimal token ids of this model's vocabulary,
``n`` within the server's limit and the count limits of lists.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from .errors import APIError, bad_request
from .parameters import ServerDefaults, given, stop_strings, vocab_limit
from .wire import WireModel, check_count

__all__ = ["SamplingFields", "StreamOptions", "logit_bias_values", "vocab_limit"]

TOKEN_ID_KEY = re.compile(r"[0-9]{1,10}")
"""A ``logit_bias`` key: ASCII decimal digits only (``"²"`` is a digit to ``str.isdigit``)."""


class StreamOptions(WireModel):
    """``stream_options`` (``include_obfuscation`` is accepted: there is nothing to obfuscate)."""

    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class SamplingFields(WireModel):
    """Fields shared by /v1/chat/completions and /v1/completions (``null`` means absent)."""

    model: str
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(1, ge=1)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    """Informational (an end-user id); accepted and not used."""
    metadata: dict[str, str] | None = None
    """Accepted and not used (nothing is stored)."""
    service_tier: str | None = None
    """Accepted; this server has one tier."""
    prompt_cache_key: str | None = None
    """Accepted: the prompt cache matches prefixes by content, whatever the key."""
    prompt_cache_retention: str | None = None
    """Accepted; the prompt cache has its own bounds."""
    safety_identifier: str | None = None
    """Accepted and not used."""

    def sampling(self, defaults: ServerDefaults, default_max_tokens: int | None = None) -> dict[str, Any]:
        """The core parameters the shared fields give (``None``: absent), after the checks only
        HTTP defines: ``n`` within the server's limit, list counts, ``logit_bias`` keys and values."""
        if self.stream_options is not None and not self.streaming:
            raise APIError(400, "stream_options needs stream: true", param="stream_options", code="invalid_value")
        if self.choices > defaults.max_n:
            raise bad_request(f"n is {self.choices}; this server allows at most {defaults.max_n}", "n")
        bias = None
        if self.logit_bias:
            check_count(self.logit_bias, defaults.wire.max_logit_bias, "logit_bias")
            bias = logit_bias_values(self.logit_bias, defaults.vocab)
        return given(max_tokens=self.max_tokens or default_max_tokens or defaults.max_tokens,
                     temperature=self.temperature, top_p=self.top_p, top_k=self.top_k, min_p=self.min_p,
                     repetition_penalty=self.repetition_penalty, seed=self.seed,
                     presence_penalty=self.presence_penalty, frequency_penalty=self.frequency_penalty,
                     stop=stop_strings(self.stop, defaults.wire, "stop"), logit_bias=bias)

    @property
    def choices(self) -> int:
        """``n`` (1 when null)."""
        return self.n or 1

    @property
    def streaming(self) -> bool:
        """``stream`` (False when null)."""
        return bool(self.stream)


def logit_bias_values(raw: dict[str, float], vocab: int | None) -> dict[int, float]:
    """``logit_bias`` with token-id keys of this model's vocabulary and values within +-100."""
    bias: dict[int, float] = {}
    for key, value in raw.items():
        if not TOKEN_ID_KEY.fullmatch(key):
            raise bad_request(f"logit_bias keys are token ids (decimal digits), got {key!r}", "logit_bias")
        token = int(key)
        if vocab is not None and token >= vocab:
            raise bad_request(f"logit_bias key {token} is outside this model's vocabulary (size {vocab})",
                              "logit_bias")
        if not -100.0 <= value <= 100.0:
            raise bad_request(f"logit_bias values are between -100 and 100, got {value}", "logit_bias")
        bias[token] = value
    return bias


