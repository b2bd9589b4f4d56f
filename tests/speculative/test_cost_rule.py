"""The speculation wrapper's cost rule: drafts are verified only where their expected accepted
tokens pay for the positions the verification adds (``verify_cost``); a step where nothing is
chosen is a plain ``step`` call; probes (shadows) let a sequence's estimate recover; greedy
output is unchanged whatever the rule decides."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream.model import (
    BatchRunner,
    Drafter,
    DraftState,
    GenerationControl,
    SequenceRequest,
    StepResult,
)
from lmstream.model._batching import packed_verify_cost
from lmstream.protocol import GenerationParameters
from lmstream.scheduling._speculation import (
    SpeculativeRunner,
    choose,
    depth,
    expected_accepted,
)

TEXT = [(7 * i + 3) % 50 + 10 for i in range(400)]
"""What every sequence generates: token ``n`` of the output is ``TEXT[n]``."""


def padded_cost(lengths: Sequence[int]) -> float:
    """The MLX padded plan's cost: one call, every row fed the longest draft."""
    return 10.0 + len(lengths) * (1 + max(lengths))


class ScriptRunner(BatchRunner):
    """A runner whose sequences all generate ``TEXT``; it records each call (kind, drafts)."""

    max_batch_size = 16
    max_draft_tokens = 8

    def __init__(self, cost: object = None) -> None:
        self.done: dict[int, int] = {}
        self.calls: list[tuple[str, list[int]]] = []
        if cost is not None:
            self.verify_cost = cost

    def add(self, request: SequenceRequest) -> None:
        self.done[request.seq_id] = 0

    def prefill(self, seq_id: int, max_tokens: int) -> bool:
        return True

    def step(self, seq_ids: Sequence[int]) -> list[StepResult]:
        self.calls.append(("step", [0] * len(seq_ids)))
        return [self._next(i, ()) for i in seq_ids]

    def verify(self, seq_ids: Sequence[int], drafts: Sequence[Sequence[int]]) -> list[StepResult]:
        self.calls.append(("verify", [len(d) for d in drafts]))
        return [self._next(i, d) for i, d in zip(seq_ids, drafts, strict=True)]

    def _next(self, seq_id: int, draft: Sequence[int]) -> StepResult:
        at = self.done[seq_id]
        accepted = 0
        while accepted < len(draft) and draft[accepted] == TEXT[at + accepted]:
            accepted += 1
        self.done[seq_id] = at + accepted + 1
        return StepResult(seq_id, TEXT[at + accepted], accepted=tuple(draft[:accepted]))

    def remove(self, seq_id: int) -> None:
        del self.done[seq_id]


class Guess(DraftState):
    """Proposes the right continuation where ``right(n)`` (n: tokens generated) says so, else a
    wrong first token followed by right ones."""

    def __init__(self, drafter: GuessDrafter, prompt_length: int, every: int) -> None:
        self.drafter = drafter
        self.prompt_length = prompt_length
        self.every = every

    def propose(self, tokens: Sequence[int], limit: int) -> Sequence[int]:
        done = len(tokens) - self.prompt_length
        self.drafter.proposals += 1
        if self.every < 0:
            return ()
        ahead = list(TEXT[done:done + limit])
        if ahead and not self.drafter.right(done, self.every):
            ahead[0] = 1
        return ahead


class GuessDrafter(Drafter):
    name = "guess"

    def __init__(self, every: int, per_start: Sequence[int] = ()) -> None:
        self.every = every
        self.per_start = list(per_start)
        """Each started sequence's own ``every``, in order (then ``every``)."""
        self.proposals = 0

    def right(self, done: int, every: int) -> bool:
        """Whether the proposal after ``done`` tokens is right (every ``every``-th one)."""
        return every > 0 and done % every == 0

    def start(self, prompt: Sequence[int], parameters: GenerationParameters) -> DraftState:
        every = self.per_start.pop(0) if self.per_start else self.every
        return Guess(self, len(prompt), every)


def run(runner: ScriptRunner, drafter: Drafter, rows: int, tokens: int,
        drafting: Sequence[bool] | None = None) -> tuple[SpeculativeRunner, dict[int, list[int]]]:
    """``rows`` sequences stepped together until each has ``tokens`` tokens; their outputs."""
    wrapper = SpeculativeRunner(runner, drafter)
    out: dict[int, list[int]] = {i: [] for i in range(rows)}
    for i in range(rows):
        speculative = drafting is None or drafting[i]
        wrapper.add(SequenceRequest(i, (1, 2, 3), GenerationParameters(speculative=speculative), None,
                                    GenerationControl(threading.Event(), max_tokens=tokens)))
    while any(len(o) < tokens for o in out.values()):
        live = [i for i in range(rows) if len(out[i]) < tokens]
        for result in wrapper.step(live):
            out[result.seq_id].extend([*result.accepted, result.token])
    return wrapper, {i: o[:tokens] for i, o in out.items()}


