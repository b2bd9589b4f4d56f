"""Greedy output with speculation equals output without, token for token (scripted backend):
over drafters that agree, disagree, corrupt tokens, run past EOS or look up n-grams, with stop
strings, max_tokens, reasoning and structured-output constraints."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream
from lmstream import Chunk, Info

MODES = ("oracle", "past_eos", "noisy", "shifted", "random", "lookup", "none")
"""The test drafter's modes (see conftest)."""
HAS_LLGUIDANCE = importlib.util.find_spec("llguidance") is not None
ALPHABET = "ab c.\n"
REGEX = {"type": "regex", "pattern": "[ab ]{0,10}(c|\\.)"}


def _reply(prompt: str) -> str:
    """The scripted reply: whatever follows the prompt's ``|`` (so tests choose it per call)."""
    return prompt.split("|", 1)[1]


@pytest.fixture
def contexts(make_drafter: Callable[[int], Any]) -> Iterator[tuple[lmstream.ModelContext, lmstream.ModelContext, Any]]:
    """A context without a drafter and one speculating with a test drafter (see conftest)."""
    options: dict[str, Any] = {"reply": _reply, "model_chat_template": None,
                               "reasoning_markers": ("<think>", "</think>")}
    plain = lmstream.load(backend="scripted", **options)
    drafter = make_drafter(plain.tokenizer.eos_token_id)
    speculating = lmstream.load(backend="scripted", drafter=drafter, **options)
    try:
        yield plain, speculating, drafter
    finally:
        plain.close()
        speculating.close()
    assert drafter.closed


def _run(context: lmstream.ModelContext, prompt: str, **parameters: Any) -> tuple[list[Any], Info]:
    events = list(context.generate_stream(prompt, **parameters))
    info = events[-1]
    assert isinstance(info, Info)
    return events[:-1], info


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reply=st.text(ALPHABET, max_size=40), mode=st.sampled_from(MODES), seed=st.integers(0, 1 << 16),
       max_tokens=st.integers(0, 50), stop=st.sampled_from([(), ("c",), ("b.",), ("a b", "\n\n")]),
       constrained=st.booleans(), think=st.sampled_from(["", "<think>a b.</think>", "<think>ab"]))
def test_greedy_output_is_the_same_with_speculation(
        contexts: tuple[lmstream.ModelContext, lmstream.ModelContext, Any], reply: str,
        mode: str, seed: int, max_tokens: int, stop: tuple[str, ...], constrained: bool,
        think: str) -> None:
    plain, speculating, drafter = contexts
    parameters: dict[str, Any] = {"max_tokens": max_tokens, "stop": stop}
    if constrained and HAS_LLGUIDANCE:
        parameters["response_format"] = REGEX
    prompt = "copy|" + think + reply  # reasoning first (closed, or left open), then the answer
    expected, expected_info = _run(plain, prompt, **parameters)
    drafter.mode, drafter.seed = mode, seed
    drafter.reference = [t for e in expected if isinstance(e, Chunk) for t in e.tokens]
    drafter.feedback.clear()
    events, info = _run(speculating, prompt, **parameters)

    assert events == expected
    assert info.stop_reason == expected_info.stop_reason
    assert repr(info.error) == repr(expected_info.error)
    stats = info.stats
    assert stats.generated_tokens == expected_info.stats.generated_tokens
    assert stats.draft_tokens_proposed == sum(p for p, _ in drafter.feedback)
    assert stats.draft_tokens_accepted == sum(a for _, a in drafter.feedback)
    assert 0 <= stats.draft_tokens_accepted <= stats.draft_tokens_proposed
    assert all(p <= max(max_tokens - 1, 0) for p, _ in drafter.feedback)  # never past max_tokens
    if mode in ("oracle", "past_eos") and len(drafter.reference) >= 3 and max_tokens >= 3:
        assert stats.draft_tokens_accepted > 0  # speculation really ran


def test_a_drafter_past_eos_stops_at_eos(
        contexts: tuple[lmstream.ModelContext, lmstream.ModelContext, Any]) -> None:
    plain, speculating, drafter = contexts
    expected, _ = _run(plain, "copy|ab cab", max_tokens=50)
    drafter.mode = "past_eos"
    drafter.reference = [t for e in expected if isinstance(e, Chunk) for t in e.tokens]
    events, info = _run(speculating, "copy|ab cab", max_tokens=50)
    assert "".join(e.text for e in events if isinstance(e, Chunk)) == "ab cab"
    assert info.stop_reason == "stop" and info.stats.generated_tokens == 7  # 6 + EOS, no junk
    assert info.stats.draft_tokens_accepted >= 6
