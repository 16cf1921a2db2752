"""Shape inference for torch (and mixed) graphs: the shared walk, eagerly, on the `meta` device.

Layers are built on `meta` (weights have shapes, no storage) and applied to meta tensors, so the
walk costs no memory whatever the graph's size. Two memos keep a long graph cheap: nodes with the
same op and literal arguments share one meta instance (the parameter count is the same), and a
call with the same op, arguments and input shapes/dtypes/strides reuses the earlier result (a
deterministic op gives the same output shapes). Lazy modules, Keras layers (they create weights on
their first call) and nodes fed by argument edges are never shared.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any

import torch

from nodecat.executor.graph.errors import NodeError
from nodecat.executor.graph.load import gc_paused
from nodecat.executor.graph.validate import CheckedGraph, CheckedNode
from nodecat.executor.build.walk import Walker, describe_inputs, input_shape, instantiate, short_error

_NO_KEY = None


class MetaWalker(Walker[Any]):
    def __init__(self, checked: CheckedGraph, batch: int):
        super().__init__(checked)
        self.batch = batch
        self.shared: dict[tuple[str, str], Any] = {}
        self.shared_ids: set[int] = set()
        self.calls: dict[tuple[Any, ...], Any] = {}

    def graph_input(self, node: CheckedNode) -> torch.Tensor:
        from nodecat.executor.build.torch_build import torch_dtype
        return torch.empty(input_shape(node, self.batch), dtype=torch_dtype(node.args.get("dtype", "float32")),
                           device="meta")

    def constant_value(self, node: CheckedNode) -> torch.Tensor:
        from nodecat.executor.build.torch_build import torch_dtype
        return torch.tensor(node.args["value"], dtype=torch_dtype(node.args.get("dtype", "float32")), device="meta")

    def constant(self, node: CheckedNode) -> torch.Tensor:
        return self.constant_value(node)

    def make_instance(self, node: CheckedNode, cls: Any, extra: dict[str, Any]) -> Any:
        key = _instance_key(node, extra)
        if key is not _NO_KEY and key in self.shared:
            return self.shared[key]
        with torch.device("meta"):
            instance = instantiate(node, cls, extra)
        if key is not _NO_KEY and not isinstance(instance, torch.nn.modules.lazy.LazyModuleMixin):
            self.shared[key] = instance
            self.shared_ids.add(id(instance))
        return instance

    def call_layer(self, node: CheckedNode, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        owner = ("layer", id(instance)) if id(instance) in self.shared_ids else _NO_KEY
        return self._call(node, instance, args, kwargs, owner)

    def call_function(self, node: CheckedNode, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._call(node, fn, args, kwargs, ("function", node.descriptor.id))

    def index(self, value: Any, position: int) -> Any:
        return value[position]

    def _call(self, node: CheckedNode, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
              owner: tuple[str, Any] | None) -> Any:
        key = _NO_KEY
        if owner is not _NO_KEY:
            signature = _signature((args, tuple(sorted(kwargs.items()))))
            key = None if signature is None else (owner, signature)
        if key is not None and key in self.calls:
            return self.calls[key]
        try:
            result = target(*args, **kwargs)
        except Exception as exc:  # the library call failed on meta tensors: a shape (or dtype) error
            raise NodeError("shape_mismatch", node.id, node.pointer,
                            f"{node.descriptor.id} failed on inputs {describe_inputs(args, kwargs)}: "
                            f"{short_error(exc)}") from exc
        if key is not None:
            self.calls[key] = result
        return result


def _instance_key(node: CheckedNode, extra: dict[str, Any]) -> tuple[str, str] | None:
    if extra or node.descriptor.library != "torch":
        return _NO_KEY
    return node.descriptor.id, json.dumps(node.args, sort_keys=True)


def _signature(value: Any) -> Any:
    """A hashable summary of call inputs: tensors by shape, dtype and strides; None when unsure."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype, value.stride())
    if isinstance(value, (list, tuple)):
        parts = tuple(_signature(v) for v in value)
        return None if any(p is None for p in parts) else (type(value).__name__, parts)
    if value is None or isinstance(value, (bool, int, float, str)):
        return ("value", type(value).__name__, value)
    return None


def walk_on_meta(checked: CheckedGraph, batch: int, walker: MetaWalker | None = None) -> MetaWalker:
    """Walk the graph on meta; the walker keeps every node's result and instance (when a node
    fails, those of the nodes before it: pass your own `walker` to read them)."""
    walker = walker if walker is not None else MetaWalker(checked, batch)
    with gc_paused(), torch.no_grad(), keras_meta_scope(checked):
        walker.walk()
    return walker


def keras_meta_scope(checked: CheckedGraph) -> Any:
    """Keras' meta device scope when the graph has Keras layers; nothing (and no Keras import) otherwise."""
    if all(n.descriptor.library != "keras" for n in checked.order):
        return contextlib.nullcontext()
    import keras
    return keras.device("meta")
