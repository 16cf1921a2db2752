"""Literal argument values against their catalog schemas: unknown, hidden, untyped or invalid.

Shared by graph validation (node arguments) and the train section's checks (optimizer, loss and
metric arguments), so it knows nothing of either.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Iterator

import jsonschema

from nodecat.executor.graph.errors import GraphProblem
from nodecat.executor.graph.values import EDGE_VALUE_KINDS, value_kind
from nodecat.executor.graph.vocabulary import MAX_CONSTANT_ELEMENTS
from nodecat.introspector.errors import json_pointer
from nodecat.introspector.model import Arg, Node


def close_names(name: str, known: list[str]) -> str:
    matches = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"did you mean {', '.join(matches)}?" if matches else ""


def literal_arg_problems(descriptor: Node, args: dict[str, Any], owner: str, base: list[str | int],
                         close: Callable[[str, list[str]], str] = close_names) -> Iterator[GraphProblem]:
    """Problems of literal argument values: unknown, hidden, untyped, or invalid against their schema.

    `base` is the JSON path of the object holding "args" (a node, or a part of the train section)."""
    by_name = {a.name: a for a in descriptor.args}
    for name, value in args.items():
        pointer = json_pointer([*base, "args", name])
        arg = by_name.get(name)
        if arg is not None and not arg.hidden and arg.schema is not None:
            problem = _value_problem(descriptor, arg, value)
            if problem is not None:
                yield GraphProblem(problem[0], problem[1], owner, pointer, problem[2])
        elif arg is None:
            yield GraphProblem("unknown_arg", f"{descriptor.id} has no argument {name!r}", owner, pointer,
                               close(name, [a.name for a in descriptor.args if not a.hidden]))
        elif arg.hidden:
            yield GraphProblem("hidden_arg", f"argument {name!r} is set by the executor, not by graphs",
                               owner, pointer, "remove it; devices and training mode are chosen at run time")
        else:
            yield GraphProblem("untyped_arg", f"argument {name!r} has no type in the catalog, so no value "
                               f"can be checked: {arg.unsupported}", owner, pointer,
                               "leave it at its default, or type it in overrides/")


_VALIDATORS: dict[int, jsonschema.protocols.Validator] = {}

# JSON Schema counts 64.0 as an integer; a library constructor does not (Linear(64.0, ...) fails),
# so argument values are checked with an "integer" that means a JSON integer literal.
_StrictIntegers = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)))


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """One compiled validator per schema object (catalog nodes are loaded once per process)."""
    key = id(schema)
    found = _VALIDATORS.get(key)
    if found is None or found.schema is not schema:
        found = _VALIDATORS[key] = _StrictIntegers(schema)
    return found


def _value_problem(descriptor: Node, arg: Arg, value: Any) -> tuple[str, str, str] | None:
    """(code, message, hint) when a literal value is not acceptable for the argument."""
    schema = arg.schema or {}
    kind = value_kind(schema)
    if kind in EDGE_VALUE_KINDS and value is not None:
        plain = [s for s in schema.get("anyOf", ()) if not s.get("x-nodecat")]
        if any(_validator(s).is_valid(value) for s in plain):
            return None  # a literal alternative, e.g. Keras' learning_rate: a number or a schedule
        if plain:
            kinds = " or ".join(f"a {s['type']}" if isinstance(s.get("type"), str) else "a literal" for s in plain)
            return ("bad_arg_value", f"argument {arg.name!r} takes {kinds}, or a {kind} by an edge; not "
                    f"{_short(value)}", "")
        return ("arg_needs_edge", f"argument {arg.name!r} takes a {kind}, which only an edge can give",
                f'add an edge {{"to": {{"arg": "{arg.name}"}}}} from a layer node')
    if kind == "tensor" and value is not None:
        shape = _numeric_shape(value)
        if shape is None:
            return ("bad_arg_value", f"argument {arg.name!r} takes a tensor: a number or rectangular nested lists of "
                    f"numbers, not {_short(value)}", "or feed it by an edge")
        return None
    validator = _validator(schema)
    error = None if validator.is_valid(value) else jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        where = "".join(f"[{p!r}]" for p in error.absolute_path)
        return ("bad_arg_value", f"argument {arg.name!r}{where}: {error.message}", _expected(schema))
    if descriptor.id == "constant" and arg.name == "value":
        shape = _numeric_shape(value)
        if shape is None:
            return ("bad_arg_value", "a constant's value must be rectangular (every row the same length)", "")
        count = 1
        for size in shape:
            count *= size
        if count > MAX_CONSTANT_ELEMENTS:
            return ("too_many_elements", f"the constant has {count} elements; at most {MAX_CONSTANT_ELEMENTS}",
                    "feed large tensors as graph inputs or weights")
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(map(repr, schema["enum"][:12])) + (" ..." if len(schema["enum"]) > 12 else "")
    if "type" in schema:
        bounds = [f"{k} {schema[k]}" for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
                  if k in schema]
        return f"expected {schema['type']}" + (f" ({', '.join(bounds)})" if bounds else "")
    return ""


def _numeric_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of a number or rectangular nested lists of numbers; None when ragged or not numeric.

    Iterative over levels, so a deep value cannot hit the recursion limit."""
    shape: list[int] = []
    level = [value]
    while level and all(isinstance(v, list) for v in level):
        sizes = {len(v) for v in level}
        if len(sizes) != 1:
            return None
        shape.append(sizes.pop())
        level = [item for v in level for item in v]
    if any(isinstance(v, (list, dict, str)) or v is None for v in level):
        return None
    return tuple(shape)
