"""The llama.cpp context shared by every sequence of one model: slots, batches, KV cells.

One ``llama_context`` with a unified KV cache of ``n_ctx`` cells and ``n_seq_max`` sequence
ids ("slots"). A running sequence owns one slot; ``decode`` puts tokens of several slots
into one ``llama_batch`` and runs them in one ``llama_decode``. A slot's KV entries can be
saved to bytes and restored into any slot (how prompt caches outlive their sequence).

The last sequence to finish leaves its cells *warm*: its slot keeps the entries it just saved
until the next ``acquire``. When that next sequence continues the same saved entries (the next
turn of a conversation, from the prefix cache or a ChatSession), it takes the warm slot as it
is and skips writing ~50 MB back into the KV cache (``llama_state_seq_set_data``: tens of ms
for a 2,000-token prompt on the default model, before its first token); any other sequence
frees the warm cells first, so it finds the KV cache exactly as if they had been freed at once
(the same cells, so the same numerics: off flash attention, llama.cpp's results depend on
where in the cache the entries sit). Everything runs on the model context's worker thread.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np

from .cache import SavedState

_DECODE_ERRORS = {
    1: "no room in the KV cache: the context's {n_ctx} cells are full (they are shared by all "
       "running sequences); load with a larger n_ctx or run fewer sequences together",
    2: "llama_decode was aborted",
    -1: "llama_decode rejected the batch (invalid input)",
}


class DecodeError(RuntimeError):
    """``llama_decode`` failed; the message says why and what to change."""


@dataclass(frozen=True)
class DecodeItem:
    """Tokens of one slot to decode, from position ``start``; ``logits``: want the last one's."""

    slot: int
    tokens: Sequence[int]
    start: int
    logits: bool


