"""Input checks for one generation, run before it starts (``MlxBackendModel.validate``).

Every check lives here once: the stream's creation (the core calls ``validate``), the
batch runner's ``add`` and the single-stream ``token_iterator`` all call this function,
so a bad request raises a ValueError naming the field instead of failing mid-stream.
"""

from __future__ import annotations

from collections.abc import Sequence

from lmstream import GenerationParameters

KV_GROUP_SIZES = (32, 64, 128)
"""Group sizes mlx's quantization supports (for ``kv_bits``)."""


def validate_request(prompt: Sequence[int], parameters: GenerationParameters, vocab_size: int) -> None:
    """Raise ValueError for a prompt or parameters this model cannot run."""
    if len(prompt) == 0:
        raise ValueError("the prompt is empty; a generation needs at least one prompt token")
    bad = [t for t in prompt if not 0 <= int(t) < vocab_size]
    if bad:
        raise ValueError(f"prompt token ids outside the vocabulary (size {vocab_size}): {bad[:8]}")
    if parameters.top_k >= vocab_size:
        raise ValueError(f"top_k={parameters.top_k} must be smaller than the vocabulary ({vocab_size})")
    bias = parameters.logit_bias
    if bias:
        out = sorted(t for t in bias if not 0 <= t < vocab_size)
        if out:
            raise ValueError(f"logit_bias token ids outside the vocabulary (size {vocab_size}): {out[:8]}")
    if parameters.kv_bits is not None and parameters.kv_group_size not in KV_GROUP_SIZES:
        raise ValueError(f"kv_group_size must be 32, 64 or 128 for a quantized KV cache, "
                         f"not {parameters.kv_group_size}")
