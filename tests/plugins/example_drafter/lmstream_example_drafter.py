"""An example third-party drafter: guesses that the answer repeats the prompt, token for token."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lmstream
from lmstream import BackendModel, Drafter, DraftState, GenerationParameters


class EchoState(DraftState):
    """Proposes the prompt's tokens from where the output has got to."""

    def __init__(self, prompt_length: int) -> None:
        self.prompt_length = prompt_length

    def propose(self, tokens: Sequence[int], limit: int) -> Sequence[int]:
        done = len(tokens) - self.prompt_length  # tokens generated so far
        return tokens[done:min(done + limit, self.prompt_length)]


class EchoDrafter(Drafter):
    """One ``EchoState`` per generation; no model, nothing to close."""

    name = "echo_prompt"

    def start(self, prompt: Sequence[int], parameters: GenerationParameters) -> DraftState | None:
        return EchoState(len(prompt)) if prompt else None


def echo_prompt(backend_model: BackendModel, **options: Any) -> Drafter:
    """The factory: ``load(..., drafter="echo_prompt")`` calls it once per context."""
    if options:
        raise TypeError(f"echo_prompt takes no options, got {sorted(options)}")
    return EchoDrafter()


@lmstream.hookimpl
def lmstream_register_drafters(register: Callable[[str, Any], None]) -> None:
    register("echo_prompt", echo_prompt)
