"""The scripted model under a structured-output constraint: a mask-respecting 'sampler'.

The script says what the model would like to write; each step takes the script's next token
when the mask allows it, skips script tokens the mask forbids, and once the script is used up
takes the end token (or another stop token) if allowed, else the smallest allowed token that
is not whitespace. Deterministic, so protocol tests can predict the output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from lmstream.backend import TokenConstraint

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

WHITESPACE = frozenset(b" \t\r\n")


def fallback_token(mask: NDArray[np.bool_], end_ids: Sequence[int]) -> int:
    """The token taken once the script is used up: an allowed end token, else the smallest
    allowed non-whitespace token, else the smallest allowed one."""
    import numpy as np

    for end in end_ids:
        if end < len(mask) and mask[end]:
            return int(end)
    allowed = np.flatnonzero(mask)
    for token in allowed:
        if int(token) not in WHITESPACE:
            return int(token)
    return int(allowed[0])


def constrained_tokens(script: Sequence[int], constraint: TokenConstraint, end_ids: Sequence[int], *,
                       repeat: bool = False) -> Iterator[int]:
    """Yield the tokens of ``script`` the constraint allows (see the module doc); every yielded
    token except an end token has been fed to ``constraint.advance``."""
    pos = 0
    n = len(script)
    stops = frozenset(end_ids)
    while True:
        mask = constraint.mask()
        token: int | None = None
        tries = 0
        while (pos < n or repeat) and n and tries <= n:
            candidate = script[pos % n]
            pos += 1
            tries += 1
            if mask is None or (candidate < len(mask) and mask[candidate]):
                token = candidate
                break
        if token is None:
            token = int(end_ids[0]) if mask is None else fallback_token(mask, end_ids)
        if token not in stops:
            constraint.advance(token)
        yield token
