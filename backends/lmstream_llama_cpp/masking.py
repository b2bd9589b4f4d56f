"""Structured-output masks on llama.cpp logits: forbidden tokens set to -inf in place.

The runner samples with llama.cpp's sampler chain, which reads the logits straight from the
context, so a constraint's mask is written into those logits (a numpy view of
``llama_get_logits_ith``) before the chain runs; every sampler then only sees allowed tokens,
and logprobs read from the same row are those of the masked distribution (as the mlx
backend reports them). numpy only, so it is testable without llama.cpp.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lmstream.backend import TokenConstraint


def mask_logits(logits: NDArray[np.float32], allowed: NDArray[np.bool_] | None) -> None:
    """Set ``logits[i]`` to -inf wherever ``allowed[i]`` is False, in place (None: leave the
    row alone). Entries past the end of a shorter ``allowed`` row are forbidden too."""
    if allowed is None:
        return
    width = min(len(allowed), len(logits))
    np.putmask(logits[:width], ~allowed[:width], -np.inf)
    logits[width:] = -np.inf


def constrain_logits(logits: NDArray[np.float32], constraint: TokenConstraint, fed: int | None) -> None:
    """One decode step of a constrained sequence: advance ``constraint`` by the token just fed
    (None on the first step, whose input was the prompt's last token, not a sampled one),
    then mask ``logits`` in place with its mask for the next token.

    Raises the constraint's error (``ConstraintError``) when the fed token is rejected or no
    token is allowed; the runner turns it into the sequence's step error.
    """
    if fed is not None:
        constraint.advance(fed)
    mask_logits(logits, constraint.mask())
