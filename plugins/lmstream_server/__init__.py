"""``lmstream serve``: an OpenAI- and Anthropic-compatible HTTP server on the lmstream core.

``create_app(contexts, *, api_key=None, ...)`` returns the ASGI app for embedding; the
``serve`` command (registered through ``lmstream_register_commands``) runs it on uvicorn.
Starlette and uvicorn come with the ``lmstream[server]`` extra and are imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'lmstream_server' has no attribute {name!r}")
