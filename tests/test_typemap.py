"""The type vocabulary: annotation, default and docstring phrase -> JSON Schema fragment.

Each case names an input and the exact schema the catalog must carry for it, or the
reason it refuses to type it (which is what marks a node `needs-review`).
"""
from __future__ import annotations

import collections.abc
import typing
from typing import Any, Callable, Literal, Optional, Union

import jsonschema
import pytest
import torch

from nodecat.introspector.libraries.torch_profile import DEVICE, DTYPE, MODULE, TENSOR, TYPES
from nodecat.introspector.typemap import (CALLABLE_REASON, LibraryTypes, enum_from_doc, from_annotation, from_default,
                                  from_doc_phrase)

INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
STRING = {"type": "string"}
NULL = {"type": "null"}
NO_LIBRARY = LibraryTypes()


def pair(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "prefixItems": [item, item], "items": False, "minItems": 2, "maxItems": 2}


def assert_valid_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)


# --- annotations ----------------------------------------------------------------------------

ANNOTATIONS = [
    (int, INTEGER),
    (float, NUMBER),
    (bool, {"type": "boolean"}),
    (str, STRING),
    (type(None), NULL),
    (Optional[int], {"anyOf": [INTEGER, NULL]}),
    (int | None, {"anyOf": [INTEGER, NULL]}),
    (Union[int, tuple[int, int]], {"anyOf": [INTEGER, pair(INTEGER)]}),
    (Literal["zeros", "reflect"], {"enum": ["zeros", "reflect"]}),
    (Literal[1, 2, None], {"enum": [1, 2, None]}),
    (tuple[int, ...], {"type": "array", "items": INTEGER}),
    (tuple[int, int], pair(INTEGER)),
    (typing.Tuple[float, float, float], {"type": "array", "prefixItems": [NUMBER] * 3, "items": False,
                                         "minItems": 3, "maxItems": 3}),
    (list[int], {"type": "array", "items": INTEGER}),
    (typing.List[float], {"type": "array", "items": NUMBER}),
    (collections.abc.Sequence[int], {"type": "array", "items": INTEGER}),
]


@pytest.mark.parametrize("annotation, schema", ANNOTATIONS, ids=[repr(a) for a, _ in ANNOTATIONS])
def test_annotation_gives_schema(annotation: Any, schema: dict[str, Any]) -> None:
    result = from_annotation(annotation, TYPES)
    assert result.schema == schema
    assert result.reason == ""
    assert_valid_schema(result.schema)


def test_annotation_records_its_phrase() -> None:
    assert from_annotation(Optional[int], TYPES).phrase == "Optional[int]"
    assert from_annotation(int, TYPES).phrase == "int"


@pytest.mark.parametrize("annotation", [Callable[[int], int], collections.abc.Callable, typing.Callable],
                         ids=["Callable[[int], int]", "abc.Callable", "typing.Callable"])
def test_callable_annotation_is_untyped_with_reason(annotation: Any) -> None:
    result = from_annotation(annotation, TYPES)
    assert result.schema is None
    assert not result.typed
    assert CALLABLE_REASON in result.reason


@pytest.mark.parametrize("annotation", [Union[str, Callable[[torch.Tensor], torch.Tensor]], str | Callable],
                         ids=["Union[str, Callable[...]]", "str | Callable"])
def test_union_with_callable_drops_the_callable(annotation: Any) -> None:
    # A graph passes names, not functions: the string member is what it can carry.
    assert from_annotation(annotation, TYPES).schema == STRING


def test_union_with_an_untypable_member_is_untyped() -> None:
    result = from_annotation(Union[int, dict[str, int]], TYPES)
    assert result.schema is None
    assert "mapping" in result.reason


@pytest.mark.parametrize("annotation, needle", [(typing.Any, "Any"), (dict[str, int], "mapping"),
                                                (Literal[object], "Literal"), (complex, "complex")])
def test_untypable_annotations_give_a_reason(annotation: Any, needle: str) -> None:
    result = from_annotation(annotation, TYPES)
    assert result.schema is None
    assert needle in result.reason
    assert result.reason.startswith("annotation ")


def test_torch_value_types_come_from_the_profile() -> None:
    assert from_annotation(torch.Tensor, TYPES).schema == TENSOR
    assert from_annotation(torch.dtype, TYPES).schema == DTYPE
    assert from_annotation(torch.device, TYPES).schema == DEVICE
    assert from_annotation(Optional[torch.Tensor], TYPES).schema == {"anyOf": [TENSOR, NULL]}
    assert from_annotation(torch.nn.Linear, TYPES).schema == MODULE  # a subclass of nn.Module
    assert "float32" in DTYPE["enum"] and "int64" in DTYPE["enum"]
    jsonschema.validate("cuda:0", DEVICE)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("gpu0", DEVICE)


