"""Drive a backend's BatchRunner with ``step`` or ``verify`` (shared by the mlx and llama.cpp tests).

``run_rows`` adds the rows, prefills them, then steps or verifies them together until each has
``take`` tokens, asking ``drafts(seq_id, tokens_so_far)`` for each row's drafts, and removes a
row once it has its tokens. It returns every row's tokens (accepted drafts, then the step's
token, in order) and how many calls it took.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from lmstream.model import GenerationControl, SequenceRequest
from lmstream.protocol import GenerationParameters

Drafts = Callable[[int, list[int]], Sequence[int]]


def request(seq_id: int, prompt: Sequence[int], cache: Any = None, constraint: Any = None,
            **parameters: Any) -> SequenceRequest:
    """A SequenceRequest with these sampling parameters (and a fresh control)."""
    return SequenceRequest(seq_id, tuple(prompt), GenerationParameters(**parameters), cache,
                           GenerationControl(threading.Event()), constraint)


def run_rows(context: Any, requests: list[SequenceRequest], take: int,
             drafts: Drafts | None = None) -> tuple[dict[int, list[int]], int]:
    """Generate ``take`` tokens per row with ``verify`` (``drafts`` given) or ``step``."""

    def job() -> tuple[dict[int, list[int]], int]:
        runner = context.backend_model.new_batch_runner()
        out: dict[int, list[int]] = {r.seq_id: [] for r in requests}
        for r in requests:
            runner.add(r)
        for r in requests:
            while not runner.prefill(r.seq_id, 64):
                pass
        calls = 0
        try:
            while True:
                ids = [i for i in out if len(out[i]) < take]
                if not ids:
                    break
                calls += 1
                if drafts is None:
                    results = runner.step(ids)
                else:
                    room = runner.max_draft_tokens
                    asked = [list(drafts(i, out[i]))[:min(room, take - len(out[i]) - 1)] for i in ids]
                    results = runner.verify(ids, asked)
                for result in results:
                    if result.error is not None:
                        raise result.error
                    out[result.seq_id].extend([*result.accepted, result.token])
                    if len(out[result.seq_id]) >= take:
                        runner.remove(result.seq_id)
        finally:
            runner.close()
        return out, calls

    result: tuple[dict[int, list[int]], int] = context.worker.call(job)
    return result


def from_reference(reference: dict[int, list[int]], count: int, wrong_at: int | None = None,
                   vocab: int = 0) -> Drafts:
    """Drafts that copy the reference continuation (``count`` tokens), with the draft at
    ``wrong_at`` replaced by another id (a rejection there)."""

    def drafts(seq_id: int, so_far: list[int]) -> list[int]:
        proposal = list(reference[seq_id][len(so_far):len(so_far) + count])
        if wrong_at is not None and wrong_at < len(proposal):
            proposal[wrong_at] = (proposal[wrong_at] + 1) % max(vocab, proposal[wrong_at] + 2)
        return proposal

    return drafts


COPY_TASK = ("Repeat this line exactly, then stop: def area(width, height): return width * height "
             "# the area of a rectangle")
"""A chat prompt whose answer repeats the prompt (prompt lookup and draft models get accepted)."""


def generate_ids(context: Any, text: str, max_tokens: int, speculative: bool) -> tuple[list[int], Any]:
    """Greedy token ids of one chat turn through the whole pipeline, and its final stats."""
    import lmstream

    ids: list[int] = []
    stats = None
    for event in lmstream.generate_tokens(
            lmstream.UserInput(messages=[{"role": "user", "content": text}]), context=context,
            parameters={"max_tokens": max_tokens, "temperature": 0.0, "speculative": speculative}):
        if isinstance(event, lmstream.Token):
            ids.append(event.id)
        elif isinstance(event, lmstream.Info):
            if event.error is not None:
                raise event.error
            stats = event.stats
    return ids, stats
