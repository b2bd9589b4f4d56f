"""Render a chat to a prompt string through the chat-template renderers plugins registered.

``render_chat_template`` renders with a template the caller names (a registered renderer, a
Jinja template string or a template file); ``render_messages`` picks the template a loaded
model should use: ``options.template`` > the ``chat_template`` load option > the plugins'
resolver (``lmstream_resolve_chat_template``). The core renders nothing itself: raw Jinja
goes to the renderer registered as ``jinja`` (the built-in templates plugin).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TemplateError, TemplateRenderError, UnknownNameError
from ..hooks import ChatTemplateRenderer, PluginSystem, TemplateRequest, get_plugin_system
from ..model import ModelInfo
from ..protocol import ChatMessage, ChatTemplateOptions, ToolSpec, coerce_tools
from ._toolturns import (
    CAPS_CACHE,
    GENERIC_TOOL_FORMAT,
    TemplateCaps,
    needs_tool_rewrite,
    rewrite_for_template,
)

JINJA_RENDERER = "jinja"
"""The registered renderer that renders Jinja template text (strings, files, model templates)."""

_JINJA_MARKERS = ("{{", "{%", "{#")
_MAX_PATH_LENGTH = 4096

MessagesLike = Sequence[ChatMessage | Mapping[str, Any]]
ToolsLike = Sequence[ToolSpec | Mapping[str, Any]] | None
OptionsLike = ChatTemplateOptions | Mapping[str, Any] | None


@dataclass(frozen=True)
class _Choice:
    """A renderer plus the template text to hand it and the label errors should carry."""

    renderer: ChatTemplateRenderer
    renderer_name: str
    source: str | None
    label: str | None  # None: the renderer's own label is the right one


def render_chat_template(source: str, messages: MessagesLike, tools: ToolsLike = None,
                         options: OptionsLike = None, *, plugin_system: PluginSystem | None = None,
                         template_options: OptionsLike = None, tool_format: str | None = None,
                         parallel_tool_calls: bool = True, **special_tokens: str) -> str:
    """Render ``messages`` (and ``tools``) with ``source``: a registered renderer name, a Jinja
    template string or a path to a template file. ``special_tokens`` become template variables
    (``bos_token="<s>"``). Raises TemplateError naming the template and the problem.
    ``plugin_system`` (default: the process-wide one) supplies the renderers.
    ``template_options`` is the same as ``options`` (the name generate and UserInput use).
    ``tool_format`` (a tool-parser name) and ``parallel_tool_calls`` shape the tool loop's
    rewrite for templates that cannot show it (docs/chat-templates.md, "Tool loops")."""
    opts = _options(_one_of(options, template_options))
    choice = _choose(source, origin="", model=None, system=plugin_system or get_plugin_system())
    return _render(choice, messages, tools, opts, special_tokens, model=None,
                   tool_format=tool_format, parallel_tool_calls=parallel_tool_calls)


def render_messages(model: ModelInfo, messages: MessagesLike, tools: ToolsLike = None,
                    options: OptionsLike = None, *, plugin_system: PluginSystem | None = None,
                    template_options: OptionsLike = None, tool_format: str | None = None,
                    parallel_tool_calls: bool = True) -> str:
    """Render a chat for ``model``: ``options.template`` > the ``chat_template`` load option >
    the template the plugins resolve for the model. Special tokens come from the model.
    ``plugin_system`` (default: the process-wide one; a context passes its own) supplies the
    renderers and resolvers. ``template_options`` is the same as ``options``; ``tool_format``
    and ``parallel_tool_calls`` as in ``render_chat_template``."""
    opts = _options(_one_of(options, template_options))
    system = plugin_system or get_plugin_system()
    if opts.template is not None:
        choice = _choose(opts.template, origin=" (options.template)", model=model, system=system)
    elif model.options.get("chat_template") is not None:
        spec = model.options["chat_template"]
        if not isinstance(spec, str):
            raise TemplateError(
                f"load option chat_template must be a template name, string or path; "
                f"got {type(spec).__name__}"
            )
        choice = _choose(spec, origin=" (load option chat_template)", model=model, system=system)
    else:
        choice = _resolved(model, system)
    return _render(choice, messages, tools, opts, dict(model.special_tokens), model=model,
                   tool_format=tool_format, parallel_tool_calls=parallel_tool_calls)


def _one_of(options: OptionsLike, template_options: OptionsLike) -> OptionsLike:
    """``options`` or its alias ``template_options``; both at once is an error."""
    if options is not None and template_options is not None:
        raise TypeError("give template_options (or its alias options), not both")
    return template_options if template_options is not None else options


def _options(options: OptionsLike) -> ChatTemplateOptions:
    if options is None:
        return ChatTemplateOptions()
    if isinstance(options, ChatTemplateOptions):
        return options
    return ChatTemplateOptions.model_validate(options)


def _jinja(label: str, system: PluginSystem) -> ChatTemplateRenderer:
    """The Jinja renderer, or an error saying that raw template text needs it."""
    try:
        return system.chat_templates.get(JINJA_RENDERER)
    except UnknownNameError as exc:
        raise TemplateRenderError(
            label, f"rendering Jinja text needs the {JINJA_RENDERER!r} renderer; {exc}"
        ) from None


def _template_file(spec: str) -> Path | None:
    """``spec`` as an existing file, when it can be a path at all."""
    if "\n" in spec or len(spec) > _MAX_PATH_LENGTH:
        return None
    path = Path(spec).expanduser()
    try:
        return path if path.is_file() else None
    except OSError:
        return None


def _choose(spec: str, *, origin: str, model: ModelInfo | None, system: PluginSystem) -> _Choice:
    """Interpret a template spec: registered name > one of the model's named templates >
    file path > Jinja template string. Anything else is an error listing the names."""
    if not isinstance(spec, str) or not spec:
        raise TemplateError(f"a chat template must be a non-empty string, got {spec!r}")
    registry = system.chat_templates
    if spec in registry:
        return _Choice(registry.get(spec), spec, None, None)
    named = model.chat_template if model is not None else None
    if isinstance(named, Mapping) and spec in named:
        label = f"chat template {spec!r} of model {model.name!r}" if model else spec
        return _Choice(_jinja(label, system), JINJA_RENDERER, named[spec], label)
    path = _template_file(spec)
    if path is not None:
        label = f"template file {str(path)!r}{origin}"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateRenderError(label, f"cannot read it: {exc}") from exc
        return _Choice(_jinja(label, system), JINJA_RENDERER, text, label)
    if any(marker in spec for marker in _JINJA_MARKERS):
        label = f"template string{origin}"
        return _Choice(_jinja(label, system), JINJA_RENDERER, spec, label)
    known = ", ".join(registry.names()) or "none registered"
    shown = spec if len(spec) <= 80 else spec[:77] + "..."
    raise TemplateError(
        f"chat template {shown!r}{origin} is not a registered template (known: {known}), "
        "not an existing file, and not a Jinja template string (no '{{' or '{%')"
    )


def choose_template(spec: str, model: ModelInfo | None, system: PluginSystem | None = None) -> None:
    """Check that ``spec`` names a usable template (raises TemplateError as rendering would)."""
    _choose(spec, origin=" (load option chat_template)", model=model,
            system=system or get_plugin_system())


def _resolved(model: ModelInfo, system: PluginSystem) -> _Choice:
    """The renderer the plugins pick for ``model``, or an error saying how to choose one."""
    name = system.resolve_chat_template(model)
    if name is None:
        known = ", ".join(system.chat_templates.names()) or "none registered"
        raise TemplateError(
            f"model {model.name!r} has no chat template and no plugin resolved one; pass "
            f"options.template (or the load option chat_template) as a registered name "
            f"({known}), a Jinja template string or a template file path"
        )
    return _Choice(system.chat_templates.get(name), name, None, None)


def _render(choice: _Choice, messages: MessagesLike, tools: ToolsLike, options: ChatTemplateOptions,
            special_tokens: Mapping[str, str], model: ModelInfo | None, *,
            tool_format: str | None = None, parallel_tool_calls: bool = True) -> str:
    """Validate the inputs, rewrite a tool loop the template cannot show (``_toolturns``), call
    the renderer, and make every failure a labelled TemplateError."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError(f"messages must be a list of ChatMessage or dicts, got {type(messages).__name__}")
    if not messages:
        raise ValueError("messages is empty: a chat needs at least one message")
    validated = [m if isinstance(m, ChatMessage) else ChatMessage.model_validate(m) for m in messages]
    specs = coerce_tools(list(tools)) if tools is not None else None  # type: ignore[arg-type]
    request = TemplateRequest(
        messages=[m.to_template_dict() for m in validated],
        tools=[spec.to_openai() for spec in specs] if specs is not None else None,
        options=options,
        source=choice.source,
        model=model,
        special_tokens=dict(special_tokens),
    )
    if needs_tool_rewrite(request.messages, request.tools):
        caps = template_caps(choice, request)
        if not caps.complete or tool_format == GENERIC_TOOL_FORMAT:
            rewritten = rewrite_for_template(request.messages, request.tools, caps, tool_format,
                                             parallel=parallel_tool_calls)
            request = dataclasses.replace(request, messages=rewritten)
    return _call(choice, request)