class Engine:
    """A llama.cpp context, its sequence slots and a reusable ``llama_batch``."""

    def __init__(self, ctx: Any, *, n_ctx: int, n_batch: int, n_seq_max: int, n_vocab: int,
                 kv_bytes_per_token: int, weights_bytes: int, can_trim: bool = True) -> None:
        self.ctx = ctx
        self.can_trim = can_trim
        """False for recurrent/hybrid models: a slot cannot drop its last positions."""
        self.memory = llama_cpp.llama_get_memory(ctx)
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.n_seq_max = n_seq_max
        self.n_vocab = n_vocab
        self.kv_bytes_per_token = kv_bytes_per_token
        self.weights_bytes = weights_bytes
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        b = self._batch
        self._token = np.ctypeslib.as_array(b.token, shape=(n_batch,))
        self._pos = np.ctypeslib.as_array(b.pos, shape=(n_batch,))
        self._n_seq = np.ctypeslib.as_array(b.n_seq_id, shape=(n_batch,))
        self._logits = np.ctypeslib.as_array(b.logits, shape=(n_batch,))
        self._n_seq[:] = 1
        self._free = list(range(n_seq_max - 1, -1, -1))
        self._limit = n_seq_max
        self._lengths: dict[int, int] = {}
        """Tokens each busy slot holds (for the KV figures)."""
        self._warm: tuple[int, SavedState, int] | None = None
        """(slot, saved bytes, tokens): a released slot whose cells still hold these entries."""

    # -- slots --------------------------------------------------------------------------
    @property
    def slot_limit(self) -> int:
        """Slots in use at most (``n_seq_max`` unless ``limit_slots`` lowered it)."""
        return self._limit

    def limit_slots(self, count: int) -> None:
        """Use at most ``count`` of the ``n_seq_max`` slots (the scheduler's max_batch_size)."""
        self._limit = max(1, min(count, self.n_seq_max))

    def acquire(self, state: SavedState | None = None) -> int:
        """A free slot; RuntimeError when all ``n_seq_max`` are running. With ``state`` (the
        saved entries the sequence will reuse), the warm slot when it holds exactly those
        (``held`` tells how many tokens), else an empty one."""
        warm, self._warm = self._warm, None
        if warm is not None:
            slot, saved, length = warm
            if state is not None and saved is state:
                self._lengths[slot] = length
                return slot
            llama_cpp.llama_memory_seq_rm(self.memory, slot, -1, -1)
            self._free.append(slot)
        if not self._free or self.busy_slots >= self._limit:
            raise RuntimeError(f"all {self._limit} llama.cpp sequence slots are busy; load with a "
                               "larger n_seq_max to run more sequences at once")
        slot = self._free.pop()
        llama_cpp.llama_memory_seq_rm(self.memory, slot, -1, -1)
        self._lengths[slot] = 0
        return slot

    def held(self, slot: int) -> int:
        """Tokens a slot holds (an acquired warm slot: its saved entries)."""
        return self._lengths.get(slot, 0)

    def release(self, slot: int, saved: SavedState | None = None) -> None:
        """Make the slot free again and drop its KV entries; with ``saved`` (the bytes they
        were just saved to) and no other sequence running, the cells stay warm instead."""
        length = self._lengths.pop(slot, 0)
        if (saved is not None and length and self.can_trim and self._warm is None
                and self.busy_slots == 1):
            self._warm = (slot, saved, length)
            return
        llama_cpp.llama_memory_seq_rm(self.memory, slot, -1, -1)
        self._free.append(slot)

    @property
    def busy_slots(self) -> int:
        """Slots held by running sequences."""
        return self.n_seq_max - len(self._free) - (self._warm is not None)

    @property
    def used_cells(self) -> int:
        """KV cells the running sequences hold."""
        return sum(self._lengths.values())

    def trim(self, slot: int, keep: int) -> bool:
        """Keep the slot's first ``keep`` positions; False when llama.cpp cannot (then it is empty)."""
        ok = bool(llama_cpp.llama_memory_seq_rm(self.memory, slot, keep, -1))
        if not ok:
            llama_cpp.llama_memory_seq_rm(self.memory, slot, -1, -1)
            keep = 0
        self._lengths[slot] = keep
        return ok

    @property
    def can_shift(self) -> bool:
        """Whether llama.cpp can move KV positions (context shifting) for this model."""
        return bool(llama_cpp.llama_memory_can_shift(self.memory))

    def shift(self, slot: int, keep: int, discard: int) -> None:
        """Drop positions ``[keep, keep + discard)`` of a slot and move the rest down (llama.cpp
        re-rotates their keys), as llama-server's context shift does."""
        llama_cpp.llama_memory_seq_rm(self.memory, slot, keep, keep + discard)
        llama_cpp.llama_memory_seq_add(self.memory, slot, keep + discard, -1, -discard)
        self._lengths[slot] = self._lengths.get(slot, 0) - discard

    def save(self, slot: int) -> SavedState:
        """The slot's KV entries (``restore`` reads them back into any slot), written by llama.cpp
        straight into an uninitialized, then read-only, buffer: a zero-filled ctypes array
        copied to ``bytes`` cost ~50 ms of Python-side work for a 2,200-token prompt on the
        default model, where llama.cpp's own copy takes ~7 ms."""
        size = int(llama_cpp.llama_state_seq_get_size(self.ctx, slot))
        buf = np.empty(size, dtype=np.uint8)
        written = int(llama_cpp.llama_state_seq_get_data(
            self.ctx, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), size, slot))
        state = buf[:written] if written < size else buf
        state.flags.writeable = False
        return state

    def restore(self, slot: int, state: SavedState, length: int) -> bool:
        """Load saved KV entries (``length`` tokens) into ``slot``; False when they do not fit."""
        pointer = _pointer(state)  # no copy
        ok = int(llama_cpp.llama_state_seq_set_data(self.ctx, pointer, len(state), slot)) > 0
        if not ok:
            llama_cpp.llama_memory_seq_rm(self.memory, slot, -1, -1)
        self._lengths[slot] = length if ok else 0
        return ok

    # -- compute ------------------------------------------------------------------------
    def decode(self, items: Sequence[DecodeItem]) -> list[int]:
        """Run ``items`` in one ``llama_decode``; returns each item's output index (or -1)."""
        n = 0
        outputs: list[int] = []
        seq_ids = self._batch.seq_id
        for item in items:
            count = len(item.tokens)
            if count == 0:
                raise ValueError("a decode item needs at least one token")
            if n + count > self.n_batch:
                raise ValueError(f"{n + count} tokens do not fit one batch (n_batch={self.n_batch})")
            self._token[n:n + count] = item.tokens
            self._pos[n:n + count] = np.arange(item.start, item.start + count)
            self._logits[n:n + count] = 0
            for i in range(n, n + count):
                seq_ids[i][0] = item.slot
            n += count
            if item.logits:
                self._logits[n - 1] = 1
            outputs.append(n - 1 if item.logits else -1)
        self._batch.n_tokens = n
        rc = int(llama_cpp.llama_decode(self.ctx, self._batch))
        if rc != 0:
            message = _DECODE_ERRORS.get(rc, "llama_decode failed with code {rc}")
            raise DecodeError(message.format(n_ctx=self.n_ctx, rc=rc))
        for item in items:
            self._lengths[item.slot] = item.start + len(item.tokens)
        return outputs

    def close(self) -> None:
        """Free the batch and the context (the model is freed by its owner)."""
        if self.ctx is not None:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self.ctx)
            self.ctx = None


def _pointer(state: SavedState) -> Any:
    """A ``uint8_t*`` to saved entries, without copying them."""
    if isinstance(state, bytes):
        return ctypes.cast(ctypes.c_char_p(state), ctypes.POINTER(ctypes.c_uint8))
    return state.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
