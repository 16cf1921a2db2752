"""The type vocabulary: annotation / default / docstring phrase -> JSON Schema fragment.

Knows no library. A library profile hands in its own value types (tensor, dtype,
device, module) as `LibraryTypes`. What cannot be typed comes back as a Typing
with a `reason` instead of a schema, so the node is marked for review.
"""
from __future__ import annotations

import collections.abc
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

Schema = dict[str, Any]

INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
STRING: Schema = {"type": "string"}
NULL: Schema = {"type": "null"}

CALLABLE_REASON = "takes a Python callable, which a graph cannot carry"


@dataclass(frozen=True)
class Typing:
    """The outcome of typing one argument: a schema, or the reason there is none."""

    schema: Schema | None
    phrase: str = ""
    reason: str = ""

    @property
    def typed(self) -> bool:
        return self.schema is not None


@dataclass(frozen=True)
class LibraryTypes:
    """A library's own value types, by Python class and by the words its docstrings use."""

    by_class: Mapping[type, Schema] = field(default_factory=dict)
    by_word: Mapping[str, Schema] = field(default_factory=dict)


def untyped(reason: str, phrase: str = "") -> Typing:
    return Typing(None, phrase, reason)


def any_of(parts: list[Schema]) -> Schema:
    """anyOf of the parts, flattened (no anyOf inside anyOf) and without repeats."""
    unique: list[Schema] = []
    for part in parts:
        for member in (part["anyOf"] if set(part) == {"anyOf"} else [part]):
            if member not in unique:
                unique.append(member)
    return unique[0] if len(unique) == 1 else {"anyOf": unique}


def _phrase(annotation: Any) -> str:
    if isinstance(annotation, type) and annotation.__module__ == "builtins":
        return annotation.__name__
    text = inspect.formatannotation(annotation)
    return re.sub(r"\bcollections\.abc\.|\btyping\.", "", text)


def from_annotation(annotation: Any, lib: LibraryTypes) -> Typing:
    """Type an argument from its annotation (already resolved, not a string)."""
    phrase = _phrase(annotation)
    schema, reason = _annotation_schema(annotation, lib)
    return Typing(schema, phrase, "" if schema is not None else f"annotation {phrase}: {reason}")


def _annotation_schema(ann: Any, lib: LibraryTypes) -> tuple[Schema | None, str]:
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if ann is type(None) or ann is None:
        return NULL, ""
    if ann is typing.Any:
        return None, "Any says nothing about the accepted values"
    if ann in (int, float, bool, str):
        return {int: INTEGER, float: NUMBER, bool: BOOLEAN, str: STRING}[ann], ""
    if isinstance(ann, type) and ann in lib.by_class:
        return dict(lib.by_class[ann]), ""
    if origin is typing.Literal:
        if all(isinstance(a, (int, float, str, bool)) or a is None for a in args):
            return {"enum": list(args)}, ""
        return None, "Literal of non-JSON values"
    if origin in (typing.Union, types.UnionType):
        parts = [_annotation_schema(a, lib) for a in args]
        typed = [s for s, _ in parts if s is not None]
        callables = [a for a in args if _is_callable_annotation(a)]
        # A callable member is dropped (a graph passes names, not functions); any other
        # untyped member makes the whole union untyped, since we would under-promise.
        if len(typed) + len(callables) == len(args) and typed:
            return any_of(typed), ""
        return None, next((r for s, r in parts if s is None), "union member not understood")
    if _is_callable_annotation(ann):
        return None, CALLABLE_REASON
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item, reason = _annotation_schema(args[0], lib)
            return (None, reason) if item is None else ({"type": "array", "items": item}, "")
        if not args:
            return {"type": "array"}, ""
        items = [_annotation_schema(a, lib) for a in args]
        if any(s is None for s, _ in items):
            return None, next(r for s, r in items if s is None)
        return {"type": "array", "prefixItems": [s for s, _ in items], "items": False,
                "minItems": len(args), "maxItems": len(args)}, ""
    if origin in (list, collections.abc.Sequence, collections.abc.Iterable, collections.abc.MutableSequence):
        if not args:
            return {"type": "array"}, ""
        item, reason = _annotation_schema(args[0], lib)
        return (None, reason) if item is None else ({"type": "array", "items": item}, "")
    if origin is dict or origin is collections.abc.Mapping:
        return None, "a mapping of Python values"
    if isinstance(ann, type):
        for cls, schema in lib.by_class.items():
            if issubclass(ann, cls):
                return dict(schema), ""
        return None, f"class {ann.__qualname__} is not a JSON value"
    return None, "annotation not understood"


def _is_callable_annotation(ann: Any) -> bool:
    return ann is collections.abc.Callable or typing.get_origin(ann) is collections.abc.Callable \
        or ann is typing.Callable


def from_default(value: Any, lib: LibraryTypes) -> Typing:
    """Type an unannotated argument from its default value (None says nothing)."""
    if isinstance(value, bool):
        return Typing(BOOLEAN, "default " + repr(value))
    if isinstance(value, int):
        return Typing(INTEGER, "default " + repr(value))
    if isinstance(value, float):
        return Typing(NUMBER, "default " + repr(value))
    if isinstance(value, str):
        return Typing(STRING, "default " + repr(value))
    if isinstance(value, tuple) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in value):
        item = INTEGER if all(isinstance(v, int) for v in value) else NUMBER
        return Typing({"type": "array", "items": item, "minItems": len(value), "maxItems": len(value)},
                      "default " + repr(value))
    for cls, schema in lib.by_class.items():
        if isinstance(value, cls):
            return Typing(dict(schema), "default " + repr(value))
    return untyped(f"default {value!r} does not tell the type")


