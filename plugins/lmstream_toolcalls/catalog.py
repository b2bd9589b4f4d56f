"""Every built-in format by its registered name (the names are part of the public contract)."""

from __future__ import annotations

from .base import Format
from .deepseek import DEEPSEEK_V3, DEEPSEEK_V31
from .gemma import FUNCTION_GEMMA, GEMMA4
from .generic import GENERIC
from .glm import GLM45, GLM47
from .harmony import HARMONY
from .json_formats import GRANITE, HERMES, LLAMA3_JSON, PHI4_MINI
from .kimi import KIMI_K2
from .mistral import MISTRAL
from .pythonic import LFM2, PYTHONIC
from .xml_formats import DEEPSEEK_V32, MINIMAX_M2, QWEN3_CODER, SEED_OSS

FORMATS: dict[str, Format] = {f.name: f for f in (
    HERMES, LLAMA3_JSON, PYTHONIC, LFM2, MISTRAL, QWEN3_CODER, SEED_OSS, GLM45, GLM47,
    DEEPSEEK_V3, DEEPSEEK_V31, DEEPSEEK_V32, KIMI_K2, MINIMAX_M2, GEMMA4, FUNCTION_GEMMA,
    HARMONY, GRANITE, PHI4_MINI, GENERIC,
)}
