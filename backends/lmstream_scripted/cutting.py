"""How a scripted reply is cut into token pieces (bytes), including cuts inside characters."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

Cut = str | int | Sequence[int] | Callable[[str], Sequence[str | bytes]]
"""``"chars"``, ``"bytes"``, ``"words"``, an int (bytes per token), byte offsets, or a callable."""

_WORDS = re.compile(r"\s*\S+|\s+")


def cut_reply(reply: str, cut: Cut) -> list[bytes]:
    """Cut ``reply`` into non-empty byte pieces whose concatenation is its UTF-8 encoding."""
    data = reply.encode("utf-8")
    if cut == "chars":
        return [c.encode("utf-8") for c in reply]
    if cut == "bytes":
        return [bytes([b]) for b in data]
    if cut == "words":
        return [w.encode("utf-8") for w in _WORDS.findall(reply)]
    if isinstance(cut, bool):
        raise ValueError("cut must be 'chars', 'bytes', 'words', a positive int, byte offsets or a callable")
    if isinstance(cut, int):
        if cut < 1:
            raise ValueError(f"cut={cut}: bytes per token must be >= 1")
        return [data[i:i + cut] for i in range(0, len(data), cut)]
    if callable(cut):
        pieces = [p.encode("utf-8") if isinstance(p, str) else bytes(p) for p in cut(reply)]
        if b"".join(pieces) != data:
            raise ValueError("the cut callable's pieces do not join back into the reply")
        return [p for p in pieces if p]
    if isinstance(cut, str):
        raise ValueError(f"unknown cut {cut!r}; use 'chars', 'bytes', 'words', an int, offsets or a callable")
    offsets = sorted(set(cut))
    if any(not isinstance(o, int) or o <= 0 or o >= len(data) for o in offsets):
        raise ValueError(f"cut offsets must be ints strictly inside the reply's {len(data)} bytes")
    bounds = [0, *offsets, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]
