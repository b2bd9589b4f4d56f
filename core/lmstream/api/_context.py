"""ModelContext and ``lmstream.load``: a loaded model, its tokenizer and its worker thread."""

from __future__ import annotations

import atexit
import dataclasses
import threading
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from ..hooks import PluginSystem, ToolParser, get_plugin_system, get_tool_parser
from ..model import BackendModel, ModelInfo, PromptCache, Tokenizer
from ..protocol import (
    ChatMessage,
    ChatTemplateOptions,
    Event,
    EventChannel,
    EventStream,
    GenerationParameters,
    GenerationResult,
    LMInput,
    ToolSpec,
    UserInput,
    coerce_tools,
    collect_result,
    resolve_parameters,
)
from ..scheduling import PrefixCache, Scheduler, SequencePlan, Worker
from ._auto import AUTO, BackendChoice, choose_backend
from ._drafting import pop_drafter
from ._generate import generate
from ._host import GenerationHost
from ._load_options import DEFAULT_MAX_BUFFERED_EVENTS, CoreLoadOptions, SchedulerOptions

DEFAULT_BACKEND = AUTO
"""``load(backend=None)``: the fastest installed backend for this machine (see ``_auto``)."""
CORE_LOAD_OPTIONS = tuple(CoreLoadOptions.model_fields)
"""Load options the core keeps (in ``ModelInfo.options``) instead of passing to the backend."""


def load(model: str | None = None, backend: str | None = None, **options: Any) -> ModelContext:
    """Load ``model`` (None: the embedded default) with ``backend`` (None or ``"auto"``: the
    fastest installed one here: MLX with Metal or CUDA, llama.cpp on a CPU-only machine;
    ``context.backend_choice`` says which ran and why).

    ``tool_parser=``, ``chat_template=`` and ``reasoning_markers=`` (the model's reasoning
    format, e.g. ``("<think>", "</think>")``) override what the model's metadata implies
    (``CoreLoadOptions``); ``batching=``, ``max_batch_size=`` and the like configure the
    scheduler (``SchedulerOptions``); every other option goes to the backend, whose
    ``BackendOptions`` rejects the ones it does not know. Errors name the option.
    """
    from ..protocol import check_backend_name

    check_backend_name(backend)
    system = get_plugin_system()
    choice = choose_backend(backend, system.backends.names())
    backend_name = choice.name
    factory = system.backends.get(backend_name)
    core = CoreLoadOptions.take(options)
    scheduling = SchedulerOptions.take(options)
    drafting = pop_drafter(options, system)  # drafter=, draft_*: see docs/speculative.md
    if core.tool_parser not in (None, "none"):
        system.tool_parsers.get(core.tool_parser)  # unknown names fail before loading
    worker = Worker(f"lmstream-{backend_name}")
    try:
        backend_model = worker.call(factory, model, **options)
        if not isinstance(backend_model, BackendModel):
            raise TypeError(f"backend {backend_name!r} returned {type(backend_model).__name__}, "
                            "not a BackendModel")
        drafter = None if drafting is None else worker.call(drafting.make, backend_model)
        scheduler = worker.call(Scheduler, backend_model, batching=scheduling.batching,
                                max_batch_size=scheduling.max_batch_size,
                                prefill_chunk_s=scheduling.prefill_chunk_s,
                                prefix_cache_bytes=scheduling.prefix_cache_bytes,
                                checkpoint_tokens=scheduling.prefix_cache_checkpoint_tokens,
                                max_checkpoints=scheduling.prefix_cache_checkpoints,
                                drafter=drafter)
    except BaseException:
        worker.close()
        raise
    context = ModelContext(backend_model, worker, system, core.for_model_info(), scheduler=scheduler,
                           max_buffered_events=scheduling.max_buffered_events)
    context.backend_choice = choice
    _track(context)
    try:
        _check_chat_template_option(core.chat_template, context)
    except BaseException:
        context.close()
        raise
    return context


_live: weakref.WeakSet[ModelContext] = weakref.WeakSet()
_live_lock = threading.Lock()
_atexit_registered = False
EXIT_CLOSE_TIMEOUT_S = 5.0
"""How long interpreter exit waits for each open context's worker to go idle."""


def _track(context: ModelContext) -> None:
    """Remember an open context so interpreter exit can quiesce it (see ``_close_at_exit``)."""
    global _atexit_registered
    with _live_lock:
        _live.add(context)
        if not _atexit_registered:
            atexit.register(_close_at_exit)
            _atexit_registered = True


