from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Sequence
from typing import Any

from ..model import BatchRunner, Drafter, DraftState, SequenceRequest, StepResult

logger = logging.getLogger("lmstream.speculation")

FIRST_K = 4
"""Draft tokens asked for in a sequence's first verification (capped by the runner)."""
MISSES_TO_PAUSE = 3
"""Verifications in a row that accept nothing before drafting pauses for a sequence."""
PAUSE_STEPS = 8
"""Steps the first pause lasts; each further pause doubles it, up to ``MAX_PAUSE_STEPS``."""
MAX_PAUSE_STEPS = 256
CROWDED_ROWS = 2
"""Rows stepped together above which a miss pauses drafting at once (``learn``'s patience)."""


class _Drafting:
    """One sequence's drafting state: its ``DraftState``, token history and adaptive ``k``."""

    __slots__ = ("k", "misses", "pause", "paused_for", "request", "state", "tokens")

    def __init__(self, request: SequenceRequest, state: DraftState, k: int) -> None:
        self.request = request
        self.state = state
        self.tokens: list[int] = list(request.prompt)
        """The prompt, then every generated token (what ``propose`` reads)."""
        self.k = k
        self.misses = 0
        self.pause = PAUSE_STEPS
        self.paused_for = 0

    def learn(self, proposed: int, accepted: int, k_max: int, patience: int = MISSES_TO_PAUSE) -> None:
        """Adapt ``k`` to this verification's outcome (see the module doc); ``patience``: misses
        in a row before a pause."""
        if accepted == proposed:
            self.k = min(k_max, self.k + max(1, self.k // 2))
            self.misses = 0
            self.pause = PAUSE_STEPS
        elif accepted:
            self.k = max(1, accepted + 1)
            self.misses = 0
        else:
            self.k = max(1, self.k // 2)
            self.misses += 1
            if self.misses >= patience:
                self.paused_for = self.pause
                self.pause = min(MAX_PAUSE_STEPS, self.pause * 2)
                self.misses = patience - 1  # one more miss after the retry pauses again
                self.k = 1


class SpeculativeRunner(BatchRunner):
    """The backend's runner with drafting in front of its steps (see the module doc)."""

    def __init__(self, runner: BatchRunner, drafter: Drafter) -> None:
        self.inner = runner
        self.drafter = drafter
        self.max_batch_size = runner.max_batch_size
        self.max_draft_tokens = runner.max_draft_tokens
        self._states: dict[int, _Drafting] = {}
        """seq_id -> drafting state, for the sequences that draft."""

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

    def step(self, seq_ids: Sequence[int]) -> list[StepResult]:
        """One step: drafts where sequences have them, one ``verify`` for all (else ``step``)."""
        states = self._states
        if not states:
            return self.inner.step(seq_ids)
        drafts = [self._draft(states.get(seq_id)) for seq_id in seq_ids]
        if not any(drafts):
            results = self.inner.step(seq_ids)
        else:
            results = self.inner.verify(seq_ids, drafts)
        # in a crowded batch a verification makes every row's step dearer (it feeds more
        # positions), so a sequence whose drafts miss pauses at its first miss
        patience = MISSES_TO_PAUSE if len(seq_ids) <= CROWDED_ROWS else 1
        for result, draft in zip(results, drafts, strict=True):
            drafting = states.get(result.seq_id)
            if drafting is not None:
                self._learn(drafting, result, len(draft), patience)
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
    def _draft(self, drafting: _Drafting | None) -> tuple[int, ...]:
        """Up to ``k`` tokens for this sequence's next step (none while paused or near its end)."""
        if drafting is None:
            return ()
        if drafting.paused_for:
            drafting.paused_for -= 1
            return ()
        request = drafting.request
        generated = len(drafting.tokens) - len(request.prompt)
        left = request.control.max_tokens - generated - 1  # the step adds one token itself
        limit = int(min(drafting.k, left))
        if limit <= 0:
            return ()
        try:
            proposal = tuple(map(operator.index, drafting.state.propose(drafting.tokens, limit)[:limit]))
            if proposal and min(proposal) < 0:
                raise ValueError(f"negative token id in the proposal {proposal}")
        except Exception:  # a drafter's bug must not fail the batch's step
            logger.exception("drafter %r failed: this generation stops drafting", self.drafter.name)
            self._states.pop(request.seq_id, None)
            _close(drafting.state.close, "closing a draft state")
            return ()
        return proposal

    def _learn(self, drafting: _Drafting, result: StepResult, proposed: int,
               patience: int = MISSES_TO_PAUSE) -> None:
        """Record the row's new tokens, count and adapt to what was accepted."""
        drafting.tokens.extend(result.accepted)
        if result.error is None:
            drafting.tokens.append(result.token)
        if not proposed:
            return
        accepted = len(result.accepted)
        control = drafting.request.control
        control.draft_proposed += proposed
        control.draft_accepted += accepted
        drafting.learn(proposed, accepted, self.max_draft_tokens, patience)
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
