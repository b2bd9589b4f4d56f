"""``PrefixRouter``: Ray Serve request router sending a prompt to the replica that served its prefix.

A request whose client named its conversation (OpenAI's ``prompt_cache_key``) goes to the
replica that served the last request with that name, unless that replica has ``imbalance``
more requests queued than the least loaded one. Otherwise, it looks up the longest prefix key (see prefix.py) some live replica served and
prefers that replica when the match covers at least ``min_match`` of the prompt's blocks (a
conversation's next turn; not just a shared chat-template header) and that replica has fewer than
``imbalance`` more requests queued than the least loaded one; otherwise (and for prompts with no
known prefix) it picks the least-loaded replica. Load is this router's own count of the
requests it sent to each replica that have not completed (exact for the one ingress, never
stale), then Ray's cached queue lengths. It remembers at most ``max_keys`` keys (least recently used dropped).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ray.serve.request_router import (
    FIFOMixin,
    PendingRequest,
    ReplicaID,
    RequestRouter,
    RunningReplica,
)

from .replica import RoutedRequest


def _routed(pending: PendingRequest | None) -> RoutedRequest | None:
    """The RoutedRequest among a pending request's arguments, if any."""
    if pending is None:
        return None
    for arg in pending.args:
        if isinstance(arg, RoutedRequest):
            return arg
    return None


class PrefixRouter(FIFOMixin, RequestRouter):  # type: ignore[misc]  # ray is untyped where lint runs
    """Prefix-affinity routing with a least-loaded fallback (see the module docstring)."""

    def initialize_state(self, max_keys: int = 200_000, imbalance: int = 4, min_match: float = 0.5,
                         **_: Any) -> None:
        """Bound of the key table, the queue imbalance beyond which affinity yields to load, and
        the fraction of a prompt's blocks a replica must hold for affinity."""
        self._owners: OrderedDict[str, ReplicaID] = OrderedDict()
        self._max_keys = max_keys
        self._imbalance = imbalance
        self._min_match = min_match
        self._sent: dict[ReplicaID, int] = {}
        self._turn = 0
        self._choosing: dict[str, ReplicaID] = {}
        """Request id -> the replica chosen for it, until routed (a burst is chosen before any is routed)."""

    def _queue_len(self, replica: RunningReplica) -> int:
        """Requests this router has in flight on ``replica`` (else Ray's cached queue length)."""
        sent = self._sent.get(replica.replica_id)
        if sent is not None or replica.replica_id in self._choosing.values():
            return (sent or 0) + sum(1 for chosen in self._choosing.values() if chosen == replica.replica_id)
        length = self._replica_queue_len_cache.get(replica.replica_id)
        return 0 if length is None else int(length)

    async def choose_replicas(self, candidate_replicas: list[RunningReplica],
                              pending_request: PendingRequest | None = None) -> list[list[RunningReplica]]:
        """Ranks: the prefix owner first (if loaded no worse than ``imbalance``), then all by load."""
        if not candidate_replicas:
            return []
        # ties rotate: a burst of requests is chosen before any is routed (same loads seen)
        self._turn += 1
        count = len(candidate_replicas)
        ranked = [replica for _, _, replica in sorted(
            (self._queue_len(replica), (index + self._turn) % count, replica)
            for index, replica in enumerate(candidate_replicas))]
        request = _routed(pending_request)
        by_id = {replica.replica_id: replica for replica in candidate_replicas}
        if request is not None and request.cache_key is not None:
            owner = by_id.get(self._owners.get(request.cache_key))  # type: ignore[arg-type]
            if owner is not None and self._queue_len(owner) - self._queue_len(ranked[0]) < self._imbalance:
                self._note_choice(pending_request, owner)
                return [[owner], ranked]
        if request is not None and request.prefix_keys:
            keys = request.prefix_keys
            for matched in range(len(keys), 0, -1):
                if matched < self._min_match * len(keys):
                    break
                owner = by_id.get(self._owners.get(keys[matched - 1]))  # type: ignore[arg-type]
                if owner is not None:
                    if self._queue_len(owner) - self._queue_len(ranked[0]) < self._imbalance:
                        self._note_choice(pending_request, owner)
                        return [[owner], ranked]
                    break
        self._note_choice(pending_request, ranked[0])
        return [[ranked[0]], ranked[1:]] if len(ranked) > 1 else [ranked]

    def _note_choice(self, pending_request: PendingRequest | None, replica: RunningReplica) -> None:
        """Count ``replica``'s load +1 until the request is routed (bounded table)."""
        if pending_request is not None and len(self._choosing) < 10_000:
            self._choosing[pending_request.metadata.internal_request_id] = replica.replica_id

    def on_request_routed(self, pending_request: PendingRequest, replica_id: ReplicaID, result: Any) -> None:
        """Count the request on ``replica_id``; remember that it now holds this prompt's prefixes
        (and the conversation the client named)."""
        self._sent[replica_id] = self._sent.get(replica_id, 0) + 1
        self._choosing.pop(pending_request.metadata.internal_request_id, None)
        request = _routed(pending_request)
        if request is None:
            return
        named = (request.cache_key,) if request.cache_key is not None else ()
        for key in (*request.prefix_keys, *named):
            self._owners[key] = replica_id
            self._owners.move_to_end(key)
        while len(self._owners) > self._max_keys:
            self._owners.popitem(last=False)

    def on_request_completed(self, replica_id: ReplicaID, internal_request_id: str) -> None:
        """A request sent to ``replica_id`` completed (streamed to its end, failed or cancelled)."""
        if self._sent.get(replica_id):
            self._sent[replica_id] -= 1

    def on_replica_actor_died(self, replica_id: ReplicaID) -> None:
        """Forget what a dead replica held (its caches died with it)."""
        super().on_replica_actor_died(replica_id)
        self._sent.pop(replica_id, None)
        for key in [key for key, owner in self._owners.items() if owner == replica_id]:
            del self._owners[key]
