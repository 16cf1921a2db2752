"""Values while an fx graph becomes a nodecat graph.

Each fx node's value is one of:
- a `GraphTensor`: a tensor the imported graph computes (a node's output port);
- a `LayerResult`: the tuple a node with several output ports returns (LSTM's `(output, (h, c))`),
  not yet indexed down to one port;
- a folded value: anything known when importing (a tensor size, a parameter, `torch.arange(16)`),
  held as the Python or torch value itself. A size that differs between the two traced batch
  sizes is held as `Open`: it depends on the batch, so it cannot become a literal;
- a tuple of these (the pieces of `torch.chunk`), or `FAILED`.

The model runs twice while importing (see torch_trace); tensors the graph computes are kept only
as `TensorInfo` summaries, so a large model does not keep its activations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from nodecat.introspector.model import OutputPort

JsonValue = Any


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: torch.dtype


@dataclass(frozen=True)
class Opaque:
    """A value of a type the importer does not look into (a PackedSequence, a dict of tensors)."""

    type_name: str


@dataclass(frozen=True)
class Open:
    """A value that differs between the two traced sizes (e.g. `x.size(0)`)."""

    traced: Any
    origin: str = ""  # the model's name for the call that gave it, for messages

    def reason(self) -> str:
        through = f" (through {self.origin})" if self.origin else ""
        return f"depends on the batch size{through}"


@dataclass(frozen=True)
class GraphTensor:
    node: str
    port: str
    shape: tuple[int, ...]  # at the first traced size
    open_dims: frozenset[int]  # dimensions whose size differs between the traced sizes (the batch)
    dtype: torch.dtype


@dataclass(frozen=True)
class LayerResult:
    """The part of a node's result at `path`, where the node's output ports lie deeper."""

    node: str
    op: str
    path: tuple[int, ...]
    ports: tuple[OutputPort, ...]
    traced: Any  # the summary at `path` from the first run
    other: Any  # and from the second


class Failed:
    """The value of an fx node that could not be mapped and has no traced tensor shape to stand in
    for it (reported already): what reads it is skipped."""

    def __repr__(self) -> str:
        return "FAILED"


FAILED = Failed()


def summarize(value: Any) -> Any:
    """A run's value with every tensor replaced by its shape and dtype."""
    if isinstance(value, torch.Tensor):
        return TensorInfo(tuple(value.shape), value.dtype)
    if isinstance(value, list):
        return [summarize(v) for v in value]
    if isinstance(value, tuple):  # named tuples (torch.return_types) become plain tuples
        return tuple(summarize(v) for v in value)
    if isinstance(value, (bool, int, float, str, type(None), torch.dtype, torch.device, slice)) or value is Ellipsis:
        return value
    return Opaque(type(value).__name__)


def merge(traced: Any, other: Any, origin: str = "") -> Any:
    """One folded value from the two runs: equal parts as they are, differing parts `Open`."""
    if isinstance(traced, Open):
        return traced
    if isinstance(traced, torch.Tensor) or isinstance(other, torch.Tensor):
        same = (isinstance(traced, torch.Tensor) and isinstance(other, torch.Tensor)
                and traced.shape == other.shape and traced.dtype == other.dtype and torch.equal(traced, other))
        return traced if same else Open(traced, origin)
    if isinstance(traced, (tuple, list)) and isinstance(other, (tuple, list)) and len(traced) == len(other):
        merged = [merge(a, b, origin) for a, b in zip(traced, other)]
        return merged if isinstance(traced, list) else tuple(merged)
    if type(traced) is not type(other) or traced != other:
        return Open(traced, origin)
    return traced


def graph_tensor(node: str, port: str, traced: Any, other: Any) -> GraphTensor | None:
    """The GraphTensor at a node's port from the two runs' summaries (None if not a tensor)."""
    if not isinstance(traced, TensorInfo) or not isinstance(other, TensorInfo):
        return None
    if len(traced.shape) != len(other.shape):
        open_dims = frozenset(range(len(traced.shape)))
    else:
        open_dims = frozenset(i for i, (a, b) in enumerate(zip(traced.shape, other.shape)) if a != b)
    return GraphTensor(node, port, traced.shape, open_dims, traced.dtype)


def at_path(summary: Any, path: tuple[int, ...]) -> Any:
    for position in path:
        if not isinstance(summary, (tuple, list)) or not -len(summary) <= position < len(summary):
            return Opaque("missing")
        summary = summary[position]
    return summary


def contains(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, kinds):
        return True
    if isinstance(value, (tuple, list)):
        return any(contains(v, kinds) for v in value)
    if isinstance(value, dict):
        return any(contains(v, kinds) for v in value.values())
    return False


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def to_literal(value: Any) -> tuple[JsonValue, str]:
    """A folded Python value as a JSON literal, or ("", why it cannot be one)."""
    if isinstance(value, Open):
        return "", value.reason()
    if isinstance(value, (GraphTensor, LayerResult)):
        return "", "is a tensor the model computes, where the catalog takes a literal"
    if isinstance(value, torch.Tensor):
        return "", "is a tensor, where the catalog takes a literal"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value, ""
    if isinstance(value, int):
        return int(value), ""
    if isinstance(value, float):
        return (value, "") if math.isfinite(value) else ("", f"{value} is not a finite number (JSON has none)")
    if isinstance(value, torch.dtype):
        return dtype_name(value), ""
    if isinstance(value, (tuple, list)):  # tuples, lists and torch.Size alike
        items = []
        for item in value:
            literal, why = to_literal(item)
            if why:
                return "", why
            items.append(literal)
        return items, ""
    return "", f"a {type(value).__name__} value has no JSON form"


def same_literal(a: JsonValue, b: JsonValue) -> bool:
    """JSON equality as a library sees it: 0 == 0.0, but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_literal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def short(value: Any) -> str:
    """A value as an error message quotes it."""
    if isinstance(value, GraphTensor):
        return "<tensor>"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def phantom(node: str, traced: Any, other: Any) -> Any:
    """What stands for the value of an fx node that could not be mapped: tensors of the traced
    shapes from no real node, so that the calls reading it are still checked (and every
    unmappable call reported); the graph is refused anyway."""
    if isinstance(traced, (tuple, list)) and isinstance(other, (tuple, list)) and len(traced) == len(other):
        return tuple(phantom(node, a, b) for a, b in zip(traced, other))
    found = graph_tensor(node, "output", traced, other)
    return found if found is not None else FAILED


def flatten_outputs(value: Any) -> list[Any]:
    """Graph outputs in order: nested tuples, lists and dict values flattened; a layer's tuple
    result becomes its output ports under that path."""
    if isinstance(value, LayerResult):
        return [GraphTensor(value.node, p.name, (), frozenset(), torch.float32) for p in value.ports
                if tuple(p.path[:len(value.path)]) == value.path]
    if isinstance(value, (tuple, list)):
        return [item for v in value for item in flatten_outputs(v)]
    if isinstance(value, dict):
        return [item for v in value.values() for item in flatten_outputs(v)]
    return [value]
