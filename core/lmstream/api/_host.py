"""The contract the generation APIs need of a loaded model, implemented by ``ModelContext``.

The APIs in _generate.py take a ``GenerationHost`` instead of importing the context, because
the context itself calls them (``context.generate``): the dependency points one way only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from ..model import BackendModel, ModelInfo, PromptCache, Tokenizer
from ..protocol import EventChannel, GenerationParameters, LMInput, UserInput

if TYPE_CHECKING:
    from ..hooks import PluginSystem
    from ..scheduling import SequencePlan


class GenerationHost(ABC):
    """A loaded model that generations run on: its backend, plugins, inputs and scheduler."""

    backend_model: BackendModel
    info: ModelInfo
    plugin_system: PluginSystem

    @property
    @abstractmethod
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer."""

    @abstractmethod
    def prepare(self, user_input: UserInput | str, *,
                parameters: GenerationParameters | None = None) -> LMInput:
        """Render (chat template) and tokenize a user input into an LMInput (``parameters``
        choose the tool-call format a template without tool support is shown)."""

    @property
    def reasoning_markers(self) -> tuple[str, str] | None:
        """The reasoning markers the model defines (its chat template mentions them, or its
        vocabulary has the start marker as one token); None: the model does not reason, so
        ``<think>`` it writes is content unless ``reasoning_channel=True`` asks otherwise."""
        cached: tuple[tuple[str, str] | None] | None = self.__dict__.get("_reasoning_markers")
        if cached is None:
            from ._decisions import model_reasoning_markers

            cached = (model_reasoning_markers(self.info, self.tokenizer),)
            self.__dict__["_reasoning_markers"] = cached
        return cached[0]

    @abstractmethod
    def stop_token_ids(self, parameters: GenerationParameters) -> frozenset[int]:
        """The model's EOS set plus the parameters' extra stop tokens."""

    @abstractmethod
    def new_cache(self) -> PromptCache:
        """A fresh prompt cache to keep across generations."""

    @abstractmethod
    def new_channel(self) -> EventChannel:
        """A stream's channel, bounded and wired to wake the scheduler."""

    @abstractmethod
    def submit(self, plan: SequencePlan) -> None:
        """Hand a validated generation to the scheduler."""