def _close_at_exit() -> None:
    """Cancel and close every context still open, so no worker runs backend compute while the
    interpreter (and native libraries such as mlx) tear down: a clean exit without ``close()``."""
    with _live_lock:
        contexts = list(_live)
    for context in contexts:
        try:
            context.cancel_all()
            context.close(timeout=EXIT_CLOSE_TIMEOUT_S)
        except Exception:  # exit must go on whatever one context does
            pass


def _check_chat_template_option(value: str | None, context: ModelContext) -> None:
    """``load(chat_template=...)``: a template the model can use (registered name, one of the
    model's templates, a file or Jinja text), checked right after loading."""
    if value is None:
        return
    from ..errors import TemplateError
    from ..pipeline import choose_template

    try:
        choose_template(value, context.info, context.plugin_system)
    except TemplateError as exc:
        raise ValueError(f"chat_template: {exc}") from None


class ModelContext(GenerationHost):
    """A loaded model ready to generate; all its compute runs on its own worker thread."""

    def __init__(self, backend_model: BackendModel, worker: Worker, plugin_system: PluginSystem,
                 options: dict[str, Any] | None = None, *, scheduler: Scheduler | None = None,
                 max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS) -> None:
        self.backend_model = backend_model
        self.worker = worker
        self.plugin_system = plugin_system
        if scheduler is None:
            scheduler = worker.call(Scheduler, backend_model)
        self.scheduler = scheduler
        """Admits generations and steps them in batches on the worker thread."""
        worker.set_pump(scheduler)
        scheduler.interrupt_when(worker.has_jobs)
        self.max_buffered_events = max_buffered_events
        info = backend_model.info
        if options:
            info = dataclasses.replace(info, options={**info.options, **options})
        self.info: ModelInfo = info
        self.backend_choice = BackendChoice(info.backend, "requested")
        """Which backend runs and why (``load`` sets it; ``auto: ...`` when it chose)."""
        self._closed = False
        # A context dropped without close() still stops its worker thread (queued work first).
        self._finalizer = weakref.finalize(self, worker.close, 0.0)
        # Not at interpreter exit: waking the daemon worker then would let it exit mid-shutdown.
        self._finalizer.atexit = False

    @property
    def prefix_cache(self) -> PrefixCache:
        """The KV states this context shares across generations (``stats()`` from any thread)."""
        return self.scheduler.prefix_cache

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer (``encode`` / ``decode``)."""
        return self.backend_model.tokenizer

    # -- inputs -------------------------------------------------------------------------
    def render_prompt(self, messages: Sequence[ChatMessage | dict[str, Any]],
                      tools: Sequence[ToolSpec | dict[str, Any]] | None = None,
                      options: ChatTemplateOptions | None = None, *,
                      template_options: ChatTemplateOptions | None = None) -> str:
        """Render ``messages`` (and tools) with the model's chat template to the prompt text.

        ``template_options`` (the name ``generate`` and ``UserInput`` use) and ``options`` are
        the same argument.
        """
        from ..pipeline import render_messages

        return render_messages(self.info, messages, tools, options, plugin_system=self.plugin_system,
                               template_options=template_options)

    def tool_parser(self, name: str,
                    tools: Sequence[ToolSpec | dict[str, Any]] | None = None) -> ToolParser:
        """A fresh tool-call parser registered under ``name`` in this context's plugin system."""
        return get_tool_parser(name, tools, plugin_system=self.plugin_system)

    def has_chat_template(self) -> bool:
        """Whether prompts can be rendered through a chat template for this model."""
        if self.info.chat_template is not None or self.info.options.get("chat_template"):
            return True
        return self.plugin_system.resolve_chat_template(self.info) is not None

    def prepare(self, user_input: UserInput | str, *,
                parameters: GenerationParameters | None = None) -> LMInput:
        """Render (chat template) and tokenize a user input into an LMInput.

        ``parameters`` (``tool_parser``, ``parallel_tool_calls``) choose how a template that
        cannot show a tool loop is given it (docs/chat-templates.md, "Tool loops")."""
        if isinstance(user_input, str):
            user_input = UserInput(prompt=user_input)
        options = user_input.template_options
        if user_input.messages is not None:
            text = self._render_input(user_input.messages, user_input, parameters)
            templated = True
        elif user_input.use_chat_template and (options.template or self.has_chat_template()):
            assert user_input.prompt is not None
            messages = [ChatMessage(role="user", content=user_input.prompt)]
            text = self._render_input(messages, user_input, parameters)
            templated = True
        else:
            assert user_input.prompt is not None
            text, templated = user_input.prompt, False
        # A rendered template carries its own BOS; a raw prompt gets the tokenizer's.
        tokens = self.tokenizer.encode(text, add_special_tokens=not templated)
        if not tokens:
            raise ValueError("the prompt encodes to no tokens")
        return LMInput(tokens=tuple(tokens), text=text, tools=user_input.tools)

    def _render_input(self, messages: list[ChatMessage], user_input: UserInput,
                      parameters: GenerationParameters | None) -> str:
        """Render with the tool-call format the generation will parse (see ``_decisions``)."""
        from ..pipeline import render_messages
        from ._decisions import resolve_tool_format

        involved = bool(user_input.tools) or any(m.tool_calls or m.role == "tool" for m in messages)
        tool_format = resolve_tool_format(self, parameters, involved, required=False)
        return render_messages(self.info, messages, user_input.tools, user_input.template_options,
                               plugin_system=self.plugin_system, tool_format=tool_format,
                               parallel_tool_calls=parameters.parallel_tool_calls is not False
                               if parameters is not None else True)

    def stop_token_ids(self, parameters: GenerationParameters) -> frozenset[int]:
        """The model's EOS set plus the parameters' extra stop tokens."""
        eos = self.tokenizer.eos_token_ids
        return eos | frozenset(parameters.stop_token_ids) if parameters.stop_token_ids else frozenset(eos)

    def new_cache(self) -> PromptCache:
        """A fresh prompt cache to keep across generations (``cache=``)."""
        return self.worker.call(self.backend_model.new_cache)

    # -- scheduling ---------------------------------------------------------------------
    def new_channel(self) -> EventChannel:
        """A stream's channel, bounded and wired to wake this context's worker."""
        return EventChannel(self.max_buffered_events, self.worker.wake)

    def submit(self, plan: SequencePlan) -> None:
        """Hand a validated generation to the scheduler (it starts between decode steps)."""
        scheduler = self.scheduler
        self.worker.submit(lambda: scheduler.admit(plan))

    def when_cache_free(self, cache: PromptCache, job: Any) -> None:
        """Run ``job`` on the worker once no queued or running generation uses ``cache``."""
        scheduler = self.scheduler
        self.worker.submit(lambda: scheduler.when_cache_free(cache, job))

    # -- buffered helpers ---------------------------------------------------------------
    def generate_stream(self, prompt: str | None = None, *, messages: Sequence[ChatMessage | dict[str, Any]] | None = None,
                        tools: Sequence[ToolSpec | dict[str, Any]] | None = None,
                        parameters: GenerationParameters | dict[str, Any] | None = None,
                        cache: PromptCache | None = None, observers: Sequence[object] | None = None,
                        template_options: ChatTemplateOptions | None = None,
                        **parameter_overrides: Any) -> EventStream[Event]:
        """Stream a generation for a prompt or messages (the streaming twin of ``generate``)."""
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
        """Buffered: generate to the end and return a GenerationResult; raises if the backend
        failed. ``generate_stream`` (and ``lmstream.generate``) stream the events instead."""
        stream = self.generate_stream(prompt, messages=messages, tools=tools, parameters=parameters,
                                      cache=cache, observers=observers, template_options=template_options,
                                      **parameter_overrides)
        result = collect_result(stream)
        if result.info.error is not None:
            raise result.info.error
        response_format = resolve_parameters(parameters, parameter_overrides).response_format
        if response_format is not None and result.stop_reason == "stop" and not result.tool_calls:
            from ..protocol import parse_response

            result = dataclasses.replace(result, parsed=parse_response(response_format, result.text))
        return result

    # -- lifetime -----------------------------------------------------------------------
    def cancel_all(self) -> None:
        """Cancel every queued and running generation of this context (from any thread)."""
        if not self._closed:
            scheduler = self.scheduler
            self.worker.submit(scheduler.cancel_blocked)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the worker and release the model: queued and running generations finish first
        (a stream nobody reads is cancelled), then the worker thread goes back to the pool."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        scheduler, backend_model = self.scheduler, self.backend_model

        def release() -> None:
            try:
                scheduler.close()
            finally:
                backend_model.close()

        self.worker.close(timeout, on_stop=release)

    def __enter__(self) -> ModelContext:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ModelContext {self.info.name!r} backend={self.info.backend!r}>"
