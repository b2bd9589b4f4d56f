"""The log observer: one logfmt line per generation on logger lmstream.generation."""

from __future__ import annotations

import logging

from lmstream_observers import LogObserver
from lmstream_observers.log import logfmt_value


def test_one_line_per_generation(scripted, caplog):
    context = scripted("Hello there", cut="words", name="tiny model")
    with caplog.at_level(logging.INFO, logger="lmstream.generation"):
        info = context.generate("hi", observers=["log"]).info
    records = [r for r in caplog.records if r.name == "lmstream.generation"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert 'model="tiny model"' in message and "backend=scripted" in message and "stop=stop" in message
    assert f"generated_tokens={info.generated_tokens}" in message
    assert f"prompt_tokens={info.prompt_tokens}" in message
    assert "decode_tps=" in message and "ttft_s=" in message
    assert record.lmstream["stop_reason"] == "stop"
    assert record.lmstream["stats"]["generated_tokens"] == info.generated_tokens


def test_failed_generation_logs_a_warning_with_the_error(scripted, caplog):
    context = scripted("abcdef", fail_at=2)
    with caplog.at_level(logging.INFO, logger="lmstream.generation"):
        list(context.generate_stream("hi", observers=[LogObserver()]))
    (record,) = [r for r in caplog.records if r.name == "lmstream.generation"]
    assert record.levelno == logging.WARNING
    assert "stop=error" in record.getMessage()
    assert 'error="ScriptedFailure: scripted failure at token 2"' in record.getMessage()


def test_silent_when_the_logger_is_off(scripted, caplog):
    with caplog.at_level(logging.WARNING, logger="lmstream.generation"):
        scripted("abc").generate("hi", observers=[LogObserver()])
    assert not [r for r in caplog.records if r.name == "lmstream.generation"]


def test_custom_logger_and_level(scripted, caplog):
    with caplog.at_level(logging.DEBUG, logger="myapp"):
        scripted("abc").generate("hi", observers=[LogObserver("myapp", level=logging.DEBUG)])
    assert [r.levelno for r in caplog.records if r.name == "myapp"] == [logging.DEBUG]


def test_logfmt_quoting():
    assert logfmt_value("plain") == "plain"
    assert logfmt_value("two words") == '"two words"'
    assert logfmt_value('say "hi"\n') == '"say \\"hi\\"\\n"'
    assert logfmt_value("") == '""'
