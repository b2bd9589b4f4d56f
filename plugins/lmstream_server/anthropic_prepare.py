"""From a checked Anthropic request to a tokenized prompt and GenerationParameters (on a worker).

``prepare_messages`` / ``prepare_count`` run the whole request-sized CPU part of a request
on one worker thread: parsing (``anthropic_request``), the context edits and the conversion
(``anthropic_history``), the template and the tokenizer, and the parameters (whose schema
checks are the expensive part of structured output). Mapping, in one place:

- ``thinking`` enabled / adaptive -> ``enable_thinking=True``; disabled -> ``False``;
  ``budget_tokens`` (or, without one, ``output_config.effort``) -> ``reasoning_budget``
  when the core has that parameter. A model without reasoning accepts it and produces none.
- ``tool_choice`` auto / any / tool / none -> ``tool_choice`` auto / required / the named
  function / no tools; ``disable_parallel_tool_use`` keeps the first call only.
- ``output_config.format`` (or the older top-level ``output_format``) -> a JSON-schema
  ``response_format``.
- ``role: "system"`` turns render as system turns; when the template refuses them or leaves
  them out, they are folded into the next user turn.
- A last assistant turn of text only is a prefill: the prompt ends with it and the answer
  continues it (the answer holds only the continuation, as the API's does).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from lmstream import (
    ChatTemplateOptions,
    GenerationParameters,
    LMInput,
    TemplateError,
    UnknownNameError,
    UserInput,
)

from .anthropic_history import (
    chat_messages,
    clear_thinking,
    clear_tool_uses,
    clear_tool_uses_triggered,
    join_blocks,
)
from .anthropic_request import Parsed, Turn, parse_request
from .anthropic_wire import (
    ClearThinkingEdit,
    ClearToolUsesEdit,
    CountTokensRequest,
    MessagesRequest,
    TextBlock,
)
from .chat_request import tool_specs
from .errors import APIError, bad_request, from_validation, unsupported
from .parameters import server_defaults
from .state import ServedModel, ServerState

EFFORT_BUDGET = {"low": 0.25, "medium": 0.5}
"""``output_config.effort`` -> reasoning budget as a share of ``max_tokens`` (higher: no budget)."""


@dataclass
class Prepared:
    """What a /v1/messages request runs: the prompt, the parameters and the answer's options."""

    request: CountTokensRequest
    served: ServedModel
    lm_input: LMInput
    params: GenerationParameters | None
    single_tool_call: bool = False


def _render_input(served: ServedModel, user_input: Any) -> LMInput:
    """Template and tokenize ``user_input()`` (built here, so its validation errors are 400s too)."""
    try:
        return served.context.prepare(user_input())
    except ValidationError as exc:
        raise from_validation(exc) from None
    except (UnknownNameError, TemplateError, ValueError, TypeError) as exc:
        raise APIError(400, str(exc), code="invalid_request") from None


def _render(served: ServedModel, parsed: Parsed, turns: list[Turn], tools: Any,
            options: ChatTemplateOptions) -> LMInput:
    """The prompt; ``system`` turns inside the conversation folded when the template cannot show them."""
    def build(fold: bool) -> Any:
        return lambda: UserInput(messages=chat_messages(parsed.system, turns, fold_system=fold), tools=tools,
                                 template_options=options)

    first = next((i for i, t in enumerate(turns) if t.role != "system"), len(turns))
    inner = [join_blocks([b.text for b in t.blocks if isinstance(b, TextBlock)])
             for t in turns[first:] if t.role == "system"]
    if not inner:
        return _render_input(served, build(False))
    try:
        lm_input = _render_input(served, build(False))
        if lm_input.text is None or all(text in lm_input.text for text in inner):
            return lm_input
    except APIError:
        pass
    return _render_input(served, build(True))


def _prefill(turns: list[Turn]) -> tuple[list[Turn], str]:
    """A last assistant turn of text only is a prefill: the answer continues it (as the API does)."""
    if not turns or turns[-1].role != "assistant" or not turns[-1].blocks \
            or not all(isinstance(b, TextBlock) for b in turns[-1].blocks):
        return turns, ""
    text = join_blocks([b.text for b in turns[-1].blocks if isinstance(b, TextBlock)])
    if text != text.rstrip():
        raise bad_request("final assistant content cannot end with trailing whitespace",
                          f"{turns[-1].where}.content", code="invalid_value")
    if len(turns) == 1:
        raise bad_request("messages: the only message is an assistant prefill; a user message must come "
                          "before it", "messages", code="invalid_value")
    return turns[:-1], text


def _continued(served: ServedModel, lm_input: LMInput, prefill: str) -> LMInput:
    """The prompt followed by the prefill (tokenized together, so the boundary is tokenized as text)."""
    if not prefill:
        return lm_input
    if lm_input.text is None:
        return replace(lm_input, tokens=(*lm_input.tokens, *served.context.tokenizer.encode(
            prefill, add_special_tokens=False)))
    text = lm_input.text + prefill
    return replace(lm_input, tokens=tuple(served.context.tokenizer.encode(text, add_special_tokens=False)), text=text)


