"""What every request model's ``to_parameters`` shares: server defaults, stop strings, and the
one place a core validation error is turned into a 400 naming the field the client wrote.

Request models convert themselves (``ChatRequest.to_parameters``, ``CompletionRequest``,
``ResponsesRequest``, ``MessagesRequest``): each builds the core's ``GenerationParameters``
from its own fields and states, in ``fields``, which request field each core parameter came
from. The core's checks (empty stop strings, ``top_logprobs`` without ``logprobs``, ranges,
schemas) are the only ones: ``core_parameters`` validates once and names the request field
of the first error, in the route's own spelling (``max_completion_tokens``,
``stop_sequences[0]``, ``output_config.format``). What only HTTP defines (count limits of
lists, a route's own ranges) is checked here or in the request model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from lmstream import GenerationParameters

from .errors import APIError, from_validation
from .wire import WireLimits, check_count

if TYPE_CHECKING:
    from .state import ServedModel, ServerState


def parameters_supported(name: str) -> bool:
    """Whether the core's GenerationParameters knows ``name``."""
    return name in GenerationParameters.model_fields


@dataclass(frozen=True)
class ServerDefaults:
    """What a request model needs from the server to convert itself."""

    max_tokens: int
    """``max_tokens`` of a request that gives none."""
    wire: WireLimits = field(default_factory=WireLimits)
    """Count limits of request lists (stop sequences, logit_bias entries)."""
    max_n: int = 8
    """Choices per request at most."""
    vocab: int | None = None
    """The served model's vocabulary size (``logit_bias`` keys must be below it), if known."""


def vocab_limit(tokenizer: Any) -> int | None:
    """The number of token ids a tokenizer knows (added tokens included), or None if unknown."""
    sizes = [getattr(tokenizer, "vocab_size", None)]
    try:
        sizes.append(len(tokenizer))
    except TypeError:
        pass
    known = [size for size in sizes if isinstance(size, int) and not isinstance(size, bool) and size > 0]
    return max(known) if known else None


def server_defaults(state: ServerState, served: ServedModel, max_tokens: int | None = None) -> ServerDefaults:
    """The defaults of ``state``'s limits for a request to ``served`` (``max_tokens``: a route's own
    default instead of the server's, e.g. 16 for legacy completions)."""
    limits = state.limits
    return ServerDefaults(max_tokens=max_tokens or limits.max_tokens_default, wire=limits.wire, max_n=limits.max_n,
                          vocab=vocab_limit(served.context.tokenizer))


def stop_strings(value: str | list[str] | None, wire: WireLimits, param: str) -> tuple[str, ...] | None:
    """A request's stop sequences as the core's tuple, within the count limit (a 400 naming
    ``param`` beyond it; empty strings are the core's to refuse)."""
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    check_count(stops, wire.max_stop_sequences, param)
    return tuple(stops)


INTERNAL_PARAMETERS = frozenset({"tool_parser", "reasoning_markers", "stream_tool_calls", "constrain_reasoning",
                                 "constraint_engine", "prefill_step_size", "max_kv_size", "kv_bits",
                                 "kv_group_size", "quantized_kv_start", "repetition_context_size",
                                 "presence_context_size", "frequency_context_size", "stop_token_ids",
                                 "reasoning_channel", "parse_tool_calls", "speculative"})
"""Core parameters no HTTP request sets (never named as the field at fault)."""
PARAMETER_NAMES = re.compile(r"\b(" + "|".join(sorted(
    (set(GenerationParameters.model_fields) - INTERNAL_PARAMETERS) | {"tools", "messages"},
    key=len, reverse=True)) + r")\b")
"""Finds the field a core error message is about (model-level checks carry no location)."""
def request_field(param: str, fields: Mapping[str, str] | None) -> str:
    """A core location (``stop[0]``, ``response_format.json_schema.schema``) in the request's
    spelling: its longest prefix found in ``fields`` (core path -> request path) translated,
    the rest kept."""
    for core in sorted(fields or (), key=len, reverse=True):
        if param == core or param.startswith((core + ".", core + "[")):
            return (fields or {})[core] + param[len(core):]
    return param


def core_param(error: APIError, fields: Mapping[str, str] | None = None) -> APIError:
    """``error`` naming the request field: the core's location, else the first parameter its
    message names, translated through ``fields``. The message names the request field too
    (the Anthropic error shape has no ``param``)."""
    if error.param is None:
        found = PARAMETER_NAMES.search(error.message)
        if found is not None:
            error.param = found.group(1)
    if error.param is not None:
        renamed = request_field(error.param, fields)
        if renamed != error.param:
            error.message = error.message.replace(error.param, renamed, 1)
            if renamed not in error.message:
                error.message = f"{renamed}: {error.message}"
            error.param = renamed
    return error


def given(**values: Any) -> dict[str, Any]:
    """The values a request gave (``None`` is absent: the core's default applies)."""
    return {name: value for name, value in values.items() if value is not None}


def core_parameters(values: Mapping[str, Any], fields: Mapping[str, str] | None = None) -> GenerationParameters:
    """GenerationParameters from ``values``; an invalid one is a 400 naming the request field
    (``fields``: core path -> request path, e.g. ``max_tokens`` -> ``max_completion_tokens``).

    A schema too deep for the core's recursive checks is a 400 on the format's field, never a 500.
    """
    try:
        return GenerationParameters(**values)
    except ValidationError as exc:
        raise core_param(from_validation(exc), fields) from None
    except (ValueError, TypeError) as exc:  # a check outside pydantic's error wrapping
        raise core_param(APIError(400, str(exc), code="invalid_value"), fields) from None
    except RecursionError:
        raise core_param(APIError(400, "response_format: the schema nests too deeply", param="response_format",
                                  code="invalid_value"), fields) from None
