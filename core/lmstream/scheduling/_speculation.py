"""Speculative decoding in front of a backend's batch runner: drafts, and a rule for when they pay.

``SpeculativeRunner`` wraps the runner the scheduler steps. Each step, every drafting sequence
may propose tokens; one ``verify`` call scores the chosen ones (a plain ``step`` when none is
chosen). Verifying is not free: the call feeds more positions, and in a batch every row pays
for them. So the core keeps, per sequence, an estimate of the chance that a draft token is
accepted (``_Drafting.rates``, from recent verifications and probes) and asks the runner what a
step costs for given draft lengths (``BatchRunner.verify_cost``, in positions). A sequence proposes only as many tokens as its rate pays for
(``depth``), and ``choose`` picks the draft lengths for the whole step that promise the most
tokens per cost, or none: free chat, and a crowded batch whose drafts keep missing, take
plain steps. A sequence whose drafts do not pay probes now and then: a proposal that is not
verified but checked against the tokens the sequence generates next (its "shadow"), so the
estimate recovers when the text starts repeating its input.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

from ..model import BatchRunner, Drafter, DraftState, SequenceRequest, StepResult

logger = logging.getLogger("lmstream.speculation")

FIRST_K = 4
"""Draft tokens asked for in a sequence's first verification (capped by the runner)."""
PAUSE_STEPS = 8
"""Steps a sequence waits, after its drafts stopped paying, before it probes again; each
probe that finds nothing doubles the wait, up to ``MAX_PAUSE_STEPS``."""
MAX_PAUSE_STEPS = 256
PROBE_TOKENS = 4
"""Tokens a probe proposes (checked against the tokens the sequence then generates)."""
PRIOR_FIRST = (1.0, 2.0)
"""A new sequence's estimate that a draft's first token is accepted: 1 of 2 (0.5)."""
PRIOR_NEXT = (1.5, 2.0)
"""... and that a draft token is accepted once the ones before it were: 1.5 of 2 (0.75)."""
DECAY = 0.9
"""Weight the estimates keep from before at each outcome (recent ones count more)."""
MARGIN = 1.02
"""How much more tokens per cost a verification must promise than a plain step."""

Rates = tuple[float, float]
"""A sequence's acceptance estimate: the chance a draft's first token is accepted, and the
chance a later draft token is, given the ones before it were (drafts hit in runs: a copied
span is right token after token, a guess is wrong from the start)."""


