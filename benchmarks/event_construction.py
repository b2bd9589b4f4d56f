"""What an event costs to build: lmstream's slotted frozen dataclass against pydantic models.

protocol/_events.py chose slotted frozen dataclasses because one event is built per token. This measures
the claim: ``Chunk(text, tokens, position, channel)`` against the same fields as a frozen
pydantic model (validated) and through ``model_construct`` (unvalidated), best of several
repeats, interleaved, and prints the ratios against the dataclass.

    python benchmarks/event_construction.py [--number 200000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import timeit
from typing import Literal

from pydantic import BaseModel, ConfigDict

from lmstream import Chunk


class PydanticChunk(BaseModel):
    """The same fields as lmstream.Chunk, as a frozen pydantic model."""

    model_config = ConfigDict(frozen=True)
    text: str
    tokens: tuple[int, ...] = ()
    position: int = 0
    channel: Literal["content", "reasoning"] = "content"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    cases = {
        "dataclass Chunk": lambda: Chunk("word", (17, 18), 42, "content"),
        "pydantic, validated": lambda: PydanticChunk(text="word", tokens=(17, 18), position=42,
                                                     channel="content"),
        "pydantic, model_construct": lambda: PydanticChunk.model_construct(
            text="word", tokens=(17, 18), position=42, channel="content"),
    }
    best = {name: float("inf") for name in cases}
    for _ in range(args.repeats):  # interleaved, so load changes hit every case alike
        for name, build in cases.items():
            best[name] = min(best[name], timeit.timeit(build, number=args.number))
    base = best["dataclass Chunk"]
    print(f"event construction, best of {args.repeats} x {args.number}")
    print(f"{'case':<28}{'µs/event':>10}{'vs dataclass':>14}")
    for name, seconds in best.items():
        print(f"{name:<28}{seconds / args.number * 1e6:>10.3f}{seconds / base:>13.2f}x")


if __name__ == "__main__":
    main()
