"""Where templates come from: model directories (tokenizer_config.json, chat_template.jinja,
additional_chat_templates/) and GGUF metadata."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from lmstream_templates.gguf import GGUFError, read_gguf_metadata
from lmstream_templates.sources import (
    ChatTemplateSourceError,
    chat_template_from_gguf_metadata,
    load_chat_template,
    parse_chat_template_field,
)


def write_config(directory: Path, **config: Any) -> None:
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")


def test_tokenizer_config_string(tmp_path: Path) -> None:
    write_config(tmp_path, chat_template="{{ messages }}", bos_token="<s>")
    assert load_chat_template(tmp_path) == "{{ messages }}"


def test_tokenizer_config_named_list(tmp_path: Path) -> None:
    write_config(tmp_path, chat_template=[{"name": "default", "template": "D"},
                                          {"name": "tool_use", "template": "T"}])
    assert load_chat_template(tmp_path) == {"default": "D", "tool_use": "T"}


def test_single_default_in_a_list_is_a_string(tmp_path: Path) -> None:
    write_config(tmp_path, chat_template=[{"name": "default", "template": "D"}])
    assert load_chat_template(tmp_path) == "D"


def test_jinja_file_wins_over_tokenizer_config(tmp_path: Path) -> None:
    write_config(tmp_path, chat_template="from config")
    (tmp_path / "chat_template.jinja").write_text("from file\n", encoding="utf-8")
    assert load_chat_template(tmp_path) == "from file\n"


def test_additional_templates_directory(tmp_path: Path) -> None:
    (tmp_path / "chat_template.jinja").write_text("D", encoding="utf-8")
    extra = tmp_path / "additional_chat_templates"
    extra.mkdir()
    (extra / "tool_use.jinja").write_text("T", encoding="utf-8")
    (extra / "notes.txt").write_text("ignored: not a template", encoding="utf-8")
    assert load_chat_template(tmp_path) == {"default": "D", "tool_use": "T"}


def test_legacy_processor_file(tmp_path: Path) -> None:
    write_config(tmp_path, bos_token="<s>")
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": "L"}), encoding="utf-8")
    assert load_chat_template(tmp_path) == "L"


def test_no_template(tmp_path: Path) -> None:
    assert load_chat_template(tmp_path) is None
    write_config(tmp_path, bos_token="<s>", chat_template=None)
    assert load_chat_template(tmp_path) is None


def test_a_file_inside_the_model_directory(tmp_path: Path) -> None:
    write_config(tmp_path, chat_template="C")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    assert load_chat_template(weights) == "C"


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model directory or GGUF file"):
        load_chat_template(tmp_path / "absent")


@pytest.mark.parametrize(("value", "problem"), [
    (42, "must be a string or a list of named templates, got int"),
    ([{"name": "default"}], r"chat_template\[0\] must be"),
    ([{"name": "a", "template": "x"}, {"name": "a", "template": "y"}], "'a' is given twice"),
])
def test_malformed_fields(value: Any, problem: str) -> None:
    with pytest.raises(ChatTemplateSourceError, match=problem):
        parse_chat_template_field(value, "tokenizer_config.json")


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ChatTemplateSourceError, match=r"tokenizer_config\.json: cannot read it as JSON"):
        load_chat_template(tmp_path)


# -- GGUF --------------------------------------------------------------------------------

def _gguf_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, entries: list[tuple[str, int, Any]], version: int = 3) -> None:
    """A GGUF header with the given (key, type id, value) entries and no tensors."""
    body = b""
    for key, kind, value in entries:
        body += _gguf_string(key) + struct.pack("<I", kind)
        if kind == 8:
            body += _gguf_string(value)
        elif kind == 9:
            item_kind, items = value
            body += struct.pack("<IQ", item_kind, len(items))
            for item in items:
                body += _gguf_string(item) if item_kind == 8 else struct.pack("<i", item)
        elif kind == 4:
            body += struct.pack("<I", value)
        elif kind == 7:
            body += struct.pack("<?", value)
        elif kind == 12:
            body += struct.pack("<d", value)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", version, 0, len(entries)) + body)


def test_gguf_named_templates(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    write_gguf(path, [
        ("general.architecture", 8, "llama"),
        ("tokenizer.ggml.tokens", 9, (8, ["<s>", "</s>", "hello"])),
        ("tokenizer.ggml.token_type", 9, (5, [1, 2, 3])),
        ("llama.context_length", 4, 2048),
        ("tokenizer.ggml.add_bos_token", 7, True),
        ("general.rope_scale", 12, 1.5),
        ("tokenizer.chat_template", 8, "DEFAULT"),
        ("tokenizer.chat_template.tool_use", 8, "TOOLS"),
    ])
    assert load_chat_template(path) == {"default": "DEFAULT", "tool_use": "TOOLS"}
    everything = read_gguf_metadata(path)
    assert everything["tokenizer.ggml.tokens"] == ["<s>", "</s>", "hello"]
    assert everything["tokenizer.ggml.token_type"] == [1, 2, 3]
    assert everything["llama.context_length"] == 2048
    assert everything["tokenizer.ggml.add_bos_token"] is True
    assert everything["general.rope_scale"] == 1.5


def test_gguf_without_template(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    write_gguf(path, [("general.architecture", 8, "llama")], version=2)
    assert load_chat_template(path) is None


def test_not_a_gguf(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"NOPE" + bytes(20))
    with pytest.raises(GGUFError, match="not a GGUF file"):
        load_chat_template(path)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1))
    with pytest.raises(GGUFError, match="unexpected end of file"):
        load_chat_template(path)


def test_gguf_metadata_mapping() -> None:
    assert chat_template_from_gguf_metadata({"tokenizer.chat_template": "X", "a": 1}) == "X"
    assert chat_template_from_gguf_metadata({"general.name": "m"}) is None
    with pytest.raises(ChatTemplateSourceError, match="is not a string"):
        chat_template_from_gguf_metadata({"tokenizer.chat_template": 3})


def test_default_model_gguf_template_matches_mlx(default_gguf: Path,
                                                 default_model_template: str) -> None:
    """Our header reader finds the same template mlx reads, without loading the tensors."""
    start = time.perf_counter()
    template = load_chat_template(default_gguf)
    elapsed = time.perf_counter() - start
    assert template == default_model_template
    assert "<|im_start|>" in template
    assert elapsed < 2.0, f"reading the GGUF header took {elapsed:.2f}s"
