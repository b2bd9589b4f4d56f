"""Session files are untrusted: validated whole, never a template path, one clear ValueError."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lmstream
from lmstream import ChatSession

SECRET = "TOP-SECRET-VALUE-4711"


@pytest.fixture
def saved(scripted: Callable[..., lmstream.ModelContext], tmp_path: Path) -> tuple[Any, Path]:
    """A scripted context (chatml template) and a valid session file saved from it."""
    context = scripted(reply="Hi!", model_chat_template="chatml")
    session = ChatSession(context, instructions="Be brief.")
    session.respond("Hello")
    path = tmp_path / "chat.json"
    session.save(path)
    return context, path


def rewrite(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_template_path_in_a_session_file_is_refused(saved: tuple[Any, Path],
                                                    tmp_path: Path) -> None:
    context, path = saved
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    for target in (str(secret), "/proc/self/environ", "~/.bashrc"):
        rewrite(path, lambda d, t=target: d["template_options"].update(template=t))
        with pytest.raises(ValueError, match="may not name a template file"):
            ChatSession.load(path, context)


def test_template_file_that_looks_like_jinja_is_still_refused(saved: tuple[Any, Path],
                                                              tmp_path: Path) -> None:
    context, path = saved
    sneaky = tmp_path / "{{x}}.jinja"
    sneaky.write_text(SECRET, encoding="utf-8")
    rewrite(path, lambda d: d["template_options"].update(template=str(sneaky)))
    with pytest.raises(ValueError, match="may not name a template file"):
        ChatSession.load(path, context)


def test_registered_names_and_inline_text_are_allowed(saved: tuple[Any, Path]) -> None:
    context, path = saved
    rewrite(path, lambda d: d["template_options"].update(template="chatml"))
    assert ChatSession.load(path, context).respond("again") == "Hi!"
    inline = "{% for m in messages %}[{{ m.content }}]{% endfor %}"
    rewrite(path, lambda d: d["template_options"].update(template=inline))
    session = ChatSession.load(path, context, restore_cache=False)
    assert session.template_options.template == inline


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD_DOCUMENTS: list[tuple[str, bytes | Callable[[dict[str, Any]], None], str]] = [
    ("empty", b"", "not valid JSON"),
    ("invalid utf-8", b'{"format": "\xff\xfe"}', "not valid UTF-8"),
    ("deep array", deep_array(100_000).encode(), "nests deeper than"),
    ("deep but parseable", ('{"format": "lmstream.chat_session", "version": 1, "messages": '
                            + deep_array(500) + "}").encode(), "nests deeper than"),
    ("lone surrogate", lambda d: d["messages"][1].update(content="\ud800"), "lone surrogate"),
    ("unknown key", lambda d: d.update(extra=1), "extra"),
    ("history not dicts", lambda d: d.update(messages=[42]), "messages.0"),
    ("history a string", lambda d: d.update(messages="abc"), "messages"),
    ("bad role", lambda d: d["messages"][1].update(role="root"), "role"),
    ("rounds as bool", lambda d: d.update(max_tool_rounds=True), "max_tool_rounds"),
    ("rounds huge", lambda d: d.update(max_tool_rounds=10**12), "max_tool_rounds"),
    ("bad parameters", lambda d: d["parameters"].update(temperature="hot"), "temperature"),
    ("bad tools", lambda d: d.update(tools=[{"nope": 1}]), "ToolSpec"),
    ("bad template_options", lambda d: d["template_options"].update(bogus=1), "bogus"),
    ("template not str", lambda d: d["template_options"].update(template=5), "template"),
    ("negative token", lambda d: d["cache"].update(tokens=[1, -2]), "token ids"),
    ("float token", lambda d: d["cache"].update(tokens=[1.5]), "token ids"),
    ("model not object", lambda d: d.update(model="x"), "model"),
    ("version string", lambda d: d.update(version="1"), "version"),
]


@pytest.mark.parametrize(("name", "change", "match"), BAD_DOCUMENTS,
                         ids=[case[0] for case in BAD_DOCUMENTS])
def test_every_malformed_file_is_one_clear_value_error(
        saved: tuple[Any, Path], name: str, change: Any, match: str) -> None:
    context, path = saved
    if isinstance(change, bytes):
        path.write_bytes(change)
    else:
        rewrite(path, change)
    with pytest.raises(ValueError, match=match) as caught:
        ChatSession.load(path, context)
    assert str(path) in str(caught.value)
    assert not isinstance(caught.value, UnicodeError)


def test_a_session_using_a_template_file_saves_its_text(
        scripted: Callable[..., lmstream.ModelContext], tmp_path: Path) -> None:
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}<{{ m.content }}>{% endfor %}", encoding="utf-8")
    context = scripted(reply="ok")
    session = ChatSession(context, template_options={"template": str(template)})
    assert session.respond("hi") == "ok"
    path = tmp_path / "s.json"
    session.save(path)
    saved = json.loads(path.read_text(encoding="utf-8"))["template_options"]["template"]
    assert saved == template.read_text(encoding="utf-8")
    restored = ChatSession.load(path, context)
    assert restored.respond("again") == "ok"
