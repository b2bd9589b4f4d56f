"""Several short prompts prefilled in one model call (the batch runner's ``prefill_many``).

Each model call on CPU costs a pass over the weights besides its positions: eight chat prompts
of 39-81 tokens prefilled one by one took ~1.8-2.0 s of process CPU time, in two calls (six
prompts of 39-42 tokens, two of 79-81) ~1.3-1.4 s, with the same greedy tokens after (load
~5.5). The rows of a call are padded to its longest prompt, so prompts are grouped by length:
a row joins a group only when the padding it adds costs less than a call of its own
(``PREFILL_CALL_POSITIONS``). Only numpy decoder layers serve such calls (each row keeps its
own cache, ``RowCaches``); the runner prefills other rows one by one.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import mlx.nn as nn

from . import memory
from .blas_scope import model_call
from .cpu_attention import row_caches
from .rows import Row
from .speed import blas_threads_of

PREFILL_CALL_POSITIONS = 20
"""What one prefill call costs beyond its positions, in positions (a 42-token prompt's prefill
took ~182 ms of thread CPU, a 79-token one ~287 ms: ~2.8 ms a position, ~64 ms a call, load ~5)."""


def groups(lengths: Sequence[int]) -> list[list[int]]:
    """Indexes of ``lengths`` in calls: shortest first, a row joining the open group while the
    padding it adds (its extra length over the group's rows) costs less than a call of its own."""
    order = sorted(range(len(lengths)), key=lambda k: lengths[k])
    result: list[list[int]] = []
    for k in order:
        if result:
            group = result[-1]
            longest = lengths[group[-1]]
            if len(group) * (lengths[k] - longest) <= PREFILL_CALL_POSITIONS:
                group.append(k)
                continue
        result.append([k])
    return result


def batchable(row: Row) -> bool:
    """Whether ``row`` can be prefilled in a call with others: plain caches of its own (not
    merged into a batch cache), no rotating or quantized ones (``Row.batchable``), and no chunk
    stopped part-way (``Row.partial``: it goes on alone first)."""
    return row.batchable and row.partial is None and bool(row.cache.layers)


def prefill_together(model: nn.Module, rows: Sequence[Row], chunks: Sequence[list[int]]) -> None:
    """Feed row ``k`` the prompt ids ``chunks[k]`` in one model call (padded to the longest),
    writing only its real ids to its own caches; on an error every row's caches are cut back
    to what they held before and the error is raised."""
    counts = [len(c) for c in chunks]
    length = max(counts)
    inputs = mx.array([c + [c[-1]] * (length - len(c)) for c in chunks], dtype=mx.uint32)
    layers = row_caches([row.cache.layers for row in rows], counts)
    offsets = [[c.offset for c in row.cache.layers or ()] for row in rows]
    try:
        with model_call(blas_threads_of(model), prefill=True, batched=True):
            model(inputs, cache=layers)
    except BaseException:
        for row, before in zip(rows, offsets, strict=True):
            for cache, offset in zip(row.cache.layers or (), before, strict=True):
                cache.trim(cache.offset - offset)
        raise
    finally:
        memory.clear_cache()
    for row, chunk in zip(rows, chunks, strict=True):
        row.setup.record(mx.array(chunk, dtype=mx.uint32))
        row.cache.extend(chunk)
