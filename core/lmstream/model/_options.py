"""Load options as typed pydantic models: one base, one set of validation rules, errors naming the option.

``lmstream.load(model, backend=..., **options)`` hands its keyword options to three readers:
the core (``tool_parser`` and the like), the scheduler (``max_batch_size`` ...) and the
backend. Each declares its options as a subclass of ``LoadOptions`` (backends: of
``BackendOptions``), with typed fields, constraints and a docstring per field, as ``llm``'s model
plugins subclass ``llm.Options``. The base states the rules once: unknown names are refused,
types are strict (``True`` is no number, ``"1"`` no int), NaN and infinity are refused, and a
parsed set is frozen. ``describe`` lists a class's options with their types, defaults and docs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

_Options = TypeVar("_Options", bound="LoadOptions")
_SHOWN_INPUT = 60
"""How many characters of a refused value an error message repeats."""


class OptionError(ValueError, TypeError):
    """A load option is unknown or its value is refused; the message names the option.

    Both a ValueError (the value is refused) and a TypeError (as Python's own call with an
    unknown keyword or a wrong type), so callers catching either keep working.
    """


@dataclass(frozen=True)
class OptionDoc:
    """One option as ``describe`` lists it (for help texts and ``lmstream plugins``)."""

    name: str
    type: str
    """The option's type as written (``int | None``)."""
    default: Any
    description: str


class LoadOptions(BaseModel):
    """A group of ``load()`` options; subclasses declare the fields (with a docstring each).

    ``parse`` validates a dict of options (unknown names are an error), ``take`` pops this
    class's options out of a dict and leaves the rest for the next reader.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True,
                              use_attribute_docstrings=True)

    kind: ClassVar[str] = "load"
    """What the options configure, for messages (``unknown mlx backend option(s): ...``)."""

    @classmethod
    def parse(cls: type[_Options], options: Mapping[str, Any]) -> _Options:
        """Validate ``options``; an unknown name or a refused value raises ``OptionError``
        naming it (unknown names also list the known ones)."""
        known = set(cls.model_fields)
        unknown = sorted(set(options) - known)
        if unknown:
            raise OptionError(f"unknown {cls.kind} option(s): {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        try:
            return cls.model_validate(dict(options))
        except ValidationError as exc:
            raise OptionError(_message(cls.kind, exc)) from None

    @classmethod
    def take(cls: type[_Options], options: dict[str, Any]) -> _Options:
        """Pop this class's options out of ``options`` (in place) and ``parse`` them."""
        return cls.parse({name: options.pop(name) for name in cls.model_fields if name in options})

    @classmethod
    def describe(cls) -> list[OptionDoc]:
        """Every option of this class: name, type, default and description, in field order."""
        docs = []
        for name, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=True)
            docs.append(OptionDoc(name, _type_name(field.annotation), default,
                                  " ".join((field.description or "").split())))
        return docs


class BackendOptions(LoadOptions):
    """The load options of one backend; a backend subclasses it and parses its factory's
    ``**options`` with ``parse`` (docs/plugins.md, "Backend options")."""

    kind: ClassVar[str] = "backend"


def _message(kind: str, exc: ValidationError) -> str:
    """One line per refused value, each naming its option (``llama_cpp backend option 'n_ctx':
    Input should be greater than or equal to 1 (got 0)``)."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = error.get("loc", ())
        text = str(error.get("msg", "")).removeprefix("Value error, ")
        if not loc:
            parts.append(f"{kind} options: {text}")
            continue
        where = ".".join(str(part) for part in loc)
        shown = repr(error.get("input"))
        if len(shown) > _SHOWN_INPUT:
            shown = shown[:_SHOWN_INPUT] + "..."
        parts.append(f"{kind} option '{where}': {text} (got {shown})")
    return "; ".join(parts)


def _type_name(annotation: Any) -> str:
    """``int | None``, ``'cpu' | 'gpu' | None``: the annotation as a reader writes it."""
    if annotation is type(None):
        return "None"
    if annotation is Ellipsis:
        return "..."
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Union or origin is UnionType:
        return " | ".join(_type_name(arg) for arg in args)
    if origin is Literal:
        return " | ".join(repr(arg) for arg in args)
    if origin is not None and args:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(arg) for arg in args)}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
