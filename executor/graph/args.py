"""Literal argument values against their catalog schemas: unknown, hidden, untyped or invalid.

Shared by graph validation (node arguments) and the train section's checks (optimizer, loss and
metric arguments), so it knows nothing of either.
"""
from __future__ import annotations

import difflib
import json
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
            kinds = _either([text for s in plain for text in _alternatives(s)])
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
        message, hint = error.message, _expected(schema)
        if error.validator in ("anyOf", "oneOf") and (alternatives := _alternatives(error.schema)):
            # jsonschema says only "is not valid under any of the given schemas": say what is valid
            message = f"{_short(error.instance)} is not {_either(alternatives)}"
            hint = "" if error.schema is schema else hint  # the message says it all already
        return ("bad_arg_value", f"argument {arg.name!r}{where}: {message}", hint)
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
    """The hint of a bad value: every kind of value the schema takes."""
    alternatives = _alternatives(schema)
    return "expected " + _either(alternatives) if alternatives else ""


_MAX_ENUM = 12  # enum values named in a message; a longer enum (dtypes) says how many more


def _alternatives(schema: Any) -> list[str]:
    """What a schema takes, one phrase per alternative: "'same'", "an integer >= 0",
    "a list of 2 integers". Empty when the schema says nothing a reader could use."""
    if not isinstance(schema, dict):
        return []
    for union in ("anyOf", "oneOf"):
        if isinstance(schema.get(union), list):
            return [text for part in schema[union] for text in _alternatives(part)]
    if "const" in schema:
        return [_literal(schema["const"])]
    if isinstance(schema.get("enum"), list):
        values = [_literal(v) for v in schema["enum"]]
        if len(values) > _MAX_ENUM:
            return values[:_MAX_ENUM] + [f"{len(values) - _MAX_ENUM} more values"]
        return values
    types = schema.get("type")
    if isinstance(types, list):
        return [text for t in types for text in _alternatives({**schema, "type": t})]
    if isinstance(types, str):
        return [_one_type(types, schema)]
    return []


def _one_type(kind: str, schema: dict[str, Any]) -> str:
    if kind in ("integer", "number"):
        return ("an integer" if kind == "integer" else "a number") + _bounds(schema)
    if kind == "array":
        return _array(schema)
    if kind == "string" and isinstance(schema.get("pattern"), str):
        return f"a string matching {schema['pattern']}"
    return {"string": "a string", "boolean": "true or false", "null": "null", "object": "an object"}.get(kind, kind)


def _bounds(schema: dict[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f" from {low} to {high}"
    parts = [f"{sign} {schema[key]}" for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                      ("maximum", "<="), ("exclusiveMaximum", "<"))
             if schema.get(key) is not None]
    return " " + " and ".join(parts) if parts else ""


def _array(schema: dict[str, Any]) -> str:
    """"a list of 2 integers", "a list of 1 to 3 numbers > 0", "a list of 2 items: an integer, a string"."""
    low, high = schema.get("minItems"), schema.get("maxItems")
    prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
    if low is not None and low == high:
        count = f"{low} "
    elif low is not None and high is not None:
        count = f"{low} to {high} "
    elif low:
        count = f"at least {low} "
    elif high is not None:
        count = f"at most {high} "
    else:
        count = ""
    items = [_either(_alternatives(p)) for p in prefix]
    if not items and isinstance(schema.get("items"), dict):
        items = [_either(_alternatives(schema["items"]))]
    kinds = set(items)
    if len(kinds) == 1 and (only := kinds.pop()) and " or " not in only:
        if count == "1 ":
            bare = next((only[len(a):] for a in ("an ", "a ") if only.startswith(a)), f"item: {only}")
            return f"a list of one {bare}"
        return f"a list of {count}{_plural(only)}"
    if len(items) > 1:
        return f"a list of {count}items: " + ", ".join(items)
    return f"a list of {count}items" if count else "a list"


def _plural(phrase: str) -> str:
    """"an integer >= 0" -> "integers >= 0"; a phrase without an article is left as it is."""
    for article in ("an ", "a "):
        if phrase.startswith(article):
            word, _, rest = phrase[len(article):].partition(" ")
            return f"{word}s {rest}".rstrip()
    return f"values {phrase}"


def _either(alternatives: list[str]) -> str:
    """"A", "A or B", "A, B, or C" ("; " between alternatives that hold commas themselves)."""
    if len(alternatives) <= 2:
        return " or ".join(alternatives)
    glue = "; " if any(", " in a for a in alternatives) else ", "
    return glue.join(alternatives[:-1]) + f"{glue.strip()} or {alternatives[-1]}"


def _literal(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value)


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
