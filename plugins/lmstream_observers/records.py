"""One generation as a flat, JSON-ready dict: shared by the log and JSON-lines observers."""

from __future__ import annotations

import datetime
from typing import Any

from lmstream import GenerationRecord, Info


def error_text(error: BaseException | None) -> str | None:
    """``"TypeName: message"`` or None."""
    return None if error is None else f"{type(error).__name__}: {error}"


def generation_record(generation: GenerationRecord, info: Info, *,
                      include_parameters: bool = True) -> dict[str, Any]:
    """What one finished generation was: who, how it stopped, its stats (and parameters)."""
    record: dict[str, Any] = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
        "id": generation.id,
        "model": generation.model.name,
        "backend": generation.model.backend,
        "kind": generation.kind,
        "started_at": generation.started_at,
        "stop_reason": str(info.stop_reason),
        "error": error_text(info.error),
        "stats": info.stats.to_dict(),
    }
    if include_parameters:
        record["parameters"] = generation.parameters.model_dump(mode="json", exclude_defaults=True)
    return record