# --- docstring phrases -------------------------------------------------------------------

_WORDS: dict[str, Schema] = {
    "int": INTEGER, "integer": INTEGER, "ints": INTEGER, "integers": INTEGER,
    "float": NUMBER, "floats": NUMBER, "number": NUMBER, "double": NUMBER,
    "bool": BOOLEAN, "boolean": BOOLEAN,
    "str": STRING, "string": STRING,
    "none": NULL,
}
_SEQUENCE_WORDS = ("tuple", "list", "sequence", "iterable", "array")
_CALLABLE_WORDS = ("callable", "function", "module")


def _clean_phrase(phrase: str) -> str:
    text = re.sub(r":(class|func|attr|obj):`~?([^`]+)`", r"\2", phrase)
    text = text.replace("``", "").replace("`", "").replace("python:", "")  # Sphinx intersphinx prefix
    return re.sub(r"\s+", " ", text).strip()


def _split_alternatives(text: str) -> list[str]:
    """'int, tuple or str' -> ['int', 'tuple', 'str'], leaving '(int, int)' whole."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "([" and 1 or (-1 if char in ")]" else 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    result = []
    for part in parts:
        result.extend(p for p in re.split(r"\s+or\s+|\s*\|\s*", part.strip()) if p)
    return [p.strip() for p in result if p.strip()]


def _word_schema(word: str, lib: LibraryTypes) -> tuple[Schema | None, str]:
    lowered = word.lower().strip(" .")
    if lowered in _WORDS:
        return _WORDS[lowered], ""
    for key, schema in lib.by_word.items():
        if lowered == key.lower():
            return dict(schema), ""
    tuple_literal = re.fullmatch(r"[(\[]\s*(\w+)(\s*,\s*\w+)*\s*[)\]]", lowered)
    if tuple_literal:
        members = [m.strip() for m in lowered.strip("()[]").split(",")]
        schemas = [_word_schema(m, lib)[0] for m in members]
        if all(s is not None for s in schemas):
            return {"type": "array", "prefixItems": schemas, "items": False,
                    "minItems": len(members), "maxItems": len(members)}, ""
    generic = re.fullmatch(r"(tuple|list|sequence)\[(.+)\]", lowered)
    if generic:
        members = [m.strip() for m in generic.group(2).split(",")]
        if members[-1] == "...":
            item, _ = _word_schema(members[0], lib)
            return ({"type": "array", "items": item}, "") if item is not None else (None, f"docstring type {word!r} not understood")
        schemas = [_word_schema(m, lib)[0] for m in members]
        if all(s is not None for s in schemas):
            if generic.group(1) == "tuple":
                return {"type": "array", "prefixItems": schemas, "items": False,
                        "minItems": len(members), "maxItems": len(members)}, ""
            return {"type": "array", "items": any_of(schemas)}, ""
    of_match = re.fullmatch(r"(\w+)\s*(?:\[\s*(\w+)\s*\]|of\s+(\w+))", lowered)
    if of_match and of_match.group(1) in _SEQUENCE_WORDS:
        member = of_match.group(2) or of_match.group(3)
        # "tuple of tensors" names its items in the plural; the item type is the singular word.
        item, _ = _word_schema(member[:-1] if member.endswith("s") else member, lib)
        if item is not None:
            return {"type": "array", "items": item}, ""
    if lowered in _SEQUENCE_WORDS:
        return {"type": "array"}, ""
    if lowered in _CALLABLE_WORDS:
        return None, CALLABLE_REASON
    return None, f"docstring type {word!r} not understood"


def from_doc_phrase(phrase: str, lib: LibraryTypes) -> Typing:
    """Type an argument from a docstring type phrase such as 'int or tuple, optional'."""
    text = _clean_phrase(phrase)
    words = [re.sub(r"^optional\s+", "", w, flags=re.I) for w in _split_alternatives(text)]
    words = [w for w in words if w.lower() not in ("optional", "default", "keyword-only")]
    if not words:
        return untyped("docstring gives no type", phrase)
    parts = [_word_schema(w, lib) for w in words]
    typed = [s for s, _ in parts if s is not None]
    if len(typed) != len(parts):
        return untyped(next(r for s, r in parts if s is None), phrase)
    return Typing(any_of(typed), phrase)


_QUOTED_CHOICE = re.compile(r"``'([A-Za-z0-9_\-]+)'``|``\"([A-Za-z0-9_\-]+)\"``")


def enum_from_doc(doc: str, default: Any) -> list[str] | None:
    """String choices a torch-style doc lists as ``'a'`` | ``'b'``, when they include the default."""
    choices: list[str] = []
    for match in _QUOTED_CHOICE.finditer(doc):
        value = match.group(1) or match.group(2)
        if value not in choices:
            choices.append(value)
    if len(choices) >= 2 and isinstance(default, str) and default in choices and "|" in doc:
        return choices
    return None