def test_without_a_library_profile_torch_types_are_untyped() -> None:
    result = from_annotation(torch.dtype, NO_LIBRARY)
    assert result.schema is None
    assert "not a JSON value" in result.reason


# --- defaults -------------------------------------------------------------------------------

DEFAULTS = [
    (3, INTEGER),
    (0.5, NUMBER),
    (True, {"type": "boolean"}),  # bool before int: True is an int in Python
    ("zeros", STRING),
    ((1, 1), {"type": "array", "items": INTEGER, "minItems": 2, "maxItems": 2}),
    ((0.9, 0.999), {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2}),
    (torch.float32, DTYPE),
    (torch.device("cpu"), DEVICE),
]


@pytest.mark.parametrize("default, schema", DEFAULTS, ids=[repr(d) for d, _ in DEFAULTS])
def test_default_gives_schema(default: Any, schema: dict[str, Any]) -> None:
    result = from_default(default, TYPES)
    assert result.schema == schema
    assert result.phrase == "default " + repr(default)
    assert_valid_schema(result.schema)


@pytest.mark.parametrize("default", [None, object(), [1, 2], ()], ids=["None", "object", "list", "empty-tuple"])
def test_uninformative_defaults_are_untyped(default: Any) -> None:
    result = from_default(default, TYPES)
    assert result.schema is None
    assert "does not tell the type" in result.reason


# --- docstring phrases ----------------------------------------------------------------------

PHRASES = [
    ("int", INTEGER),
    ("int or tuple", {"anyOf": [INTEGER, {"type": "array"}]}),
    ("int, tuple or str", {"anyOf": [INTEGER, {"type": "array"}, STRING]}),
    ("float, optional", NUMBER),
    ("bool, optional", {"type": "boolean"}),
    ("Tuple[int, int]", pair(INTEGER)),
    ("(int, int)", pair(INTEGER)),
    ("tuple[int, ...]", {"type": "array", "items": INTEGER}),
    ("tuple of ints", {"type": "array", "items": INTEGER}),
    ("list of floats", {"type": "array", "items": NUMBER}),
    ("Tensor, optional", TENSOR),
    ("Tensor or None", {"anyOf": [TENSOR, NULL]}),
    (":class:`torch.dtype`, optional", DTYPE),
    (":class:`torch.device`", DEVICE),
    ("``int``", INTEGER),
    ("int | None", {"anyOf": [INTEGER, NULL]}),
]


@pytest.mark.parametrize("phrase, schema", PHRASES, ids=[p for p, _ in PHRASES])
def test_docstring_phrase_gives_schema(phrase: str, schema: dict[str, Any]) -> None:
    result = from_doc_phrase(phrase, TYPES)
    assert result.schema == schema
    assert result.phrase == phrase
    assert_valid_schema(result.schema)


@pytest.mark.parametrize("phrase, reason", [
    ("callable", CALLABLE_REASON),
    ("Callable", CALLABLE_REASON),
    ("some weird thing", "docstring type 'some weird thing' not understood"),
    ("int or gizmo", "docstring type 'gizmo' not understood"),  # one unknown member: no half-typing
    ("optional", "docstring gives no type"),
    ("", "docstring gives no type"),
])
def test_docstring_phrases_it_refuses(phrase: str, reason: str) -> None:
    result = from_doc_phrase(phrase, TYPES)
    assert result.schema is None
    assert result.reason == reason
    assert result.phrase == phrase


# --- string choices from docs ---------------------------------------------------------------

REDUCTION_DOC = ("Specifies the reduction to apply to the output: ``'none'`` | ``'mean'`` | ``'sum'``. "
                 "Default: ``'mean'``")


def test_enum_from_doc_lists_the_choices_in_order() -> None:
    assert enum_from_doc(REDUCTION_DOC, "mean") == ["none", "mean", "sum"]


def test_enum_from_doc_accepts_double_quotes() -> None:
    assert enum_from_doc('``"zeros"`` | ``"reflect"``', "zeros") == ["zeros", "reflect"]


@pytest.mark.parametrize("doc, default", [
    (REDUCTION_DOC, "max"),                    # the default must be one of the choices
    (REDUCTION_DOC, None),                     # no string default: nothing to anchor on
    ("``'none'`` or ``'mean'``", "mean"),      # not written as a choice list
    ("only ``'mean'`` | is supported", "mean"),  # a single choice is no enum
])
def test_enum_from_doc_refuses_when_unsure(doc: str, default: Any) -> None:
    assert enum_from_doc(doc, default) is None
