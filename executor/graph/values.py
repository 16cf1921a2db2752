"""Literal argument values as the libraries want them.

JSON has lists where libraries take tuples, and names where torch takes objects (dtypes, memory
formats). Each conversion looks a name up in a closed set read from the library itself, so a
value can never name anything else.
"""
from __future__ import annotations

from typing import Any

from nodecat.introspector.libraries.probe_values import as_call_value

EDGE_VALUE_KINDS = ("module", "schedule")  # argument kinds only an edge can feed


def value_kind(schema: dict[str, Any] | None) -> str:
    """The x-nodecat kind of an argument's schema ("" for plain JSON values)."""
    if not schema:
        return ""
    kinds = {schema.get("x-nodecat")} | {s.get("x-nodecat") for s in schema.get("anyOf", ())}
    return next((k for k in sorted(k for k in kinds if k)), "")


def torch_value(value: Any, kind: str) -> Any:
    import torch
    if value is None:
        return None
    if kind == "dtype":
        found = getattr(torch, value, None)
        return found if isinstance(found, torch.dtype) else _refuse(value, "dtype")
    if kind in ("memory-format", "layout"):
        wanted = torch.memory_format if kind == "memory-format" else torch.layout
        found = getattr(torch, value, None) if isinstance(value, str) else None
        return found if isinstance(found, wanted) else _refuse(value, kind)
    if kind == "tensor":
        return torch.tensor(value)
    return as_call_value(value)


def keras_value(value: Any, kind: str) -> Any:
    if kind == "tensor" and value is not None:
        import keras
        return keras.ops.convert_to_tensor(value)
    return as_call_value(value)


def _refuse(value: Any, kind: str) -> Any:
    raise ValueError(f"{value!r} is not a {kind}")
