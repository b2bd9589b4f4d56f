"""Small routes: /v1/models, /tokenize, /detokenize, /health."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .chat_request import chat_messages, parse
from .errors import bad_request
from .state import ServerState

MAX_DETOKENIZE_IDS = 1_000_000


class TokenizeRequest(BaseModel):
    """A /tokenize body: ``prompt`` (raw text) or ``messages`` (rendered with the chat template)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    add_special_tokens: bool = True


class DetokenizeRequest(BaseModel):
    """A /detokenize body."""

    model_config = ConfigDict(extra="forbid")

    model: str
    tokens: list[int] = Field(max_length=MAX_DETOKENIZE_IDS)


def models(state: ServerState) -> dict[str, Any]:
    """The served models, OpenAI list shape."""
    return {"object": "list", "data": [
        {"id": m.name, "object": "model", "created": m.created, "owned_by": "lmstream",
         "max_model_len": m.context.info.context_length, "backend": m.context.info.backend}
        for m in state.models.values()]}


async def tokenize(state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    """Token ids of a prompt or of rendered messages."""
    request: TokenizeRequest = parse(TokenizeRequest, body)
    served = state.model(request.model)
    if (request.prompt is None) == (request.messages is None):
        raise bad_request("give exactly one of prompt or messages", "prompt")
    context = served.context
    if request.messages is not None:
        messages = chat_messages(request.messages)
        text = await asyncio.to_thread(context.render_prompt, messages)
        ids = await asyncio.to_thread(context.tokenizer.encode, text, add_special_tokens=False)
    else:
        assert request.prompt is not None
        ids = await asyncio.to_thread(context.tokenizer.encode, request.prompt,
                                      add_special_tokens=request.add_special_tokens)
    return {"tokens": ids, "count": len(ids), "max_model_len": context.info.context_length}


async def detokenize(state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    """The text of token ids."""
    request: DetokenizeRequest = parse(DetokenizeRequest, body)
    served = state.model(request.model)
    if any(t < 0 for t in request.tokens):
        raise bad_request("token ids must be non-negative", "tokens")
    try:
        text = await asyncio.to_thread(served.context.tokenizer.decode, request.tokens)
    except Exception as exc:
        raise bad_request(f"the token ids do not decode: {exc}", "tokens") from None
    return {"prompt": text}
