"""Which prompt the scheduler prefills next, in what chunk, and when it yields to younger streams.

A short request arriving while a long prompt prefills must not wait for that whole prefill:

- **Shortest remaining prompt first**: each chunk goes to the prefilling sequence with the
  fewest prompt tokens left (its cached prefix not counted), so a short newcomer is prefilled
  in the next chunk. **Ageing**: a sequence passed over for ``AGEING_CHUNKS`` chunks in a row
  gets the next one (the earliest submitted first), so the oldest prompt keeps at least one
  chunk in ``AGEING_CHUNKS + 1`` under any stream of short ones. Sequences that share a
  caller's cache keep their submission order.
- **Pacing**: while a stream admitted after a long prompt (over ``PACED_PROMPT`` tokens left
  when first seen) decodes (a short request let through), that prompt's prefill takes at most
  ``PREFILL_SHARE`` of the worker's time:
  each decode step earns it a third of the step's duration, and its chunks are sized to what it
  has earned (at least ``MIN_PREFILL_CHUNK`` tokens), so that stream takes about
  1 / (1 - share) times its solo decode time instead of waiting a full chunk per token. Older streams
  get the scheduler's usual chunk per step (a newcomer's time to first token wins). A short
  prompt is not paced: it costs about as much as one chunk, and paced it would trickle in by
  ``MIN_PREFILL_CHUNK`` tokens every few steps while the batch steps thin (measured: eight
  concurrent chat prompts took twice the steps of one batch).
- **No fragments**: each chunk is a pass over the weights (splitting a 40-token prompt in two
  cost ~40% more), so while no stream steps meanwhile (none decodes, or a burst holds its
  first step) a rest of at most ``UNSPLIT_PROMPT`` tokens is one chunk, and a short rest that
  would overrun what is left of a round waits for the next round instead of filling it with a
  fragment. So is an unpaced short rest of a prompt that a stream admitted after it went
  ahead of (a burst's leftover, let behind by shortest-first: its pause comes once, not as
  many chunks); a newcomer behind decoding streams is chunked by the round's budget.

Everything is measured in seconds the worker actually spent, so it holds on a loaded machine.
"""

from __future__ import annotations

from ..model import common_prefix_length
from ._sequence import ActiveSequence

MIN_PREFILL_CHUNK = 16
"""The smallest chunk (a smaller one is too short to time)."""
FIRST_PREFILL_CHUNK = 64
"""Prefill chunk before the scheduler has measured this model's prefill speed."""
UNSPLIT_PROMPT = 128
"""Prompt tokens left that one chunk takes whole while no stream decodes (a chunk this small
costs about one pass over the weights: splitting it only adds passes before the first token)."""
AGEING_CHUNKS = 4
"""Chunks a prefilling sequence may be passed over in a row before it gets the next one."""
PREFILL_SHARE = 0.25
"""Share of the worker's time prefill takes while a younger stream decodes (pacing)."""
PACED_PROMPT = 256
"""Prompt tokens left (when first seen) above which a prompt is paced beside younger streams;
a shorter one costs about a second of CPU prefill or less, a pause the younger stream takes once."""


class _Entry:
    """What the policy remembers of one prefilling sequence."""

    __slots__ = ("cached", "paced", "partial", "skipped")

    def __init__(self, cached: int, left: int) -> None:
        self.cached = cached
        """Prompt tokens its cache held at admission (not prefilled, so not counted as left)."""
        self.skipped = 0
        """Chunks given to other sequences since this one last had one."""
        self.paced = left > PACED_PROMPT
        """A long prompt: paced beside younger streams (see the module docstring)."""
        self.partial = 0.0
        """Seconds of a chunk the runner stopped part-way (``BatchRunner.interrupt``) so far."""