def test_depth_and_expected_accepted() -> None:
    assert depth((0.9, 0.9), 0.44, 8) == 7  # 0.9**7 = 0.48 >= 0.44 > 0.9**8
    assert depth((0.3, 1.0), 0.44, 8) == 0  # the first token rarely right: nothing pays
    assert depth((0.3, 0.5), 1 / 11, 8) == 2  # a lone row: cheap positions (0.15, then 0.075)
    assert depth((1.0, 1.0), 0.5, 8) == 8
    assert expected_accepted((0.5, 0.5), 3) == pytest.approx(0.875)
    assert expected_accepted((0.2, 1.0), 4) == pytest.approx(0.8)


def test_a_crowded_padded_batch_where_one_row_drafts_takes_a_plain_step() -> None:
    """One row of 8 with a one-token proposal at the prior rate: verifying would feed all 8 rows
    2 positions for half a token expected; the plain step wins."""
    proposals = [(5,)] + [()] * 7
    assert choose(padded_cost, proposals, [(0.5, 0.75)] * 8) == [0] * 8
    assert choose(packed_verify_cost, proposals, [(0.7, 0.75)] * 8) == [1] + [0] * 7  # packed: one position more


def test_choose_verifies_where_acceptance_is_high_and_caps_padding() -> None:
    good = [tuple(range(8))] * 8
    assert choose(padded_cost, good, [(0.95, 0.95)] * 8) == [8] * 8
    assert choose(padded_cost, good, [(0.2, 1.0)] * 8) == [0] * 8
    # one long proposal among short ones: the padding of the long one is capped
    mixed = [tuple(range(8))] + [(1, 2)] * 7
    lengths = choose(padded_cost, mixed, [(0.6, 0.6)] * 8)
    assert max(lengths) <= 2


def test_a_crowded_batch_with_low_acceptance_steps_plainly_and_output_is_unchanged() -> None:
    """8 rows whose drafts are right one time in five (each draft's first token wrong otherwise):
    on a padded runner almost every step is a plain ``step`` call (the old rule kept verifying
    drafts that were partly accepted), and the tokens are those of the script."""
    runner = ScriptRunner(padded_cost)
    drafter = GuessDrafter(every=5)
    _, out = run(runner, drafter, 8, 120)
    assert all(o == TEXT[:120] for o in out.values())
    verifies = [c for c in runner.calls if c[0] == "verify"]
    assert len(verifies) <= 3  # the first steps at the prior estimate, then none
    assert drafter.proposals < 8 * 40  # probes spaced out, not a lookup per row per step


def test_a_batch_where_no_row_proposes_makes_plain_step_calls() -> None:
    runner = ScriptRunner(padded_cost)
    _, out = run(runner, GuessDrafter(every=-1), 8, 40)
    assert all(o == TEXT[:40] for o in out.values())
    assert {kind for kind, _ in runner.calls} == {"step"}


def test_right_drafts_are_verified_in_a_crowded_batch_and_save_steps() -> None:
    runner = ScriptRunner(padded_cost)
    _, out = run(runner, GuessDrafter(every=1), 8, 120)
    assert all(o == TEXT[:120] for o in out.values())
    assert len(runner.calls) < 120 / 3  # most steps verify several tokens per row
    assert max(max(lengths) for _, lengths in runner.calls) >= 6


def test_probes_let_the_estimate_recover_when_drafts_start_to_hit() -> None:
    """Drafts wrong for the first 60 tokens, right after: the sequence stops verifying, then its
    probes see the hits and verification resumes."""

    class Later(GuessDrafter):
        def right(self, done: int, every: int) -> bool:
            return done >= 60

    runner = ScriptRunner(padded_cost)
    _, out = run(runner, Later(every=1), 8, 260)
    assert all(o == TEXT[:260] for o in out.values())
    steps_before = sum(1 for kind, _ in runner.calls[:40] if kind == "step")
    assert steps_before >= 30
    late = runner.calls[-20:]
    assert sum(1 for kind, _ in late if kind == "verify") >= 15


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=8), st.integers(1, 60),
       st.sampled_from(["padded", "packed"]))
def test_output_is_the_script_whatever_the_rule_decides(everies: list[int], tokens: int, cost: str) -> None:
    """Rows with different hit rates (every n-th proposal right), some not drafting (0): each row's tokens are
    the script's, never past ``max_tokens``, drafts within ``max_draft_tokens``."""
    runner = ScriptRunner(padded_cost if cost == "padded" else None)
    drafting = [e > 0 for e in everies]
    drafter = GuessDrafter(every=1, per_start=[e for e in everies if e > 0])
    _, out = run(runner, drafter, len(everies), tokens, drafting)
    assert all(o == TEXT[:tokens] for o in out.values())
    assert all(max(lengths, default=0) <= runner.max_draft_tokens for _, lengths in runner.calls)
    for i, spec in enumerate(drafting):
        if not spec:
            assert all(lengths[i] == 0 for _, lengths in runner.calls if len(lengths) == len(everies))


def test_the_llama_cpp_runner_reports_a_packed_cost() -> None:
    """llama.cpp feeds each row its drafts in one decode: the cost grows by one position per
    draft token, whatever the other rows draft (no padding)."""
    pytest.importorskip("llama_cpp")
    from lmstream_llama_cpp.verify import CALL_POSITIONS, verify_cost

    assert verify_cost([0] * 8) == CALL_POSITIONS + 8
    assert verify_cost([8] + [0] * 7) == CALL_POSITIONS + 16
    assert verify_cost([]) == 0.0
