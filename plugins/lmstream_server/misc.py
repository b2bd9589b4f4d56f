"""Small routes: /v1/models, /tokenize, /detokenize, /health."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import Field

from lmstream import TemplateError

from .bodycheck import check_body
from .chat_request import chat_messages, parse
from .errors import APIError, bad_request
from .state import ServedModel, ServerState
from .wire import WireModel, check_count

MAX_DETOKENIZE_IDS = 1_000_000


class TokenizeRequest(WireModel):
    """A /tokenize body: ``prompt`` (raw text) or ``messages`` (rendered with the chat template)."""

    model: str
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    add_special_tokens: bool = True


class DetokenizeRequest(WireModel):
    """A /detokenize body."""

    model: str
    tokens: list[int] = Field(max_length=MAX_DETOKENIZE_IDS)


def _model_entry(m: ServedModel) -> dict[str, Any]:
    """One model object: OpenAI's fields, and Anthropic's (``type``, ``display_name``, ``created_at``)."""
    created_at = datetime.fromtimestamp(m.created, timezone.utc).isoformat().replace("+00:00", "Z")
    return {"id": m.name, "object": "model", "created": m.created, "owned_by": "lmstream",
            "type": "model", "display_name": m.name, "created_at": created_at,
            "max_model_len": m.context.info.context_length, "backend": m.context.info.backend}


def models(state: ServerState) -> dict[str, Any]:
    """The served models: OpenAI's list shape, with Anthropic's page fields (one page)."""
    data = [_model_entry(m) for m in state.models.values()]
    return {"object": "list", "data": data, "has_more": False,
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}


def model(state: ServerState, name: str) -> dict[str, Any]:
    """``GET /v1/models/{name}``: the model that serves ``name`` (as a request naming it would get)."""
    return _model_entry(state.model(name))


def _tokenize(state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    """The /tokenize work (validation, templating, tokenizing), run on the work pool."""
    check_body(body)
    request: TokenizeRequest = parse(TokenizeRequest, body)
    served = state.model(request.model)
    if (request.prompt is None) == (request.messages is None):
        raise bad_request("give exactly one of prompt or messages", "prompt")
    context = served.context
    if request.messages is not None:
        check_count(request.messages, state.limits.wire.max_messages, "messages")
        messages = chat_messages(request.messages, state.limits.wire)
        try:
            text = context.render_prompt(messages)
        except (TemplateError, ValueError, TypeError, RecursionError) as exc:
            raise APIError(400, f"the messages do not render: {exc}", param="messages",
                           code="invalid_request") from None
        ids = context.tokenizer.encode(text, add_special_tokens=False)
    else:
        assert request.prompt is not None
        ids = context.tokenizer.encode(request.prompt, add_special_tokens=request.add_special_tokens)
    return {"tokens": ids, "count": len(ids), "max_model_len": context.info.context_length}


async def tokenize(state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    """Token ids of a prompt or of rendered messages (admission-controlled, off the loop)."""
    result: dict[str, Any] = await state.work.run(_tokenize, state, body)
    return result


def _decode(served: ServedModel, tokens: list[int]) -> str:
    try:
        return str(served.context.tokenizer.decode(tokens))
    except Exception as exc:
        raise bad_request(f"the token ids do not decode: {exc}", "tokens") from None


def _detokenize(state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    """The /detokenize work, run on the work pool."""
    check_body(body)
    request: DetokenizeRequest = parse(DetokenizeRequest, body)
    served = state.model(request.model)
    if any(t < 0 for t in request.tokens):
        raise bad_request("token ids must be non-negative", "tokens")
    return {"prompt": _decode(served, request.tokens)}


async def detokenize(state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    """The text of token ids (admission-controlled, off the loop)."""
    result: dict[str, Any] = await state.work.run(_detokenize, state, body)
    return result
