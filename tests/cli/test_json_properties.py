"""Property tests of ``generate --json`` (in process): however the reply is cut into tokens, the
JSON lines carry the exact text, increasing positions and one final info line."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmstream.cli import main

replies = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<"), min_size=1, max_size=40)
cuts = st.sampled_from(["chars", "bytes", "words", 2, 3])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reply=replies, cut=cuts)
def test_json_lines_carry_the_exact_reply(reply, cut, capsys):
    code = main(["generate", "hi", "--json", "--backend", "scripted", "--option", f"reply={json.dumps(reply)}",
                 "--option", f"cut={json.dumps(cut)}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["type"] == "info" and events[-1]["stop_reason"] == "stop"
    assert [e["type"] for e in events[:-1]] == ["chunk"] * (len(events) - 1)
    assert "".join(e["text"] for e in events[:-1]) == reply
    positions = [e["position"] for e in events[:-1]]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert events[-1]["stats"]["generated_tokens"] >= 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reply=replies, cut=cuts)
def test_text_mode_prints_the_reply_and_one_newline(reply, cut, capsys):
    code = main(["generate", "hi", "--backend", "scripted", "--option", f"reply={json.dumps(reply)}",
                 "--option", f"cut={json.dumps(cut)}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == (reply if reply.endswith("\n") else reply + "\n")


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.text() | st.integers() | st.none(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=10))
def test_a_json_line_is_one_line_and_round_trips(value):
    from lmstream_commands.console import json_line

    line = json_line(value)
    assert len(line.splitlines()) == 1
    assert json.loads(line) == value
