"""The JSON Schemas of every file we read or write, and validation against them."""
from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
import referencing.exceptions
from referencing import Registry, Resource

from nodecat.introspector.errors import Problem, json_pointer
from nodecat.introspector.paths import SCHEMA_DIR

SCHEMA_NAMES = ("node", "catalog", "overrides", "graph")


@cache
def _registry() -> Registry:
    resources = []
    for name in SCHEMA_NAMES:
        contents = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = _registry().contents(f"https://nodecat.dev/schema/{name}.schema.json")
    return jsonschema.Draft202012Validator(schema, registry=_registry())


@cache
def part_validator(name: str, definition: str) -> jsonschema.Draft202012Validator:
    """A validator for one of a schema's $defs, e.g. ("graph", "train")."""
    return jsonschema.Draft202012Validator({"$ref": f"https://nodecat.dev/schema/{name}.schema.json#/$defs/{definition}"},
                                           registry=_registry())


def _entry_of(path: list[str | int], document: Any) -> str:
    """The node id or override index a schema error sits in, for the message."""
    if len(path) >= 2 and path[0] in ("nodes", "excluded") and isinstance(document, dict):
        try:
            return str(document[path[0]][path[1]].get("id", f"#{path[1]}"))
        except (IndexError, KeyError, AttributeError, TypeError):
            return f"#{path[1]}"
    if len(path) >= 2 and path[0] == "overrides" and isinstance(path[1], int):
        try:
            return f"#{path[1]} ({document['overrides'][path[1]].get('target', '?')})"
        except (IndexError, KeyError, AttributeError, TypeError):
            return f"#{path[1]}"
    return ""


def _best_leaf(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """oneOf/anyOf failures are clearer when reported at the deepest relevant cause."""
    return jsonschema.exceptions.best_match([error]) if error.context else error


def schema_problems(name: str, document: Any) -> list[Problem]:
    """Every schema violation in the document, each with entry and JSON Pointer."""
    problems = []
    for error in sorted(validator(name).iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        leaf = _best_leaf(error)
        path = list(leaf.absolute_path)
        problems.append(Problem("schema", leaf.message, entry=_entry_of(path, document),
                                pointer=json_pointer(path) or "/"))
    return problems


def check_value(schema: dict[str, Any], value: Any) -> str | None:
    """Validate one argument value against its schema fragment; the message, or None when valid."""
    try:
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
    except referencing.exceptions.Unresolvable as exc:  # a $ref to nowhere: no fetching, just an error
        return f"the schema cannot be evaluated: unresolvable reference {exc}"
    return None if error is None else error.message
