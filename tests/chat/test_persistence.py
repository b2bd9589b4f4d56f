"""save / load: the conversation, the settings and the prompt cache's token ids."""

from __future__ import annotations

import json

import pytest

import lmstream
from lmstream import GenerationError
from lmstream.chat import ChatSession


def echo_turn(prompt: str) -> str:
    return f"Reply {prompt.count('<|im_start|>user')}."


def cache_ids(session: ChatSession) -> list[int]:
    return session.context.worker.call(lambda: list(session.cache.tokens))


def test_save_and_load_restore_messages_settings_and_cache(chat_model, tmp_path):
    context = chat_model(echo_turn, tool_parser="json")
    session = ChatSession(context, "Be brief.", parameters={"max_tokens": 40, "temperature": 0.5},
                          tools=[{"name": "noop", "description": "does nothing"}], max_tool_rounds=3,
                          template_options={"extra_context": {"x": 1}})
    session.respond("one")
    session.respond("two")
    path = tmp_path / "chat.json"
    session.save(path)

    data = json.loads(path.read_text())
    assert data["format"] == "lmstream.chat_session" and data["version"] == 1
    assert data["cache"]["tokens"] == cache_ids(session)

    loaded = ChatSession.load(path, context)
    assert loaded.history == session.history
    assert (loaded.instructions, loaded.max_tool_rounds) == ("Be brief.", 3)
    assert loaded.parameters == session.parameters
    assert loaded.tools == session.tools
    assert loaded.template_options == session.template_options
    assert cache_ids(loaded) == cache_ids(session)

    # the next turn reuses as much after loading as it would have without saving
    session.respond("three")
    loaded.respond("three")
    assert session.last_info is not None and loaded.last_info is not None
    assert loaded.last_info.cached_prompt_tokens == session.last_info.cached_prompt_tokens > 0
    assert loaded.history == session.history
    loaded.clear()
    assert [m.content for m in loaded.history] == ["Be brief."]


def test_load_without_the_cache(chat_model, tmp_path):
    context = chat_model(echo_turn)
    session = ChatSession(context)
    session.respond("one")
    session.save(tmp_path / "chat.json")
    loaded = ChatSession.load(tmp_path / "chat.json", context, restore_cache=False)
    assert cache_ids(loaded) == []
    loaded.respond("two")
    assert loaded.last_info is not None and loaded.last_info.cached_prompt_tokens == 0


def test_a_cache_from_another_model_is_refused(chat_model, tmp_path):
    session = ChatSession(chat_model(echo_turn, name="model-a"))
    session.respond("one")
    session.save(tmp_path / "chat.json")
    other = chat_model(echo_turn, name="model-b")
    with pytest.raises(ValueError, match=r"saved with model 'model-a'.*restore_cache=False"):
        ChatSession.load(tmp_path / "chat.json", other)
    assert ChatSession.load(tmp_path / "chat.json", other, restore_cache=False).history == session.history


def test_tools_are_passed_again_on_load(chat_model, tmp_path):
    context = chat_model(echo_turn)

    def noop(x: int) -> int:
        """Return x."""
        return x

    session = ChatSession(context, tool_dispatch=[noop])
    session.save(tmp_path / "chat.json")
    loaded = ChatSession.load(tmp_path / "chat.json", context, tool_dispatch=[noop])
    assert loaded.tools == session.tools and loaded.tool_dispatch == {"noop": noop}
    bare = ChatSession.load(tmp_path / "chat.json", context)
    assert bare.tools == session.tools and bare.tool_dispatch == {}


def test_a_failed_cache_restore_is_a_generation_error(chat_model, tmp_path):
    session = ChatSession(chat_model(echo_turn))
    session.respond("one")
    path = tmp_path / "chat.json"
    session.save(path)
    data = json.loads(path.read_text())
    data["cache"]["tokens"] = [10**9]  # no such token in the scripted vocabulary
    path.write_text(json.dumps(data))
    with pytest.raises(GenerationError, match="could not restore the prompt cache"):
        ChatSession.load(path, session.context)


@pytest.mark.parametrize(("content", "match"), [
    ("not json", "cannot read chat session file"),
    ('{"format": "other"}', "not a saved lmstream chat session"),
    ('{"format": "lmstream.chat_session", "version": 99}', "version 99"),
    ('{"format": "lmstream.chat_session", "version": 1, "model": {"name": "scripted", "backend": "scripted"},'
     ' "messages": [], "cache": {"tokens": ["a"]}}', "must be a list of token ids"),
])
def test_bad_files_are_refused(chat_model, tmp_path, content, match):
    path = tmp_path / "chat.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        ChatSession.load(path, chat_model())


def test_missing_file(chat_model, tmp_path):
    with pytest.raises(ValueError, match="cannot read chat session file"):
        ChatSession.load(tmp_path / "absent.json", chat_model())


def test_save_refuses_a_running_turn(chat_model, tmp_path):
    session = ChatSession(chat_model("abc", token_delay=0.01))
    stream = session.stream_response("q")
    with pytest.raises(RuntimeError, match="a turn is running"):
        session.save(tmp_path / "chat.json")
    stream.close()
    session.save(tmp_path / "chat.json")
    assert not list(tmp_path.glob(".chat.json.*"))  # the temporary file was renamed away
    assert json.loads((tmp_path / "chat.json").read_text())["messages"] == []


def test_saved_messages_keep_tool_calls(chat_model, tmp_path):
    history = [{"role": "user", "content": "q"},
               {"role": "assistant", "content": "", "tool_calls": [
                   {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
               {"role": "tool", "tool_call_id": "c1", "name": "f", "content": "2"}]
    session = ChatSession(chat_model(), history=history)
    session.save(tmp_path / "chat.json")
    loaded = ChatSession.load(tmp_path / "chat.json", session.context)
    assert [m.model_dump(exclude_none=True) for m in loaded.history] == history
    assert isinstance(loaded.history[1], lmstream.ChatMessage)
