"""The batched decode contract on llama.cpp: many sequences, one ``llama_decode`` per step.

Each sequence owns an engine slot (its llama.cpp ``seq_id``) and a sampler chain. Prefill
runs the prompt in chunks of at most ``n_batch`` tokens and asks for the last prompt token's
logits, so the first token is sampled from exactly the prompt's logits, as llama.cpp's own
``Llama.generate`` does (greedy output is then token-for-token the same). A step feeds each
sequence's last sampled token at its next position, all in one batch, and samples each
sequence from its own output row. A constrained sequence's row is masked in place first
(``masking``): forbidden tokens get -inf before its sampler chain reads them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from lmstream import GenerationParameters
from lmstream.backend import BatchRunner, SequenceRequest, StepResult, common_prefix_length

from . import memory
from .cache import LlamaCppPromptCache
from .engine import DecodeError, DecodeItem, Engine
from .masking import constrain_logits
from .sampling import SamplerChain, check_sampling, logits_row, logprobs
from .sequence import RunningSequence
from .verify import draft_limit, verify, verify_cost

logger = logging.getLogger("lmstream.llama_cpp")

SHIFT_KEEP = 4
"""Tokens a context shift never drops (attention sinks, as the mlx backend's rotating cache)."""


def check_request(prompt: Sequence[int], parameters: GenerationParameters, engine: Engine) -> None:
    """Raise ValueError for input this backend cannot run (the field is named)."""
    if not prompt:
        raise ValueError("the prompt is empty; a generation needs at least one prompt token")
    n_vocab = engine.n_vocab
    bad = [t for t in prompt if not 0 <= t < n_vocab]
    if bad:
        raise ValueError(f"prompt token ids outside the vocabulary (size {n_vocab}): {bad[:8]}")
    if len(prompt) >= engine.n_ctx:
        raise ValueError(f"the prompt has {len(prompt)} tokens; the context holds {engine.n_ctx}")
    if parameters.kv_bits is not None:
        raise ValueError("kv_bits is not supported by the llama_cpp backend (llama.cpp sets the KV "
                         "cache type per context, not per generation)")
    window = parameters.max_kv_size
    if window is not None:
        if not engine.can_shift:
            raise ValueError("max_kv_size needs context shifting, which llama.cpp does not support "
                             "for this model; load with a larger n_ctx instead")
        if not SHIFT_KEEP + 2 <= window <= engine.n_ctx:
            raise ValueError(f"max_kv_size must be between {SHIFT_KEEP + 2} and n_ctx "
                             f"({engine.n_ctx}), not {window}")
        if len(prompt) >= window:
            raise ValueError(f"the prompt has {len(prompt)} tokens; max_kv_size={window} must be "
                             "larger than the prompt on the llama_cpp backend")
    check_sampling(parameters, n_vocab)


class LlamaCppBatchRunner(BatchRunner):
    """Steps up to ``n_seq_max`` sequences of one llama.cpp context together."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._seqs: dict[int, RunningSequence] = {}
        self.max_draft_tokens = draft_limit(engine)  # 0 where KV cells cannot be dropped

    @property  # type: ignore[override]
    def max_batch_size(self) -> int:
        """Sequences stepped together at most: the context's ``n_seq_max`` slots (or fewer)."""
        return self.engine.slot_limit

    @max_batch_size.setter
    def max_batch_size(self, value: int) -> None:
        """The scheduler's ``max_batch_size`` option: above ``n_seq_max`` it is capped (logged)."""
        if value >= self.engine.n_seq_max:
            self.engine.limit_slots(self.engine.n_seq_max)
        if value > self.engine.n_seq_max:
            logger.warning("max_batch_size=%d is more than the context's n_seq_max=%d sequence "
                           "slots; decoding at most %d together (load with n_seq_max=%d)",
                           value, self.engine.n_seq_max, self.engine.n_seq_max, value)
        elif value >= 1:
            self.engine.limit_slots(value)

    def verify(self, seq_ids: Sequence[int], drafts: Sequence[Sequence[int]]) -> list[StepResult]:
        """One ``llama_decode`` scoring each sequence's drafts too (verify.py)."""
        return verify(self, seq_ids, drafts)

    def verify_cost(self, lengths: Sequence[int]) -> float:
        """A step's cost where row ``i`` verifies ``lengths[i]`` drafts, in positions (verify.py)."""
        return verify_cost(lengths)

    # -- admission ----------------------------------------------------------------------
    def add(self, request: SequenceRequest) -> None:
        """Take a new sequence: check it, give it a slot and a sampler, restore its cache."""
        engine = self.engine
        if request.seq_id in self._seqs:
            raise ValueError(f"sequence {request.seq_id} is already running")
        prompt = [int(t) for t in request.prompt]
        check_request(prompt, request.parameters, engine)
        cache = request.cache
        if cache is not None:
            if not (isinstance(cache, LlamaCppPromptCache) and cache._engine is engine):
                raise TypeError("cache must come from this model's new_cache() (context.new_cache())")
            if cache.in_use:
                raise RuntimeError("this prompt cache is in use by another running generation")
        chain = SamplerChain(request.parameters, engine.n_vocab, prompt)
        try:
            slot = engine.acquire(cache.state if cache is not None else None)
        except BaseException:
            chain.close()
            raise
        figures = request.control.memory
        figures["baseline_bytes"] = memory.rss_bytes()
        figures["weights_bytes"] = engine.weights_bytes
        cached = 0
        if cache is not None:
            cache.in_use = True
            cached = self._restore(cache, slot, prompt)
            cache.state = None  # the slot holds it now (remove() saves it again): no second host copy
        self._seqs[request.seq_id] = RunningSequence(request, slot, prompt, chain, prompt[:cached], cached,
                                               figures=figures)

    def _restore(self, cache: LlamaCppPromptCache, slot: int, prompt: list[int]) -> int:
        """Load the cache's entries into ``slot`` and trim them to the prompt's common prefix
        (one prompt token always stays to prefill, for its logits); returns the tokens kept."""
        keep = min(common_prefix_length(cache.tokens, prompt), len(prompt) - 1)
        engine = self.engine
        if keep <= 0 or cache.state is None:
            engine.trim(slot, 0)  # a warm slot taken for nothing
            return 0
        if not engine.held(slot) and not engine.restore(slot, cache.state, len(cache)):
            return 0
        return keep if engine.trim(slot, keep) else 0

    # -- prefill ------------------------------------------------------------------------
    def prefill(self, seq_id: int, max_tokens: int) -> bool:
        """Prefill up to ``max_tokens`` (at most ``n_batch``) more prompt tokens of one sequence."""
        seq = self._seqs[seq_id]
        if seq.prefilled:
            return True
        engine = self.engine
        done = len(seq.fed)
        rest = len(seq.prompt) - done
        if rest > engine.n_ctx - engine.used_cells and engine.used_cells > engine.held(seq.slot):
            return False  # the shared cells are taken by other sequences: wait until they free some
        n = max(1, min(max_tokens, engine.n_batch, rest))
        chunk = seq.prompt[done:done + n]
        last = done + n == len(seq.prompt)
        (index,) = engine.decode([DecodeItem(seq.slot, chunk, done, last)])
        seq.fed.extend(chunk)
        seq.request.control.prefill_progress(len(seq.fed) - seq.cached, len(seq.prompt) - seq.cached)
        if last:
            seq.prefilled = True
            seq.pending = self._sample(seq, index)
            control = seq.request.control
            control.mark_prefill_done(len(seq.prompt) - seq.cached, seq.cached)
            seq.figures["after_prefill_bytes"] = memory.rss_bytes()
            cache = seq.request.cache
            if isinstance(cache, LlamaCppPromptCache) and not engine.can_trim:
                # a recurrent/hybrid state cannot go back: save the end of the prompt now, so
                # the core's prefix cache can snapshot this exact boundary (cache.fork())
                cache.store(engine.save(seq.slot), seq.fed)
        return last

    # -- decode -------------------------------------------------------------------------
    def step(self, seq_ids: Sequence[int]) -> list[StepResult]:
        """One decode step of these prefilled sequences in one ``llama_decode``."""
        results: dict[int, StepResult] = {}
        batch: list[RunningSequence] = []
        limit = self.engine.n_ctx
        for seq_id in seq_ids:
            seq = self._seqs[seq_id]
            if not seq.prefilled:
                results[seq_id] = StepResult(seq_id, error=RuntimeError(
                    f"sequence {seq_id} was stepped before its prompt was prefilled"))
            elif seq.pending is not None:
                results[seq_id], seq.pending = seq.pending, None
            elif seq.generated >= seq.request.control.max_tokens:
                results[seq_id] = StepResult(seq_id, error=RuntimeError(
                    f"sequence {seq_id} is past its token limit ({seq.request.control.max_tokens})"))
            elif len(seq.fed) >= limit and seq.request.parameters.max_kv_size is None:
                results[seq_id] = StepResult(seq_id, error=DecodeError(
                    f"the sequence filled the context ({limit} tokens)"))
            else:
                self._shift_if_full(seq)
                batch.append(seq)
        self._yield_cells(batch, results)
        if batch:
            items = [DecodeItem(s.slot, (s.next_token,), len(s.fed), True) for s in batch]
            try:
                indices = self.engine.decode(items)
            except (DecodeError, ValueError) as exc:
                for seq in batch:
                    results[seq.request.seq_id] = StepResult(seq.request.seq_id, error=exc)
            else:
                for seq, index in zip(batch, indices, strict=True):
                    seq.fed.append(seq.next_token)
                    results[seq.request.seq_id] = self._sample(seq, index)
        return [results[seq_id] for seq_id in seq_ids]

    def _yield_cells(self, batch: list[RunningSequence], results: dict[int, StepResult]) -> None:
        """Every row of a step takes one more of the KV cells all sequences share: when they
        are too few, the row that has generated the most stops (an error naming why; ties: the
        longest) and its cells go to the others at once, instead of the whole step failing. A
        request with a long prompt and a short answer is thus not the one cut for a stream
        generating without bound. Its prompt cache keeps nothing."""
        engine = self.engine
        while batch and len(batch) > engine.n_ctx - engine.used_cells:
            victim = max(batch, key=lambda s: (s.generated, len(s.fed)))
            batch.remove(victim)
            held = len(victim.fed)
            engine.trim(victim.slot, 0)
            victim.fed.clear()
            seq_id = victim.request.seq_id
            results[seq_id] = StepResult(seq_id, error=DecodeError(
                f"the context's {engine.n_ctx} KV cells are full (they are shared by all running "
                f"sequences): this sequence, the one that generated the most ({victim.generated} of "
                f"{held} tokens), stopped so the others could go on; load with a larger n_ctx or run "
                "fewer sequences together"))

    def _shift_if_full(self, seq: RunningSequence) -> None:
        """With ``max_kv_size``: once the window is full, drop the older half of what follows
        the first ``SHIFT_KEEP`` tokens and move the rest down (llama.cpp's context shift)."""
        window = seq.request.parameters.max_kv_size
        if window is None or len(seq.fed) < window:
            return
        discard = (len(seq.fed) - SHIFT_KEEP) // 2
        self.engine.shift(seq.slot, SHIFT_KEEP, discard)
        del seq.fed[SHIFT_KEEP:SHIFT_KEEP + discard]
        seq.shifted = True

    def _sample(self, seq: RunningSequence, index: int) -> StepResult:
        """Sample one token of ``seq`` from output ``index`` (with its logprobs when asked).

        A constrained sequence first advances its constraint by the token just fed (none on
        the first token: that step fed the prompt's last token) and masks the output's
        logits in place, so the sampler chain and the logprobs see only allowed tokens.
        """
        seq_id = seq.request.seq_id
        engine = self.engine
        try:
            constraint = seq.request.control.constraint
            if constraint is not None:
                constrain_logits(logits_row(engine.ctx, index, engine.n_vocab), constraint,
                                 seq.next_token if seq.generated else None)
            token = seq.chain.sample(engine.ctx, index)
            params = seq.request.parameters
            logprob, top = (logprobs(engine.ctx, index, engine.n_vocab, token,
                                     params.top_logprobs)
                            if params.logprobs else (None, None))
        except Exception as exc:
            return StepResult(seq_id, error=exc)
        seq.next_token = token
        seq.generated += 1
        return StepResult(seq_id, token, logprob, top)

    # -- exit ---------------------------------------------------------------------------
    def remove(self, seq_id: int) -> None:
        """Save the sequence's KV into its cache (if any), then free its slot and sampler."""
        seq = self._seqs.pop(seq_id, None)
        if seq is None:
            return
        engine = self.engine
        cache = seq.request.cache
        figures = seq.figures
        state = None
        try:
            if isinstance(cache, LlamaCppPromptCache):
                # a shifted sequence's entries no longer match a token prefix: start afresh
                state = engine.save(seq.slot) if seq.fed and not seq.shifted else None
                cache.store(state, seq.fed)
        finally:
            if isinstance(cache, LlamaCppPromptCache):
                cache.in_use = False
            kept = isinstance(cache, LlamaCppPromptCache) and cache.state is state
            engine.release(seq.slot, state if kept else None)  # the cells may stay warm
            seq.chain.close()
            bytes_per_token = engine.kv_bytes_per_token
            figures["kv_cache_allocated_bytes"] = engine.n_ctx * bytes_per_token
            figures["kv_cache_used_bytes"] = len(seq.fed) * bytes_per_token
            figures["after_decode_bytes"] = memory.rss_bytes()
            figures["peak_bytes"] = memory.peak_of(figures)

    def close(self) -> None:
        """Remove every sequence still running."""
        for seq_id in list(self._seqs):
            self.remove(seq_id)
