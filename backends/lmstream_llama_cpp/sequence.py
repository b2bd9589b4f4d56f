"""One running sequence of the llama.cpp batch runner, shared by the runner (runner.py) and
its draft verification (verify.py), so neither module imports the other."""

from __future__ import annotations

from dataclasses import dataclass, field

from lmstream.backend import SequenceRequest, StepResult

from .sampling import SamplerChain


@dataclass
class RunningSequence:
    """One running sequence: its slot, what its KV holds and what it sampled last."""

    request: SequenceRequest
    slot: int
    prompt: list[int]
    chain: SamplerChain
    fed: list[int]
    cached: int
    pending: StepResult | None = None
    next_token: int = -1
    generated: int = 0
    prefilled: bool = False
    shifted: bool = False
    """True once a context shift dropped tokens (the KV no longer matches a token prefix)."""
    figures: dict[str, int | None] = field(default_factory=dict)
