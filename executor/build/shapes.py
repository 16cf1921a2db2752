"""Shapes before memory: every node's output shapes, parameters and activation bytes, on `meta`.

torch graphs are walked on the `meta` device (weights have shapes but no storage; see
torch_shapes.py); Keras graphs are walked over symbolic `keras.Input` tensors inside a `meta`
device scope. Nothing real is allocated either way, so a
graph far larger than the machine is measured, then refused by the budget with its estimate.
Open dimensions (null in an input's shape) are measured with `batch`.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

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
    if checked.backend == "keras":
        return _keras_shapes(checked, batch)
    return _torch_shapes(checked, batch)


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
def _torch_shapes(checked: CheckedGraph, batch: int) -> ShapeReport:
    import torch
    from torch.utils._pytree import tree_leaves

    from nodecat.executor.build.torch_shapes import walk_on_meta

    walker = walk_on_meta(checked, batch)
    profiles = []
    for node in checked.order:
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
    return ShapeReport(tuple(profiles), batch)


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
def _keras_shapes(checked: CheckedGraph, batch: int) -> ShapeReport:
    import keras

    from nodecat.executor.build.keras_build import KerasGraph

    with keras.device("meta"):
        built = KerasGraph(checked, batch)  # open dimensions measured at `batch`, as for torch
    profiles = []
    for node in checked.order:
        instance = built.instances.get(node.id)
        value = built.results.get(node.id)
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
    return ShapeReport(tuple(profiles), batch)


def _keras_spec(value: Any) -> TensorSpec:
    if value is None or not hasattr(value, "shape"):
        return TensorSpec(None, type(value).__name__)
    return TensorSpec(tuple(value.shape), str(value.dtype))


def _keras_bytes(tensor: Any, batch: int) -> int:
    return math.prod(batch if d is None else d for d in tensor.shape) * _ITEM_BYTES.get(str(tensor.dtype), 4)
