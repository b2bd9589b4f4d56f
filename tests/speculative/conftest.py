"""Drafters for the speculative-decoding tests (``make_drafter``): ones that agree with the model,
disagree, corrupt a few tokens, run past EOS, or look up n-grams; they record their calls."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence

import pytest

from lmstream.model import Drafter, DraftState
from lmstream.protocol import GenerationParameters
from lmstream_drafters import PromptLookupState

MODES = ("oracle", "past_eos", "noisy", "shifted", "random", "lookup", "none")
"""oracle: the model's own tokens; past_eos: those, EOS, then junk; noisy: some corrupted;
shifted: always one off; random: random bytes; lookup: prompt lookup; none: never drafts."""
JUNK = (ord("z"), ord("q"), ord("z"))


class ScriptedDraftState(DraftState):
    """Proposes from ``reference`` (the tokens decoding without drafts gave) per the mode."""

    def __init__(self, drafter: TestDrafter, prompt: Sequence[int]) -> None:
        self.drafter = drafter
        self.prompt_length = len(prompt)
        self.lookup = PromptLookupState(8, 3, 1)
        self.closed = False

    def propose(self, tokens: Sequence[int], limit: int) -> Sequence[int]:
        drafter = self.drafter
        drafter.calls += 1
        done = len(tokens) - self.prompt_length
        rng = random.Random(drafter.seed * 7919 + done)
        extra = rng.randint(0, 3)  # sometimes more than asked: the core must cut
        want = limit + extra
        reference = list(drafter.reference)
        mode = drafter.mode
        if mode == "lookup":
            return self.lookup.propose(tokens, want)
        if mode == "none":
            return ()
        if mode == "random":
            return [rng.randrange(32, 127) for _ in range(want)]
        ahead = [*reference[done:], drafter.eos, *JUNK]
        if mode == "shifted":
            ahead = ahead[1:]
        proposal = ahead[:want] if mode != "oracle" else reference[done:done + want]
        if mode == "noisy":
            proposal = [t if rng.random() > 0.25 else rng.randrange(32, 127) for t in proposal]
        return proposal

    def feedback(self, proposed: int, accepted: int) -> None:
        self.drafter.feedback.append((proposed, accepted))

    def close(self) -> None:
        self.closed = True
        self.drafter.closed_states += 1


class TestDrafter(Drafter):
    """A drafter whose mode, reference and seed the test sets before each generation."""

    __test__ = False
    name = "test"

    def __init__(self, eos: int) -> None:
        self.eos = eos
        self.mode = "oracle"
        self.reference: Sequence[int] = ()
        self.seed = 0
        self.calls = 0
        self.starts = 0
        self.closed_states = 0
        self.closed = False
        self.feedback: list[tuple[int, int]] = []
        self.proposing = threading.Event()

    def start(self, prompt: Sequence[int], parameters: GenerationParameters) -> DraftState:
        self.starts += 1
        return ScriptedDraftState(self, prompt)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def make_drafter() -> Callable[[int], TestDrafter]:
    """``make_drafter(eos_id)``: a fresh ``TestDrafter``."""
    return TestDrafter