class PrefillPolicy:
    """The prefill order and pacing of one scheduler lane (worker thread only)."""

    def __init__(self, pacing: bool = True) -> None:
        self.pacing = pacing
        """False for lanes whose prefill is not real compute (the iterator adapter)."""
        self._entries: dict[int, _Entry] = {}
        self._credit = 0.0
        """Seconds of prefill the younger streams' decode steps have earned (pacing)."""
        self._paced = False
        """True when the chunk being run was sized by pacing."""
        self.rate: float | None = None
        """Measured prompt tokens per second (sets the chunk size)."""

    def remaining(self, sequence: ActiveSequence) -> int:
        """Prompt tokens of ``sequence`` still to prefill (its cached prefix excluded)."""
        entry = self._entry(sequence)
        done = sequence.control.progress_tokens or 0
        return max(0, len(sequence.plan.prompt) - entry.cached - done)

    def chunk_size(self, sequence: ActiveSequence, seconds: float, alone: bool = False) -> int:
        """Tokens of the next chunk: what ``seconds`` allow at the measured rate (64 before any
        measurement); ``alone`` (no stream steps meanwhile, or one admitted after it went
        ahead) and not paced: a short rest whole (``UNSPLIT_PROMPT``)."""
        step = sequence.plan.parameters.prefill_step_size
        rate = self.rate
        size = FIRST_PREFILL_CHUNK if rate is None else max(MIN_PREFILL_CHUNK, int(rate * seconds))
        left = self.remaining(sequence)
        if alone and not self._paced and left <= max(size, UNSPLIT_PROMPT):
            size = max(left, MIN_PREFILL_CHUNK)
        return min(step, size)

    def waits(self, sequence: ActiveSequence, seconds: float, round_seconds: float) -> bool:
        """True when the ``seconds`` left in the round would only allow a fragment of
        ``sequence``: its short rest would overrun them, or they are under half a round (a
        fragment's measured rate, mostly a call's fixed cost, would shrink every later chunk).
        Rather than a fragment now, a whole round's chunk next."""
        rate = self.rate
        if rate is None or self._paced:
            return False
        left = self.remaining(sequence)
        if rate * seconds >= left:
            return False
        return left <= UNSPLIT_PROMPT or seconds < 0.5 * round_seconds

    def companions(self, sequence: ActiveSequence, prefilling: list[ActiveSequence],
                   seconds: float) -> list[ActiveSequence]:
        """Other short prompts to prefill with ``sequence``'s short rest in one call (a runner
        with ``prefill_many``): shortest first, as many as ``seconds`` cover at the measured
        rate with it; none while pacing sizes its chunk or before any measurement."""
        rate = self.rate
        if rate is None or self._paced or self.remaining(sequence) > UNSPLIT_PROMPT:
            return []
        budget = rate * seconds - self.remaining(sequence)
        chosen: list[ActiveSequence] = []
        others = [(self.remaining(s), s.seq_id, s) for s in _in_cache_order(prefilling)
                  if s is not sequence and not s.cancelled]
        for left, _, other in sorted(others, key=lambda entry: entry[:2]):
            if left > UNSPLIT_PROMPT or left > budget:
                break
            budget -= left
            chosen.append(other)
        return chosen

    def learn(self, tokens: int, seconds: float, sequence: ActiveSequence | None = None) -> None:
        """Fold a chunk's measured speed into ``rate`` (chunks too small to time are skipped).
        A call of ``sequence``'s that made no progress (a chunk stopped part-way) is timed
        with the call that finishes its chunk."""
        if sequence is not None:
            entry = self._entry(sequence)
            if tokens == 0:
                entry.partial += seconds
                return
            seconds, entry.partial = seconds + entry.partial, 0.0
        if tokens < MIN_PREFILL_CHUNK or seconds <= 0:
            return
        rate = tokens / seconds
        self.rate = rate if self.rate is None else 0.5 * self.rate + 0.5 * rate

    def pick(self, prefilling: list[ActiveSequence]) -> ActiveSequence:
        """The sequence whose chunk comes next: the earliest submitted of those passed over
        ``AGEING_CHUNKS`` times, else the one with the fewest tokens left (ties: the earliest)."""
        if len(self._entries) > 2 * len(prefilling):
            live = {s.seq_id for s in prefilling}
            self._entries = {k: v for k, v in self._entries.items() if k in live}
        for sequence in prefilling:  # seen before its first chunk: its cached prefix is known
            self._entry(sequence)
        if len(prefilling) == 1:
            return prefilling[0]
        eligible = _in_cache_order(prefilling)
        aged = [s for s in eligible if self._entry(s).skipped >= AGEING_CHUNKS]
        if aged:
            return min(aged, key=lambda s: s.seq_id)  # the oldest: its share is guaranteed
        return min(eligible, key=lambda s: (self.remaining(s), s.seq_id))

    def chunk_done(self, sequence: ActiveSequence, prefilling: list[ActiveSequence],
                   seconds: float, together: list[ActiveSequence] | None = None) -> None:
        """Record a chunk of ``sequence`` (and of the ``together`` prefilled in its call) that
        took ``seconds``: the others were passed over."""
        served = [sequence, *(together or ())]
        for other in prefilling:
            if all(other is not s for s in served):
                self._entry(other).skipped += 1
        for other in served:
            if other.seq_id in self._entries:
                self._entries[other.seq_id].skipped = 0
        self._credit = self._credit - seconds if self._paced else 0.0
        self._paced = False

    def stepped(self, seconds: float) -> None:
        """Record a decode step of the lane (while prompts prefill) that took ``seconds``."""
        self._credit += seconds * PREFILL_SHARE / (1.0 - PREFILL_SHARE)

    def budget(self, sequence: ActiveSequence, decoding: list[ActiveSequence],
               seconds: float) -> float:
        """Seconds the next chunk of ``sequence`` may take, of ``seconds`` left in the round:
        while a stream admitted after it can step, what pacing has earned (0: that stream
        steps first); else all of them."""
        seq_id = sequence.seq_id
        self._paced = self.pacing and self._entry(sequence).paced and any(
            s.seq_id > seq_id and not s.channel.paused and not s.channel.cancelled
            for s in decoding)
        if not self._paced:
            return seconds
        rate = self.rate
        smallest = MIN_PREFILL_CHUNK / rate if rate else 0.0  # a smaller chunk is not timed
        credit = self._credit
        if credit <= 0 or credit < smallest:
            return 0.0
        self._credit = min(credit, seconds)  # unspent credit is not banked past one round
        return min(seconds, credit)

    def fits(self, prefilling: list[ActiveSequence], seconds: float) -> bool:
        """True when the shortest prompt left could be prefilled in ``seconds`` at the measured
        rate (unknown rate: assumed so); a burst keeps waiting for its prompts only then, so it
        takes in as many as its window allows, shortest first, and never waits on a long one."""
        rate = self.rate
        if rate is None:
            return True
        return min(self.remaining(s) for s in prefilling) <= rate * seconds

    def _entry(self, sequence: ActiveSequence) -> _Entry:
        entry = self._entries.get(sequence.seq_id)
        if entry is None:
            cached = _cached(sequence)
            left = len(sequence.plan.prompt) - cached - (sequence.control.progress_tokens or 0)
            entry = self._entries[sequence.seq_id] = _Entry(cached, left)
        return entry


def _cached(sequence: ActiveSequence) -> int:
    """Prompt tokens the sequence's cache covers (as runners reuse them: all but the last)."""
    cache = sequence.request.cache
    if cache is None or sequence.control.progress_tokens:
        return 0  # progress already counted: only asked before the first chunk
    prompt = sequence.plan.prompt
    try:
        return max(0, min(common_prefix_length(cache.tokens, prompt), len(prompt) - 1))
    except Exception:  # a backend's cache that cannot list its tokens: count the whole prompt
        return 0


def _in_cache_order(prefilling: list[ActiveSequence]) -> list[ActiveSequence]:
    """The sequences that may take a chunk: of those sharing a caller's cache, only the one
    submitted first (cache edits keep submission order)."""
    seen: set[int] = set()
    eligible = []
    for sequence in sorted(prefilling, key=lambda s: s.seq_id):
        cache = sequence.plan.cache
        if cache is not None:
            if id(cache) in seen:
                continue
            seen.add(id(cache))
        eligible.append(sequence)
    return eligible
