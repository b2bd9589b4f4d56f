"""ModelContext and ``lmstream.load``: a loaded model, its tokenizer and its worker thread."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from .backend import BackendModel, ModelInfo, PromptCache, Tokenizer
from .events import Event
from .inputs import ChatMessage, ChatTemplateOptions, LMInput, ToolSpec, UserInput, coerce_tools
from .parameters import GenerationParameters, resolve_parameters
from .plugins import PluginSystem, get_plugin_system
from .result import GenerationResult, collect
from .streams import EventStream
from .worker import Worker

DEFAULT_BACKEND = "mlx"
CORE_LOAD_OPTIONS = ("tool_parser", "chat_template")
"""Load options the core keeps (in ``ModelInfo.options``) instead of passing to the backend."""


def load(model: str | None = None, backend: str | None = None, **options: Any) -> ModelContext:
    """Load ``model`` (None: the embedded default) with ``backend`` (default ``"mlx"``).

    ``tool_parser=`` and ``chat_template=`` override what the model's metadata implies; every
    other option goes to the backend, which rejects the ones it does not know.
    """
    system = get_plugin_system()
    backend_name = backend or DEFAULT_BACKEND
    factory = system.backends.get(backend_name)
    core_options = {k: options.pop(k) for k in CORE_LOAD_OPTIONS if options.get(k) is not None}
    for key in CORE_LOAD_OPTIONS:
        options.pop(key, None)
    if "tool_parser" in core_options and core_options["tool_parser"] not in (None, "none"):
        system.tool_parsers.get(core_options["tool_parser"])  # unknown names fail before loading
    worker = Worker(f"lmstream-{backend_name}")
    try:
        backend_model = worker.call(factory, model, **options)
    except BaseException:
        worker.close()
        raise
    if not isinstance(backend_model, BackendModel):
        worker.close()
        raise TypeError(f"backend {backend_name!r} returned {type(backend_model).__name__}, not a BackendModel")
    return ModelContext(backend_model, worker, system, core_options)


class ModelContext:
    """A loaded model ready to generate; all its compute runs on its own worker thread."""

    def __init__(self, backend_model: BackendModel, worker: Worker, plugin_system: PluginSystem,
                 options: dict[str, Any] | None = None) -> None:
        self.backend_model = backend_model
        self.worker = worker
        self.plugin_system = plugin_system
        info = backend_model.info
        if options:
            info = dataclasses.replace(info, options={**info.options, **options})
        self.info: ModelInfo = info
        self._closed = False
        # A context dropped without close() still stops its worker thread (queued work first).
        self._finalizer = weakref.finalize(self, worker.close, 0.0)
        # Not at interpreter exit: waking the daemon worker then would let it exit mid-shutdown.
        self._finalizer.atexit = False

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer (``encode`` / ``decode``)."""
        return self.backend_model.tokenizer

    # -- inputs -------------------------------------------------------------------------
    def render_prompt(self, messages: Sequence[ChatMessage | dict[str, Any]],
                      tools: Sequence[ToolSpec | dict[str, Any]] | None = None,
                      options: ChatTemplateOptions | None = None) -> str:
        """Render ``messages`` (and tools) with the model's chat template to the prompt text."""
        from .rendering import render_messages

        return render_messages(self.info, messages, tools, options)

    def has_chat_template(self) -> bool:
        """Whether prompts can be rendered through a chat template for this model."""
        if self.info.chat_template is not None or self.info.options.get("chat_template"):
            return True
        return self.plugin_system.resolve_chat_template(self.info) is not None

    def prepare(self, user_input: UserInput | str) -> LMInput:
        """Render (chat template) and tokenize a user input into an LMInput."""
        if isinstance(user_input, str):
            user_input = UserInput(prompt=user_input)
        options = user_input.template_options
        if user_input.messages is not None:
            text = self.render_prompt(user_input.messages, user_input.tools, options)
            templated = True
        elif user_input.use_chat_template and (options.template or self.has_chat_template()):
            assert user_input.prompt is not None
            messages = [ChatMessage(role="user", content=user_input.prompt)]
            text = self.render_prompt(messages, user_input.tools, options)
            templated = True
        else:
            assert user_input.prompt is not None
            text, templated = user_input.prompt, False
        # A rendered template carries its own BOS; a raw prompt gets the tokenizer's.
        tokens = self.tokenizer.encode(text, add_special_tokens=not templated)
        if not tokens:
            raise ValueError("the prompt encodes to no tokens")
        return LMInput(tokens=tuple(tokens), text=text, tools=user_input.tools)

    def stop_token_ids(self, parameters: GenerationParameters) -> frozenset[int]:
        """The model's EOS set plus the parameters' extra stop tokens."""
        eos = self.tokenizer.eos_token_ids
        return eos | frozenset(parameters.stop_token_ids) if parameters.stop_token_ids else frozenset(eos)

    def new_cache(self) -> PromptCache:
        """A fresh prompt cache to keep across generations (``cache=``)."""
        return self.worker.call(self.backend_model.new_cache)

    # -- buffered helpers ---------------------------------------------------------------
    def generate_stream(self, prompt: str | None = None, *, messages: Sequence[ChatMessage | dict[str, Any]] | None = None,
                        tools: Sequence[ToolSpec | dict[str, Any]] | None = None,
                        parameters: GenerationParameters | dict[str, Any] | None = None,
                        cache: PromptCache | None = None, observers: Sequence[object] | None = None,
                        template_options: ChatTemplateOptions | None = None,
                        **parameter_overrides: Any) -> EventStream[Event]:
        """Stream a generation for a prompt or messages (the streaming twin of ``generate``)."""
        from .generate import generate

        params = resolve_parameters(parameters, parameter_overrides)
        user_input = UserInput(
            prompt=prompt,
            messages=[m if isinstance(m, ChatMessage) else ChatMessage.model_validate(m) for m in messages]
            if messages is not None else None,
            tools=coerce_tools(tools),
            template_options=template_options or ChatTemplateOptions(),
        )
        return generate(user_input, parameters=params, context=self, cache=cache, observers=observers)

    def generate(self, prompt: str | None = None, *, messages: Sequence[ChatMessage | dict[str, Any]] | None = None,
                 tools: Sequence[ToolSpec | dict[str, Any]] | None = None,
                 parameters: GenerationParameters | dict[str, Any] | None = None,
                 cache: PromptCache | None = None, observers: Sequence[object] | None = None,
                 template_options: ChatTemplateOptions | None = None,
                 **parameter_overrides: Any) -> GenerationResult:
        """Generate to the end and return a GenerationResult; raises if the backend failed."""
        stream = self.generate_stream(prompt, messages=messages, tools=tools, parameters=parameters,
                                      cache=cache, observers=observers, template_options=template_options,
                                      **parameter_overrides)
        result = collect(stream)
        if result.info.error is not None:
            raise result.info.error
        response_format = resolve_parameters(parameters, parameter_overrides).response_format
        if response_format is not None and result.stop_reason == "stop" and not result.tool_calls:
            from .structured import parse_response

            result = dataclasses.replace(result, parsed=parse_response(response_format, result.text))
        return result

    # -- lifetime -----------------------------------------------------------------------
    def close(self) -> None:
        """Stop the worker (queued generations finish first) and release the model."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        try:
            self.worker.call(self.backend_model.close)
        finally:
            self.worker.close()

    def __enter__(self) -> ModelContext:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ModelContext {self.info.name!r} backend={self.info.backend!r}>"