class _Drafting:
    """One sequence's drafting state: its ``DraftState``, token history, acceptance estimate,
    adaptive ``k``, pause, and the pending shadow (a proposal not verified, checked against the
    tokens the sequence generates after it)."""

    __slots__ = ("first", "k", "next", "pause", "paused_for", "request", "shadow", "shadow_seen",
                 "state", "tokens")

    def __init__(self, request: SequenceRequest, state: DraftState, k: int) -> None:
        self.request = request
        self.state = state
        self.tokens: list[int] = list(request.prompt)
        """The prompt, then every generated token (what ``propose`` reads)."""
        self.k = k
        self.first = list(PRIOR_FIRST)
        """[accepted, tried]: drafts whose first token was accepted, out of the drafts tried."""
        self.next = list(PRIOR_NEXT)
        """[accepted, tried]: later draft tokens accepted, out of those reached."""
        self.pause = PAUSE_STEPS
        self.paused_for = 0
        self.shadow: tuple[int, ...] = ()
        self.shadow_seen = 0

    @property
    def rates(self) -> Rates:
        """The acceptance estimate (see ``Rates``)."""
        return self.first[0] / self.first[1], self.next[0] / self.next[1]

    def observe(self, proposed: int, accepted: int) -> None:
        """Fold one outcome (``accepted`` of ``proposed`` tokens, in order) into the estimate."""
        for counts in (self.first, self.next):
            counts[0] *= DECAY
            counts[1] *= DECAY
        self.first[0] += accepted > 0
        self.first[1] += 1
        if accepted:
            self.next[0] += accepted - 1
            self.next[1] += accepted - 1 + (accepted < proposed)
            self.pause = PAUSE_STEPS
            self.paused_for = 0

    def learn(self, proposed: int, accepted: int, k_max: int) -> None:
        """Adapt ``k`` to a verification's outcome: a full accept grows it, a partial one shrinks
        it to what was accepted plus one, a miss halves it; and the estimate."""
        if accepted == proposed:
            self.k = min(k_max, self.k + max(1, self.k // 2))
        elif accepted:
            self.k = max(1, accepted + 1)
        else:
            self.k = max(1, self.k // 2)
        self.observe(proposed, accepted)

    def follow_shadow(self, new: Sequence[int]) -> None:
        """Check the pending shadow against the tokens just generated; resolve it at its first
        mismatch or its end."""
        for token in new:
            shadow = self.shadow
            if not shadow:
                return
            if token != shadow[self.shadow_seen]:
                self._resolve_shadow(self.shadow_seen)
                return
            self.shadow_seen += 1
            if self.shadow_seen == len(shadow):
                self._resolve_shadow(self.shadow_seen)
                return

    def _resolve_shadow(self, matched: int) -> None:
        proposed = len(self.shadow)
        self.shadow, self.shadow_seen = (), 0
        self.observe(proposed, matched)


def depth(rates: Rates, threshold: float, k_max: int) -> int:
    """The longest draft whose last token still pays: its chance of being reached and accepted
    (``first * next ** (j - 1)``) at least ``threshold`` (a draft token's cost over a generated
    token's)."""
    first, later = rates
    if first <= 0.0 or first < threshold:
        return 0
    if later >= 1.0:
        return k_max
    if later <= 0.0:
        return 1
    return min(k_max, 1 + int(math.log(threshold / first) / math.log(later) + 1e-9))


def expected_accepted(rates: Rates, length: int) -> float:
    """Tokens a draft of ``length`` is expected to get accepted (the chances of reaching and
    accepting each of its tokens, summed)."""
    first, later = rates
    total, reach = 0.0, first
    for _ in range(length):
        total += reach
        reach *= later
    return total


def choose(cost: Callable[[Sequence[int]], float], proposals: Sequence[Sequence[int]],
           rates: Sequence[Rates]) -> list[int]:
    """How many tokens of each row's proposal to verify so that the step's expected tokens per
    cost is highest: each count of the best-rated rows with a proposal, each common cap on
    their length, against a plain step (all zeros, kept unless a choice beats it by ``MARGIN``)."""
    rows = len(proposals)
    best = [0] * rows
    best_rate = rows / cost(best) * MARGIN
    order = sorted((i for i in range(rows) if proposals[i]), key=lambda i: rates[i], reverse=True)
    caps = sorted({len(proposals[i]) for i in order})
    for count in range(1, len(order) + 1):
        chosen = order[:count]
        for cap in caps:
            lengths = [0] * rows
            for i in chosen:
                lengths[i] = min(cap, len(proposals[i]))
            gain = sum(expected_accepted(rates[i], lengths[i]) for i in chosen)
            value = (rows + gain) / cost(lengths)
            if value > best_rate:
                best, best_rate = lengths, value
    return best


class SpeculativeRunner(BatchRunner):
    """The backend's runner with drafting in front of its steps (see the module doc)."""

    def __init__(self, runner: BatchRunner, drafter: Drafter) -> None:
        self.inner = runner
        self.drafter = drafter
        self.max_batch_size = runner.max_batch_size
        self.max_draft_tokens = runner.max_draft_tokens
        self._states: dict[int, _Drafting] = {}
        """seq_id -> drafting state, for the sequences that draft."""
        self.shares_prefill = runner.shares_prefill

    @property  # type: ignore[override]  # a class attribute on BatchRunner
    def interrupt(self) -> Callable[[], bool] | None:
        """The backend runner's ``interrupt`` (the scheduler sets it through this wrapper)."""
        return self.inner.interrupt

    @interrupt.setter
    def interrupt(self, check: Callable[[], bool] | None) -> None:
        self.inner.interrupt = check

    def __getattr__(self, name: str) -> Any:
        """What else the backend's runner offers (its own figures, test hooks)."""
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    # -- the BatchRunner contract ----------------------------------------------------------
    def add(self, request: SequenceRequest) -> None:
        """Add to the backend's runner, then open a draft state if this generation drafts."""
        self.inner.add(request)
        parameters = request.parameters
        if not parameters.speculative or parameters.logprobs:
            return
        try:
            state = self.drafter.start(request.prompt, parameters)
        except Exception:
            logger.exception("drafter %r failed to start: this generation does not draft",
                             self.drafter.name)
            return
        if state is not None:
            self._states[request.seq_id] = _Drafting(request, state, min(FIRST_K, self.max_draft_tokens))

    def prefill(self, seq_id: int, max_tokens: int) -> bool:
        return self.inner.prefill(seq_id, max_tokens)

    def prefill_many(self, seq_ids: Sequence[int], max_tokens: Sequence[int]) -> list[bool]:
        return self.inner.prefill_many(seq_ids, max_tokens)

    def first_token_ready(self, seq_id: int) -> bool:
        return self.inner.first_token_ready(seq_id)

    def verify_cost(self, lengths: Sequence[int]) -> float:
        """A step's cost where row ``i`` verifies ``lengths[i]`` drafts: the backend's runner's."""
        return self.inner.verify_cost(lengths)

    def step(self, seq_ids: Sequence[int]) -> list[StepResult]:
        """One step: proposals where they may pay, the verification the cost rule picks
        (``choose``), a plain ``step`` when it picks none."""
        states = self._states
        if not states:
            return self.inner.step(seq_ids)
        rows = len(seq_ids)
        # a draft token costs one position; a generated token, a plain step's cost per row
        threshold = rows / self.verify_cost([0] * rows)
        proposals: list[tuple[int, ...]] = []
        candidates: list[tuple[int, ...]] = []
        rates: list[Rates] = []
        for seq_id in seq_ids:
            drafting = states.get(seq_id)
            proposal, candidate = self._draft(drafting, threshold)
            proposals.append(proposal)
            candidates.append(proposal if candidate else ())
            rates.append(drafting.rates if drafting is not None else (0.0, 0.0))
        lengths = choose(self.verify_cost, candidates, rates) if any(candidates) else [0] * rows
        drafts = [p[:n] for p, n in zip(candidates, lengths, strict=True)]
        if not any(drafts):
            results = self.inner.step(seq_ids)
        else:
            results = self.inner.verify(seq_ids, drafts)
        for result, proposal, draft in zip(results, proposals, drafts, strict=True):
            drafting = states.get(result.seq_id)
            if drafting is not None:
                self._learn(drafting, result, proposal, len(draft))
        return results

    def verify(self, seq_ids: Sequence[int], drafts: Sequence[Sequence[int]]) -> list[StepResult]:
        return self.inner.verify(seq_ids, drafts)

    def remove(self, seq_id: int) -> None:
        """Close the sequence's draft state, then remove it from the backend's runner."""
        drafting = self._states.pop(seq_id, None)
        if drafting is not None:
            _close(drafting.state.close, "closing a draft state")
        self.inner.remove(seq_id)

    def close(self) -> None:
        """Close every draft state, the drafter, then the backend's runner."""
        for drafting in self._states.values():
            _close(drafting.state.close, "closing a draft state")
        self._states.clear()
        _close(self.drafter.close, "closing the drafter")
        self.inner.close()

    # -- drafting --------------------------------------------------------------------------
    def _draft(self, drafting: _Drafting | None, threshold: float) -> tuple[tuple[int, ...], bool]:
        """This sequence's proposal for the step and whether it may be verified: up to the
        tokens its acceptance pays for (``depth``); where none pay, now and then a probe (a
        proposal only checked against what the sequence generates next); none while paused
        or near its end."""
        if drafting is None:
            return (), False
        if drafting.paused_for:
            drafting.paused_for -= 1
            return (), False
        request = drafting.request
        generated = len(drafting.tokens) - len(request.prompt)
        left = request.control.max_tokens - generated - 1  # the step adds one token itself
        limit = int(min(drafting.k, depth(drafting.rates, threshold, self.max_draft_tokens), left))
        candidate = limit > 0
        if not candidate:  # drafts do not pay: probe now and then
            drafting.paused_for = drafting.pause
            drafting.pause = min(MAX_PAUSE_STEPS, drafting.pause * 2)
            if drafting.shadow:
                return (), False
            limit = int(min(PROBE_TOKENS, left))
            if limit <= 0:
                return (), False
        try:
            proposal = tuple(map(operator.index, drafting.state.propose(drafting.tokens, limit)[:limit]))
            if proposal and min(proposal) < 0:
                raise ValueError(f"negative token id in the proposal {proposal}")
        except Exception:  # a drafter's bug must not fail the batch's step
            logger.exception("drafter %r failed: this generation stops drafting", self.drafter.name)
            self._states.pop(request.seq_id, None)
            _close(drafting.state.close, "closing a draft state")
            return (), False
        return proposal, candidate

    def _learn(self, drafting: _Drafting, result: StepResult, proposal: tuple[int, ...],
               proposed: int) -> None:
        """Record the row's new tokens; count and adapt to what was accepted; a proposal not
        verified becomes the shadow (unless one is pending)."""
        new = [*result.accepted]
        if result.error is None:
            new.append(result.token)
        drafting.tokens.extend(new)
        drafting.follow_shadow(new)
        if not proposed:
            if proposal and not drafting.shadow:
                drafting.shadow, drafting.shadow_seen = proposal, 0
                drafting.follow_shadow(new)
            return
        accepted = len(result.accepted)
        control = drafting.request.control
        control.draft_proposed += proposed
        control.draft_accepted += accepted
        drafting.learn(proposed, accepted, self.max_draft_tokens)
        try:
            drafting.state.feedback(proposed, accepted)
        except Exception:
            logger.exception("drafter %r feedback failed", self.drafter.name)


def speculating(runner: BatchRunner, drafter: Drafter | None) -> BatchRunner:
    """``runner`` speculating with ``drafter`` (the scheduler's backend lane steps this); ``runner``
    itself when there is no drafter or it cannot verify drafts (then the unused drafter is closed)."""
    if drafter is None:
        return runner
    if runner.max_draft_tokens <= 0:
        logger.warning("%s cannot verify draft tokens: drafter %r unused",
                       type(runner).__name__, drafter.name)
        _close(drafter.close, "closing the drafter")
        return runner
    return SpeculativeRunner(runner, drafter)


def _close(close: Callable[[], None], what: str) -> None:
    """Call a close method; a failure is logged (closing goes on)."""
    try:
        close()
    except Exception:
        logger.exception("%s failed", what)
