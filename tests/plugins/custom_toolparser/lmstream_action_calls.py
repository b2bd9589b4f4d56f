"""A third-party tool-call format, ``<<call name {"json": "arguments"}>>``, as an lmstream plugin."""

from __future__ import annotations

import lmstream
import lmstream_toolcalls as tc

START, END = "<<call ", ">>"


def parse(text, tools):
    """Parse one complete call region (markers included); the base class does the streaming."""
    name, _, arguments = tc.inner(text, START, END).strip().partition(" ")
    if not name.isidentifier():
        raise tc.CallSyntaxError(f"expected <<call name {{...}}>>, got {name!r}")
    arguments = tc.loads(arguments or "{}", "the arguments")
    if not isinstance(arguments, dict):
        raise tc.CallSyntaxError("the arguments must be a JSON object")
    return [tc.ParsedCall(name, arguments)]


# '>>' inside a JSON string does not end a call: the end search skips JSON strings.
ACTION = tc.Format("action", [
    tc.Rule(START, tc.Delimited([END], tc.JSON_QUOTES, tc.BACKSLASH), parse),
])


@lmstream.hookimpl
def lmstream_register_tool_parsers(register):
    register("action", ACTION.parser)


@lmstream.hookimpl
def lmstream_resolve_tool_parser(model):
    template = str(model.chat_template or "")
    return "action" if "<<call" in template else None