def _with_edits(served: ServedModel, parsed: Parsed, tools: Any, options: ChatTemplateOptions) -> LMInput:
    """Apply ``context_management`` edits (thinking first, then tool results past their trigger)."""
    turns, prefill = _prefill(parsed.turns)
    return _continued(served, _edited(served, parsed, turns, tools, options), prefill)


def _edited(served: ServedModel, parsed: Parsed, turns: list[Turn], tools: Any,
            options: ChatTemplateOptions) -> LMInput:
    """The prompt of ``turns`` after the edits (a tool-result edit only when past its trigger)."""
    for edit in parsed.edits:
        if isinstance(edit, ClearThinkingEdit):
            turns, _ = clear_thinking(turns, edit)
    lm_input = _render(served, parsed, turns, tools, options)
    for edit in parsed.edits:
        if isinstance(edit, ClearToolUsesEdit) and clear_tool_uses_triggered(edit, len(lm_input.tokens), turns):
            cleared, count = clear_tool_uses(turns, edit)
            if not count:
                continue
            smaller = _render(served, parsed, cleared, tools, options)
            at_least = edit.clear_at_least
            if at_least is None or len(lm_input.tokens) - len(smaller.tokens) >= at_least.value:
                # (the API skips an edit that would free less than clear_at_least)
                turns, lm_input = cleared, smaller
    return lm_input


def _tool_values(parsed: Parsed) -> tuple[Any, dict[str, Any], bool]:
    """Tool specs, the tool_choice parameter values, and whether only one call is kept."""
    specs = None
    if parsed.tools is not None:
        try:
            specs = tool_specs([{"type": "function", "function": {
                "name": tool.name, "description": tool.description or "", "parameters": tool.input_schema,
                **({"strict": True} if tool.strict else {})}} for tool in parsed.tools])
        except APIError as error:  # named as the OpenAI shape it was checked in: name the Anthropic field
            param = (error.param or "tools").replace(".function.", ".").replace(".parameters", ".input_schema")
            error.param, error.message = param, f"{param}: {error.message}"
            raise
    choice = parsed.tool_choice
    if choice is None:
        return specs, {}, False
    single = bool(choice.disable_parallel_tool_use)
    if choice.type == "none":
        return None, {"tool_parser": "none"}, False
    if choice.type == "auto":
        return specs, {}, single
    if not specs:
        raise bad_request(f"tool_choice.type {choice.type!r} needs tools", "tool_choice.type", code="invalid_value")
    if choice.type == "tool":
        if not choice.name:
            raise bad_request("tool_choice.name: Field required", "tool_choice.name", code="invalid_value")
        if choice.name not in {spec.name for spec in specs}:
            raise bad_request(f"tool_choice.name {choice.name!r} is not one of the tools", "tool_choice.name",
                              code="invalid_value")
    value: Any = "required" if choice.type == "any" else {"type": "function", "function": {"name": choice.name}}
    return specs, {"tool_choice": value}, single


def _thinking(parsed: Parsed, max_tokens: int | None) -> tuple[ChatTemplateOptions, int | None]:
    """Template options and the reasoning budget from ``thinking`` and ``output_config.effort``."""
    thinking = parsed.thinking
    if thinking is None:
        return ChatTemplateOptions(), None
    if thinking.type == "disabled":
        return ChatTemplateOptions(enable_thinking=False), None
    budget = thinking.budget_tokens
    if max_tokens is not None and budget is not None and budget >= max_tokens:
        raise bad_request(f"`max_tokens` must be greater than `thinking.budget_tokens` ({budget})",
                          "thinking.budget_tokens", code="invalid_value")
    config = parsed.request.output_config
    effort = config.effort if config is not None else None
    if budget is None and max_tokens is not None and effort in EFFORT_BUDGET:
        budget = max(1, int(max_tokens * EFFORT_BUDGET[effort]))
    return ChatTemplateOptions(enable_thinking=True), budget


def prepare_count(state: ServerState, body: dict[str, Any]) -> int:
    """/v1/messages/count_tokens: the rendered prompt's token count."""
    limits = state.limits
    parsed = parse_request(CountTokensRequest, body, limits.wire, limits.keep_billing_header)
    served = state.model(parsed.request.model)
    specs, _, _ = _tool_values(parsed)
    options, _ = _thinking(parsed, None)
    return len(_with_edits(served, parsed, specs, options).tokens)


def prepare_messages(state: ServerState, body: dict[str, Any]) -> Prepared:
    """/v1/messages: the served model, the prompt and the parameters of its one generation."""
    limits = state.limits
    parsed = parse_request(MessagesRequest, body, limits.wire, limits.keep_billing_header)
    request = parsed.request
    served = state.model(request.model)
    assert isinstance(request, MessagesRequest)
    if request.container is not None:
        raise unsupported("container", "this server runs no code-execution containers")
    specs, values, single = _tool_values(parsed)
    options, budget = _thinking(parsed, request.max_tokens)
    params = request.to_parameters(server_defaults(state, served), values, budget)
    lm_input = _with_edits(served, parsed, specs, options)
    return Prepared(request, served, lm_input, params, single)
