"""What one generation's text needs decided about the model, decided here once and carried.

The tool-call format (and whether calls are parsed at all), the reasoning markers (and whether
the prompt opened reasoning) and the reasoning budget: ``generate`` calls ``decide`` once and
hands the result to the prompt renderer, the decoded pipeline and the constraint builder,
which decide none of it themselves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..hooks import NO_TOOL_PARSER
from ..pipeline import GENERIC_TOOL_FORMAT
from ..protocol import GenerationParameters, LMInput

if TYPE_CHECKING:
    from ..model import ModelInfo, Tokenizer


class GenerationHost(Protocol):
    """What deciding needs of a ``GenerationHost`` (a protocol: the host imports this module)."""

    info: ModelInfo
    plugin_system: Any

    @property
    def reasoning_markers(self) -> tuple[str, str] | None: ...

DEFAULT_MARKERS = ("<think>", "</think>")
KNOWN_REASONING_MARKERS: tuple[tuple[str, str], ...] = (
    DEFAULT_MARKERS,
    ("<seed:think>", "</seed:think>"),
    ("<|START_THINKING|>", "<|END_THINKING|>"),
    ("\u25c1think\u25b7", "\u25c1/think\u25b7"),
)
"""Reasoning formats a model's template or vocabulary can define (DeepSeek-R1/Qwen3, Seed-OSS,
Command R7B, Kimi)."""

DEFAULT_REASONING_BUDGET = 1024
"""Reasoning tokens at most while a constraint waits for the reasoning to close (also at most
half of ``max_tokens``), unless ``reasoning_budget`` says otherwise."""


@dataclass(frozen=True)
class TextDecisions:
    """One generation's decided text settings."""

    tool_format: str | None
    """The tool-call format (a registered parser name) the prompt and constraint use."""
    parse_tool_calls: bool
    """Whether the output goes through that format's parser."""
    reasoning_markers: tuple[str, str] | None
    """The reasoning channel's markers, None when the generation has no reasoning channel."""
    starts_in_reasoning: bool
    """The prompt opened reasoning (a template ending in the start marker)."""
    reasoning_budget: int | None
    """Reasoning tokens at most (None: unbounded)."""


def _template_texts(chat_template: str | Mapping[str, str] | None) -> list[str]:
    if isinstance(chat_template, str):
        return [chat_template]
    if isinstance(chat_template, Mapping):
        return [t for t in chat_template.values() if isinstance(t, str)]
    return []


def _one_token(tokenizer: Tokenizer, marker: str) -> bool:
    """Whether ``marker`` is one token of the vocabulary (an added or special token)."""
    try:
        ids = tokenizer.encode(marker, add_special_tokens=False)
    except Exception:  # a tokenizer that cannot encode the marker does not define it
        return False
    return len(ids) == 1


def model_reasoning_markers(info: ModelInfo, tokenizer: Tokenizer) -> tuple[str, str] | None:
    """The reasoning markers the model defines: its chat template mentions them, or its
    vocabulary has the start marker as one token, or the ``reasoning_markers`` load option
    declares them. None: the model does not reason."""
    declared = info.options.get("reasoning_markers")
    if isinstance(declared, tuple) and len(declared) == 2:
        return (str(declared[0]), str(declared[1]))
    texts = _template_texts(info.chat_template)
    option = info.options.get("chat_template")
    if isinstance(option, str):
        texts.append(option)
    for markers in KNOWN_REASONING_MARKERS:
        if any(markers[0] in t or markers[1] in t for t in texts):
            return markers
    for markers in KNOWN_REASONING_MARKERS:
        if _one_token(tokenizer, markers[0]):
            return markers
    return None


def resolve_tool_format(host: GenerationHost, params: GenerationParameters | None,
                        has_tools: bool, *, required: bool = True) -> str | None:
    """parameters.tool_parser > load option ``tool_parser`` > resolver hooks > the generic
    format (when registered). None when no tools are involved (or 'none' was asked for);
    with ``required`` and no format at all, a ValueError naming the registered parsers."""
    name = (params.tool_parser if params is not None else None) or host.info.options.get("tool_parser")
    if name is None and has_tools:
        registry = host.plugin_system.tool_parsers
        name = host.plugin_system.resolve_tool_parser(host.info)
        if name is None and GENERIC_TOOL_FORMAT in registry:
            name = GENERIC_TOOL_FORMAT
        if name is None and required:
            known = ", ".join(registry.names()) or "none registered"
            raise ValueError(
                f"tools were given but no tool-call parser fits model {host.info.name!r} and the "
                f"generic one is not registered; pass tool_parser (known: {known})")
    if name is None or name == NO_TOOL_PARSER:
        return None
    return str(name)


def _parses(params: GenerationParameters, has_tools: bool) -> bool:
    """Tool calls are parsed when the request declares tools or names a parser, or when
    ``parse_tool_calls`` says so; a 'none' tool_choice never parses them."""
    if params.parse_tool_calls is not None:
        return params.parse_tool_calls
    if params.tool_choice == "none":
        return False
    return has_tools or params.tool_parser is not None


def _reasoning_markers(host: GenerationHost, params: GenerationParameters,
                       lm_input: LMInput) -> tuple[tuple[str, str] | None, bool]:
    asked = params.reasoning_markers
    if asked is None or params.reasoning_channel is False:
        return None, False
    own = host.reasoning_markers
    markers = own if own is not None and asked == DEFAULT_MARKERS else asked
    text = lm_input.text.rstrip() if lm_input.text else ""
    opened = lm_input.starts_in_reasoning or bool(text and text.endswith(markers[0]))
    if params.reasoning_channel is None and own is None and not opened:
        return None, False  # a model without a reasoning format: '<think>' is content
    return markers, opened


def _budget(params: GenerationParameters, markers: tuple[str, str] | None, constrained: bool,
            limit: float) -> int | None:
    if markers is None:
        return None
    if params.reasoning_budget is not None:
        return params.reasoning_budget
    if not constrained or params.constrain_reasoning:
        return None
    budget = DEFAULT_REASONING_BUDGET
    if math.isfinite(limit):
        budget = min(budget, max(1, int(limit) // 2))
    return budget


def _constrained(params: GenerationParameters, tool_format: str | None, has_tools: bool) -> bool:
    """Whether a constraint will wait for the reasoning to close: a response_format, a forced
    tool_choice, or the generic format's lazy call constraint."""
    fmt = params.response_format
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        return True
    if params.tool_choice == "required" or isinstance(params.tool_choice, dict):
        return True
    return tool_format == GENERIC_TOOL_FORMAT and has_tools and params.tool_choice != "none"


def decide(host: GenerationHost, params: GenerationParameters, lm_input: LMInput, *,
           limit: float) -> TextDecisions:
    """Every text decision of one generation (``limit``: its token limit)."""
    has_tools = bool(lm_input.tools)
    parse = _parses(params, has_tools)
    tool_format = resolve_tool_format(host, params, has_tools or parse,
                                      required=has_tools and parse)
    markers, opened = _reasoning_markers(host, params, lm_input)
    constrained = _constrained(params, tool_format, has_tools)
    return TextDecisions(tool_format=tool_format, parse_tool_calls=parse and tool_format is not None,
                         reasoning_markers=markers, starts_in_reasoning=opened,
                         reasoning_budget=_budget(params, markers, constrained, limit))
