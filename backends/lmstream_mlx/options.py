"""Load options of the mlx backend, validated before anything heavy is imported."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

DTYPES = ("float16", "bfloat16", "float32")
DEVICES = ("cpu", "gpu")


@dataclass(frozen=True)
class MlxOptions:
    """What ``lmstream.load(..., backend="mlx", **options)`` accepts."""

    tool_parser: str | None = None
    """Tool-call parser name (the core reads it from ``ModelInfo.options``)."""
    chat_template: str | None = None
    """Chat-template override (the core reads it from ``ModelInfo.options``)."""
    dtype: str | None = None
    """Cast floating-point weights (norms, embeddings, quantization scales) to this dtype."""
    compile: bool | None = None
    """``mx.compile`` the single-token decode step; None: on where it helps (CPU)."""
    device: str | None = None
    """``"cpu"`` or ``"gpu"``; None: mlx's default device."""
    parallel_head: int | None = None
    """Split the output projection over this many CPU streams (threads); None: auto on CPU."""
    lazy: bool = False
    """mlx-lm directories only: leave weights lazy until first use."""
    trust_remote_code: bool = False
    """mlx-lm directories only: allow a model file the directory ships."""
    revision: str | None = None
    """Hub ids only: the revision to fetch."""

    @classmethod
    def parse(cls, options: dict[str, Any]) -> MlxOptions:
        """Validate ``options``; unknown names raise a TypeError naming them and the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown mlx backend option(s): {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known))}")
        parsed = cls(**options)
        if parsed.dtype is not None and parsed.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {parsed.dtype!r}")
        if parsed.device is not None and parsed.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {parsed.device!r}")
        if parsed.compile is not None and not isinstance(parsed.compile, bool):
            raise TypeError(f"compile must be True, False or None, not {parsed.compile!r}")
        if parsed.parallel_head is not None and (
                isinstance(parsed.parallel_head, bool) or not isinstance(parsed.parallel_head, int)
                or parsed.parallel_head < 1):
            raise ValueError(f"parallel_head must be a positive int, not {parsed.parallel_head!r}")
        return parsed

    def core_options(self) -> dict[str, Any]:
        """The options the core interprets, for ``ModelInfo.options``."""
        return {k: v for k, v in (("tool_parser", self.tool_parser),
                                  ("chat_template", self.chat_template)) if v is not None}
