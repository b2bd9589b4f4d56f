"""The sandbox holds: templates from downloaded models cannot reach Python internals, the
os/subprocess modules, or the caller's objects, and every attempt raises TemplateError."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lmstream import ChatTemplateOptions, TemplateError
from lmstream.pipeline import render_chat_template

MESSAGES = [{"role": "user", "content": "hi"}]

# Each payload, if the sandbox let it through, would create MARKER (or expose internals).
PAYLOADS = {
    "class": "{{ ''.__class__ }}",
    "mro": "{{ ''.__class__.__mro__ }}",
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "base_subclasses_loop": "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "attr_filter": "{{ ''|attr('__class__') }}",
    "attr_filter_chain": "{{ (''|attr('__class__')|attr('__mro__'))[1] }}",
    "cycler_globals": "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "joiner_globals": "{{ joiner.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "namespace_globals": "{{ namespace.__init__.__globals__.os.system('touch MARKER') }}",
    "lipsum_globals": "{{ lipsum.__globals__['os'].system('touch MARKER') }}",
    "self_init_globals": "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch MARKER') }}",
    "self_context": "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "raise_exception_globals": "{{ raise_exception.__globals__['os'] }}",
    "strftime_now_globals": "{{ strftime_now.__globals__.datetime }}",
    "dict_global_class": "{{ dict.__class__.__init__.__globals__ }}",
    "dict_fromkeys_func": "{{ dict.fromkeys.__func__.__globals__ }}",
    "range_self": "{{ range.__self__.__import__('subprocess').run(['touch', 'MARKER']) }}",
    "loop_object": "{% for m in messages %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}",
    "message_dict_class": "{{ messages[0].__class__.__subclasses__() }}",
    "bound_method_self": "{{ messages[0].items.__self__ }}",
    "format_class": "{{ '{0.__class__}'.format('') }}",
    "format_mro": "{{ '{0.__class__.__mro__[1].__subclasses__}'.format('') }}",
    "format_globals": "{{ '{0.__init__.__globals__[os]}'.format(cycler) }}",
    "format_map": "{{ '{x.__class__}'.format_map({'x': ''}) }}",
    "format_method_globals": "{{ ''.format.__globals__ }}",
    "percent_format": "{{ '%s' % ''.__class__ }}",
    "namespace_dunder_set": "{% set ns = namespace() %}{% set ns.__class__ = 1 %}{{ ns }}",
    "namespace_dunder_init": "{% set ns = namespace(__class__=1) %}{{ ns }}",
    "list_mutation": "{{ messages.append({'role': 'user'}) }}",
    "dict_mutation": "{{ messages[0].update({'role': 'system'}) }}",
    "list_clear": "{{ messages.clear() }}",
}


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records any attempt to start a process (none may happen)."""
    calls: list[str] = []

    def spy(name: str):
        def record(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"template reached {name}")
        return record

    monkeypatch.setattr(os, "system", spy("os.system"))
    monkeypatch.setattr(os, "popen", spy("os.popen"))
    monkeypatch.setattr(subprocess, "Popen", spy("subprocess.Popen"))
    monkeypatch.setattr(subprocess, "run", spy("subprocess.run"))
    return calls


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_payload_raises_and_runs_nothing(payload: str, tmp_path: Path, watched: list[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TemplateError) as error:
        render_chat_template(payload, MESSAGES)
    message = str(error.value)
    assert message.startswith("template string: ")
    assert "sandbox violation" in message or "undefined" in message, message
    assert not (tmp_path / "MARKER").exists()
    assert watched == []


def test_unsafe_attribute_names_the_attribute() -> None:
    with pytest.raises(TemplateError, match=r"sandbox violation at line 2: .*'__class__'"):
        render_chat_template("ok\n{{ ''.__class__ }}", MESSAGES)


def test_payload_in_a_template_file_is_labelled_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "evil.jinja"
    path.write_text(PAYLOADS["cycler_globals"], encoding="utf-8")
    with pytest.raises(TemplateError, match=r"template file '.*evil\.jinja': sandbox violation"):
        render_chat_template(str(path), MESSAGES)


def test_payloads_in_message_content_render_as_text() -> None:
    """Message text is data: Jinja-looking content is printed, never evaluated."""
    content = PAYLOADS["cycler_globals"] + " {% raise %}"
    out = render_chat_template("{{ messages[0].content }}", [{"role": "user", "content": content}])
    assert out == content


class _Writer:
    """A rich object with a dangerous method, smuggled in through extra_context."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, text: str) -> None:
        self.path.write_text(text)


def test_rich_objects_reach_templates_only_as_inert_names(tmp_path: Path) -> None:
    target = tmp_path / "written.txt"
    options = ChatTemplateOptions(extra_context={"obj": _Writer(target), "items": [_Writer(target)]})
    assert render_chat_template("{{ obj }}|{{ items[0] }}", MESSAGES, options=options) == \
        "<_Writer>|<_Writer>"
    with pytest.raises(TemplateError, match="undefined"):
        render_chat_template("{{ obj.write('pwned') }}", MESSAGES, options=options)
    assert not target.exists()


def test_unbounded_recursion_is_a_template_error() -> None:
    template = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"
    with pytest.raises(TemplateError, match="recursed too deeply"):
        render_chat_template(template, MESSAGES)


@pytest.mark.parametrize(("version", "ok"), [
    ("3.1.6", True), ("3.2.0", True), ("4.0.0rc1", True),
    ("3.1.5", False), ("3.0.3", False), ("2.11.3", False),
])
def test_old_jinja2_with_sandbox_escapes_is_refused(version: str, ok: bool) -> None:
    from lmstream_templates.environment import check_jinja2_version

    if ok:
        check_jinja2_version(version)
    else:
        with pytest.raises(ImportError, match=r"jinja2>=3\.1\.6"):
            check_jinja2_version(version)
