"""Responses API tools: what the model sees, and how its calls map back to API items.

- ``function`` tools are function tools.
- ``custom`` tools (free-form input, optionally a Lark or regex ``format``) are shown to the
  model as a function with one string parameter ``input`` whose description carries the
  grammar; their calls come back as ``custom_tool_call`` items (see ``responses_custom``
  for how the grammar is enforced).
- ``namespace`` tools group function/custom tools; each is flattened to ``namespace.name``
  for the model (the name the API's own models see) and comes back with ``namespace`` set.
- Tools declared in ``additional_tools`` input items join the request's tools.
- Hosted tools the server cannot run (``web_search``, ``tool_search``, ``file_search``,
  ``computer_use``, ``mcp``, ...) are left out of what the model sees and named in the
  ``x-lmstream-ignored-tools`` response header and the server log; with
  ``ServerLimits.refuse_hosted_tools`` they are a 400 instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from lmstream import ToolSpec

from .errors import APIError, bad_request, from_validation, unsupported
from .wire import WireModel, check_count, kind_of

HOSTED_TOOL_TYPES = frozenset({
    "web_search", "web_search_preview", "web_search_preview_2025_03_11", "web_search_2025_08_26",
    "file_search", "computer", "computer_use", "computer_use_preview", "mcp", "code_interpreter",
    "image_generation", "local_shell", "shell", "tool_search", "apply_patch",
})
"""Tool types the API runs on its side (or a client runs for a hosted model); never shown here."""

IGNORED_TOOLS_HEADER = "x-lmstream-ignored-tools"


class FunctionTool(WireModel):
    """A ``function`` tool (flat Responses shape)."""

    type: Literal["function"]
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    defer_loading: bool | None = None


class GrammarFormat(WireModel):
    """A custom tool's grammar: Lark or a regex."""

    type: Literal["grammar"]
    syntax: Literal["lark", "regex"]
    definition: str = Field(min_length=1)


class TextToolFormat(WireModel):
    """A custom tool with free-form text input."""

    type: Literal["text"]


class CustomTool(WireModel):
    """A ``custom`` tool: free-form input, optionally constrained by a grammar."""

    type: Literal["custom"]
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    format: GrammarFormat | TextToolFormat | None = None
    defer_loading: bool | None = None

    @field_validator("format", mode="before")
    @classmethod
    def _pick_format(cls, value: Any) -> Any:
        """Validate ``format`` by its ``type`` (errors then name ``format.syntax``, not a union member)."""
        if not isinstance(value, dict):
            return value
        kind = value.get("type")
        model: type[WireModel] = GrammarFormat if kind == "grammar" else TextToolFormat
        return model.model_validate(value)


class NamespaceTool(WireModel):
    """A ``namespace``: function / custom tools under a shared name."""

    type: Literal["namespace"]
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    tools: list[dict[str, Any]]


@dataclass(frozen=True)
class Grammar:
    """A custom tool's input constraint."""

    syntax: Literal["lark", "regex"]
    definition: str

    def response_format(self) -> dict[str, Any]:
        """The core's ``response_format`` constraining a whole output to this grammar."""
        if self.syntax == "lark":
            return {"type": "grammar", "lark": self.definition}
        return {"type": "regex", "pattern": self.definition}


@dataclass(frozen=True)
class ToolName:
    """How a model-facing tool name maps back to the API."""

    name: str
    namespace: str | None
    kind: Literal["function", "custom"]
    grammar: Grammar | None = None
    where: str = "tools"
    """Where the tool was declared (``tools[2]``, ``input[0].tools[1].tools[3]``), for errors."""


@dataclass
class ToolSet:
    """The tools of one request: specs for the model, name mapping, hosted tools left out."""

    specs: list[ToolSpec] = field(default_factory=list)
    names: dict[str, ToolName] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def model_name(self, name: str, namespace: str | None = None) -> str:
        """The name the model sees for an API name (and namespace)."""
        return f"{namespace}.{name}" if namespace else name

    def custom(self, model_name: str) -> ToolName | None:
        """The custom tool the model calls by ``model_name``, if it is one."""
        entry = self.names.get(model_name)
        return entry if entry is not None and entry.kind == "custom" else None


RULE = re.compile(r"^\s*[?!]?[A-Za-z_]\w*(\.-?\d+)?\s*:", re.MULTILINE)


