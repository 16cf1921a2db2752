"""Shapes before memory: every node's output shapes, parameters and activation bytes, on `meta`.

torch graphs are walked on the `meta` device (weights have shapes but no storage; see
torch_shapes.py); Keras graphs are walked over symbolic `keras.Input` tensors inside a `meta`
device scope. Nothing real is allocated either way, so a
graph far larger than the machine is measured, then refused by the budget with its estimate.
Open dimensions (null in an input's shape) are measured with `batch`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.validate import CheckedGraph, CheckedNode

_ITEM_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1, "int16": 2, "int32": 4,
               "int64": 8, "uint8": 1, "bool": 1, "complex64": 8, "complex128": 16}


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int | None, ...] | None  # None: the port gives something other than one tensor
    dtype: str

    def to_json(self) -> dict[str, Any]:
        return {"shape": None if self.shape is None else list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class NodeProfile:
    id: str
    op: str
    outputs: dict[str, TensorSpec]
    params: int
    param_bytes: int  # parameters and buffers
    activation_bytes: int  # every tensor the node returns

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "op": self.op, "outputs": {k: v.to_json() for k, v in self.outputs.items()},
                "params": self.params, "param_bytes": self.param_bytes, "activation_bytes": self.activation_bytes}


@dataclass(frozen=True)
class ShapeReport:
    nodes: tuple[NodeProfile, ...]  # topological order
    batch: int

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def param_bytes(self) -> int:
        return sum(n.param_bytes for n in self.nodes)

    @property
    def activation_bytes(self) -> int:
        return sum(n.activation_bytes for n in self.nodes)

    @property
    def total_bytes(self) -> int:
        """What one forward pass needs at most: every weight, plus every activation kept alive."""
        return self.param_bytes + self.activation_bytes

    def shapes_json(self) -> dict[str, dict[str, Any]]:
        return {n.id: {port: spec.to_json() for port, spec in n.outputs.items()} for n in self.nodes}

    def to_json(self) -> dict[str, Any]:
        return {"batch": self.batch, "nodes": [n.to_json() for n in self.nodes],
                "total": {"params": self.params, "param_bytes": self.param_bytes,
                          "activation_bytes": self.activation_bytes, "bytes": self.total_bytes}}


def infer_shapes(checked: CheckedGraph, batch: int = 1) -> ShapeReport:
    """Output shapes, parameters and activation bytes of every node, without allocating memory."""
    report, error = infer_shapes_until_failure(checked, batch)
    if error is not None:
        raise error
    return report


def infer_shapes_until_failure(checked: CheckedGraph, batch: int = 1) -> tuple[ShapeReport, GraphError | None]:
    """As infer_shapes, but a failure is returned, not raised, with the report of the nodes
    inferred before it (in topological order; the failing node and those after it are missing)."""
    if checked.backend == "keras":
        return _keras_shapes(checked, batch)
    return _torch_shapes(checked, batch)


def _inferred(checked: CheckedGraph, results: dict[str, Any], instances: dict[str, Any]) -> Iterator[CheckedNode]:
    """The nodes a walk finished, in order, up to the first it did not (a failed walk stops there)."""
    for node in checked.order:
        if node.id not in (results if node.applied else instances):
            return
        yield node


def check_budget(report: ShapeReport, budget_bytes: int, device: str) -> None:
    """Refuse a graph whose estimate exceeds the budget, naming what takes the memory."""
    if report.total_bytes <= budget_bytes:
        return
    heaviest = sorted(report.nodes, key=lambda n: n.param_bytes + n.activation_bytes, reverse=True)[:3]
    top = ", ".join(f"{n.id} {format_bytes(n.param_bytes + n.activation_bytes)}" for n in heaviest)
    raise GraphError(GraphProblem(
        "budget_exceeded", f"the graph needs about {format_bytes(report.total_bytes)} (weights "
        f"{format_bytes(report.param_bytes)}, activations {format_bytes(report.activation_bytes)} at batch "
        f"{report.batch}), more than the {format_bytes(budget_bytes)} budget on {device}; largest: {top}",
        heaviest[0].id if heaviest else "", "", "shrink the graph, or raise the budget with --budget"))


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


# -- torch -------------------------------------------------------------------------------------
def _torch_shapes(checked: CheckedGraph, batch: int) -> tuple[ShapeReport, GraphError | None]:
    import torch
    from torch.utils._pytree import tree_leaves

    from nodecat.executor.build.torch_shapes import walk_on_meta

    from nodecat.executor.build.torch_shapes import MetaWalker

    walker, error = MetaWalker(checked, batch), None
    try:
        walk_on_meta(checked, batch, walker)
    except GraphError as exc:
        error = exc
    profiles = []
    for node in _inferred(checked, walker.results, walker.instances):
        instance = walker.instances.get(node.id) if node.applied else None
        value = walker.results.get(node.id)
        tensors = [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]
        weights = [*instance.parameters(), *instance.buffers()] if isinstance(instance, torch.nn.Module) else []
        if node.descriptor.kind == "constant":
            weights = tensors
        profiles.append(NodeProfile(
            id=node.id, op=node.descriptor.id,
            outputs={p.name: _torch_spec(_at(value, p.path)) for p in node.descriptor.outputs},
            params=sum(p.numel() for p in instance.parameters()) if isinstance(instance, torch.nn.Module) else 0,
            param_bytes=sum(w.numel() * w.element_size() for w in weights),
            activation_bytes=0 if node.descriptor.kind == "constant" else
            sum(t.numel() * t.element_size() for t in tensors)))
    return ShapeReport(tuple(profiles), batch), error


def _at(value: Any, path: tuple[int, ...]) -> Any:
    for position in path:
        try:
            value = value[position]
        except (IndexError, KeyError, TypeError):
            return None
    return value


def _torch_spec(value: Any) -> TensorSpec:
    import torch
    if isinstance(value, torch.Tensor):
        return TensorSpec(tuple(value.shape), str(value.dtype).removeprefix("torch."))
    return TensorSpec(None, type(value).__name__)


# -- keras -------------------------------------------------------------------------------------
def _keras_shapes(checked: CheckedGraph, batch: int) -> tuple[ShapeReport, GraphError | None]:
    import keras

    from nodecat.executor.build.keras_build import KerasGraph, keras_walker

    walker, error = keras_walker(checked, batch), None  # open dimensions measured at `batch`, as for torch
    try:
        with keras.device("meta"):
            KerasGraph(checked, batch, walker)
    except GraphError as exc:
        error = exc
    profiles = []
    for node in _inferred(checked, walker.results, walker.instances):
        instance = walker.instances.get(node.id)
        value = walker.results.get(node.id)
        leaves = keras.tree.flatten(value) if value is not None else []
        weights = list(instance.weights) if instance is not None else []
        profiles.append(NodeProfile(
            id=node.id, op=node.descriptor.id,
            outputs={p.name: _keras_spec(_at(value, p.path)) for p in node.descriptor.outputs},
            params=sum(math.prod(w.shape) for w in (instance.trainable_weights if instance else []))
            + sum(math.prod(w.shape) for w in (instance.non_trainable_weights if instance else [])),
            param_bytes=sum(math.prod(w.shape) * _ITEM_BYTES.get(str(w.dtype), 4) for w in weights),
            activation_bytes=0 if node.descriptor.kind == "constant" else
            sum(_keras_bytes(t, batch) for t in leaves if hasattr(t, "shape"))))
    return ShapeReport(tuple(profiles), batch), error


def _keras_spec(value: Any) -> TensorSpec:
    if value is None or not hasattr(value, "shape"):
        return TensorSpec(None, type(value).__name__)
    return TensorSpec(tuple(value.shape), str(value.dtype))


def _keras_bytes(tensor: Any, batch: int) -> int:
    return math.prod(batch if d is None else d for d in tensor.shape) * _ITEM_BYTES.get(str(tensor.dtype), 4)
