"""A checked all-Keras graph becomes a functional keras.Model.

The shared walk runs over symbolic `keras.Input` tensors: each layer is called once, each
`keras.ops` function is applied to symbolic tensors, and Keras records the functional graph.
Layers are named by node id, so their weights are `<id>/kernel`. Built inside a `meta` device
scope, the same walk infers shapes without allocating a weight.
"""
from __future__ import annotations

from typing import Any

import keras

from nodecat.executor.graph.errors import NodeError
from nodecat.executor.graph.validate import CheckedGraph, CheckedNode
from nodecat.executor.build.walk import Walker, describe_inputs, short_error


class _KerasWalker(Walker[Any]):
    def __init__(self, checked: CheckedGraph, batch: int | None):
        super().__init__(checked)
        self.batch = batch

    def graph_input(self, node: CheckedNode) -> Any:
        shape = tuple(self.batch if d is None and self.batch else d for d in node.args["shape"])
        return keras.Input(batch_shape=shape, dtype=node.args.get("dtype", "float32"), name=node.id)

    def constant_value(self, node: CheckedNode) -> Any:
        return keras.ops.convert_to_tensor(node.args["value"], dtype=node.args.get("dtype", "float32"))

    def constant(self, node: CheckedNode) -> Any:
        return self.constant_value(node)

    def call_layer(self, node: CheckedNode, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._call(node, instance, args, kwargs)

    def call_function(self, node: CheckedNode, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._call(node, fn, args, kwargs)

    def index(self, value: Any, position: int) -> Any:
        return value[position]

    def _call(self, node: CheckedNode, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return target(*args, **kwargs)
        except Exception as exc:  # a shape or dtype error on symbolic tensors: name the node and its inputs
            raise NodeError("shape_mismatch", node.id, node.pointer,
                            f"{node.descriptor.id} failed on inputs {describe_inputs(args, kwargs)}: "
                            f"{short_error(exc)}") from exc


class KerasGraph:
    """The walk's result: the model, the symbolic value of every node, and the layer instances."""

    def __init__(self, checked: CheckedGraph, batch: int | None = None, walker: "_KerasWalker | None" = None):
        """batch: a size for open dimensions (shape inference); None keeps them open (a model).
        walker: one from `keras_walker`, whose results stay readable when a node fails."""
        walker = walker if walker is not None else _KerasWalker(checked, batch)
        outputs = walker.walk()
        inputs = [walker.results[n.id] for n in checked.inputs]
        self.results = walker.results
        self.instances = walker.instances
        try:
            self.model = keras.Model(inputs=inputs[0] if len(inputs) == 1 else inputs, outputs=outputs[0] if len(outputs) == 1 else outputs,
                                     name=_model_name(checked.graph.name))
        except Exception as exc:
            raise NodeError("node_failed", "", "/outputs",
                            f"keras.Model could not be built from the graph: {short_error(exc)}") from exc
        self.model.input_names_nodecat = [n.id for n in checked.inputs]
        self.model.output_names_nodecat = [o.name for o in checked.graph.outputs]


def keras_walker(checked: CheckedGraph, batch: int | None = None) -> _KerasWalker:
    """A walker for KerasGraph: its `results` and `instances` hold every node walked so far."""
    return _KerasWalker(checked, batch)


def _model_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    return cleaned or "nodecat_graph"


def build_keras_model(checked: CheckedGraph, device: str = "cpu") -> keras.Model:
    """The graph as a functional keras.Model whose weights live on `device`."""
    with keras.device(device):
        return KerasGraph(checked).model
