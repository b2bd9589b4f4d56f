"""A third-party constraint engine: the output is one of a JSON schema's string ``enum``."""

import json

import numpy as np

import lmstream


class ChoiceMatcher:
    """Allows the tokens that keep the output a prefix of one of the choices."""

    def __init__(self, choices, vocabulary):
        self.choices = [c.encode() for c in choices]
        token_bytes = vocabulary.tokenizer.token_bytes
        self.pieces = [token_bytes(i) for i in range(vocabulary.size)]
        self.eos = sorted(vocabulary.eos_token_ids)
        self.special = vocabulary.special_token_ids | vocabulary.eos_token_ids
        self.text = b""

    def fill_bitmask(self, words):
        """Set the bit of every token that keeps the output on the way to a choice."""
        allowed = np.zeros(len(words) * 32, dtype=np.bool_)
        for i, piece in enumerate(self.pieces):
            grown = self.text + piece
            allowed[i] = i not in self.special and any(c.startswith(grown) for c in self.choices)
        allowed[self.eos] = self.is_accepting()
        words[:] = np.packbits(allowed, bitorder="little").view(np.int32)

    def consume(self, token):
        self.text += self.pieces[token]
        return any(c.startswith(self.text) for c in self.choices)

    def is_accepting(self):
        return self.text in self.choices

    def error(self):
        return None


class ChoiceEngine:
    """Compiles a JSON schema's string enum; refuses every other spec."""

    def matcher(self, spec, vocabulary):
        choices = (spec.schema or {}).get("enum") if spec.kind == "json_schema" else None
        if not choices or not all(isinstance(c, str) for c in choices):
            raise ValueError("the choice engine needs a JSON schema with a string enum")
        return ChoiceMatcher([json.dumps(c) for c in choices], vocabulary)


@lmstream.hookimpl
def lmstream_register_constraint_engines(register):
    """Register the engine as ``choice``."""
    register("choice", ChoiceEngine())
