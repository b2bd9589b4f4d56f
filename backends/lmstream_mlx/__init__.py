"""lmstream's MLX backend: mlx-lm model directories, GGUF files and the embedded default model.

Importing this package imports neither mlx nor mlx-lm; the backend factory
(``lmstream_mlx.plugin.create_mlx_backend``) and the modules it uses do.
"""

from __future__ import annotations

__all__: list[str] = []
