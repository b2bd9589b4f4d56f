"""The scheduler's speculation loop: cancel mid-verification, 8 concurrent speculating streams,
``speculative=False`` and logprobs turn it off, adaptive drafting pauses where it misses, stats,
draft states closed, a runner that cannot verify."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import lmstream
from lmstream import Chunk, Info
from lmstream.model import Drafter, DraftState
from lmstream.protocol import GenerationParameters

REPLY = "the quick brown fox jumps over the lazy dog; " * 3


def _reply(prompt: str) -> str:
    return prompt.rsplit("|", 1)[1]


def _load(drafter: Any = "prompt_lookup", **options: Any) -> lmstream.ModelContext:
    return lmstream.load(backend="scripted", reply=_reply, model_chat_template=None,
                         drafter=drafter, **options)


class _Gate(DraftState):
    """Proposes the right continuation; the first proposal after ``arm`` signals and marks
    how many tokens were generated then."""

    def __init__(self, drafter: _GateDrafter, prompt_length: int) -> None:
        self.drafter = drafter
        self.prompt_length = prompt_length

    def propose(self, tokens: Sequence[int], limit: int) -> Sequence[int]:
        done = len(tokens) - self.prompt_length
        if self.drafter.armed.is_set() and not self.drafter.proposing.is_set():
            self.drafter.generated_then = done
            self.drafter.proposing.set()
        return list(REPLY.encode()[done:done + limit])


class _GateDrafter(Drafter):
    def __init__(self) -> None:
        self.armed = threading.Event()
        self.proposing = threading.Event()
        self.generated_then = -1

    def start(self, prompt: Sequence[int], parameters: GenerationParameters) -> DraftState:
        return _Gate(self, len(prompt))


def test_cancel_mid_verification_ends_the_stream_with_at_most_one_more_token() -> None:
    drafter = _GateDrafter()
    with _load(drafter, token_delay=0.2) as context:
        stream = context.generate_stream("x|" + REPLY, max_tokens=500)
        iterator = iter(stream)
        first = next(iterator)
        assert isinstance(first, Chunk)
        drafter.armed.set()
        assert drafter.proposing.wait(30)  # a verification of several drafts is under way
        stream.cancel()
        rest = list(iterator)
    info = rest[-1]
    assert isinstance(info, Info) and info.stop_reason == "cancelled"
    # the verified drafts after the cancel are dropped: one token at most gets through
    assert info.stats.generated_tokens <= drafter.generated_then + 1
    assert info.stats.generated_tokens < len(REPLY)


def test_eight_concurrent_speculating_streams_each_get_their_own_events() -> None:
    """Eight streams in one batch, each with its own reply and drafts (one not drafting): each
    gets exactly its own text, and verifications carry drafts for several rows at once."""
    replies = [f"stream {i}: " + REPLY[i:] + f" end {i}" for i in range(8)]
    with _load(token_delay=0.002) as context:
        runner = context.scheduler._backend_lane.runner
        batch_sizes: list[int] = []
        verify = runner.inner.verify

        def spy(seq_ids: Sequence[int], drafts: Sequence[Sequence[int]]) -> Any:
            batch_sizes.append(sum(1 for d in drafts if d))
            return verify(seq_ids, drafts)

        runner.inner.verify = spy
        streams = [context.generate_stream(f"{reply} {reply}|{reply}", max_tokens=400,
                                           speculative=i != 5)  # one stream opts out
                   for i, reply in enumerate(replies)]
        results: list[Any] = [None] * 8

        def read(i: int) -> None:
            results[i] = list(streams[i])

        threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    for i, (reply, events) in enumerate(zip(replies, results, strict=True)):
        assert "".join(e.text for e in events if isinstance(e, Chunk)) == reply
        info = events[-1]
        assert info.stop_reason == "stop"
        assert (info.stats.draft_tokens_accepted > 0) is (i != 5)
        assert info.stats.generated_tokens == len(reply) + 1
    assert max(batch_sizes) > 1  # several rows carried drafts in one verification


class _Counting(Drafter):
    """Counts starts and proposals; proposes tokens that never match."""

    def __init__(self) -> None:
        self.starts = 0
        self.proposals = 0
        self.closed = 0

    def start(self, prompt: Sequence[int], parameters: GenerationParameters) -> DraftState:
        self.starts += 1
        owner = self

        class Miss(DraftState):
            def propose(self, tokens: Sequence[int], limit: int) -> Sequence[int]:
                owner.proposals += 1
                return [7] * limit  # a control character the reply never has

            def close(self) -> None:
                owner.closed += 1

        return Miss()


@pytest.mark.parametrize("parameters", [{"speculative": False}, {"logprobs": True}])
def test_speculative_false_and_logprobs_do_not_draft(parameters: dict[str, Any]) -> None:
    drafter = _Counting()
    with _load(drafter) as context:
        result = context.generate("x|" + REPLY, **parameters)
        assert result.text == REPLY
        assert drafter.starts == 0 and drafter.proposals == 0
        assert result.info.stats.draft_tokens_proposed == 0
        result = context.generate("x|" + REPLY)  # the default: speculative=True
        assert result.text == REPLY and drafter.starts == 1
    assert drafter.closed == 1  # the draft state closed when its generation ended


def test_drafting_pauses_where_it_keeps_missing_and_retries() -> None:
    drafter = _Counting()
    with _load(drafter) as context:
        result = context.generate("x|" + "abcdefghij" * 30, max_tokens=300)
    stats = result.info.stats
    assert stats.generated_tokens == 300 and stats.draft_tokens_accepted == 0
    # three misses pause it, then retries with one token spaced ever further apart
    assert 4 < drafter.proposals < 40
    assert stats.draft_tokens_proposed < 60


def test_prompt_lookup_counts_and_saves_steps() -> None:
    with _load(token_delay=0.0) as context:
        runner = context.scheduler._backend_lane.runner
        steps = 0
        step, verify = runner.inner.step, runner.inner.verify

        def count(function: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(*args: Any) -> Any:
                nonlocal steps
                steps += 1
                return function(*args)
            return wrapped

        runner.inner.step, runner.inner.verify = count(step), count(verify)
        result = context.generate("Rewrite: " + REPLY + "|" + REPLY, max_tokens=500)
    assert result.text == REPLY
    stats = result.info.stats
    assert 0 < stats.draft_tokens_accepted <= stats.draft_tokens_proposed
    assert steps == stats.generated_tokens - stats.draft_tokens_accepted  # one token per step saved
    assert steps < stats.generated_tokens / 2


def test_a_runner_that_cannot_verify_leaves_the_drafter_unused(caplog: pytest.LogCaptureFixture) -> None:
    drafter = _Counting()
    with _load(drafter, batching=False) as context:  # one sequence at a time: no verify
        assert context.generate("x|hello").text == "hello"
    assert drafter.starts == 0
    assert "cannot verify draft tokens" in caplog.text


@pytest.mark.parametrize("bad", [RuntimeError("drafter bug"), [-1, 2], ["a"], [1.5]])
def test_a_failing_drafter_stops_drafting_for_that_generation_only(bad: Any) -> None:
    class Broken(DraftState):
        def propose(self, tokens: Sequence[int], limit: int) -> Sequence[int]:
            if isinstance(bad, Exception):
                raise bad
            return bad  # type: ignore[no-any-return]

    class BrokenDrafter(Drafter):
        def start(self, prompt: Sequence[int], parameters: GenerationParameters) -> DraftState:
            return Broken()

    with _load(BrokenDrafter()) as context:
        result = context.generate("x|" + REPLY)
    assert result.text == REPLY and result.info.stats.draft_tokens_proposed == 0


def test_a_prompt_cache_holds_exactly_tokens_the_model_agreed_with() -> None:
    """After a speculating generation stopped by a stop string, the caller's cache holds the
    prompt and a prefix of the model's own continuation (verified tokens past the stop
    included), and the next turn reuses it with the same output as without drafts."""
    reply = "alpha beta gamma delta; alpha beta gamma delta; epsilon"
    with _load() as context, _load(None) as plain:
        cache = context.new_cache()
        prompt = "x|" + reply
        first = context.generate(prompt, cache=cache, stop=["epsilon"])
        assert first.text == "alpha beta gamma delta; alpha beta gamma delta; "
        assert first.info.stats.draft_tokens_accepted > 0
        ids = context.tokenizer.encode(prompt)
        full = ids + list(reply.encode())
        assert cache.tokens == full[:len(cache.tokens)]
        assert len(cache.tokens) >= len(ids) + first.info.stats.generated_tokens - 1
        follow = prompt + first.text + "|again"
        second = context.generate(follow, cache=cache)
        assert second.info.stats.cached_prompt_tokens >= len(ids)
        assert second.text == plain.generate(follow).text == "again"
