"""The ``log`` observer: one structured line per generation through Python logging.

Logger ``lmstream.generation``; INFO for a generation that ended normally, WARNING for one that
failed. The message is logfmt (``key=value``); the same figures ride on the record as
``record.lmstream`` (a dict) for structured handlers.
"""

from __future__ import annotations

import logging

from lmstream import GenerationRecord, Info, Observer, StopReason

from .records import error_text, generation_record

LOGGER_NAME = "lmstream.generation"


def logfmt_value(value: object) -> str:
    """A logfmt value: bare when it has no spaces, quotes or equals signs, else quoted."""
    text = str(value)
    if text and not any(c in text for c in ' "=\\\n\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class LogObserver(Observer):
    """Logs one line per generation when it ends (nothing per token)."""

    def __init__(self, logger: logging.Logger | str | None = None, level: int = logging.INFO) -> None:
        if logger is None or isinstance(logger, str):
            logger = logging.getLogger(logger or LOGGER_NAME)
        self.logger = logger
        self.level = level

    def on_end(self, generation: GenerationRecord, info: Info) -> None:
        """Log the generation's model, backend, stop reason, tokens, tok/s and TTFT."""
        failed = info.stop_reason is StopReason.ERROR
        level = max(self.level, logging.WARNING) if failed else self.level
        if not self.logger.isEnabledFor(level):
            return
        stats = info.stats
        fields: dict[str, object] = {
            "generation": generation.id,
            "model": generation.model.name,
            "backend": generation.model.backend,
            "stop": str(info.stop_reason),
            "prompt_tokens": stats.prompt_tokens,
            "cached_tokens": stats.cached_prompt_tokens,
            "generated_tokens": stats.generated_tokens,
            "decode_tps": f"{stats.decode_tps:.1f}",
            "prefill_tps": f"{stats.prefill_tps:.1f}",
            "ttft_s": f"{stats.ttft_s:.4f}",
        }
        if failed:
            fields["error"] = error_text(info.error)
        message = " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())
        self.logger.log(level, "%s", message,
                        extra={"lmstream": generation_record(generation, info, include_parameters=False)})
