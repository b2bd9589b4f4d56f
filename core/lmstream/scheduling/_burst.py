"""A lane's burst: requests arriving together while no stream has a token yet.

Until some stream of the lane has a token, the scheduler keeps admitting and prefilling
newcomers before the first decode step, so a burst (threads of a server, a batch job)
starts decoding as one batch instead of one newcomer per step. The wait is bounded by a
window (``BURST_CHUNKS`` prefill budgets), and the burst holds its first step only while the
shortest prompt left fits what remains of the window (a long one would only delay the others).
"""

from __future__ import annotations

import time

from ._prefill_policy import PrefillPolicy
from ._sequence import ActiveSequence

BURST_CHUNKS = 8
"""How long (in prefill budgets) a burst's first step may wait for newcomers to prefill."""


class Burst:
    """The burst window of one scheduler lane (worker thread only)."""

    def __init__(self, prefill_chunk_s: float) -> None:
        self.seconds = BURST_CHUNKS * prefill_chunk_s
        """The window: how long the first step may wait."""
        self.started: float | None = None
        """When the current burst's first prefill began (None once the lane has stepped)."""

    def active(self, decoding: list[ActiveSequence]) -> bool:
        """True while no stream of the lane has a token yet and the burst is young enough."""
        if any(s.generated for s in decoding):
            return False
        now = time.perf_counter()
        if self.started is None:
            self.started = now
        return now - self.started < self.seconds

    def left(self) -> float:
        """Seconds left of the window (0 outside a burst)."""
        if self.started is None:
            return 0.0
        return self.started + self.seconds - time.perf_counter()

    def holds(self, policy: PrefillPolicy, prefilling: list[ActiveSequence], room: bool) -> bool:
        """Whether the burst's prefilled streams wait for more: for the prompts still
        prefilling while the shortest fits the window, else for newcomers while the lane has
        ``room``."""
        if not prefilling:
            return room
        return policy.fits(prefilling, self.left())

    def waits_for(self, policy: PrefillPolicy, sequence: ActiveSequence) -> bool:
        """Whether the burst would hold its first step for ``sequence``: its rest fits what is
        left of the window (the rule ``holds`` applies to the shortest prompt left)."""
        return policy.fits([sequence], self.left())

    def end(self) -> None:
        """The lane stepped: the next arrivals on an idle lane start a new burst."""
        self.started = None
