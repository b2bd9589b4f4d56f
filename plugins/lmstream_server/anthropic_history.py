"""An Anthropic conversation as chat messages: context edits, system turns, tool turns.

``clear_thinking`` and ``clear_tool_uses`` apply the ``context_management`` edits the API
defines (on copies: the request is never changed). ``chat_messages`` turns the typed turns
into the OpenAI-shaped ``ChatMessage`` list templates render: ``tool_use`` blocks become an
assistant's ``tool_calls``, ``tool_result`` blocks ``tool`` messages, ``thinking`` blocks its
``reasoning_content``, and ``role: "system"`` entries either system turns or (``fold_system``)
text put in front of the next user turn, for templates that allow no system turn there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lmstream import ChatMessage

from .anthropic_request import Block, ToolResult, Turn
from .anthropic_wire import (
    ClearThinkingEdit,
    ClearToolUsesEdit,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
)

CLEARED_RESULT = "[tool result cleared to save context]"
"""What a cleared ``tool_result`` reads (the API replaces it with placeholder text too)."""
DEFAULT_TRIGGER_TOKENS = 100_000
DEFAULT_KEEP_TOOL_USES = 3


def _assistant_turn_ids(turns: list[Turn]) -> list[int]:
    """For each turn, which assistant turn it belongs to (-1 for none).

    An assistant turn runs from an assistant message through the tool-result-only user
    messages that continue it, as the API counts turns for thinking.
    """
    ids: list[int] = []
    current = -1
    open_turn = False
    for turn in turns:
        if turn.role == "assistant":
            if not open_turn:
                current += 1
                open_turn = True
            ids.append(current)
        elif turn.role == "user" and all(isinstance(b, ToolResult) for b in turn.blocks) and turn.blocks:
            ids.append(current if open_turn else -1)
        else:
            if turn.role == "user":
                open_turn = False
            ids.append(-1)
    return ids


def clear_thinking(turns: list[Turn], edit: ClearThinkingEdit) -> tuple[list[Turn], int]:
    """Thinking kept only in the last ``keep.value`` assistant turns that have any (or all)."""
    if edit.keep == "all":
        return turns, 0
    keep = 1 if edit.keep is None else edit.keep.value
    ids = _assistant_turn_ids(turns)
    thinking_turns = sorted({ids[i] for i, turn in enumerate(turns) if ids[i] >= 0 and any(
        isinstance(b, ThinkingBlock | RedactedThinkingBlock) for b in turn.blocks)})
    kept = set(thinking_turns[max(0, len(thinking_turns) - keep):]) if keep else set()
    cleared = set(thinking_turns) - kept
    if not cleared:
        return turns, 0
    out = [replace(turn, blocks=[b for b in turn.blocks if not isinstance(b, ThinkingBlock | RedactedThinkingBlock)])
           if ids[index] in cleared else turn for index, turn in enumerate(turns)]
    return out, len(cleared)


def tool_use_count(turns: list[Turn]) -> int:
    """How many ``tool_use`` blocks the history holds."""
    return sum(isinstance(b, ToolUseBlock) for turn in turns for b in turn.blocks)


def clear_tool_uses_triggered(edit: ClearToolUsesEdit, input_tokens: int, turns: list[Turn]) -> bool:
    """Whether the history is past the edit's trigger (input tokens, or tool uses)."""
    trigger = edit.trigger
    if trigger is not None and trigger.type == "tool_uses":
        return tool_use_count(turns) > trigger.value
    return input_tokens > (trigger.value if trigger is not None else DEFAULT_TRIGGER_TOKENS)


def clear_tool_uses(turns: list[Turn], edit: ClearToolUsesEdit) -> tuple[list[Turn], int]:
    """The oldest tool results (all but the last ``keep``, excluded tools spared) replaced."""
    keep = DEFAULT_KEEP_TOOL_USES if edit.keep is None else edit.keep.value
    excluded = set(edit.exclude_tools or ())
    uses = [b for turn in turns for b in turn.blocks if isinstance(b, ToolUseBlock) and b.name not in excluded]
    clear = {use.id for use in uses[:max(0, len(uses) - keep)]}
    if not clear:
        return turns, 0

    def edited(block: Block) -> Block:
        if isinstance(block, ToolResult) and block.tool_use_id in clear:
            return ToolResult(block.tool_use_id, CLEARED_RESULT, block.is_error)
        if edit.clear_tool_inputs and isinstance(block, ToolUseBlock) and block.id in clear:
            return block.model_copy(update={"input": {}})
        return block

    return [replace(turn, blocks=[edited(b) for b in turn.blocks]) for turn in turns], len(clear)


