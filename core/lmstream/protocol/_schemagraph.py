"""The graph of a JSON schema's subschemas (nesting and local ``$ref`` edges), built without
recursion, for two questions an engine would otherwise answer by crashing or by failing
mid-generation: how deep compiling it recurses (the longest path, each recursive cycle
counted at its full size), and whether any finite JSON value can satisfy it.

Both answers are conservative: a path is never under-counted, and a schema is called
unsatisfiable only when every way through it needs an infinite value (``{"$ref": "#"}``,
a required property that is the object itself) or an empty ``enum`` / ``false``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from ._limits import StructuredLimits

MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
SINGLES = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
           "unevaluatedProperties", "unevaluatedItems", "additionalItems")
LIMITED_MAPS = ("properties", "patternProperties", "$defs", "definitions")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def regex_depth(text: str, start: int, end: int) -> int:
    """The deepest nesting of ``(`` groups in ``text[start:end]`` (escapes and classes skipped)."""
    depth = deepest = 0
    i = start
    in_class = False
    while i < end:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
        i += 1
    return deepest


class SchemaGraph:
    """Subschemas of one schema as numbered nodes: ``children`` (nesting and ``$ref``) and, per
    node, what satisfying it needs (``_needs_all`` and ``_needs_one`` groups)."""

    def __init__(self, schema: Any, where: str, limits: StructuredLimits) -> None:
        self._where, self._limits = where, limits
        self.values: list[Any] = []
        self.pointers: list[str] = []
        self.children: list[list[int]] = []
        self._by_pointer: dict[str, int] = {}
        self._refs: list[tuple[int, str]] = []
        self._walk(schema)
        for node, ref in self._refs:
            target = self._resolve(ref)
            if target is not None:
                self.children[node].append(target)
        self._ref_target = {node: self._resolve(ref) for node, ref in self._refs}

    # -- building ------------------------------------------------------------------------
    def _add(self, value: Any, pointer: str) -> int:
        index = len(self.values)
        if index >= self._limits.max_subschemas:
            raise ValueError(f"{self._where} has more than {self._limits.max_subschemas} subschemas "
                             f"(limit StructuredLimits.max_subschemas = {self._limits.max_subschemas})")
        self.values.append(value)
        self.pointers.append(pointer)
        self.children.append([])
        self._by_pointer[pointer] = index
        return index

    def _too_many(self, pointer: str, what: str, count: int, limit: str, value: int) -> ValueError:
        at = f" at {pointer}" if pointer else ""
        return ValueError(f"{self._where}{at}: {what} has {count} entries "
                          f"(limit StructuredLimits.{limit} = {value})")

    def _check_regex(self, pattern: str, pointer: str) -> None:
        """A schema's regex (``pattern``, a ``patternProperties`` key): groups nested at most
        ``max_depth`` deep (Python's ``re``, used by the metaschema check, recurses on them)."""
        depth = regex_depth(pattern, 0, len(pattern))
        if depth > self._limits.max_depth:
            raise ValueError(f"{self._where} at {pointer}: the regex nests groups {depth} deep "
                             f"(limit StructuredLimits.max_depth = {self._limits.max_depth})")

    def _walk(self, schema: Any) -> None:
        limits = self._limits
        stack: list[tuple[Any, str, int | None]] = [(schema, "", None)]
        while stack:
            value, pointer, parent = stack.pop()
            if not isinstance(value, (Mapping, bool)):
                continue
            node = self._add(value, pointer)
            if parent is not None:
                self.children[parent].append(node)
            if isinstance(value, bool):
                continue
            ref = value.get("$ref")
            if isinstance(ref, str):
                self._refs.append((node, ref))
            if isinstance(value.get("pattern"), str):
                self._check_regex(value["pattern"], f"{pointer}/pattern")
            if isinstance(value.get("patternProperties"), Mapping):
                for key in value["patternProperties"]:
                    self._check_regex(str(key), f"{pointer}/patternProperties")
            for key in MAPS:
                members = value.get(key)
                if isinstance(members, Mapping):
                    if key in LIMITED_MAPS and len(members) > limits.max_properties:
                        raise self._too_many(pointer, key, len(members), "max_properties", limits.max_properties)
                    stack.extend((v, f"{pointer}/{_escape(key)}/{_escape(str(k))}", node)
                                 for k, v in members.items())
            for key in (*LISTS, "items"):
                members = value.get(key)
                if isinstance(members, list):
                    if len(members) > limits.max_alternatives:
                        raise self._too_many(pointer, key, len(members), "max_alternatives",
                                             limits.max_alternatives)
                    stack.extend((v, f"{pointer}/{_escape(key)}/{i}", node) for i, v in enumerate(members))
            for key in SINGLES:
                if isinstance(value.get(key), (Mapping, bool)):
                    stack.append((value[key], f"{pointer}/{_escape(key)}", node))
            enum = value.get("enum")
            if isinstance(enum, list) and len(enum) > limits.max_enum_values:
                raise self._too_many(pointer, "enum", len(enum), "max_enum_values", limits.max_enum_values)

    def _resolve(self, ref: str) -> int | None:
        """The node a local ref (``#`` or ``#/json/pointer``) names, or None (remote, anchors)."""
        if not ref.startswith("#"):
            return None
        fragment = unquote(ref[1:])
        if fragment and not fragment.startswith("/"):
            return None
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in fragment.split("/")[1:]]
        return self._by_pointer.get("".join("/" + _escape(t) for t in tokens))

    # -- questions -----------------------------------------------------------------------
    def longest_path(self) -> int:
        """Nodes on the longest path from the root (strongly connected parts count whole)."""
        component, order = self._components()
        sizes: dict[int, int] = {}
        for c in component:
            sizes[c] = sizes.get(c, 0) + 1
        best: dict[int, int] = {}
        for comp, members in order:  # Tarjan emits each part after every part it reaches
            reach = 0
            for node in members:
                for child in self.children[node]:
                    if component[child] != comp:
                        reach = max(reach, best[component[child]])
            best[comp] = sizes[comp] + reach
        return best[component[0]] if self.values else 0

    def _components(self) -> tuple[list[int], list[tuple[int, list[int]]]]:
        """Tarjan's strongly connected components, iteratively: (component of each node, the
        components in emission order with their members)."""
        count = len(self.values)
        index = [-1] * count
        low = [0] * count
        on_stack = [False] * count
        component = [-1] * count
        order: list[tuple[int, list[int]]] = []
        stack: list[int] = []
        counter = 0
        for start in range(count):
            if index[start] >= 0:
                continue
            work: list[tuple[int, int]] = [(start, 0)]
            while work:
                node, child_at = work.pop()
                if child_at == 0:
                    index[node] = low[node] = counter
                    counter += 1
                    stack.append(node)
                    on_stack[node] = True
                children = self.children[node]
                descended = False
                while child_at < len(children):
                    child = children[child_at]
                    child_at += 1
                    if index[child] < 0:
                        work.append((node, child_at))
                        work.append((child, 0))
                        descended = True
                        break
                    if on_stack[child]:
                        low[node] = min(low[node], index[child])
                if descended:
                    continue
                if low[node] == index[node]:
                    members: list[int] = []
                    while True:
                        member = stack.pop()
                        on_stack[member] = False
                        component[member] = len(order)
                        members.append(member)
                        if member == node:
                            break
                    order.append((len(order), members))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
        return component, order

    def satisfiable(self) -> bool:
        """Whether some finite JSON value can satisfy the root (a least fixpoint, linear)."""
        count = len(self.values)
        pending = [0] * count  # needs-all edges not yet satisfied, plus unmet one-of groups
        dependents: list[list[tuple[int, int]]] = [[] for _ in range(count)]  # (node, group or -1)
        group_met: list[bool] = []
        never = [False] * count
        for node, value in enumerate(self.values):
            if isinstance(value, bool):
                never[node] = not value
                continue
            needs_all, needs_one = self._needs(node, value)
            if isinstance(value.get("enum"), list) and not value["enum"]:
                never[node] = True
            for dep in needs_all:
                pending[node] += 1
                dependents[dep].append((node, -1))
            for group in needs_one:
                group_id = len(group_met)
                group_met.append(False)
                pending[node] += 1
                for dep in group:
                    dependents[dep].append((node, group_id))
        ready = [n for n in range(count) if pending[n] == 0 and not never[n]]
        done = [False] * count
        for node in ready:
            done[node] = True
        while ready:
            node = ready.pop()
            for dependent, group_id in dependents[node]:
                if group_id >= 0:
                    if group_met[group_id]:
                        continue
                    group_met[group_id] = True
                pending[dependent] -= 1
                if pending[dependent] == 0 and not never[dependent] and not done[dependent]:
                    done[dependent] = True
                    ready.append(dependent)
        return done[0] if count else True

    def _child(self, node: int, suffix: str) -> int | None:
        return self._by_pointer.get(self.pointers[node] + suffix)

    def _needs(self, node: int, value: Mapping[str, Any]) -> tuple[list[int], list[list[int]]]:
        """What satisfying ``value`` needs: every node of the first list, and one of each group."""
        needs_all: list[int] = []
        target = self._ref_target.get(node)
        if target is not None:
            needs_all.append(target)
        for i in range(len(value["allOf"]) if isinstance(value.get("allOf"), list) else 0):
            found = self._child(node, f"/allOf/{i}")
            if found is not None:
                needs_all.append(found)
        needs_one: list[list[int]] = []
        for key in ("anyOf", "oneOf"):
            if isinstance(value.get(key), list):
                group = [self._child(node, f"/{key}/{i}") for i in range(len(value[key]))]
                needs_one.append([g for g in group if g is not None])
                if len(needs_one[-1]) < len(group):  # a member that is no schema: not judged
                    needs_one.pop()
        kind = value.get("type")
        if kind == "object" and isinstance(value.get("required"), list):
            for name in value["required"]:
                found = self._child(node, f"/properties/{_escape(name)}") if isinstance(name, str) else None
                if found is not None:
                    needs_all.append(found)
        if kind == "array":
            needs_all.extend(self._needed_items(node, value))
        return needs_all, needs_one

    def _needed_items(self, node: int, value: Mapping[str, Any]) -> list[int]:
        """The item schemas an array of ``minItems`` items must satisfy."""
        least = value.get("minItems", 0)
        if not isinstance(least, int) or isinstance(least, bool) or least <= 0:
            return []
        prefix_key = "prefixItems" if isinstance(value.get("prefixItems"), list) else "items"
        listed = value.get(prefix_key)
        prefix: list[Any] = listed if isinstance(listed, list) else []
        found = [self._child(node, f"/{prefix_key}/{i}") for i in range(min(least, len(prefix)))]
        if least > len(prefix) and prefix_key == "prefixItems" and isinstance(value.get("items"), (Mapping, bool)):
            found.append(self._child(node, "/items"))
        elif least > len(prefix) and not prefix and isinstance(value.get("items"), (Mapping, bool)):
            found.append(self._child(node, "/items"))
        return [f for f in found if f is not None]