def check_grammar_size(grammar: Grammar, limits: tuple[int, int], param: str) -> None:
    """A 400 naming ``param`` when a grammar is over the size or rule-count limit (a long
    chain of rules can crash the grammar engine, so none reaches it unbounded)."""
    max_bytes, max_rules = limits
    size = len(grammar.definition.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise APIError(400, f"the grammar is {size} bytes; this server allows at most {max_bytes}",
                       param=param, code="grammar_too_large")
    rules = len(RULE.findall(grammar.definition)) if grammar.syntax == "lark" else 0
    if rules > max_rules:
        raise APIError(400, f"the grammar has {rules} rules; this server allows at most {max_rules}",
                       param=param, code="grammar_too_large")


def _custom_spec(tool: CustomTool, model_name: str) -> ToolSpec:
    """A custom tool as the model sees it: one string parameter ``input``."""
    about = "Free-form text input"
    if isinstance(tool.format, GrammarFormat):
        about = (f"Raw input text (not JSON) that must match this {tool.format.syntax} grammar:\n"
                 f"{tool.format.definition}")
    return ToolSpec.model_validate({
        "name": model_name, "description": tool.description or "",
        "parameters": {"type": "object", "properties": {"input": {"type": "string", "description": about}},
                       "required": ["input"], "additionalProperties": False}})


def _validated(model: type[WireModel], raw: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise from_validation(exc, prefix=f"{where}.") from None


class ToolCollector:
    """Builds a ToolSet from ``tools`` and ``additional_tools`` items, naming bad fields."""

    def __init__(self, max_tools: int, refuse_hosted: bool,
                 grammar_limits: tuple[int, int] = (64 * 1024, 1_000)) -> None:
        self.max_tools = max_tools
        self.refuse_hosted = refuse_hosted
        self.grammar_limits = grammar_limits
        self.tools = ToolSet()

    def add_all(self, raw: list[Any], where: str) -> None:
        """Add a list of tool declarations found at ``where``."""
        check_count(raw, self.max_tools, where)
        for index, tool in enumerate(raw):
            self.add(tool, f"{where}[{index}]", None)

    def add(self, tool: Any, where: str, namespace: str | None) -> None:
        """Add one declaration (a namespace adds its members)."""
        if not isinstance(tool, dict):
            raise bad_request(f"{where} must be an object", where, "invalid_value")
        kind = tool.get("type")
        if kind == "function":
            function = _validated(FunctionTool, tool, where)
            self._add_function(function, where, namespace)
        elif kind == "custom":
            self._add_custom(_validated(CustomTool, tool, where), where, namespace)
        elif kind == "namespace" and namespace is None:
            space = _validated(NamespaceTool, tool, where)
            check_count(space.tools, self.max_tools, f"{where}.tools")
            for index, member in enumerate(space.tools):
                member_where = f"{where}.tools[{index}]"
                if not isinstance(member, dict) or member.get("type") not in ("function", "custom"):
                    raise unsupported(f"{member_where}.type", "a namespace holds function and custom tools")
                self.add(member, member_where, space.name)
        elif isinstance(kind, str) and kind in HOSTED_TOOL_TYPES:
            if self.refuse_hosted:
                raise unsupported(f"{where}.type", f"the hosted tool {kind!r} cannot run on this server")
            if kind not in self.tools.ignored:
                self.tools.ignored.append(kind)
        else:
            raise unsupported(f"{where}.type", f"tool type {kind!r}")
        if len(self.tools.specs) > self.max_tools:
            raise APIError(400, f"more than {self.max_tools} tools in all", param=where, code="too_many_items")

    def _register(self, spec_name: str, entry: ToolName, where: str) -> None:
        if spec_name in self.tools.names:
            raise bad_request(f"duplicate tool name {spec_name!r}", f"{where}.name", "invalid_value")
        self.tools.names[spec_name] = entry

    def _add_function(self, function: FunctionTool, where: str, namespace: str | None) -> None:
        name = self.tools.model_name(function.name, namespace)
        values: dict[str, Any] = {"name": name, "description": function.description or ""}
        if function.parameters is not None:
            values["parameters"] = function.parameters
        try:
            spec = ToolSpec.model_validate(values)
        except ValidationError as exc:
            raise from_validation(exc, prefix=f"{where}.") from None
        self._register(name, ToolName(function.name, namespace, "function"), where)
        self.tools.specs.append(spec)

    def _add_custom(self, tool: CustomTool, where: str, namespace: str | None) -> None:
        name = self.tools.model_name(tool.name, namespace)
        grammar = Grammar(tool.format.syntax, tool.format.definition) if isinstance(tool.format, GrammarFormat) \
            else None
        try:
            spec = _custom_spec(tool, name)
        except ValidationError as exc:
            raise from_validation(exc, prefix=f"{where}.") from None
        if grammar is not None:
            check_grammar_size(grammar, self.grammar_limits, f"{where}.format.definition")
        self._register(name, ToolName(tool.name, namespace, "custom", grammar, where), where)
        self.tools.specs.append(spec)


@dataclass(frozen=True)
class Choice:
    """``tool_choice`` resolved: the tools the model sees, the core's tool_choice, or a forced
    custom tool (the whole output is that tool's input)."""

    specs: list[ToolSpec] | None
    core_choice: str | dict[str, Any] | None = None
    forced_custom: str | None = None
    grammar: dict[str, Any] | None = None
    """A forced custom tool's grammar as the core's ``response_format`` (None: free-form text)."""
    none: bool = False


def resolve_choice(choice: str | dict[str, Any] | None, tools: ToolSet) -> Choice:
    """Apply a Responses ``tool_choice`` to the request's tools."""
    specs = tools.specs or None
    if choice is None or choice == "auto":
        return Choice(specs)
    if choice == "none":
        return Choice(None, none=True)
    if choice == "required":
        return _required(tools, list(tools.names))
    if not isinstance(choice, dict):
        raise bad_request(f"tool_choice must be 'auto', 'none', 'required' or an object, not {choice!r}",
                          "tool_choice", "invalid_value")
    kind = choice.get("type")
    if kind in ("function", "custom"):
        extra = set(choice) - {"type", "name", "namespace"}
        if extra:
            raise unsupported(f"tool_choice.{sorted(extra)[0]}")
        name = choice.get("name")
        namespace = choice.get("namespace")
        if not isinstance(name, str) or not (namespace is None or isinstance(namespace, str)):
            raise bad_request("tool_choice.name must be a tool name", "tool_choice.name", "invalid_value")
        model_name = tools.model_name(name, namespace)
        entry = tools.names.get(model_name)
        if entry is None or entry.kind != kind:
            raise bad_request(f"tool_choice names the {kind} tool {model_name!r}, which is not among the tools",
                              "tool_choice.name", "invalid_value")
        return _required(tools, [model_name])
    if kind == "allowed_tools":
        return _allowed(choice, tools)
    if isinstance(kind, str) and kind in HOSTED_TOOL_TYPES:
        raise unsupported("tool_choice.type", f"the hosted tool {kind!r} cannot run on this server")
    raise bad_request(f"tool_choice.type {kind!r} is not a tool choice", "tool_choice.type", "invalid_value")


def _allowed(choice: dict[str, Any], tools: ToolSet) -> Choice:
    extra = set(choice) - {"type", "mode", "tools"}
    if extra:
        raise unsupported(f"tool_choice.{sorted(extra)[0]}")
    mode = choice.get("mode", "auto")
    listed = choice.get("tools")
    if mode not in ("auto", "required") or not isinstance(listed, list) or not listed:
        raise bad_request("tool_choice of type allowed_tools needs mode 'auto' or 'required' and a list of tools",
                          "tool_choice", "invalid_value")
    names: list[str] = []
    for index, item in enumerate(listed):
        where = f"tool_choice.tools[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            if isinstance(item, dict) and kind_of(item, where) in HOSTED_TOOL_TYPES:
                continue  # a hosted tool: left out like the tool itself
            raise bad_request(f"{where} must name a tool", where, "invalid_value")
        name = tools.model_name(item["name"], item.get("namespace"))
        if name not in tools.names:
            raise bad_request(f"{where} names {name!r}, which is not among the tools", where, "invalid_value")
        names.append(name)
    if mode == "required":
        return _required(tools, names)
    kept = [spec for spec in tools.specs if spec.name in names]
    return Choice(kept or None, none=not kept)


def _required(tools: ToolSet, names: list[str]) -> Choice:
    """A call is required among ``names``: one custom tool is forced as the whole output."""
    if not names:
        raise bad_request("tool_choice requires a tool call but no tools were given", "tool_choice", "invalid_value")
    entry = tools.names[names[0]]
    if len(names) == 1 and entry.kind == "custom":
        grammar = entry.grammar.response_format() if entry.grammar is not None else None
        return Choice([spec for spec in tools.specs if spec.name == names[0]], forced_custom=names[0],
                      grammar=grammar)
    kept = [spec for spec in tools.specs if spec.name in names]
    core: str | dict[str, Any] = "required" if len(names) > 1 else {"type": "function",
                                                                    "function": {"name": names[0]}}
    return Choice(kept, core_choice=core)