def _merge(messages: list[ChatMessage], message: ChatMessage) -> None:
    """Append ``message``; consecutive user (or plain assistant) turns become one, as the API reads them."""
    last = messages[-1] if messages else None
    mergeable = last is not None and last.role == message.role and message.role in ("user", "assistant") \
        and isinstance(last.content, str | None) and isinstance(message.content, str | None) \
        and not last.tool_calls
    if not mergeable or last is None:
        messages.append(message)
        return
    texts = [t for t in (last.content, message.content) if isinstance(t, str) and t]
    reasoning = [t for t in (last.reasoning_content, message.reasoning_content) if t]
    messages[-1] = ChatMessage(role=message.role, content="\n\n".join(texts) if texts else None,
                               tool_calls=message.tool_calls,
                               reasoning_content="\n\n".join(reasoning) if reasoning else None)


def join_blocks(texts: list[str]) -> str:
    """Text blocks of one message as one text: a newline between two that would otherwise touch."""
    out = ""
    for text in texts:
        if out and text and not out[-1].isspace() and not text[0].isspace():
            out += "\n"
        out += text
    return out


def _text(blocks: list[Block]) -> str:
    return join_blocks([b.text for b in blocks if isinstance(b, TextBlock)])


def chat_messages(system: list[str], turns: list[Turn], *, fold_system: bool = False) -> list[ChatMessage]:
    """The chat messages a template renders (see the module docstring)."""
    messages: list[ChatMessage] = []
    head = [join_blocks(system)] if system else []
    index = 0
    while index < len(turns) and turns[index].role == "system":  # leading system turns join the system prompt
        head.append(_text(turns[index].blocks))
        index += 1
    if head:
        messages.append(ChatMessage(role="system", content="\n\n".join(t for t in head if t)))
    pending: list[str] = []
    for turn in turns[index:]:
        if turn.role == "system":
            text = _text(turn.blocks)
            if fold_system:
                pending.append(text)
            else:
                messages.append(ChatMessage(role="system", content=text))
        elif turn.role == "assistant":
            _add_assistant(messages, turn.blocks)
        else:
            _add_user(messages, turn.blocks, pending)
            pending = []
    if pending:
        _merge(messages, ChatMessage(role="user", content="\n\n".join(pending)))
    return messages


def _add_user(messages: list[ChatMessage], blocks: list[Block], pending: list[str]) -> None:
    texts: list[str] = []
    for block in blocks:
        if isinstance(block, ToolResult):
            if texts:
                _merge(messages, ChatMessage(role="user", content=join_blocks(texts)))
                texts = []
            messages.append(ChatMessage(role="tool", tool_call_id=block.tool_use_id, content=block.text))
        elif isinstance(block, TextBlock):
            texts.append(block.text)
    if texts or (pending and not any(isinstance(b, ToolResult) for b in blocks)):
        _merge(messages, ChatMessage(role="user", content="\n\n".join([*pending, join_blocks(texts)])
                                     if pending else join_blocks(texts)))
    elif pending:
        _merge(messages, ChatMessage(role="user", content="\n\n".join(pending)))


def _add_assistant(messages: list[ChatMessage], blocks: list[Block]) -> None:
    texts = [b.text for b in blocks if isinstance(b, TextBlock)]
    thinking = [b.thinking for b in blocks if isinstance(b, ThinkingBlock)]
    calls: list[dict[str, Any]] = [{"id": b.id, "type": "function", "function": {"name": b.name, "arguments": b.input}}
                                   for b in blocks if isinstance(b, ToolUseBlock)]
    if not (texts or thinking or calls):
        return
    _merge(messages, ChatMessage(role="assistant", content="".join(texts) if texts or not calls else None,
                                 tool_calls=calls or None,
                                 reasoning_content="".join(thinking) if thinking else None))
