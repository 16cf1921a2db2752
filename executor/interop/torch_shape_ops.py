"""Calls the importer maps by shape rather than one-to-one: view/reshape, squeeze without a
dimension, indexing (of tensors and of layers' tuple results) and chunk/split/unbind.

Each works from the traced shapes of both runs: a reshape keeps the traced result shape with its
one batch-dependent size as -1; indexing becomes index_select / squeeze / unsqueeze (see
torch_index); a split becomes one index_select per piece, because the catalog's list result
(`torch.chunk`'s `tensors` port) cannot be indexed by a graph.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.fx as fx

from nodecat.executor.interop.imported import Unmapped
from nodecat.executor.interop.torch_calls import Bound
from nodecat.executor.interop.torch_index import (Narrow, Squeeze, Step, Unsqueeze, plan_index, result_shape)
from nodecat.executor.interop.torch_values import (GraphTensor, LayerResult, at_path, graph_tensor, short)
from nodecat.introspector.model import Node

if TYPE_CHECKING:
    from nodecat.executor.interop.torch_convert import Converter


def simple(conv: Converter, n: fx.Node, op: str, values: dict[str, Any]) -> str | Unmapped:
    """One node of a reviewed op with the given values (reshape, index_select, squeeze...)."""
    return conv.emit(n, conv.catalog.node(op), Bound(values, {}), conv.wanted_id(n, op.rsplit(".", 1)[-1]))


def _then(conv: Converter, n: fx.Node, node_id: str | Unmapped, dtype: torch.dtype) -> Any:
    """The fx node's value after its last node: that node's output with the traced shape."""
    if isinstance(node_id, Unmapped):
        return node_id
    return conv.retag(n, GraphTensor(node_id, "output", (), frozenset(), dtype))


def reshape(conv: Converter, n: fx.Node, value: Any) -> Any:
    """view/reshape to the traced result shape, its one batch-dependent size as -1: so
    `x.view(x.size(0), -1)` becomes `reshape(shape=[-1, 512])` and runs at any batch size."""
    if not isinstance(value, GraphTensor):
        return Unmapped(conv.where(n), "torch.reshape", "reshapes a value that is not one tensor")
    result = graph_tensor("", "", conv.runs.traced[n.name], conv.runs.other[n.name])
    if result is None:
        return Unmapped(conv.where(n), "torch.reshape", "the traced result is not a tensor")
    if len(result.open_dims) > 1:
        return Unmapped(conv.where(n), "torch.reshape", f"depends on the batch size: the new shape has "
                                                        f"{len(result.open_dims)} sizes that change with it")
    shape = [-1 if i in result.open_dims else size for i, size in enumerate(result.shape)]
    return _then(conv, n, simple(conv, n, "torch.reshape", {"input": value, "shape": shape}), value.dtype)


def squeeze_all(conv: Converter, n: fx.Node, value: GraphTensor) -> Any:
    """`x.squeeze()`: the catalog's squeeze needs its dimensions; the traced size-1 ones (never
    the batch, whose size is free)."""
    dims = [i for i, size in enumerate(value.shape) if size == 1 and i not in value.open_dims]
    if not dims:
        return conv.retag(n, value)
    node_id = simple(conv, n, "torch.squeeze", {"input": value, "dim": dims[0] if len(dims) == 1 else dims})
    return _then(conv, n, node_id, value.dtype)


def getitem(conv: Converter, n: fx.Node, container: Any, index: Any) -> Any:
    if isinstance(container, LayerResult):
        return index_result(conv, n, container, index)
    if isinstance(container, (tuple, list)):  # the pieces of a split
        if isinstance(index, (int, slice)) and not isinstance(index, bool):
            return container[index]
        return Unmapped(conv.where(n), "operator.getitem", "indexes a list of tensors by a non-literal")
    if not isinstance(container, GraphTensor):
        return Unmapped(conv.where(n), "operator.getitem", f"indexes a {type(container).__name__}")
    steps = plan_index(index, container.shape, container.open_dims)
    if isinstance(steps, str):
        return Unmapped(conv.where(n), "operator.getitem", steps)
    return index_steps(conv, n, container, steps)


def index_steps(conv: Converter, n: fx.Node, value: GraphTensor, steps: list[Step]) -> Any:
    current, shape = value, value.shape
    for step in steps:
        if isinstance(step, Narrow):
            positions = torch.arange(step.start, step.start + step.length, dtype=torch.int64)
            node_id = simple(conv, n, "torch.index_select", {"input": current, "index": positions, "dim": step.dim})
        elif isinstance(step, Squeeze):
            dims = step.dims[0] if len(step.dims) == 1 else list(step.dims)
            node_id = simple(conv, n, "torch.squeeze", {"input": current, "dim": dims})
        else:
            assert isinstance(step, Unsqueeze)
            node_id = simple(conv, n, "torch.unsqueeze", {"input": current, "dim": step.dim})
        if isinstance(node_id, Unmapped):
            return node_id
        shape = result_shape(shape, step)
        current = GraphTensor(node_id, "output", shape, frozenset(), value.dtype)
    return conv.retag(n, current)


def index_result(conv: Converter, n: fx.Node, result: LayerResult, index: Any) -> Any:
    """`out, (h, c) = lstm(x)`: each index goes one step down the result, to an output port."""
    traced = result.traced
    if not isinstance(index, int) or isinstance(index, bool) or not isinstance(traced, (tuple, list)) \
            or not -len(traced) <= index < len(traced):
        return Unmapped(conv.where(n), result.op, f"its result is indexed by {short(index)}, which no output "
                                                  "port of the catalog describes")
    position = index % len(traced)
    path = result.path + (position,)
    traced_part, other_part = at_path(traced, (position,)), at_path(result.other, (position,))
    port = next((p for p in result.ports if tuple(p.path) == path), None)
    if port is not None:
        found = graph_tensor(result.node, port.name, traced_part, other_part)
        if found is not None:
            return found
    if any(tuple(p.path[:len(path)]) == path for p in result.ports):
        return LayerResult(result.node, result.op, path, result.ports, traced_part, other_part)
    ports = ", ".join(f"{p.name} {list(p.path)}" for p in result.ports)
    return Unmapped(conv.where(n), result.op, f"no output port of the catalog's {result.op} is at index path "
                                              f"{list(path)} (ports: {ports})")


def split(conv: Converter, n: fx.Node, descriptor: Node, bound: Bound) -> Any:
    """chunk/split/unbind as a tuple of pieces, one index_select each (plus a squeeze for unbind)."""
    value = bound.values.get("input", bound.values.get("tensor"))
    pieces = conv.runs.traced[n.name]
    if not isinstance(value, GraphTensor) or not isinstance(pieces, (tuple, list)):
        return Unmapped(conv.where(n), descriptor.id, "splits a value that is not one tensor")
    dim = bound.values.get("dim", bound.defaults.get("dim", 0))
    if not isinstance(dim, int) or isinstance(dim, bool):
        return Unmapped(conv.where(n), descriptor.id, "the split dimension is not a literal")
    dim %= max(1, len(value.shape))
    if dim in value.open_dims:
        return Unmapped(conv.where(n), descriptor.id, "splits a dimension whose size changes with the batch")
    unbind = descriptor.name == "unbind"
    start, parts = 0, []
    for position, info in enumerate(pieces):
        length = 1 if unbind else info.shape[dim]
        steps: list[Step] = [Narrow(dim, start, length), *([Squeeze((dim,))] if unbind else [])]
        piece = index_steps(conv, n, value, steps)
        if isinstance(piece, Unmapped):
            return piece
        parts.append(graph_tensor(piece.node, piece.port, info, at_path(conv.runs.other[n.name], (position,))))
        start += length
    return tuple(parts)