def template_caps(choice: _Choice, request: TemplateRequest) -> TemplateCaps:
    """What the chosen template shows of a tool loop (probed once per template)."""
    model = request.model
    key = (choice.renderer_name, choice.source, model.name if model is not None else None,
           repr(model.chat_template) if model is not None and choice.source is None else None)
    probe_options = request.options.model_copy(update={"add_generation_prompt": False,
                                                       "documents": None})

    def render(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        return choice.renderer(dataclasses.replace(request, messages=messages, tools=tools,
                                                   options=probe_options))

    return CAPS_CACHE.get(key, render)


def _call(choice: _Choice, request: TemplateRequest) -> str:
    """Call the renderer; every failure becomes a TemplateError naming the template."""
    try:
        rendered = choice.renderer(request)
    except TemplateRenderError as exc:
        if choice.label is None or exc.template == choice.label:
            raise
        raise TemplateRenderError(choice.label, exc.problem, exc.lineno) from exc
    except TemplateError:
        raise
    except Exception as exc:  # a renderer's own failure: name the template and keep the cause
        label = choice.label or f"chat template {choice.renderer_name!r}"
        raise TemplateRenderError(label, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(rendered, str):
        label = choice.label or f"chat template {choice.renderer_name!r}"
        raise TemplateRenderError(label, f"renderer returned {type(rendered).__name__}, not str")
    return rendered


class ToolsIgnoredWarning(UserWarning):
    """Kept for compatibility: no longer emitted, since a template that does not render tools
    gets them in a system block (docs/chat-templates.md, "Tool loops")."""
