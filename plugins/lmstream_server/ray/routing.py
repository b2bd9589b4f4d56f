"""``PrefixRouter``: Ray Serve request router sending a prompt to the replica that served its prefix.

For each request it looks up the longest prefix key (see prefix.py) some live replica served and
prefers that replica when the match covers at least ``min_match`` of the prompt's blocks (a
conversation's next turn; not just a shared chat-template header) and that replica has fewer than
``imbalance`` more requests queued than the least loaded one; otherwise (and for prompts with no
known prefix) it picks the least-loaded replica, as Ray's default router does. It remembers at most ``max_keys`` keys (least recently used dropped).
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


class PrefixRouter(FIFOMixin, RequestRouter):
    """Prefix-affinity routing with a least-loaded fallback (see the module docstring)."""

    def initialize_state(self, max_keys: int = 200_000, imbalance: int = 4, min_match: float = 0.5,
                         **_: Any) -> None:
        """Bound of the key table, the queue imbalance beyond which affinity yields to load, and
        the fraction of a prompt's blocks a replica must hold for affinity."""
        self._owners: OrderedDict[str, ReplicaID] = OrderedDict()
        self._max_keys = max_keys
        self._imbalance = imbalance
        self._min_match = min_match

    def _queue_len(self, replica: RunningReplica) -> int:
        length = self._replica_queue_len_cache.get(replica.replica_id)
        return 0 if length is None else int(length)

    async def choose_replicas(self, candidate_replicas: list[RunningReplica],
                              pending_request: PendingRequest | None = None) -> list[list[RunningReplica]]:
        """Ranks: the prefix owner first (if loaded no worse than ``imbalance``), then all by load."""
        if not candidate_replicas:
            return []
        ranked = sorted(candidate_replicas, key=self._queue_len)
        request = _routed(pending_request)
        if request is not None and request.prefix_keys:
            by_id = {replica.replica_id: replica for replica in candidate_replicas}
            keys = request.prefix_keys
            for matched in range(len(keys), 0, -1):
                if matched < self._min_match * len(keys):
                    break
                owner = by_id.get(self._owners.get(keys[matched - 1]))  # type: ignore[arg-type]
                if owner is not None:
                    if self._queue_len(owner) - self._queue_len(ranked[0]) < self._imbalance:
                        return [[owner], ranked]
                    break
        return [ranked]

    def on_request_routed(self, pending_request: PendingRequest, replica_id: ReplicaID, result: Any) -> None:
        """Remember that ``replica_id`` now holds this prompt's prefixes."""
        request = _routed(pending_request)
        if request is None:
            return
        for key in request.prefix_keys:
            self._owners[key] = replica_id
            self._owners.move_to_end(key)
        while len(self._owners) > self._max_keys:
            self._owners.popitem(last=False)

    def on_replica_actor_died(self, replica_id: ReplicaID) -> None:
        """Forget what a dead replica held (its caches died with it)."""
        super().on_replica_actor_died(replica_id)
        for key in [key for key, owner in self._owners.items() if owner == replica_id]:
            del self._owners[key]
