"""Where a model's chat template comes from: the files beside it, its tokenizer_config.json,
or a GGUF file's metadata. Backends call ``load_chat_template`` when they load a model.

The order follows transformers: ``chat_template.jinja`` (plus ``additional_chat_templates/
*.jinja``) wins over tokenizer_config.json's ``chat_template``, which wins over a processor's
legacy ``chat_template.json``. One template comes back as a string; several as a dict keyed
by name (``default``, ``tool_use``, ...), which is what ``ModelInfo.chat_template`` holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .gguf import read_gguf_metadata

ChatTemplates = str | dict[str, str]

CHAT_TEMPLATE_FILE = "chat_template.jinja"
CHAT_TEMPLATE_DIR = "additional_chat_templates"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
LEGACY_CHAT_TEMPLATE_FILE = "chat_template.json"
GGUF_TEMPLATE_KEY = "tokenizer.chat_template"


class ChatTemplateSourceError(ValueError):
    """A chat template was present but malformed (names the file and the problem)."""


def _collapse(templates: dict[str, str]) -> ChatTemplates | None:
    """None for no templates, a string for only a default, else the dict."""
    if not templates:
        return None
    if set(templates) == {"default"}:
        return templates["default"]
    return templates


def parse_chat_template_field(value: Any, where: str) -> ChatTemplates | None:
    """A ``chat_template`` value as tokenizer_config.json holds it: a string or a list of
    ``{"name": ..., "template": ...}`` entries (or already a name -> template mapping)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        entries = list(value.items())
    elif isinstance(value, list):
        entries = []
        for index, item in enumerate(value):
            if not (isinstance(item, Mapping) and isinstance(item.get("name"), str)
                    and isinstance(item.get("template"), str)):
                raise ChatTemplateSourceError(
                    f"{where}: chat_template[{index}] must be {{'name': str, 'template': str}}"
                )
            entries.append((item["name"], item["template"]))
    else:
        raise ChatTemplateSourceError(
            f"{where}: chat_template must be a string or a list of named templates, "
            f"got {type(value).__name__}"
        )
    templates: dict[str, str] = {}
    for name, template in entries:
        if not isinstance(name, str) or not isinstance(template, str):
            raise ChatTemplateSourceError(f"{where}: template names and texts must be strings")
        if name in templates:
            raise ChatTemplateSourceError(f"{where}: chat template {name!r} is given twice")
        templates[name] = template
    return _collapse(templates)


def chat_template_from_gguf_metadata(metadata: Mapping[str, Any]) -> ChatTemplates | None:
    """The template(s) in GGUF metadata: ``tokenizer.chat_template`` is the default,
    ``tokenizer.chat_template.<name>`` a named one (as llama.cpp's converter writes them)."""
    templates: dict[str, str] = {}
    for key, value in metadata.items():
        if key == GGUF_TEMPLATE_KEY:
            name = "default"
        elif key.startswith(GGUF_TEMPLATE_KEY + "."):
            name = key[len(GGUF_TEMPLATE_KEY) + 1:]
        else:
            continue
        if not isinstance(value, str):
            raise ChatTemplateSourceError(f"GGUF metadata {key} is not a string")
        templates[name] = value
    return _collapse(templates)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ChatTemplateSourceError(f"{path}: cannot read it as JSON: {exc}") from exc


def _from_directory(model_dir: Path) -> ChatTemplates | None:
    templates: dict[str, str] = {}
    jinja_file = model_dir / CHAT_TEMPLATE_FILE
    if jinja_file.is_file():
        templates["default"] = jinja_file.read_text(encoding="utf-8")
    extra_dir = model_dir / CHAT_TEMPLATE_DIR
    if extra_dir.is_dir():
        for path in sorted(extra_dir.glob("*.jinja")):
            templates[path.name.removesuffix(".jinja")] = path.read_text(encoding="utf-8")
    if templates:
        return _collapse(templates)
    config_file = model_dir / TOKENIZER_CONFIG_FILE
    if config_file.is_file():
        config = _read_json(config_file)
        if isinstance(config, Mapping) and config.get("chat_template") is not None:
            return parse_chat_template_field(config["chat_template"], str(config_file))
    legacy = model_dir / LEGACY_CHAT_TEMPLATE_FILE
    if legacy.is_file():
        data = _read_json(legacy)
        if isinstance(data, Mapping) and data.get("chat_template") is not None:
            return parse_chat_template_field(data["chat_template"], str(legacy))
    return None


def load_chat_template(model_dir: Path) -> ChatTemplates | None:
    """The chat template(s) of a model directory (mlx-lm / Hugging Face layout) or GGUF file.

    Returns None when the model has none; raises ChatTemplateSourceError for a malformed one
    and FileNotFoundError when ``model_dir`` does not exist.
    """
    path = Path(model_dir)
    if path.is_dir():
        return _from_directory(path)
    if path.is_file() and path.suffix.lower() == ".gguf":
        return chat_template_from_gguf_metadata(read_gguf_metadata(path, prefix=GGUF_TEMPLATE_KEY))
    if path.is_file():
        return _from_directory(path.parent)
    raise FileNotFoundError(f"no model directory or GGUF file at {path}")
