"""Properties of the context edits on random histories (``anthropic_history``).

``clear_thinking`` removes thinking only, and keeps it in exactly the last N assistant turns
that had any; ``clear_tool_uses`` changes only the results (and, when asked, inputs) of the
oldest non-excluded tool uses, never the last ``keep``; neither changes the request's turns.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream_server.anthropic_history import (
    CLEARED_RESULT,
    _assistant_turn_ids,
    chat_messages,
    clear_thinking,
    clear_tool_uses,
)
from lmstream_server.anthropic_request import ToolResult, Turn
from lmstream_server.anthropic_wire import (
    ClearThinkingEdit,
    ClearToolUsesEdit,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
)


@st.composite
def histories(draw: Any) -> list[Turn]:
    turns: list[Turn] = []
    calls = 0
    for index in range(draw(st.integers(1, 10))):
        role = draw(st.sampled_from(["user", "assistant", "system"]))
        blocks: list[Any] = []
        if role == "assistant":
            if draw(st.booleans()):
                blocks.append(ThinkingBlock(type="thinking", thinking=f"T{index}"))
            if draw(st.booleans()):
                blocks.append(TextBlock(type="text", text=f"a{index}"))
            for _ in range(draw(st.integers(0, 2))):
                name = draw(st.sampled_from(["read", "bash"]))
                blocks.append(ToolUseBlock(type="tool_use", id=f"c{calls}", name=name, input={"i": calls}))
                calls += 1
        elif role == "user" and calls and draw(st.booleans()):
            blocks = [ToolResult(f"c{calls - 1}", f"R{calls - 1}")]
        else:
            blocks = [TextBlock(type="text", text=f"u{index}")]
        turns.append(Turn(role, blocks, f"messages[{index}]"))
    return turns


@settings(max_examples=300, deadline=None)
@given(turns=histories(), keep=st.one_of(st.integers(0, 4), st.just("all")))
def test_clear_thinking_keeps_the_last_turns_only(turns: list[Turn], keep: Any) -> None:
    before = copy.deepcopy(turns)
    edit = ClearThinkingEdit.model_validate({"type": "clear_thinking_20251015", "keep": keep if keep == "all" else
                                             {"type": "thinking_turns", "value": keep}})
    out, cleared = clear_thinking(turns, edit)
    assert turns == before
    ids = _assistant_turn_ids(turns)
    had = sorted({ids[i] for i, t in enumerate(turns) if any(isinstance(b, ThinkingBlock) for b in t.blocks)})
    has = sorted({ids[i] for i, t in enumerate(out) if any(isinstance(b, ThinkingBlock) for b in t.blocks)})
    assert has == (had if keep == "all" else had[max(0, len(had) - keep):] if keep else [])
    assert cleared == len(had) - len(has)
    for old, new in zip(turns, out, strict=True):
        assert [b for b in old.blocks if not isinstance(b, ThinkingBlock)] == \
            [b for b in new.blocks if not isinstance(b, ThinkingBlock)]
    chat_messages(["sys"], out)  # renders to valid chat messages
    chat_messages([], out, fold_system=True)


@settings(max_examples=300, deadline=None)
@given(turns=histories(), keep=st.integers(0, 4), exclude=st.sampled_from([[], ["read"]]), inputs=st.booleans())
def test_clear_tool_uses_spares_the_last_and_excluded(turns: list[Turn], keep: int, exclude: list[str],
                                                      inputs: bool) -> None:
    before = copy.deepcopy(turns)
    edit = ClearToolUsesEdit.model_validate({"type": "clear_tool_uses_20250919", "keep": {
        "type": "tool_uses", "value": keep}, "exclude_tools": exclude, "clear_tool_inputs": inputs})
    out, cleared = clear_tool_uses(turns, edit)
    assert turns == before
    uses = [b for t in turns for b in t.blocks if isinstance(b, ToolUseBlock) and b.name not in exclude]
    spared = {u.id for u in uses[max(0, len(uses) - keep):]} if keep else set()
    assert cleared == len(uses) - len(spared)
    cleared_ids = {u.id for u in uses} - spared
    for old, new in zip(turns, out, strict=True):
        for a, b in zip(old.blocks, new.blocks, strict=True):
            if isinstance(a, ToolResult):
                assert b.text == (CLEARED_RESULT if a.tool_use_id in cleared_ids else a.text)
            elif isinstance(a, ToolUseBlock):
                assert b.input == ({} if inputs and a.id in cleared_ids else a.input)
            else:
                assert a == b
