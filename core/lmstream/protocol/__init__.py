"""The stream protocol and what flows across it: events, parameters, inputs, results, stats,
and the streams a caller iterates. Depends on nothing else in lmstream (errors aside)."""

from __future__ import annotations

from ._bounds import (
    DEFAULT_LIMITS,
    check_grammar_bounds,
    check_pattern_bounds,
    check_schema_bounds,
    set_structured_limits,
    structured_limits,
)
from ._events import (
    Channel,
    Chunk,
    Event,
    Info,
    RejectedToolCall,
    StopReason,
    TextEvent,
    Token,
    TokenEvent,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    fast_frozen_init,
    frozen_factory,
    new_chunk,
    new_token,
)
from ._inputs import ChatMessage, ChatTemplateOptions, LMInput, ToolSpec, UserInput, coerce_tools
from ._limits import StructuredLimits
from ._parameters import GenerationParameters, resolve_parameters
from ._result import GenerationResult, collect_result
from ._stats import GenerationStats
from ._streams import EventChannel, EventStream, GenerationTask
from ._structured import ConstraintSpec, constraint_spec, parse_response
from ._timing import TimingRecorder
from ._validation import (
    check_backend_name,
    check_count,
    check_generation_call,
    check_path,
    check_text,
    check_token_id,
    checked_token_ids,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Channel",
    "ChatMessage",
    "ChatTemplateOptions",
    "Chunk",
    "ConstraintSpec",
    "Event",
    "EventChannel",
    "EventStream",
    "GenerationParameters",
    "GenerationResult",
    "GenerationStats",
    "GenerationTask",
    "Info",
    "LMInput",
    "RejectedToolCall",
    "StopReason",
    "StructuredLimits",
    "TextEvent",
    "TimingRecorder",
    "Token",
    "TokenEvent",
    "TokenLogprob",
    "ToolCall",
    "ToolCallDelta",
    "ToolSpec",
    "UserInput",
    "check_backend_name",
    "check_count",
    "check_generation_call",
    "check_grammar_bounds",
    "check_path",
    "check_pattern_bounds",
    "check_schema_bounds",
    "check_text",
    "check_token_id",
    "checked_token_ids",
    "coerce_tools",
    "collect_result",
    "constraint_spec",
    "fast_frozen_init",
    "frozen_factory",
    "new_chunk",
    "new_token",
    "parse_response",
    "resolve_parameters",
    "set_structured_limits",
    "structured_limits",
]
